//! One picture of the front-panel display: 128x64 pixels, one bit each,
//! laid out as the SSD1306 holds them (8 pages of 128 columns, a byte per
//! column of 8 rows, the top row in bit 0). The display is sent these very
//! bytes and `/panel.png` is encoded from them, so what the page mirrors
//! is what the panel shows.

use embedded_graphics::Pixel;
use embedded_graphics::pixelcolor::BinaryColor;
use embedded_graphics::prelude::{DrawTarget, OriginDimensions, Size};
use embedded_graphics::primitives::Rectangle;

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

    /// All pixels off.
    pub fn clear(&mut self) {
        self.bytes = [0; BYTES];
    }

    /// One page: 8 rows, a byte per column, as the display holds it.
    pub fn page(&self, page: usize) -> &[u8] {
        &self.bytes[page * WIDTH..(page + 1) * WIDTH]
    }

    /// How many pixels are lit inside `area` (clipped to the frame).
    pub fn lit_in(&self, area: &Rectangle) -> usize {
        pixels_of(area).filter(|&(x, y)| self.pixel(x, y)).count()
    }

    /// Whether every pixel inside `area` is the same in both frames.
    pub fn same_in(&self, other: &Frame, area: &Rectangle) -> bool {
        pixels_of(area).all(|(x, y)| self.pixel(x, y) == other.pixel(x, y))
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

/// The frame's pixels inside `area`, as (x, y).
fn pixels_of(area: &Rectangle) -> impl Iterator<Item = (usize, usize)> {
    let x0 = area.top_left.x.clamp(0, WIDTH as i32) as usize;
    let y0 = area.top_left.y.clamp(0, HEIGHT as i32) as usize;
    let x1 = (area.top_left.x + area.size.width as i32).clamp(0, WIDTH as i32) as usize;
    let y1 = (area.top_left.y + area.size.height as i32).clamp(0, HEIGHT as i32) as usize;
    (y0..y1).flat_map(move |y| (x0..x1).map(move |x| (x, y)))
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
