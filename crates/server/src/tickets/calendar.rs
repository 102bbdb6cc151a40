//! Business-hours arithmetic for SLA timers: whether the clock runs at an instant, how much
//! business time lies between two instants, and when a business-time target falls due.
//!
//! Business time is real elapsed time inside opening windows. Each working day that is not a
//! holiday has one window, from `opens` to `closes` read in the calendar's zone. All arithmetic
//! is done on UTC instants, so an hour of business time is an hour of real time and daylight
//! saving only matters where it moves a window's edges: 09:00–17:00 is 8 hours on every day in
//! zones that change their clocks at night (all of Europe and North America), while a window that
//! spans a change counts the real hours in it (00:00–06:00 in Berlin on the spring-forward
//! Sunday is 5 hours).
//!
//! Local times that a zone skips or repeats are resolved by one rule: a local time means the first
//! instant at which the zone's clock shows that time or later. So
//! - a time inside a spring-forward gap (02:30 in Berlin on the last Sunday of March) means the
//!   end of the gap, 03:00 CEST: the window loses the skipped part;
//! - a time inside a fall-back fold (02:30 on the last Sunday of October) means its first
//!   occurrence, 02:30 CEST: the clock has reached it then, and a window must not open twice.
//!
//! The rule is monotonic in local time (a later local time never resolves to an earlier instant),
//! so windows come in date order and never overlap, even around a fold across midnight.
//!
//! Cost: one step per calendar day spanned, where only working days look anything up in the zone
//! (two binary searches). Calendars that never close are answered by plain arithmetic. Whole weeks
//! are not skipped arithmetically because a week's business time depends on where the zone's
//! transitions fall relative to its windows, and chrono-tz does not expose its transition table:
//! a week skip would be exact only by assumption, and the per-day walk takes tens of microseconds
//! for a thousand business hours. Because the walk is linear in the span, whoever accepts SLA
//! targets should bound them (years, not millennia).

use std::borrow::Cow;
use std::cmp::{max, min};

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc, Weekday};
use chrono_tz::{GapInfo, Tz};
use serde::{Deserialize, Serialize};

/// The most holidays a calendar may list. The list is stored and sent whole and searched on every
/// computation (sorted first when stored unsorted), so it stays small; past holidays can be pruned.
pub const MAX_HOLIDAYS: usize = 1000;

/// A business calendar: when the SLA clock runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BusinessCalendar {
    /// The zone in which `opens`, `closes` and `holidays` are read; serialized as its IANA name.
    pub time_zone: Tz,
    /// The days of the week with business hours.
    pub working_days: Vec<Weekday>,
    /// Local opening time on working days.
    pub opens: NaiveTime,
    /// Local closing time on working days, after `opens`. 00:00 means midnight at the end of the
    /// day: `NaiveTime` cannot say 24:00, and a calendar open all day must be expressible.
    pub closes: NaiveTime,
    /// Local dates without business hours, whatever their weekday.
    pub holidays: Vec<NaiveDate>,
}

/// Why a calendar is invalid: the offending field and a message that reads after its name
/// ("closes must be after opens (09:00:00)").
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field} {message}")]
pub struct CalendarError {
    field: &'static str,
    message: String,
}

impl CalendarError {
    fn new(field: &'static str, message: impl Into<String>) -> Self {
        CalendarError { field, message: message.into() }
    }

    /// The field at fault, as named in the calendar's JSON.
    pub fn field(&self) -> &'static str {
        self.field
    }

    /// What is wrong with it, phrased to follow the field's name.
    pub fn message(&self) -> &str {
        &self.message
    }
}

const ALL_WEEKDAYS: [Weekday; 7] =
    [Weekday::Mon, Weekday::Tue, Weekday::Wed, Weekday::Thu, Weekday::Fri, Weekday::Sat, Weekday::Sun];

impl Default for BusinessCalendar {
    fn default() -> Self {
        BusinessCalendar::always()
    }
}

impl BusinessCalendar {
    /// Open around the clock every day in UTC, without holidays: business time is real time.
    pub fn always() -> Self {
        BusinessCalendar {
            time_zone: Tz::UTC,
            working_days: ALL_WEEKDAYS.to_vec(),
            opens: NaiveTime::MIN,
            closes: NaiveTime::MIN,
            holidays: Vec::new(),
        }
    }

