//! Where attachment content lives: a local directory by default, or any S3-compatible bucket so
//! several instances share the same files. Both are [`ObjectStore`]s; this wraps the one in use
//! with the few operations attachments need, all streaming so memory stays flat at any size.
//!
//! Content is addressed by its SHA-256 (`blobs/ab/abcdef…`), so the same bytes are stored once.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use bytes::Bytes;
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{GetOptions, GetRange, ObjectStore, ObjectStoreExt, PutPayload, WriteMultipart};
use tokio::io::AsyncReadExt;

use crate::config::{Config, StorageKind};

/// Files up to this size go up in one request; larger ones as a multipart upload.
const SINGLE_PUT_MAX: u64 = 8 * 1024 * 1024;
/// Part size of multipart uploads (S3 needs at least 5 MiB for all parts but the last).
const PART_SIZE: usize = 5 * 1024 * 1024;
/// Parts in flight at once; with one being filled this bounds an upload's memory to
/// `(PARTS_IN_FLIGHT + 1) * PART_SIZE`.
const PARTS_IN_FLIGHT: usize = 2;
/// Read size when copying a local file into the store.
const READ_CHUNK: usize = 256 * 1024;

#[derive(Clone)]
pub struct Storage {
    store: Arc<dyn ObjectStore>,
    description: String,
    /// The directory of a local store, where received files can be moved instead of copied.
    local_root: Option<PathBuf>,
}

impl std::fmt::Debug for Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.description)
    }
}

/// Where a blob of this hash is kept.
pub fn blob_key(sha256: &str) -> ObjectPath {
    ObjectPath::from(format!("blobs/{}/{sha256}", &sha256[..2]))
}

/// Where the thumbnail of a blob of this hash is kept.
pub fn thumbnail_key(sha256: &str) -> ObjectPath {
    ObjectPath::from(format!("thumbnails/{}/{sha256}.png", &sha256[..2]))
}

impl Storage {
    pub fn from_config(config: &Config) -> anyhow::Result<Storage> {
        match config.storage {
            StorageKind::Local => {
                let dir = config.storage_dir.clone().unwrap_or_else(|| config.data_dir.join("files"));
                Storage::local(&dir)
            }
            StorageKind::S3 => {
                let bucket = config.s3_bucket.as_deref().context("HDMS_STORAGE=s3 needs HDMS_S3_BUCKET")?;
                Storage::s3(S3Settings {
                    endpoint: config.s3_endpoint.clone(),
                    bucket: bucket.to_owned(),
                    region: config.s3_region.clone(),
                    access_key_id: config.s3_access_key_id.clone(),
                    secret_access_key: config.s3_secret_access_key.clone(),
                })
            }
        }
    }

    pub fn local(dir: &Path) -> anyhow::Result<Storage> {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create storage directory {}", dir.display()))?;
        let store = LocalFileSystem::new_with_prefix(dir)
            .with_context(|| format!("cannot use storage directory {}", dir.display()))?
            // Removes directories left empty by deletes, so the tree does not only grow.
            .with_automatic_cleanup(true);
        Ok(Storage {
            store: Arc::new(store),
            description: format!("local directory {}", dir.display()),
            local_root: Some(dir.to_path_buf()),
        })
    }

    pub fn s3(settings: S3Settings) -> anyhow::Result<Storage> {
        let mut builder = AmazonS3Builder::new().with_bucket_name(&settings.bucket).with_region(&settings.region);
        if let Some(endpoint) = &settings.endpoint {
            // Self-hosted S3 services are addressed by path (`endpoint/bucket/key`) and often
            // over plain HTTP inside a private network.
            builder = builder.with_endpoint(endpoint).with_allow_http(endpoint.starts_with("http://"));
        }
        if let Some(key) = &settings.access_key_id {
            builder = builder.with_access_key_id(key);
        }
        if let Some(secret) = &settings.secret_access_key {
            builder = builder.with_secret_access_key(secret);
        }
        let store = builder.build().context("invalid S3 storage settings")?;
        let description = match &settings.endpoint {
            Some(endpoint) => format!("S3 bucket {} at {endpoint}", settings.bucket),
            None => format!("S3 bucket {} in {}", settings.bucket, settings.region),
        };
        Ok(Storage { store: Arc::new(store), description, local_root: None })
    }

    pub fn description(&self) -> &str {
        &self.description
    }

