//! One-time codes by SMS: proving one receives SMS at one's phone number, and, once it is
//! verified and the user opts in, a code as the second step of every login.
//!
//! Codes are 6 digits, stored as Argon2 hashes, valid 5 minutes, single use, and allow 5 tries;
//! asking for a new one voids the previous one of the same purpose. A user gets at most 5 codes
//! per login window (15 minutes by default). Wrong login codes count as failed logins for the
//! account's email, so the login throttle covers both steps.
//!
//! A verification belongs to the number verified (`phone_verifications.phone`): when the
//! account's number changes, by whatever path, it no longer counts, and neither do SMS login
//! codes until the new number is verified and the user opts in again.

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use hdms_api_types::ErrorBody;
use hdms_api_types::auth::LoginResponse;
use hdms_api_types::sms::{ConfirmPhone, LoginOtpRequest, OtpChallenge, PhoneStatus, PhoneVerificationSent, SetLoginOtp};
use hdms_api_types::ApiError;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::comms::sms::{enqueue_sensitive, mask_phone};
use crate::db::Tx;
use crate::error::{Error, Result};
use crate::http::extract::AppJson;
use crate::http::permissions::{Authorized, can};
use crate::state::AppState;
use crate::users::{auth, passwords, secrets, throttle};
use crate::{with_db, with_tx};

/// How long a code (and a login challenge) stays valid.
pub const CODE_TTL: Duration = Duration::from_secs(5 * 60);
/// Tries at one code.
pub const MAX_CODE_ATTEMPTS: i32 = 5;
/// Codes one user can be sent per login window.
pub const MAX_CODES_PER_WINDOW: i64 = 5;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Purpose {
    PhoneVerification,
    Login,
}

impl Purpose {
    fn as_str(self) -> &'static str {
        match self {
            Purpose::PhoneVerification => "phone_verification",
            Purpose::Login => "login",
        }
    }

    fn text(self, code: &str) -> String {
        let minutes = CODE_TTL.as_secs() / 60;
        match self {
            Purpose::PhoneVerification => format!("{code} is your hdms verification code. It expires in {minutes} minutes."),
            Purpose::Login => format!("{code} is your hdms login code. It expires in {minutes} minutes. Never share it."),
        }
    }
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(phone_status))
        .routes(routes!(start_verification))
        .routes(routes!(confirm_verification))
        .routes(routes!(set_login_otp))
        .routes(routes!(login_otp))
}

/// Your phone number, whether it is verified, and whether logins ask for an SMS code.
#[utoipa::path(get, path = "/users/me/phone", tag = "users",
    security(("bearer" = ["phone.manage"])),
    responses((status = 200, body = PhoneStatus), (status = 401, body = ApiError)))]
async fn phone_status(State(state): State<AppState>, caller: Authorized<can::ManageOwnPhone>) -> Result<AppJson<PhoneStatus>> {
    Ok(AppJson(status(&state, caller.id()).await?))
}

async fn status(state: &AppState, user_id: Uuid) -> Result<PhoneStatus> {
    const SQL: &str = "SELECT u.phone, v.verified_at, v.login_otp FROM users u \
                       LEFT JOIN phone_verifications v ON v.user_id = u.id AND v.phone = u.phone WHERE u.id = $1";
    let (phone, verified_at, login_otp): (Option<String>, Option<DateTime<Utc>>, Option<bool>) =
        with_db!(&state.db, pool => sqlx::query_as(SQL).bind(user_id).fetch_one(pool).await?);
    Ok(PhoneStatus { phone, verified_at, login_otp: login_otp.unwrap_or(false) })
}

/// Send a verification code by SMS to your phone number.
///
/// The code is valid 5 minutes and voids any earlier one; confirm it with
/// `POST /users/me/phone/verification/confirm`.
#[utoipa::path(post, path = "/users/me/phone/verification", tag = "users",
    security(("bearer" = ["phone.manage"])),
    responses(
        (status = 202, body = PhoneVerificationSent),
        (status = 409, description = "You have no phone number (`no_phone`)", body = ApiError),
        (status = 429, description = "Too many codes asked for lately", body = ApiError),
    ))]
