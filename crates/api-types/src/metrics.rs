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
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
pub struct VolumeReportQuery {
    /// One team (supervisors: a team they belong to); absent: the whole desk (admins).
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
    /// `day` (default; at most 366 days) or `hour` (at most 31 days).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bucket: Option<ReportBucket>,
    /// IANA time zone the days and hours are counted in (default `UTC`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tz: Option<String>,
}

/// Tickets created and resolved per bucket of a window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VolumeReport {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team_id: Option<Uuid>,
    pub bucket: ReportBucket,
    pub time_zone: String,
    pub generated_at: DateTime<Utc>,
    pub buckets: Vec<VolumeBucket>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VolumeBucket {
    /// The bucket's first instant (local midnight or the top of a local hour).
    pub start: DateTime<Utc>,
    /// Its end, excluded (a day across a clock change lasts 23 or 25 hours).
    pub end: DateTime<Utc>,
    /// Tickets raised in the bucket (deleted ones left out).
    pub created: i64,
    /// Tickets whose latest resolution falls in the bucket.
    pub resolved: i64,
}
