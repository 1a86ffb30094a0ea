//! Test programmes generated with ffmpeg (never downloaded), and ways to
//! listen to what the engine made of them.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::decoder::{self, OpenOptions, Source, SourceInfo, SourceWatch};

/// A scratch folder removed when the test ends.
pub struct Scratch {
    pub dir: PathBuf,
}

impl Scratch {
    pub fn new(name: &str) -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "onair-{name}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Scratch { dir }
    }

    pub fn path(&self, file: &str) -> PathBuf {
        self.dir.join(file)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Runs ffmpeg with a lavfi source and output arguments; panics with its
/// message if it fails.
pub fn ffmpeg(source: &str, args: &[&str], out: &Path) {
    let status = Command::new("ffmpeg")
        .args([
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            source,
        ])
        .args(args)
        .arg(out)
        .output()
        .expect("ffmpeg is installed");
    assert!(
        status.status.success(),
        "ffmpeg failed for {}: {}",
        out.display(),
        String::from_utf8_lossy(&status.stderr)
    );
}

/// Codec arguments for a file extension.
pub fn codec_args(ext: &str) -> &'static [&'static str] {
    match ext {
        "wav" => &["-c:a", "pcm_s16le"],
        "flac" => &["-c:a", "flac"],
        "mp3" => &["-c:a", "libmp3lame", "-b:a", "192k"],
        "ogg" => &["-c:a", "libvorbis", "-q:a", "5"],
        "m4a" => &["-c:a", "aac", "-b:a", "192k"],
        other => panic!("no codec for .{other}"),
    }
}

/// A sine tone file (amplitude 0.5): `freq` Hz, `secs` long, at `rate`,
/// with `channels` channels all carrying the tone.
pub fn tone(dir: &Scratch, name: &str, freq: f64, rate: u32, channels: u32, secs: f64) -> PathBuf {
    let out = dir.path(name);
    let ext = out.extension().and_then(|e| e.to_str()).unwrap_or("");
    let source = format!("aevalsrc=exprs='0.5*sin(2*PI*{freq}*t)':s={rate}:d={secs}");
    let ac = channels.to_string();
    let mut args = vec!["-ac", &ac];
    args.extend_from_slice(codec_args(ext));
    ffmpeg(&source, &args, &out);
    out
}

/// A stereo 32-bit float WAV at 48 kHz whose frame `i` is `value(i)`
/// in both channels: levels the mixer tests can check exactly.
pub fn wav(dir: &Scratch, name: &str, frames: u64, value: impl Fn(u64) -> f32) -> PathBuf {
    let path = dir.path(name);
    let spec = hound::WavSpec {
        channels: 2,
        sample_rate: 48_000,
        bits_per_sample: 32,
        sample_format: hound::SampleFormat::Float,
    };
    let mut writer = hound::WavWriter::create(&path, spec).unwrap();
    for i in 0..frames {
        writer.write_sample(value(i)).unwrap();
        writer.write_sample(value(i)).unwrap();
    }
    writer.finalize().unwrap();
    path
}

/// Opens a file with the engine's usual settings.
pub fn open_at(path: &Path, rate: u32, offset: u64) -> (Source, SourceInfo, SourceWatch) {
    decoder::open(
        path,
        &OpenOptions {
            rate,
            offset,
            looped: false,
            ring_frames: 16_384,
        },
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

/// Drains a source to its end (interleaved stereo).
pub fn drain(mut source: Source) -> Vec<f32> {
    let mut all = Vec::new();
    let mut buf = vec![0.0; 4096];
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let n = source.read(&mut buf);
        all.extend_from_slice(&buf[..n * 2]);
        if n == 0 {
            if source.is_exhausted() {
                return all;
            }
            assert!(Instant::now() < deadline, "the decoder never finished");
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

/// Waits until the decoder has delivered `frames` frames or stopped.
pub fn wait_buffered(watch: &SourceWatch, frames: u64) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while watch.frames_decoded() < frames && !watch.finished() {
        assert!(Instant::now() < deadline, "the decoder is stuck");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// One channel of interleaved stereo.
pub fn channel(stereo: &[f32], ch: usize) -> Vec<f32> {
    stereo.iter().skip(ch).step_by(2).copied().collect()
}

/// Power of `freq` in `samples` (Goertzel), normalised so a full-scale sine
/// reads about 0.25 × amplitude².
pub fn goertzel(samples: &[f32], rate: u32, freq: f64) -> f64 {
    let w = 2.0 * std::f64::consts::PI * freq / rate as f64;
    let coeff = 2.0 * w.cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for &x in samples {
        let s0 = x as f64 + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    let n = samples.len().max(1) as f64;
    (s1 * s1 + s2 * s2 - coeff * s1 * s2) / (n * n)
}

/// The frequency of a tone, from its rising zero crossings.
pub fn frequency(samples: &[f32], rate: u32) -> f64 {
    let crossings: Vec<usize> = samples
        .windows(2)
        .enumerate()
        .filter(|(_, w)| w[0] < 0.0 && w[1] >= 0.0)
        .map(|(i, _)| i)
        .collect();
    assert!(crossings.len() > 2, "no tone to measure");
    let span = (crossings[crossings.len() - 1] - crossings[0]) as f64;
    (crossings.len() - 1) as f64 * rate as f64 / span
}

/// Root mean square level.
pub fn rms(samples: &[f32]) -> f64 {
    let sum: f64 = samples.iter().map(|s| (*s as f64) * (*s as f64)).sum();
    (sum / samples.len().max(1) as f64).sqrt()
}

/// The lag (in frames) at which `part` best matches `whole` around `at`.
pub fn best_lag(whole: &[f32], part: &[f32], at: usize, search: usize) -> i64 {
    let len = part.len().min(4096);
    let mut best = (f64::MIN, 0i64);
    for lag in -(search as i64)..=search as i64 {
        let start = at as i64 + lag;
        if start < 0 || start as usize + len > whole.len() {
            continue;
        }
        let w = &whole[start as usize..start as usize + len];
        let score: f64 = w
            .iter()
            .zip(&part[..len])
            .map(|(a, b)| (*a as f64) * (*b as f64))
            .sum();
        if score > best.0 {
            best = (score, lag);
        }
    }
    best.1
}
