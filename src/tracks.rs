//! Track lists beside programme files: which piece of music starts where in a
//! programme, for the as-run log, the reports and the now-playing title.
//!
//! A programme `20261121_1000_show.mp3` may have one of these beside it:
//!
//! - a CUE sheet, `20261121_1000_show.cue` or `20261121_1000_show.mp3.cue`:
//!   `TRACK nn AUDIO`, `INDEX 01 mm:ss:ff` (75 frames a second), `PERFORMER`
//!   and `TITLE` per track, the sheet's own `PERFORMER` for tracks without one;
//! - a CSV file, `20261121_1000_show.tracks.csv` or
//!   `20261121_1000_show.mp3.tracks.csv`: `offset,artist,title` per line, an
//!   optional header line, offsets as `mm:ss`, `hh:mm:ss` (either with `.fff`)
//!   or seconds.
//!
//! The CUE reader is our own: the commands a programme's sheet needs are few,
//! and the crates that read CUE sheets are either bindings to a C library or
//! little used and unmaintained, and none names the line of a mistake.

use std::fmt;
use std::path::{Path, PathBuf};

use chrono::TimeDelta;

/// One piece of music inside a programme.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Track {
    /// Where it starts in the programme file.
    pub offset: TimeDelta,
    /// Empty when the list does not say.
    pub artist: String,
    pub title: String,
}

impl Track {
    /// The title sent to the stream outputs: `Artist - Title`, or the title
    /// alone when the list names no artist.
    pub fn now_playing(&self) -> String {
        if self.artist.is_empty() {
            self.title.clone()
        } else {
            format!("{} - {}", self.artist, self.title)
        }
    }

    /// The offset in whole milliseconds, as the as-run log keeps it.
    pub fn offset_ms(&self) -> u64 {
        self.offset.num_milliseconds().max(0) as u64
    }
}

/// The tracks of one programme, by offset (strictly increasing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackList {
    /// The file the list was read from.
    pub path: PathBuf,
    pub tracks: Vec<Track>,
}

impl TrackList {
    /// The track playing at `offset` into the programme, with its index:
    /// the last one starting at or before it. `None` before the first.
    pub fn at(&self, offset: TimeDelta) -> Option<(usize, &Track)> {
        let after = self.tracks.partition_point(|t| t.offset <= offset);
        after.checked_sub(1).map(|i| (i, &self.tracks[i]))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TrackListError {
    #[error(
        "cannot read the track list {}: {source}; check that it is readable by the user onair \
         runs as",
        path.display()
    )]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "the track list {}, line {line}, is not UTF-8 text: save the file as UTF-8",
        path.display()
    )]
    NotUtf8 { path: PathBuf, line: u64 },
    #[error("the track list {}, line {line}: {problem}", path.display())]
    Line {
        path: PathBuf,
        line: u64,
        problem: String,
    },
    #[error(
        "the track list {} holds no tracks: add them, or remove the file",
        path.display()
    )]
    Empty { path: PathBuf },
    #[error(
        "{} has two track lists, {} and {}: keep one and remove the other",
        programme.display(),
        first.display(),
        second.display()
    )]
    TwoLists {
        programme: PathBuf,
        first: PathBuf,
        second: PathBuf,
    },
}

/// The file names a track list of a programme can have.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Format {
    Cue,
    Csv,
}

const CUE_SUFFIX: &str = ".cue";
const CSV_SUFFIX: &str = ".tracks.csv";

/// Whether a file in the programme folder is a track list (by its name), so
/// that the folder scan neither airs it nor reports it as a stray file.
pub fn is_track_list_name(file_name: &str) -> bool {
    file_name.ends_with(CUE_SUFFIX) || file_name.ends_with(CSV_SUFFIX)
}

