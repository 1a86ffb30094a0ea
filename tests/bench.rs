//! The cost benchmark's own tests (`cargo bench --bench cost` runs the
//! benchmark itself, which has no test harness): its tools for reading CPU
//! time, memory and wake-ups, its targets and table, the Icecast launcher
//! it shares with the stream tests, and short runs through the real audio
//! path.

#[path = "bench/cost.rs"]
mod cost;
#[path = "bench/tests.rs"]
mod tests;
