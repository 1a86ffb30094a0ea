//! Entries as `onair log` and the web show them: an aligned table for a
//! terminal, CSV and JSON, all in the station's time.

use std::path::Path;

use chrono::{DateTime, DurationRound, SecondsFormat, TimeDelta, Timelike, Utc};
use chrono_tz::Tz;
use serde::Serialize;

use super::{Ended, Entry, Kind};
use crate::listen_back::ListenAlarm;

/// `t` to the nearest whole `unit`. A programme starts on the sample nearest
/// its slot, which can be a few microseconds before it: shown cut instead
/// of rounded, a 09:00:00 start would read 08:59:59.999 (or 08:59:59).
pub fn nearest(t: DateTime<Utc>, unit: TimeDelta) -> DateTime<Utc> {
    t.duration_round(unit).unwrap_or(t)
}

/// A time in the station's zone: RFC 3339 with the station's offset, to the
/// second, or to the millisecond when it falls between seconds.
fn local(t: DateTime<Utc>, tz: Tz) -> String {
    let local = nearest(t, TimeDelta::milliseconds(1)).with_timezone(&tz);
    let precision = if local.nanosecond() == 0 {
        SecondsFormat::Secs
    } else {
        SecondsFormat::Millis
    };
    local.to_rfc3339_opts(precision, false)
}

/// One entry as `onair log` shows it, in the station's time.
#[derive(Serialize)]
struct Row<'a> {
    id: u64,
    start: String,
    end: Option<String>,
    kind: Kind,
    title: &'a str,
    file: &'a str,
    offset_ms: u64,
    ended: Option<Ended>,
    reason: Option<&'a str>,
    scheduled: Option<String>,
    // Only on the entries they belong to, so that the rows of programmes,
    // filler and stream events stay as they always were.
    #[serde(skip_serializing_if = "Option::is_none")]
    artist: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    programme: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    replaces: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    problem: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    heard: Option<ListenAlarm>,
    #[serde(skip_serializing_if = "Option::is_none")]
    by: Option<&'a str>,
}

fn rows(entries: &[Entry], tz: Tz) -> impl Iterator<Item = Row<'_>> {
    entries.iter().map(move |e| Row {
        id: e.id,
        start: local(e.start, tz),
        end: e.end.map(|t| local(t, tz)),
        kind: e.kind,
        title: &e.title,
        file: &e.file,
        offset_ms: e.offset_ms,
        ended: e.ended,
        reason: e.reason.as_deref(),
        scheduled: e.scheduled.map(|t| local(t, tz)),
        artist: e.artist.as_deref(),
        programme: e.programme.as_deref(),
        replaces: e.replaces.as_deref(),
        problem: e.problem.as_deref(),
        heard: e.heard,
        by: e.by.as_deref(),
    })
}

/// The entries as a JSON array, times in the station's zone; `end` and
/// `ended` are null while an entry is on air, and `ended` is null for
/// stream events. `artist` and `programme` are there on tracks (`artist`
/// when the track list names one), `replaces` and `problem` on substitutes,
/// `heard` on listen-back events.
pub fn to_json(entries: &[Entry], tz: Tz) -> String {
    let rows: Vec<Row> = rows(entries, tz).collect();
    // Plain strings and numbers: serialising to memory cannot fail.
    serde_json::to_string_pretty(&rows).unwrap_or_default()
}

/// The fields of an as-run entry in `onair log --json` and `--csv`, in order.
/// The last six are for tracks (`artist`, `programme`), substitutes
/// (`replaces`, `problem`), listen-back events (`heard`) and the studio
/// going live (`by`, who switched), empty for other entries.
pub const COLUMNS: [&str; 16] = [
    "id",
    "start",
    "end",
    "kind",
    "title",
    "file",
    "offset_ms",
    "ended",
    "reason",
    "scheduled",
    "artist",
    "programme",
    "replaces",
    "problem",
    "heard",
    "by",
];

