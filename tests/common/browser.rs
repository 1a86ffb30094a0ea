//! Real headless Chromium driven over WebDriver (Debian's `chromium` and
//! `chromium-driver`, through fantoccini): for a page that keeps a
//! connection open (the status page's live feed), which `chromium
//! --dump-dom` with a virtual time budget never finishes on.
//!
//! Each [`Browser`] starts its own chromedriver on a free port and one
//! session; both end when it is dropped. A missing chromedriver fails the
//! test with the install hint: the page is never "tested" without a browser.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;

/// How long chromedriver gets to listen, and the browser to answer.
const START_TIMEOUT: Duration = Duration::from_secs(20);

pub struct Browser {
    runtime: tokio::runtime::Runtime,
    client: Option<Client>,
    driver: Child,
    dir: PathBuf,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("no free port for chromedriver: {e}"))
}

impl Browser {
    /// Chromium in its own profile under `dir`, showing times as a
    /// browser in `browser_tz` would (the page must show station time).
    pub fn start(dir: &Path, browser_tz: &str) -> Browser {
        let port = free_port();
        let log = std::fs::File::create(dir.join("chromedriver.log"))
            .unwrap_or_else(|e| panic!("cannot create chromedriver.log: {e}"));
        let driver = match Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .env("TZ", browser_tz)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
        {
            Ok(child) => child,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
                "chromedriver is not installed, and the status page is tested in Chromium \
                 through it: run `.ci/deps test` (Debian packages chromium and chromium-driver)"
            ),
            Err(e) => panic!("cannot start chromedriver: {e}"),
        };
        let deadline = Instant::now() + START_TIMEOUT;
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "chromedriver did not listen on port {port} within {START_TIMEOUT:?}; see {}",
                dir.join("chromedriver.log").display()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let profile = dir.join("chromium-profile");
        let options = serde_json::json!({
            "binary": "/usr/bin/chromium",
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--no-first-run", "--disable-background-networking", "--disable-sync",
                "--disable-component-update", "--hide-scrollbars", "--window-size=1100,1400",
                format!("--user-data-dir={}", profile.display()),
            ],
        });
        let mut capabilities = serde_json::Map::new();
        capabilities.insert("goog:chromeOptions".into(), options);
        let client = runtime
            .block_on(async {
                tokio::time::timeout(
                    START_TIMEOUT,
                    ClientBuilder::new(HttpConnector::new())
                        .capabilities(capabilities)
                        .connect(&format!("http://127.0.0.1:{port}")),
                )
                .await
            })
            .unwrap_or_else(|_| panic!("Chromium did not start within {START_TIMEOUT:?}"))
            .unwrap_or_else(|e| panic!("cannot start Chromium through chromedriver: {e}"));
        Browser {
            runtime,
            client: Some(client),
            driver,
            dir: dir.to_path_buf(),
        }
    }

    fn client(&self) -> &Client {
        self.client.as_ref().expect("the browser is open")
    }

    pub fn goto(&self, url: &str) {
        self.runtime
            .block_on(self.client().goto(url))
            .unwrap_or_else(|e| panic!("cannot load {url}: {e}"));
    }

    /// The page's DOM as it is now.
    pub fn source(&self) -> String {
        self.runtime
            .block_on(self.client().source())
            .unwrap_or_else(|e| panic!("cannot read the page: {e}"))
    }

    /// The text of element `#id` now (empty when hidden).
    pub fn text(&self, id: &str) -> String {
        self.runtime.block_on(async {
            let element = self
                .client()
                .find(Locator::Id(id))
                .await
                .unwrap_or_else(|e| panic!("the page has no #{id}: {e}"));
            element
                .text()
                .await
                .unwrap_or_else(|e| panic!("cannot read #{id}: {e}"))
        })
    }

    /// Waits until `#id`'s text satisfies `ok` (real time), and returns it.
    pub fn wait_for_text(&self, id: &str, within: Duration, ok: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + within;
        loop {
            let text = self.text(id);
            if ok(&text) {
                return text;
            }
            if Instant::now() > deadline {
                self.screenshot("timeout.png");
                panic!("#{id} still reads {text:?} after {within:?}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn click(&self, id: &str) {
        self.runtime.block_on(async {
            let element = self
                .client()
                .find(Locator::Id(id))
                .await
                .unwrap_or_else(|e| panic!("the page has no #{id}: {e}"));
            element
                .click()
                .await
                .unwrap_or_else(|e| panic!("cannot click #{id}: {e}"));
        });
    }

    pub fn type_into(&self, id: &str, text: &str) {
        self.runtime.block_on(async {
            let element = self
                .client()
                .find(Locator::Id(id))
                .await
                .unwrap_or_else(|e| panic!("the page has no #{id}: {e}"));
            element
                .send_keys(text)
                .await
                .unwrap_or_else(|e| panic!("cannot type into #{id}: {e}"));
        });
    }

    /// Runs a script in the page and returns its value.
    pub fn eval(&self, script: &str) -> serde_json::Value {
        self.runtime
            .block_on(self.client().execute(script, vec![]))
            .unwrap_or_else(|e| panic!("cannot run {script:?} in the page: {e}"))
    }

    /// A screenshot into the browser's folder (kept with a failed test).
    pub fn screenshot(&self, name: &str) {
        if let Ok(png) = self.runtime.block_on(self.client().screenshot()) {
            let _ = std::fs::write(self.dir.join(name), png);
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if let Some(client) = self.client.take() {
            let _ = self.runtime.block_on(async {
                tokio::time::timeout(Duration::from_secs(5), client.close()).await
            });
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
