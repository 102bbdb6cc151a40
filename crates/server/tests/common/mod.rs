//! Starts a real server on a loopback port for each test, on a fresh SQLite file or a fresh
//! PostgreSQL database, and drives it with the real client.
#![allow(dead_code)]

use std::sync::atomic::{AtomicU32, Ordering};

use hdms_api_types::Role;
use hdms_api_types::client::Client;
use hdms_api_types::users::{CreateUser, User};
use hdms_server::config::Config;
use hdms_server::state::AppState;
use sqlx::Connection;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

pub const ADMIN_EMAIL: &str = "admin@example.com";
pub const ADMIN_PASSWORD: &str = "correct horse battery staple";
pub const PASSWORD: &str = "a long enough password";
pub const JWT_SECRET: &str = "test-secret-test-secret-test-secret-0123";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs each listed `async fn name(backend: Backend)` once per backend, as `sqlite::name` and
/// `postgres::name`. `Backend` is the one in scope where it is called, so other crates' tests
/// that include this module (the TUI's live worker tests) use it too.
#[macro_export]
macro_rules! backend_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::Backend::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::Backend::Postgres).await
                }
            )*
        }
    };
}

/// Where the tests' PostgreSQL lives; each test gets its own database there.
fn postgres_admin_url() -> String {
    std::env::var("HDMS_TEST_POSTGRES_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// A fresh, empty PostgreSQL database; its URL.
pub async fn fresh_postgres_database() -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let admin_url = postgres_admin_url();
    let mut admin = sqlx::PgConnection::connect(&admin_url)
        .await
        .expect("PostgreSQL must run at HDMS_TEST_POSTGRES_URL (default 127.0.0.1:5432, see README)");
    let now = chrono::Utc::now().timestamp();
    drop_stale_databases(&mut admin, now).await;
    let name = format!(
        "hdms_t_{now}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&mut admin).await.expect("create test database");
    let base = admin_url.rsplit_once('/').expect("URL has a database").0;
    format!("{base}/{name}")
}

/// Test databases are left behind by design (a test may fail at any point); ones older than an
/// hour are dropped by later runs.
async fn drop_stale_databases(admin: &mut sqlx::PgConnection, now: i64) {
    let names: Vec<String> = sqlx::query_scalar("SELECT datname FROM pg_database WHERE datname LIKE 'hdms\\_t\\_%'")
        .fetch_all(&mut *admin)
        .await
        .unwrap_or_default();
    for name in names {
        let created = name.split('_').nth(2).and_then(|ts| ts.parse::<i64>().ok()).unwrap_or(now);
        if now - created > 3600 {
            let _ = sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name}"))).execute(&mut *admin).await;
        }
    }
}

pub struct TestServer {
    pub url: String,
    pub state: AppState,
    pub config: Config,
    pub bootstrap_password: Option<String>,
    shutdown: Option<oneshot::Sender<()>>,
    _data_dir: tempfile::TempDir,
}

impl TestServer {
    pub async fn start(backend: Backend) -> TestServer {
        Self::start_with(backend, |_| {}).await
    }

    /// Starts a server whose configuration `adjust` may change first.
    pub async fn start_with(backend: Backend, adjust: impl FnOnce(&mut Config)) -> TestServer {
        let data_dir = tempfile::tempdir().expect("temp dir");
        let mut config = Config::defaults();
        config.data_dir = data_dir.path().to_path_buf();
        config.jwt_secret = Some(JWT_SECRET.to_owned());
        config.admin_email = Some(ADMIN_EMAIL.to_owned());
        config.admin_password = Some(ADMIN_PASSWORD.to_owned());
        config.db_max_connections = 5;
        if backend == Backend::Postgres {
            config.database_url = Some(fresh_postgres_database().await);
        }
        adjust(&mut config);
        Self::start_config(config, data_dir).await
    }

    /// Starts a server on exactly this configuration (e.g. a second instance on the same
    /// database).
    pub async fn start_config(config: Config, data_dir: tempfile::TempDir) -> TestServer {
        // HDMS_TEST_LOG=1 shows the servers' logs (internal errors are only logged, by design).
        if std::env::var_os("HDMS_TEST_LOG").is_some() {
            hdms_server::http::observability::init_logging(hdms_server::config::LogFormat::Pretty);
        }
        let started = hdms_server::start(config.clone()).await.expect("server starts");
        // Bound before serving: the port accepts connections as soon as this returns.
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (shutdown, stop) = oneshot::channel::<()>();
        let state = started.state.clone();
        tokio::spawn(hdms_server::serve(listener, started.state, async {
            let _ = stop.await;
        }));
        TestServer {
            url,
            state,
            config,
            bootstrap_password: started.bootstrap_admin.and_then(|admin| admin.generated_password),
            shutdown: Some(shutdown),
            _data_dir: data_dir,
        }
    }

    /// A client with no credential.
    pub fn anonymous(&self) -> Client {
        Client::new(&self.url).expect("client")
    }

    pub async fn admin(&self) -> Client {
        let client = self.anonymous();
        client.login(ADMIN_EMAIL, ADMIN_PASSWORD).await.expect("admin logs in");
        client
    }

    /// Creates a user with this role (password [`PASSWORD`]) and returns a client logged in as
    /// them.
    pub async fn user(&self, role: Role) -> (Client, User) {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let email = format!("{role}{n}@example.com");
        let user = self
            .admin()
            .await
            .create_user(&CreateUser {
                email: email.clone(),
                name: format!("Test {role} {n}"),
                role,
                phone: None,
                password: Some(PASSWORD.to_owned()),
            })
            .await
            .expect("create user");
        let client = self.anonymous();
        client.login(&email, PASSWORD).await.expect("user logs in");
        (client, user)
    }

    pub fn http(&self) -> reqwest::Client {
        reqwest::Client::new()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

/// Asserts an API error's status and code.
#[track_caller]
pub fn assert_api_error<T: std::fmt::Debug>(result: Result<T, hdms_api_types::client::ClientError>, status: u16, code: &str) {
    match result {
        Err(err) => {
            assert_eq!(err.status().map(|s| s.as_u16()), Some(status), "status of {err}");
            assert_eq!(err.code(), Some(code), "code of {err}");
        }
        Ok(value) => panic!("expected {status} {code}, got success: {value:?}"),
    }
}
