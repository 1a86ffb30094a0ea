//! The studio callback: an ALSA playback device, driven through cpal.
//!
//! The device's callback drains this output's ring; it is the master whose
//! clock paces the engine, so the ring is short (tens of milliseconds) to keep
//! latency low. The callback never locks, allocates or logs: on an empty ring
//! it plays silence and counts the frames it was short.
//!
//! A device that fails (unplugged, driver error) is reopened every few
//! seconds; meanwhile this output's thread drains the ring at the device's
//! rate, so the engine keeps time and nothing backs up.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};
use cpal::{
    BufferSize, FromSample, SampleFormat, SizedSample, StreamConfig, SupportedBufferSize,
    SupportedStreamConfigRange,
};

use super::{CHANNELS, ErrorLog, OutputContext, OutputError, OutputStats, StartedOutput};
use crate::pacing::{self, Bell};

/// The ring holds at least this much audio: enough to ride over a mixer
/// held up by a busy two-core box, little enough that the studio hears the
/// box promptly (the engine makes up for it: its first block leaves this
/// much early, so the programme is still heard on time).
const RING_MS: u32 = 100;
/// The device period asked for (it may round it).
const PERIOD_MS: u32 = 10;
/// Callbacks after the ring ran empty by which the device has played all it
/// was given (cpal keeps two periods in the device; one more for certainty).
const PLAYED_OUT_AFTER: u64 = 3;
/// How long a failed device rests before it is opened again.
const REOPEN_AFTER: Duration = Duration::from_secs(3);

/// Sample formats this output can feed, best first.
const FORMATS: [SampleFormat; 10] = [
    SampleFormat::F32,
    SampleFormat::F64,
    SampleFormat::I32,
    SampleFormat::I24,
    SampleFormat::I16,
    SampleFormat::U32,
    SampleFormat::U24,
    SampleFormat::U16,
    SampleFormat::I8,
    SampleFormat::U8,
];

/// The output devices ALSA offers, as `name (description)`: what a station
/// engineer can put in the configuration.
pub fn device_names() -> Result<Vec<String>, OutputError> {
    let host = host().map_err(|message| OutputError::Open {
        name: "alsa".to_string(),
        message,
    })?;
    list(&host).map_err(|message| OutputError::Open {
        name: "alsa".to_string(),
        message,
    })
}

fn host() -> Result<cpal::Host, String> {
    cpal::host_from_id(cpal::HostId::Alsa).map_err(|e| format!("ALSA is not available: {e}"))
}

fn list(host: &cpal::Host) -> Result<Vec<String>, String> {
    let devices = host
        .output_devices()
        .map_err(|e| format!("cannot list the ALSA devices: {e}"))?;
    Ok(devices
        .map(|d| {
            let id = d.id().map(|id| id.id().to_string()).unwrap_or_default();
            match d.description() {
                Ok(desc) if desc.name() != id => format!("{id} ({})", desc.name()),
                _ => id,
            }
        })
        .collect())
}

/// Finds a device by its ALSA name (`default`, `plughw:CARD=…`, a PCM from
/// asound.conf) or by the description ALSA shows for it.
fn find_device(host: &cpal::Host, wanted: &str) -> Result<cpal::Device, String> {
    if wanted == "default" {
        return host.default_output_device().ok_or_else(|| {
            "ALSA has no default output device; name one of `aplay -L` in the configuration"
                .to_string()
        });
    }
    let devices: Vec<cpal::Device> = host
        .output_devices()
        .map_err(|e| format!("cannot list the ALSA devices: {e}"))?
        .collect();
    let by_id = devices
        .iter()
        .find(|d| d.id().is_ok_and(|id| id.id() == wanted));
    let by_description = || {
        devices
            .iter()
            .find(|d| d.description().is_ok_and(|desc| desc.name() == wanted))
    };
    if let Some(device) = by_id.or_else(by_description) {
        return Ok(device.clone());
    }
    // Short forms such as `hw:1,0` name a listed device in its long form.
    if let Some(device) = host.device_by_id(&cpal::DeviceId::new(cpal::HostId::Alsa, wanted)) {
        return Ok(device);
    }
    let available = list(host)?.join(", ");
    Err(format!(
        "there is no ALSA output device called {wanted:?}; the devices here are: {available} \
         (a PCM of your own needs a hint {{ show on description \"…\" }} section to be listed)"
    ))
}

