//! CPU time of this process, one of its threads, or its finished children
//! (getrusage).

use std::io;
use std::time::Duration;

use super::BenchError;

/// Whose CPU time to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Who {
    /// Every thread of this process, finished ones included.
    Process,
    /// Every child process that has been waited for.
    Children,
    /// The calling thread alone.
    Thread,
}

/// User and system CPU time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CpuTime {
    pub user: Duration,
    pub system: Duration,
}

impl CpuTime {
    pub fn total(&self) -> Duration {
        self.user + self.system
    }

    /// The CPU time spent between `earlier` and `self`.
    pub fn since(&self, earlier: CpuTime) -> Duration {
        self.total().saturating_sub(earlier.total())
    }
}

/// CPU time used so far (getrusage).
pub fn cpu_time(who: Who) -> Result<CpuTime, BenchError> {
    let (code, name) = match who {
        Who::Process => (libc::RUSAGE_SELF, "this process"),
        Who::Children => (libc::RUSAGE_CHILDREN, "child processes"),
        Who::Thread => (libc::RUSAGE_THREAD, "this thread"),
    };
    // SAFETY: getrusage fills the struct it is given; an all-zero rusage is a
    // valid value of that plain C struct.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `usage` is a valid, writable rusage for the call's duration.
    if unsafe { libc::getrusage(code, &mut usage) } != 0 {
        return Err(BenchError::Rusage {
            who: name,
            source: io::Error::last_os_error(),
        });
    }
    let duration = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec.max(0) as u64) + Duration::from_micros(t.tv_usec.max(0) as u64)
    };
    Ok(CpuTime {
        user: duration(usage.ru_utime),
        system: duration(usage.ru_stime),
    })
}
