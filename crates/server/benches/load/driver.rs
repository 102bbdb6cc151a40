//! The mixed-load driver (issue 17), shared by `benches/load.rs` (the figures) and
//! `tests/soak.rs` (the CI soak that fails on any error or on memory growth): both include this
//! file with `#[path]`, so the bench and the test drive exactly the same load.
//!
//! The server is the real `hdms-server` binary in its own process (one or two of them, the two
//! sharing one PostgreSQL database), so `/proc/<pid>/status` is the server's memory alone and
//! `/proc/<pid>/stat` its CPU alone. It runs as deployed: default settings except the rate limits
//! (off, as in every bench: one bench address would otherwise be limited like one person), JSON
//! logs at `info` (one line per request, read here to count the server's own warnings and
//! errors).
//!
//! The desk: teams, agents (each in one team) and customers, seeded through the API. Then
//! `agent_workers` agents and `customer_workers` customer streams work in a closed loop with no
//! think time, each step a request picked by weight:
//! - agents page their team's queue, open tickets, read conversations, reply, claim the next
//!   ticket, chat on the ticket they have open over the websocket (each agent holds one live
//!   connection following the queues, as `hdms-tui` does), read and clear notifications;
//! - customers (several per stream) list and open their own tickets, raise new ones for a team,
//!   reply, upload small files, read and clear notifications.
//!
//! Every answer that is not a success is an error (with the first few kept to print), and so are
//! websocket `error`s, a chat echo that does not come back and a closed live connection.

#![allow(dead_code)]

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use hdms_api_types::Role;
use hdms_api_types::client::{Client, Live};
use hdms_api_types::notifications::NotificationListQuery;
use hdms_api_types::teams::CreateTeam;
use hdms_api_types::tickets::{CreateComment, CreateTicket, TicketListQuery};
use hdms_api_types::users::CreateUser;
use hdms_api_types::ws::{ClientMessage, ServerMessage};
use sqlx::Connection;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

const ADMIN_EMAIL: &str = "load-admin@example.com";
const PASSWORD: &str = "load password 1234";
const JWT_SECRET: &str = "load-secret-load-secret-load-secret-0123";
/// How long a server may take to start (a debug build migrating PostgreSQL on a busy machine).
const START_PATIENCE: Duration = Duration::from_secs(120);
/// Longest wait for one websocket answer; reached only when something is broken.
const LIVE_PATIENCE: Duration = Duration::from_secs(10);
/// Recent tickets per team that agents pick from (the top of their queues).
const RECENT_PER_TEAM: usize = 256;
/// Tickets a customer keeps coming back to.
const RECENT_PER_CUSTOMER: usize = 16;
/// Concurrent requests while seeding the desk.
const SEED_CONCURRENCY: usize = 16;
/// Error messages kept to print.
const KEPT_ERRORS: usize = 12;

/// Where the servers run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Setup {
    Sqlite,
    Postgres,
    /// Two `hdms-server` processes on one PostgreSQL database, workers split between them.
    TwoPostgres,
}

impl Setup {
    pub fn name(self) -> &'static str {
        match self {
            Setup::Sqlite => "SQLite, 1 instance",
            Setup::Postgres => "PostgreSQL, 1 instance",
            Setup::TwoPostgres => "PostgreSQL, 2 instances",
        }
    }

    /// `sqlite`, `postgres` or `postgres2`.
    pub fn parse(text: &str) -> Option<Setup> {
        match text.trim() {
            "sqlite" => Some(Setup::Sqlite),
            "postgres" => Some(Setup::Postgres),
            "postgres2" => Some(Setup::TwoPostgres),
            _ => None,
        }
    }

    fn instances(self) -> usize {
        if self == Setup::TwoPostgres { 2 } else { 1 }
    }
}

/// The size and length of one run.
#[derive(Clone, Debug)]
pub struct Plan {
    pub duration: Duration,
    /// Agents working at once, one worker each.
    pub agent_workers: usize,
    /// Customer workers; each speaks for `customers_per_worker` customers in turn.
    pub customer_workers: usize,
    pub customers_per_worker: usize,
    pub teams: usize,
    /// Tickets raised (by the customers) before the clock starts.
    pub seed_tickets: usize,
    /// How long `/healthz` is driven by as many workers, same client, same run (zero: not).
    pub healthz: Duration,
    /// A PostgreSQL server on which a fresh database is created (and dropped after).
    pub postgres_admin_url: String,
    /// The `hdms-server` binary.
    pub server_binary: PathBuf,
}

impl Plan {
    fn workers(&self) -> usize {
        self.agent_workers + self.customer_workers
    }
}

// ---------------------------------------------------------------------------------------------
// Kinds of requests.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Queue,
    MyTickets,
    Ticket,
    Conversation,
    AgentReply,
    CustomerReply,
    Create,
    Upload,
    Claim,
    ChatJoin,
    Chat,
    Notifications,
    ReadAll,
}

pub const KINDS: [Kind; 13] = [
    Kind::Queue,
    Kind::MyTickets,
    Kind::Ticket,
    Kind::Conversation,
    Kind::AgentReply,
    Kind::CustomerReply,
    Kind::Create,
    Kind::Upload,
    Kind::Claim,
    Kind::ChatJoin,
    Kind::Chat,
    Kind::Notifications,
    Kind::ReadAll,
];

impl Kind {
    pub fn label(self) -> &'static str {
        match self {
            Kind::Queue => "agent: team queue page",
            Kind::MyTickets => "customer: own tickets",
            Kind::Ticket => "open a ticket",
            Kind::Conversation => "read a conversation",
            Kind::AgentReply => "agent: reply",
            Kind::CustomerReply => "customer: reply",
            Kind::Create => "customer: raise a ticket",
            Kind::Upload => "customer: upload 1-8 KiB",
            Kind::Claim => "agent: claim next",
            Kind::ChatJoin => "agent: ws join room",
            Kind::Chat => "agent: ws chat to echo",
            Kind::Notifications => "notifications (unread)",
            Kind::ReadAll => "notifications read-all",
        }
    }

    fn index(self) -> usize {
        KINDS.iter().position(|k| *k == self).expect("every kind is listed")
    }
}

