//! The front-panel display: a pure render of the status snapshot into a
//! 1-bit 128x64 [`Frame`], sent to the OLED and served as `/panel.png`.

mod frame;

pub use frame::{BYTES, Frame, HEIGHT, PAGES, WIDTH};
