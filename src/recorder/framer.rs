//! The stream's bytes into frames: MP3 ([`archive::frames`]) or AAC in
//! ADTS ([`adts`]), whichever the stream carries, found from its first
//! frames and found again after garbage.
//!
//! A frame is only believed where the stream is in step: right after a
//! frame of the same format. Anywhere else (at the start, after bytes
//! that are no frame) a header must be followed by another header of the
//! same format where its length says, or a byte that happens to look like
//! a header inside garbage or an ID3 tag would be taken for a frame. Bytes
//! that are no frame are skipped one at a time and counted.
//!
//! [`archive::frames`]: crate::archive::frames

use std::fmt;

use crate::archive::adts::AdtsHeader;
use crate::archive::frames::FrameHeader;
use crate::archive::names::Codec;

/// A stream's format: what its segments hold, and what a change of it
/// moves to another quality folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Format {
    pub codec: Codec,
    pub sample_rate: u32,
}

impl fmt::Display for Format {
    /// `mp3-44100`, `aac-48000`: as a quality folder's name carries it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.codec.extension(), self.sample_rate)
    }
}

impl Format {
    /// Reads what [`Display`](fmt::Display) writes.
    pub fn parse(text: &str) -> Option<Format> {
        let (codec, rate) = text.trim().split_once('-')?;
        let codec = match codec {
            "mp3" => Codec::Mp3,
            "aac" => Codec::Aac,
            _ => return None,
        };
        Some(Format {
            codec,
            sample_rate: rate.parse().ok().filter(|r| *r > 0)?,
        })
    }
}

/// One frame's header, whichever the codec.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameInfo {
    pub format: Format,
    /// Bytes, header included.
    pub length: usize,
    /// Samples per channel it decodes to.
    pub samples: u32,
}

/// Bytes a header needs to be read, at most (ADTS's, without the CRC).
const HEADER_BYTES: usize = 7;

/// The frame header at the start of `bytes`, MP3 or ADTS.
pub fn header(bytes: &[u8]) -> Option<FrameInfo> {
    if let Some(h) = FrameHeader::parse(bytes) {
        return Some(FrameInfo {
            format: Format {
                codec: Codec::Mp3,
                sample_rate: h.sample_rate,
            },
            length: h.length,
            samples: h.samples,
        });
    }
    AdtsHeader::parse(bytes).map(|h| FrameInfo {
        format: Format {
            codec: Codec::Aac,
            sample_rate: h.sample_rate,
        },
        length: h.length,
        samples: h.samples,
    })
}

/// Whether an MP3 frame is the Xing or Info frame an encoder puts first in
/// a file (its seek table, no audio): a stream sent from a file may carry
/// it, and a segment must not.
pub fn is_info_frame(frame: &[u8]) -> bool {
    let head = &frame[..frame.len().min(64)];
    head.windows(4).any(|w| w == b"Xing" || w == b"Info")
}

/// Cuts a byte stream into frames.
#[derive(Debug, Default)]
pub struct Framer {
    /// Bytes not yet cut: the start of a frame not complete yet, and what
    /// is being looked through.
    buffer: Vec<u8>,
    /// The format of the frame just taken, while the stream is in step.
    in_step: Option<Format>,
    /// Bytes skipped because they were no frame.
    pub skipped: u64,
    /// Where `buffer` starts in the stream's audio: bytes cut or skipped
    /// before it.
    taken: u64,
}

impl Framer {
    pub fn new() -> Self {
        Framer {
            buffer: Vec::with_capacity(32 * 1024),
            in_step: None,
            skipped: 0,
            taken: 0,
        }
    }

    /// Starts again, as after a reconnection: nothing carried over.
    pub fn reset(&mut self) {
        self.buffer.clear();
        self.in_step = None;
        self.taken = 0;
    }

    /// Bytes held, waiting for the rest of a frame.
    pub fn held(&self) -> usize {
        self.buffer.len()
    }

    /// Takes `bytes` and hands over every whole frame they complete, in
    /// order, with where it starts in the stream's audio (bytes pushed
    /// since the start or the last [`reset`](Self::reset) before it).
    pub fn push(&mut self, bytes: &[u8], out: &mut impl FnMut(FrameInfo, u64, &[u8])) {
        let mut buffer = std::mem::take(&mut self.buffer);
        buffer.extend_from_slice(bytes);
        let at = self.cut(&buffer, out);
        buffer.drain(..at);
        self.buffer = buffer;
        self.taken += at as u64;
    }

    /// Cuts the frames at the start of `bytes` (which starts `taken`
    /// bytes into the stream); returns how far it got.
    fn cut(&mut self, bytes: &[u8], out: &mut impl FnMut(FrameInfo, u64, &[u8])) -> usize {
        let mut at = 0;
        loop {
            let rest = &bytes[at..];
            if rest.len() < HEADER_BYTES {
                break;
            }
            let Some(info) = header(rest) else {
                at += 1;
                self.skipped += 1;
                self.in_step = None;
                continue;
            };
            if rest.len() < info.length {
                break; // the rest of the frame has not come yet
            }
            if self.in_step != Some(info.format) {
                // Out of step: believed only when another header of the
                // same format follows.
                let next = &rest[info.length..];
                if next.len() < HEADER_BYTES {
                    break;
                }
                if header(next).map(|n| n.format) != Some(info.format) {
                    at += 1;
                    self.skipped += 1;
                    self.in_step = None;
                    continue;
                }
            }
            out(info, self.taken + at as u64, &rest[..info.length]);
            self.in_step = Some(info.format);
            at += info.length;
        }
        at
    }
}

#[cfg(test)]
mod tests;
