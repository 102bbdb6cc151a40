//! `GET /ws`: live chat on tickets, presence, notifications and the live queues (changed
//! tickets, see `queue_feed`) for one authenticated person.
//!
//! One task per connection selects over the socket, the hub and a heartbeat. Sends have a
//! deadline and the hub's channel is bounded, so a client that stops reading is dropped or told
//! to resync; it never slows the others or grows the server's memory.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::response::{IntoResponse, Response};
use hdms_api_types::ApiError;
use chrono::Utc;
use hdms_api_types::tickets::PersonSummary;
use hdms_api_types::ws::{ClientMessage, PROTOCOL_VERSION, ServerMessage};
use tokio::sync::broadcast::error::RecvError;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::comms::hub::{self, Delivery, PresenceState};
use crate::error::Error;
use crate::state::AppState;
use crate::tickets::visibility::{is_staff, visible_ticket};
use crate::tickets::{comments, store};
use crate::users::auth::{AuthUser, authenticate};

const AUTH_DEADLINE: Duration = Duration::from_secs(5);
const HEARTBEAT: Duration = Duration::from_secs(20);
/// A connection that sends nothing (not even a pong) for this long is closed.
const IDLE_LIMIT: Duration = Duration::from_secs(60);
const MAX_FRAME: usize = 64 * 1024;
/// The socket's read buffer. tungstenite zero-fills the whole buffer on every read, so its
/// default (128 KiB) made each idle connection cost ~150 KiB of resident memory; chat frames are
/// small, and a larger frame (up to `MAX_FRAME`) grows the buffer as it arrives.
const READ_BUFFER: usize = 4 * 1024;
/// Close codes in the private range: 4401 authentication failed, 4408 timed out, 4429 too many
/// connections for this person.
const CLOSE_AUTH: u16 = 4401;
const CLOSE_TIMEOUT: u16 = 4408;
const CLOSE_TOO_MANY: u16 = 4429;
const CLOSE_PROTOCOL: u16 = 1002;
const CLOSE_TOO_BIG: u16 = 1009;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(websocket))
}

/// The websocket (protocol in the README): authenticate with a first `auth` message.
#[utoipa::path(get, path = "/ws", tag = "live",
    responses(
        (status = 101, description = "Switching to the websocket protocol"),
        (status = 400, description = "Not a websocket handshake (`websocket_handshake`)", body = ApiError),
        (status = 426, description = "The handshake asks for another protocol version (`websocket_handshake`)", body = ApiError),
    ))]
async fn websocket(State(state): State<AppState>, upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>) -> Response {
    let upgrade = match upgrade {
        Ok(upgrade) => upgrade,
        // axum answers these in plain text; every other answer of the server is JSON.
        Err(rejection) => {
            let body = ApiError {
                error: hdms_api_types::ErrorBody {
                    code: "websocket_handshake".to_owned(),
                    message: rejection.body_text(),
                    field: None,
                },
            };
            return (rejection.status(), axum::Json(body)).into_response();
        }
    };
    // The frame limit too: with only the message limit, tungstenite read a frame of up to its
    // default 16 MiB into memory before finding the message too long.
    upgrade.max_message_size(MAX_FRAME).max_frame_size(MAX_FRAME).read_buffer_size(READ_BUFFER).on_upgrade(move |socket| Connection::run(state, socket))
}

struct Connection {
    state: AppState,
    socket: WebSocket,
    user: AuthUser,
    /// Subscribed rooms and the last sequence number sent in each (dedupes catch-up and live).
    rooms: HashMap<Uuid, i64>,
    /// Following the queues (`subscribe_queues`).
    queues: bool,
    last_heard: Instant,
}

enum Flow {
    Continue,
    Close,
}

