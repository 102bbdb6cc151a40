//! Cleans up after processes that died while receiving or storing files (SIGKILL, power loss):
//! their half-written files in `incoming/` (see [`crate::files::incoming`]), and content stored
//! for an attachment that never committed. Runs at start and then every [`PERIOD`] in every
//! instance; everything it removes is re-checked under a lock (a file lock, a row lock), so
//! instances sharing a data directory or a database never remove each other's work in progress.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::background::Background;
use crate::error::{Error, Result};
use crate::files::incoming::{self, Swept};
use crate::files::storage::{blob_key, thumbnail_key};
use crate::files::store;
use crate::state::AppState;

/// How often each instance sweeps.
const PERIOD: Duration = Duration::from_secs(15 * 60);
/// Content is an orphan once nothing has referred to it for this long after its row was made:
/// far longer than storing one file takes, so an upload in progress is never an orphan.
pub const ORPHAN_AGE: Duration = Duration::from_secs(3600);
/// The worker leaves content alone this long after its row is made unless told its bytes are
/// stored, so it never scans a file that is not there yet.
pub const UNSTORED_GRACE: chrono::Duration = chrono::Duration::hours(1);
/// Orphans removed per round; the rest wait for the next one.
const BATCH: i64 = 500;

/// What one round removed (for logs and tests).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Round {
    pub incoming: Swept,
    pub orphan_blobs: usize,
}

pub fn spawn(state: AppState) -> Background {
    Background::every(PERIOD, move || {
        let state = state.clone();
        async move {
            match run_once(&state, Utc::now()).await {
                Ok(round) if round != Round::default() => tracing::info!(?round, "removed what interrupted uploads left"),
                Ok(_) => {}
                Err(err) => tracing::warn!(error = %err, "cleaning up interrupted uploads failed; retrying next round"),
            }
        }
    })
}

/// One sweep, with orphans judged as of `now`.
pub async fn run_once(state: &AppState, now: DateTime<Utc>) -> Result<Round> {
    let root = state.files.incoming_root.clone();
    let incoming = tokio::task::spawn_blocking(move || incoming::sweep_abandoned(&root))
        .await
        .map_err(|err| anyhow::anyhow!("the incoming sweep panicked: {err}"))?
        .map_err(|err| anyhow::Error::new(err).context("sweeping the incoming folder"))?;
    let orphan_blobs = remove_orphan_blobs(state, now).await?;
    Ok(Round { incoming, orphan_blobs })
}

/// Deletes content no attachment or mail refers to, row and bytes. Each row is deleted in a
/// transaction that removes the bytes before it commits: an upload of the same content at that
/// moment waits on the row and then stores the bytes again (see `intake`), and a failure keeps
/// the row for the next round.
async fn remove_orphan_blobs(state: &AppState, now: DateTime<Utc>) -> Result<usize> {
    let cutoff = now - chrono::Duration::from_std(ORPHAN_AGE).unwrap_or_default();
    let mut removed = 0;
    for sha256 in store::unreferenced_blobs(&state.db, cutoff, BATCH).await? {
        let mut tx = state.db.begin().await?;
        match store::delete_unreferenced_blob(&mut tx, &sha256, cutoff).await {
            Ok(true) => {}
            // Referred to again meanwhile (PostgreSQL refuses the delete by the foreign key).
            Ok(false) | Err(Error::Validation { .. }) => continue,
            Err(err) => return Err(err),
        }
        state.files.storage.delete(&thumbnail_key(&sha256)).await?;
        state.files.storage.delete(&blob_key(&sha256)).await?;
        tx.commit().await?;
        removed += 1;
    }
    Ok(removed)
}
