//! `onair live|auto|skip` and `onair press live|auto|skip` on the box:
//! asks the running box over its control socket ([`crate::web::local`]),
//! which needs no secret (the socket's mode says who may), and prints the
//! director's answer.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, bail};

use crate::config::Config;
use crate::hw::Button;

/// How long to wait for the director's answer.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(15);

/// `onair live`, `onair auto`, `onair skip`.
pub fn command(config: &Config, button: Button) -> Result<()> {
    post(&config.web.control_socket, &format!("/api/{button}"))
}

/// `onair press BUTTON`: presses a simulated front-panel button.
pub fn press(config: &Config, button: Button) -> Result<()> {
    post(&config.web.control_socket, &format!("/api/press/{button}"))
}

fn post(socket: &Path, target: &str) -> Result<()> {
    let (status, body) = ask(socket, "POST", target)?;
    let answer: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
    let text = |key: &str| answer.get(key).and_then(|v| v.as_str()).map(str::to_string);
    if (200..300).contains(&status) {
        super::print(&super::line(&text("answer").unwrap_or(body)))
    } else {
        let message = text("error").unwrap_or_else(|| body.trim().to_string());
        match text("fix") {
            Some(fix) => bail!("the box says: {message} ({fix})"),
            None => bail!("the box says: {message}"),
        }
    }
}

/// One HTTP request over the socket; the status code and the body.
pub fn ask(socket: &Path, method: &str, target: &str) -> Result<(u16, String)> {
    ask_with(socket, method, target, None)
}

/// [`ask`] with a JSON body.
pub fn ask_with(
    socket: &Path,
    method: &str,
    target: &str,
    json: Option<&str>,
) -> Result<(u16, String)> {
    let mut stream = UnixStream::connect(socket).map_err(|e| {
        let why = match e.kind() {
            std::io::ErrorKind::NotFound => format!(
                "the box is not running with this configuration: there is no control socket at \
                 {}; start it with `onair run --config FILE`",
                socket.display()
            ),
            std::io::ErrorKind::ConnectionRefused => format!(
                "the box is not running: {} is left from a box that stopped; start it with \
                 `onair run --config FILE`",
                socket.display()
            ),
            std::io::ErrorKind::PermissionDenied => format!(
                "you may not use the control socket {}: run this as the box's user, as a \
                 member of its group, or as root",
                socket.display()
            ),
            _ => format!("cannot reach the box at {}: {e}", socket.display()),
        };
        anyhow::anyhow!(why)
    })?;
    stream.set_read_timeout(Some(ANSWER_TIMEOUT))?;
    let body = json.unwrap_or("");
    write!(
        stream,
        "{method} {target} HTTP/1.1\r\nHost: onair\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .context("cannot send the request to the box")?;
    let mut raw = Vec::new();
    stream
        .read_to_end(&mut raw)
        .context("the box did not answer on its control socket")?;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .context("the box's answer has no end of headers")?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .context("the box's answer has no status")?;
    Ok((status, body.to_string()))
}
