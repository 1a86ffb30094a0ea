//! A real Icecast server for the stream tests and the benchmark: `icecast2`
//! on 127.0.0.1 with a configuration and a folder of its own. It refuses to
//! run as root, so as root it runs as the package's user. Killed when
//! dropped.
//!
//! Starting it is the flaky part on a fresh, loaded machine, so the launcher
//! is careful about three things. The port: one that nothing listens on now
//! may be taken before icecast2 binds it (any outgoing connection, such as
//! a box's or a status poll's, takes a local port from the kernel's
//! ephemeral range, and icecast2 cannot bind a port in use even by a
//! connection); so the port comes from below that range, where the kernel
//! hands out none, and a server that cannot bind is started again on
//! another. Its exit: icecast2 says why it stopped on its standard error
//! before its error log exists, so both are kept and put in the message.
//! The time: it answers in about 0.1 s, but a 2-core machine compiling and
//! testing at once may take seconds, so it is given half a minute.

#![allow(dead_code)]

use std::io::{self, Read};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

pub const SOURCE_PASSWORD: &str = "studio-source";
/// The Debian package's user and group, which the server runs as when
/// started by root.
const SERVER_USER: &str = "icecast2";
const SERVER_GROUP: &str = "icecast";
/// It answers within about 0.1 s on a quiet machine; a server that has not
/// answered by then on a loaded one will not.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// New ports tried when the chosen one turns out to be taken.
const PORT_ATTEMPTS: u32 = 5;
/// What icecast2 prints when it cannot bind its port.
const PORT_TAKEN: &str = "Could not create listener socket";

#[derive(Debug, thiserror::Error)]
pub enum IcecastError {
    #[error(
        "{program} cannot be started ({source}): the stream tests and the benchmark send \
         to a real Icecast server; install icecast2 (apt-get install icecast2, or .ci/deps test)"
    )]
    Missing { program: String, source: io::Error },
    #[error(
        "cannot {doing} {}: {source}; check the free space and permissions of the temporary \
         folder (set TMPDIR to use another)",
        path.display()
    )]
    Io {
        doing: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error(
        "cannot give {} to the {SERVER_USER} user ({status}); the icecast2 package creates \
         that user: reinstall it (apt-get install --reinstall icecast2)",
        path.display()
    )]
    Owner { path: PathBuf, status: String },
    #[error("{program} stopped at start-up on 127.0.0.1:{port} ({status}); it said:\n{said}")]
    Stopped {
        program: String,
        port: u16,
        status: ExitStatus,
        said: String,
    },
    #[error(
        "{program} did not answer on 127.0.0.1:{port} within {} s; the machine may be far \
         too busy; it said:\n{said}",
        START_TIMEOUT.as_secs()
    )]
    Silent {
        program: String,
        port: u16,
        said: String,
    },
}

/// A running (or killed, until `restart`) icecast2.
pub struct Icecast {
    pub port: u16,
    program: PathBuf,
    dir: PathBuf,
    child: Option<Child>,
}

/// A port nothing listens on right now, from the kernel's ephemeral range:
/// for a port that must stay closed (a box pointed at no server).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("cannot find a free port: {e}"))
}

/// The kernel's first ephemeral port (`ip_local_port_range`).
fn ephemeral_start() -> u16 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse().ok())
        .unwrap_or(32_768)
}

/// A port for a server: below the ephemeral range, so that no connection
/// can be given it between now and the server binding it, spread by
/// process so that parallel test binaries do not pick the same ones, and
/// free right now.
fn server_port() -> io::Result<u16> {
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let top = ephemeral_start().clamp(12_000, 32_768);
    let span = u32::from(top - 10_000);
    let base = std::process::id().wrapping_mul(7_919);
    for _ in 0..200 {
        let turn = u32::from(NEXT.fetch_add(1, Ordering::Relaxed));
        let port = 10_000 + ((base.wrapping_add(turn.wrapping_mul(97))) % span) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return Ok(port);
        }
    }
    // Every port tried is in use: let the kernel choose one.
    TcpListener::bind("127.0.0.1:0")?
        .local_addr()
        .map(|a| a.port())
}

/// Whether the server was killed by a signal while starting: icecast2 2.4
/// now and then dies of SIGSEGV before it answers (seen on a busy 2-core
/// machine, right after its configuration warnings), and started again it
/// runs, as its service manager would start it again.
fn died_starting(status: &ExitStatus) -> bool {
    std::os::unix::process::ExitStatusExt::signal(status).is_some()
}

impl Icecast {
    /// A server for a test, in a folder of the temporary folder named after it.
    pub fn start(name: &str) -> Icecast {
        Icecast::start_with(name, "")
    }

