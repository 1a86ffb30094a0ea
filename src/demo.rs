//! `onair demo`: a demo station for a developer machine. It writes the demo
//! configuration into a folder of its own, generates short tone-coded
//! programmes due in the next minutes plus a filler folder and an emergency
//! file, and runs the station on the wall clock.

use std::f32::consts::TAU;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::{Context, Result};
use chrono::{DateTime, TimeDelta, Timelike, Utc};
use chrono_tz::Tz;
use tracing::info;

use crate::config::{Config, DEMO_CONFIG, OutputConfig};
use crate::station;

/// The demo's programmes: title slug, base frequency, length in seconds.
const PROGRAMMES: [(&str, f32, u32); 6] = [
    ("breakfast-show", 440.0, 70),
    ("news", 523.25, 40),
    ("jazz-hour", 392.0, 150),
    ("weather", 587.33, 30),
    ("drivetime", 349.23, 90),
    ("late-news", 659.25, 45),
];
/// Generated audio is 22.05 kHz mono: small files, and the engine resamples.
const RATE: u32 = 22_050;

pub fn default_dir() -> PathBuf {
    let base = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("onair").join("demo")
}

pub async fn run(dir: Option<PathBuf>, listen: Option<SocketAddr>) -> Result<()> {
    let dir = dir.unwrap_or_else(default_dir);
    let mut config = prepare(&dir, Utc::now())?;
    if let Some(listen) = listen {
        config.web.listen = listen;
    }
    info!(
        "demo station in {}: status page on http://{}/",
        dir.display(),
        config.web.listen
    );
    station::run(config).await
}

/// Writes the demo station into `dir` for a start at `now` and returns its configuration.
pub fn prepare(dir: &Path, now: DateTime<Utc>) -> Result<Config> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create the demo folder {}", dir.display()))?;
    let config_path = dir.join("demo.toml");
    std::fs::write(&config_path, DEMO_CONFIG)
        .with_context(|| format!("cannot write {}", config_path.display()))?;
    let mut config = Config::parse(DEMO_CONFIG, &config_path)?;
    if sound_card_present() {
        config.outputs = vec![OutputConfig::Alsa {
            device: "default".into(),
        }];
        info!("a sound card is present: the demo plays on ALSA \"default\"");
    } else {
        info!("no sound card: the demo plays to the null output (watch the status page)");
    }

    let programmes = &config.library.programmes;
    // Earlier demo runs left programmes in the past: start afresh.
    let _ = std::fs::remove_dir_all(programmes);
    std::fs::create_dir_all(programmes)?;
    let tz = config.station.timezone;
    let first = next_minute(now, tz) + TimeDelta::minutes(1);
    for (i, (slug, freq, seconds)) in PROGRAMMES.iter().cycle().take(15).enumerate() {
        let start = (first + TimeDelta::minutes(2 * i as i64)).with_timezone(&tz);
        let name = format!("{}_{}.wav", start.format("%Y%m%d_%H%M"), slug);
        write_tune(&programmes.join(name), *freq, *seconds, i as u32)?;
    }
    if let Some(filler) = &config.library.filler {
        std::fs::create_dir_all(filler)?;
        for (i, freq) in [261.63f32, 293.66, 329.63, 369.99].iter().enumerate() {
            let path = filler.join(format!("filler-{}.wav", i + 1));
            if !path.exists() {
                write_tune(&path, *freq, 25, 100 + i as u32)?;
            }
        }
    }
    if let Some(emergency) = &config.library.emergency
        && !emergency.exists()
    {
        write_tune(emergency, 220.0, 12, 999)?;
    }
    // Everything here was written whole just now; the box airs only files
    // that have stopped changing, so date them back rather than wait.
    let earlier = std::time::SystemTime::now() - std::time::Duration::from_secs(60);
    for folder in [Some(programmes.clone()), config.library.filler.clone()]
        .into_iter()
        .flatten()
    {
        for entry in std::fs::read_dir(&folder)?.flatten() {
            std::fs::File::options()
                .write(true)
                .open(entry.path())?
                .set_modified(earlier)?;
        }
    }
    if let Some(emergency) = &config.library.emergency {
        std::fs::File::options()
            .write(true)
            .open(emergency)?
            .set_modified(earlier)?;
    }
    Ok(config)
}

fn next_minute(now: DateTime<Utc>, tz: Tz) -> DateTime<Utc> {
    let local = now.with_timezone(&tz);
    let whole = local
        .with_second(0)
        .and_then(|t| t.with_nanosecond(0))
        .unwrap_or(local);
    (whole + TimeDelta::minutes(1)).with_timezone(&Utc)
}

fn sound_card_present() -> bool {
    std::fs::read_dir("/dev/snd")
        .map(|entries| {
            entries.flatten().any(|e| {
                e.file_name().to_string_lossy().starts_with("pcmC")
                    && e.file_name().to_string_lossy().ends_with('p')
            })
        })
        .unwrap_or(false)
}

/// A gentle pentatonic phrase on `base`, so each programme is recognisable
/// by ear (and by a Goertzel filter on its base note).
fn write_tune(path: &Path, base: f32, seconds: u32, seed: u32) -> Result<()> {
    const STEPS: [f32; 5] = [1.0, 9.0 / 8.0, 5.0 / 4.0, 3.0 / 2.0, 5.0 / 3.0];
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: RATE,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut writer = hound::WavWriter::create(path, spec)
        .with_context(|| format!("cannot write {}", path.display()))?;
    let note_len = RATE as usize / 2;
    let total = (RATE * seconds) as usize;
    let mut phase = 0.0f32;
    for n in 0..total {
        let note = n / note_len;
        let step = STEPS[(note * 3 + seed as usize) % STEPS.len()];
        let freq = if note.is_multiple_of(4) {
            base
        } else {
            base * step
        };
        phase = (phase + TAU * freq / RATE as f32) % TAU;
        let within = (n % note_len) as f32 / note_len as f32;
        let envelope = (within * 20.0).min(1.0) * (1.0 - within).powf(0.5);
        let sample = 0.3 * envelope * phase.sin();
        writer.write_sample((sample * i16::MAX as f32) as i16)?;
    }
    writer.finalize()?;
    // The file is whole before the station starts: dated back, the first
    // look at the folders takes it at once instead of letting it settle
    // (the demo would open on the emergency file until then).
    let written_earlier = SystemTime::now() - 2 * crate::schedule::SETTLE;
    std::fs::File::options()
        .write(true)
        .open(path)
        .and_then(|f| f.set_modified(written_earlier))
        .with_context(|| format!("cannot date {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_station_has_programmes_in_the_next_minutes_and_loads() {
        let dir = std::env::temp_dir().join(format!("onair-demo-test-{}", std::process::id()));
        let now = Utc::now();
        let config = prepare(&dir, now).unwrap();
        // Looked at right away: the generated files need no time to settle.
        let scan = crate::schedule::scan_now(
            &config.library.programmes,
            config.station.timezone,
            SystemTime::now(),
        )
        .unwrap();
        assert_eq!(
            scan.programmes.len(),
            15,
            "ignored: {:?}",
            scan.ignored.iter().map(|i| &i.reason).collect::<Vec<_>>()
        );
        let first = scan.programmes.iter().map(|p| p.start).min().unwrap();
        assert!(
            first > now && first <= now + TimeDelta::minutes(2),
            "first programme at {first}, now {now}"
        );
        assert!(config.library.emergency.as_ref().unwrap().exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
