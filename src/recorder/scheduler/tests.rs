use chrono::TimeZone;
use chrono_tz::Europe::London;

use super::*;
use crate::config::RecordWhen;

fn at(h: u32, m: u32, s: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, h, m, s).unwrap()
}

/// Ticks every second from `from` to `to` through `decide` and `follow`
/// as the keeper does; returns when the channel was connected (first and
/// last tick) and the passes that came to an end.
fn run(
    when: &RecordWhen,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> (Vec<DateTime<Utc>>, Vec<Pass>) {
    run_every(when, from, to, TimeDelta::seconds(1))
}

/// As [`run`], with ticks `tick` apart.
fn run_every(
    when: &RecordWhen,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    tick: TimeDelta,
) -> (Vec<DateTime<Utc>>, Vec<Pass>) {
    let mut connected = Vec::new();
    let mut over = Vec::new();
    let mut pass = None;
    // Ticks are a second apart, not on the second.
    let mut now = from + TimeDelta::milliseconds(370);
    while now <= to {
        let decision = decide(|t| due(when, London, t, &[]), now);
        if decision.connected {
            connected.push(now);
        }
        let (next, done) = follow(pass, decision.window, now);
        pass = next;
        over.extend(done);
        now += tick;
    }
    (connected, over)
}

#[test]
fn a_window_connects_before_it_opens_and_its_pass_is_exactly_the_window() {
    // Monday 2 March 2026, London on UTC.
    let when = RecordWhen::Windows(vec!["Mon 06:00-06:01".parse().unwrap()]);
    let (connected, over) = run(&when, at(5, 59, 0), at(6, 2, 0));
    let (first, last) = (connected[0], connected[connected.len() - 1]);
    assert!(
        first <= at(6, 0, 0) - PRE_ROLL + TimeDelta::seconds(1) && first > at(5, 59, 40),
        "connected from {first}"
    );
    assert!(
        last >= at(6, 1, 0) + POST_ROLL - TimeDelta::seconds(1) && last < at(6, 1, 20),
        "connected until {last}"
    );
    // The cut is the window, to the second, though no tick fell on it.
    assert_eq!(
        over,
        [Pass {
            from: at(6, 0, 0),
            to: Some(at(6, 1, 0))
        }]
    );
}

#[test]
fn a_box_started_inside_a_window_cuts_from_when_it_started() {
    let when = RecordWhen::Windows(vec!["Mon 06:00-06:01".parse().unwrap()]);
    let (_, over) = run(&when, at(6, 0, 30), at(6, 2, 0));
    assert_eq!(over.len(), 1, "{over:?}");
    assert_eq!(
        over[0].from,
        at(6, 0, 30) + TimeDelta::milliseconds(370),
        "the first tick"
    );
    assert_eq!(over[0].to, Some(at(6, 1, 0)));
}

#[test]
fn always_on_channels_are_always_connected_and_never_cut() {
    let (connected, over) = run(&RecordWhen::Always, at(5, 0, 0), at(5, 1, 0));
    assert_eq!(connected.len(), 60, "every tick of the minute");
    assert!(over.is_empty(), "{over:?}");
}

#[test]
fn back_to_back_windows_each_get_their_pass_and_the_channel_stays_connected() {
    let when = RecordWhen::Windows(vec![
        "Mon 06:00-06:01".parse().unwrap(),
        "Mon 06:01-06:02".parse().unwrap(),
    ]);
    // Touching windows join: one recording, one pass, as the status says.
    let (connected, over) = run(&when, at(5, 59, 0), at(6, 3, 0));
    assert!(
        connected
            .windows(2)
            .all(|w| w[1] - w[0] == TimeDelta::seconds(1)),
        "connected throughout"
    );
    assert_eq!(over.len(), 1, "{over:?}");
    assert_eq!(over[0].from, at(6, 0, 0));
    assert_eq!(over[0].to, Some(at(6, 2, 0)));
    // Windows a minute apart: a pass each.
    let when = RecordWhen::Windows(vec![
        "Mon 06:00-06:01".parse().unwrap(),
        "Mon 06:02-06:03".parse().unwrap(),
    ]);
    let (_, over) = run(&when, at(5, 59, 0), at(6, 4, 0));
    assert_eq!(
        over.iter().map(|p| (p.from, p.to)).collect::<Vec<_>>(),
        [
            (at(6, 0, 0), Some(at(6, 1, 0))),
            (at(6, 2, 0), Some(at(6, 3, 0)))
        ]
    );
}

#[test]
fn a_window_cut_begins_at_its_start_however_far_apart_the_ticks() {
    // A simulated clock at 60x: a minute of station time per tick, so
    // no tick falls in the pre-roll; the cut is still the window.
    let when = RecordWhen::Windows(vec!["Mon 06:00-06:30".parse().unwrap()]);
    let (connected, over) = run_every(&when, at(5, 0, 0), at(7, 0, 0), TimeDelta::seconds(60));
    assert_eq!(
        over,
        [Pass {
            from: at(6, 0, 0),
            to: Some(at(6, 30, 0))
        }]
    );
    // Each tick of the window, and one in its post-roll.
    assert_eq!(connected.len(), 31, "{connected:?}");
}
