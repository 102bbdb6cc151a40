//! Saved views: a user's named queue filters, run through the queue's own list code.

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use hdms_api_types::tickets::{SavedView, SavedViewInput, SavedViewUpdate, Ticket, TicketListQuery, ViewPageQuery};
use hdms_api_types::{ApiError, Page};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::http::extract::{AppJson, AppPath, AppQuery};
use crate::http::permissions::{Authorized, can};
use crate::state::AppState;
use crate::tickets::crud;
use crate::users::auth::AuthUser;
use crate::with_db;

/// Views one user may keep.
const MAX_VIEWS: i64 = 200;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_views, create_view))
        .routes(routes!(get_view, update_view, delete_view))
        .routes(routes!(view_tickets))
}

#[derive(sqlx::FromRow)]
struct ViewRow {
    id: Uuid,
    name: String,
    query: String,
    created_at: DateTime<Utc>,
    updated_at: Option<DateTime<Utc>>,
}

impl ViewRow {
    fn query(&self) -> Result<TicketListQuery> {
        serde_json::from_str(&self.query).map_err(|e| Error::Internal(anyhow::anyhow!("saved view {} has an unreadable query: {e}", self.id)))
    }

    fn view(self) -> Result<SavedView> {
        let query = self.query()?;
        Ok(SavedView { id: self.id, name: self.name, query, created_at: self.created_at, updated_at: self.updated_at })
    }
}

fn name(raw: &str) -> Result<String> {
    let name = raw.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(Error::invalid("name", "must be 1 to 100 characters"));
    }
    Ok(name.to_owned())
}

/// The query as stored: checked as the queue would check it, without a cursor.
fn stored_query(caller: &AuthUser, query: TicketListQuery) -> Result<String> {
    let query = TicketListQuery { cursor: None, ..query };
    crud::check_query(caller, &query).map_err(|e| match e {
        Error::Validation { field, message } => Error::Validation { field: Some(format!("query.{}", field.unwrap_or_default())), message },
        other => other,
    })?;
    serde_json::to_string(&query).map_err(|e| Error::Internal(e.into()))
}

/// One of the caller's live views, or 404 (other people's views are never visible).
async fn own_view(state: &AppState, caller: &AuthUser, id: Uuid) -> Result<ViewRow> {
    const SQL: &str = "SELECT id, name, query, created_at, updated_at FROM saved_views WHERE id = $1 AND owner_id = $2 AND deleted_at IS NULL";
    let row = with_db!(&state.db, pool => sqlx::query_as(SQL).bind(id).bind(caller.id()).fetch_optional(pool).await?);
    row.ok_or(Error::NotFound { what: "view" })
}

/// Your saved views, by name.
#[utoipa::path(get, path = "/views", tag = "tickets",
    security(("bearer" = ["views.manage"])),
    responses((status = 200, body = Vec<SavedView>)))]
async fn list_views(State(state): State<AppState>, caller: Authorized<can::ManageViews>) -> Result<AppJson<Vec<SavedView>>> {
    const SQL: &str = "SELECT id, name, query, created_at, updated_at FROM saved_views \
                       WHERE owner_id = $1 AND deleted_at IS NULL ORDER BY lower(name), id";
    let rows: Vec<ViewRow> = with_db!(&state.db, pool => sqlx::query_as(SQL).bind(caller.id()).fetch_all(pool).await?);
    Ok(AppJson(rows.into_iter().map(ViewRow::view).collect::<Result<_>>()?))
}

/// Save a view: a name and the queue's filters (as `GET /tickets` takes them).
#[utoipa::path(post, path = "/views", tag = "tickets",
    request_body = SavedViewInput,
    security(("bearer" = ["views.manage"])),
    responses((status = 201, body = SavedView), (status = 422, body = ApiError)))]
