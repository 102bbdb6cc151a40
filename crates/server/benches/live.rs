//! The websocket at scale (issue 4): how many authenticated, subscribed connections a server
//! holds per GiB of memory, and how long one chat message takes to reach 1,000 subscribers of a
//! room, on one instance (SQLite, PostgreSQL) and across two instances on one PostgreSQL
//! database. Latency is also measured, in the same run, through a bare axum websocket server that
//! fans out with a bare tokio broadcast channel and speaks just enough of the protocol for the
//! same client code: the ratio is what hdms adds (storing the message, the hub, per-connection
//! filtering and serialisation), on the same noisy machine.
//!
//! `cargo bench -p hdms-server --bench live` (PostgreSQL at HDMS_BENCH_POSTGRES_URL, default
//! postgres://postgres@127.0.0.1:5432/test). Knobs: HDMS_BENCH_LIVE_CONNECTIONS (default 10000),
//! HDMS_BENCH_LIVE_SUBSCRIBERS (1000), HDMS_BENCH_LIVE_MESSAGES (200).
//!
//! Memory is measured on the real `hdms-server` binary in its own process (SQLite backend), so
//! its resident set (`/proc/<pid>/status` VmRSS/VmHWM) is the server's alone. The bench process
//! and the server each hold one descriptor per connection: both need `ulimit -n` above the
//! connection count (the server inherits the bench's limit; the bench raises its soft limit to
//! the hard one). Latency runs servers in-process, like the tests, and measures send → receive
//! per receiver with one monotonic clock. All connections use one admin account: the room's
//! presence then stays one person, which keeps the fan-out about messages rather than presence.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::routing::get;
use futures::StreamExt;
use hdms_api_types::client::{Client, Live};
use hdms_api_types::tickets::{Comment, CreateTicket};
use hdms_api_types::ws::{ClientMessage, ServerMessage};
use hdms_server::config::Config;
use sqlx::Connection;
use tokio::net::TcpListener;
use tokio::sync::{broadcast, mpsc, watch};
use uuid::Uuid;

const EMAIL: &str = "bench@example.com";
const PASSWORD: &str = "bench password 123";
const JWT_SECRET: &str = "bench-secret-bench-secret-bench-secret-01";
/// Connections opened at once (handshake + auth + subscribe).
const OPEN_CONCURRENCY: usize = 64;
/// Rooms the held connections spread over.
const ROOMS: usize = 100;
/// How long held connections are kept before the final reading (covers a heartbeat round).
const HOLD: Duration = Duration::from_secs(25);
/// Only reached when something is broken.
const PATIENCE: Duration = Duration::from_secs(20);

fn knob(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let connections = knob("HDMS_BENCH_LIVE_CONNECTIONS", 10_000);
    let subscribers = knob("HDMS_BENCH_LIVE_SUBSCRIBERS", 1_000);
    let messages = knob("HDMS_BENCH_LIVE_MESSAGES", 200);
    let started = Instant::now();
    let fd_limit = raise_fd_limit();
    println!("descriptor limit (soft) for the bench and the server it spawns: {fd_limit}");

    let memory = memory_per_connection(connections).await?;

    let mut latency = Vec::new();
    latency.push(("bare axum + broadcast", bare_fan_out(subscribers, messages).await?));
    latency.push(("hdms sqlite, 1 instance", hdms_fan_out(Setup::Sqlite, subscribers, messages).await?));
    latency.push(("hdms postgres, 1 instance", hdms_fan_out(Setup::Postgres, subscribers, messages).await?));
    latency.push(("hdms postgres, 2 instances", hdms_fan_out(Setup::TwoPostgres, subscribers, messages).await?));

    println!("\n== connections held by one hdms-server process (SQLite), {ROOMS} rooms, one account ==");
    println!("idle server after login: VmRSS {:.1} MiB", mib(memory.idle_rss));
    println!("{:>12} {:>12} {:>18} {:>12}", "connections", "VmRSS MiB", "MiB per 1,000", "open s");
    for step in &memory.steps {
        println!(
            "{:>12} {:>12.1} {:>18.2} {:>12.1}",
            step.connections,
            mib(step.rss),
            mib(step.rss.saturating_sub(memory.idle_rss)) / step.connections as f64 * 1000.0,
            step.open_secs
        );
    }
    let last = memory.steps.last().expect("at least one step");
    let per_connection = (last.rss.saturating_sub(memory.idle_rss)) as f64 / last.connections as f64;
    println!(
        "after holding {} for {:?}: VmRSS {:.1} MiB, VmHWM {:.1} MiB, server CPU while holding {:.2} s ({:.0}% of one core)",
        last.connections,
        HOLD,
        mib(memory.held_rss),
        mib(memory.hwm),
        memory.hold_cpu_secs,
        memory.hold_cpu_secs / HOLD.as_secs_f64() * 100.0
    );
    println!(
        "=> {:.2} MiB per 1,000 connections; {:.0} connections per GiB (marginal), {:.0} per GiB counting the idle server; target 10,000 under 500 MiB: {}",
        per_connection * 1000.0 / 1048576.0,
        1073741824.0 / per_connection,
        last.connections as f64 * 1073741824.0 / memory.hwm as f64,
        if last.connections >= 10_000 && memory.hwm < 500 * 1048576 { "met" } else { "NOT met (see above)" }
    );

    println!("\n== one message to {subscribers} subscribers of one room, {messages} messages, loopback ==");
    let bare = latency[0].1.all;
    println!("{:<28} {:>10} {:>10} {:>10} {:>8} {:>8} {:>9}", "", "p50", "p99", "max", "p50 x", "p99 x", "lost");
    for (name, figures) in &latency {
        for (label, p) in figures.rows() {
            println!(
                "{:<28} {:>10.2?} {:>10.2?} {:>10.2?} {:>7.1}x {:>7.1}x {:>9}",
                format!("{name}{label}"),
                p.p50,
                p.p99,
                p.max,
                p.p50.as_secs_f64() / bare.p50.as_secs_f64(),
                p.p99.as_secs_f64() / bare.p99.as_secs_f64(),
                figures.lost
            );
        }
    }
    println!("target p99 under 50 ms; total bench time {:.0?}", started.elapsed());
    Ok(())
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / 1048576.0
}

