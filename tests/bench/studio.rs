//! The studio's side of the box, in real time: how long from LIVE coming in
//! to the studio on the output (press-to-live latency), and what the front
//! panel's display and the studio's capture path cost per hour.
//!
//! The real box (`onair run`) plays a filler of digital silence to a WAV
//! output on the wall clock, with a live input that is alsa-lib's `file`
//! plugin reading a FIFO fed at real time with a tone. LIVE goes in over
//! the box's control socket, as `onair live` sends it; the moment it is
//! written is "command in". Because automation is silent, the first
//! non-zero sample of the output after it is the first live sample, to the
//! sample; the fade is over where the tone reaches 99 % of its level.
//!
//! The latency is the output path's: LIVE takes effect at the next block
//! the mixer makes, and the mixer makes its audio a lead plus a burst
//! ahead (`src/pacing.rs`: 20 + 100 ms with a clock-paced output, a sound
//! card's ring with one).
//!
//! The display's cost is its thread's ("panel": rendering 8 frames a second
//! and publishing them; with no I2C bus here nothing is flushed, which on a
//! Pi adds the changed bytes at 400 kHz). Without a display the box renders
//! at that rate only while a page mirrors the panel, so a page watches
//! (`/api/events`) throughout, as a box with a display would render. The capture path's cost is the
//! capture thread's ("onair-live") plus what the mixer spends more with the
//! studio on air than without, measured over two equal stretches.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::{Command as Process, Stdio};
use std::time::{Duration, Instant, SystemTime};

use chrono::{DateTime, Utc};

use super::bwf::WavFile;
use super::report::verdict;
use super::running::{Running, io, log_tail};
use super::studio_input::{LIVE_TONE, RATE, Studio};
use super::threads::{ThreadTime, since, threads_of};
use super::{BenchError, tone};

/// The targets: the studio at full level within the fade and this, and
/// the display and the capture path within this many CPU seconds an hour.
pub const LATENCY_OVER_FADE: Duration = Duration::from_millis(20);
pub const COST_TARGET: f64 = 10.0;
/// The live fader, as a station would set it.
pub const FADE: Duration = Duration::from_millis(500);
/// The box is given this long after it is up before anything is measured.
const SETTLE: Duration = Duration::from_secs(5);
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// An output sample louder than this is no longer digital silence.
const AUDIBLE: f32 = 1.0e-4;
/// The tone counts as at full level within this of its level after the fade.
const FULL: f32 = 0.99;

/// What the studio benchmark measured.
#[derive(Debug, Clone, PartialEq)]
pub struct StudioRun {
    pub fade: Duration,
    /// Command in → the first live sample on the output.
    pub first_live: Duration,
    /// Command in → the studio at 99 % of its level on the output.
    pub full_level: Duration,
    /// Each stretch's length (automation, then the studio on air).
    pub stretch: Duration,
    /// CPU seconds per hour of real time.
    pub display_per_hour: f64,
    pub capture_thread_per_hour: f64,
    pub mixer_auto_per_hour: f64,
    pub mixer_live_per_hour: f64,
    pub box_auto_per_hour: f64,
    pub box_live_per_hour: f64,
}

impl StudioRun {
    /// The capture path: its thread and the mixer's extra work while live.
    pub fn capture_per_hour(&self) -> f64 {
        self.capture_thread_per_hour
            + (self.mixer_live_per_hour - self.mixer_auto_per_hour).max(0.0)
    }

    /// The measure: command in to the first live sample.
    pub fn latency_passed(&self) -> bool {
        self.first_live <= self.fade + LATENCY_OVER_FADE
    }

    pub fn cost_passed(&self) -> bool {
        self.display_per_hour + self.capture_per_hour() <= COST_TARGET
    }

    pub fn passed(&self) -> bool {
        self.latency_passed() && self.cost_passed()
    }
}