/// An agent's step, by weight (out of 100). Chat joins come with chats on a new ticket.
const AGENT_MIX: [(Kind, u32); 8] = [
    (Kind::Queue, 25),
    (Kind::Ticket, 22),
    (Kind::Conversation, 15),
    (Kind::AgentReply, 10),
    (Kind::Chat, 12),
    (Kind::Claim, 3),
    (Kind::Notifications, 10),
    (Kind::ReadAll, 3),
];

/// A customer's step, by weight (out of 100).
const CUSTOMER_MIX: [(Kind, u32); 8] = [
    (Kind::MyTickets, 15),
    (Kind::Ticket, 15),
    (Kind::Conversation, 10),
    (Kind::Create, 12),
    (Kind::CustomerReply, 18),
    (Kind::Upload, 8),
    (Kind::Notifications, 17),
    (Kind::ReadAll, 5),
];

fn pick(mix: &[(Kind, u32)]) -> Kind {
    let total: u32 = mix.iter().map(|(_, w)| w).sum();
    let mut roll = rand::random_range(0..total);
    for (kind, weight) in mix {
        if roll < *weight {
            return *kind;
        }
        roll -= weight;
    }
    mix[0].0
}

// ---------------------------------------------------------------------------------------------
// Results.

#[derive(Clone, Debug)]
pub struct KindFigures {
    pub kind: Kind,
    pub count: u64,
    pub errors: u64,
    pub p50: Duration,
    pub p99: Duration,
    pub max: Duration,
}

/// One reading of the servers' memory during the mix.
#[derive(Clone, Debug)]
pub struct MemorySample {
    pub at: Duration,
    /// Requests answered so far (all kinds).
    pub requests: u64,
    /// Per instance.
    pub servers: Vec<Memory>,
    /// The size of the SQLite WAL file (0 on PostgreSQL), the largest of the instances': a WAL
    /// that is never started over grows without end.
    pub wal_bytes: u64,
}

#[derive(Clone, Copy, Debug, Default)]
pub struct Memory {
    /// Resident set (VmRSS): heap and the mapped files the server touched.
    pub rss: u64,
    /// Anonymous resident memory (RssAnon): the heap, stacks, caches; what a leak grows.
    pub anon: u64,
    /// Peak resident set (VmHWM).
    pub peak: u64,
}

/// CPU seconds spent in a window by the servers and by this (the load generator's) process.
#[derive(Clone, Copy, Debug, Default)]
pub struct Cpu {
    pub servers: f64,
    pub generator: f64,
    pub wall: f64,
}

#[derive(Clone, Debug, Default)]
pub struct Baseline {
    pub requests: u64,
    pub errors: u64,
    pub rate: f64,
    pub cpu: Cpu,
}

#[derive(Clone, Debug)]
pub struct Outcome {
    pub setup: Setup,
    pub plan: Plan,
    pub seed_time: Duration,
    pub tickets_before: usize,
    pub healthz: Option<Baseline>,
    pub elapsed: Duration,
    pub requests: u64,
    pub errors: u64,
    pub kinds: Vec<KindFigures>,
    pub first_errors: Vec<String>,
    pub cpu: Cpu,
    /// Memory once seeded, before the mix.
    pub idle: Vec<Memory>,
    pub memory: Vec<MemorySample>,
    /// Websocket events received by the agents' connections (queue changes, presence, chat).
    pub live_events: u64,
    pub resyncs: u64,
    /// Lines the servers logged at WARN and ERROR during the whole run, and the first few.
    pub server_warnings: u64,
    pub server_errors: u64,
    pub server_log: Vec<String>,
}

impl Outcome {
    pub fn rate(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }

    /// The largest the SQLite WAL file was at any reading (0 on PostgreSQL).
    pub fn largest_wal(&self) -> u64 {
        self.memory.iter().map(|s| s.wal_bytes).max().unwrap_or(0)
    }

    /// Per instance: anonymous memory once warm (the first reading at or after a quarter of the
    /// run, when caches, pools and buffers have reached their working size) and at the end.
    pub fn anon_growth(&self) -> Vec<(u64, u64)> {
        let warm_at = self.elapsed / 4;
        let warm = self.memory.iter().find(|s| s.at >= warm_at).or(self.memory.first());
        let last = self.memory.last();
        match (warm, last) {
            (Some(warm), Some(last)) => warm.servers.iter().zip(&last.servers).map(|(w, l)| (w.anon, l.anon)).collect(),
            _ => Vec::new(),
        }
    }

