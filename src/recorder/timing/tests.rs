use super::*;

/// 1024 samples at 44.1 kHz: 23 219.95 µs.
const SAMPLES: u32 = 1024;
const RATE: u32 = 44_100;
const T0: i64 = 1_767_610_800_000_000;

fn frame_micros(n: u64) -> i64 {
    micros_of(n * u64::from(SAMPLES), RATE)
}

#[test]
fn jitter_moves_nothing_and_time_is_counted_by_frames() {
    let mut timing = Timing::new(2_000_000, 0);
    assert_eq!(
        timing.place(SAMPLES, RATE, Arrival::at(T0)),
        Placed::Anchored
    );
    // A day of frames arriving up to 400 ms late, in a pattern: each one is
    // placed by the count.
    let frames = 24 * 3600 * u64::from(RATE) / u64::from(SAMPLES);
    for n in 1..frames {
        let jitter = ((n * 7919) % 400_000) as i64;
        let arrival = T0 + frame_micros(n) + jitter;
        assert_eq!(
            timing.place(SAMPLES, RATE, Arrival::at(arrival)),
            Placed::At(n * 1024)
        );
    }
    // The first frame ended when it arrived; the last starts a day of
    // samples later, to the microsecond.
    assert_eq!(timing.micros_at(0), Some(T0 - frame_micros(1)));
    assert_eq!(
        timing.micros_at((frames - 1) * 1024).unwrap() - timing.micros_at(0).unwrap(),
        frame_micros(frames - 1)
    );
}

#[test]
fn a_burst_at_connection_moves_the_anchor_back_until_it_settles() {
    let mut timing = Timing::new(2_000_000, 3_000_000);
    // Four seconds of buffered audio arrive at once at T0, then the
    // stream runs in real time.
    let burst = 4 * u64::from(RATE) / u64::from(SAMPLES);
    for _ in 0..burst {
        timing.place(SAMPLES, RATE, Arrival::at(T0 + 1000));
        assert!(!timing.is_settled());
    }
    for n in burst..burst + 200 {
        let arrival = T0 + frame_micros(n + 1) - frame_micros(burst) + 20_000;
        timing.place(SAMPLES, RATE, Arrival::at(arrival));
    }
    assert!(timing.is_settled());
    // The burst's last frame ended when it arrived: the first began four
    // seconds before.
    let start = timing.micros_at(0).unwrap();
    assert_eq!(start, T0 + 1000 - frame_micros(burst));
}

#[test]
fn a_stall_or_a_source_that_runs_fast_drifts_and_anchors_again() {
    let mut timing = Timing::new(2_000_000, 0);
    timing.place(SAMPLES, RATE, Arrival::at(T0));
    for n in 1..100 {
        timing.place(SAMPLES, RATE, Arrival::at(T0 + frame_micros(n)));
    }
    // Bad input: the source stalls for three seconds.
    let late = T0 + frame_micros(100) + 3_000_000;
    match timing.place(SAMPLES, RATE, Arrival::at(late)) {
        Placed::Drifted { lag_micros } => {
            assert!(
                (2_999_000..=3_001_000).contains(&lag_micros),
                "{lag_micros}"
            )
        }
        other => panic!("a stall of 3 s was not seen: {other:?}"),
    }
    // Nothing was counted: the caller resets and places the frame again.
    timing.reset();
    assert_eq!(
        timing.place(SAMPLES, RATE, Arrival::at(late)),
        Placed::Anchored
    );
    assert_eq!(timing.micros_at(0), Some(late - frame_micros(1)));
    // Bad input: a source that sends far more audio than time passes.
    let mut fast = Timing::new(2_000_000, 0);
    fast.place(SAMPLES, RATE, Arrival::at(T0));
    let mut drifted = None;
    for n in 1..1000u64 {
        // Twice real time.
        let arrival = T0 + frame_micros(n) / 2;
        if let Placed::Drifted { lag_micros } = fast.place(SAMPLES, RATE, Arrival::at(arrival)) {
            drifted = Some((n, lag_micros));
            break;
        }
    }
    let (n, lag) = drifted.expect("a source at twice real time was not seen");
    assert!(lag < -2_000_000, "{lag}");
    // Two seconds apart after about four seconds of audio.
    assert!((170..=175).contains(&n), "{n}");
}

/// Frames of a real-time stream (frame `n` arriving at `T0 + its end +
/// jitter`, delayed by `stall` from frame `stall_at` on), read in batches
/// every `every` µs: each frame gets the span of its batch. Returns the
/// first drift seen, with the frame it was seen at.
fn read_in_batches(
    timing: &mut Timing,
    every: i64,
    frames: u64,
    stall_at: u64,
    stall: i64,
) -> Option<(u64, i64)> {
    let came = |n: u64| {
        let jitter = ((n * 7919) % 300_000) as i64;
        T0 + frame_micros(n + 1) + jitter + if n >= stall_at { stall } else { 0 }
    };
    let mut previous_read = T0;
    let mut read = T0 + every;
    let mut n = 0;
    while n < frames {
        let arrival = Arrival {
            after: previous_read,
            by: read,
        };
        while n < frames && came(n) <= read {
            if let Placed::Drifted { lag_micros } = timing.place(SAMPLES, RATE, arrival) {
                return Some((n, lag_micros));
            }
            n += 1;
        }
        previous_read = read;
        read += every;
    }
    None
}

#[test]
fn reads_seconds_apart_are_not_drift_but_a_stall_still_is() {
    // Batches 3 s apart, longer than the 2 s threshold: a steady stream
    // read late by up to a batch never drifts, and is counted exactly.
    let mut timing = Timing::new(2_000_000, 3_000_000);
    let hour = 3600 * u64::from(RATE) / u64::from(SAMPLES);
    assert_eq!(
        read_in_batches(&mut timing, 3_000_000, hour, u64::MAX, 0),
        None
    );
    assert!(timing.is_settled());
    // The anchor is the first frame's end, within the jitter: the settling
    // took back the first batch's lateness from the frames read at once.
    let start = timing.micros_at(0).unwrap();
    assert!(
        (T0..=T0 + 300_000).contains(&start),
        "anchored {} µs from the first frame's start",
        start - T0
    );

    // Bad input: the source stalls for 4 s after a minute. The stall is
    // seen within the next two batches, as at least the threshold.
    let mut timing = Timing::new(2_000_000, 3_000_000);
    let minute = 60 * u64::from(RATE) / u64::from(SAMPLES);
    let (at, lag) = read_in_batches(&mut timing, 3_000_000, 2 * minute, minute, 4_000_000)
        .expect("a 4 s stall read in 3 s batches was not seen");
    assert!(lag > 2_000_000 && lag <= 4_300_000, "lag {lag} µs");
    let batch = 3 * u64::from(RATE) / u64::from(SAMPLES) + 1;
    assert!(
        (minute..=minute + 2 * batch).contains(&at),
        "seen at frame {at}"
    );

    // A single reading point (no span) at the same batches: the same
    // steady stream would be taken for a stall.
    let mut timing = Timing::new(2_000_000, 0);
    let mut drifted = false;
    let mut read = T0 + 3_000_000;
    for n in 0..hour {
        let came = T0 + frame_micros(n + 1);
        while came > read {
            read += 3_000_000;
        }
        if matches!(
            timing.place(SAMPLES, RATE, Arrival::at(read)),
            Placed::Drifted { .. }
        ) {
            drifted = true;
            break;
        }
    }
    assert!(drifted, "a point arrival should not tolerate 3 s batches");
}
