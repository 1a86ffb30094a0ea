//! The jobs in the as-run log's database, in a tree of their own: one
//! record per job (JSON, keyed by its id), written and flushed before the
//! change it records is acted on. Adding checks the whole job first and
//! writes nothing when any part of it is wrong.

use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use chrono::{DateTime, Utc};

use super::order::{find_cycle, resolve};
use super::{DEFAULT_QUEUE, Dependency, Job, JobError, JobStatus, NewJob, Work};
use crate::archive::listing;
use crate::asrun::Database;
use crate::config::Config;

/// The tree beside the as-run log's.
const TREE: &str = "jobs";
/// Job records: `j` + id (big-endian) → the job (JSON).
const JOB: u8 = b'j';
/// The next id (u64 big-endian).
const NEXT_ID: &[u8] = b"next";

/// The jobs kept in the database. One per process: its lock makes adding
/// (check, then write) one step.
pub struct JobStore {
    // Holds the database (and its lock) open for as long as the tree is used.
    db: Database,
    tree: sled::Tree,
    writing: Mutex<()>,
}

fn key(id: u64) -> [u8; 9] {
    let mut key = [0u8; 9];
    key[0] = JOB;
    key[1..].copy_from_slice(&id.to_be_bytes());
    key
}

fn refused(text: impl Into<String>) -> JobError {
    JobError::Refused(text.into())
}

/// Letters, digits, `-` and `_`, and not only digits (which read as an id).
fn is_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
        && !name.bytes().all(|c| c.is_ascii_digit())
}

impl JobStore {
    pub fn open(db: Database) -> Result<Self, JobError> {
        let tree = db.tree(TREE)?;
        Ok(JobStore {
            db,
            tree,
            writing: Mutex::new(()),
        })
    }

    fn lock(&self) -> MutexGuard<'_, ()> {
        // Guards no data of its own, only the order of writes.
        self.writing.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn corrupt(&self, detail: String) -> JobError {
        JobError::Corrupt {
            dir: self.db.dir().display().to_string(),
            detail,
        }
    }

    fn write_error(&self, error: sled::Error) -> JobError {
        refused(format!(
            "cannot write the job queue in {}: {error}; check the storage that holds data.dir \
             (full, read-only or failing)",
            self.db.dir().display()
        ))
    }

    fn read_error(&self, error: sled::Error) -> JobError {
        refused(format!(
            "cannot read the job queue in {}: {error}; check the storage that holds data.dir",
            self.db.dir().display()
        ))
    }

    /// Every job, in the order added.
    pub fn all(&self) -> Result<Vec<Job>, JobError> {
        let mut jobs = Vec::new();
        for item in self.tree.scan_prefix([JOB]) {
            let (_, bytes) = item.map_err(|e| self.read_error(e))?;
            let job: Job =
                serde_json::from_slice(&bytes).map_err(|e| self.corrupt(format!("a job: {e}")))?;
            jobs.push(job);
        }
        Ok(jobs)
    }

    pub fn get(&self, id: u64) -> Result<Job, JobError> {
        match self.tree.get(key(id)).map_err(|e| self.read_error(e))? {
            None => Err(JobError::NoSuchJob(id)),
            Some(bytes) => {
                serde_json::from_slice(&bytes).map_err(|e| self.corrupt(format!("job {id}: {e}")))
            }
        }
    }

    /// Writes `jobs` in one batch and flushes it before returning.
    fn put(&self, jobs: &[&Job]) -> Result<(), JobError> {
        let mut batch = sled::Batch::default();
        for job in jobs {
            // Strings, numbers, paths and times: serialising cannot fail.
            batch.insert(
                &key(job.id)[..],
                serde_json::to_vec(job).unwrap_or_default(),
            );
        }
        self.tree
            .apply_batch(batch)
            .map_err(|e| self.write_error(e))?;
        self.tree.flush().map_err(|e| self.write_error(e))?;
        Ok(())
    }

    /// Changes job `id` with `change` (which may refuse) and writes it.
    pub(super) fn update(
        &self,
        id: u64,
        change: impl FnOnce(&mut Job) -> Result<(), JobError>,
    ) -> Result<Job, JobError> {
        let _writing = self.lock();
        let mut job = self.get(id)?;
        change(&mut job)?;
        self.put(&[&job])?;
        Ok(job)
    }

