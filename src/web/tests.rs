//! The web server's guards, in process: no password, tokens, sessions,
//! the cross-site guard, malformed requests and the simulated buttons;
//! and that `/panel.png` is drawn fresh for whoever asks.
//! The director is not running here, so a command that passes every
//! guard is answered 409 "not running": the guards are what is tested
//! (tests/web_control.rs drives the real box).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::*;
use crate::asrun::SledReader;
use crate::auth::{self, TokenRecord, password, tokens};
use crate::hw::Button;
use crate::panel::Frame;

struct Server {
    address: SocketAddr,
    data: PathBuf,
    buttons: SimButtons,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.data);
    }
}

fn start(name: &str, read_requires_login: bool, with_buttons: bool) -> Server {
    start_showing(name, read_requires_login, with_buttons, None)
}

/// A server whose `/panel.png` mirrors `panel` (a still frame without one).
fn start_showing(
    name: &str,
    read_requires_login: bool,
    with_buttons: bool,
    panel: Option<Mirror>,
) -> Server {
    let data = std::env::temp_dir().join(format!("onair-web-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data);
    std::fs::create_dir_all(&data).unwrap();
    let buttons = SimButtons::default();
    let (tx, rx) = std::sync::mpsc::channel();
    let (dir, sim) = (data.clone(), buttons.clone());
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(async move {
            let log: Arc<dyn AsRunReader> = Arc::new(SledReader::open(&dir.join("log")).unwrap());
            let (_status, status) = watch::channel(Status::default());
            let (_still, still) = watch::channel(Frame::default());
            let panel = panel.unwrap_or_else(|| Mirror::of(still));
            // No director: commands that pass the guards are "not running".
            let (controls, _) = crate::director::channel();
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            serve(
                listener,
                State {
                    status,
                    log,
                    timezone: chrono_tz::Europe::London,
                    clock: Clock::Wall,
                    panel,
                    controls,
                    buttons: with_buttons.then_some(sim),
                    access: Arc::new(Access::new(
                        &dir,
                        Duration::from_secs(3600),
                        read_requires_login,
                    )),
                    archive: None,
                },
            )
            .await;
        });
    });
    let address = rx.recv_timeout(Duration::from_secs(10)).unwrap();
    Server {
        address,
        data,
        buttons,
    }
}

struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: serde_json::Value,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn request(b: &Server, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Answer {
    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .new_agent();
    let url = format!("http://{}{path}", b.address);
    let mut answer = if method == "GET" {
        let mut r = agent.get(&url);
        for (k, v) in headers {
            r = r.header(*k, *v);
        }
        r.call().unwrap()
    } else {
        let mut r = agent.post(&url);
        for (k, v) in headers {
            r = r.header(*k, *v);
        }
        r.send(body).unwrap()
    };
    let headers = answer
        .headers()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or_default().to_string()))
        .collect();
    let status = answer.status().as_u16();
    let text = answer.body_mut().read_to_string().unwrap_or_default();
    Answer {
        status,
        headers,
        body: serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)),
    }
}

fn post(b: &Server, path: &str, headers: &[(&str, &str)]) -> Answer {
    request(b, "POST", path, headers, "")
}

const FORM: (&str, &str) = ("content-type", "application/x-www-form-urlencoded");

fn set_password(b: &Server, pw: &str) {
    let phc = password::hash(pw).unwrap();
    auth::update(&b.data, |s| {
        s.password = Some(phc);
        Ok(())
    })
    .unwrap();
}

fn login(b: &Server, pw: &str) -> Answer {
    request(b, "POST", "/login", &[FORM], &format!("password={pw}"))
}

fn cookie_of(answer: &Answer) -> String {
    let set = answer.header("set-cookie").expect("a session cookie");
    for part in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(set.contains(part), "{set}");
    }
    set.split(';').next().unwrap().to_string()
}

#[test]
fn a_fresh_box_refuses_control_and_login_with_the_hint() {
    let b = start("fresh", false, false);
    for path in ["/api/live", "/api/auto", "/api/skip", "/api/press/skip"] {
        let answer = post(&b, path, &[]);
        assert_eq!(answer.status, 403, "{path}");
        assert_eq!(answer.body["error"], "no control password set", "{path}");
        assert_eq!(answer.body["fix"], "on the box, run: onair passwd");
    }
    let answer = login(&b, "anything-at-all");
    assert_eq!(answer.status, 403);
    assert_eq!(answer.body["error"], "no control password set");
    let session = request(&b, "GET", "/api/session", &[], "");
    assert_eq!(session.body["password_set"], false);
    assert!(
        session.body["hint"]
            .as_str()
            .unwrap()
            .contains("onair passwd")
    );
    // Reading needs no login by default.
    assert_eq!(request(&b, "GET", "/api/status", &[], "").status, 200);
}

