//! The station's configuration: one TOML file, validated at load. Unknown keys
//! and bad values are refused with the key, the value and what is expected.
//! Relative paths are relative to the configuration file's folder.

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::{Path, PathBuf};

use chrono::NaiveDateTime;
use chrono_tz::Tz;
use toml::{Table, Value};

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
}

/// The demo station's configuration, for `onair demo` on a developer machine.
pub const DEMO_CONFIG: &str = include_str!("../config/demo.toml");

const DEFAULT_STATION_NAME: &str = "onair";
const DEFAULT_PROGRAMMES: &str = "programmes";
const DEFAULT_DATA_DIR: &str = "state";
const DEFAULT_SAMPLE_RATE: u32 = 48_000;
const DEFAULT_FADE_MS: u32 = 1_000;
const DEFAULT_LISTEN: SocketAddr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 8080));
const DEFAULT_ALSA_DEVICE: &str = "default";
const SAMPLE_RATES: std::ops::RangeInclusive<i64> = 8_000..=192_000;
const FADE_MS: std::ops::RangeInclusive<i64> = 0..=30_000;
const MAX_SPEED: f64 = 1000.0;

const TOP_KEYS: &[&str] = &[
    "station", "library", "clock", "audio", "data", "output", "web", "calendar",
];
const CALENDAR_KEYS: &[&str] = &["source", "refresh_minutes", "check_ahead_minutes"];
const DEFAULT_REFRESH_MINUTES: u32 = 15;
const DEFAULT_CHECK_AHEAD_MINUTES: u32 = 60;
/// A day: a calendar read less often than that is not kept up to date.
const CALENDAR_MINUTES: std::ops::RangeInclusive<i64> = 1..=1440;
const STATION_KEYS: &[&str] = &["name", "timezone"];
const LIBRARY_KEYS: &[&str] = &["programmes", "filler", "emergency"];
const CLOCK_KEYS: &[&str] = &["start", "speed"];
const AUDIO_KEYS: &[&str] = &["sample_rate", "fade_ms"];
const DATA_KEYS: &[&str] = &["dir"];
const WEB_KEYS: &[&str] = &["listen"];
const OUTPUT_KINDS: &[&str] = &["alsa", "null", "wav", "icecast"];
const ICECAST_KEYS: &[&str] = &[
    "kind",
    "host",
    "port",
    "mount",
    "user",
    "password",
    "bitrate",
    "mode",
    "sample_rate",
    "name",
    "description",
    "genre",
    "url",
    "public",
    "reconnect_max_seconds",
    "listen_url",
];
/// Every key any output kind accepts, in the order the kinds list them.
fn any_output_keys() -> Vec<&'static str> {
    let mut keys: Vec<&'static str> = Vec::new();
    for key in OUTPUT_KINDS.iter().flat_map(|kind| output_keys(kind)) {
        if !keys.contains(key) {
            keys.push(key);
        }
    }
    keys
}
const DEFAULT_ICECAST_PORT: i64 = 8000;
const DEFAULT_ICECAST_USER: &str = "source";
const DEFAULT_BITRATE: u32 = 128;
const DEFAULT_RECONNECT_MAX_SECONDS: u32 = 30;
/// Hosts that mean "this machine": a stream sent there is listened back to
/// unless `listen_url = ""` says otherwise.
const LOCAL_HOSTS: &[&str] = &["127.0.0.1", "localhost", "::1"];
/// The bitrates an MP3 encoder can produce, kbit/s.
pub const MP3_BITRATES: &[u32] = &[
    8, 16, 24, 32, 40, 48, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320,
];
/// The sample rates an MP3 stream can carry.
pub const MP3_SAMPLE_RATES: &[u32] = &[
    8_000, 11_025, 12_000, 16_000, 22_050, 24_000, 32_000, 44_100, 48_000,
];

fn output_keys(kind: &str) -> &'static [&'static str] {
    match kind {
        "alsa" => &["kind", "device"],
        "wav" => &["kind", "path"],
        "icecast" => ICECAST_KEYS,
        _ => &["kind"],
    }
}

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
        let mut walk = Walk {
            base,
            problems: Vec::new(),
        };
        let config = walk.config(&root, path);
        match config {
            Some(config) if walk.problems.is_empty() => Ok(config),
            _ => Err(ConfigError::Invalid(walk.problems)),
        }
    }

    /// What `onair check-config` reports beyond a valid file: folders and
    /// files that are missing or unusable. The box still starts with these.
    pub fn check(&self) -> Vec<Warning> {
        let mut warnings = Vec::new();
        if let Some(w) = check_folder(
            "library.programmes",
            &self.library.programmes,
            "the programme folder",
            "create it or mount the programme storage, or set library.programmes to the folder holding the programme files",
        ) {
            warnings.push(w);
        }
        if let Some(filler) = &self.library.filler {
            let fix = "create it and put filler files in it, or remove library.filler";
            match check_folder("library.filler", filler, "the filler folder", fix) {
                Some(w) => warnings.push(w),
                None if !has_files(filler) => warnings.push(Warning {
                    key: "library.filler".into(),
                    path: filler.clone(),
                    problem:
                        "the filler folder holds no files, so unscheduled time will not be filled"
                            .into(),
                    fix: "put filler audio files in it".into(),
                }),
                None => {}
            }
        }
        if let Some(emergency) = &self.library.emergency {
            let problem = match std::fs::metadata(emergency) {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Some(
                    "the emergency file does not exist, so dead air will not be covered"
                        .to_string(),
                ),
                Err(e) => Some(format!("the emergency file cannot be read ({e})")),
                Ok(m) if !m.is_file() => Some(
                    "this is not a file; the emergency source must be one sound file".to_string(),
                ),
                Ok(_) => None,
            };
            if let Some(problem) = problem {
                warnings.push(Warning {
                    key: "library.emergency".into(),
                    path: emergency.clone(),
                    problem,
                    fix: "put a sound file there (it is looped when nothing else can play), or remove library.emergency".into(),
                });
            }
        }
        if let Some(problem) = not_creatable(&self.data.dir) {
            warnings.push(Warning {
                key: "data.dir".into(),
                path: self.data.dir.clone(),
                problem: format!("the data folder (as-run log and state) {problem}"),
                fix: "create it and give it to the user onair runs as, or set data.dir to a writable folder".into(),
            });
        }
        if let Some(CalendarConfig {
            source: CalendarSource::File(path),
            ..
        }) = &self.calendar
            && !path.is_file()
        {
            warnings.push(Warning {
                key: "calendar.source".into(),
                path: path.clone(),
                problem: "the calendar file does not exist or is not a file, so slots come from the last cached copy, if any".into(),
                fix: "put the station's .ics file there, or correct calendar.source".into(),
            });
        }
        for (i, output) in self.outputs.iter().enumerate() {
            if let OutputConfig::Wav { path } = output {
                let folder = path.parent().unwrap_or(Path::new("."));
                if let Some(problem) = not_creatable(folder) {
                    warnings.push(Warning {
                        key: format!("output[{}].path", i + 1),
                        path: path.clone(),
                        problem: format!("the folder of the wav file {problem}"),
                        fix: "create the folder and make it writable, or choose another path"
                            .into(),
                    });
                }
            }
        }
        warnings
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

fn check_folder(key: &str, path: &Path, what: &str, fix: &str) -> Option<Warning> {
    let problem = match std::fs::read_dir(path) {
        Ok(_) => return None,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => format!("{what} does not exist"),
        Err(e) if e.kind() == std::io::ErrorKind::NotADirectory => {
            format!("{what} is a file, not a folder")
        }
        Err(e) => format!("{what} cannot be read ({e})"),
    };
    Some(Warning {
        key: key.into(),
        path: path.to_path_buf(),
        problem,
        fix: fix.into(),
    })
}

fn has_files(folder: &Path) -> bool {
    std::fs::read_dir(folder).is_ok_and(|entries| {
        entries
            .flatten()
            .any(|e| !e.file_name().to_string_lossy().starts_with('.') && e.path().is_file())
    })
}

/// Why the box could not create or write `folder`, or `None` if it can.
/// Nothing is created: `check-config` is often run as another user than the
/// box, and a folder it created would belong to the wrong user.
fn not_creatable(folder: &Path) -> Option<String> {
    let mut existing = folder;
    loop {
        match std::fs::metadata(existing) {
            Ok(m) if m.is_dir() => break,
            Ok(_) => {
                return Some(format!(
                    "cannot be created: {} is a file",
                    existing.display()
                ));
            }
            // A missing folder, or one "inside" a file: look further up.
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
                ) =>
            {
                match existing.parent() {
                    Some(parent) if !parent.as_os_str().is_empty() => existing = parent,
                    _ => return None,
                }
            }
            Err(e) => return Some(format!("cannot be checked: {e}")),
        }
    }
    if writable(existing) {
        None
    } else if existing == folder {
        Some("is not writable".to_string())
    } else {
        Some(format!(
            "cannot be created: {} is not writable",
            existing.display()
        ))
    }
}

