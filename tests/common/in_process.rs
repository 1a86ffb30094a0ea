//! The box run inside the test process instead of as a child: for what a
//! test reaches through the library rather than the command line, such as
//! the director's commands. It is the same `onair run` (the station's
//! configuration, its clock, outputs, director and web server), stopped in
//! order when the test says so.

use std::thread::JoinHandle;
use std::time::Duration;

use onair::director::{Command, CommandError, Controls, Done, Who};
use tokio::sync::oneshot;

use super::Station;

pub struct InProcess {
    controls: Controls,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<anyhow::Result<()>>>,
}

impl Station {
    /// Starts the box in this process and waits until its clock runs.
    pub fn start_in_process(&mut self) -> InProcess {
        self.write_config();
        let config = onair::config::Config::load(&self.config_path())
            .unwrap_or_else(|e| panic!("the test's configuration is refused: {e}"));
        let (controls, commands) = onair::director::channel();
        let (stop, stopped) = oneshot::channel::<()>();
        let sender = controls.clone();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()?;
            runtime.block_on(onair::station::run_with(
                config,
                sender,
                commands,
                async move {
                    let _ = stopped.await;
                },
            ))
        });
        let mut thread = Some(thread);
        self.wait_for_clock_while(|| {
            let finished = thread.as_ref().is_some_and(JoinHandle::is_finished);
            finished.then(|| match thread.take().map(JoinHandle::join) {
                Some(Ok(Err(e))) => format!("{e:#}"),
                Some(Err(_)) => "it panicked".to_string(),
                _ => "it returned early".to_string(),
            })
        });
        InProcess {
            controls,
            stop: Some(stop),
            thread,
        }
    }
}

impl InProcess {
    /// Gives the director a command and waits for its answer.
    pub fn command(&self, command: Command) -> Result<Done, CommandError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap_or_else(|e| panic!("cannot start a runtime to send a command: {e}"));
        runtime.block_on(async {
            tokio::time::timeout(
                Duration::from_secs(10),
                self.controls.send(command, Who::Panel),
            )
            .await
            .unwrap_or_else(|_| panic!("the director did not answer {command:?} within 10 s"))
        })
    }

    /// An orderly stop, as SIGTERM gives the box; fails if the box failed.
    pub fn stop(mut self) {
        self.finish();
    }

    fn finish(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            match thread.join() {
                Ok(Ok(())) => {}
                Ok(Err(e)) => panic!("the box stopped with an error: {e:#}"),
                Err(_) => panic!("the box's thread panicked"),
            }
        }
    }
}

impl Drop for InProcess {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            self.finish();
        } else if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
