//! The SMS delivery worker: drains `sms_outbox` through the [`outbox`](crate::comms::outbox)
//! loop shared with mail and webhooks (claimed with a lease, so with several instances each
//! message is handed to the gateway by one of them). Each attempt is recorded in
//! `sms_attempts`; a failed attempt puts the row back with `next_attempt_at` after a doubling
//! delay, until `sms_max_attempts` is reached and the row is marked `failed` with the reason.
//! Delivery is at least once: gateways can drop duplicates by the `{id}` placeholder, which is
//! the same on every attempt.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::background::Background;
pub use crate::comms::outbox::Round;
use crate::comms::outbox::{self, MAX_BACKOFF, Outbox, Recorded, backoff};
use crate::comms::sms::gateway::{self, Delivery, Gateway, Message, SendError};
use crate::error::Result;
use crate::state::AppState;
use crate::{claim_sql, with_tx};

/// Messages claimed (and sent concurrently) at a time.
const BATCH: i64 = 16;
/// What a sensitive message's body (a one-time code) becomes once it is no longer needed.
pub const REDACTED: &str = "(one-time code: removed after delivery)";

/// A claimed message.
#[derive(Debug, sqlx::FromRow)]
pub struct Claimed {
    id: Uuid,
    phone: String,
    body: String,
    attempts: i32,
    sensitive: bool,
}

/// Delivers the outbox through one gateway.
#[derive(Clone)]
pub struct Worker {
    state: AppState,
    gateway: Arc<dyn Gateway>,
}

impl Worker {
    /// A worker using the provider of the state's configuration.
    pub fn new(state: AppState) -> anyhow::Result<Worker> {
        let gateway = gateway::from_config(&state.config)?;
        Ok(Worker { state, gateway })
    }

    pub fn with_gateway(state: AppState, gateway: Arc<dyn Gateway>) -> Worker {
        Worker { state, gateway }
    }

    /// Sends everything due by `now` (attempts that fail again are rescheduled after `now`, so
    /// a pass ends), then returns what it did.
    pub async fn run_once(&self, now: DateTime<Utc>) -> Result<Round> {
        outbox::pass(self, now, None).await
    }

    /// Rows whose last allowed attempt never reported back (its worker stopped mid-send).
    async fn expire_abandoned(&self, now: DateTime<Utc>) -> Result<usize> {
        const SQL: &str = "UPDATE sms_outbox SET state = 'failed', failed_at = $1, claimed_until = NULL, claim_token = NULL, \
               last_error = COALESCE(last_error, 'the last attempt did not report back'), \
               body = CASE WHEN sensitive THEN $3 ELSE body END \
             WHERE state = 'sending' AND claimed_until < $1 AND attempts >= $2";
        let max = i32::try_from(self.state.config.sms_max_attempts).unwrap_or(i32::MAX);
        let expired = crate::with_db_writing!(&self.state.db, pool => sqlx::query(SQL).bind(now).bind(max).bind(REDACTED).execute(pool).await?.rows_affected());
        Ok(usize::try_from(expired).unwrap_or(0))
    }
}

impl Outbox for Worker {
    type Pass = ();
    type Row = Claimed;
    type Outcome = std::result::Result<Delivery, SendError>;
    const WHAT: &'static str = "SMS";

    async fn begin(&self, now: DateTime<Utc>, round: &mut Round) -> Result<Option<()>> {
        round.failed += self.expire_abandoned(now).await?;
        Ok(Some(()))
    }

    async fn claim(&self, token: Uuid, now: DateTime<Utc>) -> Result<Vec<Claimed>> {
        const SQL: &str = claim_sql!("sms_outbox", "id, phone, body, attempts, sensitive");
        outbox::claim_rows(&self.state.db, SQL, now + lease(&self.state), token, now, self.state.config.sms_max_attempts, BATCH).await
    }

    async fn send(&self, _: &(), row: &Claimed) -> Self::Outcome {
        self.gateway.send(Message { id: row.id, to: &row.phone, text: &row.body, sensitive: row.sensitive }).await
    }

    fn id(row: &Claimed) -> Uuid {
        row.id
    }

