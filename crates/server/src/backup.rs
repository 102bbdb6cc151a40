//! `hdms-server backup FILE` and `hdms-server restore FILE` for SQLite deployments.
//!
//! A backup is a gzipped tar: `manifest.json`, `hdms.sqlite3` (a consistent snapshot taken with
//! `VACUUM INTO` while the server keeps running: WAL mode lets it read beside the writers), the
//! generated signing key when there is one, and, with local storage, the attachment content the
//! snapshot refers to (`files/blobs/…`, `files/thumbnails/…`). Content is addressed by its hash
//! and never rewritten, so copying it after the snapshot is consistent: whatever the snapshot
//! names was stored before its row was committed. Blobs written after the snapshot are left out.
//!
//! With S3 storage the backup holds the database only; the bucket is backed up on its own (see
//! docs/operations.md), after the database, for the same reason. PostgreSQL deployments use
//! `pg_dump` / `pg_restore`.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read};
use std::path::{Component, Path, PathBuf};
use std::str::FromStr;

use anyhow::{Context, bail, ensure};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};

use crate::config::{Config, StorageKind};

const FORMAT: u32 = 1;
const MANIFEST: &str = "manifest.json";
const DATABASE: &str = crate::db::SQLITE_FILE;
/// Files of the data directory that are part of a deployment's state besides the database.
const DATA_FILES: [&str; 1] = [crate::bootstrap::JWT_SECRET_FILE];
const FILES_PREFIX: &str = "files/";

#[derive(Debug, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    pub hdms_version: String,
    /// The newest migration applied to the database in the backup.
    pub schema_version: i64,
    pub created_at: chrono::DateTime<Utc>,
    /// `local` when attachment content is inside, `s3` when it stayed in the bucket.
    pub storage: String,
    pub blobs: usize,
    pub missing_blobs: usize,
}

/// The SQLite database file this configuration uses.
fn database_file(config: &Config) -> anyhow::Result<PathBuf> {
    match config.database_url.as_deref() {
        None => Ok(config.data_dir.join(DATABASE)),
        Some(url) if url.starts_with("sqlite:") => Ok(SqliteConnectOptions::from_str(url)?.get_filename().to_path_buf()),
        Some(_) => bail!(
            "backup and restore are for the embedded SQLite database; back up PostgreSQL with pg_dump \
             and the attachment store on their own (see docs/operations.md)"
        ),
    }
}

fn storage_dir(config: &Config) -> PathBuf {
    config.storage_dir.clone().unwrap_or_else(|| config.data_dir.join("files"))
}

