use std::path::PathBuf;

use super::*;

use crate::engine::test_audio::*;

const RATE: u32 = 48_000;
/// 1 ms at the engine rate.
const MS: i64 = 48;

fn ramp_value(n: u64) -> f32 {
    (n % 4096) as f32 / 4096.0 - 0.5
}

/// A sawtooth whose value tells which frame it is (modulo 4096).
fn ramp(dir: &Scratch, name: &str, frames: u64) -> PathBuf {
    let out = dir.path(name);
    let ext = out
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_string();
    let secs = frames as f64 / RATE as f64;
    ffmpeg(
        &format!("aevalsrc=exprs='mod(n\\,4096)/4096-0.5':s={RATE}:d={secs}"),
        codec_args(&ext),
        &out,
    );
    out
}

#[test]
fn every_format_decodes_to_its_length_and_pitch() {
    let dir = Scratch::new("formats");
    for ext in ["wav", "flac", "mp3", "ogg", "m4a"] {
        for rate in [44_100, 48_000] {
            for channels in [1, 2] {
                let name = format!("tone-{rate}-{channels}.{ext}");
                let path = tone(&dir, &name, 440.0, rate, channels, 2.0);
                let (source, info, watch) = open_at(&path, RATE, 0);
                let audio = drain(source);
                let frames = (audio.len() / 2) as i64;
                assert_eq!(watch.failure(), None, "{name}");
                assert_eq!(
                    (info.file_rate, info.file_channels),
                    (rate, channels as usize),
                    "{name}"
                );
                let header = info.duration.unwrap_or_else(|| panic!("{name}: no length")) as i64;
                let probed = probe_duration(&path).unwrap();
                if ext == "m4a" {
                    // The AAC decoder plays the encoder's 1024 priming
                    // frames and the last packet's padding; the MP4
                    // header counts the priming too.
                    let priming = 1024 * RATE as i64 / rate as i64;
                    assert!(
                        (header - 96_000 - priming).abs() <= 3 * MS,
                        "{name}: header {header}"
                    );
                    assert!(
                        frames >= 96_000 + priming && frames <= 96_000 + 2 * priming + MS,
                        "{name}: {frames}"
                    );
                } else {
                    assert!(
                        (frames - 96_000).abs() <= 3 * MS,
                        "{name}: decoded {frames} frames"
                    );
                    assert!(
                        (header - 96_000).abs() <= 3 * MS,
                        "{name}: header says {header}"
                    );
                    assert!(
                        probed.abs_diff(Duration::from_secs(2)) < Duration::from_millis(3),
                        "{name}: {probed:?}"
                    );
                }
                // Both channels carry the tone (mono is doubled, not panned).
                for ch in 0..2 {
                    let signal = channel(&audio, ch);
                    let f = frequency(&signal[4800..90_000], RATE);
                    assert!((f - 440.0).abs() < 0.5, "{name} channel {ch}: {f} Hz");
                    // (ffmpeg spreads mono to stereo at −3 dB.)
                    assert!(
                        rms(&signal[4800..90_000]) > 0.2,
                        "{name} channel {ch} is too quiet"
                    );
                }
            }
        }
    }
}

#[test]
fn resampled_tone_keeps_its_pitch() {
    let dir = Scratch::new("resample");
    // 44.1 kHz → 48 kHz, and the other way; played at the wrong rate the
    // 1 kHz tone would come out at 918.75 Hz (or 1088.4 Hz).
    for (file_rate, engine_rate) in [(44_100, 48_000), (48_000, 44_100)] {
        let path = tone(
            &dir,
            &format!("tone-{file_rate}.flac"),
            1000.0,
            file_rate,
            2,
            1.0,
        );
        let (source, info, _) = open_at(&path, engine_rate, 0);
        assert_eq!(info.duration, Some(u64::from(engine_rate)));
        let audio = drain(source);
        assert!(
            (audio.len() / 2).abs_diff(engine_rate as usize) <= 1,
            "{}",
            audio.len() / 2
        );
        let left = channel(&audio, 0);
        let middle = &left[2000..left.len() - 2000];
        let f = frequency(middle, engine_rate);
        assert!(
            (f - 1000.0).abs() < 0.5,
            "{file_rate} → {engine_rate}: {f} Hz"
        );
        let wrong = 1000.0 * file_rate as f64 / engine_rate as f64;
        assert!(
            goertzel(middle, engine_rate, 1000.0) > 100.0 * goertzel(middle, engine_rate, wrong)
        );
        // No click of silence where the resampler starts: the tone is
        // there from the first milliseconds.
        assert!(rms(&left[..480]) > 0.2, "the resampled tone starts late");
    }
}

