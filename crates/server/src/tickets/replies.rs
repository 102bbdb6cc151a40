//! Canned replies and macros, shared (no owner; `replies.share` to create or change) or
//! personal (only their owner sees them). Both are soft-deleted. A macro is a named
//! [`TicketActions`], applied to one ticket through the same checks as bulk updates.

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use hdms_api_types::ApiError;
use hdms_api_types::tickets::{
    ApplyMacro, CannedReply, CannedReplyInput, CannedReplyUpdate, Macro, MacroInput, MacroUpdate, Ticket, TicketActions,
};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::http::extract::{AppJson, AppPath};
use crate::http::permissions::{Action, Authorized, can};
use crate::state::AppState;
use crate::tickets::{actions, api, bulk, comments, placeholders};
use crate::users::auth::AuthUser;
use crate::with_db;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_canned_replies, create_canned_reply))
        .routes(routes!(get_canned_reply, update_canned_reply, delete_canned_reply))
        .routes(routes!(list_macros, create_macro))
        .routes(routes!(get_macro, update_macro, delete_macro))
        .routes(routes!(apply_macro))
}

fn name(raw: &str) -> Result<String> {
    let name = raw.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(Error::invalid("name", "must be 1 to 100 characters"));
    }
    Ok(name.to_owned())
}

fn reply_body(raw: &str) -> Result<String> {
    let body = raw.trim();
    if body.is_empty() || body.len() > comments::MAX_BODY_BYTES {
        return Err(Error::invalid("body", format!("must be 1 to {} bytes", comments::MAX_BODY_BYTES)));
    }
    placeholders::check("body", body)?;
    Ok(body.to_owned())
}

/// The owner a reply or macro gets: none when shared (which needs `replies.share`).
fn owner_for(caller: &AuthUser, shared: bool) -> Result<Option<Uuid>> {
    if shared {
        caller.require(Action::ShareReplies)?;
        Ok(None)
    } else {
        Ok(Some(caller.id()))
    }
}

/// Changing a shared one needs `replies.share`; a personal one is only ever loaded for its owner.
fn may_change(caller: &AuthUser, owner: Option<Uuid>) -> Result<()> {
    match owner {
        None => caller.require(Action::ShareReplies),
        Some(_) => Ok(()),
    }
}

// --- canned replies ------------------------------------------------------------------------

#[derive(sqlx::FromRow)]
struct CannedRow {
    id: Uuid,
    owner_id: Option<Uuid>,
    name: String,
    body: String,
    created_at: DateTime<Utc>,
    updated_at: Option<DateTime<Utc>>,
}

impl From<CannedRow> for CannedReply {
    fn from(r: CannedRow) -> Self {
        CannedReply { id: r.id, shared: r.owner_id.is_none(), owner_id: r.owner_id, name: r.name, body: r.body, created_at: r.created_at, updated_at: r.updated_at }
    }
}

/// A live canned reply the caller may see (shared, or their own), or 404.
async fn canned(state: &AppState, caller: &AuthUser, id: Uuid) -> Result<CannedRow> {
    const SQL: &str = "SELECT id, owner_id, name, body, created_at, updated_at FROM canned_replies \
                       WHERE id = $1 AND deleted_at IS NULL AND (owner_id IS NULL OR owner_id = $2)";
    let row = with_db!(&state.db, pool => sqlx::query_as(SQL).bind(id).bind(caller.id()).fetch_optional(pool).await?);
    row.ok_or(Error::NotFound { what: "canned reply" })
}

/// The shared canned replies and your own, by name.
#[utoipa::path(get, path = "/canned-replies", tag = "tickets",
    security(("bearer" = ["replies.manage"])),
    responses((status = 200, body = Vec<CannedReply>)))]
async fn list_canned_replies(State(state): State<AppState>, caller: Authorized<can::ManageReplies>) -> Result<AppJson<Vec<CannedReply>>> {
    const SQL: &str = "SELECT id, owner_id, name, body, created_at, updated_at FROM canned_replies \
                       WHERE deleted_at IS NULL AND (owner_id IS NULL OR owner_id = $1) ORDER BY lower(name), id";
    let rows: Vec<CannedRow> = with_db!(&state.db, pool => sqlx::query_as(SQL).bind(caller.id()).fetch_all(pool).await?);
    Ok(AppJson(rows.into_iter().map(CannedReply::from).collect()))
}