impl Connection {
    async fn run(state: AppState, mut socket: WebSocket) {
        let user = match tokio::time::timeout(AUTH_DEADLINE, first_auth(&state, &mut socket)).await {
            Ok(Ok(user)) => user,
            Ok(Err(err)) => {
                let _ = send(&mut socket, &error_message(&err), send_deadline(&state)).await;
                let _ = close(&mut socket, CLOSE_AUTH, "authentication failed").await;
                return;
            }
            Err(_) => {
                let _ = close(&mut socket, CLOSE_TIMEOUT, "no auth message in time").await;
                return;
            }
        };
        // Held until the connection ends: a person's connections are capped, so one credential
        // cannot hold the server's sockets and memory.
        let Some(_place) = state.sockets.open(user.id()) else {
            let refusal = ServerMessage::Error {
                code: "too_many_connections".into(),
                message: format!("you have {} live connections open already; close one", state.config.ws_max_connections_per_user),
            };
            let _ = send(&mut socket, &refusal, send_deadline(&state)).await;
            let _ = close(&mut socket, CLOSE_TOO_MANY, "too many connections").await;
            return;
        };
        state.hub.know_name(PersonSummary { id: user.id(), name: user.user.name.clone(), email: user.user.email.clone() });
        let mut connection = Connection { state, socket, user, rooms: HashMap::new(), queues: false, last_heard: Instant::now() };
        let ready = ServerMessage::Ready { user_id: connection.user.id(), protocol: PROTOCOL_VERSION };
        if send(&mut connection.socket, &ready, send_deadline(&connection.state)).await.is_ok() {
            connection.serve().await;
        }
        connection.leave_all().await;
    }

    async fn serve(&mut self) {
        let mut events = self.state.hub.subscribe();
        let mut heartbeat = tokio::time::interval(HEARTBEAT);
        heartbeat.tick().await;
        loop {
            let flow = tokio::select! {
                frame = self.socket.recv() => match frame {
                    Some(Ok(frame)) => {
                        self.last_heard = Instant::now();
                        self.on_frame(frame).await
                    }
                    Some(Err(err)) => {
                        // tungstenite drops the connection silently; the close code tells the
                        // client why (1009 for a message over MAX_FRAME, 1002 otherwise).
                        // Its error is only reachable as text through axum's.
                        let (code, reason) = if err.to_string().contains("Space limit exceeded") {
                            (CLOSE_TOO_BIG, "message too big")
                        } else {
                            (CLOSE_PROTOCOL, "protocol error")
                        };
                        tracing::info!(user_id = %self.user.id(), error = %err, "websocket read failed");
                        let _ = tokio::time::timeout(send_deadline(&self.state), close(&mut self.socket, code, reason)).await;
                        Flow::Close
                    }
                    None => Flow::Close,
                },
                event = events.recv() => match event {
                    Ok(delivery) => self.on_delivery(&delivery).await,
                    Err(RecvError::Lagged(missed)) => {
                        tracing::info!(user_id = %self.user.id(), missed, "slow websocket client told to resync");
                        self.reply(&ServerMessage::Resync { reason: format!("{missed} events were dropped for this connection") }).await
                    }
                    Err(RecvError::Closed) => Flow::Close,
                },
                _ = heartbeat.tick() => self.on_heartbeat().await,
            };
            if matches!(flow, Flow::Close) {
                break;
            }
        }
    }

    async fn reply(&mut self, message: &ServerMessage) -> Flow {
        match send(&mut self.socket, message, send_deadline(&self.state)).await {
            Ok(()) => Flow::Continue,
            Err(()) => Flow::Close,
        }
    }

    /// Sends a message the hub encoded once for every subscriber.
    async fn reply_encoded(&mut self, text: Utf8Bytes) -> Flow {
        match send_text(&mut self.socket, text, send_deadline(&self.state)).await {
            Ok(()) => Flow::Continue,
            Err(()) => Flow::Close,
        }
    }

    async fn on_heartbeat(&mut self) -> Flow {
        if self.last_heard.elapsed() > IDLE_LIMIT {
            let _ = close(&mut self.socket, CLOSE_TIMEOUT, "idle").await;
            return Flow::Close;
        }
        // Refresh presence so it does not expire while the person is still looking.
        for ticket_id in self.rooms.keys().copied().collect::<Vec<_>>() {
            self.state.hub.refresh(ticket_id, self.user.id());
        }
        match tokio::time::timeout(send_deadline(&self.state), self.socket.send(Message::Ping(Vec::new().into()))).await {
            Ok(Ok(())) => Flow::Continue,
            _ => Flow::Close,
        }
    }

