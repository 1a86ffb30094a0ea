//! Whether a library folder needs reading again. The director looks at the
//! programme and filler folders every second, so that a file dropped in
//! airs without a restart; reading a folder means a `stat` of every file in
//! it, and a station keeps a month of programmes and hundreds of filler
//! tracks there. Read every second, a folder of 720 programmes cost the box
//! more than all of its audio work. So the kernel says when a folder
//! changed (inotify), and a folder is read again only then, or while a
//! file in it is still settling (being copied, which only time tells), or
//! once a minute in any case.
//!
//! inotify is trusted only where it sees every change: a folder on a
//! network or FUSE file system (NFS, SMB, sshfs) is changed by other
//! machines without a word, so it is read at every look, as is a folder
//! that cannot be watched (missing, or the kernel's watches used up). A
//! folder replaced under its path (storage unmounted and attached again, a
//! link pointed elsewhere) is told by its device and inode, and watched
//! anew.

use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use inotify::{EventMask, Inotify, WatchDescriptor, WatchMask};

/// Looks between readings that trust the kernel; the next reads anyway,
/// as a guard against a change the kernel did not report.
const READ_ANYWAY_EVERY: u32 = 60;

/// File system types whose changes may come from elsewhere (`statfs`'s
/// `f_type`, its low 32 bits): NFS, SMB, CIFS, SMB2, FUSE (sshfs, rclone), 9P, Ceph, AFS.
const REMOTE_FILE_SYSTEMS: [u32; 8] = [
    0x6969,
    0x517b,
    0xff53_4d42,
    0xfe53_4d42,
    0x6573_5546,
    0x0102_1997,
    0x00c3_6400,
    0x5346_414f,
];

/// The changes that matter: names come and go, files are written or
/// touched, the folder itself goes.
fn mask() -> WatchMask {
    WatchMask::CREATE
        | WatchMask::DELETE
        | WatchMask::MODIFY
        | WatchMask::CLOSE_WRITE
        | WatchMask::ATTRIB
        | WatchMask::MOVED_FROM
        | WatchMask::MOVED_TO
        | WatchMask::DELETE_SELF
        | WatchMask::MOVE_SELF
        | WatchMask::ONLYDIR
}

/// One folder's change bell.
pub struct FolderChanges {
    dir: PathBuf,
    inotify: Option<Inotify>,
    /// The watch, and the folder (device, inode) it is on.
    watch: Option<(WatchDescriptor, (u64, u64))>,
    /// The folder is on a file system whose changes inotify sees.
    trusted: bool,
    /// A reading is owed: a change was seen, or something was settling.
    owed: bool,
    looks_since_read: u32,
    buffer: Vec<u8>,
}

impl std::fmt::Debug for FolderChanges {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FolderChanges")
            .field("dir", &self.dir)
            .field("watching", &self.watch.is_some())
            .field("trusted", &self.trusted)
            .finish_non_exhaustive()
    }
}

impl FolderChanges {
    /// A bell for `dir`. Without inotify (a kernel without it, or its
    /// instances used up) every look reads the folder.
    pub fn new(dir: &Path) -> Self {
        let inotify = Inotify::init()
            .inspect_err(|e| {
                tracing::warn!(
                    "cannot watch {} for changes ({e}): it is read every second",
                    dir.display()
                )
            })
            .ok();
        FolderChanges {
            dir: dir.to_path_buf(),
            inotify,
            watch: None,
            trusted: false,
            owed: true,
            looks_since_read: 0,
            buffer: vec![0; 4096],
        }
    }

    /// Whether the folder must be read at this look. Call [`Self::read`]
    /// after reading it.
    pub fn must_read(&mut self) -> bool {
        self.looks_since_read = self.looks_since_read.saturating_add(1);
        let current = folder_identity(&self.dir);
        if self.watch.as_ref().map(|(_, id)| *id) != current {
            self.rewatch(current);
            self.owed = true;
        }
        if self.drain() {
            self.owed = true;
        }
        self.owed
            || !self.trusted
            || self.watch.is_none()
            || self.looks_since_read >= READ_ANYWAY_EVERY
    }

    /// The folder was just read; `settling` when a file in it is still
    /// being copied, so the next look reads it again.
    pub fn read(&mut self, settling: bool) {
        self.owed = settling;
        self.looks_since_read = 0;
    }

    /// Whether changes are being watched (false: read at every look).
    #[cfg(test)]
    fn watching(&self) -> bool {
        self.watch.is_some() && self.trusted
    }

    /// Drops the old watch and watches the folder now at the path.
    fn rewatch(&mut self, current: Option<(u64, u64)>) {
        let Some(inotify) = self.inotify.as_mut() else {
            return;
        };
        if let Some((old, _)) = self.watch.take() {
            // Gone already when the folder was deleted or unmounted.
            let _ = inotify.watches().remove(old);
        }
        let Some(identity) = current else {
            return;
        };
        match inotify.watches().add(&self.dir, mask()) {
            Ok(wd) => {
                self.watch = Some((wd, identity));
                self.trusted = !on_remote_file_system(&self.dir);
            }
            Err(e) => tracing::warn!(
                "cannot watch {} for changes ({e}): it is read every second{}",
                self.dir.display(),
                if e.raw_os_error() == Some(libc::ENOSPC) {
                    " (raise fs.inotify.max_user_watches)"
                } else {
                    ""
                }
            ),
        }
    }

