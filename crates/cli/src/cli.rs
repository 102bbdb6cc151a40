//! The command line, as clap definitions: the source of `--help`, the shell completions and
//! the man page. Every command and option has a help line and every command ends its help with
//! examples (a test walks the tree); options with a fixed set of values list and complete them.

use std::path::PathBuf;

use clap::builder::{EnumValueParser, PossibleValue, TypedValueParser};
use clap::{Args, Parser, Subcommand};
use hdms_api_types::Role;
use hdms_api_types::approvals::ApprovalRule;
use hdms_api_types::import::OnConflict;
use hdms_api_types::metrics::ReportBucket;
use hdms_api_types::tickets::{Priority, Satisfaction, Status};
use hdms_api_types::webhooks::WebhookEventType;

use crate::output::Format;
use hdms_api_types::credentials::DEFAULT_PROFILE;

/// `Examples:` and the given command lines, for a command's `after_help`.
macro_rules! examples {
    ($($line:literal),+ $(,)?) => {
        concat!("Examples:", $("\n  ", $line),+)
    };
}

/// A wire enum as a set of values clap lists, completes and suggests from (`--role <customer|…>`).
macro_rules! choices {
    ($arg:ident for $ty:ident { $($variant:ident => $help:literal),+ $(,)? }) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub struct $arg(pub $ty);

        impl clap::ValueEnum for $arg {
            fn value_variants<'a>() -> &'a [Self] {
                &[$($arg($ty::$variant)),+]
            }

            fn to_possible_value(&self) -> Option<PossibleValue> {
                Some(match self.0 {
                    $($ty::$variant => PossibleValue::new($ty::$variant.as_str()).help($help)),+
                })
            }
        }

        impl $arg {
            /// Parses to the wire type itself, case-insensitively with `ignore_case`.
            pub fn parser() -> impl TypedValueParser<Value = $ty> {
                EnumValueParser::<$arg>::new().map(|choice| choice.0)
            }
        }
    };
}

choices!(RoleArg for Role {
    Customer => "raises tickets and sees only their own",
    Agent => "works the tickets of their teams",
    Supervisor => "an agent who also sees every team and its metrics",
    Admin => "everything, including users, teams and settings",
});

choices!(PriorityArg for Priority {
    Low => "whenever there is time",
    Normal => "the default",
    High => "before normal work",
    Urgent => "now",
});

choices!(StatusArg for Status {
    New => "raised, nobody has looked yet",
    Open => "triaged, waiting for work",
    InProgress => "someone works on it",
    PendingCustomer => "waiting for the customer (SLA clock stops)",
    PendingApproval => "waiting for an approval (SLA clock stops)",
    Resolved => "done; closes by itself later",
    Closed => "final",
    Cancelled => "final, without a resolution",
});

choices!(ScoreArg for Satisfaction {
    Good => "the ticket was handled well",
    Bad => "it was not",
});

choices!(OnConflictArg for OnConflict {
    Skip => "leave existing users as they are (the default)",
    Update => "update existing users from the row",
    Fail => "refuse the row",
});

choices!(BucketArg for ReportBucket {
    Day => "one row per local day (windows up to 366 days)",
    Hour => "one row per local hour (windows up to 31 days)",
    Window => "one row for the whole window (totals; medians over all of it)",
});

choices!(RuleArg for ApprovalRule {
    Any => "one approval is enough",
    All => "every approver must approve",
});

choices!(EventArg for WebhookEventType {
    TicketCreated => "a ticket was raised",
    TicketUpdated => "a ticket's fields, status, assignee, team or tags changed",
    CommentCreated => "a reply or an internal note was added",
    TicketSlaBreached => "a ticket missed an SLA target",
    ApprovalDecided => "an approval was approved or rejected",
    UserCreated => "a user account was made",
});

/// The queue's orders.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Sort {
    /// Newest first (the default).
    #[value(name = "-created")]
    NewestFirst,
    /// Oldest first.
    #[value(name = "created")]
    OldestFirst,
    /// Most recently changed first.
    #[value(name = "-updated")]
    RecentlyUpdatedFirst,
    /// Least recently changed first.
    #[value(name = "updated")]
    LeastRecentlyUpdatedFirst,
    /// Most urgent first.
    #[value(name = "priority")]
    Priority,
}

impl Sort {
    pub fn as_str(self) -> &'static str {
        match self {
            Sort::NewestFirst => "-created",
            Sort::OldestFirst => "created",
            Sort::RecentlyUpdatedFirst => "-updated",
            Sort::LeastRecentlyUpdatedFirst => "updated",
            Sort::Priority => "priority",
        }
    }
}

