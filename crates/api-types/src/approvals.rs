//! Approvals: a ticket waits in `pending_approval` until its approvers decide.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::tickets::{LinkedTicket, PersonSummary};
use crate::users::Role;

/// `any`: one approval suffices; `all`: every approver must approve. One rejection rejects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ApprovalRule {
    Any,
    All,
}

impl ApprovalRule {
    pub fn as_str(self) -> &'static str {
        match self {
            ApprovalRule::Any => "any",
            ApprovalRule::All => "all",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ApprovalState {
    Pending,
    Approved,
    Rejected,
}

/// A named person, or any one person holding a role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Approver {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RequestApproval {
    pub approvers: Vec<Approver>,
    pub rule: ApprovalRule,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApprovalSlot {
    pub id: Uuid,
    #[serde(flatten)]
    pub approver: Approver,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<ApprovalState>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_by: Option<Uuid>,
    /// The named approver (`user_id`), by name and email.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<PersonSummary>,
    /// Who decided (`decided_by`), by name and email.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_by_user: Option<PersonSummary>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Approval {
    pub id: Uuid,
    pub ticket_id: Uuid,
    /// The ticket's number, subject and status, so that a list of approvals names its tickets
    /// without a request per ticket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticket: Option<LinkedTicket>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_by: Option<Uuid>,
    /// Who asked (`requested_by`), by name and email; absent for a category rule's approval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_by_user: Option<PersonSummary>,
    pub rule: ApprovalRule,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub state: ApprovalState,
    pub slots: Vec<ApprovalSlot>,
    pub created_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ApprovalDecision {
    pub approve: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
pub struct ApprovalListQuery {
    /// `pending`: the approvals waiting on you.
    pub state: Option<String>,
}

/// New tickets of this category need approval before work starts.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ApprovalRuleInput {
    pub category: String,
    pub rule: ApprovalRule,
    pub approvers: Vec<Approver>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CategoryApprovalRule {
    pub id: Uuid,
    pub category: String,
    pub rule: ApprovalRule,
    pub approvers: Vec<Approver>,
    pub created_at: DateTime<Utc>,
}
