use chrono::TimeZone;
use m3u8_rs::{MediaPlaylist, MediaPlaylistType};

use super::*;
use crate::archive::best::BestCache;
use crate::archive::names::{Codec, SegmentName, SegmentType, content_hash};

const HASH: &str = "47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU";

/// 2026-01-05 11:00:00 UTC plus `seconds`.
fn at(seconds: f64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 5, 11, 0, 0).unwrap()
        + TimeDelta::microseconds((seconds * 1e6).round() as i64)
}

fn seg(start: f64, duration: f64, kind: SegmentType) -> Option<Listed> {
    let name = SegmentName {
        start: at(start),
        duration,
        kind,
        hash: HASH.to_string(),
    };
    Some(Listed {
        file: name.file_name(),
        name,
    })
}

fn full(start: f64) -> Option<Listed> {
    seg(start, 6.0, SegmentType::Full)
}

fn of(closed: bool) -> Media<'static> {
    Media {
        channel: "fm",
        quality: "128k",
        segment_seconds: 6,
        closed,
    }
}

/// The playlist as an independent reader (m3u8-rs) reads it.
fn parsed(text: &str) -> MediaPlaylist {
    m3u8_rs::parse_media_playlist_res(text.as_bytes())
        .unwrap_or_else(|e| panic!("m3u8-rs cannot read the playlist: {e:?}\n{text}"))
}

#[test]
fn a_closed_range_across_an_hour_and_a_hole_reads_back_as_written() {
    let pieces = [
        full(-12.0),
        full(-6.0),
        full(0.0),
        None,
        full(18.0),
        full(24.0),
        None,
    ];
    let text = media(&of(true), &pieces);
    let hash = HASH;
    assert_eq!(
        text,
        format!(
            "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:6\n#EXT-X-MEDIA-SEQUENCE:0\n\
             #EXT-X-PROGRAM-DATE-TIME:2026-01-05T10:59:48.000000Z\n#EXTINF:6.000,\n\
             /segments/fm/128k/2026-01-05T10/59%3A48.000000-6.0-full-{hash}.mp3\n\
             #EXT-X-PROGRAM-DATE-TIME:2026-01-05T10:59:54.000000Z\n#EXTINF:6.000,\n\
             /segments/fm/128k/2026-01-05T10/59%3A54.000000-6.0-full-{hash}.mp3\n\
             #EXT-X-PROGRAM-DATE-TIME:2026-01-05T11:00:00.000000Z\n#EXTINF:6.000,\n\
             /segments/fm/128k/2026-01-05T11/00%3A00.000000-6.0-full-{hash}.mp3\n\
             #EXT-X-DISCONTINUITY\n\
             #EXT-X-PROGRAM-DATE-TIME:2026-01-05T11:00:18.000000Z\n#EXTINF:6.000,\n\
             /segments/fm/128k/2026-01-05T11/00%3A18.000000-6.0-full-{hash}.mp3\n\
             #EXT-X-PROGRAM-DATE-TIME:2026-01-05T11:00:24.000000Z\n#EXTINF:6.000,\n\
             /segments/fm/128k/2026-01-05T11/00%3A24.000000-6.0-full-{hash}.mp3\n\
             #EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-ENDLIST\n"
        )
    );
    let read = parsed(&text);
    assert_eq!(read.version, Some(3));
    assert_eq!(read.target_duration, 6);
    assert_eq!(read.media_sequence, 0);
    assert!(read.end_list);
    assert_eq!(read.playlist_type, Some(MediaPlaylistType::Vod));
    let discontinuities: Vec<bool> = read.segments.iter().map(|s| s.discontinuity).collect();
    assert_eq!(discontinuities, [false, false, false, true, false]);
    let dates: Vec<DateTime<Utc>> = read
        .segments
        .iter()
        .map(|s| s.program_date_time.unwrap().to_utc())
        .collect();
    assert_eq!(dates, [at(-12.0), at(-6.0), at(0.0), at(18.0), at(24.0)]);
}

