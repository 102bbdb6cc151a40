use std::collections::HashMap;

use serde::Serialize;
use unicode_width::UnicodeWidthStr;
use uuid::Uuid;

use super::fixtures::{self, layout};
use crate::cli::ReportKind;
use crate::commands::sla::PolicyRow;
use crate::commands::tickets::{BulkRow, render_detail};
use crate::commands::users::UserRow;
use crate::output::{Cell, Format, Layout, Output, Record, Tabular, render_record, render_table};

fn table<T: Tabular>(rows: &[T], layout: &Layout) -> String {
    let cells: Vec<Vec<Cell>> = rows.iter().map(|row| row.row(layout)).collect();
    render_table(T::COLUMNS, &cells, layout)
}

fn user_teams() -> HashMap<Uuid, Vec<String>> {
    let mut teams: HashMap<Uuid, Vec<String>> = HashMap::new();
    for team in fixtures::teams() {
        for member in team.members {
            teams.entry(member).or_default().push(team.name.clone());
        }
    }
    teams
}

fn team_names() -> HashMap<Uuid, String> {
    fixtures::teams().into_iter().map(|team| (team.id, team.name)).collect()
}

/// A report as `hdms reports KIND` prints it for people, in UTC.
fn report_table<B: Serialize>(kind: ReportKind, report: &B, layout: &Layout) -> String {
    let output = Output { format: Format::Table, ids: false, fields: None, layout: *layout };
    crate::commands::reports::render(kind, &serde_json::to_value(report).unwrap(), &output, chrono_tz::UTC).unwrap()
}

/// Every list the CLI prints, rendered at `layout`: (name, text).
fn every_list(layout: &Layout) -> Vec<(&'static str, String)> {
    let users = fixtures::users();
    let teams = user_teams();
    let policies = fixtures::policies();
    let names = team_names();
    let approvals = fixtures::approvals();
    let tickets = fixtures::tickets();
    let results = fixtures::bulk_results();
    vec![
        ("tickets", table(&tickets, layout)),
        ("users", table(&users.iter().map(|user| UserRow::new(user, &teams)).collect::<Vec<_>>(), layout)),
        ("teams", table(&fixtures::teams(), layout)),
        ("tokens", table(&fixtures::tokens(), layout)),
        ("sla", table(&policies.iter().map(|policy| PolicyRow { policy, teams: &names }).collect::<Vec<_>>(), layout)),
        ("approvals", table(&approvals, layout)),
        ("comments", table(&fixtures::comments(), layout)),
        ("watchers", table(&fixtures::watchers(), layout)),
        ("bulk", table(&results.iter().map(|result| BulkRow { result, ticket: format!("HD-{}", result.id.as_u128() - 0x1000) }).collect::<Vec<_>>(), layout)),
        ("report-times", report_table(ReportKind::Times, &fixtures::times_report(), layout)),
        ("report-agents", report_table(ReportKind::Agents, &fixtures::agents_report(), layout)),
        ("show", render_detail(&fixtures::detail(), layout)),
        ("show-bare", render_detail(&fixtures::bare_detail(), layout)),
    ]
}

#[test]
fn lists_and_show_at_80_and_120_columns() {
    for width in [80, 120] {
        for (name, text) in every_list(&layout(Some(width), false, false)) {
            insta::assert_snapshot!(format!("{name}_{width}"), text);
        }
    }
}

#[test]
fn wide_tables_keep_every_column_and_every_character() {
    let wide = layout(Some(80), false, true);
    let tickets = table(&fixtures::tickets(), &wide);
    insta::assert_snapshot!("tickets_wide", tickets);
    for ticket in fixtures::tickets() {
        assert!(tickets.contains(&ticket.subject) && tickets.contains(&ticket.id.to_string()), "{tickets}");
    }
}

#[test]
fn no_table_line_is_wider_than_the_terminal() {
    for width in 30..=160 {
        for (name, text) in every_list(&layout(Some(width), false, false)) {
            // Tables fit; the free text of `show` (description, replies) is the terminal's to wrap.
            let tables_only = if name.starts_with("show") { table_lines(&text) } else { text.lines().map(str::to_owned).collect() };
            for line in tables_only {
                assert!(line.width() <= width as usize, "{name} at {width} columns: {line:?} is {} wide", line.width());
            }
        }
    }
}

/// The lines of `show` that are not free text: headed sections are tables, the header is
/// labelled values. The title and the status line under it are text too.
fn table_lines(page: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let mut in_text = false;
    for line in page.lines().skip(2) {
        match line {
            "Description" => in_text = true,
            _ if line.starts_with("Conversation") => in_text = true,
            _ if line.starts_with("Attachments") || line.starts_with("Sub-tickets") || line == "Links" => in_text = false,
            _ => {}
        }
        if !in_text {
            lines.push(line.to_owned());
        }
    }
    lines
}

#[test]
fn columns_are_dropped_right_to_left_and_text_is_cut_never_wrapped() {
    let narrow = table(&fixtures::tickets(), &layout(Some(60), false, false));
    let header = narrow.lines().next().unwrap();
    assert_eq!(header.split_whitespace().collect::<Vec<_>>(), ["NUMBER", "SUBJECT", "STATUS", "PRIORITY"], "{narrow}");
    assert_eq!(narrow.lines().count(), fixtures::tickets().len() + 1, "one line per ticket: {narrow}");
    assert!(narrow.contains('…'), "the long subject is cut: {narrow}");
    assert!(!narrow.contains(&Uuid::from_u128(fixtures::SUPPORT).to_string()), "no ids without --wide");
}

