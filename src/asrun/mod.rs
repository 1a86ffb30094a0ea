//! The as-run log: every sound that went on air, when it started and ended,
//! what it was and how it came off air. The director is its only writer;
//! `onair log` and the web page read it.
//!
//! Every write is flushed before it returns, so after a crash or a power cut
//! the log holds everything the director was told had been written. At
//! start-up, [`AsRunWriter::recover`] closes what was on air when the box
//! stopped, and the director resumes from those entries.
//!
//! - this module: the entries' vocabulary, and the log's two sides: the
//!   director's [`AsRunWriter`] and everyone's [`AsRunReader`];
//! - `sled.rs`: the log on disk;
//! - `heartbeat.rs`: when the box was last alive, written every second;
//! - `print.rs`: entries as a table, CSV and JSON for `onair log` and the web.

mod heartbeat;
mod print;
mod sled;
#[cfg(test)]
mod tests;

use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::listen_back::ListenAlarm;

pub use print::{COLUMNS, nearest, to_csv, to_json, to_table};
pub use sled::{Database, SledReader, SledWriter, log_exists};

/// What kind of sound went on air.
#[derive(Serialize, Deserialize, Clone, Copy, PartialEq, Eq, Debug)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Scheduled,
    Filler,
    Emergency,
    /// A scheduled programme taken up again after the box restarted.
    Resumed,
    /// Not a sound: a stream output went up or down (an event, start = end,
    /// titled `up: <output>` or `down: <output>`, the output in `file`).
    Stream,
    /// A track inside a programme, from the programme's track list: logged
    /// beside (not instead of) the programme's own entry, with the same
    /// `file` and `scheduled`, its place in the file in `offset_ms`, and the
    /// programme's title in `programme`. Never a slot of its own.
    Track,
    /// A previous edition of a programme airing in its slot in place of a
    /// file that was missing or broken (`replaces`, `problem`); also when
    /// taken up again after a restart (`offset_ms` says where). It stands
    /// for the slot like a scheduled programme.
    Substitute,
    /// Not a sound: the listen-back raised an alarm for a stream (listeners
    /// would hear nothing) or cleared it. An event like [`Kind::Stream`]:
    /// start = end, the output in `file`, what was heard in `heard`, why
    /// in `reason`, titled `<heard>: <output>` (`silent: icecast …`).
    Listen,
    /// The studio's live input on air: from the takeover to the return to
    /// automation. Who switched is in `by` (and who switched back in
    /// `reason`); the file is the capture device.
    Live,
    /// Not a sound: an alarm raised or cleared (dead air, a silent studio,
    /// a live input gone). An event: start = end, titled `alarm: …` or
    /// `cleared: …`, its kind in `file`.
    Alarm,
}

/// How a sound came off air.
#[derive(Serialize, Deserialize, Clone, Copy, PartialEq, Eq, Debug)]
#[serde(rename_all = "lowercase")]
pub enum Ended {
    /// It played to its end.
    Natural,
    /// Faded out at its hard end (the next scheduled start).
    Faded,
    /// Taken off air by a skip command.
    Skipped,
    /// It could not start, or its file could not be played on.
    Failed,
    /// The box stopped while it was on air: a crash or a power cut.
    Interrupted,
    /// The box was shut down in an orderly way while it was on air.
    Stopped,
    /// Faded out because the studio took over (`reason` says who).
    Live,
    /// Never aired: its start fell while the studio was live, and
    /// automation came back too long after it (`live.cancel_after_minutes`).
    Cancelled,
    /// Taken off air because it was silent (dead air); the emergency
    /// audio followed.
    #[serde(rename = "dead_air")]
    DeadAir,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Scheduled => "scheduled",
            Kind::Filler => "filler",
            Kind::Emergency => "emergency",
            Kind::Resumed => "resumed",
            Kind::Stream => "stream",
            Kind::Track => "track",
            Kind::Substitute => "substitute",
            Kind::Listen => "listen",
            Kind::Live => "live",
            Kind::Alarm => "alarm",
        }
    }
}