/// The track list beside `programme`, if it has one. An error names the
/// file, the line and what was expected there.
pub fn track_list_for(programme: &Path) -> Result<Option<TrackList>, TrackListError> {
    let Some(name) = programme.file_name().map(|n| n.to_string_lossy()) else {
        return Ok(None);
    };
    let stem = name.rsplit_once('.').map_or(&*name, |(stem, _)| stem);
    let candidates = [
        (format!("{stem}{CUE_SUFFIX}"), Format::Cue),
        (format!("{name}{CUE_SUFFIX}"), Format::Cue),
        (format!("{stem}{CSV_SUFFIX}"), Format::Csv),
        (format!("{name}{CSV_SUFFIX}"), Format::Csv),
    ];
    let mut found: Option<(PathBuf, Format)> = None;
    for (candidate, format) in candidates {
        let path = programme.with_file_name(candidate);
        if !path.is_file() {
            continue;
        }
        if let Some((first, _)) = found {
            return Err(TrackListError::TwoLists {
                programme: programme.to_path_buf(),
                first,
                second: path,
            });
        }
        found = Some((path, format));
    }
    let Some((path, format)) = found else {
        return Ok(None);
    };
    let bytes = std::fs::read(&path).map_err(|source| TrackListError::Read {
        path: path.clone(),
        source,
    })?;
    let tracks = match format {
        Format::Cue => parse_cue(&bytes),
        Format::Csv => parse_csv(&bytes),
    }
    .map_err(|e| e.in_file(&path))?;
    Ok(Some(TrackList { path, tracks }))
}

/// A mistake in a track list, before the file's name is known.
#[derive(Debug, PartialEq, Eq)]
enum ListError {
    NotUtf8 { line: u64 },
    Line { line: u64, problem: String },
    Empty,
}

impl ListError {
    fn line(line: u64, problem: impl fmt::Display) -> Self {
        ListError::Line {
            line,
            problem: problem.to_string(),
        }
    }

    fn in_file(self, path: &Path) -> TrackListError {
        let path = path.to_path_buf();
        match self {
            ListError::NotUtf8 { line } => TrackListError::NotUtf8 { path, line },
            ListError::Line { line, problem } => TrackListError::Line {
                path,
                line,
                problem,
            },
            ListError::Empty => TrackListError::Empty { path },
        }
    }
}

/// The text of a track list without a byte order mark; invalid UTF-8 is
/// reported at the line where it is.
fn text(bytes: &[u8]) -> Result<&str, ListError> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let line = bytes[..e.valid_up_to()]
            .iter()
            .filter(|&&b| b == b'\n')
            .count() as u64
            + 1;
        ListError::NotUtf8 { line }
    })?;
    Ok(text.strip_prefix('\u{feff}').unwrap_or(text))
}

/// Offsets must go up, or "the track at" an offset means nothing.
fn check_order(tracks: &[Track], offset: TimeDelta, line: u64) -> Result<(), ListError> {
    match tracks.last() {
        Some(last) if offset <= last.offset => Err(ListError::line(
            line,
            format!(
                "this track starts at {}, not after the one before it ({}): offsets must \
                 increase from line to line",
                show(offset),
                show(last.offset)
            ),
        )),
        _ => Ok(()),
    }
}

/// `h:mm:ss.fff`, for messages.
fn show(offset: TimeDelta) -> String {
    let ms = offset.num_milliseconds();
    let s = ms / 1000;
    format!(
        "{}:{:02}:{:02}.{:03}",
        s / 3600,
        s / 60 % 60,
        s % 60,
        ms % 1000
    )
}

// ---------------------------------------------------------------- CUE sheets

/// A track being read, until the next `TRACK` or the end of the sheet.
struct CueTrack {
    number: String,
    line: u64,
    performer: Option<String>,
    title: Option<String>,
    start: Option<(TimeDelta, u64)>,
}

