//! The background worker that scans stored content with clamd, then makes thumbnails.
//!
//! Work lives in `attachment_blobs` rows, so it survives restarts and is shared by every
//! instance on one database: a worker claims one due row at a time with a conditional UPDATE
//! (`claimed_until` past or empty, re-checked by PostgreSQL on the locked row), so each scan runs
//! once even with several instances. A claim is a lease: if its worker dies, another takes the
//! row once it runs out. Failed scans come back after a doubling delay.

use std::time::Duration;

use chrono::{DateTime, Utc};
use hdms_api_types::files::ScanState;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::background::Background;
use crate::db::{Db, Tx};
use crate::files::clamd::Verdict;
use crate::files::storage::{blob_key, thumbnail_key};
use crate::files::{store, thumbnail};
use crate::state::AppState;
use crate::with_tx;

/// How long a claim holds a row; longer than any scan (clamd's own timeout is a minute per read).
const LEASE: Duration = Duration::from_secs(10 * 60);
/// Longest wait between two attempts at a failing scan.
const MAX_BACKOFF: Duration = Duration::from_secs(10 * 60);
/// Wait before retrying processing whose storage read or write failed.
const PROCESSING_RETRY: Duration = Duration::from_secs(60);

/// Starts the worker. Stopping it stops taking work, abandons the job in hand (its claim is
/// released so it is picked up again at once) and waits for the worker to end.
pub fn spawn(state: AppState) -> Background {
    Background::spawn(|cancel| run(state, cancel))
}

async fn run(state: AppState, cancel: CancellationToken) {
    let poll = state.config.scan_poll();
    loop {
        loop {
            let job = match claim(&state.db, state.files.scanner.is_some()).await {
                Ok(Some(job)) => job,
                Ok(None) => break,
                Err(err) => {
                    tracing::warn!(error = %err, "attachment worker cannot claim work");
                    break;
                }
            };
            let sha256 = job.sha256.clone();
            let token = job.token;
            tokio::select! {
                () = cancel.cancelled() => {
                    release(&state.db, &sha256, token).await;
                    return;
                }
                () = perform(&state, job) => {}
            }
        }
        tokio::select! {
            () = cancel.cancelled() => return,
            () = state.files.wake.notified() => {}
            () = tokio::time::sleep(poll) => {}
        }
    }
}

#[derive(Debug, sqlx::FromRow)]
struct Job {
    sha256: String,
    size: i64,
    sniffed_type: Option<String>,
    scan_state: String,
    scan_attempts: i32,
    processed: bool,
    #[sqlx(skip)]
    token: Uuid,
}

/// Takes the row due longest, if any: content to scan (or, with no scanner, to mark
/// unscanned), or clean content not processed yet.
async fn claim(db: &Db, have_scanner: bool) -> Result<Option<Job>, sqlx::Error> {
    const SQL: &str = "UPDATE attachment_blobs SET claim_token = $1, claimed_until = $2 \
        WHERE sha256 = ( \
            SELECT sha256 FROM attachment_blobs \
            WHERE (scan_state IN ('pending', 'scan_failed') OR ($4 AND scan_state = 'unscanned') \
                   OR (scan_state IN ('clean', 'unscanned') AND NOT processed)) \
              AND next_work_at <= $3 AND (claimed_until IS NULL OR claimed_until < $3) \
            ORDER BY next_work_at LIMIT 1) \
        AND (claimed_until IS NULL OR claimed_until < $3) \
        RETURNING sha256, size, sniffed_type, scan_state, scan_attempts, processed";
    let token = Uuid::now_v7();
    let now = Utc::now();
    let until = now + LEASE;
    let job: Option<Job> = crate::with_db_writing!(db, pool => sqlx::query_as(SQL)
        .bind(token)
        .bind(until)
        .bind(now)
        .bind(have_scanner)
        .fetch_optional(pool)
        .await?);
    Ok(job.map(|job| Job { token, ..job }))
}

async fn release(db: &Db, sha256: &str, token: Uuid) {
    const SQL: &str =
        "UPDATE attachment_blobs SET claim_token = NULL, claimed_until = NULL WHERE sha256 = $1 AND claim_token = $2";
    if let Err(err) = crate::with_db_writing!(db, pool => sqlx::query(SQL).bind(sha256).bind(token).execute(pool).await.map(drop)) {
        tracing::warn!(error = %err, sha256, "cannot release an attachment claim; it lapses by itself");
    }
}

