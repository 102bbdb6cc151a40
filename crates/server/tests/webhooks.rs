//! Outgoing webhooks on both backends, against a real receiver (an axum server in the test):
//! every request's signature is checked with the Standard Webhooks crate and again with Python's
//! `standardwebhooks` package (installed by .ci/run), an implementation that shares no code with
//! ours. Also: only committed changes send anything, the retry schedule and `Retry-After`, 410
//! turning an endpoint off, refusals of internal addresses (literal and behind a name), the
//! delivery log, redelivery with the same `webhook-id`, the ping, two instances sending each
//! delivery once, and a server killed between commit and delivery delivering after a restart.
//!
//! The servers' own workers poll once an hour here, so the tests drive delivery with
//! `Worker::run_once` and a clock of their choosing, except where the spawned worker is what is
//! tested.

mod common;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration as StdDuration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use chrono::{DateTime, Duration, Utc};
use common::{ADMIN_EMAIL, ADMIN_PASSWORD, Backend, JWT_SECRET, TestServer, assert_api_error};
use hdms_api_types::Role;
use hdms_api_types::client::Client;
use hdms_api_types::tickets::{CreateComment, CreateTicket, UpdateTicket};
use hdms_api_types::users::CreateUser;
use hdms_api_types::webhooks::{
    CreateWebhookEndpoint, UpdateWebhookEndpoint, UpdateWebhookSettings, WebhookDeliveryQuery, WebhookDeliveryState, WebhookEventType,
    WebhookMessage, WebhookSettings,
};
use hdms_server::comms::sms::worker::Round;
use hdms_server::comms::webhooks::{self, worker::Worker};
use hdms_server::config::Config;
use hdms_server::with_db;
use tokio::sync::Notify;
use uuid::Uuid;

const HOUR_MS: u64 = 3_600_000;

// --- a receiver ---------------------------------------------------------------------------------

#[derive(Debug, Clone)]
struct Received {
    headers: HeaderMap,
    body: String,
}

impl Received {
    fn header(&self, name: &str) -> String {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned()
    }

    fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).expect("the body is JSON")
    }
}

