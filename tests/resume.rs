//! Crash recovery: the box is killed (SIGKILL, as a power cut would) three
//! times in the middle of a long programme and started again after a real
//! second (a station minute). Each time the programme must come back at the
//! offset where it would have been had nothing happened, within 1 s.

use crate::common;

use std::time::Duration;

use common::*;

/// How far from where it belongs the programme may come back.
const RESUME_TOLERANCE: i64 = 1000;

/// A 6 min programme changing tone every 10 s through ten tones (a 100 s
/// cycle), so the position in it can be read from the air.
fn long_play(s: &Station) -> Stepped {
    Stepped {
        slot: s.local("2026-03-02 00:59"),
        step: secs(10),
        tones: vec![400, 700, 1000, 1300, 1600, 1900, 2200, 2500, 2800, 3100],
        steps: 36,
    }
}

#[test]
fn a_programme_killed_three_times_resumes_at_the_right_offset() {
    // Bad events: SIGKILL at 00:59:40, 01:01:30 and 01:03:20 during a 6 min
    // programme, each followed by a real second of downtime, with the WAV
    // header left stale each time.
    let mut s = Station::new("resume");
    let programme = long_play(&s);
    s.programme_steps("2026-03-02 00:59", "long-play", &programme.plan(), "flac");
    let slot = programme.slot;
    let end = programme.end();
    s.start();
    for kill_at in [
        "2026-03-02 00:59:40",
        "2026-03-02 01:01:30",
        "2026-03-02 01:03:20",
    ] {
        s.wait_until(s.local(kill_at));
        s.kill();
        std::thread::sleep(Duration::from_secs(1));
        s.start();
    }
    s.wait_until(end + secs(30));
    s.terminate();

    let aired = s.aired();
    let runs = s.runs(&aired);
    if aired.files.len() != 4 {
        let names: Vec<String> = aired
            .files
            .iter()
            .map(|f| f.path.display().to_string())
            .collect();
        runs.fail(&format!(
            "each start should leave its own output file (4), found: {}",
            names.join(", ")
        ));
    }
    // Before the first crash the steps are exactly on time.
    expect_run(&runs, programme.tone(0), slot, slot + secs(10), ms(20));
    expect_run(
        &runs,
        programme.tone(1),
        slot + secs(10),
        slot + secs(20),
        ms(20),
    );
    let mut resumed_at = Vec::new();
    for (n, file) in aired.files.iter().enumerate().skip(1) {
        let context = format!(
            "after restart {n} (output from {})",
            local(file.anchor, runs.tz)
        );
        let Some(first) = runs
            .runs
            .iter()
            .find(|r| r.start >= file.anchor - ms(1) && matches!(r.what, What::Tone(_)))
        else {
            runs.fail(&format!("{context}: the programme never came back"));
        };
        if first.start - file.anchor > ms(RESUME_TOLERANCE) {
            runs.fail(&format!(
                "{context}: the programme came back {} ms after the box restarted, allowed {RESUME_TOLERANCE} ms",
                (first.start - file.anchor).num_milliseconds()
            ));
        }
        programme.expect_position(&runs, first.start, ms(RESUME_TOLERANCE), &context);
        resumed_at.push(first.start);
    }
    // It plays to its natural end at 01:05, as if never interrupted.
    let last = expect_start(
        &runs,
        programme.tone(programme.steps - 1),
        end - programme.step,
        ms(RESUME_TOLERANCE),
    );
    if (last.end - end).abs() > ms(RESUME_TOLERANCE) {
        runs.fail(&format!(
            "the programme should end at {} (± 1 s), it ended at {}",
            local(end, runs.tz),
            local(last.end, runs.tz)
        ));
    }

    let log = s.log_json();
    let entries = log.titled("long-play");
    log.check(
        entries.len() == 4,
        "long-play should have four entries: the scheduled start and three resumptions",
    );
    log.expect_kind(entries[0], Kind::Scheduled);
    log.expect_start(entries[0], slot, ms(50));
    for (i, entry) in entries.iter().enumerate() {
        if i > 0 {
            log.expect_kind(entry, Kind::Resumed);
            log.expect_start(entry, resumed_at[i - 1], ms(RESUME_TOLERANCE));
            let since_slot = (entry.start.to_utc() - slot).num_milliseconds();
            log.check(
                entry.offset_ms.is_some_and(|o| (o - since_slot).abs() <= RESUME_TOLERANCE),
                &format!(
                    "resumed entry {i} starts {since_slot} ms into the slot, so its offset_ms should be that (± {RESUME_TOLERANCE}), it is {:?}",
                    entry.offset_ms
                ),
            );
        }
        if i + 1 < entries.len() {
            log.expect_ended(entry, &[Ended::Interrupted]);
            let next_start = entries[i + 1].start;
            log.check(
                entry.end.is_some_and(|e| e <= next_start),
                &format!("interrupted entry {i} must be closed no later than the next one starts"),
            );
        } else {
            log.expect_ended(entry, &[Ended::Natural]);
            log.expect_end(entry, end, ms(RESUME_TOLERANCE));
        }
    }
}
