//! The mixer thread: once per block it takes the director's commands, starts
//! and ends items on the exact frame asked for, applies fades, and writes
//! the block to every output tap.
//!
//! Nothing on this thread locks, allocates, frees or logs: commands and
//! sources arrive through a wait-free ring, everything the mixer keeps lives
//! in arrays sized at start, and sources it is done with go back to the
//! director in [`Event::Retired`] to be freed there.

use std::collections::VecDeque;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::TimeDelta;

use super::decoder::Source;
use super::meters::Meters;
use super::{Command, EndHow, Event, ItemId, Start};
use crate::clock::{Clock, Timeline};
use crate::output::{CHANNELS, Tap};
use crate::pacing::{self, Bell};

mod cue;
mod handle;
mod live_bus;

use super::silence::SilenceWatch;
use cue::{Cue, When, render_item};
pub use handle::{Engine, EngineError, EngineSettings, start, start_with_live};
use live_bus::LiveBus;

/// Items that can be cued or playing at once. A schedule needs two or
/// three (the programme, the next one, a filler); the rest is headroom.
pub const SLOTS: usize = 8;

/// Commands the director can queue before the mixer takes them.
pub const COMMAND_CAPACITY: usize = 64;

/// Events the mixer can queue before the director reads them.
pub const EVENT_CAPACITY: usize = 256;

/// Events held on the mixer thread while the event ring is full (the
/// director is busy). Commands are only taken while `COMMAND_EVENT_ROOM` of
/// it is free: one command can cancel every slot and the standby (two
/// events each), and the items then held can at most start, end and retire
/// once each, so the buffer never has to grow on the real-time thread.
const PENDING_EVENTS: usize = 128;
const COMMAND_EVENT_ROOM: usize = 2 * (SLOTS + 1) + 3 * (SLOTS + 1) + 2;

/// How long the fade is when a scheduled start cuts whatever is playing:
/// long enough not to click, short enough to sound like a cut.
const CUT_FADE_MS: u32 = 5;

/// How often a stalled mixer looks whether it may go on (or stop).
const STALL_NAP: Duration = Duration::from_millis(10);

/// The standby (the emergency file) waiting in the wings until nothing
/// has been on air for `after` frames.
struct Standby {
    id: ItemId,
    source: Source,
    after: u32,
}

struct Mixer {
    timeline: Timeline,
    clock: Clock,
    lead: TimeDelta,
    block: usize,
    taps: Vec<Tap>,
    master: Option<usize>,
    commands: rtrb::Consumer<Command>,
    events: rtrb::Producer<Event>,
    pending: VecDeque<Event>,
    meters: Arc<Meters>,
    event_bell: Arc<OwnedFd>,
    stop: Arc<AtomicBool>,
    /// A test hook: while set, the mixer makes no blocks, as a mixer stuck
    /// in a bug or a driver would (see [`Engine::stall_switch`]).
    stalled: Arc<AtomicBool>,
    /// Blocks made per wake-up when the clock paces the mixer.
    burst: usize,
    /// Blocks of the current burst still to make.
    burst_left: usize,
    /// A burst, in station time.
    burst_span: TimeDelta,
    slots: [Option<Cue>; SLOTS],
    standby: Option<Standby>,
    /// The studio's input and its fader, when the box has one.
    live: Option<LiveBus>,
    /// Dead air: quiet on the programme output, after the live fader.
    programme_watch: SilenceWatch,
    /// The block being made, interleaved stereo.
    mix: Vec<f32>,
    /// Engine frame of the block's first frame.
    position: u64,
    /// Since when nothing has been on air (standby timing).
    silent_since: Option<u64>,
    last_end: u64,
    cut_fade: u32,
    next_seq: u64,
}

impl Mixer {
    fn run(mut self) {
        if let Some(index) = self.master {
            // Ask the device to ring when a burst's worth of room has opened
            // (at most half its ring, at least a block).
            let tap = &self.taps[index];
            let wanted = (self.burst * self.block * CHANNELS)
                .min(tap.ring.buffer().capacity() / 2)
                .max(self.block * CHANNELS);
            tap.stats.bells.mixer.answer(wanted);
        }
        loop {
            #[cfg(test)]
            let allocations = tests::allocations_on_this_thread();
            if !self.pace() || !self.take_commands() {
                break;
            }
            self.render_block();
            self.send_block();
            self.programme_watch
                .feed(&self.mix, self.position, &self.meters.programme);
            self.meters
                .record_block(&self.mix, self.position + self.block as u64, self.on_air());
            self.flush_events();
            self.position += self.block as u64;
            #[cfg(test)]
            self.meters.allocations.fetch_add(
                tests::allocations_on_this_thread() - allocations,
                Ordering::Relaxed,
            );
        }
    }

