//! `hdms sla …`: SLA policies.

use chrono::{NaiveDate, NaiveTime, Weekday};
use std::collections::HashMap;

use hdms_api_types::sla::{SlaCalendar, SlaPolicy, SlaPolicyInput};
use uuid::Uuid;

use crate::cli::{SlaCommand, SlaPolicyArgs};
use crate::commands::{parse_id, teams};
use crate::exit::{CliError, CliResult};
use crate::output::human::{priority, span};
use crate::output::{Cell, Column, Layout, Output, Record, Tabular, Tone};
use hdms_api_types::credentials::Session;

pub async fn run(session: Session, output: Output, command: SlaCommand) -> CliResult {
    match command {
        SlaCommand::List => {
            let policies = session.call(|client| async move { client.list_sla_policies().await }).await?;
            let teams = team_names(&session, &output).await?;
            output.list_as(&policies, |policy| PolicyRow { policy, teams: &teams })
        }
        SlaCommand::Show { id } => {
            let id = parse_id(&id, "SLA policy")?;
            let policy = session.call(|client| async move { client.get_sla_policy(id).await }).await?;
            let teams = team_names(&session, &output).await?;
            output.one_as(&policy, PolicyRow { policy: &policy, teams: &teams })
        }
        SlaCommand::Create(args) => {
            let mut input = SlaPolicyInput {
                name: required(args.name.clone(), "name")?,
                priority: required(args.priority, "priority")?,
                category: None,
                team_id: None,
                first_response_secs: required(args.first_response, "first-response")?,
                resolution_secs: required(args.resolution, "resolution")?,
                warning_percent: None,
                calendar: None,
            };
            apply(&session, &mut input, args).await?;
            let policy = session.call(|client| {
                let input = input.clone();
                async move { client.create_sla_policy(&input).await }
            }).await?;
            let teams = team_names(&session, &output).await?;
            output.one_as(&policy, PolicyRow { policy: &policy, teams: &teams })
        }
        SlaCommand::Update { id, policy: args } => {
            let id = parse_id(&id, "SLA policy")?;
            let current = session.call(|client| async move { client.get_sla_policy(id).await }).await?;
            let mut input = SlaPolicyInput {
                name: current.name,
                priority: current.priority,
                category: current.category,
                team_id: current.team_id,
                first_response_secs: current.first_response_secs,
                resolution_secs: current.resolution_secs,
                warning_percent: Some(current.warning_percent),
                calendar: Some(current.calendar),
            };
            apply(&session, &mut input, args).await?;
            let policy = session.call(|client| {
                let input = input.clone();
                async move { client.update_sla_policy(id, &input).await }
            }).await?;
            let teams = team_names(&session, &output).await?;
            output.one_as(&policy, PolicyRow { policy: &policy, teams: &teams })
        }
        SlaCommand::Delete { id } => {
            let id = parse_id(&id, "SLA policy")?;
            session.call(|client| async move { client.delete_sla_policy(id).await }).await?;
            eprintln!("Deleted SLA policy {id}");
            Ok(())
        }
    }
}

fn required<T>(value: Option<T>, flag: &str) -> CliResult<T> {
    value.ok_or_else(|| CliError::usage(format!("--{flag} is required to create a policy")))
}

/// The options given, over `input`.
async fn apply(session: &Session, input: &mut SlaPolicyInput, args: SlaPolicyArgs) -> CliResult {
    if let Some(name) = args.name {
        input.name = name;
    }
    if let Some(priority) = args.priority {
        input.priority = priority;
    }
    if let Some(category) = args.category {
        input.category = Some(category).filter(|c| !c.trim().is_empty());
    }
    if let Some(team) = args.team {
        input.team_id = if team.trim().is_empty() { None } else { Some(teams::resolve(session, &team).await?) };
    }
    if let Some(secs) = args.first_response {
        input.first_response_secs = secs;
    }
    if let Some(secs) = args.resolution {
        input.resolution_secs = secs;
    }
    if let Some(percent) = args.warning_percent {
        input.warning_percent = Some(percent);
    }
    let touches_calendar = args.time_zone.is_some()
        || args.working_days.is_some()
        || args.opens.is_some()
        || args.closes.is_some()
        || !args.holidays.is_empty();
    if touches_calendar {
        let calendar = input.calendar.get_or_insert_with(SlaCalendar::default);
        if let Some(zone) = args.time_zone {
            calendar.time_zone = zone;
        }
        if let Some(days) = args.working_days {
            calendar.working_days = parse_days(&days)?;
        }
        if let Some(opens) = args.opens {
            calendar.opens = parse_time(&opens, "opens")?;
        }
        if let Some(closes) = args.closes {
            calendar.closes = parse_time(&closes, "closes")?;
        }
        if !args.holidays.is_empty() {
            calendar.holidays = args
                .holidays
                .iter()
                .map(|day| NaiveDate::parse_from_str(day.trim(), "%Y-%m-%d").map_err(|_| CliError::usage(format!("--holiday {day}: expected a date like 2026-12-25"))))
                .collect::<CliResult<_>>()?;
        }
    }
    Ok(())
}