/// The strongest component of `samples` away from `freq` (more than a
/// window's main lobe from it), in dB relative to the tone, and where.
fn strongest_stray(samples: &[f32], rate: u32, freq: f64) -> (f64, f64) {
    use rustfft::num_complex::Complex;
    let n = samples.len();
    // 4-term Blackman–Harris: its leakage (−92 dB) stays below what is
    // being looked for.
    let mut bins: Vec<Complex<f64>> = samples
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let a = 2.0 * std::f64::consts::PI * i as f64 / n as f64;
            let w =
                0.35875 - 0.48829 * a.cos() + 0.14128 * (2.0 * a).cos() - 0.01168 * (3.0 * a).cos();
            Complex::new(f64::from(*s) * w, 0.0)
        })
        .collect();
    rustfft::FftPlanner::new()
        .plan_fft_forward(n)
        .process(&mut bins);
    let hz = rate as f64 / n as f64;
    let tone_bin = (freq / hz).round() as usize;
    let tone = bins[tone_bin - 2..=tone_bin + 2]
        .iter()
        .map(|c| c.norm())
        .fold(0.0, f64::max);
    let (at, stray) = bins[..n / 2]
        .iter()
        .enumerate()
        .filter(|(k, _)| k.abs_diff(tone_bin) > 8)
        .map(|(k, c)| (k, c.norm()))
        .fold((0, 0.0), |best, b| if b.1 > best.1 { b } else { best });
    (20.0 * (stray / tone).log10(), at as f64 * hz)
}

#[test]
fn resampled_tone_has_no_image_or_alias() {
    let dir = Scratch::new("resample-clean");
    // 44.1 kHz → 48 kHz leaves, from a careless converter, an image of
    // each tone at 44.1 kHz − f, heard folded down at f + 3.9 kHz.
    for freq in [1000.0, 10_000.0, 18_000.0] {
        let path = tone(&dir, &format!("tone-{freq}.flac"), freq, 44_100, 2, 1.5);
        let (source, _, _) = open_at(&path, 48_000, 0);
        let audio = drain(source);
        for ch in 0..2 {
            let signal = channel(&audio, ch);
            let (stray, at) = strongest_stray(&signal[8000..8000 + 32_768], 48_000, freq);
            assert!(
                stray < -60.0,
                "{freq} Hz channel {ch}: {stray:.1} dB at {at:.0} Hz"
            );
        }
    }

    // The check is not deaf: the same 10 kHz tone stretched to 48 kHz by
    // linear interpolation has its image at 13.9 kHz, about 20 dB down.
    let path = tone(&dir, "tone-10k.flac", 10_000.0, 44_100, 2, 1.5);
    let (source, _, _) = open_at(&path, 44_100, 0);
    let at_file_rate = channel(&drain(source), 0);
    let naive: Vec<f32> = (0..48_000)
        .map(|i| {
            let t = i as f64 * 44_100.0 / 48_000.0;
            let (k, frac) = (t as usize, (t - t.floor()) as f32);
            at_file_rate[k] * (1.0 - frac) + at_file_rate[k + 1] * frac
        })
        .collect();
    let (stray, at) = strongest_stray(&naive[8000..8000 + 32_768], 48_000, 10_000.0);
    assert!(stray > -60.0, "{stray:.1} dB at {at:.0} Hz");
    assert!((at - 13_900.0).abs() < 50.0, "{at:.0} Hz");
}

