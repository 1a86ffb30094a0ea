//! The schedule: pure functions from the programme folder and a time to a
//! plan. Nothing here decodes audio or keeps state beyond what a caller holds;
//! the only I/O is reading folders and file metadata (and the kernel's
//! word on what changed in them), and every time comes in as an argument,
//! so any clock (wall or simulated) can drive it.
//!
//! - [`names`]: `yyyymmdd_hhmm_title.ext` → local time, slug, title.
//! - [`local_time`]: station-local time → instant, through clock changes.
//! - [`changes`]: whether a folder changed since it was last read (the
//!   kernel's word, so that a large library is not read every second).
//! - [`scan`]: the programme folder → programmes, waiting for files still
//!   being copied, read again when it changed.
//! - [`slots`]: a slot (a programme bounded by the next start, with its
//!   booking) and what is on air when.
//! - [`booking`]: the slots built from the files and the calendar's
//!   bookings, with previous editions standing in for missing or broken ones.
//! - [`filler`]: the filler folder and its shuffled deck.
//! - [`day`]: the running order a person reads in `onair schedule`.
//!
//! Imports run one way, from the bottom of this list up: `names`,
//! `local_time` and `changes` know nothing else, `scan` reads files with
//! them, `slots` holds scanned programmes, `booking` builds slots, `day`
//! reads them. The schedule imports nothing from the calendar: the
//! calendar speaks the schedule's language (bookings, title slugs, local
//! times), so the calendar imports from here, never the other way.

pub mod booking;
pub mod changes;
pub mod day;
pub mod filler;
pub mod local_time;
pub mod names;
pub mod scan;
pub mod slots;

pub use booking::{FileCheck, SlotProblem, book, slots};
pub use changes::FolderChanges;
pub use day::{Airing, AiringKind, render_running_order, running_order};
pub use filler::{FillerDeck, list_audio_files};
pub use local_time::{TimeNote, resolve_local};
pub use names::{
    NameError, ProgrammeName, parse_name, same_programme, title_from_slug, title_slug,
};
pub use scan::{FolderWatch, Ignored, Programme, SETTLE, Scan, ScanError, scan_now};
pub use slots::{Booking, Slot, Substitute, next_start_after, on_air_at};
