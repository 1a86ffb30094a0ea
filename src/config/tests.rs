use std::path::{Path, PathBuf};

use super::*;

fn problems(text: &str) -> Vec<Problem> {
    match Config::parse(text, Path::new("/etc/onair/onair.toml")) {
        Err(ConfigError::Invalid(problems)) => problems,
        other => panic!("expected problems, got {other:?}"),
    }
}

fn find<'a>(problems: &'a [Problem], key: &str) -> &'a Problem {
    problems
        .iter()
        .find(|p| p.key == key)
        .unwrap_or_else(|| panic!("no problem about {key} in {problems:#?}"))
}

/// A folder of its own under the system's temporary folder, emptied first.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("onair-config-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn shipped_box_configuration_loads() {
    let text = include_str!("../../config/onair.toml");
    let config = Config::parse(text, Path::new("/etc/onair/onair.toml")).unwrap();
    assert_eq!(config.station.timezone, chrono_tz::Europe::London);
    assert!(config.clock.is_none(), "the box runs on the wall clock");
    assert_eq!(
        config.outputs,
        vec![OutputConfig::Alsa {
            device: "default".into()
        }]
    );
    assert_eq!(
        config.library.programmes,
        Path::new("/media/onair/programmes")
    );
    assert_eq!(
        config.library.emergency.as_deref(),
        Some(Path::new("/media/onair/emergency.wav"))
    );
    // Where board/onair.service lets the box write.
    assert_eq!(config.data.dir, Path::new("/data/onair"));
}

#[test]
fn demo_configuration_loads_with_paths_beside_it() {
    let config = Config::parse(DEMO_CONFIG, Path::new("/home/dev/demo/onair.toml")).unwrap();
    assert_eq!(config.station.name, "Demo FM");
    assert_eq!(
        config.library.programmes,
        Path::new("/home/dev/demo/programmes")
    );
    assert_eq!(
        config.library.filler.as_deref(),
        Some(Path::new("/home/dev/demo/filler"))
    );
    assert_eq!(
        config.library.emergency.as_deref(),
        Some(Path::new("/home/dev/demo/emergency.wav"))
    );
    assert_eq!(config.data.dir, Path::new("/home/dev/demo/state"));
    assert_eq!(config.outputs, vec![OutputConfig::Null]);
    assert!(config.clock.is_none());
    assert_eq!(config.web.listen.to_string(), "127.0.0.1:8080");
}

#[test]
fn only_the_time_zone_is_required() {
    let config = Config::parse(
        "[station]\ntimezone = \"Europe/Paris\"\n",
        Path::new("/srv/radio/onair.toml"),
    )
    .unwrap();
    assert_eq!(config.station.timezone, chrono_tz::Europe::Paris);
    assert_eq!(
        config.library.programmes,
        Path::new("/srv/radio/programmes")
    );
    assert_eq!(config.library.filler, None);
    assert_eq!(config.data.dir, Path::new("/srv/radio/state"));
    assert_eq!(
        (config.audio.sample_rate, config.audio.fade_ms),
        (48_000, 1_000)
    );
    assert_eq!(
        config.outputs,
        vec![OutputConfig::Alsa {
            device: "default".into()
        }]
    );
    assert_eq!(config.web.listen.to_string(), "127.0.0.1:8080");

    // Bad input: an empty file.
    let missing = problems("");
    assert_eq!(missing.len(), 1, "{missing:#?}");
    assert_eq!(
        missing[0].to_string().split(':').next(),
        Some("station.timezone is missing")
    );
}

#[test]
fn every_problem_is_reported_with_key_value_and_fix() {
    // Bad input: a typo in a key, a mistyped value, out-of-range numbers,
    // an unknown output kind, a key of the wrong output kind, a host name
    // instead of an address, and a top-level section that does not exist.
    let text = r#"
[station]
name = "Test FM"
timzone = "Europe/London"

[audio]
sample_rate = 4000
fade_ms = "1000"

[[output]]
kind = "alsa"
path = "out.wav"

[[output]]
kind = "mp4"

[web]
listen = "localhost:8080"

[logging]
level = "debug"
"#;
    let found = problems(text);
    let typo = find(&found, "station.timzone");
    assert_eq!(typo.value, "\"Europe/London\"");
    assert!(
        typo.expected
            .starts_with("unknown key; expected one of name, timezone"),
        "{typo}"
    );
    assert!(typo.expected.contains("did you mean `timezone`?"), "{typo}");
    assert!(find(&found, "station.timezone").value.is_empty());
    assert!(
        find(&found, "audio.sample_rate")
            .expected
            .contains("8000 to 192000")
    );
    assert!(
        find(&found, "audio.fade_ms")
            .expected
            .contains("not a string")
    );
    assert!(
        find(&found, "output[1].path")
            .expected
            .contains("wav outputs")
    );
    assert_eq!(
        find(&found, "output[2].kind").to_string(),
        "output[2].kind = \"mp4\": expected one of alsa, null, wav, icecast"
    );
    assert!(
        find(&found, "web.listen")
            .expected
            .contains("127.0.0.1:8080")
    );
    assert!(find(&found, "logging").expected.starts_with("unknown key"));
    assert_eq!(found.len(), 8, "{found:#?}");

    let message = ConfigError::Invalid(found.clone()).to_string();
    let lines: Vec<&str> = message.lines().collect();
    assert_eq!(lines.len(), 1 + found.len(), "{message}");
    assert!(
        lines
            .iter()
            .any(|l| l.trim()
                == "output[2].kind = \"mp4\": expected one of alsa, null, wav, icecast")
    );
}

