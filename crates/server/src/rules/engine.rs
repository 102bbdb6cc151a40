//! Running rules. Event rules run in the transaction of the change that triggered them, just
//! before it commits ([`run`], called by [`crate::events::commit`]): the events the change noted
//! are matched against the enabled rules in order; a rule whose conditions hold acts through
//! [`crate::tickets::actions::apply`] as the admin who made it, its history entries naming the
//! rule. Its own changes are events again, for the rules after it and the next round, up to
//! [`MAX_DEPTH`] rounds; a rule acts at most once per ticket in one chain, so no chain loops.
//!
//! Each rule acts inside a savepoint: when its actions fail (a team deleted since, a move the
//! lifecycle does not allow), they are undone, the rule is turned off with the reason, admins
//! are told, and the change that triggered it commits all the same.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use hdms_api_types::Role;
use hdms_api_types::rules::RuleTrigger;
use uuid::Uuid;

use crate::comms::notifications::{self, Kind, Notice};
use crate::db::Tx;
use crate::error::{Error, Result};
use crate::events::Event;
use crate::rules::conditions::{self, Facts};
use crate::rules::store::{self, LoadedRule};
use crate::state::AppState;
use crate::tickets::actions;
use crate::tickets::store::{self as tickets, TicketRow};
use crate::users::auth::AuthUser;
use crate::users::store::{UserRow, user_columns};
use crate::with_tx;

/// Rounds of rules reacting to rules' changes; what is left after them is dropped (logged).
pub const MAX_DEPTH: usize = 3;

/// Whether a rule's trigger reacts to an event.
pub fn triggers(trigger: &RuleTrigger, event: &Event) -> bool {
    match (trigger, event) {
        (RuleTrigger::TicketCreated, Event::Created { .. }) => true,
        (RuleTrigger::TicketUpdated { fields }, Event::Updated { changes, .. }) => {
            fields.is_empty() || changes.iter().any(|c| fields.iter().any(|f| f == &c.field))
        }
        (RuleTrigger::CommentAdded { internal, by }, Event::Commented { internal: was_internal, source, .. }) => {
            internal.is_none_or(|i| i == *was_internal) && (by.is_empty() || by.contains(source))
        }
        (RuleTrigger::SlaWarning, Event::SlaWarning { .. }) => true,
        (RuleTrigger::SlaBreach, Event::SlaBreach { .. }) => true,
        (RuleTrigger::ApprovalDecided, Event::ApprovalDecided { .. }) => true,
        _ => false,
    }
}

/// Runs the event rules on what `tx` has noted, in `tx`; says whether any acted.
pub async fn run(tx: &mut Tx, state: &AppState, now: DateTime<Utc>) -> Result<bool> {
    if tx.context().events.is_empty() {
        return Ok(false);
    }
    let rules = store::event_rules(tx).await?;
    if rules.is_empty() {
        tx.context().events.clear();
        return Ok(false);
    }
    let mut fired: HashSet<(Uuid, Uuid)> = HashSet::new();
    let mut off: HashSet<Uuid> = HashSet::new();
    for depth in 0.. {
        let events = std::mem::take(&mut tx.context().events);
        if events.is_empty() {
            break;
        }
        if depth >= MAX_DEPTH {
            tracing::warn!(events = events.len(), "rule chain reached its depth limit; the rules' last changes trigger no more rules");
            break;
        }
        for event in &events {
            let ticket = event.ticket();
            // Read once for all the rules, again only after one has acted.
            let mut facts: Option<Facts<'_>> = None;
            for rule in rules.iter().filter(|r| triggers(&r.trigger, event)) {
                if off.contains(&rule.id) || fired.contains(&(rule.id, ticket)) {
                    continue;
                }
                if facts.is_none() {
                    let Some(row) = tickets::find_in(tx, ticket).await?.filter(|t| t.deleted_at.is_none()) else { break };
                    facts = Some(Facts::new(row, event.changes(), now));
                }
                let known = facts.as_mut().expect("read above");
                if !conditions::holds(tx, state, &rule.conditions, known).await? {
                    continue;
                }
                let row = known.ticket.clone();
                match act(tx, state, rule, &row, now).await? {
                    Outcome::Acted => {
                        fired.insert((rule.id, ticket));
                        facts = None;
                    }
                    Outcome::Failed(_) => {
                        off.insert(rule.id);
                    }
                    Outcome::Skipped => {}
                }
            }
        }
    }
    tx.context().events.clear();
    Ok(!fired.is_empty())
}

/// What came of a rule acting on a ticket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Acted,
    /// Its actions failed; it has been turned off, with this reason.
    Failed(String),
    /// Something outside the rule failed (the database); nothing was done and the rule stays.
    Skipped,
}

/// The person a rule's actions run as: the admin who made it, else the first active admin.
async fn acting_user(tx: &mut Tx, rule: &LoadedRule) -> Result<Option<AuthUser>> {
    const SQL: &str = concat!(
        "SELECT ", user_columns!(), " FROM users WHERE role = 'admin' AND active AND deleted_at IS NULL ",
        "ORDER BY CASE WHEN id = $1 THEN 0 ELSE 1 END, created_at, id LIMIT 1"
    );
    let user: Option<UserRow> = with_tx!(tx, conn => sqlx::query_as(SQL).bind(rule.created_by).fetch_optional(&mut *conn).await?);
    Ok(user.map(|user| AuthUser { user, session_id: None }))
}

/// Runs a rule's actions on a ticket whose conditions hold, inside a savepoint of `tx`.
pub async fn act(tx: &mut Tx, state: &AppState, rule: &LoadedRule, ticket: &TicketRow, now: DateTime<Utc>) -> Result<Outcome> {
    let actor = acting_user(tx, rule).await?;
    tx.savepoint("SAVEPOINT hdms_rule").await?;
    let mark = tx.context().events.len();
    tx.context().rule = Some(rule.id);
    let result = match &actor {
        Some(actor) => actions::apply(tx, state, actor, ticket, &rule.actions, now).await,
        None => Err(Error::invalid("rule", "there is no active admin for the rule to act as")),
    };
    tx.context().rule = None;
    match result {
        Ok(_) => {
            tx.savepoint("RELEASE SAVEPOINT hdms_rule").await?;
            store::fired(tx, rule.id, now).await?;
            Ok(Outcome::Acted)
        }
        Err(error) => {
            tx.savepoint("ROLLBACK TO SAVEPOINT hdms_rule").await?;
            tx.savepoint("RELEASE SAVEPOINT hdms_rule").await?;
            tx.context().events.truncate(mark);
            let reason = match &error {
                Error::Internal(_) | Error::DatabaseUnavailable | Error::RequestTimeout => {
                    tracing::warn!(rule_id = %rule.id, ticket_id = %ticket.id, error = %error, "a rule could not act; it stays on");
                    return Ok(Outcome::Skipped);
                }
                Error::Validation { field: Some(field), message } => format!("{field}: {message}"),
                other => other.to_string(),
            };
            let reason = format!("failed on {}: {reason}", tickets::display_number(ticket.number));
            tracing::warn!(rule_id = %rule.id, ticket_id = %ticket.id, %reason, "a rule failed and was turned off");
            store::disable(tx, rule.id, &reason, now).await?;
            let admins = notifications::users_with_role(tx, Role::Admin, None).await?;
            let title = format!("Rule '{}' was turned off", rule.name);
            let notice = Notice { kind: Kind::Rule, ticket_id: Some(ticket.id), title: &title, body: &reason };
            notifications::notify(tx, &admins, &notice, now).await?;
            Ok(Outcome::Failed(reason))
        }
    }
}
