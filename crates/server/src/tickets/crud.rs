//! Creating, reading, listing, editing and (soft) deleting tickets; sub-tickets; history.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use chrono::{DateTime, Utc};
use hdms_api_types::tickets::{CreateTicket, HistoryEntry, Priority, Status, Ticket, TicketCount, TicketListQuery, UpdateTicket};
use hdms_api_types::{ApiError, Page, Role};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::db::{Bind, Db, DynamicSql, Tx};
use crate::error::{Error, Result};
use crate::http::extract::{AppJson, AppPath, AppQuery};
use crate::http::pagination::page_limit;
use crate::http::permissions::{Action, Authorized, can};
use crate::state::AppState;
use crate::tickets::store::{self, Change, TicketRow, ticket_columns};
use crate::tickets::api::{TicketView, view_columns, view_joins};
use crate::tickets::visibility::{is_staff, visible_ticket, visible_ticket_view};
use crate::tickets::{api, approvals, search, sla};
use crate::users::auth::AuthUser;
use crate::users::store as users;
use crate::{bind_all, with_db, with_tx};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_tickets, create_ticket))
        .routes(routes!(count_tickets))
        .routes(routes!(get_ticket, update_ticket, delete_ticket))
        .routes(routes!(get_ticket_by_number))
        .routes(routes!(restore_ticket))
        .routes(routes!(list_subtickets, create_subticket))
        .routes(routes!(history))
}

// --- input checks --------------------------------------------------------------------------

fn subject(raw: &str) -> Result<String> {
    let subject = raw.trim();
    if subject.is_empty() || subject.chars().count() > 300 {
        return Err(Error::invalid("subject", "must be 1 to 300 characters"));
    }
    Ok(subject.to_owned())
}

fn description(raw: &str) -> Result<String> {
    if raw.len() > 200_000 {
        return Err(Error::invalid("description", "must be at most 200,000 bytes"));
    }
    Ok(raw.trim().to_owned())
}

pub(crate) fn category(raw: Option<&str>) -> Result<Option<String>> {
    let category = raw.map(str::trim).filter(|c| !c.is_empty());
    if category.is_some_and(|c| c.chars().count() > 100) {
        return Err(Error::invalid("category", "must be at most 100 characters"));
    }
    Ok(category.map(str::to_lowercase))
}

/// Tags are lower case, trimmed, unique and sorted.
pub(crate) fn tags(raw: &[String]) -> Result<Vec<String>> {
    let mut tags: Vec<String> = raw.iter().map(|t| t.trim().to_lowercase()).filter(|t| !t.is_empty()).collect();
    if tags.iter().any(|t| t.chars().count() > 50 || t.contains(',')) {
        return Err(Error::invalid("tags", "each tag must be at most 50 characters, without commas"));
    }
    tags.sort();
    tags.dedup();
    if tags.len() > 30 {
        return Err(Error::invalid("tags", "at most 30 tags"));
    }
    Ok(tags)
}

pub(crate) async fn live_team(db: &Db, id: Uuid) -> Result<()> {
    if !crate::users::teams::is_live(db, id).await? {
        return Err(Error::invalid("team_id", "no such team"));
    }
    Ok(())
}

/// The version an update is based on: the `version` field, else an `If-Match` header.
pub fn expected_version(headers: &HeaderMap, field: Option<i64>) -> Result<i64> {
    if let Some(version) = field {
        return Ok(version);
    }
    let header = headers.get(header::IF_MATCH).and_then(|v| v.to_str().ok());
    let Some(header) = header else {
        return Err(Error::invalid("version", "send the ticket's version (field `version` or an If-Match header)"));
    };
    header
        .trim()
        .trim_start_matches("W/")
        .trim_matches('"')
        .parse()
        .map_err(|_| Error::invalid("version", "If-Match must carry the ticket's version number"))
}

// --- create --------------------------------------------------------------------------------

/// Creates a ticket inside `tx`: number, SLA clock, tags, search text, history, category
/// approval rule.
pub async fn insert_ticket(tx: &mut Tx, state: &AppState, caller: &AuthUser, request: CreateTicket, parent: Option<&TicketRow>) -> Result<TicketRow> {
    insert_ticket_at(tx, state, caller, request, parent, Utc::now()).await
}

