//! The studio's live input: an ALSA capture device, opened through cpal on
//! a thread of its own, whose callback pushes into a lock-free ring that
//! the mixer pulls from (`mixer::live_bus`). The mixer never waits for it:
//! an empty ring is silence and a counted underrun, never a stall.
//!
//! The capture card runs on its own crystal, not the playback card's, so
//! the ring slowly fills or drains. The mixer keeps it level by reading one
//! frame more or less per 10 ms block and stretching what it read over the
//! block by linear interpolation: at most 0.2 % of speed for one block,
//! far below hearing, with no click, where crystals differ by 0.01 %.
//!
//! The input is metered and watched for silence while automation is on
//! air too, so the studio sees its level before taking over.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::Duration;

use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};
use cpal::{BufferSize, SampleFormat, StreamConfig};

use super::silence::QuietRuns;
use crate::output::CHANNELS;

/// The capture period asked of the device: the capture thread wakes once
/// a period, and the wake-up is nearly all it costs (about 70 µs each on
/// a 2-core x86-64 machine through alsa-lib's `file` plugin: 25 CPU s/h
/// at 10 ms, 14 at 20, 7 at 40). cpal keeps two periods in the device's
/// buffer, so a long period is also room for the thread to be late (a busy
/// SD card, a loaded Pi) before the card overruns: 40 ms instead of 10. It
/// adds latency the studio does not hear (its monitoring is the desk's):
/// a period, and three more kept in the ring (`mixer::live_bus`).
pub const PERIOD_MS: u32 = 40;
/// The ring: room for half a second, several times what the mixer keeps.
const RING_MS: u32 = 500;
/// How long opening the device may take before it counts as failed.
const OPEN_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    #[error(
        "the live input {device:?} cannot be opened: {message}; check live.device against `arecord -L`"
    )]
    Open { device: String, message: String },
}

/// What everyone may read about the live input, written by the capture
/// callback and the mixer without locks (the failure text excepted, which
/// is written once, off the audio path).
#[derive(Debug, Default)]
pub struct LiveHealth {
    /// Frames the device has delivered.
    pub frames_in: AtomicU64,
    /// Frames lost because the ring was full (the mixer fell behind).
    pub overruns: AtomicU64,
    /// Frames the mixer wanted and the ring did not have.
    pub underruns: AtomicU64,
    peak_left: AtomicU32,
    peak_right: AtomicU32,
    failed: AtomicBool,
    failure: Mutex<Option<String>>,
    /// Quiet and sound on the input, before its fader.
    pub runs: QuietRuns,
}

impl LiveHealth {
    /// Why the device stopped delivering, once it has.
    pub fn failure(&self) -> Option<String> {
        if !self.failed.load(Ordering::Acquire) {
            return None;
        }
        self.failure.lock().map(|f| f.clone()).unwrap_or(None)
    }

    fn fail(&self, why: String) {
        if let Ok(mut failure) = self.failure.lock() {
            failure.get_or_insert(why);
        }
        self.failed.store(true, Ordering::Release);
    }

    /// Why the device cannot be used (`None`: it is open and delivering).
    fn set_failure(&self, why: Option<String>) {
        let failed = why.is_some();
        if let Ok(mut failure) = self.failure.lock() {
            *failure = why;
        }
        self.failed.store(failed, Ordering::Release);
    }

    /// Peak level of the input's last block, 0.0 to 1.0.
    pub fn peak(&self) -> (f32, f32) {
        (
            f32::from_bits(self.peak_left.load(Ordering::Relaxed)),
            f32::from_bits(self.peak_right.load(Ordering::Relaxed)),
        )
    }

    pub(crate) fn set_peak(&self, left: f32, right: f32) {
        self.peak_left.store(left.to_bits(), Ordering::Relaxed);
        self.peak_right.store(right.to_bits(), Ordering::Relaxed);
    }
}

/// The mixer's end of the input.
pub struct LiveFeed {
    pub(crate) ring: rtrb::Consumer<f32>,
    pub(crate) health: Arc<LiveHealth>,
    /// Frames the capture delivers per callback (the device's period).
    pub(crate) period: usize,
}

