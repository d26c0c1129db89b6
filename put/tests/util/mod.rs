//! Helpers shared by kds-put's integration tests: run the built binary against the local
//! stack, read a stream back, parse NDJSON outputs.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Output;

use testkit::{read_stream_all, RecordOut, Stack};

pub const BIN: &str = env!("CARGO_BIN_EXE_kds-put");

/// Writes lines to a file in `dir`, each followed by `\n`.
pub fn write_lines(dir: &Path, name: &str, lines: &[String]) -> PathBuf {
    let path = dir.join(name);
    let mut text = String::new();
    for l in lines {
        text.push_str(l);
        text.push('\n');
    }
    std::fs::write(&path, text).expect("write input");
    path
}

/// Runs kds-put with the stack's environment (or `endpoint` instead of kinesis-local's).
pub fn run_put(stack: &Stack, endpoint: Option<&str>, args: &[&str]) -> Output {
    let mut cmd = stack.command(BIN);
    if let Some(url) = endpoint {
        cmd.env("AWS_ENDPOINT_URL_KINESIS", url);
    }
    let out = cmd.args(args).output().expect("run kds-put");
    eprintln!(
        "kds-put {args:?} -> {:?}\n--- stderr ---\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Runs kds-put on `lines` into `stream` (through `endpoint`, when given, instead of
/// kinesis-local) with a dead-letter file and `args`: its output and the dead letters.
pub fn put_lines(
    stack: &Stack,
    endpoint: Option<&str>,
    stream: &str,
    lines: &[String],
    args: &[&str],
) -> (Output, Vec<serde_json::Value>) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let input = write_lines(dir.path(), "in.ndjson", lines);
    let dl = dir.path().join("dead.ndjson");
    let dl_arg = dl.to_str().expect("UTF-8 temporary path");
    let input_arg = input.to_str().expect("UTF-8 temporary path");
    let mut all = vec!["-s", stream, "--dead-letter", dl_arg];
    all.extend_from_slice(args);
    all.push(input_arg);
    let out = run_put(stack, endpoint, &all);
    let dead = ndjson_file(&dl);
    (out, dead)
}

pub async fn read_back(stack: &Stack, stream: &str) -> Vec<RecordOut> {
    read_stream_all(&stack.kinesis_client().await, stream)
        .await
        .expect("read the stream back")
}

pub fn ndjson(bytes: &[u8]) -> Vec<serde_json::Value> {
    bytes
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).expect("NDJSON line"))
        .collect()
}

pub fn ndjson_file(path: &Path) -> Vec<serde_json::Value> {
    match std::fs::read(path) {
        Ok(b) => ndjson(&b),
        Err(_) => Vec::new(),
    }
}

/// Multiset of strings.
pub fn multiset<I: IntoIterator<Item = String>>(items: I) -> HashMap<String, usize> {
    let mut m = HashMap::new();
    for i in items {
        *m.entry(i).or_insert(0) += 1;
    }
    m
}

/// The value of a `summary` counter such as `retries 12` in kds-put's stderr summary.
pub fn summary_counter(stderr: &[u8], name: &str) -> Option<u64> {
    let text = String::from_utf8_lossy(stderr);
    let line = text
        .lines()
        .rev()
        .find(|l| l.starts_with("kds-put: records "))?;
    let pos = line.find(&format!("{name} "))? + name.len() + 1;
    line[pos..]
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}
