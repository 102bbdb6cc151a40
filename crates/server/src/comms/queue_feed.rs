//! The live queue feed behind `subscribe_queues`: every ticket change reaches the websocket
//! connections allowed to see the ticket, as `ticket_changed {ticket, reason}`.
//!
//! Every change to a ticket leaves a history entry (`tickets::store::record`), and that is where
//! the feed starts: PostgreSQL signals the entry inside its transaction (ids and a field name,
//! far below NOTIFY's 8,000 bytes), SQLite's tailer reads the new entries. Changes gather in a
//! pending set keyed by ticket; one task drains it, loads the tickets of a batch with the same
//! few queries as a page of `GET /tickets` (plus one for the teams' members), encodes each
//! ticket's message once, and hands the batch to every connection, which only filters it with
//! the server's visibility rule. A burst (a bulk update of 500 tickets) therefore costs a
//! handful of queries per instance and one broadcast, not one per ticket or per connection; a
//! ticket changed many times while a batch loads is sent once, as it is then.
//!
//! A ticket that leaves someone's view (given to a team they are not in, reassigned away) is
//! announced to those who saw it before the change as `ticket_hidden {ticket_id}`, so a client
//! drops it without learning where it went.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::extract::ws::Utf8Bytes;
use hdms_api_types::Role;
use hdms_api_types::ws::ServerMessage;
use tokio::sync::Notify;
use uuid::Uuid;

use crate::db::{Bind, Db, DynamicSql};
use crate::error::Result;
use crate::tickets::api;
use crate::tickets::store::{TicketRow, ticket_columns};
use crate::tickets::visibility::{Audience, audience_includes};
use crate::{bind_all, with_db};

/// Tickets loaded and encoded per batch (and the longest IN list).
pub const BATCH: usize = 500;

/// What happened to a ticket, as the `reason` of `ticket_changed`. When several things happened
/// before the ticket went out, the weightiest one names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Reason {
    Updated,
    Commented,
    Assigned,
    Transitioned,
    Merged,
    Restored,
    Deleted,
    Created,
}

impl Reason {
    /// From the history entry's field (see `tickets::store::diff` and the `record` callers).
    fn of_field(field: &str) -> Reason {
        match field {
            "created" => Reason::Created,
            "reply" | "internal_note" => Reason::Commented,
            "assignee" | "team" => Reason::Assigned,
            "status" => Reason::Transitioned,
            "merged" | "merged_into" => Reason::Merged,
            // Told apart by the ticket's `deleted_at` once it is loaded.
            "deleted" => Reason::Deleted,
            _ => Reason::Updated,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Reason::Updated => "updated",
            Reason::Commented => "commented",
            Reason::Assigned => "assigned",
            Reason::Transitioned => "transitioned",
            Reason::Merged => "merged",
            Reason::Restored => "restored",
            Reason::Deleted => "deleted",
            Reason::Created => "created",
        }
    }
}

/// One history entry, as signalled: `was` is the previous value of the fields that decide who
/// sees the ticket (`team`, `assignee`), `None` for other fields or when there was none.
#[derive(Debug, Clone)]
pub struct Change {
    pub ticket_id: Uuid,
    pub field: String,
    pub was: Option<Uuid>,
}

/// What is known of a ticket's changes since it last went out.
struct Pending {
    reason: Reason,
    /// The weightiest change but internal notes, which customers are not told of (`None`: only
    /// internal notes).
    public_reason: Option<Reason>,
    /// The team and assignee before the first change that moved them (outer `None`: unchanged).
    was_team: Option<Option<Uuid>>,
    was_assignee: Option<Option<Uuid>>,
}

#[derive(Default)]
pub struct QueueFeed {
    pending: Mutex<HashMap<Uuid, Pending>>,
    doorbell: Notify,
    /// Connections on this instance following the queues: with none, changes are dropped
    /// instead of loaded (a client loads its queues after `queues_subscribed` anyway).
    followers: AtomicUsize,
}

impl QueueFeed {
    /// Notes a change; the drain task sends it with whatever else gathered meanwhile.
    pub fn note(&self, change: Change) {
        let reason = Reason::of_field(&change.field);
        let mut pending = self.pending.lock().expect("queue feed lock");
        let entry = pending.entry(change.ticket_id).or_insert(Pending { reason, public_reason: None, was_team: None, was_assignee: None });
        entry.reason = entry.reason.max(reason);
        if change.field != "internal_note" {
            entry.public_reason = entry.public_reason.max(Some(reason));
        }
        // The first change of a batch knows the audience clients saw; later ones do not.
        match change.field.as_str() {
            "team" => _ = entry.was_team.get_or_insert(change.was),
            "assignee" => _ = entry.was_assignee.get_or_insert(change.was),
            _ => {}
        }
        drop(pending);
        self.doorbell.notify_one();
    }

