//! SMS on both backends: the HTTP provider against a local fake gateway (retries with backoff,
//! give-up, exact body and auth header), the log provider, E.164 checks, notification
//! preferences and the SMS they cause, phone verification, SMS login codes, and two instances
//! sharing one database sending each message once.
//!
//! The servers' own SMS workers poll once an hour here, so the tests drive delivery with
//! `Worker::run_once` and a clock of their choosing, except where the spawned worker itself is
//! what is tested.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use chrono::{DateTime, Duration, Utc};
use common::{Backend, PASSWORD, TestServer, assert_api_error};
use hdms_api_types::Role;
use hdms_api_types::client::Client;
use hdms_api_types::sms::{LoginOutcome, NotificationPreference};
use hdms_api_types::tickets::{AssignRequest, CreateTicket};
use hdms_api_types::users::{CreateUser, UpdateUser, User};
use hdms_server::comms::notifications::{self, Kind, Notice};
use hdms_server::comms::sms::worker::{Round, Worker};
use hdms_server::comms::sms::{self, gateway};
use hdms_server::config::{Config, SmsProviderKind};
use hdms_server::error::Error;
use hdms_server::with_db;
use tokio::sync::mpsc;
use uuid::Uuid;

const TEMPLATE: &str = r#"{"to":"{to}","text":"{text}","ref":"{id}"}"#;
const API_KEY: &str = "X-Api-Key: s3cret-key";
const HOUR_MS: u64 = 3_600_000;

// --- a fake SMS gateway ---------------------------------------------------------------------

#[derive(Debug, Clone)]
struct Received {
    path: String,
    content_type: Option<String>,
    api_key: Option<String>,
    authorization: Option<String>,
    body: String,
}

type Answer = dyn Fn(usize, &str) -> (u16, String) + Send + Sync;

#[derive(Clone)]
struct FakeState {
    received: Arc<Mutex<Vec<Received>>>,
    answer: Arc<Answer>,
    arrived: mpsc::UnboundedSender<()>,
}

struct FakeGateway {
    url: String,
    received: Arc<Mutex<Vec<Received>>>,
    arrived: mpsc::UnboundedReceiver<()>,
}