/// [`insert_ticket`] as of `now` (tests build a history at chosen instants with it).
pub async fn insert_ticket_at(
    tx: &mut Tx,
    state: &AppState,
    caller: &AuthUser,
    request: CreateTicket,
    parent: Option<&TicketRow>,
    now: DateTime<Utc>,
) -> Result<TicketRow> {
    let subject = subject(&request.subject)?;
    let description = description(&request.description)?;
    let category = category(request.category.as_deref())?;
    let tags = tags(&request.tags)?;
    let requester_id = match (caller.role(), request.requester_id) {
        (Role::Customer, Some(id)) if id != caller.id() => {
            return Err(Error::invalid("requester_id", "customers raise tickets for themselves"));
        }
        (Role::Customer, _) => caller.id(),
        (_, Some(id)) => {
            users::find_live(&state.db, id).await?.ok_or_else(|| Error::invalid("requester_id", "no such user"))?;
            id
        }
        (_, None) => parent.map_or(caller.id(), |p| p.requester_id),
    };
    let team_id = match request.team_id {
        Some(team) => {
            live_team(&state.db, team).await?;
            Some(team)
        }
        None => parent.and_then(|p| p.team_id),
    };
    let priority = request.priority.unwrap_or(Priority::Normal);
    let (number, sla_policies_version) = store::next_number(tx).await?;
    let mut ticket = TicketRow::new(number, subject, description, requester_id, priority, now);
    ticket.team_id = team_id;
    ticket.category = category;
    ticket.parent_id = parent.map(|p| p.id);
    let policies = sla::policies_at(&state.db, sla_policies_version).await?;
    let policy = sla::choose(&policies, ticket.priority, ticket.category.as_deref(), ticket.team_id);
    ticket.sla_policy_id = policy.map(|p| p.id);
    sla::align_clock(&mut ticket, policy, now);
    store::insert(tx, &ticket).await?;
    store::write_tags(tx, ticket.id, &[], &tags, Some(caller.id()), now).await?;
    store::index_new_ticket_text(tx, &ticket).await?;
    let created = Change { field: "created", before: None, after: Some(store::display_number(ticket.number)), internal: false };
    store::record(tx, ticket.id, Some(caller.id()), now, created).await?;
    // Before the category rule, whose move to `pending_approval` is a `ticket.updated` after it.
    crate::events::ticket_created(tx, &ticket, Some(caller.id()), now).await?;
    let channel = crate::events::channel(tx);
    if channel != crate::events::Channel::Web {
        with_tx!(tx, conn => sqlx::query("UPDATE tickets SET channel = $1 WHERE id = $2")
            .bind(channel.as_str()).bind(ticket.id).execute(&mut *conn).await?.rows_affected());
    }
    with_tx!(tx, conn => sqlx::query("INSERT INTO ticket_watchers (ticket_id, user_id) VALUES ($1, $2)")
        .bind(ticket.id).bind(requester_id).execute(&mut *conn).await?.rows_affected());
    approvals::apply_category_rule(tx, state, ticket, now).await
}

/// Raise a ticket. Customers raise their own; staff may name a requester.
#[utoipa::path(post, path = "/tickets", tag = "tickets",
    request_body = CreateTicket,
    security(("bearer" = ["tickets.create"])),
    responses((status = 201, body = Ticket), (status = 422, body = ApiError)))]
async fn create_ticket(
    State(state): State<AppState>,
    caller: Authorized<can::CreateTickets>,
    AppJson(request): AppJson<CreateTicket>,
) -> Result<(StatusCode, AppJson<Ticket>)> {
    let mut tx = state.db.begin().await?;
    let ticket = insert_ticket(&mut tx, &state, &caller, request, None).await?;
    let ticket = crate::events::commit_ticket(tx, &state, ticket).await?;
    Ok((StatusCode::CREATED, AppJson(api::ticket(&state.db, ticket).await?)))
}

// --- read ----------------------------------------------------------------------------------

/// Read a ticket you may see.
#[utoipa::path(get, path = "/tickets/{id}", tag = "tickets",
    params(("id" = Uuid, Path)),
    security(("bearer" = ["tickets.read"])),
    responses((status = 200, body = Ticket), (status = 404, body = ApiError)))]
