//! The running front panel: a thread of its own that reads the buttons,
//! turns each press that counts into a command to the director
//! (`Who::Panel`), and drives the lamps from the status.
//!
//! It sleeps until something may have changed ([`super::wake`]: a line's
//! edge, a simulated press, a new status) and, while a button settles,
//! reads it every 10 ms, well inside a 30 ms debounce. The lamps are
//! driven at each wake, so they follow the status as it is published
//! (after a restart: the director's first snapshot).

use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use embedded_hal::digital::{InputPin, OutputPin};
use tokio::sync::watch;
use tracing::{debug, error, info, warn};

use super::front_panel::Panel;
use super::gpio::{self, GpioError};
use super::sim::{SimButton, SimLamp};
use super::wake::{Doorbell, Ring};
use super::{Button, SimButtons};
use crate::config::{PanelConfig, PanelPins};
use crate::director::{Command, Controls, Who};
use crate::status::{Lamps, Status};

/// How often the buttons are read while one is settling.
pub const POLL: Duration = Duration::from_millis(10);
/// The longest an idle panel sleeps: a lost wake-up or a pin that failed
/// is looked at again within this.
const IDLE: Duration = Duration::from_secs(1);
/// Without a runtime to follow the status, the lamps are compared this often.
const IDLE_UNFOLLOWED: Duration = Duration::from_millis(100);

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Gpio(#[from] GpioError),
    #[error("the front panel needs a tokio runtime to send its commands from")]
    NoRuntime,
    #[error("cannot start the front panel's thread: {0}")]
    Thread(std::io::Error),
}

/// The front panel, running. Dropping it (or [`FrontPanel::stop`]) stops
/// its thread and leaves every lamp off.
pub struct FrontPanel {
    sim: Option<SimButtons>,
    lamps: watch::Receiver<Lamps>,
    stop: Arc<AtomicBool>,
    ring: Ring,
    thread: Option<JoinHandle<()>>,
}

/// What the panel's thread needs besides its pins.
pub struct Wiring {
    /// The director's status, whose lamps the panel shows.
    pub status: watch::Receiver<Status>,
    /// Called with each press that counts.
    pub on_press: Box<dyn FnMut(Button) + Send>,
    /// Where the lamps as driven are published, for pins that do not
    /// record them themselves.
    pub driven: Option<watch::Sender<Lamps>>,
}

