//! Automation rules (admins): when something happens to a ticket (or when time passes), and the
//! ticket meets the conditions, do the actions. The actions are the same [`TicketActions`]
//! macros and bulk updates use.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::tickets::TicketActions;

/// Who wrote a comment, as a trigger tells them apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum CommentSource {
    /// A customer, on the web or the API.
    Customer,
    /// Staff (agent, supervisor, admin).
    Agent,
    /// hdms itself: a rule's reply or note.
    System,
    /// Anyone, by mail.
    Email,
}

impl CommentSource {
    pub fn as_str(self) -> &'static str {
        match self {
            CommentSource::Customer => "customer",
            CommentSource::Agent => "agent",
            CommentSource::System => "system",
            CommentSource::Email => "email",
        }
    }
}

/// When a rule is considered. Event triggers run in the transaction of the change; `time` is
/// checked by the rules job on a schedule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "on", rename_all = "snake_case")]
pub enum RuleTrigger {
    TicketCreated,
    /// Any change of the ticket's fields; with `fields`, only when one of them changed
    /// (`status`, `priority`, `category`, `assignee`, `team`, `tags`, `subject`, ...).
    TicketUpdated {
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        fields: Vec<String>,
    },
    /// A reply or note; `internal` narrows to notes (`true`) or public replies (`false`), `by`
    /// to these authors.
    CommentAdded {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        internal: Option<bool>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        by: Vec<CommentSource>,
    },
    SlaWarning,
    SlaBreach,
    ApprovalDecided,
    /// Checked by the rules job (`HDMS_RULES_CHECK_INTERVAL`), on a bounded batch of tickets per
    /// run. Needs a condition its own actions make false.
    Time,
}

impl RuleTrigger {
    /// The trigger's name (the `on` field).
    pub fn name(&self) -> &'static str {
        match self {
            RuleTrigger::TicketCreated => "ticket_created",
            RuleTrigger::TicketUpdated { .. } => "ticket_updated",
            RuleTrigger::CommentAdded { .. } => "comment_added",
            RuleTrigger::SlaWarning => "sla_warning",
            RuleTrigger::SlaBreach => "sla_breach",
            RuleTrigger::ApprovalDecided => "approval_decided",
            RuleTrigger::Time => "time",
        }
    }
}

/// What a condition looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ConditionField {
    /// `new`, `open`, ... (`is`, `is_not`, `changed_to`, `changed_from`).
    Status,
    /// `low`, `normal`, `high`, `urgent`.
    Priority,
    /// A team id, or `none`.
    Team,
    /// A user id, or `none`.
    Assignee,
    /// A tag (`contains`/`is`: has it; `is_not`: has it not).
    Tags,
    /// A category, or `none`.
    Category,
    /// The requester's user id.
    Requester,
    /// The requester's role.
    RequesterRole,
    /// A team id the requester belongs to.
    RequesterTeam,
    /// `web` or `email`: how the ticket came in.
    Channel,
    /// Time since the ticket was created (`before`/`after` a duration such as `5d`, `2h`, `30m`).
    Age,
    /// Time in the current status.
    InStatus,
    /// Time since the assignee last changed (or since creation).
    SinceAssignment,
    /// Time since the ticket last changed.
    SinceUpdate,
    /// Time since the customer's last reply (or since creation).
    SinceCustomerReply,
    /// `true` when it is now within the business hours of the ticket's SLA calendar.
    BusinessHours,
}

/// How a condition compares. `before`/`after` on a time field: less/more than the duration ago.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ConditionOp {
    Is,
    IsNot,
    Contains,
    /// The triggering change set the field to the value.
    ChangedTo,
    /// The triggering change moved the field away from the value.
    ChangedFrom,
    Before,
    After,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Condition {
    pub field: ConditionField,
    pub op: ConditionOp,
    /// Compared as text: a status, priority, id, tag, `none`, a duration (`5d`, `2h`, `30m`),
    /// `true`/`false`.
    pub value: String,
}

/// Every condition of `all`, and at least one of `any` (when `any` is not empty).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RuleConditions {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub all: Vec<Condition>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub any: Vec<Condition>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Rule {
    pub id: Uuid,
    pub name: String,
    /// Rules run in this order.
    pub position: i64,
    pub enabled: bool,
    pub trigger: RuleTrigger,
    pub conditions: RuleConditions,
    pub actions: TicketActions,
    /// Why hdms turned the rule off (its actions failed), if it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled_reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_fired_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<DateTime<Utc>>,
}

fn enabled_by_default() -> bool {
    true
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RuleInput {
    pub name: String,
    /// Where it runs among the others; the end when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position: Option<i64>,
    #[serde(default = "enabled_by_default")]
    pub enabled: bool,
    pub trigger: RuleTrigger,
    #[serde(default)]
    pub conditions: RuleConditions,
    pub actions: TicketActions,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RuleUpdate {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger: Option<RuleTrigger>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conditions: Option<RuleConditions>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actions: Option<TicketActions>,
}

/// A dry run: one ticket, or (without) the tickets the rule would act on now.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RuleTestRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticket_id: Option<Uuid>,
}

/// One change a rule would make (as the ticket's history would record it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RuleTestChange {
    pub field: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RuleTestTicket {
    pub ticket_id: Uuid,
    /// `HD-1042`.
    pub number: String,
    pub subject: String,
    /// What the rule would change.
    pub changes: Vec<RuleTestChange>,
    /// Why its actions would fail on this ticket, if they would.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RuleTestResult {
    /// Tickets looked at.
    pub checked: u32,
    /// Those that meet the conditions now, with what the rule would do to each.
    pub matched: Vec<RuleTestTicket>,
}
