//! The queue's order, dependencies, cycles and records, without a box.

use std::path::PathBuf;

use chrono::{TimeZone, Utc};

use super::order::{doomed, next_to_run};
use super::work::{OUTPUT_LIMIT, Tail};
use super::*;
use crate::asrun::Database;
use crate::config::Config;

fn hook_work() -> Work {
    Work::Hook {
        hook: "publish".into(),
        file: Some(PathBuf::from("/tmp/x")),
    }
}

fn job(id: u64, queue: &str, name: Option<&str>, after: &[Dependency]) -> Job {
    Job {
        id,
        name: name.map(str::to_string),
        queue: queue.into(),
        work: hook_work(),
        after: after.to_vec(),
        status: JobStatus::Waiting,
        added: Utc.with_ymd_and_hms(2026, 3, 2, 1, 0, 0).unwrap(),
        started: None,
        ended: None,
        output: String::new(),
        interruptions: 0,
        file: None,
        failed_by: None,
    }
}

fn done(mut job: Job) -> Job {
    job.status = JobStatus::Done;
    job
}

#[test]
fn a_queue_runs_the_first_added_job_that_can_run() {
    let jobs = vec![
        job(1, "default", None, &[]),
        job(2, "default", None, &[]),
        job(3, "news", None, &[]),
    ];
    assert_eq!(next_to_run(&jobs), vec![1, 3]);
}

#[test]
fn a_queue_runs_one_job_at_a_time() {
    let mut first = job(1, "default", None, &[]);
    first.status = JobStatus::Running;
    let jobs = vec![first, job(2, "default", None, &[])];
    assert!(next_to_run(&jobs).is_empty());
}

#[test]
fn a_dependency_added_later_runs_first() {
    // Job 1 waits for "cut", added after it as job 2.
    let jobs = vec![
        job(1, "default", None, &[Dependency::Name("cut".into())]),
        job(2, "default", Some("cut"), &[]),
    ];
    assert_eq!(next_to_run(&jobs), vec![2]);
    let jobs = vec![jobs[0].clone(), done(jobs[1].clone())];
    assert_eq!(next_to_run(&jobs), vec![1]);
}

#[test]
fn a_dependency_not_added_yet_keeps_its_dependent_waiting() {
    let jobs = vec![job(1, "default", None, &[Dependency::Name("later".into())])];
    assert!(next_to_run(&jobs).is_empty());
    assert!(doomed(&jobs).is_empty());
}

#[test]
fn a_failed_dependency_fails_its_dependents_with_the_reason() {
    let mut cut = job(1, "default", None, &[]);
    cut.work = Work::Copy {
        file: None,
        to: "/tmp".into(),
    };
    cut.status = JobStatus::Failed {
        error: "disk full".into(),
        exit_code: None,
    };
    let jobs = vec![cut, job(2, "default", None, &[Dependency::Id(1)])];
    assert_eq!(
        doomed(&jobs),
        vec![(2, 1, "dependency 1 (copy) failed: disk full".to_string())]
    );
}

#[test]
fn a_cancelled_dependency_fails_its_dependents() {
    let mut first = job(1, "default", None, &[]);
    first.status = JobStatus::Cancelled;
    let jobs = vec![first, job(2, "default", None, &[Dependency::Id(1)])];
    let doomed = doomed(&jobs);
    assert_eq!(doomed.len(), 1);
    assert!(doomed[0].2.contains("was cancelled"), "{doomed:?}");
}

#[test]
fn a_cycle_is_named_job_by_job() {
    // 1 after "b"; 2 named "b" after 3; 3 (new) named "c" after 1 → 3 → 1 → 2 → 3.
    let jobs = vec![
        job(1, "default", Some("a"), &[Dependency::Name("b".into())]),
        job(2, "default", Some("b"), &[Dependency::Name("c".into())]),
    ];
    let new = job(3, "default", Some("c"), &[Dependency::Id(1)]);
    let cycle = find_cycle(&jobs, &new).expect("a cycle");
    assert_eq!(
        cycle,
        "job 3 (hook \"c\") → job 1 (hook \"a\") → job 2 (hook \"b\") → job 3 (hook \"c\")"
    );
}

#[test]
fn a_job_after_itself_is_a_cycle() {
    let new = job(1, "default", Some("me"), &[Dependency::Name("me".into())]);
    assert!(find_cycle(&[], &new).is_some());
}

