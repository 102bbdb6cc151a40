//! The notification inbox over REST (the websocket pushes the same notifications live).

use reqwest::Method;
use uuid::Uuid;

use super::{Client, Result};
use crate::API_PREFIX;
use crate::Page;
use crate::notifications::{Notification, NotificationListQuery, UnreadCount};

impl Client {
    /// One's notifications, newest first.
    pub async fn notifications(&self, query: &NotificationListQuery) -> Result<Page<Notification>> {
        self.get_query(&format!("{API_PREFIX}/notifications"), query).await
    }

    pub async fn unread_notifications(&self) -> Result<UnreadCount> {
        self.get(&format!("{API_PREFIX}/notifications/unread-count")).await
    }

    pub async fn mark_notification_read(&self, id: Uuid) -> Result<()> {
        self.send_empty(self.request(Method::POST, &format!("{API_PREFIX}/notifications/{id}/read"))?).await
    }

    pub async fn mark_all_notifications_read(&self) -> Result<UnreadCount> {
        self.send(self.request(Method::POST, &format!("{API_PREFIX}/notifications/read-all"))?).await
    }
}
