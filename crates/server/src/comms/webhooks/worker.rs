//! The webhook worker: drains `webhook_deliveries`.
//!
//! Every instance runs one, on the [`outbox`](crate::comms::outbox) loop SMS and mail use: due
//! rows are claimed with a lease, so with several instances each attempt is made by one of them. Each attempt POSTs the stored payload, signed
//! per the Standard Webhooks spec, through a client that follows no redirect, gives up after
//! the configured timeout (15 s) and connects only where the [`guard`](super::guard) allows.
//! A 2xx answer delivers; 410 Gone fails the delivery and turns the endpoint off; any other
//! answer or error is retried on the spec's schedule ([`SCHEDULE`], with jitter, later when the
//! receiver's `Retry-After` asks for it) until it runs out. A refused address fails at once:
//! no retry can change where a literal address points, and a name is re-checked on redelivery.
//! A worker that dies mid-attempt leaves its lease to run out and the row is tried again, with
//! the same `webhook-id`: delivery is at least once.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::background::Background;
use crate::comms::outbox::{self, Outbox, Recorded, Round};
use crate::comms::webhooks::guard::{Guard, GuardedResolver, Hosts, refusal_in};
use crate::comms::webhooks::message_id;
use crate::error::Result;
use crate::state::AppState;
use crate::{with_db, with_tx};

/// The Standard Webhooks retry schedule: the wait before each attempt after a failed one
/// (immediately, then 5 seconds, 5 minutes, 30 minutes, 2, 5, 10 and 10 hours).
pub const SCHEDULE: [Duration; 8] = [
    Duration::ZERO,
    Duration::from_secs(5),
    Duration::from_secs(5 * 60),
    Duration::from_secs(30 * 60),
    Duration::from_secs(2 * 3600),
    Duration::from_secs(5 * 3600),
    Duration::from_secs(10 * 3600),
    Duration::from_secs(10 * 3600),
];
/// Attempts per delivery (per cycle: a redelivery starts a new one).
pub const MAX_ATTEMPTS: i32 = SCHEDULE.len() as i32;
/// The longest a receiver's `Retry-After` may push an attempt back.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 3600);
/// Deliveries claimed (and sent concurrently) at a time.
const BATCH: i64 = 16;
/// How much of a receiver's answer the log keeps.
pub const BODY_CAP: usize = 4096;

/// A claimed delivery, with its endpoint's URL and secret.
#[derive(Debug, sqlx::FromRow)]
pub struct Claimed {
    id: Uuid,
    endpoint_id: Uuid,
    url: String,
    secret: String,
    payload: String,
    attempts: i32,
    cycle_attempts: i32,
    max_attempts: i32,
}

/// What the receiver answered.
#[derive(Debug)]
pub struct Answer {
    status: u16,
    body: String,
    retry_after: Option<Duration>,
}

#[derive(Debug)]
pub enum Outcome {
    Answered(Answer),
    /// The guard refused every address the URL leads to.
    Refused(String),
    /// No answer: connection error, timeout, bad URL.
    NoAnswer(String),
}

/// Delivers webhooks through one HTTP client.
#[derive(Clone)]
pub struct Worker {
    state: AppState,
    client: reqwest::Client,
    guard: Arc<Guard>,
}

impl Worker {
    pub fn new(state: AppState) -> anyhow::Result<Worker> {
        Worker::with_hosts(state, Hosts::new())
    }

    /// A worker whose resolver answers these names itself (tests: names that lead to
    /// internal networks), the guard judging them as any other.
    pub fn with_hosts(state: AppState, hosts: Hosts) -> anyhow::Result<Worker> {
        // The admins' list is loaded on each pass.
        let guard = Arc::new(Guard::new(state.config.webhook_allow.clone(), Vec::new()));
        let client = reqwest::Client::builder()
            .user_agent(concat!("hdms-webhooks/", env!("CARGO_PKG_VERSION")))
            .timeout(state.config.webhook_timeout())
            // A redirect would lead the request somewhere the guard never judged.
            .redirect(reqwest::redirect::Policy::none())
            // A proxy would resolve the name itself, past the guard.
            .no_proxy()
            // No idle connections: every attempt resolves and is checked anew.
            .pool_max_idle_per_host(0)
            .dns_resolver(GuardedResolver::new(guard.clone(), hosts))
            .build()?;
        Ok(Worker { state, client, guard })
    }

