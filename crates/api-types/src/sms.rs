//! SMS: notification preferences per event and channel, phone verification, and SMS one-time
//! codes as a second login factor.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::auth::LoginResponse;
use crate::error::ErrorBody;

/// How one kind of event reaches you. Without a stored choice: in-app on, SMS off.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NotificationPreference {
    /// `assigned`, `new_reply`, `mention`, `approval_requested`, `approval_decided`,
    /// `sla_warning`, `sla_breach`, `import_finished`, `attachment_infected`.
    pub kind: String,
    /// Stored in your notifications and pushed over the websocket.
    pub in_app: bool,
    /// A short text message to your phone, once it is verified.
    pub sms: bool,
    /// A mail to your address. Unless you choose, on for customers who wrote to the desk by
    /// mail and off for staff; answers always say what applies. Absent in an update: keep it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<bool>,
}

/// Every kind of event with the channels it uses for you.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NotificationPreferences {
    pub preferences: Vec<NotificationPreference>,
    /// Whether SMS can reach you now: you have a phone number and it is verified. SMS
    /// preferences are kept either way and apply once it is.
    pub sms_reachable: bool,
}

/// Sets the kinds listed; kinds not listed keep their setting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdateNotificationPreferences {
    pub preferences: Vec<NotificationPreference>,
}

/// Your phone number and what it is used for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PhoneStatus {
    /// Set by an admin (or an import); changing it undoes its verification.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// When this number was verified by a code sent to it; absent when it is not verified.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verified_at: Option<DateTime<Utc>>,
    /// Whether logging in asks for a code sent by SMS to the verified number as well as the
    /// password.
    pub login_otp: bool,
}

/// A verification code is on its way.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PhoneVerificationSent {
    /// The number the code goes to, partly masked.
    pub phone_hint: String,
    /// Seconds the code stays valid.
    pub expires_in: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ConfirmPhone {
    /// The 6-digit code received by SMS.
    pub code: String,
}

/// Turns SMS login codes on (needs a verified phone) or off.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SetLoginOtp {
    pub enabled: bool,
}

/// The 401 answer to a correct password for an account with SMS login codes: the error
/// (`otp_required`) plus the challenge to send back with the code to
/// `POST /api/v1/auth/login/otp`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OtpChallenge {
    pub error: ErrorBody,
    /// Opaque, single use; valid as long as the code.
    pub challenge: String,
    /// Seconds until the challenge and its code expire.
    pub expires_in: u64,
    /// The number the code went to, partly masked.
    pub phone_hint: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct LoginOtpRequest {
    pub challenge: String,
    /// The 6-digit code received by SMS.
    pub code: String,
}

/// What a login leads to: a session, or a code to enter first.
#[derive(Debug, Clone)]
pub enum LoginOutcome {
    LoggedIn(Box<LoginResponse>),
    OtpRequired(OtpChallenge),
}

/// The 401 answers of `POST /api/v1/auth/login`: `otp_required` with its challenge, or a plain
/// error (`invalid_credentials`, `account_disabled`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(untagged)]
pub enum LoginRefusal {
    OtpRequired(OtpChallenge),
    Refused(crate::ApiError),
}
