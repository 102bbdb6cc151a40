//! Automation rules (admins): a trigger (an event on a ticket, or time), conditions in `all` and
//! `any` groups, and the actions macros and bulk updates use. [`engine`] runs event rules in the
//! transaction of the change; [`job`] runs time rules; the routes here manage them and dry-run
//! them (`POST /rules/{id}/test`), which acts in a transaction that is then rolled back.

pub mod conditions;
pub mod engine;
pub mod job;
pub mod store;

use axum::extract::State;
use axum::http::StatusCode;
use chrono::Utc;
use hdms_api_types::ApiError;
use hdms_api_types::rules::{
    Rule, RuleConditions, RuleInput, RuleTestChange, RuleTestRequest, RuleTestResult, RuleTestTicket, RuleTrigger, RuleUpdate,
};
use hdms_api_types::tickets::TicketActions;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::http::extract::{AppJson, AppPath};
use crate::http::permissions::{Authorized, can};
use crate::rules::engine::Outcome;
use crate::rules::store::RuleRow;
use crate::state::AppState;
use crate::tickets::actions::{self, Use};
use crate::tickets::store as tickets;
use crate::with_tx;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_rules, create_rule))
        .routes(routes!(get_rule, update_rule, delete_rule))
        .routes(routes!(enable_rule))
        .routes(routes!(disable_rule))
        .routes(routes!(test_rule))
}

/// The ticket fields a `ticket_updated` trigger may name (as the history names them).
pub const UPDATE_FIELDS: &[&str] =
    &["subject", "description", "status", "priority", "category", "assignee", "team", "tags", "parent", "merged_into", "sla_policy"];

/// Tickets a dry run without a ticket looks at.
const TEST_LIMIT: i64 = 100;

fn name(raw: &str) -> Result<String> {
    let name = raw.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(Error::invalid("name", "must be 1 to 100 characters"));
    }
    Ok(name.to_owned())
}

/// Everything checked when a rule is saved: the trigger's fields, each condition, the actions
/// (placeholders included) and, for a time rule, that its actions make one of its `all`
/// conditions false (else it would act again on every run).
async fn check(state: &AppState, trigger: &RuleTrigger, conditions: &RuleConditions, actions: &TicketActions) -> Result<()> {
    if let RuleTrigger::TicketUpdated { fields } = trigger
        && let Some(bad) = fields.iter().find(|f| !UPDATE_FIELDS.contains(&f.as_str()))
    {
        return Err(Error::invalid("trigger.fields", format!("unknown field '{bad}'; known: {}", UPDATE_FIELDS.join(", "))));
    }
    conditions::check(conditions)?;
    actions::check(state, actions, Use::Rule).await?;
    if *trigger == RuleTrigger::Time && !conditions.all.iter().any(|c| conditions::falsified_by(c, actions)) {
        return Err(Error::invalid(
            "conditions",
            "a time rule needs a condition in `all` that its own actions make false (e.g. `status is pending_customer` \
             with a transition to `closed`, `assignee is none` with an assignment, `tags is_not reminded` with \
             add_tags `reminded`); otherwise it would act on the same tickets on every run",
        ));
    }
    Ok(())
}

/// Every rule, in the order they run.
#[utoipa::path(get, path = "/rules", tag = "rules",
    security(("bearer" = ["rules.manage"])),
    responses((status = 200, body = Vec<Rule>)))]
async fn list_rules(State(state): State<AppState>, _caller: Authorized<can::ManageRules>) -> Result<AppJson<Vec<Rule>>> {
    Ok(AppJson(store::all(&state.db).await?.iter().map(RuleRow::view).collect::<Result<_>>()?))
}

/// Save a rule. It is checked whole: unknown placeholders, conditions that do not fit their
/// field, references to missing teams or people, and a time rule without a condition its own
/// actions make false all answer 422 naming the field.
#[utoipa::path(post, path = "/rules", tag = "rules",
    request_body = RuleInput,
    security(("bearer" = ["rules.manage"])),
    responses((status = 201, body = Rule), (status = 422, body = ApiError)))]
