//! Realtime fan-out. Every instance keeps one local broadcast channel that its websocket
//! connections listen to; what feeds it depends on the backend:
//!
//! - PostgreSQL: changes call `pg_notify` inside their own transaction (so the signal goes out
//!   exactly when the change commits), and every instance LISTENs, loads the change once and
//!   broadcasts it locally. Instance A's chat message reaches clients on instance B with no
//!   broker but the database.
//! - SQLite (one instance): a tailer reads new comments and notifications by rowid. Writers are
//!   serialised (`BEGIN IMMEDIATE`), so rowid order is commit order and nothing is skipped; a
//!   doorbell rung after each commit makes it immediate, a short poll covers the rest.
//!
//! Ticket changes for the live queues travel the same way and are batched before they go out
//! (`queue_feed`).
//!
//! The broadcast channel is bounded: a connection that falls behind is told to resync instead
//! of slowing the others or growing memory.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::ws::Utf8Bytes;
use chrono::{DateTime, Utc};
use hdms_api_types::notifications::Notification;
use hdms_api_types::ws::ServerMessage;
use hdms_api_types::tickets::{Comment, PersonSummary};
use serde::{Deserialize, Serialize};
use tokio::sync::{Notify, broadcast};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::background::Background;
use crate::comms::queue_feed::{self, QueueFeed, TicketBatch};
use crate::db::{Db, Tx};
use crate::tickets::api;
use crate::tickets::visibility::{Audience, audience_includes};
use crate::users::session_cache::SessionCache;
use crate::error::Result;
use crate::with_db;

const CHANNEL: &str = "hdms_events";
/// How long presence lasts without being refreshed (connections refresh it on heartbeat).
pub const VIEWING_TTL: Duration = Duration::from_secs(60);
pub const TYPING_TTL: Duration = Duration::from_secs(6);
/// SQLite tailer poll, for changes whose commit did not ring the doorbell.
const TAIL_POLL: Duration = Duration::from_millis(250);
/// PostgreSQL: how often the presence refreshes gathered on an instance go out, together.
/// Far below `VIEWING_TTL`, so a refresh always arrives before the presence it keeps expires.
const REFRESH_EVERY: Duration = Duration::from_secs(5);
/// Refreshes per NOTIFY: each is some 80 bytes of JSON, and a payload must stay under 8,000.
const REFRESHES_PER_SIGNAL: usize = 90;
/// PostgreSQL: the pause between attempts to set the realtime listener up again.
const LISTEN_RETRY: Duration = Duration::from_millis(250);
/// How long presence trusts a name it loaded (see `Hub::names`).
const NAME_TTL: Duration = Duration::from_secs(10 * 60);

/// A change, as signalled between instances (small: receivers load the rest).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Signal {
    Comment { comment_id: Uuid },
    Notification { notification_id: Uuid },
    Presence { ticket_id: Uuid, user_id: Uuid, state: PresenceState },
    /// People still viewing rooms they already view: (ticket, user) pairs.
    PresenceRefresh { viewing: Vec<(Uuid, Uuid)> },
    /// A ticket's history entry (see `queue_feed::Change`).
    Ticket {
        ticket_id: Uuid,
        field: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        was: Option<Uuid>,
    },
    /// An account or a login session changed (sent by a trigger, migration 0056): cached
    /// sessions must be loaded again.
    SessionsChanged,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PresenceState {
    Viewing,
    Typing,
    Left,
}