#[test]
fn a_session_controls_until_logout_and_never_from_another_site() {
    let b = start("session", false, false);
    set_password(&b, "studio password");
    let wrong = login(&b, "not it");
    assert_eq!(wrong.status, 401);
    assert_eq!(wrong.body["error"], "wrong password");
    let right = login(&b, "studio%20password");
    assert_eq!(right.status, 200, "{}", right.body);
    let cookie = cookie_of(&right);
    let with = |extra: &[(&'static str, &'static str)]| {
        let mut headers = vec![("cookie", cookie.as_str())];
        headers.extend_from_slice(extra);
        post(&b, "/api/skip", &headers)
    };
    // Past every guard: the (absent) director answers.
    let passed = with(&[("sec-fetch-site", "same-origin")]);
    assert_eq!(passed.status, 409, "{}", passed.body);
    assert!(
        passed.body["error"]
            .as_str()
            .unwrap()
            .contains("not running")
    );
    // The same cookie from a page elsewhere.
    for cross in [
        [
            ("sec-fetch-site", "cross-site"),
            ("origin", "http://evil.example"),
        ],
        [("origin", "http://evil.example"), ("x-none", "")],
    ] {
        let refused = with(&cross);
        assert_eq!(refused.status, 403, "{cross:?}");
        assert_eq!(refused.body["error"], "cross-site request refused");
    }
    // A made-up session, then the real one after logout.
    let made_up = post(&b, "/api/skip", &[("cookie", "onair_session=AAAA")]);
    assert_eq!(made_up.status, 401);
    assert_eq!(
        made_up.header("www-authenticate"),
        Some("Bearer realm=\"onair\"")
    );
    let out = post(&b, "/logout", &[("cookie", cookie.as_str())]);
    assert!(out.header("set-cookie").unwrap().contains("Max-Age=0"));
    assert_eq!(with(&[]).status, 401);
    // A new password ends every session.
    let again = cookie_of(&login(&b, "studio%20password"));
    assert_eq!(
        post(&b, "/api/skip", &[("cookie", again.as_str())]).status,
        409
    );
    set_password(&b, "another password");
    assert_eq!(
        post(&b, "/api/skip", &[("cookie", again.as_str())]).status,
        401
    );
}

#[test]
fn tokens_work_by_name_until_revoked() {
    let b = start("tokens", false, false);
    set_password(&b, "studio password");
    let token = tokens::generate();
    auth::update(&b.data, |s| {
        s.tokens.push(TokenRecord {
            name: "ci".into(),
            sha256: tokens::digest(&token),
            created: chrono::Utc::now(),
        });
        Ok(())
    })
    .unwrap();
    let bearer = format!("Bearer {token}");
    let passed = post(&b, "/api/skip", &[("authorization", bearer.as_str())]);
    assert_eq!(passed.status, 409, "{}", passed.body);
    for bad in ["Bearer nope", "Basic dXNlcjpwYXNz", "Bearer "] {
        let refused = post(&b, "/api/skip", &[("authorization", bad)]);
        assert_eq!(refused.status, 401, "{bad}");
        assert_eq!(
            refused.header("www-authenticate"),
            Some("Bearer realm=\"onair\"")
        );
    }
    assert_eq!(post(&b, "/api/skip", &[]).status, 401);
    auth::update(&b.data, |s| {
        s.tokens.clear();
        Ok(())
    })
    .unwrap();
    assert_eq!(
        post(&b, "/api/skip", &[("authorization", bearer.as_str())]).status,
        401
    );
}

