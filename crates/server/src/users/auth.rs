//! Authentication: login, refresh-token rotation, logout, and the [`AuthUser`] extractor that
//! every protected route starts from.

use axum::extract::{FromRequestParts, OptionalFromRequestParts, State};
use axum::http::StatusCode;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use hdms_api_types::auth::{LoginRequest, LoginResponse, LogoutRequest, RefreshRequest};
use hdms_api_types::sms::LoginRefusal;
use hdms_api_types::{API_TOKEN_PREFIX, ApiError, Role};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::comms::sms::otp;
use crate::error::{Error, Result};
use crate::http::extract::AppJson;
use crate::http::permissions::Action;
use crate::state::AppState;
use crate::users::store::{UserRow, user_columns};
use crate::users::{passwords, secrets, store, throttle, tokens};
use crate::with_db;

/// Stores a refresh token's digest; a macro because the transaction's type differs per backend.
macro_rules! insert_refresh_token {
    ($tx:expr, $session_id:expr, $token:expr, $now:expr, $expires_at:expr) => {
        sqlx::query(
            "INSERT INTO refresh_tokens (id, session_id, token_hash, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(Uuid::now_v7())
        .bind($session_id)
        .bind(secrets::digest($token))
        .bind($now)
        .bind($expires_at)
        .execute(&mut *$tx)
        .await?
    };
}

/// The authenticated caller, as the database says they are now (role changes, deactivation and
/// revocation take effect on the next request, not when the access token expires).
#[derive(Debug, Clone)]
pub struct AuthUser {
    /// The caller's account, read in the same query that checked the credential.
    pub user: UserRow,
    /// The login session, when authenticated by an access token (not by a personal API token).
    pub session_id: Option<Uuid>,
}

impl AuthUser {
    pub fn id(&self) -> Uuid {
        self.user.id
    }

    pub fn role(&self) -> Role {
        self.user.role
    }
}

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self> {
        authenticate(state, bearer(parts)?).await
    }
}

/// The token of the Authorization header.
pub fn bearer(parts: &Parts) -> Result<&str> {
    let Some(header) = parts.headers.get(AUTHORIZATION) else {
        return Err(Error::unauthorized("unauthenticated", "this route needs an Authorization: Bearer token"));
    };
    header
        .to_str()
        .ok()
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(str::trim)
        .ok_or_else(|| Error::unauthorized("invalid_token", "the Authorization header must be 'Bearer <token>'"))
}

/// The caller behind an access token or a personal API token (HTTP header or websocket auth),
/// for anything but one permission-checked action: a token limited to one action is refused.
pub async fn authenticate(state: &AppState, token: &str) -> Result<AuthUser> {
    authenticate_for(state, token, None).await
}

/// The caller, for a route that needs `action`: a token limited to exactly that action works
/// here too.
pub async fn authenticate_for(state: &AppState, token: &str, action: Option<Action>) -> Result<AuthUser> {
    if token.starts_with(API_TOKEN_PREFIX) {
        let (user, scope) = tokens::authenticate(state, token).await?;
        return match scope {
            Some(scope) if Some(scope) != action => Err(Error::Forbidden { action: action.map_or("this route", Action::name) }),
            _ => Ok(user),
        };
    }
    let claims = state.jwt.verify(token).map_err(|err| match err.kind() {
        jsonwebtoken::errors::ErrorKind::ExpiredSignature => {
            Error::unauthorized("token_expired", "the access token has expired; refresh it")
        }
        _ => Error::unauthorized("invalid_token", "the access token is not valid"),
    })?;
    if let Some(user) = state.sessions.get(claims.sid, claims.sub) {
        return Ok(AuthUser { user, session_id: Some(claims.sid) });
    }
    // Taken before the query: a write committing meanwhile makes what it loads unservable.
    let cache_ticket = state.sessions.ticket();
    const SQL: &str = concat!(
        "SELECT ", user_columns!("u."), " FROM users u JOIN sessions s ON s.user_id = u.id \
         WHERE u.id = $1 AND s.id = $2 AND s.revoked_at IS NULL AND u.deleted_at IS NULL AND u.active"
    );
    let user: Option<UserRow> = with_db!(&state.db, pool => sqlx::query_as(SQL)
        .bind(claims.sub)
        .bind(claims.sid)
        .fetch_optional(pool)
        .await?);
    let user = user.ok_or_else(|| {
        Error::unauthorized("session_revoked", "this session has ended; log in again")
    })?;
    state.sessions.put(cache_ticket, claims.sid, user.clone());
    Ok(AuthUser { user, session_id: Some(claims.sid) })
}

