//! Server settings. Each has a default, a command-line flag and an `HDMS_*` environment variable
//! (the flag wins). Tests build a [`Config`] directly.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

#[derive(Debug, Clone, Parser)]
#[command(name = "hdms-server", version, about = "The hdms help desk server")]
pub struct Config {
    /// Address to listen on.
    #[arg(long, env = "HDMS_BIND", default_value = "127.0.0.1:8080")]
    pub bind: SocketAddr,

    /// Directory for the embedded database and generated secrets; created if missing.
    #[arg(long, env = "HDMS_DATA_DIR", default_value = "./hdms-data")]
    pub data_dir: PathBuf,

    /// `postgres://…` to use PostgreSQL instead of the embedded SQLite database.
    #[arg(long, env = "HDMS_DATABASE_URL")]
    pub database_url: Option<String>,

    /// Most connections in the database pool.
    #[arg(long, env = "HDMS_DB_MAX_CONNECTIONS", default_value_t = 16)]
    pub db_max_connections: u32,

    /// Secret that signs access tokens. Without it one is generated once and kept (in the data
    /// directory for SQLite, in the database for PostgreSQL so every instance shares it).
    #[arg(long, env = "HDMS_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,

    /// Lifetime of an access token, in seconds.
    #[arg(long, env = "HDMS_ACCESS_TOKEN_TTL", default_value_t = 900)]
    pub access_token_ttl_secs: u64,

    /// Lifetime of a refresh token, in seconds (default 30 days).
    #[arg(long, env = "HDMS_REFRESH_TOKEN_TTL", default_value_t = 30 * 24 * 3600)]
    pub refresh_token_ttl_secs: u64,

    /// Failed logins for one email within the window before further attempts answer 429.
    #[arg(long, env = "HDMS_LOGIN_MAX_FAILURES", default_value_t = 5)]
    pub login_max_failures: u32,

    /// Length of the failed-login window, in seconds.
    #[arg(long, env = "HDMS_LOGIN_WINDOW", default_value_t = 900)]
    pub login_window_secs: u64,

    /// Largest JSON request body, in bytes.
    #[arg(long, env = "HDMS_MAX_BODY_BYTES", default_value_t = 1024 * 1024)]
    pub max_body_bytes: usize,

    /// Largest CSV file `POST /api/v1/users/import` accepts, in bytes (default 200 MiB). The
    /// file is streamed, never held whole, so this bounds the work of one request, not memory.
    #[arg(long, env = "HDMS_IMPORT_MAX_BYTES", default_value_t = 200 * 1024 * 1024)]
    pub import_max_bytes: u64,

    /// Email of the admin created on first start of an empty database.
    #[arg(long, env = "HDMS_ADMIN_EMAIL")]
    pub admin_email: Option<String>,

    /// Password of that admin; without it a random one is generated and printed once.
    #[arg(long, env = "HDMS_ADMIN_PASSWORD", hide_env_values = true)]
    pub admin_password: Option<String>,

    /// How long after resolution a customer may still reopen a ticket, in seconds (default 14 days).
    #[arg(long, env = "HDMS_REOPEN_WINDOW", default_value_t = 14 * 24 * 3600)]
    pub reopen_window_secs: u64,

    /// Resolved tickets close by themselves after this many seconds (default 7 days).
    #[arg(long, env = "HDMS_AUTO_CLOSE_AFTER", default_value_t = 7 * 24 * 3600)]
    pub auto_close_after_secs: u64,

    /// How often the SLA job looks for warnings, breaches and tickets to auto-close, in seconds.
    #[arg(long, env = "HDMS_SLA_CHECK_INTERVAL", default_value_t = 30)]
    pub sla_check_interval_secs: u64,

    /// Log format: `pretty` for people, `json` for log collectors.
    #[arg(long, env = "HDMS_LOG_FORMAT", default_value = "pretty")]
    pub log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Pretty,
    Json,
}

impl Config {
    /// The defaults, as if started with no flags and no environment.
    pub fn defaults() -> Self {
        Config::parse_from(["hdms-server"])
    }

    pub fn access_token_ttl(&self) -> Duration {
        Duration::from_secs(self.access_token_ttl_secs)
    }

    pub fn refresh_token_ttl(&self) -> Duration {
        Duration::from_secs(self.refresh_token_ttl_secs)
    }

    pub fn login_window(&self) -> Duration {
        Duration::from_secs(self.login_window_secs)
    }
}
