//! Outputs: where the mixed programme goes. Each output has its own bounded
//! ring ([`Tap`]) that the mixer writes without waiting; a full ring drops the
//! block and counts it, so a slow or dead output never stalls the others.
//! File outputs drain their ring on a thread of their own; a device output
//! (ALSA) drains it from the device's callback and is then the master whose
//! clock paces the engine. Stream outputs that carry the same MP3 share one
//! ring and one encoder, and each sends from a queue on a thread of its own
//! ([`stream_group`]).

pub mod alsa;
pub mod chunk_queue;
pub mod encoder;
pub mod icecast;
pub mod null;
mod shout;
mod stream_encoder;
pub mod stream_group;
pub mod stream_link;
pub mod wav;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use chrono_tz::Tz;

use crate::clock::{Clock, Timeline};
use crate::config::OutputConfig;

/// Audio inside the box: interleaved stereo f32.
pub const CHANNELS: usize = 2;

#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error("output {name}: {message}")]
    Open { name: String, message: String },
    /// A stream encoder failed (at start: its settings; later: LAME).
    #[error("output {streams}: encoder {encoder}: {source}")]
    Encoder {
        /// The stream outputs it feeds.
        streams: String,
        /// `MP3 128 kbit/s CBR 48000 Hz`.
        encoder: String,
        source: encoder::EncoderError,
    },
    #[error("output {name}: write failed: {source}")]
    Io {
        name: String,
        source: std::io::Error,
    },
}

/// What every output needs to know about the station and the engine.
#[derive(Debug, Clone)]
pub struct OutputContext {
    pub rate: u32,
    pub timeline: Timeline,
    pub clock: Clock,
    pub timezone: Tz,
    pub station: String,
}

/// Counters an output keeps, read by the status page (relaxed atomics).
#[derive(Debug, Default)]
pub struct OutputStats {
    /// Frames the output has taken from its ring.
    pub frames_out: AtomicU64,
    /// Frames the mixer dropped because the ring was full.
    pub frames_dropped: AtomicU64,
    /// Frames the device wanted when the ring was empty (played as silence).
    pub frames_underrun: AtomicU64,
    pub errors: AtomicU64,
    /// A stream output's connection, counters and title; `None` for others.
    pub stream: Option<Arc<icecast::StreamLink>>,
}

/// The mixer's end of one output.
pub struct Tap {
    pub name: String,
    pub ring: rtrb::Producer<f32>,
    pub stats: Arc<OutputStats>,
}

/// A file or network output, driven by a thread of its own.
pub trait Output: Send + 'static {
    fn name(&self) -> String;
    /// Interleaved stereo samples, in order, with nothing missing but what
    /// the stats count as dropped.
    fn write(&mut self, samples: &[f32]) -> Result<(), OutputError>;
    /// Called once when the box stops: finalise headers, flush buffers.
    fn finish(&mut self) -> Result<(), OutputError>;
    /// `frames` of programme never reached this output (its ring overflowed
    /// or a write failed) and belong before the next `write`. A live stream
    /// simply carries on; an output whose position is its time (a recording)
    /// fills the gap so that what follows keeps its place.
    fn skip(&mut self, frames: u64) -> Result<(), OutputError> {
        let _ = frames;
        Ok(())
    }
}

/// What [`open`] hands over: the mixer's taps (in configuration order), which
/// of them paces the engine, and the running outputs.
pub struct Opened {
    pub taps: Vec<Tap>,
    /// The tap whose ring the mixer waits on (a sound card's clock); `None`
    /// when every output is a file or a stream and the clock paces the mixer.
    pub master: Option<usize>,
    pub outputs: Outputs,
}

