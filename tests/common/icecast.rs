//! A real Icecast server for the stream tests: `icecast2` on 127.0.0.1 on a
//! free port, with a configuration of its own, run as the package's user
//! (it refuses to run as root). Killed when dropped.

#![allow(dead_code)]

use std::io::Read;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const SOURCE_PASSWORD: &str = "studio-source";

pub struct Icecast {
    pub port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("cannot find a free port: {e}"))
}

impl Icecast {
    pub fn start(name: &str) -> Icecast {
        Icecast::start_with(name, "")
    }

    /// A server with more configuration (such as `<mount>` sections).
    pub fn start_with(name: &str, extra_xml: &str) -> Icecast {
        let port = free_port();
        let dir = std::env::temp_dir().join(format!("onair-icecast-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let logs = dir.join("log");
        std::fs::create_dir_all(&logs).unwrap_or_else(|e| panic!("cannot create {logs:?}: {e}"));
        // icecast2 writes its logs as its own user.
        let chown = Command::new("chown")
            .args(["icecast2:icecast"])
            .arg(&logs)
            .status()
            .unwrap_or_else(|e| panic!("cannot run chown: {e}"));
        assert!(chown.success(), "chown icecast2 {logs:?} failed");
        let config = onair::bench::icecast::server_config(port, SOURCE_PASSWORD, &logs, extra_xml);
        std::fs::write(dir.join("icecast.xml"), config)
            .unwrap_or_else(|e| panic!("cannot write the icecast config: {e}"));
        let mut server = Icecast {
            port,
            dir,
            child: None,
        };
        server.restart();
        server
    }

    /// Starts the server (again) and waits until its status page answers.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "icecast2 is already running");
        let child = Command::new("setpriv")
            .args([
                "--reuid=icecast2",
                "--regid=icecast",
                "--init-groups",
                "icecast2",
                "-c",
            ])
            .arg(self.dir.join("icecast.xml"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start icecast2 through setpriv: {e}"));
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.status().is_none() {
            assert!(
                Instant::now() < deadline,
                "icecast2 did not answer within 5 s; see {:?}",
                self.dir.join("log/error.log")
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// A crash: SIGKILL, at once.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// `/status-json.xsl`, or `None` when the server does not answer.
    pub fn status(&self) -> Option<serde_json::Value> {
        let url = format!("http://127.0.0.1:{}/status-json.xsl", self.port);
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(2)))
            .build()
            .new_agent();
        let body = agent
            .get(&url)
            .call()
            .ok()?
            .body_mut()
            .read_to_string()
            .ok()?;
        serde_json::from_str(&body).ok()
    }

    /// The status of one mount while a source feeds it.
    pub fn mount(&self, mount: &str) -> Option<serde_json::Value> {
        let status = self.status()?;
        let sources = match &status["icestats"]["source"] {
            serde_json::Value::Array(list) => list.clone(),
            serde_json::Value::Null => Vec::new(),
            one => vec![one.clone()],
        };
        sources.into_iter().find(|s| {
            s["listenurl"]
                .as_str()
                .is_some_and(|url| url.ends_with(mount))
        })
    }

    /// The title the server shows for a mount (`None`: no mount or no title).
    pub fn title(&self, mount: &str) -> Option<String> {
        self.mount(mount)?["title"].as_str().map(str::to_string)
    }

    /// Waits until `check` holds; returns how long that took.
    pub fn wait_for(
        &self,
        timeout: Duration,
        mut check: impl FnMut(&Self) -> bool,
    ) -> Option<Duration> {
        let started = Instant::now();
        loop {
            if check(self) {
                return Some(started.elapsed());
            }
            if started.elapsed() > timeout {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn listen_url(&self, mount: &str) -> String {
        format!("http://127.0.0.1:{}{mount}", self.port)
    }
}

impl Drop for Icecast {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// An independent listener: ffmpeg reads the mount and decodes it to mono
/// f32 at `rate`, on a thread, until stopped.
pub struct Listener {
    child: Child,
    reader: Option<std::thread::JoinHandle<Vec<f32>>>,
    /// When the listener connected (wall clock).
    pub started: chrono::DateTime<chrono::Utc>,
}

impl Listener {
    pub fn start(url: &str, rate: u32) -> Listener {
        let started = chrono::Utc::now();
        let mut child = Command::new("ffmpeg")
            .args(["-nostdin", "-v", "error", "-fflags", "nobuffer"])
            // Named and barely probed: ffmpeg otherwise gathers seconds of
            // a live stream (or waits for ever) before it decodes any.
            .args(["-probesize", "4096", "-analyzeduration", "0", "-f", "mp3"])
            .args(["-i", url, "-ac", "1", "-ar"])
            .arg(rate.to_string())
            .args(["-f", "f32le", "pipe:1"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start ffmpeg: {e}"));
        let mut stdout = child
            .stdout
            .take()
            .unwrap_or_else(|| panic!("no ffmpeg stdout"));
        let reader = std::thread::spawn(move || {
            let mut raw = Vec::new();
            let _ = stdout.read_to_end(&mut raw);
            raw.chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect()
        });
        Listener {
            child,
            reader: Some(reader),
            started,
        }
    }

    /// Stops listening and returns what was heard.
    pub fn stop(mut self) -> Vec<f32> {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.reader
            .take()
            .map(|r| r.join().unwrap_or_default())
            .unwrap_or_default()
    }
}

/// A listener's player asking for in-stream titles (`Icy-MetaData: 1`): it
/// reads `icy-metaint` from the answer and collects every `StreamTitle`
/// block the server puts into the stream, with when it came, until stopped.
pub struct IcyListener {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    reader: Option<std::thread::JoinHandle<Result<IcyHeard, String>>>,
}

/// What an ICY listener received.
#[derive(Debug, Default, Clone)]
pub struct IcyHeard {
    /// The `icy-metaint` the server announced: audio bytes between blocks.
    pub metaint: usize,
    pub audio_bytes: u64,
    /// Each metadata block's `StreamTitle` as the raw bytes sent, with
    /// when it arrived; a block is only sent when the title changes.
    pub titles: Vec<(Instant, Vec<u8>)>,
}

impl IcyListener {
    pub fn start(port: u16, mount: &str) -> IcyListener {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mount = mount.to_string();
        let reader = {
            let stop = stop.clone();
            std::thread::spawn(move || icy_listen(port, &mount, &stop))
        };
        IcyListener {
            stop,
            reader: Some(reader),
        }
    }

    pub fn stop(mut self) -> IcyHeard {
        self.stop.store(true, std::sync::atomic::Ordering::Release);
        match self.reader.take().map(|r| r.join()) {
            Some(Ok(Ok(heard))) => heard,
            Some(Ok(Err(e))) => panic!("ICY listener: {e}"),
            _ => panic!("the ICY listener's thread failed"),
        }
    }
}

fn icy_listen(
    port: u16,
    mount: &str,
    stop: &std::sync::atomic::AtomicBool,
) -> Result<IcyHeard, String> {
    use std::io::Write;
    let mut socket =
        std::net::TcpStream::connect(("127.0.0.1", port)).map_err(|e| format!("connect: {e}"))?;
    socket
        .set_read_timeout(Some(Duration::from_millis(200)))
        .map_err(|e| e.to_string())?;
    write!(
        socket,
        "GET {mount} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\nIcy-MetaData: 1\r\nUser-Agent: onair-test\r\n\r\n"
    )
    .map_err(|e| format!("request: {e}"))?;
    let mut heard = IcyHeard::default();
    let mut buffer: Vec<u8> = Vec::new();
    let mut chunk = [0u8; 8192];
    let mut read_more = |buffer: &mut Vec<u8>| -> Result<bool, String> {
        if stop.load(std::sync::atomic::Ordering::Acquire) {
            return Ok(false);
        }
        match socket.read(&mut chunk) {
            Ok(0) => Ok(false),
            Ok(n) => {
                buffer.extend_from_slice(&chunk[..n]);
                Ok(true)
            }
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut =>
            {
                Ok(true)
            }
            Err(e) => Err(format!("read: {e}")),
        }
    };
    // The answer's head.
    let head_end = loop {
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break end + 4;
        }
        if !read_more(&mut buffer)? {
            return Err("the server closed before answering".into());
        }
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).to_string();
    heard.metaint = head
        .lines()
        .find_map(|l| {
            let (key, value) = l.split_once(':')?;
            key.trim()
                .eq_ignore_ascii_case("icy-metaint")
                .then(|| value.trim().parse().ok())?
        })
        .ok_or_else(|| format!("no icy-metaint in the answer:\n{head}"))?;
    buffer.drain(..head_end);
    loop {
        // metaint bytes of audio, one length byte (×16), then the block.
        while buffer.len() < heard.metaint + 1 {
            if !read_more(&mut buffer)? {
                return Ok(heard);
            }
        }
        let length = buffer[heard.metaint] as usize * 16;
        while buffer.len() < heard.metaint + 1 + length {
            if !read_more(&mut buffer)? {
                return Ok(heard);
            }
        }
        heard.audio_bytes += heard.metaint as u64;
        let block = &buffer[heard.metaint + 1..heard.metaint + 1 + length];
        if let Some(title) = stream_title(block) {
            heard.titles.push((Instant::now(), title));
        }
        buffer.drain(..heard.metaint + 1 + length);
    }
}

/// The bytes between `StreamTitle='` and `';` in a metadata block.
fn stream_title(block: &[u8]) -> Option<Vec<u8>> {
    let start = block.windows(13).position(|w| w == b"StreamTitle='")? + 13;
    let end = block[start..].windows(2).position(|w| w == b"';")? + start;
    Some(block[start..end].to_vec())
}
