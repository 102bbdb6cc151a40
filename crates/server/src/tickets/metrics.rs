//! Team metrics for supervisors: the backlog as it stands, its SLA health, what the window's
//! throughput was, and how the load falls on each member. Counted by the database; only the
//! medians are taken in Rust, over the window's tickets (SQLite has no percentile function).

use axum::extract::State;
use chrono::{DateTime, Duration, Utc};
use hdms_api_types::ApiError;
use hdms_api_types::metrics::{AgentLoad, Backlog, TeamMetrics, TeamMetricsQuery, Throughput};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::db::Db;
use crate::error::{Error, Result};
use crate::http::extract::{AppJson, AppPath, AppQuery};
use crate::http::permissions::{Authorized, can};
use crate::state::AppState;
use crate::with_db;

const DEFAULT_DAYS: u32 = 7;
const MAX_DAYS: u32 = 365;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(team_metrics))
}

/// A team's backlog by status with its SLA health, the window's throughput (created, resolved,
/// median first response and resolution, share resolved within SLA), and each member's load.
#[utoipa::path(get, path = "/teams/{id}/metrics", tag = "teams",
    params(("id" = Uuid, Path), TeamMetricsQuery),
    security(("bearer" = ["metrics.teams"])),
    responses((status = 200, body = TeamMetrics), (status = 403, body = ApiError), (status = 404, body = ApiError), (status = 422, body = ApiError)))]
async fn team_metrics(
    State(state): State<AppState>,
    _caller: Authorized<can::ReadTeamMetrics>,
    AppPath(id): AppPath<Uuid>,
    AppQuery(query): AppQuery<TeamMetricsQuery>,
) -> Result<AppJson<TeamMetrics>> {
    let days = query.days.unwrap_or(DEFAULT_DAYS);
    if !(1..=MAX_DAYS).contains(&days) {
        return Err(Error::invalid("days", format!("must be 1 to {MAX_DAYS}")));
    }
    let db = &state.db;
    // The team is the resource here (404), not a field of a request (422, `crud::live_team`).
    if !crate::users::teams::is_live(db, id).await? {
        return Err(Error::NotFound { what: "team" });
    }
    let now = Utc::now();
    let since = now - Duration::days(i64::from(days));
    Ok(AppJson(TeamMetrics {
        team_id: id,
        generated_at: now,
        backlog: backlog(db, id, now).await?,
        window: throughput(db, id, days, since).await?,
        agents: agents(db, id, since).await?,
    }))
}

#[derive(sqlx::FromRow)]
struct StatusCount {
    status: String,
    tickets: i64,
    unassigned: i64,
    breached: i64,
    at_risk: i64,
    oldest: Option<DateTime<Utc>>,
}

/// A ticket counts as breached once any of its targets was missed, answered late or not; at
/// risk once warned and not breached.
async fn backlog(db: &Db, team: Uuid, now: DateTime<Utc>) -> Result<Backlog> {
    const SQL: &str = "SELECT status, COUNT(*) AS tickets, \
        SUM(CASE WHEN assignee_id IS NULL THEN 1 ELSE 0 END) AS unassigned, \
        SUM(CASE WHEN first_response_breached_at IS NOT NULL OR resolution_breached_at IS NOT NULL THEN 1 ELSE 0 END) AS breached, \
        SUM(CASE WHEN (first_response_warned_at IS NOT NULL OR resolution_warned_at IS NOT NULL) \
            AND first_response_breached_at IS NULL AND resolution_breached_at IS NULL THEN 1 ELSE 0 END) AS at_risk, \
        MIN(created_at) AS oldest \
        FROM tickets WHERE team_id = $1 AND deleted_at IS NULL \
        AND status NOT IN ('resolved', 'closed', 'cancelled') GROUP BY status";
    let rows: Vec<StatusCount> = with_db!(db, pool => sqlx::query_as(SQL).bind(team).fetch_all(pool).await?);
    let mut backlog = Backlog::default();
    for row in &rows {
        let slot = match row.status.as_str() {
            "new" => &mut backlog.new,
            "open" => &mut backlog.open,
            "in_progress" => &mut backlog.in_progress,
            "pending_customer" => &mut backlog.pending_customer,
            "pending_approval" => &mut backlog.pending_approval,
            other => return Err(Error::Internal(anyhow::anyhow!("ticket status {other:?} is not in the backlog's list"))),
        };
        *slot = count(row.tickets);
        backlog.total += count(row.tickets);
        backlog.unassigned += count(row.unassigned);
        backlog.breached += count(row.breached);
        backlog.at_risk += count(row.at_risk);
    }
    backlog.oldest_age_secs = rows.iter().filter_map(|r| r.oldest).min().map(|oldest| (now - oldest).num_seconds());
    Ok(backlog)
}

#[derive(sqlx::FromRow)]
struct Resolution {
    created_at: DateTime<Utc>,
    resolved_at: DateTime<Utc>,
    has_sla: bool,
    breached: bool,
}

