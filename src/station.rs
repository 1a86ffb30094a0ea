//! `onair run`: puts the parts together — clock, as-run log, outputs,
//! engine, director, web — and takes them down in order on SIGTERM/SIGINT.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use chrono::TimeDelta;
use tokio::sync::watch;
use tracing::info;

use crate::asrun::{AsRunLog, SledLog};
use crate::clock::{Clock, Timeline};
use crate::config::Config;
use crate::director::{Director, Parts};
use crate::engine::{self, EngineSettings};
use crate::output::{self, OutputContext};
use crate::schedule::resolve_local;
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

pub async fn run(config: Config) -> Result<()> {
    let data = &config.data.dir;
    std::fs::create_dir_all(data).with_context(|| {
        format!(
            "cannot create the data folder {}: check the path and its permissions",
            data.display()
        )
    })?;
    let clock = clock(&config)?;
    let log: Arc<dyn AsRunLog> = Arc::new(SledLog::open(data)?);

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
    let opened = output::open(&config.outputs, &context)?;
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
        block_frames: (rate as usize / 100).max(64),
        lead: clock
            .station(std::time::Duration::from_millis(20))
            .max(TimeDelta::milliseconds(20))
            .max(device_latency),
    };
    let device_paced = opened.master.is_some();
    let engine = engine::start(settings, opened.taps, opened.master)?;

    let (status_tx, status_rx) = watch::channel(Status::default());
    let listener = tokio::net::TcpListener::bind(config.web.listen)
        .await
        .with_context(|| {
            format!(
                "cannot listen on {} ([web] listen): is another program using it?",
                config.web.listen
            )
        })?;
    let address: SocketAddr = listener.local_addr()?;
    write_web_address(&web_address_file(&config), address)?;
    info!("status page on http://{address}/");
    let state = web::State {
        status: status_rx,
        log: log.clone(),
        timezone: config.station.timezone,
    };
    tokio::spawn(web::serve(listener, state));

    info!(
        "{} on air: programmes from {}, {} output(s)",
        config.station.name,
        config.library.programmes.display(),
        config.outputs.len()
    );
    let director = Director::new(Parts {
        config: config.clone(),
        clock,
        engine,
        log,
        outputs: stats,
        status: status_tx,
        device_paced,
    });
    let engine = director.run(shutdown_signal()).await;
    info!("stopping");
    engine.shutdown();
    if let Err(e) = opened.outputs.shutdown() {
        tracing::error!("{e}");
    }
    let _ = std::fs::remove_file(web_address_file(&config));
    Ok(())
}

fn write_web_address(path: &Path, address: SocketAddr) -> Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, address.to_string())
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (term, int) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    );
    match (term, int) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => info!("SIGTERM received"),
                _ = int.recv() => info!("SIGINT received"),
            }
        }
        (Err(e), _) | (_, Err(e)) => {
            // Without signal handling the box can still be stopped by
            // SIGKILL, and the as-run log survives that.
            tracing::error!("cannot handle SIGTERM/SIGINT ({e}): stop the box with SIGKILL");
            std::future::pending::<()>().await;
        }
    }
}
