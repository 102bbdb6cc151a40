//! The slowest a streamed upload or import may arrive. The idle timeout between body chunks
//! sheds a client that stops sending, but one that sends a byte just inside it each time would
//! hold its request (a connection, a temporary file, an import's transaction turn) for as long
//! as it likes. Once a grace period has passed, each chunk that arrives is checked against the
//! average rate since the request began; below the minimum the body fails and the request
//! answers 408 `upload_too_slow`, whatever the handler made of the broken body.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures::StreamExt;

use crate::error::Error;
use crate::http::deadline::streams_a_file;

#[derive(Debug, Clone, Copy)]
pub struct MinRate {
    /// 0: no minimum.
    pub bytes_per_sec: u64,
    pub grace: Duration,
}

#[derive(Debug, thiserror::Error)]
#[error("the body arrived slower than the minimum of {0} bytes per second")]
struct TooSlow(u64);

/// Middleware: holds streamed bodies to the minimum rate.
pub async fn min_rate(State(rate): State<MinRate>, request: Request, next: Next) -> Response {
    if rate.bytes_per_sec == 0 || !streams_a_file(&request) {
        return next.run(request).await;
    }
    let tripped = Arc::new(AtomicBool::new(false));
    let request = request.map(|body| held_to(body, rate, tripped.clone()));
    let response = next.run(request).await;
    if tripped.load(Ordering::Relaxed) {
        return Error::UploadTooSlow { min_bytes_per_sec: rate.bytes_per_sec }.into_response();
    }
    response
}

fn held_to(body: Body, rate: MinRate, tripped: Arc<AtomicBool>) -> Body {
    let started = Instant::now();
    let mut received: u64 = 0;
    let checked = body.into_data_stream().map(move |chunk| {
        let chunk = chunk?;
        received += chunk.len() as u64;
        let elapsed = started.elapsed();
        if elapsed > rate.grace && (received as f64) < rate.bytes_per_sec as f64 * elapsed.as_secs_f64() {
            tripped.store(true, Ordering::Relaxed);
            return Err(axum::Error::new(TooSlow(rate.bytes_per_sec)));
        }
        Ok(chunk)
    });
    Body::from_stream(checked)
}

#[cfg(test)]
mod tests {
    use axum::Router;
    use axum::http::StatusCode;
    use axum::http::header::CONTENT_TYPE;
    use axum::routing::post;
    use tower::ServiceExt;

    use super::*;

    /// Reads the whole body, answering 400 if it breaks (as the upload route would).
    fn app(rate: MinRate) -> Router {
        async fn read(body: Body) -> StatusCode {
            match axum::body::to_bytes(body, usize::MAX).await {
                Ok(_) => StatusCode::OK,
                Err(_) => StatusCode::BAD_REQUEST,
            }
        }
        Router::new().route("/", post(read)).layer(axum::middleware::from_fn_with_state(rate, min_rate))
    }

    /// Ten chunks of ten bytes, `gap` apart.
    fn trickled(content_type: &str, gap: Duration) -> Request {
        let chunks = futures::stream::iter(0..10).then(move |_| async move {
            tokio::time::sleep(gap).await;
            Ok::<_, std::io::Error>(vec![b'x'; 10])
        });
        Request::post("/").header(CONTENT_TYPE, content_type).body(Body::from_stream(chunks)).unwrap()
    }

    const RATE: MinRate = MinRate { bytes_per_sec: 1000, grace: Duration::from_millis(50) };

    #[tokio::test]
    async fn a_trickled_upload_answers_408_upload_too_slow() {
        let response = app(RATE).oneshot(trickled("multipart/form-data; boundary=x", Duration::from_millis(20))).await.unwrap();
        assert_eq!(response.status(), StatusCode::REQUEST_TIMEOUT);
        let body = axum::body::to_bytes(response.into_body(), 4096).await.unwrap();
        let error: hdms_api_types::ApiError = serde_json::from_slice(&body).unwrap();
        assert_eq!(error.error.code, "upload_too_slow");
    }

    #[tokio::test]
    async fn fast_uploads_ordinary_requests_and_no_minimum_pass() {
        let fast = app(RATE).oneshot(trickled("text/csv", Duration::ZERO)).await.unwrap();
        assert_eq!(fast.status(), StatusCode::OK);
        // JSON bodies have the request deadline instead.
        let json = app(RATE).oneshot(trickled("application/json", Duration::from_millis(20))).await.unwrap();
        assert_eq!(json.status(), StatusCode::OK);
        let off = MinRate { bytes_per_sec: 0, ..RATE };
        let slow = app(off).oneshot(trickled("text/csv", Duration::from_millis(20))).await.unwrap();
        assert_eq!(slow.status(), StatusCode::OK);
    }
}
