use chrono::TimeZone;

use super::*;
use crate::archive::names::{Codec, SegmentName, content_hash};
use crate::archive::segmenter::{Segmenter, Timing};
use crate::config::BitrateMode;
use crate::output::encoder::{Mp3Encoder, Mp3Settings};

const RATE: u32 = 48_000;

/// Low-passed noise, the same every run: no two stretches of it alike, so
/// a cut one sample off correlates worse than one on time.
fn programme(seconds: u32) -> Vec<f32> {
    let mut state = 0x2545_f491_u32;
    let mut level = 0.0f32;
    let mut pcm = Vec::with_capacity((seconds * RATE * 2) as usize);
    for _ in 0..seconds * RATE {
        state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        let white = (state >> 8) as f32 / (1u32 << 24) as f32 - 0.5;
        level = 0.8 * level + 0.2 * white;
        pcm.push(level);
        pcm.push(level);
    }
    pcm
}

/// The instant of the programme's first sample: ten seconds before an hour,
/// so its segments fill two hour folders.
fn anchor() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 5, 10, 59, 50).unwrap()
}

/// Encodes `pcm` and writes it as the archive's writer would: segments in
/// hour folders under `dir`, each behind its timestamp tag.
fn archive(dir: &Path, pcm: &[f32]) -> Vec<SegmentName> {
    let mut encoder = Mp3Encoder::new(Mp3Settings {
        input_rate: RATE,
        stream_rate: RATE,
        bitrate: 128,
        mode: BitrateMode::Cbr,
    })
    .unwrap();
    let mut mp3 = Vec::new();
    encoder.encode(pcm, &mut mp3).unwrap();
    encoder.flush(&mut mp3).unwrap();
    let mut segmenter = Segmenter::new(
        Timing {
            anchor_micros: anchor().timestamp_micros(),
            engine_rate: RATE,
        },
        6,
    );
    let mut segments = Vec::new();
    segmenter.push(&mp3, &mut |s| segments.push(s));
    segmenter.finish(&mut |s| segments.push(s));
    let mut names = Vec::new();
    for segment in segments {
        let mut bytes = id3::timestamp_tag(id3::pts_of_micros(segment.start_micros)).to_vec();
        bytes.extend_from_slice(&segment.mp3);
        let name = SegmentName {
            start: DateTime::from_timestamp_micros(segment.start_micros).unwrap(),
            duration: segment.duration(),
            kind: if segment.full {
                SegmentType::Full
            } else {
                SegmentType::Partial
            },
            hash: content_hash(&bytes),
        };
        std::fs::create_dir_all(dir.join(name.hour())).unwrap();
        std::fs::write(dir.join(name.path()), &bytes).unwrap();
        names.push(name);
    }
    names
}

