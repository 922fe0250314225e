//! The process runner's sandbox with a real app (`fixtures/apps/probe_app.py`): alice's instance
//! tries to read strata's signing key, its SQLite database, a repository, an object, bob's working
//! directory and token, and to write into the data directory, and is refused each time, while
//! its own working directory and token work. With `--apps-process-sandbox off` the same app
//! reads the key (what the sandbox is for).

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::*;
use crate::common::*;

const PROBE_APP: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/apps/probe_app.py");

fn probe_manifest() -> String {
    format!(
        r#"id = "probe"
name = "Probe"
prefix = "strip"
health = "/health"
start_timeout_secs = 120
scopes = ["dataset:*:read"]
[runner]
kind = "process"
command = "python3"
args = ["{PROBE_APP}", "--port", "{{port}}"]
"#
    )
}

/// A lab whose data directory holds everything as a default installation has it: the signing
/// key in `keys/`, and on SQLite the database beside it (in the PostgreSQL phase the database is
/// no file of strata's).
async fn lab(sandbox: strata_core::config::Switch) -> Lab {
    Lab::start(move |c| {
        let keys = c.data_dir.join("keys");
        std::fs::create_dir_all(&keys).unwrap();
        std::fs::write(keys.join("jwt-rs256.pem"), shared_jwt_key()).unwrap();
        c.jwt_key_file = Some(keys.join("jwt-rs256.pem"));
        if c.database_url
            .as_deref()
            .is_some_and(|u| u.starts_with("sqlite:"))
        {
            let db = c.data_dir.join("strata.db");
            c.database_url = Some(format!("sqlite://{}?mode=rwc", db.display()).into());
        }
        c.apps_process_sandbox = sandbox;
    })
    .await
}

/// What the probe app of `token`'s owner could do with `read`, `write` and `list`.
async fn probe(lab: &Lab, token: &str, user: &str, asks: &[(&str, &Path)]) -> Value {
    let query: Vec<(&str, String)> = asks
        .iter()
        .map(|(what, p)| (*what, p.display().to_string()))
        .collect();
    let q = serde_urlencoded::to_string(query).unwrap();
    let r = lab
        .get_ready(token, &format!("/apps/{user}/probe/probe?{q}"))
        .await;
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

fn a_file_under(dir: &Path) -> PathBuf {
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                todo.push(p);
            } else {
                return p;
            }
        }
    }
    panic!("no file under {}", dir.display());
}

#[tokio::test]
async fn a_process_app_reaches_its_own_directory_and_token_and_nothing_else_of_strata_s() {
    let lab = lab(strata_core::config::Switch::On).await;
    let (s, v) = lab.add(&probe_manifest()).await;
    assert_eq!(s, 201, "{v}");
    lab.alice_data().await;
    upload(
        &lab.server,
        "alice/data",
        &lab.alice,
        b"an object of alice's",
    )
    .await;
    for who in [&lab.alice, &lab.bob] {
        let (s, v) = lab.install(who, "probe", &["dataset:*:read"]).await;
        assert_eq!(s, 200, "{v}");
    }
    // bob's instance runs: his working directory and token exist.
    lab.get_ready(&lab.bob, "/apps/bob/probe/health").await;
    let data = lab.server.dir.path().join("data");
    let bobs_notes = data.join("apps/bob/probe/notes.txt");
    std::fs::write(&bobs_notes, "bob's").unwrap();
    lab.get_ready(&lab.alice, "/apps/alice/probe/health").await;
    let home = data.join("apps/alice/probe");
    std::fs::write(home.join("mine.txt"), "alice's").unwrap();
    let sqlite = lab.server.state.db.engine() == strata_core::db::Engine::Sqlite;
    let db = data.join("strata.db");
    let wal = data.join("strata.db-wal");
    assert_eq!(sqlite, db.is_file() && wal.is_file(), "SQLite in WAL mode");
    let repo_file = data.join("repos/alice/data.git/HEAD");
    assert!(repo_file.is_file());
    let object = a_file_under(&data.join("objects"));
    let key = data.join("keys/jwt-rs256.pem");
    let bobs_token = data.join("app-tokens/bob/probe/token");
    let own_token = data.join("app-tokens/alice/probe/token");
    let mut refused: Vec<(&str, PathBuf)> = vec![
        ("read", key.clone()),
        ("read", repo_file.clone()),
        ("read", object.clone()),
        ("read", bobs_notes.clone()),
        ("read", bobs_token.clone()),
        ("write", data.clone()),
        ("write", key.clone()),
        ("write", data.join("repos/alice/data.git")),
        ("write", data.join("apps/bob/probe")),
        ("write", data.join("app-tokens/alice/probe")),
        ("list", data.clone()),
        ("list", data.join("apps")),
    ];
    if sqlite {
        refused.extend([("read", db.clone()), ("read", wal), ("write", db)]);
    }
    let allowed = [
        ("read", own_token.clone()),
        ("read", home.join("mine.txt")),
        ("write", home.clone()),
        ("write", home.join("mine.txt")),
        ("list", home.clone()),
    ];
    let asks: Vec<(&str, &Path)> = refused
        .iter()
        .chain(&allowed)
        .map(|(w, p)| (*w, p.as_path()))
        .collect();
    let seen = probe(&lab, &lab.alice, "alice", &asks).await;
    for (what, path) in &refused {
        let got = &seen[what][path.display().to_string()];
        assert_eq!(got, "EACCES", "{what} {}: {seen}", path.display());
    }
    for (what, path) in &allowed {
        let got = &seen[what][path.display().to_string()];
        assert_eq!(got, "ok", "{what} {}: {seen}", path.display());
    }
    // Nothing was written where it was refused, and strata still works with its files.
    assert!(!std::fs::read_dir(&data)
        .unwrap()
        .flatten()
        .any(|e| e.file_name().to_string_lossy().starts_with("probe-")));
    let r = lab.get(&lab.alice, "/api/v1/datasets/alice/data").await;
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn with_the_sandbox_off_a_process_app_reads_strata_s_signing_key() {
    let lab = lab(strata_core::config::Switch::Off).await;
    lab.add(&probe_manifest()).await;
    lab.install(&lab.alice, "probe", &["dataset:*:read"]).await;
    let key = lab.server.dir.path().join("data/keys/jwt-rs256.pem");
    let seen = probe(&lab, &lab.alice, "alice", &[("read", key.as_path())]).await;
    assert_eq!(seen["read"][key.display().to_string()], "ok", "{seen}");
}