/// How the device will be fed.
#[derive(Debug, Clone, Copy, PartialEq)]
struct DeviceSetup {
    format: SampleFormat,
    config: StreamConfig,
}

/// Picks stereo at the engine rate, in the best format the device takes,
/// with a period of about [`PERIOD_MS`].
fn choose(ranges: &[SupportedStreamConfigRange], rate: u32) -> Result<DeviceSetup, String> {
    let stereo: Vec<&SupportedStreamConfigRange> = ranges
        .iter()
        .filter(|r| r.channels() as usize == CHANNELS)
        .collect();
    if stereo.is_empty() {
        let mut channels: Vec<u16> = ranges.iter().map(|r| r.channels()).collect();
        channels.sort_unstable();
        channels.dedup();
        return Err(format!(
            "cannot play stereo (it takes {channels:?} channels); use its plughw: device, which converts"
        ));
    }
    let at_rate: Vec<&SupportedStreamConfigRange> = stereo
        .iter()
        .copied()
        .filter(|r| r.contains_rate(rate))
        .collect();
    if at_rate.is_empty() {
        let mut rates: Vec<String> = stereo
            .iter()
            .map(|r| match (r.min_sample_rate(), r.max_sample_rate()) {
                (min, max) if min == max => format!("{min} Hz"),
                (min, max) => format!("{min}–{max} Hz"),
            })
            .collect();
        rates.sort();
        rates.dedup();
        return Err(format!(
            "cannot play at {rate} Hz (it plays {}); set [audio] sample_rate to one of these \
             or use its plughw: device, which resamples",
            rates.join(", ")
        ));
    }
    for format in FORMATS {
        if let Some(range) = at_rate.iter().find(|r| r.sample_format() == format) {
            let wanted = rate * PERIOD_MS / 1000;
            let buffer_size = match *range.buffer_size() {
                SupportedBufferSize::Range { min, max } => {
                    BufferSize::Fixed(wanted.clamp(min, max))
                }
                SupportedBufferSize::Unknown => BufferSize::Default,
            };
            return Ok(DeviceSetup {
                format,
                config: StreamConfig {
                    channels: CHANNELS as u16,
                    sample_rate: rate,
                    buffer_size,
                },
            });
        }
    }
    let formats: Vec<String> = at_rate
        .iter()
        .map(|r| r.sample_format().to_string())
        .collect();
    Err(format!(
        "takes only sample formats onair cannot produce ({}); use its plughw: device, which converts",
        formats.join(", ")
    ))
}

/// Ring length in frames: [`RING_MS`], or three device periods if those are longer.
fn ring_frames(rate: u32, period: Option<u32>) -> usize {
    let floor = (rate * RING_MS / 1000) as usize;
    floor.max(3 * period.unwrap_or(0) as usize)
}

/// State shared by the device callbacks and this output's thread.
struct DeviceState {
    stats: Arc<OutputStats>,
    stop: Arc<AtomicBool>,
    /// Callbacks so far: each one means the device has played out a period.
    callbacks: AtomicU64,
    /// The number of the first callback that found the ring empty after
    /// the stop (`u64::MAX` until then): the end of the programme.
    emptied_after_stop: AtomicU64,
    /// The stream reported an error it does not recover from by itself.
    broken: AtomicBool,
    xruns: AtomicU64,
    errors: mpsc::SyncSender<cpal::Error>,
    /// Wakes this output's thread: a report, or the ring handed back.
    thread_bell: Bell,
}

impl DeviceState {
    fn report(&self, error: cpal::Error) {
        match error.kind() {
            cpal::ErrorKind::Xrun => {
                self.xruns.fetch_add(1, Ordering::Relaxed);
                self.thread_bell.ring();
                return;
            }
            cpal::ErrorKind::RealtimeDenied => {}
            _ => self.broken.store(true, Ordering::Release),
        }
        let _ = self.errors.try_send(error);
        self.thread_bell.ring();
    }
}

