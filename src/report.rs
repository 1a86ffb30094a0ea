//! `onair report`: what aired in a period, as CSV for royalty and compliance
//! reporting. Two reports from the same as-run log:
//!
//! - items ([`items_csv`]): every programme, substitute, filler and emergency
//!   sound, one row each, with how it ended; no stream events, no tracks;
//! - tracks ([`tracks_csv`]): the tracks inside programmes, from their track
//!   lists, with artist, title, start, duration and programme.
//!
//! An entry belongs to the period in which it started, so that reports of
//! consecutive days, put together, hold every entry exactly once. Times are
//! in the station's zone, to the second, with their UTC offset: an hour that
//! happens twice when the clocks go back stays unambiguous.

use chrono::{DateTime, Days, NaiveDate, SecondsFormat, TimeDelta, Utc};
use chrono_tz::Tz;

use crate::asrun::{self, Entry, Kind};
use crate::when;

/// A stretch of time `[from, to)`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Period {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

impl Period {
    /// Whether `entry` started in this period.
    pub fn holds(&self, entry: &Entry) -> bool {
        self.from <= entry.start && entry.start < self.to
    }
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum ReportError {
    #[error("--from {text:?}: {problem}")]
    From { text: String, problem: String },
    #[error("--to {text:?}: {problem}")]
    To { text: String, problem: String },
    #[error(
        "--from {from} is not before --to {to}: give the earlier date or time with --from \
         (a date given to --to takes in that whole day)"
    )]
    Backwards { from: String, to: String },
}

/// Reads `--from` and `--to` in the station's zone. `--from` takes the forms
/// of `onair log --since` (a date is its first moment); `--to` too, except
/// that a date (`yyyy-mm-dd`, `today`, `yesterday`) takes in that whole day:
/// the period ends where the next day starts.
pub fn period(from: &str, to: &str, tz: Tz, now: DateTime<Utc>) -> Result<Period, ReportError> {
    let start = when::parse_time_arg(from, tz, now).map_err(|problem| ReportError::From {
        text: from.to_string(),
        problem,
    })?;
    let end = match day_of(to, tz, now) {
        Some(day) => day
            .checked_add_days(Days::new(1))
            .and_then(|next| when::start_of_day(next, tz))
            .ok_or_else(|| ReportError::To {
                text: to.to_string(),
                problem: "the day after it is past the end of the calendar".into(),
            })?,
        None => when::parse_time_arg(to, tz, now).map_err(|problem| ReportError::To {
            text: to.to_string(),
            problem,
        })?,
    };
    if start >= end {
        return Err(ReportError::Backwards {
            from: from.to_string(),
            to: to.to_string(),
        });
    }
    Ok(Period {
        from: start,
        to: end,
    })
}

/// The local day `text` names when it is a date rather than a time.
fn day_of(text: &str, tz: Tz, now: DateTime<Utc>) -> Option<NaiveDate> {
    let text = text.trim();
    let today = now.with_timezone(&tz).date_naive();
    match text.to_lowercase().as_str() {
        "today" => Some(today),
        "yesterday" => today.checked_sub_days(Days::new(1)),
        _ => NaiveDate::parse_from_str(text, "%Y-%m-%d").ok(),
    }
}

/// The columns of the items report, in order.
pub const ITEM_COLUMNS: [&str; 11] = [
    "start", "end", "duration", "kind", "title", "file", "ended", "reason", "replaces", "problem",
    "by",
];

/// The columns of the tracks report, in order.
pub const TRACK_COLUMNS: [&str; 6] = ["artist", "title", "start", "duration", "programme", "file"];

/// The items (not tracks, not stream events) that started in `period`, as
/// CSV with a header line. `end`, `duration` and `ended` are empty for what
/// is still on air; `replaces` and `problem` are a substitute's; `by` is
/// who put the studio on air, for a `live` entry.
pub fn items_csv(entries: &[Entry], period: Period, tz: Tz) -> String {
    let rows = entries
        .iter()
        .filter(|e| e.is_item() && period.holds(e))
        .map(|e| {
            [
                time(e.start, tz),
                e.end.map(|end| time(end, tz)).unwrap_or_default(),
                duration(e),
                e.kind.to_string(),
                e.title.clone(),
                e.file.clone(),
                e.ended.map(|x| x.to_string()).unwrap_or_default(),
                e.reason.clone().unwrap_or_default(),
                e.replaces.clone().unwrap_or_default(),
                e.problem.clone().unwrap_or_default(),
                e.by.clone().unwrap_or_default(),
            ]
        });
    csv_text(ITEM_COLUMNS, rows)
}

