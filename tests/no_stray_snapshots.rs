//! CI guard: no snapshot is left pending review.
//!
//! insta writes `*.snap.new` (and `*.pending-snap` for inline snapshots)
//! when an assertion fails outside `INSTA_UPDATE=always`. Such files must
//! be accepted (renamed to `.snap`) or deleted before a change goes in;
//! this test fails while any exists in the repository.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

fn walk(dir: &Path, found: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() {
            if name == "target" || name == ".git" {
                continue;
            }
            walk(&path, found);
        } else if name.ends_with(".snap.new") || name.ends_with(".pending-snap") {
            found.push(path);
        }
    }
}

#[test]
fn no_pending_snapshots() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut found = Vec::new();
    walk(root, &mut found);
    found.sort();
    assert!(
        found.is_empty(),
        "snapshots pending review (accept them with INSTA_UPDATE=always, or delete them):\n{}",
        found
            .iter()
            .map(|p| format!("  {}", p.strip_prefix(root).unwrap_or(p).display()))
            .collect::<Vec<_>>()
            .join("\n")
    );
}
