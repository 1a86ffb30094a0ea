//! `onair channel add|list|remove` and `onair category list` through the
//! real binary: channels from the config file and added at run time, kept
//! in the data folder across commands. Bad input tried: an unknown
//! category, a duplicate name, the box's own channel, a bad address, a
//! bad window, removing a config channel, a box without an archive.

use crate::common;

use std::process::Output;

use common::*;

fn station(name: &str) -> Station {
    let mut s = Station::new(name);
    s.section("[archive]\ndir = \"archive\"\nchannel = \"fm\"\n");
    s.section(
        "[recorder]\ncategories = [\"news\"]\n\n[[recorder.channel]]\nname = \"network-news\"\n\
         url = \"https://news.example.org/live.mp3\"\ncategory = \"news\"\n\
         record = [\"Mon-Fri 06:00-09:00\"]\n",
    );
    s.write_config();
    s
}

/// `onair WHAT ARGS… --config <the station's file>`.
fn run(s: &Station, what: &str, args: &[&str]) -> Output {
    let config = s.config_path().display().to_string();
    let mut all = vec![what];
    all.extend_from_slice(args);
    all.extend(["--config", config.as_str()]);
    onair(&all)
}

fn ok(output: Output) -> String {
    let (out, err) = (
        String::from_utf8_lossy(&output.stdout).to_string(),
        String::from_utf8_lossy(&output.stderr).to_string(),
    );
    assert!(output.status.success(), "failed: {out}\n{err}");
    out
}

fn refused(output: Output) -> String {
    let err = String::from_utf8_lossy(&output.stderr).to_string();
    assert_eq!(output.status.code(), Some(1), "accepted: {err}");
    err
}

#[test]
fn channels_are_added_listed_and_removed_and_survive_between_commands() {
    let s = station("channels");
    let said = ok(run(
        &s,
        "channel",
        &[
            "add",
            "partner",
            "--url",
            "http://127.0.0.1:8000/partner.mp3",
            "--category",
            "partners",
            "--create-category",
            "--record",
            "Sat 22:00-02:00",
        ],
    ));
    assert!(
        said.contains("added channel partner (partners, Sat 22:00-02:00)"),
        "{said}"
    );
    ok(run(
        &s,
        "channel",
        &["add", "off-air", "--url", "http://127.0.0.1:8000/off-air"],
    ));

    let listed = ok(run(&s, "channel", &["list"]));
    let lines: Vec<&str> = listed.lines().collect();
    assert!(lines[0].starts_with("CHANNEL"), "{listed}");
    assert!(
        lines[1].starts_with("network-news") && lines[1].contains("Mon-Fri 06:00-09:00"),
        "{listed}"
    );
    assert!(lines[1].contains("config"), "{listed}");
    assert!(
        lines[2].starts_with("partner") && lines[2].contains("channel add"),
        "{listed}"
    );
    assert!(lines[3].starts_with("off-air") && lines[3].contains("always"));

    let json: serde_json::Value =
        serde_json::from_str(&ok(run(&s, "channel", &["list", "--json"]))).unwrap();
    assert_eq!(json[1]["name"], "partner");
    assert_eq!(json[1]["defined_in"], "added");
    assert_eq!(json[2]["category"], "other");

    let categories: serde_json::Value =
        serde_json::from_str(&ok(run(&s, "category", &["list", "--json"]))).unwrap();
    assert_eq!(
        categories,
        serde_json::json!([
            {"category": "news", "channels": 1},
            {"category": "partners", "channels": 1},
            {"category": "other", "channels": 1},
        ])
    );
    let table = ok(run(&s, "category", &["list"]));
    assert!(table.contains("partners  1"), "{table}");

    let said = ok(run(&s, "channel", &["remove", "partner"]));
    assert!(said.contains("stays in the archive"), "{said}");
    let listed = ok(run(&s, "channel", &["list"]));
    assert!(!listed.contains("partner "), "{listed}");
}

#[test]
fn bad_channels_are_refused_with_the_reason_and_nothing_changes() {
    let s = station("channels-refused");
    ok(run(
        &s,
        "channel",
        &["add", "partner", "--url", "http://127.0.0.1:8000/p.mp3"],
    ));
    let list_before = ok(run(&s, "channel", &["list", "--json"]));
    for (args, says) in [
        (
            vec!["add", "x", "--url", "http://a.org/", "--category", "sport"],
            "no category \"sport\"",
        ),
        (
            vec!["add", "partner", "--url", "http://a.org/"],
            "there is a channel \"partner\" already",
        ),
        (
            vec!["add", "network-news", "--url", "http://a.org/"],
            "in the config file",
        ),
        (
            vec!["add", "fm", "--url", "http://a.org/"],
            "the box's own archive channel",
        ),
        (vec!["add", "x", "--url", "rtsp://a.org/live"], "not rtsp"),
        (
            vec![
                "add",
                "x",
                "--url",
                "http://a.org/",
                "--record",
                "weekdays 6-9",
            ],
            "is not a recording window",
        ),
        (
            vec!["add", "Big Name", "--url", "http://a.org/"],
            "cannot name a channel",
        ),
        (vec!["remove", "network-news"], "in the config file"),
        (vec!["remove", "nobody"], "there is no channel \"nobody\""),
    ] {
        let error = refused(run(&s, "channel", &args));
        assert!(error.contains(says), "{args:?}: {error}");
    }
    assert_eq!(ok(run(&s, "channel", &["list", "--json"])), list_before);

    // A box without an archive has nowhere to record to. (One station at
    // a time: the first goes before the next is made.)
    drop(s);
    let bare = Station::new("channels-no-archive");
    bare.write_config();
    let error = refused(run(
        &bare,
        "channel",
        &["add", "partner", "--url", "http://127.0.0.1:8000/p.mp3"],
    ));
    assert!(error.contains("keeps no archive"), "{error}");
}