/// Raises this process's soft descriptor limit to its hard one (children inherit it).
fn raise_fd_limit() -> u64 {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: plain system calls on a local struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return 0;
        }
        if limit.rlim_cur < limit.rlim_max {
            let raised = libc::rlimit { rlim_cur: limit.rlim_max, rlim_max: limit.rlim_max };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                limit = raised;
            }
        }
    }
    limit.rlim_cur
}

// ---------------------------------------------------------------------------------------------
// Memory: the real binary in its own process.

struct Step {
    connections: usize,
    rss: u64,
    open_secs: f64,
}

struct Memory {
    idle_rss: u64,
    steps: Vec<Step>,
    held_rss: u64,
    hwm: u64,
    hold_cpu_secs: f64,
}

/// VmRSS and VmHWM of a process, in bytes.
fn rss(pid: u32) -> anyhow::Result<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let field = |name: &str| -> anyhow::Result<u64> {
        let line = status.lines().find(|l| l.starts_with(name)).ok_or_else(|| anyhow::anyhow!("no {name}"))?;
        let kib: u64 = line.split_whitespace().nth(1).ok_or_else(|| anyhow::anyhow!("bad {name}"))?.parse()?;
        Ok(kib * 1024)
    };
    Ok((field("VmRSS:")?, field("VmHWM:")?))
}

/// User + system CPU seconds of a process.
fn cpu_secs(pid: u32) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name (which may hold spaces) start at field 3.
    let rest = stat.rsplit_once(')').ok_or_else(|| anyhow::anyhow!("bad stat"))?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields[11].parse::<f64>()? + fields[12].parse::<f64>()?;
    Ok(ticks / 100.0) // USER_HZ is 100 on Linux
}