async fn perform(state: &AppState, job: Job) {
    let mut scan_state = ScanState::parse(&job.scan_state).unwrap_or(ScanState::Pending);
    let needs_scan = match scan_state {
        ScanState::Pending | ScanState::ScanFailed => true,
        ScanState::Unscanned => state.files.scanner.is_some(),
        ScanState::Clean | ScanState::Infected => false,
    };
    if needs_scan {
        match scan(state, &job).await {
            Ok(state) => scan_state = state,
            Err(err) => {
                tracing::error!(error = %err, sha256 = job.sha256, "cannot record a scan result");
                release(&state.db, &job.sha256, job.token).await;
                return;
            }
        }
    }
    if matches!(scan_state, ScanState::Clean | ScanState::Unscanned) && !job.processed {
        process(state, &job).await;
    }
    release(&state.db, &job.sha256, job.token).await;
}

/// Scans the content and records the outcome; the state it is left in.
async fn scan(state: &AppState, job: &Job) -> Result<ScanState, crate::error::Error> {
    let Some(clamd) = &state.files.scanner else {
        record_alone(&state.db, job, ScanState::Unscanned, None, None, Utc::now()).await?;
        return Ok(ScanState::Unscanned);
    };
    let started = std::time::Instant::now();
    let outcome = match state.files.storage.read(&blob_key(&job.sha256), None).await {
        Ok(content) => clamd.scan(content).await.map_err(|err| err.to_string()),
        Err(err) => Err(format!("{err:#}")),
    };
    metrics::histogram!("hdms_attachment_scan_seconds").record(started.elapsed().as_secs_f64());
    let now = Utc::now();
    match outcome {
        Ok(Verdict::Clean) => {
            tracing::info!(sha256 = job.sha256, size = job.size, "attachment scanned clean");
            record_alone(&state.db, job, ScanState::Clean, None, None, now).await?;
            Ok(ScanState::Clean)
        }
        Ok(Verdict::Infected { signature }) => {
            tracing::warn!(sha256 = job.sha256, signature, "malware found in an attachment; quarantined");
            // The verdict and the notices commit together: people are told exactly once.
            // The content is never served from now on; its file stays in storage as evidence.
            let mut tx = state.db.begin().await?;
            if record(&mut tx, job, ScanState::Infected, Some(&signature), None, now).await? {
                store::notify_infected(&mut tx, &job.sha256, &signature, None).await?;
            }
            tx.commit().await?;
            Ok(ScanState::Infected)
        }
        Err(error) => {
            let delay = backoff(state.config.scan_retry_base(), job.scan_attempts + 1);
            tracing::warn!(sha256 = job.sha256, error, retry_in = ?delay, "attachment scan failed; will retry");
            let retry_at = now + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::MAX);
            record_alone(&state.db, job, ScanState::ScanFailed, None, Some(&error), retry_at).await?;
            Ok(ScanState::ScanFailed)
        }
    }
}

/// The wait before attempt `attempt + 1` after `attempt` failures: base, 2 x base, 4 x base…
pub fn backoff(base: Duration, attempt: i32) -> Duration {
    let doublings = u32::try_from(attempt.saturating_sub(1)).unwrap_or(0).min(20);
    base.saturating_mul(1u32 << doublings).min(MAX_BACKOFF)
}

async fn record_alone(
    db: &Db,
    job: &Job,
    outcome: ScanState,
    signature: Option<&str>,
    error: Option<&str>,
    next_work_at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let mut tx = db.begin().await?;
    record(&mut tx, job, outcome, signature, error, next_work_at).await?;
    tx.commit().await
}

