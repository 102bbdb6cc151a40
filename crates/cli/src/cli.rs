//! The command line, as clap definitions: the source of `--help`, the shell completions and
//! the man page.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use hdms_api_types::Role;
use hdms_api_types::import::OnConflict;

use crate::output::Format;
use crate::profiles::DEFAULT_PROFILE;

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
    /// Read the password from the first line of stdin instead of prompting.
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
    /// Deliver invitations through the server's notification channels.
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
}
