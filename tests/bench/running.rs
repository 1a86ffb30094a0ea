//! The real box (`onair run`, the binary cargo built beside this benchmark)
//! on a generated station, in real time: its CPU, wake-ups and memory over
//! a steady stretch, by thread, as a Raspberry Pi would pay them.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command as Process, ExitStatus, Stdio};
use std::time::{Duration, Instant, SystemTime};

use super::audio::ProgrammeFiles;
use super::streams::{self, STREAM_BITRATE, STREAM_RATE};
use super::threads::{ThreadTime, since, status_field, threads_of};
use super::{BenchError, ENGINE_RATE};

/// A station that cannot start within this is broken, not slow.
const BOX_START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a box may take to stop after SIGTERM before it is killed.
const BOX_STOP_TIMEOUT: Duration = Duration::from_secs(10);
/// The generated station's programme file, its start and its clock's start
/// (a few seconds of filler first, then the programme starts with a fade).
pub const PROGRAMME_FILE: &str = "20260601_1000_bench-programme.mp3";
pub const CLOCK_START: &str = "2026-06-01T09:59:57";
/// A file younger than this is still "being copied" for the schedule.
const SETTLED_AFTER: Duration = Duration::from_millis(2_500);
/// The thread that runs the director's runtime is the process's first,
/// named after the binary; the runtime's workers are tokio's.
const MAIN_THREAD: &str = "onair";
const RUNTIME_THREADS: &str = "tokio";

/// Numbers from `/proc/<pid>/status`, in KiB (counts for `Threads`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ProcStatus {
    pub peak_kib: u64,
    pub resident_kib: u64,
    pub anonymous_kib: u64,
    pub file_kib: u64,
    pub threads: u64,
}

/// Reads `/proc/<pid>/status`; fails if the process is gone or the kernel
/// does not report the peak.
pub fn proc_status(pid: u32) -> Result<ProcStatus, String> {
    let path = format!("/proc/{pid}/status");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("cannot read {path}: {e}"))?;
    let field = |key| status_field(&text, key).ok_or_else(|| format!("{path} has no {key}"));
    Ok(ProcStatus {
        peak_kib: field("VmHWM")?,
        resident_kib: field("VmRSS")?,
        anonymous_kib: status_field(&text, "RssAnon").unwrap_or(0),
        file_kib: status_field(&text, "RssFile").unwrap_or(0),
        threads: status_field(&text, "Threads").unwrap_or(0),
    })
}

/// A child process that is killed if the benchmark leaves early.
pub struct Running {
    child: Option<Child>,
}

impl Running {
    pub fn new(child: Child) -> Self {
        Running { child: Some(child) }
    }

    pub fn id(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
    }

    /// SIGTERM, then SIGKILL if it has not stopped within `patience`.
    pub fn terminate(&mut self, patience: Duration) -> Option<ExitStatus> {
        let mut child = self.child.take()?;
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        if let Ok(pid) = libc::pid_t::try_from(child.id()) {
            // SAFETY: kill only sends a signal to our own child, which has
            // not been reaped yet, so the pid is still ours.
            unsafe { libc::kill(pid, libc::SIGTERM) };
        }
        let deadline = Instant::now() + patience;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        None
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// What the generated station puts out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outputs {
    /// A null output at 48 kHz, paced by the clock: the box's own cost.
    Null,
    /// The null output and two mounts of the server on this port, at the
    /// programme's 44.1 kHz (one encoder, two senders).
    NullAndTwoMounts(u16),
    /// One mount of the server on this port and nothing else, at 44.1 kHz:
    /// the job set beside Liquidsoap.
    OneMount(u16),
    /// As `NullAndTwoMounts`, keeping an archive of the stream's MP3 (the
    /// archive shares the streams' encoder).
    TwoMountsArchived(u16),
}

impl Outputs {
    fn mounts(self) -> usize {
        match self {
            Outputs::Null => 0,
            Outputs::NullAndTwoMounts(_) | Outputs::TwoMountsArchived(_) => 2,
            Outputs::OneMount(_) => 1,
        }
    }

    fn folder(self) -> &'static str {
        match self {
            Outputs::Null => "station",
            Outputs::NullAndTwoMounts(_) => "station-two-mounts",
            Outputs::OneMount(_) => "station-one-mount",
            Outputs::TwoMountsArchived(_) => "station-archived",
        }
    }
}

