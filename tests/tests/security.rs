//! Security basics:
//! - credentials are never printed: each AWS tool runs with distinctive fake credentials (the
//!   emulators accept any), with `-v`, on its happy path and its error paths (missing stream or
//!   bucket, an endpoint nobody listens on, and an endpoint that answers AccessDenied like AWS
//!   does), and neither the secret key, the session token nor the access key id appear on
//!   stdout or stderr;
//! - kds-tail's checkpoint (and its lock) and kds-s3sink's spill files are created with mode
//!   0600 (the spill directory 0700), even under umask 000, and written through a temporary
//!   file in the target directory (nothing left behind, no use of $TMPDIR);
//! - no tool crate runs a shell or any other program (a scan of the sources, itself tested on
//!   a sample so it can fail).
//!
//! Every child runs under a watchdog.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use testkit::{Stack, TestBucket, TestStream};

const ACCESS_KEY_ID: &str = "AKIAKDSSECURITYTEST7";
const SECRET: &str = "SECRETkds123/NeverPrintThis+k3yMaterialXYZ";
const SESSION_TOKEN: &str = "TOKENkds456SessionTokenThatMustStayHidden";

struct Run {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

/// Runs `cmd` (stdin from `input`), killing it after `limit` (which fails the test); the
/// failure names the program and arguments only, never the environment (it holds the secret).
fn run_bounded(cmd: Command, input: &[u8], limit: Duration) -> Run {
    let run = testkit::process::run_bounded(cmd, Some(input.to_vec()), limit);
    Run {
        status: run.status,
        stdout: String::from_utf8_lossy(&run.stdout).into_owned(),
        stderr: run.stderr,
    }
}

/// A command for `tool` on the local stack, with the fake credentials (and a session token)
/// in its environment instead of the stack's, `RUST_LOG` and `RUST_BACKTRACE` at their most
/// talkative.
fn tool_command(stack: &Stack, tool: &str) -> Command {
    let mut cmd = stack.command(testkit::bin_path(tool));
    cmd.env("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID)
        .env("AWS_SECRET_ACCESS_KEY", SECRET)
        .env("AWS_SESSION_TOKEN", SESSION_TOKEN)
        .env("RUST_LOG", "trace")
        // The call log at its most verbose.
        .env("KDS_LOG", "trace")
        .env("RUST_BACKTRACE", "full");
    cmd
}

/// Neither the secret (also percent-encoded), the token nor the key id was printed.
fn assert_no_credentials(what: &str, run: &Run) {
    eprintln!("--- {what}: {:?}\n{}", run.status, run.stderr);
    let encoded_secret = SECRET.replace('/', "%2F").replace('+', "%2B");
    for (stream, text) in [("stdout", &run.stdout), ("stderr", &run.stderr)] {
        for (name, needle) in [
            ("secret access key", SECRET),
            (
                "secret access key (percent-encoded)",
                encoded_secret.as_str(),
            ),
            ("secret access key (part)", "SECRETkds123"),
            ("session token", SESSION_TOKEN),
            ("access key id", ACCESS_KEY_ID),
        ] {
            assert!(
                !text.contains(needle),
                "{what}: the {name} appears on {stream}:\n{}",
                text.replace(needle, "<<HERE>>")
            );
        }
    }
    assert_ne!(
        run.status.code(),
        Some(101),
        "{what}: panicked:\n{}",
        run.stderr
    );
}

/// A fake AWS endpoint that refuses every request the way AWS does: Kinesis (awsJson,
/// `X-Amz-Target`) 400 AccessDeniedException, S3 403 InvalidAccessKeyId (whose body, like
/// S3's, holds the access key id: a tool must not dump raw responses).
/// It records each request's Authorization header, to prove the tool really used the fake
/// credentials.
struct DenyingServer {
    url: String,
    auth: Arc<Mutex<Vec<String>>>,
}

impl DenyingServer {
    fn start() -> DenyingServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let auth = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&auth);
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let seen = Arc::clone(&seen);
                std::thread::spawn(move || {
                    let _ = serve_denied(conn, &seen);
                });
            }
        });
        DenyingServer { url, auth }
    }

    fn saw_key_id(&self) -> bool {
        self.auth
            .lock()
            .expect("lock")
            .iter()
            .any(|a| a.contains(&format!("Credential={ACCESS_KEY_ID}/")))
    }
}