/// Opens every configured output and starts its thread(s). Fails on the
/// first output that cannot be opened; outputs already started are stopped
/// again. A stream group's tap stands where its first stream is configured.
pub fn open(configs: &[OutputConfig], ctx: &OutputContext) -> Result<Opened, OutputError> {
    let mut names: Vec<String> = Vec::with_capacity(configs.len());
    for config in configs {
        let name = unique_name(&names, output_name(config));
        names.push(name);
    }
    let mut outputs = Outputs {
        running: Vec::with_capacity(configs.len()),
        encoders: Vec::new(),
    };

    // Streams first, all at once: which share an encoder depends on all of them.
    let mut members = Vec::new();
    let mut member_at = Vec::new();
    for (index, config) in configs.iter().enumerate() {
        if let OutputConfig::Icecast(icecast) = config {
            members.push(stream_group::StreamMember {
                name: names[index].clone(),
                config: icecast.clone(),
                stats: Arc::new(OutputStats {
                    stream: Some(Arc::new(icecast::StreamLink::default())),
                    ..OutputStats::default()
                }),
            });
            member_at.push(index);
        }
    }
    let mut senders: Vec<Option<Running>> = (0..configs.len()).map(|_| None).collect();
    let mut group_taps: Vec<Option<Tap>> = (0..configs.len()).map(|_| None).collect();
    for group in stream_group::start(members, ctx)? {
        let stream_group::StreamGroup {
            tap,
            members,
            encoder,
            senders: stages,
        } = group;
        if let Some(&first) = members.first() {
            group_taps[member_at[first]] = Some(tap);
        }
        outputs.encoders.push(Running::from(encoder));
        for (member, stage) in members.iter().zip(stages) {
            senders[member_at[*member]] = Some(Running::from(stage));
        }
    }

    let mut taps = Vec::with_capacity(configs.len());
    let mut master = None;
    for (index, config) in configs.iter().enumerate() {
        let name = names[index].clone();
        if matches!(config, OutputConfig::Icecast(_)) {
            outputs.running.extend(senders[index].take());
            taps.extend(group_taps[index].take());
            continue;
        }
        let stats = Arc::new(OutputStats::default());
        let stop = Arc::new(AtomicBool::new(false));
        let started = match config {
            OutputConfig::Alsa { device } if ctx.clock.speed() != 1.0 => Err(OutputError::Open {
                name: name.clone(),
                message: format!(
                    "the clock runs at speed {}, but an ALSA device plays in real time; \
                         use clock speed 1 or a wav/null output",
                    ctx.clock.speed()
                ),
            }),
            OutputConfig::Alsa { device } => {
                alsa::start(&name, device, ctx, stats.clone(), stop.clone()).inspect(|_| {
                    master.get_or_insert(taps.len());
                })
            }
            OutputConfig::Null => {
                let output = Box::new(null::NullOutput::new(name.clone()));
                spawn_runner(output, ctx, stats.clone(), stop.clone())
            }
            OutputConfig::Wav { path } => {
                wav::WavOutput::create(&name, path, ctx).and_then(|output| {
                    spawn_runner(Box::new(output), ctx, stats.clone(), stop.clone())
                })
            }
            OutputConfig::Icecast(_) => continue,
        };
        let (ring, thread) = match started {
            Ok(started) => started,
            Err(e) => {
                // Dropping `outputs` stops them, the streams not yet reached too.
                outputs.running.extend(senders.into_iter().flatten());
                return Err(e);
            }
        };
        outputs.running.push(Running {
            name: name.clone(),
            stats: stats.clone(),
            stop,
            thread: Some(thread),
        });
        taps.push(Tap { name, ring, stats });
    }
    Ok(Opened {
        taps,
        master,
        outputs,
    })
}

fn output_name(config: &OutputConfig) -> String {
    match config {
        OutputConfig::Alsa { device } => format!("alsa {device}"),
        OutputConfig::Null => "null".to_string(),
        OutputConfig::Wav { path } => format!("wav {}", path.display()),
        OutputConfig::Icecast(c) => format!("icecast {}:{}{}", c.host, c.port, c.mount),
    }
}

/// The status page tells outputs apart by name, so a second `null` becomes `null (2)`.
fn unique_name(taken: &[String], name: String) -> String {
    if !taken.contains(&name) {
        return name;
    }
    (2..)
        .map(|n| format!("{name} ({n})"))
        .find(|candidate| !taken.contains(candidate))
        .unwrap_or(name)
}

/// The running outputs: their threads (and, for ALSA, the device streams
/// those threads keep). Dropping it stops them as [`Outputs::shutdown`] does.
pub struct Outputs {
    /// One per configured output, in configuration order.
    running: Vec<Running>,
    /// The stream groups' encoders: stopped first, so that their senders
    /// get the end of the programme before they stop.
    encoders: Vec<Running>,
}

struct Running {
    name: String,
    stats: Arc<OutputStats>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Result<(), OutputError>>>,
}

