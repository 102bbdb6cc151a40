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

/// What a mailbox does with mail from an address no user has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum UnknownSenders {
    /// The sender becomes a new customer.
    #[default]
    Create,
    /// The mail is dropped and the sender gets a polite refusal (rate limited).
    Refuse,
    /// The mail is dropped silently.
    Drop,
}

impl UnknownSenders {
    pub fn as_str(self) -> &'static str {
        match self {
            UnknownSenders::Create => "create",
            UnknownSenders::Refuse => "refuse",
            UnknownSenders::Drop => "drop",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "create" => UnknownSenders::Create,
            "refuse" => UnknownSenders::Refuse,
            "drop" => UnknownSenders::Drop,
            _ => return None,
        })
    }
}

/// What happens on the IMAP server to a message once it is taken in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum AfterProcessing {
    /// Flagged `\Seen` where it is.
    #[default]
    Seen,
    /// Moved to `move_to_folder` (IMAP MOVE, or copy and delete where the server lacks it).
    Move,
}

impl AfterProcessing {
    pub fn as_str(self) -> &'static str {
        match self {
            AfterProcessing::Seen => "seen",
            AfterProcessing::Move => "move",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "seen" => AfterProcessing::Seen,
            "move" => AfterProcessing::Move,
            _ => return None,
        })
    }
}

/// A mailbox mail comes in through: polled over IMAP when `imap_host` is set, else fed by
/// `hdms mailgate --mailbox NAME` only. The IMAP password is never shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Mailbox {
    pub id: Uuid,
    pub name: String,
    /// The support address this mailbox receives; automatic answers go out from it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    pub unknown_senders: UnknownSenders,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub imap_host: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub imap_port: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub imap_security: Option<MailSecurity>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub imap_user: Option<String>,
    /// Whether an IMAP password is stored.
    pub imap_password_set: bool,
    pub imap_folder: String,
    /// Seconds between polls when the server has no IDLE (with IDLE, new mail comes at once
    /// and this is how often the connection is renewed).
    pub poll_interval_secs: u32,
    pub after_processing: AfterProcessing,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub move_to_folder: Option<String>,
    /// The folder's UIDVALIDITY when last polled; a new one means its UIDs started over.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid_validity: Option<u32>,
    /// The highest UID taken in so far.
    pub last_uid: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_polled_at: Option<DateTime<Utc>>,
    /// Why the last poll failed, until one succeeds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// Until when an instance holds the right to poll it (one instance at a time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_until: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A new mailbox. IMAP fields are needed only for a polled mailbox: with `imap_host`, also
/// `imap_user` and `imap_password`; the port defaults to 993 for `tls`, else 143.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateMailbox {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unknown_senders: Option<UnknownSenders>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub imap_host: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub imap_port: Option<u16>,
    /// Default `tls`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub imap_security: Option<MailSecurity>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub imap_user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub imap_password: Option<String>,
    /// Default `INBOX`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub imap_folder: Option<String>,
    /// Default 60; 1 to 86400.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub poll_interval_secs: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after_processing: Option<AfterProcessing>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub move_to_folder: Option<String>,
}

/// Changes to a mailbox; absent fields keep their value, `null` clears `address`,
/// `imap_host` (the mailbox is no longer polled) and `move_to_folder`. An absent password
/// keeps the stored one. Changing the host, user or folder starts the UIDs over.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdateMailbox {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "crate::double_option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub address: Option<Option<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unknown_senders: Option<UnknownSenders>,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "crate::double_option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub imap_host: Option<Option<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub imap_port: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub imap_security: Option<MailSecurity>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub imap_user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub imap_password: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub imap_folder: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub poll_interval_secs: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after_processing: Option<AfterProcessing>,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "crate::double_option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub move_to_folder: Option<Option<String>>,
}

/// What checking a mail server's account found: `ok`, or the step that failed and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MailServerCheck {
    pub ok: bool,
    /// The step that failed: `connect`, `tls`, `login` or `folder` (`connect` also covers an
    /// SMTP server that refused the conversation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_step: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// IMAP: whether the server has IDLE (new mail arrives at once instead of at the next poll).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle: Option<bool>,
    /// IMAP: the messages in the folder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub messages: Option<u32>,
}
