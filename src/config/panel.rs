//! `[panel]`: the front panel's pins (the Pi's GPIO lines by name, or
//! simulated buttons pressed from the page) and its display. A box without
//! the section has simulated buttons and no display, so the demo runs on
//! any machine.

use std::path::{Path, PathBuf};

use toml::{Table, Value};

use super::Warning;
use super::reader::{TableReader, article_type, join, one_of};

const PANEL_KEYS: &[&str] = &[
    "pins",
    "live_button",
    "auto_button",
    "skip_button",
    "on_air_lamp",
    "live_lamp",
    "alarm_lamp",
    "active_low",
    "lamp_active_low",
    "pull",
    "debounce_ms",
    "display",
    "display_bus",
    "display_address",
];

/// The board's pin map (board/pinmap.md): the buttons on header pins 29, 31
/// and 33, the lamps on 36, 22 and 18, clear of a sound HAT's I2S pins.
pub const DEFAULT_LINES: Lines<&str> = Lines {
    live_button: "GPIO5",
    auto_button: "GPIO6",
    skip_button: "GPIO13",
    on_air_lamp: "GPIO16",
    live_lamp: "GPIO25",
    alarm_lamp: "GPIO24",
};
pub const DEFAULT_DEBOUNCE_MS: u32 = 30;
/// A bounce lasts a few milliseconds; more than 100 ms makes a button feel
/// dead, and a simulated press (120 ms) would no longer register.
const DEBOUNCE_MS: std::ops::RangeInclusive<i64> = 5..=100;
pub const DEFAULT_DISPLAY_BUS: &str = "/dev/i2c-1";
pub const DEFAULT_DISPLAY_ADDRESS: u8 = 0x3C;
/// The 7-bit addresses a device may have (0x00-0x07 and 0x78-0x7F are
/// reserved by the I2C specification).
const I2C_ADDRESSES: std::ops::RangeInclusive<i64> = 0x08..=0x77;

/// `[panel]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PanelConfig {
    pub pins: PanelPins,
    /// The kernel's names of the GPIO lines (`GPIO5`), never a chip and an
    /// offset: chip numbers change between kernels.
    pub lines: Lines<String>,
    /// The buttons read active (pressed) when their line is low: buttons
    /// wired to ground with a pull-up.
    pub active_low: bool,
    /// The lamps are lit by driving their line low (some relay boards).
    pub lamp_active_low: bool,
    /// The bias on the button lines.
    pub pull: Pull,
    /// How long a button's level must stay put before it counts.
    pub debounce_ms: u32,
    pub display: DisplayConfig,
}

impl Default for PanelConfig {
    /// A box without `[panel]`: simulated buttons, no display.
    fn default() -> Self {
        PanelConfig {
            pins: PanelPins::Simulated,
            lines: DEFAULT_LINES.map(str::to_string),
            active_low: true,
            lamp_active_low: false,
            pull: Pull::Up,
            debounce_ms: DEFAULT_DEBOUNCE_MS,
            display: DisplayConfig::default(),
        }
    }
}

/// The six lines of the panel, one field per key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lines<T> {
    pub live_button: T,
    pub auto_button: T,
    pub skip_button: T,
    pub on_air_lamp: T,
    pub live_lamp: T,
    pub alarm_lamp: T,
}

impl<T> Lines<T> {
    pub fn map<U>(self, mut f: impl FnMut(T) -> U) -> Lines<U> {
        Lines {
            live_button: f(self.live_button),
            auto_button: f(self.auto_button),
            skip_button: f(self.skip_button),
            on_air_lamp: f(self.on_air_lamp),
            live_lamp: f(self.live_lamp),
            alarm_lamp: f(self.alarm_lamp),
        }
    }

