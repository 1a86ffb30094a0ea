//! `onair bench`: what the audio path costs, measured beside ffmpeg.
//!
//! It generates programme-like audio, encodes it to MP3 and FLAC with ffmpeg,
//! and for each file measures the CPU time the box spends putting it on air
//! (decoder, resampler to the engine rate, mixer, one output tap) against
//! ffmpeg decoding the same file in the same run. The benchmark's own
//! threads (the stand-in sound card that discards the output, and the wait
//! for the programme to end) are measured apart and not counted: they only
//! poll, and what they cost depends on their polling, not on the audio path. It then starts a real box
//! (`onair run`) on a generated station with a programme on air and reads its
//! peak resident memory. The targets are the issue's: at most 1.5× ffmpeg's
//! decode CPU, and under 30 MiB resident.

use std::fmt;
use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command as Process, ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use chrono::{TimeDelta, Utc};
use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};
use tracing::info;

use crate::clock::{Clock, Timeline};
use crate::engine::{
    self, Command, DecodeError, EndHow, EngineError, EngineSettings, Event, OpenOptions, Source,
    SourceWatch, Start, decoder,
};
use crate::output::{CHANNELS, OutputStats, Tap};

pub mod icecast;
pub mod streams;
pub mod threads;

pub use streams::{StreamResult, StreamRun, StreamTools};

/// The box may spend at most this many times ffmpeg's decode CPU on a file.
pub const CPU_RATIO_TARGET: f64 = 1.5;
/// The running box must stay under this peak resident size.
pub const MEMORY_TARGET_KIB: u64 = 30 * 1024;

/// Programme files arrive at CD rate; the engine runs at 48 kHz, so the
/// resampler is part of every measurement, as on a real box.
const FILE_RATE: u32 = 44_100;
const ENGINE_RATE: u32 = 48_000;
/// The block `onair run` uses (10 ms).
const BLOCK_FRAMES: usize = ENGINE_RATE as usize / 100;
/// What the director gives a decoder at speed 1 (3 s ahead of the mixer).
const DECODER_RING_FRAMES: usize = ENGINE_RATE as usize * 3;
/// The measured output tap: a handful of blocks, like a sound card's buffer.
const TAP_FRAMES: usize = BLOCK_FRAMES * 16;
/// The emergency file of the generated station.
const EMERGENCY_SECONDS: u32 = 20;
/// A station that cannot start within this is broken, not slow.
const BOX_START_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a box may take to stop after SIGTERM before it is killed.
const BOX_STOP_TIMEOUT: Duration = Duration::from_secs(10);
/// The generated station's programme file, its start and its clock's start
/// (a few seconds of filler first, then the programme starts with a fade).
const PROGRAMME_FILE: &str = "20260601_1000_bench-programme.mp3";
const CLOCK_START: &str = "2026-06-01T09:59:57";
/// A file younger than this is still "being copied" for the schedule.
const SETTLED_AFTER: Duration = Duration::from_millis(2_500);

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
    #[error(
        "{program} cannot be started ({source}): the stream benchmark sends to a real Icecast \
         server; install icecast2 (apt-get install icecast2, or .ci/deps test)"
    )]
    NoIcecast { program: String, source: io::Error },
    #[error("the benchmark's Icecast server: {0}")]
    Icecast(String),
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
    /// The `onair` executable whose memory is measured while it runs a
    /// generated station; `None` leaves the memory out.
    pub box_binary: Option<PathBuf>,
    /// How long the box runs before its peak memory is read.
    pub box_run: Duration,
    /// A fresh folder is made under this one and removed afterwards.
    pub temp: PathBuf,
    /// The Icecast server and the `lame` encoder for the stream side;
    /// `None` leaves the streams out.
    pub streams: Option<StreamTools>,
}

impl Options {
    /// What `onair bench --minutes N --runs R` measures: N minutes of
    /// audio, best of R, and this very executable as the running box for 12 s.
    pub fn for_minutes(minutes: u32, runs: u32) -> Result<Self, BenchError> {
        if minutes == 0 {
            return Err(BenchError::Options(
                "--minutes 0 gives nothing to measure; use 1 or more (10 is usual)".into(),
            ));
        }
        let binary = std::env::current_exe().map_err(|source| BenchError::Io {
            doing: "find the running executable",
            path: PathBuf::from("/proc/self/exe"),
            source,
        })?;
        Ok(Options {
            audio: Duration::from_secs(u64::from(minutes) * 60),
            runs,
            ffmpeg: PathBuf::from("ffmpeg"),
            box_binary: Some(binary),
            box_run: Duration::from_secs(12),
            temp: std::env::temp_dir(),
            streams: Some(StreamTools {
                icecast: PathBuf::from("icecast2"),
                lame: PathBuf::from("lame"),
            }),
        })
    }
}

/// Turns of each CPU measurement unless told otherwise.
pub const DEFAULT_RUNS: u32 = 5;

/// `onair bench --minutes N --runs R`.
pub fn run(minutes: u32, runs: u32) -> Result<Report, BenchError> {
    run_with(&Options::for_minutes(minutes, runs)?)
}

