//! The benchmark's own Icecast server: `icecast2` on 127.0.0.1 on a free
//! port, with a configuration of its own and no listeners, so that "send"
//! is measured against a real server. It refuses to run as root, so as root
//! it is started as the package's user. Killed when dropped.

use std::io;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command as Process, Stdio};
use std::time::{Duration, Instant};

use super::BenchError;

/// The source password of the benchmark's server.
pub const SOURCE_PASSWORD: &str = "bench-source";
/// The Debian package's user and group, which the server runs as when the
/// benchmark runs as root.
const SERVER_USER: &str = "icecast2";
const SERVER_GROUP: &str = "icecast";
/// A server that has not answered by then will not.
const START_TIMEOUT: Duration = Duration::from_secs(5);

/// A running icecast2.
pub struct BenchServer {
    pub port: u16,
    dir: PathBuf,
    child: Child,
}

impl BenchServer {
    /// Starts `program` (normally `icecast2`) with its files in `dir`, and
    /// waits until its status page answers.
    pub fn start(program: &Path, dir: &Path) -> Result<Self, BenchError> {
        let io_error = |doing, path: &Path| {
            let path = path.to_path_buf();
            move |source| BenchError::Io {
                doing,
                path,
                source,
            }
        };
        // As root the server is started through setpriv, which would only
        // say that it could not run it: look for it first.
        if !on_path(program) {
            return Err(BenchError::NoIcecast {
                program: program.display().to_string(),
                source: io::Error::new(io::ErrorKind::NotFound, "not found"),
            });
        }
        let logs = dir.join("log");
        std::fs::create_dir_all(&logs).map_err(io_error("create the folder", &logs))?;
        let as_root = is_root();
        if as_root {
            // The server writes its logs as its own user.
            let owned = Process::new("chown")
                .arg(format!("{SERVER_USER}:{SERVER_GROUP}"))
                .arg(&logs)
                .status()
                .map_err(io_error("run chown on", &logs))?;
            if !owned.success() {
                return Err(BenchError::Icecast(format!(
                    "cannot give {} to the {SERVER_USER} user ({owned}); the icecast2 \
                     package creates that user: reinstall it (apt-get install --reinstall icecast2)",
                    logs.display()
                )));
            }
        }
        let port = free_port().map_err(io_error("find a free port for", dir))?;
        let config = dir.join("icecast.xml");
        std::fs::write(&config, server_config(port, SOURCE_PASSWORD, &logs, ""))
            .map_err(io_error("write the Icecast configuration", &config))?;

        let mut command = if as_root {
            let mut command = Process::new("setpriv");
            command
                .arg(format!("--reuid={SERVER_USER}"))
                .arg(format!("--regid={SERVER_GROUP}"))
                .arg("--init-groups")
                .arg(program);
            command
        } else {
            Process::new(program)
        };
        // setpriv execs the server, so the child is the server itself.
        let child = command
            .arg("-c")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|source| BenchError::NoIcecast {
                program: program.display().to_string(),
                source,
            })?;
        let mut server = BenchServer {
            port,
            dir: dir.to_path_buf(),
            child,
        };
        let deadline = Instant::now() + START_TIMEOUT;
        while !server.answers() {
            if let Ok(Some(status)) = server.child.try_wait() {
                return Err(BenchError::Icecast(format!(
                    "{} stopped at start-up ({status}); see {}",
                    program.display(),
                    server.error_log().display()
                )));
            }
            if Instant::now() > deadline {
                return Err(BenchError::Icecast(format!(
                    "{} did not answer on 127.0.0.1:{port} within {} s; see {}",
                    program.display(),
                    START_TIMEOUT.as_secs(),
                    server.error_log().display()
                )));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(server)
    }

    /// The server's process id: its CPU is read apart from the box's.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    fn error_log(&self) -> PathBuf {
        self.dir.join("log").join("error.log")
    }

    fn answers(&self) -> bool {
        self.status().is_some()
    }

    /// `/status-json.xsl`, or `None` while the server does not answer.
    pub fn status(&self) -> Option<serde_json::Value> {
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(2)))
            .build()
            .new_agent();
        let body = agent
            .get(format!("http://127.0.0.1:{}/status-json.xsl", self.port))
            .call()
            .ok()?
            .body_mut()
            .read_to_string()
            .ok()?;
        serde_json::from_str(&body).ok()
    }
}

impl Drop for BenchServer {
    fn drop(&mut self) {
        // It keeps no state worth a clean stop, and SIGTERM takes seconds.
        let _ = self.child.kill();
        let _ = self.child.wait();
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

fn free_port() -> io::Result<u16> {
    TcpListener::bind("127.0.0.1:0")?
        .local_addr()
        .map(|address| address.port())
}

/// The configuration of an `icecast2` on 127.0.0.1:`port` for a box to
/// stream to, as the benchmark and the stream tests run it: no burst (a
/// listener hears what is sent from the moment it connects, so what it
/// hears can be placed in time), room for a few mounts and listeners, logs
/// in `logs`, and `extra_xml` (such as `<mount>` sections) at the end.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_server_starts_on_a_free_port_and_answers() {
        let dir = std::env::temp_dir().join(format!("onair-bench-ice-{}", std::process::id()));
        let server = BenchServer::start(Path::new("icecast2"), &dir).unwrap();
        let status = server.status().unwrap();
        assert!(status["icestats"].is_object(), "{status}");
        assert!(super::super::threads::process_cpu(server.pid()).is_some());
        drop(server);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_missing_server_is_named_with_what_to_install() {
        let dir = std::env::temp_dir().join(format!("onair-bench-noice-{}", std::process::id()));
        // Bad input: an icecast2 that is not there, by path and by name.
        for program in ["/nonexistent/icecast2", "onair-no-such-icecast2"] {
            let message = match BenchServer::start(Path::new(program), &dir) {
                Ok(_) => panic!("{program} started"),
                Err(e) => e.to_string(),
            };
            assert!(
                message.contains(&format!("{program} cannot be started")),
                "{message}"
            );
            assert!(message.contains("apt-get install icecast2"), "{message}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
