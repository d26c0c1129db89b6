//! Helpers for the reliability scenarios (`tests/tests/reliability_*.rs`): spawning
//! the tools on the local stack, a watchdog that kills every child when a scenario takes too
//! long, a tee that keeps a copy of what flows through a pipe, reading S3 back, and comparing
//! what was sent with what was delivered as multisets.
//!
//! Stable API (other reliability test files use it; only add to it):
//! - [`tool`]`(stack, name)`: a `Command` for a workspace binary with the stack's environment.
//! - [`Watchdog`]: `start(what, limit)`, `spawn(name, cmd)` → [`Proc`], `fired()`; on timeout (or
//!   when dropped during a panic) every child it spawned and did not reap yet is SIGKILLed.
//! - [`Proc`]: `pid()`, `signal(sig)`, `alive()`, `finish(&wd)` → [`Finished`] (status + peak RSS).
//! - [`tee`]`(from, to)`: copies bytes on a thread and returns them all at the end.
//! - [`lines`], [`s3_records`], [`Tally::of`], [`Rss`], [`SplitMix`], [`reproduce`].
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStderr, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use testkit::reliability::{wait_with_rusage, HwmSampler};
use testkit::Stack;

/// `stack.command(<debug binary of name>)` with stdin closed (set another one if needed).
pub fn tool(stack: &Stack, name: &str) -> Command {
    let mut cmd = stack.command(testkit::bin_path(name));
    cmd.stdin(Stdio::null());
    cmd
}

/// The command that reproduces one scenario, for [`testkit::reliability::Figures::command`].
pub fn reproduce(test_binary: &str) -> String {
    match testkit::reliability::Scale::from_env() {
        testkit::reliability::Scale::Full => {
            format!("scripts/reliability --full --only {test_binary}")
        }
        testkit::reliability::Scale::Ci => format!("scripts/reliability --only {test_binary}"),
    }
}

struct WdShared {
    /// pid → tool name, of children spawned and not reaped yet.
    pids: Mutex<HashMap<i32, String>>,
    fired: AtomicBool,
    done: Mutex<bool>,
    wake: Condvar,
}

impl WdShared {
    fn kill_all(&self) {
        let pids = self.pids.lock().unwrap_or_else(|e| e.into_inner());
        for pid in pids.keys() {
            // SAFETY: kill(2) on a child of ours that has not been reaped (so the pid is ours).
            unsafe {
                libc::kill(*pid, libc::SIGKILL);
            }
        }
    }
}

/// Bounds a scenario in time: after `limit` every child spawned through it is killed with
/// SIGKILL (so every blocked read and wait returns) and [`Watchdog::fired`] is true; the
/// scenario then fails. Dropping it stops the timer and, when the thread is panicking, kills
/// the children that are still running so a failed test leaves no processes behind.
pub struct Watchdog {
    what: String,
    limit: Duration,
    shared: Arc<WdShared>,
    thread: Option<JoinHandle<()>>,
}

impl Watchdog {
    pub fn start(what: &str, limit: Duration) -> Watchdog {
        let shared = Arc::new(WdShared {
            pids: Mutex::new(HashMap::new()),
            fired: AtomicBool::new(false),
            done: Mutex::new(false),
            wake: Condvar::new(),
        });
        let s = shared.clone();
        let name = what.to_string();
        let thread = std::thread::spawn(move || {
            let deadline = Instant::now() + limit;
            let mut done = s.done.lock().unwrap_or_else(|e| e.into_inner());
            while !*done {
                let now = Instant::now();
                if now >= deadline {
                    eprintln!("watchdog: {name} still running after {limit:?}: killing its tools");
                    s.fired.store(true, Ordering::SeqCst);
                    s.kill_all();
                    return;
                }
                done = s
                    .wake
                    .wait_timeout(done, deadline - now)
                    .unwrap_or_else(|e| e.into_inner())
                    .0;
            }
        });
        Watchdog {
            what: what.to_string(),
            limit,
            shared,
            thread: Some(thread),
        }
    }

