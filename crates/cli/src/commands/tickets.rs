//! `hdms tickets …`.

use std::collections::HashMap;
use std::io::{Read, Write};

use hdms_api_types::tickets::{
    AssignRequest, BulkItemResult, BulkUpdate, Comment, CreateComment, CreateTicket, FieldChanges, ReplyAction, Ticket,
    RateTicket, Status, TicketListQuery, TicketRating, TicketSla, TransitionRequest, Watcher,
};
use serde::Serialize;
use uuid::Uuid;

use crate::cli::{TicketFilters, TicketsCommand};
use crate::commands::{args_or_stdin, collect_pages, teams, users};
use crate::exit::{CliError, CliResult};
use crate::output::{Format, Output, Record, new_table, optional};
use hdms_api_types::credentials::Session;

/// Tickets a list prints when neither `--limit` nor `--all` says otherwise.
const DEFAULT_LIMIT: usize = 100;
/// The server's largest page.
const PAGE: usize = 200;

pub async fn run(mut session: Session, output: Output, command: TicketsCommand) -> CliResult {
    match command {
        TicketsCommand::List(filters) => {
            let tickets = list(&mut session, filters).await?;
            output.list(&tickets)
        }
        TicketsCommand::Show { tickets } => {
            let ids = resolve_all(&mut session, tickets).await?;
            if let [id] = ids.as_slice() {
                return show_one(&mut session, output, *id).await;
            }
            let mut found = Vec::new();
            for id in ids {
                found.push(session.call(|client| async move { client.get_ticket(id).await }).await?);
            }
            output.list(&found)
        }
        TicketsCommand::Create { subject, description, priority, category, tags, team, requester } => {
            let description = if description == "-" { read_stdin_text()? } else { description };
            let team_id = match team {
                Some(team) => Some(teams::resolve(&mut session, &team).await?),
                None => None,
            };
            let requester_id = match requester {
                Some(user) => Some(users::resolve(&mut session, &user, false).await?),
                None => None,
            };
            let request = CreateTicket { subject, description, priority, category, tags, team_id, requester_id };
            let ticket = session.call(|client| {
                let request = request.clone();
                async move { client.create_ticket(&request).await }
            }).await?;
            output.one(&ticket)
        }
        TicketsCommand::Assign { tickets, to, team, round_robin } => {
            let assignee_id = match to.as_deref() {
                Some(user) => Some(assignee(&mut session, user).await?),
                None => None,
            };
            let team_id = match team {
                Some(team) => Some(teams::resolve(&mut session, &team).await?),
                None => None,
            };
            let request = AssignRequest { assignee_id, team_id, round_robin, version: None };
            let mut assigned = Vec::new();
            for id in resolve_all(&mut session, tickets).await? {
                assigned.push(session.call(|client| {
                    let request = request.clone();
                    async move { client.assign(id, &request).await }
                }).await?);
            }
            output.list(&assigned)
        }
        TicketsCommand::Transition { ticket, to, comment } => {
            let request = TransitionRequest { to, comment, version: None };
            let mut moved = Vec::new();
            for id in resolve_all(&mut session, vec![ticket]).await? {
                moved.push(session.call(|client| {
                    let request = request.clone();
                    async move { client.transition(id, &request).await }
                }).await?);
            }
            output.list(&moved)
        }
        TicketsCommand::Comment { ticket, body, body_file, internal } => {
            let id = resolve(&mut session, &ticket).await?;
            let body = match (body, body_file) {
                (Some(body), _) => body,
                (None, Some(path)) if path.as_os_str() == "-" => read_stdin_text()?,
                (None, Some(path)) => std::fs::read_to_string(&path)
                    .map_err(|err| CliError::usage(format!("cannot read {}: {err}", path.display())))?,
                (None, None) => read_stdin_text()?,
            };
            let request = CreateComment { body, internal };
            let comment = session.call(|client| {
                let request = request.clone();
                async move { client.comment(id, &request).await }
            }).await?;
            output.one(&comment)
        }
        TicketsCommand::Watch { tickets, user } => set_watching(&mut session, tickets, user, true).await,
        TicketsCommand::Unwatch { tickets, user } => set_watching(&mut session, tickets, user, false).await,
        TicketsCommand::Rate { ticket, score, comment } => {
            let id = resolve(&mut session, &ticket).await?;
            let request = RateTicket { score, comment };
            let rating = session.call(|client| {
                let request = request.clone();
                async move { client.rate_ticket(id, &request).await }
            }).await?;
            output.one(&rating)
        }
        TicketsCommand::Watchers { ticket } => {
            let id = resolve(&mut session, &ticket).await?;
            let watchers = session.call(|client| async move { client.list_watchers(id).await }).await?;
            output.list(&watchers)
        }
        TicketsCommand::Bulk { tickets, set, status, reply, internal } => {
            let changes = field_changes(&mut session, &set).await?;
            let ids = resolve_all(&mut session, tickets).await?;
            if ids.is_empty() {
                return Err(CliError::usage("no tickets given (stdin was empty)"));
            }
            let request = BulkUpdate {
                ids: Some(ids),
                set: (!changes.is_empty()).then_some(changes),
                reply: reply.map(|body| ReplyAction { body, internal }),
                transition: status,
                ..Default::default()
            };
            if request.set.is_none() && request.reply.is_none() && request.transition.is_none() {
                return Err(CliError::usage("nothing to do: give --set, --status or --reply"));
            }
            let result = session.call(|client| {
                let request = request.clone();
                async move { client.bulk_update(&request).await }
            }).await?;
            output.list(&result.results)?;
            eprintln!("{} changed, {} refused", result.succeeded, result.failed);
            if result.failed > 0 {
                return Err(CliError::validation(format!("{} of {} tickets were refused", result.failed, result.results.len())));
            }
            Ok(())
        }
    }
}

