//! `hdms reports KIND`: the server's reports over a window of local days or hours. JSON is the
//! report as the API answers it; CSV (for spreadsheets and cron jobs) and tables have one row
//! per bucket, and for `agents` one per agent and bucket.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use chrono_tz::Tz;
use hdms_api_types::credentials::Session;
use hdms_api_types::metrics::ReportQuery;
use serde_json::{Map, Value};

use crate::cli::{ReportArgs, ReportKind};
use crate::commands::teams;
use crate::exit::{CliError, CliResult};
use crate::output::human::span;
use crate::output::{Cell, Column, Format, Output, Tone, render_table, to_json, write_csv};

/// How a figure reads in a table.
#[derive(Clone, Copy)]
enum Shape {
    Count,
    Seconds,
    Share,
    Text,
}

/// One column of a report's rows: its JSON and CSV name, its table header, its shape.
struct Figure(&'static str, &'static str, Shape);

impl ReportKind {
    /// The name in the API's path (`/api/v1/reports/{name}`).
    pub fn path(self) -> &'static str {
        match self {
            ReportKind::Volume => "volume",
            ReportKind::Backlog => "backlog",
            ReportKind::Times => "times",
            ReportKind::Sla => "sla",
            ReportKind::Satisfaction => "satisfaction",
            ReportKind::Agents => "agents",
        }
    }

    /// The figures of each row, after the bucket's `start` and `end`.
    fn figures(self) -> &'static [Figure] {
        use Shape::*;
        match self {
            ReportKind::Volume => &[Figure("created", "created", Count), Figure("resolved", "resolved", Count), Figure("reopened", "reopened", Count)],
            ReportKind::Backlog => &[
                Figure("total", "backlog", Count),
                Figure("new", "new", Count),
                Figure("open", "open", Count),
                Figure("in_progress", "in progress", Count),
                Figure("pending_customer", "pending customer", Count),
                Figure("pending_approval", "pending approval", Count),
            ],
            ReportKind::Times => &[
                Figure("first_responses", "answered", Count),
                Figure("first_response_median_secs", "1st reply median", Seconds),
                Figure("first_response_p90_secs", "1st reply p90", Seconds),
                Figure("resolutions", "resolved", Count),
                Figure("resolution_median_secs", "resolution median", Seconds),
                Figure("resolution_p90_secs", "resolution p90", Seconds),
            ],
            ReportKind::Sla => &[
                Figure("resolved_with_sla", "resolved with SLA", Count),
                Figure("resolved_within_sla", "within SLA", Count),
                Figure("within_sla_share", "share", Share),
                Figure("first_response_breaches", "1st reply breaches", Count),
                Figure("resolution_breaches", "resolution breaches", Count),
            ],
            ReportKind::Satisfaction => &[Figure("good", "good", Count), Figure("bad", "bad", Count), Figure("good_share", "good share", Share)],
            ReportKind::Agents => &[
                Figure("agent_name", "agent", Text),
                Figure("agent_email", "email", Text),
                Figure("assigned", "assigned", Count),
                Figure("replies", "replies", Count),
                Figure("resolved", "resolved", Count),
                Figure("agent_id", "agent id", Text),
            ],
        }
    }

    /// Every column of the CSV (and of `--fields`), in order.
    pub fn columns(self) -> Vec<&'static str> {
        ["start", "end"].into_iter().chain(self.figures().iter().map(|f| f.0)).collect()
    }
}

pub async fn run(session: Session, output: Output, args: ReportArgs) -> CliResult {
    if output.ids {
        return Err(CliError::usage("reports have no ids: use -o csv or -o json"));
    }
    let zone = zone(args.tz.as_deref())?;
    let query = ReportQuery {
        team: match &args.team {
            Some(team) => Some(teams::resolve(&session, team).await?),
            None => None,
        },
        from: args.from.or_else(|| args.since.map(|since| window_start(since, args.to, zone))),
        to: args.to,
        bucket: Some(args.bucket),
        tz: Some(zone.name().to_owned()),
    };
    let kind = args.kind;
    let report: Value = session
        .call(|client| {
            let query = query.clone();
            async move { client.report(kind.path(), &query).await }
        })
        .await?;
    print!("{}", render(kind, &report, &output, zone)?);
    Ok(())
}

/// The zone asked for, else this machine's, else UTC.
fn zone(asked: Option<&str>) -> CliResult<Tz> {
    match asked {
        Some(name) => name.parse().map_err(|_| CliError::usage(format!("--tz: unknown time zone '{name}' (an IANA name such as Europe/Berlin)"))),
        None => Ok(iana_time_zone::get_timezone().ok().and_then(|name| name.parse().ok()).unwrap_or(Tz::UTC)),
    }
}

/// `--since 30d`: the window's first day, so that it covers that many days up to `to`
/// (today when absent) — a part of a day counts as a day.
fn window_start(since: humantime::Duration, to: Option<NaiveDate>, zone: Tz) -> NaiveDate {
    let to = to.unwrap_or_else(|| Utc::now().with_timezone(&zone).date_naive());
    let secs = since.as_secs();
    let days = i64::try_from(secs.div_ceil(86_400)).unwrap_or(i64::MAX).max(1);
    to - Duration::days(days - 1)
}