impl std::fmt::Display for StudioRun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        writeln!(
            f,
            "The studio (onair run, WAV output on the wall clock, live input through alsa-lib's \
             file plugin; two stretches of {:.0} s)",
            self.stretch.as_secs_f64()
        )?;
        writeln!(
            f,
            "  LIVE in -> first live sample on the output {:>8.1} ms   target <= fade {:.0} + {:.0} ms   {}",
            ms(self.first_live),
            ms(self.fade),
            ms(LATENCY_OVER_FADE),
            verdict(self.latency_passed())
        )?;
        writeln!(
            f,
            "  LIVE in -> studio at 99 % of its level     {:>8.1} ms   (the equal-power fade gets there at 91 % of it)",
            ms(self.full_level),
        )?;
        writeln!(
            f,
            "  display (panel thread)                     {:>8.2} CPU s/h",
            self.display_per_hour
        )?;
        writeln!(
            f,
            "  capture (onair-live thread {:.2}, mixer {:.2} live vs {:.2} automation) {:.2} CPU s/h",
            self.capture_thread_per_hour,
            self.mixer_live_per_hour,
            self.mixer_auto_per_hour,
            self.capture_per_hour()
        )?;
        writeln!(
            f,
            "  display + capture                          {:>8.2} CPU s/h   target <= {COST_TARGET:.0}   {}",
            self.display_per_hour + self.capture_per_hour(),
            verdict(self.cost_passed())
        )?;
        writeln!(
            f,
            "  the whole box: {:.1} CPU s/h on automation, {:.1} with the studio on air",
            self.box_auto_per_hour, self.box_live_per_hour
        )
    }
}

/// Where in `samples` (mono, at `rate`, the first at `anchor`)
/// the studio comes in after `command`: the first audible sample, and the
/// first where the level reaches [`FULL`] of the level a little after `fade`.
pub fn find_live(
    samples: &[f32],
    rate: u32,
    anchor: DateTime<Utc>,
    command: DateTime<Utc>,
    fade: Duration,
) -> Result<(Duration, Duration), String> {
    let frame_of = |t: DateTime<Utc>| {
        ((t - anchor).num_microseconds().unwrap_or(0).max(0) as u64 * u64::from(rate) / 1_000_000)
            as usize
    };
    let from = frame_of(command);
    let frames = samples.len();
    let peak = |frame: usize| samples[frame].abs();
    let first = (from..frames)
        .find(|&f| peak(f) > AUDIBLE)
        .ok_or("the output stays silent after LIVE: the studio never came on air")?;
    // The tone's level once the fade is surely over: the loudest sample of
    // a few of its cycles.
    let cycle = (rate / LIVE_TONE).max(1) as usize;
    let settled = first + (fade.as_secs_f64() * f64::from(rate)) as usize + rate as usize / 10;
    if settled + cycle * 20 > frames {
        return Err("the output ends before the fade does".into());
    }
    let level = (settled..settled + cycle * 20)
        .map(peak)
        .fold(0.0f32, f32::max);
    // Level per cycle: a cycle holding a sample at full level.
    let full = (first..settled)
        .step_by(cycle)
        .find(|&f| (f..f + cycle).map(peak).fold(0.0f32, f32::max) >= level * FULL)
        .ok_or("the studio never reaches its level")?;
    let after = |frame: usize| {
        let at =
            anchor + chrono::TimeDelta::microseconds((frame as f64 / f64::from(rate) * 1e6) as i64);
        (at - command).to_std().unwrap_or_default()
    };
    Ok((after(first), after(full)))
}

