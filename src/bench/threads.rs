//! CPU time by thread, from `/proc/<pid>/task/*/`: where the box's time
//! goes (decoder, mixer, encoder, each sender), and the Icecast server's
//! time, read apart from the box's. `schedstat` gives the time on the CPU
//! in nanoseconds; `stat` only in 10 ms ticks, too coarse for a box that
//! runs a few seconds in real time, so it is the fallback.

use std::collections::BTreeMap;
use std::time::Duration;

/// One thread's name and CPU time (user + system).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreadTime {
    pub name: String,
    pub cpu: Duration,
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
        .filter_map(|task| cpu_in(&task.path()))
        .map(|(name, cpu)| ThreadTime { name, cpu })
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

/// Threads of the same name (two senders, say) added up, by name.
pub fn by_name(threads: &[ThreadTime]) -> BTreeMap<String, (usize, Duration)> {
    let mut named: BTreeMap<String, (usize, Duration)> = BTreeMap::new();
    for thread in threads {
        let entry = named.entry(thread.name.clone()).or_default();
        entry.0 += 1;
        entry.1 += thread.cpu;
    }
    named
}

/// CPU used by each named thread between two readings; a thread that only
/// appears in the later one started in between and counts from zero.
pub fn since(later: &[ThreadTime], earlier: &[ThreadTime]) -> BTreeMap<String, (usize, Duration)> {
    let before = by_name(earlier);
    by_name(later)
        .into_iter()
        .map(|(name, (count, cpu))| {
            let was = before.get(&name).map_or(Duration::ZERO, |b| b.1);
            (name, (count, cpu.saturating_sub(was)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stat_line_gives_the_name_and_the_cpu_ticks() {
        let line = "14273 (onair-mixer) R 14270 14270 10537 0 -1 4194304 100 0 0 0 \
                    250 31 0 0 20 0 1 0 1310503 3133440 374";
        assert_eq!(parse_stat(line), Some(("onair-mixer".to_string(), 281)));
        // Bad input: a name with spaces and parentheses, as thread names
        // may be (`output icecast …`), must not shift the fields.
        let line = "9 (output (x) y) S 1 1 1 0 -1 0 0 0 0 0 7 3 0 0 20 0 1 0 5 6 7";
        assert_eq!(parse_stat(line), Some(("output (x) y".to_string(), 10)));
        // Bad input: a line cut short, no name, fields that are not numbers.
        assert_eq!(parse_stat("9 (short) S 1 1"), None);
        assert_eq!(parse_stat("9 short S 1 1 1 0 -1 0 0 0 0 0 7 3"), None);
        assert_eq!(parse_stat("9 (x) S 1 1 1 0 -1 0 0 0 0 0 seven 3 0 0"), None);
    }

    #[test]
    fn a_schedstat_line_gives_nanoseconds() {
        assert_eq!(
            parse_schedstat("154809 2988717 2\n"),
            Some(Duration::from_nanos(154_809))
        );
        // Bad input: empty, or not a number.
        assert_eq!(parse_schedstat(""), None);
        assert_eq!(parse_schedstat("lots 1 2"), None);
    }

    #[test]
    fn a_busy_thread_shows_its_time_under_its_own_name() {
        let earlier = threads_of(std::process::id());
        let busy = std::thread::Builder::new()
            .name("bench-busy".into())
            .spawn(|| {
                let until = std::time::Instant::now() + Duration::from_millis(300);
                let mut x = 1u64;
                while std::time::Instant::now() < until {
                    x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
                }
                // Read while still alive: an ended thread leaves /proc.
                (x, threads_of(std::process::id()))
            })
            .unwrap();
        let (_, later) = busy.join().unwrap();
        let used = since(&later, &earlier);
        let (count, cpu) = used["bench-busy"];
        assert_eq!(count, 1);
        // A loaded machine may give it less than all of its 300 ms, but
        // never nothing, and never more.
        assert!(cpu >= Duration::from_millis(50), "{cpu:?}");
        assert!(cpu <= Duration::from_millis(320), "{cpu:?}");
        assert!(process_cpu(std::process::id()).unwrap() >= cpu);
        // Bad input: a process that does not exist.
        assert!(threads_of(u32::MAX / 2).is_empty());
        assert_eq!(process_cpu(u32::MAX / 2), None);
    }
}