fn writable(folder: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c_path) = std::ffi::CString::new(folder.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: `c_path` is a valid NUL-terminated string that outlives the call.
    unsafe { libc::access(c_path.as_ptr(), libc::W_OK | libc::X_OK) == 0 }
}

/// Collects every problem while building the configuration.
struct Walk {
    /// The configuration file's folder, for relative paths.
    base: PathBuf,
    problems: Vec<Problem>,
}

fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_string()
    } else {
        format!("{prefix}.{key}")
    }
}

/// The value as the user wrote it, shortened when long.
fn show(value: &Value) -> String {
    let text = match value {
        Value::Table(_) => "a table".to_string(),
        other => other.to_string(),
    };
    if text.chars().count() > 60 {
        let cut: String = text.chars().take(57).collect();
        format!("{cut}...")
    } else {
        text
    }
}

fn article_type(value: &Value) -> &'static str {
    match value {
        Value::String(_) => "a string",
        Value::Integer(_) => "an integer",
        Value::Float(_) => "a number with a fraction",
        Value::Boolean(_) => "true/false",
        Value::Datetime(_) => "a date-time",
        Value::Array(_) => "an array",
        Value::Table(_) => "a table",
    }
}

/// The known key a mistyped `key` most likely meant.
fn closest<'a>(key: &str, known: &[&'a str]) -> Option<&'a str> {
    let lower = key.to_lowercase().replace('-', "_");
    let allowed = (lower.chars().count() / 3).clamp(1, 3);
    known
        .iter()
        .map(|k| (strsim::osa_distance(&lower, k), *k))
        .filter(|(d, k)| {
            *d <= allowed || (lower.len() >= 3 && (k.contains(lower.as_str()) || lower.contains(k)))
        })
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

fn one_of(known: &[&str]) -> String {
    known.join(", ")
}

impl Walk {
    fn problem(
        &mut self,
        key: impl Into<String>,
        value: Option<&Value>,
        expected: impl Into<String>,
    ) {
        self.problems.push(Problem {
            key: key.into(),
            value: value.map(show).unwrap_or_default(),
            expected: expected.into(),
        });
    }

    fn unknown_keys(&mut self, prefix: &str, table: &Table, known: &[&str]) {
        for (key, value) in table {
            if known.contains(&key.as_str()) {
                continue;
            }
            let mut expected = format!("unknown key; expected one of {}", one_of(known));
            if let Some(guess) = closest(key, known) {
                expected.push_str(&format!(" (did you mean `{guess}`?)"));
            }
            self.problem(join(prefix, key), Some(value), expected);
        }
    }

