//! The director: owns the plan, the as-run log and the engine's cue list.
//!
//! It is the only writer of the as-run log. Every few milliseconds it reads
//! the engine's events (what started and ended, at which sample), logs them,
//! and arranges what comes next far enough ahead that the engine always has
//! its next item cued: scheduled programmes at their exact start, filler
//! chained gaplessly in between and faded out at the next start, the
//! emergency file when there is no filler. After a crash it reads the log
//! and joins the programme that should be on air at the right offset.

pub mod arrange;
mod bookings;
mod boundaries;
mod drift;
pub mod preair;
mod resume;
mod tracks;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use chrono::{DateTime, TimeDelta, Utc};
use tokio::sync::watch;
use tracing::{error, info, warn};

use crate::asrun::{
    self, AsRunWriter, Ended, Entry, Kind, NewEntry, NewTrack, StreamEvent, Substitution,
};
use crate::clock::{Clock, Timeline, delta_to_samples, samples_to_delta};
use crate::config::Config;
use crate::engine::{
    self, Command, DecodeError, EndHow, Engine, Event, ItemId, Source, SourceWatch, Start,
};
use crate::listen_back::ListenLink;
use crate::output::OutputStats;
use crate::schedule::{self, FillerDeck, FolderWatch, Slot};
use crate::status::{self, Mode, Status};
use arrange::{Arranged, SlotKey, Step};

/// How often the programme and filler folders are looked at again (real time): new files
/// are on air within a minute of being dropped in, never half-copied.
const RESCAN_EVERY: Duration = Duration::from_secs(1);
const HEARTBEAT_EVERY: Duration = Duration::from_secs(1);
const STATUS_EVERY: Duration = Duration::from_millis(200);
/// The director's pace (real time). Cues are placed seconds ahead and the
/// engine starts them to the sample, so the tick only bounds how soon an
/// event is logged or a late file is noticed; every tick wakes the runtime,
/// which on the Pi is CPU taken from the audio. At simulated speed 60 it is
/// 1.2 s of station time, still well inside the look-ahead.
const TICK: Duration = Duration::from_millis(20);

/// What the director needs from the rest of the box.
pub struct Parts {
    pub config: Config,
    pub clock: Clock,
    pub engine: Engine,
    pub log: Box<dyn AsRunWriter>,
    pub outputs: Vec<(String, Arc<OutputStats>)>,
    /// What the box hears on its own streams (listen-back), by output.
    pub listen_back: Vec<Arc<ListenLink>>,
    pub status: watch::Sender<Status>,
    /// A device (the sound card) paces the engine rather than the clock.
    pub device_paced: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Programme,
    Filler,
    Emergency,
}

/// One item handed to the engine.
struct Item {
    role: Role,
    kind: Kind,
    title: String,
    file: PathBuf,
    slot: Option<SlotKey>,
    offset: TimeDelta,
    /// Expected start, then the real one once the engine reports it.
    start: DateTime<Utc>,
    hard_end: Option<DateTime<Utc>>,
    /// Length from `offset` to the end of the file, when known.
    length: Option<TimeDelta>,
    started: bool,
    log_id: Option<u64>,
    watch: SourceWatch,
    /// A previous edition standing in for the file that was due.
    substitution: Option<Substitution>,
    /// The programme's track list, followed as it plays.
    tracks: Option<tracks::TrackFollower>,
}

impl Item {
    fn expected_end(&self) -> Option<DateTime<Utc>> {
        let natural = self.length.map(|l| self.start + l);
        match (natural, self.hard_end) {
            (Some(n), Some(h)) => Some(n.min(h)),
            (n, h) => n.or(h),
        }
    }
}

pub struct Director {
    config: Config,
    clock: Clock,
    timeline: Timeline,
    engine: Engine,
    log: Box<dyn AsRunWriter>,
    outputs: Vec<(String, Arc<OutputStats>)>,
    listen_back: Vec<Arc<ListenLink>>,
    status: watch::Sender<Status>,

