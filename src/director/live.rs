//! The studio takes over and gives back. LIVE moves the engine's live
//! fader to the studio and takes automation off under it; the as-run log
//! gets a `live` entry naming who switched. AUTO arranges what is due *now*
//! as if the box had just started (the programme under way joined at its
//! offset, which the clock kept while the studio was on), and moves the
//! fader back exactly where that is cued.
//!
//! A programme whose start fell while the studio was live is started late,
//! from its beginning, if automation returns within
//! `live.cancel_after_minutes` of its start; after that it is logged as
//! cancelled and what follows is arranged as usual.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use tracing::{error, info, warn};

use super::Director;
use super::arrange::SlotKey;
use super::commands::{CommandError, Done, Who};
use crate::asrun::{Kind, LiveEntry, NewEntry};
use crate::clock::delta_to_samples;
use crate::engine::{Command as EngineCommand, LiveHealth, LiveInput};
use crate::status::AlarmKind;

/// How soon an input that could not be opened, or failed, is tried again.
const LIVE_RETRY: Duration = Duration::from_secs(5);

/// The studio's input as the director holds it. The director keeps it
/// open: an input that cannot be opened at the start, or fails later (a USB
/// interface unplugged), is opened again every few seconds on a blocking
/// thread, so that a studio plugged in, or back, can go on air without a
/// restart. The engine keeps reading the same ring throughout.
pub struct LiveWiring {
    /// The capture device, as configured.
    pub device: String,
    /// Whether the input is open and delivering, and why not.
    pub health: Arc<LiveHealth>,
    /// The input; away while it is being opened.
    input: Option<LiveInput>,
    opening: Option<tokio::task::JoinHandle<LiveInput>>,
    retry_at: Instant,
    /// An open has been tried: until then the input is not failed, only
    /// not open yet, and raises no alarm.
    pub(super) tried: bool,
}

impl LiveWiring {
    /// `input`, its feed already handed to the engine; the director opens it.
    pub fn new(input: LiveInput) -> Self {
        LiveWiring {
            device: input.device.clone(),
            health: Arc::clone(&input.health),
            input: Some(input),
            opening: None,
            retry_at: Instant::now(),
            tried: false,
        }
    }
}

/// The studio on air.
pub(super) struct OnLive {
    pub(super) since: DateTime<Utc>,
    pub(super) by: Who,
    log_id: Option<u64>,
}

impl Director {
    fn live_fade(&self) -> u32 {
        let ms = self.config.live.as_ref().map_or(500, |l| l.fade_ms);
        delta_to_samples(
            TimeDelta::milliseconds(i64::from(ms)),
            self.config.audio.sample_rate,
        )
        .max(1) as u32
    }

    /// Why the studio cannot be put on air now, if it cannot.
    pub(super) fn live_problem(&self) -> Option<CommandError> {
        let Some(wiring) = &self.live_input else {
            return Some(CommandError::NoLiveInput);
        };
        wiring
            .health
            .failure()
            .map(CommandError::LiveInputUnavailable)
    }

    /// Opens the studio's input while it cannot be used, a try at a time
    /// on a blocking thread (an open may take seconds), and raises or
    /// clears the `live_input` alarm with each outcome.
    pub(super) async fn keep_live_input(&mut self) {
        let Some(wiring) = self.live_input.as_mut() else {
            return;
        };
        if let Some(task) = wiring.opening.take_if(|task| task.is_finished()) {
            match task.await {
                Ok(input) => wiring.input = Some(input),
                // The input is lost with the task: LIVE stays refused.
                Err(e) => error!("opening the live input failed: {e}"),
            }
            wiring.retry_at = Instant::now() + LIVE_RETRY;
            wiring.tried = true;
            let device = wiring.device.clone();
            match wiring.health.failure() {
                None => {
                    info!("live input {device:?} open");
                    self.clear(AlarmKind::LiveInput, "the live input is open");
                }
                Some(why) => self.raise(
                    AlarmKind::LiveInput,
                    format!("live input unavailable: {why}"),
                ),
            }
            return;
        }
        if wiring.opening.is_none()
            && wiring.health.failure().is_some()
            && Instant::now() >= wiring.retry_at
            && let Some(mut input) = wiring.input.take()
        {
            wiring.opening = Some(tokio::task::spawn_blocking(move || {
                // The outcome is read from the input's health.
                let _ = input.open();
                input
            }));
        }
    }

