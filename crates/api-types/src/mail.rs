//! The email channel: what became of an inbound message, the mail kept on a ticket, mail that
//! could not be taken in, and addresses that bounce.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// What ingesting one message did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum MailDisposition {
    /// A new ticket was raised from it.
    TicketCreated,
    /// It was added to an existing ticket's conversation.
    CommentAdded,
    /// Machine mail (an auto-reply, a bulk mail…) that belongs to no ticket: kept, nothing else.
    Stored,
    /// A delivery status report: the bounced address is marked failing.
    Bounce,
    /// This Message-ID was taken in before; nothing was done.
    Duplicate,
    /// Refused on purpose (an unknown sender where the mailbox admits none).
    Dropped,
    /// It could not be taken in; it is kept in the failed mail list with the reason.
    Failed,
}

impl MailDisposition {
    pub fn as_str(self) -> &'static str {
        match self {
            MailDisposition::TicketCreated => "ticket_created",
            MailDisposition::CommentAdded => "comment_added",
            MailDisposition::Stored => "stored",
            MailDisposition::Bounce => "bounce",
            MailDisposition::Duplicate => "duplicate",
            MailDisposition::Dropped => "dropped",
            MailDisposition::Failed => "failed",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "ticket_created" => MailDisposition::TicketCreated,
            "comment_added" => MailDisposition::CommentAdded,
            "stored" => MailDisposition::Stored,
            "bounce" => MailDisposition::Bounce,
            "duplicate" => MailDisposition::Duplicate,
            "dropped" => MailDisposition::Dropped,
            "failed" => MailDisposition::Failed,
            _ => return None,
        })
    }
}

/// The answer of `POST /api/v1/mail/inbound`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InboundResult {
    pub disposition: MailDisposition,
    /// The message's Message-ID (without angle brackets); one is made up from the content's
    /// hash for mail that has none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticket_id: Option<Uuid>,
    /// `HD-1042`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticket_number: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment_id: Option<Uuid>,
    /// Why the message counts as machine mail (never answered, never reopens), if it does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub automatic: Option<String>,
    /// Why it was dropped or failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The failed mail entry, for `failed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_id: Option<Uuid>,
}

/// A message hdms received or sent for a ticket, with its full text (the comment shows the
/// reply without the quoted history).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MailMessage {
    pub id: Uuid,
    pub message_id: String,
    /// `in` or `out`.
    pub direction: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticket_id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment_id: Option<Uuid>,
    pub from: String,
    pub to: Vec<String>,
    pub cc: Vec<String>,
    pub subject: String,
    pub disposition: MailDisposition,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub automatic: Option<String>,
    /// The whole text, quoted history and signature included.
    pub full_text: String,
    /// The HTML body as sent, when there was one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub html: Option<String>,
    /// Attachments that were refused, and why.
    pub problems: Vec<String>,
    /// SHA-256 of the raw message in the content store.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw_sha256: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// A message that could not be taken in, kept for an admin to look at and retry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MailFailure {
    pub id: Uuid,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mailbox: Option<String>,
    pub raw_sha256: String,
    pub size: u64,
    pub reason: String,
    pub attempts: u32,
    /// `failed`, or `retried` once a retry took it in.
    pub state: String,
    pub created_at: DateTime<Utc>,
    pub last_attempt_at: DateTime<Utc>,
}

/// A mail address that bounced: no mail goes to it until it works again or an admin clears it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FailingAddress {
    pub address: String,
    pub reason: String,
    pub failed_at: DateTime<Utc>,
}

/// How hdms talks to a mail server: TLS from the first byte (SMTPS 465, IMAPS 993), plain then
/// STARTTLS (submission 587, IMAP 143), or plain (only for a server on the same host).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum MailSecurity {
    Tls,
    Starttls,
    Plain,
}

impl MailSecurity {
    pub fn as_str(self) -> &'static str {
        match self {
            MailSecurity::Tls => "tls",
            MailSecurity::Starttls => "starttls",
            MailSecurity::Plain => "plain",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "tls" => MailSecurity::Tls,
            "starttls" => MailSecurity::Starttls,
            "plain" => MailSecurity::Plain,
            _ => return None,
        })
    }
}

/// The SMTP account mail goes out through. The password is never shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    pub security: MailSecurity,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// Whether a password is stored.
    pub password_set: bool,
    /// The From address of mail that did not come in through a mailbox with its own address.
    pub from_address: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_name: Option<String>,
    /// Answer each new ticket raised by mail with an acknowledgement (rate limited per
    /// recipient; never to machine mail).
    pub acknowledge_new_tickets: bool,
}

/// Sets the SMTP account; an absent password keeps the stored one, `""` removes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdateSmtpSettings {
    pub host: String,
    pub port: u16,
    pub security: MailSecurity,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    pub from_address: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_name: Option<String>,
    #[serde(default)]
    pub acknowledge_new_tickets: bool,
}