    pub fn print(&self) {
        let plan = &self.plan;
        println!(
            "\n== {}: {:.0} s, {} workers ({} agents, {} customer workers speaking for {} customers), {} teams ==",
            self.setup.name(),
            self.elapsed.as_secs_f64(),
            plan.workers(),
            plan.agent_workers,
            plan.customer_workers,
            plan.customer_workers * plan.customers_per_worker,
            plan.teams
        );
        println!("seeded {} tickets in {:.1?}", self.tickets_before, self.seed_time);
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
        let cpu_line = |cpu: &Cpu, requests: u64| {
            format!(
                "server CPU {:.0}% of one core ({:.0} us per request), load generator CPU {:.0}% ({:.0} us per request), {} cores",
                cpu.servers / cpu.wall * 100.0,
                cpu.servers / requests.max(1) as f64 * 1e6,
                cpu.generator / cpu.wall * 100.0,
                cpu.generator / requests.max(1) as f64 * 1e6,
                cores
            )
        };
        if let Some(healthz) = &self.healthz {
            println!(
                "GET /healthz baseline: {:.0} req/s ({} requests, {} errors); {}",
                healthz.rate,
                healthz.requests,
                healthz.errors,
                cpu_line(&healthz.cpu, healthz.requests)
            );
        }
        let ratio = self.healthz.as_ref().map_or(String::new(), |h| format!(" = {:.2}x the /healthz rate", self.rate() / h.rate));
        println!("mixed load: {:.0} req/s{ratio}; {} requests, {} errors", self.rate(), self.requests, self.errors);
        println!("{}", cpu_line(&self.cpu, self.requests));
        println!("{:<28} {:>9} {:>7} {:>9} {:>9} {:>9} {:>7}", "kind", "count", "share", "p50", "p99", "max", "errors");
        for k in &self.kinds {
            if k.count == 0 && k.errors == 0 {
                continue;
            }
            println!(
                "{:<28} {:>9} {:>6.1}% {:>9.2?} {:>9.2?} {:>9.2?} {:>7}",
                k.kind.label(),
                k.count,
                k.count as f64 / self.requests.max(1) as f64 * 100.0,
                k.p50,
                k.p99,
                k.max,
                k.errors
            );
        }
        let all = overall(&self.kinds);
        println!("all kinds: worst p99 {:.2?} ({})", all.1, all.0);
        println!("websocket: {} events received by the agents' connections, {} resyncs", self.live_events, self.resyncs);
        println!("server log: {} warnings, {} errors", self.server_warnings, self.server_errors);
        for line in &self.server_log {
            println!("  {line}");
        }
        for error in &self.first_errors {
            println!("  error: {error}");
        }
        let mib = |b: u64| b as f64 / 1048576.0;
        let instances = |servers: &[Memory]| {
            servers
                .iter()
                .map(|m| format!("{:.1} ({:.1} anon)", mib(m.rss), mib(m.anon)))
                .collect::<Vec<_>>()
                .join(" | ")
        };
        println!("server memory, VmRSS MiB (RssAnon), per instance: idle after seeding {}", instances(&self.idle));
        println!("{:>8} {:>12} {:>10}  memory", "t", "requests", "req/s");
        let step = (self.memory.len() / 10).max(1);
        let mut previous: Option<&MemorySample> = None;
        for (i, sample) in self.memory.iter().enumerate() {
            if i % step != 0 && i + 1 != self.memory.len() {
                continue;
            }
            let rate = previous.map_or(0.0, |p| (sample.requests - p.requests) as f64 / (sample.at - p.at).as_secs_f64().max(1e-9));
            println!("{:>7.0}s {:>12} {:>10.0}  {}", sample.at.as_secs_f64(), sample.requests, rate, instances(&sample.servers));
            previous = Some(sample);
        }
        if self.largest_wal() > 0 {
            println!("largest SQLite WAL file: {:.1} MiB", mib(self.largest_wal()));
        }
        if let Some(last) = self.memory.last() {
            let peaks: Vec<String> = last.servers.iter().map(|m| format!("{:.1}", mib(m.peak))).collect();
            println!("peak VmRSS MiB: {}", peaks.join(" | "));
        }
        for (i, (warm, end)) in self.anon_growth().into_iter().enumerate() {
            println!(
                "instance {}: RssAnon {:.1} MiB at a quarter of the run, {:.1} MiB at the end ({:+.1} MiB)",
                i + 1,
                mib(warm),
                mib(end),
                (end as f64 - warm as f64) / 1048576.0
            );
        }
    }
}

/// The kind with the worst p99, and that p99.
pub fn overall(kinds: &[KindFigures]) -> (&'static str, Duration) {
    kinds.iter().filter(|k| k.count > 0).map(|k| (k.kind.label(), k.p99)).max_by_key(|(_, p99)| *p99).unwrap_or(("-", Duration::ZERO))
}

/// What every worker adds to while it runs.
struct Tally {
    requests: AtomicU64,
    errors: AtomicU64,
    first_errors: Mutex<Vec<String>>,
    live_events: AtomicU64,
    resyncs: AtomicU64,
}

impl Tally {
    fn new() -> Tally {
        Tally {
            requests: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            first_errors: Mutex::new(Vec::new()),
            live_events: AtomicU64::new(0),
            resyncs: AtomicU64::new(0),
        }
    }

    fn error(&self, what: String) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        let mut kept = self.first_errors.lock().expect("not poisoned");
        if kept.len() < KEPT_ERRORS {
            kept.push(what);
        }
    }
}

/// One worker's latencies (microseconds) and errors, by kind.
struct Samples {
    latencies: Vec<Vec<u32>>,
    errors: Vec<u64>,
}

impl Samples {
    fn new() -> Samples {
        Samples { latencies: vec![Vec::new(); KINDS.len()], errors: vec![0; KINDS.len()] }
    }

    fn record(&mut self, tally: &Tally, kind: Kind, started: Instant, result: Result<(), String>) {
        match result {
            Ok(()) => {
                let micros = started.elapsed().as_micros().min(u32::MAX as u128) as u32;
                self.latencies[kind.index()].push(micros);
                tally.requests.fetch_add(1, Ordering::Relaxed);
            }
            Err(err) => {
                self.errors[kind.index()] += 1;
                tally.requests.fetch_add(1, Ordering::Relaxed);
                tally.error(format!("{}: {err}", kind.label()));
            }
        }
    }

    fn merge(&mut self, other: Samples) {
        for (mine, theirs) in self.latencies.iter_mut().zip(other.latencies) {
            mine.extend(theirs);
        }
        for (mine, theirs) in self.errors.iter_mut().zip(other.errors) {
            *mine += theirs;
        }
    }

    fn figures(mut self) -> Vec<KindFigures> {
        KINDS
            .iter()
            .map(|&kind| {
                let samples = &mut self.latencies[kind.index()];
                samples.sort_unstable();
                let at = |p: usize| {
                    let i = (samples.len() * p / 100).min(samples.len().saturating_sub(1));
                    Duration::from_micros(samples.get(i).copied().unwrap_or(0) as u64)
                };
                KindFigures {
                    kind,
                    count: samples.len() as u64 + self.errors[kind.index()],
                    errors: self.errors[kind.index()],
                    p50: at(50),
                    p99: at(99),
                    max: Duration::from_micros(samples.last().copied().unwrap_or(0) as u64),
                }
            })
            .collect()
    }
}

