//! The front panel's hardware: the LIVE, AUTO and SKIP buttons and the ON
//! AIR, LIVE and ALARM lamps. The seam is the embedded-hal 1.0 traits, so
//! the same panel logic runs on the Pi's GPIO, on simulated pins and on a
//! test double.
//!
//! - [`debounce`]: one button's debouncing and arming, pure (a held button
//!   at boot never triggers; one command per press).
//! - `front_panel`: the panel's logic, generic over the pins: presses out,
//!   lamps driven from the status, every lamp off at start and at the end.
//! - [`gpio`]: the Pi's pins, the kernel's GPIO lines found by name.
//! - [`sim`]: simulated pins, pressed from the page, lamps shown on it.
//! - `task`: [`FrontPanel`], the panel running on a thread of its own,
//!   sending its presses to the director.
//! - [`wake`]: what wakes that thread (edges, simulated presses, a new
//!   status), so that an idle panel costs nothing.

pub mod debounce;
mod front_panel;
pub mod gpio;
pub mod sim;
mod task;
pub mod wake;

pub use front_panel::Panel;
pub use task::{FrontPanel, POLL, StartError, Wiring, command_of};

use std::fmt;
use std::str::FromStr;

/// A front-panel button.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Button {
    Live,
    Auto,
    Skip,
}

impl Button {
    pub const ALL: [Button; 3] = [Button::Live, Button::Auto, Button::Skip];

    pub fn as_str(self) -> &'static str {
        match self {
            Button::Live => "live",
            Button::Auto => "auto",
            Button::Skip => "skip",
        }
    }
}

impl fmt::Display for Button {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Button {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "live" => Ok(Button::Live),
            "auto" => Ok(Button::Auto),
            "skip" => Ok(Button::Skip),
            _ => Err(format!("{s:?} is not a button; use live, auto or skip")),
        }
    }
}

/// A front-panel tally lamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Lamp {
    OnAir,
    Live,
    Alarm,
}

impl Lamp {
    pub const ALL: [Lamp; 3] = [Lamp::OnAir, Lamp::Live, Lamp::Alarm];
}

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// How long a press from the page or `onair press` holds a simulated
/// button down: well over any debounce time, well under a long press.
pub const SIM_PRESS: std::time::Duration = std::time::Duration::from_millis(120);

/// The simulated buttons' levels, pressed from the page and `onair press`
/// on a box without GPIO. The panel reads them through the same debounce
/// as real pins.
#[derive(Debug, Clone, Default)]
pub struct SimButtons {
    held: Arc<[AtomicBool; 3]>,
    /// Rung at each change, so that the panel's thread looks at once.
    ring: Arc<std::sync::OnceLock<wake::Ring>>,
}

impl SimButtons {
    fn index(button: Button) -> usize {
        match button {
            Button::Live => 0,
            Button::Auto => 1,
            Button::Skip => 2,
        }
    }

    pub fn set(&self, button: Button, held: bool) {
        self.held[Self::index(button)].store(held, Ordering::Release);
        if let Some(ring) = self.ring.get() {
            ring.ring();
        }
    }

    /// Rings `ring` at every change from now on (the panel's thread).
    pub fn ring_on_change(&self, ring: wake::Ring) {
        let _ = self.ring.set(ring);
    }

    pub fn is_held(&self, button: Button) -> bool {
        self.held[Self::index(button)].load(Ordering::Acquire)
    }

    /// Holds the button down for [`SIM_PRESS`], then lets it go.
    pub async fn press(&self, button: Button) {
        self.set(button, true);
        tokio::time::sleep(SIM_PRESS).await;
        self.set(button, false);
    }
}

#[cfg(test)]
mod tests;
