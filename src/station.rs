//! `onair run`: puts the parts together — clock, as-run log, front panel,
//! outputs and the archive, engine, listen-back, director, web, job queue — and takes them down in order on
//! SIGTERM/SIGINT.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use chrono::TimeDelta;
use tokio::sync::watch;
use tracing::info;

use crate::archive::{self, ArchiveSettings};
use crate::asrun::{AsRunReader, AsRunWriter, SledWriter};
use crate::clock::{Clock, Timeline};
use crate::config::Config;
use crate::director::{ArchiveWiring, CommandQueue, Controls, Director, LiveWiring, Wiring};
use crate::engine::{self, EngineSettings, LiveInput};
use crate::hw::FrontPanel;
use crate::jobs::Jobs;
use crate::listen_back;
use crate::output::{self, OutputContext};
use crate::pacing;
use crate::panel;
use crate::recorder::scheduler::RecorderTask;
use crate::schedule::resolve_local;
use crate::service::{self, Service};
use crate::status::Status;
use crate::web;

/// Where a running box says which address its web server listens on, so
/// that `onair log` can ask it while it holds the as-run log.
pub const WEB_ADDRESS_FILE: &str = "web-address";

/// Real time between opening the outputs and their first sample.
const STARTUP: std::time::Duration = std::time::Duration::from_millis(250);

pub fn web_address_file(config: &Config) -> PathBuf {
    config.data.dir.join(WEB_ADDRESS_FILE)
}

/// The station clock the configuration asks for.
pub fn clock(config: &Config) -> Result<Clock> {
    Ok(match &config.clock {
        None => Clock::Wall,
        Some(sim) => {
            let (start, _) = resolve_local(config.station.timezone, sim.start);
            Clock::simulated(start, sim.speed, &config.data.dir)?
        }
    })
}

/// The station clock as `onair schedule` and `onair log` see it: the same
/// time as the box, without starting a simulated timeline of their own.
pub fn clock_for_reading(config: &Config) -> Clock {
    match &config.clock {
        None => Clock::Wall,
        Some(sim) => {
            let (start, _) = resolve_local(config.station.timezone, sim.start);
            Clock::simulated_read_only(start, sim.speed, &config.data.dir)
        }
    }
}

pub async fn run(config: Config) -> Result<()> {
    // Watched from the start: a stop asked for while the box is still
    // starting (systemd stopping it early) becomes an orderly stop as soon
    // as it is up, instead of killing it half-started.
    let stop = shutdown_signal()?;
    let stop = async {
        stop.await;
        service::stopping();
    };
    // The front panel, the web server and the control socket give commands.
    let (controls, commands) = crate::director::channel();
    run_with(config, controls, commands, stop).await?;
    info!("stopped");
    Ok(())
}