// ---------------------------------------------------------------------------------------------
// The server processes.

/// What a server process logged at WARN and ERROR.
#[derive(Default)]
struct ServerLog {
    warnings: AtomicU64,
    errors: AtomicU64,
    first: Mutex<Vec<String>>,
}

struct ServerProcess {
    child: tokio::process::Child,
    pid: u32,
    url: String,
    data_dir: tempfile::TempDir,
}

impl ServerProcess {
    /// Starts `hdms-server` on a free loopback port (it binds port 0 and logs the address) and
    /// waits until it listens.
    async fn start(plan: &Plan, database_url: Option<&str>, log: Arc<ServerLog>) -> anyhow::Result<ServerProcess> {
        let data_dir = tempfile::tempdir()?;
        let mut command = tokio::process::Command::new(&plan.server_binary);
        command
            .env("HDMS_BIND", "127.0.0.1:0")
            .env("HDMS_DATA_DIR", data_dir.path())
            .env("HDMS_ADMIN_EMAIL", ADMIN_EMAIL)
            .env("HDMS_ADMIN_PASSWORD", PASSWORD)
            .env("HDMS_JWT_SECRET", JWT_SECRET)
            // Tokens outlive the run (seeding included); no refresh traffic in the mix.
            .env("HDMS_ACCESS_TOKEN_TTL", (plan.duration.as_secs() + 3600).to_string())
            .env("HDMS_RATE_LIMIT_PER_SECOND", "0")
            .env("HDMS_RATE_LIMIT_PER_ADDRESS_PER_SECOND", "0")
            .env("HDMS_WS_MESSAGES_PER_SECOND", "0")
            .env("HDMS_LOG_FORMAT", "json")
            .env("RUST_LOG", "info")
            .env_remove("HDMS_DATABASE_URL")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        if let Some(url) = database_url {
            command.env("HDMS_DATABASE_URL", url);
        }
        let mut child = command.spawn()?;
        let pid = child.id().ok_or_else(|| anyhow::anyhow!("hdms-server exited at once"))?;
        let stderr = child.stderr.take().expect("stderr is piped");
        let (listening, address) = oneshot::channel::<String>();
        tokio::spawn(read_log(stderr, log, listening));
        let address = match tokio::time::timeout(START_PATIENCE, address).await {
            Ok(Ok(address)) => address,
            _ => anyhow::bail!("hdms-server did not start listening within {START_PATIENCE:?}"),
        };
        Ok(ServerProcess { child, pid, url: format!("http://{address}"), data_dir })
    }

    async fn stop(mut self) {
        // SAFETY: a signal to our own child, which has not been reaped (we still hold it).
        unsafe {
            libc::kill(self.pid as i32, libc::SIGTERM);
        }
        if tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await.is_err() {
            let _ = self.child.start_kill();
            let _ = self.child.wait().await;
        }
    }
}

/// Reads a server's JSON log: hands over the listening address, counts warnings and errors.
async fn read_log(stderr: tokio::process::ChildStderr, log: Arc<ServerLog>, listening: oneshot::Sender<String>) {
    let mut listening = Some(listening);
    let mut lines = BufReader::new(stderr).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let warning = line.contains(r#""level":"WARN""#);
        let error = line.contains(r#""level":"ERROR""#);
        if warning || error {
            let counter = if error { &log.errors } else { &log.warnings };
            counter.fetch_add(1, Ordering::Relaxed);
            let mut first = log.first.lock().expect("not poisoned");
            if first.len() < KEPT_ERRORS {
                first.push(line.chars().take(400).collect());
            }
        }
        if listening.is_some() && line.contains("hdms-server listening") {
            let address = serde_json::from_str::<serde_json::Value>(&line)
                .ok()
                .and_then(|v| v.get("address").and_then(|a| a.as_str()).map(str::to_owned));
            if let (Some(address), Some(tx)) = (address, listening.take()) {
                let _ = tx.send(address);
            }
        }
    }
}

/// VmRSS, RssAnon and VmHWM of a process.
fn memory_of(pid: u32) -> Memory {
    let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else { return Memory::default() };
    let field = |name: &str| -> u64 {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kib| kib.parse::<u64>().ok())
            .map_or(0, |kib| kib * 1024)
    };
    Memory { rss: field("VmRSS:"), anon: field("RssAnon:"), peak: field("VmHWM:") }
}

/// User + system CPU seconds of a process (`self` for this one).
fn cpu_of(pid: &str) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { return 0.0 };
    // Fields after the command name (which may hold spaces) start at field 3.
    let Some((_, rest)) = stat.rsplit_once(')') else { return 0.0 };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0 // USER_HZ is 100 on Linux
}

struct CpuWindow {
    pids: Vec<u32>,
    servers: f64,
    generator: f64,
    started: Instant,
}

impl CpuWindow {
    fn start(pids: &[u32]) -> CpuWindow {
        CpuWindow {
            pids: pids.to_vec(),
            servers: pids.iter().map(|p| cpu_of(&p.to_string())).sum(),
            generator: cpu_of("self"),
            started: Instant::now(),
        }
    }

    fn finish(self) -> Cpu {
        Cpu {
            servers: self.pids.iter().map(|p| cpu_of(&p.to_string())).sum::<f64>() - self.servers,
            generator: cpu_of("self") - self.generator,
            wall: self.started.elapsed().as_secs_f64(),
        }
    }
}

/// A fresh PostgreSQL database (named like the tests' databases, so a run that dies leaves
/// one that later test runs drop after an hour); its URL.
async fn fresh_postgres(admin_url: &str) -> anyhow::Result<String> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut admin = sqlx::PgConnection::connect(admin_url).await?;
    let name = format!(
        "hdms_t_{}_{}_load{}",
        chrono::Utc::now().timestamp(),
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&mut admin).await?;
    let base = admin_url.rsplit_once('/').ok_or_else(|| anyhow::anyhow!("the URL names no database"))?.0;
    Ok(format!("{base}/{name}"))
}

