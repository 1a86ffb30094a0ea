//! The box's heartbeat: the station time it was last alive, so that after
//! a crash or a power cut the as-run log knows until when the last sound
//! was on air.
//!
//! It is written every second, so it is kept out of sled. A sled flush
//! hands its write to sled's I/O pool, whose seven threads all wake for
//! each one (fourteen wake-ups a second of the Pi's CPU for one timestamp,
//! with their one-second timeouts), and appends a new page to the log on
//! the card every time. Here it is one line of fixed length, overwritten in
//! place and synced: one block rewritten a second. The line is readable
//! with `cat` (`asrun.heartbeat` in the data folder).
//!
//! The sync is done by a thread of its own, not by the director that
//! beats: on a card busy with the archive, a sync can wait for the
//! filesystem's journal for a second or more, and the director must not
//! wait with it (a studio's button would). A beat given while the last is
//! still being synced replaces the one waiting, if any: only the latest
//! time matters.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

use chrono::{DateTime, Utc};

/// Microseconds and a `Z`: every line has the same length (for years 1000
/// to 9999), so an overwrite never leaves the tail of a longer one behind.
const FORMAT: &str = "%Y-%m-%dT%H:%M:%S%.6fZ\n";

/// The heartbeat's file beside the as-run log's folder.
pub(super) fn path(data_dir: &Path) -> PathBuf {
    data_dir.join("asrun.heartbeat")
}

/// The writer's open heartbeat file, and the thread that writes it.
#[derive(Debug)]
pub(super) struct Heartbeat {
    file: Arc<File>,
    path: PathBuf,
    desk: Arc<Desk>,
    writer: Option<JoinHandle<()>>,
}

/// Between the beater and the heartbeat's thread.
#[derive(Debug, Default)]
struct Desk {
    state: Mutex<Waiting>,
    bell: Condvar,
}

#[derive(Debug, Default)]
struct Waiting {
    /// The latest beat not yet taken by the thread.
    beat: Option<DateTime<Utc>>,
    /// Why the last write or sync failed, for the next beat to say.
    failed: Option<io::Error>,
    closing: bool,
}

impl Desk {
    fn lock(&self) -> MutexGuard<'_, Waiting> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Heartbeat {
    /// Opens (or creates) the heartbeat in `data_dir`, keeping what it holds
    /// for [`Heartbeat::last`], and starts its thread.
    pub(super) fn open(data_dir: &Path) -> io::Result<Self> {
        let path = path(data_dir);
        let file = Arc::new(
            File::options()
                .create(true)
                .truncate(false)
                .read(true)
                .write(true)
                .open(&path)?,
        );
        let desk = Arc::new(Desk::default());
        let writer = {
            let (file, desk) = (file.clone(), desk.clone());
            // Fifteen characters: all of a thread's name `top` and /proc show.
            std::thread::Builder::new()
                .name("asrun heartbeat".to_string())
                .spawn(move || write_beats(&file, &desk))?
        };
        Ok(Heartbeat {
            file,
            path,
            desk,
            writer: Some(writer),
        })
    }

    pub(super) fn path(&self) -> &Path {
        &self.path
    }

