//! Checks of the test harness itself: if the listener or the file readers
//! were wrong, every playout scenario would be wrong with them.

use crate::common;

use std::f64::consts::TAU;

use chrono::TimeDelta;
use common::bwf::{sample_at, write_bwf};
use common::goertzel::{self, runs_of};
use common::tone::{self, TONE_AMPLITUDE};
use common::*;

const RATE: u32 = 8000;
const CANDIDATES: [u32; 5] = [400, 700, 1000, 1300, 1600];

fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("onair-harness-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `(freq or 0 for silence, seconds)` pieces at full tone level.
fn signal(pieces: &[(u32, f64)]) -> Vec<f32> {
    let mut out = Vec::new();
    let mut phase = 0.0f64;
    for &(freq, seconds) in pieces {
        for _ in 0..(seconds * RATE as f64).round() as usize {
            out.push(if freq == 0 {
                0.0
            } else {
                (phase.sin() * TONE_AMPLITUDE) as f32
            });
            phase += TAU * freq as f64 / RATE as f64;
        }
    }
    out
}

fn assert_near(
    what: &str,
    got: chrono::DateTime<chrono::Utc>,
    want: chrono::DateTime<chrono::Utc>,
    tol_ms: i64,
) {
    let off = (got - want).num_microseconds().unwrap();
    assert!(
        off.abs() <= tol_ms * 1000,
        "{what}: {got} is {off} µs from {want} (allowed ± {tol_ms} ms)"
    );
}

#[test]
fn harness_goertzel_names_each_tone_and_places_changes_within_a_few_ms() {
    // Changes that fall mid-window (not on the 10 ms grid), a tone-to-tone
    // change with no silence, and tones only 300 Hz apart.
    let anchor = utc("2026-03-02T00:59:00Z");
    let samples = signal(&[
        (400, 1.0037),
        (0, 0.5021),
        (700, 0.7531),
        (1000, 0.5),
        (0, 1.0),
    ]);
    let runs = runs_of(&samples, RATE, anchor, &CANDIDATES);
    let whats: Vec<What> = runs.iter().map(|r| r.what).collect();
    assert_eq!(
        whats,
        [
            What::Tone(400),
            What::Silence,
            What::Tone(700),
            What::Tone(1000),
            What::Silence
        ],
        "{runs:#?}"
    );
    let edges = [0.0, 1.0037, 1.5058, 2.2589, 2.7589];
    for (run, edge) in runs.iter().zip(edges) {
        assert_near(
            &format!("start of {:?}", run.what),
            run.start,
            anchor + TimeDelta::microseconds((edge * 1e6) as i64),
            3,
        );
    }
}

#[test]
fn harness_goertzel_does_not_hear_a_stranger_in_the_last_sample_of_a_tone() {
    // A tone that ends on the first sample of a window (a programme cut
    // off by the box) leaves that window one loud sample where its weight
    // is zero: it is the change from tone to silence, not a short burst
    // of the last candidate.
    let anchor = utc("2026-03-02T00:59:00Z");
    let window = goertzel::window_len(RATE);
    for f in [400, 700] {
        let mut samples = signal(&[(f, 1.0)]);
        samples.truncate(samples.len() - window + 1);
        // The tone's last sample loud enough to be no silence on its own.
        *samples.last_mut().unwrap() = TONE_AMPLITUDE as f32;
        samples.extend(std::iter::repeat_n(0.0, 2 * window));
        let runs = runs_of(&samples, RATE, anchor, &CANDIDATES);
        let whats: Vec<What> = runs.iter().map(|r| r.what).collect();
        assert_eq!(
            whats,
            [What::Tone(f), What::Silence],
            "{f} Hz cut on a window's first sample: {runs:#?}"
        );
    }
}

#[test]
fn harness_goertzel_calls_noise_and_strangers_unknown_and_quiet_silence() {
    // White noise, a tone halfway between two candidates (1150 Hz), and a
    // candidate tone 60 dB down: none of them is a programme.
    let anchor = utc("2026-03-02T00:59:00Z");
    let noise: Vec<f32> = tone::random_bytes(8000, 3)
        .iter()
        .map(|&b| (b as f32 - 127.5) / 400.0)
        .collect();
    let runs = runs_of(&noise, RATE, anchor, &CANDIDATES);
    assert!(
        runs.iter().all(|r| r.what == What::Unknown),
        "noise: {runs:#?}"
    );

    let stranger = signal(&[(1150, 1.0)]);
    let runs = runs_of(&stranger, RATE, anchor, &CANDIDATES);
    assert!(
        runs.iter().all(|r| r.what == What::Unknown),
        "1150 Hz: {runs:#?}"
    );

    let quiet: Vec<f32> = signal(&[(700, 1.0)]).iter().map(|s| s / 1000.0).collect();
    let runs = runs_of(&quiet, RATE, anchor, &CANDIDATES);
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].what, What::Silence);
}