async fn drop_postgres(admin_url: &str, url: &str) {
    let Some((_, name)) = url.rsplit_once('/') else { return };
    if let Ok(mut admin) = sqlx::PgConnection::connect(admin_url).await {
        let _ = sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))).execute(&mut admin).await;
    }
}

// ---------------------------------------------------------------------------------------------
// The run.

/// Runs one setup: starts the servers, seeds the desk, measures `/healthz` (if asked), runs the
/// mix for `plan.duration` while reading the servers' memory every second, and stops them.
pub async fn run(setup: Setup, plan: &Plan) -> anyhow::Result<Outcome> {
    let database = match setup {
        Setup::Sqlite => None,
        _ => Some(fresh_postgres(&plan.postgres_admin_url).await?),
    };
    let log = Arc::new(ServerLog::default());
    let result = async {
        let mut servers = Vec::new();
        for _ in 0..setup.instances() {
            // One after the other: the first migrates the database and creates the admin.
            servers.push(ServerProcess::start(plan, database.as_deref(), log.clone()).await?);
        }
        let outcome = drive(setup, plan, &servers, &log).await;
        for server in servers {
            server.stop().await;
        }
        outcome
    }
    .await;
    if let Some(url) = &database {
        drop_postgres(&plan.postgres_admin_url, url).await;
    }
    result
}

async fn drive(setup: Setup, plan: &Plan, servers: &[ServerProcess], log: &ServerLog) -> anyhow::Result<Outcome> {
    let pids: Vec<u32> = servers.iter().map(|s| s.pid).collect();
    let urls: Vec<String> = servers.iter().map(|s| s.url.clone()).collect();
    let seeding = Instant::now();
    let (desk, tickets_before) = seed(plan, &urls).await?;
    let seed_time = seeding.elapsed();

    let healthz = if plan.healthz.is_zero() { None } else { Some(healthz_baseline(plan, &urls, &pids).await?) };

    let idle: Vec<Memory> = pids.iter().map(|&p| memory_of(p)).collect();
    let tally = Arc::new(Tally::new());
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let deadline = started + plan.duration;

    // Memory and progress every second.
    let sampler = {
        let tally = tally.clone();
        let stop = stop.clone();
        let pids = pids.clone();
        let wal_files: Vec<PathBuf> =
            servers.iter().map(|s| s.data_dir.path().join(format!("{}-wal", hdms_server::db::SQLITE_FILE))).collect();
        tokio::spawn(async move {
            let mut samples = Vec::new();
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tick.tick().await;
                samples.push(MemorySample {
                    at: started.elapsed(),
                    requests: tally.requests.load(Ordering::Relaxed),
                    servers: pids.iter().map(|&p| memory_of(p)).collect(),
                    wal_bytes: wal_files.iter().filter_map(|f| std::fs::metadata(f).ok()).map(|m| m.len()).max().unwrap_or(0),
                });
                if stop.load(Ordering::Relaxed) {
                    return samples;
                }
            }
        })
    };

    let cpu = CpuWindow::start(&pids);
    let desk = Arc::new(desk);
    let mut workers = Vec::new();
    for agent in desk_agents(&desk, &urls).await? {
        workers.push(tokio::spawn(agent_worker(agent, desk.clone(), tally.clone(), deadline)));
    }
    for customers in desk_customers(&desk, &urls, plan) {
        workers.push(tokio::spawn(customer_worker(customers, desk.clone(), tally.clone(), deadline)));
    }
    let mut samples = Samples::new();
    for worker in workers {
        samples.merge(worker.await?);
    }
    let elapsed = started.elapsed();
    let cpu = cpu.finish();
    stop.store(true, Ordering::Relaxed);
    let memory = sampler.await?;
    let kinds = samples.figures();

    Ok(Outcome {
        setup,
        plan: plan.clone(),
        seed_time,
        tickets_before,
        healthz,
        elapsed,
        requests: tally.requests.load(Ordering::Relaxed),
        errors: tally.errors.load(Ordering::Relaxed),
        kinds,
        first_errors: tally.first_errors.lock().expect("not poisoned").clone(),
        cpu,
        idle,
        memory,
        live_events: tally.live_events.load(Ordering::Relaxed),
        resyncs: tally.resyncs.load(Ordering::Relaxed),
        server_warnings: log.warnings.load(Ordering::Relaxed),
        server_errors: log.errors.load(Ordering::Relaxed),
        server_log: log.first.lock().expect("not poisoned").clone(),
    })
}

/// `GET /healthz` from as many workers as the mix has, through the same typed client, for
/// `plan.healthz`: what this machine, this client and this server answer at best, measured while
/// the load generator shares the same cores as it does in the mix.
async fn healthz_baseline(plan: &Plan, urls: &[String], pids: &[u32]) -> anyhow::Result<Baseline> {
    let deadline = Instant::now() + plan.healthz;
    let cpu = CpuWindow::start(pids);
    let started = Instant::now();
    let workers: Vec<_> = (0..plan.workers())
        .map(|i| {
            let client = Client::new(&urls[i % urls.len()]);
            tokio::spawn(async move {
                let client = client?;
                let (mut ok, mut failed) = (0u64, 0u64);
                while Instant::now() < deadline {
                    match client.health().await {
                        Ok(_) => ok += 1,
                        Err(_) => failed += 1,
                    }
                }
                anyhow::Ok((ok, failed))
            })
        })
        .collect();
    let (mut requests, mut errors) = (0, 0);
    for worker in workers {
        let (ok, failed) = worker.await??;
        requests += ok + failed;
        errors += failed;
    }
    let elapsed = started.elapsed().as_secs_f64();
    Ok(Baseline { requests, errors, rate: requests as f64 / elapsed, cpu: cpu.finish() })
}

// ---------------------------------------------------------------------------------------------
// Seeding.

/// What the workers share: the teams and each team's recent tickets (the top of its queue).
struct Shared {
    teams: Vec<Uuid>,
    recent: Vec<Mutex<VecDeque<Uuid>>>,
    agents: Vec<(Uuid, usize, String)>,
    customers: Vec<(Uuid, String, Vec<Uuid>)>,
}

