//! When a dossier's periods are due: pure date arithmetic, no clock and no I/O.
//!
//! The period P (a month) is transferred in the month after it, on the dossier's transfer day;
//! a transfer day of 29 to 31 means the last day of shorter months. Every period from the
//! dossier's `start_period` whose transfer day has come, and that is not done yet (imported,
//! already imported, or without payroll), is due: missed days are caught up, oldest first.

use std::collections::BTreeSet;

use jiff::civil::Date;

use crate::period::Period;

/// The day on which a period is transferred.
pub fn transfer_date(period: Period, transfer_day: u8) -> Date {
    let month = period.next();
    let last = month.last_day();
    let day = (transfer_day as i8).min(last.day());
    Date::new(month.year(), month.month(), day).expect("a valid day of the month")
}

/// The most recent period whose transfer day is on or before `today`.
pub fn latest_due(today: Date, transfer_day: u8) -> Period {
    let previous = Period::of_date(today).previous();
    if transfer_date(previous, transfer_day) <= today {
        previous
    } else {
        previous.previous()
    }
}

/// The periods to import today, oldest first: from `start` (or the latest due period when
/// there is none) to the latest due one, less those done; at most `limit`.
pub fn due_periods(
    start: Option<Period>,
    transfer_day: u8,
    today: Date,
    done: &BTreeSet<Period>,
    limit: usize,
) -> Vec<Period> {
    let latest = latest_due(today, transfer_day);
    let mut p = start.unwrap_or(latest);
    let mut out = Vec::new();
    while p <= latest && out.len() < limit {
        if !done.contains(&p) {
            out.push(p);
        }
        p = p.next();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Date {
        s.parse().unwrap()
    }

    fn p(s: &str) -> Period {
        s.parse().unwrap()
    }

    #[test]
    fn transfer_days_past_the_end_of_a_month_mean_its_last_day() {
        assert_eq!(transfer_date(p("2026-10"), 5), d("2026-11-05"));
        assert_eq!(transfer_date(p("2027-01"), 31), d("2027-02-28"));
        assert_eq!(transfer_date(p("2028-01"), 30), d("2028-02-29"));
        assert_eq!(transfer_date(p("2026-03"), 31), d("2026-04-30"));
        assert_eq!(transfer_date(p("2026-12"), 31), d("2027-01-31"));
    }

    #[test]
    fn the_day_before_nothing_then_the_previous_month() {
        let none = BTreeSet::new();
        let start = Some(p("2026-10"));
        assert!(due_periods(start, 5, d("2026-11-04"), &none, 24).is_empty());
        assert_eq!(due_periods(start, 5, d("2026-11-05"), &none, 24), [p("2026-10")]);
        let done = BTreeSet::from([p("2026-10")]);
        assert!(due_periods(start, 5, d("2026-11-06"), &done, 24).is_empty());
    }

    #[test]
    fn forty_days_down_catches_up_two_periods_in_order() {
        let done = BTreeSet::from([p("2026-09")]);
        // Last run on 2026-10-05 (September done); the server comes back on 2026-12-14.
        assert_eq!(due_periods(Some(p("2026-09")), 5, d("2026-12-14"), &done, 24), [p("2026-10"), p("2026-11")]);
    }

    #[test]
    fn day_31_in_february() {
        let none = BTreeSet::new();
        assert!(due_periods(Some(p("2027-01")), 31, d("2027-02-27"), &none, 24).is_empty());
        assert_eq!(due_periods(Some(p("2027-01")), 31, d("2027-02-28"), &none, 24), [p("2027-01")]);
    }

    #[test]
    fn without_a_start_only_the_latest_due_period_and_at_most_limit() {
        let none = BTreeSet::new();
        assert_eq!(due_periods(None, 5, d("2026-12-14"), &none, 24), [p("2026-11")]);
        assert_eq!(due_periods(Some(p("2025-01")), 5, d("2026-12-14"), &none, 3).len(), 3);
    }
}
