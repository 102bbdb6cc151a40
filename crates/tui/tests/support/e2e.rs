//! End-to-end harness: a real `hdms-server` on a loopback port (embedded SQLite in a temporary
//! directory) running on its own runtime so a test can kill it outright and start it again on
//! the same port and data, and the real `hdms-tui` binary in tmux (a private socket, no user
//! config, no escape delay), read back with `capture-pane` until what a person would see is there.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use hdms_api_types::client::Client;
use hdms_api_types::tickets::{CreateTicket, Ticket};
use hdms_api_types::users::{CreateUser, Role};

pub const ADMIN_EMAIL: &str = "admin@example.com";
pub const ADMIN_PASSWORD: &str = "correct horse battery staple";
pub const PASSWORD: &str = "a long enough password";
/// How long a screen may take to show what a test waits for.
pub const DEADLINE: Duration = Duration::from_secs(20);

/// A server on its own runtime: `kill` drops every task and connection at once, as a crash would.
pub struct TestServer {
    pub addr: SocketAddr,
    pub url: String,
    data_dir: tempfile::TempDir,
    runtime: Option<tokio::runtime::Runtime>,
    /// Where the tests' own clients run (their connections outlive one call).
    clients: tokio::runtime::Runtime,
}

impl TestServer {
    pub fn start() -> TestServer {
        let data_dir = tempfile::tempdir().expect("temp dir");
        let clients = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("runtime");
        let mut server = TestServer { addr: "127.0.0.1:0".parse().unwrap(), url: String::new(), data_dir, runtime: None, clients };
        server.boot();
        server
    }

    fn boot(&mut self) {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
        let mut config = hdms_server::config::Config::defaults();
        config.data_dir = self.data_dir.path().to_path_buf();
        config.jwt_secret = Some("tui-test-secret-tui-test-secret-0123456789".to_owned());
        config.admin_email = Some(ADMIN_EMAIL.to_owned());
        config.admin_password = Some(ADMIN_PASSWORD.to_owned());
        config.db_max_connections = 5;
        let wanted = self.addr;
        let addr = runtime.block_on(async move {
            let started = hdms_server::start(config).await.expect("server starts");
            // Bound before serving: the port accepts connections as soon as this returns.
            let listener = tokio::net::TcpListener::bind(wanted).await.expect("bind");
            let addr = listener.local_addr().unwrap();
            tokio::spawn(hdms_server::serve(listener, started.state, std::future::pending()));
            addr
        });
        self.addr = addr;
        self.url = format!("http://{addr}");
        self.runtime = Some(runtime);
    }

    /// Stops the server at once: no goodbye to any client.
    pub fn kill(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }

    /// Starts it again on the same port and data.
    pub fn restart(&mut self) {
        self.kill();
        self.boot();
    }

    /// Runs a test client's future (the tests themselves are synchronous).
    pub fn block_on<F: std::future::Future>(&self, future: F) -> F::Output {
        self.clients.block_on(future)
    }

    pub fn admin(&self) -> Client {
        let client = Client::new(&self.url).unwrap();
        self.block_on(client.login(ADMIN_EMAIL, ADMIN_PASSWORD)).expect("admin logs in");
        client
    }

    /// A new user with [`PASSWORD`], and a client logged in as them.
    pub fn user(&self, email: &str, name: &str, role: Role) -> Client {
        let admin = self.admin();
        let request = CreateUser { email: email.to_owned(), name: name.to_owned(), role, phone: None, password: Some(PASSWORD.to_owned()) };
        self.block_on(admin.create_user(&request)).expect("user created");
        let client = Client::new(&self.url).unwrap();
        self.block_on(client.login(email, PASSWORD)).expect("user logs in");
        client
    }

    pub fn ticket(&self, client: &Client, subject: &str, description: &str) -> Ticket {
        let request = CreateTicket { subject: subject.to_owned(), description: description.to_owned(), ..Default::default() };
        self.block_on(client.create_ticket(&request)).expect("ticket created")
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.kill();
    }
}

pub fn tui_path() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_hdms-tui"))
}

/// `hdms-tui` running in a tmux session of its own.
pub struct Terminal {
    socket: String,
    pub config_dir: tempfile::TempDir,
    /// `NAME=value` words for the program's environment (e.g. its `EDITOR`).
    env: String,
}

