//! What this machine charges any encoder for working in real time: `lame`
//! itself, given the decoded programme a quarter of a second at a time at
//! the pace of the clock (as the box's stream output hands its encoder a
//! batch), beside the same `lame` encoding the same seconds flat out just
//! before and just after.
//!
//! The box's real-time target compares the running box with the same work
//! at full speed. Work done in short bursts between sleeps can cost more
//! CPU per unit than the same work back to back, for reasons outside the
//! program (an idle core's clock and caches, a virtual machine's halted
//! processor): this line measures that part on the machine the benchmark
//! runs on, with an encoder that is not the box's, so a reader can tell
//! the box's own overhead from the machine's. It is shown, not judged.

use std::io::Write;
use std::path::Path;
use std::process::{Command as Process, Stdio};
use std::time::{Duration, Instant};

use super::BenchError;
use super::audio::spawn_ffmpeg;
use super::streams::{STREAM_RATE, lame_encode};

/// What one write to `lame` holds, as the box's runner hands its encoder
/// a batch (`pacing::RUNNER_BATCH_PARTS` of a 2 s ring).
pub const CHUNK: Duration = Duration::from_millis(250);
/// `lame` is read from this long after its start, for the stretch.
const SETTLE: Duration = Duration::from_secs(2);
const BYTES_PER_FRAME: usize = 4;

/// `lame` in real time beside `lame` flat out on the same audio.
#[derive(Debug, Clone, Copy)]
pub struct PacedLame {
    /// Seconds of audio measured on each side.
    pub audio: Duration,
    /// CPU of `lame` fed in real time, over `audio`.
    pub paced: Duration,
    /// CPU of `lame` encoding the same `audio` flat out: the mean of a
    /// turn just before and one just after, so a drift of the machine's
    /// speed meanwhile counts half on each side.
    pub flat: Duration,
}

impl PacedLame {
    /// Real time against flat out.
    pub fn ratio(&self) -> f64 {
        self.paced.as_secs_f64() / self.flat.as_secs_f64().max(1e-9)
    }
}

/// Measures `lame` with `args` (the box's encoder settings) paced for
/// `stretch` and flat out on the same seconds of `programme`.
pub fn measure(
    lame: &Path,
    args: &[String],
    ffmpeg: &Path,
    programme: &Path,
    work: &Path,
    stretch: Duration,
) -> Result<PacedLame, BenchError> {
    let pcm = decode_to_pcm(ffmpeg, programme)?;
    let frames_per_second = STREAM_RATE as usize;
    let chunk = (CHUNK.as_secs_f64() * frames_per_second as f64) as usize * BYTES_PER_FRAME;
    let settle = SETTLE.as_secs() as usize * frames_per_second * BYTES_PER_FRAME;
    let wanted = stretch.as_secs_f64() * frames_per_second as f64;
    let wanted = (wanted as usize * BYTES_PER_FRAME).min(pcm.len().saturating_sub(settle));
    if wanted < chunk * 4 {
        return Err(BenchError::Options(format!(
            "the programme is too short to feed lame in real time for {:.0} s",
            stretch.as_secs_f64()
        )));
    }
    let measured = &pcm[settle..settle + wanted];
    let audio =
        Duration::from_secs_f64((wanted / BYTES_PER_FRAME) as f64 / frames_per_second as f64);
    let wav = work.join("paced-lame.wav");
    write_wav(&wav, measured)?;

    let before = lame_encode(lame, args, &wav, work)?;
    let paced = paced(lame, args, &pcm[..settle + wanted], settle, chunk, work)?;
    let after = lame_encode(lame, args, &wav, work)?;
    let _ = std::fs::remove_file(&wav);
    Ok(PacedLame {
        audio,
        paced,
        flat: (before + after) / 2,
    })
}

/// `lame` reading raw 16-bit little-endian stereo at the stream's rate
/// from its standard input.
fn start_lame(lame: &Path, args: &[String], output: &Path) -> Process {
    let mut command = Process::new(lame);
    command
        .args(args)
        .args(["-r", "-s"])
        .arg(format!("{}", f64::from(STREAM_RATE) / 1000.0))
        .args(["--bitwidth", "16", "--signed", "--little-endian", "-"])
        .arg(output)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    command
}

