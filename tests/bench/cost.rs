//! The cost benchmark: what the box's audio path costs, at full speed
//! beside ffmpeg and `lame`, and in real time as the running box (`onair
//! run`) beside the same work at full speed and beside Liquidsoap.
//!
//! `cargo bench --bench cost -- [--minutes N] [--runs R]` (a release build).
//!
//! It generates programme-like audio, encodes it to MP3 and FLAC with
//! ffmpeg, and for each file measures the CPU time the box's library spends
//! putting it on air in this process (decoder, resampler to the engine
//! rate, mixer, one output tap) against ffmpeg decoding the same file. The
//! benchmark's own threads (the stand-in sound card, the wait for the
//! programme to end) are measured apart and not counted. The stream side
//! encodes and sends the programme to one and two mounts of a real
//! `icecast2` beside `lame`. Then it runs the real box, the `onair` binary
//! cargo built beside it, on generated stations in real time and reads its
//! CPU, wake-ups and memory over a steady stretch, beside `lame` fed in
//! real time (what the machine charges for working in real time); and, when `liquidsoap`
//! is installed, the box and Liquidsoap doing the same stream job at once,
//! then again with the machine's cores kept awake.
//! Then the stream recorder recording channels from the same Icecast,
//! beside lame. Last, the archive's reading side on a generated month of
//! segments.

// The modules are public for the benchmark's tests, which include this
// file as a module of the `bench` test (tests/bench.rs, tests/bench/tests.rs).
pub mod air;
pub mod archive;
pub mod audio;
pub mod awake;
// Shared with the integration tests, which use more of it.
#[allow(dead_code)]
#[path = "../common/bwf.rs"]
pub mod bwf;
pub mod cpu;
// Shared with the integration tests, which use more of it.
#[allow(dead_code)]
#[path = "../common/goertzel.rs"]
pub mod goertzel;
#[path = "../common/icecast.rs"]
pub mod icecast;
pub mod liquidsoap;
pub mod paced_lame;
pub mod recording;
pub mod report;
pub mod running;
pub mod streams;
pub mod studio;
// Shared with the integration tests, which use more of it.
#[allow(dead_code)]
#[path = "../common/studio.rs"]
pub mod studio_input;
pub mod threads;
// Shared with the integration tests, which use more of it.
#[allow(dead_code)]
#[path = "../common/tone.rs"]
pub mod tone;

use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use onair::engine::{DecodeError, EngineError};

use air::{Aired, air, decode_only, ffmpeg_decode};
use audio::encode_programmes;
use icecast::{Icecast, IcecastError};
use liquidsoap::Side;
use report::{FileResult, Report};
use running::{Outputs, measure_box};
use streams::StreamTools;

/// Programme files arrive at CD rate; the engine runs at 48 kHz, so the
/// resampler is part of every measurement, as on a real box.
pub const FILE_RATE: u32 = 44_100;
pub const ENGINE_RATE: u32 = 48_000;
/// The block `onair run` uses (10 ms).
const BLOCK_FRAMES: usize = ENGINE_RATE as usize / 100;
/// What the director gives a decoder at speed 1 (3 s ahead of the mixer).
const DECODER_RING_FRAMES: usize = ENGINE_RATE as usize * 3;
/// The measured output tap: a handful of blocks, like a sound card's buffer.
const TAP_FRAMES: usize = BLOCK_FRAMES * 16;
/// The emergency file of the generated station.
const EMERGENCY_SECONDS: u32 = 20;
/// Turns of each CPU measurement unless told otherwise.
pub const DEFAULT_RUNS: u32 = 5;
pub const DEFAULT_MINUTES: u32 = 10;
/// The running box is measured from this long after its start (start-up,
/// the filler, the programme's fade-in and the streams' connecting are
/// over), for up to `LONGEST_STRETCH`, ending well before the programme.
const BOX_FROM: Duration = Duration::from_secs(10);
const LONGEST_STRETCH: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error(
        "{program} cannot be started ({source}): the benchmark encodes its test audio with \
         ffmpeg and measures the box beside it; install ffmpeg (apt-get install ffmpeg) \
         and make sure it is on PATH"
    )]
    NoFfmpeg { program: String, source: io::Error },
    #[error(
        "ffmpeg failed {doing}: {message}; check that this ffmpeg has the libmp3lame and \
         flac encoders (ffmpeg -hide_banner -encoders)"
    )]
    Ffmpeg { doing: String, message: String },
    #[error(
        "cannot {doing} {}: {source}; check the free space and permissions of the temporary \
         folder (set TMPDIR to use another)",
        path.display()
    )]
    Io {
        doing: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error("cannot read the CPU time used by {who}: {source}")]
    Rusage {
        who: &'static str,
        source: io::Error,
    },
    #[error("the box's decoder refused the generated file: {0}")]
    Decode(#[from] DecodeError),
    #[error("the box's engine did not start: {0}")]
    Engine(#[from] EngineError),
    #[error(
        "{file}: the engine did not finish the programme within {seconds} s (it ended {how}); \
         the audio path is stuck or far too slow for this machine"
    )]
    Unfinished {
        file: String,
        seconds: u64,
        how: String,
    },
    #[error("{file}: the decoder stopped before the end of the programme: {reason}")]
    DecoderFailed { file: String, reason: String },
    #[error("the running box (onair run) {problem}; its log ({}) ends with:\n{tail}", log.display())]
    Box {
        problem: String,
        log: PathBuf,
        tail: String,
    },
    #[error("the benchmark's Icecast server: {0}")]
    Icecast(#[from] IcecastError),
    #[error("Liquidsoap {problem}; its log ({}) ends with:\n{tail}", log.display())]
    Liquidsoap {
        problem: String,
        log: PathBuf,
        tail: String,
    },
    #[error(
        "{program} cannot be started ({source}): the stream benchmark compares the box's \
         encoder with the lame command-line encoder; install lame (apt-get install lame)"
    )]
    NoLame { program: String, source: io::Error },
    #[error("lame failed to encode the programme: {0}")]
    Lame(String),
    #[error("the box's stream outputs: {0}")]
    Stream(String),
    #[error("{0}")]
    Options(String),
}