/// Records a scan's outcome if this worker still holds the claim; whether it did.
async fn record(
    tx: &mut Tx,
    job: &Job,
    outcome: ScanState,
    signature: Option<&str>,
    error: Option<&str>,
    next_work_at: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    const SQL: &str = "UPDATE attachment_blobs SET scan_state = $1, scan_signature = $2, scan_error = $3, \
        scan_attempts = scan_attempts + $4, scanned_at = $5, next_work_at = $6 \
        WHERE sha256 = $7 AND claim_token = $8";
    let scanned = outcome != ScanState::Unscanned;
    let now = Utc::now();
    let updated = with_tx!(tx, conn => sqlx::query(SQL)
        .bind(outcome.as_str())
        .bind(signature)
        .bind(error)
        .bind(i32::from(scanned))
        .bind(scanned.then_some(now))
        .bind(next_work_at)
        .bind(&job.sha256)
        .bind(job.token)
        .execute(&mut *conn)
        .await?
        .rows_affected());
    Ok(updated > 0)
}

/// Makes the thumbnail and reads the dimensions of images. Never touches the original.
async fn process(state: &AppState, job: &Job) {
    let is_image = job.sniffed_type.as_deref().is_some_and(thumbnail::is_processable);
    let outcome = if !is_image {
        Ok(None)
    } else if job.size as u64 > thumbnail::MAX_DECODED_FILE {
        Err(format!("larger than {} bytes: no thumbnail", thumbnail::MAX_DECODED_FILE))
    } else {
        match state.files.storage.read_all(&blob_key(&job.sha256)).await {
            Ok(content) => match tokio::task::spawn_blocking(move || thumbnail::process(&content)).await {
                Ok(result) => result.map(Some),
                Err(panic) => Err(format!("image decoder failed: {panic}")),
            },
            Err(err) => {
                tracing::warn!(error = format!("{err:#}"), sha256 = job.sha256, "cannot read an image to process; will retry");
                postpone_processing(&state.db, job).await;
                return;
            }
        }
    };
    let result = match outcome {
        Ok(Some(processed)) => {
            if let Err(err) = state.files.storage.put_bytes(&thumbnail_key(&job.sha256), processed.thumbnail).await {
                tracing::warn!(error = format!("{err:#}"), sha256 = job.sha256, "cannot store a thumbnail; will retry");
                postpone_processing(&state.db, job).await;
                return;
            }
            record_processing(&state.db, job, Some((processed.width, processed.height)), None).await
        }
        Ok(None) => record_processing(&state.db, job, None, None).await,
        Err(error) => {
            tracing::info!(sha256 = job.sha256, error, "attachment kept without a thumbnail");
            record_processing(&state.db, job, None, Some(&error)).await
        }
    };
    if let Err(err) = result {
        tracing::error!(error = %err, sha256 = job.sha256, "cannot record attachment processing");
    }
}

async fn record_processing(db: &Db, job: &Job, dimensions: Option<(u32, u32)>, error: Option<&str>) -> Result<(), sqlx::Error> {
    const SQL: &str = "UPDATE attachment_blobs SET processed = TRUE, image_width = $1, image_height = $2, \
        has_thumbnail = $3, processing_error = $4 WHERE sha256 = $5 AND claim_token = $6";
    crate::with_db_writing!(db, pool => sqlx::query(SQL)
        .bind(dimensions.map(|(w, _)| w as i32))
        .bind(dimensions.map(|(_, h)| h as i32))
        .bind(dimensions.is_some())
        .bind(error)
        .bind(&job.sha256)
        .bind(job.token)
        .execute(pool)
        .await?
        .rows_affected());
    Ok(())
}

async fn postpone_processing(db: &Db, job: &Job) {
    const SQL: &str = "UPDATE attachment_blobs SET next_work_at = $1 WHERE sha256 = $2 AND claim_token = $3";
    let at = Utc::now() + chrono::Duration::from_std(PROCESSING_RETRY).unwrap_or_default();
    if let Err(err) = crate::with_db_writing!(db, pool => sqlx::query(SQL).bind(at).bind(&job.sha256).bind(job.token).execute(pool).await.map(drop)) {
        tracing::warn!(error = %err, "cannot postpone attachment processing");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let base = Duration::from_secs(5);
        assert_eq!(backoff(base, 1), Duration::from_secs(5));
        assert_eq!(backoff(base, 2), Duration::from_secs(10));
        assert_eq!(backoff(base, 4), Duration::from_secs(40));
        assert_eq!(backoff(base, 50), MAX_BACKOFF);
        assert_eq!(backoff(base, 0), base);
    }
}