/// Where `--help` lists the options every command takes.
const GLOBAL: &str = "Global options";

#[derive(Parser)]
#[command(
    name = "hdms",
    version,
    about = "Administer an hdms help desk from the command line",
    after_help = concat!(
        examples!(
            "hdms login --server https://desk.example.com --email admin@example.com",
            "hdms tickets list --assignee me --status open,in_progress",
        ),
        "\n\nExit codes: 0 ok, 1 failure, 2 usage, 3 validation failed (or import rows refused), \
         4 authentication needed.\nHDMS_SERVER and HDMS_TOKEN override the saved profile for scripts; \
         NO_COLOR turns colour off."
    )
)]
pub struct Cli {
    /// Server URL (default: the profile's, else http://127.0.0.1:8080).
    #[arg(long, env = "HDMS_SERVER", global = true, help_heading = GLOBAL)]
    pub server: Option<String>,

    /// Profile: one saved server and login among several.
    #[arg(long, env = "HDMS_PROFILE", default_value = DEFAULT_PROFILE, global = true, help_heading = GLOBAL)]
    pub profile: String,

    /// Output format (default: table on a terminal, json otherwise).
    #[arg(long, short = 'o', value_enum, global = true, help_heading = GLOBAL)]
    pub output: Option<Format>,

    /// Print bare ids, one per line (for pipes).
    #[arg(long, global = true, help_heading = GLOBAL)]
    pub ids: bool,

    /// JSON or CSV with only these fields, comma separated (JSON unless `-o csv`).
    #[arg(long, global = true, value_delimiter = ',', value_name = "FIELD,…", help_heading = GLOBAL)]
    pub fields: Option<Vec<String>>,

    /// Tables with every column (ids included), nothing cut to the terminal's width.
    #[arg(long, global = true, help_heading = GLOBAL)]
    pub wide: bool,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Log in and save the session for this profile (in the OS keyring, else a private file).
    #[command(after_help = examples!(
        "hdms login --server https://desk.example.com --email admin@example.com",
        "printf '%s\\n' \"$PASSWORD\" | hdms login --email bot@example.com --password-stdin",
    ))]
    Login(LoginArgs),
    /// End the session and forget its tokens.
    #[command(after_help = examples!("hdms logout", "hdms logout --profile staging"))]
    Logout,
    /// Show who this profile is logged in as.
    #[command(after_help = examples!("hdms whoami", "hdms whoami -o json"))]
    Whoami,
    /// Set your password with the one-time invitation an admin's import gave you, then log in.
    #[command(after_help = examples!("hdms accept-invite hdms_inv_3kX9… --server https://desk.example.com"))]
    AcceptInvite(AcceptInviteArgs),
    /// Check that the server answers, and print its version.
    #[command(after_help = examples!("hdms status", "hdms status --server http://127.0.0.1:8080"))]
    Status,
    /// User accounts, and bulk import from CSV.
    #[command(subcommand, after_help = examples!("hdms users list --role agent", "hdms users import staff.csv --dry-run"))]
    Users(UsersCommand),
    /// Teams of agents.
    #[command(subcommand, after_help = examples!("hdms teams list", "hdms teams add-member Support ada@example.com"))]
    Teams(TeamsCommand),
    /// Your personal API tokens (for scripts: HDMS_TOKEN=…).
    #[command(subcommand, after_help = examples!("hdms tokens create nightly-sync --expires-in-days 30", "hdms tokens list"))]
    Tokens(TokensCommand),
    /// Tickets: queues, search, conversation, assignment, status moves, bulk changes.
    #[command(subcommand, after_help = examples!("hdms tickets list --assignee me", "hdms tickets show HD-1042"))]
    Tickets(TicketsCommand),
    /// SLA policies: response and resolution targets in business hours.
    #[command(subcommand, after_help = examples!("hdms sla list", "hdms sla create --name Urgent --priority urgent --first-response 1h --resolution 8h"))]
    Sla(SlaCommand),
    /// Approvals: what waits on you, deciding, asking.
    #[command(subcommand, after_help = examples!("hdms approvals list", "hdms approvals list --ids | hdms approvals approve - --comment ok"))]
    Approvals(ApprovalsCommand),
    /// Reports over time for supervisors and admins: volume, backlog, response times, SLA,
    /// satisfaction, per agent.
    #[command(after_help = examples!(
        "hdms reports volume --team Support --since 30d",
        "hdms reports times --since 7d --bucket day -o csv > times.csv",
        "hdms reports agents --team Support --from 2026-11-01 --to 2026-11-30 --tz Europe/Berlin -o json",
    ))]
    Reports(ReportArgs),
    /// Hand one raw message on stdin to the help desk, for a mail server's pipe or alias
    /// (exit 75 asks the mail server to try again later).
    #[command(after_help = examples!(
        "hdms mailgate --token-file /etc/hdms/mailgate.token < message.eml",
        "\"|/usr/local/bin/hdms mailgate --server https://desk.example.com --token-file /etc/hdms/mailgate.token\"  (an /etc/aliases pipe)"
    ))]
    Mailgate(crate::commands::mail::MailgateArgs),
    /// The email channel: failed mail, bouncing addresses.
    #[command(subcommand, after_help = examples!("hdms mail failed list", "hdms mail failing list"))]
    Mail(crate::commands::mail::MailCommand),
    /// Outgoing webhooks: endpoints, their delivery log, redelivery, a test ping (admins).
    #[command(subcommand, after_help = examples!(
        "hdms webhooks create --url https://crm.example.com/hdms --event ticket.created,comment.created",
        "hdms webhooks deliveries 0193e0a1-0000-7000-8000-000000000000 --state failed",
    ))]
    Webhooks(WebhooksCommand),
    /// Automation rules: triggers, conditions, actions; dry runs (admins).
    #[command(subcommand, after_help = examples!(
        "hdms rules list",
        "hdms rules create --file urgent.json",
        "hdms rules test 'Resolve stale' --ticket HD-1042",
    ))]
    Rules(crate::commands::rules::RulesCommand),
    /// Print a shell completion script.
    #[command(after_help = examples!("hdms completions bash > /etc/bash_completion.d/hdms", "hdms completions zsh > ~/.zfunc/_hdms"))]
    Completions {
        /// The shell to complete in.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff) to stdout.
    #[command(after_help = examples!("hdms man > hdms.1", "hdms man | man -l -"))]
    Man,
}

