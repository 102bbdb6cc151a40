//! The worker task: connect, serve the connection until it drops, wait (backoff), again.

use std::sync::Arc;
use std::time::Instant;

use backon::{BackoffBuilder, ExponentialBuilder};
use hdms_api_types::client::{Client, Live, LiveError};
use hdms_api_types::ws::{ClientMessage, ServerMessage};
use tokio::sync::mpsc;
use tokio::time::{sleep_until, timeout};

use super::rooms::Arrival;
use super::{ConnectionState, LiveCommand, LiveConfig, LiveEvent, Rooms, StatusTracker, TokenSource};

/// Refusals of the credential itself: a fresh token may cure them. Any other refusal is the
/// server's trouble (a restart half done, a database away) and is retried like a network error.
const CREDENTIAL_CODES: &[&str] = &["token_expired", "invalid_token", "session_revoked"];

/// How a connection attempt ended.
enum ConnectError {
    /// Network or server trouble: try again later.
    Transient,
    /// The credential was refused and no fresh one could be had.
    Refused(String),
}

/// Why a served connection ended.
enum Ended {
    Dropped,
    /// The UI went away.
    Stop,
    /// The UI asked for a fresh connection.
    Reconnect,
}

pub(super) struct Worker {
    client: Client,
    tokens: Arc<dyn TokenSource>,
    config: LiveConfig,
    commands: mpsc::UnboundedReceiver<LiveCommand>,
    events: mpsc::UnboundedSender<LiveEvent>,
    rooms: Rooms,
    follow_queues: bool,
    status: StatusTracker,
}

impl Worker {
    pub(super) fn new(
        client: Client,
        tokens: Arc<dyn TokenSource>,
        config: LiveConfig,
        commands: mpsc::UnboundedReceiver<LiveCommand>,
        events: mpsc::UnboundedSender<LiveEvent>,
    ) -> Worker {
        let status = StatusTracker::new(config.grace, Instant::now());
        Worker { client, tokens, config, commands, events, rooms: Rooms::default(), follow_queues: false, status }
    }

    fn backoff(&self) -> impl Iterator<Item = std::time::Duration> + use<> {
        ExponentialBuilder::default()
            .with_min_delay(self.config.backoff_min)
            .with_max_delay(self.config.backoff_max)
            .with_jitter()
            .without_max_times()
            .build()
    }

    fn emit(&self, event: LiveEvent) {
        // The UI dropped its receiver: it is quitting, and so will we on the next command.
        let _ = self.events.send(event);
    }

    fn show(&self, state: Option<ConnectionState>) {
        if let Some(state) = state {
            self.emit(LiveEvent::Connection(state));
        }
    }

    pub(super) async fn run(mut self) {
        self.emit(LiveEvent::Connection(ConnectionState::Connecting));
        let mut backoff = self.backoff();
        let mut served_before = false;
        loop {
            match self.connect().await {
                Ok(live) => {
                    backoff = self.backoff();
                    self.emit(LiveEvent::Ready { user_id: live.user_id() });
                    let state = self.status.connected();
                    self.show(state);
                    let ended = self.serve(live, served_before).await;
                    served_before = true;
                    match ended {
                        Ended::Stop => return,
                        Ended::Reconnect => continue,
                        Ended::Dropped => self.status.lost(Instant::now()),
                    }
                }
                Err(ConnectError::Refused(reason)) => {
                    let state = self.status.offline(reason);
                    self.show(state);
                    if !self.wait_offline().await {
                        return;
                    }
                    self.status.retrying(Instant::now());
                    continue;
                }
                Err(ConnectError::Transient) => {
                    let state = self.status.attempt_failed(Instant::now());
                    self.show(state);
                }
            }
            let delay = backoff.next().unwrap_or(self.config.backoff_max);
            if !self.wait_disconnected(Instant::now() + delay).await {
                return;
            }
        }
    }

    /// Connects and authenticates, refreshing the token once if the server refuses it as stale.
    async fn connect(&mut self) -> Result<Live, ConnectError> {
        let mut refresh = false;
        loop {
            let Some(token) = self.tokens.token(refresh).await else {
                return Err(ConnectError::Refused(if refresh {
                    "the session expired: log in again".into()
                } else {
                    "no credential: log in first".into()
                }));
            };
            match timeout(self.config.connect_timeout, self.client.connect_live_with(token)).await {
                Ok(Ok(live)) => return Ok(live),
                Ok(Err(LiveError::Refused { code, message })) => {
                    if !CREDENTIAL_CODES.contains(&code.as_str()) {
                        return Err(ConnectError::Transient);
                    }
                    if refresh {
                        return Err(ConnectError::Refused(format!("{code}: {message}")));
                    }
                    refresh = true;
                }
                Ok(Err(_)) | Err(_) => return Err(ConnectError::Transient),
            }
        }
    }

    /// Between attempts: keeps taking commands until `until`. False when the UI is gone.
    async fn wait_disconnected(&mut self, until: Instant) -> bool {
        loop {
            let grace = self.status.grace_deadline().filter(|deadline| *deadline < until);
            tokio::select! {
                () = sleep_until(until.into()) => return true,
                () = sleep_until(grace.unwrap_or(until).into()), if grace.is_some() => {
                    let state = self.status.tick(Instant::now());
                    self.show(state);
                }
                command = self.commands.recv() => match command {
                    None => return false,
                    Some(LiveCommand::Reconnect) => return true,
                    Some(command) => self.offline_command(command),
                },
            }
        }
    }

    /// Offline for good until the UI asks again. False when the UI is gone.
    async fn wait_offline(&mut self) -> bool {
        loop {
            match self.commands.recv().await {
                None => return false,
                Some(LiveCommand::Reconnect) => return true,
                Some(command) => self.offline_command(command),
            }
        }
    }

