//! The director: owns the plan, the as-run log and the engine's cue list.
//!
//! It is the only writer of the as-run log (it holds the one writer). It
//! sleeps until one of its deadlines, a command (live, auto, skip) or the
//! engine's event bell wakes it; then it logs what the engine reports (what
//! started and ended, at which sample) and arranges what comes next far
//! enough ahead that the engine always has its next item cued: scheduled
//! programmes at their exact start, filler chained gaplessly in between and
//! faded out at the next start, the emergency file when there is no filler.
//! After a crash it reads the log and joins the programme that should be on
//! air at the right offset.

mod alarm;
mod alarms;
mod archive_watch;
pub mod arrange;
mod bookings;
mod boundaries;
mod commands;
mod cueing;
mod drift;
mod library;
mod live;
pub mod preair;
mod publish;
mod reports;
mod resume;
mod tracks;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use tokio::sync::watch;
use tracing::{error, info, warn};

use crate::asrun::{AsRunWriter, Entry, Kind, Substitution};
use crate::clock::{Clock, Timeline, delta_to_samples};
use crate::config::Config;
use crate::engine::{Engine, ItemId, SourceWatch};
use crate::listen_back::ListenLink;
use crate::output::OutputStats;
use crate::pacing;
use crate::schedule::{FillerDeck, FolderChanges, FolderWatch, Slot};
use crate::status::{self, Status};
pub use archive_watch::ArchiveWiring;
use arrange::{Arranged, SlotKey};
pub use commands::{Command, CommandError, CommandQueue, Controls, Done, Who, channel};
pub use live::LiveWiring;

/// The director's deadlines (real time). It does its work when one is due
/// and sleeps in between, since every wake of the runtime is CPU the Pi
/// takes from the audio. Cues are placed seconds ahead and the engine
/// starts them to the sample, so none of these bounds how exactly anything
/// airs, only how soon it is noticed.
///
/// The programme and filler folders are looked at again, and the as-run
/// log's heartbeat written, every second: new files are on air within
/// seconds of being dropped in, and a crash loses at most a second of the
/// log's view of what was on air. A look reads a folder only when it
/// changed (`schedule::changes`).
const RESCAN_EVERY: Duration = Duration::from_secs(1);
/// The look ahead: cues within the horizon (seconds ahead), tracks begun,
/// streams up or down, the status snapshot (twice a second is plenty for
/// a page a person reads; what goes on or off air wakes the director at
/// once through the engine's bell). On a fast simulated clock it is at most
/// `LOOK_SPAN` of station time apart, so that what a test sees in the
/// status and the log keeps up with the programme.
const LOOK_EVERY: Duration = Duration::from_millis(500);
const LOOK_SPAN: TimeDelta = TimeDelta::seconds(1);
/// Readings of a sound card's drift, averaged over a second.
const DRIFT_EVERY: Duration = Duration::from_millis(50);

/// When each of the director's jobs is next due.
struct Deadlines {
    rescan: Instant,
    look: Instant,
    drift: Instant,
}

impl From<Instant> for Deadlines {
    fn from(now: Instant) -> Self {
        Deadlines {
            rescan: now + RESCAN_EVERY,
            look: now,
            drift: now,
        }
    }
}

impl Deadlines {
    fn next(&self, drift: bool) -> Instant {
        let next = self.rescan.min(self.look);
        if drift { next.min(self.drift) } else { next }
    }
}

/// What the director needs from the rest of the box.
pub struct Wiring {
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
    /// Where commands from the panel, the web and the CLI arrive.
    pub commands: CommandQueue,
    /// The studio's input; `None` when the box has none.
    pub live: Option<LiveWiring>,
    /// The archive; `None` when the box keeps none.
    pub archive: Option<ArchiveWiring>,
    /// What the recorder's channels are doing, as its thread last said;
    /// `None` when the box records no other streams.
    pub recordings: Option<Recordings>,
}

/// The recorder's channels as its thread publishes them.
pub type Recordings = Arc<std::sync::Mutex<Vec<crate::recorder::scheduler::RecordingView>>>;

/// Why an item was taken off air other than by the schedule.
#[derive(Clone)]
enum TakenOff {
    /// Skipped (by whom).
    Skipped(String),
    /// The studio took over (who switched).
    Live(String),
    /// It was silent.
    DeadAir,
}

