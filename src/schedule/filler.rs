//! Filler: what plays when no programme is scheduled. Tracks come out of a
//! shuffled deck, every track once per round, so listeners do not hear the
//! same song twice while others wait.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{RngExt, SeedableRng};

use super::names::{has_audio_extension, is_hidden, is_partial_upload};
use super::scan::{ScanError, file_metadata, read_folder};

/// The audio files directly in `dir` (any name; no timestamp needed), sorted.
/// Hidden files, partial uploads, sub-folders and other extensions are left
/// out.
pub fn list_audio_files(dir: &Path) -> Result<Vec<PathBuf>, ScanError> {
    let mut files = Vec::new();
    for entry in read_folder(dir)? {
        let entry = entry.map_err(|source| ScanError::Read {
            path: dir.to_path_buf(),
            source,
        })?;
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if is_hidden(&name) || is_partial_upload(&name) || !has_audio_extension(&path) {
            continue;
        }
        if let Ok(Some(_)) = file_metadata(&path) {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// A shuffled deck of filler tracks: no track repeats until every track has
/// played, and a new round never opens with the track that closed the last.
#[derive(Debug)]
pub struct FillerDeck {
    rng: StdRng,
    /// Every track in the deck.
    tracks: BTreeSet<PathBuf>,
    /// This round's tracks still to play; the next one is at the end.
    unplayed: Vec<PathBuf>,
    last: Option<PathBuf>,
}

impl FillerDeck {
    /// A deck of `files` (duplicates count once). The same seed deals the
    /// same order, which makes a deck reproducible in tests and demos.
    pub fn new(files: Vec<PathBuf>, seed: u64) -> Self {
        let mut deck = FillerDeck {
            rng: StdRng::seed_from_u64(seed),
            tracks: files.into_iter().collect(),
            unplayed: Vec::new(),
            last: None,
        };
        deck.new_round(None);
        deck
    }

    /// Brings the deck up to date with the filler folder: new files join this
    /// round's unplayed tracks at random places, removed ones leave the deck.
    pub fn refresh(&mut self, files: Vec<PathBuf>) {
        let files: BTreeSet<PathBuf> = files.into_iter().collect();
        self.unplayed.retain(|track| files.contains(track));
        for added in files.difference(&self.tracks) {
            let at = self.rng.random_range(0..=self.unplayed.len());
            self.unplayed.insert(at, added.clone());
        }
        self.tracks = files;
    }

    /// Records that `track` has played, as if `next` had dealt
    /// it: used to rebuild the round from the as-run log after a restart, by
    /// marking the filler tracks played, oldest first. A track already played
    /// this round opens a new round, as it did on air. Tracks no longer in the
    /// deck are ignored.
    pub fn mark_played(&mut self, track: &Path) {
        if !self.tracks.contains(track) {
            return;
        }
        match self.unplayed.iter().position(|t| t == track) {
            Some(at) => {
                self.unplayed.remove(at);
            }
            None => self.new_round(Some(track)),
        }
        self.last = Some(track.to_path_buf());
    }

    /// Returns a dealt track that never went on air (its cue was taken back),
    /// so that it is dealt next and the round stays whole.
    pub fn put_back(&mut self, track: PathBuf) {
        if self.tracks.contains(&track) && !self.unplayed.contains(&track) {
            self.unplayed.push(track);
        }
    }

    /// Number of tracks in the deck.
    pub fn len(&self) -> usize {
        self.tracks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tracks.is_empty()
    }

    /// Tracks still to play before the round ends.
    pub fn left_in_round(&self) -> usize {
        self.unplayed.len()
    }

    /// Deals a fresh round of every track except `played` (a track already
    /// played in it). Its first track is never the one that just played.
    fn new_round(&mut self, played: Option<&Path>) {
        self.unplayed = self
            .tracks
            .iter()
            .filter(|t| Some(t.as_path()) != played)
            .cloned()
            .collect();
        self.unplayed.shuffle(&mut self.rng);
        let len = self.unplayed.len();
        if played.is_none()
            && len > 1
            && let Some(last) = &self.last
            && self.unplayed[len - 1] == *last
        {
            let other = self.rng.random_range(0..len - 1);
            self.unplayed.swap(other, len - 1);
        }
    }
}

/// The deck never runs out while it holds tracks: `next` is `None` only when
/// it has none (and may deal again after a [`FillerDeck::refresh`] adds some).
impl Iterator for FillerDeck {
    type Item = PathBuf;

    fn next(&mut self) -> Option<PathBuf> {
        if self.unplayed.is_empty() {
            self.new_round(None);
        }
        let track = self.unplayed.pop()?;
        self.last = Some(track.clone());
        Some(track)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schedule::scan::tests::{put, temp_folder};
    use std::collections::HashSet;
    use std::time::SystemTime;

    fn tracks(n: usize) -> Vec<PathBuf> {
        (0..n)
            .map(|i| PathBuf::from(format!("/filler/track-{i:02}.mp3")))
            .collect()
    }

    fn deal(deck: &mut FillerDeck, n: usize) -> Vec<PathBuf> {
        (0..n)
            .map(|_| deck.next().expect("a non-empty deck deals"))
            .collect()
    }

    #[test]
    fn a_track_put_back_is_dealt_next_and_the_round_stays_whole() {
        let mut deck = FillerDeck::new(tracks(2), 7);
        let first = deck.next().unwrap();
        let second = deck.next().unwrap();
        // The second never aired: it comes back before a new round starts,
        // so the first cannot follow itself.
        deck.put_back(second.clone());
        assert_eq!(deck.next().unwrap(), second);
        assert_ne!(deck.next().unwrap(), second);
        assert_ne!(first, second);
        // A track that is not in the deck (any more) is not taken back.
        deck.put_back(PathBuf::from("/elsewhere/x.mp3"));
        assert!(deck.left_in_round() <= 1);
    }

    #[test]
    fn every_track_plays_once_per_round_with_no_repeat_across_rounds() {
        for seed in 0..50 {
            for n in [1, 2, 3, 7] {
                let all = tracks(n);
                let mut deck = FillerDeck::new(all.clone(), seed);
                let played = deal(&mut deck, n * 6);
                for round in played.chunks(n) {
                    let distinct: HashSet<_> = round.iter().collect();
                    assert_eq!(
                        distinct.len(),
                        n,
                        "seed {seed}: a track repeated in {round:?}"
                    );
                }
                if n > 1 {
                    for pair in played.windows(2) {
                        assert_ne!(
                            pair[0], pair[1],
                            "seed {seed}, {n} tracks: back-to-back repeat"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn rounds_are_shuffled_and_the_seed_repeats_the_order() {
        let all = tracks(10);
        let first = deal(&mut FillerDeck::new(all.clone(), 7), 10);
        assert_eq!(first, deal(&mut FillerDeck::new(all.clone(), 7), 10));
        assert_ne!(first, all, "the deck deals in folder order");
        let mut deck = FillerDeck::new(all.clone(), 7);
        let rounds = deal(&mut deck, 30);
        assert!(
            rounds[..10] != rounds[10..20] || rounds[10..20] != rounds[20..],
            "every round deals the same order"
        );
    }

    #[test]
    fn refresh_adds_to_this_round_and_drops_removed_tracks() {
        let all = tracks(6);
        let mut deck = FillerDeck::new(all[..4].to_vec(), 3);
        let mut round = deal(&mut deck, 2);
        // Track 0 is removed from the folder; 4 and 5 are added.
        let mut folder: Vec<_> = all[1..].to_vec();
        deck.refresh(folder.clone());
        assert_eq!(deck.len(), 5);
        let rest_of_round: Vec<_> = (0..deck.left_in_round())
            .map(|_| deck.next().unwrap())
            .collect();
        round.extend(rest_of_round.iter().cloned());
        assert!(
            !rest_of_round.contains(&all[0]),
            "a removed track played: {rest_of_round:?}"
        );
        assert!(
            rest_of_round.contains(&all[4]) && rest_of_round.contains(&all[5]),
            "{rest_of_round:?}"
        );
        let distinct: HashSet<_> = round.iter().collect();
        assert_eq!(
            distinct.len(),
            round.len(),
            "a track repeated in the round {round:?}"
        );

        // The next round is the folder as it is now.
        let mut next_round = deal(&mut deck, 5);
        next_round.sort();
        folder.sort();
        assert_eq!(next_round, folder);

        // Everything removed: nothing to deal.
        deck.refresh(Vec::new());
        assert!(deck.is_empty());
        assert_eq!(deck.next(), None);
        assert!(FillerDeck::new(Vec::new(), 1).next().is_none());
    }

    #[test]
    fn mark_played_rebuilds_the_round_after_a_restart() {
        let all = tracks(4);
        // Before the restart, the log shows a full round then two tracks.
        let history = [&all[2], &all[0], &all[3], &all[1], &all[1], &all[3]];
        let history: Vec<PathBuf> = history.into_iter().cloned().collect();
        let mut deck = FillerDeck::new(all.clone(), 11);
        for track in &history {
            deck.mark_played(track);
        }
        // A track that was removed from the folder since is ignored.
        deck.mark_played(Path::new("/filler/gone.mp3"));
        let mut rest = deal(&mut deck, 2);
        rest.sort();
        assert_eq!(
            rest,
            [all[0].clone(), all[2].clone()],
            "the round did not continue"
        );
        // The following round does not open with the track that just played.
        let last = deck.last.clone();
        assert_ne!(deck.next(), last);
    }

    #[test]
    fn list_audio_files_takes_any_name_with_an_audio_extension() {
        let dir = temp_folder("filler");
        let now = SystemTime::now();
        for name in [
            "b side.MP3",
            "a.flac",
            "c.ogg",
            "d.wav",
            "e.m4a",
            "cover.jpg",
            ".hidden.mp3",
            "f.mp3.part",
        ] {
            put(&dir, name, 10, now);
        }
        std::fs::create_dir(dir.join("sub.mp3")).unwrap();
        let names: Vec<_> = list_audio_files(&dir)
            .unwrap()
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["a.flac", "b side.MP3", "c.ogg", "d.wav", "e.m4a"]);
        std::fs::remove_dir_all(&dir).unwrap();

        let err = list_audio_files(&dir).unwrap_err();
        assert!(matches!(err, ScanError::Missing { .. }), "{err}");
    }
}
