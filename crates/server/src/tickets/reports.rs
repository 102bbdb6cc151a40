//! Reports for supervisors and admins: time series over a window cut into local days or hours
//! (any IANA time zone, clock changes included), counted by the database (never by fetching
//! tickets): each bucket is a range scan of an index on the instant counted that holds every
//! column the count needs, so the tables themselves are never read (migrations 0021 and 0055).
//!
//! Definitions, shared by every report: tickets count for the team they are in now; deleted
//! tickets never count; "resolved" is a ticket's latest resolution (`resolved_at`: a ticket
//! resolved, reopened and resolved again counts once, at the last time); events (reopenings,
//! assignments, status changes) come from the ticket history, whose rows carry their ticket's
//! current team and deletion (kept by triggers, migration 0055), as do ratings, so that no row
//! of a window is joined to its ticket.

use std::collections::{BTreeMap, BTreeSet};

use axum::extract::State;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use chrono_tz::Tz;
use hdms_api_types::metrics::{
    AgentFigures, AgentsFigures, AgentsReport, BacklogFigures, BacklogReport, Bucket, Report, ReportBucket, ReportQuery, SatisfactionFigures,
    SatisfactionReport, SlaFigures, SlaReport, TimesFigures, TimesReport, VolumeFigures, VolumeReport,
};
use hdms_api_types::{ApiError, Role};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::db::{Bind, Db, DynamicSql};
use crate::error::{Error, Result};
use crate::http::extract::{AppJson, AppQuery};
use crate::http::permissions::{Authorized, can};
use crate::state::AppState;
use crate::tickets::api;
use crate::tickets::calendar::first_instant_at_or_after;
use crate::tickets::visibility::teams_of;
use crate::users::auth::AuthUser;
use crate::{bind_all, with_db};

const DEFAULT_DAYS: i64 = 30;
const MAX_DAYS: i64 = 366;
const MAX_HOURLY_DAYS: i64 = 31;
/// The statuses of tickets still to be done (the backlog).
const BACKLOG: [&str; 5] = ["new", "open", "in_progress", "pending_customer", "pending_approval"];
/// Later than any event: the end of the last range of the backlog's changes.
const END_OF_TIME: &str = "9999-12-31T23:59:59Z";

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(volume_report))
        .routes(routes!(backlog_report))
        .routes(routes!(times_report))
        .routes(routes!(sla_report))
        .routes(routes!(satisfaction_report))
        .routes(routes!(agents_report))
}

/// Runs a [`DynamicSql`] on whichever backend, collecting rows of the type asked for.
macro_rules! fetch {
    ($db:expr, $sql:expr) => {
        with_db!($db, pool => bind_all!(sqlx::query_as(sqlx::AssertSqlSafe($sql.sql.clone())), &$sql.binds).fetch_all(pool).await?)
    };
}

/// Tickets created, resolved and reopened per local day or hour, for one team or the whole desk.
/// Supervisors report on the teams they belong to; admins on any team and on the desk.
#[utoipa::path(get, path = "/reports/volume", tag = "reports",
    params(ReportQuery),
    security(("bearer" = ["reports.read"])),
    responses((status = 200, body = Report<VolumeFigures>), (status = 403, body = ApiError), (status = 404, body = ApiError), (status = 422, body = ApiError)))]
async fn volume_report(
    State(state): State<AppState>,
    caller: Authorized<can::ReadReports>,
    AppQuery(query): AppQuery<ReportQuery>,
) -> Result<AppJson<VolumeReport>> {
    let window = Window::new(&state, &caller, &query).await?;
    let mut sql = window.buckets();
    sql.push(" SELECT b.i, (SELECT COUNT(*) FROM tickets t WHERE t.deleted_at IS NULL AND t.created_at >= b.s AND t.created_at < b.e");
    window.team(&mut sql);
    sql.push("), (SELECT COUNT(*) FROM tickets t WHERE t.deleted_at IS NULL AND t.resolved_at >= b.s AND t.resolved_at < b.e");
    window.team(&mut sql);
    sql.push(
        "), (SELECT COUNT(*) FROM ticket_history h WHERE h.field = 'status' AND h.at >= b.s AND h.at < b.e \
          AND h.ticket_deleted_at IS NULL AND h.before = 'resolved' AND h.after = 'open'",
    );
    window.history_team(&mut sql);
    sql.push(") FROM b ORDER BY b.i");
    let rows: Vec<(i64, i64, i64, i64)> = fetch!(&state.db, sql);
    Ok(AppJson(window.report(rows.into_iter().map(|(_, created, resolved, reopened)| VolumeFigures { created, resolved, reopened }).collect())))
}

