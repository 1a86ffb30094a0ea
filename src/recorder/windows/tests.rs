use chrono::TimeZone;
use chrono_tz::Europe::London;

use super::*;

fn utc(text: &str) -> DateTime<Utc> {
    Utc.from_utc_datetime(&NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M").unwrap())
}

fn window(text: &str) -> Window {
    text.parse()
        .unwrap_or_else(|e| panic!("{text:?} should read: {e}"))
}

fn spans(text: &str, from: &str, to: &str) -> Vec<(String, String)> {
    window(text)
        .spans(London, utc(from), utc(to))
        .into_iter()
        .map(|s| {
            (
                s.start.format("%a %d %H:%M").to_string(),
                s.end.format("%a %d %H:%M").to_string(),
            )
        })
        .collect()
}

#[test]
fn weekdays_and_ranges_read_as_people_write_them() {
    // 2026-06-01 is a Monday; London is an hour ahead of UTC in June.
    assert_eq!(
        spans(
            "Mon-Fri 06:00-09:00",
            "2026-06-01 00:00",
            "2026-06-08 00:00"
        ),
        [
            ("Mon 01 05:00", "Mon 01 08:00"),
            ("Tue 02 05:00", "Tue 02 08:00"),
            ("Wed 03 05:00", "Wed 03 08:00"),
            ("Thu 04 05:00", "Thu 04 08:00"),
            ("Fri 05 05:00", "Fri 05 08:00"),
        ]
        .map(|(a, b)| (a.to_string(), b.to_string()))
    );
    let weekend = spans(
        "sat,SUN 10:00-11:30",
        "2026-06-01 00:00",
        "2026-06-08 00:00",
    );
    assert_eq!(weekend.len(), 2, "{weekend:?}");
    assert_eq!(weekend[0].0, "Sat 06 09:00");
    // A range that wraps over the week's end, and full names.
    let wrap = spans(
        "Friday-Monday 12:00-13:00",
        "2026-06-01 00:00",
        "2026-06-08 00:00",
    );
    let days: Vec<&str> = wrap.iter().map(|s| &s.0[..3]).collect();
    assert_eq!(days, ["Mon", "Fri", "Sat", "Sun"]);
    assert_eq!(
        spans("daily 00:00-24:00", "2026-06-02 00:00", "2026-06-03 00:00").len(),
        2,
        "a whole day in London overlaps two UTC days"
    );
}

#[test]
fn an_end_before_the_start_runs_into_the_next_day() {
    assert_eq!(
        spans("Sat 22:00-02:00", "2026-06-01 00:00", "2026-06-08 00:00"),
        [("Sat 06 21:00".to_string(), "Sun 07 01:00".to_string())]
    );
    // A pass that began before the range still counts while it lasts.
    assert_eq!(
        spans("Sat 22:00-02:00", "2026-06-07 00:00", "2026-06-07 00:30"),
        [("Sat 06 21:00".to_string(), "Sun 07 01:00".to_string())]
    );
}

#[test]
fn a_window_on_the_spring_change_is_as_long_as_the_wall_clock_says() {
    // 2026-03-29: London's clocks go from 01:00 GMT to 02:00 BST.
    let change = spans("Sun 00:30-03:00", "2026-03-28 00:00", "2026-03-30 00:00");
    assert_eq!(
        change,
        [("Sun 29 00:30".to_string(), "Sun 29 02:00".to_string())],
        "00:30 GMT to 03:00 BST is an hour and a half"
    );
    // A start in the hour that never happens is the jump itself; an end
    // there too.
    assert_eq!(
        spans("Sun 01:30-02:30", "2026-03-28 00:00", "2026-03-30 00:00"),
        [("Sun 29 01:00".to_string(), "Sun 29 01:30".to_string())]
    );
    assert_eq!(
        spans("Sun 00:15-01:45", "2026-03-28 00:00", "2026-03-30 00:00"),
        [("Sun 29 00:15".to_string(), "Sun 29 01:00".to_string())]
    );
    // The next Sunday is an ordinary summer one.
    assert_eq!(
        spans("Sun 00:30-03:00", "2026-04-04 00:00", "2026-04-06 00:00"),
        [("Sat 04 23:30".to_string(), "Sun 05 02:00".to_string())]
    );
}

#[test]
fn a_window_on_the_autumn_change_records_the_repeated_hour_twice() {
    // 2026-10-25: London's clocks go from 02:00 BST back to 01:00 GMT.
    assert_eq!(
        spans("Sun 00:30-03:00", "2026-10-24 00:00", "2026-10-26 00:00"),
        [("Sat 24 23:30".to_string(), "Sun 25 03:00".to_string())],
        "00:30 BST to 03:00 GMT is three and a half hours"
    );
    // Starting and ending in the repeated hour: from its first passing
    // to its second.
    assert_eq!(
        spans("Sun 01:15-01:45", "2026-10-24 00:00", "2026-10-26 00:00"),
        [("Sun 25 00:15".to_string(), "Sun 25 01:45".to_string())]
    );
}

#[test]
fn now_is_in_a_window_until_its_end_or_waits_for_the_next() {
    let windows = [window("Mon-Fri 06:00-09:00"), window("Mon 08:30-10:00")];
    // Monday 06:30 BST: recording, and the overlapping windows join.
    assert_eq!(
        recording_at(&windows, London, utc("2026-06-01 05:30")),
        Recording::Until(Some(utc("2026-06-01 09:00")))
    );
    // Monday 10:00 BST exactly: over; Tuesday 06:00 next.
    assert_eq!(
        recording_at(&windows, London, utc("2026-06-01 09:00")),
        Recording::Waiting(Some(utc("2026-06-02 05:00")))
    );
    // Friday after the window: Monday next, over the weekend.
    assert_eq!(
        recording_at(&windows, London, utc("2026-06-05 12:00")),
        Recording::Waiting(Some(utc("2026-06-08 05:00")))
    );
    assert_eq!(
        recording_at(&[], London, utc("2026-06-05 12:00")),
        Recording::Waiting(None)
    );
    // Touching windows are one recording, not a stop and a start.
    let touching = [window("daily 00:00-12:00"), window("daily 12:00-24:00")];
    assert!(matches!(
        recording_at(&touching, London, utc("2026-06-03 10:59")),
        Recording::Until(Some(end)) if end > utc("2026-06-09 00:00")
    ));
}

#[test]
fn bad_windows_say_what_is_wrong_and_how_to_write_one() {
    // Bad input: no times, a made-up day, hours out of range, a missing
    // dash, a start at 24:00, an empty window, stray words, one-digit hours.
    for (text, says) in [
        ("Mon-Fri", "expected days, a space, then start-end"),
        ("Funday 06:00-09:00", "\"funday\" is not a day"),
        ("Mon 25:00-26:00", "\"25:00\" is not a time of day"),
        ("Mon 06:00", "should be start-end"),
        ("Mon 24:00-02:00", "cannot start at 24:00"),
        ("Mon 06:00-06:00", "for a whole day write 00:00-24:00"),
        (
            "Mon 06:00-09:00 please",
            "expected days, a space, then start-end",
        ),
        ("Mon 6:00-9:00", "\"6:00\" is not a time of day"),
        ("Mon- 06:00-09:00", "\"\" is not a day"),
    ] {
        let error = text.parse::<Window>().unwrap_err().to_string();
        assert!(error.contains(says), "{text:?}: {error}");
        assert!(error.contains("Mon-Fri 06:00-09:00"), "{text:?}: {error}");
    }
    assert_eq!(
        window("  Mon-Fri   06:00-09:00 ").to_string(),
        "Mon-Fri 06:00-09:00"
    );
}
