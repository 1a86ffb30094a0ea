//! The OLED: an SSD1306 (or SH1106) 128x64 module on an I2C bus, sent
//! only what changed since the last flush.
//!
//! Both controllers hold the picture as the [`Frame`] does (8 pages of a
//! byte per column), so a flush compares the new frame with the one the
//! display holds and, for each page that differs, sends the columns from
//! the first to the last changed one:
//! - SSD1306: horizontal addressing, a column range (`0x21`) and a page
//!   range (`0x22`) per changed page, then the bytes;
//! - SH1106 (many 1.3-inch modules): page addressing only and 132 columns
//!   of RAM with the panel's 128 from column 2, so per changed page the page
//!   (`0xB0+p`) and the column (`0x0_`,`0x1_`) plus 2, then the bytes.
//!
//! Both go through the `ssd1306` crate's driver, which initialises either:
//! its sequence is the SH1106's too, but for the charge pump (`0x8D 0x14`)
//! and the addressing mode (`0x20 0x02`), which the SH1106's command table
//! does not have; the SH1106 has its DC-DC converter on from reset, and
//! the argument bytes read as column addresses, set again before each
//! write. (From the datasheets; not yet tried on a real SH1106 module.)
//! After a failed write the display's contents are unknown: the next flush
//! sends the whole frame.

use std::path::Path;
use std::sync::{Arc, Mutex};

use embedded_hal::i2c::{self, ErrorKind, ErrorType, I2c, Operation};
use ssd1306::command::AddrMode;
use ssd1306::mode::BasicMode;
use ssd1306::prelude::{DisplayRotation, DisplaySize128x64, I2CInterface};
use ssd1306::{I2CDisplayInterface, Ssd1306};

use super::frame::{Frame, PAGES, WIDTH};

/// Which controller the module has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Controller {
    Ssd1306,
    Sh1106,
}

/// Where the SH1106's visible columns start in its 132-column RAM.
pub const SH1106_COLUMN_OFFSET: u8 = 2;

/// The fix for a bus that is not there, shared by the messages.
const ENABLE_I2C: &str = "enable I2C: add `dtparam=i2c_arm=on` (with \
     `dtparam=i2c_arm_baudrate=400000` for a quick display) to the boot partition's config.txt, \
     or `sudo raspi-config nonint do_i2c 0`, and reboot; or set [panel] display_bus to the bus \
     the display is on, or display = \"none\"";

#[derive(Debug, thiserror::Error)]
pub enum OledError {
    #[error("the display's I2C bus {bus} does not exist: {ENABLE_I2C}")]
    NoBus { bus: String },
    #[error(
        "cannot open the display's I2C bus {bus}: permission denied; add the box's user to the \
         i2c group (`sudo adduser onair i2c`) and restart it"
    )]
    Permission { bus: String },
    #[error("cannot open the display's I2C bus {bus}: {detail}")]
    Open { bus: String, detail: String },
    #[error(
        "no display answers at address 0x{address:02X} on {bus} ({detail}): check its wiring and \
         power, and [panel] display_address (0x3C or 0x3D; `i2cdetect -y BUS` lists what answers)"
    )]
    NoAnswer {
        bus: String,
        address: u8,
        detail: String,
    },
    #[error("the display at address 0x{address:02X} on {bus} failed: {detail}")]
    Bus {
        bus: String,
        address: u8,
        detail: String,
    },
}

/// What the last failed bus transfer said, kept by [`Remembering`] for
/// the error message (the driver's own error says only that a write failed).
#[derive(Debug, Clone)]
struct BusFault {
    kind: ErrorKind,
    text: String,
}

/// An I2C bus that remembers its last error.
struct Remembering<I> {
    bus: I,
    fault: Arc<Mutex<Option<BusFault>>>,
}

impl<I: I2c> ErrorType for Remembering<I> {
    type Error = I::Error;
}

impl<I> I2c for Remembering<I>
where
    I: I2c,
    I::Error: std::fmt::Display,
{
    fn transaction(
        &mut self,
        address: u8,
        operations: &mut [Operation<'_>],
    ) -> Result<(), Self::Error> {
        let result = self.bus.transaction(address, operations);
        if let Err(e) = &result {
            let fault = BusFault {
                kind: i2c::Error::kind(e),
                text: e.to_string(),
            };
            *self.fault.lock().unwrap_or_else(|e| e.into_inner()) = Some(fault);
        }
        result
    }
}

/// How much the flushes have sent, for tests and a curious log.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sent {
    /// Picture bytes (each is 8 pixels of a column).
    pub data_bytes: usize,
    /// Pages that changed.
    pub pages: usize,
}

/// A 128x64 OLED on `I`, with what it shows now.
pub struct Oled<I: I2c> {
    driver: Ssd1306<I2CInterface<Remembering<I>>, DisplaySize128x64, BasicMode>,
    controller: Controller,
    bus: String,
    address: u8,
    fault: Arc<Mutex<Option<BusFault>>>,
    /// What the display holds; `None` when unknown (before the first
    /// flush, after a failure).
    shown: Option<Frame>,
}