    programmes: Option<FolderWatch>,
    slots: Vec<Slot>,
    ignored: Vec<status::IgnoredFile>,
    filler: Option<FillerDeck>,
    /// Filler files played recently, oldest first, to carry the no-repeat
    /// round over a restart.
    filler_history: Vec<PathBuf>,
    /// Slots that must not be aired (again): finished, failed or skipped.
    done: HashSet<SlotKey>,
    /// Slots the as-run log shows cut off by a crash or a stop.
    interrupted: HashSet<SlotKey>,
    items: HashMap<ItemId, Item>,
    /// Stretches the director knows it cannot fill, so it stops trying.
    silences: Vec<Arranged>,
    standby: Option<ItemId>,
    next_id: ItemId,
    warnings: Vec<String>,
    fade: u32,
    drift: drift::Drift,
    reported_drift: TimeDelta,
    boundaries: boundaries::Boundaries,
    /// The calendar's bookings matched against the files, with the pre-air check.
    booked: bookings::Booked,
    calendar: Option<crate::calendar::CalendarWatch>,
    calendar_generation: Option<u64>,
    /// Tracks the as-run log had at start, so a resumed programme does not
    /// log them twice.
    track_history: Vec<Entry>,
    /// Per output, whether its stream was last logged up (`None`: not yet
    /// logged, or not a stream), and its reconnections then.
    streams_logged: Vec<Option<(bool, u64)>>,
}

impl Director {
    pub fn new(parts: Parts) -> Self {
        let Parts {
            config,
            clock,
            engine,
            log,
            outputs,
            listen_back,
            status,
            device_paced,
        } = parts;
        let fade = delta_to_samples(
            TimeDelta::milliseconds(config.audio.fade_ms as i64),
            config.audio.sample_rate,
        ) as u32;
        let timeline = engine.timeline;
        let booked = bookings::Booked::new(
            preair::PreAir::start(Some(&config.data.dir)),
            TimeDelta::minutes(i64::from(config.check_ahead_minutes())),
        );
        let calendar = config.calendar.as_ref().and_then(|c| {
            crate::calendar::CalendarWatch::start(
                c,
                config.data.dir.clone(),
                config.station.timezone,
                clock,
            )
            .map_err(|e| {
                error!("cannot start reading the calendar ({e}): only the programme files air")
            })
            .ok()
        });
        Director {
            programmes: Some(FolderWatch::new(
                config.library.programmes.clone(),
                config.station.timezone,
            )),
            config,
            clock,
            timeline,
            engine,
            log,
            outputs,
            listen_back,
            status,
            slots: Vec::new(),
            ignored: Vec::new(),
            filler: None,
            filler_history: Vec::new(),
            done: HashSet::new(),
            interrupted: HashSet::new(),
            items: HashMap::new(),
            silences: Vec::new(),
            standby: None,
            next_id: 1,
            warnings: Vec::new(),
            fade,
            drift: drift::Drift::new(device_paced, Instant::now()),
            reported_drift: TimeDelta::zero(),
            boundaries: boundaries::Boundaries::default(),
            streams_logged: Vec::new(),
            booked,
            calendar,
            calendar_generation: None,
            track_history: Vec::new(),
        }
    }

