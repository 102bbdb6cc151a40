//! Real servers for the live worker's tests: an `hdms-server` on SQLite or PostgreSQL in this
//! process, on its own tokio runtime so it can be stopped like a killed process (every task and
//! socket dropped) and started again on the same data directory and port; and a websocket
//! relay between the worker and the server that can cut the network and records what the
//! worker sends.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use hdms_api_types::Role;
use hdms_api_types::client::Client;
use hdms_api_types::tickets::{CreateTicket, Ticket};
use hdms_api_types::users::CreateUser;
use hdms_api_types::ws::{ClientMessage, ServerMessage};
use hdms_server::config::Config;
use hdms_tui::live::LiveEvent;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::tungstenite::Message;

/// The server's own test support, for its fresh PostgreSQL databases (one per test).
#[path = "../../../server/tests/common/mod.rs"]
mod server_common;

pub use server_common::Backend;

pub const ADMIN_EMAIL: &str = "admin@example.com";
pub const ADMIN_PASSWORD: &str = "correct horse battery staple";
pub const PASSWORD: &str = "a long enough password";

/// Long enough for anything on loopback; only reached when something is broken.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// A server that can be stopped and started again on the same data directory and port.
pub struct Server {
    pub url: String,
    addr: SocketAddr,
    config: Config,
    runtime: Option<tokio::runtime::Runtime>,
    _data_dir: tempfile::TempDir,
}

impl Server {
    pub async fn start(backend: Backend) -> Server {
        Self::start_with(backend, |_| {}).await
    }

    pub async fn start_with(backend: Backend, adjust: impl FnOnce(&mut Config)) -> Server {
        let data_dir = tempfile::tempdir().expect("temp dir");
        let mut config = Config::defaults();
        config.data_dir = data_dir.path().to_path_buf();
        config.jwt_secret = Some("tui-live-test-secret-tui-live-test-0123".to_owned());
        config.admin_email = Some(ADMIN_EMAIL.to_owned());
        config.admin_password = Some(ADMIN_PASSWORD.to_owned());
        config.db_max_connections = 5;
        if backend == Backend::Postgres {
            config.database_url = Some(server_common::fresh_postgres_database().await);
        }
        adjust(&mut config);
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().unwrap();
        let mut server = Server { url: format!("http://{addr}"), addr, config, runtime: None, _data_dir: data_dir };
        server.serve(listener).await;
        server
    }

    /// Serves on `listener` from a runtime of its own; returns once the port accepts.
    async fn serve(&mut self, listener: std::net::TcpListener) {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("server runtime");
        let config = self.config.clone();
        let (ready, is_ready) = tokio::sync::oneshot::channel();
        runtime.spawn(async move {
            let started = hdms_server::start(config).await.expect("server starts");
            listener.set_nonblocking(true).unwrap();
            let listener = TcpListener::from_std(listener).unwrap();
            let _ = ready.send(());
            let _ = hdms_server::serve(listener, started.state, std::future::pending()).await;
        });
        is_ready.await.expect("the server started");
        self.runtime = Some(runtime);
    }

    /// Stops the server the hard way: its tasks and sockets are dropped mid-flight, as when the
    /// process dies.
    pub async fn stop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            tokio::task::spawn_blocking(move || runtime.shutdown_timeout(Duration::from_secs(5))).await.unwrap();
        }
    }

    /// Starts it again on the same data directory and port.
    pub async fn restart(&mut self) {
        self.stop().await;
        // The old sockets close as their runtime goes; the port is free a moment later.
        let deadline = tokio::time::Instant::now() + PATIENCE;
        let listener = loop {
            match std::net::TcpListener::bind(self.addr) {
                Ok(listener) => break listener,
                Err(err) => {
                    assert!(tokio::time::Instant::now() < deadline, "port {} not free again: {err}", self.addr);
                    tokio::task::yield_now().await;
                }
            }
        };
        self.serve(listener).await;
    }

    pub fn anonymous(&self) -> Client {
        Client::new(&self.url).expect("client")
    }

    pub async fn admin(&self) -> Client {
        let client = self.anonymous();
        client.login(ADMIN_EMAIL, ADMIN_PASSWORD).await.expect("admin logs in");
        client
    }

    /// A new user with this role, logged in.
    pub async fn user(&self, role: Role) -> (Client, hdms_api_types::users::User) {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let email = format!("{role}{n}@example.com");
        let user = self
            .admin()
            .await
            .create_user(&CreateUser { email: email.clone(), name: format!("Test {role} {n}"), role, phone: None, password: Some(PASSWORD.to_owned()) })
            .await
            .expect("create user");
        let client = self.anonymous();
        client.login(&email, PASSWORD).await.expect("user logs in");
        (client, user)
    }

    /// An agent, a customer, and a ticket of the customer's.
    pub async fn chat(&self) -> Chat {
        let (customer, _) = self.user(Role::Customer).await;
        let (agent, agent_user) = self.user(Role::Agent).await;
        let ticket = customer.create_ticket(&CreateTicket { subject: "Chat".into(), description: "d".into(), ..Default::default() }).await.unwrap();
        Chat { agent, agent_id: agent_user.id, customer, ticket }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

pub struct Chat {
    pub agent: Client,
    pub agent_id: uuid::Uuid,
    pub customer: Client,
    pub ticket: Ticket,
}

/// A websocket relay on loopback in front of a server: what the network does between the
/// worker and the server, under the test's control.
pub struct Relay {
    pub url: String,
    /// Bumped to cut every open connection.
    generation: watch::Sender<u64>,
    refusing: Arc<Mutex<bool>>,
    sent: Arc<Mutex<Vec<ClientMessage>>>,
    /// Chat messages from the server still to be dropped before a `resync` is sent in their
    /// place: what the server does for a connection that fell behind.
    to_drop: Arc<Mutex<usize>>,
}

impl Relay {
    pub async fn start(server: &Server) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let target = format!("{}/ws", server.url.replacen("http", "ws", 1));
        let (generation, _) = watch::channel(0u64);
        let relay = Relay { url, generation, refusing: Arc::default(), sent: Arc::default(), to_drop: Arc::default() };
        let (refusing, sent, generation, to_drop) = (relay.refusing.clone(), relay.sent.clone(), relay.generation.clone(), relay.to_drop.clone());
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                if *refusing.lock().unwrap() {
                    drop(stream);
                    continue;
                }
                tokio::spawn(relay_one(stream, target.clone(), generation.subscribe(), sent.clone(), to_drop.clone()));
            }
        });
        relay
    }

    /// Cuts every connection (no close frame: the network went away) and refuses new ones
    /// until [`Relay::reopen`].
    pub fn cut(&self) {
        *self.refusing.lock().unwrap() = true;
        self.generation.send_modify(|generation| *generation += 1);
    }

    /// Drops the next `count` chat messages the server sends, then sends `resync` as the server
    /// does when a connection fell behind.
    pub fn drop_then_resync(&self, count: usize) {
        *self.to_drop.lock().unwrap() = count;
    }

    pub fn reopen(&self) {
        *self.refusing.lock().unwrap() = false;
    }

    /// Everything the worker sent through the relay (but its tokens), in order.
    pub fn sent(&self) -> Vec<ClientMessage> {
        self.sent.lock().unwrap().clone()
    }

    /// A client whose websocket goes through the relay (its HTTP calls would too, so only
    /// hand it to the worker).
    pub fn client_for(&self, client: &Client) -> Client {
        let relayed = Client::new(&self.url).unwrap();
        relayed.set_token(client.token());
        relayed
    }
}

