//! MP3 frame headers: where a frame starts, how long it is and how many
//! samples it decodes to, so that segments are cut between frames and
//! timed by counting them. MPEG-1, 2 and 2.5, layer III only (what LAME
//! makes); anything else is not a frame here.

/// One MP3 frame header, read from its first four bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    /// The whole frame, header included, in bytes.
    pub length: usize,
    /// Samples per channel it decodes to: 1152 (MPEG-1) or 576.
    pub samples: u32,
    pub sample_rate: u32,
    /// kbit/s.
    pub bitrate: u32,
}

const BITRATES_V1: [u32; 15] = [
    0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320,
];
const BITRATES_V2: [u32; 15] = [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160];

impl FrameHeader {
    /// The header at the start of `bytes`, if there is one. A free-format
    /// frame (bitrate index 0) is refused: its length is not in its header.
    pub fn parse(bytes: &[u8]) -> Option<FrameHeader> {
        let b = bytes.get(..4)?;
        if b[0] != 0xFF || b[1] & 0xE0 != 0xE0 {
            return None;
        }
        let version = (b[1] >> 3) & 0x03; // 0: 2.5, 2: 2, 3: 1
        let layer = (b[1] >> 1) & 0x03; // 1: layer III
        if version == 1 || layer != 1 {
            return None;
        }
        let bitrate_index = usize::from(b[2] >> 4);
        let rate_index = usize::from((b[2] >> 2) & 0x03);
        if bitrate_index == 0 || bitrate_index == 15 || rate_index == 3 {
            return None;
        }
        let padding = usize::from((b[2] >> 1) & 0x01);
        let base_rate = [44_100, 48_000, 32_000][rate_index];
        let (sample_rate, bitrate, samples) = match version {
            3 => (base_rate, BITRATES_V1[bitrate_index], 1152),
            2 => (base_rate / 2, BITRATES_V2[bitrate_index], 576),
            _ => (base_rate / 4, BITRATES_V2[bitrate_index], 576),
        };
        // Bytes per frame: samples / 8 bits × bitrate / rate, plus the pad byte.
        let length =
            (samples as usize / 8) * bitrate as usize * 1000 / sample_rate as usize + padding;
        Some(FrameHeader {
            length,
            samples,
            sample_rate,
            bitrate,
        })
    }
}

/// The frames in `bytes`, from its start: each one's header and where it
/// begins. Stops at the first byte that does not start a whole frame
/// (the rest is for the caller: a frame cut short, or not MP3).
pub fn frames(bytes: &[u8]) -> impl Iterator<Item = (usize, FrameHeader)> + '_ {
    let mut at = 0;
    std::iter::from_fn(move || {
        let header = FrameHeader::parse(&bytes[at..])?;
        if at + header.length > bytes.len() {
            return None;
        }
        let start = at;
        at += header.length;
        Some((start, header))
    })
}

/// How many whole frames `bytes` holds, and the bytes they take.
pub fn count(bytes: &[u8]) -> (u64, usize) {
    frames(bytes).fold((0, 0), |(n, _), (start, h)| (n + 1, start + h.length))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_128_kbit_48_khz_frame_is_384_bytes_and_1152_samples() {
        let header = FrameHeader::parse(&[0xFF, 0xFB, 0x94, 0x64]).unwrap();
        assert_eq!(
            header,
            FrameHeader {
                length: 384,
                samples: 1152,
                sample_rate: 48_000,
                bitrate: 128
            }
        );
        // 44.1 kHz with the pad byte: 417 + 1.
        let padded = FrameHeader::parse(&[0xFF, 0xFB, 0x92, 0x64]).unwrap();
        assert_eq!((padded.length, padded.sample_rate), (418, 44_100));
        // MPEG-2 at 24 kHz, 64 kbit/s: 576 samples, 192 bytes.
        let v2 = FrameHeader::parse(&[0xFF, 0xF3, 0x84, 0x64]).unwrap();
        assert_eq!((v2.length, v2.samples, v2.sample_rate), (192, 576, 24_000));
    }

    #[test]
    fn what_is_not_a_layer_3_frame_is_refused() {
        // Bad input: no sync, a layer II header, a free-format frame, a
        // reserved sample rate, too few bytes.
        for bytes in [
            &[0x49, 0x44, 0x33, 0x04][..],
            &[0xFF, 0xFD, 0x94, 0x64],
            &[0xFF, 0xFB, 0x04, 0x64],
            &[0xFF, 0xFB, 0x9C, 0x64],
            &[0xFF, 0xFB],
        ] {
            assert_eq!(FrameHeader::parse(bytes), None, "{bytes:02x?}");
        }
    }

    #[test]
    fn frames_are_walked_to_the_last_whole_one() {
        let mut bytes = Vec::new();
        for _ in 0..3 {
            bytes.extend_from_slice(&[0xFF, 0xFB, 0x94, 0x64]);
            bytes.resize(bytes.len() + 380, 0);
        }
        bytes.extend_from_slice(&[0xFF, 0xFB, 0x94, 0x64, 0, 0]);
        assert_eq!(count(&bytes), (3, 3 * 384));
        let starts: Vec<usize> = frames(&bytes).map(|(at, _)| at).collect();
        assert_eq!(starts, [0, 384, 768]);
    }
}
