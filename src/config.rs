//! The station's configuration: one TOML file, validated at load. Unknown keys
//! and bad values are refused with the key, the value and what is expected.
//! Relative paths are relative to the configuration file's folder.

use std::net::SocketAddr;
use std::path::PathBuf;

use chrono::NaiveDateTime;
use chrono_tz::Tz;

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
    pub web: Web,
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
}

#[derive(Debug, Clone)]
pub struct Web {
    pub listen: SocketAddr,
}
