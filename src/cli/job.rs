//! `onair job list|show|add|retry|cancel`: the job queue, read and changed
//! in the data folder's database while the box is stopped, or through the
//! running box (its control socket) while it holds the database.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use super::{line, print};
use crate::asrun::{self, AsRunError, Database};
use crate::config::Config;
use crate::jobs::{Dependency, Job, JobStatus, JobStore, NewJob, Work};
use crate::{station, when};

/// What every `onair job add` takes besides its work.
pub struct AddOptions {
    pub after: Vec<String>,
    pub queue: Option<String>,
    pub name: Option<String>,
}

/// The work of `onair job add cut|copy|hook` as typed.
pub enum AddWork {
    Cut {
        channel: Option<String>,
        quality: Option<String>,
        from: String,
        to: String,
        output: PathBuf,
        wav: bool,
    },
    Copy {
        file: Option<PathBuf>,
        to: PathBuf,
    },
    Hook {
        hook: String,
        file: Option<PathBuf>,
    },
}

/// Where the queue is: in the database (the box stopped), or in the box.
enum Queue {
    Here(JobStore),
    InTheBox,
    /// The box has never run with this data folder: no jobs yet.
    Nothing,
}

fn open(config: &Config, create: bool) -> Result<Queue> {
    if !create && !asrun::log_exists(&config.data.dir) {
        return Ok(Queue::Nothing);
    }
    match Database::open(&config.data.dir) {
        Ok(db) => Ok(Queue::Here(JobStore::open(db)?)),
        Err(AsRunError::Busy { .. }) => Ok(Queue::InTheBox),
        Err(e) => Err(e.into()),
    }
}

/// `onair job list`: every job, as a table or JSON.
pub fn list(config: &Config, json: bool) -> Result<()> {
    let jobs: Vec<Job> = match open(config, false)? {
        Queue::Nothing => Vec::new(),
        Queue::Here(store) => store.all()?,
        Queue::InTheBox => ask(config, "GET", "/api/jobs", None)?,
    };
    if json {
        return print(&line(&serde_json::to_string_pretty(&jobs)?));
    }
    print(&table(&jobs, config.station.timezone))
}

/// `onair job show ID`: one job with its output.
pub fn show(config: &Config, id: u64, json: bool) -> Result<()> {
    let job: Job = match open(config, false)? {
        Queue::Nothing => bail!("there is no job {id}: the box has not run with this data folder"),
        Queue::Here(store) => store.get(id)?,
        Queue::InTheBox => ask(config, "GET", &format!("/api/jobs/{id}"), None)?,
    };
    if json {
        return print(&line(&serde_json::to_string_pretty(&job)?));
    }
    print(&details(&job, config.station.timezone))
}

/// `onair job retry ID`.
pub fn retry(config: &Config, id: u64) -> Result<()> {
    let job: Job = match open(config, false)? {
        Queue::Nothing => bail!("there is no job {id}: the box has not run with this data folder"),
        Queue::Here(store) => store.retry(id)?,
        Queue::InTheBox => ask(config, "POST", &format!("/api/jobs/{id}/retry"), None)?,
    };
    print(&format!("job {} waits to run again\n", job.label()))
}

/// `onair job cancel ID`.
pub fn cancel(config: &Config, id: u64) -> Result<()> {
    let now = station::clock_for_reading(config).now();
    let job: Job = match open(config, false)? {
        Queue::Nothing => bail!("there is no job {id}: the box has not run with this data folder"),
        Queue::Here(store) => store.cancel(id, now)?,
        Queue::InTheBox => ask(config, "POST", &format!("/api/jobs/{id}/cancel"), None)?,
    };
    let said = if job.status == JobStatus::Running {
        "is being stopped and cancelled"
    } else {
        "is cancelled"
    };
    print(&format!("job {} {said}\n", job.label()))
}

/// `onair job add`: prints the new job's id.
pub fn add(config: &Config, work: AddWork, options: AddOptions) -> Result<()> {
    let new = NewJob {
        work: work_of(config, work)?,
        queue: options.queue,
        name: options.name,
        after: options.after.iter().map(|a| Dependency::parse(a)).collect(),
    };
    let now = station::clock_for_reading(config).now();
    let job: Job = match open(config, true)? {
        Queue::Here(store) => store.add(new, config, now)?,
        Queue::InTheBox => {
            let body = serde_json::to_string(&new)?;
            ask(config, "POST", "/api/jobs", Some(&body))?
        }
        Queue::Nothing => unreachable_nothing()?,
    };
    print(&format!("{}\n", job.id))
}

fn unreachable_nothing() -> Result<Job> {
    // `open` with `create` never answers Nothing; an error rather than a panic.
    bail!("the job queue could not be opened")
}

