//! Per-user notification preferences: for each kind of event, whether it is stored in-app,
//! whether it is sent by SMS and whether by mail. Without a stored choice, in-app is on, SMS
//! off, and mail on only for customers who wrote to the desk by mail.
//!
//! [`route`] applies them when a notice is raised: it queues the SMS of those who want one (and
//! have a verified phone number) and the mail of those who want one (and whose address does not
//! bounce), and says who gets the in-app notification.

use axum::extract::State;
use chrono::{DateTime, Utc};
use hdms_api_types::ApiError;
use hdms_api_types::sms::{NotificationPreference, NotificationPreferences, UpdateNotificationPreferences};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::comms::notifications::{Kind, Notice};
use crate::comms::sms;
use crate::db::Tx;
use crate::error::{Error, Result};
use crate::http::extract::AppJson;
use crate::http::permissions::{Authorized, can};
use crate::state::AppState;
use crate::{with_db, with_tx};

/// Characters of a notice's title sent by SMS (one segment with the prefix).
const SMS_TITLE_CHARS: usize = 150;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_preferences, put_preferences))
}

/// Which events reach you by which channel.
#[utoipa::path(get, path = "/notifications/preferences", tag = "notifications",
    security(("bearer" = ["notifications.manage"])),
    responses((status = 200, body = NotificationPreferences), (status = 401, body = ApiError)))]
async fn get_preferences(State(state): State<AppState>, caller: Authorized<can::ManageNotifications>) -> Result<AppJson<NotificationPreferences>> {
    Ok(AppJson(load(&state, caller.id()).await?))
}

/// Set which events reach you by which channel; kinds not listed keep their setting.
#[utoipa::path(put, path = "/notifications/preferences", tag = "notifications",
    request_body = UpdateNotificationPreferences,
    security(("bearer" = ["notifications.manage"])),
    responses((status = 200, body = NotificationPreferences), (status = 422, description = "Unknown or repeated kind", body = ApiError)))]
async fn put_preferences(
    State(state): State<AppState>,
    caller: Authorized<can::ManageNotifications>,
    AppJson(request): AppJson<UpdateNotificationPreferences>,
) -> Result<AppJson<NotificationPreferences>> {
    let mut seen = Vec::new();
    for (i, preference) in request.preferences.iter().enumerate() {
        let field = format!("preferences[{i}].kind");
        let kind = Kind::parse(&preference.kind).ok_or_else(|| {
            let known: Vec<&str> = Kind::ALL.iter().map(|kind| kind.as_str()).collect();
            Error::invalid(&field, format!("unknown kind '{}' (one of {})", preference.kind, known.join(", ")))
        })?;
        if seen.contains(&kind) {
            return Err(Error::invalid(&field, format!("'{}' is listed twice", preference.kind)));
        }
        seen.push(kind);
    }
    // An absent `email` keeps the stored choice (clients written before it existed).
    const SQL: &str = "INSERT INTO notification_preferences (user_id, kind, in_app, sms, email, updated_at) VALUES ($1, $2, $3, $4, $5, $6) \
                       ON CONFLICT (user_id, kind) DO UPDATE SET in_app = excluded.in_app, sms = excluded.sms, \
                       email = COALESCE(excluded.email, notification_preferences.email), updated_at = excluded.updated_at";
    let now = Utc::now();
    let mut tx = state.db.begin().await?;
    for (kind, preference) in seen.iter().zip(&request.preferences) {
        with_tx!(&mut tx, conn => sqlx::query(SQL)
            .bind(caller.id()).bind(kind.as_str()).bind(preference.in_app).bind(preference.sms).bind(preference.email).bind(now)
            .execute(&mut *conn).await?.rows_affected());
    }
    tx.commit().await?;
    Ok(AppJson(load(&state, caller.id()).await?))
}

