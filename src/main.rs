//! `onair`: the playout box's one binary. The command line and which
//! library call each subcommand makes; the work and the printing are in
//! the library ([`onair::cli`] for the maintenance commands).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

use onair::cli;
use onair::config::Config;
use onair::hw::Button;
use onair::recorder::registry::NewChannel;
use onair::{demo, station};

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
        /// One line: station, mode, on air, next, alarms and warnings (what
        /// `systemctl status onair` shows).
        #[arg(long, conflicts_with = "json")]
        short: bool,
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
    /// The studio takes over: ask the running box (over its control socket
    /// on this machine; no password needed) and print its answer.
    Live {
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Back to automation from the studio, over the control socket.
    Auto {
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Take what is on air off now (faded); what is due next follows.
    Skip {
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Press a simulated front-panel button (live, auto or skip) on a box
    /// without real ones.
    Press {
        button: Button,
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Set the password for control from the web page: asked twice on the
    /// terminal, or read as one line from standard input. There is none
    /// until this is run, and the page cannot control the box till then.
    Passwd {
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Bearer tokens for scripts (`Authorization: Bearer TOKEN`).
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// The archive of what aired, read from its folder (also while the box runs).
    Archive {
        #[command(subcommand)]
        command: ArchiveCommand,
    },
    /// The job queue: cuts, copies and hooks, run by the box in order and
    /// after their dependencies (also while the box runs).
    Job {
        #[command(subcommand)]
        command: JobCommand,
    },
    /// The streams the box records into its archive (also while it runs).
    Channel {
        #[command(subcommand)]
        command: ChannelCommand,
    },
    /// The categories of the recorded channels.
    Category {
        #[command(subcommand)]
        command: CategoryCommand,
    },
    /// Check a configuration file and print every problem. Exits 1 if the box
    /// would refuse it; warnings (missing folders or files, with which the box
    /// still starts) are printed and exit 0.
    CheckConfig { file: PathBuf },
}

#[derive(clap::Args)]
struct Which {
    #[arg(long, short)]
    config: PathBuf,
    /// Another channel in the archive than the box's own.
    #[arg(long)]
    channel: Option<String>,
    /// Another quality folder than the box's own (`128k`).
    #[arg(long)]
    quality: Option<String>,
}

impl Which {
    fn parts(&self) -> cli::archive::Which {
        cli::archive::Which {
            channel: self.channel.clone(),
            quality: self.quality.clone(),
        }
    }
}

#[derive(Subcommand)]
enum ArchiveCommand {
    /// What the archive holds: each channel and quality with its hours; or,
    /// with --from and --to, the range's runs of audio and its holes.
    List {
        #[command(flatten)]
        which: Which,
        /// From this time, in the forms of `onair log --since`.
        #[arg(long, allow_hyphen_values = true, requires = "to")]
        from: Option<String>,
        #[arg(long, allow_hyphen_values = true, requires = "from")]
        to: Option<String>,
    },
    /// Per hour: segments by type, seconds covered, and each hole and overlap.
    Coverage {
        #[command(flatten)]
        which: Which,
        /// From this time, in the forms of `onair log --since` (default: every hour).
        #[arg(long, allow_hyphen_values = true, requires = "to")]
        from: Option<String>,
        #[arg(long, allow_hyphen_values = true, requires = "from")]
        to: Option<String>,
    },
    /// A range as one file: its own frames (MP3 as aired, or AAC as a
    /// recorded AAC stream came) or WAV (decoded, to the sample). Refused if
    /// the range has holes, unless --allow-holes.
    Cut {
        #[command(flatten)]
        which: Which,
        /// From this time, in the forms of `onair log --since`.
        #[arg(long, allow_hyphen_values = true)]
        from: String,
        #[arg(long, allow_hyphen_values = true)]
        to: String,
        /// Write to this file (a `.wav` name makes a WAV; `.mp3` or `.aac` must
        /// be the range's codec) instead of standard output.
        #[arg(long, short)]
        output: Option<PathBuf>,
        /// WAV, whatever the file's name.
        #[arg(long)]
        wav: bool,
        /// Cut around holes: the runs of audio back to back, shorter than the range.
        #[arg(long)]
        allow_holes: bool,
    },
}

#[derive(Subcommand)]
enum JobCommand {
    /// Every job: queue, kind, status, times, dependencies.
    List {
        #[arg(long, short)]
        config: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// One job, with its error and captured output.
    Show {
        id: u64,
        #[arg(long, short)]
        config: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Add a job; prints its id.
    Add {
        #[command(subcommand)]
        work: AddCommand,
    },
    /// Run a failed, cancelled or interrupted job again (and the jobs its
    /// failure failed).
    Retry {
        id: u64,
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Stop a job from running; one at work is stopped (a hook is killed).
    Cancel {
        id: u64,
        #[arg(long, short)]
        config: PathBuf,
    },
}

#[derive(clap::Args)]
struct AddCommon {
    #[arg(long, short)]
    config: PathBuf,
    /// Run after this job is done: its id, or the name of a job (which may
    /// be added later with --name). May be given more than once.
    #[arg(long)]
    after: Vec<String>,
    /// The queue: one job at a time per queue, in the order added
    /// (default: "default").
    #[arg(long)]
    queue: Option<String>,
    /// A name for this job, for other jobs' --after.
    #[arg(long)]
    name: Option<String>,
}

impl AddCommon {
    fn options(&self) -> cli::job::AddOptions {
        cli::job::AddOptions {
            after: self.after.clone(),
            queue: self.queue.clone(),
            name: self.name.clone(),
        }
    }
}

#[derive(Subcommand)]
enum AddCommand {
    /// A range of a channel in the archive to a file: MP3, or WAV.
    Cut {
        #[command(flatten)]
        common: AddCommon,
        /// The channel (default: the box's own).
        #[arg(long)]
        channel: Option<String>,
        /// The quality folder (default: the box's own, or the channel's only one).
        #[arg(long)]
        quality: Option<String>,
        /// From this time, in the forms of `onair log --since`.
        #[arg(long, allow_hyphen_values = true)]
        from: String,
        #[arg(long, allow_hyphen_values = true)]
        to: String,
        /// The file to write (a `.wav` name makes a WAV; an `.mp3` or `.aac`
        /// name takes the range's codec's extension); it must not exist.
        #[arg(long, short)]
        output: PathBuf,
        #[arg(long)]
        wav: bool,
    },
    /// A file into a folder or mounted share, never over a file there.
    Copy {
        #[command(flatten)]
        common: AddCommon,
        /// The file (default: the file of the first --after job).
        #[arg(long)]
        file: Option<PathBuf>,
        /// The folder.
        #[arg(long)]
        to: PathBuf,
    },
    /// A hook of the configuration's [[jobs.hook]], with the file as its
    /// last argument.
    Hook {
        hook: String,
        #[command(flatten)]
        common: AddCommon,
        /// The file (default: the file of the first --after job).
        #[arg(long)]
        file: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum ChannelCommand {
    /// Record another stream: kept in the data folder, so it survives
    /// restarts; the running box starts on it within seconds.
    Add {
        /// Its folder in the archive: lower-case letters, digits, '-', '_'.
        name: String,
        /// The stream's http:// or https:// address, or its .m3u/.pls playlist.
        #[arg(long)]
        url: String,
        /// Its category (default: other).
        #[arg(long)]
        category: Option<String>,
        /// Create the category if there is none of that name yet.
        #[arg(long)]
        create_category: bool,
        /// Record only in this weekly window ("Mon-Fri 06:00-09:00"), in
        /// the station's zone; repeat for more. Default: always.
        #[arg(long)]
        record: Vec<String>,
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Every channel: its category, when it records, where it is defined.
    List {
        #[arg(long)]
        json: bool,
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Stop recording a channel added with `channel add`; what it recorded stays.
    Remove {
        name: String,
        #[arg(long, short)]
        config: PathBuf,
    },
}

#[derive(Subcommand)]
enum CategoryCommand {
    /// Every category with how many channels it holds.
    List {
        #[arg(long)]
        json: bool,
        #[arg(long, short)]
        config: PathBuf,
    },
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Make a token and print it, once: only its SHA-256 is kept.
    Add {
        name: String,
        #[arg(long, short)]
        config: PathBuf,
    },
    /// The tokens' names and when each was made.
    List {
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Stop a token from working.
    Revoke {
        name: String,
        #[arg(long, short)]
        config: PathBuf,
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
        Command::Status {
            config,
            json,
            short,
        } => {
            let form = match (json, short) {
                (true, _) => cli::status::Form::Json,
                (_, true) => cli::status::Form::Short,
                _ => cli::status::Form::Full,
            };
            load(&config).and_then(|c| cli::status::show_status(&c, form))
        }
        Command::Schedule { config } => load(&config).and_then(|c| cli::show_schedule(&c)),
        Command::Log {
            config,
            since,
            until,
            json,
            csv,
        } => load(&config).and_then(|c| cli::log::show_log(&c, since, until, json, csv)),
        Command::Report {
            config,
            from,
            to,
            tracks,
            output,
        } => load(&config)
            .and_then(|c| cli::log::write_report(&c, &from, &to, tracks, output.as_deref())),
        Command::Live { config } => {
            load(&config).and_then(|c| cli::control::command(&c, Button::Live))
        }
        Command::Auto { config } => {
            load(&config).and_then(|c| cli::control::command(&c, Button::Auto))
        }
        Command::Skip { config } => {
            load(&config).and_then(|c| cli::control::command(&c, Button::Skip))
        }
        Command::Press { button, config } => {
            load(&config).and_then(|c| cli::control::press(&c, button))
        }
        Command::Passwd { config } => load(&config).and_then(|c| cli::secrets::passwd(&c)),
        Command::Token { command } => match command {
            TokenCommand::Add { name, config } => {
                load(&config).and_then(|c| cli::secrets::token_add(&c, &name))
            }
            TokenCommand::List { config } => {
                load(&config).and_then(|c| cli::secrets::token_list(&c))
            }
            TokenCommand::Revoke { name, config } => {
                load(&config).and_then(|c| cli::secrets::token_revoke(&c, &name))
            }
        },
        Command::Archive { command } => match command {
            ArchiveCommand::List { which, from, to } => load(&which.config).and_then(|c| {
                cli::archive::list(&c, &which.parts(), from.as_deref(), to.as_deref())
            }),
            ArchiveCommand::Coverage { which, from, to } => load(&which.config).and_then(|c| {
                cli::archive::coverage(&c, &which.parts(), from.as_deref(), to.as_deref())
            }),
            ArchiveCommand::Cut {
                which,
                from,
                to,
                output,
                wav,
                allow_holes,
            } => load(&which.config).and_then(|c| {
                cli::archive::cut(
                    &c,
                    &which.parts(),
                    &from,
                    &to,
                    output.as_deref(),
                    wav,
                    allow_holes,
                )
            }),
        },
        Command::Job { command } => job(command),
        Command::Channel { command } => match command {
            ChannelCommand::Add {
                name,
                url,
                category,
                create_category,
                record,
                config,
            } => load(&config).and_then(|c| {
                cli::channel::add(
                    &c,
                    NewChannel {
                        name,
                        url,
                        category,
                        create_category,
                        record,
                    },
                )
            }),
            ChannelCommand::List { json, config } => {
                load(&config).and_then(|c| cli::channel::list(&c, json))
            }
            ChannelCommand::Remove { name, config } => {
                load(&config).and_then(|c| cli::channel::remove(&c, &name))
            }
        },
        Command::Category { command } => match command {
            CategoryCommand::List { json, config } => {
                load(&config).and_then(|c| cli::channel::categories(&c, json))
            }
        },
        Command::CheckConfig { file } => return cli::check_config::check_config(&file),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("onair: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn job(command: JobCommand) -> Result<()> {
    match command {
        JobCommand::List { config, json } => load(&config).and_then(|c| cli::job::list(&c, json)),
        JobCommand::Show { id, config, json } => {
            load(&config).and_then(|c| cli::job::show(&c, id, json))
        }
        JobCommand::Retry { id, config } => load(&config).and_then(|c| cli::job::retry(&c, id)),
        JobCommand::Cancel { id, config } => load(&config).and_then(|c| cli::job::cancel(&c, id)),
        JobCommand::Add { work } => {
            let (common, work) = match work {
                AddCommand::Cut {
                    common,
                    channel,
                    quality,
                    from,
                    to,
                    output,
                    wav,
                } => (
                    common,
                    cli::job::AddWork::Cut {
                        channel,
                        quality,
                        from,
                        to,
                        output,
                        wav,
                    },
                ),
                AddCommand::Copy { common, file, to } => {
                    (common, cli::job::AddWork::Copy { file, to })
                }
                AddCommand::Hook { hook, common, file } => {
                    (common, cli::job::AddWork::Hook { hook, file })
                }
            };
            load(&common.config).and_then(|c| cli::job::add(&c, work, common.options()))
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
