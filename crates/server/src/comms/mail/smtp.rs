//! The SMTP account mail goes out through, set by admins (`GET/PUT /api/v1/mail/smtp`; the
//! password is never answered nor logged), and the `lettre` transport built from it: TLS from
//! the first byte, STARTTLS (required, never downgraded), or plain; authentication; a pool of
//! connections.

use std::time::Duration;

use axum::extract::State;
use chrono::{DateTime, Utc};
use hdms_api_types::ApiError;
use hdms_api_types::mail::{MailSecurity, MailServerCheck, SmtpSettings, UpdateSmtpSettings};
use lettre::transport::smtp::PoolConfig;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, Tokio1Executor};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::db::Db;
use crate::error::{Error, Result};
use crate::http::extract::AppJson;
use crate::http::permissions::{Authorized, can};
use crate::state::AppState;
use crate::users::validate;
use crate::with_db;

/// Connections kept open to the SMTP server.
const POOL_SIZE: u32 = 4;
/// Longest wait for one SMTP command.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_smtp, put_smtp)).routes(routes!(test_smtp))
}

/// The stored account, password included (for the sender only).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Account {
    pub host: String,
    pub port: i32,
    pub security: String,
    pub username: Option<String>,
    pub password: Option<String>,
    pub from_address: String,
    pub from_name: Option<String>,
    pub acknowledge_new_tickets: bool,
    pub updated_at: DateTime<Utc>,
}

impl Account {
    fn view(&self) -> SmtpSettings {
        SmtpSettings {
            host: self.host.clone(),
            port: u16::try_from(self.port).unwrap_or(0),
            security: MailSecurity::parse(&self.security).unwrap_or(MailSecurity::Tls),
            username: self.username.clone(),
            password_set: self.password.as_deref().is_some_and(|p| !p.is_empty()),
            from_address: self.from_address.clone(),
            from_name: self.from_name.clone(),
            acknowledge_new_tickets: self.acknowledge_new_tickets,
        }
    }

    /// A pooled transport to this account's server.
    pub fn transport(&self) -> Result<AsyncSmtpTransport<Tokio1Executor>> {
        let port = u16::try_from(self.port).map_err(|_| Error::invalid("port", "must be 1 to 65535"))?;
        let builder = match MailSecurity::parse(&self.security) {
            Some(MailSecurity::Tls) => AsyncSmtpTransport::<Tokio1Executor>::relay(&self.host),
            Some(MailSecurity::Starttls) => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&self.host),
            _ => Ok(AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&self.host)),
        }
        .map_err(|e| Error::invalid("host", format!("cannot use {} for TLS: {e}", self.host)))?;
        let mut builder = builder.port(port).timeout(Some(COMMAND_TIMEOUT)).pool_config(PoolConfig::new().max_size(POOL_SIZE));
        if let Some(user) = self.username.as_deref().filter(|u| !u.is_empty()) {
            builder = builder.credentials(Credentials::new(user.to_owned(), self.password.clone().unwrap_or_default()));
        }
        Ok(builder.build())
    }
}

pub async fn load(db: &Db) -> Result<Option<Account>> {
    const SQL: &str = "SELECT host, port, security, username, password, from_address, from_name, acknowledge_new_tickets, updated_at \
                       FROM mail_smtp WHERE id = 1";
    Ok(with_db!(db, pool => sqlx::query_as(SQL).fetch_optional(pool).await?))
}

/// The SMTP account mail goes out through (the password is never shown).
#[utoipa::path(get, path = "/mail/smtp", tag = "mail",
    security(("bearer" = ["mail.manage"])),
    responses((status = 200, body = SmtpSettings), (status = 404, description = "Not set up yet", body = ApiError)))]
async fn get_smtp(State(state): State<AppState>, _caller: Authorized<can::ManageMail>) -> Result<AppJson<SmtpSettings>> {
    let account = load(&state.db).await?.ok_or(Error::NotFound { what: "SMTP account" })?;
    Ok(AppJson(account.view()))
}