/// The backlog by status at the end of each bucket: the tickets counted now, with every status
/// change since the bucket's end undone (and tickets raised since left out) — so the history
/// after the window's start is read once, not every ticket.
#[utoipa::path(get, path = "/reports/backlog", tag = "reports",
    params(ReportQuery),
    security(("bearer" = ["reports.read"])),
    responses((status = 200, body = Report<BacklogFigures>), (status = 403, body = ApiError), (status = 404, body = ApiError), (status = 422, body = ApiError)))]
async fn backlog_report(
    State(state): State<AppState>,
    caller: Authorized<can::ReadReports>,
    AppQuery(query): AppQuery<ReportQuery>,
) -> Result<AppJson<BacklogReport>> {
    let window = Window::new(&state, &caller, &query).await?;
    let db = &state.db;
    let mut now_sql = DynamicSql::new("SELECT t.status, COUNT(*) FROM tickets t WHERE t.deleted_at IS NULL AND t.status IN (");
    now_sql.bind_list(BACKLOG.map(|s| Bind::Text(s.to_owned())));
    now_sql.push(")");
    window.team(&mut now_sql);
    now_sql.push(" GROUP BY t.status");
    let now_rows: Vec<(String, i64)> = fetch!(db, now_sql);

    // Changes are grouped by the range between two bucket ends they fall in: range k (1 to n)
    // starts at the end of bucket k-1 (0-based) and the last one runs on to now, so a change
    // in range k is undone for the ends of buckets 0 to k-1.
    let ends = &window.edges[1..];
    let end_of_time: DateTime<Utc> = END_OF_TIME.parse().map_err(anyhow::Error::from)?;
    let ranges: Vec<(DateTime<Utc>, DateTime<Utc>)> =
        ends.iter().zip(ends.iter().skip(1).chain(std::iter::once(&end_of_time))).map(|(s, e)| (*s, *e)).collect();
    let mut changes_sql = values(&ranges, 1);
    changes_sql.push(
        " SELECT b.i, h.before, h.after, COUNT(*) FROM b JOIN ticket_history h ON h.field = 'status' AND h.at >= b.s AND h.at < b.e \
          WHERE h.ticket_deleted_at IS NULL",
    );
    window.history_team(&mut changes_sql);
    between(&mut changes_sql, "h.at", ends[0], end_of_time);
    changes_sql.push(" GROUP BY b.i, h.before, h.after");
    let changes: Vec<(i64, Option<String>, Option<String>, i64)> = fetch!(db, changes_sql);
    let mut raised_sql = values(&ranges, 1);
    raised_sql.push(" SELECT b.i, COUNT(*) FROM b JOIN tickets t ON t.created_at >= b.s AND t.created_at < b.e WHERE t.deleted_at IS NULL");
    window.team(&mut raised_sql);
    between(&mut raised_sql, "t.created_at", ends[0], end_of_time);
    raised_sql.push(" GROUP BY b.i");
    let raised: Vec<(i64, i64)> = fetch!(db, raised_sql);

    // Per range, how each status's count moved during it.
    let mut moved: BTreeMap<i64, [i64; BACKLOG.len()]> = BTreeMap::new();
    let slot = |status: &str| BACKLOG.iter().position(|s| *s == status);
    for (range, before, after, count) in changes {
        let entry = moved.entry(range).or_default();
        if let Some(i) = before.as_deref().and_then(slot) {
            entry[i] -= count;
        }
        if let Some(i) = after.as_deref().and_then(slot) {
            entry[i] += count;
        }
    }
    // A ticket starts `new`: one raised in a range moved `new` up by one.
    for (range, count) in raised {
        moved.entry(range).or_default()[0] += count;
    }
    let mut counts = [0i64; BACKLOG.len()];
    for (status, count) in now_rows {
        if let Some(i) = slot(&status) {
            counts[i] = count;
        }
    }
    let mut figures = vec![BacklogFigures::default(); ends.len()];
    for bucket in (0..ends.len()).rev() {
        if let Some(delta) = moved.get(&(bucket as i64 + 1)) {
            for (count, delta) in counts.iter_mut().zip(delta) {
                *count -= delta;
            }
        }
        let [new, open, in_progress, pending_customer, pending_approval] = counts;
        figures[bucket] = BacklogFigures { total: counts.iter().sum(), new, open, in_progress, pending_customer, pending_approval };
    }
    Ok(AppJson(window.report(figures)))
}

