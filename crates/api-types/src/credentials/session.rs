//! Which server and credential a program uses, and keeping that credential fresh.

use std::future::Future;
use std::sync::Arc;

use chrono::Utc;
use tokio::sync::Mutex;

use super::store::{ConfigDir, CredentialStore, Credentials, Profile, SavedCredentials, DEFAULT_PROFILE, DEFAULT_SERVER};
use super::{CredentialsError, Result};
use crate::auth::LoginResponse;
use crate::client::{Client, ClientError};
use crate::users::User;

/// Refresh this long before the access token expires, so it does not expire in flight.
const REFRESH_MARGIN_SECS: i64 = 30;

/// Receives the few things worth telling the person that are not errors (today: "no usable
/// keyring, the token went to the private file"). The CLI prints them to stderr; a full-screen
/// client shows them in its message line instead.
pub type Notices = Arc<dyn Fn(&str) + Send + Sync>;

/// Where a program talks to, as resolved from the flags, the environment and the profile.
#[derive(Clone)]
pub struct Target {
    pub config: ConfigDir,
    pub profile: String,
    pub server: String,
    notices: Notices,
}

impl Target {
    /// `server_flag` beats `HDMS_SERVER` beats the profile's server beats [`DEFAULT_SERVER`];
    /// `profile_flag` beats `HDMS_PROFILE` beats [`DEFAULT_PROFILE`]. (Passing a value clap
    /// already read from the same variables is fine.) Notices go to stderr until
    /// [`Target::with_notices`] sends them elsewhere.
    pub fn resolve(server_flag: Option<&str>, profile_flag: Option<&str>) -> Result<Target> {
        let from_env = |name: &str| std::env::var(name).ok().filter(|value| !value.trim().is_empty());
        let profile = profile_flag.map(str::to_owned).or_else(|| from_env("HDMS_PROFILE"));
        let profile = profile.unwrap_or_else(|| DEFAULT_PROFILE.to_owned());
        let config = ConfigDir::locate()?;
        let server = match server_flag.map(str::to_owned).or_else(|| from_env("HDMS_SERVER")) {
            Some(server) => server,
            None => config.profile(&profile)?.map(|saved| saved.server).unwrap_or_else(|| DEFAULT_SERVER.to_owned()),
        };
        Ok(Target::new(config, &profile, &server))
    }

    /// A target given in full (no flags or environment read).
    pub fn new(config: ConfigDir, profile: &str, server: &str) -> Target {
        Target { config, profile: profile.to_owned(), server: server.to_owned(), notices: Arc::new(|notice| eprintln!("hdms: {notice}")) }
    }

    pub fn with_notices(self, notices: Notices) -> Target {
        Target { notices, ..self }
    }

    /// A client for this server with no credential (login, health, invitations).
    pub fn anonymous_client(&self) -> Result<Client> {
        Ok(Client::new(&self.server)?)
    }

    /// The saved profile, if any (its email prefills a login form).
    pub fn saved_profile(&self) -> Result<Option<Profile>> {
        self.config.profile(&self.profile)
    }

    /// Saves a login's answer (after the password, or after the SMS code step) as this
    /// profile's session, replacing any earlier one wherever it was kept, and records the
    /// server and email in the profile. This is all `hdms login` keeps.
    pub async fn save_login(&self, answer: &LoginResponse) -> Result<SavedCredentials> {
        // If a previous login saved tokens elsewhere, remove them before saving the new ones.
        if let Some(previous) = self.saved_profile()?.and_then(|profile| profile.credential_store) {
            let _ = self.config.delete_credentials(&self.profile, previous).await;
        }
        let saved = self.save_credentials(&Credentials::from_answer(answer)).await?;
        self.config.save_profile(
            &self.profile,
            Profile { server: self.server.clone(), email: Some(answer.user.email.clone()), credential_store: Some(saved.store) },
        )?;
        Ok(saved)
    }

    async fn save_credentials(&self, credentials: &Credentials) -> Result<SavedCredentials> {
        let saved = self.config.save_credentials(&self.profile, credentials).await?;
        if let Some(problem) = &saved.keyring_problem {
            (self.notices)(&format!(
                "no usable keyring ({problem}); saving the token in {} (readable by you only)",
                self.config.credentials_path().display()
            ));
        }
        Ok(saved)
    }
}

/// How the session got its credential.
enum Source {
    /// `HDMS_TOKEN`: used as given, never refreshed.
    Environment,
    /// A saved login, refreshed before its access token expires.
    Saved { store: CredentialStore, credentials: Credentials },
}

/// An authenticated client plus what it takes to keep it authenticated. Clones share one
/// credential and one refresh, so hand a clone to every task.
#[derive(Clone)]
pub struct Session {
    client: Client,
    shared: Arc<Shared>,
}

struct Shared {
    target: Target,
    /// Held while refreshing: the refresh token is single use, and a second presentation would
    /// revoke the whole session.
    source: Mutex<Source>,
}

