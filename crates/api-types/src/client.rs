//! The one typed async client for the hdms API, shared by the CLI, the TUI and the server's
//! end-to-end tests.

use std::sync::{Arc, RwLock};

use reqwest::{Method, RequestBuilder, StatusCode};
use serde::{Serialize, de::DeserializeOwned};
use uuid::Uuid;

use crate::auth::{Health, LoginRequest, LoginResponse, LogoutRequest, RefreshRequest};
use crate::teams::{CreateTeam, Team, TeamListQuery, UpdateTeam};
use crate::tokens::{ApiToken, CreateApiToken, CreatedApiToken};
use crate::users::{CreateUser, UpdateUser, User, UserListQuery};
use crate::{API_PREFIX, ApiError, Page};

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

    async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        self.send(self.request(Method::GET, path)?).await
    }

    async fn get_query<T: DeserializeOwned, Q: Serialize>(&self, path: &str, query: &Q) -> Result<T> {
        self.send(self.request(Method::GET, path)?.query(query)).await
    }

    async fn with_body<T: DeserializeOwned, B: Serialize>(
        &self,
        method: Method,
        path: &str,
        body: &B,
    ) -> Result<T> {
        self.send(self.request(method, path)?.json(body)).await
    }

    async fn delete(&self, path: &str) -> Result<()> {
        self.send_empty(self.request(Method::DELETE, path)?).await
    }

    // --- health -------------------------------------------------------------------------

    pub async fn health(&self) -> Result<Health> {
        self.get("/healthz").await
    }

    // --- auth ---------------------------------------------------------------------------

    /// Logs in and keeps the access token for the calls that follow.
    pub async fn login(&self, email: &str, password: &str) -> Result<LoginResponse> {
        let request = LoginRequest { email: email.to_owned(), password: password.to_owned() };
        let answer: LoginResponse =
            self.with_body(Method::POST, &format!("{API_PREFIX}/auth/login"), &request).await?;
        self.set_token(Some(answer.access_token.clone()));
        Ok(answer)
    }

    /// Trades a refresh token for a new pair and keeps the new access token.
    pub async fn refresh(&self, refresh_token: &str) -> Result<LoginResponse> {
        let request = RefreshRequest { refresh_token: refresh_token.to_owned() };
        let answer: LoginResponse =
            self.with_body(Method::POST, &format!("{API_PREFIX}/auth/refresh"), &request).await?;
        self.set_token(Some(answer.access_token.clone()));
        Ok(answer)
    }

    pub async fn logout(&self, refresh_token: Option<&str>) -> Result<()> {
        let request = LogoutRequest { refresh_token: refresh_token.map(str::to_owned) };
        let builder = self.request(Method::POST, &format!("{API_PREFIX}/auth/logout"))?;
        self.send_empty(builder.json(&request)).await
    }

    // --- users --------------------------------------------------------------------------

    pub async fn me(&self) -> Result<User> {
        self.get(&format!("{API_PREFIX}/users/me")).await
    }

    pub async fn list_users(&self, query: &UserListQuery) -> Result<Page<User>> {
        self.get_query(&format!("{API_PREFIX}/users"), query).await
    }

    pub async fn get_user(&self, id: Uuid) -> Result<User> {
        self.get(&format!("{API_PREFIX}/users/{id}")).await
    }

    pub async fn create_user(&self, user: &CreateUser) -> Result<User> {
        self.with_body(Method::POST, &format!("{API_PREFIX}/users"), user).await
    }

    pub async fn update_user(&self, id: Uuid, update: &UpdateUser) -> Result<User> {
        self.with_body(Method::PATCH, &format!("{API_PREFIX}/users/{id}"), update).await
    }

    pub async fn delete_user(&self, id: Uuid) -> Result<()> {
        self.delete(&format!("{API_PREFIX}/users/{id}")).await
    }

    pub async fn restore_user(&self, id: Uuid) -> Result<User> {
        self.send(self.request(Method::POST, &format!("{API_PREFIX}/users/{id}/restore"))?).await
    }

    // --- teams --------------------------------------------------------------------------

    pub async fn list_teams(&self, query: &TeamListQuery) -> Result<Vec<Team>> {
        self.get_query(&format!("{API_PREFIX}/teams"), query).await
    }

    pub async fn get_team(&self, id: Uuid) -> Result<Team> {
        self.get(&format!("{API_PREFIX}/teams/{id}")).await
    }

    pub async fn create_team(&self, team: &CreateTeam) -> Result<Team> {
        self.with_body(Method::POST, &format!("{API_PREFIX}/teams"), team).await
    }

    pub async fn update_team(&self, id: Uuid, update: &UpdateTeam) -> Result<Team> {
        self.with_body(Method::PATCH, &format!("{API_PREFIX}/teams/{id}"), update).await
    }

    pub async fn delete_team(&self, id: Uuid) -> Result<()> {
        self.delete(&format!("{API_PREFIX}/teams/{id}")).await
    }

    pub async fn restore_team(&self, id: Uuid) -> Result<Team> {
        self.send(self.request(Method::POST, &format!("{API_PREFIX}/teams/{id}/restore"))?).await
    }

    pub async fn add_team_member(&self, team: Uuid, user: Uuid) -> Result<Team> {
        self.send(self.request(Method::PUT, &format!("{API_PREFIX}/teams/{team}/members/{user}"))?)
            .await
    }

    pub async fn remove_team_member(&self, team: Uuid, user: Uuid) -> Result<Team> {
        let path = format!("{API_PREFIX}/teams/{team}/members/{user}");
        self.send(self.request(Method::DELETE, &path)?).await
    }

    // --- personal API tokens ------------------------------------------------------------

    pub async fn create_token(&self, request: &CreateApiToken) -> Result<CreatedApiToken> {
        self.with_body(Method::POST, &format!("{API_PREFIX}/tokens"), request).await
    }

    pub async fn list_tokens(&self) -> Result<Vec<ApiToken>> {
        self.get(&format!("{API_PREFIX}/tokens")).await
    }

    pub async fn revoke_token(&self, id: Uuid) -> Result<()> {
        self.delete(&format!("{API_PREFIX}/tokens/{id}")).await
    }
}
