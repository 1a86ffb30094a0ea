//! The recorder in the running box: a thread of its own that, every
//! second of the box's clock, reads the channel list again if it changed
//! (`onair channel add|remove`), asks the plan which channels record now,
//! starts and stops them, and publishes what each is doing for the status
//! page and `/metrics`. Channels that record by calendar each get the
//! calendar machinery of the playout calendar (fetched on its own thread,
//! cached under `<data>/recorder/calendars/<channel>/`). When a window of
//! a channel with `cut_to` ends, its cut (and the copy and hook after it)
//! go to the job queue, in the `recorder` queue.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

use chrono::{DateTime, TimeDelta, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use super::plan::{due, events_range};
use super::registry::{self, Registry};
use super::windows::Recording;
use super::{ChannelSnapshot, Recorder, RecorderChannel, RecorderSettings};
use crate::calendar::CalendarWatch;
use crate::clock::Clock;
use crate::config::{CalendarConfig, Config, RecordWhen, RecorderConfig, WindowJobs};
use crate::jobs::{Dependency, Jobs, NewJob, Work};

/// How often the plan is asked, in real time.
const TICK: Duration = Duration::from_secs(1);
/// How often a recording channel's calendar is fetched again, minutes.
const CALENDAR_REFRESH_MINUTES: u32 = 15;
/// The job queue a window's jobs go to.
const JOBS_QUEUE: &str = "recorder";
/// A windowed channel starts connecting this long before its window
/// opens: asking for the stream (a playlist, then the stream, each up to
/// the server's answer) and the first frames take from a fraction of a
/// second to several, and a window's first seconds must not be a hole in
/// its cut. The pre-roll is kept in the archive like any recording.
pub const PRE_ROLL: TimeDelta = TimeDelta::seconds(10);
/// A windowed channel keeps recording this long after its window closes,
/// so that the frames of the window's last moment, which arrive after it,
/// are on disk before the window's cut is asked for.
pub const POST_ROLL: TimeDelta = TimeDelta::seconds(5);

/// One channel as the status page shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordingView {
    pub name: String,
    pub category: String,
    pub url: String,
    /// `always`, the windows, or `calendar <source>`.
    pub records: String,
    /// When the current recording ends (a window's end), if it does.
    pub until: Option<DateTime<Utc>>,
    /// When the next recording starts, when it is not recording.
    pub next: Option<DateTime<Utc>>,
    #[serde(flatten)]
    pub status: ChannelSnapshot,
}

/// The recorder's thread and what it publishes.
pub struct RecorderTask {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    pub views: Arc<Mutex<Vec<RecordingView>>>,
}

impl RecorderTask {
    /// Starts the recorder of `config` (none without `[archive]` and with
    /// no channels in the config or added at run time: the thread still
    /// starts when there is an archive, to pick up `onair channel add`).
    pub fn start(config: &Config, clock: Clock, jobs: Option<Jobs>) -> Option<RecorderTask> {
        let archive = config.archive.as_ref()?;
        let mut settings =
            RecorderSettings::new(archive.dir.clone(), archive.segment_seconds, clock);
        settings.retention = crate::archive::retention::Retention {
            keep_days: archive.keep_days,
            min_free_bytes: archive.min_free_mb.map(|mb| mb * 1024 * 1024),
        };
        let stop = Arc::new(AtomicBool::new(false));
        let views = Arc::new(Mutex::new(Vec::new()));
        let mut keeper = Keeper {
            recorder: match Recorder::new(settings, Vec::new()) {
                Ok(r) => r,
                Err(e) => {
                    tracing::error!("recorder: {e}");
                    return None;
                }
            },
            config: config.recorder.clone(),
            data_dir: config.data.dir.clone(),
            zone: config.station.timezone,
            clock,
            list_changed: None,
            registry: Registry::default(),
            calendars: BTreeMap::new(),
            views: views.clone(),
            jobs,
            passes: BTreeMap::new(),
        };
        let thread = std::thread::Builder::new()
            .name("recorder".into())
            .spawn({
                let stop = stop.clone();
                move || keeper.run(&stop)
            })
            .map_err(|e| tracing::error!("recorder: cannot start its thread: {e}"))
            .ok()?;
        Some(RecorderTask {
            stop,
            thread: Some(thread),
            views,
        })
    }

    /// Stops every channel in order and the thread.
    pub fn stop(mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for RecorderTask {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
    }
}

struct Keeper {
    recorder: Recorder,
    config: Option<RecorderConfig>,
    data_dir: PathBuf,
    zone: Tz,
    clock: Clock,
    /// When the run-time channel list last changed, as last read.
    list_changed: Option<Option<SystemTime>>,
    registry: Registry,
    calendars: BTreeMap<String, CalendarWatch>,
    views: Arc<Mutex<Vec<RecordingView>>>,
    jobs: Option<Jobs>,
    /// Each windowed channel's window being recorded, for its cut.
    passes: BTreeMap<String, Pass>,
}

/// A window being recorded: from its start (or from when the channel
/// started, if that was later) to its end, once the plan has said it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pass {
    pub from: DateTime<Utc>,
    pub to: Option<DateTime<Utc>>,
}

