//! `hdms rules …`: automation rules (admins), defined in a JSON file (the API's rule object) or
//! with flags, and dry-run against the tickets of now.

use std::path::PathBuf;

use clap::Subcommand;
use hdms_api_types::credentials::Session;
use hdms_api_types::rules::{Condition, ConditionField, ConditionOp, Rule, RuleConditions, RuleInput, RuleTestRequest, RuleTestResult, RuleTestTicket, RuleTrigger, RuleUpdate};
use hdms_api_types::tickets::TicketActions;
use uuid::Uuid;

use crate::commands::args_or_stdin;
use crate::exit::{CliError, CliResult};
use crate::output::human::{ago, yes_no};
use crate::output::{Cell, Column, Layout, Output, Record, Tabular, Tone, render_table};

/// What a rule is made of, from a file and flags (flags win).
#[derive(clap::Args, Clone, Default)]
pub struct RuleSpec {
    /// A JSON file holding the rule (`name`, `position`, `enabled`, `trigger`, `conditions`,
    /// `actions`, as docs/rules.md shows), or `-` for stdin.
    #[arg(long, short = 'f')]
    pub file: Option<PathBuf>,
    /// The rule's name.
    #[arg(long)]
    pub name: Option<String>,
    /// Where it runs among the others (lower first).
    #[arg(long)]
    pub position: Option<i64>,
    /// The trigger: ticket_created, ticket_updated, comment_added, sla_warning, sla_breach, approval_decided or time.
    #[arg(long = "on")]
    pub on: Option<String>,
    /// A condition every ticket must meet, `FIELD OP VALUE` (e.g. `priority is urgent`, `in_status after 5d`); repeat it.
    #[arg(long = "when")]
    pub when: Vec<String>,
    /// A condition of which at least one must hold (same form); repeat it.
    #[arg(long = "when-any")]
    pub when_any: Vec<String>,
    /// The actions as JSON (`{"set": {"add_tags": ["vip"]}, "transition": "open"}`).
    #[arg(long)]
    pub actions: Option<String>,
}

#[derive(Subcommand)]
pub enum RulesCommand {
    /// List the rules, in the order they run.
    #[command(after_help = "Examples:\n  hdms rules list\n  hdms rules list -o json")]
    List,
    /// Show one rule (by id or exact name).
    #[command(after_help = "Examples:\n  hdms rules show 'Urgent to tier 2'\n  hdms rules show 0193e0a1-0000-7000-8000-000000000000 -o json")]
    Show {
        /// The rule's id or name.
        rule: String,
    },
    /// Create a rule from a JSON file and/or flags.
    #[command(after_help = "Examples:\n  hdms rules create --file urgent.json\n  hdms rules create --name 'Tag VIP' --on ticket_created --when 'requester_role is customer' --when 'priority is urgent' --actions '{\"set\":{\"add_tags\":[\"vip\"]}}'")]
    Create {
        #[command(flatten)]
        spec: RuleSpec,
        /// Create it turned off.
        #[arg(long)]
        disabled: bool,
    },
    /// Change a rule: what the file and flags give replaces what was.
    #[command(after_help = "Examples:\n  hdms rules update 'Tag VIP' --position 1\n  hdms rules update 0193e0a1-0000-7000-8000-000000000000 --file urgent.json")]
    Update {
        /// The rule's id or name.
        rule: String,
        #[command(flatten)]
        spec: RuleSpec,
    },
    /// Turn rules on (checked again first).
    #[command(after_help = "Examples:\n  hdms rules enable 'Tag VIP'\n  hdms rules list --ids | hdms rules enable -")]
    Enable {
        /// Ids or names of rules, or `-` to read them from stdin.
        #[arg(required = true)]
        rules: Vec<String>,
    },
    /// Turn rules off.
    #[command(after_help = "Examples:\n  hdms rules disable 'Tag VIP'\n  hdms rules list --ids | hdms rules disable -")]
    Disable {
        /// Ids or names of rules, or `-` to read them from stdin.
        #[arg(required = true)]
        rules: Vec<String>,
    },
    /// Delete rules.
    #[command(after_help = "Examples:\n  hdms rules delete 'Tag VIP'\n  hdms rules delete 0193e0a1-0000-7000-8000-000000000000")]
    Delete {
        /// Ids or names of rules, or `-` to read them from stdin.
        #[arg(required = true)]
        rules: Vec<String>,
    },
    /// A dry run: which tickets the rule would act on now, and what it would change; changes nothing.
    #[command(after_help = "Examples:\n  hdms rules test 'Resolve stale'\n  hdms rules test 'Tag VIP' --ticket HD-1042 -o json")]
    Test {
        /// The rule's id or name.
        rule: String,
        /// Only this ticket (id or number like HD-1042).
        #[arg(long)]
        ticket: Option<String>,
    },
}

