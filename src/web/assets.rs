//! Files the status page loads besides itself, built into the binary so
//! the page works on a box with no way out to the internet.
//!
//! - `GET /assets/hls.js-{version}/hls.light.min.js` — hls.js (Apache-2.0,
//!   `hls.js-LICENSE` beside it), byte for byte as npm ships it in
//!   `dist/`: the listen-again player where the browser has Media Source
//!   Extensions. The light build still demuxes MP3 packed audio; it leaves
//!   out subtitles, alternate audio, DRM and the like, which the archive
//!   never uses. The version is in the path, so a browser may keep the
//!   file for a year: a box with a newer hls.js names a new path.

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

use super::State;

/// The hls.js release built in (`npm view hls.js version`).
pub const HLS_JS_VERSION: &str = "1.7.4";

/// Where the page finds hls.js; `page.html` names the same path.
pub const HLS_JS_PATH: &str = "/assets/hls.js-1.7.4/hls.light.min.js";

const HLS_JS: &[u8] = include_bytes!("hls.light.min.js");

/// A year: the path changes with the version, so what a browser keeps is
/// never out of date.
const FOREVER: &str = "public, max-age=31536000, immutable";

pub fn routes() -> Router<State> {
    Router::new().route(HLS_JS_PATH, get(hls_js))
}

async fn hls_js() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, FOREVER),
        ],
        HLS_JS,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_path_names_the_version_built_in_and_the_page_loads_it() {
        assert!(
            HLS_JS_PATH.contains(&format!("/hls.js-{HLS_JS_VERSION}/")),
            "{HLS_JS_PATH} does not name version {HLS_JS_VERSION}: browsers would keep an old copy"
        );
        let page = include_str!("page.html");
        assert!(
            page.contains(&format!("src=\"{HLS_JS_PATH}\"")),
            "page.html does not load {HLS_JS_PATH}"
        );
        // The file really is that release: the build carries its version.
        let text = std::str::from_utf8(HLS_JS).expect("hls.js is UTF-8");
        assert!(
            text.contains(&format!("\"{HLS_JS_VERSION}\"")),
            "hls.light.min.js is not version {HLS_JS_VERSION}"
        );
    }
}
