//! The station's configuration: one TOML file, validated at load. Unknown keys
//! and bad values are refused with the key, the value and what is expected.
//! Relative paths are relative to the configuration file's folder.
//!
//! - this file: the configuration's types, its errors and [`Config::load`].
//! - `reader`: the `TableReader` that reads values out of TOML tables and,
//!   for each one it cannot take, names the key, the value and the fix.
//! - `sections`: the station's sections (`[station]`, `[clock]`, ...) read
//!   into their types.
//! - `outputs`: the `[[output]]` tables, and the outputs a simulated clock
//!   cannot drive.
//! - `live`: `[live]` (the studio's input) and `[silence]` (its thresholds).
//! - `panel`: `[panel]`, the front panel's pins and display.
//! - `archive`: `[archive]`, where what aired is kept.
//! - `recorder`: `[recorder]`, the other streams recorded into the archive.
//! - `jobs`: `[jobs]` and `[[jobs.hook]]`, the programs hook jobs run.
//! - `machine`: what `onair check-config` warns about on this machine
//!   (folders and files missing or unusable).

mod archive;
mod jobs;
mod live;
mod machine;
mod outputs;
mod panel;
mod reader;
mod recorder;
mod sections;

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use chrono::NaiveDateTime;
use chrono_tz::Tz;
use toml::Table;

pub use outputs::{MP3_BITRATES, MP3_SAMPLE_RATES};
pub use panel::{DisplayConfig, DisplayKind, Lines, PanelConfig, PanelPins, Pull};
use reader::TableReader;
pub use recorder::{DEFAULT_CATEGORY, RecordWhen, RecordedChannel, RecorderConfig, WindowJobs};
use sections::DEFAULT_CHECK_AHEAD_MINUTES;

#[derive(Debug, Clone)]
pub struct Config {
    /// The file this was loaded from.
    pub path: PathBuf,
    pub station: Station,
    pub library: Library,
    /// A simulated clock, for demos and tests; `None` is the wall clock.
    pub clock: Option<SimulatedClock>,
    pub audio: Audio,
    pub data: Data,
    pub outputs: Vec<OutputConfig>,
    /// The stream outputs the box listens back to, as a listener would.
    pub listen_back: Vec<ListenBack>,
    pub web: Web,
    /// The station's calendar of slots; `None` when the box plays from
    /// the programme files alone.
    pub calendar: Option<CalendarConfig>,
    /// The studio's live input; `None`: the box has none, and LIVE is refused.
    pub live: Option<Live>,
    /// When the studio, or the programme, counts as silent.
    pub silence: Silence,
    /// The front panel's buttons, lamps and display.
    pub panel: PanelConfig,
    /// Where what aired is kept; `None`: the box keeps no archive.
    pub archive: Option<ArchiveConfig>,
    /// Other streams recorded into the archive; `None`: none.
    pub recorder: Option<RecorderConfig>,
    /// The job queue's hooks and their priority.
    pub jobs: JobsConfig,
}

/// `[jobs]`: what hook jobs may run, and how gently.
#[derive(Debug, Clone, PartialEq)]
pub struct JobsConfig {
    pub hooks: Vec<HookConfig>,
    /// The niceness hooks run at (0 to 19): below playout.
    pub nice: i32,
    /// Finished jobs that ended longer ago than this are forgotten at the
    /// box's start (unless a job still waiting depends on them).
    pub keep_days: u32,
}

/// `[[jobs.hook]]`: a program a `hook` job runs with its file as the last argument.
#[derive(Debug, Clone, PartialEq)]
pub struct HookConfig {
    pub name: String,
    pub program: PathBuf,
    pub args: Vec<String>,
    /// Killed, and its job failed, after this long.
    pub timeout_seconds: u32,
}

/// `[archive]`: what aired, kept as MP3 segments in
/// `<dir>/<channel>/<bitrate>k/<YYYY-MM-DDTHH>/`.
#[derive(Debug, Clone, PartialEq)]
pub struct ArchiveConfig {
    pub dir: PathBuf,
    /// The channel folder: by default the station's name as a slug.
    pub channel: String,
    pub segment_seconds: u32,
    /// Hours that ended more than this many days ago are deleted.
    pub keep_days: Option<u32>,
    /// Oldest hours are deleted to keep this much free on the disk.
    pub min_free_mb: Option<u64>,
    /// The MP3 it keeps, kbit/s: a stream's at that bitrate when there is
    /// one, else an encoder of its own.
    pub bitrate: u32,
}

