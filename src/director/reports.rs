//! What the engine reports: items going on and off air, at the sample they
//! did, written to the as-run log as they happen.

use std::os::fd::{AsRawFd, OwnedFd};

use tokio::io::Interest;
use tokio::io::unix::AsyncFd;
use tracing::{error, info, warn};

use super::{Director, TakenOff};
use crate::asrun::{Ended, NewEntry};
use crate::engine::{Command, EndHow, Engine, Event, ItemId};

impl Director {
    pub(super) async fn handle_events(&mut self) {
        let mut standby_used = false;
        while let Ok(event) = self.engine.events.pop() {
            match event {
                Event::Started { id, at } => {
                    if Some(id) == self.standby {
                        self.standby = None;
                        standby_used = true;
                        let start = self.time_of(at);
                        if let Some(item) = self.items.get_mut(&id) {
                            item.start = start;
                        }
                        // Fade it out at the next start like any fill.
                        let next = self
                            .slots
                            .iter()
                            .map(|s| s.programme.start)
                            .find(|&s| s > self.time_of(at));
                        if let Some(next) = next {
                            let at = self.sample(next);
                            self.send(Command::EndAt {
                                id,
                                at,
                                fade: self.fade,
                            });
                            if let Some(item) = self.items.get_mut(&id) {
                                item.hard_end = Some(next);
                            }
                        }
                    }
                    self.started(id, at);
                }
                Event::Ended { id, at, how } => self.ended(id, at, how),
                Event::Retired(source) => drop(source),
            }
        }
        if standby_used {
            self.arm_standby().await;
        }
    }

    pub(super) fn started(&mut self, id: ItemId, at: u64) {
        let time = self.time_of(at);
        let Some(item) = self.items.get_mut(&id) else {
            return;
        };
        item.started = true;
        item.start = time;
        let entry = NewEntry {
            start: time,
            kind: item.kind,
            title: item.title.clone(),
            file: item.file.display().to_string(),
            offset_ms: item.offset.num_milliseconds().max(0) as u64,
            scheduled: item.slot.as_ref().map(|k| k.start),
        };
        info!("on air: \"{}\" ({:?})", item.title, item.kind);
        // Streams show listeners what is on air now.
        for (_, stats) in &self.outputs {
            if let Some(stream) = &stats.stream {
                stream.set_title(&item.title);
            }
        }
        let logged = match &item.substitution {
            Some(s) => self.log.begin_substitute(entry, s.clone()),
            None => self.log.begin(entry),
        };
        match logged {
            Ok(log_id) => item.log_id = Some(log_id),
            Err(e) => error!("as-run log: cannot record \"{}\": {e}", item.title),
        }
    }

    pub(super) fn ended(&mut self, id: ItemId, at: u64, how: EndHow) {
        let Some(item) = self.items.remove(&id) else {
            return;
        };
        if Some(id) == self.standby {
            self.standby = None;
        }
        let taken_off = self.taken_off.remove(&id);
        // A programme the studio took off is taken up again at AUTO.
        if let Some(key) = &item.slot
            && how != EndHow::Cancelled
            && !matches!(taken_off, Some(TakenOff::Live(_)))
        {
            self.done.insert(key.clone());
        }
        let Some(log_id) = item.log_id else {
            return;
        };
        let failure = item.watch.failure();
        let (ended, reason) = match (how, failure, taken_off) {
            (_, Some(reason), _) => (Ended::Failed, Some(reason)),
            (_, None, Some(TakenOff::Skipped(by))) => {
                (Ended::Skipped, Some(format!("skipped by {by}")))
            }
            (_, None, Some(TakenOff::Live(by))) => {
                (Ended::Live, Some(format!("the studio took over, by {by}")))
            }
            (_, None, Some(TakenOff::DeadAir)) => (
                Ended::DeadAir,
                Some("silent: the emergency audio took over".to_string()),
            ),
            (EndHow::Natural, None, None) => (Ended::Natural, None),
            (EndHow::Faded, None, None) => (Ended::Faded, None),
            (EndHow::Cut, None, None) => (Ended::Faded, Some("cut at the next start".to_string())),
            (EndHow::Stopped | EndHow::Cancelled, None, None) => (Ended::Skipped, None),
        };
        let end = self.time_of(at);
        if let Some(track_id) = item.tracks.as_ref().and_then(|t| t.open)
            && let Err(e) = self.log.finish(track_id, end, ended, None)
        {
            error!(
                "as-run log: cannot close the last track of \"{}\": {e}",
                item.title
            );
        }
        info!("off air: \"{}\" ({ended:?})", item.title);
        if let Err(e) = self.log.finish(log_id, end, ended, reason) {
            error!("as-run log: cannot close \"{}\": {e}", item.title);
        }
    }

    /// An orderly stop: what is on air is logged as stopped, so that the
    /// next start joins it again.
    pub(super) fn close_for_stop(&mut self) {
        let now = self.on_air_time();
        for item in self.items.values() {
            let track = item.tracks.as_ref().and_then(|t| t.open);
            for log_id in [track, item.log_id].into_iter().flatten() {
                if item.started
                    && let Err(e) = self.log.finish(log_id, now, Ended::Stopped, None)
                {
                    error!("as-run log: {e}");
                }
            }
        }
        self.items.clear();
    }
}

/// The engine's event bell as the director waits on it: the mixer rings it
/// in a block where it pushed events, so items going on and off air are
/// logged the moment they do, with no timer in between.
pub(super) struct EngineBell(AsyncFd<OwnedFd>);

impl EngineBell {
    /// `None` when the bell cannot be waited on; events are then read at
    /// each look ahead instead.
    pub(super) fn of(engine: &Engine) -> Option<Self> {
        let refused = |e: &dyn std::fmt::Display| {
            warn!("cannot wait on the engine's events ({e}): reading them at each look ahead");
        };
        let owned = match engine.event_bell().try_clone_to_owned() {
            Ok(owned) => owned,
            Err(e) => {
                refused(&e);
                return None;
            }
        };
        // SAFETY: the descriptor is an `OwnedFd`, open until the `AsyncFd`
        // that owns it is dropped, and always the same one.
        match unsafe { AsyncFd::register_with_interest(owned, Interest::READABLE) } {
            Ok(bell) => Some(EngineBell(bell)),
            Err(e) => {
                refused(&e);
                None
            }
        }
    }

    /// Waits until the mixer has pushed events, and rearms the bell.
    pub(super) async fn rung(&self) {
        let Ok(mut guard) = self.0.readable().await else {
            return;
        };
        // Read until it would block: readiness is cleared only then, so a
        // ring between two reads is never lost.
        while let Ok(result) = guard.try_io(|bell| read_bell(bell.get_ref())) {
            if let Err(e) = result {
                warn!("the engine's event bell: {e}");
                break;
            }
        }
    }
}

fn read_bell(bell: &OwnedFd) -> std::io::Result<()> {
    let mut count = [0u8; 8];
    // SAFETY: the descriptor is open for the bell's lifetime, and the
    // buffer is 8 writable bytes, as an eventfd read needs.
    let read = unsafe { libc::read(bell.as_raw_fd(), count.as_mut_ptr().cast(), count.len()) };
    if read < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}
