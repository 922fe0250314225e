//! Pull mirrors end to end, with a second strata as the remote: a dataset with LFS files, a
//! branch and a tag on the source; the mirror set up (the hook secret shown once, credentials
//! never shown again), synced, and then holding the source's refs and every object byte for
//! byte (read over REST and by `git clone` + `git lfs pull`); read-only to its owner; a change on
//! the source brought over when the source's webhook (signed with the hook secret) says so;
//! a branch deleted on the source deleted here. The hostile cases are in `hostile`.

mod giftless;
mod hostile;
mod hub;
mod killed;
mod pages;
mod push;
mod region;

use serde_json::{json, Value};
use strata_core::config::Switch;

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

/// Commits `files` (`(path, bytes)`, each uploaded as an LFS object) to `branch` of `dataset`.
pub(super) async fn commit_lfs(
    server: &TestServer,
    token: &str,
    dataset: &str,
    branch: &str,
    files: &[(&str, &[u8])],
) {
    let (_, head) = call(
        reqwest::Method::GET,
        &format!("{}{API}/{dataset}?rev={branch}", server.url),
        token,
        None,
    )
    .await;
    let mut lines = vec![
        json!({"key": "header", "value": {"summary": "change", "branch": branch, "parent": head["revision"]["id"]}}),
    ];
    for (path, data) in files {
        let oid = upload(server, dataset, token, data).await;
        lines.push(json!({"key": "lfsFile", "value": {"path": path, "oid": oid.to_string(), "size": data.len()}}));
    }
    let ndjson: String = lines.iter().map(|l| format!("{l}\n")).collect();
    let r = client()
        .post(format!("{}{API}/{dataset}/commit", server.url))
        .bearer_auth(token)
        .header("content-type", "application/x-ndjson")
        .body(ndjson)
        .send()
        .await
        .unwrap();
    let (status, _, v) = crate::common::body(r).await;
    assert!(status == 200 || status == 201, "{status} {v}");
}