impl Shared {
    fn remember(&self, team: usize, ticket: Uuid) {
        let mut recent = self.recent[team].lock().expect("not poisoned");
        if recent.len() == RECENT_PER_TEAM {
            recent.pop_front();
        }
        recent.push_back(ticket);
    }

    fn recent_of(&self, team: usize) -> Option<Uuid> {
        let recent = self.recent[team].lock().expect("not poisoned");
        if recent.is_empty() {
            return None;
        }
        recent.get(rand::random_range(0..recent.len())).copied()
    }
}

/// Teams, agents (one team each), customers, and `seed_tickets` tickets raised by the customers
/// for random teams, all through the API of the first instance. Tokens come from logging in
/// (every instance shares the signing secret, so they hold on both). Answers the desk and the
/// number of tickets raised.
async fn seed(plan: &Plan, urls: &[String]) -> anyhow::Result<(Shared, usize)> {
    let admin = Client::new(&urls[0])?;
    admin.login(ADMIN_EMAIL, PASSWORD).await?;
    let mut teams = Vec::new();
    for i in 0..plan.teams {
        let team = admin.create_team(&CreateTeam { name: format!("Team {i}"), description: None }).await?;
        teams.push(team.id);
    }
    let people = plan.agent_workers + plan.customer_workers * plan.customers_per_worker;
    let created = futures::stream::iter(0..people)
        .map(|i| {
            let admin = admin.clone();
            let url = urls[0].clone();
            let is_agent = i < plan.agent_workers;
            async move {
                let (role, email) = if is_agent {
                    (Role::Agent, format!("agent{i}@example.com"))
                } else {
                    (Role::Customer, format!("customer{}@example.com", i - plan.agent_workers))
                };
                let user = admin
                    .create_user(&CreateUser { email: email.clone(), name: format!("Load {role} {i}"), role, phone: None, password: Some(PASSWORD.to_owned()) })
                    .await?;
                let client = Client::new(&url)?;
                let login = client.login(&email, PASSWORD).await?;
                anyhow::Ok((user.id, login.access_token))
            }
        })
        .buffered(SEED_CONCURRENCY / 2)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut agents = Vec::new();
    for (i, (id, token)) in created[..plan.agent_workers].iter().enumerate() {
        let team = i % plan.teams;
        admin.add_team_member(teams[team], *id).await?;
        agents.push((*id, team, token.clone()));
    }
    let customers: Vec<(Uuid, String)> = created[plan.agent_workers..].to_vec();
    let recent: Vec<Mutex<VecDeque<Uuid>>> = (0..plan.teams).map(|_| Mutex::new(VecDeque::new())).collect();
    let count = customers.len();
    let raised = futures::stream::iter(0..plan.seed_tickets)
        .map(|n| {
            let (_, token) = &customers[n % customers.len()];
            let client = Client::new(&urls[0]).inspect(|c| c.set_token(Some(token.clone())));
            let team = rand::random_range(0..teams.len());
            let team_id = teams[team];
            async move {
                let ticket = client?.create_ticket(&new_ticket(team_id, n)).await?;
                anyhow::Ok((n % count, team, ticket.id))
            }
        })
        .buffer_unordered(SEED_CONCURRENCY)
        .collect::<Vec<_>>()
        .await;
    let mut own: Vec<Vec<Uuid>> = vec![Vec::new(); customers.len()];
    let mut seeded = 0;
    for ticket in raised {
        let (customer, team, id) = ticket?;
        seeded += 1;
        let mut queue = recent[team].lock().expect("not poisoned");
        if queue.len() == RECENT_PER_TEAM {
            queue.pop_front();
        }
        queue.push_back(id);
        let own = &mut own[customer];
        if own.len() == RECENT_PER_CUSTOMER {
            own.remove(0);
        }
        own.push(id);
    }
    let customers = customers.into_iter().zip(own).map(|((id, token), own)| (id, token, own)).collect();
    Ok((Shared { teams, recent, agents, customers }, seeded))
}

fn new_ticket(team_id: Uuid, n: usize) -> CreateTicket {
    const SUBJECTS: [&str; 6] = [
        "Printer on floor 3 jams on every job",
        "Cannot log in to the VPN since the update",
        "Invoice shows the wrong VAT rate",
        "Laptop fan loud after the latest patch",
        "Shared drive is read-only for our team",
        "Password reset mail never arrives",
    ];
    CreateTicket {
        subject: format!("{} ({n})", SUBJECTS[n % SUBJECTS.len()]),
        description: "Since Monday morning. Steps: open the app, sign in, wait. Nothing else changed on our side.".to_owned(),
        team_id: Some(team_id),
        tags: if n.is_multiple_of(3) { vec!["load".to_owned()] } else { Vec::new() },
        ..Default::default()
    }
}

// ---------------------------------------------------------------------------------------------
// Agents.

struct AgentSeat {
    client: Client,
    team: usize,
    team_id: Uuid,
    live: mpsc::Sender<LiveCommand>,
}

/// Each agent's client (on instance `i % instances`) and live connection following the queues.
async fn desk_agents(desk: &Arc<Shared>, urls: &[String]) -> anyhow::Result<Vec<AgentSeat>> {
    let mut seats = Vec::new();
    for (i, (id, team, token)) in desk.agents.iter().enumerate() {
        let client = Client::new(&urls[i % urls.len()])?;
        client.set_token(Some(token.clone()));
        let mut live = client.connect_live().await?;
        // Follow the queues, as the agents' terminal client does.
        live.send(&ClientMessage::SubscribeQueues).await?;
        tokio::time::timeout(LIVE_PATIENCE, async {
            loop {
                match live.next().await? {
                    ServerMessage::QueuesSubscribed => return anyhow::Ok(()),
                    ServerMessage::Error { code, message } => anyhow::bail!("subscribe_queues refused: {code}: {message}"),
                    _ => continue,
                }
            }
        })
        .await??;
        let (commands, receiver) = mpsc::channel(4);
        tokio::spawn(live_connection(live, receiver));
        let _ = id;
        seats.push(AgentSeat { client, team: *team, team_id: desk.teams[*team], live: commands });
    }
    Ok(seats)
}

