//! A line of text built on the stack, so that rendering a frame formats
//! its clock, countdown and titles without allocating.

use std::fmt;

/// At most `N` bytes of UTF-8. Writing past the end drops the rest, whole
/// characters only, so the line is always valid text.
pub struct Line<const N: usize> {
    bytes: [u8; N],
    len: usize,
    full: bool,
}

impl<const N: usize> Line<N> {
    pub fn new() -> Self {
        Line {
            bytes: [0; N],
            len: 0,
            full: false,
        }
    }

    pub fn as_str(&self) -> &str {
        // Only whole characters of `&str`s are ever copied in.
        std::str::from_utf8(&self.bytes[..self.len]).unwrap_or_default()
    }

    /// `s` at the end, as much as fits; once something did not fit,
    /// nothing more is taken, so a line is cut, never gapped.
    fn push(&mut self, s: &str) {
        if self.full {
            return;
        }
        let room = N - self.len;
        let take = if s.len() <= room {
            s.len()
        } else {
            self.full = true;
            // The longest prefix that fits and ends on a character boundary.
            (0..=room)
                .rev()
                .find(|&i| s.is_char_boundary(i))
                .unwrap_or(0)
        };
        self.bytes[self.len..self.len + take].copy_from_slice(&s.as_bytes()[..take]);
        self.len += take;
    }
}

impl<const N: usize> Default for Line<N> {
    fn default() -> Self {
        Self::new()
    }
}

/// What the panel's ISO 8859-1 fonts show for common typography outside
/// it (dashes, curly quotes, the ellipsis) and for control characters;
/// `None`: the character itself.
fn plain(c: char) -> Option<&'static str> {
    Some(match c {
        '\u{2010}'..='\u{2015}' | '\u{2212}' => "-",
        '\u{2018}' | '\u{2019}' | '\u{201A}' | '\u{2032}' => "'",
        '\u{201C}' | '\u{201D}' | '\u{201E}' | '\u{2033}' => "\"",
        '\u{2026}' => "...",
        '\u{2022}' => "\u{00B7}",
        c if c.is_control() => " ",
        _ => return None,
    })
}

impl<const N: usize> fmt::Write for Line<N> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let mut from = 0;
        for (i, c) in s.char_indices() {
            if let Some(instead) = plain(c) {
                self.push(&s[from..i]);
                self.push(instead);
                from = i + c.len_utf8();
            }
        }
        self.push(&s[from..]);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::Line;
    use std::fmt::Write;

    #[test]
    fn a_full_line_keeps_whole_characters() {
        let mut line = Line::<5>::new();
        write!(line, "ab").unwrap();
        write!(line, "cé€").unwrap();
        assert_eq!(line.as_str(), "abcé");
        write!(line, "m").unwrap();
        assert_eq!(line.as_str(), "abcé", "cut, not gapped");
        let mut line = Line::<64>::new();
        write!(
            line,
            "Caf\u{e9} \u{2013} \u{201C}Live\u{201D}\u{2026}\tit\u{2019}s"
        )
        .unwrap();
        assert_eq!(line.as_str(), "Caf\u{e9} - \"Live\"... it's");
        let mut line = Line::<2>::new();
        write!(line, "{:02}", 7).unwrap();
        assert_eq!(line.as_str(), "07");
    }
}
