//! The audio path at full speed in this process: a programme file through
//! the box's real decoder, resampler and mixer, paced by a stand-in sound
//! card, beside the decoder alone and ffmpeg decoding the same file.

use std::io;
use std::path::Path;
use std::process::{Command as Process, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use chrono::{TimeDelta, Utc};
use onair::clock::{Clock, Timeline};
use onair::engine::{
    self, Command, EndHow, EngineSettings, Event, OpenOptions, Source, SourceWatch, Start, decoder,
};
use onair::output::{CHANNELS, OutputStats, Tap};

use super::audio::spawn_ffmpeg;
use super::cpu::{Who, cpu_time};
use super::{BLOCK_FRAMES, BenchError, DECODER_RING_FRAMES, ENGINE_RATE, TAP_FRAMES};

/// One pass of a programme file through the box's audio path.
#[derive(Debug, Clone)]
pub struct Aired {
    pub cpu: Duration,
    /// CPU of the benchmark's threads meanwhile, left out of `cpu`.
    pub harness: Duration,
    /// The engine frame at which the mixer ended the item.
    pub ended_at: u64,
    pub underruns: u64,
    pub expected: Option<u64>,
}

/// Puts `path` on air through the real decoder and mixer, as fast as they
/// go, and returns the CPU time the process spent on it, less what the
/// benchmark's own threads (the stand-in sound card and the wait for the
/// end) spent polling.
pub fn air(path: &Path) -> Result<Aired, BenchError> {
    let file = path.display().to_string();
    let before = cpu_time(Who::Process)?;
    let opts = OpenOptions {
        rate: ENGINE_RATE,
        offset: 0,
        looped: false,
        ring_frames: DECODER_RING_FRAMES,
    };
    let (source, info, watch) = decoder::open(path, &opts)?;
    let now = Utc::now();
    let (ring, drained) = rtrb::RingBuffer::new(TAP_FRAMES * CHANNELS);
    let tap = Tap {
        name: "bench".into(),
        ring,
        stats: Arc::new(OutputStats::default()),
    };
    // The tap is the master, as a sound card is on the box: the mixer makes a
    // block when the tap has room. Left to the clock alone, an unpaced mixer
    // would race ahead of the decoder and spin over underrun silence, CPU the
    // box never spends.
    let timeline = Timeline {
        rate: ENGINE_RATE,
        anchor: now,
    };
    let mut engine = start_paced_by(timeline, BLOCK_FRAMES, vec![tap], 0)?;
    let stop = Arc::new(AtomicBool::new(false));
    let drain = spawn_drain(drained, watch.clone(), Arc::clone(&stop)).map_err(|source| {
        BenchError::Io {
            doing: "start a thread for the output tap of",
            path: path.to_path_buf(),
            source,
        }
    })?;
    let (ended, waiting) = air_to_the_end(&mut engine, source, limit_for(info.duration))?;
    engine.shutdown();
    stop.store(true, Ordering::Release);
    let sound_card = drain.join().unwrap_or_default();
    let after = cpu_time(Who::Process)?;
    let harness = waiting + sound_card;

    let (ended_at, underruns) = match ended {
        Ok(end) => end,
        Err(how) => {
            return Err(BenchError::Unfinished {
                file,
                seconds: limit_for(info.duration).as_secs(),
                how,
            });
        }
    };
    if let Some(reason) = watch.failure() {
        return Err(BenchError::DecoderFailed { file, reason });
    }
    Ok(Aired {
        cpu: after.since(before).saturating_sub(harness),
        harness,
        ended_at,
        underruns,
        expected: info.duration,
    })
}

/// The decoder alone, delivering `path` at `rate`, read straight from its
/// ring on this thread; returns the CPU time of the process.
pub fn decode_only(path: &Path, rate: u32) -> Result<Duration, BenchError> {
    let before = cpu_time(Who::Process)?;
    let opts = OpenOptions {
        rate,
        offset: 0,
        looped: false,
        ring_frames: DECODER_RING_FRAMES,
    };
    let (mut source, info, watch) = decoder::open(path, &opts)?;
    let mut scratch = vec![0.0f32; BLOCK_FRAMES * 16 * CHANNELS];
    let deadline = Instant::now() + limit_for(info.duration);
    while !source.is_exhausted() {
        if source.read(&mut scratch) == 0 {
            if Instant::now() > deadline {
                return Err(BenchError::Unfinished {
                    file: path.display().to_string(),
                    seconds: limit_for(info.duration).as_secs(),
                    how: "without its mixer, not at all".into(),
                });
            }
            // The ring holds seconds: a millisecond's nap never stalls the decoder.
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    drop(source);
    let after = cpu_time(Who::Process)?;
    if let Some(reason) = watch.failure() {
        return Err(BenchError::DecoderFailed {
            file: path.display().to_string(),
            reason,
        });
    }
    Ok(after.since(before))
}

/// However slow the machine, decoding must beat real time by far: a
/// programme that takes longer than its own length (plus a minute) is stuck.
fn limit_for(duration: Option<u64>) -> Duration {
    let audio = duration.unwrap_or(u64::from(ENGINE_RATE) * 3600) / u64::from(ENGINE_RATE);
    Duration::from_secs(audio + 60)
}

/// Waits for item 1 to end naturally; returns its end frame and the
/// underrun frames, or how it went wrong.
/// An engine that never waits for the clock (which would hold every block
/// back to real time): tap `master` alone paces it, as a sound card does.
pub fn start_paced_by(
    timeline: Timeline,
    block_frames: usize,
    taps: Vec<Tap>,
    master: usize,
) -> Result<engine::Engine, BenchError> {
    let settings = EngineSettings {
        timeline,
        clock: Clock::Simulated {
            start: timeline.anchor,
            speed: 1.0e6,
            epoch: SystemTime::now(),
        },
        block_frames,
        lead: TimeDelta::zero(),
        silence_db: -40.0,
    };
    Ok(engine::start(settings, taps, Some(master))?)
}

/// Cues `source` at the engine's first sample and waits until it has ended
/// (or `limit` has passed): how it ended, and the CPU this thread spent
/// waiting, which is the benchmark's and not the box's.
pub fn air_to_the_end(
    engine: &mut engine::Engine,
    source: Source,
    limit: Duration,
) -> Result<(Ending, Duration), BenchError> {
    let cue = Command::Cue {
        id: 1,
        source,
        start: Start::At(0),
        hard_end: None,
        fade: 0,
    };
    let waiting_from = cpu_time(Who::Thread)?;
    let ended = if engine.commands.push(cue).is_err() {
        Err("the command ring was full".to_string())
    } else {
        wait_for_end(engine, limit)
    };
    Ok((ended, cpu_time(Who::Thread)?.since(waiting_from)))
}

/// The engine frame at which the item ended and the underrun frames before
/// it, or why it did not end.
pub type Ending = Result<(u64, u64), String>;

fn wait_for_end(engine: &mut engine::Engine, limit: Duration) -> Ending {
    let deadline = Instant::now() + limit;
    let mut ended = None;
    let mut retired = false;
    while !(ended.is_some() && retired) {
        match engine.events.pop() {
            Ok(Event::Ended { at, how, .. }) => {
                if how != EndHow::Natural {
                    return Err(format!("{how:?} at frame {at}").to_lowercase());
                }
                ended = Some(at);
            }
            // Dropped here, off the mixer's thread, as the director does.
            Ok(Event::Retired(source)) => {
                drop(source);
                retired = true;
            }
            Ok(Event::Started { .. }) => {}
            Err(_) => {
                if Instant::now() > deadline {
                    return Err(match ended {
                        Some(at) => format!("at frame {at} but was never handed back"),
                        None => {
                            format!("not at all (engine at frame {})", engine.meters.position())
                        }
                    });
                }
                std::thread::sleep(Duration::from_millis(2));
            }
        }
    }
    Ok((ended.unwrap_or(0), engine.meters.underrun_frames()))
}

/// Discards what the mixer puts out, but only as much as the decoder has
/// delivered (less the tap's room), so the mixer trails the decoder instead
/// of outrunning it. Once the decoder is done, everything goes. The thread
/// returns the CPU time it used.
fn spawn_drain(
    mut tap: rtrb::Consumer<f32>,
    watch: SourceWatch,
    stop: Arc<AtomicBool>,
) -> io::Result<JoinHandle<Duration>> {
    std::thread::Builder::new()
        .name("onair-bench-tap".into())
        .spawn(move || {
            let mut drained = 0u64;
            let lag = (TAP_FRAMES + BLOCK_FRAMES) as u64;
            loop {
                let allowed = if watch.finished() {
                    u64::MAX
                } else {
                    watch
                        .frames_decoded()
                        .saturating_sub(lag)
                        .saturating_sub(drained)
                };
                let frames = ((tap.slots() / CHANNELS) as u64).min(allowed) as usize;
                if frames > 0 {
                    if let Ok(chunk) = tap.read_chunk(frames * CHANNELS) {
                        chunk.commit_all();
                        drained += frames as u64;
                    }
                    continue;
                }
                if stop.load(Ordering::Acquire) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            cpu_time(Who::Thread).map_or(Duration::ZERO, |t| t.total())
        })
}

/// ffmpeg decoding `path` on one thread to nowhere; returns its CPU time.
pub fn ffmpeg_decode(ffmpeg: &Path, path: &Path) -> Result<Duration, BenchError> {
    let before = cpu_time(Who::Children)?;
    let output = spawn_ffmpeg(
        ffmpeg,
        Process::new(ffmpeg)
            .args(["-nostdin", "-v", "error", "-threads", "1", "-i"])
            .arg(path)
            .args(["-f", "null", "-"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped()),
    )?
    .wait_with_output()
    .map_err(|e| BenchError::Ffmpeg {
        doing: format!("decoding {}", path.display()),
        message: e.to_string(),
    })?;
    let after = cpu_time(Who::Children)?;
    if !output.status.success() {
        return Err(BenchError::Ffmpeg {
            doing: format!("decoding {}", path.display()),
            message: format!(
                "{}: {}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            ),
        });
    }
    Ok(after.since(before))
}
