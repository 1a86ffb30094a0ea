//! The maintenance subcommands' work and printing, one module each; the
//! binary's `main.rs` only reads the command line and calls them.
//!
//! - [`archive`]: `onair archive list|coverage|cut`, from the archive's folder.
//! - [`channel`]: `onair channel add|list|remove` and `onair category list`,
//!   the streams the box records.
//! - [`log`]: `onair log` and `onair report`, from the as-run log or the
//!   running box that holds it.
//! - [`status`]: `onair status`, the running box's status as text.
//! - [`check_config`]: `onair check-config`.
//! - [`ask_box`]: asking the running box over its web server.
//! - [`control`]: `onair live|auto|skip|press` over the box's control socket.
//! - [`job`]: `onair job list|show|add|retry|cancel`, from the database or
//!   through the running box.
//! - [`secrets`]: `onair passwd` and `onair token`.

pub mod archive;
pub mod ask_box;
pub mod channel;
pub mod check_config;
pub mod control;
pub mod job;
pub mod log;
pub mod secrets;
pub mod status;

use std::io::Write;

use anyhow::{Context, Result};

use crate::config::Config;
use crate::{station, timetable};

/// `onair schedule`: today and tomorrow, and the files that are ignored.
pub fn show_schedule(config: &Config) -> Result<()> {
    let now = station::clock_for_reading(config).now();
    print(&timetable::timetable(config, now)?)
}

/// Writes to standard output; a reader that has gone (`onair log | head`)
/// is not an error.
pub fn print(text: &str) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other.context("cannot write to standard output")?),
    }
}

/// `text` ending with exactly one line break.
pub fn line(text: &str) -> String {
    format!("{}\n", text.trim_end_matches('\n'))
}
