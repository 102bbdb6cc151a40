//! Ticket rows: reading, writing with optimistic versioning, and the history every write leaves.

use chrono::{DateTime, Utc};
use hdms_api_types::tickets::{Priority, Status};
use uuid::Uuid;

use crate::comms::hub::{self, Signal};
use crate::comms::webhooks;
use crate::db::{Bind, Db, DynamicSql, Tx};
use crate::error::{Error, Result};
use crate::{bind_all, with_db, with_tx};

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct TicketRow {
    pub id: Uuid,
    pub number: i64,
    pub subject: String,
    pub description: String,
    pub requester_id: Uuid,
    pub assignee_id: Option<Uuid>,
    pub team_id: Option<Uuid>,
    #[sqlx(try_from = "i32")]
    pub priority: Priority,
    pub category: Option<String>,
    #[sqlx(try_from = "String")]
    pub status: Status,
    pub parent_id: Option<Uuid>,
    pub merged_into_id: Option<Uuid>,
    pub version: i64,
    pub sla_policy_id: Option<Uuid>,
    pub sla_used_secs: i64,
    pub sla_running_since: Option<DateTime<Utc>>,
    pub first_response_due_at: Option<DateTime<Utc>>,
    pub first_response_warn_at: Option<DateTime<Utc>>,
    pub resolution_due_at: Option<DateTime<Utc>>,
    pub resolution_warn_at: Option<DateTime<Utc>>,
    pub first_response_warned_at: Option<DateTime<Utc>>,
    pub first_response_breached_at: Option<DateTime<Utc>>,
    pub resolution_warned_at: Option<DateTime<Utc>>,
    pub resolution_breached_at: Option<DateTime<Utc>>,
    pub first_responded_at: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub deleted_at: Option<DateTime<Utc>>,
}

impl TicketRow {
    /// A new ticket as it is before anyone has touched it: status `new`, version 1, no
    /// assignee, no SLA clock yet (the creator chooses the policy and aligns the clock).
    pub fn new(
        number: i64,
        subject: String,
        description: String,
        requester_id: Uuid,
        priority: Priority,
        now: DateTime<Utc>,
    ) -> TicketRow {
        TicketRow {
            id: Uuid::now_v7(),
            number,
            subject,
            description,
            requester_id,
            assignee_id: None,
            team_id: None,
            priority,
            category: None,
            status: Status::New,
            parent_id: None,
            merged_into_id: None,
            version: 1,
            sla_policy_id: None,
            sla_used_secs: 0,
            sla_running_since: None,
            first_response_due_at: None,
            first_response_warn_at: None,
            resolution_due_at: None,
            resolution_warn_at: None,
            first_response_warned_at: None,
            first_response_breached_at: None,
            resolution_warned_at: None,
            resolution_breached_at: None,
            first_responded_at: None,
            resolved_at: None,
            closed_at: None,
            created_at: now,
            updated_at: now,
            deleted_at: None,
        }
    }
}

/// The columns of [`TicketRow`], optionally behind a table alias, as a literal for `concat!`.
macro_rules! ticket_columns {
    () => {
        ticket_columns!("")
    };
    ($a:literal) => {
        concat!(
            $a, "id, ", $a, "number, ", $a, "subject, ", $a, "description, ", $a, "requester_id, ",
            $a, "assignee_id, ", $a, "team_id, ", $a, "priority, ", $a, "category, ", $a, "status, ",
            $a, "parent_id, ", $a, "merged_into_id, ", $a, "version, ", $a, "sla_policy_id, ",
            $a, "sla_used_secs, ", $a, "sla_running_since, ", $a, "first_response_due_at, ",
            $a, "first_response_warn_at, ", $a, "resolution_due_at, ", $a, "resolution_warn_at, ",
            $a, "first_response_warned_at, ", $a, "first_response_breached_at, ",
            $a, "resolution_warned_at, ", $a, "resolution_breached_at, ", $a, "first_responded_at, ",
            $a, "resolved_at, ", $a, "closed_at, ", $a, "created_at, ", $a, "updated_at, ", $a, "deleted_at"
        )
    };
}
pub(crate) use ticket_columns;

