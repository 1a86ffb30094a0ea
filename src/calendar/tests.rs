use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use chrono::{DateTime, Utc};

use super::watch::Loader;
use super::*;
use crate::clock::Clock;
use crate::config::{CalendarConfig, CalendarSource};

const LONDON: Tz = chrono_tz::Europe::London;

fn utc(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).unwrap().to_utc()
}

fn ics(body: &str) -> String {
    format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Test//Station//EN\r\n{}END:VCALENDAR\r\n",
        body.replace('\n', "\r\n")
    )
}

fn starts(events: &[CalendarEvent]) -> Vec<(String, String)> {
    events
        .iter()
        .map(|e| (e.start.to_rfc3339(), e.title.clone()))
        .collect()
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("onair-calendar-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A weekly Saturday programme at 10:00 London time from 10 October 2026;
/// the clocks go back on 25 October. Written override-first, as some
/// services do.
const WEEKLY: &str = "BEGIN:VEVENT
UID:breakfast@station
RECURRENCE-ID;TZID=Europe/London:20261031T100000
DTSTART;TZID=Europe/London:20261101T110000
DTEND;TZID=Europe/London:20261101T120000
SUMMARY:Saturday Breakfast (moved)
END:VEVENT
BEGIN:VEVENT
UID:breakfast@station
RECURRENCE-ID;TZID=Europe/London:20261114T100000
DTSTART;TZID=Europe/London:20261114T100000
DTEND;TZID=Europe/London:20261114T110000
SUMMARY:Saturday Breakfast
STATUS:CANCELLED
END:VEVENT
BEGIN:VEVENT
UID:breakfast@station
DTSTART;TZID=Europe/London:20261010T100000
DTEND;TZID=Europe/London:20261010T110000
RRULE:FREQ=WEEKLY;BYDAY=SA
EXDATE;TZID=Europe/London:20261017T100000
SUMMARY:Saturday Breakfast
END:VEVENT
";

#[test]
fn weekly_programme_keeps_local_time_across_the_clock_change() {
    let calendar = Calendar::parse(&ics(WEEKLY), LONDON).unwrap();
    assert!(calendar.notes.is_empty(), "{:?}", calendar.notes);
    let found = calendar.events_between(utc("2026-10-01T00:00:00Z"), utc("2026-11-22T00:00:00Z"));
    // 17 October is an exception date, 31 October moved to Sunday 1
    // November at 11:00, 14 November cancelled. 10:00 BST is 09:00 UTC,
    // 10:00 GMT is 10:00 UTC.
    assert_eq!(
        starts(&found),
        [
            ("2026-10-10T09:00:00+00:00", "Saturday Breakfast"),
            ("2026-10-24T09:00:00+00:00", "Saturday Breakfast"),
            ("2026-11-01T11:00:00+00:00", "Saturday Breakfast (moved)"),
            ("2026-11-07T10:00:00+00:00", "Saturday Breakfast"),
            ("2026-11-21T10:00:00+00:00", "Saturday Breakfast"),
        ]
        .map(|(t, s)| (t.to_string(), s.to_string()))
    );
    assert!(found.iter().all(|e| e.uid == "breakfast@station"));
    assert!(
        found
            .iter()
            .all(|e| e.end == Some(e.start + chrono::TimeDelta::hours(1))),
        "{found:#?}"
    );
    assert_eq!(found[0].slug, "saturday-breakfast");
    assert_eq!(found[2].slug, "saturday-breakfast-moved");

    // A slot already on air at `from` is included; one ending exactly at
    // `from` is not.
    let on_air = calendar.events_between(utc("2026-11-07T10:30:00Z"), utc("2026-11-07T10:31:00Z"));
    assert_eq!(starts(&on_air).len(), 1);
    let ended = calendar.events_between(utc("2026-11-07T11:00:00Z"), utc("2026-11-07T12:00:00Z"));
    assert!(ended.is_empty(), "{ended:#?}");
    // Bad input: an empty or backwards stretch of time.
    assert!(
        calendar
            .events_between(utc("2026-11-07T12:00:00Z"), utc("2026-11-07T10:00:00Z"))
            .is_empty()
    );
}

#[test]
fn cancelled_events_and_instances_are_not_slots() {
    let text = ics("BEGIN:VEVENT
UID:gone@station
DTSTART:20261102T090000Z
DTEND:20261102T100000Z
RRULE:FREQ=DAILY;COUNT=5
SUMMARY:Cancelled Series
STATUS:CANCELLED
END:VEVENT
BEGIN:VEVENT
UID:news@station
DTSTART:20261102T120000Z
DURATION:PT15M
RRULE:FREQ=DAILY;UNTIL=20261104T120000Z
SUMMARY:Lunchtime News
END:VEVENT
BEGIN:VEVENT
UID:news@station
RECURRENCE-ID:20261103T120000Z
STATUS:CANCELLED
END:VEVENT
");
    let calendar = Calendar::parse(&text, LONDON).unwrap();
    assert!(calendar.notes.is_empty(), "{:?}", calendar.notes);
    let found = calendar.events_between(utc("2026-11-01T00:00:00Z"), utc("2026-11-10T00:00:00Z"));
    assert_eq!(
        starts(&found),
        [
            ("2026-11-02T12:00:00+00:00", "Lunchtime News"),
            ("2026-11-04T12:00:00+00:00", "Lunchtime News"),
        ]
        .map(|(t, s)| (t.to_string(), s.to_string()))
    );
    assert_eq!(found[0].end, Some(utc("2026-11-02T12:15:00Z")));
}

#[test]
fn all_day_events_are_noted_and_ignored() {
    let text = ics("BEGIN:VEVENT
UID:fair@station
DTSTART;VALUE=DATE:20261121
DTEND;VALUE=DATE:20261122
SUMMARY:Christmas Fair
END:VEVENT
BEGIN:VEVENT
UID:jazz@station
DTSTART;TZID=Europe/London:20261121T200000
SUMMARY:Jazz Hour
END:VEVENT
");
    let calendar = Calendar::parse(&text, LONDON).unwrap();
    assert_eq!(calendar.event_count(), 1);
    assert_eq!(calendar.notes.len(), 1, "{:?}", calendar.notes);
    assert!(
        calendar.notes[0].contains("\u{201c}Christmas Fair\u{201d} (UID fair@station)")
            && calendar.notes[0].contains("all-day"),
        "{}",
        calendar.notes[0]
    );
    // An event without an end is a slot with end None.
    let found = calendar.events_between(utc("2026-11-21T00:00:00Z"), utc("2026-11-22T00:00:00Z"));
    assert_eq!(found.len(), 1);
    assert_eq!(
        (found[0].start, found[0].end),
        (utc("2026-11-21T20:00:00Z"), None)
    );
}

#[test]
fn broken_events_are_skipped_with_a_note_and_the_rest_stay() {
    // Bad input: a start that is not a date, a repeat rule with an unknown
    // frequency, an event without a title, a line without a colon (the text
    // of the event cannot be parsed), and an event that never ends.
    let text = ics("BEGIN:VEVENT
UID:good-1@station
DTSTART:20261121T080000Z
DTEND:20261121T090000Z
SUMMARY:Morning Show
END:VEVENT
BEGIN:VEVENT
UID:bad-start@station
DTSTART:tomorrow morning
SUMMARY:Bad Start
END:VEVENT
BEGIN:VEVENT
UID:bad-rule@station
DTSTART:20261121T100000Z
RRULE:FREQ=SOMETIMES
SUMMARY:Bad Rule
END:VEVENT
BEGIN:VEVENT
UID:untitled@station
DTSTART:20261121T110000Z
END:VEVENT
BEGIN:VEVENT
UID:garbled@station
SUMMARY:Garbled
DTSTART:20261121T120000Z
<html><body>oops</body></html>
END:VEVENT
BEGIN:VEVENT
UID:open@station
SUMMARY:Never Ends
DTSTART:20261121T130000Z
BEGIN:VEVENT
UID:good-2@station
DTSTART:20261121T140000Z
SUMMARY:Afternoon Show
END:VEVENT
");
    let calendar = Calendar::parse(&text, LONDON).unwrap();
    let found = calendar.events_between(utc("2026-11-21T00:00:00Z"), utc("2026-11-22T00:00:00Z"));
    assert_eq!(
        found.iter().map(|e| e.title.as_str()).collect::<Vec<_>>(),
        ["Morning Show", "Afternoon Show"]
    );
    let notes = calendar.notes.join("\n");
    for (who, why) in [
        (
            "\u{201c}Bad Start\u{201d} (UID bad-start@station)",
            "DTSTART",
        ),
        ("\u{201c}Bad Rule\u{201d} (UID bad-rule@station)", "RRULE"),
        ("UID untitled@station", "no title"),
        ("\u{201c}Garbled\u{201d} (UID garbled@station)", "malformed"),
        ("\u{201c}Never Ends\u{201d} (UID open@station)", "malformed"),
    ] {
        assert!(
            notes
                .lines()
                .any(|line| line.contains(who) && line.contains(why)),
            "no note for {who} saying {why}:\n{notes}"
        );
    }
    assert_eq!(calendar.notes.len(), 5, "{notes}");
}

#[test]
fn floating_times_are_station_time_and_utc_times_are_utc() {
    let text = ics("BEGIN:VEVENT
UID:floating@station
DTSTART:20260701T100000
DTEND:20260701T110000
SUMMARY:Floating
END:VEVENT
BEGIN:VEVENT
UID:utc@station
DTSTART:20260701T100000Z
DTEND:20260701T110000Z
SUMMARY:Fixed
END:VEVENT
");
    let from = utc("2026-07-01T00:00:00Z");
    let to = utc("2026-07-02T00:00:00Z");
    let start_of = |tz: Tz, title: &str| {
        Calendar::parse(&text, tz)
            .unwrap()
            .events_between(from, to)
            .into_iter()
            .find(|e| e.title == title)
            .map(|e| e.start)
    };
    // 10:00 in London in July is BST; in New York it is EDT.
    assert_eq!(
        start_of(LONDON, "Floating"),
        Some(utc("2026-07-01T09:00:00Z"))
    );
    assert_eq!(
        start_of(chrono_tz::America::New_York, "Floating"),
        Some(utc("2026-07-01T14:00:00Z"))
    );
    assert_eq!(start_of(LONDON, "Fixed"), Some(utc("2026-07-01T10:00:00Z")));
    assert_eq!(
        start_of(chrono_tz::America::New_York, "Fixed"),
        Some(utc("2026-07-01T10:00:00Z"))
    );
}

#[test]
fn time_zones_without_iana_names_are_mapped_or_noted() {
    // Outlook's Windows name, a name of the service's own with the IANA
    // name beside it, a name with only its offsets (those of the station's
    // zone), a fixed offset, and (bad input) a name with a half-hour
    // offset that maps to nothing.
    let text = ics("BEGIN:VTIMEZONE
TZID:GMT Standard Time
BEGIN:STANDARD
DTSTART:16010101T020000
TZOFFSETFROM:+0100
TZOFFSETTO:+0000
END:STANDARD
BEGIN:DAYLIGHT
DTSTART:16010101T010000
TZOFFSETFROM:+0000
TZOFFSETTO:+0100
END:DAYLIGHT
END:VTIMEZONE
BEGIN:VTIMEZONE
TZID:Studio Berlin
X-LIC-LOCATION:Europe/Berlin
BEGIN:STANDARD
DTSTART:19701025T030000
TZOFFSETFROM:+0200
TZOFFSETTO:+0100
END:STANDARD
END:VTIMEZONE
BEGIN:VTIMEZONE
TZID:Our Local Time
BEGIN:STANDARD
DTSTART:19701025T020000
TZOFFSETFROM:+0100
TZOFFSETTO:+0000
RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU
END:STANDARD
BEGIN:DAYLIGHT
DTSTART:19700329T010000
TZOFFSETFROM:+0000
TZOFFSETTO:+0100
RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU
END:DAYLIGHT
END:VTIMEZONE
BEGIN:VTIMEZONE
TZID:Gulf
BEGIN:STANDARD
DTSTART:19700101T000000
TZOFFSETFROM:+0400
TZOFFSETTO:+0400
END:STANDARD
END:VTIMEZONE
BEGIN:VTIMEZONE
TZID:Mystery
BEGIN:STANDARD
DTSTART:19700101T000000
TZOFFSETFROM:+0530
TZOFFSETTO:+0530
END:STANDARD
END:VTIMEZONE
BEGIN:VEVENT
UID:a@station
DTSTART;TZID=GMT Standard Time:20260701T100000
SUMMARY:Windows Zone
END:VEVENT
BEGIN:VEVENT
UID:b@station
DTSTART;TZID=Studio Berlin:20260701T100000
SUMMARY:Berlin Link
END:VEVENT
BEGIN:VEVENT
UID:c@station
DTSTART;TZID=Our Local Time:20260701T100000
SUMMARY:Same Offsets
END:VEVENT
BEGIN:VEVENT
UID:d@station
DTSTART;TZID=Gulf:20260701T100000
SUMMARY:Fixed Offset
END:VEVENT
BEGIN:VEVENT
UID:e@station
DTSTART;TZID=Mystery:20260701T100000
SUMMARY:Unknown Zone
END:VEVENT
");
    let calendar = Calendar::parse(&text, LONDON).unwrap();
    let found = calendar.events_between(utc("2026-07-01T00:00:00Z"), utc("2026-07-02T00:00:00Z"));
    let start_of = |title: &str| {
        found
            .iter()
            .find(|e| e.title == title)
            .map(|e| e.start.to_rfc3339())
    };
    assert_eq!(
        start_of("Windows Zone").as_deref(),
        Some("2026-07-01T09:00:00+00:00")
    );
    assert_eq!(
        start_of("Berlin Link").as_deref(),
        Some("2026-07-01T08:00:00+00:00")
    );
    assert_eq!(
        start_of("Same Offsets").as_deref(),
        Some("2026-07-01T09:00:00+00:00")
    );
    assert_eq!(
        start_of("Fixed Offset").as_deref(),
        Some("2026-07-01T06:00:00+00:00")
    );
    // Read as London time (BST), with a note naming the zone.
    assert_eq!(
        start_of("Unknown Zone").as_deref(),
        Some("2026-07-01T09:00:00+00:00")
    );
    let notes = calendar.notes.join("\n");
    assert!(
        notes.contains("\u{201c}Mystery\u{201d} is not known"),
        "{notes}"
    );
    assert!(
        notes.contains("\u{201c}Our Local Time\u{201d} is not an IANA name"),
        "{notes}"
    );
    assert_eq!(calendar.notes.len(), 2, "{notes}");
}

#[test]
fn text_that_is_not_a_calendar_is_refused() {
    // Bad input: a login page, an empty answer, a calendar cut off halfway.
    let page = "<!DOCTYPE html><html><body>Sign in</body></html>";
    let e = Calendar::parse(page, LONDON).unwrap_err();
    assert!(e.to_string().starts_with("not a calendar"), "{e}");
    assert!(e.to_string().contains("<!DOCTYPE html>"), "{e}");
    assert!(matches!(
        Calendar::parse("", LONDON),
        Err(NotACalendar::NoCalendar(_))
    ));
    let whole = ics(WEEKLY);
    let cut = &whole[..whole.len() / 2];
    assert_eq!(
        Calendar::parse(cut, LONDON).unwrap_err(),
        NotACalendar::CutOff
    );
    // Folded lines, a byte-order mark and lower-case names are still a calendar.
    let folded = "\u{feff}begin:vcalendar\r\nBEGIN:VEVENT\r\nUID:x\r\nSUMMARY:Long\r\n  Title\r\nDTSTART:20261121T100000Z\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
    let calendar = Calendar::parse(folded, LONDON).unwrap();
    let found = calendar.events_between(utc("2026-11-21T00:00:00Z"), utc("2026-11-22T00:00:00Z"));
    assert_eq!(
        found.iter().map(|e| e.title.as_str()).collect::<Vec<_>>(),
        ["Long Title"]
    );
}

/// A tiny HTTP server that answers every request with what the test set.
struct Server {
    address: SocketAddr,
    answer: Arc<Mutex<(u16, String)>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    fn start(address: &str, answer: Arc<Mutex<(u16, String)>>) -> Server {
        let listener = TcpListener::bind(address).unwrap();
        let address = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let thread = std::thread::spawn({
            let answer = Arc::clone(&answer);
            let stop = Arc::clone(&stop);
            move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        return;
                    }
                    let Ok(mut stream) = stream else { continue };
                    let mut request = Vec::new();
                    let mut buffer = [0u8; 1024];
                    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                        match stream.read(&mut buffer) {
                            Ok(0) | Err(_) => break,
                            Ok(n) => request.extend_from_slice(&buffer[..n]),
                        }
                    }
                    let (status, body) = answer.lock().unwrap().clone();
                    let _ = write!(
                        stream,
                        "HTTP/1.1 {status} X\r\nContent-Type: text/calendar\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                }
            }
        });
        Server {
            address,
            answer,
            stop,
            thread: Some(thread),
        }
    }

    fn url(&self) -> String {
        format!("http://{}/basic.ics", self.address)
    }

    /// Closes the port: fetches are refused from then on.
    fn shut(mut self) -> SocketAddr {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.address);
        if let Some(thread) = self.thread.take() {
            thread.join().unwrap();
        }
        self.address
    }

    fn set(&self, status: u16, body: &str) {
        *self.answer.lock().unwrap() = (status, body.to_string());
    }
}

fn wait_for(
    what: &str,
    watch: &CalendarWatch,
    done: impl Fn(&CalendarInUse) -> bool,
) -> CalendarInUse {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let snapshot = watch.snapshot();
        if done(&snapshot) {
            return snapshot;
        }
        assert!(Instant::now() < deadline, "{what}: {:#?}", snapshot.state);
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn simulated(start: &str) -> Clock {
    Clock::Simulated {
        start: utc(start),
        speed: 60.0,
        epoch: SystemTime::now(),
    }
}

#[test]
fn fetched_calendar_survives_outage_garbage_and_restart() {
    let data = scratch("watch");
    let answer = Arc::new(Mutex::new((200, ics(WEEKLY))));
    let server = Server::start("127.0.0.1:0", Arc::clone(&answer));
    let url = server.url();
    let config = CalendarConfig {
        source: CalendarSource::Url(url.clone()),
        refresh_minutes: 1,
        check_ahead_minutes: 60,
    };
    let from = utc("2026-10-01T00:00:00Z");
    let to = utc("2026-11-22T00:00:00Z");
    // One station minute between fetches is one real second at speed 60.
    let watch = CalendarWatch::start(
        &config,
        data.clone(),
        LONDON,
        simulated("2026-10-20T12:00:00Z"),
    )
    .unwrap();
    let first = wait_for("first fetch", &watch, |s| s.event_count() > 0);
    assert_eq!(first.events_between(from, to).len(), 5);
    assert_eq!(first.state.source, url);
    assert!(first.state.loaded_at.is_some() && !first.is_stale());
    assert!(data.join(CACHE_FILE).is_file(), "the good copy is kept");
    let loaded_at = first.state.loaded_at;

    // Bad input: the server goes away.
    let address = server.shut();
    let stale = wait_for("stale after outage", &watch, |s| s.is_stale());
    let since = stale.state.stale_since.unwrap();
    assert!(
        since > loaded_at.unwrap(),
        "stale since the failed fetch, after the good one"
    );
    let problem = stale.state.problem.clone().unwrap();
    assert!(problem.contains("cannot be reached"), "{problem}");
    assert!(problem.contains("stays in use"), "{problem}");
    assert_eq!(
        stale.events_between(from, to).len(),
        5,
        "the cached schedule stays"
    );
    assert_eq!(stale.state.loaded_at, loaded_at);

    // Bad input: the server is back but serves a web page.
    let server = Server::start(&address.to_string(), Arc::clone(&answer));
    server.set(200, "<html><body>Please sign in</body></html>");
    let garbage = wait_for("not a calendar", &watch, |s| {
        s.state
            .problem
            .as_deref()
            .is_some_and(|p| p.contains("not a calendar"))
    });
    assert_eq!(
        garbage.state.stale_since,
        Some(since),
        "still stale since the first failure"
    );
    assert_eq!(garbage.events_between(from, to).len(), 5);
    let cached = std::fs::read_to_string(data.join(CACHE_FILE)).unwrap();
    assert!(
        cached.contains("Saturday Breakfast"),
        "the cache keeps the good copy"
    );

    // Bad input: an HTTP error.
    server.set(404, "Not Found");
    wait_for("HTTP error", &watch, |s| {
        s.state
            .problem
            .as_deref()
            .is_some_and(|p| p.contains("HTTP 404"))
    });

    // Good again: a calendar with one more programme.
    let more = format!(
        "{WEEKLY}BEGIN:VEVENT\nUID:late@station\nDTSTART:20261021T220000Z\nSUMMARY:Late Jazz\nEND:VEVENT\n"
    );
    server.set(200, &ics(&more));
    let good = wait_for("good again", &watch, |s| {
        !s.is_stale() && s.event_count() == 2
    });
    assert_eq!(good.state.problem, None);
    assert!(good.generation > first.generation);
    assert_eq!(good.events_between(from, to).len(), 6);
    drop(watch);

    // A restart while the source is unreachable: the cache is in use at
    // once, and the failed fetch marks it stale.
    let address = server.shut();
    let watch = CalendarWatch::start(
        &config,
        data.clone(),
        LONDON,
        simulated("2026-10-21T12:00:00Z"),
    )
    .unwrap();
    let restarted = watch.snapshot();
    assert_eq!(
        restarted.events_between(from, to).len(),
        6,
        "from the cache"
    );
    let stale = wait_for("stale after restart", &watch, |s| s.is_stale());
    assert_eq!(stale.events_between(from, to).len(), 6);
    assert!(
        stale
            .state
            .problem
            .as_deref()
            .unwrap()
            .contains(&address.to_string())
    );
    drop(watch);
    std::fs::remove_dir_all(&data).unwrap();
}

#[test]
fn a_calendar_with_no_slots_does_not_replace_one_with_slots() {
    let data = scratch("empty");
    let file = data.join("station.ics");
    std::fs::write(&file, ics(WEEKLY)).unwrap();
    let source = CalendarSource::File(file.clone());
    let mut loader = Loader::new(source.clone(), data.clone(), LONDON, true);
    loader.refresh(utc("2026-10-20T12:00:00Z"));
    assert_eq!(loader.snapshot().event_count(), 1);

    // Bad input: the same file emptied of events (only an all-day one left).
    std::fs::write(
        &file,
        ics("BEGIN:VEVENT\nUID:fair\nDTSTART;VALUE=DATE:20261121\nSUMMARY:Fair\nEND:VEVENT\n"),
    )
    .unwrap();
    loader.refresh(utc("2026-10-20T12:15:00Z"));
    let snapshot = loader.snapshot();
    assert_eq!(snapshot.event_count(), 1, "the calendar with slots stays");
    let problem = snapshot.state.problem.as_deref().unwrap();
    assert!(problem.contains("no events that can be slots"), "{problem}");
    assert!(problem.contains("Fair"), "{problem}");
    assert_eq!(
        snapshot.state.stale_since,
        Some(utc("2026-10-20T12:15:00Z"))
    );

    // Bad input: the file is gone; load_once (the CLI) falls back to the cache.
    std::fs::remove_file(&file).unwrap();
    let config = CalendarConfig {
        source: source.clone(),
        refresh_minutes: 15,
        check_ahead_minutes: 60,
    };
    let once = load_once(&config, &data, LONDON, utc("2026-10-20T13:00:00Z"));
    assert_eq!(once.event_count(), 1);
    assert_eq!(once.state.loaded_at, Some(utc("2026-10-20T12:00:00Z")));
    assert!(
        once.state
            .problem
            .as_deref()
            .unwrap()
            .contains("cannot read the calendar file")
    );

    // A cache of another source is not used.
    let other = CalendarConfig {
        source: CalendarSource::File(data.join("other.ics")),
        ..config
    };
    let once = load_once(&other, &data, LONDON, utc("2026-10-20T13:00:00Z"));
    assert_eq!(once.event_count(), 0);
    assert!(
        once.state
            .problem
            .as_deref()
            .unwrap()
            .contains("no earlier copy"),
        "{:?}",
        once.state.problem
    );
    std::fs::remove_dir_all(&data).unwrap();
}

#[test]
fn oversized_calendars_are_refused() {
    let data = scratch("large");
    let file = data.join("huge.ics");
    // Bad input: a file past the size limit.
    let filler = "X-FILLER:".to_string() + &"x".repeat(1000) + "\r\n";
    std::fs::write(&file, ics(&filler.repeat(5000))).unwrap();
    let e = source::fetch(&CalendarSource::File(file)).unwrap_err();
    assert!(matches!(e, FetchError::TooLarge { .. }), "{e}");
    assert!(e.to_string().contains("larger than 4 MiB"), "{e}");
    std::fs::remove_dir_all(&data).unwrap();
}

#[test]
fn repeat_rules_ending_in_local_time_or_on_a_date_are_honoured() {
    // Bad input (by the RFC): UNTIL as a plain date and as a local time on
    // events with a zone; both are read in the event's zone.
    let text = ics("BEGIN:VEVENT
UID:date-until@station
DTSTART;TZID=Europe/London:20261102T090000
RRULE:FREQ=DAILY;UNTIL=20261104
SUMMARY:Until A Date
END:VEVENT
BEGIN:VEVENT
UID:local-until@station
DTSTART;TZID=Europe/London:20261102T100000
RRULE:FREQ=DAILY;UNTIL=20261103T100000
SUMMARY:Until Local
END:VEVENT
");
    let calendar = Calendar::parse(&text, LONDON).unwrap();
    assert!(calendar.notes.is_empty(), "{:?}", calendar.notes);
    let found = calendar.events_between(utc("2026-11-01T00:00:00Z"), utc("2026-11-10T00:00:00Z"));
    let days = |title: &str| {
        found
            .iter()
            .filter(|e| e.title == title)
            .map(|e| e.start.format("%d %H:%M").to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(days("Until A Date"), ["02 09:00", "03 09:00", "04 09:00"]);
    assert_eq!(days("Until Local"), ["02 10:00", "03 10:00"]);
}
