//! The status page as a person sees it: loaded in real headless Chromium,
//! its script run, the DOM read back.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use scraper::{ElementRef, Html, Selector};

/// Chromium itself must not take longer than this (real time).
const BROWSER_TIMEOUT: Duration = Duration::from_secs(20);

/// Loads `url` in headless Chromium, lets the page's script run for
/// `virtual_ms` of the page's own time, and returns the DOM it ends with.
/// A screenshot is left in `dir` (kept with the station when a test fails).
pub fn browse(dir: &Path, url: &str, virtual_ms: u32) -> Html {
    let profile = dir.join("chromium-profile");
    let shot = dir.join("status-page.png");
    let dom_path = dir.join("status-page.html");
    let err_path = dir.join("chromium.log");
    let dom = std::fs::File::create(&dom_path).unwrap();
    let err = std::fs::File::create(&err_path).unwrap();
    let spawned = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--hide-scrollbars",
            "--window-size=1100,1400",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--virtual-time-budget={virtual_ms}"))
        .arg(format!("--screenshot={}", shot.display()))
        .arg("--dump-dom")
        .arg(url)
        // The page must show station time, whatever the browser's own zone.
        .env("TZ", "America/Los_Angeles")
        .stdin(Stdio::null())
        .stdout(dom)
        .stderr(err)
        .spawn();
    let mut child = match spawned {
        Ok(child) => child,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
            "chromium is not installed, and the status page is tested in it: run `.ci/deps test`"
        ),
        Err(e) => panic!("cannot start chromium: {e}"),
    };
    let deadline = Instant::now() + BROWSER_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "chromium did not finish within {BROWSER_TIMEOUT:?}; its log is {}",
                err_path.display()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let text = std::fs::read_to_string(&dom_path).unwrap();
    assert!(
        status.success() && text.contains("</html>"),
        "chromium failed ({status}) to load {url}: {}",
        std::fs::read_to_string(&err_path).unwrap_or_default()
    );
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
