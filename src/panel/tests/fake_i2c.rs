//! An I2C bus with a pretend OLED on it: it records every write and
//! decodes the SSD1306/SH1106 byte stream (control byte `0x00` commands,
//! `0x40` data; column and page ranges `0x21`/`0x22`, addressing mode
//! `0x20`, page `0xB0+p` and column nibbles in page addressing) into the
//! controller's RAM, so a test can read back the picture the module shows.

use std::sync::{Arc, Mutex, MutexGuard};

use embedded_hal::i2c::{ErrorKind, ErrorType, I2c, NoAcknowledgeSource, Operation};

use crate::panel::oled::Controller;
use crate::panel::{Frame, HEIGHT, PAGES, WIDTH};

/// The SH1106's RAM is 132 columns wide; the SSD1306 uses the first 128.
const RAM_COLUMNS: usize = 132;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Addressing {
    Horizontal,
    Vertical,
    Page,
}

/// The pretend module's state.
pub struct Module {
    pub controller: Controller,
    pub address: u8,
    ram: [[u8; RAM_COLUMNS]; PAGES],
    addressing: Addressing,
    columns: (usize, usize),
    pages: (usize, usize),
    column: usize,
    page: usize,
    pub on: bool,
    pub start_line: u8,
    /// A command and the arguments still to come.
    pending: Option<(u8, Vec<u8>, usize)>,
    /// Every write, as sent.
    pub writes: Vec<Vec<u8>>,
    pub data_bytes: usize,
    /// Commands the controller does not have (SH1106: 0x21, 0x22).
    pub unknown: Vec<u8>,
    /// When set, every transfer fails with this.
    pub fail: Option<ErrorKind>,
}

impl Module {
    fn new(controller: Controller, address: u8) -> Self {
        Module {
            controller,
            address,
            // Garbage at power-up, as a real module has.
            ram: [[0xA5; RAM_COLUMNS]; PAGES],
            addressing: Addressing::Page,
            columns: (0, 127),
            pages: (0, 7),
            column: 0,
            page: 0,
            on: false,
            start_line: 0,
            pending: None,
            writes: Vec::new(),
            data_bytes: 0,
            unknown: Vec::new(),
            fail: None,
        }
    }

    /// The picture the panel shows: the SH1106's from RAM column 2.
    pub fn shown(&self) -> Frame {
        let offset = match self.controller {
            Controller::Ssd1306 => 0,
            Controller::Sh1106 => 2,
        };
        let mut bytes = [0; crate::panel::BYTES];
        for page in 0..PAGES {
            bytes[page * WIDTH..(page + 1) * WIDTH]
                .copy_from_slice(&self.ram[page][offset..offset + WIDTH]);
        }
        Frame::from_bytes(bytes)
    }

    pub fn forget_writes(&mut self) {
        self.writes.clear();
        self.data_bytes = 0;
    }

    fn write(&mut self, bytes: &[u8]) {
        self.writes.push(bytes.to_vec());
        let mut i = 0;
        while i < bytes.len() {
            let control = bytes[i];
            i += 1;
            let data = control & 0x40 != 0;
            // Co = 1: one byte, then another control byte.
            let rest = if control & 0x80 != 0 {
                &bytes[i..(i + 1).min(bytes.len())]
            } else {
                &bytes[i..]
            };
            for &b in rest {
                if data {
                    self.data(b);
                } else {
                    self.command(b);
                }
            }
            i += rest.len();
        }
    }

    fn data(&mut self, b: u8) {
        self.data_bytes += 1;
        let limit = match self.controller {
            Controller::Ssd1306 => 128,
            Controller::Sh1106 => RAM_COLUMNS,
        };
        if self.column < limit && self.page < PAGES {
            self.ram[self.page][self.column] = b;
        }
        match self.addressing {
            Addressing::Horizontal => {
                if self.column >= self.columns.1 {
                    self.column = self.columns.0;
                    self.page = if self.page >= self.pages.1 {
                        self.pages.0
                    } else {
                        self.page + 1
                    };
                } else {
                    self.column += 1;
                }
            }
            Addressing::Vertical => {
                if self.page >= self.pages.1 {
                    self.page = self.pages.0;
                    self.column = if self.column >= self.columns.1 {
                        self.columns.0
                    } else {
                        self.column + 1
                    };
                } else {
                    self.page += 1;
                }
            }
            Addressing::Page => self.column = (self.column + 1).min(limit),
        }
    }

