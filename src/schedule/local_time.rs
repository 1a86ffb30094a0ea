//! Station-local times from file names → instants, through the clock changes.

use std::fmt;

use chrono::{DateTime, LocalResult, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;

/// Said next to a programme whose local time falls on a clock change, so the
/// person who named the file sees when it will really air.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TimeNote {
    /// The local time was skipped when the clocks went forward; the programme
    /// airs at `airs`, the first local time after the gap.
    DoesNotExist {
        local: NaiveDateTime,
        airs: NaiveDateTime,
        zone: String,
    },
    /// The local time happened twice when the clocks went back; the programme
    /// airs at the first, in `zone`.
    OccursTwice { local: NaiveDateTime, zone: String },
}

impl fmt::Display for TimeNote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TimeNote::DoesNotExist { local, airs, zone } => write!(
                f,
                "{} does not exist on {} (clocks go forward): airs at {} {zone}",
                local.format("%H:%M"),
                local.format("%Y-%m-%d"),
                airs.format("%H:%M"),
            ),
            TimeNote::OccursTwice { local, zone } => write!(
                f,
                "{} occurs twice on {} (clocks go back): airs at the first, {} {zone}",
                local.format("%H:%M"),
                local.format("%Y-%m-%d"),
                local.format("%H:%M"),
            ),
        }
    }
}

/// When a programme named for local time `local` airs. A time skipped by the
/// clocks going forward airs at the first instant after the gap (so it still
/// airs, as near its intended time as possible); a time that happens twice
/// airs at its first occurrence.
pub fn resolve_local(tz: Tz, local: NaiveDateTime) -> (DateTime<Utc>, Option<TimeNote>) {
    match tz.from_local_datetime(&local) {
        LocalResult::Single(t) => (t.to_utc(), None),
        LocalResult::Ambiguous(first, _) => {
            let zone = first.format("%Z").to_string();
            (first.to_utc(), Some(TimeNote::OccursTwice { local, zone }))
        }
        LocalResult::None => {
            let end = end_of_gap(tz, local);
            let airs = tz.from_utc_datetime(&end);
            let note = TimeNote::DoesNotExist {
                local,
                airs: airs.naive_local(),
                zone: airs.format("%Z").to_string(),
            };
            (end.and_utc(), Some(note))
        }
    }
}

/// The UTC instant at which the clocks jumped over `local`. Searched rather
/// than computed, so zones with odd offsets and half-hour changes need no
/// special cases: local wall time only rises across a forward change, and no
/// zone's offset is beyond ±15 hours.
fn end_of_gap(tz: Tz, local: NaiveDateTime) -> NaiveDateTime {
    let utc = |secs: i64| DateTime::from_timestamp(secs, 0).map(|t| t.naive_utc());
    let wall = |secs: i64| utc(secs).map(|t| tz.from_utc_datetime(&t).naive_local());
    // Whole seconds: clock changes happen on them, and halving stays exact.
    let as_utc = local.and_utc().timestamp();
    let mut before = as_utc - 15 * 3600;
    let mut after = as_utc + 15 * 3600;
    while after - before > 1 {
        let mid = before + (after - before) / 2;
        if wall(mid).is_none_or(|wall| wall > local) {
            after = mid;
        } else {
            before = mid;
        }
    }
    utc(after).unwrap_or(local)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn local(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(y, mo, d)
            .unwrap()
            .and_hms_opt(h, mi, 0)
            .unwrap()
    }

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().to_utc()
    }

    #[test]
    fn london_normal_days_in_winter_and_summer() {
        let london = chrono_tz::Europe::London;
        assert_eq!(
            resolve_local(london, local(2026, 1, 15, 9, 0)),
            (utc("2026-01-15T09:00:00Z"), None)
        );
        assert_eq!(
            resolve_local(london, local(2026, 6, 1, 9, 0)),
            (utc("2026-06-01T08:00:00Z"), None)
        );
        // On the change day, times outside the gap are plain.
        assert_eq!(
            resolve_local(london, local(2026, 3, 29, 0, 59)),
            (utc("2026-03-29T00:59:00Z"), None)
        );
        assert_eq!(
            resolve_local(london, local(2026, 3, 29, 2, 0)),
            (utc("2026-03-29T01:00:00Z"), None)
        );
    }

    #[test]
    fn london_spring_forward_gap_airs_after_the_gap() {
        let london = chrono_tz::Europe::London;
        for (h, m) in [(1, 0), (1, 30), (1, 59)] {
            let (start, note) = resolve_local(london, local(2026, 3, 29, h, m));
            assert_eq!(start, utc("2026-03-29T01:00:00Z"), "{h:02}:{m:02}");
            assert!(note.is_some(), "{h:02}:{m:02} has no note");
        }
        let (_, note) = resolve_local(london, local(2026, 3, 29, 1, 30));
        assert_eq!(
            note.unwrap().to_string(),
            "01:30 does not exist on 2026-03-29 (clocks go forward): airs at 02:00 BST"
        );
    }

    #[test]
    fn london_fall_back_airs_at_the_first_occurrence() {
        let london = chrono_tz::Europe::London;
        let (start, note) = resolve_local(london, local(2026, 10, 25, 1, 30));
        // The first 01:30 is still BST (UTC+1); the second would be 01:30 UTC.
        assert_eq!(start, utc("2026-10-25T00:30:00Z"));
        assert_eq!(
            note.unwrap().to_string(),
            "01:30 occurs twice on 2026-10-25 (clocks go back): airs at the first, 01:30 BST"
        );
        assert_eq!(
            resolve_local(london, local(2026, 10, 25, 2, 0)),
            (utc("2026-10-25T02:00:00Z"), None)
        );
    }

    #[test]
    fn new_york_changes() {
        let ny = chrono_tz::America::New_York;
        let (start, note) = resolve_local(ny, local(2026, 3, 8, 2, 30));
        assert_eq!(start, utc("2026-03-08T07:00:00Z"));
        assert_eq!(
            note.unwrap().to_string(),
            "02:30 does not exist on 2026-03-08 (clocks go forward): airs at 03:00 EDT"
        );
        let (start, note) = resolve_local(ny, local(2026, 11, 1, 1, 30));
        assert_eq!(start, utc("2026-11-01T05:30:00Z"));
        assert_eq!(
            note.unwrap().to_string(),
            "01:30 occurs twice on 2026-11-01 (clocks go back): airs at the first, 01:30 EDT"
        );
        assert_eq!(
            resolve_local(ny, local(2026, 7, 4, 21, 0)),
            (utc("2026-07-05T01:00:00Z"), None)
        );
    }

    #[test]
    fn half_hour_change_on_lord_howe_island() {
        // Clocks go from 02:00 +1030 to 02:30 +11 on 2026-10-04.
        let tz = chrono_tz::Australia::Lord_Howe;
        let (start, note) = resolve_local(tz, local(2026, 10, 4, 2, 15));
        assert_eq!(start, utc("2026-10-03T15:30:00Z"));
        assert!(
            note.unwrap().to_string().ends_with("airs at 02:30 +11"),
            "the gap ends at 02:30 local"
        );
    }
}
