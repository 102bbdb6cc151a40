//! `hdms approvals …`.

use hdms_api_types::Role;
use hdms_api_types::approvals::{Approval, ApprovalDecision, ApprovalSlot, ApprovalState, Approver, RequestApproval};

use crate::cli::ApprovalsCommand;
use crate::commands::tickets::state_name;
use crate::commands::{args_or_stdin, parse_id, tickets, users};
use crate::exit::{CliError, CliResult};
use crate::output::human::{ago, person};
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
            show(&output, &approvals, false)
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
            show(&output, std::slice::from_ref(&approval), true)
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
    show(output, &decided, false)
}

/// Approvals as the server sends them: each names its ticket and its people, so a table
/// needs no lookups.
fn show(output: &Output, approvals: &[Approval], one: bool) -> CliResult {
    match approvals {
        [approval] if one => output.one(approval),
        _ => output.list(approvals),
    }
}

impl Record for Approval {
    const FIELDS: &'static [&'static str] = &[
        "id",
        "ticket_id",
        "ticket",
        "requested_by",
        "requested_by_user",
        "rule",
        "reason",
        "state",
        "slots",
        "created_at",
        "decided_at",
    ];

    fn id(&self) -> String {
        self.id.to_string()
    }
}

/// Who a slot waits on: the named person, or `any supervisor`.
pub fn approver(slot: &ApprovalSlot) -> String {
    match (&slot.user, slot.approver.user_id, slot.approver.role) {
        (summary, Some(user), _) => person(summary.as_ref(), Some(user)),
        (_, None, Some(role)) => format!("any {role}"),
        (_, None, None) => "?".to_owned(),
    }
}

impl Tabular for Approval {
    const COLUMNS: &'static [Column] = &[
        // A number; the id (cut) only when the server sent no summary of the ticket.
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
        let approvers: Vec<String> = self
            .slots
            .iter()
            .map(|slot| match slot.decision {
                Some(decision) => format!("{} ({})", approver(slot), state_name(decision)),
                None => approver(slot),
            })
            .collect();
        let joiner = if self.rule.as_str() == "all" { " and " } else { " or " };
        let state = match self.state {
            ApprovalState::Pending => Cell::new("pending", Tone::Warn),
            ApprovalState::Approved => Cell::new("approved", Tone::Good),
            ApprovalState::Rejected => Cell::new("rejected", Tone::Bad),
        };
        vec![
            Cell::new(self.ticket.as_ref().map_or_else(|| self.ticket_id.to_string(), |t| t.number.clone()), Tone::Strong),
            self.ticket.as_ref().map(|t| t.subject.clone()).unwrap_or_default().into(),
            state,
            approvers.join(joiner).into(),
            person(self.requested_by_user.as_ref(), self.requested_by).into(),
            self.reason.clone().unwrap_or_default().into(),
            Cell::new(ago(self.created_at, layout), Tone::Muted),
            Cell::new(self.id.to_string(), Tone::Muted),
        ]
    }
}
