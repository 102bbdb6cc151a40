//! Drafts kept per ticket on disk, so that a reply being written survives switching tickets, a
//! crash and a restart.
//!
//! [`DraftStore`] reads and writes one JSON file per ticket, atomically (a temporary file in the
//! same directory renamed over the old one, so a crash leaves the old draft or the new one,
//! never half of one). [`DraftWriter`] sits in front of it: the composer hands it every change,
//! and a background thread writes each ticket's latest draft once typing pauses, off the UI
//! thread.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// How long typing must pause before a draft is written.
pub const DEFAULT_DEBOUNCE: Duration = Duration::from_millis(400);

/// A reply or note being written on one ticket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Draft {
    pub ticket_id: Uuid,
    pub body: String,
    /// An internal note rather than a public reply.
    pub internal: bool,
    /// The conversation's last message `seq` when the draft was begun: sending asks first when
    /// newer messages exist (the agent may be answering something already answered).
    pub baseline_seq: i64,
    pub updated_at: DateTime<Utc>,
}

/// The drafts directory.
#[derive(Debug, Clone)]
pub struct DraftStore {
    dir: PathBuf,
}

impl DraftStore {
    /// Drafts in this directory (created on first write).
    pub fn new(dir: impl Into<PathBuf>) -> DraftStore {
        DraftStore { dir: dir.into() }
    }

    /// `hdms/drafts` in the user's state directory (`$XDG_STATE_HOME`, `~/.local/state`), or
    /// in the local data directory where there is no state directory (macOS, Windows).
    pub fn default_dir() -> Option<PathBuf> {
        dirs::state_dir().or_else(dirs::data_local_dir).map(|dir| dir.join("hdms").join("drafts"))
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, ticket_id: Uuid) -> PathBuf {
        self.dir.join(format!("{ticket_id}.json"))
    }

    /// The ticket's saved draft. A missing file is no draft; an unreadable one (written by
    /// something else) is reported rather than silently replaced.
    pub fn load(&self, ticket_id: Uuid) -> std::io::Result<Option<Draft>> {
        match std::fs::read(self.path(ticket_id)) {
            Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(std::io::Error::other),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(err) => Err(err),
        }
    }

    /// Writes a draft atomically; an empty body removes the file instead.
    pub fn save(&self, draft: &Draft) -> std::io::Result<()> {
        if draft.body.trim().is_empty() {
            return self.remove(draft.ticket_id);
        }
        std::fs::create_dir_all(&self.dir)?;
        let mut file = tempfile::NamedTempFile::new_in(&self.dir)?;
        serde_json::to_writer(&mut file, draft).map_err(std::io::Error::other)?;
        file.flush()?;
        // Durable before the rename, or a power cut could leave an empty file in its place.
        file.as_file().sync_data()?;
        file.persist(self.path(draft.ticket_id)).map_err(|err| err.error)?;
        Ok(())
    }

    pub fn remove(&self, ticket_id: Uuid) -> std::io::Result<()> {
        match std::fs::remove_file(self.path(ticket_id)) {
            Err(err) if err.kind() != std::io::ErrorKind::NotFound => Err(err),
            _ => Ok(()),
        }
    }
}

/// A change waiting for its write: the draft, or `None` for "delete it".
struct Pending {
    draft: Option<Draft>,
    due: Instant,
}

#[derive(Default)]
struct Queue {
    pending: HashMap<Uuid, Pending>,
    stopping: bool,
    /// The last write error, for the composer to show.
    last_error: Option<String>,
}

struct Shared {
    store: DraftStore,
    debounce: Duration,
    queue: Mutex<Queue>,
    wake: Condvar,
    /// Held while changes are taken from the queue and written, so that a flush and the
    /// background thread never write the same ticket out of order.
    writing: Mutex<()>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        // A panic while holding the lock leaves plain data behind; keep going with it.
        self.queue.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Takes the changes `pick` selects and writes them, in order with any other writer.
    fn write_taken(&self, pick: impl Fn(&Queue, &Pending) -> bool) {
        let _writing = self.writing.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let changes: Vec<(Uuid, Pending)> = {
            let mut queue = self.lock();
            let due: Vec<Uuid> = queue.pending.iter().filter(|(_, change)| pick(&queue, change)).map(|(id, _)| *id).collect();
            due.into_iter().filter_map(|id| queue.pending.remove(&id).map(|change| (id, change))).collect()
        };
        for (ticket_id, change) in changes {
            self.write(ticket_id, change.draft.as_ref());
        }
    }

