//! The command line, as clap definitions: the source of `--help`, the shell completions and
//! the man page.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use hdms_api_types::Role;
use hdms_api_types::import::OnConflict;
use hdms_api_types::tickets::{Priority, Satisfaction, Status};

use crate::output::Format;
use hdms_api_types::credentials::DEFAULT_PROFILE;

#[derive(Parser)]
#[command(
    name = "hdms",
    version,
    about = "Administer an hdms help desk from the command line",
    after_help = "Exit codes: 0 ok, 1 failure, 2 usage, 3 validation failed (or import rows refused), \
                  4 authentication needed.\nHDMS_SERVER and HDMS_TOKEN override the saved profile for scripts."
)]
pub struct Cli {
    /// Server URL (default: the profile's, else http://127.0.0.1:8080).
    #[arg(long, env = "HDMS_SERVER", global = true)]
    pub server: Option<String>,

    /// Profile: one saved server and login among several.
    #[arg(long, env = "HDMS_PROFILE", default_value = DEFAULT_PROFILE, global = true)]
    pub profile: String,

    /// Output format (default: table on a terminal, json otherwise).
    #[arg(long, short = 'o', value_enum, global = true)]
    pub output: Option<Format>,

    /// Print bare ids, one per line (for pipes).
    #[arg(long, global = true)]
    pub ids: bool,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Log in and save the session for this profile (in the OS keyring, else a private file).
    Login(LoginArgs),
    /// End the session and forget its tokens.
    Logout,
    /// Show who this profile is logged in as.
    Whoami,
    /// Set your password with the one-time invitation an admin's import gave you, then log in.
    AcceptInvite(AcceptInviteArgs),
    /// Check that the server answers, and print its version.
    Status,
    /// User accounts, and bulk import from CSV.
    #[command(subcommand)]
    Users(UsersCommand),
    /// Teams of agents.
    #[command(subcommand)]
    Teams(TeamsCommand),
    /// Your personal API tokens (for scripts: HDMS_TOKEN=…).
    #[command(subcommand)]
    Tokens(TokensCommand),
    /// Tickets: queues, search, conversation, assignment, status moves, bulk changes.
    #[command(subcommand)]
    Tickets(TicketsCommand),
    /// SLA policies: response and resolution targets in business hours.
    #[command(subcommand)]
    Sla(SlaCommand),
    /// Approvals: what waits on you, deciding, asking.
    #[command(subcommand)]
    Approvals(ApprovalsCommand),
    /// Hand one raw message on stdin to the help desk, for a mail server's pipe or alias
    /// (exit 75 asks the mail server to try again later).
    Mailgate(crate::commands::mail::MailgateArgs),
    /// The email channel: failed mail, bouncing addresses.
    #[command(subcommand)]
    Mail(crate::commands::mail::MailCommand),
    /// Print a shell completion script.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff) to stdout: `hdms man > hdms.1`.
    Man,
}

#[derive(Args)]
pub struct LoginArgs {
    #[arg(long)]
    pub email: Option<String>,
    /// Read the password from the first line of stdin instead of prompting (and, for an
    /// account with SMS login codes, the code from the second line unless `--otp-code`).
    #[arg(long)]
    pub password_stdin: bool,
    /// The SMS login code, for accounts that have them turned on (otherwise asked for).
    #[arg(long)]
    pub otp_code: Option<String>,
}

#[derive(Args)]
pub struct AcceptInviteArgs {
    /// The invitation (`hdms_inv_…`), as it reached you by SMS or from your admin.
    pub token: String,
    /// Read the new password from the first line of stdin instead of prompting.
    #[arg(long)]
    pub password_stdin: bool,
}

