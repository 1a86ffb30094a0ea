//! Doing a job's work: a cut from the archive, a copy to a folder, a hook
//! run at a lower CPU priority with its output captured and a time limit.
//! Files are written under a temporary name and renamed into place, never
//! over a file that is already there.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{Job, Work};
use crate::archive::best::BestCache;
use crate::archive::cut::Cut;
use crate::config::{Config, HookConfig};

/// The most of a job's output kept: its end, where the reason for a failure is.
pub const OUTPUT_LIMIT: usize = 64 * 1024;
/// How often a running hook is checked for its end, its limit and a stop.
const POLL: Duration = Duration::from_millis(50);
/// How often a running hook's output so far is kept, for `onair job show`
/// while it runs (a hook that seems to hang says where it is).
const KEEP_OUTPUT: Duration = Duration::from_secs(2);

/// What the runner asks of a job at work, through its flag.
pub(super) const GO_ON: u8 = 0;
pub(super) const CANCEL: u8 = 1;
pub(super) const SHUT_DOWN: u8 = 2;

/// How a job's work ended.
#[derive(Debug)]
pub(super) enum Ended {
    /// Done; the file it made or handed on.
    Done(Option<PathBuf>),
    Failed {
        error: String,
        exit_code: Option<i32>,
    },
    /// Stopped because its flag asked (cancelled, or the box stopping).
    Stopped,
}

fn failed(error: impl Into<String>) -> Ended {
    Ended::Failed {
        error: error.into(),
        exit_code: None,
    }
}

/// The end of what a job printed, at most [`OUTPUT_LIMIT`] bytes.
#[derive(Default)]
pub(super) struct Tail {
    bytes: VecDeque<u8>,
    dropped: bool,
}

impl Tail {
    pub(super) fn push(&mut self, data: &[u8]) {
        self.bytes.extend(data);
        if self.bytes.len() > OUTPUT_LIMIT {
            let extra = self.bytes.len() - OUTPUT_LIMIT;
            self.bytes.drain(..extra);
            self.dropped = true;
        }
    }

    pub(super) fn text(&self) -> String {
        let (a, b) = self.bytes.as_slices();
        let mut all = a.to_vec();
        all.extend_from_slice(b);
        let text = String::from_utf8_lossy(&all).into_owned();
        if self.dropped {
            format!("[earlier output not kept]\n{text}")
        } else {
            text
        }
    }
}

/// Does `job`'s work with `input` as its file (for a copy or a hook).
/// The output captured goes into `tail`; `keep` is called now and then
/// while a hook runs, to keep its output so far.
pub(super) fn perform(
    job: &Job,
    input: Option<PathBuf>,
    config: &Config,
    flag: &AtomicU8,
    tail: &Arc<Mutex<Tail>>,
    keep: &dyn Fn(),
) -> Ended {
    match &job.work {
        Work::Cut {
            channel,
            quality,
            from,
            to,
            output,
            wav,
            allow_holes,
        } => {
            let Some(archive) = &config.archive else {
                return failed("this box keeps no archive (its config has no [archive])");
            };
            let dir = archive.dir.join(channel).join(quality);
            let cut = match Cut::plan(&BestCache::default(), &dir, *from, *to, *allow_holes) {
                Ok(cut) => cut,
                Err(e) => return failed(format!("cannot cut {channel}/{quality}: {e}")),
            };
            // A cut of the frames is named for their codec whatever the
            // job said (a window's job is named before its codec is known).
            let output = &match output.extension().and_then(|e| e.to_str()) {
                Some("mp3" | "aac") if !*wav => output.with_extension(cut.codec().extension()),
                _ => output.clone(),
            };
            let written = write_new(output, |out| {
                if *wav {
                    cut.write_wav(out).map_err(|e| e.to_string())
                } else {
                    cut.write_frames(out).map_err(|e| e.to_string())
                }
            });
            match written {
                Ok(bytes) => {
                    say(tail, &format!("{bytes} bytes to {}\n", output.display()));
                    Ended::Done(Some(output.clone()))
                }
                Err(e) => failed(e),
            }
        }
        Work::Copy { to, .. } => {
            let Some(file) = input else {
                return failed("no file to copy: its dependency handed on none");
            };
            copy(&file, to, flag, tail)
        }
        Work::Hook { hook, .. } => {
            let Some(hook) = config.jobs.hooks.iter().find(|h| &h.name == hook) else {
                return failed(format!(
                    "the hook {hook:?} is no longer in the configuration's [[jobs.hook]]"
                ));
            };
            let Some(file) = input else {
                return failed("no file for the hook: its dependency handed on none");
            };
            run_hook(hook, config.jobs.nice, &file, flag, tail, keep)
        }
    }
}

