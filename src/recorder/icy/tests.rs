use super::*;

/// A metadata block as a server sends it: the length byte, then the text
/// padded with NULs to a multiple of 16.
fn block(text: &[u8]) -> Vec<u8> {
    let length = text.len().div_ceil(16);
    let mut bytes = vec![length as u8];
    bytes.extend_from_slice(text);
    bytes.resize(1 + length * 16, 0);
    bytes
}

fn split(stream: &[u8], metaint: Option<usize>, chunk: usize) -> (Vec<u8>, Vec<String>) {
    let mut splitter = IcySplitter::new(metaint);
    let (mut audio, mut titles) = (Vec::new(), Vec::new());
    for piece in stream.chunks(chunk) {
        splitter.push(piece, &mut audio, &mut |at, b| {
            // Where the block came: after every audio byte before it.
            assert_eq!(at % 16, 0, "a block at {at}, not after 16 bytes of audio");
            titles.extend(stream_title(b));
        });
    }
    (audio, titles)
}

#[test]
fn blocks_are_taken_out_of_the_audio_in_reads_of_any_size() {
    let audio: Vec<u8> = (0..40u8).collect();
    let mut stream = Vec::new();
    stream.extend_from_slice(&audio[..16]);
    stream.extend(block(b"StreamTitle='First - One';StreamUrl='';"));
    stream.extend_from_slice(&audio[16..32]);
    stream.push(0); // nothing changed
    stream.extend_from_slice(&audio[32..]);
    for chunk in [1, 3, 16, 17, 1000] {
        let (heard, titles) = split(&stream, Some(16), chunk);
        assert_eq!(heard, audio, "chunk {chunk}");
        assert_eq!(titles, ["First - One"], "chunk {chunk}");
    }
    // Without icy-metaint everything is audio.
    let (heard, titles) = split(&stream, None, 7);
    assert_eq!(heard, stream);
    assert!(titles.is_empty());
    let (heard, _) = split(&stream, Some(0), 7);
    assert_eq!(heard, stream);
}

#[test]
fn titles_are_read_with_quotes_latin_1_and_cut_short() {
    assert_eq!(
        stream_title(b"StreamTitle='Guns N' Roses - Don't Cry';\0\0"),
        Some("Guns N' Roses - Don't Cry".to_string())
    );
    assert_eq!(
        stream_title("StreamTitle='Sigur Rós - Hoppípolla';".as_bytes()),
        Some("Sigur Rós - Hoppípolla".to_string())
    );
    // Latin-1, as an older encoder sends it: "Björk".
    assert_eq!(
        stream_title(b"StreamTitle='Bj\xf6rk';"),
        Some("Björk".to_string())
    );
    assert_eq!(stream_title(b"StreamTitle='';"), Some(String::new()));
    // Bad input: a block cut short, a block with no title, an empty block.
    assert_eq!(
        stream_title(b"StreamTitle='Cut short'\0\0"),
        Some("Cut short".to_string())
    );
    assert_eq!(
        stream_title(b"StreamTitle='No end"),
        Some("No end".to_string())
    );
    assert_eq!(stream_title(b"StreamUrl='http://x';"), None);
    assert_eq!(stream_title(b""), None);
}
