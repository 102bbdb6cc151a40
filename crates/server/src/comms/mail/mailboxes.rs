//! Mailboxes, as admins configure them (`/api/v1/mail/mailboxes`): a name `hdms mailgate
//! --mailbox` can use, the rule for unknown senders, and for a polled mailbox the IMAP account
//! ([`imap`](super::imap) polls it). The IMAP password is never answered nor logged: the row
//! type has no `Debug`, and the view only says whether one is set.

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use hdms_api_types::ApiError;
use hdms_api_types::mail::{AfterProcessing, CreateMailbox, MailSecurity, MailServerCheck, Mailbox, UnknownSenders, UpdateMailbox};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::comms::mail::imap;
use crate::db::Db;
use crate::error::{Error, Result};
use crate::http::extract::{AppJson, AppPath};
use crate::http::permissions::{Authorized, can};
use crate::state::AppState;
use crate::users::validate;
use crate::with_db;

/// Longest and shortest poll interval an admin may set.
const MAX_POLL_SECS: u32 = 86_400;
/// The name the mailgate route uses when no mailbox is named.
const RESERVED_NAME: &str = "mailgate";

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_mailboxes, create_mailbox))
        .routes(routes!(get_mailbox, update_mailbox, delete_mailbox))
        .routes(routes!(test_mailbox))
}

/// A mailbox row, IMAP password included: for the poller only.
#[derive(Clone, sqlx::FromRow)]
pub struct MailboxRow {
    pub id: Uuid,
    pub name: String,
    pub address: Option<String>,
    pub unknown_senders: String,
    pub imap_host: Option<String>,
    pub imap_port: Option<i32>,
    pub imap_security: Option<String>,
    pub imap_user: Option<String>,
    pub imap_password: Option<String>,
    pub imap_folder: String,
    pub poll_interval_secs: i32,
    pub after_processing: String,
    pub move_to_folder: Option<String>,
    pub uid_validity: Option<i64>,
    pub last_uid: i64,
    pub lease_until: Option<DateTime<Utc>>,
    pub last_polled_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

macro_rules! mailbox_columns {
    () => {
        "id, name, address, unknown_senders, imap_host, imap_port, imap_security, imap_user, imap_password, imap_folder, \
         poll_interval_secs, after_processing, move_to_folder, uid_validity, last_uid, lease_until, last_polled_at, last_error, \
         created_at, updated_at"
    };
}

impl MailboxRow {
    pub fn view(&self) -> Mailbox {
        Mailbox {
            id: self.id,
            name: self.name.clone(),
            address: self.address.clone(),
            unknown_senders: UnknownSenders::parse(&self.unknown_senders).unwrap_or_default(),
            imap_host: self.imap_host.clone(),
            imap_port: self.imap_port.and_then(|p| u16::try_from(p).ok()),
            imap_security: self.imap_security.as_deref().and_then(MailSecurity::parse),
            imap_user: self.imap_user.clone(),
            imap_password_set: self.imap_password.as_deref().is_some_and(|p| !p.is_empty()),
            imap_folder: self.imap_folder.clone(),
            poll_interval_secs: u32::try_from(self.poll_interval_secs).unwrap_or(60),
            after_processing: AfterProcessing::parse(&self.after_processing).unwrap_or_default(),
            move_to_folder: self.move_to_folder.clone(),
            uid_validity: self.uid_validity.and_then(|v| u32::try_from(v).ok()),
            last_uid: u32::try_from(self.last_uid).unwrap_or(0),
            last_polled_at: self.last_polled_at,
            last_error: self.last_error.clone(),
            lease_until: self.lease_until,
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }

    /// The IMAP account, when the mailbox is polled.
    pub fn imap(&self) -> Option<imap::Account> {
        Some(imap::Account {
            host: self.imap_host.clone()?,
            port: u16::try_from(self.imap_port?).ok()?,
            security: self.imap_security.as_deref().and_then(MailSecurity::parse).unwrap_or(MailSecurity::Tls),
            user: self.imap_user.clone().unwrap_or_default(),
            password: self.imap_password.clone().unwrap_or_default(),
            folder: self.imap_folder.clone(),
        })
    }
}

/// The live mailbox `id`.
pub async fn find(db: &Db, id: Uuid) -> Result<Option<MailboxRow>> {
    const SQL: &str = concat!("SELECT ", mailbox_columns!(), " FROM mail_mailboxes WHERE id = $1 AND deleted_at IS NULL");
    Ok(with_db!(db, pool => sqlx::query_as(SQL).bind(id).fetch_optional(pool).await?))
}

async fn found(db: &Db, id: Uuid) -> Result<MailboxRow> {
    find(db, id).await?.ok_or(Error::NotFound { what: "mailbox" })
}

/// The mailboxes mail comes in through, by name. IMAP passwords are never shown.
#[utoipa::path(get, path = "/mail/mailboxes", tag = "mail",
    security(("bearer" = ["mail.manage"])),
    responses((status = 200, body = Vec<Mailbox>)))]