/// Save a canned reply: personal, or (`shared`, needs `replies.share`) for everyone.
#[utoipa::path(post, path = "/canned-replies", tag = "tickets",
    request_body = CannedReplyInput,
    security(("bearer" = ["replies.manage"])),
    responses((status = 201, body = CannedReply), (status = 403, body = ApiError), (status = 422, body = ApiError)))]
async fn create_canned_reply(
    State(state): State<AppState>,
    caller: Authorized<can::ManageReplies>,
    AppJson(input): AppJson<CannedReplyInput>,
) -> Result<(StatusCode, AppJson<CannedReply>)> {
    let row = CannedRow {
        id: Uuid::now_v7(),
        name: name(&input.name)?,
        body: reply_body(&input.body)?,
        owner_id: owner_for(&caller, input.shared)?,
        created_at: Utc::now(),
        updated_at: None,
    };
    const SQL: &str = "INSERT INTO canned_replies (id, owner_id, name, body, created_at) VALUES ($1, $2, $3, $4, $5)";
    crate::with_db_writing!(&state.db, pool => sqlx::query(SQL).bind(row.id).bind(row.owner_id).bind(&row.name).bind(&row.body).bind(row.created_at)
        .execute(pool).await?.rows_affected());
    Ok((StatusCode::CREATED, AppJson(row.into())))
}

#[utoipa::path(get, path = "/canned-replies/{id}", tag = "tickets",
    params(("id" = Uuid, Path)),
    security(("bearer" = ["replies.manage"])),
    responses((status = 200, body = CannedReply), (status = 404, body = ApiError)))]
async fn get_canned_reply(State(state): State<AppState>, caller: Authorized<can::ManageReplies>, AppPath(id): AppPath<Uuid>) -> Result<AppJson<CannedReply>> {
    Ok(AppJson(canned(&state, &caller, id).await?.into()))
}

/// Change a canned reply. Shared ones (and sharing or unsharing) need `replies.share`.
#[utoipa::path(patch, path = "/canned-replies/{id}", tag = "tickets",
    params(("id" = Uuid, Path)),
    request_body = CannedReplyUpdate,
    security(("bearer" = ["replies.manage"])),
    responses((status = 200, body = CannedReply), (status = 403, body = ApiError), (status = 404, body = ApiError), (status = 422, body = ApiError)))]
async fn update_canned_reply(
    State(state): State<AppState>,
    caller: Authorized<can::ManageReplies>,
    AppPath(id): AppPath<Uuid>,
    AppJson(update): AppJson<CannedReplyUpdate>,
) -> Result<AppJson<CannedReply>> {
    let mut row = canned(&state, &caller, id).await?;
    may_change(&caller, row.owner_id)?;
    if let Some(n) = &update.name {
        row.name = name(n)?;
    }
    if let Some(b) = &update.body {
        row.body = reply_body(b)?;
    }
    if let Some(shared) = update.shared.filter(|s| *s != row.owner_id.is_none()) {
        caller.require(Action::ShareReplies)?;
        row.owner_id = owner_for(&caller, shared)?;
    }
    row.updated_at = Some(Utc::now());
    const SQL: &str = "UPDATE canned_replies SET name = $1, body = $2, owner_id = $3, updated_at = $4 WHERE id = $5 AND deleted_at IS NULL";
    crate::with_db_writing!(&state.db, pool => sqlx::query(SQL).bind(&row.name).bind(&row.body).bind(row.owner_id).bind(row.updated_at).bind(row.id)
        .execute(pool).await?.rows_affected());
    Ok(AppJson(row.into()))
}

/// Delete a canned reply (soft). Shared ones need `replies.share`.
#[utoipa::path(delete, path = "/canned-replies/{id}", tag = "tickets",
    params(("id" = Uuid, Path)),
    security(("bearer" = ["replies.manage"])),
    responses((status = 204), (status = 403, body = ApiError), (status = 404, body = ApiError)))]
