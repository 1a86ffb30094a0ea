//! The calendar kept up to date on a thread of its own, so a slow or dead
//! calendar server never holds up the director: it reads the latest
//! [`CalendarInUse`] whenever it plans.

use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use chrono_tz::Tz;

use super::parse::Calendar;
use super::source::{self, CacheInfo, FetchError};
use super::{CalendarInUse, CalendarState};
use crate::clock::Clock;
use crate::config::{CalendarConfig, CalendarSource};

/// Longest real wait between two looks at the clock, so a clock that is set
/// (or a simulated one) cannot push a fetch far past its time.
const LONGEST_WAIT: Duration = Duration::from_secs(30);

/// Reads the source and decides which calendar is in use.
pub(super) struct Loader {
    source: CalendarSource,
    data_dir: PathBuf,
    tz: Tz,
    /// Whether a good fetch replaces the cached copy (the box does; a
    /// command looking at the station does not).
    keep_copy: bool,
    current: CalendarInUse,
}

impl Loader {
    pub(super) fn new(source: CalendarSource, data_dir: PathBuf, tz: Tz, keep_copy: bool) -> Self {
        let current = CalendarInUse::empty(&source);
        Loader {
            source,
            data_dir,
            tz,
            keep_copy,
            current,
        }
    }

    pub(super) fn snapshot(&self) -> &CalendarInUse {
        &self.current
    }

    /// Puts the cached copy in use, if there is a readable one of this source.
    pub(super) fn load_cache(&mut self) {
        let Some((text, info)) = source::read_cache(&self.data_dir, &self.source) else {
            return;
        };
        let Ok(calendar) = Calendar::parse(&text, self.tz) else {
            return;
        };
        self.current.state.loaded_at = Some(info.fetched_at);
        self.current.state.notes = calendar.notes.clone();
        self.current.calendar = Arc::new(calendar);
        self.current.generation += 1;
    }

    /// Reads the source once and takes its calendar if it is good.
    pub(super) fn refresh(&mut self, now: DateTime<Utc>) {
        self.current.state.last_attempt = Some(now);
        let text = match source::fetch(&self.source) {
            Ok(text) => text,
            Err(e) => return self.fail(now, e.to_string()),
        };
        let calendar = match Calendar::parse(&text, self.tz) {
            Ok(calendar) => calendar,
            Err(reason) => {
                let e = FetchError::NotACalendar {
                    at: self.source.to_string(),
                    reason: reason.to_string(),
                };
                return self.fail(now, e.to_string());
            }
        };
        // An empty answer is far likelier a service's glitch than a station
        // clearing its whole week; taking it would drop every slot at once.
        let in_use = self.current.calendar.event_count();
        if calendar.event_count() == 0 && in_use > 0 {
            let mut why = format!(
                "the calendar at {} has no events that can be slots, while the copy in use has {in_use}",
                self.source
            );
            if !calendar.notes.is_empty() {
                why.push_str(&format!(" (left out: {})", calendar.notes.join("; ")));
            }
            why.push_str(
                "; to clear the schedule on purpose, remove [calendar] from the configuration",
            );
            return self.fail(now, why);
        }
        let mut notes = calendar.notes.clone();
        if self.keep_copy {
            let info = CacheInfo {
                source: self.source.to_string(),
                fetched_at: now,
            };
            if let Err(e) = source::write_cache(&self.data_dir, &text, &info) {
                notes.push(format!(
                    "cannot keep a copy of the calendar in {}: {e}; if the source fails, the box will have no calendar; make the data folder writable",
                    self.data_dir.display()
                ));
            }
        }
        self.current = CalendarInUse {
            state: CalendarState {
                source: self.source.to_string(),
                loaded_at: Some(now),
                stale_since: None,
                problem: None,
                last_attempt: Some(now),
                notes,
            },
            calendar: Arc::new(calendar),
            generation: self.current.generation + 1,
        };
    }

