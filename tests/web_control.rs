//! Control of the real box from the network and from the box itself:
//! there is no password until `onair passwd`; every request without a
//! login or a token, with a wrong one, with a session that does not exist,
//! or from another site with a good cookie is refused and changes nothing
//! (the mode, what is on air and the as-run log stay as they were); a
//! login, a token and the local control socket (`onair skip`) work, and
//! the box says who gave each command.

use crate::common;

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::http::{self, Response};
use common::*;

const PASSWORD: &str = "studio password 7";

/// A talk programme on air from 01:00 for ten minutes, the clock at 2×.
fn station(name: &str) -> Station {
    let mut s = Station::new(name);
    s.clock("2026-03-02 00:59:58", 2.0);
    s.filler(2500, 600.0);
    s.programme("2026-03-02 01:00", "long-talk", 400, 600.0, "wav");
    s
}

/// `onair ARGS… --config FILE` with `input` on its standard input.
fn onair_with_input(s: &Station, args: &[&str], input: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_onair"))
        .args(args)
        .arg("--config")
        .arg(s.config_path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run onair: {e}"));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn run(s: &Station, args: &[&str]) -> Output {
    onair_with_input(s, args, "")
}

fn says(output: &Output) -> String {
    format!(
        "exit {}, stdout {:?}, stderr {:?}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// What a refused request must not have changed.
#[derive(Debug, PartialEq)]
struct OnAir {
    mode: String,
    title: String,
    log: Vec<(String, String)>,
}

fn on_air(address: &str) -> OnAir {
    let status = http::get(address, "/api/status").json();
    let log = http::get(address, "/api/log").json();
    OnAir {
        mode: status["mode"].as_str().unwrap_or_default().to_string(),
        title: status["on_air"]["title"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        log: log
            .as_array()
            .unwrap()
            .iter()
            .map(|e| (e["title"].to_string(), e["ended"].to_string()))
            .collect(),
    }
}

fn expect_refused(answer: &Response, status: u16, what: &str) {
    assert_eq!(answer.status, status, "{what}: {}", answer.body);
    if status == 401 {
        assert_eq!(
            answer.header("www-authenticate"),
            Some("Bearer realm=\"onair\""),
            "{what}"
        );
    }
}

/// A request that must be refused: what it is, its headers, the status.
type Refusal<'a> = (&'a str, Vec<(&'a str, &'a str)>, u16);

fn login(address: &str, password: &str) -> Response {
    http::request(
        address,
        "POST",
        "/login",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        &format!("password={}", password.replace(' ', "+")),
    )
}

#[test]
fn no_password_no_token_no_session_and_no_other_site_may_control_the_box() {
    let mut s = station("control-refused");
    s.start();
    s.wait_until(s.local("2026-03-02 01:00:04"));
    let address = s.web_address();
    let before = on_air(&address);
    assert_eq!(before.title, "Long Talk", "{before:?}");

    // A fresh box: no password works, and control says how to set one.
    for path in ["/api/skip", "/api/live", "/api/auto"] {
        let answer = http::post(&address, path, &[]);
        expect_refused(&answer, 403, path);
        assert_eq!(answer.json()["error"], "no control password set");
        assert_eq!(answer.json()["fix"], "on the box, run: onair passwd");
    }
    let answer = login(&address, "any password at all");
    expect_refused(&answer, 403, "login on a fresh box");
    assert_eq!(answer.json()["fix"], "on the box, run: onair passwd");
    let session = http::get(&address, "/api/session").json();
    assert_eq!(session["password_set"], false, "{session}");

    // `onair passwd` from a script, while the box runs.
    let set = onair_with_input(&s, &["passwd"], &format!("{PASSWORD}\n"));
    assert!(set.status.success(), "{}", says(&set));
    let secrets = s.data_dir().join("secrets").join("secrets.toml");
    let mode = std::fs::metadata(&secrets).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "{}", secrets.display());
    let folder = std::fs::metadata(secrets.parent().unwrap()).unwrap();
    assert_eq!(folder.permissions().mode() & 0o777, 0o700);
    let text = std::fs::read_to_string(&secrets).unwrap();
    assert!(text.contains("$argon2id$"), "{text}");
    assert!(
        !text.contains(PASSWORD),
        "the password itself is kept: {text}"
    );
    let short = onair_with_input(&s, &["passwd"], "short\n");
    assert!(!short.status.success() && says(&short).contains("at least 8"));

    let wrong = login(&address, "studio password 8");
    expect_refused(&wrong, 401, "a wrong password");
    let right = login(&address, PASSWORD);
    assert_eq!(right.status, 200, "{}", right.body);
    let cookie = right
        .header("set-cookie")
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();

    let refusals: [Refusal; 6] = [
        ("no credentials", vec![], 401),
        (
            "a wrong token",
            vec![(
                "Authorization",
                "Bearer AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            )],
            401,
        ),
        (
            "not a bearer token",
            vec![("Authorization", "Basic b25haXI6eA==")],
            401,
        ),
        (
            "an unknown session",
            vec![(
                "Cookie",
                "onair_session=bm90IGEgc2Vzc2lvbiBhdCBhbGwgYnV0IGxvbmcgZW5vdWdo",
            )],
            401,
        ),
        (
            "another site with a good cookie",
            vec![
                ("Cookie", cookie.as_str()),
                ("Sec-Fetch-Site", "cross-site"),
                ("Origin", "http://attacker.example"),
            ],
            403,
        ),
        (
            "an old browser on another site with a good cookie",
            vec![
                ("Cookie", cookie.as_str()),
                ("Origin", "http://attacker.example"),
            ],
            403,
        ),
    ];
    for (what, headers, status) in &refusals {
        for path in ["/api/skip", "/api/live", "/api/press/skip"] {
            expect_refused(&http::post(&address, path, headers), *status, what);
        }
    }
    std::thread::sleep(Duration::from_millis(600));
    let after = on_air(&address);
    assert_eq!(after, before, "a refused request changed what is on air");

    // Malformed requests: a clear 4xx each.
    let good = [
        ("Cookie", cookie.as_str()),
        ("Sec-Fetch-Site", "same-origin"),
    ];
    let bad_button = http::post(&address, "/api/press/eject", &good);
    assert_eq!(bad_button.status, 400, "{}", bad_button.body);
    assert!(bad_button.body.contains("live, auto or skip"));
    let form = [("Content-Type", "application/x-www-form-urlencoded")];
    let bad_form = http::request(&address, "POST", "/login", &form, "secret=x");
    assert_eq!(bad_form.status, 400, "{}", bad_form.body);
    let huge = format!("password={}", "x".repeat(100_000));
    let too_big = http::request(&address, "POST", "/login", &form, &huge);
    assert_eq!(too_big.status, 413, "{}", too_big.body);
    assert_eq!(on_air(&address), before);

    // The logged-in page skips, and the box says so.
    let skipped = http::post(&address, "/api/skip", &good);
    assert_eq!(skipped.status, 200, "{}", skipped.body);
    assert_eq!(skipped.json()["answer"], "skipped \"Long Talk\"");
    assert_eq!(skipped.json()["by"], "page");
    let refused = http::post(&address, "/api/live", &good);
    assert_eq!(refused.status, 409, "{}", refused.body);
    assert!(
        refused.json()["error"]
            .as_str()
            .unwrap()
            .contains("no live input")
    );
    // Logged out, the cookie no longer works.
    http::post(&address, "/logout", &good);
    expect_refused(
        &http::post(&address, "/api/skip", &good),
        401,
        "after logout",
    );
    // The skipped programme's fade ends before the box stops.
    s.wait_until(s.now() + secs(3));
    s.terminate();
    let log = s.log_json();
    log.expect_ended(log.one("long-talk"), &[Ended::Skipped]);
}

#[test]
fn tokens_are_shown_once_listed_by_name_and_refused_once_revoked() {
    let mut s = station("control-tokens");
    s.start();
    s.wait_until(s.local("2026-03-02 01:00:02"));
    let address = s.web_address();
    let added = run(&s, &["token", "add", "studio-pc"]);
    assert!(added.status.success(), "{}", says(&added));
    let token = String::from_utf8_lossy(&added.stdout).trim().to_string();
    assert_eq!(token.len(), 43, "{}", says(&added));
    let secrets = std::fs::read_to_string(s.data_dir().join("secrets/secrets.toml")).unwrap();
    assert!(!secrets.contains(&token), "the token itself is kept");
    let again = run(&s, &["token", "add", "studio-pc"]);
    assert!(!again.status.success() && says(&again).contains("already a token"));
    let bad = run(&s, &["token", "add", "no spaces"]);
    assert!(!bad.status.success(), "{}", says(&bad));
    assert!(run(&s, &["token", "add", "ci"]).status.success());

    let list = run(&s, &["token", "list"]);
    let listed = String::from_utf8_lossy(&list.stdout);
    assert!(
        listed.contains("studio-pc") && listed.contains("ci") && !listed.contains(&token),
        "{}",
        says(&list)
    );

    let bearer = format!("Bearer {token}");
    let auth = [("Authorization", bearer.as_str())];
    // Past the guard: the director itself answers (no live input here).
    let answer = http::post(&address, "/api/live", &auth);
    assert_eq!(answer.status, 409, "{}", answer.body);
    assert!(
        answer.json()["error"]
            .as_str()
            .unwrap()
            .contains("no live input")
    );
    let skipped = http::post(&address, "/api/skip", &auth);
    assert_eq!(skipped.status, 200, "{}", skipped.body);
    assert_eq!(skipped.json()["by"], "token studio-pc");

    let revoked = run(&s, &["token", "revoke", "studio-pc"]);
    assert!(revoked.status.success(), "{}", says(&revoked));
    expect_refused(
        &http::post(&address, "/api/live", &auth),
        401,
        "a revoked token",
    );
    let unknown = run(&s, &["token", "revoke", "studio-pc"]);
    assert!(!unknown.status.success() && says(&unknown).contains("ci"));
    s.terminate();
    assert!(
        s.box_logs().contains("by token studio-pc"),
        "the box's log does not say who skipped"
    );
}

#[test]
fn onair_skip_on_the_box_works_over_the_control_socket_and_names_the_user() {
    let mut s = station("control-socket");
    s.start();
    s.wait_until(s.local("2026-03-02 01:00:04"));
    let socket = s.data_dir().join("control.sock");
    let meta = std::fs::metadata(&socket).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o660);

    let live = run(&s, &["live"]);
    assert!(!live.status.success(), "{}", says(&live));
    assert!(says(&live).contains("no live input"), "{}", says(&live));
    // Bad input: a button the panel does not have.
    let press = run(&s, &["press", "eject"]);
    assert!(!press.status.success(), "{}", says(&press));
    assert!(
        says(&press).contains("live, auto or skip"),
        "{}",
        says(&press)
    );

    let skip = run(&s, &["skip"]);
    assert!(skip.status.success(), "{}", says(&skip));
    assert_eq!(
        String::from_utf8_lossy(&skip.stdout).trim(),
        "skipped \"Long Talk\""
    );
    // SAFETY: getuid(2) cannot fail.
    let uid = unsafe { libc::getuid() };
    s.wait_until(s.now() + secs(3));
    s.terminate();
    assert!(
        s.box_logs().contains(&format!("by uid {uid}")),
        "the box's log does not name uid {uid}"
    );
    let log = s.log_json();
    let skipped = log.one("long-talk");
    log.expect_ended(skipped, &[Ended::Skipped]);
    log.check(
        skipped.reason == Some(format!("skipped by uid {uid}")),
        "the as-run log names who skipped",
    );

    assert!(!socket.exists(), "the box left its control socket behind");
    let stopped = run(&s, &["skip"]);
    assert!(
        !stopped.status.success() && says(&stopped).contains("the box is not running"),
        "{}",
        says(&stopped)
    );
}