/// `onair run` with the director's commands from `commands` (the front
/// panel, the web server and the control socket send theirs with
/// `controls`) and a stop when `stop` resolves instead of SIGTERM: the box
/// as a program that embeds it (or a test) drives it.
pub async fn run_with(
    config: Config,
    controls: Controls,
    commands: CommandQueue,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<()> {
    // Next, so that a port in use stops the box before it has written
    // anything (an output file, a simulated timeline).
    let listener = tokio::net::TcpListener::bind(config.web.listen)
        .await
        .with_context(|| {
            format!(
                "cannot listen on {} (web.listen): stop the program using that port, or set \
                 web.listen to a free one (port 0 picks one)",
                config.web.listen
            )
        })?;
    let data = &config.data.dir;
    std::fs::create_dir_all(data).with_context(|| {
        format!(
            "cannot create the data folder {}: check the path and its permissions",
            data.display()
        )
    })?;
    let clock = clock(&config)?;
    // The director is the log's one writer; the web server only reads it.
    let log = SledWriter::open(data)?;

    // Serving from the moment the log is held, so that `onair log` always
    // has the box to ask while it cannot open the log itself.
    let (status_tx, status_rx) = watch::channel(Status {
        station: config.station.name.clone(),
        timezone: config.station.timezone.name().to_string(),
        ..Status::default()
    });
    // The panel's lamps go off before any audio starts, and stay off until
    // the director's status lights them; dropped at the end: off again.
    let panel = front_panel(&config, controls.clone(), status_rx.clone());
    // The display shows the status from now on; a display that is missing
    // or fails is a warning, never a reason not to play.
    let screen = panel::screen::start(&config.panel.display, status_rx.clone(), clock)?;
    let address: SocketAddr = listener.local_addr()?;
    let socket_path = config.web.control_socket.clone();
    let socket = web::local::bind(&socket_path)?;
    // The job queue shares the log's database: sled opens a folder once.
    let jobs = Jobs::open(log.database(), &config, clock)?;
    let state = web::State {
        status: status_rx,
        log: Arc::new(log.reader()) as Arc<dyn AsRunReader>,
        timezone: config.station.timezone,
        clock,
        panel: screen.mirror(),
        controls,
        buttons: panel.as_ref().and_then(FrontPanel::sim_buttons),
        access: Arc::new(web::Access::new(
            data,
            std::time::Duration::from_secs(u64::from(config.web.session_idle_hours) * 3600),
            config.web.read_requires_login,
        )),
        archive: config.archive.as_ref().map(|a| web::archive::ArchiveView {
            root: a.dir.clone(),
            best: Arc::default(),
            segment_seconds: a.segment_seconds,
        }),
    };
    tokio::spawn(web::serve_with_jobs(
        listener,
        state.clone(),
        Some(jobs.clone()),
    ));
    tokio::spawn(web::local::serve_with_jobs(
        socket,
        state,
        Some(jobs.clone()),
    ));
    let runner = jobs
        .start()
        .context("cannot start the job queue's thread")?;
    let address_file = web_address_file(&config);
    write_web_address(&address_file, address)?;
    info!(
        "status page on http://{address}/, control socket {}",
        socket_path.display()
    );
    let result = on_air(config, clock, log, status_tx, commands, jobs.clone(), stop).await;
    // A hook at work is killed and its job marked interrupted: it runs
    // again at the next start.
    tokio::task::spawn_blocking(move || runner.stop())
        .await
        .ok();
    screen.stop();
    let _ = std::fs::remove_file(&address_file);
    let _ = std::fs::remove_file(&socket_path);
    result
}

async fn on_air(
    config: Config,
    clock: Clock,
    log: SledWriter,
    status_tx: watch::Sender<Status>,
    commands: CommandQueue,
    jobs: Jobs,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let rate = config.audio.sample_rate;
    // The first sample goes out a moment from now, so that the director has
    // cued what belongs on air (after a crash: the programme at its offset)
    // before the engine starts: the outputs begin with it, not with a gap.
    let timeline = Timeline {
        rate,
        anchor: clock.now()
            + clock
                .station(STARTUP)
                .max(TimeDelta::from_std(STARTUP).unwrap_or_default()),
    };
    let context = OutputContext {
        rate,
        timeline,
        clock,
        timezone: config.station.timezone,
        station: config.station.name.clone(),
    };
    // The archive subscribes to a stream's encoder (or gets its own); its
    // writer stops with the outputs, after the encoder that feeds it.
    // An archive folder refused at start (a filesystem that cannot hold
    // the names) is an alarm, not a box off air.
    let mut archive_wiring = None;
    let mut archive = match &config.archive {
        Some(archive) => match archive::start(ArchiveSettings {
            dir: archive.dir.clone(),
            channel: archive.channel.clone(),
            bitrate: archive.bitrate,
            segment_seconds: archive.segment_seconds,
            anchor: timeline.anchor,
            engine_rate: rate,
            retention: archive::retention::Retention {
                keep_days: archive.keep_days,
                min_free_bytes: archive.min_free_mb.map(|mb| mb * 1024 * 1024),
            },
        }) {
            Ok(started) => {
                archive_wiring = Some(ArchiveWiring::Writing(started.stats.clone()));
                Some(started)
            }
            Err(e) => {
                tracing::error!("{e}");
                archive_wiring = Some(ArchiveWiring::Refused(e.to_string()));
                None
            }
        },
        None => None,
    };
    let subscriptions = archive
        .as_mut()
        .and_then(|a| a.subscription.take())
        .into_iter()
        .collect();
    let mut opened = output::open_with(&config.outputs, subscriptions, &context)?;
    if let Some(archive) = archive {
        info!(
            "archive: {} ({} kbit/s, {} s segments)",
            archive.name,
            config.archive.as_ref().map_or(0, |a| a.bitrate),
            config.archive.as_ref().map_or(0, |a| a.segment_seconds)
        );
        opened
            .outputs
            .adopt(archive.name, archive.stats, archive.stop, archive.thread);
    }
    let stats = opened.outputs.stats();
    // A device plays a sample only after what its ring already holds: the
    // first block is made that much before the anchor, so that sample 0 is
    // heard at the anchor.
    let device_latency = opened
        .master
        .map(|i| opened.taps[i].ring.buffer().capacity() / output::CHANNELS)
        .map(|frames| crate::clock::samples_to_delta(frames as i64, rate))
        .unwrap_or_default();
    let settings = EngineSettings {
        timeline,
        clock,
        block_frames: pacing::block_frames(rate),
        lead: clock
            .station(pacing::CLOCK_LEAD)
            .max(TimeDelta::from_std(pacing::CLOCK_LEAD).unwrap_or_default())
            .max(device_latency),
        silence_db: config.silence.threshold_db,
    };
    let device_paced = opened.master.is_some();
    // The studio's input: the engine reads its ring from the start; the
    // director opens the device beside the air and keeps it open, so a
    // missing or hanging device never delays automation or stops it.
    let mut live_input = config
        .live
        .as_ref()
        .map(|live| LiveInput::new(&live.device, rate));
    let feed = live_input.as_mut().and_then(LiveInput::feed);
    let engine = engine::start_with_live(settings, opened.taps, opened.master, feed)?;
    service::arm_stall_hook(engine.stall_switch())?;
    // Ready, the watchdog and the status line, when systemd runs the box.
    let service = Service::start(
        Arc::clone(&engine.meters),
        status_tx.subscribe(),
        config.station.timezone,
    );
    let listen_back = listen_back::start(&config.listen_back, engine.meters.clone(), rate, clock)?;

    info!(
        "{} on air: programmes from {}, {} output(s)",
        config.station.name,
        config.library.programmes.display(),
        config.outputs.len()
    );
    // Other stations' streams, on threads of their own beside playout.
    let recorder = RecorderTask::start(&config, clock, Some(jobs));
    let director = Director::new(Wiring {
        config: config.clone(),
        clock,
        engine,
        log: Box::new(log) as Box<dyn AsRunWriter>,
        outputs: stats,
        listen_back: listen_back.links(),
        status: status_tx,
        device_paced,
        commands,
        live: live_input.map(LiveWiring::new),
        archive: archive_wiring,
        recordings: recorder.as_ref().map(|r| r.views.clone()),
    });
    // On the runtime's workers, not this thread: the worker that finds a
    // deadline due runs the director itself instead of waking this thread.
    let engine = match tokio::spawn(director.run(stop)).await {
        Ok(engine) => engine,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => anyhow::bail!("the director was cancelled: {e}"),
    };
    info!("stopping");
    if let Some(service) = service {
        service.stop();
    }
    if let Some(recorder) = recorder {
        recorder.stop();
    }
    listen_back.stop();
    engine.shutdown();
    if let Err(e) = opened.outputs.shutdown() {
        tracing::error!("{e}");
    }
    Ok(())
}

/// The front panel, or none when its pins cannot be had: the box plays on
/// without its buttons rather than not at all.
fn front_panel(
    config: &Config,
    controls: Controls,
    status: watch::Receiver<Status>,
) -> Option<FrontPanel> {
    FrontPanel::start(&config.panel, controls, status)
        .inspect_err(|e| tracing::error!("the front panel's buttons and lamps are off: {e}"))
        .ok()
}

fn write_web_address(path: &Path, address: SocketAddr) -> Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, address.to_string())
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// Resolves at SIGTERM or SIGINT (Ctrl-C); both are watched from the call on.
fn shutdown_signal() -> Result<impl std::future::Future<Output = ()> + Send + 'static> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("cannot watch for SIGTERM")?;
    let mut interrupt = signal(SignalKind::interrupt()).context("cannot watch for SIGINT")?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => info!("SIGTERM received"),
            _ = interrupt.recv() => info!("SIGINT received"),
        }
    })
}
