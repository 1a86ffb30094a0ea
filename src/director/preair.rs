//! The pre-air check: a file booked to air soon is decoded from start to
//! end before its slot, so that a missing, truncated or damaged upload is
//! found while a person can still fix it, and a previous edition can be
//! lined up instead of dead air.
//!
//! Decoding a whole programme takes seconds, so it runs on a thread of its
//! own at the lowest CPU and disk priority: the audio path and the director
//! never wait for it. A result holds for the file as it was checked (size and
//! modification time): a file replaced before its slot is checked again.
//! Results are kept in the data folder for `onair schedule` to show.

use std::collections::{HashMap, VecDeque};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::SystemTime;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::engine::decoder;
use crate::schedule::FileCheck;

/// Where the results are kept, in the data folder.
pub const RESULTS_FILE: &str = "preair.json";

/// A file as it was checked: a different size or time is another file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fingerprint {
    pub len: u64,
    pub modified_ns: u128,
}

impl Fingerprint {
    pub fn of(path: &Path) -> Option<Fingerprint> {
        let meta = fs::metadata(path).ok()?;
        let modified = meta.modified().ok()?;
        Some(Fingerprint {
            len: meta.len(),
            modified_ns: modified
                .duration_since(SystemTime::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0),
        })
    }
}

/// One file's result, as kept in the data folder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckRecord {
    pub file: PathBuf,
    pub fingerprint: Fingerprint,
    pub checked_at: DateTime<Utc>,
    /// `None`: it decoded from start to end.
    pub problem: Option<String>,
}

impl CheckRecord {
    pub fn result(&self) -> FileCheck {
        match &self.problem {
            None => FileCheck::Good,
            Some(problem) => FileCheck::Broken(problem.clone()),
        }
    }
}

/// Reads the results the box keeps, for a reader that is not the box.
/// Missing or unreadable results are no results.
pub fn read_results(data_dir: &Path) -> Vec<CheckRecord> {
    fs::read(data_dir.join(RESULTS_FILE))
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default()
}

/// What a list of results says of a file as it is now.
pub fn result_for(records: &[CheckRecord], path: &Path) -> FileCheck {
    let Some(now) = Fingerprint::of(path) else {
        return FileCheck::Unchecked;
    };
    records
        .iter()
        .find(|r| r.file == path && r.fingerprint == now)
        .map_or(FileCheck::Unchecked, CheckRecord::result)
}

#[derive(Default)]
struct State {
    wanted: VecDeque<PathBuf>,
    records: HashMap<PathBuf, CheckRecord>,
    /// Counts the changes to `records`: an answer given before may differ.
    generation: u64,
    stop: bool,
}

/// The pre-air checker's desk, shared by the director (which asks) and
/// the checker thread (which works through what is asked).
struct CheckDesk {
    state: Mutex<State>,
    wake: Condvar,
    results_file: Option<PathBuf>,
}

impl CheckDesk {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The checker: ask it about a file, it answers from what it knows and
/// checks in the background what it does not.
pub struct PreAir {
    desk: Arc<CheckDesk>,
}

impl PreAir {
    /// Starts the checker thread. Results are kept in `data_dir` when given
    /// (earlier results are read back, so a restart does not check again).
    pub fn start(data_dir: Option<&Path>) -> PreAir {
        let mut state = State::default();
        if let Some(dir) = data_dir {
            for record in read_results(dir) {
                state.records.insert(record.file.clone(), record);
            }
        }
        let desk = Arc::new(CheckDesk {
            state: Mutex::new(state),
            wake: Condvar::new(),
            results_file: data_dir.map(|d| d.join(RESULTS_FILE)),
        });
        let worker = desk.clone();
        let started = std::thread::Builder::new()
            .name("pre-air check".to_string())
            .spawn(move || run(&worker));
        if let Err(e) = started {
            tracing::error!("cannot start the pre-air check ({e}): files air unchecked");
        }
        PreAir { desk }
    }

    /// What is known of `path` as it is now. A file not yet checked (or
    /// changed since) is queued and is `Unchecked` until its check is done.
    /// A file that is not there is `Broken`.
    pub fn check(&self, path: &Path) -> FileCheck {
        let Some(now) = Fingerprint::of(path) else {
            return FileCheck::Broken("the file is not there".to_string());
        };
        let mut state = self.desk.lock();
        if let Some(record) = state.records.get(path)
            && record.fingerprint == now
        {
            return record.result();
        }
        if !state.wanted.iter().any(|p| p == path) {
            state.wanted.push_back(path.to_path_buf());
            self.desk.wake.notify_one();
        }
        FileCheck::Unchecked
    }

    /// Grows whenever a result is added or forgotten: until it does, every
    /// file not changed since is answered as before.
    pub fn generation(&self) -> u64 {
        self.desk.lock().generation
    }

