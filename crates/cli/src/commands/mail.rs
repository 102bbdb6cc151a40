//! `hdms mailgate` (one raw message on stdin to the help desk, for a mail server's pipe) and
//! `hdms mail …` (mailboxes, the SMTP account, failed mail, bouncing addresses).

use std::io::Read;
use std::path::PathBuf;

use clap::{Args, Subcommand};
use hdms_api_types::client::{Client, ClientError};
use hdms_api_types::credentials::{self, Session, Target};
use hdms_api_types::mail::{
    AfterProcessing, CreateMailbox, FailingAddress, InboundResult, MailDisposition, MailFailure, MailSecurity, MailServerCheck, Mailbox,
    SmtpSettings, UnknownSenders, UpdateMailbox, UpdateSmtpSettings,
};
use uuid::Uuid;

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
    /// The mailboxes mail comes in through: polled over IMAP, or fed by `hdms mailgate --mailbox`.
    #[command(subcommand, after_help = "Examples:\n  hdms mail mailboxes list\n  echo \"$IMAP_PASSWORD\" | hdms mail mailboxes add Support --address support@example.com --imap-host imap.example.com --imap-user support --imap-password-stdin\n  hdms mail mailboxes test Support")]
    Mailboxes(Box<MailboxesCommand>),
    /// The SMTP account mail goes out through.
    #[command(subcommand, after_help = "Examples:\n  hdms mail smtp show\n  echo \"$SMTP_PASSWORD\" | hdms mail smtp set --host smtp.example.com --security starttls --username desk --password-stdin --from-address support@example.com\n  hdms mail smtp test")]
    Smtp(SmtpCommand),
    /// Mail that could not be taken in, and retrying it.
    #[command(subcommand, after_help = "Examples:\n  hdms mail failed list\n  hdms mail failed list --ids | hdms mail failed retry -")]
    Failed(FailedCommand),
    /// Addresses whose mail bounced (no mail goes to them until cleared).
    #[command(subcommand, after_help = "Examples:\n  hdms mail failing list\n  hdms mail failing clear ana@example.com")]
    Failing(FailingCommand),
}

#[derive(Subcommand)]
pub enum MailboxesCommand {
    /// List the mailboxes with where their polling stands (IMAP passwords are never shown).
    #[command(after_help = "Examples:\n  hdms mail mailboxes list\n  hdms mail mailboxes list -o json")]
    List,
    /// Add a mailbox; with --imap-host it is polled (then --imap-user and --imap-password-stdin too).
    #[command(after_help = "Examples:\n  echo \"$IMAP_PASSWORD\" | hdms mail mailboxes add Support --address support@example.com --imap-host imap.example.com --imap-user support --imap-password-stdin\n  hdms mail mailboxes add Partners --unknown-senders refuse")]
    Add {
        /// Its name (what `hdms mailgate --mailbox` names).
        name: String,
        #[command(flatten)]
        settings: MailboxArgs,
    },
    /// Change a mailbox (by name or id); options not given keep their value.
    #[command(after_help = "Examples:\n  hdms mail mailboxes update Support --poll-interval 30\n  hdms mail mailboxes update Support --after move --move-to Processed\n  hdms mail mailboxes update Support --no-imap")]
    Update {
        /// Name or id.
        mailbox: String,
        /// A new name.
        #[arg(long)]
        rename: Option<String>,
        /// Stop polling it (it stays for `hdms mailgate --mailbox`).
        #[arg(long, conflicts_with = "imap_host")]
        no_imap: bool,
        #[command(flatten)]
        settings: MailboxArgs,
    },
    /// Remove mailboxes (by name or id); the mail they brought in stays.
    #[command(after_help = "Examples:\n  hdms mail mailboxes remove Support")]
    Remove {
        /// Names or ids.
        #[arg(required = true)]
        mailboxes: Vec<String>,
    },
    /// Connect to a mailbox's IMAP server, log in and open its folder; says which step fails and why.
    #[command(after_help = "Examples:\n  hdms mail mailboxes test Support")]
    Test {
        /// Name or id.
        mailbox: String,
    },
}

