//! Encode once, send many. Icecast outputs whose MP3 would be the same
//! (bitrate, CBR/VBR, stream rate) share one stream group: one ring from the
//! mixer, one runner thread that only encodes (it never touches the
//! network), and one sender thread per mount behind a queue of its own.
//!
//! The encoder hands each sender whole encoder outputs ([`Mp3Chunk`]), never
//! a cut inside an MP3 frame, so a sender may join, drop or resume anywhere
//! between chunks and its listeners still get a stream they can decode. A
//! sender's queue holds a few seconds of programme; when it is full the
//! oldest chunks are dropped and counted ([`StreamLink::frames_dropped_oldest`]),
//! as a listener would rather hear what is on air now than what was on air
//! when the server stalled.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use super::encoder::{Mp3Encoder, Mp3Settings};
use super::icecast::{self, IcecastSender, StreamLink};
use super::{CHANNELS, Output, OutputContext, OutputError, OutputStats, Tap};
use crate::config::{BitrateMode, IcecastConfig};

/// Seconds of programme a sender's queue holds: enough to ride out a
/// libshout call or a name lookup that hangs for a moment, short enough that
/// a sender catching up does not put listeners seconds behind the studio.
pub const QUEUE_SECONDS: u64 = 4;

/// One encoder output: whole MP3 frames, shared by every sender of a group.
#[derive(Debug, Clone)]
pub struct Mp3Chunk {
    pub bytes: Arc<[u8]>,
    /// Frames of programme (at the engine's rate) that went into the
    /// encoder for these bytes: what is lost if the chunk is dropped.
    pub frames: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error(
        "a stream queue of 0 frames cannot hold any audio; give it at least one \
         encoder output's worth (a few seconds of programme)"
    )]
    Empty,
}

/// What a push cost the queue's oldest audio.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Dropped {
    pub chunks: u64,
    pub frames: u64,
}

/// A bounded queue of MP3 chunks (bounded by the programme they carry) that
/// drops the oldest when full. One encoder pushes, one sender pops; neither
/// is a real-time thread, so a lock is fine here.
pub struct ChunkQueue {
    capacity: u64,
    inner: Mutex<Queued>,
    ready: Condvar,
}

#[derive(Default)]
struct Queued {
    chunks: VecDeque<Mp3Chunk>,
    frames: u64,
    closed: bool,
}

impl ChunkQueue {
    /// A queue holding up to `capacity` frames of programme.
    pub fn new(capacity: u64) -> Result<Self, QueueError> {
        if capacity == 0 {
            return Err(QueueError::Empty);
        }
        Ok(ChunkQueue {
            capacity,
            inner: Mutex::new(Queued::default()),
            ready: Condvar::new(),
        })
    }

