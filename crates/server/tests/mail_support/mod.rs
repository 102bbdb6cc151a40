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
    _processes: Vec<Process>,
    pub port: u16,
    /// Without TLS from the first byte (the same as `port` unless TLS is from the first byte).
    plain_port: u16,
    /// The CA to trust for STARTTLS on `plain_port`, when pymap has it.
    starttls_ca: Option<PathBuf>,
}

pub type TestSession = hdms_server::comms::mail::imap::ImapSession;

/// A certificate authority of the test's own and a certificate it signed for `localhost` and
/// `127.0.0.1`, made with the `openssl` CLI (PEM files in a temporary directory).
pub struct TestCa {
    dir: tempfile::TempDir,
}

impl TestCa {
    pub fn new() -> TestCa {
        let dir = tempfile::tempdir().unwrap();
        let openssl = |args: &[&str]| {
            let output = Command::new("openssl").args(args).current_dir(dir.path()).output().expect("the openssl CLI (installed by .ci/run)");
            assert!(output.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&output.stderr));
        };
        openssl(&["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
            "-days", "2", "-subj", "/CN=hdms test CA", "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign"]);
        openssl(&["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost"]);
        std::fs::write(
            dir.path().join("server.ext"),
            "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n",
        )
        .unwrap();
        openssl(&["x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", "server.pem", "-days", "2", "-extfile", "server.ext"]);
        TestCa { dir }
    }

    /// The authority's certificate: what a client must trust.
    pub fn ca_file(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    fn server_files(&self) -> (PathBuf, PathBuf) {
        (self.dir.path().join("server.pem"), self.dir.path().join("server.key"))
    }
}

/// How an [`ImapServer`] takes connections.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum ImapTls {
    /// Plain, no TLS offered.
    None,
    /// STARTTLS (pymap's own TLS), logging in only after it.
    Starttls,
    /// TLS from the first byte: `socat` with OpenSSL in front of a plain pymap (which has no
    /// implicit TLS of its own).
    Implicit,
}

impl ImapServer {
    pub async fn start() -> ImapServer {
        ImapServer::start_tls(ImapTls::None, None).await
    }

    /// With TLS by a certificate `ca` signed for `localhost` and `127.0.0.1`. `port` is then
    /// where clients connect with that TLS; [`ImapServer::deliver`] and the other helpers
    /// use a plain port of their own.
    pub async fn start_tls(tls: ImapTls, ca: Option<&TestCa>) -> ImapServer {
        let plain_port = free_port();
        let mut pymap = Command::new("python3");
        pymap.args(["-c", "import sys; from pymap.main import main; sys.exit(main())"]).args(["--host", "127.0.0.1", "--port", &plain_port.to_string()]);
        match (tls, ca) {
            (ImapTls::Starttls, Some(ca)) => {
                let (cert, key) = ca.server_files();
                pymap.arg("--cert").arg(cert).arg("--key").arg(key);
            }
            _ => {
                pymap.arg("--no-tls");
            }
        }
        pymap.args(["dict", "--demo-user", IMAP_USER, "--demo-password", IMAP_PASSWORD]);
        let child = quiet(&mut pymap).spawn().expect("pymap (installed by .ci/run)");
        let mut processes = vec![Process(child)];
        wait_until("the IMAP server accepts connections", || async { TcpStream::connect(("127.0.0.1", plain_port)).await.is_ok() }).await;
        let port = match (tls, ca) {
            (ImapTls::Implicit, Some(ca)) => {
                let port = free_port();
                let (cert, key) = ca.server_files();
                let listen = format!("OPENSSL-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork,verify=0,cert={},key={}", cert.display(), key.display());
                let child = quiet(Command::new("socat").arg(listen).arg(format!("TCP:127.0.0.1:{plain_port}"))).spawn().expect("socat (installed by .ci/run)");
                processes.push(Process(child));
                wait_until("the TLS front accepts connections", || async { TcpStream::connect(("127.0.0.1", port)).await.is_ok() }).await;
                port
            }
            _ => plain_port,
        };
        let starttls_ca = ca.filter(|_| tls == ImapTls::Starttls).map(TestCa::ca_file);
        ImapServer { _processes: processes, port, plain_port, starttls_ca }
    }

    /// A session of our own on the account, as a mail client would have.
    pub async fn session(&self) -> TestSession {
        // With STARTTLS configured, pymap lets nobody log in before it.
        let (security, ca_file) = match &self.starttls_ca {
            Some(ca_file) => (hdms_api_types::mail::MailSecurity::Starttls, Some(ca_file.as_path())),
            None => (hdms_api_types::mail::MailSecurity::Plain, None),
        };
        let account = hdms_server::comms::mail::imap::Account {
            host: "127.0.0.1".to_owned(),
            port: self.plain_port,
            security,
            user: IMAP_USER.to_owned(),
            password: IMAP_PASSWORD.to_owned(),
            folder: "INBOX".to_owned(),
        };
        hdms_server::comms::mail::imap::connect(&account, ca_file).await.unwrap_or_else(|f| panic!("log in to pymap: {f}"))
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
