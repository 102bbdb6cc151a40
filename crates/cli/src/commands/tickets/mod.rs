//! `hdms tickets …`.

mod show;
mod views;

use std::io::Read;

use hdms_api_types::tickets::{
    AssignRequest, BulkUpdate, CreateComment, CreateTicket, FieldChanges, RateTicket, ReplyAction, Ticket, TicketListQuery,
    TransitionRequest,
};
use uuid::Uuid;

use crate::cli::{TicketFilters, TicketsCommand};
use crate::commands::{args_or_stdin, collect_pages, teams, users};
use crate::exit::{CliError, CliResult};
use crate::output::Output;
use hdms_api_types::credentials::Session;
pub use show::state_name;
#[cfg(test)]
pub use show::{TicketDetail, render as render_detail};
pub use views::BulkRow;

/// Tickets a list prints when neither `--limit` nor `--all` says otherwise.
const DEFAULT_LIMIT: usize = 100;
/// The server's largest page.
const PAGE: usize = 200;

pub async fn run(session: Session, output: Output, command: TicketsCommand) -> CliResult {
    match command {
        TicketsCommand::List(filters) => {
            let tickets = list(&session, filters).await?;
            output.list(&tickets)
        }
        TicketsCommand::Show { tickets } => {
            let ids = resolve_all(&session, tickets).await?;
            if let [id] = ids.as_slice() {
                return show::show(&session, &output, *id).await;
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
                Some(team) => Some(teams::resolve(&session, &team).await?),
                None => None,
            };
            let requester_id = match requester {
                Some(user) => Some(users::resolve(&session, &user, false).await?),
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
                Some(user) => Some(assignee(&session, user).await?),
                None => None,
            };
            let team_id = match team {
                Some(team) => Some(teams::resolve(&session, &team).await?),
                None => None,
            };
            let request = AssignRequest { assignee_id, team_id, round_robin, version: None };
            let mut assigned = Vec::new();
            for id in resolve_all(&session, tickets).await? {
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
            for id in resolve_all(&session, vec![ticket]).await? {
                moved.push(session.call(|client| {
                    let request = request.clone();
                    async move { client.transition(id, &request).await }
                }).await?);
            }
            output.list(&moved)
        }
        TicketsCommand::Comment { ticket, body, body_file, internal } => {
            let id = resolve(&session, &ticket).await?;
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
        TicketsCommand::Watch { tickets, user } => set_watching(&session, tickets, user, true).await,
        TicketsCommand::Unwatch { tickets, user } => set_watching(&session, tickets, user, false).await,
        TicketsCommand::Rate { ticket, score, comment } => {
            let id = resolve(&session, &ticket).await?;
            let request = RateTicket { score, comment };
            let rating = session.call(|client| {
                let request = request.clone();
                async move { client.rate_ticket(id, &request).await }
            }).await?;
            output.one(&rating)
        }
        TicketsCommand::Watchers { ticket } => {
            let id = resolve(&session, &ticket).await?;
            let watchers = session.call(|client| async move { client.list_watchers(id).await }).await?;
            output.list(&watchers)
        }
        TicketsCommand::Bulk { tickets, set, status, reply, internal } => {
            let changes = field_changes(&session, &set).await?;
            let named = args_or_stdin(tickets)?;
            let mut ids = Vec::new();
            for ticket in &named {
                ids.push(resolve(&session, ticket).await?);
            }
            if ids.is_empty() {
                return Err(CliError::usage("no tickets given (stdin was empty)"));
            }
            let request = BulkUpdate {
                ids: Some(ids.clone()),
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
            // The table names each ticket as it was given (`HD-1042`), not by its id.
            let given = |id: Uuid| {
                let number = ids.iter().position(|known| *known == id).and_then(|i| hdms_api_types::tickets::parse_ticket_number(&named[i]));
                number.map_or_else(|| id.to_string(), |n| format!("HD-{n}"))
            };
            output.list_as(&result.results, |result| BulkRow { result, ticket: given(result.id) })?;
            eprintln!("{} changed, {} refused", result.succeeded, result.failed);
            if result.failed > 0 {
                return Err(CliError::validation(format!("{} of {} tickets were refused", result.failed, result.results.len())));
            }
            Ok(())
        }
    }
}

/// A ticket's id from its id or its number (`HD-1042`, `1042`).
pub async fn resolve(session: &Session, ticket: &str) -> CliResult<Uuid> {
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
pub async fn resolve_all(session: &Session, tickets: Vec<String>) -> CliResult<Vec<Uuid>> {
    let mut ids = Vec::new();
    for ticket in args_or_stdin(tickets)? {
        ids.push(resolve(session, &ticket).await?);
    }
    Ok(ids)
}

/// Makes `user` (default: you) watch the tickets, or stop watching them.
async fn set_watching(session: &Session, tickets: Vec<String>, user: Option<String>, watch: bool) -> CliResult {
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
async fn assignee(session: &Session, user: &str) -> CliResult<Option<Uuid>> {
    match user.trim() {
        "none" => Ok(None),
        "me" => Ok(Some(session.me().await?.id)),
        other => Ok(Some(users::resolve(session, other, false).await?)),
    }
}

/// The server's filter for the `--assignee` flag: `me`, `none`, or a user id.
async fn assignee_filter(session: &Session, user: &str) -> CliResult<String> {
    Ok(match user.trim() {
        "me" | "none" => user.trim().to_owned(),
        other => users::resolve(session, other, false).await?.to_string(),
    })
}

async fn list(session: &Session, filters: TicketFilters) -> CliResult<Vec<Ticket>> {
    let wanted = if filters.all { usize::MAX } else { filters.limit.unwrap_or(DEFAULT_LIMIT) };
    let query = TicketListQuery {
        status: (!filters.status.is_empty()).then(|| filters.status.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(",")),
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
        sort: filters.sort.map(|sort| sort.as_str().to_owned()),
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
async fn field_changes(session: &Session, pairs: &[String]) -> CliResult<FieldChanges> {
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
