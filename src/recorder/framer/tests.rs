use super::*;
use crate::archive::adts::tests::header as adts_header;

/// `n` MP3 frames of 128 kbit/s at 48 kHz (384 bytes each).
fn mp3_frames(n: usize, fill: u8) -> Vec<u8> {
    let mut bytes = Vec::new();
    for _ in 0..n {
        bytes.extend_from_slice(&[0xFF, 0xFB, 0x94, 0x64]);
        bytes.resize(bytes.len() + 380, fill);
    }
    bytes
}

/// `n` ADTS frames at 44.1 kHz of `length` bytes.
fn adts_frames(n: usize, length: usize) -> Vec<u8> {
    let mut bytes = Vec::new();
    for _ in 0..n {
        bytes.extend_from_slice(&adts_header(4, length, 1));
        bytes.resize(bytes.len() + length - 7, 0x22);
    }
    bytes
}

fn cut(framer: &mut Framer, bytes: &[u8], chunk: usize) -> Vec<(FrameInfo, Vec<u8>)> {
    let mut frames = Vec::new();
    for piece in bytes.chunks(chunk) {
        framer.push(piece, &mut |info, _, frame| {
            frames.push((info, frame.to_vec()))
        });
    }
    frames
}

#[test]
fn mp3_and_adts_are_told_apart_and_cut_in_any_chunks() {
    for chunk in [1, 7, 100, 4096] {
        let mut framer = Framer::new();
        let frames = cut(&mut framer, &mp3_frames(5, 0x11), chunk);
        // Only the first frame waits for a header after it: the others
        // come in step.
        assert_eq!(frames.len(), 5, "chunk {chunk}");
        assert!(frames.iter().all(|(i, f)| i.format
            == Format {
                codec: Codec::Mp3,
                sample_rate: 48_000
            }
            && i.samples == 1152
            && f.len() == 384));
        let mut framer = Framer::new();
        let frames = cut(&mut framer, &adts_frames(4, 371), chunk);
        assert_eq!(frames.len(), 4, "chunk {chunk}");
        assert!(frames.iter().all(|(i, f)| i.format
            == Format {
                codec: Codec::Aac,
                sample_rate: 44_100
            }
            && i.samples == 1024
            && f.len() == 371));
        assert_eq!(framer.skipped, 0);
    }
}

#[test]
fn garbage_between_frames_is_skipped_counted_and_the_frames_found_again() {
    let mut stream = b"ID3\x04\x00\x00\x00\x00\x00\x05tag!!".to_vec();
    stream.extend(adts_frames(3, 371));
    // Bad input: garbage between frames, with a false sync word in it (an
    // ADTS header whose length leads nowhere).
    let garbage = [&[0x00, 0x13][..], &adts_header(4, 50, 1), &[0xAB; 40]].concat();
    stream.extend_from_slice(&garbage);
    stream.extend(adts_frames(3, 371));
    let mut framer = Framer::new();
    let frames = cut(&mut framer, &stream, 333);
    assert_eq!(frames.len(), 6);
    assert!(frames.iter().all(|(_, f)| f.len() == 371));
    assert_eq!(framer.skipped as usize, 15 + garbage.len());
    // Every frame handed over is the stream's own bytes, in order.
    let joined: Vec<u8> = frames.iter().flat_map(|(_, f)| f.clone()).collect();
    assert_eq!(joined, [adts_frames(3, 371), adts_frames(3, 371)].concat());
}

#[test]
fn a_change_of_format_is_seen_and_a_lone_header_is_not_believed() {
    let mut stream = mp3_frames(3, 0x11);
    stream.extend(adts_frames(3, 300));
    let mut framer = Framer::new();
    let formats: Vec<Codec> = cut(&mut framer, &stream, 512)
        .iter()
        .map(|(i, _)| i.format.codec)
        .collect();
    assert_eq!(
        formats,
        [Codec::Mp3; 3]
            .into_iter()
            .chain([Codec::Aac; 3])
            .collect::<Vec<_>>()
    );
    // Bad input: bytes that are no audio at all hold no frame.
    let mut framer = Framer::new();
    let noise: Vec<u8> = (0..20_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    assert!(cut(&mut framer, &noise, 1000).len() < 2);
    assert!(framer.held() < 10_000);
    assert_eq!(
        Format::parse("aac-44100"),
        Some(Format {
            codec: Codec::Aac,
            sample_rate: 44_100
        })
    );
    assert_eq!(Format::parse("ogg-44100"), None);
    assert_eq!(Format::parse("mp3-"), None);
}

#[test]
fn each_frame_is_handed_over_with_where_it_starts_in_the_stream() {
    // Bad input: 15 bytes of garbage before the first frame and 57 after
    // the third; then a reconnection starts the count again.
    let garbage = [0x00u8; 57];
    let stream = [
        &[0xAB; 15][..],
        &mp3_frames(3, 0x11),
        &garbage,
        &mp3_frames(2, 0x22),
    ]
    .concat();
    for chunk in [1, 13, 384, 5000] {
        let mut framer = Framer::new();
        let mut starts = Vec::new();
        for piece in stream.chunks(chunk) {
            framer.push(piece, &mut |_, offset, frame| {
                // The offset is where the frame's bytes are in the stream.
                let at = offset as usize;
                assert_eq!(&stream[at..at + frame.len()], frame, "chunk {chunk}");
                starts.push(offset);
            });
        }
        assert_eq!(starts, [15, 399, 783, 1224, 1608], "chunk {chunk}");
        framer.reset();
        let mut again = Vec::new();
        framer.push(&mp3_frames(3, 0x33), &mut |_, offset, _| again.push(offset));
        assert_eq!(again, [0, 384, 768], "the count starts again after a reset");
    }
}
