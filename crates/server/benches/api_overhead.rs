//! What the server's hot paths cost against what the machine can do, on SQLite and PostgreSQL:
//! each figure is a ratio against a baseline measured in the same run, because these machines
//! are noisy.
//!
//! - `GET /api/v1/tickets/{id}` (as an admin), `GET /api/v1/users/me`, a queue page
//!   (`GET /api/v1/tickets`, 50 tickets) and `POST /api/v1/tickets/{id}/comments`, each under 32
//!   connections, against `GET /healthz` of the same server (the mean of a run before and one
//!   after them);
//! - sequential ticket creates (one connection) against a bare axum handler doing the same
//!   inserts in one transaction on the same database;
//! - login latency against a bare handler answering the same bytes.
//!
//! The server is the real `hdms-server` binary (release build, its own process, logging every
//! request to a file as it does in production); the load comes from `wrk`, another process, so
//! the client's work is not the server's (install it with `apt-get install -y wrk`).
//!
//! `cargo bench -p hdms-server --bench api_overhead`. Knobs: `HDMS_BENCH_BACKENDS`
//! (`sqlite,postgres`), `HDMS_BENCH_SECONDS` (per wrk run, default 5), `HDMS_BENCH_POSTGRES_URL`
//! (a server on which a fresh database is created and dropped; default 127.0.0.1:5432, database
//! `test`), `HDMS_BENCH_ONLY` (a comma-separated subset of `healthz,me,ticket,queue,comment,
//! create,bare_create,login`, for profiling one route), `HDMS_BENCH_SERVER_WRAPPER` (a command
//! the server runs under, e.g. `valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.%p`),
//! `HDMS_BENCH_SERVER_BIN` (another build of `hdms-server` to measure, e.g. the last release's,
//! for before and after figures from one kind of run).

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::routing::post;
use chrono::{DateTime, Utc};
use hdms_api_types::client::Client;
use hdms_api_types::sla::SlaPolicyInput;
use hdms_api_types::teams::CreateTeam;
use hdms_api_types::tickets::{CreateComment, CreateTicket, Priority};
use sqlx::Connection;
use sqlx::postgres::PgPool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool};
use tokio::net::TcpListener;
use uuid::Uuid;

// As the server binary: the bare handlers should not lose to a slower allocator.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const EMAIL: &str = "bench@example.com";
const PASSWORD: &str = "bench password 123";
const LOGINS: usize = 40;
const CONNECTIONS: u32 = 32;
const SEEDED_TICKETS: usize = 200;
/// Comments go to this many tickets in turn, so 32 writers do not all queue on one row.
const COMMENTED_TICKETS: usize = 8;

struct Knobs {
    backends: Vec<String>,
    seconds: u64,
    postgres_url: String,
    only: Option<Vec<String>>,
    server_wrapper: Option<String>,
    server_bin: Option<String>,
}

impl Knobs {
    fn from_env() -> Knobs {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let list = |v: String| v.split(',').map(|s| s.trim().to_owned()).collect::<Vec<_>>();
        Knobs {
            backends: var("HDMS_BENCH_BACKENDS").map_or_else(|| vec!["sqlite".into(), "postgres".into()], list),
            seconds: var("HDMS_BENCH_SECONDS").and_then(|s| s.parse().ok()).unwrap_or(5),
            postgres_url: var("HDMS_BENCH_POSTGRES_URL").unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/test".to_owned()),
            only: var("HDMS_BENCH_ONLY").map(list),
            server_wrapper: var("HDMS_BENCH_SERVER_WRAPPER"),
            server_bin: var("HDMS_BENCH_SERVER_BIN"),
        }
    }

    fn runs(&self, measure: &str) -> bool {
        self.only.as_ref().is_none_or(|only| only.iter().any(|m| m == measure))
    }
}