/// How the receiver answers: status, headers, body; once the script runs out, 200.
type Reply = (u16, Vec<(&'static str, String)>, String);

#[derive(Clone, Default)]
struct ReceiverState {
    received: Arc<Mutex<Vec<Received>>>,
    script: Arc<Mutex<VecDeque<Reply>>>,
    arrived: Arc<Notify>,
}

struct Receiver {
    /// By name (`localhost`), so the client's resolver and the guard's allow-list are on the path.
    url: String,
    port: u16,
    state: ReceiverState,
}

impl Receiver {
    async fn start() -> Receiver {
        let state = ReceiverState::default();
        let app = axum::Router::new().route("/hook", axum::routing::post(receive)).with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Receiver { url: format!("http://localhost:{port}/hook"), port, state }
    }

    fn answer(&self, replies: impl IntoIterator<Item = Reply>) {
        self.state.script.lock().unwrap().extend(replies);
    }

    fn received(&self) -> Vec<Received> {
        self.state.received.lock().unwrap().clone()
    }

    /// Waits until `n` requests have arrived (the spawned worker's tests only).
    async fn wait_for(&self, n: usize) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + StdDuration::from_secs(60);
        loop {
            let notified = self.state.arrived.notified();
            if self.received().len() >= n {
                return self.received();
            }
            assert!(tokio::time::Instant::now() < deadline, "only {} of {n} requests arrived", self.received().len());
            let _ = tokio::time::timeout(StdDuration::from_millis(200), notified).await;
        }
    }
}

async fn receive(State(state): State<ReceiverState>, headers: HeaderMap, body: String) -> axum::response::Response {
    state.received.lock().unwrap().push(Received { headers, body });
    state.arrived.notify_waiters();
    let (status, headers, body) = state.script.lock().unwrap().pop_front().unwrap_or((200, Vec::new(), "thanks".to_owned()));
    let mut response = (StatusCode::from_u16(status).unwrap(), body).into_response();
    for (name, value) in headers {
        response.headers_mut().insert(name, value.parse().unwrap());
    }
    response
}

/// Checks every request's signature with the Standard Webhooks crate and with Python's
/// `standardwebhooks`; both must also reject the same request with its body altered.
fn verify_all(secret: &str, received: &[Received]) {
    assert!(!received.is_empty());
    let hook = standardwebhooks::Webhook::new(secret).unwrap();
    for request in received {
        hook.verify(request.body.as_bytes(), &request.headers).unwrap_or_else(|e| panic!("signature of {}: {e}", request.body));
        let tampered = format!("{} ", request.body);
        assert!(hook.verify(tampered.as_bytes(), &request.headers).is_err(), "a changed body fails");
        assert!(request.header("webhook-signature").starts_with("v1,"));
        assert_eq!(request.header("content-type"), "application/json");
    }
    verify_with_python(secret, received);
}

const PYTHON_VERIFY: &str = r#"
import json, sys
from standardwebhooks.webhooks import Webhook, WebhookVerificationError
cases = json.load(sys.stdin)
for case in cases:
    hook = Webhook(case["secret"])
    headers = {"webhook-id": case["id"], "webhook-timestamp": case["timestamp"], "webhook-signature": case["signature"]}
    hook.verify(case["body"], headers)
    try:
        hook.verify(case["body"] + " ", headers)
        sys.exit("a tampered body verified")
    except WebhookVerificationError:
        pass
print("verified", len(cases))
"#;

fn verify_with_python(secret: &str, received: &[Received]) {
    use std::io::Write;
    let cases: Vec<serde_json::Value> = received
        .iter()
        .map(|r| {
            serde_json::json!({"secret": secret, "id": r.header("webhook-id"), "timestamp": r.header("webhook-timestamp"),
                "signature": r.header("webhook-signature"), "body": r.body})
        })
        .collect();
    let mut child = std::process::Command::new("python3")
        .args(["-c", PYTHON_VERIFY])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python3 runs (.ci/run installs it with the standardwebhooks package)");
    child.stdin.take().unwrap().write_all(serde_json::to_string(&cases).unwrap().as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "Python's standardwebhooks rejected a delivery (or is missing: pip install standardwebhooks): {}{stdout}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(stdout.trim(), format!("verified {}", received.len()));
}

// --- helpers ------------------------------------------------------------------------------------

fn allow_loopback(config: &mut Config) {
    config.webhook_poll_ms = HOUR_MS;
    config.webhook_allow = vec!["127.0.0.0/8".parse().unwrap(), "::1/128".parse().unwrap()];
}

async fn server(backend: Backend) -> TestServer {
    TestServer::start_with(backend, allow_loopback).await
}

fn worker(server: &TestServer) -> Worker {
    Worker::new(server.state.clone()).unwrap()
}

async fn endpoint(admin: &Client, url: &str, events: &[WebhookEventType]) -> (Uuid, String) {
    let created = admin
        .create_webhook(&CreateWebhookEndpoint { url: url.to_owned(), description: "test receiver".into(), events: events.to_vec(), enabled: None })
        .await
        .unwrap();
    assert!(created.secret.starts_with("whsec_"));
    (created.endpoint.id, created.secret)
}

async fn ticket(admin: &Client, subject: &str) -> hdms_api_types::tickets::Ticket {
    admin
        .create_ticket(&CreateTicket { subject: subject.into(), description: "It broke.".into(), ..Default::default() })
        .await
        .unwrap()
}

async fn count_deliveries(server: &TestServer) -> i64 {
    with_db!(&server.state.db, pool => sqlx::query_scalar("SELECT COUNT(*) FROM webhook_deliveries").fetch_one(pool).await.unwrap())
}

async fn next_attempt_at(server: &TestServer, id: Uuid) -> DateTime<Utc> {
    with_db!(&server.state.db, pool => sqlx::query_scalar("SELECT next_attempt_at FROM webhook_deliveries WHERE id = $1")
        .bind(id).fetch_one(pool).await.unwrap())
}

fn delivery_id(request: &Received) -> Uuid {
    let id = request.header("webhook-id");
    Uuid::try_parse(id.strip_prefix("msg_").expect("webhook-id is msg_…")).unwrap()
}

// --- tests --------------------------------------------------------------------------------------

async fn events_reach_subscribed_endpoints_signed(backend: Backend) {
    let server = server(backend).await;
    let receiver = Receiver::start().await;
    let admin = server.admin().await;
    use WebhookEventType::*;
    let (_, secret) = endpoint(&admin, &receiver.url, &[TicketCreated, TicketUpdated, CommentCreated, UserCreated]).await;
    // Subscribed to something else: hears nothing of tickets.
    let other = Receiver::start().await;
    endpoint(&admin, &other.url, &[ApprovalDecided]).await;

    let created = ticket(&admin, "Printer on floor 3 jams").await;
    admin.comment(created.id, &CreateComment { body: "Looking into it.".into(), internal: true }).await.unwrap();
    let update = UpdateTicket { priority: Some(hdms_api_types::tickets::Priority::High), version: Some(created.version), ..Default::default() };
    admin.update_ticket(created.id, &update).await.unwrap();
    let (_, user) = server.user(Role::Agent).await;

    let round = worker(&server).run_once(Utc::now()).await.unwrap();
    assert_eq!(round, Round { sent: 4, retried: 0, failed: 0 });
    // Sent concurrently: in the order they were queued, by their time-ordered ids.
    let mut received = receiver.received();
    received.sort_by_key(delivery_id);
    let types: Vec<String> = received.iter().map(|r| r.json()["type"].as_str().unwrap().to_owned()).collect();
    assert_eq!(types, ["ticket.created", "comment.created", "ticket.updated", "user.created"]);
    assert!(other.received().is_empty());

    let created_json = received[0].json();
    assert_eq!(created_json["data"]["ticket"]["number"], created.number.as_str());
    assert_eq!(created_json["data"]["ticket"]["status"], "new");
    assert!(created_json["timestamp"].is_string());
    let comment = received[1].json();
    assert_eq!(comment["data"]["comment"]["body"], "Looking into it.");
    assert_eq!(comment["data"]["comment"]["internal"], true);
    let updated = received[2].json();
    assert_eq!(updated["data"]["ticket"]["priority"], "high");
    assert_eq!(updated["data"]["changes"], serde_json::json!([{"field": "priority", "before": "normal", "after": "high"}]));
    assert_eq!(received[3].json()["data"]["user"]["email"], user.email.as_str());
    // Each body is a WebhookMessage, as documented.
    for request in &received {
        serde_json::from_str::<WebhookMessage>(&request.body).unwrap_or_else(|e| panic!("{e}: {}", request.body));
    }
    verify_all(&secret, &received);
    // The webhook-id names the delivery.
    for request in &received {
        assert_eq!(delivery_id(request).get_version_num(), 7);
    }
}

async fn only_committed_changes_are_sent(backend: Backend) {
    let server = server(backend).await;
    let receiver = Receiver::start().await;
    let admin = server.admin().await;
    let (endpoint_id, _) = endpoint(&admin, &receiver.url, &[WebhookEventType::UserCreated]).await;
    let user = admin.me().await.unwrap();
    let message = WebhookMessage::UserCreated { timestamp: Utc::now(), data: hdms_api_types::webhooks::UserEventData { user } };

    let mut tx = server.state.db.begin().await.unwrap();
    assert_eq!(webhooks::enqueue(&mut tx, &message, Utc::now()).await.unwrap(), 1);
    assert!(webhooks::enqueue_to(&mut tx, endpoint_id, &message, Utc::now()).await.unwrap().is_some());
    drop(tx); // rolled back
    assert_eq!(count_deliveries(&server).await, 0);

    // A request that fails inside its transaction leaves nothing either: a duplicate email.
    let duplicate = CreateUser { email: common::ADMIN_EMAIL.into(), name: "Again".into(), role: Role::Agent, phone: None, password: None };
    assert_api_error(admin.create_user(&duplicate).await, 409, "email_taken");
    assert_eq!(count_deliveries(&server).await, 0);

    let mut tx = server.state.db.begin().await.unwrap();
    webhooks::enqueue(&mut tx, &message, Utc::now()).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(count_deliveries(&server).await, 1);
    assert_eq!(worker(&server).run_once(Utc::now()).await.unwrap().sent, 1);
    assert_eq!(receiver.received().len(), 1);
}

async fn retries_on_the_schedule_and_honours_retry_after(backend: Backend) {
    let server = server(backend).await;
    let receiver = Receiver::start().await;
    let admin = server.admin().await;
    let (endpoint_id, secret) = endpoint(&admin, &receiver.url, &[WebhookEventType::TicketCreated]).await;
    let long = "x".repeat(10_000);
    receiver.answer([(500, vec![], long.clone()), (503, vec![("retry-after", "3600".to_owned())], "busy".into()), (200, vec![], "ok".into())]);
    ticket(&admin, "Retry me").await;
    let worker = worker(&server);
    let t0 = Utc::now();

    assert_eq!(worker.run_once(t0).await.unwrap().retried, 1);
    let id = delivery_id(&receiver.received()[0]);
    // The spec's second step, 5 seconds, give or take a tenth.
    let wait = next_attempt_at(&server, id).await - t0;
    assert!(wait >= Duration::milliseconds(4500) && wait <= Duration::milliseconds(5500), "{wait:?}");
    assert_eq!(worker.run_once(t0 + Duration::seconds(4)).await.unwrap(), Round::default());

    let t1 = t0 + Duration::seconds(6);
    assert_eq!(worker.run_once(t1).await.unwrap().retried, 1);
    // 5 minutes by the schedule, but the receiver asked for an hour.
    let wait = next_attempt_at(&server, id).await - t1;
    // (PostgreSQL keeps microseconds.)
    assert!(wait >= Duration::milliseconds(3_599_999) && wait < Duration::seconds(3601), "{wait:?}");
    assert_eq!(worker.run_once(t1 + Duration::minutes(10)).await.unwrap(), Round::default());
    assert_eq!(worker.run_once(t1 + Duration::seconds(3601)).await.unwrap().sent, 1);

    let received = receiver.received();
    assert_eq!(received.len(), 3);
    assert!(received.iter().all(|r| delivery_id(r) == id), "the same webhook-id on every attempt");
    verify_all(&secret, &received);

    let detail = admin.webhook_delivery(endpoint_id, id).await.unwrap();
    assert_eq!(detail.delivery.state, WebhookDeliveryState::Delivered);
    assert_eq!(detail.delivery.attempts, 3);
    let statuses: Vec<Option<u16>> = detail.attempt_log.iter().map(|a| a.response_status).collect();
    assert_eq!(statuses, [Some(500), Some(503), Some(200)]);
    let first = &detail.attempt_log[0];
    assert!(!first.ok && detail.attempt_log[2].ok);
    assert_eq!(first.response_body.as_deref(), Some(&long[..4096]), "the answer is kept, capped at 4 KiB");
    assert!(first.duration_ms >= 0 && first.finished_at >= first.started_at);
    assert_eq!(detail.payload, received[0].body);
    let log = admin.webhook_deliveries(endpoint_id, &WebhookDeliveryQuery::default()).await.unwrap();
    assert_eq!((log.len(), log[0].last_status), (1, Some(200)));
}

async fn gives_up_when_the_schedule_runs_out(backend: Backend) {
    let server = server(backend).await;
    let receiver = Receiver::start().await;
    let admin = server.admin().await;
    let (endpoint_id, _) = endpoint(&admin, &receiver.url, &[WebhookEventType::TicketCreated]).await;
    receiver.answer((0..8).map(|_| (500, vec![], String::new())));
    ticket(&admin, "Never works").await;
    let worker = worker(&server);
    let mut now = Utc::now();
    for attempt in 1..=8 {
        let round = worker.run_once(now).await.unwrap();
        let expected = if attempt < 8 { Round { retried: 1, ..Round::default() } } else { Round { failed: 1, ..Round::default() } };
        assert_eq!(round, expected, "attempt {attempt}");
        now += Duration::hours(12);
    }
    assert_eq!(worker.run_once(now).await.unwrap(), Round::default());
    let log = admin.webhook_deliveries(endpoint_id, &WebhookDeliveryQuery { state: Some("failed".into()), limit: None }).await.unwrap();
    assert_eq!((log.len(), log[0].attempts), (1, 8));
    assert_eq!(log[0].last_error.as_deref(), Some("the endpoint answered 500"));
}

async fn an_endpoint_answering_410_is_turned_off(backend: Backend) {
    let server = server(backend).await;
    let receiver = Receiver::start().await;
    let admin = server.admin().await;
    let (endpoint_id, _) = endpoint(&admin, &receiver.url, &[WebhookEventType::TicketCreated]).await;
    receiver.answer([(410, vec![], "gone".into())]);
    ticket(&admin, "One").await;
    assert_eq!(worker(&server).run_once(Utc::now()).await.unwrap().failed, 1);
    let endpoint = admin.get_webhook(endpoint_id).await.unwrap();
    assert!(!endpoint.enabled);
    assert!(endpoint.disabled_reason.as_deref().unwrap().contains("410"), "{endpoint:?}");
    // Nothing is queued for it any more, and redelivery says why not.
    ticket(&admin, "Two").await;
    assert_eq!(count_deliveries(&server).await, 1);
    let delivery = admin.webhook_deliveries(endpoint_id, &WebhookDeliveryQuery::default()).await.unwrap()[0].clone();
    assert_eq!(delivery.state, WebhookDeliveryState::Failed);
    assert_api_error(admin.redeliver_webhook(endpoint_id, delivery.id).await, 409, "endpoint_disabled");
    // Turned on again: the reason goes, redelivery works.
    let update = UpdateWebhookEndpoint { enabled: Some(true), ..Default::default() };
    let endpoint = admin.update_webhook(endpoint_id, &update).await.unwrap().endpoint;
    assert!(endpoint.enabled && endpoint.disabled_reason.is_none());
    admin.redeliver_webhook(endpoint_id, delivery.id).await.unwrap();
    assert_eq!(worker(&server).run_once(Utc::now()).await.unwrap().sent, 1);
    assert_eq!(receiver.received().len(), 2);
}

async fn internal_addresses_are_refused(backend: Backend) {
    // The default: no allow-list.
    let server = TestServer::start_with(backend, |config| config.webhook_poll_ms = HOUR_MS).await;
    let receiver = Receiver::start().await;
    let admin = server.admin().await;
    // Literal addresses are refused when saved...
    for url in ["http://127.0.0.1:9/hook", "http://10.1.2.3/hook", "http://169.254.169.254/latest/meta-data/", "http://[::1]/x", "http://2130706433/"] {
        let request = CreateWebhookEndpoint { url: url.into(), description: String::new(), events: vec![WebhookEventType::TicketCreated], enabled: None };
        assert_api_error(admin.create_webhook(&request).await, 422, "validation_failed");
    }
    // ...names when they are resolved, on each attempt: `localhost` is the receiver's loopback.
    let (by_name, _) = endpoint(&admin, &receiver.url, &[WebhookEventType::TicketCreated]).await;
    // A literal stored before the check (or by an older version) is refused when sent.
    let (literal, _) = endpoint(&admin, "https://hooks.example.com/a", &[WebhookEventType::TicketCreated]).await;
    let (metadata, _) = endpoint(&admin, "https://hooks.example.com/b", &[WebhookEventType::TicketCreated]).await;
    let (private, _) = endpoint(&admin, "https://hooks.example.com/c", &[WebhookEventType::TicketCreated]).await;
    for (id, url) in [(literal, format!("http://127.0.0.1:{}/hook", receiver.port)), (metadata, "http://169.254.169.254/".to_owned()), (private, "http://10.0.0.7/".to_owned())] {
        with_db!(&server.state.db, pool => sqlx::query("UPDATE webhook_endpoints SET url = $1 WHERE id = $2").bind(url).bind(id).execute(pool).await.unwrap().rows_affected());
    }
    // Names whose answer is an internal address: the worker's resolver answers them as a DNS
    // server would (the guard judges the answer like any other).
    let (metadata_name, _) = endpoint(&admin, "http://metadata.hdms.test/latest/meta-data/", &[WebhookEventType::TicketCreated]).await;
    let (private_name, _) = endpoint(&admin, "https://intranet.hdms.test/hook", &[WebhookEventType::TicketCreated]).await;
    let hosts = [("metadata.hdms.test", "169.254.169.254"), ("intranet.hdms.test", "10.0.0.7")]
        .into_iter()
        .map(|(name, ip)| (name.to_owned(), vec![ip.parse().unwrap()]))
        .collect();
    ticket(&admin, "Hello internal network").await;
    let round = Worker::with_hosts(server.state.clone(), hosts).unwrap().run_once(Utc::now()).await.unwrap();
    assert_eq!(round, Round { failed: 6, ..Round::default() }, "refusals are final, not retried");
    assert!(receiver.received().is_empty(), "nothing reached the loopback receiver");
    let expected = [
        (by_name, "a loopback address"),
        (literal, "127.0.0.1: a loopback address"),
        (metadata, "169.254.169.254: a cloud metadata address"),
        (private, "10.0.0.7: a private address"),
        (metadata_name, "169.254.169.254: a cloud metadata address"),
        (private_name, "10.0.0.7: a private address"),
    ];
    for (id, expected) in expected {
        let log = admin.webhook_deliveries(id, &WebhookDeliveryQuery::default()).await.unwrap();
        let error = log[0].last_error.clone().unwrap_or_default();
        assert!(error.starts_with("refused to deliver to") && error.contains(expected), "{id}: {error}");
        assert_eq!(log[0].last_status, None);
        let detail = admin.webhook_delivery(id, log[0].id).await.unwrap();
        assert_eq!(detail.attempt_log.len(), 1, "one attempt, logged with its reason");
        assert_eq!(detail.attempt_log[0].error.as_deref(), Some(error.as_str()));
    }
}

/// Admins allow internal receivers through the API (beside HDMS_WEBHOOK_ALLOW): saving and
/// sending follow the list as it is now, on every attempt.
async fn admins_allow_internal_networks(backend: Backend) {
    let server = TestServer::start_with(backend, |config| config.webhook_poll_ms = HOUR_MS).await;
    let receiver = Receiver::start().await;
    let admin = server.admin().await;
    let literal = format!("http://127.0.0.1:{}/hook", receiver.port);
    let create = |url: &str| CreateWebhookEndpoint { url: url.into(), description: String::new(), events: vec![WebhookEventType::TicketCreated], enabled: None };
    assert_api_error(admin.create_webhook(&create(&literal)).await, 422, "validation_failed");
    assert_eq!(admin.webhook_settings().await.unwrap(), WebhookSettings { allow: vec![], configured_allow: vec![] });

    let allow = UpdateWebhookSettings { allow: vec![" 127.0.0.1".into(), "10.20.3.4/16".into(), "127.0.0.1/32".into()] };
    let set = admin.update_webhook_settings(&allow).await.unwrap();
    assert_eq!(set.allow, ["10.20.0.0/16", "127.0.0.1/32"], "normalised, sorted, once each");
    let (by_literal, secret) = endpoint(&admin, &literal, &[WebhookEventType::TicketCreated]).await;
    endpoint(&admin, &receiver.url, &[WebhookEventType::TicketCreated]).await;
    ticket(&admin, "Allowed inside").await;
    assert_eq!(worker(&server).run_once(Utc::now()).await.unwrap(), Round { sent: 2, ..Round::default() });
    // Queued in the order the endpoints were made: the first delivery is the literal one's.
    let mut received = receiver.received();
    received.sort_by_key(delivery_id);
    verify_all(&secret, &received[..1]);

    // Taken off the list: the next attempt is refused, by the same worker.
    let worker = worker(&server);
    admin.update_webhook_settings(&UpdateWebhookSettings { allow: vec!["10.20.0.0/16".into()] }).await.unwrap();
    ticket(&admin, "Not any more").await;
    assert_eq!(worker.run_once(Utc::now()).await.unwrap(), Round { failed: 2, ..Round::default() });
    let log = admin.webhook_deliveries(by_literal, &WebhookDeliveryQuery::default()).await.unwrap();
    assert!(log[0].last_error.as_deref().unwrap_or_default().contains("a loopback address"), "{:?}", log[0]);
    assert_eq!(receiver.received().len(), 2);

    for bad in ["intranet", "0.0.0.0/0", "10.0.0.0/33"] {
        assert_api_error(admin.update_webhook_settings(&UpdateWebhookSettings { allow: vec![bad.into()] }).await, 422, "validation_failed");
    }
    let (agent, _) = server.user(Role::Agent).await;
    assert_api_error(agent.webhook_settings().await, 403, "forbidden");
    assert_api_error(agent.update_webhook_settings(&allow).await, 403, "forbidden");
    assert_eq!(admin.webhook_settings().await.unwrap().allow, ["10.20.0.0/16"]);
}

/// Users made by a CSV import are announced like any other, from the import's transaction: a
/// dry run announces nobody.
async fn imported_users_are_announced(backend: Backend) {
    let server = server(backend).await;
    let receiver = Receiver::start().await;
    let admin = server.admin().await;
    let (_, secret) = endpoint(&admin, &receiver.url, &[WebhookEventType::UserCreated]).await;
    let csv = "email,name,role\nada@example.com,Ada,agent\nbob@example.com,Bob,customer\n";
    let dry = hdms_api_types::import::ImportQuery { dry_run: Some(true), ..Default::default() };
    let report = admin.import_users(&dry, csv.as_bytes().to_vec(), Some(csv.len() as u64)).await.unwrap();
    assert_eq!(report.created, 2);
    assert_eq!(count_deliveries(&server).await, 0);
    let report = admin.import_users(&Default::default(), csv.as_bytes().to_vec(), Some(csv.len() as u64)).await.unwrap();
    assert_eq!(report.created, 2);
    // Again: both exist, nobody new.
    admin.import_users(&Default::default(), csv.as_bytes().to_vec(), Some(csv.len() as u64)).await.unwrap();
    assert_eq!(worker(&server).run_once(Utc::now()).await.unwrap().sent, 2);
    let mut emails: Vec<String> = receiver.received().iter().map(|r| r.json()["data"]["user"]["email"].as_str().unwrap().to_owned()).collect();
    emails.sort();
    assert_eq!(emails, ["ada@example.com", "bob@example.com"]);
    assert!(receiver.received().iter().all(|r| r.json()["type"] == "user.created"));
    verify_all(&secret, &receiver.received());
}

/// The SLA job's escalation (priority one step up) is a ticket change like any other: beside
/// `ticket.sla_breached`, endpoints hear `ticket.updated` with the change.
async fn an_escalation_is_a_ticket_update(backend: Backend) {
    let server = server(backend).await;
    let receiver = Receiver::start().await;
    let admin = server.admin().await;
    let policy = hdms_api_types::sla::SlaPolicyInput {
        name: "Normal".into(),
        priority: hdms_api_types::tickets::Priority::Normal,
        category: None,
        team_id: None,
        first_response_secs: 3600,
        resolution_secs: 8 * 3600,
        warning_percent: None,
        calendar: None,
    };
    admin.create_sla_policy(&policy).await.unwrap();
    let created = ticket(&admin, "Nobody answers").await;
    endpoint(&admin, &receiver.url, &[WebhookEventType::TicketUpdated, WebhookEventType::TicketSlaBreached]).await;
    let later = Utc::now() + Duration::minutes(90);
    let round = hdms_server::tickets::sla_job::run_once(&server.state, later).await.unwrap();
    assert_eq!(round.breaches, 1);
    assert_eq!(worker(&server).run_once(later).await.unwrap().sent, 2);
    let of_type = |name: &str| receiver.received().iter().map(Received::json).find(|json| json["type"] == name).unwrap_or_else(|| panic!("a {name}"));
    let breached = of_type("ticket.sla_breached");
    assert_eq!(breached["data"]["target"], "first_response");
    let updated = of_type("ticket.updated");
    assert_eq!(updated["data"]["ticket"]["number"], created.number.as_str());
    assert_eq!(updated["data"]["ticket"]["priority"], "high");
    assert_eq!(updated["data"]["actor_id"], serde_json::Value::Null, "the system did it");
    assert_eq!(updated["data"]["changes"], serde_json::json!([{"field": "priority", "before": "normal", "after": "high"}]));
}

async fn ping_and_redelivery(backend: Backend) {
    let server = server(backend).await;
    let receiver = Receiver::start().await;
    let admin = server.admin().await;
    let (endpoint_id, secret) = endpoint(&admin, &receiver.url, &[WebhookEventType::TicketCreated]).await;
    let ping = admin.ping_webhook(endpoint_id).await.unwrap();
    assert_eq!(ping.delivery.event_type, "webhook.ping");
    assert_eq!(ping.delivery.state, WebhookDeliveryState::Delivered);
    assert_eq!(ping.attempt_log.len(), 1);
    assert_eq!(ping.attempt_log[0].response_status, Some(200));
    assert_eq!(ping.attempt_log[0].response_body.as_deref(), Some("thanks"));
    let received = receiver.received();
    assert_eq!(received[0].json()["data"]["endpoint_id"], endpoint_id.to_string());

    // A failed ping is not retried.
    receiver.answer([(500, vec![], String::new())]);
    let failed = admin.ping_webhook(endpoint_id).await.unwrap();
    assert_eq!(failed.delivery.state, WebhookDeliveryState::Failed);
    assert_eq!(worker(&server).run_once(Utc::now() + Duration::hours(1)).await.unwrap(), Round::default());

    ticket(&admin, "Send me twice").await;
    worker(&server).run_once(Utc::now()).await.unwrap();
    let first = receiver.received().last().unwrap().clone();
    let id = delivery_id(&first);
    let again = admin.redeliver_webhook(endpoint_id, id).await.unwrap();
    assert_eq!(again.state, WebhookDeliveryState::Pending);
    assert_eq!(worker(&server).run_once(Utc::now()).await.unwrap().sent, 1);
    let second = receiver.received().last().unwrap().clone();
    assert_eq!(second.header("webhook-id"), first.header("webhook-id"), "redelivery keeps the webhook-id");
    assert_eq!(second.body, first.body);
    verify_all(&secret, &receiver.received());
    let detail = admin.webhook_delivery(endpoint_id, id).await.unwrap();
    assert_eq!((detail.delivery.attempts, detail.attempt_log.len()), (2, 2));
}

async fn endpoints_are_managed_by_admins(backend: Backend) {
    let server = server(backend).await;
    let admin = server.admin().await;
    let request = CreateWebhookEndpoint {
        url: "https://hooks.example.com/hdms".into(),
        description: "CRM".into(),
        events: vec![WebhookEventType::UserCreated, WebhookEventType::TicketCreated, WebhookEventType::TicketCreated],
        enabled: Some(false),
    };
    let created = admin.create_webhook(&request).await.unwrap();
    assert_eq!(created.endpoint.events, [WebhookEventType::TicketCreated, WebhookEventType::UserCreated]);
    assert!(!created.endpoint.enabled);
    // The secret is shown once: lists and reads never carry it.
    let listed = serde_json::to_string(&admin.list_webhooks().await.unwrap()).unwrap();
    assert!(!listed.contains(&created.secret) && !listed.contains("whsec_"));
    let id = created.endpoint.id;

    let update = UpdateWebhookEndpoint { url: Some("https://hooks.example.com/v2".into()), rotate_secret: true, ..Default::default() };
    let updated = admin.update_webhook(id, &update).await.unwrap();
    let rotated = updated.secret.expect("a rotated secret is shown");
    assert_ne!(rotated, created.secret);
    assert_eq!(updated.endpoint.url, "https://hooks.example.com/v2");
    assert_eq!(updated.endpoint.description, "CRM");
    assert!(admin.update_webhook(id, &UpdateWebhookEndpoint::default()).await.unwrap().secret.is_none());

    for (url, events) in [("ftp://hooks.example.com/", vec![WebhookEventType::UserCreated]), ("https://u:p@hooks.example.com/", vec![WebhookEventType::UserCreated]), ("https://hooks.example.com/", vec![])] {
        let request = CreateWebhookEndpoint { url: url.into(), description: String::new(), events, enabled: None };
        assert_api_error(admin.create_webhook(&request).await, 422, "validation_failed");
    }
    // An unknown event type is refused by name.
    let response = server.http().post(format!("{}/api/v1/webhooks", server.url)).bearer_auth(admin.token().unwrap())
        .json(&serde_json::json!({"url": "https://hooks.example.com/", "events": ["ticket.exploded"]})).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 422);

    let (agent, _) = server.user(Role::Agent).await;
    assert_api_error(agent.list_webhooks().await, 403, "forbidden");
    admin.delete_webhook(id).await.unwrap();
    assert_api_error(admin.get_webhook(id).await, 404, "not_found");
    assert_api_error(admin.delete_webhook(id).await, 404, "not_found");
}

async fn two_instances_send_each_delivery_once(backend: Backend) {
    let first = server(backend).await;
    let second = TestServer::start_config(first.config.clone(), tempfile::tempdir().unwrap()).await;
    let receiver = Receiver::start().await;
    let admin = first.admin().await;
    let (_, secret) = endpoint(&admin, &receiver.url, &[WebhookEventType::TicketCreated]).await;
    for n in 0..40 {
        ticket(&admin, &format!("ticket {n}")).await;
    }
    let now = Utc::now();
    let (a, b) = (worker(&first), worker(&second));
    let (ra, rb) = tokio::join!(tokio::spawn(async move { a.run_once(now).await.unwrap() }), tokio::spawn(async move { b.run_once(now).await.unwrap() }));
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    assert_eq!(ra.sent + rb.sent, 40, "first {ra:?}, second {rb:?}");
    let mut ids: Vec<String> = receiver.received().iter().map(|r| r.header("webhook-id")).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 40, "each delivery sent once");
    assert_eq!(receiver.received().len(), 40);
    verify_all(&secret, &receiver.received());
}