fn parse_cue(bytes: &[u8]) -> Result<Vec<Track>, ListError> {
    let text = text(bytes)?;
    let mut sheet_performer: Option<String> = None;
    let mut files = 0u32;
    let mut current: Option<CueTrack> = None;
    let mut done: Vec<CueTrack> = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let n = n as u64 + 1;
        let words = cue_words(line).map_err(|problem| ListError::line(n, problem))?;
        let Some((command, args)) = words.split_first() else {
            continue;
        };
        let value = || -> Result<String, ListError> {
            args.first().cloned().ok_or_else(|| {
                ListError::line(
                    n,
                    format!("{command} without a value: expected {command} \"…\""),
                )
            })
        };
        match command.to_ascii_uppercase().as_str() {
            "FILE" => {
                files += 1;
                if files > 1 {
                    return Err(ListError::line(
                        n,
                        "a second FILE: a programme's sheet describes its one file; split it, \
                         one sheet per programme file",
                    ));
                }
            }
            "TRACK" => {
                let number = args.first().cloned().ok_or_else(|| {
                    ListError::line(n, "TRACK without a number: expected TRACK 01 AUDIO")
                })?;
                done.extend(current.take());
                current = Some(CueTrack {
                    number,
                    line: n,
                    performer: None,
                    title: None,
                    start: None,
                });
            }
            "PERFORMER" => {
                let performer = value()?;
                match current.as_mut() {
                    Some(track) => track.performer = Some(performer),
                    None => sheet_performer = Some(performer),
                }
            }
            "TITLE" => {
                let title = value()?;
                // The sheet's own title (the programme's) is not a track's.
                if let Some(track) = current.as_mut() {
                    track.title = Some(title);
                }
            }
            "INDEX" => {
                let Some(track) = current.as_mut() else {
                    return Err(ListError::line(n, "INDEX before any TRACK"));
                };
                let (Some(number), Some(time)) = (args.first(), args.get(1)) else {
                    return Err(ListError::line(
                        n,
                        "expected INDEX 01 mm:ss:ff (minutes, seconds, frames of 1/75 s)",
                    ));
                };
                let number: u32 = number.parse().map_err(|_| {
                    ListError::line(n, format!("INDEX number {number:?} is not a number"))
                })?;
                let offset = cue_time(time).map_err(|problem| ListError::line(n, problem))?;
                // INDEX 00 is the gap before a track; the music starts at 01.
                if number == 1 {
                    track.start = Some((offset, n));
                }
            }
            // REM, CATALOG, ISRC, FLAGS, PREGAP, SONGWRITER and anything a
            // ripping tool adds say nothing about where music starts.
            _ => {}
        }
    }
    done.extend(current);
    let mut tracks = Vec::with_capacity(done.len());
    for track in done {
        let Some((offset, index_line)) = track.start else {
            return Err(ListError::line(
                track.line,
                format!(
                    "TRACK {} has no INDEX 01: add INDEX 01 mm:ss:ff with where it starts",
                    track.number
                ),
            ));
        };
        let Some(title) = track.title.filter(|t| !t.trim().is_empty()) else {
            return Err(ListError::line(
                track.line,
                format!(
                    "TRACK {} has no TITLE: add TITLE \"…\" under it (reports need it)",
                    track.number
                ),
            ));
        };
        check_order(&tracks, offset, index_line)?;
        tracks.push(Track {
            offset,
            artist: track
                .performer
                .or_else(|| sheet_performer.clone())
                .unwrap_or_default(),
            title,
        });
    }
    if tracks.is_empty() {
        return Err(ListError::Empty);
    }
    Ok(tracks)
}

/// The words of a CUE line: a command and its arguments, a quoted argument
/// being one word without its quotes.
fn cue_words(line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut chars = line.trim().chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        let mut word = String::new();
        if c == '"' {
            chars.next();
            loop {
                match chars.next() {
                    Some('"') => break,
                    Some(c) => word.push(c),
                    None => return Err("a quote is not closed: expected \"…\"".into()),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                word.push(c);
                chars.next();
            }
        }
        words.push(word);
    }
    Ok(words)
}