/// What connections receive. What every subscriber of a room gets alike is encoded once, here,
/// as the websocket text (`wire`, a cheap reference-counted clone): a room of a thousand
/// connections then costs a thousand sends, not a thousand JSON encodings.
#[derive(Debug, Clone)]
pub enum Delivery {
    Comment { comment: Comment, wire: Utf8Bytes },
    Notification { user_id: Uuid, notification: Notification },
    /// `audience`: who may see the ticket, for connections following the queues, which hear
    /// of presence on every ticket they may see (`None`: not known here, so only the room hears).
    Presence { ticket_id: Uuid, wire: Utf8Bytes, audience: Option<Arc<RoomAudience>> },
    /// Changed tickets for the connections following the queues.
    Tickets(Arc<TicketBatch>),
    /// Events may have been lost (see `listen`): every connection tells its client to resync.
    Resync { reason: &'static str },
}

impl Delivery {
    fn comment(comment: Comment) -> Result<Delivery> {
        let message = ServerMessage::Message { ticket_id: comment.ticket_id, seq: comment.seq, comment: comment.clone(), client_ref: None };
        let wire = Utf8Bytes::from(serde_json::to_string(&message).map_err(anyhow::Error::from)?);
        Ok(Delivery::Comment { comment, wire })
    }
}

/// Who may see a ticket with people in its room: the visibility rule's inputs, with the members
/// of the ticket's team (so the check needs no query per connection and never goes stale with a
/// person's teams).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomAudience {
    pub audience: Audience,
    pub members: Vec<Uuid>,
}

impl RoomAudience {
    /// The server's visibility rule (`tickets::visibility`), for this ticket.
    pub fn admits(&self, user_id: Uuid, role: hdms_api_types::Role) -> bool {
        let teams: &[Uuid] = match self.audience.team_id {
            Some(team) if self.members.contains(&user_id) => &[team][..],
            _ => &[],
        };
        // `teams` only needs to say whether the ticket's team is one of the person's.
        audience_includes(user_id, role, teams, &self.audience)
    }
}

#[derive(Default)]
struct RoomPresence {
    viewing: HashMap<Uuid, Instant>,
    typing: HashMap<Uuid, Instant>,
}

pub struct Hub {
    db: Db,
    local: broadcast::Sender<Arc<Delivery>>,
    doorbell: Notify,
    presence: Mutex<HashMap<Uuid, RoomPresence>>,
    /// PostgreSQL: presence refreshes waiting to go out together (see `refresh`).
    refreshes: Mutex<std::collections::HashSet<(Uuid, Uuid)>>,
    /// Names of the people presence has shown, so a presence message names them without a
    /// query each time (loaded once per person and instance, and again after [`NAME_TTL`], so
    /// a renamed person shows the new name without a restart).
    names: Mutex<HashMap<Uuid, (PersonSummary, Instant)>>,
    /// Who may see the tickets with people in their rooms (while anyone here follows the queues).
    audiences: Mutex<HashMap<Uuid, Arc<RoomAudience>>>,
    pub queue: QueueFeed,
    /// Emptied when another instance changes accounts or sessions.
    sessions: Arc<SessionCache>,
}

