//! Watchers: the people who follow a ticket. Its public replies reach them as `new_reply`
//! notifications (staff watchers also hear of internal notes; see `notices`). The requester
//! watches from the start; anyone who can see a ticket may follow it and stop; staff may also add
//! and remove others who can see it. The ticket's history records each change, as an internal
//! entry.

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use hdms_api_types::tickets::Watcher;
use hdms_api_types::{ApiError, Role};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::db::Tx;
use crate::error::{Error, Result};
use crate::http::extract::{AppJson, AppPath};
use crate::http::permissions::{Action, Authorized, can};
use crate::state::AppState;
use crate::tickets::store::{self, Change, TicketRow};
use crate::tickets::visibility::{teams_of, user_may_see, visible_ticket};
use crate::users::auth::AuthUser;
use crate::{with_db, with_tx};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_watchers)).routes(routes!(watch, unwatch))
}

/// Who watches a ticket, by name. Customers see only whether they do themselves.
#[utoipa::path(get, path = "/tickets/{id}/watchers", tag = "tickets",
    params(("id" = Uuid, Path)),
    security(("bearer" = ["tickets.watch"])),
    responses((status = 200, body = Vec<Watcher>), (status = 404, body = ApiError)))]
async fn list_watchers(State(state): State<AppState>, caller: Authorized<can::WatchTickets>, AppPath(id): AppPath<Uuid>) -> Result<AppJson<Vec<Watcher>>> {
    visible_ticket(&state.db, &caller, id).await?;
    #[derive(sqlx::FromRow)]
    struct WatcherRow {
        id: Uuid,
        name: String,
        #[sqlx(try_from = "String")]
        role: Role,
    }
    const SQL: &str = "SELECT u.id, u.name, u.role FROM ticket_watchers w JOIN users u ON u.id = w.user_id \
                       WHERE w.ticket_id = $1 AND u.deleted_at IS NULL ORDER BY u.name, u.id";
    let rows: Vec<WatcherRow> = with_db!(&state.db, pool => sqlx::query_as(SQL).bind(id).fetch_all(pool).await?);
    let watchers = rows
        .into_iter()
        .filter(|row| Action::ManageWatchers.allows(caller.role()) || row.id == caller.id())
        .map(|row| Watcher { user_id: row.id, name: row.name, role: row.role })
        .collect();
    Ok(AppJson(watchers))
}

/// Follow a ticket (`user_id` yourself), or, staff, add someone who can see it. Watching already
/// is not an error.
#[utoipa::path(put, path = "/tickets/{id}/watchers/{user_id}", tag = "tickets",
    params(("id" = Uuid, Path), ("user_id" = Uuid, Path)),
    security(("bearer" = ["tickets.watch"])),
    responses(
        (status = 204, description = "The user watches the ticket"),
        (status = 403, description = "Adding someone else takes tickets.watchers", body = ApiError),
        (status = 404, body = ApiError),
        (status = 422, description = "No such user, or one who cannot see the ticket", body = ApiError),
    ))]
async fn watch(State(state): State<AppState>, caller: Authorized<can::WatchTickets>, AppPath((id, user_id)): AppPath<(Uuid, Uuid)>) -> Result<StatusCode> {
    let ticket = visible_ticket(&state.db, &caller, id).await?;
    let mut tx = state.db.begin().await?;
    add(&mut tx, &state, &caller, &ticket, user_id, Utc::now()).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Adds a watcher inside `tx`: the caller themselves, or (staff) someone who can see the ticket.
/// Shared by the route and the `watchers` action of macros and rules.
pub async fn add(tx: &mut Tx, state: &AppState, caller: &AuthUser, ticket: &TicketRow, user_id: Uuid, now: DateTime<Utc>) -> Result<()> {
    let name = if user_id == caller.id() { None } else { Some(other_watcher(state, caller, ticket, user_id).await?) };
    const SQL: &str = "INSERT INTO ticket_watchers (ticket_id, user_id) VALUES ($1, $2) ON CONFLICT (ticket_id, user_id) DO NOTHING";
    let added = with_tx!(tx, conn => sqlx::query(SQL).bind(ticket.id).bind(user_id).execute(&mut *conn).await?.rows_affected());
    if added > 0 {
        // The caller's own name came with their credential.
        let who = name.unwrap_or_else(|| caller.user.name.clone());
        let change = Change { field: "watcher", before: None, after: Some(who), internal: true };
        store::record(tx, ticket.id, Some(caller.id()), now, change).await?;
    }
    Ok(())
}

/// Stop following a ticket (`user_id` yourself), or, staff, remove someone. Not watching is not
/// an error.
#[utoipa::path(delete, path = "/tickets/{id}/watchers/{user_id}", tag = "tickets",
    params(("id" = Uuid, Path), ("user_id" = Uuid, Path)),
    security(("bearer" = ["tickets.watch"])),
    responses(
        (status = 204, description = "The user does not watch the ticket"),
        (status = 403, description = "Removing someone else takes tickets.watchers", body = ApiError),
        (status = 404, body = ApiError),
    ))]
async fn unwatch(State(state): State<AppState>, caller: Authorized<can::WatchTickets>, AppPath((id, user_id)): AppPath<(Uuid, Uuid)>) -> Result<StatusCode> {
    visible_ticket(&state.db, &caller, id).await?;
    if user_id != caller.id() {
        caller.require(Action::ManageWatchers)?;
    }
    const SQL: &str = "DELETE FROM ticket_watchers WHERE ticket_id = $1 AND user_id = $2";
    let mut tx = state.db.begin().await?;
    let removed = with_tx!(&mut tx, conn => sqlx::query(SQL).bind(id).bind(user_id).execute(&mut *conn).await?.rows_affected());
    if removed > 0 {
        // A deleted user is still named in the history.
        let who = crate::users::store::find_any(&state.db, user_id).await?.map_or_else(|| user_id.to_string(), |user| user.name);
        let change = Change { field: "watcher", before: Some(who), after: None, internal: true };
        store::record(&mut tx, id, Some(caller.id()), Utc::now(), change).await?;
    }
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The name of someone the caller adds as a watcher: staff only, and only a live, active user who
/// can see the ticket (else their notifications would be withheld anyway).
async fn other_watcher(state: &AppState, caller: &AuthUser, ticket: &TicketRow, user_id: Uuid) -> Result<String> {
    caller.require(Action::ManageWatchers)?;
    let user = crate::users::store::find_live(&state.db, user_id).await?.filter(|user| user.active);
    let user = user.ok_or_else(|| Error::invalid("user_id", "no such active user"))?;
    let teams = if user.role == Role::Agent { teams_of(&state.db, user.id).await? } else { Vec::new() };
    if !user_may_see(user.id, user.role, &teams, ticket) {
        return Err(Error::invalid("user_id", format!("{} cannot see this ticket", user.name)));
    }
    Ok(user.name)
}
