//! `huggingface_hub` (the Hub's own Python client, pinned in `scripts/test.sh`) with
//! `HF_ENDPOINT` pointed at strata and a strata token: a dataset created, a folder uploaded
//! (small prose inline, data through Git LFS), listed, described, its paths asked about
//! (`get_paths_info`, `HfFileSystem.info(refresh=True)`), its commits and refs read,
//! every file downloaded and checked, a revision pinned, a snapshot taken, a file deleted; then
//! a stranger and an anonymous caller refused on every call, and a reader refused a write.

use std::process::Command;

use serde_json::{json, Value};

use crate::common::*;

/// Runs `hf_client.py` with `args` as `token`'s holder against the server at `url`: its JSON
/// answer.
pub(super) fn client_run(url: &str, token: Option<&str>, args: &[&str]) -> Value {
    let home = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(python_tool("python"));
    cmd.arg(format!(
        "{}/tests/it/compat/hf_client.py",
        env!("CARGO_MANIFEST_DIR")
    ))
    .args(args)
    .env("HF_ENDPOINT", url)
    .env("HF_HOME", home.path())
    .env("HF_HUB_DISABLE_XET", "1")
    .env("HF_HUB_DISABLE_TELEMETRY", "1")
    .env("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    .env_remove("HF_TOKEN");
    if let Some(t) = token {
        cmd.env("HF_TOKEN", t);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huggingface_hub_writes_and_reads_a_dataset() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let folder = tempfile::tempdir().unwrap();
    let files: Vec<(&str, Vec<u8>)> = vec![
        ("README.md", b"# Survey\n\nAnswers of 2026.\n".to_vec()),
        ("data/a.csv", b"id,name\n1,ann\n2,bo\n".to_vec()),
        (
            "data/b.bin",
            (0..4096u32)
                .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
                .collect(),
        ),
        ("nested/deep/c.txt", b"deep\n".to_vec()),
    ];
    for (path, data) in &files {
        let p = folder.path().join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, data).unwrap();
    }
    let dir = folder.path().to_str().unwrap().to_owned();
    let hf = |token: Option<String>, args: Vec<String>| {
        let url = server.url.clone();
        tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            client_run(&url, token.as_deref(), &args)
        })
    };
    let strings = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let out = hf(
        Some(alice.clone()),
        strings(&["roundtrip", "alice/survey", &dir]),
    )
    .await
    .unwrap();

    let commit = out["commit"].as_str().unwrap();
    assert_eq!(commit.len(), 40, "{out}");
    assert!(
        out["created"]
            .as_str()
            .unwrap()
            .ends_with("/datasets/alice/survey"),
        "{out}"
    );
    // strata's own files (the datapackage, .gitattributes) beside the uploaded ones.
    let listed: Vec<&str> = out["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    for (path, _) in &files {
        assert!(listed.contains(path), "{path}: {listed:?}");
    }
    assert_eq!(out["info"]["id"], "alice/survey");
    assert_eq!(out["info"]["sha"], commit);
    assert_eq!(out["info"]["private"], true);
    assert_eq!(out["info"]["siblings"], out["files"]);
    // Data through LFS (with its sha256), prose inline; folders listed.
    let tree = out["tree"].as_array().unwrap();
    let entry = |p: &str| tree.iter().find(|e| e[0] == p).cloned().unwrap();
    assert_eq!(
        entry("data/a.csv"),
        json!(["data/a.csv", "RepoFile", 19, sha256_hex(&files[1].1)])
    );
    assert_eq!(
        entry("data/b.bin"),
        json!(["data/b.bin", "RepoFile", 4096, sha256_hex(&files[2].1)])
    );
    assert_eq!(entry("README.md")[3], Value::Null);
    assert_eq!(entry("nested/deep")[1], "RepoFolder");
    let top: Vec<Value> = out["top"].as_array().unwrap().clone();
    assert!(top.contains(&json!(["data", "RepoFolder"])), "{top:?}");
    assert!(top.contains(&json!(["README.md", "RepoFile"])), "{top:?}");
    assert!(!top.iter().any(|e| e[0] == "data/a.csv"), "{top:?}");
    // The commit, newest first, with its title and description.
    let commits = out["commits"].as_array().unwrap();
    assert_eq!(commits[0][0], commit);
    assert_eq!(commits[0][1], "First files");
    assert_eq!(commits[0][2], "From the Hub client");
    assert_eq!(out["branches"], json!([["main", commit]]));
    // HfFileSystem's info(refresh=True) and get_paths_info: POST …/paths-info/{rev}.
    let fs_info = out["fs_info"].as_array().unwrap();
    assert!(
        fs_info[0][0]
            .as_str()
            .unwrap()
            .ends_with("alice/survey/data/a.csv"),
        "{out}"
    );
    assert_eq!(
        (&fs_info[0][1], &fs_info[0][2]),
        (&json!("file"), &json!(19)),
        "{out}"
    );
    assert!(
        fs_info[1][0]
            .as_str()
            .unwrap()
            .ends_with("alice/survey/data"),
        "{out}"
    );
    assert_eq!(
        (&fs_info[1][1], &fs_info[1][2]),
        (&json!("directory"), &json!(0)),
        "{out}"
    );
    assert_eq!(
        out["paths_info"],
        json!([
            [
                "RepoFile",
                "data/b.bin",
                4096,
                sha256_hex(&files[2].1),
                commit
            ],
            ["RepoFolder", "nested", null, null, commit]
        ]),
        "{out}"
    );
    // Every file downloaded whole, as uploaded.
    for (path, data) in &files {
        assert_eq!(out["downloads"][path], sha256_hex(data), "{path}");
    }
    // A pinned revision reads the old bytes; the head the new.
    assert_eq!(
        out["pinned"],
        json!([sha256_hex(&files[1].1), sha256_hex(b"id,name\n9,zed\n")])
    );
    assert_eq!(out["snapshot"]["data/b.bin"], sha256_hex(&files[2].1));
    assert_eq!(
        out["snapshot"]["nested/deep/c.txt"],
        sha256_hex(&files[3].1)
    );
    assert!(!out["after_delete"]
        .as_array()
        .unwrap()
        .contains(&json!("README.md")));
    assert_eq!(out["whoami"], "alice");
    assert_eq!(out["missing_file"], "RemoteEntryNotFoundError", "{out}");
    assert_eq!(out["missing_revision"], "RevisionNotFoundError", "{out}");
    assert_eq!(out["missing_dataset"], "RepositoryNotFoundError", "{out}");
    assert_eq!(out["missing_folder"], "RemoteEntryNotFoundError", "{out}");
    // move_repo renames (and back); the old id leads to the new; no move to another namespace.
    assert_eq!(
        out["moved"],
        json!(["alice/survey-moved", sha256_hex(b"id,name\n9,zed\n")]),
        "{out}"
    );
    assert_eq!(out["moved_away"], 422, "{out}");

    // A stranger and the anonymous: the private dataset is not there. bob as a reader: reads
    // work, the write is refused.
    let denied = strings(&["denied", "alice/survey", "data/a.csv"]);
    // (The anonymous are asked for credentials, as by strata's own API; a stranger is told
    // nothing exists.)
    for (token, status) in [(Some(bob.clone()), 404), (None, 401)] {
        let out = hf(token, denied.clone()).await.unwrap();
        for call in ["info", "files", "download", "upload"] {
            assert_ne!(out[call], "ok", "{call}: {out}");
        }
        assert_eq!(
            out["info"],
            json!(["RepositoryNotFoundError", status]),
            "{out}"
        );
        assert_eq!(out["upload"][1], status, "{out}");
    }
    let r = client()
        .put(format!(
            "{}/api/v1/datasets/alice/survey/collaborators/bob",
            server.url
        ))
        .bearer_auth(&alice)
        .json(&json!({"permission": "read"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let out = hf(Some(bob.clone()), denied).await.unwrap();
    assert_eq!(out["info"], "ok", "{out}");
    assert_eq!(out["download"], "ok", "{out}");
    assert_eq!(out["upload"][1], 403, "{out}");

    // carol, who was shared the data folder: a snapshot of it alone, `main` alone (no tag).
    let carol = server.user("carol").await;
    for (path, body) in [
        ("/tags", json!({"name": "v1"})),
        (
            "/shares",
            json!({"path": "data", "user": "carol", "access": "read"}),
        ),
    ] {
        let r = client()
            .post(format!("{}/api/v1/datasets/alice/survey{path}", server.url))
            .bearer_auth(&alice)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "{path}");
    }
    let out = hf(Some(carol), strings(&["shared", "alice/survey"]))
        .await
        .unwrap();
    assert_eq!(out["files"], json!(["data/a.csv", "data/b.bin"]), "{out}");
    assert_eq!(out["branches"], json!(["main"]), "{out}");
    assert_eq!(out["tags"], json!([]), "{out}");
}

/// A governed table answers `hf_hub_download` as it answers `…/raw`: refused, naming the
/// tables route that serves it governed; the dataset's info and other files still read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_governed_table_is_never_downloaded_raw_through_the_hub_api() {
    let gov = crate::governance::Gov::start().await;
    let url = gov.server.url.clone();
    let r = client()
        .get(format!(
            "{url}/datasets/alice/paysim/resolve/main/paysim.csv"
        ))
        .bearer_auth(&gov.alice)
        .send()
        .await
        .unwrap();
    let (status, headers, v) = body(r).await;
    assert_error_body(status, &headers, &v, 403);
    assert!(
        v["message"].as_str().unwrap().contains("tables/paysim-csv"),
        "{v}"
    );
    let alice = gov.alice.clone();
    let out = tokio::task::spawn_blocking(move || {
        client_run(
            &url,
            Some(&alice),
            &["denied", "alice/paysim", "paysim.csv"],
        )
    })
    .await
    .unwrap();
    assert_eq!(out["info"], "ok", "{out}");
    assert_eq!(out["files"], "ok", "{out}");
    assert_eq!(out["download"][1], 403, "{out}");
}
