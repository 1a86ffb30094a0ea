use std::path::Path;

use super::super::{Config, ConfigError};
use super::*;

const BASE: &str = "[station]\nname = \"Radio Example FM\"\ntimezone = \"Europe/London\"\n\
    [library]\nprogrammes = \"programmes\"\n[[output]]\nkind = \"null\"\n\
    [archive]\ndir = \"/srv/archive\"\n";

fn parse(extra: &str) -> Result<Config, ConfigError> {
    Config::parse(
        &format!("{BASE}{extra}"),
        Path::new("/etc/onair/onair.toml"),
    )
}

fn problems(extra: &str) -> String {
    match parse(extra) {
        Err(ConfigError::Invalid(problems)) => problems
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n"),
        other => panic!("accepted: {other:?}"),
    }
}

#[test]
fn channels_read_with_their_categories_and_when_they_record() {
    assert_eq!(parse("").unwrap().recorder, None);
    let config = parse(
        r#"
[recorder]
categories = ["news", "partners", "news"]

[[recorder.channel]]
name = "network-news"
url = "https://news.example.org/live.mp3"
category = "news"
record = ["Mon-Fri 06:00-09:00", "Sat 22:00-02:00"]

[[recorder.channel]]
name = "partner-fm"
url = "http://partner.example.org/listen.pls"
record = "always"

[[recorder.channel]]
name = "competitor"
url = "http://127.0.0.1:8000/stream"
category = "compliance"
calendar = "recordings.ics"
"#,
    )
    .unwrap();
    let recorder = config.recorder.unwrap();
    assert_eq!(recorder.categories, ["news", "partners"]);
    assert_eq!(
        recorder.all_categories(),
        ["news", "partners", "other", "compliance"]
    );
    let [news, partner, competitor] = &recorder.channels[..] else {
        panic!("{recorder:?}");
    };
    assert_eq!(news.name, "network-news");
    assert_eq!(news.category, "news");
    let RecordWhen::Windows(windows) = &news.when else {
        panic!("{news:?}");
    };
    assert_eq!(
        windows.iter().map(ToString::to_string).collect::<Vec<_>>(),
        ["Mon-Fri 06:00-09:00", "Sat 22:00-02:00"]
    );
    assert_eq!(partner.when, RecordWhen::Always);
    assert_eq!(partner.category, DEFAULT_CATEGORY);
    assert_eq!(
        competitor.when,
        RecordWhen::Calendar(CalendarSource::File("/etc/onair/recordings.ics".into()))
    );
}

#[test]
fn bad_channels_name_the_key_the_value_and_the_fix() {
    // Bad input: a recorder without an archive.
    let text = "[recorder]\n";
    let Err(ConfigError::Invalid(found)) = Config::parse(
        &BASE.replace("[archive]\ndir = \"/srv/archive\"\n", text),
        Path::new("/etc/onair/onair.toml"),
    ) else {
        panic!("a recorder without an archive was accepted");
    };
    let found = found.iter().map(ToString::to_string).collect::<String>();
    assert!(found.contains("add an [archive] section"), "{found}");

    // Bad input: a capitalised name, an rtmp address, a window that is not
    // one, both record and calendar, an unknown key, a duplicate name, the
    // box's own channel, no url, a category with a space.
    let found = problems(
        r#"
[recorder]
categories = ["Talk Radio"]

[[recorder.channel]]
name = "Network News"
url = "rtmp://news.example.org/live"
record = ["Mon-Fri 6-9"]

[[recorder.channel]]
name = "partner"
url = "http://partner.example.org/live"
record = "always"
calendar = "x.ics"
schedule = "daily"

[[recorder.channel]]
name = "partner-fm"
url = "http://partner.example.org/other"

[[recorder.channel]]
name = "partner-fm"
url = "http://partner.example.org/again"

[[recorder.channel]]
name = "radio-example-fm"
url = "http://example.org/"

[[recorder.channel]]
name = "no-address"
"#,
    );
    for says in [
        "recorder.categories",
        "cannot name a category",
        "recorder.channel[0].name",
        "cannot name a channel",
        "recorder.channel[0].url",
        "not rtmp",
        "recorder.channel[0].record",
        "is not a recording window",
        "recorder.channel[1].record",
        "not both",
        "recorder.channel[1].schedule",
        "recorder.channel[3].name",
        "another channel has this name",
        "recorder.channel[4].name",
        "the box's own archive channel",
        "recorder.channel[5].url",
        "expected the stream's http:// or https:// address",
    ] {
        assert!(found.contains(says), "missing {says:?} in:\n{found}");
    }
    // Bad input: `record` that is a number, channels that are not tables.
    let found = problems("[recorder]\nchannel = 3\n");
    assert!(
        found.contains("expected [[recorder.channel]] tables"),
        "{found}"
    );
    let found =
        problems("[[recorder.channel]]\nname = \"a\"\nurl = \"http://x.org/\"\nrecord = 5\n");
    assert!(
        found.contains("expected \"always\", or weekly windows"),
        "{found}"
    );
}

#[test]
fn a_window_s_end_can_cut_copy_and_hand_the_recording_to_a_hook() {
    let hooks = "[[jobs.hook]]\nname = \"publish\"\nprogram = \"/usr/local/bin/publish\"\n";
    let config = parse(&format!(
        "{hooks}[recorder]\n[[recorder.channel]]\nname = \"news\"\nurl = \"http://a.org/\"\n\
         record = \"Mon-Fri 06:00-06:10\"\ncut_to = \"cuts\"\ncopy_to = \"/mnt/share\"\n\
         hook = \"publish\"\n"
    ))
    .unwrap();
    let channel = &config.recorder.unwrap().channels[0];
    assert_eq!(
        channel.after_window,
        Some(WindowJobs {
            cut_to: "/etc/onair/cuts".into(),
            copy_to: Some("/mnt/share".into()),
            hook: Some("publish".into()),
        })
    );

    // Bad input: a channel that records always has no window to cut; a
    // hook that is not configured; a copy without a cut.
    let found = problems(&format!(
        "{hooks}[recorder]\n[[recorder.channel]]\nname = \"a\"\nurl = \"http://a.org/\"\n\
         cut_to = \"cuts\"\n\
         [[recorder.channel]]\nname = \"b\"\nurl = \"http://a.org/\"\n\
         record = \"daily 06:00-07:00\"\ncut_to = \"cuts\"\nhook = \"upload\"\n\
         [[recorder.channel]]\nname = \"c\"\nurl = \"http://a.org/\"\n\
         record = \"daily 06:00-07:00\"\ncopy_to = \"/mnt\"\n"
    ));
    for says in [
        "recorder.channel[0].cut_to",
        "records always has no window to cut",
        "recorder.channel[1].hook",
        "no [[jobs.hook]] named \"upload\"; the hooks are: publish",
        "recorder.channel[2].cut_to",
        "expected the folder each window's cut is written to",
    ] {
        assert!(found.contains(says), "missing {says:?} in:\n{found}");
    }
}
