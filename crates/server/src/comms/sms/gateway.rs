//! The gateway trait every SMS provider implements, and the choice of provider from the
//! configuration.

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use uuid::Uuid;

use crate::comms::sms::{http::HttpGateway, log::LogGateway};
use crate::config::{Config, SmsProviderKind};

/// One text message, as handed to a provider.
#[derive(Debug, Clone, Copy)]
pub struct Message<'a> {
    /// The outbox row's id: the same on every attempt, so a gateway can drop duplicates.
    pub id: Uuid,
    /// E.164 number.
    pub to: &'a str,
    pub text: &'a str,
    /// A one-time code or invitation: its text must never reach a log.
    pub sensitive: bool,
}

/// The provider accepted the message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Delivery {
    /// The provider's own id for the message, when it gives one.
    pub provider_message_id: Option<String>,
    pub http_status: Option<u16>,
}

/// The provider did not accept the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendError {
    /// What went wrong, for the outbox row and the log (never contains the auth header).
    pub message: String,
    /// Retrying cannot help (the gateway refused the request itself): give up at once.
    pub permanent: bool,
    pub http_status: Option<u16>,
    /// The gateway asked to wait at least this long before the next attempt.
    pub retry_after: Option<Duration>,
}

impl SendError {
    pub fn transient(message: impl Into<String>) -> Self {
        SendError { message: message.into(), permanent: false, http_status: None, retry_after: None }
    }
}

/// An SMS provider. `send` makes exactly one attempt; retries and backoff are the worker's,
/// driven by the outbox.
pub trait Gateway: Send + Sync + 'static {
    /// Recorded with every attempt (`log`, `http`).
    fn name(&self) -> &'static str;

    fn send<'a>(&'a self, message: Message<'a>) -> BoxFuture<'a, Result<Delivery, SendError>>;
}

/// The provider the configuration names; fails on settings that cannot work, so a bad
/// configuration stops the server at start rather than losing messages later.
pub fn from_config(config: &Config) -> anyhow::Result<Arc<dyn Gateway>> {
    Ok(match config.sms_provider {
        SmsProviderKind::Log => Arc::new(LogGateway),
        SmsProviderKind::Http => Arc::new(HttpGateway::from_config(config)?),
    })
}
