//! The box under systemd, with the test as its service manager: the real
//! binary is started with `NOTIFY_SOCKET` pointing at a datagram socket the
//! test reads, and `WATCHDOG_USEC` of one second, as `WatchdogSec=1s` would.
//! It must say READY once audio flows, feed the watchdog every half second
//! while its engine makes audio (also with nothing to play), starve it
//! while the mixer is stalled (a test hook: SIGUSR1/SIGUSR2), show its
//! one-line status, and on SIGTERM say STOPPING, stop in order and exit 0.

use crate::common;

use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::*;

/// The watchdog interval the tests give the box (`WATCHDOG_USEC`).
const WATCHDOG: Duration = Duration::from_secs(1);
/// How long the box has from start to READY=1.
const READY_TIMEOUT: Duration = Duration::from_secs(15);

/// One line of a notification datagram, and when it arrived.
#[derive(Debug, Clone)]
struct Heard {
    at: Instant,
    line: String,
}

/// The test's end of the notify socket: every line the box sends, in order.
struct Manager {
    heard: Receiver<Heard>,
    _reader: JoinHandle<()>,
}

impl Manager {
    fn bind(path: &Path) -> Manager {
        let socket = UnixDatagram::bind(path)
            .unwrap_or_else(|e| panic!("cannot bind {}: {e}", path.display()));
        let (tx, heard) = channel();
        let reader = std::thread::spawn(move || {
            let mut buffer = vec![0u8; 64 * 1024];
            // Ends when the test drops the receiver (its send fails).
            while let Ok(n) = socket.recv(&mut buffer) {
                let at = Instant::now();
                let text = String::from_utf8_lossy(&buffer[..n]).into_owned();
                for line in text.lines() {
                    let sent = tx.send(Heard {
                        at,
                        line: line.to_string(),
                    });
                    if sent.is_err() {
                        return;
                    }
                }
            }
        });
        Manager {
            heard,
            _reader: reader,
        }
    }

    /// Every line heard within `span` from now.
    fn listen(&self, span: Duration) -> Vec<Heard> {
        let end = Instant::now() + span;
        let mut lines = Vec::new();
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match self.heard.recv_timeout(left) {
                Ok(heard) => lines.push(heard),
                Err(RecvTimeoutError::Timeout) => return lines,
                Err(RecvTimeoutError::Disconnected) => panic!("the notify socket's reader died"),
            }
        }
    }

    /// Waits up to `timeout` for a line `wanted` accepts; the lines heard
    /// before it come back too, for the failure message.
    fn wait_for(
        &self,
        timeout: Duration,
        wanted: impl Fn(&str) -> bool,
    ) -> (Option<Heard>, Vec<String>) {
        let end = Instant::now() + timeout;
        let mut before = Vec::new();
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match self.heard.recv_timeout(left) {
                Ok(heard) if wanted(&heard.line) => return (Some(heard), before),
                Ok(heard) => before.push(heard.line),
                Err(_) => return (None, before),
            }
        }
    }
}

/// A station whose box talks to `Manager` at `<dir>/notify.sock`, on the
/// wall clock's pace (a simulated clock at speed 1).
fn supervised(name: &str) -> (Station, Manager) {
    let mut station = Station::new(name);
    station.clock("2026-03-02 09:00:00", 1.0);
    let socket = station.dir().join("notify.sock");
    let manager = Manager::bind(&socket);
    station
        .env("NOTIFY_SOCKET", &socket.display().to_string())
        .env("WATCHDOG_USEC", &WATCHDOG.as_micros().to_string());
    (station, manager)
}

fn pings(lines: &[Heard]) -> Vec<Instant> {
    lines
        .iter()
        .filter(|h| h.line == "WATCHDOG=1")
        .map(|h| h.at)
        .collect()
}

/// Over `span` after `from`, pings came at least every half interval or
/// so, never as far apart as the watchdog interval itself.
fn assert_fed(from: Instant, lines: &[Heard], span: Duration, station: &Station) {
    let pings = pings(lines);
    let mut times = vec![from];
    times.extend(&pings);
    times.push(from + span);
    let longest = times
        .windows(2)
        .map(|w| w[1].saturating_duration_since(w[0]))
        .max()
        .unwrap_or_default();
    assert!(
        longest < WATCHDOG && pings.len() as f64 >= span.as_secs_f64() / WATCHDOG.as_secs_f64(),
        "{} pings in {span:?}, longest gap {longest:?} (the watchdog bites at {WATCHDOG:?})\n{}",
        pings.len(),
        station.box_logs()
    );
}

fn statuses(lines: &[Heard]) -> Vec<&str> {
    lines
        .iter()
        .filter_map(|h| h.line.strip_prefix("STATUS="))
        .collect()
}

/// READY=1 arrives (after audio flows); returns what came before it.
fn wait_ready(manager: &Manager, station: &Station) -> Vec<String> {
    let (ready, before) = manager.wait_for(READY_TIMEOUT, |l| l == "READY=1");
    assert!(
        ready.is_some(),
        "no READY=1 within {READY_TIMEOUT:?}; heard {before:?}\n{}",
        station.box_logs()
    );
    assert!(
        !before.iter().any(|l| l == "WATCHDOG=1"),
        "the watchdog was fed before READY: {before:?}"
    );
    before
}

