//! The one typed async client for the hdms API, shared by the CLI, the TUI and the server's
//! end-to-end tests.

use std::sync::{Arc, RwLock};

use reqwest::{Method, RequestBuilder, StatusCode};
use serde::{Serialize, de::DeserializeOwned};

use crate::ApiError;

mod files;
mod import;
mod mail;
mod sms;
mod live;
mod notifications;
mod rules;
mod ticket_tools;
mod tickets;
mod users;
mod webhooks;

pub use files::Download;
pub use sms::OTP_REQUIRED;
pub use live::{Live, LiveError};

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server answered with an error body.
    #[error("{status}: {body}")]
    Api { status: StatusCode, body: ApiError },
    /// The server answered something that is not our error format (a proxy, a crash page).
    #[error("unexpected answer {status}: {text}")]
    Unexpected { status: StatusCode, text: String },
    #[error("cannot reach the server: {0}")]
    Transport(#[from] reqwest::Error),
    #[error("invalid server URL: {0}")]
    Url(#[from] url::ParseError),
}

impl ClientError {
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            ClientError::Api { status, .. } | ClientError::Unexpected { status, .. } => {
                Some(*status)
            }
            ClientError::Transport(e) => e.status(),
            ClientError::Url(_) => None,
        }
    }

    /// The server's machine-readable error code, if it sent one.
    pub fn code(&self) -> Option<&str> {
        match self {
            ClientError::Api { body, .. } => Some(&body.error.code),
            _ => None,
        }
    }
}

pub type Result<T, E = ClientError> = std::result::Result<T, E>;

/// A cheap-to-clone handle on one server with (optionally) one bearer credential.
#[derive(Clone)]
pub struct Client {
    base: url::Url,
    http: reqwest::Client,
    token: Arc<RwLock<Option<String>>>,
}

impl Client {
    pub fn new(base: &str) -> Result<Self> {
        let mut base = url::Url::parse(base)?;
        if !base.path().ends_with('/') {
            base.set_path(&format!("{}/", base.path()));
        }
        let http = reqwest::Client::builder()
            .user_agent(concat!("hdms-client/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self { base, http, token: Arc::new(RwLock::new(None)) })
    }

    pub fn base_url(&self) -> &url::Url {
        &self.base
    }

    /// Use this access token or personal API token for the calls that follow.
    pub fn set_token(&self, token: Option<String>) {
        *self.token.write().expect("token lock poisoned") = token;
    }

    pub fn token(&self) -> Option<String> {
        self.token.read().expect("token lock poisoned").clone()
    }

    /// A request to `path` (relative to the server root, e.g. `/api/v1/users/me`) carrying the
    /// current credential. Public so callers can reach routes this client has no method for yet.
    pub fn request(&self, method: Method, path: &str) -> Result<RequestBuilder> {
        let url = self.base.join(path.trim_start_matches('/'))?;
        let mut builder = self.http.request(method, url);
        if let Some(token) = self.token() {
            builder = builder.bearer_auth(token);
        }
        Ok(builder)
    }

    /// Sends a request and decodes a JSON answer, or our error body.
    pub async fn send<T: DeserializeOwned>(&self, builder: RequestBuilder) -> Result<T> {
        let response = builder.send().await?;
        let status = response.status();
        if status.is_success() {
            return Ok(response.json().await?);
        }
        Err(Self::error_from(status, response).await)
    }

    /// Sends a request whose success answer has no body (204).
    pub async fn send_empty(&self, builder: RequestBuilder) -> Result<()> {
        let response = builder.send().await?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        Err(Self::error_from(status, response).await)
    }

    async fn error_from(status: StatusCode, response: reqwest::Response) -> ClientError {
        let text = response.text().await.unwrap_or_default();
        match serde_json::from_str::<ApiError>(&text) {
            Ok(body) => ClientError::Api { status, body },
            Err(_) => ClientError::Unexpected { status, text },
        }
    }

    pub(crate) async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        self.send(self.request(Method::GET, path)?).await
    }

    pub(crate) async fn get_query<T: DeserializeOwned, Q: Serialize>(&self, path: &str, query: &Q) -> Result<T> {
        self.send(self.request(Method::GET, path)?.query(query)).await
    }

    pub(crate) async fn with_body<T: DeserializeOwned, B: Serialize>(
        &self,
        method: Method,
        path: &str,
        body: &B,
    ) -> Result<T> {
        self.send(self.request(method, path)?.json(body)).await
    }

    pub(crate) async fn delete(&self, path: &str) -> Result<()> {
        self.send_empty(self.request(Method::DELETE, path)?).await
    }
}
