//! Tickets: the heart of the help desk.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::Role;

/// How urgent a ticket is; ordered from least to most urgent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    Low,
    Normal,
    High,
    Urgent,
}

impl Priority {
    pub const ALL: [Priority; 4] = [Priority::Low, Priority::Normal, Priority::High, Priority::Urgent];

    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Low => "low",
            Priority::Normal => "normal",
            Priority::High => "high",
            Priority::Urgent => "urgent",
        }
    }

    /// Stored rank: 0 (low) to 3 (urgent), so queues sort and index on it.
    pub fn rank(self) -> i32 {
        self as i32
    }

    pub fn from_rank(rank: i32) -> Option<Priority> {
        Priority::ALL.into_iter().find(|p| p.rank() == rank)
    }

    /// The next priority up (escalation); urgent stays urgent.
    pub fn raised(self) -> Priority {
        match self {
            Priority::Low => Priority::Normal,
            Priority::Normal => Priority::High,
            Priority::High | Priority::Urgent => Priority::Urgent,
        }
    }
}

/// Where a ticket is in its life. The allowed moves are in docs/ticket-lifecycle.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Status {
    New,
    Open,
    InProgress,
    PendingCustomer,
    PendingApproval,
    Resolved,
    Closed,
    Cancelled,
}

impl Status {
    pub const ALL: [Status; 8] = [
        Status::New,
        Status::Open,
        Status::InProgress,
        Status::PendingCustomer,
        Status::PendingApproval,
        Status::Resolved,
        Status::Closed,
        Status::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::New => "new",
            Status::Open => "open",
            Status::InProgress => "in_progress",
            Status::PendingCustomer => "pending_customer",
            Status::PendingApproval => "pending_approval",
            Status::Resolved => "resolved",
            Status::Closed => "closed",
            Status::Cancelled => "cancelled",
        }
    }

    /// Resolved, closed or cancelled: no more work is expected.
    pub fn is_done(self) -> bool {
        matches!(self, Status::Resolved | Status::Closed | Status::Cancelled)
    }

    /// Closed and cancelled tickets never move again.
    pub fn is_final(self) -> bool {
        matches!(self, Status::Closed | Status::Cancelled)
    }

    /// The SLA clock stands still while the ticket waits on someone outside the team.
    pub fn pauses_sla(self) -> bool {
        matches!(self, Status::PendingCustomer | Status::PendingApproval)
    }
}

