//! The panel's pins on the kernel's GPIO character device
//! (`/dev/gpiochip*`), through `gpiocdev`: each line found by its NAME
//! (`GPIO17`), never by chip number, since Pi 5 kernels have renumbered
//! their chips twice (`gpiochip4` became `gpiochip0`, and 6.12 kernels
//! have no `gpiochip0` at all). The kernel applies the bias and the
//! active-low setting, so a pin reads and is driven in logical levels:
//! high is pressed, high is lit.
//!
//! Each line is its own request, held for as long as its pin lives;
//! outputs are requested already driven off, so a lamp is never lit by a
//! level left over from before the box started.

use embedded_hal::digital::{self, ErrorType, InputPin, OutputPin};
use gpiocdev::line::{Bias, EdgeDetection, Offset, Value};
use gpiocdev::{FoundLine, Request};

use crate::config::{Lines, PanelConfig, Pull};

/// Who holds the lines, as `gpioinfo` shows it.
const CONSUMER: &str = "onair-panel";

/// What can go wrong taking the panel's lines.
#[derive(Debug, thiserror::Error)]
pub enum GpioError {
    #[error(
        "cannot open the front panel's GPIO lines: this machine has no GPIO character device \
         (/dev/gpiochip*) that the user onair runs as may open{}; on a Raspberry Pi, add that \
         user to the gpio group; on a machine without GPIO, set panel.pins = \"simulated\"",
        cause.as_ref().map(|c| format!(" ({c})")).unwrap_or_default()
    )]
    NoChips { cause: Option<String> },
    #[error(
        "panel.{key} = {name:?}: no GPIO line has this name on this box{}; give the name \
         `gpioinfo` lists for the line, such as \"GPIO17\" (board/pinmap.md has the board's \
         pin map), or set panel.pins = \"simulated\"",
        guess.as_ref().map(|g| format!(" (did you mean {g:?}?)")).unwrap_or_default()
    )]
    NoSuchLine {
        key: &'static str,
        name: String,
        guess: Option<String>,
    },
    #[error(
        "panel.{key} = {name:?}: cannot take the line ({chip} line {offset}): {error}; another \
         program may hold it (`gpioinfo` shows its consumer), or the user onair runs as may \
         not use {chip} (add it to the gpio group)"
    )]
    Request {
        key: &'static str,
        name: String,
        chip: String,
        offset: Offset,
        error: gpiocdev::Error,
    },
}

/// A pin's read or write that the kernel refused (the line was taken
/// away, the chip went).
#[derive(Debug, thiserror::Error)]
#[error("GPIO line {name}: {error}")]
pub struct PinError {
    name: String,
    error: gpiocdev::Error,
}

impl digital::Error for PinError {
    fn kind(&self) -> digital::ErrorKind {
        digital::ErrorKind::Other
    }
}

/// One requested line.
#[derive(Debug)]
struct Line {
    request: Request,
    offset: Offset,
    name: String,
}

impl Line {
    fn error(&self, error: gpiocdev::Error) -> PinError {
        PinError {
            name: self.name.clone(),
            error,
        }
    }
}

/// A button's line, as an input: high is active (pressed).
#[derive(Debug)]
pub struct GpioInput(Line);

impl ErrorType for GpioInput {
    type Error = PinError;
}

impl InputPin for GpioInput {
    fn is_high(&mut self) -> Result<bool, PinError> {
        let line = &self.0;
        match line.request.value(line.offset) {
            Ok(value) => Ok(value == Value::Active),
            Err(e) => Err(line.error(e)),
        }
    }

    fn is_low(&mut self) -> Result<bool, PinError> {
        self.is_high().map(|high| !high)
    }
}

/// A lamp's line, as an output: high is active (lit).
#[derive(Debug)]
pub struct GpioOutput(Line);

impl GpioOutput {
    fn drive(&mut self, value: Value) -> Result<(), PinError> {
        let line = &self.0;
        line.request
            .set_value(line.offset, value)
            .map_err(|e| line.error(e))
    }
}

