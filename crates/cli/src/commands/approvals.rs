//! `hdms approvals …`.

use std::collections::HashMap;

use hdms_api_types::Role;
use hdms_api_types::approvals::{Approval, ApprovalDecision, ApprovalState, Approver, RequestApproval};
use hdms_api_types::tickets::Ticket;
use uuid::Uuid;

use crate::cli::ApprovalsCommand;
use crate::commands::names::{self, Names};
use crate::commands::tickets::state_name;
use crate::commands::{args_or_stdin, parse_id, tickets, users};
use crate::exit::{CliError, CliResult};
use crate::output::human::ago;
use crate::output::{Cell, Column, Layout, Output, Record, Tabular, Tone};
use hdms_api_types::credentials::Session;

pub async fn run(session: Session, output: Output, command: ApprovalsCommand) -> CliResult {
    match command {
        ApprovalsCommand::List { ticket } => {
            let approvals = match ticket {
                Some(ticket) => {
                    let id = tickets::resolve(&session, &ticket).await?;
                    session.call(|client| async move { client.ticket_approvals(id).await }).await?
                }
                None => session.call(|client| async move { client.pending_approvals().await }).await?,
            };
            show(&session, &output, &approvals, false).await
        }
        ApprovalsCommand::Approve { approvals, comment } => decide(&session, &output, approvals, true, comment).await,
        ApprovalsCommand::Reject { approvals, comment } => decide(&session, &output, approvals, false, Some(comment)).await,
        ApprovalsCommand::Request { ticket, approvers, rule, reason } => {
            let id = tickets::resolve(&session, &ticket).await?;
            let mut wanted = Vec::new();
            for approver in &approvers {
                wanted.push(match approver.strip_prefix("role:") {
                    Some(role) => {
                        let role: Role = role.parse().map_err(|err| CliError::usage(format!("--approver {approver}: {err}")))?;
                        Approver { user_id: None, role: Some(role) }
                    }
                    None => Approver { user_id: Some(users::resolve(&session, approver, false).await?), role: None },
                });
            }
            let request = RequestApproval { approvers: wanted, rule, reason };
            let approval = session.call(|client| {
                let request = request.clone();
                async move { client.request_approval(id, &request).await }
            }).await?;
            show(&session, &output, std::slice::from_ref(&approval), true).await
        }
    }
}

async fn decide(session: &Session, output: &Output, approvals: Vec<String>, approve: bool, comment: Option<String>) -> CliResult {
    let decision = ApprovalDecision { approve, comment };
    let mut decided = Vec::new();
    for approval in args_or_stdin(approvals)? {
        let id = parse_id(&approval, "approval")?;
        decided.push(session.call(|client| {
            let decision = decision.clone();
            async move { client.decide_approval(id, &decision).await }
        }).await?);
    }
    show(session, output, &decided, false).await
}

/// Approvals with their tickets' numbers and subjects and the people's names: one lookup per
/// distinct ticket and person (the approval itself carries only ids), for tables only.
async fn show(session: &Session, output: &Output, approvals: &[Approval], one: bool) -> CliResult {
    if let Some(text) = output.machine(approvals, one)? {
        print!("{text}");
        return Ok(());
    }
    let found = names::fetch_each(session, approvals.iter().map(|a| a.ticket_id), |client, id| async move { client.get_ticket(id).await }).await;
    let tickets: HashMap<Uuid, Ticket> = found.into_iter().map(|ticket| (ticket.id, ticket)).collect();
    let mut people = Names::default();
    people.learn(tickets.values().flat_map(|t| t.requester.iter().chain(&t.assignee)).map(|p| (p.id, names::display_name(&p.name, &p.email))));
    let ids = approvals.iter().flat_map(|a| a.requested_by.into_iter().chain(a.slots.iter().flat_map(|s| s.approver.user_id.into_iter().chain(s.decided_by))));
    names::fill(session, &mut people, ids.collect::<Vec<_>>()).await;
    let row = |approval| ApprovalRow { approval, ticket: tickets.get(&approval.ticket_id), names: &people };
    match approvals {
        [approval] if one => output.one_as(approval, row(approval)),
        _ => output.list_as(approvals, row),
    }
}

impl Record for Approval {
    const FIELDS: &'static [&'static str] =
        &["id", "ticket_id", "requested_by", "rule", "reason", "state", "slots", "created_at", "decided_at"];

    fn id(&self) -> String {
        self.id.to_string()
    }
}

/// An approval with its ticket and the names of its people, as a table row.
pub struct ApprovalRow<'a> {
    pub approval: &'a Approval,
    pub ticket: Option<&'a Ticket>,
    pub names: &'a Names,
}

impl Tabular for ApprovalRow<'_> {
    const COLUMNS: &'static [Column] = &[
        // A number; the id (cut) only when the ticket could not be read.
        Column::shrink("ticket", 8),
        Column::shrink("subject", 12),
        Column::whole("state"),
        Column::shrink("approvers", 12),
        Column::shrink("asked by", 8),
        Column::shrink("reason", 8),
        Column::whole("asked"),
        Column::whole("id").wide(),
    ];

    fn row(&self, layout: &Layout) -> Vec<Cell> {
        let approval = self.approval;
        let approvers: Vec<String> = approval
            .slots
            .iter()
            .map(|slot| {
                let who = match (slot.approver.user_id, slot.approver.role) {
                    (Some(user), _) => self.names.name(user),
                    (None, Some(role)) => format!("any {role}"),
                    (None, None) => "?".to_owned(),
                };
                match slot.decision {
                    Some(decision) => format!("{who} ({})", state_name(decision)),
                    None => who,
                }
            })
            .collect();
        let joiner = if approval.rule.as_str() == "all" { " and " } else { " or " };
        let state = match approval.state {
            ApprovalState::Pending => Cell::new("pending", Tone::Warn),
            ApprovalState::Approved => Cell::new("approved", Tone::Good),
            ApprovalState::Rejected => Cell::new("rejected", Tone::Bad),
        };
        vec![
            Cell::new(self.ticket.map_or_else(|| approval.ticket_id.to_string(), |t| t.number.clone()), Tone::Strong),
            self.ticket.map(|t| t.subject.clone()).unwrap_or_default().into(),
            state,
            approvers.join(joiner).into(),
            approval.requested_by.map(|id| self.names.name(id)).unwrap_or_default().into(),
            approval.reason.clone().unwrap_or_default().into(),
            Cell::new(ago(approval.created_at, layout), Tone::Muted),
            Cell::new(approval.id.to_string(), Tone::Muted),
        ]
    }
}
