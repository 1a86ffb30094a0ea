//! The running box's side of the queue: [`Jobs`], the handle the web
//! server and the control socket use, and the [`Runner`] thread that
//! starts each job when its queue and its dependencies let it, each on a
//! thread of its own, and stops them in order when the box stops.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use tracing::{error, info, warn};

use super::order::{doomed, next_to_run, resolve};
use super::work::{self, CANCEL, Ended, GO_ON, SHUT_DOWN, Tail};
use super::{Job, JobError, JobStatus, JobStore, NewJob, Work};
use crate::asrun::Database;
use crate::clock::Clock;
use crate::config::Config;

/// How often the runner looks at the queue when nothing wakes it. Every
/// change to the queue in the box rings; this is only a safety net.
const IDLE: Duration = Duration::from_secs(30);

struct Shared {
    store: JobStore,
    config: Config,
    clock: Clock,
    /// The flags of the jobs at work, by id.
    running: Mutex<HashMap<u64, Arc<AtomicU8>>>,
    /// What the runner is asked; it waits on `bell` for a change.
    asked: Mutex<Asked>,
    bell: Condvar,
}

/// The runner's doorbell: set under the lock, so that a ring while the
/// runner is busy is seen at its next look rather than lost.
#[derive(Default)]
struct Asked {
    /// The box is stopping.
    stop: bool,
    /// Something changed since the runner last looked at the queue.
    look: bool,
}

impl Shared {
    fn running(&self) -> MutexGuard<'_, HashMap<u64, Arc<AtomicU8>>> {
        // A map of flags, whole after any panic.
        self.running.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn asked(&self) -> MutexGuard<'_, Asked> {
        // Two flags, whole after any panic.
        self.asked.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn ring(&self) {
        self.asked().look = true;
        self.bell.notify_all();
    }
}

/// The job queue of the running box. Cheap to clone.
#[derive(Clone)]
pub struct Jobs {
    shared: Arc<Shared>,
}

impl Jobs {
    /// The queue in the box's database. Jobs found running were running
    /// when the box was killed: they are marked interrupted (to run again)
    /// or, the second time, failed.
    pub fn open(db: Database, config: &Config, clock: Clock) -> Result<Self, JobError> {
        let store = JobStore::open(db)?;
        for job in store.recover(clock.now())? {
            match &job.status {
                JobStatus::Failed { error, .. } => error!("job {}: {error}", job.label()),
                _ => warn!(
                    "job {} was running when the box stopped: it runs again",
                    job.label()
                ),
            }
        }
        let keep = chrono::TimeDelta::days(i64::from(config.jobs.keep_days));
        let forgotten = store.forget(clock.now() - keep)?;
        if forgotten > 0 {
            info!(
                "{forgotten} job(s) finished more than {} days ago forgotten (jobs.keep_days)",
                config.jobs.keep_days
            );
        }
        Ok(Jobs {
            shared: Arc::new(Shared {
                store,
                config: config.clone(),
                clock,
                running: Mutex::new(HashMap::new()),
                asked: Mutex::new(Asked::default()),
                bell: Condvar::new(),
            }),
        })
    }

    pub fn list(&self) -> Result<Vec<Job>, JobError> {
        self.shared.store.all()
    }

    pub fn get(&self, id: u64) -> Result<Job, JobError> {
        self.shared.store.get(id)
    }

    pub fn add(&self, new: NewJob) -> Result<Job, JobError> {
        let job = self
            .shared
            .store
            .add(new, &self.shared.config, self.shared.clock.now())?;
        info!("job {} added to queue {:?}", job.label(), job.queue);
        self.shared.ring();
        Ok(job)
    }

    pub fn retry(&self, id: u64) -> Result<Job, JobError> {
        let job = self.shared.store.retry(id)?;
        info!("job {} to be retried", job.label());
        self.shared.ring();
        Ok(job)
    }

    /// Cancels a job: one at work is stopped (a hook killed) and marked
    /// cancelled by its worker.
    pub fn cancel(&self, id: u64) -> Result<Job, JobError> {
        if let Some(flag) = self.shared.running().get(&id) {
            flag.store(CANCEL, Ordering::Release);
            info!("job {id}: cancelling the work under way");
            return self.shared.store.get(id);
        }
        let job = self.shared.store.cancel(id, self.shared.clock.now())?;
        info!("job {} cancelled", job.label());
        self.shared.ring();
        Ok(job)
    }

    /// Starts the runner thread.
    pub fn start(&self) -> std::io::Result<Runner> {
        let shared = Arc::clone(&self.shared);
        let thread = std::thread::Builder::new()
            .name("jobs".into())
            .spawn(move || run(&shared))?;
        Ok(Runner {
            shared: Arc::clone(&self.shared),
            thread: Some(thread),
        })
    }
}

/// The runner thread; [`Runner::stop`] stops it and the jobs at work.
pub struct Runner {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl Runner {
    /// Stops the jobs at work (a hook is killed) and marks them
    /// interrupted, to run again at the next start; then the thread.
    pub fn stop(mut self) {
        self.halt();
    }

