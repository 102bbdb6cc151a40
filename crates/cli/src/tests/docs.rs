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

/// A wire type's schema, as the OpenAPI document would give it, as JSON.
fn schema_of<T: utoipa::PartialSchema>() -> serde_json::Value {
    serde_json::to_value(T::schema()).unwrap()
}

/// The messages of one direction of the websocket: type, fields (`?` when optional), meaning;
/// from the enum itself (`crates/api-types/src/ws.rs`).
fn websocket_messages(schema: serde_json::Value) -> String {
    let mut out = String::from("| `type` | fields | meaning |\n|---|---|---|\n");
    for variant in schema["oneOf"].as_array().expect("a tagged enum is a oneOf") {
        let name = variant["properties"]["type"]["enum"][0].as_str().expect("each variant names its type");
        let required: Vec<&str> = variant["required"].as_array().into_iter().flatten().filter_map(|r| r.as_str()).collect();
        let fields: Vec<String> = variant["properties"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(field, _)| field.as_str())
            .filter(|field| *field != "type")
            .map(|field| if required.contains(&field) { format!("`{field}`") } else { format!("`{field}`?") })
            .collect();
        let meaning = variant["description"].as_str().map(cell).unwrap_or_default();
        assert!(!meaning.is_empty(), "the websocket message `{name}` needs a doc comment (it is its line in docs/websocket.md)");
        out.push_str(&format!("| `{name}` | {} | {meaning} |\n", fields.join(", ")));
    }
    out
}

#[test]
fn websocket_messages_are_current() {
    check_generated("websocket.md", "client messages", &websocket_messages(schema_of::<hdms_api_types::ws::ClientMessage>()));
    check_generated("websocket.md", "server messages", &websocket_messages(schema_of::<hdms_api_types::ws::ServerMessage>()));
}

/// Every string an enum's schema allows.
fn enum_values(schema: &serde_json::Value) -> Vec<String> {
    schema["enum"].as_array().into_iter().flatten().filter_map(|v| v.as_str().map(str::to_owned)).collect()
}

#[test]
fn the_import_page_names_every_column_and_error_code() {
    let page = read("import.md");
    let header = format!(
        "`{}`, optional `{}`",
        hdms_api_types::import::REQUIRED_COLUMNS.join(","),
        hdms_api_types::import::OPTIONAL_COLUMNS.join(",")
    );
    assert!(page.contains(&header), "docs/import.md gives the header as {header}");
    let codes = enum_values(&schema_of::<hdms_api_types::import::RowErrorCode>());
    assert!(codes.len() > 10, "{codes:?}");
    for code in codes {
        assert!(page.contains(&format!("`{code}`")), "docs/import.md does not name the row error `{code}`");
    }
    for value in ["skip", "update", "fail"] {
        assert!(page.contains(value), "docs/import.md does not name --on-conflict {value}");
    }
}

/// Every server setting: (flag, environment variable, default).
fn server_settings_list() -> Vec<(String, String, Option<String>)> {
    let command = hdms_server::config::Config::command();
    command
        .get_arguments()
        .filter_map(|arg| {
            let env = arg.get_env()?.to_string_lossy().into_owned();
            let default = match arg.get_default_values() {
                [one] => Some(one.to_string_lossy().into_owned()),
                _ => None,
            };
            Some((format!("--{}", arg.get_long()?), env, default))
        })
        .collect()
}

/// The pages by subject, and the settings each must name (by the prefix of their variables).
const SETTINGS_BY_PAGE: &[(&str, &[&str])] = &[
    ("sms.md", &["HDMS_SMS_"]),
    ("email.md", &["HDMS_MAIL_"]),
    ("attachments.md", &["HDMS_ATTACHMENT_", "HDMS_SCAN_", "HDMS_S3_", "HDMS_STORAGE", "HDMS_CLAMD", "HDMS_UNSCANNED_POLICY"]),
    ("import.md", &["HDMS_IMPORT_"]),
    ("websocket.md", &["HDMS_WS_"]),
];

#[test]
fn the_pages_by_subject_name_their_settings_and_only_real_ones() {
    let settings = server_settings_list();
    for (page, prefixes) in SETTINGS_BY_PAGE {
        let text = read(page);
        for (_, env, _) in settings.iter().filter(|(_, env, _)| prefixes.iter().any(|p| env.starts_with(p))) {
            assert!(text.contains(env.as_str()), "docs/{page} does not name {env}");
        }
    }
    // A table row `| … | `--flag` | `HDMS_X` | default |` gives the setting's real default.
    for entry in std::fs::read_dir(docs_dir()).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        for line in text.lines().filter(|l| l.starts_with('|')) {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            for (flag, env, default) in &settings {
                let Some(i) = cells.iter().position(|c| *c == format!("`{flag}`")) else { continue };
                if cells.get(i + 1) != Some(&format!("`{env}`").as_str()) {
                    continue;
                }
                let Some(written) = cells.get(i + 2).map(|c| c.trim_matches('`')) else { continue };
                if let Some(default) = default {
                    assert_eq!(written, default, "{}: the default of {env}", path.display());
                }
            }
        }
    }
}

#[test]
fn every_variable_the_docs_name_exists() {
    // Every `HDMS_…` a page or the README names is read somewhere in the code: the crates, the
    // fuzz targets (outside the workspace), or `.ci/run` (as `${HDMS_…`).
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let ci_script = std::fs::read_to_string(root.join(".ci/run")).unwrap();
    let mut sources = String::new();
    let mut stack = vec![root.join("crates"), root.join("fuzz")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                if !path.ends_with("target") {
                    stack.push(path);
                }
            } else if path.extension().is_some_and(|e| e == "rs") && !path.ends_with("tests/docs.rs") {
                sources.push_str(&std::fs::read_to_string(&path).unwrap());
            }
        }
    }
    let mut pages: Vec<(String, String)> = vec![("README.md".to_owned(), std::fs::read_to_string(docs_dir().join("../README.md")).unwrap())];
    for entry in std::fs::read_dir(docs_dir()).unwrap() {
        let path = entry.unwrap().path();
        pages.push((path.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read_to_string(&path).unwrap()));
    }
    let mut unknown = Vec::new();
    for (page, text) in &pages {
        let mut rest = text.as_str();
        while let Some(at) = rest.find("HDMS_") {
            let name: String = rest[at..].chars().take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_').collect();
            rest = &rest[at + name.len()..];
            // `HDMS_S3_…`: a family, not one variable.
            if name.ends_with('_') {
                continue;
            }
            if !sources.contains(&format!("\"{name}\"")) && !ci_script.contains(&format!("${{{name}")) {
                unknown.push(format!("{page}: {name}"));
            }
        }
    }
    assert!(unknown.is_empty(), "the docs name variables no code reads:\n{}", unknown.join("\n"));
}
