//! Running under systemd (`Type=notify`, see `board/onair.service`): the box
//! tells the service manager it is ready once audio flows, feeds its
//! watchdog only while the engine's frame counter advances, shows its
//! one-line status (`systemctl status onair`), and says when it stops.
//!
//! A frozen mixer, or a sound card that stopped taking audio (it paces the
//! mixer, so the counter stands still), starves the watchdog and systemd
//! restarts the box; the power-cut resume then puts the programme back. A
//! box with nothing to play is not restarted: its engine still plays
//! silence, and its counter advances.
//!
//! Without `NOTIFY_SOCKET` (not started by systemd) none of this runs. The
//! audio path does not know about it: a thread of its own reads the
//! engine's counter, an atomic, and does the talking.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use chrono_tz::Tz;
use sd_notify::NotifyState;
use tokio::sync::watch;
use tracing::{info, warn};

use crate::engine::Meters;
use crate::status::Status;

/// Until audio flows the counter is looked at this often, so that
/// `systemctl start onair` returns soon after the first block.
const READY_LOOK: Duration = Duration::from_millis(50);

/// Without a watchdog (`WatchdogSec=0`), how often the status line is sent.
const STATUS_LOOK: Duration = Duration::from_secs(1);

/// Set (to anything) in the box's environment, this arms a test hook:
/// SIGUSR1 stalls the mixer and SIGUSR2 lets it go on, so that a test can
/// see the watchdog starve. For tests only: never set it on a box on air.
pub const STALL_HOOK_ENV: &str = "ONAIR_TEST_STALL_SIGNALS";

/// What to tell the service manager after one look at the engine.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Notice {
    /// `READY=1`: the first time the counter has advanced.
    pub ready: bool,
    /// `WATCHDOG=1`: the counter advanced since the last look.
    pub watchdog: bool,
    /// `STATUS=…`, when the line differs from the one last sent.
    pub status: Option<String>,
}

/// The decision, apart from sockets and clocks: looked at every half
/// watchdog interval (more often until ready) with the engine's frame
/// counter and the one-line status.
#[derive(Debug)]
pub struct Heartbeat {
    last: u64,
    ready: bool,
    status: Option<String>,
}

impl Heartbeat {
    /// `frames`: the engine's counter when the box starts watching it.
    pub fn new(frames: u64) -> Heartbeat {
        Heartbeat {
            last: frames,
            ready: false,
            status: None,
        }
    }

    pub fn is_ready(&self) -> bool {
        self.ready
    }

    /// One look. Only a counter that moved since the last look feeds the
    /// watchdog: the engine makes blocks many times per half interval,
    /// so a look that finds it standing still means it is stuck. A stuck
    /// engine's status line says so, for `systemctl status` before the kill.
    pub fn look(&mut self, frames: u64, status: String) -> Notice {
        let advanced = frames > self.last;
        self.last = self.last.max(frames);
        let ready = advanced && !self.ready;
        self.ready |= advanced;
        let status = if self.ready && !advanced {
            format!("ENGINE STALLED (no audio made; watchdog not fed) · {status}")
        } else {
            status
        };
        let changed = self.status.as_deref() != Some(status.as_str());
        Notice {
            ready,
            watchdog: self.ready && advanced,
            status: changed.then(|| {
                self.status = Some(status.clone());
                status
            }),
        }
    }
}

/// The thread that talks to systemd, while the box runs.
pub struct Service {
    stop: Arc<(Mutex<bool>, Condvar)>,
    thread: JoinHandle<()>,
}

impl Service {
    /// Starts watching `meters` when systemd started the box (its
    /// `NOTIFY_SOCKET` is set); `None` otherwise. `status` gives the
    /// one-line state, with times in `tz`.
    pub fn start(meters: Arc<Meters>, status: watch::Receiver<Status>, tz: Tz) -> Option<Service> {
        let socket = std::env::var_os("NOTIFY_SOCKET")?;
        let watchdog = sd_notify::watchdog_enabled();
        match watchdog {
            Some(interval) => info!(
                "systemd: notifying {}; watchdog fed every {:?} while audio is made",
                socket.to_string_lossy(),
                interval / 2
            ),
            None => info!("systemd: notifying {}", socket.to_string_lossy()),
        }
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let thread = {
            let stop = Arc::clone(&stop);
            std::thread::Builder::new()
                .name("onair-systemd".into())
                .spawn(move || talk(&meters, &status, tz, watchdog, &stop))
        };
        match thread {
            Ok(thread) => Some(Service { stop, thread }),
            Err(e) => {
                // Without it systemd kills the box at TimeoutStartSec: say why.
                warn!("cannot start the thread that notifies systemd: {e}");
                None
            }
        }
    }

    /// Stops the pings (the box is going down in order) and waits for the thread.
    pub fn stop(self) {
        let (stopped, bell) = &*self.stop;
        *stopped.lock().unwrap_or_else(|e| e.into_inner()) = true;
        bell.notify_all();
        let _ = self.thread.join();
    }
}