pub async fn run(session: Session, output: Output, command: RulesCommand) -> CliResult {
    match command {
        RulesCommand::List => output.list(&session.call(|client| async move { client.list_rules().await }).await?),
        RulesCommand::Show { rule } => {
            let id = resolve(&session, &rule).await?;
            output.one(&session.call(|client| async move { client.get_rule(id).await }).await?)
        }
        RulesCommand::Create { spec, disabled } => {
            let mut input: RuleInput = match &spec.file {
                Some(path) => serde_json::from_str(&read(path)?).map_err(|e| CliError::usage(format!("{}: not a rule: {e}", path.display())))?,
                None => RuleInput {
                    name: String::new(),
                    position: None,
                    enabled: true,
                    trigger: RuleTrigger::TicketCreated,
                    conditions: RuleConditions::default(),
                    actions: TicketActions::default(),
                },
            };
            let update = flags(&spec)?;
            if spec.file.is_none() && (update.trigger.is_none() || update.name.is_none() || update.actions.is_none()) {
                return Err(CliError::usage("give --file, or --name, --on and --actions"));
            }
            input.name = update.name.unwrap_or(input.name);
            input.position = update.position.or(input.position);
            input.trigger = update.trigger.unwrap_or(input.trigger);
            input.conditions = update.conditions.unwrap_or(input.conditions);
            input.actions = update.actions.unwrap_or(input.actions);
            input.enabled = input.enabled && !disabled;
            let created = session.call(|client| {
                let input = input.clone();
                async move { client.create_rule(&input).await }
            }).await?;
            output.one(&created)
        }
        RulesCommand::Update { rule, spec } => {
            let id = resolve(&session, &rule).await?;
            let mut update = match &spec.file {
                Some(path) => {
                    let input: RuleInput = serde_json::from_str(&read(path)?).map_err(|e| CliError::usage(format!("{}: not a rule: {e}", path.display())))?;
                    RuleUpdate {
                        name: Some(input.name),
                        position: input.position,
                        enabled: Some(input.enabled),
                        trigger: Some(input.trigger),
                        conditions: Some(input.conditions),
                        actions: Some(input.actions),
                    }
                }
                None => RuleUpdate::default(),
            };
            let flags = flags(&spec)?;
            update.name = flags.name.or(update.name);
            update.position = flags.position.or(update.position);
            update.trigger = flags.trigger.or(update.trigger);
            update.conditions = flags.conditions.or(update.conditions);
            update.actions = flags.actions.or(update.actions);
            let updated = session.call(|client| {
                let update = update.clone();
                async move { client.update_rule(id, &update).await }
            }).await?;
            output.one(&updated)
        }
        RulesCommand::Enable { rules } => switch(&session, &output, rules, true).await,
        RulesCommand::Disable { rules } => switch(&session, &output, rules, false).await,
        RulesCommand::Delete { rules } => {
            for rule in args_or_stdin(rules)? {
                let id = resolve(&session, &rule).await?;
                session.call(|client| async move { client.delete_rule(id).await }).await?;
                eprintln!("Deleted rule {id}");
            }
            Ok(())
        }
        RulesCommand::Test { rule, ticket } => {
            let id = resolve(&session, &rule).await?;
            let ticket_id = match ticket {
                Some(ticket) => Some(crate::commands::tickets::resolve(&session, &ticket).await?),
                None => None,
            };
            let request = RuleTestRequest { ticket_id };
            let result = session.call(|client| {
                let request = request.clone();
                async move { client.test_rule(id, &request).await }
            }).await?;
            show_test(&output, &result)
        }
    }
}

