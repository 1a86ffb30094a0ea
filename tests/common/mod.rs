//! Drives the real `onair` binary the way a station engineer would: writes a
//! station (configuration, tone programmes, filler, emergency file) into a
//! temporary folder, runs the box on a simulated clock, stops or crashes it,
//! and reads back what aired (the WAV output, through Goertzel filters) and
//! what the box says aired (`onair log --json`).

// Each scenario file uses a different part of this module.
#![allow(dead_code, unused_imports)]

pub mod asrun;
pub mod browser;
pub mod bwf;
pub mod expect;
pub mod goertzel;
pub mod http;
pub mod icecast;
pub mod in_process;
pub mod page;
pub mod studio;
pub mod tone;

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use chrono::{DateTime, NaiveDateTime, TimeDelta, Utc};
use chrono_tz::Tz;

pub use asrun::{AsRun, AsRunLog, Ended, Kind};
pub use bwf::{Aired, WavFile};
pub use expect::{
    Runs, Stepped, expect_at, expect_fade_out, expect_only, expect_run, expect_start, local, ms,
    secs, utc,
};
pub use goertzel::{Run, What};

/// The scenarios measure timing to the millisecond on a small machine: one
/// box at a time per test binary, whatever `--test-threads` says.
static ONE_STATION_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Where the box keeps its state, relative to the configuration.
const DATA_DIR: &str = "state";
const OUTPUT: &str = "out.wav";
/// Real time the box gets to write its clock after being started.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(15);
/// Real time the box gets to stop in order after SIGTERM.
const STOP_TIMEOUT: Duration = Duration::from_secs(15);

/// The simulated clock as the box keeps it in `<data>/simulated-clock`.
#[derive(Debug, Clone, Copy)]
pub struct SimulatedClock {
    pub start: DateTime<Utc>,
    pub speed: f64,
    pub epoch: SystemTime,
}

impl SimulatedClock {
    /// Line 1 `<start RFC 3339> <speed>`, line 2 the epoch in nanoseconds
    /// since the Unix epoch.
    pub fn parse(text: &str) -> Result<SimulatedClock, String> {
        let mut lines = text.lines();
        let first = lines.next().unwrap_or_default();
        let mut fields = first.split_whitespace();
        let start = fields
            .next()
            .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
            .ok_or_else(|| format!("line 1 should start with an RFC 3339 time: {first:?}"))?
            .to_utc();
        let speed = fields
            .next()
            .and_then(|s| s.parse::<f64>().ok())
            .ok_or_else(|| format!("line 1 should end with the speed: {first:?}"))?;
        let second = lines.next().unwrap_or_default();
        let nanos = second
            .trim()
            .parse::<u64>()
            .map_err(|e| format!("line 2 should be nanoseconds since 1970: {second:?}: {e}"))?;
        Ok(SimulatedClock {
            start,
            speed,
            epoch: UNIX_EPOCH + Duration::from_nanos(nanos),
        })
    }

    pub fn at(&self, real: SystemTime) -> DateTime<Utc> {
        let elapsed = real.duration_since(self.epoch).unwrap_or_default();
        self.start + TimeDelta::nanoseconds((elapsed.as_nanos() as f64 * self.speed) as i64)
    }
}

/// One station under test, in a folder of its own.
pub struct Station {
    pub name: String,
    dir: PathBuf,
    pub tz: Tz,
    clock_start: NaiveDateTime,
    speed: f64,
    sample_rate: u32,
    fade_ms: u32,
    has_filler: bool,
    has_emergency: bool,
    labels: BTreeMap<u32, String>,
    filler_files: BTreeMap<String, u32>,
    /// More `[[output]]` tables, after the wav output.
    extra_outputs: Vec<String>,
    /// More tables (e.g. `[calendar]`), after the outputs.
    extra_sections: Vec<String>,
    /// Environment for the box's process (e.g. HOME for an `.asoundrc`).
    env: Vec<(String, String)>,
    child: Option<Child>,
    runs_started: usize,
    clock: Option<SimulatedClock>,
    _turn: MutexGuard<'static, ()>,
}