#[derive(Args)]
pub struct MailboxArgs {
    /// The support address it receives; automatic answers go out from it.
    #[arg(long)]
    pub address: Option<String>,
    /// What mail from an address no user has gets.
    #[arg(long, value_parser = ["create", "refuse", "drop"])]
    pub unknown_senders: Option<String>,
    /// The IMAP server to poll.
    #[arg(long)]
    pub imap_host: Option<String>,
    /// Default 993 with --security tls, else 143.
    #[arg(long)]
    pub imap_port: Option<u16>,
    /// tls (from the first byte), starttls, or plain (a server on the same host only).
    #[arg(long, value_parser = ["tls", "starttls", "plain"])]
    pub security: Option<String>,
    /// The user to log in to the IMAP server as.
    #[arg(long)]
    pub imap_user: Option<String>,
    /// Read the IMAP password from stdin's first line (never give it as an argument).
    #[arg(long)]
    pub imap_password_stdin: bool,
    /// The folder polled (default INBOX).
    #[arg(long)]
    pub folder: Option<String>,
    /// Seconds between polls without IDLE (default 60).
    #[arg(long)]
    pub poll_interval: Option<u32>,
    /// What happens to a message once taken in: flagged seen, or moved (--move-to).
    #[arg(long, value_parser = ["seen", "move"])]
    pub after: Option<String>,
    /// The folder processed mail is moved to (with --after move).
    #[arg(long)]
    pub move_to: Option<String>,
}

impl MailboxArgs {
    fn password(&self) -> CliResult<Option<String>> {
        if self.imap_password_stdin { crate::commands::auth::read_password(true, "").map(Some) } else { Ok(None) }
    }
}

#[derive(Subcommand)]
pub enum SmtpCommand {
    /// Show the SMTP account (the password is never shown).
    #[command(after_help = "Examples:\n  hdms mail smtp show")]
    Show,
    /// Set the SMTP account; options not given keep their value (--host and --from-address are
    /// needed the first time).
    #[command(after_help = "Examples:\n  echo \"$SMTP_PASSWORD\" | hdms mail smtp set --host smtp.example.com --security starttls --username desk --password-stdin --from-address support@example.com\n  hdms mail smtp set --from-name \"Example Support\" --acknowledge-new-tickets true")]
    Set(Box<SmtpArgs>),
    /// Connect to the SMTP server, start TLS as set and log in; says which step fails and why.
    #[command(after_help = "Examples:\n  hdms mail smtp test")]
    Test,
}

#[derive(Args)]
pub struct SmtpArgs {
    /// The SMTP server.
    #[arg(long)]
    pub host: Option<String>,
    /// Default 465 with --security tls, 587 with starttls, 25 with plain (when the security
    /// changes or on first setup; else the port stays).
    #[arg(long)]
    pub port: Option<u16>,
    /// tls (from the first byte), starttls (required, never downgraded), or plain (a relay on
    /// the same host only).
    #[arg(long, value_parser = ["tls", "starttls", "plain"])]
    pub security: Option<String>,
    /// The user to log in as; `""` for a server that needs no login.
    #[arg(long)]
    pub username: Option<String>,
    /// Read the password from stdin's first line (never give it as an argument).
    #[arg(long, conflicts_with = "clear_password")]
    pub password_stdin: bool,
    /// Remove the stored password.
    #[arg(long)]
    pub clear_password: bool,
    /// The From address of mail that did not come in through a mailbox with its own address.
    #[arg(long)]
    pub from_address: Option<String>,
    /// The name shown with the From address; `""` removes it.
    #[arg(long)]
    pub from_name: Option<String>,
    /// Acknowledge tickets raised by mail with an automatic answer (rate limited per recipient,
    /// HDMS_MAIL_AUTO_REPLY_LIMIT).
    #[arg(long)]
    pub acknowledge_new_tickets: Option<bool>,
}

