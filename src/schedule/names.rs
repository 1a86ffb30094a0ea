//! Programme file names: `yyyymmdd_hhmm_title-slug.ext`, the timestamp being
//! the station-local time at which the programme airs.

use std::path::Path;

use chrono::{NaiveDate, NaiveDateTime, NaiveTime};
use unicode_normalization::UnicodeNormalization;

/// Audio the box plays, by file extension (compared without case).
pub const EXTENSIONS: [&str; 5] = ["mp3", "flac", "ogg", "wav", "m4a"];

const EXPECTED: &str = "expected yyyymmdd_hhmm_title.ext";

/// What a programme's file name says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgrammeName {
    /// Station-local time at which it airs.
    pub local: NaiveDateTime,
    /// The title as written in the name (`morning-show`); editions of the same
    /// programme share it.
    pub slug: String,
    /// Lower case, without the dot.
    pub ext: String,
}

/// Why a file in the programme folder is not a programme. The text is what a
/// person reads next to the file name in `onair schedule`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("no extension: {EXPECTED} (mp3, flac, ogg, wav, m4a)")]
    NoExtension,
    #[error("unsupported extension .{0} (mp3, flac, ogg, wav, m4a)")]
    Extension(String),
    #[error("no date: {EXPECTED}")]
    NoDate,
    #[error("no time after the date: {EXPECTED}")]
    NoTime,
    #[error("month {0} is not a month")]
    Month(u32),
    #[error("day {day} is not a day of {year}-{month:02}")]
    Day { year: i32, month: u32, day: u32 },
    #[error("{hour:02}:{minute:02} is not a time of day")]
    Time { hour: u32, minute: u32 },
    #[error("empty title: {EXPECTED}")]
    EmptyTitle,
}

/// Reads a programme file name (the name only, not a path).
pub fn parse_name(file_name: &str) -> Result<ProgrammeName, NameError> {
    let (stem, ext) = file_name.rsplit_once('.').ok_or(NameError::NoExtension)?;
    let ext = ext.to_ascii_lowercase();
    if ext.is_empty() {
        return Err(NameError::NoExtension);
    }
    if !EXTENSIONS.contains(&ext.as_str()) {
        return Err(NameError::Extension(ext));
    }

    let (date, rest) = stem.split_once('_').ok_or(NameError::NoDate)?;
    let date = digits(date, 8).ok_or(NameError::NoDate)?;
    let (time, slug) = rest.split_once('_').unwrap_or((rest, ""));
    let time = digits(time, 4).ok_or(NameError::NoTime)?;

    let (year, month, day) = (date / 10_000, date / 100 % 100, date % 100);
    if !(1..=12).contains(&month) {
        return Err(NameError::Month(month));
    }
    let year = year as i32;
    let date =
        NaiveDate::from_ymd_opt(year, month, day).ok_or(NameError::Day { year, month, day })?;
    let (hour, minute) = (time / 100, time % 100);
    let time = NaiveTime::from_hms_opt(hour, minute, 0).ok_or(NameError::Time { hour, minute })?;

    if title_from_slug(slug).is_empty() {
        return Err(NameError::EmptyTitle);
    }
    Ok(ProgrammeName {
        local: date.and_time(time),
        slug: slug.to_string(),
        ext,
    })
}

/// `text` as a number if it is exactly `count` ASCII digits.
fn digits(text: &str, count: usize) -> Option<u32> {
    if text.len() == count && text.bytes().all(|b| b.is_ascii_digit()) {
        text.parse().ok()
    } else {
        None
    }
}