/// `mm:ss:ff`, minutes (any number), seconds, frames of 1/75 s.
fn cue_time(text: &str) -> Result<TimeDelta, String> {
    let expected = "expected mm:ss:ff (minutes, seconds, frames of 1/75 s)";
    let parts: Vec<&str> = text.split(':').collect();
    let [m, s, f] = parts.as_slice() else {
        return Err(format!("{text:?}: {expected}"));
    };
    let number = |part: &str| -> Option<i64> {
        (!part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()))
            .then(|| part.parse().ok())
            .flatten()
    };
    let (Some(m), Some(s), Some(f)) = (number(m), number(s), number(f)) else {
        return Err(format!("{text:?}: {expected}"));
    };
    if s >= 60 {
        return Err(format!("{text:?}: {s} seconds; {expected}"));
    }
    if f >= 75 {
        return Err(format!(
            "{text:?}: frame {f}, but a second has 75 frames (00 to 74); {expected}"
        ));
    }
    let ms = (m * 60 + s) * 1000 + (f * 1000 + 37) / 75;
    TimeDelta::try_milliseconds(ms).ok_or_else(|| format!("{text:?} is too long"))
}

// ---------------------------------------------------------------- CSV lists

fn parse_csv(bytes: &[u8]) -> Result<Vec<Track>, ListError> {
    let text = text(bytes)?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let mut tracks: Vec<Track> = Vec::new();
    let mut first = true;
    for record in reader.records() {
        let record = record.map_err(|e| {
            let line = e.position().map_or(0, |p| p.line());
            ListError::line(line, format!("not readable as CSV: {e}"))
        })?;
        let line = record.position().map_or(0, |p| p.line());
        let header = first
            && !record
                .get(0)
                .unwrap_or("")
                .contains(|c: char| c.is_ascii_digit());
        first = false;
        if header {
            continue;
        }
        if record.len() != 3 {
            let mut problem = format!(
                "{} column{}, expected 3: offset,artist,title (an empty artist is allowed; put \
                 a title that holds a comma in double quotes)",
                record.len(),
                if record.len() == 1 { "" } else { "s" }
            );
            if record.len() == 1 && record[0].contains(';') {
                problem.push_str("; the columns are separated by semicolons: use commas");
            }
            return Err(ListError::line(line, problem));
        }
        let offset = csv_offset(&record[0]).map_err(|p| ListError::line(line, p))?;
        if record[2].is_empty() {
            return Err(ListError::line(
                line,
                "the title is empty: expected offset,artist,title",
            ));
        }
        check_order(&tracks, offset, line)?;
        tracks.push(Track {
            offset,
            artist: record[1].to_string(),
            title: record[2].to_string(),
        });
    }
    if tracks.is_empty() {
        return Err(ListError::Empty);
    }
    Ok(tracks)
}

