//! Ticket rows as the API shows them: with tags, sub-ticket counts, the SLA view and the names
//! of the requester, assignee and team. Reads select all of it with the rows themselves
//! ([`view_columns!`]); rows read otherwise get it in one query for a whole page (a page of 100
//! costs the same query as a page of 1). The SLA policies come from memory (`sla::policies_at`).

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use chrono::Utc;
use hdms_api_types::tickets::{PersonSummary, TeamSummary, Ticket};
use uuid::Uuid;

use crate::db::{Bind, Db, DynamicSql};
use crate::error::Result;
use crate::tickets::sla;
use crate::tickets::store::{TicketRow, display_number};
use crate::{bind_all, with_db};

/// What a ticket's answer shows beside its row (`t`), each a subquery or a join on the row
/// (needs [`view_joins!`] after `FROM tickets t`), so the query that reads the rows reads it too.
/// Tags never hold commas (`crud::tags`).
macro_rules! extras_columns {
    () => {
        concat!(
            "(SELECT string_agg(g.tag, ',' ORDER BY g.tag) FROM ticket_tags g WHERE g.ticket_id = t.id) AS tags",
            ", (SELECT COUNT(*) FROM tickets c WHERE c.parent_id = t.id AND c.deleted_at IS NULL) AS children_total",
            ", (SELECT COUNT(*) FROM tickets c WHERE c.parent_id = t.id AND c.deleted_at IS NULL \
                AND c.status IN ('resolved', 'closed', 'cancelled')) AS children_done",
            ", r.name AS requester_name, r.email AS requester_email, a.name AS assignee_name, a.email AS assignee_email",
            ", tm.name AS team_name, ",
            $crate::tickets::sla::version_column!()
        )
    };
}

pub(crate) use extras_columns;

/// The columns of a [`TicketView`]: the ticket's own, then [`extras_columns!`].
macro_rules! view_columns {
    () => {
        concat!($crate::tickets::store::ticket_columns!("t."), ", ", $crate::tickets::api::extras_columns!())
    };
}
pub(crate) use view_columns;

/// The joins [`view_columns!`] reads the names through (deleted people and teams included: an
/// old ticket still names its requester).
macro_rules! view_joins {
    () => {
        " LEFT JOIN users r ON r.id = t.requester_id LEFT JOIN users a ON a.id = t.assignee_id LEFT JOIN teams tm ON tm.id = t.team_id"
    };
}
pub(crate) use view_joins;

/// A ticket row with what its answer shows beside it, as one query reads them.
#[derive(Debug, sqlx::FromRow)]
pub struct TicketView {
    #[sqlx(flatten)]
    pub row: TicketRow,
    #[sqlx(flatten)]
    extras: Extras,
}

/// What a ticket's answer shows beyond its row; the names are those of the row's requester,
/// assignee and team.
#[derive(Debug, Clone, sqlx::FromRow)]
struct Extras {
    tags: Option<String>,
    children_total: i64,
    children_done: i64,
    requester_name: Option<String>,
    requester_email: Option<String>,
    assignee_name: Option<String>,
    assignee_email: Option<String>,
    team_name: Option<String>,
    sla_policies_version: i64,
}

impl Extras {
    fn requester(&self, id: Uuid) -> Option<PersonSummary> {
        Some(PersonSummary { id, name: self.requester_name.clone()?, email: self.requester_email.clone()? })
    }

    fn assignee(&self, id: Option<Uuid>) -> Option<PersonSummary> {
        Some(PersonSummary { id: id?, name: self.assignee_name.clone()?, email: self.assignee_email.clone()? })
    }

    fn team(&self, id: Option<Uuid>) -> Option<TeamSummary> {
        Some(TeamSummary { id: id?, name: self.team_name.clone()? })
    }
}

/// A live ticket with its view, by id (deleted or not, as [`store::find`]).
pub async fn find_view(db: &Db, id: Uuid) -> Result<Option<TicketView>> {
    const SQL: &str = concat!("SELECT ", view_columns!(), " FROM tickets t", view_joins!(), " WHERE t.id = $1");
    Ok(with_db!(db, pool => sqlx::query_as(SQL).bind(id).fetch_optional(pool).await?))
}

/// Tickets as the API shows them, from views read with [`view_columns!`]: no query, unless the
/// SLA policies changed since this instance last loaded them.
pub async fn views(db: &Db, views: Vec<TicketView>) -> Result<Vec<Ticket>> {
    let needs_policies = views.iter().find(|v| v.row.sla_policy_id.is_some());
    let policies = match needs_policies {
        Some(view) => sla::policies_at(db, view.extras.sla_policies_version).await?,
        None => Arc::from([]),
    };
    let now = Utc::now();
    let no_names = Names::default();
    Ok(views.into_iter().map(|view| ticket_of(view.row, view.extras, &no_names, &policies, now)).collect())
}