    pub fn follow(&self) {
        self.followers.fetch_add(1, Ordering::Relaxed);
    }

    pub fn followers(&self) -> usize {
        self.followers.load(Ordering::Relaxed)
    }

    pub fn unfollow(&self) {
        self.followers.fetch_sub(1, Ordering::Relaxed);
    }

    pub async fn wait(&self) {
        self.doorbell.notified().await;
    }

    /// Takes up to a batch of pending changes.
    fn take_batch(&self) -> Vec<(Uuid, Pending)> {
        let mut pending = self.pending.lock().expect("queue feed lock");
        let ids: Vec<Uuid> = pending.keys().take(BATCH).copied().collect();
        ids.into_iter().filter_map(|id| pending.remove(&id).map(|p| (id, p))).collect()
    }

    /// Loads and encodes the next batch, or `None` when nothing is pending.
    pub async fn next_batch(&self, db: &Db) -> Result<Option<TicketBatch>> {
        if self.followers.load(Ordering::Relaxed) == 0 {
            self.pending.lock().expect("queue feed lock").clear();
            return Ok(None);
        }
        let changes = self.take_batch();
        if changes.is_empty() {
            return Ok(None);
        }
        let mut sql = DynamicSql::new(concat!("SELECT ", ticket_columns!(), " FROM tickets WHERE id IN ("));
        sql.bind_list(changes.iter().map(|(id, _)| Bind::Uuid(*id))).push(")");
        let rows: Vec<TicketRow> = with_db!(db, pool =>
            bind_all!(sqlx::query_as(sqlx::AssertSqlSafe(sql.sql.clone())), &sql.binds).fetch_all(pool).await?);
        let audiences: HashMap<Uuid, Audience> = rows.iter().map(|row| (row.id, Audience::of(row))).collect();
        let tickets = api::tickets(db, rows).await?;
        let mut changes: HashMap<Uuid, Pending> = changes.into_iter().collect();

        let mut items = Vec::with_capacity(tickets.len());
        let mut teams = HashSet::new();
        for ticket in tickets {
            let (Some(change), Some(&now)) = (changes.remove(&ticket.id), audiences.get(&ticket.id)) else { continue };
            let before = Audience {
                requester_id: now.requester_id,
                assignee_id: change.was_assignee.unwrap_or(now.assignee_id),
                team_id: change.was_team.unwrap_or(now.team_id),
            };
            teams.extend(now.team_id);
            teams.extend(before.team_id);
            let named = |reason: Reason| match reason {
                Reason::Deleted if ticket.deleted_at.is_none() => Reason::Restored,
                reason => reason,
            };
            let (reason, public_reason) = (named(change.reason), change.public_reason.map(named));
            let ticket_id = ticket.id;
            let ticket = Box::new(ticket);
            let changed = |reason: Reason| encode(&ServerMessage::TicketChanged { ticket: ticket.clone(), reason: reason.as_str().to_owned() });
            let for_staff = changed(reason)?;
            let for_customers = match public_reason {
                None => None,
                Some(public) if public == reason => Some(for_staff.clone()),
                Some(public) => Some(changed(public)?),
            };
            let hidden = encode(&ServerMessage::TicketHidden { ticket_id })?;
            items.push(ChangedTicket { ticket_id, now, before: (before != now).then_some(before), for_staff, for_customers, hidden });
        }
        let members = team_members(db, teams).await?;
        Ok(Some(TicketBatch { items, members }))
    }
}

fn encode(message: &ServerMessage) -> Result<Utf8Bytes> {
    Ok(Utf8Bytes::from(serde_json::to_string(message).map_err(anyhow::Error::from)?))
}

