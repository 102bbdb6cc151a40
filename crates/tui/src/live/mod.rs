//! The websocket worker: one tokio task owns the live connection (`GET /ws`) for the whole
//! client. The UI sends it [`LiveCommand`]s and receives [`LiveEvent`]s; it never waits on the
//! network.
//!
//! What it guarantees:
//! - Each room's messages are delivered once and in `seq` order, across reconnects: it
//!   remembers the last `seq` delivered per room and subscribes again with it, and drops
//!   anything at or below it.
//! - It reconnects by itself after a network drop or a server restart, with exponential backoff
//!   and jitter, authenticating afresh each time through a [`TokenSource`] (the access token may
//!   have been refreshed meanwhile, or need refreshing now).
//! - A drop mended within the grace period is never shown: [`ConnectionState::Reconnecting`]
//!   is reported only after it ([`LiveConfig::grace`]).
//! - A `resync` from the server (events were dropped for this connection) is handled by
//!   subscribing every room again with its last `seq`; the UI is told with
//!   [`LiveEvent::Resync`], also sent after every reconnect, to reload what rooms do not cover
//!   (notifications, queues).
//! - Typing notices go out at most once per [`LiveConfig::typing_interval`] per room.
//!
//! ```no_run
//! # async fn demo(client: hdms_api_types::client::Client, ticket_id: uuid::Uuid) {
//! use hdms_tui::live::{LiveCommand, LiveConfig, LiveEvent, LiveWorker};
//! let (worker, mut events) = LiveWorker::spawn(client.clone(), std::sync::Arc::new(client), LiveConfig::default());
//! worker.send(LiveCommand::Subscribe { ticket_id, after_seq: Some(12) });
//! while let Some(event) = events.recv().await {
//!     if let LiveEvent::Message { comment, .. } = event { println!("{}", comment.body) }
//! }
//! # }
//! ```

mod rooms;
mod status;
mod worker;

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use hdms_api_types::client::Client;
use hdms_api_types::notifications::Notification;
use hdms_api_types::tickets::{Comment, PersonSummary, Ticket};
use tokio::sync::mpsc;
use uuid::Uuid;

pub use rooms::Rooms;
pub use status::{ConnectionState, StatusTracker};

/// What the UI asks of the worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LiveCommand {
    /// Follow a ticket's room. `after_seq`: the last message the caller already has (from
    /// `GET …/comments`); everything after it is delivered. `None` delivers only new messages.
    Subscribe { ticket_id: Uuid, after_seq: Option<i64> },
    Unsubscribe { ticket_id: Uuid },
    /// A chat message. `client_ref` comes back on its [`LiveEvent::Message`] echo. While not
    /// connected it is not sent and [`LiveEvent::Unsent`] says so (the draft stays).
    Send { ticket_id: Uuid, body: String, internal: bool, client_ref: Option<String> },
    /// The user is typing in this room (throttled; dropped while not connected).
    Typing { ticket_id: Uuid },
    /// Follow every ticket the user may see (`ticket_changed`, `ticket_hidden`), or stop; kept
    /// across reconnects.
    FollowQueues(bool),
    /// Connect again now: after a new login (when [`ConnectionState::Offline`]), or to skip the
    /// current backoff wait.
    Reconnect,
}

/// What the worker tells the UI.
#[derive(Debug, Clone, PartialEq)]
pub enum LiveEvent {
    /// The state for the status line (see [`ConnectionState`] for the grace period).
    Connection(ConnectionState),
    /// A connection was authenticated as this user.
    Ready { user_id: Uuid },
    /// A room was joined; `last_seq` is its newest message.
    Subscribed { ticket_id: Uuid, last_seq: i64 },
    /// A message in a followed room (or the echo of a send), never twice, in `seq` order.
    Message { ticket_id: Uuid, seq: i64, comment: Comment, client_ref: Option<String> },
    /// Who views and who types in a room.
    Presence { ticket_id: Uuid, viewing: Vec<Uuid>, typing: Vec<Uuid> },
    /// The names of the people in the [`LiveEvent::Presence`] that follows ("Dana is typing").
    People { ticket_id: Uuid, people: Vec<PersonSummary> },
    Notification(Notification),
    /// After [`LiveCommand::FollowQueues`]: the server follows the user's queues.
    QueuesFollowed,
    /// A ticket the user may see changed (see `ServerMessage::TicketChanged`).
    TicketChanged { ticket: Box<Ticket>, reason: String },
    /// A ticket the user saw and may no longer see (given to another team, assigned away):
    /// drop it from every queue.
    TicketHidden { ticket_id: Uuid },
    /// Events may have been missed (the server said `resync`, or the connection was lost and
    /// is back): rooms are already caught up by the worker; reload notifications and queues.
    Resync { reason: String },
    /// A send that did not go out (not connected); nothing was stored.
    Unsent { ticket_id: Uuid, client_ref: Option<String>, reason: String },
    /// The server refused a request (`not_found` for a room the user may not see, …).
    ServerError { code: String, message: String },
}

