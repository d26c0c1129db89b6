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

/// The tokens of a line that look like file paths or names: runs of path characters.
fn path_tokens(line: &str) -> impl Iterator<Item = &str> {
    line.split(|c: char| !(c.is_ascii_alphanumeric() || "._-/".contains(c)))
        .map(|t| t.trim_end_matches('.'))
        .filter(|t| !t.is_empty())
}

/// A project document named the way this project names its own (`README.md`, `SQL.md`):
/// capitals, digits, `-` and `_`, then `.md` (the file name, without its folder). Lower-case names are outputs
/// (`bench/results/window.md`) or other projects' files, which the link check covers.
fn is_notes_name(token: &str) -> bool {
    token.strip_suffix(".md").is_some_and(|stem| {
        !stem.is_empty()
            && stem
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '-' || c == '_')
    })
}

/// What in `line` of `file` names something outside the repository, with why: a relative path
/// that climbs above the repository's root, a project document (see [`is_notes_name`]) that no
/// file of the repository is called, an issue number. Nothing outside is named here: the checks are by shape.
fn outside_references(file: &Path, line: &str, names_in_repo: &[String]) -> Vec<&'static str> {
    let mut found = Vec::new();
    for token in path_tokens(line) {
        if token.starts_with("../") && resolve(Path::new("/"), file, token).is_none() {
            found.push("a path outside the repository");
        }
        let name = token.rsplit('/').next().unwrap_or(token);
        if is_notes_name(name) && !names_in_repo.iter().any(|n| n == name) {
            found.push("a document that is not in the repository");
        }
    }
    if mentions_issue_number(&line.to_ascii_lowercase()) {
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
            for why in outside_references(file, line, &names) {
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
    let readme = Path::new("README.md");
    let climbing = "../elsewhere/NOTES.md";
    assert_eq!(
        link_targets(&format!("see [D]({climbing}) and [x](a.md#y)")),
        [climbing, "a.md#y"]
    );
    assert_eq!(resolve(root, readme, climbing), None);
    assert_eq!(
        resolve(root, Path::new("gen/README.md"), "../docs/LAB.md#2"),
        Some(PathBuf::from("/repo/docs/LAB.md"))
    );
    assert!(mentions_issue_number("runs the scenarios of issue #10"));
    assert!(mentions_issue_number("target (issue 5)"));
    assert!(!mentions_issue_number("a known issue with the emulator"));
    let in_repo = ["NOTES.md".to_string(), "LAB.md".to_string()];
    assert!(
        outside_references(readme, &format!("see {climbing}"), &in_repo)
            .contains(&"a path outside the repository")
    );
    assert!(
        outside_references(Path::new("gen/src/lib.rs"), "see ../docs/LAB.md", &in_repo).is_empty()
    );
    assert!(!outside_references(readme, "the notes in OTHER.md, section 2", &in_repo).is_empty());
    assert!(outside_references(readme, "the notes in NOTES.md.", &in_repo).is_empty());
    assert!(outside_references(readme, "writes bench/results/latency.md", &in_repo).is_empty());
    assert!(!outside_references(readme, "as docs/OTHER.md says", &in_repo).is_empty());
}
