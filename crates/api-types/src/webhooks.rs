//! Outgoing webhooks: the endpoints admins register, the deliveries and their attempts, and the
//! JSON each event sends ([`WebhookMessage`], signed per the Standard Webhooks spec).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::approvals::Approval;
use crate::tickets::{Comment, Priority, Status};
use crate::users::User;

/// What an endpoint can subscribe to. The wire names are the `type` of [`WebhookMessage`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum WebhookEventType {
    #[serde(rename = "ticket.created")]
    TicketCreated,
    /// Any change of a ticket's fields, status, assignee, team or tags.
    #[serde(rename = "ticket.updated")]
    TicketUpdated,
    /// A public reply or an internal note.
    #[serde(rename = "comment.created")]
    CommentCreated,
    /// A ticket missed its first-response or resolution target.
    #[serde(rename = "ticket.sla_breached")]
    TicketSlaBreached,
    /// An approval was approved or rejected.
    #[serde(rename = "approval.decided")]
    ApprovalDecided,
    #[serde(rename = "user.created")]
    UserCreated,
}

impl WebhookEventType {
    pub const ALL: &'static [WebhookEventType] = &[
        WebhookEventType::TicketCreated,
        WebhookEventType::TicketUpdated,
        WebhookEventType::CommentCreated,
        WebhookEventType::TicketSlaBreached,
        WebhookEventType::ApprovalDecided,
        WebhookEventType::UserCreated,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            WebhookEventType::TicketCreated => "ticket.created",
            WebhookEventType::TicketUpdated => "ticket.updated",
            WebhookEventType::CommentCreated => "comment.created",
            WebhookEventType::TicketSlaBreached => "ticket.sla_breached",
            WebhookEventType::ApprovalDecided => "approval.decided",
            WebhookEventType::UserCreated => "user.created",
        }
    }

    pub fn parse(name: &str) -> Option<WebhookEventType> {
        WebhookEventType::ALL.iter().copied().find(|t| t.as_str() == name)
    }
}

impl std::fmt::Display for WebhookEventType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A registered receiver. Its signing secret is answered once, when it is made (or rotated).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WebhookEndpoint {
    pub id: Uuid,
    pub url: String,
    pub description: String,
    pub events: Vec<WebhookEventType>,
    pub enabled: bool,
    /// Why hdms turned the endpoint off (it answered 410 Gone), if it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The answer of creating an endpoint or rotating its secret: the only time the secret is shown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WebhookEndpointWithSecret {
    pub endpoint: WebhookEndpoint,
    /// `whsec_` and the base64 signing key, as Standard Webhooks libraries take it.
    pub secret: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateWebhookEndpoint {
    /// `https://…` (or `http://…`); hdms refuses to deliver to loopback, private, link-local and
    /// cloud metadata addresses unless the server's allow-list admits them.
    pub url: String,
    #[serde(default)]
    pub description: String,
    pub events: Vec<WebhookEventType>,
    /// Default: true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdateWebhookEndpoint {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub events: Option<Vec<WebhookEventType>>,
    /// Turning an endpoint on also clears the reason hdms turned it off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Make a new signing secret (answered once, in `secret`); the old one stops at once.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub rotate_secret: bool,
}

/// The answer of updating an endpoint: the secret only when it was rotated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UpdatedWebhookEndpoint {
    pub endpoint: WebhookEndpoint,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum WebhookDeliveryState {
    /// Waiting for its next attempt.
    Pending,
    /// An attempt is under way.
    Sending,
    /// The receiver answered 2xx.
    Delivered,
    /// Given up: the retry schedule ran out, the endpoint answered 410, or delivery was refused.
    Failed,
}

impl WebhookDeliveryState {
    pub fn as_str(self) -> &'static str {
        match self {
            WebhookDeliveryState::Pending => "pending",
            WebhookDeliveryState::Sending => "sending",
            WebhookDeliveryState::Delivered => "delivered",
            WebhookDeliveryState::Failed => "failed",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "pending" => WebhookDeliveryState::Pending,
            "sending" => WebhookDeliveryState::Sending,
            "delivered" => WebhookDeliveryState::Delivered,
            "failed" => WebhookDeliveryState::Failed,
            _ => return None,
        })
    }
}

/// One event for one endpoint. Its id is the `webhook-id` header (`msg_` and the id without
/// dashes), the same on every attempt and redelivery, so receivers can drop duplicates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WebhookDelivery {
    pub id: Uuid,
    pub endpoint_id: Uuid,
    /// `ticket.created`, … or `webhook.ping`.
    pub event_type: String,
    pub state: WebhookDeliveryState,
    /// Attempts made so far (all cycles: redelivery adds to them).
    pub attempts: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// The HTTP status of the last answer, if there was one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_status: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivered_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_at: Option<DateTime<Utc>>,
}

