//! What the director tells the rest of the box: the status snapshot read by
//! the web page, the CLI and the panel, and stream outputs going up or down
//! in the as-run log.

use std::time::Instant;

use chrono::{DateTime, Utc};

use tracing::error;

use super::Director;
use super::arrange::SlotKey;
use crate::asrun::Kind;
use crate::asrun::{ListenEvent, StreamEvent};
use crate::clock::Clock;
use crate::listen_back::ListenAlarm;
use crate::status::{self, Mode, Status};

impl Director {
    /// Logs each listen-back alarm as it is raised (or turns into another
    /// alarm), and its clearing, at the moment the check saw the change.
    /// The grace after start is no alarm, and coming out of it is no news.
    pub(super) fn log_listen_back(&mut self) {
        self.listen_logged
            .resize(self.listen_back.len(), ListenAlarm::Starting);
        for (link, logged) in self.listen_back.iter().zip(&mut self.listen_logged) {
            let heard = link.state();
            let was_alarm = !matches!(*logged, ListenAlarm::Starting | ListenAlarm::Ok);
            let news = match heard.state {
                ListenAlarm::Starting => false,
                ListenAlarm::Ok => was_alarm,
                alarm => alarm != *logged,
            };
            if heard.state != ListenAlarm::Starting {
                *logged = heard.state;
            }
            if !news {
                continue;
            }
            let output = self
                .outputs
                .get(link.output)
                .map_or_else(|| link.url.clone(), |(name, _)| name.clone());
            let event = ListenEvent {
                at: heard.since,
                output,
                heard: heard.state,
                reason: heard.reason,
            };
            if let Err(e) = self.log.listen_event(event) {
                error!("as-run log: cannot record what listeners hear: {e}");
            }
        }
    }

    /// Logs each stream going up or down: once when it first comes up or
    /// first fails, then at every change between up and down (not at every
    /// failed attempt of a server that stays away).
    pub(super) fn log_streams(&mut self) {
        use crate::output::icecast::Connection;
        use std::sync::atomic::Ordering::Relaxed;
        self.streams_logged.resize(self.outputs.len(), None);
        let at = self.on_air_time();
        for ((name, stats), logged) in self.outputs.iter().zip(&mut self.streams_logged) {
            let Some(stream) = &stats.stream else {
                continue;
            };
            let reconnects = stream.reconnects.load(Relaxed);
            let (up, reason) = match stream.connection() {
                Connection::Connecting => continue,
                Connection::Connected { .. } => (true, None),
                Connection::Retrying { reason, .. } | Connection::Refused { reason, .. } => {
                    (false, Some(reason))
                }
            };
            let mut events = Vec::new();
            match *logged {
                Some((was_up, _)) if was_up != up => events.push((up, reason)),
                // Down and up again between two looks: both are logged.
                Some((true, before)) if up && reconnects > before => {
                    let lost = "lost and made again between two status updates".to_string();
                    events.push((false, Some(lost)));
                    events.push((true, None));
                }
                Some(_) => {}
                None => events.push((up, reason)),
            }
            *logged = Some((up, reconnects));
            for (up, reason) in events {
                let event = StreamEvent {
                    at,
                    output: name.clone(),
                    up,
                    reason,
                };
                if let Err(e) = self.log.stream_event(event) {
                    error!("as-run log: cannot record that {name} went up or down: {e}");
                }
            }
        }
    }

    /// The item heard at `now`: the latest to start of those on air.
    pub(super) fn on_air_item(&self, now: DateTime<Utc>) -> Option<&super::Cued> {
        self.items
            .values()
            .filter(|i| i.started && i.start <= now)
            .max_by_key(|i| i.start)
    }

    /// What the box is doing, in the front panel's words.
    pub(super) fn mode(&self) -> Mode {
        if self.on_live.is_some() {
            return Mode::Live;
        }
        match self.on_air_item(self.on_air_time()).map(|i| i.kind) {
            Some(Kind::Filler) => Mode::Filler,
            Some(Kind::Emergency) => Mode::Emergency,
            Some(_) => Mode::Auto,
            None => Mode::Silent,
        }
    }

    fn live_state(&self) -> Option<status::LiveInput> {
        let wiring = self.live_input.as_ref()?;
        let problem = wiring.health.failure();
        let (l, r) = wiring.health.peak();
        let available = problem.is_none();
        Some(status::LiveInput {
            device: wiring.device.clone(),
            available,
            problem,
            level_db: [db(l), db(r)],
            since: self.on_live.as_ref().map(|l| l.since),
            by: self.on_live.as_ref().map(|l| l.by.to_string()),
        })
    }