async fn start_verification(
    State(state): State<AppState>,
    caller: Authorized<can::ManageOwnPhone>,
) -> Result<(StatusCode, AppJson<PhoneVerificationSent>)> {
    let Some(phone) = caller.user.user.phone.clone() else {
        return Err(Error::conflict("no_phone", "your account has no phone number to verify; an admin can set it"));
    };
    issue_code(&state, caller.id(), Purpose::PhoneVerification, &phone, None).await?;
    tracing::info!(user_id = %caller.id(), "phone verification code sent");
    Ok((StatusCode::ACCEPTED, AppJson(PhoneVerificationSent { phone_hint: mask_phone(&phone), expires_in: CODE_TTL.as_secs() })))
}

/// Confirm your phone number with the code it received.
#[utoipa::path(post, path = "/users/me/phone/verification/confirm", tag = "users",
    request_body = ConfirmPhone,
    security(("bearer" = ["phone.manage"])),
    responses(
        (status = 200, body = PhoneStatus),
        (status = 409, description = "No code is waiting: it expired, was used or had too many wrong tries \
            (`code_expired`), or the number changed since it was sent (`phone_changed`)", body = ApiError),
        (status = 422, description = "The code is wrong", body = ApiError),
    ))]
async fn confirm_verification(
    State(state): State<AppState>,
    caller: Authorized<can::ManageOwnPhone>,
    AppJson(request): AppJson<ConfirmPhone>,
) -> Result<AppJson<PhoneStatus>> {
    let now = Utc::now();
    const TRY: &str = "UPDATE sms_codes SET attempts = attempts + 1 WHERE id = ( \
            SELECT id FROM sms_codes WHERE user_id = $1 AND purpose = 'phone_verification' AND used_at IS NULL \
              AND expires_at > $2 AND attempts < $3 ORDER BY created_at DESC, id DESC LIMIT 1) \
          AND used_at IS NULL AND expires_at > $2 AND attempts < $3 \
        RETURNING id, code_hash, phone, attempts";
    let claimed: Option<(Uuid, String, String, i32)> = crate::with_db_writing!(&state.db, pool => sqlx::query_as(TRY)
        .bind(caller.id()).bind(now).bind(MAX_CODE_ATTEMPTS).fetch_optional(pool).await?);
    let Some((code_id, code_hash, phone, attempts)) = claimed else {
        return Err(Error::conflict("code_expired", "no verification code is waiting (it expired, was used, or was entered wrong too often); ask for a new one"));
    };
    if !code_matches(&request.code, code_hash).await? {
        let left = MAX_CODE_ATTEMPTS - attempts;
        return Err(Error::invalid("code", format!("the code is wrong ({left} tries left)")));
    }
    let mut tx = state.db.begin().await?;
    if !use_code(&mut tx, code_id, now).await? {
        return Err(Error::conflict("code_expired", "this code was already used; ask for a new one"));
    }
    let current: Option<String> = with_tx!(&mut tx, conn => sqlx::query_scalar("SELECT phone FROM users WHERE id = $1")
        .bind(caller.id()).fetch_one(&mut *conn).await?);
    if current.as_deref() != Some(phone.as_str()) {
        tx.commit().await?;
        return Err(Error::conflict("phone_changed", "your phone number changed since the code was sent; verify the new one"));
    }
    // Verifying another number than the one verified before starts with SMS login codes off.
    const VERIFY: &str = "INSERT INTO phone_verifications (user_id, phone, verified_at, login_otp) VALUES ($1, $2, $3, FALSE) \
        ON CONFLICT (user_id) DO UPDATE SET \
          login_otp = CASE WHEN phone_verifications.phone = excluded.phone THEN phone_verifications.login_otp ELSE FALSE END, \
          phone = excluded.phone, verified_at = excluded.verified_at";
    with_tx!(&mut tx, conn => sqlx::query(VERIFY).bind(caller.id()).bind(&phone).bind(now)
        .execute(&mut *conn).await?.rows_affected());
    tx.commit().await?;
    tracing::info!(user_id = %caller.id(), "phone number verified");
    Ok(AppJson(status(&state, caller.id()).await?))
}

/// Turn SMS login codes on or off for your account.
///
/// On, every login with your password answers 401 `otp_required` with a challenge, and a code
/// is sent to your verified phone; `POST /auth/login/otp` with both completes the login.
#[utoipa::path(put, path = "/users/me/login-otp", tag = "users",
    request_body = SetLoginOtp,
    security(("bearer" = ["phone.manage"])),
    responses(
        (status = 200, body = PhoneStatus),
        (status = 409, description = "Turning on needs a verified phone number (`phone_not_verified`)", body = ApiError),
    ))]