async fn get_ticket(State(state): State<AppState>, caller: Authorized<can::ReadTickets>, AppPath(id): AppPath<Uuid>) -> Result<(HeaderMap, AppJson<Ticket>)> {
    let ticket = visible_ticket_view(&state.db, &caller, id).await?;
    with_etag(&state, ticket).await
}

/// Read a ticket by the number people quote (`HD-1042`, or just `1042`), for clients that let
/// people type it; the answer carries the id every other route takes.
#[utoipa::path(get, path = "/tickets/by-number/{number}", tag = "tickets",
    params(("number" = String, Path, description = "`HD-1042` or `1042`")),
    security(("bearer" = ["tickets.read"])),
    responses((status = 200, body = Ticket), (status = 404, body = ApiError), (status = 422, body = ApiError)))]
async fn get_ticket_by_number(
    State(state): State<AppState>,
    caller: Authorized<can::ReadTickets>,
    AppPath(number): AppPath<String>,
) -> Result<(HeaderMap, AppJson<Ticket>)> {
    let number = hdms_api_types::tickets::parse_ticket_number(&number).ok_or_else(|| Error::invalid("number", "is not a ticket number like HD-1042"))?;
    const SQL: &str = "SELECT id FROM tickets WHERE number = $1";
    let id: Option<Uuid> = with_db!(&state.db, pool => sqlx::query_scalar(SQL).bind(number).fetch_optional(pool).await?);
    let ticket = visible_ticket_view(&state.db, &caller, id.ok_or(Error::NotFound { what: "ticket" })?).await?;
    with_etag(&state, ticket).await
}

/// The ticket as answered to a read, with its version as the `ETag` (for `If-Match`).
async fn with_etag(state: &AppState, ticket: TicketView) -> Result<(HeaderMap, AppJson<Ticket>)> {
    let mut headers = HeaderMap::new();
    headers.insert(header::ETAG, format!("\"{}\"", ticket.row.version).parse().map_err(anyhow::Error::from)?);
    Ok((headers, AppJson(api::view(&state.db, ticket).await?)))
}

/// The sort orders a queue offers, each a keyset over (key, id).
#[derive(Clone, Copy)]
enum Sort {
    NewestFirst,
    OldestFirst,
    RecentlyUpdated,
    LeastRecentlyUpdated,
    MostUrgent,
}

impl Sort {
    fn parse(raw: Option<&str>) -> Result<Sort> {
        Ok(match raw.unwrap_or("-created") {
            "-created" => Sort::NewestFirst,
            "created" => Sort::OldestFirst,
            "-updated" => Sort::RecentlyUpdated,
            "updated" => Sort::LeastRecentlyUpdated,
            "priority" => Sort::MostUrgent,
            other => return Err(Error::invalid("sort", format!("unknown sort '{other}' (created, -created, updated, -updated, priority)"))),
        })
    }

    fn order_by(self) -> &'static str {
        match self {
            Sort::NewestFirst => " ORDER BY t.id DESC",
            Sort::OldestFirst => " ORDER BY t.id ASC",
            Sort::RecentlyUpdated => " ORDER BY t.updated_at DESC, t.id DESC",
            Sort::LeastRecentlyUpdated => " ORDER BY t.updated_at ASC, t.id ASC",
            Sort::MostUrgent => " ORDER BY t.priority DESC, t.id ASC",
        }
    }

    /// The cursor of the last row of a page.
    fn cursor(self, t: &TicketRow) -> String {
        match self {
            Sort::NewestFirst | Sort::OldestFirst => t.id.to_string(),
            Sort::RecentlyUpdated | Sort::LeastRecentlyUpdated => format!("{}|{}", t.updated_at.to_rfc3339(), t.id),
            Sort::MostUrgent => format!("{}|{}", t.priority.rank(), t.id),
        }
    }

    /// The condition "after this cursor".
    fn after(self, cursor: &str, sql: &mut DynamicSql) -> Result<()> {
        let bad = || Error::invalid("cursor", "is not a cursor this server issued for this sort");
        let (key, id) = match cursor.split_once('|') {
            Some((key, id)) => (Some(key), id),
            None => (None, cursor),
        };
        let id = Uuid::parse_str(id).map_err(|_| bad())?;
        match (self, key) {
            (Sort::NewestFirst, None) => sql.push(" AND t.id < ").bind(Bind::Uuid(id)),
            (Sort::OldestFirst, None) => sql.push(" AND t.id > ").bind(Bind::Uuid(id)),
            (Sort::RecentlyUpdated | Sort::LeastRecentlyUpdated, Some(key)) => {
                let at: DateTime<Utc> = DateTime::parse_from_rfc3339(key).map_err(|_| bad())?.into();
                let op = if matches!(self, Sort::RecentlyUpdated) { "<" } else { ">" };
                sql.push(&format!(" AND (t.updated_at {op} ")).bind(Bind::Time(at));
                sql.push(" OR (t.updated_at = ").bind(Bind::Time(at));
                sql.push(&format!(" AND t.id {op} ")).bind(Bind::Uuid(id)).push("))")
            }
            (Sort::MostUrgent, Some(key)) => {
                let rank: i64 = key.parse().map_err(|_| bad())?;
                sql.push(" AND (t.priority < ").bind(Bind::Int(rank));
                sql.push(" OR (t.priority = ").bind(Bind::Int(rank));
                sql.push(" AND t.id > ").bind(Bind::Uuid(id)).push("))")
            }
            _ => return Err(bad()),
        };
        Ok(())
    }
}

