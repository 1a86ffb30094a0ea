//! A stream group's encoder: the output its runner drains the group's ring
//! into. It encodes the programme once and hands every sender of the group
//! the same MP3, one chunk per `write` (the runner writes 40-100 ms of
//! programme at a time), so each sender wakes once per hand-out. Its
//! takers are [`ChunkSubscriber`]s: Icecast senders and the archive. It
//! never waits on one, and once the stream runs it allocates nothing: the
//! chunks' bytes come from a pool of buffers that subscribers hand back by
//! dropping them.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::chunk_queue::ChunkPool;
use super::encoder::{EncoderError, Mp3Encoder};
use super::subscriber::ChunkSubscriber;
use super::{CHANNELS, Output, OutputError, OutputStats};

/// Room made up front for the MP3 of one `write` of this many frames:
/// twice the most a runner writes at once, so LAME's output buffer never
/// has to grow while the box plays.
const LARGEST_WRITE_FRAMES: usize = 32_768;

pub(super) struct StreamEncoder {
    /// `MP3 128 kbit/s CBR 48000 Hz`: what the status and the logs call it.
    encoder_name: String,
    /// The outputs it feeds, for its errors.
    streams: String,
    encoder: Mp3Encoder,
    /// What LAME made of the current `write`; kept, so it never reallocates.
    mp3: Vec<u8>,
    pool: ChunkPool,
    /// Programme encoded since the last chunk (LAME holds some back).
    pending_frames: u64,
    senders: Vec<Box<dyn ChunkSubscriber>>,
    /// Programme taken since the start (at the engine's rate), skips apart.
    encoded_frames: u64,
    /// The ring's counters, which the mixer and the runner keep; each
    /// member's own counters show them too.
    group_stats: Arc<OutputStats>,
    drops_seen: u64,
}

impl StreamEncoder {
    pub(super) fn new(
        encoder_name: String,
        streams: String,
        encoder: Mp3Encoder,
        senders: Vec<Box<dyn ChunkSubscriber>>,
        group_stats: Arc<OutputStats>,
    ) -> Self {
        StreamEncoder {
            encoder_name,
            streams,
            encoder,
            mp3: Vec::with_capacity(mp3lame_encoder::max_required_buffer_size(
                LARGEST_WRITE_FRAMES,
            )),
            // Every chunk each subscriber may hold, and the one being made.
            pool: ChunkPool::with_buffers(
                senders.iter().map(|s| s.chunks_held()).sum::<usize>() + 1,
            ),
            pending_frames: 0,
            encoded_frames: 0,
            senders,
            group_stats,
            drops_seen: 0,
        }
    }

    fn hand_out(&mut self) {
        // Drops by the mixer (the group's ring was full) count for every member.
        let dropped = self.group_stats.frames_dropped.load(Ordering::Relaxed);
        if dropped > self.drops_seen {
            for end in &mut self.senders {
                end.dropped_before_encoder(dropped - self.drops_seen);
            }
            self.drops_seen = dropped;
        }
        if self.mp3.is_empty() {
            return;
        }
        let chunk = self
            .pool
            .chunk(&self.mp3, std::mem::take(&mut self.pending_frames));
        self.mp3.clear();
        for end in &mut self.senders {
            end.chunk(&chunk);
        }
    }

    fn failed(&self, source: EncoderError) -> OutputError {
        OutputError::Encoder {
            streams: self.streams.clone(),
            encoder: self.encoder_name.clone(),
            source,
        }
    }
}

impl Output for StreamEncoder {
    fn name(&self) -> String {
        format!("encoder {}", self.encoder_name)
    }

    fn write(&mut self, samples: &[f32]) -> Result<(), OutputError> {
        let frames = (samples.len() / CHANNELS) as u64;
        for end in &mut self.senders {
            end.programme(samples);
        }
        if let Err(e) = self.encoder.encode(samples, &mut self.mp3) {
            for end in &mut self.senders {
                end.encoder_failed();
            }
            return Err(self.failed(e));
        }
        self.pending_frames += frames;
        self.encoded_frames += frames;
        for end in &mut self.senders {
            end.encoded(frames);
        }
        self.hand_out();
        Ok(())
    }

    fn skip(&mut self, frames: u64) -> Result<(), OutputError> {
        // A live stream carries on; a subscriber that keeps time (the
        // archive) learns where the programme jumps.
        for end in &mut self.senders {
            end.skipped(self.encoded_frames, frames);
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<(), OutputError> {
        let flushed = self.encoder.flush(&mut self.mp3);
        self.hand_out();
        for end in &mut self.senders {
            end.close();
        }
        flushed.map_err(|e| self.failed(e))
    }
}

impl Drop for StreamEncoder {
    /// Senders must not wait for chunks that will never come, even when
    /// the encoder's thread ends abnormally.
    fn drop(&mut self) {
        for end in &mut self.senders {
            end.close();
        }
    }
}
