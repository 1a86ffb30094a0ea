//! HLS playlists of the archive (RFC 8216), as text; nothing here touches
//! the disk. The pieces of a range come from [`best`](super::best):
//! segments, and `None` where a hole is.
//!
//! A media playlist follows wubloader's, with three deviations that RFC
//! 8216 asks for or that a player notices:
//! - `#EXT-X-TARGETDURATION` is an integer no shorter than any segment
//!   (wubloader writes the most common duration with decimals);
//! - whether the range is over (`#EXT-X-ENDLIST`) is decided by the clock,
//!   not by a hole at its end: a past range whose last minutes were lost
//!   is still over, and a player must not wait at its "live edge";
//! - a playlist fetched while its range is still open only ever grows at
//!   its end (RFC 8216 §6.2.1), so a player that reloads it never sees a
//!   line change. A hole at the end writes nothing until a segment follows
//!   it; the target duration is never shorter than the planned segment
//!   length, so the first segment to arrive does not change it; and
//!   `#EXT-X-PLAYLIST-TYPE:VOD` is written at the end, beside
//!   `#EXT-X-ENDLIST`, when the range closes, not in the header where it
//!   would be a changed line.
//!
//! A playlist holds one codec: MP3, or the AAC (ADTS) of a recorded
//! stream. A quality folder holds one format by design (the recorder
//! starts another quality when a stream changes codec or rate), and should
//! one hold both all the same, segments of a codec other than the range's
//! first are left out as holes: a player cannot switch codecs mid-playlist.
//!
//! Every segment carries its `#EXT-X-PROGRAM-DATE-TIME` (the station time
//! of its first sample, from its name), so a player shows the time of day
//! after a hole. ffmpeg ignores `#EXT-X-DISCONTINUITY` and follows the
//! segments' own timestamps, where a hole is a jump of its length; hls.js
//! needs the tag to cross it.

use std::fmt::Write as _;

use chrono::{DateTime, Datelike, TimeDelta, Timelike, Utc};

use super::listing::Listed;
use super::names::Codec;

/// What a playlist is served as.
pub const CONTENT_TYPE: &str = "application/vnd.apple.mpegurl";

/// How long after a segment's end it may still be on its way to the disk
/// (the encoder's frames, the writer's queue, a slow disk).
pub const WRITER_MARGIN: TimeDelta = TimeDelta::seconds(10);

/// The `CODECS` of a variant: MP3 as hls.js and Safari name it, or AAC-LC.
pub fn codecs_attribute(codec: Codec) -> &'static str {
    match codec {
        Codec::Mp3 => "mp4a.40.34",
        Codec::Aac => "mp4a.40.2",
    }
}

/// The bit rate a variant is announced at when its folder does not say
/// (a folder not named `<kbit/s>k`): MP3's highest, since a player reads
/// `BANDWIDTH` as a ceiling.
const UNKNOWN_BITRATE: u64 = 320_000;

/// Whether nothing more can be added to `..end`: its last segment has had
/// time to be written, with a margin.
pub fn is_closed(end: DateTime<Utc>, now: DateTime<Utc>, segment_seconds: u32) -> bool {
    end <= now - TimeDelta::seconds(i64::from(segment_seconds)) - WRITER_MARGIN
}

/// What a media playlist is of.
#[derive(Debug, Clone, Copy)]
pub struct Media<'a> {
    pub channel: &'a str,
    pub quality: &'a str,
    /// The planned segment length, seconds.
    pub segment_seconds: u32,
    /// The range is over ([`is_closed`]): the playlist ends.
    pub closed: bool,
}

/// A media playlist of `pieces` (segments, and `None` for holes).
pub fn media(of: &Media, pieces: &[Option<Listed>]) -> String {
    let segments = pieces.iter().flatten();
    let longest_ms = segments
        .clone()
        .map(|s| millis(s.name.duration))
        .max()
        .unwrap_or(0);
    // Whole seconds, rounded up from the millisecond EXTINF writes.
    let target = longest_ms
        .div_ceil(1000)
        .max(u64::from(of.segment_seconds))
        .max(1);
    let mut text = String::with_capacity(200 + pieces.len() * 160);
    text.push_str("#EXTM3U\n#EXT-X-VERSION:3\n");
    text.push_str(&format!("#EXT-X-TARGETDURATION:{target}\n"));
    text.push_str("#EXT-X-MEDIA-SEQUENCE:0\n");
    let mut written = false;
    let mut after_hole = false;
    let codec = pieces
        .iter()
        .flatten()
        .find_map(|s| Codec::of_file(&s.file));
    for piece in pieces {
        let piece = piece.as_ref().filter(|s| Codec::of_file(&s.file) == codec);
        let Some(segment) = piece else {
            // A hole before the first segment is the range starting
            // before the archive does: nothing to mark.
            after_hole = written;
            continue;
        };
        if after_hole {
            text.push_str("#EXT-X-DISCONTINUITY\n");
            after_hole = false;
        }
        write_segment(&mut text, of, segment);
        written = true;
    }
    if of.closed {
        text.push_str("#EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-ENDLIST\n");
    }
    text
}