async fn list_mailboxes(State(state): State<AppState>, _caller: Authorized<can::ManageMail>) -> Result<AppJson<Vec<Mailbox>>> {
    const SQL: &str = concat!("SELECT ", mailbox_columns!(), " FROM mail_mailboxes WHERE deleted_at IS NULL ORDER BY lower(name)");
    let rows: Vec<MailboxRow> = with_db!(&state.db, pool => sqlx::query_as(SQL).fetch_all(pool).await?);
    Ok(AppJson(rows.iter().map(MailboxRow::view).collect()))
}

/// One mailbox, with where its polling stands.
#[utoipa::path(get, path = "/mail/mailboxes/{id}", tag = "mail",
    params(("id" = Uuid, Path)),
    security(("bearer" = ["mail.manage"])),
    responses((status = 200, body = Mailbox), (status = 404, body = ApiError)))]
async fn get_mailbox(State(state): State<AppState>, _caller: Authorized<can::ManageMail>, AppPath(id): AppPath<Uuid>) -> Result<AppJson<Mailbox>> {
    Ok(AppJson(found(&state.db, id).await?.view()))
}

/// A mailbox: fed by `hdms mailgate --mailbox NAME`, and polled over IMAP when `imap_host` is
/// set (then `imap_user` and `imap_password` are needed too).
#[utoipa::path(post, path = "/mail/mailboxes", tag = "mail",
    request_body = CreateMailbox,
    security(("bearer" = ["mail.manage"])),
    responses((status = 201, body = Mailbox), (status = 409, description = "The name is taken", body = ApiError), (status = 422, body = ApiError)))]
async fn create_mailbox(
    State(state): State<AppState>,
    _caller: Authorized<can::ManageMail>,
    AppJson(request): AppJson<CreateMailbox>,
) -> Result<(StatusCode, AppJson<Mailbox>)> {
    let now = Utc::now();
    let mut row = MailboxRow {
        id: Uuid::now_v7(),
        name: request.name,
        address: request.address,
        unknown_senders: request.unknown_senders.unwrap_or_default().as_str().to_owned(),
        imap_host: request.imap_host,
        imap_port: request.imap_port.map(i32::from),
        imap_security: request.imap_security.map(|s| s.as_str().to_owned()),
        imap_user: request.imap_user,
        imap_password: request.imap_password,
        imap_folder: request.imap_folder.unwrap_or_else(|| "INBOX".to_owned()),
        poll_interval_secs: request.poll_interval_secs.map_or(60, |s| i32::try_from(s).unwrap_or(i32::MAX)),
        after_processing: request.after_processing.unwrap_or_default().as_str().to_owned(),
        move_to_folder: request.move_to_folder,
        uid_validity: None,
        last_uid: 0,
        lease_until: None,
        last_polled_at: None,
        last_error: None,
        created_at: now,
        updated_at: now,
    };
    validated(&mut row)?;
    const SQL: &str = "INSERT INTO mail_mailboxes (id, name, address, unknown_senders, imap_host, imap_port, imap_security, imap_user, \
                       imap_password, imap_folder, poll_interval_secs, after_processing, move_to_folder, created_at, updated_at) \
                       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $14)";
    let inserted = crate::with_db_writing!(&state.db, pool => sqlx::query(SQL)
        .bind(row.id).bind(&row.name).bind(&row.address).bind(&row.unknown_senders).bind(&row.imap_host).bind(row.imap_port)
        .bind(&row.imap_security).bind(&row.imap_user).bind(&row.imap_password).bind(&row.imap_folder).bind(row.poll_interval_secs)
        .bind(&row.after_processing).bind(&row.move_to_folder).bind(now)
        .execute(pool).await.map(|done| done.rows_affected()));
    match inserted {
        Ok(_) => {}
        Err(err) if crate::db::is_unique_violation(&err) => return Err(name_taken(&row.name)),
        Err(err) => return Err(err.into()),
    }
    tracing::info!(mailbox = %row.name, imap_host = ?row.imap_host, "mailbox created");
    Ok((StatusCode::CREATED, AppJson(row.view())))
}

