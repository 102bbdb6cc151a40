//! Assembles the application: routes of every domain, the OpenAPI document, and the middleware.

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, HeaderValue, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Router};
use hdms_api_types::API_PREFIX;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::set_header::response::SetMultipleResponseHeadersLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;

use crate::error::Error;
use crate::http::observability::{REQUEST_ID, track_metrics};
use crate::http::{deadline, ops};
use crate::state::AppState;
use crate::comms::webhooks::WebhookDocs;
use crate::{comms, files, tickets, users};

#[derive(OpenApi)]
#[openapi(
    info(title = "hdms", description = "The hdms help desk API. Every JSON route lives under /api/v1; \
        errors are {\"error\":{\"code\",\"message\"}}. Authenticated routes name, in their security \
        requirement, the action they need (see docs/roles-and-permissions.md)."),
    modifiers(&BearerAuth, &WebhookDocs),
    // Used by query parameters only, which utoipa does not collect schemas from.
    components(schemas(hdms_api_types::import::OnConflict)),
    tags(
        (name = "auth", description = "Login, token refresh and logout"),
        (name = "users", description = "User accounts"),
        (name = "teams", description = "Teams of agents"),
        (name = "tokens", description = "Personal API tokens"),
        (name = "tickets", description = "Tickets, their conversation, lifecycle and history"),
        (name = "approvals", description = "Approvals of tickets"),
        (name = "sla", description = "SLA policies"),
        (name = "reports", description = "Time series for supervisors and admins"),
        (name = "attachments", description = "Files attached to tickets, scanned for malware"),
        (name = "notifications", description = "Your notifications"),
        (name = "mail", description = "The email channel: mail in, failed mail, bouncing addresses"),
        (name = "webhooks", description = "Outgoing webhooks: endpoints, their delivery log, redelivery, ping"),
        (name = "rules", description = "Automation rules: triggers, conditions, actions; dry runs"),
        (name = "live", description = "The websocket: live chat, presence, notifications, live queues"),
        (name = "ops", description = "Health, readiness, metrics and this document"),
    )
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let scheme = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .bearer_format("JWT access token, or personal API token (hdms_pat_…)")
            .build();
        openapi.components.get_or_insert_default().add_security_scheme("bearer", SecurityScheme::Http(scheme));
    }
}

fn routes() -> OpenApiRouter<AppState> {
    let api = OpenApiRouter::new().merge(users::router()).merge(tickets::router()).merge(comms::router()).merge(files::router()).merge(crate::rules::router()).merge(ops::api_router());
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .nest(API_PREFIX, api)
        .merge(ops::router())
        .merge(comms::ws::router())
}

/// The routes and their OpenAPI document, completed with what holds for every route.
fn split() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let (router, doc) = routes().split_for_parts();
    (router, crate::http::openapi::complete(doc))
}

/// The OpenAPI document of every route, as served at `/api/v1/openapi.json`.
pub fn openapi() -> utoipa::openapi::OpenApi {
    split().1
}

pub fn router(state: AppState) -> Router {
    let (router, doc) = split();
    let max_body = state.config.max_body_bytes;
    let request_timeout = state.config.request_timeout();
    let body_idle_timeout = state.config.body_idle_timeout();
    let min_rate = crate::http::min_rate::MinRate {
        bytes_per_sec: state.config.upload_min_bytes_per_sec,
        grace: state.config.upload_min_rate_grace(),
    };
    let (per_credential, per_address) = crate::http::limits::layers(&state.config);
    router
        .fallback(|| async { not_found() })
        .method_not_allowed_fallback(|| async { method_not_allowed() })
        .layer(Extension(Arc::new(doc)))
        .layer(DefaultBodyLimit::max(max_body))
        .layer(axum::middleware::from_fn(track_metrics))
        .layer(CatchPanicLayer::custom(|_| {
            Error::Internal(anyhow::anyhow!("a handler panicked")).into_response()
        }))
        // Limits before any work is done for the request (but inside the request id and trace
        // layers, so a refused request is logged with its id). `option_layer` leaves out a
        // limit that is turned off.
        .layer(tower::util::option_layer(per_credential))
        .layer(tower::util::option_layer(per_address))
        // Inside the request id and trace layers, so a timed-out request is logged with its id.
        .layer(axum::middleware::from_fn_with_state(request_timeout, deadline::deadline))
        .layer(axum::middleware::from_fn_with_state(min_rate, crate::http::min_rate::min_rate))
        .layer(tower_http::timeout::RequestBodyTimeoutLayer::new(body_idle_timeout))
        // Outermost: every request gets an id (or keeps the caller's), which is in every log
        // line of its span and echoed in the answer.
        .layer(PropagateRequestIdLayer::new(REQUEST_ID.clone()))
        .layer(TraceLayer::new_for_http().make_span_with(|request: &Request<_>| {
            let request_id = request.headers().get(&REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or("-");
            tracing::info_span!("request", method = %request.method(), path = %request.uri().path(), request_id)
        }).on_response(tower_http::trace::DefaultOnResponse::new().level(tracing::Level::INFO).latency_unit(tower_http::LatencyUnit::Micros)))
        .layer(SetRequestIdLayer::new(REQUEST_ID.clone(), MakeRequestUuid))
        // Outside everything, so even a timed-out or panicked request's answer has them.
        .layer(security_headers())
        .with_state(state)
}

/// Headers that keep a browser from doing harm with anything the server sends: an attachment
/// or error page rendered as HTML, framed, sniffed into a script, cached on a shared machine, or
/// its address leaked to another site. Routes that set one of them themselves (downloads set
/// their own `Cache-Control`) keep theirs. HSTS is the TLS proxy's (see deploy/).
fn security_headers() -> SetMultipleResponseHeadersLayer<Response> {
    const HEADERS: [(&str, &str); 6] = [
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
        ("content-security-policy", "default-src 'none'; frame-ancestors 'none'; sandbox"),
        ("referrer-policy", "no-referrer"),
        ("cross-origin-resource-policy", "same-origin"),
        ("cache-control", "no-store"),
    ];
    SetMultipleResponseHeadersLayer::if_not_present(
        HEADERS
            .into_iter()
            .map(|(name, value)| (HeaderName::from_static(name), HeaderValue::from_static(value)).into())
            .collect(),
    )
}

fn not_found() -> Response {
    Error::NotFound { what: "route" }.into_response()
}

fn method_not_allowed() -> Response {
    let body = hdms_api_types::ApiError {
        error: hdms_api_types::ErrorBody {
            code: "method_not_allowed".to_owned(),
            message: "this route does not accept that method".to_owned(),
            field: None,
        },
    };
    (StatusCode::METHOD_NOT_ALLOWED, axum::Json(body)).into_response()
}
