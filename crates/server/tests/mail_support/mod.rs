//! Real mail servers for the mail tests, none of them written here: Python's `aiosmtpd` as the
//! SMTP server capturing outbound mail to a Maildir, and `pymap` as the IMAP server mail is
//! dropped into (both installed by `.ci/run`). Each runs on a free loopback port and is stopped
//! when dropped.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tokio::net::TcpStream;

/// Waits (polling, up to 10 s) until `condition` holds.
pub async fn wait_until<F, Fut>(what: &str, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..400 {
        if condition().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("timed out waiting until {what}");
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Stops a child process when dropped.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn quiet(command: &mut Command) -> &mut Command {
    if std::env::var_os("HDMS_TEST_LOG").is_some() { command } else { command.stdout(Stdio::null()).stderr(Stdio::null()) }
}

/// `aiosmtpd` on a free loopback port, delivering into a Maildir.
pub struct SmtpCapture {
    _process: Process,
    pub port: u16,
    maildir: tempfile::TempDir,
}

impl SmtpCapture {
    pub async fn start() -> SmtpCapture {
        let maildir = tempfile::tempdir().unwrap();
        let port = free_port();
        let child = quiet(
            Command::new("python3")
                .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}"), "-c", "aiosmtpd.handlers.Mailbox"])
                .arg(maildir.path().join("Maildir")),
        )
        .spawn()
        .expect("python3 -m aiosmtpd (installed by .ci/run)");
        let capture = SmtpCapture { _process: Process(child), port, maildir };
        wait_until("the SMTP server accepts connections", || async { TcpStream::connect(("127.0.0.1", port)).await.is_ok() }).await;
        capture
    }

    fn new_dir(&self) -> PathBuf {
        self.maildir.path().join("Maildir").join("new")
    }

    /// Every message received so far, oldest first.
    pub fn messages(&self) -> Vec<Vec<u8>> {
        let Ok(entries) = std::fs::read_dir(self.new_dir()) else { return Vec::new() };
        let mut files: Vec<(std::time::SystemTime, PathBuf)> =
            entries.filter_map(|e| e.ok()).map(|e| (e.metadata().and_then(|m| m.modified()).unwrap(), e.path())).collect();
        files.sort();
        files.into_iter().map(|(_, path)| std::fs::read(path).unwrap()).collect()
    }
}

pub const IMAP_USER: &str = "support";
pub const IMAP_PASSWORD: &str = "imap secret 42";

/// `pymap` with its in-memory backend on a free loopback port: one account
/// ([`IMAP_USER`], [`IMAP_PASSWORD`]) with an empty INBOX; IDLE, MOVE and UIDPLUS.
pub struct ImapServer {
    _process: Process,
    pub port: u16,
}

pub type TestSession = async_imap::Session<TcpStream>;

impl ImapServer {
    pub async fn start() -> ImapServer {
        let port = free_port();
        let child = quiet(
            Command::new("python3")
                .args(["-c", "import sys; from pymap.main import main; sys.exit(main())"])
                .args(["--host", "127.0.0.1", "--port", &port.to_string(), "--no-tls", "dict"])
                .args(["--demo-user", IMAP_USER, "--demo-password", IMAP_PASSWORD]),
        )
        .spawn()
        .expect("pymap (installed by .ci/run)");
        let server = ImapServer { _process: Process(child), port };
        wait_until("the IMAP server accepts connections", || async { TcpStream::connect(("127.0.0.1", port)).await.is_ok() }).await;
        server
    }

    /// A session of our own on the account, as a mail client would have.
    pub async fn session(&self) -> TestSession {
        let tcp = TcpStream::connect(("127.0.0.1", self.port)).await.unwrap();
        let mut client = async_imap::Client::new(tcp);
        client.read_response().await.unwrap().expect("a greeting");
        client.login(IMAP_USER, IMAP_PASSWORD).await.map_err(|(e, _)| e).expect("log in to pymap")
    }

    /// Drops a message into a folder, as a mail server delivering it would.
    pub async fn deliver(&self, folder: &str, raw: &[u8]) {
        let mut session = self.session().await;
        session.append(folder, None, None, raw).await.expect("APPEND");
        session.logout().await.unwrap();
    }

    /// The flags of every message in `folder`, by UID.
    pub async fn flags(&self, folder: &str) -> Vec<(u32, Vec<String>)> {
        use futures::TryStreamExt;
        let mut session = self.session().await;
        let selected = session.examine(folder).await.unwrap();
        let mut out = Vec::new();
        if selected.exists > 0 {
            let fetched: Vec<_> = session.uid_fetch("1:*", "FLAGS").await.unwrap().try_collect().await.unwrap();
            for fetch in fetched {
                out.push((fetch.uid.unwrap_or(0), fetch.flags().map(|f| format!("{f:?}")).collect()));
            }
        }
        session.logout().await.unwrap();
        out.sort();
        out
    }
}