    /// Every result so far.
    pub fn records(&self) -> Vec<CheckRecord> {
        let mut records: Vec<CheckRecord> = self.desk.lock().records.values().cloned().collect();
        records.sort_by(|a, b| a.file.cmp(&b.file));
        records
    }
}

impl Drop for PreAir {
    fn drop(&mut self) {
        // A check under way finishes on its own; its thread is not waited for.
        self.desk.lock().stop = true;
        self.desk.wake.notify_one();
    }
}

fn run(desk: &CheckDesk) {
    lower_priority();
    loop {
        let path = {
            let mut state = desk.lock();
            loop {
                if state.stop {
                    return;
                }
                if let Some(path) = state.wanted.pop_front() {
                    break path;
                }
                state = desk.wake.wait(state).unwrap_or_else(|e| e.into_inner());
            }
        };
        let Some(fingerprint) = Fingerprint::of(&path) else {
            continue;
        };
        let problem = decoder::verify(&path).err().map(|e| e.to_string());
        // A file that changed while it was decoded is checked again when
        // next asked about; this result is of the old one.
        if Fingerprint::of(&path) != Some(fingerprint) {
            continue;
        }
        match &problem {
            None => tracing::info!("pre-air check: {} plays from start to end", path.display()),
            Some(problem) => tracing::warn!("pre-air check: {problem}"),
        }
        let records = {
            let mut state = desk.lock();
            state.records.insert(
                path.clone(),
                CheckRecord {
                    file: path,
                    fingerprint,
                    checked_at: Utc::now(),
                    problem,
                },
            );
            // Files long gone are forgotten, so the results stay small.
            state.records.retain(|file, _| file.exists());
            state.generation += 1;
            let mut records: Vec<CheckRecord> = state.records.values().cloned().collect();
            records.sort_by(|a, b| a.file.cmp(&b.file));
            records
        };
        if let Some(file) = &desk.results_file
            && let Err(e) = keep(file, &records)
        {
            tracing::warn!(
                "cannot keep the pre-air results in {}: {e}; `onair schedule` will not show them",
                file.display()
            );
        }
    }
}

/// Written beside and renamed over, so a reader never sees half a file.
fn keep(file: &Path, records: &[CheckRecord]) -> std::io::Result<()> {
    let temp = file.with_extension("json.new");
    fs::write(&temp, serde_json::to_vec_pretty(records)?)?;
    fs::rename(&temp, file)
}

/// The check must never take CPU or disk from playout: the lowest CPU
/// priority and the idle I/O class, for this thread only.
fn lower_priority() {
    // SAFETY: plain system calls on the calling thread, no memory handed over.
    unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        if libc::setpriority(libc::PRIO_PROCESS, tid, 19) != 0 {
            tracing::debug!("pre-air check: cannot lower the CPU priority");
        }
        const IOPRIO_WHO_PROCESS: libc::c_long = 1;
        const IOPRIO_CLASS_IDLE: libc::c_long = 3;
        const IOPRIO_CLASS_SHIFT: libc::c_long = 13;
        if libc::syscall(
            libc::SYS_ioprio_set,
            IOPRIO_WHO_PROCESS,
            0,
            IOPRIO_CLASS_IDLE << IOPRIO_CLASS_SHIFT,
        ) != 0
        {
            tracing::debug!("pre-air check: cannot lower the disk priority");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::test_audio;
    use std::time::{Duration, Instant};

    fn settle(pre_air: &PreAir, path: &Path) -> FileCheck {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            match pre_air.check(path) {
                FileCheck::Unchecked if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                result => return result,
            }
        }
    }

    #[test]
    fn good_broken_missing_and_replaced_files() {
        let scratch = test_audio::Scratch::new("preair");
        let dir = scratch.dir.clone();
        let tone = |i: u64| (i as f32 * 0.05).sin() * 0.5;
        let good = test_audio::wav(&scratch, "20261121_1000_show.wav", 96_000, tone);
        // Bad input: a WAV cut short in the middle of its data.
        let cut = test_audio::wav(&scratch, "20261121_1100_show.wav", 96_000, tone);
        let bytes = fs::read(&cut).unwrap();
        fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();

        let pre_air = PreAir::start(Some(&dir));
        let asked = pre_air.generation();
        assert_eq!(pre_air.check(&good), FileCheck::Unchecked);
        assert_eq!(settle(&pre_air, &good), FileCheck::Good);
        assert!(pre_air.generation() > asked, "a result is a change");
        match settle(&pre_air, &cut) {
            FileCheck::Broken(problem) => assert!(problem.contains("1100_show"), "{problem}"),
            other => panic!("a cut file passed: {other:?}"),
        }
        // Bad input: a file that is not there.
        assert!(matches!(
            pre_air.check(&dir.join("20261121_1200_show.wav")),
            FileCheck::Broken(p) if p.contains("not there")
        ));

        // The cut file is replaced by a good one before its slot.
        std::thread::sleep(Duration::from_millis(20));
        fs::write(&cut, &bytes).unwrap();
        assert_eq!(settle(&pre_air, &cut), FileCheck::Good);

        // Another reader sees the results the box keeps.
        // The cut file's first (broken) record may still be the one kept:
        // wait for the results of the files as they are now.
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            let records = read_results(&dir);
            if result_for(&records, &good) == FileCheck::Good
                && result_for(&records, &cut) == FileCheck::Good
            {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let records = read_results(&dir);
        assert_eq!(result_for(&records, &good), FileCheck::Good);
        assert_eq!(result_for(&records, &cut), FileCheck::Good);
        drop(pre_air);

        // A restart remembers them: no check is needed.
        let again = PreAir::start(Some(&dir));
        assert_eq!(again.check(&good), FileCheck::Good);
    }

    #[test]
    fn unreadable_results_are_no_results() {
        // Bad input: the results file is garbage.
        let scratch = test_audio::Scratch::new("preair-garbage");
        let dir = scratch.dir.clone();
        fs::write(dir.join(RESULTS_FILE), b"{ not json").unwrap();
        assert!(read_results(&dir).is_empty());
        let pre_air = PreAir::start(Some(&dir));
        assert!(pre_air.records().is_empty());
    }
}
