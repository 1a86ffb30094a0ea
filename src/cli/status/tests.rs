use super::*;
use crate::asrun::Kind;
use crate::calendar::CalendarState;
use crate::listen_back::{ListenAlarm, ListenState};
use crate::output::icecast::StreamState;
use crate::status::{Mode, Next, OnAir, OutputState, Status};

fn t(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).unwrap().to_utc()
}

fn stream(connection: Connection) -> StreamState {
    StreamState {
        connection,
        bytes_sent: 2_345_678,
        reconnects: 1,
        failed_attempts: 3,
        frames_discarded: 88_200,
        frames_dropped_oldest: 0,
        title: Some("Morning Show".into()),
        encoder: Some("MP3 128 kbit/s CBR 44100 Hz".into()),
        encoder_shared_by: 2,
    }
}

fn output(name: &str, stream: Option<StreamState>) -> OutputState {
    OutputState {
        name: name.into(),
        frames_out: 441_000,
        frames_dropped: 0,
        frames_underrun: 2,
        errors: 0,
        stream,
        listen: None,
    }
}

/// What the box's web server sends, read back as `onair status` reads it.
fn served(answer: &StatusAnswer) -> StatusAnswer {
    let body = serde_json::to_string(answer).unwrap();
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

#[test]
fn the_status_the_box_serves_reads_back_and_prints_as_before() {
    let mut live = output(
        "icecast 127.0.0.1:8000/live.mp3",
        Some(stream(Connection::Connected {
            since: t("2026-03-02T00:59:00Z"),
        })),
    );
    live.listen = Some(ListenState {
        state: ListenAlarm::NoData,
        reason: Some("no audio for 5 s".into()),
        since: t("2026-03-02T00:59:40Z"),
        url: "http://127.0.0.1:8000/live.mp3".into(),
    });
    let status = Status {
        station: "Test FM".into(),
        timezone: "Europe/London".into(),
        now: Some(t("2026-03-02T00:59:50Z")),
        mode: Mode::Auto,
        on_air: Some(OnAir {
            title: "Morning Show".into(),
            kind: Kind::Scheduled,
            file: "/p/20260302_0059_morning-show.wav".into(),
            started: t("2026-03-02T00:59:00Z"),
            ends: Some(t("2026-03-02T01:01:00Z")),
            offset_ms: 0,
            track: None,
        }),
        next: Some(Next {
            title: "News".into(),
            start: t("2026-03-02T01:30:00Z"),
            file: "/p/20260302_0130_news.wav".into(),
        }),
        outputs: vec![
            output("wav /tmp/out.wav", None),
            live,
            output(
                "icecast 127.0.0.1:8000/wrong.mp3",
                Some(stream(Connection::Refused {
                    reason: "check the user and password".into(),
                    next_attempt: t("2026-03-02T00:59:52Z"),
                })),
            ),
            output(
                "icecast 127.0.0.1:9/gone.mp3",
                Some(stream(Connection::Retrying {
                    reason: "cannot reach 127.0.0.1:9".into(),
                    next_attempt: t("2026-03-02T00:59:51Z"),
                })),
            ),
            output(
                "icecast 127.0.0.1:8000/new.mp3",
                Some(stream(Connection::Connecting)),
            ),
        ],
        level_db: [-12.5, -120.0],
        calendar: Some(CalendarState {
            source: "https://example.org/slots.ics".into(),
            loaded_at: Some(t("2026-03-02T00:00:00Z")),
            stale_since: None,
            problem: None,
            last_attempt: Some(t("2026-03-02T00:50:00Z")),
            notes: vec!["an all-day event is left out".into()],
        }),
        warnings: vec!["the filler folder is empty".into()],
        simulated_speed: Some(1.0),
        ..Status::default()
    };
    let answer = served(&StatusAnswer {
        status,
        age_ms: Some(120),
    });
    assert_eq!(answer.status.mode, Mode::Auto);
    assert_eq!(
        answer.status.outputs[1].listen.as_ref().map(|l| l.state),
        Some(ListenAlarm::NoData)
    );
    assert_eq!(
        answer.status.calendar.as_ref().map(|c| c.notes.len()),
        Some(1)
    );
    assert_eq!(answer.status.level_db, [-12.5, -120.0]);

    let text = render(&answer, chrono_tz::Europe::London, 44_100);
    let expected = "\
Test FM · AUTO · 2026-03-02 00:59:50 GMT (simulated clock ×1; stream times are real time)
On air:   Morning Show, 1:10 left (ends 01:01:00)
Next:     News at 01:30:00
Warnings:
  ! the filler folder is empty
Outputs:
  wav /tmp/out.wav
    441000 frames out, 0 dropped, 2 underruns, 0 errors
  icecast 127.0.0.1:8000/live.mp3
    connected since 00:59:00
    2.3 MB sent, 1 reconnects, 3 failed attempts
    audio lost: 0.0 s dropped (queue full), 2.0 s discarded (while down), 0.0 s dropped (ring full)
    encoder MP3 128 kbit/s CBR 44100 Hz, shared by 2 streams; title \"Morning Show\"
  icecast 127.0.0.1:8000/wrong.mp3
    REFUSED, next attempt at 00:59:52: check the user and password
";
    assert!(text.starts_with(expected), "{text}");
    assert!(
        text.contains("\n    retrying, next attempt at 00:59:51: cannot reach 127.0.0.1:9\n"),
        "{text}"
    );
    assert!(
        text.contains("\n  icecast 127.0.0.1:8000/new.mp3\n    connecting\n"),
        "{text}"
    );
}

#[test]
fn a_starting_or_stale_box_says_so() {
    let starting = served(&StatusAnswer {
        status: Status {
            station: "Test FM".into(),
            ..Status::default()
        },
        age_ms: None,
    });
    let text = render(&starting, chrono_tz::Europe::London, 48_000);
    assert_eq!(
        text,
        "Test FM · SILENT\n(the box is starting: no status from its playout yet)\n\
         On air:   nothing\nNext:     nothing scheduled\nWarnings: none\nOutputs:\n"
    );
    let stale = StatusAnswer {
        age_ms: Some(12_400),
        ..starting
    };
    let text = render(&stale, chrono_tz::Europe::London, 48_000);
    assert!(
        text.contains("WARNING: the playout has not updated its status for 12 s"),
        "{text}"
    );
}

#[test]
fn the_one_line_status_says_what_the_full_one_does_in_brief() {
    let mut status = Status {
        station: "Test FM".into(),
        now: Some(t("2026-07-02T08:59:50Z")),
        mode: Mode::Filler,
        on_air: Some(OnAir {
            title: "Filler".into(),
            kind: Kind::Filler,
            file: "/f/filler.wav".into(),
            started: t("2026-07-02T08:58:00Z"),
            ends: Some(t("2026-07-02T09:00:00Z")),
            offset_ms: 0,
            track: None,
        }),
        ..Status::default()
    };
    // Summer time: the station's zone, not UTC.
    let tz = chrono_tz::Europe::London;
    assert_eq!(
        status.summary(tz),
        "Test FM · FILLER · on air: Filler, 0:10 left (ends 10:00:00) · next: nothing scheduled"
    );
    status.next = Some(Next {
        title: "News".into(),
        start: t("2026-07-02T09:00:00Z"),
        file: "/p/news.wav".into(),
    });
    status.warnings = vec!["a".into(), "b".into()];
    status.alarms = vec![crate::status::Alarm {
        kind: crate::status::AlarmKind::DeadAir,
        since: t("2026-07-02T08:59:00Z"),
        message: "dead air".into(),
    }];
    let line = status.summary(tz);
    assert_eq!(
        line,
        "Test FM · FILLER · on air: Filler, 0:10 left (ends 10:00:00) · next: News at 10:00:00 \
         · 1 alarm · 2 warnings"
    );
    assert!(!line.contains('\n'));
}
