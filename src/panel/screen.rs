//! The screen task: on its own thread, renders the latest status at the
//! station's time, publishes the frame (the web serves the latest as
//! `/panel.png`) and flushes it to the OLED when one is configured.
//!
//! It renders [`FRAMES_PER_SECOND`] times a second while someone can see
//! it: a display is attached, or a page mirrors it (a [`Watching`] is
//! held; `/panel.png` holds one until it has a fresh frame). Otherwise it
//! sleeps: rendering costs a Pi's CPU whether or not anyone looks, and a
//! box without a display would draw a clock nobody reads.
//!
//! The display is never worth dead air: a bus that is missing, a module
//! that does not answer or stops answering is a warning, tried again every
//! [`RETRY`], and playout and the published frames go on regardless. At
//! stop the display is cleared and turned off.
//!
//! What rendering and flushing cost on the box is logged at debug level
//! (`RUST_LOG=onair::panel=debug`) once a minute.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::{JoinHandle, Thread};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use embedded_hal::i2c::I2c;
use tokio::sync::watch;
use tracing::{debug, info, warn};

use super::frame::Frame;
use super::oled::{self, Controller, Oled, OledError};
use super::render::{FRAMES_PER_SECOND, render};
use crate::clock::Clock;
pub use crate::config::{DisplayConfig, DisplayKind};
use crate::status::Status;

/// How long after a failure the display is tried again.
pub const RETRY: Duration = Duration::from_secs(10);

/// The longest the screen sleeps while nobody sees it: only a safety net,
/// since a viewer or a stop wakes it at once.
pub const UNSEEN_NAP: Duration = Duration::from_secs(60);

/// How often the cost of rendering and flushing is logged (debug level).
const COST_EVERY: Duration = Duration::from_secs(60);

/// The controller the configured display has, if any.
fn controller(kind: DisplayKind) -> Option<Controller> {
    match kind {
        DisplayKind::Ssd1306 => Some(Controller::Ssd1306),
        DisplayKind::Sh1106 => Some(Controller::Sh1106),
        DisplayKind::None => None,
    }
}

/// The running screen task. Dropping it stops it too.
pub struct Screen {
    frames: watch::Receiver<Frame>,
    viewers: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Screen {
    /// The latest frame, changed whenever the picture changes.
    pub fn frames(&self) -> watch::Receiver<Frame> {
        self.frames.clone()
    }

    /// The page's side of the screen: its frames, and saying when a page
    /// is watching them.
    pub fn mirror(&self) -> Mirror {
        Mirror {
            frames: self.frames.clone(),
            viewers: self.viewers.clone(),
            screen: self.thread.as_ref().map(|t| t.thread().clone()),
        }
    }

    /// Stops rendering and blanks the display.
    pub fn stop(mut self) {
        self.halt();
    }

    fn halt(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            thread.thread().unpark();
            if thread.join().is_err() {
                warn!("the panel's screen task panicked");
            }
        }
    }
}

impl Drop for Screen {
    fn drop(&mut self) {
        self.halt();
    }
}

/// What the web shows of the screen: the latest frame, and a way to say a
/// page is watching it live, so that the screen renders at its full rate.
#[derive(Clone)]
pub struct Mirror {
    frames: watch::Receiver<Frame>,
    viewers: Arc<AtomicUsize>,
    screen: Option<Thread>,
}

impl Mirror {
    /// A mirror of frames drawn elsewhere: nobody to tell of viewers.
    pub fn of(frames: watch::Receiver<Frame>) -> Self {
        Mirror {
            frames,
            viewers: Arc::new(AtomicUsize::new(0)),
            screen: None,
        }
    }

    /// The frame shown now.
    pub fn latest(&self) -> Frame {
        self.frames.borrow().clone()
    }

    /// A page starts watching: the screen renders at its full rate until
    /// the returned [`Watching`] is dropped.
    pub fn watch(&self) -> Watching {
        self.viewers.fetch_add(1, Ordering::AcqRel);
        if let Some(screen) = &self.screen {
            screen.unpark();
        }
        Watching {
            frames: self.frames.clone(),
            viewers: self.viewers.clone(),
        }
    }
}

/// A page watching the screen; its frames change whenever the picture does.
pub struct Watching {
    pub frames: watch::Receiver<Frame>,
    viewers: Arc<AtomicUsize>,
}

