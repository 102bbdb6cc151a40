//! Hostile and malformed input on both backends: what a client sends that the server did not
//! expect must answer a clear 4xx, never a 500, and change nothing.

mod common;

use axum::response::IntoResponse;
use common::{Backend, TestServer, assert_api_error};
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

backend_tests!(
    an_unknown_team_in_an_sla_policy_is_422_naming_the_field,
    foreign_key_failures_are_validation_errors,
    health_reports_versions_and_answers_carry_security_headers,
);
