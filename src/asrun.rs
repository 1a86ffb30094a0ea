//! The as-run log: every sound that went on air, when it started and ended,
//! what it was and how it came off air. The director is its only writer;
//! `onair log` and the web page read it.
//!
//! Every write is flushed before it returns, so after a crash or a power cut
//! the log holds everything the director was told had been written. At
//! start-up, [`AsRunLog::recover`] closes what was on air when the box
//! stopped, and the director resumes from those entries.

use std::collections::HashSet;
use std::fmt;
use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use chrono::{
    DateTime, Days, DurationRound, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, SecondsFormat,
    TimeDelta, TimeZone, Timelike, Utc,
};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

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
        }
    }

    /// Whether this entry is a sound that stands for itself: a programme,
    /// filler or emergency audio, not a track inside a programme nor a
    /// stream event.
    pub fn is_item(&self) -> bool {
        !matches!(self.kind, Kind::Track | Kind::Stream)
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
    Write { dir: PathBuf, error: sled::Error },
    #[error(
        "cannot read the as-run log in {}: {error}; check the storage that holds data.dir",
        dir.display()
    )]
    Read { dir: PathBuf, error: sled::Error },
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

/// The as-run log as the director and `onair log` see it.
pub trait AsRunLog: Send + Sync {
    /// Records a sound going on air; on disk when this returns. Returns its id.
    fn begin(&self, e: NewEntry) -> Result<u64, AsRunError>;
    /// Records how entry `id` came off air; on disk when this returns. An `end`
    /// before the entry's start is taken as its start.
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
    /// ended with [`AsRunLog::finish`] like any item.
    fn begin_track(&self, t: NewTrack) -> Result<u64, AsRunError>;
    /// Records a previous edition going on air in a slot in place of the
    /// file that was due: logged as [`Kind::Substitute`], whatever
    /// `e.kind` says; ended with [`AsRunLog::finish`].
    fn begin_substitute(&self, e: NewEntry, s: Substitution) -> Result<u64, AsRunError>;
    /// Records a substitute that could not start at all (start = end,
    /// ended = failed), as [`AsRunLog::failed`] does for other items.
    fn failed_substitute(
        &self,
        e: NewEntry,
        s: Substitution,
        reason: String,
    ) -> Result<u64, AsRunError>;
    /// Records a stream output going up or down; on disk when this returns.
    fn stream_event(&self, e: StreamEvent) -> Result<u64, AsRunError>;
    /// Notes that the box is alive at `now` (about once a second), so that
    /// after a crash the log knows until when the last sound was on air.
    fn heartbeat(&self, now: DateTime<Utc>) -> Result<(), AsRunError>;
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
    /// At start-up: closes the entries a crash left on air as interrupted, at
    /// the last heartbeat (or at their start if that is later, or if there
    /// was none), and returns them, by start, for the director to resume from.
    /// Tracks left on air are closed too and are among them: only entries
    /// for which [`Entry::is_item`] holds are slots to resume.
    fn recover(&self) -> Result<Vec<Entry>, AsRunError>;
}

/// Key prefixes in the one sled tree. An entry and its indexes are written in
/// one atomic batch, so they never disagree after a crash.
const ENTRY: u8 = b'e'; // e + start + id → entry (JSON)
const BY_ID: u8 = b'i'; // i + id → start + id
const ON_AIR: u8 = b'o'; // o + id → (nothing)
const HEARTBEAT: &[u8] = b"h"; // → time (JSON)
const LONGEST: &[u8] = b"l"; // → longest finished entry in ms (u64 big-endian)

/// Enough for the index pages the director touches; a Pi has little memory
/// and sled's default is 1 GiB.
const CACHE_BYTES: u64 = 4 * 1024 * 1024;
/// How long a held lock is waited for before the log is reported busy.
const LOCK_WAIT: Duration = Duration::from_millis(250);
/// How long to wait for sled's own lock on the folder once ours is held:
/// only this process's previous log can hold it, and its threads let go quickly.
const SLED_LOCK_WAIT: Duration = Duration::from_secs(3);

/// Sorts like the time: big-endian microseconds with the sign bit flipped.
fn time_bytes(t: DateTime<Utc>) -> [u8; 8] {
    ((t.timestamp_micros() as u64) ^ (1 << 63)).to_be_bytes()
}

fn entry_key(start: DateTime<Utc>, id: u64) -> [u8; 17] {
    let mut key = [0u8; 17];
    key[0] = ENTRY;
    key[1..9].copy_from_slice(&time_bytes(start));
    key[9..].copy_from_slice(&id.to_be_bytes());
    key
}

fn id_key(prefix: u8, id: u64) -> [u8; 9] {
    let mut key = [0u8; 9];
    key[0] = prefix;
    key[1..].copy_from_slice(&id.to_be_bytes());
    key
}

/// The as-run log's folder inside the data folder.
const LOG_FOLDER: &str = "asrun";

/// Whether a box has ever opened an as-run log in `data_dir`. Lets a reader
/// tell "nothing logged yet" without creating the log (as the wrong user,
/// perhaps, leaving a folder the box cannot write).
pub fn log_exists(data_dir: &Path) -> bool {
    data_dir.join(LOG_FOLDER).is_dir()
}

/// The as-run log in a sled database under the data folder.
pub struct SledLog {
    // Declared before `_lock` so that sled closes before the folder is unlocked.
    db: sled::Db,
    dir: PathBuf,
    /// The next id; held while writing so that ids follow the order of writes.
    writer: Mutex<u64>,
    _lock: File,
}

