//! The station's calendar: bookings with recurrence across a clock change,
//! previous editions for missing files, the pre-air check, and a calendar
//! source that goes away. Station time runs 60× (a minute is a real second);
//! what aired is read back from the WAV output by its tones.

use crate::common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use common::*;

const ON_TIME: i64 = 20;

/// A VCALENDAR holding the given VEVENT bodies.
fn calendar(events: &[&str]) -> String {
    let mut text = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//onair tests//EN\r\n".to_string();
    for (i, event) in events.iter().enumerate() {
        text.push_str("BEGIN:VEVENT\r\nDTSTAMP:20260101T000000Z\r\n");
        if !event.contains("UID:") {
            text.push_str(&format!("UID:event-{i}@onair.test\r\n"));
        }
        for line in event.lines().map(str::trim).filter(|l| !l.is_empty()) {
            text.push_str(line);
            text.push_str("\r\n");
        }
        text.push_str("END:VEVENT\r\n");
    }
    text.push_str("END:VCALENDAR\r\n");
    text
}

/// A daily booking of `title` from `start` to `end` (station-local times of
/// the first day, `yyyymmddThhmmss`).
fn daily(title: &str, start: &str, end: &str) -> String {
    format!(
        "SUMMARY:{title}\nDTSTART;TZID=Europe/London:{start}\nDTEND;TZID=Europe/London:{end}\n\
         RRULE:FREQ=DAILY"
    )
}

fn calendar_file(s: &mut Station, text: &str) {
    std::fs::write(s.dir().join("calendar.ics"), text).expect("cannot write the calendar");
    s.section("[calendar]\nsource = \"calendar.ics\"\nrefresh_minutes = 1\n");
}

fn status(s: &Station) -> serde_json::Value {
    http::get(&s.web_address(), "/api/status").json()
}

fn pre_air(s: &Station) -> Vec<serde_json::Value> {
    status(s)["pre_air"].as_array().cloned().unwrap_or_default()
}

