//! Personal API tokens for scripts: long-lived, revocable, shown once, stored as a digest.

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use hdms_api_types::tokens::{ApiToken, CreateApiToken, CreatedApiToken};
use hdms_api_types::{API_TOKEN_PREFIX, ApiError};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::http::extract::{AppJson, AppPath};
use crate::http::permissions::{Action, Authorized, CHECKED_IN_HANDLERS, can};
use crate::state::AppState;
use crate::users::auth::AuthUser;
use crate::users::secrets;
use crate::users::store::{UserRow, user_columns};
use crate::with_db;

/// Characters of the secret kept in clear, to recognise a token in a list.
const SHOWN_PREFIX_LEN: usize = API_TOKEN_PREFIX.len() + 6;
/// How stale `last_used_at` may get before a request refreshes it (saves a write per request).
const LAST_USED_RESOLUTION_SECS: i64 = 60;

#[derive(sqlx::FromRow)]
struct TokenRow {
    id: Uuid,
    name: String,
    prefix: String,
    created_at: DateTime<Utc>,
    expires_at: Option<DateTime<Utc>>,
    last_used_at: Option<DateTime<Utc>>,
    scope: Option<String>,
}

impl From<TokenRow> for ApiToken {
    fn from(row: TokenRow) -> Self {
        ApiToken {
            id: row.id,
            name: row.name,
            prefix: row.prefix,
            created_at: row.created_at,
            expires_at: row.expires_at,
            last_used_at: row.last_used_at,
            scope: row.scope,
        }
    }
}

/// Authenticates a request carrying a personal API token; with the action it is limited to,
/// if it is.
pub async fn authenticate(state: &AppState, secret: &str) -> Result<(AuthUser, Option<Action>)> {
    #[derive(sqlx::FromRow)]
    struct TokenOwner {
        token_id: Uuid,
        token_expires_at: Option<DateTime<Utc>>,
        token_last_used_at: Option<DateTime<Utc>>,
        token_scope: Option<String>,
        #[sqlx(flatten)]
        user: UserRow,
    }
    const SQL: &str = concat!(
        "SELECT t.id AS token_id, t.expires_at AS token_expires_at, t.last_used_at AS token_last_used_at, t.scope AS token_scope, ",
        user_columns!("u."),
        " FROM api_tokens t JOIN users u ON u.id = t.user_id \
         WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND u.deleted_at IS NULL AND u.active"
    );
    let found: Option<TokenOwner> = with_db!(&state.db, pool => sqlx::query_as(SQL)
        .bind(secrets::digest(secret))
        .fetch_optional(pool)
        .await?);
    let Some(TokenOwner { token_id, token_expires_at: expires_at, token_last_used_at: last_used_at, token_scope, user }) = found else {
        return Err(Error::unauthorized("invalid_token", "the API token is not valid or was revoked"));
    };
    let now = Utc::now();
    if expires_at.is_some_and(|at| at <= now) {
        return Err(Error::unauthorized("token_expired", "the API token has expired"));
    }
    if last_used_at.is_none_or(|at| (now - at).num_seconds() >= LAST_USED_RESOLUTION_SECS) {
        crate::with_db_writing!(&state.db, pool => sqlx::query("UPDATE api_tokens SET last_used_at = $1 WHERE id = $2")
            .bind(now)
            .bind(token_id)
            .execute(pool)
            .await?
            .rows_affected());
    }
    // A scope no longer in the table (renamed in an upgrade) allows nothing rather than all.
    let scope = match token_scope {
        None => None,
        Some(name) => Some(Action::from_name(&name).ok_or(Error::Forbidden { action: "token.scope" })?),
    };
    Ok((AuthUser { user, session_id: None }, scope))
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_token, list_tokens))
        .routes(routes!(revoke_token))
}

/// Create a personal API token. The secret is in this answer only.
#[utoipa::path(post, path = "/tokens", tag = "tokens",
    request_body = CreateApiToken,
    security(("bearer" = ["tokens.manage"])),
    responses((status = 201, body = CreatedApiToken), (status = 422, body = ApiError)))]