impl Ended {
    pub fn as_str(self) -> &'static str {
        match self {
            Ended::Natural => "natural",
            Ended::Faded => "faded",
            Ended::Skipped => "skipped",
            Ended::Failed => "failed",
            Ended::Interrupted => "interrupted",
            Ended::Stopped => "stopped",
            Ended::Live => "live",
            Ended::Cancelled => "cancelled",
            Ended::DeadAir => "dead_air",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for Ended {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One sound that went on air (or could not).
#[derive(Serialize, Deserialize, Clone, PartialEq, Eq, Debug)]
pub struct Entry {
    pub id: u64,
    pub start: DateTime<Utc>,
    /// `None` while it is on air.
    pub end: Option<DateTime<Utc>>,
    pub kind: Kind,
    pub title: String,
    pub file: String,
    /// Where in the file it started, for a programme resumed or started late.
    pub offset_ms: u64,
    /// `None` while it is on air.
    pub ended: Option<Ended>,
    pub reason: Option<String>,
    /// The slot time, for scheduled, resumed and substitute items, and for
    /// the tracks inside them.
    pub scheduled: Option<DateTime<Utc>>,
    // The fields below came after the first logs were written: an entry
    // without them reads as `None`, and they are left out when `None`.
    /// A track's artist (`None` when its list names none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artist: Option<String>,
    /// A track's programme (its title).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub programme: Option<String>,
    /// A substitute's: the file that was due in the slot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replaces: Option<String>,
    /// A substitute's: what was wrong with the file that was due (missing,
    /// cannot be decoded…). Kept apart from `reason`, which says how the
    /// entry came off air.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
    /// A listen-back event's: what the box heard on the stream (`absent`,
    /// `no_data`, `silent`; `ok` when the alarm cleared).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heard: Option<ListenAlarm>,
    /// A live entry's: who put the studio on air (`panel`, `page`,
    /// `token NAME`, `uid 1000`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
}

impl Entry {
    /// A new entry from what the director knows, with no end yet.
    fn from_new(e: NewEntry) -> Entry {
        Entry {
            id: 0,
            start: e.start,
            end: None,
            kind: e.kind,
            title: e.title,
            file: e.file,
            offset_ms: e.offset_ms,
            ended: None,
            reason: None,
            scheduled: e.scheduled,
            artist: None,
            programme: None,
            replaces: None,
            problem: None,
            heard: None,
            by: None,
        }
    }

    /// An item that could not start at all: start = end, ended = failed.
    fn failed_to_start(mut self, reason: String) -> Entry {
        self.end = Some(self.start);
        self.ended = Some(Ended::Failed);
        self.reason = Some(reason);
        self
    }

    fn of_track(t: NewTrack) -> Entry {
        let mut entry = Entry::from_new(NewEntry {
            start: t.start,
            kind: Kind::Track,
            title: t.title,
            file: t.file,
            offset_ms: t.offset_ms,
            scheduled: Some(t.scheduled),
        });
        entry.artist = Some(t.artist).filter(|a| !a.is_empty());
        entry.programme = Some(t.programme);
        entry
    }

    fn of_substitute(e: NewEntry, s: Substitution) -> Entry {
        let mut entry = Entry::from_new(e);
        entry.kind = Kind::Substitute;
        entry.replaces = Some(s.replaces);
        entry.problem = Some(s.problem);
        entry
    }

    /// An event has no length: it ends where it starts.
    fn of_stream_event(e: StreamEvent) -> Entry {
        let mut entry = Entry::from_new(NewEntry {
            start: e.at,
            kind: Kind::Stream,
            title: format!("{}: {}", if e.up { "up" } else { "down" }, e.output),
            file: e.output,
            offset_ms: 0,
            scheduled: None,
        });
        entry.end = Some(e.at);
        entry.reason = e.reason;
        entry
    }

    /// An event has no length: it ends where it starts.
    fn of_listen_event(e: ListenEvent) -> Entry {
        let mut entry = Entry::from_new(NewEntry {
            start: e.at,
            kind: Kind::Listen,
            title: format!("{}: {}", e.heard.words(), e.output),
            file: e.output,
            offset_ms: 0,
            scheduled: None,
        });
        entry.end = Some(e.at);
        entry.reason = e.reason;
        entry.heard = Some(e.heard);
        entry
    }

    fn of_live(l: LiveEntry) -> Entry {
        let mut entry = Entry::from_new(NewEntry {
            start: l.start,
            kind: Kind::Live,
            title: l.title,
            file: l.device,
            offset_ms: 0,
            scheduled: None,
        });
        entry.by = Some(l.by);
        entry
    }

    /// An event has no length: it ends where it starts.
    fn of_alarm(a: AlarmEvent) -> Entry {
        let mut entry = Entry::from_new(NewEntry {
            start: a.at,
            kind: Kind::Alarm,
            title: format!("{}: {}", if a.raised { "alarm" } else { "cleared" }, a.kind),
            file: a.kind,
            offset_ms: 0,
            scheduled: None,
        });
        entry.end = Some(a.at);
        entry.reason = Some(a.message);
        entry
    }

    /// Whether this entry is a sound that stands for itself: a programme,
    /// filler or emergency audio, not a track inside a programme nor a
    /// stream or listen-back event.
    pub fn is_item(&self) -> bool {
        !matches!(
            self.kind,
            Kind::Track | Kind::Stream | Kind::Listen | Kind::Alarm
        )
    }
}

/// A track inside a programme starting on air, as the director sees it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct NewTrack {
    /// When the track started on air.
    pub start: DateTime<Utc>,
    /// The programme's slot time: tells, after a restart, which tracks of
    /// this slot were already logged (see [`tracks_logged`]).
    pub scheduled: DateTime<Utc>,
    /// The programme's title.
    pub programme: String,
    /// The programme file.
    pub file: String,
    /// Where the track starts in the programme file.
    pub offset_ms: u64,
    /// Empty when the track list names no artist.
    pub artist: String,
    pub title: String,
}

impl NewTrack {
    /// Track `track` of the programme in `file` (titled `programme`, in the
    /// slot at `scheduled`), on air from `start`.
    pub fn of(
        track: &crate::tracks::Track,
        programme: &str,
        file: &Path,
        scheduled: DateTime<Utc>,
        start: DateTime<Utc>,
    ) -> NewTrack {
        NewTrack {
            start,
            scheduled,
            programme: programme.to_string(),
            file: file.display().to_string(),
            offset_ms: track.offset_ms(),
            artist: track.artist.clone(),
            title: track.title.clone(),
        }
    }
}

/// Why a previous edition airs in a slot: the file that was due and what
/// was wrong with it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Substitution {
    /// The file that was due in the slot (its path, or its expected name
    /// when it never arrived).
    pub replaces: String,
    /// What was wrong with it: missing, incomplete, cannot be decoded…
    pub problem: String,
}

/// A stream output going up or down, as the director sees it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct StreamEvent {
    pub at: DateTime<Utc>,
    /// The output's name, as in the status (`icecast host:port/mount`).
    pub output: String,
    pub up: bool,
    /// Why it went down (or could not come up).
    pub reason: Option<String>,
}

