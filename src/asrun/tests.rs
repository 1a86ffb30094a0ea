use super::sled::{BY_ID, HEARTBEAT_IN_LOG, entry_key, id_key};
use super::*;
use crate::listen_back::ListenAlarm;
use chrono_tz::Tz;
use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A folder of its own under the system's temporary folder, emptied first.
pub(super) fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("onair-asrun-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub(super) fn t(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).unwrap().to_utc()
}

fn item(start: &str, kind: Kind, title: &str) -> NewEntry {
    NewEntry {
        start: t(start),
        kind,
        title: title.into(),
        file: format!("/media/onair/programmes/{title}.flac"),
        offset_ms: 0,
        scheduled: (kind == Kind::Scheduled).then(|| t(start)),
    }
}

#[test]
fn entries_round_trip_and_ranges_overlap() {
    let dir = scratch("round-trip");
    assert!(!log_exists(&dir), "an empty data folder holds no log");
    let log = SledWriter::open(&dir).unwrap();
    assert!(log_exists(&dir));
    // A long programme, filler after it, a programme that could not start
    // and one still on air.
    let long = log
        .begin(item("2026-03-28T20:00:00Z", Kind::Scheduled, "Night Show"))
        .unwrap();
    log.finish(long, t("2026-03-29T00:00:00Z"), Ended::Faded, None)
        .unwrap();
    let filler = log
        .begin(item("2026-03-29T00:00:00Z", Kind::Filler, "jingle"))
        .unwrap();
    log.finish(filler, t("2026-03-29T00:00:30Z"), Ended::Natural, None)
        .unwrap();
    let failed = log
        .failed(
            item("2026-03-29T00:01:00Z", Kind::Scheduled, "Broken"),
            "the file cannot be decoded".into(),
        )
        .unwrap();
    let live = log
        .begin(item("2026-03-29T00:01:00.250Z", Kind::Filler, "tune"))
        .unwrap();
    assert_eq!([long, filler, failed, live], [1, 2, 3, 4]);

    let all = log.range(None, None).unwrap();
    assert_eq!(all.iter().map(|e| e.id).collect::<Vec<_>>(), [1, 2, 3, 4]);
    assert_eq!(all[0].ended, Some(Ended::Faded));
    assert_eq!(all[0].end, Some(t("2026-03-29T00:00:00Z")));
    assert_eq!(all[2].end, Some(all[2].start));
    assert_eq!(all[2].ended, Some(Ended::Failed));
    assert_eq!(all[2].reason.as_deref(), Some("the file cannot be decoded"));
    assert_eq!((all[3].end, all[3].ended), (None, None));
    assert_eq!(all[3].start, t("2026-03-29T00:01:00.250Z"));

    let ids = |since: &str, until: &str| -> Vec<u64> {
        log.range(Some(t(since)), Some(t(until)))
            .unwrap()
            .iter()
            .map(|e| e.id)
            .collect()
    };
    // The night show started four hours before this window but was on air in it.
    assert_eq!(ids("2026-03-28T23:00:00Z", "2026-03-28T23:30:00Z"), [1]);
    // The end is exclusive: the night show ended as the filler began.
    assert_eq!(ids("2026-03-29T00:00:00Z", "2026-03-29T00:00:10Z"), [2]);
    // Until is exclusive too; the failed item counts at its start.
    assert_eq!(
        ids("2026-03-29T00:00:40Z", "2026-03-29T00:01:00Z"),
        Vec::<u64>::new()
    );
    assert_eq!(ids("2026-03-29T00:01:00Z", "2026-03-29T00:01:01Z"), [3, 4]);
    // What is on air now reaches into any later window.
    assert_eq!(ids("2026-03-30T00:00:00Z", "2026-03-31T00:00:00Z"), [4]);

    let recent = log.recent(2).unwrap();
    assert_eq!(recent.iter().map(|e| e.id).collect::<Vec<_>>(), [3, 4]);
    assert_eq!(log.recent(100).unwrap().len(), 4);

    // Bad input: finishing an entry twice, or one that does not exist.
    assert!(matches!(
        log.finish(filler, t("2026-03-29T00:02:00Z"), Ended::Skipped, None),
        Err(AsRunError::NotOnAir { id: 2 })
    ));
    assert!(matches!(
        log.finish(99, t("2026-03-29T00:02:00Z"), Ended::Skipped, None),
        Err(AsRunError::NotOnAir { id: 99 })
    ));
    assert!(matches!(
        log.finish(failed, t("2026-03-29T00:02:00Z"), Ended::Skipped, None),
        Err(AsRunError::NotOnAir { .. })
    ));
    drop(log);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn recover_closes_what_a_crash_left_on_air() {
    let dir = scratch("recover");
    {
        let log = SledWriter::open(&dir).unwrap();
        let done = log
            .begin(item("2026-03-29T00:00:00Z", Kind::Filler, "jingle"))
            .unwrap();
        log.finish(done, t("2026-03-29T00:00:10Z"), Ended::Natural, None)
            .unwrap();
        log.begin(item("2026-03-29T00:00:10Z", Kind::Scheduled, "Breakfast"))
            .unwrap();
        log.heartbeat(t("2026-03-29T00:05:00Z")).unwrap();
        // Begun after the last heartbeat: it ends where it started.
        log.begin(item("2026-03-29T00:05:00.5Z", Kind::Filler, "bed"))
            .unwrap();
        // Dropped without finishing, as in a crash.
    }
    let log = SledWriter::open(&dir).unwrap();
    let recovered = log.recover().unwrap();
    assert_eq!(recovered.len(), 2, "{recovered:#?}");
    assert_eq!(recovered[0].title, "Breakfast");
    assert_eq!(recovered[0].end, Some(t("2026-03-29T00:05:00Z")));
    assert_eq!(recovered[0].ended, Some(Ended::Interrupted));
    assert_eq!(recovered[0].scheduled, Some(t("2026-03-29T00:00:10Z")));
    assert_eq!(recovered[1].end, Some(t("2026-03-29T00:05:00.5Z")));
    assert_eq!(recovered[1].ended, Some(Ended::Interrupted));
    // The log on disk says the same, and nothing is on air any more.
    let all = log.range(None, None).unwrap();
    assert_eq!(&all[1..], &recovered[..]);
    assert_eq!(all[0].ended, Some(Ended::Natural));
    assert_eq!(log.recover().unwrap(), vec![]);
    // New entries do not reuse ids.
    let next = log
        .begin(item("2026-03-29T00:06:00Z", Kind::Resumed, "Breakfast"))
        .unwrap();
    assert_eq!(next, 4);
    // The interrupted programme is found from a window after it started.
    let window = log
        .range(
            Some(t("2026-03-29T00:04:00Z")),
            Some(t("2026-03-29T00:04:30Z")),
        )
        .unwrap();
    assert_eq!(window.iter().map(|e| e.id).collect::<Vec<_>>(), [2]);
    drop(log);

    // Without any heartbeat, an entry left on air ends at its start.
    let dir2 = scratch("recover-no-heartbeat");
    let id = {
        let log = SledWriter::open(&dir2).unwrap();
        log.begin(item("2026-03-29T01:00:00Z", Kind::Filler, "tune"))
            .unwrap()
    };
    let log = SledWriter::open(&dir2).unwrap();
    let recovered = log.recover().unwrap();
    assert_eq!(recovered.len(), 1);
    assert_eq!(
        (recovered[0].id, recovered[0].end),
        (id, Some(t("2026-03-29T01:00:00Z")))
    );
    drop(log);
    std::fs::remove_dir_all(&dir).unwrap();
    std::fs::remove_dir_all(&dir2).unwrap();
}

#[test]
fn recovery_survives_a_torn_heartbeat_and_reads_an_older_box_s_once() {
    let dir = scratch("recover-torn-heartbeat");
    {
        let log = SledWriter::open(&dir).unwrap();
        log.begin(item("2026-03-29T02:00:00Z", Kind::Filler, "tune"))
            .unwrap();
        log.heartbeat(t("2026-03-29T02:00:30Z")).unwrap();
    }
    // Bad input: the heartbeat cut short by a power cut as it was written.
    std::fs::write(dir.join("asrun.heartbeat"), "2026-03-29T02:0").unwrap();
    {
        let log = SledWriter::open(&dir).unwrap();
        let recovered = log.recover().unwrap();
        assert_eq!(recovered.len(), 1, "{recovered:#?}");
        assert_eq!(recovered[0].end, Some(t("2026-03-29T02:00:00Z")));
        assert_eq!(recovered[0].ended, Some(Ended::Interrupted));
        // An earlier box kept its heartbeat in the log itself.
        log.begin(item("2026-03-29T03:00:00Z", Kind::Filler, "bed"))
            .unwrap();
        let old = serde_json::to_vec(&t("2026-03-29T03:00:20Z")).unwrap();
        log.store.db.insert(HEARTBEAT_IN_LOG, old).unwrap();
    }
    let log = SledWriter::open(&dir).unwrap();
    let recovered = log.recover().unwrap();
    assert_eq!(recovered.len(), 1, "{recovered:#?}");
    assert_eq!(recovered[0].end, Some(t("2026-03-29T03:00:20Z")));
    // Read once: a stale one is never believed again.
    assert_eq!(log.store.db.get(HEARTBEAT_IN_LOG).unwrap(), None);
    drop(log);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn stream_events_are_logged_beside_programmes_and_never_resumed() {
    let dir = scratch("stream");
    let log = SledWriter::open(&dir).unwrap();
    let programme = log
        .begin(item("2026-03-29T09:00:00Z", Kind::Scheduled, "Breakfast"))
        .unwrap();
    let output = "icecast 127.0.0.1:8000/live.mp3".to_string();
    log.stream_event(StreamEvent {
        at: t("2026-03-29T09:10:00Z"),
        output: output.clone(),
        up: false,
        reason: Some("lost the connection".into()),
    })
    .unwrap();
    log.stream_event(StreamEvent {
        at: t("2026-03-29T09:10:03Z"),
        output: output.clone(),
        up: true,
        reason: None,
    })
    .unwrap();
    drop(log);

    // After a crash only the programme is taken up again.
    let log = SledWriter::open(&dir).unwrap();
    let cut = log.recover().unwrap();
    assert_eq!(cut.len(), 1, "{cut:?}");
    assert_eq!(cut[0].id, programme);
    let entries = log.range(Some(t("2026-03-29T09:05:00Z")), None).unwrap();
    let events: Vec<(&str, Option<&str>)> = entries
        .iter()
        .filter(|e| e.kind == Kind::Stream)
        .map(|e| (e.title.as_str(), e.reason.as_deref()))
        .collect();
    assert_eq!(
        events,
        [
            (
                "down: icecast 127.0.0.1:8000/live.mp3",
                Some("lost the connection")
            ),
            ("up: icecast 127.0.0.1:8000/live.mp3", None)
        ]
    );
    // The programme, cut at its start (no heartbeat), is before 09:05.
    assert_eq!(entries.len(), 2, "{entries:?}");
    let down = &entries[0];
    assert_eq!(down.end, Some(down.start), "an event has no length");
    assert_eq!(down.file, output);
    assert!(down.scheduled.is_none(), "{down:?}");

    let json: serde_json::Value = serde_json::from_str(&to_json(&entries, Tz::UTC)).unwrap();
    assert_eq!(json[0]["kind"], "stream");
    assert_eq!(json[0]["start"], "2026-03-29T09:10:00+00:00");
    assert_eq!(json[0]["end"], "2026-03-29T09:10:00+00:00");
    assert_eq!(json[0]["reason"], "lost the connection");
    let table = to_table(&entries, Tz::UTC);
    assert!(
        table.contains("stream") && table.contains("down: icecast 127.0.0.1:8000/live.mp3"),
        "{table}"
    );
    drop(log);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn listen_back_alarms_are_logged_as_events_and_printed_on_their_rows_only() {
    let dir = scratch("listen");
    let output = "icecast 127.0.0.1:8000/live.mp3".to_string();
    {
        let log = SledWriter::open(&dir).unwrap();
        log.begin(item("2026-03-29T09:00:00Z", Kind::Scheduled, "Breakfast"))
            .unwrap();
        log.listen_event(ListenEvent {
            at: t("2026-03-29T09:10:00Z"),
            output: output.clone(),
            heard: ListenAlarm::Silent,
            reason: Some("silent for 10 s while the engine plays programme".into()),
        })
        .unwrap();
        log.listen_event(ListenEvent {
            at: t("2026-03-29T09:12:30Z"),
            output: output.clone(),
            heard: ListenAlarm::NoData,
            reason: Some("no audio for 5 s".into()),
        })
        .unwrap();
        log.listen_event(ListenEvent {
            at: t("2026-03-29T09:14:00Z"),
            output: output.clone(),
            heard: ListenAlarm::Ok,
            reason: None,
        })
        .unwrap();
        log.heartbeat(t("2026-03-29T09:15:00Z")).unwrap();
        // Killed here, with the programme on air.
    }
    let log = SledWriter::open(&dir).unwrap();
    let cut = log.recover().unwrap();
    assert_eq!(cut.len(), 1, "only the programme was on air: {cut:#?}");
    let all = log.range(None, None).unwrap();
    let events: Vec<&Entry> = all.iter().filter(|e| e.kind == Kind::Listen).collect();
    assert_eq!(events.len(), 3, "{all:#?}");
    assert!(events.iter().all(|e| !e.is_item()), "an event is no slot");
    let alarm = events[0];
    assert_eq!(alarm.title, "silent: icecast 127.0.0.1:8000/live.mp3");
    assert_eq!(alarm.file, output);
    assert_eq!(alarm.heard, Some(ListenAlarm::Silent));
    assert_eq!(alarm.end, Some(alarm.start), "an event has no length");
    assert_eq!(
        alarm.reason.as_deref(),
        Some("silent for 10 s while the engine plays programme")
    );
    assert_eq!(events[1].heard, Some(ListenAlarm::NoData));
    assert_eq!(events[2].title, "ok: icecast 127.0.0.1:8000/live.mp3");
    assert_eq!(
        (events[2].heard, &events[2].reason),
        (Some(ListenAlarm::Ok), &None)
    );

    let json: serde_json::Value = serde_json::from_str(&to_json(&all, Tz::UTC)).unwrap();
    assert_eq!(json[0]["kind"], "scheduled");
    assert!(json[0].get("heard").is_none(), "{}", json[0]);
    assert_eq!(json[1]["kind"], "listen");
    assert_eq!(json[1]["heard"], "silent");
    assert_eq!(json[2]["heard"], "no_data");
    assert_eq!(json[3]["heard"], "ok");
    assert_eq!(json[1]["start"], "2026-03-29T09:10:00+00:00");
    // What `onair log` reads back from a running box is the same entry.
    let back: Vec<Entry> = serde_json::from_str(&to_json(&all, Tz::UTC)).unwrap();
    assert_eq!(back, all);

    let text = to_csv(&all, Tz::UTC);
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let heard = reader
        .headers()
        .unwrap()
        .iter()
        .position(|h| h == "heard")
        .expect("a heard column");
    let records: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    let column: Vec<&str> = records.iter().map(|r| &r[heard]).collect();
    assert_eq!(column, ["", "silent", "no_data", "ok"]);
    assert_eq!(&records[1][3], "listen");

    let table = to_table(&all, Tz::UTC);
    let lines: Vec<&str> = table.lines().collect();
    assert!(
        lines[2].contains("listen")
            && lines[2].contains("silent: icecast 127.0.0.1:8000/live.mp3")
            && lines[2].contains("silent for 10 s while the engine plays programme"),
        "{table}"
    );
    assert!(
        lines[4].contains("ok: icecast 127.0.0.1:8000/live.mp3"),
        "{table}"
    );
    drop(log);
    std::fs::remove_dir_all(&dir).unwrap();
}

fn track(start: &str, offset_ms: u64, artist: &str, title: &str) -> NewTrack {
    NewTrack {
        start: t(start),
        scheduled: t("2026-11-21T10:00:00Z"),
        programme: "Saturday Jazz".into(),
        file: "/media/onair/programmes/20261121_1000_saturday-jazz.mp3".into(),
        offset_ms,
        artist: artist.into(),
        title: title.into(),
    }
}

#[test]
fn tracks_are_logged_under_their_programme_and_closed_by_recovery() {
    let dir = scratch("tracks");
    let file = Path::new("/media/onair/programmes/20261121_1000_saturday-jazz.mp3");
    let slot = t("2026-11-21T10:00:00Z");
    {
        let log = SledWriter::open(&dir).unwrap();
        let programme = log
            .begin(NewEntry {
                start: slot,
                kind: Kind::Scheduled,
                title: "Saturday Jazz".into(),
                file: file.display().to_string(),
                offset_ms: 0,
                scheduled: Some(slot),
            })
            .unwrap();
        // The first track starts with the programme, on the same instant.
        let first = log
            .begin_track(track("2026-11-21T10:00:00Z", 0, "", "Intro"))
            .unwrap();
        log.finish(first, t("2026-11-21T10:04:00.5Z"), Ended::Natural, None)
            .unwrap();
        log.begin_track(track(
            "2026-11-21T10:04:00.5Z",
            240_500,
            "Miles Davis",
            "So What",
        ))
        .unwrap();
        log.heartbeat(t("2026-11-21T10:06:00Z")).unwrap();
        assert!(programme < first);
        // Killed here: the programme and the second track are on air.
    }
    let log = SledWriter::open(&dir).unwrap();
    let cut = log.recover().unwrap();
    assert_eq!(cut.len(), 2, "{cut:#?}");
    assert_eq!(
        cut.iter().map(|e| e.kind).collect::<Vec<_>>(),
        [Kind::Scheduled, Kind::Track]
    );
    assert!(cut.iter().all(|e| e.ended == Some(Ended::Interrupted)));
    assert_eq!(cut[1].end, Some(t("2026-11-21T10:06:00Z")));
    // Only the programme is a slot to resume.
    assert_eq!(
        cut.iter().filter(|e| e.is_item()).count(),
        1,
        "a track taken for an item: {cut:#?}"
    );

    let all = log.range(None, None).unwrap();
    // By start, the programme first: each track's row is under it.
    let order: Vec<(Kind, &str)> = all.iter().map(|e| (e.kind, e.title.as_str())).collect();
    assert_eq!(
        order,
        [
            (Kind::Scheduled, "Saturday Jazz"),
            (Kind::Track, "Intro"),
            (Kind::Track, "So What"),
        ]
    );
    let intro = &all[1];
    assert_eq!(intro.artist, None, "an empty artist is no artist");
    assert_eq!(intro.programme.as_deref(), Some("Saturday Jazz"));
    assert_eq!(intro.end, Some(t("2026-11-21T10:04:00.5Z")));
    let so_what = &all[2];
    assert_eq!(so_what.artist.as_deref(), Some("Miles Davis"));
    assert_eq!(so_what.offset_ms, 240_500);
    assert_eq!(so_what.scheduled, Some(slot));

    // Which tracks of this slot are logged: not another slot's, not another file's.
    assert_eq!(tracks_logged(&all, file, slot), HashSet::from([0, 240_500]));
    assert!(tracks_logged(&all, file, t("2026-11-28T10:00:00Z")).is_empty());
    assert!(tracks_logged(&all, Path::new("/elsewhere/x.mp3"), slot).is_empty());

    let table = to_table(&all, Tz::UTC);
    let lines: Vec<&str> = table.lines().collect();
    assert!(
        lines[2].contains("track") && lines[2].contains("  Intro"),
        "{table}"
    );
    assert!(lines[3].contains("  Miles Davis - So What"), "{table}");
    assert!(lines[3].contains("+0:04:00"), "{table}");
    assert!(!lines[3].contains("slot"), "{table}");

    let json: serde_json::Value = serde_json::from_str(&to_json(&all, Tz::UTC)).unwrap();
    assert_eq!(json[2]["kind"], "track");
    assert_eq!(json[2]["artist"], "Miles Davis");
    assert_eq!(json[2]["programme"], "Saturday Jazz");
    assert!(json[0].get("artist").is_none(), "{}", json[0]);
    assert!(
        json[1].get("artist").is_none(),
        "no artist named: {}",
        json[1]
    );
    // What `onair log` reads back from a running box is the same entry.
    let back: Vec<Entry> = serde_json::from_str(&to_json(&all, Tz::UTC)).unwrap();
    assert_eq!(back, all);
    drop(log);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn substitutes_name_the_file_they_replace() {
    let dir = scratch("substitute");
    let log = SledWriter::open(&dir).unwrap();
    let due = "/media/onair/programmes/20261121_1000_saturday-jazz.mp3";
    let previous = "/media/onair/programmes/20261114_1000_saturday-jazz.mp3";
    let slot = t("2026-11-21T10:00:00Z");
    let entry = NewEntry {
        start: slot,
        // Whatever the caller says, a substitute is logged as one.
        kind: Kind::Scheduled,
        title: "Saturday Jazz".into(),
        file: previous.into(),
        offset_ms: 0,
        scheduled: Some(slot),
    };
    let why = Substitution {
        replaces: due.into(),
        problem: "the file is missing".into(),
    };
    let id = log.begin_substitute(entry.clone(), why.clone()).unwrap();
    log.finish(id, t("2026-11-21T11:00:00Z"), Ended::Faded, None)
        .unwrap();
    let failed = log
        .failed_substitute(
            NewEntry {
                start: t("2026-11-21T11:00:00Z"),
                ..entry
            },
            why,
            "the previous edition cannot be decoded either".into(),
        )
        .unwrap();
    let all = log.range(None, None).unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(all[0].kind, Kind::Substitute);
    assert!(all[0].is_item(), "a substitute stands for its slot");
    assert_eq!(all[0].file, previous);
    assert_eq!(all[0].replaces.as_deref(), Some(due));
    assert_eq!(all[0].problem.as_deref(), Some("the file is missing"));
    assert_eq!(all[0].ended, Some(Ended::Faded));
    assert_eq!(all[1].id, failed);
    assert_eq!(
        (all[1].kind, all[1].ended, all[1].end),
        (Kind::Substitute, Some(Ended::Failed), Some(all[1].start))
    );
    assert_eq!(all[1].replaces.as_deref(), Some(due));

    let table = to_table(&all, Tz::UTC);
    assert!(
        table.contains("substitute")
            && table.contains("replaces 20261121_1000_saturday-jazz.mp3 (the file is missing)"),
        "{table}"
    );
    let text = to_csv(&all, Tz::UTC);
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let record = reader.records().next().unwrap().unwrap();
    assert_eq!(&record[3], "substitute");
    assert_eq!(&record[12], due);
    assert_eq!(&record[13], "the file is missing");
    drop(log);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn entries_written_before_tracks_and_substitutes_still_read() {
    let dir = scratch("old-format");
    let log = SledWriter::open(&dir).unwrap();
    // An entry exactly as the log stored it before the track, programme,
    // replaces and problem fields existed.
    let old = br#"{"id":7,"start":"2026-03-29T09:00:00Z","end":"2026-03-29T10:00:00Z","kind":"scheduled","title":"Breakfast","file":"/media/onair/programmes/20260329_1000_breakfast.mp3","offset_ms":0,"ended":"natural","reason":null,"scheduled":"2026-03-29T09:00:00Z"}"#;
    let key = entry_key(t("2026-03-29T09:00:00Z"), 7);
    log.store.db.insert(key, &old[..]).unwrap();
    log.store.db.insert(id_key(BY_ID, 7), &key[1..]).unwrap();
    let all = log.range(None, None).unwrap();
    assert_eq!(all.len(), 1);
    let entry = &all[0];
    assert_eq!((entry.id, entry.kind), (7, Kind::Scheduled));
    assert_eq!(entry.title, "Breakfast");
    assert_eq!(entry.ended, Some(Ended::Natural));
    assert_eq!(
        (
            &entry.artist,
            &entry.programme,
            &entry.replaces,
            &entry.problem
        ),
        (&None, &None, &None, &None)
    );
    assert_eq!(entry.heard, None);
    assert!(entry.is_item());
    // New entries are not longer than old ones for fields they do not use.
    let stored = super::sled::Store::encode(entry);
    assert_eq!(
        stored.len(),
        old.len(),
        "{}",
        String::from_utf8_lossy(&stored)
    );
    drop(log);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn readers_see_what_the_writer_wrote_and_hold_the_log_after_it() {
    let dir = scratch("readers");
    let writer = SledWriter::open(&dir).unwrap();
    let reader = writer.reader();
    let copy = reader.clone();
    let id = writer
        .begin(item("2026-03-29T09:00:00Z", Kind::Scheduled, "Breakfast"))
        .unwrap();
    assert_eq!(reader.recent(5).unwrap()[0].id, id);
    writer
        .finish(id, t("2026-03-29T10:00:00Z"), Ended::Natural, None)
        .unwrap();
    let entry = &copy.range(None, None).unwrap()[0];
    assert_eq!(entry.ended, Some(Ended::Natural));
    // The web server's reader outlives the director's writer: the log
    // stays open, and no other process can take it meanwhile.
    drop(writer);
    assert!(matches!(
        SledReader::open(&dir),
        Err(AsRunError::Busy { .. })
    ));
    drop((reader, copy));
    let alone = SledReader::open(&dir).unwrap();
    assert_eq!(alone.range(None, None).unwrap().len(), 1);
    drop(alone);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_second_opening_is_refused_at_once() {
    let dir = scratch("busy");
    let first = SledWriter::open(&dir).unwrap();
    let asked = Instant::now();
    let second = SledWriter::open(&dir);
    assert!(
        matches!(second, Err(AsRunError::Busy { .. })),
        "{:?}",
        second.err()
    );
    assert!(
        asked.elapsed() < Duration::from_millis(500),
        "{:?}",
        asked.elapsed()
    );
    let message = SledWriter::open(&dir)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        message.contains("in use by another onair process"),
        "{message}"
    );
    drop(first);
    assert!(
        SledWriter::open(&dir).is_ok(),
        "free again once the first is closed"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn an_unusable_data_folder_is_an_open_error() {
    let dir = scratch("unusable");
    // Bad input: the data folder is a file.
    let file = dir.join("state");
    std::fs::write(&file, b"").unwrap();
    let error = SledWriter::open(&file)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(error.starts_with("cannot open the as-run log"), "{error}");
    assert!(error.contains("data.dir"), "{error}");
    std::fs::remove_dir_all(&dir).unwrap();
}

fn sample(tz_entries: &[(&str, Option<&str>)]) -> Vec<Entry> {
    tz_entries
        .iter()
        .enumerate()
        .map(|(i, (start, end))| Entry {
            id: i as u64 + 1,
            start: t(start),
            end: end.map(t),
            kind: if i == 0 {
                Kind::Filler
            } else {
                Kind::Scheduled
            },
            title: if i == 0 {
                "Jingle".into()
            } else {
                "Sunday \"Best\", live".into()
            },
            file: format!("/media/onair/{i}.flac"),
            offset_ms: if i == 0 { 0 } else { 61_500 },
            ended: end.map(|_| Ended::Natural),
            reason: None,
            scheduled: (i > 0).then(|| t("2026-03-29T01:00:00Z")),
            artist: None,
            programme: None,
            replaces: None,
            problem: None,
            heard: None,
            by: None,
        })
        .collect()
}

#[test]
fn json_gives_station_times_across_the_clock_change() {
    // London goes from GMT to BST at 01:00 UTC on 2026-03-29.
    let entries = sample(&[
        ("2026-03-29T00:59:30Z", Some("2026-03-29T01:00:00Z")),
        ("2026-03-29T01:00:00.125Z", None),
    ]);
    let json: serde_json::Value =
        serde_json::from_str(&to_json(&entries, chrono_tz::Europe::London)).unwrap();
    let rows = json.as_array().unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["start"], "2026-03-29T00:59:30+00:00");
    assert_eq!(rows[0]["end"], "2026-03-29T02:00:00+01:00");
    assert_eq!(rows[0]["kind"], "filler");
    assert_eq!(rows[0]["ended"], "natural");
    assert_eq!(rows[0]["scheduled"], serde_json::Value::Null);
    assert_eq!(rows[1]["start"], "2026-03-29T02:00:00.125+01:00");
    assert_eq!(rows[1]["end"], serde_json::Value::Null);
    assert_eq!(rows[1]["ended"], serde_json::Value::Null);
    assert_eq!(rows[1]["offset_ms"], 61_500);
    assert_eq!(rows[1]["scheduled"], "2026-03-29T02:00:00+01:00");
    assert_eq!(rows[1]["title"], "Sunday \"Best\", live");
    let keys: Vec<&str> = rows[1]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    for key in &COLUMNS[..10] {
        assert!(keys.contains(key), "{key} missing from {keys:?}");
    }
    // Fields of tracks and substitutes are left out of other entries.
    assert_eq!(keys.len(), 10, "{keys:?}");
    assert_eq!(to_json(&[], chrono_tz::Europe::London), "[]");
}

#[test]
fn csv_has_the_same_columns_and_quotes_titles() {
    let entries = sample(&[
        ("2026-03-29T00:59:30Z", Some("2026-03-29T01:00:00Z")),
        ("2026-03-29T01:00:00Z", None),
    ]);
    let text = to_csv(&entries, chrono_tz::Europe::London);
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    assert_eq!(
        header,
        [
            "id",
            "start",
            "end",
            "kind",
            "title",
            "file",
            "offset_ms",
            "ended",
            "reason",
            "scheduled",
            "artist",
            "programme",
            "replaces",
            "problem",
            "heard",
            "by"
        ]
    );
    let records: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(records.len(), 2);
    assert_eq!(&records[0][2], "2026-03-29T02:00:00+01:00");
    assert_eq!(&records[1][4], "Sunday \"Best\", live");
    assert_eq!((&records[1][2], &records[1][7]), ("", ""));
    assert_eq!(&records[1][6], "61500");
}

#[test]
fn table_names_the_zone_on_each_side_of_the_change() {
    let entries = sample(&[
        ("2026-03-29T00:59:30Z", Some("2026-03-29T01:00:00Z")),
        ("2026-03-29T01:00:05Z", None),
    ]);
    let table = to_table(&entries, chrono_tz::Europe::London);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 3, "{table}");
    assert!(lines[0].starts_with("START"), "{table}");
    assert!(
        lines[1].starts_with("2026-03-29 00:59:30 GMT  2026-03-29 02:00:00 BST  filler"),
        "{table}"
    );
    assert!(lines[2].contains("02:00:05 BST  on air"), "{table}");
    assert!(lines[2].contains("+0:01:01"), "{table}");
    assert!(lines[2].contains("slot 02:00:00"), "{table}");
    assert_eq!(
        to_table(&[], chrono_tz::Europe::London),
        "no as-run entries in this period\n"
    );
}

#[test]
fn times_are_shown_rounded_not_cut() {
    // A programme on the sample nearest its 00:59:00 slot, 40 µs early,
    // ending 400 µs after 00:59:10 (and one ending just past the half second).
    let entries = sample(&[
        (
            "2026-03-29T00:58:59.99996Z",
            Some("2026-03-29T00:59:10.0004Z"),
        ),
        (
            "2026-03-29T00:59:10.0004Z",
            Some("2026-03-29T00:59:20.5004Z"),
        ),
    ]);
    let london = chrono_tz::Europe::London;
    let json: serde_json::Value = serde_json::from_str(&to_json(&entries, london)).unwrap();
    assert_eq!(json[0]["start"], "2026-03-29T00:59:00+00:00");
    assert_eq!(json[0]["end"], "2026-03-29T00:59:10+00:00");
    assert_eq!(json[1]["end"], "2026-03-29T00:59:20.500+00:00");
    let table = to_table(&entries, london);
    let lines: Vec<&str> = table.lines().collect();
    assert!(
        lines[1].starts_with("2026-03-29 00:59:00 GMT  00:59:10 "),
        "{table}"
    );
    assert!(
        lines[2].starts_with("2026-03-29 00:59:10 GMT  00:59:21 "),
        "{table}"
    );
}

/// The child side of `survives_being_killed`: writes entries until killed.
/// Ignored so that it never counts as a pass on its own; the crash test
/// runs it with `--ignored --exact`.
#[test]
#[ignore = "the writer killed by survives_being_killed, which runs it"]
fn kill_test_writer() {
    let dir = std::env::var_os("ONAIR_ASRUN_WRITER")
        .expect("ONAIR_ASRUN_WRITER names the data folder to write to; run survives_being_killed");
    let log = SledWriter::open(Path::new(&dir)).unwrap();
    println!("open");
    let mut n = 0u64;
    loop {
        let now = Utc::now();
        let id = log
            .begin(NewEntry {
                start: now,
                kind: Kind::Filler,
                title: format!("item {n}"),
                file: format!("filler/{n}.wav"),
                offset_ms: n,
                scheduled: None,
            })
            .unwrap();
        println!("begun {id}");
        log.heartbeat(now).unwrap();
        if !n.is_multiple_of(3) {
            log.finish(id, Utc::now(), Ended::Natural, None).unwrap();
            println!("finished {id}");
        }
        n += 1;
    }
}

#[test]
fn survives_being_killed() {
    let dir = scratch("kill");
    let mut begun = Vec::new();
    let mut finished = Vec::new();
    for cycle in 0..20u64 {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--ignored",
                "--exact",
                "asrun::tests::kill_test_writer",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("ONAIR_ASRUN_WRITER", &dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut out = child.stdout.take().unwrap();
        // Wait until the child holds the log.
        let mut seen = String::new();
        let mut byte = [0u8; 1];
        while !seen.contains("open\n") {
            assert_eq!(out.read(&mut byte).unwrap(), 1, "the writer exited: {seen}");
            seen.push(byte[0] as char);
        }
        if cycle == 0 {
            // Another process holds it: refused at once, not waited for.
            let asked = Instant::now();
            assert!(matches!(
                SledWriter::open(&dir),
                Err(AsRunError::Busy { .. })
            ));
            assert!(asked.elapsed() < Duration::from_secs(1));
        }
        std::thread::sleep(Duration::from_millis(10 + cycle * 37 % 150));
        child.kill().unwrap();
        child.wait().unwrap();
        out.read_to_string(&mut seen).unwrap();
        // Only whole lines: the child may have died halfway through one.
        let (mut begun_now, mut finished_now) = (Vec::new(), Vec::new());
        for line in seen.split_inclusive('\n').filter(|l| l.ends_with('\n')) {
            let mut words = line.split_whitespace();
            match (words.next(), words.next().map(str::parse::<u64>)) {
                (Some("begun"), Some(Ok(id))) => begun_now.push(id),
                (Some("finished"), Some(Ok(id))) => finished_now.push(id),
                _ => {}
            }
        }

        let log = SledWriter::open(&dir).unwrap();
        let interrupted: Vec<u64> = log.recover().unwrap().iter().map(|e| e.id).collect();
        // Everything begun and not finished in this run was on air when it
        // died, except perhaps the last: it may have been finished unreported.
        for id in begun_now.iter().filter(|id| !finished_now.contains(id)) {
            let last = begun_now.last() == Some(id);
            assert!(
                interrupted.contains(id) || last,
                "cycle {cycle}: {id} not recovered"
            );
        }
        begun.extend(begun_now);
        finished.extend(finished_now);
        let all = log.range(None, None).unwrap();
        let ids: std::collections::HashSet<u64> = all.iter().map(|e| e.id).collect();
        for id in &begun {
            assert!(
                ids.contains(id),
                "cycle {cycle}: entry {id} was begun but is lost"
            );
        }
        for entry in &all {
            assert!(
                entry.end.is_some(),
                "cycle {cycle}: {entry:?} on air after recovery"
            );
            if finished.contains(&entry.id) {
                assert_eq!(
                    entry.ended,
                    Some(Ended::Natural),
                    "cycle {cycle}: {entry:?}"
                );
            } else if interrupted.contains(&entry.id) {
                assert_eq!(
                    entry.ended,
                    Some(Ended::Interrupted),
                    "cycle {cycle}: {entry:?}"
                );
            }
        }
    }
    assert!(begun.len() > 20, "the writer hardly wrote: {}", begun.len());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn recent_entries_follow_every_write_though_kept_between_them() {
    let dir = scratch("recent-kept");
    let log = SledWriter::open(&dir).unwrap();
    let t = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().to_utc();
    let show = log
        .begin(NewEntry {
            start: t("2026-03-29T10:00:00Z"),
            kind: Kind::Scheduled,
            title: "Morning Show".into(),
            file: "/p/20260329_1000_morning-show.mp3".into(),
            offset_ms: 0,
            scheduled: Some(t("2026-03-29T10:00:00Z")),
        })
        .unwrap();
    let first = log.recent(10).unwrap();
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].end, None);
    // Asked again with nothing written: the same answer.
    assert_eq!(log.recent(10).unwrap(), first);
    // A close and a new entry are seen at once, through the reader too.
    log.finish(show, t("2026-03-29T11:00:00Z"), Ended::Natural, None)
        .unwrap();
    let closed = log.recent(10).unwrap();
    assert_eq!(closed[0].ended, Some(Ended::Natural));
    log.heartbeat(t("2026-03-29T11:00:01Z")).unwrap();
    log.stream_event(StreamEvent {
        at: t("2026-03-29T11:00:02Z"),
        output: "icecast 127.0.0.1:8000/live.mp3".into(),
        up: false,
        reason: Some("refused".into()),
    })
    .unwrap();
    assert_eq!(log.recent(10).unwrap().len(), 2);
    assert_eq!(log.reader().recent(1).unwrap()[0].kind, Kind::Stream);
    // A different length is read for what it asks.
    assert_eq!(log.recent(1).unwrap().len(), 1);
    drop(log);
    std::fs::remove_dir_all(&dir).unwrap();
}