enum LiveCommand {
    Join(Uuid, oneshot::Sender<Result<(), String>>),
    Leave(Uuid),
    Say(Uuid, String, oneshot::Sender<Result<(), String>>),
    /// Hands back the events and resyncs counted so far, then closes.
    Close(oneshot::Sender<(u64, u64)>),
}

/// Owns one agent's websocket: sends what the worker asks, reads everything the server pushes
/// (so the connection never falls behind) and answers joins and chats when the server confirms
/// them (`subscribed`, and the message's echo carrying its `client_ref`).
async fn live_connection(mut live: Live, mut commands: mpsc::Receiver<LiveCommand>) {
    let mut joining: HashMap<Uuid, oneshot::Sender<Result<(), String>>> = HashMap::new();
    let mut saying: HashMap<String, oneshot::Sender<Result<(), String>>> = HashMap::new();
    let (mut events, mut resyncs, mut next_ref) = (0u64, 0u64, 0u64);
    let fail_all = |joining: &mut HashMap<Uuid, oneshot::Sender<Result<(), String>>>,
                    saying: &mut HashMap<String, oneshot::Sender<Result<(), String>>>,
                    why: &str| {
        for (_, done) in joining.drain() {
            let _ = done.send(Err(why.to_owned()));
        }
        for (_, done) in saying.drain() {
            let _ = done.send(Err(why.to_owned()));
        }
    };
    loop {
        tokio::select! {
            command = commands.recv() => match command {
                Some(LiveCommand::Join(ticket_id, done)) => {
                    match live.send(&ClientMessage::Subscribe { ticket_id, after_seq: None }).await {
                        Ok(()) => { joining.insert(ticket_id, done); }
                        Err(err) => { let _ = done.send(Err(err.to_string())); }
                    }
                }
                Some(LiveCommand::Leave(ticket_id)) => {
                    let _ = live.send(&ClientMessage::Unsubscribe { ticket_id }).await;
                }
                Some(LiveCommand::Say(ticket_id, body, done)) => {
                    next_ref += 1;
                    let client_ref = next_ref.to_string();
                    match live.send(&ClientMessage::Send { ticket_id, body, internal: false, client_ref: Some(client_ref.clone()) }).await {
                        Ok(()) => { saying.insert(client_ref, done); }
                        Err(err) => { let _ = done.send(Err(err.to_string())); }
                    }
                }
                Some(LiveCommand::Close(done)) => {
                    let _ = done.send((events, resyncs));
                    live.close().await;
                    return;
                }
                None => {
                    live.close().await;
                    return;
                }
            },
            message = live.next() => match message {
                Ok(ServerMessage::Subscribed { ticket_id, .. }) => {
                    if let Some(done) = joining.remove(&ticket_id) {
                        let _ = done.send(Ok(()));
                    }
                }
                Ok(ServerMessage::Message { client_ref: Some(client_ref), .. }) if saying.contains_key(&client_ref) => {
                    if let Some(done) = saying.remove(&client_ref) {
                        let _ = done.send(Ok(()));
                    }
                }
                Ok(ServerMessage::Error { code, message }) => {
                    fail_all(&mut joining, &mut saying, &format!("websocket error {code}: {message}"));
                }
                Ok(ServerMessage::Resync { .. }) => resyncs += 1,
                Ok(_) => events += 1,
                Err(err) => {
                    fail_all(&mut joining, &mut saying, &format!("websocket closed: {err}"));
                    // Keep answering commands (with errors) until the worker finishes.
                    while let Some(command) = commands.recv().await {
                        match command {
                            LiveCommand::Join(_, done) | LiveCommand::Say(_, _, done) => { let _ = done.send(Err("websocket closed".to_owned())); }
                            LiveCommand::Close(done) => { let _ = done.send((events, resyncs)); }
                            LiveCommand::Leave(_) => {}
                        }
                    }
                    return;
                }
            },
        }
    }
}

/// Asks the live connection and waits for its answer.
async fn live_request(live: &mpsc::Sender<LiveCommand>, command: impl FnOnce(oneshot::Sender<Result<(), String>>) -> LiveCommand) -> Result<(), String> {
    let (done, answer) = oneshot::channel();
    live.send(command(done)).await.map_err(|_| "the live connection is gone".to_owned())?;
    match tokio::time::timeout(LIVE_PATIENCE, answer).await {
        Ok(Ok(result)) => result,
        Ok(Err(_)) => Err("the live connection dropped the request".to_owned()),
        Err(_) => Err(format!("no answer within {LIVE_PATIENCE:?}")),
    }
}

fn fail<E: std::fmt::Display>(err: E) -> String {
    err.to_string()
}