/// The studio's input for the life of the box: the ring the mixer reads,
/// its health, and, while the device is open, the capture filling the ring.
/// The ring outlives each capture, so the device can be opened again (a
/// USB interface plugged in late, or back after it failed) without
/// touching the engine: hand [`LiveInput::feed`] to the engine once, then
/// [`LiveInput::open`] as often as needed.
pub struct LiveInput {
    pub device: String,
    pub health: Arc<LiveHealth>,
    rate: u32,
    /// The ring's writing end, lent to each capture in turn.
    ring: Arc<Mutex<rtrb::Producer<f32>>>,
    feed: Option<LiveFeed>,
    capture: Option<Capture>,
}

impl LiveInput {
    /// The input from capture device `device` (an ALSA name, as `arecord
    /// -L` lists it, or `default`) at `rate` Hz, stereo; not open yet.
    pub fn new(device: &str, rate: u32) -> LiveInput {
        let ring_frames = (rate * RING_MS / 1000) as usize;
        let (producer, consumer) = rtrb::RingBuffer::new(ring_frames * CHANNELS);
        let health = Arc::new(LiveHealth::default());
        health.set_failure(Some("the device has not been opened yet".into()));
        LiveInput {
            device: device.to_string(),
            rate,
            ring: Arc::new(Mutex::new(producer)),
            feed: Some(LiveFeed {
                ring: consumer,
                health: Arc::clone(&health),
                period: (rate * PERIOD_MS / 1000) as usize,
            }),
            health,
            capture: None,
        }
    }

    /// Opens the device, letting go of any earlier capture first. Until it
    /// opens, and after it fails, [`LiveHealth::failure`] says why.
    pub fn open(&mut self) -> Result<(), LiveError> {
        self.capture = None;
        match Capture::start(
            &self.device,
            self.rate,
            Arc::clone(&self.ring),
            Arc::clone(&self.health),
        ) {
            Ok(capture) => {
                self.capture = Some(capture);
                self.health.set_failure(None);
                Ok(())
            }
            Err(message) => {
                let e = LiveError::Open {
                    device: self.device.clone(),
                    message,
                };
                self.health.set_failure(Some(e.to_string()));
                Err(e)
            }
        }
    }

    /// The mixer's end; `None` once taken.
    pub fn feed(&mut self) -> Option<LiveFeed> {
        self.feed.take()
    }
}

/// The open device: cpal's stream stays on the thread that made it, which
/// holds it until stopped.
struct Capture {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Capture {
    fn start(
        device: &str,
        rate: u32,
        ring: Arc<Mutex<rtrb::Producer<f32>>>,
        health: Arc<LiveHealth>,
    ) -> Result<Capture, String> {
        let stop = Arc::new(AtomicBool::new(false));
        let (opened_tx, opened) = mpsc::sync_channel(1);
        let name = device.to_string();
        let s = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("onair-live".into())
            .spawn(move || {
                let stream = match open_stream(&name, rate, ring, health) {
                    Ok(stream) => stream,
                    Err(message) => {
                        let _ = opened_tx.send(Err(message));
                        return;
                    }
                };
                // An open that outlasted OPEN_TIMEOUT has been given up:
                // nobody holds this input, so the device is let go rather
                // than recorded from by a thread nobody will stop.
                if opened_tx.send(Ok(())).is_err() {
                    return;
                }
                while !s.load(Ordering::Acquire) {
                    std::thread::park();
                }
                drop(stream);
            })
            .map_err(|e| format!("cannot start its thread: {e}"))?;
        match opened.recv_timeout(OPEN_TIMEOUT) {
            Ok(Ok(())) => Ok(Capture {
                stop,
                thread: Some(thread),
            }),
            Ok(Err(message)) => Err(message),
            // The thread is left to finish its open and let the device go.
            Err(_) => Err("the device did not open within 5 s".into()),
        }
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            thread.thread().unpark();
            let _ = thread.join();
        }
    }
}