#[test]
fn misspelt_time_zone_gets_a_suggestion() {
    // Bad input: a misspelt zone and a zone in the wrong case.
    let found = problems("[station]\ntimezone = \"Europe/Londn\"\n");
    assert!(
        find(&found, "station.timezone")
            .expected
            .contains("did you mean \"Europe/London\"?")
    );
    let found = problems("[station]\ntimezone = \"europe/berlin\"\n");
    assert!(
        find(&found, "station.timezone")
            .expected
            .contains("\"Europe/Berlin\"")
    );
    // Bad input: a number.
    let found = problems("[station]\ntimezone = 1\n");
    assert!(
        find(&found, "station.timezone")
            .expected
            .contains("not an integer")
    );
}

#[test]
fn syntax_errors_give_line_and_column() {
    // Bad input: a key without a value on line 3.
    let text = "[station]\ntimezone = \"Europe/London\"\nname =\n";
    match Config::parse(text, Path::new("/etc/onair/onair.toml")) {
        Err(e @ ConfigError::Syntax { line, column, .. }) => {
            assert_eq!((line, column), (3, 7), "{e}");
            assert!(
                e.to_string().starts_with("/etc/onair/onair.toml:3:7: "),
                "{e}"
            );
        }
        other => panic!("expected a syntax error, got {other:?}"),
    }
    // Bad input: the same key twice.
    let text = "[station]\ntimezone = \"Europe/London\"\ntimezone = \"UTC\"\n";
    assert!(matches!(
        Config::parse(text, Path::new("x.toml")),
        Err(ConfigError::Syntax { line: 3, .. })
    ));
}