    fn fail(&mut self, now: DateTime<Utc>, why: String) {
        let state = &mut self.current.state;
        state.stale_since.get_or_insert(now);
        let fallback = match state.loaded_at {
            Some(at) => format!(
                "; the copy fetched at {} stays in use",
                at.format("%Y-%m-%d %H:%M UTC")
            ),
            None => "; there is no earlier copy, so the schedule has no calendar slots".into(),
        };
        state.problem = Some(format!("{why}{fallback}"));
    }
}

/// The calendar, fetched every `refresh_minutes` of station time on its own
/// thread. Stops (and joins the thread) when dropped.
pub struct CalendarWatch {
    mailbox: Arc<Mailbox>,
    thread: Option<JoinHandle<()>>,
}

/// What the watch and its refresh thread pass each other: the calendar in
/// use goes out, requests come in and ring the bell.
struct Mailbox {
    in_use: Mutex<CalendarInUse>,
    requests: Mutex<Requests>,
    bell: Condvar,
}

/// What the refresh thread is asked to do before its next fetch is due.
#[derive(Default)]
struct Requests {
    stop: bool,
    refresh: bool,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // The data is replaced whole, never left half-written: a panic elsewhere
    // does not make it wrong.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl CalendarWatch {
    /// Puts the cached copy in use at once, then fetches the source on a
    /// new thread now and every `refresh_minutes` of `clock` time.
    pub fn start(
        config: &CalendarConfig,
        data_dir: PathBuf,
        tz: Tz,
        clock: Clock,
    ) -> std::io::Result<CalendarWatch> {
        let mut loader = Loader::new(config.source.clone(), data_dir, tz, true);
        loader.load_cache();
        let mailbox = Arc::new(Mailbox {
            in_use: Mutex::new(loader.snapshot().clone()),
            requests: Mutex::new(Requests::default()),
            bell: Condvar::new(),
        });
        let every = TimeDelta::minutes(i64::from(config.refresh_minutes.max(1)));
        let thread = std::thread::Builder::new().name("calendar".into()).spawn({
            let mailbox = Arc::clone(&mailbox);
            move || run(loader, &mailbox, clock, every)
        })?;
        Ok(CalendarWatch {
            mailbox,
            thread: Some(thread),
        })
    }

    /// The calendar and its state as last read.
    pub fn snapshot(&self) -> CalendarInUse {
        lock(&self.mailbox.in_use).clone()
    }

    /// Fetches the source now instead of at the next refresh.
    pub fn refresh(&self) {
        lock(&self.mailbox.requests).refresh = true;
        self.mailbox.bell.notify_all();
    }
}

impl Drop for CalendarWatch {
    fn drop(&mut self) {
        lock(&self.mailbox.requests).stop = true;
        self.mailbox.bell.notify_all();
        if let Some(thread) = self.thread.take() {
            // A fetch under way ends within its timeout.
            let _ = thread.join();
        }
    }
}

fn run(mut loader: Loader, mailbox: &Mailbox, clock: Clock, every: TimeDelta) {
    loop {
        loader.refresh(clock.now());
        *lock(&mailbox.in_use) = loader.snapshot().clone();
        let state = &loader.snapshot().state;
        match &state.problem {
            Some(problem) => tracing::warn!(problem = %problem, "calendar"),
            None => tracing::debug!(
                source = %state.source,
                events = loader.snapshot().event_count(),
                "calendar read"
            ),
        }
        let next = clock.now() + every;
        let mut requests = lock(&mailbox.requests);
        loop {
            if requests.stop {
                return;
            }
            if requests.refresh {
                requests.refresh = false;
                break;
            }
            let now = clock.now();
            if now >= next {
                break;
            }
            let wait = clock.real(next - now).min(LONGEST_WAIT);
            requests = mailbox
                .bell
                .wait_timeout(requests, wait)
                .map(|(guard, _)| guard)
                .unwrap_or_else(|poisoned| poisoned.into_inner().0);
        }
    }
}