/// Generates the programme files, measures them, and measures the box.
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
    info!(
        "generating {:.1} min of programme audio and encoding it to MP3 and FLAC",
        options.audio.as_secs_f64() / 60.0
    );
    let files = encode_programmes(&options.ffmpeg, work.path(), frames)?;

    let mut results = Vec::with_capacity(2);
    for (format, path) in [
        ("MP3 128 kb/s CBR", &files.mp3),
        ("FLAC 16-bit", &files.flac),
    ] {
        info!("measuring {format} ({} run(s))", options.runs);
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
        Some(tools) => Some(icecast::BenchServer::start(
            &tools.icecast,
            &work.path().join("icecast"),
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

    let (mut memory, mut stream_memory) = (None, None);
    if let Some(binary) = &options.box_binary {
        info!(
            "running the box ({}) for {} s on a generated station",
            binary.display(),
            options.box_run.as_secs()
        );
        memory = Some(measure_box(
            binary,
            work.path(),
            &files,
            options.box_run,
            None,
        )?);
        if let Some(server) = &server {
            info!(
                "running the box for {} s on a generated station with two mounts",
                options.box_run.as_secs()
            );
            stream_memory = Some(measure_box(
                binary,
                work.path(),
                &files,
                options.box_run,
                Some(server.port),
            )?);
        }
    }
    Ok(Report {
        audio: options.audio,
        runs: options.runs,
        files: results,
        memory,
        streams,
        stream_memory,
        debug_build: cfg!(debug_assertions),
    })
}

/// The outcome of one benchmark.
#[derive(Debug, Clone)]
pub struct Report {
    pub audio: Duration,
    pub runs: u32,
    pub files: Vec<FileResult>,
    pub memory: Option<BoxMemory>,
    /// The stream side: one and two mounts beside lame and ffmpeg.
    pub streams: Option<StreamResult>,
    /// The running box with two mounts on the benchmark's server.
    pub stream_memory: Option<BoxMemory>,
    /// Numbers from a debug build say little about the box.
    pub debug_build: bool,
}

/// One programme file: the best CPU time of each side.
#[derive(Debug, Clone)]
pub struct FileResult {
    pub format: String,
    /// The box: open, decode, resample, mix and hand to an output.
    pub ours: Duration,
    /// The benchmark's own threads in the same run (not in `ours`).
    pub harness: Duration,
    /// Where it goes: the decoder alone at the file's rate, and the decoder
    /// resampling to the engine rate, both read straight from its ring.
    pub decode: Duration,
    pub decode_resample: Duration,
    /// `ffmpeg -threads 1 … -f null -`.
    pub ffmpeg: Duration,
    /// Engine-rate frames of programme the mixer put out (silence from
    /// underruns not counted).
    pub aired_frames: u64,
    /// The length the decoder announced at open, in engine-rate frames.
    pub expected_frames: Option<u64>,
    pub underruns: u64,
}

impl FileResult {
    pub fn ratio(&self) -> f64 {
        self.ours.as_secs_f64() / self.ffmpeg.as_secs_f64().max(1e-9)
    }

    pub fn passed(&self) -> bool {
        self.ratio() <= CPU_RATIO_TARGET
    }
}

/// CPU seconds spent per hour of audio.
pub fn per_hour(cpu: Duration, audio: Duration) -> f64 {
    cpu.as_secs_f64() * 3600.0 / audio.as_secs_f64().max(1e-9)
}

/// The running box, read from `/proc/<pid>/status` just before it was stopped.
#[derive(Debug, Clone)]
pub struct BoxMemory {
    pub ran_for: Duration,
    /// Peak resident size (VmHWM), KiB.
    pub peak_kib: u64,
    /// Resident at the end (VmRSS), and its anonymous and file-backed parts, KiB.
    pub resident_kib: u64,
    pub anonymous_kib: u64,
    pub file_kib: u64,
    pub threads: u64,
    /// What the box said was on air at the end (its status page).
    pub on_air: String,
    /// Frames its output had taken, and underruns, from its status page.
    pub output_frames: u64,
    pub underruns: u64,
    /// Each stream output's state and bytes sent at the end, if any.
    pub streams: Vec<String>,
    /// CPU of the whole box over `ran_for` in real time, idle waits and
    /// all, and by thread name (how many threads, their CPU).
    pub cpu: Duration,
    pub cpu_by_thread: Vec<(String, usize, Duration)>,
}

impl BoxMemory {
    pub fn passed(&self) -> bool {
        self.peak_kib < MEMORY_TARGET_KIB
    }

    fn show(&self, f: &mut fmt::Formatter<'_>, title: &str) -> fmt::Result {
        writeln!(f, "{title}, {} s)", self.ran_for.as_secs())?;
        writeln!(
            f,
            "  VmHWM {:.1} MiB   target < {:.0} MiB   {}",
            mib(self.peak_kib),
            mib(MEMORY_TARGET_KIB),
            verdict(self.passed())
        )?;
        writeln!(
            f,
            "  at the end: resident {:.1} MiB (anonymous {:.1}, file-backed {:.1}), \
             {} threads",
            mib(self.resident_kib),
            mib(self.anonymous_kib),
            mib(self.file_kib),
            self.threads
        )?;
        writeln!(
            f,
            "  on air: {}; output took {} frames, {} underrun frames",
            self.on_air, self.output_frames, self.underruns
        )?;
        for stream in &self.streams {
            writeln!(f, "  {stream}")?;
        }
        // Real time: an hour of audio takes an hour of running.
        writeln!(
            f,
            "  CPU in real time: {:.1} s per hour (by thread: {})",
            per_hour(self.cpu, self.ran_for),
            self.cpu_by_thread
                .iter()
                .filter(|(_, _, cpu)| !cpu.is_zero())
                .map(|(name, count, cpu)| {
                    let count = if *count > 1 {
                        format!(" x{count}")
                    } else {
                        String::new()
                    };
                    format!("{name}{count} {:.1}", per_hour(*cpu, self.ran_for))
                })
                .collect::<Vec<_>>()
                .join(", ")
        )?;
        Ok(())
    }
}

impl Report {
    pub fn passed(&self) -> bool {
        !self.files.is_empty()
            && self.files.iter().all(FileResult::passed)
            && self.memory.as_ref().is_none_or(BoxMemory::passed)
            && self.streams.as_ref().is_none_or(StreamResult::passed)
            && self.stream_memory.as_ref().is_none_or(BoxMemory::passed)
    }
}

fn verdict(passed: bool) -> &'static str {
    if passed { "PASS" } else { "FAIL" }
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "onair bench: {:.1} min of generated programme audio ({} Hz stereo), \
             engine at {} Hz, best of {}",
            self.audio.as_secs_f64() / 60.0,
            FILE_RATE,
            ENGINE_RATE,
            self.runs
        )?;
        if self.debug_build {
            writeln!(
                f,
                "NOTE: this is a debug build; only a release build counts \
                 (cargo run --release -- bench)"
            )?;
        }
        writeln!(f)?;
        writeln!(f, "CPU seconds per hour of audio (user + system)")?;
        writeln!(
            f,
            "  {:<18} {:>27} {:>14} {:>7}   target <= {CPU_RATIO_TARGET}x",
            "file", "onair decode+resample+mix", "ffmpeg decode", "ratio"
        )?;
        for file in &self.files {
            writeln!(
                f,
                "  {:<18} {:>27.2} {:>14.2} {:>6.2}x   {}",
                file.format,
                per_hour(file.ours, self.audio),
                per_hour(file.ffmpeg, self.audio),
                file.ratio(),
                verdict(file.passed())
            )?;
            writeln!(
                f,
                "  {:<18} (the benchmark's own polling threads, not counted: {:.2})",
                "",
                per_hour(file.harness, self.audio)
            )?;
            if file.underruns > 0 {
                writeln!(
                    f,
                    "  {:<18} ({} frames of underrun: the decoder fell behind the mixer)",
                    "", file.underruns
                )?;
            }
        }
        writeln!(f)?;
        writeln!(
            f,
            "Where onair's CPU goes (per hour of audio; the parts are measured apart)"
        )?;
        writeln!(
            f,
            "  {:<18} {:>14} {:>14} {:>14}",
            "file", "decode", "resample", "mix + output"
        )?;
        for file in &self.files {
            let hour = |d| per_hour(d, self.audio);
            writeln!(
                f,
                "  {:<18} {:>14.2} {:>14.2} {:>14.2}",
                file.format,
                hour(file.decode),
                hour(file.decode_resample) - hour(file.decode),
                hour(file.ours) - hour(file.decode_resample),
            )?;
        }
        writeln!(f)?;
        if let Some(streams) = &self.streams {
            streams.show(f, self.audio)?;
            writeln!(f)?;
        }
        match &self.memory {
            Some(m) => m.show(
                f,
                "Peak memory of the running box (onair run, programme on air, 48 kHz engine",
            )?,
            None => writeln!(f, "Peak memory of the running box: not measured")?,
        }
        if let Some(m) = &self.stream_memory {
            writeln!(f)?;
            m.show(
                f,
                "Peak memory of the running box streaming to two mounts (44.1 kHz engine",
            )?;
        }
        writeln!(f)?;
        write!(f, "Result: {}", verdict(self.passed()))
    }
}

// ---------------------------------------------------------------------------
// CPU time

/// Whose CPU time to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Who {
    /// Every thread of this process, finished ones included.
    Process,
    /// Every child process that has been waited for.
    Children,
    /// The calling thread alone.
    Thread,
}

/// User and system CPU time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CpuTime {
    pub user: Duration,
    pub system: Duration,
}

impl CpuTime {
    pub fn total(&self) -> Duration {
        self.user + self.system
    }

