//! What happens to tickets, said once where it happens, inside the transaction of the change:
//! each function here queues the webhook deliveries for the event (see
//! [`crate::comms::webhooks`]) and notes the event on the transaction for the automation rules,
//! which [`commit`] runs before the change commits (see [`crate::rules::engine`]).

use chrono::{DateTime, Utc};
use hdms_api_types::approvals::Approval;
use hdms_api_types::rules::CommentSource;
use hdms_api_types::tickets::Comment;
use hdms_api_types::webhooks::WebhookFieldChange;
use uuid::Uuid;

use crate::comms::webhooks::events as hooks;
use crate::db::Tx;
use crate::error::Result;
use crate::state::AppState;
use crate::tickets::store::TicketRow;

/// How a change came in: what `channel` conditions and `email` comment sources look at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    Web,
    Email,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Web => "web",
            Channel::Email => "email",
        }
    }
}

/// An event the rules may react to.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Created { ticket: Uuid },
    Updated { ticket: Uuid, changes: Vec<WebhookFieldChange> },
    Commented { ticket: Uuid, internal: bool, source: CommentSource },
    SlaWarning { ticket: Uuid },
    SlaBreach { ticket: Uuid },
    ApprovalDecided { ticket: Uuid },
}

impl Event {
    pub fn ticket(&self) -> Uuid {
        match self {
            Event::Created { ticket }
            | Event::Updated { ticket, .. }
            | Event::Commented { ticket, .. }
            | Event::SlaWarning { ticket }
            | Event::SlaBreach { ticket }
            | Event::ApprovalDecided { ticket } => *ticket,
        }
    }

    /// The trigger that reacts to it (`RuleTrigger::name`).
    pub fn trigger(&self) -> &'static str {
        match self {
            Event::Created { .. } => "ticket_created",
            Event::Updated { .. } => "ticket_updated",
            Event::Commented { .. } => "comment_added",
            Event::SlaWarning { .. } => "sla_warning",
            Event::SlaBreach { .. } => "sla_breach",
            Event::ApprovalDecided { .. } => "approval_decided",
        }
    }

    /// The changes of an update (none for other events).
    pub fn changes(&self) -> &[WebhookFieldChange] {
        match self {
            Event::Updated { changes, .. } => changes,
            _ => &[],
        }
    }
}

fn note(tx: &mut Tx, event: Event) {
    let events = &mut tx.context().events;
    // One change often saves a ticket more than once (fields, then assignment, then status):
    // the rules see it as one update with every field that changed.
    if let Event::Updated { ticket, changes } = &event
        && let Some(Event::Updated { changes: earlier, .. }) =
            events.iter_mut().rev().find(|e| matches!(e, Event::Updated { ticket: t, .. } if t == ticket))
    {
        earlier.extend(changes.iter().cloned());
        return;
    }
    events.push(event);
}

/// Says where the change in `tx` comes from (mail ingestion says `Email`).
pub fn set_channel(tx: &mut Tx, channel: Channel) {
    tx.context().channel = channel;
}

pub fn channel(tx: &mut Tx) -> Channel {
    tx.context().channel
}

/// The rule acting in `tx` now, if one is.
pub fn acting_rule(tx: &mut Tx) -> Option<Uuid> {
    tx.context().rule
}

pub async fn ticket_created(tx: &mut Tx, row: &TicketRow, actor: Option<Uuid>, now: DateTime<Utc>) -> Result<()> {
    hooks::ticket_created(tx, row, actor, now).await?;
    note(tx, Event::Created { ticket: row.id });
    Ok(())
}

pub async fn ticket_updated(tx: &mut Tx, row: &TicketRow, actor: Option<Uuid>, changes: Vec<WebhookFieldChange>, now: DateTime<Utc>) -> Result<()> {
    if changes.is_empty() {
        return Ok(());
    }
    note(tx, Event::Updated { ticket: row.id, changes: changes.clone() });
    hooks::ticket_updated(tx, row, actor, changes, now).await
}

/// A change known by the ticket's id only (tags).
pub async fn ticket_updated_by_id(tx: &mut Tx, ticket_id: Uuid, actor: Option<Uuid>, changes: Vec<WebhookFieldChange>, now: DateTime<Utc>) -> Result<()> {
    note(tx, Event::Updated { ticket: ticket_id, changes: changes.clone() });
    hooks::ticket_updated_by_id(tx, ticket_id, actor, changes, now).await
}

pub async fn comment_added(tx: &mut Tx, row: &TicketRow, comment: &Comment, source: CommentSource, now: DateTime<Utc>) -> Result<()> {
    note(tx, Event::Commented { ticket: row.id, internal: comment.internal, source });
    hooks::comment_created(tx, row, comment, now).await
}

pub fn sla_warning(tx: &mut Tx, row: &TicketRow) {
    note(tx, Event::SlaWarning { ticket: row.id });
}

pub async fn sla_breached(tx: &mut Tx, row: &TicketRow, target: &str, due_at: Option<DateTime<Utc>>, now: DateTime<Utc>) -> Result<()> {
    note(tx, Event::SlaBreach { ticket: row.id });
    hooks::sla_breached(tx, row, target, due_at, now).await
}

pub async fn approval_decided(tx: &mut Tx, row: &TicketRow, approval: Approval, now: DateTime<Utc>) -> Result<()> {
    note(tx, Event::ApprovalDecided { ticket: row.id });
    hooks::approval_decided(tx, row, approval, now).await
}

/// Runs the automation rules on the events of `tx`, in `tx`, then commits. Every change to a
/// ticket commits through here. Says whether a rule acted (so the ticket read before is stale).
pub async fn commit(mut tx: Tx, state: &AppState) -> Result<bool> {
    let acted = crate::rules::engine::run(&mut tx, state, Utc::now()).await?;
    tx.commit().await?;
    Ok(acted)
}

/// [`commit`], then the ticket as it now stands: `row` itself unless a rule changed it.
pub async fn commit_ticket(tx: Tx, state: &AppState, row: TicketRow) -> Result<TicketRow> {
    if !commit(tx, state).await? {
        return Ok(row);
    }
    Ok(crate::tickets::store::find(&state.db, row.id).await?.unwrap_or(row))
}
