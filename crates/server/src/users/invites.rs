//! Invitations: one-time tokens that let a user without a password set one.
//!
//! A token names its user (`hdms_inv_<user id>_<secret>`) and only its SHA-256 digest is kept, on
//! the user's own row. Checking one is a primary-key lookup, so issuing one costs nothing but two
//! more columns in the INSERT that creates the user: no separate row, no index on random digests
//! (the bulk import creates thousands of users per transaction, and a random-keyed index would
//! make every one of them a random B-tree write).

use axum::extract::State;
use chrono::{DateTime, Utc};
use hdms_api_types::ApiError;
use hdms_api_types::import::{AcceptInvite, INVITE_TOKEN_PREFIX};
use hdms_api_types::users::User;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::http::extract::AppJson;
use crate::state::AppState;
use crate::users::store::{UserRow, user_columns};
use crate::users::{passwords, secrets};
use crate::with_db;

/// How long an invitation stays valid.
pub const INVITE_TTL: chrono::Duration = chrono::Duration::days(14);

/// A freshly minted invitation: the token for the user, the digest for the database.
pub struct NewInvite {
    pub token: String,
    pub digest: String,
    pub expires_at: DateTime<Utc>,
}

pub fn mint(user_id: Uuid, now: DateTime<Utc>) -> NewInvite {
    let token = format!("{INVITE_TOKEN_PREFIX}{}_{}", user_id.simple(), secrets::generate(""));
    NewInvite { digest: secrets::digest(&token), token, expires_at: now + INVITE_TTL }
}

/// The user a token claims to be for, if it has the right shape.
fn user_of(token: &str) -> Option<Uuid> {
    let (user, secret) = token.strip_prefix(INVITE_TOKEN_PREFIX)?.split_once('_')?;
    if secret.len() != 64 || !secret.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    Uuid::try_parse(user).ok()
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(accept_invite))
}

/// Set the password of an invited user with their one-time invitation token, then log in as
/// usual. The token stops working once used, or 14 days after it was issued.
#[utoipa::path(post, path = "/auth/accept-invite", tag = "auth",
    request_body = AcceptInvite,
    responses(
        (status = 200, body = User),
        (status = 401, description = "Unknown, used or expired invitation", body = ApiError),
        (status = 422, description = "The password is too short or too long", body = ApiError),
    ))]
async fn accept_invite(State(state): State<AppState>, AppJson(request): AppJson<AcceptInvite>) -> Result<AppJson<User>> {
    let invalid = || Error::unauthorized("invalid_invite", "the invitation is not valid, was already used, or has expired");
    let token = request.token.trim();
    let user_id = user_of(token).ok_or_else(invalid)?;
    passwords::validate(&request.password)?;
    let digest = secrets::digest(token);
    let now = Utc::now();
    const FIND: &str = "SELECT invite_expires_at FROM users \
                        WHERE id = $1 AND invite_hash = $2 AND deleted_at IS NULL AND active";
    let expires_at: Option<Option<DateTime<Utc>>> =
        with_db!(&state.db, pool => sqlx::query_scalar(FIND).bind(user_id).bind(&digest).fetch_optional(pool).await?);
    match expires_at {
        Some(Some(at)) if at > now => {}
        _ => return Err(invalid()),
    }
    let password_hash = passwords::hash(request.password).await?;
    // Conditional on the digest still being there: of two racing uses, one wins.
    const USE: &str = concat!(
        "UPDATE users SET password_hash = $1, invite_hash = NULL, invite_expires_at = NULL, updated_at = $2 \
         WHERE id = $3 AND invite_hash = $4 AND deleted_at IS NULL RETURNING ",
        user_columns!()
    );
    let row: Option<UserRow> = crate::with_db_writing!(&state.db, pool => sqlx::query_as(USE)
        .bind(password_hash)
        .bind(now)
        .bind(user_id)
        .bind(&digest)
        .fetch_optional(pool)
        .await?);
    let row = row.ok_or_else(invalid)?;
    state.sessions.invalidate();
    tracing::info!(user_id = %row.id, "invitation accepted");
    Ok(AppJson(row.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_name_their_user_and_reject_other_shapes() {
        let id = Uuid::now_v7();
        let invite = mint(id, Utc::now());
        assert_eq!(user_of(&invite.token), Some(id));
        assert_eq!(invite.digest, secrets::digest(&invite.token));
        assert_eq!(user_of("hdms_inv_nothing"), None);
        assert_eq!(user_of(&invite.token[..invite.token.len() - 1]), None);
        assert_eq!(user_of(&invite.token.replace(INVITE_TOKEN_PREFIX, "hdms_pat_")), None);
    }
}