/// The station the box runs: the MP3 programme on air from 10:00 after a
/// month of hourly programmes already aired (the folder a station keeps,
/// which the director reads), the FLAC as filler before it, the WAV as
/// emergency source, a simulated clock at speed 1, and the status page on
/// a free port. Its streams do not listen
/// back: the runs beside it (the same work at full speed, Liquidsoap) do
/// not either, and the comparison is of the same work.
pub fn write_station(
    dir: &Path,
    files: &ProgrammeFiles,
    outputs: Outputs,
) -> Result<PathBuf, BenchError> {
    for folder in ["programmes", "filler", "state", "archive"] {
        let path = dir.join(folder);
        std::fs::create_dir_all(&path).map_err(io("create the folder", &path))?;
    }
    let aired = aired_programmes()
        .into_iter()
        .map(|name| (&files.mp3, dir.join("programmes").join(name)));
    for (from, to) in [
        (&files.mp3, dir.join("programmes").join(PROGRAMME_FILE)),
        (&files.flac, dir.join("filler").join("bench-filler.flac")),
        (&files.emergency, dir.join("emergency.wav")),
    ]
    .into_iter()
    .chain(aired)
    {
        // A link keeps the file's age, so the schedule sees it as settled.
        // One left by an earlier box is the same file: copying onto it
        // would empty it.
        let _ = std::fs::remove_file(&to);
        if std::fs::hard_link(from, &to).is_err() {
            std::fs::copy(from, &to).map_err(io("copy the programme file to", &to))?;
        }
    }
    let config = dir.join("bench.toml");
    let (rate, null, mounts) = match outputs {
        Outputs::Null => (ENGINE_RATE, true, Vec::new()),
        Outputs::NullAndTwoMounts(port) | Outputs::TwoMountsArchived(port) => {
            (STREAM_RATE, true, streams::station_mounts(port, 2))
        }
        Outputs::OneMount(port) => (STREAM_RATE, false, streams::station_mounts(port, 1)),
    };
    let mut text = format!(
        r#"# Generated by the cost benchmark: the station whose real-time cost is measured.
[station]
name = "Bench FM"
timezone = "UTC"

[library]
programmes = "programmes"
filler = "filler"
emergency = "emergency.wav"

[clock]
start = "{CLOCK_START}"
speed = 1.0

[audio]
sample_rate = {rate}
fade_ms = 1000

[data]
dir = "state"

[web]
listen = "127.0.0.1:0"
"#
    );
    if null {
        text.push_str("\n[[output]]\nkind = \"null\"\n");
    }
    for mount in mounts {
        text.push_str(&format!(
            r#"
[[output]]
kind = "icecast"
host = "{}"
port = {}
mount = "{}"
user = "{}"
password = "{}"
bitrate = {}
listen_url = ""
"#,
            mount.host, mount.port, mount.mount, mount.user, mount.password, mount.bitrate
        ));
    }
    if let Outputs::TwoMountsArchived(_) = outputs {
        text.push_str(&format!(
            "\n[archive]\ndir = \"archive\"\nbitrate = {STREAM_BITRATE}\n"
        ));
    }
    std::fs::write(&config, text).map_err(io("write the station configuration", &config))?;
    Ok(config)
}

/// A month of hourly programmes before the benchmark's, in the names a
/// station gives them: 30 days x 24, all over before the clock starts.
pub fn aired_programmes() -> Vec<String> {
    let first = chrono::NaiveDate::from_ymd_opt(2026, 5, 2).expect("a date");
    (0..30)
        .flat_map(|day| (0..24).map(move |hour| (day, hour)))
        .map(|(day, hour)| {
            let date = first + chrono::Days::new(day);
            format!("{}_{hour:02}00_aired-show.mp3", date.format("%Y%m%d"))
        })
        .collect()
}

/// The box over its measured stretch.
#[derive(Debug, Clone)]
pub struct BoxRun {
    /// The stretch: from this long after the start, for this long.
    pub from: Duration,
    pub ran_for: Duration,
    /// Peak resident size (VmHWM), KiB, at the end of the stretch.
    pub peak_kib: u64,
    /// Resident at the end (VmRSS), and its anonymous and file-backed parts, KiB.
    pub resident_kib: u64,
    pub anonymous_kib: u64,
    pub file_kib: u64,
    pub threads: u64,
    /// What the box said was on air at the end (its status page).
    pub on_air: String,
    /// Frames its first output had taken, and underruns, from its status page.
    pub output_frames: u64,
    pub underruns: u64,
    /// Each stream output's state and bytes sent at the end, if any.
    pub streams: Vec<String>,
    /// CPU of all its threads over the stretch, idle waits and all, and by
    /// thread name (how many threads, their CPU).
    pub cpu: Duration,
    pub cpu_by_thread: Vec<(String, usize, Duration)>,
    /// Voluntary context switches of all its threads over the stretch.
    pub wakes: u64,
}

impl BoxRun {
    /// The director's CPU: the threads of its tokio runtime (the main
    /// thread, which runs the runtime, and the runtime's workers).
    pub fn director(&self) -> Duration {
        self.cpu_by_thread
            .iter()
            .filter(|(name, _, _)| name == MAIN_THREAD || name.starts_with(RUNTIME_THREADS))
            .map(|(_, _, cpu)| *cpu)
            .sum()
    }

