//! The benchmark's outcome: every figure, the targets, and the table.

use std::fmt;
use std::time::Duration;

use super::archive::ArchiveRun;
use super::liquidsoap::{self, Beside, Side};
use super::paced_lame::{self, PacedLame};
use super::recording::RecordingRun;
use super::running::BoxRun;
use super::streams::{
    SECOND_MOUNT_TARGET, STREAM_BITRATE, STREAM_RATE, STREAM_RATIO_TARGET, StreamResult, StreamRun,
    Turn,
};
use super::studio::StudioRun;
use super::{ENGINE_RATE, FILE_RATE};

/// The box may spend at most this many times ffmpeg's decode CPU on a file.
pub const CPU_RATIO_TARGET: f64 = 1.5;
/// The running box must stay under this peak resident size.
pub const MEMORY_TARGET_KIB: u64 = 30 * 1024;
/// In real time, the box streaming to two mounts may cost at most this
/// many times the same work (decode, mix, encode, send) at full speed.
pub const REAL_TIME_TARGET: f64 = 1.3;
/// In real time, the box with a null output alone: CPU s per hour.
pub const NULL_BOX_TARGET: f64 = 15.0;
/// `lame`'s encode-only CPU per hour of audio on the machine where the
/// targets in CPU seconds were set and met (the README's tables). Shown
/// beside this run's, so that a slower machine is seen as one; the
/// targets themselves are not scaled.
pub const LAME_WHERE_TARGETS_WERE_SET: f64 = 34.0;
/// The director (its runtime's threads), CPU s per hour of audio.
pub const DIRECTOR_TARGET: f64 = 3.0;
/// The whole box's wake-ups (voluntary context switches) per second.
pub const WAKES_TARGET: f64 = 150.0;
/// What keeping an archive adds to the box streaming to two mounts, in
/// per cent of that box's CPU.
pub const ARCHIVE_ADDED_TARGET: f64 = 5.0;
/// The archive's own thread; the rest of its work (handing the encoder's
/// MP3 to its queue) is a copy on the encoder's thread.
pub const ARCHIVE_THREAD: &str = "archive writer";

/// The outcome of one benchmark.
#[derive(Debug, Clone)]
pub struct Report {
    pub audio: Duration,
    pub runs: u32,
    pub files: Vec<FileResult>,
    /// The stream side at full speed: one and two mounts beside lame and ffmpeg.
    pub streams: Option<StreamResult>,
    /// The running box in real time with a null output alone.
    pub null_box: Option<BoxRun>,
    /// The running box in real time streaming to two mounts.
    pub stream_box: Option<BoxRun>,
    /// The same work at full speed just before and just after it.
    pub two_mounts_beside: Vec<StreamRun>,
    /// The box streaming to two mounts again, with this machine's cores
    /// kept awake by idle-class busy threads beside it.
    pub stream_box_awake: Option<BoxRun>,
    /// The same, keeping an archive of the stream.
    pub archived_box: Option<BoxRun>,
    /// `lame` fed in real time beside `lame` flat out.
    pub paced_lame: Option<PacedLame>,
    pub liquidsoap: Side,
    /// The box and Liquidsoap side by side again, with this machine's cores
    /// kept awake.
    pub liquidsoap_awake: Option<Beside>,
    /// The studio in real time: press-to-live latency, display and capture.
    pub studio: Option<StudioRun>,
    /// The archive's reading side on a generated archive.
    pub archive: Option<ArchiveRun>,
    /// The stream recorder recording channels from a local Icecast.
    pub recording: Option<RecordingRun>,
    /// Numbers from a debug build say little about the box.
    pub debug_build: bool,
}

/// One programme file: the best CPU time of each side.
#[derive(Debug, Clone)]
pub struct FileResult {
    pub format: String,
    /// The box: open, decode, resample, mix and hand to an output.
    pub ours: Duration,
    /// The benchmark's own threads in the same run (not in `ours`).
    pub harness: Duration,
    /// Where it goes: the decoder alone at the file's rate, and the decoder
    /// resampling to the engine rate, both read straight from its ring.
    pub decode: Duration,
    pub decode_resample: Duration,
    /// `ffmpeg -threads 1 … -f null -`.
    pub ffmpeg: Duration,
    /// Engine-rate frames of programme the mixer put out (silence from
    /// underruns not counted).
    pub aired_frames: u64,
    /// The length the decoder announced at open, in engine-rate frames.
    pub expected_frames: Option<u64>,
    pub underruns: u64,
}