    /// The CPU time spent between `earlier` and `self`.
    pub fn since(&self, earlier: CpuTime) -> Duration {
        self.total().saturating_sub(earlier.total())
    }
}

/// CPU time used so far (getrusage).
pub fn cpu_time(who: Who) -> Result<CpuTime, BenchError> {
    let (code, name) = match who {
        Who::Process => (libc::RUSAGE_SELF, "this process"),
        Who::Children => (libc::RUSAGE_CHILDREN, "child processes"),
        Who::Thread => (libc::RUSAGE_THREAD, "this thread"),
    };
    // SAFETY: getrusage fills the struct it is given; an all-zero rusage is a
    // valid value of that plain C struct.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `usage` is a valid, writable rusage for the call's duration.
    if unsafe { libc::getrusage(code, &mut usage) } != 0 {
        return Err(BenchError::Rusage {
            who: name,
            source: io::Error::last_os_error(),
        });
    }
    let duration = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec.max(0) as u64) + Duration::from_micros(t.tv_usec.max(0) as u64)
    };
    Ok(CpuTime {
        user: duration(usage.ru_utime),
        system: duration(usage.ru_stime),
    })
}

// ---------------------------------------------------------------------------
// Programme audio

/// Programme-like test audio: a chord pad that changes every few seconds, a
/// bass line, a melody of short notes with their own envelopes, and a bed of
/// soft noise, with the parts panned apart. Encoders have to work on it as on
/// music (a pure tone would flatter both decoders).
pub struct ProgrammeAudio {
    rng: SmallRng,
    frame: u64,
    pad_phases: [f32; 3],
    bass_phase: f32,
    melody_phase: f32,
    melody_freq: f32,
    note_left: u64,
    note_len: u64,
    noise: [f32; 2],
    chord: usize,
}

/// A pentatonic scale from A3, in Hz.
const SCALE: [f32; 8] = [220.0, 246.94, 277.18, 329.63, 369.99, 440.0, 493.88, 554.37];
/// Chord roots, cycled every few seconds.
const CHORDS: [f32; 4] = [110.0, 146.83, 130.81, 164.81];
const CHORD_FRAMES: u64 = FILE_RATE as u64 * 4;

impl ProgrammeAudio {
    pub fn new(seed: u64) -> Self {
        ProgrammeAudio {
            rng: SmallRng::seed_from_u64(seed),
            frame: 0,
            pad_phases: [0.0; 3],
            bass_phase: 0.0,
            melody_phase: 0.0,
            melody_freq: SCALE[0],
            note_left: 0,
            note_len: 1,
            noise: [0.0; 2],
            chord: 0,
        }
    }

    /// The next stereo frame at 44.1 kHz, within ±1.
    pub fn next_frame(&mut self) -> [f32; 2] {
        use std::f32::consts::TAU;
        let rate = FILE_RATE as f32;
        let step = |phase: &mut f32, freq: f32| {
            *phase = (*phase + TAU * freq / rate) % TAU;
            phase.sin()
        };

        if self.frame.is_multiple_of(CHORD_FRAMES) {
            self.chord = self.rng.random_range(0..CHORDS.len());
        }
        let root = CHORDS[self.chord];
        let t = self.frame as f32 / rate;
        // A slow swell, so the level is never constant for long.
        let swell = 0.75 + 0.25 * (TAU * 0.07 * t).sin();
        let mut pad = 0.0;
        for (phase, ratio) in self.pad_phases.iter_mut().zip([2.0, 2.5, 3.0]) {
            pad += step(phase, root * ratio);
        }
        let pad = pad * 0.06 * swell;
        let bass = step(&mut self.bass_phase, root) * 0.12;

        if self.note_left == 0 {
            self.melody_freq = SCALE[self.rng.random_range(0..SCALE.len())];
            self.note_len = FILE_RATE as u64 * self.rng.random_range(12..40) / 64;
            self.note_left = self.note_len;
        }
        let into_note = (self.note_len - self.note_left) as f32 / self.note_len as f32;
        self.note_left -= 1;
        let envelope = (into_note * 25.0).min(1.0) * (1.0 - into_note).powi(2);
        let fundamental = step(&mut self.melody_phase, self.melody_freq);
        // Two overtones from the same phase give the melody a timbre.
        let melody = (fundamental
            + 0.4 * (2.0 * self.melody_phase).sin()
            + 0.2 * (3.0 * self.melody_phase).sin())
            * 0.18
            * envelope;

        // Noise with a gentle low-pass: a room, tape hiss, breath.
        for n in &mut self.noise {
            let white: f32 = self.rng.random::<f32>() * 2.0 - 1.0;
            *n = 0.7 * *n + 0.3 * white;
        }
        self.frame += 1;
        [
            pad + bass + melody * 0.8 + self.noise[0] * 0.03,
            pad * 0.9 + bass + melody * 0.5 + self.noise[1] * 0.03,
        ]
    }
}

/// The generated files of one benchmark.
#[derive(Debug, Clone)]
pub struct ProgrammeFiles {
    pub mp3: PathBuf,
    pub flac: PathBuf,
    /// A short WAV for the generated station's emergency source.
    pub emergency: PathBuf,
}

/// Generates `frames` frames of programme audio and has one ffmpeg encode
/// them to MP3 (LAME, 128 kb/s CBR), FLAC and a short WAV.
pub fn encode_programmes(
    ffmpeg: &Path,
    dir: &Path,
    frames: u64,
) -> Result<ProgrammeFiles, BenchError> {
    let files = ProgrammeFiles {
        mp3: dir.join("programme.mp3"),
        flac: dir.join("programme.flac"),
        emergency: dir.join("emergency.wav"),
    };
    let rate = FILE_RATE.to_string();
    let mut child = spawn_ffmpeg(
        ffmpeg,
        Process::new(ffmpeg)
            .args(["-hide_banner", "-v", "error", "-y"])
            .args(["-f", "s16le", "-ar", &rate, "-ac", "2", "-i", "pipe:0"])
            .args(["-map", "0:a", "-c:a", "libmp3lame", "-b:a", "128k"])
            .arg(&files.mp3)
            .args(["-map", "0:a", "-c:a", "flac"])
            .arg(&files.flac)
            .args(["-map", "0:a", "-c:a", "pcm_s16le", "-t"])
            .arg(EMERGENCY_SECONDS.to_string())
            .arg(&files.emergency)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped()),
    )?;
    // Read ffmpeg's complaints while feeding it, so a chatty failure cannot
    // fill the pipe and stall both sides.
    let stderr = child.stderr.take().map(|mut pipe| {
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = pipe.read_to_string(&mut text);
            text
        })
    });
    let fed = match child.stdin.take() {
        Some(stdin) => feed_programme(BufWriter::with_capacity(1 << 16, stdin), frames),
        None => Ok(()),
    };
    let status = child.wait().map_err(|e| BenchError::Ffmpeg {
        doing: "encoding the programme audio".into(),
        message: e.to_string(),
    })?;
    let complaints = stderr
        .and_then(|thread| thread.join().ok())
        .unwrap_or_default();
    if !status.success() || fed.is_err() {
        let message = match (complaints.trim(), fed) {
            ("", Err(e)) => format!("it stopped reading the audio ({e}), {status}"),
            ("", Ok(())) => status.to_string(),
            (text, _) => text.to_string(),
        };
        return Err(BenchError::Ffmpeg {
            doing: "encoding the programme audio".into(),
            message,
        });
    }
    Ok(files)
}

