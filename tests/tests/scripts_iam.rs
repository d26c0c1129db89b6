//! docs/IAM.md: every policy block is valid JSON, scoped to resources, and names every action
//! the code of its tool (and the workspace crates it uses) or its script calls.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::Value;
use testkit::repo_root;

/// SDK client methods → the IAM action they need (Service Authorization Reference; S3 calls
/// without an action of their own map to the one AWS documents for them).
const SDK_ACTIONS: &[(&str, &str)] = &[
    ("put_records", "kinesis:PutRecords"),
    ("put_record", "kinesis:PutRecord"),
    ("list_shards", "kinesis:ListShards"),
    ("get_shard_iterator", "kinesis:GetShardIterator"),
    ("get_records", "kinesis:GetRecords"),
    ("describe_stream_summary", "kinesis:DescribeStreamSummary"),
    ("describe_stream", "kinesis:DescribeStream"),
    ("subscribe_to_shard", "kinesis:SubscribeToShard"),
    ("register_stream_consumer", "kinesis:RegisterStreamConsumer"),
    ("list_streams", "kinesis:ListStreams"),
    ("head_bucket", "s3:ListBucket"),
    ("list_objects_v2", "s3:ListBucket"),
    ("get_bucket_location", "s3:GetBucketLocation"),
    ("put_object", "s3:PutObject"),
    ("create_multipart_upload", "s3:PutObject"),
    ("upload_part", "s3:PutObject"),
    ("complete_multipart_upload", "s3:PutObject"),
    ("abort_multipart_upload", "s3:AbortMultipartUpload"),
    ("head_object", "s3:GetObject"),
    ("get_object", "s3:GetObject"),
    ("delete_object", "s3:DeleteObject"),
];

/// `aws <service> <command>` of the scripts → IAM actions.
fn cli_actions(service: &str, command: &str) -> Vec<String> {
    let pascal: String = command
        .split('-')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect();
    let v = |a: &[&str]| a.iter().map(|s| s.to_string()).collect();
    match (service, command) {
        ("sts", _) => vec![],
        // The scripts always tag at creation.
        ("kinesis", "create-stream") => v(&["kinesis:CreateStream", "kinesis:AddTagsToStream"]),
        ("kinesis", _) => vec![format!("kinesis:{pascal}")],
        ("s3api", "head-bucket" | "list-objects-v2") => v(&["s3:ListBucket"]),
        ("s3api", _) => vec![format!("s3:{pascal}")],
        ("s3", "rm") => v(&["s3:ListBucket", "s3:DeleteObject"]),
        ("s3", "rb") => v(&["s3:DeleteBucket"]),
        ("s3", "mb") => v(&["s3:CreateBucket"]),
        ("s3", "cp") => v(&["s3:PutObject", "s3:GetObject"]),
        _ => panic!("no IAM mapping for aws {service} {command}"),
    }
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The IAM actions of the AWS calls `package` makes, for the services whose SDK crate it
/// depends on itself: its own code's calls (through kds-aws's narrow `KinesisApi`/`S3Api`
/// traits, its ListShards pager, or the SDK), plus the start-up checks every tool runs in
/// kds-aws's preflight. kds-aws implements every call of both services, so scanning all of it
/// would credit each tool with calls it never makes. Test files inside src/ are not code paths.
fn code_actions(package: &str) -> BTreeSet<String> {
    let services: Vec<&str> = [("aws-sdk-kinesis", "kinesis:"), ("aws-sdk-s3", "s3:")]
        .into_iter()
        .filter(|(sdk, _)| direct_dependency(package, sdk))
        .map(|(_, prefix)| prefix)
        .collect();
    let root = repo_root();
    let mut files = vec![root.join("aws/src/preflight.rs")];
    rust_files(
        &root.join(package.trim_start_matches("kds-")).join("src"),
        &mut files,
    );
    let mut actions = BTreeSet::new();
    for f in files {
        if f.file_name()
            .is_some_and(|n| n.to_string_lossy().ends_with("tests.rs"))
        {
            continue;
        }
        let src = std::fs::read_to_string(&f).unwrap_or_default();
        for (method, action) in SDK_ACTIONS {
            let called =
                src.contains(&format!(".{method}(")) || src.contains(&format!("::{method}("));
            if called && services.iter().any(|s| action.starts_with(s)) {
                actions.insert(action.to_string());
            }
        }
    }
    actions
}

/// Whether `package`'s own manifest lists `dependency` as a normal dependency.
fn direct_dependency(package: &str, dependency: &str) -> bool {
    let manifest = repo_root()
        .join(package.trim_start_matches("kds-"))
        .join("Cargo.toml");
    let text = std::fs::read_to_string(&manifest)
        .unwrap_or_else(|e| panic!("{}: {e}", manifest.display()));
    let normal = text.split("[dev-dependencies]").next().unwrap_or_default();
    normal.lines().any(|l| {
        l.trim_start().starts_with(&format!("{dependency}."))
            || l.trim_start().starts_with(&format!("{dependency} "))
    })
}

/// Shell functions of scripts/aws.sh: name → body.
fn shell_functions(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut current: Option<(String, String)> = None;
    for line in text.lines() {
        if let Some((name, body)) = current.as_mut() {
            if line == "}" {
                out.insert(name.clone(), body.clone());
                current = None;
            } else {
                body.push_str(line);
                body.push('\n');
            }
        } else if let Some(name) = line.strip_suffix("() {") {
            if name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                current = Some((name.to_string(), String::new()));
            }
        }
    }
    out
}

