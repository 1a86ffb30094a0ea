//! Which quality folder a recorded stream's segments go to. A channel's
//! `source` folder holds the format it was first recorded in, noted in a
//! hidden `.format` file there (`aac-44100`), so that a playlist of
//! `source` never mixes codecs or rates. A stream that later comes in
//! another format goes to `source-<codec>-<rate>` (`source-mp3-48000`).

use std::io;
use std::path::{Path, PathBuf};

use super::framer::Format;
use crate::archive::names::Codec;

/// The first format's quality folder.
pub const SOURCE: &str = "source";
/// The note of the format `source` holds.
pub const FORMAT_FILE: &str = ".format";

/// The quality folder for `format` under `channel_dir`, and whether it is
/// `source` (the channel's first format). The first format seen claims
/// `source`, and the claim is written before any segment is.
pub fn quality_for(channel_dir: &Path, format: Format) -> io::Result<(String, bool)> {
    let source = channel_dir.join(SOURCE);
    let note = source.join(FORMAT_FILE);
    match std::fs::read_to_string(&note) {
        Ok(text) => {
            if Format::parse(&text) == Some(format) {
                return Ok((SOURCE.to_string(), true));
            }
            if Format::parse(&text).is_some() {
                return Ok((format!("{SOURCE}-{format}"), false));
            }
            // A note that does not read: written again below, as if new.
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    std::fs::create_dir_all(&source)?;
    let temp = source.join(".format.new");
    std::fs::write(&temp, format!("{format}\n"))?;
    std::fs::rename(&temp, &note)?;
    Ok((SOURCE.to_string(), true))
}

/// The codec a quality folder holds, for a master playlist's `CODECS`
/// ([`playlist::master_of`](crate::archive::playlist::master_of)): a
/// recorded `source` says it in its `.format`, another recorded format in
/// its folder's name (`source-aac-48000`); anything else is the box's own
/// MP3.
pub fn codec_of(channel_dir: &Path, quality: &str) -> Codec {
    let from_note = || {
        let note = std::fs::read_to_string(channel_dir.join(quality).join(FORMAT_FILE)).ok()?;
        Format::parse(&note).map(|f| f.codec)
    };
    let from_name = || {
        let rest = quality.strip_prefix(SOURCE)?.strip_prefix('-')?;
        Format::parse(rest).map(|f| f.codec)
    };
    from_note().or_else(from_name).unwrap_or(Codec::Mp3)
}

/// `<archive>/<channel>/<quality>`.
pub fn quality_dir(archive: &Path, channel: &str, quality: &str) -> PathBuf {
    archive.join(channel).join(quality)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::listing;

    #[test]
    fn the_first_format_is_source_and_another_gets_a_folder_of_its_own() {
        let dir = std::env::temp_dir().join(format!("onair-quality-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let aac = Format {
            codec: Codec::Aac,
            sample_rate: 44_100,
        };
        let mp3 = Format {
            codec: Codec::Mp3,
            sample_rate: 48_000,
        };
        assert_eq!(
            quality_for(&dir, aac).unwrap(),
            ("source".to_string(), true)
        );
        assert_eq!(
            quality_for(&dir, aac).unwrap(),
            ("source".to_string(), true)
        );
        // Another codec, and the same codec at another rate.
        assert_eq!(
            quality_for(&dir, mp3).unwrap(),
            ("source-mp3-48000".to_string(), false)
        );
        let aac48 = Format {
            sample_rate: 48_000,
            ..aac
        };
        assert_eq!(
            quality_for(&dir, aac48).unwrap(),
            ("source-aac-48000".to_string(), false)
        );
        // The note is hidden: the quality folder lists no hour for it.
        assert!(listing::hours(&dir.join("source")).unwrap().is_empty());
        assert_eq!(
            std::fs::read_to_string(dir.join("source/.format")).unwrap(),
            "aac-44100\n"
        );
        // What a master playlist announces for each.
        assert_eq!(codec_of(&dir, "source"), Codec::Aac);
        assert_eq!(codec_of(&dir, "source-mp3-48000"), Codec::Mp3);
        assert_eq!(codec_of(&dir, "source-aac-48000"), Codec::Aac);
        assert_eq!(codec_of(&dir, "128k"), Codec::Mp3);
        // Bad input: a note that does not read is claimed afresh.
        std::fs::write(dir.join("source/.format"), "ogg?").unwrap();
        assert_eq!(
            quality_for(&dir, mp3).unwrap(),
            ("source".to_string(), true)
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