    /// Sends everything due by `now` (attempts that fail are rescheduled after `now`, so a pass
    /// ends), then returns what it did.
    pub async fn run_once(&self, now: DateTime<Utc>) -> Result<Round> {
        outbox::pass(self, now, None).await
    }

    /// Rows whose last allowed attempt never reported back (its worker stopped mid-send).
    async fn expire_abandoned(&self, now: DateTime<Utc>) -> Result<usize> {
        const SQL: &str = "UPDATE webhook_deliveries SET state = 'failed', failed_at = $1, claimed_until = NULL, claim_token = NULL, \
               last_error = COALESCE(last_error, 'the last attempt did not report back') \
             WHERE state = 'sending' AND claimed_until < $1 AND cycle_attempts >= max_attempts";
        let expired = crate::with_db_writing!(&self.state.db, pool => sqlx::query(SQL).bind(now).execute(pool).await?.rows_affected());
        Ok(usize::try_from(expired).unwrap_or(0))
    }

    async fn claim_due(&self, token: Uuid, now: DateTime<Utc>) -> Result<Vec<Claimed>> {
        // As claim_sql! for SMS and mail, with each delivery's own attempt budget for this
        // cycle, and joined to its endpoint: deliveries of a turned-off endpoint wait until it
        // is turned on again.
        const CLAIM: &str = "UPDATE webhook_deliveries SET state = 'sending', attempts = attempts + 1, cycle_attempts = cycle_attempts + 1, \
                claimed_until = $1, claim_token = $2 \
            WHERE id IN ( \
                SELECT d.id FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id \
                WHERE d.state IN ('pending', 'sending') AND d.next_attempt_at <= $3 \
                  AND (d.claimed_until IS NULL OR d.claimed_until < $3) AND d.cycle_attempts < d.max_attempts AND e.enabled \
                ORDER BY d.next_attempt_at, d.id LIMIT $4) \
              AND state IN ('pending', 'sending') AND (claimed_until IS NULL OR claimed_until < $3) AND cycle_attempts < max_attempts";
        let lease = chrono::Duration::from_std(self.lease()).unwrap_or(chrono::Duration::MAX);
        let claimed = crate::with_db_writing!(&self.state.db, pool => sqlx::query(CLAIM)
            .bind(now + lease).bind(token).bind(now).bind(BATCH).execute(pool).await?.rows_affected());
        if claimed == 0 {
            return Ok(Vec::new());
        }
        self.claimed(token).await
    }

    async fn claimed(&self, token: Uuid) -> Result<Vec<Claimed>> {
        const SQL: &str = "SELECT d.id, d.endpoint_id, e.url, e.secret, d.payload, d.attempts, d.cycle_attempts, d.max_attempts \
            FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id WHERE d.claim_token = $1 ORDER BY d.id";
        Ok(with_db!(&self.state.db, pool => sqlx::query_as(SQL).bind(token).fetch_all(pool).await?))
    }

    /// How long a claim holds a delivery: well beyond one request.
    fn lease(&self) -> Duration {
        self.state.config.webhook_timeout().saturating_mul(2) + Duration::from_secs(60)
    }