impl Hub {
    /// `backlog`: events a connection may fall behind by before it is told to resync.
    pub fn new(db: Db, backlog: usize, sessions: Arc<SessionCache>) -> Arc<Hub> {
        let (local, _) = broadcast::channel(backlog.max(1));
        Arc::new(Hub {
            db,
            local,
            doorbell: Notify::new(),
            presence: Mutex::new(HashMap::new()),
            refreshes: Mutex::new(std::collections::HashSet::new()),
            names: Mutex::new(HashMap::new()),
            audiences: Mutex::new(HashMap::new()),
            queue: QueueFeed::default(),
            sessions,
        })
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Delivery>> {
        self.local.subscribe()
    }

    /// Tells every connection to resync: events may have been lost. Sessions changed meanwhile
    /// would stay cached too: forget them all.
    fn resync(&self, reason: &'static str) {
        self.sessions.invalidate();
        let _ = self.local.send(Arc::new(Delivery::Resync { reason }));
    }

    /// Call after committing a change that signalled (SQLite: wakes the tailer at once).
    pub fn ring(&self) {
        self.doorbell.notify_one();
    }

    /// Who views and who types in a room now.
    pub fn presence(&self, ticket_id: Uuid) -> (Vec<Uuid>, Vec<Uuid>) {
        let now = Instant::now();
        let mut rooms = self.presence.lock().expect("presence lock");
        let Some(room) = rooms.get_mut(&ticket_id) else { return (Vec::new(), Vec::new()) };
        room.viewing.retain(|_, at| now.duration_since(*at) < VIEWING_TTL);
        room.typing.retain(|_, at| now.duration_since(*at) < TYPING_TTL);
        let mut viewing: Vec<Uuid> = room.viewing.keys().copied().collect();
        let mut typing: Vec<Uuid> = room.typing.keys().copied().collect();
        viewing.sort();
        typing.sort();
        (viewing, typing)
    }

    /// Records presence, and tells connections only when who views or types changed: every
    /// connection refreshes its presence on each heartbeat, and broadcasting those refreshes
    /// woke every connection on the instance once per connection per heartbeat (10,000
    /// connections: 5 million wake-ups a second, doing nothing). Expiries found on the way count
    /// as changes, so a refresh still publishes who stopped typing or left without a word.
    fn apply_presence(&self, ticket_id: Uuid, user_id: Uuid, state: PresenceState) {
        let now = Instant::now();
        let mut rooms = self.presence.lock().expect("presence lock");
        let room = rooms.entry(ticket_id).or_default();
        let before = (room.viewing.len(), room.typing.len());
        room.viewing.retain(|_, at| now.duration_since(*at) < VIEWING_TTL);
        room.typing.retain(|_, at| now.duration_since(*at) < TYPING_TTL);
        let mut changed = (room.viewing.len(), room.typing.len()) != before;
        match state {
            PresenceState::Viewing => {
                changed |= room.viewing.insert(user_id, now).is_none();
            }
            PresenceState::Typing => {
                changed |= room.viewing.insert(user_id, now).is_none();
                changed |= room.typing.insert(user_id, now).is_none();
            }
            PresenceState::Left => {
                changed |= room.viewing.remove(&user_id).is_some();
                changed |= room.typing.remove(&user_id).is_some();
            }
        }
        if room.viewing.is_empty() && room.typing.is_empty() {
            rooms.remove(&ticket_id);
        }
        let audience = {
            let mut audiences = self.audiences.lock().expect("audiences lock");
            let audience = audiences.get(&ticket_id).cloned();
            if !rooms.contains_key(&ticket_id) {
                audiences.remove(&ticket_id);
            }
            audience
        };
        let now_present = rooms.get(&ticket_id).map(|room| (room.viewing.keys().copied().collect(), room.typing.keys().copied().collect()));
        drop(rooms);
        if changed {
            let (mut viewing, mut typing): (Vec<Uuid>, Vec<Uuid>) = now_present.unwrap_or_default();
            viewing.sort();
            typing.sort();
            let people = self.people(viewing.iter().chain(&typing));
            let message = ServerMessage::Presence { ticket_id, viewing, typing, people };
            match serde_json::to_string(&message) {
                Ok(text) => {
                    let _ = self.local.send(Arc::new(Delivery::Presence { ticket_id, wire: Utf8Bytes::from(text), audience }));
                }
                Err(err) => tracing::error!(error = %err, "presence not encoded"),
            }
        }
    }

    /// The names of these people, as far as known (`learn_names` loads them).
    fn people<'a>(&self, ids: impl Iterator<Item = &'a Uuid>) -> Vec<PersonSummary> {
        let names = self.names.lock().expect("names lock");
        let mut people: Vec<PersonSummary> = ids.filter_map(|id| names.get(id).map(|(person, _)| person.clone())).collect();
        people.sort_by_key(|person| person.id);
        people.dedup_by_key(|person| person.id);
        people
    }

    /// Remembers a person's name (the websocket knows its own user's).
    pub fn know_name(&self, person: PersonSummary) {
        self.names.lock().expect("names lock").insert(person.id, (person, Instant::now()));
    }

    /// Loads the names presence does not know yet, in one query.
    async fn learn_names(&self, ids: &[Uuid]) -> Result<()> {
        let unknown: std::collections::BTreeSet<Uuid> = {
            let names = self.names.lock().expect("names lock");
            ids.iter().filter(|id| names.get(*id).is_none_or(|(_, at)| at.elapsed() >= NAME_TTL)).copied().collect()
        };
        if unknown.is_empty() {
            return Ok(());
        }
        let found = api::people(&self.db, unknown).await?;
        let now = Instant::now();
        self.names.lock().expect("names lock").extend(found.into_iter().map(|(id, person)| (id, (person, now))));
        Ok(())
    }

