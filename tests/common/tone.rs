//! Test programmes: each one is a tone (or a sequence of tones) of its own
//! frequency, so what aired when can be read back from the output with a
//! Goertzel filter. Compressed formats are made from the WAV with ffmpeg.

use std::f64::consts::TAU;
use std::path::{Path, PathBuf};
use std::process::Command;

use rand::{Rng, SeedableRng};

/// Peak level of generated tones (−6 dBFS): headroom for resampling and
/// lossy codecs, which overshoot a full-scale sine.
pub const TONE_AMPLITUDE: f64 = 0.5;

/// A WAV file holding one tone, 16-bit PCM.
pub fn write_tone(path: &Path, freq_hz: u32, seconds: f64, rate: u32, channels: u16) {
    write_tones(path, &[(freq_hz, seconds)], rate, channels);
}

/// Tones one after another, phase-continuous, so each step is heard as a
/// change of pitch and not as a click. Step boundaries are placed from the
/// running total, so many steps do not accumulate rounding.
pub fn write_tones(path: &Path, steps: &[(u32, f64)], rate: u32, channels: u16) {
    let spec = hound::WavSpec {
        channels,
        sample_rate: rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut writer = hound::WavWriter::create(path, spec)
        .unwrap_or_else(|e| panic!("cannot create {}: {e}", path.display()));
    let mut phase = 0.0f64;
    let mut elapsed = 0.0f64;
    let mut written = 0u64;
    for &(freq, seconds) in steps {
        elapsed += seconds;
        let until = (elapsed * rate as f64).round() as u64;
        let step = TAU * freq as f64 / rate as f64;
        while written < until {
            let value = (phase.sin() * TONE_AMPLITUDE * i16::MAX as f64).round() as i16;
            for _ in 0..channels {
                writer
                    .write_sample(value)
                    .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
            }
            phase = (phase + step) % TAU;
            written += 1;
        }
    }
    writer
        .finalize()
        .unwrap_or_else(|e| panic!("cannot finish {}: {e}", path.display()));
}

/// Encodes `wav` with ffmpeg into `ext` (mp3, flac, ogg, m4a; wav is copied)
/// next to it, and returns the new file.
pub fn encode(wav: &Path, ext: &str) -> PathBuf {
    let out = wav.with_extension(format!("encoded.{ext}"));
    let codec: &[&str] = match ext {
        "wav" => {
            std::fs::copy(wav, &out)
                .unwrap_or_else(|e| panic!("cannot copy {}: {e}", wav.display()));
            return out;
        }
        "mp3" => &["-c:a", "libmp3lame", "-b:a", "128k"],
        "flac" => &["-c:a", "flac"],
        "ogg" => &["-c:a", "libvorbis", "-q:a", "5"],
        "m4a" => &["-c:a", "aac", "-b:a", "128k"],
        other => panic!("no encoder for .{other}: use wav, mp3, flac, ogg or m4a"),
    };
    let output = Command::new("ffmpeg")
        .args(["-nostdin", "-y", "-loglevel", "error", "-i"])
        .arg(wav)
        .args(codec)
        .arg(&out)
        .output()
        .unwrap_or_else(|e| panic!("cannot run ffmpeg (is it installed?): {e}"));
    assert!(
        output.status.success(),
        "ffmpeg could not encode {} to .{ext}: {}",
        wav.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    out
}

/// Decodes any audio file with ffmpeg to mono 16-bit samples at `rate`, as an
/// independent listener would hear it.
pub fn decode(path: &Path, rate: u32) -> Vec<f32> {
    let output = Command::new("ffmpeg")
        .args(["-nostdin", "-loglevel", "error", "-i"])
        .arg(path)
        .args(["-ac", "1", "-ar", &rate.to_string(), "-f", "s16le", "-"])
        .output()
        .unwrap_or_else(|e| panic!("cannot run ffmpeg (is it installed?): {e}"));
    assert!(
        output.status.success(),
        "ffmpeg could not decode {}: {}",
        path.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    output
        .stdout
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]) as f32 / 32768.0)
        .collect()
}

/// Bytes that are no audio format at all, the same on every run so a failure
/// can be reproduced.
pub fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut bytes = vec![0u8; len];
    rand::rngs::StdRng::seed_from_u64(seed).fill_bytes(&mut bytes);
    bytes
}

/// Cuts a file to half its length, as an interrupted copy would leave it.
pub fn truncate_to_half(path: &Path) {
    let len = std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
        .len();
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .unwrap_or_else(|e| panic!("cannot open {}: {e}", path.display()));
    file.set_len(len / 2)
        .unwrap_or_else(|e| panic!("cannot truncate {}: {e}", path.display()));
}

/// The length of an audio file as ffprobe reads it, in seconds.
pub fn duration(path: &Path) -> f64 {
    let output = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "format=duration",
            "-of",
            "csv=p=0",
        ])
        .arg(path)
        .output()
        .unwrap_or_else(|e| panic!("cannot run ffprobe (is it installed?): {e}"));
    assert!(
        output.status.success(),
        "ffprobe refused {}",
        path.display()
    );
    String::from_utf8_lossy(&output.stdout)
        .trim()
        .parse()
        .unwrap_or_else(|e| panic!("ffprobe's duration of {}: {e}", path.display()))
}