    /// Checks what the types cannot: a non-empty daily window, at least one working day, no
    /// duplicates (a stored calendar is canonical) and a bounded holiday list.
    pub fn validate(&self) -> Result<(), CalendarError> {
        if self.working_days.is_empty() {
            return Err(CalendarError::new("working_days", "must list at least one day"));
        }
        for (index, day) in self.working_days.iter().enumerate() {
            if self.working_days[..index].contains(day) {
                return Err(CalendarError::new("working_days", format!("lists {day} more than once")));
            }
        }
        if !closes_at_midnight(self.closes) && self.closes <= self.opens {
            return Err(CalendarError::new(
                "closes",
                format!("must be after opens ({}); use 00:00:00 to close at midnight", self.opens),
            ));
        }
        if self.holidays.len() > MAX_HOLIDAYS {
            return Err(CalendarError::new(
                "holidays",
                format!("lists {} dates; at most {MAX_HOLIDAYS} are allowed", self.holidays.len()),
            ));
        }
        let mut holidays = self.holidays.clone();
        holidays.sort_unstable();
        if let Some(pair) = holidays.windows(2).find(|pair| pair[0] == pair[1]) {
            return Err(CalendarError::new("holidays", format!("lists {} more than once", pair[0])));
        }
        Ok(())
    }

    /// The instant `business` of business time after `start` (if start is outside hours,
    /// counting begins at the next opening).
    ///
    /// A zero target is therefore due at `start` when the clock is running and at the next
    /// opening otherwise; negative targets count as zero. The result is at most
    /// `DateTime::<Utc>::MAX_UTC`, which also stands for "never" when the calendar can never open
    /// (only possible for a calendar that fails `validate`).
    pub fn add_business_time(&self, start: DateTime<Utc>, business: Duration) -> DateTime<Utc> {
        let business = max(business, Duration::zero());
        let schedule = Schedule::new(self);
        if schedule.never_closes() {
            return start.checked_add_signed(business).unwrap_or(DateTime::<Utc>::MAX_UTC);
        }
        // Business time runs no faster than real time, so a target past the end of time in real
        // time is past it in business time too; answering now spares walking to the end of time.
        if !schedule.can_ever_open() || start.checked_add_signed(business).is_none() {
            return DateTime::<Utc>::MAX_UTC;
        }
        let mut remaining = business;
        for (opens, closes) in schedule.windows_from(start, None) {
            let available = closes - opens;
            if remaining <= available {
                return opens + remaining;
            }
            remaining -= available;
        }
        DateTime::<Utc>::MAX_UTC
    }

    /// Business time elapsed between two instants (zero if end <= start).
    pub fn business_time_between(&self, start: DateTime<Utc>, end: DateTime<Utc>) -> Duration {
        if end <= start {
            return Duration::zero();
        }
        let schedule = Schedule::new(self);
        if schedule.never_closes() {
            return end - start;
        }
        if !schedule.can_ever_open() {
            return Duration::zero();
        }
        schedule
            .windows_from(start, Some(end))
            .take_while(|&(opens, _)| opens < end)
            .map(|(opens, closes)| min(closes, end) - opens)
            .sum()
    }

    /// Whether the clock runs at this instant. Windows include their opening and exclude their
    /// closing instant, so at 17:00 sharp a 09:00–17:00 calendar is closed.
    pub fn is_open(&self, at: DateTime<Utc>) -> bool {
        let schedule = Schedule::new(self);
        if schedule.never_closes() {
            return true;
        }
        if !schedule.can_ever_open() {
            return false;
        }
        // Only windows opening at or before `at` matter, so the walk may stop right after it.
        let just_after = at.checked_add_signed(Duration::nanoseconds(1)).unwrap_or(at);
        schedule.windows_from(at, Some(just_after)).next().is_some_and(|(opens, _)| opens == at)
    }
}

/// `closes` of 00:00 is the midnight that ends the day (see [`BusinessCalendar::closes`]).
fn closes_at_midnight(closes: NaiveTime) -> bool {
    closes == NaiveTime::MIN
}

/// The first instant at which the zone's clock shows `local` or later: the instant itself when it
/// exists once, its first occurrence in a fold, the end of the gap when the zone skips it. `None`
/// only if the zone data cannot place it (beyond the representable range); that day then simply
/// has no window.
pub(crate) fn first_instant_at_or_after(zone: Tz, local: NaiveDateTime) -> Option<DateTime<Utc>> {
    match zone.from_local_datetime(&local).earliest() {
        Some(instant) => Some(instant.to_utc()),
        None => GapInfo::new(&local, &zone).and_then(|gap| gap.end).map(|end| end.to_utc()),
    }
}

/// A calendar prepared for one computation: weekdays as a lookup table and holidays sorted for
/// binary search (borrowed when already sorted, as stored calendars usually are).
struct Schedule<'a> {
    calendar: &'a BusinessCalendar,
    is_working_day: [bool; 7],
    sorted_holidays: Cow<'a, [NaiveDate]>,
}

