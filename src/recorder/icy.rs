//! ICY metadata: a server that was asked for it (`Icy-MetaData: 1`) and
//! answers with `icy-metaint: N` puts a metadata block after every N bytes
//! of audio: one length byte (×16 bytes), then that many bytes of text
//! such as `StreamTitle='Artist - Title';StreamUrl='';`, padded with NULs
//! (a length of 0 when nothing changed). The splitter takes the blocks out
//! so the audio is the stream's own bytes, and keeps their titles.

/// Where the splitter is in the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Audio bytes still to come before the next block.
    Audio(usize),
    /// The block's length byte is next.
    Length,
    /// Bytes of the block still to come.
    Block(usize),
}

/// Separates audio from metadata blocks, across reads of any size.
#[derive(Debug)]
pub struct IcySplitter {
    metaint: Option<usize>,
    state: State,
    block: Vec<u8>,
}

impl IcySplitter {
    /// A splitter for a stream whose answer said `icy-metaint: metaint`;
    /// `None` (or 0): the stream has no blocks and passes through.
    pub fn new(metaint: Option<usize>) -> Self {
        let metaint = metaint.filter(|&n| n > 0);
        IcySplitter {
            metaint,
            state: State::Audio(metaint.unwrap_or(0)),
            block: Vec::with_capacity(256),
        }
    }

    /// Appends the audio of `bytes` to `audio` and hands each block's
    /// text (not empty) to `block`, with where it came in `audio` (its
    /// length then: the block applies from that byte on).
    pub fn push(
        &mut self,
        mut bytes: &[u8],
        audio: &mut Vec<u8>,
        block: &mut impl FnMut(usize, &[u8]),
    ) {
        let Some(metaint) = self.metaint else {
            audio.extend_from_slice(bytes);
            return;
        };
        while !bytes.is_empty() {
            match self.state {
                State::Audio(left) => {
                    let take = left.min(bytes.len());
                    audio.extend_from_slice(&bytes[..take]);
                    bytes = &bytes[take..];
                    self.state = if take == left {
                        State::Length
                    } else {
                        State::Audio(left - take)
                    };
                }
                State::Length => {
                    let length = usize::from(bytes[0]) * 16;
                    bytes = &bytes[1..];
                    self.state = if length == 0 {
                        State::Audio(metaint)
                    } else {
                        self.block.clear();
                        State::Block(length)
                    };
                }
                State::Block(left) => {
                    let take = left.min(bytes.len());
                    self.block.extend_from_slice(&bytes[..take]);
                    bytes = &bytes[take..];
                    if take == left {
                        block(audio.len(), &self.block);
                        self.state = State::Audio(metaint);
                    } else {
                        self.state = State::Block(left - take);
                    }
                }
            }
        }
    }
}

/// The `StreamTitle` of a metadata block, if it has one (an empty title
/// is a title: the station cleared it). Text that is not UTF-8 is read as
/// Latin-1, as older servers and encoders send it.
pub fn stream_title(block: &[u8]) -> Option<String> {
    const KEY: &[u8] = b"StreamTitle='";
    let end_of_text = block
        .iter()
        .rposition(|&b| b != 0)
        .map_or(0, |last| last + 1);
    let block = &block[..end_of_text];
    let start = block.windows(KEY.len()).position(|w| w == KEY)? + KEY.len();
    let rest = &block[start..];
    // The value ends at `';` (a title may hold a quote), or at the last
    // quote of a block cut short.
    let end = rest
        .windows(2)
        .position(|w| w == b"';")
        .or_else(|| rest.iter().rposition(|&b| b == b'\''))
        .unwrap_or(rest.len());
    let value = &rest[..end];
    Some(match std::str::from_utf8(value) {
        Ok(text) => text.trim().to_string(),
        Err(_) => value
            .iter()
            .map(|&b| char::from(b))
            .collect::<String>()
            .trim()
            .to_string(),
    })
}

#[cfg(test)]
mod tests;
