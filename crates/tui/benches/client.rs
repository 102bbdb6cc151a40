//! The agent client's speed and memory against a real server (issue 11): an `hdms-server` on
//! SQLite in its own process (this bench binary run again in server mode) with 10,000 tickets
//! in the agent's queue.
//!
//! Each figure comes with a baseline measured in the same run on the same machine:
//! - start to the first painted queue  vs  the bare HTTP fetch of the first page;
//! - key to redraw (scrolling, switching tabs), p50/p99  vs  drawing an empty frame;
//! - a chat message sent by another client until it is on screen, p50/p99  vs  the raw
//!   websocket delivery of a message to a bare typed-client connection;
//! - the client's memory (this process's resident set; the server lives in another process).
//!
//! `cargo bench -p hdms-tui --bench client`. Knobs: HDMS_BENCH_TICKETS (10000),
//! HDMS_BENCH_KEYS (2000), HDMS_BENCH_MESSAGES (200).

use std::time::{Duration, Instant};

use chrono::Utc;
use hdms_api_types::Role;
use hdms_api_types::client::{Client, Live};
use hdms_api_types::tickets::{BulkUpdate, CreateTicket, FieldChanges, TicketListQuery};
use hdms_api_types::users::CreateUser;
use hdms_api_types::ws::{ClientMessage, ServerMessage};
use hdms_tui::app::{Effect, Event, State, update};
use hdms_tui::keys::Keymap;
use hdms_tui::live::{LiveConfig, LiveWorker};
use hdms_tui::realtime;
use hdms_tui::{runtime, ui};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use tokio::sync::mpsc;
use uuid::Uuid;

const ADMIN_EMAIL: &str = "admin@example.com";
const PASSWORD: &str = "bench password 123";
/// Set in the server process: the data directory to serve.
const SERVER_MODE: &str = "HDMS_TUI_BENCH_SERVE";
/// Only reached when something is broken.
const PATIENCE: Duration = Duration::from_secs(30);
/// Tickets created at once while seeding (16 at once got an occasional 500 from SQLite).
const SEED_CONCURRENCY: usize = 4;

fn knob(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn main() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    match std::env::var_os(SERVER_MODE) {
        Some(data_dir) => runtime.block_on(serve(data_dir.into())),
        None => runtime.block_on(bench()),
    }
}

// --- the server, in its own process ---------------------------------------------------------

/// Server mode: serves `data_dir` on a loopback port, printed on stdout, until stdin closes.
async fn serve(data_dir: std::path::PathBuf) -> anyhow::Result<()> {
    let mut config = hdms_server::config::Config::defaults().without_rate_limits();
    config.data_dir = data_dir;
    config.jwt_secret = Some("tui-bench-secret-tui-bench-secret-0123456".to_owned());
    config.admin_email = Some(ADMIN_EMAIL.to_owned());
    config.admin_password = Some(PASSWORD.to_owned());
    let started = hdms_server::start(config).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    println!("{}", listener.local_addr()?);
    let stop = async {
        let mut sink = Vec::new();
        let _ = tokio::io::AsyncReadExt::read_to_end(&mut tokio::io::stdin(), &mut sink).await;
    };
    hdms_server::serve(listener, started.state, stop).await
}

struct ServerProcess {
    url: String,
    child: tokio::process::Child,
    _data_dir: tempfile::TempDir,
}

impl ServerProcess {
    async fn start() -> anyhow::Result<ServerProcess> {
        use tokio::io::AsyncBufReadExt;
        let data_dir = tempfile::tempdir()?;
        let mut child = tokio::process::Command::new(std::env::current_exe()?)
            .env(SERVER_MODE, data_dir.path())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()?;
        let stdout = child.stdout.take().expect("piped stdout");
        let mut line = String::new();
        tokio::time::timeout(PATIENCE, tokio::io::BufReader::new(stdout).read_line(&mut line)).await??;
        Ok(ServerProcess { url: format!("http://{}", line.trim()), child, _data_dir: data_dir })
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        // Closing its stdin stops it; kill_on_drop is the backstop.
        drop(self.child.stdin.take());
    }
}

// --- seeding --------------------------------------------------------------------------------

struct Desk {
    agent: Client,
    customer: Client,
    chat_ticket: Uuid,
}

async fn user(admin: &Client, url: &str, role: Role, email: &str) -> anyhow::Result<(Client, Uuid)> {
    let user = admin
        .create_user(&CreateUser { email: email.into(), name: format!("Bench {role}"), role, phone: None, password: Some(PASSWORD.into()) })
        .await?;
    let client = Client::new(url)?;
    client.login(email, PASSWORD).await?;
    Ok((client, user.id))
}

