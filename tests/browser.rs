//! The status page in real headless Chromium (Debian's `chromium` and
//! `chromium-driver`, driven through fantoccini): what is on air changes
//! on the page over the live feed without a reload, and a person who logs
//! in sees each command's answer from the director on the page, and LIVE
//! puts the studio's input on the box's output.
//!
//! Without chromedriver this fails with the install hint; it never passes
//! without a browser.

use crate::common;

use std::time::{Duration, Instant};

use common::browser::Browser;
use common::studio::{self, LIVE_TONE, Studio};
use common::*;

const PASSWORD: &str = "studio password 7";

/// Real time until station time `t` on the box, plus `margin`.
fn real_until(s: &Station, t: chrono::DateTime<chrono::Utc>, margin: Duration) -> Duration {
    let ahead = (t - s.now()).to_std().unwrap_or_default();
    ahead.div_f64(s.simulated_clock().speed) + margin
}

/// Waits for the page's answer to the command `label`, and returns it.
fn answer(browser: &Browser, label: &str) -> String {
    browser.wait_for_text("answer", Duration::from_secs(10), |t| {
        t.starts_with(label) && !t.ends_with('…')
    })
}

fn lamp(browser: &Browser, id: &str) -> bool {
    browser.eval(&format!(
        "return document.getElementById('{id}').classList.contains('on');"
    )) == serde_json::Value::Bool(true)
}

#[test]
fn the_page_follows_the_box_live_and_a_logged_in_person_controls_it() {
    // Its studio points the process's ALSA configuration at a device of
    // its own, as the live tests' studios do: one at a time, or a box
    // started by one test opens another's device.
    let _serial = studio::one_at_a_time();
    let mut s = Station::new("browser");
    // At real time: the studio's input is fed at real time.
    s.clock("2026-03-02 00:59:45", 1.0)
        .sample_rate_hz(studio::RATE)
        .fade_ms(300);
    s.section("[live]\ndevice = \"studio_b\"\nfade_ms = 300\n");
    let _studio = Studio::start(&s.dir().join("studio"), "studio_b");
    s.filler(2500, 600.0);
    s.programme("2026-03-02 01:00", "morning-show", 440, 300.0, "wav");
    s.start();
    let url = format!("http://{}/", s.web_address());
    let browser = Browser::start(s.dir(), "America/Los_Angeles");
    browser.goto(&url);
    let change = s.local("2026-03-02 01:00:00");
    let before = browser.wait_for_text("title", Duration::from_secs(15), |t| !t.is_empty());
    assert!(
        before != "Morning Show" && s.now() < change,
        "the browser took until {} to show the page ({before:?}): too late to see the change",
        s.now()
    );
    // Marks this load of the page: a reload would lose it.
    browser.eval("window.sameLoad = true; return true;");
    // The title changes within 2 s of the programme change.
    browser.wait_for_text(
        "title",
        real_until(&s, change, Duration::from_secs(2)),
        |t| t == "Morning Show",
    );
    assert_eq!(
        browser.eval("return window.sameLoad === true && performance.getEntriesByType('navigation').length === 1;"),
        serde_json::Value::Bool(true),
        "the page reloaded instead of following the live feed"
    );
    assert!(lamp(&browser, "lamp-on-air"), "the ON AIR lamp is dark");
    let panel = browser.eval(
        "const i = document.getElementById('panel'); return [i.complete, i.naturalWidth, i.naturalHeight];",
    );
    assert_eq!(
        panel,
        serde_json::json!([true, 128, 64]),
        "the panel mirror"
    );
    // This box keeps no archive: Listen again says so rather than offer
    // a player with nothing to play.
    browser.wait_for_text("listen-state", Duration::from_secs(5), |t| {
        t == "This box keeps no archive, so there is nothing to listen to again."
    });
    assert_eq!(
        browser.eval("return document.getElementById('listen-form').hidden;"),
        serde_json::Value::Bool(true)
    );

    // No password yet: the page says how to set one and offers no login.
    let hint = browser.text("control-hint");
    assert_eq!(
        hint,
        "no control password set: on the box, run: onair passwd"
    );
    let set = std::process::Command::new(env!("CARGO_BIN_EXE_onair"))
        .args(["passwd", "--config"])
        .arg(s.config_path())
        .stdin(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child
                .stdin
                .take()
                .unwrap()
                .write_all(format!("{PASSWORD}\n").as_bytes())?;
            child.wait()
        })
        .unwrap();
    assert!(set.success(), "onair passwd failed");

    browser.goto(&url);
    browser.wait_for_text("title", Duration::from_secs(10), |t| t == "Morning Show");
    browser.type_into("password", "not the password");
    browser.click("login");
    let refused = browser.wait_for_text("answer", Duration::from_secs(15), |t| {
        t.starts_with("login refused")
    });
    assert!(refused.contains("wrong password"), "{refused}");
    browser.type_into("password", PASSWORD);
    browser.click("login");
    browser.wait_for_text("answer", Duration::from_secs(15), |t| t == "logged in");

    let asked = Instant::now();
    browser.click("cmd-skip");
    assert_eq!(answer(&browser, "SKIP"), "SKIP: skipped \"Morning Show\"");
    assert!(asked.elapsed() < Duration::from_secs(5));

    // LIVE puts the studio on air: the page says so, lights the lamp, and
    // the output carries the studio's tone.
    browser.click("cmd-live");
    assert_eq!(answer(&browser, "LIVE"), "LIVE: the studio is on air");
    let deadline = Instant::now() + Duration::from_secs(5);
    while !lamp(&browser, "lamp-live") {
        assert!(Instant::now() < deadline, "the LIVE lamp stays dark");
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_secs(3));
    browser.click("cmd-auto");
    assert_eq!(answer(&browser, "AUTO"), "AUTO: automation is on air");
    browser.screenshot("status-page.png");
    drop(browser);
    s.wait_until(s.now() + secs(2));
    s.terminate();

    let log = s.log_json();
    let skipped = log.one("morning-show");
    log.expect_ended(skipped, &[Ended::Skipped]);
    log.check(
        skipped.reason.as_deref() == Some("skipped by page"),
        "the skipped programme says who skipped it, and stays skipped when LIVE follows at once",
    );
    let lives = log.of_kind(Kind::Live);
    log.check(lives.len() == 1, "one live entry");
    let live = lives[0];
    log.check(live.by.as_deref() == Some("page"), "the page switched");
    let Some(back) = live.end.map(|e| e.to_utc()) else {
        log.fail("the live entry has no end")
    };
    let aired = s.aired();
    s.label_tone(LIVE_TONE, "the studio");
    let runs = s.runs(&aired);
    let went = live.start.to_utc();
    expect_at(&runs, went + ms(400), What::Tone(LIVE_TONE));
    expect_at(&runs, back - ms(100), What::Tone(LIVE_TONE));
    expect_at(&runs, back + ms(500), What::Tone(2500));
}
