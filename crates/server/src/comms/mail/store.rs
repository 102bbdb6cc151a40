//! Rows of the mail tables: messages by Message-ID, failed mail, failing addresses, mailboxes'
//! ingestion policy, and the raw messages in the attachments' content store.

use bytes::Bytes;
use chrono::{DateTime, Utc};
use hdms_api_types::mail::{FailingAddress, MailDisposition, MailFailure, MailMessage};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::db::{Db, Tx};
use crate::error::{Error, Result};
use crate::files::storage::blob_key;
use crate::state::AppState;
use crate::{with_db, with_tx};

/// Keeps a raw message in the content store (once per content) and returns its SHA-256.
pub async fn keep_raw(state: &AppState, raw: &Bytes) -> Result<String> {
    let sha256 = hex::encode(Sha256::digest(raw));
    let key = blob_key(&sha256);
    if !state.files.storage.exists(&key).await? {
        state.files.storage.put_bytes(&key, raw.clone()).await?;
    }
    Ok(sha256)
}

pub async fn read_raw(state: &AppState, sha256: &str) -> Result<Bytes> {
    Ok(state.files.storage.read_all(&blob_key(sha256)).await?)
}

pub use hdms_api_types::mail::UnknownSenders;

/// The part of a mailbox ingestion needs.
#[derive(Debug, Clone)]
pub struct Policy {
    pub mailbox_id: Option<Uuid>,
    pub name: String,
    pub address: Option<String>,
    pub unknown_senders: UnknownSenders,
}

impl Policy {
    /// Mail handed in by `hdms mailgate` without naming a mailbox.
    pub fn mailgate_default() -> Policy {
        Policy { mailbox_id: None, name: "mailgate".to_owned(), address: None, unknown_senders: UnknownSenders::Create }
    }
}

/// The live mailbox named `name` (case-insensitive), or 422.
pub async fn policy_named(db: &Db, name: &str) -> Result<Policy> {
    const SQL: &str = "SELECT id, name, address, unknown_senders FROM mail_mailboxes WHERE lower(name) = lower($1) AND deleted_at IS NULL";
    let row: Option<(Uuid, String, Option<String>, String)> =
        with_db!(db, pool => sqlx::query_as(SQL).bind(name).fetch_optional(pool).await?);
    let (id, name, address, unknown) = row.ok_or_else(|| Error::invalid("mailbox", format!("no mailbox is named '{name}'")))?;
    Ok(Policy { mailbox_id: Some(id), name, address, unknown_senders: UnknownSenders::parse(&unknown).unwrap_or(UnknownSenders::Create) })
}

pub async fn policy_by_id(db: &Db, id: Uuid) -> Result<Option<Policy>> {
    const SQL: &str = "SELECT id, name, address, unknown_senders FROM mail_mailboxes WHERE id = $1";
    let row: Option<(Uuid, String, Option<String>, String)> = with_db!(db, pool => sqlx::query_as(SQL).bind(id).fetch_optional(pool).await?);
    Ok(row.map(|(id, name, address, unknown)| Policy {
        mailbox_id: Some(id),
        name,
        address,
        unknown_senders: UnknownSenders::parse(&unknown).unwrap_or(UnknownSenders::Create),
    }))
}

/// A stored message, as threading and the duplicate check see it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Known {
    pub id: Uuid,
    pub ticket_id: Option<Uuid>,
    pub comment_id: Option<Uuid>,
    pub disposition: String,
    pub automatic: Option<String>,
}

pub async fn find_by_message_id(db: &Db, message_id: &str) -> Result<Option<Known>> {
    const SQL: &str = "SELECT id, ticket_id, comment_id, disposition, automatic FROM mail_messages WHERE message_id = $1";
    Ok(with_db!(db, pool => sqlx::query_as(SQL).bind(message_id).fetch_optional(pool).await?))
}

/// The ticket of the first of `ids` hdms sent or received for a ticket.
pub async fn ticket_of_any(db: &Db, ids: &[String]) -> Result<Option<Uuid>> {
    const SQL: &str = "SELECT ticket_id FROM mail_messages WHERE message_id = $1 AND ticket_id IS NOT NULL";
    for id in ids {
        let ticket: Option<Uuid> = with_db!(db, pool => sqlx::query_scalar(SQL).bind(id).fetch_optional(pool).await?);
        if ticket.is_some() {
            return Ok(ticket);
        }
    }
    Ok(None)
}