/// Median and 90th-percentile first response and resolution times, of the tickets first
/// answered (resolved) in each bucket.
#[utoipa::path(get, path = "/reports/times", tag = "reports",
    params(ReportQuery),
    security(("bearer" = ["reports.read"])),
    responses((status = 200, body = Report<TimesFigures>), (status = 403, body = ApiError), (status = 404, body = ApiError), (status = 422, body = ApiError)))]
async fn times_report(
    State(state): State<AppState>,
    caller: Authorized<can::ReadReports>,
    AppQuery(query): AppQuery<ReportQuery>,
) -> Result<AppJson<TimesReport>> {
    let window = Window::new(&state, &caller, &query).await?;
    let first = durations(&state.db, &window, "first_responded_at").await?;
    let resolution = durations(&state.db, &window, "resolved_at").await?;
    let figures = first
        .into_iter()
        .zip(resolution)
        .map(|(first, resolution)| TimesFigures {
            first_responses: first.count,
            first_response_median_secs: first.median,
            first_response_p90_secs: first.p90,
            resolutions: resolution.count,
            resolution_median_secs: resolution.median,
            resolution_p90_secs: resolution.p90,
        })
        .collect();
    Ok(AppJson(window.report(figures)))
}

#[derive(Debug, Default, Clone, Copy)]
struct Spread {
    count: i64,
    median: Option<i64>,
    p90: Option<i64>,
}

/// Per bucket, the seconds from creation to `column` of the tickets whose `column` falls in
/// it: how many, the median and the 90th percentile (the smallest value at least half, nine
/// tenths of them do not exceed), ranked by window functions, which both backends have.
async fn durations(db: &Db, window: &Window, column: &'static str) -> Result<Vec<Spread>> {
    let seconds = match db {
        Db::Sqlite(_) => format!("CAST(ROUND((julianday(t.{column}) - julianday(t.created_at)) * 86400) AS INTEGER)"),
        Db::Postgres(_) => format!("CAST(ROUND(EXTRACT(EPOCH FROM (t.{column} - t.created_at))) AS BIGINT)"),
    };
    let mut sql = window.buckets();
    sql.push(&format!(
        ", d AS (SELECT b.i AS i, {seconds} AS secs FROM b JOIN tickets t ON t.{column} >= b.s AND t.{column} < b.e WHERE t.deleted_at IS NULL"
    ));
    window.team(&mut sql);
    window.within(&mut sql, &format!("t.{column}"));
    sql.push(
        "), r AS (SELECT i, secs, ROW_NUMBER() OVER (PARTITION BY i ORDER BY secs) AS n, COUNT(*) OVER (PARTITION BY i) AS c FROM d) \
         SELECT i, MAX(c), MIN(CASE WHEN n = (c + 1) / 2 THEN secs END), MIN(CASE WHEN n = (9 * c + 9) / 10 THEN secs END) \
         FROM r GROUP BY i",
    );
    let rows: Vec<(i64, i64, Option<i64>, Option<i64>)> = fetch!(db, sql);
    let mut spreads = vec![Spread::default(); window.edges.len() - 1];
    for (i, count, median, p90) in rows {
        if let Some(spread) = usize::try_from(i).ok().and_then(|i| spreads.get_mut(i)) {
            *spread = Spread { count, median, p90 };
        }
    }
    Ok(spreads)
}

