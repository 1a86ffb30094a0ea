//! The archive as HLS against the real binary: three tone programmes air
//! across 11:00 UTC while a player fetches the range 10:59:00-11:01:30 as
//! it grows; then two segments are deleted to make a 12 s hole, and
//! independent clients read the range over HTTP: the
//! playlist (m3u8-rs), its packets (ffprobe) and its sound (ffmpeg, then
//! Goertzel filters). ffmpeg ignores the playlist's discontinuity and
//! follows the segments' own timestamps, so the hole is a jump in its
//! timeline of exactly the hole's length, and the hour is none.

use crate::common;

use std::process::Command;

use chrono::{DateTime, TimeDelta, Utc};
use common::*;
use onair::archive::names::SegmentName;

const RATE: u32 = 48_000;
/// One MP3 frame at 48 kHz: 1152 samples.
const FRAME: f64 = 0.024;
/// How far ffmpeg 5.1 may place a frame from its time near a segment's
/// end (see below).
const FFMPEG_SLACK: f64 = 2.0 * FRAME;
/// How close a tone change heard through HLS must be to the as-run log's
/// time: well inside one MP3 frame.
const ON_TIME: TimeDelta = TimeDelta::milliseconds(10);
const PROGRAMMES: [(&str, &str, u32); 3] = [
    ("2026-01-05 10:59", "first", 500),
    ("2026-01-05 11:00", "second", 700),
    ("2026-01-05 11:01", "third", 900),
];
const RANGE_START: &str = "2026-01-05T10:59:00Z";
const RANGE_END: &str = "2026-01-05T11:01:30Z";

/// `%3A` and the like back to the characters they stand for.
fn decode_uri(uri: &str) -> String {
    let bytes = uri.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
            out.push(u8::from_str_radix(hex, 16).unwrap());
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

/// The packets ffprobe reads from `url`: (DTS, duration), seconds.
fn ffprobe_packets(url: &str) -> Vec<(f64, f64)> {
    let output = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "a:0", "-show_entries"])
        .args(["packet=dts_time,duration_time", "-of", "csv=p=0"])
        .arg(url)
        .output()
        .unwrap_or_else(|e| panic!("cannot run ffprobe (is it installed?): {e}"));
    assert!(
        output.status.success(),
        "ffprobe could not read {url}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let (dts, duration) = line
                .split_once(',')
                .unwrap_or_else(|| panic!("ffprobe printed {line:?}"));
            let number = |text: &str| {
                text.trim()
                    .parse::<f64>()
                    .unwrap_or_else(|e| panic!("ffprobe printed {line:?}: {e}"))
            };
            (number(dts), number(duration))
        })
        .collect()
}

/// What ffmpeg hears from `url`, as `ffmpeg -i URL -f wav -` writes it:
/// mono samples at 48 kHz.
fn ffmpeg_wav(url: &str) -> Vec<f32> {
    let output = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-i", url])
        .args([
            "-ac",
            "1",
            "-ar",
            "48000",
            "-c:a",
            "pcm_s16le",
            "-f",
            "wav",
            "-",
        ])
        .output()
        .unwrap_or_else(|e| panic!("cannot run ffmpeg (is it installed?): {e}"));
    assert!(
        output.status.success(),
        "ffmpeg could not read {url}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    // Written to a pipe, the WAV's sizes are unknown: its samples are
    // everything after the `data` chunk's header.
    let wav = output.stdout;
    let data = wav
        .windows(4)
        .position(|w| w == b"data")
        .unwrap_or_else(|| panic!("ffmpeg wrote no WAV data chunk"));
    wav[data + 8..]
        .chunks_exact(2)
        .map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) / 32768.0)
        .collect()
}

/// The run of `tone` among `runs`, failing with all of them shown.
fn tone_run(runs: &[Run], tone: u32, what: &str) -> Run {
    *runs
        .iter()
        .filter(|r| r.what == What::Tone(tone) && r.duration() > TimeDelta::seconds(1))
        .max_by_key(|r| r.duration())
        .unwrap_or_else(|| panic!("no {tone} Hz tone {what}: {runs:?}"))
}

fn expect_near(found: DateTime<Utc>, expected: DateTime<Utc>, what: &str) {
    assert!(
        (found - expected).abs() <= ON_TIME,
        "{what}: heard at {found}, aired at {expected} ({} ms apart)",
        (found - expected).num_milliseconds()
    );
}

