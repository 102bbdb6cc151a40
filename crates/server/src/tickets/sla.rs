//! SLA policies (admin CRUD) and the clock of each ticket.
//!
//! A ticket keeps `sla_used_secs` (business seconds used before the clock last started) and
//! `sla_running_since` (when it started; NULL while paused or stopped). Due and warning
//! instants follow from those and the policy's calendar; they are stored so that queues can
//! filter on them and the background job can find what falls due.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Duration, Utc};
use hdms_api_types::ApiError;
use hdms_api_types::sla::{SlaCalendar, SlaPolicy, SlaPolicyInput};
use hdms_api_types::tickets::{Priority, SlaTarget, Status, TicketSla};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::db::Db;
use crate::error::{Error, Result};
use crate::http::extract::{AppJson, AppPath};
use crate::http::permissions::{Authorized, can};
use crate::state::AppState;
use crate::tickets::calendar::BusinessCalendar;
use crate::tickets::store::TicketRow;
use crate::with_db;

/// Targets longer than this are refused: the calendar walks day by day.
const MAX_TARGET_SECS: i64 = 366 * 24 * 3600;

#[derive(Debug, Clone, sqlx::FromRow)]
struct PolicyRow {
    id: Uuid,
    name: String,
    #[sqlx(try_from = "i32")]
    priority: Priority,
    category: Option<String>,
    team_id: Option<Uuid>,
    first_response_secs: i64,
    resolution_secs: i64,
    warning_percent: i32,
    calendar: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    deleted_at: Option<DateTime<Utc>>,
}

macro_rules! policy_columns {
    () => {
        "id, name, priority, category, team_id, first_response_secs, resolution_secs, warning_percent, \
         calendar, created_at, updated_at, deleted_at"
    };
}

/// A policy ready for clock arithmetic.
#[derive(Debug, Clone)]
pub struct Policy {
    pub id: Uuid,
    pub priority: Priority,
    pub category: Option<String>,
    pub team_id: Option<Uuid>,
    pub first_response: Duration,
    pub resolution: Duration,
    pub warning_percent: i64,
    pub calendar: BusinessCalendar,
    api: SlaPolicy,
}

impl TryFrom<PolicyRow> for Policy {
    type Error = anyhow::Error;

    fn try_from(row: PolicyRow) -> anyhow::Result<Policy> {
        let wire: SlaCalendar = serde_json::from_str(&row.calendar)?;
        let calendar = business_calendar(&wire).map_err(|e| anyhow::anyhow!("stored calendar: {e:?}"))?;
        let api = SlaPolicy {
            id: row.id,
            name: row.name,
            priority: row.priority,
            category: row.category.clone(),
            team_id: row.team_id,
            first_response_secs: row.first_response_secs,
            resolution_secs: row.resolution_secs,
            warning_percent: u8::try_from(row.warning_percent)?,
            calendar: wire,
            created_at: row.created_at,
            updated_at: row.updated_at,
            deleted_at: row.deleted_at,
        };
        Ok(Policy {
            id: row.id,
            priority: row.priority,
            category: row.category,
            team_id: row.team_id,
            first_response: Duration::seconds(row.first_response_secs),
            resolution: Duration::seconds(row.resolution_secs),
            warning_percent: i64::from(row.warning_percent),
            calendar,
            api,
        })
    }
}

/// The wire calendar as the arithmetic one; the error names the field.
fn business_calendar(wire: &SlaCalendar) -> Result<BusinessCalendar> {
    let time_zone = wire
        .time_zone
        .parse()
        .map_err(|_| Error::invalid("calendar.time_zone", format!("'{}' is not an IANA time zone", wire.time_zone)))?;
    let calendar = BusinessCalendar {
        time_zone,
        working_days: wire.working_days.clone(),
        opens: wire.opens,
        closes: wire.closes,
        holidays: wire.holidays.clone(),
    };
    calendar
        .validate()
        .map_err(|e| Error::invalid(&format!("calendar.{}", e.field()), e.message().to_owned()))?;
    Ok(calendar)
}

