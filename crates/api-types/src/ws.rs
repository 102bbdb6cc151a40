//! The websocket protocol (`GET /ws`), version 1. Every frame is a JSON text message with a
//! `type` field. The first client message must be `auth`, within 5 seconds.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::notifications::Notification;
use crate::tickets::{Comment, PersonSummary, Ticket};

pub const PROTOCOL_VERSION: u32 = 1;

/// What a client sends. (The schema is for `docs/websocket.md`, generated from it.)
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMessage {
    /// An access token or personal API token (never in the URL, where logs would keep it).
    Auth { token: String },
    /// Join a ticket's room. With `after_seq`, everything after that message is sent first,
    /// in order, so a reconnecting client misses nothing and sees nothing twice.
    Subscribe {
        ticket_id: Uuid,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        after_seq: Option<i64>,
    },
    /// Leave a ticket's room.
    Unsubscribe { ticket_id: Uuid },
    /// A chat message: stored as a public reply (or, from staff, an internal note) before it is
    /// broadcast. `client_ref` comes back on the echo, to match it to what was sent.
    Send {
        ticket_id: Uuid,
        body: String,
        #[serde(default)]
        internal: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        client_ref: Option<String>,
    },
    /// The sender is typing in this room (lasts a few seconds).
    Typing { ticket_id: Uuid },
    /// Follow every ticket this connection may see (as `GET /api/v1/tickets` would list them):
    /// each create, assignment, reply, move or other change is pushed as `ticket_changed`, so
    /// open queues stay current without polling. Answered by `queues_subscribed`.
    SubscribeQueues,
    /// Stop following the queues.
    UnsubscribeQueues,
    /// Answered by `pong` (a client may check the connection with it).
    Ping,
}

/// What the server sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    /// The answer to `auth`: who the connection is, and the protocol version.
    Ready { user_id: Uuid, protocol: u32 },
    /// The room is joined; `last_seq` is its latest message's sequence number.
    Subscribed { ticket_id: Uuid, last_seq: i64 },
    /// The room is left.
    Unsubscribed { ticket_id: Uuid },
    /// A message in a room (also replies made over REST), with its place in the room's order
    /// (`seq`, increasing by room); `client_ref` as the sender gave it. Every message is also in
    /// `GET /api/v1/tickets/{id}/comments`.
    Message {
        ticket_id: Uuid,
        seq: i64,
        comment: Comment,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        client_ref: Option<String>,
    },
    /// Who is looking at the ticket and who is typing, so two agents don't answer at once.
    /// `people` names everyone in `viewing` and `typing` ("Dana is typing").
    Presence {
        ticket_id: Uuid,
        viewing: Vec<Uuid>,
        typing: Vec<Uuid>,
        #[serde(default)]
        people: Vec<PersonSummary>,
    },
    /// The queue feed is on (after `subscribe_queues`): load the queues now, then follow the changes.
    QueuesSubscribed,
    /// A ticket this connection may see was created or changed (after `subscribe_queues`): the
    /// ticket as `GET /api/v1/tickets/{id}` shows it now, so a client re-files it in its queues
    /// (a ticket that no longer matches a queue's filter leaves it). `reason` says what
    /// happened: `created`, `updated`, `assigned`, `commented`, `transitioned`, `merged`,
    /// `deleted` (drop it), `restored`. Changes that come together go out once, named by the
    /// weightiest. Customers are not told of internal notes.
    TicketChanged { ticket: Box<Ticket>, reason: String },
    /// A ticket this connection saw before its last change and may no longer see (given to a
    /// team the person is not in, or assigned away): drop it from every queue. (After
    /// `subscribe_queues`.)
    TicketHidden { ticket_id: Uuid },
    /// One of the user's notifications, as stored.
    Notification { notification: Notification },
    /// Events were dropped for this connection (it fell behind, or the server's database
    /// connection was lost for a moment): subscribe again with the last `seq` seen per room
    /// (and reload notifications).
    Resync { reason: String },
    /// A request failed (`not_found` for a room the user may not see; before `ready`, the
    /// connection closes with 4401 after it).
    Error { code: String, message: String },
    /// The answer to `ping`.
    Pong,
}
