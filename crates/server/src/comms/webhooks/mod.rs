//! Outgoing webhooks. Code where something happens calls [`enqueue`] inside its own
//! transaction: one row per subscribed endpoint goes into `webhook_deliveries`, so a delivery
//! exists exactly when the change that caused it commits (nothing for a rolled-back change,
//! nothing lost when the server stops after the commit). The [`worker`] on every instance
//! claims due rows with a lease and POSTs them, signed per the Standard Webhooks spec, through
//! a client whose every connection goes through the [`guard`] (no loopback, private, link-local
//! or metadata addresses unless allowed). Admins manage endpoints and read the delivery log
//! over [`routes`].

pub mod events;
pub mod guard;
pub mod routes;
pub mod settings;
pub mod store;
pub mod worker;

use chrono::{DateTime, Utc};
use hdms_api_types::webhooks::{WebhookEventType, WebhookMessage, WebhookTicket};
use utoipa_axum::router::OpenApiRouter;
use uuid::Uuid;

use crate::db::Tx;
use crate::error::Result;
use crate::state::AppState;
use crate::tickets::store::{TicketRow, display_number};
use crate::with_tx;

pub fn router() -> OpenApiRouter<AppState> {
    routes::router().merge(settings::router())
}

/// Queues `message` for every enabled endpoint subscribed to its type; each is sent once `tx`
/// commits. Returns how many deliveries were queued.
pub async fn enqueue(tx: &mut Tx, message: &WebhookMessage, now: DateTime<Utc>) -> Result<usize> {
    let Some(event) = message.event_type() else { return Ok(0) };
    let endpoints = subscribers(tx, event).await?;
    queue_for(tx, &endpoints, message, now).await?;
    Ok(endpoints.len())
}

/// The enabled endpoints subscribed to `event`: callers whose message costs a query to build
/// ask first, and build it only when someone listens.
pub async fn subscribers(tx: &mut Tx, event: WebhookEventType) -> Result<Vec<Uuid>> {
    // Events are stored comma-separated; the commas around both sides make `ticket.created`
    // never match inside another name.
    const SQL: &str = "SELECT id FROM webhook_endpoints WHERE enabled AND (',' || events || ',') LIKE ('%,' || $1 || ',%') ORDER BY id";
    Ok(with_tx!(tx, conn => sqlx::query_scalar(SQL).bind(event.as_str()).fetch_all(&mut *conn).await?))
}

/// Queues `message` for these endpoints (from [`subscribers`]).
pub async fn queue_for(tx: &mut Tx, endpoints: &[Uuid], message: &WebhookMessage, now: DateTime<Utc>) -> Result<()> {
    if endpoints.is_empty() {
        return Ok(());
    }
    let payload = serde_json::to_string(message).map_err(anyhow::Error::from)?;
    for endpoint in endpoints {
        insert(tx, *endpoint, message.type_name(), &payload, worker::MAX_ATTEMPTS, now).await?;
    }
    Ok(())
}

/// Queues `message` for one endpoint, whatever events it subscribes to (a rule's "call a
/// webhook" action); sent once `tx` commits. `Ok(None)` when the endpoint is gone or turned off.
pub async fn enqueue_to(tx: &mut Tx, endpoint_id: Uuid, message: &WebhookMessage, now: DateTime<Utc>) -> Result<Option<Uuid>> {
    const ENABLED: &str = "SELECT enabled FROM webhook_endpoints WHERE id = $1";
    let enabled: Option<bool> = with_tx!(tx, conn => sqlx::query_scalar(ENABLED).bind(endpoint_id).fetch_optional(&mut *conn).await?);
    if enabled != Some(true) {
        return Ok(None);
    }
    let payload = serde_json::to_string(message).map_err(anyhow::Error::from)?;
    Ok(Some(insert(tx, endpoint_id, message.type_name(), &payload, worker::MAX_ATTEMPTS, now).await?))
}

async fn insert(tx: &mut Tx, endpoint_id: Uuid, event_type: &str, payload: &str, max_attempts: i32, now: DateTime<Utc>) -> Result<Uuid> {
    const SQL: &str = "INSERT INTO webhook_deliveries (id, endpoint_id, event_type, payload, state, attempts, cycle_attempts, \
                       max_attempts, next_attempt_at, created_at) VALUES ($1, $2, $3, $4, 'pending', 0, 0, $5, $6, $6)";
    let id = Uuid::now_v7();
    with_tx!(tx, conn => sqlx::query(SQL).bind(id).bind(endpoint_id).bind(event_type).bind(payload).bind(max_attempts).bind(now)
        .execute(&mut *conn).await?.rows_affected());
    Ok(id)
}