/// Writes a backup of the deployment `config` describes (running or not) to `target`.
pub async fn backup(config: &Config, target: &Path) -> anyhow::Result<Manifest> {
    let database = database_file(config)?;
    ensure!(database.exists(), "no database at {}", database.display());
    let staging = tempfile::tempdir_in(target.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new(".")))
        .context("cannot create a staging directory beside the backup file")?;
    let snapshot = staging.path().join(DATABASE);

    // A connection of our own, beside the server's: VACUUM INTO reads one consistent state of
    // the database while writers go on, and writes it compacted to a new file.
    let source = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(SqliteConnectOptions::new().filename(&database).busy_timeout(std::time::Duration::from_secs(30)))
        .await
        .with_context(|| format!("cannot open {}", database.display()))?;
    sqlx::query("VACUUM INTO $1")
        .bind(snapshot.to_str().context("the staging path is not UTF-8")?)
        .execute(&source)
        .await
        .context("cannot snapshot the database")?;
    source.close().await;
    release_claims(&snapshot).await?;

    let copy = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(SqliteConnectOptions::new().filename(&snapshot).read_only(true))
        .await?;
    let schema_version: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(version), 0) FROM _sqlx_migrations WHERE success")
        .fetch_one(&copy)
        .await?;
    let hashes: Vec<String> = sqlx::query_scalar("SELECT sha256 FROM attachment_blobs ORDER BY sha256").fetch_all(&copy).await?;
    copy.close().await;

    let local = config.storage == StorageKind::Local;
    let files = storage_dir(config);
    let data_dir = config.data_dir.clone();
    let target = target.to_path_buf();
    tokio::task::spawn_blocking(move || -> anyhow::Result<Manifest> {
        let partial = staging.path().join("backup.partial");
        let mut archive = tar::Builder::new(flate2::write::GzEncoder::new(
            BufWriter::new(File::create(&partial)?),
            flate2::Compression::fast(),
        ));
        archive.append_path_with_name(&snapshot, DATABASE)?;
        for name in DATA_FILES {
            let path = data_dir.join(name);
            if path.exists() {
                archive.append_path_with_name(&path, name)?;
            }
        }
        let (mut blobs, mut missing) = (0, 0);
        if local {
            for hash in &hashes {
                let blob = crate::files::storage::blob_key(hash).to_string();
                match File::open(files.join(&blob)) {
                    Ok(mut file) => {
                        archive.append_file(format!("{FILES_PREFIX}{blob}"), &mut file)?;
                        blobs += 1;
                    }
                    // Purged after the snapshot was taken: nothing can refer to it any more.
                    Err(err) if err.kind() == std::io::ErrorKind::NotFound => missing += 1,
                    Err(err) => return Err(err).with_context(|| format!("cannot read {blob}")),
                }
                let thumbnail = crate::files::storage::thumbnail_key(hash).to_string();
                if let Ok(mut file) = File::open(files.join(&thumbnail)) {
                    archive.append_file(format!("{FILES_PREFIX}{thumbnail}"), &mut file)?;
                }
            }
        }
        let manifest = Manifest {
            format: FORMAT,
            hdms_version: env!("CARGO_PKG_VERSION").to_owned(),
            schema_version,
            created_at: Utc::now(),
            storage: if local { "local" } else { "s3" }.to_owned(),
            blobs,
            missing_blobs: missing,
        };
        let json = serde_json::to_vec_pretty(&manifest)?;
        let mut header = tar::Header::new_gnu();
        header.set_size(json.len() as u64);
        header.set_mode(0o600);
        header.set_mtime(manifest.created_at.timestamp().max(0) as u64);
        archive.append_data(&mut header, MANIFEST, json.as_slice())?;
        archive.into_inner()?.finish()?.into_inner().map_err(|err| err.into_error())?.sync_all()?;
        // Renamed into place only when complete: a backup file that exists is a whole one.
        std::fs::rename(&partial, &target)
            .or_else(|_| std::fs::copy(&partial, &target).map(drop))
            .with_context(|| format!("cannot write {}", target.display()))?;
        Ok(manifest)
    })
    .await?
}