/// Restricts a query over `tickets t` to what the caller may see.
pub fn visibility_filter(caller: &AuthUser, sql: &mut DynamicSql) {
    match caller.role() {
        Role::Customer => {
            sql.push(" AND t.requester_id = ").bind(Bind::Uuid(caller.id()));
        }
        Role::Agent => {
            // Team first: queue indexes hold team_id, so most rows pass without a read of the
            // table row (benches/tickets_scale.rs).
            sql.push(" AND (t.team_id IS NULL OR t.team_id IN (SELECT team_id FROM team_members WHERE user_id = ")
                .bind(Bind::Uuid(caller.id()))
                .push(") OR t.assignee_id = ")
                .bind(Bind::Uuid(caller.id()))
                .push(")");
        }
        Role::Supervisor | Role::Admin => {}
    }
}

/// The WHERE of the partial indexes over tickets not yet done (migration 0010), verbatim.
const ACTIVE_STATUSES: &str = " AND t.status IN ('new', 'open', 'in_progress', 'pending_customer', 'pending_approval')";

/// The partial index over tickets still to work on (migration 0010) that gives this query's
/// rows in its order, if any: most urgent first over the desk (both backends), newest or oldest
/// first within one team (SQLite; PostgreSQL's plan for that is fast without it).
fn active_work_index(state: &AppState, query: &TicketListQuery, sort: Sort, deleted: bool) -> Option<&'static str> {
    if deleted || !only_active_statuses(query) {
        return None;
    }
    match (sort, &state.db) {
        (Sort::MostUrgent, _) => Some("tickets_active_by_urgency"),
        (Sort::NewestFirst | Sort::OldestFirst, Db::Sqlite(_)) if query.team.is_some() => Some("tickets_active_by_team"),
        _ => None,
    }
}

/// Whether the query asks for some statuses, all of them still to work on.
fn only_active_statuses(query: &TicketListQuery) -> bool {
    let Some(statuses) = query.status.as_deref() else { return false };
    let parsed: Vec<Option<Status>> = statuses.split(',').map(|s| s.parse::<Status>().ok()).collect();
    !parsed.is_empty() && parsed.iter().all(|s| s.is_some_and(|s| !s.is_done()))
}

/// The furthest `breaching_within` looks ahead: ten years covers any SLA target, and keeps the
/// instant it gives inside what dates can hold.
const MAX_BREACHING_WITHIN_SECS: i64 = 10 * 365 * 86_400;