/// The number in a ticket reference as people type it: `HD-1042`, `hd-1042` or `1042`.
pub fn parse_ticket_number(text: &str) -> Option<i64> {
    let text = text.trim();
    let digits = match text.get(..3) {
        Some(prefix) if prefix.eq_ignore_ascii_case("HD-") => &text[3..],
        _ => text,
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok().filter(|n: &i64| *n > 0)
}

macro_rules! parse_by_name {
    ($ty:ident, $what:literal) => {
        impl std::str::FromStr for $ty {
            type Err = String;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                $ty::ALL
                    .into_iter()
                    .find(|v| v.as_str().eq_ignore_ascii_case(s.trim()))
                    .ok_or_else(|| format!(concat!("unknown ", $what, " '{}'"), s))
            }
        }

        impl TryFrom<String> for $ty {
            type Error = String;

            fn try_from(value: String) -> Result<Self, Self::Error> {
                value.parse()
            }
        }

        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
parse_by_name!(Priority, "priority");

impl TryFrom<i32> for Priority {
    type Error = String;

    fn try_from(rank: i32) -> Result<Self, Self::Error> {
        Priority::from_rank(rank).ok_or_else(|| format!("unknown priority rank {rank}"))
    }
}
parse_by_name!(Status, "status");

/// The SLA as it stands for one ticket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TicketSla {
    pub policy_id: Uuid,
    /// The clock stands still (waiting on the customer or an approval).
    pub paused: bool,
    pub first_response: SlaTarget,
    pub resolution: SlaTarget,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SlaTarget {
    /// When the target falls due; absent while paused or once met.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due_at: Option<DateTime<Utc>>,
    /// Business seconds left (negative once breached); absent once met.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remaining_secs: Option<i64>,
    /// When the target was met.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub met_at: Option<DateTime<Utc>>,
    /// Past the warning share of the target.
    pub warning: bool,
    pub breached: bool,
}

/// A person as a ticket shows them: enough to print a name in a list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PersonSummary {
    /// The user's id.
    pub id: Uuid,
    /// Their name, as others see it.
    pub name: String,
    /// Their email.
    pub email: String,
}

/// A team as a ticket shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TeamSummary {
    pub id: Uuid,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Ticket {
    pub id: Uuid,
    /// Human number, e.g. `HD-1042`.
    pub number: String,
    pub subject: String,
    pub description: String,
    pub requester_id: Uuid,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignee_id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team_id: Option<Uuid>,
    /// The requester's name and email, sent with every ticket so that lists show people by
    /// name without a request per row. Absent only if the user row is gone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requester: Option<PersonSummary>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignee: Option<PersonSummary>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team: Option<TeamSummary>,
    pub priority: Priority,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    pub tags: Vec<String>,
    pub status: Status,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_id: Option<Uuid>,
    /// Set when this ticket was merged into another.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merged_into_id: Option<Uuid>,
    /// Sub-tickets: how many there are, and how many are done.
    pub children_total: i64,
    pub children_done: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sla: Option<TicketSla>,
    /// Incremented by every change; send it back to update (stale versions answer 409).
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_responded_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateTicket {
    pub subject: String,
    pub description: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<Priority>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team_id: Option<Uuid>,
    /// Agents may raise a ticket on a customer's behalf.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requester_id: Option<Uuid>,
}

/// A partial update; `version` is required (or an `If-Match` header).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdateTicket {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<Priority>,
    /// `""` clears the category.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// Replaces the tags.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
}

/// The filters of the queue. Also the body of a saved view's query and of a bulk update's
/// `filter` (as JSON).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams, utoipa::ToSchema))]
pub struct TicketListQuery {
    /// Comma-separated statuses.
    pub status: Option<String>,
    /// A user id, `me` or `none`.
    pub assignee: Option<String>,
    pub team: Option<Uuid>,
    pub priority: Option<Priority>,
    pub requester: Option<Uuid>,
    pub tag: Option<String>,
    /// Only tickets whose next SLA target falls due within this many seconds (or is past); at
    /// most ten years (315,360,000).
    pub breaching_within: Option<i64>,
    /// Full-text search over subjects, descriptions and comments (ranked).
    pub q: Option<String>,
    /// `created`, `-created` (default), `updated`, `-updated` or `priority`.
    pub sort: Option<String>,
    /// `true` lists soft-deleted tickets only (admins).
    pub deleted: Option<bool>,
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

/// How many tickets a queue holds (`GET /tickets/count`): exactly what `GET /tickets` with the
/// same filters would page through. With `q`, the matches among the ranked documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TicketCount {
    pub count: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Comment {
    pub id: Uuid,
    pub ticket_id: Uuid,
    pub author_id: Uuid,
    /// The author's name and email, sent with every comment (as tickets send their people) so
    /// that a conversation names its authors without a request per author. Absent only if the
    /// user row is gone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<PersonSummary>,
    pub body: String,
    /// Internal notes are for agents only.
    pub internal: bool,
    pub created_at: DateTime<Utc>,
    /// The comment's place in the ticket's conversation (its live-chat room), from 1.
    #[serde(default)]
    pub seq: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateComment {
    pub body: String,
    #[serde(default)]
    pub internal: bool,
}

/// One change to a ticket: who, when, which field, before and after.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HistoryEntry {
    pub id: Uuid,
    /// Absent for changes the system made (SLA escalation, auto-close).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor_id: Option<Uuid>,
    pub at: DateTime<Utc>,
    pub field: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
    /// The automation rule that made the change, if one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule_id: Option<Uuid>,
}

/// A move the caller may make now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Transition {
    pub to: Status,
    /// A verb for menus: `start`, `resolve`, `reopen`, …
    pub name: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TransitionRequest {
    pub to: Status,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// When given, the move fails with 409 if the ticket changed since.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<i64>,
}

/// Assign to a person, to a team, or (`round_robin`) to the team's next active agent.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AssignRequest {
    /// `null` unassigns the person.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "crate::double_option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Uuid>))]
    pub assignee_id: Option<Option<Uuid>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team_id: Option<Uuid>,
    #[serde(default)]
    pub round_robin: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<i64>,
}

// --- agent tools: merge, links, bulk updates, canned replies, macros, saved views -------------

/// Merge this ticket into another (the survivor).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct MergeRequest {
    /// The ticket that survives.
    pub into: Uuid,
    /// When given, the merge fails with 409 if the merged ticket changed since.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<i64>,
}