/// Every policy, deleted ones too (tickets keep the policy they started under); there are few,
/// so callers pick from them in memory. Kept in memory as of the policies' version (see
/// [`policies_at`]); this reads the version, a cheap query, to know which.
pub async fn all_policies(db: &Db) -> Result<Arc<[Policy]>> {
    policies_at(db, policies_version(db).await?).await
}

/// The policies' version: a counter that triggers move on every change of `sla_policies`
/// (migration 0045). Reads of tickets select it beside the rows as [`VERSION_COLUMN`].
pub async fn policies_version(db: &Db) -> Result<i64> {
    Ok(with_db!(db, pool => sqlx::query_scalar(VERSION_SQL).fetch_one(pool).await?))
}

const VERSION_SQL: &str = "SELECT value FROM counters WHERE name = 'sla_policies'";

/// The policies' version as a column of a ticket query, so the cache is checked without a round
/// trip of its own.
macro_rules! version_column {
    () => {
        "(SELECT value FROM counters WHERE name = 'sla_policies') AS sla_policies_version"
    };
}
pub(crate) use version_column;

/// Every policy as of `version` (read in some query before this call), from memory while the
/// version is the one loaded last. Loading them parsed every calendar and time zone and was a
/// query of its own on every ticket read (issue 17); policies change a few times a year. Kept
/// per database (several servers share a test process), and correct across instances on
/// PostgreSQL, as each compares the version every ticket read carries. What is loaded after
/// reading `version` is at least as new as it, never older.
pub async fn policies_at(db: &Db, version: i64) -> Result<Arc<[Policy]>> {
    let key = db.key();
    if let Some(cached) = cache().lock().expect("SLA policy cache poisoned").get(&key).filter(|c| c.version == version) {
        return Ok(cached.policies.clone());
    }
    let policies: Arc<[Policy]> = load_policies(db).await?.into();
    let cached = CachedPolicies { version, policies: policies.clone() };
    cache().lock().expect("SLA policy cache poisoned").insert(key, cached);
    Ok(policies)
}

struct CachedPolicies {
    version: i64,
    policies: Arc<[Policy]>,
}

fn cache() -> &'static Mutex<HashMap<String, CachedPolicies>> {
    static CACHE: LazyLock<Mutex<HashMap<String, CachedPolicies>>> = LazyLock::new(Default::default);
    &CACHE
}

async fn load_policies(db: &Db) -> Result<Vec<Policy>> {
    const SQL: &str = concat!("SELECT ", policy_columns!(), " FROM sla_policies ORDER BY id");
    let rows: Vec<PolicyRow> = with_db!(db, pool => sqlx::query_as(SQL).fetch_all(pool).await?);
    rows.into_iter().map(|row| Policy::try_from(row).map_err(Error::Internal)).collect()
}

/// The policy for a ticket: same priority, and the most specific match on category and team.
pub fn choose<'a>(policies: &'a [Policy], priority: Priority, category: Option<&str>, team: Option<Uuid>) -> Option<&'a Policy> {
    policies
        .iter()
        .filter(|p| p.api.deleted_at.is_none() && p.priority == priority)
        .filter(|p| p.category.as_deref().is_none_or(|c| Some(c) == category))
        .filter(|p| p.team_id.is_none_or(|t| Some(t) == team))
        .max_by_key(|p| (p.category.is_some(), p.team_id.is_some()))
}

pub fn find(policies: &[Policy], id: Option<Uuid>) -> Option<&Policy> {
    id.and_then(|id| policies.iter().find(|p| p.id == id))
}

/// Business time the ticket has used so far, in whole seconds as it is banked when the clock
/// stops. Counting the running part to the nanosecond made a pause take back the fraction it
/// banks no more of, so the remaining time shown went up by a second (found by
/// `the_clock_never_runs_backwards`); rounding the banked time up instead would pull the due
/// time in at a pause.
fn used(t: &TicketRow, policy: &Policy, now: DateTime<Utc>) -> Duration {
    let running = t.sla_running_since.map_or(0, |since| policy.calendar.business_time_between(since, now).num_seconds());
    Duration::seconds(t.sla_used_secs + running)
}

fn share(target: Duration, percent: i64) -> Duration {
    Duration::seconds(target.num_seconds() * percent / 100)
}

