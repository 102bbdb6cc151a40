//! The connection state shown to the user, with a grace period: a drop that is mended within
//! it is never shown, so a short network hiccup or a quick server restart does not flash an
//! error.

use std::time::{Duration, Instant};

/// The websocket's state as the status line shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectionState {
    /// The first connection is being made.
    Connecting,
    Connected,
    /// The connection was lost at `since` and has not come back after the grace period;
    /// `attempt` counts the tries so far.
    Reconnecting { attempt: u32, since: Instant },
    /// Not trying: the credential was refused and no fresh one could be had (log in again, then
    /// send [`crate::live::LiveCommand::Reconnect`]).
    Offline { reason: String },
}

/// Decides which states reach the user.
#[derive(Debug)]
pub struct StatusTracker {
    grace: Duration,
    shown: ConnectionState,
    /// When the connection was lost (or the first try began), while not connected.
    lost_at: Option<Instant>,
    attempts: u32,
}

impl StatusTracker {
    pub fn new(grace: Duration, now: Instant) -> StatusTracker {
        StatusTracker { grace, shown: ConnectionState::Connecting, lost_at: Some(now), attempts: 0 }
    }

    pub fn shown(&self) -> &ConnectionState {
        &self.shown
    }

    /// When the grace period of the current outage ends, if one is running and not yet shown.
    pub fn grace_deadline(&self) -> Option<Instant> {
        match (&self.shown, self.lost_at) {
            (ConnectionState::Connected | ConnectionState::Connecting, Some(lost_at)) => Some(lost_at + self.grace),
            _ => None,
        }
    }

    /// Connected: shown at once (unless it was never shown as lost).
    pub fn connected(&mut self) -> Option<ConnectionState> {
        self.lost_at = None;
        self.attempts = 0;
        self.show(ConnectionState::Connected)
    }

    /// The connection dropped: nothing is shown until the grace period ends.
    pub fn lost(&mut self, now: Instant) {
        if self.lost_at.is_none() {
            self.lost_at = Some(now);
        }
    }

    /// Another try failed.
    pub fn attempt_failed(&mut self, now: Instant) -> Option<ConnectionState> {
        self.attempts += 1;
        self.lost(now);
        self.tick(now)
    }

    /// Time passes: once the grace period is over, the outage is shown (and each new attempt).
    pub fn tick(&mut self, now: Instant) -> Option<ConnectionState> {
        let lost_at = self.lost_at?;
        if matches!(self.shown, ConnectionState::Offline { .. }) || now < lost_at + self.grace {
            return None;
        }
        self.show(ConnectionState::Reconnecting { attempt: self.attempts.max(1), since: lost_at })
    }

    pub fn offline(&mut self, reason: String) -> Option<ConnectionState> {
        self.show(ConnectionState::Offline { reason })
    }

    /// Trying again after being offline.
    pub fn retrying(&mut self, now: Instant) {
        if matches!(self.shown, ConnectionState::Offline { .. }) {
            self.shown = ConnectionState::Connecting;
            self.lost_at = Some(now);
            self.attempts = 0;
        }
    }

    fn show(&mut self, state: ConnectionState) -> Option<ConnectionState> {
        if self.shown == state {
            return None;
        }
        self.shown = state.clone();
        Some(state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_drop_is_never_shown() {
        let start = Instant::now();
        let mut status = StatusTracker::new(Duration::from_secs(3), start);
        assert_eq!(status.connected(), Some(ConnectionState::Connected));
        status.lost(start + Duration::from_secs(10));
        assert_eq!(status.attempt_failed(start + Duration::from_secs(11)), None);
        assert_eq!(status.tick(start + Duration::from_secs(12)), None);
        assert_eq!(status.connected(), None, "still shown as connected: nothing to say");
    }

    #[test]
    fn a_long_drop_is_shown_after_the_grace_period_with_each_attempt() {
        let start = Instant::now();
        let mut status = StatusTracker::new(Duration::from_secs(3), start);
        status.connected();
        let lost = start + Duration::from_secs(10);
        status.lost(lost);
        assert_eq!(status.grace_deadline(), Some(lost + Duration::from_secs(3)));
        assert_eq!(status.attempt_failed(lost + Duration::from_secs(1)), None);
        assert_eq!(
            status.tick(lost + Duration::from_secs(3)),
            Some(ConnectionState::Reconnecting { attempt: 1, since: lost })
        );
        assert_eq!(
            status.attempt_failed(lost + Duration::from_secs(5)),
            Some(ConnectionState::Reconnecting { attempt: 2, since: lost })
        );
        assert_eq!(status.connected(), Some(ConnectionState::Connected));
    }

    #[test]
    fn offline_stays_until_retried() {
        let start = Instant::now();
        let mut status = StatusTracker::new(Duration::from_secs(3), start);
        assert!(status.offline("refused".into()).is_some());
        assert_eq!(status.tick(start + Duration::from_secs(60)), None);
        status.retrying(start + Duration::from_secs(61));
        assert_eq!(status.shown(), &ConnectionState::Connecting);
    }
}