impl ErrorType for GpioOutput {
    type Error = PinError;
}

impl OutputPin for GpioOutput {
    fn set_high(&mut self) -> Result<(), PinError> {
        self.drive(Value::Active)
    }

    fn set_low(&mut self) -> Result<(), PinError> {
        self.drive(Value::Inactive)
    }
}

/// The panel's six lines, taken.
#[derive(Debug)]
pub struct GpioPins {
    /// In [`super::Button::ALL`]'s order.
    pub buttons: [GpioInput; 3],
    /// In [`super::Lamp::ALL`]'s order, each driven off.
    pub lamps: [GpioOutput; 3],
}

impl GpioPins {
    /// The buttons' event files, for the panel's thread to wait on.
    pub fn edges(&self) -> std::io::Result<Vec<std::os::fd::OwnedFd>> {
        use std::os::fd::AsFd;
        self.buttons
            .iter()
            .map(|b| b.0.request.as_fd().try_clone_to_owned())
            .collect()
    }
}

/// Finds the configured lines by name on every GPIO chip and takes them:
/// the buttons as inputs with the configured bias, the lamps as outputs
/// driven off.
pub fn open(config: &PanelConfig) -> Result<GpioPins, GpioError> {
    let found = match gpiocdev::LineIterator::new() {
        Ok(lines) => find_lines(&config.lines, lines)?,
        Err(gpiocdev::Error::NoGpioChips()) => return Err(GpioError::NoChips { cause: None }),
        Err(e) => {
            return Err(GpioError::NoChips {
                cause: Some(e.to_string()),
            });
        }
    };
    let bias = match config.pull {
        Pull::Up => Bias::PullUp,
        Pull::Down => Bias::PullDown,
        Pull::None => Bias::Disabled,
    };
    let [live, auto, skip, on_air, live_lamp, alarm] = found;
    let input = |(key, line): (&'static str, FoundLine)| {
        take(key, line, |b| {
            // Edges wake the panel; it reads the levels itself.
            b.as_input()
                .with_bias(bias)
                .with_edge_detection(EdgeDetection::BothEdges);
            if config.active_low {
                b.as_active_low();
            }
        })
        .map(GpioInput)
    };
    let output = |(key, line): (&'static str, FoundLine)| {
        take(key, line, |b| {
            if config.lamp_active_low {
                b.as_active_low();
            }
            b.as_output(Value::Inactive);
        })
        .map(GpioOutput)
    };
    // Lamps first: they go dark before a button can do anything.
    let lamps = [output(on_air)?, output(live_lamp)?, output(alarm)?];
    let buttons = [input(live)?, input(auto)?, input(skip)?];
    Ok(GpioPins { buttons, lamps })
}

/// Whether this machine has a GPIO character device at all.
pub fn machine_has_gpio() -> bool {
    gpiocdev::chip::chips().is_ok_and(|chips| !chips.is_empty())
}

fn take(
    key: &'static str,
    found: FoundLine,
    configure: impl FnOnce(&mut gpiocdev::request::Builder),
) -> Result<Line, GpioError> {
    let mut builder = Request::builder();
    builder.with_found_line(&found).with_consumer(CONSUMER);
    configure(&mut builder);
    match builder.request() {
        Ok(request) => Ok(Line {
            request,
            offset: found.info.offset,
            name: found.info.name,
        }),
        Err(error) => Err(GpioError::Request {
            key,
            name: found.info.name,
            chip: found.chip.display().to_string(),
            offset: found.info.offset,
            error,
        }),
    }
}

