//! The attachment settings admins change at run time, kept in the database so every instance
//! applies the same; the server's configuration gives the default.

use axum::extract::State;
use chrono::Utc;
use hdms_api_types::ApiError;
use hdms_api_types::files::{AttachmentSettings, UnscannedPolicy, UpdateAttachmentSettings};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::config::{Config, UnscannedPolicyArg};
use crate::db::Db;
use crate::error::Result;
use crate::http::extract::AppJson;
use crate::http::permissions::{Authorized, can};
use crate::state::AppState;

const UNSCANNED_POLICY: &str = "attachments.unscanned_policy";

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_settings, update_settings))
}

fn configured_policy(config: &Config) -> UnscannedPolicy {
    match config.unscanned_policy {
        UnscannedPolicyArg::Block => UnscannedPolicy::Block,
        UnscannedPolicyArg::Allow => UnscannedPolicy::Allow,
    }
}

/// The policy in force: the admin's choice if one was made, else the configured default.
pub async fn unscanned_policy(db: &Db, config: &Config) -> Result<UnscannedPolicy> {
    let stored = db.admin_setting(UNSCANNED_POLICY).await?;
    Ok(stored.as_deref().and_then(UnscannedPolicy::parse).unwrap_or_else(|| configured_policy(config)))
}

async fn current(state: &AppState) -> Result<AttachmentSettings> {
    Ok(AttachmentSettings {
        unscanned_policy: unscanned_policy(&state.db, &state.config).await?,
        scanner_configured: state.files.scanner.is_some(),
        max_size: state.config.attachment_max_bytes,
        max_per_ticket: state.config.attachment_max_per_ticket,
    })
}

/// The attachment settings (admins).
#[utoipa::path(get, path = "/settings/attachments", tag = "attachments",
    security(("bearer" = ["attachments.settings"])),
    responses((status = 200, body = AttachmentSettings)))]
async fn get_settings(State(state): State<AppState>, _caller: Authorized<can::ManageAttachmentSettings>) -> Result<AppJson<AttachmentSettings>> {
    Ok(AppJson(current(&state).await?))
}

/// Change what happens to files while no virus scanner is configured (admins).
#[utoipa::path(put, path = "/settings/attachments", tag = "attachments",
    request_body = UpdateAttachmentSettings,
    security(("bearer" = ["attachments.settings"])),
    responses((status = 200, body = AttachmentSettings), (status = 422, body = ApiError)))]
async fn update_settings(
    State(state): State<AppState>,
    caller: Authorized<can::ManageAttachmentSettings>,
    AppJson(update): AppJson<UpdateAttachmentSettings>,
) -> Result<AppJson<AttachmentSettings>> {
    state.db.set_admin_setting(UNSCANNED_POLICY, update.unscanned_policy.as_str(), caller.id(), Utc::now()).await?;
    tracing::info!(policy = update.unscanned_policy.as_str(), admin = %caller.id(), "unscanned-file policy changed");
    Ok(AppJson(current(&state).await?))
}