/// The reports the server keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportKind {
    /// Tickets created, resolved and reopened.
    Volume,
    /// Tickets not yet done at the end of each bucket, by status.
    Backlog,
    /// Median and 90th-percentile first response and resolution times.
    Times,
    /// Resolutions within SLA, and SLA breaches.
    Sla,
    /// Satisfaction ratings, good and bad.
    Satisfaction,
    /// Per agent: tickets assigned, public replies, tickets resolved.
    Agents,
}

#[derive(Args)]
pub struct ReportArgs {
    /// Which report.
    #[arg(value_enum)]
    pub kind: ReportKind,
    /// One team (name or id); without it, the whole desk (admins only).
    #[arg(long)]
    pub team: Option<String>,
    /// How far back, up to `--to`: `30d`, `2w`, `48h` (part of a day counts as a day; default 30d).
    #[arg(long, conflicts_with = "from")]
    pub since: Option<humantime::Duration>,
    /// The window's first local date, `YYYY-MM-DD`.
    #[arg(long, value_name = "DATE")]
    pub from: Option<chrono::NaiveDate>,
    /// The window's last local date, included (default: today).
    #[arg(long, value_name = "DATE")]
    pub to: Option<chrono::NaiveDate>,
    /// One row per local day or hour.
    #[arg(long, default_value = "day", value_parser = BucketArg::parser(), ignore_case = true)]
    pub bucket: ReportBucket,
    /// The IANA time zone days and hours are counted in (default: this machine's).
    #[arg(long, value_name = "ZONE")]
    pub tz: Option<String>,
}

