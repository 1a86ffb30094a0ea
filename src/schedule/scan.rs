//! The programme folder, read into programmes. A file only becomes a
//! programme once it has stopped changing, so a file still being copied onto
//! the storage is never aired half-written.
//!
//! What is left out: hidden files, partial-upload names and track lists are
//! skipped without a word (system files, an upload whose finished file will
//! appear under its real name, or a programme's CUE sheet or `.tracks.csv`); anything else a person may have meant to air (a bad name, a
//! sub-folder, a file that cannot be read) is listed in [`Scan::ignored`] with
//! the reason.

use std::collections::HashMap;
use std::fs::Metadata;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use chrono::{DateTime, NaiveDateTime, Utc};
use chrono_tz::Tz;

use super::changes::FolderChanges;
use super::local_time::{TimeNote, resolve_local};
use super::names::{is_hidden, is_partial_upload, parse_name, title_from_slug};
use crate::tracks::is_track_list_name;

/// How long a file must have gone unmodified before it may air.
pub const SETTLE: Duration = Duration::from_secs(2);

#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error(
        "the folder {path} does not exist: create it, attach the storage that holds it, \
         or correct the path in the configuration"
    )]
    Missing { path: PathBuf },
    #[error(
        "{path} is a file, not a folder: set the configuration to the folder that holds the audio files"
    )]
    NotAFolder { path: PathBuf },
    #[error(
        "cannot read the folder {path}: {source}; check that the storage is attached and \
         readable by the user onair runs as"
    )]
    Read { path: PathBuf, source: io::Error },
}

/// One programme file, ready to air.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Programme {
    pub path: PathBuf,
    pub start: DateTime<Utc>,
    /// The local time written in the file name.
    pub local: NaiveDateTime,
    pub slug: String,
    pub title: String,
    /// Set when the local time falls on a clock change.
    pub note: Option<TimeNote>,
}

impl Programme {
    pub fn file_name(&self) -> String {
        file_name_of(&self.path)
    }
}

/// A file in the programme folder that will not air, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ignored {
    pub path: PathBuf,
    pub reason: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scan {
    /// Sorted by start, then file name.
    pub programmes: Vec<Programme>,
    /// Sorted by path.
    pub ignored: Vec<Ignored>,
    /// Well-named files still changing (being copied); sorted by path.
    pub settling: Vec<PathBuf>,
}

/// The programme folder, watched between scans.
#[derive(Debug)]
pub struct FolderWatch {
    dir: PathBuf,
    tz: Tz,
    /// Size and modification time of each well-named file at the last scan;
    /// `None` before the first scan.
    seen: Option<HashMap<PathBuf, (u64, SystemTime)>>,
    /// When set, the folder is read only when it changed, and the last
    /// reading stands in between.
    changes: Option<(FolderChanges, Option<Arc<Scan>>)>,
}

impl FolderWatch {
    /// A watch that reads the folder at every scan.
    pub fn new(dir: PathBuf, tz: Tz) -> Self {
        FolderWatch {
            dir,
            tz,
            seen: None,
            changes: None,
        }
    }

    /// A watch for a folder looked at again and again: it is read only when
    /// the kernel says it changed, while a file is settling, or once a
    /// minute (see [`super::changes`]).
    pub fn told_of_changes(mut self) -> Self {
        self.changes = Some((FolderChanges::new(&self.dir), None));
        self
    }

