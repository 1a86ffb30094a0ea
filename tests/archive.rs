//! The archive against the real binary: a tone programme airs, the box
//! keeps it as segments, and independent clients (ffmpeg, ffprobe) read
//! them back: names and hour folders, durations, the packed-audio
//! timestamp, the tone's start to within one MP3 frame; a folder the
//! archive cannot write leaves playout and the stream untouched, with an
//! alarm; and a box killed mid-segment keeps every earlier segment, lists
//! no temporary file after its restart, and shows the loss as one hole.

use crate::common;
use crate::common::icecast as server;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use common::*;
use onair::archive::id3;
use onair::archive::names::{SegmentName, SegmentType};
use server::{Icecast, Listener, SOURCE_PASSWORD};

const RATE: u32 = 48_000;
const TONE: u32 = 1000;
/// How close the tone's start in the archive must be to the programme's:
/// well inside one MP3 frame (24 ms at 48 kHz), and tight enough that the
/// codec's delay left uncounted (1105 samples, 23 ms) would fail.
const ON_TIME: TimeDelta = TimeDelta::microseconds(5_000);

/// Every segment under `<quality_dir>`, by start time, with its bytes.
fn segments(quality_dir: &Path) -> Vec<(SegmentName, PathBuf)> {
    let mut found = Vec::new();
    let hours = std::fs::read_dir(quality_dir)
        .unwrap_or_else(|e| panic!("no archive in {}: {e}", quality_dir.display()));
    for hour in hours.flatten() {
        for file in std::fs::read_dir(hour.path()).unwrap().flatten() {
            let file_name = file.file_name().to_string_lossy().into_owned();
            if file_name.ends_with(".tombstone") || file_name.ends_with(".peaks") {
                continue;
            }
            let relative = format!(
                "{}/{}",
                hour.file_name().to_string_lossy(),
                file.file_name().to_string_lossy()
            );
            let name = SegmentName::parse(&relative)
                .unwrap_or_else(|e| panic!("the archive holds a file that is no segment: {e}"));
            found.push((name, file.path()));
        }
    }
    found.sort_by_key(|(name, _)| name.start);
    found
}

/// The archive's line of the status, and every other output's.
fn archive_status(s: &Station) -> (serde_json::Value, Vec<serde_json::Value>) {
    let status = http::get(&s.web_address(), "/api/status").json();
    let outputs = status["outputs"].as_array().cloned().unwrap_or_default();
    let (archive, others): (Vec<_>, Vec<_>) = outputs.into_iter().partition(|o| {
        o["name"]
            .as_str()
            .is_some_and(|n| n.starts_with("archive "))
    });
    let archive = archive
        .into_iter()
        .next()
        .unwrap_or_else(|| panic!("the status lists no archive: {status}"));
    (archive, others)
}