/// The title a listener reads: words split on `-` and `_`, each starting with
/// a capital; the rest of each word is kept as written, so `BBC` stays `BBC`.
pub fn title_from_slug(slug: &str) -> String {
    slug.split(['-', '_'])
        .filter(|word| !word.is_empty())
        .map(|word| {
            let mut chars = word.chars();
            match chars.next() {
                Some(first) => first.to_uppercase().chain(chars).collect::<String>(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// A programme title as a file-name slug: lower case, letters (any script)
/// and digits kept, everything else a single `-`; apostrophes vanish
/// ("Children's Hour" → `childrens-hour`). A slug gives itself back, so a
/// file's slug and an event's title are compared by applying this to both
/// (see [`same_programme`]). Text is NFC-normalised first: file names
/// copied from a Mac spell `é` as `e` + accent.
pub fn title_slug(title: &str) -> String {
    let mut slug = String::new();
    let mut gap = false;
    for c in title.nfc() {
        if c.is_alphanumeric() {
            if gap && !slug.is_empty() {
                slug.push('-');
            }
            gap = false;
            // Some capitals lower to a letter plus a mark (İ → i̇); only the
            // letter is kept, so that a slug stays its own slug.
            slug.extend(c.to_lowercase().filter(|l| l.is_alphanumeric()));
        } else if !matches!(c, '\'' | '\u{2019}' | '\u{2018}' | '`') {
            gap = true;
        }
    }
    slug
}

/// Whether a programme file's slug (or any title) names the same programme
/// as a calendar title.
pub fn same_programme(a: &str, b: &str) -> bool {
    title_slug(a) == title_slug(b)
}

/// Hidden files (`.DS_Store`, macOS `._name.mp3` companions) are never audio
/// the station meant to air.
pub fn is_hidden(file_name: &str) -> bool {
    file_name.starts_with('.')
}

/// Names that upload tools and editors give a file while it is being written;
/// the finished file appears under its real name.
pub fn is_partial_upload(file_name: &str) -> bool {
    let lower = file_name.to_ascii_lowercase();
    [".part", ".tmp", ".crdownload"]
        .iter()
        .any(|suffix| lower.ends_with(suffix))
        || lower.ends_with('~')
}

/// Whether the box can play this file, judged by its extension.
pub fn has_audio_extension(path: &Path) -> bool {
    path.extension()
        .and_then(|ext| ext.to_str())
        .is_some_and(|ext| EXTENSIONS.contains(&ext.to_ascii_lowercase().as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(y, mo, d)
            .unwrap()
            .and_hms_opt(h, mi, 0)
            .unwrap()
    }

    #[test]
    fn good_names_in_every_extension_and_case() {
        for ext in [
            "mp3", "MP3", "flac", "Flac", "ogg", "OGG", "wav", "WaV", "m4a", "M4A",
        ] {
            let name = format!("20260329_0130_morning-show.{ext}");
            let parsed = parse_name(&name).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(parsed.local, at(2026, 3, 29, 1, 30), "{name}");
            assert_eq!(parsed.slug, "morning-show", "{name}");
            assert_eq!(parsed.ext, ext.to_ascii_lowercase(), "{name}");
        }
    }

    #[test]
    fn titles_keep_dots_underscores_digits_and_non_ascii() {
        let parsed = parse_name("20261231_2359_top-40_v2.1.flac").unwrap();
        assert_eq!(parsed.local, at(2026, 12, 31, 23, 59));
        assert_eq!(parsed.slug, "top-40_v2.1");
        let parsed = parse_name("20260101_0000_café-del-mar.ogg").unwrap();
        assert_eq!(parsed.slug, "café-del-mar");
        // Leap day exists in 2028.
        assert_eq!(
            parse_name("20280229_0600_früh.wav").unwrap().local,
            at(2028, 2, 29, 6, 0)
        );
    }

    #[test]
    fn each_kind_of_bad_name_says_why() {
        let cases = [
            (
                "morning-show.mp3",
                "no date: expected yyyymmdd_hhmm_title.ext",
            ),
            (
                "2026-03-29_0130_show.mp3",
                "no date: expected yyyymmdd_hhmm_title.ext",
            ),
            (
                "2026032_0130_show.mp3",
                "no date: expected yyyymmdd_hhmm_title.ext",
            ),
            (
                "20260329_show.mp3",
                "no time after the date: expected yyyymmdd_hhmm_title.ext",
            ),
            (
                "20260329_130_show.mp3",
                "no time after the date: expected yyyymmdd_hhmm_title.ext",
            ),
            ("20261329_0130_show.mp3", "month 13 is not a month"),
            ("20260029_0130_show.mp3", "month 0 is not a month"),
            ("20260431_0130_show.mp3", "day 31 is not a day of 2026-04"),
            ("20260229_0130_show.mp3", "day 29 is not a day of 2026-02"),
            ("20260300_0130_show.mp3", "day 0 is not a day of 2026-03"),
            ("20260329_2500_show.mp3", "25:00 is not a time of day"),
            ("20260329_1260_show.mp3", "12:60 is not a time of day"),
            (
                "20260329_0130_show.txt",
                "unsupported extension .txt (mp3, flac, ogg, wav, m4a)",
            ),
            (
                "20260329_0130_show.opus",
                "unsupported extension .opus (mp3, flac, ogg, wav, m4a)",
            ),
            (
                "notes.TXT",
                "unsupported extension .txt (mp3, flac, ogg, wav, m4a)",
            ),
            (
                "20260329_0130_show",
                "no extension: expected yyyymmdd_hhmm_title.ext (mp3, flac, ogg, wav, m4a)",
            ),
            (
                "20260329_0130_show.",
                "no extension: expected yyyymmdd_hhmm_title.ext (mp3, flac, ogg, wav, m4a)",
            ),
            (
                "20260329_0130_.mp3",
                "empty title: expected yyyymmdd_hhmm_title.ext",
            ),
            (
                "20260329_0130.mp3",
                "empty title: expected yyyymmdd_hhmm_title.ext",
            ),
            (
                "20260329_0130_-_-.mp3",
                "empty title: expected yyyymmdd_hhmm_title.ext",
            ),
        ];
        for (name, reason) in cases {
            match parse_name(name) {
                Ok(parsed) => panic!("{name} was accepted as {parsed:?}"),
                Err(e) => assert_eq!(e.to_string(), reason, "{name}"),
            }
        }
    }

    #[test]
    fn titles_read_like_titles() {
        assert_eq!(title_from_slug("morning-show"), "Morning Show");
        assert_eq!(title_from_slug("top-40_countdown"), "Top 40 Countdown");
        assert_eq!(title_from_slug("BBC-news"), "BBC News");
        assert_eq!(title_from_slug("élan-vital"), "Élan Vital");
        assert_eq!(title_from_slug("--jazz--hour-"), "Jazz Hour");
        assert_eq!(title_from_slug(""), "");
    }

    #[test]
    fn partial_uploads_and_hidden_files_are_recognised() {
        for name in [
            "20260329_0130_show.mp3.part",
            "20260329_0130_show.mp3.PART",
            "20260329_0130_show.mp3.tmp",
            "20260329_0130_show.mp3.crdownload",
            "20260329_0130_show.mp3~",
        ] {
            assert!(is_partial_upload(name), "{name}");
        }
        // A finished file whose title merely contains "part" is not an upload.
        assert!(!is_partial_upload("20260329_0130_part-one.mp3"));
        assert!(is_hidden("._20260329_0130_show.mp3"));
        assert!(!is_hidden("20260329_0130_show.mp3"));
        assert!(has_audio_extension(Path::new("/x/Any Name.FLAC")));
        assert!(!has_audio_extension(Path::new("/x/cover.jpg")));
        assert!(!has_audio_extension(Path::new("/x/mp3")));
    }

    #[test]
    fn slugs_match_programme_file_names() {
        assert_eq!(title_slug("Morning Show!"), "morning-show");
        assert_eq!(title_slug("  The   Morning -- Show  "), "the-morning-show");
        assert_eq!(title_slug("Children's Hour"), "childrens-hour");
        assert_eq!(title_slug("Top 40: Countdown"), "top-40-countdown");
        assert_eq!(title_slug("Café del Mar"), "café-del-mar");
        assert_eq!(title_slug("Новости Дня"), "новости-дня");
        // A slug is its own slug, including ones with capitals that lower to
        // a letter and a mark.
        for title in ["Morning Show!", "İstanbul Nights", "top-40_v2.1", "Ça Va"] {
            let once = title_slug(title);
            assert_eq!(title_slug(&once), once, "{title}");
        }
        // The file slug as written and the calendar's title meet in the middle.
        assert!(same_programme("top-40_v2.1", "Top 40 v2.1"));
        assert!(same_programme("morning-show", "Morning Show"));
        // A Mac writes é as e + combining accent in file names.
        assert!(same_programme("cafe\u{301}-del-mar", "Café del Mar"));
        // Bad input: different programmes, and a title with no letters at all.
        assert!(!same_programme("morning-show", "Evening Show"));
        assert_eq!(title_slug("!!! ???"), "");
    }
}