/// A ticket's id from its id or its number (`HD-1042`, `1042`).
pub async fn resolve(session: &mut Session, ticket: &str) -> CliResult<Uuid> {
    let ticket = ticket.trim();
    if let Ok(id) = Uuid::try_parse(ticket) {
        return Ok(id);
    }
    if hdms_api_types::tickets::parse_ticket_number(ticket).is_none() {
        return Err(CliError::usage(format!("'{ticket}' is neither a ticket id nor a number like HD-1042")));
    }
    let number = ticket.to_owned();
    Ok(session.call(|client| {
        let number = number.clone();
        async move { client.get_ticket_by_number(&number).await }
    }).await?.id)
}

/// Ticket ids from arguments, or from stdin for a lone `-`.
pub async fn resolve_all(session: &mut Session, tickets: Vec<String>) -> CliResult<Vec<Uuid>> {
    let mut ids = Vec::new();
    for ticket in args_or_stdin(tickets)? {
        ids.push(resolve(session, &ticket).await?);
    }
    Ok(ids)
}

/// Makes `user` (default: you) watch the tickets, or stop watching them.
async fn set_watching(session: &mut Session, tickets: Vec<String>, user: Option<String>, watch: bool) -> CliResult {
    let user = match user {
        Some(user) => users::resolve(session, &user, false).await?,
        None => session.me().await?.id,
    };
    for id in resolve_all(session, tickets).await? {
        session
            .call(|client| async move {
                if watch { client.watch_ticket(id, user).await } else { client.unwatch_ticket(id, user).await }
            })
            .await?;
    }
    Ok(())
}

/// `me`, `none`, or a user: what an assignment asks for.
async fn assignee(session: &mut Session, user: &str) -> CliResult<Option<Uuid>> {
    match user.trim() {
        "none" => Ok(None),
        "me" => Ok(Some(session.me().await?.id)),
        other => Ok(Some(users::resolve(session, other, false).await?)),
    }
}

/// The server's filter for the `--assignee` flag: `me`, `none`, or a user id.
async fn assignee_filter(session: &mut Session, user: &str) -> CliResult<String> {
    Ok(match user.trim() {
        "me" | "none" => user.trim().to_owned(),
        other => users::resolve(session, other, false).await?.to_string(),
    })
}