#[test]
fn a_tone_programme_is_kept_as_timed_segments_that_decode_to_it() {
    let mut s = Station::new("archive-tone");
    let archive = s.dir().join("archive");
    s.sample_rate_hz(RATE)
        .clock("2026-03-02 00:59:52", 4.0)
        .section(&format!(
            "[archive]\ndir = \"{}\"\nchannel = \"test-fm\"\nkeep_days = 2\n",
            archive.display()
        ));
    s.programme("2026-03-02 01:00", "tone", TONE, 60.0, "wav");
    // A temporary file left by a box killed mid-write: discarded at start.
    let quality = archive.join("test-fm").join("128k");
    let leftover = quality
        .join("2026-03-02T00")
        .join("59:40.000000-6.0-temp-0123456789abcdef.mp3");
    std::fs::create_dir_all(leftover.parent().unwrap()).unwrap();
    std::fs::write(&leftover, b"half a segment").unwrap();
    // An hour that ended more than keep_days (2) ago, with a tombstone
    // beside its segment: retention deletes the segment, never the tombstone.
    let old_hour = quality.join("2026-02-27T10");
    let old_segment = old_hour.join(format!(
        "00:00.000000-6.0-full-{}.mp3",
        onair::archive::names::content_hash(b"old")
    ));
    let tombstone = old_hour.join("00:06.000000-6.0-full-x.tombstone");
    std::fs::create_dir_all(&old_hour).unwrap();
    std::fs::write(&old_segment, b"old").unwrap();
    std::fs::write(&tombstone, b"").unwrap();
    // Yesterday's last hour is within keep_days: kept.
    let kept_hour = quality.join("2026-03-01T23");
    let kept_segment = kept_hour.join(format!(
        "59:54.000000-6.0-full-{}.mp3",
        onair::archive::names::content_hash(b"kept")
    ));
    std::fs::create_dir_all(&kept_hour).unwrap();
    std::fs::write(&kept_segment, b"kept").unwrap();
    s.start();
    let start = s.local("2026-03-02 01:00");
    s.wait_until(start + TimeDelta::seconds(40));
    let (status, _) = archive_status(&s);
    s.terminate();

    assert!(
        !leftover.exists(),
        "the leftover temporary file is still there"
    );
    assert!(
        !old_segment.exists(),
        "retention kept a segment older than keep_days"
    );
    assert!(tombstone.exists(), "retention deleted a tombstone");
    assert!(
        kept_segment.exists(),
        "retention deleted a segment within keep_days"
    );
    std::fs::remove_dir_all(&old_hour).unwrap();
    std::fs::remove_dir_all(&kept_hour).unwrap();
    assert_eq!(status["frames_dropped"], 0, "{status}");
    assert_eq!(status["errors"], 0, "{status}");
    assert!(status["frames_out"].as_u64().unwrap_or(0) > 0, "{status}");

    let found = segments(&quality);
    assert!(found.len() >= 8, "only {} segments", found.len());
    // The box stopped mid-segment: the last one is partial, every other
    // full, 6.0 s, and each starts where the one before ends.
    let (last, others) = found.split_last().unwrap();
    assert_eq!(last.0.kind, SegmentType::Partial, "{}", last.1.display());
    for (i, (name, path)) in others.iter().enumerate() {
        assert_eq!(name.kind, SegmentType::Full, "{}", path.display());
        assert_eq!(name.duration, 6.0, "{}", path.display());
        let next = &found[i + 1].0;
        assert_eq!(
            next.start - name.start,
            TimeDelta::seconds(6),
            "{}",
            path.display()
        );
        // Each in the folder of the UTC hour it starts in.
        let hour = path
            .parent()
            .unwrap()
            .file_name()
            .unwrap()
            .to_string_lossy();
        assert_eq!(hour, name.start.format("%Y-%m-%dT%H").to_string());
    }
    let hours: std::collections::BTreeSet<String> = found.iter().map(|(n, _)| n.hour()).collect();
    assert_eq!(
        hours.into_iter().collect::<Vec<_>>(),
        ["2026-03-02T00", "2026-03-02T01"],
        "segments before and after 01:00 UTC"
    );

    // Each begins with the packed-audio timestamp of its name, and its
    // hash is that of its bytes.
    let mut stream = Vec::new();
    for (name, path) in &found {
        let bytes = std::fs::read(path).unwrap();
        let pts = id3::read_timestamp(&bytes)
            .unwrap_or_else(|| panic!("{} has no timestamp tag", path.display()));
        assert_eq!(pts, id3::pts_of_micros(name.start.timestamp_micros()));
        assert_eq!(
            name.hash,
            onair::archive::names::content_hash(&bytes),
            "{}",
            path.display()
        );
        assert_eq!(&bytes[id3::TAG_BYTES..id3::TAG_BYTES + 2], &[0xFF, 0xFB]);
        stream.extend_from_slice(&bytes[id3::TAG_BYTES..]);
    }
    // ffprobe reads a segment, tag and all, as 6 s of MP3.
    let duration = tone::duration(&found[1].1);
    assert!((duration - 6.0).abs() < 0.03, "ffprobe: {duration} s");

    // The segments one after another decode (ffmpeg) to the programme:
    // placed by the first segment's name, the tone starts at 01:00:00 to
    // within a few milliseconds (one MP3 frame is 24).
    let joined = s.dir().join("archive-joined.mp3");
    std::fs::write(&joined, &stream).unwrap();
    let samples = tone::decode(&joined, RATE);
    let first: DateTime<Utc> = found[0].0.start;
    let runs = goertzel::runs_of(&samples, RATE, first, &[TONE]);
    let run = runs
        .iter()
        .find(|r| r.what == What::Tone(TONE) && r.duration() > TimeDelta::seconds(5))
        .unwrap_or_else(|| panic!("no tone in the archive: {runs:?}"));
    assert!(
        (run.start - start).abs() <= ON_TIME,
        "the tone starts at {} in the archive, {} ms from the programme's start",
        run.start,
        (run.start - start).num_milliseconds()
    );
    assert!(
        run.end >= start + TimeDelta::seconds(36),
        "the tone ends at {} in the archive",
        run.end
    );
}