/// `tickets` tickets from one customer, all assigned to one agent (created over the API, then
/// assigned with bulk updates of 500).
async fn seed(url: &str, tickets: usize) -> anyhow::Result<Desk> {
    let admin = Client::new(url)?;
    admin.login(ADMIN_EMAIL, PASSWORD).await?;
    let (agent, agent_id) = user(&admin, url, Role::Agent, "agent@example.com").await?;
    let (customer, _) = user(&admin, url, Role::Customer, "customer@example.com").await?;
    let (supervisor, _) = user(&admin, url, Role::Supervisor, "supervisor@example.com").await?;
    let started = Instant::now();
    let mut ids = Vec::with_capacity(tickets);
    let mut next = 0;
    while next < tickets {
        let batch = SEED_CONCURRENCY.min(tickets - next);
        let creates = (next..next + batch).map(|i| {
            let customer = customer.clone();
            async move {
                let subject = format!("Printer on floor {} jams when printing double-sided #{i}", i % 12);
                customer.create_ticket(&CreateTicket { subject, description: "It jams.".into(), ..Default::default() }).await
            }
        });
        for ticket in futures::future::join_all(creates).await {
            ids.push(ticket?.id);
        }
        next += batch;
    }
    for chunk in ids.chunks(500) {
        let set = FieldChanges { assignee_id: Some(Some(agent_id)), ..Default::default() };
        supervisor.bulk_update(&BulkUpdate { ids: Some(chunk.to_vec()), set: Some(set), ..Default::default() }).await?;
    }
    println!("seeded {tickets} tickets assigned to the agent in {:.1} s", started.elapsed().as_secs_f64());
    Ok(Desk { agent, customer, chat_ticket: ids[0] })
}

// --- measuring ------------------------------------------------------------------------------

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 * p / 100.0) as usize).min(sorted.len() - 1)]
}

struct Summary {
    p50: Duration,
    p99: Duration,
}

fn summarize(mut samples: Vec<Duration>) -> Summary {
    samples.sort();
    Summary { p50: percentile(&samples, 50.0), p99: percentile(&samples, 99.0) }
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1000.0)
}

fn ratio(value: Duration, baseline: Duration) -> String {
    format!("{:.1}x", value.as_secs_f64() / baseline.as_secs_f64().max(1e-9))
}

/// This process's resident set and its peak, in bytes.
fn memory() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map_or(0, |kib| kib * 1024)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

/// Baseline: the bare HTTP fetch of the agent's first page, as the queue asks it.
async fn first_page_fetch(agent: &Client) -> anyhow::Result<Duration> {
    let query = TicketListQuery { assignee: Some("me".into()), limit: Some(50), ..Default::default() };
    // The first request opens the connection, as a starting client's does.
    let fresh = Client::new(agent.base_url().as_str())?;
    fresh.set_token(agent.token());
    let started = Instant::now();
    let page = fresh.list_tickets(&query).await?;
    let elapsed = started.elapsed();
    anyhow::ensure!(!page.items.is_empty(), "the agent's queue is empty");
    Ok(elapsed)
}

/// Baseline: drawing an empty frame on a 120x40 test terminal.
fn empty_frame(iterations: usize) -> Summary {
    let mut terminal = Terminal::new(TestBackend::new(120, 40)).expect("test terminal");
    let samples = (0..iterations)
        .map(|_| {
            let started = Instant::now();
            terminal.draw(|_| {}).expect("draw");
            started.elapsed()
        })
        .collect();
    summarize(samples)
}

/// Baseline: a chat message from the customer's websocket to a bare typed-client connection
/// of the agent, send to receive.
async fn raw_delivery(desk: &Desk, messages: usize) -> anyhow::Result<Summary> {
    let ticket_id = desk.chat_ticket;
    let mut agent = desk.agent.connect_live().await?;
    subscribe(&mut agent, ticket_id).await?;
    let mut customer = desk.customer.connect_live().await?;
    subscribe(&mut customer, ticket_id).await?;
    let mut samples = Vec::with_capacity(messages);
    for i in 0..messages {
        let body = format!("raw {i}");
        let started = Instant::now();
        customer.send(&ClientMessage::Send { ticket_id, body: body.clone(), internal: false, client_ref: None }).await?;
        loop {
            if let ServerMessage::Message { comment, .. } = tokio::time::timeout(PATIENCE, agent.next()).await??
                && comment.body == body
            {
                break;
            }
        }
        samples.push(started.elapsed());
    }
    Ok(summarize(samples))
}