/// The tracks that started in `period`, as CSV with a header line. The
/// duration is how long each was on air (empty while it still is).
pub fn tracks_csv(entries: &[Entry], period: Period, tz: Tz) -> String {
    let rows = entries
        .iter()
        .filter(|e| e.kind == Kind::Track && period.holds(e))
        .map(|e| {
            [
                e.artist.clone().unwrap_or_default(),
                e.title.clone(),
                time(e.start, tz),
                duration(e),
                e.programme.clone().unwrap_or_default(),
                e.file.clone(),
            ]
        });
    csv_text(TRACK_COLUMNS, rows)
}

fn csv_text<const N: usize>(header: [&str; N], rows: impl Iterator<Item = [String; N]>) -> String {
    let mut out = csv::Writer::from_writer(Vec::new());
    // Writing to memory cannot fail, so the results below are only formalities.
    let _ = out.write_record(header);
    for row in rows {
        let _ = out.write_record(row);
    }
    let bytes = out.into_inner().unwrap_or_default();
    String::from_utf8(bytes).unwrap_or_default()
}

/// To the nearest second, in the station's zone with its offset.
fn time(t: DateTime<Utc>, tz: Tz) -> String {
    asrun::nearest(t, TimeDelta::seconds(1))
        .with_timezone(&tz)
        .to_rfc3339_opts(SecondsFormat::Secs, false)
}

