//! The schedule: pure functions from the programme folder and a time to a
//! plan. Nothing here decodes audio or keeps state beyond what a caller holds;
//! the only I/O is reading folders and file metadata, and every time comes in
//! as an argument, so any clock (wall or simulated) can drive it.
//!
//! - [`names`]: `yyyymmdd_hhmm_title.ext` → local time, slug, title.
//! - [`local_time`]: station-local time → instant, through clock changes.
//! - [`scan`]: the programme folder → programmes, waiting for files still
//!   being copied.
//! - [`slots`]: programmes in order, each bounded by the next start.
//! - [`booking`]: the calendar's bookings matched against the files, with
//!   previous editions standing in for missing or broken ones.
//! - [`filler`]: the filler folder and its shuffled deck.
//! - [`day`]: the readable plan for `onair schedule`.

pub mod booking;
pub mod day;
pub mod filler;
pub mod local_time;
pub mod names;
pub mod scan;
pub mod slots;

pub use booking::{Booking, FileCheck, SlotProblem, Substitute, book};
pub use day::{PlanEntry, PlanEntryKind, day_plan, render_day_plan};
pub use filler::{FillerDeck, list_audio_files};
pub use local_time::{TimeNote, resolve_local};
pub use names::{NameError, ProgrammeName, parse_name, title_from_slug};
pub use scan::{FolderWatch, Ignored, Programme, SETTLE, Scan, ScanError, scan_now};
pub use slots::{Slot, next_start_after, on_air_at, slots};
