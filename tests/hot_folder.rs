//! Files dropped into the programme folder while the box runs: picked up
//! without a restart, and never aired while still being copied.
//! Station time runs 60× (a station minute is a real second).

use crate::common;

use std::io::Write;
use std::time::Duration;

use common::*;

#[test]
fn a_programme_dropped_in_while_running_airs_at_its_time() {
    let mut s = Station::new("dropped-in");
    s.filler(500, 20.0);
    s.filler(800, 20.0);
    s.start();
    // Two station minutes after the start, with the box running, a file for
    // 01:02 arrives (moved in whole, as an upload tool does).
    s.wait_until(s.local("2026-03-02 00:58:05"));
    s.programme("2026-03-02 01:02", "late-upload", 1400, 30.0, "flac");
    s.wait_until(s.local("2026-03-02 01:03:00"));
    s.terminate();

    let runs = s.runs(&s.aired());
    let start = s.local("2026-03-02 01:02");
    expect_run(&runs, 1400, start, start + secs(30), ms(20));
    let log = s.log_json();
    log.expect_kind(log.one("late-upload"), Kind::Scheduled);
    log.expect_start(log.one("late-upload"), start, ms(50));
}

#[test]
fn a_programme_still_being_copied_at_its_slot_does_not_air_half_written() {
    // Bad input: the file for 01:01 is half there when its slot comes (a slow
    // copy), and the rest arrives only at about 01:01:40.
    let mut s = Station::new("half-written");
    s.filler(500, 20.0);
    s.filler(800, 20.0);
    let complete = s.programme("2026-03-02 01:01", "slow-copy", 1400, 420.0, "wav");
    let bytes = std::fs::read(&complete).unwrap();
    std::fs::remove_file(&complete).unwrap();
    s.start();
    s.wait_until(s.local("2026-03-02 00:58:30"));
    let mut file = std::fs::File::create(&complete).unwrap();
    let half = bytes.len() / 2;
    // Written in pieces, as a copy over the network goes.
    for chunk in bytes[..half].chunks(half / 8 + 1) {
        file.write_all(chunk).unwrap();
        file.flush().unwrap();
        std::thread::sleep(Duration::from_millis(150));
    }
    s.wait_until(s.local("2026-03-02 01:01:40"));
    file.write_all(&bytes[half..]).unwrap();
    drop(file);
    let finished = s.now();
    s.wait_until(s.local("2026-03-02 01:06:00"));
    s.terminate();

    let runs = s.runs(&s.aired());
    // Until the copy was complete, filler covered the slot.
    let slot = s.local("2026-03-02 01:01");
    expect_only(
        &runs,
        slot,
        finished,
        &[What::Tone(500), What::Tone(800)],
        ms(1100),
    );
    // Once it had settled, the programme joined at the offset it should be
    // at by then: it is heard, and the log says it was joined late.
    let log = s.log_json();
    let entry = log.one("slow-copy");
    log.check(
        entry.start.to_utc() >= finished,
        "the programme went on air before its file was complete",
    );
    log.expect_kind(entry, Kind::Resumed);
    let joined = entry.start.to_utc();
    let offset = (joined - slot).num_milliseconds();
    let logged = entry.offset_ms.unwrap_or(-1);
    log.check(
        (logged - offset).abs() < 1000,
        &format!("joined at {offset} ms into its slot but logged offset {logged} ms"),
    );
    expect_at(&runs, joined + secs(5), What::Tone(1400));
}

#[test]
fn filler_arriving_while_the_emergency_file_plays_takes_over() {
    // No filler at start: the emergency file covers; filler dropped in while
    // running takes over from it without waiting for the next programme.
    let mut s = Station::new("filler-arrives");
    s.emergency(300, 10.0);
    s.filler_folder();
    s.programme("2026-03-02 01:10", "much-later", 1400, 20.0, "wav");
    s.start();
    s.wait_until(s.local("2026-03-02 00:58:30"));
    s.filler(900, 30.0);
    let dropped = s.now();
    s.wait_until(s.local("2026-03-02 01:03:00"));
    s.terminate();

    let runs = s.runs(&s.aired());
    expect_at(&runs, dropped - secs(5), What::Tone(300));
    // Settled after 2 s real (two station minutes) and a rescan: by 01:02
    // the filler is on air.
    expect_at(&runs, s.local("2026-03-02 01:02:00"), What::Tone(900));
    let log = s.log_json();
    let emergency = log.of_kind(Kind::Emergency);
    log.check(!emergency.is_empty(), "the emergency file never aired");
    log.check(
        emergency.iter().all(|e| {
            e.end
                .is_some_and(|end| end.to_utc() < s.local("2026-03-02 01:02:00"))
        }),
        "the emergency file kept playing after filler arrived",
    );
}
