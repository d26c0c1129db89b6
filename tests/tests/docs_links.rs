//! The repository is self-contained: every relative link in every `*.md` resolves to a file or
//! folder inside it, and no tracked file points at something a person who clones it cannot
//! open (a sibling folder of the checkout, design notes kept outside it, issue numbers of a
//! tracker that is not part of the repository).

use std::path::{Component, Path, PathBuf};
use std::process::Command;

/// The repository's root: the parent of this crate.
fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate lives inside the repository")
        .to_path_buf()
}

/// Every file git tracks, plus new files not yet committed (but not ignored ones).
fn repo_files(root: &Path) -> Vec<PathBuf> {
    let out = Command::new("git")
        .args([
            "ls-files",
            "--cached",
            "--others",
            "--exclude-standard",
            "-z",
        ])
        .current_dir(root)
        .output()
        .expect("git ls-files runs");
    assert!(out.status.success(), "git ls-files: {out:?}");
    out.stdout
        .split(|b| *b == 0)
        .filter(|p| !p.is_empty())
        .map(|p| PathBuf::from(String::from_utf8_lossy(p).into_owned()))
        .filter(|p| root.join(p).is_file())
        .collect()
}

/// The targets of inline links `[text](target)` and reference definitions `[id]: target`.
fn link_targets(markdown: &str) -> Vec<String> {
    let mut targets = Vec::new();
    let mut in_fence = false;
    for line in markdown.lines() {
        if line.trim_start().starts_with("```") {
            in_fence = !in_fence;
        }
        if in_fence {
            continue;
        }
        let mut rest = line;
        while let Some(at) = rest.find("](") {
            let after = &rest[at + 2..];
            let end = after.find(')').unwrap_or(after.len());
            targets.push(after[..end].trim().to_string());
            rest = &after[end..];
        }
        let trimmed = line.trim_start();
        if let Some(close) = trimmed.strip_prefix('[').and_then(|t| t.find("]: ")) {
            targets.push(trimmed[close + 4..].trim().to_string());
        }
    }
    targets
}

/// True for links that leave the file system: URLs, mail, in-page anchors.
fn is_external(target: &str) -> bool {
    target.is_empty()
        || target.starts_with('#')
        || target.contains("://")
        || target.starts_with("mailto:")
}

/// Resolves `target` against the folder of `md` without touching the file system, so that a
/// link climbing out of the repository is caught even when the outside file exists.
fn resolve(root: &Path, md: &Path, target: &str) -> Option<PathBuf> {
    let path = target.split('#').next().unwrap_or_default();
    let path = path.split_whitespace().next().unwrap_or_default();
    let mut parts: Vec<Component> = md
        .parent()
        .map(|p| p.components().collect())
        .unwrap_or_default();
    for part in Path::new(path).components() {
        match part {
            Component::ParentDir => {
                parts.pop()?;
            }
            Component::CurDir => {}
            Component::Normal(_) => parts.push(part),
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(root.join(parts.iter().collect::<PathBuf>()))
}

#[test]
fn every_relative_link_in_markdown_resolves_inside_the_repository() {
    let root = repo_root();
    let mut broken = Vec::new();
    for md in repo_files(&root)
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
    {
        let text = std::fs::read_to_string(root.join(md)).expect("markdown is UTF-8");
        for target in link_targets(&text).iter().filter(|t| !is_external(t)) {
            match resolve(&root, md, target) {
                Some(path) if path.exists() => {}
                Some(_) => broken.push(format!("{}: {target}: no such file", md.display())),
                None => broken.push(format!(
                    "{}: {target}: outside the repository",
                    md.display()
                )),
            }
        }
    }
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

/// The sibling folder that held the project's notes before the repository was self-contained,
/// assembled from parts so that this file does not name it itself.
fn sibling_folder() -> String {
    ["..", "shared"].join("/")
}

/// File names of the notes kept in that folder, assembled the same way.
fn outside_notes() -> [String; 2] {
    ["DESIGN", "PERF-NOTES"].map(|n| format!("{n}.md"))
}

/// Words that name something outside the repository, with why.
fn outside_references(line: &str, names_in_repo: &[String]) -> Vec<&'static str> {
    let lower = line.to_ascii_lowercase();
    let mut found = Vec::new();
    let sibling = sibling_folder();
    if lower.contains(&sibling) || lower.contains(&format!("{}/design", &sibling[3..])) {
        found.push("a path outside the repository");
    }
    for notes in outside_notes() {
        if line.contains(&notes) && !names_in_repo.contains(&notes) {
            found.push("design notes that are not in the repository");
        }
    }
    if mentions_issue_number(&lower) {
        found.push("an issue number of a tracker outside the repository");
    }
    found
}

/// "issue #10", "issue 4", "issues #3": a number right after the word.
fn mentions_issue_number(lower: &str) -> bool {
    lower.match_indices("issue").any(|(at, _)| {
        let before_ok = !lower[..at].ends_with(|c: char| c.is_ascii_alphanumeric() || c == '_');
        let rest = lower[at + "issue".len()..].trim_start_matches('s');
        let rest = rest.trim_start_matches(' ').trim_start_matches('#');
        before_ok && rest.starts_with(|c: char| c.is_ascii_digit())
    })
}

#[test]
fn no_file_refers_to_anything_outside_the_repository() {
    let root = repo_root();
    let files = repo_files(&root);
    let names: Vec<String> = files
        .iter()
        .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .collect();
    let this_file = Path::new("tests/tests/docs_links.rs");
    let mut found = Vec::new();
    for file in files.iter().filter(|f| f.as_path() != this_file) {
        // Binary files and lockfiles hold no prose.
        let Ok(text) = std::fs::read_to_string(root.join(file)) else {
            continue;
        };
        for (n, line) in text.lines().enumerate() {
            for why in outside_references(line, &names) {
                found.push(format!(
                    "{}:{}: {why}: {}",
                    file.display(),
                    n + 1,
                    line.trim()
                ));
            }
        }
    }
    assert!(
        found.is_empty(),
        "references outside the repository:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_checks_catch_what_they_look_for() {
    let root = Path::new("/repo");
    let [design, _] = outside_notes();
    let outside = format!("{}/{design}", sibling_folder());
    assert_eq!(
        link_targets(&format!("see [D]({outside}) and [x](a.md#y)")),
        [outside.as_str(), "a.md#y"]
    );
    assert_eq!(resolve(root, Path::new("README.md"), &outside), None);
    assert_eq!(
        resolve(root, Path::new("gen/README.md"), "../docs/LAB.md#2"),
        Some(PathBuf::from("/repo/docs/LAB.md"))
    );
    assert!(mentions_issue_number("runs the scenarios of issue #10"));
    assert!(mentions_issue_number("target (issue 5)"));
    assert!(!mentions_issue_number("a known issue with the emulator"));
    assert!(!outside_references(&format!("{design} section 2"), &[]).is_empty());
    assert!(!outside_references(&format!("see {outside}"), &[]).is_empty());
    assert!(
        outside_references(&format!("docs/{design}"), std::slice::from_ref(&design)).is_empty()
    );
}