async fn create_rule(
    State(state): State<AppState>,
    caller: Authorized<can::ManageRules>,
    AppJson(input): AppJson<RuleInput>,
) -> Result<(StatusCode, AppJson<Rule>)> {
    let name = name(&input.name)?;
    check(&state, &input.trigger, &input.conditions, &input.actions).await?;
    let position = match input.position {
        Some(position) => position,
        None => store::next_position(&state.db).await?,
    };
    let row = RuleRow {
        id: Uuid::now_v7(),
        name,
        position,
        enabled: input.enabled,
        trigger_on: input.trigger.name().to_owned(),
        trigger_json: store::json(&input.trigger)?,
        conditions: store::json(&input.conditions)?,
        actions: store::json(&input.actions)?,
        disabled_reason: None,
        time_cursor: None,
        last_fired_at: None,
        created_by: Some(caller.id()),
        created_at: Utc::now(),
        updated_at: None,
    };
    store::insert(&state.db, &row).await?;
    Ok((StatusCode::CREATED, AppJson(row.view()?)))
}

#[utoipa::path(get, path = "/rules/{id}", tag = "rules",
    params(("id" = Uuid, Path)),
    security(("bearer" = ["rules.manage"])),
    responses((status = 200, body = Rule), (status = 404, body = ApiError)))]
async fn get_rule(State(state): State<AppState>, _caller: Authorized<can::ManageRules>, AppPath(id): AppPath<Uuid>) -> Result<AppJson<Rule>> {
    Ok(AppJson(store::find(&state.db, id).await?.view()?))
}

/// Change a rule; what is given replaces what was, and the whole is checked again as on
/// creation. Turning it on clears the reason hdms turned it off.
#[utoipa::path(patch, path = "/rules/{id}", tag = "rules",
    params(("id" = Uuid, Path)),
    request_body = RuleUpdate,
    security(("bearer" = ["rules.manage"])),
    responses((status = 200, body = Rule), (status = 404, body = ApiError), (status = 422, body = ApiError)))]
async fn update_rule(
    State(state): State<AppState>,
    _caller: Authorized<can::ManageRules>,
    AppPath(id): AppPath<Uuid>,
    AppJson(update): AppJson<RuleUpdate>,
) -> Result<AppJson<Rule>> {
    let mut row = store::find(&state.db, id).await?;
    let current = row.load()?;
    let trigger = update.trigger.unwrap_or(current.trigger);
    let conditions = update.conditions.unwrap_or(current.conditions);
    let actions = update.actions.unwrap_or(current.actions);
    check(&state, &trigger, &conditions, &actions).await?;
    if let Some(n) = &update.name {
        row.name = name(n)?;
    }
    if let Some(position) = update.position {
        row.position = position;
    }
    if let Some(enabled) = update.enabled {
        if enabled {
            row.disabled_reason = None;
        }
        row.enabled = enabled;
    }
    row.trigger_on = trigger.name().to_owned();
    row.trigger_json = store::json(&trigger)?;
    row.conditions = store::json(&conditions)?;
    row.actions = store::json(&actions)?;
    row.updated_at = Some(Utc::now());
    store::update(&state.db, &row).await?;
    Ok(AppJson(row.view()?))
}

#[utoipa::path(delete, path = "/rules/{id}", tag = "rules",
    params(("id" = Uuid, Path)),
    security(("bearer" = ["rules.manage"])),
    responses((status = 204), (status = 404, body = ApiError)))]
async fn delete_rule(State(state): State<AppState>, _caller: Authorized<can::ManageRules>, AppPath(id): AppPath<Uuid>) -> Result<StatusCode> {
    store::delete(&state.db, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn set_enabled(state: &AppState, id: Uuid, enabled: bool) -> Result<Rule> {
    let mut row = store::find(&state.db, id).await?;
    if enabled {
        // Checked again: what it names may have gone since it was turned off.
        let current = row.load()?;
        check(state, &current.trigger, &current.conditions, &current.actions).await?;
        row.disabled_reason = None;
    }
    row.enabled = enabled;
    row.updated_at = Some(Utc::now());
    store::update(&state.db, &row).await?;
    row.view()
}

/// Turn a rule on (checked again first; clears the reason hdms turned it off).
#[utoipa::path(post, path = "/rules/{id}/enable", tag = "rules",
    params(("id" = Uuid, Path)),
    security(("bearer" = ["rules.manage"])),
    responses((status = 200, body = Rule), (status = 404, body = ApiError), (status = 422, body = ApiError)))]
async fn enable_rule(State(state): State<AppState>, _caller: Authorized<can::ManageRules>, AppPath(id): AppPath<Uuid>) -> Result<AppJson<Rule>> {
    Ok(AppJson(set_enabled(&state, id, true).await?))
}

