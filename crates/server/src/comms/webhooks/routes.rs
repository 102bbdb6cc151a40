//! Webhook routes (admins): endpoints, their delivery log, redelivery and a test ping.

use axum::extract::State;
use axum::http::StatusCode;
use chrono::Utc;
use hdms_api_types::ApiError;
use hdms_api_types::webhooks::{
    CreateWebhookEndpoint, UpdateWebhookEndpoint, UpdatedWebhookEndpoint, WebhookDelivery, WebhookDeliveryDetail, WebhookDeliveryQuery,
    WebhookDeliveryState, WebhookEndpoint, WebhookEndpointWithSecret, WebhookEventType,
};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::comms::webhooks::guard::Guard;
use crate::comms::webhooks::store::{self, EndpointRow};
use crate::comms::webhooks::worker::{self, Worker};
use crate::error::{Error, Result};
use crate::http::extract::{AppJson, AppPath, AppQuery};
use crate::http::permissions::{Authorized, can};
use crate::state::AppState;
use crate::with_tx;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_endpoints, create_endpoint))
        .routes(routes!(get_endpoint, update_endpoint, delete_endpoint))
        .routes(routes!(list_deliveries))
        .routes(routes!(get_delivery))
        .routes(routes!(redeliver))
        .routes(routes!(ping))
}

const MAX_URL_CHARS: usize = 2000;
const MAX_DESCRIPTION_CHARS: usize = 500;

/// A URL hdms can deliver to: http or https, a host, no credentials in it, and not an address
/// the guard refuses (names are checked on each attempt, after they are resolved).
async fn check_url(state: &AppState, url: &str) -> Result<String> {
    let url = url.trim();
    if url.chars().count() > MAX_URL_CHARS {
        return Err(Error::invalid("url", format!("a URL is at most {MAX_URL_CHARS} characters")));
    }
    let parsed = url::Url::parse(url).map_err(|e| Error::invalid("url", format!("not a URL: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(Error::invalid("url", "the URL must start with https:// (or http://)"));
    }
    if parsed.host().is_none() {
        return Err(Error::invalid("url", "the URL needs a host"));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(Error::invalid("url", "put no credentials in the URL: receivers check the signature instead"));
    }
    let guard = Guard::new(state.config.webhook_allow.clone(), super::settings::admitted(&state.db).await?);
    guard.check_url(&parsed).map_err(|refused| Error::invalid("url", refused.to_string()))?;
    Ok(parsed.to_string())
}

fn check_events(events: &[WebhookEventType]) -> Result<String> {
    if events.is_empty() {
        let names: Vec<&str> = WebhookEventType::ALL.iter().map(|t| t.as_str()).collect();
        return Err(Error::invalid("events", format!("subscribe to at least one event: {}", names.join(", "))));
    }
    Ok(store::join_events(events))
}

fn check_description(description: &str) -> Result<String> {
    let description = description.trim();
    if description.chars().count() > MAX_DESCRIPTION_CHARS {
        return Err(Error::invalid("description", format!("at most {MAX_DESCRIPTION_CHARS} characters")));
    }
    Ok(description.to_owned())
}

/// Every webhook endpoint (secrets are never listed).
#[utoipa::path(get, path = "/webhooks", tag = "webhooks",
    security(("bearer" = ["webhooks.manage"])),
    responses((status = 200, body = Vec<WebhookEndpoint>)))]
async fn list_endpoints(State(state): State<AppState>, _caller: Authorized<can::ManageWebhooks>) -> Result<AppJson<Vec<WebhookEndpoint>>> {
    Ok(AppJson(store::endpoints(&state.db).await?.into_iter().map(WebhookEndpoint::from).collect()))
}

/// Register an endpoint. The answer carries its signing secret: the only time it is shown.
#[utoipa::path(post, path = "/webhooks", tag = "webhooks",
    request_body = CreateWebhookEndpoint,
    security(("bearer" = ["webhooks.manage"])),
    responses((status = 201, body = WebhookEndpointWithSecret), (status = 422, description = "A bad URL (or one pointing to a refused address), no events", body = ApiError)))]
async fn create_endpoint(
    State(state): State<AppState>,
    caller: Authorized<can::ManageWebhooks>,
    AppJson(request): AppJson<CreateWebhookEndpoint>,
) -> Result<(StatusCode, AppJson<WebhookEndpointWithSecret>)> {
    let url = check_url(&state, &request.url).await?;
    let events = check_events(&request.events)?;
    let description = check_description(&request.description)?;
    let secret = store::new_secret();
    let now = Utc::now();
    let id = Uuid::now_v7();
    const SQL: &str = "INSERT INTO webhook_endpoints (id, url, description, events, enabled, secret, created_by, created_at, updated_at) \
                       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)";
    crate::with_db_writing!(&state.db, pool => sqlx::query(SQL).bind(id).bind(&url).bind(&description).bind(&events)
        .bind(request.enabled.unwrap_or(true)).bind(&secret).bind(caller.id()).bind(now).execute(pool).await?.rows_affected());
    let endpoint = store::endpoint(&state.db, id).await?.into();
    Ok((StatusCode::CREATED, AppJson(WebhookEndpointWithSecret { endpoint, secret })))
}

