//! The SLA job: raises warnings and breaches as notifications, escalates breached tickets
//! (priority up, supervisors told) and closes tickets left resolved long enough.
//!
//! Every server instance runs it. Each effect is claimed by a conditional UPDATE of its marker
//! column inside the transaction that performs it, so whichever instance wins does it and the
//! others find nothing to do: each warning, breach and escalation happens exactly once.

use std::time::Duration;

use chrono::{DateTime, Utc};
use hdms_api_types::Role;
use hdms_api_types::tickets::Status;
use uuid::Uuid;

use crate::background::Background;
use crate::comms::notifications::{self, Kind, Notice};
use crate::db::Tx;
use crate::error::{Error, Result};
use crate::state::AppState;
use crate::tickets::store::{self, Change, TicketRow};
use crate::tickets::transitions::move_to;
use crate::{with_db, with_tx};

/// Tickets handled per kind and round; the rest wait for the next round.
const BATCH: i64 = 500;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    FirstResponse,
    Resolution,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Event {
    Warning,
    Breach,
}

/// What one round did (for logs and tests).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Round {
    pub warnings: usize,
    pub breaches: usize,
    pub closed: usize,
}

/// The queries for one kind of event: (claim it for one ticket, find tickets where it is due).
/// The claim sets the marker if still unset and due, and bumps the version so that an edit
/// based on the previous version cannot write the marker back.
fn queries(target: Target, event: Event) -> (&'static str, &'static str) {
    macro_rules! queries {
        ($marker:literal, $at:literal) => {
            (
                concat!("UPDATE tickets SET ", $marker, " = $1, version = version + 1 WHERE id = $2 AND ", $marker,
                        " IS NULL AND ", $at, " <= $1 AND deleted_at IS NULL"),
                concat!("SELECT id FROM tickets WHERE ", $at, " <= $1 AND ", $marker,
                        " IS NULL AND deleted_at IS NULL ORDER BY id LIMIT $2"),
            )
        };
    }
    match (target, event) {
        (Target::FirstResponse, Event::Warning) => queries!("first_response_warned_at", "first_response_warn_at"),
        (Target::FirstResponse, Event::Breach) => queries!("first_response_breached_at", "first_response_due_at"),
        (Target::Resolution, Event::Warning) => queries!("resolution_warned_at", "resolution_warn_at"),
        (Target::Resolution, Event::Breach) => queries!("resolution_breached_at", "resolution_due_at"),
    }
}

/// Whether this caller won the event for this ticket.
async fn claim(tx: &mut Tx, id: Uuid, target: Target, event: Event, now: DateTime<Utc>) -> Result<bool> {
    let (sql, _) = queries(target, event);
    let claimed = with_tx!(tx, conn => sqlx::query(sql).bind(now).bind(id).execute(&mut *conn).await?.rows_affected());
    Ok(claimed == 1)
}

async fn due(state: &AppState, target: Target, event: Event, now: DateTime<Utc>) -> Result<Vec<Uuid>> {
    let (_, sql) = queries(target, event);
    Ok(with_db!(&state.db, pool => sqlx::query_scalar(sql).bind(now).bind(BATCH).fetch_all(pool).await?))
}

/// Who hears about it: the assignee, and for breaches (or unassigned tickets) the team's
/// supervisors (all supervisors when the ticket has no team).
async fn audience(tx: &mut Tx, ticket: &TicketRow, event: Event) -> Result<Vec<Uuid>> {
    let mut people: Vec<Uuid> = ticket.assignee_id.into_iter().collect();
    if event == Event::Breach || people.is_empty() {
        let mut supervisors = notifications::users_with_role(tx, Role::Supervisor, ticket.team_id).await?;
        if supervisors.is_empty() && ticket.team_id.is_some() {
            supervisors = notifications::users_with_role(tx, Role::Supervisor, None).await?;
        }
        people.extend(supervisors);
    }
    people.sort();
    people.dedup();
    Ok(people)
}