async fn delete_canned_reply(State(state): State<AppState>, caller: Authorized<can::ManageReplies>, AppPath(id): AppPath<Uuid>) -> Result<StatusCode> {
    let row = canned(&state, &caller, id).await?;
    may_change(&caller, row.owner_id)?;
    const SQL: &str = "UPDATE canned_replies SET deleted_at = $1 WHERE id = $2 AND deleted_at IS NULL";
    crate::with_db_writing!(&state.db, pool => sqlx::query(SQL).bind(Utc::now()).bind(id).execute(pool).await?.rows_affected());
    Ok(StatusCode::NO_CONTENT)
}

// --- macros --------------------------------------------------------------------------------

#[derive(sqlx::FromRow)]
struct MacroRow {
    id: Uuid,
    owner_id: Option<Uuid>,
    name: String,
    actions: String,
    created_at: DateTime<Utc>,
    updated_at: Option<DateTime<Utc>>,
}

impl MacroRow {
    fn actions(&self) -> Result<TicketActions> {
        serde_json::from_str(&self.actions).map_err(|e| Error::Internal(anyhow::anyhow!("macro {} has unreadable actions: {e}", self.id)))
    }

    fn view(self) -> Result<Macro> {
        let actions = self.actions()?;
        Ok(Macro { id: self.id, shared: self.owner_id.is_none(), owner_id: self.owner_id, name: self.name, actions, created_at: self.created_at, updated_at: self.updated_at })
    }
}

fn actions_text(actions: &TicketActions) -> Result<String> {
    serde_json::to_string(actions).map_err(|e| Error::Internal(e.into()))
}

/// A live macro the caller may see (shared, or their own), or 404.
async fn find_macro(state: &AppState, caller: &AuthUser, id: Uuid) -> Result<MacroRow> {
    const SQL: &str = "SELECT id, owner_id, name, actions, created_at, updated_at FROM macros \
                       WHERE id = $1 AND deleted_at IS NULL AND (owner_id IS NULL OR owner_id = $2)";
    let row = with_db!(&state.db, pool => sqlx::query_as(SQL).bind(id).bind(caller.id()).fetch_optional(pool).await?);
    row.ok_or(Error::NotFound { what: "macro" })
}

/// The shared macros and your own, by name.
#[utoipa::path(get, path = "/macros", tag = "tickets",
    security(("bearer" = ["replies.manage"])),
    responses((status = 200, body = Vec<Macro>)))]
async fn list_macros(State(state): State<AppState>, caller: Authorized<can::ManageReplies>) -> Result<AppJson<Vec<Macro>>> {
    const SQL: &str = "SELECT id, owner_id, name, actions, created_at, updated_at FROM macros \
                       WHERE deleted_at IS NULL AND (owner_id IS NULL OR owner_id = $1) ORDER BY lower(name), id";
    let rows: Vec<MacroRow> = with_db!(&state.db, pool => sqlx::query_as(SQL).bind(caller.id()).fetch_all(pool).await?);
    Ok(AppJson(rows.into_iter().map(MacroRow::view).collect::<Result<_>>()?))
}

/// Save a macro: field changes, a reply and a status move, applied in that order. Personal, or
/// (`shared`, needs `replies.share`) for everyone.
#[utoipa::path(post, path = "/macros", tag = "tickets",
    request_body = MacroInput,
    security(("bearer" = ["replies.manage"])),
    responses((status = 201, body = Macro), (status = 403, body = ApiError), (status = 422, body = ApiError)))]
async fn create_macro(
    State(state): State<AppState>,
    caller: Authorized<can::ManageReplies>,
    AppJson(input): AppJson<MacroInput>,
) -> Result<(StatusCode, AppJson<Macro>)> {
    let name = name(&input.name)?;
    actions::check(&state, &input.actions, actions::Use::Macro).await?;
    let row = MacroRow {
        id: Uuid::now_v7(),
        owner_id: owner_for(&caller, input.shared)?,
        name,
        actions: actions_text(&input.actions)?,
        created_at: Utc::now(),
        updated_at: None,
    };
    const SQL: &str = "INSERT INTO macros (id, owner_id, name, actions, created_at) VALUES ($1, $2, $3, $4, $5)";
    crate::with_db_writing!(&state.db, pool => sqlx::query(SQL).bind(row.id).bind(row.owner_id).bind(&row.name).bind(&row.actions).bind(row.created_at)
        .execute(pool).await?.rows_affected());
    Ok((StatusCode::CREATED, AppJson(row.view()?)))
}

