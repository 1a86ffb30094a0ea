//! The as-run log in a sled database under the data folder: entries keyed
//! by start, indexes by id and of what is on air, all written in one batch
//! and flushed before a write returns.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use tracing::warn;

use super::heartbeat::Heartbeat;
use super::{
    AlarmEvent, AsRunError, AsRunReader, AsRunWriter, Ended, Entry, ListenEvent, LiveEntry,
    NewEntry, NewTrack, StreamEvent, Substitution,
};

/// Key prefixes in the one sled tree. An entry and its indexes are written in
/// one atomic batch, so they never disagree after a crash.
pub(super) const ENTRY: u8 = b'e'; // e + start + id → entry (JSON)
pub(super) const BY_ID: u8 = b'i'; // i + id → start + id
const ON_AIR: u8 = b'o'; // o + id → (nothing)
pub(super) const HEARTBEAT_IN_LOG: &[u8] = b"h"; // → time (JSON), see `recover`
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

pub(super) fn entry_key(start: DateTime<Utc>, id: u64) -> [u8; 17] {
    let mut key = [0u8; 17];
    key[0] = ENTRY;
    key[1..9].copy_from_slice(&time_bytes(start));
    key[9..].copy_from_slice(&id.to_be_bytes());
    key
}

pub(super) fn id_key(prefix: u8, id: u64) -> [u8; 9] {
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

/// The director's side of the as-run log in the data folder: the one
/// writer, not `Clone`. Readers come from [`SledWriter::reader`].
///
/// ```compile_fail
/// # fn two_writers(data: &std::path::Path) -> Result<(), onair::asrun::AsRunError> {
/// let writer = onair::asrun::SledWriter::open(data)?;
/// let second = writer.clone(); // a log has one writer
/// # Ok(()) }
/// ```
pub struct SledWriter {
    pub(super) store: Arc<Store>,
    heartbeat: Heartbeat,
}

/// A reader of the as-run log, for the web server (from the box's writer)
/// or for `onair log` and `onair report` (opened on their own while the
/// box is stopped). Cheap to clone.
#[derive(Clone)]
pub struct SledReader {
    store: Arc<Store>,
}

impl SledWriter {
    /// Opens (or creates) the as-run log in `data_dir` to write it. Fails
    /// at once with [`AsRunError::Busy`] when another process has it open.
    pub fn open(data_dir: &Path) -> Result<Self, AsRunError> {
        let store = Arc::new(Store::open(data_dir)?);
        let heartbeat = Heartbeat::open(data_dir).map_err(|e| AsRunError::Open {
            dir: store.dir.clone(),
            error: format!("{}: {e}", super::heartbeat::path(data_dir).display()),
        })?;
        Ok(SledWriter { store, heartbeat })
    }

    /// A reader of this log.
    pub fn reader(&self) -> SledReader {
        SledReader {
            store: self.store.clone(),
        }
    }

    /// The database this log is kept in, for other records kept beside it
    /// (the job queue): sled may be opened only once per folder and process.
    pub fn database(&self) -> Database {
        Database {
            store: self.store.clone(),
        }
    }
}

/// The as-run log's sled database, shared with records kept beside the log
/// in trees of their own. Holds the database (and its lock) open while any
/// handle to it lives.
#[derive(Clone)]
pub struct Database {
    store: Arc<Store>,
}

impl Database {
    /// Opens the database in `data_dir` for a command run while the box is
    /// stopped: [`AsRunError::Busy`] when the box holds it.
    pub fn open(data_dir: &Path) -> Result<Self, AsRunError> {
        Ok(Database {
            store: Arc::new(Store::open(data_dir)?),
        })
    }

    /// The tree `name`, created when missing.
    pub fn tree(&self, name: &str) -> Result<sled::Tree, AsRunError> {
        self.store
            .db
            .open_tree(name)
            .map_err(|e| self.store.write_error(e))
    }

    /// The database's folder, for messages.
    pub fn dir(&self) -> &Path {
        &self.store.dir
    }
}

impl SledReader {
    /// Opens the as-run log in `data_dir` only to read it. Like a writer,
    /// it holds the log while open: [`AsRunError::Busy`] when the box (or
    /// another reader) has it; ask the running box instead.
    pub fn open(data_dir: &Path) -> Result<Self, AsRunError> {
        Ok(SledReader {
            store: Arc::new(Store::open(data_dir)?),
        })
    }
}

/// The sled database, shared by the writer and the readers; closed and
/// unlocked when the last of them is dropped.
pub(super) struct Store {
    // Declared before `_lock` so that sled closes before the folder is unlocked.
    pub(super) db: sled::Db,
    dir: PathBuf,
    /// The next id; held while writing so that ids follow the order of writes.
    writer: Mutex<u64>,
    /// Entries written (or closed) through this store so far.
    writes: AtomicU64,
    /// The last `recent` answer, with the write count and length it was
    /// read for: the status asks several times a second, and only the
    /// director's writes change the answer.
    recent: Mutex<Option<(u64, usize, Vec<Entry>)>>,
    _lock: File,
}

impl Store {
    fn open(data_dir: &Path) -> Result<Self, AsRunError> {
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
        // Every write is flushed before it returns, so sled's own flusher,
        // which would wake the box twice a second, has nothing to add.
        let config = sled::Config::new()
            .path(&dir)
            .cache_capacity(CACHE_BYTES)
            .flush_every_ms(None);
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
        Ok(Store {
            db,
            dir,
            writer: Mutex::new(next_id),
            writes: AtomicU64::new(0),
            recent: Mutex::new(None),
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

    pub(super) fn encode(entry: &Entry) -> Vec<u8> {
        // Only strings, numbers and times: serialising to memory cannot fail.
        serde_json::to_vec(entry).unwrap_or_default()
    }

    fn commit(&self, batch: sled::Batch) -> Result<(), AsRunError> {
        self.db
            .apply_batch(batch)
            .map_err(|e| self.write_error(e))?;
        self.writes.fetch_add(1, Ordering::AcqRel);
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
        self.writes.fetch_add(1, Ordering::AcqRel);
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

impl AsRunWriter for SledWriter {
    fn begin(&self, e: NewEntry) -> Result<u64, AsRunError> {
        self.store.insert(Entry::from_new(e), true)
    }

    fn finish(
        &self,
        id: u64,
        end: DateTime<Utc>,
        ended: Ended,
        reason: Option<String>,
    ) -> Result<(), AsRunError> {
        let _writer = self.store.writer();
        let on_air = self
            .store
            .db
            .contains_key(id_key(ON_AIR, id))
            .map_err(|e| self.store.read_error(e))?;
        let Some((key, mut entry)) = self.store.by_id(id)?.filter(|_| on_air) else {
            return Err(AsRunError::NotOnAir { id });
        };
        entry.end = Some(end.max(entry.start));
        entry.ended = Some(ended);
        entry.reason = reason;
        let mut longest = self.store.longest()?;
        let mut batch = sled::Batch::default();
        self.store.close(&mut batch, &key, &entry, &mut longest);
        self.store.commit(batch)
    }

    fn failed(&self, e: NewEntry, reason: String) -> Result<u64, AsRunError> {
        self.store
            .insert(Entry::from_new(e).failed_to_start(reason), false)
    }

    fn begin_track(&self, t: NewTrack) -> Result<u64, AsRunError> {
        self.store.insert(Entry::of_track(t), true)
    }

    fn begin_substitute(&self, e: NewEntry, s: Substitution) -> Result<u64, AsRunError> {
        self.store.insert(Entry::of_substitute(e, s), true)
    }

    fn failed_substitute(
        &self,
        e: NewEntry,
        s: Substitution,
        reason: String,
    ) -> Result<u64, AsRunError> {
        let entry = Entry::of_substitute(e, s).failed_to_start(reason);
        self.store.insert(entry, false)
    }

    fn stream_event(&self, e: StreamEvent) -> Result<u64, AsRunError> {
        self.store.insert(Entry::of_stream_event(e), false)
    }

    fn listen_event(&self, e: ListenEvent) -> Result<u64, AsRunError> {
        self.store.insert(Entry::of_listen_event(e), false)
    }

    fn begin_live(&self, l: LiveEntry) -> Result<u64, AsRunError> {
        self.store.insert(Entry::of_live(l), true)
    }

    fn alarm_event(&self, a: AlarmEvent) -> Result<u64, AsRunError> {
        self.store.insert(Entry::of_alarm(a), false)
    }

    fn cancelled(&self, e: NewEntry, reason: String) -> Result<u64, AsRunError> {
        let mut entry = Entry::from_new(e).failed_to_start(reason);
        entry.ended = Some(Ended::Cancelled);
        self.store.insert(entry, false)
    }

    fn heartbeat(&self, now: DateTime<Utc>) -> Result<(), AsRunError> {
        self.heartbeat
            .beat(now)
            .map_err(|error| AsRunError::Heartbeat {
                path: self.heartbeat.path().to_owned(),
                error,
            })
    }

    fn recover(&self) -> Result<Vec<Entry>, AsRunError> {
        let _writer = self.store.writer();
        let beat = self.heartbeat.last().unwrap_or_else(|e| {
            warn!("as-run heartbeat: {e}; what was left on air is closed without it");
            None
        });
        // Kept in the log itself by earlier versions of the box: read once
        // and removed, so that a stale one is never read again.
        let in_log = self.store.time(HEARTBEAT_IN_LOG)?;
        let heartbeat = beat.max(in_log);
        let mut longest = self.store.longest()?;
        let mut batch = sled::Batch::default();
        if in_log.is_some() {
            batch.remove(HEARTBEAT_IN_LOG);
        }
        let mut closed = Vec::new();
        for (key, mut entry) in self.store.on_air()? {
            entry.end = Some(heartbeat.map_or(entry.start, |h| h.max(entry.start)));
            entry.ended = Some(Ended::Interrupted);
            entry.reason = Some("the box stopped while this was on air".into());
            self.store.close(&mut batch, &key, &entry, &mut longest);
            closed.push(entry);
        }
        if !closed.is_empty() || in_log.is_some() {
            self.store.commit(batch)?;
        }
        closed.sort_by_key(|e| (e.start, e.id));
        Ok(closed)
    }
}

impl AsRunReader for SledWriter {
    fn range(
        &self,
        since: Option<DateTime<Utc>>,
        until: Option<DateTime<Utc>>,
    ) -> Result<Vec<Entry>, AsRunError> {
        self.store.range(since, until)
    }

    fn recent(&self, n: usize) -> Result<Vec<Entry>, AsRunError> {
        self.store.recent(n)
    }
}

impl AsRunReader for SledReader {
    fn range(
        &self,
        since: Option<DateTime<Utc>>,
        until: Option<DateTime<Utc>>,
    ) -> Result<Vec<Entry>, AsRunError> {
        self.store.range(since, until)
    }

    fn recent(&self, n: usize) -> Result<Vec<Entry>, AsRunError> {
        self.store.recent(n)
    }
}

impl Store {
    pub(super) fn range(
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

    pub(super) fn recent(&self, n: usize) -> Result<Vec<Entry>, AsRunError> {
        // Writes are counted once applied, and the count is taken before
        // reading: a write during the read leaves the answer marked older
        // than it may be (read again next time), never newer.
        let writes = self.writes.load(Ordering::Acquire);
        let mut cached = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((at, length, entries)) = cached.as_ref()
            && *at == writes
            && *length == n
        {
            return Ok(entries.clone());
        }
        let entries = self.read_recent(n)?;
        *cached = Some((writes, n, entries.clone()));
        Ok(entries)
    }

    fn read_recent(&self, n: usize) -> Result<Vec<Entry>, AsRunError> {
        let mut entries = Vec::with_capacity(n.min(1024));
        for item in self.db.scan_prefix([ENTRY]).rev().take(n) {
            let (_, bytes) = item.map_err(|e| self.read_error(e))?;
            entries.push(self.decode(&bytes)?);
        }
        entries.reverse();
        Ok(entries)
    }
}
