//! Cuts from the archive of the real binary, read back by independent
//! clients: a WAV cut is the programme the box's own WAV output aired, to
//! the sample; an MP3 cut is whole frames over the range, which ffmpeg
//! decodes; and every refusal (holes, nothing there, bad times, bad
//! parameters, paths out of the archive) is the status and reason the
//! route promises.

use crate::common;

use std::process::Command;

use chrono::{DateTime, TimeDelta, Utc};
use common::bwf::WavFile;
use common::*;
use onair::archive::names::SegmentName;

const RATE: u32 = 48_000;

/// Low-passed noise: no two stretches alike, so a cut one sample off
/// matches the aired programme worse than one on time.
fn noise_wav(seconds: u32) -> Vec<u8> {
    let spec = hound::WavSpec {
        channels: 2,
        sample_rate: RATE,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut bytes = std::io::Cursor::new(Vec::new());
    let mut wav = hound::WavWriter::new(&mut bytes, spec).unwrap();
    let (mut state, mut level) = (0x2545_f491_u32, 0.0f32);
    for _ in 0..seconds * RATE {
        state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        let white = (state >> 8) as f32 / (1u32 << 24) as f32 - 0.5;
        level = 0.8 * level + 0.2 * white;
        let sample = (level * 20_000.0) as i16;
        wav.write_sample(sample).unwrap();
        wav.write_sample(sample).unwrap();
    }
    wav.finalize().unwrap();
    bytes.into_inner()
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// A successful GET's bytes.
fn fetch(address: &str, target: &str) -> Vec<u8> {
    let mut answer = ureq::get(format!("http://{address}{target}"))
        .call()
        .unwrap_or_else(|e| panic!("GET {target}: {e}"));
    answer
        .body_mut()
        .with_config()
        .limit(64 * 1024 * 1024)
        .read_to_vec()
        .unwrap_or_else(|e| panic!("GET {target}: {e}"))
}

/// A 16-bit stereo WAV's samples, mixed to mono as the box's output is read.
fn mono(wav: &[u8]) -> Vec<f32> {
    assert_eq!(&wav[..4], b"RIFF", "not a WAV");
    assert_eq!(u32::from_le_bytes(wav[24..28].try_into().unwrap()), RATE);
    let data = u32::from_le_bytes(wav[40..44].try_into().unwrap()) as usize;
    assert_eq!(wav.len(), 44 + data, "the header's size is the data's");
    wav[44..]
        .chunks_exact(4)
        .map(|f| {
            let l = f32::from(i16::from_le_bytes([f[0], f[1]]));
            let r = f32::from(i16::from_le_bytes([f[2], f[3]]));
            (l + r) / 65_536.0
        })
        .collect()
}

fn correlation(cut: &[f32], aired: &[f32], first: usize, lag: i64) -> f64 {
    let (mut xy, mut xx, mut yy) = (0.0f64, 0.0f64, 0.0f64);
    for (i, &x) in cut.iter().enumerate() {
        let y = f64::from(aired[(first as i64 + i as i64 + lag) as usize]);
        xy += f64::from(x) * y;
        xx += f64::from(x) * f64::from(x);
        yy += y * y;
    }
    xy / (xx * yy).sqrt()
}

#[test]
fn cuts_are_the_programme_as_aired_and_refusals_say_why() {
    let mut s = Station::new("archive-cut");
    let archive = s.dir().join("archive");
    s.sample_rate_hz(RATE)
        .clock("2026-03-02 00:59:50", 4.0)
        .section(&format!(
            "[archive]\ndir = \"{}\"\nchannel = \"test-fm\"\n",
            archive.display()
        ));
    s.programme_bytes("2026-03-02 01:00", "noise", "wav", &noise_wav(60));
    s.start();
    let top = s.local("2026-03-02 01:00");
    s.wait_until(top + TimeDelta::seconds(45));
    let address = s.web_address();

    // 10 s from 5.5 s into the programme, neither on a frame nor a segment.
    let (start, end) = (
        top + TimeDelta::milliseconds(5_500),
        top + TimeDelta::milliseconds(15_500),
    );
    let range = format!("start={}&end={}", rfc3339(start), rfc3339(end));
    let wav = fetch(&address, &format!("/cut/test-fm/128k.wav?{range}"));
    let cut = mono(&wav);
    assert_eq!(cut.len(), 10 * RATE as usize, "a 10 s WAV cut");

    // The box's own output aired the same programme: the cut is it, on
    // the same sample and on no other near it.
    let aired = WavFile::read(&s.output_path()).unwrap();
    // The output's anchor is to the microsecond: the nearest sample.
    let first = ((start - aired.anchor).num_microseconds().unwrap() as f64 * f64::from(RATE) / 1e6)
        .round() as usize;
    let on_time = correlation(&cut, &aired.samples, first, 0);
    assert!(on_time > 0.9, "the cut is not what aired: {on_time:.3}");
    for lag in (-48..=48).filter(|&l| l != 0) {
        let off = correlation(&cut, &aired.samples, first, lag);
        assert!(
            off < on_time,
            "the cut matches what aired {lag} samples off ({off:.3} ≥ {on_time:.3})"
        );
    }

    // The MP3 cut: whole frames only, over the range, decoded by ffmpeg.
    let mp3 = fetch(&address, &format!("/cut/test-fm/128k.mp3?{range}"));
    let (frames, bytes) = onair::archive::frames::count(&mp3);
    assert_eq!(bytes, mp3.len(), "an MP3 cut holds whole frames only");
    let seconds = frames as f64 * 1152.0 / f64::from(RATE);
    assert!(
        (10.0..10.0 + 2.0 * 0.024).contains(&seconds),
        "{frames} frames ({seconds:.3} s) for a 10 s range"
    );
    let file = s.dir().join("cut.mp3");
    std::fs::write(&file, &mp3).unwrap();
    let decoded = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(&file)
        .args(["-f", "null", "-"])
        .output()
        .expect("ffmpeg runs");
    assert!(
        decoded.status.success() && decoded.stderr.is_empty(),
        "ffmpeg: {}",
        String::from_utf8_lossy(&decoded.stderr)
    );

    // Bad input: a segment deleted in the middle of the range.
    let quality = archive.join("test-fm").join("128k");
    let hour = quality.join(top.format("%Y-%m-%dT%H").to_string());
    let middle = top + TimeDelta::seconds(10);
    let gone = std::fs::read_dir(&hour)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter_map(|n| SegmentName::parse(&format!("{}/{n}", hour.display())).ok())
        .find(|n| n.start <= middle && middle < n.end())
        .expect("a segment at 01:00:10");
    std::fs::remove_file(hour.join(gone.file_name())).unwrap();
    let holes = http::get(&address, &format!("/cut/test-fm/128k.wav?{range}"));
    assert_eq!(holes.status, 406, "{}", holes.body);
    let named = format!(
        "{} to {}",
        gone.start.format("%H:%M:%S%.3fZ"),
        gone.end().format("%Y-%m-%dT%H:%M:%S%.3fZ")
    );
    assert!(
        holes.body.contains(&named),
        "the hole is named {named}: {}",
        holes.body
    );
    let around = fetch(
        &address,
        &format!("/cut/test-fm/128k.wav?{range}&allow_holes=true"),
    );
    assert!(
        mono(&around).len() < cut.len(),
        "a cut around a hole is shorter"
    );

    // The same over SSH: `onair archive` reads the folder itself.
    let config = s.config_path().display().to_string();
    let (from, to) = (rfc3339(start), rfc3339(end));
    let listed = onair(&[
        "archive", "list", "--config", &config, "--from", &from, "--to", &to,
    ]);
    let text = String::from_utf8_lossy(&listed.stdout);
    assert!(listed.status.success(), "{listed:?}");
    assert!(
        text.lines().filter(|l| l.starts_with("hole: ")).count() == 1,
        "one hole listed:\n{text}"
    );
    let covered = onair(&[
        "archive", "coverage", "--config", &config, "--from", &from, "--to", &to,
    ]);
    let text = String::from_utf8_lossy(&covered.stdout);
    assert!(covered.status.success(), "{covered:?}");
    assert_eq!(
        text.lines().filter(|l| l.starts_with("  hole: ")).count(),
        1,
        "the deleted segment is the one hole:\n{text}"
    );
    assert!(text.contains("segments: "), "{text}");
    let everything = onair(&["archive", "list", "--config", &config]);
    let text = String::from_utf8_lossy(&everything.stdout);
    assert!(text.contains("test-fm/128k: 2 hour folder(s)"), "{text}");
    let file = s.dir().join("around.wav");
    let path = file.display().to_string();
    let refused = onair(&[
        "archive", "cut", "--config", &config, "--from", &from, "--to", &to, "--output", &path,
    ]);
    assert!(!refused.status.success() && !file.exists(), "{refused:?}");
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("allow_holes"),
        "{refused:?}"
    );
    let cut_here = onair(&[
        "archive",
        "cut",
        "--config",
        &config,
        "--from",
        &from,
        "--to",
        &to,
        "--output",
        &path,
        "--allow-holes",
    ]);
    assert!(cut_here.status.success(), "{cut_here:?}");
    assert_eq!(
        std::fs::read(&file).unwrap(),
        around,
        "the CLI's cut is the web's"
    );

    let day_before = format!(
        "start={}&end={}",
        rfc3339(top - TimeDelta::days(1)),
        rfc3339(top - TimeDelta::days(1) + TimeDelta::minutes(1))
    );
    let refusals = [
        // Nothing archived in the range, holes allowed or not.
        (
            format!("/cut/test-fm/128k.mp3?{day_before}"),
            406,
            "nothing",
        ),
        (
            format!("/cut/test-fm/128k.mp3?{day_before}&allow_holes=true"),
            406,
            "nothing",
        ),
        // The end before the start; no end; a time that is no time.
        (
            format!(
                "/cut/test-fm/128k.mp3?start={}&end={}",
                rfc3339(end),
                rfc3339(start)
            ),
            400,
            "after the start",
        ),
        (
            format!("/cut/test-fm/128k.mp3?start={}", rfc3339(start)),
            400,
            "both",
        ),
        (
            "/cut/test-fm/128k.mp3?start=tuesday&end=now".to_string(),
            400,
            "start=",
        ),
        (
            format!("/cut/test-fm/128k.mp3?{range}&allow_holes=maybe"),
            400,
            "true, false",
        ),
        // A WAV longer than 6 hours.
        (
            format!(
                "/cut/test-fm/128k.wav?start={}&end={}",
                rfc3339(start),
                rfc3339(start + TimeDelta::hours(7))
            ),
            400,
            "6 hours",
        ),
        // Names that are not there, or lead out of the archive.
        (
            format!("/cut/other-fm/128k.mp3?{range}"),
            404,
            "no other-fm",
        ),
        (
            format!("/cut/test-fm/128k.flac?{range}"),
            404,
            "QUALITY.mp3",
        ),
        (
            format!("/cut/..%2f..%2fetc/128k.mp3?{range}"),
            403,
            "period",
        ),
        (format!("/cut/%2e%2e/128k.mp3?{range}"), 403, "period"),
        (format!("/cut/test-fm/.128k.mp3?{range}"), 403, "period"),
    ];
    for (target, status, why) in refusals {
        let answer = http::get(&address, &target);
        assert_eq!(answer.status, status, "{target}: {}", answer.body);
        assert!(answer.body.contains(why), "{target}: {}", answer.body);
        assert!(!answer.body.contains("root:"), "{target}: {}", answer.body);
    }
    s.terminate();
}