    pub fn capacity(&self) -> u64 {
        self.capacity
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Queued> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds a chunk, first dropping the oldest chunks until it fits. A chunk
    /// longer than the whole queue is still taken (alone): the newest audio
    /// is the one listeners should hear.
    pub fn push(&self, chunk: Mp3Chunk) -> Dropped {
        let mut dropped = Dropped::default();
        let mut queued = self.lock();
        while queued.frames + chunk.frames > self.capacity {
            let Some(oldest) = queued.chunks.pop_front() else {
                break;
            };
            queued.frames -= oldest.frames;
            dropped.chunks += 1;
            dropped.frames += oldest.frames;
        }
        queued.frames += chunk.frames;
        queued.chunks.push_back(chunk);
        drop(queued);
        self.ready.notify_one();
        dropped
    }

    /// The oldest chunk, waiting up to `wait` for one.
    pub fn pop(&self, wait: Duration) -> Option<Mp3Chunk> {
        let mut queued = self.lock();
        if queued.chunks.is_empty() && !queued.closed {
            queued = self
                .ready
                .wait_timeout(queued, wait)
                .map(|(guard, _)| guard)
                .unwrap_or_else(|e| e.into_inner().0);
        }
        let chunk = queued.chunks.pop_front()?;
        queued.frames -= chunk.frames;
        Some(chunk)
    }

    /// The encoder has finished: nothing more will come.
    pub fn close(&self) {
        self.lock().closed = true;
        self.ready.notify_all();
    }

    /// Closed and everything in it taken.
    pub fn is_finished(&self) -> bool {
        let queued = self.lock();
        queued.closed && queued.chunks.is_empty()
    }

    /// Frames of programme waiting.
    pub fn frames(&self) -> u64 {
        self.lock().frames
    }
}

/// One configured Icecast output, as handed to [`start`].
pub struct StreamMember {
    pub name: String,
    pub config: IcecastConfig,
    /// Its counters; `stats.stream` is its link (made here when `None`).
    pub stats: Arc<OutputStats>,
}

/// The MP3 a stream output carries.
pub fn settings_of(config: &IcecastConfig, engine_rate: u32) -> Mp3Settings {
    Mp3Settings {
        input_rate: engine_rate,
        stream_rate: icecast::stream_rate(config, engine_rate),
        bitrate: config.bitrate,
        mode: config.mode,
    }
}

/// How the stream outputs share encoders: one entry per distinct MP3, with
/// the indices (into `configs`) of the outputs that carry it, in order.
pub fn plan(configs: &[&IcecastConfig], engine_rate: u32) -> Vec<(Mp3Settings, Vec<usize>)> {
    let mut groups: Vec<(Mp3Settings, Vec<usize>)> = Vec::new();
    for (index, config) in configs.iter().enumerate() {
        let settings = settings_of(config, engine_rate);
        match groups.iter_mut().find(|(s, _)| *s == settings) {
            Some((_, members)) => members.push(index),
            None => groups.push((settings, vec![index])),
        }
    }
    groups
}

/// The name an encoder goes by in the status and the logs.
pub fn encoder_name(settings: &Mp3Settings) -> String {
    let mode = match settings.mode {
        BitrateMode::Cbr => "CBR",
        BitrateMode::Vbr => "VBR",
    };
    format!(
        "MP3 {} kbit/s {mode} {} Hz",
        settings.bitrate, settings.stream_rate
    )
}

/// A thread of a running group with the flag that stops it.
pub(super) struct Stage {
    pub(super) name: String,
    pub(super) stats: Arc<OutputStats>,
    pub(super) stop: Arc<AtomicBool>,
    pub(super) thread: JoinHandle<Result<(), OutputError>>,
}

/// A running stream group: the mixer's end of its ring, its encoder and its
/// senders (in the order of the members given).
pub struct StreamGroup {
    pub tap: Tap,
    /// Indices into the members handed to [`start`].
    pub members: Vec<usize>,
    pub(super) encoder: Stage,
    pub(super) senders: Vec<Stage>,
}

impl StreamGroup {
    /// Stops the encoder once it has encoded what is left in its ring (the
    /// mixer should have stopped writing), then the senders once they have
    /// sent what it handed them. The first failure is returned.
    pub fn shutdown(self) -> Result<(), OutputError> {
        let mut first = join(self.encoder).err();
        for sender in &self.senders {
            sender.stop.store(true, Ordering::Release);
        }
        for sender in self.senders {
            if let Err(e) = join(sender) {
                first.get_or_insert(e);
            }
        }
        first.map_or(Ok(()), Err)
    }
}

pub(super) fn join(stage: Stage) -> Result<(), OutputError> {
    stage.stop.store(true, Ordering::Release);
    stage.thread.join().unwrap_or_else(|_| {
        Err(OutputError::Open {
            name: stage.name,
            message: "its thread panicked (please report this as a bug)".to_string(),
        })
    })
}

/// Starts one stream group per distinct MP3 among `members`: each encoder
/// is built here, so bad settings are refused at start. Threads already
/// started are stopped again when a later one fails.
pub fn start(
    members: Vec<StreamMember>,
    ctx: &OutputContext,
) -> Result<Vec<StreamGroup>, OutputError> {
    let configs: Vec<&IcecastConfig> = members.iter().map(|m| &m.config).collect();
    let plan = plan(&configs, ctx.rate);
    let mut members: Vec<Option<StreamMember>> = members.into_iter().map(Some).collect();
    let mut groups: Vec<StreamGroup> = Vec::with_capacity(plan.len());
    for (settings, indices) in plan {
        let taken = indices
            .iter()
            .filter_map(|&i| members.get_mut(i).and_then(Option::take))
            .collect();
        match start_group(settings, taken, ctx) {
            Ok((tap, encoder, senders)) => groups.push(StreamGroup {
                tap,
                members: indices,
                encoder,
                senders,
            }),
            Err(e) => {
                for group in groups {
                    let _ = group.shutdown();
                }
                return Err(e);
            }
        }
    }
    Ok(groups)
}

fn start_group(
    settings: Mp3Settings,
    members: Vec<StreamMember>,
    ctx: &OutputContext,
) -> Result<(Tap, Stage, Vec<Stage>), OutputError> {
    let name = format!("encoder {}", encoder_name(&settings));
    let encoder = Mp3Encoder::new(settings).map_err(|e| OutputError::Open {
        name: members
            .iter()
            .map(|m| m.name.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        message: e.to_string(),
    })?;
    let capacity = u64::from(ctx.rate) * QUEUE_SECONDS;
    let mut senders: Vec<Stage> = Vec::with_capacity(members.len());
    let mut ends = Vec::with_capacity(members.len());
    let stop_started = |senders: Vec<Stage>| {
        for sender in senders {
            let _ = join(sender);
        }
    };
    for member in &members {
        let link = member.stats.stream.clone().unwrap_or_default();
        link.set_encoder(&encoder_name(&settings), members.len());
        let queue = match ChunkQueue::new(capacity) {
            Ok(queue) => Arc::new(queue),
            Err(e) => {
                stop_started(senders);
                return Err(OutputError::Open {
                    name: member.name.clone(),
                    message: e.to_string(),
                });
            }
        };
        let stop = Arc::new(AtomicBool::new(false));
        let sender = IcecastSender::new(&member.name, &member.config, settings, link.clone());
        let thread = {
            let (queue, stop) = (queue.clone(), stop.clone());
            std::thread::Builder::new()
                .name(format!("output {}", member.name))
                .spawn(move || {
                    sender.run(&queue, &stop);
                    Ok(())
                })
        };
        let thread = match thread {
            Ok(thread) => thread,
            Err(e) => {
                stop_started(senders);
                return Err(OutputError::Open {
                    name: member.name.clone(),
                    message: format!(
                        "cannot start its thread: {e}; the system is out of resources"
                    ),
                });
            }
        };
        senders.push(Stage {
            name: member.name.clone(),
            stats: member.stats.clone(),
            stop,
            thread,
        });
        ends.push(SenderEnd {
            queue,
            link,
            stats: member.stats.clone(),
        });
    }
    let group_stats = Arc::new(OutputStats::default());
    let stop = Arc::new(AtomicBool::new(false));
    let output = Box::new(StreamEncoder {
        name: name.clone(),
        encoder,
        mp3: Vec::new(),
        pending_frames: 0,
        senders: ends,
        group_stats: group_stats.clone(),
        drops_seen: 0,
    });
    let frames = (ctx.rate as f64 * super::file_ring_seconds(ctx.clock.speed())) as usize;
    let (ring, consumer) = rtrb::RingBuffer::new(frames.max(1) * CHANNELS);
    let thread = match super::start_runner(
        output,
        consumer,
        group_stats.clone(),
        stop.clone(),
        super::RETRY_AFTER,
    ) {
        Ok(thread) => thread,
        Err(e) => {
            stop_started(senders);
            return Err(e);
        }
    };
    tracing::info!(
        "{name}: one encoder for {} stream(s): {}",
        members.len(),
        members
            .iter()
            .map(|m| m.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let tap = Tap {
        name: name.clone(),
        ring,
        stats: group_stats.clone(),
    };
    let encoder = Stage {
        name,
        stats: group_stats,
        stop,
        thread,
    };
    Ok((tap, encoder, senders))
}

/// The encoder's end of one sender.
struct SenderEnd {
    queue: Arc<ChunkQueue>,
    link: Arc<StreamLink>,
    stats: Arc<OutputStats>,
}

/// The group's runner: encodes the programme once and hands each sender
/// the same chunks. It never waits on a sender.
struct StreamEncoder {
    name: String,
    encoder: Mp3Encoder,
    mp3: Vec<u8>,
    /// Programme encoded since the last chunk (LAME holds some back).
    pending_frames: u64,
    senders: Vec<SenderEnd>,
    /// The ring's counters, which the mixer and the runner keep; each
    /// member's own counters show them too.
    group_stats: Arc<OutputStats>,
    drops_seen: u64,
}

impl StreamEncoder {
    fn hand_out(&mut self) {
        // Drops by the mixer (the group's ring was full) count for every member.
        let dropped = self.group_stats.frames_dropped.load(Ordering::Relaxed);
        if dropped > self.drops_seen {
            for end in &self.senders {
                end.stats
                    .frames_dropped
                    .fetch_add(dropped - self.drops_seen, Ordering::Relaxed);
            }
            self.drops_seen = dropped;
        }
        if self.mp3.is_empty() {
            return;
        }
        let chunk = Mp3Chunk {
            bytes: Arc::from(self.mp3.as_slice()),
            frames: std::mem::take(&mut self.pending_frames),
        };
        self.mp3.clear();
        for end in &self.senders {
            let dropped = end.queue.push(chunk.clone());
            if dropped.frames > 0 {
                end.link
                    .frames_dropped_oldest
                    .fetch_add(dropped.frames, Ordering::Relaxed);
            }
        }
    }
}

impl Output for StreamEncoder {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn write(&mut self, samples: &[f32]) -> Result<(), OutputError> {
        let frames = (samples.len() / CHANNELS) as u64;
        if let Err(e) = self.encoder.encode(samples, &mut self.mp3) {
            // Shown on every stream it feeds: the group's own counters are not.
            for end in &self.senders {
                end.stats.errors.fetch_add(1, Ordering::Relaxed);
            }
            return Err(OutputError::Open {
                name: self.name.clone(),
                message: e.to_string(),
            });
        }
        self.pending_frames += frames;
        for end in &self.senders {
            end.stats.frames_out.fetch_add(frames, Ordering::Relaxed);
        }
        self.hand_out();
        Ok(())
    }

    fn finish(&mut self) -> Result<(), OutputError> {
        let flushed = self
            .encoder
            .flush(&mut self.mp3)
            .map_err(|e| OutputError::Open {
                name: self.name.clone(),
                message: e.to_string(),
            });
        self.hand_out();
        for end in &self.senders {
            end.queue.close();
        }
        flushed
    }
}

impl Drop for StreamEncoder {
    /// Senders must not wait for chunks that will never come, even when
    /// the encoder's thread ends abnormally.
    fn drop(&mut self) {
        for end in &self.senders {
            end.queue.close();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(frames: u64, tag: u8) -> Mp3Chunk {
        Mp3Chunk {
            bytes: Arc::from(vec![tag; 4].as_slice()),
            frames,
        }
    }

    fn drain(queue: &ChunkQueue) -> Vec<u8> {
        std::iter::from_fn(|| queue.pop(Duration::ZERO))
            .map(|c| c.bytes[0])
            .collect()
    }

    #[test]
    fn a_full_queue_drops_the_oldest_chunks_and_counts_them() {
        let queue = ChunkQueue::new(4800).unwrap();
        for tag in 0..4 {
            assert_eq!(queue.push(chunk(1152, tag)), Dropped::default());
        }
        assert_eq!(queue.frames(), 4608);
        // The fifth does not fit: the oldest goes, the newest stays.
        let dropped = queue.push(chunk(1152, 4));
        assert_eq!(
            dropped,
            Dropped {
                chunks: 1,
                frames: 1152
            }
        );
        assert_eq!(queue.frames(), 4608);
        assert_eq!(drain(&queue), [1, 2, 3, 4]);
        assert_eq!(queue.frames(), 0);
    }

    #[test]
    fn a_queue_of_size_zero_is_refused_with_the_fix() {
        // Bad input: a queue that could never hold anything.
        let message = match ChunkQueue::new(0) {
            Ok(_) => panic!("a queue of 0 frames was made"),
            Err(e) => e.to_string(),
        };
        assert!(message.contains("0 frames"), "{message}");
        assert!(message.contains("give it at least"), "{message}");
    }

    #[test]
    fn a_chunk_larger_than_the_queue_replaces_everything_before_it() {
        // Bad input: one chunk carrying more programme than the queue holds.
        let queue = ChunkQueue::new(2000).unwrap();
        queue.push(chunk(1000, 1));
        queue.push(chunk(900, 2));
        let dropped = queue.push(chunk(5000, 3));
        assert_eq!(
            dropped,
            Dropped {
                chunks: 2,
                frames: 1900
            }
        );
        assert_eq!(queue.frames(), 5000);
        // The next chunk pushes the oversized one out in turn.
        let dropped = queue.push(chunk(100, 4));
        assert_eq!(dropped.frames, 5000);
        assert_eq!(drain(&queue), [4]);
    }

    #[test]
    fn a_waiting_sender_wakes_for_a_chunk_and_for_the_end() {
        let queue = Arc::new(ChunkQueue::new(48_000).unwrap());
        let waiter = {
            let queue = queue.clone();
            std::thread::spawn(move || {
                let first = queue.pop(Duration::from_secs(5)).map(|c| c.bytes[0]);
                let started = std::time::Instant::now();
                let second = queue.pop(Duration::from_secs(5));
                (first, second.is_none(), started.elapsed())
            })
        };
        std::thread::sleep(Duration::from_millis(50));
        queue.push(chunk(1152, 7));
        std::thread::sleep(Duration::from_millis(50));
        queue.close();
        let (first, ended, waited) = waiter.join().unwrap();
        assert_eq!(first, Some(7));
        assert!(ended);
        assert!(waited < Duration::from_secs(2), "{waited:?}");
        assert!(queue.is_finished());
    }

    fn icecast(port: u16, mount: &str, bitrate: u32) -> IcecastConfig {
        IcecastConfig::local(port, mount, bitrate)
    }

    #[test]
    fn streams_with_the_same_mp3_share_an_encoder() {
        let a = icecast(8000, "/a.mp3", 128);
        let b = icecast(8001, "/b.mp3", 128);
        let low = icecast(8000, "/low.mp3", 64);
        let mut resampled = icecast(8000, "/c.mp3", 128);
        resampled.sample_rate = Some(44_100);
        // At 48 kHz the 44.1 kHz stream is another MP3; at 44.1 kHz it is the same.
        let groups = plan(&[&a, &low, &b, &resampled], 48_000);
        let members: Vec<&Vec<usize>> = groups.iter().map(|(_, m)| m).collect();
        assert_eq!(members, [&vec![0, 2], &vec![1], &vec![3]]);
        let groups = plan(&[&a, &low, &b, &resampled], 44_100);
        let members: Vec<&Vec<usize>> = groups.iter().map(|(_, m)| m).collect();
        assert_eq!(members, [&vec![0, 2, 3], &vec![1]]);
        assert_eq!(encoder_name(&groups[1].0), "MP3 64 kbit/s CBR 44100 Hz");
    }
}
