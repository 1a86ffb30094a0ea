//! SHOUTcast v1 servers answer `ICY 200 OK` where HTTP says
//! `HTTP/1.0 200 OK`, then go on as HTTP does (headers, a blank line, the
//! stream). ureq refuses such an answer as malformed, so when it does,
//! an `http://` stream is asked for again over a small connection of the
//! recorder's own: a plain HTTP/1.0 GET whose answer's status line may be
//! either, and whose body is the stream as it comes (no chunking, no
//! length: a SHOUTcast stream has neither). HTTPS is never asked this way;
//! SHOUTcast v1 does not speak it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use ureq::http::Uri;

/// The most the status line and headers may take.
const MAX_HEAD_BYTES: usize = 16 * 1024;

/// An answer to a GET: its status, headers (names in lower case) and body.
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Box<dyn Read + Send>,
    /// Over TLS (after any redirect).
    pub tls: bool,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    }
}

/// Whether ureq's failure is one an ICY answer causes: an answer it
/// could not read as HTTP (not a connection that failed or timed out).
pub fn is_unreadable_answer(error: &ureq::Error) -> bool {
    matches!(error, ureq::Error::Protocol(_))
}

/// GETs `url` (`http://` only) with `Icy-MetaData: 1`, reading an
/// `ICY 200 OK` answer as `HTTP/1.0 200 OK`.
pub fn get(url: &str, connect: Duration, read: Duration) -> Result<Answer, String> {
    let uri: Uri = url.parse().map_err(|e| format!("not a URL: {e}"))?;
    if uri.scheme_str() != Some("http") {
        return Err("only http:// is asked for over the recorder's own connection".into());
    }
    let host = uri.host().ok_or("the URL names no host")?;
    let port = uri.port_u16().unwrap_or(80);
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let addresses = (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot find {host}: {e}"))?;
    let mut last = format!("{host} has no address");
    let mut stream = None;
    for address in addresses {
        match TcpStream::connect_timeout(&address, connect) {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(e) => last = format!("cannot connect to {address}: {e}"),
        }
    }
    let mut stream = stream.ok_or(last)?;
    let io = |e: std::io::Error| e.to_string();
    stream.set_read_timeout(Some(read)).map_err(io)?;
    stream.set_write_timeout(Some(read)).map_err(io)?;
    let authority = uri.authority().map_or(host, |a| a.as_str());
    write!(
        stream,
        "GET {path} HTTP/1.0\r\nHost: {authority}\r\nUser-Agent: onair-recorder\r\n\
         Icy-MetaData: 1\r\nConnection: close\r\n\r\n"
    )
    .map_err(io)?;
    let mut reader = BufReader::new(stream);
    let (status, headers) = read_head(&mut reader)?;
    Ok(Answer {
        status,
        headers,
        body: Box::new(reader),
        tls: false,
    })
}

/// The status line and headers, up to the blank line, leaving the reader
/// at the body's first byte.
fn read_head(reader: &mut impl BufRead) -> Result<(u16, Vec<(String, String)>), String> {
    let mut read = 0;
    let mut line = |reader: &mut dyn BufRead| -> Result<String, String> {
        let mut bytes = Vec::new();
        let n = reader
            .take((MAX_HEAD_BYTES - read) as u64)
            .read_until(b'\n', &mut bytes)
            .map_err(|e| format!("the answer broke off: {e}"))?;
        read += n;
        if n == 0 || bytes.last() != Some(&b'\n') {
            return Err(match read >= MAX_HEAD_BYTES {
                true => format!("the answer's headers run past {MAX_HEAD_BYTES} bytes"),
                false => "the answer ended before its headers did".into(),
            });
        }
        Ok(String::from_utf8_lossy(&bytes).trim_end().to_string())
    };
    let first = line(reader)?;
    let status = status_of(&first)
        .ok_or_else(|| format!("the answer begins {first:?}, not an HTTP or ICY status"))?;
    let mut headers = Vec::new();
    loop {
        let header = line(reader)?;
        if header.is_empty() {
            return Ok((status, headers));
        }
        if let Some((name, value)) = header.split_once(':') {
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
        }
    }
}

/// `ICY 200 OK` or `HTTP/1.x 200 OK` → 200.
fn status_of(line: &str) -> Option<u16> {
    let (protocol, rest) = line.split_once(' ')?;
    if !(protocol == "ICY" || protocol.starts_with("HTTP/")) {
        return None;
    }
    let code = rest.split_whitespace().next()?;
    (code.len() == 3).then(|| code.parse().ok()).flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_icy_status_line_reads_as_http() {
        let mut answer: &[u8] = b"ICY 200 OK\r\nicy-name:Partner\r\ncontent-type:audio/mpeg\r\n\
            icy-metaint:8192\r\n\r\n\xff\xfb";
        let (status, headers) = read_head(&mut answer).unwrap();
        assert_eq!(status, 200);
        assert!(headers.contains(&("icy-metaint".into(), "8192".into())));
        assert!(headers.contains(&("content-type".into(), "audio/mpeg".into())));
        assert_eq!(answer, b"\xff\xfb", "the body is left to read");
        assert_eq!(status_of("HTTP/1.0 404 Not Found"), Some(404));
        assert_eq!(status_of("ICY 401 Service Unavailable"), Some(401));
        // Bad input: neither, a short answer, endless headers.
        assert_eq!(status_of("SOURCE /x ICE/1.0"), None);
        assert!(read_head(&mut &b"<html>hello</html>\n\n"[..]).is_err());
        assert!(read_head(&mut &b"ICY 200 OK\r\nicy-name:x"[..]).is_err());
        let endless = format!("ICY 200 OK\r\n{}", "x-a: b\r\n".repeat(4000));
        let error = read_head(&mut endless.as_bytes()).unwrap_err();
        assert!(error.contains("run past"), "{error}");
    }
}