async fn set_login_otp(
    State(state): State<AppState>,
    caller: Authorized<can::ManageOwnPhone>,
    AppJson(request): AppJson<SetLoginOtp>,
) -> Result<AppJson<PhoneStatus>> {
    const SQL: &str = "UPDATE phone_verifications SET login_otp = $1 \
                       WHERE user_id = $2 AND (NOT $1 OR phone = (SELECT phone FROM users WHERE id = $2))";
    let updated = crate::with_db_writing!(&state.db, pool => sqlx::query(SQL).bind(request.enabled).bind(caller.id()).execute(pool).await?.rows_affected());
    if request.enabled && updated == 0 {
        return Err(Error::conflict("phone_not_verified", "verify your phone number before turning on SMS login codes"));
    }
    tracing::info!(user_id = %caller.id(), enabled = request.enabled, "SMS login codes switched");
    Ok(AppJson(status(&state, caller.id()).await?))
}

/// Complete a login with the code sent by SMS.
///
/// The challenge comes from the 401 `otp_required` answer of `POST /auth/login`. A wrong code
/// counts as a failed login; after 5 wrong codes, or 5 minutes, or once used, the challenge is
/// void and the login starts again.
#[utoipa::path(post, path = "/auth/login/otp", tag = "auth",
    request_body = LoginOtpRequest,
    responses(
        (status = 200, body = LoginResponse),
        (status = 401, description = "Wrong code (`invalid_otp`); expired, used or exhausted challenge \
            (`invalid_challenge`); account deactivated (`account_disabled`)", body = ApiError),
        (status = 429, description = "Too many failed logins for this account", body = ApiError),
    ))]
async fn login_otp(State(state): State<AppState>, AppJson(request): AppJson<LoginOtpRequest>) -> Result<AppJson<LoginResponse>> {
    let now = Utc::now();
    let challenge = secrets::digest(&request.challenge);
    let invalid = || Error::unauthorized("invalid_challenge", "this login challenge has expired, was used, or had too many wrong codes; log in again");
    const OWNER: &str = "SELECT u.email FROM sms_codes c JOIN users u ON u.id = c.user_id \
                         WHERE c.challenge_hash = $1 AND c.purpose = 'login'";
    let email: Option<String> = with_db!(&state.db, pool => sqlx::query_scalar(OWNER).bind(&challenge).fetch_optional(pool).await?);
    let email = email.ok_or_else(invalid)?;
    throttle::check(&state, &email).await?;
    const TRY: &str = "UPDATE sms_codes SET attempts = attempts + 1 \
        WHERE challenge_hash = $1 AND purpose = 'login' AND used_at IS NULL AND expires_at > $2 AND attempts < $3 \
        RETURNING id, user_id, code_hash, phone";
    let claimed: Option<(Uuid, Uuid, String, String)> = crate::with_db_writing!(&state.db, pool => sqlx::query_as(TRY)
        .bind(&challenge).bind(now).bind(MAX_CODE_ATTEMPTS).fetch_optional(pool).await?);
    let (code_id, user_id, code_hash, phone) = claimed.ok_or_else(invalid)?;
    if !code_matches(&request.code, code_hash).await? {
        throttle::record_failure(&state, &email).await?;
        return Err(Error::unauthorized("invalid_otp", "the code is wrong"));
    }
    let mut tx = state.db.begin().await?;
    let used = use_code(&mut tx, code_id, now).await?;
    tx.commit().await?;
    if !used {
        return Err(invalid());
    }
    const USER: &str = "SELECT active, phone FROM users WHERE id = $1 AND deleted_at IS NULL";
    let user: Option<(bool, Option<String>)> = with_db!(&state.db, pool => sqlx::query_as(USER).bind(user_id).fetch_optional(pool).await?);
    match user {
        Some((true, Some(current))) if current == phone => {}
        Some((false, _)) => return Err(Error::unauthorized("account_disabled", "this account is deactivated")),
        _ => return Err(invalid()),
    }
    throttle::clear(&state, &email).await?;
    tracing::info!(%user_id, "login completed with an SMS code");
    auth::start_session(&state, user_id).await
}

