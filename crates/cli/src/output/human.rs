//! Values as people read them: `5m ago`, `2h 10m`, `overdue 5m`, names instead of ids, and
//! the colours of statuses and priorities.

use chrono::{DateTime, Utc};
use hdms_api_types::tickets::{PersonSummary, Priority, SlaTarget, Status, TicketSla};
use uuid::Uuid;

use super::table::{Cell, Layout, Tone, Zone};

/// A span of time in its two largest units: `45s`, `12m`, `2h 10m`, `3d 4h`.
pub fn span(secs: i64) -> String {
    let secs = secs.unsigned_abs();
    let (days, hours, minutes) = (secs / 86_400, secs % 86_400 / 3_600, secs % 3_600 / 60);
    match (days, hours, minutes) {
        (0, 0, 0) => format!("{secs}s"),
        (0, 0, m) => format!("{m}m"),
        (0, h, 0) => format!("{h}h"),
        (0, h, m) => format!("{h}h {m}m"),
        (d, 0, _) => format!("{d}d"),
        (d, h, _) => format!("{d}d {h}h"),
    }
}

/// How long ago, in one unit (`just now`, `5m ago`, `3h ago`, `12d ago`), or the date once it
/// is more than a month back. Times ahead read `in 5m`.
pub fn ago(at: DateTime<Utc>, layout: &Layout) -> String {
    let secs = (layout.now - at).num_seconds();
    let (amount, future) = (secs.unsigned_abs(), secs < 0);
    let unit = match amount {
        0..60 => return "just now".to_owned(),
        60..3_600 => format!("{}m", amount / 60),
        3_600..86_400 => format!("{}h", amount / 3_600),
        86_400..2_592_000 => format!("{}d", amount / 86_400),
        _ => return date(at, layout),
    };
    if future { format!("in {unit}") } else { format!("{unit} ago") }
}

/// `2026-12-01`, in the layout's zone.
pub fn date(at: DateTime<Utc>, layout: &Layout) -> String {
    match layout.zone {
        Zone::Utc => at.format("%Y-%m-%d").to_string(),
        Zone::Local => at.with_timezone(&chrono::Local).format("%Y-%m-%d").to_string(),
    }
}

/// `2026-12-01 09:12`, in the layout's zone (UTC says so).
pub fn moment(at: DateTime<Utc>, layout: &Layout) -> String {
    match layout.zone {
        Zone::Utc => at.format("%Y-%m-%d %H:%M UTC").to_string(),
        Zone::Local => at.with_timezone(&chrono::Local).format("%Y-%m-%d %H:%M").to_string(),
    }
}

/// `2026-12-01 09:12 (5h ago)`.
pub fn moment_ago(at: DateTime<Utc>, layout: &Layout) -> String {
    format!("{} ({})", moment(at, layout), ago(at, layout))
}

pub fn status(status: Status) -> Cell {
    let tone = match status {
        Status::New => Tone::Accent,
        Status::Open | Status::InProgress => Tone::Plain,
        Status::PendingCustomer | Status::PendingApproval => Tone::Warn,
        Status::Resolved => Tone::Good,
        Status::Closed | Status::Cancelled => Tone::Muted,
    };
    Cell::new(status.as_str(), tone)
}

pub fn priority(priority: Priority) -> Cell {
    let tone = match priority {
        Priority::Low => Tone::Muted,
        Priority::Normal => Tone::Plain,
        Priority::High => Tone::Warn,
        Priority::Urgent => Tone::Bad,
    };
    Cell::new(priority.as_str(), tone)
}

/// A person by name (their email when the name is blank); the id only when the server sent no
/// summary.
pub fn person(summary: Option<&PersonSummary>, id: Option<Uuid>) -> String {
    match (summary, id) {
        (Some(person), _) if !person.name.trim().is_empty() => person.name.clone(),
        (Some(person), _) => person.email.clone(),
        (None, Some(id)) => id.to_string(),
        (None, None) => String::new(),
    }
}

/// The SLA in one cell: the time left to the next due target (`2h 10m`), `overdue 5m`,
/// `paused` or `met`.
pub fn sla(sla: Option<&TicketSla>, layout: &Layout) -> Cell {
    let Some(sla) = sla else { return Cell::default() };
    if sla.paused {
        return Cell::new("paused", Tone::Muted);
    }
    match next_target(sla) {
        Some(target) => time_left(target, layout),
        None => Cell::new("met", Tone::Good),
    }
}

/// The open target that falls due first.
pub fn next_target(sla: &TicketSla) -> Option<&SlaTarget> {
    [&sla.first_response, &sla.resolution]
        .into_iter()
        .filter(|target| target.met_at.is_none() && target.due_at.is_some())
        .min_by_key(|target| target.due_at)
}

/// `2h 10m` (yellow past the warning share), or `overdue 5m` in red.
pub fn time_left(target: &SlaTarget, layout: &Layout) -> Cell {
    let left = match target.due_at {
        Some(due) => (due - layout.now).num_seconds(),
        None => target.remaining_secs.unwrap_or_default(),
    };
    if target.breached || left <= 0 {
        Cell::new(format!("overdue {}", span(left)), Tone::Bad)
    } else {
        Cell::new(span(left), if target.warning { Tone::Warn } else { Tone::Plain })
    }
}

/// `yes`, or `no` in a colour that draws the eye.
pub fn yes_no(value: bool) -> Cell {
    if value { Cell::from("yes") } else { Cell::new("no", Tone::Warn) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_use_their_two_largest_units() {
        assert_eq!(span(0), "0s");
        assert_eq!(span(45), "45s");
        assert_eq!(span(12 * 60 + 5), "12m");
        assert_eq!(span(2 * 3600), "2h");
        assert_eq!(span(2 * 3600 + 10 * 60 + 59), "2h 10m");
        assert_eq!(span(-(5 * 60)), "5m");
        assert_eq!(span(3 * 86_400 + 4 * 3600 + 120), "3d 4h");
        assert_eq!(span(86_400 + 59), "1d");
    }

    #[test]
    fn ago_counts_in_one_unit_and_falls_back_to_the_date() {
        let now: DateTime<Utc> = "2026-12-02T12:00:00Z".parse().unwrap();
        let layout = Layout { width: None, colour: false, wide: false, now, zone: Zone::Utc };
        let at = |secs: i64| now - chrono::Duration::seconds(secs);
        assert_eq!(ago(at(5), &layout), "just now");
        assert_eq!(ago(at(5 * 60 + 30), &layout), "5m ago");
        assert_eq!(ago(at(3 * 3600), &layout), "3h ago");
        assert_eq!(ago(at(12 * 86_400), &layout), "12d ago");
        assert_eq!(ago(at(-(3 * 86_400)), &layout), "in 3d");
        assert_eq!(ago(at(40 * 86_400), &layout), "2026-10-23");
    }
}
