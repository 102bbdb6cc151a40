//! SLA policies: response and resolution targets counted in business hours.

use chrono::{DateTime, NaiveDate, NaiveTime, Utc, Weekday};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::tickets::Priority;

/// When the SLA clock runs. The default is around the clock, every day, in UTC.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SlaCalendar {
    /// IANA time zone name, e.g. `Europe/Berlin`.
    pub time_zone: String,
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<String>, example = json!(["Mon", "Tue", "Wed", "Thu", "Fri"])))]
    pub working_days: Vec<Weekday>,
    /// Local opening time, e.g. `09:00:00`.
    #[cfg_attr(feature = "openapi", schema(value_type = String, example = "09:00:00"))]
    pub opens: NaiveTime,
    /// Local closing time; `00:00:00` means midnight at the end of the day.
    #[cfg_attr(feature = "openapi", schema(value_type = String, example = "17:00:00"))]
    pub closes: NaiveTime,
    #[serde(default)]
    pub holidays: Vec<NaiveDate>,
}

impl Default for SlaCalendar {
    fn default() -> Self {
        SlaCalendar {
            time_zone: "UTC".to_owned(),
            working_days: vec![Weekday::Mon, Weekday::Tue, Weekday::Wed, Weekday::Thu, Weekday::Fri, Weekday::Sat, Weekday::Sun],
            opens: NaiveTime::MIN,
            closes: NaiveTime::MIN,
            holidays: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SlaPolicy {
    pub id: Uuid,
    pub name: String,
    /// Tickets of this priority follow the policy ...
    pub priority: Priority,
    /// ... narrowed to a category and/or a team when given (the most specific policy wins).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team_id: Option<Uuid>,
    /// Business seconds until the first public reply is due.
    pub first_response_secs: i64,
    /// Business seconds until the ticket must be resolved.
    pub resolution_secs: i64,
    /// A warning is raised once this share of a target is used.
    pub warning_percent: u8,
    pub calendar: SlaCalendar,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SlaPolicyInput {
    pub name: String,
    pub priority: Priority,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team_id: Option<Uuid>,
    pub first_response_secs: i64,
    pub resolution_secs: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warning_percent: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calendar: Option<SlaCalendar>,
}