#[test]
fn the_end_of_a_range_is_decided_by_the_clock_not_by_a_hole() {
    let end = at(60.0);
    // The last segment may still be on its way for its own length and the
    // writer's margin (10 s) after the range ends.
    assert!(!is_closed(end, end, 6));
    assert!(!is_closed(end, at(75.999), 6));
    assert!(is_closed(end, at(76.0), 6));
    assert!(is_closed(end, at(3600.0), 6));

    // A past range whose last minute was lost is over all the same: its
    // trailing hole does not make it look live (wubloader's would).
    let lost_end = [full(0.0), full(6.0), None];
    let read = parsed(&media(&of(true), &lost_end));
    assert!(read.end_list);
    assert_eq!(read.segments.len(), 2);
    // And an open range whose segments reach its end has no end yet.
    let reached = [full(0.0), full(6.0)];
    let read = parsed(&media(&of(false), &reached));
    assert!(!read.end_list);
    assert_eq!(read.playlist_type, None);
    // A closed range with nothing in it still ends.
    let read = parsed(&media(&of(true), &[None]));
    assert!(read.end_list && read.segments.is_empty());
}

#[test]
fn a_discontinuity_comes_before_the_first_segment_after_each_inner_hole_only() {
    let cases = [
        (
            "a leading hole (the range starts before the archive) is dropped",
            vec![None, full(0.0), full(6.0)],
            vec![false, false],
        ),
        (
            "a partial segment is followed by a hole, then a segment",
            vec![
                full(0.0),
                seg(6.0, 2.4, SegmentType::Partial),
                None,
                full(12.0),
            ],
            vec![false, false, true],
        ),
        (
            "two holes, two discontinuities; a trailing hole none",
            vec![full(0.0), None, full(12.0), None, full(30.0), None],
            vec![false, true, true],
        ),
        (
            "no hole, no discontinuity",
            vec![full(0.0), full(6.0), full(12.0)],
            vec![false, false, false],
        ),
    ];
    for (what, pieces, expected) in cases {
        let text = media(&of(true), &pieces);
        let read = parsed(&text);
        let found: Vec<bool> = read.segments.iter().map(|s| s.discontinuity).collect();
        assert_eq!(found, expected, "{what}:\n{text}");
        assert_eq!(
            text.matches("#EXT-X-DISCONTINUITY\n").count(),
            expected.iter().filter(|d| **d).count(),
            "{what}"
        );
    }
}

#[test]
fn the_target_duration_is_a_whole_number_no_segment_rounds_above() {
    // At 44.1 kHz 230 frames are 6.0081632653061225 s; a longer segment
    // read from another archive; a partial one.
    let pieces = [
        seg(0.0, 6.0081632653061225, SegmentType::Full),
        seg(6.008, 7.4995, SegmentType::Full),
        seg(13.5075, 1.2, SegmentType::Partial),
    ];
    let text = media(&of(true), &pieces);
    assert!(text.contains("#EXT-X-TARGETDURATION:8\n"), "{text}");
    assert!(text.contains("#EXTINF:6.008,\n"), "{text}");
    assert!(text.contains("#EXTINF:7.500,\n"), "{text}");
    let read = parsed(&text);
    for segment in &read.segments {
        assert!(
            segment.duration.round() as u64 <= read.target_duration
                && segment.duration.ceil() as u64 <= read.target_duration,
            "{} s in a playlist of target {}",
            segment.duration,
            read.target_duration
        );
    }
    // Never less than the planned length, so an open playlist's header
    // does not change when its first segment arrives; never 0.
    assert!(media(&of(false), &[None]).contains("#EXT-X-TARGETDURATION:6\n"));
    let tiny = Media {
        segment_seconds: 0,
        ..of(false)
    };
    assert!(media(&tiny, &[None]).contains("#EXT-X-TARGETDURATION:1\n"));
}

