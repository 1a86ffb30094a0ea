//! Which channels record now, a pure decision: each channel's `record`
//! setting at the clock's time. Always-on channels always; windowed ones
//! inside a window; calendar ones during an event of their calendar (an
//! event without an end records nothing: there is no telling when to stop).

use chrono::{DateTime, TimeDelta, Utc};
use chrono_tz::Tz;

use super::windows::{Recording, Span, recording_at, recording_in};
use crate::calendar::CalendarEvent;
use crate::config::RecordWhen;

/// How far ahead a waiting channel's next start is looked for.
const LOOK_AHEAD_DAYS: i64 = 8;

/// What `when` says at `now`; `events` are the channel's calendar's
/// events around `now` (ignored unless it records by calendar).
pub fn due(when: &RecordWhen, zone: Tz, now: DateTime<Utc>, events: &[CalendarEvent]) -> Recording {
    match when {
        RecordWhen::Always => Recording::Until(None),
        RecordWhen::Windows(windows) => recording_at(windows, zone, now),
        RecordWhen::Calendar(_) => recording_in(
            events
                .iter()
                .filter_map(|e| {
                    e.end.map(|end| Span {
                        start: e.start,
                        end,
                    })
                })
                .filter(|s| s.end > s.start)
                .collect(),
            now,
        ),
    }
}

/// The range of calendar events [`due`] needs at `now`.
pub fn events_range(now: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
    (
        now - TimeDelta::days(2),
        now + TimeDelta::days(LOOK_AHEAD_DAYS),
    )
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use chrono_tz::Europe::London;

    use super::*;
    use crate::config::CalendarSource;

    fn at(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 6, 1, h, m, 0).unwrap()
    }

    fn event(start: DateTime<Utc>, end: Option<DateTime<Utc>>) -> CalendarEvent {
        CalendarEvent {
            title: "Partner Show".into(),
            slug: "partner-show".into(),
            start,
            end,
            uid: "x".into(),
        }
    }

    #[test]
    fn each_kind_of_channel_records_when_its_setting_says() {
        let now = at(8, 0);
        assert_eq!(
            due(&RecordWhen::Always, London, now, &[]),
            Recording::Until(None)
        );
        let windows = RecordWhen::Windows(vec!["Mon 06:00-10:00".parse().unwrap()]);
        assert_eq!(
            due(&windows, London, now, &[]),
            Recording::Until(Some(at(9, 0)))
        );
        let calendar = RecordWhen::Calendar(CalendarSource::File("x.ics".into()));
        let events = [
            event(at(7, 30), Some(at(8, 30))),
            event(at(8, 30), Some(at(9, 0))),
            // No end: nothing to record by.
            event(at(10, 0), None),
            event(at(11, 0), Some(at(12, 0))),
        ];
        assert_eq!(
            due(&calendar, London, now, &events),
            Recording::Until(Some(at(9, 0))),
            "back-to-back events are one recording"
        );
        assert_eq!(
            due(&calendar, London, at(9, 0), &events),
            Recording::Waiting(Some(at(11, 0)))
        );
        assert_eq!(
            due(&calendar, London, at(12, 0), &events),
            Recording::Waiting(None)
        );
        // A calendar with nothing in it: the channel waits.
        assert_eq!(due(&calendar, London, now, &[]), Recording::Waiting(None));
    }
}