fn folder(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("onair-cut-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn at(seconds: f64) -> DateTime<Utc> {
    anchor() + TimeDelta::microseconds((seconds * 1e6).round() as i64)
}

/// The left channel of a 16-bit stereo WAV, after checking its header.
fn left(wav: &[u8]) -> Vec<f32> {
    assert_eq!(&wav[..4], b"RIFF");
    assert_eq!(u16::from_le_bytes([wav[22], wav[23]]), 2);
    assert_eq!(u32::from_le_bytes(wav[24..28].try_into().unwrap()), RATE);
    let data = u32::from_le_bytes(wav[40..44].try_into().unwrap()) as usize;
    assert_eq!(wav.len(), 44 + data, "the header's size is the data's");
    wav[44..]
        .chunks_exact(4)
        .map(|f| f32::from(i16::from_le_bytes([f[0], f[1]])) / 32_768.0)
        .collect()
}

/// Normalised correlation of `cut` with `reference` shifted by `lag`.
fn correlation(cut: &[f32], reference: &[f32], first: usize, lag: i64) -> f64 {
    let (mut xy, mut xx, mut yy) = (0.0f64, 0.0f64, 0.0f64);
    for (i, &x) in cut.iter().enumerate() {
        let y = f64::from(reference[((first + i) as i64 + lag) as usize * 2]);
        xy += f64::from(x) * y;
        xx += f64::from(x) * f64::from(x);
        yy += y * y;
    }
    xy / (xx * yy).sqrt()
}

#[test]
fn a_wav_cut_across_an_hour_is_the_programme_to_the_sample() {
    let dir = folder("wav");
    let pcm = programme(40);
    archive(&dir, &pcm);
    // 10:59:59.5 to 11:00:09.5: across the hour, starting and ending
    // inside segments, neither on a frame.
    let cut = Cut::plan(&BestCache::default(), &dir, at(9.5), at(19.5), false).unwrap();
    let mut wav = Vec::new();
    let written = cut.write_wav(&mut wav).unwrap();
    assert_eq!(written, wav.len() as u64);
    let samples = left(&wav);
    assert_eq!(samples.len(), 10 * RATE as usize);

    let first = (9.5 * f64::from(RATE)) as usize;
    let on_time = correlation(&samples, &pcm, first, 0);
    assert!(on_time > 0.9, "the cut is not the programme: {on_time:.3}");
    for lag in (-40..=40).filter(|&l| l != 0) {
        let off = correlation(&samples, &pcm, first, lag);
        assert!(
            off < on_time,
            "the cut matches {lag} samples off ({off:.3} ≥ {on_time:.3})"
        );
    }
    // Its first samples too: the frames before the cut were decoded first.
    let head = correlation(&samples[..480], &pcm, first, 0);
    assert!(
        head > 0.9,
        "the cut's first 10 ms are not the programme: {head:.3}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn an_mp3_cut_is_the_whole_frames_over_the_range() {
    let dir = folder("mp3");
    archive(&dir, &programme(20));
    let (start, end) = (at(3.3), at(14.1));
    let cut = Cut::plan(&BestCache::default(), &dir, start, end, false).unwrap();
    let mut mp3 = Vec::new();
    cut.write_frames(&mut mp3).unwrap();
    let (count, bytes) = frames::count(&mp3);
    assert_eq!(bytes, mp3.len(), "only whole frames, no tag");
    // The range and less than a frame more at each end, whose first frame
    // decodes from 1105 samples before the programme's time.
    let frame = 1152.0 / f64::from(RATE);
    let covered = count as f64 * frame;
    let wanted = (end - start).as_seconds_f64();
    assert!(
        covered >= wanted && covered < wanted + 2.0 * frame,
        "{count} frames ({covered:.3} s) for {wanted} s"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn holes_are_named_refused_or_cut_around_and_an_empty_range_has_no_content() {
    let dir = folder("holes");
    let names = archive(&dir, &programme(30));
    // Bad input: the segment from about 0:12 to 0:18 is gone.
    let gone = &names[2];
    std::fs::remove_file(dir.join(gone.path())).unwrap();
    let best = BestCache::default();

    let refused = Cut::plan(&best, &dir, at(1.0), at(25.0), false).unwrap_err();
    let CutError::Holes(holes) = &refused else {
        panic!("{refused}");
    };
    assert_eq!(holes.len(), 1, "{holes:?}");
    assert_eq!((holes[0].from, holes[0].to), (gone.start, gone.end()));
    assert!(
        refused.to_string().contains("allow_holes=true"),
        "{refused}"
    );

    let cut = Cut::plan(&best, &dir, at(1.0), at(25.0), true).unwrap();
    let mut wav = Vec::new();
    cut.write_wav(&mut wav).unwrap();
    let expected = (24.0 - gone.duration) * f64::from(RATE);
    assert!(
        (left(&wav).len() as f64 - expected).abs() <= 1.0,
        "{} samples, not {expected}",
        left(&wav).len()
    );

    // Nothing at all in the range, holes allowed or not.
    for allow in [false, true] {
        let empty = Cut::plan(&best, &dir, at(100.0), at(110.0), allow).unwrap_err();
        assert!(matches!(empty, CutError::NoContent), "{empty}");
    }
    // A tombstone makes a hole of its segment too.
    let buried = &names[1];
    let stem = buried.file_name().replace(".mp3", ".tombstone");
    std::fs::write(dir.join(buried.hour()).join(stem), b"").unwrap();
    let CutError::Holes(holes) = Cut::plan(&best, &dir, at(1.0), at(25.0), false).unwrap_err()
    else {
        panic!("the tombstoned segment left no hole");
    };
    assert_eq!(holes[0].from, buried.start);

    // A WAV longer than RIFF can say.
    let long = Cut::plan(&best, &dir, at(0.0), at(0.0) + TimeDelta::hours(7), true).unwrap();
    assert!(matches!(
        long.write_wav(&mut Vec::new()),
        Err(CutError::TooLong)
    ));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_range_of_two_codecs_or_asked_for_as_another_is_refused_in_words() {
    let dir = std::env::temp_dir().join(format!("onair-cut-aac-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let hour = dir.join("2026-01-05T11");
    std::fs::create_dir_all(&hour).unwrap();
    // Bad input: a range whose first segment is MP3 and the rest AAC, as
    // a folder would be that two streams were written into.
    for s in 0..3 {
        let bytes = format!("frames {s}").into_bytes();
        let name = SegmentName {
            start: Utc.with_ymd_and_hms(2026, 1, 5, 11, 0, s * 6).unwrap(),
            duration: 6.0,
            kind: crate::archive::names::SegmentType::Full,
            hash: content_hash(&bytes),
        };
        let codec = if s == 0 { Codec::Mp3 } else { Codec::Aac };
        std::fs::write(hour.join(name.file_name_as(codec)), bytes).unwrap();
    }
    let start = Utc.with_ymd_and_hms(2026, 1, 5, 11, 0, 0).unwrap();
    let best = BestCache::default();
    let error = Cut::plan(&best, &dir, start, start + TimeDelta::seconds(18), false).unwrap_err();
    assert!(matches!(error, CutError::MixedCodecs), "{error}");
    assert!(error.to_string().contains("both MP3 and AAC"), "{error}");
    // The AAC part alone is a cut of AAC, refused as MP3.
    let from = start + TimeDelta::seconds(6);
    let cut = Cut::plan(&best, &dir, from, from + TimeDelta::seconds(12), false).unwrap();
    assert_eq!(cut.codec(), Codec::Aac);
    cut.expect_codec(Codec::Aac).unwrap();
    let error = cut.expect_codec(Codec::Mp3).unwrap_err();
    assert_eq!(
        error.to_string(),
        "the range is AAC, not MP3: ask for the cut as .aac (its own frames) or .wav"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