const FIND: &str = concat!("SELECT ", ticket_columns!(), " FROM tickets WHERE id = $1");

/// A ticket by id, deleted or not.
pub async fn find(db: &Db, id: Uuid) -> Result<Option<TicketRow>> {
    Ok(with_db!(db, pool => sqlx::query_as(FIND).bind(id).fetch_optional(pool).await?))
}

/// The same, inside a transaction (so the write that follows sees what was read).
pub async fn find_in(tx: &mut Tx, id: Uuid) -> Result<Option<TicketRow>> {
    Ok(with_tx!(tx, conn => sqlx::query_as(FIND).bind(id).fetch_optional(&mut *conn).await?))
}

/// A live ticket read inside the transaction that will write it, checked against the version
/// the caller last saw (when they sent one): 404 when it is gone, 409 when it moved on.
/// [`save`] checks the version again as it writes, so a race between the two still fails.
///
/// On PostgreSQL the row is locked (`FOR UPDATE`): without it two writers of one ticket at once
/// (two replies, a reply and a claim) both read the same version and the second's [`save`]
/// failed with a version conflict nobody asked for (a reply answered 409, found by the mixed-load
/// soak). Locked, the second waits for the first to commit and reads its row. SQLite needs no
/// lock: its write transactions begin IMMEDIATE, one at a time.
pub async fn load_for_write(tx: &mut Tx, id: Uuid, expected_version: Option<i64>) -> Result<TicketRow> {
    const FIND_FOR_UPDATE: &str = concat!("SELECT ", ticket_columns!(), " FROM tickets WHERE id = $1 FOR UPDATE");
    let ticket = match tx {
        Tx::Sqlite(..) => find_in(tx, id).await?,
        Tx::Postgres(tx, _) => sqlx::query_as(FIND_FOR_UPDATE).bind(id).fetch_optional(&mut **tx).await?,
    };
    let ticket = ticket.filter(|t| t.deleted_at.is_none());
    let ticket = ticket.ok_or(Error::NotFound { what: "ticket" })?;
    match expected_version {
        Some(version) if version != ticket.version => Err(stale(version)),
        _ => Ok(ticket),
    }
}

/// The next human ticket number (`HD-<n>`), taken inside the creating transaction so numbers
/// are never skipped by a rollback... except when the transaction itself fails, which is fine.
/// With it, the SLA policies' version (`sla::policies_at`), which the creator needs next: read
/// here, it costs no round trip of its own.
pub async fn next_number(tx: &mut Tx) -> Result<(i64, i64)> {
    const SQL: &str = concat!(
        "UPDATE counters SET value = value + 1 WHERE name = 'ticket_number' RETURNING value, ",
        crate::tickets::sla::version_column!()
    );
    Ok(with_tx!(tx, conn => sqlx::query_as(SQL).fetch_one(&mut *conn).await?))
}

pub async fn insert(tx: &mut Tx, t: &TicketRow) -> Result<()> {
    const SQL: &str = concat!(
        "INSERT INTO tickets (", ticket_columns!(), ") VALUES (",
        "$1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, ",
        "$21, $22, $23, $24, $25, $26, $27, $28, $29, $30)"
    );
    with_tx!(tx, conn => sqlx::query(SQL)
        .bind(t.id).bind(t.number).bind(&t.subject).bind(&t.description).bind(t.requester_id)
        .bind(t.assignee_id).bind(t.team_id).bind(t.priority.rank()).bind(&t.category).bind(t.status.as_str())
        .bind(t.parent_id).bind(t.merged_into_id).bind(t.version).bind(t.sla_policy_id)
        .bind(t.sla_used_secs).bind(t.sla_running_since).bind(t.first_response_due_at)
        .bind(t.first_response_warn_at).bind(t.resolution_due_at).bind(t.resolution_warn_at)
        .bind(t.first_response_warned_at).bind(t.first_response_breached_at)
        .bind(t.resolution_warned_at).bind(t.resolution_breached_at).bind(t.first_responded_at)
        .bind(t.resolved_at).bind(t.closed_at).bind(t.created_at).bind(t.updated_at).bind(t.deleted_at)
        .execute(&mut *conn).await?.rows_affected());
    Ok(())
}

