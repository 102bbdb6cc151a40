//! Operational routes: liveness, readiness, Prometheus metrics and the OpenAPI document.

use std::sync::Arc;

use axum::Extension;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use hdms_api_types::ApiError;
use hdms_api_types::auth::Health;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{Error, Result};
use crate::http::extract::AppJson;
use crate::http::observability;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(metrics))
}

/// Routes under the API prefix.
pub fn api_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(openapi_json))
}

fn health(status: &str) -> Health {
    Health { status: status.to_owned(), version: env!("CARGO_PKG_VERSION").to_owned(), schema_version: crate::SCHEMA_VERSION }
}

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "ops", responses((status = 200, body = Health)))]
async fn healthz() -> AppJson<Health> {
    AppJson(health("ok"))
}

/// How long readiness waits for the database: a load balancer wants a quick no, and the pool
/// would keep a check waiting for a connection for longer while the database is down.
const READY_PING_LIMIT: std::time::Duration = std::time::Duration::from_secs(2);

/// The process can serve requests: its database answers (within 2 s).
#[utoipa::path(get, path = "/readyz", tag = "ops",
    responses((status = 200, body = Health), (status = 503, body = ApiError)))]
async fn readyz(State(state): State<AppState>) -> Result<AppJson<Health>, impl IntoResponse> {
    match state.db.ping(READY_PING_LIMIT).await {
        Ok(()) => Ok(AppJson(health("ready"))),
        Err(err) => {
            tracing::warn!(error = %err, "readiness check failed");
            let body = AppJson(ApiError {
                error: hdms_api_types::ErrorBody {
                    code: "not_ready".to_owned(),
                    message: "the database does not answer".to_owned(),
                    field: None,
                },
            });
            Err((StatusCode::SERVICE_UNAVAILABLE, body))
        }
    }
}

/// Prometheus metrics in the text exposition format.
#[utoipa::path(get, path = "/metrics", tag = "ops",
    responses((status = 200, content_type = "text/plain", body = String)))]
async fn metrics() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], observability::render_metrics())
}

/// This OpenAPI document.
#[utoipa::path(get, path = "/openapi.json", tag = "ops", responses((status = 200, body = Object)))]
async fn openapi_json(Extension(doc): Extension<Arc<utoipa::openapi::OpenApi>>) -> Result<impl IntoResponse> {
    let json = doc.to_json().map_err(|err| Error::Internal(err.into()))?;
    Ok(([(header::CONTENT_TYPE, "application/json")], json))
}
