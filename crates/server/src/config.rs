//! Server settings. Each has a default, a command-line flag and an `HDMS_*` environment variable
//! (the flag wins). Tests build a [`Config`] directly.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

#[derive(Debug, Clone, Parser)]
#[command(name = "hdms-server", version = crate::VERSION, about = "The hdms help desk server")]
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

    /// Longest an ordinary request may take, in seconds, before it answers 408. Requests that
    /// stream a file (attachment uploads, CSV imports) are exempt: they may take as long as
    /// their body keeps arriving (see `HDMS_BODY_IDLE_TIMEOUT`).
    #[arg(long, env = "HDMS_REQUEST_TIMEOUT", default_value_t = 60)]
    pub request_timeout_secs: u64,

    /// Longest pause between two chunks of a request body, in seconds, before the request fails:
    /// what bounds a streamed upload or import from a client that stopped sending.
    #[arg(long, env = "HDMS_BODY_IDLE_TIMEOUT", default_value_t = 30)]
    pub body_idle_timeout_secs: u64,

    /// Slowest average rate, in bytes per second, at which a streamed body (an attachment
    /// upload, a CSV import) may arrive once
    /// `HDMS_UPLOAD_MIN_RATE_GRACE` has passed since its request began; a slower one fails with
    /// 408 `upload_too_slow`. Sheds clients that trickle just inside the idle timeout. 0 turns
    /// it off.
    #[arg(long, env = "HDMS_UPLOAD_MIN_BYTES_PER_SEC", default_value_t = 1024)]
    pub upload_min_bytes_per_sec: u64,

    /// Seconds a streamed body may take before its average rate is held to
    /// `HDMS_UPLOAD_MIN_BYTES_PER_SEC` (room for a slow start).
    #[arg(long, env = "HDMS_UPLOAD_MIN_RATE_GRACE", default_value_t = 60)]
    pub upload_min_rate_grace_secs: u64,

    /// Longest a client may take to send a request's line and headers, in seconds, before the
    /// connection is closed (it also closes a keep-alive connection idle that long). Sheds clients
    /// that trickle their headers to hold connections open (slowloris).
    #[arg(long, env = "HDMS_HEADER_READ_TIMEOUT", default_value_t = 30)]
    pub header_read_timeout_secs: u64,

    /// Largest request line and headers together, in bytes (at least 8192); beyond it the answer
    /// is 431 and the connection is closed. Access tokens are well under 1 KiB.
    #[arg(long, env = "HDMS_MAX_HEADER_BYTES", default_value_t = 64 * 1024)]
    pub max_header_bytes: usize,

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

    /// How often the rules job checks time rules ("in pending_customer for 5 days"), in seconds.
    /// Each run looks at a bounded batch of tickets per rule and goes on from there next time.
    #[arg(long, env = "HDMS_RULES_CHECK_INTERVAL", default_value_t = 60)]
    pub rules_check_interval_secs: u64,

    /// Realtime events a websocket connection may fall behind by before it is told to resync.
    #[arg(long, env = "HDMS_WS_BACKLOG", default_value_t = 4096)]
    pub ws_backlog: usize,

    /// Seconds a websocket send may wait on a client that stopped reading before the connection
    /// is closed (the client reconnects and catches up from its last `seq`).
    #[arg(long, env = "HDMS_WS_SEND_DEADLINE", default_value_t = 10)]
    pub ws_send_deadline_secs: u64,

    /// Requests per second one credential (bearer token) may make, sustained; 0 turns the limit
    /// off. Beyond it, and its burst, requests answer 429 with `Retry-After`.
    #[arg(long, env = "HDMS_RATE_LIMIT_PER_SECOND", default_value_t = 50)]
    pub rate_limit_per_second: u32,

    /// Requests one credential may make at once before the sustained rate applies.
    #[arg(long, env = "HDMS_RATE_LIMIT_BURST", default_value_t = 500)]
    pub rate_limit_burst: u32,

    /// Requests per second from one client address, sustained (all its credentials and anonymous
    /// requests together; set it with several people behind one NAT in mind); 0 turns it off.
    #[arg(long, env = "HDMS_RATE_LIMIT_PER_ADDRESS_PER_SECOND", default_value_t = 100)]
    pub rate_limit_per_address_per_second: u32,

    /// Requests one client address may make at once before the sustained rate applies.
    #[arg(long, env = "HDMS_RATE_LIMIT_PER_ADDRESS_BURST", default_value_t = 1000)]
    pub rate_limit_per_address_burst: u32,

    /// Header a reverse proxy puts the client's address in (e.g. `X-Real-IP` or
    /// `X-Forwarded-For`, whose last entry is used). Set it only behind a proxy that sets the
    /// header itself: clients could otherwise choose the address they are counted as.
    #[arg(long, env = "HDMS_CLIENT_IP_HEADER", value_parser = parse_header_name)]
    pub client_ip_header: Option<axum::http::HeaderName>,

    /// Websocket connections one person may hold open at once (0: no cap).
    #[arg(long, env = "HDMS_WS_MAX_CONNECTIONS_PER_USER", default_value_t = 16)]
    pub ws_max_connections_per_user: usize,

    /// Websocket messages per second one person may send, sustained (0: no limit); beyond it
    /// and its burst a message is refused with a `too_many_requests` error message.
    #[arg(long, env = "HDMS_WS_MESSAGES_PER_SECOND", default_value_t = 20)]
    pub ws_messages_per_second: u32,

    /// Websocket messages one person may send at once before the sustained rate applies.
    #[arg(long, env = "HDMS_WS_MESSAGES_BURST", default_value_t = 200)]
    pub ws_messages_burst: u32,

    /// Log format: `pretty` for people, `json` for log collectors.
    #[arg(long, env = "HDMS_LOG_FORMAT", default_value = "pretty")]
    pub log_format: LogFormat,

    /// ClamAV daemon that scans every attachment: `tcp://host:port` or the path of its unix
    /// socket. Without it files cannot be scanned (see the unscanned-file policy).
    #[arg(long, env = "HDMS_CLAMD")]
    pub clamd: Option<String>,

    /// Default policy for files while no scanner is configured: `block` (not downloadable) or
    /// `allow` (downloadable, marked unscanned). Admins can change it at run time.
    #[arg(long, env = "HDMS_UNSCANNED_POLICY", default_value = "block")]
    pub unscanned_policy: UnscannedPolicyArg,

    /// Largest attachment, in bytes (default 25 MiB). Keep clamd's `StreamMaxLength` at least
    /// this large, or large files fail their scan.
    #[arg(long, env = "HDMS_ATTACHMENT_MAX_BYTES", default_value_t = 25 * 1024 * 1024)]
    pub attachment_max_bytes: u64,

    /// Most live attachments on one ticket.
    #[arg(long, env = "HDMS_ATTACHMENT_MAX_PER_TICKET", default_value_t = 100)]
    pub attachment_max_per_ticket: u32,

    /// Types refused on upload, comma separated: MIME types matched against the type sniffed
    /// from the content and the declared type, and `.ext` entries matched against the name.
    #[arg(long, env = "HDMS_ATTACHMENT_BLOCKED_TYPES", value_delimiter = ',', default_value = DEFAULT_BLOCKED_TYPES)]
    pub attachment_blocked_types: Vec<String>,

    /// Where attachment content is kept: `local` (under the data directory) or `s3` (any
    /// S3-compatible service, shared by every instance).
    #[arg(long, env = "HDMS_STORAGE", default_value = "local")]
    pub storage: StorageKind,

    /// Directory for attachment content with `local` storage (default: `files` in the data
    /// directory).
    #[arg(long, env = "HDMS_STORAGE_DIR")]
    pub storage_dir: Option<PathBuf>,

    /// S3 endpoint URL (e.g. `https://s3.eu-west-1.amazonaws.com` or a MinIO address); unset
    /// means AWS's default for the region.
    #[arg(long, env = "HDMS_S3_ENDPOINT")]
    pub s3_endpoint: Option<String>,

    /// S3 bucket (must exist).
    #[arg(long, env = "HDMS_S3_BUCKET")]
    pub s3_bucket: Option<String>,

    #[arg(long, env = "HDMS_S3_REGION", default_value = "us-east-1")]
    pub s3_region: String,

    #[arg(long, env = "HDMS_S3_ACCESS_KEY_ID")]
    pub s3_access_key_id: Option<String>,

    #[arg(long, env = "HDMS_S3_SECRET_ACCESS_KEY", hide_env_values = true)]
    pub s3_secret_access_key: Option<String>,

    /// First wait before retrying a failed scan, in milliseconds; doubles on each failure up to
    /// ten minutes.
    #[arg(long, env = "HDMS_SCAN_RETRY_BASE_MS", default_value_t = 5_000)]
    pub scan_retry_base_ms: u64,

    /// How often the scan worker looks for work it was not woken for (other instances'
    /// uploads, retries), in milliseconds.
    #[arg(long, env = "HDMS_SCAN_POLL_MS", default_value_t = 2_000)]
    pub scan_poll_ms: u64,

    /// How text messages are sent: `log` (written to the server log, nothing leaves the
    /// machine) or `http` (POSTed to an SMS gateway, see the `--sms-http-*` settings).
    #[arg(long, env = "HDMS_SMS_PROVIDER", default_value = "log")]
    pub sms_provider: SmsProviderKind,

    /// The SMS gateway's URL that each message is POSTed to (`http` provider).
    #[arg(long, env = "HDMS_SMS_HTTP_URL")]
    pub sms_http_url: Option<String>,

    /// Body of the POST, with `{to}` (E.164 number), `{text}` and `{id}` (the message's id, the
    /// same on every attempt) replaced by values escaped for the content type: JSON string
    /// escapes for `*json`, form encoding for `application/x-www-form-urlencoded`, XML escapes
    /// for `*xml`, as is otherwise.
    #[arg(long, env = "HDMS_SMS_HTTP_BODY", default_value = r#"{"to":"{to}","text":"{text}"}"#)]
    pub sms_http_body: String,

    /// Content type of that body.
    #[arg(long, env = "HDMS_SMS_HTTP_CONTENT_TYPE", default_value = "application/json")]
    pub sms_http_content_type: String,

    /// Header authenticating to the gateway, as `Name: value` (e.g. `Authorization: Bearer
    /// …` or `X-Api-Key: …`); a value alone is sent as `Authorization`.
    #[arg(long, env = "HDMS_SMS_HTTP_AUTH_HEADER", hide_env_values = true)]
    pub sms_http_auth_header: Option<String>,

    /// JSON pointer to the gateway's message id in its answer, recorded with the delivery.
    #[arg(long, env = "HDMS_SMS_HTTP_ID_POINTER", default_value = "/id")]
    pub sms_http_id_pointer: String,

    /// How long one request to the gateway may take, in seconds.
    #[arg(long, env = "HDMS_SMS_HTTP_TIMEOUT", default_value_t = 10)]
    pub sms_http_timeout_secs: u64,

    /// Attempts at delivering one message before it is marked failed.
    #[arg(long, env = "HDMS_SMS_MAX_ATTEMPTS", default_value_t = 5)]
    pub sms_max_attempts: u32,

    /// Wait before the second attempt at a message, in milliseconds; doubles after each failed
    /// attempt, up to an hour (or longer when the gateway's `Retry-After` says so).
    #[arg(long, env = "HDMS_SMS_RETRY_BASE_MS", default_value_t = 5_000)]
    pub sms_retry_base_ms: u64,

    /// How often the SMS worker looks for messages due, in milliseconds.
    #[arg(long, env = "HDMS_SMS_POLL_MS", default_value_t = 1_000)]
    pub sms_poll_ms: u64,

    /// Domain of the Message-IDs hdms makes for the mail it sends (`<…@DOMAIN>`); mail coming
    /// in with a Message-ID of this domain is our own coming back and never answered.
    #[arg(long, env = "HDMS_MAIL_DOMAIN", default_value = "hdms.localhost")]
    pub mail_domain: String,

    /// Largest raw message the mail ingest route takes, in bytes (default 50 MiB: attachments
    /// at their limit, grown by a third in base64).
    #[arg(long, env = "HDMS_MAIL_MAX_BYTES", default_value_t = 50 * 1024 * 1024)]
    pub mail_max_bytes: usize,

    /// Attempts at sending one mail before it is given up (temporary SMTP failures are retried;
    /// a permanent one fails at once).
    #[arg(long, env = "HDMS_MAIL_MAX_ATTEMPTS", default_value_t = 8)]
    pub mail_max_attempts: u32,

    /// Wait before the second attempt at a mail, in milliseconds; doubles after each failed
    /// attempt, up to an hour.
    #[arg(long, env = "HDMS_MAIL_RETRY_BASE_MS", default_value_t = 30_000)]
    pub mail_retry_base_ms: u64,

    /// How often the mail sender looks for mail due, in milliseconds.
    #[arg(long, env = "HDMS_MAIL_POLL_MS", default_value_t = 1_000)]
    pub mail_poll_ms: u64,

    /// How often each instance looks for IMAP mailboxes no instance polls, in milliseconds.
    #[arg(long, env = "HDMS_MAIL_IMAP_TICK_MS", default_value_t = 1_000)]
    pub mail_imap_tick_ms: u64,

    /// A PEM file of certificate authorities trusted for the TLS of IMAP servers, beside the
    /// system's: for a mail server inside your network whose certificate your own CA signed.
    #[arg(long, env = "HDMS_MAIL_CA_FILE")]
    pub mail_ca_file: Option<PathBuf>,

    /// Automatic answers (acknowledgements, refusals) one address gets per 24 hours at most.
    #[arg(long, env = "HDMS_MAIL_AUTO_REPLY_LIMIT", default_value_t = 3)]
    pub mail_auto_reply_limit: u32,

    /// How long one webhook request may take, in seconds (the Standard Webhooks advice: 15).
    #[arg(long, env = "HDMS_WEBHOOK_TIMEOUT", default_value_t = 15)]
    pub webhook_timeout_secs: u64,

    /// How often the webhook worker looks for deliveries due, in milliseconds.
    #[arg(long, env = "HDMS_WEBHOOK_POLL_MS", default_value_t = 1_000)]
    pub webhook_poll_ms: u64,

    /// Networks webhooks may be delivered to although they are loopback, private, link-local
    /// or metadata addresses (refused by default), comma-separated CIDRs: e.g.
    /// `10.20.0.0/16,127.0.0.1/32` for receivers inside your network.
    #[arg(long, env = "HDMS_WEBHOOK_ALLOW", value_delimiter = ',')]
    pub webhook_allow: Vec<ipnet::IpNet>,
}