/// The listen-back raising an alarm for a stream, or clearing it, as the
/// director sees it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ListenEvent {
    pub at: DateTime<Utc>,
    /// The output's name, as in the status (`icecast host:port/mount`).
    pub output: String,
    /// What listeners would hear: an alarm (`Absent`, `NoData`, `Silent`),
    /// or `Ok` when it clears.
    pub heard: ListenAlarm,
    /// The alarm's reason, as the listen-back gives it.
    pub reason: Option<String>,
}

/// The studio going on air, as the director sees it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct LiveEntry {
    pub start: DateTime<Utc>,
    /// `live.title`.
    pub title: String,
    /// The capture device.
    pub device: String,
    /// Who switched (`panel`, `page`, `token NAME`, `uid N`).
    pub by: String,
}

/// An alarm raised or cleared, as the director sees it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct AlarmEvent {
    pub at: DateTime<Utc>,
    /// The alarm's kind (`dead_air`, `live_silence`, `live_input`).
    pub kind: String,
    pub raised: bool,
    /// What was wrong, or what cleared it.
    pub message: String,
}

/// What the director knows when a sound goes on air.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct NewEntry {
    pub start: DateTime<Utc>,
    pub kind: Kind,
    pub title: String,
    pub file: String,
    pub offset_ms: u64,
    pub scheduled: Option<DateTime<Utc>>,
}

#[derive(Debug, thiserror::Error)]
pub enum AsRunError {
    #[error(
        "the as-run log in {} is in use by another onair process (the box that is running); \
         read it through that box, or stop it first",
        dir.display()
    )]
    Busy { dir: PathBuf },
    #[error(
        "cannot open the as-run log in {}: {error}; check that data.dir is on working storage \
         and writable by the user onair runs as",
        dir.display()
    )]
    Open { dir: PathBuf, error: String },
    #[error(
        "cannot write the as-run log in {}: {error}; check the storage that holds data.dir \
         (full, read-only or failing)",
        dir.display()
    )]
    Write { dir: PathBuf, error: ::sled::Error },
    #[error(
        "cannot read the as-run log in {}: {error}; check the storage that holds data.dir",
        dir.display()
    )]
    Read { dir: PathBuf, error: ::sled::Error },
    #[error(
        "cannot write the as-run log's heartbeat {}: {error}; check the storage that holds \
         data.dir (full, read-only or failing)",
        path.display()
    )]
    Heartbeat {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error(
        "the as-run log in {} holds an entry that cannot be read ({detail}); stop the box and \
         move that folder aside to start a new log, keeping the old one for inspection",
        dir.display()
    )]
    Corrupt { dir: PathBuf, detail: String },
    #[error(
        "as-run entry {id} cannot be finished: it is not on air (no such entry, or it has \
         already ended)"
    )]
    NotOnAir { id: u64 },
}

