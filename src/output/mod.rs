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
pub mod subscriber;
pub mod wav;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use chrono_tz::Tz;

use crate::clock::{Clock, Timeline};
use crate::config::OutputConfig;
use crate::pacing::{self, Bell};

/// Audio inside the box: interleaved stereo f32.
pub const CHANNELS: usize = 2;

#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error("output {name}: {message}")]
    Open { name: String, message: String },
    #[error(
        "output {name}: its thread panicked; the end of its audio may be missing \
         (please report this as a bug)"
    )]
    ThreadPanicked { name: String },
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
    /// Of `errors`: times a sound card ran dry because its callback came
    /// late (an ALSA xrun). The listener heard a gap the box did not
    /// choose, so it is not in `frames_underrun`, whose length it knows.
    pub device_ran_dry: AtomicU64,
    /// A stream output's connection, counters and title; `None` for others.
    pub stream: Option<Arc<icecast::StreamLink>>,
    /// How the mixer and the thread draining this output's ring wake each
    /// other. Not a counter: it lives here because both ends already share
    /// these stats, however the output was built.
    pub bells: TapBells,
}

/// The two bells of one output's ring.
#[derive(Debug, Default)]
pub struct TapBells {
    /// Wakes the thread that drains the ring. It answers with its batch;
    /// the mixer rings when a push brings the ring to that.
    pub drainer: Bell,
    /// Wakes the mixer. It answers (on the master output only) with the
    /// room it wants; whatever drains the ring (the sound card's callback)
    /// rings when that much room has opened.
    pub mixer: Bell,
    /// What drains the ring rings `mixer` (a sound card's callback does);
    /// the mixer polls a master that does not (a stand-in, a test).
    rings_mixer: AtomicBool,
}

impl TapBells {
    /// Promises that whatever drains this ring rings the mixer's bell.
    pub fn will_ring_mixer(&self) {
        self.rings_mixer.store(true, Ordering::Release);
    }

    pub fn rings_mixer(&self) -> bool {
        self.rings_mixer.load(Ordering::Acquire)
    }
}

/// The mixer's end of one output.
pub struct Tap {
    pub name: String,
    pub ring: rtrb::Producer<f32>,
    pub stats: Arc<OutputStats>,
}

