//! Panel tests: the picture for known snapshots, the OLED's byte stream
//! decoded back into pixels, and the screen task end to end on a pretend
//! module.

mod fake_i2c;
mod oled;
mod render;
mod screen;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};

use crate::output::icecast::{Connection, StreamState};
use crate::status::{Alarm, AlarmKind, LiveInput, Mode, Next, OnAir, OutputState, Status};

/// 14:03:27 in Berlin (CET, UTC+1).
pub fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 13, 3, 27).unwrap()
}

pub fn stream(connection: Connection) -> StreamState {
    StreamState {
        connection,
        bytes_sent: 0,
        reconnects: 0,
        failed_attempts: 0,
        frames_discarded: 0,
        frames_dropped_oldest: 0,
        title: None,
        encoder: None,
        encoder_shared_by: 1,
    }
}

pub fn output(name: &str, stream: Option<StreamState>) -> OutputState {
    OutputState {
        name: name.into(),
        frames_out: 0,
        frames_dropped: 0,
        frames_underrun: 0,
        errors: 0,
        stream,
        listen: None,
    }
}

/// A programme on air with 12:34 left, the next at 15:00 local, one stream
/// up, the programme peaking at −6 dBFS left and silent right, a studio
/// input that is ready and quiet, no alarms.
pub fn snapshot() -> Status {
    let now = now();
    Status {
        station: "Radio Test".into(),
        timezone: "Europe/Berlin".into(),
        now: Some(now),
        mode: Mode::Auto,
        on_air: Some(OnAir {
            title: "Morning Show".into(),
            kind: crate::asrun::Kind::Scheduled,
            file: "20260302_1400_morning-show.mp3".into(),
            started: now - TimeDelta::minutes(3),
            ends: Some(now + TimeDelta::seconds(12 * 60 + 34)),
            offset_ms: 0,
            track: None,
        }),
        next: Some(Next {
            title: "Evening News".into(),
            start: Utc.with_ymd_and_hms(2026, 3, 2, 14, 0, 0).unwrap(),
            file: "20260302_1500_evening-news.mp3".into(),
        }),
        outputs: vec![
            output("studio", None),
            output(
                "icecast",
                Some(stream(Connection::Connected {
                    since: now - TimeDelta::hours(1),
                })),
            ),
        ],
        level_db: [-6.0, -60.0],
        live: Some(LiveInput {
            device: "hw:1".into(),
            available: true,
            problem: None,
            level_db: [-120.0, -120.0],
            since: None,
            by: None,
        }),
        ..Status::default()
    }
}

pub fn dead_air() -> Alarm {
    Alarm {
        kind: AlarmKind::DeadAir,
        since: now(),
        message: "programme silent for 15 s; the emergency file is on air".into(),
    }
}
