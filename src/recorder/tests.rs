use super::*;

fn channel(name: &str) -> RecorderChannel {
    RecorderChannel {
        name: name.to_string(),
        url: "http://127.0.0.1:1/none".to_string(),
        category: "news".to_string(),
        always_on: false,
    }
}

#[test]
fn channel_names_are_plain_folder_names() {
    for good in ["news", "news-feed", "partner_2", "bbc.ws"] {
        assert!(valid_name(good), "{good}");
    }
    // Bad input, each: empty, hidden, a path, a parent, a space, an
    // option-looking name, too long.
    let long = "x".repeat(65);
    for bad in ["", ".hidden", "a/b", "..", "a b", "-x", long.as_str()] {
        assert!(!valid_name(bad), "{bad:?}");
    }
    let settings = RecorderSettings::new(std::env::temp_dir(), 6, Clock::Wall);
    let error = Recorder::new(settings.clone(), vec![channel("../etc")])
        .err()
        .unwrap();
    assert!(
        error.to_string().contains("cannot name a folder"),
        "{error}"
    );
    let error = Recorder::new(settings.clone(), vec![channel("a"), channel("a")])
        .err()
        .unwrap();
    assert!(error.to_string().contains("two channels"), "{error}");
    let mut recorder = Recorder::new(settings, vec![channel("a"), channel("b")]).unwrap();
    let error = recorder.start("c").unwrap_err().to_string();
    assert!(
        error.contains("no channel is named \"c\"") && error.contains("a, b"),
        "{error}"
    );
    assert_eq!(recorder.snapshot().len(), 2);
    assert_eq!(recorder.snapshot()[0].1.state, ChannelState::Stopped);
}

#[test]
fn the_wait_doubles_to_a_minute_and_starts_again() {
    let mut backoff = channel::Backoff::default();
    let waits: Vec<u64> = (0..9).map(|_| backoff.wait().as_secs()).collect();
    assert_eq!(waits, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
    backoff.reset();
    assert_eq!(backoff.wait().as_secs(), 1);
}
