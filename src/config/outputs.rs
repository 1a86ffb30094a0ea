//! The `[[output]]` tables: which kinds there are, the keys each kind takes,
//! the Icecast streams and their listen-back addresses, and the outputs a
//! simulated clock cannot drive.

use toml::{Table, Value};

use super::reader::{TableReader, article_type, closest, join, one_of};
use super::{BitrateMode, IcecastConfig, ListenBack, OutputConfig, Problem, SimulatedClock};

const DEFAULT_ALSA_DEVICE: &str = "default";

const OUTPUT_KINDS: &[&str] = &["alsa", "null", "wav", "icecast"];
const ICECAST_KEYS: &[&str] = &[
    "kind",
    "host",
    "port",
    "mount",
    "user",
    "password",
    "bitrate",
    "mode",
    "sample_rate",
    "name",
    "description",
    "genre",
    "url",
    "public",
    "reconnect_max_seconds",
    "listen_url",
];
/// Every key any output kind accepts, in the order the kinds list them.
fn any_output_keys() -> Vec<&'static str> {
    let mut keys: Vec<&'static str> = Vec::new();
    for key in OUTPUT_KINDS.iter().flat_map(|kind| output_keys(kind)) {
        if !keys.contains(key) {
            keys.push(key);
        }
    }
    keys
}
const DEFAULT_ICECAST_PORT: i64 = 8000;
const DEFAULT_ICECAST_USER: &str = "source";
const DEFAULT_BITRATE: u32 = 128;
const DEFAULT_RECONNECT_MAX_SECONDS: u32 = 30;
/// Hosts that mean "this machine": a stream sent there is listened back to
/// unless `listen_url = ""` says otherwise.
const LOCAL_HOSTS: &[&str] = &["127.0.0.1", "localhost", "::1"];
/// The bitrates an MP3 encoder can produce, kbit/s.
pub const MP3_BITRATES: &[u32] = &[
    8, 16, 24, 32, 40, 48, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320,
];
/// The sample rates an MP3 stream can carry.
pub const MP3_SAMPLE_RATES: &[u32] = &[
    8_000, 11_025, 12_000, 16_000, 22_050, 24_000, 32_000, 44_100, 48_000,
];

fn output_keys(kind: &str) -> &'static [&'static str] {
    match kind {
        "alsa" => &["kind", "device"],
        "wav" => &["kind", "path"],
        "icecast" => ICECAST_KEYS,
        _ => &["kind"],
    }
}

