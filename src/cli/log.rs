//! `onair log` and `onair report`: read the as-run log straight from the
//! data folder, or, while the running box holds it, ask the box for it.

use std::path::Path;

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use super::ask_box::ask_box_for_log;
use super::{line, print};
use crate::asrun::{self, AsRunError, AsRunReader, Entry, SledReader};
use crate::config::Config;
use crate::{report, station, when};

/// `onair log`: the entries on air in `[since, until)` as a table, JSON
/// (`json`) or CSV (`csv`).
pub fn show_log(
    config: &Config,
    since: Option<String>,
    until: Option<String>,
    json: bool,
    csv: bool,
) -> Result<()> {
    let tz = config.station.timezone;
    let now = station::clock_for_reading(config).now();
    let parse = |name: &str, v: &Option<String>| -> Result<_> {
        v.as_deref()
            .map(|s| {
                when::parse_time_arg(s, tz, now).map_err(|e| anyhow::anyhow!("--{name} {s:?}: {e}"))
            })
            .transpose()
    };
    let (since_t, until_t) = (parse("since", &since)?, parse("until", &until)?);
    if !asrun::log_exists(&config.data.dir) {
        say_no_log_yet(config);
        return print_entries(&[], tz, json, csv);
    }
    let entries = match SledReader::open(&config.data.dir) {
        Ok(log) => log.range(since_t, until_t)?,
        Err(AsRunError::Busy { .. }) => return show_log_from_box(config, since, until, json, csv),
        Err(e) => return Err(e.into()),
    };
    print_entries(&entries, tz, json, csv)
}

fn say_no_log_yet(config: &Config) {
    eprintln!(
        "onair: no as-run log in {} yet: the box has not run with this data folder",
        config.data.dir.display()
    );
}

fn print_entries(entries: &[Entry], tz: Tz, json: bool, csv: bool) -> Result<()> {
    let text = if json {
        asrun::to_json(entries, tz)
    } else if csv {
        asrun::to_csv(entries, tz)
    } else {
        asrun::to_table(entries, tz)
    };
    print(&line(&text))
}

/// The running box holds the log: ask it over its web server.
fn show_log_from_box(
    config: &Config,
    since: Option<String>,
    until: Option<String>,
    json: bool,
    csv: bool,
) -> Result<()> {
    let body = ask_box_for_log(config, since, until)?;
    if json {
        return print(&line(&body));
    }
    let entries: Vec<Entry> =
        serde_json::from_str(&body).context("the running box sent an unreadable log")?;
    print_entries(&entries, config.station.timezone, false, csv)
}

/// `onair report`: what aired from `from` to `to` as CSV, the items or
/// (`tracks`) the tracks inside programmes, to standard output or `output`.
pub fn write_report(
    config: &Config,
    from: &str,
    to: &str,
    tracks: bool,
    output: Option<&Path>,
) -> Result<()> {
    let tz = config.station.timezone;
    let now = station::clock_for_reading(config).now();
    let period = report::period(from, to, tz, now)?;
    let entries = if !asrun::log_exists(&config.data.dir) {
        say_no_log_yet(config);
        Vec::new()
    } else {
        match SledReader::open(&config.data.dir) {
            Ok(log) => log.range(Some(period.from), Some(period.to))?,
            Err(AsRunError::Busy { .. }) => {
                // Exact instants, so the box's own clock and zone cannot shift them.
                let at = |t: DateTime<Utc>| Some(t.to_rfc3339());
                let body = ask_box_for_log(config, at(period.from), at(period.to))?;
                serde_json::from_str(&body).context("the running box sent an unreadable log")?
            }
            Err(e) => return Err(e.into()),
        }
    };
    let text = if tracks {
        report::tracks_csv(&entries, period, tz)
    } else {
        report::items_csv(&entries, period, tz)
    };
    match output {
        None => print(&text),
        Some(path) => std::fs::write(path, text).with_context(|| {
            format!(
                "cannot write the report to {}: check that its folder exists and is writable",
                path.display()
            )
        }),
    }
}
