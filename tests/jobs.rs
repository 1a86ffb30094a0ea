//! The job queue of the real binary: chains of copies and hooks (small
//! shell scripts written here) run in order after their dependencies, a
//! failing hook fails what depends on it with the reason and the exit
//! code, a box killed mid-hook runs the job again once, a dependency
//! added after its dependent runs first, and bad input (a cycle, an
//! unknown channel, hook or job, a bad time, a hook that hangs) gets a
//! clear error and loses nothing.

use crate::common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use common::*;
use serde_json::Value;

/// How long a job is waited for: the hooks here take a few seconds at most.
const JOB_TIMEOUT: Duration = Duration::from_secs(30);

fn printed(output: &Output) -> String {
    format!(
        "exit: {}\n--- stdout\n{}--- stderr\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// `onair job WORDS… --config FILE ARGS…`.
fn job(s: &Station, words: &[&str], args: &[&str]) -> Output {
    let config = s.config_path().display().to_string();
    let mut all = vec!["job"];
    all.extend_from_slice(words);
    all.extend_from_slice(&["--config", &config]);
    all.extend_from_slice(args);
    onair(&all)
}

/// `onair job add …`, which must succeed: the new job's id.
fn add(s: &Station, words: &[&str], args: &[&str]) -> u64 {
    let mut all = vec!["add"];
    all.extend_from_slice(words);
    let output = job(s, &all, args);
    assert!(
        output.status.success(),
        "job add {words:?} {args:?} should succeed\n{}",
        printed(&output)
    );
    String::from_utf8_lossy(&output.stdout)
        .trim()
        .parse()
        .unwrap_or_else(|e| panic!("job add printed no id ({e})\n{}", printed(&output)))
}

/// `onair job add …`, which must be refused: its error message.
fn refused(s: &Station, words: &[&str], args: &[&str]) -> String {
    let mut all = vec!["add"];
    all.extend_from_slice(words);
    let output = job(s, &all, args);
    assert_eq!(
        output.status.code(),
        Some(1),
        "job add {words:?} {args:?} should be refused\n{}",
        printed(&output)
    );
    assert!(output.stdout.is_empty(), "{}", printed(&output));
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn list(s: &Station) -> Vec<Value> {
    let output = job(s, &["list"], &["--json"]);
    assert!(output.status.success(), "{}", printed(&output));
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("job list --json: {e}\n{}", printed(&output)))
}

fn find(jobs: &[Value], id: u64) -> Value {
    jobs.iter()
        .find(|j| j["id"] == id)
        .cloned()
        .unwrap_or_else(|| panic!("no job {id} in {jobs:#?}"))
}

fn state(job: &Value) -> &str {
    job["status"]["state"].as_str().unwrap_or("?")
}

fn time(job: &Value, key: &str) -> DateTime<Utc> {
    job[key]
        .as_str()
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("job has no {key} time: {job:#}"))
}

/// Waits until every job in `ids` is in a state of `states`.
fn wait_for(s: &Station, ids: &[u64], states: &[&str]) -> Vec<Value> {
    let deadline = Instant::now() + JOB_TIMEOUT;
    loop {
        let jobs = list(s);
        if ids
            .iter()
            .all(|id| states.contains(&state(&find(&jobs, *id))))
        {
            return jobs;
        }
        assert!(
            Instant::now() < deadline,
            "jobs {ids:?} did not reach {states:?} in {JOB_TIMEOUT:?}: {jobs:#?}\n{}",
            s.box_logs()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A shell script in the station's folder.
fn script(s: &Station, name: &str, body: &str) -> PathBuf {
    let path = s.dir().join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

fn hook(name: &str, program: &Path, args: &[&str], timeout: u32) -> String {
    let args: Vec<String> = args.iter().map(|a| format!("{a:?}")).collect();
    format!(
        "[[jobs.hook]]\nname = \"{name}\"\nprogram = \"{}\"\nargs = [{}]\ntimeout_seconds = {timeout}\n",
        program.display(),
        args.join(", ")
    )
}

/// A station with a `record` hook that notes each run in `runs.txt`, more
/// hooks (name, script, time limit), a programme file to work on and a
/// folder standing in for a share.
fn station(name: &str, more_hooks: &[(&str, &str, u32)]) -> (Station, PathBuf, PathBuf) {
    let mut s = Station::new(name);
    let runs = s.dir().join("runs.txt");
    let record = script(
        &s,
        "record.sh",
        &format!(
            "echo \"$1\" >> {}\necho \"saw $(cat \"$1\")\"\n\
             echo \"nice $(cut -d' ' -f19 /proc/$$/stat)\"",
            runs.display()
        ),
    );
    let mut hooks = vec!["[jobs]\nnice = 10\n".to_string()];
    hooks.push(hook("record", &record, &[], 10));
    for (name, body, timeout) in more_hooks {
        let program = script(&s, &format!("{name}.sh"), body);
        hooks.push(hook(name, &program, &[], *timeout));
    }
    s.section(&hooks.concat());
    let file = s.dir().join("news.mp3");
    std::fs::write(&file, "the news").unwrap();
    let share = s.dir().join("share");
    std::fs::create_dir_all(&share).unwrap();
    (s, file, share)
}

fn runs(s: &Station) -> Vec<String> {
    std::fs::read_to_string(s.dir().join("runs.txt"))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn a_chain_of_three_runs_in_order() {
    let (mut s, file, share) = station("jobs-chain", &[]);
    // Added while the box is stopped: straight into its database.
    s.write_config();
    let copy = add(
        &s,
        &["copy"],
        &[
            "--file",
            &file.display().to_string(),
            "--to",
            &share.display().to_string(),
        ],
    );
    s.start();
    // Through the running box: the hooks take the copy's file.
    let first = add(&s, &["hook", "record"], &["--after", &copy.to_string()]);
    let second = add(&s, &["hook", "record"], &["--after", &first.to_string()]);
    let jobs = wait_for(&s, &[copy, first, second], &["done"]);

    let copied = share.join("news.mp3");
    assert_eq!(std::fs::read_to_string(&copied).unwrap(), "the news");
    let (a, b, c) = (find(&jobs, copy), find(&jobs, first), find(&jobs, second));
    assert!(time(&a, "ended") <= time(&b, "started"), "{a:#}\n{b:#}");
    assert!(time(&b, "ended") <= time(&c, "started"), "{b:#}\n{c:#}");
    for hook in [&b, &c] {
        assert_eq!(
            hook["output"].as_str().unwrap().trim(),
            "saw the news\nnice 10",
            "the hook's output, at a lower priority"
        );
    }
    assert!(a["output"].as_str().unwrap().contains("8 bytes"), "{a:#}");
    let copied_name = copied.display().to_string();
    assert_eq!(
        runs(&s),
        vec![copied_name.clone(), copied_name],
        "each hook ran once, on the copy"
    );

    // A second copy of the same file is refused at its time: never overwritten.
    let again = add(
        &s,
        &["copy"],
        &[
            "--file",
            &file.display().to_string(),
            "--to",
            &share.display().to_string(),
        ],
    );
    let jobs = wait_for(&s, &[again], &["failed"]);
    let error = find(&jobs, again)["status"]["error"].to_string();
    assert!(error.contains("exists already"), "{error}");
    assert!(
        std::fs::read_dir(&share).unwrap().count() == 1,
        "no partial file left"
    );

    // The table an engineer reads.
    let table = job(&s, &["list"], &[]);
    let table = String::from_utf8_lossy(&table.stdout);
    assert!(
        table.contains(&format!("   {first}  default  hook  done ")),
        "{table}"
    );
    assert!(
        table.contains("exists already"),
        "the failure in words: {table}"
    );

    // The same queue on the web server, and its counts for Prometheus.
    let address = s.web_address();
    let get = |target: &str| {
        ureq::get(format!("http://{address}{target}"))
            .call()
            .unwrap_or_else(|e| panic!("GET {target}: {e}"))
            .body_mut()
            .read_to_string()
            .unwrap_or_else(|e| panic!("GET {target}: {e}"))
    };
    let api: Vec<Value> = serde_json::from_str(&get("/api/jobs")).unwrap();
    assert_eq!(api, list(&s));
    let one: Value = serde_json::from_str(&get(&format!("/api/jobs/{first}"))).unwrap();
    assert_eq!(one, b);
    let metrics = get("/metrics");
    for line in [
        "onair_jobs{state=\"done\"} 3",
        "onair_jobs{state=\"failed\"} 1",
        "onair_jobs{state=\"waiting\"} 0",
    ] {
        assert!(metrics.contains(line), "{line} in\n{metrics}");
    }
    assert!(metrics.trim_end().ends_with("# EOF"), "{metrics}");
    // Reading only: the web server adds no job.
    let posted = ureq::post(format!("http://{address}/api/jobs")).send("{}");
    assert!(
        posted.is_err(),
        "POST /api/jobs on the web server: {posted:?}"
    );
    s.terminate();
}

#[test]
fn a_failing_hook_fails_its_dependents_with_the_reason_and_exit_code() {
    let (mut s, file, share) = station(
        "jobs-fail",
        &[("publish", "echo cannot publish >&2\nexit 3", 10)],
    );
    s.start();
    let publish = add(
        &s,
        &["hook", "publish"],
        &["--file", &file.display().to_string()],
    );
    let copy = add(
        &s,
        &["copy"],
        &[
            "--after",
            &publish.to_string(),
            "--to",
            &share.display().to_string(),
        ],
    );
    let record = add(&s, &["hook", "record"], &["--after", &copy.to_string()]);
    let jobs = wait_for(&s, &[publish, copy, record], &["failed"]);

    let failed = find(&jobs, publish);
    assert_eq!(failed["status"]["exit_code"], 3, "{failed:#}");
    assert!(
        failed["output"]
            .as_str()
            .unwrap()
            .contains("cannot publish"),
        "{failed:#}"
    );
    assert_eq!(
        find(&jobs, copy)["status"]["error"],
        format!("dependency {publish} (hook) failed: the hook \"publish\" exited with code 3")
    );
    let last = find(&jobs, record)["status"]["error"].to_string();
    assert!(
        last.contains(&format!(
            "dependency {copy} (copy) failed: dependency {publish} (hook)"
        )),
        "{last}"
    );
    assert!(runs(&s).is_empty(), "nothing after the failure ran");
    let shown = job(&s, &["show", &publish.to_string()], &[]);
    let text = String::from_utf8_lossy(&shown.stdout);
    assert!(text.contains("failed (exit code 3)"), "{}", printed(&shown));
    s.terminate();
}

#[test]
fn a_box_killed_mid_hook_runs_the_job_again_once() {
    let (mut s, file, _share) = station(
        "jobs-kill",
        &[(
            "slow",
            &format!(
                "echo start >> {runs}\nsleep 3\necho finished >> {runs}\necho slow done",
                runs = "\"$(dirname \"$0\")/slow-runs.txt\""
            ),
            30,
        )],
    );
    s.start();
    let slow = add(
        &s,
        &["hook", "slow"],
        &["--file", &file.display().to_string()],
    );
    wait_for(&s, &[slow], &["running"]);
    std::thread::sleep(Duration::from_millis(500));
    s.kill();
    // Read from the database while the box is stopped: still running.
    assert_eq!(state(&find(&list(&s), slow)), "running");

    s.start();
    let jobs = wait_for(&s, &[slow], &["done"]);
    let done = find(&jobs, slow);
    assert_eq!(done["interruptions"], 1, "{done:#}");
    assert_eq!(done["output"].as_str().unwrap().trim(), "slow done");
    // The killed run took its hook with it; the second ran to its end.
    std::thread::sleep(Duration::from_secs(4));
    let lines = std::fs::read_to_string(s.dir().join("slow-runs.txt")).unwrap();
    assert_eq!(lines, "start\nstart\nfinished\n", "two starts, one end");
    s.terminate();
}

#[test]
fn a_dependency_added_after_its_dependent_runs_first() {
    let (mut s, file, share) = station("jobs-later", &[]);
    s.start();
    // The hook names its dependency "publish-copy", not added yet.
    let dependent = add(&s, &["hook", "record"], &["--after", "publish-copy"]);
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(state(&find(&list(&s), dependent)), "waiting");
    let dependency = add(
        &s,
        &["copy"],
        &[
            "--name",
            "publish-copy",
            "--file",
            &file.display().to_string(),
            "--to",
            &share.display().to_string(),
        ],
    );
    assert!(dependency > dependent);
    let jobs = wait_for(&s, &[dependent, dependency], &["done"]);
    let (first, then) = (find(&jobs, dependency), find(&jobs, dependent));
    assert!(
        time(&first, "ended") <= time(&then, "started"),
        "{first:#}\n{then:#}"
    );
    assert_eq!(
        runs(&s),
        vec![share.join("news.mp3").display().to_string()],
        "the hook got the copy's file"
    );
    s.terminate();
}

#[test]
fn bad_input_gets_a_clear_error_and_loses_nothing() {
    let (mut s, file, share) = station(
        "jobs-bad",
        &[
            ("hang", "sleep 60", 1),
            ("stuck", "echo connecting to the share\nsleep 60", 60),
        ],
    );
    let archive = s.dir().join("archive");
    s.section(&format!("[archive]\ndir = \"{}\"\n", archive.display()));
    s.start();
    let file_arg = file.display().to_string();
    let share_arg = share.display().to_string();
    let waiting = add(&s, &["hook", "record"], &["--name", "a", "--after", "b"]);
    let before = list(&s);

    // A cycle: b after a, and a after b.
    let error = refused(&s, &["hook", "record"], &["--name", "b", "--after", "a"]);
    assert!(
        error.contains(&format!(
            "would make a cycle: job {} (hook \"b\") → job {waiting} (hook \"a\") → job {} (hook \"b\")",
            waiting + 1,
            waiting + 1
        )),
        "{error}"
    );
    // An unknown channel, hook, job; bad times.
    let output = s.dir().join("cut.mp3").display().to_string();
    let cut = |channel: &str, from: &str, to: &str| {
        refused(
            &s,
            &["cut"],
            &[
                "--channel",
                channel,
                "--from",
                from,
                "--to",
                to,
                "--output",
                &output,
            ],
        )
    };
    let error = cut("no-such-channel", "-10m", "-5m");
    assert!(
        error.contains("unknown channel \"no-such-channel\""),
        "{error}"
    );
    let error = refused(&s, &["hook", "nope"], &["--file", &file_arg]);
    assert!(error.contains("unknown hook \"nope\""), "{error}");
    assert!(
        error.contains("record, hang"),
        "names the hooks there are: {error}"
    );
    let error = refused(
        &s,
        &["copy"],
        &["--file", &file_arg, "--to", &share_arg, "--after", "99"],
    );
    assert!(error.contains("there is no job 99"), "{error}");
    let error = refused(
        &s,
        &["copy"],
        &["--file", &file_arg, "--to", "/no/such/share"],
    );
    assert!(
        error.contains("/no/such/share: there is no such folder"),
        "{error}"
    );
    let error = cut("test-fm", "half past nine", "-5m");
    assert!(
        error.contains("bad time: --from \"half past nine\""),
        "{error}"
    );
    // Wait for the box's own channel to be in the archive, then a backward range.
    let deadline = Instant::now() + JOB_TIMEOUT;
    while !archive.join("test-fm").is_dir() {
        assert!(
            Instant::now() < deadline,
            "no archive channel\n{}",
            s.box_logs()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let error = cut("test-fm", "-5m", "-10m");
    assert!(error.contains("bad time range: --to"), "{error}");
    assert_eq!(list(&s), before, "the refusals changed nothing");

    // A hook that hangs is killed at its limit, its job failed with the reason.
    let started = Instant::now();
    let hang = add(&s, &["hook", "hang"], &["--file", &file_arg]);
    let jobs = wait_for(&s, &[hang], &["failed"]);
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "killed at its limit"
    );
    let error = find(&jobs, hang)["status"]["error"].to_string();
    assert!(error.contains("timed out after 1 s"), "{error}");
    assert_eq!(
        find(&jobs, waiting),
        find(&before, waiting),
        "the waiting job is kept"
    );

    // A hook that seems stuck shows its output so far, and is cancelled.
    let stuck = add(&s, &["hook", "stuck"], &["--file", &file_arg]);
    let deadline = Instant::now() + JOB_TIMEOUT;
    loop {
        let shown = find(&list(&s), stuck);
        if shown["output"] == "connecting to the share\n" {
            assert_eq!(state(&shown), "running");
            break;
        }
        assert!(Instant::now() < deadline, "no output so far: {shown:#}");
        std::thread::sleep(Duration::from_millis(200));
    }
    let output = job(&s, &["cancel", &stuck.to_string()], &[]);
    assert!(output.status.success(), "{}", printed(&output));
    assert!(
        String::from_utf8_lossy(&output.stdout).contains("is being stopped and cancelled"),
        "{}",
        printed(&output)
    );
    wait_for(&s, &[stuck], &["cancelled"]);

    // Retry and cancel.
    let output = job(&s, &["cancel", &waiting.to_string()], &[]);
    assert!(output.status.success(), "{}", printed(&output));
    assert_eq!(state(&find(&list(&s), waiting)), "cancelled");
    let output = job(&s, &["retry", &waiting.to_string()], &[]);
    assert!(output.status.success(), "{}", printed(&output));
    assert_eq!(state(&find(&list(&s), waiting)), "waiting");
    let output = job(&s, &["retry", "999"], &[]);
    assert_eq!(output.status.code(), Some(1), "{}", printed(&output));
    assert!(String::from_utf8_lossy(&output.stderr).contains("there is no job 999"));
    s.terminate();
}

#[test]
fn an_orderly_stop_mid_hook_runs_the_job_again_at_the_next_start() {
    let (mut s, file, _share) = station(
        "jobs-stop",
        &[(
            "slow",
            "echo start >> \"$(dirname \"$0\")/slow-runs.txt\"\nsleep 3\n\
             echo finished >> \"$(dirname \"$0\")/slow-runs.txt\"",
            30,
        )],
    );
    s.start();
    let slow = add(
        &s,
        &["hook", "slow"],
        &["--file", &file.display().to_string()],
    );
    wait_for(&s, &[slow], &["running"]);
    s.terminate();
    let stopped = find(&list(&s), slow);
    assert_eq!(state(&stopped), "interrupted", "{stopped:#}");
    assert_eq!(
        stopped["interruptions"], 0,
        "an orderly stop is not a crash"
    );

    s.start();
    let done = find(&wait_for(&s, &[slow], &["done"]), slow);
    assert_eq!(done["interruptions"], 0, "{done:#}");
    // The stop killed the hook and what it started: the first run never finished.
    std::thread::sleep(Duration::from_secs(1));
    let lines = std::fs::read_to_string(s.dir().join("slow-runs.txt")).unwrap();
    assert_eq!(lines, "start\nstart\nfinished\n");
    s.terminate();
}

#[test]
fn a_cut_of_the_archive_is_copied_to_the_share_and_handed_to_a_hook() {
    let (mut s, _file, share) = station("jobs-cut", &[]);
    let archive = s.dir().join("archive");
    s.section(&format!("[archive]\ndir = \"{}\"\n", archive.display()));
    s.start();
    // A minute of the box's own output in the archive (6 s segments).
    let from = s.now() + chrono::TimeDelta::seconds(40);
    let to = from + chrono::TimeDelta::seconds(30);
    // A minute more: the segment holding `to` is written whole on a loaded machine too.
    s.wait_until(to + chrono::TimeDelta::seconds(60));
    let rfc = |t: DateTime<Utc>| t.to_rfc3339();
    let output = s.dir().join("window.mp3");
    let cut = add(
        &s,
        &["cut"],
        &[
            "--channel",
            "test-fm",
            "--from",
            &rfc(from),
            "--to",
            &rfc(to),
            "--output",
            &output.display().to_string(),
        ],
    );
    let copy = add(
        &s,
        &["copy"],
        &[
            "--after",
            &cut.to_string(),
            "--to",
            &share.display().to_string(),
        ],
    );
    let record = add(&s, &["hook", "record"], &["--after", &copy.to_string()]);
    let jobs = wait_for(&s, &[cut, copy, record], &["done", "failed"]);
    for id in [cut, copy, record] {
        assert_eq!(state(&find(&jobs, id)), "done", "{jobs:#?}");
    }
    let cut_bytes = std::fs::read(&output).unwrap();
    let copied = share.join("window.mp3");
    assert_eq!(std::fs::read(&copied).unwrap(), cut_bytes);
    // 30 s of MP3 in whole frames, as ffprobe reads it.
    let seconds = tone::duration(&copied);
    assert!((29.8..30.4).contains(&seconds), "{seconds} s");
    assert_eq!(runs(&s), vec![copied.display().to_string()]);
    s.terminate();
}
