//! Import by reference end to end: a directory declared as an import source (`file://`), a
//! prefix of it adopted as a folder of a dataset in one commit; the files then read over REST
//! (whole and in ranges) and by `git clone` + `git lfs pull`, byte for byte, while strata's
//! store holds none of their bytes; imported again, nothing is read twice; a source object
//! changed afterwards answered 409 (REST and LFS), never with its new bytes; garbage collection
//! forgets an object no ref reaches and leaves the source alone. `hostile` has the refusals, and
//! `s3` a bucket (s3s-fs) as the source on the S3 backend.

mod hostile;
mod pages;
mod s3;

use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};
use strata_core::config::ImportSource;

use crate::common::*;

const API: &str = "/api/v1/datasets";

pub(super) async fn call(
    method: reqwest::Method,
    url: &str,
    token: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = client().request(method, url).bearer_auth(token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let (status, _, v) = crate::common::body(req.send().await.unwrap()).await;
    (status, v)
}

/// An import source named `name` on `dir`, open to `namespaces`.
pub(super) fn source(name: &str, dir: &Path, namespaces: &[&str]) -> ImportSource {
    let mut url = url::Url::from_directory_path(dir).unwrap();
    for ns in namespaces {
        url.query_pairs_mut().append_pair("namespace", ns);
    }
    format!("{name}={url}").parse().unwrap()
}

/// Starts an import into `dataset`; returns its id.
pub(super) async fn start(server: &TestServer, token: &str, dataset: &str, body: Value) -> i64 {
    let (s, v) = call(
        reqwest::Method::POST,
        &format!("{}{API}/{dataset}/imports", server.url),
        token,
        Some(body),
    )
    .await;
    assert_eq!(s, 202, "{v}");
    assert_eq!(v["import"]["state"], "queued", "{v}");
    v["import"]["id"].as_i64().unwrap()
}

/// Import `id` of `dataset` once it ended.
pub(super) async fn ended(server: &TestServer, token: &str, dataset: &str, id: i64) -> Value {
    for _ in 0..600 {
        let (s, v) = call(
            reqwest::Method::GET,
            &format!("{}{API}/{dataset}/imports/{id}", server.url),
            token,
            None,
        )
        .await;
        assert_eq!(s, 200, "{v}");
        let state = v["import"]["state"].as_str().unwrap().to_owned();
        if state == "done" || state == "failed" {
            return v["import"].clone();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("import {id} of {dataset} never ended");
}

pub(super) async fn raw(
    server: &TestServer,
    token: &str,
    dataset: &str,
    path: &str,
    range: Option<&str>,
) -> (u16, Vec<u8>) {
    let mut req = client()
        .get(format!("{}{API}/{dataset}/raw/{path}", server.url))
        .bearer_auth(token);
    if let Some(r) = range {
        req = req.header("range", r);
    }
    let r = req.send().await.unwrap();
    (r.status().as_u16(), r.bytes().await.unwrap().to_vec())
}

pub(super) async fn create(server: &TestServer, token: &str, ns: &str, name: &str) {
    let (s, v) = call(
        reqwest::Method::POST,
        &format!("{}{API}", server.url),
        token,
        Some(json!({"namespace": ns, "name": name})),
    )
    .await;
    assert_eq!(s, 201, "{v}");
}

/// The download action the LFS batch API gives `token`'s holder for `oid` of `dataset`.
pub(super) async fn download_href(
    server: &TestServer,
    token: &str,
    dataset: &str,
    oid: &str,
    size: usize,
) -> String {
    let r = lfs_post(
        &format!("{}/{dataset}.git/info/lfs/objects/batch", server.url),
        Some(token),
        &json!({"operation": "download", "objects": [{"oid": oid, "size": size}]}),
    )
    .await;
    let (_, _, batch) = body(r).await;
    batch["objects"][0]["actions"]["download"]["href"]
        .as_str()
        .unwrap_or_else(|| panic!("no download action: {batch}"))
        .to_owned()
}

/// Whether any file under `dir` is named `name`.
fn holds_file(dir: &Path, name: &str) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    entries.flatten().any(|e| {
        let p = e.path();
        match p.is_dir() {
            true => holds_file(&p, name),
            false => e.file_name().to_str() == Some(name),
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adopts_a_prefix_without_copying_and_refuses_what_drifted() {
    let bucket = tempfile::tempdir().unwrap();
    let b = bucket.path();
    std::fs::create_dir_all(b.join("raw/2024/sub")).unwrap();
    std::fs::create_dir_all(b.join("raw/other")).unwrap();
    let csv = b"id,city\n1,Oslo\n2,Lima\n".to_vec();
    let big: Vec<u8> = (0..(3u32 << 20))
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    std::fs::write(b.join("raw/2024/cities.csv"), &csv).unwrap();
    std::fs::write(b.join("raw/2024/sub/blob.bin"), &big).unwrap();
    std::fs::write(b.join("raw/other/not-this.txt"), b"elsewhere").unwrap();
    let sources = vec![source("lake", b, &["alice"])];
    let server = TestServer::start_with(Backend::Local, |c| {
        c.import_sources = sources;
        c.gc_interval_secs = 0;
    })
    .await;
    let alice = server.user("alice").await;
    create(&server, &alice, "alice", "data").await;

    // The sources open to the dataset are listed.
    let (s, v) = call(
        reqwest::Method::GET,
        &format!("{}{API}/alice/data/imports", server.url),
        &alice,
        None,
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["sources"], json!(["lake"]), "{v}");

    let id = start(
        &server,
        &alice,
        "alice/data",
        json!({"source": "lake", "prefix": "raw/2024", "path": "incoming"}),
    )
    .await;
    let done = ended(&server, &alice, "alice/data", id).await;
    assert_eq!(done["state"], "done", "{done}");
    assert_eq!(done["objects"], 2, "{done}");
    assert_eq!(done["hashed"], 2, "{done}");
    assert_eq!(done["bytes"], (csv.len() + big.len()) as u64, "{done}");
    assert_eq!(done["bytes_copied"], 0, "{done}");
    let revision = done["revision"].as_str().unwrap().to_owned();

    // Read over REST, whole and in a range; the other folder was not taken.
    let (s, got) = raw(&server, &alice, "alice/data", "incoming/cities.csv", None).await;
    assert_eq!((s, &got), (200, &csv));
    let (s, got) = raw(&server, &alice, "alice/data", "incoming/sub/blob.bin", None).await;
    assert_eq!(s, 200);
    assert!(got == big, "blob.bin differs");
    let (s, got) = raw(
        &server,
        &alice,
        "alice/data",
        "incoming/sub/blob.bin",
        Some("bytes=1000-1999"),
    )
    .await;
    assert_eq!(s, 206);
    assert!(got == big[1000..2000], "the range differs");
    let (s, _) = raw(&server, &alice, "alice/data", "incoming/not-this.txt", None).await;
    assert_eq!(s, 404);
    // The table became a datapackage resource.
    let (s, v) = call(
        reqwest::Method::GET,
        &format!("{}{API}/alice/data", server.url),
        &alice,
        None,
    )
    .await;
    assert_eq!(s, 200, "{v}");
    // (The table engine typed its columns, reading it from the source, in a commit of its own.)
    assert_eq!(v["revision"]["parents"][0], revision.as_str(), "{v}");
    let resource = &v["datapackage"]["resources"][0];
    assert_eq!(resource["path"], "incoming/cities.csv", "{v}");
    assert_eq!(resource["schema"]["fields"][0]["type"], "integer", "{v}");

    // strata's store holds none of their bytes.
    let data = server.dir.path().join("data");
    for bytes in [&csv, &big] {
        assert!(
            !holds_file(&data, &sha256_hex(bytes)),
            "an object was copied"
        );
    }

    // git clone + git lfs pull, byte for byte.
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    setup_home(&home, &server.url, &alice);
    run(git(&home, tmp.path()).args([
        "clone",
        "-q",
        &format!("{}/alice/data.git", server.url),
        "w",
    ]));
    let work = tmp.path().join("w");
    assert!(std::fs::read(work.join("incoming/sub/blob.bin")).unwrap() == big);
    assert_eq!(
        std::fs::read(work.join("incoming/cities.csv")).unwrap(),
        csv
    );

    // Imported again elsewhere: nothing read twice.
    let again = start(
        &server,
        &alice,
        "alice/data",
        json!({"source": "lake", "prefix": "raw/2024/", "path": "copy/"}),
    )
    .await;
    let again = ended(&server, &alice, "alice/data", again).await;
    assert_eq!(again["state"], "done", "{again}");
    assert_eq!(
        (again["hashed"].as_i64(), again["reused"].as_i64()),
        (Some(0), Some(2))
    );

    // The source changes: its new bytes are never served as the object.
    tokio::time::sleep(Duration::from_millis(20)).await;
    std::fs::write(b.join("raw/2024/cities.csv"), b"id,city\n1,Oslo\n2,Rome\n").unwrap();
    let r = client()
        .get(format!(
            "{}{API}/alice/data/raw/incoming/cities.csv",
            server.url
        ))
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap();
    let (s, _, v) = body(r).await;
    assert_eq!(s, 409, "{v}");
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("changed since it was imported"),
        "{v}"
    );
    assert!(v["request_id"].is_string(), "{v}");
    // Through the LFS batch API: its download URL answers 409 too.
    let oid = sha256_hex(&csv);
    let href = download_href(&server, &alice, "alice/data", &oid, csv.len()).await;
    let r = client().get(&href).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 409);
    // The object that did not change is still served.
    let (s, got) = raw(&server, &alice, "alice/data", "incoming/sub/blob.bin", None).await;
    assert_eq!(s, 200);
    assert!(got == big);

    // On a branch that goes, the objects only it reached are collected: the reference is
    // forgotten, the source's bytes stay.
    std::fs::create_dir_all(b.join("scratch")).unwrap();
    std::fs::write(b.join("scratch/tmp.bin"), b"only on a branch that goes").unwrap();
    let post = reqwest::Method::POST;
    let (s, v) = call(
        post,
        &format!("{}{API}/alice/data/branches", server.url),
        &alice,
        Some(json!({"name": "scratch", "revision": revision})),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    let id = start(
        &server,
        &alice,
        "alice/data",
        json!({"source": "lake", "prefix": "scratch", "branch": "scratch"}),
    )
    .await;
    assert_eq!(
        ended(&server, &alice, "alice/data", id).await["state"],
        "done"
    );
    let tmp_oid = sha256_hex(b"only on a branch that goes");
    let db = &server.state.db;
    assert!(db.object_ref(&tmp_oid).await.unwrap().is_some());
    let (s, v) = call(
        reqwest::Method::DELETE,
        &format!("{}{API}/alice/data/branches/scratch", server.url),
        &alice,
        None,
    )
    .await;
    assert!(s == 200 || s == 204, "{s} {v}");
    let admin = server.user_with("root", true, "*").await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let r = client()
        .post(format!("{}/api/v1/admin/gc", server.url))
        .bearer_auth(&admin)
        .json(&json!({"grace_secs": 0}))
        .send()
        .await
        .unwrap();
    let (s, _, v) = body(r).await;
    assert_eq!(s, 200, "{v}");
    assert!(db.object_ref(&tmp_oid).await.unwrap().is_none(), "{v}");
    assert!(db.object_ref(&sha256_hex(&big)).await.unwrap().is_some());
    assert!(b.join("scratch/tmp.bin").exists(), "the source was touched");
}
