//! Writing an import: each chunk in one transaction of multi-row statements, with invitations.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use hdms_api_types::Role;
use hdms_api_types::import::{Invitation, OnConflict, RowError, RowErrorCode};
use sqlx::QueryBuilder;
use tokio::sync::mpsc;
use uuid::Uuid;

use super::read::ValidRow;
use super::list_errors;
use crate::db::Db;
use crate::error::Result;
use crate::users::invites;
use crate::users::session_cache::SessionCache;
use crate::with_tx;

/// Rows per INSERT statement: large enough that per-statement costs vanish, small enough to stay
/// far below SQLite's 32,766 bound parameters ([`INSERT_PARAMETERS`] a row).
const STATEMENT_ROWS: usize = 500;

#[derive(Debug, Clone, Copy)]
pub(super) struct WriteOptions {
    pub(super) dry_run: bool,
    pub(super) on_conflict: OnConflict,
    pub(super) invites: Invites,
}

/// What becomes of invitations: returned in the report, sent by SMS, or both.
#[derive(Debug, Clone, Copy)]
pub(super) struct Invites {
    pub(super) print: bool,
    pub(super) send: bool,
}

impl Invites {
    /// Whether a user with this phone gets an invitation. One that no channel carries and the
    /// admin does not see would only replace a token that may still reach them, so none is made.
    fn for_phone(self, phone: Option<&str>) -> bool {
        self.print || self.send && phone.is_some()
    }

    /// Counts a user who needs an invitation but gets none (asked to send, no phone).
    fn count_unsent(self, phone: Option<&str>, written: &mut Written) {
        if self.send && !self.for_phone(phone) {
            written.invitations_unsent += 1;
        }
    }
}

/// The text message that carries an invitation.
fn invitation_sms(token: &str) -> String {
    format!(
        "You have a help desk account. Set your password within {} days with this one-time code: {token} \
         (e.g. `hdms accept-invite`)",
        invites::INVITE_TTL.num_days()
    )
}

/// What the writer did with the rows it was given.
#[derive(Default)]
pub(super) struct Written {
    pub(super) created: u64,
    pub(super) updated: u64,
    pub(super) skipped: u64,
    pub(super) failed: u64,
    pub(super) errors: Vec<RowError>,
    pub(super) errors_omitted: u64,
    pub(super) invitations: Vec<Invitation>,
    pub(super) invitations_sent: u64,
    pub(super) invitations_unsent: u64,
}

/// A live user that a row's email matches.
#[derive(sqlx::FromRow)]
struct Existing {
    id: Uuid,
    email: String,
    name: String,
    #[sqlx(try_from = "String")]
    role: Role,
    phone: Option<String>,
    locale: Option<String>,
    external_id: Option<String>,
    has_password: bool,
}

impl Existing {
    fn matches(&self, row: &ValidRow) -> bool {
        self.name == row.name
            && self.role == row.role
            && self.phone == row.phone
            && self.locale == row.locale
            && self.external_id == row.external_id
    }
}

pub(super) async fn write_chunks(
    db: Db,
    sessions: Arc<SessionCache>,
    options: WriteOptions,
    mut chunks: mpsc::Receiver<Vec<ValidRow>>,
) -> Result<Written> {
    let mut written = Written::default();
    while let Some(chunk) = chunks.recv().await {
        write_chunk(&db, &sessions, options, &chunk, &mut written).await?;
    }
    Ok(written)
}