#[utoipa::path(get, path = "/macros/{id}", tag = "tickets",
    params(("id" = Uuid, Path)),
    security(("bearer" = ["replies.manage"])),
    responses((status = 200, body = Macro), (status = 404, body = ApiError)))]
async fn get_macro(State(state): State<AppState>, caller: Authorized<can::ManageReplies>, AppPath(id): AppPath<Uuid>) -> Result<AppJson<Macro>> {
    Ok(AppJson(find_macro(&state, &caller, id).await?.view()?))
}

/// Change a macro. Shared ones (and sharing or unsharing) need `replies.share`.
#[utoipa::path(patch, path = "/macros/{id}", tag = "tickets",
    params(("id" = Uuid, Path)),
    request_body = MacroUpdate,
    security(("bearer" = ["replies.manage"])),
    responses((status = 200, body = Macro), (status = 403, body = ApiError), (status = 404, body = ApiError), (status = 422, body = ApiError)))]
async fn update_macro(
    State(state): State<AppState>,
    caller: Authorized<can::ManageReplies>,
    AppPath(id): AppPath<Uuid>,
    AppJson(update): AppJson<MacroUpdate>,
) -> Result<AppJson<Macro>> {
    let mut row = find_macro(&state, &caller, id).await?;
    may_change(&caller, row.owner_id)?;
    if let Some(n) = &update.name {
        row.name = name(n)?;
    }
    if let Some(actions) = &update.actions {
        actions::check(&state, actions, actions::Use::Macro).await?;
        row.actions = actions_text(actions)?;
    }
    if let Some(shared) = update.shared.filter(|s| *s != row.owner_id.is_none()) {
        caller.require(Action::ShareReplies)?;
        row.owner_id = owner_for(&caller, shared)?;
    }
    row.updated_at = Some(Utc::now());
    const SQL: &str = "UPDATE macros SET name = $1, actions = $2, owner_id = $3, updated_at = $4 WHERE id = $5 AND deleted_at IS NULL";
    crate::with_db_writing!(&state.db, pool => sqlx::query(SQL).bind(&row.name).bind(&row.actions).bind(row.owner_id).bind(row.updated_at).bind(row.id)
        .execute(pool).await?.rows_affected());
    Ok(AppJson(row.view()?))
}

/// Delete a macro (soft). Shared ones need `replies.share`.
#[utoipa::path(delete, path = "/macros/{id}", tag = "tickets",
    params(("id" = Uuid, Path)),
    security(("bearer" = ["replies.manage"])),
    responses((status = 204), (status = 403, body = ApiError), (status = 404, body = ApiError)))]
async fn delete_macro(State(state): State<AppState>, caller: Authorized<can::ManageReplies>, AppPath(id): AppPath<Uuid>) -> Result<StatusCode> {
    let row = find_macro(&state, &caller, id).await?;
    may_change(&caller, row.owner_id)?;
    const SQL: &str = "UPDATE macros SET deleted_at = $1 WHERE id = $2 AND deleted_at IS NULL";
    crate::with_db_writing!(&state.db, pool => sqlx::query(SQL).bind(Utc::now()).bind(id).execute(pool).await?.rows_affected());
    Ok(StatusCode::NO_CONTENT)
}

/// Apply a macro to a ticket: its field changes, reply and status move, each checked as the
/// separate routes check them; all of it happens or none.
#[utoipa::path(post, path = "/tickets/{id}/macros/{macro_id}/apply", tag = "tickets",
    params(("id" = Uuid, Path), ("macro_id" = Uuid, Path)),
    request_body = ApplyMacro,
    security(("bearer" = ["tickets.update"])),
    responses((status = 200, body = Ticket), (status = 403, body = ApiError), (status = 404, body = ApiError), (status = 409, body = ApiError), (status = 422, body = ApiError)))]
async fn apply_macro(
    State(state): State<AppState>,
    caller: Authorized<can::UpdateTickets>,
    AppPath((id, macro_id)): AppPath<(Uuid, Uuid)>,
    AppJson(request): AppJson<ApplyMacro>,
) -> Result<AppJson<Ticket>> {
    let actions = find_macro(&state, &caller, macro_id).await?.actions()?;
    let ticket = bulk::apply_actions(&state, &caller, id, request.version, &actions).await?;
    Ok(AppJson(api::ticket(&state.db, ticket).await?))
}
