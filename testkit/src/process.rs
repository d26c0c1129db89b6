//! Running the tools as child processes in tests: a [`Watchdog`] that bounds a scenario in time
//! and kills its children when it overruns, the [`Proc`] it spawns (signal, liveness, wait with
//! the child's own peak RSS), reading pipes on threads ([`collect`]) and a [`tee`].
//!
//! The watchdog never kills a pid that may have been recycled: a child stays registered only
//! while it is unreaped (running or a zombie, so its pid cannot be reused), and
//! [`Proc::finish`] waits for the exit WITHOUT reaping, unregisters the pid (under the same lock
//! the watchdog kills under), and only then reaps.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::process::{Child, ChildStderr, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::reliability::{wait_with_rusage, HwmSampler};

struct WdShared {
    /// pid → tool name, of children spawned and not reaped yet.
    pids: Mutex<HashMap<i32, String>>,
    fired: AtomicBool,
    done: Mutex<bool>,
    wake: Condvar,
}

impl WdShared {
    fn pids(&self) -> MutexGuard<'_, HashMap<i32, String>> {
        self.pids.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn kill_all(&self) {
        let pids = self.pids();
        for pid in pids.keys() {
            // SAFETY: kill(2) has no memory effects. The pid is an unreaped child of ours: it
            // leaves the map (under this lock) before it is reaped, so it cannot be recycled.
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
        let timer = Arc::clone(&shared);
        let name = what.to_string();
        let thread = std::thread::spawn(move || watch(&timer, &name, limit));
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
        self.shared.pids().insert(pid, name.to_string());
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

    /// Disarms the watchdog for `pid`: called before the child is reaped.
    fn forget(&self, pid: i32) {
        self.shared.pids().remove(&pid);
    }
}

/// The timer thread: waits until `limit` or until the watchdog is dropped.
fn watch(shared: &WdShared, name: &str, limit: Duration) {
    let deadline = Instant::now() + limit;
    let mut done = shared.done.lock().unwrap_or_else(|e| e.into_inner());
    while !*done {
        let now = Instant::now();
        if now >= deadline {
            eprintln!("watchdog: {name} still running after {limit:?}: killing its tools");
            shared.fired.store(true, Ordering::SeqCst);
            shared.kill_all();
            return;
        }
        done = shared
            .wake
            .wait_timeout(done, deadline - now)
            .unwrap_or_else(|e| e.into_inner())
            .0;
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

    /// Sends `sig` (e.g. `libc::SIGKILL`). Not reaped yet (`finish` takes `self`), so the
    /// pid is still ours.
    pub fn signal(&self, sig: i32) {
        let _ = signal(&self.child, sig);
    }

    /// True while the process has not exited (a zombie counts as exited). Does not reap it.
    pub fn alive(&self) -> bool {
        !self.exited(libc::WNOHANG)
    }

    /// waitid(WEXITED | WNOWAIT | `flags`): true when the child has exited; it stays reapable.
    fn exited(&self, flags: libc::c_int) -> bool {
        loop {
            let mut info: libc::siginfo_t =
                // SAFETY: an all-zero siginfo_t is valid; waitid fills it.
                unsafe { std::mem::zeroed() };
            // SAFETY: waitid on our own unreaped child, writing only into `info`.
            let rc = unsafe {
                libc::waitid(
                    libc::P_PID,
                    self.pid() as libc::id_t,
                    &mut info,
                    libc::WEXITED | libc::WNOWAIT | flags,
                )
            };
            if rc == 0 {
                // SAFETY: reading si_pid of a siginfo filled (or left zeroed) by waitid.
                return unsafe { info.si_pid() } != 0;
            }
            if std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
                return true; // not waitable (e.g. already reaped): not running either
            }
        }
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
        // the exit without reaping, so the sampler's pid and the watchdog's stay ours.
        drop(self.child.stdin.take());
        self.exited(0);
        let sampled = self.hwm.finish();
        // Disarm before reaping: once reaped, the pid may be recycled.
        wd.forget(self.pid());
        let (status, rusage_kib) = wait_with_rusage(&mut self.child)
            .unwrap_or_else(|e| panic!("waiting for {}: {e}", self.name));
        let rss_kib = if sampled > 0 { sampled } else { rusage_kib };
        Finished {
            name: self.name,
            status,
            rss_kib,
        }
    }
}

/// Sends `sig` to `child`. The caller must not have reaped it (a `wait`, or a `try_wait`
/// that saw it exit): the pid of a reaped child may belong to another process by now.
pub fn signal(child: &Child, sig: i32) -> std::io::Result<()> {
    kill(child_pid(child)?, sig)
}

/// Sends `sig` to the process group `child` leads (spawned with `process_group(0)`). The same
/// rule as [`signal`]: while the leader is unreaped its pid, and so the group id, is not reused.
pub fn signal_group(child: &Child, sig: i32) -> std::io::Result<()> {
    kill(-child_pid(child)?, sig)
}

fn child_pid(child: &Child) -> std::io::Result<libc::pid_t> {
    libc::pid_t::try_from(child.id()).map_err(std::io::Error::other)
}

/// kill(2): `pid` a process, or minus a process group; the callers vouch that it is theirs.
fn kill(pid: libc::pid_t, sig: i32) -> std::io::Result<()> {
    // SAFETY: kill(2) has no memory effects; the pid or group is an unreaped child's (callers).
    match unsafe { libc::kill(pid, sig) } {
        0 => Ok(()),
        _ => Err(std::io::Error::last_os_error()),
    }
}

/// A process the test did not spawn (a background job whose pid a script printed), held through
/// a pidfd: signals reach that process, never a later one given the same pid, and whether it
/// has exited is known without reading /proc by pid.
pub struct ForeignProcess {
    pidfd: std::os::fd::OwnedFd,
}

impl ForeignProcess {
    /// Takes hold of `pid`; fails when no such process exists (it may have exited already).
    pub fn open(pid: i32) -> std::io::Result<ForeignProcess> {
        // SAFETY: pidfd_open(2) takes a pid and flags and returns a new descriptor or -1.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
        let fd = i32::try_from(fd).map_err(std::io::Error::other)?;
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: `fd` was just returned by pidfd_open and is owned by nothing else.
        let pidfd = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
        Ok(ForeignProcess { pidfd })
    }

    /// Sends `sig` to the process this handle holds.
    pub fn signal(&self, sig: i32) -> std::io::Result<()> {
        use std::os::fd::AsRawFd;
        // SAFETY: pidfd_send_signal(2) with our open pidfd, no siginfo (null) and no flags.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_pidfd_send_signal,
                self.pidfd.as_raw_fd(),
                sig,
                std::ptr::null::<libc::siginfo_t>(),
                0,
            )
        };
        match rc {
            0 => Ok(()),
            _ => Err(std::io::Error::last_os_error()),
        }
    }

