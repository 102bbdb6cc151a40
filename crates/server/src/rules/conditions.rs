//! Rule conditions: checked when a rule is saved ([`check`]), evaluated against a ticket and
//! the change that triggered the rule ([`holds`]), and the save-time proof that a time rule's
//! actions make one of its conditions false ([`falsified_by`]).

use chrono::{DateTime, Utc};
use hdms_api_types::Role;
use hdms_api_types::rules::{Condition, ConditionField, ConditionOp, RuleConditions};
use hdms_api_types::tickets::{Priority, Status, TicketActions};
use hdms_api_types::webhooks::WebhookFieldChange;
use uuid::Uuid;

use crate::db::Tx;
use crate::error::{Error, Result};
use crate::state::AppState;
use crate::tickets::sla;
use crate::tickets::store::{self, TicketRow};
use crate::with_tx;

use ConditionField as F;
use ConditionOp as Op;

/// The most conditions a rule may have (both groups together).
pub const MAX_CONDITIONS: usize = 50;

/// The operators each field takes.
fn ops(field: ConditionField) -> &'static [ConditionOp] {
    match field {
        F::Status | F::Priority | F::Team | F::Assignee => &[Op::Is, Op::IsNot, Op::ChangedTo, Op::ChangedFrom],
        F::Tags => &[Op::Is, Op::IsNot, Op::Contains, Op::ChangedTo, Op::ChangedFrom],
        F::Category => &[Op::Is, Op::IsNot, Op::Contains, Op::ChangedTo, Op::ChangedFrom],
        F::Requester | F::RequesterRole | F::RequesterTeam | F::Channel | F::BusinessHours => &[Op::Is, Op::IsNot],
        F::Age | F::InStatus | F::SinceAssignment | F::SinceUpdate | F::SinceCustomerReply => &[Op::Before, Op::After],
    }
}

fn name<T: serde::Serialize>(value: T) -> String {
    serde_json::to_value(value).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
}

/// `none` or an id.
fn id_or_none(value: &str) -> Option<Option<Uuid>> {
    if value.trim().eq_ignore_ascii_case("none") { Some(None) } else { Uuid::parse_str(value.trim()).ok().map(Some) }
}

fn duration(value: &str) -> Option<chrono::Duration> {
    humantime::parse_duration(value.trim()).ok().and_then(|d| chrono::Duration::from_std(d).ok())
}

/// Checks one condition's operator and value; `at` names it in the 422 answer.
fn check_one(condition: &Condition, at: &str) -> Result<()> {
    let (field, op, value) = (condition.field, condition.op, condition.value.trim());
    if !ops(field).contains(&op) {
        let allowed: Vec<String> = ops(field).iter().map(name).collect();
        return Err(Error::invalid(&format!("{at}.op"), format!("{} takes {}, not {}", name(field), allowed.join(", "), name(op))));
    }
    let fine = match field {
        F::Status => value.parse::<Status>().is_ok(),
        F::Priority => value.parse::<Priority>().is_ok(),
        F::Team | F::Assignee => id_or_none(value).is_some(),
        F::Requester | F::RequesterTeam => Uuid::parse_str(value).is_ok(),
        F::RequesterRole => value.parse::<Role>().is_ok(),
        F::Tags => !value.is_empty() && !value.contains(','),
        F::Category => !value.is_empty(),
        F::Channel => matches!(value, "web" | "email"),
        F::BusinessHours => matches!(value, "true" | "false"),
        F::Age | F::InStatus | F::SinceAssignment | F::SinceUpdate | F::SinceCustomerReply => duration(value).is_some(),
    };
    if !fine {
        let expected = match field {
            F::Status => "a status (new, open, in_progress, pending_customer, pending_approval, resolved, closed, cancelled)",
            F::Priority => "a priority (low, normal, high, urgent)",
            F::Team | F::Assignee => "an id or `none`",
            F::Requester | F::RequesterTeam => "an id",
            F::RequesterRole => "a role (customer, agent, supervisor, admin)",
            F::Tags => "one tag",
            F::Category => "a category or `none`",
            F::Channel => "`web` or `email`",
            F::BusinessHours => "`true` or `false`",
            _ => "a duration such as `30m`, `2h` or `5d`",
        };
        return Err(Error::invalid(&format!("{at}.value"), format!("{} takes {expected}, not '{value}'", name(field))));
    }
    Ok(())
}

pub fn check(conditions: &RuleConditions) -> Result<()> {
    if conditions.all.len() + conditions.any.len() > MAX_CONDITIONS {
        return Err(Error::invalid("conditions", format!("at most {MAX_CONDITIONS} conditions")));
    }
    for (i, c) in conditions.all.iter().enumerate() {
        check_one(c, &format!("conditions.all[{i}]"))?;
    }
    for (i, c) in conditions.any.iter().enumerate() {
        check_one(c, &format!("conditions.any[{i}]"))?;
    }
    Ok(())
}