#[test]
fn ffmpeg_reads_a_range_across_an_hour_and_a_hole_as_it_aired() {
    let mut s = Station::new("archive-hls");
    let archive = s.dir().join("archive");
    s.sample_rate_hz(RATE)
        .clock("2026-01-05 10:58:40", 4.0)
        .section(&format!(
            "[archive]\ndir = \"{}\"\nchannel = \"fm\"\n",
            archive.display()
        ));
    for (when, slug, tone) in PROGRAMMES {
        s.programme(when, slug, tone, 60.0, "wav");
    }
    s.start();
    let address = s.web_address();
    let target = format!("/playlist/fm/128k.m3u8?start={RANGE_START}&end={RANGE_END}");
    // Fetched as it airs, a player's way (every 1.5 s of station time),
    // until the range is over: its last segment has had its 6 s and the
    // writer's 10 s margin.
    // From when the archive has written its first segment (before the
    // range begins, so the first fetches list nothing yet).
    s.wait_until(expect::utc("2026-01-05T10:58:50Z"));
    let mut fetched = Vec::new();
    let over = expect::utc(RANGE_END) + TimeDelta::seconds(20);
    while s.now() < over {
        let answer = http::get(&address, &target);
        assert_eq!(answer.status, 200, "{}", answer.body);
        fetched.push(answer.body);
        let next = s.now() + TimeDelta::milliseconds(1500);
        s.wait_until(next.min(over));
    }
    fetched.push(http::get(&address, &target).body);

    // A hole: the segments that start between 11:00:30 and 11:00:42.
    let hour = archive.join("fm").join("128k").join("2026-01-05T11");
    let mut deleted: Vec<SegmentName> = Vec::new();
    for entry in std::fs::read_dir(&hour).unwrap().flatten() {
        let file = entry.file_name().to_string_lossy().to_string();
        let Ok(name) = SegmentName::parse(&format!("2026-01-05T11/{file}")) else {
            continue;
        };
        let from = name.start - expect::utc("2026-01-05T11:00:00Z");
        if (TimeDelta::seconds(30)..TimeDelta::seconds(42)).contains(&from) {
            std::fs::remove_file(entry.path()).unwrap();
            deleted.push(name);
        }
    }
    deleted.sort_by_key(|n| n.start);
    assert_eq!(deleted.len(), 2, "{deleted:?}");
    let (hole_start, hole_end) = (deleted[0].start, deleted[1].end());
    assert_eq!(hole_end - hole_start, TimeDelta::seconds(12));

    let url = format!("http://{address}{target}");
    let answer = http::get(&address, &target);
    let probed = ffprobe_packets(&url);
    let heard = ffmpeg_wav(&url);
    s.terminate();
    let log = s.log_json();

    // While the range aired its playlist only grew at its end, and ended.
    for pair in fetched.windows(2) {
        assert!(
            pair[1].starts_with(&pair[0]),
            "a later fetch changed an earlier line:\nbefore:\n{}\nafter:\n{}",
            pair[0],
            pair[1]
        );
    }
    let grew: std::collections::BTreeSet<usize> = fetched.iter().map(String::len).collect();
    assert!(grew.len() >= 20, "the playlist took {} forms", grew.len());
    assert!(!fetched[0].contains("#EXTINF"), "{}", fetched[0]);
    assert!(!fetched[0].contains("#EXT-X-ENDLIST"), "{}", fetched[0]);
    assert!(fetched[fetched.len() - 1].ends_with("#EXT-X-ENDLIST\n"));

    // The playlist after the hole was made, as m3u8-rs reads it.
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(
        answer.header("content-type"),
        Some("application/vnd.apple.mpegurl")
    );
    let playlist = m3u8_rs::parse_media_playlist_res(answer.body.as_bytes())
        .unwrap_or_else(|e| panic!("m3u8-rs cannot read it: {e:?}\n{}", answer.body));
    assert!(playlist.end_list, "{}", answer.body);
    let segments: Vec<(SegmentName, &m3u8_rs::MediaSegment)> = playlist
        .segments
        .iter()
        .map(|seg| {
            let path = decode_uri(&seg.uri);
            let relative = path
                .strip_prefix("/segments/fm/128k/")
                .unwrap_or_else(|| panic!("{} is not a segment of fm/128k", seg.uri));
            (SegmentName::parse(relative).unwrap(), seg)
        })
        .collect();
    for (name, seg) in &segments {
        assert!(
            seg.duration.round() as u64 <= playlist.target_duration
                && f64::from(seg.duration).ceil() as u64 <= playlist.target_duration,
            "{} s, target {}",
            seg.duration,
            playlist.target_duration
        );
        assert_eq!(seg.program_date_time.unwrap().to_utc(), name.start);
        assert!((f64::from(seg.duration) - name.duration).abs() < 0.001);
    }
    let hours: Vec<String> = segments.iter().map(|(n, _)| n.hour()).collect();
    assert!(hours.contains(&"2026-01-05T10".to_string()), "{hours:?}");
    assert!(hours.contains(&"2026-01-05T11".to_string()), "{hours:?}");
    let (first, last) = (&segments[0].0, &segments[segments.len() - 1].0);
    assert!(first.start <= expect::utc(RANGE_START) && first.end() > expect::utc(RANGE_START));
    assert!(last.start < expect::utc(RANGE_END) && last.end() >= expect::utc(RANGE_END));
    // One discontinuity, before the first segment after the hole; every
    // other segment starts where the one before ends.
    let marked: Vec<usize> = (0..segments.len())
        .filter(|i| segments[*i].1.discontinuity)
        .collect();
    let after_hole = segments
        .iter()
        .position(|(n, _)| n.start == hole_end)
        .unwrap_or_else(|| panic!("no segment starts at the hole's end {hole_end}"));
    assert_eq!(marked, [after_hole], "{}", answer.body);
    for pair in segments.windows(2) {
        let gap = pair[1].0.start - pair[0].0.end();
        let expected = if pair[1].0.start == hole_end {
            TimeDelta::seconds(12)
        } else {
            TimeDelta::zero()
        };
        assert_eq!(
            gap,
            expected,
            "{} after {}",
            pair[1].0.path(),
            pair[0].0.path()
        );
    }
    let listed: f64 = segments.iter().map(|(n, _)| n.duration).sum();

    // ffprobe: every frame the playlist lists, on a timeline that never
    // goes back, runs on through the hour and jumps once, by the hole's
    // 12 s. ffmpeg 5.1 stamps the frame or two its parser still holds when
    // a segment ends with the next segment's timestamp (it does so for
    // these files read from disk too), so a frame's time may be up to two
    // frames off; it never accumulates.
    let expected_frames = (listed / FRAME).round() as usize;
    assert_eq!(probed.len(), expected_frames, "packets read by ffprobe");
    assert!(probed.iter().all(|(_, d)| (d - FRAME).abs() < 1e-6));
    let before: f64 = segments[..after_hole].iter().map(|(n, _)| n.duration).sum();
    let frames_before = (before / FRAME).round() as usize;
    let origin = probed[0].0;
    let mut jumps = Vec::new();
    for (k, pair) in probed.windows(2).enumerate() {
        let ((dts, duration), (next, _)) = (pair[0], pair[1]);
        assert!(next >= dts, "DTS {next} after {dts}");
        let jump = next - (dts + duration);
        if jump > FFMPEG_SLACK + FRAME / 2.0 {
            jumps.push((k + 1, jump));
        }
    }
    for (k, (dts, _)) in probed.iter().enumerate() {
        let hole = if k >= frames_before { 12.0 } else { 0.0 };
        let expected = origin + k as f64 * FRAME + hole;
        assert!(
            (dts - expected).abs() <= FFMPEG_SLACK + 1e-6,
            "frame {k} of {}: DTS {dts}, expected {expected}",
            probed.len()
        );
    }
    assert_eq!(jumps.len(), 1, "jumps in the DTS: {jumps:?}");
    let (at, jump) = jumps[0];
    assert!(
        at.abs_diff(frames_before) <= 2 && (jump - 12.0).abs() <= FFMPEG_SLACK,
        "a jump of {jump} s at frame {at}; the hole is after frame {frames_before}"
    );

    // ffmpeg: the sound, the hole closed up; each side placed by the
    // program date-time of its first segment.
    let rate = f64::from(RATE);
    assert!(
        (heard.len() as f64 / rate - listed).abs() <= FRAME,
        "ffmpeg decodes {} s, the playlist lists {listed} s",
        heard.len() as f64 / rate
    );
    let split = (before * rate).round() as usize;
    let tones = PROGRAMMES.map(|(_, _, tone)| tone);
    let runs_before = goertzel::runs_of(&heard[..split], RATE, first.start, &tones);
    let runs_after = goertzel::runs_of(&heard[split..], RATE, hole_end, &tones);
    let aired = |slug: &str| log.one(slug).start.to_utc();

    let first_tone = tone_run(&runs_before, 500, "before the hole");
    expect_near(
        first_tone.start,
        aired("first"),
        "the first programme's start",
    );
    expect_near(first_tone.end, aired("second"), "the first programme's end");
    let second_tone = tone_run(&runs_before, 700, "before the hole");
    expect_near(
        second_tone.start,
        aired("second"),
        "the second programme's start, at 11:00",
    );
    assert!(
        second_tone.end >= hole_start - TimeDelta::milliseconds(50),
        "the second programme stops at {} before the hole at {hole_start}: {runs_before:?}",
        second_tone.end
    );
    let second_again = tone_run(&runs_after, 700, "after the hole");
    assert!(
        second_again.start <= hole_end + TimeDelta::milliseconds(100),
        "after the hole the second programme resumes at {}, not {hole_end}: {runs_after:?}",
        second_again.start
    );
    expect_near(
        second_again.end,
        aired("third"),
        "the second programme's end",
    );
    let third_tone = tone_run(&runs_after, 900, "after the hole");
    expect_near(
        third_tone.start,
        aired("third"),
        "the third programme's start",
    );
    assert!(
        third_tone.end >= expect::utc(RANGE_END),
        "the third programme stops at {} in a range to {RANGE_END}",
        third_tone.end
    );
    // Nothing before the first programme but silence (the range starts
    // a few seconds before it).
    assert!(
        runs_before
            .iter()
            .filter(|r| r.end <= aired("first") - ON_TIME)
            .all(|r| r.what == What::Silence),
        "{runs_before:?}"
    );
}

