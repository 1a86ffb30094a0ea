//! The MP3 a stream group's encoder hands its senders: whole encoder
//! outputs ([`Mp3Chunk`]) whose bytes come from a pool the encoder reuses
//! ([`ChunkPool`]), through one bounded queue per sender that drops the
//! oldest when full ([`ChunkQueue`]).
//!
//! A chunk is never a cut inside an MP3 frame, so a sender may join, drop
//! or resume anywhere between chunks and its listeners still get a stream
//! they can decode.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// The least a chunk buffer holds: one hand-out of the encoder (a runner's
/// batch, a quarter of a second) at 320 kbit/s is 10 KB, plus the MP3
/// frames LAME still held from the batch before; so a reused buffer never
/// has to grow at any bitrate.
const MIN_CHUNK_BYTES: usize = 16 * 1024;

/// Chunks a queue (and a pool) makes room for up front: a queue's 4 s of
/// programme in the encoder's quarter-second hand-outs is 16, twice that
/// when a batch reaches the encoder in two writes (where the runner's ring
/// wraps), and as much again in hand, so that a sender falling behind does
/// not make the encoder's thread allocate.
pub const CHUNKS_QUEUED: usize = 64;

/// One encoder output: whole MP3 frames, shared by every sender of a group.
/// Cloning it shares the bytes; they go back to the encoder's pool when the
/// last clone is dropped.
#[derive(Debug, Clone)]
pub struct Mp3Chunk {
    bytes: Arc<Vec<u8>>,
    /// Frames of programme (at the engine's rate) that went into the
    /// encoder for these bytes: what is lost if the chunk is dropped.
    pub frames: u64,
}

impl Mp3Chunk {
    /// A chunk of its own, outside any pool (it allocates).
    pub fn new(bytes: &[u8], frames: u64) -> Self {
        Mp3Chunk {
            bytes: Arc::new(bytes.to_vec()),
            frames,
        }
    }

    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }
}

/// The byte buffers of an encoder's chunks, reused once no sender holds
/// them any more, so that handing out MP3 allocates nothing once the
/// stream runs. The pool keeps a handle on every buffer it made: one no
/// sender holds is one only the pool holds. It grows only while every
/// buffer is still queued or being sent (a sender that fell behind keeps
/// up to its queue's worth).
#[derive(Debug)]
pub struct ChunkPool {
    buffers: Vec<Arc<Vec<u8>>>,
    /// Where to look first: chunks are sent in the order they were made,
    /// so the buffer after the last one handed out is the likeliest free.
    next: usize,
}

impl ChunkPool {
    /// A pool with `count` buffers made up front.
    pub fn with_buffers(count: usize) -> Self {
        ChunkPool {
            buffers: (0..count)
                .map(|_| Arc::new(Vec::with_capacity(MIN_CHUNK_BYTES)))
                .collect(),
            next: 0,
        }
    }

    /// A chunk carrying a copy of `mp3`, in a buffer no sender holds.
    pub fn chunk(&mut self, mp3: &[u8], frames: u64) -> Mp3Chunk {
        let count = self.buffers.len();
        for step in 0..count {
            let index = (self.next + step) % count;
            if let Some(bytes) = Arc::get_mut(&mut self.buffers[index]) {
                bytes.clear();
                bytes.extend_from_slice(mp3);
                self.next = (index + 1) % count;
                return Mp3Chunk {
                    bytes: self.buffers[index].clone(),
                    frames,
                };
            }
        }
        let mut bytes = Vec::with_capacity(mp3.len().max(MIN_CHUNK_BYTES).next_power_of_two());
        bytes.extend_from_slice(mp3);
        let bytes = Arc::new(bytes);
        self.buffers.push(bytes.clone());
        // Every other buffer was in use: the oldest will be free first.
        self.next = 0;
        Mp3Chunk { bytes, frames }
    }

    /// How many buffers the pool has made.
    pub fn buffers(&self) -> usize {
        self.buffers.len()
    }
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
/// is a real-time thread, so a lock is fine here. A push wakes a waiting
/// sender: the encoder pushes once per hand-out.
pub struct ChunkQueue {
    capacity: u64,
    inner: Mutex<Queued>,
    ready: Condvar,
}

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
            inner: Mutex::new(Queued {
                chunks: VecDeque::with_capacity(CHUNKS_QUEUED),
                frames: 0,
                closed: false,
            }),
            ready: Condvar::new(),
        })
    }

    pub fn capacity(&self) -> u64 {
        self.capacity
    }

    fn lock(&self) -> MutexGuard<'_, Queued> {
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
        self.pop_until(Instant::now() + wait)
    }

    /// The oldest chunk, waiting for one until `deadline`; `None` at the
    /// deadline or once the queue is closed and empty.
    pub fn pop_until(&self, deadline: Instant) -> Option<Mp3Chunk> {
        let mut queued = self.lock();
        while queued.chunks.is_empty() && !queued.closed {
            let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                break;
            };
            queued = self
                .ready
                .wait_timeout(queued, left)
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

#[cfg(test)]
mod tests;
