//! Bookkeeping for the rooms the worker follows: the last `seq` delivered per room (so each
//! message is delivered once, in order, across reconnects) and the typing throttle.
//!
//! A room being (re)subscribed takes no live message until the server's `subscribed` answer:
//! whatever was on its way before is in the catch-up that follows the answer, and taking it
//! early would move the mark past messages the catch-up is about to deliver (after a
//! `resync`, the message after a dropped one arrives before the catch-up does).
//!
//! The server answers a `send` at once with its echo, which can overtake earlier messages still
//! on their way to this connection (the server then skips those as older than the echo). An
//! echo that leaves a gap is therefore held back and the room subscribed again from the last
//! `seq` delivered: the catch-up brings the skipped messages and the echo, in order.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use uuid::Uuid;

#[derive(Debug, Default)]
struct Room {
    /// The newest message delivered; `None` until the room's first `subscribed` answer when the
    /// caller had nothing.
    last_seq: Option<i64>,
    /// A subscription was sent and not answered yet.
    awaiting: bool,
    /// `client_ref`s of held-back echoes, by `seq`, to put back on the catch-up's copies.
    held_refs: HashMap<i64, String>,
    last_typing: Option<Instant>,
}

/// What to do with an arriving message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Arrival {
    /// Deliver it, with this `client_ref`.
    Deliver(Option<String>),
    /// Already delivered, or covered by a catch-up on its way.
    Skip,
    /// An echo that overtook earlier messages: subscribe again after this `seq`.
    Resubscribe(i64),
}

/// The subscribed rooms.
#[derive(Debug, Default)]
pub struct Rooms {
    rooms: HashMap<Uuid, Room>,
}

impl Rooms {
    /// Follows a room; the caller already has every message up to `after_seq`.
    pub fn subscribe(&mut self, ticket_id: Uuid, after_seq: Option<i64>) {
        let room = self.rooms.entry(ticket_id).or_default();
        room.last_seq = after_seq.max(room.last_seq);
        room.awaiting = true;
    }

    pub fn unsubscribe(&mut self, ticket_id: Uuid) {
        self.rooms.remove(&ticket_id);
    }

    pub fn is_subscribed(&self, ticket_id: Uuid) -> bool {
        self.rooms.contains_key(&ticket_id)
    }

    /// Subscribes every room again (a new connection, a `resync`): what to send, each room with
    /// the last `seq` delivered.
    pub fn resubscribe_all(&mut self) -> Vec<(Uuid, Option<i64>)> {
        self.rooms
            .iter_mut()
            .map(|(ticket_id, room)| {
                room.awaiting = true;
                (*ticket_id, room.last_seq)
            })
            .collect()
    }

    /// The server's answer to a subscription: live messages count again from here, and a room
    /// with nothing delivered yet starts here.
    pub fn subscribed(&mut self, ticket_id: Uuid, last_seq: i64) {
        if let Some(room) = self.rooms.get_mut(&ticket_id) {
            room.awaiting = false;
            room.last_seq.get_or_insert(last_seq);
        }
    }

    /// Decides about an arriving message (and records it when delivered). Messages of rooms
    /// not followed (the echo of a send elsewhere) are always delivered.
    pub fn arrive(&mut self, ticket_id: Uuid, seq: i64, client_ref: Option<String>) -> Arrival {
        let Some(room) = self.rooms.get_mut(&ticket_id) else { return Arrival::Deliver(client_ref) };
        if room.awaiting {
            if let Some(client_ref) = client_ref {
                room.held_refs.insert(seq, client_ref);
            }
            return Arrival::Skip;
        }
        match room.last_seq {
            Some(last) if seq <= last => return Arrival::Skip,
            Some(last) if seq > last + 1 && client_ref.is_some() => {
                room.held_refs.insert(seq, client_ref.unwrap_or_default());
                room.awaiting = true;
                return Arrival::Resubscribe(last);
            }
            _ => {}
        }
        room.last_seq = Some(seq);
        Arrival::Deliver(client_ref.or_else(|| room.held_refs.remove(&seq)))
    }

