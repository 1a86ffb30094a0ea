//! The status page in real headless Chromium (Debian's `chromium` and
//! `chromium-driver`, driven through fantoccini): what is on air changes
//! on the page over the live feed without a reload, and a person who logs
//! in sees each command's answer from the director on the page.
//!
//! Without chromedriver this fails with the install hint; it never passes
//! without a browser.

mod common;

use std::time::{Duration, Instant};

use common::browser::Browser;
use common::*;

const PASSWORD: &str = "studio password 7";

/// Real time until station time `t` on the box, plus `margin`.
fn real_until(s: &Station, t: chrono::DateTime<chrono::Utc>, margin: Duration) -> Duration {
    let ahead = (t - s.now()).to_std().unwrap_or_default();
    ahead.div_f64(s.simulated_clock().speed) + margin
}

/// The page's answer to LIVE. Until the box has a live input the director
/// refuses, and the page shows why; with one, this becomes the check that
/// the live tone is on the output (research §7 test 1).
fn expect_live_answer(browser: &Browser) {
    let answer = browser.wait_for_text("answer", Duration::from_secs(10), |t| {
        t.starts_with("LIVE ") && !t.ends_with('…')
    });
    assert!(
        answer.contains("LIVE refused: the studio cannot take over"),
        "the page shows {answer:?} after LIVE"
    );
}

#[test]
fn the_page_follows_the_box_live_and_a_logged_in_person_controls_it() {
    let mut s = Station::new("browser");
    s.clock("2026-03-02 00:59:57", 5.0);
    s.programme("2026-03-02 01:00", "morning-show", 440, 60.0, "wav");
    s.programme("2026-03-02 01:01", "news", 880, 600.0, "wav");
    s.start();
    let url = format!("http://{}/", s.web_address());
    let browser = Browser::start(s.dir(), "America/Los_Angeles");
    browser.goto(&url);
    browser.wait_for_text("title", Duration::from_secs(15), |t| t == "Morning Show");
    // Marks this load of the page: a reload would lose it.
    browser.eval("window.sameLoad = true; return true;");
    let change = s.local("2026-03-02 01:01:00");
    // The title changes within 2 s of the programme change.
    browser.wait_for_text(
        "title",
        real_until(&s, change, Duration::from_secs(2)),
        |t| t == "News",
    );
    assert_eq!(
        browser.eval("return window.sameLoad === true && performance.getEntriesByType('navigation').length === 1;"),
        serde_json::Value::Bool(true),
        "the page reloaded instead of following the live feed"
    );
    let lamps =
        browser.eval("return document.getElementById('lamp-on-air').classList.contains('on');");
    assert_eq!(
        lamps,
        serde_json::Value::Bool(true),
        "the ON AIR lamp is dark"
    );
    let panel = browser.eval(
        "const i = document.getElementById('panel'); return [i.complete, i.naturalWidth, i.naturalHeight];",
    );
    assert_eq!(
        panel,
        serde_json::json!([true, 128, 64]),
        "the panel mirror"
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
    browser.wait_for_text("title", Duration::from_secs(10), |t| t == "News");
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
    let answer = browser.wait_for_text("answer", Duration::from_secs(10), |t| {
        t.starts_with("SKIP") && !t.ends_with('…')
    });
    assert_eq!(answer, "SKIP: skipped \"News\"");
    assert!(asked.elapsed() < Duration::from_secs(5));
    browser.click("cmd-live");
    expect_live_answer(&browser);
    browser.screenshot("status-page.png");
    drop(browser);
    s.terminate();
    let log = s.log_json();
    log.expect_ended(log.one("news"), &[Ended::Skipped]);
}
