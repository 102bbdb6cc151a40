//! Receiving an upload: the body is streamed to a temporary file while it is hashed, counted
//! against the size limit and its first bytes kept for sniffing, so memory stays flat whatever
//! the size. The temporary file disappears when the [`Received`] is dropped, and at once when the
//! limit is passed or the body breaks off.

use std::path::Path;

use bytes::Bytes;
use futures::{Stream, StreamExt};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use crate::files::types::SNIFF_LEN;

pub struct Received {
    pub path: tempfile::TempPath,
    pub size: u64,
    /// Hex SHA-256 of the content.
    pub sha256: String,
    /// The first bytes, for sniffing the type.
    pub head: Vec<u8>,
}

#[derive(Debug, thiserror::Error)]
pub enum ReceiveError {
    #[error("the file is larger than the limit of {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("the upload broke off: {0}")]
    Body(String),
    #[error("cannot write the upload to a temporary file: {0}")]
    Io(#[from] std::io::Error),
}

/// Streams `body` into a new temporary file in `dir`, refusing more than `limit` bytes.
pub async fn receive<S, E>(mut body: S, limit: u64, dir: &Path) -> Result<Received, ReceiveError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    tokio::fs::create_dir_all(dir).await?;
    let (file, path) = tempfile::NamedTempFile::new_in(dir)?.into_parts();
    let mut file = tokio::io::BufWriter::with_capacity(256 * 1024, tokio::fs::File::from_std(file));
    let mut hasher = Sha256::new();
    let mut head = Vec::with_capacity(SNIFF_LEN);
    let mut size: u64 = 0;
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|err| ReceiveError::Body(err.to_string()))?;
        size += chunk.len() as u64;
        if size > limit {
            return Err(ReceiveError::TooLarge { limit });
        }
        if head.len() < SNIFF_LEN {
            let wanted = (SNIFF_LEN - head.len()).min(chunk.len());
            head.extend_from_slice(&chunk[..wanted]);
        }
        hasher.update(&chunk);
        file.write_all(&chunk).await?;
    }
    file.flush().await?;
    file.into_inner().sync_all().await?;
    Ok(Received { path, size, sha256: hex::encode(hasher.finalize()), head })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunks(parts: &[&'static [u8]]) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Unpin {
        futures::stream::iter(parts.iter().map(|p| Ok(Bytes::from_static(p))).collect::<Vec<_>>())
    }

    fn files_in(dir: &Path) -> usize {
        std::fs::read_dir(dir).map(|d| d.count()).unwrap_or(0)
    }

    #[tokio::test]
    async fn hashes_counts_and_keeps_the_head() {
        let dir = tempfile::tempdir().unwrap();
        let received = receive(chunks(&[b"hello ", b"world"]), 11, dir.path()).await.unwrap();
        assert_eq!(received.size, 11);
        // sha256("hello world")
        assert_eq!(received.sha256, "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9");
        assert_eq!(received.head, b"hello world");
        assert_eq!(std::fs::read(&received.path).unwrap(), b"hello world");
        drop(received);
        assert_eq!(files_in(dir.path()), 0, "the temporary file goes with the Received");
    }

    #[tokio::test]
    async fn over_the_limit_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let result = receive(chunks(&[b"hello ", b"world!"]), 11, dir.path()).await;
        assert!(matches!(result, Err(ReceiveError::TooLarge { limit: 11 })));
        assert_eq!(files_in(dir.path()), 0);
    }

    #[tokio::test]
    async fn a_broken_body_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let parts: Vec<Result<Bytes, std::io::Error>> = vec![Ok(Bytes::from_static(b"abc")), Err(std::io::Error::other("reset"))];
        let result = receive(futures::stream::iter(parts), 100, dir.path()).await;
        assert!(matches!(result, Err(ReceiveError::Body(_))));
        assert_eq!(files_in(dir.path()), 0);
    }

    #[tokio::test]
    async fn head_stops_at_the_sniff_length() {
        let dir = tempfile::tempdir().unwrap();
        let big: &'static [u8] = Box::leak(vec![7u8; SNIFF_LEN * 3].into_boxed_slice());
        let received = receive(chunks(&[big]), u64::MAX, dir.path()).await.unwrap();
        assert_eq!(received.head.len(), SNIFF_LEN);
        assert_eq!(received.size, (SNIFF_LEN * 3) as u64);
    }
}
