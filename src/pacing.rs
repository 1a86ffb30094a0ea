//! When the box's threads wake, in one place. Every audio thread sleeps
//! until there is work for it: the mixer until the clock says the next
//! burst is due or the sound card has room for one, each output's thread
//! until its ring holds a batch, each decoder until its ring has room for a
//! good chunk. Whoever makes the work rings that thread's [`Bell`].
//!
//! The numbers below trade wake-ups (each one a context switch, which is
//! what a Raspberry Pi pays for) against latency and the director's margin.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::Thread;
use std::time::Duration;

/// The engine's block, in milliseconds of audio: its granularity of
/// metering and of taking commands. Starts and ends are exact to the frame
/// whatever the block.
pub const BLOCK_MS: u32 = 10;

/// The engine's block in frames at `rate`.
pub fn block_frames(rate: u32) -> usize {
    (rate as usize * BLOCK_MS as usize / 1000).max(64)
}

/// Audio the mixer makes per wake-up, in milliseconds: several blocks in
/// one go. The mixer renders up to `lead + burst` ahead of the clock and
/// sleeps until only `lead` is left, so it is never more than this much
/// further ahead than the lead. Every wake costs the Pi a context switch
/// and cold caches, whatever the work; ten a second is cheap. Lead plus
/// burst stays well under [`CUE_MARGIN`], so that every start is still
/// sample-exact. A sound card's ring (100 ms) wakes the mixer at half of
/// it at most.
pub const BURST_MS: u32 = 100;

/// How far past the engine's position the director places anything it
/// decides now (a start, an end, a skip): in real time, at least this much
/// station time. The engine is at most `lead + burst` ahead of the clock
/// (120 ms), a sound card's ring 100 ms: what is decided arrives before the
/// engine gets there. Scheduled cues are placed seconds ahead regardless.
pub const CUE_MARGIN: Duration = Duration::from_millis(250);

/// The burst in blocks (at least one).
pub fn burst_blocks(block_frames: usize, rate: u32) -> usize {
    (rate as usize * BURST_MS as usize / 1000 / block_frames.max(1)).max(1)
}

/// How far ahead of the station clock a clock-paced engine runs: the
/// outputs' buffering, so that what is heard is on time. In real time at
/// least; a fast simulated clock gets the same real time, longer in station
/// time.
pub const CLOCK_LEAD: Duration = Duration::from_millis(20);

/// A runner (file or stream output) writes once this share of its ring has
/// gathered: 250 ms of audio at real time, where the ring holds 2 s. A file
/// or a stream gains nothing from being written block by block, and one
/// write per batch is one wake-up per batch: of the runner, and for a
/// stream of each of its mounts' senders, which get the batch's MP3 as one
/// hand-out. An encoder that works a quarter of a second at a time keeps
/// its tables in cache through the batch. Listeners' players buffer
/// seconds; a quarter of a second later is nothing to them.
pub const RUNNER_BATCH_PARTS: usize = 8;

/// Once its ring is full, a decoder sleeps until this share of it has been
/// played (half). Decoding half a ring in one go costs measurably less CPU
/// than a packet at a time (the decoder's tables stay in cache), and half a
/// ring is still seconds of audio in hand.
pub const DECODER_REFILL_PARTS: usize = 2;

/// The longest a thread sleeps without being rung. Only a safety net: every
/// wait has someone whose job it is to ring. Short enough that a lost ring
/// (a bug) is a hiccup rather than a silent output.
pub const SAFETY_NAP: Duration = Duration::from_millis(500);

/// The safety net of a decoder asleep on a full ring, longer than
/// [`SAFETY_NAP`]: the director gives decoders three seconds of ring at
/// real time, and a decoder waits for half of it to play, so a lost ring
/// is still caught with half a second in hand. The standby filler's
/// decoder sleeps through a whole programme on this nap alone.
pub const DECODER_NAP: Duration = Duration::from_secs(1);

/// Naps of a device-paced mixer whose device does not ring (a stand-in
/// sound card, a test): half the time the device takes to play what is
/// missing, within these bounds, as it polled before bells existed.
pub const MIN_POLL_NAP: Duration = Duration::from_micros(500);
pub const MAX_POLL_NAP: Duration = Duration::from_millis(2);

