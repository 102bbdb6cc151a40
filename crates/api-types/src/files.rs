//! Attachments: files uploaded to tickets, scanned for malware before anyone can download them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Where an attachment's content stands with the antivirus scanner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ScanState {
    /// Waiting for (or being given) a scan; not downloadable yet.
    Pending,
    /// Scanned and found clean; downloadable.
    Clean,
    /// Malware found: quarantined, never downloadable.
    Infected,
    /// The last scan could not complete (scanner unreachable, error); retried with backoff.
    ScanFailed,
    /// No scanner is configured; downloadable only while the unscanned policy is `allow`.
    Unscanned,
}

impl ScanState {
    pub const ALL: [ScanState; 5] =
        [ScanState::Pending, ScanState::Clean, ScanState::Infected, ScanState::ScanFailed, ScanState::Unscanned];

    pub fn as_str(self) -> &'static str {
        match self {
            ScanState::Pending => "pending",
            ScanState::Clean => "clean",
            ScanState::Infected => "infected",
            ScanState::ScanFailed => "scan_failed",
            ScanState::Unscanned => "unscanned",
        }
    }

    pub fn parse(text: &str) -> Option<ScanState> {
        ScanState::ALL.into_iter().find(|state| state.as_str() == text)
    }
}

impl std::fmt::Display for ScanState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A file attached to a ticket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Attachment {
    pub id: Uuid,
    pub ticket_id: Uuid,
    /// The sanitised file name (no directories, no control characters).
    pub file_name: String,
    /// The type sniffed from the content (or, when the content has no signature, guessed from
    /// the name).
    pub content_type: String,
    pub size: u64,
    /// Hex SHA-256 of the content.
    pub sha256: String,
    pub scan_state: ScanState,
    /// The malware signature found, when `scan_state` is `infected`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scan_signature: Option<String>,
    /// Width and height in pixels, for images the server could decode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<ImageInfo>,
    /// Whether the content may be downloaded now (clean, or unscanned while the policy allows).
    pub downloadable: bool,
    pub uploaded_by: Uuid,
    /// The uploader's name and email, so that lists name them without a request per person.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uploaded_by_user: Option<crate::tickets::PersonSummary>,
    pub created_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ImageInfo {
    pub width: u32,
    pub height: u32,
    /// Whether a thumbnail is available at `GET /api/v1/attachments/{id}/thumbnail`.
    pub thumbnail: bool,
}

/// What to do with files while no virus scanner is configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum UnscannedPolicy {
    /// Unscanned files cannot be downloaded (the default).
    Block,
    /// Unscanned files can be downloaded, marked `unscanned`.
    Allow,
}

impl UnscannedPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            UnscannedPolicy::Block => "block",
            UnscannedPolicy::Allow => "allow",
        }
    }

    pub fn parse(text: &str) -> Option<UnscannedPolicy> {
        match text {
            "block" => Some(UnscannedPolicy::Block),
            "allow" => Some(UnscannedPolicy::Allow),
            _ => None,
        }
    }
}

/// The attachment settings an admin can change at run time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AttachmentSettings {
    pub unscanned_policy: UnscannedPolicy,
    /// Whether a virus scanner is configured on this server (`HDMS_CLAMD`).
    pub scanner_configured: bool,
    /// Largest attachment, in bytes.
    pub max_size: u64,
    /// Most live attachments on one ticket.
    pub max_per_ticket: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdateAttachmentSettings {
    pub unscanned_policy: UnscannedPolicy,
}