impl SledLog {
    /// Opens (or creates) the as-run log in `data_dir`. Fails at once with
    /// [`AsRunError::Busy`] when another process has it open.
    pub fn open(data_dir: &Path) -> Result<Self, AsRunError> {
        let dir = data_dir.join(LOG_FOLDER);
        let open_error = |error: String| AsRunError::Open {
            dir: dir.clone(),
            error,
        };
        std::fs::create_dir_all(&dir).map_err(|e| open_error(e.to_string()))?;
        let lock_path = data_dir.join("asrun.lock");
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| open_error(format!("{}: {e}", lock_path.display())))?;
        // sled also locks its folder, but reports a held lock only as a
        // generic I/O error; our own lock tells "busy" apart from real faults.
        // A child process being started elsewhere in this process holds a
        // copy of the descriptor until it executes, hence a short wait.
        let asked = Instant::now();
        loop {
            match try_lock(&lock) {
                Ok(true) => break,
                Ok(false) if asked.elapsed() < LOCK_WAIT => {
                    std::thread::sleep(Duration::from_millis(10));
                }
                Ok(false) => return Err(AsRunError::Busy { dir }),
                Err(e) => return Err(open_error(format!("{}: {e}", lock_path.display()))),
            }
        }
        let config = sled::Config::new().path(&dir).cache_capacity(CACHE_BYTES);
        let waited = Instant::now();
        let db = loop {
            match config.open() {
                Ok(db) => break db,
                Err(e) if is_sled_lock_error(&e) && waited.elapsed() < SLED_LOCK_WAIT => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(e) if is_sled_lock_error(&e) => return Err(AsRunError::Busy { dir }),
                Err(e) => return Err(open_error(e.to_string())),
            }
        };
        let next_id = match db.scan_prefix([BY_ID]).next_back() {
            None => 1,
            Some(Ok((key, _))) => read_id(&key, &dir)? + 1,
            Some(Err(error)) => return Err(AsRunError::Read { dir, error }),
        };
        Ok(SledLog {
            db,
            dir,
            writer: Mutex::new(next_id),
            _lock: lock,
        })
    }

    fn writer(&self) -> MutexGuard<'_, u64> {
        // The guarded id is updated in one step, so a poisoned lock still holds a good one.
        self.writer.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn write_error(&self, error: sled::Error) -> AsRunError {
        AsRunError::Write {
            dir: self.dir.clone(),
            error,
        }
    }

    fn read_error(&self, error: sled::Error) -> AsRunError {
        AsRunError::Read {
            dir: self.dir.clone(),
            error,
        }
    }

    fn corrupt(&self, detail: String) -> AsRunError {
        AsRunError::Corrupt {
            dir: self.dir.clone(),
            detail,
        }
    }

    fn decode(&self, bytes: &[u8]) -> Result<Entry, AsRunError> {
        serde_json::from_slice(bytes).map_err(|e| self.corrupt(format!("entry: {e}")))
    }

    fn encode(entry: &Entry) -> Vec<u8> {
        // Only strings, numbers and times: serialising to memory cannot fail.
        serde_json::to_vec(entry).unwrap_or_default()
    }

    fn commit(&self, batch: sled::Batch) -> Result<(), AsRunError> {
        self.db
            .apply_batch(batch)
            .map_err(|e| self.write_error(e))?;
        self.db.flush().map_err(|e| self.write_error(e))?;
        Ok(())
    }

    /// Stores a new entry under the next id.
    fn insert(&self, mut entry: Entry, on_air: bool) -> Result<u64, AsRunError> {
        let mut next = self.writer();
        entry.id = *next;
        let key = entry_key(entry.start, entry.id);
        let mut batch = sled::Batch::default();
        batch.insert(&key[..], Self::encode(&entry));
        batch.insert(&id_key(BY_ID, entry.id)[..], &key[1..]);
        if on_air {
            batch.insert(&id_key(ON_AIR, entry.id)[..], &[][..]);
        }
        self.db
            .apply_batch(batch)
            .map_err(|e| self.write_error(e))?;
        // The id is taken once the batch is in, even if the flush fails.
        *next += 1;
        self.db.flush().map_err(|e| self.write_error(e))?;
        Ok(entry.id)
    }

    /// The entry with this id and its key, if it exists.
    fn by_id(&self, id: u64) -> Result<Option<(Vec<u8>, Entry)>, AsRunError> {
        let Some(suffix) = self
            .db
            .get(id_key(BY_ID, id))
            .map_err(|e| self.read_error(e))?
        else {
            return Ok(None);
        };
        let mut key = vec![ENTRY];
        key.extend_from_slice(&suffix);
        match self.db.get(&key).map_err(|e| self.read_error(e))? {
            Some(bytes) => Ok(Some((key, self.decode(&bytes)?))),
            None => Err(self.corrupt(format!("entry {id} is indexed but missing"))),
        }
    }

    fn time(&self, key: &[u8]) -> Result<Option<DateTime<Utc>>, AsRunError> {
        match self.db.get(key).map_err(|e| self.read_error(e))? {
            None => Ok(None),
            Some(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| self.corrupt(format!("heartbeat: {e}"))),
        }
    }

    fn longest(&self) -> Result<TimeDelta, AsRunError> {
        let stored = self.db.get(LONGEST).map_err(|e| self.read_error(e))?;
        let ms = match stored.as_deref().map(<[u8; 8]>::try_from) {
            None => 0,
            Some(Ok(bytes)) => u64::from_be_bytes(bytes),
            Some(Err(_)) => return Err(self.corrupt("longest entry length".into())),
        };
        Ok(TimeDelta::milliseconds(ms.min(i64::MAX as u64) as i64))
    }

    /// Closes an entry in `batch`, keeping the longest length up to date so
    /// that `range` knows how far back an overlapping entry can start.
    fn close(&self, batch: &mut sled::Batch, key: &[u8], entry: &Entry, longest: &mut TimeDelta) {
        batch.insert(key, Self::encode(entry));
        batch.remove(&id_key(ON_AIR, entry.id)[..]);
        if let Some(end) = entry.end
            && end - entry.start > *longest
        {
            *longest = end - entry.start;
            let ms = longest.num_milliseconds().max(0) as u64 + 1;
            batch.insert(LONGEST, &ms.to_be_bytes()[..]);
        }
    }

    /// Every entry still on air.
    fn on_air(&self) -> Result<Vec<(Vec<u8>, Entry)>, AsRunError> {
        let mut open = Vec::new();
        for item in self.db.scan_prefix([ON_AIR]) {
            let (key, _) = item.map_err(|e| self.read_error(e))?;
            let id = read_id(&key, &self.dir)?;
            match self.by_id(id)? {
                Some(found) => open.push(found),
                None => return Err(self.corrupt(format!("entry {id} is on air but missing"))),
            }
        }
        Ok(open)
    }
}

fn read_id(key: &[u8], dir: &Path) -> Result<u64, AsRunError> {
    key.get(1..9)
        .and_then(|b| <[u8; 8]>::try_from(b).ok())
        .map(u64::from_be_bytes)
        .ok_or_else(|| AsRunError::Corrupt {
            dir: dir.to_path_buf(),
            detail: "malformed index key".into(),
        })
}

/// Takes an exclusive advisory lock without waiting; `false` if another
/// open file holds it (the lock goes with the process when it dies).
fn try_lock(file: &File) -> std::io::Result<bool> {
    // SAFETY: flock only reads the descriptor, which `file` keeps open.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc == 0 {
        return Ok(true);
    }
    let error = std::io::Error::last_os_error();
    if error.kind() == std::io::ErrorKind::WouldBlock {
        Ok(false)
    } else {
        Err(error)
    }
}

fn is_sled_lock_error(e: &sled::Error) -> bool {
    matches!(e, sled::Error::Io(io) if io.to_string().contains("could not acquire lock"))
}

fn overlaps(entry: &Entry, since: Option<DateTime<Utc>>, until: Option<DateTime<Utc>>) -> bool {
    if until.is_some_and(|until| entry.start >= until) {
        return false;
    }
    match (since, entry.end) {
        (None, _) | (_, None) => true,
        (Some(since), Some(end)) => end > since || entry.start >= since,
    }
}

impl AsRunLog for SledLog {
    fn begin(&self, e: NewEntry) -> Result<u64, AsRunError> {
        self.insert(Entry::from_new(e), true)
    }