    /// Loads who may see a ticket before its presence goes out, when anyone on this instance
    /// follows the queues (one query for the ticket, one for its team's members); without
    /// followers nobody but the room hears, and nothing is loaded.
    async fn learn_audience(&self, ticket_id: Uuid) -> Result<()> {
        if self.queue.followers() == 0 {
            return Ok(());
        }
        let audience = load_audience(&self.db, ticket_id).await?;
        let mut audiences = self.audiences.lock().expect("audiences lock");
        match audience {
            Some(audience) => audiences.insert(ticket_id, Arc::new(audience)),
            None => audiences.remove(&ticket_id),
        };
        Ok(())
    }

    /// The presence of every room this person may see, for a connection that starts following
    /// the queues (after that, changes reach it as they happen).
    pub async fn presence_seen_by(&self, user_id: Uuid, role: hdms_api_types::Role) -> Result<Vec<ServerMessage>> {
        let present: Vec<Uuid> = self.presence.lock().expect("presence lock").keys().copied().collect();
        let mut messages = Vec::new();
        for ticket_id in present {
            let known = self.audiences.lock().expect("audiences lock").get(&ticket_id).cloned();
            let audience = match known {
                Some(audience) => Some(audience),
                None => load_audience(&self.db, ticket_id).await?.map(Arc::new),
            };
            if !audience.is_some_and(|audience| audience.admits(user_id, role)) {
                continue;
            }
            let (viewing, typing) = self.presence(ticket_id);
            if viewing.is_empty() && typing.is_empty() {
                continue;
            }
            let people = self.people(viewing.iter().chain(&typing));
            messages.push(ServerMessage::Presence { ticket_id, viewing, typing, people });
        }
        Ok(messages)
    }

    /// A batch of changed tickets went out: rooms of tickets that moved (another team, another
    /// assignee) take the new audience, so presence follows the ticket's visibility.
    fn update_audiences(&self, batch: &TicketBatch) {
        let mut audiences = self.audiences.lock().expect("audiences lock");
        for (ticket_id, audience) in batch.audiences() {
            if let Some(known) = audiences.get_mut(&ticket_id)
                && known.audience != audience
            {
                let members = audience.team_id.map(|team| batch.members_of(team)).unwrap_or_default();
                *known = Arc::new(RoomAudience { audience, members });
            }
        }
    }

    /// Announces presence to every instance.
    pub async fn announce(&self, ticket_id: Uuid, user_id: Uuid, state: PresenceState) -> Result<()> {
        match &self.db {
            Db::Sqlite(_) => {
                self.learn_names(&[user_id]).await?;
                self.learn_audience(ticket_id).await?;
                self.apply_presence(ticket_id, user_id, state)
            }
            Db::Postgres(pool) => {
                let payload = serde_json::to_string(&Signal::Presence { ticket_id, user_id, state }).map_err(anyhow::Error::from)?;
                sqlx::query("SELECT pg_notify($1, $2)").bind(CHANNEL).bind(payload).execute(pool).await?;
            }
        }
        Ok(())
    }

    /// Keeps someone's presence in a room from expiring (each connection calls it on its
    /// heartbeat). On PostgreSQL the refreshes of all of an instance's connections go out
    /// together every few seconds, not one NOTIFY per connection per heartbeat (10,000
    /// connections made 500 a second, each delivered to every instance).
    pub fn refresh(&self, ticket_id: Uuid, user_id: Uuid) {
        match &self.db {
            Db::Sqlite(_) => self.apply_presence(ticket_id, user_id, PresenceState::Viewing),
            Db::Postgres(_) => {
                self.refreshes.lock().expect("refreshes lock").insert((ticket_id, user_id));
            }
        }
    }

    /// Sends the refreshes gathered since the last call, in as few signals as fit.
    async fn send_refreshes(&self, pool: &sqlx::PgPool) -> Result<()> {
        let gathered: Vec<(Uuid, Uuid)> = std::mem::take(&mut *self.refreshes.lock().expect("refreshes lock")).into_iter().collect();
        for payload in refresh_payloads(&gathered)? {
            sqlx::query("SELECT pg_notify($1, $2)").bind(CHANNEL).bind(payload).execute(pool).await?;
        }
        Ok(())
    }