/// Whether the actions make the condition false on any ticket it held for (so a time rule that
/// has it stops after acting once).
pub fn falsified_by(condition: &Condition, actions: &TicketActions) -> bool {
    let value = condition.value.trim();
    let set = actions.set.clone().unwrap_or_default();
    match (condition.field, condition.op) {
        (F::Status, Op::Is) => actions.transition.is_some_and(|to| to.as_str() != value),
        (F::Status, Op::IsNot) => actions.transition.is_some_and(|to| to.as_str() == value),
        (F::Priority, Op::Is) => set.priority.is_some_and(|p| p.as_str() != value),
        (F::Priority, Op::IsNot) => set.priority.is_some_and(|p| p.as_str() == value),
        (F::Team, Op::Is) => set.team_id.is_some_and(|t| id_or_none(value) != Some(Some(t))),
        (F::Team, Op::IsNot) => set.team_id.is_some_and(|t| id_or_none(value) == Some(Some(t))),
        (F::Assignee, Op::Is) => match id_or_none(value) {
            Some(None) => set.round_robin || matches!(set.assignee_id, Some(Some(_))),
            wanted => matches!(set.assignee_id, Some(a) if Some(a) != wanted),
        },
        (F::Assignee, Op::IsNot) => matches!(set.assignee_id, Some(a) if id_or_none(value) == Some(a)),
        (F::Tags, Op::Is | Op::Contains) => {
            let tag = value.to_lowercase();
            set.remove_tags.iter().any(|t| t.trim().to_lowercase() == tag)
                || (set.tags.as_ref().is_some_and(|tags| !tags.iter().any(|t| t.trim().to_lowercase() == tag))
                    && !set.add_tags.iter().any(|t| t.trim().to_lowercase() == tag))
        }
        (F::Tags, Op::IsNot) => {
            let tag = value.to_lowercase();
            let adds = set.add_tags.iter().chain(set.tags.iter().flatten()).any(|t| t.trim().to_lowercase() == tag);
            adds && !set.remove_tags.iter().any(|t| t.trim().to_lowercase() == tag)
        }
        (F::Category, Op::Is) => set.category.as_ref().is_some_and(|c| !c.trim().eq_ignore_ascii_case(value)),
        (F::Category, Op::IsNot) => set.category.as_ref().is_some_and(|c| c.trim().eq_ignore_ascii_case(value)),
        _ => false,
    }
}

/// What conditions look at, read from the database only when a condition asks.
pub struct Facts<'a> {
    pub ticket: TicketRow,
    pub changes: &'a [WebhookFieldChange],
    pub now: DateTime<Utc>,
    tags: Option<Vec<String>>,
    requester: Option<(Role, Vec<Uuid>)>,
}

