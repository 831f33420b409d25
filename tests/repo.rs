//! The repository stands on its own: its documents point to nothing outside it, and the
//! architecture map names every module the library has.

use std::process::Command;

use crate::util::{repo, run_ok};

/// Tracked text files (what a fresh clone has).
fn tracked_files() -> Vec<String> {
    let out = run_ok(
        Command::new("git")
            .arg("-C")
            .arg(repo())
            .args(["ls-files", "-z"]),
    );
    out.split('\0')
        .filter(|p| !p.is_empty())
        .map(str::to_string)
        .collect()
}

#[test]
fn nothing_points_outside_the_repository() {
    // The original design notes lived beside the checkout, in a folder a clone does not have.
    let outside = [
        "../shared",
        "/work/shared",
        "shared/DESIGN.md",
        "glance-notes.md",
    ];
    let mut hits = Vec::new();
    for path in tracked_files() {
        let Ok(text) = std::fs::read_to_string(repo().join(&path)) else {
            continue; // binary or not UTF-8: not a document
        };
        for (n, line) in text.lines().enumerate() {
            if outside.iter().any(|o| line.contains(o)) && path != "tests/repo.rs" {
                hits.push(format!("{path}:{}: {line}", n + 1));
            }
        }
    }
    assert!(
        hits.is_empty(),
        "references outside the repository:\n{}",
        hits.join("\n")
    );
}

#[test]
fn architecture_names_every_library_module() {
    let doc = std::fs::read_to_string(repo().join("docs/architecture.md"))
        .expect("docs/architecture.md is the project's architecture document");
    let lib = std::fs::read_to_string(repo().join("src/lib.rs")).unwrap();
    let modules: Vec<&str> = lib
        .lines()
        .filter_map(|l| l.trim().strip_prefix("pub mod "))
        .map(|m| m.trim_end_matches(';'))
        .collect();
    assert!(modules.len() > 5, "no modules found in src/lib.rs");
    let missing: Vec<&&str> = modules
        .iter()
        .filter(|m| !doc.contains(&format!("`{m}/`")) && !doc.contains(&format!("`{m}.rs`")))
        .collect();
    assert!(
        missing.is_empty(),
        "docs/architecture.md does not describe these modules: {missing:?}"
    );
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    assert!(
        readme.contains("docs/architecture.md"),
        "README does not link the architecture"
    );
}
