//! The panel's logic over any pins: three buttons read through their
//! debouncers, three lamps driven from the lamps a status lights. Generic
//! over the embedded-hal 1.0 pin traits, so the Pi's GPIO, the simulated
//! pins and a test's pins all run the same code.
//!
//! The lamps are driven off the moment the panel is made and again when it
//! is dropped (a stop, or a panic unwinding): a lamp, or a relay behind it,
//! never keeps a state from before the box started or after it stopped.

use std::time::Duration;

use embedded_hal::digital::{InputPin, OutputPin, PinState};
use tracing::{info, warn};

use super::debounce::Debouncer;
use super::{Button, Lamp};
use crate::status::Lamps;

pub struct Panel<I: InputPin, O: OutputPin> {
    /// In [`Button::ALL`]'s order.
    buttons: [ButtonPin<I>; 3],
    /// In [`Lamp::ALL`]'s order.
    lamps: [LampPin<O>; 3],
}

struct ButtonPin<I> {
    button: Button,
    pin: I,
    debouncer: Debouncer,
    /// A read failed last time (so it is reported once, not every poll).
    failing: bool,
}

struct LampPin<O> {
    lamp: Lamp,
    pin: O,
    /// The level it was last driven to; `None` when unknown (a write failed).
    driven: Option<bool>,
    /// A write failed last time (so it is reported once).
    failing: bool,
}

impl<I: InputPin, O: OutputPin> Panel<I, O> {
    /// The panel over its pins (buttons in [`Button::ALL`]'s order, lamps
    /// in [`Lamp::ALL`]'s), with every lamp driven off.
    pub fn new(buttons: [I; 3], lamps: [O; 3], debounce: Duration) -> Self {
        let mut buttons = Button::ALL.into_iter().zip(buttons);
        let mut lamps = Lamp::ALL.into_iter().zip(lamps);
        let mut panel = Panel {
            buttons: std::array::from_fn(|_| {
                let (button, pin) = buttons.next().expect("three buttons");
                ButtonPin {
                    button,
                    pin,
                    debouncer: Debouncer::new(debounce),
                    failing: false,
                }
            }),
            lamps: std::array::from_fn(|_| {
                let (lamp, pin) = lamps.next().expect("three lamps");
                LampPin {
                    lamp,
                    pin,
                    driven: None,
                    failing: false,
                }
            }),
        };
        panel.dark();
        panel
    }

    /// Reads every button once, at `at` (any monotonic clock), and returns
    /// the presses that count now. A button whose pin cannot be read is
    /// not sampled: it neither presses nor releases.
    pub fn poll(&mut self, at: Duration) -> impl Iterator<Item = Button> + use<I, O> {
        let mut pressed = [None; 3];
        for (b, slot) in self.buttons.iter_mut().zip(&mut pressed) {
            match b.pin.is_high() {
                Ok(level) => {
                    if std::mem::take(&mut b.failing) {
                        info!("front panel: the {} button can be read again", b.button);
                    }
                    *slot = b.debouncer.sample(level, at).map(|_| b.button);
                }
                Err(e) if !b.failing => {
                    b.failing = true;
                    warn!("front panel: cannot read the {} button: {e:?}", b.button);
                }
                Err(_) => {}
            }
        }
        pressed.into_iter().flatten()
    }

    /// Whether a button's level has yet to count: the panel should be
    /// read again within the debounce time rather than wait for news.
    /// A button that cannot be read is not waited for.
    pub fn is_settling(&self) -> bool {
        self.buttons
            .iter()
            .any(|b| !b.failing && b.debouncer.is_settling())
    }

    /// Drives the lamps to `lamps` where they are not so already (or a
    /// write failed before). Returns the lamps as driven when all three
    /// are known to be so.
    pub fn show(&mut self, lamps: Lamps) -> Option<Lamps> {
        let mut known = true;
        for l in &mut self.lamps {
            let lit = match l.lamp {
                Lamp::OnAir => lamps.on_air,
                Lamp::Live => lamps.live,
                Lamp::Alarm => lamps.alarm,
            };
            if l.driven == Some(lit) {
                continue;
            }
            match l.pin.set_state(PinState::from(lit)) {
                Ok(()) => {
                    if std::mem::take(&mut l.failing) {
                        info!("front panel: the {:?} lamp can be driven again", l.lamp);
                    }
                    l.driven = Some(lit);
                }
                Err(e) => {
                    if !l.failing {
                        warn!(
                            "front panel: cannot turn the {:?} lamp {}: {e:?}",
                            l.lamp,
                            if lit { "on" } else { "off" }
                        );
                    }
                    l.failing = true;
                    l.driven = None;
                    known = false;
                }
            }
        }
        known.then_some(lamps)
    }

    /// Every lamp off.
    pub fn dark(&mut self) -> Option<Lamps> {
        self.show(Lamps::default())
    }
}

impl<I: InputPin, O: OutputPin> Drop for Panel<I, O> {
    fn drop(&mut self) {
        for l in &mut self.lamps {
            // Unconditionally: the safe state is what the lamps are left in.
            if let Err(e) = l.pin.set_low() {
                warn!("front panel: cannot turn the {:?} lamp off: {e:?}", l.lamp);
            }
        }
    }
}
