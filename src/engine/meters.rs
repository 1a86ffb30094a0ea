//! (being written)
pub struct Meters;