    /// Reads what the kernel queued; true when anything changed.
    fn drain(&mut self) -> bool {
        let Some(inotify) = self.inotify.as_mut() else {
            return false;
        };
        let mut changed = false;
        loop {
            match inotify.read_events(&mut self.buffer) {
                Ok(events) => {
                    for event in events {
                        changed = true;
                        // The watch is gone or on the wrong folder: the next
                        // look watches whatever is at the path then.
                        if event.mask.intersects(
                            EventMask::IGNORED
                                | EventMask::DELETE_SELF
                                | EventMask::MOVE_SELF
                                | EventMask::UNMOUNT
                                | EventMask::Q_OVERFLOW,
                        ) {
                            self.watch = None;
                        }
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return changed,
                Err(e) => {
                    tracing::warn!("reading the changes of {}: {e}", self.dir.display());
                    self.watch = None;
                    return true;
                }
            }
        }
    }
}

/// The folder's device and inode, following links; `None` when it is not
/// there.
fn folder_identity(dir: &Path) -> Option<(u64, u64)> {
    std::fs::metadata(dir)
        .ok()
        .filter(|m| m.is_dir())
        .map(|m| (m.dev(), m.ino()))
}

fn on_remote_file_system(dir: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(path) = std::ffi::CString::new(dir.as_os_str().as_bytes()) else {
        return true;
    };
    let mut info = std::mem::MaybeUninit::<libc::statfs>::uninit();
    // SAFETY: a valid C string, and a buffer of the size statfs writes.
    if unsafe { libc::statfs(path.as_ptr(), info.as_mut_ptr()) } != 0 {
        return true;
    }
    // SAFETY: statfs succeeded, so it filled the buffer.
    // The magic numbers are 32 bits; `f_type` is wider on some targets.
    let kind = unsafe { info.assume_init() }.f_type as u32;
    REMOTE_FILE_SYSTEMS.contains(&kind)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folder(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("onair-changes-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// Looks until one asks for a reading, reading when asked; how many
    /// looks that took (`None`: none asked within `looks`).
    fn looks_until_read(changes: &mut FolderChanges, looks: u32) -> Option<u32> {
        (1..=looks).find(|_| {
            let must = changes.must_read();
            if must {
                changes.read(false);
            }
            must
        })
    }

    #[test]
    fn a_quiet_folder_is_read_once_a_minute_and_each_change_at_the_next_look() {
        let dir = folder("quiet");
        std::fs::write(dir.join("20260301_1000_old.mp3"), b"x").unwrap();
        let mut changes = FolderChanges::new(&dir);
        assert!(changes.must_read(), "the first look reads");
        changes.read(false);
        assert!(changes.watching(), "{changes:?}");
        // Nothing changes: the minute's guard read comes at the 60th look.
        assert_eq!(looks_until_read(&mut changes, 100), Some(READ_ANYWAY_EVERY));

        // Each kind of change is read at the very next look, and once.
        let mut read_next = |what: &str, change: &dyn Fn()| {
            assert_eq!(looks_until_read(&mut changes, 3), None, "before {what}");
            change();
            assert_eq!(looks_until_read(&mut changes, 3), Some(1), "{what}");
        };
        let new = dir.join("20260301_1100_new.mp3");
        read_next("a new file", &|| std::fs::write(&new, b"x").unwrap());
        read_next("a file written again", &|| {
            std::fs::write(&new, b"xy").unwrap()
        });
        read_next("a file renamed in", &|| {
            std::fs::write(dir.join(".part"), b"x").unwrap();
            std::fs::rename(dir.join(".part"), dir.join("20260301_1200_in.mp3")).unwrap();
        });
        read_next("a file touched", &|| {
            let f = std::fs::File::options().write(true).open(&new).unwrap();
            f.set_modified(std::time::SystemTime::UNIX_EPOCH).unwrap();
        });
        read_next("a file removed", &|| std::fs::remove_file(&new).unwrap());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_settling_file_is_read_again_at_every_look_until_it_has_settled() {
        let dir = folder("settling");
        let mut changes = FolderChanges::new(&dir);
        assert!(changes.must_read());
        changes.read(true);
        assert!(changes.must_read(), "still settling: read again");
        changes.read(true);
        assert!(changes.must_read());
        changes.read(false);
        assert!(!changes.must_read(), "settled and quiet");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Bad input: the folder missing at the start, then removed, then put
    /// back as a new folder (storage attached again).
    #[test]
    fn a_folder_missing_removed_or_replaced_is_read_at_every_look_and_watched_again() {
        let dir = folder("replaced");
        std::fs::remove_dir_all(&dir).unwrap();
        let mut changes = FolderChanges::new(&dir);
        for _ in 0..3 {
            assert!(changes.must_read(), "missing: read (and fail) every look");
            changes.read(false);
        }
        assert!(!changes.watching());

        std::fs::create_dir_all(&dir).unwrap();
        assert!(changes.must_read(), "it appeared");
        changes.read(false);
        assert!(changes.watching());
        assert!(!changes.must_read());

        std::fs::remove_dir_all(&dir).unwrap();
        assert!(changes.must_read(), "removed");
        changes.read(false);
        assert!(changes.must_read(), "still missing");
        changes.read(false);

        std::fs::create_dir_all(&dir).unwrap();
        assert!(changes.must_read(), "back");
        changes.read(false);
        assert!(!changes.must_read(), "quiet again");
        // The watch is on the new folder: a file in it is seen.
        std::fs::write(dir.join("20260301_1000_back.mp3"), b"x").unwrap();
        assert!(changes.must_read(), "a file in the folder put back");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_file_systems_of_this_machine_are_told_from_network_ones() {
        assert!(!on_remote_file_system(&std::env::temp_dir()));
        assert!(on_remote_file_system(Path::new("/no/such/folder")));
    }
}