    /// Waits until the block may be made; false when asked to stop.
    ///
    /// Paced by the clock, the mixer makes a burst of blocks at a time and
    /// sleeps until the next burst is due: it runs between `lead` and
    /// `lead + burst` ahead of the clock. Paced by a device, it makes
    /// blocks while the device's ring has room and sleeps until the device
    /// rings that a burst's worth of room has opened. Either way a stop
    /// request rings it.
    fn pace(&mut self) -> bool {
        loop {
            if self.stop.load(Ordering::Acquire) {
                return false;
            }
            if self.stalled.load(Ordering::Relaxed) {
                Bell::wait(STALL_NAP);
                continue;
            }
            // With a master, the clock still decides when the first block
            // is made, so that sample 0 goes out at the timeline's anchor.
            let nap = match self.master {
                Some(index) if self.position > 0 => match self.device_nap(index) {
                    None => return true,
                    Some(nap) => nap,
                },
                _ => {
                    let due = self.timeline.time_of(self.position) - self.lead;
                    let now = self.clock.now();
                    if now >= due {
                        // Due (or late: then blocks follow without a nap).
                        self.burst_left = self.burst;
                    }
                    if self.burst_left > 0 && now >= due - self.burst_span {
                        self.burst_left -= 1;
                        return true;
                    }
                    self.burst_left = 0;
                    self.clock.real(due - now)
                }
            };
            Bell::wait(nap);
        }
    }

    /// `None` when the master's ring has room for a block; otherwise how
    /// long to sleep. A device that rings (a sound card's callback) is
    /// waited for; one that does not (a stand-in) is looked at again after
    /// half the time it takes to play what is missing.
    fn device_nap(&self, index: usize) -> Option<Duration> {
        let tap = &self.taps[index];
        let room = tap.ring.slots();
        let wanted = self.block * CHANNELS;
        if room >= wanted {
            return None;
        }
        let rate = f64::from(self.timeline.rate);
        if tap.stats.bells.mixer.answered() && tap.stats.bells.rings_mixer() {
            // Long enough to be sure the ring has gone dry otherwise.
            let ring = tap.ring.buffer().capacity() / CHANNELS;
            return Some(Duration::from_secs_f64(ring as f64 / rate));
        }
        let missing = (wanted - room) / CHANNELS;
        Some(
            Duration::from_secs_f64(missing as f64 / rate / 2.0)
                .clamp(pacing::MIN_POLL_NAP, pacing::MAX_POLL_NAP),
        )
    }

    /// Takes the director's commands; false on `Shutdown`.
    fn take_commands(&mut self) -> bool {
        while PENDING_EVENTS - self.pending.len() >= COMMAND_EVENT_ROOM {
            let Ok(command) = self.commands.pop() else {
                break;
            };
            match command {
                Command::Cue {
                    id,
                    source,
                    start,
                    hard_end,
                    fade,
                } => self.cue(id, source, start, hard_end, fade),
                Command::EndAt { id, at, fade } => {
                    if let Some(item) = self.find(id) {
                        item.hard_end = Some(at);
                        item.fade = fade;
                    }
                }
                Command::Stop { id, fade } => self.stop_item(id, fade),
                Command::Standby { id, source, after } => {
                    if let Some(old) = self.standby.replace(Standby { id, source, after }) {
                        self.emit(Event::Retired(old.source));
                    }
                }
                Command::Live { fade } => {
                    if let Some(bus) = self.live.as_mut() {
                        bus.go_live(fade);
                    }
                }
                Command::Auto { at, fade } => {
                    if let Some(bus) = self.live.as_mut() {
                        bus.back_at(at, fade);
                    }
                }
                Command::Shutdown => return false,
            }
        }
        true
    }

    fn cue(&mut self, id: ItemId, source: Source, start: Start, hard_end: Option<u64>, fade: u32) {
        if let (Start::At(at), Some(hard)) = (start, hard_end)
            && at >= hard
        {
            self.emit(Event::Ended {
                id,
                at: self.position,
                how: EndHow::Cancelled,
            });
            self.emit(Event::Retired(source));
            return;
        }
        let when = match start {
            Start::At(at) => When::At(at),
            Start::After(before) if self.known(before) => When::After(before),
            Start::After(_) => When::Now,
        };
        let Some(slot) = self.slots.iter_mut().find(|s| s.is_none()) else {
            self.emit(Event::Ended {
                id,
                at: self.position,
                how: EndHow::Cancelled,
            });
            self.emit(Event::Retired(source));
            return;
        };
        *slot = Some(Cue {
            id,
            source,
            when,
            since: None,
            hard_end,
            fade,
            fade_out: None,
            skip_debt: 0,
            cursor: self.position,
            seq: 0,
            standby: false,
        });
    }

