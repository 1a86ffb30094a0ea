//! Commands to the director, as the front panel, the web page and the CLI
//! will give them: a skipped programme fades out at once and filler follows
//! it without a gap; it is logged `skipped` and not aired again; the next
//! programme still starts on time. A takeover with no live input is refused
//! and automation stays on air.

use crate::common;

use common::*;
use onair::director::{Command, CommandError, Done};

const TALK: &str = "2026-03-02 01:00";
const NEWS: &str = "2026-03-02 01:03";

#[test]
fn a_skipped_programme_gives_way_to_filler_and_the_next_programme_starts_on_time() {
    let mut s = Station::new("skip");
    s.filler(2500, 90.0);
    s.filler(2800, 90.0);
    s.programme(TALK, "long-talk", 400, 300.0, "wav");
    s.programme(NEWS, "news", 700, 60.0, "wav");
    let fillers: Vec<What> = s.filler_freqs().into_iter().map(What::Tone).collect();

    let running = s.start_in_process();
    s.wait_until(s.local("2026-03-02 01:00:30"));
    assert_eq!(
        running.command(Command::Live),
        Err(CommandError::NoLiveInput),
        "with no live input the studio cannot take over"
    );
    let asked = s.now();
    assert_eq!(
        running.command(Command::Skip),
        Ok(Done::Skipped("Long Talk".to_string()))
    );
    s.wait_until(s.local("2026-03-02 01:04:10"));
    running.stop();

    let log = s.log_json();
    let talk = log.one("long-talk");
    log.expect_ended(talk, &[Ended::Skipped]);
    let Some(skipped) = talk.end.map(|e| e.to_utc()) else {
        log.fail("the skipped programme has no end")
    };
    // The command takes a few real milliseconds, a second of station time
    // at speed 60, and the fade is 1 s.
    log.check(
        skipped > asked && skipped < asked + secs(3),
        "the programme must come off air within the fade of the command",
    );
    let follows = log
        .of_kind(Kind::Filler)
        .into_iter()
        .any(|e| (e.start.to_utc() - skipped).abs() <= ms(20));
    log.check(
        follows,
        "filler must start the moment the skipped programme ends",
    );
    log.expect_start(log.one("news"), s.local(NEWS), ms(50));

    let aired = s.aired();
    let runs = s.runs(&aired);
    let talk_run = expect_start(&runs, 400, s.local(TALK), ms(20));
    if (talk_run.end - skipped).abs() > ms(1100) {
        runs.fail("the programme's tone must stop where the log says it was skipped");
    }
    // Nothing of the skipped programme after it came off, no silence
    // between it and the filler, and the news at its time.
    expect_only(
        &runs,
        skipped + ms(30),
        s.local(NEWS) - ms(30),
        &fillers,
        ms(20),
    );
    expect_run(&runs, 700, s.local(NEWS), s.local(NEWS) + secs(60), ms(20));
}