    fn finish(
        &self,
        id: u64,
        end: DateTime<Utc>,
        ended: Ended,
        reason: Option<String>,
    ) -> Result<(), AsRunError> {
        let _writer = self.writer();
        let on_air = self
            .db
            .contains_key(id_key(ON_AIR, id))
            .map_err(|e| self.read_error(e))?;
        let Some((key, mut entry)) = self.by_id(id)?.filter(|_| on_air) else {
            return Err(AsRunError::NotOnAir { id });
        };
        entry.end = Some(end.max(entry.start));
        entry.ended = Some(ended);
        entry.reason = reason;
        let mut longest = self.longest()?;
        let mut batch = sled::Batch::default();
        self.close(&mut batch, &key, &entry, &mut longest);
        self.commit(batch)
    }

    fn failed(&self, e: NewEntry, reason: String) -> Result<u64, AsRunError> {
        let mut entry = Entry::from_new(e);
        entry.end = Some(entry.start);
        entry.ended = Some(Ended::Failed);
        entry.reason = Some(reason);
        self.insert(entry, false)
    }

    fn begin_track(&self, t: NewTrack) -> Result<u64, AsRunError> {
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
        self.insert(entry, true)
    }

    fn begin_substitute(&self, e: NewEntry, s: Substitution) -> Result<u64, AsRunError> {
        self.insert(substitute(e, s), true)
    }

    fn failed_substitute(
        &self,
        e: NewEntry,
        s: Substitution,
        reason: String,
    ) -> Result<u64, AsRunError> {
        let mut entry = substitute(e, s);
        entry.end = Some(entry.start);
        entry.ended = Some(Ended::Failed);
        entry.reason = Some(reason);
        self.insert(entry, false)
    }

    fn stream_event(&self, e: StreamEvent) -> Result<u64, AsRunError> {
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
        self.insert(entry, false)
    }

    fn heartbeat(&self, now: DateTime<Utc>) -> Result<(), AsRunError> {
        let bytes = serde_json::to_vec(&now).unwrap_or_default();
        self.db
            .insert(HEARTBEAT, bytes)
            .map_err(|e| self.write_error(e))?;
        self.db.flush().map_err(|e| self.write_error(e))?;
        Ok(())
    }

    fn range(
        &self,
        since: Option<DateTime<Utc>>,
        until: Option<DateTime<Utc>>,
    ) -> Result<Vec<Entry>, AsRunError> {
        // A finished entry overlapping `since` started at most `longest` before it.
        let from = match since {
            Some(since) => {
                let earliest = since
                    .checked_sub_signed(self.longest()?)
                    .unwrap_or(DateTime::<Utc>::MIN_UTC);
                entry_key(earliest, 0).to_vec()
            }
            None => vec![ENTRY],
        };
        let to = match until {
            Some(until) => entry_key(until, 0).to_vec(),
            None => vec![ENTRY + 1],
        };
        let mut entries = Vec::new();
        for item in self.db.range(from.clone()..to) {
            let (_, bytes) = item.map_err(|e| self.read_error(e))?;
            let entry = self.decode(&bytes)?;
            if overlaps(&entry, since, until) {
                entries.push(entry);
            }
        }
        // Entries still on air can have started before the scanned stretch.
        for (key, entry) in self.on_air()? {
            if key < from && overlaps(&entry, since, until) {
                entries.push(entry);
            }
        }
        entries.sort_by_key(|e| (e.start, e.id));
        Ok(entries)
    }

    fn recent(&self, n: usize) -> Result<Vec<Entry>, AsRunError> {
        let mut entries = Vec::with_capacity(n.min(1024));
        for item in self.db.scan_prefix([ENTRY]).rev().take(n) {
            let (_, bytes) = item.map_err(|e| self.read_error(e))?;
            entries.push(self.decode(&bytes)?);
        }
        entries.reverse();
        Ok(entries)
    }

    fn recover(&self) -> Result<Vec<Entry>, AsRunError> {
        let _writer = self.writer();
        let heartbeat = self.time(HEARTBEAT)?;
        let mut longest = self.longest()?;
        let mut batch = sled::Batch::default();
        let mut closed = Vec::new();
        for (key, mut entry) in self.on_air()? {
            entry.end = Some(heartbeat.map_or(entry.start, |h| h.max(entry.start)));
            entry.ended = Some(Ended::Interrupted);
            entry.reason = Some("the box stopped while this was on air".into());
            self.close(&mut batch, &key, &entry, &mut longest);
            closed.push(entry);
        }
        if !closed.is_empty() {
            self.commit(batch)?;
        }
        closed.sort_by_key(|e| (e.start, e.id));
        Ok(closed)
    }
}

fn substitute(e: NewEntry, s: Substitution) -> Entry {
    let mut entry = Entry::from_new(e);
    entry.kind = Kind::Substitute;
    entry.replaces = Some(s.replaces);
    entry.problem = Some(s.problem);
    entry
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

/// `t` to the nearest whole `unit`. A programme starts on the sample nearest
/// its slot, which can be a few microseconds before it: shown cut instead
/// of rounded, a 09:00:00 start would read 08:59:59.999 (or 08:59:59).
pub(crate) fn nearest(t: DateTime<Utc>, unit: TimeDelta) -> DateTime<Utc> {
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
    })
}

/// The entries as a JSON array, times in the station's zone; `end` and
/// `ended` are null while an entry is on air, and `ended` is null for
/// stream events. `artist` and `programme` are there on tracks (`artist`
/// when the track list names one), `replaces` and `problem` on substitutes.
pub fn to_json(entries: &[Entry], tz: Tz) -> String {
    let rows: Vec<Row> = rows(entries, tz).collect();
    // Plain strings and numbers: serialising to memory cannot fail.
    serde_json::to_string_pretty(&rows).unwrap_or_default()
}

/// The fields of an as-run entry in `onair log --json` and `--csv`, in order.
/// The last four are for tracks (`artist`, `programme`) and substitutes
/// (`replaces`, `problem`), empty for other entries.
pub const COLUMNS: [&str; 14] = [
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
        ]);
    }
    let bytes = out.into_inner().unwrap_or_default();
    String::from_utf8(bytes).unwrap_or_default()
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

