//! What the public stream costs: the programme decoded, mixed, encoded to
//! MP3 once and sent to one and to two mounts of a real Icecast server,
//! through the box's own outputs (`output::open`, as `onair run` builds
//! them), beside the `lame` command-line encoder (encode only, the same
//! settings as the box's encoder) and an ffmpeg transcode of the same
//! programme, in the same run.
//!
//! Only the box's process is counted: the server is a process of its own,
//! and its CPU is shown apart. The engine runs at the programme's rate
//! (44.1 kHz), as a station whose files and stream are at 44.1 kHz should
//! be set up, so nothing is resampled on either side.

use std::path::{Path, PathBuf};
use std::process::{Command as Process, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use chrono::Utc;

use onair::clock::{Clock, Timeline};
use onair::config::{BitrateMode, IcecastConfig, OutputConfig};
use onair::engine::{OpenOptions, SourceWatch, decoder};
use onair::output::encoder::{LAME_QUALITY, Mp3Settings};
use onair::output::icecast::Connection;
use onair::output::{self, CHANNELS, OutputContext, OutputStats, Tap};

use super::BenchError;
use super::air::{air_to_the_end, start_paced_by};
use super::audio::spawn_ffmpeg;
use super::cpu::{Who, cpu_time};
use super::icecast::{Icecast, SOURCE_PASSWORD};
use super::threads::{process_cpu, since, threads_of};

/// One stream may cost at most this many times `lame`'s encode-only CPU.
pub const STREAM_RATIO_TARGET: f64 = 1.1;
/// A second mount of the same MP3 must add less than this share.
pub const SECOND_MOUNT_TARGET: f64 = 0.05;
/// The stream's bitrate, CBR, as both mounts carry it.
pub const STREAM_BITRATE: u32 = 128;
/// The engine and the stream run at the programme's rate.
pub const STREAM_RATE: u32 = super::FILE_RATE;
/// 10 ms blocks, as `onair run` uses.
const BLOCK_FRAMES: usize = STREAM_RATE as usize / 100;
/// The stand-in sound card's buffer, a handful of blocks.
const PACER_FRAMES: usize = BLOCK_FRAMES * 16;
/// Mounts must be up before the programme starts, or what is encoded
/// meanwhile is discarded and the run measures less than it should.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The name of the benchmark's pacing thread, left out of the box's CPU.
const PACER_THREAD: &str = "bench-pacer";

/// The MP3 the box's encoder makes for the benchmark's mounts.
pub fn stream_settings() -> Mp3Settings {
    Mp3Settings {
        input_rate: STREAM_RATE,
        stream_rate: STREAM_RATE,
        bitrate: STREAM_BITRATE,
        mode: BitrateMode::Cbr,
    }
}

/// The `lame` options that make the same MP3 as the box's encoder: the
/// bitrate, CBR, LAME's algorithm quality, no LAME/Xing tag (a stream has
/// none) and no ReplayGain analysis (`lame` does one by default, the
/// library the box uses does not). Joint stereo and the rate follow from
/// the input, as in the box. VBR streams are not compared.
pub fn lame_arguments(settings: &Mp3Settings) -> Option<Vec<String>> {
    if settings.mode != BitrateMode::Cbr || settings.input_rate != settings.stream_rate {
        return None;
    }
    Some(
        [
            "--silent",
            "-b",
            &settings.bitrate.to_string(),
            "--cbr",
            "-q",
            &(LAME_QUALITY as u8).to_string(),
            "-t",
            "--noreplaygain",
        ]
        .map(str::to_string)
        .to_vec(),
    )
}

/// The ffmpeg transcode beside it: decode the programme, encode it with
/// the same LAME settings (`-compression_level` is LAME's quality).
pub fn ffmpeg_transcode_arguments(settings: &Mp3Settings) -> Vec<String> {
    [
        "-nostdin",
        "-v",
        "error",
        "-threads",
        "1",
        "-i",
        "{input}",
        "-c:a",
        "libmp3lame",
        "-b:a",
        &format!("{}k", settings.bitrate),
        "-compression_level",
        &(LAME_QUALITY as u8).to_string(),
        "-f",
        "null",
        "-",
    ]
    .map(str::to_string)
    .to_vec()
}

/// One run of the box streaming the programme to `mounts` mounts.
#[derive(Debug, Clone)]
pub struct StreamRun {
    pub mounts: usize,
    /// The box's process: decode, mix, encode, send.
    pub cpu: Duration,
    /// The benchmark's own threads meanwhile (not in `cpu`).
    pub harness: Duration,
    /// The Icecast server's process meanwhile (not in `cpu`).
    pub server: Option<Duration>,
    /// The box's threads still running when the programme ended, by name,
    /// with how many shared the name and their CPU over the run. Threads
    /// that had ended by then (the decoder, once at the end of the file)
    /// are the rest of `cpu`.
    pub threads: Vec<(String, usize, Duration)>,
    /// Bytes each mount sent to the server.
    pub bytes_sent: Vec<u64>,
    /// Frames of programme that some mount did not send (dropped by a full
    /// ring or queue, or discarded while not connected).
    pub lost_frames: u64,
    /// Frames the mixer put out.
    pub aired_frames: u64,
    pub underruns: u64,
}

impl StreamRun {
    /// The CPU of the threads whose name starts with `prefix`.
    pub fn cpu_of(&self, prefix: &str) -> Duration {
        self.threads
            .iter()
            .filter(|(name, _, _)| name.starts_with(prefix))
            .map(|(_, _, cpu)| *cpu)
            .sum()
    }

    /// What `bytes_sent` should be for the programme at the bitrate.
    pub fn expected_bytes(&self) -> u64 {
        self.aired_frames * u64::from(STREAM_BITRATE) * 1000 / 8 / u64::from(STREAM_RATE)
    }

    /// Every mount sent the whole programme: nothing was measured that the
    /// box skipped.
    pub fn complete(&self) -> bool {
        let expected = self.expected_bytes();
        self.lost_frames == 0
            && self.underruns == 0
            && self.bytes_sent.len() == self.mounts
            && self
                .bytes_sent
                .iter()
                .all(|&sent| sent.abs_diff(expected) <= expected / 100 + 2_000)
    }
}

/// The stream side of the benchmark, best of N each.
#[derive(Debug, Clone)]
pub struct StreamResult {
    pub one: StreamRun,
    pub two: StreamRun,
    /// `lame` encoding the decoded programme (a WAV), encode only.
    pub lame: Duration,
    pub lame_command: String,
    /// ffmpeg decoding the programme and encoding it to MP3.
    pub ffmpeg: Duration,
    pub ffmpeg_command: String,
    /// Every turn's figures, in the order measured, to show the spread the
    /// best-of figures were taken from.
    pub turns: Vec<Turn>,
}

/// One turn of the stream measurement: each side once, back to back.
#[derive(Debug, Clone)]
pub struct Turn {
    pub one: StreamRun,
    pub two: StreamRun,
    pub lame: Duration,
    pub ffmpeg: Duration,
}

impl StreamResult {
    /// One stream against `lame`'s encode-only CPU.
    pub fn ratio_to_lame(&self) -> f64 {
        self.one.cpu.as_secs_f64() / self.lame.as_secs_f64().max(1e-9)
    }

    /// What the second mount added, as a share of one stream.
    pub fn second_mount_share(&self) -> f64 {
        let one = self.one.cpu.as_secs_f64();
        (self.two.cpu.as_secs_f64() - one) / one.max(1e-9)
    }

    pub fn ratio_passed(&self) -> bool {
        self.ratio_to_lame() <= STREAM_RATIO_TARGET
    }

    pub fn second_mount_passed(&self) -> bool {
        self.second_mount_share() < SECOND_MOUNT_TARGET
    }

    pub fn passed(&self) -> bool {
        self.ratio_passed()
            && self.second_mount_passed()
            && self.one.complete()
            && self.two.complete()
    }
}

/// Measures the stream side: `runs` turns of one mount, two mounts, lame
/// and ffmpeg, the best of each kept.
pub fn measure(
    tools: &StreamTools,
    ffmpeg_program: &Path,
    server: &Icecast,
    work: &Path,
    programme: &Path,
    runs: u32,
) -> Result<StreamResult, BenchError> {
    let settings = stream_settings();
    let lame_args = lame_arguments(&settings).ok_or_else(|| {
        BenchError::Options("the benchmark compares a CBR stream at the engine's rate".into())
    })?;
    let wav = work.join("programme-decoded.wav");
    decode_to_wav(ffmpeg_program, programme, &wav)?;

    let (mut one, mut two): (Option<StreamRun>, Option<StreamRun>) = (None, None);
    let mut turns = Vec::with_capacity(runs as usize);
    let keep = |best: &mut Option<StreamRun>, run: StreamRun| {
        if best.as_ref().is_none_or(|b| run.cpu < b.cpu) {
            *best = Some(run);
        }
    };
    for turn in 0..runs {
        tracing::info!(
            "streaming to one and to two mounts, lame, ffmpeg (turn {})",
            turn + 1
        );
        let first = stream_to_mounts(programme, 1, server)?;
        let second = stream_to_mounts(programme, 2, server)?;
        keep(&mut one, first.clone());
        keep(&mut two, second.clone());
        turns.push(Turn {
            one: first,
            two: second,
            lame: lame_encode(&tools.lame, &lame_args, &wav, work)?,
            ffmpeg: ffmpeg_transcode(ffmpeg_program, &settings, programme)?,
        });
    }
    let best = |side: fn(&Turn) -> Duration| turns.iter().map(side).min().unwrap_or_default();
    let (lame, ffmpeg) = (best(|t| t.lame), best(|t| t.ffmpeg));
    let (Some(one), Some(two)) = (one, two) else {
        return Err(BenchError::Options(
            "no run to measure; use at least 1".into(),
        ));
    };
    Ok(StreamResult {
        one,
        two,
        lame,
        lame_command: format!("lame {} programme.wav", lame_args.join(" ")),
        ffmpeg,
        ffmpeg_command: format!(
            "ffmpeg {}",
            ffmpeg_transcode_arguments(&settings)
                .join(" ")
                .replace("{input}", "programme.mp3")
        ),
        turns,
    })
}

/// The programs the stream side needs.
#[derive(Debug, Clone)]
pub struct StreamTools {
    pub icecast: PathBuf,
    pub lame: PathBuf,
}

fn mount_config(port: u16, n: usize) -> IcecastConfig {
    IcecastConfig {
        host: "127.0.0.1".to_string(),
        port,
        mount: format!("/bench-{n}.mp3"),
        user: "source".to_string(),
        password: SOURCE_PASSWORD.to_string(),
        bitrate: STREAM_BITRATE,
        mode: BitrateMode::Cbr,
        sample_rate: None,
        name: Some("Bench FM".to_string()),
        description: None,
        genre: None,
        url: None,
        public: false,
        reconnect_max_seconds: 30,
    }
}

/// The mounts the station of the memory measurement streams to.
pub fn station_mounts(port: u16, mounts: usize) -> Vec<IcecastConfig> {
    (1..=mounts).map(|n| mount_config(port, n)).collect()
}

/// Puts `programme` on air through the real decoder, mixer and stream
/// outputs (one encoder, `mounts` senders), as fast as they go, and returns
/// the box's CPU time, less what the benchmark's own threads spent.
/// The box's stream work at full speed, in this process: the programme
/// decoded, mixed, encoded once and sent to `mounts` mounts.
pub fn stream_to_mounts(
    programme: &Path,
    mounts: usize,
    server: &Icecast,
) -> Result<StreamRun, BenchError> {
    let file = programme.display().to_string();
    let now = Utc::now();
    let timeline = Timeline {
        rate: STREAM_RATE,
        anchor: now,
    };
    // At speed 1 the outputs get the rings `onair run` gives them.
    let ctx = OutputContext {
        rate: STREAM_RATE,
        timeline,
        clock: Clock::Simulated {
            start: now,
            speed: 1.0,
            epoch: SystemTime::now(),
        },
        timezone: chrono_tz::UTC,
        station: "Bench FM".to_string(),
    };
    let configs: Vec<OutputConfig> = station_mounts(server.port, mounts)
        .into_iter()
        .map(OutputConfig::Icecast)
        .collect();
    let opened = output::open(&configs, &ctx).map_err(|e| BenchError::Stream(e.to_string()))?;
    let outputs = opened.outputs;
    let mut taps = opened.taps;
    if taps.len() != 1 {
        return Err(BenchError::Stream(format!(
            "{mounts} mount(s) of the same MP3 were given {} encoders instead of one",
            taps.len()
        )));
    }
    let links: Vec<(String, Arc<OutputStats>)> = outputs.stats();
    let encoded = taps[0].stats.clone();
    let group_frames = (taps[0].ring.buffer().capacity() / CHANNELS) as u64;
    wait_until_connected(&links)?;

    let before = cpu_time(Who::Process)?;
    let own = std::process::id();
    let threads_before = threads_of(own);
    let server_before = process_cpu(server.pid());
    let opts = OpenOptions {
        rate: STREAM_RATE,
        offset: 0,
        looped: false,
        ring_frames: STREAM_RATE as usize * 3,
    };
    let (source, info, watch) = decoder::open(programme, &opts)?;
    let (ring, paced) = rtrb::RingBuffer::new(PACER_FRAMES * CHANNELS);
    taps.push(Tap {
        name: "bench pacer".into(),
        ring,
        stats: Arc::new(OutputStats::default()),
    });
    // The pacer is the master, as a sound card is on the box: the mixer
    // makes a block when it has room, and it makes room only as fast as
    // the decoder delivers and the encoder takes, so no block is dropped
    // and no underrun silence is encoded.
    let master = taps.len() - 1;
    let mut engine = start_paced_by(timeline, BLOCK_FRAMES, taps, master)?;
    let stop = Arc::new(AtomicBool::new(false));
    let pacer = spawn_pacer(
        paced,
        watch.clone(),
        encoded.clone(),
        group_frames,
        stop.clone(),
    )
    .map_err(|source| BenchError::Io {
        doing: "start a thread to pace",
        path: programme.to_path_buf(),
        source,
    })?;
    let (ended, waiting) = air_to_the_end(&mut engine, source, limit_for_stream(info.duration))?;
    let threads_at_end = threads_of(own);
    engine.shutdown();
    stop.store(true, Ordering::Release);
    let pacing = pacer.join().unwrap_or_default();
    // The encoder encodes what is left in its ring, the senders send it.
    let shut = outputs.shutdown();
    let after = cpu_time(Who::Process)?;
    let server_after = process_cpu(server.pid());
    shut.map_err(|e| BenchError::Stream(e.to_string()))?;

    let (ended_at, underruns) = ended.map_err(|how| BenchError::Unfinished {
        file: file.clone(),
        seconds: limit_for_stream(info.duration).as_secs(),
        how,
    })?;
    if let Some(reason) = watch.failure() {
        return Err(BenchError::DecoderFailed { file, reason });
    }
    let harness = waiting + pacing;
    let mut lost = encoded.frames_dropped.load(Ordering::Relaxed);
    let mut bytes_sent = Vec::with_capacity(links.len());
    for (_, stats) in &links {
        if let Some(link) = &stats.stream {
            lost += link.frames_discarded.load(Ordering::Relaxed)
                + link.frames_dropped_oldest.load(Ordering::Relaxed);
            bytes_sent.push(link.bytes_sent.load(Ordering::Relaxed));
        }
    }
    let threads = since(&threads_at_end, &threads_before)
        .by_name
        .into_iter()
        .filter(|(name, _)| name.starts_with("onair-") || name.starts_with("output "))
        .map(|(name, (count, cpu))| (name.trim_end().to_string(), count, cpu))
        .collect();
    Ok(StreamRun {
        mounts,
        cpu: after.since(before).saturating_sub(harness),
        harness,
        server: server_after
            .zip(server_before)
            .map(|(a, b)| a.saturating_sub(b)),
        threads,
        bytes_sent,
        lost_frames: lost,
        aired_frames: ended_at.saturating_sub(underruns),
        underruns,
    })
}

/// Encoding is slower than decoding; still, however slow the machine, it
/// must beat real time.
fn limit_for_stream(duration: Option<u64>) -> Duration {
    let rate = u64::from(STREAM_RATE);
    let audio = duration.unwrap_or(rate * 3600) / rate;
    Duration::from_secs(audio + 60)
}

fn wait_until_connected(links: &[(String, Arc<OutputStats>)]) -> Result<(), BenchError> {
    let deadline = Instant::now() + CONNECT_TIMEOUT;
    loop {
        let states: Vec<(String, Connection)> = links
            .iter()
            .filter_map(|(name, stats)| Some((name.clone(), stats.stream.as_ref()?.connection())))
            .collect();
        if states
            .iter()
            .all(|(_, state)| matches!(state, Connection::Connected { .. }))
        {
            return Ok(());
        }
        if Instant::now() > deadline {
            let how = states
                .iter()
                .map(|(name, state)| format!("{name}: {state:?}"))
                .collect::<Vec<_>>()
                .join("; ");
            return Err(BenchError::Stream(format!(
                "the mounts were not all up within {} s ({how})",
                CONNECT_TIMEOUT.as_secs()
            )));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Lets the mixer put out a block only when the decoder has delivered it
/// and the stream group's ring has room for it: the box then does exactly
/// the work of airing the programme, no more (no underrun silence) and no
/// less (no dropped blocks). Returns the thread's own CPU time.
fn spawn_pacer(
    mut tap: rtrb::Consumer<f32>,
    watch: SourceWatch,
    encoded: Arc<OutputStats>,
    group_frames: u64,
    stop: Arc<AtomicBool>,
) -> std::io::Result<JoinHandle<Duration>> {
    std::thread::Builder::new()
        .name(PACER_THREAD.into())
        .spawn(move || {
            let mut drained = 0u64;
            let lag = (PACER_FRAMES + BLOCK_FRAMES) as u64;
            // The mixer runs up to the pacer's buffer ahead of what it drained.
            let ahead = (PACER_FRAMES + 2 * BLOCK_FRAMES) as u64;
            loop {
                let by_decoder = if watch.finished() {
                    u64::MAX
                } else {
                    watch.frames_decoded().saturating_sub(lag)
                };
                let by_encoder = (encoded.frames_out.load(Ordering::Relaxed) + group_frames)
                    .saturating_sub(ahead);
                let allowed = by_decoder.min(by_encoder).saturating_sub(drained);
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

/// The programme as `lame` reads it: decoded by ffmpeg to 16-bit WAV.
fn decode_to_wav(ffmpeg: &Path, programme: &Path, wav: &Path) -> Result<(), BenchError> {
    let output = spawn_ffmpeg(
        ffmpeg,
        Process::new(ffmpeg)
            .args(["-nostdin", "-v", "error", "-y", "-i"])
            .arg(programme)
            .args(["-c:a", "pcm_s16le"])
            .arg(wav)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped()),
    )?
    .wait_with_output()
    .map_err(|e| BenchError::Ffmpeg {
        doing: format!("decoding {} for lame", programme.display()),
        message: e.to_string(),
    })?;
    if !output.status.success() {
        return Err(BenchError::Ffmpeg {
            doing: format!("decoding {} for lame", programme.display()),
            message: String::from_utf8_lossy(&output.stderr).trim().to_string(),
        });
    }
    Ok(())
}

/// `lame` encoding the WAV; returns its CPU time.
pub fn lame_encode(
    lame: &Path,
    args: &[String],
    wav: &Path,
    work: &Path,
) -> Result<Duration, BenchError> {
    let mp3 = work.join("lame.mp3");
    let before = cpu_time(Who::Children)?;
    let output = Process::new(lame)
        .args(args)
        .arg(wav)
        .arg(&mp3)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| BenchError::NoLame {
            program: lame.display().to_string(),
            source,
        })?
        .wait_with_output()
        .map_err(|e| BenchError::Lame(e.to_string()))?;
    let after = cpu_time(Who::Children)?;
    if !output.status.success() {
        return Err(BenchError::Lame(format!(
            "{}: {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    let _ = std::fs::remove_file(&mp3);
    Ok(after.since(before))
}

/// ffmpeg transcoding the programme to MP3 on one thread; returns its CPU.
fn ffmpeg_transcode(
    ffmpeg: &Path,
    settings: &Mp3Settings,
    programme: &Path,
) -> Result<Duration, BenchError> {
    let before = cpu_time(Who::Children)?;
    let mut command = Process::new(ffmpeg);
    for arg in ffmpeg_transcode_arguments(settings) {
        if arg == "{input}" {
            command.arg(programme);
        } else {
            command.arg(arg);
        }
    }
    let output = spawn_ffmpeg(
        ffmpeg,
        command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped()),
    )?
    .wait_with_output()
    .map_err(|e| BenchError::Ffmpeg {
        doing: format!("transcoding {}", programme.display()),
        message: e.to_string(),
    })?;
    let after = cpu_time(Who::Children)?;
    if !output.status.success() {
        return Err(BenchError::Ffmpeg {
            doing: format!("transcoding {}", programme.display()),
            message: String::from_utf8_lossy(&output.stderr).trim().to_string(),
        });
    }
    Ok(after.since(before))
}