async fn list(session: &mut Session, filters: TicketFilters) -> CliResult<Vec<Ticket>> {
    let wanted = if filters.all { usize::MAX } else { filters.limit.unwrap_or(DEFAULT_LIMIT) };
    let query = TicketListQuery {
        status: filters.status,
        assignee: match &filters.assignee {
            Some(user) => Some(assignee_filter(session, user).await?),
            None => None,
        },
        team: match &filters.team {
            Some(team) => Some(teams::resolve(session, team).await?),
            None => None,
        },
        priority: filters.priority,
        requester: match &filters.requester {
            Some(user) => Some(users::resolve(session, user, false).await?),
            None => None,
        },
        tag: filters.tag,
        breaching_within: filters.breaching_within,
        q: filters.query,
        sort: filters.sort,
        deleted: filters.deleted.then_some(true),
        limit: Some(wanted.min(PAGE) as u32),
        cursor: None,
    };
    collect_pages(session, wanted, |client, cursor| {
        let query = TicketListQuery { cursor, ..query.clone() };
        async move { client.list_tickets(&query).await }
    })
    .await
}

/// `--set` pairs as the bulk endpoint's field changes.
async fn field_changes(session: &mut Session, pairs: &[String]) -> CliResult<FieldChanges> {
    let mut changes = FieldChanges::default();
    for pair in pairs {
        let Some((field, value)) = pair.split_once('=') else {
            return Err(CliError::usage(format!("--set {pair}: expected FIELD=VALUE")));
        };
        let list = |value: &str| value.split(',').map(str::trim).filter(|t| !t.is_empty()).map(str::to_owned).collect::<Vec<_>>();
        match field.trim().replace('_', "-").as_str() {
            "priority" => changes.priority = Some(value.parse().map_err(|err| CliError::usage(format!("--set {pair}: {err}")))?),
            "category" => changes.category = Some(value.to_owned()),
            "team" => changes.team_id = Some(teams::resolve(session, value).await?),
            "assignee" => changes.assignee_id = Some(assignee(session, value).await?),
            "tags" => changes.tags = Some(list(value)),
            "add-tag" | "add-tags" => changes.add_tags.extend(list(value)),
            "remove-tag" | "remove-tags" => changes.remove_tags.extend(list(value)),
            other => {
                return Err(CliError::usage(format!(
                    "--set {pair}: unknown field '{other}' (priority, category, team, assignee, tags, add-tag, remove-tag)"
                )));
            }
        }
    }
    Ok(changes)
}

fn read_stdin_text() -> CliResult<String> {
    let mut text = String::new();
    std::io::stdin().lock().read_to_string(&mut text)?;
    if text.trim().is_empty() {
        return Err(CliError::usage("expected the text on stdin"));
    }
    Ok(text)
}

/// One ticket with its conversation: a record and the comments for people, one JSON object
/// (`{"ticket": …, "comments": […]}`) for programs; CSV and `--ids` print the ticket alone.
async fn show_one(session: &mut Session, output: Output, id: Uuid) -> CliResult {
    let ticket = session.call(|client| async move { client.get_ticket(id).await }).await?;
    if output.ids || output.format == Format::Csv {
        return output.one(&ticket);
    }
    let comments = session.call(|client| async move { client.list_comments(id).await }).await?;
    let rating = if matches!(ticket.status, Status::Resolved | Status::Closed) {
        session
            .call(|client| async move {
                match client.ticket_rating(id).await {
                    Ok(rating) => Ok(Some(rating)),
                    Err(err) if err.status().map(|s| s.as_u16()) == Some(404) => Ok(None),
                    Err(err) => Err(err),
                }
            })
            .await?
    } else {
        None
    };
    if output.format == Format::Json {
        #[derive(Serialize)]
        struct Shown<'a> {
            ticket: &'a Ticket,
            comments: &'a [Comment],
            #[serde(skip_serializing_if = "Option::is_none")]
            rating: Option<&'a TicketRating>,
        }
        println!("{}", crate::output::to_json(&Shown { ticket: &ticket, comments: &comments, rating: rating.as_ref() })?);
        return Ok(());
    }
    output.one(&ticket)?;
    if let Some(rating) = &rating {
        let comment = rating.comment.as_deref().map(|c| format!(": {c}")).unwrap_or_default();
        println!("Rated {} by the requester{comment}", rating.score);
    }
    let names = author_names(session, &comments).await;
    let mut table = new_table();
    table.set_header(["#", "when", "who", "", "text"]);
    for comment in &comments {
        let who = names.get(&comment.author_id).cloned().unwrap_or_else(|| comment.author_id.to_string());
        let kind = if comment.internal { "internal note" } else { "reply" };
        table.add_row(vec![comment.seq.to_string(), comment.created_at.format("%Y-%m-%d %H:%M").to_string(), who, kind.to_owned(), comment.body.clone()]);
    }
    let mut out = std::io::stdout().lock();
    if comments.is_empty() {
        writeln!(out, "No replies yet.")?;
    } else {
        writeln!(out, "{table}")?;
    }
    Ok(())
}