async fn relay_one(
    stream: TcpStream,
    target: String,
    mut generation: watch::Receiver<u64>,
    sent: Arc<Mutex<Vec<ClientMessage>>>,
    to_drop: Arc<Mutex<usize>>,
) {
    let Ok(mut inbound) = tokio_tungstenite::accept_async(stream).await else { return };
    let Ok((mut outbound, _)) = tokio_tungstenite::connect_async(target.as_str()).await else { return };
    loop {
        tokio::select! {
            _ = generation.changed() => return,
            frame = inbound.next() => match frame {
                Some(Ok(Message::Text(text))) => {
                    if let Ok(message) = serde_json::from_str::<ClientMessage>(text.as_str())
                        && !matches!(message, ClientMessage::Auth { .. })
                    {
                        sent.lock().unwrap().push(message);
                    }
                    if outbound.send(Message::Text(text)).await.is_err() { return }
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => {}
            },
            frame = outbound.next() => match frame {
                Some(Ok(Message::Text(text))) => {
                    let mut text = text;
                    if let Ok(ServerMessage::Message { .. }) = serde_json::from_str::<ServerMessage>(text.as_str()) {
                        let mut to_drop = to_drop.lock().unwrap();
                        if *to_drop > 0 {
                            *to_drop -= 1;
                            if *to_drop > 0 {
                                continue;
                            }
                            let resync = ServerMessage::Resync { reason: "the test relay dropped events".into() };
                            text = serde_json::to_string(&resync).unwrap().into();
                        }
                    }
                    if inbound.send(Message::Text(text)).await.is_err() { return }
                }
                Some(Ok(Message::Close(frame))) => {
                    let _ = inbound.send(Message::Close(frame)).await;
                    return;
                }
                None | Some(Err(_)) => return,
                Some(Ok(_)) => {}
            },
        }
    }
}

/// The worker's events, read with patience.
pub struct Events {
    pub rx: mpsc::UnboundedReceiver<LiveEvent>,
    /// Every event seen so far, for assertions about what was (not) shown.
    pub seen: Vec<LiveEvent>,
}

impl Events {
    pub fn new(rx: mpsc::UnboundedReceiver<LiveEvent>) -> Events {
        Events { rx, seen: Vec::new() }
    }

    pub async fn next(&mut self) -> LiveEvent {
        let event = tokio::time::timeout(PATIENCE, self.rx.recv())
            .await
            .unwrap_or_else(|_| panic!("no event in time; seen so far: {:#?}", self.seen))
            .expect("the worker is running");
        self.seen.push(event.clone());
        event
    }

    /// Skips events until one matches.
    pub async fn until<T>(&mut self, mut pick: impl FnMut(&LiveEvent) -> Option<T>) -> T {
        loop {
            let event = self.next().await;
            if let Some(found) = pick(&event) {
                return found;
            }
        }
    }

    /// The bodies of the next `count` chat messages, skipping other events.
    pub async fn messages(&mut self, count: usize) -> Vec<String> {
        let mut bodies = Vec::new();
        while bodies.len() < count {
            if let LiveEvent::Message { comment, .. } = self.next().await {
                bodies.push(comment.body);
            }
        }
        bodies
    }
}