    fn write(&self, ticket_id: Uuid, draft: Option<&Draft>) {
        let result = match draft {
            Some(draft) => self.store.save(draft),
            None => self.store.remove(ticket_id),
        };
        if let Err(err) = result {
            self.lock().last_error = Some(format!("draft not saved in {}: {err}", self.store.dir().display()));
        }
    }
}

/// Writes drafts in the background, each ticket's once typing pauses for the debounce time.
/// Cheap to clone; the thread stops, after writing everything pending, when the last clone is
/// dropped.
#[derive(Clone)]
pub struct DraftWriter {
    handle: Arc<WriterHandle>,
}

struct WriterHandle {
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for DraftWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DraftWriter").field("dir", &self.store().dir()).finish_non_exhaustive()
    }
}

impl DraftWriter {
    pub fn new(store: DraftStore) -> DraftWriter {
        DraftWriter::with_debounce(store, DEFAULT_DEBOUNCE)
    }

    pub fn with_debounce(store: DraftStore, debounce: Duration) -> DraftWriter {
        let shared = Arc::new(Shared {
            store,
            debounce,
            queue: Mutex::new(Queue::default()),
            wake: Condvar::new(),
            writing: Mutex::new(()),
        });
        let thread = std::thread::Builder::new()
            .name("hdms-drafts".into())
            .spawn({
                let shared = shared.clone();
                move || write_loop(&shared)
            })
            .expect("spawn the draft writer thread");
        DraftWriter { handle: Arc::new(WriterHandle { shared, thread: Mutex::new(Some(thread)) }) }
    }

    pub fn store(&self) -> &DraftStore {
        &self.handle.shared.store
    }

    /// The ticket's draft: the one waiting to be written if any, else the saved one.
    pub fn load(&self, ticket_id: Uuid) -> std::io::Result<Option<Draft>> {
        if let Some(pending) = self.handle.shared.lock().pending.get(&ticket_id) {
            return Ok(pending.draft.clone());
        }
        self.store().load(ticket_id)
    }

    /// Records a change; it is written once no other change comes for the debounce time.
    pub fn update(&self, draft: Draft) {
        self.enqueue(draft.ticket_id, Some(draft));
    }

    /// Forgets the ticket's draft (it was sent).
    pub fn clear(&self, ticket_id: Uuid) {
        self.enqueue(ticket_id, None);
    }

    fn enqueue(&self, ticket_id: Uuid, draft: Option<Draft>) {
        let shared = &self.handle.shared;
        shared.lock().pending.insert(ticket_id, Pending { draft, due: Instant::now() + shared.debounce });
        shared.wake.notify_one();
    }

    /// Writes everything pending now, in this thread (leaving the composer, quitting).
    pub fn flush(&self) {
        self.handle.shared.write_taken(|_, _| true);
    }

    /// Whether changes are waiting to be written.
    pub fn has_pending(&self) -> bool {
        !self.handle.shared.lock().pending.is_empty()
    }

    /// The last write failure, once.
    pub fn take_error(&self) -> Option<String> {
        self.handle.shared.lock().last_error.take()
    }
}

impl Drop for WriterHandle {
    fn drop(&mut self) {
        self.shared.lock().stopping = true;
        self.shared.wake.notify_one();
        if let Some(thread) = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take() {
            let _ = thread.join();
        }
    }
}

fn write_loop(shared: &Shared) {
    let mut queue = shared.lock();
    loop {
        let now = Instant::now();
        let stopping = queue.stopping;
        if queue.pending.values().any(|change| stopping || change.due <= now) {
            drop(queue);
            shared.write_taken(|queue, change| queue.stopping || change.due <= Instant::now());
            queue = shared.lock();
            continue;
        }
        if stopping {
            return;
        }
        queue = match queue.pending.values().map(|change| change.due).min() {
            Some(next) => shared.wake.wait_timeout(queue, next.saturating_duration_since(now)).unwrap_or_else(|p| p.into_inner()).0,
            None => shared.wake.wait(queue).unwrap_or_else(|p| p.into_inner()),
        };
    }
}