impl Terminal {
    /// Starts `hdms-tui` against `server` in a `width`x`height` terminal, with a config
    /// directory of its own (or `config_dir`, to start again where a previous run left off).
    pub fn start(server: &str, width: u16, height: u16, config_dir: Option<tempfile::TempDir>) -> Terminal {
        Terminal::start_with_env(server, width, height, config_dir, &[])
    }

    /// [`Terminal::start`] with more environment for the program (`VISUAL` is always unset).
    pub fn start_with_env(server: &str, width: u16, height: u16, config_dir: Option<tempfile::TempDir>, env: &[(&str, &Path)]) -> Terminal {
        let socket = format!("hdms-tui-test-{}-{}", std::process::id(), uuid::Uuid::now_v7().simple());
        let config_dir = config_dir.unwrap_or_else(|| tempfile::tempdir().expect("temp dir"));
        let env = env.iter().map(|(name, value)| format!("{name}={}", shell_quote(value))).collect::<Vec<_>>().join(" ");
        let terminal = Terminal { socket, config_dir, env };
        terminal.launch(server, width, height);
        terminal
    }

    fn launch(&self, server: &str, width: u16, height: u16) {
        let command = format!(
            "env -u HDMS_TOKEN -u HDMS_PROFILE -u DBUS_SESSION_BUS_ADDRESS -u VISUAL HDMS_NO_KEYRING=1 TERM=xterm-256color \
             HDMS_CONFIG_DIR={} HDMS_SERVER={server} {} {}; sleep 600",
            shell_quote(self.config_dir.path()),
            self.env,
            shell_quote(&tui_path()),
        );
        self.tmux(&["-f", "/dev/null", "new-session", "-d", "-s", "tui", "-x", &width.to_string(), "-y", &height.to_string(), &command]);
        self.tmux(&["set-option", "-s", "escape-time", "0"]);
        // OSC 52 from the program sets tmux's paste buffer, where a test can read it.
        self.tmux(&["set-option", "-s", "set-clipboard", "on"]);
    }

    /// Starts `hdms-tui` again in the same tmux server (after it quit).
    pub fn relaunch(&self, server: &str, width: u16, height: u16) {
        self.tmux(&["kill-session", "-t", "tui"]);
        self.launch(server, width, height);
    }

    fn tmux(&self, args: &[&str]) -> String {
        let output = Command::new("tmux").arg("-L").arg(&self.socket).args(args).output().expect("tmux runs");
        assert!(output.status.success(), "tmux {args:?}: {}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// What the program last put on the clipboard (OSC 52), as tmux received it.
    pub fn clipboard(&self) -> String {
        let output = Command::new("tmux").arg("-L").arg(&self.socket).args(["show-buffer"]).output().expect("tmux runs");
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    pub fn screen(&self) -> String {
        self.tmux(&["capture-pane", "-p", "-t", "tui"])
    }

    /// Types text as it is (no key names).
    pub fn type_text(&self, text: &str) {
        self.tmux(&["send-keys", "-t", "tui", "-l", text]);
    }

    /// Presses keys by tmux name: `Enter`, `Tab`, `Escape`, `C-s`, `j`.
    pub fn press(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "tui"];
        args.extend_from_slice(keys);
        self.tmux(&args);
    }

    /// Waits until the screen shows `text`; fails with the screen after [`DEADLINE`].
    #[track_caller]
    pub fn wait_for(&self, text: &str) -> String {
        self.wait_until(|screen| screen.contains(text), &format!("'{text}'"))
    }

    #[track_caller]
    pub fn wait_until(&self, condition: impl Fn(&str) -> bool, what: &str) -> String {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let screen = self.screen();
            if condition(&screen) {
                return screen;
            }
            if Instant::now() > deadline {
                panic!("the screen never showed {what}; it shows:\n{screen}");
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// Signs in through the login screen.
    pub fn log_in(&self, email: &str) {
        self.wait_for("sign in to");
        self.type_text(email);
        self.press(&["Tab"]);
        self.type_text(PASSWORD);
        self.press(&["Enter"]);
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        let _ = Command::new("tmux").arg("-L").arg(&self.socket).arg("kill-server").output();
    }
}

fn shell_quote(path: &Path) -> String {
    format!("'{}'", path.display().to_string().replace('\'', "'\\''"))
}
