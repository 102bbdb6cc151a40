//! Reports for supervisors and admins: time series over a window cut into local days or hours
//! (any IANA time zone, clock changes included), counted by the database in one query per
//! report (never by fetching tickets).

use axum::extract::State;
use chrono::{Duration, NaiveDate, Utc};
use chrono_tz::Tz;
use hdms_api_types::metrics::{ReportBucket, VolumeBucket, VolumeReport, VolumeReportQuery};
use hdms_api_types::{ApiError, Role};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::db::{Bind, DynamicSql};
use crate::error::{Error, Result};
use crate::http::extract::{AppJson, AppQuery};
use crate::http::permissions::{Authorized, can};
use crate::state::AppState;
use crate::tickets::calendar::first_instant_at_or_after;
use crate::tickets::visibility::teams_of;
use crate::users::auth::AuthUser;
use crate::{bind_all, with_db};

const DEFAULT_DAYS: i64 = 30;
const MAX_DAYS: i64 = 366;
const MAX_HOURLY_DAYS: i64 = 31;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(volume_report))
}

/// Tickets created and resolved per local day or hour, for one team or the whole desk.
/// Supervisors report on the teams they belong to; admins on any team and on the desk.
#[utoipa::path(get, path = "/reports/volume", tag = "reports",
    params(VolumeReportQuery),
    security(("bearer" = ["reports.read"])),
    responses((status = 200, body = VolumeReport), (status = 403, body = ApiError), (status = 422, body = ApiError)))]
async fn volume_report(
    State(state): State<AppState>,
    caller: Authorized<can::ReadReports>,
    AppQuery(query): AppQuery<VolumeReportQuery>,
) -> Result<AppJson<VolumeReport>> {
    may_report_on(&state, &caller, query.team).await?;
    let zone: Tz = match query.tz.as_deref() {
        None => Tz::UTC,
        Some(name) => name.parse().map_err(|_| Error::invalid("tz", format!("unknown time zone {name:?} (an IANA name such as Europe/Berlin)")))?,
    };
    let now = Utc::now();
    let to = query.to.unwrap_or_else(|| now.with_timezone(&zone).date_naive());
    let from = query.from.unwrap_or(to - Duration::days(DEFAULT_DAYS - 1));
    let bucket = query.bucket.unwrap_or(ReportBucket::Day);
    let days = (to - from).num_days() + 1;
    let longest = if bucket == ReportBucket::Hour { MAX_HOURLY_DAYS } else { MAX_DAYS };
    if days < 1 {
        return Err(Error::invalid("from", "must not be after `to`"));
    }
    if days > longest {
        return Err(Error::invalid("from", format!("a {} report covers at most {longest} days", bucket_name(bucket))));
    }
    let edges = edges(zone, from, to, bucket).ok_or_else(|| Error::invalid("from", "the dates are out of range"))?;
    let buckets = count(&state, &edges, query.team).await?;
    Ok(AppJson(VolumeReport { team_id: query.team, bucket, time_zone: zone.name().to_owned(), generated_at: now, buckets }))
}

fn bucket_name(bucket: ReportBucket) -> &'static str {
    match bucket {
        ReportBucket::Day => "daily",
        ReportBucket::Hour => "hourly",
    }
}

/// Admins report on anything; supervisors on their own teams only (another team answers 404,
/// as a team they cannot see; the role itself may report, so no 403).
async fn may_report_on(state: &AppState, caller: &AuthUser, team: Option<Uuid>) -> Result<()> {
    if caller.role() == Role::Admin {
        return Ok(());
    }
    match team {
        None => Err(Error::invalid("team", "give a team you belong to: the whole desk is for admins")),
        Some(team) if teams_of(&state.db, caller.id()).await?.contains(&team) => Ok(()),
        Some(_) => Err(Error::NotFound { what: "team" }),
    }
}

/// The instants that cut the window: local midnights (or the starts of local hours) from `from`
/// to the day after `to`, each the first instant the zone's clock shows it.
fn edges(zone: Tz, from: NaiveDate, to: NaiveDate, bucket: ReportBucket) -> Option<Vec<chrono::DateTime<Utc>>> {
    let mut edges = Vec::new();
    let mut date = from;
    while date <= to {
        let midnight = first_instant_at_or_after(zone, date.and_hms_opt(0, 0, 0)?)?;
        match bucket {
            ReportBucket::Day => edges.push(midnight),
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

/// One query: the buckets as a VALUES list, each counted by an indexed range scan.
async fn count(state: &AppState, edges: &[chrono::DateTime<Utc>], team: Option<Uuid>) -> Result<Vec<VolumeBucket>> {
    let mut sql = DynamicSql::new("WITH b(i, s, e) AS (VALUES ");
    for (i, pair) in edges.windows(2).enumerate() {
        sql.push(if i == 0 { "(" } else { ", (" });
        sql.bind(Bind::Int(i64::try_from(i).unwrap_or(i64::MAX))).push(", ").bind(Bind::Time(pair[0])).push(", ").bind(Bind::Time(pair[1])).push(")");
    }
    sql.push(") SELECT b.i, (SELECT COUNT(*) FROM tickets t WHERE t.deleted_at IS NULL AND t.created_at >= b.s AND t.created_at < b.e");
    if let Some(team) = team {
        sql.push(" AND t.team_id = ").bind(Bind::Uuid(team));
    }
    sql.push("), (SELECT COUNT(*) FROM tickets t WHERE t.deleted_at IS NULL AND t.resolved_at >= b.s AND t.resolved_at < b.e");
    if let Some(team) = team {
        sql.push(" AND t.team_id = ").bind(Bind::Uuid(team));
    }
    sql.push(") FROM b ORDER BY b.i");
    let db = &state.db;
    let rows: Vec<(i64, i64, i64)> = with_db!(db, pool =>
        bind_all!(sqlx::query_as(sqlx::AssertSqlSafe(sql.sql.clone())), &sql.binds).fetch_all(pool).await?);
    Ok(rows
        .into_iter()
        .zip(edges.windows(2))
        .map(|((_, created, resolved), pair)| VolumeBucket { start: pair[0], end: pair[1], created, resolved })
        .collect())
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