/// Parses a `--since`/`--until` argument: an RFC 3339 time; a station-local
/// `yyyy-mm-dd hh:mm[:ss]` or `yyyy-mm-ddThh:mm[:ss]`; a date `yyyy-mm-dd`
/// (local midnight); `now`, `today`, `yesterday`; or a time ago such as
/// `-2h`, `-30m`, `-1d` or `-1h30m`. A local time that occurs twice when the
/// clocks go back is taken the first time.
pub fn parse_time_arg(s: &str, tz: Tz, now: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    let text = s.trim();
    let formats = "use an RFC 3339 time (2026-03-29T02:00:00+01:00), a local time \
                   (yyyy-mm-dd hh:mm[:ss] or yyyy-mm-ddThh:mm), a date (yyyy-mm-dd, from local \
                   midnight), now, today, yesterday, or a time ago such as -2h, -30m or -1d";
    let today = now.with_timezone(&tz).date_naive();
    match text.to_lowercase().as_str() {
        "now" => return Ok(now),
        "today" => return start_of_day(today, tz).ok_or_else(|| format!("`{s}`: {formats}")),
        "yesterday" => {
            return today
                .checked_sub_days(Days::new(1))
                .and_then(|d| start_of_day(d, tz))
                .ok_or_else(|| format!("`{s}`: {formats}"));
        }
        _ => {}
    }
    if let Some(ago) = text.strip_prefix('-') {
        return parse_ago(ago)
            .and_then(|d| now.checked_sub_signed(d))
            .ok_or_else(|| format!("`{s}` is not a time ago such as -2h, -30m, -1d or -1h30m"));
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.to_utc());
    }
    for format in [
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(local) = NaiveDateTime::parse_from_str(text, format) {
            return match tz.from_local_datetime(&local) {
                LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => Ok(t.to_utc()),
                LocalResult::None => Err(format!(
                    "`{s}` does not exist in {tz}: the clocks went forward over it; give a time \
                     after the change, or an RFC 3339 time with its offset"
                )),
            };
        }
    }
    if let Ok(date) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return start_of_day(date, tz).ok_or_else(|| format!("`{s}`: {formats}"));
    }
    Err(format!("`{s}` is not a time: {formats}"))
}

/// The first moment of a local day (midnight, or the end of a clock change
/// that skips it).
pub(crate) fn start_of_day(date: NaiveDate, tz: Tz) -> Option<DateTime<Utc>> {
    (0..=24 * 4).find_map(|quarter| {
        let time = NaiveTime::MIN + TimeDelta::minutes(15 * quarter);
        tz.from_local_datetime(&date.and_time(time))
            .earliest()
            .map(|t| t.to_utc())
    })
}

