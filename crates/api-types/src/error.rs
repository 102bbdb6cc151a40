use serde::{Deserialize, Serialize};

/// The body of every error answer: `{"error":{"code":"…","message":"…"}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApiError {
    pub error: ErrorBody,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    /// Stable, machine-readable code (`not_found`, `validation_failed`, …).
    pub code: String,
    /// A sentence for humans; never contains internals such as SQL or stack traces.
    pub message: String,
    /// The request field the error is about, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.error.field {
            Some(field) => write!(f, "{} ({}: {})", self.error.message, self.error.code, field),
            None => write!(f, "{} ({})", self.error.message, self.error.code),
        }
    }
}