/// Set the SMTP account. An absent password keeps the stored one; `""` removes it.
#[utoipa::path(put, path = "/mail/smtp", tag = "mail",
    request_body = UpdateSmtpSettings,
    security(("bearer" = ["mail.manage"])),
    responses((status = 200, body = SmtpSettings), (status = 422, body = ApiError)))]
async fn put_smtp(State(state): State<AppState>, _caller: Authorized<can::ManageMail>, AppJson(update): AppJson<UpdateSmtpSettings>) -> Result<AppJson<SmtpSettings>> {
    let host = update.host.trim();
    if host.is_empty() || host.len() > 253 || host.contains(char::is_whitespace) {
        return Err(Error::invalid("host", "must be a host name or address"));
    }
    if update.port == 0 {
        return Err(Error::invalid("port", "must be 1 to 65535"));
    }
    let from_address = validate::field("from_address", validate::email(&update.from_address))?;
    let current = load(&state.db).await?;
    let password = match update.password {
        Some(password) if password.is_empty() => None,
        Some(password) => Some(password),
        None => current.and_then(|c| c.password),
    };
    let account = Account {
        host: host.to_owned(),
        port: i32::from(update.port),
        security: update.security.as_str().to_owned(),
        username: update.username.map(|u| u.trim().to_owned()).filter(|u| !u.is_empty()),
        password,
        from_address,
        from_name: update.from_name.map(|n| n.trim().to_owned()).filter(|n| !n.is_empty()),
        acknowledge_new_tickets: update.acknowledge_new_tickets,
        updated_at: Utc::now(),
    };
    account.transport()?;
    const SQL: &str = "INSERT INTO mail_smtp (id, host, port, security, username, password, from_address, from_name, acknowledge_new_tickets, updated_at) \
                       VALUES (1, $1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (id) DO UPDATE SET host = excluded.host, port = excluded.port, \
                       security = excluded.security, username = excluded.username, password = excluded.password, from_address = excluded.from_address, \
                       from_name = excluded.from_name, acknowledge_new_tickets = excluded.acknowledge_new_tickets, updated_at = excluded.updated_at";
    crate::with_db_writing!(&state.db, pool => sqlx::query(SQL)
        .bind(&account.host).bind(account.port).bind(&account.security).bind(&account.username).bind(&account.password)
        .bind(&account.from_address).bind(&account.from_name).bind(account.acknowledge_new_tickets).bind(account.updated_at)
        .execute(pool).await?.rows_affected());
    tracing::info!(host = account.host, port = account.port, security = account.security, "SMTP account set");
    Ok(AppJson(account.view()))
}

/// Check the SMTP account now: connect, TLS or STARTTLS as set, log in. Answers 200 with
/// `ok: false`, the step that failed and the server's words when it does not work.
#[utoipa::path(post, path = "/mail/smtp/test", tag = "mail",
    security(("bearer" = ["mail.manage"])),
    responses((status = 200, body = MailServerCheck), (status = 404, description = "Not set up yet", body = ApiError)))]
async fn test_smtp(State(state): State<AppState>, _caller: Authorized<can::ManageMail>) -> Result<AppJson<MailServerCheck>> {
    let account = load(&state.db).await?.ok_or(Error::NotFound { what: "SMTP account" })?;
    let transport = account.transport()?;
    let failed = |step: &str, error: String| MailServerCheck { ok: false, failed_step: Some(step.to_owned()), error: Some(error), idle: None, messages: None };
    let check = match tokio::time::timeout(COMMAND_TIMEOUT, transport.test_connection()).await {
        Ok(Ok(true)) => MailServerCheck { ok: true, failed_step: None, error: None, idle: None, messages: None },
        Ok(Ok(false)) => failed("connect", format!("{} does not answer NOOP", account.host)),
        Ok(Err(err)) => {
            // 530/534/535: the server refused the credentials (RFC 4954).
            let login = err.status().is_some_and(|code| matches!(u16::from(code), 530 | 534 | 535));
            let step = if err.is_tls() { "tls" } else if login { "login" } else { "connect" };
            failed(step, err.to_string())
        }
        Err(_) => failed("connect", format!("no answer within {} s", COMMAND_TIMEOUT.as_secs())),
    };
    Ok(AppJson(check))
}
