//! The hdms server: one axum application over SQLite or PostgreSQL.
//!
//! Domains are modules with their own routers (`users` today; tickets, comms and files join as
//! they are built). [`start`] wires storage, secrets and the first admin; [`serve`] runs it.

pub mod app;
pub mod background;
pub mod backup;
pub mod bootstrap;
pub mod comms;
pub mod config;
pub mod db;
pub mod error;
pub mod events;
pub mod files;
pub mod http;
pub mod rules;
pub mod state;
pub mod tickets;
pub mod users;

use std::future::Future;
use std::sync::Arc;

use tokio::net::TcpListener;

use crate::bootstrap::BootstrapAdmin;
use crate::config::Config;
use crate::db::Db;
use crate::state::AppState;
use crate::users::jwt::JwtKeys;

/// The number of the newest database migration (see build.rs).
pub const SCHEMA_VERSION: u32 = match u32::from_str_radix(env!("HDMS_SCHEMA_VERSION"), 10) {
    Ok(version) => version,
    Err(_) => panic!("HDMS_SCHEMA_VERSION is a number"),
};

/// What `--version` prints.
pub const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (schema ", env!("HDMS_SCHEMA_VERSION"), ")");

/// A server ready to serve: storage open and migrated, secrets loaded, first admin made.
pub struct Started {
    pub state: AppState,
    pub bootstrap_admin: Option<BootstrapAdmin>,
}

pub async fn start(config: Config) -> anyhow::Result<Started> {
    let db = Db::connect(config.database_url.as_deref(), &config.data_dir, config.db_max_connections).await?;
    let secret = bootstrap::jwt_secret(&config, &db).await?;
    let files = Arc::new(files::Files::from_config(&config)?);
    // A provider that cannot work stops the server now rather than losing messages later.
    comms::sms::gateway::from_config(&config)?;
    files.announce().await;
    let sessions = Arc::new(users::session_cache::SessionCache::new());
    let hub = comms::hub::Hub::new(db.clone(), config.ws_backlog, sessions.clone());
    let sockets = http::limits::SocketLimits::new(&config);
    let state = AppState { db, config: Arc::new(config), jwt: Arc::new(JwtKeys::new(secret.as_bytes())), files, hub, sockets, sessions };
    let bootstrap_admin = bootstrap::ensure_admin(&state).await?;
    Ok(Started { state, bootstrap_admin })
}

/// Serves until `shutdown` completes, then finishes the requests in flight.
pub async fn serve(listener: TcpListener, state: AppState, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
    let db = state.db.clone();
    let attachment_worker = files::worker::spawn(state.clone());
    let upload_sweep = files::sweep::spawn(state.clone());
    let sla_job = tickets::sla_job::spawn(state.clone());
    let rules_job = rules::job::spawn(state.clone());
    let sms_worker = comms::sms::worker::spawn(state.clone())?;
    let mail_sender = comms::mail::sender::spawn(state.clone());
    let mail_poller = comms::mail::imap::spawn(state.clone());
    let webhook_worker = comms::webhooks::worker::spawn(state.clone())?;
    let realtime = comms::hub::spawn_feed(state.hub.clone());
    let checkpointer = db.spawn_checkpointer();
    let limits = http::connections::Limits { header_read_timeout: state.config.header_read_timeout(), max_header_bytes: state.config.max_header_bytes };
    http::connections::serve(listener, app::router(state), limits, shutdown).await;
    attachment_worker.stop().await;
    upload_sweep.stop().await;
    sla_job.stop().await;
    rules_job.stop().await;
    sms_worker.stop().await;
    mail_sender.stop().await;
    mail_poller.stop().await;
    webhook_worker.stop().await;
    realtime.stop().await;
    if let Some(checkpointer) = checkpointer {
        checkpointer.stop().await;
    }
    db.close().await;
    Ok(())
}

/// Completes on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}
