//! The notifications REST API: list, unread count, mark read.

use axum::extract::State;
use axum::http::StatusCode;
use chrono::Utc;
use hdms_api_types::notifications::{Notification, NotificationListQuery, UnreadCount};
use hdms_api_types::{ApiError, Page};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::comms::hub::NotificationRow;
use crate::error::{Error, Result};
use crate::http::extract::{AppJson, AppPath, AppQuery};
use crate::http::pagination::{Cursor, page_limit};
use crate::http::permissions::{Authorized, can};
use crate::state::AppState;
use crate::with_db;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(unread_count))
        .routes(routes!(mark_read))
        .routes(routes!(mark_all_read))
}

/// Your notifications, newest first.
#[utoipa::path(get, path = "/notifications", tag = "notifications",
    params(NotificationListQuery),
    security(("bearer" = ["notifications.read"])),
    responses((status = 200, body = Page<Notification>), (status = 422, body = ApiError)))]
async fn list(
    State(state): State<AppState>,
    caller: Authorized<can::ReadNotifications>,
    AppQuery(query): AppQuery<NotificationListQuery>,
) -> Result<AppJson<Page<Notification>>> {
    let limit = page_limit(query.limit)?;
    let before = Cursor::parse(query.cursor.as_deref())?;
    const SQL: &str = "SELECT id, user_id, kind, ticket_id, title, body, created_at, read_at FROM notifications \
                       WHERE user_id = $1 AND (NOT $2 OR read_at IS NULL) AND ($3 IS NULL OR id < $3) ORDER BY id DESC LIMIT $4";
    let rows: Vec<NotificationRow> = with_db!(&state.db, pool => sqlx::query_as(SQL)
        .bind(caller.id()).bind(query.unread.unwrap_or(false)).bind(before).bind(i64::from(limit) + 1)
        .fetch_all(pool).await?);
    Ok(AppJson(Cursor::page(rows, limit, |r| r.id, Notification::from)))
}

/// How many of your notifications are unread.
#[utoipa::path(get, path = "/notifications/unread-count", tag = "notifications",
    security(("bearer" = ["notifications.read"])),
    responses((status = 200, body = UnreadCount)))]
async fn unread_count(State(state): State<AppState>, caller: Authorized<can::ReadNotifications>) -> Result<AppJson<UnreadCount>> {
    const SQL: &str = "SELECT COUNT(*) FROM notifications WHERE user_id = $1 AND read_at IS NULL";
    let unread: i64 = with_db!(&state.db, pool => sqlx::query_scalar(SQL).bind(caller.id()).fetch_one(pool).await?);
    Ok(AppJson(UnreadCount { unread }))
}

/// Mark one of your notifications read.
#[utoipa::path(post, path = "/notifications/{id}/read", tag = "notifications",
    params(("id" = Uuid, Path)),
    security(("bearer" = ["notifications.read"])),
    responses((status = 204), (status = 404, body = ApiError)))]
async fn mark_read(State(state): State<AppState>, caller: Authorized<can::ReadNotifications>, AppPath(id): AppPath<Uuid>) -> Result<StatusCode> {
    const SQL: &str = "UPDATE notifications SET read_at = COALESCE(read_at, $1) WHERE id = $2 AND user_id = $3";
    let updated = crate::with_db_writing!(&state.db, pool => sqlx::query(SQL).bind(Utc::now()).bind(id).bind(caller.id()).execute(pool).await?.rows_affected());
    if updated == 0 {
        return Err(Error::NotFound { what: "notification" });
    }
    Ok(StatusCode::NO_CONTENT)
}

/// Mark all your notifications read.
#[utoipa::path(post, path = "/notifications/read-all", tag = "notifications",
    security(("bearer" = ["notifications.read"])),
    responses((status = 200, body = UnreadCount)))]
async fn mark_all_read(State(state): State<AppState>, caller: Authorized<can::ReadNotifications>) -> Result<AppJson<UnreadCount>> {
    const SQL: &str = "UPDATE notifications SET read_at = $1 WHERE user_id = $2 AND read_at IS NULL";
    crate::with_db_writing!(&state.db, pool => sqlx::query(SQL).bind(Utc::now()).bind(caller.id()).execute(pool).await?.rows_affected());
    Ok(AppJson(UnreadCount { unread: 0 }))
}
