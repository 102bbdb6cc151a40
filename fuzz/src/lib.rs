//! What every fuzz target shares: one real hdms server per fuzzing process (the same `start`,
//! migrations, router and middleware as production), a few people and tickets in it, and
//! requests sent straight into its router, so an input costs no socket.
//!
//! The property every target checks through it is the one the project holds everywhere: a 500
//! is always a bug, so no input may produce one (a panicking handler is caught and answered 500
//! too). The websocket target also talks to it over a real socket (`url`).
//!
//! The server runs on a fresh SQLite database in a temporary directory; with
//! `HDMS_FUZZ_POSTGRES_URL` (an admin URL such as `postgres://postgres@127.0.0.1:5432/test`) it
//! runs on a fresh PostgreSQL database there instead, so both backends' SQL (and both full-text
//! search syntaxes) are fuzzed.

use std::sync::OnceLock;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{Method, Request, StatusCode, header};
use hdms_api_types::Role;
use hdms_api_types::client::Client;
use hdms_api_types::tickets::CreateTicket;
use hdms_api_types::users::CreateUser;
use hdms_server::config::Config;
use hdms_server::state::AppState;
use http_body_util::BodyExt;
use sqlx::Connection;
use tower::ServiceExt;
use uuid::Uuid;

const ADMIN_EMAIL: &str = "admin@example.com";
const PASSWORD: &str = "a long enough password for fuzzing";

/// One running server and what the targets need to talk to it.
pub struct Desk {
    pub runtime: tokio::runtime::Runtime,
    pub router: Router,
    pub state: AppState,
    /// The same server on a loopback port (`http://127.0.0.1:…`), for the websocket.
    pub url: String,
    pub admin: Person,
    pub agent: Person,
    pub customer: Person,
    /// A ticket the customer raised (everyone may see it) and one the agent raised for nobody
    /// in particular (the customer may not).
    pub customer_ticket: Uuid,
    pub staff_ticket: Uuid,
    _data_dir: tempfile::TempDir,
}

pub struct Person {
    pub id: Uuid,
    pub token: String,
}

/// An answer: status and body.
pub struct Answer {
    pub status: StatusCode,
    pub body: Bytes,
}

impl Answer {
    /// Panics (a crash for libFuzzer) on any 5xx, saying what was sent and answered.
    #[track_caller]
    pub fn assert_no_server_error(&self, what: &dyn std::fmt::Debug) {
        assert!(
            !self.status.is_server_error(),
            "{what:?} was answered {}: {}",
            self.status,
            String::from_utf8_lossy(&self.body)
        );
    }

    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }
}

/// The process's server, started on first use.
pub fn desk() -> &'static Desk {
    static DESK: OnceLock<Desk> = OnceLock::new();
    DESK.get_or_init(Desk::start)
}

impl Desk {
    fn start() -> Desk {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
        let data_dir = tempfile::tempdir().expect("temp dir");
        let mut config = Config::defaults().without_rate_limits();
        config.data_dir = data_dir.path().to_path_buf();
        config.jwt_secret = Some("fuzz-secret-fuzz-secret-fuzz-secret-0123".to_owned());
        config.admin_email = Some(ADMIN_EMAIL.to_owned());
        config.admin_password = Some(PASSWORD.to_owned());
        config.db_max_connections = 4;
        // Long runs (an hour and more) must not turn into a stream of 401s.
        config.access_token_ttl_secs = 30 * 24 * 3600;
        // Uploads are deleted after each input; a high cap keeps a slow delete from refusing.
        config.attachment_max_per_ticket = 100_000;
        // The websocket target opens a connection per input; closing ones may linger a moment.
        config.ws_max_connections_per_user = 10_000;
        if let Ok(admin_url) = std::env::var("HDMS_FUZZ_POSTGRES_URL") {
            config.database_url = Some(runtime.block_on(fresh_postgres_database(&admin_url)));
        }
        let (state, url) = runtime.block_on(async {
            let started = hdms_server::start(config).await.expect("server starts");
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
            let url = format!("http://{}", listener.local_addr().expect("address"));
            let state = started.state.clone();
            tokio::spawn(hdms_server::serve(listener, started.state, std::future::pending()));
            (state, url)
        });
        let router = hdms_server::app::router(state.clone());
        let (admin, agent, customer, customer_ticket, staff_ticket) = runtime.block_on(people_and_tickets(&url));
        Desk { runtime, router, state, url, admin, agent, customer, customer_ticket, staff_ticket, _data_dir: data_dir }
    }