async fn handle(state: &AppState, id: Uuid, target: Target, event: Event, now: DateTime<Utc>) -> Result<bool> {
    let mut tx = state.db.begin().await?;
    if !claim(&mut tx, id, target, event, now).await? {
        return Ok(false);
    }
    let ticket = store::find_in(&mut tx, id).await?.ok_or(Error::NotFound { what: "ticket" })?;
    let what = match target {
        Target::FirstResponse => "first response",
        Target::Resolution => "resolution",
    };
    let (kind, field, title) = match event {
        Event::Warning => (Kind::SlaWarning, "sla_warning", format!("{}: {what} due soon", store::display_number(ticket.number))),
        Event::Breach => (Kind::SlaBreach, "sla_breach", format!("{}: {what} target breached", store::display_number(ticket.number))),
    };
    store::record(&mut tx, id, None, now, Change { field, before: None, after: Some(what.to_owned()), internal: true }).await?;
    if event == Event::Warning {
        crate::events::sla_warning(&mut tx, &ticket);
    }
    let mut hooked = ticket.clone();
    if event == Event::Breach && ticket.priority.raised() != ticket.priority {
        // Escalation: one step up. The claim above made this instance the only one here.
        let raised = ticket.priority.raised();
        with_tx!(&mut tx, conn => sqlx::query("UPDATE tickets SET priority = $1, updated_at = $2 WHERE id = $3")
            .bind(raised.rank()).bind(now).bind(id).execute(&mut *conn).await?.rows_affected());
        let change = Change { field: "priority", before: Some(ticket.priority.to_string()), after: Some(raised.to_string()), internal: false };
        store::record(&mut tx, id, None, now, change).await?;
        hooked.priority = raised;
        hooked.updated_at = now;
        // The escalation is a change of the ticket like any other (by the system: no actor).
        let changed = crate::comms::webhooks::events::change("priority", Some(&ticket.priority.to_string()), Some(&raised.to_string()));
        crate::comms::webhooks::events::ticket_updated(&mut tx, &hooked, None, vec![changed], now).await?;
    }
    if event == Event::Breach {
        let (name, due_at) = match target {
            Target::FirstResponse => ("first_response", ticket.first_response_due_at),
            Target::Resolution => ("resolution", ticket.resolution_due_at),
        };
        crate::events::sla_breached(&mut tx, &hooked, name, due_at, now).await?;
    }
    let people = audience(&mut tx, &ticket, event).await?;
    notifications::notify(&mut tx, &people, &Notice { kind, ticket_id: Some(id), title: &title, body: &ticket.subject }, now).await?;
    crate::events::commit(tx, state).await?;
    Ok(true)
}

async fn auto_close(state: &AppState, now: DateTime<Utc>) -> Result<usize> {
    let cutoff = now - chrono::Duration::seconds(state.config.auto_close_after_secs as i64);
    const SQL: &str = "SELECT id FROM tickets WHERE status = 'resolved' AND resolved_at <= $1 AND deleted_at IS NULL ORDER BY id LIMIT $2";
    let ids: Vec<Uuid> = with_db!(&state.db, pool => sqlx::query_scalar(SQL).bind(cutoff).bind(BATCH).fetch_all(pool).await?);
    let mut closed = 0;
    for id in ids {
        let mut tx = state.db.begin().await?;
        let Some(ticket) = store::find_in(&mut tx, id).await?.filter(|t| t.status == Status::Resolved && t.resolved_at.is_some_and(|at| at <= cutoff)) else {
            continue;
        };
        match move_to(&mut tx, state, &ticket, Status::Closed, None, now).await {
            Ok(_) => {
                crate::events::commit(tx, state).await?;
                closed += 1;
            }
            // Someone changed it meanwhile (reopened, or another instance closed it).
            Err(Error::Conflict { .. }) => {}
            Err(other) => return Err(other),
        }
    }
    Ok(closed)
}

/// One pass over everything that has fallen due by `now`.
pub async fn run_once(state: &AppState, now: DateTime<Utc>) -> Result<Round> {
    let mut round = Round::default();
    for target in [Target::FirstResponse, Target::Resolution] {
        for event in [Event::Warning, Event::Breach] {
            for id in due(state, target, event, now).await? {
                if handle(state, id, target, event, now).await? {
                    match event {
                        Event::Warning => round.warnings += 1,
                        Event::Breach => round.breaches += 1,
                    }
                }
            }
        }
    }
    round.closed = auto_close(state, now).await?;
    Ok(round)
}

/// The running job; dropped or stopped with the server.
pub fn spawn(state: AppState) -> Background {
    let every = Duration::from_secs(state.config.sla_check_interval_secs.max(1));
    Background::every(every, move || {
        let state = state.clone();
        async move {
            match run_once(&state, Utc::now()).await {
                Ok(round) if round != Round::default() => tracing::info!(?round, "SLA job round"),
                Ok(_) => {}
                Err(err) => tracing::warn!(error = %err, "SLA job round failed; retrying next round"),
            }
        }
    })
}
