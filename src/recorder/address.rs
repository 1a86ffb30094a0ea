//! A recorded channel's name and stream address, checked the same way
//! wherever they come from (the config file, `onair channel add`).

/// A name that can be a folder of the archive and a word on the command
/// line: lower-case letters, digits, `-` and `_`, not starting with `-`.
pub fn check_name(name: &str) -> Result<(), String> {
    let fine = !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('-')
        && name
            .bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-' || c == b'_');
    if fine {
        Ok(())
    } else {
        Err(format!(
            "{name:?} cannot name a channel: use up to 64 lower-case letters, digits, '-' and \
             '_' (such as \"network-news\")"
        ))
    }
}

/// A category: as a channel's name.
pub fn check_category(name: &str) -> Result<(), String> {
    check_name(name).map_err(|_| {
        format!(
            "{name:?} cannot name a category: use up to 64 lower-case letters, digits, '-' and \
             '_' (such as \"news\")"
        )
    })
}

/// An `http://` or `https://` address with a host: a stream, or an
/// `.m3u`/`.pls` playlist that leads to one.
pub fn check_url(url: &str) -> Result<(), String> {
    let problem = |why: &str| {
        Err(format!(
            "{url:?} is not a stream address: {why}; give the http:// or https:// address \
             of the stream or of its .m3u/.pls playlist"
        ))
    };
    let Some((scheme, rest)) = url.split_once("://") else {
        return problem("it has no scheme");
    };
    if !matches!(scheme.to_ascii_lowercase().as_str(), "http" | "https") {
        return problem(&format!(
            "the box records from http and https, not {scheme}"
        ));
    }
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return problem("it contains spaces or control characters");
    }
    let host = rest
        .split(['/', '?', '#'])
        .next()
        .unwrap_or_default()
        .rsplit('@')
        .next()
        .unwrap_or_default();
    if host.is_empty() || host.starts_with(':') {
        return problem("it has no host");
    }
    match url.parse::<ureq::http::Uri>() {
        Ok(_) => Ok(()),
        Err(e) => problem(&e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_addresses_are_checked_with_what_to_write_instead() {
        for good in ["network-news", "bbc_r4", "fm2"] {
            assert_eq!(check_name(good), Ok(()));
        }
        // Bad input: capitals, a path, a hidden folder, a flag, nothing.
        for bad in ["News", "../etc", ".hidden", "-x", "", "a b"] {
            let error = check_name(bad).unwrap_err();
            assert!(error.contains("such as \"network-news\""), "{bad}: {error}");
        }
        assert!(check_category("Talk").unwrap_err().contains("category"));
        for good in [
            "http://127.0.0.1:8000/live.mp3",
            "https://stream.example.org/news.m3u",
            "http://user:pw@example.org/feed.pls",
        ] {
            assert_eq!(check_url(good), Ok(()), "{good}");
        }
        // Bad input: another scheme, no scheme, no host, a space.
        for (bad, says) in [
            ("rtmp://example.org/live", "not rtmp"),
            ("example.org/live.mp3", "no scheme"),
            ("http:///live.mp3", "no host"),
            ("http://:8000/live.mp3", "no host"),
            ("http://example.org/my stream", "spaces"),
        ] {
            let error = check_url(bad).unwrap_err();
            assert!(error.contains(says), "{bad}: {error}");
            assert!(error.contains("http:// or https://"), "{bad}: {error}");
        }
    }
}
