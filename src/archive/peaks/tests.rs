use std::sync::atomic::Ordering;

use chrono::{DateTime, Utc};

use super::*;
use crate::archive::listing;
use crate::archive::retention::{self, Retention};
use crate::archive::writer::{ArchiveSettings, start};
use crate::config::BitrateMode;
use crate::output::chunk_queue::Mp3Chunk;
use crate::output::encoder::{Mp3Encoder, Mp3Settings};

const RATE: u32 = 48_000;

fn settings() -> Mp3Settings {
    Mp3Settings {
        input_rate: RATE,
        stream_rate: RATE,
        bitrate: 128,
        mode: BitrateMode::Cbr,
    }
}

/// `tone` seconds of a 1 kHz tone at half scale, then `silence` seconds
/// of silence, as interleaved stereo.
fn programme(tone: f32, silence: f32) -> Vec<f32> {
    let tone_frames = (RATE as f32 * tone) as usize;
    let frames = tone_frames + (RATE as f32 * silence) as usize;
    (0..frames)
        .flat_map(|n| {
            let x = if n < tone_frames {
                (n as f32 * 2.0 * std::f32::consts::PI * 1000.0 / RATE as f32).sin() * 0.5
            } else {
                0.0
            };
            [x, x]
        })
        .collect()
}

