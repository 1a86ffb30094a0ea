//! Programme timestamps are station-local and follow Europe/London's clock
//! changes: in spring a time in the lost hour airs when the clocks go
//! forward; in autumn a time in the repeated hour airs at its first
//! occurrence. A recorder's window across the spring change opens when
//! the clocks jump and closes on the new time, its cut the window's range.

use crate::common;

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

fn partner(status: &serde_json::Value) -> serde_json::Value {
    status["recordings"]
        .as_array()
        .and_then(|all| all.iter().find(|r| r["name"] == "partner").cloned())
        .unwrap_or_else(|| panic!("no recording \"partner\" in {status}"))
}

fn at(value: &serde_json::Value) -> chrono::DateTime<chrono::Utc> {
    value
        .as_str()
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("{value} is not a time"))
}

#[test]
fn spring_forward_a_recording_window_opens_when_the_clocks_jump_and_closes_on_the_new_time() {
    // "Sun 01:30-03:30" on 2026-03-29 in London: 01:30 never happens (01:00
    // GMT becomes 02:00 BST), so the window opens as the clocks jump, at
    // 01:00 UTC, and closes at 03:30 BST, 02:30 UTC: 90 minutes, not two
    // hours. The simulated clock runs 120x: two minutes a recorder tick.
    let mut s = Station::new("dst-window");
    s.clock("2026-03-29 00:50:00", 120.0);
    s.filler(440, 300.0);
    let cuts = s.dir().join("cuts");
    std::fs::create_dir_all(&cuts).unwrap();
    // The partner's folder, as earlier weeks' recordings left it: a cut
    // of a channel the archive has never held is refused when it is added.
    std::fs::create_dir_all(s.dir().join("archive/partner/source")).unwrap();
    let nowhere = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    s.section("[archive]\ndir = \"archive\"\nchannel = \"fm\"\n");
    s.section(&format!(
        "[recorder]\n[[recorder.channel]]\nname = \"partner\"\n\
         url = \"http://127.0.0.1:{nowhere}/partner.mp3\"\nrecord = \"Sun 01:30-03:30\"\n\
         cut_to = \"{}\"\n",
        cuts.display()
    ));
    s.start();
    // A tick of the recorder, in station time, and the status's lag.
    let tick = secs(2 * 60 + 30);

    s.wait_until(utc("2026-03-29T00:56:00Z"));
    let before = partner(&s.status_json());
    assert_eq!(before["state"], "stopped", "{before}");
    assert_eq!(before["next"], "2026-03-29T01:00:00Z", "{before}");

    s.wait_until(utc("2026-03-29T01:10:00Z"));
    let during = partner(&s.status_json());
    assert_ne!(during["state"], "stopped", "{during}");
    assert_eq!(during["until"], "2026-03-29T02:30:00Z", "{during}");
    let opened = at(&during["since"]);
    assert!(
        opened >= utc("2026-03-29T01:00:00Z") - secs(10)
            && opened <= utc("2026-03-29T01:00:00Z") + tick,
        "the window opened at {opened}"
    );

    // Still open where a window of two fixed hours from 01:30 GMT would
    // have closed, or one that ignored the jump would not have opened.
    s.wait_until(utc("2026-03-29T02:20:00Z"));
    assert_ne!(partner(&s.status_json())["state"], "stopped");

    s.wait_until(utc("2026-03-29T02:40:00Z"));
    let after = partner(&s.status_json());
    assert_eq!(after["state"], "stopped", "{after}");
    // Next Sunday's 01:30 is BST: 00:30 UTC.
    assert_eq!(after["next"], "2026-04-05T00:30:00Z", "{after}");
    let closed = at(&after["since"]);
    assert!(
        closed >= utc("2026-03-29T02:30:00Z") && closed <= utc("2026-03-29T02:30:00Z") + tick,
        "the window closed at {closed}"
    );

    // The window's cut was asked for exactly its range (it fails: the
    // partner was never there, and says so).
    let config = s.config_path().display().to_string();
    let out = onair(&["job", "list", "--json", "--config", config.as_str()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let jobs: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(jobs.len(), 1, "{jobs:#?}");
    assert_eq!(jobs[0]["work"]["kind"], "cut");
    assert_eq!(jobs[0]["work"]["from"], "2026-03-29T01:00:00Z", "{jobs:#?}");
    assert_eq!(jobs[0]["work"]["to"], "2026-03-29T02:30:00Z", "{jobs:#?}");
    s.terminate();
}
