//! One module per command group. Each takes the parsed arguments and a session, calls the API
//! through the typed client, and prints through [`crate::output`].

pub mod approvals;
pub mod auth;
pub mod import;
pub mod mail;
pub mod names;
pub mod reports;
pub mod rules;
pub mod sla;
pub mod teams;
pub mod tickets;
pub mod tokens;
pub mod users;
pub mod webhooks;

use std::future::Future;
use std::io::BufRead;

use hdms_api_types::Page;
use hdms_api_types::client::{Client, ClientError};

use crate::exit::{CliError, CliResult};
use hdms_api_types::credentials::Session;

/// Every item of a cursor-paged list, page after page, up to `wanted`: `fetch` asks for the page
/// after the cursor it is given (none for the first).
pub async fn collect_pages<T, F, Fut>(session: &Session, wanted: usize, fetch: F) -> CliResult<Vec<T>>
where
    F: Fn(Client, Option<String>) -> Fut,
    Fut: Future<Output = Result<Page<T>, ClientError>>,
{
    let mut items = Vec::new();
    let mut cursor = None;
    loop {
        let page = session.call(|client| fetch(client, cursor.clone())).await?;
        items.extend(page.items);
        match page.next_cursor {
            Some(next) if items.len() < wanted => cursor = Some(next),
            _ => break,
        }
    }
    items.truncate(wanted);
    Ok(items)
}

/// The arguments as given, or, for a lone `-`, the non-blank lines of stdin: so
/// `hdms users list --ids | hdms users delete -` works.
pub fn args_or_stdin(args: Vec<String>) -> CliResult<Vec<String>> {
    if args.iter().any(|arg| arg == "-") {
        if args.len() > 1 {
            return Err(CliError::usage("'-' reads from stdin and cannot be combined with other values"));
        }
        let mut values = Vec::new();
        for line in std::io::stdin().lock().lines() {
            let line = line?;
            let line = line.trim();
            if !line.is_empty() {
                values.push(line.to_owned());
            }
        }
        return Ok(values);
    }
    Ok(args)
}

/// A uuid, or a usage error naming what was expected.
pub fn parse_id(value: &str, what: &str) -> CliResult<uuid::Uuid> {
    uuid::Uuid::try_parse(value.trim()).map_err(|_| CliError::usage(format!("'{value}' is not a {what} id")))
}

/// Reads one line (a password) from stdin, without its line end.
pub fn read_stdin_line() -> CliResult<String> {
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    let line = line.trim_end_matches(['\n', '\r']).to_owned();
    if line.is_empty() {
        return Err(CliError::usage("expected a password on stdin"));
    }
    Ok(line)
}