/// One item handed to the engine.
struct Cued {
    /// Programme (scheduled, resumed or substitute), filler or emergency:
    /// the as-run log's word, which also decides the status mode.
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

impl Cued {
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
    slots_made_from: Option<library::MadeFrom>,
    ignored: Vec<status::IgnoredFile>,
    filler: Option<FillerDeck>,
    /// Whether the filler folder needs reading again.
    filler_changes: Option<FolderChanges>,
    /// Filler files played recently, oldest first, to carry the no-repeat
    /// round over a restart.
    filler_history: Vec<PathBuf>,
    /// Slots that must not be aired (again): finished, failed or skipped.
    done: HashSet<SlotKey>,
    /// Slots the as-run log shows cut off by a crash or a stop.
    interrupted: HashSet<SlotKey>,
    items: HashMap<ItemId, Cued>,
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
    commands: tokio::sync::mpsc::Receiver<commands::Request>,
    /// Per listen-back check, the last state written to the log.
    listen_logged: Vec<crate::listen_back::ListenAlarm>,
    live_input: Option<LiveWiring>,
    /// The studio on air, since when and by whom.
    on_live: Option<live::OnLive>,
    /// Items taken off air by the studio or for dead air, until their end is logged.
    taken_off: HashMap<ItemId, TakenOff>,
    /// Slots to start late, from their beginning (their start fell while the studio was live).
    late: HashSet<SlotKey>,
    alarms: Vec<status::Alarm>,
    /// After dead air, the emergency audio holds until this programme start
    /// (`Some(None)`: until AUTO, there being no next programme).
    dead_air_hold: Option<Option<DateTime<Utc>>>,
    archive: Option<archive_watch::ArchiveWatch>,
    recordings: Option<Recordings>,
}

impl Director {
    pub fn new(parts: Wiring) -> Self {
        let Wiring {
            config,
            clock,
            engine,
            log,
            outputs,
            listen_back,
            status,
            device_paced,
            commands,
            live,
            archive,
            recordings,
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
            programmes: Some(
                FolderWatch::new(config.library.programmes.clone(), config.station.timezone)
                    .told_of_changes(),
            ),
            config,
            clock,
            timeline,
            engine,
            log,
            outputs,
            listen_back,
            status,
            slots: Vec::new(),
            slots_made_from: None,
            ignored: Vec::new(),
            filler: None,
            filler_changes: None,
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
            commands: commands.queue,
            listen_logged: Vec::new(),
            live_input: live,
            on_live: None,
            taken_off: HashMap::new(),
            late: HashSet::new(),
            alarms: Vec::new(),
            dead_air_hold: None,
            archive: archive.map(archive_watch::ArchiveWatch::new),
            recordings,
        }
    }

    /// Runs until `stop` resolves, then takes everything off air and closes
    /// the log entries as stopped. Between its deadlines it sleeps; a
    /// command wakes it at once.
    pub async fn run(mut self, stop: impl std::future::Future<Output = ()> + Send) -> Engine {
        tokio::pin!(stop);
        self.recover();
        self.wait_for_calendar().await;
        self.rescan_programmes();
        self.rescan_filler();
        self.arm_standby().await;
        // The studio's input opens beside the air, never before it.
        self.keep_live_input().await;

        let look_every = LOOK_EVERY.min(self.clock.real(LOOK_SPAN));
        let bell = reports::EngineBell::of(&self.engine);
        let alarm = alarm::Alarm::new()
            .inspect_err(|e| {
                warn!("no alarm clock ({e}): the director sleeps on the runtime's timer")
            })
            .ok();
        let mut due = Deadlines::from(Instant::now());
        loop {
            let wake = due.next(self.drift.enabled());
            tokio::select! {
                _ = &mut stop => break,
                Some(request) = self.commands.recv() => {
                    self.handle_events().await;
                    self.obey(request).await;
                    due.look = Instant::now();
                }
                // What went on or off air is logged and shown at once.
                _ = async { bell.as_ref()?.rung().await; Some(()) }, if bell.is_some() => {
                    due.look = Instant::now();
                }
                _ = async {
                    match &alarm {
                        Some(alarm) => alarm.until(wake).await,
                        None => tokio::time::sleep_until(wake.into()).await,
                    }
                } => {}
            }
            let now = Instant::now();
            if self.drift.enabled() && now >= due.drift {
                due.drift = now + DRIFT_EVERY;
                self.read_drift();
            }
            self.handle_events().await;
            if now >= due.rescan {
                due.rescan = now + RESCAN_EVERY;
                if self.rescan_programmes() {
                    self.rearrange();
                }
                self.rescan_filler();
                if let Err(e) = self.log.heartbeat(self.on_air_time()) {
                    error!("as-run log heartbeat failed: {e}");
                }
                // A new calendar is planned with at once, not at the next look.
                let generation = self.calendar.as_ref().map(|c| c.snapshot().generation);
                if generation != self.calendar_generation {
                    self.calendar_generation = generation;
                    if self.rescan_programmes() {
                        self.rearrange();
                    }
                }
                due.look = now;
            }
            if now >= due.look {
                due.look = now + look_every;
                self.keep_live_input().await;
                self.follow_tracks();
                self.watch_silence().await;
                self.watch_archive();
                self.arrange().await;
                self.log_streams();
                self.log_listen_back();
                self.publish();
            }
        }
        // What ended before the stop is logged as it ended, not as stopped.
        self.handle_events().await;
        self.close_for_stop();
        self.engine
    }

    /// The sound card's drift, read often enough to average out its
    /// period-sized steps.
    fn read_drift(&mut self) {
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
    /// On a fast simulated clock the engine's lead, real time, is long in
    /// station time: the margin is then half as much again as the lead.
    fn margin(&self) -> TimeDelta {
        let margin = TimeDelta::from_std(pacing::CUE_MARGIN).unwrap_or(TimeDelta::seconds(1));
        self.clock.station(pacing::CLOCK_LEAD * 3 / 2).max(margin)
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