/// Reading the as-run log: the web, `onair log`, `onair report`, and the
/// director when it resumes and shows what aired last.
pub trait AsRunReader: Send + Sync {
    /// Entries on air at any moment of `[since, until)`, by start. Entries
    /// still on air reach to the present; an item that failed to start counts
    /// at its start. `None` leaves that side open.
    fn range(
        &self,
        since: Option<DateTime<Utc>>,
        until: Option<DateTime<Utc>>,
    ) -> Result<Vec<Entry>, AsRunError>;
    /// The last `n` entries by start, oldest first.
    fn recent(&self, n: usize) -> Result<Vec<Entry>, AsRunError>;
}

/// Writing the as-run log: the director's alone. There is one writer per
/// log ([`SledWriter`] is not `Clone`, and a log is opened once), so every
/// entry and every id comes from the one place that knows what is on air.
/// It reads its own log too, to resume and to show what aired last.
/// Every write is on disk when it returns.
pub trait AsRunWriter: AsRunReader {
    /// Records a sound going on air. Returns its id.
    fn begin(&self, e: NewEntry) -> Result<u64, AsRunError>;
    /// Records how entry `id` came off air. An `end` before the entry's
    /// start is taken as its start.
    fn finish(
        &self,
        id: u64,
        end: DateTime<Utc>,
        ended: Ended,
        reason: Option<String>,
    ) -> Result<(), AsRunError>;
    /// Records an item that could not start at all (start = end, ended = failed).
    fn failed(&self, e: NewEntry, reason: String) -> Result<u64, AsRunError>;
    /// Records a track inside a programme going on air ([`Kind::Track`]);
    /// ended with [`AsRunWriter::finish`] like any item.
    fn begin_track(&self, t: NewTrack) -> Result<u64, AsRunError>;
    /// Records a previous edition going on air in a slot in place of the
    /// file that was due: logged as [`Kind::Substitute`], whatever
    /// `e.kind` says; ended with [`AsRunWriter::finish`].
    fn begin_substitute(&self, e: NewEntry, s: Substitution) -> Result<u64, AsRunError>;
    /// Records a substitute that could not start at all (start = end,
    /// ended = failed), as [`AsRunWriter::failed`] does for other items.
    fn failed_substitute(
        &self,
        e: NewEntry,
        s: Substitution,
        reason: String,
    ) -> Result<u64, AsRunError>;
    /// Records a stream output going up or down.
    fn stream_event(&self, e: StreamEvent) -> Result<u64, AsRunError>;
    /// Records the listen-back raising or clearing an alarm for a stream.
    fn listen_event(&self, e: ListenEvent) -> Result<u64, AsRunError>;
    /// Records the studio going on air ([`Kind::Live`]); ended with
    /// [`AsRunWriter::finish`] when automation is back.
    fn begin_live(&self, l: LiveEntry) -> Result<u64, AsRunError>;
    /// Records an alarm raised or cleared ([`Kind::Alarm`]).
    fn alarm_event(&self, a: AlarmEvent) -> Result<u64, AsRunError>;
    /// Records a programme that never aired because the studio was live
    /// past its start (start = end, ended = cancelled).
    fn cancelled(&self, e: NewEntry, reason: String) -> Result<u64, AsRunError>;
    /// Notes that the box is alive at `now` (about once a second), so that
    /// after a crash the log knows until when the last sound was on air.
    fn heartbeat(&self, now: DateTime<Utc>) -> Result<(), AsRunError>;
    /// At start-up: closes the entries a crash left on air as interrupted, at
    /// the last heartbeat (or at their start if that is later, or if there
    /// was none), and returns them, by start, for the director to resume from.
    /// Tracks left on air are closed too and are among them: only entries
    /// for which [`Entry::is_item`] holds are slots to resume.
    fn recover(&self) -> Result<Vec<Entry>, AsRunError>;
}

/// The offsets (ms) of the tracks of the programme `file` in the slot at
/// `scheduled` that the log already has: after a restart into the middle of
/// a programme, these are not logged again.
pub fn tracks_logged(entries: &[Entry], file: &Path, scheduled: DateTime<Utc>) -> HashSet<u64> {
    entries
        .iter()
        .filter(|e| {
            e.kind == Kind::Track && e.scheduled == Some(scheduled) && Path::new(&e.file) == file
        })
        .map(|e| e.offset_ms)
        .collect()
}