/// `h:mm:ss` between the start and end as shown, so the columns agree.
fn duration(e: &Entry) -> String {
    let Some(end) = e.end else {
        return String::new();
    };
    let second = TimeDelta::seconds(1);
    let s = (asrun::nearest(end, second) - asrun::nearest(e.start, second))
        .num_seconds()
        .max(0);
    format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::asrun::Ended;

    const PARIS: Tz = chrono_tz::Europe::Paris;

    fn t(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().to_utc()
    }

    #[test]
    fn a_date_given_to_to_takes_in_that_whole_day() {
        let now = t("2026-11-21T15:00:00Z");
        let p = period("2026-11-20", "2026-11-21", PARIS, now).unwrap();
        assert_eq!(p.from, t("2026-11-19T23:00:00Z"));
        assert_eq!(p.to, t("2026-11-21T23:00:00Z"));
        // One day: from and to the same date.
        let p = period("2026-11-21", "2026-11-21", PARIS, now).unwrap();
        assert_eq!((p.from, p.to), (t("2026-11-20T23:00:00Z"), p.to));
        assert_eq!(
            period("yesterday", "yesterday", PARIS, now),
            Ok(Period {
                from: t("2026-11-19T23:00:00Z"),
                to: t("2026-11-20T23:00:00Z")
            })
        );
        assert_eq!(
            period("today", "Today", PARIS, now).unwrap().to,
            t("2026-11-21T23:00:00Z")
        );
        // A day with a clock change is 25 hours long.
        let p = period("2026-10-25", "2026-10-25", PARIS, now).unwrap();
        assert_eq!(p.to - p.from, TimeDelta::hours(25));
        // A time given to --to is the exact end.
        let p = period("2026-11-21 10:00", "2026-11-21 12:30", PARIS, now).unwrap();
        assert_eq!(p.to, t("2026-11-21T11:30:00Z"));
        assert_eq!(period("-2h", "now", PARIS, now).unwrap().to, now);
    }

    #[test]
    fn bad_periods_are_refused_with_what_to_give() {
        let now = t("2026-11-21T15:00:00Z");
        // Bad input: --from after --to, an impossible date, a word, and the
        // same time at both ends (an empty period).
        let error = period("2026-11-22", "2026-11-21", PARIS, now).unwrap_err();
        assert!(matches!(error, ReportError::Backwards { .. }), "{error:?}");
        assert!(error.to_string().contains("whole day"), "{error}");
        let error = period("2026-02-30", "2026-03-01", PARIS, now).unwrap_err();
        assert!(
            error.to_string().starts_with("--from \"2026-02-30\""),
            "{error}"
        );
        let error = period("2026-11-01", "last week", PARIS, now).unwrap_err();
        assert!(
            error.to_string().starts_with("--to \"last week\""),
            "{error}"
        );
        assert!(error.to_string().contains("yyyy-mm-dd"), "{error}");
        assert!(period("2026-11-21 10:00", "2026-11-21 10:00", PARIS, now).is_err());
    }

    fn entry(kind: Kind, start: &str, end: Option<&str>, title: &str) -> Entry {
        Entry {
            id: 0,
            start: t(start),
            end: end.map(t),
            kind,
            title: title.into(),
            file: "/p/20261121_1000_saturday-jazz.mp3".into(),
            offset_ms: 0,
            ended: end.map(|_| Ended::Natural),
            reason: None,
            scheduled: Some(t("2026-11-21T09:00:00Z")),
            artist: None,
            programme: None,
            replaces: None,
            problem: None,
            heard: None,
            by: None,
        }
    }

    fn read(text: &str) -> (Vec<String>, Vec<Vec<String>>) {
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let header = reader.headers().unwrap().iter().map(String::from).collect();
        let rows = reader
            .records()
            .map(|r| r.unwrap().iter().map(String::from).collect())
            .collect();
        (header, rows)
    }

    fn day() -> Period {
        period("2026-11-21", "2026-11-21", PARIS, t("2026-11-21T12:00:00Z")).unwrap()
    }

    #[test]
    fn items_leave_out_tracks_stream_events_and_other_days() {
        let mut substitute = entry(
            Kind::Substitute,
            "2026-11-21T09:00:00Z",
            Some("2026-11-21T09:59:59.6Z"),
            "Saturday Jazz",
        );
        substitute.replaces = Some("/p/20261121_1000_saturday-jazz.mp3".into());
        substitute.problem = Some("the file is missing".into());
        substitute.file = "/p/20261114_1000_saturday-jazz.mp3".into();
        let mut track = entry(Kind::Track, "2026-11-21T09:00:00Z", None, "So What");
        track.artist = Some("Miles Davis".into());
        let entries = [
            // Started the evening before (in Paris): yesterday's report has it.
            entry(
                Kind::Filler,
                "2026-11-20T22:59:00Z",
                Some("2026-11-20T23:01:00Z"),
                "Late tune",
            ),
            substitute,
            track,
            entry(
                Kind::Stream,
                "2026-11-21T09:30:00Z",
                Some("2026-11-21T09:30:00Z"),
                "down: x",
            ),
            entry(Kind::Scheduled, "2026-11-21T22:00:00Z", None, "Night"),
            // Starts at midnight in Paris: tomorrow's.
            entry(Kind::Filler, "2026-11-21T23:00:00Z", None, "Tomorrow"),
        ];
        let (header, rows) = read(&items_csv(&entries, day(), PARIS));
        assert_eq!(header, ITEM_COLUMNS);
        let titles: Vec<&str> = rows.iter().map(|r| r[4].as_str()).collect();
        assert_eq!(titles, ["Saturday Jazz", "Night"]);
        assert_eq!(
            rows[0],
            [
                "2026-11-21T10:00:00+01:00",
                "2026-11-21T11:00:00+01:00",
                "1:00:00",
                "substitute",
                "Saturday Jazz",
                "/p/20261114_1000_saturday-jazz.mp3",
                "natural",
                "",
                "/p/20261121_1000_saturday-jazz.mp3",
                "the file is missing",
                "",
            ]
        );
        // Still on air: no end, duration or ending yet.
        assert_eq!(
            (&rows[1][1], &rows[1][2], &rows[1][6]),
            (&"".into(), &"".into(), &"".into())
        );
        // An empty period still has its header, so a script can read it.
        let (header, rows) = read(&items_csv(&[], day(), PARIS));
        assert_eq!((header.len(), rows.len()), (11, 0));
    }

    #[test]
    fn tracks_give_artist_title_start_duration_and_programme() {
        let mut first = entry(
            Kind::Track,
            "2026-11-21T09:00:00Z",
            Some("2026-11-21T09:04:00.4Z"),
            "Intro",
        );
        first.programme = Some("Saturday Jazz".into());
        let mut second = entry(
            Kind::Track,
            "2026-11-21T09:04:00.4Z",
            Some("2026-11-21T09:13:05Z"),
            "So What",
        );
        second.artist = Some("Miles Davis".into());
        second.programme = Some("Saturday Jazz".into());
        let programme = entry(
            Kind::Scheduled,
            "2026-11-21T09:00:00Z",
            Some("2026-11-21T10:00:00Z"),
            "Saturday Jazz",
        );
        let (header, rows) = read(&tracks_csv(&[programme, first, second], day(), PARIS));
        assert_eq!(header, TRACK_COLUMNS);
        assert_eq!(
            rows,
            [
                [
                    "",
                    "Intro",
                    "2026-11-21T10:00:00+01:00",
                    "0:04:00",
                    "Saturday Jazz",
                    "/p/20261121_1000_saturday-jazz.mp3"
                ],
                [
                    "Miles Davis",
                    "So What",
                    "2026-11-21T10:04:00+01:00",
                    "0:09:05",
                    "Saturday Jazz",
                    "/p/20261121_1000_saturday-jazz.mp3"
                ],
            ]
        );
    }
}
