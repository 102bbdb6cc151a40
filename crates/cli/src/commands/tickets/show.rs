//! `hdms tickets show TICKET`: one ticket with everything around it, as a page for people or
//! one JSON object for programs.

use hdms_api_types::approvals::{Approval, ApprovalState};
use hdms_api_types::client::{Client, ClientError};
use hdms_api_types::files::{Attachment, ScanState};
use hdms_api_types::tickets::{Comment, Ticket, TicketLink, TicketRating, Watcher};
use serde::Serialize;
use uuid::Uuid;

use super::views::{comment_kind, score};
use crate::commands::approvals::approver;
use crate::commands::names::Names;
use crate::exit::CliResult;
use crate::output::human::{moment, moment_ago, next_target, person, priority, span, status, time_left};
use crate::output::table::{fields, paint};
use crate::output::{Cell, Column, Format, Layout, Output, Tone, render_table};
use hdms_api_types::credentials::Session;

/// A ticket and what people want to see with it. The JSON keeps the shape scripts know
/// (`ticket`, `comments`, `rating`) and adds the rest beside them.
#[derive(Debug, Clone, Serialize)]
pub struct TicketDetail {
    pub ticket: Ticket,
    pub comments: Vec<Comment>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rating: Option<TicketRating>,
    pub attachments: Vec<Attachment>,
    pub subtickets: Vec<Ticket>,
    pub links: Vec<TicketLink>,
    pub approvals: Vec<Approval>,
    pub watchers: Vec<Watcher>,
    /// What to call the ids the page mentions that the records do not name: the parent ticket
    /// and the one this was merged into, by number (people come named by the server).
    #[serde(skip)]
    pub names: Names,
}

pub async fn show(session: &Session, output: &Output, id: Uuid) -> CliResult {
    if !output.for_people() && (output.format == Format::Csv || output.fields.is_some() || output.ids) {
        // CSV, `--fields` and `--ids` speak of the ticket alone.
        let ticket = session.call(|client| async move { client.get_ticket(id).await }).await?;
        return output.one(&ticket);
    }
    let mut detail = session.call(|client| async move { fetch(client, id).await }).await?;
    if output.format == Format::Json {
        println!("{}", crate::output::to_json(&detail)?);
        return Ok(());
    }
    if let (None, Some(team)) = (&detail.ticket.team, detail.ticket.team_id)
        && let Ok(found) = session.call(|client| async move { client.get_team(team).await }).await
    {
        detail.names.learn([(team, found.name)]);
    }
    // The parent and the ticket this one was merged into, by number.
    for related in [detail.ticket.parent_id, detail.ticket.merged_into_id].into_iter().flatten() {
        if let Ok(other) = session.call(|client| async move { client.get_ticket(related).await }).await {
            detail.names.learn([(related, format!("{} {}", other.number, other.subject))]);
        }
    }
    print!("{}", render(&detail, &output.layout));
    Ok(())
}

/// Everything at once; the parts a caller may not see (or that do not exist) come back empty.
async fn fetch(client: Client, id: Uuid) -> Result<TicketDetail, ClientError> {
    let (ticket, comments, attachments, subtickets, links, approvals, watchers, rating) = futures::try_join!(
        client.get_ticket(id),
        client.list_comments(id),
        or_empty(client.list_attachments(id)),
        or_empty(client.list_subtickets(id)),
        or_empty(client.list_links(id)),
        or_empty(client.ticket_approvals(id)),
        or_empty(client.list_watchers(id)),
        async { Ok(client.ticket_rating(id).await.ok()) },
    )?;
    Ok(TicketDetail { ticket, comments, rating, attachments, subtickets, links, approvals, watchers, names: Names::default() })
}

/// A list this caller may not read (403) is shown as empty rather than failing the page.
async fn or_empty<T>(list: impl Future<Output = Result<Vec<T>, ClientError>>) -> Result<Vec<T>, ClientError> {
    match list.await {
        Err(err) if matches!(err.status().map(|s| s.as_u16()), Some(403 | 404)) => Ok(Vec::new()),
        other => other,
    }
}