/// The filters of a list query (shared by the queue, bulk updates and saved views).
pub fn apply_filters(caller: &AuthUser, query: &TicketListQuery, sql: &mut DynamicSql) -> Result<()> {
    visibility_filter(caller, sql);
    if let Some(statuses) = &query.status {
        let statuses: Vec<Status> = statuses
            .split(',')
            .map(|s| s.parse().map_err(|e: String| Error::invalid("status", e)))
            .collect::<Result<_>>()?;
        if !statuses.is_empty() {
            sql.push(" AND t.status IN (").bind_list(statuses.iter().map(|s| Bind::Text(s.as_str().to_owned()))).push(")");
        }
    }
    match query.assignee.as_deref() {
        None => {}
        Some("none") => {
            sql.push(" AND t.assignee_id IS NULL");
        }
        Some("me") => {
            sql.push(" AND t.assignee_id = ").bind(Bind::Uuid(caller.id()));
        }
        Some(id) => {
            let id = Uuid::parse_str(id).map_err(|_| Error::invalid("assignee", "must be a user id, `me` or `none`"))?;
            sql.push(" AND t.assignee_id = ").bind(Bind::Uuid(id));
        }
    }
    if let Some(team) = query.team {
        sql.push(" AND t.team_id = ").bind(Bind::Uuid(team));
    }
    if let Some(priority) = query.priority {
        sql.push(" AND t.priority = ").bind(Bind::Int(priority.rank().into()));
    }
    if let Some(requester) = query.requester {
        sql.push(" AND t.requester_id = ").bind(Bind::Uuid(requester));
    }
    if let Some(tag) = &query.tag {
        // A check per ticket as the queue is walked in order, not the list of every ticket with
        // the tag first: a common tag's list is tens of thousands (9 ms against 0.8 at a million).
        sql.push(" AND EXISTS (SELECT 1 FROM ticket_tags g WHERE g.ticket_id = t.id AND g.tag = ")
            .bind(Bind::Text(tag.trim().to_lowercase()))
            .push(")");
    }
    if let Some(within) = query.breaching_within {
        if within > MAX_BREACHING_WITHIN_SECS {
            return Err(Error::invalid("breaching_within", format!("at most {MAX_BREACHING_WITHIN_SECS} seconds (ten years)")));
        }
        let limit = Utc::now() + chrono::Duration::seconds(within.max(0));
        sql.push(" AND (t.first_response_due_at <= ").bind(Bind::Time(limit));
        sql.push(" OR t.resolution_due_at <= ").bind(Bind::Time(limit)).push(")");
    }
    Ok(())
}

/// The queue: tickets you may see, filtered, sorted, a page at a time; `q` searches and ranks.
#[utoipa::path(get, path = "/tickets", tag = "tickets",
    params(TicketListQuery),
    security(("bearer" = ["tickets.read"])),
    responses((status = 200, body = Page<Ticket>), (status = 422, body = ApiError)))]
async fn list_tickets(
    State(state): State<AppState>,
    caller: Authorized<can::ReadTickets>,
    AppQuery(query): AppQuery<TicketListQuery>,
) -> Result<AppJson<Page<Ticket>>> {
    Ok(AppJson(list(&state, &caller, &query).await?))
}

/// How many tickets the queue holds: the same filters and visibility as `GET /tickets` (`limit`,
/// `cursor` and `sort` are ignored), for a count beside a queue's name without paging it all.
#[utoipa::path(get, path = "/tickets/count", tag = "tickets",
    params(TicketListQuery),
    security(("bearer" = ["tickets.read"])),
    responses((status = 200, body = TicketCount), (status = 422, body = ApiError)))]
async fn count_tickets(
    State(state): State<AppState>,
    caller: Authorized<can::ReadTickets>,
    AppQuery(query): AppQuery<TicketListQuery>,
) -> Result<AppJson<TicketCount>> {
    Ok(AppJson(TicketCount { count: count(&state, &caller, &query).await? }))
}

/// How many tickets [`list`] pages through for `query`. Counted over the same partial indexes
/// the queue reads (every one skips deleted tickets), never by reading ticket rows where an
/// index has the columns the filters name.
pub async fn count(state: &AppState, caller: &AuthUser, query: &TicketListQuery) -> Result<u64> {
    let deleted = query.deleted.unwrap_or(false);
    if deleted {
        caller.require(Action::DeleteTickets)?;
    }
    if let Some(text) = query.q.as_deref().filter(|q| !q.trim().is_empty()) {
        return search::count(state, caller, query, text).await;
    }
    let mut sql = DynamicSql::new("SELECT COUNT(*) FROM tickets t WHERE ");
    sql.push(if deleted { "t.deleted_at IS NOT NULL" } else { "t.deleted_at IS NULL" });
    apply_filters(caller, query, &mut sql)?;
    let count: i64 = with_db!(&state.db, pool =>
        bind_all!(sqlx::query_scalar(sqlx::AssertSqlSafe(sql.sql.clone())), &sql.binds).fetch_one(pool).await?);
    Ok(count.max(0) as u64)
}

