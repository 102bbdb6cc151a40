//! Ticket rows as the API shows them: with tags, sub-ticket counts, the SLA view and the names
//! of the requester, assignee and team, fetched for a whole page at once (a query per kind, not
//! per ticket: a page of 100 costs the same five queries as a page of 1).

use std::collections::{BTreeSet, HashMap};

use chrono::Utc;
use hdms_api_types::tickets::{PersonSummary, TeamSummary, Ticket};
use uuid::Uuid;

use crate::db::{Bind, Db, DynamicSql};
use crate::error::Result;
use crate::tickets::sla;
use crate::tickets::store::{TicketRow, display_number};
use crate::{bind_all, with_db};

pub async fn tickets(db: &Db, rows: Vec<TicketRow>) -> Result<Vec<Ticket>> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<Bind> = rows.iter().map(|t| Bind::Uuid(t.id)).collect();

    let mut tags_sql = DynamicSql::new("SELECT ticket_id, tag FROM ticket_tags WHERE ticket_id IN (");
    tags_sql.bind_list(ids.clone()).push(") ORDER BY tag");
    let tag_rows: Vec<(Uuid, String)> = with_db!(db, pool =>
        bind_all!(sqlx::query_as(sqlx::AssertSqlSafe(tags_sql.sql.clone())), &tags_sql.binds).fetch_all(pool).await?);
    let mut tags: HashMap<Uuid, Vec<String>> = HashMap::new();
    for (ticket, tag) in tag_rows {
        tags.entry(ticket).or_default().push(tag);
    }

    let mut children_sql = DynamicSql::new(
        "SELECT parent_id, COUNT(*), COALESCE(SUM(CASE WHEN status IN ('resolved', 'closed', 'cancelled') THEN 1 ELSE 0 END), 0) \
         FROM tickets WHERE deleted_at IS NULL AND parent_id IN (",
    );
    children_sql.bind_list(ids).push(") GROUP BY parent_id");
    let child_rows: Vec<(Uuid, i64, i64)> = with_db!(db, pool =>
        bind_all!(sqlx::query_as(sqlx::AssertSqlSafe(children_sql.sql.clone())), &children_sql.binds).fetch_all(pool).await?);
    let children: HashMap<Uuid, (i64, i64)> = child_rows.into_iter().map(|(p, total, done)| (p, (total, done))).collect();

    // Collected before the awaits: a future holding these iterators would not be `Send`.
    let people_ids: BTreeSet<Uuid> = rows.iter().flat_map(|t| [Some(t.requester_id), t.assignee_id]).flatten().collect();
    let team_ids: BTreeSet<Uuid> = rows.iter().filter_map(|t| t.team_id).collect();
    let people = people(db, people_ids).await?;
    let teams = teams(db, team_ids).await?;

    let needs_policies = rows.iter().any(|t| t.sla_policy_id.is_some());
    let policies = if needs_policies { sla::all_policies(db).await? } else { Vec::new() };
    let now = Utc::now();
    Ok(rows
        .into_iter()
        .map(|t| {
            let (children_total, children_done) = children.get(&t.id).copied().unwrap_or_default();
            let sla = sla::view(&t, sla::find(&policies, t.sla_policy_id), now);
            Ticket {
                id: t.id,
                number: display_number(t.number),
                tags: tags.remove(&t.id).unwrap_or_default(),
                children_total,
                children_done,
                sla,
                subject: t.subject,
                description: t.description,
                requester_id: t.requester_id,
                assignee_id: t.assignee_id,
                team_id: t.team_id,
                requester: people.get(&t.requester_id).cloned(),
                assignee: t.assignee_id.and_then(|id| people.get(&id).cloned()),
                team: t.team_id.and_then(|id| teams.get(&id).cloned()),
                priority: t.priority,
                category: t.category,
                status: t.status,
                parent_id: t.parent_id,
                merged_into_id: t.merged_into_id,
                version: t.version,
                created_at: t.created_at,
                updated_at: t.updated_at,
                first_responded_at: t.first_responded_at,
                resolved_at: t.resolved_at,
                closed_at: t.closed_at,
                deleted_at: t.deleted_at,
            }
        })
        .collect())
}

pub async fn ticket(db: &Db, row: TicketRow) -> Result<Ticket> {
    Ok(tickets(db, vec![row]).await?.pop().expect("one row in, one ticket out"))
}

/// Names and emails of these users, deleted ones included (an old ticket still names its
/// requester), in one query.
pub async fn people(db: &Db, ids: BTreeSet<Uuid>) -> Result<HashMap<Uuid, PersonSummary>> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let mut sql = DynamicSql::new("SELECT id, name, email FROM users WHERE id IN (");
    sql.bind_list(ids.into_iter().map(Bind::Uuid)).push(")");
    let rows: Vec<(Uuid, String, String)> = with_db!(db, pool =>
        bind_all!(sqlx::query_as(sqlx::AssertSqlSafe(sql.sql.clone())), &sql.binds).fetch_all(pool).await?);
    Ok(rows.into_iter().map(|(id, name, email)| (id, PersonSummary { id, name, email })).collect())
}

/// Names of these teams, deleted ones included, in one query.
async fn teams(db: &Db, ids: BTreeSet<Uuid>) -> Result<HashMap<Uuid, TeamSummary>> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let mut sql = DynamicSql::new("SELECT id, name FROM teams WHERE id IN (");
    sql.bind_list(ids.into_iter().map(Bind::Uuid)).push(")");
    let rows: Vec<(Uuid, String)> = with_db!(db, pool =>
        bind_all!(sqlx::query_as(sqlx::AssertSqlSafe(sql.sql.clone())), &sql.binds).fetch_all(pool).await?);
    Ok(rows.into_iter().map(|(id, name)| (id, TeamSummary { id, name })).collect())
}
