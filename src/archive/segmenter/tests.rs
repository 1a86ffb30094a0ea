use super::*;

/// One 128 kbit/s 48 kHz MPEG-1 layer III frame (384 bytes, 1152 samples)
/// of silence-shaped bytes, marked with `n` so frames can be told apart.
fn frame(n: u8) -> Vec<u8> {
    let mut bytes = vec![0xFF, 0xFB, 0x94, 0x64];
    bytes.resize(384, n);
    bytes
}

fn frames(range: std::ops::Range<u32>) -> Vec<u8> {
    range.flat_map(|n| frame(n as u8)).collect()
}

const ANCHOR: i64 = 1_767_610_800_000_000; // 2026-01-05T11:00:00Z

fn segmenter() -> Segmenter {
    Segmenter::new(
        Timing {
            anchor_micros: ANCHOR,
            engine_rate: 48_000,
        },
        6,
    )
}

/// Feeds `bytes` in pieces of `piece` bytes (cutting frames anywhere).
fn feed(s: &mut Segmenter, bytes: &[u8], piece: usize, out: &mut Vec<Segment>) {
    for chunk in bytes.chunks(piece) {
        s.push(chunk, &mut |seg| out.push(seg));
    }
}

#[test]
fn six_seconds_at_48_khz_are_250_frames_named_at_their_first_decoded_sample() {
    let mut s = segmenter();
    assert_eq!(s.frames_per_segment(1152, 48_000), 250);
    let mut out = Vec::new();
    // Chunks of 7 whole frames, as the encoder hands them out.
    feed(&mut s, &frames(0..600), 7 * 384, &mut out);
    assert_eq!(out.len(), 2);
    for (i, segment) in out.iter().enumerate() {
        assert!(segment.full);
        assert_eq!(segment.frames, 250);
        assert_eq!(segment.duration(), 6.0);
        assert_eq!(segment.mp3.len(), 250 * 384);
        // The codec's 1105 samples (23.02 ms) before the programme's time.
        let start = ANCHOR + i as i64 * 6_000_000 - 23_021;
        assert_eq!(segment.start_micros, start, "segment {i}");
    }
    assert_eq!(out[1].mp3[..384], frame(250)[..]);
    s.finish(&mut |seg| out.push(seg));
    assert_eq!(out.len(), 3);
    assert!(!out[2].full);
    assert_eq!(out[2].frames, 100);
}

#[test]
fn frames_cut_across_chunks_are_joined_whole() {
    let mut s = segmenter();
    let mut out = Vec::new();
    // Bad input: pieces of 100 bytes cut every frame in four.
    feed(&mut s, &frames(0..250), 100, &mut out);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].mp3, frames(0..250));
}

#[test]
fn lost_mp3_closes_the_segment_partial_and_what_follows_keeps_its_time() {
    let mut s = segmenter();
    let mut out = Vec::new();
    feed(&mut s, &frames(0..100), 384 * 10, &mut out);
    // 50 frames (1.2 s) never reached the archive.
    s.lost(50 * 1152, &mut |seg| out.push(seg));
    feed(&mut s, &frames(150..400), 384 * 10, &mut out);
    assert_eq!(out.len(), 2);
    assert!(!out[0].full);
    assert_eq!((out[0].frames, out[0].duration()), (100, 2.4));
    assert!(out[1].full);
    assert_eq!(out[1].start_micros, ANCHOR + 3_600_000 - 23_021);
}

#[test]
fn a_jump_in_the_programme_moves_what_follows_and_closes_the_segment() {
    let mut s = segmenter();
    let mut out = Vec::new();
    // The mixer dropped 4800 frames (0.1 s) after the encoder had 96 000 (2 s).
    s.jump(96_000, 4_800);
    feed(&mut s, &frames(0..400), 384 * 5, &mut out);
    // Frame k decodes from input sample k × 1152 − 1105: the first past
    // 96 000 is frame 85 (96 815).
    assert_eq!(out.len(), 2);
    assert!(!out[0].full);
    assert_eq!(out[0].frames, 85);
    assert!(out[1].full);
    assert_eq!(out[1].start_micros, ANCHOR + 85 * 24_000 - 23_021 + 100_000);
}