impl Drop for Watching {
    fn drop(&mut self) {
        self.viewers.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Starts the screen for the display in `config` (on Linux I2C), rendering
/// `status` at `clock`'s time.
pub fn start(
    config: &DisplayConfig,
    status: watch::Receiver<Status>,
    clock: Clock,
) -> Result<Screen> {
    let display = config.clone();
    let open = move || match controller(display.kind) {
        Some(controller) => oled::open(&display.bus, controller, display.address).map(Some),
        None => Ok(None),
    };
    start_with(open, status, move || clock.now())
}

/// Starts the screen with the display `open` gives (`Ok(None)`: no
/// display) and the station time `now` gives: the seam for tests.
pub fn start_with<I, O, N>(open: O, status: watch::Receiver<Status>, now: N) -> Result<Screen>
where
    I: I2c + Send + 'static,
    I::Error: std::fmt::Display,
    O: FnMut() -> Result<Option<Oled<I>>, OledError> + Send + 'static,
    N: Fn() -> chrono::DateTime<chrono::Utc> + Send + 'static,
{
    let (frames_tx, frames) = watch::channel(Frame::default());
    let stop = Arc::new(AtomicBool::new(false));
    let viewers = Arc::new(AtomicUsize::new(0));
    let task = Task {
        open,
        status,
        now,
        frames: frames_tx,
        viewers: viewers.clone(),
        stop: stop.clone(),
    };
    let thread = std::thread::Builder::new()
        .name("panel".into())
        .spawn(move || task.run::<I>())
        .context(
            "cannot start the front panel's screen thread: the system is out of resources \
             (threads): free some",
        )?;
    Ok(Screen {
        frames,
        viewers,
        stop,
        thread: Some(thread),
    })
}

struct Task<O, N> {
    open: O,
    status: watch::Receiver<Status>,
    now: N,
    frames: watch::Sender<Frame>,
    viewers: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

/// What frames cost since the last report.
#[derive(Default)]
struct Cost {
    since: Option<Instant>,
    frames: u32,
    render: Duration,
    render_max: Duration,
    flushes: u32,
    flush: Duration,
    data_bytes: usize,
}

impl<O, N> Task<O, N> {
    fn run<I>(mut self)
    where
        I: I2c,
        I::Error: std::fmt::Display,
        O: FnMut() -> Result<Option<Oled<I>>, OledError>,
        N: Fn() -> chrono::DateTime<chrono::Utc>,
    {
        let period = Duration::from_nanos(1_000_000_000 / FRAMES_PER_SECOND);
        let mut frame = Frame::default();
        // Frames are counted in time, not in renders, so that scrolling
        // and the burn-in shift go at their pace whatever the rate.
        let first = Instant::now();
        let mut oled: Option<Oled<I>> = None;
        let mut wanted = true;
        let mut try_at = Instant::now();
        let mut failing = false;
        let mut cost = Cost::default();
        let mut due = Instant::now();
        while !self.stop.load(Ordering::Acquire) {
            let started = Instant::now();
            let number = (started.duration_since(first).as_nanos() / period.as_nanos()) as u64;
            render(&self.status.borrow(), (self.now)(), number, &mut frame);
            let rendered = started.elapsed();
            self.frames.send_if_modified(|shown| {
                let changed = *shown != frame;
                if changed {
                    shown.clone_from(&frame);
                }
                changed
            });

            if wanted && oled.is_none() && started >= try_at {
                match (self.open)() {
                    Ok(None) => wanted = false,
                    Ok(Some(opened)) => {
                        if failing {
                            info!("front-panel display working again");
                            failing = false;
                        }
                        oled = Some(opened);
                    }
                    Err(e) => {
                        if !failing {
                            warn!(
                                "front panel: {e}. Playout goes on; the display is tried again \
                                 every {} s",
                                RETRY.as_secs()
                            );
                            failing = true;
                        }
                        try_at = started + RETRY;
                    }
                }
            }
            if let Some(display) = &mut oled {
                let flushing = Instant::now();
                match display.flush(&frame) {
                    Ok(sent) => {
                        cost.flushes += 1;
                        cost.flush += flushing.elapsed();
                        cost.data_bytes += sent.data_bytes;
                    }
                    Err(e) => {
                        warn!(
                            "front panel: {e}. Playout goes on; the display is tried again in {} s",
                            RETRY.as_secs()
                        );
                        failing = true;
                        oled = None;
                        try_at = started + RETRY;
                    }
                }
            }

            cost.frames += 1;
            cost.render += rendered;
            cost.render_max = cost.render_max.max(rendered);
            let since = *cost.since.get_or_insert(started);
            if started.duration_since(since) >= COST_EVERY {
                cost.report();
                cost = Cost::default();
            }

            let seen =
                |oled: &Option<Oled<I>>| oled.is_some() || self.viewers.load(Ordering::Acquire) > 0;
            due += if seen(&oled) { period } else { UNSEEN_NAP };
            let now = Instant::now();
            if due < now {
                // Behind (a slow bus): carry on from now rather than rush.
                due = now;
            }
            while !self.stop.load(Ordering::Acquire) {
                let now = Instant::now();
                // A page that starts watching gets its frames at once.
                if seen(&oled) {
                    due = due.min(started + period);
                }
                if now >= due {
                    break;
                }
                std::thread::park_timeout(due - now);
            }
        }
        if let Some(mut display) = oled
            && let Err(e) = display.blank()
        {
            warn!("front panel: cannot blank the display at stop: {e}");
        }
    }
}

impl Cost {
    fn report(&self) {
        let frames = self.frames.max(1);
        let flushes = self.flushes.max(1);
        debug!(
            "front panel: {} frames, render {:?} mean, {:?} max; {} flushes, {:?} and {} bytes \
             mean",
            self.frames,
            self.render / frames,
            self.render_max,
            self.flushes,
            self.flush / flushes,
            self.data_bytes / flushes as usize,
        );
    }
}