/// Recomputes the stored due and warning instants from the clock.
pub fn refresh_deadlines(t: &mut TicketRow, policy: Option<&Policy>) {
    t.first_response_due_at = None;
    t.first_response_warn_at = None;
    t.resolution_due_at = None;
    t.resolution_warn_at = None;
    let (Some(policy), Some(since)) = (policy, t.sla_running_since) else { return };
    let used = Duration::seconds(t.sla_used_secs);
    let at = |target: Duration| policy.calendar.add_business_time(since, (target - used).max(Duration::zero()));
    if t.first_responded_at.is_none() {
        t.first_response_due_at = Some(at(policy.first_response));
        t.first_response_warn_at = Some(at(share(policy.first_response, policy.warning_percent)));
    }
    if t.resolved_at.is_none() {
        t.resolution_due_at = Some(at(policy.resolution));
        t.resolution_warn_at = Some(at(share(policy.resolution, policy.warning_percent)));
    }
}

/// Starts or stops the clock to match the ticket's status, then refreshes deadlines. Call
/// after any change of status, policy or met targets.
pub fn align_clock(t: &mut TicketRow, policy: Option<&Policy>, now: DateTime<Utc>) {
    let should_run = policy.is_some() && !t.status.pauses_sla() && !t.status.is_done();
    match (t.sla_running_since, should_run) {
        (Some(since), false) => {
            if let Some(policy) = policy {
                t.sla_used_secs += policy.calendar.business_time_between(since, now).num_seconds();
            }
            t.sla_running_since = None;
        }
        (None, true) => t.sla_running_since = Some(now),
        _ => {}
    }
    refresh_deadlines(t, policy);
}

/// Moves a ticket to another policy (priority, category or team changed), keeping the time
/// already used.
pub fn switch_policy(t: &mut TicketRow, from: Option<&Policy>, to: Option<&Policy>, now: DateTime<Utc>) {
    if let (Some(from), Some(since)) = (from, t.sla_running_since) {
        t.sla_used_secs += from.calendar.business_time_between(since, now).num_seconds();
        t.sla_running_since = Some(now);
    }
    t.sla_policy_id = to.map(|p| p.id);
    if to.is_none() {
        t.sla_running_since = None;
    }
    align_clock(t, to, now);
}

/// The SLA as shown on a ticket.
pub fn view(t: &TicketRow, policy: Option<&Policy>, now: DateTime<Utc>) -> Option<TicketSla> {
    let policy = policy?;
    let used = used(t, policy, now);
    let target = |limit: Duration, due: Option<DateTime<Utc>>, met: Option<DateTime<Utc>>, warned: Option<DateTime<Utc>>, breached: Option<DateTime<Utc>>| {
        let remaining = limit - used;
        SlaTarget {
            due_at: if met.is_some() { None } else { due },
            remaining_secs: if met.is_some() { None } else { Some(remaining.num_seconds()) },
            met_at: met,
            warning: warned.is_some() || (met.is_none() && used >= share(limit, policy.warning_percent)),
            breached: breached.is_some() || (met.is_none() && remaining < Duration::zero()),
        }
    };
    let resolved = matches!(t.status, Status::Resolved | Status::Closed).then_some(t.resolved_at).flatten();
    Some(TicketSla {
        policy_id: policy.id,
        paused: t.sla_running_since.is_none() && !t.status.is_done(),
        first_response: target(policy.first_response, t.first_response_due_at, t.first_responded_at, t.first_response_warned_at, t.first_response_breached_at),
        resolution: target(policy.resolution, t.resolution_due_at, resolved, t.resolution_warned_at, t.resolution_breached_at),
    })
}

// --- admin CRUD --------------------------------------------------------------------------

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_policies, create_policy))
        .routes(routes!(get_policy, update_policy, delete_policy))
}

