//! How long a request may take. An ordinary request gets a fixed deadline; a request that
//! streams a file (an attachment upload, a CSV import) may take as long as its body keeps
//! arriving, since a 1 GiB upload on a slow link is legitimate. What bounds those instead is
//! the idle timeout between body chunks, applied to every request by
//! `tower_http::timeout::RequestBodyTimeoutLayer`.

use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::Error;

/// Media types whose bodies are files streamed to disk or parsed as they arrive.
const STREAMED_BODIES: [&str; 3] = ["multipart/form-data", "text/csv", "application/octet-stream"];

pub(crate) fn streams_a_file(request: &Request) -> bool {
    let Some(content_type) = request.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let essence = content_type.split(';').next().unwrap_or("").trim();
    STREAMED_BODIES.iter().any(|streamed| essence.eq_ignore_ascii_case(streamed))
}

/// Middleware: answers 408 `request_timeout` when an ordinary request outlives `limit`.
pub async fn deadline(State(limit): State<Duration>, request: Request, next: Next) -> Response {
    if streams_a_file(&request) {
        return next.run(request).await;
    }
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => Error::RequestTimeout.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use axum::Router;
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use axum::routing::post;
    use tower::ServiceExt;

    use super::*;

    /// A handler that takes 300 ms, behind a 50 ms deadline.
    fn slow_app() -> Router {
        async fn slow() -> &'static str {
            tokio::time::sleep(Duration::from_millis(300)).await;
            "done"
        }
        Router::new()
            .route("/", post(slow))
            .layer(axum::middleware::from_fn_with_state(Duration::from_millis(50), deadline))
    }

    fn request(content_type: &str) -> Request<Body> {
        Request::post("/").header(CONTENT_TYPE, content_type).body(Body::empty()).unwrap()
    }

    #[tokio::test]
    async fn ordinary_requests_answer_408_with_our_error_body() {
        let response = slow_app().oneshot(request("application/json")).await.unwrap();
        assert_eq!(response.status(), StatusCode::REQUEST_TIMEOUT);
        let body = axum::body::to_bytes(response.into_body(), 4096).await.unwrap();
        let error: hdms_api_types::ApiError = serde_json::from_slice(&body).unwrap();
        assert_eq!(error.error.code, "request_timeout");
    }

    #[tokio::test]
    async fn streamed_files_may_outlive_the_deadline() {
        for content_type in ["multipart/form-data; boundary=x", "text/csv; charset=utf-8", "Application/Octet-Stream"] {
            let response = slow_app().oneshot(request(content_type)).await.unwrap();
            assert_eq!(response.status(), StatusCode::OK, "{content_type}");
        }
    }
}
