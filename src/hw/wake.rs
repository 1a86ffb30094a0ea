//! What wakes the front panel's thread. An idle panel sleeps: it wakes
//! when a button's level may have changed (the kernel's edge event on a
//! GPIO line, a simulated button set from the page), when the status
//! changes (its lamps may have), or when it is stopped. Only while a
//! button is settling does it poll, every [`super::POLL`], because the
//! debounce needs samples. On a box that sits in a rack for weeks this is
//! the difference between a hundred wake-ups a second and none.
//!
//! The wake-ups meet in one `poll(2)`: a pipe that anyone may ring (a byte
//! written, never blocking) and the button lines' event files. Their
//! events are read and dropped: the panel reads the levels themselves,
//! debounced, so an edge only says "look now".

use std::io::{ErrorKind, PipeReader, PipeWriter, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::sync::Arc;
use std::time::Duration;

/// The ringing end, cloned for whoever may have news for the panel.
#[derive(Debug, Clone)]
pub struct Ring(Arc<PipeWriter>);

impl Ring {
    /// Wakes the panel's thread (at once, or at its next wait).
    pub fn ring(&self) {
        // A full pipe already holds a wake-up: nothing is lost.
        let _ = (&*self.0).write(&[1]);
    }
}

/// The waiting end: the panel's thread's own.
#[derive(Debug)]
pub struct Doorbell {
    bell: PipeReader,
    ring: Ring,
    /// The button lines' event files (GPIO), if any.
    edges: Vec<std::fs::File>,
}

impl Doorbell {
    /// A doorbell, also woken by the events readable on `edges`.
    pub fn new(edges: Vec<OwnedFd>) -> std::io::Result<Doorbell> {
        let (bell, ring) = std::io::pipe()?;
        nonblocking(bell.as_fd())?;
        nonblocking(ring.as_fd())?;
        for edge in &edges {
            nonblocking(edge.as_fd())?;
        }
        Ok(Doorbell {
            bell,
            ring: Ring(Arc::new(ring)),
            edges: edges.into_iter().map(std::fs::File::from).collect(),
        })
    }

    pub fn ring(&self) -> Ring {
        self.ring.clone()
    }

    /// Sleeps until rung, an edge, or `timeout`; then empties what woke it.
    pub fn wait(&mut self, timeout: Duration) {
        let mut fds: Vec<libc::pollfd> = std::iter::once(self.bell.as_raw_fd())
            .chain(self.edges.iter().map(AsRawFd::as_raw_fd))
            .map(|fd| libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            })
            .collect();
        let millis = timeout.as_millis().clamp(1, i32::MAX as u128) as libc::c_int;
        // SAFETY: `fds` is a valid array of `fds.len()` pollfd for the call;
        // every descriptor in it is open for as long as `self` lives.
        let ready = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, millis) };
        if ready <= 0 {
            // Timed out, or a signal: either way the panel looks now.
            return;
        }
        let mut scratch = [0u8; 512];
        drain(&mut self.bell, &mut scratch);
        for (mut edge, fd) in self.edges.iter().zip(&fds[1..]) {
            if fd.revents & libc::POLLIN != 0 {
                drain(&mut edge, &mut scratch);
            }
        }
    }
}

/// Reads until nothing is left.
fn drain(from: &mut impl Read, scratch: &mut [u8]) {
    loop {
        match from.read(scratch) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return,
        }
    }
}

fn nonblocking(fd: BorrowedFd<'_>) -> std::io::Result<()> {
    let raw = fd.as_raw_fd();
    // SAFETY: F_GETFL/F_SETFL on a descriptor this process holds open.
    let flags = unsafe { libc::fcntl(raw, libc::F_GETFL) };
    // SAFETY: as above.
    if flags < 0 || unsafe { libc::fcntl(raw, libc::F_SETFL, flags | libc::O_NONBLOCK) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;

    #[test]
    fn a_ring_wakes_the_waiter_at_once_and_is_used_up() {
        let mut doorbell = Doorbell::new(Vec::new()).unwrap();
        let ring = doorbell.ring();
        let waiter = std::thread::spawn(move || {
            let started = Instant::now();
            doorbell.wait(Duration::from_secs(10));
            let first = started.elapsed();
            // Rung once: the next wait sleeps its full time.
            let again = Instant::now();
            doorbell.wait(Duration::from_millis(50));
            (first, again.elapsed(), doorbell)
        });
        std::thread::sleep(Duration::from_millis(50));
        ring.ring();
        let (first, second, mut doorbell) = waiter.join().unwrap();
        assert!(first < Duration::from_secs(5), "{first:?}");
        assert!(second >= Duration::from_millis(45), "{second:?}");
        // Rung twice before a wait (a ring after the waiter has woken is
        // news and wakes it again): one wait takes both.
        ring.ring();
        ring.ring();
        let started = Instant::now();
        doorbell.wait(Duration::from_secs(10));
        assert!(started.elapsed() < Duration::from_secs(5));
        let again = Instant::now();
        doorbell.wait(Duration::from_millis(50));
        assert!(
            again.elapsed() >= Duration::from_millis(45),
            "{:?}",
            again.elapsed()
        );
    }

    #[test]
    fn a_full_pipe_never_blocks_the_ringer() {
        let doorbell = Doorbell::new(Vec::new()).unwrap();
        let ring = doorbell.ring();
        // Far more than a pipe holds, nobody reading.
        for _ in 0..200_000 {
            ring.ring();
        }
    }

    #[test]
    fn an_event_on_an_edge_file_wakes_the_waiter() {
        // A pipe stands in for a GPIO line's event file: both are read by
        // poll(2) and drained the same way.
        let (edge, mut events) = std::io::pipe().unwrap();
        let mut doorbell = Doorbell::new(vec![OwnedFd::from(edge)]).unwrap();
        events.write_all(&[0u8; 48]).unwrap();
        let started = Instant::now();
        doorbell.wait(Duration::from_secs(10));
        assert!(started.elapsed() < Duration::from_secs(5));
        // Drained: the next wait sleeps.
        let again = Instant::now();
        doorbell.wait(Duration::from_millis(50));
        assert!(again.elapsed() >= Duration::from_millis(45));
    }
}
