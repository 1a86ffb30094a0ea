//! When a channel records: in weekly windows written as a person writes
//! them (`"Mon-Fri 06:00-09:00"`, `"Sat 22:00-02:00"`, `"daily 00:00-24:00"`),
//! read in the station's zone.
//!
//! A window is wall-clock time, so on the days the clocks change it is as
//! long as the clock on the studio wall says, not a fixed number of hours:
//! - a start or end that falls in the spring gap (the hour that never
//!   happens) is the moment the clocks jump, the first instant the wall
//!   shows a time after it;
//! - in the autumn hour that happens twice, a start is its first passing
//!   and an end its second, so a window that touches the repeated hour
//!   records all of it rather than lose the second pass.
//!
//! An end at or before the start runs into the next day; `24:00` is the
//! end of the day.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Datelike, Days, LocalResult, NaiveDate, NaiveDateTime, NaiveTime};
use chrono::{TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;

const DAY_NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
const LONG_DAY_NAMES: [&str; 7] = [
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];

/// One weekly window: the days it starts on (Monday first) and its wall
/// times. `end` is `None` for `24:00`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    days: [bool; 7],
    start: NaiveTime,
    end: Option<NaiveTime>,
    text: String,
}

/// A window's text that does not read as one, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{text:?} is not a recording window: {problem}; write it like \"Mon-Fri 06:00-09:00\"")]
pub struct BadWindow {
    pub text: String,
    pub problem: String,
}

impl FromStr for Window {
    type Err = BadWindow;

    fn from_str(text: &str) -> Result<Window, BadWindow> {
        let bad = |problem: String| BadWindow {
            text: text.to_string(),
            problem,
        };
        let mut parts = text.split_whitespace();
        let (Some(days), Some(times), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(bad("expected days, a space, then start-end".into()));
        };
        let days = parse_days(days).map_err(bad)?;
        let (start, end) = times
            .split_once('-')
            .ok_or_else(|| bad(format!("{times:?} should be start-end, like 06:00-09:00")))?;
        let start = parse_time(start)
            .map_err(bad)?
            .ok_or_else(|| bad("a window cannot start at 24:00; use 00:00".into()))?;
        let end = parse_time(end).map_err(bad)?;
        if end == Some(start) {
            return Err(bad(format!(
                "it starts and ends at {}; for a whole day write 00:00-24:00",
                start.format("%H:%M")
            )));
        }
        Ok(Window {
            days,
            start,
            end,
            text: text.split_whitespace().collect::<Vec<_>>().join(" "),
        })
    }
}

impl fmt::Display for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// `Mon`, `Mon-Fri`, `Fri-Mon`, `Mon,Wed,Fri`, `Sat-Sun,Wed`, `daily`.
fn parse_days(text: &str) -> Result<[bool; 7], String> {
    let lower = text.to_lowercase();
    if matches!(lower.as_str(), "daily" | "*" | "every-day") {
        return Ok([true; 7]);
    }
    let mut days = [false; 7];
    for part in lower.split(',') {
        match part.split_once('-') {
            Some((from, to)) => {
                let (from, to) = (day(from)?, day(to)?);
                let mut d = from;
                loop {
                    days[d] = true;
                    if d == to {
                        break;
                    }
                    d = (d + 1) % 7;
                }
            }
            None => days[day(part)?] = true,
        }
    }
    Ok(days)
}

fn day(name: &str) -> Result<usize, String> {
    DAY_NAMES
        .iter()
        .position(|d| *d == name)
        .or_else(|| LONG_DAY_NAMES.iter().position(|d| *d == name))
        .ok_or_else(|| format!("{name:?} is not a day; use Mon Tue Wed Thu Fri Sat Sun, or daily"))
}

/// `HH:MM`; `Ok(None)` is `24:00`.
fn parse_time(text: &str) -> Result<Option<NaiveTime>, String> {
    if text == "24:00" {
        return Ok(None);
    }
    let well_formed = text.len() == 5 && text.as_bytes()[2] == b':';
    well_formed
        .then(|| NaiveTime::parse_from_str(text, "%H:%M").ok())
        .flatten()
        .map(Some)
        .ok_or_else(|| format!("{text:?} is not a time of day; use HH:MM from 00:00 to 24:00"))
}