/// A ticket as webhooks carry it.
pub fn ticket(row: &TicketRow) -> WebhookTicket {
    WebhookTicket {
        id: row.id,
        number: display_number(row.number),
        subject: row.subject.clone(),
        status: row.status,
        priority: row.priority,
        category: row.category.clone(),
        requester_id: row.requester_id,
        assignee_id: row.assignee_id,
        team_id: row.team_id,
        version: row.version,
        created_at: row.created_at,
        updated_at: row.updated_at,
    }
}

/// The `webhook-id` of a delivery: the same on every attempt and redelivery.
pub fn message_id(delivery: Uuid) -> String {
    format!("msg_{}", delivery.simple())
}

/// Puts what each event sends in the OpenAPI document: its `webhooks` section has one entry per
/// event type, whose request body is the JSON hdms POSTs (`type`, `timestamp`, `data`), and the
/// data schemas are components.
pub struct WebhookDocs;

impl utoipa::Modify for WebhookDocs {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use hdms_api_types::webhooks::*;
        use utoipa::openapi::path::{HttpMethod, OperationBuilder, PathItem};
        use utoipa::openapi::request_body::RequestBodyBuilder;
        use utoipa::openapi::schema::{ObjectBuilder, SchemaFormat, KnownFormat, Type};
        use utoipa::openapi::{ContentBuilder, PathsBuilder, Ref, ResponseBuilder};
        use utoipa::{PartialSchema, ToSchema};

        let components = openapi.components.get_or_insert_default();
        let mut schemas = Vec::new();
        macro_rules! register {
            ($($t:ty),*) => {$(
                schemas.push((<$t as ToSchema>::name().into_owned(), <$t as PartialSchema>::schema()));
                <$t as ToSchema>::schemas(&mut schemas);
            )*};
        }
        register!(WebhookMessage, TicketEventData, TicketUpdatedData, CommentEventData, SlaBreachedData, ApprovalDecidedData, UserEventData, PingData, RuleFiredData);
        components.schemas.extend(schemas);

        let events: [(&str, &str, &str); 8] = [
            ("ticket.created", "TicketEventData", "A ticket was raised (by a person, by mail, as a sub-ticket)."),
            ("ticket.updated", "TicketUpdatedData", "A ticket's fields, status, assignee, team or tags changed (the SLA job's escalation too, with no actor); `changes` lists what."),
            ("comment.created", "CommentEventData", "A public reply or an internal note was added to a ticket."),
            ("ticket.sla_breached", "SlaBreachedData", "A ticket missed its first-response or resolution target."),
            ("approval.decided", "ApprovalDecidedData", "An approval was approved or rejected."),
            ("user.created", "UserEventData", "A user account was made (by an admin, a CSV import, or for a new email sender)."),
            ("webhook.ping", "PingData", "Sent by `POST /api/v1/webhooks/{id}/ping` only, to test a receiver."),
            ("rule.fired", "RuleFiredData", "Sent by an automation rule's \"call a webhook\" action, to the endpoint it names only (docs/rules.md)."),
        ];
        let mut paths = PathsBuilder::new();
        for (name, data, description) in events {
            let body = ObjectBuilder::new()
                .property("type", ObjectBuilder::new().schema_type(Type::String).enum_values(Some([name])))
                .required("type")
                .property("timestamp", ObjectBuilder::new().schema_type(Type::String).format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime))))
                .required("timestamp")
                .property("data", Ref::from_schema_name(data))
                .required("data");
            let operation = OperationBuilder::new()
                .summary(Some(description))
                .description(Some(
                    "Signed per the Standard Webhooks spec: headers `webhook-id` (the same on every attempt), `webhook-timestamp` \
                     (seconds) and `webhook-signature` (`v1,` and the base64 HMAC-SHA256 of `{id}.{timestamp}.{body}` under the \
                     endpoint's secret). Answer 2xx to acknowledge; 410 turns the endpoint off; anything else is retried.",
                ))
                .request_body(Some(RequestBodyBuilder::new().content("application/json", ContentBuilder::new().schema(Some(body)).build()).required(Some(utoipa::openapi::Required::True)).build()))
                .response("2XX", ResponseBuilder::new().description("Received"))
                .build();
            paths = paths.path(name, PathItem::new(HttpMethod::Post, operation));
        }
        openapi.webhooks = Some(paths.build());
    }
}
