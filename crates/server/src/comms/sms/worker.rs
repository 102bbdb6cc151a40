//! The SMS delivery worker: drains `sms_outbox`.
//!
//! Every instance runs one. It claims due rows with a conditional UPDATE that takes a lease
//! (`claimed_until`, `claim_token`), re-checked by PostgreSQL on each locked row, so with several
//! instances on one database each message is handed to the gateway by one of them. Each
//! attempt is recorded in `sms_attempts`; a failed attempt puts the row back with
//! `next_attempt_at` after a doubling delay, until `sms_max_attempts` is reached and the row is
//! marked `failed` with the reason. A worker that dies mid-send leaves its lease to run out;
//! the message is then tried again (delivery is at least once: gateways can drop duplicates by
//! the `{id}` placeholder, which is the same on every attempt).

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::background::Background;
use crate::comms::sms::gateway::{self, Delivery, Gateway, Message, SendError};
use crate::error::Result;
use crate::state::AppState;
use crate::{with_db, with_tx};

/// Messages claimed (and sent concurrently) at a time.
const BATCH: i64 = 16;
/// Longest wait between two attempts at one message, unless the gateway asks for more.
const MAX_BACKOFF: Duration = Duration::from_secs(3600);
/// What a sensitive message's body (a one-time code) becomes once it is no longer needed.
pub const REDACTED: &str = "(one-time code: removed after delivery)";

/// What one pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Round {
    /// Messages the gateway accepted.
    pub sent: usize,
    /// Failed attempts that will be retried.
    pub retried: usize,
    /// Messages given up on.
    pub failed: usize,
}

#[derive(Debug, sqlx::FromRow)]
struct Claimed {
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
        self.pass(now, None).await
    }

    async fn pass(&self, now: DateTime<Utc>, cancel: Option<&CancellationToken>) -> Result<Round> {
        let mut round = Round::default();
        round.failed += self.expire_abandoned(now).await?;
        loop {
            if cancel.is_some_and(CancellationToken::is_cancelled) {
                break;
            }
            let token = Uuid::now_v7();
            let claimed = self.claim(token, now).await?;
            if claimed.is_empty() {
                break;
            }
            let outcomes = futures::future::join_all(claimed.iter().map(|row| async move {
                let started = Utc::now();
                let message = Message { id: row.id, to: &row.phone, text: &row.body, sensitive: row.sensitive };
                let outcome = self.gateway.send(message).await;
                (row, started, outcome)
            }))
            .await;
            for (row, started, outcome) in outcomes {
                match self.record(row, token, started, now, outcome).await {
                    Ok(Recorded::Sent) => round.sent += 1,
                    Ok(Recorded::Retry) => round.retried += 1,
                    Ok(Recorded::Failed) => round.failed += 1,
                    Ok(Recorded::LostClaim) => {}
                    Err(err) => tracing::error!(error = %err, sms_id = %row.id, "cannot record an SMS attempt; its lease will run out and it is tried again"),
                }
            }
        }
        Ok(round)
    }

    /// Rows whose last allowed attempt never reported back (its worker stopped mid-send).
    async fn expire_abandoned(&self, now: DateTime<Utc>) -> Result<usize> {
        const SQL: &str = "UPDATE sms_outbox SET state = 'failed', failed_at = $1, claimed_until = NULL, claim_token = NULL, \
               last_error = COALESCE(last_error, 'the last attempt did not report back'), \
               body = CASE WHEN sensitive THEN $3 ELSE body END \
             WHERE state = 'sending' AND claimed_until < $1 AND attempts >= $2";
        let max = i32::try_from(self.state.config.sms_max_attempts).unwrap_or(i32::MAX);
        let expired = with_db!(&self.state.db, pool => sqlx::query(SQL).bind(now).bind(max).bind(REDACTED).execute(pool).await?.rows_affected());
        Ok(usize::try_from(expired).unwrap_or(0))
    }

    async fn claim(&self, token: Uuid, now: DateTime<Utc>) -> Result<Vec<Claimed>> {
        // The outer WHERE repeats the subquery's conditions: PostgreSQL re-checks them on each
        // row once it holds its lock, so of two instances racing for a row only one gets it.
        const SQL: &str = "UPDATE sms_outbox SET state = 'sending', attempts = attempts + 1, claimed_until = $1, claim_token = $2 \
            WHERE id IN ( \
                SELECT id FROM sms_outbox \
                WHERE state IN ('pending', 'sending') AND next_attempt_at <= $3 \
                  AND (claimed_until IS NULL OR claimed_until < $3) AND attempts < $4 \
                ORDER BY next_attempt_at, id LIMIT $5) \
              AND state IN ('pending', 'sending') AND (claimed_until IS NULL OR claimed_until < $3) AND attempts < $4 \
            RETURNING id, phone, body, attempts, sensitive";
        let max = i32::try_from(self.state.config.sms_max_attempts).unwrap_or(i32::MAX);
        let mut rows: Vec<Claimed> = with_db!(&self.state.db, pool => sqlx::query_as(SQL)
            .bind(now + lease(&self.state))
            .bind(token)
            .bind(now)
            .bind(max)
            .bind(BATCH)
            .fetch_all(pool)
            .await?);
        rows.sort_by_key(|row| row.id);
        Ok(rows)
    }

    async fn record(
        &self,
        row: &Claimed,
        token: Uuid,
        started: DateTime<Utc>,
        now: DateTime<Utc>,
        outcome: std::result::Result<Delivery, SendError>,
    ) -> Result<Recorded> {
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
                let retry_at = now + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::MAX);
                const SQL: &str = "UPDATE sms_outbox SET state = 'pending', next_attempt_at = $1, provider = $2, last_error = $3, \
                       claimed_until = NULL, claim_token = NULL WHERE id = $4 AND claim_token = $5";
                with_tx!(&mut tx, conn => sqlx::query(SQL).bind(retry_at).bind(provider).bind(&error)
                    .bind(row.id).bind(token).execute(&mut *conn).await?.rows_affected())
            }
        };
        if updated == 0 {
            // The lease ran out during the attempt and another worker took the message: keep
            // the attempt on record, leave the row to its new holder.
            tx.commit().await?;
            tracing::warn!(sms_id = %row.id, "an SMS attempt outlived its lease; the message was taken over");
            return Ok(Recorded::LostClaim);
        }
        tx.commit().await?;
        match (&outcome, recorded) {
            (Ok(delivery), _) => tracing::info!(sms_id = %row.id, attempt = row.attempts, provider,
                provider_message_id = delivery.provider_message_id.as_deref().unwrap_or("-"), "SMS delivered to the gateway"),
            (Err(failure), Recorded::Failed) => tracing::warn!(sms_id = %row.id, attempt = row.attempts, provider,
                error = failure.message, permanent = failure.permanent, "SMS failed; giving up"),
            (Err(failure), _) => tracing::warn!(sms_id = %row.id, attempt = row.attempts, provider,
                error = failure.message, "SMS attempt failed; will retry"),
        }
        Ok(recorded)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Recorded {
    Sent,
    Retry,
    Failed,
    LostClaim,
}