#[test]
fn a_chain_is_no_cycle() {
    let jobs = vec![
        job(1, "default", None, &[]),
        job(2, "default", None, &[Dependency::Id(1)]),
    ];
    let new = job(3, "default", None, &[Dependency::Id(2), Dependency::Id(1)]);
    assert_eq!(find_cycle(&jobs, &new), None);
}

#[test]
fn the_output_keeps_its_end() {
    let mut tail = Tail::default();
    tail.push(&vec![b'a'; OUTPUT_LIMIT]);
    tail.push(b"the end");
    let text = tail.text();
    assert!(
        text.starts_with("[earlier output not kept]"),
        "{}",
        &text[..40]
    );
    assert!(text.ends_with("the end"));
    assert!(text.len() <= OUTPUT_LIMIT + 40);
}

fn config(dir: &std::path::Path) -> Config {
    let text = format!(
        "[station]\ntimezone = \"Europe/London\"\n[data]\ndir = \"{}\"\n\
         [[jobs.hook]]\nname = \"publish\"\nprogram = \"/bin/true\"\ntimeout_seconds = 5\n",
        dir.join("data").display()
    );
    Config::parse(&text, &dir.join("onair.toml")).unwrap()
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("onair-jobs-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn a_refused_job_writes_nothing_and_a_kill_is_retried_once() {
    let dir = scratch("store");
    let config = config(&dir);
    let now = Utc.with_ymd_and_hms(2026, 3, 2, 1, 0, 0).unwrap();
    let file = dir.join("news.mp3");
    std::fs::write(&file, b"audio").unwrap();
    let new = |hook: &str, after: Vec<Dependency>| NewJob {
        work: Work::Hook {
            hook: hook.into(),
            file: Some(file.clone()),
        },
        queue: None,
        name: None,
        after,
    };
    {
        let store = JobStore::open(Database::open(&config.data.dir).unwrap()).unwrap();
        let first = store.add(new("publish", vec![]), &config, now).unwrap();
        assert_eq!(first.id, 1);
        let unknown = store.add(new("nope", vec![]), &config, now).unwrap_err();
        assert!(
            unknown.to_string().contains("unknown hook \"nope\""),
            "{unknown}"
        );
        let missing = store
            .add(new("publish", vec![Dependency::Id(9)]), &config, now)
            .unwrap_err();
        assert!(
            missing.to_string().contains("there is no job 9"),
            "{missing}"
        );
        assert_eq!(store.all().unwrap().len(), 1);
        store
            .update(1, |job| {
                job.status = JobStatus::Running;
                Ok(())
            })
            .unwrap();
    }
    // The box killed while job 1 ran: interrupted, then failed the second time.
    for expected in ["interrupted", "failed"] {
        let store = JobStore::open(Database::open(&config.data.dir).unwrap()).unwrap();
        let changed = store.recover(now).unwrap();
        assert_eq!(changed.len(), 1);
        assert_eq!(changed[0].status.word(), expected);
        store
            .update(1, |job| {
                if job.status == JobStatus::Interrupted {
                    job.status = JobStatus::Running;
                }
                Ok(())
            })
            .unwrap();
    }
    let store = JobStore::open(Database::open(&config.data.dir).unwrap()).unwrap();
    let again = store.add(new("publish", vec![]), &config, now).unwrap();
    assert_eq!(again.id, 2, "ids go on after a restart");
    let retried = store.retry(1).unwrap();
    assert_eq!(retried.status, JobStatus::Waiting);
    assert_eq!(retried.interruptions, 0);
    let _ = std::fs::remove_dir_all(&dir);
}

fn problems(jobs: &str) -> String {
    let text = format!("[station]\ntimezone = \"Europe/London\"\n{jobs}");
    match Config::parse(&text, std::path::Path::new("/etc/onair.toml")) {
        Ok(_) => String::new(),
        Err(e) => e.to_string(),
    }
}

#[test]
fn hooks_are_read_with_their_defaults() {
    let text = "[station]\ntimezone = \"Europe/London\"\n[[jobs.hook]]\nname = \"publish\"\n\
                program = \"bin/publish\"\nargs = [\"--quiet\"]\n";
    let config = Config::parse(text, std::path::Path::new("/etc/onair/onair.toml")).unwrap();
    assert_eq!(config.jobs.nice, 10);
    assert_eq!(config.jobs.keep_days, 30);
    assert_eq!(
        config.jobs.hooks,
        vec![crate::config::HookConfig {
            name: "publish".into(),
            program: PathBuf::from("/etc/onair/bin/publish"),
            args: vec!["--quiet".into()],
            timeout_seconds: 600,
        }]
    );
}

#[test]
fn a_bad_hook_is_named_with_its_key_value_and_fix() {
    let unknown = problems("[[jobs.hook]]\nname = \"a\"\nprogram = \"/bin/true\"\ntimeout = 5\n");
    assert!(
        unknown.contains("jobs.hook[1].timeout = 5: unknown key")
            && unknown.contains("did you mean `timeout_seconds`?"),
        "{unknown}"
    );
    let missing = problems("[[jobs.hook]]\nname = \"a\"\n");
    assert!(
        missing.contains("jobs.hook[1].program is missing: expected the program to run"),
        "{missing}"
    );
    let slow =
        problems("[[jobs.hook]]\nname = \"a\"\nprogram = \"/bin/true\"\ntimeout_seconds = 0\n");
    assert!(
        slow.contains(
            "jobs.hook[1].timeout_seconds = 0: expected a whole number of seconds from 1 to 86400"
        ),
        "{slow}"
    );
    let twice = problems(
        "[[jobs.hook]]\nname = \"a\"\nprogram = \"/bin/true\"\n\
         [[jobs.hook]]\nname = \"a\"\nprogram = \"/bin/false\"\n",
    );
    assert!(
        twice.contains("jobs.hook[2].name = \"a\": another [[jobs.hook]] has this name"),
        "{twice}"
    );
    let section = problems("[jobs]\nniceness = 5\n");
    assert!(
        section.contains("jobs.niceness = 5: unknown key"),
        "{section}"
    );
    let args = problems("[[jobs.hook]]\nname = \"a\"\nprogram = \"/bin/true\"\nargs = \"-q\"\n");
    assert!(
        args.contains("jobs.hook[1].args = \"-q\": expected a list"),
        "{args}"
    );
}

#[test]
fn finished_jobs_are_forgotten_unless_a_waiting_job_needs_them() {
    let dir = scratch("forget");
    let config = config(&dir);
    let then = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    let file = dir.join("news.mp3");
    std::fs::write(&file, b"audio").unwrap();
    let store = JobStore::open(Database::open(&config.data.dir).unwrap()).unwrap();
    let new = |after: Vec<Dependency>| NewJob {
        work: Work::Hook {
            hook: "publish".into(),
            file: Some(file.clone()),
        },
        queue: None,
        name: None,
        after,
    };
    for _ in 0..2 {
        store.add(new(vec![]), &config, then).unwrap();
    }
    for id in [1, 2] {
        store
            .update(id, |job| {
                job.status = JobStatus::Done;
                job.ended = Some(then);
                Ok(())
            })
            .unwrap();
    }
    store
        .add(new(vec![Dependency::Id(2)]), &config, then)
        .unwrap();
    let later = then + chrono::TimeDelta::days(40);
    assert_eq!(
        store.forget(later - chrono::TimeDelta::days(30)).unwrap(),
        1
    );
    let left: Vec<u64> = store.all().unwrap().iter().map(|j| j.id).collect();
    assert_eq!(left, vec![2, 3], "job 2 is kept: job 3 waits for it");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_job_waiting_on_another_queue_does_not_hold_up_its_own() {
    // "news" job 2 waits for job 1 in "default"; job 3 in "news" goes first.
    let mut first = job(1, "default", None, &[]);
    first.status = JobStatus::Running;
    let jobs = vec![
        first,
        job(2, "news", None, &[Dependency::Id(1)]),
        job(3, "news", None, &[]),
    ];
    assert_eq!(next_to_run(&jobs), vec![3]);
}

#[test]
fn an_interrupted_job_runs_again_before_later_ones() {
    let mut first = job(1, "default", None, &[]);
    first.status = JobStatus::Interrupted;
    let jobs = vec![first, job(2, "default", None, &[])];
    assert_eq!(next_to_run(&jobs), vec![1]);
}
