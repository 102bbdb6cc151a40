//! What macros, bulk updates and automation rules do to a ticket: one vocabulary
//! ([`TicketActions`]), one check when it is saved ([`check`]) and one code path when it runs
//! ([`apply`]), through the same functions as the single-ticket routes (so the same lifecycle,
//! permission, SLA and history rules hold whoever acts).

use chrono::{DateTime, Utc};
use hdms_api_types::tickets::{AssignRequest, TicketActions, UpdateTicket};
use hdms_api_types::webhooks::{RuleFiredData, WebhookMessage};
use uuid::Uuid;

use crate::comms::notifications::{self, Kind, Notice};
use crate::db::Tx;
use crate::error::{Error, Result};
use crate::http::permissions::Action;
use crate::state::AppState;
use crate::tickets::placeholders::{self, Person, Values};
use crate::tickets::store::{self, TicketRow};
use crate::tickets::{assignment, comments, crud, transitions, watchers};
use crate::users::auth::AuthUser;
use crate::{with_db, with_tx};

/// Who a set of actions is for: rules may call webhooks; people's macros and bulk updates not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Use {
    Macro,
    Bulk,
    Rule,
}

fn relabel(error: Error, field: &str) -> Error {
    match error {
        Error::Validation { message, .. } => Error::invalid(field, message),
        other => other,
    }
}

/// Checks what can be checked before running (so a bad macro, bulk request or rule fails as a
/// whole when it is saved or sent, with a 422 naming the field): tags, category, team, people,
/// texts and their placeholders.
pub async fn check(state: &AppState, actions: &TicketActions, by: Use) -> Result<()> {
    if actions.is_empty() {
        return Err(Error::invalid("set", "nothing to do: give field changes (`set`), a `reply` or a `transition`"));
    }
    if let Some(set) = &actions.set {
        if let Some(category) = &set.category {
            crud::category(Some(category))?;
        }
        if let Some(tags) = &set.tags {
            crud::tags(tags)?;
        }
        crud::tags(&set.add_tags).map_err(|e| relabel(e, "add_tags"))?;
        crud::tags(&set.remove_tags).map_err(|e| relabel(e, "remove_tags"))?;
        if let Some(team) = set.team_id {
            crud::live_team(&state.db, team).await?;
        }
        if set.round_robin && matches!(set.assignee_id, Some(Some(_))) {
            return Err(Error::invalid("round_robin", "give either assignee_id or round_robin, not both"));
        }
        if let Some(Some(person)) = set.assignee_id {
            live_user(state, person, "set.assignee_id").await?;
        }
    }
    if let Some(reply) = &actions.reply {
        let body = reply.body.trim();
        if body.is_empty() || body.len() > comments::MAX_BODY_BYTES {
            return Err(Error::invalid("reply.body", format!("must be 1 to {} bytes", comments::MAX_BODY_BYTES)));
        }
        placeholders::check("reply.body", body)?;
    }
    for person in &actions.watchers {
        live_user(state, *person, "watchers").await?;
    }
    if let Some(notify) = &actions.notify {
        if notify.users.is_empty() && notify.roles.is_empty() && !notify.assignee {
            return Err(Error::invalid("notify", "name who to tell: users, roles or the assignee"));
        }
        if notify.title.trim().is_empty() || notify.title.chars().count() > 200 {
            return Err(Error::invalid("notify.title", "must be 1 to 200 characters"));
        }
        if notify.body.len() > 10_000 {
            return Err(Error::invalid("notify.body", "must be at most 10,000 bytes"));
        }
        placeholders::check("notify.title", &notify.title)?;
        placeholders::check("notify.body", &notify.body)?;
        for person in &notify.users {
            live_user(state, *person, "notify.users").await?;
        }
    }
    if let Some(endpoint) = actions.webhook_id {
        if by != Use::Rule {
            return Err(Error::invalid("webhook_id", "only rules call webhooks"));
        }
        const SQL: &str = "SELECT COUNT(*) FROM webhook_endpoints WHERE id = $1";
        let found: i64 = with_db!(&state.db, pool => sqlx::query_scalar(SQL).bind(endpoint).fetch_one(pool).await?);
        if found == 0 {
            return Err(Error::invalid("webhook_id", "no such webhook endpoint"));
        }
    }
    Ok(())
}

async fn live_user(state: &AppState, id: Uuid, field: &str) -> Result<()> {
    if crate::users::store::find_live(&state.db, id).await?.is_none_or(|u| !u.active) {
        return Err(Error::invalid(field, format!("no active user {id}")));
    }
    Ok(())
}

