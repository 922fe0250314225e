//! strata's Python package (`clients/python`, installed by `scripts/test.sh`; the sources come
//! first on `PYTHONPATH`): its fsspec filesystem as pandas opens `strata://` URLs (ls, info,
//! ranged reads, writes and deletes as commits, a pinned revision), its metastore-lib backend
//! (create, patch, revisions, tags, delete), a stranger and the anonymous refused with fsspec's
//! errors (`FileNotFoundError`, `PermissionError`) on every call, and a governed table refused
//! raw by every read (`cat`, a file opened and read, `head`, `get`) and read governed.

use std::process::Command;

use serde_json::{json, Value};
use strata_core::db::Visibility;

use crate::common::*;
use crate::governance::{check_redacted, Gov};

async fn check(url: &str, token: Option<&str>, args: &[&str]) -> Value {
    let root = env!("CARGO_MANIFEST_DIR");
    let mut cmd = Command::new(python_tool("python"));
    cmd.arg(format!("{root}/tests/it/compat/strata_client_check.py"))
        .args(args)
        .env("STRATA_URL", url)
        .env("PYTHONPATH", format!("{root}/clients/python"))
        .env_remove("STRATA_TOKEN");
    if let Some(t) = token {
        cmd.env("STRATA_TOKEN", t);
    }
    json_answer(cmd).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_package_reads_and_writes_through_fsspec_and_metastore_lib() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    server.repo("alice/survey", Visibility::Private).await;
    let v = check(&server.url, Some(&alice), &["roundtrip"]).await;
    assert_eq!(
        v["ls"],
        json!([
            "alice/survey/.gitattributes",
            "alice/survey/data",
            "alice/survey/notes"
        ])
    );
    assert_eq!(
        v["ls_data"],
        json!(["alice/survey/data/a.csv", "alice/survey/data/blob.bin"])
    );
    assert_eq!(
        v["info"],
        json!({"size": 256000, "type": "file", "lfs": true})
    );
    assert_eq!(v["read_csv"], json!({"id": [1, 2], "name": ["ann", "bo"]}));
    assert_eq!(v["read_parquet"], json!([1.5, 2.5]));
    assert_eq!(
        v["after_rm"],
        json!(["alice/survey/.gitattributes", "alice/survey/data"])
    );
    assert_eq!(v["pinned"], "first line\nsecond line\n");
    assert_eq!(v["missing"], "FileNotFoundError");
    assert_eq!(v["meta"], json!(["Meta 2", 2]));
    assert_eq!(v["meta_tag"], json!(["v1"]));
    assert_eq!(v["meta_at_tag"], "Meta");
    assert_eq!(v["meta_valid"], json!([true, false]));
    assert_eq!(v["meta_missing"], "NotFound");
    assert_eq!(v["meta_deleted"], "NotFound");

    let v = check(&server.url, Some(&bob), &["stranger"]).await;
    assert_eq!(
        v,
        json!({"ls": "FileNotFoundError", "cat": "FileNotFoundError",
            "open": "FileNotFoundError", "table": "FileNotFoundError",
            "pipe": "FileNotFoundError", "rm": "FileNotFoundError", "meta": "NotFound"})
    );
    // The anonymous are asked for credentials (401): a PermissionError on every call, never
    // strata's own error.
    let v = check(&server.url, None, &["stranger"]).await;
    for call in ["ls", "cat", "open", "table", "pipe", "rm"] {
        assert_eq!(v[call], "PermissionError", "{call}: {v}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_package_reads_a_governed_table_governed_never_raw() {
    let gov = Gov::start().await;
    let v = check(
        &gov.server.url,
        Some(&gov.bob),
        &["governed", "alice/paysim", "paysim-csv", "paysim.csv"],
    )
    .await;
    for read in ["raw", "open", "head", "get"] {
        assert_eq!(v[read], "PermissionError", "{read}: {v}");
    }
    check_redacted(&v["rows"]);
}
