//! The floors of `strata-core` (ARCHITECTURE.md, "Floors"): every room (a top-level module of
//! `core/src`) stands on a floor, and its code may name only rooms on floors below its own:
//! never a room above (an upward import) and never another room on the same floor (a sideways
//! one). So the rooms cannot import each other in a circle, and a room's floor says what it may
//! use. `Core` is the frame every room is handed (`crate::Core`, built in `core.rs` from the
//! rooms' parts), so it stands outside the floors.
//!
//! A new room fails this test until it is given a floor here and in ARCHITECTURE.md.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::layout::rust_files;

/// The floors, bottom first. Keep in step with ARCHITECTURE.md.
const FLOORS: &[&[&str]] = &[
    // 0, the ground: the database, names, the request context, processes, tasks, targets.
    &[
        "context",
        "db",
        "names",
        "process",
        "readiness",
        "targets",
        "tasks",
    ],
    // 1: settings and the domain's error.
    &["config", "error"],
    // 2: who is asking.
    &["auth"],
    // 3: the audit log, the event outbox, app manifests, the storage facade.
    &["audit", "events", "manifests", "storage"],
    // 4: organisations, quotas, workloads.
    &["orgs", "quotas", "workloads"],
    // 5, the foundation: datasets, refs, revisions, paths, the gates and their policies.
    &["datasets"],
    // 6: rooms on the foundation.
    &[
        "apps", "delivery", "erase", "gc", "sharing", "tables", "xet",
    ],
    // 7: on the table plane, sharing and apps.
    &["accounts", "batch", "contracts", "oauth", "sql", "sso"],
    // 8: governed writes.
    &["governance"],
    // 9: the one write path, and the push hook.
    &["commits", "hook"],
    // 10: what writes through it: merges and diffs, the other systems' APIs, the drive, mirrors
    // and imports.
    &["changes", "compat", "drive", "imports", "mirrors"],
    // 11: jobs, whose output lands as a commit or a merge request.
    &["jobs"],
    // 12: background work over all of it.
    &["background"],
];

/// Names of the frame (`core.rs` and what `lib.rs` re-exports of it): every room may take them.
const FRAME: &[&str] = &["Core", "Settings", "StartError", "core"];

/// The code of a file without its comments (line comments and doc comments).
fn code(text: &str) -> String {
    text.lines()
        .map(|l| match l.find("//") {
            // `//` inside a string (a URL) is rare in a path's line; a comment is cut.
            Some(i) if !l[..i].contains('"') => &l[..i],
            _ => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The rooms a file's code names through `crate::` (`crate::a::b`, `crate::{a, b::c}`).
fn rooms_named(code: &str) -> Vec<String> {
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    let mut out = Vec::new();
    for (i, _) in code.match_indices("crate::") {
        let before = code[..i].chars().next_back();
        if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
            continue; // `strata_core::`, `my_crate::`: not this crate
        }
        let rest = &code[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // The heads of a group's items, at its top level only.
            let (mut depth, mut start) = (0usize, 0usize);
            for (j, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => {
                        out.push(ident(group[start..j].trim()));
                        break;
                    }
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        out.push(ident(group[start..j].trim()));
                        start = j + 1;
                    }
                    _ => {}
                }
            }
        } else {
            out.push(ident(rest));
        }
    }
    out.retain(|r| !r.is_empty());
    out
}

#[test]
fn rooms_import_only_the_floors_below() {
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("core/src");
    let floor_of: BTreeMap<&str, usize> = FLOORS
        .iter()
        .enumerate()
        .flat_map(|(n, rooms)| rooms.iter().map(move |r| (*r, n)))
        .collect();
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let (mut unplaced, mut bad) = (Vec::new(), Vec::new());
    for f in &files {
        let rel = f.strip_prefix(&src).unwrap();
        let first = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy();
        let room = first.trim_end_matches(".rs").to_owned();
        if room == "lib" || room == "core" {
            continue; // the crate root and the frame
        }
        let Some(&floor) = floor_of.get(room.as_str()) else {
            unplaced.push(room);
            continue;
        };
        let text = std::fs::read_to_string(f).unwrap();
        for named in rooms_named(&code(&text)) {
            if named == room || FRAME.contains(&named.as_str()) {
                continue;
            }
            match floor_of.get(named.as_str()) {
                Some(&n) if n < floor => {}
                Some(&n) => bad.push(format!(
                    "{} (floor {floor}) names crate::{named} (floor {n}): {}",
                    rel.display(),
                    if n == floor { "sideways" } else { "upward" }
                )),
                None => unplaced.push(named),
            }
        }
    }
    unplaced.sort();
    unplaced.dedup();
    assert!(
        unplaced.is_empty(),
        "rooms of core/src without a floor (give them one here and in ARCHITECTURE.md): {unplaced:?}"
    );
    assert!(
        bad.is_empty(),
        "imports that do not go down a floor:\n{}",
        bad.join("\n")
    );
}

/// The check itself sees what it must: a group's heads, a path's first name, and not a path of
/// another crate that ends in `crate`.
#[test]
fn the_floor_check_reads_paths_and_groups() {
    let text = "use crate::{datasets::gate, db::{Db, Repo}, error::Result};\n\
                let x = crate::tables::view(1); // crate::sql in a comment\n\
                use strata_core::events;";
    let named = rooms_named(&code(text));
    assert_eq!(named, ["datasets", "db", "error", "tables"]);
}
