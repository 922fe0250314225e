//! Garbage collection's rules, one at a time: retention (tags always kept, history back N days),
//! dry runs that list what would go and why and delete nothing, the admin API and command line
//! (hostile callers and bodies, one run at a time, runs listed and audited), the grace period
//! with a use taking a candidate back, no grace deleting what a commit just left unreachable, a
//! deleted dataset's objects, a link racing a deletion, and sealed copies.

use serde_json::{json, Value};
use strata_core::db::Visibility;
use strata_lfs::Oid;

use crate::common::*;

/// Waits for the next second: links and commits are timed in seconds (a run with a grace marks
/// only what was linked before the second it starts).
async fn next_second() {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(
        1010 - u64::from(now.subsec_millis()),
    ))
    .await;
}

async fn commit(server: &TestServer, token: &str, repo: &str, lines: Vec<Value>) {
    let mut value = json!({"summary": "a commit"});
    if let Some(head) = server.head(token, repo).await {
        value["parent"] = json!(head);
    }
    let header = json!({"key": "header", "value": value});
    let text: Vec<String> = std::iter::once(header)
        .chain(lines)
        .map(|l| l.to_string())
        .collect();
    let r = client()
        .post(format!("{}/api/v1/datasets/{repo}/commit", server.url))
        .bearer_auth(token)
        .header("content-type", "application/x-ndjson")
        .body(text.join("\n"))
        .send()
        .await
        .unwrap();
    let (status, _, v) = body(r).await;
    assert_eq!(status, 200, "{v}");
}

fn lfs_file(path: &str, data: &[u8]) -> Value {
    json!({"key": "lfsFile", "value": {"path": path, "oid": sha256_hex(data), "size": data.len()}})
}

fn deleted(path: &str) -> Value {
    json!({"key": "deletedFile", "value": {"path": path}})
}

async fn gc(
    server: &TestServer,
    token: &str,
    request: Value,
) -> (u16, reqwest::header::HeaderMap, Value) {
    let r = client()
        .post(format!("{}/api/v1/admin/gc", server.url))
        .bearer_auth(token)
        .json(&request)
        .send()
        .await
        .unwrap();
    body(r).await
}

async fn gc_ok(server: &TestServer, token: &str, request: Value) -> Value {
    let (status, _, v) = gc(server, token, request).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["errors"], json!([]), "{v}");
    v
}

/// Whether `data` downloads from `repo`.
async fn readable(server: &TestServer, repo: &str, token: &str, data: &[u8]) -> bool {
    let req = json!({"operation": "download", "objects": [{"oid": sha256_hex(data), "size": data.len()}]});
    let (status, _, v) = body(lfs_post(&server.batch_url(repo), Some(token), &req).await).await;
    assert_eq!(status, 200, "{v}");
    v["objects"][0]["actions"]["download"].is_object()
}

async fn put_retention(
    server: &TestServer,
    token: &str,
    repo: &str,
    body_text: &str,
) -> (u16, reqwest::header::HeaderMap, Value) {
    let r = client()
        .put(format!("{}/api/v1/datasets/{repo}/retention", server.url))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body(body_text.to_owned())
        .send()
        .await
        .unwrap();
    body(r).await
}

fn items_of<'a>(report: &'a Value, action: &str) -> Vec<&'a str> {
    report["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["action"] == action)
        .map(|i| i["oid"].as_str().unwrap())
        .collect()
}