    /// Spawns `cmd` and watches it. `name` is the tool's name, used in messages and figures.
    pub fn spawn(&self, name: &str, cmd: &mut Command) -> Proc {
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("spawning {name}: {e}"));
        let pid = child.id() as i32;
        self.shared
            .pids
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(pid, name.to_string());
        if self.fired() {
            // Spawned after the deadline: do not let it run on.
            self.shared.kill_all();
        }
        Proc {
            name: name.to_string(),
            child,
            hwm: HwmSampler::start(pid as u32),
        }
    }

    /// True once the time limit has passed (the children were killed).
    pub fn fired(&self) -> bool {
        self.shared.fired.load(Ordering::SeqCst)
    }

    /// Panics with a clear message if the watchdog fired.
    pub fn check(&self) {
        assert!(
            !self.fired(),
            "{} did not finish within {:?} (watchdog killed its tools)",
            self.what,
            self.limit
        );
    }

    /// Sleeps `d` unless the watchdog fires first (then panics).
    pub fn sleep(&self, d: Duration) {
        let end = Instant::now() + d;
        while Instant::now() < end {
            self.check();
            std::thread::sleep((end - Instant::now()).min(Duration::from_millis(100)));
        }
        self.check();
    }

    /// Polls `cond` every 50 ms until true; panics naming `what` when the watchdog fires.
    pub fn wait_until(&self, what: &str, mut cond: impl FnMut() -> bool) {
        while !cond() {
            assert!(
                !self.fired(),
                "{}: timed out after {:?} waiting for {what}",
                self.what,
                self.limit
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn forget(&self, pid: i32) {
        self.shared
            .pids
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&pid);
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.shared.kill_all();
        }
        *self.shared.done.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.shared.wake.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A tool spawned by a [`Watchdog`].
pub struct Proc {
    pub name: String,
    pub child: Child,
    hwm: HwmSampler,
}

/// How a [`Proc`] ended.
#[derive(Debug, Clone)]
pub struct Finished {
    pub name: String,
    pub status: ExitStatus,
    /// Peak RSS of this process alone (KiB).
    pub rss_kib: u64,
}

impl Finished {
    /// Panics unless the exit status is 0, naming the tool and adding `context` (e.g. stderr).
    pub fn assert_ok(&self, context: &str) {
        assert!(
            self.status.success(),
            "{} exited with {:?}\n{context}",
            self.name,
            self.status
        );
    }
}

impl Proc {
    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Sends `sig` (e.g. `libc::SIGKILL`).
    pub fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on our own child, not reaped yet (`finish` takes `self`).
        unsafe {
            libc::kill(self.pid(), sig);
        }
    }

    /// True while the process has not exited (a zombie counts as exited). Does not reap it.
    pub fn alive(&self) -> bool {
        let mut info: libc::siginfo_t =
            // SAFETY: an all-zero siginfo_t is valid; waitid fills it.
            unsafe { std::mem::zeroed() };
        // SAFETY: waitid on our own child with WNOWAIT leaves it reapable.
        let rc = unsafe {
            libc::waitid(
                libc::P_PID,
                self.pid() as libc::id_t,
                &mut info,
                libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
            )
        };
        // SAFETY: reading si_pid of a siginfo filled (or left zeroed) by waitid.
        rc == 0 && unsafe { info.si_pid() } == 0
    }

    /// Takes its stdout as a `Stdio` for the next process of a pipeline.
    pub fn stdout_stdio(&mut self) -> Stdio {
        Stdio::from(self.child.stdout.take().expect("stdout was piped"))
    }

    /// Takes its stderr and collects it on a thread.
    pub fn collect_stderr(&mut self) -> Collected {
        collect(self.child.stderr.take().expect("stderr was piped"))
    }

    /// Waits for it (bounded by the watchdog, which kills it) and returns its status and peak
    /// RSS (sampled `VmHWM`, see [`HwmSampler`]; `wait4`'s `ru_maxrss` is only a fallback
    /// when no sample was taken).
    pub fn finish(mut self, wd: &Watchdog) -> Finished {
        // Close our end of its stdin first (a child reading stdin must see EOF), then wait for
        // the exit without reaping, so the sampler's pid stays ours until it stops.
        drop(self.child.stdin.take());
        let mut info: libc::siginfo_t =
            // SAFETY: an all-zero siginfo_t is valid; waitid fills it.
            unsafe { std::mem::zeroed() };
        loop {
            // SAFETY: waitid on our own unreaped child; WNOWAIT leaves it reapable.
            let rc = unsafe {
                libc::waitid(
                    libc::P_PID,
                    self.pid() as libc::id_t,
                    &mut info,
                    libc::WEXITED | libc::WNOWAIT,
                )
            };
            if rc == 0 || std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted
            {
                break;
            }
        }
        let sampled = self.hwm.finish();
        let (status, rusage_kib) = wait_with_rusage(&mut self.child)
            .unwrap_or_else(|e| panic!("waiting for {}: {e}", self.name));
        let rss_kib = if sampled > 0 { sampled } else { rusage_kib };
        wd.forget(self.pid());
        Finished {
            name: self.name,
            status,
            rss_kib,
        }
    }
}

/// Output collected on a thread.
pub struct Collected(JoinHandle<Vec<u8>>);

impl Collected {
    pub fn get(self) -> Vec<u8> {
        self.0.join().unwrap_or_default()
    }
    pub fn text(self) -> String {
        String::from_utf8_lossy(&self.get()).into_owned()
    }
}

/// Reads `r` to its end on a thread.
pub fn collect<R: Read + Send + 'static>(mut r: R) -> Collected {
    Collected(std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = r.read_to_end(&mut v);
        v
    }))
}

