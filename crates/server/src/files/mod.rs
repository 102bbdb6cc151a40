//! Attachments: streaming upload, type checks, content-addressed storage (local or S3), virus
//! scanning with clamd in a background worker, thumbnails, and guarded downloads.

pub mod clamd;
pub mod incoming;
pub mod intake;
pub mod names;
pub mod receive;
pub mod routes;
pub mod settings;
pub mod storage;
pub mod store;
pub mod sweep;
pub mod thumbnail;
pub mod types;
pub mod worker;

use std::path::PathBuf;

use utoipa_axum::router::OpenApiRouter;

use crate::config::Config;
use anyhow::Context;

use crate::files::clamd::{Clamd, ClamdAddr};
use crate::files::incoming::Incoming;
use crate::files::storage::Storage;
use crate::files::types::BlockedTypes;
use crate::state::AppState;

/// What the attachment routes and the worker share.
pub struct Files {
    pub storage: Storage,
    pub scanner: Option<Clamd>,
    pub blocked: BlockedTypes,
    /// Where this process receives uploads before they are checked and stored (its own folder
    /// under `incoming_root`, swept by others if it dies).
    pub incoming: Incoming,
    pub incoming_root: PathBuf,
    /// Wakes the worker when an upload has left work for it.
    pub wake: tokio::sync::Notify,
}

impl Files {
    pub fn from_config(config: &Config) -> anyhow::Result<Files> {
        let scanner = match config.clamd.as_deref() {
            Some(addr) => Some(Clamd::new(ClamdAddr::parse(addr).map_err(anyhow::Error::msg)?)),
            None => None,
        };
        Ok(Files {
            storage: Storage::from_config(config)?,
            scanner,
            blocked: BlockedTypes::new(&config.attachment_blocked_types),
            incoming: Incoming::claim(&storage::incoming_dir(config))
                .with_context(|| format!("cannot make a receiving folder in {}", storage::incoming_dir(config).display()))?,
            incoming_root: storage::incoming_dir(config),
            wake: tokio::sync::Notify::new(),
        })
    }

    /// Says at start what protects downloads, loudly when nothing does.
    pub async fn announce(&self) {
        tracing::info!(storage = self.storage.description(), "attachment storage");
        match &self.scanner {
            Some(clamd) => match clamd.ping().await {
                Ok(()) => tracing::info!(clamd = %clamd.addr(), "attachments are scanned by clamd"),
                Err(err) => tracing::warn!(
                    clamd = %clamd.addr(),
                    error = %err,
                    "clamd does not answer yet: uploads wait in scan_failed and are retried until it does"
                ),
            },
            None => tracing::warn!(
                "NO VIRUS SCANNER CONFIGURED (HDMS_CLAMD is not set): attachments cannot be scanned. \
                 They are marked unscanned and can be downloaded only if an admin sets the unscanned \
                 policy to allow (default: block)."
            ),
        }
    }
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().merge(routes::router()).merge(settings::router())
}