fn say(tail: &Arc<Mutex<Tail>>, text: &str) {
    tail.lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(text.as_bytes());
}

/// Writes `path` through `write` under a temporary name beside it, then
/// renames it into place unless something has taken the name meanwhile.
fn write_new(
    path: &Path,
    write: impl FnOnce(&mut BufWriter<File>) -> Result<u64, String>,
) -> Result<u64, String> {
    let partial = partial_name(path);
    let file =
        File::create(&partial).map_err(|e| format!("cannot write {}: {e}", partial.display()))?;
    let mut out = BufWriter::new(file);
    let result = write(&mut out).and_then(|n| {
        out.flush()
            .and_then(|()| out.get_ref().sync_all())
            .map(|()| n)
            .map_err(|e| format!("cannot write {}: {e}", partial.display()))
    });
    let moved = result.and_then(|n| rename_new(&partial, path).map(|()| n));
    if moved.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    moved
}

/// `.<name>.part` beside `path`: hidden, and plainly not the finished file.
fn partial_name(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.part"))
}

/// Renames `from` to `to`, failing if `to` exists: with the kernel's
/// no-replace rename where the filesystem has it, else after a check.
fn rename_new(from: &Path, to: &Path) -> Result<(), String> {
    use std::os::unix::ffi::OsStrExt;
    let exists = || {
        format!(
            "{} exists already: a job does not overwrite a file; remove or rename it, then \
             `onair job retry`",
            to.display()
        )
    };
    let c = |p: &Path| std::ffi::CString::new(p.as_os_str().as_bytes()).ok();
    if let (Some(from_c), Some(to_c)) = (c(from), c(to)) {
        // SAFETY: both are NUL-terminated paths that outlive the call.
        let rc = unsafe {
            libc::renameat2(
                libc::AT_FDCWD,
                from_c.as_ptr(),
                libc::AT_FDCWD,
                to_c.as_ptr(),
                libc::RENAME_NOREPLACE,
            )
        };
        if rc == 0 {
            return Ok(());
        }
        let error = std::io::Error::last_os_error();
        match error.raw_os_error() {
            Some(libc::EEXIST) => return Err(exists()),
            // A filesystem (some network shares) without no-replace renames.
            Some(libc::EINVAL) | Some(libc::ENOSYS) => {}
            _ => return Err(format!("cannot rename into {}: {error}", to.display())),
        }
    }
    if to.exists() {
        return Err(exists());
    }
    std::fs::rename(from, to).map_err(|e| format!("cannot rename into {}: {e}", to.display()))
}

fn copy(file: &Path, folder: &Path, flag: &AtomicU8, tail: &Arc<Mutex<Tail>>) -> Ended {
    let Some(name) = file.file_name() else {
        return failed(format!("{} is not a file's name", file.display()));
    };
    let target = folder.join(name);
    if target.exists() {
        return failed(format!(
            "{} exists already: a job does not overwrite a file; remove or rename it, then \
             `onair job retry`",
            target.display()
        ));
    }
    let mut source = match File::open(file) {
        Ok(source) => source,
        Err(e) => return failed(format!("cannot read {}: {e}", file.display())),
    };
    let mut stopped = false;
    let written = write_new(&target, |out| {
        let mut buffer = vec![0u8; 256 * 1024];
        let mut total = 0u64;
        loop {
            if flag.load(Ordering::Acquire) != GO_ON {
                stopped = true;
                return Err("stopped".into());
            }
            let n = source
                .read(&mut buffer)
                .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
            if n == 0 {
                return Ok(total);
            }
            out.write_all(&buffer[..n])
                .map_err(|e| format!("cannot write into {}: {e}", folder.display()))?;
            total += n as u64;
        }
    });
    match written {
        Ok(bytes) => {
            say(
                tail,
                &format!(
                    "{bytes} bytes from {} to {}\n",
                    file.display(),
                    target.display()
                ),
            );
            Ended::Done(Some(target))
        }
        Err(_) if stopped => Ended::Stopped,
        Err(e) => failed(e),
    }
}