#[test]
fn an_archive_folder_that_is_a_file_leaves_playout_and_the_stream_untouched() {
    let icecast = Icecast::start("archive-unwritable");
    let mut s = Station::new("archive-unwritable");
    // Bad input: a file stands where the archive's folder should be, so
    // no segment can ever be written (as with a disk that is unplugged).
    let archive = s.dir().join("archive");
    std::fs::write(&archive, b"not a folder").unwrap();
    s.sample_rate_hz(RATE)
        .clock("2026-03-02 00:59:58", 1.0)
        .output(&format!(
            "kind = \"icecast\"\nhost = \"127.0.0.1\"\nport = {}\nmount = \"/live.mp3\"\n\
             password = \"{SOURCE_PASSWORD}\"\nbitrate = 128\n",
            icecast.port
        ))
        .section(&format!("[archive]\ndir = \"{}\"\n", archive.display()));
    s.programme("2026-03-02 01:00", "tone", TONE, 60.0, "wav");
    s.start();
    let up = icecast.wait_for(Duration::from_secs(3), |i| i.mount("/live.mp3").is_some());
    assert!(up.is_some(), "the stream never reached the server");
    let start = s.local("2026-03-02 01:00");
    s.wait_until(start + TimeDelta::seconds(1));
    let listener = Listener::start(&icecast.listen_url("/live.mp3"), RATE);
    // Two segments' time: both writes fail.
    s.wait_until(start + TimeDelta::seconds(14));
    let heard = listener.stop();
    let (archive_line, others) = archive_status(&s);
    let status = http::get(&s.web_address(), "/api/status").json();
    s.terminate();

    // Lost archive audio is silent on air, so it is an alarm: on the page,
    // the lamp and the as-run log.
    let alarm = status["alarms"]
        .as_array()
        .and_then(|a| a.iter().find(|a| a["kind"] == "archive"))
        .unwrap_or_else(|| panic!("no archive alarm: {status}"));
    let message = alarm["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("losing audio") && message.contains("disk"),
        "{alarm}"
    );
    assert_eq!(status["lamps"]["alarm"], true, "{status}");
    let log = String::from_utf8_lossy(&s.command("log", &["--json"]).stdout).into_owned();
    assert!(
        log.contains("\"archive\"") && log.contains("losing audio"),
        "the as-run log has no archive alarm: {log}"
    );

    // The archive counts what it could not keep.
    assert!(
        archive_line["errors"].as_u64().unwrap_or(0) >= 2,
        "{archive_line}"
    );
    assert!(
        archive_line["frames_dropped"].as_u64().unwrap_or(0) >= u64::from(RATE) * 6,
        "{archive_line}"
    );
    assert_eq!(std::fs::read(&archive).unwrap(), b"not a folder");
    // The stream and the WAV output lost nothing.
    for output in &others {
        assert_eq!(output["frames_dropped"], 0, "{output}");
        assert_eq!(output["errors"], 0, "{output}");
    }
    let stream = others
        .iter()
        .find(|o| o.get("stream").is_some())
        .unwrap_or_else(|| panic!("no stream in {others:?}"));
    assert_eq!(stream["stream"]["state"], "connected", "{stream}");
    let runs = goertzel::runs_of(&heard, RATE, Utc::now(), &[TONE]);
    let tone: f64 = runs
        .iter()
        .filter(|r| r.what == What::Tone(TONE))
        .map(|r| r.duration().num_milliseconds() as f64 / 1000.0)
        .sum();
    assert!(
        tone > 9.0,
        "the listener heard {tone} s of the tone: {runs:?}"
    );
    let aired = s.aired();
    let runs = s.runs(&aired);
    expect_run(&runs, TONE, start, aired.end(), TimeDelta::milliseconds(30));
}

/// A small tmpfs mounted for one test, unmounted when dropped.
struct SmallDisk {
    path: PathBuf,
}

impl SmallDisk {
    /// `None` where this machine does not let the test mount (not root).
    fn mount(path: &Path, size: &str) -> Option<SmallDisk> {
        std::fs::create_dir_all(path).unwrap();
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(path)
            .output()
            .is_ok_and(|o| o.status.success());
        mounted.then(|| SmallDisk {
            path: path.to_path_buf(),
        })
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.path).status();
    }
}

