//! Who a stream group's encoder hands its MP3 to: a [`ChunkSubscriber`].
//! The encoder encodes the programme once and gives every subscriber the
//! same whole chunks ([`Mp3Chunk`]: never a cut inside an MP3 frame), on
//! the encoder's thread, so a subscriber only queues what it gets and
//! returns: it must never wait, or every other subscriber would wait too.
//!
//! There are two kinds: an Icecast sender's end ([`SenderEnd`], a queue
//! to the thread that sends) and the archive's writer (`crate::archive`).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::OutputStats;
use super::chunk_queue::{CHUNKS_QUEUED, ChunkQueue, Mp3Chunk};
use super::encoder::Mp3Settings;
use super::stream_link::StreamLink;

/// One taker of a stream group's MP3. Every method is called on the
/// encoder's thread and must return at once.
pub trait ChunkSubscriber: Send {
    /// Chunks this subscriber may hold at once (queued or being used): the
    /// encoder's pool makes that many buffers up front, so that handing
    /// out MP3 allocates nothing.
    fn chunks_held(&self) -> usize;
    /// The MP3 it will get, told once before the first chunk.
    fn attach(&mut self, settings: &Mp3Settings) {
        let _ = settings;
    }
    /// The programme the encoder is about to take (interleaved, at the
    /// engine's rate), for a subscriber that measures it.
    fn programme(&mut self, samples: &[f32]) {
        let _ = samples;
    }
    /// `frames` of programme (at the engine's rate) went into the encoder.
    fn encoded(&mut self, frames: u64) {
        let _ = frames;
    }
    /// The mixer dropped `frames` of programme before the encoder (the
    /// group's ring was full); counted as the encoder's thread notices.
    fn dropped_before_encoder(&mut self, frames: u64) {
        let _ = frames;
    }
    /// `frames` of programme are missing from the encoder's input after
    /// the `encoded` frames it has taken so far (the runner's `skip`): what
    /// follows belongs that much later in station time.
    fn skipped(&mut self, encoded: u64, frames: u64) {
        let _ = (encoded, frames);
    }
    /// Whole MP3 frames, in order.
    fn chunk(&mut self, chunk: &Mp3Chunk);
    /// The encoder failed on a write.
    fn encoder_failed(&mut self) {}
    /// The encoder has finished (or its thread is going): nothing more
    /// will come. Called at least once; a second call does nothing.
    fn close(&mut self);
}

/// The encoder's end of one Icecast sender: a queue that drops its oldest
/// chunks when the sender falls behind.
pub(super) struct SenderEnd {
    pub(super) queue: Arc<ChunkQueue>,
    pub(super) link: Arc<StreamLink>,
    pub(super) stats: Arc<OutputStats>,
}

impl ChunkSubscriber for SenderEnd {
    fn chunks_held(&self) -> usize {
        // A full queue, and the one being sent.
        CHUNKS_QUEUED + 1
    }

    fn encoded(&mut self, frames: u64) {
        self.stats.frames_out.fetch_add(frames, Ordering::Relaxed);
    }

    fn dropped_before_encoder(&mut self, frames: u64) {
        self.stats
            .frames_dropped
            .fetch_add(frames, Ordering::Relaxed);
    }

    fn chunk(&mut self, chunk: &Mp3Chunk) {
        let dropped = self.queue.push(chunk.clone());
        if dropped.frames > 0 {
            self.link
                .frames_dropped_oldest
                .fetch_add(dropped.frames, Ordering::Relaxed);
        }
    }

    fn encoder_failed(&mut self) {
        // Shown on every stream it feeds: the group's own counters are not.
        self.stats.errors.fetch_add(1, Ordering::Relaxed);
    }

    fn close(&mut self) {
        self.queue.close();
    }
}

/// A subscriber that is not an Icecast output (the archive), as handed to
/// [`super::open_with`]: it takes the MP3 of the first stream group at its
/// bitrate, or gets an encoder of its own (CBR at the engine's rate).
pub struct Subscription {
    /// What the status and the logs call it (`archive /srv/archive`).
    pub name: String,
    /// kbit/s.
    pub bitrate: u32,
    pub subscriber: Box<dyn ChunkSubscriber>,
}