/// The device callback's state: the consumer end of the ring. When a stream
/// ends (or fails to start), this is dropped and hands the ring back to the
/// output's thread, which drains it until the device is back.
struct DeviceCallback {
    ring: Option<rtrb::Consumer<f32>>,
    back: mpsc::Sender<rtrb::Consumer<f32>>,
    state: Arc<DeviceState>,
    /// Audio has arrived: silence before the engine's first block is not an underrun.
    primed: bool,
}

/// The largest f32 below 1.0: full scale for every integer format without overflow.
const JUST_BELOW_ONE: f32 = 1.0 - f32::EPSILON / 2.0;

impl DeviceCallback {
    fn fill<T: SizedSample + FromSample<f32>>(&mut self, out: &mut [T]) {
        // A stream that reported a failure may still be called, as fast as a
        // broken device lets it; the programme stays in the ring for the
        // output's thread to drain at the device's pace instead.
        let Some(ring) = self
            .ring
            .as_mut()
            .filter(|_| !self.state.broken.load(Ordering::Relaxed))
        else {
            out.fill(T::EQUILIBRIUM);
            // What the listener hears from this device meanwhile is silence.
            if self.primed && !self.state.stop.load(Ordering::Relaxed) {
                self.state
                    .stats
                    .frames_underrun
                    .fetch_add((out.len() / CHANNELS) as u64, Ordering::Relaxed);
            }
            return;
        };
        // Read before the ring: everything the mixer pushed before the stop
        // is then in the ring. Read after it, a stop that came between
        // would pass for the end of the programme a ring that was only
        // late, and its silence would go uncounted.
        let stopping = self.state.stop.load(Ordering::Acquire);
        let wanted = out.len() / CHANNELS * CHANNELS;
        let n = (ring.slots() / CHANNELS * CHANNELS).min(wanted);
        let mut played = 0;
        if n > 0
            && let Ok(chunk) = ring.read_chunk(n)
        {
            let (first, second) = chunk.as_slices();
            for (o, &s) in out.iter_mut().zip(first.iter().chain(second)) {
                *o = T::from_sample(s.clamp(-1.0, JUST_BELOW_ONE));
            }
            chunk.commit_all();
            played = n;
        }
        out[played..].fill(T::EQUILIBRIUM);
        let stats = &self.state.stats;
        stats
            .frames_out
            .fetch_add((played / CHANNELS) as u64, Ordering::Relaxed);
        // Silence after the first programme in a period is already an
        // underrun: the listener hears the gap.
        self.primed |= played > 0;
        if played < wanted && self.primed && !stopping {
            stats
                .frames_underrun
                .fetch_add(((wanted - played) / CHANNELS) as u64, Ordering::Relaxed);
        }
        let left = ring.slots();
        let callback = self.state.callbacks.fetch_add(1, Ordering::Release) + 1;
        if stopping && left == 0 {
            self.state
                .emptied_after_stop
                .fetch_min(callback, Ordering::Release);
        }
        // The mixer sleeps until a burst's worth of room has opened.
        stats
            .bells
            .mixer
            .ring_if_crossed(ring.buffer().capacity() - left, played);
    }
}

impl Drop for DeviceCallback {
    fn drop(&mut self) {
        if let Some(ring) = self.ring.take() {
            let _ = self.back.send(ring);
            self.state.thread_bell.ring();
        }
    }
}

fn build(
    device: &cpal::Device,
    setup: &DeviceSetup,
    callback: DeviceCallback,
) -> Result<cpal::Stream, cpal::Error> {
    match setup.format {
        SampleFormat::F32 => build_typed::<f32>(device, setup, callback),
        SampleFormat::F64 => build_typed::<f64>(device, setup, callback),
        SampleFormat::I32 => build_typed::<i32>(device, setup, callback),
        SampleFormat::I24 => build_typed::<cpal::I24>(device, setup, callback),
        SampleFormat::I16 => build_typed::<i16>(device, setup, callback),
        SampleFormat::U32 => build_typed::<u32>(device, setup, callback),
        SampleFormat::U24 => build_typed::<cpal::U24>(device, setup, callback),
        SampleFormat::U16 => build_typed::<u16>(device, setup, callback),
        SampleFormat::I8 => build_typed::<i8>(device, setup, callback),
        SampleFormat::U8 => build_typed::<u8>(device, setup, callback),
        other => Err(cpal::Error::with_message(
            cpal::ErrorKind::UnsupportedConfig,
            format!("sample format {other} is not one onair produces"),
        )),
    }
}

