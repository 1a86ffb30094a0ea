//! `onair passwd` and `onair token add|list|revoke`: the control password
//! and the bearer tokens in the box's secrets file ([`crate::auth`]). They
//! work while the box runs: it reads the file again when it changes.

use std::io::{BufRead, IsTerminal, Write};

use anyhow::{Context, Result, bail};
use chrono::Utc;

use crate::auth::{self, TokenRecord, password, tokens};
use crate::config::Config;

/// `onair passwd`: asks for the new password twice on the terminal, or
/// reads one line from standard input when that is not a terminal.
pub fn passwd(config: &Config) -> Result<()> {
    let new = if std::io::stdin().is_terminal() {
        let first = read_hidden("New control password: ")?;
        if let Some(problem) = password::problem(&first) {
            bail!("{problem}");
        }
        let again = read_hidden("The same again: ")?;
        if again != first {
            bail!("the two passwords differ; nothing was changed");
        }
        first
    } else {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("cannot read the password from standard input")?;
        line.trim_end_matches(['\n', '\r']).to_string()
    };
    if let Some(problem) = password::problem(&new) {
        bail!("{problem}");
    }
    let phc = password::hash(&new)?;
    auth::update(&config.data.dir, |secrets| {
        secrets.password = Some(phc);
        secrets.password_set = Some(Utc::now());
        Ok(())
    })?;
    eprintln!(
        "control password set in {}; pages logged in with the old one are logged out",
        auth::secrets_path(&config.data.dir).display()
    );
    Ok(())
}

/// The terminal's settings from before its echo went off, for
/// [`restore_and_stop`]: set before the handler is installed, only read
/// after. They are the same each time a password is asked for.
static TERMINAL: std::sync::OnceLock<libc::termios> = std::sync::OnceLock::new();

/// What Ctrl-C (or a hang-up) does while the echo is off: puts the echo
/// back and stops as the signal would have, so the engineer's terminal is
/// not left blind. Only async-signal-safe calls.
extern "C" fn restore_and_stop(signal: libc::c_int) {
    if let Some(saved) = TERMINAL.get() {
        // SAFETY: open, tcsetattr, write and close are async-signal-safe;
        // `saved` is the terminal's own settings, read before the echo went.
        unsafe {
            let fd = libc::open(c"/dev/tty".as_ptr(), libc::O_RDWR | libc::O_NOCTTY);
            if fd >= 0 {
                libc::tcsetattr(fd, libc::TCSANOW, saved);
                libc::write(fd, b"\n".as_ptr().cast(), 1);
                libc::close(fd);
            }
        }
    }
    // SAFETY: as above; the default action then ends the process.
    unsafe {
        libc::signal(signal, libc::SIG_DFL);
        libc::raise(signal);
    }
}

const STOPPING_SIGNALS: [libc::c_int; 4] =
    [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGQUIT];

/// Reads a line from the terminal without echoing it.
fn read_hidden(prompt: &str) -> Result<String> {
    use std::os::fd::AsRawFd;
    let mut tty = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
        .context("cannot open the terminal (/dev/tty) to ask for the password")?;
    tty.write_all(prompt.as_bytes())?;
    tty.flush()?;
    let fd = tty.as_raw_fd();
    // SAFETY: termios is plain data; tcgetattr fills it for our own terminal.
    let mut saved: libc::termios = unsafe { std::mem::zeroed() };
    // SAFETY: `fd` is open for the whole block; `saved` is a valid termios.
    let readable = unsafe { libc::tcgetattr(fd, &mut saved) } == 0;
    // The same terminal and settings each time a password is asked for.
    if readable {
        let _ = TERMINAL.set(saved);
    }
    let handler = restore_and_stop as extern "C" fn(libc::c_int) as libc::sighandler_t;
    let previous: Vec<libc::sighandler_t> = STOPPING_SIGNALS
        .iter()
        // SAFETY: installs a handler that only makes async-signal-safe calls.
        .map(|&signal| unsafe { libc::signal(signal, handler) })
        .collect();
    let echo_off = readable && {
        let mut quiet = saved;
        quiet.c_lflag &= !libc::ECHO;
        quiet.c_lflag |= libc::ECHONL;
        // SAFETY: as above, with a termios derived from the terminal's own.
        unsafe { libc::tcsetattr(fd, libc::TCSANOW, &quiet) == 0 }
    };
    let mut line = String::new();
    let read = std::io::BufReader::new(&tty).read_line(&mut line);
    if echo_off {
        // SAFETY: restores the settings read above on the same terminal.
        unsafe { libc::tcsetattr(fd, libc::TCSANOW, &saved) };
    }
    for (&signal, &before) in STOPPING_SIGNALS.iter().zip(&previous) {
        // SAFETY: puts back what was there before.
        unsafe { libc::signal(signal, before) };
    }
    read.context("cannot read the password from the terminal")?;
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}

/// `onair token add NAME`: prints the new token once; only its digest is kept.
pub fn token_add(config: &Config, name: &str) -> Result<()> {
    if let Some(problem) = tokens::name_problem(name) {
        bail!("{problem}");
    }
    let token = tokens::generate();
    auth::update(&config.data.dir, |secrets| {
        if secrets.tokens.iter().any(|t| t.name == name) {
            bail!(
                "there is already a token named {name:?}: revoke it first (onair token revoke \
                 {name}) or choose another name"
            );
        }
        secrets.tokens.push(TokenRecord {
            name: name.to_string(),
            sha256: tokens::digest(&token),
            created: Utc::now(),
        });
        Ok(())
    })?;
    super::print(&format!("{token}\n"))?;
    eprintln!(
        "token {name:?} added. It is shown only this once: keep it where the script reads it, \
         and send it as `Authorization: Bearer TOKEN`"
    );
    Ok(())
}

/// `onair token list`: names and when each was made, never the tokens.
pub fn token_list(config: &Config) -> Result<()> {
    let secrets = auth::read(&config.data.dir)?;
    if secrets.tokens.is_empty() {
        eprintln!("no tokens; add one with `onair token add NAME`");
        return Ok(());
    }
    let tz = config.station.timezone;
    let width = secrets
        .tokens
        .iter()
        .map(|t| t.name.len())
        .fold(4, usize::max);
    let mut text = format!("{:width$}  CREATED ({tz})\n", "NAME");
    for t in &secrets.tokens {
        let created = t.created.with_timezone(&tz).format("%Y-%m-%d %H:%M:%S");
        text.push_str(&format!("{:width$}  {created}\n", t.name));
    }
    super::print(&text)
}

/// `onair token revoke NAME`: the token stops working at the box's next check.
pub fn token_revoke(config: &Config, name: &str) -> Result<()> {
    auth::update(&config.data.dir, |secrets| {
        let before = secrets.tokens.len();
        secrets.tokens.retain(|t| t.name != name);
        if secrets.tokens.len() == before {
            let names: Vec<&str> = secrets.tokens.iter().map(|t| t.name.as_str()).collect();
            bail!(
                "there is no token named {name:?}; the tokens are: {}",
                if names.is_empty() {
                    "none".to_string()
                } else {
                    names.join(", ")
                }
            );
        }
        Ok(())
    })?;
    eprintln!("token {name:?} revoked");
    Ok(())
}