impl FakeGateway {
    /// A gateway on a loopback port (bound before this returns) answering the `n`th request
    /// (from 0) with `answer(n, body)`.
    async fn start(answer: impl Fn(usize, &str) -> (u16, String) + Send + Sync + 'static) -> FakeGateway {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/v1/messages", listener.local_addr().unwrap());
        let received = Arc::new(Mutex::new(Vec::new()));
        let (arrived, arrivals) = mpsc::unbounded_channel();
        let state = FakeState { received: received.clone(), answer: Arc::new(answer), arrived };
        let app = axum::Router::new().fallback(fake_handler).with_state(state);
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        FakeGateway { url, received, arrived: arrivals }
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}

async fn fake_handler(State(state): State<FakeState>, uri: Uri, headers: HeaderMap, body: String) -> (StatusCode, String) {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let n = {
        let mut received = state.received.lock().unwrap();
        received.push(Received {
            path: uri.path().to_owned(),
            content_type: header("content-type"),
            api_key: header("x-api-key"),
            authorization: header("authorization"),
            body: body.clone(),
        });
        received.len() - 1
    };
    let (status, answer) = (state.answer)(n, &body);
    let _ = state.arrived.send(());
    (StatusCode::from_u16(status).unwrap(), answer)
}

/// Settings for the HTTP provider aimed at `gateway`, with the spawned worker idle.
fn http_provider(config: &mut Config, url: &str) {
    config.sms_provider = SmsProviderKind::Http;
    config.sms_http_url = Some(url.to_owned());
    config.sms_http_body = TEMPLATE.to_owned();
    config.sms_http_auth_header = Some(API_KEY.to_owned());
    config.sms_retry_base_ms = 1_000;
    config.sms_max_attempts = 3;
    config.sms_poll_ms = HOUR_MS;
}

fn idle_worker(config: &mut Config) {
    config.sms_poll_ms = HOUR_MS;
}

// --- helpers --------------------------------------------------------------------------------

async fn enqueue(server: &TestServer, user: Uuid, phone: &str, text: &str, now: DateTime<Utc>) -> Uuid {
    let mut tx = server.state.db.begin().await.unwrap();
    let id = sms::enqueue(&mut tx, user, phone, text, now).await.unwrap();
    tx.commit().await.unwrap();
    id
}

#[derive(Debug, sqlx::FromRow)]
struct OutboxRow {
    state: String,
    attempts: i32,
    body: String,
    last_error: Option<String>,
    provider: Option<String>,
    provider_message_id: Option<String>,
    sent_at: Option<DateTime<Utc>>,
    failed_at: Option<DateTime<Utc>>,
}

async fn outbox(server: &TestServer, id: Uuid) -> OutboxRow {
    const SQL: &str = "SELECT state, attempts, body, last_error, provider, provider_message_id, sent_at, failed_at FROM sms_outbox WHERE id = $1";
    with_db!(&server.state.db, pool => sqlx::query_as(SQL).bind(id).fetch_one(pool).await.unwrap())
}

/// (attempt, ok, http status, error) of each recorded attempt at a message.
async fn attempts(server: &TestServer, id: Uuid) -> Vec<(i32, bool, Option<i32>, Option<String>)> {
    const SQL: &str = "SELECT attempt, ok, http_status, error FROM sms_attempts WHERE outbox_id = $1 ORDER BY attempt";
    with_db!(&server.state.db, pool => sqlx::query_as(SQL).bind(id).fetch_all(pool).await.unwrap())
}

/// (phone, body) of every message queued for a user, oldest first.
async fn messages_to(server: &TestServer, user: Uuid) -> Vec<(String, String)> {
    const SQL: &str = "SELECT phone, body FROM sms_outbox WHERE user_id = $1 ORDER BY created_at, id";
    with_db!(&server.state.db, pool => sqlx::query_as(SQL).bind(user).fetch_all(pool).await.unwrap())
}

/// The code in the latest message queued for a user (read before any worker redacts it).
async fn latest_code(server: &TestServer, user: Uuid) -> String {
    let (_, body) = messages_to(server, user).await.pop().expect("a message was queued");
    let code: String = body.chars().take(6).collect();
    assert!(code.bytes().all(|b| b.is_ascii_digit()), "a code opens the message: {body}");
    code
}

async fn user_with_phone(server: &TestServer, role: Role, phone: Option<&str>) -> (Client, User) {
    let email = format!("{}@example.com", Uuid::now_v7().simple());
    let user = server
        .admin()
        .await
        .create_user(&CreateUser {
            email: email.clone(),
            name: "Phone User".to_owned(),
            role,
            phone: phone.map(str::to_owned),
            password: Some(PASSWORD.to_owned()),
        })
        .await
        .unwrap();
    let client = server.anonymous();
    client.login(&user.email, PASSWORD).await.unwrap();
    (client, user)
}

async fn verify_phone(server: &TestServer, client: &Client, user: Uuid) {
    let sent = client.start_phone_verification().await.unwrap();
    assert_eq!(sent.expires_in, 300);
    let code = latest_code(server, user).await;
    let status = client.confirm_phone(&code).await.unwrap();
    assert!(status.verified_at.is_some());
}

fn other_code(code: &str) -> String {
    let last = (code.as_bytes()[5] - b'0' + 1) % 10;
    format!("{}{last}", &code[..5])
}

async fn start_otp_login(client: &Client, user: &User) -> String {
    match client.login_start(&user.email, PASSWORD).await.unwrap() {
        LoginOutcome::OtpRequired(challenge) => {
            assert_eq!(challenge.error.code, "otp_required");
            assert_eq!(challenge.expires_in, 300);
            challenge.challenge
        }
        LoginOutcome::LoggedIn(_) => panic!("expected an SMS code to be asked for"),
    }
}

async fn otp_user(server: &TestServer, phone: &str) -> (Client, User) {
    let (client, user) = user_with_phone(server, Role::Agent, Some(phone)).await;
    verify_phone(server, &client, user.id).await;
    assert!(client.set_login_otp(true).await.unwrap().login_otp);
    (client, user)
}

// --- delivery ---------------------------------------------------------------------------------

async fn http_provider_retries_with_backoff_then_delivers(backend: Backend) {
    let gateway = FakeGateway::start(|n, _| match n {
        0 => (503, "busy".to_owned()),
        1 => (500, "oops".to_owned()),
        _ => (200, r#"{"id":"gw-42","status":"queued"}"#.to_owned()),
    })
    .await;
    let server = TestServer::start_with(backend, |config| http_provider(config, &gateway.url)).await;
    let worker = Worker::new(server.state.clone()).unwrap();
    let (_, user) = server.user(Role::Agent).await;
    let text = "He said \"hi\"\nthen {to} left \\ ünïcode";
    let now = Utc::now();
    let id = enqueue(&server, user.id, "+14155552671", text, now).await;

    assert_eq!(worker.run_once(now).await.unwrap(), Round { retried: 1, ..Round::default() });
    // Not due again before the backoff: 1 s, then 2 s.
    assert_eq!(worker.run_once(now + Duration::milliseconds(999)).await.unwrap(), Round::default());
    assert_eq!(worker.run_once(now + Duration::seconds(1)).await.unwrap(), Round { retried: 1, ..Round::default() });
    assert_eq!(worker.run_once(now + Duration::milliseconds(2_999)).await.unwrap(), Round::default());
    assert_eq!(worker.run_once(now + Duration::seconds(3)).await.unwrap(), Round { sent: 1, ..Round::default() });
    assert_eq!(worker.run_once(now + Duration::hours(5)).await.unwrap(), Round::default());

    let expected = format!(r#"{{"to":"+14155552671","text":"He said \"hi\"\nthen {{to}} left \\ ünïcode","ref":"{id}"}}"#);
    let received = gateway.received();
    assert_eq!(received.len(), 3);
    for request in &received {
        assert_eq!(request.path, "/v1/messages");
        assert_eq!(request.body, expected);
        assert_eq!(request.content_type.as_deref(), Some("application/json"));
        assert_eq!(request.api_key.as_deref(), Some("s3cret-key"));
        let json: serde_json::Value = serde_json::from_str(&request.body).unwrap();
        assert_eq!(json["text"], text);
    }

    let row = outbox(&server, id).await;
    assert_eq!((row.state.as_str(), row.attempts), ("sent", 3));
    assert_eq!(row.provider.as_deref(), Some("http"));
    assert_eq!(row.provider_message_id.as_deref(), Some("gw-42"));
    assert!(row.sent_at.is_some() && row.last_error.is_none() && row.failed_at.is_none());
    assert_eq!(row.body, text);
    let tries = attempts(&server, id).await;
    assert_eq!(tries.iter().map(|t| (t.0, t.1, t.2)).collect::<Vec<_>>(), vec![(1, false, Some(503)), (2, false, Some(500)), (3, true, Some(200))]);
    assert!(tries[0].3.as_deref().unwrap().contains("503") && tries[0].3.as_deref().unwrap().contains("busy"));
}

async fn http_provider_gives_up_after_max_attempts(backend: Backend) {
    // One number the gateway refuses outright (400: retrying cannot help), the others fail.
    let gateway = FakeGateway::start(|_, body| {
        if body.contains("+14155552672") { (400, "invalid destination".to_owned()) } else { (502, "upstream down".to_owned()) }
    })
    .await;
    let server = TestServer::start_with(backend, |config| http_provider(config, &gateway.url)).await;
    let worker = Worker::new(server.state.clone()).unwrap();
    let (_, user) = server.user(Role::Agent).await;
    let now = Utc::now();
    let failing = enqueue(&server, user.id, "+14155552671", "will not arrive", now).await;
    let refused = enqueue(&server, user.id, "+14155552672", "refused", now).await;

    assert_eq!(worker.run_once(now).await.unwrap(), Round { retried: 1, failed: 1, ..Round::default() });
    assert_eq!(worker.run_once(now + Duration::seconds(1)).await.unwrap(), Round { retried: 1, ..Round::default() });
    assert_eq!(worker.run_once(now + Duration::seconds(3)).await.unwrap(), Round { failed: 1, ..Round::default() });
    assert_eq!(worker.run_once(now + Duration::days(2)).await.unwrap(), Round::default());
    assert_eq!(gateway.received().len(), 4);

    let row = outbox(&server, failing).await;
    assert_eq!((row.state.as_str(), row.attempts), ("failed", 3));
    assert!(row.last_error.as_deref().unwrap().contains("502"), "{:?}", row.last_error);
    assert!(row.failed_at.is_some() && row.sent_at.is_none());
    assert_eq!(attempts(&server, failing).await.len(), 3);
    let row = outbox(&server, refused).await;
    assert_eq!((row.state.as_str(), row.attempts), ("failed", 1));
    assert!(row.last_error.as_deref().unwrap().contains("invalid destination"));
}

async fn http_provider_form_body_and_bare_auth_value(backend: Backend) {
    let gateway = FakeGateway::start(|_, _| (202, "accepted".to_owned())).await;
    let server = TestServer::start_with(backend, |config| {
        http_provider(config, &gateway.url);
        config.sms_http_content_type = "application/x-www-form-urlencoded".to_owned();
        config.sms_http_body = "to={to}&text={text}&from=hdms".to_owned();
        config.sms_http_auth_header = Some("Bearer tok-123".to_owned());
    })
    .await;
    let (_, user) = server.user(Role::Agent).await;
    let now = Utc::now();
    let id = enqueue(&server, user.id, "+14155552671", "a&b=c d", now).await;
    let round = Worker::new(server.state.clone()).unwrap().run_once(now).await.unwrap();
    assert_eq!(round, Round { sent: 1, ..Round::default() });
    let received = gateway.received();
    assert_eq!(received[0].body, "to=%2B14155552671&text=a%26b%3Dc+d&from=hdms");
    assert_eq!(received[0].content_type.as_deref(), Some("application/x-www-form-urlencoded"));
    assert_eq!(received[0].authorization.as_deref(), Some("Bearer tok-123"));
    // No JSON answer, so no message id; the delivery is recorded all the same.
    let row = outbox(&server, id).await;
    assert_eq!((row.state.as_str(), row.provider_message_id), ("sent", None));
}

async fn log_provider_is_the_default_and_records_delivery(backend: Backend) {
    let server = TestServer::start_with(backend, idle_worker).await;
    assert_eq!(server.config.sms_provider, SmsProviderKind::Log);
    let (_, user) = server.user(Role::Agent).await;
    let now = Utc::now();
    let first = enqueue(&server, user.id, "+14155552671", "first", now).await;
    let second = enqueue(&server, user.id, " +14155552672 ", "second", now).await;
    let worker = Worker::new(server.state.clone()).unwrap();
    assert_eq!(worker.run_once(now).await.unwrap(), Round { sent: 2, ..Round::default() });
    assert_eq!(worker.run_once(now + Duration::hours(1)).await.unwrap(), Round::default());
    for id in [first, second] {
        let row = outbox(&server, id).await;
        assert_eq!((row.state.as_str(), row.attempts, row.provider.as_deref()), ("sent", 1, Some("log")));
        assert_eq!(attempts(&server, id).await, vec![(1, true, None, None)]);
    }
    assert_eq!(messages_to(&server, user.id).await[1].0, "+14155552672", "numbers are stored normalised");
}

/// The worker `serve` spawns delivers by itself.
async fn spawned_worker_delivers(backend: Backend) {
    let mut gateway = FakeGateway::start(|_, _| (200, r#"{"id":"x"}"#.to_owned())).await;
    let server = TestServer::start_with(backend, |config| {
        http_provider(config, &gateway.url);
        config.sms_poll_ms = 20;
    })
    .await;
    let (_, user) = server.user(Role::Agent).await;
    enqueue(&server, user.id, "+14155552671", "from the background", Utc::now()).await;
    tokio::time::timeout(std::time::Duration::from_secs(30), gateway.arrived.recv()).await.expect("the worker sends within 30 s").unwrap();
    assert!(gateway.received()[0].body.contains("from the background"));
}

/// A worker that stopped mid-send leaves its lease to run out; the message is then retried, or
/// given up on when that was its last attempt.
async fn abandoned_claims_are_taken_over(backend: Backend) {
    let server = TestServer::start_with(backend, |config| {
        idle_worker(config);
        config.sms_max_attempts = 2;
    })
    .await;
    let (_, user) = server.user(Role::Agent).await;
    let now = Utc::now();
    let retried = enqueue(&server, user.id, "+14155552671", "retried", now).await;
    let exhausted = enqueue(&server, user.id, "+14155552672", "exhausted", now).await;
    const ABANDON: &str = "UPDATE sms_outbox SET state = 'sending', attempts = $1, claimed_until = $2, claim_token = $3 WHERE id = $4";
    for (id, attempts) in [(retried, 1), (exhausted, 2)] {
        with_db!(&server.state.db, pool => sqlx::query(ABANDON).bind(attempts).bind(now + Duration::minutes(1)).bind(Uuid::now_v7()).bind(id)
            .execute(pool).await.unwrap().rows_affected());
    }
    let worker = Worker::new(server.state.clone()).unwrap();
    // Leased: nobody touches them.
    assert_eq!(worker.run_once(now).await.unwrap(), Round::default());
    let later = now + Duration::minutes(2);
    assert_eq!(worker.run_once(later).await.unwrap(), Round { sent: 1, failed: 1, ..Round::default() });
    let row = outbox(&server, retried).await;
    assert_eq!((row.state.as_str(), row.attempts), ("sent", 2));
    let row = outbox(&server, exhausted).await;
    assert_eq!((row.state.as_str(), row.attempts), ("failed", 2));
    assert!(row.last_error.unwrap().contains("did not report back"));
}

/// Two instances on one database, racing for the same outbox: every message once.
async fn two_instances_send_each_message_once(backend: Backend) {
    let gateway = FakeGateway::start(|n, _| (200, format!(r#"{{"id":"gw-{n}"}}"#))).await;
    let first = TestServer::start_with(backend, |config| http_provider(config, &gateway.url)).await;
    let second = TestServer::start_config(first.config.clone(), tempfile::tempdir().unwrap()).await;
    let (_, user) = first.user(Role::Agent).await;
    let now = Utc::now();
    let mut ids = Vec::new();
    for n in 0..120 {
        ids.push(enqueue(&first, user.id, "+14155552671", &format!("message {n}"), now).await);
    }
    let a = Worker::new(first.state.clone()).unwrap();
    let b = Worker::new(second.state.clone()).unwrap();
    let (ra, rb) = tokio::join!(
        tokio::spawn(async move { a.run_once(now).await.unwrap() }),
        tokio::spawn(async move { b.run_once(now).await.unwrap() }),
    );
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    assert_eq!(ra.sent + rb.sent, 120, "first {ra:?}, second {rb:?}");
    let mut per_message: HashMap<String, usize> = HashMap::new();
    for request in gateway.received() {
        let json: serde_json::Value = serde_json::from_str(&request.body).unwrap();
        *per_message.entry(json["ref"].as_str().unwrap().to_owned()).or_default() += 1;
    }
    assert_eq!(per_message.len(), 120);
    assert!(per_message.values().all(|&n| n == 1), "sent twice: {per_message:?}");
    for id in ids {
        let row = outbox(&first, id).await;
        assert_eq!((row.state.as_str(), row.attempts), ("sent", 1));
    }
}

async fn phone_numbers_must_be_e164(backend: Backend) {
    let server = TestServer::start_with(backend, idle_worker).await;
    let (_, user) = server.user(Role::Agent).await;
    let mut tx = server.state.db.begin().await.unwrap();
    for bad in ["004915112345678", "4155552671", "+1 (415) 555-2671", "+1415", "+999123456789012", "", "+14155552671x"] {
        match sms::enqueue(&mut tx, user.id, bad, "hello", Utc::now()).await {
            Err(Error::Validation { field, .. }) => assert_eq!(field.as_deref(), Some("phone"), "{bad}"),
            other => panic!("{bad} accepted: {other:?}"),
        }
    }
    assert!(matches!(sms::enqueue(&mut tx, user.id, "+14155552671", " ", Utc::now()).await, Err(Error::Validation { .. })));
    drop(tx);
    assert!(messages_to(&server, user.id).await.is_empty());
    // Accounts take only E.164 numbers too.
    let admin = server.admin().await;
    let refused = admin.update_user(user.id, &UpdateUser { phone: Some(Some("0151 234".to_owned())), ..UpdateUser::default() }).await;
    assert_api_error(refused, 422, "validation_failed");
}

// --- preferences and notifications ----------------------------------------------------------

async fn preferences_default_and_update(backend: Backend) {
    let server = TestServer::start_with(backend, idle_worker).await;
    let (customer, _) = server.user(Role::Customer).await;
    let defaults = customer.notification_preferences().await.unwrap();
    assert!(!defaults.sms_reachable);
    let kinds: Vec<&str> = defaults.preferences.iter().map(|p| p.kind.as_str()).collect();
    for kind in ["assigned", "new_reply", "mention", "approval_requested", "approval_decided", "sla_warning", "sla_breach", "import_finished"] {
        assert!(kinds.contains(&kind), "{kind} in {kinds:?}");
    }
    assert!(defaults.preferences.iter().all(|p| p.in_app && !p.sms));

    let set = |kind: &str, in_app, sms| NotificationPreference { kind: kind.to_owned(), in_app, sms, email: Some(false) };
    let updated = customer.set_notification_preferences(vec![set("new_reply", false, true), set("sla_breach", true, true)]).await.unwrap();
    let get = |prefs: &[NotificationPreference], kind: &str| prefs.iter().find(|p| p.kind == kind).cloned().unwrap();
    assert_eq!(get(&updated.preferences, "new_reply"), set("new_reply", false, true));
    assert_eq!(get(&updated.preferences, "sla_breach"), set("sla_breach", true, true));
    assert_eq!(get(&updated.preferences, "assigned"), set("assigned", true, false));
    // Kinds not listed keep their setting.
    let again = customer.set_notification_preferences(vec![set("sla_breach", true, false)]).await.unwrap();
    assert_eq!(get(&again.preferences, "new_reply"), set("new_reply", false, true));
    assert_eq!(customer.notification_preferences().await.unwrap(), again);

    assert_api_error(customer.set_notification_preferences(vec![set("lottery_win", true, true)]).await, 422, "validation_failed");
    assert_api_error(customer.set_notification_preferences(vec![set("mention", true, true), set("mention", false, false)]).await, 422, "validation_failed");
    // Each user's own: another user still has the defaults.
    let (agent, _) = server.user(Role::Agent).await;
    assert!(agent.notification_preferences().await.unwrap().preferences.iter().all(|p| p.in_app && !p.sms));
    assert_api_error(server.anonymous().notification_preferences().await, 401, "unauthenticated");
}

async fn notify_queues_sms_only_for_those_who_opted_in(backend: Backend) {
    let server = TestServer::start_with(backend, idle_worker).await;
    let sms_on = |kind: &str, in_app| vec![NotificationPreference { kind: kind.to_owned(), in_app, sms: true, email: None }];
    // Opted in, verified phone.
    let (a_client, a) = user_with_phone(&server, Role::Agent, Some("+14155552671")).await;
    verify_phone(&server, &a_client, a.id).await;
    a_client.set_notification_preferences(sms_on("assigned", true)).await.unwrap();
    assert!(a_client.notification_preferences().await.unwrap().sms_reachable);
    // SMS only, no in-app notification.
    let (e_client, e) = user_with_phone(&server, Role::Agent, Some("+14155552675")).await;
    verify_phone(&server, &e_client, e.id).await;
    e_client.set_notification_preferences(sms_on("assigned", false)).await.unwrap();
    // Verified, but SMS off (the default).
    let (b_client, b) = user_with_phone(&server, Role::Agent, Some("+14155552672")).await;
    verify_phone(&server, &b_client, b.id).await;
    // Opted in for another kind only.
    let (f_client, f) = user_with_phone(&server, Role::Agent, Some("+14155552676")).await;
    verify_phone(&server, &f_client, f.id).await;
    f_client.set_notification_preferences(sms_on("sla_breach", true)).await.unwrap();
    // Opted in, phone not verified.
    let (c_client, c) = user_with_phone(&server, Role::Agent, Some("+14155552673")).await;
    c_client.set_notification_preferences(sms_on("assigned", true)).await.unwrap();
    // Opted in, no phone.
    let (d_client, d) = user_with_phone(&server, Role::Agent, None).await;
    d_client.set_notification_preferences(sms_on("assigned", true)).await.unwrap();
    let codes = |user| {
        let server = &server;
        async move { messages_to(server, user).await.len() }
    };
    let before: Vec<usize> = vec![codes(a.id).await, codes(e.id).await, codes(b.id).await, codes(f.id).await];

    let everyone = [a.id, e.id, b.id, f.id, c.id, d.id];
    let notice = Notice { kind: Kind::Assigned, ticket_id: None, title: "T-7 was assigned to you", body: "Printer on fire" };
    // A notice whose cause rolls back sends nothing.
    let mut tx = server.state.db.begin().await.unwrap();
    notifications::notify(&mut tx, &everyone, &notice, Utc::now()).await.unwrap();
    drop(tx);
    assert_eq!(vec![codes(a.id).await, codes(e.id).await, codes(b.id).await, codes(f.id).await], before);

    let mut tx = server.state.db.begin().await.unwrap();
    notifications::notify(&mut tx, &everyone, &notice, Utc::now()).await.unwrap();
    tx.commit().await.unwrap();
    let texts = |user| {
        let server = &server;
        async move { messages_to(server, user).await.into_iter().skip(1).collect::<Vec<_>>() }
    };
    assert_eq!(texts(a.id).await, vec![("+14155552671".to_owned(), "hdms: T-7 was assigned to you".to_owned())]);
    assert_eq!(texts(e.id).await, vec![("+14155552675".to_owned(), "hdms: T-7 was assigned to you".to_owned())]);
    assert!(texts(b.id).await.is_empty());
    assert!(texts(f.id).await.is_empty());
    assert!(messages_to(&server, c.id).await.is_empty());
    assert!(messages_to(&server, d.id).await.is_empty());
    // In-app: everyone but the one who turned it off.
    const IN_APP: &str = "SELECT COUNT(*) FROM notifications WHERE user_id = $1 AND kind = 'assigned'";
    for (user, expected) in [(a.id, 1), (e.id, 0), (b.id, 1), (f.id, 1), (c.id, 1), (d.id, 1)] {
        let count: i64 = with_db!(&server.state.db, pool => sqlx::query_scalar(IN_APP).bind(user).fetch_one(pool).await.unwrap());
        assert_eq!(count, expected, "in-app notifications of {user}");
    }

    // Through the API: a supervisor assigns a ticket to the agent who opted in.
    let (customer, _) = server.user(Role::Customer).await;
    let (supervisor, _) = server.user(Role::Supervisor).await;
    let ticket = customer
        .create_ticket(&CreateTicket { subject: "VPN down".into(), description: "since noon".into(), ..CreateTicket::default() })
        .await
        .unwrap();
    supervisor.assign(ticket.id, &AssignRequest { assignee_id: Some(Some(a.id)), ..AssignRequest::default() }).await.unwrap();
    let last = messages_to(&server, a.id).await.pop().unwrap();
    assert!(last.1.starts_with("hdms: ") && last.1.ends_with("was assigned to you"), "{last:?}");

    // Changing the number undoes the verification: no more SMS until it is verified again.
    server.admin().await.update_user(a.id, &UpdateUser { phone: Some(Some("+14155552679".into())), ..UpdateUser::default() }).await.unwrap();
    assert!(!a_client.notification_preferences().await.unwrap().sms_reachable);
    let sent = messages_to(&server, a.id).await.len();
    let mut tx = server.state.db.begin().await.unwrap();
    notifications::notify(&mut tx, &[a.id], &notice, Utc::now()).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(messages_to(&server, a.id).await.len(), sent);
}

// --- phone verification and login codes ------------------------------------------------------

async fn phone_verification(backend: Backend) {
    let server = TestServer::start_with(backend, idle_worker).await;
    let (nophone, _) = user_with_phone(&server, Role::Customer, None).await;
    assert_api_error(nophone.start_phone_verification().await, 409, "no_phone");

    let (client, user) = user_with_phone(&server, Role::Customer, Some("+14155552671")).await;
    let status = client.phone_status().await.unwrap();
    assert_eq!((status.phone.as_deref(), status.verified_at, status.login_otp), (Some("+14155552671"), None, false));
    assert_api_error(client.confirm_phone("123456").await, 409, "code_expired");
    assert_api_error(client.set_login_otp(true).await, 409, "phone_not_verified");

    let sent = client.start_phone_verification().await.unwrap();
    assert_eq!(sent.phone_hint, "+14•••••••71");
    let code = latest_code(&server, user.id).await;
    assert_api_error(client.confirm_phone(&other_code(&code)).await, 422, "validation_failed");
    let status = client.confirm_phone(&code).await.unwrap();
    assert!(status.verified_at.is_some());
    // Single use.
    assert_api_error(client.confirm_phone(&code).await, 409, "code_expired");
    // A later code voids the one before.
    client.start_phone_verification().await.unwrap();
    let older = latest_code(&server, user.id).await;
    client.start_phone_verification().await.unwrap();
    let newer = latest_code(&server, user.id).await;
    if older != newer {
        assert_api_error(client.confirm_phone(&older).await, 422, "validation_failed");
    }
    client.confirm_phone(&newer).await.unwrap();
    // The codes are stored hashed, and the one in the outbox is gone once delivered.
    let stored: Vec<String> = with_db!(&server.state.db, pool => sqlx::query_scalar("SELECT code_hash FROM sms_codes WHERE user_id = $1")
        .bind(user.id).fetch_all(pool).await.unwrap());
    assert!(stored.iter().all(|hash| hash.starts_with("$argon2") && !hash.contains(&newer)));
    Worker::new(server.state.clone()).unwrap().run_once(Utc::now()).await.unwrap();
    assert!(messages_to(&server, user.id).await.iter().all(|(_, body)| body == sms::worker::REDACTED));

    // Five codes per window: the sixth is refused.
    for _ in 0..2 {
        client.start_phone_verification().await.unwrap();
    }
    assert_api_error(client.start_phone_verification().await, 429, "too_many_requests");

    // Changing the number undoes the verification.
    client.set_login_otp(true).await.unwrap();
    server.admin().await.update_user(user.id, &UpdateUser { phone: Some(Some("+14155552672".into())), ..UpdateUser::default() }).await.unwrap();
    let status = client.phone_status().await.unwrap();
    assert_eq!((status.phone.as_deref(), status.verified_at, status.login_otp), (Some("+14155552672"), None, false));
}

async fn five_wrong_codes_void_a_verification_code(backend: Backend) {
    let server = TestServer::start_with(backend, idle_worker).await;
    let (client, user) = user_with_phone(&server, Role::Customer, Some("+14155552671")).await;
    client.start_phone_verification().await.unwrap();
    let code = latest_code(&server, user.id).await;
    for _ in 0..5 {
        assert_api_error(client.confirm_phone(&other_code(&code)).await, 422, "validation_failed");
    }
    assert_api_error(client.confirm_phone(&code).await, 409, "code_expired");
}

async fn otp_login_happy_path(backend: Backend) {
    let server = TestServer::start_with(backend, idle_worker).await;
    let (_, user) = otp_user(&server, "+14155552671").await;
    let admin = server.admin().await;
    let earlier = admin.get_user(user.id).await.unwrap().last_login_at.expect("signed in once to set the phone up");
    let client = server.anonymous();
    // The plain login call sees the error; the challenge comes with it.
    assert_api_error(client.login(&user.email, PASSWORD).await, 401, "otp_required");
    let challenge = start_otp_login(&client, &user).await;
    let code = latest_code(&server, user.id).await;
    assert!(messages_to(&server, user.id).await.last().unwrap().1.contains("login code"));
    assert_api_error(client.me().await, 401, "unauthenticated");
    // The password step alone is no sign-in; the code step is.
    assert_eq!(admin.get_user(user.id).await.unwrap().last_login_at, Some(earlier));
    let login = client.login_otp(&challenge, &code).await.unwrap();
    assert_eq!(login.user.id, user.id);
    assert!(login.user.last_login_at.is_some_and(|at| at > earlier), "the code step records the sign-in");
    assert_eq!(client.me().await.unwrap().id, user.id);
    client.refresh(&login.refresh_token).await.unwrap();
    // Single use.
    assert_api_error(server.anonymous().login_otp(&challenge, &code).await, 401, "invalid_challenge");
    assert_api_error(server.anonymous().login_otp("made-up", &code).await, 401, "invalid_challenge");
    // A wrong password still answers as before, without sending anything.
    let queued = messages_to(&server, user.id).await.len();
    assert_api_error(server.anonymous().login(&user.email, "wrong password").await, 401, "invalid_credentials");
    assert_eq!(messages_to(&server, user.id).await.len(), queued);
    // Turned off, the password is enough again.
    let otp_client = server.anonymous();
    let c = start_otp_login(&otp_client, &user).await;
    otp_client.login_otp(&c, &latest_code(&server, user.id).await).await.unwrap();
    assert!(!otp_client.set_login_otp(false).await.unwrap().login_otp);
    server.anonymous().login(&user.email, PASSWORD).await.unwrap();
}

async fn otp_wrong_code_and_attempts_limit(backend: Backend) {
    let server = TestServer::start_with(backend, |config| {
        idle_worker(config);
        config.login_max_failures = 100;
    })
    .await;
    let (_, user) = otp_user(&server, "+14155552671").await;
    let client = server.anonymous();
    let challenge = start_otp_login(&client, &user).await;
    let code = latest_code(&server, user.id).await;
    assert_api_error(client.login_otp(&challenge, "12345").await, 401, "invalid_otp");
    for _ in 0..4 {
        assert_api_error(client.login_otp(&challenge, &other_code(&code)).await, 401, "invalid_otp");
    }
    // Five tries used: even the right code no longer works.
    assert_api_error(client.login_otp(&challenge, &code).await, 401, "invalid_challenge");
    // Wrong codes count as failed logins.
    let failures: i64 = with_db!(&server.state.db, pool => sqlx::query_scalar("SELECT COUNT(*) FROM login_failures WHERE email = $1")
        .bind(&user.email).fetch_one(pool).await.unwrap());
    assert_eq!(failures, 5);
}

async fn otp_expired_or_replaced_code(backend: Backend) {
    let server = TestServer::start_with(backend, idle_worker).await;
    let (_, user) = otp_user(&server, "+14155552671").await;
    let client = server.anonymous();
    // Expired.
    let expired = start_otp_login(&client, &user).await;
    let code = latest_code(&server, user.id).await;
    with_db!(&server.state.db, pool => sqlx::query("UPDATE sms_codes SET expires_at = $1 WHERE user_id = $2 AND purpose = 'login'")
        .bind(Utc::now() - Duration::seconds(1)).bind(user.id).execute(pool).await.unwrap().rows_affected());
    assert_api_error(client.login_otp(&expired, &code).await, 401, "invalid_challenge");
    // Replaced by a newer login.
    let older = start_otp_login(&client, &user).await;
    let older_code = latest_code(&server, user.id).await;
    let newer = start_otp_login(&client, &user).await;
    let newer_code = latest_code(&server, user.id).await;
    assert_api_error(client.login_otp(&older, &older_code).await, 401, "invalid_challenge");
    client.login_otp(&newer, &newer_code).await.unwrap();
    // A deactivated account cannot finish a login it started.
    let pending = start_otp_login(&client, &user).await;
    let pending_code = latest_code(&server, user.id).await;
    server.admin().await.update_user(user.id, &UpdateUser { active: Some(false), ..UpdateUser::default() }).await.unwrap();
    assert_api_error(client.login_otp(&pending, &pending_code).await, 401, "account_disabled");
}

async fn otp_failures_are_throttled_like_logins(backend: Backend) {
    let server = TestServer::start_with(backend, idle_worker).await;
    let (_, user) = otp_user(&server, "+14155552671").await;
    let client = server.anonymous();
    let challenge = start_otp_login(&client, &user).await;
    let code = latest_code(&server, user.id).await;
    for _ in 0..5 {
        assert_api_error(client.login_otp(&challenge, &other_code(&code)).await, 401, "invalid_otp");
    }
    assert_api_error(client.login_otp(&challenge, &code).await, 429, "too_many_requests");
    assert_api_error(client.login(&user.email, PASSWORD).await, 429, "too_many_requests");
}

backend_tests!(
    http_provider_retries_with_backoff_then_delivers,
    http_provider_gives_up_after_max_attempts,
    http_provider_form_body_and_bare_auth_value,
    log_provider_is_the_default_and_records_delivery,
    spawned_worker_delivers,
    abandoned_claims_are_taken_over,
    two_instances_send_each_message_once,
    phone_numbers_must_be_e164,
    preferences_default_and_update,
    notify_queues_sms_only_for_those_who_opted_in,
    phone_verification,
    five_wrong_codes_void_a_verification_code,
    otp_login_happy_path,
    otp_wrong_code_and_attempts_limit,
    otp_expired_or_replaced_code,
    otp_failures_are_throttled_like_logins,
);

// --- configuration ------------------------------------------------------------------------------

#[test]
fn provider_settings_are_checked_at_start() {
    let mut config = Config::defaults();
    assert_eq!(gateway::from_config(&config).unwrap().name(), "log");
    config.sms_provider = SmsProviderKind::Http;
    let error = |config: &Config| gateway::from_config(config).err().map(|e| format!("{e:#}")).unwrap_or_default();
    assert!(error(&config).contains("HDMS_SMS_HTTP_URL"));
    config.sms_http_url = Some("ftp://gateway.example".into());
    assert!(error(&config).contains("http://"));
    config.sms_http_url = Some("https://gateway.example/send".into());
    assert_eq!(gateway::from_config(&config).unwrap().name(), "http");
    // Placeholders outside JSON quotes make invalid JSON once filled in.
    config.sms_http_body = r#"{"to":{to},"text":"{text}"}"#.into();
    assert!(error(&config).contains("not valid JSON"));
    config.sms_http_body = r#"{"text":"{text}"}"#.into();
    assert!(error(&config).contains("{to}"));
    config.sms_http_body = "to={to}&text={text}".into();
    config.sms_http_content_type = "application/x-www-form-urlencoded".into();
    gateway::from_config(&config).unwrap();
    config.sms_http_auth_header = Some("Authorization: Bearer \u{7f}".into());
    assert!(error(&config).contains("HDMS_SMS_HTTP_AUTH_HEADER"));
}