fn build_typed<T: SizedSample + FromSample<f32>>(
    device: &cpal::Device,
    setup: &DeviceSetup,
    mut callback: DeviceCallback,
) -> Result<cpal::Stream, cpal::Error> {
    let state = callback.state.clone();
    let stream = device.build_output_stream::<T, _, _>(
        setup.config,
        move |data: &mut [T], _: &cpal::OutputCallbackInfo| callback.fill(data),
        move |error| state.report(error),
        None,
    )?;
    stream.play()?;
    Ok(stream)
}

/// Opens the device and starts the thread that looks after it. Returns the
/// mixer's end of the ring and the thread.
pub(super) fn start(
    name: &str,
    device_name: &str,
    ctx: &OutputContext,
    stats: Arc<OutputStats>,
    stop: Arc<AtomicBool>,
) -> Result<StartedOutput, OutputError> {
    let open_error = |message: String| OutputError::Open {
        name: name.to_string(),
        message,
    };
    let host = host().map_err(open_error)?;
    let device = find_device(&host, device_name).map_err(open_error)?;
    let ranges: Vec<SupportedStreamConfigRange> = device
        .supported_output_configs()
        .map_err(|e| {
            open_error(format!(
                "cannot open ALSA device {device_name:?} to see what it plays: {e}; \
                 check that it is connected and not in use by another program"
            ))
        })?
        .collect();
    let setup = choose(&ranges, ctx.rate)
        .map_err(|m| open_error(format!("ALSA device {device_name:?} {m}")))?;

    let (errors, error_rx) = mpsc::sync_channel(16);
    let state = Arc::new(DeviceState {
        stats,
        stop,
        callbacks: AtomicU64::new(0),
        emptied_after_stop: AtomicU64::new(u64::MAX),
        broken: AtomicBool::new(false),
        xruns: AtomicU64::new(0),
        errors,
        thread_bell: Bell::default(),
    });
    // The callback rings the mixer when room opens: the mixer sleeps on it.
    state.stats.bells.will_ring_mixer();
    let requested = match setup.config.buffer_size {
        BufferSize::Fixed(frames) => Some(frames),
        BufferSize::Default => None,
    };
    let mut frames = ring_frames(ctx.rate, requested);
    let (producer, stream, back_rx, back) = loop {
        let (producer, consumer) = rtrb::RingBuffer::new(frames * CHANNELS);
        let (back, back_rx) = mpsc::channel();
        let callback = DeviceCallback {
            ring: Some(consumer),
            back: back.clone(),
            state: state.clone(),
            primed: false,
        };
        let stream = build(&device, &setup, callback).map_err(|e| {
            open_error(format!(
                "cannot play on ALSA device {device_name:?}: {e}; check that it is connected \
                 and not in use by another program"
            ))
        })?;
        // The device may have rounded the period up; a ring shorter than a
        // few periods would underrun on every callback.
        let needed = ring_frames(ctx.rate, stream.buffer_size().ok());
        if needed <= frames {
            break (producer, stream, back_rx, back);
        }
        drop(stream);
        frames = needed;
    };
    let period = stream.buffer_size().ok();
    tracing::info!(
        "output {name}: ALSA device {device_name:?} plays {} Hz {} with {} frame periods, \
         {} frame ring",
        ctx.rate,
        setup.format,
        period.map_or("default".to_string(), |p| p.to_string()),
        frames
    );
    let device_thread = DeviceThread {
        name: name.to_string(),
        device,
        setup,
        state,
        error_rx,
        back,
        back_rx,
        rate: ctx.rate,
        latency: Duration::from_secs_f64(
            (frames as f64 + 2.0 * period.unwrap_or(0) as f64) / ctx.rate as f64,
        ),
        failures: ErrorLog::default(),
        device_errors: ErrorLog::default(),
        xrun_reports: ErrorLog::default(),
    };
    let thread = std::thread::Builder::new()
        .name(format!("output {name}"))
        .spawn(move || device_thread.run(stream))
        .map_err(|e| {
            open_error(format!(
                "cannot start its thread: {e}; the system is out of resources"
            ))
        })?;
    Ok((producer, thread))
}

