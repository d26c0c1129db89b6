//! A shell command in a real terminal for tests that check what a person sees: a detached tmux
//! pane of a given size on a tmux server of its own (its socket in a temp dir, the server killed
//! on drop), read with `capture-pane`, typed into with `send-keys`. tmux is required (scripts/test
//! installs it): without it the test fails with that message.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

/// One detached pane running one shell command; the server goes with the value.
pub struct Pane {
    socket: PathBuf,
    _socket_dir: tempfile::TempDir,
}

impl Pane {
    /// Starts `command` (run by tmux's shell) in a detached `columns` x `rows` pane.
    pub fn start(columns: u16, rows: u16, command: &str) -> Pane {
        let socket_dir = tempfile::tempdir().expect("temp dir for the tmux socket");
        let socket = socket_dir.path().join("tmux");
        let pane = Pane {
            socket,
            _socket_dir: socket_dir,
        };
        let (columns, rows) = (columns.to_string(), rows.to_string());
        let out = pane
            .tmux(&[
                "new-session",
                "-d",
                "-x",
                &columns,
                "-y",
                &rows,
                "-s",
                "t",
                command,
            ])
            .output()
            .unwrap_or_else(|e| panic!("tmux is required (scripts/test installs it): {e}"));
        assert!(out.status.success(), "tmux new-session: {out:?}");
        pane
    }

    /// A tmux command addressed to this pane's server, with no user configuration.
    pub fn tmux(&self, args: &[&str]) -> Command {
        let mut c = Command::new("tmux");
        c.arg("-S")
            .arg(&self.socket)
            .args(["-f", "/dev/null"])
            .args(args)
            .env("TERM", "xterm-256color");
        c
    }

    /// The pane's text as shown now.
    pub fn screen(&self) -> String {
        let out = self
            .tmux(&["capture-pane", "-p", "-t", "t"])
            .output()
            .expect("tmux capture-pane");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Waits until every `wanted` text is on the screen at once and returns that screen; panics
    /// with the last screen after `patience` (only a hang reaches it).
    pub fn wait_for(&self, wanted: &[&str], patience: Duration) -> String {
        let deadline = Instant::now() + patience;
        loop {
            let screen = self.screen();
            if wanted.iter().all(|w| screen.contains(w)) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "never saw {wanted:?} on the screen:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Types `keys` (tmux send-keys syntax) into the pane.
    pub fn keys(&self, keys: &str) {
        let status = self
            .tmux(&["send-keys", "-t", "t", keys])
            .status()
            .expect("tmux send-keys");
        assert!(status.success(), "tmux send-keys {keys}");
    }
}

impl Drop for Pane {
    fn drop(&mut self) {
        let _ = self.tmux(&["kill-server"]).output();
    }
}
