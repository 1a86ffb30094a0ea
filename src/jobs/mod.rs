//! The job queue: follow-up work the box does after what it records and
//! airs, one job at a time per queue, each job after the jobs it depends on.
//!
//! A job is one of three kinds of work: `cut` (a range of a channel in the
//! archive to an MP3 or WAV file), `copy` (a file to a folder or mounted
//! share, never over a file already there) and `hook` (a program named in
//! `[[jobs.hook]]`, run with the job's file as its last argument, killed at
//! its time limit). Jobs are kept in the as-run log's database, in a tree
//! of their own, and every change of status is flushed before it is acted
//! on, so a box killed mid-job finds it `running` at its next start: it is
//! marked interrupted and run again, once.
//!
//! - this file: a job's vocabulary (its work, status and dependencies) and
//!   its errors;
//! - `order`: which job runs next, which fail with a dependency, and cycles;
//! - `store`: the jobs in sled, adding (checked), retrying, cancelling;
//! - `work`: doing a job's work, with its output captured;
//! - `runner`: the box's runner thread and the handle the web and CLI use;
//! - `api`: `/api/jobs` on the web server and the control socket.

pub mod api;
mod order;
mod runner;
mod store;
#[cfg(test)]
mod tests;
mod work;

use std::fmt;
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::asrun::AsRunError;

pub use order::find_cycle;
pub use runner::{Jobs, Runner};
pub use store::JobStore;

/// The queue a job goes to when none is named.
pub const DEFAULT_QUEUE: &str = "default";

/// What a job does.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Work {
    /// `channel`/`quality` of the archive from `from` to `to`, written to
    /// `output` (WAV when `wav`, else the MP3 frames as recorded).
    Cut {
        channel: String,
        quality: String,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        output: PathBuf,
        wav: bool,
        /// Cut around holes (the runs of audio back to back) instead of
        /// failing on them: a recording window's cut, whose stream may
        /// have dropped for a moment.
        #[serde(default)]
        allow_holes: bool,
    },
    /// `file` (or, when `None`, the file of the job's first dependency)
    /// into the folder `to`, under its own name.
    Copy { file: Option<PathBuf>, to: PathBuf },
    /// The configured hook `hook`, run with `file` (or the file of the
    /// job's first dependency) as its last argument.
    Hook { hook: String, file: Option<PathBuf> },
}

impl Work {
    /// `cut`, `copy` or `hook`: the word the station uses.
    pub fn kind(&self) -> &'static str {
        match self {
            Work::Cut { .. } => "cut",
            Work::Copy { .. } => "copy",
            Work::Hook { .. } => "hook",
        }
    }
}

/// Where a job is in its life.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(tag = "state", rename_all = "lowercase")]
pub enum JobStatus {
    /// Not started: its dependencies or its queue are not ready.
    Waiting,
    Running,
    Done,
    Failed {
        error: String,
        /// A hook's exit code, when it exited with one.
        exit_code: Option<i32>,
    },
    /// The box stopped while it ran; it runs again.
    Interrupted,
    Cancelled,
}

impl JobStatus {
    pub fn word(&self) -> &'static str {
        match self {
            JobStatus::Waiting => "waiting",
            JobStatus::Running => "running",
            JobStatus::Done => "done",
            JobStatus::Failed { .. } => "failed",
            JobStatus::Interrupted => "interrupted",
            JobStatus::Cancelled => "cancelled",
        }
    }

    /// Whether the job can still run (as it is, without a retry).
    pub fn is_pending(&self) -> bool {
        matches!(self, JobStatus::Waiting | JobStatus::Interrupted)
    }

    /// Done, failed or cancelled: it will not run again unless retried.
    pub fn is_finished(&self) -> bool {
        matches!(
            self,
            JobStatus::Done | JobStatus::Failed { .. } | JobStatus::Cancelled
        )
    }
}

/// A job this one runs after: by its id, or by the name given when it was
/// added (which may be a job not added yet).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Hash)]
#[serde(untagged)]
pub enum Dependency {
    Id(u64),
    Name(String),
}

impl Dependency {
    /// `12` is job 12; anything else is a job's name.
    pub fn parse(text: &str) -> Dependency {
        match text.trim().parse::<u64>() {
            Ok(id) => Dependency::Id(id),
            Err(_) => Dependency::Name(text.trim().to_string()),
        }
    }
}

impl fmt::Display for Dependency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Dependency::Id(id) => write!(f, "{id}"),
            Dependency::Name(name) => write!(f, "{name:?}"),
        }
    }
}

/// A job as it is asked for: by `onair job add` or a recording window.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct NewJob {
    pub work: Work,
    /// The queue (default [`DEFAULT_QUEUE`]).
    #[serde(default)]
    pub queue: Option<String>,
    /// A name other jobs' `after` may give, before this job is added.
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub after: Vec<Dependency>,
}

/// A job in the queue.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Job {
    pub id: u64,
    pub name: Option<String>,
    pub queue: String,
    pub work: Work,
    pub after: Vec<Dependency>,
    pub status: JobStatus,
    pub added: DateTime<Utc>,
    pub started: Option<DateTime<Utc>>,
    pub ended: Option<DateTime<Utc>>,
    /// The end of what it printed (a hook's standard output and error),
    /// at most [`work::OUTPUT_LIMIT`] bytes.
    pub output: String,
    /// How often the box was killed while it ran.
    pub interruptions: u32,
    /// The file it made or handed on (a cut's, a copy's destination, a
    /// hook's input): what a dependent copy or hook takes by default.
    pub file: Option<PathBuf>,
    /// The dependency whose failure failed this job, so that retrying that
    /// one also gives this one another chance.
    #[serde(default)]
    pub failed_by: Option<u64>,
}

impl Job {
    /// `12 (cut)`, or `12 (cut "news")`: how a job is named in messages.
    pub fn label(&self) -> String {
        match &self.name {
            Some(name) => format!("{} ({} {name:?})", self.id, self.work.kind()),
            None => format!("{} ({})", self.id, self.work.kind()),
        }
    }
}

/// What can go wrong with the queue; each says what to do.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error("there is no job {0}; `onair job list` shows the jobs")]
    NoSuchJob(u64),
    #[error("{0}")]
    Refused(String),
    #[error(
        "these dependencies would make a cycle: {0}; a job cannot run after itself, so add it \
         without the --after that closes the cycle"
    )]
    Cycle(String),
    #[error("{0}")]
    Database(#[from] AsRunError),
    #[error(
        "the job queue in {dir} holds a record that cannot be read ({detail}); stop the box and \
         move the data folder's asrun folder aside, keeping it for inspection"
    )]
    Corrupt { dir: String, detail: String },
}