async fn validate(db: &Db, input: &SlaPolicyInput) -> Result<(String, String, i32)> {
    let name = crate::users::validate::field("name", crate::users::validate::name(&input.name))?;
    for (field, secs) in [("first_response_secs", input.first_response_secs), ("resolution_secs", input.resolution_secs)] {
        if !(60..=MAX_TARGET_SECS).contains(&secs) {
            return Err(Error::invalid(field, format!("must be between 60 and {MAX_TARGET_SECS} seconds")));
        }
    }
    if input.first_response_secs > input.resolution_secs {
        return Err(Error::invalid("first_response_secs", "must not exceed resolution_secs"));
    }
    let warning = input.warning_percent.unwrap_or(80);
    if !(1..=100).contains(&warning) {
        return Err(Error::invalid("warning_percent", "must be between 1 and 100"));
    }
    let calendar = input.calendar.clone().unwrap_or_default();
    business_calendar(&calendar)?;
    if let Some(team) = input.team_id
        && !crate::users::teams::is_live(db, team).await?
    {
        return Err(Error::invalid("team_id", "no team has this id"));
    }
    let calendar = serde_json::to_string(&calendar).map_err(anyhow::Error::from)?;
    Ok((name, calendar, i32::from(warning)))
}

async fn policy_by_id(db: &Db, id: Uuid) -> Result<Policy> {
    const SQL: &str = concat!("SELECT ", policy_columns!(), " FROM sla_policies WHERE id = $1 AND deleted_at IS NULL");
    let row: Option<PolicyRow> = with_db!(db, pool => sqlx::query_as(SQL).bind(id).fetch_optional(pool).await?);
    Policy::try_from(row.ok_or(Error::NotFound { what: "SLA policy" })?).map_err(Error::Internal)
}

/// List SLA policies.
#[utoipa::path(get, path = "/sla-policies", tag = "sla",
    security(("bearer" = ["sla.read"])),
    responses((status = 200, body = Vec<SlaPolicy>)))]
async fn list_policies(State(state): State<AppState>, _caller: Authorized<can::ReadSla>) -> Result<AppJson<Vec<SlaPolicy>>> {
    let policies = all_policies(&state.db).await?;
    Ok(AppJson(policies.iter().filter(|p| p.api.deleted_at.is_none()).map(|p| p.api.clone()).collect()))
}

/// Read one SLA policy.
#[utoipa::path(get, path = "/sla-policies/{id}", tag = "sla",
    params(("id" = Uuid, Path)),
    security(("bearer" = ["sla.read"])),
    responses((status = 200, body = SlaPolicy), (status = 404, body = ApiError)))]
async fn get_policy(State(state): State<AppState>, _caller: Authorized<can::ReadSla>, AppPath(id): AppPath<Uuid>) -> Result<AppJson<SlaPolicy>> {
    Ok(AppJson(policy_by_id(&state.db, id).await?.api))
}

/// Create an SLA policy (admins). Applies to tickets created or re-prioritised from now on.
#[utoipa::path(post, path = "/sla-policies", tag = "sla",
    request_body = SlaPolicyInput,
    security(("bearer" = ["sla.manage"])),
    responses((status = 201, body = SlaPolicy), (status = 422, body = ApiError)))]
async fn create_policy(
    State(state): State<AppState>,
    _caller: Authorized<can::ManageSla>,
    AppJson(input): AppJson<SlaPolicyInput>,
) -> Result<(StatusCode, AppJson<SlaPolicy>)> {
    let (name, calendar, warning) = validate(&state.db, &input).await?;
    let id = Uuid::now_v7();
    let now = Utc::now();
    const SQL: &str = "INSERT INTO sla_policies (id, name, priority, category, team_id, first_response_secs, \
        resolution_secs, warning_percent, calendar, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)";
    crate::with_db_writing!(&state.db, pool => sqlx::query(SQL)
        .bind(id).bind(&name).bind(input.priority.rank()).bind(&input.category).bind(input.team_id)
        .bind(input.first_response_secs).bind(input.resolution_secs).bind(warning).bind(&calendar).bind(now)
        .execute(pool).await?.rows_affected());
    Ok((StatusCode::CREATED, AppJson(policy_by_id(&state.db, id).await?.api)))
}

/// Replace an SLA policy (admins).
#[utoipa::path(put, path = "/sla-policies/{id}", tag = "sla",
    params(("id" = Uuid, Path)),
    request_body = SlaPolicyInput,
    security(("bearer" = ["sla.manage"])),
    responses((status = 200, body = SlaPolicy), (status = 404, body = ApiError), (status = 422, body = ApiError)))]
