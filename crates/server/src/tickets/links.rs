//! Typed links between tickets: `related` (both ways), `duplicate_of` and `caused_by` (from one
//! to the other). Both tickets' history records a link made or removed.

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use hdms_api_types::tickets::{CreateLink, LinkKind, LinkedTicket, TicketLink};
use hdms_api_types::{ApiError, Role};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::db::{Bind, DynamicSql, Tx, is_unique_violation};
use crate::error::{Error, Result};
use crate::http::extract::{AppJson, AppPath};
use crate::http::permissions::{Authorized, can};
use crate::state::AppState;
use crate::tickets::merge::referenced_ticket;
use crate::tickets::store::{self, Change, TicketRow, ticket_columns};
use crate::tickets::visibility::{may_see, teams_of, visible_ticket};
use crate::users::auth::AuthUser;
use crate::{bind_all, with_db, with_tx};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_links, create_link)).routes(routes!(delete_link))
}

#[derive(sqlx::FromRow)]
struct LinkRow {
    id: Uuid,
    from_ticket_id: Uuid,
    to_ticket_id: Uuid,
    kind: String,
    created_by: Uuid,
    created_at: DateTime<Utc>,
}

impl LinkRow {
    fn kind(&self) -> Result<LinkKind> {
        self.kind.parse().map_err(|e: String| Error::Internal(anyhow::anyhow!("ticket_links.kind: {e}")))
    }

    fn view(&self, other: &TicketRow) -> Result<TicketLink> {
        Ok(TicketLink {
            id: self.id,
            kind: self.kind()?,
            from_ticket_id: self.from_ticket_id,
            to_ticket_id: self.to_ticket_id,
            other: LinkedTicket {
                id: other.id,
                number: store::display_number(other.number),
                subject: other.subject.clone(),
                status: other.status,
            },
            created_by: self.created_by,
            created_at: self.created_at,
        })
    }
}

/// `HD-1001 duplicate_of HD-1002`, for both tickets' history.
fn describe(from: &TicketRow, kind: LinkKind, to: &TicketRow) -> String {
    format!("{} {} {}", store::display_number(from.number), kind, store::display_number(to.number))
}

async fn record_both(tx: &mut Tx, caller: &AuthUser, from: &TicketRow, to: &TicketRow, text: String, added: bool, now: DateTime<Utc>) -> Result<()> {
    for ticket in [from.id, to.id] {
        let (before, after) = if added { (None, Some(text.clone())) } else { (Some(text.clone()), None) };
        store::record(tx, ticket, Some(caller.id()), now, Change { field: "link", before, after, internal: false }).await?;
    }
    Ok(())
}

/// Link this ticket to another: this ticket is `kind` of `to` (`related` goes both ways). Both
/// tickets must be ones you can see; the same link twice answers 409.
#[utoipa::path(post, path = "/tickets/{id}/links", tag = "tickets",
    params(("id" = Uuid, Path)),
    request_body = CreateLink,
    security(("bearer" = ["tickets.update"])),
    responses((status = 201, body = TicketLink), (status = 404, body = ApiError), (status = 409, body = ApiError), (status = 422, body = ApiError)))]
async fn create_link(
    State(state): State<AppState>,
    caller: Authorized<can::UpdateTickets>,
    AppPath(id): AppPath<Uuid>,
    AppJson(request): AppJson<CreateLink>,
) -> Result<(StatusCode, AppJson<TicketLink>)> {
    let from = visible_ticket(&state.db, &caller, id).await?;
    if request.to == id {
        return Err(Error::invalid("to", "a ticket cannot be linked to itself"));
    }
    let to = referenced_ticket(&state.db, &caller, request.to, "to").await?;
    let now = Utc::now();
    let mut tx = state.db.begin().await?;
    // `related` has no direction: B related A is the same link as A related B.
    const REVERSE: &str = "SELECT COUNT(*) FROM ticket_links WHERE from_ticket_id = $1 AND to_ticket_id = $2 AND kind = $3";
    if request.kind == LinkKind::Related {
        let reverse: i64 = with_tx!(&mut tx, conn => sqlx::query_scalar(REVERSE)
            .bind(to.id).bind(from.id).bind(request.kind.as_str()).fetch_one(&mut *conn).await?);
        if reverse > 0 {
            return Err(exists(&from, request.kind, &to));
        }
    }
    let row = LinkRow { id: Uuid::now_v7(), from_ticket_id: from.id, to_ticket_id: to.id, kind: request.kind.as_str().to_owned(), created_by: caller.id(), created_at: now };
    const INSERT: &str = "INSERT INTO ticket_links (id, from_ticket_id, to_ticket_id, kind, created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6)";
    let inserted = with_tx!(&mut tx, conn => sqlx::query(INSERT)
        .bind(row.id).bind(row.from_ticket_id).bind(row.to_ticket_id).bind(&row.kind).bind(row.created_by).bind(row.created_at)
        .execute(&mut *conn).await.map(|r| r.rows_affected()));
    match inserted {
        Ok(_) => {}
        Err(err) if is_unique_violation(&err) => return Err(exists(&from, request.kind, &to)),
        Err(err) => return Err(err.into()),
    }
    record_both(&mut tx, &caller, &from, &to, describe(&from, request.kind, &to), true, now).await?;
    crate::events::commit(tx, &state).await?;
    Ok((StatusCode::CREATED, AppJson(row.view(&to)?)))
}