#[derive(Args)]
pub struct LoginArgs {
    /// Your email (default: the profile's last one; asked for on a terminal).
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
    #[command(after_help = examples!("hdms users list --role agent --team Support", "hdms users list --role customer --ids | hdms users delete -"))]
    List(UserFilters),
    /// Show users by id or email (`-` reads them from stdin).
    #[command(after_help = examples!("hdms users show ada@example.com", "hdms users show ada@example.com -o json"))]
    Show {
        /// Ids or emails, or `-` for stdin.
        #[arg(required = true, value_name = "USER")]
        users: Vec<String>,
    },
    /// Create a user (without a password they cannot log in until one is set).
    #[command(after_help = examples!(
        "hdms users create --email ada@example.com --name \"Ada Lovelace\" --role agent",
        "echo \"$PASSWORD\" | hdms users create --email bot@example.com --name Bot --role admin --password-stdin",
    ))]
    Create {
        /// Their email, which they log in with.
        #[arg(long)]
        email: String,
        /// Their name, as others see it.
        #[arg(long)]
        name: String,
        /// What they may do.
        #[arg(long, value_parser = RoleArg::parser(), ignore_case = true)]
        role: Role,
        /// Mobile number in E.164 form (`+14155552671`), for SMS.
        #[arg(long)]
        phone: Option<String>,
        /// Read the new user's password from the first line of stdin.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Change a user.
    #[command(after_help = examples!("hdms users update ada@example.com --role supervisor", "hdms users update ada@example.com --active false"))]
    Update {
        /// Id or email.
        user: String,
        /// A new email.
        #[arg(long)]
        email: Option<String>,
        /// A new name.
        #[arg(long)]
        name: Option<String>,
        /// A new role.
        #[arg(long, value_parser = RoleArg::parser(), ignore_case = true)]
        role: Option<Role>,
        /// A new mobile number (E.164); undoes its verification.
        #[arg(long, conflicts_with = "clear_phone")]
        phone: Option<String>,
        /// Remove the mobile number.
        #[arg(long)]
        clear_phone: bool,
        /// `false` deactivates the account (it keeps its history but cannot log in).
        #[arg(long)]
        active: Option<bool>,
    },
    /// Soft-delete users by id or email (`-` reads them from stdin).
    #[command(after_help = examples!("hdms users delete ada@example.com", "hdms users list --role customer --ids | hdms users delete -"))]
    Delete {
        /// Ids or emails, or `-` for stdin.
        #[arg(required = true, value_name = "USER")]
        users: Vec<String>,
    },
    /// Restore soft-deleted users by id or email (`-` reads them from stdin).
    #[command(after_help = examples!("hdms users restore ada@example.com", "hdms users list --deleted --ids | hdms users restore -"))]
    Restore {
        /// Ids or emails, or `-` for stdin.
        #[arg(required = true, value_name = "USER")]
        users: Vec<String>,
    },
    /// Import users from a CSV file: header email,name,role[,phone,team,locale,external_id].
    #[command(after_help = examples!("hdms users import staff.csv --dry-run", "hdms users import staff.csv --team Support --print-invites"))]
    Import(ImportArgs),
}

