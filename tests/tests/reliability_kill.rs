//! Reliability, kill and resume (issue #10, scenario 2): `kds-tail --checkpoint | kds-s3sink`
//! run cron style (the protocol of `scripts/cron-example.sh`: each run works on a copy of the
//! checkpoint, `-e` stops it at the tip, and the copy replaces the checkpoint only when both
//! tools exited 0) while a producer (`kds-gen --rate R | kds-put`) keeps writing. Runs are
//! stopped at random points, five times (every other run, so the checkpoint moves in between),
//! and restarted.
//!
//! The bound asserted for SIGKILL: the checkpoint is committed once per successful run, so a
//! killed run can only repeat records after the last committed checkpoint, never one a
//! committed run delivered; the next committed run delivers them again. Hence: the committed
//! runs together hold every record exactly once, every record reaches S3, and the duplicates are
//! exactly the records in the objects of killed runs (each of which was read after the
//! checkpoint that run started from). kds-tail's own `--checkpoint-interval` cannot bound
//! duplicates in a pipe: what sits in the pipe and in kds-s3sink's buffer is past kds-tail's
//! checkpoint, so committing that checkpoint while kds-s3sink could still die would lose
//! records; that is why the copy is committed only after the whole pipeline succeeded.
//!
//! SIGTERM to kds-tail (the head of the pipeline) instead: kds-tail writes its checkpoint and
//! exits 0, kds-s3sink drains the pipe, uploads and exits 0, the run commits: exactly once.
//!
//! SIGTERM to both tools at once (what Ctrl-C or a process-group kill does), or to kds-s3sink
//! alone (a service manager stopping the processes one by one): DESIGN.md says every tool
//! finishes cleanly, so these must be exactly once too.

mod common;

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::rel::*;
use testkit::reliability::{Figures, Scale};
use testkit::{Stack, TestBucket, TestStream};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stop {
    /// SIGKILL to kds-tail, kds-s3sink or both (chosen at random per kill).
    Kill,
    /// SIGTERM to kds-tail only.
    TermTail,
    /// SIGTERM to both at the same moment.
    TermBoth,
    /// SIGTERM to kds-s3sink only.
    TermSink,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Target {
    Tail,
    Sink,
    Both,
}

struct Ctx<'a> {
    stack: &'a Stack,
    wd: &'a Watchdog,
    stream: String,
    bucket: String,
    checkpoint: PathBuf,
    spill: PathBuf,
    rss: Rss,
}

struct RunEnd {
    prefix: String,
    committed: bool,
    /// The signal landed on a running tool.
    stopped: Option<Target>,
}

