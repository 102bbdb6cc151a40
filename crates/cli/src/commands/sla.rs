//! `hdms sla …`: SLA policies.

use chrono::{NaiveDate, NaiveTime, Weekday};
use hdms_api_types::sla::{SlaCalendar, SlaPolicy, SlaPolicyInput};
use uuid::Uuid;

use crate::cli::{SlaCommand, SlaPolicyArgs};
use crate::commands::{parse_id, teams};
use crate::exit::{CliError, CliResult};
use crate::output::{Output, Record, optional};
use hdms_api_types::credentials::Session;

pub async fn run(mut session: Session, output: Output, command: SlaCommand) -> CliResult {
    match command {
        SlaCommand::List => {
            let policies = session.call(|client| async move { client.list_sla_policies().await }).await?;
            output.list(&policies)
        }
        SlaCommand::Show { id } => {
            let id = parse_id(&id, "SLA policy")?;
            output.one(&session.call(|client| async move { client.get_sla_policy(id).await }).await?)
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
            apply(&mut session, &mut input, args).await?;
            let policy = session.call(|client| {
                let input = input.clone();
                async move { client.create_sla_policy(&input).await }
            }).await?;
            output.one(&policy)
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
            apply(&mut session, &mut input, args).await?;
            let policy = session.call(|client| {
                let input = input.clone();
                async move { client.update_sla_policy(id, &input).await }
            }).await?;
            output.one(&policy)
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
async fn apply(session: &mut Session, input: &mut SlaPolicyInput, args: SlaPolicyArgs) -> CliResult {
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

/// `4h`, `1d 2h`, `90m`: the largest units that divide the time.
fn human_secs(secs: i64) -> String {
    humantime::format_duration(std::time::Duration::from_secs(secs.unsigned_abs())).to_string()
}

impl Record for SlaPolicy {
    const COLUMNS: &'static [&'static str] =
        &["id", "name", "priority", "category", "team_id", "first_response", "resolution", "warning_percent", "calendar"];

    fn cells(&self) -> Vec<String> {
        let calendar = &self.calendar;
        let days: Vec<String> = calendar.working_days.iter().map(Weekday::to_string).collect();
        vec![
            self.id.to_string(),
            self.name.clone(),
            self.priority.to_string(),
            optional(&self.category),
            self.team_id.map(|id: Uuid| id.to_string()).unwrap_or_default(),
            human_secs(self.first_response_secs),
            human_secs(self.resolution_secs),
            self.warning_percent.to_string(),
            format!(
                "{} {} {}-{}{}",
                calendar.time_zone,
                days.join(","),
                calendar.opens.format("%H:%M"),
                calendar.closes.format("%H:%M"),
                if calendar.holidays.is_empty() { String::new() } else { format!(", {} holidays", calendar.holidays.len()) }
            ),
        ]
    }

    fn id(&self) -> String {
        self.id.to_string()
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
}