impl FileResult {
    pub fn ratio(&self) -> f64 {
        self.ours.as_secs_f64() / self.ffmpeg.as_secs_f64().max(1e-9)
    }

    pub fn passed(&self) -> bool {
        self.ratio() <= CPU_RATIO_TARGET
    }
}

/// CPU seconds spent per hour of audio.
pub fn per_hour(cpu: Duration, audio: Duration) -> f64 {
    cpu.as_secs_f64() * 3600.0 / audio.as_secs_f64().max(1e-9)
}

/// The running box's real-time targets.
impl BoxRun {
    pub fn memory_passed(&self) -> bool {
        self.peak_kib < MEMORY_TARGET_KIB
    }

    pub fn director_passed(&self) -> bool {
        per_hour(self.director(), self.ran_for) <= DIRECTOR_TARGET
    }

    pub fn wakes_passed(&self) -> bool {
        self.wakes_per_second() <= WAKES_TARGET
    }

    /// The targets every running box meets.
    pub fn passed(&self) -> bool {
        self.memory_passed() && self.director_passed() && self.wakes_passed()
    }

    fn show(&self, f: &mut fmt::Formatter<'_>, title: &str) -> fmt::Result {
        writeln!(
            f,
            "{title}, {:.0}-{:.0} s after its start)",
            self.from.as_secs_f64(),
            (self.from + self.ran_for).as_secs_f64()
        )?;
        writeln!(
            f,
            "  VmHWM {:.1} MiB   target < {:.0} MiB   {}",
            mib(self.peak_kib),
            mib(MEMORY_TARGET_KIB),
            verdict(self.memory_passed())
        )?;
        writeln!(
            f,
            "  at the end: resident {:.1} MiB (anonymous {:.1}, file-backed {:.1}), \
             {} threads",
            mib(self.resident_kib),
            mib(self.anonymous_kib),
            mib(self.file_kib),
            self.threads
        )?;
        writeln!(
            f,
            "  on air: {}; output took {} frames, {} underrun frames",
            self.on_air, self.output_frames, self.underruns
        )?;
        for stream in &self.streams {
            writeln!(f, "  {stream}")?;
        }
        // Real time: an hour of audio takes an hour of running.
        writeln!(
            f,
            "  CPU in real time: {:.1} s per hour, {:.0} wake-ups a second (by thread: {})",
            per_hour(self.cpu, self.ran_for),
            self.wakes_per_second(),
            self.cpu_by_thread
                .iter()
                .filter(|(_, _, cpu)| !cpu.is_zero())
                .map(|(name, count, cpu)| {
                    let count = if *count > 1 {
                        format!(" x{count}")
                    } else {
                        String::new()
                    };
                    format!("{name}{count} {:.1}", per_hour(*cpu, self.ran_for))
                })
                .collect::<Vec<_>>()
                .join(", ")
        )
    }
}

impl Report {
    /// The full-speed work the real-time two-mount box is judged against,
    /// CPU s per hour of audio: the mean of the turns just before and just
    /// after it, else (not measured beside it) the best of the stream
    /// side's turns at the start.
    pub fn two_mounts_full_speed(&self) -> Option<f64> {
        if self.two_mounts_beside.is_empty() {
            return self
                .streams
                .as_ref()
                .map(|s| per_hour(s.two.cpu, self.audio));
        }
        let sum: f64 = self
            .two_mounts_beside
            .iter()
            .map(|run| per_hour(run.cpu, self.audio))
            .sum();
        Some(sum / self.two_mounts_beside.len() as f64)
    }

    /// The box streaming to two mounts in real time against the same work
    /// at full speed (both per hour of audio).
    pub fn real_time_ratio(&self) -> Option<f64> {
        let running = self.stream_box.as_ref()?;
        Some(per_hour(running.cpu, running.ran_for) / self.two_mounts_full_speed()?.max(1e-9))
    }

    pub fn real_time_passed(&self) -> bool {
        self.real_time_ratio()
            .is_none_or(|ratio| ratio <= REAL_TIME_TARGET)
    }