/// What one statement-sized batch of rows needs done, decided from the users that exist.
struct BatchPlan<'a> {
    inserts: Vec<(Uuid, &'a ValidRow, Option<invites::NewInvite>)>,
    updates: Vec<(Uuid, &'a ValidRow)>,
    /// Existing users who still have no password, and get a fresh invitation (sent to the phone).
    reinvites: Vec<(Uuid, &'a ValidRow, Option<String>, invites::NewInvite)>,
    /// Existing users (updated ones) that join the row's team.
    joins: Vec<(Uuid, Uuid)>,
}

fn plan_batch<'a>(
    batch: &'a [ValidRow],
    existing: Vec<Existing>,
    options: WriteOptions,
    now: DateTime<Utc>,
    written: &mut Written,
) -> BatchPlan<'a> {
    let existing: HashMap<String, Existing> = existing.into_iter().map(|user| (user.email.clone(), user)).collect();
    let mut plan = BatchPlan { inserts: Vec::new(), updates: Vec::new(), reinvites: Vec::new(), joins: Vec::new() };
    for row in batch {
        let Some(user) = existing.get(&row.email) else {
            let id = Uuid::now_v7();
            plan.inserts.push((id, row, options.invites.for_phone(row.phone.as_deref()).then(|| invites::mint(id, now))));
            continue;
        };
        match options.on_conflict {
            OnConflict::Fail => {
                refuse(written, row, RowErrorCode::EmailTaken, format!("a user with email '{}' already exists", row.email));
                continue;
            }
            OnConflict::Skip => written.skipped += 1,
            OnConflict::Update if user.role == Role::Admin && row.role != Role::Admin => {
                refuse(
                    written,
                    row,
                    RowErrorCode::AdminRoleLocked,
                    "an import does not change an admin's role; use `hdms users update`".to_owned(),
                );
                continue;
            }
            OnConflict::Update if user.matches(row) => written.skipped += 1,
            OnConflict::Update => {
                written.updated += 1;
                plan.updates.push((user.id, row));
            }
        }
        if options.on_conflict == OnConflict::Update
            && let Some(team) = row.team
        {
            plan.joins.push((team, user.id));
        }
        if !user.has_password {
            // Update mode: the row's phone is the user's from now on.
            if options.invites.for_phone(row.phone.as_deref()) {
                plan.reinvites.push((user.id, row, row.phone.clone(), invites::mint(user.id, now)));
            } else {
                options.invites.count_unsent(row.phone.as_deref(), written);
            }
        }
    }
    plan
}

fn refuse(written: &mut Written, row: &ValidRow, code: RowErrorCode, message: String) {
    written.failed += 1;
    let error = RowError { line: row.line, column: Some("email".to_owned()), code, message };
    list_errors(&mut written.errors, &mut written.errors_omitted, vec![error]);
}

/// Parameters of each row in [`insert_users_sql`].
const INSERT_PARAMETERS: usize = 11;

/// The INSERT of `rows` users, [`INSERT_PARAMETERS`] a row. Built once for a full batch (some
/// 60 KB of text). Placeholders are `$n` on PostgreSQL and plain `?` on SQLite: sqlx looks each
/// of a statement's parameters up by name, and SQLite finds a name by walking the list of all
/// of them, so 5,500 named parameters cost more than the rows.
fn insert_users_sql(rows: usize, db: &Db) -> std::borrow::Cow<'static, str> {
    static FULL_BATCH: [std::sync::OnceLock<String>; 2] = [std::sync::OnceLock::new(), std::sync::OnceLock::new()];
    let numbered = matches!(db, Db::Postgres(_));
    let build = || {
        let mut sql = String::from(
            "INSERT INTO users (id, email, name, role, phone, locale, external_id, invite_hash, invite_expires_at, \
             created_at, updated_at, active) VALUES ",
        );
        let mut parameter = 0;
        for row in 0..rows {
            sql.push_str(if row == 0 { "(" } else { ", (" });
            for _ in 0..INSERT_PARAMETERS {
                parameter += 1;
                if numbered {
                    sql.push_str(&format!("${parameter}, "));
                } else {
                    sql.push_str("?, ");
                }
            }
            sql.push_str("TRUE)");
        }
        // A user created meanwhile by someone else is left alone, like any existing one.
        sql.push_str(" ON CONFLICT (email) WHERE deleted_at IS NULL DO NOTHING");
        sql
    };
    if rows == STATEMENT_ROWS {
        std::borrow::Cow::Borrowed(FULL_BATCH[usize::from(numbered)].get_or_init(build))
    } else {
        std::borrow::Cow::Owned(build())
    }
}

/// Binds each value to a query in place. `Query::bind` takes and returns the whole query, which
/// for the 5,500 values of a full INSERT is most of the cost of binding.
macro_rules! try_bind_each {
    ($query:ident, $($value:expr),+ $(,)?) => {
        $( $query.try_bind($value).map_err(sqlx::Error::Encode)?; )+
    };
}

/// Arguments with room for `count` values, for the pool's backend: binding 5,500 values one by
/// one into a growing list copies it a dozen times over.
fn reserved_arguments<C: sqlx::Connection>(_: &C, count: usize) -> <C::Database as sqlx::Database>::Arguments {
    let mut arguments = <<C::Database as sqlx::Database>::Arguments as Default>::default();
    sqlx::Arguments::reserve(&mut arguments, count, 0);
    arguments
}

