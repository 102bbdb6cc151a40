//! Hostile and malformed input on both backends: what a client sends that the server did not
//! expect must answer a clear 4xx, never a 500, and change nothing. Also what a client does to
//! hold the server's resources: oversized headers, bodies and websocket frames, too many
//! websockets, trickled headers and bodies, request floods; the server sheds them and keeps
//! serving everyone else.

mod common;

use std::time::{Duration, Instant};

use axum::response::IntoResponse;
use common::{Backend, TestServer, assert_api_error};
use futures::{SinkExt, StreamExt};
use hdms_api_types::Role;
use hdms_api_types::client::LiveError;
use hdms_api_types::tickets::TicketListQuery;
use hdms_api_types::ws::{ClientMessage, ServerMessage};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use hdms_api_types::sla::SlaPolicyInput;
use hdms_api_types::tickets::Priority;
use hdms_server::error::Error;
use uuid::Uuid;

fn policy(team_id: Option<Uuid>) -> SlaPolicyInput {
    SlaPolicyInput {
        name: "Urgent".into(),
        priority: Priority::Urgent,
        category: None,
        team_id,
        first_response_secs: 600,
        resolution_secs: 3600,
        warning_percent: None,
        calendar: None,
    }
}

/// Found by Schemathesis: an SLA policy for a team that does not exist was a foreign key
/// failure answered 500.
async fn an_unknown_team_in_an_sla_policy_is_422_naming_the_field(backend: Backend) {
    let server = TestServer::start(backend).await;
    let admin = server.admin().await;
    let result = admin.create_sla_policy(&policy(Some(Uuid::now_v7()))).await;
    assert_api_error(result, 422, "validation_failed");
    let err = admin.create_sla_policy(&policy(Some(Uuid::now_v7()))).await.unwrap_err();
    assert!(err.to_string().contains("team_id"), "{err}");
    let created = admin.create_sla_policy(&policy(None)).await.unwrap();
    assert_api_error(admin.update_sla_policy(created.id, &policy(Some(Uuid::now_v7()))).await, 422, "validation_failed");
    assert_eq!(admin.list_sla_policies().await.unwrap().len(), 1, "nothing else was stored");
}

/// Any foreign key failure a handler did not check for becomes a 422, not a 500; PostgreSQL
/// names the column, SQLite cannot.
async fn foreign_key_failures_are_validation_errors(backend: Backend) {
    let server = TestServer::start(backend).await;
    let failure = hdms_server::with_db!(&server.state.db, pool => sqlx::query(
        "INSERT INTO team_members (team_id, user_id, added_at) VALUES ($1, $2, $3)")
        .bind(Uuid::now_v7()).bind(Uuid::now_v7()).bind(chrono::Utc::now())
        .execute(pool).await.unwrap_err());
    let error = Error::from(failure);
    let field = match &error {
        Error::Validation { field, .. } => field.clone(),
        other => panic!("expected a validation error, got {other:?}"),
    };
    match backend {
        Backend::Postgres => assert_eq!(field.as_deref(), Some("team_id")),
        Backend::Sqlite => assert_eq!(field, None),
    }
    assert_eq!(error.into_response().status(), 422);
}

