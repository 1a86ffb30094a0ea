//! Which job runs next, which jobs fail because a dependency did, and the
//! cycles refused at add time. Pure functions over the list of jobs.
//!
//! The rule: each queue runs one job at a time, and of its jobs that can
//! run it takes the one added first. A job can run when it is waiting (or
//! was interrupted) and every job it depends on is done. So a queue runs
//! its jobs in the order they were added, except that a job waiting for a
//! dependency lets the jobs after it go first, its dependency among them:
//! a dependency added after its dependent still runs before it. A job
//! waiting for a dependency in another queue does not hold up its own
//! queue either.
//!
//! A dependency is a job's id, which must exist when the job is added, or
//! a job's name, which may not exist yet: the dependent waits until a job
//! of that name is added and done. That is how a dependency is added after
//! its dependent, and how a cycle can appear at all; adding the job that
//! would close one is refused, naming the cycle.

use std::collections::{HashMap, HashSet};

use super::{Dependency, Job, JobStatus};

/// The job a dependency names, if it exists yet.
pub(super) fn resolve<'a>(jobs: &'a [Job], dependency: &Dependency) -> Option<&'a Job> {
    match dependency {
        Dependency::Id(id) => jobs.iter().find(|j| j.id == *id),
        Dependency::Name(name) => jobs.iter().find(|j| j.name.as_deref() == Some(name)),
    }
}

/// Why a pending job cannot run yet, or must fail.
#[derive(Debug, PartialEq)]
pub(super) enum Readiness {
    Ready,
    /// Waiting for a dependency to be done (or added).
    Blocked,
    /// A dependency failed or was cancelled: the dependent fails with this
    /// reason, naming that dependency's id.
    Doomed {
        by: u64,
        reason: String,
    },
}

pub(super) fn readiness(jobs: &[Job], job: &Job) -> Readiness {
    let mut ready = true;
    for dependency in &job.after {
        match resolve(jobs, dependency) {
            None => ready = false,
            Some(found) => match &found.status {
                JobStatus::Done => {}
                JobStatus::Failed { error, .. } => {
                    return Readiness::Doomed {
                        by: found.id,
                        reason: format!("dependency {} failed: {error}", found.label()),
                    };
                }
                JobStatus::Cancelled => {
                    return Readiness::Doomed {
                        by: found.id,
                        reason: format!("dependency {} was cancelled", found.label()),
                    };
                }
                _ => ready = false,
            },
        }
    }
    if ready {
        Readiness::Ready
    } else {
        Readiness::Blocked
    }
}

/// The pending jobs that must fail because a dependency failed or was
/// cancelled: (id, the dependency's id, the reason).
pub(super) fn doomed(jobs: &[Job]) -> Vec<(u64, u64, String)> {
    jobs.iter()
        .filter(|j| j.status.is_pending())
        .filter_map(|j| match readiness(jobs, j) {
            Readiness::Doomed { by, reason } => Some((j.id, by, reason)),
            _ => None,
        })
        .collect()
}

/// The jobs to start now: in each queue with nothing running, the first
/// added of those that can run. `jobs` in the order added (by id).
pub(super) fn next_to_run(jobs: &[Job]) -> Vec<u64> {
    let busy: HashSet<&str> = jobs
        .iter()
        .filter(|j| j.status == JobStatus::Running)
        .map(|j| j.queue.as_str())
        .collect();
    let mut chosen: HashMap<&str, u64> = HashMap::new();
    for job in jobs {
        let queue = job.queue.as_str();
        if busy.contains(queue) || chosen.contains_key(queue) || !job.status.is_pending() {
            continue;
        }
        if readiness(jobs, job) == Readiness::Ready {
            chosen.insert(queue, job.id);
        }
    }
    let mut ids: Vec<u64> = chosen.into_values().collect();
    ids.sort_unstable();
    ids
}

/// The cycle that adding `new` to `jobs` would close, as the station
/// would read it: `job 3 (copy) → job 4 (hook "publish") → job 3 (copy)`.
/// The jobs already there have none, so any cycle goes through `new`.
pub fn find_cycle(jobs: &[Job], new: &Job) -> Option<String> {
    let mut all: Vec<Job> = jobs.to_vec();
    all.push(new.clone());
    let mut path = vec![new.id];
    let mut seen = HashSet::new();
    if reaches(&all, new.id, new.id, &mut path, &mut seen) {
        let names: Vec<String> = path
            .iter()
            .filter_map(|id| all.iter().find(|j| j.id == *id))
            .map(|j| format!("job {}", j.label()))
            .collect();
        return Some(names.join(" → "));
    }
    None
}

/// Whether `target` is reached from `from` along dependencies; `path`
/// holds the way there when it is.
fn reaches(
    jobs: &[Job],
    from: u64,
    target: u64,
    path: &mut Vec<u64>,
    seen: &mut HashSet<u64>,
) -> bool {
    let Some(job) = jobs.iter().find(|j| j.id == from) else {
        return false;
    };
    for dependency in &job.after {
        let Some(next) = resolve(jobs, dependency) else {
            continue;
        };
        path.push(next.id);
        if next.id == target {
            return true;
        }
        if seen.insert(next.id) && reaches(jobs, next.id, target, path, seen) {
            return true;
        }
        path.pop();
    }
    false
}