/// One cron run: copy the checkpoint, run the pipeline, stop it at `stop_at` if given (and
/// still running), commit the copy only if both tools exited 0.
fn run_once(c: &mut Ctx, k: usize, stop: Option<(Duration, Target, i32)>) -> RunEnd {
    let next = c.checkpoint.with_extension("next");
    let _ = std::fs::remove_file(&next);
    if c.checkpoint.exists() {
        std::fs::copy(&c.checkpoint, &next).expect("copy the checkpoint");
    }
    let prefix = format!("run-{k:03}/");
    let mut tail_cmd = tool(c.stack, "kds-tail");
    tail_cmd
        .args(["--stream", &c.stream, "--from", "trim-horizon", "-e"])
        .args([
            "--envelope",
            "--checkpoint-interval",
            "200ms",
            "--checkpoint",
        ])
        .arg(&next)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut t = c.wd.spawn("kds-tail", &mut tail_cmd);
    let mut sink_cmd = tool(c.stack, "kds-s3sink");
    sink_cmd
        .args(["--bucket", &c.bucket, "--prefix", &prefix])
        .args(["--error-prefix", "rel-error/", "--name", "rel-kill"])
        .args([
            "--input",
            "envelope",
            "--buffer-interval",
            "0s",
            "-v",
            "--spill",
        ])
        .arg(&c.spill)
        .stdin(t.stdout_stdio())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut s = c.wd.spawn("kds-s3sink", &mut sink_cmd);
    let t_err = t.collect_stderr();
    let s_err = s.collect_stderr();
    let started = Instant::now();
    let mut stopped = None;
    if let Some((at, target, sig)) = stop {
        c.wd.wait_until("a run to reach its stop point or end", || {
            started.elapsed() >= at || (!t.alive() && !s.alive())
        });
        let live = match target {
            Target::Tail => t.alive(),
            Target::Sink => s.alive(),
            Target::Both => t.alive() && s.alive(),
        };
        if live {
            if matches!(target, Target::Tail | Target::Both) {
                t.signal(sig);
            }
            if matches!(target, Target::Sink | Target::Both) {
                s.signal(sig);
            }
            stopped = Some(target);
        }
    }
    let t_end = t.finish(c.wd);
    let s_end = s.finish(c.wd);
    c.wd.check();
    c.rss.add(&t_end);
    c.rss.add(&s_end);
    let committed = t_end.status.success() && s_end.status.success();
    let (t_err, s_err) = (t_err.text(), s_err.text());
    if std::env::var_os("KDS_RELIABILITY_DEBUG").is_some() {
        eprintln!("run {k} kds-tail stderr:\n{t_err}\nrun {k} kds-s3sink stderr:\n{s_err}");
    }
    if committed {
        if next.exists() {
            std::fs::rename(&next, &c.checkpoint).expect("commit the checkpoint");
        }
    } else {
        let _ = std::fs::remove_file(&next);
        if stopped.is_none() {
            panic!(
                "run {k} failed without being stopped: kds-tail {:?}: {}\nkds-s3sink {:?}: {}",
                t_end.status, t_err, s_end.status, s_err
            );
        }
    }
    eprintln!(
        "run {k}: stop {stop:?} landed {stopped:?}: kds-tail {:?}, kds-s3sink {:?}, committed {committed}",
        t_end.status, s_end.status
    );
    RunEnd {
        prefix,
        committed,
        stopped,
    }
}