/// For a user with SMS login codes on and a verified phone: sends a login code and returns the
/// challenge answer; `None` when the password alone logs this user in.
pub async fn challenge_if_required(state: &AppState, user_id: Uuid) -> Result<Option<OtpChallenge>> {
    const SQL: &str = "SELECT u.phone FROM users u JOIN phone_verifications v ON v.user_id = u.id AND v.phone = u.phone \
                       WHERE u.id = $1 AND v.login_otp";
    let phone: Option<String> = with_db!(&state.db, pool => sqlx::query_scalar(SQL).bind(user_id).fetch_optional(pool).await?);
    let Some(phone) = phone else { return Ok(None) };
    let challenge = secrets::generate("");
    issue_code(state, user_id, Purpose::Login, &phone, Some(secrets::digest(&challenge))).await?;
    let phone_hint = mask_phone(&phone);
    tracing::info!(%user_id, "login code sent");
    Ok(Some(OtpChallenge {
        error: ErrorBody {
            code: "otp_required".to_owned(),
            message: format!("enter the code sent by SMS to {phone_hint}"),
            field: None,
        },
        challenge,
        expires_in: CODE_TTL.as_secs(),
        phone_hint,
    }))
}

/// Stores a new code (voiding earlier ones of the purpose) and queues its SMS, in one
/// transaction; refuses with 429 when the user had too many codes lately.
async fn issue_code(state: &AppState, user_id: Uuid, purpose: Purpose, phone: &str, challenge_hash: Option<String>) -> Result<()> {
    let code = format!("{:06}", rand::random_range(0..1_000_000u32));
    // Hashed before the transaction: Argon2 takes a while and SQLite's write lock is held.
    let code_hash = passwords::hash(code.clone()).await?;
    let now = Utc::now();
    let window = chrono::Duration::from_std(state.config.login_window()).map_err(anyhow::Error::from)?;
    let ttl = chrono::Duration::from_std(CODE_TTL).map_err(anyhow::Error::from)?;
    let mut tx = state.db.begin().await?;
    const RECENT: &str = "SELECT COUNT(*), MIN(created_at) FROM sms_codes WHERE user_id = $1 AND created_at > $2";
    let (recent, oldest): (i64, Option<DateTime<Utc>>) =
        with_tx!(&mut tx, conn => sqlx::query_as(RECENT).bind(user_id).bind(now - window).fetch_one(&mut *conn).await?);
    if recent >= MAX_CODES_PER_WINDOW {
        let retry_at = oldest.unwrap_or(now) + window;
        return Err(Error::TooManyRequests { retry_after_secs: u64::try_from((retry_at - now).num_seconds()).unwrap_or(1) });
    }
    const VOID: &str = "UPDATE sms_codes SET expires_at = $1 WHERE user_id = $2 AND purpose = $3 AND used_at IS NULL AND expires_at > $1";
    with_tx!(&mut tx, conn => sqlx::query(VOID).bind(now).bind(user_id).bind(purpose.as_str()).execute(&mut *conn).await?.rows_affected());
    const INSERT: &str = "INSERT INTO sms_codes (id, user_id, purpose, phone, code_hash, challenge_hash, attempts, created_at, expires_at) \
                          VALUES ($1, $2, $3, $4, $5, $6, 0, $7, $8)";
    with_tx!(&mut tx, conn => sqlx::query(INSERT)
        .bind(Uuid::now_v7()).bind(user_id).bind(purpose.as_str()).bind(phone).bind(&code_hash).bind(&challenge_hash)
        .bind(now).bind(now + ttl)
        .execute(&mut *conn).await?.rows_affected());
    enqueue_sensitive(&mut tx, user_id, phone, &purpose.text(&code), now).await?;
    tx.commit().await?;
    Ok(())
}

/// Whether `code` (as typed: blanks ignored) is the code behind `hash`.
async fn code_matches(code: &str, hash: String) -> Result<bool> {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(false);
    }
    passwords::verify(code, Some(hash)).await
}

/// Marks a code used; false when another request used it first.
async fn use_code(tx: &mut Tx, id: Uuid, now: DateTime<Utc>) -> Result<bool> {
    const SQL: &str = "UPDATE sms_codes SET used_at = $1 WHERE id = $2 AND used_at IS NULL";
    let used = with_tx!(tx, conn => sqlx::query(SQL).bind(now).bind(id).execute(&mut *conn).await?.rows_affected());
    Ok(used == 1)
}
