//! What a supervisor sees of a team: its backlog, SLA health and throughput, and each agent's load.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
pub struct TeamMetricsQuery {
    /// The throughput window, in days back from now (1 to 365, default 7).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub days: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TeamMetrics {
    pub team_id: Uuid,
    pub generated_at: DateTime<Utc>,
    /// The tickets that are not done, now.
    pub backlog: Backlog,
    /// What happened within the window.
    pub window: Throughput,
    /// Each member of the team, most loaded first.
    pub agents: Vec<AgentLoad>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Backlog {
    /// Tickets not resolved, closed or cancelled.
    pub total: u64,
    pub new: u64,
    pub open: u64,
    pub in_progress: u64,
    pub pending_customer: u64,
    pub pending_approval: u64,
    /// Of the total, those nobody is assigned to.
    pub unassigned: u64,
    /// Of the total, those past a first-response or resolution target.
    pub breached: u64,
    /// Of the total, those warned about and not (yet) breached.
    pub at_risk: u64,
    /// Age of the oldest ticket of the backlog, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oldest_age_secs: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Throughput {
    pub days: u32,
    pub since: DateTime<Utc>,
    pub created: u64,
    pub resolved: u64,
    /// Median wall-clock time from creation to the first staff reply, of tickets first answered
    /// within the window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub median_first_response_secs: Option<i64>,
    /// Median wall-clock time from creation to resolution, of tickets resolved within the window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub median_resolution_secs: Option<i64>,
    /// Share (0 to 1) of the tickets resolved within the window that met both SLA targets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sla_met_share: Option<f64>,
    /// Satisfaction ratings given (or last changed) within the window.
    #[serde(default)]
    pub rated_good: u64,
    #[serde(default)]
    pub rated_bad: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AgentLoad {
    pub user_id: Uuid,
    pub name: String,
    /// Backlog tickets (of any team) assigned to this agent.
    pub assigned: u64,
    /// Of those, the ones past an SLA target.
    pub breached: u64,
    /// Tickets of this team the agent resolved within the window.
    pub resolved_in_window: u64,
}

/// How a report cuts its window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum ReportBucket {
    Day,
    Hour,
    /// One bucket for the whole window (totals, and medians over all of it).
    Window,
}

impl ReportBucket {
    pub fn as_str(self) -> &'static str {
        match self {
            ReportBucket::Day => "day",
            ReportBucket::Hour => "hour",
            ReportBucket::Window => "window",
        }
    }
}

/// The window a report covers and how it is cut (every report takes these).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
pub struct ReportQuery {
    /// One team (supervisors: a team they belong to); absent: the whole desk for admins, all
    /// of their teams together for supervisors. Tickets count for the team they are in now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team: Option<Uuid>,
    /// First local date of the window, `YYYY-MM-DD` (default: 29 days before `to`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", param(value_type = Option<String>))]
    pub from: Option<chrono::NaiveDate>,
    /// Last local date of the window, included (default: today in `tz`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", param(value_type = Option<String>))]
    pub to: Option<chrono::NaiveDate>,
    /// `day` (default; at most 366 days), `hour` (at most 31 days) or `window` (one bucket for
    /// all of it, at most 366 days).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bucket: Option<ReportBucket>,
    /// IANA time zone the days and hours are counted in (default `UTC`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tz: Option<String>,
}

/// The volume report's query (every report takes the same one).
pub type VolumeReportQuery = ReportQuery;

/// A report: the window, how it was cut, and one entry per bucket, oldest first. Every count
/// leaves deleted tickets out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Report<B> {
    /// The team asked for; absent for the whole desk (admins) or all of a supervisor's teams.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team_id: Option<Uuid>,
    /// First local date of the window.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Date))]
    pub from: chrono::NaiveDate,
    /// Last local date of the window, included.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Date))]
    pub to: chrono::NaiveDate,
    /// How the window is cut: local days or local hours.
    pub bucket: ReportBucket,
    /// The IANA time zone of the buckets.
    pub time_zone: String,
    /// When the server counted (the bucket still running counts up to this moment).
    pub generated_at: DateTime<Utc>,
    /// One entry per bucket, oldest first, each with its figures beside `start` and `end`.
    pub buckets: Vec<Bucket<B>>,
}

