//! `onair demo` as a developer first meets it: it writes its station,
//! plays (to the null output: there is no sound card here), serves the
//! status page, and stops in order on SIGTERM.

use std::fs::File;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::Value;

/// The first of the demo's generated programmes.
const FIRST: &str = "Breakfast Show";

/// The demo running in a folder of its own; killed if a test fails, and
/// its folder and output kept for a look.
struct Demo {
    dir: PathBuf,
    child: Option<Child>,
}

impl Demo {
    fn start(listen: SocketAddr) -> Demo {
        let unique = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        let dir = std::env::temp_dir().join(format!("onair-demo-{}-{unique}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let log = File::create(dir.join("onair.log")).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_onair"))
            .arg("demo")
            .arg("--dir")
            .arg(&dir)
            .arg("--listen")
            .arg(listen.to_string())
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        Demo {
            dir,
            child: Some(child),
        }
    }

    fn exited(&mut self) -> Option<ExitStatus> {
        let status = self.child.as_mut()?.try_wait().unwrap()?;
        self.child = None;
        Some(status)
    }

    fn terminate(&mut self) -> ExitStatus {
        let child = self.child.as_ref().expect("the demo is not running");
        let pid = libc::pid_t::try_from(child.id()).unwrap();
        // SAFETY: kill(2) only sends a signal; `pid` is our own child, not yet reaped.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = self.exited() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "the demo did not stop within 15 s of SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("onair.log")).unwrap_or_default()
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            eprintln!(
                "demo kept in {}\n--- its log:\n{}",
                self.dir.display(),
                self.log()
            );
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

fn free_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

fn get(url: &str) -> Result<String, ureq::Error> {
    ureq::get(url).call()?.body_mut().read_to_string()
}

fn time(value: &Value) -> DateTime<Utc> {
    value
        .as_str()
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .unwrap_or_else(|| panic!("{value} is not an RFC 3339 time"))
        .to_utc()
}

/// Asks the demo for its status until something is on air and the output
/// has played some of it (on a loaded machine the first answer can come
/// between the cue and the output's first block).
fn status_on_air(demo: &mut Demo, address: SocketAddr) -> Value {
    let url = format!("http://{address}/api/status");
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(status) = demo.exited() {
            panic!("the demo stopped by itself ({status})");
        }
        let last = match get(&url) {
            Ok(body) => {
                let status: Value = serde_json::from_str(&body).unwrap();
                let played = status["outputs"]
                    .as_array()
                    .is_some_and(|o| o.iter().any(|o| o["frames_out"].as_u64() > Some(0)));
                if !status["on_air"].is_null() && played {
                    return status;
                }
                body
            }
            Err(e) => e.to_string(),
        };
        assert!(
            Instant::now() < deadline,
            "nothing went on air and out of an output within 15 s; last answer from {url}: {last}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn file_in(path: &Value, folder: &Path) -> bool {
    path.as_str()
        .is_some_and(|p| Path::new(p).parent() == Some(folder))
}

#[test]
fn the_demo_plays_filler_until_its_first_programme_and_stops_on_sigterm() {
    let address = free_port();
    let launched = Utc::now();
    let mut demo = Demo::start(address);
    let status = status_on_air(&mut demo, address);
    let programmes = demo.dir.join("programmes");

    assert_eq!(status["station"], "Demo FM", "{status:#}");
    assert_eq!(status["timezone"], "Europe/London");
    assert!(
        status["simulated_speed"].is_null(),
        "the demo runs on the wall clock: {status:#}"
    );
    // The generated files are whole when the station starts: filler plays
    // at once, not the emergency file while they settle.
    assert_eq!(status["mode"], "filler", "{status:#}");
    assert!(
        file_in(&status["on_air"]["file"], &demo.dir.join("filler")),
        "{status:#}"
    );

    // The first generated programme, due in the minute after next.
    let next = &status["next"];
    assert_eq!(next["title"], FIRST, "{status:#}");
    assert!(file_in(&next["file"], &programmes), "{status:#}");
    let due = time(&next["start"]) - launched;
    assert!(
        due > TimeDelta::seconds(55) && due <= TimeDelta::seconds(125),
        "the first programme is due {} s after launch, expected within two minutes",
        due.num_seconds()
    );
    let scheduled = std::fs::read_dir(&programmes).unwrap().count();
    assert_eq!(scheduled, 15, "generated programmes");
    assert_eq!(status["ignored"], Value::Array(vec![]), "{status:#}");
    assert_eq!(status["warnings"], Value::Array(vec![]), "{status:#}");

    // Playing to the null output, without drops.
    let outputs = status["outputs"].as_array().unwrap();
    assert_eq!(outputs.len(), 1, "{status:#}");
    assert_eq!(outputs[0]["name"], "null");
    assert_eq!(outputs[0]["frames_dropped"], 0);
    assert!(outputs[0]["frames_out"].as_u64().unwrap() > 0, "{status:#}");

    let page = get(&format!("http://{address}/")).unwrap();
    assert!(
        page.contains("id=\"stale\""),
        "the status page is not served"
    );

    let exit = demo.terminate();
    assert!(
        exit.success(),
        "the demo exited with {exit} after SIGTERM\n{}",
        demo.log()
    );
    // An orderly stop closes what was on air as stopped, and the port is free.
    let log = Command::new(env!("CARGO_BIN_EXE_onair"))
        .arg("log")
        .arg("--config")
        .arg(demo.dir.join("demo.toml"))
        .arg("--json")
        .output()
        .unwrap();
    assert!(
        log.status.success(),
        "{}",
        String::from_utf8_lossy(&log.stderr)
    );
    let entries: Value = serde_json::from_slice(&log.stdout).unwrap();
    let last = entries.as_array().and_then(|e| e.last()).unwrap();
    assert_eq!(last["kind"], "filler", "{entries:#}");
    assert_eq!(last["ended"], "stopped", "{entries:#}");
    assert!(
        TcpListener::bind(address).is_ok(),
        "the demo still holds {address} after stopping"
    );
}
