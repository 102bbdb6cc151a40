//! `hdms mailgate` (one raw message on stdin to the help desk, for a mail server's pipe) and
//! `hdms mail …` (failed mail, bouncing addresses).

use std::io::Read;
use std::path::PathBuf;

use clap::{Args, Subcommand};
use hdms_api_types::client::{Client, ClientError};
use hdms_api_types::credentials::{self, Session, Target};
use hdms_api_types::mail::{FailingAddress, InboundResult, MailDisposition, MailFailure};

use crate::commands::{args_or_stdin, parse_id};
use crate::exit::{CliError, CliResult};
use crate::output::human::ago;
use crate::output::{Cell, Column, Layout, Output, Record, Tabular, Tone};

/// sysexits.h EX_TEMPFAIL: the mail server keeps the message and tries again later.
pub const TEMPFAIL: u8 = 75;

#[derive(Args)]
pub struct MailgateArgs {
    /// The mailbox the message arrived in (its rule for unknown senders applies); default: the
    /// built-in `mailgate` mailbox, which makes unknown senders customers.
    #[arg(long)]
    pub mailbox: Option<String>,
    /// Read the API token from this file (readable by the mail server's user only) instead of
    /// HDMS_TOKEN or a saved login.
    #[arg(long)]
    pub token_file: Option<PathBuf>,
}

#[derive(Subcommand)]
pub enum MailCommand {
    /// Mail that could not be taken in, and retrying it.
    #[command(subcommand, after_help = "Examples:\n  hdms mail failed list\n  hdms mail failed list --ids | hdms mail failed retry -")]
    Failed(FailedCommand),
    /// Addresses whose mail bounced (no mail goes to them until cleared).
    #[command(subcommand, after_help = "Examples:\n  hdms mail failing list\n  hdms mail failing clear ana@example.com")]
    Failing(FailingCommand),
}

#[derive(Subcommand)]
pub enum FailedCommand {
    /// List failed mail, newest first, with the reason.
    #[command(after_help = "Examples:\n  hdms mail failed list\n  hdms mail failed list --all -o json")]
    List {
        /// Also list failed mail a retry has since taken in.
        #[arg(long)]
        all: bool,
    },
    /// Take failed mail in again, by id (`-` reads ids from stdin).
    #[command(after_help = "Examples:\n  hdms mail failed retry 0193e0a1-0000-7000-8000-000000000000\n  hdms mail failed list --ids | hdms mail failed retry -")]
    Retry {
        /// Ids of failed mail, or `-` to read them from stdin.
        #[arg(required = true)]
        ids: Vec<String>,
    },
}

#[derive(Subcommand)]
pub enum FailingCommand {
    /// List the addresses marked failing by bounces.
    #[command(after_help = "Examples:\n  hdms mail failing list\n  hdms mail failing list -o csv")]
    List,
    /// Clear addresses so mail goes to them again (`-` reads them from stdin).
    #[command(after_help = "Examples:\n  hdms mail failing clear ana@example.com\n  hdms mail failing list --ids | hdms mail failing clear -")]
    Clear {
        /// Mail addresses, or `-` to read them from stdin.
        #[arg(required = true)]
        addresses: Vec<String>,
    },
}

/// Reads one message on stdin and hands it in. Exit 0 when the server stored it (or dropped it
/// on purpose, or had it already); 75 whenever trying again later can help (server unreachable
/// or failing, credentials or mailbox misconfigured), so the mail server keeps the message; 1
/// only for a message the server will never take (too large), which the mail server bounces.
pub async fn mailgate(target: credentials::Result<Target>, args: MailgateArgs) -> CliResult {
    let result = deliver(target, args).await?;
    let ticket = result.ticket_number.as_deref().map(|n| format!(" {n}")).unwrap_or_default();
    let why = result.reason.as_deref().map(|r| format!(": {r}")).unwrap_or_default();
    println!("{}{ticket}{why}", result.disposition.as_str());
    Ok(())
}