/// MP3 of `pcm`, in the mixer's 10 ms blocks, each block's bytes apart.
fn encode(pcm: &[f32]) -> Vec<(Vec<u8>, u64)> {
    let mut encoder = Mp3Encoder::new(settings()).unwrap();
    let mut chunks = Vec::new();
    for block in pcm.chunks(RATE as usize / 100 * 2) {
        let mut out = Vec::new();
        encoder.encode(block, &mut out).unwrap();
        chunks.push((out, block.len() as u64 / 2));
    }
    let mut out = Vec::new();
    encoder.flush(&mut out).unwrap();
    chunks.push((out, 0));
    chunks
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("onair-peaks-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[test]
fn a_sidecar_reads_back_and_a_damaged_one_is_refused() {
    let peaks = Peaks {
        bucket_micros: BUCKET_MICROS,
        buckets: vec![
            Bucket {
                min: -127,
                max: 127,
            },
            Bucket { min: -3, max: 0 },
        ],
    };
    let bytes = peaks.to_bytes();
    assert_eq!(bytes.len(), 16 + 4);
    assert_eq!(Peaks::from_bytes(&bytes).unwrap(), peaks);
    // Bad input: another file, a later version, a file cut short.
    assert!(matches!(
        Peaks::from_bytes(b"ID3\x04\0\0\0\0\0\x3f........"),
        Err(PeaksError::Magic)
    ));
    let mut later = bytes.clone();
    later[7] = 2;
    assert!(matches!(
        Peaks::from_bytes(&later),
        Err(PeaksError::Version(2))
    ));
    assert!(matches!(
        Peaks::from_bytes(&bytes[..bytes.len() - 1]),
        Err(PeaksError::Short { count: 2, .. })
    ));
    assert_eq!(
        sidecar_name("00:06.000000-6.0-full-abc.mp3"),
        "00:06.000000-6.0-full-abc.peaks"
    );
    assert_eq!(
        sidecar_name("00:06.000000-6.0-full-abc.aac"),
        "00:06.000000-6.0-full-abc.peaks"
    );
}

#[test]
fn the_peaks_of_a_tone_then_silence_are_loud_then_flat() {
    let mp3: Vec<u8> = encode(&programme(1.0, 1.0))
        .into_iter()
        .flat_map(|(b, _)| b)
        .collect();
    let peaks = Peaks::of_mp3(&mp3).unwrap();
    // Every decoded sample is in a bucket: whole frames of 1152 samples,
    // 480 samples a bucket.
    let frames = crate::archive::frames::frames(&mp3).count();
    assert_eq!(peaks.buckets.len(), (frames * 1152).div_ceil(480));
    // The tone (half scale, ±64) from the codec's delay (1105 samples,
    // 3 buckets) to 1 s; flat well after it.
    for (i, b) in peaks.buckets[5..95].iter().enumerate() {
        assert!(b.max > 50 && b.min < -50, "bucket {}: {b:?}", i + 5);
    }
    for (i, b) in peaks.buckets[110..190].iter().enumerate() {
        assert!(b.max < 3 && b.min > -3, "bucket {}: {b:?}", i + 110);
    }
    // Bad input: bytes that are no MP3, nor ADTS.
    assert!(Peaks::of_mp3(b"not an mp3 at all").is_err());
    assert!(Peaks::of_audio(b"not an aac at all", Codec::Aac).is_err());
}

#[test]
fn the_writer_puts_peaks_beside_each_segment_and_retention_takes_them_away() {
    let dir = temp_dir("writer");
    let anchor: DateTime<Utc> = "2026-03-02T00:00:01Z".parse().unwrap();
    let settings = ArchiveSettings::for_tests(dir.clone(), anchor);
    let quality_dir = settings.quality_dir();
    let mut archive = start(settings).unwrap();
    let mut feed = archive.subscription.take().unwrap().subscriber;
    feed.attach(&self::settings());
    // 7 s of tone then 7 s of silence: two full segments and a partial.
    // In chunks of a second, so that all of it fits the feed's queue.
    for second in encode(&programme(7.0, 7.0)).chunks(100) {
        let bytes: Vec<u8> = second.iter().flat_map(|(b, _)| b.clone()).collect();
        let frames = second.iter().map(|(_, f)| f).sum();
        feed.encoded(frames);
        feed.chunk(&Mp3Chunk::new(&bytes, frames));
    }
    feed.close();
    archive.thread.join().unwrap().unwrap();
    assert_eq!(archive.stats.frames_dropped.load(Ordering::Relaxed), 0);

    let hour = listing::hour(&quality_dir, "2026-03-02T00").unwrap();
    assert_eq!(hour.segments.len(), 3, "{:?}", hour.entries);
    for segment in &hour.segments {
        let path = quality_dir.join("2026-03-02T00").join(&segment.file);
        let peaks = Peaks::read(&sidecar_path(&path))
            .unwrap_or_else(|e| panic!("no peaks beside {}: {e}", segment.file));
        let buckets = (segment.name.duration * 100.0).ceil() as usize;
        assert_eq!(peaks.buckets.len(), buckets, "{}", segment.file);
    }
    // The first segment is all tone, the second holds the silence's start.
    let first = Peaks::read(&sidecar_path(
        &quality_dir
            .join("2026-03-02T00")
            .join(&hour.segments[0].file),
    ))
    .unwrap();
    assert!(first.buckets[10..590].iter().all(|b| b.max > 50));
    let second = Peaks::read(&sidecar_path(
        &quality_dir
            .join("2026-03-02T00")
            .join(&hour.segments[1].file),
    ))
    .unwrap();
    assert!(second.buckets[150..590].iter().all(|b| b.max < 3));
    // Only the sidecars sit beside the segments: nothing else is listed.
    let entries = listing::entries(&quality_dir, "2026-03-02T00").unwrap();
    assert_eq!(entries.len(), 6, "{entries:?}");

    // A sidecar left without its segment (a box stopped between the two).
    let orphan = quality_dir.join("2026-03-02T00").join(format!(
        "00:30.000000-6.0-full-{}.peaks",
        crate::archive::names::content_hash(b"gone")
    ));
    std::fs::write(&orphan, b"ONAIRPK").unwrap();
    // Two days later, keeping one: the hour goes, sidecars and all.
    let retention = Retention {
        keep_days: Some(1),
        min_free_bytes: None,
    };
    let now: DateTime<Utc> = "2026-03-04T00:10:00Z".parse().unwrap();
    assert_eq!(retention::enforce(&quality_dir, now, retention, || None), 3);
    assert!(
        !quality_dir.join("2026-03-02T00").exists(),
        "left behind: {:?}",
        std::fs::read_dir(quality_dir.join("2026-03-02T00"))
            .map(|d| d.flatten().map(|e| e.file_name()).collect::<Vec<_>>())
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
