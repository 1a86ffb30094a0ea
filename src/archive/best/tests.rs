use chrono::TimeZone;

use super::*;
use crate::archive::names::SegmentName;

const HASH_A: &str = "47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU";
const HASH_B: &str = "ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0";

fn at(seconds: f64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 5, 10, 0, 0).unwrap()
        + TimeDelta::microseconds((seconds * 1e6).round() as i64)
}

fn seg(start: f64, duration: f64, kind: SegmentType, hash: &str) -> Listed {
    let name = SegmentName {
        start: at(start),
        duration,
        kind,
        hash: hash.to_string(),
    };
    Listed {
        file: name.file_name(),
        name,
    }
}

fn full(start: f64, end: f64) -> Listed {
    seg(start, end - start, SegmentType::Full, HASH_A)
}

/// The range's pieces as `(start, end)` seconds, `None` for a hole.
fn walk(start: f64, end: f64, segments: &[Listed]) -> Vec<Option<(f64, f64)>> {
    let mut walk = Walk::new(at(start), at(end));
    for s in segments {
        walk.add(s);
        if walk.done {
            break;
        }
    }
    let seconds = |t: DateTime<Utc>| (t - at(0.0)).num_microseconds().unwrap() as f64 / 1e6;
    walk.finish()
        .into_iter()
        .map(|p| p.map(|s| (seconds(s.name.start), seconds(s.name.end()))))
        .collect()
}

#[test]
fn a_range_is_its_segments_with_holes_where_nothing_joins() {
    // wubloader's own example: 10-60 from 5-15, 15-25, 30-40, 40-50.
    let segments = [
        full(5.0, 15.0),
        full(15.0, 25.0),
        full(30.0, 40.0),
        full(40.0, 50.0),
    ];
    assert_eq!(
        walk(10.0, 60.0, &segments),
        [
            Some((5.0, 15.0)),
            Some((15.0, 25.0)),
            None,
            Some((30.0, 40.0)),
            Some((40.0, 50.0)),
            None
        ]
    );
    // A range that starts before the first segment begins with a hole; one
    // covered to its end has none at the end, and stops there.
    assert_eq!(
        walk(0.0, 20.0, &segments),
        [None, Some((5.0, 15.0)), Some((15.0, 25.0))]
    );
    // Nothing at all: one hole. An empty range: nothing.
    assert_eq!(walk(100.0, 110.0, &segments), [None]);
    assert_eq!(walk(20.0, 20.0, &segments), []);
}

#[test]
fn gaps_and_overlaps_up_to_10_ms_are_neither() {
    let close = [full(0.0, 6.0), full(6.009, 12.0), full(11.991, 18.0)];
    assert_eq!(
        walk(0.0, 18.0, &close)
            .iter()
            .filter(|p| p.is_none())
            .count(),
        0
    );
    // 11 ms apart is a hole; 11 ms of overlap is skipped.
    let gap = [full(0.0, 6.0), full(6.011, 12.0)];
    assert_eq!(
        walk(0.0, 12.0, &gap),
        [Some((0.0, 6.0)), None, Some((6.011, 12.0))]
    );
    let overlap = [full(0.0, 6.0), full(5.989, 12.0), full(6.0, 12.0)];
    assert_eq!(
        walk(0.0, 12.0, &overlap),
        [Some((0.0, 6.0)), Some((6.0, 12.0))]
    );
}

#[test]
fn a_segment_that_is_not_full_is_followed_by_a_hole() {
    let segments = [
        full(0.0, 6.0),
        seg(6.0, 3.0, SegmentType::Partial, HASH_A),
        full(12.0, 18.0),
    ];
    assert_eq!(
        walk(0.0, 18.0, &segments),
        [Some((0.0, 6.0)), Some((6.0, 9.0)), None, Some((12.0, 18.0))]
    );
    // Ending on a partial that reaches the end: still a hole after it.
    let segments = [full(0.0, 6.0), seg(6.0, 6.0, SegmentType::Suspect, HASH_A)];
    assert_eq!(
        walk(0.0, 12.0, &segments),
        [Some((0.0, 6.0)), Some((6.0, 12.0)), None]
    );
}

#[test]
fn the_best_of_one_start_is_full_then_longer_then_bigger_then_suspect_over_partial() {
    let dir = std::env::temp_dir().join(format!("onair-best-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let write =
        |s: &Listed, bytes: usize| std::fs::write(dir.join(&s.file), vec![0u8; bytes]).unwrap();

    let partial = seg(0.0, 6.0, SegmentType::Partial, HASH_A);
    let short = seg(0.0, 5.0, SegmentType::Full, HASH_A);
    let long = seg(0.0, 6.0, SegmentType::Full, HASH_A);
    write(&partial, 900);
    write(&short, 800);
    write(&long, 100);
    let chosen = |from: &[&Listed]| -> Vec<String> {
        let from: Vec<Listed> = from.iter().map(|s| (*s).clone()).collect();
        best_by_start(&dir, &from)
            .into_iter()
            .map(|s| s.file)
            .collect()
    };
    assert_eq!(chosen(&[&partial, &short, &long]), [long.file.as_str()]);

    // Two fulls as long: the bigger file; as big: the higher hash.
    let other = seg(0.0, 6.0, SegmentType::Full, HASH_B);
    write(&other, 200);
    assert_eq!(chosen(&[&long, &other]), [other.file.as_str()]);
    write(&other, 100);
    let higher = if HASH_B > HASH_A { &other } else { &long };
    assert_eq!(chosen(&[&long, &other]), [higher.file.as_str()]);

    // No full: suspect beats partial even when smaller.
    let suspect = seg(0.0, 6.0, SegmentType::Suspect, HASH_B);
    write(&suspect, 10);
    assert_eq!(chosen(&[&partial, &suspect]), [suspect.file.as_str()]);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_range_crosses_hours_and_the_cache_follows_the_folder() {
    let dir = std::env::temp_dir().join(format!("onair-best-range-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    // 10:59:54-11:00:06 in two hour folders; the first started in the
    // hour before the range.
    let before = SegmentName {
        start: at(-6.0),
        duration: 6.0,
        kind: SegmentType::Full,
        hash: HASH_A.into(),
    };
    let after = SegmentName {
        start: at(0.0),
        ..before.clone()
    };
    for name in [&before, &after] {
        std::fs::create_dir_all(dir.join(name.hour())).unwrap();
        std::fs::write(dir.join(name.path()), b"x").unwrap();
    }
    let cache = BestCache::default();
    let range = cache.range(&dir, at(-1.0), at(6.0)).unwrap();
    let files: Vec<_> = range
        .iter()
        .map(|p| p.as_ref().map(|s| s.name.start))
        .collect();
    assert_eq!(files, [Some(at(-6.0)), Some(at(0.0))]);

    // A tombstone added: the folder changed, so the hour is read again.
    let stem = after.file_name().strip_suffix(".mp3").unwrap().to_string();
    std::fs::write(
        dir.join(after.hour()).join(format!("{stem}.tombstone")),
        b"",
    )
    .unwrap();
    let range = cache.range(&dir, at(-1.0), at(6.0)).unwrap();
    assert_eq!(range.len(), 2, "{range:?}");
    assert!(range[1].is_none());
    std::fs::remove_dir_all(&dir).unwrap();
}
