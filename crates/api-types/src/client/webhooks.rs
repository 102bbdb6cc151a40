//! Outgoing webhooks (admins).

use reqwest::Method;
use uuid::Uuid;

use super::{Client, Result};
use crate::API_PREFIX;
use crate::webhooks::{
    CreateWebhookEndpoint, UpdateWebhookEndpoint, UpdatedWebhookEndpoint, WebhookDelivery, WebhookDeliveryDetail, WebhookDeliveryQuery,
    UpdateWebhookSettings, WebhookEndpoint, WebhookEndpointWithSecret, WebhookSettings,
};

impl Client {
    pub async fn list_webhooks(&self) -> Result<Vec<WebhookEndpoint>> {
        self.get(&format!("{API_PREFIX}/webhooks")).await
    }

    /// Registers an endpoint; the answer holds its secret, shown this once.
    pub async fn create_webhook(&self, request: &CreateWebhookEndpoint) -> Result<WebhookEndpointWithSecret> {
        self.with_body(Method::POST, &format!("{API_PREFIX}/webhooks"), request).await
    }

    pub async fn get_webhook(&self, id: Uuid) -> Result<WebhookEndpoint> {
        self.get(&format!("{API_PREFIX}/webhooks/{id}")).await
    }

    pub async fn update_webhook(&self, id: Uuid, update: &UpdateWebhookEndpoint) -> Result<UpdatedWebhookEndpoint> {
        self.with_body(Method::PATCH, &format!("{API_PREFIX}/webhooks/{id}"), update).await
    }

    pub async fn delete_webhook(&self, id: Uuid) -> Result<()> {
        self.delete(&format!("{API_PREFIX}/webhooks/{id}")).await
    }

    /// An endpoint's delivery log, newest first.
    pub async fn webhook_deliveries(&self, id: Uuid, query: &WebhookDeliveryQuery) -> Result<Vec<WebhookDelivery>> {
        self.get_query(&format!("{API_PREFIX}/webhooks/{id}/deliveries"), query).await
    }

    pub async fn webhook_delivery(&self, id: Uuid, delivery: Uuid) -> Result<WebhookDeliveryDetail> {
        self.get(&format!("{API_PREFIX}/webhooks/{id}/deliveries/{delivery}")).await
    }

    pub async fn redeliver_webhook(&self, id: Uuid, delivery: Uuid) -> Result<WebhookDelivery> {
        self.send(self.request(Method::POST, &format!("{API_PREFIX}/webhooks/{id}/deliveries/{delivery}/redeliver"))?).await
    }

    /// Sends a `webhook.ping` now and answers with what came of it.
    pub async fn ping_webhook(&self, id: Uuid) -> Result<WebhookDeliveryDetail> {
        self.send(self.request(Method::POST, &format!("{API_PREFIX}/webhooks/{id}/ping"))?).await
    }

    pub async fn webhook_settings(&self) -> Result<WebhookSettings> {
        self.get(&format!("{API_PREFIX}/settings/webhooks")).await
    }

    /// Replaces the admins' allow-list of internal networks webhooks may reach.
    pub async fn update_webhook_settings(&self, update: &UpdateWebhookSettings) -> Result<WebhookSettings> {
        self.with_body(Method::PUT, &format!("{API_PREFIX}/settings/webhooks"), update).await
    }
}
