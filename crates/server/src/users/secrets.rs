//! Opaque secrets (refresh tokens, personal API tokens): random, shown to the client once,
//! stored only as a SHA-256 digest so a database leak does not leak usable credentials.

use sha2::{Digest, Sha256};

/// 32 random bytes, URL-safe hex encoded (64 characters), behind an optional prefix.
pub fn generate(prefix: &str) -> String {
    let bytes: [u8; 32] = rand::random();
    format!("{prefix}{}", hex::encode(bytes))
}

/// The digest stored in the database and used for lookup. A fast hash is right here: the
/// secrets have 256 bits of entropy, so there is nothing for a slow hash to protect.
pub fn digest(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}
