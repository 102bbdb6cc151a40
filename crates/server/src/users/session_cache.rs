//! The accounts behind live login sessions, kept in memory so that a request authenticated by an
//! access token costs no query (issue 17: on SQLite every query hops to sqlx's worker thread and
//! back, and the session check was half of a ticket read's queries and all of `users/me`'s).
//!
//! Rights must still end on the next request after a role change, a deactivation, a deletion or
//! a revoked session. Every such write empties the cache once it has committed:
//! - on this instance, by calling [`SessionCache::invalidate`] after the commit;
//! - on the other instances sharing PostgreSQL, by a trigger on `users` and `sessions` that
//!   notifies them (migration 0056); the hub's listener then empties their caches, and does
//!   so too whenever it lost its connection (notifications may have been missed).
//!
//! An entry also expires after [`TTL`], so a write that escaped both could only be seen late,
//! never kept.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use uuid::Uuid;

use crate::users::store::UserRow;

/// The longest an entry is trusted without any invalidation reaching it.
const TTL: Duration = Duration::from_secs(5);
/// Sessions remembered at most (a few hundred bytes each).
const CAPACITY: u64 = 50_000;

/// One instance's cached sessions.
pub struct SessionCache {
    /// Moves on every invalidation. An entry is good only while it holds the generation read
    /// before its row was loaded: a row read before a write committed, but stored after the
    /// invalidation that followed the write, is then never served.
    generation: AtomicU64,
    entries: moka::sync::Cache<Uuid, Arc<Entry>>,
}

struct Entry {
    user: UserRow,
    generation: u64,
}

/// A generation read before loading a session, to store what was loaded under it.
#[derive(Debug, Clone, Copy)]
pub struct Ticket(u64);

impl SessionCache {
    pub fn new() -> Self {
        SessionCache {
            generation: AtomicU64::new(0),
            entries: moka::sync::Cache::builder()
                .max_capacity(CAPACITY)
                .time_to_live(TTL)
                .build(),
        }
    }

    /// The live account behind session `session_id` of `user_id`, if cached and still good.
    pub fn get(&self, session_id: Uuid, user_id: Uuid) -> Option<UserRow> {
        let entry = self.entries.get(&session_id)?;
        (entry.generation == self.generation.load(Ordering::Acquire) && entry.user.id == user_id)
            .then(|| entry.user.clone())
    }

    /// Read before loading a session from the database.
    pub fn ticket(&self) -> Ticket {
        Ticket(self.generation.load(Ordering::Acquire))
    }

    /// Remembers a session loaded after `ticket` was taken.
    pub fn put(&self, ticket: Ticket, session_id: Uuid, user: UserRow) {
        self.entries.insert(
            session_id,
            Arc::new(Entry {
                user,
                generation: ticket.0,
            }),
        );
    }

    /// Forgets every session: call after committing any change to `users` or `sessions`.
    pub fn invalidate(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.entries.invalidate_all();
    }
}

impl Default for SessionCache {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(id: Uuid) -> UserRow {
        let now = chrono::Utc::now();
        UserRow {
            id,
            email: "a@example.com".to_owned(),
            name: "A".to_owned(),
            role: hdms_api_types::Role::Agent,
            phone: None,
            locale: None,
            external_id: None,
            active: true,
            created_at: now,
            updated_at: now,
            deleted_at: None,
            last_login_at: None,
        }
    }

    #[test]
    fn a_row_loaded_before_an_invalidation_is_never_served() {
        let cache = SessionCache::new();
        let (session, id) = (Uuid::now_v7(), Uuid::now_v7());
        let ticket = cache.ticket();
        // The write commits and invalidates while the reader still holds the old row.
        cache.invalidate();
        cache.put(ticket, session, user(id));
        assert!(cache.get(session, id).is_none());

        let ticket = cache.ticket();
        cache.put(ticket, session, user(id));
        assert_eq!(cache.get(session, id).map(|u| u.id), Some(id));
        assert!(
            cache.get(session, Uuid::now_v7()).is_none(),
            "a session answers only for its own user"
        );
        cache.invalidate();
        assert!(cache.get(session, id).is_none());
    }
}