impl SmtpArgs {
    /// The full account the PUT takes: these options over the current account (if any).
    fn merge(self, current: Option<SmtpSettings>) -> CliResult<UpdateSmtpSettings> {
        let security = match (self.security.as_deref().and_then(MailSecurity::parse), &current) {
            (Some(security), _) => security,
            (None, Some(current)) => current.security,
            (None, None) => MailSecurity::Starttls,
        };
        let default_port = match security {
            MailSecurity::Tls => 465,
            MailSecurity::Starttls => 587,
            MailSecurity::Plain => 25,
        };
        let port = match (self.port, &current) {
            (Some(port), _) => port,
            (None, Some(current)) if current.security == security => current.port,
            _ => default_port,
        };
        let password = if self.clear_password {
            Some(String::new())
        } else if self.password_stdin {
            Some(crate::commands::auth::read_password(true, "")?)
        } else {
            None
        };
        let needed = |what: &str| CliError::usage(format!("no SMTP account is set yet: give --{what}"));
        Ok(UpdateSmtpSettings {
            host: match self.host {
                Some(host) => host,
                None => current.as_ref().map(|c| c.host.clone()).ok_or_else(|| needed("host"))?,
            },
            port,
            security,
            username: self.username.or_else(|| current.as_ref().and_then(|c| c.username.clone())),
            password,
            from_address: match self.from_address {
                Some(address) => address,
                None => current.as_ref().map(|c| c.from_address.clone()).ok_or_else(|| needed("from-address"))?,
            },
            from_name: self.from_name.or_else(|| current.as_ref().and_then(|c| c.from_name.clone())),
            acknowledge_new_tickets: self.acknowledge_new_tickets.or(current.map(|c| c.acknowledge_new_tickets)).unwrap_or(false),
        })
    }
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

/// A mailbox by id, or by name (case-insensitive).
async fn mailbox_id(session: &Session, name_or_id: &str) -> CliResult<Uuid> {
    if let Ok(id) = name_or_id.parse::<Uuid>() {
        return Ok(id);
    }
    let mailboxes = session.call(|client| async move { client.mailboxes().await }).await?;
    mailboxes
        .iter()
        .find(|m| m.name.eq_ignore_ascii_case(name_or_id))
        .map(|m| m.id)
        .ok_or_else(|| CliError::failure(format!("no mailbox is named '{name_or_id}' (hdms mail mailboxes list)")))
}

fn security(text: Option<&str>) -> Option<MailSecurity> {
    text.and_then(MailSecurity::parse)
}

/// Prints a check's outcome; a failed check is a failed command.
fn report(what: &str, check: &MailServerCheck) -> CliResult {
    if check.ok {
        let idle = check.idle.map(|idle| if idle { ", IDLE: yes (new mail comes at once)" } else { ", IDLE: no (polled)" }).unwrap_or_default();
        let messages = check.messages.map(|n| format!(", {n} message(s) in the folder")).unwrap_or_default();
        println!("{what}: ok{idle}{messages}");
        Ok(())
    } else {
        let step = check.failed_step.as_deref().unwrap_or("connect");
        Err(CliError::failure(format!("{what}: {step} failed: {}", check.error.as_deref().unwrap_or("no reason given"))))
    }
}

async fn run_mailboxes(session: Session, output: Output, command: MailboxesCommand) -> CliResult {
    match command {
        MailboxesCommand::List => {
            let mailboxes = session.call(|client| async move { client.mailboxes().await }).await?;
            output.list(&mailboxes)
        }
        MailboxesCommand::Add { name, settings } => {
            let request = CreateMailbox {
                name,
                address: settings.address.clone(),
                unknown_senders: settings.unknown_senders.as_deref().and_then(UnknownSenders::parse),
                imap_host: settings.imap_host.clone(),
                imap_port: settings.imap_port,
                imap_security: security(settings.security.as_deref()),
                imap_user: settings.imap_user.clone(),
                imap_password: settings.password()?,
                imap_folder: settings.folder.clone(),
                poll_interval_secs: settings.poll_interval,
                after_processing: settings.after.as_deref().and_then(AfterProcessing::parse),
                move_to_folder: settings.move_to.clone(),
            };
            let created = session.call(|client| {
                let request = request.clone();
                async move { client.create_mailbox(&request).await }
            }).await?;
            output.one(&created)
        }
        MailboxesCommand::Update { mailbox, rename, no_imap, settings } => {
            let id = mailbox_id(&session, &mailbox).await?;
            let update = UpdateMailbox {
                name: rename,
                address: settings.address.clone().map(|a| Some(a).filter(|a| !a.is_empty())),
                unknown_senders: settings.unknown_senders.as_deref().and_then(UnknownSenders::parse),
                imap_host: if no_imap { Some(None) } else { settings.imap_host.clone().map(Some) },
                imap_port: settings.imap_port,
                imap_security: security(settings.security.as_deref()),
                imap_user: settings.imap_user.clone(),
                imap_password: settings.password()?,
                imap_folder: settings.folder.clone(),
                poll_interval_secs: settings.poll_interval,
                after_processing: settings.after.as_deref().and_then(AfterProcessing::parse),
                move_to_folder: settings.move_to.clone().map(|f| Some(f).filter(|f| !f.is_empty())),
            };
            let updated = session.call(|client| {
                let update = update.clone();
                async move { client.update_mailbox(id, &update).await }
            }).await?;
            output.one(&updated)
        }
        MailboxesCommand::Remove { mailboxes } => {
            for mailbox in mailboxes {
                let id = mailbox_id(&session, &mailbox).await?;
                session.call(|client| async move { client.delete_mailbox(id).await }).await?;
                eprintln!("Removed mailbox {mailbox}");
            }
            Ok(())
        }
        MailboxesCommand::Test { mailbox } => {
            let id = mailbox_id(&session, &mailbox).await?;
            let check = session.call(|client| async move { client.test_mailbox(id).await }).await?;
            report(&mailbox, &check)
        }
    }
}

pub async fn run(session: Session, output: Output, command: MailCommand) -> CliResult {
    match command {
        MailCommand::Mailboxes(command) => run_mailboxes(session, output, *command).await,
        MailCommand::Smtp(SmtpCommand::Show) => {
            let settings = session.call(|client| async move { client.smtp_settings().await }).await?;
            output.one(&settings)
        }
        MailCommand::Smtp(SmtpCommand::Set(args)) => {
            // 404: nothing set yet, so the options must give a whole account.
            let current = session
                .call(|client| async move {
                    match client.smtp_settings().await {
                        Ok(current) => Ok(Some(current)),
                        Err(err) if err.status().is_some_and(|s| s.as_u16() == 404) => Ok(None),
                        Err(err) => Err(err),
                    }
                })
                .await?;
            let update = args.merge(current)?;
            let settings = session.call(|client| {
                let update = update.clone();
                async move { client.set_smtp_settings(&update).await }
            }).await?;
            output.one(&settings)
        }
        MailCommand::Smtp(SmtpCommand::Test) => {
            let check = session.call(|client| async move { client.test_smtp().await }).await?;
            report("SMTP", &check)
        }
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

impl Record for Mailbox {
    const FIELDS: &'static [&'static str] = &[
        "id", "name", "address", "unknown_senders", "imap_host", "imap_port", "imap_security", "imap_user", "imap_password_set",
        "imap_folder", "poll_interval_secs", "after_processing", "move_to_folder", "uid_validity", "last_uid", "last_polled_at",
        "last_error", "lease_until", "created_at", "updated_at",
    ];

    fn id(&self) -> String {
        self.id.to_string()
    }
}

impl Tabular for Mailbox {
    const COLUMNS: &'static [Column] = &[
        Column::whole("name"),
        Column::whole("address"),
        Column::whole("imap"),
        Column::whole("folder"),
        Column::whole("unknown"),
        Column::whole("polled"),
        Column::shrink("error", 20),
        Column::whole("id").wide(),
    ];

    fn row(&self, layout: &Layout) -> Vec<Cell> {
        let imap = match (&self.imap_host, self.imap_port, self.imap_security) {
            (Some(host), Some(port), Some(security)) => format!("{}@{host}:{port} {}", self.imap_user.as_deref().unwrap_or(""), security.as_str()),
            _ => "mailgate only".to_owned(),
        };
        vec![
            Cell::new(&self.name, Tone::Strong),
            self.address.as_deref().unwrap_or("").into(),
            imap.into(),
            self.imap_folder.as_str().into(),
            self.unknown_senders.as_str().into(),
            Cell::new(self.last_polled_at.map(|at| ago(at, layout)).unwrap_or_default(), Tone::Muted),
            Cell::new(self.last_error.as_deref().unwrap_or(""), Tone::Bad),
            Cell::new(self.id.to_string(), Tone::Muted),
        ]
    }
}

impl Record for SmtpSettings {
    const FIELDS: &'static [&'static str] =
        &["host", "port", "security", "username", "password_set", "from_address", "from_name", "acknowledge_new_tickets"];

    fn id(&self) -> String {
        self.host.clone()
    }
}

impl Tabular for SmtpSettings {
    const COLUMNS: &'static [Column] =
        &[Column::whole("host"), Column::number("port"), Column::whole("security"), Column::whole("user"), Column::whole("from"), Column::whole("acknowledge")];

    fn row(&self, _layout: &Layout) -> Vec<Cell> {
        vec![
            Cell::new(&self.host, Tone::Strong),
            self.port.to_string().into(),
            self.security.as_str().into(),
            self.username.as_deref().unwrap_or("").into(),
            self.from_address.as_str().into(),
            (if self.acknowledge_new_tickets { "yes" } else { "no" }).into(),
        ]
    }
}
