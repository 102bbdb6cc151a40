//! Runs the real `hdms` binary against a real `hdms-server` started in this process on a
//! loopback port (embedded SQLite in a temporary directory), each test with its own config
//! directory and no D-Bus session, so tokens take the private-file path unless a test says
//! otherwise.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use hdms_server::config::Config;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

pub const ADMIN_EMAIL: &str = "admin@example.com";
pub const ADMIN_PASSWORD: &str = "correct horse battery staple";

pub struct TestServer {
    pub url: String,
    /// The server's state, for tests that must look behind the API (an SMS code in the outbox).
    pub state: hdms_server::state::AppState,
    shutdown: Option<oneshot::Sender<()>>,
    _data_dir: tempfile::TempDir,
}

impl TestServer {
    pub async fn start() -> TestServer {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(adjust: impl FnOnce(&mut Config)) -> TestServer {
        let data_dir = tempfile::tempdir().expect("temp dir");
        let mut config = Config::defaults();
        config.data_dir = data_dir.path().to_path_buf();
        config.jwt_secret = Some("cli-test-secret-cli-test-secret-0123456".to_owned());
        config.admin_email = Some(ADMIN_EMAIL.to_owned());
        config.admin_password = Some(ADMIN_PASSWORD.to_owned());
        config.db_max_connections = 5;
        adjust(&mut config);
        let started = hdms_server::start(config).await.expect("server starts");
        let state = started.state.clone();
        // Bound before serving: the port accepts connections as soon as this returns.
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (shutdown, stop) = oneshot::channel::<()>();
        tokio::spawn(hdms_server::serve(listener, started.state, async {
            let _ = stop.await;
        }));
        TestServer { url, state, shutdown: Some(shutdown), _data_dir: data_dir }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

/// One user's command-line environment: a config directory and a default server.
pub struct Cli {
    pub config_dir: tempfile::TempDir,
    pub server: String,
}

/// What a run of `hdms` did.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    #[track_caller]
    pub fn success(self) -> Run {
        assert_eq!(self.code, 0, "expected success: {self:#?}");
        self
    }

    #[track_caller]
    pub fn failure(self, code: i32) -> Run {
        assert_eq!(self.code, code, "expected exit code {code}: {self:#?}");
        self
    }

    #[track_caller]
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|err| panic!("stdout is not JSON ({err}): {self:#?}"))
    }
}

pub fn hdms_path() -> &'static Path {
    assert_cmd::cargo::cargo_bin!("hdms")
}

impl Cli {
    pub fn new(server: &TestServer) -> Cli {
        Cli { config_dir: tempfile::tempdir().expect("temp dir"), server: server.url.clone() }
    }

    /// `hdms` with this environment: the server in HDMS_SERVER, no keyring reachable.
    pub fn std_command(&self) -> std::process::Command {
        let mut command = std::process::Command::new(hdms_path());
        command
            .env("HDMS_CONFIG_DIR", self.config_dir.path())
            .env("HDMS_SERVER", &self.server)
            .env_remove("HDMS_TOKEN")
            .env_remove("HDMS_PROFILE")
            .env_remove("DBUS_SESSION_BUS_ADDRESS")
            // Output as in a plain pipe unless a test asks otherwise.
            .env_remove("COLUMNS")
            .env_remove("NO_COLOR")
            .env_remove("CLICOLOR")
            .env_remove("CLICOLOR_FORCE");
        command
    }

    pub fn command(&self) -> Command {
        Command::from_std(self.std_command())
    }

    pub fn credentials_path(&self) -> PathBuf {
        self.config_dir.path().join("credentials.json")
    }

    /// Runs `hdms args…` with `stdin`, off the async workers (the server runs on them).
    pub fn run(&self, args: &[&str], stdin: &str) -> Run {
        let mut command = self.command();
        command.args(args).write_stdin(stdin.to_owned());
        run_command(command)
    }

    /// Runs `hdms args…` with extra environment variables.
    pub fn run_with(&self, env: &[(&str, &str)], args: &[&str]) -> Run {
        let mut command = self.command();
        command.envs(env.iter().copied()).args(args);
        run_command(command)
    }

    /// Logs in as the bootstrap admin.
    pub fn login_admin(&self) {
        self.run(&["login", "--email", ADMIN_EMAIL, "--password-stdin"], &format!("{ADMIN_PASSWORD}\n")).success();
    }
}

pub fn run_command(mut command: Command) -> Run {
    let output = tokio::task::block_in_place(|| command.output().expect("hdms runs"));
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}