fn lame_error(lame: &Path) -> impl FnOnce(std::io::Error) -> BenchError {
    let program = lame.display().to_string();
    move |source| BenchError::NoLame { program, source }
}

/// The measured seconds as the 16-bit WAV `lame` reads flat out.
fn write_wav(path: &Path, pcm: &[u8]) -> Result<(), BenchError> {
    let spec = hound::WavSpec {
        channels: 2,
        sample_rate: STREAM_RATE,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let failed = |e: hound::Error| BenchError::Io {
        doing: "write",
        path: path.to_path_buf(),
        source: std::io::Error::other(e),
    };
    let mut writer = hound::WavWriter::create(path, spec).map_err(failed)?;
    for sample in pcm.chunks_exact(2) {
        writer
            .write_sample(i16::from_le_bytes([sample[0], sample[1]]))
            .map_err(failed)?;
    }
    writer.finalize().map_err(failed)
}

/// `lame` reading `pcm` from a pipe, `chunk` bytes at a time on the
/// clock; its CPU from `settle` bytes on to the end.
fn paced(
    lame: &Path,
    args: &[String],
    pcm: &[u8],
    settle: usize,
    chunk: usize,
    work: &Path,
) -> Result<Duration, BenchError> {
    let mp3 = work.join("paced-lame.mp3");
    let mut child = start_lame(lame, args, &mp3)
        .stdin(Stdio::piped())
        .spawn()
        .map_err(lame_error(lame))?;
    let pid = child.id();
    let mut stdin = child.stdin.take().expect("stdin was piped");
    let started = Instant::now();
    let mut from = None;
    let mut written = 0;
    let mut fed = Ok(());
    for (n, piece) in pcm.chunks(chunk).enumerate() {
        if written >= settle && from.is_none() {
            from = run_time(pid);
        }
        if let Err(e) = stdin.write_all(piece) {
            fed = Err(e);
            break;
        }
        written += piece.len();
        let next = started + CHUNK * (n as u32 + 1);
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
    }
    // The last chunk is encoded before lame reads the end of its input.
    let to = run_time(pid);
    drop(stdin);
    let status = child.wait().map_err(lame_error(lame))?;
    let _ = std::fs::remove_file(&mp3);
    fed.map_err(|e| BenchError::Lame(format!("fed in real time: {e}")))?;
    if !status.success() {
        return Err(BenchError::Lame(format!("fed in real time: {status}")));
    }
    match (from, to) {
        (Some(from), Some(to)) => Ok(to.saturating_sub(from)),
        _ => Err(BenchError::Lame(format!(
            "the CPU time of lame ({pid}) could not be read from /proc"
        ))),
    }
}

/// A single-threaded process's CPU so far, to the nanosecond (its first
/// thread's `schedstat`).
fn run_time(pid: u32) -> Option<Duration> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/schedstat")).ok()?;
    let nanos = text.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(nanos))
}

/// The programme decoded by ffmpeg to raw 16-bit stereo at the stream's rate.
fn decode_to_pcm(ffmpeg: &Path, programme: &Path) -> Result<Vec<u8>, BenchError> {
    let doing = || format!("decoding {} for lame in real time", programme.display());
    let output = spawn_ffmpeg(
        ffmpeg,
        Process::new(ffmpeg)
            .args(["-nostdin", "-v", "error", "-i"])
            .arg(programme)
            .args([
                "-f",
                "s16le",
                "-ac",
                "2",
                "-ar",
                &STREAM_RATE.to_string(),
                "-",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
    )?
    .wait_with_output()
    .map_err(|e| BenchError::Ffmpeg {
        doing: doing(),
        message: e.to_string(),
    })?;
    if !output.status.success() {
        return Err(BenchError::Ffmpeg {
            doing: doing(),
            message: String::from_utf8_lossy(&output.stderr).trim().to_string(),
        });
    }
    Ok(output.stdout)
}
