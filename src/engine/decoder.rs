//! (being written)
pub struct Source;
pub struct SourceInfo;
pub struct SourceWatch;
#[derive(Debug)]
pub struct DecodeError;