/// Paths made absolute here (the box's working folder is not this one),
/// times read in the station's zone and clock.
fn work_of(config: &Config, work: AddWork) -> Result<Work> {
    let absolute = |path: PathBuf| -> Result<PathBuf> {
        std::path::absolute(&path)
            .with_context(|| format!("{} is not a usable path", path.display()))
    };
    Ok(match work {
        AddWork::Cut {
            channel,
            quality,
            from,
            to,
            output,
            wav,
        } => {
            let archive = config.archive.as_ref().ok_or_else(|| {
                anyhow!("this box keeps no archive (its config has no [archive]): nothing to cut")
            })?;
            let channel = channel.unwrap_or_else(|| archive.channel.clone());
            let quality = match quality {
                Some(quality) => quality,
                None => default_quality(&archive.dir, &channel, archive),
            };
            let tz = config.station.timezone;
            let now = station::clock_for_reading(config).now();
            let parse = |name: &str, v: &str| -> Result<DateTime<Utc>> {
                when::parse_time_arg(v, tz, now)
                    .map_err(|e| anyhow!("bad time: --{name} {v:?}: {e}"))
            };
            let wav = wav || output.extension().is_some_and(|e| e == "wav");
            Work::Cut {
                channel,
                quality,
                from: parse("from", &from)?,
                to: parse("to", &to)?,
                output: absolute(output)?,
                wav,
                allow_holes: false,
            }
        }
        AddWork::Copy { file, to } => Work::Copy {
            file: file.map(absolute).transpose()?,
            to: absolute(to)?,
        },
        AddWork::Hook { hook, file } => Work::Hook {
            hook,
            file: file.map(absolute).transpose()?,
        },
    })
}

/// The box's own quality for its own channel; for another channel its one
/// quality when it has only one.
fn default_quality(root: &Path, channel: &str, archive: &crate::config::ArchiveConfig) -> String {
    let own = format!("{}k", archive.bitrate);
    if channel == archive.channel {
        return own;
    }
    match crate::archive::listing::folders(&root.join(channel)) {
        Ok(folders) if folders.len() == 1 => folders[0].clone(),
        _ => own,
    }
}

/// One request to the running box over its control socket; the answer's
/// JSON, or its error in words.
fn ask<T: serde::de::DeserializeOwned>(
    config: &Config,
    method: &str,
    target: &str,
    body: Option<&str>,
) -> Result<T> {
    let (status, answer) =
        super::control::ask_with(&config.web.control_socket, method, target, body)?;
    let answer = answer.as_str();
    if !(200..300).contains(&status) {
        let value: serde_json::Value = serde_json::from_str(answer).unwrap_or_default();
        match value.get("error").and_then(|e| e.as_str()) {
            Some(error) => bail!("{error}"),
            None => bail!("the box answered {status}: {}", answer.trim()),
        }
    }
    serde_json::from_str(answer).context("the running box sent an unreadable answer")
}

fn local(t: Option<DateTime<Utc>>, tz: Tz) -> String {
    t.map_or_else(
        || "-".to_string(),
        |t| t.with_timezone(&tz).format("%Y-%m-%d %H:%M:%S").to_string(),
    )
}

fn what(work: &Work, tz: Tz) -> String {
    let file = |f: &Option<PathBuf>| {
        f.as_ref().map_or_else(
            || "its dependency's file".to_string(),
            |f| f.display().to_string(),
        )
    };
    match work {
        Work::Cut {
            channel,
            quality,
            from,
            to,
            output,
            ..
        } => format!(
            "{channel}/{quality} {} to {} → {}",
            local(Some(*from), tz),
            local(Some(*to), tz),
            output.display()
        ),
        Work::Copy { file: f, to } => format!("{} → {}", file(f), to.display()),
        Work::Hook { hook, file: f } => format!("{hook} {}", file(f)),
    }
}

fn status_text(status: &JobStatus) -> String {
    match status {
        JobStatus::Failed {
            error,
            exit_code: Some(code),
        } => format!("failed (exit code {code}): {error}"),
        JobStatus::Failed { error, .. } => format!("failed: {error}"),
        other => other.word().to_string(),
    }
}

fn table(jobs: &[Job], tz: Tz) -> String {
    if jobs.is_empty() {
        return "no jobs\n".to_string();
    }
    let mut text = String::new();
    for job in jobs {
        let after = if job.after.is_empty() {
            String::new()
        } else {
            let names: Vec<String> = job.after.iter().map(ToString::to_string).collect();
            format!(" after {}", names.join(", "))
        };
        let name = job
            .name
            .as_ref()
            .map_or_else(String::new, |n| format!(" named {n:?}"));
        text.push_str(&format!(
            "{:>4}  {:<8} {:<5} {:<11} started {}  ended {}{after}{name}\n      {}\n",
            job.id,
            job.queue,
            job.work.kind(),
            job.status.word(),
            local(job.started, tz),
            local(job.ended, tz),
            what(&job.work, tz)
        ));
        if let JobStatus::Failed { .. } = job.status {
            text.push_str(&format!("      {}\n", status_text(&job.status)));
        }
    }
    text
}

fn details(job: &Job, tz: Tz) -> String {
    let after: Vec<String> = job.after.iter().map(ToString::to_string).collect();
    let mut text = format!(
        "job {}\nqueue: {}\nstatus: {}\nwork: {}\nafter: {}\nadded: {}\nstarted: {}\nended: {}\n",
        job.label(),
        job.queue,
        status_text(&job.status),
        what(&job.work, tz),
        if after.is_empty() {
            "-".to_string()
        } else {
            after.join(", ")
        },
        local(Some(job.added), tz),
        local(job.started, tz),
        local(job.ended, tz),
    );
    if job.interruptions > 0 {
        text.push_str(&format!("interrupted: {} time(s)\n", job.interruptions));
    }
    if let Some(file) = &job.file {
        text.push_str(&format!("file: {}\n", file.display()));
    }
    if job.output.is_empty() {
        text.push_str("output: none\n");
    } else {
        text.push_str("output:\n");
        text.push_str(&line(&job.output));
    }
    text
}