/// No Authorization header at all gives `None`; a bad one is still an error.
impl OptionalFromRequestParts<AppState> for AuthUser {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Option<Self>> {
        if parts.headers.contains_key(AUTHORIZATION) {
            <AuthUser as FromRequestParts<AppState>>::from_request_parts(parts, state).await.map(Some)
        } else {
            Ok(None)
        }
    }
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(login)).routes(routes!(refresh)).routes(routes!(logout))
}

/// Log in with email and password.
#[utoipa::path(post, path = "/auth/login", tag = "auth",
    request_body = LoginRequest,
    responses(
        (status = 200, body = LoginResponse),
        (status = 401, description = "Wrong email or password (`invalid_credentials`), account deactivated \
            (`account_disabled`), or, for an account with SMS login codes, `otp_required`: a code was sent by \
            SMS, and the answer's `challenge` completes the login at `POST /auth/login/otp`", body = LoginRefusal),
        (status = 429, description = "Too many failed attempts for this email", body = ApiError),
    ))]
async fn login(State(state): State<AppState>, AppJson(request): AppJson<LoginRequest>) -> Result<Response> {
    let email = store::normalise_email(&request.email);
    throttle::check(&state, &email).await?;
    let credentials = store::credentials_by_email(&state.db, &email).await?;
    let hash = credentials.as_ref().and_then(|c| c.password_hash.clone());
    if !passwords::verify(request.password, hash).await? {
        throttle::record_failure(&state, &email).await?;
        return Err(Error::unauthorized("invalid_credentials", "the email or password is wrong"));
    }
    let credentials = credentials.expect("a password matched, so the user exists");
    if !credentials.active {
        return Err(Error::unauthorized("account_disabled", "this account is deactivated"));
    }
    if let Some(challenge) = otp::challenge_if_required(&state, credentials.id).await? {
        // The password was right, but the login is not complete: failures stay counted until
        // the code is.
        return Ok((StatusCode::UNAUTHORIZED, AppJson(challenge)).into_response());
    }
    throttle::clear(&state, &email).await?;
    Ok(start_session(&state, credentials.id).await?.into_response())
}

/// Logs in a user whose credentials were checked: a new session, its first refresh token, and
/// the token answer.
pub async fn start_session(state: &AppState, user_id: Uuid) -> Result<AppJson<LoginResponse>> {
    let session_id = Uuid::now_v7();
    let refresh_token = secrets::generate("");
    let now = Utc::now();
    let expires_at = refresh_expiry(state, now)?;
    crate::with_db_writing!(&state.db, pool => {
        let mut tx = pool.begin().await?;
        sqlx::query("INSERT INTO sessions (id, user_id, created_at) VALUES ($1, $2, $3)")
            .bind(session_id)
            .bind(user_id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        insert_refresh_token!(tx, session_id, &refresh_token, now, expires_at);
        // A sign-in, as `hdms users list` shows it; not `updated_at` (the account is unchanged).
        sqlx::query("UPDATE users SET last_login_at = $1 WHERE id = $2")
            .bind(now)
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
    });
    state.sessions.invalidate();
    tracing::info!(%user_id, %session_id, "login");
    token_response(state, user_id, session_id, refresh_token).await
}

/// Trade a refresh token for a new access token and a new refresh token.
///
/// Each refresh token works once. Presenting one that was already used means it was copied:
/// the whole session is revoked, for the thief and the rightful owner alike.
#[utoipa::path(post, path = "/auth/refresh", tag = "auth",
    request_body = RefreshRequest,
    responses(
        (status = 200, body = LoginResponse),
        (status = 401, description = "Unknown, expired, reused or revoked refresh token", body = ApiError),
    ))]