/// Checks a list query without running it (saved views check theirs when stored).
pub fn check_query(caller: &AuthUser, query: &TicketListQuery) -> Result<()> {
    if query.deleted.unwrap_or(false) {
        caller.require(Action::DeleteTickets)?;
    }
    page_limit(query.limit)?;
    Sort::parse(query.sort.as_deref())?;
    apply_filters(caller, query, &mut DynamicSql::default())
}

/// One page of the queue as `query` asks; shared by the queue route and saved views.
pub async fn list(state: &AppState, caller: &AuthUser, query: &TicketListQuery) -> Result<Page<Ticket>> {
    let deleted = query.deleted.unwrap_or(false);
    if deleted {
        caller.require(Action::DeleteTickets)?;
    }
    let limit = page_limit(query.limit)?;
    if let Some(text) = query.q.as_deref().filter(|q| !q.trim().is_empty()) {
        return search::search(state, caller, query, text, limit).await;
    }
    let sort = Sort::parse(query.sort.as_deref())?;
    // The page's ids are chosen and sorted from an index alone, then only their rows are read:
    // sorting whole rows of every match (thousands in a big queue) cost tens of milliseconds a
    // page at a million tickets (benches/tickets_scale.rs).
    // The page's rows come with what their answers show beside them (names, tags, sub-ticket
    // counts): one query for the page.
    let mut sql = DynamicSql::new(concat!("SELECT ", view_columns!(), " FROM tickets t", view_joins!(), " WHERE t.id IN (SELECT t.id FROM tickets t"));
    let active_index = active_work_index(state, query, sort, deleted);
    if let (Some(index), Db::Sqlite(_)) = (active_index, &state.db) {
        // SQLite's planner prices these partial indexes as full scans, not knowing the page
        // ends after a few dozen entries, and sorts every matching ticket instead (47 ms for
        // most-urgent-first at a million; the index answers in well under one). PostgreSQL
        // weighs the LIMIT itself.
        sql.push(" INDEXED BY ").push(index);
    }
    sql.push(" WHERE ");
    sql.push(if deleted { "t.deleted_at IS NOT NULL" } else { "t.deleted_at IS NULL" });
    apply_filters(caller, query, &mut sql)?;
    if active_index.is_some() {
        // Redundant, but spelled exactly as the index's WHERE: a planner uses a partial index
        // only when the query states its condition, and cannot see the bound statuses. Only
        // here: for other orders the second IN costs SQLite its ordered scans.
        sql.push(ACTIVE_STATUSES);
    }
    if let Some(cursor) = &query.cursor {
        sort.after(cursor, &mut sql)?;
    }
    sql.push(sort.order_by()).push(" LIMIT ").bind(Bind::Int(i64::from(limit) + 1));
    sql.push(")").push(sort.order_by());
    let mut rows: Vec<TicketView> = with_db!(&state.db, pool =>
        bind_all!(sqlx::query_as(sqlx::AssertSqlSafe(sql.sql.clone())), &sql.binds).fetch_all(pool).await?);
    let next_cursor = if rows.len() > limit as usize {
        rows.truncate(limit as usize);
        rows.last().map(|t| sort.cursor(&t.row))
    } else {
        None
    };
    Ok(Page { items: api::views(&state.db, rows).await?, next_cursor })
}

// --- update --------------------------------------------------------------------------------

/// Change a ticket's fields. Send the version you read (`version` or `If-Match`); if the
/// ticket changed since, the answer is 409 and nothing changes.
#[utoipa::path(patch, path = "/tickets/{id}", tag = "tickets",
    params(("id" = Uuid, Path)),
    request_body = UpdateTicket,
    security(("bearer" = ["tickets.update"])),
    responses((status = 200, body = Ticket), (status = 404, body = ApiError), (status = 409, body = ApiError), (status = 422, body = ApiError)))]
