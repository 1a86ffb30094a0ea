//! The encoder's end of the archive: a [`ChunkSubscriber`] that puts what
//! the encoder hands out into a bounded queue for the writer's thread and
//! returns. When the writer has fallen behind (a slow or stalled disk) and
//! the queue is full, the newest MP3 is dropped and counted, and the
//! writer is told how much, so its segment ends `partial` and what follows
//! keeps its time. It never waits, so the encoder, the streams it feeds and
//! playout carry on whatever the disk does.
//!
//! Each chunk goes with the levels of the programme it was encoded from
//! (`levels`), which the writer draws the segments' peaks from.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Instant;

use super::frames;
use super::levels::{LevelMeter, Levels};
use crate::output::OutputStats;
use crate::output::chunk_queue::Mp3Chunk;
use crate::output::subscriber::ChunkSubscriber;

/// Chunks the queue holds: the encoder hands one out every 40-250 ms, so
/// this is several seconds of programme, which a disk that stalls for a
/// moment (a USB stick flushing) rides out.
pub const QUEUED_CHUNKS: usize = 64;
/// Room beside the chunks for what must never be dropped (losses, jumps).
const RESERVED: usize = 16;

/// What the writer's thread takes from the queue.
#[derive(Debug)]
// The levels travel inline: boxing them would allocate on the encoder's
// thread for every chunk. The queue's room is made once, at the start.
#[allow(clippy::large_enum_variant)]
pub enum Item {
    /// MP3, and the levels of the programme taken since the last chunk.
    Chunk(Mp3Chunk, Levels),
    /// Stream samples whose MP3 was dropped here.
    Lost { samples: u64 },
    /// The programme jumps by `frames` after `encoded` frames of input.
    Jump { encoded: u64, frames: u64 },
}

/// The queue between the feed and the writer.
pub struct Inbox {
    queue: Mutex<Queue>,
    ready: Condvar,
}

struct Queue {
    items: VecDeque<Item>,
    chunks: usize,
    closed: bool,
}

impl Default for Inbox {
    fn default() -> Self {
        Inbox {
            queue: Mutex::new(Queue {
                items: VecDeque::with_capacity(QUEUED_CHUNKS + RESERVED),
                chunks: 0,
                closed: false,
            }),
            ready: Condvar::new(),
        }
    }
}

impl Inbox {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The oldest item, waiting for one until `deadline`; `None` at the
    /// deadline or once the queue is closed and empty.
    pub fn pop_until(&self, deadline: Instant) -> Option<Item> {
        let mut queue = self.lock();
        while queue.items.is_empty() && !queue.closed {
            let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                break;
            };
            queue = self
                .ready
                .wait_timeout(queue, left)
                .map(|(guard, _)| guard)
                .unwrap_or_else(|e| e.into_inner().0);
        }
        let item = queue.items.pop_front()?;
        if matches!(item, Item::Chunk(..)) {
            queue.chunks -= 1;
        }
        Some(item)
    }

    /// Closed and everything in it taken.
    pub fn is_finished(&self) -> bool {
        let queue = self.lock();
        queue.closed && queue.items.is_empty()
    }

    pub fn close(&self) {
        self.lock().closed = true;
        self.ready.notify_all();
    }
}

/// The encoder's end: see the module's documentation.
pub struct ArchiveFeed {
    inbox: Arc<Inbox>,
    stats: Arc<OutputStats>,
    /// Stream samples dropped and not yet told to the writer.
    lost: u64,
    levels: LevelMeter,
}

impl ArchiveFeed {
    pub fn new(inbox: Arc<Inbox>, stats: Arc<OutputStats>) -> Self {
        ArchiveFeed {
            inbox,
            stats,
            lost: 0,
            levels: LevelMeter::default(),
        }
    }
}

impl ChunkSubscriber for ArchiveFeed {
    fn chunks_held(&self) -> usize {
        // A full queue, and the one the writer is cutting.
        QUEUED_CHUNKS + 1
    }