async fn subscribe(live: &mut Live, ticket_id: Uuid) -> anyhow::Result<()> {
    live.send(&ClientMessage::Subscribe { ticket_id, after_seq: None }).await?;
    loop {
        if let ServerMessage::Subscribed { .. } = tokio::time::timeout(PATIENCE, live.next()).await?? {
            return Ok(());
        }
    }
}

// --- the client, driven as its runtime drives it ---------------------------------------------

/// The client's state, update and drawing on a 120x40 test terminal, with its effects performed
/// as the runtime performs them: HTTP calls through the typed client on tokio tasks, the
/// websocket through the live worker, answers and websocket events fed back as events.
struct Driver {
    state: State,
    terminal: Terminal<TestBackend>,
    client: Client,
    tx: mpsc::UnboundedSender<Event>,
    rx: mpsc::UnboundedReceiver<Event>,
    live: Option<LiveWorker>,
}

impl Driver {
    fn new(client: &Client) -> Driver {
        let (tx, rx) = mpsc::unbounded_channel();
        let state = State::new(client.base_url().as_str(), Keymap::default(), Utc::now());
        let terminal = Terminal::new(TestBackend::new(120, 40)).expect("test terminal");
        Driver { state, terminal, client: client.clone(), tx, rx, live: None }
    }

    fn feed(&mut self, event: Event) {
        let effects = update(&mut self.state, event);
        for effect in effects {
            self.perform(effect);
        }
    }

    fn draw(&mut self) -> &Buffer {
        let state = &self.state;
        self.terminal.draw(|frame| ui::draw(frame, state)).expect("draw");
        self.terminal.backend().buffer()
    }

    fn perform(&mut self, effect: Effect) {
        match effect {
            Effect::Call { id, call } => {
                let (client, tx) = (self.client.clone(), self.tx.clone());
                tokio::spawn(async move {
                    let answer = runtime::perform(&client, call).await;
                    let _ = tx.send(Event::Answer { id, answer });
                });
            }
            Effect::StartLive => {
                let (worker, mut events) = LiveWorker::spawn(self.client.clone(), std::sync::Arc::new(self.client.clone()), LiveConfig::default());
                let tx = self.tx.clone();
                tokio::spawn(async move {
                    while let Some(event) = events.recv().await {
                        if let Some(event) = realtime::from_worker(event) {
                            let _ = tx.send(Event::Live(event));
                        }
                    }
                });
                self.live = Some(worker);
            }
            Effect::Live(command) => {
                if let Some(live) = &self.live {
                    live.send(realtime::to_worker(command));
                }
            }
            // The clipboard, the external editor and quitting play no part in what is measured.
            _ => {}
        }
    }

    /// Handles events as they come, drawing after each, until the screen shows what `done`
    /// looks for.
    async fn until(&mut self, what: &str, done: impl Fn(&Buffer) -> bool) -> anyhow::Result<()> {
        loop {
            let event = tokio::time::timeout(PATIENCE, self.rx.recv())
                .await
                .map_err(|_| anyhow::anyhow!("the screen never showed {what}:\n{}", screen(self.terminal.backend().buffer())))?
                .expect("the driver holds a sender");
            self.feed(event);
            if done(self.draw()) {
                return Ok(());
            }
        }
    }

    /// Handles whatever events are waiting (answers to earlier keys), as the runtime would
    /// between two keys.
    fn settle(&mut self) {
        while let Ok(event) = self.rx.try_recv() {
            self.feed(event);
            self.draw();
        }
    }

    /// One key, timed from the event to the frame drawn for it.
    fn key(&mut self, code: KeyCode) -> Duration {
        let started = Instant::now();
        self.feed(Event::Key(KeyEvent::new(code, KeyModifiers::NONE)));
        self.draw();
        started.elapsed()
    }
}

fn screen(buffer: &Buffer) -> String {
    let width = buffer.area.width as usize;
    let symbols: Vec<&str> = buffer.content.iter().map(|cell| cell.symbol()).collect();
    symbols.chunks(width).map(|row| row.concat()).collect::<Vec<_>>().join("\n")
}

fn shows(buffer: &Buffer, text: &str) -> bool {
    screen(buffer).contains(text)
}

