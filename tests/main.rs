//! The integration tests: one module per capability (the files beside this
//! one), in one test binary, so that the box and the shared harness
//! (`common/`) are compiled and linked once rather than once a file.
//! `.ci/test` runs each module in a process of its own, several at a time;
//! `cargo test --test suite live::` runs one module, as any filter does.
//! The allocation-counting test is a binary of its own
//! (`stream_allocations.rs`): its counting allocator is the whole
//! process's.

mod common;

mod alsa_output;
mod alsa_playout;
mod appliance;
mod archive;
mod archive_cut;
mod archive_cut_aac;
mod archive_hls;
mod archive_pictures;
mod bad_files;
// The benchmark is a binary of its own too, so it includes the harness
// files it shares by path: here they are a second copy.
#[allow(clippy::duplicate_mod)]
mod bench;
mod browser;
mod calendar;
mod channels;
mod commands;
mod demo;
mod director_commands;
mod dst;
mod harness_selftest;
mod hot_folder;
mod icecast;
mod jobs;
mod listen_again;
mod listen_back;
mod live;
mod playout;
mod recorder;
mod recording_window;
mod report;
mod resume;
mod service;
mod status_command;
mod status_page;
mod structure;
mod terminal;
mod tracks;
mod web_control;
