//! This machine's cores kept awake: one busy thread per core at the idle
//! scheduling class, which runs only when nothing else wants the core.
//!
//! A box in real time works in short bursts and sleeps between them. On a
//! virtual machine a core that sleeps lets the host idle it, and the next
//! burst runs on a cold, slowed core; a Pi's frequency governor does the
//! same. A box run with the cores kept awake beside it shows how much of
//! its real-time cost is that charge rather than its own work: on this
//! machine the two-mount box measured 76-82 CPU s/h alone and 55-62 with
//! the cores kept awake, its full-speed work 58-65.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use super::BenchError;

/// Busy threads at the idle class, one per core, until dropped.
pub struct CoresKeptAwake {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl CoresKeptAwake {
    pub fn start() -> Result<Self, BenchError> {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let stop = Arc::new(AtomicBool::new(false));
        let mut awake = CoresKeptAwake {
            stop: Arc::clone(&stop),
            threads: Vec::with_capacity(cores),
        };
        for _ in 0..cores {
            let (stop, (ready, idle)) = (Arc::clone(&stop), std::sync::mpsc::channel());
            let thread = std::thread::Builder::new()
                .name("cores awake".into())
                .spawn(move || {
                    let _ = ready.send(idle_class());
                    while !stop.load(Ordering::Relaxed) {
                        std::hint::spin_loop();
                    }
                })
                .map_err(|e| BenchError::Options(format!("cannot start a busy thread: {e}")))?;
            awake.threads.push(thread);
            // A busy thread at the normal class would take CPU from the box.
            idle.recv()
                .map_err(|_| BenchError::Options("a busy thread ended at once".into()))?
                .map_err(|e| {
                    BenchError::Options(format!(
                        "cannot put a busy thread in the idle scheduling class: {e}"
                    ))
                })?;
        }
        Ok(awake)
    }

    pub fn threads(&self) -> usize {
        self.threads.len()
    }
}

impl Drop for CoresKeptAwake {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

/// Puts the calling thread in `SCHED_IDLE`.
fn idle_class() -> std::io::Result<()> {
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: pid 0 is the calling thread; `param` is valid for the call.
    if unsafe { libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}