impl Session {
    /// An authenticated session: `HDMS_TOKEN` if set, else the profile's saved login (refreshed
    /// now if it is about to expire). [`CredentialsError::NotLoggedIn`] when there is neither.
    pub async fn open(target: Target) -> Result<Session> {
        let client = target.anonymous_client()?;
        if let Some(token) = std::env::var("HDMS_TOKEN").ok().filter(|t| !t.trim().is_empty()) {
            client.set_token(Some(token.trim().to_owned()));
            return Ok(Session::new(client, target, Source::Environment));
        }
        let not_logged_in =
            || CredentialsError::NotLoggedIn { server: target.server.clone(), profile: target.profile.clone() };
        let profile = target.saved_profile()?.ok_or_else(not_logged_in)?;
        let store = profile.credential_store.ok_or_else(not_logged_in)?;
        let credentials = target.config.load_credentials(&target.profile, store).await?.ok_or_else(not_logged_in)?;
        client.set_token(Some(credentials.access_token.clone()));
        let session = Session::new(client, target, Source::Saved { store, credentials });
        session.refresh_if_expiring().await?;
        Ok(session)
    }

    /// Saves a login's answer as [`Target::save_login`] does and opens the session on it.
    pub async fn from_login(target: Target, answer: &LoginResponse) -> Result<(Session, SavedCredentials)> {
        let saved = target.save_login(answer).await?;
        let client = target.anonymous_client()?;
        client.set_token(Some(answer.access_token.clone()));
        let source = Source::Saved { store: saved.store, credentials: Credentials::from_answer(answer) };
        Ok((Session::new(client, target, source), saved))
    }

    fn new(client: Client, target: Target, source: Source) -> Session {
        Session { client, shared: Arc::new(Shared { target, source: Mutex::new(source) }) }
    }

    /// The client, carrying the current access token. Calls made on it directly are not
    /// refreshed: prefer [`Session::call`], or call [`Session::fresh_token`] first (e.g. before
    /// authenticating a websocket).
    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn target(&self) -> &Target {
        &self.shared.target
    }

    pub fn server(&self) -> &str {
        &self.shared.target.server
    }

    pub fn profile(&self) -> &str {
        &self.shared.target.profile
    }

    /// An access token valid for at least the refresh margin, refreshing first if needed.
    pub async fn fresh_token(&self) -> Result<String> {
        self.refresh_if_expiring().await?;
        Ok(self.client.token().unwrap_or_default())
    }

    /// Runs one API call with a fresh token; if the server still says the access token has
    /// expired, refreshes it and runs the call once more. Any other 401 is
    /// [`CredentialsError::Refused`].
    pub async fn call<T, F, Fut>(&self, call: F) -> Result<T>
    where
        F: Fn(Client) -> Fut,
        Fut: Future<Output = Result<T, ClientError>>,
    {
        self.refresh_if_expiring().await?;
        let token_used = self.client.token();
        match call(self.client.clone()).await {
            Err(err) if is_expired(&err) && !self.uses_environment_token().await => {
                self.refresh_unless_replaced(token_used).await?;
                Ok(call(self.client.clone()).await?)
            }
            Err(err) if err.status().map(|s| s.as_u16()) == Some(401) => {
                let hint = if self.uses_environment_token().await { "HDMS_TOKEN was refused" } else { "run `hdms login` again" };
                Err(CredentialsError::Refused { error: err, hint })
            }
            other => Ok(other?),
        }
    }

    pub async fn me(&self) -> Result<User> {
        self.call(|client| async move { client.me().await }).await
    }

    async fn uses_environment_token(&self) -> bool {
        matches!(*self.shared.source.lock().await, Source::Environment)
    }

    async fn refresh_if_expiring(&self) -> Result {
        let mut source = self.shared.source.lock().await;
        match &*source {
            Source::Saved { credentials, .. }
                if (credentials.expires_at - Utc::now()).num_seconds() < REFRESH_MARGIN_SECS =>
            {
                self.refresh(&mut source).await
            }
            _ => Ok(()),
        }
    }

    /// Refreshes after `token_used` was refused as expired, unless another task has refreshed
    /// since (then the retry simply uses its token).
    async fn refresh_unless_replaced(&self, token_used: Option<String>) -> Result {
        let mut source = self.shared.source.lock().await;
        match &*source {
            Source::Saved { credentials, .. } if Some(&credentials.access_token) != token_used.as_ref() => Ok(()),
            _ => self.refresh(&mut source).await,
        }
    }

    /// Trades the refresh token for new tokens and saves them (the caller holds the lock).
    async fn refresh(&self, source: &mut Source) -> Result {
        let target = &self.shared.target;
        let Source::Saved { store, credentials } = source else {
            return Err(CredentialsError::EnvironmentTokenRefused);
        };
        let answer = match self.client.refresh(&credentials.refresh_token).await {
            Ok(answer) => answer,
            Err(ClientError::Api { status, .. }) if status.as_u16() == 401 => {
                // Whatever the reason (expired, revoked, reused), the fix is the same.
                let _ = target.config.delete_credentials(&target.profile, *store).await;
                return Err(CredentialsError::SessionExpired { server: target.server.clone() });
            }
            Err(err) => return Err(err.into()),
        };
        *credentials = Credentials::from_answer(&answer);
        let saved = target.save_credentials(credentials).await?;
        if saved.store != *store {
            // The keyring went away since login: the profile must say where the tokens are now,
            // or the next start would read the used refresh token from the old place.
            if let Some(profile) = target.saved_profile()? {
                target.config.save_profile(&target.profile, Profile { credential_store: Some(saved.store), ..profile })?;
            }
            *store = saved.store;
        }
        Ok(())
    }
}

fn is_expired(err: &ClientError) -> bool {
    err.status().map(|s| s.as_u16()) == Some(401) && err.code() == Some("token_expired")
}