async fn update_policy(
    State(state): State<AppState>,
    _caller: Authorized<can::ManageSla>,
    AppPath(id): AppPath<Uuid>,
    AppJson(input): AppJson<SlaPolicyInput>,
) -> Result<AppJson<SlaPolicy>> {
    let (name, calendar, warning) = validate(&state.db, &input).await?;
    const SQL: &str = "UPDATE sla_policies SET name = $1, priority = $2, category = $3, team_id = $4, \
        first_response_secs = $5, resolution_secs = $6, warning_percent = $7, calendar = $8, updated_at = $9 \
        WHERE id = $10 AND deleted_at IS NULL";
    let updated = crate::with_db_writing!(&state.db, pool => sqlx::query(SQL)
        .bind(&name).bind(input.priority.rank()).bind(&input.category).bind(input.team_id)
        .bind(input.first_response_secs).bind(input.resolution_secs).bind(warning).bind(&calendar)
        .bind(Utc::now()).bind(id)
        .execute(pool).await?.rows_affected());
    if updated == 0 {
        return Err(Error::NotFound { what: "SLA policy" });
    }
    Ok(AppJson(policy_by_id(&state.db, id).await?.api))
}

/// Soft-delete an SLA policy (admins); tickets already under it keep their clock.
#[utoipa::path(delete, path = "/sla-policies/{id}", tag = "sla",
    params(("id" = Uuid, Path)),
    security(("bearer" = ["sla.manage"])),
    responses((status = 204), (status = 404, body = ApiError)))]