/// One bucket of a report: its local day or hour, and the report's figures for it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Bucket<B> {
    /// The bucket's first instant (local midnight or the top of a local hour).
    pub start: DateTime<Utc>,
    /// Its end, excluded (a day across a clock change lasts 23 or 25 hours).
    pub end: DateTime<Utc>,
    #[serde(flatten)]
    pub figures: B,
}

/// `GET /reports/volume`: tickets coming in and going out.
pub type VolumeReport = Report<VolumeFigures>;
/// One bucket of the volume report.
pub type VolumeBucket = Bucket<VolumeFigures>;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VolumeFigures {
    /// Tickets raised in the bucket.
    pub created: i64,
    /// Tickets whose latest resolution falls in the bucket (a ticket resolved, reopened and
    /// resolved again counts once, at the last time).
    pub resolved: i64,
    /// Times a resolved ticket was reopened in the bucket.
    pub reopened: i64,
}

/// `GET /reports/backlog`: the tickets not yet done at the end of each bucket, by status.
pub type BacklogReport = Report<BacklogFigures>;

/// The backlog as it stood at the bucket's `end` (for the bucket still running: now). Tickets
/// raised later do not count; statuses are those the tickets had then, from their history.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BacklogFigures {
    /// Tickets in any of the five statuses below.
    pub total: i64,
    /// Raised, not looked at yet.
    pub new: i64,
    /// Triaged, waiting for work.
    pub open: i64,
    /// Someone works on them.
    pub in_progress: i64,
    /// Waiting on the customer.
    pub pending_customer: i64,
    /// Waiting for an approval.
    pub pending_approval: i64,
}

/// `GET /reports/times`: how long first responses and resolutions took.
pub type TimesReport = Report<TimesFigures>;

/// Wall-clock durations from a ticket's creation, in seconds; the median and the 90th
/// percentile are the smallest durations that half and nine tenths of the tickets did not
/// exceed. Absent when no ticket counts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TimesFigures {
    /// Tickets first answered by staff (a public reply) in the bucket.
    pub first_responses: i64,
    /// Median seconds from creation to the first staff reply, of those tickets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_response_median_secs: Option<i64>,
    /// 90th percentile of the same.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_response_p90_secs: Option<i64>,
    /// Tickets whose latest resolution falls in the bucket.
    pub resolutions: i64,
    /// Median seconds from creation to that resolution.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolution_median_secs: Option<i64>,
    /// 90th percentile of the same.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolution_p90_secs: Option<i64>,
}

/// `GET /reports/sla`: targets met and missed, as the SLA clock counts them (business hours,
/// paused while waiting on the customer or an approval).
pub type SlaReport = Report<SlaFigures>;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SlaFigures {
    /// Tickets with an SLA policy whose latest resolution falls in the bucket.
    pub resolved_with_sla: i64,
    /// Of those, the ones that missed neither target.
    pub resolved_within_sla: i64,
    /// `resolved_within_sla / resolved_with_sla` (0 to 1); absent when nothing was resolved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub within_sla_share: Option<f64>,
    /// First-response targets missed in the bucket (when the breach was found).
    pub first_response_breaches: i64,
    /// Resolution targets missed in the bucket.
    pub resolution_breaches: i64,
}

/// `GET /reports/satisfaction`: the requesters' ratings.
pub type SatisfactionReport = Report<SatisfactionFigures>;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SatisfactionFigures {
    /// Ratings given (or last changed) in the bucket that are good now.
    pub good: i64,
    /// Those that are bad now.
    pub bad: i64,
    /// `good / (good + bad)` (0 to 1); absent without ratings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub good_share: Option<f64>,
}

/// `GET /reports/agents`: what each member of staff did, bucket by bucket.
pub type AgentsReport = Report<AgentsFigures>;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AgentsFigures {
    /// Everyone with something to count in the bucket, by name (the team's members always,
    /// with zeros when idle).
    pub agents: Vec<AgentFigures>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AgentFigures {
    /// Who: id, name and email.
    pub agent: crate::tickets::PersonSummary,
    /// Times a ticket was assigned to them in the bucket.
    pub assigned: i64,
    /// Their public replies in the bucket (internal notes left out).
    pub replies: i64,
    /// Tickets assigned to them whose latest resolution falls in the bucket.
    pub resolved: i64,
}