/// Collects a child's stderr.
pub fn collect_stderr(e: ChildStderr) -> Collected {
    collect(e)
}

/// Copies `from` to `to` on a thread (like `tee`), keeping every byte; at the end of `from`,
/// `to` is closed. If `to` fails (the reader died), the copy stops writing but keeps reading
/// `from` to its end, so the writer is never blocked. Returns all bytes read.
pub fn tee<R, W>(mut from: R, to: W) -> Collected
where
    R: Read + Send + 'static,
    W: Write + Send + 'static,
{
    Collected(std::thread::spawn(move || {
        let mut to = Some(to);
        let mut kept = Vec::new();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match from.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => break,
            };
            kept.extend_from_slice(&buf[..n]);
            if let Some(w) = to.as_mut() {
                if w.write_all(&buf[..n]).and_then(|()| w.flush()).is_err() {
                    to = None;
                }
            }
        }
        drop(to);
        kept
    }))
}

/// Non-empty lines of `bytes`, without their `\n`.
pub fn lines(bytes: &[u8]) -> Vec<Vec<u8>> {
    bytes
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(<[u8]>::to_vec)
        .collect()
}

/// Every record of every object under `prefix` (all when empty) in `bucket`, objects split as
/// Firehose-style concatenated JSON: `(key, records)` sorted by key.
pub async fn s3_records(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    prefix: &str,
) -> anyhow::Result<Vec<(String, Vec<Vec<u8>>)>> {
    let objects = testkit::list_objects_all(s3, bucket).await?;
    Ok(objects
        .into_iter()
        .filter(|(k, _)| k.starts_with(prefix))
        .map(|(k, body)| {
            let recs = super::split_concatenated_json(&body);
            (k, recs)
        })
        .collect())
}

/// Sent versus delivered, compared as multisets of record bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    pub sent: u64,
    /// Sent records found at least once (each sent copy counts once).
    pub delivered: u64,
    /// Extra copies of sent records.
    pub duplicated: u64,
    /// Sent records not found.
    pub lost: u64,
    /// Delivered records that were never sent.
    pub unexpected: u64,
    /// Up to 5 lost records, for messages.
    pub lost_examples: Vec<String>,
    /// Up to 5 unexpected records, for messages.
    pub unexpected_examples: Vec<String>,
}

