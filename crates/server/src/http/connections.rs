//! Accepting and serving connections. This is what `axum::serve` does, plus what it does not let
//! us configure: a deadline for a request's head (`axum::serve` gives hyper no timer, so a client
//! trickling its headers byte by byte held a connection and its task forever) and a cap on the
//! head's size (hyper's default buffer let a client send ~400 KiB of headers per connection).

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio_util::task::TaskTracker;

/// What each connection is served with.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub header_read_timeout: Duration,
    pub max_header_bytes: usize,
}

/// hyper refuses a read buffer smaller than this.
const MIN_HEADER_BYTES: usize = 8192;

/// Serves `app` on `listener` until `shutdown` completes, then lets the connections finish their
/// requests in flight (upgraded websockets are their own tasks, ended by the hub).
pub async fn serve(listener: TcpListener, app: Router, limits: Limits, shutdown: impl Future<Output = ()> + Send + 'static) {
    let (stop, stopped) = tokio::sync::watch::channel(());
    let connections = TaskTracker::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    accept_failed(err).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        // The peer address reaches the handlers as axum's `into_make_service_with_connect_info`
        // gives it (the per-address rate limit counts by it).
        let service = TowerToHyperService::new(tower::Layer::layer(&axum::Extension(ConnectInfo::<SocketAddr>(peer)), app.clone()));
        let mut stopped = stopped.clone();
        connections.spawn(async move {
            let mut builder = Builder::new(TokioExecutor::new());
            builder
                .http1()
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_read_timeout)
                .max_buf_size(limits.max_header_bytes.max(MIN_HEADER_BYTES));
            // As axum::serve: the CONNECT protocol carries websockets over HTTP/2.
            builder
                .http2()
                .timer(TokioTimer::new())
                .enable_connect_protocol()
                .max_header_list_size(u32::try_from(limits.max_header_bytes).unwrap_or(u32::MAX));
            let connection = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
            let mut connection = std::pin::pin!(connection);
            tokio::select! {
                result = connection.as_mut() => {
                    if let Err(err) = result {
                        tracing::debug!(%peer, error = %err, "connection ended with an error");
                    }
                    return;
                }
                _ = stopped.changed() => connection.as_mut().graceful_shutdown(),
            }
            let _ = connection.await;
        });
    }
    drop(listener);
    let _ = stop.send(());
    connections.close();
    connections.wait().await;
}

/// Connection errors concern one client; anything else (out of file descriptors) would spin the
/// loop, so it waits a moment first, as `axum::serve` does.
async fn accept_failed(err: std::io::Error) {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(err.kind(), ConnectionRefused | ConnectionAborted | ConnectionReset) {
        return;
    }
    tracing::error!(error = %err, "accepting a connection failed");
    tokio::time::sleep(Duration::from_secs(1)).await;
}