#[test]
fn a_disk_that_fills_up_keeps_a_partial_segment_and_playout_carries_on() {
    let mut s = Station::new("archive-full");
    let archive = s.dir().join("archive");
    // Bad input: a disk of 256 KiB, full after two and a half segments
    // of 128 kbit/s (96 KB each).
    let Some(_disk) = SmallDisk::mount(&archive, "256k") else {
        eprintln!("skipped: this machine does not let the test mount a small tmpfs");
        return;
    };
    s.sample_rate_hz(RATE)
        .clock("2026-03-02 00:59:58", 4.0)
        .section(&format!(
            "[archive]\ndir = \"{}\"\nchannel = \"fm\"\n",
            archive.display()
        ));
    s.programme("2026-03-02 01:00", "tone", TONE, 60.0, "wav");
    s.start();
    let start = s.local("2026-03-02 01:00");
    s.wait_until(start + TimeDelta::seconds(36));
    let (archive_line, others) = archive_status(&s);
    s.terminate();

    // The archive counts what the disk would not take...
    assert!(
        archive_line["errors"].as_u64().unwrap_or(0) >= 2,
        "{archive_line}"
    );
    assert!(
        archive_line["frames_dropped"].as_u64().unwrap_or(0) >= u64::from(RATE) * 6,
        "{archive_line}"
    );
    // ...keeps the whole frames that reached it as a partial segment that
    // decodes to its named length...
    let found = segments(&archive.join("fm").join("128k"));
    let full = found
        .iter()
        .filter(|(n, _)| n.kind == SegmentType::Full)
        .count();
    assert!(full >= 2, "{found:?}");
    let partial: Vec<_> = found
        .iter()
        .filter(|(n, _)| n.kind == SegmentType::Partial)
        .collect();
    assert_eq!(partial.len(), 1, "{found:?}");
    let (name, path) = partial[0];
    assert!(
        name.duration > 0.5 && name.duration < 6.0,
        "{}",
        path.display()
    );
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(name.hash, onair::archive::names::content_hash(&bytes));
    let duration = tone::duration(path);
    assert!(
        (duration - name.duration).abs() < 0.03,
        "ffprobe reads {duration} s in {}",
        path.display()
    );
    // ...and the WAV output lost nothing.
    for output in &others {
        assert_eq!(output["frames_dropped"], 0, "{output}");
        assert_eq!(output["errors"], 0, "{output}");
    }
    let aired = s.aired();
    let runs = s.runs(&aired);
    expect_run(&runs, TONE, start, aired.end(), TimeDelta::milliseconds(30));
}

#[test]
fn a_box_killed_mid_segment_keeps_every_earlier_segment_and_lists_no_temporary_file() {
    let mut s = Station::new("archive-kill");
    let archive = s.dir().join("archive");
    s.sample_rate_hz(RATE)
        .clock("2026-03-02 00:59:58", 4.0)
        .section(&format!(
            "[archive]\ndir = \"{}\"\nchannel = \"test-fm\"\n",
            archive.display()
        ));
    s.programme("2026-03-02 01:00", "tone", TONE, 120.0, "wav");
    s.start();
    let top = s.local("2026-03-02 01:00");
    // Three segments and half of a fourth: then a power cut.
    s.wait_until(top + TimeDelta::seconds(21));
    s.kill();
    let quality = archive.join("test-fm").join("128k");
    let before = segments(&quality);
    assert!(
        before.len() >= 3,
        "only {} segments before the kill",
        before.len()
    );
    let kept: Vec<(PathBuf, Vec<u8>)> = before
        .iter()
        .map(|(_, path)| (path.clone(), std::fs::read(path).unwrap()))
        .collect();
    // Bad input: what a kill in the middle of a write leaves.
    let hour = quality.join("2026-03-02T01");
    let temp = hour.join("00:21.000000-6.0-temp-0123456789abcdef.mp3");
    std::fs::write(&temp, &kept[0].1[..1000]).unwrap();

    s.start();
    s.wait_until(top + TimeDelta::seconds(45));
    let address = s.web_address();
    let listed: Vec<serde_json::Value> = ["2026-03-02T00", "2026-03-02T01"]
        .iter()
        .flat_map(|hour| {
            let names = http::get(&address, &format!("/files/test-fm/128k/{hour}")).json();
            names.as_array().cloned().unwrap_or_default()
        })
        .collect();
    let utc = |t: DateTime<Utc>| t.format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let range = format!(
        "/playlist/test-fm/128k.m3u8?start={}&end={}",
        utc(top + TimeDelta::seconds(1)),
        utc(top + TimeDelta::seconds(40))
    );
    let playlist = http::get(&address, &range);
    let decoded = Command::new("ffmpeg")
        .args(["-v", "error", "-i", &format!("http://{address}{range}")])
        .args(["-f", "null", "-"])
        .output()
        .expect("ffmpeg runs");
    s.terminate();

    assert!(!temp.exists(), "the half-written file is still there");
    assert!(
        !listed.iter().any(|n| n.to_string().contains("-temp-")),
        "a temporary file is listed: {listed:?}"
    );
    for (path, bytes) in &kept {
        assert_eq!(
            std::fs::read(path).ok().as_ref(),
            Some(bytes),
            "{} changed after the restart",
            path.display()
        );
        let name = path.file_name().unwrap().to_string_lossy();
        assert!(
            listed.iter().any(|n| n == name.as_ref()),
            "{name} is not listed: {listed:?}"
        );
    }
    // The stretch the kill lost is one hole in the playlist, and ffmpeg
    // still reads the range whole.
    assert_eq!(playlist.status, 200, "{}", playlist.body);
    assert_eq!(
        playlist.body.matches("#EXT-X-DISCONTINUITY").count(),
        1,
        "{}",
        playlist.body
    );
    assert!(
        decoded.status.success(),
        "ffmpeg: {}",
        String::from_utf8_lossy(&decoded.stderr)
    );
}
