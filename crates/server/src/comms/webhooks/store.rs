//! Rows of the webhook tables: endpoints, deliveries and attempts.

use base64::Engine;
use chrono::{DateTime, Utc};
use hdms_api_types::webhooks::{WebhookAttempt, WebhookDelivery, WebhookDeliveryDetail, WebhookDeliveryState, WebhookEndpoint, WebhookEventType};
use uuid::Uuid;

use crate::db::Db;
use crate::error::{Error, Result};
use crate::with_db;

/// A new signing secret: `whsec_` and 32 random bytes in base64, the form Standard Webhooks
/// libraries take (the spec asks for 24 to 64 bytes).
pub fn new_secret() -> String {
    let key: [u8; 32] = rand::random();
    format!("whsec_{}", base64::engine::general_purpose::STANDARD.encode(key))
}

#[derive(sqlx::FromRow)]
pub struct EndpointRow {
    pub id: Uuid,
    pub url: String,
    pub description: String,
    pub events: String,
    pub enabled: bool,
    pub disabled_reason: Option<String>,
    pub secret: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The columns of [`EndpointRow`], as a literal for `concat!`.
macro_rules! endpoint_columns {
    () => {
        "id, url, description, events, enabled, disabled_reason, secret, created_at, updated_at"
    };
}

impl From<EndpointRow> for WebhookEndpoint {
    fn from(row: EndpointRow) -> Self {
        WebhookEndpoint {
            id: row.id,
            url: row.url,
            description: row.description,
            events: parse_events(&row.events),
            enabled: row.enabled,
            disabled_reason: row.disabled_reason,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

pub fn parse_events(text: &str) -> Vec<WebhookEventType> {
    text.split(',').filter_map(WebhookEventType::parse).collect()
}

/// The stored form: the types' names in the order of [`WebhookEventType::ALL`], once each.
pub fn join_events(events: &[WebhookEventType]) -> String {
    WebhookEventType::ALL.iter().filter(|t| events.contains(t)).map(|t| t.as_str()).collect::<Vec<_>>().join(",")
}

pub async fn endpoints(db: &Db) -> Result<Vec<EndpointRow>> {
    const SQL: &str = concat!("SELECT ", endpoint_columns!(), " FROM webhook_endpoints ORDER BY created_at, id");
    Ok(with_db!(db, pool => sqlx::query_as(SQL).fetch_all(pool).await?))
}

pub async fn endpoint(db: &Db, id: Uuid) -> Result<EndpointRow> {
    const SQL: &str = concat!("SELECT ", endpoint_columns!(), " FROM webhook_endpoints WHERE id = $1");
    let row: Option<EndpointRow> = with_db!(db, pool => sqlx::query_as(SQL).bind(id).fetch_optional(pool).await?);
    row.ok_or(Error::NotFound { what: "webhook endpoint" })
}

#[derive(sqlx::FromRow)]
pub struct DeliveryRow {
    pub id: Uuid,
    pub endpoint_id: Uuid,
    pub event_type: String,
    pub payload: String,
    pub state: String,
    pub attempts: i32,
    pub next_attempt_at: DateTime<Utc>,
    pub last_status: Option<i32>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub failed_at: Option<DateTime<Utc>>,
}

/// The columns of [`DeliveryRow`], as a literal for `concat!`.
macro_rules! delivery_columns {
    () => {
        "id, endpoint_id, event_type, payload, state, attempts, next_attempt_at, last_status, last_error, created_at, delivered_at, failed_at"
    };
}

impl From<&DeliveryRow> for WebhookDelivery {
    fn from(row: &DeliveryRow) -> Self {
        let state = WebhookDeliveryState::parse(&row.state).unwrap_or(WebhookDeliveryState::Pending);
        WebhookDelivery {
            id: row.id,
            endpoint_id: row.endpoint_id,
            event_type: row.event_type.clone(),
            state,
            attempts: u32::try_from(row.attempts).unwrap_or(0),
            next_attempt_at: (state == WebhookDeliveryState::Pending).then_some(row.next_attempt_at),
            last_status: row.last_status.and_then(|s| u16::try_from(s).ok()),
            last_error: row.last_error.clone(),
            created_at: row.created_at,
            delivered_at: row.delivered_at,
            failed_at: row.failed_at,
        }
    }
}

/// An endpoint's deliveries, newest first.
pub async fn deliveries(db: &Db, endpoint_id: Uuid, state: Option<WebhookDeliveryState>, limit: i64) -> Result<Vec<WebhookDelivery>> {
    const SQL: &str = concat!(
        "SELECT ", delivery_columns!(), " FROM webhook_deliveries WHERE endpoint_id = $1 AND ($2 IS NULL OR state = $2) \
         ORDER BY created_at DESC, id DESC LIMIT $3"
    );
    let rows: Vec<DeliveryRow> = with_db!(db, pool => sqlx::query_as(SQL)
        .bind(endpoint_id).bind(state.map(WebhookDeliveryState::as_str)).bind(limit).fetch_all(pool).await?);
    Ok(rows.iter().map(WebhookDelivery::from).collect())
}

pub async fn delivery(db: &Db, endpoint_id: Uuid, id: Uuid) -> Result<DeliveryRow> {
    const SQL: &str = concat!("SELECT ", delivery_columns!(), " FROM webhook_deliveries WHERE id = $1 AND endpoint_id = $2");
    let row: Option<DeliveryRow> = with_db!(db, pool => sqlx::query_as(SQL).bind(id).bind(endpoint_id).fetch_optional(pool).await?);
    row.ok_or(Error::NotFound { what: "webhook delivery" })
}

#[derive(sqlx::FromRow)]
struct AttemptRow {
    attempt: i32,
    started_at: DateTime<Utc>,
    finished_at: DateTime<Utc>,
    ok: bool,
    response_status: Option<i32>,
    response_body: Option<String>,
    error: Option<String>,
}

/// A delivery with its payload and attempts, oldest attempt first.
pub async fn delivery_detail(db: &Db, endpoint_id: Uuid, id: Uuid) -> Result<WebhookDeliveryDetail> {
    let row = delivery(db, endpoint_id, id).await?;
    const ATTEMPTS: &str = "SELECT attempt, started_at, finished_at, ok, response_status, response_body, error \
                            FROM webhook_attempts WHERE delivery_id = $1 ORDER BY attempt, started_at";
    let attempts: Vec<AttemptRow> = with_db!(db, pool => sqlx::query_as(ATTEMPTS).bind(id).fetch_all(pool).await?);
    Ok(WebhookDeliveryDetail {
        delivery: WebhookDelivery::from(&row),
        payload: row.payload,
        attempt_log: attempts
            .into_iter()
            .map(|a| WebhookAttempt {
                attempt: u32::try_from(a.attempt).unwrap_or(0),
                started_at: a.started_at,
                finished_at: a.finished_at,
                duration_ms: (a.finished_at - a.started_at).num_milliseconds(),
                ok: a.ok,
                response_status: a.response_status.and_then(|s| u16::try_from(s).ok()),
                response_body: a.response_body,
                error: a.error,
            })
            .collect(),
    })
}