/// From nothing to the agent's queue painted with its tickets.
async fn start_to_first_queue(agent: &Client) -> anyhow::Result<(Duration, Driver)> {
    let started = Instant::now();
    let mut driver = Driver::new(agent);
    driver.feed(Event::Resize { width: 120, height: 40 });
    driver.feed(Event::Resumed { server: agent.base_url().to_string() });
    driver.draw();
    driver.until("the agent's queue", |buffer| shows(buffer, "Printer on floor")).await?;
    Ok((started.elapsed(), driver))
}

/// Scrolling down the queue and switching tabs, key to frame.
fn keys_to_frames(driver: &mut Driver, keys: usize) -> (Summary, Summary) {
    let mut scrolling = Vec::with_capacity(keys);
    for _ in 0..keys {
        driver.settle();
        scrolling.push(driver.key(KeyCode::Char('j')));
    }
    let tabs = ['2', '3', '4', '5', '1'];
    let mut switching = Vec::with_capacity(keys);
    for i in 0..keys / 4 {
        driver.settle();
        switching.push(driver.key(KeyCode::Char(tabs[i % tabs.len()])));
    }
    (summarize(scrolling), summarize(switching))
}

/// A chat message from the customer's websocket until the agent's open ticket shows it.
async fn chat_to_screen(driver: &mut Driver, desk: &Desk, messages: usize) -> anyhow::Result<Summary> {
    let ticket_id = desk.chat_ticket;
    driver.state.open_ticket(ticket_id);
    driver.feed(Event::Tick(Utc::now()));
    driver.until("the chat ticket", |buffer| shows(buffer, "Conversation (")).await?;
    let mut customer = desk.customer.connect_live().await?;
    subscribe(&mut customer, ticket_id).await?;
    // The first message also shows the worker has joined the room.
    let mut samples = Vec::with_capacity(messages);
    for i in 0..=messages {
        let body = format!("screen {i}");
        let started = Instant::now();
        customer.send(&ClientMessage::Send { ticket_id, body: body.clone(), internal: false, client_ref: None }).await?;
        driver.until(&body, |buffer| shows(buffer, &body)).await?;
        if i > 0 {
            samples.push(started.elapsed());
        }
    }
    Ok(summarize(samples))
}

async fn bench() -> anyhow::Result<()> {
    let tickets = knob("HDMS_BENCH_TICKETS", 10_000);
    let keys = knob("HDMS_BENCH_KEYS", 2_000);
    let messages = knob("HDMS_BENCH_MESSAGES", 200);
    let server = ServerProcess::start().await?;
    let desk = seed(&server.url, tickets).await?;
    let (rss_before, _) = memory();

    let fetch = first_page_fetch(&desk.agent).await?;
    let (first_paint, mut driver) = start_to_first_queue(&desk.agent).await?;
    let (rss_painted, _) = memory();
    let empty = empty_frame(keys);
    let (scrolling, switching) = keys_to_frames(&mut driver, keys);
    let raw = raw_delivery(&desk, messages).await?;
    let chat = chat_to_screen(&mut driver, &desk, messages).await?;
    let (rss, peak) = memory();

    println!("\n== hdms-tui against hdms-server (SQLite, its own process), {tickets} tickets in the agent's queue, 120x40 ==");
    println!(
        "start to first painted queue      {:>10}   target < 200 ms   baseline: bare HTTP fetch of the first page {} ({})",
        ms(first_paint),
        ms(fetch),
        ratio(first_paint, fetch)
    );
    println!(
        "key to redraw, scrolling (j)      p50 {} p99 {}   target p99 < 16 ms   baseline: empty frame p50 {} p99 {} ({} at p99)",
        ms(scrolling.p50),
        ms(scrolling.p99),
        ms(empty.p50),
        ms(empty.p99),
        ratio(scrolling.p99, empty.p99)
    );
    println!(
        "key to redraw, switching tabs     p50 {} p99 {}   target p99 < 16 ms   ({} the empty frame at p99)",
        ms(switching.p50),
        ms(switching.p99),
        ratio(switching.p99, empty.p99)
    );
    println!(
        "chat message to screen            p50 {} p99 {}   target p99 < 100 ms   baseline: raw websocket delivery p50 {} p99 {} ({} at p99)",
        ms(chat.p50),
        ms(chat.p99),
        ms(raw.p50),
        ms(raw.p99),
        ratio(chat.p99, raw.p99)
    );
    println!(
        "client memory                     VmRSS {} (peak {}); {} before the client started, {} once the queue was painted",
        mib(rss),
        mib(peak),
        mib(rss_before),
        mib(rss_painted)
    );
    Ok(())
}