/// What the placeholders stand for on this ticket: `agent` is the person acting, or for a rule
/// the ticket's assignee.
async fn values(tx: &mut Tx, caller: &AuthUser, ticket: &TicketRow) -> Result<Values> {
    async fn person(tx: &mut Tx, id: Option<Uuid>) -> Result<Person> {
        let Some(id) = id else { return Ok(Person::default()) };
        const SQL: &str = "SELECT name, email FROM users WHERE id = $1";
        let row: Option<(String, String)> = with_tx!(tx, conn => sqlx::query_as(SQL).bind(id).fetch_optional(&mut *conn).await?);
        Ok(row.map(|(name, email)| Person { name, email }).unwrap_or_default())
    }
    let agent = if crate::events::acting_rule(tx).is_some() {
        person(tx, ticket.assignee_id).await?
    } else {
        Person { name: caller.user.name.clone(), email: caller.user.email.clone() }
    };
    Ok(Values {
        number: store::display_number(ticket.number),
        subject: ticket.subject.clone(),
        status: ticket.status.to_string(),
        priority: ticket.priority.to_string(),
        category: ticket.category.clone().unwrap_or_default(),
        requester: person(tx, Some(ticket.requester_id)).await?,
        agent,
    })
}

/// Applies `actions` to `ticket` inside `tx` as `caller`, in this order: field changes (as
/// `PATCH /tickets/{id}` and `POST /tickets/{id}/assign` would), the reply (as
/// `POST /tickets/{id}/comments`), the status move (as `POST /tickets/{id}/transitions`; a
/// ticket already in that status is left as is), watchers, notifications, the webhook. The
/// caller has checked visibility and the version. Returns the ticket as it now stands.
pub async fn apply(tx: &mut Tx, state: &AppState, caller: &AuthUser, ticket: &TicketRow, actions: &TicketActions, now: DateTime<Utc>) -> Result<TicketRow> {
    let mut current = ticket.clone();
    if let Some(set) = actions.set.as_ref().filter(|s| !s.is_empty()) {
        let retags = set.tags.is_some() || !set.add_tags.is_empty() || !set.remove_tags.is_empty();
        if set.priority.is_some() || set.category.is_some() || retags {
            caller.require(Action::UpdateTickets)?;
            let tags = if retags {
                let mut tags = match &set.tags {
                    Some(tags) => crud::tags(tags)?,
                    None => store::tags_in(tx, current.id).await?,
                };
                tags.extend(crud::tags(&set.add_tags)?);
                let remove = crud::tags(&set.remove_tags)?;
                tags.retain(|t| !remove.contains(t));
                tags.sort();
                tags.dedup();
                Some(tags)
            } else {
                None
            };
            let update = UpdateTicket { priority: set.priority, category: set.category.clone(), tags, ..UpdateTicket::default() };
            current = crud::edit(tx, state, caller, &current, &update, now).await?;
        }
        let request = AssignRequest {
            assignee_id: set.assignee_id.filter(|a| *a != current.assignee_id),
            team_id: set.team_id.filter(|t| Some(*t) != current.team_id),
            round_robin: set.round_robin,
            version: None,
        };
        if request.assignee_id.is_some() || request.team_id.is_some() || request.round_robin {
            caller.require(Action::AssignTickets)?;
            current = assignment::assign_in(tx, state, caller, &current, &request, now).await?;
        }
    }
    let needs_values = actions.reply.is_some() || actions.notify.is_some();
    let values = if needs_values { Some(values(tx, caller, &current).await?) } else { None };
    if let (Some(reply), Some(values)) = (&actions.reply, &values) {
        caller.require(Action::CommentTickets)?;
        let body = placeholders::render("reply.body", &reply.body, values)?;
        current = comments::add(tx, state, caller, &current, &body, reply.internal, now).await?.1;
    }
    if let Some(to) = actions.transition.filter(|to| *to != current.status) {
        caller.require(Action::TransitionTickets)?;
        current = transitions::apply(tx, state, caller, &current, to, now).await?;
    }
    for person in &actions.watchers {
        watchers::add(tx, state, caller, &current, *person, now).await?;
    }
    if let (Some(notify), Some(values)) = (&actions.notify, &values) {
        let mut people = notify.users.clone();
        for role in &notify.roles {
            people.extend(notifications::users_with_role(tx, *role, None).await?);
        }
        if notify.assignee {
            people.extend(current.assignee_id);
        }
        people.sort();
        people.dedup();
        let title = placeholders::render("notify.title", &notify.title, values)?;
        let body = placeholders::render("notify.body", &notify.body, values)?;
        let notice = Notice { kind: Kind::Rule, ticket_id: Some(current.id), title: &title, body: &body };
        notifications::notify(tx, &people, &notice, now).await?;
    }
    if let Some(endpoint) = actions.webhook_id {
        let Some(rule_id) = crate::events::acting_rule(tx) else {
            return Err(Error::invalid("webhook_id", "only rules call webhooks"));
        };
        const NAME: &str = "SELECT name FROM rules WHERE id = $1";
        let rule_name: String = with_tx!(tx, conn => sqlx::query_scalar(NAME).bind(rule_id).fetch_one(&mut *conn).await?);
        let data = RuleFiredData { rule_id, rule_name, ticket: crate::comms::webhooks::ticket(&current) };
        let queued = crate::comms::webhooks::enqueue_to(tx, endpoint, &WebhookMessage::RuleFired { timestamp: now, data }, now).await?;
        if queued.is_none() {
            return Err(Error::invalid("webhook_id", format!("webhook endpoint {endpoint} is gone or turned off")));
        }
    }
    Ok(current)
}
