//! Segment names, as wubloader lays them out (with `.mp3` for `.ts`):
//! `<channel>/<quality>/<YYYY-MM-DDTHH>/<MM:SS.ffffff>-<duration>-<type>-<hash>.mp3`
//! (`.aac` for the AAC in ADTS that a recorded stream may carry: HLS
//! packed audio takes both).
//! The hour folder is the UTC hour of the segment's start; the time is its
//! minutes and seconds with always six fractional digits, so names sort by
//! start time; the duration is written as Python's `str(float)` writes it
//! (`6.0`, `6.0081632653061225`); the type is `full`, `suspect`, `partial` or `temp`;
//! the hash is the SHA-256 of the file's bytes in URL-safe base64 without
//! padding (43 characters). A `temp` file carries a random id instead.
//! This file formats and parses them; nothing here touches the disk.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, NaiveDate, TimeZone, Timelike, Utc};
use sha2::{Digest, Sha256};

/// What a segment's bytes are, as its extension says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    /// MPEG-1/2 layer III frames.
    Mp3,
    /// AAC in ADTS frames.
    Aac,
}

impl Codec {
    /// The extension, without its dot.
    pub fn extension(self) -> &'static str {
        match self {
            Codec::Mp3 => "mp3",
            Codec::Aac => "aac",
        }
    }

    /// The codec a file's name ends in, if it is a segment's extension.
    pub fn of_file(file: &str) -> Option<Codec> {
        split_extension(file).map(|(_, codec)| codec)
    }
}

/// `X.mp3` → (`X`, MP3); `X.aac` → (`X`, AAC); anything else `None`.
pub fn split_extension(file: &str) -> Option<(&str, Codec)> {
    if let Some(stem) = file.strip_suffix(".mp3") {
        Some((stem, Codec::Mp3))
    } else {
        file.strip_suffix(".aac").map(|stem| (stem, Codec::Aac))
    }
}

/// How complete a segment is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SegmentType {
    /// Closed at its planned length.
    Full,
    /// Looks complete but is not trusted (written while the clock was
    /// unsure, or empty); wubloader's type, read from archives it wrote.
    Suspect,
    /// Cut short: archive audio was lost after (or before) it, or the box stopped.
    Partial,
    /// Being written; never listed.
    Temp,
}

impl SegmentType {
    pub fn as_str(self) -> &'static str {
        match self {
            SegmentType::Full => "full",
            SegmentType::Suspect => "suspect",
            SegmentType::Partial => "partial",
            SegmentType::Temp => "temp",
        }
    }
}

/// One segment's name, as its path below `<archive>/<channel>/<quality>/`.
#[derive(Debug, Clone, PartialEq)]
pub struct SegmentName {
    /// The station time of its first audible sample, to the microsecond.
    pub start: DateTime<Utc>,
    /// Seconds.
    pub duration: f64,
    pub kind: SegmentType,
    /// The content's hash, or a temp file's random id.
    pub hash: String,
}

/// Why a path is not a segment's name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("{0:?} is not an hour folder: expected YYYY-MM-DDTHH (UTC), such as 2026-01-05T10")]
    Hour(String),
    #[error("{0:?} does not end in .mp3 or .aac")]
    Extension(String),
    #[error("{0:?}: expected MM:SS.ffffff-DURATION-TYPE-HASH.mp3 (or .aac)")]
    Parts(String),
    #[error("{name:?}: {time:?} is not a time in the hour: expected MM:SS.ffffff (six digits)")]
    Time { name: String, time: String },
    #[error("{name:?}: {duration:?} is not a duration in seconds")]
    Duration { name: String, duration: String },
    #[error("{name:?}: {kind:?} is not a segment type: expected full, suspect, partial or temp")]
    Type { name: String, kind: String },
    #[error(
        "{name:?}: {hash:?} is not a SHA-256 in URL-safe base64 without padding (43 characters)"
    )]
    Hash { name: String, hash: String },
}

/// The hash of a segment's bytes as its name carries it.
pub fn content_hash(bytes: &[u8]) -> String {
    hash_text(&Sha256::digest(bytes))
}

/// A SHA-256 digest as a name carries it.
pub fn hash_text(digest: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(digest)
}

/// `2026-01-05T10`: the hour folder of an instant.
pub fn hour_folder(start: DateTime<Utc>) -> String {
    start.format("%Y-%m-%dT%H").to_string()
}

/// A duration as Python's `str(float)` writes it: the shortest decimal
/// that reads back as the same number, with at least one fractional digit.
pub fn format_duration(seconds: f64) -> String {
    let text = format!("{seconds}");
    if text.contains(['.', 'e', 'E', 'N', 'n']) {
        text
    } else {
        format!("{text}.0")
    }
}

impl SegmentName {
    /// `10/24.000000-6.0-full-<hash>.mp3` → its parts: the hour folder and
    /// the file name.
    pub fn hour(&self) -> String {
        hour_folder(self.start)
    }

    pub fn file_name(&self) -> String {
        self.file_name_as(Codec::Mp3)
    }