/// Tickets as the API shows them, from rows already read (after a write, or by a search): one
/// query for what they show beside their rows, however many there are.
pub async fn tickets(db: &Db, rows: Vec<TicketRow>) -> Result<Vec<Ticket>> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let mut sql = DynamicSql::new(concat!(
        "SELECT t.id, t.requester_id, t.assignee_id, t.team_id, ",
        extras_columns!(),
        " FROM tickets t",
        view_joins!(),
        " WHERE t.id IN ("
    ));
    sql.bind_list(rows.iter().map(|t| Bind::Uuid(t.id))).push(")");
    let found: Vec<ExtrasOf> = with_db!(db, pool =>
        bind_all!(sqlx::query_as(sqlx::AssertSqlSafe(sql.sql.clone())), &sql.binds).fetch_all(pool).await?);
    let mut extras: HashMap<Uuid, ExtrasOf> = found.into_iter().map(|e| (e.id, e)).collect();
    let people = Names::of_rows(db, &rows, &extras).await?;
    let needs_policies = rows.iter().any(|t| t.sla_policy_id.is_some());
    let policies = match (needs_policies, extras.values().next()) {
        (false, _) => Arc::from([]),
        (true, Some(e)) => sla::policies_at(db, e.extras.sla_policies_version).await?,
        (true, None) => sla::all_policies(db).await?,
    };
    let now = Utc::now();
    Ok(rows
        .into_iter()
        .map(|row| {
            let extras = extras.remove(&row.id).map_or_else(Extras::missing, |e| e.extras);
            ticket_of(row, extras, &people, &policies, now)
        })
        .collect())
}

/// [`Extras`] with the ids the names were joined on.
#[derive(sqlx::FromRow)]
struct ExtrasOf {
    id: Uuid,
    requester_id: Uuid,
    assignee_id: Option<Uuid>,
    team_id: Option<Uuid>,
    #[sqlx(flatten)]
    extras: Extras,
}

impl ExtrasOf {
    /// Whether the names were joined on the people and team `row` names (a write committed
    /// between the row's read and this query may have changed them).
    fn names(&self, row: &TicketRow) -> bool {
        (self.requester_id, self.assignee_id, self.team_id) == (row.requester_id, row.assignee_id, row.team_id)
    }
}

impl Extras {
    /// For a row whose ticket the query did not find (none yet do: tickets are only ever
    /// soft-deleted).
    fn missing() -> Extras {
        Extras {
            tags: None,
            children_total: 0,
            children_done: 0,
            requester_name: None,
            requester_email: None,
            assignee_name: None,
            assignee_email: None,
            team_name: None,
            sla_policies_version: 0,
        }
    }
}

/// Names of people and teams read apart from the tickets' query: only when that query's names
/// are not those of the rows in hand (see [`ExtrasOf::names`]).
#[derive(Default)]
struct Names {
    people: HashMap<Uuid, PersonSummary>,
    teams: HashMap<Uuid, TeamSummary>,
}

impl Names {
    async fn of_rows(db: &Db, rows: &[TicketRow], extras: &HashMap<Uuid, ExtrasOf>) -> Result<Names> {
        let stale: Vec<&TicketRow> = rows.iter().filter(|t| !extras.get(&t.id).is_some_and(|e| e.names(t))).collect();
        if stale.is_empty() {
            return Ok(Names::default());
        }
        // Collected before the awaits: a future holding these iterators would not be `Send`.
        let people_ids: BTreeSet<Uuid> = stale.iter().flat_map(|t| [Some(t.requester_id), t.assignee_id]).flatten().collect();
        let team_ids: BTreeSet<Uuid> = stale.iter().filter_map(|t| t.team_id).collect();
        Ok(Names { people: people(db, people_ids).await?, teams: teams(db, team_ids).await? })
    }
}

/// The API's ticket. Names come from `names` when it has them (read apart), else from `extras`.
fn ticket_of(t: TicketRow, extras: Extras, names: &Names, policies: &[sla::Policy], now: chrono::DateTime<Utc>) -> Ticket {
    let sla = sla::view(&t, sla::find(policies, t.sla_policy_id), now);
    let requester = names.people.get(&t.requester_id).cloned().or_else(|| extras.requester(t.requester_id));
    let assignee = t.assignee_id.and_then(|id| names.people.get(&id).cloned()).or_else(|| extras.assignee(t.assignee_id));
    let team = t.team_id.and_then(|id| names.teams.get(&id).cloned()).or_else(|| extras.team(t.team_id));
    let tags = extras.tags.map(|tags| tags.split(',').map(str::to_owned).collect()).unwrap_or_default();
    Ticket {
        id: t.id,
        number: display_number(t.number),
        tags,
        children_total: extras.children_total,
        children_done: extras.children_done,
        sla,
        subject: t.subject,
        description: t.description,
        requester_id: t.requester_id,
        assignee_id: t.assignee_id,
        team_id: t.team_id,
        requester,
        assignee,
        team,
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
}

pub async fn ticket(db: &Db, row: TicketRow) -> Result<Ticket> {
    Ok(tickets(db, vec![row]).await?.pop().expect("one row in, one ticket out"))
}

pub async fn view(db: &Db, view: TicketView) -> Result<Ticket> {
    Ok(views(db, vec![view]).await?.pop().expect("one view in, one ticket out"))
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
