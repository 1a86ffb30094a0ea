use super::*;

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

#[test]
fn a_name_reads_back_as_it_was_written() {
    let hash = content_hash(b"some mp3");
    assert_eq!(hash.len(), 43);
    for (start, duration, kind) in [
        ("2026-01-05T10:59:54.000000Z", 6.0, SegmentType::Full),
        ("2026-01-05T11:00:00.023125Z", 2.976, SegmentType::Partial),
        (
            "2026-12-31T23:00:00.000001Z",
            6.0081632653061225,
            SegmentType::Full,
        ),
    ] {
        let name = SegmentName {
            start: at(start),
            duration,
            kind,
            hash: hash.clone(),
        };
        let path = name.path();
        assert_eq!(SegmentName::parse(&path), Ok(name.clone()), "{path}");
    }
    let name = SegmentName {
        start: at("2026-01-05T10:59:54.5Z"),
        duration: 6.0,
        kind: SegmentType::Full,
        hash: hash.clone(),
    };
    assert_eq!(
        name.path(),
        format!("2026-01-05T10/59:54.500000-6.0-full-{hash}.mp3")
    );
    // A temp file's random id may hold dashes.
    let temp =
        SegmentName::parse("2026-01-05T10/00:06.000000-6.0-temp-1b4e-28ba-2fa1.mp3").unwrap();
    assert_eq!(
        (temp.kind, temp.hash.as_str()),
        (SegmentType::Temp, "1b4e-28ba-2fa1")
    );
}

#[test]
fn durations_are_written_as_python_writes_a_float() {
    assert_eq!(format_duration(6.0), "6.0");
    assert_eq!(format_duration(2.002), "2.002");
    assert_eq!(
        format_duration(230.0 * 1152.0 / 44_100.0),
        "6.0081632653061225"
    );
    assert_eq!(format_duration(0.024), "0.024");
}

#[test]
fn bad_names_are_refused_with_the_reason() {
    let hash = content_hash(b"x");
    // Bad input, each: what is wrong with it, and the error's key words.
    let cases = [
        (
            "2026-01-05/00:00.000000-6.0-full-HASH.mp3",
            "not an hour folder",
        ),
        (
            "2026-13-05T10/00:00.000000-6.0-full-HASH.mp3",
            "not an hour folder",
        ),
        (
            "2026-01-05T24/00:00.000000-6.0-full-HASH.mp3",
            "not an hour folder",
        ),
        (
            "2026-01-05T10/00:00.000000-6.0-full-HASH.ts",
            "does not end in .mp3",
        ),
        (
            "2026-01-05T10/00:00.000000-6.0-full.mp3",
            "expected MM:SS.ffffff",
        ),
        (
            "2026-01-05T10/60:00.000000-6.0-full-HASH.mp3",
            "not a time in the hour",
        ),
        ("2026-01-05T10/00:00.000-6.0-full-HASH.mp3", "six digits"),
        (
            "2026-01-05T10/00:00.000000-six-full-HASH.mp3",
            "not a duration",
        ),
        (
            "2026-01-05T10/00:00.000000-6-full-HASH.mp3",
            "not a duration",
        ),
        (
            "2026-01-05T10/00:00.000000-6.0-bad-HASH.mp3",
            "not a segment type",
        ),
        (
            "2026-01-05T10/00:00.000000-6.0-full-abc.mp3",
            "not a SHA-256",
        ),
        (
            "2026-01-05T10/00:00.000000-6.0-full-HASH=.mp3",
            "not a SHA-256",
        ),
    ];
    for (path, reason) in cases {
        let path = path.replace("HASH", &hash);
        let error = SegmentName::parse(&path).expect_err(&path).to_string();
        assert!(error.contains(reason), "{path}: {error}");
    }
}

#[test]
fn an_aac_segment_is_named_and_read_as_an_mp3_one_is() {
    let name = SegmentName {
        start: at("2026-01-05T10:59:54.5Z"),
        duration: 6.013968253968254,
        kind: SegmentType::Partial,
        hash: content_hash(b"adts"),
    };
    let file = name.file_name_as(Codec::Aac);
    assert!(file.starts_with("59:54.500000-6.013968253968254-partial-"));
    assert!(file.ends_with(".aac"), "{file}");
    assert_eq!(Codec::of_file(&file), Some(Codec::Aac));
    assert_eq!(Codec::of_file(&name.file_name()), Some(Codec::Mp3));
    assert_eq!(
        SegmentName::parse(&format!("2026-01-05T10/{file}")),
        Ok(name)
    );
    // Bad input: an extension that is neither, and one in capitals.
    assert_eq!(Codec::of_file("59:54.500000-6.0-full-x.m4a"), None);
    assert_eq!(Codec::of_file("59:54.500000-6.0-full-x.AAC"), None);
}
