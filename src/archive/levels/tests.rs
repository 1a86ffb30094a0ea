use std::path::PathBuf;
use std::sync::atomic::Ordering;

use chrono::{DateTime, Utc};

use super::*;
use crate::archive::listing;
use crate::archive::peaks::{self, BUCKET_MICROS};
use crate::archive::writer::{ArchiveSettings, start};
use crate::config::BitrateMode;
use crate::output::chunk_queue::Mp3Chunk;
use crate::output::encoder::{Mp3Encoder, Mp3Settings};

const RATE: u32 = 48_000;

/// Bursts of a 1 kHz tone: `on` ms at half scale, then `off` ms of
/// silence, over and over, as interleaved stereo; the right channel
/// louder than the left, so both count.
fn bursts(seconds: f32, on: usize, off: usize) -> Vec<f32> {
    let period = (on + off) * RATE as usize / 1000;
    let lit = on * RATE as usize / 1000;
    (0..(RATE as f32 * seconds) as usize)
        .flat_map(|n| {
            let x = if n % period < lit {
                (n as f32 * 2.0 * std::f32::consts::PI * 1000.0 / RATE as f32).sin()
            } else {
                0.0
            };
            [x * 0.3, x * 0.5]
        })
        .collect()
}

/// The extremes of the frames `[from, to)` of interleaved `pcm`.
fn extremes(pcm: &[f32], from: usize, to: usize) -> (i8, i8) {
    let to = to.min(pcm.len() / CHANNELS);
    let (low, high) = pcm[from * CHANNELS..to * CHANNELS]
        .iter()
        .fold((0.0f32, 0.0f32), |(l, h), &s| (l.min(s), h.max(s)));
    (scale(low), scale(high))
}

/// Feeds `pcm` through a meter in pieces of the sizes given in turn,
/// handing out after each piece, into a track.
fn measure(pcm: &[f32], pieces: &[usize]) -> LevelTrack {
    let mut meter = LevelMeter::default();
    let mut track = LevelTrack::default();
    let mut at = 0;
    for &frames in pieces.iter().cycle() {
        if at >= pcm.len() {
            break;
        }
        let end = (at + frames * CHANNELS).min(pcm.len());
        meter.programme(&pcm[at..end]);
        track.add(&meter.hand_out());
        at = end;
    }
    track
}

#[test]
fn a_segments_peaks_from_the_programme_lie_between_its_exact_extremes_and_a_grains_more() {
    let pcm = bursts(3.0, 50, 30);
    // Pieces the way a runner writes, none a multiple of a grain.
    let track = measure(&pcm, &[480, 1000, 77, 4096, 1]);
    // A span that starts and ends off the grid, as a segment named from
    // the codec's delay does.
    let (start, frames) = (1_105u64, 96_000u64);
    let peaks = track.peaks(start, frames, RATE).unwrap();
    assert_eq!(peaks.bucket_micros, BUCKET_MICROS);
    assert_eq!(peaks.buckets.len(), 200);
    let mut differ = 0;
    for (i, b) in peaks.buckets.iter().enumerate() {
        let from = start as usize + i * 480;
        let exact = extremes(&pcm, from, from + 480);
        let wide = extremes(&pcm, from - GRAIN_FRAMES as usize, from + 480 + 32);
        assert!(
            wide.0 <= b.min && b.min <= exact.0 && exact.1 <= b.max && b.max <= wide.1,
            "bucket {i}: {b:?}, exact {exact:?}, a grain wider {wide:?}"
        );
        differ += usize::from((b.min, b.max) != exact);
    }
    // Only buckets whose edge is within a grain of a burst's edge differ.
    assert!(differ <= 200 / 4, "{differ} of 200 buckets differ");
    // Bursts show as bursts: 50 ms loud, 30 ms quiet, right channel ±64.
    assert!(peaks.buckets[10].max >= 62 && peaks.buckets[10].min <= -62);
    let quiet = peaks.buckets.iter().filter(|b| b.max == 0).count();
    // A 30 ms gap holds two whole buckets, or three when it lines up.
    assert!((45..=60).contains(&quiet), "{quiet} quiet buckets of 200");
}