/// `ss`, `ss.fff`, `mm:ss`, `hh:mm:ss`, either of the last two with `.fff`.
fn csv_offset(text: &str) -> Result<TimeDelta, String> {
    let bad = || {
        format!(
            "offset {text:?} is not a time: expected mm:ss, hh:mm:ss (either with .fff) or \
             seconds"
        )
    };
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let digits = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
    if (!fraction.is_empty() && !digits(fraction)) || text.ends_with('.') {
        return Err(bad());
    }
    // Milliseconds from up to three decimals; further ones are below what is logged.
    let ms: i64 = format!("{fraction:0<3}")[..3].parse().map_err(|_| bad())?;
    let parts: Vec<&str> = whole.split(':').collect();
    if parts.len() > 3 || !parts.iter().all(|p| digits(p)) {
        return Err(bad());
    }
    let numbers: Vec<i64> = parts
        .iter()
        .map(|p| p.parse::<i64>().map_err(|_| bad()))
        .collect::<Result<_, _>>()?;
    let seconds = match numbers.as_slice() {
        [s] => *s,
        [m, s] if *s < 60 => m * 60 + s,
        [h, m, s] if *m < 60 && *s < 60 => h * 3600 + m * 60 + s,
        _ => {
            return Err(format!(
                "offset {text:?}: minutes and seconds go from 00 to 59 (mm:ss or hh:mm:ss)"
            ));
        }
    };
    seconds
        .checked_mul(1000)
        .and_then(|s| s.checked_add(ms))
        .and_then(TimeDelta::try_milliseconds)
        .ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(ms: i64) -> TimeDelta {
        TimeDelta::milliseconds(ms)
    }

    fn line_error(result: Result<Vec<Track>, ListError>) -> (u64, String) {
        match result {
            Err(ListError::Line { line, problem }) => (line, problem),
            other => panic!("expected an error at a line, got {other:?}"),
        }
    }

    const SHEET: &str = "\u{feff}REM GENRE Jazz\r\n\
        PERFORMER \"Various Artists\"\r\n\
        TITLE \"Saturday Jazz, 21 November\"\r\n\
        FILE \"20261121_1000_saturday-jazz.mp3\" MP3\r\n\
        \x20 TRACK 01 AUDIO\r\n\
        \x20   TITLE \"Intro\"\r\n\
        \x20   INDEX 01 00:00:00\r\n\
        \x20 TRACK 02 AUDIO\r\n\
        \x20   TITLE \"So What\"\r\n\
        \x20   PERFORMER \"Miles Davis\"\r\n\
        \x20   INDEX 00 03:58:00\r\n\
        \x20   INDEX 01 04:00:37\r\n\
        \x20 TRACK 03 AUDIO\r\n\
        \x20   TITLE \"Take Five\"\r\n\
        \x20   PERFORMER \"The Dave Brubeck Quartet\"\r\n\
        \x20   INDEX 01 123:59:74\r\n";

    #[test]
    fn a_cue_sheet_with_bom_crlf_quotes_and_a_sheet_performer() {
        let tracks = parse_cue(SHEET.as_bytes()).unwrap();
        assert_eq!(
            tracks,
            [
                Track {
                    offset: ms(0),
                    artist: "Various Artists".into(),
                    title: "Intro".into(),
                },
                Track {
                    // 37 frames of 1/75 s = 493.3 ms; INDEX 00 (the gap) is not the start.
                    offset: ms(240_493),
                    artist: "Miles Davis".into(),
                    title: "So What".into(),
                },
                Track {
                    // Minutes past 99 are how long programmes are written.
                    offset: ms((123 * 60 + 59) * 1000 + 987),
                    artist: "The Dave Brubeck Quartet".into(),
                    title: "Take Five".into(),
                },
            ]
        );
        assert_eq!(tracks[0].now_playing(), "Various Artists - Intro");
        assert_eq!(tracks[1].now_playing(), "Miles Davis - So What");
    }

    #[test]
    fn a_cue_sheet_without_any_performer_gives_titles_alone() {
        let tracks = parse_cue(b"TRACK 1 AUDIO\nTITLE Interlude\nINDEX 01 0:05:00\n").unwrap();
        assert_eq!(tracks[0].artist, "");
        assert_eq!(tracks[0].now_playing(), "Interlude");
        assert_eq!(tracks[0].offset, ms(5000));
    }

    #[test]
    fn cue_mistakes_name_their_line() {
        // Bad input: a track without INDEX 01 (only its gap), reported at its TRACK line.
        let (line, problem) = line_error(parse_cue(
            b"TRACK 01 AUDIO\n TITLE \"A\"\n INDEX 01 00:00:00\nTRACK 02 AUDIO\n TITLE \"B\"\n INDEX 00 01:00:00\n",
        ));
        assert_eq!(line, 4);
        assert!(problem.contains("TRACK 02 has no INDEX 01"), "{problem}");

        // Bad input: frame 75 (a second has 75 frames, 00 to 74).
        let (line, problem) = line_error(parse_cue(
            b"TRACK 01 AUDIO\nTITLE \"A\"\nINDEX 01 00:10:75\n",
        ));
        assert_eq!(line, 3);
        assert!(problem.contains("75 frames"), "{problem}");

        // Bad input: 60 seconds, a time with two parts, letters.
        for bad in ["00:60:00", "10:00", "1a:00:00"] {
            let sheet = format!("TRACK 01 AUDIO\nTITLE \"A\"\nINDEX 01 {bad}\n");
            let (line, problem) = line_error(parse_cue(sheet.as_bytes()));
            assert_eq!(line, 3, "{bad}");
            assert!(problem.contains("mm:ss:ff"), "{bad}: {problem}");
        }

        // Bad input: the second track starts before the first.
        let (line, problem) = line_error(parse_cue(
            b"TRACK 01 AUDIO\nTITLE \"A\"\nINDEX 01 05:00:00\nTRACK 02 AUDIO\nTITLE \"B\"\nINDEX 01 04:00:00\n",
        ));
        assert_eq!(line, 6);
        assert!(problem.contains("offsets must increase"), "{problem}");

        // Bad input: a quote left open, a track without a title, two files.
        let (line, problem) = line_error(parse_cue(b"TRACK 01 AUDIO\nTITLE \"A\n"));
        assert_eq!(line, 2);
        assert!(problem.contains("quote"), "{problem}");
        let (line, problem) = line_error(parse_cue(b"TRACK 01 AUDIO\nINDEX 01 00:00:00\n"));
        assert_eq!(line, 1);
        assert!(problem.contains("no TITLE"), "{problem}");
        let (line, _) = line_error(parse_cue(
            b"FILE \"a.wav\" WAVE\nTRACK 01 AUDIO\nTITLE A\nINDEX 01 00:00:00\nFILE \"b.wav\" WAVE\n",
        ));
        assert_eq!(line, 5);

        // Bad input: an empty file, a BOM alone, a sheet with no TRACK.
        for empty in [
            &b""[..],
            b"\xef\xbb\xbf",
            b"PERFORMER \"X\"\r\nTITLE \"Y\"\r\n",
        ] {
            assert_eq!(parse_cue(empty), Err(ListError::Empty));
        }
        // Bad input: Latin-1 bytes on line 2.
        assert_eq!(
            parse_cue(b"TRACK 01 AUDIO\nTITLE \"Caf\xe9\"\n"),
            Err(ListError::NotUtf8 { line: 2 })
        );
    }

    #[test]
    fn a_csv_list_with_header_quotes_and_every_offset_form() {
        let list = "\u{feff}offset,artist,title\r\n\
                    0,,Station ident\r\n\
                    1:05,Nina Simone,\"Feeling Good, live\"\r\n\
                    01:02:03.5,Fela Kuti,Zombie\r\n\
                    \r\n\
                    3724.25, Björk , Jóga \r\n";
        let tracks = parse_csv(list.as_bytes()).unwrap();
        let got: Vec<(i64, &str, &str)> = tracks
            .iter()
            .map(|t| {
                (
                    t.offset.num_milliseconds(),
                    t.artist.as_str(),
                    t.title.as_str(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                (0, "", "Station ident"),
                (65_000, "Nina Simone", "Feeling Good, live"),
                (3_723_500, "Fela Kuti", "Zombie"),
                (3_724_250, "Björk", "Jóga"),
            ]
        );
        assert_eq!(tracks[0].now_playing(), "Station ident");
        // Without a header line the first line is a track.
        let tracks = parse_csv(b"0:00,A,B\n0:30,C,D\n").unwrap();
        assert_eq!(tracks.len(), 2);
        assert_eq!(tracks[1].offset, ms(30_000));
    }

    #[test]
    fn csv_mistakes_name_their_line() {
        // Bad input: a line with two columns.
        let (line, problem) = line_error(parse_csv(b"offset,artist,title\n0:00,A,B\n1:00,Only\n"));
        assert_eq!(line, 3);
        assert!(problem.contains("2 columns, expected 3"), "{problem}");
        // Bad input: an unquoted comma in a title makes four.
        let (_, problem) = line_error(parse_csv(b"0:00,A,Hello, goodbye\n"));
        assert!(problem.contains("double quotes"), "{problem}");
        // Bad input: semicolons instead of commas.
        let (_, problem) = line_error(parse_csv(b"0:00;A;B\n"));
        assert!(problem.contains("semicolons"), "{problem}");
        // Bad input: offsets that are not numbers or times, after the first line.
        for bad in [
            "soon",
            "1:2x",
            "1:60",
            "1:75:00",
            "-5",
            "1.",
            "1:00:00:00",
            "",
        ] {
            let list = format!("0:00,A,B\n\"{bad}\",C,D\n");
            let (line, problem) = line_error(parse_csv(list.as_bytes()));
            assert_eq!(line, 2, "{bad}: {problem}");
            assert!(problem.contains(&format!("{bad:?}")), "{bad}: {problem}");
        }
        // Bad input: a decreasing and a repeated offset.
        let (line, problem) = line_error(parse_csv(b"0:00,A,B\n5:00,C,D\n4:59.999,E,F\n"));
        assert_eq!(line, 3);
        assert!(problem.contains("offsets must increase"), "{problem}");
        let (line, _) = line_error(parse_csv(b"0:00,A,B\n0,C,D\n"));
        assert_eq!(line, 2);
        // Bad input: an empty title.
        let (_, problem) = line_error(parse_csv(b"0:00,A,\n"));
        assert!(problem.contains("title is empty"), "{problem}");
        // Bad input: an empty file, a header alone, a BOM alone.
        for empty in [&b""[..], b"offset,artist,title\n", b"\xef\xbb\xbf"] {
            assert_eq!(parse_csv(empty), Err(ListError::Empty));
        }
    }

    #[test]
    fn the_track_at_an_offset() {
        let list = TrackList {
            path: PathBuf::from("x.cue"),
            tracks: parse_csv(b"0:10,A,One\n1:00,B,Two\n2:00,C,Three\n").unwrap(),
        };
        assert_eq!(list.at(ms(9_999)), None, "before the first track");
        assert_eq!(list.at(ms(10_000)).map(|(i, _)| i), Some(0));
        assert_eq!(
            list.at(ms(59_999)).map(|(i, t)| (i, t.title.as_str())),
            Some((0, "One"))
        );
        assert_eq!(list.at(ms(60_000)).map(|(i, _)| i), Some(1));
        assert_eq!(list.at(ms(10_000_000)).map(|(i, _)| i), Some(2));
    }

    /// A folder of its own under the system's temporary folder, emptied first.
    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("onair-tracks-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn the_list_beside_a_programme_file() {
        let dir = scratch("beside");
        let programme = dir.join("20261121_1000_saturday-jazz.mp3");
        std::fs::write(&programme, b"").unwrap();
        assert!(track_list_for(&programme).unwrap().is_none());

        // Each of the four names is found.
        for name in [
            "20261121_1000_saturday-jazz.cue",
            "20261121_1000_saturday-jazz.mp3.cue",
            "20261121_1000_saturday-jazz.tracks.csv",
            "20261121_1000_saturday-jazz.mp3.tracks.csv",
        ] {
            let path = dir.join(name);
            let text = if name.ends_with(".cue") {
                "TRACK 01 AUDIO\nTITLE \"So What\"\nINDEX 01 00:01:00\n"
            } else {
                "0:01,,So What\n"
            };
            std::fs::write(&path, text).unwrap();
            let list = track_list_for(&programme).unwrap().unwrap();
            assert_eq!(list.path, path);
            assert_eq!(list.tracks[0].title, "So What");
            assert_eq!(list.tracks[0].offset_ms(), 1000);
            assert!(is_track_list_name(name), "{name}");
            std::fs::remove_file(&path).unwrap();
        }
        assert!(!is_track_list_name("20261121_1000_saturday-jazz.csv"));

        // Bad input: two lists for one programme.
        std::fs::write(dir.join("20261121_1000_saturday-jazz.cue"), "").unwrap();
        std::fs::write(dir.join("20261121_1000_saturday-jazz.tracks.csv"), "").unwrap();
        let error = track_list_for(&programme).unwrap_err().to_string();
        assert!(error.contains("two track lists"), "{error}");
        std::fs::remove_file(dir.join("20261121_1000_saturday-jazz.cue")).unwrap();

        // Bad input: a list with a mistake names the file and the line.
        std::fs::write(
            dir.join("20261121_1000_saturday-jazz.tracks.csv"),
            "0:00,A,B\n0:10,C\n",
        )
        .unwrap();
        let error = track_list_for(&programme).unwrap_err().to_string();
        assert!(
            error.contains("20261121_1000_saturday-jazz.tracks.csv, line 2: 2 columns"),
            "{error}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
