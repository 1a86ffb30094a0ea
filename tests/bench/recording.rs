//! The stream recorder's cost: the box recording `CHANNELS` channels of
//! one MP3 stream from a local Icecast (ffmpeg sending the programme file
//! as it is, in real time), in this process with the box's recorder, its
//! threads' CPU over a stretch read from `/proc`, per recorded hour per
//! channel, beside what `lame` spends encoding an hour of the same audio
//! (the stream benchmark's encode-only figure). Nothing is decoded or
//! encoded to record (a segment's waveform peaks are made when a waveform
//! first shows it), so the target is under 1 % of lame's cost. Memory per
//! channel is the process's resident memory with the channels recording
//! less without, shared out.

use std::fmt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use onair::clock::Clock;
use onair::recorder::{ChannelState, Recorder, RecorderChannel, RecorderSettings};

use super::BenchError;
use super::icecast::{Icecast, SOURCE_PASSWORD};
use super::report::per_hour;
use super::threads::{ThreadTime, status_field, threads_of};

/// Channels recorded at once.
pub const CHANNELS: usize = 3;
/// The recorder's CPU per recorded hour per channel, against lame's
/// encode-only CPU for an hour of the same audio, at most (1 %).
pub const RECORDER_RATIO_TARGET: f64 = 0.01;
/// The recorder's reading threads are named `rec NAME`, its writing ones
/// `rec-w NAME`.
const READER_PREFIX: &str = "rec ";
const WRITER_PREFIX: &str = "rec-w ";
const MOUNT: &str = "/recorded.mp3";

#[derive(Debug, Clone)]
pub struct RecordingRun {
    pub channels: usize,
    pub ran_for: Duration,
    /// The reading threads together: receiving, framing, timing, cutting.
    pub readers: Duration,
    /// The writing threads together: the segments' files.
    pub writers: Duration,
    /// lame's encode-only CPU for an hour of audio.
    pub lame_per_hour: f64,
    /// Resident memory the channels added, KiB, all of them.
    pub added_kib: u64,
}

impl RecordingRun {
    /// CPU seconds per recorded hour of one channel: both threads.
    pub fn per_channel_hour(&self) -> f64 {
        per_hour(self.readers + self.writers, self.ran_for) / self.channels.max(1) as f64
    }

    /// The same, of the reading thread alone (no decoding at all).
    pub fn reader_per_channel_hour(&self) -> f64 {
        per_hour(self.readers, self.ran_for) / self.channels.max(1) as f64
    }

    pub fn ratio_to_lame(&self) -> f64 {
        self.per_channel_hour() / self.lame_per_hour.max(1e-9)
    }

    pub fn kib_per_channel(&self) -> u64 {
        self.added_kib / self.channels.max(1) as u64
    }

    pub fn passed(&self) -> bool {
        self.ratio_to_lame() <= RECORDER_RATIO_TARGET
    }
}

impl fmt::Display for RecordingRun {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "The stream recorder: {} channels of a 128 kb/s MP3 stream from a local Icecast, \
             {:.0} s in real time",
            self.channels,
            self.ran_for.as_secs_f64()
        )?;
        writeln!(
            f,
            "  CPU per recorded hour per channel: {:.3} s ({:.3} s receiving and cutting, the \
             rest writing the segments)",
            self.per_channel_hour(),
            self.reader_per_channel_hour()
        )?;
        writeln!(
            f,
            "  against lame encoding an hour: {:.1} s, {:.2} % (target < {:.0} %) {}",
            self.lame_per_hour,
            self.ratio_to_lame() * 100.0,
            RECORDER_RATIO_TARGET * 100.0,
            if self.passed() { "ok" } else { "OVER" }
        )?;
        writeln!(
            f,
            "  memory per channel: {} KiB resident",
            self.kib_per_channel()
        )
    }
}

/// The recorder's threads' CPU, readers and writers apart.
pub fn recorder_cpu(threads: &[ThreadTime]) -> (Duration, Duration) {
    let sum = |prefix: &str| {
        threads
            .iter()
            .filter(|t| t.name.starts_with(prefix))
            .map(|t| t.cpu)
            .sum()
    };
    (sum(READER_PREFIX), sum(WRITER_PREFIX))
}

