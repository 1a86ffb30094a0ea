//! Simulated pins, for a machine without GPIO (the demo, tests): buttons
//! read from [`SimButtons`], pressed from the page or `onair press`, and
//! lamps whose levels are kept in a `watch` the page reads, so it shows
//! the lamps exactly as the panel drove them.

use std::convert::Infallible;

use embedded_hal::digital::{ErrorType, InputPin, OutputPin};
use tokio::sync::watch;

use super::{Button, Lamp, SimButtons};
use crate::status::Lamps;

/// A button's input pin over the simulated buttons' levels. High is
/// pressed (the logical level, as the GPIO pins give it).
#[derive(Debug, Clone)]
pub struct SimButton {
    buttons: SimButtons,
    button: Button,
}

impl SimButton {
    pub fn new(buttons: &SimButtons, button: Button) -> Self {
        SimButton {
            buttons: buttons.clone(),
            button,
        }
    }
}

impl ErrorType for SimButton {
    type Error = Infallible;
}

impl InputPin for SimButton {
    fn is_high(&mut self) -> Result<bool, Self::Error> {
        Ok(self.buttons.is_held(self.button))
    }

    fn is_low(&mut self) -> Result<bool, Self::Error> {
        Ok(!self.buttons.is_held(self.button))
    }
}

/// A lamp's output pin that records its level in the lamps' `watch`.
/// High is lit.
#[derive(Debug, Clone)]
pub struct SimLamp {
    levels: watch::Sender<Lamps>,
    lamp: Lamp,
}

impl SimLamp {
    /// The three lamps, in [`Lamp::ALL`]'s order, recording into `levels`.
    pub fn all(levels: &watch::Sender<Lamps>) -> [SimLamp; 3] {
        Lamp::ALL.map(|lamp| SimLamp {
            levels: levels.clone(),
            lamp,
        })
    }

    fn set(&mut self, lit: bool) {
        self.levels.send_if_modified(|lamps| {
            let level = match self.lamp {
                Lamp::OnAir => &mut lamps.on_air,
                Lamp::Live => &mut lamps.live,
                Lamp::Alarm => &mut lamps.alarm,
            };
            std::mem::replace(level, lit) != lit
        });
    }
}

impl ErrorType for SimLamp {
    type Error = Infallible;
}

impl OutputPin for SimLamp {
    fn set_high(&mut self) -> Result<(), Self::Error> {
        self.set(true);
        Ok(())
    }

    fn set_low(&mut self) -> Result<(), Self::Error> {
        self.set(false);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_simulated_button_reads_the_level_set_from_the_page() {
        let buttons = SimButtons::default();
        let mut skip = SimButton::new(&buttons, Button::Skip);
        let mut live = SimButton::new(&buttons, Button::Live);
        assert!(!skip.is_high().unwrap());
        buttons.set(Button::Skip, true);
        assert!(skip.is_high().unwrap());
        assert!(!skip.is_low().unwrap());
        assert!(live.is_low().unwrap(), "each button has its own level");
    }

    #[test]
    fn simulated_lamps_record_what_was_driven() {
        let (levels, seen) = watch::channel(Lamps::default());
        let [mut on_air, mut live, mut alarm] = SimLamp::all(&levels);
        on_air.set_high().unwrap();
        alarm.set_high().unwrap();
        assert_eq!(
            *seen.borrow(),
            Lamps {
                on_air: true,
                live: false,
                alarm: true
            }
        );
        alarm.set_low().unwrap();
        live.set_state(true.into()).unwrap();
        assert_eq!(
            *seen.borrow(),
            Lamps {
                on_air: true,
                live: true,
                alarm: false
            }
        );
    }
}