/// Turn a rule off.
#[utoipa::path(post, path = "/rules/{id}/disable", tag = "rules",
    params(("id" = Uuid, Path)),
    security(("bearer" = ["rules.manage"])),
    responses((status = 200, body = Rule), (status = 404, body = ApiError)))]
async fn disable_rule(State(state): State<AppState>, _caller: Authorized<can::ManageRules>, AppPath(id): AppPath<Uuid>) -> Result<AppJson<Rule>> {
    Ok(AppJson(set_enabled(&state, id, false).await?))
}

/// A dry run: which tickets meet the rule's conditions now (the given one, or up to 100 live
/// tickets, newest first) and what its actions would change on each, changing nothing: the
/// actions run in a transaction that is rolled back. Conditions on the change that triggers a
/// rule (`changed_to`, `changed_from`) do not hold here, there being no change.
#[utoipa::path(post, path = "/rules/{id}/test", tag = "rules",
    params(("id" = Uuid, Path)),
    request_body = RuleTestRequest,
    security(("bearer" = ["rules.manage"])),
    responses((status = 200, body = RuleTestResult), (status = 404, body = ApiError)))]
async fn test_rule(
    State(state): State<AppState>,
    _caller: Authorized<can::ManageRules>,
    AppPath(id): AppPath<Uuid>,
    AppJson(request): AppJson<RuleTestRequest>,
) -> Result<AppJson<RuleTestResult>> {
    let rule = store::find(&state.db, id).await?.load()?;
    let ids: Vec<Uuid> = match request.ticket_id {
        Some(ticket) => {
            tickets::find(&state.db, ticket).await?.filter(|t| t.deleted_at.is_none()).ok_or(Error::NotFound { what: "ticket" })?;
            vec![ticket]
        }
        None => {
            const SQL: &str = "SELECT id FROM tickets WHERE deleted_at IS NULL AND status NOT IN ('closed', 'cancelled') ORDER BY id DESC LIMIT $1";
            crate::with_db!(&state.db, pool => sqlx::query_scalar(SQL).bind(TEST_LIMIT).fetch_all(pool).await?)
        }
    };
    let now = Utc::now();
    let mut result = RuleTestResult { checked: 0, matched: Vec::new() };
    // One transaction, never committed: whatever the actions write is rolled back.
    let mut tx = state.db.begin().await?;
    for id in ids {
        result.checked += 1;
        let Some(ticket) = tickets::find_in(&mut tx, id).await?.filter(|t| t.deleted_at.is_none()) else { continue };
        let mut facts = conditions::Facts::new(ticket.clone(), &[], now);
        if !conditions::holds(&mut tx, &state, &rule.conditions, &mut facts).await? {
            continue;
        }
        let error = match engine::act(&mut tx, &state, &rule, &ticket, now).await? {
            Outcome::Failed(reason) => Some(reason),
            Outcome::Skipped => Some("the rule could not act (see the server log)".to_owned()),
            Outcome::Acted => None,
        };
        const CHANGES: &str = "SELECT field, before, after FROM ticket_history WHERE ticket_id = $1 AND rule_id = $2 AND at = $3 ORDER BY id";
        let rows: Vec<(String, Option<String>, Option<String>)> =
            with_tx!(&mut tx, conn => sqlx::query_as(CHANGES).bind(ticket.id).bind(rule.id).bind(now).fetch_all(&mut *conn).await?);
        let mut changes = Vec::new();
        for (field, before, mut after) in rows {
            // A reply or note is recorded by its id: show what it would say.
            if matches!(field.as_str(), "reply" | "internal_note")
                && let Some(id) = after.as_deref().and_then(|a| Uuid::parse_str(a).ok())
            {
                const BODY: &str = "SELECT body FROM comments WHERE id = $1";
                after = with_tx!(&mut tx, conn => sqlx::query_scalar(BODY).bind(id).fetch_optional(&mut *conn).await?).or(after);
            }
            changes.push(RuleTestChange { field, before, after });
        }
        result.matched.push(RuleTestTicket { ticket_id: ticket.id, number: tickets::display_number(ticket.number), subject: ticket.subject, changes, error });
        if result.matched.last().is_some_and(|m| m.error.is_some()) {
            // The rule is "turned off" in this transaction: the rest would not run either.
            break;
        }
    }
    drop(tx);
    Ok(AppJson(result))
}