/// `[live]`: the studio's input and how it takes over.
#[derive(Debug, Clone, PartialEq)]
pub struct Live {
    /// The ALSA capture device (`arecord -L`), or `default`.
    pub device: String,
    /// The crossfade between automation and the studio, both ways.
    pub fade_ms: u32,
    /// A programme whose start fell while the studio was live is started
    /// late when automation returns within this many minutes of its
    /// start, and cancelled after that.
    pub cancel_after_minutes: u32,
    /// The stream title while the studio is on air.
    pub title: String,
}

/// `[silence]`: quiet below `threshold_db` for `after_seconds` is silence
/// (the studio gone quiet, or dead air); `recovery_seconds` of sound clears it.
#[derive(Debug, Clone, PartialEq)]
pub struct Silence {
    pub threshold_db: f32,
    pub after_seconds: u32,
    pub recovery_seconds: u32,
}

/// `[calendar]`: where the calendar of slots comes from and how often it is read.
#[derive(Debug, Clone, PartialEq)]
pub struct CalendarConfig {
    pub source: CalendarSource,
    /// Station minutes between two fetches of the source.
    pub refresh_minutes: u32,
    /// Station minutes before a slot at which its file is checked.
    pub check_ahead_minutes: u32,
}

/// An iCalendar (.ics) file on the box, or an address it is fetched from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CalendarSource {
    /// An `http://` or `https://` address (`webcal://` is read as `https://`).
    Url(String),
    File(PathBuf),
}

impl fmt::Display for CalendarSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CalendarSource::Url(url) => f.write_str(url),
            CalendarSource::File(path) => write!(f, "{}", path.display()),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Station {
    pub name: String,
    pub timezone: Tz,
}

#[derive(Debug, Clone)]
pub struct Library {
    pub programmes: PathBuf,
    pub filler: Option<PathBuf>,
    pub emergency: Option<PathBuf>,
}

#[derive(Debug, Clone)]
pub struct SimulatedClock {
    /// Station-local time at which the simulated clock begins.
    pub start: NaiveDateTime,
    pub speed: f64,
}

#[derive(Debug, Clone)]
pub struct Audio {
    pub sample_rate: u32,
    pub fade_ms: u32,
}

#[derive(Debug, Clone)]
pub struct Data {
    pub dir: PathBuf,
}

#[derive(Debug, Clone, PartialEq)]
pub enum OutputConfig {
    Alsa { device: String },
    Null,
    Wav { path: PathBuf },
    Icecast(IcecastConfig),
}

/// One stream to an Icecast server (`kind = "icecast"`).
#[derive(Debug, Clone, PartialEq)]
pub struct IcecastConfig {
    pub host: String,
    pub port: u16,
    /// The mount point, starting with `/`, such as `/live.mp3`.
    pub mount: String,
    pub user: String,
    pub password: String,
    /// kbit/s: the constant bitrate, or the target of a VBR stream.
    pub bitrate: u32,
    pub mode: BitrateMode,
    /// The stream's sample rate; `None` streams at the engine's rate.
    pub sample_rate: Option<u32>,
    pub name: Option<String>,
    pub description: Option<String>,
    pub genre: Option<String>,
    pub url: Option<String>,
    /// List the stream in public directories.
    pub public: bool,
    /// The longest wait between two reconnection attempts.
    pub reconnect_max_seconds: u32,
}

#[cfg(test)]
impl IcecastConfig {
    /// A stream to a server on this machine with every default, for tests.
    pub(crate) fn local(port: u16, mount: &str, bitrate: u32) -> Self {
        IcecastConfig {
            host: "127.0.0.1".to_string(),
            port,
            mount: mount.to_string(),
            user: "source".to_string(),
            password: "hackme".to_string(),
            bitrate,
            mode: BitrateMode::Cbr,
            sample_rate: None,
            name: None,
            description: None,
            genre: None,
            url: None,
            public: false,
            reconnect_max_seconds: 30,
        }
    }
}

/// The box listening to one of its own streams as a listener would
/// (`listen_url` on an icecast output). Kept beside the outputs rather than
/// in [`IcecastConfig`]: the stream output itself never reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenBack {
    /// The output (an index into [`Config::outputs`]) whose listeners this
    /// stands in for.
    pub output: usize,
    /// The plain-HTTP address listeners tune to.
    pub url: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BitrateMode {
    Cbr,
    Vbr,
}