fn name_taken(name: &str) -> Error {
    Error::conflict("mailbox_name_taken", format!("a mailbox is already named '{name}'"))
}

/// Change a mailbox. Pointing it at another server, account or folder starts its UIDs over
/// (the Message-ID check keeps mail taken in before from coming in twice).
#[utoipa::path(patch, path = "/mail/mailboxes/{id}", tag = "mail",
    params(("id" = Uuid, Path)),
    request_body = UpdateMailbox,
    security(("bearer" = ["mail.manage"])),
    responses((status = 200, body = Mailbox), (status = 404, body = ApiError), (status = 409, body = ApiError), (status = 422, body = ApiError)))]
async fn update_mailbox(
    State(state): State<AppState>,
    _caller: Authorized<can::ManageMail>,
    AppPath(id): AppPath<Uuid>,
    AppJson(update): AppJson<UpdateMailbox>,
) -> Result<AppJson<Mailbox>> {
    let current = found(&state.db, id).await?;
    let mut row = current.clone();
    if let Some(name) = update.name {
        row.name = name;
    }
    if let Some(address) = update.address {
        row.address = address;
    }
    if let Some(unknown) = update.unknown_senders {
        row.unknown_senders = unknown.as_str().to_owned();
    }
    if let Some(host) = update.imap_host {
        row.imap_host = host;
    }
    if let Some(port) = update.imap_port {
        row.imap_port = Some(i32::from(port));
    }
    if let Some(security) = update.imap_security {
        row.imap_security = Some(security.as_str().to_owned());
    }
    if let Some(user) = update.imap_user {
        row.imap_user = Some(user);
    }
    if let Some(password) = update.imap_password {
        row.imap_password = Some(password);
    }
    if let Some(folder) = update.imap_folder {
        row.imap_folder = folder;
    }
    if let Some(secs) = update.poll_interval_secs {
        row.poll_interval_secs = i32::try_from(secs).unwrap_or(i32::MAX);
    }
    if let Some(after) = update.after_processing {
        row.after_processing = after.as_str().to_owned();
    }
    if let Some(folder) = update.move_to_folder {
        row.move_to_folder = folder;
    }
    validated(&mut row)?;
    let elsewhere = (&row.imap_host, row.imap_port, &row.imap_user, &row.imap_folder)
        != (&current.imap_host, current.imap_port, &current.imap_user, &current.imap_folder);
    if elsewhere {
        row.uid_validity = None;
        row.last_uid = 0;
    }
    // A poller notices updated_at moving and reconnects with the new settings.
    row.updated_at = Utc::now();
    const SQL: &str = "UPDATE mail_mailboxes SET name = $1, address = $2, unknown_senders = $3, imap_host = $4, imap_port = $5, \
                       imap_security = $6, imap_user = $7, imap_password = $8, imap_folder = $9, poll_interval_secs = $10, \
                       after_processing = $11, move_to_folder = $12, uid_validity = $13, last_uid = $14, last_error = NULL, \
                       updated_at = $15 WHERE id = $16 AND deleted_at IS NULL";
    let updated = crate::with_db_writing!(&state.db, pool => sqlx::query(SQL)
        .bind(&row.name).bind(&row.address).bind(&row.unknown_senders).bind(&row.imap_host).bind(row.imap_port)
        .bind(&row.imap_security).bind(&row.imap_user).bind(&row.imap_password).bind(&row.imap_folder).bind(row.poll_interval_secs)
        .bind(&row.after_processing).bind(&row.move_to_folder).bind(row.uid_validity).bind(row.last_uid).bind(row.updated_at).bind(id)
        .execute(pool).await.map(|done| done.rows_affected()));
    match updated {
        Ok(0) => return Err(Error::NotFound { what: "mailbox" }),
        Ok(_) => {}
        Err(err) if crate::db::is_unique_violation(&err) => return Err(name_taken(&row.name)),
        Err(err) => return Err(err.into()),
    }
    tracing::info!(mailbox = %row.name, imap_host = ?row.imap_host, "mailbox changed");
    Ok(AppJson(found(&state.db, id).await?.view()))
}

/// Remove a mailbox: it is no longer polled nor accepted by the mailgate route; the mail it
/// brought in stays.
#[utoipa::path(delete, path = "/mail/mailboxes/{id}", tag = "mail",
    params(("id" = Uuid, Path)),
    security(("bearer" = ["mail.manage"])),
    responses((status = 204), (status = 404, body = ApiError)))]