async fn refresh(State(state): State<AppState>, AppJson(request): AppJson<RefreshRequest>) -> Result<AppJson<LoginResponse>> {
    let hash = secrets::digest(&request.refresh_token);
    let now = Utc::now();
    let new_token = secrets::generate("");
    let new_expiry = refresh_expiry(&state, now)?;
    // Claim the token with a conditional UPDATE first: it takes the write lock at once (no
    // read-then-upgrade deadlock on SQLite) and only one of two racing refreshes can win.
    let outcome: Result<(Uuid, Uuid)> = crate::with_db_writing!(&state.db, pool => {
        let mut tx = pool.begin().await?;
        let claimed: Option<(Uuid, DateTime<Utc>)> = sqlx::query_as(
            "UPDATE refresh_tokens SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL \
             RETURNING session_id, expires_at",
        )
        .bind(now)
        .bind(&hash)
        .fetch_optional(&mut *tx)
        .await?;
        let outcome = match claimed {
            Some((_, expires_at)) if expires_at <= now => {
                Err(Error::unauthorized("refresh_token_expired", "the refresh token has expired; log in again"))
            }
            Some((session_id, _)) => {
                let user: Option<Uuid> = sqlx::query_scalar(
                    "SELECT u.id FROM sessions s JOIN users u ON u.id = s.user_id \
                     WHERE s.id = $1 AND s.revoked_at IS NULL AND u.deleted_at IS NULL AND u.active",
                )
                .bind(session_id)
                .fetch_optional(&mut *tx)
                .await?;
                match user {
                    Some(user_id) => {
                        insert_refresh_token!(tx, session_id, &new_token, now, new_expiry);
                        Ok((user_id, session_id))
                    }
                    None => Err(Error::unauthorized("session_revoked", "this session has ended; log in again")),
                }
            }
            None => {
                let reused: Option<Uuid> =
                    sqlx::query_scalar("SELECT session_id FROM refresh_tokens WHERE token_hash = $1")
                        .bind(&hash)
                        .fetch_optional(&mut *tx)
                        .await?;
                match reused {
                    Some(session_id) => {
                        sqlx::query(
                            "UPDATE sessions SET revoked_at = $1, revoked_reason = 'refresh_token_reuse' \
                             WHERE id = $2 AND revoked_at IS NULL",
                        )
                        .bind(now)
                        .bind(session_id)
                        .execute(&mut *tx)
                        .await?;
                        tracing::warn!(%session_id, "refresh token reused: session revoked");
                        Err(Error::unauthorized(
                            "refresh_token_reused",
                            "this refresh token was already used; the session has been revoked",
                        ))
                    }
                    None => Err(Error::unauthorized("invalid_refresh_token", "the refresh token is not valid")),
                }
            }
        };
        // Commit even on refusal: a detected reuse must stay revoked.
        tx.commit().await?;
        outcome
    });
    if matches!(&outcome, Err(Error::Unauthorized { code, .. }) if *code == "refresh_token_reused") {
        state.sessions.invalidate();
    }
    let (user_id, session_id) = outcome?;
    token_response(&state, user_id, session_id, new_token).await
}

/// End a session: the one of the refresh token given, or else the caller's own.
#[utoipa::path(post, path = "/auth/logout", tag = "auth",
    request_body = LogoutRequest,
    responses(
        (status = 204, description = "The session is revoked"),
        (status = 401, description = "Neither a refresh token nor a session access token", body = ApiError),
    ))]
async fn logout(
    State(state): State<AppState>,
    caller: Option<AuthUser>,
    AppJson(request): AppJson<LogoutRequest>,
) -> Result<StatusCode> {
    let now = Utc::now();
    if let Some(refresh_token) = request.refresh_token {
        const SQL: &str = "UPDATE sessions SET revoked_at = $1, revoked_reason = 'logout' \
                           WHERE revoked_at IS NULL AND id = \
                             (SELECT session_id FROM refresh_tokens WHERE token_hash = $2)";
        let hash = secrets::digest(&refresh_token);
        crate::with_db_writing!(&state.db, pool => sqlx::query(SQL).bind(now).bind(hash).execute(pool).await?.rows_affected());
        state.sessions.invalidate();
        return Ok(StatusCode::NO_CONTENT);
    }
    match caller.and_then(|caller| caller.session_id) {
        Some(session_id) => {
            revoke_session(&state, session_id, "logout").await?;
            Ok(StatusCode::NO_CONTENT)
        }
        None => Err(Error::unauthorized(
            "unauthenticated",
            "send the refresh token, or the access token of the session to end",
        )),
    }
}

pub async fn revoke_session(state: &AppState, session_id: Uuid, reason: &str) -> Result<()> {
    const SQL: &str = "UPDATE sessions SET revoked_at = $1, revoked_reason = $2 \
                       WHERE id = $3 AND revoked_at IS NULL";
    crate::with_db_writing!(&state.db, pool => sqlx::query(SQL).bind(Utc::now()).bind(reason).bind(session_id).execute(pool).await?.rows_affected());
    state.sessions.invalidate();
    Ok(())
}

fn refresh_expiry(state: &AppState, now: DateTime<Utc>) -> Result<DateTime<Utc>> {
    Ok(now + chrono::Duration::from_std(state.config.refresh_token_ttl()).map_err(anyhow::Error::from)?)
}


async fn token_response(state: &AppState, user_id: Uuid, session_id: Uuid, refresh_token: String) -> Result<AppJson<LoginResponse>> {
    let ttl = state.config.access_token_ttl();
    let access_token = state.jwt.issue(user_id, session_id, ttl)?;
    let user = store::find_live(&state.db, user_id).await?.ok_or(Error::NotFound { what: "user" })?;
    Ok(AppJson(LoginResponse {
        access_token,
        refresh_token,
        token_type: "Bearer".to_owned(),
        expires_in: ttl.as_secs(),
        user: user.into(),
    }))
}