fn serve_denied(conn: std::net::TcpStream, seen: &Mutex<Vec<String>>) -> std::io::Result<()> {
    conn.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut conn = conn;
    loop {
        // One request per loop (keep-alive): head, then the body by Content-Length.
        let mut request_line = String::new();
        if reader.read_line(&mut request_line)? == 0 {
            return Ok(());
        }
        let method = request_line.split(' ').next().unwrap_or("").to_string();
        let mut length = 0usize;
        let mut kinesis = false;
        let mut expect_continue = false;
        let mut chunked = false;
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h)? == 0 {
                return Ok(());
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            let lower = h.to_ascii_lowercase();
            if let Some(v) = lower.strip_prefix("content-length:") {
                length = v.trim().parse().unwrap_or(0);
            } else if lower.starts_with("x-amz-target:") {
                kinesis = true;
            } else if lower.starts_with("expect:") && lower.contains("100-continue") {
                expect_continue = true;
            } else if lower.starts_with("transfer-encoding:") && lower.contains("chunked") {
                chunked = true;
            } else if lower.starts_with("authorization:") {
                seen.lock().expect("lock").push(h.to_string());
            }
        }
        let (status, content_type, body) = if kinesis {
            (
                "400 Bad Request",
                "application/x-amz-json-1.1",
                r#"{"__type":"AccessDeniedException","message":"User: arn:aws:iam::123456789012:user/kds-test is not authorized to perform this action because no identity-based policy allows it"}"#.to_string(),
            )
        } else {
            // What S3 answers to an unknown key id: it echoes the key id back in the body.
            (
                "403 Forbidden",
                "application/xml",
                format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>InvalidAccessKeyId</Code><Message>The AWS Access Key Id you provided does not exist in our records.</Message><AWSAccessKeyId>{ACCESS_KEY_ID}</AWSAccessKeyId><RequestId>KDS0TEST</RequestId><HostId>kds-test</HostId></Error>"),
            )
        };
        let body = if method == "HEAD" {
            String::new()
        } else {
            body
        };
        let close = expect_continue || chunked;
        if !close && length > 0 {
            let mut skip = vec![0u8; length];
            reader.read_exact(&mut skip)?;
        }
        write!(
            conn,
            "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nx-amzn-RequestId: KDS0TEST\r\nx-amz-request-id: KDS0TEST\r\n{}\r\n{body}",
            body.len(),
            if close { "Connection: close\r\n" } else { "" }
        )?;
        conn.flush()?;
        if close {
            // Let the client finish sending what it wanted to, then close.
            let mut sink = [0u8; 65536];
            while let Ok(n) = reader.read(&mut sink) {
                if n == 0 {
                    break;
                }
            }
            return Ok(());
        }
    }
}

/// A local port nobody listens on.
fn dead_endpoint() -> String {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = l.local_addr().expect("addr");
    drop(l);
    format!("http://{addr}")
}

const TRADES: &str = concat!(
    r#"{"tid":"1","tno":"AbCd20210319131548","tdate":"2021-03-19","uno":"U1001","pno":"P1002","tnum":10,"tuptime":"2021-03-19T13:15:48Z"}"#,
    "\n",
    r#"{"tid":"2","tno":"EfGh20210319131549","tdate":"2021-03-19","uno":"U1003","pno":"P1004","tnum":20,"tuptime":"2021-03-19T13:15:49Z"}"#,
    "\n"
);