    /// Checks `new` against the configuration and the queue and adds it;
    /// nothing is written when it is refused.
    pub fn add(&self, new: NewJob, config: &Config, now: DateTime<Utc>) -> Result<Job, JobError> {
        let _writing = self.lock();
        let jobs = self.all()?;
        let queue = new.queue.unwrap_or_else(|| DEFAULT_QUEUE.to_string());
        if !is_name(&queue) {
            return Err(refused(format!(
                "--queue {queue:?} is not a queue name: use letters, digits, '-' and '_' \
                 (such as \"news\")"
            )));
        }
        if let Some(name) = &new.name {
            if !is_name(name) {
                return Err(refused(format!(
                    "--name {name:?} is not a job name: use letters, digits, '-' and '_', not \
                     only digits (those name a job by its id)"
                )));
            }
            if let Some(other) = jobs.iter().find(|j| j.name.as_ref() == Some(name)) {
                return Err(refused(format!(
                    "job {} already has the name {name:?}: give this one another",
                    other.id
                )));
            }
        }
        for dependency in &new.after {
            if let Dependency::Id(id) = dependency
                && resolve(&jobs, dependency).is_none()
            {
                return Err(refused(format!(
                    "--after {id}: there is no job {id}; `onair job list` shows the jobs (a job \
                     not added yet can be named with --after NAME and added with --name NAME)"
                )));
            }
        }
        check_work(&new.work, !new.after.is_empty(), config)?;
        let id = match self.tree.get(NEXT_ID).map_err(|e| self.read_error(e))? {
            None => 1,
            Some(bytes) => <[u8; 8]>::try_from(&bytes[..])
                .map(u64::from_be_bytes)
                .map_err(|_| self.corrupt("the next job id".into()))?,
        };
        let job = Job {
            id,
            name: new.name,
            queue,
            work: new.work,
            after: new.after,
            status: JobStatus::Waiting,
            added: now,
            started: None,
            ended: None,
            output: String::new(),
            interruptions: 0,
            file: None,
            failed_by: None,
        };
        if let Some(cycle) = find_cycle(&jobs, &job) {
            return Err(JobError::Cycle(cycle));
        }
        let mut batch = sled::Batch::default();
        batch.insert(&key(id)[..], serde_json::to_vec(&job).unwrap_or_default());
        batch.insert(NEXT_ID, &(id + 1).to_be_bytes()[..]);
        self.tree
            .apply_batch(batch)
            .map_err(|e| self.write_error(e))?;
        self.tree.flush().map_err(|e| self.write_error(e))?;
        Ok(job)
    }

    /// Job `id` (failed, cancelled or interrupted) waits to run again, and
    /// so do the jobs its failure failed.
    pub fn retry(&self, id: u64) -> Result<Job, JobError> {
        let _writing = self.lock();
        let mut jobs = self.all()?;
        let Some(index) = jobs.iter().position(|j| j.id == id) else {
            return Err(JobError::NoSuchJob(id));
        };
        match &jobs[index].status {
            JobStatus::Failed { .. } | JobStatus::Cancelled | JobStatus::Interrupted => {}
            other => {
                return Err(refused(format!(
                    "job {id} is {}: only a failed, cancelled or interrupted job is retried{}",
                    other.word(),
                    if *other == JobStatus::Done {
                        "; add a new job to do it again"
                    } else {
                        ""
                    }
                )));
            }
        }
        let mut again = vec![id];
        let mut i = 0;
        while i < again.len() {
            let by = again[i];
            for job in &jobs {
                if job.failed_by == Some(by) && !again.contains(&job.id) {
                    again.push(job.id);
                }
            }
            i += 1;
        }
        for job in jobs.iter_mut().filter(|j| again.contains(&j.id)) {
            job.status = JobStatus::Waiting;
            job.started = None;
            job.ended = None;
            job.interruptions = 0;
            job.failed_by = None;
        }
        let changed: Vec<&Job> = jobs.iter().filter(|j| again.contains(&j.id)).collect();
        self.put(&changed)?;
        Ok(jobs.swap_remove(index))
    }

    /// Job `id` will not run: refused for one already finished. (A job
    /// running in the box is cancelled through the box, which stops it.)
    pub fn cancel(&self, id: u64, now: DateTime<Utc>) -> Result<Job, JobError> {
        self.update(id, |job| {
            if job.status.is_finished() {
                return Err(refused(format!(
                    "job {id} is {} already: there is nothing to cancel",
                    job.status.word()
                )));
            }
            job.status = JobStatus::Cancelled;
            job.ended = Some(now);
            Ok(())
        })
    }

    /// At the box's start: a job found running was running when the box
    /// was killed. The first time it is marked interrupted (and runs
    /// again), the second time it fails. Returns the jobs changed.
    pub fn recover(&self, now: DateTime<Utc>) -> Result<Vec<Job>, JobError> {
        let _writing = self.lock();
        let mut changed = Vec::new();
        for mut job in self.all()? {
            if job.status != JobStatus::Running {
                continue;
            }
            job.interruptions += 1;
            job.status = if job.interruptions >= 2 {
                job.ended = Some(now);
                JobStatus::Failed {
                    error: format!(
                        "interrupted {} times: the box stopped while it ran, and again when it \
                         ran once more; see its output, then `onair job retry {}`",
                        job.interruptions, job.id
                    ),
                    exit_code: None,
                }
            } else {
                JobStatus::Interrupted
            };
            changed.push(job);
        }
        let refs: Vec<&Job> = changed.iter().collect();
        if !refs.is_empty() {
            self.put(&refs)?;
        }
        Ok(changed)
    }
}