async fn memory_per_connection(target: usize) -> anyhow::Result<Memory> {
    let data_dir = tempfile::tempdir()?;
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0")?;
        probe.local_addr()?.port()
    };
    let url = format!("http://127.0.0.1:{port}");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_hdms-server"))
        .env("HDMS_BIND", format!("127.0.0.1:{port}"))
        .env("HDMS_DATA_DIR", data_dir.path())
        .env("HDMS_ADMIN_EMAIL", EMAIL)
        .env("HDMS_ADMIN_PASSWORD", PASSWORD)
        .env("HDMS_JWT_SECRET", JWT_SECRET)
        .env("HDMS_ACCESS_TOKEN_TTL", "3600")
        .env("RUST_LOG", "warn")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    let pid = child.id().ok_or_else(|| anyhow::anyhow!("the server exited at once"))?;
    let result = async {
        let client = Client::new(&url)?;
        let deadline = Instant::now() + PATIENCE;
        loop {
            match client.login(EMAIL, PASSWORD).await {
                Ok(_) => break,
                Err(err) if Instant::now() > deadline => anyhow::bail!("the server did not come up: {err}"),
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
        let mut rooms = Vec::with_capacity(ROOMS);
        for i in 0..ROOMS {
            let ticket = client.create_ticket(&CreateTicket { subject: format!("Room {i}"), description: "bench".into(), ..Default::default() }).await?;
            rooms.push(ticket.id);
        }
        // One connection open and closed, so lazily built state is there before the baseline.
        let mut warm = open_subscribed(&client, rooms[0]).await?;
        warm.send(&ClientMessage::Unsubscribe { ticket_id: rooms[0] }).await?;
        warm.close().await;
        tokio::time::sleep(Duration::from_secs(1)).await;
        let (idle_rss, _) = rss(pid)?;
        println!("idle hdms-server: VmRSS {:.1} MiB", mib(idle_rss));

        let (stop, stopped) = watch::channel(false);
        let mut held: Vec<tokio::task::JoinHandle<()>> = Vec::with_capacity(target);
        let mut steps = Vec::new();
        let mut plan: Vec<usize> = [1_000, 2_500, 5_000, 10_000, 20_000].into_iter().filter(|&n| n < target).collect();
        plan.push(target);
        for step in plan {
            let opening = Instant::now();
            let from = held.len();
            let mut opened = futures::stream::iter(from..step)
                .map(|i| {
                    let client = client.clone();
                    let room = rooms[i % ROOMS];
                    async move { open_subscribed(&client, room).await }
                })
                .buffer_unordered(OPEN_CONCURRENCY);
            let mut failed = 0;
            while let Some(live) = opened.next().await {
                match live {
                    Ok(live) => held.push(tokio::spawn(drain(live, stopped.clone()))),
                    Err(err) => {
                        failed += 1;
                        if failed == 1 {
                            println!("opening a connection failed after {} held: {err}", held.len());
                        }
                    }
                }
            }
            if failed > 0 {
                println!("{failed} of {} openings failed in this step", step - from);
            }
            drop(opened);
            let open_secs = opening.elapsed().as_secs_f64();
            tokio::time::sleep(Duration::from_secs(2)).await;
            let (now, _) = rss(pid)?;
            println!("{} connections held: VmRSS {:.1} MiB (opened in {open_secs:.1} s)", held.len(), mib(now));
            steps.push(Step { connections: held.len(), rss: now, open_secs });
            if held.len() < step {
                break;
            }
        }
        let cpu_before = cpu_secs(pid)?;
        tokio::time::sleep(HOLD).await;
        let hold_cpu_secs = cpu_secs(pid)? - cpu_before;
        let (held_rss, hwm) = rss(pid)?;
        let alive = held.iter().filter(|task| !task.is_finished()).count();
        println!("after {HOLD:?}: {alive} of {} connections still open, VmRSS {:.1} MiB", held.len(), mib(held_rss));
        let _ = stop.send(true);
        for task in held {
            let _ = task.await;
        }
        Ok(Memory { idle_rss, steps, held_rss, hwm, hold_cpu_secs })
    }
    .await;
    let _ = child.start_kill();
    let _ = child.wait().await;
    result
}

async fn open_subscribed(client: &Client, ticket_id: Uuid) -> anyhow::Result<Live> {
    tokio::time::timeout(PATIENCE, async {
        let mut live = client.connect_live().await?;
        live.send(&ClientMessage::Subscribe { ticket_id, after_seq: None }).await?;
        loop {
            match live.next().await? {
                ServerMessage::Subscribed { .. } => return Ok(live),
                ServerMessage::Error { code, message } => anyhow::bail!("subscribe refused: {code}: {message}"),
                _ => continue,
            }
        }
    })
    .await?
}

/// Reads (and so answers pings) until told to stop or the server closes.
async fn drain(mut live: Live, mut stopped: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            message = live.next() => if message.is_err() { return },
            _ = stopped.changed() => {
                live.close().await;
                return;
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Latency.

#[derive(Clone, Copy)]
struct Percentiles {
    p50: Duration,
    p99: Duration,
    max: Duration,
}

impl Percentiles {
    fn of(mut samples: Vec<u64>) -> Percentiles {
        samples.sort_unstable();
        let at = |p: usize| Duration::from_nanos(samples.get((samples.len() * p / 100).min(samples.len().saturating_sub(1))).copied().unwrap_or(0));
        Percentiles { p50: at(50), p99: at(99), max: Duration::from_nanos(samples.last().copied().unwrap_or(0)) }
    }
}

struct Latency {
    all: Percentiles,
    /// Across instances: receivers on the sender's instance, and on the other one.
    split: Option<(Percentiles, Percentiles)>,
    /// Deliveries that never arrived.
    lost: usize,
}

impl Latency {
    fn rows(&self) -> Vec<(&'static str, Percentiles)> {
        let mut rows = vec![("", self.all)];
        if let Some((local, remote)) = self.split {
            rows.push((" (A→A)", local));
            rows.push((" (A→B)", remote));
        }
        rows
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Setup {
    Sqlite,
    Postgres,
    TwoPostgres,
}

struct InProcess {
    url: String,
    _shutdown: tokio::sync::oneshot::Sender<()>,
}

async fn serve_in_process(config: Config) -> anyhow::Result<InProcess> {
    let started = hdms_server::start(config).await?;
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let (shutdown, stop) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(hdms_server::serve(listener, started.state, async {
        let _ = stop.await;
    }));
    Ok(InProcess { url, _shutdown: shutdown })
}

async fn hdms_fan_out(setup: Setup, subscribers: usize, messages: usize) -> anyhow::Result<Latency> {
    let data_dir = tempfile::tempdir()?;
    let mut config = Config::defaults().without_rate_limits();
    config.data_dir = data_dir.path().to_path_buf();
    config.admin_email = Some(EMAIL.to_owned());
    config.admin_password = Some(PASSWORD.to_owned());
    config.jwt_secret = Some(JWT_SECRET.to_owned());
    config.access_token_ttl_secs = 3600;
    if setup != Setup::Sqlite {
        config.database_url = Some(fresh_postgres().await?);
    }
    let a = serve_in_process(config.clone()).await?;
    let b_dir = tempfile::tempdir()?;
    let b = match setup {
        Setup::TwoPostgres => {
            let mut second = config.clone();
            second.data_dir = b_dir.path().to_path_buf();
            Some(serve_in_process(second).await?)
        }
        _ => None,
    };
    let client_a = Client::new(&a.url)?;
    let login = client_a.login(EMAIL, PASSWORD).await?;
    let ticket = client_a.create_ticket(&CreateTicket { subject: "Fan-out".into(), description: "bench".into(), ..Default::default() }).await?;
    let client_b = match &b {
        Some(b) => {
            let client = Client::new(&b.url)?;
            client.set_token(Some(login.access_token.clone()));
            Some(client)
        }
        None => None,
    };
    // Receivers alternate between the instances; index parity tells which.
    let receivers = futures::stream::iter(0..subscribers)
        .map(|i| {
            let client = match (&client_b, i % 2) {
                (Some(b), 1) => b.clone(),
                _ => client_a.clone(),
            };
            async move { open_subscribed(&client, ticket.id).await }
        })
        .buffered(OPEN_CONCURRENCY)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<anyhow::Result<Vec<_>>>()?;
    let sender = open_subscribed(&client_a, ticket.id).await?;
    let figures = fan_out(sender, receivers, ticket.id, messages, b.is_some()).await;
    drop((a, b));
    figures
}

/// One sender, many receivers; each message waits for every receiver (or a deadline) before the
/// next goes, so each is measured on a quiet system.
async fn fan_out(mut sender: Live, receivers: Vec<Live>, ticket_id: Uuid, messages: usize, split: bool) -> anyhow::Result<Latency> {
    let base = Instant::now();
    let sent_at: Arc<Vec<AtomicU64>> = Arc::new((0..messages).map(|_| AtomicU64::new(0)).collect());
    let (arrived, mut arrivals) = mpsc::unbounded_channel::<usize>();
    let count = receivers.len();
    let tasks: Vec<_> = receivers
        .into_iter()
        .map(|mut live| {
            let sent_at = sent_at.clone();
            let arrived = arrived.clone();
            tokio::spawn(async move {
                let mut samples = Vec::with_capacity(messages);
                let mut seen = 0;
                while seen < messages {
                    let Ok(Ok(message)) = tokio::time::timeout(PATIENCE, live.next()).await else { break };
                    let now = base.elapsed().as_nanos() as u64;
                    if let Some(n) = message_number(&message) {
                        samples.push(now.saturating_sub(sent_at[n].load(Ordering::Acquire)));
                        seen += 1;
                        let _ = arrived.send(n);
                    }
                }
                live.close().await;
                samples
            })
        })
        .collect();
    drop(arrived);
    let mut received = vec![0usize; messages];
    let mut lost = 0;
    for n in 0..messages {
        sent_at[n].store(base.elapsed().as_nanos() as u64, Ordering::Release);
        sender.send(&ClientMessage::Send { ticket_id, body: format!("m{n}"), internal: false, client_ref: Some(n.to_string()) }).await?;
        let deadline = tokio::time::Instant::now() + PATIENCE;
        while received[n] < count {
            match tokio::time::timeout_at(deadline, arrivals.recv()).await {
                Ok(Some(m)) => received[m] += 1,
                _ => break,
            }
        }
        lost += count - received[n].min(count);
        // The sender's own echo, so its socket never backs up.
        while let Ok(Ok(message)) = tokio::time::timeout(Duration::from_millis(1), sender.next()).await {
            let _ = message;
        }
    }
    sender.close().await;
    let mut all = Vec::new();
    let mut local = Vec::new();
    let mut remote = Vec::new();
    for (i, task) in tasks.into_iter().enumerate() {
        let samples = task.await?;
        if split {
            if i % 2 == 1 { remote.extend_from_slice(&samples) } else { local.extend_from_slice(&samples) }
        }
        all.extend(samples);
    }
    Ok(Latency { all: Percentiles::of(all), split: split.then(|| (Percentiles::of(local), Percentiles::of(remote))), lost })
}

fn message_number(message: &ServerMessage) -> Option<usize> {
    match message {
        ServerMessage::Message { comment, .. } => comment.body.strip_prefix('m')?.parse().ok(),
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------------
// The baseline: a bare axum websocket server fanning out through a tokio broadcast channel. It
// answers auth and subscribe, and turns each `send` into the same `message` JSON hdms sends,
// serialised once and shared by every connection.

async fn bare_fan_out(subscribers: usize, messages: usize) -> anyhow::Result<Latency> {
    let (room, _) = broadcast::channel::<axum::extract::ws::Utf8Bytes>(4096);
    let app = Router::new().route("/ws", get(bare_upgrade)).with_state(room);
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let (shutdown, stop) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stop.await;
            })
            .await
    });
    let client = Client::new(&url)?;
    client.set_token(Some("bare".into()));
    let ticket_id = Uuid::new_v4();
    let receivers = futures::stream::iter(0..subscribers)
        .map(|_| {
            let client = client.clone();
            async move { open_subscribed(&client, ticket_id).await }
        })
        .buffered(OPEN_CONCURRENCY)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<anyhow::Result<Vec<_>>>()?;
    let sender = open_subscribed(&client, ticket_id).await?;
    let figures = fan_out(sender, receivers, ticket_id, messages, false).await;
    drop(shutdown);
    figures
}

async fn bare_upgrade(upgrade: WebSocketUpgrade, State(room): State<broadcast::Sender<axum::extract::ws::Utf8Bytes>>) -> axum::response::Response {
    upgrade.on_upgrade(move |socket| bare_connection(socket, room))
}

async fn bare_connection(mut socket: WebSocket, room: broadcast::Sender<axum::extract::ws::Utf8Bytes>) {
    let mut events = room.subscribe();
    let user_id = Uuid::new_v4();
    let mut seq = 0;
    loop {
        tokio::select! {
            frame = socket.recv() => {
                let Some(Ok(Message::Text(text))) = frame else { return };
                let reply = match serde_json::from_str::<ClientMessage>(text.as_str()) {
                    Ok(ClientMessage::Auth { .. }) => ServerMessage::Ready { user_id, protocol: hdms_api_types::ws::PROTOCOL_VERSION },
                    Ok(ClientMessage::Subscribe { ticket_id, .. }) => ServerMessage::Subscribed { ticket_id, last_seq: 0 },
                    Ok(ClientMessage::Send { ticket_id, body, .. }) => {
                        seq += 1;
                        // The author named as the server names them, so the bytes match.
                        let author = Some(hdms_api_types::tickets::PersonSummary { id: user_id, name: "Bench Agent".to_owned(), email: "agent@example.com".to_owned() });
                        let comment = Comment { id: Uuid::new_v4(), ticket_id, author_id: user_id, author, body, internal: false, created_at: chrono::Utc::now(), seq };
                        let message = ServerMessage::Message { ticket_id, seq, comment, client_ref: None };
                        let _ = room.send(serde_json::to_string(&message).expect("serialises").into());
                        continue;
                    }
                    _ => continue,
                };
                let text = serde_json::to_string(&reply).expect("serialises");
                if socket.send(Message::Text(text.into())).await.is_err() { return }
            }
            event = events.recv() => match event {
                Ok(text) => if socket.send(Message::Text(text)).await.is_err() { return },
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return,
            },
        }
    }
}

async fn fresh_postgres() -> anyhow::Result<String> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let admin_url = std::env::var("HDMS_BENCH_POSTGRES_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    let mut admin = sqlx::PgConnection::connect(&admin_url).await?;
    let name = format!("hdms_bench_live_{}_{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed));
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name}"))).execute(&mut admin).await?;
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&mut admin).await?;
    Ok(format!("{}/{name}", admin_url.rsplit_once('/').unwrap().0))
}
