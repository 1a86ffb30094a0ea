//! The engine as the director holds it: starting the mixer thread, the
//! command and event rings, the event bell, stopping.

use std::collections::VecDeque;
use std::os::fd::{AsFd, BorrowedFd, FromRawFd, OwnedFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use chrono::TimeDelta;

use super::super::live::LiveFeed;
use super::super::meters::Meters;
use super::super::silence::SilenceWatch;
use super::super::{Command, Event};
use super::{COMMAND_CAPACITY, CUT_FADE_MS, EVENT_CAPACITY, LiveBus, Mixer, PENDING_EVENTS};
use crate::clock::{Clock, Timeline};
use crate::output::{CHANNELS, Tap};
use crate::pacing;

/// Block sizes the engine accepts (frames).
const BLOCK_RANGE: std::ops::RangeInclusive<usize> = 16..=16_384;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(
        "the engine block of {0} frames is out of range; use {min} to {max} frames (1024 is usual)",
        min = BLOCK_RANGE.start(),
        max = BLOCK_RANGE.end()
    )]
    Block(usize),
    #[error("the engine rate is 0 Hz; set the audio sample rate (e.g. 48000)")]
    Rate,
    #[error("the master output is number {index}, but only {count} outputs are configured")]
    NoSuchMaster { index: usize, count: usize },
    #[error(
        "output {name} buffers {have} frames, less than one engine block of {block}; give it room for at least two blocks"
    )]
    TapTooSmall {
        name: String,
        have: usize,
        block: usize,
    },
    #[error("cannot start the mixer thread: {0}; the box is short of memory or threads")]
    Thread(std::io::Error),
    #[error(
        "cannot create the engine's event bell (an eventfd): {0}; the box is short of file descriptors"
    )]
    EventBell(std::io::Error),
}

#[derive(Debug, Clone)]
pub struct EngineSettings {
    pub timeline: Timeline,
    pub clock: Clock,
    /// Frames per block: the engine's granularity of pacing and metering
    /// (starts and ends are still exact to the frame).
    pub block_frames: usize,
    /// How far ahead of the station clock the engine runs when the clock
    /// paces it: the outputs' buffering, so that what is heard is on time.
    pub lead: TimeDelta,
    /// RMS level (dBFS) below which the programme output and the live
    /// input count as quiet.
    pub silence_db: f32,
}

/// The running engine, as the director holds it.
pub struct Engine {
    pub commands: rtrb::Producer<Command>,
    pub events: rtrb::Consumer<Event>,
    pub meters: Arc<Meters>,
    pub timeline: Timeline,
    event_bell: Arc<OwnedFd>,
    stop: Arc<AtomicBool>,
    stalled: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Engine {
    /// Becomes readable when the mixer has pushed events to
    /// [`Engine::events`] (an eventfd, non-blocking): the director waits on
    /// it with tokio's `AsyncFd` instead of polling the ring on a timer,
    /// then reads it (8 bytes) to rearm it and drains the ring.
    pub fn event_bell(&self) -> BorrowedFd<'_> {
        self.event_bell.as_fd()
    }

    /// For tests of what watches the engine (the systemd watchdog): while
    /// the switch is on, the mixer makes no blocks and its frame counter
    /// stands still, as if it were stuck; off again, it goes on (late: it
    /// catches up like a mixer that was starved of CPU).
    pub fn stall_switch(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.stalled)
    }

    /// Stops the mixer thread and waits for it.
    pub fn shutdown(mut self) {
        self.stop_thread();
    }

    pub(in crate::engine) fn stop_thread(&mut self) {
        self.stop.store(true, Ordering::Release);
        let _ = self.commands.push(Command::Shutdown);
        if let Some(thread) = self.thread.take() {
            thread.thread().unpark();
            let _ = thread.join();
        }
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.stop_thread();
    }
}

/// Starts the mixer thread. With `master = Some(i)`, tap `i` is a device
/// that drains its ring on its own clock and paces the engine; otherwise
/// the station clock does.
pub fn start(
    settings: EngineSettings,
    taps: Vec<Tap>,
    master: Option<usize>,
) -> Result<Engine, EngineError> {
    start_with_live(settings, taps, master, None)
}

