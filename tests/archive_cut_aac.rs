//! Cuts of a recorded AAC stream, read back by independent clients. The
//! archive holds AAC segments as the recorder keeps them (a stream's own
//! ADTS frames, made here by ffmpeg from a tone-coded programme and split
//! between frames); `onair archive cut` makes of a range whole ADTS frames
//! (the stream's own bytes, which ffprobe reads, as long as the range to
//! a frame) and a WAV with the programme's tones at the right instants.
//! The web's `/cut/…/source.aac` serves the same frames as `audio/aac`.
//! Bad input: an AAC range asked for as `.mp3`.

use crate::common;

use std::path::Path;
use std::process::Command;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use common::goertzel::{What, runs_of};
use common::tone::write_tones;
use common::*;
use onair::archive::names::{Codec, SegmentName, SegmentType, content_hash};

const RATE: u32 = 48_000;
/// Samples an ADTS frame of AAC-LC holds.
const FRAME: u32 = 1024;
/// Frames per segment: 375 of 1024 samples are 8 s at 48 kHz exactly.
const SEGMENT_FRAMES: usize = 375;
/// ffmpeg's AAC encoder starts with a frame of priming (its encoder
/// delay): the programme's tones come 1024 samples after the first sample
/// a decoder gives.
const PRIMING: TimeDelta = TimeDelta::microseconds(1024 * 1_000_000 / 48_000);

fn anchor() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 5, 11, 0, 0).unwrap()
}

/// The ADTS frames of `bytes` from its start; panics at anything else.
fn adts_frames(bytes: &[u8]) -> Vec<&[u8]> {
    let mut frames = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let b = &bytes[at..];
        assert!(
            b.len() >= 7 && b[0] == 0xFF && b[1] & 0xF6 == 0xF0,
            "no ADTS header at byte {at} of {}",
            bytes.len()
        );
        let length =
            (usize::from(b[3] & 0x03) << 11) | (usize::from(b[4]) << 3) | usize::from(b[5] >> 5);
        assert!(
            length > 7 && length <= b.len(),
            "a frame cut short at byte {at}"
        );
        frames.push(&b[..length]);
        at += length;
    }
    frames
}

/// The programme as ffmpeg's AAC in ADTS, split into 8 s segments in the
/// archive's layout under `quality_dir`; returns the stream's bytes.
fn archive_aac(dir: &Path, quality_dir: &Path) -> Vec<u8> {
    let wav = dir.join("programme.wav");
    write_tones(
        &wav,
        &[(500, 8.0), (1000, 8.0), (1500, 8.0), (2000, 8.0)],
        RATE,
        2,
    );
    let aac = dir.join("programme.aac");
    let made = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-y", "-i"])
        .arg(&wav)
        .args(["-c:a", "aac", "-b:a", "128k", "-f", "adts"])
        .arg(&aac)
        .status()
        .expect("ffmpeg");
    assert!(made.success());
    let stream = std::fs::read(&aac).unwrap();
    let frames = adts_frames(&stream);
    for (i, segment) in frames.chunks(SEGMENT_FRAMES).enumerate() {
        let bytes: Vec<u8> = segment.concat();
        let start = anchor() + TimeDelta::seconds(8 * i as i64);
        let name = SegmentName {
            start,
            duration: (segment.len() as u32 * FRAME) as f64 / f64::from(RATE),
            kind: SegmentType::Full,
            hash: content_hash(&bytes),
        };
        let folder = quality_dir.join(name.hour());
        std::fs::create_dir_all(&folder).unwrap();
        std::fs::write(folder.join(name.file_name_as(Codec::Aac)), &bytes).unwrap();
    }
    stream
}