    /// What the archive adds while airing: its writer thread's CPU, and
    /// the whole archived box against the box without an archive, both in
    /// per cent of the latter (per hour of audio). The thread's share is
    /// judged: two runs of the whole box differ by more than the archive
    /// costs.
    pub fn archive_added(&self) -> Option<(f64, f64)> {
        let (plain, archived) = (self.stream_box.as_ref()?, self.archived_box.as_ref()?);
        let base = per_hour(plain.cpu, plain.ran_for).max(1e-9);
        let writer = archived
            .cpu_by_thread
            .iter()
            .filter(|(name, _, _)| name == ARCHIVE_THREAD)
            .map(|(_, _, cpu)| *cpu)
            .sum();
        let thread = per_hour(writer, archived.ran_for) / base * 100.0;
        let whole = (per_hour(archived.cpu, archived.ran_for) - base) / base * 100.0;
        Some((thread, whole))
    }

    pub fn archive_added_passed(&self) -> bool {
        self.archive_added()
            .is_none_or(|(thread, _)| thread <= ARCHIVE_ADDED_TARGET)
    }

    pub fn null_box_passed(&self) -> bool {
        self.null_box
            .as_ref()
            .is_none_or(|run| per_hour(run.cpu, run.ran_for) <= NULL_BOX_TARGET)
    }

    /// Every target measured is met. Liquidsoap not installed is neither a
    /// pass nor a failure: the table says it was not measured.
    pub fn passed(&self) -> bool {
        !self.files.is_empty()
            && self.files.iter().all(FileResult::passed)
            && self.streams.as_ref().is_none_or(StreamResult::passed)
            && self.null_box.as_ref().is_none_or(BoxRun::passed)
            && self.stream_box.as_ref().is_none_or(BoxRun::passed)
            && self.real_time_passed()
            && self.null_box_passed()
            && self.archived_box.as_ref().is_none_or(BoxRun::passed)
            && self.archive_added_passed()
            && match &self.liquidsoap {
                Side::Measured(beside) => beside.passed(),
                Side::NotInstalled | Side::NotRun => true,
            }
            && self.studio.as_ref().is_none_or(StudioRun::passed)
            && self.archive.as_ref().is_none_or(ArchiveRun::passed)
            && self.recording.as_ref().is_none_or(RecordingRun::passed)
    }

