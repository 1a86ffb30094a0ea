//! The archive's reading side on a generated archive of 6 s segments: a
//! 12-hour playlist cold (a fresh cache: every hour folder read and its
//! names parsed) and warm (the folders read again, nothing parsed), the
//! coverage of every hour cold and warm, and a 1-hour MP3 cut beside
//! reading the same segments whole (`cat`). Wall-clock times of this
//! process alone, best of the runs; nothing else runs meanwhile.

use std::fmt;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use onair::archive::best::BestCache;
use onair::archive::cut::Cut;
use onair::archive::names::{SegmentName, SegmentType, content_hash};
use onair::archive::{coverage, id3, playlist};

use super::BenchError;

/// Targets on this machine (research §5 and the issue).
pub const PLAYLIST_WARM: Duration = Duration::from_millis(20);
pub const PLAYLIST_COLD: Duration = Duration::from_millis(200);
pub const COVERAGE_30_DAYS: Duration = Duration::from_secs(2);
/// A 1-hour MP3 cut costs at most this many times reading its segments.
pub const CUT_OVER_CAT: f64 = 2.0;

const SEGMENT_SECONDS: i64 = 6;
/// One 128 kbit/s 48 kHz frame (384 bytes, 24 ms).
const FRAME_BYTES: usize = 384;
const FRAMES_PER_SEGMENT: usize = 250;

#[derive(Debug, Clone)]
pub struct ArchiveRun {
    pub days: u32,
    pub segments: usize,
    pub playlist_cold: Duration,
    pub playlist_warm: Duration,
    pub playlist_bytes: usize,
    pub coverage_cold: Duration,
    pub coverage_warm: Duration,
    pub cut: Duration,
    pub cat: Duration,
    pub cut_bytes: u64,
}

impl ArchiveRun {
    pub fn cut_ratio(&self) -> f64 {
        self.cut.as_secs_f64() / self.cat.as_secs_f64().max(1e-9)
    }

    /// The coverage target is for 30 days; a shorter archive is held to
    /// its share of it.
    fn coverage_target(&self) -> Duration {
        COVERAGE_30_DAYS.mul_f64(f64::from(self.days) / 30.0)
    }

    pub fn passed(&self) -> bool {
        self.playlist_warm <= PLAYLIST_WARM
            && self.playlist_cold <= PLAYLIST_COLD
            && self.coverage_cold <= self.coverage_target()
            && self.cut_ratio() <= CUT_OVER_CAT
    }
}

impl fmt::Display for ArchiveRun {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = |d: Duration| format!("{:.1} ms", d.as_secs_f64() * 1000.0);
        let mark = |ok: bool| if ok { "ok" } else { "OVER" };
        writeln!(
            f,
            "The archive: {} day(s) of 6 s segments ({} files), reading side",
            self.days, self.segments
        )?;
        writeln!(
            f,
            "  12 h playlist, cold: {} (target {}) {}",
            ms(self.playlist_cold),
            ms(PLAYLIST_COLD),
            mark(self.playlist_cold <= PLAYLIST_COLD)
        )?;
        writeln!(
            f,
            "  12 h playlist, warm: {} (target {}) {}; {} KB",
            ms(self.playlist_warm),
            ms(PLAYLIST_WARM),
            mark(self.playlist_warm <= PLAYLIST_WARM),
            self.playlist_bytes / 1024
        )?;
        writeln!(
            f,
            "  coverage of every hour, cold: {} (target {}) {}; warm: {}",
            ms(self.coverage_cold),
            ms(self.coverage_target()),
            mark(self.coverage_cold <= self.coverage_target()),
            ms(self.coverage_warm)
        )?;
        writeln!(
            f,
            "  1 h MP3 cut: {} for {} MB, reading the segments whole {}: {:.2}x (target {CUT_OVER_CAT}x) {}",
            ms(self.cut),
            self.cut_bytes / 1_000_000,
            ms(self.cat),
            self.cut_ratio(),
            mark(self.cut_ratio() <= CUT_OVER_CAT)
        )
    }
}

fn io<'a>(doing: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> BenchError + 'a {
    move |source| BenchError::Io {
        doing,
        path: path.to_path_buf(),
        source,
    }
}