    pub(super) fn publish(&self) {
        let now = self.on_air_time();
        let on_air = self.on_air_item(now);
        let mode = self.mode();
        let next = self
            .slots
            .iter()
            .find(|s| s.programme.start > now && !self.done.contains(&SlotKey::of(s)))
            .map(|s| status::Next {
                title: s.programme.title.clone(),
                start: s.programme.start,
                file: s.programme.path.display().to_string(),
            });
        let meters = &self.engine.meters;
        let level = db;
        let (l, r) = meters.peak();
        let recent = self.log.recent(10).unwrap_or_default();
        let mut warnings = self.warnings.clone();
        let tz = self.config.station.timezone;
        warnings.extend(self.booked.problems().iter().map(|p| {
            format!(
                "pre-air check, {}: {p}",
                p.start.with_timezone(&tz).format("%a %H:%M")
            )
        }));
        let calendar = self.calendar.as_ref().map(|c| c.snapshot().state);
        if let Some(state) = &calendar
            && let (Some(since), Some(problem)) = (state.stale_since, &state.problem)
        {
            let copy = match state.loaded_at {
                Some(at) => format!(
                    "the copy from {} is used",
                    at.with_timezone(&tz).format("%Y-%m-%d %H:%M")
                ),
                None => "there is no earlier copy: only the programme files air".to_string(),
            };
            warnings.push(format!(
                "calendar stale since {}: {problem}; {copy}",
                since.with_timezone(&tz).format("%Y-%m-%d %H:%M")
            ));
        }
        if mode == Mode::Silent {
            warnings.push("silent: no programme, filler or emergency file can play".into());
        }
        let listen = |output: usize| {
            self.listen_back
                .iter()
                .find(|link| link.output == output)
                .map(|link| link.state())
        };
        for (output, (name, _)) in self.outputs.iter().enumerate() {
            if let Some(heard) = listen(output)
                && let Some(reason) = &heard.reason
            {
                warnings.push(format!(
                    "{name}: listeners hear nothing ({}): {reason}",
                    heard.state.words()
                ));
            }
        }
        let mut snapshot = Status {
            station: self.config.station.name.clone(),
            timezone: self.config.station.timezone.name().to_string(),
            now: Some(now),
            mode,
            on_air: on_air.map(|i| status::OnAir {
                title: i.title.clone(),
                kind: i.kind,
                file: i.file.display().to_string(),
                started: i.start,
                ends: i.expected_end(),
                offset_ms: i.offset.num_milliseconds().max(0) as u64,
                track: i.tracks.as_ref().and_then(|t| t.now_playing()),
            }),
            next,
            recent,
            outputs: self
                .outputs
                .iter()
                .enumerate()
                .map(|(output, (name, s))| {
                    use std::sync::atomic::Ordering::Relaxed;
                    status::OutputState {
                        name: name.clone(),
                        frames_out: s.frames_out.load(Relaxed),
                        frames_dropped: s.frames_dropped.load(Relaxed),
                        frames_underrun: s.frames_underrun.load(Relaxed),
                        errors: s.errors.load(Relaxed),
                        stream: s.stream.as_ref().map(|link| link.state()),
                        listen: listen(output),
                    }
                })
                .collect(),
            level_db: [level(l), level(r)],
            underruns: meters.underrun_frames(),
            ignored: self.ignored.clone(),
            calendar,
            pre_air: self
                .booked
                .problems()
                .iter()
                .map(|p| status::PreAirProblem {
                    start: p.start,
                    title: p.title.clone(),
                    problem: p.problem.clone(),
                    substitute: p.substitute.as_ref().map(|s| s.display().to_string()),
                })
                .collect(),
            warnings,
            simulated_speed: match self.clock {
                Clock::Wall => None,
                Clock::Simulated { speed, .. } => Some(speed),
            },
            live: self.live_state(),
            alarms: self.alarms.clone(),
            lamps: status::Lamps::default(),
            recordings: self
                .recordings
                .as_ref()
                .map(|r| r.lock().unwrap_or_else(|e| e.into_inner()).clone())
                .unwrap_or_default(),
            published: Some(Instant::now()),
        };
        snapshot.lamps = status::Lamps::of(&snapshot);
        self.status.send_replace(snapshot);
    }
}

/// A peak (0.0 to 1.0) in dBFS, −120 standing for digital silence.
fn db(peak: f32) -> f32 {
    if peak > 0.0 {
        20.0 * peak.log10()
    } else {
        -120.0
    }
}
