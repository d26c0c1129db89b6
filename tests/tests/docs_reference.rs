//! Each tool's reference page (`docs/reference/<tool>.md`) names every long flag its `--help`
//! defines and every environment variable `--help` shows, so a flag added to the code without
//! its documentation fails here instead of going stale silently.

mod common;

use std::collections::BTreeSet;
use std::process::Command;

/// The long flags `--help` defines: the option lines (`  -s, --stream <NAME>`, `      --strict`),
/// not flags mentioned in descriptions or examples (those may belong to other tools).
fn defined_flags(help: &str) -> BTreeSet<String> {
    help.lines()
        .filter_map(|line| {
            let spec = line.trim_start();
            let spec = match spec.split_once(", ") {
                Some((short, rest)) if short.len() == 2 && short.starts_with('-') => rest,
                _ => spec,
            };
            let name = spec.strip_prefix("--")?;
            let end = name
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
                .unwrap_or(name.len());
            (end > 0).then(|| format!("--{}", &name[..end]))
        })
        .collect()
}

/// Every `[env: NAME=...]` of `--help`.
fn env_vars(help: &str) -> BTreeSet<String> {
    help.split("[env: ")
        .skip(1)
        .filter_map(|rest| rest.split_once('=').map(|(name, _)| name.to_string()))
        .collect()
}

/// True when `page` has `name` as a whole word (`--stream` is not found in `--stream-version`).
fn mentions(page: &str, name: &str) -> bool {
    let part_of_name = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    page.match_indices(name).any(|(at, _)| {
        let before = page[..at].chars().next_back();
        let after = page[at + name.len()..].chars().next();
        !before.is_some_and(part_of_name) && !after.is_some_and(part_of_name)
    })
}

fn help_of(tool: &str) -> String {
    let bin = common::tool_dir_for(&[tool]).join(tool);
    let out = Command::new(&bin)
        .arg("--help")
        .env("COLUMNS", "200")
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", bin.display()));
    assert!(out.status.success(), "{tool} --help: {out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn parsing_finds_option_lines_only() {
    let help =
        "Usage: t [OPTIONS]\n\n  -s, --stream <NAME>\n          Stream [env: T_STREAM=]\n      \
                --strict\n          Stop; see --other in prose\n\nExamples:\n  t --example x\n";
    let flags: Vec<_> = defined_flags(help).into_iter().collect();
    assert_eq!(flags, ["--stream", "--strict"]);
    let vars: Vec<_> = env_vars(help).into_iter().collect();
    assert_eq!(vars, ["T_STREAM"]);
    assert!(mentions("`--stream NAME`", "--stream"));
    assert!(!mentions("`--stream-version N`", "--stream"));
    assert!(!mentions("KDS_PUT_STREAM_X", "KDS_PUT_STREAM"));
}

#[test]
fn every_flag_and_variable_of_help_is_in_the_reference_page() {
    let root = testkit::repo_root();
    let mut missing = Vec::new();
    for tool in common::TOOLS {
        let page_path = root.join("docs/reference").join(format!("{tool}.md"));
        let page = std::fs::read_to_string(&page_path)
            .unwrap_or_else(|e| panic!("{}: {e}", page_path.display()));
        let help = help_of(tool);
        let flags = defined_flags(&help);
        assert!(
            flags.len() >= 3,
            "{tool}: too few flags parsed from --help, the parser is off: {flags:?}"
        );
        for name in flags.iter().chain(env_vars(&help).iter()) {
            if !mentions(&page, name) {
                missing.push(format!("{tool}: {name}"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "named by --help but not in docs/reference/<tool>.md:\n{}",
        missing.join("\n")
    );
}

#[test]
fn the_readme_links_every_reference_page() {
    let readme = std::fs::read_to_string(testkit::repo_root().join("README.md")).unwrap();
    for tool in common::TOOLS {
        let link = format!("(docs/reference/{tool}.md)");
        assert!(readme.contains(&link), "README.md does not link {link}");
    }
}
