//! A client for ClamAV's daemon over its INSTREAM protocol, on TCP or a unix socket.
//!
//! The protocol: send `zINSTREAM\0`, then the content as chunks each preceded by its length as a
//! 4-byte big-endian integer, then a zero length. clamd answers one NUL-terminated line:
//! `stream: OK`, `stream: <signature> FOUND`, or `<message> ERROR` (e.g. when the stream is
//! longer than its `StreamMaxLength`).

use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use futures::{Stream, StreamExt};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Largest chunk sent in one length-prefixed frame. clamd accepts any size up to its
/// `StreamMaxLength`; 64 KiB keeps our buffer small.
const MAX_CHUNK: usize = 64 * 1024;
/// Longest answer line we accept; real answers are a signature name.
const MAX_REPLY: usize = 4096;
/// Longest wait for a connection: an unreachable TCP host would otherwise hold the worker for
/// the system's connect timeout (minutes) before the scan counts as failed.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClamdAddr {
    Tcp(String),
    Unix(PathBuf),
}

impl ClamdAddr {
    /// `tcp://host:port`, or anything else as a unix socket path (`unix://` prefix optional).
    pub fn parse(text: &str) -> Result<ClamdAddr, String> {
        let text = text.trim();
        if let Some(host_port) = text.strip_prefix("tcp://") {
            let host_port = host_port.trim_end_matches('/');
            match host_port.rsplit_once(':') {
                Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => {
                    Ok(ClamdAddr::Tcp(host_port.to_owned()))
                }
                _ => Err(format!("HDMS_CLAMD '{text}' must be tcp://host:port")),
            }
        } else {
            let path = text.strip_prefix("unix://").unwrap_or(text);
            if path.is_empty() {
                return Err("HDMS_CLAMD is empty".to_owned());
            }
            Ok(ClamdAddr::Unix(PathBuf::from(path)))
        }
    }
}

impl std::fmt::Display for ClamdAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClamdAddr::Tcp(host_port) => write!(f, "tcp://{host_port}"),
            ClamdAddr::Unix(path) => write!(f, "{}", path.display()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Clean,
    Infected { signature: String },
}

#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error("cannot reach clamd at {addr}: {source}")]
    Connect { addr: String, source: std::io::Error },
    #[error("clamd connection failed: {0}")]
    Io(#[from] std::io::Error),
    #[error("clamd did not answer within {0:?}")]
    Timeout(Duration),
    #[error("clamd refused the scan: {0}")]
    Refused(String),
    #[error("cannot read the content to scan: {0}")]
    Source(String),
}

#[derive(Debug, Clone)]
pub struct Clamd {
    addr: ClamdAddr,
    /// Longest one read or write to clamd may stall before the scan counts as failed.
    io_timeout: Duration,
}

impl Clamd {
    pub fn new(addr: ClamdAddr) -> Self {
        Clamd { addr, io_timeout: Duration::from_secs(60) }
    }

    pub fn addr(&self) -> &ClamdAddr {
        &self.addr
    }

    /// Scans everything `content` yields.
    pub async fn scan<S, E>(&self, content: S) -> Result<Verdict, ScanError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        match &self.addr {
            ClamdAddr::Tcp(host_port) => {
                let stream = self.connect(tokio::net::TcpStream::connect(host_port)).await?;
                self.scan_on(stream, content).await
            }
            ClamdAddr::Unix(path) => {
                let stream = self.connect(tokio::net::UnixStream::connect(path)).await?;
                self.scan_on(stream, content).await
            }
        }
    }

    async fn scan_on<C, S, E>(&self, mut conn: C, mut content: S) -> Result<Verdict, ScanError>
    where
        C: AsyncRead + AsyncWrite + Unpin,
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        self.timed(conn.write_all(b"zINSTREAM\0")).await?;
        while let Some(chunk) = content.next().await {
            let chunk = chunk.map_err(|err| ScanError::Source(err.to_string()))?;
            for piece in chunk.chunks(MAX_CHUNK) {
                let len = u32::try_from(piece.len()).expect("chunk under 4 GiB");
                let sent = async {
                    conn.write_all(&len.to_be_bytes()).await?;
                    conn.write_all(piece).await
                };
                if let Err(err) = self.timed(sent).await {
                    // clamd closes the connection once a stream passes its StreamMaxLength,
                    // after writing why: prefer its reason over our broken pipe.
                    return Err(self.reply_after_write_error(&mut conn).await.unwrap_or(err));
                }
            }
        }
        self.timed(conn.write_all(&0u32.to_be_bytes())).await?;
        self.timed(conn.flush()).await?;
        let reply = self.read_reply(&mut conn).await?;
        parse_reply(&reply)
    }

    async fn reply_after_write_error<C: AsyncRead + Unpin>(&self, conn: &mut C) -> Option<ScanError> {
        let reply = self.read_reply(conn).await.ok()?;
        parse_reply(&reply).err()
    }

    async fn read_reply<C: AsyncRead + Unpin>(&self, conn: &mut C) -> Result<String, ScanError> {
        let mut reply = Vec::with_capacity(64);
        let mut buf = [0u8; 512];
        loop {
            let n = self.timed(conn.read(&mut buf)).await?;
            if n == 0 {
                break;
            }
            reply.extend_from_slice(&buf[..n]);
            if reply.contains(&0) || reply.len() > MAX_REPLY {
                break;
            }
        }
        let end = reply.iter().position(|&b| b == 0).unwrap_or(reply.len());
        Ok(String::from_utf8_lossy(&reply[..end]).trim().to_owned())
    }

    async fn connect<C>(&self, connecting: impl Future<Output = std::io::Result<C>>) -> Result<C, ScanError> {
        let connect_error = |source| ScanError::Connect { addr: self.addr.to_string(), source };
        match tokio::time::timeout(CONNECT_TIMEOUT, connecting).await {
            Ok(result) => result.map_err(connect_error),
            Err(_) => Err(connect_error(std::io::Error::new(std::io::ErrorKind::TimedOut, "connection timed out"))),
        }
    }

    async fn timed<T>(&self, io: impl Future<Output = std::io::Result<T>>) -> Result<T, ScanError> {
        match tokio::time::timeout(self.io_timeout, io).await {
            Ok(result) => Ok(result?),
            Err(_) => Err(ScanError::Timeout(self.io_timeout)),
        }
    }

    /// Whether clamd answers `PING` with `PONG`.
    pub async fn ping(&self) -> Result<(), ScanError> {
        async fn ping_on<C: AsyncRead + AsyncWrite + Unpin>(clamd: &Clamd, mut conn: C) -> Result<(), ScanError> {
            clamd.timed(conn.write_all(b"zPING\0")).await?;
            let reply = clamd.read_reply(&mut conn).await?;
            if reply == "PONG" { Ok(()) } else { Err(ScanError::Refused(reply)) }
        }
        match &self.addr {
            ClamdAddr::Tcp(host_port) => ping_on(self, self.connect(tokio::net::TcpStream::connect(host_port)).await?).await,
            ClamdAddr::Unix(path) => ping_on(self, self.connect(tokio::net::UnixStream::connect(path)).await?).await,
        }
    }
}