    pub fn last_seq(&self, ticket_id: Uuid) -> Option<i64> {
        self.rooms.get(&ticket_id).and_then(|room| room.last_seq)
    }

    /// Whether a typing notice may go out now (one per `interval` per room); records it if so.
    pub fn may_announce_typing(&mut self, ticket_id: Uuid, now: Instant, interval: Duration) -> bool {
        let Some(room) = self.rooms.get_mut(&ticket_id) else { return false };
        if room.last_typing.is_some_and(|last| now.duration_since(last) < interval) {
            return false;
        }
        room.last_typing = Some(now);
        true
    }

    /// A new connection has no typing state on the server.
    pub fn forget_typing(&mut self) {
        for room in self.rooms.values_mut() {
            room.last_typing = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_accepted_once_and_never_backwards() {
        let mut rooms = Rooms::default();
        let room = Uuid::now_v7();
        rooms.subscribe(room, None);
        rooms.subscribed(room, 4);
        assert_eq!(rooms.arrive(room, 4, None), Arrival::Skip);
        assert_eq!(rooms.arrive(room, 5, None), Arrival::Deliver(None));
        assert_eq!(rooms.arrive(room, 5, None), Arrival::Skip);
        // A gap is fine: customers never see internal notes, which take numbers too.
        assert_eq!(rooms.arrive(room, 7, None), Arrival::Deliver(None));
        assert_eq!(rooms.arrive(room, 6, None), Arrival::Skip);
        assert_eq!(rooms.resubscribe_all(), vec![(room, Some(7))]);
        // Until the answer, live messages wait for the catch-up.
        assert_eq!(rooms.arrive(room, 9, None), Arrival::Skip);
        // A later `subscribed` (after a reconnect) does not move the mark back.
        rooms.subscribed(room, 3);
        assert_eq!(rooms.last_seq(room), Some(7));
        assert_eq!(rooms.arrive(room, 8, None), Arrival::Deliver(None));
    }

    #[test]
    fn the_callers_after_seq_is_where_delivery_starts() {
        let mut rooms = Rooms::default();
        let room = Uuid::now_v7();
        rooms.subscribe(room, Some(10));
        rooms.subscribed(room, 12);
        assert_eq!(rooms.arrive(room, 11, None), Arrival::Deliver(None));
        assert_eq!(rooms.arrive(room, 10, None), Arrival::Skip);
    }

    #[test]
    fn an_echo_that_overtook_earlier_messages_is_held_back_for_the_catch_up() {
        let mut rooms = Rooms::default();
        let room = Uuid::now_v7();
        rooms.subscribe(room, Some(6));
        rooms.subscribed(room, 6);
        assert_eq!(rooms.arrive(room, 8, Some("mine".into())), Arrival::Resubscribe(6));
        // The dropped 7 and the echo come back in the catch-up, the echo with its reference.
        rooms.subscribed(room, 6);
        assert_eq!(rooms.arrive(room, 7, None), Arrival::Deliver(None));
        assert_eq!(rooms.arrive(room, 8, None), Arrival::Deliver(Some("mine".into())));
        // An echo right after the last one is delivered at once.
        assert_eq!(rooms.arrive(room, 9, Some("next".into())), Arrival::Deliver(Some("next".into())));
    }

    #[test]
    fn typing_goes_out_at_most_once_per_interval() {
        let mut rooms = Rooms::default();
        let room = Uuid::now_v7();
        let interval = Duration::from_secs(3);
        let start = Instant::now();
        assert!(!rooms.may_announce_typing(room, start, interval), "not subscribed");
        rooms.subscribe(room, None);
        assert!(rooms.may_announce_typing(room, start, interval));
        assert!(!rooms.may_announce_typing(room, start + Duration::from_secs(2), interval));
        assert!(rooms.may_announce_typing(room, start + Duration::from_secs(3), interval));
        rooms.forget_typing();
        assert!(rooms.may_announce_typing(room, start + Duration::from_secs(4), interval));
    }
}
