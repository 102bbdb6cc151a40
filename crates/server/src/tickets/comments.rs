//! The conversation on a ticket: public replies and internal notes.

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use hdms_api_types::ApiError;
use hdms_api_types::Role;
use hdms_api_types::rules::CommentSource;
use hdms_api_types::tickets::{Comment, CreateComment, PersonSummary, Status};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::db::Tx;
use crate::error::{Error, Result};
use crate::http::extract::{AppJson, AppPath};
use crate::http::permissions::{Authorized, can};
use crate::state::AppState;
use crate::tickets::store::{self, Change, TicketRow};
use crate::tickets::visibility::{ensure_visible, is_staff, visible_ticket};
use crate::tickets::{notices, sla, transitions};
use crate::users::auth::AuthUser;
use crate::comms::hub::{self, Signal};
use crate::with_tx;

pub const MAX_BODY_BYTES: usize = 100_000;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_comments, create_comment))
}


/// Adds a comment inside `tx` with its effects: an agent's first public reply stops the
/// first-response clock; a customer's reply on `pending_customer` reopens the ticket; the
/// ticket's people and those mentioned are notified (`notices`). Returns
/// the comment and the ticket as it now stands.
pub async fn add(tx: &mut Tx, state: &AppState, caller: &AuthUser, ticket: &TicketRow, body: &str, internal: bool, now: DateTime<Utc>) -> Result<(Comment, TicketRow)> {
    add_with(tx, state, caller, ticket, body, internal, true, now).await
}

/// [`add`], saying whether a customer's reply may reopen the ticket: machine mail (an
/// out-of-office answer) is kept as a reply but never reopens anything.
#[allow(clippy::too_many_arguments)]
pub async fn add_with(
    tx: &mut Tx,
    state: &AppState,
    caller: &AuthUser,
    ticket: &TicketRow,
    body: &str,
    internal: bool,
    reopens: bool,
    now: DateTime<Utc>,
) -> Result<(Comment, TicketRow)> {
    let body = body.trim();
    if body.is_empty() || body.len() > MAX_BODY_BYTES {
        return Err(Error::invalid("body", format!("must be 1 to {MAX_BODY_BYTES} bytes")));
    }
    if internal && !is_staff(caller) {
        return Err(Error::Forbidden { action: "tickets.comment.internal" });
    }
    if ticket.status.is_final() {
        return Err(Error::invalid("ticket", format!("the ticket is {}; raise a new one", ticket.status)));
    }
    // The room's next sequence number; the UPDATE also serialises concurrent comments on the
    // ticket (row lock on PostgreSQL, write lock on SQLite).
    const NEXT_SEQ: &str = "UPDATE tickets SET room_seq = room_seq + 1 WHERE id = $1 RETURNING room_seq";
    let seq: i64 = with_tx!(tx, conn => sqlx::query_scalar(NEXT_SEQ).bind(ticket.id).fetch_one(&mut *conn).await?);
    let author = PersonSummary { id: caller.id(), name: caller.user.name.clone(), email: caller.user.email.clone() };
    let comment = Comment { id: Uuid::now_v7(), ticket_id: ticket.id, author_id: caller.id(), author: Some(author), body: body.to_owned(), internal, created_at: now, seq };
    const SQL: &str = "INSERT INTO comments (id, ticket_id, author_id, body, internal, created_at, room_seq) VALUES ($1, $2, $3, $4, $5, $6, $7)";
    with_tx!(tx, conn => sqlx::query(SQL)
        .bind(comment.id).bind(comment.ticket_id).bind(comment.author_id).bind(&comment.body).bind(internal).bind(now).bind(seq)
        .execute(&mut *conn).await?.rows_affected());
    hub::signal(tx, &Signal::Comment { comment_id: comment.id }).await?;
    store::index_comment_text(tx, ticket.id, comment.id, internal, &comment.body).await?;
    let field = if internal { "internal_note" } else { "reply" };
    store::record(tx, ticket.id, Some(caller.id()), now, Change { field, before: None, after: Some(comment.id.to_string()), internal }).await?;

    let mut current = ticket.clone();
    let first_response = !internal && is_staff(caller) && current.first_responded_at.is_none() && caller.id() != current.requester_id;
    if first_response {
        let mut after = current.clone();
        after.first_responded_at = Some(now);
        let policies = sla::all_policies(&state.db).await?;
        let policy = sla::find(&policies, after.sla_policy_id);
        sla::refresh_deadlines(&mut after, policy);
        current = store::save(tx, &current, after, Some(caller.id()), now).await?;
    }
    if reopens && caller.role() == Role::Customer && current.status == Status::PendingCustomer {
        current = transitions::move_to(tx, state, &current, Status::Open, Some(caller.id()), now).await?;
    }
    notices::comment_added(tx, caller, &current, &comment, now).await?;
    let source = if crate::events::acting_rule(tx).is_some() {
        CommentSource::System
    } else if crate::events::channel(tx) == crate::events::Channel::Email {
        CommentSource::Email
    } else if is_staff(caller) {
        CommentSource::Agent
    } else {
        CommentSource::Customer
    };
    crate::events::comment_added(tx, &current, &comment, source, now).await?;
    crate::comms::mail::outbound::queue_reply(tx, state, caller, &current, &comment, now).await?;
    Ok((comment, current))
}

/// Reply on a ticket, or (staff) add an internal note.
#[utoipa::path(post, path = "/tickets/{id}/comments", tag = "tickets",
    params(("id" = Uuid, Path)),
    request_body = CreateComment,
    security(("bearer" = ["tickets.comment"])),
    responses((status = 201, body = Comment), (status = 403, body = ApiError), (status = 404, body = ApiError), (status = 422, body = ApiError)))]
async fn create_comment(
    State(state): State<AppState>,
    caller: Authorized<can::CommentTickets>,
    AppPath(id): AppPath<Uuid>,
    AppJson(request): AppJson<CreateComment>,
) -> Result<(StatusCode, AppJson<Comment>)> {
    let now = Utc::now();
    let mut tx = state.db.begin().await?;
    // Visibility is checked on the row the comment is written against: reading it apart first
    // was a statement more on every comment.
    let ticket = store::load_for_write(&mut tx, id, None).await?;
    ensure_visible(&state.db, &caller, &ticket).await?;
    let (comment, _) = add(&mut tx, &state, &caller, &ticket, &request.body, request.internal, now).await?;
    crate::events::commit(tx, &state).await?;
    state.hub.ring();
    Ok((StatusCode::CREATED, AppJson(comment)))
}

/// The conversation, oldest first; customers see public replies only.
#[utoipa::path(get, path = "/tickets/{id}/comments", tag = "tickets",
    params(("id" = Uuid, Path)),
    security(("bearer" = ["tickets.read"])),
    responses((status = 200, body = Vec<Comment>), (status = 404, body = ApiError)))]
async fn list_comments(State(state): State<AppState>, caller: Authorized<can::ReadTickets>, AppPath(id): AppPath<Uuid>) -> Result<AppJson<Vec<Comment>>> {
    visible_ticket(&state.db, &caller, id).await?;
    Ok(AppJson(hub::comments_after(&state.db, id, 0, is_staff(&caller)).await?))
}
