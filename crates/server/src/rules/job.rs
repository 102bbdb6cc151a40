//! The rules job: time rules ("in pending_customer for 5 days"), checked every
//! `HDMS_RULES_CHECK_INTERVAL` on every instance.
//!
//! Each run looks at a bounded batch of live tickets per rule, after the rule's cursor, and
//! moves the cursor on (back to the start after the last ticket), so big desks are covered over
//! several runs at a bounded cost each. A firing is claimed by inserting its key (rule, ticket,
//! ticket version) in the transaction that acts: of two instances checking the same ticket, the
//! second's insert conflicts and it does nothing, so each firing happens exactly once. The
//! actions make one of the rule's conditions false (checked when it is saved), so a ticket is
//! acted on again only if it comes to meet the conditions again.

use std::time::Duration;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::background::Background;
use crate::db::is_unique_violation;
use crate::error::Result;
use crate::rules::conditions::{self, Facts};
use crate::rules::engine::{self, Outcome};
use crate::rules::store::{self, LoadedRule};
use crate::state::AppState;
use crate::tickets::store as tickets;
use crate::{with_db, with_tx};

/// Tickets each time rule looks at per run.
pub const BATCH: i64 = 200;

/// What one run did (for logs and tests).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Round {
    pub checked: usize,
    pub fired: usize,
    pub failed: usize,
}

/// The next batch of live tickets after `cursor`, and the cursor for the next run.
pub async fn batch(state: &AppState, cursor: Option<Uuid>, limit: i64) -> Result<(Vec<Uuid>, Option<Uuid>)> {
    const SQL: &str = "SELECT id FROM tickets WHERE deleted_at IS NULL AND status NOT IN ('closed', 'cancelled') \
                       AND ($1 IS NULL OR id > $1) ORDER BY id LIMIT $2";
    let ids: Vec<Uuid> = with_db!(&state.db, pool => sqlx::query_scalar(SQL).bind(cursor).bind(limit).fetch_all(pool).await?);
    let next = if ids.len() as i64 == limit { ids.last().copied() } else { None };
    Ok((ids, next))
}

async fn one_rule(state: &AppState, rule: &LoadedRule, now: DateTime<Utc>, round: &mut Round) -> Result<()> {
    let (ids, next) = batch(state, rule.time_cursor, BATCH).await?;
    crate::with_db_writing!(&state.db, pool => sqlx::query("UPDATE rules SET time_cursor = $1 WHERE id = $2").bind(next).bind(rule.id).execute(pool).await?.rows_affected());
    for id in ids {
        round.checked += 1;
        let mut tx = state.db.begin().await?;
        let Some(ticket) = tickets::find_in(&mut tx, id).await?.filter(|t| t.deleted_at.is_none()) else { continue };
        let mut facts = Facts::new(ticket.clone(), &[], now);
        if !conditions::holds(&mut tx, state, &rule.conditions, &mut facts).await? {
            continue;
        }
        const CLAIM: &str = "INSERT INTO rule_time_firings (rule_id, ticket_id, ticket_version, at) VALUES ($1, $2, $3, $4)";
        let claimed = with_tx!(&mut tx, conn => sqlx::query(CLAIM).bind(rule.id).bind(id).bind(ticket.version).bind(now)
            .execute(&mut *conn).await.map(|r| r.rows_affected()));
        match claimed {
            Ok(_) => {}
            // Another instance acted on this version of the ticket.
            Err(err) if is_unique_violation(&err) => continue,
            Err(err) => return Err(err.into()),
        }
        match engine::act(&mut tx, state, rule, &ticket, now).await? {
            Outcome::Acted => round.fired += 1,
            Outcome::Failed(_) => {
                round.failed += 1;
                crate::events::commit(tx, state).await?;
                // Turned off: no more of its batch.
                return Ok(());
            }
            Outcome::Skipped => continue,
        }
        crate::events::commit(tx, state).await?;
    }
    Ok(())
}

/// One pass of every enabled time rule over its next batch, as of `now`.
pub async fn run_once(state: &AppState, now: DateTime<Utc>) -> Result<Round> {
    let mut round = Round::default();
    for rule in store::time_rules(&state.db).await? {
        one_rule(state, &rule, now, &mut round).await?;
    }
    Ok(round)
}

/// The running job; stopped with the server.
pub fn spawn(state: AppState) -> Background {
    let every = Duration::from_secs(state.config.rules_check_interval_secs.max(1));
    Background::every(every, move || {
        let state = state.clone();
        async move {
            match run_once(&state, Utc::now()).await {
                Ok(round) if round.fired + round.failed > 0 => tracing::info!(?round, "rules job round"),
                Ok(_) => {}
                Err(err) => tracing::warn!(error = %err, "rules job round failed; retrying next round"),
            }
        }
    })
}