    fn dropped_before_encoder(&mut self, frames: u64) {
        self.stats
            .frames_dropped
            .fetch_add(frames, Ordering::Relaxed);
    }

    fn programme(&mut self, samples: &[f32]) {
        self.levels.programme(samples);
    }

    fn skipped(&mut self, encoded: u64, frames: u64) {
        self.levels.skipped(frames);
        let mut queue = self.inbox.lock();
        if queue.items.len() < QUEUED_CHUNKS + RESERVED {
            queue.items.push_back(Item::Jump { encoded, frames });
        }
    }

    fn chunk(&mut self, chunk: &Mp3Chunk) {
        let levels = self.levels.hand_out();
        let mut queue = self.inbox.lock();
        if queue.chunks >= QUEUED_CHUNKS || queue.items.len() + 2 > QUEUED_CHUNKS + RESERVED {
            drop(queue);
            // Counted in the stream's samples (for the writer) and the
            // engine's frames (for the status page).
            let samples: u64 = frames::frames(chunk.bytes())
                .map(|(_, h)| u64::from(h.samples))
                .sum();
            self.lost += samples;
            self.stats
                .frames_dropped
                .fetch_add(chunk.frames, Ordering::Relaxed);
            return;
        }
        if self.lost > 0 {
            queue.items.push_back(Item::Lost {
                samples: std::mem::take(&mut self.lost),
            });
        }
        queue.items.push_back(Item::Chunk(chunk.clone(), levels));
        queue.chunks += 1;
        drop(queue);
        self.inbox.ready.notify_one();
    }

    fn close(&mut self) {
        self.inbox.close();
    }
}

impl Drop for ArchiveFeed {
    /// The writer must not wait for chunks that will never come.
    fn drop(&mut self) {
        self.inbox.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A chunk of `frames` MP3 frames at 128 kbit/s, 48 kHz.
    fn chunk(frames: usize) -> Mp3Chunk {
        let mut bytes = Vec::new();
        for _ in 0..frames {
            bytes.extend_from_slice(&[0xFF, 0xFB, 0x94, 0x64]);
            bytes.resize(bytes.len() + 380, 0);
        }
        Mp3Chunk::new(&bytes, frames as u64 * 1152)
    }

    #[test]
    fn a_writer_that_falls_behind_loses_the_newest_mp3_counted_never_waited_for() {
        let inbox = Arc::new(Inbox::default());
        let stats = Arc::new(OutputStats::default());
        let mut feed = ArchiveFeed::new(inbox.clone(), stats.clone());
        // Bad input: a writer stalled on its disk takes nothing while the
        // encoder hands out ten chunks more than the queue holds.
        for _ in 0..QUEUED_CHUNKS + 10 {
            feed.chunk(&chunk(2));
        }
        assert_eq!(stats.frames_dropped.load(Ordering::Relaxed), 10 * 2 * 1152);
        // The writer catches up: the queued chunks, then what was lost
        // (in the stream's samples) before the next chunk.
        let deadline = Instant::now();
        for _ in 0..QUEUED_CHUNKS {
            assert!(matches!(inbox.pop_until(deadline), Some(Item::Chunk(..))));
        }
        assert!(inbox.pop_until(deadline).is_none());
        feed.chunk(&chunk(1));
        assert!(matches!(
            inbox.pop_until(deadline),
            Some(Item::Lost { samples }) if samples == 10 * 2 * 1152
        ));
        assert!(matches!(inbox.pop_until(deadline), Some(Item::Chunk(..))));
        // A jump in the programme is queued even beside a full queue.
        for _ in 0..QUEUED_CHUNKS {
            feed.chunk(&chunk(1));
        }
        feed.skipped(96_000, 480);
        drop(feed);
        let mut last = None;
        while let Some(item) = inbox.pop_until(deadline) {
            last = Some(item);
        }
        assert!(matches!(
            last,
            Some(Item::Jump {
                encoded: 96_000,
                frames: 480
            })
        ));
        assert!(inbox.is_finished());
    }
}