fn parse_header_name(value: &str) -> Result<axum::http::HeaderName, String> {
    axum::http::HeaderName::try_from(value).map_err(|err| format!("not a header name: {err}"))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Pretty,
    Json,
}

/// Executables, installers and scripts a help desk has no reason to pass around.
pub const DEFAULT_BLOCKED_TYPES: &str = "application/x-executable,application/vnd.microsoft.portable-executable,\
application/x-msdownload,application/x-mach-binary,application/java,application/vnd.android.dex,\
application/java-archive,application/vnd.android.package-archive,text/x-shellscript,application/x-sh,\
.exe,.dll,.com,.scr,.pif,.cpl,.msi,.msp,.bat,.cmd,.ps1,.vbs,.vbe,.js,.jse,.wsf,.wsh,.hta,.lnk,.reg,\
.jar,.apk,.app,.sh,.elf";

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum UnscannedPolicyArg {
    Block,
    Allow,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum StorageKind {
    Local,
    S3,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SmsProviderKind {
    Log,
    Http,
}

impl Config {
    /// The defaults, as if started with no flags and no environment.
    pub fn defaults() -> Self {
        Config::parse_from(["hdms-server"])
    }

    /// Turns every request and websocket message rate limit off: for benchmarks, which drive
    /// one server far harder than any one person or address should.
    pub fn without_rate_limits(mut self) -> Self {
        self.rate_limit_per_second = 0;
        self.rate_limit_per_address_per_second = 0;
        self.ws_messages_per_second = 0;
        self
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

    pub fn scan_retry_base(&self) -> Duration {
        Duration::from_millis(self.scan_retry_base_ms)
    }

    pub fn scan_poll(&self) -> Duration {
        Duration::from_millis(self.scan_poll_ms)
    }

    pub fn sms_retry_base(&self) -> Duration {
        Duration::from_millis(self.sms_retry_base_ms)
    }

    pub fn sms_poll(&self) -> Duration {
        Duration::from_millis(self.sms_poll_ms)
    }

    pub fn sms_http_timeout(&self) -> Duration {
        Duration::from_secs(self.sms_http_timeout_secs)
    }

    pub fn mail_retry_base(&self) -> Duration {
        Duration::from_millis(self.mail_retry_base_ms)
    }

    pub fn mail_poll(&self) -> Duration {
        Duration::from_millis(self.mail_poll_ms)
    }

    pub fn webhook_timeout(&self) -> Duration {
        Duration::from_secs(self.webhook_timeout_secs)
    }

    pub fn webhook_poll(&self) -> Duration {
        Duration::from_millis(self.webhook_poll_ms)
    }

    pub fn mail_imap_tick(&self) -> Duration {
        Duration::from_millis(self.mail_imap_tick_ms)
    }

    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.request_timeout_secs)
    }

    pub fn header_read_timeout(&self) -> Duration {
        Duration::from_secs(self.header_read_timeout_secs)
    }

    pub fn body_idle_timeout(&self) -> Duration {
        Duration::from_secs(self.body_idle_timeout_secs)
    }

    pub fn upload_min_rate_grace(&self) -> Duration {
        Duration::from_secs(self.upload_min_rate_grace_secs)
    }
}