/// Resolutions within SLA and breaches per bucket. A target counts as missed once the SLA job
/// found it breached (it runs every minute), in the bucket of that moment.
#[utoipa::path(get, path = "/reports/sla", tag = "reports",
    params(ReportQuery),
    security(("bearer" = ["reports.read"])),
    responses((status = 200, body = Report<SlaFigures>), (status = 403, body = ApiError), (status = 404, body = ApiError), (status = 422, body = ApiError)))]
async fn sla_report(
    State(state): State<AppState>,
    caller: Authorized<can::ReadReports>,
    AppQuery(query): AppQuery<ReportQuery>,
) -> Result<AppJson<SlaReport>> {
    let window = Window::new(&state, &caller, &query).await?;
    let mut sql = window.buckets();
    sql.push(
        " SELECT b.i, (SELECT COUNT(*) FROM tickets t WHERE t.deleted_at IS NULL AND t.resolved_at >= b.s AND t.resolved_at < b.e \
           AND t.sla_policy_id IS NOT NULL",
    );
    window.team(&mut sql);
    sql.push(
        "), (SELECT COUNT(*) FROM tickets t WHERE t.deleted_at IS NULL AND t.resolved_at >= b.s AND t.resolved_at < b.e \
           AND t.sla_policy_id IS NOT NULL AND t.first_response_breached_at IS NULL AND t.resolution_breached_at IS NULL",
    );
    window.team(&mut sql);
    for column in ["first_response_breached_at", "resolution_breached_at"] {
        sql.push(&format!("), (SELECT COUNT(*) FROM tickets t WHERE t.deleted_at IS NULL AND t.{column} >= b.s AND t.{column} < b.e"));
        window.team(&mut sql);
    }
    sql.push(") FROM b ORDER BY b.i");
    let rows: Vec<(i64, i64, i64, i64, i64)> = fetch!(&state.db, sql);
    let figures = rows
        .into_iter()
        .map(|(_, with_sla, within, first_response_breaches, resolution_breaches)| SlaFigures {
            resolved_with_sla: with_sla,
            resolved_within_sla: within,
            within_sla_share: share(within, with_sla),
            first_response_breaches,
            resolution_breaches,
        })
        .collect();
    Ok(AppJson(window.report(figures)))
}

/// Satisfaction ratings given (or last changed) per bucket, good and bad.
#[utoipa::path(get, path = "/reports/satisfaction", tag = "reports",
    params(ReportQuery),
    security(("bearer" = ["reports.read"])),
    responses((status = 200, body = Report<SatisfactionFigures>), (status = 403, body = ApiError), (status = 404, body = ApiError), (status = 422, body = ApiError)))]
async fn satisfaction_report(
    State(state): State<AppState>,
    caller: Authorized<can::ReadReports>,
    AppQuery(query): AppQuery<ReportQuery>,
) -> Result<AppJson<SatisfactionReport>> {
    let window = Window::new(&state, &caller, &query).await?;
    let mut sql = window.buckets();
    sql.push(
        " SELECT b.i, COUNT(CASE WHEN r.score = 'good' THEN 1 END), COUNT(CASE WHEN r.score = 'bad' THEN 1 END) \
          FROM b JOIN ticket_ratings r ON r.updated_at >= b.s AND r.updated_at < b.e WHERE r.ticket_deleted_at IS NULL",
    );
    window.team_in(&mut sql, "r.ticket_team_id");
    window.within(&mut sql, "r.updated_at");
    sql.push(" GROUP BY b.i");
    let rows: Vec<(i64, i64, i64)> = fetch!(&state.db, sql);
    let mut figures = vec![SatisfactionFigures::default(); window.edges.len() - 1];
    for (i, good, bad) in rows {
        if let Some(bucket) = usize::try_from(i).ok().and_then(|i| figures.get_mut(i)) {
            *bucket = SatisfactionFigures { good, bad, good_share: share(good, good + bad) };
        }
    }
    Ok(AppJson(window.report(figures)))
}

/// Per bucket and member of staff: tickets assigned to them, their public replies, and the
/// tickets assigned to them that were resolved.
#[utoipa::path(get, path = "/reports/agents", tag = "reports",
    params(ReportQuery),
    security(("bearer" = ["reports.read"])),
    responses((status = 200, body = Report<AgentsFigures>), (status = 403, body = ApiError), (status = 404, body = ApiError), (status = 422, body = ApiError)))]
