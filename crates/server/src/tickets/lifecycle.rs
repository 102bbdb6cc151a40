//! The ticket status machine: one table of allowed moves and who may make each.
//!
//! `GET /tickets/{id}/transitions` answers the moves of this table that the caller may make now;
//! `docs/ticket-lifecycle.md` is generated from it (a test fails when the file is stale).

use hdms_api_types::Role;
use hdms_api_types::tickets::Status;

use Role::{Admin, Agent, Customer, Supervisor};
use Status::{Cancelled, Closed, InProgress, New, Open, PendingApproval, PendingCustomer, Resolved};

/// Who makes a move.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mover {
    /// People with these roles, through `POST /tickets/{id}/transitions`. A customer acts only
    /// on their own tickets (they see no others).
    Roles(&'static [Role]),
    /// Only the system, as the effect of something else (an approval requested or decided, the
    /// auto-close of resolved tickets); named for the docs.
    System(&'static str),
}

pub struct Move {
    pub from: Status,
    pub to: Status,
    /// A verb for menus and docs.
    pub name: &'static str,
    pub by: Mover,
}

const STAFF: &[Role] = &[Agent, Supervisor, Admin];
const EVERYONE: &[Role] = &[Customer, Agent, Supervisor, Admin];

const fn by(roles: &'static [Role]) -> Mover {
    Mover::Roles(roles)
}

pub const MOVES: &[Move] = &[
    Move { from: New, to: Open, name: "accept", by: by(STAFF) },
    Move { from: New, to: InProgress, name: "start", by: by(STAFF) },
    Move { from: New, to: Cancelled, name: "cancel", by: by(EVERYONE) },
    Move { from: New, to: PendingApproval, name: "request approval", by: Mover::System("an approval is requested") },
    Move { from: Open, to: InProgress, name: "start", by: by(STAFF) },
    Move { from: Open, to: PendingCustomer, name: "wait for customer", by: by(STAFF) },
    Move { from: Open, to: Resolved, name: "resolve", by: by(STAFF) },
    Move { from: Open, to: Cancelled, name: "cancel", by: by(EVERYONE) },
    Move { from: Open, to: PendingApproval, name: "request approval", by: Mover::System("an approval is requested") },
    Move { from: InProgress, to: Open, name: "stop", by: by(STAFF) },
    Move { from: InProgress, to: PendingCustomer, name: "wait for customer", by: by(STAFF) },
    Move { from: InProgress, to: Resolved, name: "resolve", by: by(STAFF) },
    Move { from: InProgress, to: Cancelled, name: "cancel", by: by(EVERYONE) },
    Move { from: InProgress, to: PendingApproval, name: "request approval", by: Mover::System("an approval is requested") },
    Move { from: PendingCustomer, to: Open, name: "customer replied", by: by(EVERYONE) },
    Move { from: PendingCustomer, to: InProgress, name: "start", by: by(STAFF) },
    Move { from: PendingCustomer, to: Resolved, name: "resolve", by: by(STAFF) },
    Move { from: PendingCustomer, to: Cancelled, name: "cancel", by: by(EVERYONE) },
    Move { from: PendingCustomer, to: PendingApproval, name: "request approval", by: Mover::System("an approval is requested") },
    Move { from: PendingApproval, to: Open, name: "approved", by: Mover::System("every needed approval is given") },
    Move { from: PendingApproval, to: Cancelled, name: "rejected", by: Mover::System("an approver rejects") },
    Move { from: PendingApproval, to: Cancelled, name: "cancel", by: by(&[Supervisor, Admin]) },
    Move { from: Resolved, to: Open, name: "reopen", by: by(EVERYONE) },
    Move { from: Resolved, to: Closed, name: "close", by: by(STAFF) },
    Move { from: Resolved, to: Closed, name: "auto-close", by: Mover::System("the resolved ticket is left alone long enough") },
    Move { from: New, to: Closed, name: "merged", by: MERGED },
    Move { from: Open, to: Closed, name: "merged", by: MERGED },
    Move { from: InProgress, to: Closed, name: "merged", by: MERGED },
    Move { from: PendingCustomer, to: Closed, name: "merged", by: MERGED },
    Move { from: PendingApproval, to: Closed, name: "merged", by: MERGED },
    Move { from: Resolved, to: Closed, name: "merged", by: MERGED },
];

/// A merged ticket closes whatever it was waiting for (`POST /tickets/{id}/merge`).
const MERGED: Mover = Mover::System("the ticket is merged into another (`POST /api/v1/tickets/{id}/merge`)");

/// The moves a person with `role` may request from `from`, without the conditions that depend
/// on the ticket (children, reopen window).
pub fn moves_for(from: Status, role: Role) -> impl Iterator<Item = &'static Move> {
    MOVES.iter().filter(move |m| m.from == from && matches!(m.by, Mover::Roles(roles) if roles.contains(&role)))
}

/// Whether the system may move `from` → `to` (for approvals and auto-close).
pub fn system_may(from: Status, to: Status) -> bool {
    MOVES.iter().any(|m| m.from == from && m.to == to && matches!(m.by, Mover::System(_)))
}

/// `docs/ticket-lifecycle.md`: the table as a Mermaid state diagram and a list.
pub fn render_docs() -> String {
    use std::fmt::Write;

    let mut out = String::from(
        "# Ticket lifecycle\n\n\
         <!-- Generated from crates/server/src/tickets/lifecycle.rs by the `lifecycle` test \
         (HDMS_UPDATE_DOCS=1 cargo test -p hdms-server --test lifecycle). Do not edit. -->\n\n\
         `GET /api/v1/tickets/{id}/transitions` lists the moves the caller may make now; \
         `POST /api/v1/tickets/{id}/transitions` `{to, comment?}` makes one. Any other move answers \
         422 naming both statuses and changes nothing. `closed` and `cancelled` are final.\n\n\
         Conditions beyond the table: a parent cannot be resolved while a sub-ticket is unresolved; \
         a customer may reopen a resolved ticket only within the reopen window \
         (`HDMS_REOPEN_WINDOW`); resolved tickets close by themselves after `HDMS_AUTO_CLOSE_AFTER`; \
         a customer's reply on `pending_customer` moves it back to `open`; the SLA clock stands \
         still in `pending_customer` and `pending_approval`.\n\n```mermaid\nstateDiagram-v2\n    [*] --> new\n",
    );
    for m in MOVES {
        let who = match m.by {
            Mover::Roles(roles) => roles.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(", "),
            Mover::System(_) => "system".to_owned(),
        };
        let _ = writeln!(out, "    {} --> {}: {} ({who})", m.from.as_str(), m.to.as_str(), m.name);
    }
    out.push_str("    closed --> [*]\n    cancelled --> [*]\n```\n\n| from | to | move | who |\n|---|---|---|---|\n");
    for m in MOVES {
        let who = match m.by {
            Mover::Roles(roles) => roles.iter().map(|r| format!("{r}")).collect::<Vec<_>>().join(", "),
            Mover::System(when) => format!("system, when {when}"),
        };
        let _ = writeln!(out, "| `{}` | `{}` | {} | {who} |", m.from.as_str(), m.to.as_str(), m.name);
    }
    out
}