#[utoipa::path(get, path = "/webhooks/{id}", tag = "webhooks",
    params(("id" = Uuid, Path)),
    security(("bearer" = ["webhooks.manage"])),
    responses((status = 200, body = WebhookEndpoint), (status = 404, body = ApiError)))]
async fn get_endpoint(State(state): State<AppState>, _caller: Authorized<can::ManageWebhooks>, AppPath(id): AppPath<Uuid>) -> Result<AppJson<WebhookEndpoint>> {
    Ok(AppJson(store::endpoint(&state.db, id).await?.into()))
}

/// Change an endpoint: URL, description, events, on or off (turning it on clears the reason
/// hdms turned it off, and its waiting deliveries go out), or a new secret.
#[utoipa::path(patch, path = "/webhooks/{id}", tag = "webhooks",
    params(("id" = Uuid, Path)),
    request_body = UpdateWebhookEndpoint,
    security(("bearer" = ["webhooks.manage"])),
    responses((status = 200, body = UpdatedWebhookEndpoint), (status = 404, body = ApiError), (status = 422, body = ApiError)))]
async fn update_endpoint(
    State(state): State<AppState>,
    _caller: Authorized<can::ManageWebhooks>,
    AppPath(id): AppPath<Uuid>,
    AppJson(request): AppJson<UpdateWebhookEndpoint>,
) -> Result<AppJson<UpdatedWebhookEndpoint>> {
    let url = match request.url.as_deref() {
        Some(url) => Some(check_url(&state, url).await?),
        None => None,
    };
    let events = request.events.as_deref().map(check_events).transpose()?;
    let description = request.description.as_deref().map(check_description).transpose()?;
    let secret = request.rotate_secret.then(store::new_secret);
    let now = Utc::now();
    let mut tx = state.db.begin().await?;
    const SQL: &str = "UPDATE webhook_endpoints SET url = COALESCE($1, url), description = COALESCE($2, description), \
        events = COALESCE($3, events), enabled = COALESCE($4, enabled), secret = COALESCE($5, secret), \
        disabled_reason = CASE WHEN $4 THEN NULL ELSE disabled_reason END, updated_at = $6 WHERE id = $7";
    let updated = with_tx!(&mut tx, conn => sqlx::query(SQL).bind(&url).bind(&description).bind(&events).bind(request.enabled)
        .bind(&secret).bind(now).bind(id).execute(&mut *conn).await?.rows_affected());
    if updated == 0 {
        return Err(Error::NotFound { what: "webhook endpoint" });
    }
    tx.commit().await?;
    Ok(AppJson(UpdatedWebhookEndpoint { endpoint: store::endpoint(&state.db, id).await?.into(), secret }))
}

/// Delete an endpoint with its delivery log; deliveries waiting for it are dropped.
#[utoipa::path(delete, path = "/webhooks/{id}", tag = "webhooks",
    params(("id" = Uuid, Path)),
    security(("bearer" = ["webhooks.manage"])),
    responses((status = 204), (status = 404, body = ApiError)))]
async fn delete_endpoint(State(state): State<AppState>, _caller: Authorized<can::ManageWebhooks>, AppPath(id): AppPath<Uuid>) -> Result<StatusCode> {
    let mut tx = state.db.begin().await?;
    // Attempts and deliveries first: SQLite enforces the cascade only with foreign keys on,
    // and saying it here keeps the order plain on both.
    with_tx!(&mut tx, conn => {
        sqlx::query("DELETE FROM webhook_attempts WHERE delivery_id IN (SELECT id FROM webhook_deliveries WHERE endpoint_id = $1)")
            .bind(id).execute(&mut *conn).await?;
        sqlx::query("DELETE FROM webhook_deliveries WHERE endpoint_id = $1").bind(id).execute(&mut *conn).await?;
    });
    let deleted = with_tx!(&mut tx, conn => sqlx::query("DELETE FROM webhook_endpoints WHERE id = $1").bind(id).execute(&mut *conn).await?.rows_affected());
    if deleted == 0 {
        return Err(Error::NotFound { what: "webhook endpoint" });
    }
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// An endpoint's delivery log, newest first.
#[utoipa::path(get, path = "/webhooks/{id}/deliveries", tag = "webhooks",
    params(("id" = Uuid, Path), WebhookDeliveryQuery),
    security(("bearer" = ["webhooks.manage"])),
    responses((status = 200, body = Vec<WebhookDelivery>), (status = 404, body = ApiError), (status = 422, body = ApiError)))]