#[derive(Subcommand)]
pub enum UsersCommand {
    /// List users, with filters.
    List(UserFilters),
    /// Show users by id or email (`-` reads them from stdin).
    Show {
        #[arg(required = true)]
        users: Vec<String>,
    },
    /// Create a user (without a password they cannot log in until one is set).
    Create {
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: String,
        #[arg(long, value_parser = parse_role)]
        role: Role,
        #[arg(long)]
        phone: Option<String>,
        /// Read the new user's password from the first line of stdin.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Change a user.
    Update {
        /// Id or email.
        user: String,
        #[arg(long)]
        email: Option<String>,
        #[arg(long)]
        name: Option<String>,
        #[arg(long, value_parser = parse_role)]
        role: Option<Role>,
        #[arg(long, conflicts_with = "clear_phone")]
        phone: Option<String>,
        #[arg(long)]
        clear_phone: bool,
        /// `false` deactivates the account (it keeps its history but cannot log in).
        #[arg(long)]
        active: Option<bool>,
    },
    /// Soft-delete users by id or email (`-` reads them from stdin).
    Delete {
        #[arg(required = true)]
        users: Vec<String>,
    },
    /// Restore soft-deleted users by id (`-` reads them from stdin).
    Restore {
        #[arg(required = true)]
        users: Vec<String>,
    },
    /// Import users from a CSV file: header email,name,role[,phone,team,locale,external_id].
    Import(ImportArgs),
}

#[derive(Args, Default)]
pub struct UserFilters {
    #[arg(long, value_parser = parse_role)]
    pub role: Option<Role>,
    /// Team name or id.
    #[arg(long)]
    pub team: Option<String>,
    /// Text in the email or name.
    #[arg(long, short = 'q')]
    pub query: Option<String>,
    /// List soft-deleted users instead (admins).
    #[arg(long)]
    pub deleted: bool,
    /// At most this many users (default: all).
    #[arg(long)]
    pub limit: Option<usize>,
}

#[derive(Args)]
pub struct ImportArgs {
    /// The CSV file (`-` for stdin).
    pub file: PathBuf,
    /// Validate and count everything, change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// What to do with rows whose email already exists.
    #[arg(long, value_enum, default_value = "skip")]
    pub on_conflict: OnConflictArg,
    /// Team (name or id) every imported agent joins unless the row names one.
    #[arg(long)]
    pub team: Option<String>,
    /// Deliver invitations through the server's notification channels (SMS, to rows with a
    /// phone); the report counts the users no channel reaches.
    #[arg(long)]
    pub send_invites: bool,
    /// Print each new user's one-time invitation token.
    #[arg(long)]
    pub print_invites: bool,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum OnConflictArg {
    Skip,
    Update,
    Fail,
}

impl From<OnConflictArg> for OnConflict {
    fn from(arg: OnConflictArg) -> Self {
        match arg {
            OnConflictArg::Skip => OnConflict::Skip,
            OnConflictArg::Update => OnConflict::Update,
            OnConflictArg::Fail => OnConflict::Fail,
        }
    }
}

#[derive(Subcommand)]
pub enum TeamsCommand {
    /// List teams.
    List {
        /// List soft-deleted teams instead (admins).
        #[arg(long)]
        deleted: bool,
    },
    /// Show a team by name or id.
    Show { team: String },
    Create {
        name: String,
        #[arg(long)]
        description: Option<String>,
    },
    /// Rename a team or change its description.
    Update {
        team: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        description: Option<String>,
    },
    Delete { team: String },
    /// Restore a soft-deleted team by id.
    Restore { id: String },
    /// Add users (id or email; `-` reads them from stdin) to a team.
    AddMember {
        team: String,
        #[arg(required = true)]
        users: Vec<String>,
    },
    RemoveMember {
        team: String,
        #[arg(required = true)]
        users: Vec<String>,
    },
}

#[derive(Subcommand)]
pub enum TokensCommand {
    /// Create a token; its secret is printed once.
    Create {
        name: String,
        #[arg(long)]
        expires_in_days: Option<u32>,
    },
    List,
    /// Revoke tokens by id (`-` reads them from stdin).
    Revoke {
        #[arg(required = true, value_name = "ID")]
        tokens: Vec<String>,
    },
}

/// Tickets are named by id or by number (`HD-1042`); `-` reads them from stdin, one a line.
#[derive(Subcommand)]
pub enum TicketsCommand {
    /// List a queue, or search it with `-q` (first 100 unless `--limit`/`--all`).
    List(TicketFilters),
    /// Show tickets; a single one with its SLA and conversation (internal notes marked).
    Show {
        #[arg(required = true, value_name = "TICKET")]
        tickets: Vec<String>,
    },
    /// Raise a ticket (agents on a customer's behalf with `--requester`).
    Create {
        #[arg(long)]
        subject: String,
        /// The description; `-` reads it from stdin.
        #[arg(long)]
        description: String,
        #[arg(long, value_parser = parse_priority)]
        priority: Option<Priority>,
        #[arg(long)]
        category: Option<String>,
        /// A tag (repeat for more).
        #[arg(long = "tag", value_name = "TAG")]
        tags: Vec<String>,
        /// Team name or id.
        #[arg(long)]
        team: Option<String>,
        /// User id or email.
        #[arg(long)]
        requester: Option<String>,
    },
    /// Assign tickets to a person, a team, or the team's next agent in turn.
    Assign {
        #[arg(required = true, value_name = "TICKET")]
        tickets: Vec<String>,
        /// User id or email, `me`, or `none` to unassign.
        #[arg(long, required_unless_present_any = ["team", "round_robin"])]
        to: Option<String>,
        /// Team name or id.
        #[arg(long)]
        team: Option<String>,
        /// The (given or current) team's next active agent.
        #[arg(long, conflicts_with = "to")]
        round_robin: bool,
    },
    /// Move tickets to another status (`hdms tickets transition HD-1042 resolved`).
    Transition {
        /// A ticket, or `-` for ids on stdin.
        ticket: String,
        #[arg(value_parser = parse_status)]
        to: Status,
        /// Added as a public reply with the move.
        #[arg(long)]
        comment: Option<String>,
    },
    /// Reply on a ticket, or add an internal note; the text comes from `--body`, `--body-file`
    /// or stdin.
    Comment {
        ticket: String,
        #[arg(long, conflicts_with = "body_file")]
        body: Option<String>,
        #[arg(long)]
        body_file: Option<PathBuf>,
        /// An internal note, which customers never see.
        #[arg(long)]
        internal: bool,
    },
    /// Follow tickets: their replies reach you (or `--user`, staff only) as notifications.
    Watch {
        #[arg(required = true, value_name = "TICKET")]
        tickets: Vec<String>,
        /// User id or email (default: you).
        #[arg(long)]
        user: Option<String>,
    },
    /// Stop following tickets (you, or `--user`, staff only).
    Unwatch {
        #[arg(required = true, value_name = "TICKET")]
        tickets: Vec<String>,
        /// User id or email (default: you).
        #[arg(long)]
        user: Option<String>,
    },
    /// Who watches a ticket.
    Watchers { ticket: String },
    /// Rate your resolved ticket (`hdms tickets rate HD-1042 good --comment "Quick, thanks"`).
    Rate {
        ticket: String,
        #[arg(value_parser = parse_satisfaction)]
        score: Satisfaction,
        #[arg(long)]
        comment: Option<String>,
    },
    /// Change many tickets at once; each is checked on its own and the outcome printed per
    /// ticket (`hdms tickets list --status open --ids | hdms tickets bulk - --set priority=high`).
    Bulk {
        #[arg(required = true, value_name = "TICKET")]
        tickets: Vec<String>,
        /// `field=value`: priority, category, team, assignee (user, `me` or `none`), tags
        /// (comma list, replacing), add-tag, remove-tag. Repeat for more.
        #[arg(long = "set", value_name = "FIELD=VALUE")]
        set: Vec<String>,
        /// Move each ticket to this status.
        #[arg(long, value_parser = parse_status)]
        status: Option<Status>,
        /// Post this reply on each ticket.
        #[arg(long)]
        reply: Option<String>,
        /// The reply is an internal note.
        #[arg(long, requires = "reply")]
        internal: bool,
    },
}

#[derive(Args, Default)]
pub struct TicketFilters {
    /// Statuses, comma separated.
    #[arg(long)]
    pub status: Option<String>,
    /// User id or email, `me` or `none`.
    #[arg(long)]
    pub assignee: Option<String>,
    /// Team name or id.
    #[arg(long)]
    pub team: Option<String>,
    #[arg(long, value_parser = parse_priority)]
    pub priority: Option<Priority>,
    /// User id or email.
    #[arg(long)]
    pub requester: Option<String>,
    #[arg(long)]
    pub tag: Option<String>,
    /// Only tickets with an SLA target due within this long (`90m`, `4h`, `2d`, or seconds).
    #[arg(long, value_parser = parse_duration_secs)]
    pub breaching_within: Option<i64>,
    /// Full-text search over subjects, descriptions and comments (best match first).
    #[arg(long, short = 'q')]
    pub query: Option<String>,
    /// `-created` (default), `created`, `-updated`, `updated` or `priority`.
    #[arg(long)]
    pub sort: Option<String>,
    /// Soft-deleted tickets instead (admins).
    #[arg(long)]
    pub deleted: bool,
    /// At most this many tickets (default 100).
    #[arg(long, conflicts_with = "all")]
    pub limit: Option<usize>,
    /// Every matching ticket, page after page.
    #[arg(long)]
    pub all: bool,
}

#[derive(Subcommand)]
pub enum SlaCommand {
    /// List SLA policies.
    List,
    /// Show a policy by id.
    Show { id: String },
    /// Create a policy (admins).
    Create(SlaPolicyArgs),
    /// Change a policy (admins): the options given replace those fields.
    Update {
        id: String,
        #[command(flatten)]
        policy: SlaPolicyArgs,
    },
    /// Delete a policy (admins); tickets under it keep their clock.
    Delete { id: String },
}

#[derive(Args, Default)]
pub struct SlaPolicyArgs {
    #[arg(long)]
    pub name: Option<String>,
    #[arg(long, value_parser = parse_priority)]
    pub priority: Option<Priority>,
    /// Only tickets of this category (`""` for any).
    #[arg(long)]
    pub category: Option<String>,
    /// Only tickets of this team, by name or id (`""` for any).
    #[arg(long)]
    pub team: Option<String>,
    /// First-response target in business time (`4h`, `90m`, `1d`, or seconds).
    #[arg(long, value_parser = parse_duration_secs)]
    pub first_response: Option<i64>,
    /// Resolution target in business time.
    #[arg(long, value_parser = parse_duration_secs)]
    pub resolution: Option<i64>,
    /// Warn once this share of a target is used.
    #[arg(long)]
    pub warning_percent: Option<u8>,
    /// IANA time zone of the business hours, e.g. Europe/Berlin.
    #[arg(long)]
    pub time_zone: Option<String>,
    /// Working days: `mon-fri`, or a list such as `mon,tue,thu`.
    #[arg(long)]
    pub working_days: Option<String>,
    /// Opening time, `09:00`.
    #[arg(long)]
    pub opens: Option<String>,
    /// Closing time, `17:00` (`00:00` is midnight at the end of the day).
    #[arg(long)]
    pub closes: Option<String>,
    /// A holiday, `2026-12-25` (repeat for more; replaces the list).
    #[arg(long = "holiday", value_name = "DATE")]
    pub holidays: Vec<String>,
}

#[derive(Subcommand)]
pub enum ApprovalsCommand {
    /// The approvals waiting on you, or all of one ticket's with `--ticket`.
    List {
        #[arg(long)]
        ticket: Option<String>,
    },
    /// Approve (ids from stdin with `-`).
    Approve {
        #[arg(required = true, value_name = "ID")]
        approvals: Vec<String>,
        #[arg(long)]
        comment: Option<String>,
    },
    /// Reject, with the reason the requester will read.
    Reject {
        #[arg(required = true, value_name = "ID")]
        approvals: Vec<String>,
        #[arg(long)]
        comment: String,
    },
    /// Ask for approval of a ticket (it waits in pending_approval until decided).
    Request {
        ticket: String,
        /// A user (id or email) or `role:supervisor`; repeat for more.
        #[arg(long = "approver", required = true, value_name = "APPROVER")]
        approvers: Vec<String>,
        /// `any`: one approval is enough; `all`: every approver must approve.
        #[arg(long, value_parser = ["any", "all"], default_value = "any")]
        rule: String,
        #[arg(long)]
        reason: Option<String>,
    },
}

fn parse_priority(value: &str) -> Result<Priority, String> {
    value.parse()
}

fn parse_status(value: &str) -> Result<Status, String> {
    value.parse()
}

fn parse_satisfaction(value: &str) -> Result<Satisfaction, String> {
    value.parse()
}

/// `4h`, `90m`, `2d`, `1h 30m`, or whole seconds.
pub fn parse_duration_secs(value: &str) -> Result<i64, String> {
    if let Ok(secs) = value.trim().parse::<i64>() {
        return Ok(secs);
    }
    let duration = humantime::parse_duration(value.trim()).map_err(|err| format!("'{value}' is not a duration such as 4h or 90m: {err}"))?;
    i64::try_from(duration.as_secs()).map_err(|_| format!("'{value}' is too long"))
}

fn parse_role(value: &str) -> Result<Role, String> {
    value.parse::<Role>().map_err(|err| err.to_string())
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn definitions_are_consistent() {
        super::Cli::command().debug_assert();
    }

    #[test]
    fn durations_take_units_or_seconds() {
        use super::parse_duration_secs;
        assert_eq!(parse_duration_secs("90"), Ok(90));
        assert_eq!(parse_duration_secs("4h"), Ok(4 * 3600));
        assert_eq!(parse_duration_secs("1h 30m"), Ok(5400));
        assert_eq!(parse_duration_secs("2d"), Ok(2 * 86400));
        assert!(parse_duration_secs("soon").is_err());
    }
}