#[test]
fn harness_level_envelope_shows_a_fade_to_silence() {
    // A 2 s tone whose last second fades linearly to nothing, then silence:
    // the levels a fade check relies on.
    let dir = scratch("fade");
    let anchor = utc("2026-03-02T01:29:58Z");
    let mut samples = signal(&[(700, 2.0), (0, 0.5)]);
    let fade_from = RATE as usize;
    for i in 0..RATE as usize {
        samples[fade_from + i] *= 1.0 - i as f32 / RATE as f32;
    }
    let path = dir.join("out.wav");
    write_bwf(&path, RATE, "2026-03-02T01:29:58.000000Z", &samples, None);
    let aired = Aired::read(&path).unwrap();
    let full = aired.level_db(anchor, anchor + ms(500)).unwrap();
    let middle = aired
        .level_db(anchor + ms(1450), anchor + ms(1550))
        .unwrap();
    let last = aired
        .level_db(anchor + ms(1980), anchor + ms(2000))
        .unwrap();
    let after = aired
        .level_db(anchor + ms(2000), anchor + ms(2400))
        .unwrap();
    assert!((full - -9.0).abs() < 0.5, "full level {full}");
    assert!((middle - (full - 6.0)).abs() < 1.0, "halfway {middle}");
    assert!(last < -40.0, "last 20 ms {last}");
    assert_eq!(after, f64::NEG_INFINITY);
    let envelope = aired.envelope(anchor, anchor + ms(2000), ms(100));
    assert_eq!(envelope.len(), 20);
    let levels: Vec<f64> = envelope.iter().map(|(_, l)| l.unwrap()).collect();
    assert!(levels[10..].windows(2).all(|w| w[1] < w[0]), "{levels:?}");
    // Past the end nothing was recorded, which is not the same as silence.
    assert_eq!(aired.level_db(anchor + ms(2400), anchor + ms(2600)), None);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn harness_tone_writer_writes_the_asked_frequency_length_and_layout() {
    // 44.1 kHz mono and 8 kHz stereo, and steps whose lengths do not fall on
    // whole samples: lengths must add up without drifting.
    let dir = scratch("tone");
    let mono = dir.join("mono.wav");
    tone::write_tone(&mono, 1600, 1.5, 44_100, 1);
    let reader = hound::WavReader::open(&mono).unwrap();
    assert_eq!(reader.spec().channels, 1);
    assert_eq!(reader.spec().sample_rate, 44_100);
    assert_eq!(reader.duration(), 66_150);
    let samples: Vec<f32> = reader
        .into_samples::<i16>()
        .map(|s| s.unwrap() as f32 / 32768.0)
        .collect();
    let amp = goertzel::amplitude(&samples, 1600, 44_100);
    assert!(
        (amp - TONE_AMPLITUDE).abs() < 0.01,
        "1600 Hz amplitude {amp}"
    );
    assert!(goertzel::amplitude(&samples, 1300, 44_100) < 0.01);

    let steps = dir.join("steps.wav");
    let plan: Vec<(u32, f64)> = (0..30).map(|i| (CANDIDATES[i % 5], 0.10003)).collect();
    tone::write_tones(&steps, &plan, RATE, 2);
    let reader = hound::WavReader::open(&steps).unwrap();
    assert_eq!(reader.spec().channels, 2);
    assert_eq!(
        reader.duration(),
        (30.0 * 0.10003 * RATE as f64).round() as u32
    );
    let left: Vec<f32> = reader
        .into_samples::<i16>()
        .step_by(2)
        .map(|s| s.unwrap() as f32 / 32768.0)
        .collect();
    let anchor = utc("2026-03-02T00:00:00Z");
    let runs = runs_of(&left, RATE, anchor, &CANDIDATES);
    assert_eq!(runs.len(), 30, "{runs:#?}");
    assert_near(
        "last step",
        runs[29].start,
        anchor + TimeDelta::microseconds(2_900_870),
        3,
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn harness_encode_makes_every_format_ffmpeg_hears_as_the_same_tone() {
    // Each compressed format, decoded by an independent listener, must still
    // be the same tone for the same length, or format scenarios prove nothing.
    let dir = scratch("encode");
    let wav = dir.join("tone.wav");
    tone::write_tone(&wav, 1000, 2.0, 44_100, 2);
    for ext in ["mp3", "flac", "ogg", "m4a", "wav"] {
        let encoded = tone::encode(&wav, ext);
        assert!(encoded.extension().unwrap() == ext);
        let samples = tone::decode(&encoded, RATE);
        let anchor = utc("2026-03-02T00:00:00Z");
        let runs = runs_of(&samples, RATE, anchor, &CANDIDATES);
        let tone_runs: Vec<_> = runs.iter().filter(|r| r.what == What::Tone(1000)).collect();
        assert_eq!(tone_runs.len(), 1, ".{ext}: {runs:#?}");
        let length = tone_runs[0].duration().num_milliseconds();
        assert!(
            (length - 2000).abs() <= 60,
            ".{ext}: tone lasts {length} ms"
        );
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn harness_reader_uses_the_real_length_of_a_file_cut_by_a_crash() {
    // Headers that declare less than the file holds (refreshed before the
    // crash), nothing at all, and a half-written last frame.
    let dir = scratch("cut");
    let samples = signal(&[(700, 1.0)]);
    for declared in [Some(2000u32), Some(0), None] {
        let path = dir.join("out.wav");
        write_bwf(
            &path,
            RATE,
            "2026-03-02T00:59:00.123456Z",
            &samples,
            declared,
        );
        let mut bytes = std::fs::read(&path).unwrap();
        bytes.extend_from_slice(&[1, 2, 3]);
        std::fs::write(&path, &bytes).unwrap();
        let file = WavFile::read(&path).unwrap();
        assert_eq!(file.frames, 8000, "declared {declared:?}");
        assert_eq!(file.anchor, utc("2026-03-02T00:59:00.123456Z"));
        assert_eq!(file.end(), utc("2026-03-02T00:59:01.123456Z"));
        assert!(
            !file.finalised(),
            "declared {declared:?} with a partial frame"
        );
    }
    let path = dir.join("out.wav");
    write_bwf(&path, RATE, "2026-03-02T00:59:00Z", &samples, None);
    assert!(WavFile::read(&path).unwrap().finalised());
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn harness_reader_refuses_files_it_cannot_place_or_read() {
    // No anchor in bext, an anchor that is not a time, 8-bit audio, not a WAV.
    let dir = scratch("refuse");
    let samples = signal(&[(700, 0.1)]);
    let path = dir.join("out.wav");
    write_bwf(&path, RATE, "", &samples, None);
    let mut bytes = std::fs::read(&path).unwrap();
    let at = bytes.windows(7).position(|w| w == b"anchor=").unwrap();
    bytes[at..at + 7].copy_from_slice(b"xxxxxx=");
    std::fs::write(&path, &bytes).unwrap();
    assert!(WavFile::read(&path).unwrap_err().contains("anchor"));

    write_bwf(&path, RATE, "yesterday", &samples, None);
    assert!(
        WavFile::read(&path)
            .unwrap_err()
            .contains("not an RFC 3339")
    );

    write_bwf(&path, RATE, "2026-03-02T00:59:00Z", &samples, None);
    let mut bytes = std::fs::read(&path).unwrap();
    let fmt = bytes.windows(4).position(|w| w == b"fmt ").unwrap();
    bytes[fmt + 8 + 14] = 8;
    std::fs::write(&path, &bytes).unwrap();
    assert!(WavFile::read(&path).unwrap_err().contains("16-bit PCM"));

    std::fs::write(&path, b"ID3\x03 not a wave file").unwrap();
    assert!(WavFile::read(&path).unwrap_err().contains("RIFF"));
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn harness_merges_rotated_files_by_anchor_and_marks_the_gap() {
    // Files listed out of order, a gap while the box was down, a restart
    // whose anchor falls before the end of the previous file, and a file
    // of another name that must not be read.
    let dir = scratch("merge");
    let first = signal(&[(400, 1.0)]);
    let second = signal(&[(700, 1.0)]);
    let third = signal(&[(1000, 1.0)]);
    write_bwf(
        &dir.join("out.20260302T005900.wav"),
        RATE,
        "2026-03-02T00:59:00Z",
        &first,
        Some(100),
    );
    write_bwf(
        &dir.join("out.20260302T005902.wav"),
        RATE,
        "2026-03-02T00:59:02Z",
        &second,
        None,
    );
    write_bwf(
        &dir.join("out.wav"),
        RATE,
        "2026-03-02T00:59:02.750Z",
        &third,
        None,
    );
    write_bwf(
        &dir.join("outtake.wav"),
        RATE,
        "2026-03-02T00:00:00Z",
        &third,
        None,
    );
    let aired = Aired::read(&dir.join("out.wav")).unwrap();
    assert_eq!(aired.files.len(), 3);
    let runs = aired.runs(&CANDIDATES);
    let summary: Vec<(What, String, String)> = runs
        .iter()
        .map(|r| {
            (
                r.what,
                r.start.format("%S%.3f").to_string(),
                r.end.format("%S%.3f").to_string(),
            )
        })
        .collect();
    let expected = [
        (What::Tone(400), "00.000", "01.000"),
        (What::NotRecorded, "01.000", "02.000"),
        (What::Tone(700), "02.000", "02.750"),
        (What::Tone(1000), "02.750", "03.750"),
    ];
    let expected: Vec<(What, String, String)> = expected
        .iter()
        .map(|(w, a, b)| (*w, a.to_string(), b.to_string()))
        .collect();
    assert_eq!(summary, expected);
    let t = utc("2026-03-02T00:59:02.5Z");
    assert_eq!(sample_at(aired.files[1].anchor, RATE, t), 4000);
    assert_eq!(
        aired.level_db(utc("2026-03-02T00:59:00.5Z"), utc("2026-03-02T00:59:01.5Z")),
        None
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn harness_timeline_failure_prints_station_local_times() {
    // A check that fails must say what aired when, in the station's time.
    let runs = Runs::new(
        vec![Run {
            start: utc("2026-03-29T01:00:00Z"),
            end: utc("2026-03-29T01:00:20Z"),
            what: What::Tone(700),
        }],
        chrono_tz::Europe::London,
        [(700, "news".to_string())].into(),
    );
    let found = expect_run(
        &runs,
        700,
        utc("2026-03-29T01:00:00.010Z"),
        utc("2026-03-29T01:00:20Z"),
        ms(20),
    );
    assert_eq!(found.what, What::Tone(700));
    let message = std::panic::catch_unwind(|| {
        expect_start(&runs, 700, utc("2026-03-29T01:00:01Z"), ms(20));
    })
    .unwrap_err();
    let message = message.downcast_ref::<String>().unwrap();
    assert!(message.contains("2026-03-29 02:00:01.000 BST"), "{message}");
    assert!(
        message.contains("2026-03-29 02:00:00.000 BST → 2026-03-29 02:00:20.000 BST"),
        "{message}"
    );
    assert!(message.contains("700 Hz (news)"), "{message}");
    assert!(message.contains("-1000 ms"), "{message}");
}

#[test]
fn harness_reads_the_as_run_log_json() {
    // The contract's fields, a null end and ended, and a kind the contract
    // does not have (refused, naming the value).
    let json = r#"[
      {"id": 1, "start": "2026-03-29T00:59:00.000+00:00", "end": "2026-03-29T02:00:00+01:00",
       "kind": "scheduled", "title": "Before Change", "file": "/x/programmes/20260329_0059_before-change.wav",
       "offset_ms": 0, "ended": "faded", "reason": null, "scheduled": "2026-03-29T00:59:00+00:00"},
      {"id": 2, "start": "2026-03-29T02:00:00+01:00", "end": null, "kind": "resumed",
       "title": "lost-hour", "file": null, "offset_ms": 61000, "ended": null, "reason": null, "scheduled": null}
    ]"#;
    let log = AsRunLog::parse(json, chrono_tz::Europe::London).unwrap();
    assert_eq!(log.entries.len(), 2);
    let first = log.one("before-change");
    assert_eq!(first.kind, Kind::Scheduled);
    assert_eq!(first.ended, Some(Ended::Faded));
    log.expect_start(first, utc("2026-03-29T00:59:00.010Z"), ms(20));
    log.expect_end(first, utc("2026-03-29T01:00:00Z"), ms(0));
    assert_eq!(log.one("lost-hour").offset_ms, Some(61_000));
    log.expect_station_offsets();
    assert!(format!("{log}").contains("(open)"));

    let bad = json.replace("\"resumed\"", "\"replayed\"");
    let err = AsRunLog::parse(&bad, chrono_tz::Europe::London).unwrap_err();
    assert!(err.contains("replayed"), "{err}");

    let wrong_offset = json.replace(
        "2026-03-29T02:00:00+01:00\", \"end\": null",
        "2026-03-29T01:00:00+00:00\", \"end\": null",
    );
    let log = AsRunLog::parse(&wrong_offset, chrono_tz::Europe::London).unwrap();
    assert!(
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| log.expect_station_offsets()))
            .is_err()
    );
}

#[test]
fn harness_station_writes_the_contracts_files_and_cleans_up() {
    // File names from station-local times (including the hour that does
    // not exist in spring), the configuration keys, and a folder that is
    // gone after a test that passed.
    let dir;
    {
        let mut station = Station::new("selftest");
        station.clock("2026-03-29 00:58:30", 60.0);
        station.programme("2026-03-29 01:30", "lost-hour", 700, 1.0, "flac");
        station.programme_wav("2026-03-29 02:01", "after-change", 1000, 1.0, 44_100, 1);
        station.filler(2500, 1.0);
        dir = station.dir().to_path_buf();
        assert!(
            dir.join("programmes/20260329_0130_lost-hour.flac")
                .is_file()
        );
        assert!(
            dir.join("programmes/20260329_0201_after-change.wav")
                .is_file()
        );
        assert!(dir.join("filler/filler-2500hz.wav").is_file());
        let config: toml::Table = station.config_text().parse().unwrap();
        assert_eq!(
            config["clock"]["start"].as_str(),
            Some("2026-03-29T00:58:30")
        );
        assert_eq!(config["clock"]["speed"].as_float(), Some(60.0));
        assert_eq!(config["library"]["filler"].as_str(), Some("filler"));
        assert!(config["library"].get("emergency").is_none());
        assert_eq!(config["output"][0]["kind"].as_str(), Some("wav"));
        assert_eq!(config["audio"]["sample_rate"].as_integer(), Some(8000));
        assert_eq!(
            station.local("2026-03-29 02:01"),
            utc("2026-03-29T01:01:00Z")
        );
        assert_eq!(
            station.local("2026-10-25 01:30"),
            utc("2026-10-25T00:30:00Z")
        );
        assert!(
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(
                || station.local("2026-03-29 01:30")
            ))
            .is_err()
        );
    }
    assert!(
        !dir.exists(),
        "{} should be removed after a passing test",
        dir.display()
    );
}

#[test]
fn harness_simulated_clock_file_gives_station_time() {
    // The box's clock file, and one with the speed missing.
    let clock =
        common::SimulatedClock::parse("2026-03-29T00:58:30+00:00 60\n1774745910000000000\n")
            .unwrap();
    let epoch = std::time::UNIX_EPOCH + std::time::Duration::from_nanos(1_774_745_910_000_000_000);
    assert_eq!(clock.at(epoch), utc("2026-03-29T00:58:30Z"));
    assert_eq!(
        clock.at(epoch + std::time::Duration::from_millis(1500)),
        utc("2026-03-29T01:00:00Z")
    );
    assert!(common::SimulatedClock::parse("2026-03-29T00:58:30+00:00\n1\n").is_err());
}

fn fails(check: impl FnOnce()) -> bool {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(check)).is_err()
}

/// An output from 01:29:55: 400 Hz until :30 (faded over its last second
/// when `fade`), then `gap_ms` of silence, then 3 s of 700 Hz.
fn boundary_output(dir: &std::path::Path, fade: bool, gap_ms: u32) -> (Aired, Runs) {
    let mut samples = signal(&[(400, 5.0), (0, gap_ms as f64 / 1000.0), (700, 3.0)]);
    if fade {
        for i in 0..RATE as usize {
            samples[4 * RATE as usize + i] *= 1.0 - i as f32 / RATE as f32;
        }
    }
    let path = dir.join("out.wav");
    write_bwf(&path, RATE, "2026-03-02T01:29:55Z", &samples, None);
    let aired = Aired::read(&path).unwrap();
    let runs = Runs::new(
        aired.runs(&CANDIDATES),
        chrono_tz::Europe::London,
        Default::default(),
    );
    (aired, runs)
}

#[test]
fn harness_hard_boundary_checks_pass_a_clean_fade_and_catch_a_cut_or_a_gap() {
    // The checks of the slot-boundary scenarios against an ideal airing, a
    // programme cut without its fade, and a next start 40 ms late.
    let dir = scratch("boundary");
    let half = utc("2026-03-02T01:30:00Z");
    let (aired, runs) = boundary_output(&dir, true, 0);
    expect_fade_out(&aired, &runs, half, ms(1000));
    expect_run(&runs, 700, half, half + secs(3), ms(20));
    let first = expect_start(&runs, 400, utc("2026-03-02T01:29:55Z"), ms(20));
    assert!(
        first.end > half - ms(100) && first.end <= half + ms(5),
        "faded programme heard until {}",
        first.end
    );
    let both = [What::Tone(400), What::Tone(700)];
    expect_only(&runs, half - secs(2), half + secs(2), &both, ms(30));

    let (aired, runs) = boundary_output(&dir, false, 0);
    assert!(fails(|| expect_fade_out(&aired, &runs, half, ms(1000))));

    let (_, runs) = boundary_output(&dir, true, 40);
    assert!(fails(|| {
        expect_run(&runs, 700, half, half + secs(3), ms(20));
    }));
    assert!(fails(|| expect_only(
        &runs,
        half - secs(2),
        half + secs(2),
        &both,
        ms(30)
    )));
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn harness_stepped_programme_position_is_read_from_the_tone_changes() {
    // A resumed airing at the right offset, and one that came back 3 s
    // ahead of where it belongs.
    let dir = scratch("stepped");
    let programme = Stepped {
        slot: utc("2026-03-02T00:59:00Z"),
        step: secs(10),
        tones: CANDIDATES.to_vec(),
        steps: 12,
    };
    let plan = programme.plan();
    let before_crash: Vec<(u32, f64)> = plan[..2]
        .iter()
        .copied()
        .chain([(plan[2].0, 5.0)])
        .collect();
    write_bwf(
        &dir.join("out.20260302T005900.wav"),
        RATE,
        "2026-03-02T00:59:00Z",
        &signal(&before_crash),
        Some(0),
    );
    for (ahead, wrong) in [(0.0, false), (3.0, true)] {
        // Resumed at 00:59:54, 54 s (plus `ahead`) into the programme.
        let into = 54.0 + ahead;
        let resumed: Vec<(u32, f64)> = [(plan[5].0, 60.0 - into)]
            .into_iter()
            .chain(plan[6..9].iter().copied())
            .collect();
        write_bwf(
            &dir.join("out.wav"),
            RATE,
            "2026-03-02T00:59:54Z",
            &signal(&resumed),
            None,
        );
        let aired = Aired::read(&dir.join("out.wav")).unwrap();
        let runs = Runs::new(
            aired.runs(&CANDIDATES),
            chrono_tz::Europe::London,
            Default::default(),
        );
        let check = || {
            let change =
                programme.expect_position(&runs, aired.files[1].anchor, ms(1000), "resumed");
            assert_eq!(change, utc("2026-03-02T01:00:00Z"));
        };
        assert_eq!(fails(check), wrong, "resumed {ahead} s ahead:\n{runs}");
    }
    std::fs::remove_dir_all(dir).unwrap();
}