/// [`start`], with the studio's live input behind the live fader.
pub fn start_with_live(
    settings: EngineSettings,
    taps: Vec<Tap>,
    master: Option<usize>,
    live: Option<LiveFeed>,
) -> Result<Engine, EngineError> {
    let block = settings.block_frames;
    if !BLOCK_RANGE.contains(&block) {
        return Err(EngineError::Block(block));
    }
    if settings.timeline.rate == 0 {
        return Err(EngineError::Rate);
    }
    if let Some(index) = master
        && index >= taps.len()
    {
        return Err(EngineError::NoSuchMaster {
            index,
            count: taps.len(),
        });
    }
    if let Some(tap) = taps
        .iter()
        .find(|t| t.ring.buffer().capacity() < block * CHANNELS)
    {
        return Err(EngineError::TapTooSmall {
            name: tap.name.clone(),
            have: tap.ring.buffer().capacity() / CHANNELS,
            block,
        });
    }
    let (commands, command_ring) = rtrb::RingBuffer::new(COMMAND_CAPACITY);
    let (event_ring, events) = rtrb::RingBuffer::new(EVENT_CAPACITY);
    let meters = Arc::new(Meters::new());
    let stop = Arc::new(AtomicBool::new(false));
    let stalled = Arc::new(AtomicBool::new(false));
    let event_bell = Arc::new(event_fd().map_err(EngineError::EventBell)?);
    let burst = pacing::burst_blocks(block, settings.timeline.rate);
    let rate = settings.timeline.rate;
    let live = live.map(|feed| {
        LiveBus::new(
            feed,
            block,
            burst * block,
            SilenceWatch::new(settings.silence_db, rate),
        )
    });
    let mixer = Mixer {
        timeline: settings.timeline,
        clock: settings.clock,
        lead: settings.lead,
        block,
        taps,
        master,
        commands: command_ring,
        events: event_ring,
        pending: VecDeque::with_capacity(PENDING_EVENTS),
        meters: Arc::clone(&meters),
        event_bell: Arc::clone(&event_bell),
        stop: Arc::clone(&stop),
        stalled: Arc::clone(&stalled),
        burst,
        burst_left: 0,
        burst_span: crate::clock::samples_to_delta((burst * block) as i64, settings.timeline.rate),
        slots: std::array::from_fn(|_| None),
        standby: None,
        live,
        programme_watch: SilenceWatch::new(settings.silence_db, rate),
        mix: vec![0.0; block * CHANNELS],
        position: 0,
        silent_since: Some(0),
        last_end: 0,
        cut_fade: (settings.timeline.rate * CUT_FADE_MS / 1000).max(1),
        next_seq: 1,
    };
    let real_time = master.is_some();
    let thread = std::thread::Builder::new()
        .name("onair-mixer".into())
        .spawn(move || {
            if real_time {
                ask_for_real_time();
            }
            mixer.run()
        })
        .map_err(EngineError::Thread)?;
    Ok(Engine {
        commands,
        events,
        meters,
        timeline: settings.timeline,
        event_bell,
        stop,
        stalled,
        thread: Some(thread),
    })
}

/// A non-blocking eventfd: a write is one syscall, no lock, no allocation.
fn event_fd() -> std::io::Result<OwnedFd> {
    // SAFETY: eventfd takes no pointers; a non-negative result is a new
    // descriptor that nothing else owns.
    let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `fd` was just created and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// A sound card waits for no one: when a device paces the engine, the mixer
/// asks for real-time scheduling (granted to root, or through systemd's
/// `LimitRTPRIO`). Never with the clock pacing it: at a simulated speed it
/// may run flat out, and a real-time thread doing that would starve the box.
fn ask_for_real_time() {
    let param = libc::sched_param { sched_priority: 40 };
    // SAFETY: pthread_self() names the calling thread, which is alive; the
    // parameter block lives across the call.
    let result =
        unsafe { libc::pthread_setschedparam(libc::pthread_self(), libc::SCHED_FIFO, &param) };
    if result == 0 {
        tracing::info!("mixer runs with real-time priority");
    } else {
        tracing::warn!(
            "mixer runs without real-time priority ({}): grant it with LimitRTPRIO in the service unit",
            std::io::Error::from_raw_os_error(result)
        );
    }
}