/// Where the worker gets the token it authenticates with, on every (re)connect.
pub trait TokenSource: Send + Sync + 'static {
    /// The token to use now. `refresh` is true when the server just refused the previous one
    /// as invalid or expired: get a fresh one (trade the refresh token), or `None` when that is
    /// impossible (the worker then goes [`ConnectionState::Offline`]).
    fn token(&self, refresh: bool) -> BoxFuture<'_, Option<String>>;
}

/// The client's own credential, shared by its clones (so a refresh done for HTTP calls is seen
/// here); it is never refreshed by the worker.
impl TokenSource for Client {
    fn token(&self, refresh: bool) -> BoxFuture<'_, Option<String>> {
        let token = if refresh { None } else { Client::token(self) };
        Box::pin(async move { token })
    }
}

/// A [`TokenSource`] from an async closure, e.g. one that refreshes through the session.
pub struct TokenFn<F>(pub F);

impl<F, Fut> TokenSource for TokenFn<F>
where
    F: Fn(bool) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Option<String>> + Send + 'static,
{
    fn token(&self, refresh: bool) -> BoxFuture<'_, Option<String>> {
        Box::pin((self.0)(refresh))
    }
}

/// Timings; the defaults suit people, tests shorten them.
#[derive(Debug, Clone)]
pub struct LiveConfig {
    /// First wait before reconnecting; it doubles (with jitter) up to `backoff_max`.
    pub backoff_min: Duration,
    pub backoff_max: Duration,
    /// How long an outage stays unreported (it may mend by itself).
    pub grace: Duration,
    /// At most one typing notice per room per this long.
    pub typing_interval: Duration,
    /// How often the worker pings; a connection silent for three intervals is taken as dead
    /// (the server pings every 20 s too, so a live one is never silent that long).
    pub ping_interval: Duration,
    /// Longest wait for a connection and its authentication.
    pub connect_timeout: Duration,
}

impl Default for LiveConfig {
    fn default() -> Self {
        LiveConfig {
            backoff_min: Duration::from_millis(250),
            backoff_max: Duration::from_secs(30),
            grace: Duration::from_secs(3),
            typing_interval: Duration::from_secs(3),
            ping_interval: Duration::from_secs(15),
            connect_timeout: Duration::from_secs(10),
        }
    }
}

/// The handle on the worker task. Dropping it (every clone) stops the worker, which closes the
/// connection.
#[derive(Clone)]
pub struct LiveWorker {
    commands: mpsc::UnboundedSender<LiveCommand>,
}

impl LiveWorker {
    /// Starts the worker on the current tokio runtime. Events arrive on the receiver; the first
    /// is `Connection(Connecting)`.
    pub fn spawn(client: Client, tokens: Arc<dyn TokenSource>, config: LiveConfig) -> (LiveWorker, mpsc::UnboundedReceiver<LiveEvent>) {
        let (commands, command_rx) = mpsc::unbounded_channel();
        let (event_tx, events) = mpsc::unbounded_channel();
        tokio::spawn(worker::Worker::new(client, tokens, config, command_rx, event_tx).run());
        (LiveWorker { commands }, events)
    }

    /// Queues a command (never blocks). Returns false when the worker has stopped.
    pub fn send(&self, command: LiveCommand) -> bool {
        self.commands.send(command).is_ok()
    }
}