/// Each run of `tool` (what it tried, its output, the exit code it must give or `None` for any
/// failure) printed no credential and ended as it must; and the denying endpoint really saw the
/// fake key id (otherwise the "access denied" run would prove nothing).
fn check_runs(tool: &str, runs: &[(&str, Run, Option<i32>)], deny: &DenyingServer) {
    for (what, run, code) in runs {
        assert_no_credentials(&format!("{tool} {what}"), run);
        match code {
            Some(c) => assert_eq!(run.status.code(), Some(*c), "{tool} {what}: {}", run.stderr),
            None => assert!(
                !run.status.success(),
                "{tool} {what} must fail: {}",
                run.stderr
            ),
        }
    }
    assert!(
        deny.saw_key_id(),
        "the denying endpoint never saw the fake access key id: the test would prove nothing"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn kds_put_never_prints_credentials() {
    let stack = Stack::get();
    let stream = TestStream::create(&stack, 1).await.expect("stream");
    let deny = DenyingServer::start();
    let dead = dead_endpoint();
    let limit = Duration::from_secs(120);
    let name = stream.name.clone();
    let (stack2, deny_url) = (stack.clone(), deny.url.clone());
    let runs = tokio::task::spawn_blocking(move || {
        let put = |args: &[&str]| {
            let mut cmd = tool_command(&stack2, "kds-put");
            cmd.args(["-v", "--max-retries", "1", "--retry-max", "200ms"])
                .args(args);
            run_bounded(cmd, TRADES.as_bytes(), limit)
        };
        vec![
            (
                "happy path",
                put(&["--stream", &name, "--receipts"]),
                Some(0),
            ),
            (
                "missing stream",
                put(&["--stream", "kds-no-such-stream-for-security"]),
                Some(2),
            ),
            (
                "dead endpoint",
                put(&["--stream", &name, "--endpoint-url", &dead]),
                None,
            ),
            (
                "access denied",
                put(&["--stream", &name, "--endpoint-url", &deny_url]),
                None,
            ),
        ]
    })
    .await
    .expect("join");
    check_runs("kds-put", &runs, &deny);
    for (what, run, _) in &runs {
        // Errors are one line each (`Code: message (HTTP status)`), not the SDK's Debug dump
        // of the raw response that `DisplayErrorContext` appends.
        assert!(
            !run.stderr.contains("raw: Response") && !run.stderr.contains("SdkBody"),
            "kds-put {what}: an SDK Debug dump on stderr: {}",
            run.stderr
        );
    }
    stream.delete().await.ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn kds_tail_never_prints_credentials() {
    let stack = Stack::get();
    let stream = TestStream::create(&stack, 1).await.expect("stream");
    let deny = DenyingServer::start();
    let dead = dead_endpoint();
    let limit = Duration::from_secs(150);
    let name = stream.name.clone();
    let (stack2, deny_url) = (stack.clone(), deny.url.clone());
    let runs = tokio::task::spawn_blocking(move || {
        let tail = |args: &[&str]| {
            let mut cmd = tool_command(&stack2, "kds-tail");
            cmd.args(["-v", "-e", "--from", "trim-horizon"]).args(args);
            run_bounded(cmd, b"", limit)
        };
        vec![
            (
                "happy path",
                tail(&["--stream", &name, "--envelope"]),
                Some(0),
            ),
            (
                "missing stream",
                tail(&["--stream", "kds-no-such-stream-for-security"]),
                Some(2),
            ),
            (
                "dead endpoint",
                tail(&["--stream", &name, "--endpoint-url", &dead]),
                None,
            ),
            (
                "access denied",
                tail(&["--stream", &name, "--endpoint-url", &deny_url]),
                None,
            ),
        ]
    })
    .await
    .expect("join");
    check_runs("kds-tail", &runs, &deny);
    stream.delete().await.ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn kds_s3sink_never_prints_credentials() {
    let stack = Stack::get();
    let bucket = TestBucket::create(&stack).await.expect("bucket");
    let deny = DenyingServer::start();
    let dead = dead_endpoint();
    let dir = tempfile::tempdir().expect("tempdir");
    let limit = Duration::from_secs(120);
    let name = bucket.name.clone();
    let (stack2, deny_url, spill) = (stack.clone(), deny.url.clone(), dir.path().to_path_buf());
    let runs = tokio::task::spawn_blocking(move || {
        let sink = |args: &[&str], spill_name: &str| {
            let mut cmd = tool_command(&stack2, "kds-s3sink");
            cmd.args(["-v", "--retry-duration", "1s", "--prefix", "sec/"])
                .arg("--spill")
                .arg(spill.join(spill_name))
                .args(args);
            run_bounded(cmd, TRADES.as_bytes(), limit)
        };
        vec![
            ("happy path", sink(&["--bucket", &name], "a"), Some(0)),
            (
                "missing bucket",
                sink(&["--bucket", "kds-no-such-bucket-for-security"], "b"),
                None,
            ),
            (
                "dead endpoint",
                sink(&["--bucket", &name, "--endpoint-url", &dead], "c"),
                Some(1),
            ),
            (
                "access denied",
                // Refused at start-up by HeadBucket: a configuration error, exit 2.
                sink(&["--bucket", &name, "--endpoint-url", &deny_url], "d"),
                Some(2),
            ),
        ]
    })
    .await
    .expect("join");
    check_runs("kds-s3sink", &runs, &deny);
    bucket.delete().await.ok();
}

// ---------------------------------------------------------------------------------------------
// File modes and temporary files
// ---------------------------------------------------------------------------------------------

/// `--show-config` names the credentials' source and a masked key id, never a secret; and the
/// call log (`KDS_LOG=debug`) really logs the calls, so the runs above did exercise it.
#[test]
fn show_config_and_the_call_log_print_no_secret() {
    let stack = Stack::get();
    for tool in ["kds-put", "kds-tail", "kds-s3sink"] {
        let mut cmd = tool_command(&stack, tool);
        let target = if tool == "kds-s3sink" {
            "--bucket"
        } else {
            "--stream"
        };
        cmd.args([target, "kds-security-show-config", "--show-config"]);
        let run = run_bounded(cmd, b"", Duration::from_secs(30));
        assert_no_credentials(&format!("{tool} --show-config"), &run);
        assert_eq!(run.status.code(), Some(0), "{tool}: {}", run.stderr);
        assert!(
            run.stdout.contains("env (AWS_ACCESS_KEY_ID)") && run.stdout.contains("EST7"),
            "{tool}: {}",
            run.stdout
        );
    }
    let deny = DenyingServer::start();
    let mut cmd = tool_command(&stack, "kds-tail");
    cmd.env("KDS_LOG", "debug")
        .args(["--stream", "kds-security-log", "--endpoint-url", &deny.url]);
    let run = run_bounded(cmd, b"", Duration::from_secs(60));
    assert_no_credentials("kds-tail KDS_LOG=debug", &run);
    assert!(
        run.stderr.contains("DescribeStreamSummary") && run.stderr.contains("status=400"),
        "the call log names the operation and the status: {}",
        run.stderr
    );
    assert!(deny.saw_key_id());

    // The SDK's own trace (opted into by name) shows the access key id, as the AWS CLI's
    // --debug does, but never the secret or the session token.
    let mut cmd = tool_command(&stack, "kds-tail");
    cmd.env("KDS_LOG", "trace,aws=trace,hyper=trace").args([
        "--stream",
        "kds-security-log",
        "--endpoint-url",
        &deny.url,
    ]);
    let run = run_bounded(cmd, b"", Duration::from_secs(60));
    let encoded_secret = SECRET.replace('/', "%2F").replace('+', "%2B");
    for needle in [
        SECRET,
        encoded_secret.as_str(),
        "SECRETkds123",
        SESSION_TOKEN,
    ] {
        assert!(
            !run.stderr.contains(needle) && !run.stdout.contains(needle),
            "SDK trace shows a secret: {}",
            run.stderr.replace(needle, "<<HERE>>")
        );
    }
    assert!(
        run.stderr.contains("aws_smithy_runtime"),
        "SDK trace was on"
    );
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .permissions()
        .mode()
        & 0o777
}

fn names_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .expect("read_dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// Runs the child with umask 000 (so a file created with the default 0666 would be
/// world-writable) and TMPDIR pointing nowhere (a temporary file outside the target directory
/// fails the run).
fn strict_fs(cmd: &mut Command) {
    cmd.env("TMPDIR", "/nonexistent/kds-security-tmpdir");
    // SAFETY: umask(2) is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            libc::umask(0);
            Ok(())
        });
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn tail_checkpoint_is_private_and_written_in_its_directory() {
    let stack = Stack::get();
    let stream = TestStream::create(&stack, 2).await.expect("stream");
    let client = stack.kinesis_client().await;
    for i in 0..20 {
        client
            .put_record()
            .stream_name(&stream.name)
            .partition_key(format!("k{i}"))
            .data(aws_sdk_kinesis::primitives::Blob::new(format!(
                "{{\"i\":{i}}}"
            )))
            .send()
            .await
            .expect("put");
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let cpdir = dir.path().join("state");
    std::fs::create_dir(&cpdir).expect("mkdir");
    let cp = cpdir.join("tail.checkpoint");
    let (stack2, name, cp2) = (stack.clone(), stream.name.clone(), cp.clone());
    let run = tokio::task::spawn_blocking(move || {
        let mut cmd = stack2.command(testkit::bin_path("kds-tail"));
        cmd.args([
            "--stream",
            &name,
            "--from",
            "trim-horizon",
            "-e",
            "--checkpoint-interval",
            "1s",
            "--checkpoint",
        ])
        .arg(&cp2);
        strict_fs(&mut cmd);
        run_bounded(cmd, b"", Duration::from_secs(120))
    })
    .await
    .expect("join");
    assert_eq!(run.status.code(), Some(0), "{}", run.stderr);
    assert_eq!(run.stdout.lines().count(), 20);
    assert_eq!(mode(&cp), 0o600, "checkpoint mode");
    let lock = PathBuf::from(format!("{}.lock", cp.display()));
    assert_eq!(mode(&lock), 0o600, "lock file mode");
    assert_eq!(
        names_in(&cpdir),
        vec![
            "tail.checkpoint".to_string(),
            "tail.checkpoint.lock".to_string()
        ],
        "temporary files left in the checkpoint directory"
    );
    // A checkpoint that already exists with a loose mode is replaced by a private one.
    std::fs::set_permissions(&cp, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let (stack2, name, cp2) = (stack.clone(), stream.name.clone(), cp.clone());
    let run = tokio::task::spawn_blocking(move || {
        let mut cmd = stack2.command(testkit::bin_path("kds-tail"));
        cmd.args(["--stream", &name, "-e", "--checkpoint"])
            .arg(&cp2);
        strict_fs(&mut cmd);
        run_bounded(cmd, b"", Duration::from_secs(120))
    })
    .await
    .expect("join");
    assert_eq!(run.status.code(), Some(0), "{}", run.stderr);
    assert_eq!(
        run.stdout.lines().count(),
        0,
        "resumed after the checkpoint"
    );
    assert_eq!(mode(&cp), 0o600, "rewritten checkpoint mode");
    stream.delete().await.ok();
}

#[test]
fn s3sink_spill_files_are_private_and_written_in_the_spill_directory() {
    // S3 unreachable: everything is spilled. No stack needed for this one.
    let dir = tempfile::tempdir().expect("tempdir");
    let spill = dir.path().join("spill");
    let mut cmd = Command::new(testkit::bin_path("kds-s3sink"));
    cmd.args([
        "--bucket",
        "kds-spill-test",
        "--prefix",
        "p/",
        "--retry-duration",
        "1s",
        "--region",
        "us-east-1",
        "--endpoint-url",
        &dead_endpoint(),
    ])
    .arg("--spill")
    .arg(&spill)
    .env("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID)
    .env("AWS_SECRET_ACCESS_KEY", SECRET)
    .env_remove("AWS_PROFILE");
    strict_fs(&mut cmd);
    let run = run_bounded(cmd, TRADES.as_bytes(), Duration::from_secs(120));
    assert_no_credentials("kds-s3sink spill", &run);
    assert_eq!(run.status.code(), Some(1), "{}", run.stderr);
    assert!(
        run.stderr.contains("could not be delivered"),
        "{}",
        run.stderr
    );
    assert_eq!(mode(&spill), 0o700, "spill directory mode");
    let names = names_in(&spill);
    assert_eq!(
        names.len(),
        1,
        "one spilled object, no temporary files: {names:?}"
    );
    assert!(names[0].starts_with("p%2F"), "{names:?}");
    let file = spill.join(&names[0]);
    assert_eq!(mode(&file), 0o600, "spill file mode");
    let body = std::fs::read(&file).expect("read spill");
    assert_eq!(body, TRADES.replace('\n', "").as_bytes(), "spilled records");
}

// ---------------------------------------------------------------------------------------------
// No shell-outs
// ---------------------------------------------------------------------------------------------

/// Ways a Rust program can run another program.
const SPAWN_PATTERNS: &[&str] = &[
    "process::Command",
    "Command::new",
    "tokio::process",
    "libc::system",
    "libc::exec",
    "libc::popen",
    "libc::posix_spawn",
    "libc::fork",
    "nix::unistd::exec",
    "\"/bin/sh\"",
    "\"sh\"",
    "\"bash\"",
];

/// Lines of non-test code in `source` that can start a program: comments and `#[cfg(test)]`
/// modules are skipped.
fn spawning_lines(source: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    let mut lines = source.lines().enumerate().peekable();
    while let Some((i, line)) = lines.next() {
        let t = line.trim_start();
        if t.starts_with("#[cfg(test)]") {
            // A test module: skip it (and everything after it, where unit tests live).
            if lines
                .peek()
                .is_some_and(|(_, next)| next.trim_start().starts_with("mod "))
            {
                break;
            }
        }
        if t.starts_with("//") {
            continue;
        }
        let code = t.split(" //").next().unwrap_or(t);
        if SPAWN_PATTERNS.iter().any(|p| code.contains(p)) {
            found.push((i + 1, line.to_string()));
        }
    }
    found
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).expect("read_dir").flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn the_source_scan_finds_a_shell_out() {
    let sample = "fn f(user: &str) {\n    // Command::new in a comment is fine\n    let _ = std::process::Command::new(\"sh\").arg(\"-c\").arg(user).status();\n}\n#[cfg(test)]\nmod tests {\n    fn t() { std::process::Command::new(\"true\"); }\n}\n";
    let found = spawning_lines(sample);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].0, 3);
}

#[test]
fn no_tool_crate_runs_another_program() {
    let root = testkit::repo_root();
    let mut files = Vec::new();
    for krate in ["common", "gen", "put", "tail", "window", "s3sink"] {
        let src = root.join(krate).join("src");
        assert!(src.is_dir(), "{} missing", src.display());
        rust_files(&src, &mut files);
        let build = root.join(krate).join("build.rs");
        if build.is_file() {
            files.push(build);
        }
    }
    assert!(files.len() > 30, "scanned only {} files", files.len());
    let mut hits = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).expect("read source");
        for (n, line) in spawning_lines(&text) {
            hits.push(format!("{}:{n}: {}", f.display(), line.trim()));
        }
    }
    assert!(
        hits.is_empty(),
        "tool code that can run another program (review it for user input, then adjust this test):\n{}",
        hits.join("\n")
    );
}