/// What a merge did. When the two tickets have different requesters, the merged ticket's public
/// replies become internal notes on the survivor and its attachments stay where they are, so
/// neither customer sees the other's conversation or files.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MergeResult {
    /// The merged ticket, now closed, with `merged_into_id` set.
    pub merged: Ticket,
    pub survivor: Ticket,
    pub comments_moved: i64,
    /// Public replies that became internal notes (different requesters).
    pub comments_made_internal: i64,
    pub attachments_moved: i64,
    /// Attachments left on the merged ticket (different requesters).
    pub attachments_left: i64,
    pub watchers_moved: i64,
    pub subtickets_moved: i64,
}

/// How the requester found the handling of their ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Satisfaction {
    Good,
    Bad,
}

impl Satisfaction {
    pub const ALL: [Satisfaction; 2] = [Satisfaction::Good, Satisfaction::Bad];

    pub fn as_str(self) -> &'static str {
        match self {
            Satisfaction::Good => "good",
            Satisfaction::Bad => "bad",
        }
    }
}
parse_by_name!(Satisfaction, "satisfaction score");

/// Rate a resolved or closed ticket (its requester only). Rating again replaces the rating.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RateTicket {
    pub score: Satisfaction,
    /// Up to 2,000 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

/// A ticket's satisfaction rating.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TicketRating {
    pub ticket_id: Uuid,
    pub rated_by: Uuid,
    pub score: Satisfaction,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// How two tickets are related.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum LinkKind {
    /// Related both ways.
    Related,
    /// `from` reports the same thing as `to`.
    DuplicateOf,
    /// `from` was caused by `to`.
    CausedBy,
}

impl LinkKind {
    pub const ALL: [LinkKind; 3] = [LinkKind::Related, LinkKind::DuplicateOf, LinkKind::CausedBy];

    pub fn as_str(self) -> &'static str {
        match self {
            LinkKind::Related => "related",
            LinkKind::DuplicateOf => "duplicate_of",
            LinkKind::CausedBy => "caused_by",
        }
    }
}
parse_by_name!(LinkKind, "link kind");

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateLink {
    /// The other ticket: this ticket is `kind` of it (`duplicate_of`, `caused_by`).
    pub to: Uuid,
    pub kind: LinkKind,
}

/// A ticket as another record names it: the other end of a link, the ticket of an approval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LinkedTicket {
    pub id: Uuid,
    pub number: String,
    pub subject: String,
    pub status: Status,
}

/// Someone who follows a ticket: its replies reach them as notifications.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Watcher {
    pub user_id: Uuid,
    pub name: String,
    pub role: Role,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TicketLink {
    pub id: Uuid,
    pub kind: LinkKind,
    /// `from` is `kind` of `to` (e.g. `from` duplicate_of `to`).
    pub from_ticket_id: Uuid,
    pub to_ticket_id: Uuid,
    /// The ticket at the other end from the one asked about.
    pub other: LinkedTicket,
    pub created_by: Uuid,
    pub created_at: DateTime<Utc>,
}

/// Field changes of a bulk update or a macro; absent fields stay as they are.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct FieldChanges {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<Priority>,
    /// `""` clears the category.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// Replaces the tags.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
    /// Adds these tags (after `tags`, if both are given).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub add_tags: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub remove_tags: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team_id: Option<Uuid>,
    /// `null` unassigns. Giving tickets to someone else needs `tickets.reassign`.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "crate::double_option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Uuid>))]
    pub assignee_id: Option<Option<Uuid>>,
    /// Gives the ticket to its team's next agent in turn (after `team_id`, if both are given).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub round_robin: bool,
}

impl FieldChanges {
    pub fn is_empty(&self) -> bool {
        self == &FieldChanges::default()
    }
}

/// The same reply (or internal note) on each ticket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ReplyAction {
    pub body: String,
    #[serde(default)]
    pub internal: bool,
}

