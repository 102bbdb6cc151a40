//! Named profiles (one per server a person works with) and where their tokens are kept: the OS
//! keyring, else a private file.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{CredentialsError, Result};

pub const DEFAULT_PROFILE: &str = "default";
pub const DEFAULT_SERVER: &str = "http://127.0.0.1:8080";
const KEYRING_SERVICE: &str = "hdms";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CredentialStore {
    Keyring,
    File,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Profile {
    pub server: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Where this profile's tokens were saved at login.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential_store: Option<CredentialStore>,
}

/// A login session's tokens.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Credentials {
    pub access_token: String,
    pub refresh_token: String,
    pub expires_at: DateTime<Utc>,
}

impl Credentials {
    /// The tokens of a login or refresh answer, expiring `expires_in` seconds from now.
    pub fn from_answer(answer: &crate::auth::LoginResponse) -> Credentials {
        Credentials {
            access_token: answer.access_token.clone(),
            refresh_token: answer.refresh_token.clone(),
            expires_at: Utc::now() + chrono::Duration::seconds(answer.expires_in as i64),
        }
    }
}

/// Where tokens were saved, and why not in the keyring when they went to the file although the
/// keyring was not switched off.
#[derive(Debug, Clone)]
pub struct SavedCredentials {
    pub store: CredentialStore,
    pub keyring_problem: Option<String>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct ProfilesFile {
    #[serde(default)]
    profiles: BTreeMap<String, Profile>,
}

#[derive(Debug, Clone)]
pub struct ConfigDir {
    dir: PathBuf,
}

impl ConfigDir {
    /// `$HDMS_CONFIG_DIR`, else the platform's config directory plus `hdms`.
    pub fn locate() -> Result<ConfigDir> {
        let dir = match std::env::var_os("HDMS_CONFIG_DIR") {
            Some(dir) => PathBuf::from(dir),
            None => dirs::config_dir()
                .ok_or_else(|| CredentialsError::Storage("cannot find a config directory; set HDMS_CONFIG_DIR".to_owned()))?
                .join("hdms"),
        };
        Ok(ConfigDir { dir })
    }

    /// A given directory (tests, or a program with its own place).
    pub fn at(dir: impl Into<PathBuf>) -> ConfigDir {
        ConfigDir { dir: dir.into() }
    }

    /// The directory itself, for other per-user files (the TUI's drafts and key map).
    pub fn path(&self) -> &Path {
        &self.dir
    }

    fn profiles_path(&self) -> PathBuf {
        self.dir.join("profiles.json")
    }

    pub fn credentials_path(&self) -> PathBuf {
        self.dir.join("credentials.json")
    }

    pub fn profile(&self, name: &str) -> Result<Option<Profile>> {
        Ok(self.read_profiles()?.profiles.remove(name))
    }

    pub fn save_profile(&self, name: &str, profile: Profile) -> Result {
        let mut file = self.read_profiles()?;
        file.profiles.insert(name.to_owned(), profile);
        write_private(&self.profiles_path(), &serde_json::to_vec_pretty(&file).expect("profiles serialise"))
    }

    fn read_profiles(&self) -> Result<ProfilesFile> {
        read_json(&self.profiles_path())
    }

    /// Saves a profile's tokens: in the keyring if there is one, else in the private file. Says
    /// which it used, and why not the keyring.
    pub async fn save_credentials(&self, profile: &str, credentials: &Credentials) -> Result<SavedCredentials> {
        let secret = serde_json::to_string(credentials).expect("credentials serialise");
        let mut keyring_problem = None;
        if std::env::var_os("HDMS_NO_KEYRING").is_none() {
            match keyring_call(profile, move |entry| entry.set_password(&secret)).await {
                Ok(()) => {
                    // A token left in the file by an earlier keyring-less login must not linger.
                    self.remove_file_credentials(profile)?;
                    return Ok(SavedCredentials { store: CredentialStore::Keyring, keyring_problem: None });
                }
                Err(reason) => keyring_problem = Some(reason.to_string()),
            }
        }
        let mut all: BTreeMap<String, Credentials> = read_json(&self.credentials_path())?;
        all.insert(profile.to_owned(), credentials.clone());
        write_private(&self.credentials_path(), &serde_json::to_vec_pretty(&all).expect("credentials serialise"))?;
        Ok(SavedCredentials { store: CredentialStore::File, keyring_problem })
    }

