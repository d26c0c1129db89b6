//! scripts/stack: both emulators listen on 127.0.0.1 only (checked with `ss -ltn`), and
//! `scripts/stack exec CMD` runs one command with the stack's environment.

mod common;

use std::process::Command;

use testkit::{repo_root, Stack};

fn stack_var(stack: &Stack, name: &str) -> String {
    stack
        .env_vars()
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
        .unwrap_or_else(|| panic!("{name} missing from .tools/stack.env"))
}

/// Local addresses of the listening TCP sockets whose port is `port`, from `ss -ltn`.
fn listeners_on(port: &str) -> Vec<String> {
    let out = Command::new("ss")
        .args(["-ltnH"])
        .output()
        .expect("run ss -ltn");
    assert!(out.status.success(), "ss -ltn: {out:?}");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().nth(3).map(str::to_string))
        .filter(|local| local.rsplit_once(':').is_some_and(|(_, p)| p == port))
        .collect()
}

#[test]
fn both_emulators_listen_on_loopback_only() {
    let stack = Stack::get();
    for var in ["KDS_STACK_KINESIS_PORT", "KDS_STACK_S3_PORT"] {
        let port = stack_var(&stack, var);
        let local = listeners_on(&port);
        assert!(!local.is_empty(), "nothing listens on port {port} ({var})");
        assert!(
            local.iter().all(|a| a == &format!("127.0.0.1:{port}")),
            "{var}: {local:?} (must be 127.0.0.1 only, not 0.0.0.0, * or [::])"
        );
    }
    // Every socket kinesis-local listens on (its TLS port too), found by its pid.
    let pid = std::fs::read_to_string(repo_root().join(".tools/run/kinesis.pid"))
        .expect("kinesis pid file");
    let out = Command::new("ss")
        .args(["-ltnpH"])
        .output()
        .expect("run ss -ltnp");
    let own: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains(&format!("pid={},", pid.trim())))
        .filter_map(|l| l.split_whitespace().nth(3).map(str::to_string))
        .collect();
    for local in &own {
        assert!(
            local.starts_with("127.0.0.1:"),
            "kinesis-local listens on {local}: {own:?}"
        );
    }
}

#[test]
fn stack_exec_runs_one_command_with_the_stack_env_in_the_callers_directory() {
    let stack = Stack::get();
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new("bash")
        .arg(common::script("stack"))
        .args([
            "exec",
            "sh",
            "-c",
            "echo \"$AWS_ENDPOINT_URL_KINESIS $AWS_ENDPOINT_URL_S3\"; pwd; exit 7",
        ])
        .current_dir(dir.path())
        .env_remove("AWS_ENDPOINT_URL_KINESIS")
        .env_remove("AWS_ENDPOINT_URL_S3")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(7),
        "exit status passed through: {out:?}"
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let mut lines = stdout.lines();
    assert_eq!(
        lines.next(),
        Some(format!("{} {}", stack.kinesis_endpoint, stack.s3_endpoint).as_str())
    );
    let cwd = std::fs::canonicalize(dir.path()).unwrap();
    assert_eq!(lines.next().map(std::path::PathBuf::from), Some(cwd));

    let out = Command::new("bash")
        .arg(common::script("stack"))
        .arg("exec")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "exec with no command: {out:?}");
}