async fn load(state: &AppState, user_id: Uuid) -> Result<NotificationPreferences> {
    const STORED: &str = "SELECT kind, in_app, sms, email FROM notification_preferences WHERE user_id = $1";
    let stored: Vec<(String, bool, bool, Option<bool>)> = with_db!(&state.db, pool => sqlx::query_as(STORED).bind(user_id).fetch_all(pool).await?);
    let email_default = email_by_default(state, user_id).await?;
    let preferences = Kind::ALL
        .iter()
        .map(|kind| {
            let (in_app, sms, email) = stored
                .iter()
                .find(|(stored, ..)| stored == kind.as_str())
                .map_or((true, false, None), |(_, in_app, sms, email)| (*in_app, *sms, *email));
            NotificationPreference { kind: kind.as_str().to_owned(), in_app, sms, email: Some(email.unwrap_or(email_default)) }
        })
        .collect();
    const REACHABLE: &str = "SELECT COUNT(*) FROM users u JOIN phone_verifications v ON v.user_id = u.id AND v.phone = u.phone \
                             WHERE u.id = $1";
    let reachable: i64 = with_db!(&state.db, pool => sqlx::query_scalar(REACHABLE).bind(user_id).fetch_one(pool).await?);
    Ok(NotificationPreferences { preferences, sms_reachable: reachable > 0 })
}

/// Whether mail is on for a user who has not chosen: for customers who wrote to the desk by
/// mail (a person's mail, not an auto-reply), off for everyone else.
macro_rules! email_default_sql {
    () => {
        "(u.role = 'customer' AND EXISTS (SELECT 1 FROM mail_messages m WHERE m.direction = 'in' AND m.from_address = u.email \
          AND m.automatic IS NULL))"
    };
}

async fn email_by_default(state: &AppState, user_id: Uuid) -> Result<bool> {
    const SQL: &str = concat!("SELECT ", email_default_sql!(), " FROM users u WHERE u.id = $1");
    let on: Option<bool> = with_db!(&state.db, pool => sqlx::query_scalar(SQL).bind(user_id).fetch_optional(pool).await?);
    Ok(on.unwrap_or(false))
}

/// Applies the preferences of `users` to a notice: queues an SMS and a mail (in `tx`, so they
/// are sent only if the notice's cause commits) for each live, active user who wants this kind
/// that way and can be reached so, and returns those who want it in-app, in the order given.
pub async fn route(tx: &mut Tx, users: &[Uuid], notice: &Notice<'_>, now: DateTime<Utc>) -> Result<Vec<Uuid>> {
    const SQL: &str = concat!(
        "SELECT p.in_app, p.sms, v.phone, u.active AND u.deleted_at IS NULL, COALESCE(p.email, ",
        email_default_sql!(),
        "), u.email FROM users u \
         LEFT JOIN notification_preferences p ON p.user_id = u.id AND p.kind = $2 \
         LEFT JOIN phone_verifications v ON v.user_id = u.id AND v.phone = u.phone \
         WHERE u.id = $1"
    );
    /// (wants in-app, wants SMS, verified phone, live and active, wants mail, address): unset
    /// wishes take the defaults.
    type Route = (Option<bool>, Option<bool>, Option<String>, bool, bool, String);
    let mut in_app = Vec::with_capacity(users.len());
    for &user in users {
        let row: Option<Route> = with_tx!(tx, conn => sqlx::query_as(SQL)
            .bind(user).bind(notice.kind.as_str()).fetch_optional(&mut *conn).await?);
        let Some((wants_in_app, wants_sms, verified_phone, live, wants_email, address)) = row else {
            in_app.push(user);
            continue;
        };
        if wants_email && live {
            crate::comms::mail::outbound::queue_notification(tx, user, &address, notice, now).await?;
        }
        if wants_in_app.unwrap_or(true) {
            in_app.push(user);
        }
        if let (true, Some(phone), true) = (wants_sms.unwrap_or(false), verified_phone, live) {
            let text = format!("hdms: {}", sms::shorten(notice.title, SMS_TITLE_CHARS));
            match sms::enqueue(tx, user, &phone, &text, now).await {
                Ok(_) => {}
                // A number stored before validation got stricter: the in-app notice still goes.
                Err(Error::Validation { message, .. }) => tracing::warn!(user_id = %user, message, "SMS notification not queued"),
                Err(other) => return Err(other),
            }
        }
    }
    Ok(in_app)
}
