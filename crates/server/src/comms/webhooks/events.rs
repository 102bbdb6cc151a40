//! The events hdms sends, each queued from the transaction of its change (see [`super`]).

use chrono::{DateTime, Utc};
use hdms_api_types::approvals::Approval;
use hdms_api_types::tickets::Comment;
use hdms_api_types::users::User;
use hdms_api_types::webhooks::{
    ApprovalDecidedData, CommentEventData, SlaBreachedData, TicketEventData, TicketUpdatedData, UserEventData, WebhookEventType,
    WebhookFieldChange, WebhookMessage,
};
use uuid::Uuid;

use super::{enqueue, queue_for, subscribers, ticket};
use crate::db::Tx;
use crate::error::Result;
use crate::tickets::store::{self, TicketRow};
use crate::users::store::user_columns;
use crate::with_tx;

pub async fn ticket_created(tx: &mut Tx, row: &TicketRow, actor: Option<Uuid>, now: DateTime<Utc>) -> Result<()> {
    let data = TicketEventData { ticket: ticket(row), actor_id: actor };
    enqueue(tx, &WebhookMessage::TicketCreated { timestamp: now, data }, now).await.map(drop)
}

/// `changes`: (field, before, after) as the history records them.
pub async fn ticket_updated(tx: &mut Tx, row: &TicketRow, actor: Option<Uuid>, changes: Vec<WebhookFieldChange>, now: DateTime<Utc>) -> Result<()> {
    if changes.is_empty() {
        return Ok(());
    }
    let data = TicketUpdatedData { ticket: ticket(row), actor_id: actor, changes };
    enqueue(tx, &WebhookMessage::TicketUpdated { timestamp: now, data }, now).await.map(drop)
}

/// A change the caller has only the id of the ticket for: the row is read only when an endpoint
/// listens.
pub async fn ticket_updated_by_id(tx: &mut Tx, ticket_id: Uuid, actor: Option<Uuid>, changes: Vec<WebhookFieldChange>, now: DateTime<Utc>) -> Result<()> {
    let endpoints = subscribers(tx, WebhookEventType::TicketUpdated).await?;
    if endpoints.is_empty() {
        return Ok(());
    }
    let Some(row) = store::find_in(tx, ticket_id).await? else { return Ok(()) };
    let data = TicketUpdatedData { ticket: ticket(&row), actor_id: actor, changes };
    queue_for(tx, &endpoints, &WebhookMessage::TicketUpdated { timestamp: now, data }, now).await
}

pub async fn comment_created(tx: &mut Tx, row: &TicketRow, comment: &Comment, now: DateTime<Utc>) -> Result<()> {
    let data = CommentEventData { ticket: ticket(row), comment: comment.clone() };
    enqueue(tx, &WebhookMessage::CommentCreated { timestamp: now, data }, now).await.map(drop)
}

/// `target`: `first_response` or `resolution`.
pub async fn sla_breached(tx: &mut Tx, row: &TicketRow, target: &str, due_at: Option<DateTime<Utc>>, now: DateTime<Utc>) -> Result<()> {
    let data = SlaBreachedData { ticket: ticket(row), target: target.to_owned(), due_at };
    enqueue(tx, &WebhookMessage::TicketSlaBreached { timestamp: now, data }, now).await.map(drop)
}

pub async fn approval_decided(tx: &mut Tx, row: &TicketRow, approval: Approval, now: DateTime<Utc>) -> Result<()> {
    let data = ApprovalDecidedData { ticket: ticket(row), approval };
    enqueue(tx, &WebhookMessage::ApprovalDecided { timestamp: now, data }, now).await.map(drop)
}

pub async fn user_created(tx: &mut Tx, user: &User, now: DateTime<Utc>) -> Result<()> {
    let data = UserEventData { user: user.clone() };
    enqueue(tx, &WebhookMessage::UserCreated { timestamp: now, data }, now).await.map(drop)
}

/// Users made in bulk (a CSV import), in its transaction: the rows are read back only when an
/// endpoint listens, a statement's worth at a time.
pub async fn users_created(tx: &mut Tx, ids: &[Uuid], now: DateTime<Utc>) -> Result<()> {
    const SQL: &str = concat!("SELECT ", user_columns!(), " FROM users WHERE id IN (");
    if ids.is_empty() {
        return Ok(());
    }
    let endpoints = subscribers(tx, WebhookEventType::UserCreated).await?;
    if endpoints.is_empty() {
        return Ok(());
    }
    for chunk in ids.chunks(500) {
        let rows: Vec<crate::users::store::UserRow> = with_tx!(tx, conn => {
            let mut find = sqlx::QueryBuilder::new(SQL);
            let mut listed = find.separated(", ");
            for id in chunk {
                listed.push_bind(*id);
            }
            find.push(") ORDER BY id");
            find.build_query_as().fetch_all(&mut *conn).await?
        });
        for row in rows {
            let data = UserEventData { user: User::from(row) };
            queue_for(tx, &endpoints, &WebhookMessage::UserCreated { timestamp: now, data }, now).await?;
        }
    }
    Ok(())
}

/// A history entry as webhooks carry it.
pub fn change(field: &str, before: Option<&str>, after: Option<&str>) -> WebhookFieldChange {
    WebhookFieldChange { field: field.to_owned(), before: before.map(str::to_owned), after: after.map(str::to_owned) }
}
