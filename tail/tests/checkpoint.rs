//! Checkpoints: kill -9 and resume, the lock against concurrent runs, SIGTERM saves, cron use.

mod support;

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashSet};
use std::process::Stdio;
use std::time::Duration;

use anyhow::Context;
use support::*;
use testkit::process::{run_bounded, Watchdog};
use testkit::{Stack, TestStream};

fn read_checkpoint(path: &std::path::Path) -> anyhow::Result<serde_json::Value> {
    let text = std::fs::read_to_string(path).context("reading the checkpoint")?;
    serde_json::from_str(&text).context("checkpoint is JSON")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_then_restart_misses_nothing_and_repeats_only_after_the_checkpoint(
) -> anyhow::Result<()> {
    let stack = Stack::get();
    let stream = TestStream::create(&stack, 2).await?;
    let client = stack.kinesis_client().await;
    let total = 3_000;
    let puts = put_all(&client, &stream.name, &keyed_records(total, 32, "kill")).await?;
    let dir = tempfile::tempdir()?;
    let cp = dir.path().join("cp.json");
    let out1 = dir.path().join("run1.ndjson");
    let args = |cmd: &mut std::process::Command| {
        cmd.args([
            "--stream",
            &stream.name,
            "--from",
            "trim-horizon",
            "-e",
            "--envelope",
        ])
        .args(["--checkpoint-interval", "200ms", "--batch-limit", "50"])
        .arg("--checkpoint")
        .arg(&cp);
    };

    // Run 1, killed with SIGKILL about halfway.
    let mut cmd = tail(&stack);
    args(&mut cmd);
    cmd.stdout(Stdio::from(std::fs::File::create(&out1)?))
        .stderr(Stdio::null());
    let wd = Watchdog::start("kds-tail run 1", Duration::from_secs(60));
    let child = wd.spawn("kds-tail", &mut cmd);
    tokio::task::block_in_place(|| {
        wd.wait_until("half the records", || count_lines(&out1) >= total / 2)
    });
    child.signal(libc::SIGKILL);
    let status = child.finish(&wd).status;
    assert!(!status.success(), "killed: {status:?}");
    let run1 = envelopes(&std::fs::read(&out1)?);
    assert!(
        run1.len() < total,
        "killed before the end ({} records)",
        run1.len()
    );

    let saved = read_checkpoint(&cp)?;
    let positions: BTreeMap<String, String> = saved["shards"]
        .as_object()
        .context("shards map")?
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
        .collect();
    assert!(
        !positions.is_empty(),
        "a checkpoint was written before the kill: {saved}"
    );
    let covered = |e: &Env| {
        positions
            .get(&e.shard_id)
            .is_some_and(|cp| seq_cmp(&e.sequence_number, cp) != Ordering::Greater)
    };
    // Everything the checkpoint covers was really written by run 1.
    for (shard, seq) in &positions {
        assert!(
            run1.iter()
                .any(|e| &e.shard_id == shard && &e.sequence_number == seq),
            "checkpointed {shard}/{seq} was written"
        );
    }

    // Run 2 resumes from the checkpoint.
    let mut cmd = tail(&stack);
    args(&mut cmd);
    let out = tokio::task::spawn_blocking(move || run_bounded(cmd, None, Duration::from_secs(60)))
        .await?;
    assert!(out.status.success(), "{}", out.stderr);
    let run2 = envelopes(&out.stdout);

    let key = |e: &Env| (e.shard_id.clone(), e.sequence_number.clone());
    let set2: HashSet<_> = run2.iter().map(key).collect();
    assert_eq!(set2.len(), run2.len(), "no duplicates within run 2");
    let set1: HashSet<_> = run1.iter().map(key).collect();
    let all: HashSet<_> = puts
        .iter()
        .map(|p| (p.shard_id.clone(), p.sequence_number.clone()))
        .collect();
    let union: HashSet<_> = set1.union(&set2).cloned().collect();
    assert_eq!(union.len(), total, "no record missing");
    assert!(union == all, "exactly the records written");
    assert!(
        run2.iter().all(|e| !covered(e)),
        "run 2 re-reads nothing the checkpoint covers"
    );
    let duplicates = run1.iter().filter(|e| set2.contains(&key(e))).count();
    let after_checkpoint = run1.iter().filter(|e| !covered(e)).count();
    eprintln!(
        "run 1 wrote {} records, checkpoint covered {}, duplicates in run 2: {duplicates}",
        run1.len(),
        run1.len() - after_checkpoint
    );
    assert_eq!(
        duplicates, after_checkpoint,
        "exactly the records written after the last checkpoint are repeated"
    );
    let finished = saved["finished"].as_array().map(Vec::len).unwrap_or(0);
    assert_eq!(finished, 0, "open shards are never finished");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_checkpoint_one_run_and_cron_style_resume() -> anyhow::Result<()> {
    let stack = Stack::get();
    let stream = TestStream::create(&stack, 1).await?;
    let client = stack.kinesis_client().await;
    put_all(&client, &stream.name, &keyed_records(5, 2, "old")).await?;
    let dir = tempfile::tempdir()?;
    let cp = dir.path().join("state").join("cp.json");
    std::fs::create_dir_all(cp.parent().context("dir")?)?;
    let out_a = dir.path().join("a.ndjson");

    // Run A: live, from latest; SIGTERM later.
    let mut cmd = tail(&stack);
    cmd.args([
        "--stream",
        &stream.name,
        "--from",
        "latest",
        "--checkpoint-interval",
        "1h",
    ])
    .arg("--checkpoint")
    .arg(&cp)
    .stdout(Stdio::from(std::fs::File::create(&out_a)?))
    .stderr(Stdio::piped());
    let wd = Watchdog::start("kds-tail run A", Duration::from_secs(120));
    let a = wd.spawn("kds-tail", &mut cmd);
    wait_until_reading(&client, &stream.name, &out_a).await?;
    let new = keyed_records(5, 2, "new");
    let puts = put_all(&client, &stream.name, &new).await?;
    tokio::task::block_in_place(|| {
        wd.wait_until("the new records", || {
            without_probes(&std::fs::read(&out_a).unwrap_or_default()).len() >= 5
        })
    });

    // Run B on the same checkpoint is refused.
    let mut cmd = tail(&stack);
    cmd.args(["--stream", &stream.name, "-e"])
        .arg("--checkpoint")
        .arg(&cp);
    let b = tokio::task::spawn_blocking(move || run_bounded(cmd, None, Duration::from_secs(30)))
        .await?;
    let b_err = &b.stderr;
    assert_eq!(b.status.code(), Some(1), "second run exits 1: {b_err}");
    assert!(
        b_err.starts_with("kds-tail: checkpoint ") && b_err.contains("in use by another kds-tail"),
        "clear message: {b_err}"
    );
    assert_eq!(b_err.trim_end().lines().count(), 1, "one line: {b_err}");
    assert!(b.stdout.is_empty());

    // SIGTERM: A stops, writes its checkpoint, exits 0.
    a.signal(libc::SIGTERM);
    let status = a.finish(&wd).status;
    assert!(status.success(), "SIGTERM exit: {status:?}");
    let a_lines = without_probes(&std::fs::read(&out_a)?);
    let want: Vec<Vec<u8>> = new.iter().map(|(_, d)| d.clone()).collect();
    assert_eq!(
        a_lines, want,
        "--from latest: only records put after the start, in order"
    );
    let saved = read_checkpoint(&cp)?;
    let last = puts.last().context("puts")?;
    assert_eq!(
        saved["shards"][&last.shard_id],
        last.sequence_number.as_str()
    );
    assert_eq!(saved["stream"], stream.name.as_str());
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&cp)?.permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "checkpoint mode");
    }

    // Cron-style: a run with nothing new writes nothing; the next one gets just what is new.
    let run = |stack: &Stack| {
        let mut cmd = tail(stack);
        cmd.args(["--stream", &stream.name, "-e"])
            .arg("--checkpoint")
            .arg(&cp);
        cmd
    };
    let cmd = run(&stack);
    let c = tokio::task::spawn_blocking(move || run_bounded(cmd, None, Duration::from_secs(30)))
        .await?;
    assert!(c.status.success(), "{}", c.stderr);
    assert!(
        c.stdout.is_empty(),
        "nothing new: {}",
        String::from_utf8_lossy(&c.stdout)
    );
    let more = keyed_records(2, 2, "more");
    put_all(&client, &stream.name, &more).await?;
    let cmd = run(&stack);
    let d = tokio::task::spawn_blocking(move || run_bounded(cmd, None, Duration::from_secs(30)))
        .await?;
    assert!(d.status.success(), "{}", d.stderr);
    let want: Vec<Vec<u8>> = more.iter().map(|(_, d)| d.clone()).collect();
    assert_eq!(lines(&d.stdout), want, "resumed after the checkpoint");
    Ok(())
}

