use super::*;

struct Data(PathBuf);

impl Data {
    fn new(name: &str) -> Data {
        let dir =
            std::env::temp_dir().join(format!("onair-registry-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Data(dir)
    }
}

impl Drop for Data {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn config() -> RecorderConfig {
    RecorderConfig {
        categories: vec!["news".into()],
        channels: vec![RecordedChannel {
            name: "network-news".into(),
            url: "https://news.example.org/live.mp3".into(),
            category: "news".into(),
            when: RecordWhen::Always,
            after_window: None,
        }],
    }
}

fn new(name: &str, category: Option<&str>) -> NewChannel {
    NewChannel {
        name: name.into(),
        url: format!("http://127.0.0.1:8000/{name}"),
        category: category.map(Into::into),
        create_category: false,
        record: Vec::new(),
    }
}

fn refused(result: Result<impl std::fmt::Debug, RegistryError>) -> String {
    match result {
        Err(RegistryError::Refused(why)) => why,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn channels_added_at_run_time_are_kept_beside_the_config_s() {
    let data = Data::new("add");
    let config = config();
    let added = add(
        Some(&config),
        &data.0,
        Some("fm"),
        new("partner", Some("news")),
    )
    .unwrap();
    assert_eq!(added.origin, Origin::Added);
    let mut windowed = new("breakfast", Some("partners"));
    windowed.create_category = true;
    windowed.record = vec!["Mon-Fri   06:00-09:00".into()];
    add(Some(&config), &data.0, Some("fm"), windowed).unwrap();

    // Read again as a restarted box would.
    let registry = Registry::load(Some(&config), &data.0).unwrap();
    let names: Vec<(&str, Origin)> = registry
        .channels
        .iter()
        .map(|c| (c.channel.name.as_str(), c.origin))
        .collect();
    assert_eq!(
        names,
        [
            ("network-news", Origin::Config),
            ("partner", Origin::Added),
            ("breakfast", Origin::Added)
        ]
    );
    let breakfast = &registry.find("breakfast").unwrap().channel;
    let RecordWhen::Windows(windows) = &breakfast.when else {
        panic!("{breakfast:?}");
    };
    assert_eq!(windows[0].to_string(), "Mon-Fri 06:00-09:00");
    assert_eq!(
        registry.category_counts(),
        [("news".to_string(), 2), ("partners".to_string(), 1)]
    );

    remove(Some(&config), &data.0, "partner").unwrap();
    let registry = Registry::load(Some(&config), &data.0).unwrap();
    assert!(registry.find("partner").is_none());
    // A category stays when its last channel goes.
    assert_eq!(
        registry.category_counts(),
        [("news".to_string(), 1), ("partners".to_string(), 1)]
    );
    // Nothing is left half-written beside the list.
    let names: Vec<String> = std::fs::read_dir(data.0.join("recorder"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    assert!(!names.iter().any(|n| n.ends_with(".tmp")), "{names:?}");
}

#[test]
fn bad_changes_are_refused_with_the_reason_and_change_nothing() {
    let data = Data::new("refused");
    let config = config();
    add(Some(&config), &data.0, Some("fm"), new("partner", None)).unwrap();
    let before = std::fs::read(added_file(&data.0)).unwrap();

    // Bad input: a name taken by the config, by an added channel and by the
    // box's own archive; a bad name, URL and window; an unknown category.
    let why = refused(add(
        Some(&config),
        &data.0,
        Some("fm"),
        new("network-news", None),
    ));
    assert!(why.contains("in the config file"), "{why}");
    let why = refused(add(
        Some(&config),
        &data.0,
        Some("fm"),
        new("partner", None),
    ));
    assert!(why.contains("added with `onair channel add`"), "{why}");
    let why = refused(add(Some(&config), &data.0, Some("fm"), new("fm", None)));
    assert!(why.contains("the box's own archive channel"), "{why}");
    let why = refused(add(Some(&config), &data.0, None, new("../up", None)));
    assert!(why.contains("cannot name a channel"), "{why}");
    let mut bad_url = new("x", None);
    bad_url.url = "ftp://example.org/a.mp3".into();
    let why = refused(add(Some(&config), &data.0, None, bad_url));
    assert!(why.contains("not ftp"), "{why}");
    let mut bad_window = new("x", None);
    bad_window.record = vec!["weekdays".into()];
    let why = refused(add(Some(&config), &data.0, None, bad_window));
    assert!(why.contains("is not a recording window"), "{why}");
    let why = refused(add(Some(&config), &data.0, None, new("x", Some("sport"))));
    assert!(
        why.contains("no category \"sport\"")
            && why.contains("news, other")
            && why.contains("--create-category"),
        "{why}"
    );
    // Bad input: removing a config channel, and one that is not there.
    let why = refused(remove(Some(&config), &data.0, "network-news"));
    assert!(
        why.contains("remove its [[recorder.channel]] table"),
        "{why}"
    );
    let why = refused(remove(Some(&config), &data.0, "nobody"));
    assert!(why.contains("network-news, partner"), "{why}");

    assert_eq!(std::fs::read(added_file(&data.0)).unwrap(), before);
}

#[test]
fn a_damaged_list_is_reported_not_overwritten() {
    let data = Data::new("damaged");
    std::fs::create_dir_all(data.0.join("recorder")).unwrap();
    // Bad input: a list cut short by a power cut during a hand edit.
    std::fs::write(added_file(&data.0), b"{\"channels\": [{\"name\": \"a\"").unwrap();
    let error = Registry::load(None, &data.0).unwrap_err().to_string();
    assert!(
        error.contains("is not a channel list the box can read"),
        "{error}"
    );
    assert!(add(None, &data.0, None, new("b", None)).is_err());
    assert_eq!(
        std::fs::read(added_file(&data.0)).unwrap(),
        b"{\"channels\": [{\"name\": \"a\""
    );
}

#[test]
fn two_commands_at_once_both_add_their_channel() {
    let data = Data::new("race");
    let dir = data.0.clone();
    let threads: Vec<_> = (0..8)
        .map(|i| {
            let dir = dir.clone();
            std::thread::spawn(move || {
                add(None, &dir, None, new(&format!("ch{i}"), None)).unwrap();
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(Registry::load(None, &dir).unwrap().channels.len(), 8);
}