async fn write_chunk(db: &Db, sessions: &SessionCache, options: WriteOptions, chunk: &[ValidRow], written: &mut Written) -> Result<()> {
    const FIND_EXISTING: &str = "SELECT id, email, name, role, phone, locale, external_id, \
           password_hash IS NOT NULL AS has_password \
         FROM users WHERE deleted_at IS NULL AND email IN (";
    const FIND_CREATED: &str = "SELECT id FROM users WHERE id IN (";
    const UPDATE: &str = "UPDATE users SET name = $1, role = $2, phone = $3, locale = $4, external_id = $5, \
           updated_at = $6 WHERE id = $7";
    const FIND_UNINVITED: &str =
        "SELECT id, email, phone FROM users WHERE deleted_at IS NULL AND password_hash IS NULL AND email IN (";
    const REINVITE: &str = "UPDATE users SET invite_hash = $1, invite_expires_at = $2 WHERE id = $3";
    const JOIN: &str = "INSERT INTO team_members (team_id, user_id, added_at) ";
    const JOIN_CONFLICT: &str = " ON CONFLICT (team_id, user_id) DO NOTHING";
    const SMS_OUTBOX: &str = crate::comms::sms::outbox_insert!();

    let now = Utc::now();
    let mut invitations: Vec<Invitation> = Vec::new();
    let mut sent_in_chunk = 0;
    let mut created_users: Vec<Uuid> = Vec::new();
    // `Db::begin` takes the write lock at once (on SQLite a deferred transaction that reads
    // first and writes later can fail to upgrade its lock while another writer holds it).
    let mut tx = db.begin().await?;
    with_tx!(&mut tx, conn => {
        for batch in chunk.chunks(STATEMENT_ROWS) {
            // This batch's invitations, each with the phone it goes to.
            let mut batch_invitations: Vec<(Invitation, Option<String>)> = Vec::new();
            // Only an update needs the stored values first. Otherwise every row is offered to
            // the INSERT, and the conflict clause tells which emails exist: one statement per
            // batch instead of two, which is most of the difference on a first import.
            let existing: Vec<Existing> = if options.on_conflict == OnConflict::Update {
                let mut find = QueryBuilder::new(FIND_EXISTING);
                let mut emails = find.separated(", ");
                for row in batch {
                    emails.push_bind(&row.email);
                }
                find.push(")");
                find.build_query_as().fetch_all(&mut *conn).await?
            } else {
                Vec::new()
            };
            let plan = plan_batch(batch, existing, options, now, written);
            let mut existing_without_update = Vec::new();

            let mut joins = plan.joins;
            if !plan.inserts.is_empty() {
                // Built from constants and numbers only.
                let sql = sqlx::AssertSqlSafe(insert_users_sql(plan.inserts.len(), db));
                let mut insert = sqlx::query_with(sql, reserved_arguments(&*conn, plan.inserts.len() * INSERT_PARAMETERS));
                for (id, row, invite) in &plan.inserts {
                    let invite_hash = invite.as_ref().map(|invite| &invite.digest);
                    let invite_expires_at = invite.as_ref().map(|invite| invite.expires_at);
                    try_bind_each!(insert, *id, &row.email, &row.name, row.role.as_str(), &row.phone, &row.locale,
                        &row.external_id, invite_hash, invite_expires_at, now, now);
                }
                let inserted = insert.execute(&mut *conn).await?.rows_affected();
                // Which rows met an existing email matters only when some did: on a first
                // import none do, and no row has to come back.
                let created: std::collections::HashSet<Uuid> = if inserted == plan.inserts.len() as u64 {
                    plan.inserts.iter().map(|(id, _, _)| *id).collect()
                } else {
                    let mut find = QueryBuilder::new(FIND_CREATED);
                    let mut ids = find.separated(", ");
                    for (id, _, _) in &plan.inserts {
                        ids.push_bind(*id);
                    }
                    find.push(")");
                    find.build_query_scalar().fetch_all(&mut *conn).await?.into_iter().collect()
                };
                for (id, row, invite) in plan.inserts {
                    if !created.contains(&id) {
                        match options.on_conflict {
                            OnConflict::Fail => refuse(
                                written,
                                row,
                                RowErrorCode::EmailTaken,
                                format!("a user with email '{}' already exists", row.email),
                            ),
                            _ => {
                                written.skipped += 1;
                                existing_without_update.push(row);
                            }
                        }
                        continue;
                    }
                    written.created += 1;
                    created_users.push(id);
                    if let Some(team) = row.team {
                        joins.push((team, id));
                    }
                    match invite {
                        Some(invite) => batch_invitations.push((
                            Invitation { user_id: id, email: row.email.clone(), token: invite.token, expires_at: invite.expires_at },
                            row.phone.clone(),
                        )),
                        None => options.invites.count_unsent(row.phone.as_deref(), written),
                    }
                }
            }
            for (id, row) in &plan.updates {
                sqlx::query(UPDATE)
                    .bind(&row.name)
                    .bind(row.role.as_str())
                    .bind(&row.phone)
                    .bind(&row.locale)
                    .bind(&row.external_id)
                    .bind(now)
                    .bind(*id)
                    .execute(&mut *conn)
                    .await?;
            }
            let mut reinvites = plan.reinvites;
            if (options.invites.print || options.invites.send)
                && options.on_conflict == OnConflict::Skip
                && !existing_without_update.is_empty()
            {
                // Skipped users who never set a password get a fresh invitation.
                let mut find = QueryBuilder::new(FIND_UNINVITED);
                let mut emails = find.separated(", ");
                for row in &existing_without_update {
                    emails.push_bind(&row.email);
                }
                find.push(")");
                let waiting: Vec<(Uuid, String, Option<String>)> = find.build_query_as().fetch_all(&mut *conn).await?;
                for (id, email, phone) in waiting {
                    let Some(row) = existing_without_update.iter().find(|row| row.email == email) else { continue };
                    if options.invites.for_phone(phone.as_deref()) {
                        reinvites.push((id, *row, phone, invites::mint(id, now)));
                    } else {
                        options.invites.count_unsent(phone.as_deref(), written);
                    }
                }
            }
            for (id, row, phone, invite) in reinvites {
                sqlx::query(REINVITE).bind(&invite.digest).bind(invite.expires_at).bind(id).execute(&mut *conn).await?;
                batch_invitations.push((
                    Invitation { user_id: id, email: row.email.clone(), token: invite.token, expires_at: invite.expires_at },
                    phone,
                ));
            }
            if !joins.is_empty() {
                let mut join = QueryBuilder::new(JOIN);
                join.push_values(&joins, |mut values, (team, user)| {
                    values.push_bind(*team).push_bind(*user).push_bind(now);
                });
                join.push(JOIN_CONFLICT);
                join.build().execute(&mut *conn).await?;
            }
            if options.invites.send {
                let texts: Vec<(Uuid, &Invitation, &str, String)> = batch_invitations
                    .iter()
                    .filter_map(|(invitation, phone)| Some((Uuid::now_v7(), invitation, phone.as_deref()?, invitation_sms(&invitation.token))))
                    .collect();
                if !texts.is_empty() {
                    // Queued in the same transaction as the users: the worker sends them once it
                    // commits (see `comms::sms`). Sensitive: the body is blanked once delivered.
                    let mut outbox = QueryBuilder::new(SMS_OUTBOX);
                    outbox.push_values(&texts, |mut values, (id, invitation, phone, text)| {
                        values
                            .push_bind(*id)
                            .push_bind(invitation.user_id)
                            .push_bind(*phone)
                            .push_bind(text)
                            .push("TRUE, 'pending', 0")
                            .push_bind(now)
                            .push_bind(now);
                    });
                    outbox.build().execute(&mut *conn).await?;
                    sent_in_chunk += texts.len() as u64;
                }
            }
            invitations.extend(batch_invitations.into_iter().map(|(invitation, _)| invitation));
        }
    });
    if options.dry_run {
        drop(tx); // rolled back
    } else {
        // `user.created` for each new user, sent once this commits.
        crate::comms::webhooks::events::users_created(&mut tx, &created_users, now).await?;
        tx.commit().await?;
        // Updated rows may have changed the role of someone signed in.
        sessions.invalidate();
    }
    // Like every count of a dry run, what would have been sent.
    written.invitations_sent += sent_in_chunk;
    // Invitations of a dry run were never stored: they would not work.
    if !options.dry_run && options.invites.print {
        written.invitations.append(&mut invitations);
    }
    Ok(())
}
