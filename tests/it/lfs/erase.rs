//! Erasure that can be proven, with a canary: a CSV holding a unique string is committed in two
//! versions (as a table, with a Parquet view made of it), tagged and branched, then erased from
//! the dataset's whole history through the admin API. The report names the revisions rewritten,
//! the refs moved, both objects and (sealed) the key version destroyed; afterwards a scan of the
//! data directory and of the bucket (raw files, every git object decompressed, every sealed object
//! the remaining keys open) finds the canary nowhere, an old signed URL answers 410, the batch
//! API says 410, and everything else of the dataset is intact. On the local disk sealed, and on a
//! real S3 server (s3s-fs) plain. Hostile requests first: not a site admin, a wrong confirmation,
//! bad paths, strata's own files, an unknown dataset. Rows by primary key: `erase_rows.rs`.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use strata_core::db::Visibility;
use strata_lfs::Oid;

use crate::common::*;

async fn commit(server: &TestServer, token: &str, lines: Vec<Value>, branch: &str) {
    let mut header = json!({"summary": "a change", "branch": branch, "describe": true});
    if let Some(head) = server.head(token, "alice/people").await {
        header["parent"] = json!(head);
    }
    let text: Vec<String> = std::iter::once(json!({"key": "header", "value": header}))
        .chain(lines)
        .map(|l| l.to_string())
        .collect();
    let r = client()
        .post(format!(
            "{}/api/v1/datasets/alice/people/commit",
            server.url
        ))
        .bearer_auth(token)
        .header("content-type", "application/x-ndjson")
        .body(text.join("\n"))
        .send()
        .await
        .unwrap();
    let (status, _, v) = body(r).await;
    assert_eq!(status, 200, "{v}");
}

fn lfs(path: &str, data: &[u8]) -> Value {
    json!({"key": "lfsFile", "value": {"path": path, "oid": sha256_hex(data), "size": data.len()}})
}

pub(super) async fn erase(
    server: &TestServer,
    token: &str,
    dataset: &str,
    body_json: Value,
) -> (u16, reqwest::header::HeaderMap, Value) {
    let r = client()
        .post(format!(
            "{}/api/v1/admin/datasets/{dataset}/erase",
            server.url
        ))
        .bearer_auth(token)
        .json(&body_json)
        .send()
        .await
        .unwrap();
    body(r).await
}

/// The batch API's answer for downloading `data`: its href, or its error code.
async fn download(server: &TestServer, token: &str, data: &[u8]) -> Result<String, i64> {
    let req = json!({"operation": "download", "objects": [{"oid": sha256_hex(data), "size": data.len()}]});
    let (status, _, v) =
        body(lfs_post(&server.batch_url("alice/people"), Some(token), &req).await).await;
    assert_eq!(status, 200, "{v}");
    let o = &v["objects"][0];
    match o["actions"]["download"]["href"].as_str() {
        Some(h) => Ok(h.to_owned()),
        None => Err(o["error"]["code"].as_i64().unwrap()),
    }
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            } else {
                out.push(e.path());
            }
        }
    }
    out
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// Every raw file under `dir`, and every object of every git repository under it decompressed:
/// where `needle` turns up.
pub(super) fn scan(dir: &Path, needle: &[u8]) -> Vec<String> {
    let mut hits = Vec::new();
    for f in files_under(dir) {
        if contains(&std::fs::read(&f).unwrap_or_default(), needle) {
            hits.push(f.display().to_string());
        }
        if f.file_name().is_some_and(|n| n == "HEAD")
            && f.parent().is_some_and(|p| p.join("objects").is_dir())
        {
            let repo = f.parent().unwrap();
            let out = std::process::Command::new("git")
                .arg("-C")
                .arg(repo)
                .args(["cat-file", "--batch-all-objects", "--batch", "--unordered"])
                .output()
                .unwrap();
            if contains(&out.stdout, needle) {
                hits.push(format!("a git object of {}", repo.display()));
            }
        }
    }
    hits
}