/// The page: header, description, attachments, sub-tickets and links, conversation.
pub fn render(detail: &TicketDetail, layout: &Layout) -> String {
    let ticket = &detail.ticket;
    let colour = layout.colour;
    let mut out = format!("{}  {}\n", paint(&ticket.number, Tone::Strong, colour), paint(&ticket.subject, Tone::Strong, colour));
    let status = status(ticket.status);
    let priority = priority(ticket.priority);
    out.push_str(&format!(
        "{} · {} priority · opened {} · updated {}\n\n",
        paint(&status.text, status.tone, colour),
        paint(&priority.text, priority.tone, colour),
        moment_ago(ticket.created_at, layout),
        crate::output::human::ago(ticket.updated_at, layout),
    ));

    // People by the summaries the ticket carries, else by the names looked up for the page.
    let requester = match &ticket.requester {
        Some(p) if !p.name.trim().is_empty() => format!("{} <{}>", p.name, p.email),
        Some(p) => p.email.clone(),
        None => detail.names.name(ticket.requester_id),
    };
    let unassigned = Cell::new("nobody", Tone::Muted);
    let assignee = match (&ticket.assignee, ticket.assignee_id) {
        (Some(p), _) => person(Some(p), None).into(),
        (None, Some(id)) => detail.names.name(id).into(),
        (None, None) => unassigned.clone(),
    };
    let header: Vec<(&str, Cell)> = vec![
        ("Requester", requester.into()),
        ("Assignee", assignee),
        ("Team", match (&ticket.team, ticket.team_id) {
            (Some(team), _) => team.name.clone().into(),
            (None, Some(id)) => detail.names.name(id).into(),
            (None, None) => unassigned,
        }),
        ("Category", ticket.category.clone().unwrap_or_default().into()),
        ("Tags", ticket.tags.join(", ").into()),
        ("SLA", sla_lines(detail, layout)),
        ("Approvals", approval_lines(detail)),
        ("Watchers", detail.watchers.iter().map(|w| w.name.as_str()).collect::<Vec<_>>().join(", ").into()),
        ("Rating", rating_line(detail)),
        ("Merged into", ticket.merged_into_id.map(|id| detail.names.name(id)).unwrap_or_default().into()),
        ("Parent", ticket.parent_id.map(|id| detail.names.name(id)).unwrap_or_default().into()),
    ];
    out.push_str(&fields(header.iter().map(|(label, cell)| (*label, cell)), layout));

    out.push_str(&section("Description", layout));
    if ticket.description.trim().is_empty() {
        out.push_str(&paint("No description.", Tone::Muted, colour));
    } else {
        out.push_str(ticket.description.trim_end());
    }
    out.push('\n');

    if !detail.attachments.is_empty() {
        out.push_str(&section(&format!("Attachments ({})", detail.attachments.len()), layout));
        let rows: Vec<Vec<Cell>> = detail.attachments.iter().map(|a| attachment_row(a, layout)).collect();
        out.push_str(&render_table(ATTACHMENT_COLUMNS, &rows, layout));
        out.push('\n');
    }
    if !detail.subtickets.is_empty() {
        let title = format!("Sub-tickets ({} of {} done)", ticket.children_done, ticket.children_total);
        out.push_str(&section(&title, layout));
        let rows: Vec<Vec<Cell>> = detail
            .subtickets
            .iter()
            .map(|sub| vec![Cell::new(&sub.number, Tone::Strong), status_cell(sub), sub.subject.as_str().into(), person(sub.assignee.as_ref(), sub.assignee_id).into()])
            .collect();
        out.push_str(&render_table(&[Column::whole("number"), Column::whole("status"), Column::shrink("subject", 16), Column::shrink("assignee", 8)], &rows, layout));
        out.push('\n');
    }
    if !detail.links.is_empty() {
        out.push_str(&section("Links", layout));
        let rows: Vec<Vec<Cell>> = detail.links.iter().map(|link| link_row(link, ticket.id)).collect();
        out.push_str(&render_table(&[Column::whole("link"), Column::whole("number"), Column::whole("status"), Column::shrink("subject", 16)], &rows, layout));
        out.push('\n');
    }

    out.push_str(&section(&format!("Conversation ({})", detail.comments.len()), layout));
    if detail.comments.is_empty() {
        out.push_str(&paint("No replies yet.", Tone::Muted, colour));
        out.push('\n');
    }
    for (i, comment) in detail.comments.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let kind = comment_kind(comment.internal);
        let author = person(comment.author.as_ref(), Some(comment.author_id));
        let mut heading = format!("#{} {}", comment.seq, paint(&author, Tone::Strong, colour));
        if comment.internal {
            heading.push_str(&format!(" · {}", paint(&kind.text, kind.tone, colour)));
        }
        heading.push_str(&paint(&format!(" · {}", moment_ago(comment.created_at, layout)), Tone::Muted, colour));
        out.push_str(&heading);
        out.push('\n');
        out.push_str(comment.body.trim_end());
        out.push('\n');
    }
    out
}

fn section(title: &str, layout: &Layout) -> String {
    format!("\n{}\n", paint(title, Tone::Strong, layout.colour))
}

fn status_cell(ticket: &Ticket) -> Cell {
    status(ticket.status)
}