async fn update_ticket(
    State(state): State<AppState>,
    caller: Authorized<can::UpdateTickets>,
    AppPath(id): AppPath<Uuid>,
    headers: HeaderMap,
    AppJson(update): AppJson<UpdateTicket>,
) -> Result<AppJson<Ticket>> {
    visible_ticket(&state.db, &caller, id).await?;
    let version = expected_version(&headers, update.version)?;
    let now = Utc::now();
    let mut tx = state.db.begin().await?;
    let before = store::load_for_write(&mut tx, id, Some(version)).await?;
    let after = edit(&mut tx, &state, &caller, &before, &update, now).await?;
    let after = crate::events::commit_ticket(tx, &state, after).await?;
    Ok(AppJson(api::ticket(&state.db, after).await?))
}

/// Changes a ticket's own fields inside `tx` (the caller has checked visibility and the
/// version): SLA policy, tags, search text and history follow. Shared by the update route,
/// bulk updates and macros. `update.version` is not looked at.
pub async fn edit(tx: &mut Tx, state: &AppState, caller: &AuthUser, before: &TicketRow, update: &UpdateTicket, now: DateTime<Utc>) -> Result<TicketRow> {
    let mut after = before.clone();
    if let Some(s) = &update.subject {
        after.subject = subject(s)?;
    }
    if let Some(d) = &update.description {
        after.description = description(d)?;
    }
    if let Some(p) = update.priority {
        after.priority = p;
    }
    if let Some(c) = &update.category {
        after.category = category(Some(c))?;
    }
    let new_tags = update.tags.as_deref().map(tags).transpose()?;
    if (after.priority, &after.category) != (before.priority, &before.category) {
        let policies = sla::all_policies(&state.db).await?;
        let from = sla::find(&policies, before.sla_policy_id);
        let to = sla::choose(&policies, after.priority, after.category.as_deref(), after.team_id);
        sla::switch_policy(&mut after, from, to, now);
    }
    let text_changed = (&after.subject, &after.description) != (&before.subject, &before.description);
    let after = if after == *before { after } else { store::save(tx, before, after, Some(caller.id()), now).await? };
    if let Some(new_tags) = new_tags {
        let old_tags = store::tags_in(tx, before.id).await?;
        store::set_tags(tx, before.id, &old_tags, &new_tags, Some(caller.id()), now).await?;
    }
    if text_changed {
        store::index_ticket_text(tx, &after).await?;
    }
    Ok(after)
}

async fn set_deleted(state: &AppState, caller: &AuthUser, id: Uuid, deleted: bool) -> Result<TicketRow> {
    let now = Utc::now();
    let mut tx = state.db.begin().await?;
    let before = store::find_in(&mut tx, id).await?.filter(|t| t.deleted_at.is_some() != deleted);
    let before = before.ok_or(Error::NotFound { what: if deleted { "ticket" } else { "deleted ticket" } })?;
    let mut after = before.clone();
    after.deleted_at = deleted.then_some(now);
    let after = store::save(&mut tx, &before, after, Some(caller.id()), now).await?;
    crate::events::commit(tx, state).await?;
    Ok(after)
}

/// Soft-delete a ticket (admins); it leaves every list and can be restored.
#[utoipa::path(delete, path = "/tickets/{id}", tag = "tickets",
    params(("id" = Uuid, Path)),
    security(("bearer" = ["tickets.delete"])),
    responses((status = 204), (status = 404, body = ApiError)))]
async fn delete_ticket(State(state): State<AppState>, caller: Authorized<can::DeleteTickets>, AppPath(id): AppPath<Uuid>) -> Result<StatusCode> {
    set_deleted(&state, &caller, id, true).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Restore a soft-deleted ticket (admins).
#[utoipa::path(post, path = "/tickets/{id}/restore", tag = "tickets",
    params(("id" = Uuid, Path)),
    security(("bearer" = ["tickets.delete"])),
    responses((status = 200, body = Ticket), (status = 404, body = ApiError)))]
async fn restore_ticket(State(state): State<AppState>, caller: Authorized<can::DeleteTickets>, AppPath(id): AppPath<Uuid>) -> Result<AppJson<Ticket>> {
    let ticket = set_deleted(&state, &caller, id, false).await?;
    Ok(AppJson(api::ticket(&state.db, ticket).await?))
}

// --- sub-tickets ---------------------------------------------------------------------------

