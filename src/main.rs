//! `onair`: the playout box's one binary. Subcommands only; the work is in the library.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use chrono::{TimeDelta, Utc};
use clap::{Parser, Subcommand};

use onair::asrun::{self, AsRunError, AsRunLog, SledLog};
use onair::config::Config;
use onair::{bench, demo, schedule, station};

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
        #[arg(long)]
        since: Option<String>,
        #[arg(long)]
        until: Option<String>,
        #[arg(long, conflicts_with = "csv")]
        json: bool,
        #[arg(long)]
        csv: bool,
    },
    /// Check a configuration file and print every problem.
    CheckConfig { file: PathBuf },
    /// Measure the CPU time of the audio path beside ffmpeg, and the memory of
    /// a running box; fails when a target is missed. Build with --release.
    Bench {
        /// Minutes of programme audio to generate and measure.
        #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=600))]
        minutes: u32,
    },
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
        Command::Schedule { config } => load(&config).and_then(|c| show_schedule(&c)),
        Command::Log {
            config,
            since,
            until,
            json,
            csv,
        } => load(&config).and_then(|c| show_log(&c, since, until, json, csv)),
        Command::CheckConfig { file } => return check_config(&file),
        Command::Bench { minutes } => return run_bench(minutes),
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
            let warnings = config.check();
            for warning in &warnings {
                eprintln!("{warning}");
            }
            if !warnings.is_empty() {
                ExitCode::FAILURE
            } else {
                println!("{}: ok", path.display());
                ExitCode::SUCCESS
            }
        }
    }
}

fn run_bench(minutes: u32) -> ExitCode {
    match bench::run(minutes) {
        Ok(report) => {
            println!("{report}");
            if report.passed() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("onair bench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn show_schedule(config: &Config) -> Result<()> {
    let tz = config.station.timezone;
    let clock = station::clock(config)?;
    let now = clock.now();
    let scan = schedule::scan_now(&config.library.programmes, tz, std::time::SystemTime::now())?;
    let (slots, mut ignored) = schedule::slots(scan.programmes);
    ignored.extend(scan.ignored);
    let today = now.with_timezone(&tz).date_naive();
    let from = schedule::resolve_local(tz, today.and_hms_opt(0, 0, 0).unwrap_or_default()).0;
    let to = from + TimeDelta::days(2);
    let duration_of = |p: &Path| {
        onair::engine::decoder::probe_duration(p)
            .ok()
            .and_then(|d| TimeDelta::from_std(d).ok())
    };
    let have_filler = config
        .library
        .filler
        .as_deref()
        .is_some_and(|d| schedule::list_audio_files(d).is_ok_and(|f| !f.is_empty()));
    let have_emergency = config
        .library
        .emergency
        .as_deref()
        .is_some_and(Path::exists);
    let plan = schedule::day_plan(&slots, from, to, &duration_of, have_filler, have_emergency);
    println!("{}", schedule::render_day_plan(&plan, tz));
    for note in slots
        .iter()
        .filter_map(|s| s.programme.note.as_ref().map(|n| (s, n)))
    {
        println!("note: {}: {}", note.0.programme.path.display(), note.1);
    }
    for file in &scan.settling {
        println!("settling (still being copied?): {}", file.display());
    }
    if !ignored.is_empty() {
        println!("\nIgnored files:");
        for i in &ignored {
            println!("  {}: {}", i.path.display(), i.reason);
        }
    }
    Ok(())
}

fn show_log(
    config: &Config,
    since: Option<String>,
    until: Option<String>,
    json: bool,
    csv: bool,
) -> Result<()> {
    let tz = config.station.timezone;
    let now = station::clock(config)
        .map(|c| c.now())
        .unwrap_or_else(|_| Utc::now());
    let parse = |name: &str, v: &Option<String>| -> Result<_> {
        v.as_deref()
            .map(|s| {
                asrun::parse_time_arg(s, tz, now)
                    .map_err(|e| anyhow::anyhow!("--{name} {s:?}: {e}"))
            })
            .transpose()
    };
    let (since_t, until_t) = (parse("since", &since)?, parse("until", &until)?);
    let entries = match SledLog::open(&config.data.dir) {
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
    println!("{text}");
    Ok(())
}

/// The running box holds the log: ask it over its web server.
fn show_log_from_box(
    config: &Config,
    since: Option<String>,
    until: Option<String>,
    json: bool,
    csv: bool,
) -> Result<()> {
    let file = station::web_address_file(config);
    let address = std::fs::read_to_string(&file).with_context(|| {
        format!(
            "the as-run log is in use, but {} says no running box to ask",
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
    let body = request
        .call()
        .with_context(|| format!("cannot ask the running box at {url}"))?
        .body_mut()
        .read_to_string()?;
    if json {
        println!("{body}");
        return Ok(());
    }
    let entries: Vec<asrun::Entry> =
        serde_json::from_str(&body).context("the running box sent an unreadable log")?;
    print_entries(&entries, config.station.timezone, false, csv)
}