/// One backend's figures: requests per second by measure, login latencies.
#[derive(Default)]
struct Figures {
    backend: String,
    rates: Vec<(&'static str, f64)>,
    login: Option<(Duration, Duration)>,
    bare_login: Option<(Duration, Duration)>,
}

impl Figures {
    fn rate(&self, measure: &str) -> Option<f64> {
        self.rates.iter().find(|(m, _)| *m == measure).map(|(_, r)| *r)
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    wrk::check_installed()?;
    let knobs = Knobs::from_env();
    let mut report = Vec::new();
    for backend in &knobs.backends {
        report.push(measure_backend(backend, &knobs).await?);
    }
    print_report(&report, &knobs);
    Ok(())
}

async fn measure_backend(backend: &str, knobs: &Knobs) -> anyhow::Result<Figures> {
    let server = ServerProcess::start(backend, knobs).await?;
    let seeded = seed(&server.url).await?;
    let bare = BareServer::start(&server, &seeded).await?;
    let mut figures = Figures { backend: backend.to_owned(), ..Figures::default() };
    let token = &seeded.token;
    let api = |path: &str| format!("{}{path}", server.url);

    let mut healthz = Vec::new();
    if knobs.runs("healthz") {
        healthz.push(wrk::run(knobs, &Load::get(api("/healthz"), None), CONNECTIONS).await?);
    }
    let ticket_path = format!("/api/v1/tickets/{}", seeded.ticket);
    let comment_paths: Vec<String> = seeded.commented.iter().map(|id| format!("/api/v1/tickets/{id}/comments")).collect();
    let comment = serde_json::to_string(&CreateComment { body: "Thanks, we are looking into it.".into(), internal: false })?;
    let concurrent = [
        ("me", Load::get(api("/api/v1/users/me"), Some(token))),
        ("ticket", Load::get(api(&ticket_path), Some(token))),
        ("queue", Load::get(api("/api/v1/tickets"), Some(token))),
        ("comment", Load::post(&server.url, comment_paths.clone(), comment, token)),
    ];
    for (measure, load) in concurrent {
        if knobs.runs(measure) {
            figures.rates.push((measure, wrk::run(knobs, &load, CONNECTIONS).await?));
        }
    }
    if knobs.runs("healthz") {
        healthz.push(wrk::run(knobs, &Load::get(api("/healthz"), None), CONNECTIONS).await?);
        figures.rates.push(("healthz", healthz.iter().sum::<f64>() / healthz.len() as f64));
    }
    let create = serde_json::to_string(&seeded.create)?;
    if knobs.runs("create") {
        let load = Load::post(&server.url, vec!["/api/v1/tickets".into()], create.clone(), token);
        figures.rates.push(("create", wrk::run(knobs, &load, 1).await?));
    }
    if knobs.runs("bare_create") {
        let load = Load::post(&bare.url, vec!["/api/v1/tickets".into()], create, token);
        figures.rates.push(("bare_create", wrk::run(knobs, &load, 1).await?));
    }
    if knobs.runs("login") {
        figures.login = Some(login_latency(&server.url).await?);
        figures.bare_login = Some(login_latency(&bare.url).await?);
    }
    server.stop(knobs).await;
    Ok(figures)
}

fn print_report(report: &[Figures], knobs: &Knobs) {
    println!("\nhdms API overhead: wrk, {} s a run, -c{CONNECTIONS} (creates: -c1); ratios against the same run's baseline", knobs.seconds);
    println!("{:<9} {:<44} {:>10} {:>14} {:>8} {:>8}", "backend", "measure", "req/s", "baseline req/s", "ratio", "target");
    for figures in report {
        let healthz = figures.rate("healthz");
        let rows: [(&str, &str, Option<f64>, &str); 5] = [
            ("ticket", "GET /tickets/{id} (admin) vs /healthz", healthz, ">= 0.3"),
            ("me", "GET /users/me vs /healthz", healthz, ">= 0.5"),
            ("queue", "GET /tickets (page of 50) vs /healthz", healthz, ""),
            ("comment", "POST /tickets/{id}/comments vs /healthz", healthz, ""),
            ("create", "sequential creates vs bare inserts in one tx", figures.rate("bare_create"), ">= 0.5"),
        ];
        for (measure, label, baseline, target) in rows {
            let (Some(rate), Some(baseline)) = (figures.rate(measure), baseline) else { continue };
            println!("{:<9} {label:<44} {rate:>10.0} {baseline:>14.0} {:>7.3}x {target:>8}", figures.backend, rate / baseline);
        }
        if let (Some((p50, p99)), Some((bare50, bare99))) = (figures.login, figures.bare_login) {
            println!(
                "{:<9} {:<44} p50 {p50:.2?} ({:.1}x bare), p99 {p99:.2?} ({:.1}x bare)",
                figures.backend,
                "login latency (argon2id) vs bare handler",
                p50.as_secs_f64() / bare50.as_secs_f64(),
                p99.as_secs_f64() / bare99.as_secs_f64(),
            );
        }
    }
}

// --- the server under test ---------------------------------------------------------------

/// The release `hdms-server` binary, in its own process, on a fresh database.
struct ServerProcess {
    child: tokio::process::Child,
    url: String,
    data_dir: tempfile::TempDir,
    /// The fresh PostgreSQL database's URL (dropped when the server stops); `None` on SQLite.
    postgres: Option<String>,
}

impl ServerProcess {
    async fn start(backend: &str, knobs: &Knobs) -> anyhow::Result<ServerProcess> {
        let data_dir = tempfile::tempdir()?;
        let postgres = match backend {
            "sqlite" => None,
            "postgres" => Some(fresh_postgres(&knobs.postgres_url).await?),
            other => anyhow::bail!("HDMS_BENCH_BACKENDS: unknown backend {other} (sqlite or postgres)"),
        };
        let port = free_port()?;
        let mut command = server_command(knobs);
        command
            .env("HDMS_BIND", format!("127.0.0.1:{port}"))
            .env("HDMS_DATA_DIR", data_dir.path())
            .env("HDMS_ADMIN_EMAIL", EMAIL)
            .env("HDMS_ADMIN_PASSWORD", PASSWORD)
            .env("HDMS_ACCESS_TOKEN_TTL", "86400")
            // Rate limits are for people; a benchmark drives one token far harder.
            .env("HDMS_RATE_LIMIT_PER_SECOND", "0")
            .env("HDMS_RATE_LIMIT_PER_ADDRESS_PER_SECOND", "0")
            .env("HDMS_LOGIN_MAX_FAILURES", "1000000")
            .env_remove("HDMS_DATABASE_URL")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(data_dir.path().join("server.log"))?)
            .kill_on_drop(true);
        if let Some(url) = &postgres {
            command.env("HDMS_DATABASE_URL", url);
        }
        let child = command.spawn()?;
        let server = ServerProcess { child, url: format!("http://127.0.0.1:{port}"), data_dir, postgres };
        server.wait_until_up().await?;
        Ok(server)
    }

