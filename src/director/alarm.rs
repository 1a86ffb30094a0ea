//! The director's alarm clock: a Linux timer (`timerfd`) that it waits on
//! through the runtime's reactor, like any file descriptor.
//!
//! Tokio's own timers live in a hierarchical wheel: a deadline more than
//! 64 ms away sits in a coarser slot first, and the runtime wakes once when
//! that slot comes round (up to 64 ms early, or at a 4-second boundary) and
//! again at the deadline. Every one of the director's deadlines is hundreds
//! of milliseconds away, so every one cost two wake-ups of the Pi's CPU. A
//! timer of the kernel's wakes the runtime once, at the deadline.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

use tokio::io::Interest;
use tokio::io::unix::AsyncFd;
use tracing::warn;

pub(super) struct Alarm(AsyncFd<OwnedFd>);

impl Alarm {
    /// A new alarm, not set. Needs the runtime's reactor (a tokio runtime
    /// with I/O enabled).
    pub(super) fn new() -> io::Result<Self> {
        // SAFETY: a plain system call; its result is checked.
        let fd = unsafe {
            libc::timerfd_create(
                libc::CLOCK_MONOTONIC,
                libc::TFD_NONBLOCK | libc::TFD_CLOEXEC,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` was just opened and is owned by nothing else.
        let owned = unsafe { OwnedFd::from_raw_fd(fd) };
        // SAFETY: the descriptor is an `OwnedFd`, open until the `AsyncFd`
        // that owns it is dropped, and always the same one.
        let registered = unsafe { AsyncFd::register_with_interest(owned, Interest::READABLE) }?;
        Ok(Alarm(registered))
    }

    /// Sets the alarm to ring at `at` (at once if that has passed),
    /// replacing any earlier setting and any ring not yet waited for.
    fn set(&self, at: Instant) -> io::Result<()> {
        // Zero would disarm the timer rather than ring it at once.
        let left = at
            .saturating_duration_since(Instant::now())
            .max(Duration::from_nanos(1));
        let setting = libc::itimerspec {
            it_interval: libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
            it_value: libc::timespec {
                tv_sec: left.as_secs().try_into().unwrap_or(libc::time_t::MAX),
                // Under a billion: fits any platform's `c_long`.
                tv_nsec: left.subsec_nanos() as libc::c_long,
            },
        };
        // SAFETY: the descriptor is open while `self` lives; the setting is
        // a valid itimerspec and the old one is not asked for.
        let set = unsafe {
            libc::timerfd_settime(
                self.0.get_ref().as_raw_fd(),
                0,
                &setting,
                std::ptr::null_mut(),
            )
        };
        if set < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Sleeps until `at`. Should the timer refuse to be set (it does not,
    /// short of a broken kernel), the runtime's own timer is used.
    pub(super) async fn until(&self, at: Instant) {
        if let Err(e) = self.set(at) {
            warn!("the director's alarm cannot be set ({e}); using the runtime's timer");
            tokio::time::sleep_until(at.into()).await;
            return;
        }
        loop {
            let Ok(mut guard) = self.0.readable().await else {
                tokio::time::sleep_until(at.into()).await;
                return;
            };
            // A readiness left over from an earlier setting reads nothing:
            // `try_io` then clears it and the wait goes on.
            match guard.try_io(|timer| read_expirations(timer.get_ref())) {
                Ok(Ok(())) => return,
                Ok(Err(e)) => {
                    warn!("the director's alarm cannot be read ({e}); using the runtime's timer");
                    tokio::time::sleep_until(at.into()).await;
                    return;
                }
                Err(_would_block) => continue,
            }
        }
    }
}

fn read_expirations(timer: &OwnedFd) -> io::Result<()> {
    let mut count = [0u8; 8];
    // SAFETY: the descriptor is open for the alarm's lifetime, and the
    // buffer is 8 writable bytes, as a timerfd read needs.
    let read = unsafe { libc::read(timer.as_raw_fd(), count.as_mut_ptr().cast(), count.len()) };
    if read < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn it_rings_at_the_deadline_not_before() {
        runtime().block_on(async {
            let alarm = Alarm::new().unwrap();
            for ms in [150, 40, 300] {
                let start = Instant::now();
                alarm.until(start + Duration::from_millis(ms)).await;
                let slept = start.elapsed();
                assert!(
                    slept >= Duration::from_millis(ms),
                    "{ms} ms: woke after {slept:?}"
                );
                assert!(
                    slept < Duration::from_millis(ms + 500),
                    "{ms} ms: woke after {slept:?}"
                );
            }
            // A deadline already past rings at once.
            let start = Instant::now();
            alarm.until(start - Duration::from_secs(1)).await;
            assert!(start.elapsed() < Duration::from_millis(500));
        });
    }

    #[test]
    fn a_new_setting_replaces_a_ring_nobody_waited_for() {
        runtime().block_on(async {
            let alarm = Alarm::new().unwrap();
            let start = Instant::now();
            // Set to ring in 10 ms, then given up (as when a command wins the
            // director's wait), and left to ring unheard.
            tokio::select! {
                biased;
                _ = alarm.until(start + Duration::from_millis(10)) => panic!("rang at once"),
                _ = std::future::ready(()) => {}
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
            // The next wait is for its own deadline, not the stale ring.
            let start = Instant::now();
            alarm.until(start + Duration::from_millis(200)).await;
            let slept = start.elapsed();
            assert!(slept >= Duration::from_millis(200), "woke after {slept:?}");
        });
    }
}