/// What to do to a ticket, in this order: change fields, reply, move status. A macro stores one.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TicketActions {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set: Option<FieldChanges>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply: Option<ReplyAction>,
    /// A status move, checked against the lifecycle table; a ticket already there is left as is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transition: Option<Status>,
    /// People to add to the ticket's watchers (they must be able to see it).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub watchers: Vec<Uuid>,
    /// Tell people or roles, through each one's chosen channels (in-app, SMS, email).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify: Option<NotifyAction>,
    /// Queue a `rule.fired` delivery to this webhook endpoint (whatever events it subscribes to).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_id: Option<Uuid>,
}

impl TicketActions {
    pub fn is_empty(&self) -> bool {
        self.set.as_ref().is_none_or(FieldChanges::is_empty)
            && self.reply.is_none()
            && self.transition.is_none()
            && self.watchers.is_empty()
            && self.notify.is_none()
            && self.webhook_id.is_none()
    }
}

/// A notification to people and roles; `title` and `body` take placeholders.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NotifyAction {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub users: Vec<Uuid>,
    /// Everyone active with these roles (`supervisor`, `admin`, ...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<crate::Role>,
    /// The ticket's assignee, if any.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub assignee: bool,
    pub title: String,
    #[serde(default)]
    pub body: String,
}

/// Change many tickets at once: a list of ids or a filter (at most 1,000 tickets per call).
/// Each ticket is checked and changed on its own; one failing never undoes the others.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct BulkUpdate {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ids: Option<Vec<Uuid>>,
    /// The queue's filters (`q` included); paging fields are ignored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<TicketListQuery>,
    /// The version each ticket was read at; a ticket that changed since fails with 409.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub versions: std::collections::BTreeMap<Uuid, i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set: Option<FieldChanges>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply: Option<ReplyAction>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transition: Option<Status>,
}

/// One ticket's outcome in a bulk update.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BulkItemResult {
    pub id: Uuid,
    pub ok: bool,
    /// The HTTP status this ticket alone would have answered (200 on success).
    pub http_status: u16,
    /// The ticket's version after the change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<crate::ErrorBody>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BulkResult {
    pub succeeded: u32,
    pub failed: u32,
    /// One per ticket, in the order given (by id for a filter).
    pub results: Vec<BulkItemResult>,
}

/// A reply text kept for reuse: shared with every agent (`shared`), or personal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CannedReply {
    pub id: Uuid,
    pub name: String,
    pub body: String,
    pub shared: bool,
    /// Absent for shared replies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<DateTime<Utc>>,
}

/// Creating a shared canned reply or macro needs `replies.share`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CannedReplyInput {
    pub name: String,
    pub body: String,
    #[serde(default)]
    pub shared: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CannedReplyUpdate {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// Making a reply shared, or a shared one personal, needs `replies.share`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shared: Option<bool>,
}

/// A named set of actions (field changes, a reply, a status move) applied to one ticket at a
/// time through the same checks as the separate routes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Macro {
    pub id: Uuid,
    pub name: String,
    pub actions: TicketActions,
    pub shared: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct MacroInput {
    pub name: String,
    pub actions: TicketActions,
    #[serde(default)]
    pub shared: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct MacroUpdate {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actions: Option<TicketActions>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shared: Option<bool>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ApplyMacro {
    /// When given, applying fails with 409 if the ticket changed since.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<i64>,
}

/// A queue filter a user keeps under a name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SavedView {
    pub id: Uuid,
    pub name: String,
    pub query: TicketListQuery,
    pub created_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SavedViewInput {
    pub name: String,
    /// `cursor` is not kept; `limit` becomes the view's page size.
    pub query: TicketListQuery,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SavedViewUpdate {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<TicketListQuery>,
}

/// Paging through a saved view's tickets.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
pub struct ViewPageQuery {
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

#[cfg(test)]
mod number_tests {
    use super::parse_ticket_number;

    #[test]
    fn ticket_numbers_parse_with_or_without_the_prefix() {
        assert_eq!(parse_ticket_number("HD-1042"), Some(1042));
        assert_eq!(parse_ticket_number(" hd-7 "), Some(7));
        assert_eq!(parse_ticket_number("1042"), Some(1042));
        for bad in ["", "HD-", "HD-x", "HD-0", "-5", "+5", "HX-12", "HD-1042a", "ĤD-1"] {
            assert_eq!(parse_ticket_number(bad), None, "{bad}");
        }
    }
}