/// Runs the box with the studio for two stretches of `stretch` each.
pub fn measure(binary: &Path, work: &Path, stretch: Duration) -> Result<StudioRun, BenchError> {
    let dir = work.join("studio");
    for folder in ["programmes", "filler", "state"] {
        let path = dir.join(folder);
        std::fs::create_dir_all(&path).map_err(io("create", &path))?;
    }
    // Automation is digital silence: the live tone's arrival is exact.
    let filler = dir.join("filler").join("silence.wav");
    tone::write_tone(&filler, 0, stretch.as_secs_f64() * 2.0 + 60.0, RATE, 2);
    let config = dir.join("onair.toml");
    let web_port = super::icecast::free_port();
    std::fs::write(
        &config,
        format!(
            "[station]\nname = \"Bench FM\"\ntimezone = \"UTC\"\n\
             [library]\nprogrammes = \"programmes\"\nfiller = \"filler\"\n\
             [audio]\nsample_rate = {RATE}\n\
             [data]\ndir = \"state\"\n\
             [[output]]\nkind = \"wav\"\npath = \"out.wav\"\n\
             [live]\ndevice = \"bench_studio\"\nfade_ms = {fade}\n\
             [silence]\nafter_seconds = 300\n\
             [web]\nlisten = \"127.0.0.1:{web}\"\n",
            fade = FADE.as_millis(),
            web = web_port,
        ),
    )
    .map_err(io("write", &config))?;
    // Sets this process's ALSA configuration, which the box inherits.
    let _studio = Studio::start(&dir.join("studio"), "bench_studio");

    let log = dir.join("onair.log");
    let log_file = std::fs::File::create(&log).map_err(io("create", &log))?;
    let stderr = log_file.try_clone().map_err(io("share", &log))?;
    let box_error = |problem: String| BenchError::Box {
        problem,
        tail: log_tail(&log),
        log: log.clone(),
    };
    let child = Process::new(binary)
        .arg("run")
        .arg("--config")
        .arg(&config)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(log_file)
        .stderr(stderr)
        .spawn()
        .map_err(|e| box_error(format!("cannot be started: {e}")))?;
    let mut running = Running::new(child);
    let pid = running.id();
    let socket = dir.join("state").join("control.sock");
    let started = Instant::now();
    while !socket.exists() {
        if running.exited().is_some() {
            return Err(box_error("stopped while starting".into()));
        }
        if started.elapsed() > START_TIMEOUT {
            return Err(box_error(format!(
                "did not open its control socket {} within {} s",
                socket.display(),
                START_TIMEOUT.as_secs()
            )));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _page = watch_the_panel(web_port).map_err(box_error)?;
    std::thread::sleep(SETTLE);

    let stretch_of =
        |running: &mut Running| -> Result<(Vec<ThreadTime>, Vec<ThreadTime>), BenchError> {
            let before = threads_of(pid);
            let until = Instant::now() + stretch;
            while Instant::now() < until {
                if running.exited().is_some() {
                    return Err(box_error("stopped while measured".into()));
                }
                std::thread::sleep(Duration::from_millis(200));
            }
            Ok((before, threads_of(pid)))
        };
    let (auto_from, auto_to) = stretch_of(&mut running)?;
    let command = send_live(&socket).map_err(box_error)?;
    std::thread::sleep(Duration::from_secs(2));
    let (live_from, live_to) = stretch_of(&mut running)?;
    running.terminate(Duration::from_secs(10));

    let per_hour = |cpu: Duration| cpu.as_secs_f64() * 3600.0 / stretch.as_secs_f64();
    let auto = since(&auto_to, &auto_from);
    let live = since(&live_to, &live_from);
    let thread = |used: &super::threads::Used, name: &str| {
        used.by_name.get(name).map_or(Duration::ZERO, |t| t.1)
    };
    let output = dir.join("out.wav");
    let wav =
        WavFile::read(&output).map_err(|e| box_error(format!("left {}: {e}", output.display())))?;
    let (first_live, full_level) =
        find_live(&wav.samples, wav.rate, wav.anchor, command, FADE).map_err(box_error)?;
    Ok(StudioRun {
        fade: FADE,
        first_live,
        full_level,
        stretch,
        display_per_hour: per_hour(thread(&live, "panel")),
        // cpal reads the device on a thread of its own.
        capture_thread_per_hour: per_hour(
            thread(&live, "onair-live") + thread(&live, "cpal_alsa_in"),
        ),
        mixer_auto_per_hour: per_hour(thread(&auto, "onair-mixer")),
        mixer_live_per_hour: per_hour(thread(&live, "onair-mixer")),
        box_auto_per_hour: per_hour(auto.cpu),
        box_live_per_hour: per_hour(live.cpu),
    })
}

/// A page mirroring the panel: `/api/events` read and thrown away on a
/// thread of its own until the box closes it.
fn watch_the_panel(port: u16) -> Result<std::thread::JoinHandle<()>, String> {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port))
        .map_err(|e| format!("refused its page on port {port}: {e}"))?;
    let request = "GET /api/events HTTP/1.1\r\nHost: onair\r\n\r\n";
    stream
        .write_all(request.as_bytes())
        .map_err(|e| format!("did not take a page: {e}"))?;
    Ok(std::thread::spawn(move || {
        let mut buffer = [0u8; 4096];
        while matches!(stream.read(&mut buffer), Ok(n) if n > 0) {}
    }))
}

/// LIVE over the control socket, as `onair live` sends it; returns the
/// moment the request was written.
fn send_live(socket: &Path) -> Result<DateTime<Utc>, String> {
    let mut stream = UnixStream::connect(socket)
        .map_err(|e| format!("refused its control socket {}: {e}", socket.display()))?;
    let request =
        "POST /api/live HTTP/1.1\r\nHost: onair\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    let sent: DateTime<Utc> = SystemTime::now().into();
    stream
        .write_all(request.as_bytes())
        .map_err(|e| format!("did not take LIVE: {e}"))?;
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    if !answer.starts_with("HTTP/1.1 200") {
        return Err(format!(
            "refused LIVE: {}",
            answer.lines().last().unwrap_or("")
        ));
    }
    Ok(sent)
}