    fn show_real_time(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "Real time: the running box (onair run), CPU s per hour of audio over a steady stretch"
        )?;
        let row = |f: &mut fmt::Formatter<'_>, what: &str, value: String, target: String, ok| {
            writeln!(f, "  {what:<40} {value:>22}   {target:<22} {}", verdict(ok))
        };
        if let Some(run) = &self.null_box {
            row(
                f,
                "null output alone",
                format!("{:.1} s/h", per_hour(run.cpu, run.ran_for)),
                format!("target <= {NULL_BOX_TARGET} s/h"),
                self.null_box_passed(),
            )?;
            if let Some(streams) = &self.streams {
                writeln!(
                    f,
                    "    (this machine's speed: lame took {:.1} s/h in this run, {:.0} where the \
                     targets in CPU seconds were set)",
                    per_hour(streams.lame, self.audio),
                    LAME_WHERE_TARGETS_WERE_SET
                )?;
            }
        }
        if let (Some(run), Some(full_speed), Some(ratio)) = (
            &self.stream_box,
            self.two_mounts_full_speed(),
            self.real_time_ratio(),
        ) {
            row(
                f,
                "two mounts, against the same work at full speed",
                format!(
                    "{:.1} / {full_speed:.1} = {ratio:.2}x",
                    per_hour(run.cpu, run.ran_for)
                ),
                format!("target <= {REAL_TIME_TARGET}x"),
                self.real_time_passed(),
            )?;
            if let ([before, after], Some(streams)) = (&self.two_mounts_beside[..], &self.streams) {
                let at_start = per_hour(streams.two.cpu, self.audio);
                writeln!(
                    f,
                    "    (the full-speed work just before the real-time box {:.1} s/h, just after \
                     it {:.1}; the best full-speed turn at the start {at_start:.1}, which would \
                     give {:.2}x; not judged)",
                    per_hour(before.cpu, self.audio),
                    per_hour(after.cpu, self.audio),
                    per_hour(run.cpu, run.ran_for) / at_start.max(1e-9)
                )?;
            }
            if let Some(awake) = &self.stream_box_awake {
                let cpu = per_hour(awake.cpu, awake.ran_for);
                writeln!(
                    f,
                    "    (the same box with this machine's cores kept awake by an idle-class busy \
                     thread per core: {cpu:.1} s/h = {:.2}x; the rest of the ratio is what the \
                     host charges work that sleeps between bursts; not judged)",
                    cpu / full_speed.max(1e-9)
                )?;
            }
        }
        if let Some(lame) = &self.paced_lame {
            writeln!(
                f,
                "    (lame itself, fed {} ms at a time in real time: {:.1} s/h against {:.1} flat \
                 out = {:.2}x, what this machine charges for working in real time; not judged)",
                paced_lame::CHUNK.as_millis(),
                per_hour(lame.paced, lame.audio),
                per_hour(lame.flat, lame.audio),
                lame.ratio()
            )?;
        }
        if let (Some(run), Some((thread, whole))) = (&self.archived_box, self.archive_added()) {
            let writer = run
                .cpu_by_thread
                .iter()
                .filter(|(name, _, _)| name == ARCHIVE_THREAD)
                .map(|(_, _, cpu)| *cpu)
                .sum();
            row(
                f,
                "archive added on top of two mounts",
                format!("{:.2} s/h = {thread:.1} %", per_hour(writer, run.ran_for)),
                format!("target <= {ARCHIVE_ADDED_TARGET} %"),
                self.archive_added_passed(),
            )?;
            writeln!(
                f,
                "  {:<40} {:>22}",
                "  (whole box, archived against not)",
                format!("{:.1} s/h, {whole:+.1} %", per_hour(run.cpu, run.ran_for))
            )?;
        }
        for (name, run) in [
            ("null output", &self.null_box),
            ("two mounts", &self.stream_box),
            ("two mounts and an archive", &self.archived_box),
        ] {
            let Some(run) = run else { continue };
            row(
                f,
                &format!("director (runtime threads), {name}"),
                format!("{:.2} s/h", per_hour(run.director(), run.ran_for)),
                format!("target <= {DIRECTOR_TARGET} s/h"),
                run.director_passed(),
            )?;
            row(
                f,
                &format!("wake-ups of the whole box, {name}"),
                format!("{:.0} /s", run.wakes_per_second()),
                format!("target <= {WAKES_TARGET} /s"),
                run.wakes_passed(),
            )?;
        }
        if self.null_box.is_none() && self.stream_box.is_none() {
            writeln!(f, "  not measured (no box binary to run)")?;
        }
        Ok(())
    }

    fn show_liquidsoap(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "Beside Liquidsoap: one programme MP3 re-encoded to 128 kbit/s CBR, LAME quality 3, \
             one mount, at the same time, {}-{} s after the start",
            liquidsoap::FROM.as_secs(),
            liquidsoap::TO.as_secs()
        )?;
        match &self.liquidsoap {
            Side::NotInstalled => writeln!(
                f,
                "  NOT MEASURED: liquidsoap is not installed (apt-get install liquidsoap)"
            ),
            Side::NotRun => writeln!(
                f,
                "  NOT MEASURED: it needs the Icecast server and the onair binary"
            ),
            Side::Measured(beside) => {
                let share = |cpu: Duration, ran_for: Duration| {
                    100.0 * cpu.as_secs_f64() / ran_for.as_secs_f64().max(1e-9)
                };
                let theirs = &beside.liquidsoap;
                writeln!(
                    f,
                    "  {:<40} {:>6.2} % of a core   VmHWM {:.1} MiB",
                    theirs.version,
                    share(theirs.cpu, theirs.ran_for),
                    mib(theirs.peak_kib)
                )?;
                writeln!(
                    f,
                    "  {:<40} {:>6.2} % of a core   VmHWM {:.1} MiB   {:.2}x Liquidsoap   \
                     target <= {}x   {}",
                    "onair run",
                    share(beside.onair.cpu, beside.onair.ran_for),
                    mib(beside.onair.peak_kib),
                    beside.ratio(),
                    liquidsoap::TARGET,
                    verdict(beside.passed())
                )?;
                match &self.liquidsoap_awake {
                    Some(awake) => writeln!(
                        f,
                        "    (the two again with this machine's cores kept awake by an idle-class \
                         busy thread per core: {:.2} % against {:.2} % = {:.2}x; not judged)",
                        share(awake.onair.cpu, awake.onair.ran_for),
                        share(awake.liquidsoap.cpu, awake.liquidsoap.ran_for),
                        awake.ratio()
                    ),
                    None => Ok(()),
                }
            }
        }
    }
}