impl TableReader {
    /// The outputs, and the listen-back checks of the stream outputs.
    pub(super) fn outputs(&mut self, root: &Table) -> (Vec<OutputConfig>, Vec<ListenBack>) {
        let items = match root.get("output") {
            None => {
                let alsa = OutputConfig::Alsa {
                    device: DEFAULT_ALSA_DEVICE.to_string(),
                };
                return (vec![alsa], Vec::new());
            }
            Some(Value::Array(items)) => items,
            Some(other) => {
                self.problem(
                    "output",
                    Some(other),
                    "expected [[output]] sections (with double brackets), one per output, each with a kind",
                );
                return (Vec::new(), Vec::new());
            }
        };
        let mut outputs = Vec::new();
        let mut listen_back = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let prefix = format!("output[{}]", i + 1);
            match item {
                Value::Table(table) => {
                    let Some(output) = self.output(&prefix, table) else {
                        continue;
                    };
                    if let OutputConfig::Icecast(stream) = &output
                        && let Some(url) = self.listen_url(&prefix, table, stream)
                    {
                        listen_back.push(ListenBack {
                            output: outputs.len(),
                            url,
                        });
                    }
                    outputs.push(output);
                }
                other => self.problem(
                    prefix,
                    Some(other),
                    format!(
                        "expected an [[output]] section with kind = one of {}",
                        one_of(OUTPUT_KINDS)
                    ),
                ),
            }
        }
        if items.is_empty() {
            outputs.push(OutputConfig::Alsa {
                device: DEFAULT_ALSA_DEVICE.to_string(),
            });
        }
        (outputs, listen_back)
    }

    /// Refuses the outputs a simulated clock at its speed cannot drive. An
    /// ALSA device plays in real time at any speed. A stream sent faster
    /// than real time overruns its listeners and the server drops it, so
    /// Icecast outputs are refused above speed 1 (below it they only send
    /// slowly). Outputs are counted in the file, not in `outputs`: one
    /// refused earlier is missing from that list and would shift the number.
    pub(super) fn outputs_for_clock(
        &mut self,
        root: &Table,
        outputs: &[OutputConfig],
        clock: &SimulatedClock,
    ) {
        let in_file: &[Value] = match root.get("output") {
            Some(Value::Array(items)) => items,
            _ => &[],
        };
        let kind_of = |item: &Value| item.get("kind").and_then(Value::as_str).map(str::to_owned);
        if clock.speed != 1.0 {
            let why =
                "an ALSA device plays in real time; set clock.speed = 1 or use a wav/null output";
            if in_file.is_empty() {
                if outputs
                    .iter()
                    .any(|o| matches!(o, OutputConfig::Alsa { .. }))
                {
                    self.problems.push(Problem {
                        key: "clock.speed".into(),
                        value: clock.speed.to_string(),
                        expected: format!(
                            "expected 1 with the default output (no [[output]] section means one ALSA output): {why}"
                        ),
                    });
                }
            } else if let Some(i) = in_file
                .iter()
                .position(|item| kind_of(item).as_deref() == Some("alsa"))
            {
                self.problems.push(Problem {
                    key: format!("output[{}].kind", i + 1),
                    value: "\"alsa\"".into(),
                    expected: format!("not with clock.speed = {}: {why}", clock.speed),
                });
            }
        }
        if clock.speed > 1.0 {
            for (i, item) in in_file.iter().enumerate() {
                if kind_of(item).as_deref() != Some("icecast") {
                    continue;
                }
                self.problems.push(Problem {
                    key: format!("output[{}].kind", i + 1),
                    value: "\"icecast\"".into(),
                    expected: format!(
                        "not with clock.speed = {speed}: the stream {} would be sent {speed} times faster than real time, faster than listeners play it; set clock.speed = 1, or use a wav/null output to run the station faster",
                        stream_name(item),
                        speed = clock.speed,
                    ),
                });
            }
        }
    }

    /// Where the box listens back to a stream: `listen_url` when given
    /// (`""` turns the check off), else the mount itself when the server is
    /// on this machine. A remote server is not listened to unless asked: the
    /// box may not be allowed to reach it the way listeners do.
    fn listen_url(
        &mut self,
        prefix: &str,
        table: &Table,
        stream: &IcecastConfig,
    ) -> Option<String> {
        let Some(value) = table.get("listen_url") else {
            if !LOCAL_HOSTS.contains(&stream.host.to_ascii_lowercase().as_str()) {
                return None;
            }
            return Some(mount_url(stream));
        };
        let example = format!(
            "the plain http:// address listeners tune to, such as \"{}\", or \"\" to turn the listen-back check off",
            mount_url(stream)
        );
        let Value::String(text) = value else {
            self.problem(
                join(prefix, "listen_url"),
                Some(value),
                format!("expected {example}, not {}", article_type(value)),
            );
            return None;
        };
        let text = text.trim();
        if text.is_empty() {
            return None;
        }
        match check_listen_url(text) {
            Ok(()) => Some(text.to_string()),
            Err(why) => {
                self.problem(
                    join(prefix, "listen_url"),
                    Some(value),
                    format!("{why}; expected {example}"),
                );
                None
            }
        }
    }

    fn output(&mut self, prefix: &str, table: &Table) -> Option<OutputConfig> {
        let kind_expected = format!("expected one of {}", one_of(OUTPUT_KINDS));
        let kind = match table.get("kind") {
            None => {
                self.problem(join(prefix, "kind"), None, kind_expected);
                None
            }
            Some(Value::String(kind)) if OUTPUT_KINDS.contains(&kind.as_str()) => {
                Some(kind.as_str())
            }
            Some(other) => {
                self.problem(join(prefix, "kind"), Some(other), kind_expected);
                None
            }
        };
        match kind {
            Some(kind) => {
                let allowed = output_keys(kind);
                for (key, value) in table {
                    if allowed.contains(&key.as_str()) {
                        continue;
                    }
                    let expected = if any_output_keys().contains(&key.as_str()) {
                        let owner = OUTPUT_KINDS
                            .iter()
                            .find(|k| output_keys(k).contains(&key.as_str()))
                            .unwrap_or(&"another");
                        format!(
                            "not a key of {kind} outputs ({key} is for {owner} outputs); expected one of {}",
                            one_of(allowed)
                        )
                    } else {
                        let mut text = format!("unknown key; expected one of {}", one_of(allowed));
                        if let Some(guess) = closest(key, &any_output_keys()) {
                            text.push_str(&format!(" (did you mean `{guess}`?)"));
                        }
                        text
                    };
                    self.problem(join(prefix, key), Some(value), expected);
                }
            }
            None => self.unknown_keys(prefix, table, &any_output_keys()),
        }
        match kind? {
            "alsa" => {
                let device = self
                    .string(prefix, Some(table), "device")
                    .unwrap_or(DEFAULT_ALSA_DEVICE);
                Some(OutputConfig::Alsa {
                    device: device.to_string(),
                })
            }
            "wav" => match self.path(prefix, Some(table), "path") {
                Some(path) => Some(OutputConfig::Wav { path }),
                None => {
                    if !table.contains_key("path") {
                        self.problem(
                            join(prefix, "path"),
                            None,
                            "expected the file a wav output writes to, such as \"out.wav\"",
                        );
                    }
                    None
                }
            },
            "icecast" => self.icecast(prefix, table).map(OutputConfig::Icecast),
            _ => Some(OutputConfig::Null),
        }
    }

    fn icecast(&mut self, prefix: &str, table: &Table) -> Option<IcecastConfig> {
        let mut complete = true;
        let mut required = |this: &mut Self, key: &str, expected: &str| {
            let value = this.string(prefix, Some(table), key).map(str::to_string);
            if value.is_none() {
                complete = false;
                if !table.contains_key(key) {
                    this.problem(join(prefix, key), None, expected);
                }
            }
            value
        };
        let host = required(
            self,
            "host",
            "expected the Icecast server's host name or address, such as \"127.0.0.1\"",
        );
        let mount = required(
            self,
            "mount",
            "expected the mount point listeners tune to, such as \"/live.mp3\"",
        );
        let password = required(
            self,
            "password",
            "expected the server's source password (<source-password> in icecast.xml)",
        );
        if let Some(m) = &mount
            && !m.starts_with('/')
        {
            self.problem(
                join(prefix, "mount"),
                table.get("mount"),
                format!("expected a mount point starting with /, such as \"/{m}\""),
            );
            complete = false;
        }
        let port = match self.integer(prefix, Some(table), "port", 1..=65_535, "port") {
            Some(p) => p,
            None => {
                complete &= !table.contains_key("port");
                DEFAULT_ICECAST_PORT
            }
        } as u16;
        let user = self
            .string(prefix, Some(table), "user")
            .unwrap_or(DEFAULT_ICECAST_USER)
            .to_string();
        let bitrate = match table.get("bitrate") {
            None => DEFAULT_BITRATE,
            Some(Value::Integer(n)) if MP3_BITRATES.contains(&(*n as u32)) && *n > 0 => *n as u32,
            Some(other) => {
                self.problem(
                    join(prefix, "bitrate"),
                    Some(other),
                    format!(
                        "expected an MP3 bitrate in kbit/s, one of {}",
                        MP3_BITRATES
                            .iter()
                            .map(u32::to_string)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                );
                complete = false;
                DEFAULT_BITRATE
            }
        };
        let mode = match table.get("mode") {
            None => BitrateMode::Cbr,
            Some(Value::String(m)) if m.eq_ignore_ascii_case("cbr") => BitrateMode::Cbr,
            Some(Value::String(m)) if m.eq_ignore_ascii_case("vbr") => BitrateMode::Vbr,
            Some(other) => {
                self.problem(
                    join(prefix, "mode"),
                    Some(other),
                    "expected \"cbr\" (constant bitrate) or \"vbr\" (variable, around the bitrate)",
                );
                complete = false;
                BitrateMode::Cbr
            }
        };
        let sample_rate = match table.get("sample_rate") {
            None => None,
            Some(Value::Integer(n)) if MP3_SAMPLE_RATES.iter().any(|&r| i64::from(r) == *n) => {
                Some(*n as u32)
            }
            Some(other) => {
                self.problem(
                    join(prefix, "sample_rate"),
                    Some(other),
                    "expected an MP3 sample rate such as 44100 or 48000 (remove the key to stream at the engine's rate)",
                );
                complete = false;
                None
            }
        };
        let mut text = |this: &mut Self, key: &str| {
            let value = this.string(prefix, Some(table), key).map(str::to_string);
            if value.is_none() && table.contains_key(key) {
                complete = false;
            }
            value
        };
        let name = text(self, "name");
        let description = text(self, "description");
        let genre = text(self, "genre");
        let url = text(self, "url");
        let public = match table.get("public") {
            None => false,
            Some(Value::Boolean(b)) => *b,
            Some(other) => {
                self.problem(
                    join(prefix, "public"),
                    Some(other),
                    "expected true (list the stream in public directories) or false",
                );
                complete = false;
                false
            }
        };
        let reconnect_max_seconds = match table.get("reconnect_max_seconds") {
            None => DEFAULT_RECONNECT_MAX_SECONDS,
            Some(_) => match self.integer(
                prefix,
                Some(table),
                "reconnect_max_seconds",
                1..=3600,
                "seconds",
            ) {
                Some(n) => n as u32,
                None => {
                    complete = false;
                    DEFAULT_RECONNECT_MAX_SECONDS
                }
            },
        };
        if !complete {
            return None;
        }
        Some(IcecastConfig {
            host: host?,
            port,
            mount: mount?,
            user,
            password: password?,
            bitrate,
            mode,
            sample_rate,
            name,
            description,
            genre,
            url,
            public,
            reconnect_max_seconds,
        })
    }
}