/// Each target on its line: `first response  met 2026-12-01 10:42`, `resolution  due … (2h 10m left)`.
fn sla_lines(detail: &TicketDetail, layout: &Layout) -> Cell {
    let Some(sla) = &detail.ticket.sla else { return Cell::default() };
    let next = next_target(sla);
    let mut tone = Tone::Plain;
    let mut lines = Vec::new();
    for (name, target) in [("first response", &sla.first_response), ("resolution", &sla.resolution)] {
        let line = match (target.met_at, target.due_at) {
            (Some(met), _) => format!("{name} met {}", moment(met, layout)),
            (None, Some(due)) => {
                let left = time_left(target, layout);
                if next.is_some_and(|n| std::ptr::eq(n, target)) {
                    tone = left.tone;
                }
                if left.text.starts_with("overdue") {
                    format!("{name} due {} ({})", moment(due, layout), left.text)
                } else {
                    format!("{name} due {} ({} left)", moment(due, layout), left.text)
                }
            }
            (None, None) => match target.remaining_secs {
                Some(secs) => format!("{name} {} left when the clock runs again", span(secs)),
                None => format!("{name} not set"),
            },
        };
        lines.push(line);
    }
    if sla.paused {
        lines.push("paused: waiting on the customer or an approval".to_owned());
        tone = Tone::Muted;
    }
    Cell::new(lines.join("\n"), tone)
}

/// Each request on a line (`pending, all of:`), then each approver and their decision, then
/// the reason.
fn approval_lines(detail: &TicketDetail) -> Cell {
    let mut lines = Vec::new();
    for approval in &detail.approvals {
        let rule = if approval.rule.as_str() == "all" { "every one of" } else { "any one of" };
        lines.push(format!("{}, {rule}:", state_name(approval.state)));
        for slot in &approval.slots {
            let who = approver(slot);
            let decided = match (slot.decision, slot.decided_by) {
                (Some(decision), Some(by)) if slot.approver.user_id.is_none() => {
                    format!("{} by {}", state_name(decision), person(slot.decided_by_user.as_ref(), Some(by)))
                }
                (Some(decision), _) => state_name(decision).to_owned(),
                (None, _) => "waiting".to_owned(),
            };
            let comment = slot.comment.as_deref().map(|c| format!(": {c}")).unwrap_or_default();
            lines.push(format!("  {who}: {decided}{comment}"));
        }
        if let Some(reason) = &approval.reason {
            lines.push(format!("  reason: {reason}"));
        }
    }
    let tone = match detail.approvals.last().map(|a| a.state) {
        Some(ApprovalState::Pending) => Tone::Warn,
        Some(ApprovalState::Rejected) => Tone::Bad,
        _ => Tone::Plain,
    };
    Cell::new(lines.join("\n"), tone)
}

pub fn state_name(state: ApprovalState) -> &'static str {
    match state {
        ApprovalState::Pending => "pending",
        ApprovalState::Approved => "approved",
        ApprovalState::Rejected => "rejected",
    }
}

fn rating_line(detail: &TicketDetail) -> Cell {
    let Some(rating) = &detail.rating else { return Cell::default() };
    let mut cell = score(rating);
    if let Some(comment) = &rating.comment {
        cell.text = format!("{}: {comment}", cell.text);
    }
    cell
}

const ATTACHMENT_COLUMNS: &[Column] = &[
    Column::shrink("file", 12),
    Column::number("size"),
    Column::whole("scan"),
    Column::shrink("type", 8),
    Column::shrink("by", 8),
    Column::whole("added"),
    Column::whole("id").wide(),
];

fn attachment_row(attachment: &Attachment, layout: &Layout) -> Vec<Cell> {
    let scan = match attachment.scan_state {
        ScanState::Clean => Cell::new("clean", Tone::Good),
        ScanState::Infected => Cell::new(
            match &attachment.scan_signature {
                Some(signature) => format!("infected ({signature})"),
                None => "infected".to_owned(),
            },
            Tone::Bad,
        ),
        ScanState::Pending => Cell::new("pending", Tone::Muted),
        ScanState::ScanFailed => Cell::new("scan failed (retrying)", Tone::Warn),
        ScanState::Unscanned => Cell::new("unscanned", Tone::Warn),
    };
    vec![
        attachment.file_name.as_str().into(),
        indicatif::HumanBytes(attachment.size).to_string().into(),
        scan,
        attachment.content_type.as_str().into(),
        person(attachment.uploaded_by_user.as_ref(), Some(attachment.uploaded_by)).into(),
        Cell::new(crate::output::human::ago(attachment.created_at, layout), Tone::Muted),
        attachment.id.to_string().into(),
    ]
}

fn link_row(link: &TicketLink, this: Uuid) -> Vec<Cell> {
    // `from` is `kind` of `to`: read it from this ticket's side.
    let outgoing = link.from_ticket_id == this;
    let relation = match (link.kind.as_str(), outgoing) {
        ("related", _) => "related to",
        ("duplicate_of", true) => "duplicate of",
        ("duplicate_of", false) => "duplicated by",
        ("caused_by", true) => "caused by",
        ("caused_by", false) => "causes",
        (other, _) => other,
    };
    vec![relation.into(), Cell::new(&link.other.number, Tone::Strong), status(link.other.status), link.other.subject.as_str().into()]
}