fn run_hook(
    hook: &HookConfig,
    nice: i32,
    file: &Path,
    flag: &AtomicU8,
    tail: &Arc<Mutex<Tail>>,
    keep: &dyn Fn(),
) -> Ended {
    let mut command = Command::new(&hook.program);
    command
        .args(&hook.args)
        .arg(file)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own process group, so that what it starts is stopped with it.
        .process_group(0);
    // SAFETY: between fork and exec only async-signal-safe system calls.
    unsafe {
        command.pre_exec(move || {
            // Below playout: the hook yields the CPU to the box.
            libc::setpriority(libc::PRIO_PROCESS, 0, nice);
            // A box killed outright takes its hook with it; it runs again
            // when the box starts.
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(e) => {
            return failed(format!(
                "cannot start the hook {:?} ({}): {e}; check jobs.hook's program",
                hook.name,
                hook.program.display()
            ));
        }
    };
    let group = child.id() as libc::pid_t;
    let readers: Vec<_> = [
        child
            .stdout
            .take()
            .map(|o| Box::new(o) as Box<dyn Read + Send>),
        child
            .stderr
            .take()
            .map(|e| Box::new(e) as Box<dyn Read + Send>),
    ]
    .into_iter()
    .flatten()
    .map(|mut pipe| {
        let tail = Arc::clone(tail);
        std::thread::spawn(move || {
            let mut buffer = [0u8; 8192];
            while let Ok(n) = pipe.read(&mut buffer) {
                if n == 0 {
                    break;
                }
                tail.lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(&buffer[..n]);
            }
        })
    })
    .collect();
    let limit = Duration::from_secs(u64::from(hook.timeout_seconds));
    let started = Instant::now();
    let mut kept = Instant::now();
    let kill_group = || {
        // SAFETY: kill(2) only sends a signal, to the hook's own group.
        unsafe { libc::kill(-group, libc::SIGKILL) };
    };
    let ended = loop {
        match child.try_wait() {
            Ok(Some(status)) => {
                break match status.code() {
                    Some(0) => Ended::Done(Some(file.to_path_buf())),
                    Some(code) => Ended::Failed {
                        error: format!("the hook {:?} exited with code {code}", hook.name),
                        exit_code: Some(code),
                    },
                    None => {
                        use std::os::unix::process::ExitStatusExt;
                        failed(format!(
                            "the hook {:?} was killed by signal {}",
                            hook.name,
                            status.signal().unwrap_or(0)
                        ))
                    }
                };
            }
            Ok(None) => {}
            Err(e) => {
                kill_group();
                break failed(format!("cannot wait for the hook {:?}: {e}", hook.name));
            }
        }
        if flag.load(Ordering::Acquire) != GO_ON {
            kill_group();
            let _ = child.wait();
            break Ended::Stopped;
        }
        if started.elapsed() >= limit {
            kill_group();
            let _ = child.wait();
            break failed(format!(
                "timed out after {} s: the hook {:?} was killed (jobs.hook's timeout_seconds)",
                hook.timeout_seconds, hook.name
            ));
        }
        if kept.elapsed() >= KEEP_OUTPUT {
            keep();
            kept = Instant::now();
        }
        std::thread::sleep(POLL);
    };
    // What the hook left running would hold its output open: it ends with it.
    kill_group();
    for reader in readers {
        let _ = reader.join();
    }
    ended
}