impl<I> Oled<I>
where
    I: I2c,
    I::Error: std::fmt::Display,
{
    /// The display at `address` on `i2c` (named `bus` in messages). Sends
    /// nothing until [`Oled::init`].
    pub fn new(i2c: I, controller: Controller, address: u8, bus: impl Into<String>) -> Self {
        let fault = Arc::new(Mutex::new(None));
        let remembering = Remembering {
            bus: i2c,
            fault: fault.clone(),
        };
        let interface = I2CDisplayInterface::new_custom_address(remembering, address);
        Oled {
            driver: Ssd1306::new(interface, DisplaySize128x64, DisplayRotation::Rotate0),
            controller,
            bus: bus.into(),
            address,
            fault,
            shown: None,
        }
    }

    /// Sets the display up and clears it. The whole of the next frame is
    /// sent.
    pub fn init(&mut self) -> Result<(), OledError> {
        let mode = match self.controller {
            Controller::Ssd1306 => AddrMode::Horizontal,
            Controller::Sh1106 => AddrMode::Page,
        };
        let result = self.driver.init_with_addr_mode(mode);
        self.check(result)?;
        self.shown = None;
        self.flush(&Frame::default())?;
        Ok(())
    }

    /// Sends what differs between `frame` and what the display shows.
    pub fn flush(&mut self, frame: &Frame) -> Result<Sent, OledError> {
        let mut sent = Sent::default();
        for page in 0..PAGES {
            let new = frame.page(page);
            let span = match &self.shown {
                None => Some((0, WIDTH - 1)),
                Some(shown) => changed(shown.page(page), new),
            };
            let Some((first, last)) = span else {
                continue;
            };
            if let Err(e) = self.send(page, first, &new[first..=last]) {
                self.shown = None;
                return Err(e);
            }
            sent.pages += 1;
            sent.data_bytes += last + 1 - first;
        }
        match &mut self.shown {
            Some(shown) => shown.clone_from(frame),
            None => self.shown = Some(frame.clone()),
        }
        Ok(sent)
    }

    /// Clears the display and turns it off (at exit: an OLED left showing
    /// one picture burns it in).
    pub fn blank(&mut self) -> Result<(), OledError> {
        self.flush(&Frame::default())?;
        let result = self.driver.set_display_on(false);
        self.check(result)
    }

    pub fn controller(&self) -> Controller {
        self.controller
    }

    /// The bus back, for a test to read what was sent.
    pub fn release(self) -> I {
        self.driver.release().release().bus
    }

    /// `bytes` into `page` from column `first`.
    fn send(&mut self, page: usize, first: usize, bytes: &[u8]) -> Result<(), OledError> {
        let row = (page * 8) as u8;
        let result = match self.controller {
            Controller::Ssd1306 => {
                let end = (first + bytes.len()) as u8;
                self.driver
                    .set_draw_area((first as u8, row), (end, row + 8))
                    .and_then(|()| self.driver.draw(bytes))
            }
            Controller::Sh1106 => self
                .driver
                .set_row(row)
                .and_then(|()| self.driver.set_column(first as u8 + SH1106_COLUMN_OFFSET))
                .and_then(|()| self.driver.draw(bytes)),
        };
        self.check(result)
    }

    /// The driver's result, its error told with what the bus said.
    fn check<E: std::fmt::Debug>(&mut self, result: Result<(), E>) -> Result<(), OledError> {
        let Err(e) = result else {
            return Ok(());
        };
        let fault = self.fault.lock().unwrap_or_else(|e| e.into_inner()).take();
        let (bus, address) = (self.bus.clone(), self.address);
        Err(match fault {
            // ENXIO, or EREMOTEIO (the Pi's controller), when no device
            // acknowledges the address.
            Some(f)
                if matches!(f.kind, ErrorKind::NoAcknowledge(_))
                    || f.text.contains("Remote I/O") =>
            {
                OledError::NoAnswer {
                    bus,
                    address,
                    detail: f.text,
                }
            }
            Some(f) => OledError::Bus {
                bus,
                address,
                detail: f.text,
            },
            None => OledError::Bus {
                bus,
                address,
                detail: format!("{e:?}"),
            },
        })
    }
}

/// The first and last column that differ between two pages.
fn changed(old: &[u8], new: &[u8]) -> Option<(usize, usize)> {
    let first = old.iter().zip(new).position(|(a, b)| a != b)?;
    let last = old.iter().zip(new).rposition(|(a, b)| a != b)?;
    Some((first, last))
}

/// The display on a Linux I2C bus (`/dev/i2c-1` on the Pi's header pins
/// 3 and 5), initialised and cleared.
pub fn open(
    bus: &Path,
    controller: Controller,
    address: u8,
) -> Result<Oled<linux_embedded_hal::I2cdev>, OledError> {
    let name = bus.display().to_string();
    let i2c = linux_embedded_hal::I2cdev::new(bus).map_err(|e| describe(&name, e))?;
    let mut oled = Oled::new(i2c, controller, address, name);
    oled.init()?;
    Ok(oled)
}

/// An error opening the bus device, in the words of its fix.
fn describe(bus: &str, e: linux_embedded_hal::i2cdev::linux::LinuxI2CError) -> OledError {
    use linux_embedded_hal::i2cdev::linux::LinuxI2CError;
    let bus = bus.to_string();
    let kind = match &e {
        LinuxI2CError::Io(io) => io.kind(),
        LinuxI2CError::Errno(n) => std::io::Error::from_raw_os_error(*n).kind(),
    };
    match kind {
        std::io::ErrorKind::NotFound => OledError::NoBus { bus },
        std::io::ErrorKind::PermissionDenied => OledError::Permission { bus },
        _ => OledError::Open {
            bus,
            detail: e.to_string(),
        },
    }
}
