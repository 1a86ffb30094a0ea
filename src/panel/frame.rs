//! One picture of the front-panel display: 128x64 pixels, one bit each,
//! laid out as the SSD1306 holds them (8 pages of 128 columns, a byte per
//! column of 8 rows, the top row in bit 0). The display is sent these very
//! bytes and `/panel.png` is encoded from them, so what the page mirrors
//! is what the panel shows.

use embedded_graphics::Pixel;
use embedded_graphics::pixelcolor::BinaryColor;
use embedded_graphics::prelude::{DrawTarget, OriginDimensions, Size};

pub const WIDTH: usize = 128;
pub const HEIGHT: usize = 64;
pub const PAGES: usize = HEIGHT / 8;
pub const BYTES: usize = WIDTH * PAGES;

#[derive(Clone, PartialEq, Eq)]
pub struct Frame {
    bytes: [u8; BYTES],
}

impl Default for Frame {
    fn default() -> Self {
        Frame { bytes: [0; BYTES] }
    }
}

impl std::fmt::Debug for Frame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let lit = self.bytes.iter().map(|b| b.count_ones()).sum::<u32>();
        write!(f, "Frame({lit} pixels lit)")
    }
}

impl Frame {
    /// The bytes in the display's own order (page by page, column by column).
    pub fn bytes(&self) -> &[u8; BYTES] {
        &self.bytes
    }

    pub fn from_bytes(bytes: [u8; BYTES]) -> Frame {
        Frame { bytes }
    }

    pub fn pixel(&self, x: usize, y: usize) -> bool {
        x < WIDTH && y < HEIGHT && self.bytes[(y / 8) * WIDTH + x] & (1 << (y % 8)) != 0
    }

    pub fn set(&mut self, x: usize, y: usize, on: bool) {
        if x >= WIDTH || y >= HEIGHT {
            return;
        }
        let byte = &mut self.bytes[(y / 8) * WIDTH + x];
        let bit = 1 << (y % 8);
        if on {
            *byte |= bit;
        } else {
            *byte &= !bit;
        }
    }

    /// The frame as a 128x64 greyscale PNG, lit pixels white.
    pub fn png(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(1024);
        let mut encoder = png::Encoder::new(&mut out, WIDTH as u32, HEIGHT as u32);
        encoder.set_color(png::ColorType::Grayscale);
        encoder.set_depth(png::BitDepth::Eight);
        let mut pixels = Vec::with_capacity(WIDTH * HEIGHT);
        for y in 0..HEIGHT {
            for x in 0..WIDTH {
                pixels.push(if self.pixel(x, y) { 255 } else { 0 });
            }
        }
        // Writing into a Vec cannot fail; the sizes are the frame's own.
        let mut writer = encoder
            .write_header()
            .expect("a PNG header for a fixed-size frame");
        writer
            .write_image_data(&pixels)
            .expect("PNG data for a fixed-size frame");
        drop(writer);
        out
    }
}

impl OriginDimensions for Frame {
    fn size(&self) -> Size {
        Size::new(WIDTH as u32, HEIGHT as u32)
    }
}

impl DrawTarget for Frame {
    type Color = BinaryColor;
    type Error = std::convert::Infallible;

    fn draw_iter<I>(&mut self, pixels: I) -> Result<(), Self::Error>
    where
        I: IntoIterator<Item = Pixel<Self::Color>>,
    {
        for Pixel(point, color) in pixels {
            if point.x >= 0 && point.y >= 0 {
                self.set(point.x as usize, point.y as usize, color.is_on());
            }
        }
        Ok(())
    }
}