    async fn wait_until_up(&self) -> anyhow::Result<()> {
        let started = Instant::now();
        let http = reqwest::Client::new();
        // Minutes, not seconds: under callgrind the server starts some fifty times slower.
        while started.elapsed() < Duration::from_secs(300) {
            if http.get(format!("{}/healthz", self.url)).send().await.is_ok_and(|r| r.status().is_success()) {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        anyhow::bail!("the server did not answer /healthz; see {}", self.log().display())
    }

    fn log(&self) -> PathBuf {
        self.data_dir.path().join("server.log")
    }

    fn sqlite_file(&self) -> PathBuf {
        self.data_dir.path().join("hdms.sqlite3")
    }

    /// Stops the server with SIGTERM (a profiler under it writes its output then), then drops
    /// its PostgreSQL database.
    async fn stop(mut self, knobs: &Knobs) {
        if let Some(pid) = self.child.id() {
            let _ = std::process::Command::new("kill").arg("-TERM").arg(pid.to_string()).status();
        }
        if tokio::time::timeout(Duration::from_secs(120), self.child.wait()).await.is_err() {
            let _ = self.child.kill().await;
        }
        if let Some(url) = &self.postgres {
            let _ = drop_postgres(&knobs.postgres_url, url).await;
        }
    }
}

fn server_command(knobs: &Knobs) -> tokio::process::Command {
    let server = knobs.server_bin.as_deref().unwrap_or(env!("CARGO_BIN_EXE_hdms-server"));
    match knobs.server_wrapper.as_deref().map(str::split_whitespace) {
        Some(mut wrapper) => {
            let mut command = tokio::process::Command::new(wrapper.next().expect("a wrapper command"));
            command.args(wrapper).arg(server);
            command
        }
        None => tokio::process::Command::new(server),
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

async fn fresh_postgres(admin_url: &str) -> anyhow::Result<String> {
    let mut admin = sqlx::PgConnection::connect(admin_url).await?;
    let name = format!("hdms_bench_{}_{}", std::process::id(), Utc::now().timestamp_millis());
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&mut admin).await?;
    Ok(format!("{}/{name}", admin_url.rsplit_once('/').expect("a database in the URL").0))
}

async fn drop_postgres(admin_url: &str, url: &str) -> anyhow::Result<()> {
    let name = url.rsplit_once('/').expect("a database in the URL").1;
    let mut admin = sqlx::PgConnection::connect(admin_url).await?;
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))).execute(&mut admin).await?;
    Ok(())
}

// --- what the measured requests find -------------------------------------------------------

/// A desk with a team, an SLA policy, and tickets with tags in the team's queue.
struct Seeded {
    token: String,
    admin: Uuid,
    team: Uuid,
    sla_policy: Uuid,
    ticket: Uuid,
    commented: Vec<Uuid>,
    create: CreateTicket,
    /// A create's answer, for the bare handler to send.
    created: Vec<u8>,
}

async fn seed(url: &str) -> anyhow::Result<Seeded> {
    let client = Client::new(url)?;
    let token = client.login(EMAIL, PASSWORD).await?.access_token;
    let admin = client.me().await?.id;
    let team = client.create_team(&CreateTeam { name: "Hardware".into(), description: None }).await?.id;
    let sla_policy = client
        .create_sla_policy(&SlaPolicyInput {
            name: "Normal".into(),
            priority: Priority::Normal,
            category: None,
            team_id: None,
            first_response_secs: 4 * 3600,
            resolution_secs: 24 * 3600,
            warning_percent: None,
            calendar: None,
        })
        .await?
        .id;
    let create = CreateTicket {
        subject: "The printer on the second floor jams on every page".into(),
        description: "Since this morning every print job stops after one page with a paper jam warning. \
                      We cleared the tray and restarted it twice; it still jams."
            .into(),
        priority: Some(Priority::Normal),
        category: Some("hardware".into()),
        tags: vec!["printer".into(), "floor-2".into()],
        team_id: Some(team),
        requester_id: None,
    };
    let mut ids = Vec::with_capacity(SEEDED_TICKETS);
    let mut created = Vec::new();
    for _ in 0..SEEDED_TICKETS {
        let ticket = client.create_ticket(&create).await?;
        ids.push(ticket.id);
        created = serde_json::to_vec(&ticket)?;
    }
    Ok(Seeded { token, admin, team, sla_policy, ticket: ids[0], commented: ids[1..=COMMENTED_TICKETS].to_vec(), create, created })
}

async fn login_latency(url: &str) -> anyhow::Result<(Duration, Duration)> {
    let client = Client::new(url)?;
    let mut logins = Vec::with_capacity(LOGINS);
    for _ in 0..LOGINS {
        let started = Instant::now();
        client.login(EMAIL, PASSWORD).await?;
        logins.push(started.elapsed());
    }
    logins.sort();
    let percentile = |p: usize| logins[(logins.len() * p / 100).min(logins.len() - 1)];
    Ok((percentile(50), percentile(99)))
}

// --- the bare baseline ---------------------------------------------------------------------

/// A bare axum server in this process: login answers the real server's bytes; a ticket create
/// makes the inserts the real server makes for one (number, ticket, tags, search text, history,
/// watcher) in one transaction on the same database, and answers a real create's bytes.
struct BareServer {
    url: String,
}

struct Bare {
    pool: BarePool,
    seeded: Seeded,
}

enum BarePool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

impl BareServer {
    async fn start(server: &ServerProcess, seeded: &Seeded) -> anyhow::Result<BareServer> {
        let pool = match &server.postgres {
            Some(url) => BarePool::Postgres(PgPool::connect(url).await?),
            None => {
                let options = SqliteConnectOptions::new()
                    .filename(server.sqlite_file())
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(sqlx::sqlite::SqliteSynchronous::Normal)
                    .busy_timeout(Duration::from_secs(10));
                BarePool::Sqlite(SqlitePool::connect_with(options).await?)
            }
        };
        let login = Client::new(&server.url)?.login(EMAIL, PASSWORD).await?;
        let login = serde_json::to_vec(&login)?;
        let bare = Arc::new(Bare { pool, seeded: clone_seeded(seeded) });
        let app = Router::new()
            .route("/api/v1/auth/login", post(move || async move { ([(CONTENT_TYPE, "application/json")], login.clone()) }))
            .route("/api/v1/tickets", post(bare_create))
            .with_state(bare);
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        tokio::spawn(async move { axum::serve(listener, app).await });
        Ok(BareServer { url })
    }
}

fn clone_seeded(s: &Seeded) -> Seeded {
    Seeded {
        token: s.token.clone(),
        admin: s.admin,
        team: s.team,
        sla_policy: s.sla_policy,
        ticket: s.ticket,
        commented: s.commented.clone(),
        create: s.create.clone(),
        created: s.created.clone(),
    }
}

async fn bare_create(State(bare): State<Arc<Bare>>) -> (StatusCode, [(axum::http::HeaderName, &'static str); 1], Vec<u8>) {
    bare.insert_ticket(Utc::now()).await.expect("the bare inserts succeed");
    (StatusCode::CREATED, [(CONTENT_TYPE, "application/json")], bare.seeded.created.clone())
}

/// The statements both backends share, on `$tx` (a transaction of either), for ticket `$id`.
macro_rules! ticket_inserts {
    ($tx:expr, $bare:expr, $id:expr, $now:expr) => {{
        let s = &$bare.seeded;
        let number: i64 = sqlx::query_scalar("UPDATE counters SET value = value + 1 WHERE name = 'ticket_number' RETURNING value")
            .fetch_one(&mut *$tx)
            .await?;
        let due = |hours: i64| $now + chrono::Duration::hours(hours);
        sqlx::query(
            "INSERT INTO tickets (id, number, subject, description, requester_id, team_id, priority, category, status, version, \
             sla_policy_id, sla_used_secs, sla_running_since, first_response_due_at, first_response_warn_at, resolution_due_at, \
             resolution_warn_at, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'new', 1, $9, 0, $10, $11, $12, $13, $14, $10, $10)",
        )
        .bind($id).bind(number).bind(&s.create.subject).bind(&s.create.description).bind(s.admin).bind(s.team)
        .bind(Priority::Normal.rank()).bind(&s.create.category).bind(s.sla_policy).bind($now)
        .bind(due(4)).bind(due(3)).bind(due(24)).bind(due(19))
        .execute(&mut *$tx)
        .await?;
        for tag in &s.create.tags {
            sqlx::query("INSERT INTO ticket_tags (ticket_id, tag) VALUES ($1, $2)").bind($id).bind(tag).execute(&mut *$tx).await?;
        }
        for (field, after) in [("created", format!("HD-{number}")), ("tags", s.create.tags.join(","))] {
            sqlx::query("INSERT INTO ticket_history (id, ticket_id, actor_id, at, field, before, after, internal) VALUES ($1, $2, $3, $4, $5, NULL, $6, FALSE)")
                .bind(Uuid::now_v7()).bind($id).bind(s.admin).bind($now).bind(field).bind(after)
                .execute(&mut *$tx)
                .await?;
        }
        sqlx::query("INSERT INTO ticket_watchers (ticket_id, user_id) VALUES ($1, $2)").bind($id).bind(s.admin).execute(&mut *$tx).await?;
    }};
}

impl Bare {
    async fn insert_ticket(&self, now: DateTime<Utc>) -> anyhow::Result<()> {
        let id = Uuid::now_v7();
        let text = format!("{}\n{}", self.seeded.create.subject, self.seeded.create.description);
        match &self.pool {
            BarePool::Sqlite(pool) => {
                let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
                ticket_inserts!(tx, self, id, now);
                sqlx::query("INSERT INTO search_docs (ticket_id, comment_id, internal, owner, text) VALUES ($1, NULL, FALSE, $2, $3)")
                    .bind(id).bind(format!("t{}", id.simple())).bind(text)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
            }
            BarePool::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                ticket_inserts!(tx, self, id, now);
                sqlx::query("INSERT INTO search_docs (ticket_id, comment_id, internal, text) VALUES ($1, NULL, FALSE, $2)")
                    .bind(id).bind(text)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
            }
        }
        Ok(())
    }
}

// --- the load generator --------------------------------------------------------------------

/// What wrk sends: one URL, or POSTs of a body to several paths in turn.
struct Load {
    url: String,
    script: Option<String>,
}

impl Load {
    fn get(url: String, token: Option<&str>) -> Load {
        let auth = token.map(|t| format!("wrk.headers[\"Authorization\"] = \"Bearer {t}\"\n")).unwrap_or_default();
        Load { url, script: Some(auth) }
    }

    fn post(base: &str, paths: Vec<String>, body: String, token: &str) -> Load {
        let paths: Vec<String> = paths.iter().map(|p| format!("\"{p}\"")).collect();
        let script = format!(
            "wrk.method = \"POST\"\n\
             wrk.body = [==[{body}]==]\n\
             wrk.headers[\"Content-Type\"] = \"application/json\"\n\
             wrk.headers[\"Authorization\"] = \"Bearer {token}\"\n\
             local paths = {{ {} }}\n\
             local i = 0\n\
             request = function()\n  i = i % #paths + 1\n  return wrk.format(nil, paths[i])\nend\n",
            paths.join(", ")
        );
        Load { url: base.to_owned(), script: Some(script) }
    }
}

mod wrk {
    use super::*;

    pub fn check_installed() -> anyhow::Result<()> {
        match std::process::Command::new("wrk").arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status() {
            Ok(_) => Ok(()),
            Err(_) => anyhow::bail!("this bench needs wrk (an HTTP load generator) on PATH: apt-get install -y wrk"),
        }
    }

    /// Requests per second of `load` under `connections`; any error or non-2xx answer fails.
    pub async fn run(knobs: &Knobs, load: &Load, connections: u32) -> anyhow::Result<f64> {
        let dir = tempfile::tempdir()?;
        let script = dir.path().join("load.lua");
        std::fs::write(&script, load.script.as_deref().unwrap_or_default())?;
        let threads = connections.min(2);
        let output = tokio::process::Command::new("wrk")
            .args(["-t", &threads.to_string(), "-c", &connections.to_string(), "-d", &format!("{}s", knobs.seconds)])
            .arg("-s")
            .arg(&script)
            .arg(&load.url)
            .output()
            .await?;
        let text = String::from_utf8_lossy(&output.stdout);
        anyhow::ensure!(output.status.success(), "wrk failed on {}: {text}{}", load.url, String::from_utf8_lossy(&output.stderr));
        check_errors(&text, &load.url)?;
        requests_per_second(&text).ok_or_else(|| anyhow::anyhow!("no Requests/sec in wrk's output: {text}"))
    }

    fn check_errors(text: &str, url: &str) -> anyhow::Result<()> {
        for marker in ["Non-2xx or 3xx responses", "Socket errors"] {
            anyhow::ensure!(!text.contains(marker), "errors from {url}:\n{text}");
        }
        Ok(())
    }

    fn requests_per_second(text: &str) -> Option<f64> {
        text.lines().find_map(|line| line.trim().strip_prefix("Requests/sec:")).and_then(|n| n.trim().parse().ok())
    }
}