    /// The file name with the extension of `codec`.
    pub fn file_name_as(&self, codec: Codec) -> String {
        format!(
            "{:02}:{:02}.{:06}-{}-{}-{}.{}",
            self.start.minute(),
            self.start.second(),
            self.start.timestamp_subsec_micros(),
            format_duration(self.duration),
            self.kind.as_str(),
            self.hash,
            codec.extension()
        )
    }

    /// Its length, to the microsecond.
    pub fn length(&self) -> chrono::TimeDelta {
        chrono::TimeDelta::microseconds((self.duration * 1e6).round() as i64)
    }

    /// The instant just after its last sample.
    pub fn end(&self) -> DateTime<Utc> {
        self.start + self.length()
    }

    /// `<hour>/<file name>`.
    pub fn path(&self) -> String {
        format!("{}/{}", self.hour(), self.file_name())
    }

    /// Reads `<hour>/<file name>` (the path below the quality folder).
    pub fn parse(path: &str) -> Result<SegmentName, NameError> {
        let (hour, file) = path
            .rsplit_once('/')
            .ok_or_else(|| NameError::Hour(path.to_string()))?;
        let hour = hour.rsplit('/').next().unwrap_or(hour);
        Self::parse_in(parse_hour(hour)?, file)
    }

    /// Reads a file name in the hour folder that starts at `hour`
    /// (`.mp3` or `.aac`: [`Codec::of_file`] tells which).
    pub fn parse_in(hour: DateTime<Utc>, file: &str) -> Result<SegmentName, NameError> {
        let (stem, _) =
            split_extension(file).ok_or_else(|| NameError::Extension(file.to_string()))?;
        // A temp file's id may hold dashes: the fourth part is the rest.
        let mut parts = stem.splitn(4, '-');
        let (Some(time), Some(duration), Some(kind), Some(hash)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(NameError::Parts(file.to_string()));
        };
        let micros = parse_time(time).ok_or_else(|| NameError::Time {
            name: file.to_string(),
            time: time.to_string(),
        })?;
        let duration_value = duration
            .parse::<f64>()
            .ok()
            .filter(|d| d.is_finite() && *d >= 0.0 && duration.contains('.'))
            .ok_or_else(|| NameError::Duration {
                name: file.to_string(),
                duration: duration.to_string(),
            })?;
        let kind = match kind {
            "full" => SegmentType::Full,
            "suspect" => SegmentType::Suspect,
            "partial" => SegmentType::Partial,
            "temp" => SegmentType::Temp,
            _ => {
                return Err(NameError::Type {
                    name: file.to_string(),
                    kind: kind.to_string(),
                });
            }
        };
        let hash_ok = match kind {
            SegmentType::Temp => !hash.is_empty(),
            _ => {
                hash.len() == 43
                    && URL_SAFE_NO_PAD
                        .decode(hash)
                        .is_ok_and(|bytes| bytes.len() == 32)
            }
        };
        if !hash_ok {
            return Err(NameError::Hash {
                name: file.to_string(),
                hash: hash.to_string(),
            });
        }
        Ok(SegmentName {
            start: hour + chrono::TimeDelta::microseconds(micros),
            duration: duration_value,
            kind,
            hash: hash.to_string(),
        })
    }
}

/// `2026-01-05T10` → that UTC hour.
pub fn parse_hour(hour: &str) -> Result<DateTime<Utc>, NameError> {
    let bad = || NameError::Hour(hour.to_string());
    let b = hour.as_bytes();
    if b.len() != 13 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' {
        return Err(bad());
    }
    let number = |range: std::ops::Range<usize>| -> Option<u32> {
        let text = hour.get(range)?;
        text.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| text.parse().ok())?
    };
    let (Some(year), Some(month), Some(day), Some(h)) =
        (number(0..4), number(5..7), number(8..10), number(11..13))
    else {
        return Err(bad());
    };
    let date = NaiveDate::from_ymd_opt(year as i32, month, day).ok_or_else(bad)?;
    let time = date.and_hms_opt(h, 0, 0).ok_or_else(bad)?;
    Ok(Utc.from_utc_datetime(&time))
}

/// `MM:SS.ffffff` → microseconds into the hour; by hand, as wubloader
/// found its parser's time dominated by strptime.
fn parse_time(time: &str) -> Option<i64> {
    let b = time.as_bytes();
    if b.len() != 12 || b[2] != b':' || b[5] != b'.' {
        return None;
    }
    let digits = |range: std::ops::Range<usize>| -> Option<i64> {
        b[range].iter().try_fold(0i64, |n, &c| {
            c.is_ascii_digit().then(|| n * 10 + i64::from(c - b'0'))
        })
    };
    let (minutes, seconds, micros) = (digits(0..2)?, digits(3..5)?, digits(6..12)?);
    (minutes < 60 && seconds < 60).then(|| (minutes * 60 + seconds) * 1_000_000 + micros)
}

#[cfg(test)]
mod tests;