/// Create a sub-ticket; it inherits the requester and team unless given.
#[utoipa::path(post, path = "/tickets/{id}/subtickets", tag = "tickets",
    params(("id" = Uuid, Path)),
    request_body = CreateTicket,
    security(("bearer" = ["tickets.update"])),
    responses((status = 201, body = Ticket), (status = 404, body = ApiError), (status = 422, body = ApiError)))]
async fn create_subticket(
    State(state): State<AppState>,
    caller: Authorized<can::UpdateTickets>,
    AppPath(id): AppPath<Uuid>,
    AppJson(request): AppJson<CreateTicket>,
) -> Result<(StatusCode, AppJson<Ticket>)> {
    let parent = visible_ticket(&state.db, &caller, id).await?;
    if parent.status.is_final() {
        return Err(Error::invalid("parent", format!("the parent ticket is {}", parent.status)));
    }
    let mut tx = state.db.begin().await?;
    let child = insert_ticket(&mut tx, &state, &caller, request, Some(&parent)).await?;
    let change = Change { field: "subticket", before: None, after: Some(store::display_number(child.number)), internal: false };
    store::record(&mut tx, parent.id, Some(caller.id()), Utc::now(), change).await?;
    let child = crate::events::commit_ticket(tx, &state, child).await?;
    Ok((StatusCode::CREATED, AppJson(api::ticket(&state.db, child).await?)))
}

/// The sub-tickets of a ticket (those you may see).
#[utoipa::path(get, path = "/tickets/{id}/subtickets", tag = "tickets",
    params(("id" = Uuid, Path)),
    security(("bearer" = ["tickets.read"])),
    responses((status = 200, body = Vec<Ticket>), (status = 404, body = ApiError)))]
async fn list_subtickets(State(state): State<AppState>, caller: Authorized<can::ReadTickets>, AppPath(id): AppPath<Uuid>) -> Result<AppJson<Vec<Ticket>>> {
    visible_ticket(&state.db, &caller, id).await?;
    let mut sql = DynamicSql::new(concat!("SELECT ", ticket_columns!("t."), " FROM tickets t WHERE t.deleted_at IS NULL AND t.parent_id = "));
    sql.bind(Bind::Uuid(id));
    visibility_filter(&caller, &mut sql);
    sql.push(" ORDER BY t.id");
    let rows: Vec<TicketRow> = with_db!(&state.db, pool =>
        bind_all!(sqlx::query_as(sqlx::AssertSqlSafe(sql.sql.clone())), &sql.binds).fetch_all(pool).await?);
    Ok(AppJson(api::tickets(&state.db, rows).await?))
}

// --- history -------------------------------------------------------------------------------

#[derive(sqlx::FromRow)]
struct HistoryRow {
    id: Uuid,
    actor_id: Option<Uuid>,
    at: DateTime<Utc>,
    field: String,
    before: Option<String>,
    after: Option<String>,
    rule_id: Option<Uuid>,
}

/// Every change to the ticket: who, when, which field, before and after. Customers do not see
/// internal entries (assignment, internal notes).
#[utoipa::path(get, path = "/tickets/{id}/history", tag = "tickets",
    params(("id" = Uuid, Path)),
    security(("bearer" = ["tickets.read"])),
    responses((status = 200, body = Vec<HistoryEntry>), (status = 404, body = ApiError)))]
async fn history(State(state): State<AppState>, caller: Authorized<can::ReadTickets>, AppPath(id): AppPath<Uuid>) -> Result<AppJson<Vec<HistoryEntry>>> {
    visible_ticket(&state.db, &caller, id).await?;
    const SQL: &str = "SELECT id, actor_id, at, field, before, after, rule_id FROM ticket_history \
                       WHERE ticket_id = $1 AND ($2 OR NOT internal) ORDER BY id";
    let rows: Vec<HistoryRow> = with_db!(&state.db, pool => sqlx::query_as(SQL).bind(id).bind(is_staff(&caller)).fetch_all(pool).await?);
    Ok(AppJson(
        rows.into_iter()
            .map(|r| HistoryEntry { id: r.id, actor_id: r.actor_id, at: r.at, field: r.field, before: r.before, after: r.after, rule_id: r.rule_id })
            .collect(),
    ))
}