fn read(path: &PathBuf) -> CliResult<String> {
    if path.as_os_str() == "-" {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut text).map_err(|e| CliError::usage(format!("cannot read stdin: {e}")))?;
        return Ok(text);
    }
    std::fs::read_to_string(path).map_err(|e| CliError::usage(format!("cannot read {}: {e}", path.display())))
}

/// `FIELD OP VALUE`, the value being the rest of the line.
fn condition(text: &str) -> CliResult<Condition> {
    let mut parts = text.trim().splitn(3, char::is_whitespace);
    let (Some(field), Some(op), Some(value)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(CliError::usage(format!("--when '{text}': expected FIELD OP VALUE, e.g. 'priority is urgent'")));
    };
    let field: ConditionField = serde_json::from_value(serde_json::Value::String(field.to_owned()))
        .map_err(|_| CliError::usage(format!("--when '{text}': unknown field '{field}' (see docs/rules.md)")))?;
    let op: ConditionOp = serde_json::from_value(serde_json::Value::String(op.to_owned()))
        .map_err(|_| CliError::usage(format!("--when '{text}': unknown operator '{op}' (is, is_not, contains, changed_to, changed_from, before, after)")))?;
    Ok(Condition { field, op, value: value.trim().to_owned() })
}

/// The flags as a partial rule.
fn flags(spec: &RuleSpec) -> CliResult<RuleUpdate> {
    let trigger = match spec.on.as_deref() {
        Some(on) => Some(
            serde_json::from_value::<RuleTrigger>(serde_json::json!({ "on": on }))
                .map_err(|_| CliError::usage(format!("--on {on}: unknown trigger (ticket_created, ticket_updated, comment_added, sla_warning, sla_breach, approval_decided, time)")))?,
        ),
        None => None,
    };
    let conditions = if spec.when.is_empty() && spec.when_any.is_empty() {
        None
    } else {
        Some(RuleConditions {
            all: spec.when.iter().map(|c| condition(c)).collect::<CliResult<_>>()?,
            any: spec.when_any.iter().map(|c| condition(c)).collect::<CliResult<_>>()?,
        })
    };
    let actions = match &spec.actions {
        Some(json) => Some(serde_json::from_str(json).map_err(|e| CliError::usage(format!("--actions: {e}")))?),
        None => None,
    };
    Ok(RuleUpdate { name: spec.name.clone(), position: spec.position, enabled: None, trigger, conditions, actions })
}

async fn switch(session: &Session, output: &Output, rules: Vec<String>, enabled: bool) -> CliResult {
    let mut latest = None;
    for rule in args_or_stdin(rules)? {
        let id = resolve(session, &rule).await?;
        latest = Some(if enabled {
            session.call(|client| async move { client.enable_rule(id).await }).await?
        } else {
            session.call(|client| async move { client.disable_rule(id).await }).await?
        });
    }
    latest.map_or(Ok(()), |rule| output.one(&rule))
}

/// A rule's id from its id or its exact name.
pub async fn resolve(session: &Session, rule: &str) -> CliResult<Uuid> {
    if let Ok(id) = Uuid::try_parse(rule.trim()) {
        return Ok(id);
    }
    let rules = session.call(|client| async move { client.list_rules().await }).await?;
    let found: Vec<&Rule> = rules.iter().filter(|r| r.name == rule.trim()).collect();
    match found.as_slice() {
        [one] => Ok(one.id),
        [] => Err(CliError::failure(format!("not_found: no rule is named '{rule}'"))),
        _ => Err(CliError::usage(format!("several rules are named '{rule}': name one by id"))),
    }
}

fn show_test(output: &Output, result: &RuleTestResult) -> CliResult {
    if !output.for_people() {
        return output.one(result);
    }
    println!("Checked {} tickets; the rule would act on {} now (nothing was changed).", result.checked, result.matched.len());
    if !result.matched.is_empty() {
        let rows: Vec<Vec<Cell>> = result.matched.iter().map(|m| m.row(&output.layout)).collect();
        print!("{}", render_table(RuleTestTicket::COLUMNS, &rows, &output.layout));
    }
    Ok(())
}