/// The segments' timestamps are 33-bit 90 kHz ticks of the Unix epoch,
/// which wrap to 0 every 26 h 30 min 43.7 s; one wrap fell at
/// 2026-11-30T17:31:19.469511Z (18 818 × 2^33 ticks). A tone airs across
/// it and ffmpeg, reading the range as HLS, hears it unbroken: a timeline
/// that goes on through the wrap, neither back by 26 h nor with a hole.
#[test]
fn a_range_across_the_timestamps_wrap_plays_on_unbroken() {
    const WRAP: &str = "2026-11-30T17:31:19.469511Z";
    let wrap = expect::utc(WRAP);
    let wrap_micros = wrap.timestamp_micros();
    assert_eq!(
        onair::archive::id3::pts_of_micros(wrap_micros),
        0,
        "the wrap's instant"
    );
    assert_eq!(
        onair::archive::id3::pts_of_micros(wrap_micros - 1_000_000),
        onair::archive::id3::PTS_WRAP - 90_000
    );
    let mut s = Station::new("archive-hls-wrap");
    let archive = s.dir().join("archive");
    s.sample_rate_hz(RATE)
        .clock("2026-11-30 17:30:50", 4.0)
        .section(&format!(
            "[archive]\ndir = \"{}\"\nchannel = \"fm\"\n",
            archive.display()
        ));
    s.programme("2026-11-30 17:31", "across", 600, 60.0, "wav");
    s.start();
    let (range_start, range_end) = ("2026-11-30T17:31:05Z", "2026-11-30T17:31:35Z");
    s.wait_until(expect::utc(range_end) + TimeDelta::seconds(20));
    let address = s.web_address();
    let target = format!("/playlist/fm/128k.m3u8?start={range_start}&end={range_end}");
    let answer = http::get(&address, &target);
    let url = format!("http://{address}{target}");
    let probed = ffprobe_packets(&url);
    let heard = ffmpeg_wav(&url);
    s.terminate();

    assert_eq!(answer.status, 200, "{}", answer.body);
    let playlist = m3u8_rs::parse_media_playlist_res(answer.body.as_bytes())
        .unwrap_or_else(|e| panic!("m3u8-rs cannot read it: {e:?}\n{}", answer.body));
    assert!(
        !playlist.segments.iter().any(|s| s.discontinuity),
        "{}",
        answer.body
    );
    let names: Vec<SegmentName> = playlist
        .segments
        .iter()
        .map(|seg| {
            let path = decode_uri(&seg.uri);
            SegmentName::parse(path.strip_prefix("/segments/fm/128k/").unwrap()).unwrap()
        })
        .collect();
    assert!(
        names.iter().any(|n| n.start < wrap && n.end() > wrap),
        "no segment spans the wrap: {names:?}"
    );
    let first = names[0].start;
    let listed: f64 = names.iter().map(|n| n.duration).sum();

    // Every frame, on a timeline that never goes back and never jumps.
    let expected_frames = (listed / FRAME).round() as usize;
    assert_eq!(probed.len(), expected_frames, "packets read by ffprobe");
    let origin = probed[0].0;
    for (k, (dts, _)) in probed.iter().enumerate() {
        let expected = origin + k as f64 * FRAME;
        assert!(
            (dts - expected).abs() <= FFMPEG_SLACK + 1e-6,
            "frame {k} of {}: DTS {dts}, expected {expected} (the wrap is {} s in)",
            probed.len(),
            (wrap - first).as_seconds_f64()
        );
    }
    // The tone all through, from the range's start to its end.
    assert!(
        (heard.len() as f64 / f64::from(RATE) - listed).abs() <= FRAME,
        "ffmpeg decodes {} s, the playlist lists {listed} s",
        heard.len() as f64 / f64::from(RATE)
    );
    let runs = goertzel::runs_of(&heard, RATE, first, &[600]);
    let tone = tone_run(&runs, 600, "across the wrap");
    assert!(
        tone.start <= expect::utc(range_start) + ON_TIME
            && tone.end >= expect::utc(range_end) - ON_TIME,
        "the tone is heard only from {} to {}: {runs:?}",
        tone.start,
        tone.end
    );
}