/// A real crash: `hdms-server` runs as its own process (its worker never polls), commits a
/// ticket whose delivery is queued, and is killed with SIGKILL; a server started afterwards on
/// the same database delivers it.
async fn a_delivery_survives_a_crash_after_commit(backend: Backend) {
    let receiver = Receiver::start().await;
    let data_dir = tempfile::tempdir().unwrap();
    let database_url = match backend {
        Backend::Sqlite => None,
        Backend::Postgres => Some(common::fresh_postgres_database().await),
    };
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_hdms-server"));
    command
        .env_clear()
        .env("HDMS_BIND", "127.0.0.1:0")
        .env("HDMS_DATA_DIR", data_dir.path())
        .env("HDMS_JWT_SECRET", JWT_SECRET)
        .env("HDMS_ADMIN_EMAIL", ADMIN_EMAIL)
        .env("HDMS_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env("HDMS_LOG_FORMAT", "json")
        .env("HDMS_WEBHOOK_POLL_MS", HOUR_MS.to_string())
        .env("HDMS_WEBHOOK_ALLOW", "127.0.0.0/8,::1/128")
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    if let Some(url) = &database_url {
        command.env("HDMS_DATABASE_URL", url);
    }
    let mut child = command.spawn().unwrap();
    let address = {
        use tokio::io::AsyncBufReadExt;
        let mut lines = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
        let mut address = None;
        while let Some(line) = tokio::time::timeout(StdDuration::from_secs(60), lines.next_line()).await.expect("the server starts").unwrap() {
            if line.contains("hdms-server listening") {
                let json: serde_json::Value = serde_json::from_str(&line).unwrap();
                address = json["address"].as_str().map(str::to_owned);
                break;
            }
        }
        // Keep draining so the child never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        address.expect("the server logs its address")
    };
    let admin = Client::new(&format!("http://{address}")).unwrap();
    admin.login(ADMIN_EMAIL, ADMIN_PASSWORD).await.unwrap();
    let (_, secret) = endpoint(&admin, &receiver.url, &[WebhookEventType::TicketCreated]).await;
    let created = ticket(&admin, "Survives a crash").await;
    child.kill().await.unwrap();
    assert!(receiver.received().is_empty());

    let mut config = Config::defaults();
    config.data_dir = data_dir.path().to_path_buf();
    config.database_url = database_url;
    config.jwt_secret = Some(JWT_SECRET.to_owned());
    config.db_max_connections = 5;
    allow_loopback(&mut config);
    config.webhook_poll_ms = 20;
    let _restarted = TestServer::start_config(config, data_dir).await;
    let received = receiver.wait_for(1).await;
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].json()["data"]["ticket"]["number"], created.number.as_str());
    verify_all(&secret, &received);
}

