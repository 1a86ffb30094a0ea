//! The status page as a person sees it: loaded in real headless Chromium,
//! its script run (its live feed open), the DOM read back.

use std::path::Path;
use std::time::Duration;

use scraper::{ElementRef, Html, Selector};

use super::browser::Browser;

/// Loads `url` in headless Chromium (through chromedriver), lets the
/// page's script run for `wait_ms` of real time, and returns the DOM it
/// ends with. A screenshot is left in `dir` (kept with the station when a
/// test fails).
pub fn browse(dir: &Path, url: &str, wait_ms: u32) -> Html {
    // The page must show station time, whatever the browser's own zone.
    let browser = Browser::start(dir, "America/Los_Angeles");
    browser.goto(url);
    std::thread::sleep(Duration::from_millis(u64::from(wait_ms)));
    let text = browser.source();
    browser.screenshot("status-page.png");
    let _ = std::fs::write(dir.join("status-page.html"), &text);
    assert!(text.contains("</html>"), "Chromium did not load {url}");
    Html::parse_document(&text)
}

pub fn element<'a>(page: &'a Html, id: &str) -> ElementRef<'a> {
    let selector = Selector::parse(&format!("#{id}")).unwrap();
    page.select(&selector)
        .next()
        .unwrap_or_else(|| panic!("the page has no element #{id}"))
}

/// The text a person reads in element `id`, spaces tidied.
pub fn text(page: &Html, id: &str) -> String {
    tidy(element(page, id).text().collect::<String>())
}

pub fn tidy(text: String) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

pub fn shown(page: &Html, id: &str) -> bool {
    element(page, id).value().attr("hidden").is_none()
}