/// Restores `source` into the deployment `config` describes, whose data directory (and storage
/// directory) must not hold a database yet.
pub async fn restore(config: &Config, source: &Path) -> anyhow::Result<Manifest> {
    let database = database_file(config)?;
    ensure!(
        !database.exists(),
        "{} already exists: restore into an empty data directory (moving the old one aside first)",
        database.display()
    );
    let data_dir = config.data_dir.clone();
    let files = storage_dir(config);
    let local = config.storage == StorageKind::Local;
    let source = source.to_path_buf();
    tokio::task::spawn_blocking(move || -> anyhow::Result<Manifest> {
        std::fs::create_dir_all(&data_dir).with_context(|| format!("cannot create {}", data_dir.display()))?;
        // Unpacked beside the target first and moved in last, so a failed restore leaves no
        // half database behind that a server would start on.
        let staging = tempfile::tempdir_in(&data_dir)?;
        let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(BufReader::new(
            File::open(&source).with_context(|| format!("cannot open {}", source.display()))?,
        )));
        let mut manifest: Option<Manifest> = None;
        let mut blobs = Vec::new();
        for entry in archive.entries()? {
            let mut entry = entry?;
            let name = entry.path()?.to_string_lossy().into_owned();
            ensure!(is_plain_relative(Path::new(&name)), "the backup holds a path outside the data directory: {name:?}");
            if name == MANIFEST {
                let mut json = Vec::new();
                entry.read_to_end(&mut json)?;
                manifest = Some(serde_json::from_slice(&json).context("the backup's manifest is not readable")?);
            } else if name == DATABASE || DATA_FILES.contains(&name.as_str()) {
                entry.unpack(staging.path().join(&name))?;
            } else if let Some(key) = name.strip_prefix(FILES_PREFIX) {
                ensure!(local, "the backup holds attachment files but this server stores them in S3");
                let path = staging.path().join("files").join(key);
                std::fs::create_dir_all(path.parent().expect("a key has a directory"))?;
                entry.unpack(&path)?;
                blobs.push(key.to_owned());
            } else {
                bail!("the backup holds an unexpected file {name:?}");
            }
        }
        let manifest = manifest.context("the file is not an hdms backup (no manifest)")?;
        ensure!(manifest.format == FORMAT, "backup format {} is not known to this version", manifest.format);
        ensure!(staging.path().join(DATABASE).exists(), "the backup holds no database");
        for key in &blobs {
            let to = files.join(key);
            std::fs::create_dir_all(to.parent().expect("a key has a directory"))?;
            move_file(&staging.path().join("files").join(key), &to)?;
        }
        for name in DATA_FILES {
            let from = staging.path().join(name);
            if from.exists() {
                move_file(&from, &data_dir.join(name))?;
            }
        }
        if let Some(dir) = database.parent() {
            std::fs::create_dir_all(dir)?;
        }
        move_file(&staging.path().join(DATABASE), &database)?;
        Ok(manifest)
    })
    .await?
}

/// The claims and leases the running server held when the snapshot was taken. They belong to
/// its workers, which a restored deployment does not have: kept, they would hold that work
/// (an attachment's scan, a message to send, a mailbox to poll) until they lapsed, minutes
/// later. Released, the restored server's workers take the work up at once (a message the old
/// server was sending in that instant may then go out twice: sent at least once).
const RELEASE_CLAIMS: [&str; 5] = [
    "UPDATE attachment_blobs SET claim_token = NULL, claimed_until = NULL WHERE claim_token IS NOT NULL",
    "UPDATE sms_outbox SET claim_token = NULL, claimed_until = NULL WHERE claim_token IS NOT NULL",
    "UPDATE mail_outbox SET claim_token = NULL, claimed_until = NULL WHERE claim_token IS NOT NULL",
    "UPDATE webhook_deliveries SET claim_token = NULL, claimed_until = NULL WHERE claim_token IS NOT NULL",
    "UPDATE mail_mailboxes SET lease_token = NULL, lease_until = NULL WHERE lease_token IS NOT NULL",
];

async fn release_claims(snapshot: &Path) -> anyhow::Result<()> {
    let copy = SqlitePoolOptions::new().max_connections(1).connect_with(SqliteConnectOptions::new().filename(snapshot)).await?;
    for sql in RELEASE_CLAIMS {
        sqlx::query(sql).execute(&copy).await.with_context(|| format!("cannot release the snapshot's claims ({sql})"))?;
    }
    copy.close().await;
    Ok(())
}

/// Renames, or copies where the two are on different file systems (a storage directory or
/// database file configured elsewhere).
fn move_file(from: &Path, to: &Path) -> anyhow::Result<()> {
    if std::fs::rename(from, to).is_err() {
        std::fs::copy(from, to).with_context(|| format!("cannot write {}", to.display()))?;
        std::fs::remove_file(from)?;
    }
    Ok(())
}

fn is_plain_relative(path: &Path) -> bool {
    path.components().all(|c| matches!(c, Component::Normal(_)))
}
