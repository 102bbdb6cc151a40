//! Sign-in on the credential store shared with `hdms` (`hdms_api_types::credentials`): the same
//! profiles, saved sessions (OS keyring or the private file), `HDMS_TOKEN`, and refresh. This
//! module only adds what the client's screens need from it.

pub use hdms_api_types::credentials::{CredentialStore, CredentialsError, SavedCredentials, Session, Target};

use crate::call::Failure;

/// Whether starting should try a saved session before showing the login form.
pub fn has_saved_login(target: &Target) -> bool {
    let token = std::env::var("HDMS_TOKEN").is_ok_and(|t| !t.trim().is_empty());
    token || target.saved_profile().ok().flatten().is_some_and(|profile| profile.credential_store.is_some())
}

/// The email the profile last logged in with, to prefill the login form.
pub fn saved_email(target: &Target) -> Option<String> {
    target.saved_profile().ok().flatten().and_then(|profile| profile.email)
}

/// Where a login's tokens went, in words for the message line.
pub fn saved_in(target: &Target, saved: &SavedCredentials) -> String {
    match saved.store {
        CredentialStore::Keyring => "the OS keyring".to_owned(),
        CredentialStore::File => target.config.credentials_path().display().to_string(),
    }
}

impl From<CredentialsError> for Failure {
    fn from(err: CredentialsError) -> Failure {
        let needs_login = err.needs_login();
        match err {
            CredentialsError::Api(err) if !needs_login => Failure::from(err),
            other => Failure { status: needs_login.then_some(401), code: None, message: other.to_string() },
        }
    }
}