    pub fn wakes_per_second(&self) -> f64 {
        self.wakes as f64 / self.ran_for.as_secs_f64().max(1e-9)
    }
}

/// A box started on a generated station, not yet measured.
pub struct StartedBox {
    running: Running,
    started: Instant,
    dir: PathBuf,
    log: PathBuf,
    outputs: Outputs,
    address: Option<String>,
}

impl StartedBox {
    /// Writes the station and starts `binary run` on it.
    pub fn start(
        binary: &Path,
        work: &Path,
        files: &ProgrammeFiles,
        outputs: Outputs,
    ) -> Result<Self, BenchError> {
        let dir = work.join(outputs.folder());
        let config = write_station(&dir, files, outputs)?;
        wait_until_settled(&dir.join("programmes").join(PROGRAMME_FILE));
        let log = dir.join("onair.log");
        let log_file = File::create(&log).map_err(|source| BenchError::Io {
            doing: "create the box's log",
            path: log.clone(),
            source,
        })?;
        let box_error = |problem: String| BenchError::Box {
            problem,
            tail: log_tail(&log),
            log: log.clone(),
        };
        let stderr = log_file
            .try_clone()
            .map_err(|e| box_error(format!("cannot share its log file: {e}")))?;
        let child = Process::new(binary)
            .arg("run")
            .arg("--config")
            .arg(&config)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(log_file)
            .stderr(stderr)
            .spawn()
            .map_err(|e| {
                box_error(format!(
                    "could not be started from {} (build it with cargo build --release): {e}",
                    binary.display()
                ))
            })?;
        Ok(StartedBox {
            running: Running::new(child),
            started: Instant::now(),
            dir,
            log,
            outputs,
            address: None,
        })
    }

    pub fn pid(&self) -> u32 {
        self.running.id()
    }

    pub fn started(&self) -> Instant {
        self.started
    }

    fn error(&self, problem: String) -> BenchError {
        BenchError::Box {
            problem,
            tail: log_tail(&self.log),
            log: self.log.clone(),
        }
    }

    /// Fails if the box has stopped.
    pub fn check_running(&mut self) -> Result<(), BenchError> {
        match self.running.exited() {
            Some(status) => Err(self.error(format!(
                "stopped {:.1} s after its start ({status})",
                self.started.elapsed().as_secs_f64()
            ))),
            None => Ok(()),
        }
    }

