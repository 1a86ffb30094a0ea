//! The archive: what aired, kept as MP3 segments on attached storage, in
//! wubloader's layout (`<dir>/<channel>/<quality>/<YYYY-MM-DDTHH>/…`). It
//! sits beside the outputs and is fed by a stream group's encoder (the one
//! the Icecast output uses, or one of its own), so nothing is encoded twice.
//!
//! - `names`: segment names, formatted and parsed.
//! - `id3`: the packed-audio timestamp tag at the start of each segment.
//! - `frames`: MP3 frame headers, to cut between frames and count them.
//! - `adts`: AAC's ADTS frame headers, the same for a recorded AAC stream.
//! - `segmenter`: MP3 into timed segments, by counting samples.
//! - `feed`: the encoder's end, a bounded queue that never waits.
//! - `levels`: the programme's levels as the encoder takes it, which the
//!   segments' peaks are drawn from.
//! - `peaks`: the sidecar beside each segment a waveform is drawn from.
//! - `writer`: the thread that writes segments to a temporary name and
//!   renames them, and what it does when the disk will not take them.
//! - `storage`: the archive folder checked at start (filesystem, leftovers).
//! - `listing`: what the archive holds, as every reader sees it (no
//!   temporary files, no tombstoned segments).
//! - `best`: which segments make up a time range, and where its holes are.
//! - `playlist`: HLS media and master playlists of a range, as text.
//! - `cut`: a range as one MP3 (whole frames) or WAV (to the sample).
//! - `coverage`: holes, overlaps and the coverage map, per hour.
//! - `retention`: the oldest hours deleted by age and by free space.

pub mod adts;
pub mod best;
pub mod coverage;
pub mod cut;
pub mod feed;
pub mod frames;
pub mod id3;
pub mod levels;
pub mod listing;
pub mod names;
pub mod peaks;
pub mod playlist;
pub mod retention;
pub mod segmenter;
pub mod storage;
pub mod writer;

pub use writer::{Archive, ArchiveSettings, start};
