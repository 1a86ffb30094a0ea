//! `onair report` against the real binary: an as-run log with programmes,
//! tracks inside them, a substitute, filler and stream events, written
//! through the library, reported as CSV with and without `--tracks`, read
//! straight from the log and through the running box; bad periods refused.

use crate::common;

use std::process::Output;

use chrono::{DateTime, Utc};
use common::*;
use onair::asrun::{self as log, AsRunWriter as _, NewEntry, NewTrack, SledWriter, StreamEvent};

fn printed(output: &Output) -> String {
    format!(
        "exit: {}\n--- stdout\n{}--- stderr\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// The CSV `onair report` printed: its header and rows.
fn csv_of(text: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let header = reader
        .headers()
        .unwrap_or_else(|e| panic!("no CSV header: {e}\n{text}"))
        .iter()
        .map(String::from)
        .collect();
    let rows = reader
        .records()
        .map(|r| {
            r.unwrap_or_else(|e| panic!("not CSV: {e}\n{text}"))
                .iter()
                .map(String::from)
                .collect()
        })
        .collect();
    (header, rows)
}

fn report(s: &Station, args: &[&str]) -> (Vec<String>, Vec<Vec<String>>) {
    let output = s.command("report", args);
    assert!(
        output.status.success(),
        "onair report {args:?} should succeed\n{}",
        printed(&output)
    );
    csv_of(&String::from_utf8_lossy(&output.stdout))
}

/// Writes a day of the station's as-run log (Sunday 1 March 2026, London,
/// GMT) the way the director does: a programme with three tracks, the
/// previous edition standing in for a missing file, filler, a stream
/// dropping out; and entries on the days either side.
fn write_log(s: &Station) {
    let log = SledWriter::open(&s.data_dir()).expect("open the as-run log");
    let at = |local: &str| -> DateTime<Utc> { s.local(local) };
    let programmes = s.dir().join("programmes");
    let jazz = programmes.join("20260301_1000_sunday-jazz.mp3");
    let slot = at("2026-03-01 10:00");

    let filler = |start, end, title, file, how| {
        let id = log
            .begin(item(start, log::Kind::Filler, title, file))
            .unwrap();
        log.finish(id, end, how, None).unwrap();
    };
    filler(
        at("2026-02-28 23:30"),
        at("2026-03-01 00:10"),
        "Late tune",
        "filler/late.mp3",
        log::Ended::Natural,
    );

    let programme = log
        .begin(NewEntry {
            scheduled: Some(slot),
            ..item(
                slot,
                log::Kind::Scheduled,
                "Sunday Jazz",
                &jazz.display().to_string(),
            )
        })
        .unwrap();
    let tracks = onair::tracks::TrackList {
        path: programmes.join("20260301_1000_sunday-jazz.tracks.csv"),
        tracks: vec![
            track(0, "", "Station ident"),
            track(30_000, "Miles Davis", "So What"),
            track(600_250, "Nina Simone", "Feeling Good, \"live\""),
        ],
    };
    let ends = [
        at("2026-03-01 10:00:30"),
        at("2026-03-01 10:10:00.25"),
        at("2026-03-01 10:59:58"),
    ];
    for (t, end) in tracks.tracks.iter().zip(ends) {
        let start = slot + t.offset;
        let id = log
            .begin_track(NewTrack::of(t, "Sunday Jazz", &jazz, slot, start))
            .unwrap();
        log.finish(id, end, log::Ended::Natural, None).unwrap();
    }
    log.stream_event(StreamEvent {
        at: at("2026-03-01 10:20"),
        output: "icecast 127.0.0.1:8000/live.mp3".into(),
        up: false,
        reason: Some("lost the connection".into()),
    })
    .unwrap();
    log.finish(
        programme,
        at("2026-03-01 10:59:58"),
        log::Ended::Natural,
        None,
    )
    .unwrap();

    filler(
        at("2026-03-01 10:59:58"),
        at("2026-03-01 11:00"),
        "Bed",
        "filler/bed.mp3",
        log::Ended::Faded,
    );

    let due = programmes
        .join("20260301_1100_talk.mp3")
        .display()
        .to_string();
    let previous = programmes
        .join("20260222_1100_talk.mp3")
        .display()
        .to_string();
    let substitute = log
        .begin_substitute(
            NewEntry {
                scheduled: Some(at("2026-03-01 11:00")),
                ..item(
                    at("2026-03-01 11:00"),
                    log::Kind::Scheduled,
                    "Talk",
                    &previous,
                )
            },
            log::Substitution {
                replaces: due.clone(),
                problem: "the file is missing".into(),
            },
        )
        .unwrap();
    log.finish(
        substitute,
        at("2026-03-01 11:45:10"),
        log::Ended::Natural,
        None,
    )
    .unwrap();

    filler(
        at("2026-03-02 00:00"),
        at("2026-03-02 00:05"),
        "Tomorrow",
        "filler/t.mp3",
        log::Ended::Natural,
    );
}

fn item(start: DateTime<Utc>, kind: log::Kind, title: &str, file: &str) -> NewEntry {
    NewEntry {
        start,
        kind,
        title: title.into(),
        file: file.into(),
        offset_ms: 0,
        scheduled: None,
    }
}

fn track(offset_ms: i64, artist: &str, title: &str) -> onair::tracks::Track {
    onair::tracks::Track {
        offset: chrono::TimeDelta::milliseconds(offset_ms),
        artist: artist.into(),
        title: title.into(),
    }
}

const ITEMS: [&str; 11] = [
    "start", "end", "duration", "kind", "title", "file", "ended", "reason", "replaces", "problem",
    "by",
];
const TRACKS: [&str; 6] = ["artist", "title", "start", "duration", "programme", "file"];

fn check_items(s: &Station, header: &[String], rows: &[Vec<String>]) {
    assert_eq!(header, ITEMS);
    let summary: Vec<[&str; 4]> = rows
        .iter()
        .map(|r| [r[0].as_str(), r[2].as_str(), r[3].as_str(), r[4].as_str()])
        .collect();
    // Not the tune started the evening before, not the tracks, not the
    // stream event, not the next day's filler.
    assert_eq!(
        summary,
        [
            [
                "2026-03-01T10:00:00+00:00",
                "0:59:58",
                "scheduled",
                "Sunday Jazz"
            ],
            ["2026-03-01T10:59:58+00:00", "0:00:02", "filler", "Bed"],
            ["2026-03-01T11:00:00+00:00", "0:45:10", "substitute", "Talk"],
        ],
        "{rows:#?}"
    );
    let talk = &rows[2];
    let programmes = s.dir().join("programmes");
    assert_eq!(
        talk[5],
        programmes
            .join("20260222_1100_talk.mp3")
            .display()
            .to_string()
    );
    assert_eq!(talk[6], "natural");
    assert_eq!(
        talk[8],
        programmes
            .join("20260301_1100_talk.mp3")
            .display()
            .to_string()
    );
    assert_eq!(talk[9], "the file is missing");
    assert_eq!(rows[1][6], "faded");
}

fn check_tracks(s: &Station, header: &[String], rows: &[Vec<String>]) {
    assert_eq!(header, TRACKS);
    let jazz = s
        .dir()
        .join("programmes")
        .join("20260301_1000_sunday-jazz.mp3")
        .display()
        .to_string();
    let expected = [
        ["", "Station ident", "2026-03-01T10:00:00+00:00", "0:00:30"],
        [
            "Miles Davis",
            "So What",
            "2026-03-01T10:00:30+00:00",
            "0:09:30",
        ],
        [
            "Nina Simone",
            "Feeling Good, \"live\"",
            "2026-03-01T10:10:00+00:00",
            "0:49:58",
        ],
    ];
    assert_eq!(rows.len(), expected.len(), "{rows:#?}");
    for (row, want) in rows.iter().zip(expected) {
        assert_eq!(&row[..4], want, "{rows:#?}");
        assert_eq!(
            (row[4].as_str(), row[5].as_str()),
            ("Sunday Jazz", jazz.as_str())
        );
    }
}

#[test]
fn report_of_items_and_tracks_from_the_log_and_from_the_running_box() {
    let mut s = Station::new("report");
    s.write_config();
    write_log(&s);

    // The box is not running: the log is read directly.
    let (header, rows) = report(&s, &["--from", "2026-03-01", "--to", "2026-03-01"]);
    check_items(&s, &header, &rows);
    let (header, rows) = report(
        &s,
        &["--from", "2026-03-01", "--to", "2026-03-01", "--tracks"],
    );
    check_tracks(&s, &header, &rows);

    // To a file: the same CSV, nothing on standard output.
    let file = s.dir().join("tracks-march.csv");
    let output = s.command(
        "report",
        &[
            "--from",
            "2026-03-01",
            "--to",
            "2026-03-01",
            "--tracks",
            "--output",
            &file.display().to_string(),
        ],
    );
    assert!(output.status.success(), "{}", printed(&output));
    assert!(output.stdout.is_empty(), "{}", printed(&output));
    let (header, rows) = csv_of(&std::fs::read_to_string(&file).unwrap());
    check_tracks(&s, &header, &rows);

    // A time as --to ends there: the substitute started at 11:00, after it.
    let (_, rows) = report(&s, &["--from", "2026-03-01", "--to", "2026-03-01 11:00"]);
    assert_eq!(rows.len(), 2, "{rows:#?}");
    // Two days take in the evening tune and the next day's filler.
    let (_, rows) = report(&s, &["--from", "2026-02-28", "--to", "2026-03-02"]);
    assert_eq!(rows.len(), 5, "{rows:#?}");

    // The box is running and holds the log: the report asks it. Its web
    // address is written once it holds the log; until then a report could
    // still open the log itself.
    s.start();
    let address = s.data_dir().join("web-address");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while !address.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "the box never wrote {}\n{}",
            address.display(),
            s.box_logs()
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(
        matches!(
            SledWriter::open(&s.data_dir()),
            Err(log::AsRunError::Busy { .. })
        ),
        "the running box should hold the log"
    );
    let (header, rows) = report(&s, &["--from", "2026-03-01", "--to", "2026-03-01"]);
    check_items(&s, &header, &rows);
    let (header, rows) = report(
        &s,
        &["--from", "2026-03-01", "--to", "2026-03-01", "--tracks"],
    );
    check_tracks(&s, &header, &rows);
    s.terminate();
}

#[test]
fn bad_periods_and_configurations_are_refused() {
    let s = Station::new("report-refused");
    s.write_config();
    // Bad input: --from after --to, an impossible date, a word for a date.
    for (args, says) in [
        (
            ["--from", "2026-03-02", "--to", "2026-03-01"],
            "is not before --to",
        ),
        (
            ["--from", "2026-02-30", "--to", "2026-03-01"],
            "--from \"2026-02-30\"",
        ),
        (["--from", "2026-03-01", "--to", "soon"], "--to \"soon\""),
    ] {
        let output = s.command("report", &args);
        assert_eq!(
            output.status.code(),
            Some(1),
            "{args:?}\n{}",
            printed(&output)
        );
        assert!(output.stdout.is_empty(), "{args:?}\n{}", printed(&output));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
    // Bad input: no --to at all is a usage mistake (exit 2, as clap says).
    let output = s.command("report", &["--from", "2026-03-01"]);
    assert_eq!(output.status.code(), Some(2), "{}", printed(&output));
    // Bad input: a configuration file that is not there.
    let missing = s.dir().join("nowhere.toml");
    let output = onair(&[
        "report",
        "--config",
        &missing.display().to_string(),
        "--from",
        "today",
        "--to",
        "today",
    ]);
    assert_eq!(output.status.code(), Some(1), "{}", printed(&output));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("nowhere.toml"),
        "{}",
        printed(&output)
    );
    // A box that never ran: an empty report (its header), and a note why.
    let output = s.command("report", &["--from", "today", "--to", "today", "--tracks"]);
    assert!(output.status.success(), "{}", printed(&output));
    let (header, rows) = csv_of(&String::from_utf8_lossy(&output.stdout));
    assert_eq!((header, rows.len()), (TRACKS.map(String::from).to_vec(), 0));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("no as-run log"),
        "{}",
        printed(&output)
    );
}