    /// True until the process exits (a zombie has exited: its parent, not us, reaps it).
    pub fn alive(&self) -> bool {
        use std::os::fd::AsRawFd;
        let mut pfd = libc::pollfd {
            fd: self.pidfd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd for the duration of the call; a zero timeout does not block.
        let ready = unsafe { libc::poll(&mut pfd, 1, 0) };
        ready == 0
    }
}

/// Polls `cond` every 50 ms until it is true; panics naming `what` after `limit`. For waits
/// outside a [`Watchdog`] (on processes the test did not spawn itself).
pub fn poll_until(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
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

/// Writes `bytes` to `to` on a thread and closes it; a broken pipe (the reader stopped early,
/// e.g. on an error) is not an error here.
pub fn feed<W: Write + Send + 'static>(mut to: W, bytes: Vec<u8>) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let _ = to.write_all(&bytes);
    })
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

/// What [`run_bounded`] saw of one child.
#[derive(Debug)]
pub struct Bounded {
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr: String,
    /// Peak RSS of the child alone (KiB), as [`Proc::finish`] measures it.
    pub rss_kib: u64,
    /// Wall time from spawn to exit, for the figures (never asserted).
    pub seconds: f64,
}

/// Runs `cmd` with `stdin` fed from a thread (None: /dev/null), collecting stdout and stderr,
/// under a [`Watchdog`]: if it has not exited within `limit` it is killed and the test fails,
/// naming the program and arguments (never the environment: it may hold credentials) and
/// showing the end of its stderr.
pub fn run_bounded(mut cmd: Command, stdin: Option<Vec<u8>>, limit: Duration) -> Bounded {
    let what = describe(&cmd);
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let started = Instant::now();
    let wd = Watchdog::start(&what, limit);
    let mut proc = wd.spawn(&what, &mut cmd);
    let writer = match (proc.child.stdin.take(), stdin) {
        (Some(pipe), Some(bytes)) => Some(feed(pipe, bytes)),
        _ => None,
    };
    let stdout = collect(proc.child.stdout.take().expect("stdout was piped"));
    let stderr = proc.collect_stderr();
    let done = proc.finish(&wd);
    let seconds = started.elapsed().as_secs_f64();
    if let Some(w) = writer {
        let _ = w.join();
    }
    let (stdout, stderr) = (stdout.get(), stderr.text());
    assert!(
        !wd.fired(),
        "watchdog: {what} did not finish within {limit:?}; stderr:\n{}",
        tail_of(&stderr)
    );
    Bounded {
        status: done.status,
        stdout,
        stderr,
        rss_kib: done.rss_kib,
        seconds,
    }
}

