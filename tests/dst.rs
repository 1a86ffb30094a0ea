//! Programme timestamps are station-local and follow Europe/London's clock
//! changes: in spring a time in the lost hour airs when the clocks go
//! forward; in autumn a time in the repeated hour airs at its first
//! occurrence.

mod common;

use common::*;

const ON_TIME: i64 = 20;
const LOGGED: i64 = 50;

#[test]
fn spring_forward_a_programme_in_the_lost_hour_airs_when_the_clocks_change() {
    // A file stamped 01:30 on 2026-03-29, a time that never happens in
    // London (01:00 GMT becomes 02:00 BST): it airs at 02:00 BST.
    let mut s = Station::new("spring-forward");
    s.clock("2026-03-29 00:58:00", 60.0);
    s.programme("2026-03-29 00:59", "before-change", 400, 20.0, "wav");
    s.programme("2026-03-29 01:30", "lost-hour", 700, 20.0, "wav");
    s.programme("2026-03-29 02:01", "after-change", 1000, 20.0, "wav");
    s.start();
    s.wait_until(utc("2026-03-29T01:01:30Z"));
    s.terminate();

    let plan = [
        ("before-change", 400, utc("2026-03-29T00:59:00Z")),
        ("lost-hour", 700, utc("2026-03-29T01:00:00Z")),
        ("after-change", 1000, utc("2026-03-29T01:01:00Z")),
    ];
    let aired = s.aired();
    let runs = s.runs(&aired);
    for (_, freq, at) in plan {
        expect_run(&runs, freq, at, at + secs(20), ms(ON_TIME));
    }
    if runs.tones().count() != 3 {
        runs.fail("each of the three programmes should air exactly once");
    }

    let log = s.log_json();
    for (slug, _, at) in plan {
        let entry = log.one(slug);
        log.expect_kind(entry, Kind::Scheduled);
        log.expect_start(entry, at, ms(LOGGED));
        log.expect_ended(entry, &[Ended::Natural]);
    }
    // 00:59+00:00, then 02:00+01:00 and 02:01+01:00.
    log.expect_station_offsets();
    let lost = log.one("lost-hour");
    log.check(
        lost.start.offset().local_minus_utc() == 3600,
        "the lost-hour programme should be logged at 02:00 BST (+01:00)",
    );
}

#[test]
fn fall_back_a_programme_in_the_repeated_hour_airs_at_its_first_occurrence() {
    // A file stamped 01:30 on 2026-10-25, a time that happens twice in
    // London (01:30 BST = 00:30 UTC, then 01:30 GMT = 01:30 UTC): it airs
    // at the first. The clock starts before the repeated hour so that its
    // own start is not ambiguous, and runs 120× to reach 01:30 in ~17 s.
    let mut s = Station::new("fall-back");
    s.clock("2026-10-25 00:57:00", 120.0);
    s.programme("2026-10-25 00:59", "before-change", 400, 20.0, "wav");
    s.programme("2026-10-25 01:30", "repeated-hour", 700, 20.0, "wav");
    s.start();
    s.wait_until(utc("2026-10-25T00:31:00Z"));
    s.terminate();

    let before = utc("2026-10-24T23:59:00Z");
    let first = utc("2026-10-25T00:30:00Z");
    let aired = s.aired();
    let runs = s.runs(&aired);
    expect_run(&runs, 400, before, before + secs(20), ms(ON_TIME));
    expect_run(&runs, 700, first, first + secs(20), ms(ON_TIME));
    expect_only(
        &runs,
        before + secs(21),
        first - ms(ON_TIME),
        &[What::Silence],
        ms(0),
    );

    let log = s.log_json();
    let entry = log.one("repeated-hour");
    log.expect_kind(entry, Kind::Scheduled);
    log.expect_start(entry, first, ms(LOGGED));
    log.check(
        entry.start.offset().local_minus_utc() == 3600,
        "the repeated-hour programme should be logged at 01:30 BST (+01:00)",
    );
    log.expect_ended(entry, &[Ended::Natural]);
    log.expect_start(log.one("before-change"), before, ms(LOGGED));
    log.expect_station_offsets();
}