/// A delivery with what it sends and every attempt at it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WebhookDeliveryDetail {
    pub delivery: WebhookDelivery,
    /// The JSON body, exactly as signed and sent (a [`WebhookMessage`]).
    pub payload: String,
    pub attempt_log: Vec<WebhookAttempt>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WebhookAttempt {
    pub attempt: u32,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub duration_ms: i64,
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_status: Option<u16>,
    /// The start of the receiver's answer (at most 4 KiB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_body: Option<String>,
    /// Why the attempt failed without an answer (refused address, timeout, connection error).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
pub struct WebhookDeliveryQuery {
    /// Only deliveries in this state (`pending`, `sending`, `delivered`, `failed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// At most this many, newest first (default 50, at most 500).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
}

// --- what is sent ---------------------------------------------------------------------------

/// The body of every webhook request: the event `type`, when it happened, and its `data`.
/// Signed as Standard Webhooks says: `webhook-signature` is `v1,` and the base64 HMAC-SHA256,
/// under the endpoint's secret, of `{webhook-id}.{webhook-timestamp}.{body}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "type")]
pub enum WebhookMessage {
    #[serde(rename = "ticket.created")]
    TicketCreated { timestamp: DateTime<Utc>, data: TicketEventData },
    #[serde(rename = "ticket.updated")]
    TicketUpdated { timestamp: DateTime<Utc>, data: TicketUpdatedData },
    #[serde(rename = "comment.created")]
    CommentCreated { timestamp: DateTime<Utc>, data: CommentEventData },
    #[serde(rename = "ticket.sla_breached")]
    TicketSlaBreached { timestamp: DateTime<Utc>, data: SlaBreachedData },
    #[serde(rename = "approval.decided")]
    ApprovalDecided { timestamp: DateTime<Utc>, data: ApprovalDecidedData },
    #[serde(rename = "user.created")]
    UserCreated { timestamp: DateTime<Utc>, data: UserEventData },
    /// Sent by `POST /webhooks/{id}/ping` only, whatever the endpoint subscribes to.
    #[serde(rename = "webhook.ping")]
    Ping { timestamp: DateTime<Utc>, data: PingData },
    /// Sent by an automation rule's "call a webhook" action to the endpoint it names, whatever
    /// the endpoint subscribes to.
    #[serde(rename = "rule.fired")]
    RuleFired { timestamp: DateTime<Utc>, data: RuleFiredData },
}

impl WebhookMessage {
    /// The event type endpoints subscribe to; `None` for a ping.
    pub fn event_type(&self) -> Option<WebhookEventType> {
        Some(match self {
            WebhookMessage::TicketCreated { .. } => WebhookEventType::TicketCreated,
            WebhookMessage::TicketUpdated { .. } => WebhookEventType::TicketUpdated,
            WebhookMessage::CommentCreated { .. } => WebhookEventType::CommentCreated,
            WebhookMessage::TicketSlaBreached { .. } => WebhookEventType::TicketSlaBreached,
            WebhookMessage::ApprovalDecided { .. } => WebhookEventType::ApprovalDecided,
            WebhookMessage::UserCreated { .. } => WebhookEventType::UserCreated,
            WebhookMessage::Ping { .. } | WebhookMessage::RuleFired { .. } => return None,
        })
    }

    /// The `type` on the wire.
    pub fn type_name(&self) -> &'static str {
        match self {
            WebhookMessage::Ping { .. } => "webhook.ping",
            WebhookMessage::RuleFired { .. } => "rule.fired",
            other => other.event_type().map_or("webhook.ping", WebhookEventType::as_str),
        }
    }
}

/// A ticket as webhooks carry it: its own fields, people and team by id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WebhookTicket {
    pub id: Uuid,
    /// `HD-1042`.
    pub number: String,
    pub subject: String,
    pub status: Status,
    pub priority: Priority,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    pub requester_id: Uuid,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignee_id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team_id: Option<Uuid>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TicketEventData {
    pub ticket: WebhookTicket,
    /// Who did it; absent when hdms did (the SLA job, mail from an unknown sender…).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor_id: Option<Uuid>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TicketUpdatedData {
    pub ticket: WebhookTicket,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor_id: Option<Uuid>,
    /// What changed, as in the ticket's history (`status`, `priority`, `assignee`, `team`,
    /// `tags`, …; ids for people and teams).
    pub changes: Vec<WebhookFieldChange>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WebhookFieldChange {
    pub field: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CommentEventData {
    pub ticket: WebhookTicket,
    /// `internal: true` for an internal note.
    pub comment: Comment,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SlaBreachedData {
    pub ticket: WebhookTicket,
    /// `first_response` or `resolution`.
    pub target: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApprovalDecidedData {
    pub ticket: WebhookTicket,
    /// `state` says how it was decided.
    pub approval: Approval,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UserEventData {
    pub user: User,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PingData {
    pub endpoint_id: Uuid,
}

/// A rule acted on a ticket (its actions ran in the same transaction as this delivery's queueing).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RuleFiredData {
    pub rule_id: Uuid,
    pub rule_name: String,
    pub ticket: WebhookTicket,
}

/// The webhook settings admins change at run time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WebhookSettings {
    /// Networks (CIDR) webhooks may reach although they are loopback, private, link-local or
    /// metadata addresses, as admins set them: for receivers inside your network.
    pub allow: Vec<String>,
    /// The same from the server's configuration (`HDMS_WEBHOOK_ALLOW`); read only here.
    pub configured_allow: Vec<String>,
}

/// The admins' allow-list, replaced whole. A bare address stands for itself alone (`/32`,
/// `/128`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdateWebhookSettings {
    pub allow: Vec<String>,
}