fn feed_programme(mut out: impl Write, frames: u64) -> io::Result<()> {
    let mut audio = ProgrammeAudio::new(0x006f_6e61_6972);
    let mut block = Vec::with_capacity(4096 * 4);
    let mut left = frames;
    while left > 0 {
        block.clear();
        for _ in 0..left.min(4096) {
            for x in audio.next_frame() {
                let sample = (x.clamp(-1.0, 1.0) * f32::from(i16::MAX)) as i16;
                block.extend_from_slice(&sample.to_le_bytes());
            }
        }
        out.write_all(&block)?;
        left -= left.min(4096);
    }
    out.flush()
}

fn spawn_ffmpeg(ffmpeg: &Path, command: &mut Process) -> Result<Child, BenchError> {
    command.spawn().map_err(|source| BenchError::NoFfmpeg {
        program: ffmpeg.display().to_string(),
        source,
    })
}

// ---------------------------------------------------------------------------
// The two decoders

/// One pass of a programme file through the box's audio path.
#[derive(Debug, Clone)]
struct Aired {
    cpu: Duration,
    /// CPU of the benchmark's threads meanwhile, left out of `cpu`.
    harness: Duration,
    /// The engine frame at which the mixer ended the item.
    ended_at: u64,
    underruns: u64,
    expected: Option<u64>,
}

/// Puts `path` on air through the real decoder and mixer, as fast as they
/// go, and returns the CPU time the process spent on it, less what the
/// benchmark's own threads (the stand-in sound card and the wait for the
/// end) spent polling.
fn air(path: &Path) -> Result<Aired, BenchError> {
    let file = path.display().to_string();
    let before = cpu_time(Who::Process)?;
    let opts = OpenOptions {
        rate: ENGINE_RATE,
        offset: 0,
        looped: false,
        ring_frames: DECODER_RING_FRAMES,
    };
    let (source, info, watch) = decoder::open(path, &opts)?;
    let now = Utc::now();
    let (ring, drained) = rtrb::RingBuffer::new(TAP_FRAMES * CHANNELS);
    let tap = Tap {
        name: "bench".into(),
        ring,
        stats: Arc::new(OutputStats::default()),
    };
    // The tap is the master, as a sound card is on the box: the mixer makes a
    // block when the tap has room. Left to the clock alone, an unpaced mixer
    // would race ahead of the decoder and spin over underrun silence, CPU the
    // box never spends.
    let timeline = Timeline {
        rate: ENGINE_RATE,
        anchor: now,
    };
    let mut engine = start_paced_by(timeline, BLOCK_FRAMES, vec![tap], 0)?;
    let stop = Arc::new(AtomicBool::new(false));
    let drain = spawn_drain(drained, watch.clone(), Arc::clone(&stop)).map_err(|source| {
        BenchError::Io {
            doing: "start a thread for the output tap of",
            path: path.to_path_buf(),
            source,
        }
    })?;
    let (ended, waiting) = air_to_the_end(&mut engine, source, limit_for(info.duration))?;
    engine.shutdown();
    stop.store(true, Ordering::Release);
    let sound_card = drain.join().unwrap_or_default();
    let after = cpu_time(Who::Process)?;
    let harness = waiting + sound_card;

    let (ended_at, underruns) = match ended {
        Ok(end) => end,
        Err(how) => {
            return Err(BenchError::Unfinished {
                file,
                seconds: limit_for(info.duration).as_secs(),
                how,
            });
        }
    };
    if let Some(reason) = watch.failure() {
        return Err(BenchError::DecoderFailed { file, reason });
    }
    Ok(Aired {
        cpu: after.since(before).saturating_sub(harness),
        harness,
        ended_at,
        underruns,
        expected: info.duration,
    })
}