    /// One attempt: the signed POST, and what came of it.
    async fn attempt(&self, row: &Claimed) -> Outcome {
        let url = match url::Url::parse(&row.url) {
            Ok(url) => url,
            Err(err) => return Outcome::NoAnswer(format!("the endpoint's URL cannot be read: {err}")),
        };
        if let Err(refused) = self.guard.check_url(&url) {
            return Outcome::Refused(refused.to_string());
        }
        let id = message_id(row.id);
        let timestamp = Utc::now().timestamp();
        let signature = match standardwebhooks::Webhook::new(&row.secret).and_then(|hook| hook.sign(&id, timestamp, row.payload.as_bytes())) {
            Ok(signature) => signature,
            Err(err) => return Outcome::NoAnswer(format!("cannot sign the payload: {err}")),
        };
        let request = self
            .client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(standardwebhooks::HEADER_WEBHOOK_ID, &id)
            .header(standardwebhooks::HEADER_WEBHOOK_TIMESTAMP, timestamp.to_string())
            .header(standardwebhooks::HEADER_WEBHOOK_SIGNATURE, signature)
            .body(row.payload.clone());
        let response = match request.send().await {
            Ok(response) => response,
            Err(err) => {
                return match refusal_in(&err) {
                    Some(refused) => Outcome::Refused(refused.to_string()),
                    None if err.is_timeout() => Outcome::NoAnswer(format!("no answer within {} s", self.state.config.webhook_timeout_secs)),
                    None => Outcome::NoAnswer(error_chain(&err)),
                };
            }
        };
        let status = response.status().as_u16();
        let retry_after = response.headers().get(reqwest::header::RETRY_AFTER).and_then(|v| v.to_str().ok()).and_then(parse_retry_after);
        let body = read_capped(response).await;
        Outcome::Answered(Answer { status, body, retry_after })
    }

    async fn record_attempt(&self, row: &Claimed, token: Uuid, started: DateTime<Utc>, now: DateTime<Utc>, outcome: Outcome) -> Result<Option<Recorded>> {
        let finished = Utc::now();
        let out_of_attempts = row.cycle_attempts >= row.max_attempts;
        let (recorded, status, body, error, retry_after) = match &outcome {
            Outcome::Answered(a) if (200..300).contains(&a.status) => (Recorded::Sent, Some(a.status), Some(&a.body), None, None),
            Outcome::Answered(a) if a.status == 410 => {
                (Recorded::Failed, Some(a.status), Some(&a.body), Some("the endpoint answered 410 Gone and was turned off".to_owned()), None)
            }
            Outcome::Answered(a) => {
                let error = format!("the endpoint answered {}", a.status);
                (if out_of_attempts { Recorded::Failed } else { Recorded::Retry }, Some(a.status), Some(&a.body), Some(error), a.retry_after)
            }
            Outcome::Refused(reason) => (Recorded::Failed, None, None, Some(reason.clone()), None),
            Outcome::NoAnswer(reason) => (if out_of_attempts { Recorded::Failed } else { Recorded::Retry }, None, None, Some(reason.clone()), None),
        };
        let status = status.map(i32::from);
        let mut tx = self.state.db.begin().await?;
        let updated = match recorded {
            Recorded::Sent => {
                const SQL: &str = "UPDATE webhook_deliveries SET state = 'delivered', delivered_at = $1, last_status = $2, last_error = NULL, \
                                   claimed_until = NULL, claim_token = NULL WHERE id = $3 AND claim_token = $4";
                with_tx!(&mut tx, conn => sqlx::query(SQL).bind(finished).bind(status).bind(row.id).bind(token).execute(&mut *conn).await?.rows_affected())
            }
            Recorded::Failed => {
                const SQL: &str = "UPDATE webhook_deliveries SET state = 'failed', failed_at = $1, last_status = $2, last_error = $3, \
                                   claimed_until = NULL, claim_token = NULL WHERE id = $4 AND claim_token = $5";
                with_tx!(&mut tx, conn => sqlx::query(SQL).bind(finished).bind(status).bind(&error).bind(row.id).bind(token).execute(&mut *conn).await?.rows_affected())
            }
            Recorded::Retry => {
                let retry_at = now + chrono::Duration::from_std(next_delay(row.cycle_attempts, retry_after)).unwrap_or(chrono::Duration::MAX);
                const SQL: &str = "UPDATE webhook_deliveries SET state = 'pending', next_attempt_at = $1, last_status = $2, last_error = $3, \
                                   claimed_until = NULL, claim_token = NULL WHERE id = $4 AND claim_token = $5";
                with_tx!(&mut tx, conn => sqlx::query(SQL).bind(retry_at).bind(status).bind(&error).bind(row.id).bind(token).execute(&mut *conn).await?.rows_affected())
            }
        };
        // Kept even when the lease was lost (the attempt happened), unless the delivery went
        // with its endpoint.
        const ATTEMPT: &str = "INSERT INTO webhook_attempts (id, delivery_id, attempt, started_at, finished_at, ok, response_status, response_body, error) \
                               SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9 WHERE EXISTS (SELECT 1 FROM webhook_deliveries WHERE id = $2)";
        with_tx!(&mut tx, conn => sqlx::query(ATTEMPT)
            .bind(Uuid::now_v7()).bind(row.id).bind(row.attempts).bind(started).bind(finished)
            .bind(recorded == Recorded::Sent).bind(status).bind(body.map(String::as_str)).bind(&error)
            .execute(&mut *conn).await?.rows_affected());
        let gone = matches!(&outcome, Outcome::Answered(a) if a.status == 410);
        if gone && updated > 0 {
            const DISABLE: &str = "UPDATE webhook_endpoints SET enabled = FALSE, disabled_reason = $1, updated_at = $2 WHERE id = $3";
            let reason = format!("answered 410 Gone on {}", finished.format("%Y-%m-%d %H:%M UTC"));
            with_tx!(&mut tx, conn => sqlx::query(DISABLE).bind(reason).bind(finished).bind(row.endpoint_id).execute(&mut *conn).await?.rows_affected());
        }
        tx.commit().await?;
        if updated == 0 {
            return Ok(None);
        }
        match recorded {
            Recorded::Sent => tracing::info!(delivery_id = %row.id, endpoint_id = %row.endpoint_id, attempt = row.attempts, status, "webhook delivered"),
            Recorded::Retry => tracing::warn!(delivery_id = %row.id, endpoint_id = %row.endpoint_id, attempt = row.attempts, error, "webhook attempt failed; will retry"),
            Recorded::Failed => tracing::warn!(delivery_id = %row.id, endpoint_id = %row.endpoint_id, attempt = row.attempts, error, "webhook failed; giving up"),
        }
        Ok(Some(recorded))
    }