/// A stream as the box names it in its status and log (`icecast
/// host:port/mount`), from what its table gives.
fn stream_name(table: &Value) -> String {
    let text = |key: &str| table.get(key).and_then(Value::as_str).unwrap_or("?");
    let port = table
        .get("port")
        .and_then(Value::as_integer)
        .unwrap_or(DEFAULT_ICECAST_PORT);
    format!("icecast {}:{port}{}", text("host"), text("mount"))
}

/// The address a stream's listeners tune to on its server.
fn mount_url(stream: &IcecastConfig) -> String {
    // An IPv6 address in a URL goes in brackets.
    let host = if stream.host.contains(':') {
        format!("[{}]", stream.host)
    } else {
        stream.host.clone()
    };
    format!("http://{host}:{}{}", stream.port, stream.mount)
}

/// Why `url` is not an address the listen-back check can tune to.
fn check_listen_url(url: &str) -> Result<(), String> {
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err("this is not an http:// address".to_string());
    };
    match scheme.to_ascii_lowercase().as_str() {
        "http" => {}
        "https" => {
            return Err(
                "https is not supported: the box listens back without TLS; give the address of a \
                 plain http listen-socket of the server"
                    .to_string(),
            );
        }
        other => return Err(format!("the scheme {other}:// is not http://")),
    }
    // Checked before parsing, whose message for a missing host is only
    // "invalid format".
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = match host_port.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => host_port.split(':').next().unwrap_or_default(),
    };
    if host.is_empty() {
        return Err("the address names no server".to_string());
    }
    let _: ureq::http::Uri = url
        .parse()
        .map_err(|e| format!("this is not a valid address ({e})"))?;
    Ok(())
}
