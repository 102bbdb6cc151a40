//! Tickets, their conversation, lifecycle, approvals and SLA policies.

use reqwest::Method;
use uuid::Uuid;

use super::{Client, Result};
use crate::approvals::{Approval, ApprovalDecision, ApprovalListQuery, ApprovalRuleInput, CategoryApprovalRule, RequestApproval};
use crate::sla::{SlaPolicy, SlaPolicyInput};
use crate::tickets::{AssignRequest, Comment, CreateComment, CreateTicket, HistoryEntry, Ticket, TicketCount, TicketListQuery, Transition, TransitionRequest, UpdateTicket};
use crate::{API_PREFIX, Page};

impl Client {
    pub async fn create_ticket(&self, request: &CreateTicket) -> Result<Ticket> {
        self.with_body(Method::POST, &format!("{API_PREFIX}/tickets"), request).await
    }

    pub async fn get_ticket(&self, id: Uuid) -> Result<Ticket> {
        self.get(&format!("{API_PREFIX}/tickets/{id}")).await
    }

    /// A ticket by the number people quote: `HD-1042` or `1042`.
    pub async fn get_ticket_by_number(&self, number: &str) -> Result<Ticket> {
        let number = url::form_urlencoded::byte_serialize(number.as_bytes()).collect::<String>();
        self.get(&format!("{API_PREFIX}/tickets/by-number/{number}")).await
    }

    pub async fn list_tickets(&self, query: &TicketListQuery) -> Result<Page<Ticket>> {
        self.get_query(&format!("{API_PREFIX}/tickets"), query).await
    }

    /// How many tickets `list_tickets` would page through for `query` (its `limit`, `cursor`
    /// and `sort` are ignored).
    pub async fn count_tickets(&self, query: &TicketListQuery) -> Result<TicketCount> {
        self.get_query(&format!("{API_PREFIX}/tickets/count"), query).await
    }

    pub async fn update_ticket(&self, id: Uuid, update: &UpdateTicket) -> Result<Ticket> {
        self.with_body(Method::PATCH, &format!("{API_PREFIX}/tickets/{id}"), update).await
    }

    pub async fn delete_ticket(&self, id: Uuid) -> Result<()> {
        self.delete(&format!("{API_PREFIX}/tickets/{id}")).await
    }

    pub async fn restore_ticket(&self, id: Uuid) -> Result<Ticket> {
        self.send(self.request(Method::POST, &format!("{API_PREFIX}/tickets/{id}/restore"))?).await
    }

    pub async fn create_subticket(&self, parent: Uuid, request: &CreateTicket) -> Result<Ticket> {
        self.with_body(Method::POST, &format!("{API_PREFIX}/tickets/{parent}/subtickets"), request).await
    }

    pub async fn list_subtickets(&self, parent: Uuid) -> Result<Vec<Ticket>> {
        self.get(&format!("{API_PREFIX}/tickets/{parent}/subtickets")).await
    }

    pub async fn comment(&self, id: Uuid, request: &CreateComment) -> Result<Comment> {
        self.with_body(Method::POST, &format!("{API_PREFIX}/tickets/{id}/comments"), request).await
    }

    pub async fn list_comments(&self, id: Uuid) -> Result<Vec<Comment>> {
        self.get(&format!("{API_PREFIX}/tickets/{id}/comments")).await
    }

    pub async fn history(&self, id: Uuid) -> Result<Vec<HistoryEntry>> {
        self.get(&format!("{API_PREFIX}/tickets/{id}/history")).await
    }

    pub async fn list_transitions(&self, id: Uuid) -> Result<Vec<Transition>> {
        self.get(&format!("{API_PREFIX}/tickets/{id}/transitions")).await
    }

    pub async fn transition(&self, id: Uuid, request: &TransitionRequest) -> Result<Ticket> {
        self.with_body(Method::POST, &format!("{API_PREFIX}/tickets/{id}/transitions"), request).await
    }

    pub async fn assign(&self, id: Uuid, request: &AssignRequest) -> Result<Ticket> {
        self.with_body(Method::POST, &format!("{API_PREFIX}/tickets/{id}/assign"), request).await
    }

    /// Takes the next unassigned ticket of one's teams.
    pub async fn claim_next(&self) -> Result<Ticket> {
        self.send(self.request(Method::POST, &format!("{API_PREFIX}/tickets/claim"))?).await
    }

    pub async fn request_approval(&self, ticket: Uuid, request: &RequestApproval) -> Result<Approval> {
        self.with_body(Method::POST, &format!("{API_PREFIX}/tickets/{ticket}/approvals"), request).await
    }

    pub async fn ticket_approvals(&self, ticket: Uuid) -> Result<Vec<Approval>> {
        self.get(&format!("{API_PREFIX}/tickets/{ticket}/approvals")).await
    }

    pub async fn pending_approvals(&self) -> Result<Vec<Approval>> {
        let query = ApprovalListQuery { state: Some("pending".to_owned()) };
        self.get_query(&format!("{API_PREFIX}/approvals"), &query).await
    }

    pub async fn decide_approval(&self, id: Uuid, decision: &ApprovalDecision) -> Result<Approval> {
        self.with_body(Method::POST, &format!("{API_PREFIX}/approvals/{id}/decision"), decision).await
    }

    pub async fn create_approval_rule(&self, rule: &ApprovalRuleInput) -> Result<CategoryApprovalRule> {
        self.with_body(Method::POST, &format!("{API_PREFIX}/approval-rules"), rule).await
    }

    pub async fn create_sla_policy(&self, policy: &SlaPolicyInput) -> Result<SlaPolicy> {
        self.with_body(Method::POST, &format!("{API_PREFIX}/sla-policies"), policy).await
    }

    pub async fn list_sla_policies(&self) -> Result<Vec<SlaPolicy>> {
        self.get(&format!("{API_PREFIX}/sla-policies")).await
    }

    pub async fn get_sla_policy(&self, id: Uuid) -> Result<SlaPolicy> {
        self.get(&format!("{API_PREFIX}/sla-policies/{id}")).await
    }

    /// Replaces the policy with `policy`.
    pub async fn update_sla_policy(&self, id: Uuid, policy: &SlaPolicyInput) -> Result<SlaPolicy> {
        self.with_body(Method::PUT, &format!("{API_PREFIX}/sla-policies/{id}"), policy).await
    }

    pub async fn delete_sla_policy(&self, id: Uuid) -> Result<()> {
        self.delete(&format!("{API_PREFIX}/sla-policies/{id}")).await
    }
}