#[test]
fn peaks_are_none_where_the_grains_do_not_reach() {
    let pcm = bursts(2.0, 50, 30);
    let track = measure(&pcm, &[960]);
    // Before the programme began (the first segment, named from before
    // sample 0), past the last whole grain, and an empty span.
    assert!(track.peaks(0, 480, RATE).is_some());
    assert!(track.peaks(96_000 - 480, 480, RATE).is_some());
    assert!(track.peaks(96_000 - 480, 481, RATE).is_none());
    assert!(track.peaks(10, 0, RATE).is_none());

    // A skip of 1000 frames: the grid starts anew after it, the grains
    // not handed out are gone, and a span across the skip is not covered.
    let mut meter = LevelMeter::default();
    let mut track = LevelTrack::default();
    meter.programme(&pcm[..2 * 10_000]);
    track.add(&meter.hand_out());
    meter.programme(&pcm[2 * 10_000..2 * 10_010]);
    meter.skipped(1_000);
    meter.programme(&pcm[2 * 10_010..2 * 20_000]);
    track.add(&meter.hand_out());
    assert!(
        track.peaks(0, 9_984, RATE).is_none(),
        "forgotten at the skip"
    );
    assert!(track.peaks(11_010, 8_000, RATE).is_some());
    assert!(track.peaks(10_500, 8_000, RATE).is_none());

    // Grains before a segment are forgotten once it is written.
    track.forget_before(15_000);
    assert!(track.peaks(11_010, 100, RATE).is_none());
    assert!(track.peaks(15_000, 4_000, RATE).is_some());
}

#[test]
fn a_meter_never_handed_out_to_keeps_the_newest_grains() {
    let pcm = bursts(2.0, 50, 30);
    let mut meter = LevelMeter::default();
    meter.programme(&pcm);
    let levels = meter.hand_out();
    assert_eq!(
        levels.grains().len() % HANDOUT_GRAINS,
        96_000 / 32 % HANDOUT_GRAINS
    );
    assert_eq!(
        levels.first + levels.grains().len() as u64 * GRAIN_FRAMES,
        96_000
    );
    let mut track = LevelTrack::default();
    track.add(&levels);
    assert!(track.peaks(96_000 - 4_800, 4_800, RATE).is_some());
    assert!(track.peaks(0, 4_800, RATE).is_none());
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("onair-levels-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[test]
fn the_writer_draws_peaks_from_the_programme_as_a_decoder_would_see_them() {
    let dir = temp_dir("writer");
    let anchor: DateTime<Utc> = "2026-03-02T00:00:01Z".parse().unwrap();
    let settings = ArchiveSettings::for_tests(dir.clone(), anchor);
    let quality_dir = settings.quality_dir();
    let mut archive = start(settings).unwrap();
    let mut feed = archive.subscription.take().unwrap().subscriber;
    let mp3_settings = Mp3Settings {
        input_rate: RATE,
        stream_rate: RATE,
        bitrate: 128,
        mode: BitrateMode::Cbr,
    };
    feed.attach(&mp3_settings);
    let mut encoder = Mp3Encoder::new(mp3_settings).unwrap();
    // 20 s of bursts, 40 ms at a time as the encoder's thread takes them,
    // held back while the writer's queue is full (as a disk that keeps up
    // would never make it).
    let pcm = bursts(20.0, 50, 30);
    let mut mp3 = Vec::new();
    for block in pcm.chunks(2 * 1920) {
        feed.programme(block);
        mp3.clear();
        encoder.encode(block, &mut mp3).unwrap();
        let frames = (block.len() / 2) as u64;
        feed.encoded(frames);
        if !mp3.is_empty() {
            feed.chunk(&Mp3Chunk::new(&mp3, frames));
        }
        std::thread::sleep(std::time::Duration::from_micros(300));
    }
    feed.close();
    archive.thread.join().unwrap().unwrap();
    assert_eq!(archive.stats.frames_dropped.load(Ordering::Relaxed), 0);

    let hour = listing::hour(&quality_dir, "2026-03-02T00").unwrap();
    assert!(hour.segments.len() >= 3, "{:?}", hour.entries);
    // Only the first segment, named from before the programme's first
    // sample, had to be decoded.
    assert_eq!(archive.peaks_decoded.load(Ordering::Relaxed), 1);
    for segment in &hour.segments {
        let path = quality_dir.join("2026-03-02T00").join(&segment.file);
        let measured = peaks::Peaks::read(&peaks::sidecar_path(&path)).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        let decoded = peaks::Peaks::of_mp3(&bytes[crate::archive::id3::TAG_BYTES..]).unwrap();
        assert_eq!(
            measured.buckets.len(),
            decoded.buckets.len(),
            "{}",
            segment.file
        );
        // The decoded MP3 differs by the codec's error, and around each
        // burst's edge by its pre-echo; a bucket out of place by even
        // 10 ms would differ at every edge (25 a second).
        let close = measured
            .buckets
            .iter()
            .zip(&decoded.buckets)
            .filter(|(m, d)| (m.max - d.max).abs() <= 8 && (m.min - d.min).abs() <= 8)
            .count();
        assert!(
            close * 100 >= measured.buckets.len() * 90,
            "{}: only {close} of {} buckets agree with the decoded MP3",
            segment.file,
            measured.buckets.len()
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