    /// Each line with its key, buttons first.
    pub fn keyed(&self) -> [(&'static str, &T); 6] {
        [
            ("live_button", &self.live_button),
            ("auto_button", &self.auto_button),
            ("skip_button", &self.skip_button),
            ("on_air_lamp", &self.on_air_lamp),
            ("live_lamp", &self.live_lamp),
            ("alarm_lamp", &self.alarm_lamp),
        ]
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PanelPins {
    /// The kernel's GPIO character device (`/dev/gpiochip*`).
    Gpio,
    /// Buttons pressed from the page or `onair press`; lamps shown on the page.
    Simulated,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pull {
    Up,
    Down,
    None,
}

/// The front-panel display: which controller, on which I2C bus, at which address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayConfig {
    pub kind: DisplayKind,
    /// The I2C bus device, such as `/dev/i2c-1` (header pins 3 and 5).
    pub bus: PathBuf,
    /// The 7-bit address: 0x3C on most modules, 0x3D on some.
    pub address: u8,
}

impl Default for DisplayConfig {
    /// No display; where one is configured, the usual bus and address.
    fn default() -> Self {
        DisplayConfig {
            kind: DisplayKind::None,
            bus: PathBuf::from(DEFAULT_DISPLAY_BUS),
            address: DEFAULT_DISPLAY_ADDRESS,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DisplayKind {
    Ssd1306,
    /// The "1.3 inch" modules: a 132-column RAM shown from column 2.
    Sh1106,
    /// No display: the picture is still drawn for the page.
    None,
}

impl PanelConfig {
    /// What `onair check-config` warns of on this machine: GPIO asked for
    /// where there is none, a display on a bus that is not there. The box
    /// plays on without them.
    pub(super) fn check(&self) -> Vec<Warning> {
        let mut warnings = Vec::new();
        let has_gpio = std::fs::read_dir("/dev").is_ok_and(|entries| {
            entries
                .flatten()
                .any(|e| e.file_name().to_string_lossy().starts_with("gpiochip"))
        });
        if self.pins == PanelPins::Gpio && !has_gpio {
            warnings.push(Warning {
                key: "panel.pins".into(),
                // The value, as warnings show it.
                path: PathBuf::from("gpio"),
                problem: "this machine has no GPIO character device (/dev/gpiochip*), so the \
                          panel's buttons and lamps will not work"
                    .into(),
                fix: "run the box on its Raspberry Pi, or set panel.pins = \"simulated\"".into(),
            });
        }
        let bus = &self.display.bus;
        if self.display.kind != DisplayKind::None && !Path::new(bus).exists() {
            warnings.push(Warning {
                key: "panel.display_bus".into(),
                path: bus.clone(),
                problem: "the I2C bus does not exist, so the panel's display will stay dark".into(),
                fix: "turn I2C on with dtparam=i2c_arm=on in config.txt (board/config.txt) and \
                      reboot, correct panel.display_bus, or set panel.display = \"none\""
                    .into(),
            });
        }
        warnings
    }
}

impl TableReader {
    pub(super) fn panel(&mut self, root: &Table) -> PanelConfig {
        let defaults = PanelConfig::default();
        let Some(table) = self.section(root, "panel", PANEL_KEYS) else {
            return defaults;
        };
        let table = Some(table);
        let pins = self
            .choice(
                table,
                "pins",
                &[
                    ("gpio", PanelPins::Gpio),
                    ("simulated", PanelPins::Simulated),
                ],
                "\"gpio\" (the Pi's GPIO lines, named below) or \"simulated\" (buttons pressed \
                 from the page, for a machine without GPIO)",
            )
            .unwrap_or(defaults.pins);
        let lines = self.lines(table);
        let active_low = self
            .boolean(table, "active_low")
            .unwrap_or(defaults.active_low);
        let lamp_active_low = self
            .boolean(table, "lamp_active_low")
            .unwrap_or(defaults.lamp_active_low);
        let pull = self
            .choice(
                table,
                "pull",
                &[("up", Pull::Up), ("down", Pull::Down), ("none", Pull::None)],
                "\"up\" (buttons to ground), \"down\" (buttons to 3.3 V) or \"none\" (the board \
                 has its own resistors)",
            )
            .unwrap_or(defaults.pull);
        let debounce_ms = self
            .integer("panel", table, "debounce_ms", DEBOUNCE_MS, "milliseconds")
            .map_or(defaults.debounce_ms, |n| n as u32);
        // A box with GPIO has the display on its panel; a simulated panel
        // (a developer's machine) has none unless asked.
        let default_display = match pins {
            PanelPins::Gpio => DisplayKind::Ssd1306,
            PanelPins::Simulated => DisplayKind::None,
        };
        let kind = self
            .choice(
                table,
                "display",
                &[
                    ("ssd1306", DisplayKind::Ssd1306),
                    ("sh1106", DisplayKind::Sh1106),
                    ("none", DisplayKind::None),
                ],
                "\"ssd1306\" (most 0.96 inch OLED modules), \"sh1106\" (most 1.3 inch modules) \
                 or \"none\"",
            )
            .unwrap_or(default_display);
        let bus = self.display_bus(table).unwrap_or(defaults.display.bus);
        let address = self
            .display_address(table)
            .unwrap_or(defaults.display.address);
        PanelConfig {
            pins,
            lines,
            active_low,
            lamp_active_low,
            pull,
            debounce_ms,
            display: DisplayConfig { kind, bus, address },
        }
    }

    /// The six line names, each a name the kernel gives a line, and no
    /// line given two jobs.
    fn lines(&mut self, table: Option<&Table>) -> Lines<String> {
        let mut lines = DEFAULT_LINES.map(str::to_string);
        let mut given: Vec<(&'static str, String)> = Vec::new();
        let keys: Vec<&'static str> = lines.keyed().iter().map(|(k, _)| *k).collect();
        for key in keys {
            let Some(value) = table.and_then(|t| t.get(key)) else {
                continue;
            };
            let Some(name) = self.string("panel", table, key) else {
                continue;
            };
            let name = name.trim();
            if name.chars().any(char::is_whitespace) || name.contains('/') {
                self.problem(
                    join("panel", key),
                    Some(value),
                    "expected the name the kernel gives the line, such as \"GPIO17\" (`gpioinfo` \
                     lists them), not a chip or a path",
                );
                continue;
            }
            let field = match key {
                "live_button" => &mut lines.live_button,
                "auto_button" => &mut lines.auto_button,
                "skip_button" => &mut lines.skip_button,
                "on_air_lamp" => &mut lines.on_air_lamp,
                "live_lamp" => &mut lines.live_lamp,
                _ => &mut lines.alarm_lamp,
            };
            *field = name.to_string();
            given.push((key, name.to_string()));
        }
        // A line can do one job; the kernel would refuse the second request
        // at start, so say which keys collide now.
        for (key, name) in &given {
            let other = lines
                .keyed()
                .into_iter()
                .find(|(k, n)| k != key && n.as_str() == name.as_str());
            if let Some((other, _)) = other {
                self.problem(
                    join("panel", key),
                    Some(&Value::String(name.clone())),
                    format!(
                        "this line is also panel.{other}; each button and lamp needs a line of \
                         its own (board/pinmap.md has the board's)"
                    ),
                );
            }
        }
        lines
    }

    fn display_bus(&mut self, table: Option<&Table>) -> Option<PathBuf> {
        let value = table?.get("display_bus")?;
        let text = self.string("panel", table, "display_bus")?;
        if !text.starts_with('/') {
            self.problem(
                "panel.display_bus",
                Some(value),
                "expected the I2C bus device, such as \"/dev/i2c-1\" (header pins 3 and 5; \
                 `ls /dev/i2c-*` lists them)",
            );
            return None;
        }
        Some(PathBuf::from(text))
    }

    /// An integer (`0x3C`), or the same in quotes as a module's label prints it.
    fn display_address(&mut self, table: Option<&Table>) -> Option<u8> {
        let value = table?.get("display_address")?;
        let number = match value {
            Value::Integer(n) => Some(*n),
            Value::String(s) => {
                let s = s.trim();
                match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
                    Some(hex) => i64::from_str_radix(hex, 16).ok(),
                    None => s.parse().ok(),
                }
            }
            _ => None,
        };
        match number {
            Some(n) if I2C_ADDRESSES.contains(&n) => Some(n as u8),
            _ => {
                let mut expected = format!(
                    "expected the display's 7-bit I2C address, from 0x{:02X} to 0x{:02X}: 0x3C on \
                     most modules, 0x3D when the address jumper is moved (`i2cdetect -y 1` \
                     shows it)",
                    I2C_ADDRESSES.start(),
                    I2C_ADDRESSES.end()
                );
                if let Some(n) = number.filter(|n| (0x78..=0xFF).contains(n)) {
                    // Some modules print the 8-bit write address.
                    expected.push_str(&format!(
                        "; 0x{n:02X} looks like an 8-bit address, which is 0x{:02X} in 7 bits",
                        n >> 1
                    ));
                }
                if !matches!(value, Value::Integer(_) | Value::String(_)) {
                    expected.push_str(&format!(", not {}", article_type(value)));
                }
                self.problem("panel.display_address", Some(value), expected);
                None
            }
        }
    }

    /// One of a few words.
    fn choice<T: Copy>(
        &mut self,
        table: Option<&Table>,
        key: &str,
        choices: &[(&str, T)],
        explained: &str,
    ) -> Option<T> {
        let value = table?.get(key)?;
        let found = value.as_str().and_then(|s| {
            let s = s.trim().to_ascii_lowercase();
            choices.iter().find(|(word, _)| *word == s).map(|(_, t)| *t)
        });
        if found.is_none() {
            let words: Vec<&str> = choices.iter().map(|(w, _)| *w).collect();
            let mut expected = format!("expected one of {}: {explained}", one_of(&words));
            if !value.is_str() {
                expected.push_str(&format!(", in quotes, not {}", article_type(value)));
            }
            self.problem(join("panel", key), Some(value), expected);
        }
        found
    }

    fn boolean(&mut self, table: Option<&Table>, key: &str) -> Option<bool> {
        match table?.get(key)? {
            Value::Boolean(b) => Some(*b),
            other => {
                self.problem(
                    join("panel", key),
                    Some(other),
                    format!(
                        "expected true or false (without quotes), not {}",
                        article_type(other)
                    ),
                );
                None
            }
        }
    }
}
