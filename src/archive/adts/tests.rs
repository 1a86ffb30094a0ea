use super::*;

/// An ADTS header: AAC-LC, no CRC, `rate_index`, stereo, `length` bytes
/// with the header, `blocks` raw data blocks.
pub fn header(rate_index: u8, length: usize, blocks: u8) -> [u8; 7] {
    let profile = 1u8; // AAC-LC
    let channels = 2u8;
    [
        0xFF,
        0xF1,
        (profile << 6) | (rate_index << 2) | (channels >> 2),
        ((channels & 0x03) << 6) | ((length >> 11) as u8 & 0x03),
        (length >> 3) as u8,
        (((length & 0x07) as u8) << 5) | 0x1F,
        0xFC | (blocks - 1),
    ]
}

#[test]
fn a_44_1_khz_stereo_lc_header_reads_as_written() {
    let parsed = AdtsHeader::parse(&header(4, 371, 1)).unwrap();
    assert_eq!(
        parsed,
        AdtsHeader {
            length: 371,
            samples: 1024,
            sample_rate: 44_100,
            channels: 2,
            profile: 1,
        }
    );
    // 48 kHz, the longest length 13 bits hold, four blocks.
    let long = AdtsHeader::parse(&header(3, 8191, 4)).unwrap();
    assert_eq!(
        (long.sample_rate, long.length, long.samples),
        (48_000, 8191, 4096)
    );
    // What ffmpeg's ADTS muxer writes at 44.1 kHz stereo (a real header).
    let ffmpeg = [0xFF, 0xF1, 0x50, 0x80, 0x2E, 0x7F, 0xFC];
    let parsed = AdtsHeader::parse(&ffmpeg).unwrap();
    assert_eq!(
        (parsed.sample_rate, parsed.channels, parsed.length),
        (44_100, 2, 371)
    );
}

#[test]
fn what_is_not_an_adts_header_is_refused() {
    let good = header(4, 371, 1);
    let mut reserved_rate = good;
    reserved_rate[2] = (reserved_rate[2] & !0x3C) | (13 << 2);
    let mut reserved_profile = good;
    reserved_profile[2] |= 0xC0;
    let mut mp3_layer = good;
    mp3_layer[1] = 0xFB; // layer III: an MP3 frame header
    // Bad input, each: no sync word, an MP3 header, a reserved sample
    // rate, a reserved profile, a length shorter than the header, too few
    // bytes.
    for bytes in [
        &[0x49, 0x44, 0x33, 0x04, 0, 0, 0][..],
        &mp3_layer,
        &reserved_rate,
        &reserved_profile,
        &header(4, 7, 1),
        &good[..6],
    ] {
        assert_eq!(AdtsHeader::parse(bytes), None, "{bytes:02x?}");
    }
}

#[test]
fn whole_frames_are_walked_to_the_last_one() {
    let mut bytes = Vec::new();
    for length in [300usize, 371, 20] {
        bytes.extend_from_slice(&header(4, length, 1));
        bytes.resize(bytes.len() + length - 7, 0x11);
    }
    // Bad input: a frame cut short at the end.
    bytes.extend_from_slice(&header(4, 400, 1));
    bytes.resize(bytes.len() + 50, 0x11);
    assert_eq!(frame_ends(&bytes), [(300, 1024), (671, 1024), (691, 1024)]);
}