/// Marks the probe records of [`wait_until_reading`].
const PROBE: &[u8] = b"{\"probe\":";

/// `--from latest` places each shard's iterator at the tip when GetShardIterator answers, a
/// moment after the start that a loaded machine stretches: records put before then are not
/// read. Puts a probe record every second until one is in `out` (bounded), so that records
/// put afterwards are certainly read.
async fn wait_until_reading(
    client: &aws_sdk_kinesis::Client,
    stream: &str,
    out: &std::path::Path,
) -> anyhow::Result<()> {
    let limit = Duration::from_secs(60);
    let deadline = tokio::time::Instant::now() + limit;
    for n in 0.. {
        let probe = format!("{}{n}}}", String::from_utf8_lossy(PROBE));
        put_all(client, stream, &[("probe".to_string(), probe.into_bytes())]).await?;
        let next_probe = tokio::time::Instant::now() + Duration::from_secs(1);
        while tokio::time::Instant::now() < next_probe {
            let written = std::fs::read(out).unwrap_or_default();
            if lines(&written).iter().any(|l| l.starts_with(PROBE)) {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "kds-tail --from latest wrote none of {} probe records within {limit:?}",
            n + 1
        );
    }
    Ok(())
}

/// The lines of `out` that are not probe records.
fn without_probes(out: &[u8]) -> Vec<Vec<u8>> {
    lines(out)
        .into_iter()
        .filter(|l| !l.starts_with(PROBE))
        .collect()
}
