//! Assignment: to a person, to a team, or round-robin among the team's active agents; and
//! "claim the next ticket". Both are safe under concurrency: the ticket's version (and, for
//! round-robin, a compare-and-swap on the team's cursor) make two claimers never win the same.

use axum::extract::State;
use chrono::{DateTime, Utc};
use hdms_api_types::tickets::{AssignRequest, Ticket};
use hdms_api_types::{ApiError, Role};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::comms::notifications::{self, Kind, Notice};
use crate::db::Tx;
use crate::error::{Error, Result};
use crate::http::extract::{AppJson, AppPath};
use crate::http::permissions::{Action, Authorized, can};
use crate::state::AppState;
use crate::tickets::store::{self, TicketRow};
use crate::tickets::visibility::visible_ticket;
use crate::tickets::{api, crud, sla};
use crate::users::auth::AuthUser;
use crate::{with_db, with_tx};

/// Attempts before a contended claim gives up (each loser retries with fresh data).
const CLAIM_ATTEMPTS: usize = 8;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(assign)).routes(routes!(claim_next))
}

/// The next agent of a team after its round-robin cursor, moving the cursor in `tx` with a
/// compare-and-swap so that concurrent assignments each get a different turn.
async fn next_in_rotation(tx: &mut Tx, team: Uuid) -> Result<Uuid> {
    const AGENTS: &str = "SELECT u.id FROM users u JOIN team_members m ON m.user_id = u.id \
                          WHERE m.team_id = $1 AND u.role = 'agent' AND u.active AND u.deleted_at IS NULL ORDER BY u.id";
    const CURSOR: &str = "SELECT round_robin_last_user_id FROM teams WHERE id = $1";
    const SWAP: &str = "UPDATE teams SET round_robin_last_user_id = $1 WHERE id = $2 \
                        AND (round_robin_last_user_id = $3 OR (round_robin_last_user_id IS NULL AND $3 IS NULL))";
    for _ in 0..CLAIM_ATTEMPTS {
        let agents: Vec<Uuid> = with_tx!(tx, conn => sqlx::query_scalar(AGENTS).bind(team).fetch_all(&mut *conn).await?);
        if agents.is_empty() {
            return Err(Error::invalid("round_robin", "the team has no active agents"));
        }
        let last: Option<Uuid> = with_tx!(tx, conn => sqlx::query_scalar(CURSOR).bind(team).fetch_one(&mut *conn).await?);
        let next = agents.iter().copied().find(|a| last.is_none_or(|l| *a > l)).unwrap_or(agents[0]);
        let swapped = with_tx!(tx, conn => sqlx::query(SWAP).bind(next).bind(team).bind(last).execute(&mut *conn).await?.rows_affected());
        if swapped == 1 {
            return Ok(next);
        }
    }
    Err(Error::conflict("contended", "too many simultaneous assignments; try again"))
}

async fn staff_member(state: &AppState, id: Uuid) -> Result<()> {
    let user = crate::users::store::find_live(&state.db, id).await?;
    if user.is_none_or(|u| u.role == Role::Customer || !u.active) {
        return Err(Error::invalid("assignee_id", "must be an active agent, supervisor or admin"));
    }
    Ok(())
}

async fn tell_assignee(tx: &mut Tx, caller: &AuthUser, ticket: &TicketRow, now: DateTime<Utc>) -> Result<()> {
    if let Some(assignee) = ticket.assignee_id.filter(|a| *a != caller.id()) {
        let title = format!("{} was assigned to you", store::display_number(ticket.number));
        let notice = Notice { kind: Kind::Assigned, ticket_id: Some(ticket.id), title: &title, body: &ticket.subject };
        notifications::notify(tx, &[assignee], &notice, now).await?;
    }
    Ok(())
}

/// Assign a ticket to a person (`assignee_id`, `null` to unassign), a team (`team_id`), or
/// the team's next agent in turn (`round_robin`). Agents assign to themselves; giving a ticket
/// to someone else, or taking it from its assignee, needs `tickets.reassign`.
#[utoipa::path(post, path = "/tickets/{id}/assign", tag = "tickets",
    params(("id" = Uuid, Path)),
    request_body = AssignRequest,
    security(("bearer" = ["tickets.assign"])),
    responses((status = 200, body = Ticket), (status = 403, body = ApiError), (status = 404, body = ApiError), (status = 409, body = ApiError), (status = 422, body = ApiError)))]