fn trigger_text(trigger: &RuleTrigger) -> String {
    match trigger {
        RuleTrigger::TicketUpdated { fields } if !fields.is_empty() => format!("ticket_updated ({})", fields.join(",")),
        RuleTrigger::CommentAdded { internal, by } => {
            let mut text = "comment_added".to_owned();
            let mut narrow = Vec::new();
            if let Some(internal) = internal {
                narrow.push(if *internal { "internal".to_owned() } else { "public".to_owned() });
            }
            narrow.extend(by.iter().map(|b| b.as_str().to_owned()));
            if !narrow.is_empty() {
                text.push_str(&format!(" ({})", narrow.join(",")));
            }
            text
        }
        other => other.name().to_owned(),
    }
}

fn conditions_text(conditions: &RuleConditions) -> String {
    let one = |c: &Condition| format!("{} {} {}", wire(c.field), wire(c.op), c.value);
    let mut parts: Vec<String> = conditions.all.iter().map(one).collect();
    if !conditions.any.is_empty() {
        parts.push(format!("any of ({})", conditions.any.iter().map(one).collect::<Vec<_>>().join(" | ")));
    }
    if parts.is_empty() { "always".to_owned() } else { parts.join(" and ") }
}

fn wire<T: serde::Serialize>(value: T) -> String {
    serde_json::to_value(value).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
}

fn actions_text(actions: &TicketActions) -> String {
    let json = serde_json::to_string(actions).unwrap_or_default();
    json.trim_start_matches('{').trim_end_matches('}').to_owned()
}

impl Record for Rule {
    const FIELDS: &'static [&'static str] =
        &["id", "name", "position", "enabled", "trigger", "conditions", "actions", "disabled_reason", "last_fired_at", "created_at", "updated_at"];

    fn id(&self) -> String {
        self.id.to_string()
    }
}

impl Tabular for Rule {
    const COLUMNS: &'static [Column] = &[
        Column::number("pos"),
        Column::shrink("name", 12),
        Column::whole("on"),
        Column::shrink("trigger", 12),
        Column::shrink("when", 16),
        Column::shrink("do", 16),
        Column::whole("fired"),
        Column::shrink("off because", 10).wide(),
        Column::whole("id").wide(),
    ];

    fn row(&self, layout: &Layout) -> Vec<Cell> {
        vec![
            self.position.to_string().into(),
            Cell::new(&self.name, Tone::Strong),
            yes_no(self.enabled),
            trigger_text(&self.trigger).into(),
            conditions_text(&self.conditions).into(),
            actions_text(&self.actions).into(),
            Cell::new(self.last_fired_at.map(|at| ago(at, layout)).unwrap_or_else(|| "never".to_owned()), Tone::Muted),
            match &self.disabled_reason {
                Some(reason) => Cell::new(reason, Tone::Bad),
                None => "".into(),
            },
            Cell::new(self.id.to_string(), Tone::Muted),
        ]
    }
}

impl Record for RuleTestResult {
    const FIELDS: &'static [&'static str] = &["checked", "matched"];

    fn id(&self) -> String {
        self.matched.iter().map(|m| m.ticket_id.to_string()).collect::<Vec<_>>().join(",")
    }
}

impl Tabular for RuleTestResult {
    const COLUMNS: &'static [Column] = &[Column::number("checked"), Column::number("would act on")];

    fn row(&self, _layout: &Layout) -> Vec<Cell> {
        vec![self.checked.to_string().into(), self.matched.len().to_string().into()]
    }
}

impl Tabular for RuleTestTicket {
    const COLUMNS: &'static [Column] = &[Column::whole("ticket"), Column::shrink("subject", 12), Column::shrink("would change", 24), Column::shrink("would fail", 12)];

    fn row(&self, _layout: &Layout) -> Vec<Cell> {
        let changes: Vec<String> = self
            .changes
            .iter()
            .map(|c| match (c.before.as_ref().filter(|b| !b.is_empty()), c.after.as_ref().filter(|a| !a.is_empty())) {
                (Some(before), Some(after)) => format!("{}: {before} → {after}", c.field),
                (None, Some(after)) => format!("{}: {after}", c.field),
                (Some(before), None) => format!("{}: {before} → none", c.field),
                (None, None) => c.field.clone(),
            })
            .collect();
        vec![
            Cell::new(&self.number, Tone::Strong),
            self.subject.as_str().into(),
            changes.join("; ").into(),
            match &self.error {
                Some(error) => Cell::new(error, Tone::Bad),
                None => "".into(),
            },
        ]
    }
}