pub fn verdict(passed: bool) -> &'static str {
    if passed { "PASS" } else { "FAIL" }
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "onair cost benchmark: {:.1} min of generated programme audio ({} Hz stereo), \
             engine at {} Hz, best of {}",
            self.audio.as_secs_f64() / 60.0,
            FILE_RATE,
            ENGINE_RATE,
            self.runs
        )?;
        if self.debug_build {
            writeln!(
                f,
                "NOTE: this is a debug build; only a release build counts \
                 (cargo bench --bench cost)"
            )?;
        }
        writeln!(f)?;
        writeln!(f, "CPU seconds per hour of audio (user + system)")?;
        writeln!(
            f,
            "  {:<18} {:>27} {:>14} {:>7}   target <= {CPU_RATIO_TARGET}x",
            "file", "onair decode+resample+mix", "ffmpeg decode", "ratio"
        )?;
        for file in &self.files {
            writeln!(
                f,
                "  {:<18} {:>27.2} {:>14.2} {:>6.2}x   {}",
                file.format,
                per_hour(file.ours, self.audio),
                per_hour(file.ffmpeg, self.audio),
                file.ratio(),
                verdict(file.passed())
            )?;
            writeln!(
                f,
                "  {:<18} (the benchmark's own polling threads, not counted: {:.2})",
                "",
                per_hour(file.harness, self.audio)
            )?;
            if file.underruns > 0 {
                writeln!(
                    f,
                    "  {:<18} ({} frames of underrun: the decoder fell behind the mixer)",
                    "", file.underruns
                )?;
            }
        }
        writeln!(f)?;
        writeln!(
            f,
            "Where onair's CPU goes (per hour of audio; the parts are measured apart)"
        )?;
        writeln!(
            f,
            "  {:<18} {:>14} {:>14} {:>14}",
            "file", "decode", "resample", "mix + output"
        )?;
        for file in &self.files {
            let hour = |d| per_hour(d, self.audio);
            writeln!(
                f,
                "  {:<18} {:>14.2} {:>14.2} {:>14.2}",
                file.format,
                hour(file.decode),
                hour(file.decode_resample) - hour(file.decode),
                hour(file.ours) - hour(file.decode_resample),
            )?;
        }
        writeln!(f)?;
        if let Some(streams) = &self.streams {
            streams.show(f, self.audio)?;
            writeln!(f)?;
        }
        self.show_real_time(f)?;
        writeln!(f)?;
        self.show_liquidsoap(f)?;
        writeln!(f)?;
        match &self.null_box {
            Some(run) => run.show(
                f,
                "The running box with a null output (programme on air, 48 kHz engine",
            )?,
            None => writeln!(f, "Peak memory of the running box: not measured")?,
        }
        if let Some(run) = &self.stream_box {
            writeln!(f)?;
            run.show(
                f,
                "The running box streaming to two mounts (44.1 kHz engine, null output beside",
            )?;
        }
        if let Side::Measured(beside) = &self.liquidsoap {
            writeln!(f)?;
            beside.onair.show(
                f,
                "The running box beside Liquidsoap (one mount, no other output",
            )?;
        }
        if let Some(studio) = &self.studio {
            writeln!(f)?;
            write!(f, "{studio}")?;
        }
        if let Some(archive) = &self.archive {
            writeln!(f)?;
            write!(f, "{archive}")?;
        }
        if let Some(recording) = &self.recording {
            writeln!(f)?;
            write!(f, "{recording}")?;
        }
        writeln!(f)?;
        write!(f, "Result: {}", verdict(self.passed()))
    }
}

