use clap::{CommandFactory, Parser};

use crate::cli::Cli;

/// Every command, with its path (`hdms tickets list`).
fn every_command() -> Vec<(String, clap::Command)> {
    fn walk(path: String, command: &clap::Command, into: &mut Vec<(String, clap::Command)>) {
        into.push((path.clone(), command.clone()));
        for sub in command.get_subcommands().filter(|sub| sub.get_name() != "help") {
            walk(format!("{path} {}", sub.get_name()), sub, into);
        }
    }
    let mut root = Cli::command();
    root.build();
    let mut commands = Vec::new();
    walk("hdms".to_owned(), &root, &mut commands);
    commands
}

#[test]
fn every_command_and_option_has_help_and_every_command_examples() {
    let mut missing = Vec::new();
    for (path, command) in every_command() {
        if command.get_about().is_none() && path != "hdms" {
            missing.push(format!("{path}: no description"));
        }
        let examples = command.get_after_help().map(|text| text.to_string()).unwrap_or_default();
        if !examples.contains("Examples:\n  hdms ") && !examples.contains("Examples:\n  ") {
            missing.push(format!("{path}: no examples"));
        }
        for arg in command.get_arguments().filter(|arg| !matches!(arg.get_id().as_str(), "help" | "version")) {
            match arg.get_help() {
                Some(help) if !help.to_string().trim().is_empty() => {}
                _ => missing.push(format!("{path}: {} has no help", arg.get_id())),
            }
        }
    }
    assert!(missing.is_empty(), "help is missing:\n{}", missing.join("\n"));
}

#[test]
fn fixed_value_sets_are_listed_for_help_and_completion() {
    let commands = every_command();
    let find = |path: &str, arg: &str| -> Vec<String> {
        let (_, command) = commands.iter().find(|(p, _)| p == path).unwrap_or_else(|| panic!("{path}"));
        let arg = command.get_arguments().find(|a| a.get_id() == arg).unwrap_or_else(|| panic!("{path} {arg}"));
        arg.get_possible_values().iter().map(|value| value.get_name().to_owned()).collect()
    };
    assert_eq!(find("hdms users create", "role"), ["customer", "agent", "supervisor", "admin"]);
    assert_eq!(find("hdms users list", "role"), ["customer", "agent", "supervisor", "admin"]);
    assert_eq!(find("hdms tickets create", "priority"), ["low", "normal", "high", "urgent"]);
    assert_eq!(find("hdms tickets list", "status").len(), 8);
    assert_eq!(find("hdms tickets list", "sort"), ["-created", "created", "-updated", "updated", "priority"]);
    assert_eq!(find("hdms tickets transition", "to").len(), 8);
    assert_eq!(find("hdms users import", "on_conflict"), ["skip", "update", "fail"]);
    assert_eq!(find("hdms", "output"), ["table", "json", "csv"]);
    assert_eq!(find("hdms approvals request", "rule"), ["any", "all"]);
    assert_eq!(find("hdms tickets rate", "score"), ["good", "bad"]);
    assert_eq!(find("hdms reports", "kind"), ["volume", "backlog", "times", "sla", "satisfaction", "agents"]);
    assert_eq!(find("hdms reports", "bucket"), ["day", "hour", "window"]);
}

fn parse_error(args: &[&str]) -> String {
    match Cli::try_parse_from(args) {
        Ok(_) => panic!("{args:?} parsed"),
        Err(err) => err.to_string(),
    }
}

#[test]
fn misspelt_commands_and_values_suggest_the_nearest() {
    let _ = Cli::try_parse_from(["hdms", "users", "list"]).map_err(|err| panic!("{err}"));
    let command = parse_error(&["hdms", "tikets", "list"]);
    assert!(command.contains("similar subcommand") && command.contains("'tickets'"), "{command}");
    let value = parse_error(&["hdms", "users", "create", "--email", "a@example.com", "--name", "A", "--role", "agnet"]);
    assert!(value.contains("similar value exists: 'agent'") && value.contains("customer, agent, supervisor, admin"), "{value}");
    let status = parse_error(&["hdms", "tickets", "list", "--status", "open,in-progress"]);
    assert!(status.contains("in_progress"), "{status}");
    // Values are matched whatever their case, as before.
    let parsed = Cli::try_parse_from(["hdms", "users", "create", "--email", "a@example.com", "--name", "A", "--role", "Agent"]);
    assert!(parsed.is_ok());
}