/// A message row about to be written.
pub struct NewMessage<'a> {
    pub message_id: &'a str,
    pub direction: &'a str,
    pub ticket_id: Option<Uuid>,
    pub comment_id: Option<Uuid>,
    pub mailbox_id: Option<Uuid>,
    pub raw_sha256: Option<&'a str>,
    pub from: &'a str,
    pub to: &'a [String],
    pub cc: &'a [String],
    pub subject: &'a str,
    pub disposition: MailDisposition,
    pub automatic: Option<&'a str>,
    pub full_text: &'a str,
    pub html: Option<&'a str>,
}

/// Records a message; `Ok(None)` when its Message-ID is already recorded (the caller rolls
/// back: another delivery of the same message got there first).
pub async fn insert_message(tx: &mut Tx, new: &NewMessage<'_>, now: DateTime<Utc>) -> Result<Option<Uuid>> {
    const SQL: &str = "INSERT INTO mail_messages (id, message_id, direction, ticket_id, comment_id, mailbox_id, raw_sha256, from_address, \
                       to_addresses, cc_addresses, subject, disposition, automatic, full_text, html, created_at) \
                       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)";
    let id = Uuid::now_v7();
    let inserted = with_tx!(tx, conn => sqlx::query(SQL)
        .bind(id).bind(new.message_id).bind(new.direction).bind(new.ticket_id).bind(new.comment_id).bind(new.mailbox_id)
        .bind(new.raw_sha256).bind(new.from).bind(new.to.join(",")).bind(new.cc.join(",")).bind(new.subject)
        .bind(new.disposition.as_str()).bind(new.automatic).bind(new.full_text).bind(new.html).bind(now)
        .execute(&mut *conn).await.map(|r| r.rows_affected()));
    match inserted {
        Ok(_) => Ok(Some(id)),
        Err(err) if crate::db::is_unique_violation(&err) => Ok(None),
        Err(err) => Err(err.into()),
    }
}

pub async fn set_problems(db: &Db, id: Uuid, problems: &[String]) -> Result<()> {
    const SQL: &str = "UPDATE mail_messages SET problems = $1 WHERE id = $2";
    crate::with_db_writing!(db, pool => sqlx::query(SQL).bind(problems.join("\n")).bind(id).execute(pool).await?.rows_affected());
    Ok(())
}

#[derive(sqlx::FromRow)]
struct MessageRow {
    id: Uuid,
    message_id: String,
    direction: String,
    ticket_id: Option<Uuid>,
    comment_id: Option<Uuid>,
    from_address: String,
    to_addresses: String,
    cc_addresses: String,
    subject: String,
    disposition: String,
    automatic: Option<String>,
    full_text: String,
    html: Option<String>,
    problems: Option<String>,
    raw_sha256: Option<String>,
    created_at: DateTime<Utc>,
}

fn list(text: &str) -> Vec<String> {
    text.split([',', '\n']).map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect()
}

impl From<MessageRow> for MailMessage {
    fn from(row: MessageRow) -> Self {
        MailMessage {
            id: row.id,
            message_id: row.message_id,
            direction: row.direction,
            ticket_id: row.ticket_id,
            comment_id: row.comment_id,
            from: row.from_address,
            to: list(&row.to_addresses),
            cc: list(&row.cc_addresses),
            subject: row.subject,
            disposition: MailDisposition::parse(&row.disposition).unwrap_or(MailDisposition::Stored),
            automatic: row.automatic,
            full_text: row.full_text,
            html: row.html,
            problems: row.problems.as_deref().map(|p| p.lines().map(str::to_owned).collect()).unwrap_or_default(),
            raw_sha256: row.raw_sha256,
            created_at: row.created_at,
        }
    }
}

/// A ticket's mail, oldest first.
pub async fn messages_of_ticket(db: &Db, ticket_id: Uuid) -> Result<Vec<MailMessage>> {
    const SQL: &str = "SELECT id, message_id, direction, ticket_id, comment_id, from_address, to_addresses, cc_addresses, subject, \
                       disposition, automatic, full_text, html, problems, raw_sha256, created_at \
                       FROM mail_messages WHERE ticket_id = $1 ORDER BY created_at, id";
    let rows: Vec<MessageRow> = with_db!(db, pool => sqlx::query_as(SQL).bind(ticket_id).fetch_all(pool).await?);
    Ok(rows.into_iter().map(MailMessage::from).collect())
}

// --- failed mail ---------------------------------------------------------------------------

pub async fn record_failure(db: &Db, mailbox_id: Option<Uuid>, raw_sha256: &str, size: u64, reason: &str, now: DateTime<Utc>) -> Result<Uuid> {
    const SQL: &str = "INSERT INTO mail_failures (id, mailbox_id, raw_sha256, size, reason, attempts, state, created_at, last_attempt_at) \
                       VALUES ($1, $2, $3, $4, $5, 1, 'failed', $6, $6)";
    let id = Uuid::now_v7();
    crate::with_db_writing!(db, pool => sqlx::query(SQL).bind(id).bind(mailbox_id).bind(raw_sha256).bind(i64::try_from(size).unwrap_or(i64::MAX)).bind(reason).bind(now)
        .execute(pool).await?.rows_affected());
    Ok(id)
}

