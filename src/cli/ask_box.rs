//! Asking the running box over its web server, for what a command cannot
//! read itself while the box runs: its status, and the as-run log it holds.

use std::time::Duration;

use anyhow::{Context, Result};

use crate::config::Config;
use crate::station;

/// How long `onair status` waits for the box: it answers from memory at once.
const STATUS_TIMEOUT: Duration = Duration::from_secs(5);

/// The running box's web address: the one it wrote into its data folder
/// (the configured port may be 0, "any free port"), else the configured one.
pub fn box_address(config: &Config) -> Result<String> {
    let file = station::web_address_file(config);
    if let Some(address) = std::fs::read_to_string(&file)
        .ok()
        .map(|a| a.trim().to_string())
        .filter(|a| !a.is_empty())
    {
        return Ok(address);
    }
    let listen = config.web.listen;
    if listen.port() == 0 {
        anyhow::bail!(
            "the box is not running with this configuration: [web] listen is {listen} (any \
             free port) and there is no {} where a running box writes its address; start it \
             with `onair run --config FILE`",
            file.display()
        );
    }
    Ok(listen.to_string())
}

/// The status JSON (`/api/status`) as the running box sends it.
pub fn ask_box_for_status(config: &Config) -> Result<String> {
    let address = box_address(config)?;
    let url = format!("http://{address}/api/status");
    let agent = ureq::Agent::config_builder()
        .timeout_global(Some(STATUS_TIMEOUT))
        .build()
        .new_agent();
    let answer = agent.get(&url).call();
    if let Err(ureq::Error::StatusCode(401 | 403)) = answer {
        return ask_locally(config, "/api/status");
    }
    answer
        .and_then(|mut answer| answer.body_mut().read_to_string())
        .map_err(|e| {
            anyhow::anyhow!(
                "no answer from the box at {address} ({e}): is it running with this \
                 configuration? Start it with `onair run --config FILE`, or check [web] listen"
            )
        })
}

/// The as-run log as JSON (`/api/log`) from the running box that holds it.
pub fn ask_box_for_log(
    config: &Config,
    since: Option<String>,
    until: Option<String>,
) -> Result<String> {
    let file = station::web_address_file(config);
    let address = std::fs::read_to_string(&file).with_context(|| {
        format!(
            "the as-run log is in use by a running box, but {} does not say where to ask it; \
             try again in a moment (the box may be starting), or stop the box and read the log",
            file.display()
        )
    })?;
    let url = format!("http://{}/api/log", address.trim());
    let mut request = ureq::get(&url);
    let (since_text, until_text) = (since.clone(), until.clone());
    for (key, value) in [("since", since), ("until", until)] {
        if let Some(value) = value {
            request = request.query(key, value);
        }
    }
    let answer = request.call();
    if let Err(ureq::Error::StatusCode(401 | 403)) = answer {
        let query = [("since", since_text), ("until", until_text)]
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| format!("{k}={}", encode(&v))))
            .collect::<Vec<_>>()
            .join("&");
        return ask_locally(config, &format!("/api/log?{query}"));
    }
    Ok(answer
        .with_context(|| format!("cannot ask the running box at {url}"))?
        .body_mut()
        .read_to_string()?)
}

/// Asks over the control socket instead: the box's web server wants a
/// login for reading (`web.read_requires_login`), and the socket's mode
/// already says who on this machine may.
fn ask_locally(config: &Config, target: &str) -> Result<String> {
    let socket = &config.web.control_socket;
    let (status, body) = super::control::ask(socket, "GET", target).with_context(|| {
        "the box's web server asks for a login to read it (web.read_requires_login), so this \
         asks over its control socket"
    })?;
    if status != 200 {
        anyhow::bail!(
            "the box answered {status} on its control socket {}: {}",
            socket.display(),
            body.trim()
        );
    }
    Ok(body)
}

/// A query value with what a URL cannot carry as is percent-encoded.
fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
