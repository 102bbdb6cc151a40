//! The email channel.

use reqwest::{Body, Method};
use uuid::Uuid;

use super::{Client, Result};
use crate::API_PREFIX;
use crate::mail::{FailingAddress, InboundResult, MailFailure, MailMessage};

impl Client {
    /// Hands one raw RFC 5322 message to the server (what `hdms mailgate` does), for the
    /// mailbox named `mailbox` (the default mailgate mailbox when `None`).
    pub async fn mail_inbound(&self, raw: impl Into<Body>, mailbox: Option<&str>) -> Result<InboundResult> {
        let mut builder = self
            .request(Method::POST, &format!("{API_PREFIX}/mail/inbound"))?
            .header(reqwest::header::CONTENT_TYPE, "message/rfc822")
            .body(raw);
        if let Some(mailbox) = mailbox {
            builder = builder.query(&[("mailbox", mailbox)]);
        }
        self.send(builder).await
    }

    /// The mail received and sent for a ticket, with full texts.
    pub async fn ticket_mail(&self, ticket: Uuid) -> Result<Vec<MailMessage>> {
        self.get(&format!("{API_PREFIX}/tickets/{ticket}/mail")).await
    }

    /// Mail that could not be taken in (admins); with `all`, also what a retry took in since.
    pub async fn mail_failures(&self, all: bool) -> Result<Vec<MailFailure>> {
        self.get_query(&format!("{API_PREFIX}/mail/failures"), &[("all", all)]).await
    }

    /// Takes a failed message in again.
    pub async fn retry_mail_failure(&self, id: Uuid) -> Result<InboundResult> {
        self.send(self.request(Method::POST, &format!("{API_PREFIX}/mail/failures/{id}/retry"))?).await
    }

    /// Addresses marked failing by bounces.
    pub async fn failing_addresses(&self) -> Result<Vec<FailingAddress>> {
        self.get(&format!("{API_PREFIX}/mail/failing-addresses")).await
    }

    /// Clears a failing address so mail goes to it again.
    pub async fn clear_failing_address(&self, address: &str) -> Result<()> {
        self.send_empty(self.request(Method::DELETE, &format!("{API_PREFIX}/mail/failing-addresses/{address}"))?).await
    }
}

impl Client {
    /// The SMTP account (admins); the password is never shown.
    pub async fn smtp_settings(&self) -> Result<crate::mail::SmtpSettings> {
        self.get(&format!("{API_PREFIX}/mail/smtp")).await
    }

    pub async fn set_smtp_settings(&self, settings: &crate::mail::UpdateSmtpSettings) -> Result<crate::mail::SmtpSettings> {
        self.with_body(Method::PUT, &format!("{API_PREFIX}/mail/smtp"), settings).await
    }
}

impl Client {
    /// Checks that the SMTP account works: connects, starts TLS as set, logs in (admins).
    pub async fn test_smtp(&self) -> Result<crate::mail::MailServerCheck> {
        self.send(self.request(Method::POST, &format!("{API_PREFIX}/mail/smtp/test"))?).await
    }

    /// The mailboxes mail comes in through (admins); IMAP passwords are never shown.
    pub async fn mailboxes(&self) -> Result<Vec<crate::mail::Mailbox>> {
        self.get(&format!("{API_PREFIX}/mail/mailboxes")).await
    }

    pub async fn mailbox(&self, id: Uuid) -> Result<crate::mail::Mailbox> {
        self.get(&format!("{API_PREFIX}/mail/mailboxes/{id}")).await
    }

    pub async fn create_mailbox(&self, mailbox: &crate::mail::CreateMailbox) -> Result<crate::mail::Mailbox> {
        self.with_body(Method::POST, &format!("{API_PREFIX}/mail/mailboxes"), mailbox).await
    }

    pub async fn update_mailbox(&self, id: Uuid, update: &crate::mail::UpdateMailbox) -> Result<crate::mail::Mailbox> {
        self.with_body(Method::PATCH, &format!("{API_PREFIX}/mail/mailboxes/{id}"), update).await
    }

    pub async fn delete_mailbox(&self, id: Uuid) -> Result<()> {
        self.delete(&format!("{API_PREFIX}/mail/mailboxes/{id}")).await
    }

    /// Connects to a mailbox's IMAP server, logs in and opens its folder.
    pub async fn test_mailbox(&self, id: Uuid) -> Result<crate::mail::MailServerCheck> {
        self.send(self.request(Method::POST, &format!("{API_PREFIX}/mail/mailboxes/{id}/test"))?).await
    }
}