/// A time range in UTC, `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

impl Window {
    /// This window's passes that overlap `[from, to)`, in time order.
    pub fn spans(&self, zone: Tz, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<Span> {
        let mut spans = Vec::new();
        if to <= from {
            return spans;
        }
        // A pass starts at most a day before it ends; zones are at most
        // 14 hours from UTC.
        let first = (from - TimeDelta::days(2))
            .with_timezone(&zone)
            .date_naive();
        let last = (to + TimeDelta::days(1)).with_timezone(&zone).date_naive();
        let mut date = first;
        while date <= last {
            let weekday = date.weekday().num_days_from_monday() as usize;
            if self.days[weekday] {
                let span = self.on(date, zone);
                if span.end > from && span.start < to && span.end > span.start {
                    spans.push(span);
                }
            }
            date = match date.checked_add_days(Days::new(1)) {
                Some(next) => next,
                None => break,
            };
        }
        spans
    }

    /// The pass that starts on `date`.
    fn on(&self, date: NaiveDate, zone: Tz) -> Span {
        let start = first_instant(zone, date.and_time(self.start));
        let end_date = match self.end {
            Some(end) if end > self.start => date.and_time(end),
            Some(end) => date.succ_opt().unwrap_or(date).and_time(end),
            None => date.succ_opt().unwrap_or(date).and_time(NaiveTime::MIN),
        };
        Span {
            start,
            end: last_instant(zone, end_date),
        }
    }
}

/// Where the wall shows `local` first: its first passing, or the jump
/// over it.
fn first_instant(zone: Tz, local: NaiveDateTime) -> DateTime<Utc> {
    match zone.from_local_datetime(&local) {
        LocalResult::Single(t) => t.to_utc(),
        LocalResult::Ambiguous(first, _) => first.to_utc(),
        LocalResult::None => after_gap(zone, local),
    }
}

/// Where the wall shows `local` last: its second passing, or the jump
/// over it.
fn last_instant(zone: Tz, local: NaiveDateTime) -> DateTime<Utc> {
    match zone.from_local_datetime(&local) {
        LocalResult::Single(t) => t.to_utc(),
        LocalResult::Ambiguous(_, second) => second.to_utc(),
        LocalResult::None => after_gap(zone, local),
    }
}

/// The moment the clocks jump over `local`: the first whole minute after
/// it that the wall shows (clocks jump on whole minutes, by at most hours).
fn after_gap(zone: Tz, local: NaiveDateTime) -> DateTime<Utc> {
    let mut probe = local;
    for _ in 0..(24 * 60) {
        probe += TimeDelta::minutes(1);
        if let Some(t) = zone.from_local_datetime(&probe).earliest() {
            return t.to_utc();
        }
    }
    Utc.from_utc_datetime(&local)
}

/// Whether a channel records now, and until or from when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recording {
    /// In a window that ends then (`None`: always).
    Until(Option<DateTime<Utc>>),
    /// Out of every window; the next one starts then (`None`: none in the
    /// coming week).
    Waiting(Option<DateTime<Utc>>),
}

/// The windows as a whole at `now`: overlapping and touching passes join.
pub fn recording_at(windows: &[Window], zone: Tz, now: DateTime<Utc>) -> Recording {
    let spans = windows
        .iter()
        .flat_map(|w| w.spans(zone, now - TimeDelta::days(2), now + TimeDelta::days(8)))
        .collect();
    recording_in(spans, now)
}

/// Spans as a whole at `now` (any order; overlapping and touching ones
/// join): inside one until its end, or waiting for the next start.
pub fn recording_in(mut spans: Vec<Span>, now: DateTime<Utc>) -> Recording {
    spans.sort_by_key(|s| s.start);
    let mut joined: Vec<Span> = Vec::with_capacity(spans.len());
    for span in spans {
        match joined.last_mut() {
            Some(last) if span.start <= last.end => last.end = last.end.max(span.end),
            _ => joined.push(span),
        }
    }
    match joined.iter().find(|s| s.end > now) {
        Some(s) if s.start <= now => Recording::Until(Some(s.end)),
        Some(s) => Recording::Waiting(Some(s.start)),
        None => Recording::Waiting(None),
    }
}

#[cfg(test)]
mod tests;