/// `2h`, `30m`, `1d`, `90s`, `1h30m` → a duration.
fn parse_ago(text: &str) -> Option<TimeDelta> {
    let mut total = TimeDelta::zero();
    let mut digits = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let n: i64 = digits.parse().ok()?;
        digits.clear();
        let part = match c {
            's' => TimeDelta::try_seconds(n)?,
            'm' => TimeDelta::try_minutes(n)?,
            'h' => TimeDelta::try_hours(n)?,
            'd' => TimeDelta::try_days(n)?,
            'w' => TimeDelta::try_weeks(n)?,
            _ => return None,
        };
        total = total.checked_add(&part)?;
    }
    // A number must end with its unit, and there must be at least one.
    (digits.is_empty() && !text.is_empty()).then_some(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::process::{Command, Stdio};

    /// A folder of its own under the system's temporary folder, emptied first.
    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("onair-asrun-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn t(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().to_utc()
    }

    fn item(start: &str, kind: Kind, title: &str) -> NewEntry {
        NewEntry {
            start: t(start),
            kind,
            title: title.into(),
            file: format!("/media/onair/programmes/{title}.flac"),
            offset_ms: 0,
            scheduled: (kind == Kind::Scheduled).then(|| t(start)),
        }
    }

    #[test]
    fn entries_round_trip_and_ranges_overlap() {
        let dir = scratch("round-trip");
        assert!(!log_exists(&dir), "an empty data folder holds no log");
        let log = SledLog::open(&dir).unwrap();
        assert!(log_exists(&dir));
        // A long programme, filler after it, a programme that could not start
        // and one still on air.
        let long = log
            .begin(item("2026-03-28T20:00:00Z", Kind::Scheduled, "Night Show"))
            .unwrap();
        log.finish(long, t("2026-03-29T00:00:00Z"), Ended::Faded, None)
            .unwrap();
        let filler = log
            .begin(item("2026-03-29T00:00:00Z", Kind::Filler, "jingle"))
            .unwrap();
        log.finish(filler, t("2026-03-29T00:00:30Z"), Ended::Natural, None)
            .unwrap();
        let failed = log
            .failed(
                item("2026-03-29T00:01:00Z", Kind::Scheduled, "Broken"),
                "the file cannot be decoded".into(),
            )
            .unwrap();
        let live = log
            .begin(item("2026-03-29T00:01:00.250Z", Kind::Filler, "tune"))
            .unwrap();
        assert_eq!([long, filler, failed, live], [1, 2, 3, 4]);

        let all = log.range(None, None).unwrap();
        assert_eq!(all.iter().map(|e| e.id).collect::<Vec<_>>(), [1, 2, 3, 4]);
        assert_eq!(all[0].ended, Some(Ended::Faded));
        assert_eq!(all[0].end, Some(t("2026-03-29T00:00:00Z")));
        assert_eq!(all[2].end, Some(all[2].start));
        assert_eq!(all[2].ended, Some(Ended::Failed));
        assert_eq!(all[2].reason.as_deref(), Some("the file cannot be decoded"));
        assert_eq!((all[3].end, all[3].ended), (None, None));
        assert_eq!(all[3].start, t("2026-03-29T00:01:00.250Z"));

        let ids = |since: &str, until: &str| -> Vec<u64> {
            log.range(Some(t(since)), Some(t(until)))
                .unwrap()
                .iter()
                .map(|e| e.id)
                .collect()
        };
        // The night show started four hours before this window but was on air in it.
        assert_eq!(ids("2026-03-28T23:00:00Z", "2026-03-28T23:30:00Z"), [1]);
        // The end is exclusive: the night show ended as the filler began.
        assert_eq!(ids("2026-03-29T00:00:00Z", "2026-03-29T00:00:10Z"), [2]);
        // Until is exclusive too; the failed item counts at its start.
        assert_eq!(
            ids("2026-03-29T00:00:40Z", "2026-03-29T00:01:00Z"),
            Vec::<u64>::new()
        );
        assert_eq!(ids("2026-03-29T00:01:00Z", "2026-03-29T00:01:01Z"), [3, 4]);
        // What is on air now reaches into any later window.
        assert_eq!(ids("2026-03-30T00:00:00Z", "2026-03-31T00:00:00Z"), [4]);

        let recent = log.recent(2).unwrap();
        assert_eq!(recent.iter().map(|e| e.id).collect::<Vec<_>>(), [3, 4]);
        assert_eq!(log.recent(100).unwrap().len(), 4);

        // Bad input: finishing an entry twice, or one that does not exist.
        assert!(matches!(
            log.finish(filler, t("2026-03-29T00:02:00Z"), Ended::Skipped, None),
            Err(AsRunError::NotOnAir { id: 2 })
        ));
        assert!(matches!(
            log.finish(99, t("2026-03-29T00:02:00Z"), Ended::Skipped, None),
            Err(AsRunError::NotOnAir { id: 99 })
        ));
        assert!(matches!(
            log.finish(failed, t("2026-03-29T00:02:00Z"), Ended::Skipped, None),
            Err(AsRunError::NotOnAir { .. })
        ));
        drop(log);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn recover_closes_what_a_crash_left_on_air() {
        let dir = scratch("recover");
        {
            let log = SledLog::open(&dir).unwrap();
            let done = log
                .begin(item("2026-03-29T00:00:00Z", Kind::Filler, "jingle"))
                .unwrap();
            log.finish(done, t("2026-03-29T00:00:10Z"), Ended::Natural, None)
                .unwrap();
            log.begin(item("2026-03-29T00:00:10Z", Kind::Scheduled, "Breakfast"))
                .unwrap();
            log.heartbeat(t("2026-03-29T00:05:00Z")).unwrap();
            // Begun after the last heartbeat: it ends where it started.
            log.begin(item("2026-03-29T00:05:00.5Z", Kind::Filler, "bed"))
                .unwrap();
            // Dropped without finishing, as in a crash.
        }
        let log = SledLog::open(&dir).unwrap();
        let recovered = log.recover().unwrap();
        assert_eq!(recovered.len(), 2, "{recovered:#?}");
        assert_eq!(recovered[0].title, "Breakfast");
        assert_eq!(recovered[0].end, Some(t("2026-03-29T00:05:00Z")));
        assert_eq!(recovered[0].ended, Some(Ended::Interrupted));
        assert_eq!(recovered[0].scheduled, Some(t("2026-03-29T00:00:10Z")));
        assert_eq!(recovered[1].end, Some(t("2026-03-29T00:05:00.5Z")));
        assert_eq!(recovered[1].ended, Some(Ended::Interrupted));
        // The log on disk says the same, and nothing is on air any more.
        let all = log.range(None, None).unwrap();
        assert_eq!(&all[1..], &recovered[..]);
        assert_eq!(all[0].ended, Some(Ended::Natural));
        assert_eq!(log.recover().unwrap(), vec![]);
        // New entries do not reuse ids.
        let next = log
            .begin(item("2026-03-29T00:06:00Z", Kind::Resumed, "Breakfast"))
            .unwrap();
        assert_eq!(next, 4);
        // The interrupted programme is found from a window after it started.
        let window = log
            .range(
                Some(t("2026-03-29T00:04:00Z")),
                Some(t("2026-03-29T00:04:30Z")),
            )
            .unwrap();
        assert_eq!(window.iter().map(|e| e.id).collect::<Vec<_>>(), [2]);
        drop(log);

        // Without any heartbeat, an entry left on air ends at its start.
        let dir2 = scratch("recover-no-heartbeat");
        let id = {
            let log = SledLog::open(&dir2).unwrap();
            log.begin(item("2026-03-29T01:00:00Z", Kind::Filler, "tune"))
                .unwrap()
        };
        let log = SledLog::open(&dir2).unwrap();
        let recovered = log.recover().unwrap();
        assert_eq!(recovered.len(), 1);
        assert_eq!(
            (recovered[0].id, recovered[0].end),
            (id, Some(t("2026-03-29T01:00:00Z")))
        );
        drop(log);
        std::fs::remove_dir_all(&dir).unwrap();
        std::fs::remove_dir_all(&dir2).unwrap();
    }

    #[test]
    fn stream_events_are_logged_beside_programmes_and_never_resumed() {
        let dir = scratch("stream");
        let log = SledLog::open(&dir).unwrap();
        let programme = log
            .begin(item("2026-03-29T09:00:00Z", Kind::Scheduled, "Breakfast"))
            .unwrap();
        let output = "icecast 127.0.0.1:8000/live.mp3".to_string();
        log.stream_event(StreamEvent {
            at: t("2026-03-29T09:10:00Z"),
            output: output.clone(),
            up: false,
            reason: Some("lost the connection".into()),
        })
        .unwrap();
        log.stream_event(StreamEvent {
            at: t("2026-03-29T09:10:03Z"),
            output: output.clone(),
            up: true,
            reason: None,
        })
        .unwrap();
        drop(log);

        // After a crash only the programme is taken up again.
        let log = SledLog::open(&dir).unwrap();
        let cut = log.recover().unwrap();
        assert_eq!(cut.len(), 1, "{cut:?}");
        assert_eq!(cut[0].id, programme);
        let entries = log.range(Some(t("2026-03-29T09:05:00Z")), None).unwrap();
        let events: Vec<(&str, Option<&str>)> = entries
            .iter()
            .filter(|e| e.kind == Kind::Stream)
            .map(|e| (e.title.as_str(), e.reason.as_deref()))
            .collect();
        assert_eq!(
            events,
            [
                (
                    "down: icecast 127.0.0.1:8000/live.mp3",
                    Some("lost the connection")
                ),
                ("up: icecast 127.0.0.1:8000/live.mp3", None)
            ]
        );
        // The programme, cut at its start (no heartbeat), is before 09:05.
        assert_eq!(entries.len(), 2, "{entries:?}");
        let down = &entries[0];
        assert_eq!(down.end, Some(down.start), "an event has no length");
        assert_eq!(down.file, output);
        assert!(down.scheduled.is_none(), "{down:?}");

        let json: serde_json::Value = serde_json::from_str(&to_json(&entries, Tz::UTC)).unwrap();
        assert_eq!(json[0]["kind"], "stream");
        assert_eq!(json[0]["start"], "2026-03-29T09:10:00+00:00");
        assert_eq!(json[0]["end"], "2026-03-29T09:10:00+00:00");
        assert_eq!(json[0]["reason"], "lost the connection");
        let table = to_table(&entries, Tz::UTC);
        assert!(
            table.contains("stream") && table.contains("down: icecast 127.0.0.1:8000/live.mp3"),
            "{table}"
        );
        drop(log);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn track(start: &str, offset_ms: u64, artist: &str, title: &str) -> NewTrack {
        NewTrack {
            start: t(start),
            scheduled: t("2026-11-21T10:00:00Z"),
            programme: "Saturday Jazz".into(),
            file: "/media/onair/programmes/20261121_1000_saturday-jazz.mp3".into(),
            offset_ms,
            artist: artist.into(),
            title: title.into(),
        }
    }

    #[test]
    fn tracks_are_logged_under_their_programme_and_closed_by_recovery() {
        let dir = scratch("tracks");
        let file = Path::new("/media/onair/programmes/20261121_1000_saturday-jazz.mp3");
        let slot = t("2026-11-21T10:00:00Z");
        {
            let log = SledLog::open(&dir).unwrap();
            let programme = log
                .begin(NewEntry {
                    start: slot,
                    kind: Kind::Scheduled,
                    title: "Saturday Jazz".into(),
                    file: file.display().to_string(),
                    offset_ms: 0,
                    scheduled: Some(slot),
                })
                .unwrap();
            // The first track starts with the programme, on the same instant.
            let first = log
                .begin_track(track("2026-11-21T10:00:00Z", 0, "", "Intro"))
                .unwrap();
            log.finish(first, t("2026-11-21T10:04:00.5Z"), Ended::Natural, None)
                .unwrap();
            log.begin_track(track(
                "2026-11-21T10:04:00.5Z",
                240_500,
                "Miles Davis",
                "So What",
            ))
            .unwrap();
            log.heartbeat(t("2026-11-21T10:06:00Z")).unwrap();
            assert!(programme < first);
            // Killed here: the programme and the second track are on air.
        }
        let log = SledLog::open(&dir).unwrap();
        let cut = log.recover().unwrap();
        assert_eq!(cut.len(), 2, "{cut:#?}");
        assert_eq!(
            cut.iter().map(|e| e.kind).collect::<Vec<_>>(),
            [Kind::Scheduled, Kind::Track]
        );
        assert!(cut.iter().all(|e| e.ended == Some(Ended::Interrupted)));
        assert_eq!(cut[1].end, Some(t("2026-11-21T10:06:00Z")));
        // Only the programme is a slot to resume.
        assert_eq!(
            cut.iter().filter(|e| e.is_item()).count(),
            1,
            "a track taken for an item: {cut:#?}"
        );

        let all = log.range(None, None).unwrap();
        // By start, the programme first: each track's row is under it.
        let order: Vec<(Kind, &str)> = all.iter().map(|e| (e.kind, e.title.as_str())).collect();
        assert_eq!(
            order,
            [
                (Kind::Scheduled, "Saturday Jazz"),
                (Kind::Track, "Intro"),
                (Kind::Track, "So What"),
            ]
        );
        let intro = &all[1];
        assert_eq!(intro.artist, None, "an empty artist is no artist");
        assert_eq!(intro.programme.as_deref(), Some("Saturday Jazz"));
        assert_eq!(intro.end, Some(t("2026-11-21T10:04:00.5Z")));
        let so_what = &all[2];
        assert_eq!(so_what.artist.as_deref(), Some("Miles Davis"));
        assert_eq!(so_what.offset_ms, 240_500);
        assert_eq!(so_what.scheduled, Some(slot));

        // Which tracks of this slot are logged: not another slot's, not another file's.
        assert_eq!(tracks_logged(&all, file, slot), HashSet::from([0, 240_500]));
        assert!(tracks_logged(&all, file, t("2026-11-28T10:00:00Z")).is_empty());
        assert!(tracks_logged(&all, Path::new("/elsewhere/x.mp3"), slot).is_empty());

        let table = to_table(&all, Tz::UTC);
        let lines: Vec<&str> = table.lines().collect();
        assert!(
            lines[2].contains("track") && lines[2].contains("  Intro"),
            "{table}"
        );
        assert!(lines[3].contains("  Miles Davis - So What"), "{table}");
        assert!(lines[3].contains("+0:04:00"), "{table}");
        assert!(!lines[3].contains("slot"), "{table}");

        let json: serde_json::Value = serde_json::from_str(&to_json(&all, Tz::UTC)).unwrap();
        assert_eq!(json[2]["kind"], "track");
        assert_eq!(json[2]["artist"], "Miles Davis");
        assert_eq!(json[2]["programme"], "Saturday Jazz");
        assert!(json[0].get("artist").is_none(), "{}", json[0]);
        assert!(
            json[1].get("artist").is_none(),
            "no artist named: {}",
            json[1]
        );
        // What `onair log` reads back from a running box is the same entry.
        let back: Vec<Entry> = serde_json::from_str(&to_json(&all, Tz::UTC)).unwrap();
        assert_eq!(back, all);
        drop(log);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn substitutes_name_the_file_they_replace() {
        let dir = scratch("substitute");
        let log = SledLog::open(&dir).unwrap();
        let due = "/media/onair/programmes/20261121_1000_saturday-jazz.mp3";
        let previous = "/media/onair/programmes/20261114_1000_saturday-jazz.mp3";
        let slot = t("2026-11-21T10:00:00Z");
        let entry = NewEntry {
            start: slot,
            // Whatever the caller says, a substitute is logged as one.
            kind: Kind::Scheduled,
            title: "Saturday Jazz".into(),
            file: previous.into(),
            offset_ms: 0,
            scheduled: Some(slot),
        };
        let why = Substitution {
            replaces: due.into(),
            problem: "the file is missing".into(),
        };
        let id = log.begin_substitute(entry.clone(), why.clone()).unwrap();
        log.finish(id, t("2026-11-21T11:00:00Z"), Ended::Faded, None)
            .unwrap();
        let failed = log
            .failed_substitute(
                NewEntry {
                    start: t("2026-11-21T11:00:00Z"),
                    ..entry
                },
                why,
                "the previous edition cannot be decoded either".into(),
            )
            .unwrap();
        let all = log.range(None, None).unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].kind, Kind::Substitute);
        assert!(all[0].is_item(), "a substitute stands for its slot");
        assert_eq!(all[0].file, previous);
        assert_eq!(all[0].replaces.as_deref(), Some(due));
        assert_eq!(all[0].problem.as_deref(), Some("the file is missing"));
        assert_eq!(all[0].ended, Some(Ended::Faded));
        assert_eq!(all[1].id, failed);
        assert_eq!(
            (all[1].kind, all[1].ended, all[1].end),
            (Kind::Substitute, Some(Ended::Failed), Some(all[1].start))
        );
        assert_eq!(all[1].replaces.as_deref(), Some(due));

        let table = to_table(&all, Tz::UTC);
        assert!(
            table.contains("substitute")
                && table.contains("replaces 20261121_1000_saturday-jazz.mp3 (the file is missing)"),
            "{table}"
        );
        let text = to_csv(&all, Tz::UTC);
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let record = reader.records().next().unwrap().unwrap();
        assert_eq!(&record[3], "substitute");
        assert_eq!(&record[12], due);
        assert_eq!(&record[13], "the file is missing");
        drop(log);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn entries_written_before_tracks_and_substitutes_still_read() {
        let dir = scratch("old-format");
        let log = SledLog::open(&dir).unwrap();
        // An entry exactly as the log stored it before the track, programme,
        // replaces and problem fields existed.
        let old = br#"{"id":7,"start":"2026-03-29T09:00:00Z","end":"2026-03-29T10:00:00Z","kind":"scheduled","title":"Breakfast","file":"/media/onair/programmes/20260329_1000_breakfast.mp3","offset_ms":0,"ended":"natural","reason":null,"scheduled":"2026-03-29T09:00:00Z"}"#;
        let key = entry_key(t("2026-03-29T09:00:00Z"), 7);
        log.db.insert(key, &old[..]).unwrap();
        log.db.insert(id_key(BY_ID, 7), &key[1..]).unwrap();
        let all = log.range(None, None).unwrap();
        assert_eq!(all.len(), 1);
        let entry = &all[0];
        assert_eq!((entry.id, entry.kind), (7, Kind::Scheduled));
        assert_eq!(entry.title, "Breakfast");
        assert_eq!(entry.ended, Some(Ended::Natural));
        assert_eq!(
            (
                &entry.artist,
                &entry.programme,
                &entry.replaces,
                &entry.problem
            ),
            (&None, &None, &None, &None)
        );
        assert!(entry.is_item());
        // New entries are not longer than old ones for fields they do not use.
        let stored = SledLog::encode(entry);
        assert_eq!(
            stored.len(),
            old.len(),
            "{}",
            String::from_utf8_lossy(&stored)
        );
        drop(log);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_second_opening_is_refused_at_once() {
        let dir = scratch("busy");
        let first = SledLog::open(&dir).unwrap();
        let asked = Instant::now();
        let second = SledLog::open(&dir);
        assert!(
            matches!(second, Err(AsRunError::Busy { .. })),
            "{:?}",
            second.err()
        );
        assert!(
            asked.elapsed() < Duration::from_millis(500),
            "{:?}",
            asked.elapsed()
        );
        let message = SledLog::open(&dir)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            message.contains("in use by another onair process"),
            "{message}"
        );
        drop(first);
        assert!(
            SledLog::open(&dir).is_ok(),
            "free again once the first is closed"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_unusable_data_folder_is_an_open_error() {
        let dir = scratch("unusable");
        // Bad input: the data folder is a file.
        let file = dir.join("state");
        std::fs::write(&file, b"").unwrap();
        let error = SledLog::open(&file)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(error.starts_with("cannot open the as-run log"), "{error}");
        assert!(error.contains("data.dir"), "{error}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn sample(tz_entries: &[(&str, Option<&str>)]) -> Vec<Entry> {
        tz_entries
            .iter()
            .enumerate()
            .map(|(i, (start, end))| Entry {
                id: i as u64 + 1,
                start: t(start),
                end: end.map(t),
                kind: if i == 0 {
                    Kind::Filler
                } else {
                    Kind::Scheduled
                },
                title: if i == 0 {
                    "Jingle".into()
                } else {
                    "Sunday \"Best\", live".into()
                },
                file: format!("/media/onair/{i}.flac"),
                offset_ms: if i == 0 { 0 } else { 61_500 },
                ended: end.map(|_| Ended::Natural),
                reason: None,
                scheduled: (i > 0).then(|| t("2026-03-29T01:00:00Z")),
                artist: None,
                programme: None,
                replaces: None,
                problem: None,
            })
            .collect()
    }

    #[test]
    fn json_gives_station_times_across_the_clock_change() {
        // London goes from GMT to BST at 01:00 UTC on 2026-03-29.
        let entries = sample(&[
            ("2026-03-29T00:59:30Z", Some("2026-03-29T01:00:00Z")),
            ("2026-03-29T01:00:00.125Z", None),
        ]);
        let json: serde_json::Value =
            serde_json::from_str(&to_json(&entries, chrono_tz::Europe::London)).unwrap();
        let rows = json.as_array().unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0]["start"], "2026-03-29T00:59:30+00:00");
        assert_eq!(rows[0]["end"], "2026-03-29T02:00:00+01:00");
        assert_eq!(rows[0]["kind"], "filler");
        assert_eq!(rows[0]["ended"], "natural");
        assert_eq!(rows[0]["scheduled"], serde_json::Value::Null);
        assert_eq!(rows[1]["start"], "2026-03-29T02:00:00.125+01:00");
        assert_eq!(rows[1]["end"], serde_json::Value::Null);
        assert_eq!(rows[1]["ended"], serde_json::Value::Null);
        assert_eq!(rows[1]["offset_ms"], 61_500);
        assert_eq!(rows[1]["scheduled"], "2026-03-29T02:00:00+01:00");
        assert_eq!(rows[1]["title"], "Sunday \"Best\", live");
        let keys: Vec<&str> = rows[1]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        for key in &COLUMNS[..10] {
            assert!(keys.contains(key), "{key} missing from {keys:?}");
        }
        // Fields of tracks and substitutes are left out of other entries.
        assert_eq!(keys.len(), 10, "{keys:?}");
        assert_eq!(to_json(&[], chrono_tz::Europe::London), "[]");
    }

    #[test]
    fn csv_has_the_same_columns_and_quotes_titles() {
        let entries = sample(&[
            ("2026-03-29T00:59:30Z", Some("2026-03-29T01:00:00Z")),
            ("2026-03-29T01:00:00Z", None),
        ]);
        let text = to_csv(&entries, chrono_tz::Europe::London);
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
        assert_eq!(
            header,
            [
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
                "problem"
            ]
        );
        let records: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
        assert_eq!(records.len(), 2);
        assert_eq!(&records[0][2], "2026-03-29T02:00:00+01:00");
        assert_eq!(&records[1][4], "Sunday \"Best\", live");
        assert_eq!((&records[1][2], &records[1][7]), ("", ""));
        assert_eq!(&records[1][6], "61500");
    }

    #[test]
    fn table_names_the_zone_on_each_side_of_the_change() {
        let entries = sample(&[
            ("2026-03-29T00:59:30Z", Some("2026-03-29T01:00:00Z")),
            ("2026-03-29T01:00:05Z", None),
        ]);
        let table = to_table(&entries, chrono_tz::Europe::London);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 3, "{table}");
        assert!(lines[0].starts_with("START"), "{table}");
        assert!(
            lines[1].starts_with("2026-03-29 00:59:30 GMT  2026-03-29 02:00:00 BST  filler"),
            "{table}"
        );
        assert!(lines[2].contains("02:00:05 BST  on air"), "{table}");
        assert!(lines[2].contains("+0:01:01"), "{table}");
        assert!(lines[2].contains("slot 02:00:00"), "{table}");
        assert_eq!(
            to_table(&[], chrono_tz::Europe::London),
            "no as-run entries in this period\n"
        );
    }

    #[test]
    fn times_are_shown_rounded_not_cut() {
        // A programme on the sample nearest its 00:59:00 slot, 40 µs early,
        // ending 400 µs after 00:59:10 (and one ending just past the half second).
        let entries = sample(&[
            (
                "2026-03-29T00:58:59.99996Z",
                Some("2026-03-29T00:59:10.0004Z"),
            ),
            (
                "2026-03-29T00:59:10.0004Z",
                Some("2026-03-29T00:59:20.5004Z"),
            ),
        ]);
        let london = chrono_tz::Europe::London;
        let json: serde_json::Value = serde_json::from_str(&to_json(&entries, london)).unwrap();
        assert_eq!(json[0]["start"], "2026-03-29T00:59:00+00:00");
        assert_eq!(json[0]["end"], "2026-03-29T00:59:10+00:00");
        assert_eq!(json[1]["end"], "2026-03-29T00:59:20.500+00:00");
        let table = to_table(&entries, london);
        let lines: Vec<&str> = table.lines().collect();
        assert!(
            lines[1].starts_with("2026-03-29 00:59:00 GMT  00:59:10 "),
            "{table}"
        );
        assert!(
            lines[2].starts_with("2026-03-29 00:59:10 GMT  00:59:21 "),
            "{table}"
        );
    }

    #[test]
    fn time_arguments() {
        let london = chrono_tz::Europe::London;
        let now = t("2026-03-29T10:20:30Z");
        let parse = |s: &str| parse_time_arg(s, london, now);
        assert_eq!(
            parse("2026-03-29T02:00:00+01:00"),
            Ok(t("2026-03-29T01:00:00Z"))
        );
        assert_eq!(parse("2026-03-29 02:00"), Ok(t("2026-03-29T01:00:00Z")));
        assert_eq!(parse("2026-03-29T00:30"), Ok(t("2026-03-29T00:30:00Z")));
        assert_eq!(parse("2026-03-29 12:00:15"), Ok(t("2026-03-29T11:00:15Z")));
        assert_eq!(parse("2026-07-01"), Ok(t("2026-06-30T23:00:00Z")));
        assert_eq!(parse("today"), Ok(t("2026-03-29T00:00:00Z")));
        assert_eq!(parse("Yesterday"), Ok(t("2026-03-28T00:00:00Z")));
        assert_eq!(parse("now"), Ok(now));
        assert_eq!(parse("-2h"), Ok(t("2026-03-29T08:20:30Z")));
        assert_eq!(parse("-30m"), Ok(t("2026-03-29T09:50:30Z")));
        assert_eq!(parse(" -1h30m "), Ok(t("2026-03-29T08:50:30Z")));
        assert_eq!(parse("-1d"), Ok(t("2026-03-28T10:20:30Z")));
        // When the clocks go back, 01:30 happens twice: the first is taken.
        assert_eq!(parse("2026-10-25 01:30"), Ok(t("2026-10-25T00:30:00Z")));
        // At a late hour in BST, "today" is still the local day.
        let late = parse_time_arg("today", london, t("2026-06-30T23:30:00Z"));
        assert_eq!(late, Ok(t("2026-06-30T23:00:00Z")));

        // Bad inputs: nothing, words, units that do not exist, a bare minus,
        // a number without unit, an impossible date, a time skipped by the
        // clock change, an offset-less time with a Z typo, an absurd age.
        for bad in [
            "",
            "tomorrow",
            "-2x",
            "-",
            "-5",
            "-h",
            "2026-13-01",
            "2026-02-30 10:00",
            "2026-03-29 01:30",
            "10:00",
            "-99999999999999d",
        ] {
            let error = parse(bad).expect_err(bad);
            assert!(error.contains(&format!("`{bad}`")), "{bad}: {error}");
        }
        let gap = parse("2026-03-29 01:30").unwrap_err();
        assert!(gap.contains("clocks went forward"), "{gap}");
        assert!(parse("tomorrow").unwrap_err().contains("-2h"));
    }

    /// The child side of `survives_being_killed`: writes entries until killed.
    /// Does nothing in a normal test run.
    #[test]
    fn kill_test_writer() {
        let Some(dir) = std::env::var_os("ONAIR_ASRUN_WRITER") else {
            return;
        };
        let log = SledLog::open(Path::new(&dir)).unwrap();
        println!("open");
        let mut n = 0u64;
        loop {
            let now = Utc::now();
            let id = log
                .begin(NewEntry {
                    start: now,
                    kind: Kind::Filler,
                    title: format!("item {n}"),
                    file: format!("filler/{n}.wav"),
                    offset_ms: n,
                    scheduled: None,
                })
                .unwrap();
            println!("begun {id}");
            log.heartbeat(now).unwrap();
            if !n.is_multiple_of(3) {
                log.finish(id, Utc::now(), Ended::Natural, None).unwrap();
                println!("finished {id}");
            }
            n += 1;
        }
    }

    #[test]
    fn survives_being_killed() {
        let dir = scratch("kill");
        let mut begun = Vec::new();
        let mut finished = Vec::new();
        for cycle in 0..20u64 {
            let mut child = Command::new(std::env::current_exe().unwrap())
                .args([
                    "--exact",
                    "asrun::tests::kill_test_writer",
                    "--nocapture",
                    "--test-threads=1",
                ])
                .env("ONAIR_ASRUN_WRITER", &dir)
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            let mut out = child.stdout.take().unwrap();
            // Wait until the child holds the log.
            let mut seen = String::new();
            let mut byte = [0u8; 1];
            while !seen.contains("open\n") {
                assert_eq!(out.read(&mut byte).unwrap(), 1, "the writer exited: {seen}");
                seen.push(byte[0] as char);
            }
            if cycle == 0 {
                // Another process holds it: refused at once, not waited for.
                let asked = Instant::now();
                assert!(matches!(SledLog::open(&dir), Err(AsRunError::Busy { .. })));
                assert!(asked.elapsed() < Duration::from_secs(1));
            }
            std::thread::sleep(Duration::from_millis(10 + cycle * 37 % 150));
            child.kill().unwrap();
            child.wait().unwrap();
            out.read_to_string(&mut seen).unwrap();
            // Only whole lines: the child may have died halfway through one.
            let (mut begun_now, mut finished_now) = (Vec::new(), Vec::new());
            for line in seen.split_inclusive('\n').filter(|l| l.ends_with('\n')) {
                let mut words = line.split_whitespace();
                match (words.next(), words.next().map(str::parse::<u64>)) {
                    (Some("begun"), Some(Ok(id))) => begun_now.push(id),
                    (Some("finished"), Some(Ok(id))) => finished_now.push(id),
                    _ => {}
                }
            }

            let log = SledLog::open(&dir).unwrap();
            let interrupted: Vec<u64> = log.recover().unwrap().iter().map(|e| e.id).collect();
            // Everything begun and not finished in this run was on air when it
            // died, except perhaps the last: it may have been finished unreported.
            for id in begun_now.iter().filter(|id| !finished_now.contains(id)) {
                let last = begun_now.last() == Some(id);
                assert!(
                    interrupted.contains(id) || last,
                    "cycle {cycle}: {id} not recovered"
                );
            }
            begun.extend(begun_now);
            finished.extend(finished_now);
            let all = log.range(None, None).unwrap();
            let ids: std::collections::HashSet<u64> = all.iter().map(|e| e.id).collect();
            for id in &begun {
                assert!(
                    ids.contains(id),
                    "cycle {cycle}: entry {id} was begun but is lost"
                );
            }
            for entry in &all {
                assert!(
                    entry.end.is_some(),
                    "cycle {cycle}: {entry:?} on air after recovery"
                );
                if finished.contains(&entry.id) {
                    assert_eq!(
                        entry.ended,
                        Some(Ended::Natural),
                        "cycle {cycle}: {entry:?}"
                    );
                } else if interrupted.contains(&entry.id) {
                    assert_eq!(
                        entry.ended,
                        Some(Ended::Interrupted),
                        "cycle {cycle}: {entry:?}"
                    );
                }
            }
        }
        assert!(begun.len() > 20, "the writer hardly wrote: {}", begun.len());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