/// `mon-fri`, `sat,sun`, `mon-wed,fri`.
fn parse_days(text: &str) -> CliResult<Vec<Weekday>> {
    let day = |name: &str| name.trim().parse::<Weekday>().map_err(|_| CliError::usage(format!("--working-days: '{name}' is not a weekday")));
    let mut days = Vec::new();
    for part in text.split(',').filter(|p| !p.trim().is_empty()) {
        match part.split_once('-') {
            Some((first, last)) => {
                let (mut current, last) = (day(first)?, day(last)?);
                loop {
                    if !days.contains(&current) {
                        days.push(current);
                    }
                    if current == last {
                        break;
                    }
                    current = current.succ();
                }
            }
            None => {
                let single = day(part)?;
                if !days.contains(&single) {
                    days.push(single);
                }
            }
        }
    }
    if days.is_empty() {
        return Err(CliError::usage("--working-days: name at least one day"));
    }
    Ok(days)
}

fn parse_time(text: &str, flag: &str) -> CliResult<NaiveTime> {
    NaiveTime::parse_from_str(text.trim(), "%H:%M")
        .or_else(|_| NaiveTime::parse_from_str(text.trim(), "%H:%M:%S"))
        .map_err(|_| CliError::usage(format!("--{flag} {text}: expected a time like 09:00")))
}

/// `Mon-Fri`, `Mon-Wed,Fri`: runs of three or more days as ranges.
fn day_ranges(days: &[Weekday]) -> String {
    let mut sorted = days.to_vec();
    sorted.sort_by_key(|day| day.num_days_from_monday());
    let mut runs: Vec<Vec<Weekday>> = Vec::new();
    for day in sorted {
        match runs.last_mut() {
            Some(run) if run.last().is_some_and(|last| last.succ() == day) => run.push(day),
            _ => runs.push(vec![day]),
        }
    }
    let mut parts = Vec::new();
    for run in runs {
        match run.as_slice() {
            [first, .., last] if run.len() >= 3 => parts.push(format!("{first}-{last}")),
            days => parts.extend(days.iter().map(Weekday::to_string)),
        }
    }
    parts.join(",")
}

/// Team names by id, for tables (one request).
async fn team_names(session: &Session, output: &Output) -> CliResult<HashMap<Uuid, String>> {
    if !output.for_people() {
        return Ok(HashMap::new());
    }
    let teams = teams::live(session).await?;
    Ok(teams.into_iter().map(|team| (team.id, team.name)).collect())
}

impl Record for SlaPolicy {
    const FIELDS: &'static [&'static str] = &[
        "id", "name", "priority", "category", "team_id", "first_response_secs", "resolution_secs", "warning_percent",
        "calendar", "created_at", "updated_at", "deleted_at",
    ];

    fn id(&self) -> String {
        self.id.to_string()
    }
}

/// A policy with its team's name, as a table row.
pub struct PolicyRow<'a> {
    pub policy: &'a SlaPolicy,
    pub teams: &'a HashMap<Uuid, String>,
}

impl Tabular for PolicyRow<'_> {
    const COLUMNS: &'static [Column] = &[
        Column::shrink("name", 10),
        Column::whole("priority"),
        Column::shrink("category", 8),
        Column::shrink("team", 8),
        Column::whole("first response"),
        Column::whole("resolution"),
        Column::shrink("hours", 12),
        Column::number("warn at").wide(),
        Column::whole("id").wide(),
    ];

    fn row(&self, _: &Layout) -> Vec<Cell> {
        let policy = self.policy;
        let calendar = &policy.calendar;
        let any = || Cell::new("any", Tone::Muted);
        vec![
            Cell::new(&policy.name, Tone::Strong),
            priority(policy.priority),
            policy.category.clone().map_or_else(any, Cell::from),
            match policy.team_id {
                Some(id) => self.teams.get(&id).cloned().unwrap_or_else(|| id.to_string()).into(),
                None => any(),
            },
            span(policy.first_response_secs).into(),
            span(policy.resolution_secs).into(),
            format!(
                "{} {}-{} {}{}",
                day_ranges(&calendar.working_days),
                calendar.opens.format("%H:%M"),
                calendar.closes.format("%H:%M"),
                calendar.time_zone,
                match calendar.holidays.len() {
                    0 => String::new(),
                    1 => ", 1 holiday".to_owned(),
                    n => format!(", {n} holidays"),
                }
            )
            .into(),
            format!("{}%", policy.warning_percent).into(),
            Cell::new(policy.id.to_string(), Tone::Muted),
        ]
    }
}

#[cfg(test)]
mod tests {
    use chrono::Weekday::*;

    use super::parse_days;

    #[test]
    fn working_days_take_ranges_and_lists() {
        assert_eq!(parse_days("mon-fri").unwrap(), [Mon, Tue, Wed, Thu, Fri]);
        assert_eq!(parse_days("Sat,sun").unwrap(), [Sat, Sun]);
        assert_eq!(parse_days("fri-mon").unwrap(), [Fri, Sat, Sun, Mon]);
        assert_eq!(parse_days("mon-wed,fri,mon").unwrap(), [Mon, Tue, Wed, Fri]);
        assert!(parse_days("mon-funday").is_err());
        assert!(parse_days(",").is_err());
    }

    #[test]
    fn working_days_print_as_ranges() {
        assert_eq!(super::day_ranges(&[Mon, Tue, Wed, Thu, Fri]), "Mon-Fri");
        assert_eq!(super::day_ranges(&[Fri, Mon, Tue, Wed]), "Mon-Wed,Fri");
        assert_eq!(super::day_ranges(&[Sat, Sun]), "Sat,Sun");
    }
}