/// Who made a change: a person, or the system (SLA job, auto-close).
pub type Actor = Option<Uuid>;

/// Writes `after` over `before` if nobody changed the ticket meanwhile (409 otherwise),
/// bumping the version and recording one history entry per changed field. Returns the row as
/// stored.
pub async fn save(tx: &mut Tx, before: &TicketRow, mut after: TicketRow, actor: Actor, now: DateTime<Utc>) -> Result<TicketRow> {
    after.version = before.version + 1;
    after.updated_at = now;
    const SQL: &str = "UPDATE tickets SET subject = $1, description = $2, assignee_id = $3, team_id = $4, \
        priority = $5, category = $6, status = $7, parent_id = $8, merged_into_id = $9, version = $10, \
        sla_policy_id = $11, sla_used_secs = $12, sla_running_since = $13, first_response_due_at = $14, \
        first_response_warn_at = $15, resolution_due_at = $16, resolution_warn_at = $17, \
        first_response_warned_at = $18, first_response_breached_at = $19, resolution_warned_at = $20, \
        resolution_breached_at = $21, first_responded_at = $22, resolved_at = $23, closed_at = $24, \
        updated_at = $25, deleted_at = $26 \
        WHERE id = $27 AND version = $28";
    let t = &after;
    let updated = with_tx!(tx, conn => sqlx::query(SQL)
        .bind(&t.subject).bind(&t.description).bind(t.assignee_id).bind(t.team_id)
        .bind(t.priority.rank()).bind(&t.category).bind(t.status.as_str()).bind(t.parent_id)
        .bind(t.merged_into_id).bind(t.version).bind(t.sla_policy_id).bind(t.sla_used_secs)
        .bind(t.sla_running_since).bind(t.first_response_due_at).bind(t.first_response_warn_at)
        .bind(t.resolution_due_at).bind(t.resolution_warn_at).bind(t.first_response_warned_at)
        .bind(t.first_response_breached_at).bind(t.resolution_warned_at).bind(t.resolution_breached_at)
        .bind(t.first_responded_at).bind(t.resolved_at).bind(t.closed_at).bind(t.updated_at)
        .bind(t.deleted_at).bind(t.id).bind(before.version)
        .execute(&mut *conn).await?.rows_affected());
    if updated == 0 {
        return Err(stale(before.version));
    }
    let changes = diff(before, &after);
    let hooked = changes.iter().map(|c| webhooks::events::change(c.field, c.before.as_deref(), c.after.as_deref())).collect();
    for change in changes {
        record(tx, before.id, actor, now, change).await?;
    }
    crate::events::ticket_updated(tx, &after, actor, hooked, now).await?;
    Ok(after)
}

pub fn stale(version: i64) -> Error {
    Error::conflict(
        "version_conflict",
        format!("the ticket changed since version {version}; reload it and try again"),
    )
}

/// One history entry.
pub struct Change {
    pub field: &'static str,
    pub before: Option<String>,
    pub after: Option<String>,
    /// Hidden from customers.
    pub internal: bool,
}

/// The fields people care about, compared one by one; SLA bookkeeping is left out.
fn diff(before: &TicketRow, after: &TicketRow) -> Vec<Change> {
    fn text<T: ToString>(value: &Option<T>) -> Option<String> {
        value.as_ref().map(ToString::to_string)
    }
    let mut changes = Vec::new();
    let mut push = |field, b: Option<String>, a: Option<String>, internal| {
        if b != a {
            changes.push(Change { field, before: b, after: a, internal });
        }
    };
    push("subject", Some(before.subject.clone()), Some(after.subject.clone()), false);
    push("description", Some(before.description.clone()), Some(after.description.clone()), false);
    push("status", Some(before.status.to_string()), Some(after.status.to_string()), false);
    push("priority", Some(before.priority.to_string()), Some(after.priority.to_string()), false);
    push("category", before.category.clone(), after.category.clone(), false);
    push("assignee", text(&before.assignee_id), text(&after.assignee_id), true);
    push("team", text(&before.team_id), text(&after.team_id), true);
    push("parent", text(&before.parent_id), text(&after.parent_id), false);
    push("merged_into", text(&before.merged_into_id), text(&after.merged_into_id), false);
    push("sla_policy", text(&before.sla_policy_id), text(&after.sla_policy_id), true);
    push("deleted", text(&before.deleted_at), text(&after.deleted_at), true);
    changes
}