async fn assign(
    State(state): State<AppState>,
    caller: Authorized<can::AssignTickets>,
    AppPath(id): AppPath<Uuid>,
    AppJson(request): AppJson<AssignRequest>,
) -> Result<AppJson<Ticket>> {
    visible_ticket(&state.db, &caller, id).await?;
    let now = Utc::now();
    let mut tx = state.db.begin().await?;
    let before = store::load_for_write(&mut tx, id, request.version).await?;
    let after = assign_in(&mut tx, &state, &caller, &before, &request, now).await?;
    let after = crate::events::commit_ticket(tx, &state, after).await?;
    Ok(AppJson(api::ticket(&state.db, after).await?))
}

/// Assigns a ticket inside `tx` (the caller has checked visibility and the version), with the
/// reassign check, round-robin, the SLA policy and the assignee's notice. Shared by the assign
/// route, bulk updates and macros. `request.version` is not looked at.
pub async fn assign_in(tx: &mut Tx, state: &AppState, caller: &AuthUser, before: &TicketRow, request: &AssignRequest, now: DateTime<Utc>) -> Result<TicketRow> {
    if let Some(team) = request.team_id {
        crud::live_team(&state.db, team).await?;
    }
    if let Some(Some(person)) = request.assignee_id {
        staff_member(state, person).await?;
    }
    if request.round_robin && request.assignee_id.is_some() {
        return Err(Error::invalid("round_robin", "give either assignee_id or round_robin, not both"));
    }
    let takes_from_other = before.assignee_id.is_some_and(|a| a != caller.id());
    let gives_to_other = matches!(request.assignee_id, Some(Some(p)) if p != caller.id()) || request.round_robin;
    if (request.assignee_id.is_some() || request.round_robin) && (takes_from_other || gives_to_other) {
        caller.require(Action::ReassignTickets)?;
    }
    let mut after = before.clone();
    if let Some(team) = request.team_id {
        after.team_id = Some(team);
    }
    if let Some(person) = request.assignee_id {
        after.assignee_id = person;
    }
    if request.round_robin {
        let team = after.team_id.ok_or_else(|| Error::invalid("round_robin", "the ticket has no team; give team_id"))?;
        after.assignee_id = Some(next_in_rotation(tx, team).await?);
    }
    if after.team_id != before.team_id {
        let policies = sla::all_policies(&state.db).await?;
        let from = sla::find(&policies, before.sla_policy_id);
        let to = sla::choose(&policies, after.priority, after.category.as_deref(), after.team_id);
        sla::switch_policy(&mut after, from, to, now);
    }
    let after = store::save(tx, before, after, Some(caller.id()), now).await?;
    if after.assignee_id != before.assignee_id {
        tell_assignee(tx, caller, &after, now).await?;
    }
    Ok(after)
}

/// Take the most urgent, oldest unassigned `new` or `open` ticket of your teams (or the triage
/// queue). Two agents claiming at once never get the same ticket. 404 when there is none.
#[utoipa::path(post, path = "/tickets/claim", tag = "tickets",
    security(("bearer" = ["tickets.assign"])),
    responses((status = 200, body = Ticket), (status = 404, body = ApiError)))]
async fn claim_next(State(state): State<AppState>, caller: Authorized<can::AssignTickets>) -> Result<AppJson<Ticket>> {
    const NEXT: &str = "SELECT id FROM tickets WHERE assignee_id IS NULL AND deleted_at IS NULL \
        AND status IN ('new', 'open') \
        AND ($1 OR team_id IS NULL OR team_id IN (SELECT team_id FROM team_members WHERE user_id = $2)) \
        ORDER BY priority DESC, id LIMIT $3";
    let sees_all = caller.role() != Role::Agent;
    for _ in 0..CLAIM_ATTEMPTS {
        // A few candidates, so a loser of one race moves on to the next without a new query.
        let candidates: Vec<Uuid> = with_db!(&state.db, pool => sqlx::query_scalar(NEXT)
            .bind(sees_all).bind(caller.id()).bind(4_i64).fetch_all(pool).await?);
        if candidates.is_empty() {
            return Err(Error::NotFound { what: "unassigned ticket" });
        }
        for id in candidates {
            let now = Utc::now();
            let mut tx = state.db.begin().await?;
            let Some(before) = store::find_in(&mut tx, id).await?.filter(|t| t.assignee_id.is_none() && t.deleted_at.is_none()) else {
                continue;
            };
            let mut after = before.clone();
            after.assignee_id = Some(caller.id());
            match store::save(&mut tx, &before, after, Some(caller.id()), now).await {
                Ok(claimed) => {
                    let claimed = crate::events::commit_ticket(tx, &state, claimed).await?;
                    return Ok(AppJson(api::ticket(&state.db, claimed).await?));
                }
                Err(Error::Conflict { .. }) => continue,
                Err(other) => return Err(other),
            }
        }
    }
    Err(Error::conflict("contended", "too many agents are claiming at once; try again"))
}