async fn delete_policy(State(state): State<AppState>, _caller: Authorized<can::ManageSla>, AppPath(id): AppPath<Uuid>) -> Result<StatusCode> {
    const SQL: &str = "UPDATE sla_policies SET deleted_at = $1 WHERE id = $2 AND deleted_at IS NULL";
    let updated = crate::with_db_writing!(&state.db, pool => sqlx::query(SQL).bind(Utc::now()).bind(id).execute(pool).await?.rows_affected());
    if updated == 0 {
        return Err(Error::NotFound { what: "SLA policy" });
    }
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use chrono::{NaiveDate, NaiveTime, TimeZone, Weekday};

    use super::*;

    /// Mon–Fri 09:00–17:00 Berlin, with 2026-12-25 (a Friday) as a holiday.
    fn office_policy(first_response_secs: i64, resolution_secs: i64) -> Policy {
        let calendar = SlaCalendar {
            time_zone: "Europe/Berlin".into(),
            working_days: vec![Weekday::Mon, Weekday::Tue, Weekday::Wed, Weekday::Thu, Weekday::Fri],
            opens: NaiveTime::from_hms_opt(9, 0, 0).unwrap(),
            closes: NaiveTime::from_hms_opt(17, 0, 0).unwrap(),
            holidays: vec![NaiveDate::from_ymd_opt(2026, 12, 25).unwrap()],
        };
        let now = Utc::now();
        Policy::try_from(PolicyRow {
            id: Uuid::now_v7(),
            name: "office".into(),
            priority: Priority::Normal,
            category: None,
            team_id: None,
            first_response_secs,
            resolution_secs,
            warning_percent: 75,
            calendar: serde_json::to_string(&calendar).unwrap(),
            created_at: now,
            updated_at: now,
            deleted_at: None,
        })
        .unwrap()
    }

    /// Berlin local time (CET in December: UTC+1).
    fn berlin(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        chrono_tz::Europe::Berlin.with_ymd_and_hms(y, m, d, h, min, 0).unwrap().with_timezone(&Utc)
    }

    fn ticket(created: DateTime<Utc>, policy: &Policy) -> TicketRow {
        let mut t = TicketRow::new(1, "s".into(), "d".into(), Uuid::now_v7(), Priority::Normal, created);
        t.sla_policy_id = Some(policy.id);
        align_clock(&mut t, Some(policy), created);
        t
    }

    #[test]
    fn due_times_skip_nights() {
        let policy = office_policy(2 * 3600, 16 * 3600);
        // Tuesday 16:00: one hour today, one tomorrow from 09:00.
        let t = ticket(berlin(2026, 12, 1, 16, 0), &policy);
        assert_eq!(t.first_response_due_at, Some(berlin(2026, 12, 2, 10, 0)));
        // Warning at 75% of 2 h = 90 min: 16:00 + 60 min today, + 30 min tomorrow.
        assert_eq!(t.first_response_warn_at, Some(berlin(2026, 12, 2, 9, 30)));
        // 16 business hours: 1 today, 8 Wednesday, 7 Thursday.
        assert_eq!(t.resolution_due_at, Some(berlin(2026, 12, 3, 16, 0)));
    }

    #[test]
    fn due_times_skip_weekends_and_holidays() {
        let policy = office_policy(3600, 8 * 3600);
        // Thursday 24 Dec 16:30; Friday 25th is a holiday, then the weekend.
        let t = ticket(berlin(2026, 12, 24, 16, 30), &policy);
        assert_eq!(t.first_response_due_at, Some(berlin(2026, 12, 28, 9, 30)));
        assert_eq!(t.resolution_due_at, Some(berlin(2026, 12, 28, 16, 30)));
        // Raised on Saturday: the clock starts Monday 09:00.
        let t = ticket(berlin(2026, 12, 5, 11, 0), &policy);
        assert_eq!(t.first_response_due_at, Some(berlin(2026, 12, 7, 10, 0)));
    }

    #[test]
    fn pauses_push_due_times_by_the_business_time_they_last() {
        let policy = office_policy(4 * 3600, 16 * 3600);
        let mut t = ticket(berlin(2026, 12, 1, 9, 0), &policy);
        assert_eq!(t.first_response_due_at, Some(berlin(2026, 12, 1, 13, 0)));
        // Waiting on the customer from 10:00 Tuesday to 11:00 Wednesday: one business hour
        // used before, the clock stands still, three hours remain after.
        t.status = Status::PendingCustomer;
        align_clock(&mut t, Some(&policy), berlin(2026, 12, 1, 10, 0));
        assert_eq!((t.sla_used_secs, t.sla_running_since, t.first_response_due_at), (3600, None, None));
        let paused = view(&t, Some(&policy), berlin(2026, 12, 1, 20, 0)).unwrap();
        assert!(paused.paused);
        assert_eq!(paused.first_response.remaining_secs, Some(3 * 3600), "no time passes while paused");
        t.status = Status::Open;
        align_clock(&mut t, Some(&policy), berlin(2026, 12, 2, 11, 0));
        assert_eq!(t.first_response_due_at, Some(berlin(2026, 12, 2, 14, 0)));
        // 15 hours remain: 6 on Wednesday, 8 on Thursday, 1 on Friday.
        assert_eq!(t.resolution_due_at, Some(berlin(2026, 12, 4, 10, 0)));
        // Breached once past due, in business time.
        let late = view(&t, Some(&policy), berlin(2026, 12, 2, 15, 0)).unwrap();
        assert!(late.first_response.breached && late.first_response.warning);
        assert_eq!(late.first_response.remaining_secs, Some(-3600));
        // Resolving stops the clock and meets the resolution target.
        t.status = Status::Resolved;
        t.resolved_at = Some(berlin(2026, 12, 2, 16, 0));
        align_clock(&mut t, Some(&policy), berlin(2026, 12, 2, 16, 0));
        let done = view(&t, Some(&policy), berlin(2026, 12, 10, 9, 0)).unwrap();
        assert_eq!(done.resolution.met_at, t.resolved_at);
        assert!(!done.resolution.breached && !done.paused);
    }

    #[test]
    fn the_most_specific_live_policy_wins() {
        let team = Uuid::now_v7();
        let mut general = office_policy(3600, 7200);
        let mut by_category = office_policy(3600, 7200);
        by_category.category = Some("billing".into());
        let mut by_both = office_policy(3600, 7200);
        by_both.category = Some("billing".into());
        by_both.team_id = Some(team);
        general.priority = Priority::Normal;
        let policies = vec![general.clone(), by_category.clone(), by_both.clone()];
        assert_eq!(choose(&policies, Priority::Normal, Some("billing"), Some(team)).unwrap().id, by_both.id);
        assert_eq!(choose(&policies, Priority::Normal, Some("billing"), None).unwrap().id, by_category.id);
        assert_eq!(choose(&policies, Priority::Normal, Some("other"), Some(team)).unwrap().id, general.id);
        assert!(choose(&policies, Priority::Urgent, None, None).is_none());
    }

    /// One step of a ticket's life: time passes, a move of the lifecycle table is made (the
    /// `n`th of those open from the current status, by whoever may), the policy changes, or the
    /// first response is given.
    #[derive(Debug, Clone)]
    enum Step {
        Wait(i64),
        Move(usize),
        SwitchPolicy,
        Respond,
    }

    fn steps() -> impl proptest::strategy::Strategy<Value = Vec<Step>> {
        use proptest::prelude::*;
        let step = prop_oneof![
            // Up to three days, to the millisecond: nights, weekends and sub-second remainders.
            4 => (0i64..3 * 24 * 3_600_000).prop_map(Step::Wait),
            3 => any::<usize>().prop_map(Step::Move),
            1 => Just(Step::SwitchPolicy),
            1 => Just(Step::Respond),
        ];
        proptest::collection::vec(step, 1..80)
    }

    proptest::proptest! {
        /// However a ticket moves, pauses, resumes and changes policy, the business time it has
        /// used never decreases, stands still while paused or done, never exceeds real time, and
        /// the remaining seconds shown never go up under one policy.
        #[test]
        fn the_clock_never_runs_backwards(start_ms in 1_767_225_600_000i64..1_798_761_600_000, steps in steps()) {
            use crate::tickets::lifecycle::MOVES;
            let office = office_policy(4 * 3600, 40 * 3600);
            let always = Policy { id: Uuid::now_v7(), calendar: BusinessCalendar::always(), ..office_policy(3600, 8 * 3600) };
            let created = DateTime::from_timestamp_millis(start_ms).unwrap();
            let mut now = created;
            let mut policy = &office;
            let mut t = ticket(now, policy);
            let mut last_used = used(&t, policy, now);
            let mut last_remaining = view(&t, Some(policy), now).unwrap().resolution.remaining_secs;
            for step in steps {
                let paused = t.sla_running_since.is_none();
                let mut same_policy = true;
                match step {
                    Step::Wait(ms) => now += Duration::milliseconds(ms),
                    Step::Move(n) => {
                        let open: Vec<_> = MOVES.iter().filter(|m| m.from == t.status).collect();
                        if !open.is_empty() {
                            let to = open[n % open.len()].to;
                            // As transitions::move_to does.
                            match to {
                                Status::Resolved => t.resolved_at = Some(now),
                                Status::Closed => t.closed_at = Some(now),
                                Status::Open | Status::InProgress if t.status == Status::Resolved => t.resolved_at = None,
                                _ => {}
                            }
                            t.status = to;
                            align_clock(&mut t, Some(policy), now);
                        }
                    }
                    Step::SwitchPolicy => {
                        let to = if policy.id == office.id { &always } else { &office };
                        switch_policy(&mut t, Some(policy), Some(to), now);
                        policy = to;
                        same_policy = false;
                    }
                    Step::Respond => {
                        t.first_responded_at.get_or_insert(now);
                        refresh_deadlines(&mut t, Some(policy));
                    }
                }
                let used_now = used(&t, policy, now);
                proptest::prop_assert!(used_now >= last_used, "used went from {} to {} ms at {now} ({:?})", last_used.num_milliseconds(), used_now.num_milliseconds(), t.status);
                if paused && matches!(step, Step::Wait(_)) {
                    proptest::prop_assert_eq!(used_now, last_used, "the clock ran while paused or done");
                }
                // Rounding up a paused clock to whole seconds may add at most a second per pause.
                proptest::prop_assert!(used_now <= (now - created) + Duration::seconds(80), "used {} s in {} s", used_now.num_seconds(), (now - created).num_seconds());
                let remaining = view(&t, Some(policy), now).unwrap().resolution.remaining_secs;
                if same_policy && let (Some(before), Some(after)) = (last_remaining, remaining) {
                    proptest::prop_assert!(after <= before, "remaining went up from {before} to {after} s");
                }
                last_used = used_now;
                last_remaining = remaining;
            }
        }
    }
}
