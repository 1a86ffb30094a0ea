//! `onair passwd` at a real terminal (a pseudo-terminal the test owns, as
//! an SSH session gives one): the password is not echoed, and Ctrl-C at
//! the prompt stops the command with the terminal's echo back, rather than
//! leaving the engineer typing blind.

use crate::common;

use std::io::{Read, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// A pseudo-terminal: (master, slave).
fn pty() -> (OwnedFd, OwnedFd) {
    let (mut master, mut slave) = (0, 0);
    // SAFETY: openpty fills two descriptors, owned from here on.
    let opened = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    assert_eq!(opened, 0, "openpty: {}", std::io::Error::last_os_error());
    // SAFETY: both were just opened and are not owned elsewhere.
    unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) }
}

/// The terminal's local modes.
fn local_modes(terminal: &OwnedFd) -> libc::tcflag_t {
    use std::os::fd::AsRawFd;
    // SAFETY: termios is plain data, filled by tcgetattr on our descriptor.
    let mut modes: libc::termios = unsafe { std::mem::zeroed() };
    assert_eq!(
        unsafe { libc::tcgetattr(terminal.as_raw_fd(), &mut modes) },
        0
    );
    modes.c_lflag
}

/// What the master side shows, until `wanted` appears or 10 s pass.
fn read_until(master: &mut std::fs::File, wanted: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut seen = Vec::new();
    let mut buffer = [0u8; 256];
    while !String::from_utf8_lossy(&seen).contains(wanted) {
        assert!(
            Instant::now() < deadline,
            "waited 10 s for {wanted:?}; the terminal shows {:?}",
            String::from_utf8_lossy(&seen)
        );
        match master.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => seen.extend_from_slice(&buffer[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => panic!("reading the terminal: {e}"),
        }
    }
    String::from_utf8_lossy(&seen).into_owned()
}

#[test]
fn ctrl_c_at_the_password_prompt_stops_with_the_terminals_echo_back() {
    let s = Station::new("terminal");
    s.write_config();
    let (master, slave) = pty();
    assert_ne!(local_modes(&slave) & libc::ECHO, 0, "a new terminal echoes");
    let mut child = {
        use std::os::fd::AsRawFd;
        let slave_fd = slave.as_raw_fd();
        let mut command = Command::new(env!("CARGO_BIN_EXE_onair"));
        command
            .arg("passwd")
            .arg("--config")
            .arg(s.config_path())
            .stdin(Stdio::from(slave.try_clone().unwrap()))
            .stdout(Stdio::from(slave.try_clone().unwrap()))
            .stderr(Stdio::from(slave.try_clone().unwrap()));
        // SAFETY: between fork and exec only async-signal-safe calls: a new
        // session whose controlling terminal is the pseudo-terminal, so that
        // /dev/tty is it and Ctrl-C on it reaches the command.
        unsafe {
            command.pre_exec(move || {
                if libc::setsid() < 0 || libc::ioctl(slave_fd, libc::TIOCSCTTY, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        command.spawn().expect("cannot start onair passwd")
    };
    let mut master = std::fs::File::from(master);
    // SAFETY: a flag change on our own descriptor.
    unsafe {
        use std::os::fd::AsRawFd;
        let fd = master.as_raw_fd();
        libc::fcntl(
            fd,
            libc::F_SETFL,
            libc::fcntl(fd, libc::F_GETFL) | libc::O_NONBLOCK,
        );
    }
    read_until(&mut master, "New control password: ");
    // The prompt is up: nothing typed is echoed.
    let deadline = Instant::now() + Duration::from_secs(5);
    while local_modes(&slave) & libc::ECHO != 0 {
        assert!(Instant::now() < deadline, "the echo never went off");
        std::thread::sleep(Duration::from_millis(20));
    }
    master.write_all(b"secret-typed").unwrap();
    std::thread::sleep(Duration::from_millis(200));
    // Ctrl-C, as the terminal sends it.
    master.write_all(&[0x03]).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "onair passwd did not stop at Ctrl-C"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(libc::SIGINT), "{status}");
    assert_ne!(
        local_modes(&slave) & libc::ECHO,
        0,
        "Ctrl-C left the terminal without its echo"
    );
    let shown = read_until(&mut master, "");
    assert!(
        !shown.contains("secret-typed"),
        "the password was echoed: {shown:?}"
    );
    // Nothing was stored.
    assert!(!s.data_dir().join("secrets/secrets.toml").exists());
}
