//! The ID3 tag at the start of every segment: RFC 8216 §3.4's packed-audio
//! timestamp, a PRIV frame owned by
//! `com.apple.streaming.transportStreamTimestamp` whose payload is the
//! 33-bit MPEG-2 timestamp (90 kHz) of the segment's first sample, as a
//! big-endian eight-byte number. HLS players (hls.js, ffmpeg, Apple's)
//! place the segment on their timeline by it.

/// Bytes of the tag: a 10-byte ID3v2.4 header, a 10-byte frame header,
/// the 45-byte owner (with its NUL) and the 8-byte timestamp.
pub const TAG_BYTES: usize = 73;

const OWNER: &[u8] = b"com.apple.streaming.transportStreamTimestamp\0";

/// The timestamp wraps every 2^33 ticks (26 h 30 min 43.7 s).
pub const PTS_WRAP: u64 = 1 << 33;

/// The 90 kHz timestamp of an instant given in microseconds since the Unix
/// epoch, rounded to the nearest tick, modulo 2^33.
pub fn pts_of_micros(micros: i64) -> u64 {
    let ticks = (i128::from(micros) * 9 + 50).div_euclid(100);
    ticks.rem_euclid(i128::from(PTS_WRAP)) as u64
}

/// The tag for a segment whose first sample is at `pts` (90 kHz ticks).
pub fn timestamp_tag(pts: u64) -> [u8; TAG_BYTES] {
    let mut tag = [0u8; TAG_BYTES];
    // "ID3", version 4.0, no flags, size 63 (syncsafe: under 128 it is itself).
    tag[..10].copy_from_slice(&[b'I', b'D', b'3', 4, 0, 0, 0, 0, 0, 63]);
    // "PRIV", size 53 (owner 45 + payload 8), no flags.
    tag[10..20].copy_from_slice(&[b'P', b'R', b'I', b'V', 0, 0, 0, 53, 0, 0]);
    tag[20..65].copy_from_slice(OWNER);
    tag[65..].copy_from_slice(&(pts % PTS_WRAP).to_be_bytes());
    tag
}

/// How many bytes an ID3v2 tag at the start of `bytes` takes (0 without
/// one), so a reader can skip to the first MP3 frame whoever wrote the tag.
pub fn tag_length(bytes: &[u8]) -> usize {
    let Some(header) = bytes.get(..10) else {
        return 0;
    };
    if &header[..3] != b"ID3" || header[6..10].iter().any(|b| b & 0x80 != 0) {
        return 0;
    }
    // The size is "syncsafe": seven bits a byte, without the header (and
    // without a footer, which flag 0x10 announces).
    let size = header[6..10]
        .iter()
        .fold(0usize, |n, &b| (n << 7) | usize::from(b));
    let footer = if header[5] & 0x10 != 0 { 10 } else { 0 };
    (10 + size + footer).min(bytes.len())
}

/// The timestamp in a tag at the start of `bytes`, if it is one.
pub fn read_timestamp(bytes: &[u8]) -> Option<u64> {
    let tag = bytes.get(..TAG_BYTES)?;
    if &tag[..3] != b"ID3" || &tag[10..14] != b"PRIV" || &tag[20..65] != OWNER {
        return None;
    }
    let mut payload = [0u8; 8];
    payload.copy_from_slice(&tag[65..]);
    let pts = u64::from_be_bytes(payload);
    (pts < PTS_WRAP).then_some(pts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tag_is_73_bytes_as_the_rfc_lays_them_out() {
        let tag = timestamp_tag(0x1_2345_6789);
        assert_eq!(tag.len(), 73);
        assert_eq!(&tag[..10], b"ID3\x04\x00\x00\x00\x00\x00\x3f");
        assert_eq!(&tag[10..20], b"PRIV\x00\x00\x00\x35\x00\x00");
        assert_eq!(
            &tag[20..65],
            b"com.apple.streaming.transportStreamTimestamp\0"
        );
        // The upper 31 bits are zero, the 33-bit timestamp big-endian.
        assert_eq!(&tag[65..], &[0, 0, 0, 1, 0x23, 0x45, 0x67, 0x89]);
        assert_eq!(read_timestamp(&tag), Some(0x1_2345_6789));
        assert_eq!(tag_length(&tag), TAG_BYTES);
        // Bad input: no tag, a size with its top bit set, a truncated tag.
        assert_eq!(tag_length(b"\xff\xfb\x94\x64"), 0);
        assert_eq!(tag_length(b"ID3\x04\x00\x00\x80\x00\x00\x3f"), 0);
        assert_eq!(tag_length(&tag[..40]), 40);
    }

    #[test]
    fn timestamps_are_90_khz_ticks_of_the_epoch_and_wrap_at_2_pow_33() {
        // 6 s is 540 000 ticks; a 48 kHz MP3 frame (24 ms) 2160.
        assert_eq!(pts_of_micros(6_000_000), 540_000);
        assert_eq!(pts_of_micros(24_000), 2160);
        // 2026-01-05T11:00:00Z is 1 767 610 800 s: past many wraps.
        let micros = 1_767_610_800_000_000i64;
        let ticks = 1_767_610_800u128 * 90_000;
        assert_eq!(u128::from(pts_of_micros(micros)), ticks % (1u128 << 33));
        // Bad input: a tag whose owner is someone else's is not read.
        let mut other = timestamp_tag(1);
        other[20] = b'x';
        assert_eq!(read_timestamp(&other), None);
    }
}