/// `program [args]` of `cmd`, at most 300 characters.
fn describe(cmd: &Command) -> String {
    let what = format!(
        "{:?} {:?}",
        cmd.get_program(),
        cmd.get_args().collect::<Vec<_>>()
    );
    what.chars().take(300).collect()
}

/// The last 3000 bytes (or so, on a character boundary) of `s`: enough stderr for a message.
pub fn tail_of(s: &str) -> &str {
    let mut cut = s.len().saturating_sub(3000);
    while !s.is_char_boundary(cut) {
        cut += 1;
    }
    &s[cut..]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> Command {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", script]);
        cmd
    }

    /// A background job of a shell that has exited: not our child, as lab1.sh's job is not.
    #[test]
    fn a_foreign_process_is_signalled_through_its_pidfd_and_seen_to_exit() {
        let out = sh("sleep 60 >/dev/null 2>&1 & echo $!")
            .output()
            .expect("run sh");
        let pid: i32 = String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .expect("the job's pid");
        let job = ForeignProcess::open(pid).expect("the job is running");
        assert!(job.alive());
        job.signal(libc::SIGTERM)
            .expect("SIGTERM through the pidfd");
        poll_until("the job to exit", Duration::from_secs(10), || !job.alive());
    }

    #[test]
    fn finish_reports_the_exit_status_and_disarms_the_watchdog() {
        let wd = Watchdog::start("exit 3", Duration::from_secs(60));
        let proc = wd.spawn("sh", &mut sh("exit 3"));
        let pid = proc.pid();
        let done = proc.finish(&wd);
        assert_eq!(done.status.code(), Some(3));
        assert!(
            !wd.shared.pids().contains_key(&pid),
            "a reaped pid must not stay armed"
        );
        assert!(!wd.fired());
    }

    #[test]
    fn an_overrun_is_killed_and_reported() {
        let wd = Watchdog::start("sleeper", Duration::from_millis(200));
        let proc = wd.spawn("sleep", &mut sh("exec sleep 60"));
        let done = proc.finish(&wd);
        assert!(wd.fired());
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(done.status.signal(), Some(libc::SIGKILL));
    }

    #[test]
    fn alive_does_not_reap() {
        let wd = Watchdog::start("alive", Duration::from_secs(60));
        let mut cmd = sh("read _");
        cmd.stdin(Stdio::piped());
        let proc = wd.spawn("sh", &mut cmd);
        assert!(proc.alive());
        // finish closes stdin: `read` sees EOF and the shell exits with status 1.
        let done = proc.finish(&wd);
        assert_eq!(done.status.code(), Some(1));
    }

    #[test]
    fn run_bounded_feeds_stdin_and_collects_both_outputs() {
        let run = run_bounded(
            sh("tr a-z A-Z; echo err >&2; exit 4"),
            Some(b"abc\n".to_vec()),
            Duration::from_secs(60),
        );
        assert_eq!(run.stdout, b"ABC\n");
        assert_eq!(run.stderr, "err\n");
        assert_eq!(run.status.code(), Some(4));
    }

    #[test]
    #[should_panic(expected = "did not finish within")]
    fn run_bounded_fails_the_test_on_an_overrun() {
        run_bounded(sh("exec sleep 60"), None, Duration::from_millis(200));
    }

    #[test]
    fn tail_of_keeps_the_end_on_a_char_boundary() {
        let s = format!("é{}", "x".repeat(2999));
        assert_eq!(tail_of(&s), "x".repeat(2999));
        assert_eq!(tail_of("short"), "short");
    }

    #[test]
    fn tee_passes_everything_on_and_keeps_a_copy() {
        let mut cat = Command::new("cat")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawning cat");
        let copy = tee(&b"one\ntwo\n"[..], cat.stdin.take().expect("stdin"));
        let out = collect(cat.stdout.take().expect("stdout"));
        assert_eq!(copy.get(), b"one\ntwo\n");
        assert_eq!(out.get(), b"one\ntwo\n");
        assert!(cat.wait().expect("waiting for cat").success());
    }
}
