//! `hdms approvals …`.

use hdms_api_types::Role;
use hdms_api_types::approvals::{Approval, ApprovalDecision, ApprovalRule, Approver, RequestApproval};

use crate::cli::ApprovalsCommand;
use crate::commands::{args_or_stdin, parse_id, tickets, users};
use crate::exit::{CliError, CliResult};
use crate::output::{Output, Record, optional};
use hdms_api_types::credentials::Session;

pub async fn run(mut session: Session, output: Output, command: ApprovalsCommand) -> CliResult {
    match command {
        ApprovalsCommand::List { ticket } => {
            let approvals = match ticket {
                Some(ticket) => {
                    let id = tickets::resolve(&mut session, &ticket).await?;
                    session.call(|client| async move { client.ticket_approvals(id).await }).await?
                }
                None => session.call(|client| async move { client.pending_approvals().await }).await?,
            };
            output.list(&approvals)
        }
        ApprovalsCommand::Approve { approvals, comment } => decide(&mut session, output, approvals, true, comment).await,
        ApprovalsCommand::Reject { approvals, comment } => decide(&mut session, output, approvals, false, Some(comment)).await,
        ApprovalsCommand::Request { ticket, approvers, rule, reason } => {
            let id = tickets::resolve(&mut session, &ticket).await?;
            let mut wanted = Vec::new();
            for approver in &approvers {
                wanted.push(match approver.strip_prefix("role:") {
                    Some(role) => {
                        let role: Role = role.parse().map_err(|err| CliError::usage(format!("--approver {approver}: {err}")))?;
                        Approver { user_id: None, role: Some(role) }
                    }
                    None => Approver { user_id: Some(users::resolve(&mut session, approver, false).await?), role: None },
                });
            }
            let rule = if rule == "all" { ApprovalRule::All } else { ApprovalRule::Any };
            let request = RequestApproval { approvers: wanted, rule, reason };
            let approval = session.call(|client| {
                let request = request.clone();
                async move { client.request_approval(id, &request).await }
            }).await?;
            output.one(&approval)
        }
    }
}

async fn decide(session: &mut Session, output: Output, approvals: Vec<String>, approve: bool, comment: Option<String>) -> CliResult {
    let decision = ApprovalDecision { approve, comment };
    let mut decided = Vec::new();
    for approval in args_or_stdin(approvals)? {
        let id = parse_id(&approval, "approval")?;
        decided.push(session.call(|client| {
            let decision = decision.clone();
            async move { client.decide_approval(id, &decision).await }
        }).await?);
    }
    output.list(&decided)
}

impl Record for Approval {
    const COLUMNS: &'static [&'static str] = &["id", "ticket_id", "state", "rule", "approvers", "requested_by", "reason", "created_at"];

    fn cells(&self) -> Vec<String> {
        let approvers: Vec<String> = self
            .slots
            .iter()
            .map(|slot| {
                let who = match (&slot.approver.user_id, &slot.approver.role) {
                    (Some(user), _) => user.to_string(),
                    (None, Some(role)) => format!("role:{role}"),
                    (None, None) => "?".to_owned(),
                };
                match &slot.decision {
                    Some(decision) => format!("{who}={}", serde_json::to_value(decision).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()),
                    None => who,
                }
            })
            .collect();
        vec![
            self.id.to_string(),
            self.ticket_id.to_string(),
            serde_json::to_value(self.state).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default(),
            self.rule.as_str().to_owned(),
            approvers.join(" "),
            self.requested_by.map(|id| id.to_string()).unwrap_or_default(),
            optional(&self.reason),
            self.created_at.to_rfc3339(),
        ]
    }

    fn id(&self) -> String {
        self.id.to_string()
    }
}
