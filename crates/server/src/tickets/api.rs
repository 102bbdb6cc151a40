//! Ticket rows as the API shows them: with tags, sub-ticket counts and the SLA view, fetched
//! for a whole page at once (a query per kind, not per ticket).

use std::collections::HashMap;

use chrono::Utc;
use hdms_api_types::tickets::Ticket;
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
                // Filled in by the people/team lookup (see the TUI and CLI issues); None until then.
                requester: None,
                assignee: None,
                team: None,
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