/// The kill scenarios run one at a time: three cron pipelines plus producers at once on the
/// 2-core machine made each exceed its watchdog under `cargo test --workspace`.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn scenario(name: &str, description: &str, stop: Stop, seed: u64) {
    let _serial = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let scale = Scale::from_env();
    // Build (if stale) before any watchdog starts: a build is not the scenario's time.
    common::tool_dir_for(&["kds-gen", "kds-put", "kds-tail", "kds-s3sink"]);
    let n: u64 = scale.pick(2_500, 20_000);
    let rate: u64 = scale.pick(150, 500);
    let rt = runtime();
    let stack = Stack::get();
    let stream = rt
        .block_on(TestStream::create_named(&stack, name, 4))
        .expect("create stream");
    let bucket = rt
        .block_on(TestBucket::create_named(&stack, name))
        .expect("create bucket");
    let (_guard, dir) = scratch();
    let wd = Watchdog::start(name, Duration::from_secs(scale.pick(300, 900)));
    let mut rng = SplitMix::from_env(seed);
    let seed = rng.seed();
    let started = Instant::now();

    // The producer runs during the whole scenario.
    let mut gen_cmd = tool(&stack, "kds-gen");
    gen_cmd
        .args([
            "2021-03-19",
            "--rate",
            &rate.to_string(),
            "-n",
            &n.to_string(),
        ])
        .args(["--seed", &rng.seed().to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut g = wd.spawn("kds-gen", &mut gen_cmd);
    let mut put_cmd = tool(&stack, "kds-put");
    put_cmd
        .args(["-s", &stream.name])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut p = wd.spawn("kds-put", &mut put_cmd);
    let copy = tee(
        g.child.stdout.take().expect("piped"),
        p.child.stdin.take().expect("piped"),
    );
    let p_err = p.collect_stderr();

    let mut c = Ctx {
        stack: &stack,
        wd: &wd,
        stream: stream.name.clone(),
        bucket: bucket.name.clone(),
        checkpoint: dir.join("tail.checkpoint"),
        spill: dir.join("spill"),
        rss: Rss::default(),
    };
    let mut runs = Vec::new();
    let mut stops = 0;
    let mut producer_done = false;
    let mut k = 0;
    loop {
        // Every other run is stopped (until five stops landed), the runs in between complete
        // and commit, so the checkpoint moves between the stops.
        let action = if stops < 5 && k % 2 == 0 {
            let at = Duration::from_millis(rng.range(150, 1500));
            let (target, sig) = match stop {
                Stop::Kill => (
                    [Target::Tail, Target::Sink, Target::Both][rng.range(0, 3) as usize],
                    libc::SIGKILL,
                ),
                Stop::TermTail => (Target::Tail, libc::SIGTERM),
                Stop::TermBoth => (Target::Both, libc::SIGTERM),
                Stop::TermSink => (Target::Sink, libc::SIGTERM),
            };
            Some((at, target, sig))
        } else {
            None
        };
        // A run after the producer finished, unstopped, reads to the end of the stream.
        let last = producer_done && stops >= 5 && action.is_none();
        let end = run_once(&mut c, k, action);
        if end.stopped.is_some() {
            stops += 1;
        }
        runs.push(end);
        k += 1;
        if last {
            break;
        }
        producer_done = producer_done || (!g.alive() && !p.alive());
        wd.sleep(Duration::from_millis(300));
    }
    let g_end = g.finish(&wd);
    let p_end = p.finish(&wd);
    let seconds = started.elapsed().as_secs_f64();
    let sent = lines(&copy.get());
    p_end.assert_ok(&p_err.text());
    assert_eq!(sent.len() as u64, n, "kds-gen wrote {n} lines");
    c.rss.add(&g_end);
    c.rss.add(&p_end);

    let s3 = rt.block_on(stack.s3_client());
    let objects = rt
        .block_on(s3_records(&s3, &bucket.name, ""))
        .expect("read S3 back");
    let errors: Vec<&String> = objects
        .iter()
        .map(|(k, _)| k)
        .filter(|k| k.starts_with("rel-error/"))
        .collect();
    let in_runs = |pred: &dyn Fn(&RunEnd) -> bool| -> Vec<Vec<u8>> {
        let prefixes: Vec<&str> = runs
            .iter()
            .filter(|r| pred(r))
            .map(|r| r.prefix.as_str())
            .collect();
        objects
            .iter()
            .filter(|(k, _)| prefixes.iter().any(|p| k.starts_with(p)))
            .flat_map(|(_, recs)| recs.iter().cloned())
            .collect()
    };
    let all = in_runs(&|_| true);
    let committed = in_runs(&|r| r.committed);
    let failed = in_runs(&|r| !r.committed);
    let tally = Tally::of(&sent, &all);
    let committed_tally = Tally::of(&sent, &committed);
    let spilled = count_files(&c.spill);

    let stopped: Vec<String> = runs
        .iter()
        .filter_map(|r| r.stopped.map(|t| format!("{t:?}").to_lowercase()))
        .collect();
    let mut f = Figures::new(name, description);
    tally.fill(&mut f);
    f.dead_lettered = spilled + errors.len() as u64;
    f.peak_rss_kib = c.rss.into_vec();
    f.seconds = seconds;
    f.command = reproduce("reliability_kill");
    f.notes = format!(
        "4 shards, producer kds-gen --rate {rate} | kds-put during the runs; {} cron runs \
         (kds-tail -e --checkpoint-interval 200ms | kds-s3sink --buffer-interval 0s), {} of them \
         stopped (targets: {}), {} committed; records in objects of failed runs: {}; seed {}.",
        runs.len(),
        stopped.len(),
        stopped.join(", "),
        runs.iter().filter(|r| r.committed).count(),
        failed.len(),
        seed,
    );
    f.record().expect("record figures");

    tally.assert_complete(name);
    assert!(errors.is_empty(), "no error output: {errors:?}");
    assert_eq!(spilled, 0, "nothing spilled");
    assert_eq!(stops, 5, "five stops landed on running tools");
    // The committed runs hold every record exactly once.
    committed_tally.assert_complete(&format!("{name}: committed runs"));
    assert_eq!(
        committed_tally.duplicated, 0,
        "{name}: the committed runs hold each record once"
    );
    // Every extra copy comes from a failed run.
    assert_eq!(
        tally.duplicated,
        failed.len() as u64,
        "{name}: duplicates are exactly the records of failed runs"
    );
    // A failed run repeats nothing a committed run before it delivered (it starts after the
    // last committed checkpoint).
    let mut earlier: std::collections::HashSet<Vec<u8>> = Default::default();
    for r in &runs {
        let recs: Vec<Vec<u8>> = objects
            .iter()
            .filter(|(k, _)| k.starts_with(&r.prefix))
            .flat_map(|(_, recs)| recs.iter().cloned())
            .collect();
        if !r.committed {
            let repeated = recs.iter().filter(|x| earlier.contains(*x)).count();
            assert_eq!(
                repeated, 0,
                "{name}: failed run {} repeated {repeated} records committed before it",
                r.prefix
            );
        } else {
            earlier.extend(recs);
        }
    }
    if stop != Stop::Kill {
        assert!(
            runs.iter().all(|r| r.committed),
            "{name}: every SIGTERM-ed run exits 0 and commits"
        );
        assert_eq!(tally.duplicated, 0, "{name}: exactly once");
    }
    rt.block_on(stream.delete()).expect("delete stream");
    rt.block_on(bucket.delete()).expect("delete bucket");
}

#[test]
#[ignore = "flaky in the full suite: a stop lands only if the tools still run at the random stop point, and once the producer is done runs end at once, so five stops may never land (looped to the watchdog in CI); run by scripts/reliability (--include-ignored)"]
fn kill_resume_sigkill_five_times_loses_nothing_and_repeats_only_uncommitted_runs() {
    scenario(
        "kill-sigkill",
        "kds-tail --checkpoint | kds-s3sink cron runs, SIGKILL at random points 5 times, restarted",
        Stop::Kill,
        42,
    );
}

#[test]
#[ignore = "flaky in the full suite: a stop lands only if the tools still run at the random stop point, and once the producer is done runs end at once, so five stops may never land (looped to the watchdog in CI); run by scripts/reliability (--include-ignored)"]
fn kill_resume_sigterm_to_tail_five_times_is_exactly_once() {
    scenario(
        "kill-sigterm-tail",
        "kds-tail --checkpoint | kds-s3sink cron runs, SIGTERM to kds-tail at random points 5 times",
        Stop::TermTail,
        43,
    );
}

#[test]
#[ignore = "flaky in the full suite: a stop lands only if the tools still run at the random stop point, and once the producer is done runs end at once, so five stops may never land (looped to the watchdog in CI); run by scripts/reliability (--include-ignored)"]
fn kill_resume_sigterm_to_both_five_times_is_exactly_once() {
    scenario(
        "kill-sigterm-both",
        "kds-tail --checkpoint | kds-s3sink cron runs, SIGTERM to both tools at once, 5 times",
        Stop::TermBoth,
        44,
    );
}

/// Was a known failure (all records lost): kds-s3sink stopped reading on SIGTERM and exited 0
/// while kds-tail's records sat unread in the pipe. Now it reads its input on for up to 10 s
/// and, if the writer keeps the pipe open, exits 1 (so the run is not committed). With SIGTERM
/// to the sink alone while kds-tail keeps writing, exactly-once across a pipe is not possible
/// without an acknowledgement from the sink; this scenario now exceeds its watchdog (each
/// stopped run waits the 10 s drain) and its exactly-once claim is under review.
#[test]
#[ignore = "SIGTERM to kds-s3sink alone with a live writer: 10 s drain then exit 1 (at-least-once); exceeds the watchdog, exactly-once claim under review; run with scripts/reliability --only kill"]
fn kill_resume_sigterm_to_sink_five_times_is_exactly_once() {
    scenario(
        "kill-sigterm-sink",
        "kds-tail --checkpoint | kds-s3sink cron runs, SIGTERM to kds-s3sink at random points 5 times",
        Stop::TermSink,
        45,
    );
}
