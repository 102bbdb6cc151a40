//! How values look on screen: SLA countdowns and their urgency, ages, statuses, priorities.
//! Meaning never rests on colour alone: urgent states are also bold or reversed and spelled out.

use chrono::{DateTime, Utc};
use hdms_api_types::tickets::{Priority, Status, Ticket};
use ratatui::style::{Color, Modifier, Style};

/// The SLA cell of a ticket: time left to its next due target, and how urgent that is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlaCell {
    pub text: String,
    pub urgency: Urgency,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Urgency {
    None,
    Calm,
    Soon,
    Warning,
    Late,
}

impl Urgency {
    pub fn style(self) -> Style {
        match self {
            Urgency::None => Style::default().add_modifier(Modifier::DIM),
            Urgency::Calm => Style::default().fg(Color::Green),
            Urgency::Soon => Style::default().fg(Color::Yellow),
            Urgency::Warning => Style::default().fg(Color::LightRed).add_modifier(Modifier::BOLD),
            Urgency::Late => Style::default().fg(Color::White).bg(Color::Red).add_modifier(Modifier::BOLD),
        }
    }
}

/// Which target is next (first response until met, then resolution) and how it stands `now`.
pub fn sla(ticket: &Ticket, now: DateTime<Utc>) -> SlaCell {
    let Some(sla) = &ticket.sla else {
        return SlaCell { text: "—".to_owned(), urgency: Urgency::None };
    };
    if ticket.status.is_done() {
        return SlaCell { text: "—".to_owned(), urgency: Urgency::None };
    }
    let target = if sla.first_response.met_at.is_none() { &sla.first_response } else { &sla.resolution };
    if target.breached {
        return SlaCell { text: "BREACHED".to_owned(), urgency: Urgency::Late };
    }
    if sla.paused {
        return SlaCell { text: "paused".to_owned(), urgency: Urgency::None };
    }
    let Some(due) = target.due_at else {
        return SlaCell { text: "—".to_owned(), urgency: Urgency::None };
    };
    let left = (due - now).num_seconds();
    if left <= 0 {
        return SlaCell { text: "now".to_owned(), urgency: Urgency::Late };
    }
    let urgency = if target.warning {
        Urgency::Warning
    } else if left < 3600 {
        Urgency::Soon
    } else {
        Urgency::Calm
    };
    SlaCell { text: duration(left), urgency }
}

/// `45s`, `12m`, `3h05`, `2d04h`: short enough for a column.
pub fn duration(secs: i64) -> String {
    let secs = secs.max(0);
    match secs {
        0..60 => format!("{secs}s"),
        60..3600 => format!("{}m", secs / 60),
        3600..86_400 => format!("{}h{:02}", secs / 3600, secs % 3600 / 60),
        _ => format!("{}d{:02}h", secs / 86_400, secs % 86_400 / 3600),
    }
}

/// How long ago, as a column: `now`, `5m`, `3h`, `2d`.
pub fn age(at: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let secs = (now - at).num_seconds().max(0);
    match secs {
        0..60 => "now".to_owned(),
        60..3600 => format!("{}m", secs / 60),
        3600..86_400 => format!("{}h", secs / 3600),
        _ => format!("{}d", secs / 86_400),
    }
}

/// A date and time for headers, in UTC (the terminal's zone is not known to the client).
pub fn when(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M").to_string()
}

/// A size as people read it (`4.5 MiB`).
pub fn bytes(count: u64) -> String {
    bytesize::ByteSize(count).to_string()
}

pub fn status(status: Status) -> &'static str {
    match status {
        Status::New => "new",
        Status::Open => "open",
        Status::InProgress => "in progress",
        Status::PendingCustomer => "pending cust",
        Status::PendingApproval => "pending appr",
        Status::Resolved => "resolved",
        Status::Closed => "closed",
        Status::Cancelled => "cancelled",
    }
}

pub fn priority_style(priority: Priority) -> Style {
    match priority {
        Priority::Urgent => Style::default().fg(Color::Red).add_modifier(Modifier::BOLD),
        Priority::High => Style::default().fg(Color::LightRed),
        Priority::Normal => Style::default(),
        Priority::Low => Style::default().add_modifier(Modifier::DIM),
    }
}

/// Cuts text to `width` columns with an ellipsis.
pub fn fit(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(width.saturating_sub(1)).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_stay_short() {
        assert_eq!(duration(42), "42s");
        assert_eq!(duration(12 * 60 + 5), "12m");
        assert_eq!(duration(3 * 3600 + 5 * 60), "3h05");
        assert_eq!(duration(2 * 86_400 + 4 * 3600), "2d04h");
    }
}