    pub async fn load_credentials(&self, profile: &str, store: CredentialStore) -> Result<Option<Credentials>> {
        match store {
            CredentialStore::File => {
                let mut all: BTreeMap<String, Credentials> = read_json(&self.credentials_path())?;
                Ok(all.remove(profile))
            }
            CredentialStore::Keyring => match keyring_call(profile, |entry| entry.get_password()).await {
                Ok(secret) => Ok(serde_json::from_str(&secret).ok()),
                Err(KeyringFailure::NoEntry) => Ok(None),
                Err(reason) => Err(CredentialsError::KeyringUnreadable(reason.to_string())),
            },
        }
    }

    pub async fn delete_credentials(&self, profile: &str, store: CredentialStore) -> Result {
        match store {
            CredentialStore::File => self.remove_file_credentials(profile),
            CredentialStore::Keyring => match keyring_call(profile, |entry| entry.delete_credential()).await {
                Ok(()) | Err(KeyringFailure::NoEntry) => Ok(()),
                Err(reason) => {
                    Err(CredentialsError::Storage(format!("cannot remove the token from the keyring: {reason}")))
                }
            },
        }
    }

    fn remove_file_credentials(&self, profile: &str) -> Result {
        let path = self.credentials_path();
        let mut all: BTreeMap<String, Credentials> = read_json(&path)?;
        if all.remove(profile).is_some() {
            write_private(&path, &serde_json::to_vec_pretty(&all).expect("credentials serialise"))?;
        }
        Ok(())
    }
}

#[derive(Debug)]
enum KeyringFailure {
    NoEntry,
    Unavailable(String),
}

impl std::fmt::Display for KeyringFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeyringFailure::NoEntry => f.write_str("no entry"),
            KeyringFailure::Unavailable(reason) => f.write_str(reason),
        }
    }
}

/// Runs a keyring operation on the blocking pool: the Secret Service store makes blocking D-Bus
/// calls, which must not run on (or try to start a runtime inside) a tokio worker.
async fn keyring_call<T: Send + 'static>(
    profile: &str,
    operation: impl FnOnce(&keyring::Entry) -> keyring::Result<T> + Send + 'static,
) -> std::result::Result<T, KeyringFailure> {
    let profile = profile.to_owned();
    let outcome = tokio::task::spawn_blocking(move || {
        let entry = keyring::Entry::new(KEYRING_SERVICE, &profile)?;
        operation(&entry)
    })
    .await
    .map_err(|err| KeyringFailure::Unavailable(err.to_string()))?;
    outcome.map_err(|err| match err {
        keyring::Error::NoEntry => KeyringFailure::NoEntry,
        keyring::Error::NoDefaultStore => KeyringFailure::Unavailable("no Secret Service on this session's D-Bus".to_owned()),
        other => KeyringFailure::Unavailable(other.to_string()),
    })
}

fn read_json<T: Default + for<'de> Deserialize<'de>>(path: &Path) -> Result<T> {
    match fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|err| {
            CredentialsError::Storage(format!("{} is damaged ({err}); remove it and log in again", path.display()))
        }),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(T::default()),
        Err(err) => Err(CredentialsError::Storage(format!("cannot read {}: {err}", path.display()))),
    }
}

/// Writes a file only its owner can read, atomically (a crash leaves the old file or the new).
fn write_private(path: &Path, bytes: &[u8]) -> Result {
    let dir = path.parent().expect("config files live in a directory");
    fs::create_dir_all(dir)
        .map_err(|err| CredentialsError::Storage(format!("cannot create {}: {err}", dir.display())))?;
    let temporary = path.with_extension("json.tmp");
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let write = || -> std::io::Result<()> {
        let mut file = options.open(&temporary)?;
        // The mode above applies only to a new file: tighten one that already existed too.
        #[cfg(unix)]
        file.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&temporary, path)
    };
    write().map_err(|err| CredentialsError::Storage(format!("cannot write {}: {err}", path.display())))
}
