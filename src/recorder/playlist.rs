//! Station playlists: the `.m3u` or `.pls` file a station's "listen" link
//! often is, which names its stream's URL rather than being the stream.
//! The recorder follows it to its first stream URL. An HLS playlist (an
//! `.m3u8` of segments) is not a list of streams and is refused as such.

/// Why a playlist names no stream.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlaylistError {
    #[error("the playlist names no stream URL (no FileN= line in a .pls, no URL line in an .m3u)")]
    NoUrl,
    #[error(
        "it is an HLS playlist (#EXT-X- tags), not an Icecast or Shoutcast stream; give the \
         station's Icecast/Shoutcast URL instead"
    )]
    Hls,
}

/// The playlists a URL's path or an answer's content type announce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlaylistKind {
    M3u,
    Pls,
}

/// Whether an answer is a playlist, by its content type or else by the
/// extension of the URL's path.
pub fn kind_of(url: &str, content_type: &str) -> Option<PlaylistKind> {
    let mime = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match mime.as_str() {
        "audio/x-mpegurl"
        | "audio/mpegurl"
        | "application/x-mpegurl"
        | "application/vnd.apple.mpegurl" => return Some(PlaylistKind::M3u),
        "audio/x-scpls" | "application/pls+xml" | "audio/scpls" => {
            return Some(PlaylistKind::Pls);
        }
        _ => {}
    }
    let path = url
        .split(['?', '#'])
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    if path.ends_with(".m3u") || path.ends_with(".m3u8") {
        Some(PlaylistKind::M3u)
    } else if path.ends_with(".pls") {
        Some(PlaylistKind::Pls)
    } else {
        None
    }
}

/// The first stream URL `text` names, made absolute against `base` (the
/// playlist's own URL). The text decides the format (a `.pls` starts with
/// `[playlist]`), whatever the URL or the content type said.
pub fn first_stream_url(text: &str, base: &str) -> Result<String, PlaylistError> {
    let text = text.trim_start_matches('\u{feff}');
    if text.contains("#EXT-X-") {
        return Err(PlaylistError::Hls);
    }
    let lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    let is_pls = text
        .trim_start()
        .get(..10)
        .is_some_and(|head| head.eq_ignore_ascii_case("[playlist]"));
    let found = if is_pls {
        // `FileN=URL`: the lowest N, whatever the order of the lines.
        lines
            .filter_map(|line| {
                let (key, value) = line.split_once('=')?;
                let key = key.trim();
                let number = key
                    .get(..4)
                    .filter(|k| k.eq_ignore_ascii_case("file"))
                    .and_then(|_| key[4..].parse::<u32>().ok())?;
                Some((number, value.trim()))
            })
            .filter(|(_, url)| !url.is_empty())
            .min_by_key(|(number, _)| *number)
            .map(|(_, url)| url)
    } else {
        lines.into_iter().find(|line| !line.starts_with('#'))
    };
    found
        .map(|url| resolve(base, url))
        .ok_or(PlaylistError::NoUrl)
}

/// `reference` made absolute against `base`, as a browser would for the
/// forms playlists use: absolute, scheme-relative, host-relative, relative.
pub fn resolve(base: &str, reference: &str) -> String {
    if reference.contains("://") {
        return reference.to_string();
    }
    let (scheme, rest) = base.split_once("://").unwrap_or(("http", base));
    if let Some(host_relative) = reference.strip_prefix("//") {
        return format!("{scheme}://{host_relative}");
    }
    let host_end = rest.find('/').unwrap_or(rest.len());
    let host = &rest[..host_end];
    if reference.starts_with('/') {
        return format!("{scheme}://{host}{reference}");
    }
    let path = rest[host_end..].split(['?', '#']).next().unwrap_or("");
    let folder = &path[..path.rfind('/').map_or(0, |i| i + 1)];
    let folder = if folder.is_empty() { "/" } else { folder };
    format!("{scheme}://{host}{folder}{reference}")
}

#[cfg(test)]
mod tests;