impl Tap {
    /// Pushes a block whole, or drops it and counts it: never waits, locks
    /// or allocates (the mixer's thread calls it). Wakes the thread that
    /// drains the ring when this push brings it to that thread's batch.
    pub fn push_block(&mut self, samples: &[f32]) -> bool {
        if self.ring.push_entire_slice(samples).is_err() {
            self.stats
                .frames_dropped
                .fetch_add((samples.len() / CHANNELS) as u64, Ordering::Relaxed);
            return false;
        }
        let waiting = self.ring.buffer().capacity() - self.ring.slots();
        self.stats
            .bells
            .drainer
            .ring_if_crossed(waiting, samples.len());
        true
    }
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
pub struct OpenOutputs {
    pub taps: Vec<Tap>,
    /// The tap whose ring the mixer waits on (a sound card's clock); `None`
    /// when every output is a file or a stream and the clock paces the mixer.
    pub master: Option<usize>,
    pub outputs: Outputs,
}

/// Opens every configured output and starts its thread(s). Fails on the
/// first output that cannot be opened; outputs already started are stopped
/// again. A stream group's tap stands where its first stream is configured.
pub fn open(configs: &[OutputConfig], ctx: &OutputContext) -> Result<OpenOutputs, OutputError> {
    open_with(configs, Vec::new(), ctx)
}

/// [`open`], with subscribers to the stream encoders beside the Icecast
/// outputs (the archive). A subscription no stream matches gets an encoder
/// of its own, whose tap comes after the configured outputs'.
pub fn open_with(
    configs: &[OutputConfig],
    subscriptions: Vec<subscriber::Subscription>,
    ctx: &OutputContext,
) -> Result<OpenOutputs, OutputError> {
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
    let mut senders: Vec<Option<OutputThread>> = (0..configs.len()).map(|_| None).collect();
    let mut group_taps: Vec<Option<Tap>> = (0..configs.len()).map(|_| None).collect();
    let mut own_taps = Vec::new();
    for group in stream_group::start(members, subscriptions, ctx)? {
        let stream_group::StreamGroup {
            tap,
            members,
            encoder,
            senders: stages,
        } = group;
        match members.first() {
            Some(&first) => group_taps[member_at[first]] = Some(tap),
            None => own_taps.push(tap),
        }
        outputs.encoders.push(OutputThread::from(encoder));
        for (member, stage) in members.iter().zip(stages) {
            senders[member_at[*member]] = Some(OutputThread::from(stage));
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
        outputs.running.push(OutputThread {
            name: name.clone(),
            stats: stats.clone(),
            stop,
            thread: Some(thread),
        });
        taps.push(Tap { name, ring, stats });
    }
    taps.extend(own_taps);
    Ok(OpenOutputs {
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
    running: Vec<OutputThread>,
    /// The stream groups' encoders: stopped first, so that their senders
    /// get the end of the programme before they stop.
    encoders: Vec<OutputThread>,
}

struct OutputThread {
    name: String,
    stats: Arc<OutputStats>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Result<(), OutputError>>>,
}

impl From<stream_group::StreamThread> for OutputThread {
    fn from(stage: stream_group::StreamThread) -> Self {
        OutputThread {
            name: stage.name,
            stats: stage.stats,
            stop: stage.stop,
            thread: Some(stage.thread),
        }
    }
}

impl Outputs {
    /// Takes on a thread that is not a configured output but stops with
    /// them, after the encoders that feed it (the archive's writer): its
    /// counters are listed after the configured outputs'.
    pub fn adopt(
        &mut self,
        name: String,
        stats: Arc<OutputStats>,
        stop: Arc<AtomicBool>,
        thread: JoinHandle<Result<(), OutputError>>,
    ) {
        self.running.push(OutputThread {
            name,
            stats,
            stop,
            thread: Some(thread),
        });
    }

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

    fn stop(stages: &mut [OutputThread]) -> Result<(), OutputError> {
        for running in stages.iter() {
            running.stop.store(true, Ordering::Release);
            if let Some(thread) = &running.thread {
                thread.thread().unpark();
            }
        }
        let mut first_error = None;
        for running in stages.iter_mut() {
            let Some(thread) = running.thread.take() else {
                continue;
            };
            let result = match thread.join() {
                Ok(result) => result,
                Err(_) => Err(OutputError::ThreadPanicked {
                    name: running.name.clone(),
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
type StartedOutput = (rtrb::Producer<f32>, JoinHandle<Result<(), OutputError>>);

/// Seconds of audio a file output's ring holds: about two real seconds of the
/// mixer's production (so a disk that stalls for a moment loses nothing), at
/// least one second of audio, and at most a minute, which bounds the memory
/// a fast simulated clock would otherwise claim.
fn file_ring_seconds(speed: f64) -> f64 {
    (2.0 * speed).clamp(1.0, 60.0)
}

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
) -> Result<StartedOutput, OutputError> {
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
    let batch =
        (ring.buffer().capacity() / pacing::RUNNER_BATCH_PARTS / CHANNELS).max(1) * CHANNELS;
    std::thread::Builder::new()
        .name(format!("output {name}"))
        .spawn(move || {
            stats.bells.drainer.answer(batch);
            let mut runner = Delivery {
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
                    // The mixer rings when its push brings the ring to a
                    // batch; stopping rings too.
                    Bell::wait(pacing::SAFETY_NAP);
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

struct Delivery {
    /// Frames lost (dropped by the mixer or discarded after a failed write)
    /// that the output has not been told about yet.
    gap: u64,
    dropped_seen: u64,
    failing_since: Option<Instant>,
    retry_at: Option<Instant>,
    failures: ErrorLog,
    retry_after: Duration,
}

impl Delivery {
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
mod tests;