/// Authors' names where the caller may read them (staff); ids otherwise.
async fn author_names(session: &mut Session, comments: &[Comment]) -> HashMap<Uuid, String> {
    let mut names = HashMap::new();
    for comment in comments {
        let id = comment.author_id;
        if names.contains_key(&id) {
            continue;
        }
        if let Ok(user) = session.call(|client| async move { client.get_user(id).await }).await {
            names.insert(id, user.name);
        }
    }
    names
}

/// The SLA in one cell: what is due next, or what was missed.
fn sla_cell(sla: &Option<TicketSla>) -> String {
    let Some(sla) = sla else { return String::new() };
    if sla.first_response.breached || sla.resolution.breached {
        return "breached".to_owned();
    }
    if sla.paused {
        return "paused".to_owned();
    }
    let next = [&sla.first_response, &sla.resolution].into_iter().find(|target| target.met_at.is_none() && target.due_at.is_some());
    match next {
        Some(target) => {
            let due = target.due_at.map(|at| at.format("%Y-%m-%d %H:%M").to_string()).unwrap_or_default();
            if target.warning { format!("due {due} (warning)") } else { format!("due {due}") }
        }
        None => "met".to_owned(),
    }
}

impl Record for Ticket {
    const COLUMNS: &'static [&'static str] =
        &["number", "id", "status", "priority", "subject", "assignee_id", "team_id", "requester_id", "tags", "sla", "updated_at"];

    fn cells(&self) -> Vec<String> {
        let id = |id: &Option<Uuid>| id.map(|id| id.to_string()).unwrap_or_default();
        vec![
            self.number.clone(),
            self.id.to_string(),
            self.status.to_string(),
            self.priority.to_string(),
            self.subject.clone(),
            id(&self.assignee_id),
            id(&self.team_id),
            self.requester_id.to_string(),
            self.tags.join(" "),
            sla_cell(&self.sla),
            self.updated_at.to_rfc3339(),
        ]
    }

    fn id(&self) -> String {
        self.id.to_string()
    }
}

impl Record for Comment {
    const COLUMNS: &'static [&'static str] = &["id", "ticket_id", "seq", "author_id", "internal", "created_at", "body"];

    fn cells(&self) -> Vec<String> {
        vec![
            self.id.to_string(),
            self.ticket_id.to_string(),
            self.seq.to_string(),
            self.author_id.to_string(),
            self.internal.to_string(),
            self.created_at.to_rfc3339(),
            self.body.clone(),
        ]
    }

    fn id(&self) -> String {
        self.id.to_string()
    }
}

impl Record for TicketRating {
    const COLUMNS: &'static [&'static str] = &["ticket_id", "score", "comment", "rated_by", "updated_at"];

    fn cells(&self) -> Vec<String> {
        vec![
            self.ticket_id.to_string(),
            self.score.to_string(),
            optional(&self.comment),
            self.rated_by.to_string(),
            self.updated_at.to_rfc3339(),
        ]
    }

    fn id(&self) -> String {
        self.ticket_id.to_string()
    }
}

impl Record for Watcher {
    const COLUMNS: &'static [&'static str] = &["user_id", "name", "role"];

    fn cells(&self) -> Vec<String> {
        vec![self.user_id.to_string(), self.name.clone(), self.role.to_string()]
    }

    fn id(&self) -> String {
        self.user_id.to_string()
    }
}

impl Record for BulkItemResult {
    const COLUMNS: &'static [&'static str] = &["id", "ok", "http_status", "version", "error_code", "error"];

    fn cells(&self) -> Vec<String> {
        vec![
            self.id.to_string(),
            self.ok.to_string(),
            self.http_status.to_string(),
            self.version.map(|v| v.to_string()).unwrap_or_default(),
            self.error.as_ref().map(|e| e.code.clone()).unwrap_or_default(),
            optional(&self.error.as_ref().map(|e| e.message.clone())),
        ]
    }

    fn id(&self) -> String {
        self.id.to_string()
    }
}