    fn halt(&mut self) {
        self.shared.asked().stop = true;
        for flag in self.shared.running().values() {
            flag.store(SHUT_DOWN, Ordering::Release);
        }
        self.shared.bell.notify_all();
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            error!("the job runner stopped with a panic");
        }
    }
}

impl Drop for Runner {
    fn drop(&mut self) {
        self.halt();
    }
}

fn run(shared: &Arc<Shared>) {
    let mut workers: Vec<JoinHandle<()>> = Vec::new();
    loop {
        if let Err(e) = start_ready(shared, &mut workers) {
            error!("job queue: {e}");
        }
        workers.retain(|w| !w.is_finished());
        let mut asked = shared.asked();
        if !asked.stop && !asked.look {
            asked = shared
                .bell
                .wait_timeout(asked, IDLE)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        if asked.stop {
            break;
        }
        asked.look = false;
    }
    for flag in shared.running().values() {
        flag.store(SHUT_DOWN, Ordering::Release);
    }
    for worker in workers {
        let _ = worker.join();
    }
}

/// Fails the jobs whose dependencies failed, then starts what can start.
fn start_ready(shared: &Arc<Shared>, workers: &mut Vec<JoinHandle<()>>) -> Result<(), JobError> {
    let now = shared.clock.now();
    loop {
        let jobs = shared.store.all()?;
        let doomed = doomed(&jobs);
        if doomed.is_empty() {
            break;
        }
        // Failing one can doom its own dependents: again until none is left.
        for (id, by, reason) in doomed {
            let job = shared.store.update(id, |job| {
                job.status = JobStatus::Failed {
                    error: reason.clone(),
                    exit_code: None,
                };
                job.ended = Some(now);
                job.failed_by = Some(by);
                Ok(())
            })?;
            warn!("job {} failed: {reason}", job.label());
        }
    }
    let jobs = shared.store.all()?;
    for id in next_to_run(&jobs) {
        let Some(job) = jobs.iter().find(|j| j.id == id) else {
            continue;
        };
        let input = input_file(&jobs, job);
        // Flushed as running before the work begins: a kill from here on
        // finds it running at the next start.
        let job = shared.store.update(id, |job| {
            job.status = JobStatus::Running;
            job.started = Some(shared.clock.now());
            job.ended = None;
            job.output.clear();
            Ok(())
        })?;
        info!("job {} started", job.label());
        let flag = Arc::new(AtomicU8::new(GO_ON));
        shared.running().insert(id, Arc::clone(&flag));
        let worker_shared = Arc::clone(shared);
        let spawned = std::thread::Builder::new()
            .name(format!("job-{id}"))
            .spawn(move || work_on(&worker_shared, job, input, &flag));
        match spawned {
            Ok(worker) => workers.push(worker),
            Err(e) => {
                shared.running().remove(&id);
                shared.store.update(id, |job| {
                    job.status = JobStatus::Interrupted;
                    Ok(())
                })?;
                error!("cannot start a thread for job {id}: {e}");
            }
        }
    }
    Ok(())
}

/// The file a copy or hook works on: its own, else its first dependency's.
fn input_file(jobs: &[Job], job: &Job) -> Option<std::path::PathBuf> {
    let own = match &job.work {
        Work::Copy { file, .. } | Work::Hook { file, .. } => file.clone(),
        Work::Cut { .. } => None,
    };
    own.or_else(|| {
        job.after
            .iter()
            .filter_map(|d| resolve(jobs, d))
            .find_map(|d| d.file.clone())
    })
}

fn work_on(shared: &Arc<Shared>, job: Job, input: Option<std::path::PathBuf>, flag: &AtomicU8) {
    let tail = Arc::new(Mutex::new(Tail::default()));
    let keep = || {
        let output = tail.lock().unwrap_or_else(|p| p.into_inner()).text();
        if let Err(e) = shared.store.update(job.id, |job| {
            job.output = output;
            Ok(())
        }) {
            warn!("job {}: cannot keep its output so far: {e}", job.id);
        }
    };
    let ended = work::perform(&job, input.clone(), &shared.config, flag, &tail, &keep);
    let output = tail.lock().unwrap_or_else(|p| p.into_inner()).text();
    let asked = flag.load(Ordering::Acquire);
    let now = shared.clock.now();
    let written = shared.store.update(job.id, |job| {
        job.output = output;
        match ended {
            Ended::Done(file) => {
                job.status = JobStatus::Done;
                job.file = file;
                job.ended = Some(now);
            }
            Ended::Failed { error, exit_code } => {
                job.status = JobStatus::Failed { error, exit_code };
                job.file = input;
                job.ended = Some(now);
            }
            // The box stopping: it runs again at the next start.
            Ended::Stopped if asked == SHUT_DOWN => job.status = JobStatus::Interrupted,
            Ended::Stopped => {
                job.status = JobStatus::Cancelled;
                job.ended = Some(now);
            }
        }
        Ok(())
    });
    shared.running().remove(&job.id);
    match written {
        Ok(job) => match &job.status {
            JobStatus::Failed { error, .. } => warn!("job {} failed: {error}", job.label()),
            status => info!("job {} {}", job.label(), status.word()),
        },
        Err(e) => error!("job {}: {e}", job.id),
    }
    shared.ring();
}