/// Records a change in the ticket's history, and tells the live queues (every change to a
/// ticket passes here; on SQLite the queue feed reads the history table itself).
pub async fn record(tx: &mut Tx, ticket_id: Uuid, actor: Actor, at: DateTime<Utc>, change: Change) -> Result<()> {
    const SQL: &str = "INSERT INTO ticket_history (id, ticket_id, actor_id, at, field, before, after, internal, rule_id) \
                       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";
    // A rule's change is the rule's, not the person's its actions run as.
    let rule = crate::events::acting_rule(tx);
    let actor = if rule.is_some() { None } else { actor };
    // Who saw the ticket before a change of team or assignee, so they hear it left.
    let was = match change.field {
        "team" | "assignee" => change.before.as_deref().and_then(|before| before.parse().ok()),
        _ => None,
    };
    let signal = Signal::Ticket { ticket_id, field: change.field.to_owned(), was };
    with_tx!(tx, conn => sqlx::query(SQL)
        .bind(Uuid::now_v7()).bind(ticket_id).bind(actor).bind(at).bind(change.field)
        .bind(change.before).bind(change.after).bind(change.internal).bind(rule)
        .execute(&mut *conn).await?.rows_affected());
    hub::signal(tx, &signal).await
}

/// Replaces a ticket's tags, recording the change and telling webhooks (`ticket.updated`).
pub async fn set_tags(tx: &mut Tx, ticket_id: Uuid, before: &[String], after: &[String], actor: Actor, now: DateTime<Utc>) -> Result<()> {
    if before == after {
        return Ok(());
    }
    write_tags(tx, ticket_id, before, after, actor, now).await?;
    let change = webhooks::events::change("tags", Some(&before.join(",")), Some(&after.join(",")));
    crate::events::ticket_updated_by_id(tx, ticket_id, actor, vec![change], now).await
}

/// [`set_tags`] without the webhook: for a ticket being created, whose `ticket.created` carries
/// its tags' history already.
pub async fn write_tags(tx: &mut Tx, ticket_id: Uuid, before: &[String], after: &[String], actor: Actor, now: DateTime<Utc>) -> Result<()> {
    if before == after {
        return Ok(());
    }
    // `before` is what the ticket has (callers read it, or the ticket is new): with none there
    // is nothing to delete. The new tags go in one statement, not one each.
    let mut insert = DynamicSql::new("INSERT INTO ticket_tags (ticket_id, tag) VALUES ");
    for (i, tag) in after.iter().enumerate() {
        insert.push(if i == 0 { "(" } else { ", (" }).bind(Bind::Uuid(ticket_id)).push(", ").bind(Bind::Text(tag.clone())).push(")");
    }
    with_tx!(tx, conn => {
        if !before.is_empty() {
            sqlx::query("DELETE FROM ticket_tags WHERE ticket_id = $1").bind(ticket_id).execute(&mut *conn).await?;
        }
        if !after.is_empty() {
            bind_all!(sqlx::query(sqlx::AssertSqlSafe(insert.sql.clone())), &insert.binds).execute(&mut *conn).await?;
        }
    });
    let change = Change { field: "tags", before: Some(before.join(",")), after: Some(after.join(",")), internal: false };
    record(tx, ticket_id, actor, now, change).await
}

/// The same, inside a transaction.
pub async fn tags_in(tx: &mut Tx, ticket_id: Uuid) -> Result<Vec<String>> {
    const SQL: &str = "SELECT tag FROM ticket_tags WHERE ticket_id = $1 ORDER BY tag";
    Ok(with_tx!(tx, conn => sqlx::query_scalar(SQL).bind(ticket_id).fetch_all(&mut *conn).await?))
}

pub async fn tags_of(db: &Db, ticket_id: Uuid) -> Result<Vec<String>> {
    const SQL: &str = "SELECT tag FROM ticket_tags WHERE ticket_id = $1 ORDER BY tag";
    Ok(with_db!(db, pool => sqlx::query_scalar(SQL).bind(ticket_id).fetch_all(pool).await?))
}