#[test]
fn offset_lands_on_the_exact_frame_in_lossless_files() {
    let dir = Scratch::new("seek-lossless");
    for ext in ["wav", "flac"] {
        let path = ramp(&dir, &format!("ramp.{ext}"), 3 * 48_000);
        for offset in [1, 4095, 12_345, 96_007, 143_999] {
            let (source, info, _) = open_at(&path, RATE, offset);
            assert_eq!(info.duration, Some(144_000 - offset), "{ext} at {offset}");
            let audio = drain(source);
            assert_eq!(
                audio.len() as u64 / 2,
                144_000 - offset,
                "{ext} at {offset}"
            );
            for i in 0..3usize.min(audio.len() / 2) {
                let want = ramp_value(offset + i as u64);
                let got = audio[2 * i];
                assert!(
                    (got - want).abs() < 1e-3,
                    "{ext} at {offset}+{i}: {got} is not {want}"
                );
            }
        }
    }
}

#[test]
fn offset_lands_within_a_few_ms_in_lossy_files() {
    let dir = Scratch::new("seek-lossy");
    for (ext, rate) in [
        ("mp3", 48_000),
        ("mp3", 44_100),
        ("ogg", 48_000),
        ("m4a", 48_000),
    ] {
        let path = dir.path(&format!("noise-{rate}.{ext}"));
        let mut args = vec![
            "-ar".to_string(),
            rate.to_string(),
            "-ac".into(),
            "2".into(),
        ];
        args.extend(codec_args(ext).iter().map(|a| a.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        ffmpeg(
            "anoisesrc=color=pink:seed=7:amplitude=0.5:duration=20",
            &args,
            &path,
        );
        let whole = channel(&drain(open_at(&path, RATE, 0).0), 0);
        for offset in [30_000u64, 480_000, 700_001] {
            let part = channel(&drain(open_at(&path, RATE, offset).0), 0);
            let lag = best_lag(&whole, &part, offset as usize, 4000);
            assert!(
                lag.abs() <= 2 * MS,
                "{ext} {rate} Hz at {offset}: off by {lag} frames"
            );
        }
    }
}

#[test]
fn broken_files_fail_to_open_with_a_reason() {
    let dir = Scratch::new("broken");
    let opts = OpenOptions {
        rate: RATE,
        offset: 0,
        looped: false,
        ring_frames: 4096,
    };
    // A missing file names the file.
    let missing = dir.path("missing.mp3");
    let err = open(&missing, &opts).unwrap_err();
    assert!(matches!(err, DecodeError::Open { .. }), "{err}");
    assert!(err.to_string().contains("missing.mp3"), "{err}");

    // Zero bytes.
    let empty = dir.path("empty.mp3");
    std::fs::write(&empty, b"").unwrap();
    let err = open(&empty, &opts).unwrap_err();
    assert!(matches!(err, DecodeError::Empty { .. }), "{err}");
    assert!(verify(&empty).is_err());

    // A text file renamed .mp3.
    let text = dir.path("notes.mp3");
    std::fs::write(
        &text,
        "Running order for Saturday:\n1. news\n2. weather\n".repeat(50),
    )
    .unwrap();
    let err = open(&text, &opts).unwrap_err();
    assert!(matches!(err, DecodeError::NotAudio { .. }), "{err}");
    assert!(err.to_string().contains("notes.mp3"), "{err}");
    assert!(probe_duration(&text).is_err());
}

#[test]
fn truncated_flac_is_reported() {
    let dir = Scratch::new("truncated");
    let good = tone(&dir, "whole.flac", 440.0, RATE, 2, 4.0);
    let bytes = std::fs::read(&good).unwrap();
    let half = dir.path("half.flac");
    std::fs::write(&half, &bytes[..bytes.len() / 2]).unwrap();

    assert!(verify(&good).is_ok());
    let err = verify(&half).unwrap_err();
    assert!(err.to_string().contains("truncated"), "{err}");

    match open(
        &half,
        &OpenOptions {
            rate: RATE,
            offset: 0,
            looped: false,
            ring_frames: 8192,
        },
    ) {
        Err(err) => assert!(err.to_string().contains("half.flac"), "{err}"),
        Ok((source, _, watch)) => {
            let audio = drain(source);
            let reason = watch.failure().expect("the truncation is reported");
            assert!(reason.contains("truncated"), "{reason}");
            // What was there was played, and it was about half.
            let played = audio.len() / 2;
            assert!(played > 60_000 && played < 120_000, "{played}");
        }
    }
}

#[test]
fn offset_at_or_past_the_end_is_refused() {
    let dir = Scratch::new("past-end");
    let path = tone(&dir, "short.wav", 440.0, RATE, 2, 1.0);
    for offset in [48_000, 1_000_000] {
        let err = open(
            &path,
            &OpenOptions {
                rate: RATE,
                offset,
                looped: false,
                ring_frames: 4096,
            },
        )
        .unwrap_err();
        assert!(matches!(err, DecodeError::OffsetPastEnd { .. }), "{err}");
    }
    let (source, info, _) = open_at(&path, RATE, 47_999);
    assert_eq!(info.duration, Some(1));
    assert_eq!(drain(source).len(), 2);
}

#[test]
fn looped_source_runs_on_seamlessly() {
    let dir = Scratch::new("loop");
    let len = 3 * 4096;
    let path = ramp(&dir, "emergency.wav", len);
    let (mut source, _, watch) = open(
        &path,
        &OpenOptions {
            rate: RATE,
            offset: 0,
            looped: true,
            ring_frames: 4096,
        },
    )
    .unwrap();
    let mut audio = Vec::new();
    let mut buf = vec![0.0; 1000];
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while audio.len() / 2 < 5 * len as usize {
        let n = source.read(&mut buf);
        audio.extend_from_slice(&buf[..2 * n]);
        assert!(!source.is_exhausted(), "the looped source ended");
        assert!(std::time::Instant::now() < deadline);
    }
    // Every frame, across four loop points, is where it should be.
    for (i, frame) in audio.chunks(2).enumerate() {
        let want = ramp_value(i as u64 % len);
        assert!(
            (frame[0] - want).abs() < 1e-3,
            "frame {i}: {} is not {want}",
            frame[0]
        );
    }
    assert!(watch.frames_decoded() >= 5 * len - 4096);
    assert!(watch.failure().is_none());
}

#[test]
fn consumed_frames_come_in_order_across_the_ring_wrap() {
    let dir = Scratch::new("consume");
    let len = 3 * 4096;
    let path = ramp(&dir, "ramp.wav", len);
    // 1000 frames of ring, taken 333 at a time: the ring wraps inside
    // every third take or so.
    let (mut source, _, _) = open(
        &path,
        &OpenOptions {
            rate: RATE,
            offset: 0,
            looped: false,
            ring_frames: 1000,
        },
    )
    .unwrap();
    let mut audio: Vec<f32> = Vec::new();
    let mut split = 0;
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !source.is_exhausted() {
        // Whole takes only, so the takes drift against the ring's end.
        if source.buffered_frames() < 333 && !source.decoder_finished() {
            assert!(std::time::Instant::now() < deadline);
            std::thread::sleep(Duration::from_millis(1));
            continue;
        }
        let mut pieces = 0;
        let got = source.consume(333, |frames| {
            assert_eq!(frames.len() % 2, 0, "a piece splits a frame");
            audio.extend_from_slice(frames);
            pieces += 1;
        });
        assert!(got <= 333);
        split += usize::from(pieces > 1);
    }
    assert!(split > 0, "the ring never wrapped inside a take");
    assert_eq!(audio.len() as u64, 2 * len);
    for (i, frame) in audio.chunks(2).enumerate() {
        let want = ramp_value(i as u64);
        assert!(
            (frame[0] - want).abs() < 1e-3 && (frame[1] - want).abs() < 1e-3,
            "frame {i}: {frame:?} is not {want}"
        );
    }
}

#[test]
fn dropping_a_source_stops_its_decoder() {
    let dir = Scratch::new("drop");
    let path = tone(&dir, "loop.flac", 440.0, RATE, 2, 0.5);
    let (source, _, watch) = open(
        &path,
        &OpenOptions {
            rate: RATE,
            offset: 0,
            looped: true,
            ring_frames: 2048,
        },
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(20));
    // A looped source never finishes on its own…
    assert!(!watch.finished());
    drop(source);
    // …but stops once nobody reads it.
    let deadline = std::time::Instant::now() + Duration::from_millis(500);
    while !watch.finished() {
        assert!(
            std::time::Instant::now() < deadline,
            "the decoder thread kept running"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[test]
fn surround_is_folded_down_to_stereo() {
    let dir = Scratch::new("surround");
    for ext in ["flac", "wav", "ogg"] {
        // Tone only in front-left, then only in the centre.
        for (name, pan) in [("left", "pan=5.1|FL=c0"), ("centre", "pan=5.1|FC=c0")] {
            let path = dir.path(&format!("{name}.{ext}"));
            let mut args = vec!["-af", pan];
            args.extend_from_slice(codec_args(ext));
            ffmpeg(
                "aevalsrc=exprs='0.5*sin(2*PI*440*t)':s=48000:d=1",
                &args,
                &path,
            );
            let (source, info, _) = open_at(&path, RATE, 0);
            assert_eq!(info.file_channels, 6, "{name}.{ext}");
            let audio = drain(source);
            let (l, r) = (rms(&channel(&audio, 0)), rms(&channel(&audio, 1)));
            if name == "left" {
                assert!(l > 0.05 && r < 0.01 * l, "{name}.{ext}: L {l} R {r}");
            } else {
                assert!(
                    l > 0.05 && (l - r).abs() < 0.01 * l,
                    "{name}.{ext}: L {l} R {r}"
                );
            }
        }
    }
}

#[test]
fn damaged_stretch_is_skipped_counted_and_caught_by_verify() {
    let dir = Scratch::new("damaged");
    for ext in ["flac", "mp3", "m4a", "ogg"] {
        let good = tone(&dir, &format!("good.{ext}"), 440.0, RATE, 2, 4.0);
        let mut bytes = std::fs::read(&good).unwrap();
        // Scribble over 3000 bytes in the middle of the file.
        let mid = bytes.len() / 2;
        for (i, b) in bytes[mid..mid + 3000].iter_mut().enumerate() {
            *b = (i * 7919 % 251) as u8;
        }
        let bad = dir.path(&format!("bad.{ext}"));
        std::fs::write(&bad, &bytes).unwrap();
        assert!(verify(&good).is_ok(), "{ext}");
        let (source, _, watch) = open_at(&bad, RATE, 0);
        let audio = drain(source);
        // The audio before the damage plays.
        assert!(audio.len() / 2 > 90_000, "{ext}: {}", audio.len() / 2);
        if ext == "ogg" {
            // Symphonia's Ogg reader ends the stream quietly at a
            // damaged page and then knows no length for the file, so
            // neither playing nor `verify` can tell; the director sees
            // the programme end early.
            continue;
        }
        let err = verify(&bad).unwrap_err();
        assert!(matches!(err, DecodeError::Damaged { .. }), "{ext}: {err}");
        // The rest of the programme plays too, minus the damage, which
        // is counted (a skipped packet) or reported (audio missing).
        assert!(audio.len() / 2 > 180_000, "{ext}: {}", audio.len() / 2);
        assert!(
            watch.skipped_packets() > 0 || watch.failure().is_some(),
            "{ext}"
        );
    }
}

#[test]
fn options_that_cannot_work_are_refused() {
    let dir = Scratch::new("options");
    let path = tone(&dir, "t.wav", 440.0, RATE, 2, 0.2);
    for (rate, ring_frames) in [(0, 4096), (RATE, 0)] {
        let err = open(
            &path,
            &OpenOptions {
                rate,
                offset: 0,
                looped: false,
                ring_frames,
            },
        )
        .unwrap_err();
        assert!(matches!(err, DecodeError::Options { .. }), "{err}");
    }
}