async fn agents_report(
    State(state): State<AppState>,
    caller: Authorized<can::ReadReports>,
    AppQuery(query): AppQuery<ReportQuery>,
) -> Result<AppJson<AgentsReport>> {
    let window = Window::new(&state, &caller, &query).await?;
    let db = &state.db;
    // The assignee in the history is the id as text.
    let mut assigned_sql = window.buckets();
    assigned_sql.push(
        " SELECT b.i, h.after, COUNT(*) FROM b JOIN ticket_history h ON h.field = 'assignee' AND h.at >= b.s AND h.at < b.e \
          WHERE h.after IS NOT NULL AND h.ticket_deleted_at IS NULL",
    );
    window.history_team(&mut assigned_sql);
    window.within(&mut assigned_sql, "h.at");
    assigned_sql.push(" GROUP BY b.i, h.after");
    let assigned: Vec<(i64, String, i64)> = fetch!(db, assigned_sql);
    let mut replies_sql = window.buckets();
    replies_sql.push(
        " SELECT b.i, c.author_id, COUNT(*) FROM b JOIN comments c ON c.created_at >= b.s AND c.created_at < b.e \
          JOIN tickets t ON t.id = c.ticket_id JOIN users u ON u.id = c.author_id \
          WHERE NOT c.internal AND c.deleted_at IS NULL AND u.role <> 'customer' AND t.deleted_at IS NULL",
    );
    window.team(&mut replies_sql);
    window.within(&mut replies_sql, "c.created_at");
    replies_sql.push(" GROUP BY b.i, c.author_id");
    let replies: Vec<(i64, Uuid, i64)> = fetch!(db, replies_sql);
    let mut resolved_sql = window.buckets();
    resolved_sql.push(
        " SELECT b.i, t.assignee_id, COUNT(*) FROM b JOIN tickets t ON t.resolved_at >= b.s AND t.resolved_at < b.e \
          WHERE t.deleted_at IS NULL AND t.assignee_id IS NOT NULL",
    );
    window.team(&mut resolved_sql);
    window.within(&mut resolved_sql, "t.resolved_at");
    resolved_sql.push(" GROUP BY b.i, t.assignee_id");
    let resolved: Vec<(i64, Uuid, i64)> = fetch!(db, resolved_sql);

    // (bucket, agent) -> [assigned, replies, resolved]
    let mut counts: BTreeMap<(usize, Uuid), [i64; 3]> = BTreeMap::new();
    let assigned = assigned.into_iter().filter_map(|(i, agent, n)| Some((i, agent.parse().ok()?, n)));
    for (kind, rows) in [assigned.collect::<Vec<_>>(), replies, resolved].into_iter().enumerate() {
        for (i, agent, n) in rows {
            if let Ok(i) = usize::try_from(i) {
                counts.entry((i, agent)).or_default()[kind] += n;
            }
        }
    }
    // A team's members show in every bucket, idle or not.
    let members: Vec<Uuid> = match &window.teams {
        Some(teams) => {
            let mut sql = DynamicSql::new(
                "SELECT DISTINCT m.user_id FROM team_members m JOIN users u ON u.id = m.user_id \
                 WHERE u.deleted_at IS NULL AND u.role <> 'customer' AND m.team_id IN (",
            );
            sql.bind_list(teams.iter().map(|team| Bind::Uuid(*team)));
            sql.push(")");
            let rows: Vec<(Uuid,)> = fetch!(db, sql);
            rows.into_iter().map(|(id,)| id).collect()
        }
        None => Vec::new(),
    };
    let buckets = window.edges.len() - 1;
    for i in 0..buckets {
        for member in &members {
            counts.entry((i, *member)).or_default();
        }
    }
    let people = api::people(db, counts.keys().map(|(_, agent)| *agent).collect::<BTreeSet<Uuid>>()).await?;
    let mut figures = vec![AgentsFigures::default(); buckets];
    for ((i, agent), [assigned, replies, resolved]) in counts {
        let (Some(bucket), Some(person)) = (figures.get_mut(i), people.get(&agent)) else { continue };
        bucket.agents.push(AgentFigures { agent: person.clone(), assigned, replies, resolved });
    }
    for bucket in &mut figures {
        bucket.agents.sort_by(|a, b| a.agent.name.cmp(&b.agent.name).then(a.agent.id.cmp(&b.agent.id)));
    }
    Ok(AppJson(window.report(figures)))
}