/// What a channel does at `now`, with the pre-roll and post-roll around
/// its windows, given what `plan_at` says at any instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// The window itself at `now` (what the status page shows).
    pub window: Recording,
    /// Whether the channel should be connected now: in its window, or
    /// within the pre-roll before one or the post-roll after one.
    pub connected: bool,
}

/// The plan at `now` and the instants either side of it that the pre-roll
/// and the post-roll reach.
pub fn decide(plan_at: impl Fn(DateTime<Utc>) -> Recording, now: DateTime<Utc>) -> Decision {
    let window = plan_at(now);
    let within = |r: Recording| matches!(r, Recording::Until(_));
    let connected =
        within(window) || within(plan_at(now + PRE_ROLL)) || within(plan_at(now - POST_ROLL));
    Decision { window, connected }
}

/// A channel's pass after a tick at `now`, where the window is `window`;
/// and the pass that is over, its post-roll run out (ready to be cut).
///
/// While a channel waits, its pass-to-be holds the next window's start
/// (`to` unknown), so that the window's cut begins at its start however
/// far apart the ticks fall (a simulated clock runs many seconds a tick).
/// A window found open with no pass before it (the box started in it) is
/// recorded from `now`.
pub fn follow(
    pass: Option<Pass>,
    window: Recording,
    now: DateTime<Utc>,
) -> (Option<Pass>, Option<Pass>) {
    let upcoming = |window: Recording| match window {
        Recording::Waiting(Some(next)) => Some(Pass {
            from: next,
            to: None,
        }),
        _ => None,
    };
    match (pass, window) {
        // The window is open: its end, as the plan says it now.
        (Some(p), Recording::Until(end)) if p.to.is_none_or(|to| now < to) => (
            Some(Pass {
                from: p.from.min(now),
                to: end,
            }),
            None,
        ),
        // Another window opened within a tick of the last one's end.
        (Some(p), Recording::Until(end)) => (Some(Pass { from: now, to: end }), Some(p)),
        (None, Recording::Until(end)) => (Some(Pass { from: now, to: end }), None),
        // Closed, in its post-roll.
        (Some(p), Recording::Waiting(_)) if p.to.is_some_and(|to| now < to + POST_ROLL) => {
            (Some(p), None)
        }
        (Some(p), Recording::Waiting(_)) if p.to.is_some() => (upcoming(window), Some(p)),
        // Not open yet.
        (_, Recording::Waiting(_)) => (upcoming(window), None),
    }
}

impl Keeper {
    fn run(&mut self, stop: &AtomicBool) {
        while !stop.load(Ordering::Acquire) {
            self.reload();
            self.tick(self.clock.now());
            std::thread::sleep(TICK);
        }
        self.recorder.stop_all();
        self.publish(&BTreeMap::new());
    }

