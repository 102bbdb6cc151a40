//! The reference pages in `docs/` that can be generated from the code are, and these tests fail
//! when a committed page is stale: run `HDMS_UPDATE_DOCS=1 cargo test -p hdms-cli docs` to
//! rewrite the generated parts. Pages written by hand are checked for completeness instead
//! (every route, every benchmark named).
//!
//! A generated part sits between `<!-- generated: NAME -->` and `<!-- end generated -->`;
//! everything around it is prose.

use std::path::{Path, PathBuf};

use clap::CommandFactory;

fn docs_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs")
}

fn read(page: &str) -> String {
    std::fs::read_to_string(docs_dir().join(page)).unwrap_or_else(|err| panic!("docs/{page}: {err}"))
}

/// Puts `generated` between the markers named `name` in `docs/page`, and fails if that changed
/// the committed page (unless `HDMS_UPDATE_DOCS` is set, when it writes the page instead).
fn check_generated(page: &str, name: &str, generated: &str) {
    let committed = read(page);
    let start = format!("<!-- generated: {name} -->\n");
    let end = "<!-- end generated -->";
    let begin = committed.find(&start).unwrap_or_else(|| panic!("docs/{page} has no `{}` marker", start.trim())) + start.len();
    let finish = begin + committed[begin..].find(end).unwrap_or_else(|| panic!("docs/{page}: `{end}` missing after {name}"));
    let expected = format!("{}{generated}{}", &committed[..begin], &committed[finish..]);
    if std::env::var_os("HDMS_UPDATE_DOCS").is_some() {
        std::fs::write(docs_dir().join(page), &expected).unwrap();
        return;
    }
    assert!(
        committed == expected,
        "docs/{page} is stale ({name}): run HDMS_UPDATE_DOCS=1 cargo test -p hdms-cli docs"
    );
}

/// Markdown table cells stay on one line and keep their pipes.
fn cell(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ").replace('|', "\\|")
}

/// An argument's help as a sentence, with its values and its default (flags have none).
fn help(arg: &clap::Arg) -> String {
    let mut text = arg.get_help().map(|help| cell(&help.to_string())).unwrap_or_default();
    if !text.is_empty() && !text.ends_with(['.', ')', ':']) {
        text.push('.');
    }
    if is_flag(arg) {
        return text;
    }
    let values: Vec<String> = arg.get_possible_values().iter().filter(|v| !v.is_hide_set()).map(|v| format!("`{}`", v.get_name())).collect();
    if !values.is_empty() {
        text.push_str(&format!(" One of {}.", values.join(", ")));
    }
    if let [default] = arg.get_default_values() {
        text.push_str(&format!(" Default `{}`.", default.to_string_lossy()));
    }
    text
}

fn is_flag(arg: &clap::Arg) -> bool {
    matches!(arg.get_action(), clap::ArgAction::SetTrue | clap::ArgAction::SetFalse | clap::ArgAction::Help | clap::ArgAction::Version)
}

/// `--role <ROLE>`, `-o, --output <FORMAT>`, `TICKET…`.
fn spelling(arg: &clap::Arg) -> String {
    let takes_value = !is_flag(arg);
    let value = arg
        .get_value_names()
        .and_then(|names| names.first().map(|name| name.to_string()))
        .unwrap_or_else(|| arg.get_id().as_str().to_uppercase());
    let many = matches!(arg.get_action(), clap::ArgAction::Append) || arg.get_num_args().is_some_and(|n| n.max_values() > 1);
    let value = if many { format!("{value}…") } else { value };
    match (arg.get_short(), arg.get_long()) {
        (_, None) => value,
        (short, Some(long)) => {
            let short = short.map(|s| format!("-{s}, ")).unwrap_or_default();
            if takes_value { format!("{short}--{long} <{value}>") } else { format!("{short}--{long}") }
        }
    }
}

fn options_table(args: Vec<&clap::Arg>) -> String {
    if args.is_empty() {
        return String::new();
    }
    let mut out = String::from("| argument | |\n|---|---|\n");
    for arg in args {
        out.push_str(&format!("| `{}` | {} |\n", spelling(arg), help(arg)));
    }
    out.push('\n');
    out
}

