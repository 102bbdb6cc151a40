//! Saved logins shared by `hdms` and `hdms-tui` (feature `credentials`): which server and
//! credential a program uses, where the tokens are kept, and keeping the access token fresh.
//!
//! - [`Target::resolve`] picks the server and profile: `--server` beats `HDMS_SERVER` beats the
//!   profile's saved server beats [`DEFAULT_SERVER`]; the profile is the flag, else
//!   `HDMS_PROFILE`, else [`DEFAULT_PROFILE`].
//! - [`Session::open`] authenticates: `HDMS_TOKEN` (an access or personal API token, never
//!   refreshed) beats the profile's saved login, which is refreshed before it expires and again
//!   if the server says it has. [`CredentialsError::NotLoggedIn`] means "show a login screen".
//! - After a login (password, and the SMS code step when the account has one),
//!   [`Session::from_login`] saves the answer exactly as `hdms login` does and gives the session.
//! - [`Session`] is a cheap clone (an `Arc` inside) usable from any tokio task: every
//!   [`Session::call`] refreshes first when the token is about to expire, and retries once after
//!   a `token_expired` answer; concurrent calls share one refresh (an async mutex), so the
//!   single-use refresh token is never presented twice.
//!
//! Storage ([`ConfigDir`]): everything lives in `$HDMS_CONFIG_DIR`, else the platform's config
//! directory (`~/.config/hdms` on Linux). `profiles.json` holds server URLs and emails, never
//! secrets. Tokens go to the OS keyring; where there is none (headless servers, CI, or
//! `HDMS_NO_KEYRING=1`) they go to `credentials.json` in the same directory, mode 0600.

mod session;
mod store;

pub use session::{Notices, Session, Target};
pub use store::{ConfigDir, CredentialStore, Credentials, Profile, SavedCredentials, DEFAULT_PROFILE, DEFAULT_SERVER};

use crate::client::ClientError;

/// Why a saved login could not be used or kept. Each variant says what the person should do.
#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    /// No saved login for this profile (and no `HDMS_TOKEN`): log in.
    #[error("not logged in to {server} (profile '{profile}'); run `hdms login` or set HDMS_TOKEN")]
    NotLoggedIn { server: String, profile: String },
    /// The refresh token was refused (expired, revoked, reused); the saved tokens were removed.
    #[error("your session on {server} has expired; run `hdms login` again")]
    SessionExpired { server: String },
    /// `HDMS_TOKEN` was refused and cannot be refreshed.
    #[error("HDMS_TOKEN was refused by the server; it may be expired or revoked")]
    EnvironmentTokenRefused,
    /// A call answered 401 for a reason other than an expired access token.
    #[error("{error} ({hint})")]
    Refused { error: ClientError, hint: &'static str },
    /// The keyring holds this profile's tokens but cannot be read.
    #[error("cannot read the token from the keyring: {0}")]
    KeyringUnreadable(String),
    /// The config directory, a damaged or unwritable file, or a keyring that refuses a removal.
    #[error("{0}")]
    Storage(String),
    /// The server refused or could not be reached.
    #[error(transparent)]
    Api(#[from] ClientError),
}

impl CredentialsError {
    /// Whether the person must log in (again) to go on: the CLI's exit code 4, the TUI's login
    /// screen.
    pub fn needs_login(&self) -> bool {
        match self {
            CredentialsError::NotLoggedIn { .. }
            | CredentialsError::SessionExpired { .. }
            | CredentialsError::EnvironmentTokenRefused
            | CredentialsError::Refused { .. }
            | CredentialsError::KeyringUnreadable(_) => true,
            CredentialsError::Api(error) => error.status().map(|s| s.as_u16()) == Some(401),
            CredentialsError::Storage(_) => false,
        }
    }
}

pub type Result<T = (), E = CredentialsError> = std::result::Result<T, E>;