/// What to measure, and where.
#[derive(Debug, Clone)]
pub struct Options {
    /// Length of each generated programme file.
    pub audio: Duration,
    /// Every CPU measurement is repeated this many times and the best kept,
    /// so that a busy moment on the machine does not count.
    pub runs: u32,
    /// The ffmpeg to encode the test audio with and to compare against.
    pub ffmpeg: PathBuf,
    /// The `onair` executable run in real time on generated stations;
    /// `None` leaves the running box out.
    pub box_binary: Option<PathBuf>,
    /// A fresh folder is made under this one and removed afterwards.
    pub temp: PathBuf,
    /// The Icecast server and the `lame` encoder for the stream side;
    /// `None` leaves the streams out.
    pub streams: Option<StreamTools>,
    /// `liquidsoap`, when installed.
    pub liquidsoap: Option<PathBuf>,
    /// Days of archive generated for its reading side; 0 leaves it out.
    pub archive_days: u32,
}

impl Options {
    /// What `--minutes N --runs R` measures: N minutes of audio, best of
    /// R, the `onair` binary cargo built beside the benchmark as the running
    /// box, and Liquidsoap if it is installed.
    pub fn for_minutes(minutes: u32, runs: u32) -> Result<Self, BenchError> {
        if minutes == 0 {
            return Err(BenchError::Options(
                "--minutes 0 gives nothing to measure; use 1 or more (10 is usual)".into(),
            ));
        }
        Ok(Options {
            audio: Duration::from_secs(u64::from(minutes) * 60),
            runs,
            ffmpeg: PathBuf::from("ffmpeg"),
            box_binary: Some(PathBuf::from(env!("CARGO_BIN_EXE_onair"))),
            temp: std::env::temp_dir(),
            streams: Some(StreamTools {
                icecast: PathBuf::from("icecast2"),
                lame: PathBuf::from("lame"),
            }),
            liquidsoap: liquidsoap::find(),
            archive_days: 30,
        })
    }
}

/// Reads `--minutes N --runs R` (cargo bench adds `--bench`).
pub fn parse_args(args: impl IntoIterator<Item = String>) -> Result<(u32, u32), String> {
    let (mut minutes, mut runs) = (DEFAULT_MINUTES, DEFAULT_RUNS);
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let mut number = |name: &str, range: std::ops::RangeInclusive<u32>| {
            let value = args.next().unwrap_or_default();
            value
                .parse()
                .ok()
                .filter(|n| range.contains(n))
                .ok_or_else(|| {
                    format!(
                        "{name} {value:?}: expected a whole number from {} to {}",
                        range.start(),
                        range.end()
                    )
                })
        };
        match arg.as_str() {
            "--minutes" => minutes = number("--minutes", 1..=600)?,
            "--runs" => runs = number("--runs", 1..=50)?,
            "--bench" => {}
            other => {
                return Err(format!(
                    "unknown argument {other:?}; usage: cargo bench --bench cost -- \
                     [--minutes N (minutes of programme audio, default {DEFAULT_MINUTES})] \
                     [--runs R (turns of each CPU measurement, best kept, default {DEFAULT_RUNS})]"
                ));
            }
        }
    }
    Ok((minutes, runs))
}