/// One segment's lines. Written field by field, not through chrono's
/// format strings: a 12-hour playlist has 7 200 of them.
fn write_segment(text: &mut String, of: &Media, segment: &Listed) {
    let start = segment.name.start;
    let (date, time) = (start.date_naive(), start.time());
    let ms = millis(segment.name.duration);
    // Writing to a String cannot fail.
    let _ = write!(
        text,
        "#EXT-X-PROGRAM-DATE-TIME:{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z\n\
         #EXTINF:{}.{:03},\n/segments/",
        date.year(),
        date.month(),
        date.day(),
        time.hour(),
        time.minute(),
        time.second(),
        start.timestamp_subsec_micros().min(999_999),
        ms / 1000,
        ms % 1000,
    );
    encode_into(text, of.channel);
    text.push('/');
    encode_into(text, of.quality);
    let _ = write!(
        text,
        "/{:04}-{:02}-{:02}T{:02}/",
        date.year(),
        date.month(),
        date.day(),
        time.hour()
    );
    encode_into(text, &segment.file);
    text.push('\n');
}

/// A master playlist of `channel`: one variant per quality, each with the
/// query string the master was asked with (`start=…&end=…`), as it came.
/// Every quality is announced as MP3 ([`master_of`] names each one's codec).
pub fn master(channel: &str, qualities: &[String], query: Option<&str>) -> String {
    let qualities: Vec<(String, Codec)> =
        qualities.iter().map(|q| (q.clone(), Codec::Mp3)).collect();
    master_of(channel, &qualities, query)
}

/// [`master`] with each quality's codec (a recorded stream's `source` may
/// be AAC).
pub fn master_of(channel: &str, qualities: &[(String, Codec)], query: Option<&str>) -> String {
    let mut text = String::from("#EXTM3U\n#EXT-X-VERSION:3\n");
    for (quality, codec) in qualities {
        text.push_str(&format!(
            "#EXT-X-STREAM-INF:BANDWIDTH={},CODECS=\"{}\"\n/playlist/{}/{}.m3u8",
            bandwidth(quality),
            codecs_attribute(*codec),
            encode(channel),
            encode(quality)
        ));
        if let Some(query) = query.filter(|q| !q.is_empty()) {
            text.push('?');
            text.push_str(query);
        }
        text.push('\n');
    }
    text
}

/// Bits per second a variant needs at most: the MP3's bit rate from its
/// folder's name (`128k`), and 2 % for the timestamp tag and the padding
/// bytes some frames carry at 44.1 kHz.
pub fn bandwidth(quality: &str) -> u64 {
    let bits = quality
        .strip_suffix('k')
        .filter(|n| !n.is_empty() && n.bytes().all(|c| c.is_ascii_digit()))
        .and_then(|n| n.parse::<u64>().ok())
        .map_or(UNKNOWN_BITRATE, |kbits| kbits.saturating_mul(1000));
    bits.saturating_mul(102) / 100
}

/// Seconds to whole milliseconds, as `EXTINF` writes them.
fn millis(seconds: f64) -> u64 {
    (seconds * 1000.0).round().max(0.0) as u64
}

/// A path part, percent-encoded: everything but RFC 3986's unreserved
/// characters, so a segment's `:` travels as `%3A`.
pub fn encode(part: &str) -> String {
    let mut out = String::with_capacity(part.len() + 8);
    encode_into(&mut out, part);
    out
}

fn encode_into(out: &mut String, part: &str) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for byte in part.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(byte >> 4)]));
            out.push(char::from(HEX[usize::from(byte & 15)]));
        }
    }
}

#[cfg(test)]
mod tests;