    /// A server with more configuration (such as `<mount>` sections).
    pub fn start_with(name: &str, extra_xml: &str) -> Icecast {
        let dir = std::env::temp_dir().join(format!("onair-icecast-{name}-{}", std::process::id()));
        Icecast::launch(Path::new("icecast2"), &dir, extra_xml).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Starts `program` (normally `icecast2`) with its files in `dir`
    /// (emptied first), and waits until its status page answers.
    pub fn launch(program: &Path, dir: &Path, extra_xml: &str) -> Result<Icecast, IcecastError> {
        let io_error = |doing, path: &Path| {
            let path = path.to_path_buf();
            move |source| IcecastError::Io {
                doing,
                path,
                source,
            }
        };
        // As root the server is started through setpriv, which would only
        // say that it could not run it: look for it first.
        if !on_path(program) {
            return Err(IcecastError::Missing {
                program: program.display().to_string(),
                source: io::Error::new(io::ErrorKind::NotFound, "not found"),
            });
        }
        let _ = std::fs::remove_dir_all(dir);
        let logs = dir.join("log");
        std::fs::create_dir_all(&logs).map_err(io_error("create the folder", &logs))?;
        if is_root() {
            // The server writes its logs as its own user.
            let owned = Command::new("chown")
                .arg(format!("{SERVER_USER}:{SERVER_GROUP}"))
                .arg(&logs)
                .status()
                .map_err(io_error("run chown on", &logs))?;
            if !owned.success() {
                return Err(IcecastError::Owner {
                    path: logs,
                    status: owned.to_string(),
                });
            }
        }
        let mut server = Icecast {
            port: 0,
            program: program.to_path_buf(),
            dir: dir.to_path_buf(),
            child: None,
        };
        let mut attempt = 1;
        loop {
            server.port = server_port().map_err(io_error("find a free port for", dir))?;
            let config = server.config_file();
            std::fs::write(
                &config,
                server_config(server.port, SOURCE_PASSWORD, &logs, extra_xml),
            )
            .map_err(io_error("write the Icecast configuration", &config))?;
            match server.start_and_wait() {
                Err(IcecastError::Stopped { said, status, .. })
                    if (said.contains(PORT_TAKEN) || died_starting(&status))
                        && attempt < PORT_ATTEMPTS =>
                {
                    attempt += 1;
                }
                Err(e) => return Err(e),
                Ok(()) => return Ok(server),
            }
        }
    }

    /// Starts the server again on its port after `kill`, as after a crash,
    /// and waits until its status page answers.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "icecast2 is already running");
        // Its old connections may hold the port for a moment.
        let mut attempt = 1;
        loop {
            match self.start_and_wait() {
                Err(IcecastError::Stopped { said, status, .. })
                    if (said.contains(PORT_TAKEN) || died_starting(&status))
                        && attempt < PORT_ATTEMPTS =>
                {
                    attempt += 1;
                    std::thread::sleep(Duration::from_millis(200));
                }
                Err(e) => panic!("{e}"),
                Ok(()) => return,
            }
        }
    }

    fn config_file(&self) -> PathBuf {
        self.dir.join("icecast.xml")
    }

    fn stderr_file(&self) -> PathBuf {
        self.dir.join("stderr.log")
    }

    fn start_and_wait(&mut self) -> Result<(), IcecastError> {
        let program = self.program.display().to_string();
        let stderr_path = self.stderr_file();
        let stderr = std::fs::File::create(&stderr_path).map_err(|source| IcecastError::Io {
            doing: "create",
            path: stderr_path,
            source,
        })?;
        let mut command = if is_root() {
            let mut command = Command::new("setpriv");
            command
                .arg(format!("--reuid={SERVER_USER}"))
                .arg(format!("--regid={SERVER_GROUP}"))
                .arg("--init-groups")
                .arg(&self.program);
            command
        } else {
            Command::new(&self.program)
        };
        // setpriv execs the server, so the child is the server itself.
        let child = command
            .arg("-c")
            .arg(self.config_file())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .map_err(|source| IcecastError::Missing {
                program: program.clone(),
                source,
            })?;
        self.child = Some(child);
        let deadline = Instant::now() + START_TIMEOUT;
        while self.status().is_none() {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                self.child = None;
                return Err(IcecastError::Stopped {
                    program,
                    port: self.port,
                    status,
                    said: self.said(),
                });
            }
            if Instant::now() > deadline {
                self.kill();
                return Err(IcecastError::Silent {
                    program,
                    port: self.port,
                    said: self.said(),
                });
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }

    /// The end of what the server wrote to its standard error and its
    /// error log.
    fn said(&self) -> String {
        let mut said = Vec::new();
        for path in [self.stderr_file(), self.dir.join("log").join("error.log")] {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            if !lines.is_empty() {
                let tail = lines[lines.len().saturating_sub(10)..].join("\n  ");
                said.push(format!("{}:\n  {tail}", path.display()));
            }
        }
        if said.is_empty() {
            "nothing".to_string()
        } else {
            said.join("\n")
        }
    }

    /// The server's process id (0 once killed): its CPU is read apart.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
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

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

fn on_path(program: &Path) -> bool {
    if program.components().count() > 1 {
        return program.is_file();
    }
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}

/// The configuration of an `icecast2` on 127.0.0.1:`port` for a box to
/// stream to: no burst (a listener hears what is sent from the moment it
/// connects, so what it hears can be placed in time), room for a few mounts
/// and listeners, logs in `logs`, and `extra_xml` (such as `<mount>`
/// sections) at the end.
pub fn server_config(port: u16, password: &str, logs: &Path, extra_xml: &str) -> String {
    format!(
        r#"<icecast>
  <limits><clients>20</clients><sources>4</sources><burst-size>0</burst-size>
    <source-timeout>5</source-timeout></limits>
  <authentication>
    <source-password>{password}</source-password>
    <admin-user>admin</admin-user><admin-password>{password}-admin</admin-password>
  </authentication>
  <hostname>127.0.0.1</hostname>
  <listen-socket><port>{port}</port><bind-address>127.0.0.1</bind-address></listen-socket>
  <paths>
    <basedir>/usr/share/icecast2</basedir>
    <logdir>{logs}</logdir>
    <webroot>/usr/share/icecast2/web</webroot>
    <adminroot>/usr/share/icecast2/admin</adminroot>
  </paths>
  <logging><errorlog>error.log</errorlog><accesslog>access.log</accesslog><loglevel>3</loglevel></logging>
  {extra_xml}
</icecast>
"#,
        logs = logs.display()
    )
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