async fn agent_worker(seat: AgentSeat, desk: Arc<Shared>, tally: Arc<Tally>, deadline: Instant) -> Samples {
    let mut samples = Samples::new();
    let client = &seat.client;
    // The ticket the agent has open, and the room its websocket has joined.
    let mut open: Option<Uuid> = None;
    let mut room: Option<Uuid> = None;
    let mut n = 0u64;
    while Instant::now() < deadline {
        n += 1;
        let kind = pick(&AGENT_MIX);
        let ticket = match open {
            Some(id) if kind != Kind::Ticket => Some(id),
            _ => desk.recent_of(seat.team),
        };
        let Some(ticket) = ticket else {
            // Nothing in the team's queue yet: page it.
            let started = Instant::now();
            let result = queue_page(client, seat.team_id).await;
            samples.record(&tally, Kind::Queue, started, result);
            continue;
        };
        let started = Instant::now();
        let result = match kind {
            Kind::Queue => queue_page(client, seat.team_id).await,
            Kind::Ticket => {
                open = Some(ticket);
                client.get_ticket(ticket).await.map(drop).map_err(fail)
            }
            Kind::Conversation => client.list_comments(ticket).await.map(drop).map_err(fail),
            Kind::AgentReply => {
                let body = format!("Thanks for the details. We are on it, update {n} follows.");
                client.comment(ticket, &CreateComment { body, internal: n.is_multiple_of(4) }).await.map(drop).map_err(fail)
            }
            Kind::Claim => match client.claim_next().await {
                Ok(claimed) => {
                    open = Some(claimed.id);
                    Ok(())
                }
                Err(err) => Err(err.to_string()),
            },
            Kind::Chat => {
                if room != Some(ticket) {
                    if let Some(old) = room.take() {
                        let _ = seat.live.send(LiveCommand::Leave(old)).await;
                    }
                    let joined = live_request(&seat.live, |done| LiveCommand::Join(ticket, done)).await;
                    let ok = joined.is_ok();
                    samples.record(&tally, Kind::ChatJoin, started, joined);
                    if !ok {
                        continue;
                    }
                    room = Some(ticket);
                }
                let started = Instant::now();
                let said = live_request(&seat.live, |done| LiveCommand::Say(ticket, format!("Could you try once more now? ({n})"), done)).await;
                samples.record(&tally, Kind::Chat, started, said);
                continue;
            }
            Kind::Notifications => notifications(client).await,
            Kind::ReadAll => client.mark_all_notifications_read().await.map(drop).map_err(fail),
            other => unreachable!("not an agent's step: {other:?}"),
        };
        samples.record(&tally, kind, started, result);
    }
    let (done, counted) = oneshot::channel();
    if seat.live.send(LiveCommand::Close(done)).await.is_ok()
        && let Ok((events, resyncs)) = counted.await
    {
        tally.live_events.fetch_add(events, Ordering::Relaxed);
        tally.resyncs.fetch_add(resyncs, Ordering::Relaxed);
    }
    samples
}

/// The first page of the team's open work, most recently updated first, as an agent's queue
/// shows it.
async fn queue_page(client: &Client, team: Uuid) -> Result<(), String> {
    let query = TicketListQuery {
        team: Some(team),
        status: Some("new,open".to_owned()),
        sort: Some("-updated".to_owned()),
        limit: Some(25),
        ..Default::default()
    };
    client.list_tickets(&query).await.map(drop).map_err(fail)
}

async fn notifications(client: &Client) -> Result<(), String> {
    client.notifications(&NotificationListQuery { unread: Some(true), limit: Some(20), cursor: None }).await.map(drop).map_err(fail)
}

// ---------------------------------------------------------------------------------------------
// Customers.

struct CustomerSeat {
    client: Client,
    own: VecDeque<Uuid>,
}

fn desk_customers(desk: &Arc<Shared>, urls: &[String], plan: &Plan) -> Vec<Vec<CustomerSeat>> {
    let mut groups: Vec<Vec<CustomerSeat>> = (0..plan.customer_workers).map(|_| Vec::new()).collect();
    for (i, (_, token, own)) in desk.customers.iter().enumerate() {
        let worker = i % plan.customer_workers;
        let client = Client::new(&urls[worker % urls.len()]).expect("a valid URL");
        client.set_token(Some(token.clone()));
        groups[worker].push(CustomerSeat { client, own: own.iter().copied().collect() });
    }
    groups
}

async fn customer_worker(mut customers: Vec<CustomerSeat>, desk: Arc<Shared>, tally: Arc<Tally>, deadline: Instant) -> Samples {
    let mut samples = Samples::new();
    let mut n = 0u64;
    if customers.is_empty() {
        return samples;
    }
    while Instant::now() < deadline {
        n += 1;
        let who = rand::random_range(0..customers.len());
        let seat = &mut customers[who];
        let client = &seat.client;
        let mut kind = pick(&CUSTOMER_MIX);
        let own = if seat.own.is_empty() { None } else { seat.own.get(rand::random_range(0..seat.own.len())).copied() };
        if own.is_none() && matches!(kind, Kind::Ticket | Kind::Conversation | Kind::CustomerReply | Kind::Upload) {
            kind = Kind::Create;
        }
        let started = Instant::now();
        let result = match (kind, own) {
            (Kind::MyTickets, _) => {
                let query = TicketListQuery { limit: Some(25), ..Default::default() };
                client.list_tickets(&query).await.map(drop).map_err(fail)
            }
            (Kind::Ticket, Some(ticket)) => client.get_ticket(ticket).await.map(drop).map_err(fail),
            (Kind::Conversation, Some(ticket)) => client.list_comments(ticket).await.map(drop).map_err(fail),
            (Kind::CustomerReply, Some(ticket)) => {
                let body = format!("It happened again just now, attempt {n}. Anything else I can send?");
                client.comment(ticket, &CreateComment { body, internal: false }).await.map(drop).map_err(fail)
            }
            (Kind::Upload, Some(ticket)) => {
                let size = rand::random_range(1024..8 * 1024);
                let content: Vec<u8> = format!("{n} 2026-12-02T10:00:00Z worker: request failed with status 503\n").bytes().cycle().take(size).collect();
                client.upload_attachment(ticket, &format!("log-{n}.txt"), Some("text/plain"), &content).await.map(drop).map_err(fail)
            }
            (Kind::Create, _) => {
                let team = rand::random_range(0..desk.teams.len());
                match client.create_ticket(&new_ticket(desk.teams[team], n as usize)).await {
                    Ok(ticket) => {
                        desk.remember(team, ticket.id);
                        if seat.own.len() == RECENT_PER_CUSTOMER {
                            seat.own.pop_front();
                        }
                        seat.own.push_back(ticket.id);
                        Ok(())
                    }
                    Err(err) => Err(err.to_string()),
                }
            }
            (Kind::Notifications, _) => notifications(client).await,
            (Kind::ReadAll, _) => client.mark_all_notifications_read().await.map(drop).map_err(fail),
            (other, _) => unreachable!("not a customer's step: {other:?}"),
        };
        samples.record(&tally, kind, started, result);
    }
    samples
}