/// `part / whole`, or nothing of nothing.
fn share(part: i64, whole: i64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

/// What a report covers: checked, with the instants that cut it.
struct Window {
    /// The team asked for.
    team: Option<Uuid>,
    /// The teams counted: the one asked for, or a supervisor's own; `None` for the whole desk.
    teams: Option<Vec<Uuid>>,
    zone: Tz,
    from: NaiveDate,
    to: NaiveDate,
    bucket: ReportBucket,
    now: DateTime<Utc>,
    /// Bucket `i` runs from `edges[i]` (included) to `edges[i + 1]` (excluded).
    edges: Vec<DateTime<Utc>>,
}

impl Window {
    async fn new(state: &AppState, caller: &AuthUser, query: &ReportQuery) -> Result<Window> {
        let teams = teams_reported_on(state, caller, query.team).await?;
        let zone: Tz = match query.tz.as_deref() {
            None => Tz::UTC,
            Some(name) => name.parse().map_err(|_| Error::invalid("tz", format!("unknown time zone {name:?} (an IANA name such as Europe/Berlin)")))?,
        };
        let now = Utc::now();
        let to = query.to.unwrap_or_else(|| now.with_timezone(&zone).date_naive());
        let from = query.from.unwrap_or(to - Duration::days(DEFAULT_DAYS - 1));
        let bucket = query.bucket.unwrap_or(ReportBucket::Day);
        let days = (to - from).num_days() + 1;
        let longest = match bucket {
            ReportBucket::Hour => MAX_HOURLY_DAYS,
            ReportBucket::Day | ReportBucket::Window => MAX_DAYS,
        };
        if days < 1 {
            return Err(Error::invalid("from", "must not be after `to`"));
        }
        if days > longest {
            return Err(Error::invalid("from", format!("a {} report covers at most {longest} days", bucket_name(bucket))));
        }
        let edges = edges(zone, from, to, bucket).ok_or_else(|| Error::invalid("from", "the dates are out of range"))?;
        Ok(Window { team: query.team, teams, zone, from, to, bucket, now, edges })
    }

    /// `WITH b(i, s, e) AS (VALUES …)`: the buckets, for a query to count in.
    fn buckets(&self) -> DynamicSql {
        let pairs: Vec<(DateTime<Utc>, DateTime<Utc>)> = self.edges.windows(2).map(|pair| (pair[0], pair[1])).collect();
        values(&pairs, 0)
    }

    /// Narrows a query on tickets `t` to the teams reported on, unless it is the whole desk.
    fn team(&self, sql: &mut DynamicSql) {
        self.team_in(sql, "t.team_id");
    }

    /// Narrows a query on ticket history `h` to the teams reported on, by the team its ticket is
    /// in now (carried on the row).
    fn history_team(&self, sql: &mut DynamicSql) {
        self.team_in(sql, "h.ticket_team_id");
    }

    /// Bounds `column` by the whole window as well as by each bucket: PostgreSQL, which cannot
    /// tell how many rows a bucket's range holds, then sees how few the window has and scans the
    /// index range of each bucket, instead of joining every row of the index to every bucket.
    fn within(&self, sql: &mut DynamicSql, column: &str) {
        if let (Some(first), Some(last)) = (self.edges.first(), self.edges.last()) {
            between(sql, column, *first, *last);
        }
    }

    fn team_in(&self, sql: &mut DynamicSql, column: &str) {
        match self.teams.as_deref() {
            None => {}
            Some([team]) => {
                sql.push(&format!(" AND {column} = ")).bind(Bind::Uuid(*team));
            }
            Some(teams) => {
                sql.push(&format!(" AND {column} IN (")).bind_list(teams.iter().map(|team| Bind::Uuid(*team))).push(")");
            }
        }
    }

    fn report<B>(&self, figures: Vec<B>) -> Report<B> {
        Report {
            team_id: self.team,
            from: self.from,
            to: self.to,
            bucket: self.bucket,
            time_zone: self.zone.name().to_owned(),
            generated_at: self.now,
            buckets: self.edges.windows(2).zip(figures).map(|(pair, figures)| Bucket { start: pair[0], end: pair[1], figures }).collect(),
        }
    }
}

/// ` AND column >= start AND column < end`.
fn between(sql: &mut DynamicSql, column: &str, start: DateTime<Utc>, end: DateTime<Utc>) {
    sql.push(&format!(" AND {column} >= ")).bind(Bind::Time(start)).push(&format!(" AND {column} < ")).bind(Bind::Time(end));
}

/// `WITH b(i, s, e) AS (VALUES (first, s, e), …)`: ranges numbered from `first`.
fn values(ranges: &[(DateTime<Utc>, DateTime<Utc>)], first: i64) -> DynamicSql {
    let mut sql = DynamicSql::new("WITH b(i, s, e) AS (VALUES ");
    for (i, (start, end)) in ranges.iter().enumerate() {
        sql.push(if i == 0 { "(" } else { ", (" });
        sql.bind(Bind::Int(first + i64::try_from(i).unwrap_or(i64::MAX)))
            .push(", ")
            .bind(Bind::Time(*start))
            .push(", ")
            .bind(Bind::Time(*end))
            .push(")");
    }
    sql.push(")");
    sql
}

fn bucket_name(bucket: ReportBucket) -> &'static str {
    match bucket {
        ReportBucket::Day => "daily",
        ReportBucket::Hour => "hourly",
        ReportBucket::Window => "whole-window",
    }
}

