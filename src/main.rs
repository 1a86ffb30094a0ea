//! `onair`: the playout box's one binary. Subcommands only; the work is in the library.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

use onair::asrun::{self, AsRunError, AsRunReader, SledReader};
use onair::config::Config;
use onair::{demo, report, station, timetable};

#[derive(Parser)]
#[command(
    name = "onair",
    version,
    about = "Radio playout box: scheduled programmes on time, with an as-run log"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the station.
    Run {
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Create a demo station (tone programmes due in the next minutes, filler)
    /// in a folder of its own and run it, with the status page on 127.0.0.1.
    Demo {
        /// Where the demo station lives (default: ~/.local/share/onair/demo).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// The status page's address (default: the demo configuration's, 127.0.0.1:8080).
        #[arg(long)]
        listen: Option<std::net::SocketAddr>,
    },
    /// Ask the running box what it is doing: mode, on air, next, warnings,
    /// and each output (streams: state, bytes sent, drops, reconnects).
    /// Exits 1 if the box does not answer.
    Status {
        #[arg(long, short)]
        config: PathBuf,
        /// Print the box's status JSON as it sends it.
        #[arg(long)]
        json: bool,
    },
    /// Show the plan for today and tomorrow, and the files that are ignored and why.
    Schedule {
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Print the as-run log (also while the box is running).
    Log {
        #[arg(long, short)]
        config: PathBuf,
        /// From this time: RFC 3339, "yyyy-mm-dd hh:mm", "yyyy-mm-dd", today, yesterday, -2h.
        // Hyphen values: `--since -2h` is a time ago, not another option.
        #[arg(long, allow_hyphen_values = true)]
        since: Option<String>,
        /// Up to this time, in the same forms as --since.
        #[arg(long, allow_hyphen_values = true)]
        until: Option<String>,
        #[arg(long, conflicts_with = "csv")]
        json: bool,
        #[arg(long)]
        csv: bool,
    },
    /// Write what aired in a period as CSV, for royalty and compliance
    /// reporting: the as-run items (programmes, substitutes, filler), or with
    /// --tracks the tracks inside programmes. Entries count in the period in
    /// which they started. Works also while the box is running.
    Report {
        #[arg(long, short)]
        config: PathBuf,
        /// From this date (its first moment) or time, in the station's zone:
        /// yyyy-mm-dd, today, yesterday, or the forms of `onair log --since`.
        #[arg(long, allow_hyphen_values = true)]
        from: String,
        /// Up to this date, inclusive: a date (yyyy-mm-dd, today, yesterday)
        /// takes in that whole day; a time (yyyy-mm-dd hh:mm, now, -1h) is
        /// the exact end.
        #[arg(long, allow_hyphen_values = true)]
        to: String,
        /// Report the tracks inside programmes (artist, title, start,
        /// duration, programme, file) instead of the as-run items.
        #[arg(long)]
        tracks: bool,
        /// Write the CSV to this file instead of standard output.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Check a configuration file and print every problem. Exits 1 if the box
    /// would refuse it; warnings (missing folders or files, with which the box
    /// still starts) are printed and exit 0.
    CheckConfig { file: PathBuf },
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run { config } => load(&config).and_then(|c| block_on(station::run(c))),
        Command::Demo { dir, listen } => block_on(demo::run(dir, listen)),
        Command::Status { config, json } => load(&config).and_then(|c| show_status(&c, json)),
        Command::Schedule { config } => load(&config).and_then(|c| show_schedule(&c)),
        Command::Log {
            config,
            since,
            until,
            json,
            csv,
        } => load(&config).and_then(|c| show_log(&c, since, until, json, csv)),
        Command::Report {
            config,
            from,
            to,
            tracks,
            output,
        } => load(&config).and_then(|c| write_report(&c, &from, &to, tracks, output.as_deref())),
        Command::CheckConfig { file } => return check_config(&file),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("onair: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn block_on(f: impl std::future::Future<Output = Result<()>>) -> Result<()> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?
        .block_on(f)
}

fn load(path: &Path) -> Result<Config> {
    Ok(Config::load(path)?)
}

fn check_config(path: &Path) -> ExitCode {
    match Config::load(path) {
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
        Ok(config) => {
            // Warnings are about this machine (folders not there yet, storage
            // not mounted), not about the file, which is often checked on
            // another machine than the box: they do not fail the check.
            let warnings = config.check();
            for warning in &warnings {
                eprintln!("warning: {warning}");
            }
            let verdict = match warnings.len() {
                0 => format!("{}: ok\n", path.display()),
                n => format!(
                    "{}: ok, with {n} warning{} above: the box starts with this file, but see to {}\n",
                    path.display(),
                    if n == 1 { "" } else { "s" },
                    if n == 1 { "it" } else { "them" },
                ),
            };
            match print(&verdict) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("onair: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

/// Writes to standard output; a reader that has gone (`onair log | head`)
/// is not an error.
fn print(text: &str) -> Result<()> {
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
fn line(text: &str) -> String {
    format!("{}\n", text.trim_end_matches('\n'))
}

fn show_schedule(config: &Config) -> Result<()> {
    let now = station::clock_for_reading(config).now();
    print(&timetable::timetable(config, now)?)
}

fn show_log(
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
                onair::when::parse_time_arg(s, tz, now)
                    .map_err(|e| anyhow::anyhow!("--{name} {s:?}: {e}"))
            })
            .transpose()
    };
    let (since_t, until_t) = (parse("since", &since)?, parse("until", &until)?);
    if !asrun::log_exists(&config.data.dir) {
        eprintln!(
            "onair: no as-run log in {} yet: the box has not run with this data folder",
            config.data.dir.display()
        );
        return print_entries(&[], tz, json, csv);
    }
    let entries = match SledReader::open(&config.data.dir) {
        Ok(log) => log.range(since_t, until_t)?,
        Err(AsRunError::Busy { .. }) => return show_log_from_box(config, since, until, json, csv),
        Err(e) => return Err(e.into()),
    };
    print_entries(&entries, tz, json, csv)
}

fn print_entries(entries: &[asrun::Entry], tz: chrono_tz::Tz, json: bool, csv: bool) -> Result<()> {
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
    let entries: Vec<asrun::Entry> =
        serde_json::from_str(&body).context("the running box sent an unreadable log")?;
    print_entries(&entries, config.station.timezone, false, csv)
}

/// The as-run log as JSON (`/api/log`) from the running box that holds it.
fn ask_box_for_log(
    config: &Config,
    since: Option<String>,
    until: Option<String>,
) -> Result<String> {
    let file = station::web_address_file(config);
    let address = std::fs::read_to_string(&file).with_context(|| {
        format!(
            "the as-run log is in use by a running box, but {} does not say where to ask it; \
             try again in a moment (the box may be starting), or stop the box and read the log",
            file.display()
        )
    })?;
    let url = format!("http://{}/api/log", address.trim());
    let mut request = ureq::get(&url);
    for (key, value) in [("since", since), ("until", until)] {
        if let Some(value) = value {
            request = request.query(key, value);
        }
    }
    Ok(request
        .call()
        .with_context(|| format!("cannot ask the running box at {url}"))?
        .body_mut()
        .read_to_string()?)
}

fn write_report(
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
        eprintln!(
            "onair: no as-run log in {} yet: the box has not run with this data folder",
            config.data.dir.display()
        );
        Vec::new()
    } else {
        match SledReader::open(&config.data.dir) {
            Ok(log) => log.range(Some(period.from), Some(period.to))?,
            Err(AsRunError::Busy { .. }) => {
                // Exact instants, so the box's own clock and zone cannot shift them.
                let at = |t: chrono::DateTime<chrono::Utc>| Some(t.to_rfc3339());
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

/// How long `onair status` waits for the box: it answers from memory at once.
const STATUS_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);
/// A snapshot older than this means the playout stopped reporting.
const STALE_STATUS_MS: u64 = 5_000;

/// The running box's web address: the one it wrote into its data folder
/// (the configured port may be 0, "any free port"), else the configured one.
fn box_address(config: &Config) -> Result<String> {
    let file = station::web_address_file(config);
    if let Some(address) = std::fs::read_to_string(&file)
        .ok()
        .map(|a| a.trim().to_string())
        .filter(|a| !a.is_empty())
    {
        return Ok(address);
    }
    let listen = config.web.listen;
    if listen.port() == 0 {
        anyhow::bail!(
            "the box is not running with this configuration: [web] listen is {listen} (any \
             free port) and there is no {} where a running box writes its address; start it \
             with `onair run --config FILE`",
            file.display()
        );
    }
    Ok(listen.to_string())
}

fn show_status(config: &Config, json: bool) -> Result<()> {
    let address = box_address(config)?;
    let url = format!("http://{address}/api/status");
    let agent = ureq::Agent::config_builder()
        .timeout_global(Some(STATUS_TIMEOUT))
        .build()
        .new_agent();
    let body = agent
        .get(&url)
        .call()
        .and_then(|mut answer| answer.body_mut().read_to_string())
        .map_err(|e| {
            anyhow::anyhow!(
                "no answer from the box at {address} ({e}): is it running with this \
                 configuration? Start it with `onair run --config FILE`, or check [web] listen"
            )
        })?;
    if json {
        return print(&line(&body));
    }
    let status: serde_json::Value =
        serde_json::from_str(&body).context("the box sent a status that is not JSON")?;
    print(&render_status(
        &status,
        config.station.timezone,
        config.audio.sample_rate,
    ))
}

/// The status as a station engineer reads it over SSH.
fn render_status(status: &serde_json::Value, tz: chrono_tz::Tz, rate: u32) -> String {
    use chrono::{DateTime, Utc};
    use serde_json::Value;
    let text = |v: &Value| v.as_str().unwrap_or("").to_string();
    let number = |v: &Value| v.as_u64().unwrap_or(0);
    let time = |v: &Value| -> Option<DateTime<Utc>> {
        v.as_str()
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.to_utc())
    };
    let clock = |t: DateTime<Utc>| t.with_timezone(&tz).format("%H:%M:%S").to_string();
    let now = time(&status["now"]);
    let mut out = String::new();

    let mut heading = format!(
        "{} · {}",
        text(&status["station"]),
        text(&status["mode"]).to_uppercase()
    );
    if let Some(now) = now {
        let local = now.with_timezone(&tz).format("%Y-%m-%d %H:%M:%S %Z");
        heading.push_str(&format!(" · {local}"));
    }
    if let Some(speed) = status["simulated_speed"].as_f64() {
        // A stream's connection times are the machine's, not the station's.
        heading.push_str(&format!(
            " (simulated clock ×{speed}; stream times are real time)"
        ));
    }
    out.push_str(&heading);
    out.push('\n');
    match status["age_ms"].as_u64() {
        None => out.push_str("(the box is starting: no status from its playout yet)\n"),
        Some(age) if age > STALE_STATUS_MS => out.push_str(&format!(
            "WARNING: the playout has not updated its status for {} s; what follows may be stale\n",
            age / 1000
        )),
        Some(_) => {}
    }

    let on_air = &status["on_air"];
    if on_air.is_object() {
        let mut line = format!("On air:   {}", text(&on_air["title"]));
        match (time(&on_air["ends"]), now) {
            (Some(ends), Some(now)) => {
                let left = (ends - now).num_seconds().max(0);
                line.push_str(&format!(
                    ", {} left (ends {})",
                    duration_text(left),
                    clock(ends)
                ));
            }
            (Some(ends), None) => line.push_str(&format!(" (ends {})", clock(ends))),
            _ => {}
        }
        out.push_str(&line);
        out.push('\n');
    } else {
        out.push_str("On air:   nothing\n");
    }
    let next = &status["next"];
    if next.is_object() {
        let at = time(&next["start"]).map(clock).unwrap_or_default();
        out.push_str(&format!("Next:     {} at {at}\n", text(&next["title"])));
    } else {
        out.push_str("Next:     nothing scheduled\n");
    }

    let warnings = status["warnings"].as_array().cloned().unwrap_or_default();
    if warnings.is_empty() {
        out.push_str("Warnings: none\n");
    } else {
        out.push_str("Warnings:\n");
        for warning in &warnings {
            out.push_str(&format!("  ! {}\n", text(warning)));
        }
    }

    out.push_str("Outputs:\n");
    for output in status["outputs"].as_array().cloned().unwrap_or_default() {
        out.push_str(&format!("  {}\n", text(&output["name"])));
        let stream = &output["stream"];
        if !stream.is_object() {
            out.push_str(&format!(
                "    {} frames out, {} dropped, {} underruns, {} errors\n",
                number(&output["frames_out"]),
                number(&output["frames_dropped"]),
                number(&output["frames_underrun"]),
                number(&output["errors"])
            ));
            continue;
        }
        let next_attempt = time(&stream["next_attempt"]).map(clock).unwrap_or_default();
        let state = match stream["state"].as_str().unwrap_or("") {
            "connected" => format!(
                "connected since {}",
                time(&stream["since"]).map(clock).unwrap_or_default()
            ),
            "retrying" => format!(
                "retrying, next attempt at {next_attempt}: {}",
                text(&stream["reason"])
            ),
            "refused" => format!(
                "REFUSED, next attempt at {next_attempt}: {}",
                text(&stream["reason"])
            ),
            other => other.to_string(),
        };
        out.push_str(&format!("    {state}\n"));
        let seconds = |frames: &Value| format!("{:.1} s", number(frames) as f64 / rate as f64);
        out.push_str(&format!(
            "    {} sent, {} reconnects, {} failed attempts\n",
            bytes_text(number(&stream["bytes_sent"])),
            number(&stream["reconnects"]),
            number(&stream["failed_attempts"]),
        ));
        out.push_str(&format!(
            "    audio lost: {} dropped (queue full), {} discarded (while down), {} dropped (ring full)\n",
            seconds(&stream["frames_dropped_oldest"]),
            seconds(&stream["frames_discarded"]),
            seconds(&output["frames_dropped"]),
        ));
        let mut about = Vec::new();
        if let Some(encoder) = stream["encoder"].as_str() {
            let shared = number(&stream["encoder_shared_by"]);
            about.push(if shared > 1 {
                format!("encoder {encoder}, shared by {shared} streams")
            } else {
                format!("encoder {encoder}")
            });
        }
        if let Some(title) = stream["title"].as_str() {
            about.push(format!("title \"{title}\""));
        }
        if !about.is_empty() {
            out.push_str(&format!("    {}\n", about.join("; ")));
        }
    }
    out
}

fn duration_text(seconds: i64) -> String {
    let (h, m, s) = (seconds / 3600, seconds / 60 % 60, seconds % 60);
    if h > 0 {
        format!("{h}:{m:02}:{s:02}")
    } else {
        format!("{m}:{s:02}")
    }
}

fn bytes_text(bytes: u64) -> String {
    match bytes {
        0..1_000_000 => format!("{} kB", bytes.div_ceil(1000)),
        _ => format!("{:.1} MB", bytes as f64 / 1e6),
    }
}