    /// Announces comments that moved to another room (a merge) after their transaction
    /// committed. On PostgreSQL their `signal`s did it already; SQLite's tailer only sees new
    /// rows, so they are delivered here.
    pub async fn announce_moved(&self, comment_ids: &[Uuid]) -> Result<()> {
        if let Db::Sqlite(_) = self.db {
            for comment_id in comment_ids {
                self.deliver(Signal::Comment { comment_id: *comment_id }).await?;
            }
        }
        Ok(())
    }

    async fn deliver(&self, signal: Signal) -> Result<()> {
        match signal {
            Signal::Comment { comment_id } => {
                if let Some(comment) = load_comment(&self.db, comment_id).await? {
                    let _ = self.local.send(Arc::new(Delivery::comment(comment)?));
                }
            }
            Signal::Notification { notification_id } => {
                if let Some((user_id, notification)) = load_notification(&self.db, notification_id).await? {
                    let _ = self.local.send(Arc::new(Delivery::Notification { user_id, notification }));
                }
            }
            Signal::Presence { ticket_id, user_id, state } => {
                self.learn_names(&[user_id]).await?;
                self.learn_audience(ticket_id).await?;
                self.apply_presence(ticket_id, user_id, state);
            }
            Signal::PresenceRefresh { viewing } => {
                self.learn_names(&viewing.iter().map(|(_, user_id)| *user_id).collect::<Vec<_>>()).await?;
                for (ticket_id, user_id) in viewing {
                    self.apply_presence(ticket_id, user_id, PresenceState::Viewing);
                }
            }
            Signal::Ticket { ticket_id, field, was } => self.queue.note(queue_feed::Change { ticket_id, field, was }),
            Signal::SessionsChanged => self.sessions.invalidate(),
        }
        Ok(())
    }

    /// Sends the ticket changes gathered so far, a batch at a time, until none are left.
    async fn send_ticket_changes(&self) {
        loop {
            match self.queue.next_batch(&self.db).await {
                Ok(Some(batch)) => {
                    self.update_audiences(&batch);
                    if !batch.is_empty() {
                        let _ = self.local.send(Arc::new(Delivery::Tickets(Arc::new(batch))));
                    }
                }
                Ok(None) => return,
                Err(err) => {
                    // The batch is lost; clients reload their queues when they reconnect.
                    tracing::warn!(error = %err, "cannot load changed tickets for the live queues");
                    return;
                }
            }
        }
    }
}

/// Who may see a live ticket (`None`: gone or deleted).
async fn load_audience(db: &Db, ticket_id: Uuid) -> Result<Option<RoomAudience>> {
    const TICKET: &str = "SELECT requester_id, assignee_id, team_id FROM tickets WHERE id = $1 AND deleted_at IS NULL";
    const MEMBERS: &str = "SELECT user_id FROM team_members WHERE team_id = $1";
    let row: Option<(Uuid, Option<Uuid>, Option<Uuid>)> =
        with_db!(db, pool => sqlx::query_as(TICKET).bind(ticket_id).fetch_optional(pool).await?);
    let Some((requester_id, assignee_id, team_id)) = row else { return Ok(None) };
    let members: Vec<Uuid> = match team_id {
        Some(team) => with_db!(db, pool => sqlx::query_scalar(MEMBERS).bind(team).fetch_all(pool).await?),
        None => Vec::new(),
    };
    Ok(Some(RoomAudience { audience: Audience { requester_id, assignee_id, team_id }, members }))
}

/// Drains the queue feed whenever changes are noted, until the server stops.
async fn send_ticket_changes(hub: Arc<Hub>, stopped: CancellationToken) {
    loop {
        tokio::select! {
            () = hub.queue.wait() => hub.send_ticket_changes().await,
            () = stopped.cancelled() => return,
        }
    }
}

