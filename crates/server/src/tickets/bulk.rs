//! Bulk updates: the same field changes, reply or status move on many tickets, each checked and
//! written on its own (visibility, permission, lifecycle, version) so that one failing never
//! undoes the others; the answer says which succeeded and why the others did not. Macros apply
//! their actions to one ticket through the same function.

use axum::extract::State;
use axum::response::IntoResponse;
use chrono::Utc;
use hdms_api_types::tickets::{BulkItemResult, BulkResult, BulkUpdate, TicketActions, TicketListQuery};
use hdms_api_types::{ApiError, ErrorBody};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::db::{Bind, DynamicSql};
use crate::error::{Error, Result};
use crate::http::extract::AppJson;
use crate::http::permissions::{Authorized, can};
use crate::state::AppState;
use crate::tickets::store::{self, TicketRow};
use crate::tickets::visibility::visible_ticket;
use crate::tickets::{actions, crud, search};
use crate::users::auth::AuthUser;
use crate::{bind_all, with_db};

/// The most tickets one call may change.
pub const MAX_TICKETS: usize = 1000;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(bulk_update))
}

/// Applies `actions` to one ticket in its own transaction (see [`actions::apply`]), then the
/// automation rules the change triggers. Either all of it happens or none.
pub async fn apply_actions(state: &AppState, caller: &AuthUser, id: Uuid, version: Option<i64>, actions: &TicketActions) -> Result<TicketRow> {
    visible_ticket(&state.db, caller, id).await?;
    let now = Utc::now();
    let mut tx = state.db.begin().await?;
    let current = store::load_for_write(&mut tx, id, version).await?;
    let current = actions::apply(&mut tx, state, caller, &current, actions, now).await?;
    crate::events::commit_ticket(tx, state, current).await
}

/// The error as the single-ticket route would have answered it (internal errors are logged
/// there, with the request id, and answered without detail).
async fn answer_of(error: Error) -> (u16, ErrorBody) {
    let response = error.into_response();
    let status = response.status().as_u16();
    let bytes = axum::body::to_bytes(response.into_body(), 64 * 1024).await.unwrap_or_default();
    let body = serde_json::from_slice::<ApiError>(&bytes).map(|e| e.error).unwrap_or_else(|_| ErrorBody {
        code: "internal".to_owned(),
        message: "an internal error occurred; it has been logged".to_owned(),
        field: None,
    });
    (status, body)
}

fn too_many(field: &str) -> Error {
    Error::invalid(field, format!("at most {MAX_TICKETS} tickets per call; narrow the filter or split the list"))
}

/// The tickets a filter selects (those the caller may see), by id, or 422 past the cap.
async fn matching(state: &AppState, caller: &AuthUser, filter: &TicketListQuery) -> Result<Vec<Uuid>> {
    if filter.deleted.unwrap_or(false) {
        return Err(Error::invalid("filter.deleted", "deleted tickets cannot be bulk-updated; restore them first"));
    }
    let ids: Vec<Uuid> = if let Some(text) = filter.q.as_deref().filter(|q| !q.trim().is_empty()) {
        let query = TicketListQuery { cursor: None, limit: None, ..filter.clone() };
        let page = search::search(state, caller, &query, text, MAX_TICKETS as u32 + 1).await?;
        page.items.into_iter().map(|t| t.id).collect()
    } else {
        let mut sql = DynamicSql::new("SELECT t.id FROM tickets t WHERE t.deleted_at IS NULL");
        crud::apply_filters(caller, filter, &mut sql)?;
        sql.push(" ORDER BY t.id LIMIT ").bind(Bind::Int(MAX_TICKETS as i64 + 1));
        with_db!(&state.db, pool =>
            bind_all!(sqlx::query_scalar(sqlx::AssertSqlSafe(sql.sql.clone())), &sql.binds).fetch_all(pool).await?)
    };
    if ids.len() > MAX_TICKETS {
        return Err(too_many("filter"));
    }
    Ok(ids)
}

/// Change many tickets at once, by `ids` or by `filter` (the queue's filters, `q` included),
/// at most 1,000 per call: field changes (`set`), the same reply, a status move. Each ticket is
/// checked and written on its own, exactly as the single-ticket routes would (visibility,
/// role, lifecycle, `versions`); one failing never undoes the others. The answer lists each
/// ticket's outcome, with the error it would have got on its own.
#[utoipa::path(post, path = "/tickets/bulk", tag = "tickets",
    request_body = BulkUpdate,
    security(("bearer" = ["tickets.update"])),
    responses((status = 200, body = BulkResult), (status = 422, body = ApiError)))]
async fn bulk_update(
    State(state): State<AppState>,
    caller: Authorized<can::UpdateTickets>,
    AppJson(request): AppJson<BulkUpdate>,
) -> Result<AppJson<BulkResult>> {
    let actions = TicketActions { set: request.set, reply: request.reply, transition: request.transition, ..TicketActions::default() };
    let ids = match (request.ids, request.filter) {
        (Some(_), Some(_)) => return Err(Error::invalid("ids", "give either ids or a filter, not both")),
        (None, None) => return Err(Error::invalid("ids", "give the tickets: ids or a filter")),
        (Some(ids), None) => {
            if ids.is_empty() {
                return Err(Error::invalid("ids", "must not be empty"));
            }
            if ids.len() > MAX_TICKETS {
                return Err(too_many("ids"));
            }
            let mut seen = std::collections::HashSet::new();
            ids.into_iter().filter(|id| seen.insert(*id)).collect()
        }
        (None, Some(filter)) => matching(&state, &caller, &filter).await?,
    };
    actions::check(&state, &actions, actions::Use::Bulk).await?;
    let mut results = Vec::with_capacity(ids.len());
    for id in ids {
        let version = request.versions.get(&id).copied();
        results.push(match apply_actions(&state, &caller, id, version, &actions).await {
            Ok(ticket) => BulkItemResult { id, ok: true, http_status: 200, version: Some(ticket.version), error: None },
            Err(error) => {
                let (http_status, body) = answer_of(error).await;
                BulkItemResult { id, ok: false, http_status, version: None, error: Some(body) }
            }
        });
    }
    let succeeded = results.iter().filter(|r| r.ok).count() as u32;
    Ok(AppJson(BulkResult { succeeded, failed: results.len() as u32 - succeeded, results }))
}