impl From<stream_group::StreamThread> for Running {
    fn from(stage: stream_group::StreamThread) -> Self {
        Running {
            name: stage.name,
            stats: stage.stats,
            stop: stage.stop,
            thread: Some(stage.thread),
        }
    }
}

impl Outputs {
    /// Each output's name and counters, for the status page.
    pub fn stats(&self) -> Vec<(String, Arc<OutputStats>)> {
        self.running
            .iter()
            .map(|r| (r.name.clone(), r.stats.clone()))
            .collect()
    }

    /// Stops every output once it has played or written what is left in its
    /// ring (the mixer should have stopped writing), finalises files and
    /// waits for the threads. Every output is stopped even if one fails; the
    /// first failure is returned (all are logged).
    pub fn shutdown(mut self) -> Result<(), OutputError> {
        self.stop_all()
    }

    fn stop_all(&mut self) -> Result<(), OutputError> {
        let mut first_error = Self::stop(&mut self.encoders).err();
        if let Err(e) = Self::stop(&mut self.running) {
            first_error.get_or_insert(e);
        }
        first_error.map_or(Ok(()), Err)
    }

    fn stop(stages: &mut [Running]) -> Result<(), OutputError> {
        for running in stages.iter() {
            running.stop.store(true, Ordering::Release);
        }
        let mut first_error = None;
        for running in stages.iter_mut() {
            let Some(thread) = running.thread.take() else {
                continue;
            };
            let result = match thread.join() {
                Ok(result) => result,
                Err(_) => Err(OutputError::Open {
                    name: running.name.clone(),
                    message: "its thread panicked; the end of its audio may be missing \
                              (please report this as a bug)"
                        .to_string(),
                }),
            };
            if let Err(e) = result {
                tracing::error!("{e}");
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

impl Drop for Outputs {
    fn drop(&mut self) {
        let _ = self.stop_all();
    }
}

/// A started output as [`open`] keeps it: the mixer's end of its ring and
/// the thread that drains it.
type Started = (rtrb::Producer<f32>, JoinHandle<Result<(), OutputError>>);

/// Seconds of audio a file output's ring holds: about two real seconds of the
/// mixer's production (so a disk that stalls for a moment loses nothing), at
/// least one second of audio, and at most a minute, which bounds the memory
/// a fast simulated clock would otherwise claim.
fn file_ring_seconds(speed: f64) -> f64 {
    (2.0 * speed).clamp(1.0, 60.0)
}

/// A runner writes once a fiftieth of its ring has gathered (40 ms of
/// audio at real time, where the ring holds 2 s) and naps in between: a
/// file or a stream gains nothing from being written block by block, and
/// every wake and every call into an encoder costs CPU the Pi needs.
const BATCH_PARTS: usize = 50;
const IDLE_NAP: Duration = Duration::from_millis(20);

/// How long an output whose write failed discards audio before trying again.
const RETRY_AFTER: Duration = Duration::from_secs(2);
/// The most samples handed to one `write`, so a long backlog is written in
/// pieces and the thread keeps an eye on the stop flag and the drop counter.
const MAX_WRITE: usize = 16_384 * CHANNELS;

fn spawn_runner(
    output: Box<dyn Output>,
    ctx: &OutputContext,
    stats: Arc<OutputStats>,
    stop: Arc<AtomicBool>,
) -> Result<Started, OutputError> {
    let frames = (ctx.rate as f64 * file_ring_seconds(ctx.clock.speed())) as usize;
    let (producer, consumer) = rtrb::RingBuffer::new(frames.max(1) * CHANNELS);
    let thread = start_runner(output, consumer, stats, stop, RETRY_AFTER)?;
    Ok((producer, thread))
}

/// The output runner: drains one ring into one [`Output`] on a thread of its
/// own. It never stops draining, whatever the output does, so a failing disk
/// or server shows up as errors and gaps, never as a stalled mixer.
fn start_runner(
    mut output: Box<dyn Output>,
    mut ring: rtrb::Consumer<f32>,
    stats: Arc<OutputStats>,
    stop: Arc<AtomicBool>,
    retry_after: Duration,
) -> Result<JoinHandle<Result<(), OutputError>>, OutputError> {
    let name = output.name();
    let dropped_seen = stats.frames_dropped.load(Ordering::Relaxed);
    let batch = (ring.buffer().capacity() / BATCH_PARTS / CHANNELS).max(1) * CHANNELS;
    std::thread::Builder::new()
        .name(format!("output {name}"))
        .spawn(move || {
            let mut runner = Runner {
                gap: 0,
                dropped_seen,
                failing_since: None,
                retry_at: None,
                failures: ErrorLog::default(),
                retry_after,
            };
            loop {
                // Read before draining: everything pushed before the stop
                // request is then written before the thread ends.
                let stopping = stop.load(Ordering::Acquire);
                let available = ring.slots() / CHANNELS * CHANNELS;
                if available < batch && !stopping {
                    runner.note_drops(&stats);
                    std::thread::sleep(IDLE_NAP);
                    continue;
                }
                if available == 0 {
                    runner.note_drops(&stats);
                    break;
                }
                let Ok(chunk) = ring.read_chunk(available.min(MAX_WRITE)) else {
                    continue;
                };
                let (first, second) = chunk.as_slices();
                runner.deliver(output.as_mut(), &stats, first);
                runner.deliver(output.as_mut(), &stats, second);
                let frames = chunk.len() / CHANNELS;
                chunk.commit_all();
                stats.frames_out.fetch_add(frames as u64, Ordering::Relaxed);
                runner.note_drops(&stats);
            }
            // Programme lost at the very end still takes its time in a recording.
            if runner.gap > 0
                && runner.retry_at.is_none()
                && let Err(e) = output.skip(runner.gap)
            {
                stats.errors.fetch_add(1, Ordering::Relaxed);
                tracing::warn!("{e}");
            }
            let finished = output.finish();
            if let Err(e) = &finished {
                stats.errors.fetch_add(1, Ordering::Relaxed);
                tracing::error!("{e}");
            }
            finished
        })
        .map_err(|e| OutputError::Open {
            name,
            message: format!("cannot start its thread: {e}; the system is out of resources"),
        })
}

struct Runner {
    /// Frames lost (dropped by the mixer or discarded after a failed write)
    /// that the output has not been told about yet.
    gap: u64,
    dropped_seen: u64,
    failing_since: Option<Instant>,
    retry_at: Option<Instant>,
    failures: ErrorLog,
    retry_after: Duration,
}

impl Runner {
    fn note_drops(&mut self, stats: &OutputStats) {
        let dropped = stats.frames_dropped.load(Ordering::Relaxed);
        self.gap += dropped.saturating_sub(self.dropped_seen);
        self.dropped_seen = dropped;
    }

    fn deliver(&mut self, output: &mut dyn Output, stats: &OutputStats, samples: &[f32]) {
        if samples.is_empty() {
            return;
        }
        let frames = (samples.len() / CHANNELS) as u64;
        let now = Instant::now();
        if self.retry_at.is_some_and(|at| now < at) {
            self.gap += frames;
            return;
        }
        let result = if self.gap > 0 {
            output.skip(self.gap).map(|()| self.gap = 0)
        } else {
            Ok(())
        }
        .and_then(|()| output.write(samples));
        match result {
            Ok(()) => {
                if let Some(since) = self.failing_since.take() {
                    tracing::info!(
                        "output {}: writing again after {:.0} s of failures",
                        output.name(),
                        since.elapsed().as_secs_f64()
                    );
                }
                self.retry_at = None;
            }
            Err(e) => {
                stats.errors.fetch_add(1, Ordering::Relaxed);
                self.gap += frames;
                self.failing_since.get_or_insert(now);
                self.retry_at = Some(now + self.retry_after);
                self.failures.report(&format!(
                    "{e}; its programme is discarded and counted until a write succeeds \
                     (trying again every {} s)",
                    self.retry_after.as_secs_f64()
                ));
            }
        }
    }
}

/// Logs a failure that repeats (a full disk fails every write) at most every
/// half minute, with how many went unlogged in between.
#[derive(Default)]
struct ErrorLog {
    last: Option<Instant>,
    unlogged: u64,
}

const ERROR_LOG_EVERY: Duration = Duration::from_secs(30);

impl ErrorLog {
    fn report(&mut self, message: &str) {
        let now = Instant::now();
        if self
            .last
            .is_some_and(|last| now.duration_since(last) < ERROR_LOG_EVERY)
        {
            self.unlogged += 1;
            return;
        }
        if self.unlogged > 0 {
            tracing::warn!(
                "{message} (and {} more failures since the last report)",
                self.unlogged
            );
        } else {
            tracing::warn!("{message}");
        }
        self.last = Some(now);
        self.unlogged = 0;
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::sync::Mutex;
    use std::time::SystemTime;

    use chrono::{DateTime, Utc};

    use super::*;

    fn context(clock: Clock) -> OutputContext {
        OutputContext {
            rate: 48_000,
            timeline: Timeline {
                rate: 48_000,
                anchor: DateTime::parse_from_rfc3339("2026-06-01T05:59:58.5Z")
                    .unwrap()
                    .to_utc(),
            },
            clock,
            timezone: chrono_tz::Europe::London,
            station: "Radio Test".to_string(),
        }
    }

    fn folder(test: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("onair-out-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    fn tone(frames: usize, offset: usize) -> Vec<f32> {
        (offset..offset + frames)
            .flat_map(|n| {
                let x =
                    (n as f32 * 2.0 * std::f32::consts::PI * 440.0 / 48_000.0 + 0.1).sin() * 0.8;
                [x, x * 0.5]
            })
            .collect()
    }

    /// The mixer's side of a tap: push a block whole or drop it and count it.
    fn push(tap: &mut Tap, block: &[f32]) -> bool {
        match tap.ring.push_entire_slice(block) {
            Ok(()) => true,
            Err(_) => {
                tap.stats
                    .frames_dropped
                    .fetch_add((block.len() / CHANNELS) as u64, Ordering::Relaxed);
                false
            }
        }
    }

    /// `blocks` blocks of tone to every tap, as fast as the outputs take them:
    /// a block a full ring refuses is offered again, not dropped.
    fn feed(taps: &mut [Tap], blocks: u64) {
        for block in 0..blocks {
            let samples = tone(480, block as usize * 480);
            for tap in taps.iter_mut() {
                while !push(tap, &samples) {
                    tap.stats.frames_dropped.fetch_sub(480, Ordering::Relaxed);
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        }
    }

    #[test]
    fn a_tone_fed_to_a_tap_is_recorded_with_the_timelines_anchor() {
        let dir = folder("tone");
        let path = dir.join("logger/air.wav");
        let ctx = context(Clock::Wall);
        let configs = [OutputConfig::Wav { path: path.clone() }, OutputConfig::Null];
        let Opened {
            mut taps,
            master,
            outputs,
        } = open(&configs, &ctx).unwrap();
        assert_eq!(master, None, "file outputs do not pace the engine");
        let names: Vec<String> = outputs.stats().into_iter().map(|(name, _)| name).collect();
        assert_eq!(
            names,
            [format!("wav {}", path.display()), "null".to_string()]
        );

        // 3 s of programme in 10 ms blocks, faster than real time: more than
        // the 2 s ring holds at once, so the runners must keep draining.
        feed(&mut taps, 300);
        let stats = outputs.stats();
        outputs.shutdown().unwrap();

        let mut reader = hound::WavReader::open(&path).unwrap();
        assert_eq!(reader.spec().sample_rate, 48_000);
        let samples: Vec<i16> = reader.samples::<i16>().map(|s| s.unwrap()).collect();
        let expected = tone(144_000, 0);
        assert_eq!(samples.len(), expected.len());
        for (i, (&got, &want)) in samples.iter().zip(&expected).enumerate() {
            let exact = (want * 32767.0).round() as i32;
            assert!(
                (got as i32 - exact).abs() <= 1,
                "sample {i}: {got} vs {exact}"
            );
        }
        assert_eq!(wav::anchor_of(&path).unwrap(), Some(ctx.timeline.anchor));
        for (name, stats) in stats {
            assert_eq!(stats.frames_out.load(Ordering::Relaxed), 144_000, "{name}");
            assert_eq!(stats.frames_dropped.load(Ordering::Relaxed), 0, "{name}");
            assert_eq!(stats.errors.load(Ordering::Relaxed), 0, "{name}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn dropping_the_outputs_still_finalises_the_recording() {
        let dir = folder("drop");
        let path = dir.join("air.wav");
        let ctx = context(Clock::Wall);
        let mut opened = open(&[OutputConfig::Wav { path: path.clone() }], &ctx).unwrap();
        assert!(push(&mut opened.taps[0], &tone(4800, 0)));
        drop(opened);
        let reader = hound::WavReader::open(&path).unwrap();
        assert_eq!(reader.len(), 9600);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn file_rings_hold_two_real_seconds_within_bounds() {
        let simulated = |speed| Clock::Simulated {
            start: Utc::now(),
            speed,
            epoch: SystemTime::now(),
        };
        for (speed, seconds) in [(1.0, 2), (0.25, 1), (10.0, 20), (3600.0, 60)] {
            let opened = open(&[OutputConfig::Null], &context(simulated(speed))).unwrap();
            let capacity = opened.taps[0].ring.buffer().capacity();
            assert_eq!(capacity, 48_000 * seconds * CHANNELS, "speed {speed}");
        }
    }

    #[test]
    fn alsa_is_refused_when_the_clock_is_not_real_time() {
        let clock = Clock::Simulated {
            start: Utc::now(),
            speed: 60.0,
            epoch: SystemTime::now(),
        };
        let configs = [OutputConfig::Alsa {
            device: "default".to_string(),
        }];
        let message = match open(&configs, &context(clock)) {
            Ok(_) => panic!("an ALSA output was opened on a clock at speed 60"),
            Err(e) => e.to_string(),
        };
        assert!(message.contains("plays in real time"), "{message}");
        assert!(
            message.contains("use clock speed 1 or a wav/null output"),
            "{message}"
        );
    }

    #[test]
    fn outputs_of_the_same_kind_get_names_apart() {
        let opened = open(
            &[OutputConfig::Null, OutputConfig::Null, OutputConfig::Null],
            &context(Clock::Wall),
        )
        .unwrap();
        let names: Vec<&str> = opened.taps.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["null", "null (2)", "null (3)"]);
    }

    fn stream_to(port: u16, mount: &str, bitrate: u32) -> OutputConfig {
        OutputConfig::Icecast(crate::config::IcecastConfig::local(port, mount, bitrate))
    }

    #[test]
    fn streams_with_the_same_mp3_share_one_tap_and_each_keeps_its_counters() {
        // A port nobody listens on: every stream is down and discards.
        let closed = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap()
            .port();
        let dir = folder("groups");
        let path = dir.join("air.wav");
        let configs = [
            stream_to(closed, "/a.mp3", 128),
            OutputConfig::Wav { path: path.clone() },
            stream_to(closed, "/b.mp3", 128),
            stream_to(closed, "/low.mp3", 64),
        ];
        let Opened {
            mut taps, outputs, ..
        } = open(&configs, &context(Clock::Wall)).unwrap();
        let tap_names: Vec<&str> = taps.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(
            tap_names,
            [
                "encoder MP3 128 kbit/s CBR 48000 Hz",
                &format!("wav {}", path.display()),
                "encoder MP3 64 kbit/s CBR 48000 Hz"
            ]
        );
        feed(&mut taps, 100);
        let stats = outputs.stats();
        outputs.shutdown().unwrap();

        // Every configured output is still shown, in order, with its own counters.
        let names: Vec<&str> = stats.iter().map(|(n, _)| n.as_str()).collect();
        let port = closed;
        assert_eq!(
            names,
            [
                format!("icecast 127.0.0.1:{port}/a.mp3"),
                format!("wav {}", path.display()),
                format!("icecast 127.0.0.1:{port}/b.mp3"),
                format!("icecast 127.0.0.1:{port}/low.mp3"),
            ]
        );
        for (index, shared_by) in [(0, 2), (2, 2), (3, 1)] {
            let (name, stats) = &stats[index];
            assert_eq!(stats.frames_out.load(Ordering::Relaxed), 48_000, "{name}");
            let state = stats.stream.as_ref().unwrap().state();
            assert_eq!(state.encoder_shared_by, shared_by, "{name}: {state:?}");
            assert_eq!(state.bytes_sent, 0, "{name}");
            // Down all along: all of it discarded, none dropped for a full queue.
            assert_eq!(state.frames_discarded, 48_000, "{name}: {state:?}");
            assert_eq!(state.frames_dropped_oldest, 0, "{name}");
        }
        let shared = |i: usize| stats[i].1.stream.as_ref().unwrap().state().encoder;
        assert_eq!(shared(0), shared(2));
        assert_ne!(shared(0), shared(3));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// What a test output was asked to do.
    #[derive(Default)]
    struct Journal {
        written: u64,
        skipped: Vec<u64>,
        finished: bool,
    }

    /// A disk that stalls until the test lets it go, or fails its first writes.
    struct TestDisk {
        journal: Arc<Mutex<Journal>>,
        stall: Option<std::sync::mpsc::Receiver<()>>,
        failures_left: u32,
    }

    impl Output for TestDisk {
        fn name(&self) -> String {
            "test disk".to_string()
        }

        fn write(&mut self, samples: &[f32]) -> Result<(), OutputError> {
            if let Some(stall) = self.stall.take() {
                let _ = stall.recv();
            }
            if self.failures_left > 0 {
                self.failures_left -= 1;
                return Err(OutputError::Io {
                    name: self.name(),
                    source: std::io::Error::from_raw_os_error(28),
                });
            }
            self.journal.lock().unwrap().written += (samples.len() / CHANNELS) as u64;
            Ok(())
        }

        fn finish(&mut self) -> Result<(), OutputError> {
            self.journal.lock().unwrap().finished = true;
            Ok(())
        }

        fn skip(&mut self, frames: u64) -> Result<(), OutputError> {
            self.journal.lock().unwrap().skipped.push(frames);
            Ok(())
        }
    }

    #[test]
    fn a_stalled_output_never_blocks_the_producer() {
        let journal = Arc::new(Mutex::new(Journal::default()));
        let (release, stall) = std::sync::mpsc::channel();
        let disk = TestDisk {
            journal: journal.clone(),
            stall: Some(stall),
            failures_left: 0,
        };
        let (producer, consumer) = rtrb::RingBuffer::new(4800 * CHANNELS);
        let stats = Arc::new(OutputStats::default());
        let stop = Arc::new(AtomicBool::new(false));
        let thread = start_runner(
            Box::new(disk),
            consumer,
            stats.clone(),
            stop.clone(),
            RETRY_AFTER,
        )
        .unwrap();
        let mut tap = Tap {
            name: "test disk".to_string(),
            ring: producer,
            stats: stats.clone(),
        };

        // 5 s of programme against a disk that does not move: every push
        // returns at once, and what does not fit is dropped and counted.
        let started = Instant::now();
        let mut pushed = 0u64;
        for block in 0..500 {
            if push(&mut tap, &tone(480, block * 480)) {
                pushed += 480;
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{:?}",
            started.elapsed()
        );
        let dropped = stats.frames_dropped.load(Ordering::Relaxed);
        assert!(dropped >= 240_000 - 4800 - 480, "dropped {dropped}");
        assert_eq!(pushed + dropped, 240_000);

        release.send(()).unwrap();
        stop.store(true, Ordering::Release);
        thread.join().unwrap().unwrap();
        let journal = journal.lock().unwrap();
        assert_eq!(journal.written, pushed);
        // The output is told how much went missing, so a recording keeps its time.
        assert_eq!(journal.skipped.iter().sum::<u64>(), dropped);
        assert!(journal.finished);
        assert_eq!(stats.frames_out.load(Ordering::Relaxed), pushed);
    }

    #[test]
    fn a_failing_output_keeps_draining_and_tries_again() {
        let journal = Arc::new(Mutex::new(Journal::default()));
        let disk = TestDisk {
            journal: journal.clone(),
            stall: None,
            failures_left: 3,
        };
        let (producer, consumer) = rtrb::RingBuffer::new(4800 * CHANNELS);
        let stats = Arc::new(OutputStats::default());
        let stop = Arc::new(AtomicBool::new(false));
        let retry = Duration::from_millis(30);
        let thread =
            start_runner(Box::new(disk), consumer, stats.clone(), stop.clone(), retry).unwrap();
        let mut tap = Tap {
            name: "test disk".to_string(),
            ring: producer,
            stats: stats.clone(),
        };
        // A disk that is full for a while: the mixer still never has to drop.
        for block in 0..100 {
            let samples = tone(480, block * 480);
            while !push(&mut tap, &samples) {
                stats.frames_dropped.fetch_sub(480, Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(1));
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        stop.store(true, Ordering::Release);
        thread.join().unwrap().unwrap();

        let journal = journal.lock().unwrap();
        assert_eq!(stats.errors.load(Ordering::Relaxed), 3);
        assert_eq!(stats.frames_out.load(Ordering::Relaxed), 48_000);
        let lost: u64 = journal.skipped.iter().sum();
        assert!(lost >= 480 * 3, "lost {lost}");
        assert!(journal.written > 0);
        assert_eq!(journal.written + lost, 48_000);
    }
}