/// Who belongs to these teams: user → their teams among them. Enough for the visibility rule,
/// which only asks whether the ticket's team is one of the person's.
async fn team_members(db: &Db, teams: HashSet<Uuid>) -> Result<HashMap<Uuid, Vec<Uuid>>> {
    if teams.is_empty() {
        return Ok(HashMap::new());
    }
    let mut sql = DynamicSql::new("SELECT user_id, team_id FROM team_members WHERE team_id IN (");
    sql.bind_list(teams.into_iter().map(Bind::Uuid)).push(")");
    let rows: Vec<(Uuid, Uuid)> = with_db!(db, pool =>
        bind_all!(sqlx::query_as(sqlx::AssertSqlSafe(sql.sql.clone())), &sql.binds).fetch_all(pool).await?);
    let mut members: HashMap<Uuid, Vec<Uuid>> = HashMap::new();
    for (user, team) in rows {
        members.entry(user).or_default().push(team);
    }
    Ok(members)
}

/// Changed tickets, encoded once, for every connection on the instance to filter.
#[derive(Debug)]
pub struct TicketBatch {
    items: Vec<ChangedTicket>,
    members: HashMap<Uuid, Vec<Uuid>>,
}

#[derive(Debug)]
struct ChangedTicket {
    ticket_id: Uuid,
    now: Audience,
    /// Who saw it before this batch's changes, when that differs.
    before: Option<Audience>,
    for_staff: Utf8Bytes,
    /// Named without internal notes; `None` when there was nothing else.
    for_customers: Option<Utf8Bytes>,
    hidden: Utf8Bytes,
}

impl TicketBatch {
    /// The messages this person receives: `ticket_changed` for tickets they may see now,
    /// `ticket_hidden` for those they saw before and no longer may.
    pub fn messages_for(&self, user_id: Uuid, role: Role) -> Vec<Utf8Bytes> {
        let teams = self.members.get(&user_id).map(Vec::as_slice).unwrap_or_default();
        let staff = role != Role::Customer;
        self.items
            .iter()
            .filter_map(|item| {
                if audience_includes(user_id, role, teams, &item.now) {
                    if staff { Some(item.for_staff.clone()) } else { item.for_customers.clone() }
                } else if item.before.is_some_and(|before| audience_includes(user_id, role, teams, &before)) {
                    Some(item.hidden.clone())
                } else {
                    None
                }
            })
            .collect()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Who may see each ticket of the batch now.
    pub fn audiences(&self) -> impl Iterator<Item = (Uuid, Audience)> + '_ {
        self.items.iter().map(|item| (item.ticket_id, item.now))
    }

    /// The members of one of the batch's teams.
    pub fn members_of(&self, team: Uuid) -> Vec<Uuid> {
        self.members.iter().filter(|(_, teams)| teams.contains(&team)).map(|(user, _)| *user).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_weightiest_change_names_a_batch_and_internal_notes_stay_with_staff() {
        let feed = QueueFeed::default();
        let id = Uuid::now_v7();
        let team = Uuid::now_v7();
        feed.note(Change { ticket_id: id, field: "internal_note".into(), was: None });
        feed.note(Change { ticket_id: id, field: "team".into(), was: Some(team) });
        feed.note(Change { ticket_id: id, field: "team".into(), was: None });
        feed.note(Change { ticket_id: id, field: "tags".into(), was: None });
        let batch = feed.take_batch();
        assert_eq!(batch.len(), 1);
        let (_, pending) = &batch[0];
        assert_eq!(pending.reason, Reason::Assigned);
        assert_eq!(pending.public_reason, Some(Reason::Assigned));
        assert_eq!(pending.was_team, Some(Some(team)), "the team clients saw, not an intermediate one");
        assert_eq!(pending.was_assignee, None);

        feed.note(Change { ticket_id: id, field: "internal_note".into(), was: None });
        feed.note(Change { ticket_id: id, field: "priority".into(), was: None });
        let (_, pending) = &feed.take_batch()[0];
        assert_eq!((pending.reason, pending.public_reason), (Reason::Commented, Some(Reason::Updated)), "customers do not hear of the note");
        feed.note(Change { ticket_id: id, field: "internal_note".into(), was: None });
        assert_eq!(feed.take_batch()[0].1.public_reason, None);
        assert!(feed.take_batch().is_empty());
    }

    #[test]
    fn batches_are_bounded() {
        let feed = QueueFeed::default();
        for _ in 0..(BATCH + 7) {
            feed.note(Change { ticket_id: Uuid::now_v7(), field: "priority".into(), was: None });
        }
        assert_eq!(feed.take_batch().len(), BATCH);
        assert_eq!(feed.take_batch().len(), 7);
    }
}