/// Writes `days` of 6 s segments ending at `end` under `quality_dir`:
/// empty files but for the last hour, which holds real frames for the cut.
fn generate(quality_dir: &Path, days: u32, end: DateTime<Utc>) -> Result<usize, BenchError> {
    let mut frame = vec![0u8; FRAME_BYTES];
    frame[..4].copy_from_slice(&[0xFF, 0xFB, 0x94, 0x64]);
    let body: Vec<u8> = frame.repeat(FRAMES_PER_SEGMENT);
    let count = i64::from(days) * 24 * 3600 / SEGMENT_SECONDS;
    let start = end - TimeDelta::seconds(count * SEGMENT_SECONDS);
    let last_hour = end - TimeDelta::hours(1);
    let hash = content_hash(b"generated");
    for i in 0..count {
        let at = start + TimeDelta::seconds(i * SEGMENT_SECONDS);
        let name = SegmentName {
            start: at,
            duration: SEGMENT_SECONDS as f64,
            kind: SegmentType::Full,
            hash: hash.clone(),
        };
        let hour = quality_dir.join(name.hour());
        if at.timestamp() % 3600 == 0 || i == 0 {
            std::fs::create_dir_all(&hour).map_err(io("create an hour folder", &hour))?;
        }
        let path = quality_dir.join(name.path());
        let mut file = std::fs::File::create(&path).map_err(io("write a segment", &path))?;
        if at >= last_hour {
            let tag = id3::timestamp_tag(id3::pts_of_micros(at.timestamp_micros()));
            file.write_all(&tag)
                .and_then(|()| file.write_all(&body))
                .map_err(io("write a segment", &path))?;
        }
    }
    Ok(count as usize)
}

fn timed<T>(work: impl FnOnce() -> T) -> (Duration, T) {
    let began = Instant::now();
    let out = work();
    (began.elapsed(), out)
}

pub fn measure(work: &Path, days: u32, runs: u32) -> Result<ArchiveRun, BenchError> {
    let quality_dir = work.join("archive").join("fm").join("128k");
    let end = Utc.with_ymd_and_hms(2026, 1, 31, 0, 0, 0).unwrap();
    let segments = generate(&quality_dir, days, end)?;
    let failed = |doing: &'static str| io(doing, &quality_dir);
    let media = playlist::Media {
        channel: "fm",
        quality: "128k",
        segment_seconds: SEGMENT_SECONDS as u32,
        closed: true,
    };
    let range = (end - TimeDelta::hours(12), end);
    let mut run = ArchiveRun {
        days,
        segments,
        playlist_cold: Duration::MAX,
        playlist_warm: Duration::MAX,
        playlist_bytes: 0,
        coverage_cold: Duration::MAX,
        coverage_warm: Duration::MAX,
        cut: Duration::MAX,
        cat: Duration::MAX,
        cut_bytes: 0,
    };
    for _ in 0..runs.max(1) {
        let best = BestCache::default();
        let playlist = || -> Result<String, BenchError> {
            let pieces = best
                .range(&quality_dir, range.0, range.1)
                .map_err(failed("read the archive"))?;
            Ok(playlist::media(&media, &pieces))
        };
        let (cold, text) = timed(playlist);
        let (warm, again) = timed(playlist);
        run.playlist_bytes = text?.len();
        again?;
        run.playlist_cold = run.playlist_cold.min(cold);
        run.playlist_warm = run.playlist_warm.min(warm);

        let covered = BestCache::default();
        let (cold, hours) = timed(|| coverage::quality(&covered, &quality_dir, None, None));
        let (warm, _) = timed(|| coverage::quality(&covered, &quality_dir, None, None));
        let hours = hours.map_err(failed("cover the archive"))?;
        if hours.len() < (days * 24) as usize {
            return Err(BenchError::Options(format!(
                "coverage saw {} hours of the {} generated",
                hours.len(),
                days * 24
            )));
        }
        run.coverage_cold = run.coverage_cold.min(cold);
        run.coverage_warm = run.coverage_warm.min(warm);

        let hour = (end - TimeDelta::hours(1), end);
        let (cut, written) = timed(|| -> Result<u64, BenchError> {
            let cut = Cut::plan(&BestCache::default(), &quality_dir, hour.0, hour.1, false)
                .map_err(|e| BenchError::Options(format!("the 1 h cut: {e}")))?;
            cut.write_frames(&mut std::io::sink())
                .map_err(failed("cut the archive"))
        });
        run.cut_bytes = written?;
        run.cut = run.cut.min(cut);
        let (cat, read) = timed(|| -> Result<u64, BenchError> {
            let mut total = 0u64;
            for hour_dir in [quality_dir.join(onair::archive::names::hour_folder(hour.0))] {
                for entry in std::fs::read_dir(&hour_dir).map_err(failed("read the archive"))? {
                    let path = entry.map_err(failed("read the archive"))?.path();
                    let bytes = std::fs::read(&path).map_err(io("read a segment", &path))?;
                    std::io::sink()
                        .write_all(&bytes)
                        .map_err(io("read a segment", &path))?;
                    total += bytes.len() as u64;
                }
            }
            Ok(total)
        });
        read?;
        run.cat = run.cat.min(cat);
    }
    Ok(run)
}
