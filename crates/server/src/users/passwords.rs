//! Argon2id password hashing, run on the blocking pool: a hash takes tens of milliseconds of CPU
//! that must not stall the async workers.

use argon2::{Argon2, PasswordHasher, PasswordVerifier};
use std::sync::LazyLock;

use crate::error::{Error, Result};

pub const MIN_LENGTH: usize = 8;
pub const MAX_LENGTH: usize = 1024;

/// Verified against when the email is unknown, so a login for a missing account costs the same
/// time as one with a wrong password and does not reveal which accounts exist.
static DUMMY_HASH: LazyLock<String> = LazyLock::new(|| {
    Argon2::default()
        .hash_password(b"not a real password")
        .expect("argon2 hashes a constant")
        .to_string()
});

pub fn validate(password: &str) -> Result<()> {
    let length = password.chars().count();
    if length < MIN_LENGTH {
        return Err(Error::invalid("password", format!("must be at least {MIN_LENGTH} characters")));
    }
    if length > MAX_LENGTH {
        return Err(Error::invalid("password", format!("must be at most {MAX_LENGTH} characters")));
    }
    Ok(())
}

pub async fn hash(password: String) -> Result<String> {
    tokio::task::spawn_blocking(move || {
        Argon2::default()
            .hash_password(password.as_bytes())
            .map(|hash| hash.to_string())
            .map_err(|e| anyhow::anyhow!("argon2: {e}"))
    })
    .await
    .map_err(anyhow::Error::from)?
    .map_err(Error::Internal)
}

/// Whether `password` matches `hash`; `None` (unknown user, or no password set) never matches
/// but takes as long as a real check.
pub async fn verify(password: String, hash: Option<String>) -> Result<bool> {
    tokio::task::spawn_blocking(move || {
        let known = hash.is_some();
        let hash = hash.unwrap_or_else(|| DUMMY_HASH.clone());
        let matches = Argon2::default().verify_password(password.as_bytes(), hash.as_str()).is_ok();
        known && matches
    })
    .await
    .map_err(|e| Error::Internal(e.into()))
}