    /// Scans the folder unless nothing in it changed since the last
    /// reading, which is then returned again: the same reading, so a caller
    /// that keeps it knows by [`Arc::ptr_eq`] that nothing was read since.
    pub fn look(&mut self, real_now: SystemTime) -> Result<Arc<Scan>, ScanError> {
        if let Some((changes, Some(last))) = self.changes.as_mut()
            && !changes.must_read()
        {
            return Ok(last.clone());
        }
        let scan = self.scan(real_now).map(Arc::new);
        if let Some((changes, last)) = self.changes.as_mut() {
            // A failed reading is tried again at the next look.
            changes.read(scan.as_ref().map_or(true, |s| !s.settling.is_empty()));
            *last = scan.as_ref().ok().cloned();
        }
        scan
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Reads the folder. `real_now` is the real (not simulated) time, the one
    /// file modification times are written in.
    ///
    /// A file is ready once its size and modification time are the same as at
    /// the previous scan and it was last modified at least [`SETTLE`] before
    /// `real_now`; the first scan trusts files already that old. A
    /// modification time in the future (storage filled on a machine whose
    /// clock is ahead, or a box that booted before its clock was set) cannot
    /// be compared with `real_now`, so such a file is ready once it stays
    /// unchanged from one scan to the next.
    pub fn scan(&mut self, real_now: SystemTime) -> Result<Scan, ScanError> {
        let entries = read_folder(&self.dir)?;
        let previous = self.seen.take();
        let mut seen = HashMap::new();
        let mut scan = Scan::default();

        for entry in entries {
            let entry = match entry {
                Ok(entry) => entry,
                Err(source) => {
                    return Err(ScanError::Read {
                        path: self.dir.clone(),
                        source,
                    });
                }
            };
            let path = entry.path();
            let Some(name) = entry.file_name().to_str().map(str::to_string) else {
                scan.ignored.push(Ignored {
                    path,
                    reason: "the file name is not valid UTF-8: rename it".into(),
                });
                continue;
            };
            // Track lists (CUE sheets, `.tracks.csv`) belong to the programme
            // beside them: read when it airs, neither aired nor stray.
            if is_hidden(&name) || is_partial_upload(&name) || is_track_list_name(&name) {
                continue;
            }
            let metadata = match file_metadata(&path) {
                Ok(Some(metadata)) => metadata,
                Ok(None) => continue,
                Err(reason) => {
                    scan.ignored.push(Ignored { path, reason });
                    continue;
                }
            };
            let parsed = match parse_name(&name) {
                Ok(parsed) => parsed,
                Err(e) => {
                    scan.ignored.push(Ignored {
                        path,
                        reason: e.to_string(),
                    });
                    continue;
                }
            };
            let Ok(modified) = metadata.modified() else {
                scan.ignored.push(Ignored {
                    path,
                    reason: "the storage does not record when the file was modified, \
                             so it cannot tell when the file is complete"
                        .into(),
                });
                continue;
            };
            let size = metadata.len();
            seen.insert(path.clone(), (size, modified));

            let unchanged = match &previous {
                None => true,
                Some(previous) => previous.get(&path) == Some(&(size, modified)),
            };
            let settled = match real_now.duration_since(modified) {
                Ok(age) => age >= SETTLE,
                Err(_) => previous.is_some(),
            };
            if !(unchanged && settled) {
                scan.settling.push(path);
                continue;
            }

            let (start, note) = resolve_local(self.tz, parsed.local);
            scan.programmes.push(Programme {
                path,
                start,
                local: parsed.local,
                title: title_from_slug(&parsed.slug),
                slug: parsed.slug,
                note,
            });
        }

        self.seen = Some(seen);
        scan.programmes
            .sort_by_cached_key(|p| (p.start, p.file_name()));
        scan.ignored.sort_by(|a, b| a.path.cmp(&b.path));
        scan.settling.sort();
        Ok(scan)
    }
}

/// One look at the folder (for `onair schedule`): files older than
/// [`SETTLE`] are ready, newer ones are settling.
pub fn scan_now(dir: &Path, tz: Tz, real_now: SystemTime) -> Result<Scan, ScanError> {
    FolderWatch::new(dir.to_path_buf(), tz).scan(real_now)
}

/// Opens a folder of audio, telling a missing folder from an unreadable one.
pub(super) fn read_folder(dir: &Path) -> Result<std::fs::ReadDir, ScanError> {
    match std::fs::metadata(dir) {
        Ok(metadata) if !metadata.is_dir() => {
            return Err(ScanError::NotAFolder {
                path: dir.to_path_buf(),
            });
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(ScanError::Missing {
                path: dir.to_path_buf(),
            });
        }
        _ => {}
    }
    std::fs::read_dir(dir).map_err(|source| ScanError::Read {
        path: dir.to_path_buf(),
        source,
    })
}

/// Metadata of a regular file (following links, so a linked programme airs);
/// `Ok(None)` for a file gone since the folder was listed; `Err(reason)` for
/// anything that is not a playable file.
pub(super) fn file_metadata(path: &Path) -> Result<Option<Metadata>, String> {
    match std::fs::metadata(path) {
        Ok(metadata) if metadata.is_file() => Ok(Some(metadata)),
        Ok(metadata) if metadata.is_dir() => Err(
            "a sub-folder: only files directly in the folder are read; move them up a level".into(),
        ),
        Ok(_) => Err("not a regular file".into()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            if std::fs::symlink_metadata(path).is_ok() {
                Err("a link to a file that does not exist: fix or remove the link".into())
            } else {
                Ok(None)
            }
        }
        Err(e) => Err(format!("cannot read the file: {e}; check its permissions")),
    }
}

pub(super) fn file_name_of(path: &Path) -> String {
    path.file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default()
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use std::fs::File;

    /// A fresh, empty folder under the system's temporary folder.
    pub fn temp_folder(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("onair-schedule-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// Writes `bytes` into `dir/name`, last modified at `modified`.
    pub fn put(dir: &Path, name: &str, bytes: usize, modified: SystemTime) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, vec![0u8; bytes]).unwrap();
        File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(modified)
            .unwrap();
        path
    }

    fn names(paths: &[PathBuf]) -> Vec<String> {
        paths.iter().map(|p| file_name_of(p)).collect()
    }

    const LONDON: Tz = chrono_tz::Europe::London;

    #[test]
    fn first_scan_lists_programmes_ignores_bad_names_and_skips_hidden_files() {
        let dir = temp_folder("first");
        let now = SystemTime::now();
        let old = now - Duration::from_secs(3600);
        put(&dir, "20260329_0200_news.mp3", 100, old);
        put(&dir, "20260329_0130_night-owls.FLAC", 100, old);
        put(&dir, "20260329_0300_jazz.ogg", 100, now);
        put(&dir, "holiday.mp3", 100, old);
        put(&dir, "20261329_0100_x.wav", 100, old);
        put(&dir, "20260329_0400_show.txt", 100, old);
        put(&dir, ".DS_Store", 100, old);
        put(&dir, "._20260329_0500_show.mp3", 100, old);
        put(&dir, "20260329_0600_upload.mp3.part", 100, old);
        put(&dir, "20260329_0600_upload.mp3.crdownload", 100, old);
        put(&dir, "20260329_0600_upload.mp3~", 100, old);
        // Track lists of the news: neither programmes nor ignored files.
        put(&dir, "20260329_0200_news.cue", 100, old);
        put(&dir, "20260329_0200_news.mp3.tracks.csv", 100, old);
        std::fs::create_dir(dir.join("week-14")).unwrap();

        let scan = scan_now(&dir, LONDON, now).unwrap();

        let programmes: Vec<_> = scan
            .programmes
            .iter()
            .map(|p| (p.file_name(), p.start.to_rfc3339(), p.title.clone()))
            .collect();
        // 01:30 falls in the spring-forward gap and airs at 02:00 BST, the same
        // instant as the 02:00 news; the earlier name comes first.
        assert_eq!(
            programmes,
            [
                (
                    "20260329_0130_night-owls.FLAC".into(),
                    "2026-03-29T01:00:00+00:00".into(),
                    "Night Owls".into()
                ),
                (
                    "20260329_0200_news.mp3".into(),
                    "2026-03-29T01:00:00+00:00".into(),
                    "News".into()
                ),
            ]
        );
        assert!(scan.programmes[0].note.is_some());
        assert_eq!(scan.programmes[1].note, None);
        assert_eq!(scan.programmes[0].slug, "night-owls");

        assert_eq!(names(&scan.settling), ["20260329_0300_jazz.ogg"]);

        let ignored: Vec<_> = scan
            .ignored
            .iter()
            .map(|i| (file_name_of(&i.path), i.reason.as_str()))
            .collect();
        assert_eq!(ignored.len(), 4, "{ignored:?}");
        assert_eq!(
            ignored[0],
            (
                "20260329_0400_show.txt".into(),
                "unsupported extension .txt (mp3, flac, ogg, wav, m4a)"
            )
        );
        assert_eq!(
            ignored[1],
            ("20261329_0100_x.wav".into(), "month 13 is not a month")
        );
        assert_eq!(
            ignored[2],
            (
                "holiday.mp3".into(),
                "no date: expected yyyymmdd_hhmm_title.ext"
            )
        );
        assert_eq!(ignored[3].0, "week-14");
        assert!(ignored[3].1.contains("sub-folder"), "{}", ignored[3].1);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_file_being_copied_settles_before_it_airs() {
        let dir = temp_folder("settle");
        let t0 = SystemTime::now();
        let secs = |s: f64| t0 + Duration::from_secs_f64(s);
        let name = "20260601_0900_breakfast.mp3";
        let path = put(&dir, name, 1000, t0);
        let mut watch = FolderWatch::new(dir.clone(), LONDON);

        // Just written: not yet, even on the first scan.
        let scan = watch.scan(t0).unwrap();
        assert!(scan.programmes.is_empty());
        assert_eq!(scan.settling, [path.as_path()]);

        // Grew since the last scan: not yet, even though its last write is
        // already 3 s old (a slow copy that paused).
        put(&dir, name, 2000, secs(1.0));
        let scan = watch.scan(secs(4.0)).unwrap();
        assert!(
            scan.programmes.is_empty(),
            "a file that grew since the last scan aired"
        );
        assert_eq!(scan.settling, [path.as_path()]);

        // Same size and time as at the last scan, written over 2 s ago: ready.
        let scan = watch.scan(secs(5.0)).unwrap();
        assert_eq!(scan.settling, Vec::<PathBuf>::new());
        assert_eq!(scan.programmes.len(), 1);
        assert_eq!(scan.programmes[0].path, path);
        assert_eq!(
            scan.programmes[0].start.to_rfc3339(),
            "2026-06-01T08:00:00+00:00"
        );

        // Rewritten: settles again; unchanged since the last scan but written
        // only 1 s ago is still not ready.
        put(&dir, name, 3000, secs(10.0));
        assert_eq!(watch.scan(secs(10.5)).unwrap().settling, [path.as_path()]);
        let scan = watch.scan(secs(11.0)).unwrap();
        assert!(scan.programmes.is_empty(), "a file written 1 s ago aired");
        assert_eq!(scan.settling, [path.as_path()]);
        let scan = watch.scan(secs(12.0)).unwrap();
        assert_eq!(scan.programmes.len(), 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_file_from_the_future_airs_once_it_stops_changing() {
        let dir = temp_folder("future");
        let now = SystemTime::now();
        put(
            &dir,
            "20260601_0900_breakfast.mp3",
            1000,
            now + Duration::from_secs(86_400),
        );
        let mut watch = FolderWatch::new(dir.clone(), LONDON);
        let scan = watch.scan(now).unwrap();
        assert!(
            scan.programmes.is_empty(),
            "the first scan cannot tell it is complete"
        );
        let scan = watch.scan(now + Duration::from_secs(5)).unwrap();
        assert_eq!(scan.programmes.len(), 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn removed_files_are_forgotten() {
        let dir = temp_folder("removed");
        let old = SystemTime::now() - Duration::from_secs(60);
        let path = put(&dir, "20260601_0900_breakfast.mp3", 1000, old);
        let mut watch = FolderWatch::new(dir.clone(), LONDON);
        assert_eq!(watch.scan(SystemTime::now()).unwrap().programmes.len(), 1);
        std::fs::remove_file(&path).unwrap();
        assert_eq!(watch.scan(SystemTime::now()).unwrap(), Scan::default());
        // Put back (an older copy restored): it is new to the watch, so it
        // settles for one scan before airing again.
        put(&dir, "20260601_0900_breakfast.mp3", 1000, old);
        assert_eq!(
            watch.scan(SystemTime::now()).unwrap().settling,
            [path.as_path()]
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_missing_folder_says_where_and_what_to_do() {
        let dir = std::env::temp_dir().join("onair-schedule-no-such-folder");
        let err = scan_now(&dir, LONDON, SystemTime::now()).unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, ScanError::Missing { .. }), "{err:?}");
        assert!(text.contains(&dir.display().to_string()), "{text}");
        assert!(text.contains("create it"), "{text}");

        let file = temp_folder("not-a-folder").join("file.mp3");
        std::fs::write(&file, b"x").unwrap();
        let err = scan_now(&file, LONDON, SystemTime::now()).unwrap_err();
        assert!(matches!(err, ScanError::NotAFolder { .. }), "{err:?}");
        std::fs::remove_dir_all(file.parent().unwrap()).unwrap();
    }

    #[test]
    fn broken_links_are_reported_and_links_to_files_air() {
        let dir = temp_folder("links");
        let old = SystemTime::now() - Duration::from_secs(60);
        let target = put(&dir, "source.wav", 10, old);
        std::os::unix::fs::symlink(&target, dir.join("20260601_1000_linked.wav")).unwrap();
        std::os::unix::fs::symlink(dir.join("gone.wav"), dir.join("20260601_1100_broken.wav"))
            .unwrap();
        let scan = scan_now(&dir, LONDON, SystemTime::now()).unwrap();
        assert_eq!(scan.programmes.len(), 1);
        assert_eq!(scan.programmes[0].title, "Linked");
        let broken = scan
            .ignored
            .iter()
            .find(|i| file_name_of(&i.path) == "20260601_1100_broken.wav")
            .expect("the broken link is listed");
        assert!(
            broken.reason.contains("does not exist"),
            "{}",
            broken.reason
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
