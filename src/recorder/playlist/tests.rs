use super::*;

const BASE: &str = "http://radio.example:8000/listen/live.pls?key=1";

#[test]
fn a_pls_gives_its_lowest_numbered_file() {
    let pls = "[playlist]\r\nNumberOfEntries=2\r\nFile2=http://b.example/two\r\n\
               Title2=Two\r\nFile1=http://a.example:8000/one.mp3\r\nLength1=-1\r\nVersion=2\r\n";
    assert_eq!(
        first_stream_url(pls, BASE).unwrap(),
        "http://a.example:8000/one.mp3"
    );
    // Lower case, spaces, a relative URL.
    let pls = "[Playlist]\nfile1 = stream.aac\n";
    assert_eq!(
        first_stream_url(pls, BASE).unwrap(),
        "http://radio.example:8000/listen/stream.aac"
    );
}

#[test]
fn an_m3u_gives_its_first_url_line() {
    let m3u =
        "\u{feff}#EXTM3U\n#EXTINF:-1,Radio One\n\nhttps://one.example/live\nhttp://two.example/\n";
    assert_eq!(
        first_stream_url(m3u, BASE).unwrap(),
        "https://one.example/live"
    );
    assert_eq!(
        first_stream_url("/live.mp3\n", BASE).unwrap(),
        "http://radio.example:8000/live.mp3"
    );
    assert_eq!(
        first_stream_url("//cdn.example/live\n", "https://x.example/a.m3u").unwrap(),
        "https://cdn.example/live"
    );
}

#[test]
fn a_playlist_without_a_url_or_of_hls_segments_is_refused() {
    // Bad input, each: a .pls with no FileN line, an .m3u of comments
    // only, an empty file, an HLS media playlist.
    for text in [
        "[playlist]\nNumberOfEntries=0\nVersion=2\n",
        "#EXTM3U\n#EXTINF:-1,Nothing\n",
        "",
    ] {
        assert_eq!(
            first_stream_url(text, BASE),
            Err(PlaylistError::NoUrl),
            "{text:?}"
        );
    }
    let hls = "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:6\n#EXTINF:6.0,\nseg1.ts\n";
    assert_eq!(first_stream_url(hls, BASE), Err(PlaylistError::Hls));
    assert!(PlaylistError::NoUrl.to_string().contains("no stream URL"));
}

#[test]
fn playlists_are_known_by_content_type_or_extension() {
    assert_eq!(
        kind_of("http://x/a", "audio/x-scpls"),
        Some(PlaylistKind::Pls)
    );
    assert_eq!(
        kind_of("http://x/a", "audio/x-mpegurl; charset=utf-8"),
        Some(PlaylistKind::M3u)
    );
    assert_eq!(
        kind_of("http://x/a.PLS?x=1", "text/plain"),
        Some(PlaylistKind::Pls)
    );
    assert_eq!(kind_of("http://x/a.m3u", ""), Some(PlaylistKind::M3u));
    assert_eq!(kind_of("http://x/live.mp3", "audio/mpeg"), None);
    assert_eq!(kind_of("http://x/live", "audio/aac"), None);
}