    async fn on_frame(&mut self, frame: Message) -> Flow {
        let text = match frame {
            Message::Text(text) => text,
            Message::Close(_) => return Flow::Close,
            Message::Ping(_) | Message::Pong(_) => return Flow::Continue,
            Message::Binary(_) => {
                return self.reply(&ServerMessage::Error { code: "unsupported".into(), message: "send JSON text frames".into() }).await;
            }
        };
        if let Err(retry_after_secs) = self.state.sockets.message(self.user.id()) {
            return self.reply(&error_message(&Error::TooManyRequests { retry_after_secs })).await;
        }
        let message: ClientMessage = match serde_json::from_str(text.as_str()) {
            Ok(message) => message,
            Err(err) => return self.reply(&ServerMessage::Error { code: "malformed_message".into(), message: err.to_string() }).await,
        };
        let result = match message {
            ClientMessage::Auth { .. } => Err(Error::BadRequest { code: "already_authenticated", message: "this connection is authenticated".into() }),
            ClientMessage::Ping => return self.reply(&ServerMessage::Pong).await,
            ClientMessage::Subscribe { ticket_id, after_seq } => self.subscribe(ticket_id, after_seq).await,
            ClientMessage::Unsubscribe { ticket_id } => {
                self.rooms.remove(&ticket_id);
                let _ = self.state.hub.announce(ticket_id, self.user.id(), PresenceState::Left).await;
                Ok(vec![ServerMessage::Unsubscribed { ticket_id }])
            }
            ClientMessage::Send { ticket_id, body, internal, client_ref } => self.chat(ticket_id, &body, internal, client_ref).await,
            ClientMessage::Typing { ticket_id } => match self.rooms.contains_key(&ticket_id) {
                true => self.state.hub.announce(ticket_id, self.user.id(), PresenceState::Typing).await.map(|()| Vec::new()),
                false => Err(Error::invalid("ticket_id", "subscribe to the ticket first")),
            },
            ClientMessage::SubscribeQueues => {
                self.follow_queues(true);
                // Who is where already: changes follow live.
                match self.state.hub.presence_seen_by(self.user.id(), self.user.role()).await {
                    Ok(present) => Ok(std::iter::once(ServerMessage::QueuesSubscribed).chain(present).collect()),
                    Err(err) => Err(err),
                }
            }
            ClientMessage::UnsubscribeQueues => {
                self.follow_queues(false);
                Ok(Vec::new())
            }
        };
        let replies = match result {
            Ok(replies) => replies,
            Err(err) => vec![error_message(&err)],
        };
        for reply in &replies {
            if matches!(self.reply(reply).await, Flow::Close) {
                return Flow::Close;
            }
        }
        Flow::Continue
    }

    async fn subscribe(&mut self, ticket_id: Uuid, after_seq: Option<i64>) -> Result<Vec<ServerMessage>, Error> {
        visible_ticket(&self.state.db, &self.user, ticket_id).await?;
        let mut replies = Vec::new();
        let mut last = hub::last_seq(&self.state.db, ticket_id).await?;
        if let Some(after) = after_seq {
            let missed = hub::comments_after(&self.state.db, ticket_id, after, is_staff(&self.user)).await?;
            last = missed.last().map_or(after.max(0), |c| c.seq).max(after);
            replies.extend(missed.into_iter().map(|comment| ServerMessage::Message { ticket_id, seq: comment.seq, comment, client_ref: None }));
            // Anything newer than the catch-up arrives live, deduplicated by seq.
        }
        self.rooms.insert(ticket_id, last);
        replies.insert(0, ServerMessage::Subscribed { ticket_id, last_seq: last });
        self.state.hub.announce(ticket_id, self.user.id(), PresenceState::Viewing).await?;
        Ok(replies)
    }

    /// Stores the message (a reply, or an internal note from staff) before anyone sees it.
    async fn chat(&mut self, ticket_id: Uuid, body: &str, internal: bool, client_ref: Option<String>) -> Result<Vec<ServerMessage>, Error> {
        visible_ticket(&self.state.db, &self.user, ticket_id).await?;
        let now = Utc::now();
        let mut tx = self.state.db.begin().await?;
        let ticket = store::load_for_write(&mut tx, ticket_id, None).await?;
        let (comment, _) = comments::add(&mut tx, &self.state, &self.user, &ticket, body, internal, now).await?;
        crate::events::commit(tx, &self.state).await?;
        self.state.hub.ring();
        let Some(&last) = self.rooms.get(&ticket_id) else {
            return Ok(vec![ServerMessage::Message { ticket_id, seq: comment.seq, comment, client_ref }]);
        };
        if comment.seq <= last + 1 {
            self.rooms.insert(ticket_id, last.max(comment.seq));
            return Ok(vec![ServerMessage::Message { ticket_id, seq: comment.seq, comment, client_ref }]);
        }
        // Others' messages committed before this one may still be on their way through the hub;
        // answering with the echo alone would move this room past them and drop them when they
        // arrive. Send the gap from the database, in order, with the echo last.
        let missed = hub::comments_after(&self.state.db, ticket_id, last, is_staff(&self.user)).await?;
        let mut replies: Vec<ServerMessage> = missed
            .into_iter()
            .filter(|earlier| earlier.seq < comment.seq)
            .map(|earlier| ServerMessage::Message { ticket_id, seq: earlier.seq, comment: earlier, client_ref: None })
            .collect();
        self.rooms.insert(ticket_id, comment.seq);
        replies.push(ServerMessage::Message { ticket_id, seq: comment.seq, comment, client_ref });
        Ok(replies)
    }