    /// Runs until `stop` resolves, then takes everything off air and closes
    /// the log entries as stopped.
    pub async fn run(mut self, stop: impl std::future::Future<Output = ()>) -> Engine {
        tokio::pin!(stop);
        self.recover();
        self.wait_for_calendar().await;
        self.rescan_programmes();
        self.rescan_filler();
        self.arm_standby().await;

        let mut last_rescan = Instant::now();
        let mut last_heartbeat = Instant::now();
        let mut last_status = Instant::now() - STATUS_EVERY;
        let mut ticker = tokio::time::interval(TICK);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = &mut stop => break,
                _ = ticker.tick() => {}
            }
            self.drift.observe(
                &self.timeline,
                self.engine.meters.position(),
                self.clock.now(),
                Instant::now(),
            );
            let correction = self.drift.correction();
            if (correction - self.reported_drift).abs() >= TimeDelta::milliseconds(5) {
                info!(
                    "the sound card's clock is {} ms off the station clock",
                    correction.num_milliseconds()
                );
                self.reported_drift = correction;
            }
            self.handle_events().await;
            self.follow_tracks();
            if last_rescan.elapsed() >= RESCAN_EVERY {
                last_rescan = Instant::now();
                if self.rescan_programmes() {
                    self.rearrange();
                }
                self.rescan_filler();
            }
            self.arrange().await;
            if last_heartbeat.elapsed() >= HEARTBEAT_EVERY {
                last_heartbeat = Instant::now();
                if let Err(e) = self.log.heartbeat(self.on_air_time()) {
                    error!("as-run log heartbeat failed: {e}");
                }
            }
            if last_status.elapsed() >= STATUS_EVERY {
                last_status = Instant::now();
                // A new calendar is planned with at once, not at the next look.
                let generation = self.calendar.as_ref().map(|c| c.snapshot().generation);
                if generation != self.calendar_generation {
                    self.calendar_generation = generation;
                    if self.rescan_programmes() {
                        self.rearrange();
                    }
                }
                self.log_streams();
                self.publish();
            }
        }
        self.close_for_stop();
        self.engine
    }

    /// At the very first start, with no copy of the calendar kept yet, it
    /// is given a moment for its first fetch, so that a booking due in the
    /// first minutes is known when the first cues are made. With a copy
    /// kept, nothing waits: a power-cut resume must not wait on a server.
    async fn wait_for_calendar(&mut self) {
        const FIRST_FETCH: Duration = Duration::from_secs(3);
        let Some(calendar) = &self.calendar else {
            return;
        };
        let since = Instant::now();
        while since.elapsed() < FIRST_FETCH {
            let state = calendar.snapshot().state;
            if state.last_attempt.is_some() || state.loaded_at.is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.calendar_generation = Some(calendar.snapshot().generation);
    }

    /// The station time of the sample the engine is producing now. The
    /// engine runs a little ahead of the clock; decisions are made against
    /// it, not the clock, since it is what can still be changed.
    fn engine_time(&self) -> DateTime<Utc> {
        self.time_of(self.engine.meters.position())
    }

    /// The station time at which an engine sample is heard.
    fn time_of(&self, sample: u64) -> DateTime<Utc> {
        self.timeline.time_of(sample) - self.drift.correction()
    }

    /// The station time heard at the outputs now.
    fn on_air_time(&self) -> DateTime<Utc> {
        self.clock.now().min(self.engine_time())
    }

    /// How far ahead of the engine a cue must be made to be sure to arrive in time.
    fn margin(&self) -> TimeDelta {
        self.clock
            .station(Duration::from_millis(30))
            .max(TimeDelta::milliseconds(100))
    }

    fn horizon(&self) -> TimeDelta {
        // Short, so that a cue is placed with a recent view of the sound
        // card's drift; long enough at any speed to open a file in time.
        self.clock
            .station(Duration::from_secs(1))
            .max(TimeDelta::seconds(3))
    }

    fn ring_frames(&self) -> usize {
        let rate = self.config.audio.sample_rate as f64;
        (rate * (3.0f64).max(self.clock.speed() * 0.3)) as usize
    }

    fn recover(&mut self) {
        match self.log.recover() {
            Ok(open) => {
                for e in &open {
                    warn!(
                        "as-run: \"{}\" was cut off at {} (crash or power cut)",
                        e.title,
                        e.end.unwrap_or(e.start)
                    );
                }
            }
            Err(e) => error!("as-run log recovery failed: {e}"),
        }
        let since = self.clock.now() - TimeDelta::days(2);
        match self.log.range(Some(since), None) {
            Ok(entries) => {
                let (done, interrupted) = resume::slot_states(&entries);
                self.done = done;
                self.interrupted = interrupted;
                self.filler_history = entries
                    .iter()
                    .filter(|e| e.kind == Kind::Filler)
                    .map(|e| PathBuf::from(&e.file))
                    .collect();
                self.track_history = entries
                    .into_iter()
                    .filter(|e| e.kind == Kind::Track)
                    .collect();
            }
            Err(e) => error!("cannot read the as-run log to resume: {e}"),
        }
    }
}

// Reading the library.
impl Director {
    /// Looks at the programme folder again; true when the slots changed.
    fn rescan_programmes(&mut self) -> bool {
        let Some(watch) = self.programmes.as_mut() else {
            return false;
        };
        let scan = match watch.scan(SystemTime::now()) {
            Ok(scan) => scan,
            Err(e) => {
                self.warn_once(format!("programme folder: {e}"));
                return false;
            }
        };
        let now = self.on_air_time();
        let begun = self.engine_time() + self.margin() + self.horizon();
        let bookings = self
            .calendar
            .as_ref()
            .map(|c| {
                c.snapshot()
                    .bookings_between(now - TimeDelta::days(2), now + TimeDelta::days(2))
            })
            .unwrap_or_default();
        let (slots, mut ignored) = self.booked.slots(
            scan.programmes,
            &bookings,
            self.config.station.timezone,
            now,
            begun,
        );
        ignored.extend(scan.ignored);
        self.ignored = ignored
            .into_iter()
            .map(|i| status::IgnoredFile {
                file: i.path.display().to_string(),
                reason: i.reason,
            })
            .collect();
        let changed = slots.len() != self.slots.len()
            || slots.iter().zip(&self.slots).any(|(a, b)| {
                SlotKey::of(a) != SlotKey::of(b)
                    || a.hard_end != b.hard_end
                    || a.programme.title != b.programme.title
            });
        if changed {
            info!("schedule: {} programme slots", slots.len());
            self.slots = slots;
        }
        changed
    }

