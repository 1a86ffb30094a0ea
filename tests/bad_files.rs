//! Bad programme files at their slots: the slot is logged `failed` with a
//! reason, nothing of the bad file is heard, and filler is back on air
//! within 1 s. A good programme two minutes later shows the box carries on.

use crate::common;

use chrono::{DateTime, Utc};
use common::*;

const SLOT: &str = "2026-03-02 00:59";
const NEXT: &str = "2026-03-02 01:01";

fn station(name: &str) -> Station {
    let mut s = Station::new(name);
    s.filler(2500, 90.0);
    s.filler(2800, 90.0);
    s.programme(NEXT, "next-up", 400, 20.0, "wav");
    s
}

fn fillers(s: &Station) -> Vec<What> {
    s.filler_freqs().into_iter().map(What::Tone).collect()
}

fn run_past_the_next_programme(s: &mut Station) -> (Aired, Runs, AsRunLog) {
    s.start();
    s.wait_until(s.local("2026-03-02 01:01:30"));
    s.terminate();
    let aired = s.aired();
    let runs = s.runs(&aired);
    (aired, runs, s.log_json())
}

/// From `from`, filler holds the air (after at most 1 s of silence) until
/// the next programme, which starts on time.
fn expect_filler_covers(s: &Station, runs: &Runs, log: &AsRunLog, from: DateTime<Utc>) {
    let next = s.local(NEXT);
    let mut quiet_or_filler = fillers(s);
    quiet_or_filler.push(What::Silence);
    expect_only(runs, from, from + secs(1), &quiet_or_filler, ms(20));
    expect_only(runs, from + secs(1), next - ms(30), &fillers(s), ms(20));
    expect_run(runs, 400, next, next + secs(20), ms(20));

    let covering = log.of_kind(Kind::Filler).into_iter().any(|e| {
        e.start.to_utc() <= from + secs(1) && e.end.is_none_or(|end| end.to_utc() > from + secs(1))
    });
    log.check(
        covering,
        "a filler entry must be on air from within 1 s of the failure",
    );
    let entry = log.one("next-up");
    log.expect_start(entry, next, ms(50));
    log.expect_ended(entry, &[Ended::Natural]);
}

/// The bad slot is logged as scheduled, `failed`, with a reason.
fn expect_failed(log: &AsRunLog, slug: &str, slot: DateTime<Utc>) {
    let entry = log.one(slug);
    log.expect_kind(entry, Kind::Scheduled);
    log.expect_ended(entry, &[Ended::Failed]);
    log.expect_start(entry, slot, ms(1000));
    log.check(
        entry
            .reason
            .as_deref()
            .is_some_and(|r| !r.trim().is_empty()),
        &format!("the failed entry {:?} must say why it failed", entry.title),
    );
}

#[test]
fn random_bytes_named_mp3_fail_at_their_slot_and_filler_covers() {
    // Bad input: 64 KiB of random bytes in a file named .mp3 (a garbled
    // upload). Any noise decoded from it would show as unknown sound.
    let mut s = station("corrupt-mp3");
    s.programme_bytes(SLOT, "garbled", "mp3", &tone::random_bytes(64 * 1024, 7));
    let (_, runs, log) = run_past_the_next_programme(&mut s);
    let slot = s.local(SLOT);
    expect_failed(&log, "garbled", slot);
    expect_filler_covers(&s, &runs, &log, slot);
}

#[test]
fn a_zero_byte_flac_fails_at_its_slot_and_filler_covers() {
    // Bad input: an empty file named .flac (a copy that never got its data).
    let mut s = station("empty-flac");
    s.programme_bytes(SLOT, "empty", "flac", &[]);
    let (_, runs, log) = run_past_the_next_programme(&mut s);
    let slot = s.local(SLOT);
    expect_failed(&log, "empty", slot);
    expect_filler_covers(&s, &runs, &log, slot);
}

#[test]
fn a_flac_cut_to_half_its_bytes_airs_until_it_breaks_then_filler_covers() {
    // Bad input: a 60 s FLAC truncated to half its bytes, as an interrupted
    // copy leaves it. Its first ~30 s are sound and should air on time.
    let mut s = station("truncated-flac");
    let path = s.programme(SLOT, "cut-short", 700, 60.0, "flac");
    tone::truncate_to_half(&path);
    let (_, runs, log) = run_past_the_next_programme(&mut s);
    let slot = s.local(SLOT);
    let heard = expect_start(&runs, 700, slot, ms(20));
    if heard.duration() < secs(20) || heard.duration() > secs(40) {
        runs.fail(&format!(
            "about half of the 60 s programme should air before the file breaks, {} ms aired",
            heard.duration().num_milliseconds()
        ));
    }
    expect_filler_covers(&s, &runs, &log, heard.end);

    let entry = log.one("cut-short");
    log.expect_kind(entry, Kind::Scheduled);
    log.expect_start(entry, slot, ms(50));
    log.expect_ended(entry, &[Ended::Natural, Ended::Failed]);
    log.expect_end(entry, heard.end, ms(1000));
    if entry.ended == Some(Ended::Failed) {
        log.check(
            entry
                .reason
                .as_deref()
                .is_some_and(|r| !r.trim().is_empty()),
            "a failed entry must say why it failed",
        );
    }
}
