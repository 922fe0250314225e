//! The layout ARCHITECTURE.md promises, checked: `strata-core` (`core/`) depends on no HTTP,
//! template or OpenAPI crate (so the compiler keeps them out of the domain); in the `strata` crate
//! axum is imported only under `src/http/`, which makes no database call; the library crates know nothing of HTTP or SQL; and
//! source files stay small enough to read in one sitting.

use std::path::{Path, PathBuf};

/// Every `.rs` file under `dir` (the floors check reads them too).
pub(super) fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Lines of code in `path` (not comments) that mention any of `needles`.
fn offending(path: &Path, needles: &[&str]) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim_start().starts_with("//"))
        .filter(|(_, l)| needles.iter().any(|n| l.contains(n)))
        .map(|(i, l)| format!("{}:{}: {}", path.display(), i + 1, l.trim()))
        .collect()
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn axum_lives_only_under_src_http() {
    let src = root().join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut bad = Vec::new();
    for f in &files {
        let rel = f.strip_prefix(&src).unwrap();
        if rel.starts_with("http") {
            continue;
        }
        bad.extend(offending(
            f,
            &["axum", "tower_http", "hyper", "crate::http"],
        ));
    }
    assert!(
        bad.is_empty(),
        "HTTP outside src/http/:\n{}",
        bad.join("\n")
    );
}

/// Handlers read the request and make one domain call: the database is `strata-core`'s, so no
/// file under `src/http/` touches `Core::db` or `sqlx`.
#[test]
fn no_database_calls_under_src_http() {
    let http = root().join("src/http");
    let mut files = Vec::new();
    rust_files(&http, &mut files);
    let mut bad = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        for (i, line) in text.lines().enumerate() {
            let l = line.trim();
            if l.starts_with("//") {
                continue;
            }
            let db = l == ".db"
                || [".db.", ".db)", ".db,", ".db;", "sqlx"]
                    .iter()
                    .any(|n| l.contains(n));
            if db {
                bad.push(format!("{}:{}: {l}", f.display(), i + 1));
            }
        }
    }
    assert!(
        bad.is_empty(),
        "database calls under src/http/:\n{}",
        bad.join("\n")
    );
}

/// The dependencies of `strata-core`: none of them may be an HTTP server, template or OpenAPI
/// crate. (Its own code then can't name them: the compiler refuses.)
#[test]
fn the_core_crate_depends_on_no_http() {
    let manifest = std::fs::read_to_string(root().join("core/Cargo.toml")).unwrap();
    let deps: Vec<&str> = manifest
        .split("[dependencies]")
        .nth(1)
        .unwrap()
        .split("\n[")
        .next()
        .unwrap()
        .lines()
        .filter_map(|l| l.split(['=', '.']).next())
        .map(str::trim)
        .filter(|d| !d.is_empty() && !d.starts_with('#'))
        .collect();
    assert!(deps.contains(&"sqlx"), "{deps:?}");
    for banned in [
        "axum",
        "hyper",
        "hyper-util",
        "tower",
        "tower-http",
        "tonic",
        "askama",
        "utoipa",
        "utoipa-axum",
        "arrow-flight",
    ] {
        assert!(!deps.contains(&banned), "strata-core depends on {banned}");
    }
    let mut files = Vec::new();
    rust_files(&root().join("core/src"), &mut files);
    let bad: Vec<String> = files
        .iter()
        .flat_map(|f| offending(f, &["strata::", "AppState"]))
        .collect();
    assert!(
        bad.is_empty(),
        "the domain reaches into the server:\n{}",
        bad.join("\n")
    );
}

#[test]
fn library_crates_know_no_http_or_sql() {
    for krate in ["lfs", "metastore", "policy", "apps"] {
        let mut files = Vec::new();
        rust_files(&root().join(krate).join("src"), &mut files);
        let mut bad = Vec::new();
        for f in &files {
            bad.extend(offending(f, &["axum", "sqlx", "tower"]));
        }
        assert!(bad.is_empty(), "{krate}:\n{}", bad.join("\n"));
    }
}

#[test]
fn files_stay_readable_in_one_sitting() {
    let mut files = Vec::new();
    for dir in [
        "src",
        "core/src",
        "lfs/src",
        "metastore/src",
        "policy/src",
        "apps/src",
    ] {
        rust_files(&root().join(dir), &mut files);
    }
    let long: Vec<String> = files
        .iter()
        .filter_map(|f| {
            let n = std::fs::read_to_string(f).unwrap().lines().count();
            (n > 650).then(|| format!("{} ({n} lines)", f.display()))
        })
        .collect();
    assert!(long.is_empty(), "split these by responsibility: {long:?}");
}

#[test]
fn every_module_says_what_it_owns() {
    let mut files = Vec::new();
    for dir in [
        "src",
        "core/src",
        "lfs/src",
        "metastore/src",
        "policy/src",
        "apps/src",
    ] {
        rust_files(&root().join(dir), &mut files);
    }
    let bare: Vec<String> = files
        .iter()
        .filter(|f| !std::fs::read_to_string(f).unwrap().starts_with("//!"))
        .map(|f| f.display().to_string())
        .collect();
    assert!(bare.is_empty(), "modules without a //! header: {bare:?}");
}