/// The six lines by name among `lines` (every line of every chip), in the
/// order of [`Lines::keyed`], each with its key. The first line of a name
/// is taken, as `gpiofind` does.
fn find_lines(
    wanted: &Lines<String>,
    lines: impl IntoIterator<Item = FoundLine>,
) -> Result<[(&'static str, FoundLine); 6], GpioError> {
    let keyed = wanted.keyed();
    let mut found: [Option<FoundLine>; 6] = Default::default();
    let mut names = Vec::new();
    for line in lines {
        for (slot, (_, name)) in found.iter_mut().zip(&keyed) {
            if slot.is_none() && line.info.name == **name {
                *slot = Some(line.clone());
            }
        }
        if found.iter().all(Option::is_some) {
            break;
        }
        names.push(line.info.name);
    }
    let mut taken = Vec::with_capacity(6);
    for (slot, (key, name)) in found.into_iter().zip(keyed) {
        match slot {
            Some(line) => taken.push((key, line)),
            None => {
                let guess = names
                    .iter()
                    .find(|n| n.eq_ignore_ascii_case(name) || n.trim() == name.trim())
                    .cloned();
                return Err(GpioError::NoSuchLine {
                    key,
                    name: name.clone(),
                    guess,
                });
            }
        }
    }
    Ok(taken
        .try_into()
        .unwrap_or_else(|_| unreachable!("six keys, six lines")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::PanelConfig;

    /// The lines of a Pi's header chip, as the kernel names them.
    fn pi_lines() -> Vec<FoundLine> {
        (0..28)
            .map(|offset| {
                let mut line = FoundLine {
                    chip: "/dev/gpiochip0".into(),
                    ..FoundLine::default()
                };
                line.info.offset = offset;
                line.info.name = format!("GPIO{offset}");
                line
            })
            .collect()
    }

    #[test]
    fn lines_are_found_by_name_whatever_the_chip() {
        let mut lines = pi_lines();
        // A Pi 5 on a 6.12 kernel: the header chip is not gpiochip0.
        for line in &mut lines {
            line.chip = "/dev/gpiochip13".into();
        }
        let found = find_lines(&PanelConfig::default().lines, lines).unwrap();
        let keyed: Vec<(&str, String, Offset)> = found
            .iter()
            .map(|(key, l)| (*key, l.chip.display().to_string(), l.info.offset))
            .collect();
        assert_eq!(keyed[0], ("live_button", "/dev/gpiochip13".into(), 5));
        assert_eq!(keyed[2], ("skip_button", "/dev/gpiochip13".into(), 13));
        assert_eq!(keyed[5], ("alarm_lamp", "/dev/gpiochip13".into(), 24));
    }

    #[test]
    fn a_line_name_that_does_not_exist_names_the_line_and_the_fix() {
        let mut wanted = PanelConfig::default().lines;
        wanted.skip_button = "GPIO99".into();
        let e = find_lines(&wanted, pi_lines()).unwrap_err();
        let message = e.to_string();
        assert!(
            message.starts_with("panel.skip_button = \"GPIO99\": no GPIO line has this name"),
            "{message}"
        );
        assert!(message.contains("gpioinfo"), "{message}");
        assert!(message.contains("board/pinmap.md"), "{message}");
        assert!(!message.contains("did you mean"), "{message}");

        // A name in the wrong case gets the right one.
        wanted.skip_button = "gpio13".into();
        let message = find_lines(&wanted, pi_lines()).unwrap_err().to_string();
        assert!(message.contains("(did you mean \"GPIO13\"?)"), "{message}");
    }

    #[test]
    fn a_machine_without_gpio_says_so_and_how_to_run_without() {
        // This machine (and CI) has no /dev/gpiochip*: opening the real
        // pins fails with the fix, rather than panicking or hanging.
        if machine_has_gpio() {
            eprintln!("skipped: this machine has GPIO chips");
            return;
        }
        let e = open(&PanelConfig::default()).unwrap_err();
        assert!(matches!(e, GpioError::NoChips { .. }), "{e:?}");
        let message = e.to_string();
        assert!(message.contains("/dev/gpiochip*"), "{message}");
        assert!(
            message.contains("set panel.pins = \"simulated\""),
            "{message}"
        );
    }
}
