//! User accounts: the caller's own profile and admin management with soft delete and restore.

use axum::extract::State;
use axum::http::StatusCode;
use chrono::Utc;
use hdms_api_types::users::{CreateUser, UpdateUser, User, UserListQuery};
use hdms_api_types::{ApiError, Page, Role};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::db::is_unique_violation;
use crate::error::{Error, Result};
use crate::http::extract::{AppJson, AppPath, AppQuery};
use crate::http::pagination::{Cursor, page_limit};
use crate::http::permissions::{Action, Authorized, can};
use crate::state::AppState;
use crate::users::store::{self, UserRow, user_columns};
use crate::users::{passwords, validate};
use crate::{with_db, with_tx};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(me))
        .routes(routes!(list_users, create_user))
        .routes(routes!(get_user, update_user, delete_user))
        .routes(routes!(restore_user))
}

/// The caller's own account.
#[utoipa::path(get, path = "/users/me", tag = "users",
    security(("bearer" = ["profile.read"])),
    responses((status = 200, body = User), (status = 401, body = ApiError)))]
async fn me(caller: Authorized<can::ReadOwnProfile>) -> Result<AppJson<User>> {
    Ok(AppJson(caller.user.user.clone().into()))
}

/// List users, oldest first, with filters and cursor pagination.
#[utoipa::path(get, path = "/users", tag = "users",
    params(UserListQuery),
    security(("bearer" = ["users.read"])),
    responses((status = 200, body = Page<User>), (status = 400, body = ApiError)))]
async fn list_users(
    State(state): State<AppState>,
    caller: Authorized<can::ReadUsers>,
    AppQuery(query): AppQuery<UserListQuery>,
) -> Result<AppJson<Page<User>>> {
    let deleted = query.deleted.unwrap_or(false);
    if deleted {
        caller.require(Action::ManageUsers)?;
    }
    let limit = page_limit(query.limit)?;
    let after = Cursor::parse(query.cursor.as_deref())?;
    let pattern = query.q.as_deref().map(like_pattern);
    const SQL: &str = concat!(
        "SELECT ", user_columns!(), " FROM users \
         WHERE (($1 AND deleted_at IS NOT NULL) OR (NOT $1 AND deleted_at IS NULL)) \
           AND ($2 IS NULL OR role = $2) \
           AND ($3 IS NULL OR lower(email) LIKE $3 ESCAPE '\\' OR lower(name) LIKE $3 ESCAPE '\\') \
           AND ($4 IS NULL OR id IN (SELECT user_id FROM team_members WHERE team_id = $4)) \
           AND ($5 IS NULL OR id > $5) \
         ORDER BY id LIMIT $6"
    );
    let rows: Vec<UserRow> = with_db!(&state.db, pool => sqlx::query_as(SQL)
        .bind(deleted)
        .bind(query.role.map(Role::as_str))
        .bind(pattern)
        .bind(query.team)
        .bind(after)
        .bind(i64::from(limit) + 1)
        .fetch_all(pool)
        .await?);
    Ok(AppJson(Cursor::page(rows, limit, |row| row.id, User::from)))
}

/// Create a user (admins).
#[utoipa::path(post, path = "/users", tag = "users",
    request_body = CreateUser,
    security(("bearer" = ["users.manage"])),
    responses((status = 201, body = User), (status = 409, body = ApiError), (status = 422, body = ApiError)))]
async fn create_user(
    State(state): State<AppState>,
    _caller: Authorized<can::ManageUsers>,
    AppJson(request): AppJson<CreateUser>,
) -> Result<(StatusCode, AppJson<User>)> {
    let user = NewUser::validate(request).await?;
    let row = user.insert(&state).await?;
    tracing::info!(user_id = %row.id, role = %row.role, "user created");
    Ok((StatusCode::CREATED, AppJson(row.into())))
}

/// A validated user, ready to insert (also used by the first-start admin bootstrap).
pub struct NewUser {
    pub email: String,
    pub name: String,
    pub role: Role,
    pub phone: Option<String>,
    pub password_hash: Option<String>,
}

