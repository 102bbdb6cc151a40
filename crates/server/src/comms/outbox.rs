//! The outbox that SMS, mail and webhooks share. Each channel queues rows in a table of its own
//! (`sms_outbox`, `mail_outbox`, `webhook_deliveries`) in the transaction of the change that
//! caused them, so a row exists exactly when the change committed; a worker on every instance
//! drains the table with the loop here.
//!
//! A pass claims due rows a batch at a time with a conditional UPDATE that takes a lease
//! (`claimed_until`, `claim_token`) and whose outer WHERE repeats the subquery's conditions,
//! which PostgreSQL re-checks on each row once it holds its lock: of instances racing for a row
//! only one gets it ([`claim_sql!`]). The batch is sent concurrently, and each outcome recorded
//! only while the lease is still the pass's (`WHERE claim_token = $token`). A worker that dies
//! mid-send leaves its lease to run out and the row is tried again: delivery is at least once.
//!
//! What differs per channel (its table and columns, how it sends, what it records, its retry
//! schedule) is its [`Outbox`] implementation; [`pass`] and [`spawn`] are the one loop.

use std::future::Future;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::background::Background;
use crate::error::Result;

/// What one pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Round {
    /// Rows delivered (handed to the gateway, the SMTP server, the receiver).
    pub sent: usize,
    /// Failed attempts that will be retried.
    pub retried: usize,
    /// Rows given up on.
    pub failed: usize,
}

/// What became of one attempt, as recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    Sent,
    Retry,
    Failed,
}

/// One channel's outbox.
pub trait Outbox: Send + Sync {
    /// What every send of a pass needs (mail: the SMTP transport).
    type Pass: Send + Sync;
    /// A claimed row.
    type Row: Send + Sync;
    /// What one attempt came to, for [`Outbox::record`].
    type Outcome: Send;
    /// The channel, in logs: `SMS`, `mail`, `webhook`.
    const WHAT: &'static str;

    /// Readies a pass, and does what comes before claiming (e.g. giving up rows whose last
    /// attempt never reported back, counted in `round`). `None`: nothing can be sent now (no
    /// SMTP account yet), so nothing is claimed.
    fn begin(&self, now: DateTime<Utc>, round: &mut Round) -> impl Future<Output = Result<Option<Self::Pass>>> + Send;
    /// Takes the lease of the next due rows, oldest first, under `token`.
    fn claim(&self, token: Uuid, now: DateTime<Utc>) -> impl Future<Output = Result<Vec<Self::Row>>> + Send;
    /// One attempt.
    fn send(&self, pass: &Self::Pass, row: &Self::Row) -> impl Future<Output = Self::Outcome> + Send;
    /// Records the attempt, and the row's new state if the lease is still `token`'s (else
    /// `None`: the lease ran out during the attempt and another worker took the row over; the
    /// attempt stays on record). A retry is scheduled after `now`, so a pass ends.
    fn record(&self, row: &Self::Row, token: Uuid, started: DateTime<Utc>, now: DateTime<Utc>, outcome: Self::Outcome) -> impl Future<Output = Result<Option<Recorded>>> + Send;
    /// The row's id, in logs.
    fn id(row: &Self::Row) -> Uuid;
}