#[derive(Debug, Clone)]
pub struct Web {
    pub listen: SocketAddr,
    /// The control socket for `onair live|auto|skip|press` on the box
    /// (default `<data>/control.sock`).
    pub control_socket: PathBuf,
    /// Whether reading the status page and API needs a login too.
    pub read_requires_login: bool,
    /// How long a logged-in page stays logged in without being used.
    pub session_idle_hours: u32,
}

/// The demo station's configuration, for `onair demo` on a developer machine.
pub const DEMO_CONFIG: &str = include_str!("../../config/demo.toml");

/// One thing wrong in the configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Where, as a path of TOML keys: `audio.fade_ms`, `output[2].kind`
    /// (outputs are counted from 1, in the order of the `[[output]]` sections).
    pub key: String,
    /// The value as written in the file, or empty when the key is missing.
    pub value: String,
    /// The whole explanation shown after the value: what was expected and,
    /// where it helps, what to write instead.
    pub expected: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.value.is_empty() {
            write!(f, "{} is missing: {}", self.key, self.expected)
        } else {
            write!(f, "{} = {}: {}", self.key, self.value, self.expected)
        }
    }
}

/// Something the box can run with but that needs attention (reported by
/// `onair check-config`): usually a folder or file that is not there yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    pub key: String,
    pub path: PathBuf,
    /// What is wrong.
    pub problem: String,
    /// What to do about it.
    pub fix: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} = {:?}: {}; {}",
            self.key,
            self.path.display().to_string(),
            self.problem,
            self.fix
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the configuration file {}: {error}; {}", path.display(), unreadable_fix(error))]
    Unreadable {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error(
        "{}:{line}:{column}: this is not valid TOML: {message}; correct the file at that place (config/onair.toml shows the format)",
        path.display()
    )]
    Syntax {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{}", list_problems(.0))]
    Invalid(Vec<Problem>),
}

fn unreadable_fix(error: &std::io::Error) -> &'static str {
    match error.kind() {
        std::io::ErrorKind::NotFound => {
            "create it (config/onair.toml is a documented example) or give the right path with --config"
        }
        std::io::ErrorKind::PermissionDenied => "make it readable by the user onair runs as",
        std::io::ErrorKind::InvalidData => "save it as UTF-8 text",
        _ => "check the path given with --config and the storage it is on",
    }
}

fn list_problems(problems: &[Problem]) -> String {
    let mut text = format!(
        "the configuration has {} problem{}; correct {} and run `onair check-config` again:",
        problems.len(),
        if problems.len() == 1 { "" } else { "s" },
        if problems.len() == 1 { "it" } else { "them" },
    );
    for problem in problems {
        text.push_str("\n  ");
        text.push_str(&problem.to_string());
    }
    text
}

impl Config {
    /// How long before a booked slot its file is checked (the default when
    /// there is no calendar, and so nothing booked to check).
    pub fn check_ahead_minutes(&self) -> u32 {
        self.calendar
            .as_ref()
            .map_or(DEFAULT_CHECK_AHEAD_MINUTES, |c| c.check_ahead_minutes)
    }

    /// Reads and validates the configuration file at `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|error| ConfigError::Unreadable {
            path: path.to_path_buf(),
            error,
        })?;
        Config::parse(&text, path)
    }

    /// Validates `text` as if read from `path`: relative paths in it are
    /// resolved against `path`'s folder, and messages name `path`.
    /// Every problem in the file is reported, not only the first.
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let root: Table = text.parse().map_err(|error: toml::de::Error| {
            let (line, column) = error
                .span()
                .map(|span| line_and_column(text, span.start))
                .unwrap_or((1, 1));
            ConfigError::Syntax {
                path: path.to_path_buf(),
                line,
                column,
                message: error.message().to_string(),
            }
        })?;
        let path = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let mut reader = TableReader::new(base);
        let config = reader.config(&root, path);
        match config {
            Some(config) if reader.problems.is_empty() => Ok(config),
            _ => Err(ConfigError::Invalid(reader.problems)),
        }
    }
}

/// 1-based line and column (in characters) of a byte offset.
fn line_and_column(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
    (line, before[line_start..].chars().count() + 1)
}

#[cfg(test)]
mod tests;
