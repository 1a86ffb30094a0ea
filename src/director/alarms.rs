//! Alarms, and the silences that raise them, judged with hysteresis from
//! the engine's runs of quiet and sound (see `engine::silence`):
//!
//! - the studio quiet for `silence.after_seconds` while live: automation
//!   comes back, with an alarm; `silence.recovery_seconds` of sound on the
//!   input clears it (the box never switches back to the studio by itself);
//! - the programme output quiet for as long while automation should be
//!   playing (dead air): what is on air is taken off and the emergency
//!   audio holds until the next programme; the alarm clears after the
//!   recovery time of sound once automation is back;
//! - the live input failing: an alarm, and automation back if it was live.
//!
//! Each alarm goes to the status (lamp, panel, page), the as-run log and the
//! box's log once per change.

use tracing::{error, info, warn};

use super::Director;
use super::commands::Who;
use crate::asrun::AlarmEvent;
use crate::status::{Alarm, AlarmKind, Mode};

/// What the engine's runs say, in frames, at the engine's position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Heard {
    /// Frames of quiet up to now (0 while there is sound).
    pub quiet: u64,
    /// Frames of sound up to now (0 while it is quiet).
    pub sound: u64,
}

impl Heard {
    fn of(runs: &crate::engine::silence::QuietRuns, position: u64) -> Heard {
        let since = |s: Option<u64>| s.map_or(0, |s| position.saturating_sub(s));
        Heard {
            quiet: since(runs.quiet_since()),
            sound: since(runs.sound_since()),
        }
    }
}

impl Director {
    fn silence_frames(&self) -> (u64, u64) {
        let rate = u64::from(self.config.audio.sample_rate);
        let s = &self.config.silence;
        (
            u64::from(s.after_seconds) * rate,
            u64::from(s.recovery_seconds) * rate,
        )
    }

    /// Looks at the live input and the programme output; called at every
    /// look ahead.
    pub(super) async fn watch_silence(&mut self) {
        let position = self.engine.meters.position();
        let (after, recovery) = self.silence_frames();

        if let Some(health) = self.live_health() {
            let studio = Heard::of(&health.runs, position);
            if let Some(why) = health.failure() {
                if self.live_input.as_ref().is_some_and(|w| w.tried) {
                    let message = format!("live input unavailable: {why}");
                    self.raise(AlarmKind::LiveInput, message);
                }
                if self.on_live.is_some() {
                    let _ = self.back_to_auto(Who::Silence).await;
                }
            } else if self.on_live.is_some() && studio.quiet >= after {
                let seconds = self.config.silence.after_seconds;
                self.raise(
                    AlarmKind::LiveSilence,
                    format!("the studio was silent for {seconds} s: automation is back on air"),
                );
                let _ = self.back_to_auto(Who::Silence).await;
            } else if studio.sound >= recovery {
                self.clear(AlarmKind::LiveSilence, "the studio has sound again");
            }
        }

        let programme = Heard::of(&self.engine.meters.programme, position);
        let mode = self.mode();
        let automation = matches!(mode, Mode::Auto | Mode::Filler);
        if automation && programme.quiet >= after && !self.alarmed(AlarmKind::DeadAir) {
            self.dead_air().await;
        } else if automation && programme.sound.min(self.on_air_for(position)) >= recovery {
            // Counted from when automation came back: the emergency
            // audio's sound does not clear dead air.
            self.clear(AlarmKind::DeadAir, "the programme has sound again");
        }
        if let Some(until) = self.dead_air_hold.flatten()
            && self.engine_time() >= until
        {
            self.dead_air_hold = None;
        }
    }

    /// Dead air: what is on air is taken off and, when the box has
    /// emergency audio, it holds until the next programme's start.
    async fn dead_air(&mut self) {
        let seconds = self.config.silence.after_seconds;
        let titles: Vec<String> = self
            .items
            .iter()
            .filter(|(id, item)| item.started && Some(**id) != self.standby)
            .map(|(_, item)| format!("\"{}\"", item.title))
            .collect();
        let emergency = self.standby.is_some();
        self.raise(
            AlarmKind::DeadAir,
            format!(
                "dead air: {} silent for {seconds} s; {}",
                if titles.is_empty() {
                    "the programme".to_string()
                } else {
                    titles.join(", ")
                },
                if emergency {
                    "the emergency audio is on air until the next programme"
                } else {
                    "no emergency file is configured, so what is due next follows"
                }
            ),
        );
        if emergency {
            let now = self.engine_time();
            let next = self
                .slots
                .iter()
                .map(|s| s.programme.start)
                .find(|&s| s > now + self.margin());
            self.dead_air_hold = Some(next);
        }
        self.rearrange();
        self.take_off_air(0, super::TakenOff::DeadAir);
    }

    /// Frames the item heard now has been on air.
    fn on_air_for(&self, position: u64) -> u64 {
        self.on_air_item(self.on_air_time())
            .map_or(0, |i| position.saturating_sub(self.sample(i.start)))
    }

    fn live_health(&self) -> Option<std::sync::Arc<crate::engine::LiveHealth>> {
        Some(std::sync::Arc::clone(&self.live_input.as_ref()?.health))
    }

    pub(super) fn alarmed(&self, kind: AlarmKind) -> bool {
        self.alarms.iter().any(|a| a.kind == kind)
    }

    /// Raises an alarm (once: a raised alarm is not raised again).
    pub(super) fn raise(&mut self, kind: AlarmKind, message: String) {
        if self.alarmed(kind) {
            return;
        }
        let at = self.on_air_time();
        warn!("ALARM {}: {message}", kind.as_str());
        if let Err(e) = self.log.alarm_event(AlarmEvent {
            at,
            kind: kind.as_str().to_string(),
            raised: true,
            message: message.clone(),
        }) {
            error!("as-run log: cannot record an alarm: {e}");
        }
        self.alarms.push(Alarm {
            kind,
            since: at,
            message,
        });
    }

    pub(super) fn clear(&mut self, kind: AlarmKind, why: &str) {
        if !self.alarmed(kind) {
            return;
        }
        self.alarms.retain(|a| a.kind != kind);
        let at = self.on_air_time();
        info!("alarm {} cleared: {why}", kind.as_str());
        if let Err(e) = self.log.alarm_event(AlarmEvent {
            at,
            kind: kind.as_str().to_string(),
            raised: false,
            message: why.to_string(),
        }) {
            error!("as-run log: cannot record an alarm clearing: {e}");
        }
    }
}