    async fn on_delivery(&mut self, delivery: &Delivery) -> Flow {
        match delivery {
            Delivery::Comment { comment, wire } => {
                let Some(last) = self.rooms.get_mut(&comment.ticket_id) else { return Flow::Continue };
                if comment.seq <= *last {
                    return Flow::Continue;
                }
                // Counted as seen even when hidden from this person, so the seq gap an internal
                // note leaves does not look like a message still on its way (see `chat`).
                *last = comment.seq;
                if comment.internal && !is_staff(&self.user) {
                    return Flow::Continue;
                }
                self.reply_encoded(wire.clone()).await
            }
            Delivery::Notification { user_id, notification } if *user_id == self.user.id() => {
                self.reply(&ServerMessage::Notification { notification: notification.clone() }).await
            }
            Delivery::Notification { .. } => Flow::Continue,
            Delivery::Presence { ticket_id, wire, .. } if self.rooms.contains_key(ticket_id) => self.reply_encoded(wire.clone()).await,
            // Following the queues: presence on every ticket this person may see (the "someone
            // is viewing" mark of a queue's rows), checked as `GET /tickets` checks.
            Delivery::Presence { wire, audience: Some(audience), .. }
                if self.queues && audience.admits(self.user.id(), self.user.role()) =>
            {
                self.reply_encoded(wire.clone()).await
            }
            Delivery::Presence { .. } => Flow::Continue,
            Delivery::Tickets(batch) if self.queues => {
                for text in batch.messages_for(self.user.id(), self.user.role()) {
                    if matches!(self.reply_encoded(text).await, Flow::Close) {
                        return Flow::Close;
                    }
                }
                Flow::Continue
            }
            Delivery::Tickets(_) => Flow::Continue,
            Delivery::Resync { reason } => self.reply(&ServerMessage::Resync { reason: (*reason).to_owned() }).await,
        }
    }

    fn follow_queues(&mut self, follow: bool) {
        match (self.queues, follow) {
            (false, true) => self.state.hub.queue.follow(),
            (true, false) => self.state.hub.queue.unfollow(),
            _ => {}
        }
        self.queues = follow;
    }

    async fn leave_all(&mut self) {
        self.follow_queues(false);
        for ticket_id in self.rooms.keys().copied().collect::<Vec<_>>() {
            let _ = self.state.hub.announce(ticket_id, self.user.id(), PresenceState::Left).await;
        }
    }
}

async fn first_auth(state: &AppState, socket: &mut WebSocket) -> Result<AuthUser, Error> {
    let unauthenticated = || Error::unauthorized("unauthenticated", "the first message must be {\"type\":\"auth\",\"token\":\"…\"}");
    loop {
        match socket.recv().await {
            Some(Ok(Message::Text(text))) => {
                return match serde_json::from_str::<ClientMessage>(text.as_str()) {
                    Ok(ClientMessage::Auth { token }) => authenticate(state, &token).await,
                    _ => Err(unauthenticated()),
                };
            }
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            _ => return Err(unauthenticated()),
        }
    }
}

fn error_message(err: &Error) -> ServerMessage {
    let body = err.body();
    ServerMessage::Error { code: body.code, message: body.message }
}

/// A send that cannot complete in this time means the client stopped reading.
fn send_deadline(state: &AppState) -> Duration {
    Duration::from_secs(state.config.ws_send_deadline_secs)
}

async fn send(socket: &mut WebSocket, message: &ServerMessage, deadline: Duration) -> Result<(), ()> {
    let text = serde_json::to_string(message).map_err(|_| ())?;
    send_text(socket, text.into(), deadline).await
}

async fn send_text(socket: &mut WebSocket, text: Utf8Bytes, deadline: Duration) -> Result<(), ()> {
    match tokio::time::timeout(deadline, socket.send(Message::Text(text))).await {
        Ok(Ok(())) => Ok(()),
        _ => Err(()),
    }
}

async fn close(socket: &mut WebSocket, code: u16, reason: &'static str) -> Result<(), axum::Error> {
    socket.send(Message::Close(Some(CloseFrame { code, reason: reason.into() }))).await
}
