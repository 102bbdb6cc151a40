//! The webhook settings admins change at run time (`GET/PUT /api/v1/settings/webhooks`): the
//! allow-list of internal networks receivers may sit in, beside the configured one
//! (`HDMS_WEBHOOK_ALLOW`). Kept in `admin_settings` so every instance applies the same list;
//! each worker reloads it on every pass and the URL check reads it on every save.

use axum::extract::State;
use chrono::Utc;
use hdms_api_types::ApiError;
use hdms_api_types::webhooks::{UpdateWebhookSettings, WebhookSettings};
use ipnet::IpNet;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::db::Db;
use crate::error::{Error, Result};
use crate::http::extract::AppJson;
use crate::http::permissions::{Authorized, can};
use crate::state::AppState;

const ALLOW: &str = "webhooks.allow";
/// Entries in the admins' list; receivers inside a network are a handful of ranges.
const MAX_ENTRIES: usize = 100;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_settings, update_settings))
}

/// The admins' allow-list (empty until one is set). Entries that no longer parse are skipped:
/// they were checked when saved.
pub async fn admitted(db: &Db) -> Result<Vec<IpNet>> {
    let stored = db.admin_setting(ALLOW).await?;
    Ok(stored.iter().flat_map(|v| v.split(',')).filter_map(|net| net.trim().parse().ok()).collect())
}

/// A network as typed: CIDR, or a bare address standing for itself alone.
fn parse_network(text: &str) -> Result<IpNet> {
    let text = text.trim();
    let net = match text.parse::<IpNet>() {
        Ok(net) => net,
        Err(_) => text
            .parse::<std::net::IpAddr>()
            .map(IpNet::from)
            .map_err(|_| Error::invalid("allow", format!("'{text}' is not a network (e.g. 10.20.0.0/16) nor an address")))?,
    };
    if net.prefix_len() == 0 {
        return Err(Error::invalid("allow", format!("'{text}' admits every address: that turns the protection off")));
    }
    // 10.20.3.4/16 means the network 10.20.0.0/16.
    Ok(net.trunc())
}

async fn current(state: &AppState) -> Result<WebhookSettings> {
    Ok(WebhookSettings {
        allow: admitted(&state.db).await?.iter().map(ToString::to_string).collect(),
        configured_allow: state.config.webhook_allow.iter().map(ToString::to_string).collect(),
    })
}

/// The webhook settings (admins).
#[utoipa::path(get, path = "/settings/webhooks", tag = "webhooks",
    security(("bearer" = ["webhooks.manage"])),
    responses((status = 200, body = WebhookSettings)))]
async fn get_settings(State(state): State<AppState>, _caller: Authorized<can::ManageWebhooks>) -> Result<AppJson<WebhookSettings>> {
    Ok(AppJson(current(&state).await?))
}

/// Replace the admins' allow-list of internal networks webhooks may be delivered to (loopback,
/// private, link-local and metadata addresses are refused otherwise). Applies to the next
/// attempt on every instance.
#[utoipa::path(put, path = "/settings/webhooks", tag = "webhooks",
    request_body = UpdateWebhookSettings,
    security(("bearer" = ["webhooks.manage"])),
    responses((status = 200, body = WebhookSettings), (status = 422, body = ApiError)))]
async fn update_settings(
    State(state): State<AppState>,
    caller: Authorized<can::ManageWebhooks>,
    AppJson(update): AppJson<UpdateWebhookSettings>,
) -> Result<AppJson<WebhookSettings>> {
    if update.allow.len() > MAX_ENTRIES {
        return Err(Error::invalid("allow", format!("at most {MAX_ENTRIES} networks")));
    }
    let mut networks = update.allow.iter().map(|text| parse_network(text)).collect::<Result<Vec<IpNet>>>()?;
    networks.sort_unstable();
    networks.dedup();
    let value = networks.iter().map(ToString::to_string).collect::<Vec<_>>().join(",");
    state.db.set_admin_setting(ALLOW, &value, caller.id(), Utc::now()).await?;
    tracing::info!(allow = value, admin = %caller.id(), "webhook allow-list changed");
    Ok(AppJson(current(&state).await?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_networks_and_bare_addresses() {
        assert_eq!(parse_network(" 10.20.3.4/16 ").unwrap().to_string(), "10.20.0.0/16");
        assert_eq!(parse_network("127.0.0.1").unwrap().to_string(), "127.0.0.1/32");
        assert_eq!(parse_network("::1").unwrap().to_string(), "::1/128");
        assert!(parse_network("0.0.0.0/0").is_err());
        assert!(parse_network("intranet").is_err());
    }
}
