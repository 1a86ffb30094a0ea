//! Tracks inside programmes: a CUE sheet and a CSV track list beside their
//! programme files, each track logged when it goes on air, not again after a
//! SIGKILL and resume, shown as now playing, and reported by
//! `onair report --tracks`. Station time runs 60×.

use crate::common;

use chrono::{DateTime, Utc};
use common::*;

/// How close a track's logged start must be to where it is in the file.
const LOGGED: i64 = 50;

const CUE: &str = "\u{feff}PERFORMER \"Various\"\r
TITLE \"Cue Show\"\r
FILE \"20260302_0100_cue-show.wav\" WAVE\r
  TRACK 01 AUDIO\r
    TITLE \"First Light\"\r
    PERFORMER \"Ana Río\"\r
    INDEX 01 00:00:00\r
  TRACK 02 AUDIO\r
    TITLE \"Second Wind\"\r
    INDEX 01 00:20:00\r
  TRACK 03 AUDIO\r
    TITLE \"Third Time\"\r
    PERFORMER \"Trío Ñ\"\r
    INDEX 01 01:20:00\r
";

const CSV: &str = "offset,artist,title
0:00,Kim Lee,Opening
0:15,\"Smith, Jones & Co\",Middle
0:30,Kim Lee,Closing
";

/// The track the status shows as on air at a moment between `from` and
/// `to` (the status is published a few times a real second, a dozen
/// station seconds apart at this speed: the window must be wider).
fn now_playing(s: &mut Station, from: DateTime<Utc>, to: DateTime<Utc>) -> Option<String> {
    s.wait_until(from);
    loop {
        let status = http::get(&s.web_address(), "/api/status").json();
        let now = status["now"]
            .as_str()
            .map(utc)
            .expect("the status has a time");
        assert!(now < to, "no status published between {from} and {to}");
        if now >= from {
            return status["on_air"]["track"].as_str().map(str::to_string);
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

#[test]
fn tracks_are_logged_as_they_air_once_across_a_kill_and_reported() {
    let mut s = Station::new("tracks");
    let cue_show = s.programme_steps(
        "2026-03-02 01:00",
        "cue-show",
        &[(500, 20.0), (600, 60.0), (700, 20.0)],
        "wav",
    );
    std::fs::write(cue_show.with_extension("cue"), CUE).expect("write the CUE sheet");
    let csv_show = s.programme_steps(
        "2026-03-02 01:02",
        "csv-show",
        &[(800, 15.0), (900, 15.0), (1000, 15.0)],
        "wav",
    );
    let list = csv_show.with_file_name("20260302_0102_csv-show.tracks.csv");
    std::fs::write(list, CSV).expect("write the CSV track list");

    s.start();
    let (from, to) = (
        s.local("2026-03-02 01:00:22"),
        s.local("2026-03-02 01:00:45"),
    );
    assert_eq!(
        now_playing(&mut s, from, to).as_deref(),
        Some("Various - Second Wind")
    );
    // A power cut in the middle of the second track; the box is back (a
    // quarter of a real second: 15 s of station time) before it ends.
    s.kill();
    s.start();
    let (from, to) = (
        s.local("2026-03-02 01:02:15"),
        s.local("2026-03-02 01:02:30"),
    );
    assert_eq!(
        now_playing(&mut s, from, to).as_deref(),
        Some("Smith, Jones & Co - Middle")
    );
    s.wait_until(s.local("2026-03-02 01:02:50"));
    s.terminate();

    // The programmes aired as planned around the kill.
    let runs = s.runs(&s.aired());
    expect_start(&runs, 700, s.local("2026-03-02 01:01:20"), ms(20));
    expect_start(&runs, 900, s.local("2026-03-02 01:02:15"), ms(20));

    let log = s.log_json();
    let tracks = log.of_kind(Kind::Track);
    let seen: Vec<(&str, &str)> = tracks
        .iter()
        .map(|t| (t.artist.as_deref().unwrap_or(""), t.title.as_str()))
        .collect();
    log.check(
        seen == [
            ("Ana Río", "First Light"),
            ("Various", "Second Wind"),
            ("Trío Ñ", "Third Time"),
            ("Kim Lee", "Opening"),
            ("Smith, Jones & Co", "Middle"),
            ("Kim Lee", "Closing"),
        ],
        &format!("each track logged once, in order: {seen:?}"),
    );
    let starts: [(&str, DateTime<Utc>); 6] = [
        ("First Light", s.local("2026-03-02 01:00:00")),
        ("Second Wind", s.local("2026-03-02 01:00:20")),
        ("Third Time", s.local("2026-03-02 01:01:20")),
        ("Opening", s.local("2026-03-02 01:02:00")),
        ("Middle", s.local("2026-03-02 01:02:15")),
        ("Closing", s.local("2026-03-02 01:02:30")),
    ];
    for ((title, at), track) in starts.iter().zip(&tracks) {
        assert_eq!(track.title, *title);
        log.expect_start(track, *at, ms(LOGGED));
        log.check(
            track.programme.as_deref()
                == Some(if at < &s.local("2026-03-02 01:02") {
                    "Cue Show"
                } else {
                    "Csv Show"
                }),
            &format!("{title} names its programme"),
        );
    }
    // The track the power cut interrupted was closed as such; the next one
    // ended where the one after it began.
    log.expect_ended(tracks[1], &[Ended::Interrupted]);
    log.expect_end(tracks[3], s.local("2026-03-02 01:02:15"), ms(LOGGED));

    // The royalty report lists the same tracks with their lengths.
    let out = s.command(
        "report",
        &["--from", "2026-03-02", "--to", "2026-03-02", "--tracks"],
    );
    assert!(
        out.status.success(),
        "onair report failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut reader = csv::Reader::from_reader(out.stdout.as_slice());
    let headers = reader.headers().expect("a header line").clone();
    let column = |name: &str| {
        headers
            .iter()
            .position(|h| h == name)
            .unwrap_or_else(|| panic!("no {name} column in {headers:?}"))
    };
    let (artist, title, duration, programme) = (
        column("artist"),
        column("title"),
        column("duration"),
        column("programme"),
    );
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.expect("a CSV row")).collect();
    let reported: Vec<(&str, &str, &str, &str)> = rows
        .iter()
        .map(|r| (&r[artist], &r[title], &r[duration], &r[programme]))
        .collect();
    // The interrupted track ends at the box's last sign of life before the
    // kill: some time in its first seconds.
    assert!(
        reported.len() == 6 && reported[1].2 < "0:00:20",
        "{reported:?}"
    );
    assert_eq!(
        reported,
        [
            ("Ana Río", "First Light", "0:00:20", "Cue Show"),
            ("Various", "Second Wind", reported[1].2, "Cue Show"),
            ("Trío Ñ", "Third Time", "0:00:20", "Cue Show"),
            ("Kim Lee", "Opening", "0:00:15", "Csv Show"),
            ("Smith, Jones & Co", "Middle", "0:00:15", "Csv Show"),
            ("Kim Lee", "Closing", "0:00:15", "Csv Show"),
        ]
    );
}

#[test]
fn a_broken_track_list_is_a_warning_and_the_programme_airs() {
    let mut s = Station::new("bad-tracks");
    let show = s.programme("2026-03-02 00:59", "show", 500, 30.0, "wav");
    // Bad input: offsets that go backwards.
    std::fs::write(
        show.with_file_name("20260302_0059_show.tracks.csv"),
        "0:00,A,One\n0:20,B,Two\n0:10,C,Three\n",
    )
    .expect("write the track list");
    s.start();
    s.wait_until(s.local("2026-03-02 00:59:10"));
    let status = http::get(&s.web_address(), "/api/status").json();
    let warnings = status["warnings"].to_string();
    assert!(
        warnings.contains("20260302_0059_show.tracks.csv") && warnings.contains("line 3"),
        "the warning names the list and the line: {warnings}"
    );
    s.wait_until(s.local("2026-03-02 00:59:40"));
    s.terminate();
    let runs = s.runs(&s.aired());
    expect_start(&runs, 500, s.local("2026-03-02 00:59"), ms(20));
    let log = s.log_json();
    log.check(log.of_kind(Kind::Track).is_empty(), "no tracks logged");
}
