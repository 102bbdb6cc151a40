//! One error type for every handler. It turns into `{"error":{"code","message"}}` with the right
//! status, and never lets internals (SQL, panics, file paths) reach a client: those are logged
//! with the request id and answered as a bare `internal`.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hdms_api_types::{ApiError, ErrorBody};

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// 400: the request is malformed (bad JSON syntax, bad path or query parameter).
    #[error("{message}")]
    BadRequest { code: &'static str, message: String },
    /// 401: no credential, or one that is invalid, expired or revoked.
    #[error("{message}")]
    Unauthorized { code: &'static str, message: String },
    /// 403: authenticated, but the role may not do this.
    #[error("your role may not perform '{action}'")]
    Forbidden { action: &'static str },
    /// 404: absent, deleted, or not visible to the caller (we never confirm existence).
    #[error("{what} not found")]
    NotFound { what: &'static str },
    /// 409: conflicts with stored state (duplicate, stale version, last admin).
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    /// 408: the request took longer than the server allows (`HDMS_REQUEST_TIMEOUT`).
    #[error("the request took too long and was stopped; nothing it had not finished was saved")]
    RequestTimeout,
    /// 408: a streamed body arrived slower than `HDMS_UPLOAD_MIN_BYTES_PER_SEC`.
    #[error("the upload arrived slower than the minimum of {min_bytes_per_sec} bytes per second and was stopped")]
    UploadTooSlow { min_bytes_per_sec: u64 },
    /// 413: the body is larger than the configured limit.
    #[error("the request body is larger than the limit")]
    PayloadTooLarge,
    /// 413: another configured limit (a file's size, files per ticket), saying which.
    #[error("{0}")]
    LimitExceeded(String),
    /// 415: a JSON route was sent another content type.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// 422: well-formed but invalid input, naming the field.
    #[error("{message}")]
    Validation { field: Option<String>, message: String },
    /// 429: too many attempts; retry after this many seconds.
    #[error("too many attempts, retry in {retry_after_secs} seconds")]
    TooManyRequests { retry_after_secs: u64 },
    /// 503: the database cannot be reached (restarting, network down, pool exhausted). The
    /// request changed nothing and may be retried; readiness fails meanwhile.
    #[error("the database is unavailable; retry shortly")]
    DatabaseUnavailable,
    /// 507: the disk (or the database's disk) is full. Nothing of the request was kept; it
    /// works again once space is freed.
    #[error("the server has run out of storage space; nothing was saved. Retry once space is freed")]
    InsufficientStorage,
    /// 500: anything we did not expect. Logged in full, answered without detail.
    #[error(transparent)]
    Internal(anyhow::Error),
}

impl From<anyhow::Error> for Error {
    /// A full disk anywhere in the chain (a file being received or stored, an object store's
    /// write) is a 507 the operator can act on, not an internal error; a database outage is a
    /// 503.
    fn from(err: anyhow::Error) -> Self {
        if err.chain().any(is_storage_full) {
            tracing::error!(error = format!("{err:#}"), "out of storage space");
            return Error::InsufficientStorage;
        }
        // A database error that came with context: an outage is still a 503, not a 500.
        if err.chain().any(|cause| cause.downcast_ref::<sqlx::Error>().is_some_and(is_unavailable)) {
            tracing::warn!(error = format!("{err:#}"), "database unavailable");
            return Error::DatabaseUnavailable;
        }
        Error::Internal(err)
    }
}

impl From<std::io::Error> for Error {
    fn from(err: std::io::Error) -> Self {
        Error::from(anyhow::Error::new(err))
    }
}

/// Whether this error is a full disk: ENOSPC (and EDQUOT, a quota that is full), SQLite's
/// SQLITE_FULL, PostgreSQL's class 53100 `disk_full`.
fn is_storage_full(err: &(dyn std::error::Error + 'static)) -> bool {
    if let Some(io) = err.downcast_ref::<std::io::Error>() {
        return matches!(io.kind(), std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded);
    }
    if let Some(sqlx::Error::Database(db)) = err.downcast_ref::<sqlx::Error>() {
        if let Some(sqlite) = db.try_downcast_ref::<sqlx::sqlite::SqliteError>() {
            use sqlx::error::DatabaseError;
            return sqlite.code().and_then(|code| code.parse::<i32>().ok()).is_some_and(|code| code & 0xff == 13);
        }
        return db.code().as_deref() == Some("53100");
    }
    false
}

impl Error {
    pub fn unauthorized(code: &'static str, message: impl Into<String>) -> Self {
        Error::Unauthorized { code, message: message.into() }
    }

    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Error::Conflict { code, message: message.into() }
    }

    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        Error::Validation { field: Some(field.to_owned()), message: message.into() }
    }

    fn status(&self) -> StatusCode {
        match self {
            Error::BadRequest { .. } => StatusCode::BAD_REQUEST,
            Error::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            Error::Forbidden { .. } => StatusCode::FORBIDDEN,
            Error::NotFound { .. } => StatusCode::NOT_FOUND,
            Error::Conflict { .. } => StatusCode::CONFLICT,
            Error::RequestTimeout | Error::UploadTooSlow { .. } => StatusCode::REQUEST_TIMEOUT,
            Error::PayloadTooLarge | Error::LimitExceeded(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Error::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Error::Validation { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Error::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Error::DatabaseUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            Error::InsufficientStorage => StatusCode::INSUFFICIENT_STORAGE,
            Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            Error::BadRequest { code, .. }
            | Error::Unauthorized { code, .. }
            | Error::Conflict { code, .. } => code,
            Error::Forbidden { .. } => "forbidden",
            Error::NotFound { .. } => "not_found",
            Error::RequestTimeout => "request_timeout",
            Error::UploadTooSlow { .. } => "upload_too_slow",
            Error::PayloadTooLarge | Error::LimitExceeded(_) => "payload_too_large",
            Error::UnsupportedMediaType(_) => "unsupported_media_type",
            Error::Validation { .. } => "validation_failed",
            Error::TooManyRequests { .. } => "too_many_requests",
            Error::DatabaseUnavailable => "database_unavailable",
            Error::InsufficientStorage => "insufficient_storage",
            Error::Internal(_) => "internal",
        }
    }
}

impl From<sqlx::Error> for Error {
    /// Failures a client can cause or wait out get their own answer; the rest are internal.
    fn from(err: sqlx::Error) -> Self {
        use sqlx::error::ErrorKind;
        match &err {
            // A reference to a row that does not exist: the input named something unknown.
            // Handlers check the ids they take first, so this is the safety net for any they
            // miss; PostgreSQL names the constraint, hence the column, SQLite names nothing.
            sqlx::Error::Database(db) if db.kind() == ErrorKind::ForeignKeyViolation => Error::Validation {
                field: db.constraint().and_then(|c| foreign_key_column(db.table(), c)),
                message: "refers to something that does not exist".to_owned(),
            },
            // SQLite's SQLITE_BUSY / SQLITE_LOCKED (5, 6 and their extended codes): another
            // writer kept the database past the busy timeout. Nothing was written; retrying works.
            sqlx::Error::Database(db)
                if matches!(db.try_downcast_ref::<sqlx::sqlite::SqliteError>(), Some(e) if is_sqlite_busy(e)) =>
            {
                tracing::warn!(error = %err, "database busy");
                Error::DatabaseUnavailable
            }
            _ if is_unavailable(&err) => {
                tracing::warn!(error = %err, "database unavailable");
                Error::DatabaseUnavailable
            }
            // Text PostgreSQL cannot store (a NUL character, which SQLite takes): the input's
            // fault, whichever field it came in.
            sqlx::Error::Database(db) if matches!(db.code().as_deref(), Some("22021" | "22P05")) => Error::Validation {
                field: None,
                message: "text may not contain NUL characters".to_owned(),
            },
            _ if is_storage_full(&err) => {
                tracing::error!(error = %err, "the database is out of storage space");
                Error::InsufficientStorage
            }
            _ => Error::Internal(anyhow::Error::new(err).context("database")),
        }
    }
}

/// Whether the database could not be reached: no connection came free in time (it is down,
/// or overloaded), the connection broke, or PostgreSQL is shutting down or restarting (class
/// 57P: admin_shutdown, crash_shutdown, cannot_connect_now; class 08: connection exceptions).
/// Nothing was done; retrying later works.
fn is_unavailable(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Io(_) | sqlx::Error::Tls(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| code.starts_with("57P") || code.starts_with("08")),
        _ => false,
    }
}

/// The column of a PostgreSQL foreign key named by its default convention `<table>_<column>_fkey`.
fn foreign_key_column(table: Option<&str>, constraint: &str) -> Option<String> {
    let column = constraint.strip_suffix("_fkey")?;
    let column = match table {
        Some(table) => column.strip_prefix(table)?.strip_prefix('_')?,
        None => column,
    };
    Some(column.to_owned())
}

fn is_sqlite_busy(err: &sqlx::sqlite::SqliteError) -> bool {
    use sqlx::error::DatabaseError;
    // The primary result code is the low byte of the extended one.
    err.code().and_then(|code| code.parse::<i32>().ok()).is_some_and(|code| matches!(code & 0xff, 5 | 6))
}

impl Error {
    /// What a client is told (HTTP body, websocket error message). Internal errors are logged
    /// here, in full, inside the caller's span (so with the request id).
    pub fn body(&self) -> ErrorBody {
        let message = match self {
            Error::Internal(err) => {
                tracing::error!(error = format!("{err:#}"), "internal error");
                "an internal error occurred; it has been logged".to_owned()
            }
            other => other.to_string(),
        };
        let field = match self {
            Error::Validation { field, .. } => field.clone(),
            _ => None,
        };
        ErrorBody { code: self.code().to_owned(), message, field }
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let status = self.status();
        let body = ApiError { error: self.body() };
        let mut response = (status, axum::Json(body)).into_response();
        let retry_after = match self {
            Error::TooManyRequests { retry_after_secs } => Some(retry_after_secs.max(1)),
            Error::DatabaseUnavailable => Some(1),
            _ => None,
        };
        if let Some(secs) = retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

impl From<JsonRejection> for Error {
    fn from(rejection: JsonRejection) -> Self {
        match rejection {
            JsonRejection::JsonSyntaxError(e) => {
                Error::BadRequest { code: "malformed_json", message: e.body_text() }
            }
            // Well-formed JSON of the wrong shape: a missing field, a wrong type, an unknown field.
            JsonRejection::JsonDataError(e) => {
                Error::Validation { field: None, message: e.body_text() }
            }
            JsonRejection::MissingJsonContentType(_) => Error::UnsupportedMediaType(
                "expected a request body with Content-Type: application/json".to_owned(),
            ),
            other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => Error::PayloadTooLarge,
            other => Error::BadRequest { code: "bad_request", message: other.body_text() },
        }
    }
}

impl From<PathRejection> for Error {
    fn from(rejection: PathRejection) -> Self {
        Error::BadRequest { code: "invalid_path", message: rejection.body_text() }
    }
}

impl From<QueryRejection> for Error {
    fn from(rejection: QueryRejection) -> Self {
        Error::BadRequest { code: "invalid_query", message: rejection.body_text() }
    }
}