/// `onair schedule` as a person reads it.
fn schedule_text(s: &Station) -> String {
    let out = s.command("schedule", &[]);
    assert!(
        out.status.success(),
        "onair schedule failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_missing_file_airs_the_previous_edition_and_the_log_names_it() {
    let mut s = Station::new("previous-edition");
    // Yesterday's edition is there (longer than the slot); today's never
    // arrived.
    s.programme("2026-03-01 01:00", "morning-show", 700, 90.0, "wav");
    // Another programme the calendar does not know: it airs as before.
    s.programme("2026-03-02 01:02", "news", 900, 20.0, "wav");
    calendar_file(
        &mut s,
        &calendar(&[&daily("Morning Show", "20260225T010000", "20260225T010100")]),
    );
    s.start();
    s.wait_until(s.local("2026-03-02 00:59:00"));
    // Before the slot: the status says what is wrong and what will air.
    let problems = pre_air(&s);
    assert_eq!(problems.len(), 1, "pre-air problems: {problems:?}");
    let problem = problems[0]["problem"].as_str().unwrap_or_default();
    assert!(
        problem.contains("20260302_0100_morning-show"),
        "the problem names the missing file: {problem}"
    );
    assert!(
        problems[0]["substitute"]
            .as_str()
            .is_some_and(|f| f.ends_with("20260301_0100_morning-show.wav")),
        "{problems:?}"
    );
    let text = schedule_text(&s);
    assert!(
        text.contains("SUBSTITUTE for 20260302_0100_morning-show.*"),
        "onair schedule shows the substitute:\n{text}"
    );
    s.wait_until(s.local("2026-03-02 01:02:30"));
    s.terminate();

    let aired = s.aired();
    let runs = s.runs(&aired);
    // The previous edition fills the booked minute and is faded out at
    // the booking's end.
    expect_start(&runs, 700, s.local("2026-03-02 01:00"), ms(ON_TIME));
    expect_at(&runs, s.local("2026-03-02 01:00:55"), What::Tone(700));
    expect_at(&runs, s.local("2026-03-02 01:01:10"), What::Silence);
    expect_start(&runs, 900, s.local("2026-03-02 01:02"), ms(ON_TIME));

    let log = s.log_json();
    let substitutes = log.of_kind(Kind::Substitute);
    log.check(substitutes.len() == 1, "one substitute entry");
    let entry = substitutes[0];
    log.check(
        entry.file_name() == Some("20260301_0100_morning-show.wav")
            && entry
                .replaces
                .as_deref()
                .is_some_and(|r| r.contains("20260302_0100_morning-show"))
            && entry.title == "Morning Show",
        "the substitute names the edition that aired and the file it replaced",
    );
    log.expect_start(entry, s.local("2026-03-02 01:00"), ms(50));
}

#[test]
fn a_corrupt_file_is_reported_before_its_slot_and_a_fixed_file_airs() {
    let mut s = Station::new("pre-air");
    s.clock("2026-03-02 00:50:00", 60.0);
    s.programme("2026-03-01 01:00", "morning-show", 700, 40.0, "wav");
    // Bad input: today's edition is cut off half way (a failed upload).
    let due = s.programme("2026-03-02 01:00", "morning-show", 900, 40.0, "wav");
    let good = std::fs::read(&due).expect("read the programme");
    tone::truncate_to_half(&due);
    calendar_file(
        &mut s,
        &calendar(&[&daily("Morning Show", "20260225T010000", "20260225T010100")]),
    );
    s.start();
    s.wait_until(s.local("2026-03-02 00:52:00"));
    let problems = pre_air(&s);
    assert_eq!(problems.len(), 1, "pre-air problems: {problems:?}");
    let problem = problems[0]["problem"].as_str().unwrap_or_default();
    assert!(
        problem.contains("20260302_0100_morning-show.wav is broken"),
        "{problem}"
    );
    let warnings = status(&s)["warnings"].to_string();
    assert!(warnings.contains("pre-air check"), "{warnings}");
    let text = schedule_text(&s);
    assert!(
        text.contains("SUBSTITUTE for 20260302_0100_morning-show.wav")
            && text.contains("pre-air check: plays from start to end"),
        "onair schedule shows the problem and the checked substitute:\n{text}"
    );

    // Someone uploads the file again, whole, before the slot.
    let fresh = s.dir().join("upload.tmp");
    std::fs::write(&fresh, &good).expect("write the fixed file");
    std::fs::rename(&fresh, &due).expect("move the fixed file in");
    s.wait_until(s.local("2026-03-02 00:57:00"));
    assert_eq!(pre_air(&s), Vec::<serde_json::Value>::new());
    s.wait_until(s.local("2026-03-02 01:01:30"));
    s.terminate();

    let runs = s.runs(&s.aired());
    expect_run(
        &runs,
        900,
        s.local("2026-03-02 01:00"),
        s.local("2026-03-02 01:00:40"),
        ms(ON_TIME),
    );
    let log = s.log_json();
    log.check(
        log.of_kind(Kind::Substitute).is_empty(),
        "no substitute aired once the file was fixed",
    );
    let aired = log.one("morning-show");
    log.check(
        aired.file_name() == Some("20260302_0100_morning-show.wav"),
        "today's edition aired",
    );
    log.expect_kind(aired, Kind::Scheduled);
}

/// Serves a calendar over HTTP on loopback until told otherwise: the test
/// switches it to garbage or takes it away altogether.
struct CalendarServer {
    address: String,
    /// 0: the calendar, 1: an HTML error page, 2: gone (nothing listens).
    mode: Arc<AtomicU8>,
    body: Arc<Mutex<String>>,
}

impl CalendarServer {
    fn start(body: String) -> CalendarServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a calendar server");
        let address = listener.local_addr().expect("its address").to_string();
        let server = CalendarServer {
            address,
            mode: Arc::new(AtomicU8::new(0)),
            body: Arc::new(Mutex::new(body)),
        };
        server.serve(listener);
        server
    }

    fn serve(&self, listener: TcpListener) {
        let (mode, body) = (self.mode.clone(), self.body.clone());
        listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        std::thread::spawn(move || {
            loop {
                if mode.load(Ordering::Acquire) == 2 {
                    return; // the listener closes: connections are refused
                }
                match listener.accept() {
                    Ok((stream, _)) => answer(stream, mode.load(Ordering::Acquire), &body),
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
    }

    fn url(&self) -> String {
        format!("http://{}/station.ics", self.address)
    }

    fn go_away(&self) {
        self.mode.store(2, Ordering::Release);
        std::thread::sleep(Duration::from_millis(50));
    }

    /// Back on the same address, serving `mode`.
    fn come_back(&self, mode: u8) {
        self.mode.store(mode, Ordering::Release);
        let listener = TcpListener::bind(&self.address).expect("bind the calendar server again");
        self.serve(listener);
    }
}

fn answer(mut stream: TcpStream, mode: u8, body: &Mutex<String>) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let mut request = [0u8; 4096];
    let _ = stream.read(&mut request);
    let (kind, text) = match mode {
        0 => ("text/calendar", body.lock().unwrap().clone()),
        _ => (
            "text/html",
            "<html><body>502 Bad Gateway</body></html>".to_string(),
        ),
    };
    let _ = write!(
        stream,
        "HTTP/1.1 200 OK\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
        text.len()
    );
}

fn calendar_state(s: &Station) -> serde_json::Value {
    status(s)["calendar"].clone()
}

/// The calendar's state once the box has fetched it after station time
/// `t` (a refresh is due every station minute: a few real seconds at most).
fn next_fetch_after(s: &mut Station, t: DateTime<Utc>) -> serde_json::Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let state = calendar_state(s);
        if state["last_attempt"]
            .as_str()
            .map(utc)
            .is_some_and(|at| at > t)
        {
            return state;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no fetch of the calendar after {t}: {state}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn stale_since(s: &Station) -> Option<DateTime<Utc>> {
    calendar_state(s)["stale_since"].as_str().map(utc)
}

#[test]
fn an_unreachable_or_broken_calendar_keeps_the_cached_schedule_airing() {
    let mut s = Station::new("calendar-url");
    // Only yesterday's editions are there: each booked slot airs one, which
    // only happens if the box knows the booking.
    s.programme("2026-03-01 01:02", "jazz-hour", 1100, 30.0, "wav");
    s.programme("2026-03-01 01:19", "morning-show", 1300, 30.0, "wav");
    let server = CalendarServer::start(calendar(&[
        &daily("Jazz Hour", "20260225T010200", "20260225T010300"),
        &daily("Morning Show", "20260225T011900", "20260225T012000"),
    ]));
    s.section(&format!(
        "[calendar]\nsource = \"{}\"\nrefresh_minutes = 1\n",
        server.url()
    ));
    s.start();
    s.wait_until(s.local("2026-03-02 00:59:00"));
    let state = calendar_state(&s);
    assert!(state["loaded_at"].is_string(), "calendar loaded: {state}");
    assert_eq!(stale_since(&s), None, "{state}");

    // The calendar server goes away.
    server.go_away();
    s.wait_until(s.local("2026-03-02 01:01:30"));
    let state = calendar_state(&s);
    assert!(
        stale_since(&s).is_some() && state["problem"].is_string(),
        "the calendar is reported stale: {state}"
    );
    let warnings = status(&s)["warnings"].to_string();
    assert!(warnings.contains("calendar stale since"), "{warnings}");
    // The status page says so too.
    let page = page::browse(s.dir(), &format!("http://{}/", s.web_address()), 2500);
    let shown = page::text(&page, "calendar");
    assert!(
        shown.starts_with("calendar STALE since") && shown.contains("reach"),
        "the page shows the stale calendar: {shown:?}"
    );

    // It comes back serving an error page instead of the calendar. (The
    // browser took real seconds: wait for a fetch made after this point.)
    let back = s.now();
    server.come_back(1);
    let state = next_fetch_after(&mut s, back);
    assert!(
        stale_since(&s).is_some()
            && state["problem"]
                .as_str()
                .is_some_and(|p| p.contains("not a calendar")),
        "a page that is not a calendar keeps the copy: {state}"
    );

    // A restart while the source is still broken airs from the cached copy.
    // (The browser and the fetches above take real seconds, more than six
    // on a loaded machine: at 60 times real time the slot leaves sixteen.)
    assert!(
        s.now() < s.local("2026-03-02 01:18:00"),
        "the test ran too slowly to restart before the Morning Show: {}",
        s.now()
    );
    s.kill();
    s.start();
    s.wait_until(s.local("2026-03-02 01:20:00"));
    s.terminate();

    let runs = s.runs(&s.aired());
    expect_run(
        &runs,
        1100,
        s.local("2026-03-02 01:02"),
        s.local("2026-03-02 01:02:30"),
        ms(ON_TIME),
    );
    expect_start(&runs, 1300, s.local("2026-03-02 01:19"), ms(ON_TIME));
    let log = s.log_json();
    log.check(
        log.of_kind(Kind::Substitute).len() == 2,
        "both booked slots aired a previous edition",
    );
}

#[test]
fn a_weekly_booking_keeps_its_local_time_across_the_clock_change_with_exceptions() {
    // Saturdays 10:00 in London from 17 October 2026; the clocks go back on
    // Sunday 25 October. The 24th is cancelled (EXDATE) and the 31st is
    // moved to 12:00 (RECURRENCE-ID). Only the first edition's file exists,
    // so every booked slot airs it: where and when it is heard shows where
    // the box put each booking.
    let weekly = calendar(&[
        "UID:weekend@onair.test\nSUMMARY:Weekend Show\nDTSTART;TZID=Europe/London:20261017T100000\n\
         DTEND;TZID=Europe/London:20261017T100100\nRRULE:FREQ=WEEKLY;BYDAY=SA\n\
         EXDATE;TZID=Europe/London:20261024T100000",
        "UID:weekend@onair.test\nSUMMARY:Weekend Show\nRECURRENCE-ID;TZID=Europe/London:20261031T100000\n\
         DTSTART;TZID=Europe/London:20261031T120000\nDTEND;TZID=Europe/London:20261031T120100",
    ]);
    let day = |start: &str, until: &str, expect: &dyn Fn(&Station, &Runs)| {
        let mut s = Station::new("weekly");
        s.clock(start, 60.0);
        s.programme("2026-10-17 10:00", "weekend-show", 500, 40.0, "wav");
        calendar_file(&mut s, &weekly);
        s.start();
        s.wait_until(s.local(until));
        s.terminate();
        let runs = s.runs(&s.aired());
        expect(&s, &runs);
    };
    // 24 October (summer time): cancelled, nothing airs at 10:00.
    day("2026-10-24 09:59:00", "2026-10-24 10:01:30", &|s, runs| {
        expect_only(
            runs,
            s.local("2026-10-24 09:59:30"),
            s.local("2026-10-24 10:01:20"),
            &[What::Silence],
            ms(0),
        );
    });
    // 31 October (winter time): moved to 12:00, silent at 10:00.
    day("2026-10-31 09:59:00", "2026-10-31 10:01:30", &|s, runs| {
        expect_only(
            runs,
            s.local("2026-10-31 09:59:30"),
            s.local("2026-10-31 10:01:20"),
            &[What::Silence],
            ms(0),
        );
    });
    day("2026-10-31 11:59:00", "2026-10-31 12:01:00", &|s, runs| {
        let at = s.local("2026-10-31 12:00");
        assert_eq!(at, utc("2026-10-31T12:00:00Z"));
        expect_start(runs, 500, at, ms(ON_TIME));
    });
    // 7 November: 10:00 local is 10:00 UTC now (it was 09:00 UTC in summer).
    day("2026-11-07 09:59:00", "2026-11-07 10:01:00", &|s, runs| {
        let at = s.local("2026-11-07 10:00");
        assert_eq!(at, utc("2026-11-07T10:00:00Z"));
        expect_start(runs, 500, at, ms(ON_TIME));
    });
}
