//! The station's sections (`[station]`, `[library]`, `[clock]`, `[audio]`,
//! `[data]`, `[web]`, `[calendar]`; `[panel]` is in `panel`, `[jobs]` in `jobs`) read into their types, and the whole file
//! into a [`Config`].

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::PathBuf;

use chrono::NaiveDateTime;
use chrono_tz::Tz;
use toml::{Table, Value};

use super::reader::{TableReader, article_type};
use super::{
    Audio, CalendarConfig, CalendarSource, Config, Data, Library, SimulatedClock, Station, Web,
};

const DEFAULT_STATION_NAME: &str = "onair";
const DEFAULT_PROGRAMMES: &str = "programmes";
const DEFAULT_DATA_DIR: &str = "state";
const DEFAULT_SAMPLE_RATE: u32 = 48_000;
const DEFAULT_FADE_MS: u32 = 1_000;
const DEFAULT_LISTEN: SocketAddr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 8080));
const SAMPLE_RATES: std::ops::RangeInclusive<i64> = 8_000..=192_000;
const FADE_MS: std::ops::RangeInclusive<i64> = 0..=30_000;
const MAX_SPEED: f64 = 1000.0;

const TOP_KEYS: &[&str] = &[
    "station", "library", "clock", "audio", "data", "output", "web", "calendar", "live", "silence",
    "panel", "archive", "recorder", "jobs",
];
const CALENDAR_KEYS: &[&str] = &["source", "refresh_minutes", "check_ahead_minutes"];
const DEFAULT_REFRESH_MINUTES: u32 = 15;
pub(super) const DEFAULT_CHECK_AHEAD_MINUTES: u32 = 60;
/// A day: a calendar read less often than that is not kept up to date.
const CALENDAR_MINUTES: std::ops::RangeInclusive<i64> = 1..=1440;
const STATION_KEYS: &[&str] = &["name", "timezone"];
const LIBRARY_KEYS: &[&str] = &["programmes", "filler", "emergency"];
const CLOCK_KEYS: &[&str] = &["start", "speed"];
const AUDIO_KEYS: &[&str] = &["sample_rate", "fade_ms"];
const DATA_KEYS: &[&str] = &["dir"];
const WEB_KEYS: &[&str] = &[
    "listen",
    "control_socket",
    "read_requires_login",
    "session_idle_hours",
];
const DEFAULT_CONTROL_SOCKET: &str = "control.sock";
const DEFAULT_SESSION_IDLE_HOURS: u32 = 12;
/// A month: a session idle for longer has been forgotten on some desk.
const SESSION_IDLE_HOURS: std::ops::RangeInclusive<i64> = 1..=720;

impl TableReader {
    pub(super) fn config(&mut self, root: &Table, path: PathBuf) -> Option<Config> {
        self.unknown_keys("", root, TOP_KEYS);
        let station = self.station(root);
        let library = self.library(root);
        let clock = self.clock(root);
        let audio = self.audio(root);
        let data = self.data(root);
        let (outputs, listen_back) = self.outputs(root);
        let web = self.web(root, &data.dir);
        let calendar = self.calendar(root);
        let live = self.live(
            root,
            station
                .as_ref()
                .map_or("onair", |s: &super::Station| &s.name),
        );
        let silence = self.silence(root);
        let panel = self.panel(root);
        let archive = self.archive(
            root,
            station
                .as_ref()
                .map_or("onair", |s: &super::Station| &s.name),
            &outputs,
        );

        let jobs = self.jobs(root);
        let recorder = self.recorder(root, archive.as_ref(), &jobs);

        if let Some(clock) = &clock {
            self.outputs_for_clock(root, &outputs, clock);
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
            live,
            silence,
            panel,
            archive,
            recorder,
            jobs,
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
                Some(text) if !text.is_empty() => {
                    self.calendar_source("calendar.source", value, text, example)
                }
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

    /// An iCalendar's address or path, for `key`.
    pub(super) fn calendar_source(
        &mut self,
        key: &str,
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
                    key,
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

    fn web(&mut self, root: &Table, data: &std::path::Path) -> Web {
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
        let control_socket = self
            .path("web", table, "control_socket")
            .unwrap_or_else(|| data.join(DEFAULT_CONTROL_SOCKET));
        let read_requires_login = match table.and_then(|t| t.get("read_requires_login")) {
            None => false,
            Some(Value::Boolean(b)) => *b,
            Some(other) => {
                self.problem(
                    "web.read_requires_login",
                    Some(other),
                    "expected true (the status page and API need a login too) or false (anyone \
                     on the network may read them; control always needs a login)",
                );
                false
            }
        };
        let session_idle_hours = self
            .integer(
                "web",
                table,
                "session_idle_hours",
                SESSION_IDLE_HOURS,
                "hours",
            )
            .map_or(DEFAULT_SESSION_IDLE_HOURS, |n| n as u32);
        Web {
            listen,
            control_socket,
            read_requires_login,
            session_idle_hours,
        }
    }
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