    fn stop_item(&mut self, id: ItemId, fade: u32) {
        let at = self.position;
        if let Some(index) = self.slot_of(id) {
            let playing = self.slots[index].as_ref().is_some_and(Cue::playing);
            if playing {
                if let Some(item) = self.slots[index].as_mut() {
                    item.fade_out(at, fade, EndHow::Stopped);
                }
            } else {
                self.cancel(index, at);
            }
        } else if self.standby.as_ref().is_some_and(|s| s.id == id)
            && let Some(standby) = self.standby.take()
        {
            self.emit(Event::Ended {
                id,
                at,
                how: EndHow::Cancelled,
            });
            self.emit(Event::Retired(standby.source));
        }
    }

    fn known(&self, id: ItemId) -> bool {
        self.slot_of(id).is_some() || self.standby.as_ref().is_some_and(|s| s.id == id)
    }

    fn slot_of(&self, id: ItemId) -> Option<usize> {
        self.slots
            .iter()
            .position(|s| s.as_ref().is_some_and(|item| item.id == id))
    }

    fn find(&mut self, id: ItemId) -> Option<&mut Cue> {
        self.slots.iter_mut().flatten().find(|item| item.id == id)
    }

    fn on_air(&self) -> Option<ItemId> {
        self.slots
            .iter()
            .flatten()
            .filter(|item| item.playing())
            .max_by_key(|item| item.seq)
            .map(|item| item.id)
    }

    fn anything_playing(&self) -> bool {
        self.slots.iter().flatten().any(Cue::playing)
    }

    fn render_block(&mut self) {
        self.mix.fill(0.0);
        let start = self.position;
        let end = start + self.block as u64;

        // Items whose predecessor has gone (never cued, replaced standby)
        // start now rather than wait for ever.
        for index in 0..SLOTS {
            let orphan = match &self.slots[index] {
                Some(item) if !item.playing() => match item.when {
                    When::After(before) => !self.known_except(before, index),
                    _ => false,
                },
                _ => false,
            };
            if orphan && let Some(item) = &mut self.slots[index] {
                item.when = When::Now;
            }
        }

        let mut at = start;
        loop {
            self.start_due(at, start);
            let next = self
                .slots
                .iter()
                .flatten()
                .filter_map(|item| match item.when {
                    When::At(s) if !item.playing() && s > at && s < end => Some(s),
                    _ => None,
                })
                .min()
                .unwrap_or(end);
            self.render_range(next);
            at = next;
            if at >= end {
                break;
            }
        }

        // While the studio is on air automation is quiet on purpose: the
        // standby waits until it is not.
        let live = self.live.as_ref().is_some_and(LiveBus::engaged);
        if self.anything_playing() || live {
            self.silent_since = None;
        } else if self.silent_since.is_none() {
            self.silent_since = Some(self.last_end.max(start));
        }
        self.start_standby(end);
        if let Some(bus) = self.live.as_mut() {
            bus.mix(&mut self.mix, start);
        }
    }

    fn known_except(&self, id: ItemId, except: usize) -> bool {
        self.slots
            .iter()
            .enumerate()
            .any(|(i, s)| i != except && s.as_ref().is_some_and(|item| item.id == id))
            || self.standby.as_ref().is_some_and(|s| s.id == id)
    }

    /// Starts the `At` items due at `at` (and, at the block's start, the
    /// `Now` items).
    fn start_due(&mut self, at: u64, block_start: u64) {
        for index in 0..SLOTS {
            let due = match &self.slots[index] {
                Some(item) if !item.playing() => match item.when {
                    When::At(s) => s <= at,
                    When::Now => at == block_start,
                    When::After(_) => false,
                },
                _ => false,
            };
            if !due {
                continue;
            }
            let scheduled = matches!(
                self.slots[index].as_ref().map(|i| i.when),
                Some(When::At(_))
            );
            if scheduled {
                // A scheduled start is a hard boundary: whatever still
                // plays is cut.
                let cut = self.cut_fade;
                for (other, slot) in self.slots.iter_mut().enumerate() {
                    if other != index
                        && let Some(item) = slot
                        && item.playing()
                    {
                        item.fade_out(at, cut, EndHow::Cut);
                    }
                }
            }
            self.go_on_air(index, at);
        }
    }

