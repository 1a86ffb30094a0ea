//! Playout on time: order and start times, hard boundaries between slots,
//! filler and the emergency file in unscheduled time, and every programme
//! format. Station time runs 60× (a station minute is a real second).

use crate::common;

use chrono::{DateTime, Utc};
use common::*;

/// How close to its timestamp a programme must start on air.
const ON_TIME: i64 = 20;
/// How close the as-run log's times must be to what was heard.
const LOGGED: i64 = 50;

fn fillers(s: &Station) -> Vec<What> {
    s.filler_freqs().into_iter().map(What::Tone).collect()
}

/// Each logged filler entry is heard as its own track's tone.
fn expect_filler_entries_heard(s: &Station, log: &AsRunLog, runs: &Runs) {
    for entry in log.of_kind(Kind::Filler) {
        let name = entry.file_name().unwrap_or_default();
        let Some(freq) = s.filler_freq(name) else {
            log.fail(&format!(
                "filler entry {:?} names no filler track of this station",
                entry.title
            ));
        };
        let start = entry.start.to_utc();
        let end = entry.end.map_or(start, |e| e.to_utc());
        expect_at(runs, start + (end - start) / 2, What::Tone(freq));
    }
}

fn filler_entries_between(log: &AsRunLog, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<&AsRun> {
    log.of_kind(Kind::Filler)
        .into_iter()
        .filter(|e| e.start.to_utc() < to && e.end.is_none_or(|end| end.to_utc() > from))
        .collect()
}

#[test]
fn three_programmes_air_in_order_on_their_minute_with_silence_between() {
    // Neither filler nor an emergency file: unscheduled time must stay
    // silent, and the as-run log must hold the three programmes and nothing else.
    let mut s = Station::new("order");
    let plan = [
        ("2026-03-02 00:59", "breakfast", 400),
        ("2026-03-02 01:00", "news", 700),
        ("2026-03-02 01:01", "drive", 1000),
    ];
    for (when, slug, freq) in plan {
        s.programme(when, slug, freq, 40.0, "wav");
    }
    s.start();
    s.wait_until(s.local("2026-03-02 01:02:00"));
    s.terminate();

    let aired = s.aired();
    let runs = s.runs(&aired);
    let mut silent_from = aired.start();
    for (when, _, freq) in plan {
        let at = s.local(when);
        expect_only(
            &runs,
            silent_from,
            at - ms(ON_TIME),
            &[What::Silence],
            ms(0),
        );
        expect_run(&runs, freq, at, at + secs(40), ms(ON_TIME));
        silent_from = at + secs(40) + ms(ON_TIME);
    }
    expect_only(
        &runs,
        silent_from,
        s.local("2026-03-02 01:01:59"),
        &[What::Silence],
        ms(0),
    );

    // SIGTERM finalised the output: its header matches its length.
    let file = &aired.files[0];
    assert!(
        aired.files.len() == 1 && file.finalised(),
        "after SIGTERM {} should be the only output and finalised: declares {} data bytes, holds {} frames, {} bytes in all",
        file.path.display(),
        file.declared_data_bytes,
        file.frames,
        file.file_bytes
    );

    let log = s.log_json();
    log.check(
        log.entries.len() == 3,
        "the log should hold only the three programmes (no filler, no emergency)",
    );
    for (when, slug, _) in plan {
        let entry = log.one(slug);
        log.expect_kind(entry, Kind::Scheduled);
        log.expect_start(entry, s.local(when), ms(LOGGED));
        log.expect_end(entry, s.local(when) + secs(40), ms(LOGGED));
        log.expect_ended(entry, &[Ended::Natural]);
    }
    log.expect_station_offsets();
}

#[test]
fn a_short_first_half_is_followed_by_filler_faded_to_end_at_half_past() {
    // Two slots, :28 and :30; the first file lasts only 20 s, so filler
    // (three 45 s tracks) must fill 100 s and its last track must fade to
    // end exactly when the second slot starts.
    let mut s = Station::new("short-slot");
    s.clock("2026-03-02 01:27:00", 60.0);
    for freq in [2200, 2500, 2800] {
        s.filler(freq, 45.0);
    }
    s.programme("2026-03-02 01:28", "first-half", 400, 20.0, "wav");
    s.programme("2026-03-02 01:30", "second-half", 700, 40.0, "wav");
    s.start();
    s.wait_until(s.local("2026-03-02 01:31:00"));
    s.terminate();

    let first = s.local("2026-03-02 01:28");
    let half = s.local("2026-03-02 01:30");
    let aired = s.aired();
    let runs = s.runs(&aired);
    expect_run(&runs, 400, first, first + secs(20), ms(ON_TIME));
    // Filler follows at once (within 100 ms) and holds the air until :30.
    expect_only(
        &runs,
        first + secs(20) + ms(100),
        half - ms(30),
        &fillers(&s),
        ms(20),
    );
    expect_fade_out(&aired, &runs, half, ms(1000));
    expect_run(&runs, 700, half, half + secs(40), ms(ON_TIME));

    let log = s.log_json();
    let entry = log.one("first-half");
    log.expect_kind(entry, Kind::Scheduled);
    log.expect_start(entry, first, ms(LOGGED));
    log.expect_ended(entry, &[Ended::Natural]);
    let entry = log.one("second-half");
    log.expect_kind(entry, Kind::Scheduled);
    log.expect_start(entry, half, ms(LOGGED));
    log.expect_ended(entry, &[Ended::Natural]);
    let filling = filler_entries_between(&log, first + secs(20), half);
    log.check(
        filling.len() >= 3,
        "100 s between the slots need at least three 45 s filler entries",
    );
    log.expect_start(filling[0], first + secs(20), ms(100));
    let last = filling[filling.len() - 1];
    log.expect_end(last, half, ms(LOGGED));
    log.expect_ended(last, &[Ended::Faded]);
    expect_filler_entries_heard(&s, &log, &runs);
}

#[test]
fn an_overrunning_first_half_is_faded_out_to_end_exactly_at_half_past() {
    // The first file (150 s) is longer than its 120 s slot: it must fade
    // over the last second, be silent at :30, and the second must start at
    // :30 exactly with no gap.
    let mut s = Station::new("long-slot");
    s.clock("2026-03-02 01:27:00", 60.0);
    s.programme("2026-03-02 01:28", "long-first-half", 400, 150.0, "wav");
    s.programme("2026-03-02 01:30", "second-half", 700, 30.0, "wav");
    s.start();
    s.wait_until(s.local("2026-03-02 01:30:45"));
    s.terminate();

    let first = s.local("2026-03-02 01:28");
    let half = s.local("2026-03-02 01:30");
    let aired = s.aired();
    let runs = s.runs(&aired);
    let long = expect_start(&runs, 400, first, ms(ON_TIME));
    if long.end < half - ms(100) || long.end > half + ms(5) {
        runs.fail(&format!(
            "the overrunning programme should be heard until just before {} (the fade's last milliseconds are inaudible), it ended at {}",
            local(half, runs.tz),
            local(long.end, runs.tz)
        ));
    }
    expect_fade_out(&aired, &runs, half, ms(1000));
    expect_run(&runs, 700, half, half + secs(30), ms(ON_TIME));
    // No gap: at most the inaudible tail of the fade between the two.
    expect_only(
        &runs,
        half - secs(2),
        half + secs(2),
        &[What::Tone(400), What::Tone(700)],
        ms(30),
    );

    let log = s.log_json();
    let entry = log.one("long-first-half");
    log.expect_kind(entry, Kind::Scheduled);
    log.expect_start(entry, first, ms(LOGGED));
    log.expect_end(entry, half, ms(LOGGED));
    log.expect_ended(entry, &[Ended::Faded]);
    let entry = log.one("second-half");
    log.expect_start(entry, half, ms(LOGGED));
    log.expect_ended(entry, &[Ended::Natural]);
}

#[test]
fn filler_between_programmes_plays_every_track_before_repeating_one() {
    // Four 20 s filler tracks for a 210 s gap: they come round at least
    // twice, each round all four before any repeats, and the track cut by
    // the next programme fades so that programme starts on time.
    let mut s = Station::new("filler-rounds");
    for freq in [2200, 2500, 2800, 3100] {
        s.filler(freq, 20.0);
    }
    s.programme("2026-03-02 00:59", "morning", 400, 30.0, "wav");
    s.programme("2026-03-02 01:03", "noon", 700, 30.0, "wav");
    s.start();
    s.wait_until(s.local("2026-03-02 01:04:00"));
    s.terminate();

    let morning = s.local("2026-03-02 00:59");
    let noon = s.local("2026-03-02 01:03");
    let aired = s.aired();
    let runs = s.runs(&aired);
    expect_run(&runs, 400, morning, morning + secs(30), ms(ON_TIME));
    expect_only(
        &runs,
        morning + secs(30) + ms(100),
        noon - ms(30),
        &fillers(&s),
        ms(20),
    );
    expect_fade_out(&aired, &runs, noon, ms(1000));
    expect_run(&runs, 700, noon, noon + secs(30), ms(ON_TIME));

    let log = s.log_json();
    expect_filler_entries_heard(&s, &log, &runs);
    let order: Vec<u32> = log
        .of_kind(Kind::Filler)
        .iter()
        .filter_map(|e| s.filler_freq(e.file_name().unwrap_or_default()))
        .collect();
    log.check(
        order.len() == log.of_kind(Kind::Filler).len(),
        "every filler entry should name one of the filler files",
    );
    for (round, tracks) in order.chunks(4).enumerate() {
        let mut seen = tracks.to_vec();
        seen.sort();
        seen.dedup();
        log.check(
            seen.len() == tracks.len(),
            &format!(
                "filler round {} repeats a track before all four played: {tracks:?} Hz",
                round + 1
            ),
        );
    }
    let gap = filler_entries_between(&log, morning + secs(30), noon);
    log.check(
        gap.len() >= 10,
        "210 s of 20 s filler tracks need at least ten filler entries",
    );
    log.expect_start(gap[0], morning + secs(30), ms(100));
    let cut = gap[gap.len() - 1];
    log.expect_end(cut, noon, ms(LOGGED));
    log.expect_ended(cut, &[Ended::Faded]);
    for entry in [log.one("morning"), log.one("noon")] {
        log.expect_kind(entry, Kind::Scheduled);
        log.expect_ended(entry, &[Ended::Natural]);
    }
}

#[test]
fn without_filler_the_emergency_file_loops_through_unscheduled_time() {
    // No filler folder: the 7 s emergency file (5 s of 1900 Hz then 2 s of
    // 2200 Hz, so every loop can be counted) must cover the 100 s gap,
    // starting within 1 s of the first programme's end.
    let mut s = Station::new("emergency-loop");
    s.emergency_steps(&[(1900, 5.0), (2200, 2.0)]);
    s.programme("2026-03-02 00:59", "early", 400, 20.0, "wav");
    s.programme("2026-03-02 01:01", "late", 700, 20.0, "wav");
    s.start();
    s.wait_until(s.local("2026-03-02 01:01:30"));
    s.terminate();

    let early = s.local("2026-03-02 00:59");
    let late = s.local("2026-03-02 01:01");
    let aired = s.aired();
    let runs = s.runs(&aired);
    expect_run(&runs, 400, early, early + secs(20), ms(ON_TIME));
    let emergency = [What::Tone(1900), What::Tone(2200)];
    expect_only(&runs, early + secs(21), late - ms(30), &emergency, ms(20));
    let loops = runs
        .overlapping(early + secs(21), late)
        .filter(|r| r.what == What::Tone(2200) && (r.duration() - secs(2)).abs() <= ms(50))
        .count();
    if loops < 12 {
        runs.fail(&format!(
            "the 7 s emergency file should loop about 14 times in the 100 s gap; heard its 2 s ending {loops} times"
        ));
    }
    expect_run(&runs, 700, late, late + secs(20), ms(ON_TIME));

    let log = s.log_json();
    log.check(
        log.of_kind(Kind::Filler).is_empty(),
        "there is no filler, so the log must have no filler entry",
    );
    let covering = log
        .of_kind(Kind::Emergency)
        .into_iter()
        .filter(|e| {
            e.start.to_utc() < late && e.end.is_none_or(|end| end.to_utc() > early + secs(21))
        })
        .count();
    log.check(
        covering >= 1,
        "the emergency file on air between the programmes must be logged",
    );
    for entry in [log.one("early"), log.one("late")] {
        log.expect_kind(entry, Kind::Scheduled);
        log.expect_ended(entry, &[Ended::Natural]);
    }
    log.expect_start(log.one("late"), late, ms(LOGGED));
}

#[test]
fn every_supported_format_airs_on_its_minute() {
    // mp3, flac, ogg (Vorbis) and m4a (AAC) made by ffmpeg from 44.1 kHz
    // stereo, and a 44.1 kHz mono WAV: each decoded, resampled to the
    // station's 8 kHz and aired whole at its time.
    let mut s = Station::new("formats");
    let plan = [
        ("2026-03-02 00:59", "in-mp3", 400, "mp3"),
        ("2026-03-02 01:00", "in-flac", 700, "flac"),
        ("2026-03-02 01:01", "in-ogg", 1000, "ogg"),
        ("2026-03-02 01:02", "in-m4a", 1300, "m4a"),
    ];
    for (when, slug, freq, ext) in plan {
        s.programme(when, slug, freq, 30.0, ext);
    }
    s.programme_wav("2026-03-02 01:03", "in-mono-wav", 1600, 30.0, 44_100, 1);
    s.start();
    s.wait_until(s.local("2026-03-02 01:03:40"));
    s.terminate();

    let aired = s.aired();
    let runs = s.runs(&aired);
    let all = plan
        .into_iter()
        .chain([("2026-03-02 01:03", "in-mono-wav", 1600, "wav")]);
    for (when, slug, freq, ext) in all.clone() {
        let at = s.local(when);
        // AAC files begin with about 23 ms of encoder priming that a
        // decoder may play as silence.
        let tolerance = if ext == "m4a" { 50 } else { ON_TIME };
        let heard = expect_start(&runs, freq, at, ms(tolerance));
        if (heard.duration() - secs(30)).abs() > ms(50) {
            runs.fail(&format!(
                "{slug} should air for 30 s (± 50 ms), it aired for {} ms",
                heard.duration().num_milliseconds()
            ));
        }
    }

    let log = s.log_json();
    log.check(
        log.entries.len() == 5,
        "the log should hold exactly the five programmes",
    );
    for (when, slug, _, _) in all {
        let entry = log.one(slug);
        log.expect_kind(entry, Kind::Scheduled);
        log.expect_start(entry, s.local(when), ms(LOGGED));
        log.expect_ended(entry, &[Ended::Natural]);
    }
}
