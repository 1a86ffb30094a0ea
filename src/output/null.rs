//! The null output: takes the programme and discards it. Useful on a box
//! without a sound card, where the station clock paces the mixer instead.

use super::{CHANNELS, Output, OutputError};

pub struct NullOutput {
    name: String,
    frames: u64,
}

impl NullOutput {
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            frames: 0,
        }
    }

    /// Frames discarded so far, gaps included.
    pub fn frames(&self) -> u64 {
        self.frames
    }
}

impl Output for NullOutput {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn write(&mut self, samples: &[f32]) -> Result<(), OutputError> {
        self.frames += (samples.len() / CHANNELS) as u64;
        Ok(())
    }

    fn finish(&mut self) -> Result<(), OutputError> {
        Ok(())
    }

    fn skip(&mut self, frames: u64) -> Result<(), OutputError> {
        self.frames += frames;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_frames_and_gaps() {
        let mut null = NullOutput::new("null");
        null.write(&[0.5; 960]).unwrap();
        null.skip(100).unwrap();
        // An odd trailing sample is half a frame, not a frame.
        null.write(&[0.1; 3]).unwrap();
        assert_eq!(null.frames(), 480 + 100 + 1);
        assert_eq!(null.name(), "null");
    }
}