    /// A `[name]` section; `None` if absent or not a table (the latter is a problem).
    fn section<'t>(&mut self, root: &'t Table, name: &str, known: &[&str]) -> Option<&'t Table> {
        match root.get(name)? {
            Value::Table(table) => {
                self.unknown_keys(name, table, known);
                Some(table)
            }
            other => {
                self.problem(
                    name,
                    Some(other),
                    format!(
                        "expected a [{name}] section with the keys {}",
                        one_of(known)
                    ),
                );
                None
            }
        }
    }

    fn string<'t>(&mut self, prefix: &str, table: Option<&'t Table>, key: &str) -> Option<&'t str> {
        match table?.get(key)? {
            Value::String(s) if !s.trim().is_empty() => Some(s),
            other @ Value::String(_) => {
                self.problem(
                    join(prefix, key),
                    Some(other),
                    "expected a non-empty string; remove the key to use the default",
                );
                None
            }
            other => {
                self.problem(
                    join(prefix, key),
                    Some(other),
                    format!("expected a string in quotes, not {}", article_type(other)),
                );
                None
            }
        }
    }

    fn integer(
        &mut self,
        prefix: &str,
        table: Option<&Table>,
        key: &str,
        range: std::ops::RangeInclusive<i64>,
        unit: &str,
    ) -> Option<i64> {
        let value = table?.get(key)?;
        let expected = format!(
            "expected a whole number of {unit} from {} to {}",
            range.start(),
            range.end()
        );
        match value {
            Value::Integer(n) if range.contains(n) => Some(*n),
            Value::Integer(_) => {
                self.problem(join(prefix, key), Some(value), expected);
                None
            }
            other => {
                self.problem(
                    join(prefix, key),
                    Some(other),
                    format!("{expected}, not {}", article_type(other)),
                );
                None
            }
        }
    }

    fn path(&mut self, prefix: &str, table: Option<&Table>, key: &str) -> Option<PathBuf> {
        self.string(prefix, table, key).map(|s| self.base.join(s))
    }

    fn config(&mut self, root: &Table, path: PathBuf) -> Option<Config> {
        self.unknown_keys("", root, TOP_KEYS);
        let station = self.station(root);
        let library = self.library(root);
        let clock = self.clock(root);
        let audio = self.audio(root);
        let data = self.data(root);
        let (outputs, listen_back) = self.outputs(root);
        let web = self.web(root);
        let calendar = self.calendar(root);

        let default_output =
            !matches!(root.get("output"), Some(Value::Array(items)) if !items.is_empty());
        if let Some(clock) = &clock
            && clock.speed != 1.0
        {
            // Counted in the file, not in `outputs`: an output refused above
            // is missing from that list and would shift the number.
            let alsa = match root.get("output") {
                Some(Value::Array(items)) if !items.is_empty() => items
                    .iter()
                    .position(|item| item.get("kind").and_then(Value::as_str) == Some("alsa")),
                _ => outputs
                    .iter()
                    .position(|o| matches!(o, OutputConfig::Alsa { .. })),
            };
            let why =
                "an ALSA device plays in real time; set clock.speed = 1 or use a wav/null output";
            match alsa {
                Some(i) if !default_output => {
                    self.problems.push(Problem {
                        key: format!("output[{}].kind", i + 1),
                        value: "\"alsa\"".into(),
                        expected: format!("not with clock.speed = {}: {why}", clock.speed),
                    });
                }
                Some(_) => {
                    self.problems.push(Problem {
                        key: "clock.speed".into(),
                        value: clock.speed.to_string(),
                        expected: format!(
                            "expected 1 with the default output (no [[output]] section means one ALSA output): {why}"
                        ),
                    });
                }
                None => {}
            }
        }

        Some(Config {
            path,
            station: station?,
            library,
            clock,
            audio,
            data,
            outputs,
            listen_back,
            web,
            calendar,
        })
    }

    fn calendar(&mut self, root: &Table) -> Option<CalendarConfig> {
        let table = self.section(root, "calendar", CALENDAR_KEYS)?;
        let example = "expected the calendar's address (https://…/basic.ics, such as a calendar service's secret iCal address) or the path of an .ics file";
        let source = match table.get("source") {
            None => {
                self.problem(
                    "calendar.source",
                    None,
                    format!(
                        "{example}; or remove [calendar] to play from the programme files alone"
                    ),
                );
                None
            }
            Some(value) => match value.as_str().map(str::trim) {
                Some(text) if !text.is_empty() => self.calendar_source(value, text, example),
                _ => {
                    self.problem("calendar.source", Some(value), example);
                    None
                }
            },
        };
        let minutes = |this: &mut Self, key: &str, default: u32| match table.get(key) {
            None => Some(default),
            Some(_) => this
                .integer("calendar", Some(table), key, CALENDAR_MINUTES, "minutes")
                .map(|n| n as u32),
        };
        let refresh_minutes = minutes(self, "refresh_minutes", DEFAULT_REFRESH_MINUTES);
        let check_ahead_minutes = minutes(self, "check_ahead_minutes", DEFAULT_CHECK_AHEAD_MINUTES);
        Some(CalendarConfig {
            source: source?,
            refresh_minutes: refresh_minutes?,
            check_ahead_minutes: check_ahead_minutes?,
        })
    }

    fn calendar_source(
        &mut self,
        value: &Value,
        text: &str,
        example: &str,
    ) -> Option<CalendarSource> {
        let Some((scheme, rest)) = text.split_once("://") else {
            return Some(CalendarSource::File(self.base.join(text)));
        };
        match scheme.to_ascii_lowercase().as_str() {
            "http" | "https" if !rest.is_empty() => Some(CalendarSource::Url(text.to_string())),
            // webcal:// is how calendar services label a subscription; it is
            // fetched over HTTPS.
            "webcal" | "webcals" if !rest.is_empty() => {
                Some(CalendarSource::Url(format!("https://{rest}")))
            }
            "file" if !rest.is_empty() => Some(CalendarSource::File(self.base.join(rest))),
            _ => {
                self.problem(
                    "calendar.source",
                    Some(value),
                    format!("{example}: the box fetches http:// and https:// addresses only"),
                );
                None
            }
        }
    }

    fn station(&mut self, root: &Table) -> Option<Station> {
        let table = self.section(root, "station", STATION_KEYS);
        let name = self
            .string("station", table, "name")
            .unwrap_or(DEFAULT_STATION_NAME)
            .to_string();
        let example = "expected an IANA time zone name such as \"Europe/London\" (the station's local time, DST-aware)";
        let Some(table) = table else {
            if !root.contains_key("station") {
                self.problem("station.timezone", None, example);
            }
            return None;
        };
        let Some(value) = table.get("timezone") else {
            self.problem("station.timezone", None, example);
            return None;
        };
        let Some(text) = value.as_str() else {
            self.problem(
                "station.timezone",
                Some(value),
                format!("{example}, not {}", article_type(value)),
            );
            return None;
        };
        match text.parse::<Tz>() {
            Ok(timezone) => Some(Station { name, timezone }),
            Err(_) => {
                let mut expected = example.to_string();
                if let Some(guess) = closest_timezone(text) {
                    expected.push_str(&format!(" (did you mean \"{guess}\"?)"));
                }
                self.problem("station.timezone", Some(value), expected);
                None
            }
        }
    }

    fn library(&mut self, root: &Table) -> Library {
        let table = self.section(root, "library", LIBRARY_KEYS);
        let programmes = self
            .path("library", table, "programmes")
            .unwrap_or_else(|| self.base.join(DEFAULT_PROGRAMMES));
        Library {
            programmes,
            filler: self.path("library", table, "filler"),
            emergency: self.path("library", table, "emergency"),
        }
    }

    fn clock(&mut self, root: &Table) -> Option<SimulatedClock> {
        let table = self.section(root, "clock", CLOCK_KEYS)?;
        let start_expected = "expected the station-local time at which the simulated clock begins, such as \"2026-03-29T00:59:30\" (no time zone offset)";
        let start = match table.get("start") {
            None => {
                self.problem(
                    "clock.start",
                    None,
                    format!("{start_expected}; or remove [clock] to use the wall clock"),
                );
                None
            }
            Some(value) => {
                let text = match value {
                    Value::String(s) => Some(s.clone()),
                    Value::Datetime(d)
                        if d.offset.is_none() && d.date.is_some() && d.time.is_some() =>
                    {
                        Some(d.to_string())
                    }
                    _ => None,
                };
                let parsed = text.as_deref().and_then(|t| {
                    [
                        "%Y-%m-%dT%H:%M:%S%.f",
                        "%Y-%m-%d %H:%M:%S%.f",
                        "%Y-%m-%dT%H:%M",
                        "%Y-%m-%d %H:%M",
                    ]
                    .iter()
                    .find_map(|format| NaiveDateTime::parse_from_str(t.trim(), format).ok())
                });
                if parsed.is_none() {
                    self.problem("clock.start", Some(value), start_expected);
                }
                parsed
            }
        };
        let speed_expected = format!(
            "expected simulated seconds per real second, more than 0 and at most {MAX_SPEED}"
        );
        let speed = match table.get("speed") {
            None => Some(1.0),
            Some(value) => {
                let speed = match value {
                    Value::Float(f) => Some(*f),
                    Value::Integer(n) => Some(*n as f64),
                    _ => None,
                };
                match speed {
                    Some(s) if s > 0.0 && s <= MAX_SPEED => Some(s),
                    _ => {
                        self.problem("clock.speed", Some(value), speed_expected);
                        None
                    }
                }
            }
        };
        Some(SimulatedClock {
            start: start?,
            speed: speed?,
        })
    }

    fn audio(&mut self, root: &Table) -> Audio {
        let table = self.section(root, "audio", AUDIO_KEYS);
        let sample_rate = self.integer(
            "audio",
            table,
            "sample_rate",
            SAMPLE_RATES,
            "samples per second",
        );
        let fade_ms = self.integer("audio", table, "fade_ms", FADE_MS, "milliseconds");
        Audio {
            sample_rate: sample_rate.map_or(DEFAULT_SAMPLE_RATE, |n| n as u32),
            fade_ms: fade_ms.map_or(DEFAULT_FADE_MS, |n| n as u32),
        }
    }

    fn data(&mut self, root: &Table) -> Data {
        let table = self.section(root, "data", DATA_KEYS);
        let dir = self
            .path("data", table, "dir")
            .unwrap_or_else(|| self.base.join(DEFAULT_DATA_DIR));
        Data { dir }
    }

    fn web(&mut self, root: &Table) -> Web {
        let table = self.section(root, "web", WEB_KEYS);
        let listen = match table.and_then(|t| t.get("listen")) {
            None => DEFAULT_LISTEN,
            Some(value) => match value.as_str().map(|s| s.trim().parse::<SocketAddr>()) {
                Some(Ok(addr)) => addr,
                _ => {
                    self.problem(
                        "web.listen",
                        Some(value),
                        "expected an IP address and port such as \"127.0.0.1:8080\" (this machine only) or \"0.0.0.0:8080\" (the whole network); port 0 picks a free port",
                    );
                    DEFAULT_LISTEN
                }
            },
        };
        Web { listen }
    }

    /// The outputs, and the listen-back checks of the stream outputs.
    fn outputs(&mut self, root: &Table) -> (Vec<OutputConfig>, Vec<ListenBack>) {
        let items = match root.get("output") {
            None => {
                let alsa = OutputConfig::Alsa {
                    device: DEFAULT_ALSA_DEVICE.to_string(),
                };
                return (vec![alsa], Vec::new());
            }
            Some(Value::Array(items)) => items,
            Some(other) => {
                self.problem(
                    "output",
                    Some(other),
                    "expected [[output]] sections (with double brackets), one per output, each with a kind",
                );
                return (Vec::new(), Vec::new());
            }
        };
        let mut outputs = Vec::new();
        let mut listen_back = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let prefix = format!("output[{}]", i + 1);
            match item {
                Value::Table(table) => {
                    let Some(output) = self.output(&prefix, table) else {
                        continue;
                    };
                    if let OutputConfig::Icecast(stream) = &output
                        && let Some(url) = self.listen_url(&prefix, table, stream)
                    {
                        listen_back.push(ListenBack {
                            output: outputs.len(),
                            url,
                        });
                    }
                    outputs.push(output);
                }
                other => self.problem(
                    prefix,
                    Some(other),
                    format!(
                        "expected an [[output]] section with kind = one of {}",
                        one_of(OUTPUT_KINDS)
                    ),
                ),
            }
        }
        if items.is_empty() {
            outputs.push(OutputConfig::Alsa {
                device: DEFAULT_ALSA_DEVICE.to_string(),
            });
        }
        (outputs, listen_back)
    }

    /// Where the box listens back to a stream: `listen_url` when given
    /// (`""` turns the check off), else the mount itself when the server is
    /// on this machine. A remote server is not listened to unless asked: the
    /// box may not be allowed to reach it the way listeners do.
    fn listen_url(
        &mut self,
        prefix: &str,
        table: &Table,
        stream: &IcecastConfig,
    ) -> Option<String> {
        let Some(value) = table.get("listen_url") else {
            if !LOCAL_HOSTS.contains(&stream.host.to_ascii_lowercase().as_str()) {
                return None;
            }
            return Some(mount_url(stream));
        };
        let example = format!(
            "the plain http:// address listeners tune to, such as \"{}\", or \"\" to turn the listen-back check off",
            mount_url(stream)
        );
        let Value::String(text) = value else {
            self.problem(
                join(prefix, "listen_url"),
                Some(value),
                format!("expected {example}, not {}", article_type(value)),
            );
            return None;
        };
        let text = text.trim();
        if text.is_empty() {
            return None;
        }
        match check_listen_url(text) {
            Ok(()) => Some(text.to_string()),
            Err(why) => {
                self.problem(
                    join(prefix, "listen_url"),
                    Some(value),
                    format!("{why}; expected {example}"),
                );
                None
            }
        }
    }

    fn output(&mut self, prefix: &str, table: &Table) -> Option<OutputConfig> {
        let kind_expected = format!("expected one of {}", one_of(OUTPUT_KINDS));
        let kind = match table.get("kind") {
            None => {
                self.problem(join(prefix, "kind"), None, kind_expected);
                None
            }
            Some(Value::String(kind)) if OUTPUT_KINDS.contains(&kind.as_str()) => {
                Some(kind.as_str())
            }
            Some(other) => {
                self.problem(join(prefix, "kind"), Some(other), kind_expected);
                None
            }
        };
        match kind {
            Some(kind) => {
                let allowed = output_keys(kind);
                for (key, value) in table {
                    if allowed.contains(&key.as_str()) {
                        continue;
                    }
                    let expected = if any_output_keys().contains(&key.as_str()) {
                        let owner = OUTPUT_KINDS
                            .iter()
                            .find(|k| output_keys(k).contains(&key.as_str()))
                            .unwrap_or(&"another");
                        format!(
                            "not a key of {kind} outputs ({key} is for {owner} outputs); expected one of {}",
                            one_of(allowed)
                        )
                    } else {
                        let mut text = format!("unknown key; expected one of {}", one_of(allowed));
                        if let Some(guess) = closest(key, &any_output_keys()) {
                            text.push_str(&format!(" (did you mean `{guess}`?)"));
                        }
                        text
                    };
                    self.problem(join(prefix, key), Some(value), expected);
                }
            }
            None => self.unknown_keys(prefix, table, &any_output_keys()),
        }
        match kind? {
            "alsa" => {
                let device = self
                    .string(prefix, Some(table), "device")
                    .unwrap_or(DEFAULT_ALSA_DEVICE);
                Some(OutputConfig::Alsa {
                    device: device.to_string(),
                })
            }
            "wav" => match self.path(prefix, Some(table), "path") {
                Some(path) => Some(OutputConfig::Wav { path }),
                None => {
                    if !table.contains_key("path") {
                        self.problem(
                            join(prefix, "path"),
                            None,
                            "expected the file a wav output writes to, such as \"out.wav\"",
                        );
                    }
                    None
                }
            },
            "icecast" => self.icecast(prefix, table).map(OutputConfig::Icecast),
            _ => Some(OutputConfig::Null),
        }
    }

    fn icecast(&mut self, prefix: &str, table: &Table) -> Option<IcecastConfig> {
        let mut complete = true;
        let mut required = |this: &mut Self, key: &str, expected: &str| {
            let value = this.string(prefix, Some(table), key).map(str::to_string);
            if value.is_none() {
                complete = false;
                if !table.contains_key(key) {
                    this.problem(join(prefix, key), None, expected);
                }
            }
            value
        };
        let host = required(
            self,
            "host",
            "expected the Icecast server's host name or address, such as \"127.0.0.1\"",
        );
        let mount = required(
            self,
            "mount",
            "expected the mount point listeners tune to, such as \"/live.mp3\"",
        );
        let password = required(
            self,
            "password",
            "expected the server's source password (<source-password> in icecast.xml)",
        );
        if let Some(m) = &mount
            && !m.starts_with('/')
        {
            self.problem(
                join(prefix, "mount"),
                table.get("mount"),
                format!("expected a mount point starting with /, such as \"/{m}\""),
            );
            complete = false;
        }
        let port = match self.integer(prefix, Some(table), "port", 1..=65_535, "port") {
            Some(p) => p,
            None => {
                complete &= !table.contains_key("port");
                DEFAULT_ICECAST_PORT
            }
        } as u16;
        let user = self
            .string(prefix, Some(table), "user")
            .unwrap_or(DEFAULT_ICECAST_USER)
            .to_string();
        let bitrate = match table.get("bitrate") {
            None => DEFAULT_BITRATE,
            Some(Value::Integer(n)) if MP3_BITRATES.contains(&(*n as u32)) && *n > 0 => *n as u32,
            Some(other) => {
                self.problem(
                    join(prefix, "bitrate"),
                    Some(other),
                    format!(
                        "expected an MP3 bitrate in kbit/s, one of {}",
                        MP3_BITRATES
                            .iter()
                            .map(u32::to_string)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                );
                complete = false;
                DEFAULT_BITRATE
            }
        };
        let mode = match table.get("mode") {
            None => BitrateMode::Cbr,
            Some(Value::String(m)) if m.eq_ignore_ascii_case("cbr") => BitrateMode::Cbr,
            Some(Value::String(m)) if m.eq_ignore_ascii_case("vbr") => BitrateMode::Vbr,
            Some(other) => {
                self.problem(
                    join(prefix, "mode"),
                    Some(other),
                    "expected \"cbr\" (constant bitrate) or \"vbr\" (variable, around the bitrate)",
                );
                complete = false;
                BitrateMode::Cbr
            }
        };
        let sample_rate = match table.get("sample_rate") {
            None => None,
            Some(Value::Integer(n)) if MP3_SAMPLE_RATES.iter().any(|&r| i64::from(r) == *n) => {
                Some(*n as u32)
            }
            Some(other) => {
                self.problem(
                    join(prefix, "sample_rate"),
                    Some(other),
                    "expected an MP3 sample rate such as 44100 or 48000 (remove the key to stream at the engine's rate)",
                );
                complete = false;
                None
            }
        };
        let mut text = |this: &mut Self, key: &str| {
            let value = this.string(prefix, Some(table), key).map(str::to_string);
            if value.is_none() && table.contains_key(key) {
                complete = false;
            }
            value
        };
        let name = text(self, "name");
        let description = text(self, "description");
        let genre = text(self, "genre");
        let url = text(self, "url");
        let public = match table.get("public") {
            None => false,
            Some(Value::Boolean(b)) => *b,
            Some(other) => {
                self.problem(
                    join(prefix, "public"),
                    Some(other),
                    "expected true (list the stream in public directories) or false",
                );
                complete = false;
                false
            }
        };
        let reconnect_max_seconds = match table.get("reconnect_max_seconds") {
            None => DEFAULT_RECONNECT_MAX_SECONDS,
            Some(_) => match self.integer(
                prefix,
                Some(table),
                "reconnect_max_seconds",
                1..=3600,
                "seconds",
            ) {
                Some(n) => n as u32,
                None => {
                    complete = false;
                    DEFAULT_RECONNECT_MAX_SECONDS
                }
            },
        };
        if !complete {
            return None;
        }
        Some(IcecastConfig {
            host: host?,
            port,
            mount: mount?,
            user,
            password: password?,
            bitrate,
            mode,
            sample_rate,
            name,
            description,
            genre,
            url,
            public,
            reconnect_max_seconds,
        })
    }
}