/// Looks after one device: logs its errors, reopens it when it fails, and
/// stops it at shutdown once the ring has played out.
struct DeviceThread {
    name: String,
    device: cpal::Device,
    setup: DeviceSetup,
    state: Arc<DeviceState>,
    error_rx: mpsc::Receiver<cpal::Error>,
    back: mpsc::Sender<rtrb::Consumer<f32>>,
    back_rx: mpsc::Receiver<rtrb::Consumer<f32>>,
    rate: u32,
    /// Ring plus device buffer, in time: how long the last audio takes to be heard.
    latency: Duration,
    /// The device stopping or failing to reopen.
    failures: ErrorLog,
    /// What the device reports while it plays (each kind of report has its own log).
    device_errors: ErrorLog,
    xrun_reports: ErrorLog,
}

enum State {
    Playing(cpal::Stream),
    Down {
        ring: rtrb::Consumer<f32>,
        drain: PacedDrain,
        reopen_at: Instant,
    },
}

impl DeviceThread {
    fn run(mut self, stream: cpal::Stream) -> Result<(), OutputError> {
        self.state.thread_bell.answer(1);
        let mut state = State::Playing(stream);
        let mut xruns_seen = 0;
        loop {
            let stopping = self.state.stop.load(Ordering::Acquire);
            self.log_errors(&mut xruns_seen);
            state = match state {
                State::Playing(stream) => {
                    if stopping {
                        self.play_out();
                        drop(stream);
                        // What went wrong while the last of it played counts too.
                        self.log_errors(&mut xruns_seen);
                        return Ok(());
                    }
                    // A callback thread that ended hands the ring back on its own.
                    let returned = self.back_rx.try_recv().ok();
                    if returned.is_none() && !self.state.broken.load(Ordering::Acquire) {
                        // Rung by a report, the ring coming back, or stop.
                        Bell::wait(pacing::SAFETY_NAP);
                        State::Playing(stream)
                    } else {
                        drop(stream);
                        let ring = match returned {
                            Some(ring) => ring,
                            None => self.take_back()?,
                        };
                        self.state.stats.errors.fetch_add(1, Ordering::Relaxed);
                        self.failures.report(&format!(
                            "output {}: the ALSA device stopped; the programme is not heard \
                             there until it can be reopened",
                            self.name
                        ));
                        let now = Instant::now();
                        State::Down {
                            ring,
                            drain: PacedDrain::new(now),
                            reopen_at: now + REOPEN_AFTER,
                        }
                    }
                }
                State::Down {
                    mut ring,
                    mut drain,
                    reopen_at,
                } => {
                    if stopping {
                        // Nothing can play what is left; it is taken, and counted, all the same.
                        let left = ring.slots() / CHANNELS;
                        if let Ok(chunk) = ring.read_chunk(left * CHANNELS) {
                            chunk.commit_all();
                        }
                        self.state
                            .stats
                            .frames_out
                            .fetch_add(left as u64, Ordering::Relaxed);
                        return Ok(());
                    }
                    let now = Instant::now();
                    let taken = drain.take(&mut ring, now, self.rate);
                    // The mixer waits for room as it would for the card.
                    self.state.stats.bells.mixer.ring_if_crossed(
                        ring.buffer().capacity() - ring.slots(),
                        taken as usize * CHANNELS,
                    );
                    self.state
                        .stats
                        .frames_out
                        .fetch_add(taken, Ordering::Relaxed);
                    if now < reopen_at {
                        std::thread::sleep(Duration::from_millis(10));
                        State::Down {
                            ring,
                            drain,
                            reopen_at,
                        }
                    } else {
                        self.reopen(ring)?
                    }
                }
            };
        }
    }