/// A run with no grace deletes what is unreachable now, in that run: a version a commit replaced
/// a moment before, in the very second the run is asked for, included (links are timed in whole
/// seconds: the run waits for the next one to begin).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_grace_deletes_what_a_commit_just_left_unreachable() {
    let server = TestServer::start_with(Backend::Local, |c| c.gc_interval_secs = 0).await;
    let root = server.user_with("root", true, "*").await;
    let alice = server.user("alice").await;
    server.repo("alice/now", Visibility::Private).await;
    let (status, _, v) = put_retention(&server, &alice, "alice/now", r#"{"keep_days": 0}"#).await;
    assert_eq!(status, 204, "{v}");
    let (old, new) = (b"old version\n".to_vec(), b"new version\n".to_vec());
    // At the start of a second: the uploads, the commits and the run's request all fall in it.
    next_second().await;
    upload(&server, "alice/now", &alice, &old).await;
    commit(&server, &alice, "alice/now", vec![lfs_file("f.bin", &old)]).await;
    upload(&server, "alice/now", &alice, &new).await;
    commit(&server, &alice, "alice/now", vec![lfs_file("f.bin", &new)]).await;
    let v = gc_ok(&server, &root, json!({"grace_secs": 0})).await;
    assert_eq!(v["links_removed"], 1, "{v}");
    assert_eq!(v["objects_removed"], 1, "{v}");
    assert_eq!(items_of(&v, "removed").len(), 2, "{v}");
    assert!(!readable(&server, "alice/now", &alice, &old).await);
    assert!(!server.state.storage.holds(0, &Oid::of(&old)).await.unwrap());
    assert!(readable(&server, "alice/now", &alice, &new).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_keeps_tags_and_recent_history_and_dry_runs_delete_nothing() {
    let server = TestServer::start_with(Backend::Local, |c| c.gc_interval_secs = 0).await;
    let root = server.user_with("root", true, "*").await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    server.repo("alice/ret", Visibility::Private).await;
    let (a, b, c) = (
        b"first version\n".to_vec(),
        b"second\n".to_vec(),
        b"third\n".to_vec(),
    );
    for data in [&a, &b, &c] {
        upload(&server, "alice/ret", &alice, data).await;
    }
    commit(
        &server,
        &alice,
        "alice/ret",
        vec![lfs_file("a.bin", &a), lfs_file("b.bin", &b)],
    )
    .await;
    let first = server.head(&alice, "alice/ret").await.unwrap();
    let tag = client()
        .post(format!("{}/api/v1/datasets/alice/ret/tags", server.url))
        .bearer_auth(&alice)
        .json(&json!({"name": "v1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(tag.status(), 201);
    commit(
        &server,
        &alice,
        "alice/ret",
        vec![deleted("a.bin"), deleted("b.bin"), lfs_file("c.bin", &c)],
    )
    .await;

    // All history is kept by default.
    next_second().await;
    let v = gc_ok(&server, &root, json!({"grace_secs": 0})).await;
    assert_eq!(v["links_removed"], 0, "{v}");

    // Retention: dataset admins only, 0 to 36500 days or null.
    let (status, headers, v) =
        put_retention(&server, &bob, "alice/ret", r#"{"keep_days": 0}"#).await;
    assert_error_body(status, &headers, &v, 404);
    for bad in [r#"{"keep_days": -1}"#, r#"{"keep_days": 40000}"#] {
        let (status, headers, v) = put_retention(&server, &alice, "alice/ret", bad).await;
        assert_error_body(status, &headers, &v, 422);
    }
    for bad in [r#"{"keep_days": "x"}"#, r#"{"days": 3}"#, "not json"] {
        let (status, _, v) = put_retention(&server, &alice, "alice/ret", bad).await;
        assert!(status == 400 || status == 422, "{bad}: {status} {v}");
    }
    let (status, _, v) = put_retention(&server, &alice, "alice/ret", r#"{"keep_days": 0}"#).await;
    assert_eq!(status, 204, "{v}");
    let r = client()
        .get(format!(
            "{}/api/v1/datasets/alice/ret/retention",
            server.url
        ))
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap();
    assert_eq!(body(r).await.2, json!({"keep_days": 0}));

    // The tag keeps a and b.
    next_second().await;
    let v = gc_ok(&server, &root, json!({"dry_run": true, "grace_secs": 0})).await;
    assert_eq!(v["links_removed"], 0, "{v}");
    let r = client()
        .delete(format!("{}/api/v1/datasets/alice/ret/tags/v1", server.url))
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);

    // A dry run lists them with why, and deletes nothing; so does the command line's.
    let v = gc_ok(&server, &root, json!({"dry_run": true, "grace_secs": 0})).await;
    let mut would = items_of(&v, "would remove");
    would.sort();
    let mut expected = vec![sha256_hex(&a), sha256_hex(&b)];
    expected.sort();
    assert_eq!(would, expected, "{v}");
    let reason = v["items"][0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("no ref of alice/ret reaches it within its retention (0 days)"),
        "{reason}"
    );
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_strata"))
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("STRATA_DATA_DIR", server.dir.path().join("data"))
        .env("STRATA_DATABASE_URL", &server.state.settings.database_url)
        .env("STRATA_JWT_KEY_FILE", server.dir.path().join("jwt.pem"))
        .args(["admin", "gc", "--dry-run", "--grace-secs", "0"])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        said.contains(&format!("would remove alice/ret {}", sha256_hex(&a))),
        "{said}"
    );
    assert!(
        said.contains("2 link(s) and 0 object(s) would be removed"),
        "{said}"
    );
    assert!(readable(&server, "alice/ret", &alice, &a).await);

    // The run removes them, their bytes with them; c stays.
    let v = gc_ok(&server, &root, json!({"grace_secs": 0})).await;
    assert_eq!(v["links_removed"], 2, "{v}");
    assert_eq!(v["objects_removed"], 2, "{v}");
    assert_eq!(v["bytes_freed"], a.len() + b.len(), "{v}");
    assert!(!readable(&server, "alice/ret", &alice, &a).await);
    assert!(!readable(&server, "alice/ret", &alice, &b).await);
    assert!(readable(&server, "alice/ret", &alice, &c).await);
    assert!(!server.state.storage.holds(0, &Oid::of(&a)).await.unwrap());
    assert!(server.state.storage.holds(0, &Oid::of(&c)).await.unwrap());
    // The first revision's objects are gone: it can no longer be tagged or branched.
    for (what, b) in [
        ("tags", json!({"name": "late", "revision": first})),
        ("branches", json!({"name": "late", "revision": first})),
    ] {
        let r = client()
            .post(format!("{}/api/v1/datasets/alice/ret/{what}", server.url))
            .bearer_auth(&alice)
            .json(&b)
            .send()
            .await
            .unwrap();
        let (status, headers, v) = body(r).await;
        assert_error_body(status, &headers, &v, 409);
        assert!(
            v["message"].as_str().unwrap().contains("no longer stored"),
            "{v}"
        );
    }
    let run = v["run"].as_i64().unwrap();

    // Runs are listed (without items) and read one by one (with them), by site admins only.
    let r = client()
        .get(format!("{}/api/v1/admin/gc", server.url))
        .bearer_auth(&root)
        .send()
        .await
        .unwrap();
    let (status, _, list) = body(r).await;
    assert_eq!(status, 200);
    assert_eq!(list[0]["id"], run, "{list}");
    assert_eq!(list[0]["state"], "done");
    assert_eq!(list[0]["started_by"], "root");
    assert!(list[0]["report"]["items"].is_null(), "{list}");
    let r = client()
        .get(format!("{}/api/v1/admin/gc/{run}", server.url))
        .bearer_auth(&root)
        .send()
        .await
        .unwrap();
    let one = body(r).await.2;
    assert_eq!(items_of(&one["report"], "removed").len(), 4, "{one}");
    for (url, expected) in [
        (format!("{}/api/v1/admin/gc/999999", server.url), 404),
        (format!("{}/api/v1/admin/gc/{run}", server.url), 403),
        (format!("{}/api/v1/admin/gc", server.url), 403),
    ] {
        let token = if expected == 404 { &root } else { &alice };
        let r = client().get(&url).bearer_auth(token).send().await.unwrap();
        let (status, headers, v) = body(r).await;
        assert_error_body(status, &headers, &v, expected);
    }
    let (status, headers, v) = gc(&server, &alice, json!({})).await;
    assert_error_body(status, &headers, &v, 403);
    let r = client()
        .post(format!("{}/api/v1/admin/gc", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    for bad in [
        json!({"dry_run": "yes"}),
        json!({"grace": 1}),
        json!({"grace_secs": -1}),
    ] {
        let (status, _, v) = gc(&server, &root, bad.clone()).await;
        assert!(status == 400 || status == 422, "{bad}: {status} {v}");
    }
    // One real run at a time, whoever runs it; a dry run may look meanwhile.
    let held = server
        .state
        .db
        .gc_claim(false, Some("elsewhere"))
        .await
        .unwrap()
        .unwrap();
    let (status, headers, v) = gc(&server, &root, json!({})).await;
    assert_error_body(status, &headers, &v, 409);
    assert!(
        v["message"].as_str().unwrap().contains("running already"),
        "{v}"
    );
    gc_ok(&server, &root, json!({"dry_run": true})).await;
    server.state.db.gc_finish(held, "done", "{}").await.unwrap();

    // Audited, with who ran it.
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
        .find(|e| e["event"] == "gc.run")
        .unwrap_or_else(|| panic!("{audit}"));
    assert_eq!(entry["actor"], "root");
    assert_eq!(entry["detail"]["links_removed"], 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_candidate_waits_out_the_grace_and_any_use_takes_it_back() {
    let server = TestServer::start_with(Backend::Local, |c| c.gc_interval_secs = 0).await;
    let root = server.user_with("root", true, "*").await;
    let alice = server.user("alice").await;
    server.repo("alice/g", Visibility::Private).await;
    server.repo("alice/gone", Visibility::Private).await;
    let x = b"an object nothing will reach\n".to_vec();
    upload(&server, "alice/g", &alice, &x).await;
    let y = b"an object of a dataset about to be deleted\n".to_vec();
    upload(&server, "alice/gone", &alice, &y).await;

    // (Linked over a second before the run, past its one-second grace.)
    next_second().await;
    next_second().await;
    let v = gc_ok(&server, &root, json!({"grace_secs": 1})).await;
    assert_eq!(items_of(&v, "marked").len(), 2, "{v}");
    assert_eq!(v["links_removed"], 0, "{v}");
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    // A transfer asks for it: it is in use again.
    assert!(readable(&server, "alice/g", &alice, &x).await);
    let v = gc_ok(&server, &root, json!({"grace_secs": 1})).await;
    assert_eq!(v["links_removed"], 1, "only alice/gone's object went: {v}");
    // (Asked without the batch API, which would take it back again.)
    assert_eq!(
        server
            .state
            .db
            .object_link_count(&Oid::of(&x))
            .await
            .unwrap(),
        (true, 1)
    );
    // Marked again by that run (untouched since), it goes a grace period later.
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let v = gc_ok(&server, &root, json!({"grace_secs": 1})).await;
    assert_eq!(v["links_removed"], 1, "{v}");
    assert!(!readable(&server, "alice/g", &alice, &x).await);

    // A deleted dataset's objects no other dataset links go.
    let r = client()
        .delete(format!("{}/api/v1/datasets/alice/gone", server.url))
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    let v = gc_ok(&server, &root, json!({"grace_secs": 0})).await;
    assert!(
        !server.state.storage.holds(0, &Oid::of(&y)).await.unwrap(),
        "{v}"
    );
    assert!(
        !server.state.storage.holds(0, &Oid::of(&x)).await.unwrap(),
        "{v}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_racing_a_deletion_is_refused_or_checks_its_bytes() {
    let server = TestServer::start_with(Backend::Local, |c| c.gc_interval_secs = 0).await;
    let alice = server.user("alice").await;
    let repo = server.repo("alice/race", Visibility::Private).await;
    let db = &server.state.db;
    let w = b"bytes a collection is deleting\n".to_vec();
    let oid = upload(&server, "alice/race", &alice, &w).await;
    let later = strata_core::db::now() + 100;
    // A run takes the link, then the object, and is about to delete its bytes.
    db.gc_mark(repo.id, &[oid.to_string()], later)
        .await
        .unwrap();
    assert!(db
        .gc_unlink(repo.id, &oid.to_string(), later, false)
        .await
        .unwrap()
        .is_some());
    db.gc_mark(0, &[oid.to_string()], later).await.unwrap();
    assert!(db.gc_forget_object(&oid.to_string(), later).await.unwrap());
    // An upload of the same bytes meanwhile is refused (503), and nothing is linked.
    let req =
        json!({"operation": "upload", "objects": [{"oid": oid.to_string(), "size": w.len()}]});
    let (_, _, v) = body(lfs_post(&server.batch_url("alice/race"), Some(&alice), &req).await).await;
    let href = v["objects"][0]["actions"]["upload"]["href"]
        .as_str()
        .unwrap()
        .to_owned();
    let put = client().put(&href).body(w.clone()).send().await.unwrap();
    let (status, headers, v) = body(put).await;
    assert_error_body(status, &headers, &v, 503);
    assert!(
        v["message"].as_str().unwrap().contains("upload it again"),
        "{v}"
    );
    assert!(!readable(&server, "alice/race", &alice, &w).await);
    // The run deletes the bytes; a link now checks they are there (they are not: refused).
    server.state.storage.delete_bytes(0, &oid).await.unwrap();
    db.gc_deleted(0, &oid.to_string()).await.unwrap();
    let e = server
        .state
        .storage
        .link(repo.id, &oid, w.len() as u64)
        .await
        .unwrap_err();
    assert!(e.message.contains("upload it again"), "{}", e.message);
    assert!(!readable(&server, "alice/race", &alice, &w).await);
    // An upload after the deletion stores the bytes again and links them.
    upload(&server, "alice/race", &alice, &w).await;
    assert!(readable(&server, "alice/race", &alice, &w).await);
    assert!(server.state.storage.holds(0, &oid).await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sealed_copies_go_with_their_link() {
    let server = TestServer::start_with(Backend::Local, |c| {
        c.gc_interval_secs = 0;
        c.encryption = strata_core::config::Encryption::On;
    })
    .await;
    let root = server.user_with("root", true, "*").await;
    let alice = server.user("alice").await;
    let one = server.repo("alice/one", Visibility::Private).await;
    let two = server.repo("alice/two", Visibility::Private).await;
    let s = b"shared bytes, sealed once per dataset\n".to_vec();
    for r in ["alice/one", "alice/two"] {
        upload(&server, r, &alice, &s).await;
    }
    commit(&server, &alice, "alice/two", vec![lfs_file("s.bin", &s)]).await;
    let oid = Oid::of(&s);
    assert!(server.state.storage.holds(one.id, &oid).await.unwrap());
    next_second().await;
    let v = gc_ok(&server, &root, json!({"grace_secs": 0})).await;
    assert_eq!(v["links_removed"], 1, "{v}");
    assert_eq!(v["bytes_freed"], s.len(), "{v}");
    let sealed_one = server
        .dir
        .path()
        .join(format!("data/objects/sealed/{}", one.id));
    let left: Vec<_> = walk(&sealed_one);
    assert!(left.is_empty(), "alice/one's sealed copy stays: {left:?}");
    assert!(server.state.storage.holds(two.id, &oid).await.unwrap());
    assert!(readable(&server, "alice/two", &alice, &s).await);
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        if e.path().is_dir() {
            out.extend(walk(&e.path()));
        } else {
            out.push(e.path());
        }
    }
    out
}

/// A dataset whose repository cannot be read keeps everything (the run says why): reachability
/// fails closed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_repository_keeps_its_objects() {
    let server = TestServer::start_with(Backend::Local, |c| c.gc_interval_secs = 0).await;
    let root = server.user_with("root", true, "*").await;
    let alice = server.user("alice").await;
    server.repo("alice/lost", Visibility::Private).await;
    let data = b"kept while the repository is away\n".to_vec();
    upload(&server, "alice/lost", &alice, &data).await;
    let repos = server.state.metastore.root().join("alice");
    std::fs::rename(repos.join("lost.git"), repos.join("away")).unwrap();
    next_second().await;
    let (status, _, v) = gc(&server, &root, json!({"grace_secs": 0})).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["links_removed"], 0, "{v}");
    assert!(
        v["errors"][0].as_str().unwrap().contains("alice/lost"),
        "{v}"
    );
    assert_eq!(
        server
            .state
            .db
            .object_link_count(&Oid::of(&data))
            .await
            .unwrap(),
        (true, 1)
    );
    // Back in place, the object (never committed) goes.
    std::fs::rename(repos.join("away"), repos.join("lost.git")).unwrap();
    let v = gc_ok(&server, &root, json!({"grace_secs": 0})).await;
    assert_eq!(v["links_removed"], 1, "{v}");
}