fn talk(
    meters: &Meters,
    status: &watch::Receiver<Status>,
    tz: Tz,
    watchdog: Option<Duration>,
    stop: &(Mutex<bool>, Condvar),
) {
    let mut heartbeat = Heartbeat::new(meters.position());
    let period = watchdog.map_or(STATUS_LOOK, |w| w / 2);
    let mut failed = false;
    let mut next = Instant::now();
    loop {
        let line = status.borrow().summary(tz);
        let notice = heartbeat.look(meters.position(), line);
        if notice.ready {
            info!("audio flows: ready");
        }
        let mut states = Vec::new();
        if notice.ready {
            states.push(NotifyState::Ready);
        }
        if notice.watchdog && watchdog.is_some() {
            states.push(NotifyState::Watchdog);
        }
        if let Some(line) = &notice.status {
            states.push(NotifyState::Status(line));
        }
        if !states.is_empty() {
            match sd_notify::notify(&states) {
                Ok(()) => failed = false,
                // Once per run of failures: the journal is not flooded.
                Err(e) if !failed => {
                    failed = true;
                    warn!("cannot notify systemd: {e}");
                }
                Err(_) => {}
            }
        }
        // On a steady beat, not a drifting one; after a hiccup (the box
        // starved of CPU) from now, rather than a burst of looks.
        next += if heartbeat.is_ready() {
            period
        } else {
            READY_LOOK
        };
        let now = Instant::now();
        if next < now {
            next = now;
        }
        if wait_for_stop(stop, next) {
            return;
        }
    }
}

/// Sleeps until `until`; true when asked to stop meanwhile.
fn wait_for_stop((stopped, bell): &(Mutex<bool>, Condvar), until: Instant) -> bool {
    let mut stopped = stopped.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        if *stopped {
            return true;
        }
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        stopped = bell
            .wait_timeout(stopped, left)
            .unwrap_or_else(|e| e.into_inner())
            .0;
    }
}

/// Tells systemd the box is stopping (at SIGTERM), so `systemctl status`
/// shows "deactivating" at once; nothing without `NOTIFY_SOCKET`.
pub fn stopping() {
    if let Err(e) = sd_notify::notify(&[NotifyState::Stopping, NotifyState::Status("stopping")]) {
        warn!("cannot tell systemd the box is stopping: {e}");
    }
}

/// Arms the stall hook ([`STALL_HOOK_ENV`]) on `switch` (the engine's
/// [`crate::engine::Engine::stall_switch`]); nothing when it is not set.
/// Needs the tokio runtime: the signals are taken by a task.
pub fn arm_stall_hook(switch: Arc<AtomicBool>) -> Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    if std::env::var_os(STALL_HOOK_ENV).is_none() {
        return Ok(());
    }
    let mut stall = signal(SignalKind::user_defined1()).context("cannot watch for SIGUSR1")?;
    let mut resume = signal(SignalKind::user_defined2()).context("cannot watch for SIGUSR2")?;
    warn!("test hook {STALL_HOOK_ENV} is set: SIGUSR1 stalls the mixer, SIGUSR2 lets it go on");
    tokio::spawn(async move {
        loop {
            tokio::select! {
                Some(()) = stall.recv() => {
                    switch.store(true, Ordering::Relaxed);
                    warn!("mixer stalled (SIGUSR1, test hook)");
                }
                Some(()) = resume.recv() => {
                    switch.store(false, Ordering::Relaxed);
                    warn!("mixer goes on (SIGUSR2, test hook)");
                }
                else => break,
            }
        }
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(text: &str) -> String {
        text.to_string()
    }

    #[test]
    fn ready_when_the_counter_first_moves_and_not_again() {
        let mut beat = Heartbeat::new(0);
        let first = beat.look(0, line("Test FM · SILENT"));
        assert!(!first.ready && !first.watchdog, "{first:?}");
        assert!(!beat.is_ready());
        let moved = beat.look(480, line("Test FM · SILENT"));
        assert!(moved.ready && moved.watchdog, "{moved:?}");
        let again = beat.look(960, line("Test FM · SILENT"));
        assert!(!again.ready && again.watchdog, "{again:?}");
    }

    #[test]
    fn the_watchdog_is_fed_only_while_the_counter_advances() {
        let mut beat = Heartbeat::new(100);
        let fed: Vec<bool> = [200, 300, 300, 300, 400, 400, 500]
            .into_iter()
            .map(|frames| beat.look(frames, line("s")).watchdog)
            .collect();
        assert_eq!(fed, [true, true, false, false, true, false, true]);
    }

    #[test]
    fn a_counter_that_never_moves_is_never_ready_nor_fed() {
        let mut beat = Heartbeat::new(7);
        for _ in 0..5 {
            let notice = beat.look(7, line("Test FM · SILENT"));
            assert!(!notice.ready && !notice.watchdog, "{notice:?}");
        }
    }

    #[test]
    fn a_counter_going_back_feeds_nothing_until_it_passes_its_best() {
        // The counter never goes back; if it ever did (a restarted
        // engine), only new ground counts as audio made.
        let mut beat = Heartbeat::new(0);
        assert!(beat.look(1000, line("s")).watchdog);
        assert!(!beat.look(500, line("s")).watchdog);
        assert!(!beat.look(900, line("s")).watchdog);
        assert!(beat.look(1100, line("s")).watchdog);
    }

    #[test]
    fn the_status_is_sent_when_it_changes_and_says_when_the_engine_stalls() {
        let mut beat = Heartbeat::new(0);
        let a = "Test FM · FILLER · on air: Filler";
        assert_eq!(beat.look(0, line(a)).status.as_deref(), Some(a));
        assert_eq!(beat.look(10, line(a)).status, None, "same line twice");
        let b = "Test FM · AUTO · on air: News";
        assert_eq!(beat.look(20, line(b)).status.as_deref(), Some(b));
        let stalled = beat.look(20, line(b)).status.expect("a new line");
        assert!(
            stalled.starts_with("ENGINE STALLED") && stalled.ends_with(b),
            "{stalled}"
        );
        assert_eq!(beat.look(20, line(b)).status, None, "still stalled");
        assert_eq!(beat.look(30, line(b)).status.as_deref(), Some(b));
    }

    #[test]
    fn before_ready_a_still_counter_is_starting_not_stalled() {
        let mut beat = Heartbeat::new(0);
        let status = beat.look(0, line("Test FM · SILENT")).status;
        assert_eq!(status.as_deref(), Some("Test FM · SILENT"));
    }
}