/// An archive folder filled one segment at a time, as the writer fills it.
struct Growing {
    dir: std::path::PathBuf,
    cache: BestCache,
}

impl Growing {
    fn new(name: &str) -> Growing {
        let dir =
            std::env::temp_dir().join(format!("onair-playlist-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        Growing {
            dir,
            cache: BestCache::default(),
        }
    }

    fn write(&self, start: f64, duration: f64, kind: SegmentType) {
        let bytes = format!("{start} {duration}").into_bytes();
        let name = SegmentName {
            start: at(start),
            duration,
            kind,
            hash: content_hash(&bytes),
        };
        let hour = self.dir.join(name.hour());
        std::fs::create_dir_all(&hour).unwrap();
        std::fs::write(hour.join(name.file_name()), bytes).unwrap();
    }

    fn playlist(&self, start: f64, end: f64, now: f64) -> String {
        let pieces = self.cache.range(&self.dir, at(start), at(end)).unwrap();
        let closed = is_closed(at(end), at(now), 6);
        media(&of(closed), &pieces)
    }
}

impl Drop for Growing {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn an_open_playlist_only_ever_grows_at_its_end_as_segments_arrive() {
    let archive = Growing::new("grows");
    // The range 10:59:50-11:01:00, fetched as it airs: before anything
    // is written, then after each segment, then long after.
    let (start, end) = (-10.0, 60.0);
    let mut arrivals: Vec<(f64, f64, SegmentType)> = vec![
        (-12.0, 6.0, SegmentType::Full),
        (-6.0, 6.0, SegmentType::Full),
        // Across the hour, into the next folder.
        (0.0, 6.0, SegmentType::Full),
        // The writer was cut short: a partial at the live edge, followed
        // by a hole the playlist must not mark until something follows.
        (6.0, 2.4, SegmentType::Partial),
        (18.0, 6.0, SegmentType::Full),
        (24.0, 6.0, SegmentType::Full),
    ];
    // Then a hole at the live edge (the disk was full), then the rest.
    arrivals.extend([42.0, 48.0, 54.0].map(|s| (s, 6.0, SegmentType::Full)));

    let mut fetched = vec![archive.playlist(start, end, -10.0)];
    for (from, duration, kind) in arrivals {
        archive.write(from, duration, kind);
        let now = from + duration + 1.0;
        fetched.push(archive.playlist(start, end, now));
        // Fetched again a little later, before the next segment: the same.
        fetched.push(archive.playlist(start, end, now + 3.0));
    }
    // The range is over once its last segment has had time to arrive.
    fetched.push(archive.playlist(start, end, end + 16.0));