impl<'a> Facts<'a> {
    pub fn new(ticket: TicketRow, changes: &'a [WebhookFieldChange], now: DateTime<Utc>) -> Facts<'a> {
        Facts { ticket, changes, now, tags: None, requester: None }
    }

    async fn tags(&mut self, tx: &mut Tx) -> Result<&[String]> {
        if self.tags.is_none() {
            self.tags = Some(store::tags_in(tx, self.ticket.id).await?);
        }
        Ok(self.tags.as_deref().unwrap_or_default())
    }

    async fn requester(&mut self, tx: &mut Tx) -> Result<&(Role, Vec<Uuid>)> {
        if self.requester.is_none() {
            const ROLE: &str = "SELECT role FROM users WHERE id = $1";
            const TEAMS: &str = "SELECT team_id FROM team_members WHERE user_id = $1";
            let id = self.ticket.requester_id;
            let role: String = with_tx!(tx, conn => sqlx::query_scalar(ROLE).bind(id).fetch_one(&mut *conn).await?);
            let teams: Vec<Uuid> = with_tx!(tx, conn => sqlx::query_scalar(TEAMS).bind(id).fetch_all(&mut *conn).await?);
            self.requester = Some((role.parse().unwrap_or(Role::Customer), teams));
        }
        Ok(self.requester.as_ref().expect("just read"))
    }

    /// When the ticket's history last changed `field` (or when it was made).
    async fn last_change(&mut self, tx: &mut Tx, field: &str) -> Result<DateTime<Utc>> {
        const SQL: &str = "SELECT at FROM ticket_history WHERE ticket_id = $1 AND field = $2 ORDER BY id DESC LIMIT 1";
        let at: Option<DateTime<Utc>> = with_tx!(tx, conn => sqlx::query_scalar(SQL).bind(self.ticket.id).bind(field).fetch_optional(&mut *conn).await?);
        Ok(at.unwrap_or(self.ticket.created_at))
    }

    async fn customer_replied(&mut self, tx: &mut Tx) -> Result<DateTime<Utc>> {
        const SQL: &str = "SELECT c.created_at FROM comments c JOIN users u ON u.id = c.author_id \
                           WHERE c.ticket_id = $1 AND u.role = 'customer' AND NOT c.internal AND c.deleted_at IS NULL \
                           ORDER BY c.room_seq DESC LIMIT 1";
        let at: Option<DateTime<Utc>> = with_tx!(tx, conn => sqlx::query_scalar(SQL).bind(self.ticket.id).fetch_optional(&mut *conn).await?);
        Ok(at.unwrap_or(self.ticket.created_at))
    }
}

/// The change of `field` in the triggering event, merged over its saves: (first before, last after).
fn change_of(changes: &[WebhookFieldChange], field: &str) -> Option<(Option<String>, Option<String>)> {
    let mut matching = changes.iter().filter(|c| c.field == field);
    let first = matching.next()?;
    let last = changes.iter().rfind(|c| c.field == field).unwrap_or(first);
    Some((first.before.clone(), last.after.clone()))
}

fn same(a: Option<&str>, value: &str) -> bool {
    match a {
        None => value.eq_ignore_ascii_case("none"),
        Some(a) => a.eq_ignore_ascii_case(value),
    }
}

fn list(text: Option<&str>) -> Vec<String> {
    text.unwrap_or_default().split(',').map(str::trim).filter(|t| !t.is_empty()).map(str::to_owned).collect()
}

async fn one(tx: &mut Tx, state: &AppState, c: &Condition, facts: &mut Facts<'_>) -> Result<bool> {
    let value = c.value.trim();
    let t = facts.ticket.clone();
    // The current value of a field a change can carry, as the history writes it.
    let current: Option<String> = match c.field {
        F::Status => Some(t.status.to_string()),
        F::Priority => Some(t.priority.to_string()),
        F::Team => t.team_id.map(|id| id.to_string()),
        F::Assignee => t.assignee_id.map(|id| id.to_string()),
        F::Category => t.category.clone(),
        _ => None,
    };
    let history_field = match c.field {
        F::Status => "status",
        F::Priority => "priority",
        F::Team => "team",
        F::Assignee => "assignee",
        F::Category => "category",
        F::Tags => "tags",
        _ => "",
    };
    if matches!(c.op, Op::ChangedTo | Op::ChangedFrom) {
        let Some((before, after)) = change_of(facts.changes, history_field) else { return Ok(false) };
        if c.field == F::Tags {
            let (before, after) = (list(before.as_deref()), list(after.as_deref()));
            let tag = value.to_lowercase();
            return Ok(match c.op {
                Op::ChangedTo => after.contains(&tag) && !before.contains(&tag),
                _ => before.contains(&tag) && !after.contains(&tag),
            });
        }
        return Ok(match c.op {
            Op::ChangedTo => same(after.as_deref(), value) && !same(before.as_deref(), value),
            _ => same(before.as_deref(), value) && !same(after.as_deref(), value),
        });
    }
    let elapsed_since = |at: DateTime<Utc>, now: DateTime<Utc>| now - at;
    let is = match c.field {
        F::Status | F::Priority | F::Team | F::Assignee => same(current.as_deref(), value),
        F::Category => match c.op {
            Op::Contains => current.as_deref().is_some_and(|cat| cat.contains(&value.to_lowercase())),
            _ => same(current.as_deref(), value),
        },
        F::Tags => {
            let tag = value.to_lowercase();
            facts.tags(tx).await?.contains(&tag)
        }
        F::Requester => t.requester_id.to_string().eq_ignore_ascii_case(value),
        F::RequesterRole => facts.requester(tx).await?.0.as_str().eq_ignore_ascii_case(value),
        F::RequesterTeam => {
            let team = Uuid::parse_str(value).ok();
            let teams = &facts.requester(tx).await?.1;
            team.is_some_and(|team| teams.contains(&team))
        }
        F::Channel => {
            const SQL: &str = "SELECT channel FROM tickets WHERE id = $1";
            let channel: String = with_tx!(tx, conn => sqlx::query_scalar(SQL).bind(t.id).fetch_one(&mut *conn).await?);
            channel == value
        }
        F::BusinessHours => {
            let policies = sla::all_policies(&state.db).await?;
            let open = sla::find(&policies, t.sla_policy_id)
                .is_none_or(|p| p.calendar.add_business_time(facts.now, chrono::Duration::zero()) == facts.now);
            open == (value == "true")
        }
        F::Age | F::InStatus | F::SinceAssignment | F::SinceUpdate | F::SinceCustomerReply => {
            let at = match c.field {
                F::Age => t.created_at,
                F::InStatus => facts.last_change(tx, "status").await?,
                F::SinceAssignment => facts.last_change(tx, "assignee").await?,
                F::SinceUpdate => t.updated_at,
                _ => facts.customer_replied(tx).await?,
            };
            let limit = duration(value).unwrap_or_default();
            let elapsed = elapsed_since(at, facts.now);
            return Ok(match c.op {
                Op::Before => elapsed < limit,
                _ => elapsed > limit,
            });
        }
    };
    Ok(match c.op {
        Op::IsNot => !is,
        _ => is,
    })
}

/// Whether the ticket meets every condition of `all` and (when there are any) one of `any`.
pub async fn holds(tx: &mut Tx, state: &AppState, conditions: &RuleConditions, facts: &mut Facts<'_>) -> Result<bool> {
    for c in &conditions.all {
        if !one(tx, state, c, facts).await? {
            return Ok(false);
        }
    }
    if conditions.any.is_empty() {
        return Ok(true);
    }
    for c in &conditions.any {
        if one(tx, state, c, facts).await? {
            return Ok(true);
        }
    }
    Ok(false)
}