/// The mirror's state once its sync after `since` (unix seconds) ended.
pub(super) async fn settled(server: &TestServer, token: &str, dataset: &str, since: i64) -> Value {
    for _ in 0..600 {
        let (status, v) = call(
            reqwest::Method::GET,
            &format!("{}{API}/{dataset}/mirror", server.url),
            token,
            None,
        )
        .await;
        assert_eq!(status, 200, "{v}");
        let m = &v["mirror"];
        if !m["syncing"].as_bool().unwrap()
            && m["last_attempt_at"].as_i64().is_some_and(|t| t >= since)
            && m["next_sync_at"].as_i64().unwrap() > since
        {
            return m.clone();
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the mirror of {dataset} never settled");
}

pub(super) async fn mirror_server() -> TestServer {
    TestServer::start_with(Backend::Local, |c| {
        c.mirrors_allow_private = Switch::On;
        c.mirror_min_interval_secs = 1;
    })
    .await
}

async fn branches(server: &TestServer, token: &str, dataset: &str) -> Value {
    let (status, v) = call(
        reqwest::Method::GET,
        &format!("{}{API}/{dataset}/branches", server.url),
        token,
        None,
    )
    .await;
    assert_eq!(status, 200, "{v}");
    v
}

async fn raw(
    server: &TestServer,
    token: &str,
    dataset: &str,
    path: &str,
    rev: &str,
) -> (u16, Vec<u8>) {
    let r = client()
        .get(format!(
            "{}{API}/{dataset}/raw/{path}?rev={rev}",
            server.url
        ))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.bytes().await.unwrap().to_vec())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follows_another_strata_and_moves_refs_only_with_their_bytes() {
    let source = TestServer::start().await;
    let mirror = mirror_server().await;
    let (src, dst) = (source.user("alice").await, mirror.user("bob").await);
    let post = reqwest::Method::POST;
    let (s, v) = call(
        post.clone(),
        &format!("{}{API}", source.url),
        &src,
        Some(json!({"namespace": "alice", "name": "data"})),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    let a: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let b = b"second file\n".repeat(1000);
    commit_lfs(
        &source,
        &src,
        "alice/data",
        "main",
        &[("a.bin", &a), ("b.txt", &b)],
    )
    .await;
    let (s, v) = call(
        post.clone(),
        &format!("{}{API}/alice/data/branches", source.url),
        &src,
        Some(json!({"name": "dev"})),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    let (s, v) = call(
        post.clone(),
        &format!("{}{API}/alice/data/tags", source.url),
        &src,
        Some(json!({"name": "v1"})),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    let c = b"only on dev\n".repeat(500);
    commit_lfs(&source, &src, "alice/data", "dev", &[("c.txt", &c)]).await;

    // bob mirrors it into a dataset of his own.
    let (s, v) = call(
        post.clone(),
        &format!("{}{API}", mirror.url),
        &dst,
        Some(json!({"namespace": "bob", "name": "copy"})),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    let url = format!("{}/alice/data.git", source.url);
    let since = strata_core::db::now();
    let put = reqwest::Method::PUT;
    let mirror_url = format!("{}{API}/bob/copy/mirror", mirror.url);
    let (s, v) = call(
        put.clone(),
        &mirror_url,
        &dst,
        Some(json!({"url": url, "token": src, "interval_secs": 3600})),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    let secret = v["hook_secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"));
    assert!(
        !v.to_string().contains(&src),
        "the token is never shown: {v}"
    );
    let m = settled(&mirror, &dst, "bob/copy", since).await;
    assert_eq!(m["state"], "ok", "{m}");
    assert_eq!(m["objects_fetched"], 3, "{m}");
    assert!(!m.to_string().contains(&src));
    let metrics = mirror.metrics_text().await;
    for line in [
        "strata_mirror_syncs_total{outcome=\"moved\"} 1",
        "strata_mirror_objects_total 3",
        "strata_mirrors{state=\"ok\"} 1",
        "strata_mirror_lag_seconds 0",
    ] {
        assert!(metrics.contains(line), "{line} in {metrics}");
    }

    // The same refs, and every file byte for byte.
    let theirs = branches(&source, &src, "alice/data").await;
    let ours = branches(&mirror, &dst, "bob/copy").await;
    assert_eq!(theirs, ours);
    for (path, rev, data) in [
        ("a.bin", "main", &a[..]),
        ("b.txt", "v1", &b[..]),
        ("c.txt", "dev", &c[..]),
    ] {
        let (s, got) = raw(&mirror, &dst, "bob/copy", path, rev).await;
        assert_eq!(s, 200, "{path}");
        assert!(got == data, "{path} differs");
    }
    // git clone + git lfs pull from the mirror (its own LFS endpoint: the source's commits name
    // the source in .lfsconfig).
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    setup_home(&home, &mirror.url, &dst);
    run(git(&home, tmp.path()).args([
        "-c",
        "lfs.fetchexclude=*",
        "clone",
        "-q",
        &format!("{}/bob/copy.git", mirror.url),
        "w",
    ]));
    let work = tmp.path().join("w");
    run(git(&home, &work).args(["config", "lfs.url", &mirror.lfs_url("bob/copy")]));
    run(git(&home, &work).args(["lfs", "pull"]));
    assert!(std::fs::read(work.join("a.bin")).unwrap() == a);

    // Read-only to its owner: REST commits and pushes are refused.
    let (s, v) = call(
        post.clone(),
        &format!("{}{API}/bob/copy/branches", mirror.url),
        &dst,
        Some(json!({"name": "mine"})),
    )
    .await;
    assert_eq!(s, 403, "{v}");
    assert!(v["message"].as_str().unwrap().contains("mirror"), "{v}");
    std::fs::write(work.join("x.txt"), "local").unwrap();
    commit_all(&home, &work, "local change");
    let out = git(&home, &work)
        .args(["push", "origin", "HEAD:main"])
        .output()
        .unwrap();
    assert!(!out.status.success(), "a push to a mirror is refused");

    // The source's webhook, signed with the hook secret, brings a new commit over.
    let d = b"new on main\n".repeat(300);
    commit_lfs(&source, &src, "alice/data", "main", &[("d.txt", &d)]).await;
    let (s, v) = call(
        reqwest::Method::DELETE,
        &format!("{}{API}/alice/data/branches/dev", source.url),
        &src,
        None,
    )
    .await;
    assert!(s == 204 || s == 200, "{s} {v}");
    // The remote's own webhook secret, given to the mirror (a strata webhook's is made there).
    let secret = "whsec_dGhlIHJlbW90ZSdzIG93biBzZWNyZXQ=";
    let (s, v) = call(
        put,
        &mirror_url,
        &dst,
        Some(json!({"url": url, "hook_secret": secret, "interval_secs": 3600})),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert!(v.get("hook_secret").is_none(), "{v}");
    assert_eq!(
        v["mirror"]["has_credentials"], true,
        "credentials left out are kept: {v}"
    );
    settled(&mirror, &dst, "bob/copy", strata_core::db::now()).await;
    let since = strata_core::db::now();
    let body = json!({"type": "branch.updated"}).to_string();
    let (id, ts) = ("msg_1".to_owned(), strata_core::db::now());
    let sig = strata_core::delivery::sign(secret, &id, ts, &body);
    let hook = format!("{mirror_url}/hook");
    let bad = client()
        .post(&hook)
        .header("webhook-id", &id)
        .header("webhook-timestamp", ts.to_string())
        .header("webhook-signature", "v1,AAAA")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 401);
    let good = client()
        .post(&hook)
        .header("webhook-id", &id)
        .header("webhook-timestamp", ts.to_string())
        .header("webhook-signature", &sig)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(good.status(), 204);
    let m = settled(&mirror, &dst, "bob/copy", since).await;
    assert_eq!(m["state"], "ok", "{m}");
    let (s, got) = raw(&mirror, &dst, "bob/copy", "d.txt", "main").await;
    assert_eq!(s, 200);
    assert!(got == d);
    assert_eq!(
        branches(&source, &src, "alice/data").await,
        branches(&mirror, &dst, "bob/copy").await
    );
    assert!(m["refs"].get("refs/heads/dev").is_none(), "{m}");

    // Stopped, it is writable again and keeps what it has.
    let (s, _) = call(reqwest::Method::DELETE, &mirror_url, &dst, None).await;
    assert_eq!(s, 204);
    let (s, v) = call(
        post,
        &format!("{}{API}/bob/copy/branches", mirror.url),
        &dst,
        Some(json!({"name": "mine"})),
    )
    .await;
    assert_eq!(s, 201, "{v}");
}