#[test]
fn colour_only_when_asked() {
    let plain = every_list(&layout(Some(120), false, false));
    for (name, text) in &plain {
        assert!(!text.contains('\u{1b}'), "{name} has escape codes without colour: {text}");
    }
    let coloured = table(&fixtures::tickets(), &layout(Some(120), true, false));
    insta::assert_snapshot!("tickets_colour_120", coloured);
    assert!(coloured.contains("\u{1b}[38;5;9m\u{1b}[1moverdue 5m"), "overdue in red: {coloured:?}");
    assert!(coloured.contains("\u{1b}[38;5;9m\u{1b}[1murgent"), "urgent in red: {coloured:?}");
    let page = render_detail(&fixtures::detail(), &layout(Some(120), true, false));
    assert!(page.contains("\u{1b}[33minternal note"), "internal notes stand out: {page:?}");
}

#[test]
fn a_single_record_prints_as_labelled_lines() {
    let users = fixtures::users();
    let teams = user_teams();
    let text = render_record(UserRow::COLUMNS, &UserRow::new(&users[0], &teams).row(&layout(Some(80), false, false)), &layout(Some(80), false, false));
    insta::assert_snapshot!("user_record", text);
}

/// The fields of a record with every field set, as JSON writes them.
fn json_keys<T: Serialize>(record: &T) -> Vec<String> {
    match serde_json::to_value(record).unwrap() {
        serde_json::Value::Object(object) => {
            let mut keys: Vec<String> = object.keys().cloned().collect();
            keys.sort();
            keys
        }
        other => panic!("not an object: {other}"),
    }
}

fn assert_fields<T: Record>(record: &T) {
    let mut declared: Vec<String> = T::FIELDS.iter().map(|f| f.to_string()).collect();
    declared.sort();
    assert_eq!(declared, json_keys(record), "{} lists every JSON field", std::any::type_name::<T>());
}

#[test]
fn every_record_declares_all_its_json_fields() {
    assert_fields(&fixtures::printer());
    assert_fields(&fixtures::users()[0]);
    assert_fields(&fixtures::teams()[0]);
    assert_fields(&fixtures::tokens()[0]);
    assert_fields(&fixtures::created_token());
    assert_fields(&fixtures::policies()[0]);
    assert_fields(&fixtures::approvals()[0]);
    assert_fields(&fixtures::comments()[0]);
    assert_fields(&fixtures::rating());
    assert_fields(&fixtures::watchers()[0]);
    assert_fields(&hdms_api_types::tickets::BulkItemResult { version: Some(1), ..fixtures::bulk_results()[1].clone() });
    let report = hdms_api_types::import::ImportReport {
        invitations: vec![hdms_api_types::import::Invitation {
            user_id: Uuid::nil(),
            email: "a@example.com".to_owned(),
            token: "hdms_inv_x".to_owned(),
            expires_at: fixtures::now(),
        }],
        invitations_sent: 1,
        invitations_unsent: 1,
        ..Default::default()
    };
    assert_fields(&report);
}

fn machine(format: Format, fields: Option<&str>) -> Output {
    Output {
        format,
        ids: false,
        fields: fields.map(|f| f.split(',').map(str::to_owned).collect()),
        layout: layout(None, false, false),
    }
}

#[test]
fn fields_select_json_and_csv_columns_in_the_order_asked() {
    let tickets = fixtures::tickets();
    let json = machine(Format::Json, Some("subject,number,assignee")).machine(&tickets, false).unwrap().unwrap();
    let parsed: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(parsed.as_array().unwrap().len(), tickets.len());
    assert_eq!(parsed[0]["number"], "HD-1042");
    assert_eq!(parsed[0]["assignee"]["name"], "Grace Hopper");
    assert_eq!(parsed[1]["assignee"], serde_json::Value::Null, "a field the record lacks is null");
    let first_keys: Vec<&str> = json.lines().skip(2).take(3).map(|line| line.trim().split('"').nth(1).unwrap()).collect();
    assert_eq!(first_keys, ["subject", "number", "assignee"], "{json}");

    let one = machine(Format::Json, Some("number")).machine(&tickets[..1], true).unwrap().unwrap();
    assert_eq!(serde_json::from_str::<serde_json::Value>(&one).unwrap(), serde_json::json!({"number": "HD-1042"}));

    let csv = machine(Format::Csv, Some("number,tags,status,requester")).machine(&tickets, false).unwrap().unwrap();
    insta::assert_snapshot!("tickets_fields_csv", csv);

    let everything = machine(Format::Csv, None).machine(&fixtures::users(), false).unwrap().unwrap();
    assert!(everything.starts_with("id,email,name,role,phone,locale,external_id,active,created_at,updated_at,deleted_at,last_login_at\n"), "{everything}");
}

#[test]
fn an_unknown_field_is_a_usage_error_naming_the_nearest() {
    let err = machine(Format::Json, Some("number,subjct")).machine(&fixtures::tickets(), false).unwrap_err();
    assert_eq!(err.code, crate::exit::USAGE);
    assert!(err.message.contains("unknown field 'subjct'") && err.message.contains("did you mean 'subject'"), "{}", err.message);
}

#[test]
fn json_without_fields_is_the_wire_type_whole() {
    let tickets = fixtures::tickets();
    let json = machine(Format::Json, None).machine(&tickets, false).unwrap().unwrap();
    let parsed: Vec<hdms_api_types::tickets::Ticket> = serde_json::from_str(&json).unwrap();
    assert_eq!(parsed, tickets);
}