/// `/healthz` says which version and schema answers, and every answer carries the security
/// headers.
async fn health_reports_versions_and_answers_carry_security_headers(backend: Backend) {
    let server = TestServer::start(backend).await;
    let response = server.http().get(format!("{}/healthz", server.url)).send().await.unwrap();
    for (name, value) in [
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
        ("referrer-policy", "no-referrer"),
        ("cache-control", "no-store"),
    ] {
        assert_eq!(response.headers().get(name).and_then(|v| v.to_str().ok()), Some(value), "{name}");
    }
    let health: serde_json::Value = response.json().await.unwrap();
    assert_eq!(health["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(health["schema_version"], hdms_server::SCHEMA_VERSION);
    const { assert!(hdms_server::SCHEMA_VERSION >= 14) };
    // An error and an unknown route have them too.
    let missing = server.http().get(format!("{}/nowhere", server.url)).send().await.unwrap();
    assert_eq!(missing.status(), 404);
    assert!(missing.headers().contains_key("content-security-policy"));
}

/// Long enough for anything on loopback; only reached when something is broken.
const PATIENCE: Duration = Duration::from_secs(20);

fn address(server: &TestServer) -> String {
    server.url.trim_start_matches("http://").to_owned()
}

/// Sends `request` as written on a new connection and reads until the server closes it (the
/// requests say `Connection: close`); the answer as text.
async fn raw_exchange(server: &TestServer, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(address(server)).await.unwrap();
    // The server may answer and close before it has read all of it: that is the point.
    let _ = stream.write_all(request).await;
    let mut answer = Vec::new();
    let read = async {
        while let Ok(n) = stream.read_buf(&mut answer).await
            && n > 0
        {}
    };
    tokio::time::timeout(PATIENCE, read).await.expect("the server answers and closes");
    String::from_utf8_lossy(&answer).into_owned()
}

/// The status of an HTTP answer's text, if it has one.
fn status_of(answer: &str) -> Option<u16> {
    answer.strip_prefix("HTTP/1.1 ")?.get(..3)?.parse().ok()
}

async fn oversized_headers_and_bodies_are_refused_and_others_served(backend: Backend) {
    let server = TestServer::start_with(backend, |config| config.max_body_bytes = 16 * 1024).await;
    let (agent, _) = server.user(Role::Agent).await;
    let token = agent.token().unwrap();
    let limit = server.config.max_header_bytes;
    let padded = |length: usize| format!("GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Padding: {}\r\n\r\n", "a".repeat(length));
    let answer = raw_exchange(&server, padded(limit - 1024).as_bytes()).await;
    assert_eq!(status_of(&answer), Some(200), "headers under HDMS_MAX_HEADER_BYTES: {answer}");
    let answer = raw_exchange(&server, padded(limit + 1024).as_bytes()).await;
    assert_eq!(status_of(&answer), Some(431), "headers over HDMS_MAX_HEADER_BYTES: {answer}");
    // Many small headers (hyper takes 100) and a request line longer than the limit.
    let many: String = (0..200).map(|i| format!("X-H{i}: v\r\n")).collect();
    let answer = raw_exchange(&server, format!("GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{many}\r\n").as_bytes()).await;
    assert_eq!(status_of(&answer), Some(431), "200 headers: {answer}");
    let long_line = format!("GET /healthz?{} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", "q".repeat(limit + 1024));
    let answer = raw_exchange(&server, long_line.as_bytes()).await;
    assert!(matches!(status_of(&answer), Some(414 | 431)), "a long request line: {answer}");

    // A JSON body over HDMS_MAX_BODY_BYTES, declared by its length or sent in chunks.
    let body = format!(r#"{{"subject":"big","description":"{}"}}"#, "d".repeat(20 * 1024));
    let head = format!("POST /api/v1/tickets HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\n");
    let declared = format!("{head}Content-Length: {}\r\n\r\n{body}", body.len());
    let chunked = format!("{head}Transfer-Encoding: chunked\r\n\r\n{:x}\r\n{body}\r\n0\r\n\r\n", body.len());
    for request in [declared, chunked] {
        let answer = raw_exchange(&server, request.as_bytes()).await;
        assert_eq!(status_of(&answer), Some(413), "{answer}");
        assert!(answer.contains("payload_too_large"), "{answer}");
    }
    // Still serving, and nothing was stored.
    assert!(agent.list_tickets(&TicketListQuery::default()).await.unwrap().items.is_empty());
}

/// What a websocket (opened by hand, to see close codes) got next.
#[derive(Debug)]
enum Got {
    Message(Box<ServerMessage>),
    Closed(Option<u16>),
}

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>;

async fn next_of(socket: &mut Socket) -> Got {
    let next = async {
        loop {
            match socket.next().await {
                Some(Ok(Message::Text(text))) => return Got::Message(Box::new(serde_json::from_str(text.as_str()).unwrap())),
                Some(Ok(Message::Close(frame))) => return Got::Closed(frame.map(|frame| u16::from(frame.code))),
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return Got::Closed(None),
            }
        }
    };
    tokio::time::timeout(PATIENCE, next).await.expect("the server answers")
}

/// A websocket authenticated with `token`, and the server's first answer.
async fn raw_socket(server: &TestServer, token: &str) -> (Socket, Got) {
    let (mut socket, _) = tokio_tungstenite::connect_async(format!("ws://{}/ws", address(server))).await.unwrap();
    let auth = serde_json::to_string(&ClientMessage::Auth { token: token.to_owned() }).unwrap();
    socket.send(Message::Text(auth.into())).await.unwrap();
    let first = next_of(&mut socket).await;
    (socket, first)
}

async fn an_oversized_websocket_frame_closes_that_socket_with_1009(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (agent, _) = server.user(Role::Agent).await;
    let (mut socket, ready) = raw_socket(&server, &agent.token().unwrap()).await;
    assert!(matches!(ready, Got::Message(ref message) if matches!(**message, ServerMessage::Ready { .. })), "{ready:?}");
    // Over the 64 KiB frame limit; refused from the frame's header, before its payload is read.
    let _ = socket.send(Message::Text("x".repeat(100 * 1024).into())).await;
    let got = next_of(&mut socket).await;
    assert!(matches!(got, Got::Closed(Some(1009))), "{got:?}");
    // The same person is served on a new socket, and by the API.
    agent.connect_live().await.unwrap();
    agent.me().await.unwrap();
}

async fn too_many_websockets_for_one_person_answer_4429(backend: Backend) {
    let server = TestServer::start_with(backend, |config| config.ws_max_connections_per_user = 2).await;
    let (agent, _) = server.user(Role::Agent).await;
    let first = agent.connect_live().await.unwrap();
    let _second = agent.connect_live().await.unwrap();
    let (mut third, answer) = raw_socket(&server, &agent.token().unwrap()).await;
    match answer {
        Got::Message(message) if matches!(&*message, ServerMessage::Error { code, .. } if code == "too_many_connections") => {}
        other => panic!("expected too_many_connections, got {other:?}"),
    }
    let closed = next_of(&mut third).await;
    assert!(matches!(closed, Got::Closed(Some(4429))), "{closed:?}");
    // Another person is not counted against them.
    let (other, _) = server.user(Role::Agent).await;
    other.connect_live().await.unwrap();
    // Closing one frees its place once the server has seen it close.
    first.close().await;
    let deadline = Instant::now() + PATIENCE;
    loop {
        match agent.connect_live().await {
            Ok(_) => break,
            Err(LiveError::Refused { code, .. }) if code == "too_many_connections" && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(err) => panic!("a freed place is given again: {err}"),
        }
    }
}

/// Sends `head` at once, then one byte of `drip` every 50 ms, until the server answers or
/// closes the connection; what it answered.
async fn trickle(address: String, head: Vec<u8>, drip: Option<u8>) -> String {
    let mut stream = TcpStream::connect(&address).await.unwrap();
    stream.write_all(&head).await.unwrap();
    let mut answer = Vec::new();
    let mut tick = tokio::time::interval(Duration::from_millis(50));
    let give_up = Instant::now() + PATIENCE;
    loop {
        tokio::select! {
            read = stream.read_buf(&mut answer) => match read {
                Ok(n) if n > 0 && !answer.windows(4).any(|w| w == b"\r\n\r\n") => continue,
                _ => break,
            },
            _ = tick.tick(), if drip.is_some() => {
                if stream.write_all(&[drip.unwrap()]).await.is_err() {
                    break;
                }
            }
        }
        assert!(Instant::now() < give_up, "a slow client was never shed");
    }
    String::from_utf8_lossy(&answer).into_owned()
}

async fn slow_clients_are_shed_while_others_are_served(backend: Backend) {
    let server = TestServer::start_with(backend, |config| {
        config.header_read_timeout_secs = 1;
        config.request_timeout_secs = 2;
        config.body_idle_timeout_secs = 1;
    })
    .await;
    let (agent, agent_user) = server.user(Role::Agent).await;
    let token = agent.token().unwrap();
    // Headers trickled a byte at a time (slowloris)...
    let mut headers = Vec::new();
    for _ in 0..20 {
        headers.push(tokio::spawn(trickle(address(&server), b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ".to_vec(), Some(b'a'))));
    }
    // ...a JSON body trickled a byte at a time, and an upload that stops sending.
    let json = format!("POST /api/v1/tickets HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{{\"subject\":\"");
    let body = tokio::spawn(trickle(address(&server), json.into_bytes(), Some(b'a')));
    let ticket = agent
        .create_ticket(&hdms_api_types::tickets::CreateTicket { subject: "Upload".into(), description: "d".into(), ..Default::default() })
        .await
        .unwrap();
    let upload = format!(
        "POST /api/v1/tickets/{}/attachments HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nContent-Type: multipart/form-data; boundary=B\r\nContent-Length: 100000\r\n\r\n--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\n\r\nstarted",
        ticket.id
    );
    let stalled = tokio::spawn(trickle(address(&server), upload.into_bytes(), None));
    // Meanwhile everyone else is served.
    for _ in 0..10 {
        assert_eq!(agent.me().await.unwrap().id, agent_user.id);
    }
    for slow in headers {
        let answer = slow.await.unwrap();
        assert!(answer.is_empty() || status_of(&answer) == Some(408), "a trickled header was answered: {answer}");
    }
    let answer = body.await.unwrap();
    assert_eq!(status_of(&answer), Some(408), "a trickled body: {answer}");
    let answer = stalled.await.unwrap();
    assert!(matches!(status_of(&answer), Some(400 | 408)), "a stalled upload: {answer}");
    assert!(agent.list_attachments(ticket.id).await.unwrap().is_empty(), "nothing half-uploaded is kept");
    agent.me().await.unwrap();
}

/// An upload trickled just inside the idle timeout (a byte every 50 ms, 1 s allowed between
/// chunks) is stopped by the minimum rate once its grace has passed, with 408
/// `upload_too_slow`, and nothing of it is kept; an upload at a normal pace is not.
async fn an_upload_below_the_minimum_rate_is_stopped(backend: Backend) {
    let server = TestServer::start_with(backend, |config| {
        config.body_idle_timeout_secs = 1;
        config.upload_min_bytes_per_sec = 1000;
        config.upload_min_rate_grace_secs = 1;
    })
    .await;
    let (agent, _) = server.user(Role::Agent).await;
    let token = agent.token().unwrap();
    let ticket = agent
        .create_ticket(&hdms_api_types::tickets::CreateTicket { subject: "Upload".into(), description: "d".into(), ..Default::default() })
        .await
        .unwrap();
    let upload = format!(
        "POST /api/v1/tickets/{}/attachments HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nContent-Type: multipart/form-data; boundary=B\r\nContent-Length: 100000\r\n\r\n--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\n\r\nstarted",
        ticket.id
    );
    let started = Instant::now();
    let answer = trickle(address(&server), upload.into_bytes(), Some(b'a')).await;
    assert_eq!(status_of(&answer), Some(408), "{answer}");
    assert!(answer.contains("upload_too_slow"), "{answer}");
    assert!(started.elapsed() < Duration::from_secs(10), "stopped soon after the grace, not by a timeout");
    assert!(agent.list_attachments(ticket.id).await.unwrap().is_empty(), "nothing of it is kept");
    let content = vec![b'x'; 512 * 1024];
    agent.upload_attachment(ticket.id, "fast.txt", Some("text/plain"), &content).await.expect("a normal upload passes");
}

async fn a_request_flood_gets_429_with_retry_after(backend: Backend) {
    let server = TestServer::start_with(backend, |config| {
        config.rate_limit_per_second = 1;
        config.rate_limit_burst = 5;
    })
    .await;
    let (agent, _) = server.user(Role::Agent).await;
    let token = agent.token().unwrap();
    let mut refused = None;
    let mut served = 0;
    for _ in 0..30 {
        let response = server.http().get(format!("{}/api/v1/users/me", server.url)).bearer_auth(&token).send().await.unwrap();
        match response.status().as_u16() {
            200 => served += 1,
            429 => {
                refused = Some(response);
                break;
            }
            other => panic!("a flooded request answered {other}"),
        }
    }
    let refused = refused.expect("the flood is refused");
    assert!(served >= 5, "the burst is served first ({served})");
    let retry_after: u64 = refused.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry_after), "Retry-After {retry_after}");
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "too_many_requests");
    // Another credential is served meanwhile, and the flooder again once the bucket refills.
    server.admin().await.me().await.unwrap();
    let deadline = Instant::now() + PATIENCE;
    while agent.me().await.is_err() {
        assert!(Instant::now() < deadline, "the limit never lifted");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

backend_tests!(
    an_unknown_team_in_an_sla_policy_is_422_naming_the_field,
    foreign_key_failures_are_validation_errors,
    health_reports_versions_and_answers_carry_security_headers,
    oversized_headers_and_bodies_are_refused_and_others_served,
    an_oversized_websocket_frame_closes_that_socket_with_1009,
    too_many_websockets_for_one_person_answer_4429,
    slow_clients_are_shed_while_others_are_served,
    an_upload_below_the_minimum_rate_is_stopped,
    a_request_flood_gets_429_with_retry_after,
);
