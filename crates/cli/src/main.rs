//! `hdms`: the admin command line for the hdms help desk.
//!
//! One module per command group under `commands/` (users, teams, tokens, auth, tickets, SLA,
//! approvals), sharing `output` (tables for people; JSON, CSV or ids for programs). Saved
//! logins (profiles, keyring or private file, transparent refresh) are
//! `hdms_api_types::credentials`, shared with `hdms-tui`.

mod cli;
mod commands;
mod exit;
mod output;
#[cfg(test)]
mod tests;

use std::process::ExitCode;

use clap::{CommandFactory, Parser};

use crate::cli::{Cli, Command};
use crate::exit::CliResult;
use crate::output::Output;
use hdms_api_types::credentials::{Session, Target};

#[tokio::main]
async fn main() -> ExitCode {
    // Usage errors exit with clap's code 2, help and version with 0.
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("hdms: {}", err.message);
            err.exit_code()
        }
    }
}

async fn run(cli: Cli) -> CliResult {
    let output = Output::new(cli.output, cli.ids, cli.fields, cli.wide)?;
    let target = || Target::resolve(cli.server.as_deref(), Some(&cli.profile));
    match cli.command {
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "hdms", &mut std::io::stdout());
            Ok(())
        }
        Command::Man => {
            clap_mangen::Man::new(Cli::command()).render(&mut std::io::stdout())?;
            Ok(())
        }
        Command::Status => commands::auth::status(target()?).await,
        Command::Login(args) => commands::auth::login(target()?, args).await,
        Command::Logout => commands::auth::logout(target()?).await,
        Command::AcceptInvite(args) => commands::auth::accept_invite(target()?, args).await,
        Command::Whoami => commands::auth::whoami(Session::open(target()?).await?, output).await,
        Command::Users(command) => commands::users::run(Session::open(target()?).await?, output, command).await,
        Command::Teams(command) => commands::teams::run(Session::open(target()?).await?, output, command).await,
        Command::Tokens(command) => commands::tokens::run(Session::open(target()?).await?, output, command).await,
        Command::Tickets(command) => commands::tickets::run(Session::open(target()?).await?, output, command).await,
        Command::Sla(command) => commands::sla::run(Session::open(target()?).await?, output, command).await,
        Command::Approvals(command) => commands::approvals::run(Session::open(target()?).await?, output, command).await,
        Command::Reports(args) => commands::reports::run(Session::open(target()?).await?, output, args).await,
        Command::Mail(command) => commands::mail::run(Session::open(target()?).await?, output, command).await,
        Command::Mailgate(args) => commands::mail::mailgate(target(), args).await,
        Command::Webhooks(command) => commands::webhooks::run(Session::open(target()?).await?, output, command).await,
        Command::Rules(command) => commands::rules::run(Session::open(target()?).await?, output, command).await,
    }
}