backend_tests!(
    events_reach_subscribed_endpoints_signed,
    only_committed_changes_are_sent,
    retries_on_the_schedule_and_honours_retry_after,
    gives_up_when_the_schedule_runs_out,
    an_endpoint_answering_410_is_turned_off,
    internal_addresses_are_refused,
    admins_allow_internal_networks,
    imported_users_are_announced,
    an_escalation_is_a_ticket_update,
    ping_and_redelivery,
    endpoints_are_managed_by_admins,
    two_instances_send_each_delivery_once,
    a_delivery_survives_a_crash_after_commit,
);

#[test]
fn the_openapi_document_describes_every_payload() {
    let doc = serde_json::to_value(hdms_server::app::openapi()).unwrap();
    let hooks = doc["webhooks"].as_object().expect("a webhooks section");
    for event in WebhookEventType::ALL.iter().map(|t| t.as_str()).chain(["webhook.ping"]) {
        let body = &hooks[event]["post"]["requestBody"]["content"]["application/json"]["schema"];
        assert_eq!(body["properties"]["type"]["enum"][0], event);
        let data = body["properties"]["data"]["$ref"].as_str().unwrap();
        let name = data.rsplit('/').next().unwrap();
        assert!(doc["components"]["schemas"][name].is_object(), "{name} is a component");
    }
}
