//! `onair status` against the real binary: what a station engineer reads
//! over SSH from a running box (mode, on air, next, each output and stream),
//! the JSON passed through, and the error when the box is not running.

use crate::common;
use crate::common::icecast as server;

use std::process::Output;
use std::time::Duration;

use common::*;

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn printed(output: &Output) -> String {
    format!(
        "exit: {}\n--- stdout\n{}--- stderr\n{}",
        output.status,
        stdout(output),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn stream(port: u16, password: &str, mount: &str) -> String {
    format!(
        "kind = \"icecast\"\nhost = \"127.0.0.1\"\nport = {port}\nmount = \"{mount}\"\n\
         password = \"{password}\"\nbitrate = 128\n"
    )
}

/// The lines of one output's block in the summary (its name line and the
/// indented lines under it).
fn block_of(text: &str, name: &str) -> String {
    let mut lines = text.lines().skip_while(|l| l.trim() != name);
    let mut block: Vec<&str> = lines.next().into_iter().collect();
    block.extend(lines.take_while(|l| l.starts_with("    ")));
    block.join("\n")
}

#[test]
fn status_shows_what_the_running_box_is_doing_and_each_stream() {
    let icecast = server::Icecast::start("status-command");
    let closed = server::free_port();
    let mut s = Station::new("status-command");
    // Icecast runs in real time.
    s.sample_rate_hz(44_100)
        .clock("2026-03-02 00:59:50", 1.0)
        .output(&stream(icecast.port, server::SOURCE_PASSWORD, "/live.mp3"))
        // Bad input: a port nobody listens on, and the wrong password.
        .output(&stream(closed, server::SOURCE_PASSWORD, "/gone.mp3"))
        .output(&stream(icecast.port, "not-the-password", "/wrong.mp3"));
    s.programme("2026-03-02 00:59", "morning-show", 400, 120.0, "wav");
    s.programme("2026-03-02 01:30", "news", 700, 60.0, "wav");
    s.start();
    let up = icecast.wait_for(Duration::from_secs(5), |i| i.mount("/live.mp3").is_some());
    assert!(up.is_some(), "the stream never reached the server");
    std::thread::sleep(Duration::from_millis(1500));
    let text = s.command("status", &[]);
    let json = s.command("status", &["--json"]);
    s.terminate();
    let after = s.command("status", &[]);

    assert!(text.status.success(), "{}", printed(&text));
    let out = stdout(&text);
    assert!(
        out.starts_with("Test FM · AUTO · 2026-03-02 00:59:5"),
        "{out}"
    );
    assert!(
        out.contains("(simulated clock ×1; stream times are real time)"),
        "{out}"
    );
    // 120 s from 00:59:00: a minute and some seconds left at 00:59:5x.
    let on_air = out.lines().find(|l| l.starts_with("On air:")).unwrap_or("");
    assert!(
        on_air.starts_with("On air:   Morning Show, 1:") && on_air.contains(" left (ends 01:0"),
        "{out}"
    );
    assert!(out.contains("\nNext:     News at 01:30:00\n"), "{out}");
    assert!(out.contains("\nOutputs:\n  wav "), "{out}");
    assert!(
        out.contains(" frames out, 0 dropped, 0 underruns, 0 errors"),
        "{out}"
    );

    let port = icecast.port;
    let live = block_of(&out, &format!("icecast 127.0.0.1:{port}/live.mp3"));
    assert!(live.contains("\n    connected since "), "{out}");
    assert!(!live.contains(" 0 kB sent"), "{live}");
    assert!(
        live.contains(" kB sent, 0 reconnects, 0 failed attempts"),
        "{live}"
    );
    assert!(
        live.contains("audio lost: 0.0 s dropped (queue full), 0.0 s discarded (while down), 0.0 s dropped (ring full)"),
        "{live}"
    );
    assert!(
        live.contains(
            "encoder MP3 128 kbit/s CBR 44100 Hz, shared by 3 streams; title \"Morning Show\""
        ),
        "{live}"
    );
    let gone = block_of(&out, &format!("icecast 127.0.0.1:{closed}/gone.mp3"));
    assert!(gone.contains("\n    retrying, next attempt at "), "{gone}");
    assert!(gone.contains("cannot reach 127.0.0.1:"), "{gone}");
    assert!(gone.contains("0 kB sent"), "{gone}");
    assert!(
        !gone.contains("0.0 s discarded"),
        "audio discarded while down: {gone}"
    );
    let wrong = block_of(&out, &format!("icecast 127.0.0.1:{port}/wrong.mp3"));
    assert!(wrong.contains("\n    REFUSED, next attempt at "), "{wrong}");
    assert!(wrong.contains("check the user and password"), "{wrong}");

    // --json is the box's own answer, passed through.
    assert!(json.status.success(), "{}", printed(&json));
    let status: serde_json::Value = serde_json::from_str(&stdout(&json))
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", printed(&json)));
    assert_eq!(status["mode"], "auto");
    assert_eq!(status["on_air"]["title"], "Morning Show");
    assert_eq!(
        status["outputs"].as_array().map(Vec::len),
        Some(4),
        "{status}"
    );
    assert!(status["age_ms"].is_u64(), "{status}");

    // Once the box has stopped: a clear error and exit code 1.
    assert_eq!(after.status.code(), Some(1), "{}", printed(&after));
    let error = String::from_utf8_lossy(&after.stderr);
    assert!(
        error.contains("the box is not running with this configuration"),
        "{error}"
    );
    assert!(error.contains("onair run --config"), "{error}");
    assert!(stdout(&after).is_empty(), "{}", printed(&after));
}

#[test]
fn status_names_the_address_of_a_box_that_does_not_answer() {
    let s = Station::new("status-not-running");
    s.write_config();
    // Bad input: a fixed web address where nothing listens.
    let port = server::free_port();
    let config = std::fs::read_to_string(s.config_path())
        .unwrap()
        .replace("127.0.0.1:0", &format!("127.0.0.1:{port}"));
    std::fs::write(s.config_path(), config).unwrap();
    for args in [&[][..], &["--json"][..]] {
        let output = s.command("status", args);
        assert_eq!(output.status.code(), Some(1), "{}", printed(&output));
        let error = String::from_utf8_lossy(&output.stderr);
        assert!(
            error.contains(&format!("no answer from the box at 127.0.0.1:{port}")),
            "{error}"
        );
        assert!(
            error.contains("is it running with this configuration?"),
            "{error}"
        );
        assert!(stdout(&output).is_empty(), "{}", printed(&output));
    }
}