/// (total, done) sub-tickets of a ticket.
pub async fn children_counts(db: &Db, ticket_id: Uuid) -> Result<(i64, i64)> {
    const SQL: &str = "SELECT COUNT(*), COALESCE(SUM(CASE WHEN status IN ('resolved', 'closed', 'cancelled') THEN 1 ELSE 0 END), 0) \
                       FROM tickets WHERE parent_id = $1 AND deleted_at IS NULL";
    Ok(with_db!(db, pool => sqlx::query_as(SQL).bind(ticket_id).fetch_one(pool).await?))
}

/// The text search indexes for a ticket itself (subject and description), replaced on edit.
pub async fn index_ticket_text(tx: &mut Tx, ticket: &TicketRow) -> Result<()> {
    match tx {
        Tx::Sqlite(tx, _) => {
            // The owner token finds the ticket's documents through the FTS index (0009).
            const DELETE: &str = "DELETE FROM search_docs WHERE rowid IN \
                (SELECT rowid FROM search_docs WHERE search_docs MATCH $1) AND ticket_id = $2 AND comment_id IS NULL";
            sqlx::query(DELETE).bind(owner_match(ticket.id)).bind(ticket.id).execute(&mut **tx).await?;
        }
        Tx::Postgres(tx, _) => {
            const DELETE: &str = "DELETE FROM search_docs WHERE ticket_id = $1 AND comment_id IS NULL";
            sqlx::query(DELETE).bind(ticket.id).execute(&mut **tx).await?;
        }
    }
    index_new_ticket_text(tx, ticket).await
}

/// The same for a ticket being created, which has no document to replace yet (the full-text
/// search for it was a quarter of an SQLite create's statements' time).
pub async fn index_new_ticket_text(tx: &mut Tx, ticket: &TicketRow) -> Result<()> {
    let text = format!("{}\n{}", ticket.subject, ticket.description);
    match tx {
        Tx::Sqlite(tx, _) => {
            const INSERT: &str = "INSERT INTO search_docs (ticket_id, comment_id, internal, owner, text) VALUES ($1, NULL, FALSE, $2, $3)";
            sqlx::query(INSERT).bind(ticket.id).bind(owner_token(ticket.id)).bind(text).execute(&mut **tx).await?;
        }
        Tx::Postgres(tx, _) => {
            const INSERT: &str = "INSERT INTO search_docs (ticket_id, comment_id, internal, text) VALUES ($1, NULL, FALSE, $2)";
            sqlx::query(INSERT).bind(ticket.id).bind(text).execute(&mut **tx).await?;
        }
    }
    Ok(())
}

pub async fn index_comment_text(tx: &mut Tx, ticket_id: Uuid, comment_id: Uuid, internal: bool, body: &str) -> Result<()> {
    match tx {
        Tx::Sqlite(tx, _) => {
            const SQL: &str = "INSERT INTO search_docs (ticket_id, comment_id, internal, owner, text) VALUES ($1, $2, $3, $4, $5)";
            sqlx::query(SQL).bind(ticket_id).bind(comment_id).bind(internal).bind(owner_token(ticket_id)).bind(body).execute(&mut **tx).await?;
        }
        Tx::Postgres(tx, _) => {
            const SQL: &str = "INSERT INTO search_docs (ticket_id, comment_id, internal, text) VALUES ($1, $2, $3, $4)";
            sqlx::query(SQL).bind(ticket_id).bind(comment_id).bind(internal).bind(body).execute(&mut **tx).await?;
        }
    }
    Ok(())
}

/// SQLite: the token in `search_docs.owner` that names a document's ticket.
pub fn owner_token(ticket_id: Uuid) -> String {
    format!("t{}", ticket_id.simple())
}

/// SQLite: the FTS5 query for every document of a ticket.
pub fn owner_match(ticket_id: Uuid) -> String {
    format!("owner : \"{}\"", owner_token(ticket_id))
}

/// `HD-1042`.
pub fn display_number(number: i64) -> String {
    format!("HD-{number}")
}