    fn reopen(&mut self, ring: rtrb::Consumer<f32>) -> Result<State, OutputError> {
        self.state.broken.store(false, Ordering::Release);
        while self.error_rx.try_recv().is_ok() {}
        let callback = DeviceCallback {
            ring: Some(ring),
            back: self.back.clone(),
            state: self.state.clone(),
            primed: true,
        };
        match build(&self.device, &self.setup, callback) {
            Ok(stream) => {
                tracing::info!("output {}: the ALSA device plays again", self.name);
                Ok(State::Playing(stream))
            }
            Err(e) => {
                let ring = self.take_back()?;
                self.state.stats.errors.fetch_add(1, Ordering::Relaxed);
                self.failures.report(&format!(
                    "output {}: cannot reopen the ALSA device: {e}; trying again every {} s",
                    self.name,
                    REOPEN_AFTER.as_secs()
                ));
                let now = Instant::now();
                Ok(State::Down {
                    ring,
                    drain: PacedDrain::new(now),
                    reopen_at: now + REOPEN_AFTER,
                })
            }
        }
    }

    /// The ring comes back once the stream's callback is gone (its `DeviceCallback`
    /// is dropped). Without it the mixer would wait for ever, so losing it
    /// is the end of this output.
    fn take_back(&self) -> Result<rtrb::Consumer<f32>, OutputError> {
        let wait = self.latency + Duration::from_secs(5);
        self.back_rx
            .recv_timeout(wait)
            .map_err(|_| OutputError::Open {
                name: self.name.clone(),
                message: "the ALSA stream ended without returning its ring \
                      (please report this as a bug)"
                    .to_string(),
            })
    }

    /// Waits until a callback after the stop found the ring empty and the
    /// device has played its buffer out: a few more callbacks, each asking
    /// for a period the device has finished with. Stopping the stream
    /// earlier would discard the end of the programme still in the ring or
    /// the device's buffer. (A ring found empty before the stop says
    /// nothing: the mixer's last blocks may have come after it.)
    fn play_out(&self) {
        let deadline = Instant::now() + self.latency + Duration::from_secs(1);
        while Instant::now() < deadline && !self.state.broken.load(Ordering::Acquire) {
            let emptied = self.state.emptied_after_stop.load(Ordering::Acquire);
            let callbacks = self.state.callbacks.load(Ordering::Acquire);
            if emptied != u64::MAX && callbacks >= emptied + PLAYED_OUT_AFTER {
                return;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    fn log_errors(&mut self, xruns_seen: &mut u64) {
        while let Ok(error) = self.error_rx.try_recv() {
            if error.kind() == cpal::ErrorKind::RealtimeDenied {
                tracing::warn!("output {}: {error}", self.name);
                continue;
            }
            self.state.stats.errors.fetch_add(1, Ordering::Relaxed);
            self.device_errors
                .report(&format!("output {}: ALSA device error: {error}", self.name));
        }
        let xruns = self.state.xruns.load(Ordering::Relaxed);
        if xruns > *xruns_seen {
            let stats = &self.state.stats;
            stats
                .errors
                .fetch_add(xruns - *xruns_seen, Ordering::Relaxed);
            stats
                .device_ran_dry
                .fetch_add(xruns - *xruns_seen, Ordering::Relaxed);
            self.xrun_reports.report(&format!(
                "output {}: the ALSA device ran dry {} time(s) (the audio thread was late)",
                self.name,
                xruns - *xruns_seen
            ));
            *xruns_seen = xruns;
        }
    }
}

/// Drains a ring at a device's pace while the device is away, so the engine,
/// which waits on this ring, keeps station time.
struct PacedDrain {
    since: Instant,
    taken: u64,
}

impl PacedDrain {
    fn new(now: Instant) -> Self {
        Self {
            since: now,
            taken: 0,
        }
    }

    /// Takes what a device would have played by `now`; returns the frames taken.
    fn take(&mut self, ring: &mut rtrb::Consumer<f32>, now: Instant, rate: u32) -> u64 {
        let due = (now.duration_since(self.since).as_nanos() * rate as u128 / 1_000_000_000) as u64;
        let wanted = due.saturating_sub(self.taken);
        let available = (ring.slots() / CHANNELS) as u64;
        let frames = wanted.min(available);
        if let Ok(chunk) = ring.read_chunk(frames as usize * CHANNELS) {
            chunk.commit_all();
        }
        // Like a device, a drain that found the ring short does not catch up later.
        self.taken = if available < wanted {
            due
        } else {
            self.taken + frames
        };
        frames
    }
}

#[cfg(test)]
mod tests;