/// The decoder alone, delivering `path` at `rate`, read straight from its
/// ring on this thread; returns the CPU time of the process.
fn decode_only(path: &Path, rate: u32) -> Result<Duration, BenchError> {
    let before = cpu_time(Who::Process)?;
    let opts = OpenOptions {
        rate,
        offset: 0,
        looped: false,
        ring_frames: DECODER_RING_FRAMES,
    };
    let (mut source, info, watch) = decoder::open(path, &opts)?;
    let mut scratch = vec![0.0f32; BLOCK_FRAMES * 16 * CHANNELS];
    let deadline = Instant::now() + limit_for(info.duration);
    while !source.is_exhausted() {
        if source.read(&mut scratch) == 0 {
            if Instant::now() > deadline {
                return Err(BenchError::Unfinished {
                    file: path.display().to_string(),
                    seconds: limit_for(info.duration).as_secs(),
                    how: "without its mixer, not at all".into(),
                });
            }
            // The ring holds seconds: a millisecond's nap never stalls the decoder.
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    drop(source);
    let after = cpu_time(Who::Process)?;
    if let Some(reason) = watch.failure() {
        return Err(BenchError::DecoderFailed {
            file: path.display().to_string(),
            reason,
        });
    }
    Ok(after.since(before))
}

/// However slow the machine, decoding must beat real time by far: a
/// programme that takes longer than its own length (plus a minute) is stuck.
fn limit_for(duration: Option<u64>) -> Duration {
    let audio = duration.unwrap_or(u64::from(ENGINE_RATE) * 3600) / u64::from(ENGINE_RATE);
    Duration::from_secs(audio + 60)
}

/// Waits for item 1 to end naturally; returns its end frame and the
/// underrun frames, or how it went wrong.
/// An engine that never waits for the clock (which would hold every block
/// back to real time): tap `master` alone paces it, as a sound card does.
fn start_paced_by(
    timeline: Timeline,
    block_frames: usize,
    taps: Vec<Tap>,
    master: usize,
) -> Result<engine::Engine, BenchError> {
    let settings = EngineSettings {
        timeline,
        clock: Clock::Simulated {
            start: timeline.anchor,
            speed: 1.0e6,
            epoch: SystemTime::now(),
        },
        block_frames,
        lead: TimeDelta::zero(),
    };
    Ok(engine::start(settings, taps, Some(master))?)
}

/// Cues `source` at the engine's first sample and waits until it has ended
/// (or `limit` has passed): how it ended, and the CPU this thread spent
/// waiting, which is the benchmark's and not the box's.
fn air_to_the_end(
    engine: &mut engine::Engine,
    source: Source,
    limit: Duration,
) -> Result<(Ending, Duration), BenchError> {
    let cue = Command::Cue {
        id: 1,
        source,
        start: Start::At(0),
        hard_end: None,
        fade: 0,
    };
    let waiting_from = cpu_time(Who::Thread)?;
    let ended = if engine.commands.push(cue).is_err() {
        Err("the command ring was full".to_string())
    } else {
        wait_for_end(engine, limit)
    };
    Ok((ended, cpu_time(Who::Thread)?.since(waiting_from)))
}

/// The engine frame at which the item ended and the underrun frames before
/// it, or why it did not end.
type Ending = Result<(u64, u64), String>;

fn wait_for_end(engine: &mut engine::Engine, limit: Duration) -> Ending {
    let deadline = Instant::now() + limit;
    let mut ended = None;
    let mut retired = false;
    while !(ended.is_some() && retired) {
        match engine.events.pop() {
            Ok(Event::Ended { at, how, .. }) => {
                if how != EndHow::Natural {
                    return Err(format!("{how:?} at frame {at}").to_lowercase());
                }
                ended = Some(at);
            }
            // Dropped here, off the mixer's thread, as the director does.
            Ok(Event::Retired(source)) => {
                drop(source);
                retired = true;
            }
            Ok(Event::Started { .. }) => {}
            Err(_) => {
                if Instant::now() > deadline {
                    return Err(match ended {
                        Some(at) => format!("at frame {at} but was never handed back"),
                        None => {
                            format!("not at all (engine at frame {})", engine.meters.position())
                        }
                    });
                }
                std::thread::sleep(Duration::from_millis(2));
            }
        }
    }
    Ok((ended.unwrap_or(0), engine.meters.underrun_frames()))
}

/// Discards what the mixer puts out, but only as much as the decoder has
/// delivered (less the tap's room), so the mixer trails the decoder instead
/// of outrunning it. Once the decoder is done, everything goes. The thread
/// returns the CPU time it used.
fn spawn_drain(
    mut tap: rtrb::Consumer<f32>,
    watch: SourceWatch,
    stop: Arc<AtomicBool>,
) -> io::Result<JoinHandle<Duration>> {
    std::thread::Builder::new()
        .name("onair-bench-tap".into())
        .spawn(move || {
            let mut drained = 0u64;
            let lag = (TAP_FRAMES + BLOCK_FRAMES) as u64;
            loop {
                let allowed = if watch.finished() {
                    u64::MAX
                } else {
                    watch
                        .frames_decoded()
                        .saturating_sub(lag)
                        .saturating_sub(drained)
                };
                let frames = ((tap.slots() / CHANNELS) as u64).min(allowed) as usize;
                if frames > 0 {
                    if let Ok(chunk) = tap.read_chunk(frames * CHANNELS) {
                        chunk.commit_all();
                        drained += frames as u64;
                    }
                    continue;
                }
                if stop.load(Ordering::Acquire) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            cpu_time(Who::Thread).map_or(Duration::ZERO, |t| t.total())
        })
}

/// ffmpeg decoding `path` on one thread to nowhere; returns its CPU time.
fn ffmpeg_decode(ffmpeg: &Path, path: &Path) -> Result<Duration, BenchError> {
    let before = cpu_time(Who::Children)?;
    let output = spawn_ffmpeg(
        ffmpeg,
        Process::new(ffmpeg)
            .args(["-nostdin", "-v", "error", "-threads", "1", "-i"])
            .arg(path)
            .args(["-f", "null", "-"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped()),
    )?
    .wait_with_output()
    .map_err(|e| BenchError::Ffmpeg {
        doing: format!("decoding {}", path.display()),
        message: e.to_string(),
    })?;
    let after = cpu_time(Who::Children)?;
    if !output.status.success() {
        return Err(BenchError::Ffmpeg {
            doing: format!("decoding {}", path.display()),
            message: format!(
                "{}: {}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            ),
        });
    }
    Ok(after.since(before))
}

// ---------------------------------------------------------------------------
// The running box

/// Numbers from `/proc/<pid>/status`, in KiB (counts for `Threads`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ProcStatus {
    pub peak_kib: u64,
    pub resident_kib: u64,
    pub anonymous_kib: u64,
    pub file_kib: u64,
    pub threads: u64,
}

/// The number after `key:` in a `/proc/<pid>/status` text (`VmHWM:  1234 kB`).
pub fn status_field(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let value = line.strip_prefix(key)?.strip_prefix(':')?;
        value.split_whitespace().next()?.parse().ok()
    })
}

/// Reads `/proc/<pid>/status`; fails if the process is gone or the kernel
/// does not report the peak.
pub fn proc_status(pid: u32) -> Result<ProcStatus, String> {
    let path = format!("/proc/{pid}/status");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("cannot read {path}: {e}"))?;
    let field = |key| status_field(&text, key).ok_or_else(|| format!("{path} has no {key}"));
    Ok(ProcStatus {
        peak_kib: field("VmHWM")?,
        resident_kib: field("VmRSS")?,
        anonymous_kib: status_field(&text, "RssAnon").unwrap_or(0),
        file_kib: status_field(&text, "RssFile").unwrap_or(0),
        threads: status_field(&text, "Threads").unwrap_or(0),
    })
}

/// A child process that is killed if the benchmark leaves early.
struct Running {
    child: Option<Child>,
}

impl Running {
    fn id(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    fn exited(&mut self) -> Option<ExitStatus> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
    }

    /// SIGTERM, then SIGKILL if it has not stopped within `patience`.
    fn terminate(&mut self, patience: Duration) -> Option<ExitStatus> {
        let mut child = self.child.take()?;
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        if let Ok(pid) = libc::pid_t::try_from(child.id()) {
            // SAFETY: kill only sends a signal to our own child, which has
            // not been reaped yet, so the pid is still ours.
            unsafe { libc::kill(pid, libc::SIGTERM) };
        }
        let deadline = Instant::now() + patience;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        None
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The station the box runs for the memory measurement: the MP3 programme
/// on air from 10:00 (its decoder resampling to 48 kHz), the FLAC as filler
/// before it, the WAV as emergency source, a null output paced by a
/// simulated clock at speed 1, and the status page on a free port. With a
/// server's port, the engine runs at the programme's 44.1 kHz and streams
/// to two mounts of that server as well (one encoder, two senders).
pub fn write_station(
    dir: &Path,
    files: &ProgrammeFiles,
    streams: Option<u16>,
) -> Result<PathBuf, BenchError> {
    let io = |doing, path: &Path| {
        let path = path.to_path_buf();
        move |source| BenchError::Io {
            doing,
            path,
            source,
        }
    };
    for folder in ["programmes", "filler", "state"] {
        let path = dir.join(folder);
        std::fs::create_dir_all(&path).map_err(io("create the folder", &path))?;
    }
    for (from, to) in [
        (&files.mp3, dir.join("programmes").join(PROGRAMME_FILE)),
        (&files.flac, dir.join("filler").join("bench-filler.flac")),
        (&files.emergency, dir.join("emergency.wav")),
    ] {
        // A link keeps the file's age, so the schedule sees it as settled.
        if std::fs::hard_link(from, &to).is_err() {
            std::fs::copy(from, &to).map_err(io("copy the programme file to", &to))?;
        }
    }
    let config = dir.join("bench.toml");
    let (rate, mounts) = match streams {
        Some(port) => (streams::STREAM_RATE, streams::station_mounts(port, 2)),
        None => (ENGINE_RATE, Vec::new()),
    };
    let mut text = format!(
        r#"# Generated by `onair bench`: the station whose memory is measured.
[station]
name = "Bench FM"
timezone = "UTC"

[library]
programmes = "programmes"
filler = "filler"
emergency = "emergency.wav"

[clock]
start = "{CLOCK_START}"
speed = 1.0

[audio]
sample_rate = {rate}
fade_ms = 1000

[data]
dir = "state"

[[output]]
kind = "null"

[web]
listen = "127.0.0.1:0"
"#
    );
    for mount in mounts {
        text.push_str(&format!(
            r#"
[[output]]
kind = "icecast"
host = "{}"
port = {}
mount = "{}"
user = "{}"
password = "{}"
bitrate = {}
"#,
            mount.host, mount.port, mount.mount, mount.user, mount.password, mount.bitrate
        ));
    }
    std::fs::write(&config, text).map_err(io("write the station configuration", &config))?;
    Ok(config)
}

/// Runs `binary run` on a generated station for `run_for`, then reads its
/// peak memory and stops it with SIGTERM.
fn measure_box(
    binary: &Path,
    work: &Path,
    files: &ProgrammeFiles,
    run_for: Duration,
    streams: Option<u16>,
) -> Result<BoxMemory, BenchError> {
    let dir = work.join(if streams.is_some() {
        "station-streams"
    } else {
        "station"
    });
    let config = write_station(&dir, files, streams)?;
    wait_until_settled(&dir.join("programmes").join(PROGRAMME_FILE));
    let log = dir.join("onair.log");
    let log_file = File::create(&log).map_err(|source| BenchError::Io {
        doing: "create the box's log",
        path: log.clone(),
        source,
    })?;
    let box_error = |problem: String| BenchError::Box {
        problem,
        tail: log_tail(&log),
        log: log.clone(),
    };
    let stderr = log_file
        .try_clone()
        .map_err(|e| box_error(format!("cannot share its log file: {e}")))?;
    let child = Process::new(binary)
        .arg("run")
        .arg("--config")
        .arg(&config)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(log_file)
        .stderr(stderr)
        .spawn()
        .map_err(|e| {
            box_error(format!(
                "could not be started from {}: {e}",
                binary.display()
            ))
        })?;
    let mut running = Running { child: Some(child) };
    let pid = running.id();

    let address_file = dir.join("state").join(crate::station::WEB_ADDRESS_FILE);
    let deadline = Instant::now() + BOX_START_TIMEOUT;
    let address = loop {
        if let Some(status) = running.exited() {
            return Err(box_error(format!("stopped at start-up ({status})")));
        }
        if let Ok(text) = std::fs::read_to_string(&address_file)
            && !text.trim().is_empty()
        {
            break text.trim().to_string();
        }
        if Instant::now() > deadline {
            return Err(box_error(format!(
                "did not open its status page within {} s",
                BOX_START_TIMEOUT.as_secs()
            )));
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let started = Instant::now();
    let threads_from = threads::threads_of(pid);
    while started.elapsed() < run_for {
        if let Some(status) = running.exited() {
            return Err(box_error(format!(
                "stopped after {:.1} s ({status})",
                started.elapsed().as_secs_f64()
            )));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let memory = proc_status(pid).map_err(box_error)?;
    let busiest = threads::since(&threads::threads_of(pid), &threads_from);
    let ran_for = started.elapsed();
    let status = box_status(&address).map_err(box_error)?;
    let stopped = running.terminate(BOX_STOP_TIMEOUT);

    if !status.on_air.contains("bench-programme") {
        return Err(box_error(format!(
            "was not playing the generated programme at the end of the measurement \
             (mode {}, on air: {}), so its memory is not that of a box on air",
            status.mode, status.on_air
        )));
    }
    let wanted = if streams.is_some() { 2 } else { 0 };
    if status.streams_up < wanted {
        return Err(box_error(format!(
            "had {} of its {wanted} streams up at the end of the measurement ({}), so its \
             memory is not that of a box streaming",
            status.streams_up,
            status.streams.join("; ")
        )));
    }
    match stopped {
        Some(s) if s.success() => {}
        Some(s) => return Err(box_error(format!("did not stop cleanly on SIGTERM ({s})"))),
        None => {
            return Err(box_error(format!(
                "did not stop within {} s of SIGTERM and was killed",
                BOX_STOP_TIMEOUT.as_secs()
            )));
        }
    }
    Ok(BoxMemory {
        ran_for,
        peak_kib: memory.peak_kib,
        resident_kib: memory.resident_kib,
        anonymous_kib: memory.anonymous_kib,
        file_kib: memory.file_kib,
        threads: memory.threads,
        on_air: status.on_air,
        output_frames: status.output_frames,
        underruns: status.underruns,
        streams: status.streams,
        cpu: busiest.values().map(|(_, cpu)| *cpu).sum(),
        cpu_by_thread: busiest
            .into_iter()
            .map(|(name, (count, cpu))| (name.trim_end().to_string(), count, cpu))
            .collect(),
    })
}

/// The schedule skips files younger than a couple of seconds (still being
/// copied); a freshly encoded programme must be older before the box looks.
fn wait_until_settled(path: &Path) {
    let age = std::fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|modified| SystemTime::now().duration_since(modified).ok())
        .unwrap_or_default();
    if age < SETTLED_AFTER {
        std::thread::sleep(SETTLED_AFTER - age);
    }
}

struct BoxStatus {
    mode: String,
    on_air: String,
    output_frames: u64,
    underruns: u64,
    /// Each stream output's state and bytes sent, and how many were up.
    streams: Vec<String>,
    streams_up: usize,
}

/// Asks the running box's status page what it is doing.
fn box_status(address: &str) -> Result<BoxStatus, String> {
    let url = format!("http://{address}/api/status");
    let body = ureq::get(&url)
        .call()
        .and_then(|mut response| response.body_mut().read_to_string())
        .map_err(|e| format!("did not answer {url}: {e}"))?;
    let status: serde_json::Value =
        serde_json::from_str(&body).map_err(|e| format!("sent unreadable status ({e})"))?;
    let text = |v: &serde_json::Value| v.as_str().unwrap_or("?").to_string();
    let on_air = match status.get("on_air") {
        Some(on_air) if !on_air.is_null() => format!(
            "{} ({})",
            text(&on_air["title"]),
            Path::new(&text(&on_air["file"]))
                .file_name()
                .map_or_else(|| "?".into(), |n| n.to_string_lossy().into_owned())
        ),
        _ => "nothing".to_string(),
    };
    let output_frames = status["outputs"]
        .as_array()
        .and_then(|outputs| outputs.first())
        .and_then(|o| o["frames_out"].as_u64())
        .unwrap_or(0);
    let mut streams = Vec::new();
    let mut streams_up = 0;
    for output in status["outputs"].as_array().into_iter().flatten() {
        let stream = &output["stream"];
        if stream.is_null() {
            continue;
        }
        let state = text(&stream["state"]);
        let sent = stream["bytes_sent"].as_u64().unwrap_or(0);
        if state == "connected" && sent > 0 {
            streams_up += 1;
        }
        streams.push(format!(
            "{}: {state}, {sent} bytes sent",
            text(&output["name"])
        ));
    }
    Ok(BoxStatus {
        mode: text(&status["mode"]),
        on_air,
        output_frames,
        streams,
        streams_up,
        underruns: status["underruns"].as_u64().unwrap_or(0),
    })
}

fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let tail = lines[lines.len().saturating_sub(15)..].join("\n");
    if tail.is_empty() {
        "(nothing)".into()
    } else {
        tail
    }
}

/// The benchmark's own folder in the temporary folder, removed when done.
struct WorkFolder(PathBuf);

impl WorkFolder {
    fn create(parent: &Path) -> Result<Self, BenchError> {
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

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for WorkFolder {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn options(audio: Duration) -> Options {
        Options {
            audio,
            runs: 1,
            ffmpeg: PathBuf::from("ffmpeg"),
            box_binary: None,
            box_run: Duration::from_secs(1),
            temp: std::env::temp_dir(),
            streams: None,
        }
    }

    #[test]
    fn process_cpu_time_counts_work_done_on_other_threads() {
        let before = cpu_time(Who::Process).unwrap();
        // The thread works until it has used 300 ms of CPU itself, however
        // busy the machine is with other tests.
        let thread_cpu = || {
            // SAFETY: getrusage fills the plain C struct it is given.
            let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
            // SAFETY: `usage` is valid and writable for the call.
            assert_eq!(
                unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut usage) },
                0
            );
            Duration::from_secs(usage.ru_utime.tv_sec as u64)
                + Duration::from_micros(usage.ru_utime.tv_usec as u64)
        };
        let busy = std::thread::spawn(move || {
            let mut x = 1u64;
            while thread_cpu() < Duration::from_millis(300) {
                for _ in 0..10_000 {
                    x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
                }
            }
            x
        });
        let idle_from = Instant::now();
        busy.join().unwrap();
        let waited = idle_from.elapsed();
        let spent = cpu_time(Who::Process).unwrap().since(before);
        // A thread that has finished still counts.
        assert!(spent >= Duration::from_millis(300), "{spent:?}");
        // Waiting for it did not: the other threads of the test run add
        // little beside the busy one.
        assert!(
            spent < Duration::from_millis(300) + waited * 2,
            "{spent:?} in {waited:?}"
        );
    }

    #[test]
    fn thread_cpu_time_leaves_out_the_other_threads() {
        // The benchmark's own threads are taken out of the box's CPU with
        // this reading, so it must not hold anybody else's work.
        let busy = std::thread::spawn(|| {
            let mut x = 1u64;
            loop {
                let used = cpu_time(Who::Thread).unwrap().total();
                if used >= Duration::from_millis(200) {
                    return (used, x);
                }
                for _ in 0..10_000 {
                    x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
                }
            }
        });
        let before = cpu_time(Who::Thread).unwrap();
        let (theirs, _) = busy.join().unwrap();
        let mine = cpu_time(Who::Thread).unwrap().since(before);
        assert!(theirs >= Duration::from_millis(200), "{theirs:?}");
        // Waiting for the busy thread cost this one next to nothing.
        assert!(mine < Duration::from_millis(50), "{mine:?}");
    }

    #[test]
    fn children_cpu_time_counts_a_finished_child() {
        let before = cpu_time(Who::Children).unwrap();
        let status = Process::new("sh")
            .args(["-c", "i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done"])
            .status()
            .unwrap();
        assert!(status.success());
        let spent = cpu_time(Who::Children).unwrap().since(before);
        assert!(spent >= Duration::from_millis(20), "{spent:?}");
        // An earlier reading than the later one never goes negative.
        assert_eq!(
            before.since(cpu_time(Who::Children).unwrap()),
            Duration::ZERO
        );
    }

    #[test]
    fn status_fields_are_read_by_their_exact_key() {
        let text = "Name:\tonair\nVmHWMx:\t1 kB\nVmPeak:\t  99999 kB\nVmHWM:\t   14336 kB\n\
                    VmRSS:\t   12000 kB\nRssAnon:\t    8000 kB\nThreads:\t9\nBad:\tlots kB\n";
        assert_eq!(status_field(text, "VmHWM"), Some(14336));
        assert_eq!(status_field(text, "VmRSS"), Some(12000));
        assert_eq!(status_field(text, "Threads"), Some(9));
        // Bad input: a missing key, a value that is not a number, a key
        // that is only the start of another.
        assert_eq!(status_field(text, "RssFile"), None);
        assert_eq!(status_field(text, "Bad"), None);
        assert_eq!(status_field(text, "VmHW"), None);
        assert_eq!(status_field("", "VmHWM"), None);
    }

    #[test]
    fn the_peak_memory_of_a_running_process_is_read_from_proc() {
        let child = Process::new("sleep").arg("30").spawn().unwrap();
        let mut running = Running { child: Some(child) };
        // Until it sleeps, the program may not be loaded yet.
        let state = format!("/proc/{}/status", running.id());
        let deadline = Instant::now() + Duration::from_secs(5);
        while !std::fs::read_to_string(&state)
            .unwrap()
            .contains("State:\tS (sleeping)")
        {
            assert!(Instant::now() < deadline, "sleep never went to sleep");
            std::thread::sleep(Duration::from_millis(5));
        }
        let status = proc_status(running.id()).unwrap();
        assert!(status.peak_kib > 100, "{status:?}");
        assert!(status.peak_kib >= status.resident_kib, "{status:?}");
        assert!(status.peak_kib < 64 * 1024, "sleep is small: {status:?}");
        assert_eq!(status.threads, 1);
        let ended = running.terminate(Duration::from_secs(5)).unwrap();
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(ended.signal(), Some(libc::SIGTERM));
        // Bad input: a process that is gone.
        let gone = proc_status(u32::MAX / 2).unwrap_err();
        assert!(gone.contains("cannot read /proc/"), "{gone}");
    }

    #[test]
    fn generated_programme_audio_moves_and_never_clips() {
        let mut audio = ProgrammeAudio::new(7);
        let rate = FILE_RATE as usize;
        let frames: Vec<[f32; 2]> = (0..rate * 12).map(|_| audio.next_frame()).collect();
        let peak = frames.iter().flatten().fold(0.0f32, |m, x| m.max(x.abs()));
        assert!(peak > 0.2 && peak < 0.95, "peak {peak}");
        let rms = |part: &[[f32; 2]]| {
            (part.iter().map(|f| f[0] * f[0]).sum::<f32>() / part.len() as f32).sqrt()
        };
        let level = rms(&frames);
        assert!(level > 0.03 && level < 0.4, "rms {level}");
        // Left and right differ (panned parts, separate noise).
        assert!(frames.iter().any(|f| (f[0] - f[1]).abs() > 0.01));
        // Not one steady tone: the pitch (zero crossings per half second)
        // and the level change across the programme.
        let windows: Vec<(usize, f32)> = frames
            .chunks(rate / 2)
            .map(|w| {
                let crossings = w
                    .windows(2)
                    .filter(|p| (p[0][0] < 0.0) != (p[1][0] < 0.0))
                    .count();
                (crossings, rms(w))
            })
            .collect();
        let crossings: Vec<usize> = windows.iter().map(|w| w.0).collect();
        let levels: Vec<f32> = windows.iter().map(|w| w.1).collect();
        let spread = |v: &[f32]| {
            v.iter().cloned().fold(f32::MIN, f32::max) / v.iter().cloned().fold(f32::MAX, f32::min)
        };
        assert!(
            crossings.iter().max().unwrap() - crossings.iter().min().unwrap() > 20,
            "{crossings:?}"
        );
        assert!(spread(&levels) > 1.2, "{levels:?}");
    }

    #[test]
    fn a_short_run_measures_mp3_and_flac_through_the_real_path() {
        let report = run_with(&options(Duration::from_secs(20))).unwrap();
        let formats: Vec<&str> = report.files.iter().map(|f| f.format.as_str()).collect();
        assert_eq!(formats, ["MP3 128 kb/s CBR", "FLAC 16-bit"]);
        for file in &report.files {
            // The whole programme went through the mixer, resampled to 48 kHz.
            let expected = file.expected_frames.unwrap();
            assert!(
                expected.abs_diff(20 * 48_000) <= 48,
                "{}: {expected} frames announced",
                file.format
            );
            assert_eq!(file.aired_frames, expected, "{}", file.format);
            assert_eq!(file.underruns, 0, "{}", file.format);
            // Both sides did real work, and nowhere near real time.
            assert!(file.ours > Duration::from_millis(5), "{file:?}");
            assert!(file.ours < Duration::from_secs(10), "{file:?}");
            assert!(file.ffmpeg > Duration::from_millis(5), "{file:?}");
            assert!(file.ffmpeg < Duration::from_secs(10), "{file:?}");
            // The parts are each measured, and each is a real share of the whole.
            assert!(file.decode > Duration::ZERO, "{file:?}");
            assert!(file.decode_resample > Duration::ZERO, "{file:?}");
            assert!(file.decode < file.ours, "{file:?}");
        }
        let text = report.to_string();
        assert!(text.contains("MP3 128 kb/s CBR"), "{text}");
        assert!(text.contains("FLAC 16-bit"), "{text}");
        assert!(
            text.contains("Peak memory of the running box: not measured"),
            "{text}"
        );
        assert!(text.contains("debug build"), "{text}");
        assert!(text.ends_with(&format!("Result: {}", verdict(report.passed()))));
    }

    #[test]
    fn a_short_run_streams_to_one_and_two_real_mounts() {
        let mut opts = options(Duration::from_secs(20));
        opts.streams = Some(StreamTools {
            icecast: PathBuf::from("icecast2"),
            lame: PathBuf::from("lame"),
        });
        let report = run_with(&opts).unwrap();
        let streams = report.streams.as_ref().unwrap();
        for run in [&streams.one, &streams.two] {
            // The whole programme reached the server on every mount, and
            // the mounts got the same bytes from the one encoder.
            assert!(run.complete(), "{run:?}");
            assert_eq!(run.bytes_sent.len(), run.mounts);
            assert!(
                run.bytes_sent.iter().all(|&b| b == run.bytes_sent[0]),
                "{run:?}"
            );
            assert!(
                run.expected_bytes().abs_diff(20 * 16_000) < 2_000,
                "{run:?}"
            );
            assert!(run.cpu > Duration::from_millis(20), "{run:?}");
            assert!(run.server.is_some(), "{run:?}");
        }
        let names: Vec<(&str, usize)> = streams
            .two
            .threads
            .iter()
            .map(|(name, count, _)| (name.as_str(), *count))
            .collect();
        assert!(names.contains(&("output encoder", 1)), "{names:?}");
        assert!(names.contains(&("output icecast", 2)), "{names:?}");
        assert!(names.contains(&("onair-mixer", 1)), "{names:?}");
        assert!(streams.lame > Duration::from_millis(20), "{streams:?}");
        assert!(streams.ffmpeg > Duration::from_millis(20), "{streams:?}");
        let text = report.to_string();
        assert!(text.contains("lame --silent -b 128 --cbr -q 3"), "{text}");
        assert!(text.contains("onair, two mounts, one encoder"), "{text}");
        let senders = text
            .lines()
            .find(|line| line.trim_start().starts_with("output icecast"))
            .unwrap_or_else(|| panic!("no sender row in {text}"));
        assert!(senders.ends_with("(x2)"), "{senders}");
        assert!(text.contains("every turn, in order"), "{text}");
        assert!(
            text.contains("the second mount's own sender thread"),
            "{text}"
        );
        assert_eq!(streams.turns.len(), 1, "{streams:?}");
    }

    #[test]
    fn a_missing_ffmpeg_is_named_with_what_to_do() {
        let mut opts = options(Duration::from_secs(2));
        // Bad input: an ffmpeg that is not there.
        opts.ffmpeg = PathBuf::from("/nonexistent/ffmpeg");
        let message = run_with(&opts).unwrap_err().to_string();
        assert!(
            message.contains("/nonexistent/ffmpeg cannot be started"),
            "{message}"
        );
        assert!(message.contains("install ffmpeg"), "{message}");
        // Bad input: nothing to measure.
        let mut opts = options(Duration::from_secs(2));
        opts.runs = 0;
        let message = run_with(&opts).unwrap_err().to_string();
        assert!(message.contains("use at least 1 run"), "{message}");
        assert!(Options::for_minutes(0, DEFAULT_RUNS).is_err());
    }

    #[test]
    fn targets_decide_the_result() {
        let file = |ours_ms, ffmpeg_ms| FileResult {
            format: "MP3".into(),
            ours: Duration::from_millis(ours_ms),
            harness: Duration::from_millis(10),
            decode: Duration::from_millis(ours_ms / 2),
            decode_resample: Duration::from_millis(ours_ms * 3 / 4),
            ffmpeg: Duration::from_millis(ffmpeg_ms),
            aired_frames: 0,
            expected_frames: None,
            underruns: 0,
        };
        let memory = |peak_kib| BoxMemory {
            ran_for: Duration::from_secs(12),
            peak_kib,
            resident_kib: peak_kib,
            anonymous_kib: 0,
            file_kib: 0,
            threads: 9,
            on_air: "Bench Programme".into(),
            output_frames: 0,
            underruns: 0,
            streams: Vec::new(),
            cpu: Duration::ZERO,
            cpu_by_thread: Vec::new(),
        };
        let report = |files, memory| Report {
            audio: Duration::from_secs(600),
            runs: 3,
            files,
            memory,
            streams: None,
            stream_memory: None,
            debug_build: false,
        };
        assert!(report(vec![file(1500, 1000)], Some(memory(30 * 1024 - 1))).passed());
        // Over either target fails the whole benchmark.
        assert!(!report(vec![file(1501, 1000)], Some(memory(1024))).passed());
        assert!(!report(vec![file(1000, 1000)], Some(memory(30 * 1024))).passed());
        assert!(!report(vec![], None).passed());
        // 1 s of CPU for 10 min of audio is 6 s per hour.
        assert!((per_hour(Duration::from_secs(1), Duration::from_secs(600)) - 6.0).abs() < 1e-9);
        let text = report(vec![file(1600, 1000)], Some(memory(2048))).to_string();
        assert!(text.contains("1.60x   FAIL"), "{text}");
        assert!(text.contains("VmHWM 2.0 MiB"), "{text}");
        assert!(text.ends_with("Result: FAIL"), "{text}");
        assert!(!text.contains("debug build"), "{text}");
    }

    #[test]
    fn the_generated_station_loads_with_its_programme_after_the_clock_start() {
        let work = WorkFolder::create(&std::env::temp_dir()).unwrap();
        let files = ProgrammeFiles {
            mp3: work.path().join("programme.mp3"),
            flac: work.path().join("programme.flac"),
            emergency: work.path().join("emergency.wav"),
        };
        for path in [&files.mp3, &files.flac, &files.emergency] {
            std::fs::write(path, b"audio").unwrap();
        }
        let dir = work.path().join("station");
        let config = Config::load(&write_station(&dir, &files, None).unwrap()).unwrap();
        assert!(config.check().is_empty(), "{:?}", config.check());
        assert_eq!(config.outputs, [crate::config::OutputConfig::Null]);
        let clock = config.clock.as_ref().unwrap();
        assert_eq!(clock.speed, 1.0);
        let scan = crate::schedule::scan_now(
            &config.library.programmes,
            config.station.timezone,
            SystemTime::now() + Duration::from_secs(10),
        )
        .unwrap();
        assert_eq!(scan.programmes.len(), 1, "{:?}", scan.ignored);
        let start = scan.programmes[0].start;
        assert_eq!(start.to_rfc3339(), "2026-06-01T10:00:00+00:00");
        // The box starts on filler a few seconds before the programme.
        let clock_start = clock.start.and_utc();
        assert!(clock_start < start && start - clock_start <= TimeDelta::seconds(5));
        assert!(
            config
                .library
                .filler
                .unwrap()
                .join("bench-filler.flac")
                .exists()
        );
    }
}
