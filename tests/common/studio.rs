//! The studio's live input for the box: alsa-lib's `file` plugin reading a
//! FIFO that a thread feeds at real time with a tone, or with digital zeros
//! for a silent studio. The box under test opens it as a capture device by
//! name, as it would a sound card's input.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

pub const RATE: u32 = 48_000;
/// The studio's tone unless a test switches it.
pub const LIVE_TONE: u32 = 1000;

/// The studio: a FIFO fed with stereo f32 at real time, `tone` Hz (0:
/// digital zeros), switchable while it runs.
pub struct Studio {
    fifo: std::path::PathBuf,
    tone: Arc<AtomicU32>,
    stop: Arc<AtomicBool>,
    /// Frames written to the FIFO so far.
    sent: Arc<AtomicU64>,
    feeder: Option<std::thread::JoinHandle<()>>,
}

impl Studio {
    /// Writes an ALSA configuration with a capture device named `device`
    /// reading `fifo`, points this process's alsa-lib at it, and starts feeding.
    pub fn start(dir: &Path, device: &str) -> Studio {
        Studio::feeding(Studio::device(dir, device))
    }

    /// The device alone, its FIFO in `dir`: until something feeds the FIFO,
    /// opening the device for capture waits, as a device that hangs does.
    pub fn device(dir: &Path, device: &str) -> std::path::PathBuf {
        std::fs::create_dir_all(dir).unwrap();
        let fifo = dir.join("studio.fifo");
        let _ = std::fs::remove_file(&fifo);
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: a valid C string; mkfifo only reads it.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo");
        let conf = dir.join("alsa.conf");
        std::fs::write(
            &conf,
            format!(
                r#"pcm.{device} {{
    type file
    slave.pcm "null"
    file "/dev/null"
    infile "{fifo}"
    format "raw"
    hint {{ show on description "onair test studio" }}
}}
"#,
                fifo = fifo.display()
            ),
        )
        .unwrap();
        alsa_config(&conf);
        fifo
    }

    /// Starts feeding the FIFO of a [`Studio::device`].
    pub fn feeding(fifo: std::path::PathBuf) -> Studio {
        let tone = Arc::new(AtomicU32::new(LIVE_TONE));
        let stop = Arc::new(AtomicBool::new(false));
        let sent = Arc::new(AtomicU64::new(0));
        let (t, s, n) = (Arc::clone(&tone), Arc::clone(&stop), Arc::clone(&sent));
        let path = fifo.clone();
        let feeder = std::thread::spawn(move || feed(&path, &t, &s, &n));
        Studio {
            fifo,
            tone,
            stop,
            sent,
            feeder: Some(feeder),
        }
    }

    pub fn frames_sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }

    pub fn tone(&self, hz: u32) {
        self.tone.store(hz, Ordering::Relaxed);
    }
}

impl Drop for Studio {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // A feeder still waiting for the box to open the device (a test
        // that failed before starting it) is let through to its end.
        let _reader = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&self.fifo);
        if let Some(f) = self.feeder.take() {
            let _ = f.join();
        }
    }
}

/// Points alsa-lib at the system configuration plus this test's device
/// (the tests run one at a time, the environment being the process's).
pub fn alsa_config(conf: &Path) {
    // SAFETY: the tests run one at a time, and this is set before the box opens ALSA.
    unsafe {
        std::env::set_var(
            "ALSA_CONFIG_PATH",
            format!("/usr/share/alsa/alsa.conf:{}", conf.display()),
        );
    }
}

fn feed(fifo: &Path, tone: &AtomicU32, stop: &AtomicBool, counted: &AtomicU64) {
    // One capture period at a time: alsa-lib's `file` plugin fills each
    // period with a single read of the FIFO, so a period read while only
    // part of it had been written would be padded with the null device's
    // silence. A write smaller than the pipe is read whole.
    let chunk = (RATE * onair::engine::live::PERIOD_MS / 1000) as usize;
    let mut sent: u64 = 0;
    let mut bytes = Vec::with_capacity(chunk * 8);
    // The box opens the device more than once (finding it, asking what it
    // can record, then recording), and each close of the FIFO's read end
    // fails the next write. A sound card is there whenever it is opened, so
    // the studio opens the FIFO again and goes on: without this, a first
    // write that fell between the box's close and its next open ended the
    // feeding and the box waited for a device that never delivered.
    while !stop.load(Ordering::Relaxed) {
        // Opening blocks until the box opens the device for capture.
        let Ok(mut out) = std::fs::OpenOptions::new().write(true).open(fifo) else {
            return;
        };
        let begun = Instant::now();
        let mut paced: u64 = 0;
        while !stop.load(Ordering::Relaxed) {
            let hz = tone.load(Ordering::Relaxed);
            bytes.clear();
            for i in 0..chunk as u64 {
                let t = (sent + i) as f64 / f64::from(RATE);
                let s = if hz == 0 {
                    0.0
                } else {
                    (0.5 * (t * f64::from(hz) * std::f64::consts::TAU).sin()) as f32
                };
                bytes.extend_from_slice(&s.to_le_bytes());
                bytes.extend_from_slice(&s.to_le_bytes());
            }
            if out.write_all(&bytes).is_err() {
                break;
            }
            sent += chunk as u64;
            paced += chunk as u64;
            counted.store(sent, Ordering::Relaxed);
            let due = begun + Duration::from_secs_f64(paced as f64 / f64::from(RATE));
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
        }
    }
}

/// Every test with a studio runs one at a time, whatever its module: each
/// feeds a studio at real time and reads its output back, and the ALSA
/// configuration that names the studio's device is the process's. Taken
/// before the studio's device is made.
pub fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}
