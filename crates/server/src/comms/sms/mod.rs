//! Text messages. Code that wants an SMS sent calls [`enqueue`] inside its own transaction: the
//! message is stored in `sms_outbox` and exists exactly when the change that caused it commits;
//! the [`worker`] sends it afterwards through the configured [`gateway`] (`log` or `http`),
//! retrying with backoff, never inside a request's transaction, and across restarts.
//!
//! Also here: phone verification and SMS one-time codes as a second login factor ([`otp`]).

pub mod gateway;
pub mod http;
pub mod log;
pub mod otp;
pub mod worker;

use chrono::{DateTime, Utc};
use utoipa_axum::router::OpenApiRouter;
use uuid::Uuid;

use crate::db::Tx;
use crate::error::{Error, Result};
use crate::state::AppState;
use crate::users::validate;
use crate::with_tx;

/// The outbox INSERT up to its values, shared with code that queues many messages in one
/// statement (the user import's invitations): `id, user_id, phone, body, sensitive, state,
/// attempts, next_attempt_at, created_at`.
macro_rules! outbox_insert {
    () => {
        "INSERT INTO sms_outbox (id, user_id, phone, body, sensitive, state, attempts, next_attempt_at, created_at) "
    };
}
pub(crate) use outbox_insert;

/// Longest message accepted: ten concatenated SMS segments.
pub const MAX_BODY_CHARS: usize = 1530;

pub fn router() -> OpenApiRouter<AppState> {
    otp::router()
}

/// Queues a text message to `phone` (validated as E.164) for `user_id`; sent once `tx` commits.
/// Returns the message's id.
pub async fn enqueue(tx: &mut Tx, user_id: Uuid, phone: &str, body: &str, now: DateTime<Utc>) -> Result<Uuid> {
    insert(tx, user_id, phone, body, false, now).await
}

/// Like [`enqueue`], for a message carrying a one-time code: its body is removed from the outbox
/// once it is delivered or given up on.
pub(crate) async fn enqueue_sensitive(tx: &mut Tx, user_id: Uuid, phone: &str, body: &str, now: DateTime<Utc>) -> Result<Uuid> {
    insert(tx, user_id, phone, body, true, now).await
}

async fn insert(tx: &mut Tx, user_id: Uuid, phone: &str, body: &str, sensitive: bool, now: DateTime<Utc>) -> Result<Uuid> {
    let phone = validate::field("phone", validate::phone(phone))?;
    if body.trim().is_empty() {
        return Err(Error::invalid("body", "an SMS needs some text"));
    }
    if body.chars().count() > MAX_BODY_CHARS {
        return Err(Error::invalid("body", format!("an SMS is at most {MAX_BODY_CHARS} characters")));
    }
    const SQL: &str = concat!(outbox_insert!(), "VALUES ($1, $2, $3, $4, $5, 'pending', 0, $6, $6)");
    let id = Uuid::now_v7();
    with_tx!(tx, conn => sqlx::query(SQL)
        .bind(id).bind(user_id).bind(&phone).bind(body).bind(sensitive).bind(now)
        .execute(&mut *conn).await?.rows_affected());
    Ok(id)
}

/// `+4915112345678` → `+49•••••••••78`: enough to recognise one's number, not to learn it.
pub fn mask_phone(phone: &str) -> String {
    let chars: Vec<char> = phone.chars().collect();
    let keep_start = 3.min(chars.len());
    let keep_end = 2.min(chars.len().saturating_sub(keep_start));
    chars
        .iter()
        .enumerate()
        .map(|(i, c)| if i < keep_start || i >= chars.len() - keep_end { *c } else { '•' })
        .collect()
}

/// The first `max` characters of `text`, ending in `...` when cut (ASCII: a `…` alone would
/// switch the whole message to the 70-character UCS-2 segments).
pub fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut short: String = text.chars().take(max.saturating_sub(3)).collect();
    short.push_str("...");
    short
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_the_middle_of_a_number() {
        assert_eq!(mask_phone("+4915112345678"), "+49•••••••••78");
        assert_eq!(mask_phone("+1"), "+1");
    }

    #[test]
    fn shortens_on_character_boundaries() {
        assert_eq!(shorten("héllo", 10), "héllo");
        assert_eq!(shorten("héllo wörld", 8), "héllo...");
    }
}