/// The teams a report counts: admins report on any team and on the whole desk (`None`);
/// supervisors on a team of their own (another team answers 404, as a team they cannot see;
/// the role itself may report, so no 403), or, naming none, on all their teams together.
async fn teams_reported_on(state: &AppState, caller: &AuthUser, team: Option<Uuid>) -> Result<Option<Vec<Uuid>>> {
    if caller.role() == Role::Admin {
        return Ok(team.map(|team| vec![team]));
    }
    let mine = teams_of(&state.db, caller.id()).await?;
    match team {
        None if mine.is_empty() => Err(Error::invalid("team", "you belong to no team: the whole desk is for admins")),
        None => Ok(Some(mine.into_iter().collect())),
        Some(team) if mine.contains(&team) => Ok(Some(vec![team])),
        Some(_) => Err(Error::NotFound { what: "team" }),
    }
}

/// The instants that cut the window: local midnights (or the starts of local hours) from `from`
/// to the day after `to`, each the first instant the zone's clock shows it.
fn edges(zone: Tz, from: NaiveDate, to: NaiveDate, bucket: ReportBucket) -> Option<Vec<DateTime<Utc>>> {
    let mut edges = Vec::new();
    let mut date = from;
    while date <= to {
        let midnight = first_instant_at_or_after(zone, date.and_hms_opt(0, 0, 0)?)?;
        match bucket {
            ReportBucket::Day => edges.push(midnight),
            ReportBucket::Window if date == from => edges.push(midnight),
            ReportBucket::Window => {}
            ReportBucket::Hour => {
                let next = first_instant_at_or_after(zone, date.succ_opt()?.and_hms_opt(0, 0, 0)?)?;
                let mut hour = midnight;
                while hour < next {
                    edges.push(hour);
                    hour += Duration::hours(1);
                }
            }
        }
        date = date.succ_opt()?;
    }
    edges.push(first_instant_at_or_after(zone, date.and_hms_opt(0, 0, 0)?)?);
    Some(edges)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_day_across_a_clock_change_lasts_25_hours() {
        let zone: Tz = "Europe/Berlin".parse().unwrap();
        let day = NaiveDate::from_ymd_opt(2025, 10, 26).unwrap();
        let daily = edges(zone, day, day, ReportBucket::Day).unwrap();
        assert_eq!(daily.len(), 2);
        assert_eq!(daily[1] - daily[0], Duration::hours(25));
        assert_eq!(daily[0].to_rfc3339(), "2025-10-25T22:00:00+00:00");
        assert_eq!(edges(zone, day, day, ReportBucket::Hour).unwrap().len(), 26, "25 hours, 26 edges");
    }
}