    /// A command while not connected: remembered for the next connection, or refused.
    fn offline_command(&mut self, command: LiveCommand) {
        match command {
            LiveCommand::Subscribe { ticket_id, after_seq } => self.rooms.subscribe(ticket_id, after_seq),
            LiveCommand::Unsubscribe { ticket_id } => self.rooms.unsubscribe(ticket_id),
            LiveCommand::Send { ticket_id, client_ref, .. } => {
                self.emit(LiveEvent::Unsent { ticket_id, client_ref, reason: "not connected: the message was not sent".into() });
            }
            LiveCommand::FollowQueues(follow) => self.follow_queues = follow,
            LiveCommand::Typing { .. } | LiveCommand::Reconnect => {}
        }
    }

    /// Serves one authenticated connection until it ends.
    async fn serve(&mut self, mut live: Live, reconnected: bool) -> Ended {
        self.rooms.forget_typing();
        if self.resubscribe(&mut live).await.is_err() {
            return Ended::Dropped;
        }
        if self.follow_queues && live.send(&ClientMessage::SubscribeQueues).await.is_err() {
            return Ended::Dropped;
        }
        if reconnected {
            self.emit(LiveEvent::Resync { reason: "reconnected".into() });
        }
        let mut last_heard = Instant::now();
        let mut ping = tokio::time::interval(self.config.ping_interval);
        ping.tick().await;
        loop {
            let outcome = tokio::select! {
                message = live.next() => match message {
                    Ok(message) => {
                        last_heard = Instant::now();
                        self.on_message(&mut live, message).await
                    }
                    Err(_) => Err(()),
                },
                command = self.commands.recv() => match command {
                    None => {
                        live.close().await;
                        return Ended::Stop;
                    }
                    Some(LiveCommand::Reconnect) => {
                        live.close().await;
                        return Ended::Reconnect;
                    }
                    Some(command) => self.on_command(&mut live, command).await,
                },
                _ = ping.tick() => {
                    if last_heard.elapsed() > self.config.ping_interval * 3 {
                        Err(())
                    } else {
                        live.send(&ClientMessage::Ping).await.map_err(drop)
                    }
                }
            };
            if outcome.is_err() {
                return Ended::Dropped;
            }
        }
    }

    async fn resubscribe(&mut self, live: &mut Live) -> Result<(), LiveError> {
        for (ticket_id, after_seq) in self.rooms.resubscribe_all() {
            live.send(&ClientMessage::Subscribe { ticket_id, after_seq }).await?;
        }
        Ok(())
    }

    async fn on_command(&mut self, live: &mut Live, command: LiveCommand) -> Result<(), ()> {
        let message = match command {
            LiveCommand::Subscribe { ticket_id, after_seq } => {
                self.rooms.subscribe(ticket_id, after_seq);
                ClientMessage::Subscribe { ticket_id, after_seq: self.rooms.last_seq(ticket_id) }
            }
            LiveCommand::Unsubscribe { ticket_id } => {
                self.rooms.unsubscribe(ticket_id);
                ClientMessage::Unsubscribe { ticket_id }
            }
            LiveCommand::Send { ticket_id, body, internal, client_ref } => ClientMessage::Send { ticket_id, body, internal, client_ref },
            LiveCommand::Typing { ticket_id } => {
                if !self.rooms.may_announce_typing(ticket_id, Instant::now(), self.config.typing_interval) {
                    return Ok(());
                }
                ClientMessage::Typing { ticket_id }
            }
            LiveCommand::FollowQueues(follow) => {
                self.follow_queues = follow;
                if follow { ClientMessage::SubscribeQueues } else { ClientMessage::UnsubscribeQueues }
            }
            LiveCommand::Reconnect => return Ok(()),
        };
        live.send(&message).await.map_err(drop)
    }

    async fn on_message(&mut self, live: &mut Live, message: ServerMessage) -> Result<(), ()> {
        let event = match message {
            ServerMessage::Message { ticket_id, seq, comment, client_ref } => match self.rooms.arrive(ticket_id, seq, client_ref) {
                Arrival::Deliver(client_ref) => LiveEvent::Message { ticket_id, seq, comment, client_ref },
                Arrival::Skip => return Ok(()),
                Arrival::Resubscribe(after_seq) => {
                    return live.send(&ClientMessage::Subscribe { ticket_id, after_seq: Some(after_seq) }).await.map_err(drop);
                }
            },
            ServerMessage::Subscribed { ticket_id, last_seq } => {
                self.rooms.subscribed(ticket_id, last_seq);
                LiveEvent::Subscribed { ticket_id, last_seq }
            }
            ServerMessage::Presence { ticket_id, viewing, typing, people } => {
                if !people.is_empty() {
                    self.emit(LiveEvent::People { ticket_id, people });
                }
                LiveEvent::Presence { ticket_id, viewing, typing }
            }
            ServerMessage::Notification { notification } => LiveEvent::Notification(notification),
            ServerMessage::QueuesSubscribed => LiveEvent::QueuesFollowed,
            ServerMessage::TicketChanged { ticket, reason } => LiveEvent::TicketChanged { ticket, reason },
            ServerMessage::TicketHidden { ticket_id } => LiveEvent::TicketHidden { ticket_id },
            ServerMessage::Resync { reason } => {
                self.resubscribe(live).await.map_err(drop)?;
                LiveEvent::Resync { reason }
            }
            ServerMessage::Error { code, message } => LiveEvent::ServerError { code, message },
            // `ready` is answered once, to the authentication, inside `connect_live`.
            ServerMessage::Ready { .. } | ServerMessage::Unsubscribed { .. } | ServerMessage::Pong => return Ok(()),
        };
        self.emit(event);
        Ok(())
    }
}