    fn rescan_filler(&mut self) {
        let Some(dir) = self.config.library.filler.clone() else {
            return;
        };
        let files = match schedule::list_audio_files(&dir) {
            // A track still being copied in is left for the next look.
            Ok(files) => files.into_iter().filter(|f| settled(f)).collect(),
            Err(e) => {
                self.warn_once(format!("filler folder: {e}"));
                Vec::new()
            }
        };
        let was_empty = self.filler.as_ref().is_none_or(|d| d.is_empty());
        match self.filler.as_mut() {
            Some(deck) => deck.refresh(files),
            None => {
                let seed = SystemTime::now()
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .map(|d| d.as_nanos() as u64)
                    .unwrap_or(1);
                let mut deck = FillerDeck::new(files, seed);
                for played in std::mem::take(&mut self.filler_history) {
                    deck.mark_played(&played);
                }
                self.filler = Some(deck);
            }
        }
        if was_empty && self.filler.as_ref().is_some_and(|d| !d.is_empty()) {
            self.make_way_for_filler();
        }
    }

    /// Filler has appeared: the emergency file, there only for want of it,
    /// fades out and filler follows it.
    fn make_way_for_filler(&mut self) {
        let at = self.engine_time() + self.margin();
        let ending: Vec<ItemId> = self
            .items
            .iter()
            .filter(|(id, i)| i.role == Role::Emergency && i.started && Some(**id) != self.standby)
            .map(|(&id, _)| id)
            .collect();
        if ending.is_empty() {
            return;
        }
        self.rearrange();
        for id in ending {
            self.send(Command::EndAt {
                id,
                at: self.sample(at),
                fade: self.fade,
            });
            if let Some(item) = self.items.get_mut(&id) {
                item.hard_end = Some(at);
            }
        }
    }

    fn warn_once(&mut self, warning: String) {
        if !self.warnings.contains(&warning) {
            warn!("{warning}");
            self.warnings.push(warning);
        }
    }
}

// Arranging what goes on air.
impl Director {
    async fn arrange(&mut self) {
        // Before the engine's first block everything from the anchor on can
        // still be cued in time.
        let earliest = if self.engine.meters.position() == 0 {
            self.timeline.anchor
        } else {
            self.engine_time() + self.margin()
        };
        let horizon = earliest + self.horizon();
        self.silences
            .retain(|s| s.end.is_some_and(|e| e > earliest));
        // Each step arranges one more item, so the walk ends; the bound is a
        // guard against a schedule that keeps answering the same step.
        for _ in 0..32 {
            let arranged = self.arranged();
            match arrange::next_step(&self.slots, &arranged, &self.done, earliest, horizon) {
                Step::Nothing => break,
                Step::Programme { slot, offset } => self.cue_programme(slot, offset).await,
                Step::Fill { after, at, until } => self.fill(after, at, until).await,
            }
        }
    }

    fn arranged(&self) -> Vec<Arranged> {
        self.items
            .iter()
            .filter(|(id, _)| Some(**id) != self.standby)
            .map(|(&id, item)| Arranged {
                id,
                start: item.start,
                end: item.expected_end(),
                slot: item.slot.clone(),
            })
            .chain(self.silences.iter().cloned())
            .collect()
    }