async fn deliver(target: credentials::Result<Target>, args: MailgateArgs) -> CliResult<InboundResult> {
    let tempfail = |err: CliError| CliError { code: TEMPFAIL, message: err.message };
    let target = target.map_err(|e| tempfail(e.into()))?;
    let mut raw = Vec::new();
    std::io::stdin().lock().read_to_end(&mut raw).map_err(|e| CliError { code: TEMPFAIL, message: format!("cannot read the message: {e}") })?;
    if raw.is_empty() {
        return Err(CliError::usage("expected a message on stdin"));
    }
    let mailbox = args.mailbox;
    let sent = match &args.token_file {
        Some(path) => {
            let token = std::fs::read_to_string(path)
                .map_err(|e| CliError { code: TEMPFAIL, message: format!("cannot read the token file {}: {e}", path.display()) })?;
            let client = target.anonymous_client().map_err(|e| tempfail(e.into()))?;
            client.set_token(Some(token.trim().to_owned()));
            send(client, raw, mailbox).await.map_err(CliError::from)
        }
        None => {
            let session = Session::open(target).await.map_err(|e| tempfail(e.into()))?;
            session.call(|client| send(client, raw.clone(), mailbox.clone())).await.map_err(CliError::from)
        }
    };
    sent.map_err(tempfail)?
}

/// One attempt; a 413 comes back as the inner error: this message will never fit, so the
/// mail server should bounce it to its sender (exit 1) rather than try again.
async fn send(client: Client, raw: Vec<u8>, mailbox: Option<String>) -> Result<CliResult<InboundResult>, ClientError> {
    match client.mail_inbound(raw, mailbox.as_deref()).await {
        Err(err) if err.status().is_some_and(|s| s.as_u16() == 413) => Ok(Err(CliError::from(err))),
        other => other.map(Ok),
    }
}

pub async fn run(session: Session, output: Output, command: MailCommand) -> CliResult {
    match command {
        MailCommand::Failed(FailedCommand::List { all }) => {
            let failures = session.call(|client| async move { client.mail_failures(all).await }).await?;
            output.list(&failures)
        }
        MailCommand::Failed(FailedCommand::Retry { ids }) => {
            let mut still_failing = 0;
            for id in args_or_stdin(ids)? {
                let id = parse_id(&id, "failed mail")?;
                let result = session.call(|client| async move { client.retry_mail_failure(id).await }).await?;
                if result.disposition == MailDisposition::Failed {
                    still_failing += 1;
                    eprintln!("{id}: still failing: {}", result.reason.unwrap_or_default());
                } else {
                    eprintln!("{id}: {}{}", result.disposition.as_str(), result.ticket_number.map(|n| format!(" {n}")).unwrap_or_default());
                }
            }
            if still_failing > 0 {
                return Err(CliError::failure(format!("{still_failing} message(s) still failing")));
            }
            Ok(())
        }
        MailCommand::Failing(FailingCommand::List) => {
            let failing = session.call(|client| async move { client.failing_addresses().await }).await?;
            output.list(&failing)
        }
        MailCommand::Failing(FailingCommand::Clear { addresses }) => {
            for address in args_or_stdin(addresses)? {
                session.call(|client| {
                    let address = address.clone();
                    async move { client.clear_failing_address(&address).await }
                }).await?;
                eprintln!("Cleared {address}");
            }
            Ok(())
        }
    }
}

impl Record for MailFailure {
    const FIELDS: &'static [&'static str] =
        &["id", "mailbox", "raw_sha256", "size", "reason", "attempts", "state", "created_at", "last_attempt_at"];

    fn id(&self) -> String {
        self.id.to_string()
    }
}

impl Tabular for MailFailure {
    const COLUMNS: &'static [Column] = &[
        Column::whole("received"),
        Column::whole("mailbox"),
        Column::number("size"),
        Column::number("tries"),
        Column::whole("state"),
        Column::shrink("reason", 20),
        Column::whole("id").wide(),
    ];

    fn row(&self, layout: &Layout) -> Vec<Cell> {
        let state = if self.state == "failed" { Tone::Bad } else { Tone::Muted };
        vec![
            Cell::new(ago(self.created_at, layout), Tone::Muted),
            self.mailbox.as_deref().unwrap_or("mailgate").into(),
            self.size.to_string().into(),
            self.attempts.to_string().into(),
            Cell::new(&self.state, state),
            self.reason.as_str().into(),
            Cell::new(self.id.to_string(), Tone::Muted),
        ]
    }
}

impl Record for FailingAddress {
    const FIELDS: &'static [&'static str] = &["address", "reason", "failed_at"];

    fn id(&self) -> String {
        self.address.clone()
    }
}

impl Tabular for FailingAddress {
    const COLUMNS: &'static [Column] = &[Column::whole("address"), Column::whole("since"), Column::shrink("reason", 20)];

    fn row(&self, layout: &Layout) -> Vec<Cell> {
        vec![Cell::new(&self.address, Tone::Strong), Cell::new(ago(self.failed_at, layout), Tone::Muted), self.reason.as_str().into()]
    }
}