/// Sends everything due by `now`, a batch at a time, until nothing is due or `cancel` fires.
pub async fn pass<O: Outbox>(outbox: &O, now: DateTime<Utc>, cancel: Option<&CancellationToken>) -> Result<Round> {
    let mut round = Round::default();
    let Some(pass) = outbox.begin(now, &mut round).await? else { return Ok(round) };
    loop {
        if cancel.is_some_and(CancellationToken::is_cancelled) {
            break;
        }
        let token = Uuid::now_v7();
        let mut claimed = outbox.claim(token, now).await?;
        if claimed.is_empty() {
            break;
        }
        // Sent together, recorded in the order they were queued (ids are time-ordered).
        claimed.sort_by_key(|row| O::id(row));
        let pass = &pass;
        let outcomes = futures::future::join_all(claimed.iter().map(|row| async move {
            let started = Utc::now();
            let outcome = outbox.send(pass, row).await;
            (row, started, outcome)
        }))
        .await;
        for (row, started, outcome) in outcomes {
            match outbox.record(row, token, started, now, outcome).await {
                Ok(Some(Recorded::Sent)) => round.sent += 1,
                Ok(Some(Recorded::Retry)) => round.retried += 1,
                Ok(Some(Recorded::Failed)) => round.failed += 1,
                Ok(None) => tracing::warn!(id = %O::id(row), "a {} attempt outlived its lease; another worker took it over", O::WHAT),
                Err(err) => tracing::error!(error = %err, id = %O::id(row), "cannot record a {} attempt; its lease will run out and it is tried again", O::WHAT),
            }
        }
    }
    Ok(round)
}

/// Runs passes every `poll` until stopped. Stopping it stops claiming, lets the attempts in
/// flight finish and record their outcome, and waits for the worker to end.
pub fn spawn<O: Outbox + 'static>(outbox: O, poll: Duration) -> Background {
    Background::spawn(|stopped| async move {
        let poll = poll.max(Duration::from_millis(10));
        loop {
            tokio::select! {
                () = stopped.cancelled() => break,
                () = tokio::time::sleep(poll) => {}
            }
            match pass(&outbox, Utc::now(), Some(&stopped)).await {
                Ok(round) if round != Round::default() => tracing::debug!(?round, "{} worker round", O::WHAT),
                Ok(_) => {}
                Err(err) => tracing::warn!(error = %err, "{} worker round failed; retrying next round", O::WHAT),
            }
        }
    })
}

/// Longest wait between two attempts at one row, unless the receiving side asks for more.
pub const MAX_BACKOFF: Duration = Duration::from_secs(3600);

/// The wait after `attempts` failed attempts: base, 2 x base, 4 x base… up to an hour.
pub fn backoff(base: Duration, attempts: i32) -> Duration {
    let doublings = u32::try_from(attempts.saturating_sub(1)).unwrap_or(0).min(24);
    base.saturating_mul(1u32 << doublings).min(MAX_BACKOFF)
}

/// `now` plus `wait`, or the far future when that overflows.
pub fn after(now: DateTime<Utc>, wait: Duration) -> DateTime<Utc> {
    now + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::MAX)
}

/// The claim of an outbox table whose rows count their attempts against one maximum: binds
/// `$1` lease end, `$2` token, `$3` now, `$4` max attempts, `$5` batch; returns `$returning`.
#[macro_export]
macro_rules! claim_sql {
    ($table:literal, $returning:literal) => {
        concat!(
            "UPDATE ", $table, " SET state = 'sending', attempts = attempts + 1, claimed_until = $1, claim_token = $2 \
             WHERE id IN ( \
                 SELECT id FROM ", $table, " \
                 WHERE state IN ('pending', 'sending') AND next_attempt_at <= $3 \
                   AND (claimed_until IS NULL OR claimed_until < $3) AND attempts < $4 \
                 ORDER BY next_attempt_at, id LIMIT $5) \
               AND state IN ('pending', 'sending') AND (claimed_until IS NULL OR claimed_until < $3) AND attempts < $4 \
             RETURNING ", $returning
        )
    };
}

/// Runs a [`claim_sql!`] statement and returns the rows it claimed.
pub async fn claim_rows<R>(db: &crate::db::Db, sql: &'static str, lease_until: DateTime<Utc>, token: Uuid, now: DateTime<Utc>, max_attempts: u32, batch: i64) -> Result<Vec<R>>
where
    R: for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow> + for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> + Send + Unpin,
{
    let max = i32::try_from(max_attempts).unwrap_or(i32::MAX);
    let rows: Vec<R> = crate::with_db_writing!(db, pool => sqlx::query_as(sql)
        .bind(lease_until).bind(token).bind(now).bind(max).bind(batch).fetch_all(pool).await?);
    Ok(rows)
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