async fn list_deliveries(
    State(state): State<AppState>,
    _caller: Authorized<can::ManageWebhooks>,
    AppPath(id): AppPath<Uuid>,
    AppQuery(query): AppQuery<WebhookDeliveryQuery>,
) -> Result<AppJson<Vec<WebhookDelivery>>> {
    store::endpoint(&state.db, id).await?;
    let filter = match query.state.as_deref() {
        None | Some("") => None,
        Some(text) => Some(WebhookDeliveryState::parse(text).ok_or_else(|| Error::invalid("state", "one of pending, sending, delivered, failed"))?),
    };
    let limit = i64::from(query.limit.unwrap_or(50).clamp(1, 500));
    Ok(AppJson(store::deliveries(&state.db, id, filter, limit).await?))
}

/// One delivery with the payload it sends and every attempt: status, answer (its first 4 KiB),
/// error, timings.
#[utoipa::path(get, path = "/webhooks/{id}/deliveries/{delivery_id}", tag = "webhooks",
    params(("id" = Uuid, Path), ("delivery_id" = Uuid, Path)),
    security(("bearer" = ["webhooks.manage"])),
    responses((status = 200, body = WebhookDeliveryDetail), (status = 404, body = ApiError)))]
async fn get_delivery(
    State(state): State<AppState>,
    _caller: Authorized<can::ManageWebhooks>,
    AppPath((id, delivery_id)): AppPath<(Uuid, Uuid)>,
) -> Result<AppJson<WebhookDeliveryDetail>> {
    Ok(AppJson(store::delivery_detail(&state.db, id, delivery_id).await?))
}

/// Send a delivery again (same `webhook-id`, a fresh retry schedule), whatever became of it.
#[utoipa::path(post, path = "/webhooks/{id}/deliveries/{delivery_id}/redeliver", tag = "webhooks",
    params(("id" = Uuid, Path), ("delivery_id" = Uuid, Path)),
    security(("bearer" = ["webhooks.manage"])),
    responses((status = 202, body = WebhookDelivery), (status = 404, body = ApiError),
        (status = 409, description = "An attempt is under way (`delivery_in_progress`), or the endpoint is off (`endpoint_disabled`)", body = ApiError)))]
async fn redeliver(
    State(state): State<AppState>,
    _caller: Authorized<can::ManageWebhooks>,
    AppPath((id, delivery_id)): AppPath<(Uuid, Uuid)>,
) -> Result<(StatusCode, AppJson<WebhookDelivery>)> {
    let endpoint: EndpointRow = store::endpoint(&state.db, id).await?;
    if !endpoint.enabled {
        return Err(Error::conflict("endpoint_disabled", "the endpoint is off; turn it on first (its waiting deliveries then go out)"));
    }
    store::delivery(&state.db, id, delivery_id).await?;
    const SQL: &str = "UPDATE webhook_deliveries SET state = 'pending', cycle_attempts = 0, \
        max_attempts = CASE WHEN event_type = 'webhook.ping' THEN 1 ELSE $1 END, next_attempt_at = $2, \
        delivered_at = NULL, failed_at = NULL WHERE id = $3 AND endpoint_id = $4 AND state <> 'sending'";
    let updated = crate::with_db_writing!(&state.db, pool => sqlx::query(SQL).bind(worker::MAX_ATTEMPTS).bind(Utc::now()).bind(delivery_id).bind(id)
        .execute(pool).await?.rows_affected());
    if updated == 0 {
        return Err(Error::conflict("delivery_in_progress", "an attempt at this delivery is under way; look again in a moment"));
    }
    let row = store::delivery(&state.db, id, delivery_id).await?;
    Ok((StatusCode::ACCEPTED, AppJson(WebhookDelivery::from(&row))))
}

/// Send a `webhook.ping` to the endpoint now (on or off) and answer with what came of it; it is
/// kept in the delivery log and never retried.
#[utoipa::path(post, path = "/webhooks/{id}/ping", tag = "webhooks",
    params(("id" = Uuid, Path)),
    security(("bearer" = ["webhooks.manage"])),
    responses((status = 200, body = WebhookDeliveryDetail), (status = 404, body = ApiError)))]
async fn ping(State(state): State<AppState>, _caller: Authorized<can::ManageWebhooks>, AppPath(id): AppPath<Uuid>) -> Result<AppJson<WebhookDeliveryDetail>> {
    store::endpoint(&state.db, id).await?;
    let worker = Worker::new(state.clone()).map_err(Error::Internal)?;
    let delivery = worker.ping(id, Utc::now()).await?;
    Ok(AppJson(store::delivery_detail(&state.db, id, delivery).await?))
}
