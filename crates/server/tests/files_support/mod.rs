//! Real outside services for the attachment tests, each started by the test that needs it and
//! stopped when dropped: a ClamAV daemon on a private unix socket with the tiny signature
//! database in `tests/fixtures/clamav` (an EICAR body signature), and moto's S3 server on a free
//! loopback port. Neither is optional: when one is not installed the test fails saying what to
//! install (`.ci/run` installs both).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use hdms_server::files::clamd::{Clamd, ClamdAddr};

/// The EICAR antivirus test file: harmless, and detected by every scanner (here by our own
/// signature, `Hdms-Test-Eicar`).
pub const EICAR: &[u8] = br"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";
/// The name clamd reports for it: signatures outside the official database get `.UNOFFICIAL`.
pub const EICAR_SIGNATURE: &str = "Hdms-Test-Eicar.UNOFFICIAL";

/// How long a service may take to come up before the test fails.
const STARTUP_LIMIT: Duration = Duration::from_secs(60);
const POLL: Duration = Duration::from_millis(50);

fn signatures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/clamav")
}

fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/local/sbin")])
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// A clamd of our own, listening on `socket` (or on a loopback TCP port).
pub struct ClamdProcess {
    pub socket: PathBuf,
    tcp_port: Option<u16>,
    child: Option<Child>,
    dir: PathBuf,
}

impl ClamdProcess {
    /// A socket path in a fresh directory (kept until the process is dropped), with no clamd
    /// behind it yet.
    pub fn unstarted(dir: &Path) -> ClamdProcess {
        let dir = dir.to_path_buf();
        ClamdProcess { socket: dir.join("clamd.sock"), tcp_port: None, child: None, dir }
    }

    /// Starts clamd in `dir` and waits until it answers PING.
    pub async fn start(dir: &Path) -> ClamdProcess {
        let mut clamd = ClamdProcess::unstarted(dir);
        clamd.run().await;
        clamd
    }

    /// Starts clamd in `dir` listening on a free loopback TCP port instead of a socket.
    pub async fn start_tcp(dir: &Path) -> ClamdProcess {
        let mut clamd = ClamdProcess::unstarted(dir);
        clamd.tcp_port = Some(std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port());
        clamd.run().await;
        clamd
    }

    /// The address to give `HDMS_CLAMD`.
    pub fn addr(&self) -> String {
        match self.tcp_port {
            Some(port) => format!("tcp://127.0.0.1:{port}"),
            None => self.socket.display().to_string(),
        }
    }

    /// Starts (or restarts) the daemon on this process's socket.
    pub async fn run(&mut self) {
        let program = find_program("clamd").unwrap_or_else(|| {
            panic!("clamd is not installed: install Debian's clamav-daemon (apt-get install -y clamav-daemon); .ci/run does")
        });
        let config = self.dir.join("clamd.conf");
        // Foreground so the test owns the process; no syslog and no user switch (the tests may
        // run as root, which clamd accepts when `User` is unset); streams as large as the
        // benchmark's file.
        let listen = match self.tcp_port {
            Some(port) => format!("TCPSocket {port}\nTCPAddr 127.0.0.1"),
            None => format!("LocalSocket {}", self.socket.display()),
        };
        std::fs::write(
            &config,
            format!(
                "Foreground yes\n{}\nDatabaseDirectory {}\nLogSyslog no\nLogFile {}\n\
                 StreamMaxLength 200M\nMaxScanSize 200M\nMaxFileSize 200M\nPidFile {}\n",
                listen,
                signatures_dir().display(),
                self.dir.join("clamd.log").display(),
                self.dir.join("clamd.pid").display(),
            ),
        )
        .expect("write clamd.conf");
        let child = Command::new(program)
            .arg("-c")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("clamd starts");
        self.child = Some(child);
        let client = Clamd::new(ClamdAddr::parse(&self.addr()).expect("clamd address"));
        let started = Instant::now();
        loop {
            if client.ping().await.is_ok() {
                return;
            }
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                let log = std::fs::read_to_string(self.dir.join("clamd.log")).unwrap_or_default();
                panic!("clamd exited with {status} before answering:\n{log}");
            }
            assert!(started.elapsed() < STARTUP_LIMIT, "clamd did not answer PING within {STARTUP_LIMIT:?}");
            tokio::time::sleep(POLL).await;
        }
    }

    /// Stops the daemon (the socket then refuses connections).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_file(&self.socket);
    }
}

impl Drop for ClamdProcess {
    fn drop(&mut self) {
        self.stop();
    }
}

/// moto's S3-compatible server on a free loopback port, with one bucket.
pub struct MotoS3 {
    pub endpoint: String,
    pub bucket: String,
    child: Child,
    log: tempfile::NamedTempFile,
}

pub const S3_KEY_ID: &str = "testing";
pub const S3_SECRET: &str = "testing";

impl MotoS3 {
    pub async fn start() -> MotoS3 {
        // A port the kernel just handed out and we released; moto binds it next.
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut command = match find_program("moto_server") {
            Some(program) => Command::new(program),
            None => {
                let mut command = Command::new("python3");
                command.args(["-m", "moto.server"]);
                command
            }
        };
        // moto logs every request: to a file, so a full pipe can never stall it.
        let log = tempfile::NamedTempFile::new().expect("moto log file");
        let child = command
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log.reopen().expect("moto log file"))
            .spawn()
            .unwrap_or_else(|err| panic!("cannot run moto's S3 server ({err}): pip install 'moto[server]'; .ci/run does"));
        let mut moto = MotoS3 { endpoint: format!("http://127.0.0.1:{port}"), bucket: "hdms-test".to_owned(), child, log };
        let http = reqwest::Client::new();
        let started = Instant::now();
        loop {
            if let Ok(Some(status)) = moto.child.try_wait() {
                let stderr = std::fs::read_to_string(moto.log.path()).unwrap_or_default();
                panic!("moto's S3 server exited with {status} (pip install 'moto[server]'; .ci/run does):\n{stderr}");
            }
            // moto creates a bucket on an unsigned PUT, which doubles as the readiness check.
            if let Ok(response) = http.put(format!("{}/{}", moto.endpoint, moto.bucket)).send().await
                && response.status().is_success()
            {
                return moto;
            }
            assert!(started.elapsed() < STARTUP_LIMIT, "moto's S3 server did not answer within {STARTUP_LIMIT:?}");
            tokio::time::sleep(POLL).await;
        }
    }
}

impl Drop for MotoS3 {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