#[derive(Args, Default)]
pub struct UserFilters {
    /// Only users with this role.
    #[arg(long, value_parser = RoleArg::parser(), ignore_case = true)]
    pub role: Option<Role>,
    /// Only members of this team (name or id).
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
    #[arg(long, value_parser = OnConflictArg::parser(), ignore_case = true, default_value = "skip")]
    pub on_conflict: OnConflict,
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

#[derive(Subcommand)]
pub enum TeamsCommand {
    /// List teams.
    #[command(after_help = examples!("hdms teams list", "hdms teams list --deleted"))]
    List {
        /// List soft-deleted teams instead (admins).
        #[arg(long)]
        deleted: bool,
    },
    /// Show a team by name or id, with its members.
    #[command(after_help = examples!("hdms teams show Support", "hdms teams show Support -o json"))]
    Show {
        /// Name or id.
        team: String,
    },
    /// Create a team (admins).
    #[command(after_help = examples!("hdms teams create Support --description \"First line\""))]
    Create {
        /// The team's name, unique.
        name: String,
        /// What the team does.
        #[arg(long)]
        description: Option<String>,
    },
    /// Rename a team or change its description.
    #[command(after_help = examples!("hdms teams update Support --name \"Tier 1\""))]
    Update {
        /// Name or id.
        team: String,
        /// A new name.
        #[arg(long)]
        name: Option<String>,
        /// A new description.
        #[arg(long)]
        description: Option<String>,
    },
    /// Soft-delete a team.
    #[command(after_help = examples!("hdms teams delete \"Tier 1\""))]
    Delete {
        /// Name or id.
        team: String,
    },
    /// Restore a soft-deleted team by id.
    #[command(after_help = examples!("hdms teams list --deleted --ids | head -n1 | xargs hdms teams restore"))]
    Restore {
        /// The team's id (`hdms teams list --deleted`).
        id: String,
    },
    /// Add users (id or email; `-` reads them from stdin) to a team.
    #[command(after_help = examples!("hdms teams add-member Support ada@example.com grace@example.com", "hdms users list --role agent --ids | hdms teams add-member Support -"))]
    AddMember {
        /// Name or id.
        team: String,
        /// Ids or emails, or `-` for stdin.
        #[arg(required = true, value_name = "USER")]
        users: Vec<String>,
    },
    /// Remove users (id or email; `-` reads them from stdin) from a team.
    #[command(after_help = examples!("hdms teams remove-member Support ada@example.com"))]
    RemoveMember {
        /// Name or id.
        team: String,
        /// Ids or emails, or `-` for stdin.
        #[arg(required = true, value_name = "USER")]
        users: Vec<String>,
    },
}

#[derive(Subcommand)]
pub enum TokensCommand {
    /// Create a token; its secret is printed once.
    #[command(after_help = examples!("hdms tokens create nightly-sync --expires-in-days 30", "HDMS_TOKEN=$(hdms tokens create ci -o json | jq -r .secret) hdms whoami", "hdms tokens create mailgate --scope mail.ingest > /etc/hdms/mailgate.token"))]
    Create {
        /// What the token is for, to recognise it in the list.
        name: String,
        /// Days until it expires (default: until revoked).
        #[arg(long)]
        expires_in_days: Option<u32>,
        /// Limit it to one action (docs/roles-and-permissions.md), e.g. `mail.ingest` for
        /// `hdms mailgate`: it then works on nothing else.
        #[arg(long)]
        scope: Option<String>,
    },
    /// List your tokens (never their secrets).
    #[command(after_help = examples!("hdms tokens list", "hdms tokens list --wide"))]
    List,
    /// Revoke tokens by id (`-` reads them from stdin).
    #[command(after_help = examples!("hdms tokens revoke 0193a5c4-…", "hdms tokens list --ids | hdms tokens revoke -"))]
    Revoke {
        /// Token ids (`hdms tokens list --ids`), or `-` for stdin.
        #[arg(required = true, value_name = "ID")]
        tokens: Vec<String>,
    },
}

/// Tickets are named by id or by number (`HD-1042`); `-` reads them from stdin, one a line.
#[derive(Subcommand)]
pub enum TicketsCommand {
    /// List a queue, or search it with `-q` (first 100 unless `--limit`/`--all`).
    #[command(after_help = examples!(
        "hdms tickets list --assignee me --status open,in_progress",
        "hdms tickets list -q \"vpn drops\" --breaching-within 4h -o json",
    ))]
    List(TicketFilters),
    /// Show a ticket: people, SLA, approvals, description, attachments, links, conversation.
    #[command(after_help = examples!("hdms tickets show HD-1042", "hdms tickets show HD-1042 -o json | jq '.comments | length'"))]
    Show {
        /// Numbers (`HD-1042`) or ids, or `-` for stdin; several print a list.
        #[arg(required = true, value_name = "TICKET")]
        tickets: Vec<String>,
    },
    /// Raise a ticket (agents on a customer's behalf with `--requester`).
    #[command(after_help = examples!(
        "hdms tickets create --subject \"Printer jams\" --description \"Floor 3, every job\" --priority high",
        "journalctl -u cups | hdms tickets create --subject \"CUPS errors\" --description - --team Support",
    ))]
    Create {
        /// One line saying what is wrong.
        #[arg(long)]
        subject: String,
        /// The description; `-` reads it from stdin.
        #[arg(long)]
        description: String,
        /// How urgent (default normal).
        #[arg(long, value_parser = PriorityArg::parser(), ignore_case = true)]
        priority: Option<Priority>,
        /// A category (approval rules and SLA policies can depend on it).
        #[arg(long)]
        category: Option<String>,
        /// A tag (repeat for more).
        #[arg(long = "tag", value_name = "TAG")]
        tags: Vec<String>,
        /// Team name or id.
        #[arg(long)]
        team: Option<String>,
        /// The customer it is for: user id or email (agents).
        #[arg(long)]
        requester: Option<String>,
    },
    /// Assign tickets to a person, a team, or the team's next agent in turn.
    #[command(after_help = examples!("hdms tickets assign HD-1042 --to ada@example.com", "hdms tickets assign HD-1042 --team Support --round-robin"))]
    Assign {
        /// Numbers or ids, or `-` for stdin.
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
    /// Move tickets to another status.
    #[command(after_help = examples!("hdms tickets transition HD-1042 resolved --comment \"Fixed, thanks\"", "hdms tickets list --status new --ids | hdms tickets transition - open"))]
    Transition {
        /// A ticket, or `-` for ids on stdin.
        ticket: String,
        /// The status to move to.
        #[arg(value_parser = StatusArg::parser(), ignore_case = true)]
        to: Status,
        /// Added as a public reply with the move.
        #[arg(long)]
        comment: Option<String>,
    },
    /// Reply on a ticket, or add an internal note; the text comes from `--body`, `--body-file`
    /// or stdin.
    #[command(after_help = examples!("hdms tickets comment HD-1042 --body \"On my way\"", "echo \"Restarted the print server\" | hdms tickets comment HD-1042 --internal"))]
    Comment {
        /// Number or id.
        ticket: String,
        /// The text.
        #[arg(long, conflicts_with = "body_file")]
        body: Option<String>,
        /// A file with the text (`-` for stdin).
        #[arg(long)]
        body_file: Option<PathBuf>,
        /// An internal note, which customers never see.
        #[arg(long)]
        internal: bool,
    },
    /// Follow tickets: their replies reach you (or `--user`, staff only) as notifications.
    #[command(after_help = examples!("hdms tickets watch HD-1042", "hdms tickets watch HD-1042 --user ada@example.com"))]
    Watch {
        /// Numbers or ids, or `-` for stdin.
        #[arg(required = true, value_name = "TICKET")]
        tickets: Vec<String>,
        /// User id or email (default: you).
        #[arg(long)]
        user: Option<String>,
    },
    /// Stop following tickets (you, or `--user`, staff only).
    #[command(after_help = examples!("hdms tickets unwatch HD-1042", "hdms tickets unwatch HD-1042 --user ada@example.com"))]
    Unwatch {
        /// Numbers or ids, or `-` for stdin.
        #[arg(required = true, value_name = "TICKET")]
        tickets: Vec<String>,
        /// User id or email (default: you).
        #[arg(long)]
        user: Option<String>,
    },
    /// Who watches a ticket.
    #[command(after_help = examples!("hdms tickets watchers HD-1042"))]
    Watchers {
        /// Number or id.
        ticket: String,
    },
    /// Rate your resolved ticket.
    #[command(after_help = examples!("hdms tickets rate HD-1042 good --comment \"Quick, thanks\""))]
    Rate {
        /// Number or id.
        ticket: String,
        /// How it went.
        #[arg(value_parser = ScoreArg::parser(), ignore_case = true)]
        score: Satisfaction,
        /// A word for the team.
        #[arg(long)]
        comment: Option<String>,
    },
    /// Change many tickets at once; each is checked on its own and the outcome printed per
    /// ticket.
    #[command(after_help = examples!(
        "hdms tickets list --status open --ids | hdms tickets bulk - --set priority=high --set add-tag=outage",
        "hdms tickets bulk HD-1042 HD-1043 --status resolved --reply \"Fixed by the restart\"",
    ))]
    Bulk {
        /// Numbers or ids, or `-` for stdin.
        #[arg(required = true, value_name = "TICKET")]
        tickets: Vec<String>,
        /// `field=value`: priority, category, team, assignee (user, `me` or `none`), tags
        /// (comma list, replacing), add-tag, remove-tag. Repeat for more.
        #[arg(long = "set", value_name = "FIELD=VALUE")]
        set: Vec<String>,
        /// Move each ticket to this status.
        #[arg(long, value_parser = StatusArg::parser(), ignore_case = true)]
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
    /// Only these statuses (comma separated).
    #[arg(long, value_parser = StatusArg::parser(), ignore_case = true, value_delimiter = ',')]
    pub status: Vec<Status>,
    /// Assigned to: user id or email, `me` or `none`.
    #[arg(long)]
    pub assignee: Option<String>,
    /// Team name or id.
    #[arg(long)]
    pub team: Option<String>,
    /// Only this priority.
    #[arg(long, value_parser = PriorityArg::parser(), ignore_case = true)]
    pub priority: Option<Priority>,
    /// Raised by: user id or email.
    #[arg(long)]
    pub requester: Option<String>,
    /// Only tickets with this tag.
    #[arg(long)]
    pub tag: Option<String>,
    /// Only tickets with an SLA target due within this long (`90m`, `4h`, `2d`, or seconds).
    #[arg(long, value_parser = parse_duration_secs)]
    pub breaching_within: Option<i64>,
    /// Full-text search over subjects, descriptions and comments (best match first).
    #[arg(long, short = 'q')]
    pub query: Option<String>,
    /// The order (default `-created`, newest first).
    #[arg(long, value_enum, allow_hyphen_values = true)]
    pub sort: Option<Sort>,
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
    #[command(after_help = examples!("hdms sla list", "hdms sla list --wide"))]
    List,
    /// Show a policy by id.
    #[command(after_help = examples!("hdms sla show 0193a5c4-…"))]
    Show {
        /// The policy's id (`hdms sla list --ids`).
        id: String,
    },
    /// Create a policy (admins).
    #[command(after_help = examples!(
        "hdms sla create --name Urgent --priority urgent --first-response 1h --resolution 8h",
        "hdms sla create --name Berlin --priority normal --first-response 4h --resolution 2d --time-zone Europe/Berlin --working-days mon-fri --opens 09:00 --closes 17:00",
    ))]
    Create(SlaPolicyArgs),
    /// Change a policy (admins): the options given replace those fields.
    #[command(after_help = examples!("hdms sla update 0193a5c4-… --resolution 6h", "hdms sla update 0193a5c4-… --holiday 2026-12-25 --holiday 2026-12-26"))]
    Update {
        /// The policy's id.
        id: String,
        #[command(flatten)]
        policy: SlaPolicyArgs,
    },
    /// Delete a policy (admins); tickets under it keep their clock.
    #[command(after_help = examples!("hdms sla delete 0193a5c4-…"))]
    Delete {
        /// The policy's id.
        id: String,
    },
}