    /// Whether an object exists at `key`.
    pub async fn exists(&self, key: &ObjectPath) -> anyhow::Result<bool> {
        match self.store.head(key).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(err) => Err(anyhow::Error::new(err).context(format!("cannot check {key} in {}", self.description))),
        }
    }

    /// Stores a local file of `size` bytes at `key`: moved there when the store is a local
    /// directory on the same file system (so the file at `path` is gone afterwards), else
    /// copied, streaming in bounded parts.
    pub async fn put_file(&self, key: &ObjectPath, path: &Path, size: u64) -> anyhow::Result<()> {
        if let Some(root) = &self.local_root {
            let target = key.parts().fold(root.clone(), |dir, part| dir.join(part.as_ref()));
            if let Some(parent) = target.parent() {
                tokio::fs::create_dir_all(parent).await.with_context(|| format!("cannot create {}", parent.display()))?;
            }
            // A rename is atomic, so readers never see a partial blob; across file systems it
            // fails and the copy below does the work.
            if tokio::fs::rename(path, &target).await.is_ok() {
                return Ok(());
            }
        }
        let mut file = tokio::fs::File::open(path).await.with_context(|| format!("cannot open {}", path.display()))?;
        let context = || format!("cannot store {key} in {}", self.description);
        if size <= SINGLE_PUT_MAX {
            let mut content = Vec::with_capacity(size as usize);
            file.read_to_end(&mut content).await?;
            self.store.put(key, PutPayload::from(content)).await.with_context(context)?;
            return Ok(());
        }
        let upload = self.store.put_multipart(key).await.with_context(context)?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, PART_SIZE);
        let mut buf = vec![0u8; READ_CHUNK];
        loop {
            let n = match file.read(&mut buf).await {
                Ok(0) => break,
                Ok(n) => n,
                Err(err) => {
                    let _ = writer.abort().await;
                    return Err(anyhow::Error::new(err).context(context()));
                }
            };
            if let Err(err) = writer.wait_for_capacity(PARTS_IN_FLIGHT).await {
                let _ = writer.abort().await;
                return Err(anyhow::Error::new(err).context(context()));
            }
            writer.write(&buf[..n]);
        }
        writer.finish().await.with_context(context)?;
        Ok(())
    }

    pub async fn put_bytes(&self, key: &ObjectPath, content: Bytes) -> anyhow::Result<()> {
        self.store
            .put(key, PutPayload::from(content))
            .await
            .with_context(|| format!("cannot store {key} in {}", self.description))?;
        Ok(())
    }

    /// The object's bytes (or those in `range`), as a stream of chunks.
    pub async fn read(&self, key: &ObjectPath, range: Option<Range<u64>>) -> anyhow::Result<BoxStream<'static, std::io::Result<Bytes>>> {
        let options = GetOptions { range: range.map(GetRange::Bounded), ..GetOptions::default() };
        let result = self
            .store
            .get_opts(key, options)
            .await
            .with_context(|| format!("cannot read {key} from {}", self.description))?;
        Ok(result.into_stream().map_err(std::io::Error::other).boxed())
    }

    /// The whole object in memory (for thumbnails of bounded-size images).
    pub async fn read_all(&self, key: &ObjectPath) -> anyhow::Result<Bytes> {
        let result = self.store.get(key).await.with_context(|| format!("cannot read {key} from {}", self.description))?;
        Ok(result.bytes().await?)
    }

    pub async fn delete(&self, key: &ObjectPath) -> anyhow::Result<()> {
        match self.store.delete(key).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(err) => Err(anyhow::Error::new(err).context(format!("cannot delete {key} from {}", self.description))),
        }
    }
}

#[derive(Debug, Clone)]
pub struct S3Settings {
    pub endpoint: Option<String>,
    pub bucket: String,
    pub region: String,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
}

/// The directory uploads are received into before they are checked and stored.
pub fn incoming_dir(config: &Config) -> PathBuf {
    config.data_dir.join("incoming")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn local_files_are_moved_into_place() {
        let dir = tempfile::tempdir().unwrap();
        let storage = Storage::local(&dir.path().join("files")).unwrap();
        let source = dir.path().join("received");
        std::fs::write(&source, b"moved").unwrap();
        let key = blob_key("cd".repeat(32).as_str());
        storage.put_file(&key, &source, 5).await.unwrap();
        assert!(!source.exists(), "moved, not copied");
        assert_eq!(storage.read_all(&key).await.unwrap().as_ref(), b"moved");
    }

    #[tokio::test]
    async fn local_round_trip_with_ranges() {
        let dir = tempfile::tempdir().unwrap();
        let storage = Storage::local(&dir.path().join("files")).unwrap();
        // Larger than one single put, and not a whole number of parts.
        let size = SINGLE_PUT_MAX as usize + PART_SIZE + 12_345;
        let content: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
        let source = dir.path().join("source");
        std::fs::write(&source, &content).unwrap();
        let key = blob_key("ab".repeat(32).as_str());
        assert!(!storage.exists(&key).await.unwrap());
        storage.put_file(&key, &source, size as u64).await.unwrap();
        assert!(storage.exists(&key).await.unwrap());

        let whole: Vec<Bytes> = storage.read(&key, None).await.unwrap().try_collect().await.unwrap();
        assert_eq!(whole.concat(), content);
        let part: Vec<Bytes> = storage.read(&key, Some(100..200)).await.unwrap().try_collect().await.unwrap();
        assert_eq!(part.concat(), &content[100..200]);

        storage.delete(&key).await.unwrap();
        assert!(!storage.exists(&key).await.unwrap());
        // Deleting what is gone is not an error: deletes may be retried.
        storage.delete(&key).await.unwrap();
    }
}