    /// Reads the channels again when the run-time list changed (or at
    /// first); a list that cannot be read keeps the channels as they are.
    fn reload(&mut self) {
        let changed = std::fs::metadata(registry::added_file(&self.data_dir))
            .and_then(|m| m.modified())
            .ok();
        if self.list_changed == Some(changed) {
            return;
        }
        self.list_changed = Some(changed);
        let registry = match Registry::load(self.config.as_ref(), &self.data_dir) {
            Ok(r) => r,
            Err(e) => {
                tracing::error!("recorder: {e}; the channels stay as they were");
                return;
            }
        };
        let channels = registry
            .channels
            .iter()
            .map(|c| RecorderChannel {
                name: c.channel.name.clone(),
                url: c.channel.url.clone(),
                category: c.channel.category.clone(),
                always_on: c.channel.when == RecordWhen::Always,
            })
            .collect();
        if let Err(e) = self.recorder.set_channels(channels) {
            tracing::error!("recorder: {e}; the channels stay as they were");
            return;
        }
        if self.registry != registry {
            tracing::info!(
                "recorder: {} channel(s): {}",
                registry.channels.len(),
                registry
                    .channels
                    .iter()
                    .map(|c| c.channel.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        self.calendars.retain(|name, _| {
            registry
                .find(name)
                .is_some_and(|c| matches!(c.channel.when, RecordWhen::Calendar(_)))
        });
        for channel in &registry.channels {
            if let RecordWhen::Calendar(source) = &channel.channel.when
                && !self.calendars.contains_key(&channel.channel.name)
            {
                let dir = self
                    .data_dir
                    .join("recorder")
                    .join("calendars")
                    .join(&channel.channel.name);
                let started = std::fs::create_dir_all(&dir).and_then(|()| {
                    CalendarWatch::start(
                        &CalendarConfig {
                            source: source.clone(),
                            refresh_minutes: CALENDAR_REFRESH_MINUTES,
                            check_ahead_minutes: 0,
                        },
                        dir,
                        self.zone,
                        self.clock,
                    )
                });
                match started {
                    Ok(watch) => {
                        self.calendars.insert(channel.channel.name.clone(), watch);
                    }
                    Err(e) => tracing::error!(
                        "recorder: channel {}: cannot read its calendar {source}: {e}",
                        channel.channel.name
                    ),
                }
            }
        }
        self.registry = registry;
    }

    /// Starts and stops the channels as the plan says at `now`.
    fn tick(&mut self, now: DateTime<Utc>) {
        let mut plans = BTreeMap::new();
        for channel in &self.registry.channels {
            let name = &channel.channel.name;
            let events = match self.calendars.get(name) {
                Some(watch) => {
                    let (from, to) = events_range(now);
                    watch.snapshot().events_between(from, to)
                }
                None => Vec::new(),
            };
            let when = &channel.channel.when;
            let decision = decide(|t| due(when, self.zone, t, &events), now);
            let recording = self.recorder.is_recording(name);
            if decision.connected && !recording {
                match self.recorder.start(name) {
                    Ok(()) => tracing::info!("recorder: {name}: recording"),
                    Err(e) => tracing::error!("recorder: {name}: {e}"),
                }
            } else if !decision.connected && recording {
                if let Err(e) = self.recorder.stop(name) {
                    tracing::error!("recorder: {name}: {e}");
                }
                tracing::info!(
                    "recorder: {name}: window over{}",
                    match decision.window {
                        Recording::Waiting(Some(next)) => format!(", next at {next}"),
                        _ => String::new(),
                    }
                );
            }
            let (pass, over) = follow(self.passes.remove(name), decision.window, now);
            if let Some(pass) = pass {
                self.passes.insert(name.clone(), pass);
            }
            if let (Some(Pass { from, to: Some(to) }), Some(after)) =
                (over, &channel.channel.after_window)
            {
                self.add_window_jobs(name, from, to, after);
            }
            let plan = decision.window;
            plans.insert(name.clone(), plan);
        }
        self.publish(&plans);
    }

    /// The window `from..to` of `channel`: its cut, then the copy and the
    /// hook, each after the one before.
    fn add_window_jobs(
        &self,
        channel: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        after: &WindowJobs,
    ) {
        let Some(jobs) = &self.jobs else {
            return;
        };
        let local = from.with_timezone(&self.zone);
        let file = format!("{channel}-{}.mp3", local.format("%Y-%m-%d_%H%M"));
        let mut chain = vec![Work::Cut {
            channel: channel.to_string(),
            quality: super::quality::SOURCE.to_string(),
            from,
            to,
            output: after.cut_to.join(&file),
            wav: false,
            allow_holes: true,
        }];
        if let Some(to) = &after.copy_to {
            chain.push(Work::Copy {
                file: None,
                to: to.clone(),
            });
        }
        if let Some(hook) = &after.hook {
            chain.push(Work::Hook {
                hook: hook.clone(),
                file: None,
            });
        }
        let mut before: Option<u64> = None;
        for work in chain {
            let kind = work.kind();
            let added = jobs.add(NewJob {
                work,
                queue: Some(JOBS_QUEUE.to_string()),
                name: None,
                after: before.map(Dependency::Id).into_iter().collect(),
            });
            match added {
                Ok(job) => before = Some(job.id),
                Err(e) => {
                    tracing::error!("recorder: {channel}: cannot add the window's {kind}: {e}");
                    return;
                }
            }
        }
        tracing::info!("recorder: {channel}: the window's jobs are queued ({file})");
    }

    fn publish(&self, plans: &BTreeMap<String, Recording>) {
        let snapshots: BTreeMap<String, ChannelSnapshot> = self
            .recorder
            .snapshot()
            .into_iter()
            .map(|(c, s)| (c.name, s))
            .collect();
        let views = self
            .registry
            .channels
            .iter()
            .filter_map(|c| {
                let status = snapshots.get(&c.channel.name)?.clone();
                let (until, next) = match plans.get(&c.channel.name) {
                    Some(Recording::Until(until)) => (*until, None),
                    Some(Recording::Waiting(next)) => (None, *next),
                    None => (None, None),
                };
                Some(RecordingView {
                    name: c.channel.name.clone(),
                    category: c.channel.category.clone(),
                    url: c.channel.url.clone(),
                    records: records(&c.channel.when),
                    until,
                    next,
                    status,
                })
            })
            .collect();
        *self.views.lock().unwrap_or_else(|e| e.into_inner()) = views;
    }
}

/// How a channel's `record` setting reads to people.
pub fn records(when: &RecordWhen) -> String {
    match when {
        RecordWhen::Always => "always".to_string(),
        RecordWhen::Windows(windows) => windows
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", "),
        RecordWhen::Calendar(source) => format!("calendar {source}"),
    }
}

#[cfg(test)]
mod tests;
