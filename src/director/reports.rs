//! What the engine reports: items going on and off air, at the sample they
//! did, written to the as-run log as they happen.

use tracing::{error, info};

use super::Director;
use crate::asrun::{Ended, NewEntry};
use crate::engine::{Command, EndHow, Event, ItemId};

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
        if let Some(key) = &item.slot
            && how != EndHow::Cancelled
        {
            self.done.insert(key.clone());
        }
        let Some(log_id) = item.log_id else {
            return;
        };
        let failure = item.watch.failure();
        let (ended, reason) = match (how, failure) {
            (_, Some(reason)) => (Ended::Failed, Some(reason)),
            (EndHow::Natural, None) => (Ended::Natural, None),
            (EndHow::Faded, None) => (Ended::Faded, None),
            (EndHow::Cut, None) => (Ended::Faded, Some("cut at the next start".to_string())),
            (EndHow::Stopped | EndHow::Cancelled, None) => (Ended::Skipped, None),
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