/// SIGTERM: STOPPING=1, a clean exit, and `stopped` in the box's log.
fn assert_stops_in_order(station: &mut Station, manager: &Manager) {
    station.terminate();
    let (stopping, before) = manager.wait_for(Duration::from_secs(2), |l| l == "STOPPING=1");
    assert!(
        stopping.is_some(),
        "no STOPPING=1 after SIGTERM; heard {before:?}\n{}",
        station.box_logs()
    );
    let logs = station.box_logs();
    assert!(
        logs.lines().any(|l| l.trim_end().ends_with(" stopped")),
        "the box did not log `stopped`:\n{logs}"
    );
}

#[test]
fn the_watchdog_is_fed_while_audio_flows_and_starves_while_the_mixer_is_stalled() {
    let (mut station, manager) = supervised("service-stall");
    station.filler(440, 30.0);
    station.env("ONAIR_TEST_STALL_SIGNALS", "1");
    station.start();
    wait_ready(&manager, &station);

    let from = Instant::now();
    let running = manager.listen(Duration::from_secs(3));
    assert_fed(from, &running, Duration::from_secs(3), &station);
    let shown = statuses(&running);
    assert!(
        shown
            .iter()
            .any(|s| s.starts_with("Test FM · FILLER · on air: filler-440hz")),
        "no STATUS= line with the station, its mode and what is on air: {shown:?}"
    );

    // Stalled: the mixer stops at its next block, and what it made before
    // may still feed a look or two (one every half interval); after that
    // nothing, for more than two intervals, while the process lives on.
    station.signal(libc::SIGUSR1);
    let settling = manager.listen(WATCHDOG);
    assert!(
        pings(&settling).len() <= 2,
        "fed the watchdog {} times in the {WATCHDOG:?} after the stall",
        pings(&settling).len(),
    );
    let stalled = manager.listen(WATCHDOG * 5 / 2);
    assert!(
        pings(&stalled).is_empty(),
        "the watchdog was fed while the mixer was stalled: {stalled:?}\n{}",
        station.box_logs()
    );
    assert!(
        statuses(&stalled)
            .iter()
            .chain(statuses(&settling).iter())
            .any(|s| s.starts_with("ENGINE STALLED")),
        "the status does not say the engine is stalled: {:?}",
        statuses(&stalled)
    );
    assert_eq!(station.exited(), None, "the box died while stalled");

    // Going on: the pings come back within a look or two.
    station.signal(libc::SIGUSR2);
    let (ping, heard) = manager.wait_for(WATCHDOG * 3 / 2, |l| l == "WATCHDOG=1");
    assert!(
        ping.is_some(),
        "no WATCHDOG=1 after the mixer went on; heard {heard:?}\n{}",
        station.box_logs()
    );
    let from = Instant::now();
    let again = manager.listen(Duration::from_secs(2));
    assert_fed(from, &again, Duration::from_secs(2), &station);

    assert_stops_in_order(&mut station, &manager);
}

#[test]
fn a_box_with_nothing_to_play_still_makes_audio_and_feeds_the_watchdog() {
    // No programme, no filler, no emergency file: silence, but the engine
    // runs, and a restart would not help.
    let (mut station, manager) = supervised("service-silent");
    station.start();
    let mut shown = wait_ready(&manager, &station);
    let from = Instant::now();
    let lines = manager.listen(Duration::from_secs(3));
    assert_fed(from, &lines, Duration::from_secs(3), &station);
    // Nothing changes in a silent box: its line may have been sent once,
    // before READY.
    shown.extend(lines.iter().map(|h| h.line.clone()));
    let shown: Vec<&str> = shown
        .iter()
        .filter_map(|l| l.strip_prefix("STATUS="))
        .collect();
    assert!(
        shown
            .iter()
            .any(|s| s.starts_with("Test FM · SILENT · on air: nothing")),
        "{shown:?}"
    );
    assert_stops_in_order(&mut station, &manager);
}

#[test]
fn without_a_notify_socket_the_box_runs_as_it_always_did() {
    let mut station = Station::new("service-none");
    station.clock("2026-03-02 09:00:00", 1.0);
    station.filler(440, 30.0);
    // A watchdog interval alone (no socket) changes nothing either.
    station.env("WATCHDOG_USEC", "1000000");
    station.start();
    std::thread::sleep(Duration::from_secs(2));
    let short = station.command("status", &["--short"]);
    let text = String::from_utf8_lossy(&short.stdout);
    assert!(
        short.status.success()
            && text.lines().count() == 1
            && text.starts_with("Test FM · FILLER · on air: filler-440hz"),
        "onair status --short: {}\n{text}{}",
        short.status,
        String::from_utf8_lossy(&short.stderr)
    );
    station.terminate();
    let logs = station.box_logs();
    assert!(
        !logs.contains("systemd") && logs.lines().any(|l| l.trim_end().ends_with(" stopped")),
        "{logs}"
    );
}
