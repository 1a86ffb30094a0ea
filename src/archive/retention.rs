//! Retention: the oldest hours go first. An hour folder is emptied of its
//! segments once it ended more than `keep_days` before the archive's
//! present (the station time of the newest segment: the wall clock is
//! never read), and, while the disk has less than `min_free_mb` free, the
//! oldest hours go too. The hour being written (and any after it) is never
//! touched. Only files named as segments are deleted, each with its peaks
//! sidecar, and a recorded stream's track list of the hour
//! (`.tracks.jsonl`): a tombstone (and anything else a person put there)
//! stays, and its folder with it.

use std::path::Path;

use chrono::{DateTime, TimeDelta, Utc};

use super::names::{SegmentName, parse_hour};
use super::peaks;

/// A recorded stream's titles of an hour, beside its segments.
pub const TRACK_LIST: &str = ".tracks.jsonl";

/// What retention keeps.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Retention {
    pub keep_days: Option<u32>,
    /// Bytes to keep free on the archive's disk.
    pub min_free_bytes: Option<u64>,
}

impl Retention {
    pub fn is_off(&self) -> bool {
        self.keep_days.is_none() && self.min_free_bytes.is_none()
    }
}

/// Bytes free for this user on the disk holding `dir`.
pub fn free_bytes(dir: &Path) -> Option<u64> {
    let path = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes()).ok()?;
    // SAFETY: `path` is NUL-terminated and `stat` a zeroed struct statvfs fills in.
    let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(path.as_ptr(), &mut stat) } != 0 {
        return None;
    }
    #[allow(clippy::unnecessary_cast)]
    Some(stat.f_bavail as u64 * stat.f_frsize as u64)
}

/// The hour folders under `quality_dir`, oldest first.
fn hours(quality_dir: &Path) -> Vec<(DateTime<Utc>, std::path::PathBuf)> {
    let Ok(entries) = std::fs::read_dir(quality_dir) else {
        return Vec::new();
    };
    let mut hours: Vec<_> = entries
        .flatten()
        .filter_map(|e| {
            let start = parse_hour(&e.file_name().to_string_lossy()).ok()?;
            Some((start, e.path()))
        })
        .collect();
    hours.sort();
    hours
}

/// Deletes the segments of one hour folder (and the folder, once empty);
/// returns how many files went.
fn delete_hour(hour: &Path, start: DateTime<Utc>) -> usize {
    let Ok(files) = std::fs::read_dir(hour) else {
        return 0;
    };
    let mut deleted = 0;
    for file in files.flatten() {
        let name = file.file_name();
        let name = name.to_string_lossy();
        if SegmentName::parse_in(start, &name).is_ok() && std::fs::remove_file(file.path()).is_ok()
        {
            deleted += 1;
            // The segment first, then its peaks: never a segment without them.
            let _ = std::fs::remove_file(peaks::sidecar_path(&file.path()));
        } else if let Some(stem) = name.strip_suffix(peaks::EXTENSION)
            && SegmentName::parse_in(start, &format!("{stem}.mp3")).is_ok()
        {
            // The peaks of a segment already gone (a box stopped between
            // writing them and renaming the segment).
            let _ = std::fs::remove_file(file.path());
        }
    }
    // The recorder's track list describes the segments that went.
    if deleted > 0 {
        let _ = std::fs::remove_file(hour.join(TRACK_LIST));
    }
    // Fails, as it should, while a tombstone or anything else is left.
    let _ = std::fs::remove_dir(hour);
    deleted
}

/// Applies `retention` to `quality_dir` at the archive's present `now`;
/// `free` says how many bytes the disk has free. Returns the segments deleted.
pub fn enforce(
    quality_dir: &Path,
    now: DateTime<Utc>,
    retention: Retention,
    mut free: impl FnMut() -> Option<u64>,
) -> usize {
    let Some(current) =
        DateTime::from_timestamp(now.timestamp() - now.timestamp().rem_euclid(3600), 0)
    else {
        return 0;
    };
    let mut deleted = 0;
    for (start, path) in hours(quality_dir) {
        if start >= current {
            break;
        }
        let end = start + TimeDelta::hours(1);
        let too_old = retention
            .keep_days
            .is_some_and(|days| end <= now - TimeDelta::days(i64::from(days)));
        let too_full = retention
            .min_free_bytes
            .is_some_and(|min| free().is_some_and(|bytes| bytes < min));
        if !too_old && !too_full {
            break;
        }
        deleted += delete_hour(&path, start);
    }
    deleted
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::names::{SegmentType, content_hash};

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    /// An archive with one segment in each hour from 2026-01-01T00 for `hours`.
    fn archive(name: &str, hours: i64) -> std::path::PathBuf {
        let dir =
            std::env::temp_dir().join(format!("onair-retention-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        for h in 0..hours {
            let segment = SegmentName {
                start: utc("2026-01-01T00:00:00Z") + TimeDelta::hours(h),
                duration: 6.0,
                kind: SegmentType::Full,
                hash: content_hash(&h.to_be_bytes()),
            };
            let path = dir.join(segment.path());
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, b"mp3").unwrap();
        }
        dir
    }

    fn left(dir: &Path) -> Vec<String> {
        hours(dir)
            .into_iter()
            .map(|(_, p)| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn hours_older_than_keep_days_go_and_tombstones_stay() {
        let dir = archive("days", 6);
        // A tombstone in the oldest hour: its folder stays, with it alone.
        let tombstone = dir.join("2026-01-01T00/00:00.000000-6.0-full-x.tombstone");
        std::fs::write(&tombstone, b"").unwrap();
        // A recorded stream's track list goes with its hour's segments.
        let tracks = dir.join("2026-01-01T01").join(TRACK_LIST);
        std::fs::write(&tracks, b"{}\n").unwrap();
        let retention = Retention {
            keep_days: Some(1),
            min_free_bytes: None,
        };
        // A day after 03:30: hours ending by 2026-01-01T03:30 are older.
        let deleted = enforce(&dir, utc("2026-01-02T03:30:00Z"), retention, || None);
        assert_eq!(deleted, 3);
        assert_eq!(
            left(&dir),
            [
                "2026-01-01T00",
                "2026-01-01T03",
                "2026-01-01T04",
                "2026-01-01T05"
            ]
        );
        assert!(tombstone.exists());
        assert!(!tracks.exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_full_disk_loses_its_oldest_hours_but_never_the_current_one() {
        let dir = archive("free", 4);
        let retention = Retention {
            keep_days: None,
            min_free_bytes: Some(100),
        };
        // Bad input: a disk that stays full whatever is deleted; the hour
        // being written (03) is kept all the same.
        let deleted = enforce(&dir, utc("2026-01-01T03:10:00Z"), retention, || Some(0));
        assert_eq!(deleted, 3);
        assert_eq!(left(&dir), ["2026-01-01T03"]);
        // A disk with room: nothing goes.
        let dir2 = archive("room", 4);
        assert_eq!(
            enforce(&dir2, utc("2026-01-01T03:10:00Z"), retention, || Some(1000)),
            0
        );
        assert_eq!(left(&dir2).len(), 4);
        std::fs::remove_dir_all(&dir).unwrap();
        std::fs::remove_dir_all(&dir2).unwrap();
    }
}