/// Packets ffprobe counts in an AAC file.
fn ffprobe_packets(path: &Path) -> u64 {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-count_packets", "-select_streams", "a:0"])
        .args([
            "-show_entries",
            "stream=nb_read_packets,codec_name",
            "-of",
            "csv=p=0",
        ])
        .arg(path)
        .output()
        .expect("ffprobe");
    assert!(
        out.status.success(),
        "ffprobe cannot read {}",
        path.display()
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let (codec, packets) = text.trim().split_once(',').expect("codec,packets");
    assert_eq!(codec, "aac", "{text}");
    packets.parse().unwrap()
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

#[test]
fn an_aac_range_cuts_to_whole_adts_frames_and_to_a_wav_on_time() {
    let mut s = Station::new("archive-cut-aac");
    let dir = s.dir().to_path_buf();
    s.section("[archive]\ndir = \"archive\"\nchannel = \"fm\"\n");
    s.write_config();
    let stream = archive_aac(&dir, &dir.join("archive").join("partner").join("source"));
    let (from, to) = (
        anchor() + TimeDelta::seconds(5),
        anchor() + TimeDelta::seconds(19),
    );
    let config = s.config_path().display().to_string();
    let cut = |output: &Path| {
        onair(&[
            "archive",
            "cut",
            "--config",
            &config,
            "--channel",
            "partner",
            "--quality",
            "source",
            "--from",
            &rfc3339(from),
            "--to",
            &rfc3339(to),
            "--output",
            &output.display().to_string(),
        ])
    };

    // The stream's own frames: whole, the same bytes, one run of them.
    let aac = dir.join("cut.aac");
    let out = cut(&aac);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bytes = std::fs::read(&aac).unwrap();
    let frames = adts_frames(&bytes);
    let first = frames[0];
    let at = stream
        .windows(first.len())
        .position(|w| w == first)
        .expect("the cut's first frame is one of the stream's");
    assert_eq!(
        &stream[at..at + bytes.len()],
        &bytes[..],
        "the cut is the stream's frames as they were"
    );
    // The frames overlapping 5 s..19 s: from the one holding 5 s to the
    // one holding 19 s, so at most a frame longer either side.
    let frame = f64::from(FRAME) / f64::from(RATE);
    assert_eq!(
        at,
        adts_frames(&stream)[..(5.0 / frame) as usize]
            .concat()
            .len()
    );
    let packets = ffprobe_packets(&aac);
    assert_eq!(packets, frames.len() as u64);
    let seconds = packets as f64 * frame;
    assert!(
        (14.0..=14.0 + 2.0 * frame).contains(&seconds),
        "the cut lasts {seconds} s for a 14 s range"
    );

    // Decoded and trimmed to the sample: the tones at their instants.
    let wav = dir.join("cut.wav");
    let out = cut(&wav);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut reader = hound::WavReader::open(&wav).unwrap();
    let spec = reader.spec();
    assert_eq!((spec.sample_rate, spec.channels), (RATE, 2));
    let samples: Vec<f32> = reader
        .samples::<i16>()
        .map(|s| f32::from(s.unwrap()) / 32_768.0)
        .collect::<Vec<_>>()
        .chunks(2)
        .map(|c| (c[0] + c[1]) / 2.0)
        .collect();
    assert_eq!(samples.len(), 14 * RATE as usize, "exactly the range");
    let runs = runs_of(&samples, RATE, from, &[500, 1000, 1500, 2000]);
    let tone = |freq: u32| {
        runs.iter()
            .find(|r| r.what == What::Tone(freq))
            .unwrap_or_else(|| panic!("no {freq} Hz in {runs:?}"))
    };
    let near = |a: DateTime<Utc>, b: DateTime<Utc>| (a - b).abs() <= TimeDelta::milliseconds(5);
    let (low, mid, high) = (tone(500), tone(1000), tone(1500));
    assert!(
        near(low.start, from) && near(low.end, anchor() + TimeDelta::seconds(8) + PRIMING),
        "{runs:?}"
    );
    assert!(
        near(mid.start, anchor() + TimeDelta::seconds(8) + PRIMING),
        "{runs:?}"
    );
    assert!(
        near(mid.end, anchor() + TimeDelta::seconds(16) + PRIMING),
        "{runs:?}"
    );
    assert!(
        near(high.start, anchor() + TimeDelta::seconds(16) + PRIMING) && near(high.end, to),
        "{runs:?}"
    );
    assert!(runs.iter().all(|r| r.what != What::Tone(2000)), "{runs:?}");

    // Bad input: the AAC range asked for under an MP3 name.
    let out = cut(&dir.join("cut.mp3"));
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("the range is AAC, not MP3"), "{said}");
    assert!(!dir.join("cut.mp3").exists());

    // Over HTTP: the same frames, as audio/aac; the range as .mp3 is
    // refused with the same words.
    s.filler(440, 60.0);
    s.start();
    let range = format!("start={}&end={}", rfc3339(from), rfc3339(to));
    let url = format!("http://{}/cut/partner/source", s.web_address());
    let mut answer = ureq::get(format!("{url}.aac?{range}"))
        .call()
        .expect("GET the AAC cut");
    assert_eq!(answer.headers().get("content-type").unwrap(), "audio/aac");
    let served = answer
        .body_mut()
        .with_config()
        .limit(16 * 1024 * 1024)
        .read_to_vec()
        .unwrap();
    assert!(served == bytes, "the web's cut is not the command's");
    let refused = ureq::get(format!("{url}.mp3?{range}"))
        .config()
        .http_status_as_error(false)
        .build()
        .call()
        .unwrap();
    assert_eq!(refused.status().as_u16(), 406);
    let said = refused.into_body().read_to_string().unwrap();
    assert!(said.contains("the range is AAC, not MP3"), "{said}");

    // A job's cut named .mp3 (as a window's is, before its codec is
    // known) is written under the codec's extension, the same frames.
    let jobs_dir = dir.join("job-cuts");
    std::fs::create_dir_all(&jobs_dir).unwrap();
    let added = onair(&[
        "job",
        "add",
        "cut",
        "--config",
        &config,
        "--channel",
        "partner",
        "--quality",
        "source",
        "--from",
        &rfc3339(from),
        "--to",
        &rfc3339(to),
        "--output",
        &jobs_dir.join("window.mp3").display().to_string(),
    ]);
    assert!(
        added.status.success(),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );
    let made = jobs_dir.join("window.aac");
    let until = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !made.exists() && std::time::Instant::now() < until {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(made.exists(), "no {}", made.display());
    assert!(std::fs::read(&made).unwrap() == bytes);
    assert!(!jobs_dir.join("window.mp3").exists());
    s.terminate();
}