    pub(super) async fn go_live(&mut self, by: Who) -> Result<Done, CommandError> {
        if let Some(problem) = self.live_problem() {
            if let CommandError::LiveInputUnavailable(why) = &problem {
                // Tried again at once: the studio may have just plugged in.
                if let Some(wiring) = self.live_input.as_mut() {
                    wiring.retry_at = Instant::now();
                }
                self.raise(
                    AlarmKind::LiveInput,
                    format!("live input unavailable ({why}): LIVE refused, automation stays on"),
                );
            }
            return Err(problem);
        }
        if self.on_live.is_some() {
            return Ok(Done::Live);
        }
        let fade = self.live_fade();
        self.send(EngineCommand::Live { fade });
        // What is not on air yet is taken back; what is, fades under the
        // studio and is logged as taken off by it.
        self.rearrange();
        self.take_off_air(fade, super::TakenOff::Live(by.to_string()));
        let since = self.engine_time();
        let (title, device) = match (&self.config.live, &self.live_input) {
            (Some(live), Some(wiring)) => (live.title.clone(), wiring.device.clone()),
            _ => (self.config.station.name.clone(), String::new()),
        };
        let log_id = match self.log.begin_live(LiveEntry {
            start: since,
            title: title.clone(),
            device,
            by: by.to_string(),
        }) {
            Ok(id) => Some(id),
            Err(e) => {
                error!("as-run log: cannot record the studio going on air: {e}");
                None
            }
        };
        for (_, stats) in &self.outputs {
            if let Some(stream) = &stats.stream {
                stream.set_title(&title);
            }
        }
        info!("studio on air (by {by})");
        self.on_live = Some(OnLive { since, by, log_id });
        Ok(Done::Live)
    }

    /// Back to automation. Without the studio on air, AUTO ends a dead-air
    /// hold instead (the emergency audio gives way to the schedule).
    pub(super) async fn back_to_auto(&mut self, by: Who) -> Result<Done, CommandError> {
        let Some(live) = self.on_live.take() else {
            if self.dead_air_hold.take().is_some() {
                info!("dead-air hold ended by {by}: back to the schedule");
                self.arrange().await;
                return Ok(Done::Auto);
            }
            return Err(CommandError::NotLive);
        };
        let earliest = self.engine_time() + self.margin();
        self.late_or_cancelled(live.since, earliest);
        self.arrange().await;
        // After the cues, so that the fader moves no earlier than they start.
        let back = self.engine_time() + self.margin();
        let at = self.sample(back);
        self.send(EngineCommand::Auto {
            at,
            fade: self.live_fade(),
        });
        if let Some(id) = live.log_id
            && let Err(e) = self.log.finish(
                id,
                back,
                crate::asrun::Ended::Faded,
                Some(format!("automation back, by {by}")),
            )
        {
            error!("as-run log: cannot record the studio going off air: {e}");
        }
        info!(
            "automation back (by {by}) after {} s of the studio (put on by {})",
            (back - live.since).num_seconds(),
            live.by
        );
        Ok(Done::Auto)
    }

    /// Decides, for each programme whose start fell while the studio was on
    /// (`since..now`), whether it starts late or is cancelled.
    fn late_or_cancelled(&mut self, since: DateTime<Utc>, now: DateTime<Utc>) {
        let limit = TimeDelta::minutes(i64::from(
            self.config
                .live
                .as_ref()
                .map_or(20, |l| l.cancel_after_minutes),
        ));
        let missed: Vec<usize> = (0..self.slots.len())
            .filter(|&i| {
                let start = self.slots[i].programme.start;
                start > since && start <= now && !self.done.contains(&SlotKey::of(&self.slots[i]))
            })
            .collect();
        for i in missed {
            let slot = self.slots[i].clone();
            let key = SlotKey::of(&slot);
            let late = now - slot.programme.start;
            let over = slot.hard_end.is_some_and(|end| end <= now);
            if late <= limit && !over {
                info!(
                    "\"{}\" starts {} s late: its start fell while the studio was on air",
                    slot.programme.title,
                    late.num_seconds()
                );
                self.late.insert(key);
                continue;
            }
            let reason = format!(
                "the studio was on air at its start and automation came back {} min {} s later \
                 (live.cancel_after_minutes = {})",
                late.num_minutes(),
                late.num_seconds() % 60,
                limit.num_minutes()
            );
            warn!("\"{}\" cancelled: {reason}", slot.programme.title);
            let entry = NewEntry {
                start: slot.programme.start,
                kind: Kind::Scheduled,
                title: slot.programme.title.clone(),
                file: slot.programme.path.display().to_string(),
                offset_ms: 0,
                scheduled: Some(slot.programme.start),
            };
            if let Err(e) = self.log.cancelled(entry, reason) {
                error!("as-run log: {e}");
            }
            self.done.insert(key);
        }
    }
}