    /// Waits until the box has opened its status page.
    pub fn wait_until_up(&mut self) -> Result<(), BenchError> {
        let address_file = self
            .dir
            .join("state")
            .join(onair::station::WEB_ADDRESS_FILE);
        while self.address.is_none() {
            self.check_running()?;
            if let Ok(text) = std::fs::read_to_string(&address_file)
                && !text.trim().is_empty()
            {
                self.address = Some(text.trim().to_string());
                break;
            }
            if self.started.elapsed() > BOX_START_TIMEOUT {
                return Err(self.error(format!(
                    "did not open its status page within {} s",
                    BOX_START_TIMEOUT.as_secs()
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    }

    /// Its threads now.
    pub fn threads(&self) -> Vec<ThreadTime> {
        threads_of(self.pid())
    }

    /// Reads its memory and status at the end of the stretch that began
    /// with `from` at `began`, stops it, and checks that it was doing the
    /// work measured: the programme on air, every stream up.
    pub fn finish(mut self, from: &[ThreadTime], began: Instant) -> Result<BoxRun, BenchError> {
        self.check_running()?;
        let to = self.threads();
        let ran_for = began.elapsed();
        let pid = self.pid();
        let memory = proc_status(pid).map_err(|e| self.error(e))?;
        let address = self.address.clone().unwrap_or_default();
        let status = box_status(&address).map_err(|e| self.error(e))?;
        let stopped = self.running.terminate(BOX_STOP_TIMEOUT);
        if !status.on_air.contains("bench-programme") {
            return Err(self.error(format!(
                "was not playing the generated programme at the end of the measurement \
                 (mode {}, on air: {}), so what was measured is not a box on air",
                status.mode, status.on_air
            )));
        }
        let wanted = self.outputs.mounts();
        if status.streams_up < wanted {
            return Err(self.error(format!(
                "had {} of its {wanted} streams up at the end of the measurement ({}), so \
                 what was measured is not a box streaming",
                status.streams_up,
                status.streams.join("; ")
            )));
        }
        match stopped {
            Some(s) if s.success() => {}
            Some(s) => return Err(self.error(format!("did not stop cleanly on SIGTERM ({s})"))),
            None => {
                return Err(self.error(format!(
                    "did not stop within {} s of SIGTERM and was killed",
                    BOX_STOP_TIMEOUT.as_secs()
                )));
            }
        }
        let used = since(&to, from);
        Ok(BoxRun {
            from: began.saturating_duration_since(self.started),
            ran_for,
            peak_kib: memory.peak_kib,
            resident_kib: memory.resident_kib,
            anonymous_kib: memory.anonymous_kib,
            file_kib: memory.file_kib,
            threads: memory.threads,
            on_air: status.on_air,
            output_frames: status.output_frames,
            underruns: status.underruns,
            streams: status.streams,
            cpu: used.cpu,
            wakes: used.wakes,
            cpu_by_thread: used
                .by_name
                .into_iter()
                .map(|(name, (count, cpu))| (name.trim_end().to_string(), count, cpu))
                .collect(),
        })
    }
}

/// Sleeps until `at`, failing as soon as one of `boxes` stops.
pub fn wait_until(at: Instant, boxes: &mut [&mut StartedBox]) -> Result<(), BenchError> {
    while Instant::now() < at {
        for running in boxes.iter_mut() {
            running.check_running()?;
        }
        std::thread::sleep(
            at.saturating_duration_since(Instant::now())
                .min(Duration::from_millis(200)),
        );
    }
    Ok(())
}

/// Runs the box on a generated station with `outputs`, and measures it
/// from `from` after its start for `stretch`.
pub fn measure_box(
    binary: &Path,
    work: &Path,
    files: &ProgrammeFiles,
    outputs: Outputs,
    from: Duration,
    stretch: Duration,
) -> Result<BoxRun, BenchError> {
    let mut running = StartedBox::start(binary, work, files, outputs)?;
    running.wait_until_up()?;
    let began = running.started() + from;
    wait_until(began, &mut [&mut running])?;
    let threads = running.threads();
    let began = Instant::now();
    wait_until(began + stretch, &mut [&mut running])?;
    running.finish(&threads, began)
}

/// The schedule skips files younger than a couple of seconds (still being
/// copied); a freshly encoded programme must be older before the box looks.
fn wait_until_settled(path: &Path) {
    let age = std::fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|modified| SystemTime::now().duration_since(modified).ok())
        .unwrap_or_default();
    if age < SETTLED_AFTER {
        std::thread::sleep(SETTLED_AFTER - age);
    }
}

struct BoxStatus {
    mode: String,
    on_air: String,
    output_frames: u64,
    underruns: u64,
    /// Each stream output's state and bytes sent, and how many were up.
    streams: Vec<String>,
    streams_up: usize,
}

/// Asks the running box's status page what it is doing.
fn box_status(address: &str) -> Result<BoxStatus, String> {
    let url = format!("http://{address}/api/status");
    let body = ureq::get(&url)
        .call()
        .and_then(|mut response| response.body_mut().read_to_string())
        .map_err(|e| format!("did not answer {url}: {e}"))?;
    let status: serde_json::Value =
        serde_json::from_str(&body).map_err(|e| format!("sent unreadable status ({e})"))?;
    let text = |v: &serde_json::Value| v.as_str().unwrap_or("?").to_string();
    let on_air = match status.get("on_air") {
        Some(on_air) if !on_air.is_null() => format!(
            "{} ({})",
            text(&on_air["title"]),
            Path::new(&text(&on_air["file"]))
                .file_name()
                .map_or_else(|| "?".into(), |n| n.to_string_lossy().into_owned())
        ),
        _ => "nothing".to_string(),
    };
    let output_frames = status["outputs"]
        .as_array()
        .and_then(|outputs| outputs.first())
        .and_then(|o| o["frames_out"].as_u64())
        .unwrap_or(0);
    let mut streams = Vec::new();
    let mut streams_up = 0;
    for output in status["outputs"].as_array().into_iter().flatten() {
        let stream = &output["stream"];
        if stream.is_null() {
            continue;
        }
        let state = text(&stream["state"]);
        let sent = stream["bytes_sent"].as_u64().unwrap_or(0);
        if state == "connected" && sent > 0 {
            streams_up += 1;
        }
        streams.push(format!(
            "{}: {state}, {sent} bytes sent",
            text(&output["name"])
        ));
    }
    Ok(BoxStatus {
        mode: text(&status["mode"]),
        on_air,
        output_frames,
        streams,
        streams_up,
        underruns: status["underruns"].as_u64().unwrap_or(0),
    })
}

/// The error of `doing` something to `path`, for `map_err`.
pub fn io(doing: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> BenchError {
    let path = path.to_path_buf();
    move |source| BenchError::Io {
        doing,
        path,
        source,
    }
}

pub fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let tail = lines[lines.len().saturating_sub(15)..].join("\n");
    if tail.is_empty() {
        "(nothing)".into()
    } else {
        tail
    }
}