/// Generates the programme files, measures them, the streams, and the box.
pub fn run_with(options: &Options) -> Result<Report, BenchError> {
    if options.runs == 0 || options.audio < Duration::from_secs(1) {
        return Err(BenchError::Options(format!(
            "nothing to measure with {} run(s) of {:.1} s of audio; use at least 1 run of 1 s",
            options.runs,
            options.audio.as_secs_f64()
        )));
    }
    let work = WorkFolder::create(&options.temp)?;
    let frames = (options.audio.as_secs_f64() * f64::from(FILE_RATE)).round() as u64;
    progress(&format!(
        "generating {:.1} min of programme audio and encoding it to MP3 and FLAC",
        options.audio.as_secs_f64() / 60.0
    ));
    let files = encode_programmes(&options.ffmpeg, work.path(), frames)?;

    let mut results = Vec::with_capacity(2);
    for (format, path) in [
        ("MP3 128 kb/s CBR", &files.mp3),
        ("FLAC 16-bit", &files.flac),
    ] {
        progress(&format!("measuring {format} ({} run(s))", options.runs));
        let mut best: Option<Aired> = None;
        let (mut ffmpeg_best, mut decode_best, mut resample_best) =
            (Duration::MAX, Duration::MAX, Duration::MAX);
        // Taking turns spreads any slow moment of the machine over every side.
        for _ in 0..options.runs {
            let aired = air(path)?;
            if best.as_ref().is_none_or(|b| aired.cpu < b.cpu) {
                best = Some(aired);
            }
            ffmpeg_best = ffmpeg_best.min(ffmpeg_decode(&options.ffmpeg, path)?);
            decode_best = decode_best.min(decode_only(path, FILE_RATE)?);
            resample_best = resample_best.min(decode_only(path, ENGINE_RATE)?);
        }
        if let Some(aired) = best {
            results.push(FileResult {
                format: format.to_string(),
                ours: aired.cpu,
                harness: aired.harness,
                decode: decode_best,
                decode_resample: resample_best,
                ffmpeg: ffmpeg_best,
                aired_frames: aired.ended_at.saturating_sub(aired.underruns),
                expected_frames: aired.expected,
                underruns: aired.underruns,
            });
        }
    }

    let server = match &options.streams {
        Some(tools) => Some(Icecast::launch(
            &tools.icecast,
            &work.path().join("icecast"),
            "",
        )?),
        None => None,
    };
    let streams = match (&options.streams, &server) {
        (Some(tools), Some(server)) => Some(streams::measure(
            tools,
            &options.ffmpeg,
            server,
            work.path(),
            &files.mp3,
            options.runs,
        )?),
        _ => None,
    };

    // The stretch ends well before the programme does, so the box never
    // falls back to filler while measured.
    let stretch = options
        .audio
        .saturating_sub(BOX_FROM + Duration::from_secs(10))
        .clamp(Duration::from_secs(5), LONGEST_STRETCH);
    let recording = match (&server, &streams) {
        (Some(server), Some(streams)) => {
            progress(&format!(
                "recording {} channels of the programme from Icecast, measuring {} s in real time",
                recording::CHANNELS,
                stretch.as_secs()
            ));
            Some(recording::measure(
                &options.ffmpeg,
                server,
                work.path(),
                &files.mp3,
                stretch,
                report::per_hour(streams.lame, options.audio),
            )?)
        }
        _ => None,
    };
    let (mut null_box, mut stream_box, mut archived_box) = (None, None, None);
    let mut paced = None;
    let mut two_mounts_beside = Vec::new();
    let mut stream_box_awake = None;
    let mut liquidsoap_awake = None;
    let mut beside = match &options.liquidsoap {
        None => Side::NotInstalled,
        Some(_) => Side::NotRun,
    };
    if let Some(binary) = &options.box_binary {
        progress(&format!(
            "running the box with a null output, measuring {} s in real time",
            stretch.as_secs()
        ));
        null_box = Some(measure_box(
            binary,
            work.path(),
            &files,
            Outputs::Null,
            BOX_FROM,
            stretch,
        )?);
        if let Some(server) = &server {
            progress(&format!(
                "running the box streaming to two mounts, measuring {} s in real time, the same \
                 work at full speed just before and after",
                stretch.as_secs()
            ));
            // This machine's speed drifts by a fifth within minutes; the
            // ratio's two sides are measured as close together as they can be.
            let before = streams::stream_to_mounts(&files.mp3, 2, server)?;
            stream_box = Some(measure_box(
                binary,
                work.path(),
                &files,
                Outputs::NullAndTwoMounts(server.port),
                BOX_FROM,
                stretch,
            )?);
            let after = streams::stream_to_mounts(&files.mp3, 2, server)?;
            two_mounts_beside = vec![before, after];
            progress(&format!(
                "running the box streaming to two mounts again with this machine's cores kept \
                 awake, measuring {} s in real time",
                stretch.as_secs()
            ));
            let awake = awake::CoresKeptAwake::start()?;
            // A station of its own: not resuming the first box's log.
            stream_box_awake = Some(measure_box(
                binary,
                &work.path().join("awake"),
                &files,
                Outputs::NullAndTwoMounts(server.port),
                BOX_FROM,
                stretch,
            )?);
            drop(awake);
            if let Some(tools) = &options.streams
                && let Some(args) = streams::lame_arguments(&streams::stream_settings())
            {
                progress(&format!(
                    "feeding lame in real time, measuring {} s, beside lame flat out",
                    stretch.as_secs()
                ));
                paced = Some(paced_lame::measure(
                    &tools.lame,
                    &args,
                    &options.ffmpeg,
                    &files.mp3,
                    work.path(),
                    stretch,
                )?);
            }
            progress(&format!(
                "running the box streaming to two mounts and keeping an archive, measuring {} s \
                 in real time",
                stretch.as_secs()
            ));
            archived_box = Some(measure_box(
                binary,
                work.path(),
                &files,
                Outputs::TwoMountsArchived(server.port),
                BOX_FROM,
                stretch,
            )?);
            if let Some(program) = &options.liquidsoap {
                progress("running the box and Liquidsoap side by side, one mount each");
                beside = Side::Measured(Box::new(liquidsoap::measure(
                    program,
                    binary,
                    server,
                    work.path(),
                    &files,
                )?));
                progress(
                    "running the box and Liquidsoap side by side again with this machine's cores \
                     kept awake",
                );
                let awake = awake::CoresKeptAwake::start()?;
                liquidsoap_awake = Some(liquidsoap::measure(
                    program,
                    binary,
                    server,
                    &work.path().join("awake"),
                    &files,
                )?);
                drop(awake);
            }
        }
    }
    let studio = match &options.box_binary {
        Some(binary) => {
            progress(&format!(
                "running the box with the studio's input: LIVE, then {} s of automation and {} s \
                 of the studio in real time",
                stretch.as_secs(),
                stretch.as_secs()
            ));
            Some(studio::measure(binary, work.path(), stretch)?)
        }
        None => None,
    };
    let archive = match options.archive_days {
        0 => None,
        days => {
            progress(&format!(
                "generating {days} day(s) of archive and reading it: playlists, coverage, a cut"
            ));
            Some(archive::measure(work.path(), days, options.runs)?)
        }
    };
    Ok(Report {
        audio: options.audio,
        runs: options.runs,
        files: results,
        streams,
        null_box,
        stream_box,
        two_mounts_beside,
        stream_box_awake,
        archived_box,
        paced_lame: paced,
        liquidsoap: beside,
        liquidsoap_awake,
        studio,
        archive,
        recording,
        debug_build: cfg!(debug_assertions),
    })
}

fn progress(what: &str) {
    eprintln!("cost: {what}");
}

/// The benchmark's own folder in the temporary folder, removed when done.
pub struct WorkFolder(PathBuf);

impl WorkFolder {
    pub fn create(parent: &Path) -> Result<Self, BenchError> {
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .subsec_nanos();
        let path = parent.join(format!("onair-bench-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&path).map_err(|source| BenchError::Io {
            doing: "create the benchmark folder",
            path: path.clone(),
            source,
        })?;
        Ok(WorkFolder(path))
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for WorkFolder {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

// In the `bench` test this file is a module and its tests call the parts.
#[cfg_attr(test, allow(dead_code))]
fn main() -> std::process::ExitCode {
    use std::process::ExitCode;
    let report = parse_args(std::env::args().skip(1))
        .map_err(BenchError::Options)
        .and_then(|(minutes, runs)| Options::for_minutes(minutes, runs))
        .and_then(|options| run_with(&options));
    match report {
        Ok(report) => {
            println!("{report}");
            if report.passed() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("cost benchmark: {e}");
            ExitCode::FAILURE
        }
    }
}
