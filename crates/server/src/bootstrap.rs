//! First-start set-up: the JWT signing secret and the first admin.

use std::io::Write;
use std::path::Path;

use anyhow::Context;
use chrono::Utc;
use hdms_api_types::Role;
use hdms_api_types::users::CreateUser;

use crate::config::Config;
use crate::db::Db;
use crate::error::Error;
use crate::state::AppState;
use crate::users::accounts::NewUser;
use crate::users::secrets;
use crate::with_db;

const DEFAULT_ADMIN_EMAIL: &str = "admin@localhost";
pub(crate) const JWT_SECRET_FILE: &str = "jwt-secret";

/// The key that signs access tokens: from the configuration, else generated once and kept. On
/// SQLite it is kept in the data directory; on PostgreSQL in the database, because several
/// instances share the database but not a directory, and must accept each other's tokens.
pub async fn jwt_secret(config: &Config, db: &Db) -> anyhow::Result<String> {
    if let Some(secret) = &config.jwt_secret {
        anyhow::ensure!(secret.len() >= 32, "HDMS_JWT_SECRET must be at least 32 characters");
        return Ok(secret.clone());
    }
    match db {
        Db::Sqlite(_) => secret_file(&config.data_dir.join(JWT_SECRET_FILE)),
        Db::Postgres(pool) => {
            // Every instance may race here on first start: the first insert wins, all read it.
            sqlx::query("INSERT INTO server_secrets (name, value, created_at) VALUES ('jwt', $1, $2) \
                         ON CONFLICT (name) DO NOTHING")
                .bind(secrets::generate(""))
                .bind(Utc::now())
                .execute(pool)
                .await?;
            Ok(sqlx::query_scalar("SELECT value FROM server_secrets WHERE name = 'jwt'").fetch_one(pool).await?)
        }
    }
}

fn secret_file(path: &Path) -> anyhow::Result<String> {
    if let Ok(secret) = std::fs::read_to_string(path) {
        return Ok(secret.trim().to_owned());
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let secret = secrets::generate("");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).with_context(|| format!("cannot create {}", path.display()))?;
    file.write_all(secret.as_bytes())?;
    Ok(secret)
}

/// The admin created on an empty database, with the password when it was generated (to be
/// shown once). `None` when the database already had users.
pub struct BootstrapAdmin {
    pub email: String,
    pub generated_password: Option<String>,
}

pub async fn ensure_admin(state: &AppState) -> anyhow::Result<Option<BootstrapAdmin>> {
    let users: i64 = with_db!(&state.db, pool => sqlx::query_scalar("SELECT COUNT(*) FROM users").fetch_one(pool).await?);
    if users > 0 {
        return Ok(None);
    }
    let config = &state.config;
    let email = config.admin_email.clone().unwrap_or_else(|| DEFAULT_ADMIN_EMAIL.to_owned());
    let (password, generated) = match &config.admin_password {
        Some(password) => (password.clone(), false),
        None => (secrets::generate("")[..24].to_owned(), true),
    };
    let request = CreateUser { email, name: "Administrator".to_owned(), role: Role::Admin, phone: None, password: Some(password.clone()) };
    let new_user = NewUser::validate(request).await.map_err(|err| anyhow::anyhow!("HDMS_ADMIN_EMAIL/HDMS_ADMIN_PASSWORD: {err}"))?;
    match new_user.insert(state).await {
        Ok(row) => {
            tracing::info!(email = %row.email, "created the first admin");
            Ok(Some(BootstrapAdmin { email: row.email, generated_password: generated.then_some(password) }))
        }
        // Another instance starting at the same moment created it first.
        Err(Error::Conflict { .. }) => Ok(None),
        Err(err) => Err(anyhow::anyhow!("cannot create the first admin: {err}")),
    }
}
