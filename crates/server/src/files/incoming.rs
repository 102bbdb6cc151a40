//! Where uploads and incoming mail are received before they are checked and stored.
//!
//! A process killed while it receives (SIGKILL, power loss) leaves its half-written temporary
//! files behind; nothing in that process can remove them. So each process receives into a folder
//! of its own, `incoming/<id>/`, and holds an exclusive lock on `incoming/<id>.lock` for as long
//! as it runs. The kernel drops the lock when the process dies however it dies, so any process
//! sharing the data directory can tell a live folder from an abandoned one by trying the lock,
//! and remove the abandoned ones ([`sweep_abandoned`]) without ever touching a file that is still
//! being written.

use std::fs::{File, OpenOptions, TryLockError};
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use uuid::Uuid;

/// Files left directly in `incoming/` by versions before per-process folders are removed once
/// they are this old: no upload trickles for a day.
const LOOSE_FILE_MAX_AGE: Duration = Duration::from_secs(24 * 3600);
const LOCK_SUFFIX: &str = ".lock";

/// This process's receiving folder, locked for the life of the value.
#[derive(Debug)]
pub struct Incoming {
    dir: PathBuf,
    /// Held, never read: the lock lives as long as this open file.
    _lock: File,
}

impl Incoming {
    /// Makes and locks a new folder under `root`. The lock file comes first, so a folder without
    /// one is always abandoned; it is locked under a temporary name and renamed into place, so
    /// no sweeper ever sees it unlocked.
    pub fn claim(root: &Path) -> io::Result<Incoming> {
        std::fs::create_dir_all(root)?;
        let id = Uuid::now_v7().simple().to_string();
        let unlocked = root.join(format!("{id}{LOCK_SUFFIX}.new"));
        let lock = OpenOptions::new().create_new(true).write(true).open(&unlocked)?;
        lock.try_lock().map_err(io::Error::from)?;
        std::fs::rename(&unlocked, root.join(format!("{id}{LOCK_SUFFIX}")))?;
        let dir = root.join(&id);
        std::fs::create_dir(&dir)?;
        Ok(Incoming { dir, _lock: lock })
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }
}

/// What a sweep removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Swept {
    pub folders: usize,
    pub files: usize,
}

/// Removes the folders of processes that are gone (their lock is free) with everything in them,
/// and loose files older than a day. Safe while other processes receive into their folders.
pub fn sweep_abandoned(root: &Path) -> io::Result<Swept> {
    let mut swept = Swept::default();
    let entries = match std::fs::read_dir(root) {
        Ok(entries) => entries,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(swept),
        Err(err) => return Err(err),
    };
    for entry in entries {
        let entry = entry?;
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        let kind = entry.file_type()?;
        if kind.is_dir() {
            // Live folders have a lock file beside them, created first; a folder without one
            // was left by a process that died right after making it.
            // A folder whose lock file this same sweep removed a moment ago may still be listed:
            // only what is actually removed counts.
            if !root.join(format!("{name}{LOCK_SUFFIX}")).exists()
                && let Some(files) = remove_folder(&path)?
            {
                swept.files += files;
                swept.folders += 1;
            }
        } else if let Some(id) = name.strip_suffix(LOCK_SUFFIX) {
            if let Some(files) = remove_if_abandoned(&path, &root.join(id))? {
                swept.files += files;
                swept.folders += 1;
            }
        } else if older_than(&entry.metadata()?, LOOSE_FILE_MAX_AGE) {
            remove_file(&path)?;
            swept.files += 1;
        }
    }
    Ok(swept)
}

/// Removes `folder` and then `lock_path` if no process holds the lock; the files removed.
fn remove_if_abandoned(lock_path: &Path, folder: &Path) -> io::Result<Option<usize>> {
    let lock = match OpenOptions::new().write(true).open(lock_path) {
        Ok(lock) => lock,
        // Another sweeper removed it meanwhile.
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(err) => return Err(err),
    };
    match lock.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => return Ok(None),
        Err(TryLockError::Error(err)) => return Err(err),
    }
    // Held while removing, so two sweepers never work on one folder at once; the folder goes
    // first so that a crash here leaves a lock file that the next sweep finds free again.
    let files = remove_folder(folder)?.unwrap_or(0);
    remove_file(lock_path)?;
    Ok(Some(files))
}

/// How many files the folder held, or `None` when it was already gone.
fn remove_folder(folder: &Path) -> io::Result<Option<usize>> {
    let files = match std::fs::read_dir(folder) {
        Ok(entries) => entries.count(),
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(err) => return Err(err),
    };
    match std::fs::remove_dir_all(folder) {
        Ok(()) => Ok(Some(files)),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(err),
    }
}

fn remove_file(path: &Path) -> io::Result<()> {
    match std::fs::remove_file(path) {
        Err(err) if err.kind() != io::ErrorKind::NotFound => Err(err),
        _ => Ok(()),
    }
}

fn older_than(metadata: &std::fs::Metadata, age: Duration) -> bool {
    metadata
        .modified()
        .ok()
        .and_then(|modified| SystemTime::now().duration_since(modified).ok())
        .is_some_and(|elapsed| elapsed > age)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(root: &Path) -> Vec<String> {
        let mut names: Vec<String> =
            std::fs::read_dir(root).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        names.sort();
        names
    }

    #[test]
    fn live_folders_stay_and_abandoned_ones_go() {
        let root = tempfile::tempdir().unwrap();
        let live = Incoming::claim(root.path()).unwrap();
        std::fs::write(live.path().join("receiving"), b"half").unwrap();
        let dead = Incoming::claim(root.path()).unwrap();
        let dead_path = dead.path().to_path_buf();
        std::fs::write(dead_path.join("half-written"), b"half").unwrap();
        // Dropping the value closes the lock file as a dying process would.
        drop(dead);

        // A child process forked by another test at that instant holds a copy of the lock's
        // descriptor until it execs; the lock is free once it has.
        let mut swept = sweep_abandoned(root.path()).unwrap();
        for _ in 0..100 {
            if swept != Swept::default() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
            swept = sweep_abandoned(root.path()).unwrap();
        }
        assert_eq!(swept, Swept { folders: 1, files: 1 });
        assert!(!dead_path.exists());
        assert!(live.path().join("receiving").exists(), "a live folder is never touched");
        assert_eq!(names(root.path()).len(), 2, "the live folder and its lock file");
        assert_eq!(sweep_abandoned(root.path()).unwrap(), Swept::default());
    }

    #[test]
    fn folders_without_lock_files_and_old_loose_files_go() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("orphan")).unwrap();
        std::fs::write(root.path().join("orphan/x"), b"x").unwrap();
        let old = root.path().join(".tmpOLD");
        std::fs::write(&old, b"old").unwrap();
        let two_days_ago = SystemTime::now() - Duration::from_secs(48 * 3600);
        File::options().write(true).open(&old).unwrap().set_modified(two_days_ago).unwrap();
        let recent = root.path().join(".tmpNEW");
        std::fs::write(&recent, b"new").unwrap();

        let swept = sweep_abandoned(root.path()).unwrap();
        assert_eq!(swept, Swept { folders: 1, files: 2 });
        assert_eq!(names(root.path()), vec![".tmpNEW".to_owned()], "a recent loose file may still be written");
    }

    #[test]
    fn a_missing_root_is_nothing_to_sweep() {
        let root = tempfile::tempdir().unwrap();
        assert_eq!(sweep_abandoned(&root.path().join("absent")).unwrap(), Swept::default());
    }
}
