//! The station's calendar (iCalendar, RFC 5545): which programme is due in
//! which slot. Read from a file or an http(s) address, at start and every
//! `refresh_minutes`, on a thread of its own; the last good copy is kept in
//! the data folder and used whenever the source is unreachable or broken, so
//! an outage never empties the schedule.
//!
//! - [`parse`]: iCalendar text → events, recurrence expanded on demand.
//! - `zones`: TZID names (IANA, Windows, VTIMEZONE) → zones.
//! - [`source`]: fetching the text, and the cached copy.
//! - [`watch`]: the refresh thread and its published [`CalendarInUse`].
//!
//! A slot's programme is the event's title; its files are matched by
//! [`title_slug`], the same on both sides.
//!
//! Imports run one way: the calendar speaks the schedule's language (it
//! turns events into [`Booking`](crate::schedule::Booking)s, matches titles
//! with the schedule's [`title_slug`] and reads local times with its
//! [`resolve_local`](crate::schedule::resolve_local)), so it imports from
//! `crate::schedule` and the schedule never imports from here. Inside,
//! `zones` knows nothing of `parse`, which reads its times through it;
//! `watch` and `source` sit on top.

pub mod parse;
pub mod source;
pub mod watch;
mod zones;

use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::config::{CalendarConfig, CalendarSource};

/// Programme titles are matched as the schedule matches file names.
pub use crate::schedule::{same_programme, title_slug};
pub use parse::{Calendar, NotACalendar};
pub use source::{CACHE_FILE, CACHE_INFO_FILE, CacheInfo, FetchError};
pub use watch::CalendarWatch;

/// One slot: an instance of a calendar event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CalendarEvent {
    /// The programme, as the calendar names it.
    pub title: String,
    /// [`title_slug`] of the title: what programme files are matched by.
    pub slug: String,
    pub start: DateTime<Utc>,
    /// `None` when the event gives neither an end nor a duration.
    pub end: Option<DateTime<Utc>>,
    /// The event's UID (shared by all instances of a recurring event);
    /// empty if the calendar gave none.
    pub uid: String,
}

/// Where the calendar in use came from and whether it is current.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CalendarState {
    /// The configured source, as shown to people.
    pub source: String,
    /// Station time at which the calendar in use was fetched; `None` when
    /// there is none (never fetched and nothing cached).
    pub loaded_at: Option<DateTime<Utc>>,
    /// Set while the last fetch failed: since when (the first failure of the
    /// run), and why, in [`problem`](Self::problem).
    pub stale_since: Option<DateTime<Utc>>,
    pub problem: Option<String>,
    /// Station time of the last fetch, good or not.
    pub last_attempt: Option<DateTime<Utc>>,
    /// Events left out (all-day, unreadable) and zones guessed, each naming
    /// the event or zone.
    pub notes: Vec<String>,
}

/// The calendar as last read, with its state. Cheap to clone: the parsed
/// calendar is shared.
#[derive(Debug, Clone)]
pub struct CalendarInUse {
    pub state: CalendarState,
    calendar: Arc<Calendar>,
    /// Goes up by one each time a different calendar comes into use, so a
    /// reader can tell when to plan again.
    pub generation: u64,
}

impl CalendarInUse {
    fn empty(source: &CalendarSource) -> Self {
        CalendarInUse {
            state: CalendarState {
                source: source.to_string(),
                loaded_at: None,
                stale_since: None,
                problem: None,
                last_attempt: None,
                notes: Vec::new(),
            },
            calendar: Arc::new(Calendar::default()),
            generation: 0,
        }
    }

    /// Every slot on during `[from, to)`, sorted by start (see
    /// [`Calendar::events_between`]).
    pub fn events_between(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<CalendarEvent> {
        self.calendar.events_between(from, to)
    }

    /// The slots on during `[from, to)` as the schedule books them.
    pub fn bookings_between(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Vec<crate::schedule::Booking> {
        self.events_between(from, to)
            .into_iter()
            .map(|e| crate::schedule::Booking {
                title: e.title,
                start: e.start,
                end: e.end,
            })
            .collect()
    }

    /// Events in the calendar that can be slots (a recurring one counts once).
    pub fn event_count(&self) -> usize {
        self.calendar.event_count()
    }

    /// Whether the calendar in use is not the source's current one.
    pub fn is_stale(&self) -> bool {
        self.state.stale_since.is_some()
    }
}

/// Reads the calendar once, without a thread and without writing the cache
/// (for commands such as `onair schedule`, which may run as another user
/// than the box): the source if it can be read, else the box's cached copy.
pub fn load_once(
    config: &CalendarConfig,
    data_dir: &Path,
    tz: Tz,
    now: DateTime<Utc>,
) -> CalendarInUse {
    let mut loader = watch::Loader::new(config.source.clone(), data_dir.to_path_buf(), tz, false);
    loader.load_cache();
    loader.refresh(now);
    loader.snapshot().clone()
}

#[cfg(test)]
mod tests;
