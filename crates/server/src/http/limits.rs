//! General rate limits (per credential and per client address, for the API and the websocket
//! handshake), the websocket's per-person connection cap and message rate. Limits answer 429
//! `too_many_requests` with `Retry-After`. Each is a token bucket (`tower_governor`): a burst
//! may be spent at once, then it refills at the sustained rate. Set a rate to 0 to turn it off.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::http::header::AUTHORIZATION;
use axum::http::{HeaderName, Request};
use axum::response::{IntoResponse, Response};
use governor::{DefaultKeyedRateLimiter, Quota};
use tower_governor::GovernorError;
use tower_governor::governor::GovernorConfigBuilder;
use tower_governor::key_extractor::KeyExtractor;
use uuid::Uuid;

use crate::config::Config;
use crate::error::Error;

/// What a request is counted against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Key {
    /// A hash of the bearer token (never the token itself, which stays out of memory dumps of
    /// the limiter). Tokens cannot be forged, so nobody can spend another caller's budget.
    Credential(u64),
    Address(IpAddr),
}

/// Where a request comes from: the address a trusted reverse proxy put in
/// `HDMS_CLIENT_IP_HEADER` (its last entry: the one the proxy itself added), else the peer.
#[derive(Debug, Clone)]
pub struct ClientAddress {
    pub header: Option<HeaderName>,
}

impl ClientAddress {
    pub fn of<T>(&self, request: &Request<T>) -> Option<IpAddr> {
        let from_header = self.header.as_ref().and_then(|name| {
            let value = request.headers().get_all(name).iter().next_back()?.to_str().ok()?;
            value.rsplit(',').next()?.trim().parse().ok()
        });
        from_header.or_else(|| request.extensions().get::<ConnectInfo<SocketAddr>>().map(|info| info.0.ip()))
    }
}

impl KeyExtractor for ClientAddress {
    type Key = Key;

    fn extract<T>(&self, request: &Request<T>) -> Result<Key, GovernorError> {
        // Without a known address (a server started without connect info, as in-process tests
        // may) every request shares the unspecified address's budget.
        Ok(Key::Address(self.of(request).unwrap_or(IpAddr::from([0, 0, 0, 0]))))
    }
}

/// The bearer token's hash; requests without one are counted by address (the address limit
/// covers them too, so anonymous traffic is limited by both).
#[derive(Debug, Clone)]
pub struct Credential {
    pub address: ClientAddress,
}

impl KeyExtractor for Credential {
    type Key = Key;

    fn extract<T>(&self, request: &Request<T>) -> Result<Key, GovernorError> {
        match request.headers().get(AUTHORIZATION) {
            Some(value) => {
                let mut hasher = DefaultHasher::new();
                value.as_bytes().hash(&mut hasher);
                Ok(Key::Credential(hasher.finish()))
            }
            None => self.address.extract(request),
        }
    }
}

fn too_many(error: GovernorError) -> Response {
    match error {
        GovernorError::TooManyRequests { wait_time, .. } => Error::TooManyRequests { retry_after_secs: wait_time }.into_response(),
        other => Error::Internal(anyhow::anyhow!("rate limiter: {other}")).into_response(),
    }
}

/// A quota of `per_second` requests a second with bursts of `burst`; `None` when turned off.
fn quota(per_second: u32, burst: u32) -> Option<(Duration, NonZeroU32)> {
    let per_second = NonZeroU32::new(per_second)?;
    Some((Duration::from_nanos(1_000_000_000 / u64::from(per_second.get())).max(Duration::from_nanos(1)), NonZeroU32::new(burst).unwrap_or(per_second)))
}

type Layer<K> = tower_governor::GovernorLayer<K, governor::middleware::NoOpMiddleware<governor::clock::QuantaInstant>, axum::body::Body>;

/// The two request limits as layers, each `None` when turned off. Their stores forget idle
/// keys every minute (a task that ends with the process).
pub fn layers(config: &Config) -> (Option<Layer<Credential>>, Option<Layer<ClientAddress>>) {
    let address = ClientAddress { header: config.client_ip_header.clone() };
    let credential = quota(config.rate_limit_per_second, config.rate_limit_burst).map(|(period, burst)| {
        let config = GovernorConfigBuilder::default()
            .period(period)
            .burst_size(burst.get())
            .key_extractor(Credential { address: address.clone() })
            .finish()
            .expect("a positive period and burst");
        forget_idle(config.limiter().clone());
        tower_governor::GovernorLayer::new(config).error_handler(too_many)
    });
    let by_address = quota(config.rate_limit_per_address_per_second, config.rate_limit_per_address_burst).map(|(period, burst)| {
        let config = GovernorConfigBuilder::default()
            .period(period)
            .burst_size(burst.get())
            .key_extractor(address.clone())
            .finish()
            .expect("a positive period and burst");
        forget_idle(config.limiter().clone());
        tower_governor::GovernorLayer::new(config).error_handler(too_many)
    });
    (credential, by_address)
}

fn forget_idle<K: Hash + Eq + Clone + Send + Sync + 'static>(limiter: Arc<DefaultKeyedRateLimiter<K>>) {
    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
        let weak = Arc::downgrade(&limiter);
        runtime.spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(60));
            loop {
                tick.tick().await;
                match weak.upgrade() {
                    Some(limiter) => limiter.retain_recent(),
                    None => break,
                }
            }
        });
    }
}

/// Websocket limits: connections per person, and client messages per person.
pub struct SocketLimits {
    max_per_user: usize,
    open: Mutex<HashMap<Uuid, usize>>,
    messages: Option<DefaultKeyedRateLimiter<Uuid>>,
}

/// Holds one of a person's websocket connections open; dropping it frees the place.
pub struct SocketPlace {
    limits: Arc<SocketLimits>,
    user: Uuid,
}

impl SocketLimits {
    pub fn new(config: &Config) -> Arc<SocketLimits> {
        let messages = quota(config.ws_messages_per_second, config.ws_messages_burst)
            .map(|(period, burst)| governor::RateLimiter::keyed(Quota::with_period(period).expect("positive").allow_burst(burst)));
        Arc::new(SocketLimits { max_per_user: config.ws_max_connections_per_user, open: Mutex::new(HashMap::new()), messages })
    }

    /// A place for another connection of `user`, unless they have as many as allowed (0: no cap).
    pub fn open(self: &Arc<Self>, user: Uuid) -> Option<SocketPlace> {
        let mut open = self.open.lock().expect("socket counts");
        let count = open.entry(user).or_default();
        if self.max_per_user != 0 && *count >= self.max_per_user {
            return None;
        }
        *count += 1;
        Some(SocketPlace { limits: self.clone(), user })
    }

    /// Whether `user` may send another message now; else how many seconds to wait.
    pub fn message(&self, user: Uuid) -> Result<(), u64> {
        match &self.messages {
            Some(limiter) => limiter.check_key(&user).map_err(|not_until| {
                not_until.wait_time_from(governor::clock::Clock::now(&governor::clock::DefaultClock::default())).as_secs().max(1)
            }),
            None => Ok(()),
        }
    }
}

impl Drop for SocketPlace {
    fn drop(&mut self) {
        let mut open = self.limits.open.lock().expect("socket counts");
        if let Some(count) = open.get_mut(&self.user) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.user);
            }
        }
    }
}
