//! Bulk user import and invitations.

use reqwest::{Body, Method};

use super::{Client, Result};
use crate::API_PREFIX;
use crate::import::{AcceptInvite, ImportQuery, ImportReport};
use crate::users::User;

impl Client {
    /// Uploads a CSV file of users. The body is streamed as given (a file opened with
    /// `reqwest::Body::wrap_stream`, or bytes in memory); `length`, when known, lets the server
    /// refuse an oversized file before reading it.
    pub async fn import_users(&self, query: &ImportQuery, body: impl Into<Body>, length: Option<u64>) -> Result<ImportReport> {
        let mut builder = self
            .request(Method::POST, &format!("{API_PREFIX}/users/import"))?
            .query(query)
            .header(reqwest::header::CONTENT_TYPE, "text/csv; charset=utf-8")
            .body(body);
        if let Some(length) = length {
            builder = builder.header(reqwest::header::CONTENT_LENGTH, length);
        }
        self.send(builder).await
    }

    /// Sets an invited user's password with their one-time invitation token.
    pub async fn accept_invite(&self, token: &str, password: &str) -> Result<User> {
        let request = AcceptInvite { token: token.to_owned(), password: password.to_owned() };
        self.with_body(Method::POST, &format!("{API_PREFIX}/auth/accept-invite"), &request).await
    }
}