impl NewUser {
    pub async fn validate(request: CreateUser) -> Result<NewUser> {
        let email = validate::field("email", validate::email(&request.email))?;
        let name = validate::field("name", validate::name(&request.name))?;
        let phone = request.phone.as_deref().map(validate::phone).transpose();
        let phone = validate::field("phone", phone)?;
        let password_hash = match request.password {
            Some(password) => {
                passwords::validate(&password)?;
                Some(passwords::hash(password).await?)
            }
            None => None,
        };
        Ok(NewUser { email, name, role: request.role, phone, password_hash })
    }

    pub async fn insert(self, state: &AppState) -> Result<UserRow> {
        const SQL: &str = concat!(
            "INSERT INTO users (id, email, name, role, phone, password_hash, active, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, TRUE, $7, $7) RETURNING ",
            user_columns!()
        );
        let now = Utc::now();
        let mut tx = state.db.begin().await?;
        let inserted: std::result::Result<UserRow, sqlx::Error> = with_tx!(&mut tx, conn => sqlx::query_as(SQL)
            .bind(Uuid::now_v7())
            .bind(&self.email)
            .bind(&self.name)
            .bind(self.role.as_str())
            .bind(&self.phone)
            .bind(&self.password_hash)
            .bind(now)
            .fetch_one(&mut *conn)
            .await);
        let row = inserted.map_err(|err| email_conflict(err, &self.email))?;
        crate::comms::webhooks::events::user_created(&mut tx, &User::from(row.clone()), now).await?;
        tx.commit().await?;
        Ok(row)
    }
}

/// Read one user. Admins also see deleted users.
#[utoipa::path(get, path = "/users/{id}", tag = "users",
    params(("id" = Uuid, Path)),
    security(("bearer" = ["users.read"])),
    responses((status = 200, body = User), (status = 404, body = ApiError)))]
async fn get_user(
    State(state): State<AppState>,
    caller: Authorized<can::ReadUsers>,
    AppPath(id): AppPath<Uuid>,
) -> Result<AppJson<User>> {
    let row = if Action::ManageUsers.allows(caller.role()) {
        store::find_any(&state.db, id).await?
    } else {
        store::find_live(&state.db, id).await?
    };
    Ok(AppJson(row.ok_or(Error::NotFound { what: "user" })?.into()))
}

/// Change a user (admins). Changing the password, deactivating or demoting ends their sessions.
#[utoipa::path(patch, path = "/users/{id}", tag = "users",
    params(("id" = Uuid, Path)),
    request_body = UpdateUser,
    security(("bearer" = ["users.manage"])),
    responses((status = 200, body = User), (status = 404, body = ApiError), (status = 409, body = ApiError), (status = 422, body = ApiError)))]
async fn update_user(
    State(state): State<AppState>,
    _caller: Authorized<can::ManageUsers>,
    AppPath(id): AppPath<Uuid>,
    AppJson(update): AppJson<UpdateUser>,
) -> Result<AppJson<User>> {
    let current = store::find_live(&state.db, id).await?.ok_or(Error::NotFound { what: "user" })?;
    let email = update.email.as_deref().map(validate::email).transpose();
    let email = validate::field("email", email)?.unwrap_or_else(|| current.email.clone());
    let name = update.name.as_deref().map(validate::name).transpose();
    let name = validate::field("name", name)?.unwrap_or_else(|| current.name.clone());
    let phone = match update.phone {
        Some(Some(phone)) => Some(validate::field("phone", validate::phone(&phone))?),
        Some(None) => None,
        None => current.phone.clone(),
    };
    let role = update.role.unwrap_or(current.role);
    let active = update.active.unwrap_or(current.active);
    let password_hash = match update.password {
        Some(password) => {
            passwords::validate(&password)?;
            Some(passwords::hash(password).await?)
        }
        None => None,
    };
    let loses_admin = current.role == Role::Admin && current.active && (role != Role::Admin || !active);
    if loses_admin {
        ensure_not_last_admin(&state).await?;
    }
    let ends_sessions = password_hash.is_some() || !active || role != current.role;
    const SQL: &str = concat!(
        "UPDATE users SET email = $1, name = $2, phone = $3, role = $4, active = $5, \
           password_hash = COALESCE($6, password_hash), updated_at = $7 \
         WHERE id = $8 AND deleted_at IS NULL RETURNING ",
        user_columns!()
    );
    let now = Utc::now();
    let row: Option<UserRow> = crate::with_db_writing!(&state.db, pool => {
        let mut tx = pool.begin().await?;
        let row = sqlx::query_as(SQL)
            .bind(&email)
            .bind(&name)
            .bind(&phone)
            .bind(role.as_str())
            .bind(active)
            .bind(&password_hash)
            .bind(now)
            .bind(id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(|err| email_conflict(err, &email))?;
        if ends_sessions {
            sqlx::query("UPDATE sessions SET revoked_at = $1, revoked_reason = 'account_changed' \
                         WHERE user_id = $2 AND revoked_at IS NULL")
                .bind(now)
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        row
    });
    state.sessions.invalidate();
    Ok(AppJson(row.ok_or(Error::NotFound { what: "user" })?.into()))
}

/// Soft-delete a user (admins): they can no longer log in or use a token; restore undoes it.
#[utoipa::path(delete, path = "/users/{id}", tag = "users",
    params(("id" = Uuid, Path)),
    security(("bearer" = ["users.manage"])),
    responses((status = 204), (status = 404, body = ApiError), (status = 409, body = ApiError)))]
