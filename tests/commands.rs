//! The maintenance commands a station engineer runs on the box, against the
//! real binary: `check-config`, `schedule`, `log` (also while the box runs),
//! the web API of a running box, and `run` refusing a bad configuration
//! before it starts anything.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chrono::{DateTime, FixedOffset};
use common::*;

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Everything a command printed, for failure messages.
fn printed(output: &Output) -> String {
    format!(
        "exit: {}\n--- stdout\n{}--- stderr\n{}",
        output.status,
        stdout(output),
        stderr(output)
    )
}

fn expect_success(output: &Output, what: &str) {
    assert!(
        output.status.success(),
        "{what} should succeed\n{}",
        printed(output)
    );
}

/// A command the engineer got wrong: exit code 1 and nothing on standard
/// output that a script could mistake for a result.
fn expect_refused(output: &Output, what: &str) {
    assert_eq!(
        output.status.code(),
        Some(1),
        "{what} should exit 1\n{}",
        printed(output)
    );
    assert!(
        output.stdout.is_empty(),
        "{what} should print nothing on standard output\n{}",
        printed(output)
    );
}

/// A folder of its own for a test that needs no running box.
fn scratch(name: &str) -> PathBuf {
    let unique = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    let dir = std::env::temp_dir().join(format!(
        "onair-commands-{name}-{}-{unique}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    dir
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

/// The lines of `onair log` output that the as-run log is made of.
fn parse_log(s: &Station, output: &Output) -> AsRunLog {
    expect_success(output, "onair log --json");
    AsRunLog::parse(&stdout(output), s.tz).unwrap_or_else(|e| panic!("{e}"))
}

fn titles(log: &AsRunLog) -> Vec<String> {
    log.entries.iter().map(|e| e.title.clone()).collect()
}

// ---------------------------------------------------------------- check-config

#[test]
fn check_config_prints_every_mistake_with_key_value_and_what_is_expected() {
    let dir = scratch("check-config");
    let path = dir.join("onair.toml");
    // Bad input, all in one file: a misspelt key, a misspelt time zone, an
    // output kind that does not exist, a sample rate of 0, a wav output
    // without its file, and a sound card behind a clock at 60 times real time
    // (the third output, after two that are themselves wrong).
    write(
        &path,
        r#"[station]
name = "Test FM"
timezone = "Europe/Lodnon"

[library]
programes = "programmes"

[clock]
start = "2026-03-29T00:59:30"
speed = 60

[audio]
sample_rate = 0

[[output]]
kind = "mp4"

[[output]]
kind = "wav"

[[output]]
kind = "alsa"
device = "hw:0"
"#,
    );
    let output = onair(&[Path::new("check-config"), path.as_path()]);
    expect_refused(&output, "check-config on a file with six mistakes");
    let message = stderr(&output);
    let problems: Vec<&str> = message
        .lines()
        .filter_map(|l| l.strip_prefix("  "))
        .collect();
    assert!(
        message.starts_with("the configuration has 6 problems;"),
        "{message}"
    );
    let expected = [
        (
            "station.timezone = \"Europe/Lodnon\": ",
            "expected an IANA time zone name such as \"Europe/London\"",
        ),
        (
            "station.timezone = \"Europe/Lodnon\": ",
            "(did you mean \"Europe/London\"?)",
        ),
        (
            "library.programes = \"programmes\": ",
            "unknown key; expected one of programmes, filler, emergency (did you mean `programmes`?)",
        ),
        (
            "audio.sample_rate = 0: ",
            "expected a whole number of samples per second from 8000 to 192000",
        ),
        (
            "output[1].kind = \"mp4\": ",
            "expected one of alsa, null, wav",
        ),
        (
            "output[2].path is missing: ",
            "expected the file a wav output writes to",
        ),
        (
            "output[3].kind = \"alsa\": ",
            "not with clock.speed = 60: an ALSA device plays in real time; set clock.speed = 1 or use a wav/null output",
        ),
    ];
    for (start, explanation) in expected {
        assert!(
            problems
                .iter()
                .any(|p| p.starts_with(start) && p.contains(explanation)),
            "no problem line `{start}…{explanation}…` in:\n{message}"
        );
    }
    assert_eq!(problems.len(), 6, "{message}");

    // Bad input: a TOML syntax error (a unit after a number) in another file.
    let syntax = dir.join("syntax.toml");
    write(
        &syntax,
        "[station]\ntimezone = \"Europe/London\"\n\n[audio]\nfade_ms = 1000 ms\n",
    );
    let output = onair(&[Path::new("check-config"), syntax.as_path()]);
    expect_refused(&output, "check-config on a TOML syntax error");
    let message = stderr(&output);
    assert!(
        message.starts_with(&format!("{}:5:", syntax.display())),
        "the message should point at line 5: {message}"
    );
    assert!(message.contains("this is not valid TOML"), "{message}");

    // Bad input: a file that is not there.
    let missing = dir.join("no-such.toml");
    let output = onair(&[Path::new("check-config"), missing.as_path()]);
    expect_refused(&output, "check-config on a missing file");
    let message = stderr(&output);
    assert!(
        message.contains(&format!(
            "cannot read the configuration file {}",
            missing.display()
        )),
        "{message}"
    );
    assert!(message.contains("create it"), "{message}");
    std::fs::remove_dir_all(&dir).unwrap_or_default();
}

#[test]
fn check_config_passes_a_good_file_and_only_warns_about_missing_folders() {
    // A complete station whose folders and files are all there.
    let dir = scratch("check-config-good");
    for sub in ["programmes", "filler"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap_or_default();
    }
    write(&dir.join("filler/jingle.wav"), "RIFF");
    write(&dir.join("emergency.wav"), "RIFF");
    let path = dir.join("onair.toml");
    write(
        &path,
        "[station]\ntimezone = \"Europe/London\"\n[library]\nfiller = \"filler\"\nemergency = \"emergency.wav\"\n[[output]]\nkind = \"null\"\n",
    );
    let output = onair(&[Path::new("check-config"), &path]);
    expect_success(&output, "check-config on a good file");
    assert_eq!(stdout(&output), format!("{}: ok\n", path.display()));
    assert_eq!(stderr(&output), "", "no warnings expected");

    // The shipped demo configuration, checked where it lies: its folders
    // are relative to config/ and are made by `onair demo`, not shipped.
    // Warnings about them are not failures: the box starts with the file.
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/demo.toml");
    let output = onair(&[Path::new("check-config"), demo.as_path()]);
    expect_success(&output, "check-config config/demo.toml");
    assert!(
        stdout(&output).starts_with(&format!("{}: ok, with ", demo.display())),
        "{}",
        printed(&output)
    );
    let warnings = stderr(&output);
    assert!(
        warnings.lines().all(|l| l.starts_with("warning: ")),
        "only warnings expected:\n{warnings}"
    );
    let programmes = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/programmes");
    assert!(
        warnings.contains(&format!(
            "warning: library.programmes = \"{}\": the programme folder does not exist",
            programmes.display()
        )),
        "{warnings}"
    );

    // The documented configuration for the box loads too.
    let documented = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/onair.toml");
    let output = onair(&[Path::new("check-config"), documented.as_path()]);
    expect_success(&output, "check-config config/onair.toml");
    std::fs::remove_dir_all(&dir).unwrap_or_default();
}

// ---------------------------------------------------------------- schedule

#[test]
fn schedule_shows_today_and_tomorrow_with_holes_clock_change_notes_and_ignored_files() {
    // "Today" is the clock change of spring 2026 in London, a 23-hour day,
    // fixed by a simulated clock at 00:30 GMT.
    let mut s = Station::new("schedule");
    s.clock("2026-03-29 00:30:00", 60.0);
    // Yesterday's last programme, over before today begins.
    s.programme("2026-03-28 23:50", "saturday-late", 410, 20.0, "wav");
    // In the hour the clocks skip.
    s.programme("2026-03-29 01:30", "lost-hour", 430, 20.0, "wav");
    // Two files for 09:00: the first by name airs.
    s.programme("2026-03-29 09:00", "breakfast", 450, 30.0, "wav");
    s.programme("2026-03-29 09:00", "morning-show", 470, 30.0, "wav");
    // 90 s of programme in a one-minute slot.
    s.programme("2026-03-29 12:00", "long-read", 490, 90.0, "wav");
    s.programme("2026-03-29 12:01", "news-flash", 510, 20.0, "wav");
    s.programme("2026-03-30 10:00", "tomorrow-talk", 530, 20.0, "wav");
    // The day after tomorrow is not in the plan.
    s.programme("2026-03-31 10:00", "day-after", 550, 20.0, "wav");
    // Bad input: a date that does not exist and a document.
    let programmes = s.dir().join("programmes");
    write(&programmes.join("20260230_1000_bad-date.wav"), "RIFF");
    write(&programmes.join("20260329_1500_script.docx"), "notes");
    s.filler(300, 10.0);
    s.write_config();

    let output = s.command("schedule", &[]);
    expect_success(&output, "onair schedule");
    let folder = programmes.display();
    let expected = format!(
        "Times in Europe/London

Sunday 2026-03-29
  00:00:00 GMT  02:00:00 BST   1:00:00  filler
  02:00:00 BST  02:00:20 BST   0:00:20  Lost Hour (20260329_0130_lost-hour.wav)
      note: 01:30 does not exist on 2026-03-29 (clocks go forward): airs at 02:00 BST
  02:00:20 BST  09:00:00 BST   6:59:40  filler
  09:00:00 BST  09:00:30 BST   0:00:30  Breakfast (20260329_0900_breakfast.wav)
  09:00:30 BST  12:00:00 BST   2:59:30  filler
  12:00:00 BST  12:01:00 BST   0:01:00  Long Read (20260329_1200_long-read.wav)  [cut: longer than its slot, faded at the next start]
  12:01:00 BST  12:01:20 BST   0:00:20  News Flash (20260329_1201_news-flash.wav)
  12:01:20 BST  00:00:00 BST  11:58:40  filler

Monday 2026-03-30
  00:00:00 BST  10:00:00 BST  10:00:00  filler
  10:00:00 BST  10:00:20 BST   0:00:20  Tomorrow Talk (20260330_1000_tomorrow-talk.wav)
  10:00:20 BST  00:00:00 BST  13:59:40  filler

Ignored files:
  {folder}/20260329_0900_morning-show.wav: starts at the same time as 20260329_0900_breakfast.wav, which airs instead: rename one of them
  {folder}/20260230_1000_bad-date.wav: day 30 is not a day of 2026-02
  {folder}/20260329_1500_script.docx: unsupported extension .docx (mp3, flac, ogg, wav, m4a)
"
    );
    assert_eq!(stdout(&output), expected, "{}", printed(&output));

    // Without filler the emergency file covers the holes; with neither,
    // the plan says where the air will be silent.
    s.emergency(900, 5.0);
    let without_filler = s.config_text().replace("filler = \"filler\"\n", "");
    for (config, hole) in [
        (without_filler.clone(), "emergency source (no filler)"),
        (
            without_filler.replace("emergency = \"emergency.wav\"\n", ""),
            "SILENCE (no filler, no emergency source)",
        ),
    ] {
        write(&s.config_path(), &config);
        let output = s.command("schedule", &[]);
        expect_success(&output, "onair schedule");
        let text = stdout(&output);
        let plan = text.split("\nIgnored files:").next().unwrap_or_default();
        let holes = plan.lines().filter(|l| l.ends_with(hole)).count();
        assert_eq!(holes, 6, "the 6 holes should read {hole:?}:\n{text}");
        assert!(!plan.contains("  filler"), "{text}");
    }

    // Looking at the plan changes nothing: a box started later begins at
    // its clock's start, not as if it had been running since.
    assert!(
        !s.data_dir().exists(),
        "onair schedule should not create {}",
        s.data_dir().display()
    );
    std::thread::sleep(Duration::from_millis(1500));
    s.start();
    let begun = s.now() - s.local("2026-03-29 00:30:00");
    assert!(
        begun < secs(40),
        "the box should begin at 00:30:00, it is already {} s later",
        begun.num_seconds()
    );
    s.terminate();
}

// ---------------------------------------------------------------- log

#[test]
fn log_prints_json_csv_and_a_table_filtered_by_time_also_while_the_box_runs() {
    let mut s = Station::new("log");
    s.clock("2026-03-29 00:58:30", 60.0);
    s.programme("2026-03-29 00:59", "before-change", 500, 10.0, "wav");
    s.programme("2026-03-29 01:30", "lost-hour", 700, 10.0, "wav");
    // Long enough to be still on air while the box is asked (each `onair
    // log` to a running box takes about a real quarter second, 15 s here).
    s.programme("2026-03-29 02:02", "after-change", 900, 180.0, "wav");
    s.filler(300, 10.0);
    s.filler(350, 10.0);
    s.write_config();

    // Before the box has ever run: an empty log, and nothing created.
    let output = s.command("log", &["--json"]);
    expect_success(&output, "onair log before any run");
    assert_eq!(stdout(&output).trim(), "[]");
    assert!(
        stderr(&output).contains("no as-run log"),
        "{}",
        printed(&output)
    );
    assert!(!s.data_dir().join("asrun").exists());

    s.start();
    s.wait_until(utc("2026-03-29T01:02:05Z"));
    // The box holds the log: these go through its web server.
    let running = parse_log(&s, &s.command("log", &["--json"]));
    running.check(
        running.titled("before-change").len() == 1 && running.titled("lost-hour").len() == 1,
        "the log read while the box runs should hold the programmes so far",
    );
    let on_air = running.one("after-change");
    running.check(
        on_air.end.is_none() && on_air.ended.is_none(),
        "the programme on air should have no end yet",
    );
    // Half a station minute back: the programme on air and the filler
    // before it, not the programmes of two minutes ago.
    let recent = parse_log(&s, &s.command("log", &["--since", "-30s", "--json"]));
    recent.check(
        recent.titled("after-change").len() == 1
            && recent.titled("lost-hour").is_empty()
            && recent.titled("before-change").is_empty(),
        "--since -30s should give only the last half minute",
    );
    let csv = s.command("log", &["--csv"]);
    expect_success(&csv, "onair log --csv while running");
    assert!(
        stdout(&csv).starts_with("id,start,end,"),
        "{}",
        printed(&csv)
    );
    let table = s.command("log", &[]);
    expect_success(&table, "onair log while running");
    assert!(stdout(&table).contains("on air"), "{}", printed(&table));
    // Bad input while running: refused before the box is asked.
    let output = s.command("log", &["--since", "bogus"]);
    expect_refused(&output, "onair log --since bogus while running");
    assert!(
        stderr(&output).contains("--since \"bogus\""),
        "{}",
        printed(&output)
    );

    s.wait_until(utc("2026-03-29T01:05:05Z"));
    s.terminate();

    // JSON: one object per item with the documented fields, times in
    // RFC 3339 with the station's offset at that instant.
    let output = s.command("log", &["--json"]);
    let log = parse_log(&s, &output);
    let raw: serde_json::Value =
        serde_json::from_str(&stdout(&output)).unwrap_or_else(|e| panic!("{e}"));
    let fields = [
        "end",
        "ended",
        "file",
        "id",
        "kind",
        "offset_ms",
        "reason",
        "scheduled",
        "start",
        "title",
    ];
    for item in raw.as_array().unwrap_or(&Vec::new()) {
        let mut keys: Vec<&str> = item
            .as_object()
            .map(|o| o.keys().map(String::as_str).collect())
            .unwrap_or_default();
        keys.sort_unstable();
        assert_eq!(keys, fields, "{item}");
    }
    log.expect_station_offsets();
    for (slug, slot) in [
        ("before-change", "2026-03-29T00:59:00+00:00"),
        ("lost-hour", "2026-03-29T02:00:00+01:00"),
        ("after-change", "2026-03-29T02:02:00+01:00"),
    ] {
        let entry = log.one(slug);
        log.expect_kind(entry, Kind::Scheduled);
        log.expect_ended(entry, &[Ended::Natural]);
        log.expect_start(entry, utc(slot), ms(50));
        log.check(
            entry.scheduled.as_str() == Some(slot),
            &format!("{slug} should be logged for its slot {slot}"),
        );
    }
    log.check(
        log.of_kind(Kind::Filler).len() >= 3,
        "filler should cover the holes",
    );
    let all = log.entries.len();

    // CSV: a header, then the same rows as JSON.
    let output = s.command("log", &["--csv"]);
    expect_success(&output, "onair log --csv");
    let mut reader = csv::Reader::from_reader(output.stdout.as_slice());
    let header: Vec<String> = reader
        .headers()
        .unwrap_or_else(|e| panic!("{e}"))
        .iter()
        .map(String::from)
        .collect();
    assert_eq!(
        header,
        [
            "id",
            "start",
            "end",
            "kind",
            "title",
            "file",
            "offset_ms",
            "ended",
            "reason",
            "scheduled",
            "artist",
            "programme",
            "replaces",
            "problem",
            "heard",
            "by"
        ]
    );
    let rows: Vec<csv::StringRecord> = reader
        .records()
        .map(|r| r.unwrap_or_else(|e| panic!("{e}")))
        .collect();
    assert_eq!(rows.len(), all, "{}", stdout(&output));
    for (row, entry) in rows.iter().zip(&log.entries) {
        assert_eq!(row.get(0), Some(entry.id.to_string().as_str()));
        let start = DateTime::<FixedOffset>::parse_from_rfc3339(row.get(1).unwrap_or_default())
            .unwrap_or_else(|e| panic!("{row:?}: {e}"));
        assert_eq!(start, entry.start, "{row:?}");
        assert_eq!(row.get(4), Some(entry.title.as_str()));
    }

    // The table: a header, one line per item, station time with its zone.
    let output = s.command("log", &[]);
    expect_success(&output, "onair log");
    let table = stdout(&output);
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("START "), "{table}");
    assert_eq!(lines.len(), all + 1, "{table}");
    for (start, title) in [
        ("2026-03-29 00:59:00 GMT", "Before Change"),
        ("2026-03-29 02:00:00 BST", "Lost Hour"),
        ("2026-03-29 02:02:00 BST", "After Change"),
    ] {
        assert!(
            lines.iter().any(|l| l.starts_with(start)
                && l.contains("scheduled")
                && l.contains("natural")
                && l.contains(title)),
            "no line for {title} at {start}:\n{table}"
        );
    }

    // Filtering, in each form a person types.
    let only = |args: &[&str]| titles(&parse_log(&s, &s.command("log", args)));
    assert_eq!(
        only(&[
            "--since",
            "2026-03-29 02:00:02",
            "--until",
            "2026-03-29 02:00:05",
            "--json"
        ]),
        ["Lost Hour"],
        "station-local times"
    );
    assert_eq!(
        only(&[
            "--since",
            "2026-03-29T00:59:02+00:00",
            "--until",
            "2026-03-29T01:59:05+01:00",
            "--json"
        ]),
        ["Before Change"],
        "RFC 3339 times"
    );
    assert_eq!(only(&["--since", "2026-03-29", "--json"]).len(), all);
    assert_eq!(only(&["--since", "today", "--json"]).len(), all);
    assert!(only(&["--since", "yesterday", "--until", "today", "--json"]).is_empty());
    assert_eq!(only(&["--since", "-1d", "--json"]).len(), all);
    assert!(only(&["--until", "-1d", "--json"]).is_empty());

    // Bad input: words, a unit that does not exist, a time the clocks skip.
    for (flag, value, says) in [
        ("--since", "bogus", "is not a time"),
        ("--until", "-2x", "is not a time ago"),
        ("--since", "2026-03-29 01:30", "the clocks went forward"),
    ] {
        let output = s.command("log", &[flag, value]);
        expect_refused(&output, &format!("onair log {flag} {value}"));
        let message = stderr(&output);
        assert!(
            message.contains(&format!("{flag} \"{value}\"")) && message.contains(says),
            "the message should name {flag}, the value and say {says:?}:\n{message}"
        );
    }
}

// ---------------------------------------------------------------- web API

#[test]
fn web_api_shows_what_is_on_air_and_refuses_bad_requests() {
    let mut s = Station::new("web");
    s.clock("2026-03-02 00:59:40", 60.0);
    s.programme("2026-03-02 01:00", "news-hour", 600, 120.0, "wav");
    s.programme("2026-03-02 01:05", "late-show", 800, 10.0, "wav");
    s.start();
    s.wait_until(utc("2026-03-02T01:00:20Z"));
    let address = s.web_address();

    // The snapshot is published a few times a second: wait for the first
    // one that has the programme on air, up to a few real seconds.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let status = loop {
        let response = http::get(&address, "/api/status");
        assert_eq!(response.status, 200, "{}", response.body);
        assert_eq!(response.header("content-type"), Some("application/json"));
        let status = response.json();
        if status["on_air"]["title"] == "News Hour" || std::time::Instant::now() > deadline {
            break status;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status["station"], "Test FM", "{status:#}");
    assert_eq!(status["timezone"], "Europe/London", "{status:#}");
    assert_eq!(status["mode"], "auto", "{status:#}");
    assert_eq!(status["on_air"]["title"], "News Hour", "{status:#}");
    assert_eq!(status["on_air"]["kind"], "scheduled", "{status:#}");
    let started = status["on_air"]["started"].as_str().map(utc);
    assert!(
        started.is_some_and(|t| (t - utc("2026-03-02T01:00:00Z")).abs() < ms(50)),
        "{status:#}"
    );
    assert_eq!(status["next"]["title"], "Late Show", "{status:#}");
    assert_eq!(
        status["next"]["start"], "2026-03-02T01:05:00Z",
        "{status:#}"
    );

    // The as-run log over HTTP, with the same time forms as `onair log`.
    let response = http::get(&address, "/api/log?since=-1h");
    assert_eq!(response.status, 200, "{}", response.body);
    let log = AsRunLog::parse(&response.body, s.tz).unwrap_or_else(|e| panic!("{e}"));
    log.check(
        log.one("news-hour").end.is_none(),
        "the log should show the programme on air",
    );
    let response = http::get(&address, "/api/log?since=&until=");
    assert_eq!(
        response.status, 200,
        "empty means not given: {}",
        response.body
    );
    // Bad input: a word and an impossible date, each named in the answer.
    for (query, name) in [("since=bogus", "since"), ("until=2026-13-01", "until")] {
        let response = http::get(&address, &format!("/api/log?{query}"));
        assert_eq!(response.status, 400, "{query}: {}", response.body);
        let value = query.split('=').nth(1).unwrap_or_default();
        assert!(
            response.body.contains(&format!("{name}=\"{value}\"")) && response.body.contains("-2h"),
            "the answer to {query} should name the parameter and the forms: {}",
            response.body
        );
    }

    // The page itself; anything else is not found, however it is spelt.
    let page = http::get(&address, "/");
    assert_eq!(page.status, 200);
    assert!(
        page.header("content-type")
            .unwrap_or_default()
            .starts_with("text/html")
    );
    for target in [
        "/../../../../etc/passwd",
        "/api/../../../../etc/passwd",
        "/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
        "/api/status/../../../etc/passwd",
        "/..%2f..%2f..%2fetc%2fpasswd",
        "/page.html",
        "/state/asrun",
        "/api",
        "/api/logs",
    ] {
        let response = http::get(&address, target);
        assert_eq!(response.status, 404, "GET {target}: {}", response.body);
        assert!(
            !response.body.contains("root:"),
            "GET {target}: {}",
            response.body
        );
    }

    s.terminate();
    assert!(
        !s.data_dir().join("web-address").exists(),
        "a stopped box should take its web address away"
    );
}

// ---------------------------------------------------------------- run

/// `onair run` that must stop by itself; killed after 20 s if it does not.
fn run_expecting_refusal(s: &Station) -> Output {
    let output = std::process::Command::new("timeout")
        .arg("20")
        .arg(env!("CARGO_BIN_EXE_onair"))
        .arg("run")
        .arg("--config")
        .arg(s.config_path())
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run onair under timeout: {e}"));
    assert_ne!(
        output.status.code(),
        Some(124),
        "onair run did not stop by itself\n{}",
        printed(&output)
    );
    output
}

fn expect_nothing_started(s: &Station) {
    for path in [s.data_dir(), s.output_path()] {
        assert!(
            !path.exists(),
            "a refused start should leave nothing behind, but {} exists",
            path.display()
        );
    }
}

#[test]
fn run_refuses_bad_values_before_starting_anything() {
    let mut s = Station::new("run-refused");
    s.programme("2026-03-02 01:00", "news-hour", 600, 10.0, "wav");
    s.write_config();

    // Bad input: a sample rate of 0 and a clock standing still.
    let text = s
        .config_text()
        .replace("sample_rate = 8000", "sample_rate = 0")
        .replace("speed = 60.0", "speed = 0.0");
    write(&s.config_path(), &text);
    let output = run_expecting_refusal(&s);
    assert_eq!(output.status.code(), Some(1), "{}", printed(&output));
    let message = stderr(&output);
    assert!(message.contains("audio.sample_rate = 0: "), "{message}");
    assert!(message.contains("clock.speed = 0.0: "), "{message}");
    expect_nothing_started(&s);

    // Bad input: a web port another program holds.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
    let address = taken.local_addr().unwrap_or_else(|e| panic!("{e}"));
    let text = s.config_text().replace(
        "listen = \"127.0.0.1:0\"",
        &format!("listen = \"{address}\""),
    );
    write(&s.config_path(), &text);
    let output = run_expecting_refusal(&s);
    assert_eq!(output.status.code(), Some(1), "{}", printed(&output));
    let message = stderr(&output);
    assert!(
        message.contains(&format!("cannot listen on {address} (web.listen)")),
        "{message}"
    );
    expect_nothing_started(&s);
}