fn open_stream(
    name: &str,
    rate: u32,
    ring: Arc<Mutex<rtrb::Producer<f32>>>,
    health: Arc<LiveHealth>,
) -> Result<cpal::Stream, String> {
    let host = cpal::host_from_id(cpal::HostId::Alsa)
        .map_err(|e| format!("ALSA is not available: {e}"))?;
    let device = find_device(&host, name)?;
    let formats: Vec<SampleFormat> = device
        .supported_input_configs()
        .map_err(|e| format!("it does not say what it can record: {e}"))?
        .filter(|c| c.channels() as usize == CHANNELS)
        .filter(|c| c.min_sample_rate() <= rate && rate <= c.max_sample_rate())
        .map(|c| c.sample_format())
        .collect();
    let config = StreamConfig {
        channels: CHANNELS as u16,
        sample_rate: rate,
        buffer_size: BufferSize::Fixed(rate * PERIOD_MS / 1000),
    };
    let errors = Arc::clone(&health);
    let on_error = move |e: cpal::Error| errors.fail(format!("the device failed: {e}"));
    let stream = if formats.contains(&SampleFormat::F32) {
        device.build_input_stream(
            config,
            move |data: &[f32], _: &cpal::InputCallbackInfo| {
                let pushed = push(&ring, data.iter().copied());
                account(&health, data.len(), pushed);
            },
            on_error,
            None,
        )
    } else if formats.contains(&SampleFormat::I16) {
        device.build_input_stream(
            config,
            move |data: &[i16], _: &cpal::InputCallbackInfo| {
                let samples = data.iter().map(|&s| f32::from(s) / 32768.0);
                let pushed = push(&ring, samples);
                account(&health, data.len(), pushed);
            },
            on_error,
            None,
        )
    } else {
        return Err(format!(
            "it cannot record stereo at {rate} Hz as 32-bit float or 16-bit samples \
             (put a `plug` device in front of it)"
        ));
    }
    .map_err(|e| format!("it refused to record stereo at {rate} Hz: {e}"))?;
    stream
        .play()
        .map_err(|e| format!("it would not start recording: {e}"))?;
    Ok(stream)
}

/// Pushes what fits, whole frames only; returns the samples pushed. The
/// ring's lock is only ever contended by a capture given up while it was
/// opening (see `Capture::start`): its data is dropped rather than waited
/// for.
fn push(ring: &Mutex<rtrb::Producer<f32>>, samples: impl ExactSizeIterator<Item = f32>) -> usize {
    let Ok(mut ring) = ring.try_lock() else {
        return 0;
    };
    let room = ring.slots() / CHANNELS * CHANNELS;
    let n = samples.len().min(room);
    if let Ok(chunk) = ring.write_chunk_uninit(n) {
        chunk.fill_from_iter(samples)
    } else {
        0
    }
}

fn account(health: &LiveHealth, samples: usize, pushed: usize) {
    health
        .frames_in
        .fetch_add((samples / CHANNELS) as u64, Ordering::Relaxed);
    if pushed < samples {
        health
            .overruns
            .fetch_add(((samples - pushed) / CHANNELS) as u64, Ordering::Relaxed);
    }
}

fn find_device(host: &cpal::Host, wanted: &str) -> Result<cpal::Device, String> {
    if wanted == "default" {
        return host
            .default_input_device()
            .ok_or_else(|| "ALSA has no default capture device".to_string());
    }
    let devices: Vec<cpal::Device> = host
        .input_devices()
        .map_err(|e| format!("cannot list the ALSA capture devices: {e}"))?
        .collect();
    let found = devices
        .iter()
        .find(|d| d.id().is_ok_and(|id| id.id() == wanted))
        .or_else(|| {
            devices
                .iter()
                .find(|d| d.description().is_ok_and(|desc| desc.name() == wanted))
        });
    if let Some(device) = found {
        return Ok(device.clone());
    }
    host.device_by_id(&cpal::DeviceId::new(cpal::HostId::Alsa, wanted))
        .ok_or_else(|| "no capture device has that name".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_capture_device_that_does_not_exist_is_refused_with_its_name_and_the_fix() {
        let mut input = LiveInput::new("no-such-studio-input", 48_000);
        assert!(input.health.failure().is_some(), "not opened yet");
        assert!(input.feed().is_some());
        for _ in 0..2 {
            let Err(e) = input.open() else {
                panic!("a device that does not exist opened");
            };
            let text = e.to_string();
            assert!(text.contains("no-such-studio-input"), "{text}");
            assert!(text.contains("arecord -L"), "{text}");
            assert_eq!(input.health.failure(), Some(text), "the health says why");
        }
    }
}