/// The NOTIFY payloads carrying these refreshes, each under PostgreSQL's 8,000-byte limit.
fn refresh_payloads(refreshes: &[(Uuid, Uuid)]) -> Result<Vec<String>> {
    refreshes
        .chunks(REFRESHES_PER_SIGNAL)
        .map(|chunk| {
            let signal = Signal::PresenceRefresh { viewing: chunk.to_vec() };
            Ok(serde_json::to_string(&signal).map_err(anyhow::Error::from)?)
        })
        .collect()
}

/// Signals a change from inside its transaction: on PostgreSQL the notification is delivered
/// when (and only if) the transaction commits; on SQLite the tailer finds the row itself.
pub async fn signal(tx: &mut Tx, signal: &Signal) -> Result<()> {
    if let Tx::Postgres(tx, _) = tx {
        let payload = serde_json::to_string(signal).map_err(anyhow::Error::from)?;
        sqlx::query("SELECT pg_notify($1, $2)").bind(CHANNEL).bind(payload).execute(&mut **tx).await?;
    }
    Ok(())
}

#[derive(sqlx::FromRow)]
struct CommentRow {
    id: Uuid,
    ticket_id: Uuid,
    author_id: Uuid,
    body: String,
    internal: bool,
    created_at: DateTime<Utc>,
    room_seq: Option<i64>,
    author_name: Option<String>,
    author_email: Option<String>,
}

impl From<CommentRow> for Comment {
    fn from(r: CommentRow) -> Self {
        let author = match (r.author_name, r.author_email) {
            (Some(name), Some(email)) => Some(PersonSummary { id: r.author_id, name, email }),
            _ => None,
        };
        Comment {
            id: r.id,
            ticket_id: r.ticket_id,
            author_id: r.author_id,
            author,
            body: r.body,
            internal: r.internal,
            created_at: r.created_at,
            seq: r.room_seq.unwrap_or_default(),
        }
    }
}

/// Comments with their authors' names (one join, not a query per author; deleted authors
/// still named). The condition speaks of the comment as `c`.
macro_rules! comment_select {
    ($where:literal) => {
        concat!(
            "SELECT c.id, c.ticket_id, c.author_id, c.body, c.internal, c.created_at, c.room_seq, \
             u.name AS author_name, u.email AS author_email \
             FROM comments c LEFT JOIN users u ON u.id = c.author_id WHERE ",
            $where
        )
    };
}

async fn load_comment(db: &Db, id: Uuid) -> Result<Option<Comment>> {
    let row: Option<CommentRow> = with_db!(db, pool => sqlx::query_as(comment_select!("c.id = $1")).bind(id).fetch_optional(pool).await?);
    Ok(row.map(Comment::from))
}

/// A room's messages after `after_seq`, in order; internal notes only for staff.
pub async fn comments_after(db: &Db, ticket_id: Uuid, after_seq: i64, staff: bool) -> Result<Vec<Comment>> {
    const SQL: &str = comment_select!("c.ticket_id = $1 AND c.room_seq > $2 AND c.deleted_at IS NULL AND ($3 OR NOT c.internal) ORDER BY c.room_seq, c.id");
    let rows: Vec<CommentRow> = with_db!(db, pool => sqlx::query_as(SQL).bind(ticket_id).bind(after_seq).bind(staff).fetch_all(pool).await?);
    Ok(rows.into_iter().map(Comment::from).collect())
}

pub async fn last_seq(db: &Db, ticket_id: Uuid) -> Result<i64> {
    const SQL: &str = "SELECT room_seq FROM tickets WHERE id = $1";
    Ok(with_db!(db, pool => sqlx::query_scalar(SQL).bind(ticket_id).fetch_optional(pool).await?).unwrap_or(0))
}

#[derive(sqlx::FromRow)]
pub struct NotificationRow {
    pub id: Uuid,
    pub user_id: Uuid,
    pub kind: String,
    pub ticket_id: Option<Uuid>,
    pub title: String,
    pub body: String,
    pub created_at: DateTime<Utc>,
    pub read_at: Option<DateTime<Utc>>,
}

impl From<NotificationRow> for Notification {
    fn from(r: NotificationRow) -> Self {
        Notification { id: r.id, kind: r.kind, ticket_id: r.ticket_id, title: r.title, body: r.body, created_at: r.created_at, read_at: r.read_at }
    }
}

