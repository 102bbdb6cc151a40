//! Moving tickets through the lifecycle table, with the conditions the table cannot express.

use axum::extract::State;
use chrono::{DateTime, Utc};
use hdms_api_types::tickets::{Status, Ticket, Transition, TransitionRequest};
use hdms_api_types::{ApiError, Role};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::db::Tx;
use crate::error::{Error, Result};
use crate::http::extract::{AppJson, AppPath};
use crate::http::permissions::{Authorized, can};
use crate::state::AppState;
use crate::tickets::lifecycle::{self, Move};
use crate::tickets::store::{self, Actor, TicketRow};
use crate::tickets::visibility::visible_ticket;
use crate::tickets::{api, comments, sla};
use crate::users::auth::AuthUser;
use crate::with_tx;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_transitions, transition))
}

/// Why a move the table allows cannot happen to this ticket now.
async fn blocked(tx: &mut Tx, state: &AppState, ticket: &TicketRow, to: Status, role: Role, now: DateTime<Utc>) -> Result<Option<Error>> {
    if to == Status::Resolved {
        const SQL: &str = "SELECT number FROM tickets WHERE parent_id = $1 AND deleted_at IS NULL \
                           AND status NOT IN ('resolved', 'closed', 'cancelled') ORDER BY number";
        let open: Vec<i64> = with_tx!(tx, conn => sqlx::query_scalar(SQL).bind(ticket.id).fetch_all(&mut *conn).await?);
        if !open.is_empty() {
            let list = open.into_iter().map(store::display_number).collect::<Vec<_>>().join(", ");
            return Ok(Some(Error::invalid("to", format!("cannot resolve while sub-tickets are unresolved: {list}"))));
        }
    }
    if ticket.status == Status::Resolved && to == Status::Open && role == Role::Customer {
        let window = chrono::Duration::seconds(state.config.reopen_window_secs as i64);
        if ticket.resolved_at.is_some_and(|at| now - at > window) {
            return Ok(Some(Error::invalid("to", "the reopen window has passed; raise a new ticket")));
        }
    }
    Ok(None)
}

fn disallowed(from: Status, to: Status) -> Error {
    Error::invalid("to", format!("a ticket cannot move from {from} to {to}"))
}

/// Moves a ticket inside `tx` by a person, checking the table and the conditions; returns the
/// stored row. Shared by the transitions route, bulk updates and customer replies.
pub async fn apply(tx: &mut Tx, state: &AppState, caller: &AuthUser, before: &TicketRow, to: Status, now: DateTime<Utc>) -> Result<TicketRow> {
    let allowed = lifecycle::moves_for(before.status, caller.role()).any(|m: &Move| m.to == to);
    if !allowed {
        return Err(disallowed(before.status, to));
    }
    if let Some(error) = blocked(tx, state, before, to, caller.role(), now).await? {
        return Err(error);
    }
    move_to(tx, state, before, to, Some(caller.id()), now).await
}

/// Moves a ticket with its side effects (timestamps, SLA clock), without checking who asks:
/// callers have checked the table (people) or are the system.
pub async fn move_to(tx: &mut Tx, state: &AppState, before: &TicketRow, to: Status, actor: Actor, now: DateTime<Utc>) -> Result<TicketRow> {
    let mut after = before.clone();
    after.status = to;
    match to {
        Status::Resolved => after.resolved_at = Some(now),
        Status::Closed => after.closed_at = Some(now),
        Status::Open | Status::InProgress if before.status == Status::Resolved => after.resolved_at = None,
        _ => {}
    }
    let policies = sla::all_policies(&state.db).await?;
    let policy = sla::find(&policies, after.sla_policy_id);
    sla::align_clock(&mut after, policy, now);
    store::save(tx, before, after, actor, now).await
}

/// The moves you may make on this ticket now.
#[utoipa::path(get, path = "/tickets/{id}/transitions", tag = "tickets",
    params(("id" = Uuid, Path)),
    security(("bearer" = ["tickets.transition"])),
    responses((status = 200, body = Vec<Transition>), (status = 404, body = ApiError)))]
async fn list_transitions(
    State(state): State<AppState>,
    caller: Authorized<can::TransitionTickets>,
    AppPath(id): AppPath<Uuid>,
) -> Result<AppJson<Vec<Transition>>> {
    let ticket = visible_ticket(&state.db, &caller, id).await?;
    let now = Utc::now();
    let mut tx = state.db.begin().await?;
    let mut moves = Vec::new();
    for m in lifecycle::moves_for(ticket.status, caller.role()) {
        if blocked(&mut tx, &state, &ticket, m.to, caller.role(), now).await?.is_none() {
            moves.push(Transition { to: m.to, name: m.name.to_owned() });
        }
    }
    drop(tx);
    Ok(AppJson(moves))
}

/// Make a move. A move the table does not allow you answers 422 naming both statuses and
/// changes nothing. An optional comment is added as a public reply, in the same transaction.
#[utoipa::path(post, path = "/tickets/{id}/transitions", tag = "tickets",
    params(("id" = Uuid, Path)),
    request_body = TransitionRequest,
    security(("bearer" = ["tickets.transition"])),
    responses((status = 200, body = Ticket), (status = 404, body = ApiError), (status = 409, body = ApiError), (status = 422, body = ApiError)))]
async fn transition(
    State(state): State<AppState>,
    caller: Authorized<can::TransitionTickets>,
    AppPath(id): AppPath<Uuid>,
    AppJson(request): AppJson<TransitionRequest>,
) -> Result<AppJson<Ticket>> {
    visible_ticket(&state.db, &caller, id).await?;
    let now = Utc::now();
    let mut tx = state.db.begin().await?;
    let before = store::load_for_write(&mut tx, id, request.version).await?;
    // The comment goes in first: once the ticket is closed or cancelled it takes no comments.
    // A customer's reply may itself reopen the ticket, which may already be the move asked for.
    let mut after = before.clone();
    if let Some(body) = request.comment.as_deref().map(str::trim).filter(|b| !b.is_empty()) {
        after = comments::add(&mut tx, &state, &caller, &after, body, false, now).await?.1;
    }
    if after.status != request.to || after.status == before.status {
        after = apply(&mut tx, &state, &caller, &after, request.to, now).await?;
    }
    let after = crate::events::commit_ticket(tx, &state, after).await?;
    state.hub.ring();
    Ok(AppJson(api::ticket(&state.db, after).await?))
}