impl FrontPanel {
    /// Takes the configured pins, drives the lamps off, and starts the
    /// panel: its presses go to `controls` as the panel's commands, its
    /// lamps follow `status`. Call from within the tokio runtime.
    pub fn start(
        config: &PanelConfig,
        controls: Controls,
        status: watch::Receiver<Status>,
    ) -> Result<FrontPanel, StartError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| StartError::NoRuntime)?;
        let on_press = Box::new(move |button: Button| {
            let command = command_of(button);
            let controls = controls.clone();
            runtime.spawn(async move {
                match controls.send(command, Who::Panel).await {
                    Ok(done) => debug!("front panel: {button}: {done:?}"),
                    Err(e) => warn!("front panel: {button} pressed: {e}"),
                }
            });
        });
        let debounce = Duration::from_millis(u64::from(config.debounce_ms));
        let (driven, lamps) = watch::channel(Lamps::default());
        match config.pins {
            PanelPins::Simulated => {
                let buttons = SimButtons::default();
                let pins = Button::ALL.map(|b| SimButton::new(&buttons, b));
                let panel = Panel::new(pins, SimLamp::all(&driven), debounce);
                let wiring = Wiring {
                    status,
                    on_press,
                    driven: None,
                };
                info!("front panel: simulated buttons and lamps (pressed from the page)");
                Self::run(panel, wiring, lamps, Some(buttons), Vec::new())
            }
            PanelPins::Gpio => {
                let pins = gpio::open(config)?;
                let edges = pins.edges().map_err(StartError::Thread)?;
                let panel = Panel::new(pins.buttons, pins.lamps, debounce);
                let wiring = Wiring {
                    status,
                    on_press,
                    driven: Some(driven),
                };
                let l = &config.lines;
                info!(
                    "front panel: buttons LIVE {}, AUTO {}, SKIP {}; lamps ON AIR {}, LIVE {}, \
                     ALARM {}",
                    l.live_button,
                    l.auto_button,
                    l.skip_button,
                    l.on_air_lamp,
                    l.live_lamp,
                    l.alarm_lamp
                );
                Self::run(panel, wiring, lamps, None, edges)
            }
        }
    }

    /// Runs `panel` on a thread of its own (any pins: a test's too).
    /// `lamps` is what [`FrontPanel::lamps`] answers with; `sim` what
    /// [`FrontPanel::sim_buttons`] does (their changes wake the thread);
    /// `edges` the button lines' event files, which wake it too.
    pub fn run<I, O>(
        panel: Panel<I, O>,
        wiring: Wiring,
        lamps: watch::Receiver<Lamps>,
        sim: Option<SimButtons>,
        edges: Vec<OwnedFd>,
    ) -> Result<FrontPanel, StartError>
    where
        I: InputPin + Send + 'static,
        O: OutputPin + Send + 'static,
        I::Error: Send,
        O::Error: Send,
    {
        let doorbell = Doorbell::new(edges).map_err(StartError::Thread)?;
        let ring = doorbell.ring();
        if let Some(sim) = &sim {
            sim.ring_on_change(ring.clone());
        }
        // The lamps follow each new status at once. The status changes
        // twice a second (the position); the lamps only when the mode does,
        // and only then is the panel's thread woken.
        let idle = match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                let mut status = wiring.status.clone();
                let ring = ring.clone();
                runtime.spawn(async move {
                    let mut lit = None;
                    while status.changed().await.is_ok() {
                        let lamps = Lamps::of(&status.borrow_and_update());
                        if lit.replace(lamps) != Some(lamps) {
                            ring.ring();
                        }
                    }
                });
                IDLE
            }
            Err(_) => IDLE_UNFOLLOWED,
        };
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let thread = std::thread::Builder::new()
            .name("front panel".into())
            .spawn(move || run_panel(panel, wiring, &stopped, doorbell, idle))
            .map_err(StartError::Thread)?;
        Ok(FrontPanel {
            sim,
            lamps,
            stop,
            ring,
            thread: Some(thread),
        })
    }

    /// The simulated buttons, to press from the page or `onair press`;
    /// `None` when the panel has real buttons.
    pub fn sim_buttons(&self) -> Option<SimButtons> {
        self.sim.clone()
    }

    /// The lamps as the panel drove them (not merely as the status asks).
    pub fn lamps(&self) -> watch::Receiver<Lamps> {
        self.lamps.clone()
    }

    /// Stops the panel and waits until its lamps are off.
    pub fn stop(mut self) {
        self.finish();
    }

    fn finish(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            self.ring.ring();
            if thread.join().is_err() {
                error!("the front panel's thread panicked; its lamps were turned off");
            }
        }
    }
}

impl Drop for FrontPanel {
    fn drop(&mut self) {
        self.finish();
    }
}

pub fn command_of(button: Button) -> Command {
    match button {
        Button::Live => Command::Live,
        Button::Auto => Command::Auto,
        Button::Skip => Command::Skip,
    }
}

/// The panel's loop, until `stop`; the lamps are left off.
fn run_panel<I: InputPin, O: OutputPin>(
    mut panel: Panel<I, O>,
    mut wiring: Wiring,
    stop: &AtomicBool,
    mut doorbell: Doorbell,
    idle: Duration,
) {
    let start = Instant::now();
    let publish = |driven: &Option<watch::Sender<Lamps>>, lamps: Option<Lamps>| {
        if let (Some(driven), Some(lamps)) = (driven, lamps) {
            driven.send_if_modified(|was| std::mem::replace(was, lamps) != lamps);
        }
    };
    publish(&wiring.driven, Some(Lamps::default()));
    while !stop.load(Ordering::Acquire) {
        for button in panel.poll(start.elapsed()) {
            info!("front panel: {button} pressed");
            (wiring.on_press)(button);
        }
        let wanted = Lamps::of(&wiring.status.borrow());
        let shown = panel.show(wanted);
        publish(&wiring.driven, shown);
        doorbell.wait(if panel.is_settling() { POLL } else { idle });
    }
    let dark = panel.dark();
    publish(&wiring.driven, dark);
}
