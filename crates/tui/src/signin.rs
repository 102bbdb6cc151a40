//! Sign-in for the runtime, on the credential store shared with `hdms`.
//!
//! TEMPORARY: the shared store (`hdms_api_types::credentials`) is landing from the server
//! helper; until it is on main this stand-in has its surface (`Target`, `Session`) with
//! `HDMS_TOKEN` only and sessions kept in memory. It is replaced by a re-export.

use hdms_api_types::auth::LoginResponse;
use hdms_api_types::client::{Client, ClientError};
use hdms_api_types::users::User;

#[derive(Debug)]
pub enum CredentialsError {
    NotLoggedIn { server: String, profile: String },
    Api(ClientError),
}

impl std::error::Error for CredentialsError {}

impl std::fmt::Display for CredentialsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CredentialsError::NotLoggedIn { server, profile } => {
                write!(f, "not logged in to {server} (profile '{profile}')")
            }
            CredentialsError::Api(err) => err.fmt(f),
        }
    }
}

impl From<ClientError> for CredentialsError {
    fn from(err: ClientError) -> Self {
        CredentialsError::Api(err)
    }
}

impl CredentialsError {
    pub fn needs_login(&self) -> bool {
        match self {
            CredentialsError::NotLoggedIn { .. } => true,
            CredentialsError::Api(err) => err.status().map(|s| s.as_u16()) == Some(401),
        }
    }
}

#[derive(Clone)]
pub struct Target {
    pub profile: String,
    pub server: String,
}

impl Target {
    pub fn resolve(server_flag: Option<&str>, profile_flag: Option<&str>) -> Result<Target, CredentialsError> {
        Ok(Target {
            profile: profile_flag.unwrap_or("default").to_owned(),
            server: server_flag.unwrap_or("http://127.0.0.1:8080").to_owned(),
        })
    }

    pub fn anonymous_client(&self) -> Result<Client, CredentialsError> {
        Ok(Client::new(&self.server)?)
    }

    pub fn config_dir(&self) -> Option<std::path::PathBuf> {
        crate::config::config_dir()
    }

    pub fn saved_email(&self) -> Option<String> {
        None
    }

    pub fn has_saved_login(&self) -> bool {
        std::env::var("HDMS_TOKEN").is_ok_and(|t| !t.trim().is_empty())
    }
}

#[derive(Clone)]
pub struct Session {
    client: Client,
}

impl Session {
    pub async fn open(target: Target) -> Result<Session, CredentialsError> {
        let token = std::env::var("HDMS_TOKEN").ok().filter(|t| !t.trim().is_empty()).ok_or_else(|| {
            CredentialsError::NotLoggedIn { server: target.server.clone(), profile: target.profile.clone() }
        })?;
        let client = target.anonymous_client()?;
        client.set_token(Some(token.trim().to_owned()));
        Ok(Session { client })
    }

    /// Keeps the login's session; answers where it was saved.
    pub async fn from_login(target: Target, answer: &LoginResponse) -> Result<(Session, String), CredentialsError> {
        let client = target.anonymous_client()?;
        client.set_token(Some(answer.access_token.clone()));
        Ok((Session { client }, "memory (this run only)".to_owned()))
    }

    pub async fn fresh_token(&self) -> Result<String, CredentialsError> {
        Ok(self.client.token().unwrap_or_default())
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub async fn me(&self) -> Result<User, CredentialsError> {
        Ok(self.client.me().await?)
    }
}