fn words(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
        .filter(|w| !w.is_empty())
}

/// IAM actions of the `aws_kinesis|aws_s3api|aws_s3|aws_sts <command>` calls in `script` and
/// in the scripts/aws.sh functions it reaches.
fn script_actions(script: &str) -> BTreeSet<String> {
    let aws_sh = std::fs::read_to_string(common::script("aws.sh")).expect("scripts/aws.sh");
    let functions = shell_functions(&aws_sh);
    let own = std::fs::read_to_string(common::script(script)).expect("script");
    let mut texts = vec![own];
    let mut reached = BTreeSet::new();
    let mut i = 0;
    while i < texts.len() {
        let called: Vec<String> = words(&texts[i])
            .filter(|w| functions.contains_key(*w))
            .map(str::to_string)
            .collect();
        for f in called {
            if reached.insert(f.clone()) {
                texts.push(functions[&f].clone());
            }
        }
        i += 1;
    }
    let mut actions = BTreeSet::new();
    for text in &texts {
        let ws: Vec<&str> = words(text).collect();
        for pair in ws.windows(2) {
            let service = match pair[0] {
                "aws_kinesis" => "kinesis",
                "aws_s3api" => "s3api",
                "aws_s3" => "s3",
                "aws_sts" => "sts",
                _ => continue,
            };
            if pair[1].starts_with('-') || pair[1] == "kinesis" || pair[1] == "s3api" {
                continue; // the wrapper's own definition
            }
            actions.extend(cli_actions(service, pair[1]));
        }
    }
    actions
}

/// (heading, JSON text) of every ```json block in docs/IAM.md.
fn policy_blocks() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(repo_root().join("docs/IAM.md")).expect("docs/IAM.md");
    let mut out = Vec::new();
    let (mut heading, mut block): (String, Option<String>) = (String::new(), None);
    for line in text.lines() {
        match block.as_mut() {
            Some(b) if line.trim() == "```" => {
                out.push((heading.clone(), std::mem::take(b)));
                block = None;
            }
            Some(b) => {
                b.push_str(line);
                b.push('\n');
            }
            None if line.starts_with("## ") => heading = line[3..].trim().to_string(),
            None if line.trim() == "```json" => block = Some(String::new()),
            None => {}
        }
    }
    out
}

fn policy_actions(heading: &str, json: &str) -> BTreeSet<String> {
    let doc: Value = serde_json::from_str(json)
        .unwrap_or_else(|e| panic!("docs/IAM.md, {heading}: not valid JSON: {e}"));
    assert_eq!(doc["Version"], "2012-10-17", "{heading}");
    let mut actions = BTreeSet::new();
    for st in doc["Statement"].as_array().expect("Statement array") {
        assert_eq!(st["Effect"], "Allow", "{heading}");
        let resources: Vec<&Value> = match &st["Resource"] {
            Value::Array(a) => a.iter().collect(),
            r => vec![r],
        };
        for r in resources {
            let r = r
                .as_str()
                .unwrap_or_else(|| panic!("{heading}: Resource {r}"));
            assert!(
                r.starts_with("arn:aws:") && r != "*",
                "{heading}: not resource-scoped: {r}"
            );
        }
        match &st["Action"] {
            Value::Array(a) => {
                actions.extend(a.iter().map(|v| v.as_str().expect("action").to_string()))
            }
            Value::String(s) => {
                actions.insert(s.clone());
            }
            other => panic!("{heading}: Action {other}"),
        }
    }
    actions
}

#[test]
fn iam_policies_parse_are_scoped_and_name_every_action_the_code_calls() {
    let blocks = policy_blocks();
    let mut checked = BTreeSet::new();
    for (heading, json) in &blocks {
        let have = policy_actions(heading, json);
        let need: BTreeSet<String> = match heading.as_str() {
            "kds-put" | "kds-tail" | "kds-s3sink" => code_actions(heading),
            "scripts/provision" => script_actions("provision"),
            "scripts/teardown" => script_actions("teardown"),
            "scripts/demo and scripts/aws-smoke" => ["demo", "provision", "aws-smoke"]
                .iter()
                .flat_map(|s| script_actions(s))
                .chain(
                    ["kds-put", "kds-tail", "kds-s3sink"]
                        .iter()
                        .flat_map(|p| code_actions(p)),
                )
                .collect(),
            other => panic!("docs/IAM.md: policy under an unknown heading {other:?}"),
        };
        assert!(
            !need.is_empty(),
            "{heading}: found no AWS calls to check against"
        );
        let missing: Vec<&String> = need.difference(&have).collect();
        assert!(
            missing.is_empty(),
            "docs/IAM.md, {heading}: missing {missing:?} (has {have:?})"
        );
        checked.insert(heading.clone());
    }
    for h in [
        "kds-put",
        "kds-tail",
        "kds-s3sink",
        "scripts/provision",
        "scripts/teardown",
    ] {
        assert!(checked.contains(h), "docs/IAM.md has no policy for {h}");
    }
}
