//! The state's side of the websocket: what it asks the live worker (`crate::live`) to do and
//! what it hears back, in the state's own terms. The runtime translates between these and the
//! worker's channels, so the worker can change inside without touching the screens.

use hdms_api_types::notifications::Notification;
use hdms_api_types::tickets::{Comment, Ticket};
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
}

impl Connection {
    pub fn label(&self) -> String {
        match self {
            Connection::Off => "offline".to_owned(),
            Connection::Connecting => "connecting".to_owned(),
            Connection::Online => "live".to_owned(),
            Connection::Reconnecting { attempt } => format!("reconnecting ({attempt})"),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum LiveEvent {
    Connection(Connection),
    /// A message in a room, each delivered once, in order.
    Message { ticket: Uuid, seq: i64, comment: Box<Comment> },
    Presence { ticket: Uuid, viewing: Vec<Uuid>, typing: Vec<Uuid> },
    TicketChanged { ticket: Box<Ticket>, reason: String },
    Notification(Box<Notification>),
}