#[test]
fn malformed_requests_get_a_clear_4xx() {
    let b = start("malformed", false, true);
    set_password(&b, "studio password");
    let cookie = cookie_of(&login(&b, "studio%20password"));
    let auth = [("cookie", cookie.as_str())];
    let bad_button = post(&b, "/api/press/eject", &auth);
    assert_eq!(bad_button.status, 400);
    assert!(
        bad_button.body["error"]
            .as_str()
            .unwrap()
            .contains("live, auto or skip")
    );
    let bad_form = request(&b, "POST", "/login", &[FORM], "pass=x");
    assert_eq!(bad_form.status, 400);
    assert!(
        bad_form.body["error"]
            .as_str()
            .unwrap()
            .contains("password")
    );
    let huge = "x".repeat(MAX_BODY + 1);
    for path in ["/login", "/api/skip"] {
        let answer = request(&b, "POST", path, &[FORM], &format!("password={huge}"));
        assert_eq!(answer.status, 413, "{path}");
    }
    assert_eq!(request(&b, "GET", "/api/skip", &[], "").status, 405);

    // A press holds the simulated button down for a moment.
    let b2 = b.buttons.clone();
    let watcher = std::thread::spawn(move || {
        (0..100).any(|_| {
            std::thread::sleep(Duration::from_millis(5));
            b2.is_held(Button::Skip)
        })
    });
    let pressed = post(&b, "/api/press/SKIP", &auth);
    assert_eq!(pressed.status, 200, "{}", pressed.body);
    assert_eq!(pressed.body["pressed"], "skip");
    assert!(watcher.join().unwrap(), "the button was never held");
    assert!(!b.buttons.is_held(Button::Skip));
}

#[test]
fn without_simulated_buttons_a_press_is_404_and_reading_can_need_login() {
    let b = start("closed", true, false);
    set_password(&b, "studio password");
    let cookie = cookie_of(&login(&b, "studio%20password"));
    let auth = [("cookie", cookie.as_str())];
    let answer = post(&b, "/api/press/live", &auth);
    assert_eq!(answer.status, 404);
    assert!(
        answer.body["error"]
            .as_str()
            .unwrap()
            .contains("no simulated buttons")
    );
    for path in ["/api/status", "/api/log", "/panel.png", "/api/events"] {
        assert_eq!(request(&b, "GET", path, &[], "").status, 401, "{path}");
    }
    assert_eq!(request(&b, "GET", "/api/status", &auth, "").status, 200);
    let png = request(&b, "GET", "/panel.png", &auth, "");
    assert_eq!(png.header("content-type"), Some("image/png"));
    // The page itself loads, to offer the login.
    assert_eq!(request(&b, "GET", "/", &[], "").status, 200);
}

#[test]
fn the_panel_picture_shows_the_status_now_though_nobody_was_watching() {
    let now = chrono::DateTime::parse_from_rfc3339("2026-03-02T10:15:00Z")
        .unwrap()
        .to_utc();
    // A snapshot from the director, shown as it is, and the same with an alarm.
    let quiet = Status {
        now: Some(now),
        station: "Test FM".into(),
        ..Status::default()
    };
    let (status_tx, status_rx) = watch::channel(quiet.clone());
    // The real display's bus type; no display is attached.
    let no_display =
        || -> Result<Option<crate::panel::oled::Oled<linux_embedded_hal::I2cdev>>, _> { Ok(None) };
    let screen = crate::panel::screen::start_with(no_display, status_rx, move || now).unwrap();
    let b = start_showing("panel-fresh", false, false, Some(screen.mirror()));
    let picture = |status: &Status| {
        let mut frame = Frame::default();
        crate::panel::render::render(status, now, 0, &mut frame);
        frame.png()
    };
    assert_eq!(png(&b), picture(&quiet));
    // Unwatched, the screen draws nothing; the picture asked for next is
    // still of the alarm raised since, not of the status it last drew.
    std::thread::sleep(Duration::from_millis(500));
    let alarmed = Status {
        alarms: vec![crate::status::Alarm {
            kind: crate::status::AlarmKind::DeadAir,
            since: now,
            message: "silent 15 s".into(),
        }],
        ..quiet.clone()
    };
    assert_ne!(picture(&alarmed), picture(&quiet));
    status_tx.send(alarmed.clone()).unwrap();
    let shown = png(&b);
    assert_ne!(shown, picture(&quiet), "the picture is stale");
    assert_eq!(shown, picture(&alarmed));
    screen.stop();
}

fn png(b: &Server) -> Vec<u8> {
    let url = format!("http://{}/panel.png", b.address);
    let mut answer = ureq::get(&url).call().unwrap();
    answer.body_mut().read_to_vec().unwrap()
}
