//! The communication domain: notifications, the realtime hub, and the websocket for live chat
//! and presence.

pub mod hub;
pub mod inbox;
pub mod mail;
pub mod notifications;
pub mod outbox;
pub mod preferences;
pub mod queue_feed;
pub mod sms;
pub mod webhooks;
pub mod ws;

use utoipa_axum::router::OpenApiRouter;

use crate::state::AppState;

/// Routes under the API prefix.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().merge(inbox::router()).merge(preferences::router()).merge(sms::router()).merge(mail::router()).merge(webhooks::router())
}
