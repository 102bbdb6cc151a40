//! Behaviour every route shares: error bodies for bad input, limits, unknown routes, operational
//! endpoints, the OpenAPI document, and first-start bootstrap; on both backends.

mod common;

use common::{ADMIN_EMAIL, ADMIN_PASSWORD, Backend, TestServer};
use hdms_server::config::Config;

async fn post_raw(server: &TestServer, path: &str, content_type: Option<&str>, body: Vec<u8>) -> (u16, serde_json::Value) {
    let token = server.admin().await.token().unwrap();
    let mut request = server.http().post(format!("{}{path}", server.url)).bearer_auth(token).body(body);
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.json().await.expect("every error has a JSON body"))
}

async fn bad_bodies_get_specific_json_errors(backend: Backend) {
    let server = TestServer::start(backend).await;
    let json = Some("application/json");
    let cases: [(Option<&str>, &[u8], u16, &str); 5] = [
        (json, b"{\"email\": ", 400, "malformed_json"),
        (json, b"{\"email\": 5, \"name\": \"x\", \"role\": \"agent\"}", 422, "validation_failed"),
        (json, b"{\"name\": \"x\", \"role\": \"agent\"}", 422, "validation_failed"),
        (json, b"{\"email\": \"a@example.com\", \"name\": \"x\", \"role\": \"agent\", \"admin\": true}", 422, "validation_failed"),
        (Some("text/plain"), b"{}", 415, "unsupported_media_type"),
    ];
    for (content_type, body, status, code) in cases {
        let (got, answer) = post_raw(&server, "/api/v1/users", content_type, body.to_vec()).await;
        assert_eq!((got, answer["error"]["code"].as_str().unwrap()), (status, code), "{}", String::from_utf8_lossy(body));
        assert!(answer["error"]["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    // Wrong type in the message names the field.
    let (_, answer) = post_raw(&server, "/api/v1/users", json, b"{\"email\": 5, \"name\": \"x\", \"role\": \"agent\"}".to_vec()).await;
    assert!(answer["error"]["message"].as_str().unwrap().contains("email"), "{answer}");
    // A bad id in a path.
    let token = server.admin().await.token().unwrap();
    let response = server.http().get(format!("{}/api/v1/users/not-a-uuid", server.url)).bearer_auth(token).send().await.unwrap();
    assert_eq!(response.status(), 400);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "invalid_path");
}

async fn a_body_over_the_limit_is_413_and_stores_nothing(backend: Backend) {
    let server = TestServer::start_with(backend, |config| config.max_body_bytes = 4096).await;
    let big_name = "x".repeat(10_000);
    let body = serde_json::to_vec(&serde_json::json!({"email": "big@example.com", "name": big_name, "role": "agent"})).unwrap();
    let (status, answer) = post_raw(&server, "/api/v1/users", Some("application/json"), body).await;
    assert_eq!(status, 413);
    assert_eq!(answer["error"]["code"], "payload_too_large");
    let users = server.admin().await.list_users(&Default::default()).await.unwrap();
    assert!(users.items.iter().all(|u| u.email != "big@example.com"));
}

async fn unknown_routes_and_methods_answer_json(backend: Backend) {
    let server = TestServer::start(backend).await;
    let response = server.http().get(format!("{}/api/v1/nothing-here", server.url)).send().await.unwrap();
    assert_eq!(response.status(), 404);
    assert_eq!(response.json::<serde_json::Value>().await.unwrap()["error"]["code"], "not_found");
    let response = server.http().put(format!("{}/api/v1/users/me", server.url)).send().await.unwrap();
    assert_eq!(response.status(), 405);
    assert_eq!(response.json::<serde_json::Value>().await.unwrap()["error"]["code"], "method_not_allowed");
}

async fn operational_endpoints_work(backend: Backend) {
    let server = TestServer::start(backend).await;
    assert_eq!(server.anonymous().health().await.unwrap().status, "ok");
    let ready = server.http().get(format!("{}/readyz", server.url)).send().await.unwrap();
    assert_eq!(ready.status(), 200);

    // Every answer carries a request id; a caller's own id is kept.
    let response = server.http().get(format!("{}/healthz", server.url)).header("x-request-id", "trace-me-42").send().await.unwrap();
    assert_eq!(response.headers()["x-request-id"], "trace-me-42");
    let response = server.http().get(format!("{}/healthz", server.url)).send().await.unwrap();
    assert!(!response.headers()["x-request-id"].is_empty());

    server.admin().await.me().await.unwrap();
    let metrics = server.http().get(format!("{}/metrics", server.url)).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("http_requests_total"), "{metrics}");
    assert!(metrics.contains("route=\"/api/v1/users/me\""), "{metrics}");

    // Readiness follows the database.
    server.state.db.close().await;
    let ready = server.http().get(format!("{}/readyz", server.url)).send().await.unwrap();
    assert_eq!(ready.status(), 503);
}

async fn openapi_document_is_served_and_complete(backend: Backend) {
    let server = TestServer::start(backend).await;
    let doc: serde_json::Value = server.http().get(format!("{}/api/v1/openapi.json", server.url)).send().await.unwrap().json().await.unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    let served = serde_json::to_value(hdms_server::app::openapi()).unwrap();
    assert_eq!(doc, served);
    for path in ["/api/v1/auth/login", "/api/v1/users/{id}/restore", "/api/v1/teams/{id}/members/{user_id}", "/api/v1/tokens/{id}", "/healthz", "/readyz", "/metrics", "/api/v1/openapi.json"] {
        assert!(doc["paths"].get(path).is_some(), "{path} is documented");
    }
    assert!(doc["components"]["schemas"].get("User").is_some());
    assert!(doc["components"]["securitySchemes"].get("bearer").is_some());
}

async fn first_start_creates_the_configured_admin_once(backend: Backend) {
    let server = TestServer::start(backend).await;
    assert_eq!(server.bootstrap_password, None, "a configured password is not echoed");
    server.anonymous().login(ADMIN_EMAIL, ADMIN_PASSWORD).await.unwrap();
    // A second start on the same database makes no new admin.
    let again = hdms_server::start(server.config.clone()).await.unwrap();
    assert!(again.bootstrap_admin.is_none());
    let page = server.admin().await.list_users(&Default::default()).await.unwrap();
    assert_eq!(page.items.len(), 1);
}

async fn without_configured_admin_a_random_password_is_generated(backend: Backend) {
    let server = TestServer::start_with(backend, |config| {
        config.admin_email = None;
        config.admin_password = None;
    })
    .await;
    let password = server.bootstrap_password.clone().expect("a generated password");
    assert!(password.len() >= 20);
    let login = server.anonymous().login("admin@localhost", &password).await.unwrap();
    assert_eq!(login.user.role, hdms_api_types::Role::Admin);
}

async fn generated_signing_key_survives_restart_and_is_shared(backend: Backend) {
    let first = TestServer::start_with(backend, |config| config.jwt_secret = None).await;
    let client = first.admin().await;
    // Another server on the same storage (on SQLite: a restart on the same data directory; on
    // PostgreSQL: a second instance on the same database) accepts the token the first issued.
    let second = TestServer::start_config(first.config.clone(), tempfile::tempdir().unwrap()).await;
    let moved = second.anonymous();
    moved.set_token(client.token());
    assert_eq!(moved.me().await.unwrap().email, ADMIN_EMAIL);
}

/// Sends a CSV import by hand over TCP, in two halves with `pause` between them, and returns
/// the status line's code and the body.
async fn import_in_two_halves(server: &TestServer, pause: std::time::Duration) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let token = server.admin().await.token().unwrap();
    let csv = "email,name,role\nslow.one@example.com,Slow One,agent\nslow.two@example.com,Slow Two,customer\n";
    let (first, second) = csv.split_at(csv.len() / 2);
    let address = server.url.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let head = format!(
        "POST /api/v1/users/import HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: text/csv\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{first}",
        csv.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    tokio::time::sleep(pause).await;
    // The server may have answered and closed already (idle body): then this write may fail.
    let _ = stream.write_all(second.as_bytes()).await;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    let status = answer.split(' ').nth(1).and_then(|code| code.parse().ok()).expect("a status line");
    (status, answer)
}

/// A streamed import may outlive the request deadline as long as its body keeps coming; a body
/// that stops coming for longer than the idle timeout ends the request with an error.
async fn streamed_bodies_are_bounded_by_idleness_not_the_request_deadline(backend: Backend) {
    let server = TestServer::start_with(backend, |config| {
        config.request_timeout_secs = 1;
        config.body_idle_timeout_secs = 3;
    })
    .await;
    let (status, answer) = import_in_two_halves(&server, std::time::Duration::from_millis(1500)).await;
    assert_eq!(status, 200, "{answer}");
    assert!(answer.contains("\"created\":2"), "{answer}");

    let server = TestServer::start_with(backend, |config| config.body_idle_timeout_secs = 1).await;
    let (status, answer) = import_in_two_halves(&server, std::time::Duration::from_millis(2500)).await;
    assert!((400..500).contains(&status), "{answer}");
    let users = server.admin().await.list_users(&Default::default()).await.unwrap();
    assert!(users.items.iter().all(|u| !u.email.starts_with("slow.")), "a broken import stored nothing of its unfinished batch");
}

backend_tests!(
    streamed_bodies_are_bounded_by_idleness_not_the_request_deadline,
    bad_bodies_get_specific_json_errors,
    a_body_over_the_limit_is_413_and_stores_nothing,
    unknown_routes_and_methods_answer_json,
    operational_endpoints_work,
    openapi_document_is_served_and_complete,
    first_start_creates_the_configured_admin_once,
    without_configured_admin_a_random_password_is_generated,
    generated_signing_key_survives_restart_and_is_shared,
);

#[test]
fn defaults_need_no_set_up() {
    let config = Config::defaults();
    assert_eq!(config.bind.to_string(), "127.0.0.1:8080");
    assert_eq!(config.data_dir, std::path::PathBuf::from("./hdms-data"));
    assert!(config.database_url.is_none());
}