impl<'a> Schedule<'a> {
    fn new(calendar: &'a BusinessCalendar) -> Self {
        let mut is_working_day = [false; 7];
        for day in &calendar.working_days {
            is_working_day[day.num_days_from_monday() as usize] = true;
        }
        let sorted_holidays = if calendar.holidays.is_sorted() {
            Cow::Borrowed(calendar.holidays.as_slice())
        } else {
            let mut holidays = calendar.holidays.clone();
            holidays.sort_unstable();
            Cow::Owned(holidays)
        };
        Schedule { calendar, is_working_day, sorted_holidays }
    }

    /// Open every instant: every day a working day, each window a whole day, no holidays. The
    /// windows then tile time exactly (each ends where the next day begins, by the same
    /// resolution rule), in any zone.
    fn never_closes(&self) -> bool {
        self.is_working_day.iter().all(|&working| working)
            && self.calendar.opens == NaiveTime::MIN
            && closes_at_midnight(self.calendar.closes)
            && self.sorted_holidays.is_empty()
    }

    /// Whether any window has positive length. Holidays are finite, so a calendar with a working
    /// day and a non-empty daily window opens again eventually.
    fn can_ever_open(&self) -> bool {
        self.is_working_day.contains(&true)
            && (closes_at_midnight(self.calendar.closes) || self.calendar.closes > self.calendar.opens)
    }

    fn is_working_date(&self, date: NaiveDate) -> bool {
        self.is_working_day[date.weekday().num_days_from_monday() as usize]
            && self.sorted_holidays.binary_search(&date).is_err()
    }

    /// The opening and closing instants of `date`'s window, if it has one. The window may be
    /// empty when both edges fall in the same gap.
    fn window_on(&self, date: NaiveDate) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        if !self.is_working_date(date) {
            return None;
        }
        let zone = self.calendar.time_zone;
        let opens = first_instant_at_or_after(zone, date.and_time(self.calendar.opens))?;
        let closes = if closes_at_midnight(self.calendar.closes) {
            first_instant_at_or_after(zone, date.succ_opt()?.and_time(NaiveTime::MIN))?
        } else {
            first_instant_at_or_after(zone, date.and_time(self.calendar.closes))?
        };
        Some((opens, closes))
    }

    /// The non-empty stretches of business time after `from`, in order and disjoint, the first
    /// clipped to begin no earlier than `from`. With `stop_at`, the walk ends at the first day
    /// that begins at or after it, so callers need not scan to the end of time for a window that
    /// no longer matters.
    fn windows_from(&self, from: DateTime<Utc>, stop_at: Option<DateTime<Utc>>) -> OpenWindows<'_> {
        let zone = self.calendar.time_zone;
        // Every window of an earlier local date ends at or before `from`: it closes no later than
        // the first instant of the next date, which is no later than `from`.
        let first_date = from.with_timezone(&zone).date_naive();
        let stop_at = stop_at.map(|instant| StopAt { instant, local_date: instant.with_timezone(&zone).date_naive() });
        OpenWindows { schedule: self, next_date: Some(first_date), not_before: from, stop_at }
    }
}

struct StopAt {
    instant: DateTime<Utc>,
    local_date: NaiveDate,
}

impl StopAt {
    /// Whether `date` begins at or after the stop instant, so neither it nor any later date has a
    /// window opening before it. Dates before the stop instant's own local date begin before it,
    /// which saves a zone lookup on every day but the last one or two.
    fn reached_by(&self, zone: Tz, date: NaiveDate) -> bool {
        date >= self.local_date
            && first_instant_at_or_after(zone, date.and_time(NaiveTime::MIN)).is_some_and(|begins| begins >= self.instant)
    }
}

struct OpenWindows<'s> {
    schedule: &'s Schedule<'s>,
    next_date: Option<NaiveDate>,
    /// The walk's start: the window containing it is clipped to begin there.
    not_before: DateTime<Utc>,
    stop_at: Option<StopAt>,
}