async fn create_view(State(state): State<AppState>, caller: Authorized<can::ManageViews>, AppJson(input): AppJson<SavedViewInput>) -> Result<(StatusCode, AppJson<SavedView>)> {
    let row = ViewRow { id: Uuid::now_v7(), name: name(&input.name)?, query: stored_query(&caller, input.query)?, created_at: Utc::now(), updated_at: None };
    const COUNT: &str = "SELECT COUNT(*) FROM saved_views WHERE owner_id = $1 AND deleted_at IS NULL";
    let count: i64 = with_db!(&state.db, pool => sqlx::query_scalar(COUNT).bind(caller.id()).fetch_one(pool).await?);
    if count >= MAX_VIEWS {
        return Err(Error::invalid("name", format!("at most {MAX_VIEWS} saved views; delete some first")));
    }
    const SQL: &str = "INSERT INTO saved_views (id, owner_id, name, query, created_at) VALUES ($1, $2, $3, $4, $5)";
    crate::with_db_writing!(&state.db, pool => sqlx::query(SQL).bind(row.id).bind(caller.id()).bind(&row.name).bind(&row.query).bind(row.created_at)
        .execute(pool).await?.rows_affected());
    Ok((StatusCode::CREATED, AppJson(row.view()?)))
}

#[utoipa::path(get, path = "/views/{id}", tag = "tickets",
    params(("id" = Uuid, Path)),
    security(("bearer" = ["views.manage"])),
    responses((status = 200, body = SavedView), (status = 404, body = ApiError)))]
async fn get_view(State(state): State<AppState>, caller: Authorized<can::ManageViews>, AppPath(id): AppPath<Uuid>) -> Result<AppJson<SavedView>> {
    Ok(AppJson(own_view(&state, &caller, id).await?.view()?))
}

/// Rename a view or replace its query.
#[utoipa::path(patch, path = "/views/{id}", tag = "tickets",
    params(("id" = Uuid, Path)),
    request_body = SavedViewUpdate,
    security(("bearer" = ["views.manage"])),
    responses((status = 200, body = SavedView), (status = 404, body = ApiError), (status = 422, body = ApiError)))]
async fn update_view(
    State(state): State<AppState>,
    caller: Authorized<can::ManageViews>,
    AppPath(id): AppPath<Uuid>,
    AppJson(update): AppJson<SavedViewUpdate>,
) -> Result<AppJson<SavedView>> {
    let mut row = own_view(&state, &caller, id).await?;
    if let Some(n) = &update.name {
        row.name = name(n)?;
    }
    if let Some(query) = update.query {
        row.query = stored_query(&caller, query)?;
    }
    row.updated_at = Some(Utc::now());
    const SQL: &str = "UPDATE saved_views SET name = $1, query = $2, updated_at = $3 WHERE id = $4 AND deleted_at IS NULL";
    crate::with_db_writing!(&state.db, pool => sqlx::query(SQL).bind(&row.name).bind(&row.query).bind(row.updated_at).bind(row.id)
        .execute(pool).await?.rows_affected());
    Ok(AppJson(row.view()?))
}

/// Delete a view (soft).
#[utoipa::path(delete, path = "/views/{id}", tag = "tickets",
    params(("id" = Uuid, Path)),
    security(("bearer" = ["views.manage"])),
    responses((status = 204), (status = 404, body = ApiError)))]
async fn delete_view(State(state): State<AppState>, caller: Authorized<can::ManageViews>, AppPath(id): AppPath<Uuid>) -> Result<StatusCode> {
    own_view(&state, &caller, id).await?;
    const SQL: &str = "UPDATE saved_views SET deleted_at = $1 WHERE id = $2 AND deleted_at IS NULL";
    crate::with_db_writing!(&state.db, pool => sqlx::query(SQL).bind(Utc::now()).bind(id).execute(pool).await?.rows_affected());
    Ok(StatusCode::NO_CONTENT)
}

/// The tickets of a view, a page at a time, exactly as `GET /tickets` with its query would list
/// them (so only tickets you may see). `limit` overrides the view's page size.
#[utoipa::path(get, path = "/views/{id}/tickets", tag = "tickets",
    params(("id" = Uuid, Path), ViewPageQuery),
    security(("bearer" = ["tickets.read"])),
    responses((status = 200, body = Page<Ticket>), (status = 404, body = ApiError), (status = 422, body = ApiError)))]
async fn view_tickets(
    State(state): State<AppState>,
    caller: Authorized<can::ReadTickets>,
    AppPath(id): AppPath<Uuid>,
    AppQuery(page): AppQuery<ViewPageQuery>,
) -> Result<AppJson<Page<Ticket>>> {
    let stored = own_view(&state, &caller, id).await?.query()?;
    let query = TicketListQuery { limit: page.limit.or(stored.limit), cursor: page.cursor, ..stored };
    Ok(AppJson(crud::list(&state, &caller, &query).await?))
}