/// The address a stream's listeners tune to on its server.
fn mount_url(stream: &IcecastConfig) -> String {
    // An IPv6 address in a URL goes in brackets.
    let host = if stream.host.contains(':') {
        format!("[{}]", stream.host)
    } else {
        stream.host.clone()
    };
    format!("http://{host}:{}{}", stream.port, stream.mount)
}

/// Why `url` is not an address the listen-back check can tune to.
fn check_listen_url(url: &str) -> Result<(), String> {
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err("this is not an http:// address".to_string());
    };
    match scheme.to_ascii_lowercase().as_str() {
        "http" => {}
        "https" => {
            return Err(
                "https is not supported: the box listens back without TLS; give the address of a \
                 plain http listen-socket of the server"
                    .to_string(),
            );
        }
        other => return Err(format!("the scheme {other}:// is not http://")),
    }
    // Checked before parsing, whose message for a missing host is only
    // "invalid format".
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = match host_port.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => host_port.split(':').next().unwrap_or_default(),
    };
    if host.is_empty() {
        return Err("the address names no server".to_string());
    }
    let _: ureq::http::Uri = url
        .parse()
        .map_err(|e| format!("this is not a valid address ({e})"))?;
    Ok(())
}

/// The time zone a misspelt name most likely meant.
fn closest_timezone(text: &str) -> Option<&'static str> {
    let wanted = text.trim().to_lowercase().replace(' ', "_");
    chrono_tz::TZ_VARIANTS
        .iter()
        .map(|tz| {
            (
                strsim::osa_distance(&wanted, &tz.name().to_lowercase()),
                tz.name(),
            )
        })
        .filter(|(d, _)| *d <= 3)
        .min_by_key(|(d, _)| *d)
        .map(|(_, name)| name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(text: &str) -> Vec<Problem> {
        match Config::parse(text, Path::new("/etc/onair/onair.toml")) {
            Err(ConfigError::Invalid(problems)) => problems,
            other => panic!("expected problems, got {other:?}"),
        }
    }

    fn find<'a>(problems: &'a [Problem], key: &str) -> &'a Problem {
        problems
            .iter()
            .find(|p| p.key == key)
            .unwrap_or_else(|| panic!("no problem about {key} in {problems:#?}"))
    }

    /// A folder of its own under the system's temporary folder, emptied first.
    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("onair-config-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn shipped_box_configuration_loads() {
        let text = include_str!("../config/onair.toml");
        let config = Config::parse(text, Path::new("/etc/onair/onair.toml")).unwrap();
        assert_eq!(config.station.timezone, chrono_tz::Europe::London);
        assert!(config.clock.is_none(), "the box runs on the wall clock");
        assert_eq!(
            config.outputs,
            vec![OutputConfig::Alsa {
                device: "default".into()
            }]
        );
        assert_eq!(
            config.library.programmes,
            Path::new("/media/onair/programmes")
        );
        assert_eq!(
            config.library.emergency.as_deref(),
            Some(Path::new("/media/onair/emergency.wav"))
        );
    }

    #[test]
    fn demo_configuration_loads_with_paths_beside_it() {
        let config = Config::parse(DEMO_CONFIG, Path::new("/home/dev/demo/onair.toml")).unwrap();
        assert_eq!(config.station.name, "Demo FM");
        assert_eq!(
            config.library.programmes,
            Path::new("/home/dev/demo/programmes")
        );
        assert_eq!(
            config.library.filler.as_deref(),
            Some(Path::new("/home/dev/demo/filler"))
        );
        assert_eq!(
            config.library.emergency.as_deref(),
            Some(Path::new("/home/dev/demo/emergency.wav"))
        );
        assert_eq!(config.data.dir, Path::new("/home/dev/demo/state"));
        assert_eq!(config.outputs, vec![OutputConfig::Null]);
        assert!(config.clock.is_none());
        assert_eq!(config.web.listen.to_string(), "127.0.0.1:8080");
    }

    #[test]
    fn only_the_time_zone_is_required() {
        let config = Config::parse(
            "[station]\ntimezone = \"Europe/Paris\"\n",
            Path::new("/srv/radio/onair.toml"),
        )
        .unwrap();
        assert_eq!(config.station.timezone, chrono_tz::Europe::Paris);
        assert_eq!(
            config.library.programmes,
            Path::new("/srv/radio/programmes")
        );
        assert_eq!(config.library.filler, None);
        assert_eq!(config.data.dir, Path::new("/srv/radio/state"));
        assert_eq!(
            (config.audio.sample_rate, config.audio.fade_ms),
            (48_000, 1_000)
        );
        assert_eq!(
            config.outputs,
            vec![OutputConfig::Alsa {
                device: "default".into()
            }]
        );
        assert_eq!(config.web.listen.to_string(), "127.0.0.1:8080");

        // Bad input: an empty file.
        let missing = problems("");
        assert_eq!(missing.len(), 1, "{missing:#?}");
        assert_eq!(
            missing[0].to_string().split(':').next(),
            Some("station.timezone is missing")
        );
    }

    #[test]
    fn every_problem_is_reported_with_key_value_and_fix() {
        // Bad input: a typo in a key, a mistyped value, out-of-range numbers,
        // an unknown output kind, a key of the wrong output kind, a host name
        // instead of an address, and a top-level section that does not exist.
        let text = r#"
[station]
name = "Test FM"
timzone = "Europe/London"

[audio]
sample_rate = 4000
fade_ms = "1000"

[[output]]
kind = "alsa"
path = "out.wav"

[[output]]
kind = "mp4"

[web]
listen = "localhost:8080"

[logging]
level = "debug"
"#;
        let found = problems(text);
        let typo = find(&found, "station.timzone");
        assert_eq!(typo.value, "\"Europe/London\"");
        assert!(
            typo.expected
                .starts_with("unknown key; expected one of name, timezone"),
            "{typo}"
        );
        assert!(typo.expected.contains("did you mean `timezone`?"), "{typo}");
        assert!(find(&found, "station.timezone").value.is_empty());
        assert!(
            find(&found, "audio.sample_rate")
                .expected
                .contains("8000 to 192000")
        );
        assert!(
            find(&found, "audio.fade_ms")
                .expected
                .contains("not a string")
        );
        assert!(
            find(&found, "output[1].path")
                .expected
                .contains("wav outputs")
        );
        assert_eq!(
            find(&found, "output[2].kind").to_string(),
            "output[2].kind = \"mp4\": expected one of alsa, null, wav, icecast"
        );
        assert!(
            find(&found, "web.listen")
                .expected
                .contains("127.0.0.1:8080")
        );
        assert!(find(&found, "logging").expected.starts_with("unknown key"));
        assert_eq!(found.len(), 8, "{found:#?}");

        let message = ConfigError::Invalid(found.clone()).to_string();
        let lines: Vec<&str> = message.lines().collect();
        assert_eq!(lines.len(), 1 + found.len(), "{message}");
        assert!(
            lines.iter().any(|l| l.trim()
                == "output[2].kind = \"mp4\": expected one of alsa, null, wav, icecast")
        );
    }

    #[test]
    fn misspelt_time_zone_gets_a_suggestion() {
        // Bad input: a misspelt zone and a zone in the wrong case.
        let found = problems("[station]\ntimezone = \"Europe/Londn\"\n");
        assert!(
            find(&found, "station.timezone")
                .expected
                .contains("did you mean \"Europe/London\"?")
        );
        let found = problems("[station]\ntimezone = \"europe/berlin\"\n");
        assert!(
            find(&found, "station.timezone")
                .expected
                .contains("\"Europe/Berlin\"")
        );
        // Bad input: a number.
        let found = problems("[station]\ntimezone = 1\n");
        assert!(
            find(&found, "station.timezone")
                .expected
                .contains("not an integer")
        );
    }

    #[test]
    fn syntax_errors_give_line_and_column() {
        // Bad input: a key without a value on line 3.
        let text = "[station]\ntimezone = \"Europe/London\"\nname =\n";
        match Config::parse(text, Path::new("/etc/onair/onair.toml")) {
            Err(e @ ConfigError::Syntax { line, column, .. }) => {
                assert_eq!((line, column), (3, 7), "{e}");
                assert!(
                    e.to_string().starts_with("/etc/onair/onair.toml:3:7: "),
                    "{e}"
                );
            }
            other => panic!("expected a syntax error, got {other:?}"),
        }
        // Bad input: the same key twice.
        let text = "[station]\ntimezone = \"Europe/London\"\ntimezone = \"UTC\"\n";
        assert!(matches!(
            Config::parse(text, Path::new("x.toml")),
            Err(ConfigError::Syntax { line: 3, .. })
        ));
    }

    #[test]
    fn unreadable_file_says_what_to_do() {
        let dir = scratch("unreadable");
        let path = dir.join("missing.toml");
        let e = Config::load(&path).unwrap_err();
        assert!(matches!(e, ConfigError::Unreadable { .. }));
        let message = e.to_string();
        assert!(message.contains(&path.display().to_string()), "{message}");
        assert!(message.contains("--config"), "{message}");

        std::fs::write(&path, b"[station]\ntimezone = \"\xff\"\n").unwrap();
        assert!(
            Config::load(&path)
                .unwrap_err()
                .to_string()
                .contains("UTF-8")
        );

        std::fs::write(&path, "[station]\ntimezone = \"UTC\"\n").unwrap();
        assert_eq!(Config::load(&path).unwrap().data.dir, dir.join("state"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn simulated_clock_is_parsed_and_checked() {
        let base = "[station]\ntimezone = \"Europe/London\"\n";
        let text = format!(
            "{base}[clock]\nstart = \"2026-03-29T00:59:30\"\nspeed = 60.0\n[[output]]\nkind = \"null\"\n"
        );
        let clock = Config::parse(&text, Path::new("a.toml"))
            .unwrap()
            .clock
            .unwrap();
        assert_eq!(clock.start.to_string(), "2026-03-29 00:59:30");
        assert_eq!(clock.speed, 60.0);

        // A bare TOML date-time works too; the speed defaults to real time.
        let text = format!("{base}[clock]\nstart = 2026-03-29T00:59:30\n");
        let clock = Config::parse(&text, Path::new("a.toml"))
            .unwrap()
            .clock
            .unwrap();
        assert_eq!(
            (clock.start.to_string().as_str(), clock.speed),
            ("2026-03-29 00:59:30", 1.0)
        );

        // Bad input: a time with an offset, a zero and a huge speed, no start.
        let text = format!(
            "{base}[clock]\nstart = 2026-03-29T00:59:30Z\nspeed = 0\n[[output]]\nkind = \"null\"\n"
        );
        let found = problems(&text);
        assert!(
            find(&found, "clock.start")
                .expected
                .contains("no time zone offset")
        );
        assert!(find(&found, "clock.speed").expected.contains("more than 0"));
        let found = problems(&format!("{base}[clock]\nspeed = 5000\n"));
        assert!(find(&found, "clock.start").value.is_empty());
        assert!(
            find(&found, "clock.speed")
                .expected
                .contains("at most 1000")
        );
    }

    #[test]
    fn alsa_cannot_follow_a_fast_clock() {
        let base = "[station]\ntimezone = \"Europe/London\"\n[clock]\nstart = \"2026-03-29T00:59:30\"\nspeed = 60\n";
        // Bad input: a sound card with a clock at 60 times real time.
        let found = problems(&format!(
            "{base}[[output]]\nkind = \"wav\"\npath = \"a.wav\"\n[[output]]\nkind = \"alsa\"\n"
        ));
        let alsa = find(&found, "output[2].kind");
        assert!(
            alsa.expected
                .contains("set clock.speed = 1 or use a wav/null output"),
            "{alsa}"
        );
        // Bad input: the ALSA output after an output that is itself refused
        // (an unknown kind): the key still names the ALSA output's place.
        let found = problems(&format!(
            "{base}[[output]]\nkind = \"mp4\"\n[[output]]\nkind = \"null\"\n[[output]]\nkind = \"alsa\"\n"
        ));
        assert!(
            find(&found, "output[3].kind")
                .expected
                .contains("not with clock.speed = 60"),
            "{found:#?}"
        );
        assert_eq!(find(&found, "output[1].kind").value, "\"mp4\"");
        assert_eq!(found.len(), 2, "{found:#?}");
        // Bad input: the same with the default output (no [[output]] at all).
        let found = problems(base);
        assert!(find(&found, "clock.speed").expected.contains("ALSA"));
        // A wav output keeps up with any speed; ALSA is fine at speed 1.
        assert!(
            Config::parse(
                &format!("{base}[[output]]\nkind = \"wav\"\npath = \"a.wav\"\n"),
                Path::new("a.toml")
            )
            .is_ok()
        );
        let real_time = base.replace("speed = 60", "speed = 1");
        assert!(Config::parse(&real_time, Path::new("a.toml")).is_ok());
    }

    #[test]
    fn icecast_outputs_take_their_settings_and_defaults() {
        let base = "[station]\ntimezone = \"UTC\"\n";
        let text = format!(
            "{base}[[output]]\nkind = \"icecast\"\nhost = \"127.0.0.1\"\nmount = \"/live.mp3\"\npassword = \"hackme\"\n\
             [[output]]\nkind = \"icecast\"\nhost = \"stream.example.org\"\nport = 8443\nmount = \"/low.mp3\"\nuser = \"studio\"\n\
             password = \"s3cret\"\nbitrate = 64\nmode = \"vbr\"\nsample_rate = 44100\nname = \"Radio Été\"\n\
             description = \"Community radio\"\ngenre = \"Various\"\nurl = \"https://radio.example.org\"\npublic = true\n\
             reconnect_max_seconds = 5\n"
        );
        let config = Config::parse(&text, Path::new("/srv/onair.toml")).unwrap();
        let [OutputConfig::Icecast(first), OutputConfig::Icecast(second)] = &config.outputs[..]
        else {
            panic!("two icecast outputs expected: {:?}", config.outputs);
        };
        assert_eq!(
            (first.port, first.user.as_str(), first.bitrate, first.mode),
            (8000, "source", 128, BitrateMode::Cbr)
        );
        assert_eq!(
            (first.sample_rate, first.public, first.reconnect_max_seconds),
            (None, false, 30)
        );
        assert_eq!(first.name, None);
        assert_eq!(
            second,
            &IcecastConfig {
                host: "stream.example.org".into(),
                port: 8443,
                mount: "/low.mp3".into(),
                user: "studio".into(),
                password: "s3cret".into(),
                bitrate: 64,
                mode: BitrateMode::Vbr,
                sample_rate: Some(44_100),
                name: Some("Radio Été".into()),
                description: Some("Community radio".into()),
                genre: Some("Various".into()),
                url: Some("https://radio.example.org".into()),
                public: true,
                reconnect_max_seconds: 5,
            }
        );
    }

    #[test]
    fn icecast_problems_name_the_key_and_the_fix() {
        // Bad input: no password, a mount without its slash, a bitrate MP3
        // does not have, an unknown mode, a port out of range, a rate MP3
        // cannot carry, public as a string, a zero reconnect cap, and a
        // key of another output kind.
        let base = "[station]\ntimezone = \"UTC\"\n";
        let found = problems(&format!(
            "{base}[[output]]\nkind = \"icecast\"\nhost = \"127.0.0.1\"\nmount = \"live.mp3\"\nbitrate = 100\n\
             mode = \"abr\"\nport = 70000\nsample_rate = 96000\npublic = \"yes\"\nreconnect_max_seconds = 0\npath = \"x.wav\"\n"
        ));
        assert!(
            find(&found, "output[1].password")
                .expected
                .contains("<source-password>")
        );
        assert!(
            find(&found, "output[1].mount")
                .expected
                .contains("\"/live.mp3\"")
        );
        assert_eq!(find(&found, "output[1].bitrate").value, "100");
        assert!(find(&found, "output[1].bitrate").expected.contains("128"));
        assert!(find(&found, "output[1].mode").expected.contains("\"vbr\""));
        assert!(find(&found, "output[1].port").expected.contains("65535"));
        assert!(
            find(&found, "output[1].sample_rate")
                .expected
                .contains("44100")
        );
        assert!(find(&found, "output[1].public").expected.contains("true"));
        assert!(
            find(&found, "output[1].reconnect_max_seconds")
                .expected
                .contains("from 1 to 3600")
        );
        assert!(
            find(&found, "output[1].path")
                .expected
                .contains("path is for wav outputs")
        );
        assert_eq!(found.len(), 9, "{found:#?}");
    }

    #[test]
    fn a_local_stream_is_listened_back_to_unless_turned_off() {
        let base =
            "[station]\ntimezone = \"UTC\"\n[[output]]\nkind = \"wav\"\npath = \"air.wav\"\n";
        let stream = |host: &str, extra: &str| {
            format!(
                "[[output]]\nkind = \"icecast\"\nhost = \"{host}\"\nport = 8010\nmount = \"/live.mp3\"\n\
                 password = \"x\"\n{extra}"
            )
        };
        let text = [
            base.to_string(),
            stream("127.0.0.1", ""),
            stream("LOCALHOST", ""),
            stream("::1", ""),
            // Remote: off unless asked for.
            stream("stream.example.org", ""),
            stream(
                "stream.example.org",
                "listen_url = \"http://stream.example.org:8000/live.mp3\"\n",
            ),
            // Local, but turned off.
            stream("127.0.0.1", "listen_url = \"\"\n"),
            // Local, listened to somewhere else (a relay listeners use).
            stream(
                "127.0.0.1",
                "listen_url = \"HTTP://relay.example.org/live.mp3\"\n",
            ),
        ]
        .concat();
        let config = Config::parse(&text, Path::new("/srv/onair.toml")).unwrap();
        let checks: Vec<(usize, &str)> = config
            .listen_back
            .iter()
            .map(|l| (l.output, l.url.as_str()))
            .collect();
        assert_eq!(
            checks,
            [
                (1, "http://127.0.0.1:8010/live.mp3"),
                (2, "http://LOCALHOST:8010/live.mp3"),
                (3, "http://[::1]:8010/live.mp3"),
                (5, "http://stream.example.org:8000/live.mp3"),
                (7, "HTTP://relay.example.org/live.mp3"),
            ]
        );
    }

    #[test]
    fn a_listen_url_must_be_a_plain_http_address() {
        // Bad input: https, another scheme, no scheme, garbage with spaces,
        // an empty host, a host-less port, and a number instead of a string.
        let base = "[station]\ntimezone = \"UTC\"\n";
        let bad = [
            "\"https://127.0.0.1:8000/live.mp3\"",
            "\"icecast://127.0.0.1:8000/live.mp3\"",
            "\"127.0.0.1:8000/live.mp3\"",
            "\"http://not a url/\"",
            "\"http:///live.mp3\"",
            "\"http://:8000/live.mp3\"",
            "8000",
        ];
        let text: String = std::iter::once(base.to_string())
            .chain(bad.iter().map(|url| {
                format!(
                    "[[output]]\nkind = \"icecast\"\nhost = \"127.0.0.1\"\nmount = \"/live.mp3\"\n\
                     password = \"x\"\nlisten_url = {url}\n"
                )
            }))
            .collect();
        let found = problems(&text);
        assert_eq!(found.len(), bad.len(), "{found:#?}");
        for (i, url) in bad.iter().enumerate() {
            let problem = find(&found, &format!("output[{}].listen_url", i + 1));
            assert_eq!(&problem.value, url, "{problem}");
            // Every message says what to write instead, with this stream's address.
            assert!(
                problem
                    .expected
                    .contains("such as \"http://127.0.0.1:8000/live.mp3\", or \"\" to turn"),
                "{problem}"
            );
        }
        let why = |i: usize| {
            find(&found, &format!("output[{i}].listen_url"))
                .expected
                .clone()
        };
        assert!(why(1).starts_with("https is not supported"), "{}", why(1));
        assert!(
            why(2).starts_with("the scheme icecast:// is not http://"),
            "{}",
            why(2)
        );
        assert!(
            why(3).starts_with("this is not an http:// address"),
            "{}",
            why(3)
        );
        assert!(
            why(4).starts_with("this is not a valid address"),
            "{}",
            why(4)
        );
        for i in [5, 6] {
            assert!(
                why(i).starts_with("the address names no server"),
                "{}",
                why(i)
            );
        }
        assert!(why(7).ends_with("not an integer"), "{}", why(7));
    }

    #[test]
    fn outputs_take_only_their_own_keys() {
        let base = "[station]\ntimezone = \"UTC\"\n";
        let text = format!(
            "{base}[[output]]\nkind = \"wav\"\npath = \"aired/out.wav\"\n[[output]]\nkind = \"alsa\"\ndevice = \"hw:1\"\n[[output]]\nkind = \"null\"\n"
        );
        let config = Config::parse(&text, Path::new("/srv/onair.toml")).unwrap();
        assert_eq!(
            config.outputs,
            vec![
                OutputConfig::Wav {
                    path: "/srv/aired/out.wav".into()
                },
                OutputConfig::Alsa {
                    device: "hw:1".into()
                },
                OutputConfig::Null,
            ]
        );
        // Bad input: a wav output without a path, a device on a null output,
        // a misspelt key, no kind, and [output] instead of [[output]].
        let found = problems(&format!(
            "{base}[[output]]\nkind = \"wav\"\n[[output]]\nkind = \"null\"\ndevice = \"hw:0\"\n[[output]]\nkind = \"alsa\"\ndevise = \"hw:0\"\n[[output]]\ndevice = \"hw:0\"\n"
        ));
        assert!(find(&found, "output[1].path").value.is_empty());
        assert!(
            find(&found, "output[2].device")
                .expected
                .contains("alsa outputs")
        );
        assert!(
            find(&found, "output[3].devise")
                .expected
                .contains("did you mean `device`?")
        );
        assert!(find(&found, "output[4].kind").value.is_empty());
        assert_eq!(found.len(), 4, "{found:#?}");
        let found = problems(&format!("{base}[output]\nkind = \"null\"\n"));
        assert!(find(&found, "output").expected.contains("[[output]]"));
    }

    #[test]
    fn calendar_section_is_optional_and_validated() {
        let base = "[station]\ntimezone = \"Europe/London\"\n";
        let config = Config::parse(base, Path::new("/srv/onair.toml")).unwrap();
        assert_eq!(
            config.calendar, None,
            "no [calendar]: the box works from files alone"
        );

        let text = format!("{base}[calendar]\nsource = \"calendars/station.ics\"\n");
        let config = Config::parse(&text, Path::new("/srv/onair.toml")).unwrap();
        assert_eq!(
            config.calendar,
            Some(CalendarConfig {
                source: CalendarSource::File("/srv/calendars/station.ics".into()),
                refresh_minutes: 15,
                check_ahead_minutes: 60,
            })
        );
        let text = format!(
            "{base}[calendar]\nsource = \"webcal://cal.example.org/basic.ics\"\nrefresh_minutes = 5\ncheck_ahead_minutes = 120\n"
        );
        let calendar = Config::parse(&text, Path::new("/srv/onair.toml"))
            .unwrap()
            .calendar
            .unwrap();
        assert_eq!(
            calendar.source,
            CalendarSource::Url("https://cal.example.org/basic.ics".into())
        );
        assert_eq!(
            (calendar.refresh_minutes, calendar.check_ahead_minutes),
            (5, 120)
        );

        // Bad input: no source, a refresh of 0, a look-ahead as a string and
        // a misspelt key.
        let found = problems(&format!(
            "{base}[calendar]\nrefresh_minutes = 0\ncheck_ahead_minutes = \"60\"\nrefresh_minute = 5\n"
        ));
        assert!(find(&found, "calendar.source").value.is_empty());
        assert!(
            find(&found, "calendar.source")
                .expected
                .contains("remove [calendar]")
        );
        assert!(
            find(&found, "calendar.refresh_minutes")
                .expected
                .contains("from 1 to 1440")
        );
        assert!(
            find(&found, "calendar.check_ahead_minutes")
                .expected
                .contains("not a string")
        );
        assert!(
            find(&found, "calendar.refresh_minute")
                .expected
                .contains("did you mean `refresh_minutes`?")
        );
        assert_eq!(found.len(), 4, "{found:#?}");
        // Bad input: an address the box cannot fetch, and an empty source.
        let found = problems(&format!(
            "{base}[calendar]\nsource = \"ftp://example.org/a.ics\"\n"
        ));
        assert!(
            find(&found, "calendar.source")
                .expected
                .contains("http:// and https://")
        );
        let found = problems(&format!("{base}[calendar]\nsource = \" \"\n"));
        assert_eq!(find(&found, "calendar.source").value, "\" \"");
    }

    #[test]
    fn check_warns_of_a_missing_calendar_file() {
        let dir = scratch("calendar");
        let path = dir.join("onair.toml");
        let text = "[station]\ntimezone = \"UTC\"\n[calendar]\nsource = \"station.ics\"\n";
        let config = Config::parse(text, &path).unwrap();
        // Bad input: the calendar file is not there.
        let warnings = config.check();
        assert!(
            warnings.iter().any(|w| w.key == "calendar.source"),
            "{warnings:#?}"
        );
        std::fs::write(dir.join("station.ics"), "BEGIN:VCALENDAR\nEND:VCALENDAR\n").unwrap();
        assert!(!config.check().iter().any(|w| w.key == "calendar.source"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn check_reports_missing_folders_and_files() {
        let dir = scratch("check");
        let path = dir.join("onair.toml");
        std::fs::write(&path, DEMO_CONFIG).unwrap();
        let config = Config::load(&path).unwrap();
        let warnings = config.check();
        let keys: Vec<&str> = warnings.iter().map(|w| w.key.as_str()).collect();
        assert_eq!(
            keys,
            ["library.programmes", "library.filler", "library.emergency"],
            "{warnings:#?}"
        );
        assert!(
            warnings[0]
                .to_string()
                .contains("does not exist; create it"),
            "{}",
            warnings[0]
        );

        std::fs::create_dir(dir.join("programmes")).unwrap();
        std::fs::create_dir(dir.join("filler")).unwrap();
        let warnings = config.check();
        assert_eq!(warnings.len(), 2, "{warnings:#?}");
        assert!(warnings[0].problem.contains("no files"), "{}", warnings[0]);

        std::fs::write(dir.join("filler/jingle.wav"), b"RIFF").unwrap();
        std::fs::write(dir.join("emergency.wav"), b"RIFF").unwrap();
        assert_eq!(
            config.check(),
            vec![],
            "the data folder does not exist yet but can be created"
        );

        // Bad input: the data folder would have to be made inside a file.
        std::fs::write(dir.join("blocker"), b"").unwrap();
        let text = DEMO_CONFIG.replace("dir = \"state\"", "dir = \"blocker/state\"");
        let config = Config::parse(&text, &path).unwrap();
        let warnings = config.check();
        assert_eq!(warnings.len(), 1, "{warnings:#?}");
        assert_eq!(warnings[0].key, "data.dir");
        assert!(warnings[0].problem.contains("is a file"), "{}", warnings[0]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