    /// How many argument bytes follow a command.
    fn arguments(&self, command: u8) -> usize {
        match command {
            0x20 | 0x81 | 0x8D | 0xA8 | 0xAD | 0xD3 | 0xD5 | 0xD9 | 0xDA | 0xDB => 1,
            0x21 | 0x22 | 0xA3 => 2,
            0x29 | 0x2A => 5,
            0x26 | 0x27 => 6,
            _ => 0,
        }
    }

    fn command(&mut self, b: u8) {
        if let Some((command, mut args, wanted)) = self.pending.take() {
            args.push(b);
            if args.len() < wanted {
                self.pending = Some((command, args, wanted));
            } else {
                self.run(command, &args);
            }
            return;
        }
        let wanted = self.arguments(b);
        if wanted > 0 {
            self.pending = Some((b, Vec::new(), wanted));
        } else {
            self.run(b, &[]);
        }
    }

    fn run(&mut self, command: u8, args: &[u8]) {
        let sh1106 = self.controller == Controller::Sh1106;
        match command {
            // Not SH1106 commands: the SSD1306's charge pump and
            // addressing mode are left alone by it; ranges would be wrong.
            0x20 | 0x8D if sh1106 => {}
            0x21 | 0x22 if sh1106 => self.unknown.push(command),
            0x20 => {
                self.addressing = match args[0] & 3 {
                    0 => Addressing::Horizontal,
                    1 => Addressing::Vertical,
                    _ => Addressing::Page,
                }
            }
            0x21 => {
                self.columns = (args[0] as usize & 0x7F, args[1] as usize & 0x7F);
                self.column = self.columns.0;
            }
            0x22 => {
                self.pages = (args[0] as usize & 7, args[1] as usize & 7);
                self.page = self.pages.0;
            }
            0x00..=0x0F => self.column = (self.column & 0xF0) | command as usize,
            0x10..=0x1F => self.column = (self.column & 0x0F) | ((command as usize & 0x0F) << 4),
            0x40..=0x7F => self.start_line = command & 0x3F,
            0xAE => self.on = false,
            0xAF => self.on = true,
            0xB0..=0xB7 => self.page = command as usize & 7,
            _ => {}
        }
    }
}

/// The bus, shared with the test that reads the module.
#[derive(Clone)]
pub struct FakeI2c {
    module: Arc<Mutex<Module>>,
}

impl FakeI2c {
    pub fn new(controller: Controller, address: u8) -> Self {
        FakeI2c {
            module: Arc::new(Mutex::new(Module::new(controller, address))),
        }
    }

    pub fn module(&self) -> MutexGuard<'_, Module> {
        self.module.lock().unwrap()
    }
}

#[derive(Debug)]
pub struct FakeError(pub ErrorKind);

impl std::fmt::Display for FakeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl embedded_hal::i2c::Error for FakeError {
    fn kind(&self) -> ErrorKind {
        self.0
    }
}

impl ErrorType for FakeI2c {
    type Error = FakeError;
}

impl I2c for FakeI2c {
    fn transaction(
        &mut self,
        address: u8,
        operations: &mut [Operation<'_>],
    ) -> Result<(), Self::Error> {
        let mut module = self.module();
        if let Some(kind) = module.fail {
            return Err(FakeError(kind));
        }
        if address != module.address {
            return Err(FakeError(ErrorKind::NoAcknowledge(
                NoAcknowledgeSource::Address,
            )));
        }
        for operation in operations {
            match operation {
                Operation::Write(bytes) => module.write(bytes),
                Operation::Read(buffer) => buffer.fill(0),
            }
        }
        Ok(())
    }
}

/// The frame's pixels as the PNG shows them, decoded with the `png` crate.
pub fn png_pixels(frame: &Frame) -> Vec<bool> {
    let png = frame.png();
    let decoder = png::Decoder::new(std::io::Cursor::new(png));
    let mut reader = decoder.read_info().unwrap();
    let mut buffer = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buffer).unwrap();
    assert_eq!((info.width, info.height), (WIDTH as u32, HEIGHT as u32));
    assert_eq!(info.color_type, png::ColorType::Grayscale);
    buffer[..info.buffer_size()]
        .iter()
        .map(|&v| v > 127)
        .collect()
}

/// A frame's pixels in the same order.
pub fn pixels(frame: &Frame) -> Vec<bool> {
    (0..HEIGHT)
        .flat_map(|y| (0..WIDTH).map(move |x| (x, y)))
        .map(|(x, y)| frame.pixel(x, y))
        .collect()
}
