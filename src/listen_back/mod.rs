//! The listener's-eye check: the box listens to its own public stream as a
//! listener would and raises an alarm when listeners would hear nothing —
//! the mount is not there, no audio arrives, or the stream is silent while
//! the engine plays programme. A stream output can be connected, sending and
//! counting bytes while listeners hear nothing (a relay that lost its
//! source, a server sending the wrong mount, a stalled server): only
//! listening tells.
//!
//! Not an output: it takes nothing from the mixer. Each checked stream has
//! a thread that listens to it (`listener.rs`), reading what arrives a few
//! times a second. One more thread judges every check (`judge.rs`) from
//! their notes, the engine's own meter and the time; it sleeps until its
//! next decision is due or a listening thread has news for it.

mod judge;
mod listener;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use self::judge::{Attempt, Judge, ListenAlarm, Observation, Verdict};
use self::listener::{Bell, Ears, listen};
use crate::clock::Clock;
use crate::config::ListenBack;
use crate::engine::meters::Meters;

/// A stream from which no audio has arrived for this long is off for its
/// listeners. A live stream arrives in pieces of a fraction of a second and
/// a player's buffer holds a few seconds: after five, listeners hear the
/// gap, and the studio hears of it before a listener could phone in.
pub const NO_AUDIO_FOR: Duration = Duration::from_secs(5);

/// Programme the engine plays while the stream carries silence raises the
/// alarm once this much of it has gone by. Long against the stream's lag
/// behind the engine (encoder, server and this check's own buffer: a second
/// or two), so a programme that goes quiet is quiet in both before it
/// counts; a pause on air shows on the engine's meter too and never counts.
pub const SILENT_FOR: Duration = Duration::from_secs(10);

/// Nothing is judged missing this soon after the box starts: the stream
/// output has to reach its server first (its first retries come 0.5, 1
/// and 2 s apart) and this check has to find the mount after it.
pub const STARTUP_GRACE: Duration = Duration::from_secs(10);

/// The engine counts as playing programme while its output has been quiet
/// (below −60 dBFS) for less than this: pauses in speech are shorter.
const ENGINE_PAUSE: Duration = Duration::from_millis(500);

/// How often the judge looks at a check whose stream carries quiet while
/// the engine may be playing programme.
const LOOK_EVERY: Duration = Duration::from_millis(250);

#[derive(Debug, thiserror::Error)]
pub enum ListenBackError {
    #[error(
        "cannot start the listen-back check{of}: {source}; the system is out of resources \
         (threads): free some, or set listen_url = \"\" on the stream outputs to run without it"
    )]
    Thread { of: String, source: std::io::Error },
}

/// One check's state in the status (`outputs[].listen`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ListenState {
    pub state: ListenAlarm,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Station time of the last change.
    pub since: DateTime<Utc>,
    pub url: String,
}

/// What one check shares with the rest of the box: which output it stands
/// in for and its current state (read by the status).
#[derive(Debug)]
pub struct ListenLink {
    /// The output (an index into the configured outputs) it listens to.
    pub output: usize,
    pub url: String,
    state: Mutex<ListenState>,
}

impl ListenLink {
    pub fn state(&self) -> ListenState {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// A new verdict; `since` moves only when the state does, not when
    /// an alarm's reason changes (refused, then no such mount).
    fn set(&self, verdict: &Verdict, now: DateTime<Utc>) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if state.state != verdict.state() {
            state.since = now;
        }
        state.state = verdict.state();
        state.reason = verdict.reason().map(str::to_string);
    }
}

/// The running checks. Dropping it stops them as [`ListenBackChecks::stop`] does.
pub struct ListenBackChecks {
    links: Vec<Arc<ListenLink>>,
    stop: Arc<AtomicBool>,
    judge: Option<JoinHandle<()>>,
}

