use std::path::PathBuf;

use super::*;
use crate::archive::names::content_hash;

fn utc(text: &str) -> DateTime<Utc> {
    text.parse().unwrap()
}

fn archive(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("onair-coverage-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// Puts `file` in `hour` (a segment's name with `{h}` for a hash of `tag`).
fn put(dir: &Path, hour: &str, file: &str, tag: &str) -> String {
    let file = file.replace("{h}", &content_hash(tag.as_bytes()));
    std::fs::create_dir_all(dir.join(hour)).unwrap();
    std::fs::write(dir.join(hour).join(&file), tag).unwrap();
    file
}

/// Hour 10 and 11 of 2026-01-05, with every kind of trouble in hour 10.
fn fixture(name: &str) -> PathBuf {
    let dir = archive(name);
    let ten = "2026-01-05T10";
    put(&dir, ten, "00:00.000000-6.0-full-{h}.mp3", "A");
    put(&dir, ten, "00:06.000000-6.0-full-{h}.mp3", "B");
    // Bad input: a tombstoned full segment, with a partial of the same
    // start that takes its place (12–15).
    let buried = put(&dir, ten, "00:12.000000-6.0-full-{h}.mp3", "C");
    let stone = buried.replace(".mp3", ".tombstone");
    std::fs::write(dir.join(ten).join(stone), b"").unwrap();
    put(&dir, ten, "00:12.000000-3.0-partial-{h}.mp3", "D");
    // A hole 15–18, then a suspect segment.
    put(&dir, ten, "00:18.000000-6.0-suspect-{h}.mp3", "E");
    put(&dir, ten, "00:24.000000-6.0-full-{h}.mp3", "F");
    // Bad input: a segment overlapping the last by 3 s (27–33): skipped
    // by the chain, so the chain has a hole 30–33 that raw has not.
    put(&dir, ten, "00:27.000000-6.0-full-{h}.mp3", "G");
    put(&dir, ten, "00:33.000000-6.0-full-{h}.mp3", "H");
    // Bad input: a name that is no segment's.
    put(&dir, ten, "garbage.mp3", "bad");
    // Nothing 39 s–59:57; a segment across the hour.
    put(&dir, ten, "59:57.000000-6.0-full-{h}.mp3", "I");
    let eleven = "2026-01-05T11";
    put(&dir, eleven, "00:03.000000-6.0-full-{h}.mp3", "J");
    // A gap of 5 ms is no hole.
    put(&dir, eleven, "00:09.005000-6.0-full-{h}.mp3", "K");
    put(&dir, eleven, "00:15.005000-6.0-full-{h}.mp3", "L");
    dir
}

fn span(from: f64, to: f64) -> Span {
    let hour = utc("2026-01-05T10:00:00Z");
    let at = |s: f64| hour + TimeDelta::microseconds((s * 1e6).round() as i64);
    Span::new(at(from), at(to))
}

#[test]
fn an_hour_with_holes_overlaps_a_partial_a_suspect_a_bad_name_and_a_tombstone() {
    let dir = fixture("figures");
    let best = BestCache::default();
    let hours = quality(&best, &dir, None, None).unwrap();
    assert_eq!(hours.len(), 2);
    let ten = &hours[0];
    assert_eq!(ten.hour, "2026-01-05T10");
    // A B F G H I full; D partial; E suspect; C tombstoned, not counted.
    assert_eq!(
        ten.segments,
        ByType {
            full: 6,
            suspect: 1,
            partial: 1
        }
    );
    assert_eq!(ten.bad, 1);
    assert_eq!(
        ten.segment_seconds,
        ByType {
            full: 36.0,
            suspect: 6.0,
            partial: 3.0
        }
    );
    // Raw: 0–15, 18–39, 59:57–60:00.
    assert_eq!(ten.raw_coverage, 39.0);
    // The chain: 0–15, 18–30, 33–39, 59:57–60:00 (G skipped).
    assert_eq!(ten.editable_coverage, 36.0);
    assert_eq!(ten.raw_holes, [span(15.0, 18.0), span(39.0, 3597.0)]);
    assert_eq!(
        ten.editable_holes,
        [span(15.0, 18.0), span(30.0, 33.0), span(39.0, 3597.0)]
    );
    assert_eq!(ten.overlaps.len(), 1);
    assert_eq!(ten.overlaps[0].span, span(27.0, 30.0));
    assert_eq!(ten.overlaps[0].kind, "full");
    assert_eq!(ten.overlaps_of(SegmentType::Full), (1, 3.0));
    assert_eq!(ten.overlaps_of(SegmentType::Partial), (0, 0.0));

    // Hour 11: the rest of I (3 s), J, K, L; the 5 ms gap is neither hole
    // nor coverage; the time after L (being written) is no hole.
    let eleven = &hours[1];
    assert_eq!(eleven.segments.full, 3);
    assert!(
        (eleven.raw_coverage - 21.0).abs() < 1e-9,
        "{}",
        eleven.raw_coverage
    );
    assert!((eleven.editable_coverage - 21.0).abs() < 1e-9);
    assert!(eleven.raw_holes.is_empty(), "{:?}", eleven.raw_holes);
    assert!(eleven.editable_holes.is_empty());

    // The map, 2 s a pixel.
    use Cover::*;
    let p = &ten.pixels;
    assert_eq!(p.len(), 1800);
    assert_eq!(&p[0..6], [Full; 6]);
    assert_eq!(p[6], Partial, "12–14: the partial");
    assert_eq!((p[7], p[8]), (Missing, Missing), "14–18: the hole from 15");
    assert_eq!(p[9], Partial, "18–20: the suspect");
    assert_eq!(p[15], Full, "30–32: G, skipped by the chain, is there");
    assert_eq!((p[18], p[19]), (Full, Missing), "36–40: H ends at 39");
    assert_eq!((p[1798], p[1799]), (Missing, Full));
    let p = &eleven.pixels;
    assert_eq!(p[4], Full, "3608–3610 holds the 5 ms gap");
    assert_eq!((p[9], p[10]), (Full, Missing), "L ends at 21.005");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_range_shows_its_hours_and_an_hour_without_a_folder_is_all_hole() {
    let dir = fixture("range");
    // Two hours on: nothing at 12, a segment at 13:00.
    put(&dir, "2026-01-05T13", "00:00.000000-6.0-full-{h}.mp3", "M");
    let best = BestCache::default();
    let all = quality(&best, &dir, None, None).unwrap();
    let names: Vec<&str> = all.iter().map(|h| h.hour.as_str()).collect();
    assert_eq!(
        names,
        [
            "2026-01-05T10",
            "2026-01-05T11",
            "2026-01-05T12",
            "2026-01-05T13"
        ]
    );
    // L's end (11:00:21.005) is no longer the newest: the rest is a hole.
    let hour = |s: &str| utc(s);
    assert_eq!(
        all[1].raw_holes,
        [Span::new(
            hour("2026-01-05T11:00:21.005Z"),
            hour("2026-01-05T12:00:00Z")
        )]
    );
    assert_eq!(all[2].raw_coverage, 0.0);
    assert_eq!(all[2].raw_holes.len(), 1);
    assert_eq!(all[2].raw_holes[0].seconds, 3600.0);
    assert!(all[2].pixels.iter().all(|&p| p == Cover::Missing));
    assert!(all[3].raw_holes.is_empty());
    assert_eq!(all[3].raw_coverage, 6.0);

    // Asked for hour 11 alone: the same figures as in the whole.
    let eleven = quality(
        &best,
        &dir,
        Some(hour("2026-01-05T11:00:00Z")),
        Some(hour("2026-01-05T12:00:00Z")),
    )
    .unwrap();
    assert_eq!(eleven, [all[1].clone()]);
    // And hour 12 alone, walked from the hour before.
    let twelve = quality(
        &best,
        &dir,
        Some(hour("2026-01-05T12:30:00Z")),
        Some(hour("2026-01-05T12:40:00Z")),
    )
    .unwrap();
    assert_eq!(twelve, [all[2].clone()]);
    // A range outside the archive shows nothing; so does an empty archive.
    assert!(
        quality(&best, &dir, Some(hour("2026-02-01T00:00:00Z")), None)
            .unwrap()
            .is_empty()
    );
    assert!(
        quality(&best, &dir.join("nowhere"), None, None)
            .unwrap()
            .is_empty()
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_long_archive_is_walked_an_hour_at_a_time_and_remembered_without_its_segments() {
    let dir = archive("long");
    // Sixty hours of ten 6 s segments each at the top of the hour.
    let first = utc("2026-01-05T00:00:00Z");
    for h in 0..60 {
        let hour = hour_folder(first + TimeDelta::hours(h));
        for s in 0..10 {
            put(
                &dir,
                &hour,
                &format!("00:{:02}.000000-6.0-full-{{h}}.mp3", s * 6),
                &format!("{h}-{s}"),
            );
        }
    }
    let best = BestCache::default();
    let all = quality(&best, &dir, None, None).unwrap();
    assert_eq!(all.len(), 60);
    assert!(
        best.held() <= crate::archive::best::CACHED_HOURS,
        "the segments of {} hours are held",
        best.held()
    );
    // Each hour: a minute covered, then a hole to the next hour's start
    // (none after the last segment, which is the archive's newest).
    assert!(all[..59].iter().all(|h| h.raw_coverage == 60.0
        && h.raw_holes.len() == 1
        && h.raw_holes[0].seconds == 3540.0));
    assert!(all[59].raw_holes.is_empty());

    // Walked again, nothing changed: the same figures, and no hour's
    // segments read (a fresh cache stays empty).
    let fresh = BestCache::default();
    assert_eq!(quality(&fresh, &dir, None, None).unwrap(), all);
    assert_eq!(fresh.held(), 0);

    // A segment of hour 30 deleted: that hour gets the hole, the others
    // keep their figures.
    let thirty = hour_folder(first + TimeDelta::hours(30));
    let gone = std::fs::read_dir(dir.join(&thirty))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .find(|n| n.starts_with("00:12."))
        .unwrap();
    std::fs::remove_file(dir.join(&thirty).join(gone)).unwrap();
    let after = quality(&fresh, &dir, None, None).unwrap();
    assert_eq!(fresh.held(), 1, "only the changed hour is read again");
    assert_eq!(after[30].raw_coverage, 54.0);
    assert_eq!(after[30].raw_holes.len(), 2);
    assert_eq!(after[30].raw_holes[0].seconds, 6.0);
    for (h, (before, now)) in all.iter().zip(&after).enumerate() {
        if h != 30 {
            assert_eq!(before, now, "hour {h}");
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