impl Iterator for OpenWindows<'_> {
    type Item = (DateTime<Utc>, DateTime<Utc>);

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let date = self.next_date?;
            if let Some(stop_at) = &self.stop_at
                && stop_at.reached_by(self.schedule.calendar.time_zone, date)
            {
                self.next_date = None;
                return None;
            }
            self.next_date = date.succ_opt();
            let Some((opens, closes)) = self.schedule.window_on(date) else {
                continue;
            };
            let opens = max(opens, self.not_before);
            if closes <= opens {
                continue;
            }
            return Some((opens, closes));
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono_tz::America::{New_York, Sao_Paulo};
    use chrono_tz::Europe::Berlin;
    use proptest::prelude::*;

    use super::*;

    fn hours(count: i64) -> Duration {
        Duration::hours(count)
    }

    fn minutes(count: i64) -> Duration {
        Duration::minutes(count)
    }

    fn time(hour: u32, minute: u32) -> NaiveTime {
        NaiveTime::from_hms_opt(hour, minute, 0).unwrap()
    }

    fn date(year: i32, month: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(year, month, day).unwrap()
    }

    /// An unambiguous local wall-clock time in `zone`, as an instant.
    fn at(zone: Tz, year: i32, month: u32, day: u32, hour: u32, minute: u32) -> DateTime<Utc> {
        zone.with_ymd_and_hms(year, month, day, hour, minute, 0).single().unwrap().to_utc()
    }

    fn utc(year: i32, month: u32, day: u32, hour: u32, minute: u32) -> DateTime<Utc> {
        at(Tz::UTC, year, month, day, hour, minute)
    }

    fn office(zone: Tz) -> BusinessCalendar {
        BusinessCalendar {
            time_zone: zone,
            working_days: vec![Weekday::Mon, Weekday::Tue, Weekday::Wed, Weekday::Thu, Weekday::Fri],
            opens: time(9, 0),
            closes: time(17, 0),
            holidays: Vec::new(),
        }
    }

    fn every_day(zone: Tz, opens: NaiveTime, closes: NaiveTime) -> BusinessCalendar {
        BusinessCalendar { time_zone: zone, working_days: ALL_WEEKDAYS.to_vec(), opens, closes, holidays: Vec::new() }
    }

    // 2025-06-13 is a Friday, 2025-06-16 the Monday after.

    #[test]
    fn friday_afternoon_target_rolls_over_the_weekend() {
        let calendar = office(Berlin);
        let due = calendar.add_business_time(at(Berlin, 2025, 6, 13, 16, 30), hours(1));
        assert_eq!(due, at(Berlin, 2025, 6, 16, 9, 30));
    }

    #[test]
    fn a_monday_holiday_pushes_the_target_to_tuesday() {
        let calendar = BusinessCalendar { holidays: vec![date(2025, 6, 16)], ..office(Berlin) };
        let due = calendar.add_business_time(at(Berlin, 2025, 6, 13, 16, 30), hours(1));
        assert_eq!(due, at(Berlin, 2025, 6, 17, 9, 30));
        assert_eq!(calendar.business_time_between(at(Berlin, 2025, 6, 13, 16, 30), due), hours(1));
    }

    #[test]
    fn starts_inside_before_and_after_hours() {
        let calendar = office(Berlin);
        // Tuesday 2025-06-10.
        assert_eq!(calendar.add_business_time(at(Berlin, 2025, 6, 10, 10, 0), minutes(30)), at(Berlin, 2025, 6, 10, 10, 30));
        assert_eq!(calendar.add_business_time(at(Berlin, 2025, 6, 10, 7, 0), hours(2)), at(Berlin, 2025, 6, 10, 11, 0));
        assert_eq!(calendar.add_business_time(at(Berlin, 2025, 6, 10, 18, 0), hours(2)), at(Berlin, 2025, 6, 11, 11, 0));
        assert_eq!(calendar.add_business_time(at(Berlin, 2025, 6, 10, 16, 0), hours(2)), at(Berlin, 2025, 6, 11, 10, 0));
        // Saturday.
        assert_eq!(calendar.add_business_time(at(Berlin, 2025, 6, 14, 12, 0), hours(1)), at(Berlin, 2025, 6, 16, 10, 0));
    }

    #[test]
    fn a_target_ending_at_closing_time_is_due_at_closing_not_next_morning() {
        let calendar = office(Berlin);
        assert_eq!(calendar.add_business_time(at(Berlin, 2025, 6, 10, 16, 0), hours(1)), at(Berlin, 2025, 6, 10, 17, 0));
        assert_eq!(calendar.add_business_time(at(Berlin, 2025, 6, 10, 9, 0), hours(8)), at(Berlin, 2025, 6, 10, 17, 0));
    }

    #[test]
    fn zero_and_negative_targets_are_due_now_or_at_the_next_opening() {
        let calendar = office(Berlin);
        let inside = at(Berlin, 2025, 6, 10, 11, 0);
        assert_eq!(calendar.add_business_time(inside, Duration::zero()), inside);
        assert_eq!(calendar.add_business_time(inside, -hours(3)), inside);
        assert_eq!(
            calendar.add_business_time(at(Berlin, 2025, 6, 13, 17, 0), Duration::zero()),
            at(Berlin, 2025, 6, 16, 9, 0)
        );
    }

    #[test]
    fn business_time_between_counts_only_open_hours() {
        let calendar = office(Berlin);
        let friday_noon = at(Berlin, 2025, 6, 13, 12, 0);
        assert_eq!(calendar.business_time_between(friday_noon, at(Berlin, 2025, 6, 16, 12, 0)), hours(8));
        assert_eq!(calendar.business_time_between(friday_noon, at(Berlin, 2025, 6, 20, 12, 0)), hours(40));
        assert_eq!(calendar.business_time_between(at(Berlin, 2025, 6, 14, 0, 0), at(Berlin, 2025, 6, 16, 0, 0)), Duration::zero());
        assert_eq!(calendar.business_time_between(friday_noon, friday_noon), Duration::zero());
        assert_eq!(calendar.business_time_between(friday_noon, friday_noon - hours(5)), Duration::zero());
    }

    #[test]
    fn a_thousand_business_hours_span_twenty_five_working_weeks() {
        let calendar = office(Tz::UTC);
        // Monday 2025-01-06 09:00: 1,000 hours is 125 eight-hour days, so the 25th week's Friday.
        let start = utc(2025, 1, 6, 9, 0);
        let due = calendar.add_business_time(start, hours(1000));
        assert_eq!(due, start + Duration::weeks(24) + Duration::days(4) + hours(8));
        assert_eq!(calendar.business_time_between(start, due), hours(1000));
    }

    #[test]
    fn long_targets_are_computed_quickly() {
        let calendar = BusinessCalendar { holidays: vec![date(2025, 12, 25), date(2026, 1, 1)], ..office(Berlin) };
        let began = std::time::Instant::now();
        for day in 0..100 {
            let start = at(Berlin, 2025, 3, 3, 8, 0) + Duration::days(day);
            let due = calendar.add_business_time(start, hours(1000));
            assert_eq!(calendar.business_time_between(start, due), hours(1000));
        }
        // A minute-by-minute walk would take seconds here even optimised; the day walk takes
        // about a millisecond per call unoptimised, so this bound only catches a regression.
        assert!(began.elapsed() < std::time::Duration::from_secs(5), "took {:?}", began.elapsed());
    }

    #[test]
    fn is_open_includes_opening_and_excludes_closing() {
        let calendar = BusinessCalendar { holidays: vec![date(2025, 6, 11)], ..office(Berlin) };
        assert!(calendar.is_open(at(Berlin, 2025, 6, 10, 9, 0)));
        assert!(calendar.is_open(at(Berlin, 2025, 6, 10, 17, 0) - Duration::nanoseconds(1)));
        assert!(!calendar.is_open(at(Berlin, 2025, 6, 10, 17, 0)));
        assert!(!calendar.is_open(at(Berlin, 2025, 6, 10, 8, 59)));
        assert!(!calendar.is_open(at(Berlin, 2025, 6, 11, 12, 0)), "holiday");
        assert!(!calendar.is_open(at(Berlin, 2025, 6, 14, 12, 0)), "Saturday");
    }

    #[test]
    fn windows_are_read_in_local_time() {
        // 09:00 in Berlin in June is 07:00 UTC.
        let calendar = office(Berlin);
        assert!(calendar.is_open(utc(2025, 6, 10, 7, 0)));
        assert!(!calendar.is_open(utc(2025, 6, 10, 6, 59)));
        assert!(!calendar.is_open(utc(2025, 6, 10, 15, 0)));
    }

    #[test]
    fn berlin_spring_forward_keeps_real_hours_and_moves_the_offset() {
        // Clocks go from 02:00 CET to 03:00 CEST on Sunday 2025-03-30.
        let calendar = office(Berlin);
        let friday = at(Berlin, 2025, 3, 28, 16, 0);
        assert_eq!(friday, utc(2025, 3, 28, 15, 0));
        let due = calendar.add_business_time(friday, hours(2));
        assert_eq!(due, at(Berlin, 2025, 3, 31, 10, 0));
        assert_eq!(due, utc(2025, 3, 31, 8, 0));

        let weekend = every_day(Berlin, time(9, 0), time(17, 0));
        assert_eq!(weekend.business_time_between(at(Berlin, 2025, 3, 30, 0, 0), at(Berlin, 2025, 3, 31, 0, 0)), hours(8));

        // A window across the change holds its real five hours.
        let night = every_day(Berlin, time(0, 0), time(6, 0));
        assert_eq!(night.business_time_between(at(Berlin, 2025, 3, 30, 0, 0), at(Berlin, 2025, 3, 30, 12, 0)), hours(5));
    }

    #[test]
    fn berlin_skipped_opening_time_opens_when_the_gap_ends() {
        let calendar = every_day(Berlin, time(2, 30), time(5, 0));
        assert!(!calendar.is_open(utc(2025, 3, 30, 0, 59)));
        assert!(calendar.is_open(utc(2025, 3, 30, 1, 0)), "03:00 CEST, the end of the gap");
        assert_eq!(calendar.business_time_between(at(Berlin, 2025, 3, 30, 0, 0), at(Berlin, 2025, 3, 30, 12, 0)), hours(2));
        // A window entirely inside the gap is empty that day and full length the next.
        let in_gap = every_day(Berlin, time(2, 10), time(2, 50));
        assert_eq!(in_gap.business_time_between(at(Berlin, 2025, 3, 30, 0, 0), at(Berlin, 2025, 3, 31, 0, 0)), Duration::zero());
        assert_eq!(in_gap.business_time_between(at(Berlin, 2025, 3, 31, 0, 0), at(Berlin, 2025, 4, 1, 0, 0)), minutes(40));
    }

    #[test]
    fn berlin_repeated_opening_time_opens_at_its_first_occurrence() {
        // Clocks go from 03:00 CEST back to 02:00 CET on Sunday 2025-10-26; 02:30 happens twice.
        let calendar = every_day(Berlin, time(2, 30), time(4, 0));
        assert!(calendar.is_open(utc(2025, 10, 26, 0, 30)), "02:30 CEST");
        assert!(!calendar.is_open(utc(2025, 10, 26, 0, 29)));
        // From 02:30 CEST (00:30 UTC) to 04:00 CET (03:00 UTC).
        assert_eq!(calendar.business_time_between(at(Berlin, 2025, 10, 26, 0, 0), at(Berlin, 2025, 10, 26, 12, 0)), minutes(150));

        let weekend = every_day(Berlin, time(9, 0), time(17, 0));
        assert_eq!(weekend.business_time_between(at(Berlin, 2025, 10, 26, 0, 0), at(Berlin, 2025, 10, 27, 0, 0)), hours(8));
    }

    #[test]
    fn new_york_transitions() {
        let calendar = office(New_York);
        // Spring forward on Sunday 2025-03-09: Friday 16:00 EST + 2 h is Monday 10:00 EDT.
        let due = calendar.add_business_time(at(New_York, 2025, 3, 7, 16, 0), hours(2));
        assert_eq!(due, at(New_York, 2025, 3, 10, 10, 0));
        assert_eq!(due, utc(2025, 3, 10, 14, 0));
        // Fall back on Sunday 2025-11-02: Friday 16:30 EDT + 1 h is Monday 09:30 EST.
        let due = calendar.add_business_time(at(New_York, 2025, 10, 31, 16, 30), hours(1));
        assert_eq!(due, utc(2025, 11, 3, 14, 30));
        // A full week across the change is 40 hours.
        assert_eq!(calendar.business_time_between(at(New_York, 2025, 10, 27, 0, 0), at(New_York, 2025, 11, 3, 0, 0)), hours(40));

        let every_day_nine_to_five = every_day(New_York, time(9, 0), time(17, 0));
        for day in [date(2025, 3, 9), date(2025, 11, 2)] {
            let midnight = NaiveTime::MIN;
            let day_starts = New_York.from_local_datetime(&day.and_time(midnight)).earliest().unwrap().to_utc();
            assert_eq!(every_day_nine_to_five.business_time_between(day_starts, day_starts + hours(30)), hours(8));
        }
    }

    #[test]
    fn midnight_closing_means_the_end_of_the_day() {
        let evening = every_day(Berlin, time(18, 0), NaiveTime::MIN);
        assert_eq!(evening.validate(), Ok(()));
        assert!(evening.is_open(at(Berlin, 2025, 6, 10, 23, 59)));
        assert!(!evening.is_open(at(Berlin, 2025, 6, 11, 0, 0)));
        assert_eq!(evening.add_business_time(at(Berlin, 2025, 6, 10, 23, 0), hours(2)), at(Berlin, 2025, 6, 11, 19, 0));
    }

    #[test]
    fn a_fold_across_midnight_is_counted_once() {
        // São Paulo fell back from 00:00 to 23:00 of the day before on 2019-02-17: the hour
        // 23:00–00:00 of Saturday 16 February happened twice, so that day's window is 25 hours.
        // Open all week, the calendar has a holiday so it takes the day walk rather than plain
        // arithmetic, and must still count each real hour exactly once.
        let calendar = BusinessCalendar { holidays: vec![date(2019, 1, 1)], ..every_day(Sao_Paulo, NaiveTime::MIN, NaiveTime::MIN) };
        let start = utc(2019, 2, 16, 12, 0);
        assert_eq!(calendar.business_time_between(start, start + hours(48)), hours(48));
        assert_eq!(calendar.add_business_time(start, hours(48)), start + hours(48));
        // And it sprang forward at midnight on 2018-11-04: that day begins at 01:00, where the
        // day before ends, with no hour lost or doubled.
        let start = utc(2018, 11, 3, 12, 0);
        assert_eq!(calendar.business_time_between(start, start + hours(48)), hours(48));
        assert_eq!(calendar.add_business_time(start, hours(48)), start + hours(48));
    }

    #[test]
    fn a_skipped_calendar_day_has_no_window() {
        // Samoa skipped Friday 2011-12-30 entirely when it crossed the date line.
        let apia = chrono_tz::Pacific::Apia;
        let calendar = every_day(apia, time(9, 0), time(17, 0));
        let start = apia.with_ymd_and_hms(2011, 12, 29, 0, 0, 0).single().unwrap().to_utc();
        let end = apia.with_ymd_and_hms(2012, 1, 1, 0, 0, 0).single().unwrap().to_utc();
        assert_eq!(calendar.business_time_between(start, end), hours(16));
    }

    #[test]
    fn always_is_plain_arithmetic() {
        let calendar = BusinessCalendar::always();
        assert_eq!(calendar, BusinessCalendar::default());
        assert_eq!(calendar.validate(), Ok(()));
        let start = utc(2025, 6, 14, 23, 59) + Duration::nanoseconds(7);
        assert_eq!(calendar.add_business_time(start, hours(1000)), start + hours(1000));
        assert_eq!(calendar.add_business_time(start, Duration::zero()), start);
        assert_eq!(calendar.business_time_between(start, start + Duration::weeks(520)), Duration::weeks(520));
        assert!(calendar.is_open(start));
        assert!(calendar.is_open(DateTime::<Utc>::MAX_UTC));
        assert_eq!(calendar.add_business_time(start, Duration::MAX), DateTime::<Utc>::MAX_UTC);
    }

    #[test]
    fn targets_beyond_the_end_of_time_saturate() {
        let calendar = office(Berlin);
        assert_eq!(calendar.add_business_time(utc(2025, 6, 10, 9, 0), Duration::MAX), DateTime::<Utc>::MAX_UTC);
    }

    #[test]
    fn an_invalid_calendar_never_opens_rather_than_looping() {
        let no_days = BusinessCalendar { working_days: Vec::new(), ..office(Berlin) };
        assert_eq!(no_days.add_business_time(utc(2025, 6, 10, 9, 0), hours(1)), DateTime::<Utc>::MAX_UTC);
        assert_eq!(no_days.business_time_between(utc(2025, 6, 10, 9, 0), utc(2025, 7, 10, 9, 0)), Duration::zero());
        assert!(!no_days.is_open(utc(2025, 6, 10, 9, 0)));
    }

    #[test]
    fn validation_names_the_field() {
        let inverted = BusinessCalendar { opens: time(17, 0), closes: time(9, 0), ..office(Berlin) };
        let error = inverted.validate().unwrap_err();
        assert_eq!(error.field(), "closes");
        assert_eq!(error.to_string(), "closes must be after opens (17:00:00); use 00:00:00 to close at midnight");

        let empty_window = BusinessCalendar { closes: time(9, 0), ..office(Berlin) };
        assert_eq!(empty_window.validate().unwrap_err().field(), "closes");

        let no_days = BusinessCalendar { working_days: Vec::new(), ..office(Berlin) };
        let error = no_days.validate().unwrap_err();
        assert_eq!((error.field(), error.message()), ("working_days", "must list at least one day"));

        let twice = BusinessCalendar { working_days: vec![Weekday::Mon, Weekday::Tue, Weekday::Mon], ..office(Berlin) };
        assert_eq!(twice.validate().unwrap_err().message(), "lists Mon more than once");

        let holiday_twice = BusinessCalendar { holidays: vec![date(2025, 12, 25), date(2025, 1, 1), date(2025, 12, 25)], ..office(Berlin) };
        let error = holiday_twice.validate().unwrap_err();
        assert_eq!((error.field(), error.message()), ("holidays", "lists 2025-12-25 more than once"));

        let too_many = BusinessCalendar {
            holidays: (0..=MAX_HOLIDAYS as u64).map(|offset| date(2025, 1, 1) + chrono::Days::new(offset)).collect(),
            ..office(Berlin)
        };
        assert_eq!(too_many.validate().unwrap_err().field(), "holidays");

        assert_eq!(office(Berlin).validate(), Ok(()));
    }

    #[test]
    fn serializes_the_zone_by_name() {
        let calendar = BusinessCalendar { holidays: vec![date(2025, 12, 25)], ..office(Berlin) };
        let json = serde_json::to_value(&calendar).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "time_zone": "Europe/Berlin",
                "working_days": ["Mon", "Tue", "Wed", "Thu", "Fri"],
                "opens": "09:00:00",
                "closes": "17:00:00",
                "holidays": ["2025-12-25"],
            })
        );
        assert_eq!(serde_json::from_value::<BusinessCalendar>(json).unwrap(), calendar);
        let unknown_zone = serde_json::json!({
            "time_zone": "Mars/Olympus_Mons", "working_days": ["Mon"], "opens": "09:00:00", "closes": "17:00:00", "holidays": [],
        });
        assert!(serde_json::from_value::<BusinessCalendar>(unknown_zone).is_err());
    }

    /// Zones chosen for their awkward transitions: half-hour DST (Lord Howe), a skipped day
    /// (Apia, 2011), changes at midnight with a fold across it (São Paulo until 2019), a
    /// non-hour offset without DST (Kolkata).
    fn zones() -> impl Strategy<Value = Tz> {
        prop::sample::select(vec![
            Tz::UTC,
            Berlin,
            New_York,
            Sao_Paulo,
            chrono_tz::Australia::Lord_Howe,
            chrono_tz::Pacific::Apia,
            chrono_tz::Asia::Kolkata,
        ])
    }

    /// Windows of at least half an hour keep the day walk short for the longest targets below;
    /// edges land anywhere in the day, including inside DST gaps and folds.
    fn calendars_without_holidays() -> impl Strategy<Value = BusinessCalendar> {
        (zones(), prop::collection::btree_set(0u8..7, 1..=7), 0u32..(24 * 60 - 30))
            .prop_flat_map(|(zone, days, opens_minute)| (Just((zone, days, opens_minute)), 30u32..=(24 * 60 - opens_minute)))
            .prop_map(|((zone, days, opens_minute), length_minutes)| {
                let minute_of_day =
                    |minute: u32| NaiveTime::from_num_seconds_from_midnight_opt((minute % (24 * 60)) * 60, 0).unwrap();
                BusinessCalendar {
                    time_zone: zone,
                    working_days: days.into_iter().map(|day| Weekday::try_from(day).unwrap()).collect(),
                    opens: minute_of_day(opens_minute),
                    // A window reaching 24:00 wraps to 00:00, the midnight closing.
                    closes: minute_of_day(opens_minute + length_minutes),
                    holidays: Vec::new(),
                }
            })
    }

    /// A calendar and a start, with holidays in the weeks after the start where they matter.
    fn calendars_and_starts() -> impl Strategy<Value = (BusinessCalendar, DateTime<Utc>)> {
        (calendars_without_holidays(), instants(), prop::collection::btree_set(0u64..60, 0..8)).prop_map(
            |(calendar, start, holiday_offsets)| {
                let first_local_date = start.with_timezone(&calendar.time_zone).date_naive();
                let holidays = holiday_offsets.into_iter().map(|offset| first_local_date + chrono::Days::new(offset)).collect();
                (BusinessCalendar { holidays, ..calendar }, start)
            },
        )
    }

    /// Instants from 2010 to 2035 with millisecond precision.
    fn instants() -> impl Strategy<Value = DateTime<Utc>> {
        (1_262_304_000_000i64..2_051_222_400_000).prop_map(|millis| DateTime::from_timestamp_millis(millis).unwrap())
    }

    /// Up to 300 business hours, to the millisecond.
    fn targets() -> impl Strategy<Value = Duration> {
        (0i64..=300 * 3_600_000).prop_map(Duration::milliseconds)
    }

    proptest! {
        #[test]
        fn elapsed_business_time_to_the_deadline_is_the_target((calendar, start) in calendars_and_starts(), target in targets()) {
            prop_assert_eq!(calendar.validate(), Ok(()));
            let due = calendar.add_business_time(start, target);
            prop_assert_eq!(calendar.business_time_between(start, due), target);
            // Business time runs no faster than real time, and a deadline is met while open.
            prop_assert!(due >= start + target);
            prop_assert!(calendar.is_open(calendar.add_business_time(start, Duration::zero())));
        }

        #[test]
        fn deadlines_are_monotonic((calendar, start) in calendars_and_starts(), later_by in targets(), target in targets(), more in targets()) {
            prop_assert!(calendar.add_business_time(start, target) <= calendar.add_business_time(start, target + more));
            prop_assert!(calendar.add_business_time(start, target) <= calendar.add_business_time(start + later_by, target));
        }

        #[test]
        fn business_time_is_additive_and_bounded_by_real_time((calendar, start) in calendars_and_starts(), first in targets(), second in targets()) {
            let middle = start + first;
            let end = middle + second;
            let whole = calendar.business_time_between(start, end);
            prop_assert_eq!(whole, calendar.business_time_between(start, middle) + calendar.business_time_between(middle, end));
            prop_assert!(whole <= end - start);
        }

        #[test]
        fn is_open_agrees_with_elapsed_time((calendar, instant) in calendars_and_starts()) {
            let tick = Duration::nanoseconds(1);
            prop_assert_eq!(calendar.is_open(instant), calendar.business_time_between(instant, instant + tick) == tick);
        }

        #[test]
        fn always_adds_plainly(start in instants(), target in targets()) {
            let calendar = BusinessCalendar::always();
            prop_assert_eq!(calendar.add_business_time(start, target), start + target);
            prop_assert_eq!(calendar.business_time_between(start, start + target), target);
        }
    }
}