/// The entries as CSV with a header line, the same columns as [`to_json`];
/// empty fields where JSON has null.
pub fn to_csv(entries: &[Entry], tz: Tz) -> String {
    let mut out = csv::Writer::from_writer(Vec::new());
    // Writing to memory cannot fail, so the results below are only formalities.
    let _ = out.write_record(COLUMNS);
    for row in rows(entries, tz) {
        let _ = out.write_record([
            row.id.to_string(),
            row.start,
            row.end.unwrap_or_default(),
            row.kind.to_string(),
            row.title.to_string(),
            row.file.to_string(),
            row.offset_ms.to_string(),
            row.ended.map(|e| e.to_string()).unwrap_or_default(),
            row.reason.unwrap_or_default().to_string(),
            row.scheduled.unwrap_or_default(),
            row.artist.unwrap_or_default().to_string(),
            row.programme.unwrap_or_default().to_string(),
            row.replaces.unwrap_or_default().to_string(),
            row.problem.unwrap_or_default().to_string(),
            row.heard.map(heard_name).unwrap_or_default().to_string(),
            row.by.unwrap_or_default().to_string(),
        ]);
    }
    let bytes = out.into_inner().unwrap_or_default();
    String::from_utf8(bytes).unwrap_or_default()
}

/// As in JSON and in the status's `listen.state`.
fn heard_name(heard: ListenAlarm) -> &'static str {
    match heard {
        ListenAlarm::Starting => "starting",
        ListenAlarm::Ok => "ok",
        ListenAlarm::Absent => "absent",
        ListenAlarm::NoData => "no_data",
        ListenAlarm::Silent => "silent",
    }
}

/// The entries as an aligned table for a terminal, times in the station's
/// zone with its abbreviation (GMT/BST), so hours repeated or skipped at a
/// clock change stay readable.
pub fn to_table(entries: &[Entry], tz: Tz) -> String {
    if entries.is_empty() {
        return "no as-run entries in this period\n".to_string();
    }
    let header = ["START", "END", "KIND", "ENDED", "TITLE", "FROM", "NOTE"];
    let mut lines: Vec<[String; 7]> = vec![header.map(String::from)];
    let second = TimeDelta::seconds(1);
    for e in entries {
        let start = nearest(e.start, second).with_timezone(&tz);
        let end = match e.end {
            None => "on air".to_string(),
            Some(end) => {
                let end = nearest(end, second).with_timezone(&tz);
                if end.date_naive() == start.date_naive() && end.offset() == start.offset() {
                    end.format("%H:%M:%S").to_string()
                } else {
                    end.format("%Y-%m-%d %H:%M:%S %Z").to_string()
                }
            }
        };
        let mut note = e.reason.clone().unwrap_or_default();
        if let Some(replaces) = &e.replaces {
            // The file name is enough here: it is in the programme folder.
            let name = Path::new(replaces)
                .file_name()
                .map_or(replaces.clone(), |n| n.to_string_lossy().into_owned());
            let problem = e.problem.as_deref().unwrap_or("not playable");
            let replaced = format!("replaces {name} ({problem})");
            note = if note.is_empty() {
                replaced
            } else {
                format!("{replaced}; {note}")
            };
        }
        // A track always starts after its slot: the programme's row says when that was.
        if let Some(slot) = e.scheduled
            && e.kind != Kind::Track
            && (e.start - slot).num_seconds().abs() >= 1
        {
            let slot = slot.with_timezone(&tz).format("%H:%M:%S");
            note = if note.is_empty() {
                format!("slot {slot}")
            } else {
                format!("slot {slot}; {note}")
            };
        }
        let from = if e.offset_ms == 0 {
            String::new()
        } else {
            let s = e.offset_ms / 1000;
            format!("+{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
        };
        lines.push([
            start.format("%Y-%m-%d %H:%M:%S %Z").to_string(),
            end,
            e.kind.to_string(),
            e.ended.map_or(String::new(), |x| x.to_string()),
            title_cell(e),
            from,
            note,
        ]);
    }
    let mut widths = [0usize; 7];
    for line in &lines {
        for (width, cell) in widths.iter_mut().zip(line) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut text = String::new();
    for line in &lines {
        let cells: Vec<String> = line
            .iter()
            .zip(widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        text.push_str(cells.join("  ").trim_end());
        text.push('\n');
    }
    text
}

/// A track is shown indented under its programme, with its artist.
fn title_cell(e: &Entry) -> String {
    if e.kind != Kind::Track {
        return shorten(&e.title, 40);
    }
    let track = match &e.artist {
        Some(artist) => format!("{artist} - {}", e.title),
        None => e.title.clone(),
    };
    format!("  {}", shorten(&track, 38))
}

fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        let cut: String = text.chars().take(max - 1).collect();
        format!("{cut}…")
    }
}