async fn create_token(
    State(state): State<AppState>,
    caller: Authorized<can::ManageOwnTokens>,
    AppJson(request): AppJson<CreateApiToken>,
) -> Result<(StatusCode, AppJson<CreatedApiToken>)> {
    let name = request.name.trim().to_owned();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(Error::invalid("name", "must be 1 to 100 characters"));
    }
    let expires_at = match request.expires_in_days {
        // Ten years is "until revoked" in all but name; beyond it the date arithmetic overflows.
        Some(days) if !(1..=3650).contains(&days) => {
            return Err(Error::invalid("expires_in_days", "must be between 1 and 3650"));
        }
        Some(days) => Some(Utc::now() + chrono::Duration::days(i64::from(days))),
        None => None,
    };
    let scope = match request.scope.as_deref().map(str::trim) {
        None => None,
        Some(name) => {
            let action = Action::from_name(name).ok_or_else(|| Error::invalid("scope", format!("'{name}' is not an action of the permission table")))?;
            if !action.allows(caller.role()) {
                return Err(Error::invalid("scope", format!("your role may not {name}, so no token of yours can")));
            }
            // Those routes check more inside the handler; a scoped token must not reach them.
            if CHECKED_IN_HANDLERS.contains(&action) {
                return Err(Error::invalid("scope", format!("'{name}' cannot be a token's only action")));
            }
            Some(action.name().to_owned())
        }
    };
    let secret = secrets::generate(API_TOKEN_PREFIX);
    let row = TokenRow {
        id: Uuid::now_v7(),
        name,
        prefix: secret[..SHOWN_PREFIX_LEN].to_owned(),
        created_at: Utc::now(),
        expires_at,
        last_used_at: None,
        scope,
    };
    const SQL: &str = "INSERT INTO api_tokens (id, user_id, name, token_hash, prefix, created_at, expires_at, scope) \
                       VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
    crate::with_db_writing!(&state.db, pool => sqlx::query(SQL)
        .bind(row.id)
        .bind(caller.id())
        .bind(&row.name)
        .bind(secrets::digest(&secret))
        .bind(&row.prefix)
        .bind(row.created_at)
        .bind(row.expires_at)
        .bind(&row.scope)
        .execute(pool)
        .await?
        .rows_affected());
    Ok((StatusCode::CREATED, AppJson(CreatedApiToken { token: row.into(), secret })))
}

/// List the caller's live tokens (without their secrets).
#[utoipa::path(get, path = "/tokens", tag = "tokens",
    security(("bearer" = ["tokens.manage"])),
    responses((status = 200, body = Vec<ApiToken>)))]
async fn list_tokens(State(state): State<AppState>, caller: Authorized<can::ManageOwnTokens>) -> Result<AppJson<Vec<ApiToken>>> {
    const SQL: &str = "SELECT id, name, prefix, created_at, expires_at, last_used_at, scope FROM api_tokens \
                       WHERE user_id = $1 AND revoked_at IS NULL ORDER BY id";
    let rows: Vec<TokenRow> = with_db!(&state.db, pool => sqlx::query_as(SQL).bind(caller.id()).fetch_all(pool).await?);
    Ok(AppJson(rows.into_iter().map(ApiToken::from).collect()))
}

/// Revoke one of the caller's tokens; it stops working at once.
#[utoipa::path(delete, path = "/tokens/{id}", tag = "tokens",
    params(("id" = Uuid, Path)),
    security(("bearer" = ["tokens.manage"])),
    responses((status = 204), (status = 404, body = ApiError)))]
async fn revoke_token(
    State(state): State<AppState>,
    caller: Authorized<can::ManageOwnTokens>,
    AppPath(id): AppPath<Uuid>,
) -> Result<StatusCode> {
    const SQL: &str = "UPDATE api_tokens SET revoked_at = $1 \
                       WHERE id = $2 AND user_id = $3 AND revoked_at IS NULL";
    let result = crate::with_db_writing!(&state.db, pool => sqlx::query(SQL)
        .bind(Utc::now())
        .bind(id)
        .bind(caller.id())
        .execute(pool)
        .await?
        .rows_affected());
    if result == 0 {
        return Err(Error::NotFound { what: "token" });
    }
    Ok(StatusCode::NO_CONTENT)
}