impl StreamResult {
    /// The stream section of the report.
    fn show(&self, f: &mut fmt::Formatter<'_>, audio: Duration) -> fmt::Result {
        let hour = |cpu| per_hour(cpu, audio);
        writeln!(
            f,
            "Streaming: CPU seconds per hour of audio (user + system), MP3 {STREAM_BITRATE} \
             kbit/s CBR at {STREAM_RATE} Hz, engine at {STREAM_RATE} Hz"
        )?;
        writeln!(
            f,
            "  {:<34} {:>8.2}   {}",
            "lame, encode only",
            hour(self.lame),
            self.lame_command
        )?;
        writeln!(
            f,
            "  {:<34} {:>8.2}   {}",
            "ffmpeg, decode + encode",
            hour(self.ffmpeg),
            self.ffmpeg_command
        )?;
        writeln!(
            f,
            "  {:<34} {:>8.2}   {:.2}x lame        target <= {STREAM_RATIO_TARGET}x   {}",
            "onair, decode+mix+encode+send x1",
            hour(self.one.cpu),
            self.ratio_to_lame(),
            verdict(self.ratio_passed())
        )?;
        writeln!(
            f,
            "  {:<34} {:>8.2}   {:+.1} % for mount 2   target < {:.0} %     {}",
            "onair, two mounts, one encoder",
            hour(self.two.cpu),
            self.second_mount_share() * 100.0,
            SECOND_MOUNT_TARGET * 100.0,
            verdict(self.second_mount_passed())
        )?;
        for run in [&self.one, &self.two] {
            let server = run
                .server
                .map_or_else(|| "not read".to_string(), |cpu| format!("{:.2}", hour(cpu)));
            writeln!(
                f,
                "  {} mount(s): bytes sent {:?} (expected about {}), {} frames lost, \
                 {} underrun frames   {}",
                run.mounts,
                run.bytes_sent,
                run.expected_bytes(),
                run.lost_frames,
                run.underruns,
                if run.complete() {
                    "complete"
                } else {
                    "INCOMPLETE: FAIL"
                }
            )?;
            writeln!(
                f,
                "  {:<34} icecast2 {server}, benchmark threads {:.2} (neither counted)",
                "",
                hour(run.harness)
            )?;
        }
        let encoder = |run: &StreamRun| run.cpu_of("output encoder");
        let spread = |side: &dyn Fn(&Turn) -> Duration| {
            self.turns
                .iter()
                .map(|turn| format!("{:.1}", hour(side(turn))))
                .collect::<Vec<_>>()
                .join(" ")
        };
        writeln!(f, "  every turn, in order (the best of each is above):")?;
        writeln!(f, "    {:<32} {}", "lame", spread(&|t| t.lame))?;
        writeln!(f, "    {:<32} {}", "ffmpeg", spread(&|t| t.ffmpeg))?;
        writeln!(
            f,
            "    {:<32} {}",
            "onair, one mount",
            spread(&|t| t.one.cpu)
        )?;
        writeln!(
            f,
            "      {:<30} {}",
            "its encoder thread",
            spread(&|t| encoder(&t.one))
        )?;
        writeln!(
            f,
            "    {:<32} {}",
            "onair, two mounts",
            spread(&|t| t.two.cpu)
        )?;
        writeln!(
            f,
            "      {:<30} {}",
            "its encoder thread",
            spread(&|t| encoder(&t.two))
        )?;
        writeln!(
            f,
            "Where the box's CPU goes, by thread (per hour of audio, best run of each)"
        )?;
        writeln!(
            f,
            "  {:<34} {:>9} {:>10}",
            "thread", "one mount", "two mounts"
        )?;
        let mut names: Vec<&str> = Vec::new();
        for (name, _, _) in self.one.threads.iter().chain(&self.two.threads) {
            if !names.contains(&name.as_str()) {
                names.push(name);
            }
        }
        let cell = |run: &StreamRun, name: &str| {
            run.threads.iter().find(|(n, _, _)| n == name).map_or_else(
                String::new,
                |(_, count, cpu)| {
                    let count = if *count > 1 {
                        format!(" (x{count})")
                    } else {
                        String::new()
                    };
                    format!("{:.2}{count}", hour(*cpu))
                },
            )
        };
        for name in names {
            writeln!(
                f,
                "  {name:<34} {:>9} {:>10}",
                cell(&self.one, name),
                cell(&self.two, name)
            )?;
        }
        let rest = |run: &StreamRun| {
            let listed: Duration = run.threads.iter().map(|(_, _, cpu)| *cpu).sum();
            hour(run.cpu.saturating_sub(listed))
        };
        writeln!(
            f,
            "  {:<34} {:>9.2} {:>10.2}",
            "threads ended before (decoder)",
            rest(&self.one),
            rest(&self.two)
        )?;
        // Everything but the senders is shared by construction, so their
        // own threads say what a mount costs without the whole process's
        // turn-to-turn noise.
        let senders = |run: &StreamRun| run.cpu_of("output icecast");
        let added = hour(senders(&self.two)) - hour(senders(&self.one));
        writeln!(
            f,
            "  the second mount's own sender thread: {added:.2} s/h, {:.1} % of one mount",
            100.0 * added / hour(self.one.cpu).max(1e-9)
        )
    }
}
