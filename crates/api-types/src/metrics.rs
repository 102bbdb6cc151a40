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