    /// Puts a cued item on air at `at`, or cancels it if its hard end has
    /// already come.
    fn go_on_air(&mut self, index: usize, at: u64) {
        let Some(item) = self.slots[index].as_mut() else {
            return;
        };
        if item.hard_end.is_some_and(|hard| at >= hard) {
            self.cancel(index, at);
            return;
        }
        if let When::At(s) = item.when
            && s < at
        {
            let late = at - s;
            item.skip_debt = late - item.source.skip(late);
        }
        item.since = Some(at);
        item.cursor = at;
        item.seq = self.next_seq;
        self.next_seq += 1;
        let id = item.id;
        // Whatever else starts takes over from a standby on air.
        let cut = self.cut_fade;
        for standby in self.slots.iter_mut().flatten() {
            if standby.standby && standby.playing() {
                standby.fade_out(at, cut, EndHow::Cut);
            }
        }
        self.emit(Event::Started { id, at });
    }

    /// Renders every playing item up to `until`, ending items and starting
    /// their followers on the exact frame.
    fn render_range(&mut self, until: u64) {
        loop {
            let mut progressed = false;
            for index in 0..SLOTS {
                let Some(item) = self.slots[index].as_mut() else {
                    continue;
                };
                if !item.playing() || item.cursor >= until {
                    continue;
                }
                progressed = true;
                let ended = render_item(item, &mut self.mix, self.position, until, &self.meters);
                if let Some((at, how)) = ended {
                    self.end(index, at, how);
                }
            }
            if !progressed {
                break;
            }
        }
    }

    /// Takes an item off air at `at` and starts what follows it.
    fn end(&mut self, index: usize, at: u64, how: EndHow) {
        let Some(item) = self.slots[index].take() else {
            return;
        };
        self.last_end = self.last_end.max(at);
        let id = item.id;
        self.emit(Event::Ended { id, at, how });
        self.emit(Event::Retired(item.source));
        for next in 0..SLOTS {
            if self.slots[next]
                .as_ref()
                .is_some_and(|n| !n.playing() && n.when == When::After(id))
            {
                self.go_on_air(next, at);
            }
        }
    }

    /// Cancels a cued item, and everything chained after it.
    fn cancel(&mut self, index: usize, at: u64) {
        let Some(item) = self.slots[index].take() else {
            return;
        };
        let id = item.id;
        self.emit(Event::Ended {
            id,
            at,
            how: EndHow::Cancelled,
        });
        self.emit(Event::Retired(item.source));
        for next in 0..SLOTS {
            if self.slots[next]
                .as_ref()
                .is_some_and(|n| !n.playing() && n.when == When::After(id))
            {
                self.cancel(next, at);
            }
        }
    }

    /// The standby goes on air once nothing has been for its `after` frames.
    fn start_standby(&mut self, end: u64) {
        let Some(quiet_from) = self.silent_since else {
            return;
        };
        let Some(after) = self.standby.as_ref().map(|s| u64::from(s.after)) else {
            return;
        };
        let at = (quiet_from + after).max(self.position);
        if at >= end {
            return;
        }
        let Some(slot) = self.slots.iter().position(Option::is_none) else {
            return;
        };
        let Some(standby) = self.standby.take() else {
            return;
        };
        self.slots[slot] = Some(Cue {
            id: standby.id,
            source: standby.source,
            when: When::Now,
            since: Some(at),
            hard_end: None,
            fade: 0,
            fade_out: None,
            skip_debt: 0,
            cursor: at,
            seq: self.next_seq,
            standby: true,
        });
        self.next_seq += 1;
        self.silent_since = None;
        self.emit(Event::Started { id: standby.id, at });
        self.render_range(end);
    }

    fn send_block(&mut self) {
        for s in &mut self.mix {
            *s = s.clamp(-1.0, 1.0);
        }
        for tap in &mut self.taps {
            tap.push_block(&self.mix);
        }
    }

    fn emit(&mut self, event: Event) {
        // Sized so this never grows (see PENDING_EVENTS).
        debug_assert!(self.pending.len() < PENDING_EVENTS);
        self.pending.push_back(event);
    }

    fn flush_events(&mut self) {
        let mut pushed = false;
        while let Some(event) = self.pending.pop_front() {
            if let Err(rtrb::PushError::Full(event)) = self.events.push(event) {
                self.pending.push_front(event);
                break;
            }
            pushed = true;
        }
        if pushed {
            self.ring_event_bell();
        }
    }

    /// Tells the director there are events: a syscall, but no lock and no
    /// allocation. A full counter (nobody reading for ages) is still
    /// readable, so a failed write loses nothing.
    fn ring_event_bell(&self) {
        let one: u64 = 1;
        // SAFETY: the descriptor is open for as long as `event_bell` lives,
        // and the buffer is 8 readable bytes.
        let _ = unsafe {
            libc::write(
                self.event_bell.as_raw_fd(),
                (&one as *const u64).cast(),
                std::mem::size_of::<u64>(),
            )
        };
    }
}

/// Its counting allocator is the test binary's: other tests (the panel's)
/// read it too.
#[cfg(test)]
pub(crate) mod tests;