/// Reads clamd's answer to one INSTREAM.
fn parse_reply(reply: &str) -> Result<Verdict, ScanError> {
    let body = reply.strip_prefix("stream:").map(str::trim);
    match body {
        Some("OK") => Ok(Verdict::Clean),
        Some(found) if found.ends_with(" FOUND") => {
            Ok(Verdict::Infected { signature: found.trim_end_matches(" FOUND").trim().to_owned() })
        }
        _ => Err(ScanError::Refused(reply.to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        assert_eq!(ClamdAddr::parse("tcp://127.0.0.1:3310"), Ok(ClamdAddr::Tcp("127.0.0.1:3310".into())));
        assert_eq!(ClamdAddr::parse("tcp://clamav:3310/"), Ok(ClamdAddr::Tcp("clamav:3310".into())));
        assert!(ClamdAddr::parse("tcp://nohost").is_err());
        assert!(ClamdAddr::parse("tcp://:3310").is_err());
        assert_eq!(ClamdAddr::parse("/run/clamav/clamd.ctl"), Ok(ClamdAddr::Unix("/run/clamav/clamd.ctl".into())));
        assert_eq!(ClamdAddr::parse("unix:///tmp/c.sock"), Ok(ClamdAddr::Unix("/tmp/c.sock".into())));
        assert!(ClamdAddr::parse("  ").is_err());
    }

    #[test]
    fn replies() {
        assert_eq!(parse_reply("stream: OK").unwrap(), Verdict::Clean);
        assert_eq!(
            parse_reply("stream: Eicar-Test-Signature.UNOFFICIAL FOUND").unwrap(),
            Verdict::Infected { signature: "Eicar-Test-Signature.UNOFFICIAL".into() }
        );
        assert!(matches!(parse_reply("INSTREAM size limit exceeded. ERROR"), Err(ScanError::Refused(_))));
        assert!(matches!(parse_reply(""), Err(ScanError::Refused(_))));
    }

    /// A fake clamd on an in-memory pipe checks the framing we send, byte for byte.
    #[tokio::test]
    async fn frames_the_stream() {
        let (client, mut server) = tokio::io::duplex(1 << 20);
        let fake = tokio::spawn(async move {
            let mut received = Vec::new();
            let mut buf = vec![0u8; 1 << 16];
            loop {
                let n = server.read(&mut buf).await.unwrap();
                received.extend_from_slice(&buf[..n]);
                // Done once the terminating zero-length frame has arrived.
                if let Some(frames) = received.strip_prefix(b"zINSTREAM\0")
                    && let Some(payload) = unframe(frames)
                {
                    let reply: &[u8] = if payload.windows(4).any(|w| w == b"EVIL") {
                        b"stream: Evil.Test FOUND\0"
                    } else {
                        b"stream: OK\0"
                    };
                    server.write_all(reply).await.unwrap();
                    return payload;
                }
            }
        });
        let big = vec![b'a'; MAX_CHUNK + 10];
        let chunks: Vec<Result<Bytes, std::io::Error>> = vec![Ok(Bytes::from(big.clone())), Ok(Bytes::from_static(b"EVIL"))];
        let verdict = Clamd::new(ClamdAddr::Tcp("unused:1".into())).scan_on(client, futures::stream::iter(chunks)).await.unwrap();
        assert_eq!(verdict, Verdict::Infected { signature: "Evil.Test".into() });
        let mut expected = big;
        expected.extend_from_slice(b"EVIL");
        assert_eq!(fake.await.unwrap(), expected);
    }

    /// The payload of complete length-prefixed frames ending in a zero frame, or `None` if more
    /// is still to come.
    fn unframe(mut frames: &[u8]) -> Option<Vec<u8>> {
        let mut payload = Vec::new();
        loop {
            let len = u32::from_be_bytes(frames.get(..4)?.try_into().unwrap()) as usize;
            if len == 0 {
                return Some(payload);
            }
            payload.extend_from_slice(frames.get(4..4 + len)?);
            frames = &frames[4 + len..];
        }
    }
}