/// The difference of two lists of threads' CPU, by thread, for the
/// threads in both (a thread that ended or began between them is left out).
pub fn used_between(later: &[ThreadTime], earlier: &[ThreadTime]) -> Vec<ThreadTime> {
    later
        .iter()
        .filter_map(|t| {
            let before = earlier.iter().find(|e| e.tid == t.tid)?;
            Some(ThreadTime {
                cpu: t.cpu.saturating_sub(before.cpu),
                ..t.clone()
            })
        })
        .collect()
}

fn resident_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| status_field(&s, "VmRSS"))
        .unwrap_or(0)
}

/// ffmpeg sending `mp3` as it is, in real time, to the server's mount.
fn send(ffmpeg: &Path, server: &Icecast, mp3: &Path) -> Result<Child, BenchError> {
    Command::new(ffmpeg)
        .args(["-nostdin", "-v", "error", "-re", "-i"])
        .arg(mp3)
        .args(["-c:a", "copy", "-content_type", "audio/mpeg", "-f", "mp3"])
        .arg(format!(
            "icecast://source:{SOURCE_PASSWORD}@127.0.0.1:{}{MOUNT}",
            server.port
        ))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|source| BenchError::NoFfmpeg {
            program: ffmpeg.display().to_string(),
            source,
        })
}

/// Records `CHANNELS` channels for `stretch` (after they settle) and
/// measures them; `lame_per_hour` is lame's CPU per hour of audio.
pub fn measure(
    ffmpeg: &Path,
    server: &Icecast,
    work: &Path,
    mp3: &Path,
    stretch: Duration,
    lame_per_hour: f64,
) -> Result<RecordingRun, BenchError> {
    let mut sender = send(ffmpeg, server, mp3)?;
    let result = record(server, work, stretch, lame_per_hour);
    let _ = sender.kill();
    let _ = sender.wait();
    result
}

fn record(
    server: &Icecast,
    work: &Path,
    stretch: Duration,
    lame_per_hour: f64,
) -> Result<RecordingRun, BenchError> {
    let failed = |problem: String| BenchError::Stream(format!("the recorder {problem}"));
    if server
        .wait_for(Duration::from_secs(15), |s| s.mount(MOUNT).is_some())
        .is_none()
    {
        return Err(failed(format!(
            "had nothing to record: ffmpeg's stream never reached {MOUNT}"
        )));
    }
    let archive = work.join("recorded");
    let settings = RecorderSettings::new(archive, 6, Clock::Wall);
    let url = format!("http://127.0.0.1:{}{MOUNT}", server.port);
    let channels = (1..=CHANNELS)
        .map(|i| RecorderChannel {
            name: format!("partner{i}"),
            url: url.clone(),
            category: "partners".into(),
            always_on: true,
        })
        .collect();
    let before_kib = resident_kib();
    let mut recorder = Recorder::new(settings, channels).map_err(|e| failed(e.to_string()))?;
    if let Some(e) = recorder.start_always_on().into_iter().next() {
        return Err(failed(format!("did not start: {e}")));
    }
    // Connected, settled and a first segment or two written.
    std::thread::sleep(Duration::from_secs(10));
    let names: Vec<String> = recorder.channels().map(|c| c.name.clone()).collect();
    for name in &names {
        let state = recorder.status(name).map(|s| s.state());
        if state != Some(ChannelState::Recording) {
            return Err(failed(format!("{name} is not recording: {state:?}")));
        }
    }
    let pid = std::process::id();
    let earlier = threads_of(pid);
    let started = std::time::Instant::now();
    std::thread::sleep(stretch);
    let later = threads_of(pid);
    let ran_for = started.elapsed();
    let added_kib = resident_kib().saturating_sub(before_kib);
    recorder.stop_all();
    let (readers, writers) = recorder_cpu(&used_between(&later, &earlier));
    Ok(RecordingRun {
        channels: CHANNELS,
        ran_for,
        readers,
        writers,
        lame_per_hour,
        added_kib,
    })
}
