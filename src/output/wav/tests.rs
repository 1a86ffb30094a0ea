use super::*;
use crate::clock::{Clock, Timeline};

struct Folder(PathBuf);

impl Folder {
    fn new(test: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("onair-wav-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        Self(dir)
    }
}

impl Drop for Folder {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn context(anchor: &str) -> OutputContext {
    OutputContext {
        rate: 48_000,
        timeline: Timeline {
            rate: 48_000,
            anchor: DateTime::parse_from_rfc3339(anchor).unwrap().to_utc(),
        },
        clock: Clock::Wall,
        timezone: chrono_tz::Europe::Berlin,
        station: "Radio Test".to_string(),
    }
}

fn tone(frames: usize, offset: usize) -> Vec<f32> {
    (offset..offset + frames)
        .flat_map(|n| {
            let x = (n as f32 * 2.0 * std::f32::consts::PI * 1000.0 / 48_000.0 + 0.3).sin() * 0.5;
            [x, -x]
        })
        .collect()
}

fn read_samples(path: &Path) -> Vec<i16> {
    let mut reader = hound::WavReader::open(path).unwrap();
    let spec = reader.spec();
    assert_eq!(
        (spec.channels, spec.sample_rate, spec.bits_per_sample),
        (2, 48_000, 16)
    );
    reader.samples::<i16>().map(|s| s.unwrap()).collect()
}

/// The bext fields at their offsets in EBU Tech 3285.
fn bext(path: &Path) -> (String, String, String, String, u64) {
    let bytes = std::fs::read(path).unwrap();
    let at = bytes.windows(4).position(|w| w == b"bext").unwrap() + 8;
    let text = |from: usize, len: usize| {
        String::from_utf8(bytes[at + from..at + from + len].to_vec())
            .unwrap()
            .trim_end_matches('\0')
            .to_string()
    };
    let low = u32::from_le_bytes(bytes[at + 338..at + 342].try_into().unwrap()) as u64;
    let high = u32::from_le_bytes(bytes[at + 342..at + 346].try_into().unwrap()) as u64;
    (
        text(0, 256),
        text(256, 32),
        text(320, 10),
        text(330, 8),
        high << 32 | low,
    )
}

#[test]
fn bext_names_the_station_and_the_first_samples_time() {
    let folder = Folder::new("bext");
    let path = folder.0.join("air.wav");
    // Berlin switches to summer time at 01:00 UTC on this day; 00:59:30.25 UTC is 01:59:30 CET.
    let ctx = context("2026-03-29T00:59:30.250000Z");
    let mut wav = WavOutput::create("wav air", &path, &ctx).unwrap();
    wav.write(&tone(4800, 0)).unwrap();
    wav.finish().unwrap();

    let (description, originator, date, time, reference) = bext(&path);
    assert_eq!(
        description,
        "onair Radio Test anchor=2026-03-29T00:59:30.250000Z"
    );
    assert_eq!(originator, "onair");
    assert_eq!((date.as_str(), time.as_str()), ("2026-03-29", "01:59:30"));
    assert_eq!(reference, (3600 + 59 * 60 + 30) * 48_000 + 12_000);
    assert_eq!(anchor_of(&path).unwrap(), Some(ctx.timeline.anchor));
    assert_eq!(read_samples(&path).len(), 4800 * 2);
}

#[test]
fn a_long_station_name_never_pushes_the_anchor_out() {
    let folder = Folder::new("longname");
    let path = folder.0.join("air.wav");
    let mut ctx = context("2026-06-01T12:00:00Z");
    ctx.station = "Ünïcode FM ".repeat(40);
    let mut wav = WavOutput::create("wav air", &path, &ctx).unwrap();
    wav.finish().unwrap();
    assert_eq!(anchor_of(&path).unwrap(), Some(ctx.timeline.anchor));
    assert!(bext(&path).0.starts_with("onair Ünïcode FM"));
}

#[test]
fn samples_are_rounded_within_one_step_and_silence_stays_zero() {
    let folder = Folder::new("samples");
    let path = folder.0.join("air.wav");
    let ctx = context("2026-06-01T12:00:00Z");
    let mut wav = WavOutput::create("wav air", &path, &ctx).unwrap();
    let mut input = tone(48_000, 0);
    // Out of range and silent samples: clamped, and kept exactly zero.
    input.extend_from_slice(&[1.7, -3.0, 0.0, 0.0, f32::NAN, 0.0]);
    wav.write(&input).unwrap();
    wav.finish().unwrap();

    let samples = read_samples(&path);
    assert_eq!(samples.len(), input.len());
    for (i, (&got, &want)) in samples.iter().zip(&input).enumerate().take(96_000) {
        let exact = (want * 32767.0).round() as i32;
        assert!(
            (got as i32 - exact).abs() <= 1,
            "sample {i}: {got} vs {exact}"
        );
    }
    assert!(
        samples[96_000] >= 32766 && samples[96_001] <= -32766,
        "{:?}",
        &samples[96_000..]
    );
    assert_eq!(&samples[96_002..], &[0, 0, 0, 0]);
}

#[test]
fn a_recording_cut_off_without_finish_is_readable_up_to_about_a_second_before_its_end() {
    let folder = Folder::new("crash");
    let path = folder.0.join("air.wav");
    let ctx = context("2026-06-01T12:00:00Z");
    let mut wav = WavOutput::create("wav air", &path, &ctx).unwrap();
    // 2.5 s of programme arriving over 2.5 s of real time, then the box dies.
    for block in 0..10 {
        wav.write(&tone(12_000, block * 12_000)).unwrap();
        std::thread::sleep(Duration::from_millis(250));
    }
    drop(wav);

    let samples = read_samples(&path);
    let frames = samples.len() / 2;
    assert!(
        frames >= 48_000,
        "only {frames} frames readable after the cut"
    );
    assert!(frames <= 120_000);
    let expected = tone(frames, 0);
    assert!(
        samples
            .iter()
            .zip(&expected)
            .all(|(&s, &x)| (s as i32 - (x * 32767.0).round() as i32).abs() <= 1)
    );

    // The next run keeps the cut recording, with a header now covering all of it.
    let again = WavOutput::create("wav air", &path, &ctx).unwrap();
    drop(again);
    let kept = folder.0.join("air.20260601T140000.wav");
    assert_eq!(read_samples(&kept).len(), 120_000 * 2);
}

#[test]
fn an_earlier_recording_is_renamed_never_overwritten() {
    let folder = Folder::new("rename");
    let path = folder.0.join("air.wav");
    let ctx = context("2026-06-01T12:00:00Z");
    let mut first = WavOutput::create("wav air", &path, &ctx).unwrap();
    first.write(&tone(480, 0)).unwrap();
    first.finish().unwrap();
    drop(first);

    // Same anchor twice: the second earlier recording gets "-1".
    let mut second = WavOutput::create("wav air", &path, &ctx).unwrap();
    second.write(&tone(960, 0)).unwrap();
    second.finish().unwrap();
    drop(second);
    let third = WavOutput::create("wav air", &path, &ctx).unwrap();
    drop(third);

    assert_eq!(
        read_samples(&folder.0.join("air.20260601T140000.wav")).len(),
        960
    );
    assert_eq!(
        read_samples(&folder.0.join("air.20260601T140000-1.wav")).len(),
        1920
    );
    assert_eq!(read_samples(&path).len(), 0);

    // A WAV file without our bext is named after its modification time.
    std::fs::remove_file(&path).unwrap();
    let spec = hound::WavSpec {
        channels: 2,
        sample_rate: 48_000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut foreign = hound::WavWriter::create(&path, spec).unwrap();
    foreign.write_sample(7i16).unwrap();
    foreign.write_sample(7i16).unwrap();
    foreign.finalize().unwrap();
    let modified = DateTime::<Utc>::from(std::fs::metadata(&path).unwrap().modified().unwrap());
    drop(WavOutput::create("wav air", &path, &ctx).unwrap());
    let stamp = modified
        .with_timezone(&chrono_tz::Europe::Berlin)
        .format("%Y%m%dT%H%M%S");
    assert_eq!(
        read_samples(&folder.0.join(format!("air.{stamp}.wav"))),
        vec![7, 7]
    );
}

#[test]
fn a_missing_folder_is_created_and_an_unwritable_path_is_a_clear_error() {
    let folder = Folder::new("paths");
    let path = folder.0.join("deep/er/air.wav");
    let ctx = context("2026-06-01T12:00:00Z");
    drop(WavOutput::create("wav air", &path, &ctx).unwrap());
    assert!(path.exists());

    // A device where the recording should go is left alone.
    let message = match WavOutput::create("wav null", Path::new("/dev/null"), &ctx) {
        Ok(_) => panic!("a wav output on /dev/null was opened"),
        Err(e) => e.to_string(),
    };
    assert!(
        message.contains("/dev/null") && message.contains("not a regular file"),
        "{message}"
    );
    assert!(Path::new("/dev/null").exists());

    // A folder that cannot exist: its parent is a file.
    let blocked = folder.0.join("deep/er/air.wav/sub/x.wav");
    let message = match WavOutput::create("wav x", &blocked, &ctx) {
        Ok(_) => panic!("a wav output below a file was opened"),
        Err(e) => e.to_string(),
    };
    assert!(message.contains("air.wav/sub"), "{message}");
    assert!(message.contains("may write there"), "{message}");
}

#[test]
fn gaps_become_silence_or_a_new_file_that_keeps_the_time() {
    let folder = Folder::new("gaps");
    let path = folder.0.join("air.wav");
    let ctx = context("2026-06-01T12:00:00Z");
    let mut wav = WavOutput::create("wav air", &path, &ctx).unwrap();
    wav.write(&tone(480, 0)).unwrap();
    wav.skip(240).unwrap();
    wav.write(&tone(480, 0)).unwrap();
    // Two minutes lost: too long to fill; the recording goes on in a new
    // file anchored at the first sample after the gap.
    wav.skip(48_000 * 120).unwrap();
    wav.write(&tone(480, 0)).unwrap();
    wav.finish().unwrap();

    let kept = folder.0.join("air.20260601T140000.wav");
    let samples = read_samples(&kept);
    assert_eq!(samples.len(), 1200 * 2);
    assert!(samples[960..1440].iter().all(|&s| s == 0));
    assert!(samples[1440..].iter().any(|&s| s != 0));
    let resumed = ctx.timeline.time_of(1200 + 48_000 * 120);
    assert_eq!(anchor_of(&path).unwrap(), Some(resumed));
    assert_eq!(read_samples(&path).len(), 960);
}

#[test]
fn a_recording_too_long_for_one_wav_continues_in_the_next() {
    let folder = Folder::new("full");
    let path = folder.0.join("air.wav");
    let ctx = context("2026-06-01T12:00:00Z");
    let header_len = header(&ctx, 0).len() as u64;
    // A file that holds exactly 1000 frames, standing in for the 4 GiB RIFF limit.
    let mut wav = WavOutput::create_at("wav air", &path, &ctx, 0, header_len - 8 + 4000).unwrap();
    wav.write(&tone(1500, 0)).unwrap();
    wav.finish().unwrap();
    assert_eq!(
        read_samples(&folder.0.join("air.20260601T140000.wav")).len(),
        2000
    );
    assert_eq!(read_samples(&path).len(), 1000);
    // The anchor is written to the microsecond (sample 1000 is at 20.833333 ms).
    let anchor = anchor_of(&path).unwrap().unwrap();
    assert_eq!(
        anchor,
        DateTime::parse_from_rfc3339("2026-06-01T12:00:00.020833Z").unwrap()
    );
}