impl Tally {
    pub fn of<A: AsRef<[u8]>, B: AsRef<[u8]>>(sent: &[A], got: &[B]) -> Tally {
        let mut want: HashMap<&[u8], u64> = HashMap::new();
        for s in sent {
            *want.entry(s.as_ref()).or_insert(0) += 1;
        }
        let mut have: HashMap<&[u8], u64> = HashMap::new();
        for g in got {
            *have.entry(g.as_ref()).or_insert(0) += 1;
        }
        let mut t = Tally {
            sent: sent.len() as u64,
            ..Tally::default()
        };
        for (rec, &w) in &want {
            let h = have.get(rec).copied().unwrap_or(0);
            t.delivered += w.min(h);
            t.lost += w.saturating_sub(h);
            t.duplicated += h.saturating_sub(w);
            if h < w && t.lost_examples.len() < 5 {
                t.lost_examples
                    .push(String::from_utf8_lossy(rec).into_owned());
            }
        }
        for (rec, &h) in &have {
            if !want.contains_key(rec) {
                t.unexpected += h;
                if t.unexpected_examples.len() < 5 {
                    t.unexpected_examples
                        .push(String::from_utf8_lossy(rec).into_owned());
                }
            }
        }
        t
    }

    /// Copies sent/delivered/duplicated/lost into `f`.
    pub fn fill(&self, f: &mut testkit::reliability::Figures) {
        f.sent = self.sent;
        f.delivered = self.delivered;
        f.duplicated = self.duplicated;
        f.lost = self.lost;
    }

    /// Panics if anything was lost or anything unexpected was delivered.
    pub fn assert_complete(&self, what: &str) {
        assert_eq!(
            self.lost, 0,
            "{what}: {} of {} records lost, e.g. {:?}",
            self.lost, self.sent, self.lost_examples
        );
        assert_eq!(
            self.unexpected, 0,
            "{what}: {} records delivered that were never sent, e.g. {:?}",
            self.unexpected, self.unexpected_examples
        );
    }
}

/// Peak RSS per tool across several runs (the largest run of each).
#[derive(Debug, Default, Clone)]
pub struct Rss(Vec<(String, u64)>);

impl Rss {
    pub fn add(&mut self, f: &Finished) {
        self.add_kib(&f.name, f.rss_kib);
    }
    pub fn add_kib(&mut self, name: &str, kib: u64) {
        match self.0.iter_mut().find(|(n, _)| n == name) {
            Some((_, v)) => *v = (*v).max(kib),
            None => self.0.push((name.to_string(), kib)),
        }
    }
    pub fn into_vec(self) -> Vec<(String, u64)> {
        self.0
    }
}

/// Small seedable RNG for kill times and targets (`KDS_RELIABILITY_SEED` overrides the seed,
/// which every scenario prints): kds_common's splitmix64.
pub struct SplitMix {
    seed: u64,
    rng: kds_common::rng::SplitMix64,
}

impl SplitMix {
    pub fn from_env(default: u64) -> SplitMix {
        let seed = std::env::var("KDS_RELIABILITY_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(default);
        eprintln!("reliability seed {seed} (set KDS_RELIABILITY_SEED to change it)");
        SplitMix {
            seed,
            rng: kds_common::rng::SplitMix64(seed),
        }
    }
    pub fn seed(&self) -> u64 {
        self.seed
    }
    pub fn next_u64(&mut self) -> u64 {
        self.rng.next_u64()
    }
    /// Uniform in `lo..hi` (hi > lo).
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo)
    }
}

/// A fresh temporary directory for a scenario's files (deleted when the guard drops).
pub fn scratch() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::Builder::new()
        .prefix("kds-rel-")
        .tempdir()
        .expect("temp dir");
    let path = dir.path().to_path_buf();
    (dir, path)
}

/// A multi-thread tokio runtime for the AWS calls of a synchronous scenario test (the tools
/// run as processes; the test thread blocks on them).
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// The number of lines of a file (0 if it does not exist).
pub fn count_file_lines(path: &std::path::Path) -> u64 {
    std::fs::read(path)
        .map(|b| lines(&b).len() as u64)
        .unwrap_or(0)
}

/// The number of files in a directory (0 if it does not exist).
pub fn count_files(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|d| d.flatten().count() as u64)
        .unwrap_or(0)
}
