//! Bulk user import from CSV (`POST /api/v1/users/import`) and invitation acceptance.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The columns an import file may have. The first three are required; names match
/// case-insensitively and may come in any order.
pub const REQUIRED_COLUMNS: [&str; 3] = ["email", "name", "role"];
pub const OPTIONAL_COLUMNS: [&str; 4] = ["phone", "team", "locale", "external_id"];

/// What to do with a row whose email belongs to an existing (live) user.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum OnConflict {
    /// Leave the existing user as it is and count the row as skipped.
    #[default]
    Skip,
    /// Overwrite the user's name, role, phone, locale and external id with the row's.
    Update,
    /// Report the row as an error (`email_taken`).
    Fail,
}

impl OnConflict {
    pub fn as_str(self) -> &'static str {
        match self {
            OnConflict::Skip => "skip",
            OnConflict::Update => "update",
            OnConflict::Fail => "fail",
        }
    }
}

/// Query parameters of `POST /api/v1/users/import`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
pub struct ImportQuery {
    /// Validate and count everything, change nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dry_run: Option<bool>,
    /// Default `skip`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_conflict: Option<OnConflict>,
    /// A team (name or id) every imported agent joins, unless the row names its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team: Option<String>,
    /// Deliver each new user's invitation through the notification channels: by SMS to users with
    /// a phone number. Those it cannot reach are counted in the report's `invitations_unsent`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send_invites: Option<bool>,
    /// Return each new user's invitation token in the report, for the admin to hand out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub print_invites: Option<bool>,
}

/// Why a row was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum RowErrorCode {
    /// A required field is empty.
    MissingField,
    /// The row has more or fewer fields than the header.
    WrongFieldCount,
    /// A field is not valid UTF-8.
    InvalidUtf8,
    BadEmail,
    BadName,
    UnknownRole,
    UnknownTeam,
    /// The phone number is not a valid number in E.164 form.
    PhoneNotE164,
    BadLocale,
    BadExternalId,
    /// An earlier row of the same file has this email.
    DuplicateInFile,
    /// A live user has this email and `on_conflict=fail`.
    EmailTaken,
    /// Customers cannot be team members.
    CustomerInTeam,
    /// An import never changes the role of an existing admin (it could lock everyone out).
    AdminRoleLocked,
}

/// One problem with one row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RowError {
    /// The line of the file the row starts on (the header is line 1).
    pub line: u64,
    /// The column at fault, as named in the header; absent for whole-row problems.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub column: Option<String>,
    pub code: RowErrorCode,
    pub message: String,
}

/// A new user's invitation: a one-time token that sets their password.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Invitation {
    pub user_id: Uuid,
    pub email: String,
    /// Send it to `POST /api/v1/auth/accept-invite` with a password. Shown once.
    pub token: String,
    pub expires_at: DateTime<Utc>,
}

/// The answer to an import: what happened to every data row.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ImportReport {
    /// True when nothing was written.
    pub dry_run: bool,
    /// Data rows read (the header and blank lines are not rows).
    pub rows: u64,
    pub created: u64,
    pub updated: u64,
    /// Rows whose user exists already and was left alone (or already matched, with `update`).
    pub skipped: u64,
    /// Rows refused; each has at least one entry in `errors`.
    pub failed: u64,
    /// Problems, in file order.
    pub errors: Vec<RowError>,
    /// Problems not listed in `errors` because the list is capped; `failed` still counts them.
    #[serde(default)]
    pub errors_omitted: u64,
    /// Invitations of the users created (with `print_invites`), and of existing users who still
    /// have no password (a rerun reissues those, so no one is left without a way in).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub invitations: Vec<Invitation>,
    /// With `send_invites`: invitations queued for delivery by SMS (to users with a phone).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub invitations_sent: u64,
    /// With `send_invites` and without `print_invites`: users left without an invitation because
    /// no channel reaches them (no phone number). Import again with `print_invites` to hand theirs
    /// out: a rerun issues one to every imported user who still has no password.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub invitations_unsent: u64,
}

fn is_zero(count: &u64) -> bool {
    *count == 0
}

impl ImportReport {
    /// Whether every row was accepted.
    pub fn is_clean(&self) -> bool {
        self.failed == 0
    }
}

/// Set the password of an invited user.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AcceptInvite {
    pub token: String,
    pub password: String,
}

/// Prefix of invitation tokens, so a client (and a secret scanner) can tell them apart.
pub const INVITE_TOKEN_PREFIX: &str = "hdms_inv_";
