//! The state's side of the websocket: what it asks the live worker (`crate::live`) to do and
//! what it hears back, in the state's own terms. The runtime translates between these and the
//! worker's channels, so the worker can change inside without touching the screens.

use hdms_api_types::notifications::Notification;
use hdms_api_types::tickets::{Comment, PersonSummary, Ticket};
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq)]
pub enum LiveCommand {
    /// Join a ticket's room, receiving what came after `after_seq` first.
    Watch { ticket: Uuid, after_seq: Option<i64> },
    Unwatch { ticket: Uuid },
    /// The agent is typing in this room (the worker throttles what it sends).
    Typing { ticket: Uuid },
    /// Follow every ticket the agent may see (`ticket_changed`).
    FollowQueues,
}

/// How the websocket stands, for the status line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Connection {
    /// Not started (before sign-in), or no live worker.
    Off,
    Connecting,
    Online,
    /// Lost; trying again (a short drop shows this quietly, never as an error).
    Reconnecting { attempt: u32 },
    /// Not trying: the credential was refused (sign in again).
    Offline(String),
}

impl Connection {
    pub fn label(&self) -> String {
        match self {
            Connection::Off => "offline".to_owned(),
            Connection::Connecting => "connecting".to_owned(),
            Connection::Online => "live".to_owned(),
            Connection::Reconnecting { attempt } => format!("reconnecting ({attempt})"),
            Connection::Offline(reason) => format!("offline: {reason}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum LiveEvent {
    Connection(Connection),
    /// A message in a room, each delivered once, in order.
    Message { ticket: Uuid, seq: i64, comment: Box<Comment> },
    /// Who views and types in a room: of the ticket open, or (following the queues) of any
    /// ticket the user may see, for the queues' "someone else is viewing" mark.
    Presence { ticket: Uuid, viewing: Vec<Uuid>, typing: Vec<Uuid> },
    /// The names of the people of the presence that follows, as the server knows them now.
    People(Vec<PersonSummary>),
    TicketChanged { ticket: Box<Ticket>, reason: String },
    /// A ticket this user could see is out of their sight now (moved to another team): every
    /// queue drops it.
    TicketHidden { ticket: Uuid },
    Notification(Box<Notification>),
    /// Events may have been missed (a reconnect, or the server said `resync`): rooms are
    /// caught up by the worker; queues and notifications are reloaded.
    Resync,
}

/// The worker's events in the state's terms (`None`: nothing the state needs).
pub fn from_worker(event: crate::live::LiveEvent) -> Option<LiveEvent> {
    use crate::live::{ConnectionState, LiveEvent as Worker};
    Some(match event {
        Worker::Connection(state) => LiveEvent::Connection(match state {
            ConnectionState::Connecting => Connection::Connecting,
            ConnectionState::Connected => Connection::Online,
            ConnectionState::Reconnecting { attempt, .. } => Connection::Reconnecting { attempt },
            ConnectionState::Offline { reason } => Connection::Offline(reason),
        }),
        Worker::Message { ticket_id, seq, comment, .. } => LiveEvent::Message { ticket: ticket_id, seq, comment: Box::new(comment) },
        Worker::Presence { ticket_id, viewing, typing } => LiveEvent::Presence { ticket: ticket_id, viewing, typing },
        Worker::People { people, .. } => LiveEvent::People(people),
        Worker::Notification(notification) => LiveEvent::Notification(Box::new(notification)),
        Worker::TicketChanged { ticket, reason } => LiveEvent::TicketChanged { ticket, reason },
        Worker::TicketHidden { ticket_id } => LiveEvent::TicketHidden { ticket: ticket_id },
        Worker::Resync { .. } => LiveEvent::Resync,
        // Acknowledgements, and anything the worker learns to say before the screens use it.
        _ => return None,
    })
}

/// The state's commands in the worker's terms.
pub fn to_worker(command: LiveCommand) -> crate::live::LiveCommand {
    use crate::live::LiveCommand as Worker;
    match command {
        LiveCommand::Watch { ticket, after_seq } => Worker::Subscribe { ticket_id: ticket, after_seq },
        LiveCommand::Unwatch { ticket } => Worker::Unsubscribe { ticket_id: ticket },
        LiveCommand::Typing { ticket } => Worker::Typing { ticket_id: ticket },
        LiveCommand::FollowQueues => Worker::FollowQueues(true),
    }
}
