//! AAC in ADTS: the 7-byte (9 with a CRC) header before every AAC frame
//! of an Icecast or Shoutcast AAC stream, read far enough to cut the
//! stream between frames and time it: the sync word, the sample rate, the
//! frame's length and how many 1024-sample blocks it carries.
//!
//! The header, bit by bit (ISO/IEC 13818-7, 6.2): sync 0xFFF (12), MPEG
//! version (1), layer 00 (2), no CRC (1), profile (2), sample rate index
//! (4), private (1), channel configuration (3), original, home, two
//! copyright bits (4), frame length with the header (13), buffer fullness
//! (11), raw data blocks minus one (2).

/// The sample rates by their index; 13 to 15 are reserved.
pub const SAMPLE_RATES: [u32; 13] = [
    96_000, 88_200, 64_000, 48_000, 44_100, 32_000, 24_000, 22_050, 16_000, 12_000, 11_025, 8_000,
    7_350,
];

/// Samples (per channel) one raw data block decodes to.
pub const SAMPLES_PER_BLOCK: u32 = 1024;

/// One ADTS header, read from a frame's first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdtsHeader {
    /// The whole frame, header included, in bytes.
    pub length: usize,
    /// Samples per channel it decodes to: 1024 a block.
    pub samples: u32,
    pub sample_rate: u32,
    /// The channel configuration (0: given in the stream, 1: mono, 2: stereo…).
    pub channels: u8,
    /// The audio object type minus one (1: AAC-LC).
    pub profile: u8,
}

impl AdtsHeader {
    /// The header at the start of `bytes`, if there is one. A reserved
    /// sample rate or profile, or a length shorter than the header, is
    /// not a header.
    pub fn parse(bytes: &[u8]) -> Option<AdtsHeader> {
        let b = bytes.get(..7)?;
        // The sync word's 12 bits, then the layer, which is always 00.
        if b[0] != 0xFF || b[1] & 0xF6 != 0xF0 {
            return None;
        }
        let header_length = if b[1] & 0x01 == 1 { 7 } else { 9 };
        let profile = b[2] >> 6;
        if profile == 3 {
            return None;
        }
        let sample_rate = *SAMPLE_RATES.get(usize::from((b[2] >> 2) & 0x0F))?;
        let channels = ((b[2] & 0x01) << 2) | (b[3] >> 6);
        let length =
            (usize::from(b[3] & 0x03) << 11) | (usize::from(b[4]) << 3) | usize::from(b[5] >> 5);
        if length <= header_length {
            return None;
        }
        let blocks = u32::from(b[6] & 0x03) + 1;
        Some(AdtsHeader {
            length,
            samples: blocks * SAMPLES_PER_BLOCK,
            sample_rate,
            channels,
            profile,
        })
    }
}

/// The frames in `bytes` from its start, each one's end and samples, to
/// the last whole one: what the archive's store keeps of a segment that
/// reached a full disk only in part.
pub fn frame_ends(bytes: &[u8]) -> Vec<(usize, u64)> {
    let mut ends = Vec::new();
    let mut at = 0;
    while let Some(header) = AdtsHeader::parse(&bytes[at..]) {
        if at + header.length > bytes.len() {
            break;
        }
        at += header.length;
        ends.push((at, u64::from(header.samples)));
    }
    ends
}

#[cfg(test)]
pub(crate) mod tests;
