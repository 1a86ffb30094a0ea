//! The running front panel: a thread of its own that polls the buttons
//! every 10 ms, turns each press that counts into a command to the
//! director (`Who::Panel`), and drives the lamps from the status.
//!
//! Polling rather than the kernel's edge events: the same loop serves the
//! simulated pins (which have no events), a 10 ms poll is well inside a
//! 30 ms debounce, and three reads a poll cost a few microseconds on a Pi.
//! The lamps are checked at the same poll, so they follow the status
//! within 10 ms of its publication (after a restart: of the director's
//! first snapshot).

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
use super::{Button, SimButtons};
use crate::config::{PanelConfig, PanelPins};
use crate::director::{Command, Controls, Who};
use crate::status::{Lamps, Status};

/// How often the buttons are read and the lamps compared with the status.
pub const POLL: Duration = Duration::from_millis(10);

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
                Self::run(panel, wiring, lamps, Some(buttons))
            }
            PanelPins::Gpio => {
                let pins = gpio::open(config)?;
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
                Self::run(panel, wiring, lamps, None)
            }
        }
    }

    /// Runs `panel` on a thread of its own (any pins: a test's too).
    /// `lamps` is what [`FrontPanel::lamps`] answers with; `sim` what
    /// [`FrontPanel::sim_buttons`] does.
    pub fn run<I, O>(
        panel: Panel<I, O>,
        wiring: Wiring,
        lamps: watch::Receiver<Lamps>,
        sim: Option<SimButtons>,
    ) -> Result<FrontPanel, StartError>
    where
        I: InputPin + Send + 'static,
        O: OutputPin + Send + 'static,
        I::Error: Send,
        O::Error: Send,
    {
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let thread = std::thread::Builder::new()
            .name("front panel".into())
            .spawn(move || poll(panel, wiring, &stopped))
            .map_err(StartError::Thread)?;
        Ok(FrontPanel {
            sim,
            lamps,
            stop,
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
            thread.thread().unpark();
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
fn poll<I: InputPin, O: OutputPin>(mut panel: Panel<I, O>, mut wiring: Wiring, stop: &AtomicBool) {
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
        std::thread::park_timeout(POLL);
    }
    let dark = panel.dark();
    publish(&wiring.driven, dark);
}