/// Wakes one thread that sleeps until there is work for it.
///
/// The thread that waits calls [`Bell::answer`] once, from itself; anyone
/// may then [`Bell::ring`]. Ringing is an atomic swap, plus a futex call
/// only when the thread is asleep: no lock and no allocation, so the mixer
/// and the ALSA callback may ring. A ring that comes before the sleep is
/// not lost (std's park token): the next sleep returns at once.
#[derive(Debug, Default)]
pub struct Bell {
    thread: OnceLock<Thread>,
    /// Where the ringer rings, in samples (its meaning is the waiter's:
    /// "a batch is waiting", "this much room has opened").
    level: AtomicUsize,
}

impl Bell {
    /// The calling thread is the one this bell wakes, when whatever it
    /// waits for reaches `level` samples. The thread is set once; a second
    /// call only changes the level.
    pub fn answer(&self, level: usize) {
        let _ = self.thread.set(std::thread::current());
        self.level.store(level.max(1), Ordering::Release);
    }

    /// Someone waits on this bell.
    pub fn answered(&self) -> bool {
        self.thread.get().is_some()
    }

    /// The level the waiter asked for; 0 while nobody waits.
    pub fn level(&self) -> usize {
        self.level.load(Ordering::Acquire)
    }

    /// Wakes the waiting thread (if any).
    pub fn ring(&self) {
        if let Some(thread) = self.thread.get() {
            thread.unpark();
        }
    }

    /// Rings when a change of `by` samples took a count from below the
    /// level to at or above it: once per crossing, not per change. `now` is
    /// the count after the change. Only the ringer moves the count up, so
    /// the waiter, which sleeps only after seeing it below the level, is
    /// rung by exactly the change that crosses.
    pub fn ring_if_crossed(&self, now: usize, by: usize) {
        let level = self.level();
        if level > 0 && now >= level && now.saturating_sub(by) < level {
            self.ring();
        }
    }

    /// Sleeps until rung or `timeout` has passed (whichever first; it may
    /// also return early for no reason: callers check their condition).
    pub fn wait(timeout: Duration) {
        std::thread::park_timeout(timeout);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Instant;

    use super::*;

    #[test]
    fn a_ring_wakes_the_sleeper_long_before_its_timeout() {
        let bell = Arc::new(Bell::default());
        let (ready_tx, ready) = std::sync::mpsc::channel();
        let sleeper = {
            let bell = Arc::clone(&bell);
            std::thread::spawn(move || {
                bell.answer(10);
                ready_tx.send(()).unwrap();
                let start = Instant::now();
                Bell::wait(Duration::from_secs(20));
                start.elapsed()
            })
        };
        ready.recv().unwrap();
        std::thread::sleep(Duration::from_millis(20));
        // Below the level, then crossing it: one ring.
        bell.ring_if_crossed(5, 5);
        bell.ring_if_crossed(12, 7);
        let slept = sleeper.join().unwrap();
        assert!(slept < Duration::from_secs(5), "slept {slept:?}");
    }

    #[test]
    fn only_the_change_that_crosses_the_level_rings() {
        let bell = Bell::default();
        // Nobody waits yet: nothing to ring, and nothing fails.
        bell.ring_if_crossed(100, 100);
        bell.answer(10);
        assert!(bell.answered());
        assert_eq!(bell.level(), 10);
        // A ring before the wait is kept: the wait returns at once.
        bell.ring_if_crossed(10, 1);
        let start = Instant::now();
        Bell::wait(Duration::from_secs(20));
        assert!(start.elapsed() < Duration::from_secs(5));
        // Already above the level: no ring, the wait runs to its timeout.
        bell.ring_if_crossed(30, 10);
        let start = Instant::now();
        Bell::wait(Duration::from_millis(50));
        assert!(start.elapsed() >= Duration::from_millis(40));
    }

    #[test]
    fn the_burst_and_the_lead_stay_well_inside_the_directors_margin() {
        assert!(2 * (CLOCK_LEAD.as_millis() + u128::from(BURST_MS)) <= CUE_MARGIN.as_millis());
        assert_eq!(block_frames(48_000), 480);
        assert_eq!(burst_blocks(480, 48_000), 10);
        assert_eq!(burst_blocks(16_384, 48_000), 1);
    }
}