#[test]
fn unreadable_file_says_what_to_do() {
    let dir = scratch("unreadable");
    let path = dir.join("missing.toml");
    let e = Config::load(&path).unwrap_err();
    assert!(matches!(e, ConfigError::Unreadable { .. }));
    let message = e.to_string();
    assert!(message.contains(&path.display().to_string()), "{message}");
    assert!(message.contains("--config"), "{message}");

    std::fs::write(&path, b"[station]\ntimezone = \"\xff\"\n").unwrap();
    assert!(
        Config::load(&path)
            .unwrap_err()
            .to_string()
            .contains("UTF-8")
    );

    std::fs::write(&path, "[station]\ntimezone = \"UTC\"\n").unwrap();
    assert_eq!(Config::load(&path).unwrap().data.dir, dir.join("state"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn simulated_clock_is_parsed_and_checked() {
    let base = "[station]\ntimezone = \"Europe/London\"\n";
    let text = format!(
        "{base}[clock]\nstart = \"2026-03-29T00:59:30\"\nspeed = 60.0\n[[output]]\nkind = \"null\"\n"
    );
    let clock = Config::parse(&text, Path::new("a.toml"))
        .unwrap()
        .clock
        .unwrap();
    assert_eq!(clock.start.to_string(), "2026-03-29 00:59:30");
    assert_eq!(clock.speed, 60.0);

    // A bare TOML date-time works too; the speed defaults to real time.
    let text = format!("{base}[clock]\nstart = 2026-03-29T00:59:30\n");
    let clock = Config::parse(&text, Path::new("a.toml"))
        .unwrap()
        .clock
        .unwrap();
    assert_eq!(
        (clock.start.to_string().as_str(), clock.speed),
        ("2026-03-29 00:59:30", 1.0)
    );

    // Bad input: a time with an offset, a zero and a huge speed, no start.
    let text = format!(
        "{base}[clock]\nstart = 2026-03-29T00:59:30Z\nspeed = 0\n[[output]]\nkind = \"null\"\n"
    );
    let found = problems(&text);
    assert!(
        find(&found, "clock.start")
            .expected
            .contains("no time zone offset")
    );
    assert!(find(&found, "clock.speed").expected.contains("more than 0"));
    let found = problems(&format!("{base}[clock]\nspeed = 5000\n"));
    assert!(find(&found, "clock.start").value.is_empty());
    assert!(
        find(&found, "clock.speed")
            .expected
            .contains("at most 1000")
    );
}

#[test]
fn alsa_cannot_follow_a_fast_clock() {
    let base = "[station]\ntimezone = \"Europe/London\"\n[clock]\nstart = \"2026-03-29T00:59:30\"\nspeed = 60\n";
    // Bad input: a sound card with a clock at 60 times real time.
    let found = problems(&format!(
        "{base}[[output]]\nkind = \"wav\"\npath = \"a.wav\"\n[[output]]\nkind = \"alsa\"\n"
    ));
    let alsa = find(&found, "output[2].kind");
    assert!(
        alsa.expected
            .contains("set clock.speed = 1 or use a wav/null output"),
        "{alsa}"
    );
    // Bad input: the ALSA output after an output that is itself refused
    // (an unknown kind): the key still names the ALSA output's place.
    let found = problems(&format!(
        "{base}[[output]]\nkind = \"mp4\"\n[[output]]\nkind = \"null\"\n[[output]]\nkind = \"alsa\"\n"
    ));
    assert!(
        find(&found, "output[3].kind")
            .expected
            .contains("not with clock.speed = 60"),
        "{found:#?}"
    );
    assert_eq!(find(&found, "output[1].kind").value, "\"mp4\"");
    assert_eq!(found.len(), 2, "{found:#?}");
    // Bad input: the same with the default output (no [[output]] at all).
    let found = problems(base);
    assert!(find(&found, "clock.speed").expected.contains("ALSA"));
    // A wav output keeps up with any speed; ALSA is fine at speed 1.
    assert!(
        Config::parse(
            &format!("{base}[[output]]\nkind = \"wav\"\npath = \"a.wav\"\n"),
            Path::new("a.toml")
        )
        .is_ok()
    );
    let real_time = base.replace("speed = 60", "speed = 1");
    assert!(Config::parse(&real_time, Path::new("a.toml")).is_ok());
}

#[test]
fn a_stream_cannot_follow_a_clock_faster_than_real_time() {
    let clock = |speed: &str| {
        format!(
            "[station]\ntimezone = \"UTC\"\n[clock]\nstart = \"2026-03-02T00:59:00\"\nspeed = {speed}\n"
        )
    };
    let stream = |mount: &str| {
        format!(
            "[[output]]\nkind = \"icecast\"\nhost = \"127.0.0.1\"\nport = 8010\nmount = \"{mount}\"\npassword = \"hackme\"\n"
        )
    };
    let wav = "[[output]]\nkind = \"wav\"\npath = \"a.wav\"\n";
    // Bad input: two streams behind a wav output, with the clock at 60 times
    // real time: each stream is named, by its place and by its mount.
    let found = problems(&format!(
        "{}{wav}{}{}",
        clock("60"),
        stream("/live.mp3"),
        stream("/low.mp3")
    ));
    assert_eq!(found.len(), 2, "{found:#?}");
    let live = find(&found, "output[2].kind");
    assert_eq!(live.value, "\"icecast\"");
    let message = live.to_string();
    for part in [
        "not with clock.speed = 60",
        "icecast 127.0.0.1:8010/live.mp3",
        "faster than real time",
        "set clock.speed = 1, or use a wav/null output",
    ] {
        assert!(message.contains(part), "{part:?} missing from {message}");
    }
    assert!(
        find(&found, "output[3].kind")
            .expected
            .contains("icecast 127.0.0.1:8010/low.mp3"),
        "{found:#?}"
    );
    // The refusal is in the message `onair check-config` and `onair run` print.
    let Err(error) = Config::parse(
        &format!("{}{}", clock("1.5"), stream("/live.mp3")),
        Path::new("a.toml"),
    ) else {
        panic!("a stream at clock speed 1.5 was accepted");
    };
    assert!(
        error
            .to_string()
            .contains("output[1].kind = \"icecast\": not with clock.speed = 1.5"),
        "{error}"
    );
    // At speed 1, or slower (a stream then only sends slowly), it is fine,
    // and so is a wav output at any speed.
    for speed in ["1", "1.0", "0.5"] {
        let text = format!("{}{}", clock(speed), stream("/live.mp3"));
        assert!(
            Config::parse(&text, Path::new("a.toml")).is_ok(),
            "speed {speed}"
        );
    }
    assert!(Config::parse(&format!("{}{wav}", clock("60")), Path::new("a.toml")).is_ok());
}

#[test]
fn icecast_outputs_take_their_settings_and_defaults() {
    let base = "[station]\ntimezone = \"UTC\"\n";
    let text = format!(
        "{base}[[output]]\nkind = \"icecast\"\nhost = \"127.0.0.1\"\nmount = \"/live.mp3\"\npassword = \"hackme\"\n\
         [[output]]\nkind = \"icecast\"\nhost = \"stream.example.org\"\nport = 8443\nmount = \"/low.mp3\"\nuser = \"studio\"\n\
         password = \"s3cret\"\nbitrate = 64\nmode = \"vbr\"\nsample_rate = 44100\nname = \"Radio Été\"\n\
         description = \"Community radio\"\ngenre = \"Various\"\nurl = \"https://radio.example.org\"\npublic = true\n\
         reconnect_max_seconds = 5\n"
    );
    let config = Config::parse(&text, Path::new("/srv/onair.toml")).unwrap();
    let [OutputConfig::Icecast(first), OutputConfig::Icecast(second)] = &config.outputs[..] else {
        panic!("two icecast outputs expected: {:?}", config.outputs);
    };
    assert_eq!(
        (first.port, first.user.as_str(), first.bitrate, first.mode),
        (8000, "source", 128, BitrateMode::Cbr)
    );
    assert_eq!(
        (first.sample_rate, first.public, first.reconnect_max_seconds),
        (None, false, 30)
    );
    assert_eq!(first.name, None);
    assert_eq!(
        second,
        &IcecastConfig {
            host: "stream.example.org".into(),
            port: 8443,
            mount: "/low.mp3".into(),
            user: "studio".into(),
            password: "s3cret".into(),
            bitrate: 64,
            mode: BitrateMode::Vbr,
            sample_rate: Some(44_100),
            name: Some("Radio Été".into()),
            description: Some("Community radio".into()),
            genre: Some("Various".into()),
            url: Some("https://radio.example.org".into()),
            public: true,
            reconnect_max_seconds: 5,
        }
    );
}

#[test]
fn icecast_problems_name_the_key_and_the_fix() {
    // Bad input: no password, a mount without its slash, a bitrate MP3
    // does not have, an unknown mode, a port out of range, a rate MP3
    // cannot carry, public as a string, a zero reconnect cap, and a
    // key of another output kind.
    let base = "[station]\ntimezone = \"UTC\"\n";
    let found = problems(&format!(
        "{base}[[output]]\nkind = \"icecast\"\nhost = \"127.0.0.1\"\nmount = \"live.mp3\"\nbitrate = 100\n\
         mode = \"abr\"\nport = 70000\nsample_rate = 96000\npublic = \"yes\"\nreconnect_max_seconds = 0\npath = \"x.wav\"\n"
    ));
    assert!(
        find(&found, "output[1].password")
            .expected
            .contains("<source-password>")
    );
    assert!(
        find(&found, "output[1].mount")
            .expected
            .contains("\"/live.mp3\"")
    );
    assert_eq!(find(&found, "output[1].bitrate").value, "100");
    assert!(find(&found, "output[1].bitrate").expected.contains("128"));
    assert!(find(&found, "output[1].mode").expected.contains("\"vbr\""));
    assert!(find(&found, "output[1].port").expected.contains("65535"));
    assert!(
        find(&found, "output[1].sample_rate")
            .expected
            .contains("44100")
    );
    assert!(find(&found, "output[1].public").expected.contains("true"));
    assert!(
        find(&found, "output[1].reconnect_max_seconds")
            .expected
            .contains("from 1 to 3600")
    );
    assert!(
        find(&found, "output[1].path")
            .expected
            .contains("path is for wav outputs")
    );
    assert_eq!(found.len(), 9, "{found:#?}");
}

#[test]
fn a_local_stream_is_listened_back_to_unless_turned_off() {
    let base = "[station]\ntimezone = \"UTC\"\n[[output]]\nkind = \"wav\"\npath = \"air.wav\"\n";
    let stream = |host: &str, extra: &str| {
        format!(
            "[[output]]\nkind = \"icecast\"\nhost = \"{host}\"\nport = 8010\nmount = \"/live.mp3\"\n\
             password = \"x\"\n{extra}"
        )
    };
    let text = [
        base.to_string(),
        stream("127.0.0.1", ""),
        stream("LOCALHOST", ""),
        stream("::1", ""),
        // Remote: off unless asked for.
        stream("stream.example.org", ""),
        stream(
            "stream.example.org",
            "listen_url = \"http://stream.example.org:8000/live.mp3\"\n",
        ),
        // Local, but turned off.
        stream("127.0.0.1", "listen_url = \"\"\n"),
        // Local, listened to somewhere else (a relay listeners use).
        stream(
            "127.0.0.1",
            "listen_url = \"HTTP://relay.example.org/live.mp3\"\n",
        ),
    ]
    .concat();
    let config = Config::parse(&text, Path::new("/srv/onair.toml")).unwrap();
    let checks: Vec<(usize, &str)> = config
        .listen_back
        .iter()
        .map(|l| (l.output, l.url.as_str()))
        .collect();
    assert_eq!(
        checks,
        [
            (1, "http://127.0.0.1:8010/live.mp3"),
            (2, "http://LOCALHOST:8010/live.mp3"),
            (3, "http://[::1]:8010/live.mp3"),
            (5, "http://stream.example.org:8000/live.mp3"),
            (7, "HTTP://relay.example.org/live.mp3"),
        ]
    );
}

#[test]
fn a_listen_url_must_be_a_plain_http_address() {
    // Bad input: https, another scheme, no scheme, garbage with spaces,
    // an empty host, a host-less port, and a number instead of a string.
    let base = "[station]\ntimezone = \"UTC\"\n";
    let bad = [
        "\"https://127.0.0.1:8000/live.mp3\"",
        "\"icecast://127.0.0.1:8000/live.mp3\"",
        "\"127.0.0.1:8000/live.mp3\"",
        "\"http://not a url/\"",
        "\"http:///live.mp3\"",
        "\"http://:8000/live.mp3\"",
        "8000",
    ];
    let text: String = std::iter::once(base.to_string())
        .chain(bad.iter().map(|url| {
            format!(
                "[[output]]\nkind = \"icecast\"\nhost = \"127.0.0.1\"\nmount = \"/live.mp3\"\n\
                 password = \"x\"\nlisten_url = {url}\n"
            )
        }))
        .collect();
    let found = problems(&text);
    assert_eq!(found.len(), bad.len(), "{found:#?}");
    for (i, url) in bad.iter().enumerate() {
        let problem = find(&found, &format!("output[{}].listen_url", i + 1));
        assert_eq!(&problem.value, url, "{problem}");
        // Every message says what to write instead, with this stream's address.
        assert!(
            problem
                .expected
                .contains("such as \"http://127.0.0.1:8000/live.mp3\", or \"\" to turn"),
            "{problem}"
        );
    }
    let why = |i: usize| {
        find(&found, &format!("output[{i}].listen_url"))
            .expected
            .clone()
    };
    assert!(why(1).starts_with("https is not supported"), "{}", why(1));
    assert!(
        why(2).starts_with("the scheme icecast:// is not http://"),
        "{}",
        why(2)
    );
    assert!(
        why(3).starts_with("this is not an http:// address"),
        "{}",
        why(3)
    );
    assert!(
        why(4).starts_with("this is not a valid address"),
        "{}",
        why(4)
    );
    for i in [5, 6] {
        assert!(
            why(i).starts_with("the address names no server"),
            "{}",
            why(i)
        );
    }
    assert!(why(7).ends_with("not an integer"), "{}", why(7));
}

#[test]
fn outputs_take_only_their_own_keys() {
    let base = "[station]\ntimezone = \"UTC\"\n";
    let text = format!(
        "{base}[[output]]\nkind = \"wav\"\npath = \"aired/out.wav\"\n[[output]]\nkind = \"alsa\"\ndevice = \"hw:1\"\n[[output]]\nkind = \"null\"\n"
    );
    let config = Config::parse(&text, Path::new("/srv/onair.toml")).unwrap();
    assert_eq!(
        config.outputs,
        vec![
            OutputConfig::Wav {
                path: "/srv/aired/out.wav".into()
            },
            OutputConfig::Alsa {
                device: "hw:1".into()
            },
            OutputConfig::Null,
        ]
    );
    // Bad input: a wav output without a path, a device on a null output,
    // a misspelt key, no kind, and [output] instead of [[output]].
    let found = problems(&format!(
        "{base}[[output]]\nkind = \"wav\"\n[[output]]\nkind = \"null\"\ndevice = \"hw:0\"\n[[output]]\nkind = \"alsa\"\ndevise = \"hw:0\"\n[[output]]\ndevice = \"hw:0\"\n"
    ));
    assert!(find(&found, "output[1].path").value.is_empty());
    assert!(
        find(&found, "output[2].device")
            .expected
            .contains("alsa outputs")
    );
    assert!(
        find(&found, "output[3].devise")
            .expected
            .contains("did you mean `device`?")
    );
    assert!(find(&found, "output[4].kind").value.is_empty());
    assert_eq!(found.len(), 4, "{found:#?}");
    let found = problems(&format!("{base}[output]\nkind = \"null\"\n"));
    assert!(find(&found, "output").expected.contains("[[output]]"));
}

#[test]
fn calendar_section_is_optional_and_validated() {
    let base = "[station]\ntimezone = \"Europe/London\"\n";
    let config = Config::parse(base, Path::new("/srv/onair.toml")).unwrap();
    assert_eq!(
        config.calendar, None,
        "no [calendar]: the box works from files alone"
    );

    let text = format!("{base}[calendar]\nsource = \"calendars/station.ics\"\n");
    let config = Config::parse(&text, Path::new("/srv/onair.toml")).unwrap();
    assert_eq!(
        config.calendar,
        Some(CalendarConfig {
            source: CalendarSource::File("/srv/calendars/station.ics".into()),
            refresh_minutes: 15,
            check_ahead_minutes: 60,
        })
    );
    let text = format!(
        "{base}[calendar]\nsource = \"webcal://cal.example.org/basic.ics\"\nrefresh_minutes = 5\ncheck_ahead_minutes = 120\n"
    );
    let calendar = Config::parse(&text, Path::new("/srv/onair.toml"))
        .unwrap()
        .calendar
        .unwrap();
    assert_eq!(
        calendar.source,
        CalendarSource::Url("https://cal.example.org/basic.ics".into())
    );
    assert_eq!(
        (calendar.refresh_minutes, calendar.check_ahead_minutes),
        (5, 120)
    );

    // Bad input: no source, a refresh of 0, a look-ahead as a string and
    // a misspelt key.
    let found = problems(&format!(
        "{base}[calendar]\nrefresh_minutes = 0\ncheck_ahead_minutes = \"60\"\nrefresh_minute = 5\n"
    ));
    assert!(find(&found, "calendar.source").value.is_empty());
    assert!(
        find(&found, "calendar.source")
            .expected
            .contains("remove [calendar]")
    );
    assert!(
        find(&found, "calendar.refresh_minutes")
            .expected
            .contains("from 1 to 1440")
    );
    assert!(
        find(&found, "calendar.check_ahead_minutes")
            .expected
            .contains("not a string")
    );
    assert!(
        find(&found, "calendar.refresh_minute")
            .expected
            .contains("did you mean `refresh_minutes`?")
    );
    assert_eq!(found.len(), 4, "{found:#?}");
    // Bad input: an address the box cannot fetch, and an empty source.
    let found = problems(&format!(
        "{base}[calendar]\nsource = \"ftp://example.org/a.ics\"\n"
    ));
    assert!(
        find(&found, "calendar.source")
            .expected
            .contains("http:// and https://")
    );
    let found = problems(&format!("{base}[calendar]\nsource = \" \"\n"));
    assert_eq!(find(&found, "calendar.source").value, "\" \"");
}

#[test]
fn check_warns_of_a_missing_calendar_file() {
    let dir = scratch("calendar");
    let path = dir.join("onair.toml");
    let text = "[station]\ntimezone = \"UTC\"\n[calendar]\nsource = \"station.ics\"\n";
    let config = Config::parse(text, &path).unwrap();
    // Bad input: the calendar file is not there.
    let warnings = config.check();
    assert!(
        warnings.iter().any(|w| w.key == "calendar.source"),
        "{warnings:#?}"
    );
    std::fs::write(dir.join("station.ics"), "BEGIN:VCALENDAR\nEND:VCALENDAR\n").unwrap();
    assert!(!config.check().iter().any(|w| w.key == "calendar.source"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn check_reports_missing_folders_and_files() {
    let dir = scratch("check");
    let path = dir.join("onair.toml");
    std::fs::write(&path, DEMO_CONFIG).unwrap();
    let config = Config::load(&path).unwrap();
    let warnings = config.check();
    let keys: Vec<&str> = warnings.iter().map(|w| w.key.as_str()).collect();
    assert_eq!(
        keys,
        ["library.programmes", "library.filler", "library.emergency"],
        "{warnings:#?}"
    );
    assert!(
        warnings[0]
            .to_string()
            .contains("does not exist; create it"),
        "{}",
        warnings[0]
    );

    std::fs::create_dir(dir.join("programmes")).unwrap();
    std::fs::create_dir(dir.join("filler")).unwrap();
    let warnings = config.check();
    assert_eq!(warnings.len(), 2, "{warnings:#?}");
    assert!(warnings[0].problem.contains("no files"), "{}", warnings[0]);

    std::fs::write(dir.join("filler/jingle.wav"), b"RIFF").unwrap();
    std::fs::write(dir.join("emergency.wav"), b"RIFF").unwrap();
    assert_eq!(
        config.check(),
        vec![],
        "the data folder does not exist yet but can be created"
    );

    // Bad input: the data folder would have to be made inside a file.
    std::fs::write(dir.join("blocker"), b"").unwrap();
    let text = DEMO_CONFIG.replace("dir = \"state\"", "dir = \"blocker/state\"");
    let config = Config::parse(&text, &path).unwrap();
    let warnings = config.check();
    assert_eq!(warnings.len(), 1, "{warnings:#?}");
    assert_eq!(warnings[0].key, "data.dir");
    assert!(warnings[0].problem.contains("is a file"), "{}", warnings[0]);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_box_without_a_panel_section_has_simulated_buttons_and_no_display() {
    let config = Config::parse("[station]\ntimezone = \"UTC\"\n", Path::new("a.toml")).unwrap();
    assert_eq!(config.panel, PanelConfig::default());
    assert_eq!(config.panel.pins, PanelPins::Simulated);
    assert_eq!(config.panel.display.kind, DisplayKind::None);
    assert_eq!(config.panel.debounce_ms, 30);
    assert!(config.panel.active_low);
    // The demo too.
    let demo = Config::parse(DEMO_CONFIG, Path::new("/home/dev/demo/onair.toml")).unwrap();
    assert_eq!(demo.panel.pins, PanelPins::Simulated);
}

#[test]
fn the_shipped_box_has_gpio_buttons_lamps_and_an_oled() {
    let text = include_str!("../../config/onair.toml");
    let panel = Config::parse(text, Path::new("/etc/onair/onair.toml"))
        .unwrap()
        .panel;
    assert_eq!(panel.pins, PanelPins::Gpio);
    assert_eq!(panel.lines.live_button, "GPIO5");
    // Not GPIO18-21: a sound HAT's I2S takes those.
    assert_eq!(panel.lines.alarm_lamp, "GPIO24");
    assert_eq!(panel.pull, Pull::Up);
    assert!(panel.active_low && !panel.lamp_active_low);
    assert_eq!(
        panel.display,
        DisplayConfig {
            kind: DisplayKind::Ssd1306,
            bus: "/dev/i2c-1".into(),
            address: 0x3C,
        }
    );
}

#[test]
fn panel_settings_are_read() {
    let text = r#"
[station]
timezone = "UTC"
[panel]
pins = "gpio"
live_button = "GPIO17"
skip_button = "GPIO27"
alarm_lamp = "GPIO26"
active_low = false
lamp_active_low = true
pull = "down"
debounce_ms = 20
display = "sh1106"
display_bus = "/dev/i2c-3"
display_address = "0x3D"
"#;
    let panel = Config::parse(text, Path::new("a.toml")).unwrap().panel;
    assert_eq!(panel.pins, PanelPins::Gpio);
    assert_eq!(
        (
            panel.lines.live_button.as_str(),
            panel.lines.auto_button.as_str(),
            panel.lines.skip_button.as_str(),
            panel.lines.alarm_lamp.as_str(),
        ),
        ("GPIO17", "GPIO6", "GPIO27", "GPIO26"),
        "keys left out keep the board's pins"
    );
    assert!(!panel.active_low && panel.lamp_active_low);
    assert_eq!(panel.pull, Pull::Down);
    assert_eq!(panel.debounce_ms, 20);
    assert_eq!(
        panel.display,
        DisplayConfig {
            kind: DisplayKind::Sh1106,
            bus: "/dev/i2c-3".into(),
            address: 0x3D,
        }
    );
    // With GPIO, a display is expected unless turned off; in hex as TOML writes it.
    let text = "[station]\ntimezone = \"UTC\"\n[panel]\npins = \"gpio\"\ndisplay_address = 0x3c\n";
    let display = Config::parse(text, Path::new("a.toml"))
        .unwrap()
        .panel
        .display;
    assert_eq!(
        (display.kind, display.address),
        (DisplayKind::Ssd1306, 0x3C)
    );
}

#[test]
fn panel_problems_name_the_key_the_value_and_the_fix() {
    // Bad input: every [panel] key with a value it cannot take.
    let text = r#"
[station]
timezone = "UTC"
[panel]
pins = "gpi"
live_button = "/dev/gpiochip0 17"
auto_button = 6
skip_button = "GPIO16"
active_low = "yes"
pull = "pullup"
debounce_ms = 1000
display = "oled"
display_bus = "i2c-1"
display_address = 0x78
dispaly = "none"
"#;
    let found = problems(text);
    assert_eq!(
        find(&found, "panel.pins").to_string(),
        "panel.pins = \"gpi\": expected one of gpio, simulated: \"gpio\" (the Pi's GPIO lines, \
         named below) or \"simulated\" (buttons pressed from the page, for a machine without GPIO)"
    );
    assert!(
        find(&found, "panel.live_button")
            .expected
            .contains("such as \"GPIO17\""),
        "{found:#?}"
    );
    assert!(
        find(&found, "panel.auto_button")
            .expected
            .contains("not an integer")
    );
    let twice = find(&found, "panel.skip_button");
    assert_eq!(twice.value, "\"GPIO16\"");
    assert!(twice.expected.contains("also panel.on_air_lamp"), "{twice}");
    assert!(
        find(&found, "panel.active_low")
            .expected
            .contains("true or false (without quotes), not a string")
    );
    assert!(
        find(&found, "panel.pull")
            .expected
            .starts_with("expected one of up, down, none")
    );
    assert!(
        find(&found, "panel.debounce_ms")
            .expected
            .contains("from 5 to 100")
    );
    assert!(
        find(&found, "panel.display")
            .expected
            .contains("\"sh1106\" (most 1.3 inch modules)")
    );
    assert!(
        find(&found, "panel.display_bus")
            .expected
            .contains("\"/dev/i2c-1\"")
    );
    let address = find(&found, "panel.display_address");
    assert_eq!(address.value, "120");
    assert!(address.expected.contains("from 0x08 to 0x77"), "{address}");
    assert!(
        address
            .expected
            .contains("0x78 looks like an 8-bit address, which is 0x3C"),
        "{address}"
    );
    assert!(
        find(&found, "panel.dispaly")
            .expected
            .contains("did you mean `display`?")
    );
    assert_eq!(found.len(), 11, "{found:#?}");

    // Bad input: an address that is not a number, a section that is not one.
    let found = problems("[station]\ntimezone = \"UTC\"\n[panel]\ndisplay_address = \"big\"\n");
    assert!(
        find(&found, "panel.display_address")
            .expected
            .contains("0x3C on most modules")
    );
    let found = problems("panel = \"gpio\"\n[station]\ntimezone = \"UTC\"\n");
    assert!(find(&found, "panel").expected.contains("[panel] section"));
}

#[test]
fn web_control_keys_default_to_a_socket_in_the_data_folder_and_open_reading() {
    let config = Config::parse(
        "[station]\ntimezone = \"Europe/Paris\"\n[data]\ndir = \"/var/lib/onair\"\n",
        Path::new("/srv/radio/onair.toml"),
    )
    .unwrap();
    assert_eq!(
        config.web.control_socket,
        Path::new("/var/lib/onair/control.sock")
    );
    assert!(!config.web.read_requires_login);
    assert_eq!(config.web.session_idle_hours, 12);

    let config = Config::parse(
        "[station]\ntimezone = \"Europe/Paris\"\n[web]\ncontrol_socket = \"/run/onair/control.sock\"\nread_requires_login = true\nsession_idle_hours = 2\n",
        Path::new("/srv/radio/onair.toml"),
    )
    .unwrap();
    assert_eq!(
        config.web.control_socket,
        Path::new("/run/onair/control.sock")
    );
    assert!(config.web.read_requires_login);
    assert_eq!(config.web.session_idle_hours, 2);

    // Bad input: each key named with its value and what to write.
    let found = problems(
        "[station]\ntimezone = \"Europe/Paris\"\n[web]\ncontrol_socket = \"\"\nread_requires_login = \"yes\"\nsession_idle_hours = 0\n",
    );
    assert_eq!(found.len(), 3, "{found:#?}");
    assert!(
        find(&found, "web.control_socket")
            .expected
            .contains("non-empty")
    );
    let login = find(&found, "web.read_requires_login");
    assert_eq!(login.value, "\"yes\"");
    assert!(login.expected.starts_with("expected true"), "{login}");
    assert!(
        find(&found, "web.session_idle_hours")
            .expected
            .contains("1 to 720")
    );
}

#[test]
fn check_warns_of_a_panel_this_machine_cannot_drive() {
    let text =
        "[station]\ntimezone = \"UTC\"\n[panel]\npins = \"gpio\"\ndisplay_bus = \"/dev/i2c-99\"\n";
    let config = Config::parse(text, Path::new("/srv/onair.toml")).unwrap();
    let warnings = config.check();
    let bus = warnings
        .iter()
        .find(|w| w.key == "panel.display_bus")
        .unwrap_or_else(|| panic!("no warning about the bus in {warnings:#?}"));
    assert_eq!(bus.path, Path::new("/dev/i2c-99"));
    assert!(bus.fix.contains("dtparam=i2c_arm=on"), "{bus}");
    let no_gpio = !std::fs::read_dir("/dev")
        .unwrap()
        .flatten()
        .any(|e| e.file_name().to_string_lossy().starts_with("gpiochip"));
    assert_eq!(
        warnings.iter().any(|w| w.key == "panel.pins"),
        no_gpio,
        "{warnings:#?}"
    );
    // Simulated pins and no display: nothing to warn of.
    let config = Config::parse(
        "[station]\ntimezone = \"UTC\"\n",
        Path::new("/srv/onair.toml"),
    )
    .unwrap();
    assert!(!config.check().iter().any(|w| w.key.starts_with("panel.")));
}
