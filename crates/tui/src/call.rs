//! What the state asks of the server ([`Call`]) and what comes back ([`Answer`]): plain data, so
//! `update` stays pure and tests can assert on the calls it makes. The runtime turns each call
//! into typed-client requests (see [`crate::runtime::perform`]).

use std::path::PathBuf;

use hdms_api_types::Page;
use hdms_api_types::approvals::{Approval, ApprovalDecision, RequestApproval};
use hdms_api_types::files::Attachment;
use hdms_api_types::notifications::Notification;
use hdms_api_types::teams::Team;
use hdms_api_types::tickets::{
    AssignRequest, BulkResult, CannedReply, Macro, BulkUpdate, Comment, CreateTicket, HistoryEntry, LinkKind, MergeResult, SavedView, Status,
    Satisfaction, Ticket, TicketLink, TicketListQuery, TicketRating, Transition, UpdateTicket, Watcher,
};
use hdms_api_types::users::User;
use uuid::Uuid;

/// Tags every call; its answer comes back with the same id, and the state drops answers it no
/// longer waits for (a screen already left).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestId(pub u64);

#[derive(Debug, Clone, PartialEq)]
pub enum Call {
    /// Logs in (and saves the session as `hdms login` does).
    Login { email: String, password: String },
    /// The SMS-code step of a login.
    LoginOtp { challenge: String, code: String },
    Me,
    Views,
    Tickets(Box<TicketListQuery>),
    /// How many tickets a queue holds (its `limit`, `cursor` and `sort` do not matter).
    CountTickets(Box<TicketListQuery>),
    ViewTickets { view: Uuid, limit: u32, cursor: Option<String> },
    /// The tickets whose approvals wait on the caller.
    ApprovalQueue,
    /// A ticket with everything its screen shows.
    TicketDetail(Uuid),
    TicketByNumber(String),
    History(Uuid),
    Comment { ticket: Uuid, body: String, internal: bool },
    Transition { ticket: Uuid, to: Status, version: i64 },
    Assign { ticket: Uuid, request: AssignRequest },
    ClaimNext,
    Update { ticket: Uuid, update: Box<UpdateTicket> },
    Watch { ticket: Uuid, user: Uuid, watch: bool },
    RequestApproval { ticket: Uuid, request: RequestApproval },
    DecideApproval { approval: Uuid, decision: ApprovalDecision },
    CreateSubTicket { parent: Uuid, request: Box<CreateTicket> },
    /// Links `ticket` to the one people call `to` (a number such as `HD-12`).
    Link { ticket: Uuid, to: String, kind: LinkKind },
    /// Merges `ticket` into the one people call `into`.
    Merge { ticket: Uuid, into: String, version: i64 },
    Bulk(Box<BulkUpdate>),
    Notifications,
    MarkRead(Uuid),
    MarkAllRead,
    UnreadCount,
    SaveAttachment { attachment: Uuid, path: PathBuf },
    /// People whose name or email contains the text (assign pickers).
    FindPeople(String),
    CannedReplies,
    Macros,
    ApplyMacro { ticket: Uuid, macro_id: Uuid, version: i64 },
    User(Uuid),
    Teams,
    /// Raises a ticket, then attaches `files` to it (the upload's progress comes as
    /// [`crate::app::Event::Progress`]); the answer is the ticket.
    CreateTicket { request: Box<CreateTicket>, files: Vec<PathBuf> },
    /// Attaches a file from a path, with progress.
    Attach { ticket: Uuid, path: PathBuf },
    Rate { ticket: Uuid, score: Satisfaction, comment: Option<String> },
    /// The dashboard's numbers: each of `teams` (or only `team`) over `days`, with created vs
    /// resolved and the response times for `team`, else everything the caller reports on.
    Dashboard { teams: Vec<hdms_api_types::tickets::TeamSummary>, team: Option<Uuid>, days: u32 },
}

/// Everything the ticket screen shows, fetched together.
#[derive(Debug, Clone, PartialEq)]
pub struct TicketDetail {
    pub ticket: Ticket,
    pub comments: Vec<Comment>,
    pub transitions: Vec<Transition>,
    pub attachments: Vec<Attachment>,
    pub subtickets: Vec<Ticket>,
    pub links: Vec<TicketLink>,
    pub watchers: Vec<Watcher>,
    pub approvals: Vec<Approval>,
    /// The requester's rating, once the ticket is resolved and rated.
    pub rating: Option<TicketRating>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    LoggedIn { user: User, saved_in: String },
    OtpRequired { challenge: String, phone_hint: String, expires_in: u64 },
    Me(User),
    Views(Vec<SavedView>),
    Tickets(Page<Ticket>),
    Count(u64),
    Ticket(Box<Ticket>),
    Detail(Box<TicketDetail>),
    History(Vec<HistoryEntry>),
    Comment(Box<Comment>),
    Approval(Box<Approval>),
    Merged(Box<MergeResult>),
    Linked(Box<TicketLink>),
    Attached(Box<Attachment>),
    Dashboard(Box<crate::screens::dashboard::DashboardData>),
    Bulk(BulkResult),
    Notifications(Page<Notification>),
    Unread(i64),
    Saved { path: PathBuf, bytes: u64 },
    People(Vec<User>),
    User(User),
    Teams(Vec<Team>),
    CannedReplies(Vec<CannedReply>),
    Macros(Vec<Macro>),
    Done,
}

/// A refused or failed call, as the message line shows it: the server's own message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub status: Option<u16>,
    pub code: Option<String>,
    pub message: String,
}

impl Failure {
    pub fn new(message: impl Into<String>) -> Failure {
        Failure { status: None, code: None, message: message.into() }
    }

    /// The session is over (401 after a refresh was tried): sign in again.
    pub fn is_unauthenticated(&self) -> bool {
        self.status == Some(401)
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.code {
            Some(code) => write!(f, "{} ({code})", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl From<hdms_api_types::client::ClientError> for Failure {
    fn from(err: hdms_api_types::client::ClientError) -> Failure {
        use hdms_api_types::client::ClientError;
        let status = err.status().map(|s| s.as_u16());
        match err {
            ClientError::Api { body, .. } => Failure { status, code: Some(body.error.code), message: body.error.message },
            other => Failure { status, code: None, message: other.to_string() },
        }
    }
}