async fn delete_user(
    State(state): State<AppState>,
    _caller: Authorized<can::ManageUsers>,
    AppPath(id): AppPath<Uuid>,
) -> Result<StatusCode> {
    let current = store::find_live(&state.db, id).await?.ok_or(Error::NotFound { what: "user" })?;
    if current.role == Role::Admin && current.active {
        ensure_not_last_admin(&state).await?;
    }
    let now = Utc::now();
    crate::with_db_writing!(&state.db, pool => {
        let mut tx = pool.begin().await?;
        sqlx::query("UPDATE users SET deleted_at = $1, updated_at = $1 WHERE id = $2 AND deleted_at IS NULL")
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        // Sessions end for good: restoring the user must not revive them.
        sqlx::query("UPDATE sessions SET revoked_at = $1, revoked_reason = 'user_deleted' \
                     WHERE user_id = $2 AND revoked_at IS NULL")
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
    });
    state.sessions.invalidate();
    tracing::info!(user_id = %id, "user deleted");
    Ok(StatusCode::NO_CONTENT)
}

/// Restore a soft-deleted user (admins). 409 if a live user has taken their email meanwhile.
#[utoipa::path(post, path = "/users/{id}/restore", tag = "users",
    params(("id" = Uuid, Path)),
    security(("bearer" = ["users.manage"])),
    responses((status = 200, body = User), (status = 404, body = ApiError), (status = 409, body = ApiError)))]
async fn restore_user(
    State(state): State<AppState>,
    _caller: Authorized<can::ManageUsers>,
    AppPath(id): AppPath<Uuid>,
) -> Result<AppJson<User>> {
    const SQL: &str = concat!(
        "UPDATE users SET deleted_at = NULL, updated_at = $1 \
         WHERE id = $2 AND deleted_at IS NOT NULL RETURNING ",
        user_columns!()
    );
    let deleted = store::find_any(&state.db, id).await?.filter(|row| row.deleted_at.is_some());
    let deleted = deleted.ok_or(Error::NotFound { what: "deleted user" })?;
    let row: Option<UserRow> = crate::with_db_writing!(&state.db, pool => sqlx::query_as(SQL)
        .bind(Utc::now())
        .bind(id)
        .fetch_optional(pool)
        .await
        .map_err(|err| email_conflict(err, &deleted.email))?);
    state.sessions.invalidate();
    Ok(AppJson(row.ok_or(Error::NotFound { what: "deleted user" })?.into()))
}

async fn ensure_not_last_admin(state: &AppState) -> Result<()> {
    if store::count_active_admins(&state.db).await? <= 1 {
        return Err(Error::conflict("last_admin", "this is the last active admin; make another admin first"));
    }
    Ok(())
}

fn email_conflict(err: sqlx::Error, email: &str) -> Error {
    if is_unique_violation(&err) {
        Error::conflict("email_taken", format!("a user with email '{email}' already exists"))
    } else {
        err.into()
    }
}

/// `%text%` for a case-insensitive LIKE, with LIKE's own wildcards escaped.
pub fn like_pattern(text: &str) -> String {
    let escaped = text.trim().to_lowercase().replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
    format!("%{escaped}%")
}