/// After a retry: `retried` when it went in, else the new reason and one more attempt.
pub async fn update_failure(db: &Db, id: Uuid, failed_again: Option<&str>, now: DateTime<Utc>) -> Result<()> {
    const SQL: &str = "UPDATE mail_failures SET attempts = attempts + 1, last_attempt_at = $1, \
                       state = CASE WHEN $2 THEN 'failed' ELSE 'retried' END, reason = COALESCE($3, reason) WHERE id = $4";
    crate::with_db_writing!(db, pool => sqlx::query(SQL).bind(now).bind(failed_again.is_some()).bind(failed_again).bind(id)
        .execute(pool).await?.rows_affected());
    Ok(())
}

#[derive(sqlx::FromRow)]
struct FailureRow {
    id: Uuid,
    mailbox_id: Option<Uuid>,
    mailbox: Option<String>,
    raw_sha256: String,
    size: i64,
    reason: String,
    attempts: i32,
    state: String,
    created_at: DateTime<Utc>,
    last_attempt_at: DateTime<Utc>,
}

macro_rules! failure_select {
    () => {
        "SELECT f.id, f.mailbox_id, m.name AS mailbox, f.raw_sha256, f.size, f.reason, f.attempts, f.state, f.created_at, \
         f.last_attempt_at FROM mail_failures f LEFT JOIN mail_mailboxes m ON m.id = f.mailbox_id "
    };
}

impl From<FailureRow> for MailFailure {
    fn from(row: FailureRow) -> Self {
        MailFailure {
            id: row.id,
            mailbox: row.mailbox,
            raw_sha256: row.raw_sha256,
            size: u64::try_from(row.size).unwrap_or(0),
            reason: row.reason,
            attempts: u32::try_from(row.attempts).unwrap_or(0),
            state: row.state,
            created_at: row.created_at,
            last_attempt_at: row.last_attempt_at,
        }
    }
}

/// Failed mail, newest first; with `all`, also the mail a retry took in.
pub async fn failures(db: &Db, all: bool) -> Result<Vec<MailFailure>> {
    const SQL: &str = concat!(failure_select!(), "WHERE $1 OR f.state = 'failed' ORDER BY f.created_at DESC, f.id DESC LIMIT 1000");
    let rows: Vec<FailureRow> = with_db!(db, pool => sqlx::query_as(SQL).bind(all).fetch_all(pool).await?);
    Ok(rows.into_iter().map(MailFailure::from).collect())
}

/// A failure's raw message and mailbox, for a retry.
pub async fn failure(db: &Db, id: Uuid) -> Result<(String, Option<Uuid>)> {
    const SQL: &str = concat!(failure_select!(), "WHERE f.id = $1");
    let row: Option<FailureRow> = with_db!(db, pool => sqlx::query_as(SQL).bind(id).fetch_optional(pool).await?);
    let row = row.ok_or(Error::NotFound { what: "failed mail" })?;
    Ok((row.raw_sha256, row.mailbox_id))
}

// --- failing addresses ---------------------------------------------------------------------

pub async fn mark_failing(tx: &mut Tx, address: &str, reason: &str, now: DateTime<Utc>) -> Result<()> {
    const SQL: &str = "INSERT INTO mail_failing_addresses (address, reason, failed_at) VALUES ($1, $2, $3) \
                       ON CONFLICT (address) DO UPDATE SET reason = excluded.reason, failed_at = excluded.failed_at";
    with_tx!(tx, conn => sqlx::query(SQL).bind(address).bind(reason).bind(now).execute(&mut *conn).await?.rows_affected());
    Ok(())
}

/// Mail from an address shows it works again.
pub async fn clear_failing(db: &Db, address: &str) -> Result<bool> {
    const SQL: &str = "DELETE FROM mail_failing_addresses WHERE address = $1";
    Ok(crate::with_db_writing!(db, pool => sqlx::query(SQL).bind(address).execute(pool).await?.rows_affected()) > 0)
}

pub async fn failing_addresses(db: &Db) -> Result<Vec<FailingAddress>> {
    const SQL: &str = "SELECT address, reason, failed_at FROM mail_failing_addresses ORDER BY failed_at DESC, address";
    let rows: Vec<(String, String, DateTime<Utc>)> = with_db!(db, pool => sqlx::query_as(SQL).fetch_all(pool).await?);
    Ok(rows.into_iter().map(|(address, reason, failed_at)| FailingAddress { address, reason, failed_at }).collect())
}