impl Station {
    /// A station named for the test: Europe/London, clock at
    /// 2026-03-02 00:58:00 running 60×, 8 kHz, 1 s fades, no filler, no
    /// emergency file.
    pub fn new(name: &str) -> Station {
        let turn = ONE_STATION_AT_A_TIME
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let unique = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        let dir =
            std::env::temp_dir().join(format!("onair-{name}-{}-{unique}", std::process::id()));
        for sub in ["programmes", "sources"] {
            std::fs::create_dir_all(dir.join(sub))
                .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
        }
        Station {
            name: name.into(),
            dir,
            tz: chrono_tz::Europe::London,
            clock_start: parse_local("2026-03-02 00:58:00"),
            speed: 60.0,
            sample_rate: 8000,
            fade_ms: 1000,
            has_filler: false,
            has_emergency: false,
            labels: BTreeMap::new(),
            filler_files: BTreeMap::new(),
            extra_outputs: Vec::new(),
            extra_sections: Vec::new(),
            env: Vec::new(),
            child: None,
            runs_started: 0,
            clock: None,
            _turn: turn,
        }
    }

    /// Simulated clock start (station-local `yyyy-mm-dd hh:mm[:ss]`) and speed.
    pub fn clock(&mut self, start_local: &str, speed: f64) -> &mut Self {
        self.clock_start = parse_local(start_local);
        self.speed = speed;
        self
    }

    pub fn timezone(&mut self, tz: Tz) -> &mut Self {
        self.tz = tz;
        self
    }

    pub fn fade_ms(&mut self, fade_ms: u32) -> &mut Self {
        self.fade_ms = fade_ms;
        self
    }

    pub fn sample_rate_hz(&mut self, rate: u32) -> &mut Self {
        self.sample_rate = rate;
        self
    }

    /// One more `[[output]]` table (its keys, without the header).
    pub fn output(&mut self, keys: &str) -> &mut Self {
        self.extra_outputs.push(keys.to_string());
        self
    }

    /// One more configuration table, written as given (`[calendar]\n...`).
    pub fn section(&mut self, text: &str) -> &mut Self {
        self.extra_sections.push(text.to_string());
        self
    }

    /// An environment variable for the box's process.
    pub fn env(&mut self, key: &str, value: &str) -> &mut Self {
        self.env.push((key.into(), value.into()));
        self
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.join("station.toml")
    }

    pub fn output_path(&self) -> PathBuf {
        self.dir.join(OUTPUT)
    }

    /// The box's data folder (as-run log, simulated clock, web address).
    pub fn data_dir(&self) -> PathBuf {
        self.dir.join(DATA_DIR)
    }

    /// The address of the running box's web server, from the file it
    /// writes into its data folder for `onair log` (waited for: the box
    /// writes it a moment after its clock).
    pub fn web_address(&self) -> String {
        let path = self.data_dir().join("web-address");
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        loop {
            match std::fs::read_to_string(&path) {
                Ok(text) if !text.trim().is_empty() => return text.trim().to_string(),
                Err(e) if Instant::now() > deadline => {
                    panic!("cannot read {}: {e}", path.display())
                }
                _ => std::thread::sleep(Duration::from_millis(10)),
            }
        }
    }

    /// Writes the configuration and puts the library in place as `start`
    /// does, for the commands that read a station without running it.
    pub fn write_config(&self) {
        self.backdate_library();
        let config = self.config_path();
        std::fs::write(&config, self.config_text())
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", config.display()));
    }

    /// `onair SUBCOMMAND --config <this station's file> ARGS…`, finished.
    pub fn command(&self, subcommand: &str, args: &[&str]) -> Output {
        let mut all = vec![subcommand.to_string(), "--config".to_string()];
        all.push(self.config_path().display().to_string());
        all.extend(args.iter().map(|a| a.to_string()));
        onair(&all)
    }

