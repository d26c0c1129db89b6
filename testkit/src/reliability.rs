//! What the reliability scenarios (`tests/tests/reliability_*.rs`) measure and record.
//!
//! - [`wait_with_rusage`]: waits for one child and returns its exit status together with its own
//!   peak RSS (`VmHWM` sampled from /proc until it exits), so a scenario can state the memory of each tool of a
//!   pipeline, not of the test process.
//! - [`HwmSampler`]: the same peak sampled from spawn on, for children waited for elsewhere.
//! - [`Scale`]: `KDS_RELIABILITY=full` (set by `scripts/reliability --full`) selects the
//!   full volumes; the default is the scaled-down size that `scripts/test` runs.
//! - [`Figures`]: one scenario's outcome (sent, delivered, duplicated, lost, peak RSS, command),
//!   written as JSON to `<repo>/target/reliability/<scenario>.json`, from which
//!   `scripts/reliability` renders `bench/RELIABILITY.md`.

use std::io;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{Child, ExitStatus};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crate::stack::repo_root;

/// Waits for `child` and returns its exit status and its own peak resident set size in KiB.
///
/// The peak is `VmHWM` of the child's address space, sampled from `/proc/PID/status` every few
/// milliseconds until it exits (the last sample before exit is its peak, give or take the final
/// few ms). Not `wait4`'s `ru_maxrss`: std spawns with `posix_spawn` (vfork-like), and at exec
/// Linux carries the spawning process's peak into the child's `ru_maxrss`, so a small tool
/// started by a big test process would report the test's memory. `ru_maxrss` is used only for a
/// child that exited before the first sample (an upper bound then). The child is reaped: do not
/// call `child.wait()` afterwards.
pub fn wait_with_rusage(child: &mut Child) -> io::Result<(ExitStatus, u64)> {
    // Close our end of its stdin first, as Child::wait does, so a child reading stdin sees EOF.
    drop(child.stdin.take());
    let pid = child.id() as libc::pid_t;
    let status_path = format!("/proc/{pid}/status");
    let mut peak: Option<u64> = None;
    let mut nap = std::time::Duration::from_millis(1);
    let mut status: libc::c_int = 0;
    // SAFETY: an all-zero rusage is a valid value of that plain C struct.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        if let Some(kib) = std::fs::read_to_string(&status_path)
            .ok()
            .as_deref()
            .and_then(vm_hwm_kib)
        {
            peak = Some(peak.map_or(kib, |p| p.max(kib)));
        }
        // SAFETY: `pid` is our own unreaped child; the out-pointers point to live locals.
        let rc = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut usage) };
        if rc == pid {
            break;
        }
        if rc < 0 {
            let err = io::Error::last_os_error();
            if err.kind() != io::ErrorKind::Interrupted {
                return Err(err);
            }
        }
        std::thread::sleep(nap);
        nap = (nap * 2).min(std::time::Duration::from_millis(10));
    }
    let rusage_kib = u64::try_from(usage.ru_maxrss).unwrap_or(0);
    Ok((ExitStatus::from_raw(status), peak.unwrap_or(rusage_kib)))
}