    fn take_id(&mut self) -> ItemId {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    async fn open(
        &self,
        path: &Path,
        offset: TimeDelta,
        looped: bool,
    ) -> Result<(Source, engine::SourceInfo, SourceWatch), DecodeError> {
        let opts = engine::decoder::OpenOptions {
            rate: self.config.audio.sample_rate,
            offset: delta_to_samples(offset, self.config.audio.sample_rate).max(0) as u64,
            looped,
            ring_frames: self.ring_frames(),
        };
        let owned = path.to_path_buf();
        match tokio::task::spawn_blocking(move || engine::decoder::open(&owned, &opts)).await {
            Ok(result) => result,
            Err(e) => Err(DecodeError::Thread {
                path: path.display().to_string(),
                source: std::io::Error::other(e.to_string()),
            }),
        }
    }

    fn send(&mut self, mut command: Command) {
        // The ring is drained by the mixer every block; it is full only if
        // the engine has stalled, in which case waiting is all we can do.
        for _ in 0..1000 {
            match self.engine.commands.push(command) {
                Ok(()) => return,
                Err(rtrb::PushError::Full(back)) => {
                    command = back;
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        }
        error!("the engine does not take commands: it has stalled");
    }

    /// The fade before a hard end: none for an item that ends by itself at
    /// (or within a blink of) the boundary, whose last second must not be
    /// faded for nothing; whatever few milliseconds of padding run past the
    /// boundary are cut.
    fn fade_for(
        &self,
        start: DateTime<Utc>,
        length: Option<TimeDelta>,
        hard_end: Option<DateTime<Utc>>,
    ) -> u32 {
        match (length, hard_end) {
            (Some(length), Some(end)) if start + length <= end + TimeDelta::milliseconds(100) => 0,
            _ => self.fade,
        }
    }

    /// The engine sample heard at station time `t`; the same sample every
    /// time `t` is asked for, so items meeting there meet to the sample.
    fn sample(&self, t: DateTime<Utc>) -> u64 {
        let correction = self.drift.correction();
        self.boundaries.sample(t, self.clock.now(), |t| {
            self.timeline.sample_at(t + correction).max(0) as u64
        })
    }

    async fn cue_programme(&mut self, index: usize, offset: TimeDelta) {
        let slot = self.slots[index].clone();
        let key = SlotKey::of(&slot);
        let p = &slot.programme;
        let start = p.start + offset;
        let joined = offset > TimeDelta::seconds(1);
        let substitution = slot.substitute.as_ref().map(|s| Substitution {
            replaces: s.replaces.clone(),
            problem: s.reason.clone(),
        });
        let kind = if substitution.is_some() {
            Kind::Substitute
        } else if joined || self.interrupted.contains(&key) && offset > TimeDelta::zero() {
            Kind::Resumed
        } else {
            Kind::Scheduled
        };
        match self.open(&p.path, offset, false).await {
            Ok((source, info, watch)) => {
                let id = self.take_id();
                let length = info
                    .duration
                    .map(|f| samples_to_delta(f as i64, self.config.audio.sample_rate));
                if length.is_some_and(|l| l <= TimeDelta::zero()) {
                    self.done.insert(key);
                    return;
                }
                info!(
                    "cued \"{}\" at {}{}",
                    p.title,
                    start,
                    if joined {
                        format!(" ({} in)", fmt_offset(offset))
                    } else {
                        String::new()
                    }
                );
                let hard_end = slot.hard_end;
                let tracks = self.track_follower(&p.path, p.start);
                self.send(Command::Cue {
                    id,
                    source,
                    start: Start::At(self.sample(start)),
                    hard_end: hard_end.map(|h| self.sample(h)),
                    fade: self.fade_for(start, length, hard_end),
                });
                self.items.insert(
                    id,
                    Item {
                        role: Role::Programme,
                        kind,
                        title: p.title.clone(),
                        file: p.path.clone(),
                        slot: Some(key),
                        offset,
                        start,
                        hard_end,
                        length,
                        started: false,
                        log_id: None,
                        watch,
                        substitution,
                        tracks,
                    },
                );
            }
            Err(DecodeError::OffsetPastEnd { .. }) => {
                // The programme is already over: nothing left to join.
                self.done.insert(key);
            }
            Err(e) => {
                let reason = e.to_string();
                warn!("\"{}\" cannot air: {reason}", p.title);
                self.warn_once(format!("{}: {reason}", p.path.display()));
                let entry = NewEntry {
                    start: p.start.max(self.engine_time()),
                    kind,
                    title: p.title.clone(),
                    file: p.path.display().to_string(),
                    offset_ms: offset.num_milliseconds().max(0) as u64,
                    scheduled: Some(p.start),
                };
                let logged = match substitution {
                    Some(s) => self.log.failed_substitute(entry, s, reason),
                    None => self.log.failed(entry, reason),
                };
                if let Err(e) = logged {
                    error!("as-run log: {e}");
                }
                self.done.insert(key);
            }
        }
    }

    /// Fills `at..until` with filler, or the emergency file, or records that
    /// nothing can be played.
    async fn fill(
        &mut self,
        after: Option<ItemId>,
        at: DateTime<Utc>,
        until: Option<DateTime<Utc>>,
    ) {
        let start = match after {
            Some(id) => Start::After(id),
            None => Start::At(self.sample(at)),
        };
        // A broken filler track is skipped; each is tried once per call.
        let tries = self.filler.as_ref().map(|d| d.len()).unwrap_or(0);
        for _ in 0..tries {
            let Some(path) = self.filler.as_mut().and_then(|d| d.next()) else {
                break;
            };
            match self.open(&path, TimeDelta::zero(), false).await {
                Ok((source, info, watch)) => {
                    let length = info
                        .duration
                        .map(|f| samples_to_delta(f as i64, self.config.audio.sample_rate));
                    self.cue_fill(Role::Filler, &path, source, watch, start, at, until, length);
                    return;
                }
                Err(reason) => {
                    warn!("filler {} skipped: {reason}", path.display());
                    self.warn_once(format!("{}: {reason}", path.display()));
                }
            }
        }
        if let Some(path) = self.config.library.emergency.clone() {
            match self.open(&path, TimeDelta::zero(), true).await {
                Ok((source, _, watch)) => {
                    self.cue_fill(
                        Role::Emergency,
                        &path,
                        source,
                        watch,
                        start,
                        at,
                        until,
                        None,
                    );
                    return;
                }
                Err(reason) => {
                    self.warn_once(format!("emergency file {}: {reason}", path.display()))
                }
            }
        }
        // Nothing to play: remember the silence so the walk moves past it.
        self.silences.push(Arranged {
            id: 0,
            start: at,
            end: Some(until.unwrap_or(at + self.horizon())),
            slot: None,
        });
    }

    #[allow(clippy::too_many_arguments)]
    fn cue_fill(
        &mut self,
        role: Role,
        path: &Path,
        source: Source,
        watch: SourceWatch,
        start: Start,
        at: DateTime<Utc>,
        until: Option<DateTime<Utc>>,
        length: Option<TimeDelta>,
    ) {
        let id = self.take_id();
        self.send(Command::Cue {
            id,
            source,
            start,
            hard_end: until.map(|u| self.sample(u)),
            fade: self.fade_for(at, length, until),
        });
        let (kind, title) = match role {
            Role::Emergency => (Kind::Emergency, format!("Emergency: {}", stem(path))),
            _ => (Kind::Filler, stem(path)),
        };
        self.items.insert(
            id,
            Item {
                role,
                kind,
                title,
                file: path.to_path_buf(),
                slot: None,
                offset: TimeDelta::zero(),
                start: at,
                hard_end: until,
                length,
                started: false,
                log_id: None,
                watch,
                substitution: None,
                tracks: None,
            },
        );
    }

    /// The last resort, kept ready in the engine: the emergency file starts
    /// by itself if nothing has been on air for half a second.
    async fn arm_standby(&mut self) {
        let Some(path) = self.config.library.emergency.clone() else {
            return;
        };
        match self.open(&path, TimeDelta::zero(), true).await {
            Ok((source, _, watch)) => {
                let id = self.take_id();
                let after = self.config.audio.sample_rate / 2;
                self.send(Command::Standby { id, source, after });
                self.standby = Some(id);
                self.items.insert(
                    id,
                    Item {
                        role: Role::Emergency,
                        kind: Kind::Emergency,
                        title: format!("Emergency: {}", stem(&path)),
                        file: path,
                        slot: None,
                        offset: TimeDelta::zero(),
                        start: DateTime::<Utc>::MAX_UTC,
                        hard_end: None,
                        length: None,
                        started: false,
                        log_id: None,
                        watch,
                        substitution: None,
                        tracks: None,
                    },
                );
            }
            Err(reason) => self.warn_once(format!("emergency file {}: {reason}", path.display())),
        }
    }

    /// The slots changed: everything not yet on air is taken back and
    /// arranged again; what is on air gets the new next start as its end.
    fn rearrange(&mut self) {
        let earliest = self.engine_time() + self.margin();
        let waiting: Vec<ItemId> = self
            .items
            .iter()
            .filter(|(id, item)| !item.started && Some(**id) != self.standby)
            .map(|(&id, _)| id)
            .collect();
        let mut returned = Vec::new();
        for id in waiting {
            self.send(Command::Stop { id, fade: 0 });
            // Forget it now: its Cancelled event finds nothing to log.
            if let Some(item) = self.items.remove(&id)
                && item.role == Role::Filler
            {
                returned.push((item.start, item.file));
            }
        }
        // Latest dealt goes back first, so the earliest is dealt again first.
        returned.sort_by_key(|r| std::cmp::Reverse(r.0));
        if let Some(deck) = self.filler.as_mut() {
            for (_, file) in returned {
                deck.put_back(file);
            }
        }
        self.silences.clear();
        let present: HashSet<SlotKey> = self.slots.iter().map(SlotKey::of).collect();
        let next_start = |t: DateTime<Utc>| {
            self.slots
                .iter()
                .map(|s| s.programme.start)
                .find(|&s| s > t)
        };
        let mut moves = Vec::new();
        for (&id, item) in &self.items {
            if !item.started || Some(id) == self.standby {
                continue;
            }
            let still_scheduled = item.slot.as_ref().is_none_or(|k| present.contains(k));
            // A programme keeps its slot's end (a booking may end before the
            // next start); filler runs to the next start.
            let new_end = match &item.slot {
                Some(key) => self
                    .slots
                    .iter()
                    .find(|s| SlotKey::of(s) == *key)
                    .and_then(|s| s.hard_end),
                None => next_start(item.start.max(earliest - self.margin())),
            };
            if still_scheduled && new_end != item.hard_end {
                moves.push((id, new_end));
            }
        }
        for (id, end) in moves {
            match end {
                Some(end) => {
                    let at = self.sample(end.max(earliest));
                    self.send(Command::EndAt {
                        id,
                        at,
                        fade: self.fade,
                    });
                }
                None => {
                    // No next start any more: it may play to its natural end.
                    self.send(Command::EndAt {
                        id,
                        at: u64::MAX,
                        fade: self.fade,
                    });
                }
            }
            if let Some(item) = self.items.get_mut(&id) {
                item.hard_end = end;
            }
        }
    }
}

// What the engine reports.
impl Director {
    async fn handle_events(&mut self) {
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

    fn started(&mut self, id: ItemId, at: u64) {
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

    fn ended(&mut self, id: ItemId, at: u64, how: EndHow) {
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
    fn close_for_stop(&mut self) {
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

// Tracks inside programmes.
impl Director {
    /// The track list beside a programme file, with the tracks of this slot
    /// the log already has. A list that cannot be read is a warning, and
    /// the programme airs without it.
    fn track_follower(
        &mut self,
        file: &Path,
        scheduled: DateTime<Utc>,
    ) -> Option<tracks::TrackFollower> {
        match crate::tracks::track_list_for(file) {
            Ok(Some(list)) => {
                let logged = asrun::tracks_logged(&self.track_history, file, scheduled);
                Some(tracks::TrackFollower::new(list, logged))
            }
            Ok(None) => None,
            Err(e) => {
                self.warn_once(format!("{e}; the programme airs without its track list"));
                None
            }
        }
    }

    /// Logs each track as it goes on air (once per slot, across restarts)
    /// and gives the streams its title.
    fn follow_tracks(&mut self) {
        let heard = self.on_air_time();
        let mut titles = Vec::new();
        for item in self.items.values_mut() {
            let (true, Some(follower), Some(slot)) =
                (item.started, item.tracks.as_mut(), &item.slot)
            else {
                continue;
            };
            for (index, began) in follower.advance(item.start, item.offset, heard) {
                let track = &follower.list.tracks[index];
                if let Some(open) = follower.open.take()
                    && let Err(e) = self.log.finish(open, began, Ended::Natural, None)
                {
                    error!(
                        "as-run log: cannot close a track of \"{}\": {e}",
                        item.title
                    );
                }
                titles.push(track.now_playing());
                if !follower.logged.insert(track.offset_ms()) {
                    continue;
                }
                info!("track: {} ({})", track.now_playing(), item.title);
                let entry = NewTrack::of(track, &item.title, &item.file, slot.start, began);
                match self.log.begin_track(entry) {
                    Ok(id) => follower.open = Some(id),
                    Err(e) => error!(
                        "as-run log: cannot record a track of \"{}\": {e}",
                        item.title
                    ),
                }
            }
        }
        if let Some(title) = titles.last() {
            for (_, stats) in &self.outputs {
                if let Some(stream) = &stats.stream {
                    stream.set_title(title);
                }
            }
        }
    }
}

// The published status.
impl Director {
    /// Logs each stream going up or down: once when it first comes up or
    /// first fails, then at every change between up and down (not at every
    /// failed attempt of a server that stays away).
    fn log_streams(&mut self) {
        use crate::output::icecast::Connection;
        use std::sync::atomic::Ordering::Relaxed;
        self.streams_logged.resize(self.outputs.len(), None);
        let at = self.on_air_time();
        for ((name, stats), logged) in self.outputs.iter().zip(&mut self.streams_logged) {
            let Some(stream) = &stats.stream else {
                continue;
            };
            let reconnects = stream.reconnects.load(Relaxed);
            let (up, reason) = match stream.connection() {
                Connection::Connecting => continue,
                Connection::Connected { .. } => (true, None),
                Connection::Retrying { reason, .. } | Connection::Refused { reason, .. } => {
                    (false, Some(reason))
                }
            };
            let mut events = Vec::new();
            match *logged {
                Some((was_up, _)) if was_up != up => events.push((up, reason)),
                // Down and up again between two looks: both are logged.
                Some((true, before)) if up && reconnects > before => {
                    let lost = "lost and made again between two status updates".to_string();
                    events.push((false, Some(lost)));
                    events.push((true, None));
                }
                Some(_) => {}
                None => events.push((up, reason)),
            }
            *logged = Some((up, reconnects));
            for (up, reason) in events {
                let event = StreamEvent {
                    at,
                    output: name.clone(),
                    up,
                    reason,
                };
                if let Err(e) = self.log.stream_event(event) {
                    error!("as-run log: cannot record that {name} went up or down: {e}");
                }
            }
        }
    }

    fn publish(&self) {
        let now = self.on_air_time();
        let on_air = self
            .items
            .values()
            .filter(|i| i.started && i.start <= now)
            .max_by_key(|i| i.start);
        let mode = match on_air.map(|i| i.role) {
            Some(Role::Programme) => Mode::Auto,
            Some(Role::Filler) => Mode::Filler,
            Some(Role::Emergency) => Mode::Emergency,
            None => Mode::Silent,
        };
        let next = self
            .slots
            .iter()
            .find(|s| s.programme.start > now && !self.done.contains(&SlotKey::of(s)))
            .map(|s| status::Next {
                title: s.programme.title.clone(),
                start: s.programme.start,
                file: s.programme.path.display().to_string(),
            });
        let meters = &self.engine.meters;
        let level = |peak: f32| {
            if peak > 0.0 {
                20.0 * peak.log10()
            } else {
                -120.0
            }
        };
        let (l, r) = meters.peak();
        let recent = self.log.recent(10).unwrap_or_default();
        let mut warnings = self.warnings.clone();
        let tz = self.config.station.timezone;
        warnings.extend(self.booked.problems().iter().map(|p| {
            format!(
                "pre-air check, {}: {p}",
                p.start.with_timezone(&tz).format("%a %H:%M")
            )
        }));
        let calendar = self.calendar.as_ref().map(|c| c.snapshot().state);
        if let Some(state) = &calendar
            && let (Some(since), Some(problem)) = (state.stale_since, &state.problem)
        {
            let copy = match state.loaded_at {
                Some(at) => format!(
                    "the copy from {} is used",
                    at.with_timezone(&tz).format("%Y-%m-%d %H:%M")
                ),
                None => "there is no earlier copy: only the programme files air".to_string(),
            };
            warnings.push(format!(
                "calendar stale since {}: {problem}; {copy}",
                since.with_timezone(&tz).format("%Y-%m-%d %H:%M")
            ));
        }
        if mode == Mode::Silent {
            warnings.push("silent: no programme, filler or emergency file can play".into());
        }
        let listen = |output: usize| {
            self.listen_back
                .iter()
                .find(|link| link.output == output)
                .map(|link| link.state())
        };
        for (output, (name, _)) in self.outputs.iter().enumerate() {
            if let Some(heard) = listen(output)
                && let Some(reason) = &heard.reason
            {
                warnings.push(format!(
                    "{name}: listeners hear nothing ({}): {reason}",
                    heard.state.words()
                ));
            }
        }
        let snapshot = Status {
            station: self.config.station.name.clone(),
            timezone: self.config.station.timezone.name().to_string(),
            now: Some(now),
            mode,
            on_air: on_air.map(|i| status::OnAir {
                title: i.title.clone(),
                kind: i.kind,
                file: i.file.display().to_string(),
                started: i.start,
                ends: i.expected_end(),
                offset_ms: i.offset.num_milliseconds().max(0) as u64,
                track: i.tracks.as_ref().and_then(|t| t.now_playing()),
            }),
            next,
            recent,
            outputs: self
                .outputs
                .iter()
                .enumerate()
                .map(|(output, (name, s))| {
                    use std::sync::atomic::Ordering::Relaxed;
                    status::OutputState {
                        name: name.clone(),
                        frames_out: s.frames_out.load(Relaxed),
                        frames_dropped: s.frames_dropped.load(Relaxed),
                        frames_underrun: s.frames_underrun.load(Relaxed),
                        errors: s.errors.load(Relaxed),
                        stream: s.stream.as_ref().map(|link| link.state()),
                        listen: listen(output),
                    }
                })
                .collect(),
            level_db: [level(l), level(r)],
            underruns: meters.underrun_frames(),
            ignored: self.ignored.clone(),
            calendar,
            pre_air: self
                .booked
                .problems()
                .iter()
                .map(|p| status::PreAirProblem {
                    start: p.start,
                    title: p.title.clone(),
                    problem: p.problem.clone(),
                    substitute: p.substitute.as_ref().map(|s| s.display().to_string()),
                })
                .collect(),
            warnings,
            simulated_speed: match self.clock {
                Clock::Wall => None,
                Clock::Simulated { speed, .. } => Some(speed),
            },
            published: Some(Instant::now()),
        };
        self.status.send_replace(snapshot);
    }
}

fn settled(path: &Path) -> bool {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .is_ok_and(|t| t.elapsed().is_ok_and(|age| age >= schedule::SETTLE))
}

fn stem(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

fn fmt_offset(d: TimeDelta) -> String {
    let s = d.num_seconds();
    format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}