/// The report as `output` asks: the API's JSON whole, or its rows (as JSON with `--fields`,
/// as CSV, or as a table).
pub fn render(kind: ReportKind, report: &Value, output: &Output, zone: Tz) -> CliResult<String> {
    let rows = rows(kind, report);
    let columns: Vec<&str> = match &output.fields {
        Some(fields) => chosen(kind, fields)?,
        None => kind.columns(),
    };
    match output.format {
        Format::Json if output.fields.is_none() => Ok(to_json(report)? + "\n"),
        Format::Json => {
            let picked: Vec<Map<String, Value>> = rows
                .iter()
                .map(|row| columns.iter().map(|c| (c.to_string(), row.get(*c).cloned().unwrap_or(Value::Null))).collect())
                .collect();
            Ok(to_json(&picked)? + "\n")
        }
        Format::Csv => {
            let mut out = Vec::new();
            let cells = rows.iter().map(|row| columns.iter().map(|c| csv_text(row.get(*c))).collect::<Vec<String>>());
            write_csv(&mut out, &columns, cells)?;
            Ok(String::from_utf8(out).expect("CSV of UTF-8 cells is UTF-8"))
        }
        Format::Table => Ok(table(kind, report, &rows, output, zone)),
    }
}

/// `--fields`, checked against the report's columns.
fn chosen(kind: ReportKind, fields: &[String]) -> CliResult<Vec<&'static str>> {
    let known = kind.columns();
    let mut chosen = Vec::new();
    for field in fields.iter().map(|f| f.trim()).filter(|f| !f.is_empty()) {
        match known.iter().find(|k| **k == field) {
            Some(found) => chosen.push(*found),
            None => {
                return Err(CliError::usage(format!("--fields: unknown field '{field}'; the {} report's fields are {}", kind.path(), known.join(", "))));
            }
        }
    }
    if chosen.is_empty() {
        return Err(CliError::usage(format!("--fields: name at least one of {}", known.join(", "))));
    }
    Ok(chosen)
}

/// One flat object per bucket (per agent and bucket for `agents`), with `start` and `end`.
fn rows(kind: ReportKind, report: &Value) -> Vec<Map<String, Value>> {
    let mut rows = Vec::new();
    for bucket in report["buckets"].as_array().into_iter().flatten() {
        let Some(bucket) = bucket.as_object() else { continue };
        let mut base = Map::new();
        base.insert("start".into(), bucket.get("start").cloned().unwrap_or(Value::Null));
        base.insert("end".into(), bucket.get("end").cloned().unwrap_or(Value::Null));
        if kind == ReportKind::Agents {
            for agent in bucket.get("agents").and_then(Value::as_array).into_iter().flatten() {
                let mut row = base.clone();
                for (key, value) in agent.as_object().into_iter().flatten() {
                    match (key.as_str(), value) {
                        ("agent", Value::Object(person)) => {
                            for (field, value) in person {
                                row.insert(format!("agent_{field}"), value.clone());
                            }
                        }
                        _ => {
                            row.insert(key.clone(), value.clone());
                        }
                    }
                }
                rows.push(row);
            }
        } else {
            let mut row = base;
            for (key, value) in bucket.iter().filter(|(key, _)| !matches!(key.as_str(), "start" | "end")) {
                row.insert(key.clone(), value.clone());
            }
            rows.push(row);
        }
    }
    rows
}

fn csv_text(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(text)) => text.clone(),
        Some(other) => other.to_string(),
    }
}

/// A table for people: the bucket as a local date or hour, durations as `2h 10m`, shares as
/// percentages; a line above says what the report covers.
fn table(kind: ReportKind, report: &Value, rows: &[Map<String, Value>], output: &Output, zone: Tz) -> String {
    let hourly = report["bucket"] == "hour";
    let mut columns = vec![Column::whole(if hourly { "hour" } else { "day" })];
    let figures = kind.figures();
    for figure in figures {
        columns.push(match figure.2 {
            Shape::Text if figure.0 == "agent_id" => Column::whole(figure.1).wide(),
            Shape::Text => Column::shrink(figure.1, 8),
            _ => Column::number(figure.1),
        });
    }
    let cells: Vec<Vec<Cell>> = rows
        .iter()
        .map(|row| {
            let start = row.get("start").and_then(Value::as_str).and_then(|s| s.parse::<DateTime<Utc>>().ok());
            let label = start.map(|s| s.with_timezone(&zone)).map(|s| if hourly { s.format("%Y-%m-%d %H:%M") } else { s.format("%Y-%m-%d %a") });
            let mut line = vec![Cell::new(label.map(|l| l.to_string()).unwrap_or_default(), Tone::Muted)];
            for figure in figures {
                let value = row.get(figure.0);
                line.push(match (figure.2, value) {
                    (_, None | Some(Value::Null)) => Cell::default(),
                    (Shape::Seconds, Some(v)) => v.as_i64().map(span).unwrap_or_default().into(),
                    (Shape::Share, Some(v)) => v.as_f64().map(|share| format!("{:.0}%", share * 100.0)).unwrap_or_default().into(),
                    (Shape::Count, Some(v)) if v.as_i64() == Some(0) => Cell::new("0", Tone::Muted),
                    (_, Some(Value::String(text))) => text.as_str().into(),
                    (_, Some(v)) => v.to_string().into(),
                });
            }
            line
        })
        .collect();
    let scope = match report["team_id"].as_str() {
        Some(_) => "one team",
        None => "the whole desk",
    };
    let heading = format!(
        "{} report, {} to {} ({}), {scope}",
        kind.path(),
        report["from"].as_str().unwrap_or("?"),
        report["to"].as_str().unwrap_or("?"),
        report["time_zone"].as_str().unwrap_or("?"),
    );
    let body = if cells.is_empty() {
        "Nothing to show.\n".to_owned()
    } else {
        render_table(&columns, &cells, &output.layout)
    };
    // The heading is cut to the width like any table line.
    let heading = match output.layout.width {
        Some(width) => crate::output::table::cut(&heading, width),
        None => heading,
    };
    heading + "\n" + &body
}