    /// Sends a `webhook.ping` to an endpoint now (enabled or not), once, and records it as a
    /// delivery like any other. Returns the delivery's id.
    pub async fn ping(&self, endpoint_id: Uuid, now: DateTime<Utc>) -> Result<Uuid> {
        let message = hdms_api_types::webhooks::WebhookMessage::Ping { timestamp: now, data: hdms_api_types::webhooks::PingData { endpoint_id } };
        let payload = serde_json::to_string(&message).map_err(anyhow::Error::from)?;
        let (id, token) = (Uuid::now_v7(), Uuid::now_v7());
        self.guard.admit(super::settings::admitted(&self.state.db).await?);
        // Stored already claimed by this instance, so no worker takes it meanwhile.
        const SQL: &str = "INSERT INTO webhook_deliveries (id, endpoint_id, event_type, payload, state, attempts, cycle_attempts, max_attempts, \
                           next_attempt_at, claimed_until, claim_token, created_at) VALUES ($1, $2, $3, $4, 'sending', 1, 1, 1, $5, $6, $7, $5)";
        let lease = chrono::Duration::from_std(self.lease()).unwrap_or(chrono::Duration::MAX);
        let mut tx = self.state.db.begin().await?;
        with_tx!(&mut tx, conn => sqlx::query(SQL).bind(id).bind(endpoint_id).bind(message.type_name()).bind(&payload)
            .bind(now).bind(now + lease).bind(token).execute(&mut *conn).await?.rows_affected());
        tx.commit().await?;
        let row = self.claimed(token).await?.into_iter().next().ok_or(crate::error::Error::NotFound { what: "webhook endpoint" })?;
        let started = Utc::now();
        let outcome = self.attempt(&row).await;
        self.record_attempt(&row, token, started, now, outcome).await?;
        Ok(id)
    }
}