impl JobStore {
    /// Forgets the finished jobs that ended before `before`, except those a
    /// job not finished depends on. Returns how many were forgotten.
    pub fn forget(&self, before: DateTime<Utc>) -> Result<usize, JobError> {
        let _writing = self.lock();
        let jobs = self.all()?;
        let needed: std::collections::HashSet<u64> = jobs
            .iter()
            .filter(|j| !j.status.is_finished())
            .flat_map(|j| j.after.iter().filter_map(|d| resolve(&jobs, d)))
            .map(|d| d.id)
            .collect();
        let mut batch = sled::Batch::default();
        let mut forgotten = 0;
        for job in &jobs {
            if job.status.is_finished()
                && job.ended.is_some_and(|end| end < before)
                && !needed.contains(&job.id)
            {
                batch.remove(&key(job.id)[..]);
                forgotten += 1;
            }
        }
        if forgotten > 0 {
            self.tree
                .apply_batch(batch)
                .map_err(|e| self.write_error(e))?;
            self.tree.flush().map_err(|e| self.write_error(e))?;
        }
        Ok(forgotten)
    }
}

/// Whether the work can be done with this configuration: the hook is
/// configured, the channel and range exist, the folders are there.
fn check_work(work: &Work, has_dependencies: bool, config: &Config) -> Result<(), JobError> {
    let file_check = |file: &Option<std::path::PathBuf>| -> Result<(), JobError> {
        match file {
            None if !has_dependencies => Err(refused(
                "no file: give --file FILE, or --after a job whose file this one takes",
            )),
            // A file that is not there yet may be made by a dependency.
            Some(file) if !has_dependencies && !file.is_file() => Err(refused(format!(
                "--file {}: there is no such file; check the path (it is read by the box, on the \
                 box)",
                file.display()
            ))),
            _ => Ok(()),
        }
    };
    match work {
        Work::Cut {
            channel,
            quality,
            from,
            to,
            output,
            ..
        } => {
            let archive = config.archive.as_ref().ok_or_else(|| {
                refused("this box keeps no archive (its config has no [archive]): nothing to cut")
            })?;
            for (what, part) in [("channel", channel), ("quality", quality)] {
                if part.is_empty() || part.starts_with('.') || part.contains(['/', '\\']) {
                    return Err(refused(format!(
                        "--{what} {part:?} is not a folder name in the archive"
                    )));
                }
            }
            let channel_dir = archive.dir.join(channel);
            if !channel_dir.is_dir() {
                let known = listing::folders(&archive.dir).unwrap_or_default();
                return Err(refused(format!(
                    "unknown channel {channel:?}: the archive in {} has {}; `onair archive list` \
                     shows them",
                    archive.dir.display(),
                    if known.is_empty() {
                        "no channels yet".to_string()
                    } else {
                        known.join(", ")
                    }
                )));
            }
            if !channel_dir.join(quality).is_dir() {
                let known = listing::folders(&channel_dir).unwrap_or_default();
                return Err(refused(format!(
                    "channel {channel:?} has no quality {quality:?}; it has {}",
                    known.join(", ")
                )));
            }
            if to <= from {
                return Err(refused(format!(
                    "bad time range: --to ({}) must be after --from ({})",
                    to.to_rfc3339(),
                    from.to_rfc3339()
                )));
            }
            check_new_file(output)?;
        }
        Work::Copy { file, to } => {
            file_check(file)?;
            if !to.is_dir() {
                return Err(refused(format!(
                    "--to {}: there is no such folder; create it, or mount the share there",
                    to.display()
                )));
            }
        }
        Work::Hook { hook, file } => {
            if !config.jobs.hooks.iter().any(|h| &h.name == hook) {
                let names: Vec<&str> = config.jobs.hooks.iter().map(|h| h.name.as_str()).collect();
                return Err(refused(format!(
                    "unknown hook {hook:?}: {}",
                    if names.is_empty() {
                        "the configuration has no [[jobs.hook]]; add one with name, program, args \
                         and timeout_seconds"
                            .to_string()
                    } else {
                        format!("the configuration's [[jobs.hook]] are {}", names.join(", "))
                    }
                )));
            }
            file_check(file)?;
        }
    }
    Ok(())
}

/// A file a job will make: in an existing folder, not there yet.
fn check_new_file(path: &Path) -> Result<(), JobError> {
    let folder = path.parent().filter(|p| !p.as_os_str().is_empty());
    if folder.is_some_and(|f| !f.is_dir()) {
        return Err(refused(format!(
            "--output {}: its folder does not exist; create it first",
            path.display()
        )));
    }
    if path.exists() {
        return Err(refused(format!(
            "--output {} exists already: a job does not overwrite a file; remove it or choose \
             another name",
            path.display()
        )));
    }
    Ok(())
}