    async fn record(&self, row: &Claimed, token: Uuid, started: DateTime<Utc>, now: DateTime<Utc>, outcome: Self::Outcome) -> Result<Option<Recorded>> {
        let finished = Utc::now();
        let provider = self.gateway.name();
        let max = self.state.config.sms_max_attempts;
        let (recorded, http_status, error, provider_message_id) = match &outcome {
            Ok(delivery) => (Recorded::Sent, delivery.http_status, None, delivery.provider_message_id.clone()),
            Err(failure) => {
                let last = failure.permanent || u32::try_from(row.attempts).unwrap_or(u32::MAX) >= max;
                (if last { Recorded::Failed } else { Recorded::Retry }, failure.http_status, Some(failure.message.clone()), None)
            }
        };
        let mut tx = self.state.db.begin().await?;
        const ATTEMPT: &str = "INSERT INTO sms_attempts (id, outbox_id, attempt, provider, started_at, finished_at, ok, http_status, error, provider_message_id) \
                               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";
        with_tx!(&mut tx, conn => sqlx::query(ATTEMPT)
            .bind(Uuid::now_v7()).bind(row.id).bind(row.attempts).bind(provider).bind(started).bind(finished)
            .bind(outcome.is_ok()).bind(http_status.map(i32::from)).bind(&error).bind(&provider_message_id)
            .execute(&mut *conn).await?.rows_affected());
        let updated = match (&outcome, recorded) {
            (Ok(_), _) => {
                const SQL: &str = "UPDATE sms_outbox SET state = 'sent', sent_at = $1, provider = $2, provider_message_id = $3, \
                       last_error = NULL, claimed_until = NULL, claim_token = NULL, body = CASE WHEN sensitive THEN $4 ELSE body END \
                     WHERE id = $5 AND claim_token = $6";
                with_tx!(&mut tx, conn => sqlx::query(SQL).bind(finished).bind(provider).bind(&provider_message_id)
                    .bind(REDACTED).bind(row.id).bind(token).execute(&mut *conn).await?.rows_affected())
            }
            (Err(_), Recorded::Failed) => {
                const SQL: &str = "UPDATE sms_outbox SET state = 'failed', failed_at = $1, provider = $2, last_error = $3, \
                       claimed_until = NULL, claim_token = NULL, body = CASE WHEN sensitive THEN $4 ELSE body END \
                     WHERE id = $5 AND claim_token = $6";
                with_tx!(&mut tx, conn => sqlx::query(SQL).bind(finished).bind(provider).bind(&error)
                    .bind(REDACTED).bind(row.id).bind(token).execute(&mut *conn).await?.rows_affected())
            }
            (Err(failure), _) => {
                let mut delay = backoff(self.state.config.sms_retry_base(), row.attempts);
                if let Some(asked) = failure.retry_after {
                    delay = delay.max(asked.min(MAX_BACKOFF * 24));
                }
                let retry_at = outbox::after(now, delay);
                const SQL: &str = "UPDATE sms_outbox SET state = 'pending', next_attempt_at = $1, provider = $2, last_error = $3, \
                       claimed_until = NULL, claim_token = NULL WHERE id = $4 AND claim_token = $5";
                with_tx!(&mut tx, conn => sqlx::query(SQL).bind(retry_at).bind(provider).bind(&error)
                    .bind(row.id).bind(token).execute(&mut *conn).await?.rows_affected())
            }
        };
        // The attempt stays on record even when the lease was lost.
        tx.commit().await?;
        if updated == 0 {
            return Ok(None);
        }
        match (&outcome, recorded) {
            (Ok(delivery), _) => tracing::info!(sms_id = %row.id, attempt = row.attempts, provider,
                provider_message_id = delivery.provider_message_id.as_deref().unwrap_or("-"), "SMS delivered to the gateway"),
            (Err(failure), Recorded::Failed) => tracing::warn!(sms_id = %row.id, attempt = row.attempts, provider,
                error = failure.message, permanent = failure.permanent, "SMS failed; giving up"),
            (Err(failure), _) => tracing::warn!(sms_id = %row.id, attempt = row.attempts, provider,
                error = failure.message, "SMS attempt failed; will retry"),
        }
        Ok(Some(recorded))
    }
}

/// How long a claim holds a message: well beyond one request to the gateway.
fn lease(state: &AppState) -> chrono::Duration {
    let lease = state.config.sms_http_timeout().saturating_mul(2) + Duration::from_secs(60);
    chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::MAX)
}

/// Starts the worker (see [`outbox::spawn`]).
pub fn spawn(state: AppState) -> anyhow::Result<Background> {
    let poll = state.config.sms_poll();
    Ok(outbox::spawn(Worker::new(state)?, poll))
}