/// The wait before the next attempt, after `made` attempts in this cycle: the schedule's next
/// step, give or take a tenth (so deliveries that failed together do not all come back
/// together), or the receiver's `Retry-After` when that is later.
pub fn next_delay(made: i32, retry_after: Option<Duration>) -> Duration {
    let step = SCHEDULE[usize::try_from(made).unwrap_or(0).min(SCHEDULE.len() - 1)];
    let jittered = step.mul_f64(rand::random_range(0.9..1.1));
    match retry_after {
        Some(asked) => jittered.max(asked.min(MAX_RETRY_AFTER)),
        None => jittered,
    }
}

/// `Retry-After`: seconds, or an HTTP date.
fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = DateTime::parse_from_rfc2822(value).ok()?;
    (at.with_timezone(&Utc) - Utc::now()).to_std().ok()
}

/// The start of the answer's body, at most [`BODY_CAP`] bytes (cut on a character boundary);
/// the rest is not read.
async fn read_capped(mut response: reqwest::Response) -> String {
    let mut body = Vec::new();
    while body.len() < BODY_CAP {
        match response.chunk().await {
            Ok(Some(chunk)) => body.extend_from_slice(&chunk),
            _ => break,
        }
    }
    body.truncate(BODY_CAP);
    let mut text = String::from_utf8_lossy(&body).into_owned();
    while text.len() > BODY_CAP {
        text.pop();
    }
    text
}

fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(err) = source {
        text.push_str(": ");
        text.push_str(&err.to_string());
        source = err.source();
    }
    text
}

impl Outbox for Worker {
    type Pass = ();
    type Row = Claimed;
    type Outcome = Outcome;
    const WHAT: &'static str = "webhook";

    async fn begin(&self, now: DateTime<Utc>, round: &mut Round) -> Result<Option<()>> {
        self.guard.admit(super::settings::admitted(&self.state.db).await?);
        round.failed += self.expire_abandoned(now).await?;
        Ok(Some(()))
    }

    async fn claim(&self, token: Uuid, now: DateTime<Utc>) -> Result<Vec<Claimed>> {
        self.claim_due(token, now).await
    }

    async fn send(&self, _: &(), row: &Claimed) -> Outcome {
        self.attempt(row).await
    }

    async fn record(&self, row: &Claimed, token: Uuid, started: DateTime<Utc>, now: DateTime<Utc>, outcome: Outcome) -> Result<Option<Recorded>> {
        self.record_attempt(row, token, started, now, outcome).await
    }

    fn id(row: &Claimed) -> Uuid {
        row.id
    }
}

/// Starts the worker (see [`outbox::spawn`]).
pub fn spawn(state: AppState) -> anyhow::Result<Background> {
    let poll = state.config.webhook_poll();
    Ok(outbox::spawn(Worker::new(state)?, poll))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_the_schedule_with_jitter_and_retry_after() {
        for _ in 0..50 {
            let second = next_delay(1, None);
            assert!(second >= Duration::from_millis(4500) && second <= Duration::from_millis(5500), "{second:?}");
            let third = next_delay(2, None);
            assert!(third >= Duration::from_secs(270) && third <= Duration::from_secs(330), "{third:?}");
        }
        assert_eq!(next_delay(1, Some(Duration::from_secs(120))), Duration::from_secs(120));
        assert!(next_delay(2, Some(Duration::from_secs(1))) >= Duration::from_secs(270));
        assert_eq!(next_delay(1, Some(Duration::from_secs(1_000_000))), MAX_RETRY_AFTER);
    }

    #[test]
    fn reads_retry_after_in_both_forms() {
        assert_eq!(parse_retry_after(" 120 "), Some(Duration::from_secs(120)));
        let later = (Utc::now() + chrono::Duration::seconds(600)).format("%a, %d %b %Y %H:%M:%S GMT").to_string();
        let parsed = parse_retry_after(&later).unwrap();
        assert!(parsed > Duration::from_secs(590) && parsed <= Duration::from_secs(600), "{parsed:?}");
        assert_eq!(parse_retry_after("soon"), None);
    }
}