#[derive(Args, Default)]
pub struct SlaPolicyArgs {
    /// The policy's name.
    #[arg(long)]
    pub name: Option<String>,
    /// The tickets' priority it applies to.
    #[arg(long, value_parser = PriorityArg::parser(), ignore_case = true)]
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
    /// Warn once this share of a target is used (percent).
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
    #[command(after_help = examples!("hdms approvals list", "hdms approvals list --ticket HD-1042"))]
    List {
        /// A ticket (number or id) whose approvals to list.
        #[arg(long)]
        ticket: Option<String>,
    },
    /// Approve (ids from stdin with `-`).
    #[command(after_help = examples!("hdms approvals approve 0193a5c4-… --comment ok", "hdms approvals list --ids | hdms approvals approve -"))]
    Approve {
        /// Approval ids (`hdms approvals list --ids`), or `-` for stdin.
        #[arg(required = true, value_name = "ID")]
        approvals: Vec<String>,
        /// A note for the requester.
        #[arg(long)]
        comment: Option<String>,
    },
    /// Reject, with the reason the requester will read.
    #[command(after_help = examples!("hdms approvals reject 0193a5c4-… --comment \"Not in this budget\""))]
    Reject {
        /// Approval ids, or `-` for stdin.
        #[arg(required = true, value_name = "ID")]
        approvals: Vec<String>,
        /// Why (the ticket is cancelled with it).
        #[arg(long)]
        comment: String,
    },
    /// Ask for approval of a ticket (it waits in pending_approval until decided).
    #[command(after_help = examples!(
        "hdms approvals request HD-1042 --approver role:supervisor --reason \"New laptop\"",
        "hdms approvals request HD-1042 --approver ada@example.com --approver grace@example.com --rule all",
    ))]
    Request {
        /// Number or id.
        ticket: String,
        /// A user (id or email) or `role:supervisor`; repeat for more.
        #[arg(long = "approver", required = true, value_name = "APPROVER")]
        approvers: Vec<String>,
        /// Whether one approval is enough.
        #[arg(long, value_parser = RuleArg::parser(), ignore_case = true, default_value = "any")]
        rule: ApprovalRule,
        /// Why it needs approval, for the approvers.
        #[arg(long)]
        reason: Option<String>,
    },
}