/// Every command of `hdms`: what it does, its arguments, its examples.
fn cli_reference() -> String {
    let mut root = crate::cli::Cli::command();
    root.build();
    let mut out = String::from("### Options of every command\n\n");
    out.push_str(&options_table(root.get_arguments().filter(|a| a.is_global_set()).collect()));
    fn walk(path: &str, command: &clap::Command, out: &mut String) {
        for sub in command.get_subcommands().filter(|sub| sub.get_name() != "help") {
            let path = format!("{path} {}", sub.get_name());
            out.push_str(&format!("### `{path}`\n\n"));
            if let Some(about) = sub.get_about() {
                out.push_str(&format!("{}\n\n", cell(&about.to_string())));
            }
            let own: Vec<&clap::Arg> = sub
                .get_arguments()
                .filter(|a| !a.is_global_set() && !matches!(a.get_id().as_str(), "help" | "version"))
                .collect();
            out.push_str(&options_table(own));
            if let Some(examples) = sub.get_after_help() {
                let lines: Vec<String> = examples.to_string().lines().skip(1).map(|l| l.trim().to_owned()).collect();
                out.push_str(&format!("```sh\n{}\n```\n\n", lines.join("\n")));
            }
            walk(&path, sub, out);
        }
    }
    walk("hdms", &root, &mut out);
    out
}

#[test]
fn cli_reference_is_current() {
    check_generated("cli.md", "cli reference", &cli_reference());
}

/// Every server setting: flag, environment variable, default, meaning.
fn server_settings() -> String {
    let command = hdms_server::config::Config::command();
    let mut out = String::from("| flag | environment | default | meaning |\n|---|---|---|---|\n");
    for arg in command.get_arguments().filter(|a| !matches!(a.get_id().as_str(), "help" | "version")) {
        let env = arg.get_env().map(|env| format!("`{}`", env.to_string_lossy())).unwrap_or_default();
        let default = match arg.get_default_values() {
            _ if is_flag(arg) => String::new(),
            [] => String::new(),
            values => format!("`{}`", values.iter().map(|v| v.to_string_lossy()).collect::<Vec<_>>().join(",")),
        };
        let mut meaning = arg.get_help().map(|help| cell(&help.to_string())).unwrap_or_default();
        if !meaning.is_empty() && !meaning.ends_with(['.', ')', ':']) {
            meaning.push('.');
        }
        let values: Vec<String> = arg.get_possible_values().iter().map(|v| format!("`{}`", v.get_name())).collect();
        if !values.is_empty() && !is_flag(arg) {
            meaning.push_str(&format!(" One of {}.", values.join(", ")));
        }
        out.push_str(&format!("| `{}` | {env} | {default} | {meaning} |\n", spelling(arg)));
    }
    out
}

#[test]
fn server_settings_are_current() {
    check_generated("configuration.md", "server settings", &server_settings());
}

#[test]
fn every_route_is_in_the_api_overview() {
    let overview = read("api.md");
    let spec = serde_json::to_value(hdms_server::app::openapi()).unwrap();
    let mut missing = Vec::new();
    for path in spec["paths"].as_object().unwrap().keys() {
        // `{id}` and `{ticket_id}` alike: the overview names routes the way they read.
        let readable = path.replace("/api/v1", "");
        if !overview.contains(&readable) {
            missing.push(path.clone());
        }
    }
    assert!(missing.is_empty(), "docs/api.md does not mention: {missing:#?}");
}

#[test]
fn every_benchmark_is_described() {
    let page = read("benchmarks.md");
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    for entry in std::fs::read_dir(&crates).unwrap() {
        let manifest = entry.unwrap().path().join("Cargo.toml");
        let Ok(text) = std::fs::read_to_string(&manifest) else { continue };
        let package = text.lines().find_map(|l| l.strip_prefix("name = \"")).map(|n| n.trim_end_matches('"').to_owned()).unwrap();
        for bench in text.split("[[bench]]").skip(1) {
            let name = bench.lines().find_map(|l| l.trim().strip_prefix("name = \"")).unwrap().trim_end_matches('"');
            let command = format!("cargo bench -p {package} --bench {name}");
            assert!(page.contains(&command), "docs/benchmarks.md does not describe `{command}`");
        }
    }
}

#[test]
fn every_docs_page_is_linked_from_the_readme() {
    let readme = std::fs::read_to_string(docs_dir().join("../README.md")).unwrap();
    for entry in std::fs::read_dir(docs_dir()).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        if name.ends_with(".md") {
            assert!(readme.contains(&format!("docs/{name}")), "README.md does not link docs/{name}");
        }
    }
}
