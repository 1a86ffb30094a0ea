//! The status page as a station engineer sees it: the real box on a
//! simulated clock, the page loaded in headless Chromium (its script run,
//! its DOM read back), checked for what a person reads off it.

use crate::common;
use crate::common::icecast as server;

use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::page::{browse, element, shown, text, tidy};
use common::*;
use scraper::{ElementRef, Html, Selector};

/// The box's web address, from the file it writes once it listens.
fn web_address(s: &Station) -> SocketAddr {
    let path = s.dir().join("state").join("web-address");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(text) = std::fs::read_to_string(&path)
            && let Ok(address) = text.trim().parse()
        {
            return address;
        }
        assert!(
            Instant::now() < deadline,
            "the box did not write its web address to {}",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The rows of table body `id`, each as its cells' text.
fn table(page: &Html, id: &str) -> Vec<Vec<String>> {
    let tr = Selector::parse("tr").unwrap();
    let td = Selector::parse("td").unwrap();
    element(page, id)
        .select(&tr)
        .map(|row| row.select(&td).map(|c| tidy(c.text().collect())).collect())
        .collect()
}

/// `m:ss` or `h:mm:ss` as seconds.
fn clock_seconds(text: &str) -> Option<i64> {
    text.split(':').try_fold(0i64, |total, part| {
        Some(total * 60 + part.parse::<i64>().ok()?)
    })
}

/// The number in a meter's reading, like `-6.0 dBFS`.
fn dbfs(reading: &str) -> f64 {
    reading
        .strip_suffix(" dBFS")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("the meter reads {reading:?}, expected like \"-6.0 dBFS\""))
}

fn page_context(page: &Html) -> String {
    format!(
        "\n--- page text:\n{}",
        tidy(element(page, "station").text().collect::<String>())
            + " "
            + &tidy(
                page.select(&Selector::parse("main").unwrap())
                    .next()
                    .map(|m| m.text().collect())
                    .unwrap_or_default()
            )
    )
}

/// Filler, a programme that has aired, one on air and one to come, in a
/// zone that is neither UTC nor the browser's.
fn station_with_programmes(name: &str) -> Station {
    let mut s = Station::new(name);
    s.timezone(chrono_tz::Europe::Helsinki);
    s.filler(3000, 30.0);
    s.filler(3300, 30.0);
    s.programme("2026-03-02 00:59", "breakfast-show", 400, 50.0, "wav");
    // Twenty-five minutes (25 real seconds) for a browser to start and
    // load the page in on a loaded machine, in mono at 8 kHz to keep the
    // file small.
    s.programme_wav("2026-03-02 01:00", "morning-show", 700, 1500.0, 8000, 1);
    s.programme("2026-03-02 01:30", "news", 1000, 30.0, "wav");
    s
}

#[test]
fn the_page_shows_what_is_on_air_what_is_next_and_what_has_aired() {
    let mut s = station_with_programmes("page");
    s.start();
    let address = web_address(&s);
    // Half a minute into the morning show, which runs to 01:25.
    s.wait_until(s.local("2026-03-02 01:00:30"));
    let page = browse(s.dir(), &format!("http://{address}/"), 2500);
    let context = page_context(&page);

    assert_eq!(text(&page, "station"), "Test FM", "{context}");
    assert_eq!(text(&page, "mode"), "AUTO", "{context}");
    assert_eq!(text(&page, "title"), "Morning Show", "{context}");
    assert!(!shown(&page, "stale"), "stale warning: {context}");
    assert_eq!(text(&page, "zone"), "Europe/Helsinki", "{context}");
    assert!(shown(&page, "simulated"), "{context}");
    assert_eq!(text(&page, "simulated"), "simulated clock ×60", "{context}");

    // Station-local times (Helsinki, UTC+2): the same instants would read
    // 23:00 in UTC and 15:00 in the browser's own zone.
    assert_eq!(
        text(&page, "times"),
        "since 01:00:00 · until 01:25:00",
        "{context}"
    );
    let clock = text(&page, "clock");
    let now = clock_seconds(&clock).unwrap_or_else(|| panic!("clock reads {clock:?}"));
    assert!(
        (3630..5100).contains(&now),
        "the clock reads {clock}, expected shortly after 01:00:30{context}"
    );
    // Time left is counted to the end the page shows, from the page's clock.
    let left = text(&page, "left");
    let left_s = left
        .strip_suffix(" left")
        .and_then(clock_seconds)
        .unwrap_or_else(|| panic!("time left reads {left:?}{context}"));
    assert_eq!(left_s, 3600 + 1500 - now, "left {left} at {clock}{context}");

    assert_eq!(text(&page, "next-time"), "01:30", "{context}");
    assert_eq!(text(&page, "next-title"), "News", "{context}");
    let next_in = text(&page, "next-in");
    let next_in_s = next_in
        .strip_prefix("in ")
        .and_then(clock_seconds)
        .unwrap_or_else(|| panic!("next reads {next_in:?}{context}"));
    assert_eq!(next_in_s, 3600 + 1800 - now, "next {next_in} at {clock}");

    // The tones are generated at −6 dBFS peak, on both channels.
    for side in ["level-l", "level-r"] {
        let level = dbfs(&text(&page, side));
        assert!(
            (-7.0..=-5.0).contains(&level),
            "{side} reads {level} dBFS, the programme peaks at -6{context}"
        );
    }

    // As-run log, newest first: the morning show on air, filler faded out
    // at the hour, the breakfast show that ended by itself, filler before.
    let log = table(&page, "log");
    assert!(log.len() >= 4, "as-run rows {log:?}");
    assert_eq!(
        log[0],
        ["01:00:00", "", "scheduled", "Morning Show", "on air"],
        "{log:?}"
    );
    assert_eq!(log[1][0], "00:59:50", "{log:?}");
    assert_eq!(
        log[1][1..3],
        ["01:00:00", "filler"],
        "filler from the breakfast show's end to the hour: {log:?}"
    );
    assert_eq!(log[1][4], "faded", "{log:?}");
    assert_eq!(
        log[2],
        [
            "00:59:00",
            "00:59:50",
            "scheduled",
            "Breakfast Show",
            "natural"
        ],
        "{log:?}"
    );
    assert!(
        log[3..]
            .iter()
            .all(|row| row[2] == "filler" && row[3].starts_with("filler-")),
        "before 00:59 only filler aired: {log:?}"
    );
    assert_eq!(
        log[3][1], "00:59:00",
        "filler ends at the breakfast show: {log:?}"
    );

    let outputs = table(&page, "outputs");
    assert_eq!(outputs.len(), 1, "{outputs:?}");
    assert!(
        outputs[0][0].starts_with("wav ") && outputs[0][0].ends_with("out.wav"),
        "{outputs:?}"
    );
    let frames: u64 = outputs[0][1].parse().unwrap();
    // More than two minutes of station time at 8 kHz have gone out.
    assert!(frames > 120 * 8000, "frames out {frames}");
    assert_eq!(
        &outputs[0][2..],
        ["0", "0", "0"],
        "dropped, underruns, errors"
    );

    assert_eq!(text(&page, "ignored-count"), "0");
    assert!(!shown(&page, "ignored-table"));
    assert_eq!(text(&page, "warnings"), "");
    assert!(shown(&page, "no-warnings"));
    assert!(!shown(&page, "streams-section"), "no streams: {context}");
    s.terminate();
}

#[test]
fn each_stream_shows_whether_listeners_get_it_and_why_not() {
    let icecast = server::Icecast::start("page");
    let closed = server::free_port();
    let stream = |port: u16, password: &str, mount: &str| {
        format!(
            "kind = \"icecast\"\nhost = \"127.0.0.1\"\nport = {port}\nmount = \"{mount}\"\n\
             password = \"{password}\"\nbitrate = 64\n"
        )
    };
    let mut s = Station::new("page-streams");
    // Icecast runs in real time.
    s.clock("2026-03-02 00:59:50", 1.0)
        .output(&stream(icecast.port, server::SOURCE_PASSWORD, "/live.mp3"))
        // Bad input: the wrong source password, and a port nobody listens on.
        .output(&stream(icecast.port, "not-the-password", "/wrong.mp3"))
        .output(&stream(closed, server::SOURCE_PASSWORD, "/gone.mp3"));
    s.programme("2026-03-02 00:59", "morning-show", 400, 70.0, "wav");
    s.start();
    let address = web_address(&s);
    let up = icecast.wait_for(Duration::from_secs(5), |i| i.mount("/live.mp3").is_some());
    assert!(up.is_some(), "the stream never reached the server");
    std::thread::sleep(Duration::from_secs(2));
    let page = browse(s.dir(), &format!("http://{address}/"), 2500);
    let context = page_context(&page);
    s.terminate();

    assert!(shown(&page, "streams-section"), "{context}");
    let streams = table(&page, "streams");
    assert_eq!(streams.len(), 3, "{streams:?}");
    let [live, wrong, gone] = [&streams[0], &streams[1], &streams[2]];
    let port = icecast.port;
    assert_eq!(live[0], format!("icecast 127.0.0.1:{port}/live.mp3"));
    assert!(live[1].starts_with("connected since "), "{live:?}");
    assert!(live[2].ends_with(" kB"), "bytes sent: {live:?}");
    assert_ne!(live[2], "0 kB", "{live:?}");
    assert_eq!(live[3], "0", "reconnects: {live:?}");
    assert_eq!(live[5], "Morning Show", "{live:?}");
    assert!(
        wrong[1].starts_with("refused, next attempt ")
            && wrong[1].contains("check the user and password"),
        "{wrong:?}"
    );
    assert_eq!(wrong[2], "0 kB", "{wrong:?}");
    assert!(
        gone[1].starts_with("retrying at ") && gone[1].contains("cannot reach"),
        "{gone:?}"
    );
    assert_ne!(gone[4], "0", "audio discarded while down: {gone:?}");

    // The as-run log shows the streams going up or failing, with why.
    let log = table(&page, "log");
    let wrong_event = log
        .iter()
        .find(|row| row[2] == "stream" && row[3].ends_with("/wrong.mp3"))
        .unwrap_or_else(|| panic!("no stream event for /wrong.mp3: {log:?}"));
    assert!(wrong_event[3].starts_with("down: "), "{wrong_event:?}");
    assert!(
        wrong_event[4].contains("check the user and password"),
        "{wrong_event:?}"
    );
    assert!(
        log.iter()
            .any(|row| row[2] == "stream" && row[3] == format!("up: {}", live[0])),
        "{log:?}"
    );
}

#[test]
fn a_box_with_nothing_to_play_says_silent_and_why() {
    // No programme, no filler, no emergency file; one file the box cannot
    // schedule because its name has no date and time.
    let mut s = Station::new("page-silent");
    let stray = s.dir().join("programmes").join("breakfast.wav");
    tone::write_tone(&stray, 400, 5.0, 8000, 2);
    s.start();
    let address = web_address(&s);
    s.wait_until(s.local("2026-03-02 00:59:00"));
    let page = browse(s.dir(), &format!("http://{address}/"), 2500);
    let context = page_context(&page);

    assert_eq!(text(&page, "mode"), "SILENT", "{context}");
    assert!(
        element(&page, "mode")
            .value()
            .has_class("silent", scraper::CaseSensitivity::CaseSensitive),
        "{context}"
    );
    assert_eq!(text(&page, "title"), "Nothing on air", "{context}");
    assert_eq!(text(&page, "left"), "");
    assert_eq!(text(&page, "next-title"), "nothing scheduled", "{context}");
    let warnings: Vec<String> = element(&page, "warnings")
        .select(&Selector::parse("li").unwrap())
        .map(|li| tidy(li.text().collect()))
        .collect();
    assert!(
        warnings
            .iter()
            .any(|w| w == "silent: no programme, filler or emergency file can play"),
        "warnings {warnings:?}"
    );
    assert!(!shown(&page, "no-warnings"));
    for side in ["level-l", "level-r"] {
        assert_eq!(text(&page, side), "below −60 dBFS", "{context}");
    }
    assert!(table(&page, "log").is_empty(), "{:?}", table(&page, "log"));

    assert_eq!(text(&page, "ignored-count"), "1", "{context}");
    assert!(shown(&page, "ignored-table"));
    let ignored = table(&page, "ignored");
    assert_eq!(ignored[0][0], "breakfast.wav", "{ignored:?}");
    assert!(!ignored[0][1].is_empty(), "no reason given: {ignored:?}");
    s.terminate();
}

/// Stands between the browser and the box like the studio network: passes
/// everything through for `up` (real time), then goes down: every open
/// connection (the page's live feed too) is cut, and new ones are closed
/// unanswered.
struct Network {
    address: SocketAddr,
    down: Arc<AtomicBool>,
    /// Connections made while up.
    connections: Arc<AtomicUsize>,
}

impl Network {
    fn new(to: SocketAddr, up: Duration) -> Network {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        let down = Arc::new(AtomicBool::new(false));
        let connections = Arc::new(AtomicUsize::new(0));
        let open: Arc<std::sync::Mutex<Vec<TcpStream>>> = Arc::default();
        let (flag, cut) = (down.clone(), open.clone());
        std::thread::spawn(move || {
            std::thread::sleep(up);
            flag.store(true, Ordering::SeqCst);
            for stream in cut.lock().unwrap().drain(..) {
                let _ = stream.shutdown(Shutdown::Both);
            }
        });
        let (flag, count) = (down.clone(), connections.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { return };
                if flag.load(Ordering::SeqCst) {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                }
                let Ok(server) = TcpStream::connect(to) else {
                    continue;
                };
                count.fetch_add(1, Ordering::SeqCst);
                let mut list = open.lock().unwrap();
                list.push(client.try_clone().unwrap());
                list.push(server.try_clone().unwrap());
                drop(list);
                let (client_in, server_out) =
                    (client.try_clone().unwrap(), server.try_clone().unwrap());
                std::thread::spawn(move || pump(server_out, client));
                std::thread::spawn(move || pump(client_in, server));
            }
        });
        Network {
            address,
            down,
            connections,
        }
    }
}

