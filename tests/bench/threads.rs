//! CPU time and wake-ups by thread, from `/proc/<pid>/task/*/`: where the
//! box's time goes (decoder, mixer, encoder, each sender), how often its
//! threads wake, and the Icecast server's time, read apart from the box's. `schedstat` gives the time on the CPU
//! in nanoseconds; `stat` only in 10 ms ticks, too coarse for a box that
//! runs a few seconds in real time, so it is the fallback.

use std::collections::BTreeMap;
use std::time::Duration;

/// One thread's id, name, CPU time (user + system) and voluntary context
/// switches: each is the thread going to sleep, so each is one wake-up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreadTime {
    pub tid: u32,
    pub name: String,
    pub cpu: Duration,
    pub wakes: u64,
}

/// The number after `key:` in a `/proc/<pid>/status` text (`VmHWM:  1234 kB`).
pub fn status_field(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let value = line.strip_prefix(key)?.strip_prefix(':')?;
        value.split_whitespace().next()?.parse().ok()
    })
}

/// Reads a `stat` line (`pid (comm) state ppid … utime stime …`): the name
/// and the user + system clock ticks. The name may hold spaces and
/// parentheses, so it runs to the last `)`.
pub fn parse_stat(line: &str) -> Option<(String, u64)> {
    let open = line.find('(')?;
    let close = line.rfind(')')?;
    let name = line.get(open + 1..close)?.to_string();
    let fields: Vec<&str> = line.get(close + 1..)?.split_whitespace().collect();
    // After the name: state is field 3 of the line, utime 14 and stime 15.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((name, utime + stime))
}

/// The time on the CPU, in nanoseconds, from a `schedstat` line
/// (`run_ns wait_ns timeslices`).
pub fn parse_schedstat(line: &str) -> Option<Duration> {
    let ns: u64 = line.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(ns))
}

/// The CPU time in a `/proc` task or process folder.
fn cpu_in(folder: &std::path::Path) -> Option<(String, Duration)> {
    let (name, ticks) = parse_stat(&std::fs::read_to_string(folder.join("stat")).ok()?)?;
    let cpu = std::fs::read_to_string(folder.join("schedstat"))
        .ok()
        .and_then(|line| parse_schedstat(&line))
        .unwrap_or_else(|| ticks_to_duration(ticks, ticks_per_second()));
    Some((name, cpu))
}

fn ticks_per_second() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    u64::try_from(ticks).ok().filter(|&t| t > 0).unwrap_or(100)
}

fn ticks_to_duration(ticks: u64, per_second: u64) -> Duration {
    Duration::from_nanos(ticks.saturating_mul(1_000_000_000 / per_second))
}

/// The live threads of process `pid` and their CPU time so far. Threads
/// that have ended are not there (their time is still in the process's).
pub fn threads_of(pid: u32) -> Vec<ThreadTime> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    tasks
        .flatten()
        .filter_map(|task| {
            let path = task.path();
            let tid = task.file_name().to_str()?.parse().ok()?;
            let (name, cpu) = cpu_in(&path)?;
            let status = std::fs::read_to_string(path.join("status")).ok()?;
            let wakes = status_field(&status, "voluntary_ctxt_switches")?;
            Some(ThreadTime {
                tid,
                name,
                cpu,
                wakes,
            })
        })
        .collect()
}

/// The CPU time of process `pid` so far, all its threads (`None` once gone).
pub fn process_cpu(pid: u32) -> Option<Duration> {
    // The process's `schedstat` is its first thread's alone; its `stat`
    // adds up every thread, ended ones too.
    let line = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, ticks) = parse_stat(&line)?;
    Some(ticks_to_duration(ticks, ticks_per_second()))
}

/// What a process's threads used between two readings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Used {
    /// By thread name: how many threads, their CPU.
    pub by_name: BTreeMap<String, (usize, Duration)>,
    /// All the threads' CPU and wake-ups.
    pub cpu: Duration,
    pub wakes: u64,
}

/// What each thread used between two readings, matched by thread id (a
/// thread ending and another of the same name starting would otherwise
/// cancel out); a thread only in the later reading started in between and
/// counts from zero. A thread that ended in between is not counted.
pub fn since(later: &[ThreadTime], earlier: &[ThreadTime]) -> Used {
    let mut used = Used::default();
    for thread in later {
        let was = earlier.iter().find(|t| t.tid == thread.tid);
        let cpu = thread
            .cpu
            .saturating_sub(was.map_or(Duration::ZERO, |t| t.cpu));
        let wakes = thread.wakes.saturating_sub(was.map_or(0, |t| t.wakes));
        let entry = used.by_name.entry(thread.name.clone()).or_default();
        entry.0 += 1;
        entry.1 += cpu;
        used.cpu += cpu;
        used.wakes += wakes;
    }
    used
}