async fn load_notification(db: &Db, id: Uuid) -> Result<Option<(Uuid, Notification)>> {
    const SQL: &str = "SELECT id, user_id, kind, ticket_id, title, body, created_at, read_at FROM notifications WHERE id = $1";
    let row: Option<NotificationRow> = with_db!(db, pool => sqlx::query_as(SQL).bind(id).fetch_optional(pool).await?);
    Ok(row.map(|r| (r.user_id, r.into())))
}

/// Starts the task that feeds the hub, stopped with the server.
pub fn spawn_feed(hub: Arc<Hub>) -> Background {
    Background::spawn(|stopped| async move {
        let feed = match hub.db.clone() {
            Db::Postgres(pool) => futures::future::Either::Left(listen(hub.clone(), pool, stopped.clone())),
            Db::Sqlite(_) => futures::future::Either::Right(tail(hub.clone(), stopped.clone())),
        };
        tokio::join!(feed, send_ticket_changes(hub, stopped));
    })
}

/// Feeds the hub from PostgreSQL's NOTIFY. Notifications are not queued for a listener that
/// is away: whenever its connection breaks (PostgreSQL restarted, the network cut) or an event
/// cannot be loaded, events may have been lost, so the listener is set up again and, once it
/// LISTENs, every connection is told to resync. Their catch-up by seq then reads everything
/// committed before the new LISTEN, and whatever commits after it arrives live.
async fn listen(hub: Arc<Hub>, pool: sqlx::PgPool, stopped: CancellationToken) {
    // The listener holds one of the pool's connections: let it go as soon as the pool is being
    // closed, or closing would wait for it forever.
    let pool_closing = pool.close_event();
    tokio::pin!(pool_closing);
    let mut refresh_ticks = tokio::time::interval(REFRESH_EVERY);
    // Nobody can have missed anything before the first LISTEN.
    let mut lost = false;
    loop {
        let mut listener = loop {
            match sqlx::postgres::PgListener::connect_with(&pool).await {
                Ok(mut listener) => match listener.listen(CHANNEL).await {
                    Ok(()) => break listener,
                    Err(err) => tracing::warn!(error = %err, "cannot LISTEN; retrying"),
                },
                Err(err) => tracing::warn!(error = %err, "cannot connect the listener; retrying"),
            }
            // Connecting waits out the pool's acquire timeout while the database is down; this
            // pause only spaces out errors that come at once.
            tokio::select! {
                _ = tokio::time::sleep(LISTEN_RETRY) => {}
                () = stopped.cancelled() => return,
                _ = &mut pool_closing => return,
            }
        };
        if lost {
            tracing::info!("realtime listener back; clients told to resync");
            hub.resync("the server lost events while its database connection was down");
        }
        lost = true;
        loop {
            tokio::select! {
                _ = refresh_ticks.tick() => {
                    if let Err(err) = hub.send_refreshes(&pool).await {
                        tracing::warn!(error = %err, "cannot send presence refreshes");
                    }
                }
                // `try_recv`, not `recv`: `recv` reconnects by itself and hides that events
                // were lost meanwhile.
                received = listener.try_recv() => match received {
                    Ok(Some(notification)) => match serde_json::from_str::<Signal>(notification.payload()) {
                        Ok(signal) => {
                            if let Err(err) = hub.deliver(signal).await {
                                tracing::warn!(error = %err, "cannot deliver a realtime event; listening again");
                                break;
                            }
                        }
                        Err(err) => tracing::warn!(error = %err, "unreadable realtime event"),
                    },
                    // The connection was lost and is back, LISTENing again (eager reconnect).
                    Ok(None) => {
                        tracing::warn!("realtime listener reconnected; clients told to resync");
                        hub.resync("the server lost events while its database connection was down");
                    }
                    Err(err) => {
                        tracing::warn!(error = %err, "realtime listener lost its connection; listening again");
                        hub.sessions.invalidate();
                        break;
                    }
                },
                () = stopped.cancelled() => return,
                _ = &mut pool_closing => return,
            }
        }
    }
}