fn exists(from: &TicketRow, kind: LinkKind, to: &TicketRow) -> Error {
    Error::conflict("link_exists", format!("{} is already linked", describe(from, kind, to)))
}

/// The links of a ticket, both ways, to tickets you can see.
#[utoipa::path(get, path = "/tickets/{id}/links", tag = "tickets",
    params(("id" = Uuid, Path)),
    security(("bearer" = ["tickets.read"])),
    responses((status = 200, body = Vec<TicketLink>), (status = 404, body = ApiError)))]
async fn list_links(State(state): State<AppState>, caller: Authorized<can::ReadTickets>, AppPath(id): AppPath<Uuid>) -> Result<AppJson<Vec<TicketLink>>> {
    visible_ticket(&state.db, &caller, id).await?;
    const SQL: &str = "SELECT id, from_ticket_id, to_ticket_id, kind, created_by, created_at FROM ticket_links \
                       WHERE from_ticket_id = $1 OR to_ticket_id = $1 ORDER BY id";
    let rows: Vec<LinkRow> = with_db!(&state.db, pool => sqlx::query_as(SQL).bind(id).fetch_all(pool).await?);
    if rows.is_empty() {
        return Ok(AppJson(Vec::new()));
    }
    let other = |r: &LinkRow| if r.from_ticket_id == id { r.to_ticket_id } else { r.from_ticket_id };
    let mut sql = DynamicSql::new(concat!("SELECT ", ticket_columns!(), " FROM tickets WHERE deleted_at IS NULL AND id IN ("));
    sql.bind_list(rows.iter().map(|r| Bind::Uuid(other(r)))).push(")");
    let others: Vec<TicketRow> = with_db!(&state.db, pool =>
        bind_all!(sqlx::query_as(sqlx::AssertSqlSafe(sql.sql.clone())), &sql.binds).fetch_all(pool).await?);
    let teams = if caller.role() == Role::Agent { teams_of(&state.db, caller.id()).await? } else { Vec::new() };
    let mut links = Vec::new();
    for row in &rows {
        if let Some(ticket) = others.iter().find(|t| t.id == other(row)).filter(|t| may_see(&caller, &teams, t)) {
            links.push(row.view(ticket)?);
        }
    }
    Ok(AppJson(links))
}

/// Remove a link of this ticket.
#[utoipa::path(delete, path = "/tickets/{id}/links/{link_id}", tag = "tickets",
    params(("id" = Uuid, Path), ("link_id" = Uuid, Path)),
    security(("bearer" = ["tickets.update"])),
    responses((status = 204), (status = 404, body = ApiError)))]
async fn delete_link(
    State(state): State<AppState>,
    caller: Authorized<can::UpdateTickets>,
    AppPath((id, link_id)): AppPath<(Uuid, Uuid)>,
) -> Result<StatusCode> {
    visible_ticket(&state.db, &caller, id).await?;
    let now = Utc::now();
    let mut tx = state.db.begin().await?;
    const SQL: &str = "SELECT id, from_ticket_id, to_ticket_id, kind, created_by, created_at FROM ticket_links \
                       WHERE id = $1 AND (from_ticket_id = $2 OR to_ticket_id = $2)";
    let row: Option<LinkRow> = with_tx!(&mut tx, conn => sqlx::query_as(SQL).bind(link_id).bind(id).fetch_optional(&mut *conn).await?);
    let row = row.ok_or(Error::NotFound { what: "link" })?;
    let other_id = if row.from_ticket_id == id { row.to_ticket_id } else { row.from_ticket_id };
    // A link to a ticket you cannot see is not yours to see, nor to remove.
    let other = visible_ticket(&state.db, &caller, other_id).await.map_err(|_| Error::NotFound { what: "link" })?;
    let (from, to) = if row.from_ticket_id == id {
        (store::find_in(&mut tx, id).await?, Some(other))
    } else {
        (Some(other), store::find_in(&mut tx, id).await?)
    };
    let (Some(from), Some(to)) = (from, to) else { return Err(Error::NotFound { what: "link" }) };
    with_tx!(&mut tx, conn => sqlx::query("DELETE FROM ticket_links WHERE id = $1").bind(link_id).execute(&mut *conn).await?.rows_affected());
    record_both(&mut tx, &caller, &from, &to, describe(&from, row.kind()?, &to), false, now).await?;
    crate::events::commit(tx, &state).await?;
    Ok(StatusCode::NO_CONTENT)
}
