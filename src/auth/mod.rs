//! Who may control the box from the network: the control password (an
//! argon2id hash) and the bearer tokens for scripts (only their SHA-256
//! kept), in one secrets file of the data folder. There is no default
//! password: until `onair passwd` has stored one, nothing can be
//! controlled over the web.
//!
//! The file lives in `<data>/secrets/secrets.toml`: the folder is 0700 and
//! the file 0600, so only the box's user reads them, while the rest of the
//! data folder (the control socket, for the box's group) stays reachable.
//! The commands write it whole and atomically (a new file renamed over the
//! old, under a lock); the running box reads it again whenever it changed
//! ([`SecretsFile::current`]), so `onair passwd` and `onair token` take
//! effect while it runs.

pub mod password;
pub mod tokens;

use std::fs::{DirBuilder, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use tokens::TokenRecord;

/// The folder of the secrets, inside the data folder.
pub const SECRETS_DIR: &str = "secrets";
const SECRETS_FILE: &str = "secrets.toml";
const LOCK_FILE: &str = ".lock";

/// What the secrets file holds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Secrets {
    /// The control password's argon2id PHC string; `None` until `onair passwd`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// When the password was last set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_set: Option<DateTime<Utc>>,
    #[serde(default, rename = "token", skip_serializing_if = "Vec::is_empty")]
    pub tokens: Vec<TokenRecord>,
}

impl Secrets {
    /// Nothing set: no password and no token.
    pub fn is_empty(&self) -> bool {
        self.password.is_none() && self.tokens.is_empty()
    }
}

/// The secrets file of a data folder.
pub fn secrets_path(data: &Path) -> PathBuf {
    data.join(SECRETS_DIR).join(SECRETS_FILE)
}

/// Reads the secrets file; a missing file (or folder) is no secrets yet.
pub fn read(data: &Path) -> Result<Secrets> {
    let path = secrets_path(data);
    match std::fs::read_to_string(&path) {
        Ok(text) => parse(&text, &path),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Secrets::default()),
        Err(e) => Err(e).with_context(|| {
            format!(
                "cannot read {}: run onair as the user the box runs as (or root)",
                path.display()
            )
        }),
    }
}

fn parse(text: &str, path: &Path) -> Result<Secrets> {
    toml::from_str(text).with_context(|| {
        format!(
            "{} is damaged: set the password again with `onair passwd` (tokens must then be \
             added again with `onair token add NAME`)",
            path.display()
        )
    })
}

/// Changes the secrets under the folder's lock: reads them, lets `change`
/// edit them, and writes them back atomically (0600 in a 0700 folder).
/// Nothing is written when `change` fails.
pub fn update<T>(data: &Path, change: impl FnOnce(&mut Secrets) -> Result<T>) -> Result<T> {
    let dir = data.join(SECRETS_DIR);
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)
        .with_context(|| {
            format!(
                "cannot create {}: check the data folder ([data] dir) and that you run as the \
                 box's user or root",
                dir.display()
            )
        })?;
    // A folder made by hand (or by an older box) is closed up as well.
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))
        .with_context(|| format!("cannot make {} private (mode 0700)", dir.display()))?;
    let owner = box_user(data);
    give(&dir, owner)?;
    let lock = dir.join(LOCK_FILE);
    let _lock = Lock::take(&lock)?;
    give(&lock, owner)?;
    let mut secrets = read(data)?;
    let result = change(&mut secrets)?;
    write_atomically(&secrets_path(data), &secrets, owner)?;
    Ok(result)
}

/// The box's user and group, when root runs the command: the data
/// folder's owner (the service's user on an installed box). A secrets
/// file root kept for itself, 0600, would lock the box out of its own
/// password. `None` when the command runs as anyone else, who can only
/// write files of their own.
fn box_user(data: &Path) -> Option<(u32, u32)> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let root = unsafe { libc::geteuid() } == 0;
    let meta = std::fs::metadata(data).ok()?;
    (root && meta.uid() != 0).then(|| (meta.uid(), meta.gid()))
}

fn give(path: &Path, owner: Option<(u32, u32)>) -> Result<()> {
    if let Some((uid, gid)) = owner {
        std::os::unix::fs::chown(path, Some(uid), Some(gid))
            .with_context(|| format!("cannot give {} to the box's user", path.display()))?;
    }
    Ok(())
}

fn write_atomically(path: &Path, secrets: &Secrets, owner: Option<(u32, u32)>) -> Result<()> {
    let text = toml::to_string(secrets).context("cannot write the secrets as TOML")?;
    let tmp = path.with_extension("toml.new");
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    // A file left by a crash with other modes gets 0600 too.
    file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    give(&tmp, owner)?;
    file.write_all(
        b"# onair's control secrets: written by `onair passwd` and `onair token`; do not edit.\n",
    )?;
    file.write_all(text.as_bytes())?;
    file.sync_all()
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    drop(file);
    std::fs::rename(&tmp, path).with_context(|| format!("cannot replace {}", path.display()))?;
    if let Some(dir) = path.parent() {
        // The rename itself survives a power cut once the folder is synced.
        File::open(dir).and_then(|d| d.sync_all()).ok();
    }
    Ok(())
}

/// An exclusive `flock` on the lock file, released on drop.
struct Lock(File);

impl Lock {
    fn take(path: &Path) -> Result<Lock> {
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(path)
            .with_context(|| format!("cannot open {}", path.display()))?;
        use std::os::fd::AsRawFd;
        // SAFETY: flock(2) on a descriptor this process owns; no memory is shared.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } != 0 {
            return Err(std::io::Error::last_os_error())
                .with_context(|| format!("cannot lock {}", path.display()));
        }
        Ok(Lock(file))
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        use std::os::fd::AsRawFd;
        // SAFETY: as in `take`; closing the file would release it as well.
        unsafe { libc::flock(self.0.as_raw_fd(), libc::LOCK_UN) };
    }
}

/// Which version of the file was read: a rename or an edit changes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    inode: u64,
    len: u64,
    modified_ns: i128,
}

/// The secrets file as the running box reads it: looked at (one `stat`)
/// at each check, and read again only when it changed.
#[derive(Debug)]
pub struct SecretsFile {
    data: PathBuf,
    cache: Mutex<Option<(Option<Stamp>, Arc<Secrets>)>>,
}

impl SecretsFile {
    pub fn new(data: &Path) -> SecretsFile {
        SecretsFile {
            data: data.to_path_buf(),
            cache: Mutex::new(None),
        }
    }

    /// The secrets as they are now; an error says what is wrong with the file.
    pub fn current(&self) -> Result<Arc<Secrets>, String> {
        let path = secrets_path(&self.data);
        let stamp = match std::fs::metadata(&path) {
            Ok(m) => Some(Stamp {
                inode: m.ino(),
                len: m.len(),
                modified_ns: i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec()),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
        };
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((seen, secrets)) = cache.as_ref()
            && *seen == stamp
        {
            return Ok(secrets.clone());
        }
        let secrets = Arc::new(read(&self.data).map_err(|e| format!("{e:#}"))?);
        *cache = Some((stamp, secrets.clone()));
        Ok(secrets)
    }
}

#[cfg(test)]
mod tests;