async fn erasure(backend: Backend, sealed: bool) {
    let server = TestServer::start_with(backend, |c| {
        c.gc_interval_secs = 0;
        if sealed {
            c.encryption = strata_core::config::Encryption::On;
        }
    })
    .await;
    let root = server.user_with("root", true, "*").await;
    let alice = server.user("alice").await;
    let repo = server.repo("alice/people", Visibility::Private).await;
    let canary = format!("CANARY-{}", uuid::Uuid::new_v4().simple());
    let v1 = format!("id,name\n1,{canary}\n").into_bytes();
    let v2 = format!("id,name\n1,{canary}\n2,someone else\n").into_bytes();
    let keep = b"id,score\n1,10\n2,20\n".to_vec();
    for data in [&v1, &v2, &keep] {
        upload(&server, "alice/people", &alice, data).await;
    }
    commit(
        &server,
        &alice,
        vec![lfs("secret/patients.csv", &v1), lfs("scores.csv", &keep)],
        "main",
    )
    .await;
    commit(
        &server,
        &alice,
        vec![lfs("secret/patients.csv", &v2)],
        "main",
    )
    .await;
    // A Parquet view of the table, a tag and a branch holding it.
    let r = client()
        .get(format!(
            "{}/api/v1/datasets/alice/people/tables/patients?format=parquet",
            server.url
        ))
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    for (what, body_json) in [
        ("tags", json!({"name": "v1"})),
        ("branches", json!({"name": "b"})),
    ] {
        let r = client()
            .post(format!(
                "{}/api/v1/datasets/alice/people/{what}",
                server.url
            ))
            .bearer_auth(&alice)
            .json(&body_json)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
    }
    commit(
        &server,
        &alice,
        vec![json!({"key": "file", "value": {"path": "notes.txt", "content": "kept"}})],
        "main",
    )
    .await;
    let old_url = download(&server, &alice, &v1).await.unwrap();

    // Hostile callers and requests erase nothing.
    let good = json!({"paths": ["secret"], "confirm": "alice/people"});
    let (status, headers, v) = erase(&server, &alice, "alice/people", good.clone()).await;
    assert_error_body(status, &headers, &v, 403);
    for bad in [
        json!({"paths": ["secret"], "confirm": "alice/other"}),
        json!({"paths": [], "confirm": "alice/people"}),
        json!({"paths": ["../etc"], "confirm": "alice/people"}),
        json!({"paths": ["/secret"], "confirm": "alice/people"}),
        json!({"paths": ["datapackage.json"], "confirm": "alice/people"}),
    ] {
        let (status, headers, v) = erase(&server, &root, "alice/people", bad.clone()).await;
        assert_error_body(status, &headers, &v, 422);
    }
    let (status, _, v) = erase(&server, &root, "alice/people", json!({"paths": ["secret"]})).await;
    assert!(status == 400 || status == 422, "{v}");
    let (status, headers, v) = erase(
        &server,
        &root,
        "alice/nothing",
        json!({"paths": ["x"], "confirm": "alice/nothing"}),
    )
    .await;
    assert_error_body(status, &headers, &v, 404);
    assert!(download(&server, &alice, &v1).await.is_ok());

    // The erasure and its report.
    let (status, _, report) = erase(&server, &root, "alice/people", good).await;
    assert_eq!(status, 200, "{report}");
    // Every revision from the first holding the file on (the notes commit too).
    assert!(
        report["revisions_rewritten"].as_array().unwrap().len() >= 3,
        "{report}"
    );
    let moved: Vec<&str> = report["refs_moved"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r[0].as_str().unwrap())
        .collect();
    for r in ["refs/heads/main", "refs/heads/b", "refs/tags/v1"] {
        assert!(moved.contains(&r), "{r}: {report}");
    }
    let mut removed: Vec<&str> = report["objects_removed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["oid"].as_str().unwrap())
        .collect();
    removed.sort();
    let mut expected = vec![sha256_hex(&v1), sha256_hex(&v2)];
    expected.sort();
    assert_eq!(removed, expected, "{report}");
    assert!(
        report["objects_removed"]
            .as_array()
            .unwrap()
            .iter()
            .all(|o| o["bytes_deleted"] == true),
        "{report}"
    );
    assert!(
        report["derived_removed"].as_u64().unwrap() >= 1,
        "the Parquet view: {report}"
    );
    assert_eq!(report["history_pruned"], true, "{report}");
    assert!(
        report["not_reached"].as_str().unwrap().contains("clones"),
        "{report}"
    );
    if sealed {
        assert_eq!(report["keys"]["destroyed"], json!([1]), "{report}");
        assert_eq!(report["keys"]["version"], 2, "{report}");
    } else {
        assert!(report["keys"].is_null(), "{report}");
    }

    // Old signed URLs and downloads: gone. strata's own signed URLs answer 410; a presigned
    // bucket URL goes to the bucket, which no longer has the object (404).
    let r = client().get(&old_url).send().await.unwrap();
    let gone = if server.s3.is_some() { 404 } else { 410 };
    assert_eq!(r.status(), gone, "{}", r.text().await.unwrap());
    assert_eq!(download(&server, &alice, &v1).await, Err(410));
    assert_eq!(download(&server, &alice, &v2).await, Err(410));
    // The rest is intact: the other file downloads, the tag and branch read, history is there.
    let href = download(&server, &alice, &keep).await.unwrap();
    assert_eq!(
        client()
            .get(&href)
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap()
            .to_vec(),
        keep
    );
    for rev in ["main", "v1", "b"] {
        let r = client()
            .get(format!(
                "{}/api/v1/datasets/alice/people/tree?rev={rev}",
                server.url
            ))
            .bearer_auth(&alice)
            .send()
            .await
            .unwrap();
        let (status, _, tree) = body(r).await;
        assert_eq!(status, 200, "{tree}");
        let text = tree.to_string();
        assert!(
            !text.contains("secret/") && text.contains("scores.csv"),
            "{rev}: {text}"
        );
    }
    let r = client()
        .get(format!("{}/api/v1/datasets/alice/people", server.url))
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap();
    let package = body(r).await.2;
    assert!(!package.to_string().contains("patients"), "{package}");

    // The scan: the canary is nowhere in the data directory, the bucket or any git object, and
    // neither is either erased object's id.
    let mut places = vec![server.dir.path().join("data")];
    if let Some(s3) = &server.s3 {
        places.push(s3.root.path().to_owned());
    }
    for place in &places {
        for needle in [
            canary.as_bytes(),
            sha256_hex(&v1).as_bytes(),
            sha256_hex(&v2).as_bytes(),
        ] {
            let hits = scan(place, needle);
            assert!(
                hits.is_empty(),
                "{} found in {hits:?}",
                String::from_utf8_lossy(needle)
            );
        }
    }
    if sealed {
        // Every sealed object left is one the remaining keys open, and none holds the canary.
        let dir = server
            .dir
            .path()
            .join(format!("data/objects/sealed/{}", repo.id));
        let left = files_under(&dir);
        assert!(!left.is_empty());
        for f in left {
            let oid: Oid = f.file_name().unwrap().to_str().unwrap().parse().unwrap();
            let read = server
                .state
                .storage
                .read(repo.id, &oid, None)
                .await
                .unwrap();
            let Some(strata_core::storage::Read::Found { object, .. }) = read else {
                panic!("{oid} does not open");
            };
            use futures_util::StreamExt;
            let chunks: Vec<_> = object.body.collect().await;
            let plain: Vec<u8> = chunks
                .into_iter()
                .flat_map(|c| c.unwrap().to_vec())
                .collect();
            assert!(
                !contains(&plain, canary.as_bytes()),
                "{oid} holds the canary"
            );
        }
    }

    // A clone sees a consistent history without the files.
    let (home, url) = (
        server.dir.path().join("home"),
        format!("{}/alice/people.git", server.url),
    );
    let work = server.dir.path().to_owned();
    let token = alice.clone();
    let server_url = server.url.clone();
    let listed = tokio::task::spawn_blocking(move || {
        setup_home(&home, &server_url, &token);
        run(git(&home, &work)
            .env("GIT_LFS_SKIP_SMUDGE", "1")
            .args(["clone", "-q", "--mirror", &url, "m.git"]));
        let m = work.join("m.git");
        let log = run(git(&home, &m).args(["log", "--all", "--name-only", "--format=%s"]));
        let lfs = run(git(&home, &m).args(["lfs", "ls-files", "--all", "--long"]));
        (log, lfs)
    })
    .await
    .unwrap();
    assert!(!listed.0.contains("secret/"), "{}", listed.0);
    assert!(
        listed.0.contains("scores.csv") && listed.0.contains("notes.txt"),
        "{}",
        listed.0
    );
    assert!(!listed.1.contains(&sha256_hex(&v1)), "{}", listed.1);

    // What was erased cannot come back: not through the batch API (a stale clone's push).
    let req =
        json!({"operation": "upload", "objects": [{"oid": sha256_hex(&v1), "size": v1.len()}]});
    let (_, _, v) =
        body(lfs_post(&server.batch_url("alice/people"), Some(&alice), &req).await).await;
    assert_eq!(v["objects"][0]["error"]["code"], 410, "{v}");

    // The dataset's events name the erased paths nowhere (the erasure's own say "rewritten").
    let r = client()
        .get(format!("{}/api/v1/events", server.url))
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap();
    let events = crate::events::stream::sse_until(r, |got| {
        got.iter().any(|e| e.2["data"]["rewritten"] == true)
    })
    .await;
    let text = format!("{events:?}");
    assert!(
        !text.contains("secret/") && !text.contains("patients"),
        "{text}"
    );

    // Audited, naming the paths by their hashes only.
    let r = client()
        .get(format!("{}/api/v1/audit", server.url))
        .bearer_auth(&root)
        .send()
        .await
        .unwrap();
    let audit = body(r).await.2;
    let entry = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["event"] == "dataset.erase")
        .unwrap_or_else(|| panic!("{audit}"));
    assert_eq!(entry["actor"], "root");
    assert_eq!(entry["subject"], "alice/people");
    assert!(!audit.to_string().contains("secret"), "{audit}");
    assert!(entry["detail"]["paths"][0]
        .as_str()
        .unwrap()
        .starts_with("sha256:"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_erased_file_is_gone_from_every_revision_the_disk_and_the_keys() {
    erasure(Backend::Local, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_erased_file_is_gone_from_every_revision_and_the_bucket() {
    erasure(Backend::S3, false).await;
}

/// An erasure that stopped after its refs moved (a crash, a conflict) is finished by the next
/// erasure of the dataset: the objects its paths named are erased then too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_erasure_stopped_half_way_is_finished_by_the_next() {
    let server = TestServer::start_with(Backend::Local, |c| c.gc_interval_secs = 0).await;
    let root = server.user_with("root", true, "*").await;
    let alice = server.user("alice").await;
    let repo = server.repo("alice/people", Visibility::Private).await;
    let (a, b) = (b"first erased\n".to_vec(), b"second erased\n".to_vec());
    for data in [&a, &b] {
        upload(&server, "alice/people", &alice, data).await;
    }
    commit(
        &server,
        &alice,
        vec![lfs("a.bin", &a), lfs("b.bin", &b)],
        "main",
    )
    .await;
    // The first erasure recorded what it names and moved its refs, then stopped.
    server
        .state
        .db
        .start_erasure(repo.id, &["a.bin".into()], &[sha256_hex(&a)], "root")
        .await
        .unwrap();
    let ms = server.state.metastore.clone();
    tokio::task::spawn_blocking(move || {
        let ds = strata_metastore::DatasetId {
            ns: "alice",
            name: "people",
        };
        let wants = |p: &str| p == "a.bin";
        let mut drop = |_: &str, _: &[u8]| Ok(strata_metastore::Edit::Drop);
        ms.rewrite_history(ds, &wants, &mut drop, true).unwrap();
    })
    .await
    .unwrap();
    assert!(
        download(&server, &alice, &a).await.is_ok(),
        "not erased yet"
    );
    let (status, _, report) = erase(
        &server,
        &root,
        "alice/people",
        json!({"paths": ["b.bin"], "confirm": "alice/people"}),
    )
    .await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["paths"], json!(["a.bin", "b.bin"]), "{report}");
    assert_eq!(download(&server, &alice, &a).await, Err(410));
    assert_eq!(download(&server, &alice, &b).await, Err(410));
}
