//! The box's heartbeat: the station time it was last alive, so that after
//! a crash or a power cut the as-run log knows until when the last sound
//! was on air.
//!
//! It is written every second, so it is kept out of sled. A sled flush
//! hands its write to sled's I/O pool, whose seven threads all wake for
//! each one (fourteen wake-ups a second of the Pi's CPU for one timestamp,
//! with their one-second timeouts), and appends a new page to the log on
//! the card every time. Here it is one line of fixed length, overwritten in
//! place and synced: one block rewritten a second, by the director's own
//! thread. The line is readable with `cat` (`asrun.heartbeat` in the data
//! folder).

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

/// Microseconds and a `Z`: every line has the same length (for years 1000
/// to 9999), so an overwrite never leaves the tail of a longer one behind.
const FORMAT: &str = "%Y-%m-%dT%H:%M:%S%.6fZ\n";

/// The heartbeat's file beside the as-run log's folder.
pub(super) fn path(data_dir: &Path) -> PathBuf {
    data_dir.join("asrun.heartbeat")
}

/// The writer's open heartbeat file.
#[derive(Debug)]
pub(super) struct Heartbeat {
    file: File,
    path: PathBuf,
}

impl Heartbeat {
    /// Opens (or creates) the heartbeat in `data_dir`, keeping what it holds
    /// for [`Heartbeat::last`].
    pub(super) fn open(data_dir: &Path) -> std::io::Result<Self> {
        let path = path(data_dir);
        let file = File::options()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)?;
        Ok(Heartbeat { file, path })
    }

    pub(super) fn path(&self) -> &Path {
        &self.path
    }

    /// Notes that the box is alive at `now`, on the storage before it returns.
    pub(super) fn beat(&self, now: DateTime<Utc>) -> std::io::Result<()> {
        let line = now.format(FORMAT).to_string();
        self.file.write_all_at(line.as_bytes(), 0)?;
        self.file.sync_data()
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
            // The next beat replaces it whole.
            beat.beat(t("2026-06-01T10:00:05Z")).unwrap();
            assert_eq!(beat.last(), Ok(Some(t("2026-06-01T10:00:05Z"))));
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