    for pair in fetched.windows(2) {
        assert!(
            pair[1].starts_with(&pair[0]),
            "a later fetch changed an earlier line:\nbefore:\n{}\nafter:\n{}",
            pair[0],
            pair[1]
        );
    }
    for open in &fetched[..fetched.len() - 1] {
        assert!(!open.contains("ENDLIST"), "{open}");
        assert!(!open.contains("PLAYLIST-TYPE"), "{open}");
    }
    let last = parsed(fetched.last().unwrap());
    assert!(last.end_list);
    assert_eq!(last.playlist_type, Some(MediaPlaylistType::Vod));
    let discontinuities: Vec<bool> = last.segments.iter().map(|s| s.discontinuity).collect();
    assert_eq!(
        discontinuities,
        [false, false, false, false, true, false, true, false, false]
    );
    // The segment list changed at each arrival: the test saw it grow.
    let lengths: Vec<usize> = fetched.iter().map(|t| parsed(t).segments.len()).collect();
    assert_eq!(lengths.first(), Some(&0));
    assert_eq!(lengths.last(), Some(&9));
}

#[test]
fn a_master_playlist_names_each_quality_with_its_bit_rate_and_the_query() {
    let text = master(
        "fm",
        &["128k".to_string(), "320k".to_string()],
        Some("start=2026-01-05T10:59:00Z&end=2026-01-05T11:01:00Z"),
    );
    assert_eq!(
        text,
        "#EXTM3U\n#EXT-X-VERSION:3\n\
         #EXT-X-STREAM-INF:BANDWIDTH=130560,CODECS=\"mp4a.40.34\"\n\
         /playlist/fm/128k.m3u8?start=2026-01-05T10:59:00Z&end=2026-01-05T11:01:00Z\n\
         #EXT-X-STREAM-INF:BANDWIDTH=326400,CODECS=\"mp4a.40.34\"\n\
         /playlist/fm/320k.m3u8?start=2026-01-05T10:59:00Z&end=2026-01-05T11:01:00Z\n"
    );
    let read = m3u8_rs::parse_master_playlist_res(text.as_bytes()).unwrap();
    let variants: Vec<(u64, &str)> = read
        .variants
        .iter()
        .map(|v| (v.bandwidth, v.codecs.as_deref().unwrap_or("")))
        .collect();
    assert_eq!(variants, [(130_560, "mp4a.40.34"), (326_400, "mp4a.40.34")]);
    // Without a query the URIs have none; a folder not named by its bit
    // rate is announced at MP3's highest; names are percent-encoded.
    let text = master("f m", &["source".to_string()], None);
    assert!(
        text.ends_with("BANDWIDTH=326400,CODECS=\"mp4a.40.34\"\n/playlist/f%20m/source.m3u8\n"),
        "{text}"
    );
    assert_eq!(bandwidth("k"), 326_400);
    assert_eq!(bandwidth("64k"), 65_280);
}

/// A segment of `codec` at `start`.
fn of_codec(start: f64, codec: Codec) -> Option<Listed> {
    let name = SegmentName {
        start: at(start),
        duration: 6.0,
        kind: SegmentType::Full,
        hash: HASH.to_string(),
    };
    Some(Listed {
        file: name.file_name_as(codec),
        name,
    })
}

#[test]
fn a_playlist_holds_one_codec_and_a_master_names_aac_as_aac() {
    // An AAC range reads as such.
    let pieces = [of_codec(0.0, Codec::Aac), of_codec(6.0, Codec::Aac)];
    let text = media(&of(true), &pieces);
    let read = parsed(&text);
    assert_eq!(read.segments.len(), 2);
    assert!(
        read.segments.iter().all(|s| s.uri.ends_with(".aac")),
        "{text}"
    );
    assert!(!text.contains("DISCONTINUITY"), "{text}");
    // Bad input: a quality folder that holds both codecs. The range's
    // first codec is kept; the other's segments are holes.
    let mixed = [
        of_codec(0.0, Codec::Aac),
        of_codec(6.0, Codec::Mp3),
        of_codec(12.0, Codec::Aac),
    ];
    let text = media(&of(true), &mixed);
    let read = parsed(&text);
    let uris: Vec<&str> = read.segments.iter().map(|s| s.uri.as_str()).collect();
    assert_eq!(uris.len(), 2, "{text}");
    assert!(uris.iter().all(|u| u.ends_with(".aac")), "{text}");
    assert!(read.segments[1].discontinuity, "{text}");
    // The master names each quality's codec.
    let text = master_of(
        "news",
        &[
            ("source".to_string(), Codec::Aac),
            ("source-mp3-44100".to_string(), Codec::Mp3),
        ],
        None,
    );
    let read = m3u8_rs::parse_master_playlist_res(text.as_bytes()).unwrap();
    let codecs: Vec<&str> = read
        .variants
        .iter()
        .map(|v| v.codecs.as_deref().unwrap_or(""))
        .collect();
    assert_eq!(codecs, ["mp4a.40.2", "mp4a.40.34"]);
}