fn pump(mut from: TcpStream, mut to: TcpStream) {
    let _ = std::io::copy(&mut from, &mut to);
    let _ = to.shutdown(Shutdown::Both);
}

#[test]
fn the_page_says_when_the_box_stops_answering() {
    let mut s = station_with_programmes("page-stale");
    s.start();
    let address = web_address(&s);
    s.wait_until(s.local("2026-03-02 01:00:30"));
    // The browser takes a moment to start; the page then has the box's
    // live feed for a few seconds, and the network is down for the rest
    // of its time.
    let network = Network::new(address, Duration::from_secs(4));
    let page = browse(s.dir(), &format!("http://{}/", network.address), 9000);
    let context = page_context(&page);
    assert!(
        network.down.load(Ordering::SeqCst) && network.connections.load(Ordering::SeqCst) > 0,
        "the page never reached the box before the network went down"
    );

    assert!(shown(&page, "stale"), "no stale warning{context}");
    let warning = text(&page, "stale");
    assert!(
        warning.starts_with("No answer from the box for ")
            && warning.contains(&format!(
                "what is shown is from {} station time",
                text(&page, "clock")
            )),
        "stale warning reads {warning:?}"
    );
    // The last news stays readable beneath the warning.
    assert_eq!(text(&page, "title"), "Morning Show", "{context}");
    assert!(
        element(&page, "stale")
            .parent()
            .and_then(ElementRef::wrap)
            .is_some_and(|body| body
                .value()
                .has_class("stale", scraper::CaseSensitivity::CaseSensitive)),
        "the page is not dimmed"
    );
    s.terminate();
}