/// How long a claim holds a message: well beyond one request to the gateway.
fn lease(state: &AppState) -> chrono::Duration {
    let lease = state.config.sms_http_timeout().saturating_mul(2) + Duration::from_secs(60);
    chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::MAX)
}

/// The wait after `attempts` failed attempts: base, 2 x base, 4 x base… up to an hour.
pub fn backoff(base: Duration, attempts: i32) -> Duration {
    let doublings = u32::try_from(attempts.saturating_sub(1)).unwrap_or(0).min(24);
    base.saturating_mul(1u32 << doublings).min(MAX_BACKOFF)
}

/// Starts the worker. Stopping it stops claiming messages, lets the attempts in flight finish and
/// record their outcome (bounded by the gateway timeout), and waits for the worker to end.
pub fn spawn(state: AppState) -> anyhow::Result<Background> {
    let worker = Worker::new(state)?;
    Ok(Background::spawn(|stopped| async move {
        let poll = worker.state.config.sms_poll().max(Duration::from_millis(10));
        loop {
            tokio::select! {
                () = stopped.cancelled() => break,
                () = tokio::time::sleep(poll) => {}
            }
            match worker.pass(Utc::now(), Some(&stopped)).await {
                Ok(round) if round != Round::default() => tracing::debug!(?round, "SMS worker round"),
                Ok(_) => {}
                Err(err) => tracing::warn!(error = %err, "SMS worker round failed; retrying next round"),
            }
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_an_hour() {
        let base = Duration::from_secs(5);
        assert_eq!(backoff(base, 1), Duration::from_secs(5));
        assert_eq!(backoff(base, 2), Duration::from_secs(10));
        assert_eq!(backoff(base, 4), Duration::from_secs(40));
        assert_eq!(backoff(base, 40), MAX_BACKOFF);
    }
}
