//! The one status snapshot of the box, published by the director on a tokio
//! watch channel and read by the web page, the CLI and (later) the panel.
//! The same types carry it both ways: the web serves a [`StatusAnswer`] and
//! `onair status` reads it back into one.

use std::time::Instant;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::asrun::Entry;

/// What the box is doing, in the words on the front panel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// A scheduled programme is on air.
    Auto,
    /// The studio's live input is on air; automation waits underneath.
    Live,
    Filler,
    Emergency,
    /// Nothing can play: no programme, no filler, no emergency file.
    #[default]
    Silent,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OnAir {
    pub title: String,
    pub kind: crate::asrun::Kind,
    pub file: String,
    pub started: DateTime<Utc>,
    /// When it will end: its natural end or its hard end, whichever is first.
    pub ends: Option<DateTime<Utc>>,
    pub offset_ms: u64,
    /// The track heard now, when the programme has a track list.
    pub track: Option<String>,
}

/// A booked slot that cannot air its own file, found by the pre-air check
/// (or because the file is not there).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PreAirProblem {
    pub start: DateTime<Utc>,
    pub title: String,
    pub problem: String,
    /// The previous edition that airs instead; `None`: filler covers.
    pub substitute: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Next {
    pub title: String,
    pub start: DateTime<Utc>,
    pub file: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OutputState {
    pub name: String,
    pub frames_out: u64,
    pub frames_dropped: u64,
    pub frames_underrun: u64,
    pub errors: u64,
    /// A stream's connection state, bytes sent, reconnections, discarded
    /// audio and title; absent for outputs that are not streams.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream: Option<crate::output::icecast::StreamState>,
    /// What the box hears when it listens to this stream as a listener
    /// would; absent when it does not listen to it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<crate::listen_back::ListenState>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IgnoredFile {
    pub file: String,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct Status {
    pub station: String,
    pub timezone: String,
    /// Station time when the snapshot was taken.
    pub now: Option<DateTime<Utc>>,
    pub mode: Mode,
    pub on_air: Option<OnAir>,
    pub next: Option<Next>,
    pub recent: Vec<Entry>,
    pub outputs: Vec<OutputState>,
    /// Peak level of the last block, dBFS, left and right.
    pub level_db: [f32; 2],
    /// Frames a source could not deliver in time since start.
    pub underruns: u64,
    pub ignored: Vec<IgnoredFile>,
    /// The calendar's source and whether the copy in use is stale; `None`
    /// without a calendar.
    pub calendar: Option<crate::calendar::CalendarState>,
    pub pre_air: Vec<PreAirProblem>,
    /// Problems a person should act on (missing folders, failed files).
    pub warnings: Vec<String>,
    /// Simulated seconds per real second when the box runs a simulated
    /// clock (demo, tests); `None` on the wall clock.
    pub simulated_speed: Option<f64>,
    /// The studio's live input; `None` when the box has none configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub live: Option<LiveInput>,
    /// What needs a person now (dead air, a silent studio, a live input
    /// that is gone), oldest first. They light the ALARM lamp.
    #[serde(default)]
    pub alarms: Vec<Alarm>,
    /// The front panel's lamps as this snapshot lights them.
    #[serde(default)]
    pub lamps: Lamps,
    /// The other streams the box records, each with what it is doing.
    #[serde(default)]
    pub recordings: Vec<crate::recorder::scheduler::RecordingView>,
    /// When the director took the snapshot (real time). The web server
    /// reports its age, so a page can tell a box whose playout has stopped
    /// reporting from one that is merely quiet; `None` before the first.
    #[serde(skip)]
    pub published: Option<Instant>,
}

/// What `onair status` and the service manager show of a snapshot, with
/// times in the station's zone `tz`.
impl Status {
    /// The status in one line: station, mode, what is on air and what is
    /// next, and how many alarms and warnings. `onair status --short` prints
    /// it and the box hands it to systemd as its `STATUS=`.
    pub fn summary(&self, tz: Tz) -> String {
        let mut parts = vec![
            self.station.clone(),
            self.mode.as_str().to_uppercase(),
            format!("on air: {}", self.on_air_text(tz)),
            format!("next: {}", self.next_text(tz)),
        ];
        let count = |n: usize, what: &str| format!("{n} {what}{}", if n == 1 { "" } else { "s" });
        if !self.alarms.is_empty() {
            parts.push(count(self.alarms.len(), "alarm"));
        }
        if !self.warnings.is_empty() {
            parts.push(count(self.warnings.len(), "warning"));
        }
        parts.join(" · ")
    }

    /// What is on air, with the time left and when it ends: the full and the
    /// one-line status say it in the same words.
    pub fn on_air_text(&self, tz: Tz) -> String {
        let Some(on_air) = &self.on_air else {
            return "nothing".into();
        };
        let mut text = on_air.title.clone();
        match (on_air.ends, self.now) {
            (Some(ends), Some(now)) => {
                let left = (ends - now).num_seconds().max(0);
                text.push_str(&format!(
                    ", {} left (ends {})",
                    duration_text(left),
                    clock_text(ends, tz)
                ));
            }
            (Some(ends), None) => text.push_str(&format!(" (ends {})", clock_text(ends, tz))),
            _ => {}
        }
        text
    }

    /// What is due next and when.
    pub fn next_text(&self, tz: Tz) -> String {
        match &self.next {
            Some(next) => format!("{} at {}", next.title, clock_text(next.start, tz)),
            None => "nothing scheduled".into(),
        }
    }
}

/// A time of day in the station's zone, to the second.
pub fn clock_text(t: DateTime<Utc>, tz: Tz) -> String {
    t.with_timezone(&tz).format("%H:%M:%S").to_string()
}

fn duration_text(seconds: i64) -> String {
    let (h, m, s) = (seconds / 3600, seconds / 60 % 60, seconds % 60);
    if h > 0 {
        format!("{h}:{m:02}:{s:02}")
    } else {
        format!("{m}:{s:02}")
    }
}

/// The studio's live input as the director sees it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LiveInput {
    /// The capture device, as named in `live.device`.
    pub device: String,
    /// Whether the device is open and delivering audio.
    pub available: bool,
    /// Why it is not, when it is not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
    /// Peak level of the input's last block, dBFS, left and right: metered
    /// while automation is on air too, so the studio sees it before taking over.
    pub level_db: [f32; 2],
    /// Since when the studio is on air (`None`: automation is).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<DateTime<Utc>>,
    /// Who put it on air (`panel`, `page`, `token NAME`, `uid 1000`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
}

/// Something wrong that a person should hear about now.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Alarm {
    pub kind: AlarmKind,
    /// Station time when it was raised.
    pub since: DateTime<Utc>,
    /// What is wrong and what the box did about it, in a sentence.
    pub message: String,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum AlarmKind {
    /// The programme output is silent while automation should be playing.
    DeadAir,
    /// The studio went quiet while live; automation took over again.
    LiveSilence,
    /// The live input cannot be opened or has stopped delivering audio.
    LiveInput,
    /// Listeners of a stream would hear nothing (the listen-back).
    Stream,
    /// The archive is losing audio, or was refused at start.
    Archive,
}

impl AlarmKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AlarmKind::DeadAir => "dead_air",
            AlarmKind::LiveSilence => "live_silence",
            AlarmKind::LiveInput => "live_input",
            AlarmKind::Stream => "stream",
            AlarmKind::Archive => "archive",
        }
    }
}

/// The front panel's tally lamps.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
pub struct Lamps {
    /// Something is on air (automation, live, filler or emergency).
    pub on_air: bool,
    /// The studio is on air.
    pub live: bool,
    /// At least one alarm is raised.
    pub alarm: bool,
}

impl Lamps {
    /// The lamps a snapshot lights: the one rule the LEDs, the panel and
    /// the page all follow.
    pub fn of(status: &Status) -> Lamps {
        Lamps {
            on_air: status.mode != Mode::Silent,
            live: status.mode == Mode::Live,
            alarm: !status.alarms.is_empty(),
        }
    }
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Auto => "auto",
            Mode::Live => "live",
            Mode::Filler => "filler",
            Mode::Emergency => "emergency",
            Mode::Silent => "silent",
        }
    }
}

/// The snapshot as `/api/status` serves it: a page polling it can tell a
/// box that does not answer from one that answers with a snapshot its
/// playout stopped updating.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StatusAnswer {
    #[serde(flatten)]
    pub status: Status,
    /// How long ago (real time) the director took the snapshot; `None`
    /// before its first.
    pub age_ms: Option<u64>,
}