async fn throughput(db: &Db, team: Uuid, days: u32, since: DateTime<Utc>) -> Result<Throughput> {
    const CREATED: &str = "SELECT COUNT(*) FROM tickets WHERE team_id = $1 AND deleted_at IS NULL AND created_at >= $2";
    const RESOLVED: &str = "SELECT created_at, resolved_at, sla_policy_id IS NOT NULL AS has_sla, \
        (first_response_breached_at IS NOT NULL OR resolution_breached_at IS NOT NULL) AS breached \
        FROM tickets WHERE team_id = $1 AND deleted_at IS NULL AND resolved_at >= $2";
    const ANSWERED: &str = "SELECT created_at, first_responded_at FROM tickets \
        WHERE team_id = $1 AND deleted_at IS NULL AND first_responded_at >= $2";
    let created: i64 = with_db!(db, pool => sqlx::query_scalar(CREATED).bind(team).bind(since).fetch_one(pool).await?);
    let resolved: Vec<Resolution> = with_db!(db, pool => sqlx::query_as(RESOLVED).bind(team).bind(since).fetch_all(pool).await?);
    let answered: Vec<(DateTime<Utc>, DateTime<Utc>)> =
        with_db!(db, pool => sqlx::query_as(ANSWERED).bind(team).bind(since).fetch_all(pool).await?);
    const RATED: &str = "SELECT COALESCE(SUM(CASE WHEN r.score = 'good' THEN 1 ELSE 0 END), 0), \
        COALESCE(SUM(CASE WHEN r.score = 'bad' THEN 1 ELSE 0 END), 0) \
        FROM ticket_ratings r JOIN tickets t ON t.id = r.ticket_id \
        WHERE t.team_id = $1 AND t.deleted_at IS NULL AND r.updated_at >= $2";
    let (rated_good, rated_bad): (i64, i64) =
        with_db!(db, pool => sqlx::query_as(RATED).bind(team).bind(since).fetch_one(pool).await?);

    let with_sla: Vec<&Resolution> = resolved.iter().filter(|r| r.has_sla).collect();
    let sla_met_share = (!with_sla.is_empty())
        .then(|| with_sla.iter().filter(|r| !r.breached).count() as f64 / with_sla.len() as f64);
    Ok(Throughput {
        days,
        since,
        created: count(created),
        resolved: resolved.len() as u64,
        median_first_response_secs: median(answered.iter().map(|(created, answered)| (*answered - *created).num_seconds()).collect()),
        median_resolution_secs: median(resolved.iter().map(|r| (r.resolved_at - r.created_at).num_seconds()).collect()),
        sla_met_share,
        rated_good: count(rated_good),
        rated_bad: count(rated_bad),
    })
}

/// The middle value (the lower of the two middle ones for an even count).
fn median(mut values: Vec<i64>) -> Option<i64> {
    if values.is_empty() {
        return None;
    }
    let middle = (values.len() - 1) / 2;
    Some(*values.select_nth_unstable(middle).1)
}

#[derive(sqlx::FromRow)]
struct AgentRow {
    id: Uuid,
    name: String,
    assigned: i64,
    breached: i64,
    resolved: i64,
}

/// "Resolved by" is the ticket's assignee now, which is who resolved it unless it was
/// reassigned afterwards; the history has the exact answer, at a cost a dashboard need not pay.
async fn agents(db: &Db, team: Uuid, since: DateTime<Utc>) -> Result<Vec<AgentLoad>> {
    const SQL: &str = "SELECT u.id, u.name, \
        (SELECT COUNT(*) FROM tickets t WHERE t.assignee_id = u.id AND t.deleted_at IS NULL \
            AND t.status NOT IN ('resolved', 'closed', 'cancelled')) AS assigned, \
        (SELECT COUNT(*) FROM tickets t WHERE t.assignee_id = u.id AND t.deleted_at IS NULL \
            AND t.status NOT IN ('resolved', 'closed', 'cancelled') \
            AND (t.first_response_breached_at IS NOT NULL OR t.resolution_breached_at IS NOT NULL)) AS breached, \
        (SELECT COUNT(*) FROM tickets t WHERE t.assignee_id = u.id AND t.team_id = $1 AND t.deleted_at IS NULL \
            AND t.resolved_at >= $2) AS resolved \
        FROM team_members m JOIN users u ON u.id = m.user_id \
        WHERE m.team_id = $1 AND u.deleted_at IS NULL";
    let rows: Vec<AgentRow> = with_db!(db, pool => sqlx::query_as(SQL).bind(team).bind(since).fetch_all(pool).await?);
    let mut agents: Vec<AgentLoad> = rows
        .into_iter()
        .map(|r| AgentLoad {
            user_id: r.id,
            name: r.name,
            assigned: count(r.assigned),
            breached: count(r.breached),
            resolved_in_window: count(r.resolved),
        })
        .collect();
    agents.sort_by(|a, b| b.assigned.cmp(&a.assigned).then_with(|| a.name.cmp(&b.name)));
    Ok(agents)
}

/// A SQL count as the wire's unsigned number (a count is never negative).
fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::median;

    #[test]
    fn median_of_odd_even_and_empty() {
        assert_eq!(median(vec![]), None);
        assert_eq!(median(vec![7]), Some(7));
        assert_eq!(median(vec![9, 1, 5]), Some(5));
        assert_eq!(median(vec![4, 1, 3, 2]), Some(2));
    }
}
