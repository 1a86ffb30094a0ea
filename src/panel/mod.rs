//! The front-panel display: a pure render of the status snapshot into a
//! 1-bit 128x64 [`Frame`] ([`render`]), sent to the OLED ([`oled`]) and
//! served as `/panel.png`; the [`screen`] task does both several times a
//! second while a display or a page shows it, and nothing otherwise.

mod frame;
pub mod oled;
pub mod render;
pub mod screen;
mod text;

pub use frame::{BYTES, Frame, HEIGHT, PAGES, WIDTH};
pub use screen::{DisplayConfig, DisplayKind, Mirror, Screen, Watching};

#[cfg(test)]
mod tests;
