//! The stream recorder: other stations' and partners' streams kept in the
//! archive beside what the box airs.
//!
//! - `address`: a channel's name and stream address, checked.
//! - `windows`: when a channel records, in weekly windows of wall time.
//! - `plan`: which channels record now, a pure decision.
//! - `registry`: the channels and categories, from the config file and
//!   added at run time (kept in the data folder).

pub mod address;
pub mod plan;
pub mod registry;
pub mod windows;
