use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::*;
use crate::archive::best::BestCache;
use crate::archive::names::content_hash;
use crate::status::{Alarm, OutputState};
use crate::web::archive::pictures::tests::{get, serve_archive};

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("onair-metrics-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn put(quality_dir: &Path, hour: &str, file: &str) {
    let file = file.replace("{h}", &content_hash(file.as_bytes()));
    std::fs::create_dir_all(quality_dir.join(hour)).unwrap();
    std::fs::write(quality_dir.join(hour).join(file), b"x").unwrap();
}

fn status() -> Status {
    Status {
        mode: Mode::Auto,
        underruns: 7,
        outputs: vec![OutputState {
            name: "wav out.wav".into(),
            frames_out: 480_000,
            frames_dropped: 12,
            frames_underrun: 3,
            errors: 1,
            stream: None,
            listen: None,
        }],
        alarms: vec![Alarm {
            kind: AlarmKind::DeadAir,
            since: DateTime::<Utc>::UNIX_EPOCH,
            message: "the programme is silent".into(),
        }],
        ..Status::default()
    }
}

/// The value of the line that starts with `series` (name and labels).
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[test]
fn the_box_counters_and_the_archive_hours_are_exposed_and_deleted_hours_go() {
    let root = temp("exposition");
    let quality = root.join("fm/128k");
    // Hour 10: two full segments, a hole 12–18 s, a partial, a bad name.
    put(&quality, "2026-01-05T10", "00:00.000000-6.0-full-{h}.mp3");
    put(&quality, "2026-01-05T10", "00:06.000000-6.0-full-{h}.mp3");
    put(
        &quality,
        "2026-01-05T10",
        "00:18.000000-4.5-partial-{h}.mp3",
    );
    put(&quality, "2026-01-05T10", "not-a-segment.mp3");
    // Hour 11: a full segment overlapped by another by 2 s.
    put(&quality, "2026-01-05T11", "00:00.000000-6.0-full-{h}.mp3");
    put(&quality, "2026-01-05T11", "00:04.000000-6.0-full-{h}.mp3");
    let view = ArchiveView {
        root: root.clone(),
        best: Arc::new(BestCache::default()),
        segment_seconds: 6,
    };
    let text = exposition(&status(), Some(&view)).unwrap();
    let out = r#"{output="wav out.wav"}"#;
    assert_eq!(
        value(&text, &format!("onair_output_frames_out_total{out}")),
        Some(480_000.0),
        "{text}"
    );
    assert_eq!(
        value(&text, &format!("onair_output_frames_dropped_total{out}")),
        Some(12.0)
    );
    assert_eq!(
        value(&text, &format!("onair_output_frames_underrun_total{out}")),
        Some(3.0)
    );
    assert_eq!(
        value(&text, &format!("onair_output_errors_total{out}")),
        Some(1.0)
    );
    assert_eq!(value(&text, "onair_source_underruns_total"), Some(7.0));
    assert_eq!(value(&text, r#"onair_mode{mode="auto"}"#), Some(1.0));
    assert_eq!(value(&text, r#"onair_mode{mode="live"}"#), Some(0.0));
    assert_eq!(value(&text, r#"onair_alarm{kind="dead_air"}"#), Some(1.0));
    assert_eq!(value(&text, r#"onair_alarm{kind="stream"}"#), Some(0.0));

    let ten = r#"channel="fm",quality="128k",hour="2026-01-05T10""#;
    let eleven = r#"channel="fm",quality="128k",hour="2026-01-05T11""#;
    let gauge = |name: &str, labels: &str, kind: Option<&str>| {
        let series = match kind {
            Some(kind) => format!("{name}{{{labels},type=\"{kind}\"}}"),
            None => format!("{name}{{{labels}}}"),
        };
        value(&text, &series).unwrap_or_else(|| panic!("no {series} in:\n{text}"))
    };
    assert_eq!(gauge("segment_count", ten, Some("full")), 2.0);
    assert_eq!(gauge("segment_count", ten, Some("partial")), 1.0);
    assert_eq!(gauge("segment_count", ten, Some("suspect")), 0.0);
    assert_eq!(gauge("segment_count", ten, Some("bad")), 1.0);
    assert_eq!(gauge("segment_duration", ten, Some("full")), 12.0);
    assert_eq!(gauge("segment_duration", ten, Some("partial")), 4.5);
    // 0–12 and 18–22.5; the time after the partial runs to hour 11.
    assert_eq!(gauge("raw_coverage", ten, None), 16.5);
    assert_eq!(gauge("editable_coverage", ten, None), 16.5);
    assert_eq!(gauge("raw_holes", ten, None), 2.0);
    assert_eq!(gauge("editable_holes", ten, None), 2.0);
    assert_eq!(gauge("overlap_count", ten, Some("full")), 0.0);
    // Hour 11: 0–10 raw, the chain 0–6 and the overlapper skipped.
    assert_eq!(gauge("raw_coverage", eleven, None), 10.0);
    assert_eq!(gauge("editable_coverage", eleven, None), 6.0);
    assert_eq!(gauge("overlap_count", eleven, Some("full")), 1.0);
    assert_eq!(gauge("overlap_duration", eleven, Some("full")), 2.0);
    assert_eq!(gauge("raw_holes", eleven, None), 0.0);

    // Retention deletes hour 10: its series are gone, not left at their
    // last values.
    std::fs::remove_dir_all(quality.join("2026-01-05T10")).unwrap();
    let text = exposition(&status(), Some(&view)).unwrap();
    assert!(!text.contains("2026-01-05T10"), "{text}");
    assert!(text.contains("2026-01-05T11"), "{text}");
    // A box without an archive has its counters and no coverage.
    let text = exposition(&status(), None).unwrap();
    assert!(text.contains("onair_output_frames_out_total"), "{text}");
    assert!(!text.contains("raw_coverage{"), "{text}");
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn metrics_are_served_as_openmetrics_text() {
    let root = temp("served");
    put(
        &root.join("fm/128k"),
        "2026-01-05T10",
        "00:00.000000-6.0-full-{h}.mp3",
    );
    let address = serve_archive(&root, &root.join("data"), status());
    let got = get(address, "/metrics");
    assert_eq!(got.status, 200, "{}", got.text());
    assert!(
        got.content_type.starts_with("application/openmetrics-text"),
        "{}",
        got.content_type
    );
    let text = got.text();
    assert!(text.ends_with("# EOF\n"), "{text}");
    assert_eq!(
        value(
            &text,
            r#"raw_coverage{channel="fm",quality="128k",hour="2026-01-05T10"}"#
        ),
        Some(6.0),
        "{text}"
    );
    std::fs::remove_dir_all(&root).unwrap();
}
