//! The archive folder as the writer finds it at start: a filesystem that
//! can hold the segments' names (a `:` in every one rules out FAT, exFAT
//! and NTFS), and no temporary files left by a box that stopped while
//! writing (they are half-written: discarded).

use std::io::ErrorKind;
use std::path::{Path, PathBuf};

/// `statfs` f_type of filesystems that cannot hold a `:` in a name.
const MSDOS_SUPER_MAGIC: i64 = 0x4d44;
const EXFAT_SUPER_MAGIC: i64 = 0x2011_BAB0;
const NTFS_SB_MAGIC: i64 = 0x5346_544e;
const NTFS3_SUPER_MAGIC: i64 = 0x7366_746e;

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error(
        "archive.dir {dir} is on a {kind} filesystem, which cannot hold the archive's \
         segment names (they contain ':'); format the disk as ext4 (or another Linux \
         filesystem) or choose a folder on one"
    )]
    Filesystem { dir: PathBuf, kind: &'static str },
}

/// The filesystem of `dir` (or of its nearest folder that exists) by its
/// magic number, when it is one that cannot hold the names.
fn unfit_filesystem(dir: &Path) -> Option<&'static str> {
    let existing = dir.ancestors().find(|p| p.exists())?;
    let path = std::ffi::CString::new(existing.as_os_str().as_encoded_bytes()).ok()?;
    // SAFETY: `path` is a NUL-terminated string and `stat` a zeroed struct
    // that statfs fills in.
    let mut stat: libc::statfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statfs(path.as_ptr(), &mut stat) } != 0 {
        return None;
    }
    #[allow(clippy::unnecessary_cast)]
    match stat.f_type as i64 {
        MSDOS_SUPER_MAGIC => Some("FAT"),
        EXFAT_SUPER_MAGIC => Some("exFAT"),
        NTFS_SB_MAGIC | NTFS3_SUPER_MAGIC => Some("NTFS"),
        _ => None,
    }
}

/// Refuses a folder whose filesystem cannot hold the names. A folder that
/// cannot be reached or written now is not refused: the disk may be
/// plugged in later, and the writer counts what it cannot write.
pub fn check(dir: &Path) -> Result<(), StorageError> {
    if let Some(kind) = unfit_filesystem(dir) {
        return Err(StorageError::Filesystem {
            dir: dir.to_path_buf(),
            kind,
        });
    }
    // A FUSE-mounted exFAT or NTFS has a magic of its own: try a name.
    if std::fs::create_dir_all(dir).is_ok() {
        let probe = dir.join(".onair-probe-00:00.000000");
        match std::fs::write(&probe, b"") {
            Ok(()) => {
                let _ = std::fs::remove_file(&probe);
            }
            Err(e)
                if e.kind() == ErrorKind::InvalidInput
                    || e.raw_os_error() == Some(libc::EINVAL) =>
            {
                return Err(StorageError::Filesystem {
                    dir: dir.to_path_buf(),
                    kind: "FAT, exFAT or NTFS",
                });
            }
            Err(_) => {}
        }
    }
    Ok(())
}

/// What `onair check-config` says of the archive's folder on this
/// machine, if anything: why the box would keep nothing there (the
/// filesystem, a file in its place, no permission), or why it may not
/// keep much (a folder not there yet, often a disk not mounted; less free
/// space than retention keeps).
pub fn warning(dir: &Path, min_free_mb: Option<u64>) -> Option<(String, &'static str)> {
    if let Some(kind) = unfit_filesystem(dir) {
        return Some((
            format!(
                "the archive's folder is on a {kind} filesystem, which cannot hold its segment names (they contain ':'), so the box will keep no archive"
            ),
            "format the disk as ext4 (or another Linux filesystem), or choose a folder on one",
        ));
    }
    match std::fs::metadata(dir) {
        Err(e) if e.kind() == ErrorKind::NotFound => {
            return Some((
                "the archive's folder does not exist: the box creates it at start, on the disk that holds its parent".into(),
                "if the archive belongs on an attached disk, check that the disk is mounted there",
            ));
        }
        Err(e) => {
            return Some((
                format!("the archive's folder cannot be read ({e})"),
                "check the path and its permissions",
            ));
        }
        Ok(m) if !m.is_dir() => {
            return Some((
                "this is a file, not a folder, so the box will keep no archive".into(),
                "remove the file or set archive.dir to a folder",
            ));
        }
        Ok(_) => {}
    }
    let path = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes()).ok()?;
    // SAFETY: `path` is a NUL-terminated string.
    if unsafe { libc::access(path.as_ptr(), libc::W_OK) } != 0 {
        return Some((
            "the archive's folder cannot be written by this user, so the box (if it runs as this user) will keep nothing".into(),
            "give the folder to the user onair runs as",
        ));
    }
    let free = super::retention::free_bytes(dir)?;
    let wanted = min_free_mb?.saturating_mul(1024 * 1024);
    (free < wanted).then(|| {
        (
            format!(
                "the archive's disk has {} MB free, less than archive.min_free_mb ({}): the box will delete the oldest hours to make room",
                free / (1024 * 1024),
                wanted / (1024 * 1024)
            ),
            "free space on the disk, or lower archive.min_free_mb",
        )
    })
}

/// Removes the temporary files under `quality_dir` (`<hour>/…-temp-….mp3`
/// or `.aac`)
/// that a box stopped while writing left behind; returns how many.
pub fn discard_temporary(quality_dir: &Path) -> usize {
    let Ok(hours) = std::fs::read_dir(quality_dir) else {
        return 0;
    };
    let mut removed = 0;
    for hour in hours.flatten() {
        let Ok(files) = std::fs::read_dir(hour.path()) else {
            continue;
        };
        for file in files.flatten() {
            let name = file.file_name();
            let name = name.to_string_lossy();
            if is_temporary(&name) && std::fs::remove_file(file.path()).is_ok() {
                removed += 1;
            }
        }
    }
    removed
}

/// `MM:SS.ffffff-DURATION-temp-ID.mp3` (or `.aac`).
pub fn is_temporary(name: &str) -> bool {
    super::names::split_extension(name).is_some() && name.split('-').nth(2) == Some("temp")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leftover_temporary_files_are_discarded_and_segments_kept() {
        let dir = std::env::temp_dir().join(format!("onair-storage-{}", std::process::id()));
        let hour = dir.join("2026-01-05T10");
        std::fs::create_dir_all(&hour).unwrap();
        let kept = "00:00.000000-6.0-full-47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU.mp3";
        std::fs::write(hour.join(kept), b"x").unwrap();
        // Bad input: a half-written segment left by a box that was killed.
        std::fs::write(hour.join("00:06.000000-6.0-temp-1b4e-28ba.mp3"), b"x").unwrap();
        // And one of a recorded AAC stream.
        std::fs::write(hour.join("00:12.000000-6.0-temp-5d1c-88aa.aac"), b"x").unwrap();
        assert_eq!(discard_temporary(&dir), 2);
        let left: Vec<String> = std::fs::read_dir(&hour)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(left, [kept]);
        check(&dir).unwrap();
        assert_eq!(warning(&dir, Some(1)), None);
        // Bad input: more free space asked for than any disk has; a file
        // where the folder should be; a folder not there.
        let (problem, _) = warning(&dir, Some(u64::MAX / 2)).unwrap();
        assert!(problem.contains("archive.min_free_mb"), "{problem}");
        let file = hour.join(kept);
        assert!(
            warning(&file, None)
                .unwrap()
                .0
                .contains("a file, not a folder")
        );
        let missing = dir.join("not-mounted");
        assert!(warning(&missing, None).unwrap().1.contains("mounted"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