async fn delete_mailbox(State(state): State<AppState>, _caller: Authorized<can::ManageMail>, AppPath(id): AppPath<Uuid>) -> Result<StatusCode> {
    const SQL: &str = "UPDATE mail_mailboxes SET deleted_at = $1, updated_at = $1 WHERE id = $2 AND deleted_at IS NULL";
    let now = Utc::now();
    let deleted = crate::with_db_writing!(&state.db, pool => sqlx::query(SQL).bind(now).bind(id).execute(pool).await?.rows_affected());
    if deleted == 0 {
        return Err(Error::NotFound { what: "mailbox" });
    }
    tracing::info!(mailbox_id = %id, "mailbox removed");
    Ok(StatusCode::NO_CONTENT)
}

/// Check a mailbox's IMAP account now: connect, TLS or STARTTLS as set, log in, open the
/// folder. Answers 200 with `ok: false`, the step that failed and the server's words when it
/// does not work.
#[utoipa::path(post, path = "/mail/mailboxes/{id}/test", tag = "mail",
    params(("id" = Uuid, Path)),
    security(("bearer" = ["mail.manage"])),
    responses((status = 200, body = MailServerCheck), (status = 404, body = ApiError), (status = 422, description = "The mailbox is not polled over IMAP", body = ApiError)))]
async fn test_mailbox(State(state): State<AppState>, _caller: Authorized<can::ManageMail>, AppPath(id): AppPath<Uuid>) -> Result<AppJson<MailServerCheck>> {
    let row = found(&state.db, id).await?;
    let account = row.imap().ok_or_else(|| Error::invalid("imap_host", "this mailbox has no IMAP account to test (it is fed by hdms mailgate only)"))?;
    Ok(AppJson(imap::check(&account, state.config.mail_ca_file.as_deref()).await))
}

fn trimmed(value: &mut Option<String>) {
    *value = value.take().map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
}

/// Checks and normalises a mailbox about to be written.
fn validated(row: &mut MailboxRow) -> Result<()> {
    row.name = row.name.trim().to_owned();
    if row.name.is_empty() || row.name.chars().count() > 100 || row.name.contains(char::is_control) {
        return Err(Error::invalid("name", "must be 1 to 100 characters"));
    }
    if row.name.eq_ignore_ascii_case(RESERVED_NAME) {
        return Err(Error::invalid("name", "'mailgate' names the built-in mailbox of hdms mailgate; choose another name"));
    }
    trimmed(&mut row.address);
    if let Some(address) = &row.address {
        row.address = Some(validate::field("address", validate::email(address))?);
    }
    trimmed(&mut row.imap_host);
    trimmed(&mut row.imap_user);
    trimmed(&mut row.move_to_folder);
    row.imap_folder = row.imap_folder.trim().to_owned();
    if row.imap_folder.is_empty() {
        row.imap_folder = "INBOX".to_owned();
    }
    if !(1..=i64::from(MAX_POLL_SECS)).contains(&i64::from(row.poll_interval_secs)) {
        return Err(Error::invalid("poll_interval_secs", format!("must be 1 to {MAX_POLL_SECS} seconds")));
    }
    if row.after_processing == AfterProcessing::Move.as_str() && row.move_to_folder.is_none() {
        return Err(Error::invalid("move_to_folder", "name the folder processed mail is moved to (after_processing: move)"));
    }
    let Some(host) = &row.imap_host else {
        return Ok(());
    };
    if host.len() > 253 || host.contains(char::is_whitespace) {
        return Err(Error::invalid("imap_host", "must be a host name or address"));
    }
    let security = row.imap_security.get_or_insert_with(|| MailSecurity::Tls.as_str().to_owned());
    let default_port = if security.as_str() == MailSecurity::Tls.as_str() { 993 } else { 143 };
    match row.imap_port {
        None => row.imap_port = Some(default_port),
        Some(port) if !(1..=65535).contains(&port) => return Err(Error::invalid("imap_port", "must be 1 to 65535")),
        Some(_) => {}
    }
    if row.imap_user.is_none() {
        return Err(Error::invalid("imap_user", "an IMAP mailbox needs the user to log in as"));
    }
    if row.imap_password.as_deref().is_none_or(str::is_empty) {
        return Err(Error::invalid("imap_password", "an IMAP mailbox needs the password to log in with"));
    }
    Ok(())
}