/// Starts one listening thread per check and the judge. `meters` and
/// `rate` are the engine's: its meter tells programme from silence on air.
pub fn start(
    checks: &[ListenBack],
    meters: Arc<Meters>,
    rate: u32,
    clock: Clock,
) -> Result<ListenBackChecks, ListenBackError> {
    let stop = Arc::new(AtomicBool::new(false));
    let epoch = Instant::now();
    let mut running = ListenBackChecks {
        links: Vec::with_capacity(checks.len()),
        stop: stop.clone(),
        judge: None,
    };
    if checks.is_empty() {
        return Ok(running);
    }
    let now = clock.now();
    let bell = Arc::new(Bell::default());
    let mut watched = Vec::with_capacity(checks.len());
    for check in checks {
        let link = Arc::new(ListenLink {
            output: check.output,
            url: check.url.clone(),
            state: Mutex::new(ListenState {
                state: ListenAlarm::Starting,
                reason: None,
                since: now,
                url: check.url.clone(),
            }),
        });
        let ears = Arc::new(Ears::new(epoch, bell.clone()));
        let (url, thread_ears, thread_stop) = (check.url.clone(), ears.clone(), stop.clone());
        // Not joined at the end: a read may take up to NO_AUDIO_FOR to
        // give up, and the box need not wait for a check to stop.
        std::thread::Builder::new()
            .name("listen-back".to_string())
            .spawn(move || listen(&url, &thread_ears, &thread_stop))
            .map_err(|source| ListenBackError::Thread {
                of: format!(" of {}", check.url),
                source,
            })?;
        running.links.push(link.clone());
        watched.push((link, ears, Judge::new(epoch)));
    }
    let engine_pause = (rate as f64 * ENGINE_PAUSE.as_secs_f64()) as u64;
    let judge = std::thread::Builder::new()
        .name("listen-back judge".to_string())
        .spawn(move || {
            bell.hang();
            while !stop.load(Ordering::Acquire) {
                // A short quiet stretch is a pause in the programme, unless
                // the engine has played nothing at all yet.
                let quiet = meters.silence_frames();
                let engine_playing = quiet < engine_pause && quiet < meters.position();
                let mut due = Instant::now() + NO_AUDIO_FOR;
                for (link, ears, judge) in &mut watched {
                    let attempt = ears.attempt();
                    let seen = Observation {
                        now: Instant::now(),
                        attempt: &attempt,
                        last_audio: ears.time(&ears.last_audio),
                        connected_at: ears.time(&ears.connected_at),
                        quiet_since: ears.time(&ears.quiet_since),
                        engine_playing,
                    };
                    if judge.observe(&seen) {
                        report(&link.url, judge.verdict());
                        link.set(judge.verdict(), clock.now());
                    }
                    due = due.min(judge.next_look(&seen, ears.quiet_now()));
                }
                // Woken early by a listening thread with news, or to stop.
                std::thread::park_timeout(due.saturating_duration_since(Instant::now()));
            }
        })
        .map_err(|source| ListenBackError::Thread {
            of: "s".to_string(),
            source,
        })?;
    running.judge = Some(judge);
    Ok(running)
}

impl ListenBackChecks {
    /// Each check's shared state, for the status.
    pub fn links(&self) -> Vec<Arc<ListenLink>> {
        self.links.clone()
    }

    /// Stops judging; the listening threads end at their next read.
    pub fn stop(mut self) {
        self.stop_judge();
    }

    fn stop_judge(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(judge) = self.judge.take() {
            judge.thread().unpark();
            let _ = judge.join();
        }
    }
}

impl Drop for ListenBackChecks {
    fn drop(&mut self) {
        self.stop_judge();
    }
}

/// One log line per change.
fn report(url: &str, verdict: &Verdict) {
    match verdict {
        Verdict::Starting => {}
        Verdict::Ok => tracing::info!("listen-back {url}: listeners hear the programme"),
        alarm => tracing::warn!(
            "listen-back {url}: listeners hear nothing ({}): {}",
            alarm.state().words(),
            alarm.reason().unwrap_or_default()
        ),
    }
}

#[cfg(test)]
mod tests;
