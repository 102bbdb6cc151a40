//! Which server and credential a command uses, and keeping that credential fresh.
//!
//! Precedence: `--server` beats `HDMS_SERVER` beats the profile; `HDMS_TOKEN` (an access token
//! or a personal API token) beats any saved login, so scripts need no state at all.

use std::future::Future;

use chrono::Utc;
use hdms_api_types::client::{Client, ClientError};
use hdms_api_types::users::User;

use crate::exit::{CliError, CliResult};
use crate::profiles::{ConfigDir, CredentialStore, Credentials, DEFAULT_SERVER};

/// Refresh this long before the access token expires, so it does not expire in flight.
const REFRESH_MARGIN_SECS: i64 = 30;

/// Where a command talks to, as resolved from the flags, the environment and the profile.
pub struct Target {
    pub config: ConfigDir,
    pub profile: String,
    pub server: String,
}

impl Target {
    pub fn resolve(server_flag: Option<&str>, profile: &str) -> CliResult<Target> {
        let config = ConfigDir::locate()?;
        let saved = config.profile(profile)?;
        let server = match (server_flag, saved) {
            (Some(server), _) => server.to_owned(),
            (None, Some(saved)) => saved.server,
            (None, None) => DEFAULT_SERVER.to_owned(),
        };
        Ok(Target { config, profile: profile.to_owned(), server })
    }

    pub fn anonymous_client(&self) -> CliResult<Client> {
        Ok(Client::new(&self.server)?)
    }
}

/// How the session got its credential.
enum Source {
    /// `HDMS_TOKEN`: used as given, never refreshed.
    Environment,
    /// A saved login, refreshed when its access token expires.
    Saved { store: CredentialStore, credentials: Credentials },
}

pub struct Session {
    pub client: Client,
    target: Target,
    source: Source,
}

impl Session {
    /// An authenticated session, or exit code 4 with one clear message.
    pub async fn open(target: Target) -> CliResult<Session> {
        let client = target.anonymous_client()?;
        if let Some(token) = std::env::var("HDMS_TOKEN").ok().filter(|t| !t.trim().is_empty()) {
            client.set_token(Some(token.trim().to_owned()));
            return Ok(Session { client, target, source: Source::Environment });
        }
        let not_logged_in = || {
            CliError::auth(format!(
                "not logged in to {} (profile '{}'); run `hdms login` or set HDMS_TOKEN",
                target.server, target.profile
            ))
        };
        let profile = target.config.profile(&target.profile)?.ok_or_else(not_logged_in)?;
        let store = profile.credential_store.ok_or_else(not_logged_in)?;
        let credentials = target.config.load_credentials(&target.profile, store).await?.ok_or_else(not_logged_in)?;
        client.set_token(Some(credentials.access_token.clone()));
        let mut session = Session { client, target, source: Source::Saved { store, credentials } };
        if session.expires_soon() {
            session.refresh().await?;
        }
        Ok(session)
    }

    fn expires_soon(&self) -> bool {
        match &self.source {
            Source::Saved { credentials, .. } => {
                (credentials.expires_at - Utc::now()).num_seconds() < REFRESH_MARGIN_SECS
            }
            Source::Environment => false,
        }
    }

    /// Trades the refresh token for new tokens and saves them.
    async fn refresh(&mut self) -> CliResult {
        let Source::Saved { store, credentials } = &mut self.source else {
            return Err(CliError::auth("HDMS_TOKEN was refused by the server; it may be expired or revoked"));
        };
        let answer = match self.client.refresh(&credentials.refresh_token).await {
            Ok(answer) => answer,
            Err(ClientError::Api { status, .. }) if status.as_u16() == 401 => {
                // Whatever the reason (expired, revoked, reused), the fix is the same.
                let _ = self.target.config.delete_credentials(&self.target.profile, *store).await;
                return Err(CliError::auth(format!(
                    "your session on {} has expired; run `hdms login` again",
                    self.target.server
                )));
            }
            Err(err) => return Err(err.into()),
        };
        *credentials = Credentials {
            access_token: answer.access_token,
            refresh_token: answer.refresh_token,
            expires_at: Utc::now() + chrono::Duration::seconds(answer.expires_in as i64),
        };
        let saved = self.target.config.save_credentials(&self.target.profile, credentials).await?;
        *store = saved;
        Ok(())
    }

    /// Runs one API call; if the access token turns out to have expired, refreshes it and runs
    /// the call once more.
    pub async fn call<T, F, Fut>(&mut self, call: F) -> CliResult<T>
    where
        F: Fn(Client) -> Fut,
        Fut: Future<Output = Result<T, ClientError>>,
    {
        match call(self.client.clone()).await {
            Err(err) if is_expired(&err) && matches!(self.source, Source::Saved { .. }) => {
                self.refresh().await?;
                Ok(call(self.client.clone()).await?)
            }
            Err(err) if err.status().map(|s| s.as_u16()) == Some(401) => Err(self.refused(err)),
            other => Ok(other?),
        }
    }

    fn refused(&self, err: ClientError) -> CliError {
        let base = CliError::from(err);
        let hint = match self.source {
            Source::Environment => "HDMS_TOKEN was refused",
            Source::Saved { .. } => "run `hdms login` again",
        };
        CliError::auth(format!("{} ({hint})", base.message))
    }

    pub async fn me(&mut self) -> CliResult<User> {
        self.call(|client| async move { client.me().await }).await
    }

    pub fn server(&self) -> &str {
        &self.target.server
    }

    pub fn profile(&self) -> &str {
        &self.target.profile
    }
}

fn is_expired(err: &ClientError) -> bool {
    err.status().map(|s| s.as_u16()) == Some(401) && err.code() == Some("token_expired")
}