    /// Notes that the box is alive at `now`: on the storage within moments,
    /// without waiting for it. A write or sync that failed since the last
    /// beat is returned here.
    pub(super) fn beat(&self, now: DateTime<Utc>) -> io::Result<()> {
        let mut waiting = self.desk.lock();
        waiting.beat = Some(now);
        self.desk.bell.notify_one();
        match waiting.failed.take() {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }

    /// The last beat written, `None` before the first. A file that does not
    /// hold one (cut short by a power cut as it was written, or written
    /// over by hand) is an error naming the file and what it holds.
    pub(super) fn last(&self) -> Result<Option<DateTime<Utc>>, String> {
        let mut bytes = vec![0u8; 64];
        let read = self
            .file
            .read_at(&mut bytes, 0)
            .map_err(|e| format!("cannot read {}: {e}", self.path.display()))?;
        let text = String::from_utf8_lossy(&bytes[..read]);
        let line = text.lines().next().unwrap_or("").trim();
        if line.is_empty() {
            return Ok(None);
        }
        DateTime::parse_from_rfc3339(line)
            .map(|t| Some(t.with_timezone(&Utc)))
            .map_err(|e| format!("{} holds {line:?}, not a time ({e})", self.path.display()))
    }
}

impl Drop for Heartbeat {
    /// The last beat given is on the storage before the log is closed.
    fn drop(&mut self) {
        self.desk.lock().closing = true;
        self.desk.bell.notify_one();
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
    }
}

/// The heartbeat's thread: each beat overwritten in place and synced, until
/// the heartbeat is closed with no beat waiting.
fn write_beats(file: &File, desk: &Desk) {
    loop {
        let beat = {
            let mut waiting = desk.lock();
            loop {
                if let Some(beat) = waiting.beat.take() {
                    break beat;
                }
                if waiting.closing {
                    return;
                }
                waiting = desk.bell.wait(waiting).unwrap_or_else(|e| e.into_inner());
            }
        };
        let line = beat.format(FORMAT).to_string();
        let written = file
            .write_all_at(line.as_bytes(), 0)
            .and_then(|()| file.sync_data());
        if let Err(error) = written {
            desk.lock().failed = Some(error);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::asrun::tests::{scratch, t};

    #[test]
    fn the_last_beat_is_read_back_after_a_reopen() {
        let dir = scratch("heartbeat-reopen");
        let beat = Heartbeat::open(&dir).unwrap();
        assert_eq!(beat.last(), Ok(None), "a new heartbeat has no beat");
        beat.beat(t("2026-06-01T10:00:03.123456Z")).unwrap();
        beat.beat(t("2026-06-01T10:00:04Z")).unwrap();
        drop(beat);
        let beat = Heartbeat::open(&dir).unwrap();
        assert_eq!(beat.last(), Ok(Some(t("2026-06-01T10:00:04Z"))));
        assert_eq!(
            std::fs::read_to_string(path(&dir)).unwrap(),
            "2026-06-01T10:00:04.000000Z\n",
            "one line, overwritten in place"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_beat_that_cannot_be_written_is_told_by_the_next() {
        let dir = scratch("heartbeat-full");
        // Bad input: storage that is full (the heartbeat's name leads to
        // /dev/full, where every write fails with "no space").
        std::os::unix::fs::symlink("/dev/full", path(&dir)).unwrap();
        let beat = Heartbeat::open(&dir).unwrap();
        beat.beat(t("2026-06-01T10:00:03Z")).unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let error = loop {
            std::thread::sleep(std::time::Duration::from_millis(10));
            match beat.beat(t("2026-06-01T10:00:04Z")) {
                Err(error) => break error,
                Ok(()) => assert!(std::time::Instant::now() < deadline, "no error told"),
            }
        };
        assert_eq!(error.kind(), std::io::ErrorKind::StorageFull, "{error}");
        drop(beat);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_torn_or_foreign_heartbeat_is_named_not_believed() {
        let dir = scratch("heartbeat-torn");
        // Bad input: a line cut short by a power cut, and text written by hand.
        for (held, shown) in [
            ("2026-06-01T10:0", "\"2026-06-01T10:0\""),
            ("yesterday\n", "\"yesterday\""),
        ] {
            std::fs::write(path(&dir), held).unwrap();
            let beat = Heartbeat::open(&dir).unwrap();
            let error = beat.last().unwrap_err();
            assert!(error.contains("asrun.heartbeat"), "{error}");
            assert!(error.contains(shown), "{error}");
            // The next beat replaces it whole (on the storage once closed).
            beat.beat(t("2026-06-01T10:00:05Z")).unwrap();
            drop(beat);
            let beat = Heartbeat::open(&dir).unwrap();
            assert_eq!(beat.last(), Ok(Some(t("2026-06-01T10:00:05Z"))));
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