/// `4h`, `90m`, `2d`, `1h 30m`, or whole seconds.
pub fn parse_duration_secs(value: &str) -> Result<i64, String> {
    if let Ok(secs) = value.trim().parse::<i64>() {
        return Ok(secs);
    }
    let duration = humantime::parse_duration(value.trim()).map_err(|err| format!("'{value}' is not a duration such as 4h or 90m: {err}"))?;
    i64::try_from(duration.as_secs()).map_err(|_| format!("'{value}' is too long"))
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

#[derive(Subcommand)]
pub enum WebhooksCommand {
    /// List the endpoints.
    #[command(after_help = examples!("hdms webhooks list", "hdms webhooks list -o json"))]
    List,
    /// Show one endpoint.
    #[command(after_help = examples!("hdms webhooks show 0193e0a1-0000-7000-8000-000000000000", "hdms webhooks show https://crm.example.com/hdms"))]
    Show {
        /// The endpoint's id or URL.
        endpoint: String,
    },
    /// Register an endpoint; prints its signing secret, shown this once.
    #[command(after_help = examples!(
        "hdms webhooks create --url https://crm.example.com/hdms --event ticket.created --event ticket.updated",
        "hdms webhooks create --url https://chat.example.com/hook --event ticket.sla_breached --description 'on-call channel' --disabled",
    ))]
    Create {
        /// Where to POST (https://… preferably).
        #[arg(long)]
        url: String,
        /// An event to send (repeat it, or separate with commas).
        #[arg(long = "event", required = true, value_delimiter = ',', value_parser = EventArg::parser())]
        events: Vec<WebhookEventType>,
        /// What the endpoint is for.
        #[arg(long)]
        description: Option<String>,
        /// Register it turned off.
        #[arg(long)]
        disabled: bool,
    },
    /// Change an endpoint's URL, events or description, or give it a new secret.
    #[command(after_help = examples!(
        "hdms webhooks update 0193e0a1-0000-7000-8000-000000000000 --event ticket.created,user.created",
        "hdms webhooks update https://crm.example.com/hdms --rotate-secret",
    ))]
    Update {
        /// The endpoint's id or URL.
        endpoint: String,
        /// A new URL.
        #[arg(long)]
        url: Option<String>,
        /// The events to send from now on (replaces the list; repeat or separate with commas).
        #[arg(long = "event", value_delimiter = ',', value_parser = EventArg::parser())]
        events: Vec<WebhookEventType>,
        /// A new description.
        #[arg(long)]
        description: Option<String>,
        /// Make a new signing secret (printed once); the old one stops working at once.
        #[arg(long)]
        rotate_secret: bool,
    },
    /// Turn endpoints on (their waiting deliveries go out).
    #[command(after_help = examples!("hdms webhooks enable 0193e0a1-0000-7000-8000-000000000000", "hdms webhooks list --ids | hdms webhooks enable -"))]
    Enable {
        /// Ids or URLs of endpoints, or `-` to read them from stdin.
        #[arg(required = true)]
        endpoints: Vec<String>,
    },
    /// Turn endpoints off (deliveries wait for them).
    #[command(after_help = examples!("hdms webhooks disable 0193e0a1-0000-7000-8000-000000000000", "hdms webhooks list --ids | hdms webhooks disable -"))]
    Disable {
        /// Ids or URLs of endpoints, or `-` to read them from stdin.
        #[arg(required = true)]
        endpoints: Vec<String>,
    },
    /// Delete endpoints with their delivery logs.
    #[command(after_help = examples!("hdms webhooks delete 0193e0a1-0000-7000-8000-000000000000", "hdms webhooks delete https://old.example.com/hook"))]
    Delete {
        /// Ids or URLs of endpoints, or `-` to read them from stdin.
        #[arg(required = true)]
        endpoints: Vec<String>,
    },
    /// An endpoint's delivery log, newest first; with a delivery id, that delivery's payload and attempts.
    #[command(after_help = examples!(
        "hdms webhooks deliveries 0193e0a1-0000-7000-8000-000000000000 --state failed",
        "hdms webhooks deliveries 0193e0a1-0000-7000-8000-000000000000 0193e0b2-0000-7000-8000-000000000000",
    ))]
    Deliveries {
        /// The endpoint's id or URL.
        endpoint: String,
        /// One delivery's id: show its payload and every attempt.
        delivery: Option<String>,
        /// Only deliveries in this state.
        #[arg(long, value_parser = ["pending", "sending", "delivered", "failed"])]
        state: Option<String>,
        /// At most this many (default 50, at most 500).
        #[arg(long)]
        limit: Option<u32>,
    },
    /// Send deliveries again, with the same webhook-id (`-` reads delivery ids from stdin).
    #[command(after_help = examples!(
        "hdms webhooks redeliver 0193e0a1-0000-7000-8000-000000000000 0193e0b2-0000-7000-8000-000000000000",
        "hdms webhooks deliveries ENDPOINT --state failed --ids | hdms webhooks redeliver ENDPOINT -",
    ))]
    Redeliver {
        /// The endpoint's id or URL.
        endpoint: String,
        /// Delivery ids, or `-` to read them from stdin.
        #[arg(required = true)]
        deliveries: Vec<String>,
    },
    /// Send a test event (`webhook.ping`) now and show the answer.
    #[command(after_help = examples!("hdms webhooks ping 0193e0a1-0000-7000-8000-000000000000", "hdms webhooks ping https://crm.example.com/hdms -o json"))]
    Ping {
        /// The endpoint's id or URL.
        endpoint: String,
    },
    /// The internal networks webhooks may reach (loopback, private, link-local and metadata
    /// addresses are refused otherwise).
    #[command(subcommand, after_help = examples!("hdms webhooks allow list", "hdms webhooks allow add 10.20.0.0/16"))]
    Allow(WebhookAllowCommand),
}

#[derive(Subcommand)]
pub enum WebhookAllowCommand {
    /// The networks admins allowed, and those the server's configuration allows (HDMS_WEBHOOK_ALLOW).
    #[command(after_help = examples!("hdms webhooks allow list", "hdms webhooks allow list -o json"))]
    List,
    /// Allow networks (CIDR, or single addresses); applies to the next attempt on every instance.
    #[command(after_help = examples!("hdms webhooks allow add 10.20.0.0/16", "hdms webhooks allow add 192.168.5.10 fd12:3456::/48"))]
    Add {
        /// Networks or addresses.
        #[arg(required = true)]
        networks: Vec<String>,
    },
    /// Allow networks no more (those set by the configuration stay).
    #[command(after_help = examples!("hdms webhooks allow remove 10.20.0.0/16"))]
    Remove {
        /// Networks or addresses, as listed.
        #[arg(required = true)]
        networks: Vec<String>,
    },
}