async fn tail(hub: Arc<Hub>, stopped: CancellationToken) {
    const MAX_COMMENT: &str = "SELECT COALESCE(MAX(rowid), 0) FROM comments";
    const MAX_NOTIFICATION: &str = "SELECT COALESCE(MAX(rowid), 0) FROM notifications";
    const NEW_COMMENTS: &str = "SELECT rowid, id FROM comments WHERE rowid > $1 ORDER BY rowid LIMIT 500";
    const NEW_NOTIFICATIONS: &str = "SELECT rowid, id FROM notifications WHERE rowid > $1 ORDER BY rowid LIMIT 500";
    const MAX_HISTORY: &str = "SELECT COALESCE(MAX(rowid), 0) FROM ticket_history";
    const NEW_HISTORY: &str = "SELECT rowid, ticket_id, field, before FROM ticket_history WHERE rowid > $1 ORDER BY rowid LIMIT 2000";
    const PAGE: usize = 500;
    const HISTORY_PAGE: usize = 2000;
    let Db::Sqlite(pool) = hub.db.clone() else { return };
    let start = async {
        let c: i64 = sqlx::query_scalar(MAX_COMMENT).fetch_one(&pool).await?;
        let n: i64 = sqlx::query_scalar(MAX_NOTIFICATION).fetch_one(&pool).await?;
        let h: i64 = sqlx::query_scalar(MAX_HISTORY).fetch_one(&pool).await?;
        Ok::<_, sqlx::Error>((c, n, h))
    };
    let (mut last_comment, mut last_notification, mut last_history) = match start.await {
        Ok(marks) => marks,
        Err(err) => {
            tracing::error!(error = %err, "realtime tailer cannot start");
            return;
        }
    };
    // A full page means more rows are waiting: read on without waiting for the doorbell.
    let mut more = false;
    loop {
        if !more {
            tokio::select! {
                _ = hub.doorbell.notified() => {}
                _ = tokio::time::sleep(TAIL_POLL) => {}
                () = stopped.cancelled() => return,
            }
        }
        let batch = async {
            let comments: Vec<(i64, Uuid)> = sqlx::query_as(NEW_COMMENTS).bind(last_comment).fetch_all(&pool).await?;
            let notifications: Vec<(i64, Uuid)> = sqlx::query_as(NEW_NOTIFICATIONS).bind(last_notification).fetch_all(&pool).await?;
            let history: Vec<(i64, Uuid, String, Option<String>)> =
                sqlx::query_as(NEW_HISTORY).bind(last_history).fetch_all(&pool).await?;
            Ok::<_, sqlx::Error>((comments, notifications, history))
        };
        more = false;
        match batch.await {
            Ok((comments, notifications, history)) => {
                more = comments.len() == PAGE || notifications.len() == PAGE || history.len() == HISTORY_PAGE;
                for (rowid, ticket_id, field, before) in history {
                    last_history = rowid;
                    let was = before.and_then(|before| before.parse().ok());
                    hub.queue.note(queue_feed::Change { ticket_id, field, was });
                }
                for (rowid, comment_id) in comments {
                    last_comment = rowid;
                    let _ = hub.deliver(Signal::Comment { comment_id }).await;
                }
                for (rowid, notification_id) in notifications {
                    last_notification = rowid;
                    let _ = hub.deliver(Signal::Notification { notification_id }).await;
                }
            }
            Err(err) => tracing::warn!(error = %err, "realtime tailer error"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refreshes_fit_in_notify_payloads() {
        let refreshes: Vec<(Uuid, Uuid)> = (0..1000).map(|_| (Uuid::now_v7(), Uuid::now_v7())).collect();
        let payloads = refresh_payloads(&refreshes).unwrap();
        assert_eq!(payloads.len(), 1000_usize.div_ceil(REFRESHES_PER_SIGNAL));
        let mut carried = Vec::new();
        for payload in &payloads {
            assert!(payload.len() < 8000, "{} bytes", payload.len());
            match serde_json::from_str::<Signal>(payload).unwrap() {
                Signal::PresenceRefresh { viewing } => carried.extend(viewing),
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(carried, refreshes);
        assert!(refresh_payloads(&[]).unwrap().is_empty());
    }
}
