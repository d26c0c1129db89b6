//! scripts/lab1.sh, the lab's producer: run in the background as `lab1.sh STREAM TDATE &`, it
//! writes the lab's log and stops on SIGTERM without losing what it had generated.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use testkit::process::{poll_until, ForeignProcess};
use testkit::{read_stream_all, Stack, TestStream};

#[tokio::test(flavor = "multi_thread")]
async fn lab1_sh_in_background_logs_its_start_and_loses_nothing_on_sigterm() {
    let stack = Stack::get();
    let stream = TestStream::create(&stack, 2).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let bin = common::tool_dir_for(&["kds-gen", "kds-put"]);

    // As the lab does: `sh lab1.sh kds-lab1 2021-03-19 &` from a shell that then goes on.
    let launch = format!(
        "{} --events events.ndjson --bin {} {} 2021-03-19 -- --rate 200 >stdout.txt 2>stderr.txt & echo $!",
        common::script("lab1.sh").display(),
        bin.display(),
        stream.name
    );
    let out = stack
        .command("bash")
        .arg("-c")
        .arg(&launch)
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "launch failed: {out:?}");
    let pid: i32 = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("pid of the background job");
    let job = ForeignProcess::open(pid).expect("lab1.sh is not running in the background");

    // Its log file (default: lab1.log in the current directory) says it started.
    let log = dir.path().join("lab1.log");
    let events = dir.path().join("events.ndjson");
    poll_until(
        "the start line in lab1.log",
        Duration::from_secs(60),
        || {
            common::lines_of(&log)
                .iter()
                .any(|l| l.contains("kds-gen started: tdate=2021-03-19"))
        },
    );
    poll_until("events being generated", Duration::from_secs(60), || {
        common::lines_of(&events).len() >= 300
    });
    assert!(
        job.alive(),
        "lab1.sh ended by itself; it should run until stopped"
    );

    // SIGTERM: the generator stops, kds-put delivers everything already generated.
    job.signal(libc::SIGTERM)
        .unwrap_or_else(|e| panic!("kill -TERM {pid}: {e}"));
    poll_until(
        "lab1.sh to exit after SIGTERM",
        Duration::from_secs(60),
        || !job.alive(),
    );

    let log_lines = common::lines_of(&log);
    let stop = log_lines.last().expect("log lines");
    assert!(
        stop.contains("lab1.sh stopped: stopped by signal") && stop.contains("kds-gen=0 kds-put=0"),
        "last log line: {stop}\nstderr: {}",
        std::fs::read_to_string(dir.path().join("stderr.txt")).unwrap_or_default()
    );

    let generated = common::lines_of(&events);
    assert!(!generated.is_empty());
    assert!(
        stop.contains(&format!("events={}", generated.len())),
        "{stop}"
    );
    // kds-gen numbers its events 1, 2, 3, ...: the copy is the whole run, without gaps.
    let tids: BTreeSet<u64> = generated
        .iter()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            assert_eq!(v["tdate"], "2021-03-19");
            v["tid"].as_str().unwrap().parse().unwrap()
        })
        .collect();
    assert_eq!(tids, (1..=generated.len() as u64).collect::<BTreeSet<_>>());

    // The stream holds exactly the generated events: none lost at the stop, none doubled.
    let records = read_stream_all(&stack.kinesis_client().await, &stream.name)
        .await
        .unwrap();
    let mut in_stream: Vec<String> = records.iter().map(|r| r.text()).collect();
    in_stream.sort();
    let mut want = generated.clone();
    want.sort();
    assert_eq!(
        in_stream.len(),
        want.len(),
        "records in the stream vs generated"
    );
    assert!(
        in_stream == want,
        "stream contents differ from the generated events"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn lab1_sh_ends_by_itself_when_the_generator_is_bounded() {
    let stack = Stack::get();
    let stream = TestStream::create(&stack, 1).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = stack
        .command("bash")
        .arg(common::script("lab1.sh"))
        .arg("--log")
        .arg(dir.path().join("my.log"))
        .arg("--receipts")
        .arg(dir.path().join("receipts.ndjson"))
        .arg("--bin")
        .arg(common::tool_dir_for(&["kds-gen", "kds-put"]))
        .args([&stream.name, "2021-03-19", "--", "--rate", "0", "-n", "250"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let log = common::lines_of(&dir.path().join("my.log"));
    assert_eq!(log.len(), 2, "{log:?}");
    assert!(
        log[0].contains("kds-gen started: tdate=2021-03-19"),
        "{log:?}"
    );
    assert!(
        log[1].contains("lab1.sh stopped: generator ended"),
        "{log:?}"
    );
    assert!(log[1].contains("delivered=250"), "{log:?}");
    assert_eq!(
        common::lines_of(&dir.path().join("receipts.ndjson")).len(),
        250
    );
    let records = read_stream_all(&stack.kinesis_client().await, &stream.name)
        .await
        .unwrap();
    assert_eq!(records.len(), 250);
}

#[test]
fn lab1_sh_usage_errors_exit_2() {
    for args in [&[][..], &["s", "19-03-2021"][..], &["--nope", "s"][..]] {
        let out = std::process::Command::new("bash")
            .arg(common::script("lab1.sh"))
            .args(args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
    }
}