    /// `onair status --json` of the running box, as the CLI reads it.
    pub fn status_json(&self) -> serde_json::Value {
        let out = self.command("status", &["--json"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("onair status --json prints JSON")
    }

    pub fn sample_rate(&self) -> u32 {
        self.sample_rate
    }

    /// The instant a station-local time (`yyyy-mm-dd hh:mm[:ss[.fff]]`)
    /// names; in the repeated hour of autumn, its first occurrence.
    pub fn local(&self, text: &str) -> DateTime<Utc> {
        let naive = parse_local(text);
        naive
            .and_local_timezone(self.tz)
            .earliest()
            .unwrap_or_else(|| panic!("{text} does not exist in {} (clocks went forward)", self.tz))
            .to_utc()
    }

    /// Names a tone that is not in one of the station's files (the studio's).
    pub fn label_tone(&mut self, freq: u32, label: &str) {
        self.label(freq, label.to_string());
    }

    fn label(&mut self, freq: u32, label: String) {
        if let Some(old) = self.labels.insert(freq, label.clone())
            && old != label
        {
            panic!("{freq} Hz is used by both {old} and {label}: give each its own frequency");
        }
    }

    fn programme_path(&self, when: &str, slug: &str, ext: &str) -> PathBuf {
        let at = parse_local(when);
        self.dir
            .join("programmes")
            .join(format!("{}_{slug}.{ext}", at.format("%Y%m%d_%H%M")))
    }

    fn source(&self, name: &str) -> PathBuf {
        self.dir.join("sources").join(format!("{name}.wav"))
    }

    /// A programme airing at `when` (station-local, as in its file name):
    /// one tone, stereo at the station's rate, in format `ext`.
    pub fn programme(
        &mut self,
        when: &str,
        slug: &str,
        freq: u32,
        seconds: f64,
        ext: &str,
    ) -> PathBuf {
        self.programme_steps(when, slug, &[(freq, seconds)], ext)
    }

    /// A programme made of tones one after another, in format `ext`.
    /// Compressed formats start from 44.1 kHz stereo, as real programmes do.
    pub fn programme_steps(
        &mut self,
        when: &str,
        slug: &str,
        steps: &[(u32, f64)],
        ext: &str,
    ) -> PathBuf {
        for &(freq, _) in steps {
            self.label(freq, slug.into());
        }
        let rate = if ext == "wav" {
            self.sample_rate
        } else {
            44_100
        };
        let source = self.source(slug);
        tone::write_tones(&source, steps, rate, 2);
        let target = self.programme_path(when, slug, ext);
        move_file(&tone::encode(&source, ext), &target);
        target
    }

    /// A WAV programme at its own rate and channel count.
    pub fn programme_wav(
        &mut self,
        when: &str,
        slug: &str,
        freq: u32,
        seconds: f64,
        rate: u32,
        channels: u16,
    ) -> PathBuf {
        self.label(freq, slug.into());
        let target = self.programme_path(when, slug, "wav");
        tone::write_tone(&target, freq, seconds, rate, channels);
        target
    }

    /// A programme file holding exactly `bytes` (bad input on purpose).
    pub fn programme_bytes(&mut self, when: &str, slug: &str, ext: &str, bytes: &[u8]) -> PathBuf {
        let target = self.programme_path(when, slug, ext);
        std::fs::write(&target, bytes)
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", target.display()));
        target
    }

    /// Configures the filler folder, empty for now.
    pub fn filler_folder(&mut self) -> &mut Self {
        let dir = self.dir.join("filler");
        std::fs::create_dir_all(&dir)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
        self.has_filler = true;
        self
    }

    /// A filler track `filler/filler-<freq>hz.wav`.
    pub fn filler(&mut self, freq: u32, seconds: f64) -> PathBuf {
        let name = format!("filler-{freq}hz");
        self.label(freq, name.clone());
        let dir = self.dir.join("filler");
        std::fs::create_dir_all(&dir)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
        let path = dir.join(format!("{name}.wav"));
        tone::write_tone(&path, freq, seconds, self.sample_rate, 2);
        self.filler_files.insert(format!("{name}.wav"), freq);
        self.has_filler = true;
        path
    }

    /// Frequencies of the filler tracks.
    pub fn filler_freqs(&self) -> Vec<u32> {
        self.filler_files.values().copied().collect()
    }

    /// The frequency of a filler file named in the as-run log.
    pub fn filler_freq(&self, file_name: &str) -> Option<u32> {
        self.filler_files.get(file_name).copied()
    }

    /// The emergency file, made of tones one after another so that each
    /// loop can be counted.
    pub fn emergency_steps(&mut self, steps: &[(u32, f64)]) -> PathBuf {
        for &(freq, _) in steps {
            self.label(freq, "emergency".into());
        }
        let path = self.dir.join("emergency.wav");
        tone::write_tones(&path, steps, self.sample_rate, 2);
        self.has_emergency = true;
        path
    }

    pub fn emergency(&mut self, freq: u32, seconds: f64) -> PathBuf {
        self.emergency_steps(&[(freq, seconds)])
    }

    pub fn config_text(&self) -> String {
        let mut library = "programmes = \"programmes\"\n".to_string();
        if self.has_filler {
            library.push_str("filler = \"filler\"\n");
        }
        if self.has_emergency {
            library.push_str("emergency = \"emergency.wav\"\n");
        }
        format!(
            r#"[station]
name = "Test FM"
timezone = "{tz}"

[library]
{library}
[clock]
start = "{start}"
speed = {speed:?}

[audio]
sample_rate = {rate}
fade_ms = {fade}

[data]
dir = "{DATA_DIR}"

[[output]]
kind = "wav"
path = "{OUTPUT}"

{extra}
{sections}
[web]
listen = "127.0.0.1:0"
"#,
            extra = self
                .extra_outputs
                .iter()
                .map(|keys| format!("[[output]]\n{keys}\n"))
                .collect::<String>(),
            sections = self
                .extra_sections
                .iter()
                .map(|table| format!("{table}\n"))
                .collect::<String>(),
            tz = self.tz.name(),
            start = self.clock_start.format("%Y-%m-%dT%H:%M:%S"),
            speed = self.speed,
            rate = self.sample_rate,
            fade = self.fade_ms,
        )
    }

    /// Starts the box (again, after `kill` or `terminate`) and waits until
    /// its simulated clock is running.
    pub fn start(&mut self) {
        assert!(
            self.child.is_none(),
            "the box is already running: kill or terminate it first"
        );
        self.write_config();
        let config = self.config_path();
        self.runs_started += 1;
        let log_path = self
            .dir
            .join(format!("onair-run-{}.log", self.runs_started));
        let log = File::create(&log_path)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", log_path.display()));
        let stdout = log
            .try_clone()
            .unwrap_or_else(|e| panic!("cannot share {}: {e}", log_path.display()));
        // Left by a killed box; the new one writes it once it serves.
        let _ = std::fs::remove_file(self.data_dir().join("web-address"));
        let child = Command::new(env!("CARGO_BIN_EXE_onair"))
            .arg("run")
            .arg("--config")
            .arg(&config)
            .env("RUST_LOG", "info")
            // A box under test talks to a service manager only when its
            // test gives it one (`env`), never to the one running the tests.
            .env_remove("NOTIFY_SOCKET")
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", env!("CARGO_BIN_EXE_onair")));
        self.child = Some(child);
        self.wait_for_clock();
        // After a kill the clock file is already there: the box is up (its
        // signals handled) only once it has written its web address anew.
        self.web_address();
    }

    /// Waits until the box has written its simulated clock, and keeps it.
    fn wait_for_clock(&mut self) {
        self.wait_for_clock_while(|| None);
    }

    /// [`Self::wait_for_clock`] for a box that is not a child process:
    /// `stopped` says why it stopped, if it has.
    pub(crate) fn wait_for_clock_while(&mut self, mut stopped: impl FnMut() -> Option<String>) {
        let path = self.dir.join(DATA_DIR).join("simulated-clock");
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        let clock = loop {
            if let Ok(text) = std::fs::read_to_string(&path) {
                match SimulatedClock::parse(&text) {
                    Ok(clock) => break clock,
                    Err(e) => panic!("{}: {e}", path.display()),
                }
            }
            if let Some(status) = self.exited().map(|s| s.to_string()).or_else(&mut stopped) {
                panic!(
                    "the box stopped ({status}) before starting its clock in {}",
                    path.display()
                );
            }
            assert!(
                Instant::now() < deadline,
                "the box did not write {} within {STARTUP_TIMEOUT:?}",
                path.display()
            );
            std::thread::sleep(Duration::from_millis(5));
        };
        let expected = self.local(&self.clock_start.format("%Y-%m-%d %H:%M:%S").to_string());
        assert!(
            clock.start == expected && clock.speed == self.speed,
            "the box's simulated clock starts at {} ×{}, but the configuration asks for {} (station-local {}) ×{}",
            clock.start,
            clock.speed,
            expected,
            self.clock_start,
            self.speed
        );
        self.clock = Some(clock);
    }

    /// The files a test puts in place before a start count as uploaded a
    /// while ago: the box airs only files that have stopped changing.
    fn backdate_library(&self) {
        let earlier = SystemTime::now() - Duration::from_secs(60);
        let mut files = vec![self.dir.join("emergency.wav")];
        for sub in ["programmes", "filler"] {
            if let Ok(entries) = std::fs::read_dir(self.dir.join(sub)) {
                files.extend(entries.flatten().map(|e| e.path()));
            }
        }
        for path in files {
            if let Ok(file) = File::options().write(true).open(&path) {
                let _ = file.set_modified(earlier);
            }
        }
    }

    /// How the box ended, once it has; `None` while it runs.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        let child = self.child.as_mut()?;
        match child.try_wait() {
            Ok(Some(status)) => {
                self.child = None;
                Some(status)
            }
            _ => None,
        }
    }

    pub fn simulated_clock(&self) -> SimulatedClock {
        self.clock
            .expect("the box has not been started yet, so its clock is not known")
    }

    /// The station's current time, as the box computes it.
    pub fn now(&self) -> DateTime<Utc> {
        self.simulated_clock().at(SystemTime::now())
    }

    /// Sleeps until station time `t`; fails if the box stops meanwhile or
    /// the wait takes much longer than the clock says it should.
    pub fn wait_until(&mut self, t: DateTime<Utc>) {
        let clock = self.simulated_clock();
        let ahead = (t - self.now()).num_nanoseconds().unwrap_or(0).max(0) as f64 / clock.speed;
        let deadline = Instant::now() + Duration::from_nanos(ahead as u64) + Duration::from_secs(5);
        while self.now() < t {
            if let Some(status) = self.exited() {
                panic!(
                    "the box stopped by itself ({status}) at station time {}, before {}",
                    local(self.now(), self.tz),
                    local(t, self.tz)
                );
            }
            assert!(
                Instant::now() < deadline,
                "station time did not reach {t} in time"
            );
            let left = (t - self.now()).num_nanoseconds().unwrap_or(0).max(0) as f64 / clock.speed;
            std::thread::sleep(Duration::from_nanos(left as u64).min(Duration::from_millis(20)));
        }
    }

    /// Sends `signal` to the running box.
    pub fn signal(&mut self, signal: libc::c_int) {
        let child = self.child.as_ref().expect("the box is not running");
        let pid = libc::pid_t::try_from(child.id()).expect("a process id fits pid_t");
        // SAFETY: kill(2) only sends a signal; `pid` is our own child, not yet reaped.
        let sent = unsafe { libc::kill(pid, signal) };
        assert_eq!(
            sent,
            0,
            "cannot signal the box: {}",
            std::io::Error::last_os_error()
        );
    }

    /// A crash or power cut: SIGKILL, then reap the process.
    pub fn kill(&mut self) {
        self.signal(libc::SIGKILL);
        if let Some(mut child) = self.child.take() {
            child
                .wait()
                .unwrap_or_else(|e| panic!("cannot reap the killed box: {e}"));
        }
    }

    /// An orderly stop: SIGTERM, and the box must exit successfully.
    pub fn terminate(&mut self) {
        self.signal(libc::SIGTERM);
        let deadline = Instant::now() + STOP_TIMEOUT;
        loop {
            if let Some(status) = self.exited() {
                assert!(
                    status.success(),
                    "the box stopped with {status} after SIGTERM, expected a clean exit"
                );
                return;
            }
            if Instant::now() > deadline {
                self.kill();
                panic!("the box did not stop within {STOP_TIMEOUT:?} of SIGTERM (killed it)");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// `onair log --config FILE --json`.
    pub fn log_json(&self) -> AsRunLog {
        let output = Command::new(env!("CARGO_BIN_EXE_onair"))
            .arg("log")
            .arg("--config")
            .arg(self.config_path())
            .arg("--json")
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run onair log: {e}"));
        assert!(
            output.status.success(),
            "onair log --json failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        AsRunLog::parse(&String::from_utf8_lossy(&output.stdout), self.tz)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// Every WAV the box wrote, on one timeline.
    pub fn aired(&self) -> Aired {
        Aired::read(&self.output_path()).unwrap_or_else(|e| panic!("{e}"))
    }

    /// What aired, among every frequency this station's files use.
    pub fn runs(&self, aired: &Aired) -> Runs {
        let candidates: Vec<u32> = self.labels.keys().copied().collect();
        Runs::new(aired.runs(&candidates), self.tz, self.labels.clone())
    }

    /// Everything the box printed, run by run.
    pub fn box_logs(&self) -> String {
        let mut text = String::new();
        for run in 1..=self.runs_started {
            let path = self.dir.join(format!("onair-run-{run}.log"));
            let body =
                std::fs::read_to_string(&path).unwrap_or_else(|e| format!("(cannot read: {e})"));
            let lines: Vec<&str> = body.lines().collect();
            let skip = lines.len().saturating_sub(200);
            text.push_str(&format!(
                "--- {} (last {} lines)\n",
                path.display(),
                lines.len() - skip
            ));
            for line in &lines[skip..] {
                text.push_str(line);
                text.push('\n');
            }
        }
        text
    }
}

impl Drop for Station {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            eprintln!(
                "\nstation {:?} kept in {}\n{}",
                self.name,
                self.dir.display(),
                self.box_logs()
            );
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// Runs `onair ARGS…` to its end, with no input, and returns what it printed.
pub fn onair<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_onair"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", env!("CARGO_BIN_EXE_onair")))
}

fn parse_local(text: &str) -> NaiveDateTime {
    ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%d %H:%M"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(text, f).ok())
        .unwrap_or_else(|| {
            panic!("{text:?} is not a station-local time like 2026-03-29 01:30[:00]")
        })
}

fn move_file(from: &Path, to: &Path) {
    std::fs::rename(from, to)
        .unwrap_or_else(|e| panic!("cannot move {} to {}: {e}", from.display(), to.display()));
}