    /// Sends `request` through the router and reads the whole answer.
    pub fn send(&self, request: Request<Body>) -> Answer {
        self.runtime.block_on(async {
            let response = self.router.clone().oneshot(request).await.expect("the router is infallible");
            let status = response.status();
            let body = response.into_body().collect().await.map(|collected| collected.to_bytes()).unwrap_or_default();
            Answer { status, body }
        })
    }

    /// A request as `person` (a bearer token), or anonymous.
    pub fn request(&self, method: Method, uri: &str, person: Option<&Person>) -> axum::http::request::Builder {
        let mut builder = Request::builder().method(method).uri(uri);
        if let Some(person) = person {
            builder = builder.header(header::AUTHORIZATION, format!("Bearer {}", person.token));
        }
        builder
    }

    pub fn person(&self, role: Role) -> &Person {
        match role {
            Role::Admin | Role::Supervisor => &self.admin,
            Role::Agent => &self.agent,
            Role::Customer => &self.customer,
        }
    }
}

async fn people_and_tickets(url: &str) -> (Person, Person, Person, Uuid, Uuid) {
    let admin = Client::new(url).expect("client");
    let login = admin.login(ADMIN_EMAIL, PASSWORD).await.expect("admin logs in");
    let admin_person = Person { id: login.user.id, token: login.access_token };
    let mut others = Vec::new();
    for role in [Role::Agent, Role::Customer] {
        let email = format!("{role}@example.com");
        admin
            .create_user(&CreateUser { email: email.clone(), name: format!("Fuzz {role}"), role, phone: None, password: Some(PASSWORD.to_owned()) })
            .await
            .expect("create user");
        let client = Client::new(url).expect("client");
        let login = client.login(&email, PASSWORD).await.expect("user logs in");
        others.push((client, Person { id: login.user.id, token: login.access_token }));
    }
    let (customer_client, customer) = others.pop().expect("customer");
    let (agent_client, agent) = others.pop().expect("agent");
    let ticket = |subject: &str, description: &str| CreateTicket {
        subject: subject.to_owned(),
        description: description.to_owned(),
        priority: None,
        category: None,
        tags: vec!["printer".to_owned()],
        team_id: None,
        requester_id: None,
    };
    let customer_ticket = customer_client
        .create_ticket(&ticket("Printer on floor 3 jams", "Since Monday every job jams; the café's printer works."))
        .await
        .expect("customer ticket")
        .id;
    let staff_ticket = agent_client
        .create_ticket(&ticket("VPN drops every hour", "Reported by several people: \"NEAR\" the firewall AND OR NOT."))
        .await
        .expect("staff ticket")
        .id;
    (admin_person, agent, customer, customer_ticket, staff_ticket)
}

/// A new database on the PostgreSQL at `admin_url`, named so the server tests' clean-up drops
/// it once it is an hour old.
async fn fresh_postgres_database(admin_url: &str) -> String {
    let mut admin = sqlx::PgConnection::connect(admin_url).await.expect("PostgreSQL at HDMS_FUZZ_POSTGRES_URL");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs();
    let name = format!("hdms_t_{now}_fuzz{}_0", std::process::id());
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&mut admin).await.expect("create database");
    let base = admin_url.rsplit_once('/').expect("URL has a database").0;
    format!("{base}/{name}")
}

/// Percent-encodes `text` for a query string (every byte but unreserved ones).
pub fn query_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 3);
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// How long a single request may take before it counts as a slow query: the fuzzing database
/// holds a handful of rows, so anything near this is an input that makes the work explode.
pub const SLOW: Duration = Duration::from_secs(2);

/// The first line of a fuzz input (without its LF) and the rest: targets read a readable
/// header line (who, which options) before the bytes under test, so seeds are plain files.
pub fn first_line(data: &[u8]) -> (&[u8], &[u8]) {
    match data.iter().position(|&b| b == b'\n') {
        Some(end) => (&data[..end], &data[end + 1..]),
        None => (data, &[]),
    }
}

/// Who sends an input: `a…` an admin, `g…` an agent, anything else a customer.
pub fn role_of(line: &[u8]) -> hdms_api_types::Role {
    match line.first() {
        Some(b'a') => hdms_api_types::Role::Admin,
        Some(b'g') => hdms_api_types::Role::Agent,
        _ => hdms_api_types::Role::Customer,
    }
}