/// `VmHWM:   12345 kB` of a `/proc/PID/status` text → 12345 (absent for a zombie).
fn vm_hwm_kib(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Samples a process's own peak RSS (`VmHWM` of its address space) from `/proc/PID/status`
/// every 20 ms from when it is started until [`HwmSampler::finish`], so a child that exits
/// before the test waits for it is still measured. Not `wait4`'s `ru_maxrss`, which also counts
/// the address space the child was spawned from (see [`wait_with_rusage`]). Misses at most the
/// last 20 ms of a process's life. Call `finish` before reaping the child when you can, so its
/// pid cannot be reused meanwhile.
pub struct HwmSampler {
    peak: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl HwmSampler {
    pub fn start(pid: u32) -> HwmSampler {
        let peak = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (p, s) = (Arc::clone(&peak), Arc::clone(&stop));
        let thread = std::thread::spawn(move || {
            let path = format!("/proc/{pid}/status");
            while !s.load(Ordering::SeqCst) {
                if let Some(kib) = std::fs::read_to_string(&path)
                    .ok()
                    .as_deref()
                    .and_then(vm_hwm_kib)
                {
                    p.fetch_max(kib, Ordering::SeqCst);
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        HwmSampler {
            peak,
            stop,
            thread: Some(thread),
        }
    }

    /// Stops sampling; the largest `VmHWM` seen in KiB (0 if none was).
    pub fn finish(&mut self) -> u64 {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.peak.load(Ordering::SeqCst)
    }
}

impl Drop for HwmSampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// How big a scenario runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scale {
    /// The scaled-down volumes that `scripts/test` (and CI) runs.
    Ci,
    /// The full volumes, run by `scripts/reliability --full`.
    Full,
}

impl Scale {
    /// `Full` when `KDS_RELIABILITY=full`, else `Ci`.
    pub fn from_env() -> Scale {
        match std::env::var("KDS_RELIABILITY").as_deref() {
            Ok("full") => Scale::Full,
            _ => Scale::Ci,
        }
    }

    /// `ci` in CI scale, `full` in full scale.
    pub fn pick<T>(self, ci: T, full: T) -> T {
        match self {
            Scale::Ci => ci,
            Scale::Full => full,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Scale::Ci => "ci",
            Scale::Full => "full",
        }
    }
}

/// One scenario's outcome, a row of `bench/RELIABILITY.md`.
#[derive(Clone, Debug, Default)]
pub struct Figures {
    /// File-name-safe identifier, e.g. `faults-put`.
    pub scenario: String,
    /// One line saying what was done, e.g. "kds-gen | kds-put through the proxy at 20% faults".
    pub description: String,
    pub sent: u64,
    pub delivered: u64,
    /// Extra copies delivered (allowed only where the protocol allows them; say why in `notes`).
    pub duplicated: u64,
    /// Records sent and neither delivered nor dead-lettered nor counted in an exit status.
    pub lost: u64,
    /// Records written to a dead-letter or error output.
    pub dead_lettered: u64,
    /// Peak RSS in KiB per process, e.g. `[("kds-put", 9120)]`.
    pub peak_rss_kib: Vec<(String, u64)>,
    pub seconds: f64,
    /// How to reproduce it, e.g. `scripts/reliability --full --only faults_put`.
    pub command: String,
    pub notes: String,
}

impl Figures {
    pub fn new(scenario: &str, description: &str) -> Figures {
        Figures {
            scenario: scenario.to_string(),
            description: description.to_string(),
            ..Figures::default()
        }
    }

    /// Where [`Figures::record`] writes: `<repo>/target/reliability/` (or
    /// `$KDS_RELIABILITY_DIR`).
    pub fn dir() -> PathBuf {
        match std::env::var_os("KDS_RELIABILITY_DIR") {
            Some(d) => PathBuf::from(d),
            None => repo_root().join("target").join("reliability"),
        }
    }

    /// Writes `<dir>/<scenario>.json` (one JSON object, with the scale and a UTC timestamp).
    pub fn record(&self) -> anyhow::Result<PathBuf> {
        let dir = Figures::dir();
        std::fs::create_dir_all(&dir)?;
        let rss: serde_json::Map<String, serde_json::Value> = self
            .peak_rss_kib
            .iter()
            .map(|(k, v)| (k.clone(), serde_json::Value::from(*v)))
            .collect();
        let json = serde_json::json!({
            "scenario": self.scenario,
            "description": self.description,
            "scale": Scale::from_env().name(),
            "sent": self.sent,
            "delivered": self.delivered,
            "duplicated": self.duplicated,
            "lost": self.lost,
            "dead_lettered": self.dead_lettered,
            "peak_rss_kib": rss,
            "seconds": (self.seconds * 10.0).round() / 10.0,
            "command": self.command,
            "notes": self.notes,
            "recorded_at": kds_common::time::rfc3339_ms(kds_common::time::now_ms()),
        });
        let path = dir.join(format!("{}.json", self.scenario));
        std::fs::write(&path, format!("{json}\n"))?;
        Ok(path)
    }
}

/// A scenario's outcome, shared by the tests that each assert one behaviour of it (so a failure
/// names the behaviour that broke, and the scenario still runs once): the first test to ask
/// runs `scenario`, the others wait for it. A panic inside the scenario (a stream not created,
/// a tool that would not start) fails every one of those tests with its message.
pub fn shared_outcome<T: Send + Sync>(
    cell: &'static std::sync::OnceLock<Result<T, String>>,
    scenario: impl FnOnce() -> T,
) -> &'static T {
    let ran = cell.get_or_init(|| {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(scenario)).map_err(|e| {
            e.downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "a panic without a message".to_string())
        })
    });
    match ran {
        Ok(outcome) => outcome,
        Err(message) => panic!("the scenario did not complete: {message}"),
    }
}

/// `fn NAME() -> &'static T`: the outcome of `scenario`, run once for every test that calls
/// it (see [`shared_outcome`]).
#[macro_export]
macro_rules! scenario_outcome {
    ($vis:vis fn $name:ident() -> $outcome:ty = $scenario:expr) => {
        $vis fn $name() -> &'static $outcome {
            static OUTCOME: std::sync::OnceLock<Result<$outcome, String>> =
                std::sync::OnceLock::new();
            $crate::reliability::shared_outcome(&OUTCOME, $scenario)
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::{Command, Stdio};

    #[test]
    fn rusage_reports_the_childs_own_peak_rss() {
        // A child that touches ~64 MiB must report at least that much; the test process itself
        // is not what is measured.
        let mut child = Command::new("python3")
            .args([
                "-c",
                "b = bytearray(64 * 1024 * 1024); b[::4096] = b'x' * len(b[::4096])",
            ])
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let (status, rss) = wait_with_rusage(&mut child).unwrap();
        assert!(status.success());
        assert!(rss >= 64 * 1024, "peak RSS {rss} KiB < 64 MiB");
    }

    #[test]
    fn the_spawning_processs_memory_is_not_counted() {
        // This test process holds ~256 MiB; a child that sleeps briefly and exits must not
        // report it (ru_maxrss would: Linux carries the spawner's peak into it at exec).
        let big = vec![1u8; 256 << 20];
        let mut child = Command::new("sleep").arg("0.2").spawn().unwrap();
        let (status, rss) = wait_with_rusage(&mut child).unwrap();
        assert!(status.success());
        assert!(rss < 64 * 1024, "sleep reported {rss} KiB");
        assert_eq!(big.iter().map(|&b| b as usize).sum::<usize>(), 256 << 20);
    }

    #[test]
    fn rusage_keeps_the_exit_status() {
        let mut child = Command::new("sh").args(["-c", "exit 3"]).spawn().unwrap();
        let (status, _) = wait_with_rusage(&mut child).unwrap();
        assert_eq!(status.code(), Some(3));
    }
}
