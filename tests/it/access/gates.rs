//! Regression tests for the gates: a token does exactly what its scopes say on every surface
//! (REST, git, LFS, token minting), and the listing shows only what the caller may see (the whole
//! site's listing: a server of its own). Pushes are in `push.rs`; REST file pointers link-checked
//! and the shared case-insensitive namespace are in the API tier (`api/commits.rs`,
//! `api/access.rs`).

use crate::common::*;
use serde_json::{json, Value};
use strata_core::db::Visibility;

pub(crate) const API: &str = "/api/v1/datasets";

pub(crate) async fn call(
    server: &TestServer,
    token: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = client()
        .request(method, format!("{}{path}", server.url))
        .bearer_auth(token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let (status, headers, v) = crate::common::body(req.send().await.unwrap()).await;
    if status >= 400 {
        assert_error_body(status, &headers, &v, status);
    }
    (status, v)
}

/// A git command's success and its output (stdout and stderr).
pub(crate) fn try_run(cmd: &mut std::process::Command) -> (bool, String) {
    let out = cmd.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// Creates `ns/name` through REST (so it has a first revision).
async fn create(server: &TestServer, token: &str, ns: &str, name: &str) {
    let (status, v) = call(
        server,
        token,
        reqwest::Method::POST,
        API,
        Some(json!({"namespace": ns, "name": name})),
    )
    .await;
    assert_eq!(status, 201, "{v}");
}

fn package_with(data: &[u8], path: &str) -> Value {
    json!({"name": "priv", "resources": [{
        "name": "r", "path": path, "bytes": data.len(),
        "hash": format!("sha256:{}", sha256_hex(data)),
    }]})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn object_scoped_tokens_reach_only_their_objects() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    create(&server, &alice, "alice", "priv").await;
    let data = b"the one object".to_vec();
    let oid = upload(&server, "alice/priv", &alice, &data).await;
    let other = b"another object".to_vec();
    let other_oid = strata_lfs::Oid::of(&other);
    let one = strata::cli::admin::create_token(
        &server.state,
        "alice",
        "one-object",
        &format!("obj:alice/priv/{oid}:write"),
        None,
    )
    .await
    .unwrap();
    let (_, v) = call(
        &server,
        &alice,
        reqwest::Method::GET,
        &format!("{API}/alice/priv"),
        None,
    )
    .await;
    let head = v["revision"]["id"].as_str().unwrap().to_owned();

    // LFS: its object yes, another one no (per object), and no locks.
    let req = json!({"operation": "upload", "objects": [
        {"oid": oid.to_string(), "size": data.len()},
        {"oid": other_oid.to_string(), "size": other.len()}]});
    let (status, _, v) =
        body(lfs_post(&server.batch_url("alice/priv"), Some(&one), &req).await).await;
    assert_eq!(status, 200, "{v}");
    assert!(v["objects"][0]["error"].is_null(), "{v}");
    assert_eq!(v["objects"][1]["error"]["code"], 403, "{v}");
    let (status, _, _) = body(
        lfs_post(
            &format!("{}/locks", server.lfs_url("alice/priv")),
            Some(&one),
            &json!({"path": "a.csv"}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 403);

    // REST: no datapackage write, no commit, no tag, no branch, no revert, no read of metadata.
    let writes = [
        (
            reqwest::Method::PUT,
            format!("{API}/alice/priv"),
            json!({"datapackage": package_with(&data, "a.bin"), "parent": head}),
        ),
        (
            reqwest::Method::POST,
            format!("{API}/alice/priv/tags"),
            json!({"name": "v1", "revision": head}),
        ),
        (
            reqwest::Method::POST,
            format!("{API}/alice/priv/branches"),
            json!({"name": "b", "revision": head}),
        ),
        (
            reqwest::Method::POST,
            format!("{API}/alice/priv/revert"),
            json!({"to": head, "parent": head}),
        ),
        (
            reqwest::Method::PUT,
            format!("{API}/alice/priv/visibility"),
            json!({"visibility": "public"}),
        ),
    ];
    for (method, path, b) in writes {
        let (status, v) = call(&server, &one, method, &path, Some(b)).await;
        assert_eq!(status, 403, "{path}: {v}");
    }
    let commit = client()
        .post(format!("{}{API}/alice/priv/commit", server.url))
        .bearer_auth(&one)
        .body(format!(
            "{{\"key\":\"header\",\"value\":{{\"summary\":\"x\",\"parent\":\"{head}\"}}}}\n{{\"key\":\"lfsFile\",\"value\":{{\"path\":\"a.bin\",\"oid\":\"{oid}\",\"size\":{}}}}}\n",
            data.len()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(commit.status(), 403);
    for path in ["", "/revisions", "/tree", "/raw/datapackage.json"] {
        let (status, v) = call(
            &server,
            &one,
            reqwest::Method::GET,
            &format!("{API}/alice/priv{path}"),
            None,
        )
        .await;
        assert_eq!(status, 403, "{path}: {v}");
    }

    // Token minting: an upload token never exceeds the token that asks for it.
    let (status, v) = call(
        &server,
        &one,
        reqwest::Method::POST,
        &format!("{API}/alice/priv/upload-token"),
        None,
    )
    .await;
    assert_eq!(status, 403, "{v}");
    let repo_wide = strata::cli::admin::create_token(
        &server.state,
        "alice",
        "objects-read",
        "obj:alice/priv/*:read",
        None,
    )
    .await
    .unwrap();
    let (status, v) = call(
        &server,
        &repo_wide,
        reqwest::Method::POST,
        &format!("{API}/alice/priv/upload-token"),
        None,
    )
    .await;
    // Nor does any obj: token (an upload token included), so a leaked one cannot renew itself.
    assert_eq!(status, 403, "{v}");
    let reader = strata::cli::admin::create_token(
        &server.state,
        "alice",
        "reader",
        "dataset:alice/priv:read",
        None,
    )
    .await
    .unwrap();
    let upload_token = |t: String| {
        let url = format!("{}{API}/alice/priv/upload-token", server.url);
        async move {
            let r = client().post(url).bearer_auth(t).send().await.unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    let (status, v) = upload_token(reader).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        v["scope"], "obj:alice/priv/*:read",
        "a read token mints a read token"
    );
    let (status, v) = upload_token(v["token"].as_str().unwrap().to_owned()).await;
    assert_eq!(status, 403, "an upload token renewed itself: {v}");
    // Account-level reads need a session or a * token.
    for path in ["/api/v1/oauth/clients", "/api/v1/orgs/alice"] {
        let (status, v) = call(&server, &one, reqwest::Method::GET, path, None).await;
        assert_eq!(status, 403, "{path}: {v}");
    }

    // git: neither clone nor push with an object-scoped token.
    let home = server.dir.path().join("home");
    setup_home(&home, &server.url, &one);
    let (ok, out) =
        try_run(git(&home, &home).args(["clone", &format!("{}/alice/priv.git", server.url), "c"]));
    assert!(!ok, "{out}");

    // Nothing changed.
    let (_, v) = call(
        &server,
        &alice,
        reqwest::Method::GET,
        &format!("{API}/alice/priv"),
        None,
    )
    .await;
    assert_eq!(v["revision"]["id"], head.as_str());
    let (_, v) = call(
        &server,
        &alice,
        reqwest::Method::GET,
        &format!("{API}/alice/priv/tags"),
        None,
    )
    .await;
    assert_eq!(v["tags"], json!([]), "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dataset_scoped_token_can_push_but_not_elsewhere() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    server.repo("alice/a", Visibility::Private).await;
    server.repo("alice/b", Visibility::Private).await;
    let only_a = strata::cli::admin::create_token(
        &server.state,
        "alice",
        "only-a",
        "dataset:alice/a:write",
        None,
    )
    .await
    .unwrap();
    let (status, _) = call(
        &server,
        &only_a,
        reqwest::Method::GET,
        &format!("{API}/alice/a"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = call(
        &server,
        &only_a,
        reqwest::Method::GET,
        &format!("{API}/alice/b"),
        None,
    )
    .await;
    assert_eq!(status, 404);
    let home = server.dir.path().join("home");
    setup_home(&home, &server.url, &only_a);
    run(git(&home, &home).args(["clone", &format!("{}/alice/a.git", server.url), "a"]));
    let work = home.join("a");
    std::fs::write(work.join("notes.txt"), "hello\n").unwrap();
    run(git(&home, &work).args(["add", "."]));
    run(git(&home, &work).args(["commit", "-qm", "notes"]));
    run(git(&home, &work).args(["push", "-q", "origin", "main"]));
    let (ok, out) =
        try_run(git(&home, &home).args(["clone", &format!("{}/alice/b.git", server.url), "b"]));
    assert!(!ok, "{out}");
    drop(alice);
}

#[tokio::test]
async fn listing_shows_only_what_the_caller_may_see() {
    let server = TestServer::start().await;
    let admin = server.user_with("root", true, "*").await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    for (token, ns, name, vis) in [
        (&alice, "alice", "a", "private"),
        (&alice, "alice", "b", "public"),
        (&bob, "bob", "c", "private"),
        (&alice, "alice", "d", "internal"),
    ] {
        let (status, v) = call(
            &server,
            token,
            reqwest::Method::POST,
            API,
            Some(json!({"namespace": ns, "name": name, "visibility": vis})),
        )
        .await;
        assert_eq!(status, 201, "{v}");
    }
    let names = |v: &Value| -> Vec<String> {
        v["datasets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| {
                format!(
                    "{}/{}",
                    d["namespace"].as_str().unwrap(),
                    d["name"].as_str().unwrap()
                )
            })
            .collect()
    };
    let anon = client()
        .get(format!("{}{API}", server.url))
        .send()
        .await
        .unwrap();
    let v: Value = anon.json().await.unwrap();
    assert_eq!(names(&v), ["alice/b"]);
    let (_, v) = call(&server, &bob, reqwest::Method::GET, API, None).await;
    assert_eq!(names(&v), ["alice/b", "bob/c", "alice/d"]);
    let (_, v) = call(&server, &alice, reqwest::Method::GET, API, None).await;
    assert_eq!(names(&v), ["alice/a", "alice/b", "alice/d"]);
    let (_, v) = call(&server, &admin, reqwest::Method::GET, API, None).await;
    assert_eq!(names(&v).len(), 4);
    let scoped = strata::cli::admin::create_token(
        &server.state,
        "alice",
        "only-a",
        "dataset:alice/a:read",
        None,
    )
    .await
    .unwrap();
    let (_, v) = call(&server, &scoped, reqwest::Method::GET, API, None).await;
    assert_eq!(names(&v), ["alice/a", "alice/b"]);
    // A narrow token learns nothing from paging: no cursor points past what it may see.
    let objects = strata::cli::admin::create_token(
        &server.state,
        "alice",
        "objects-only",
        "obj:alice/a/*:read",
        None,
    )
    .await
    .unwrap();
    let (_, v) = call(
        &server,
        &objects,
        reqwest::Method::GET,
        &format!("{API}?q=alice/d&limit=1"),
        None,
    )
    .await;
    assert_eq!(v, json!({"datasets": [], "next_cursor": null}));
    let (_, v) = call(
        &server,
        &scoped,
        reqwest::Method::GET,
        &format!("{API}?limit=1"),
        None,
    )
    .await;
    assert_eq!(names(&v), ["alice/a"]);
    let cursor = v["next_cursor"].as_str().unwrap().to_owned();
    let (_, v) = call(
        &server,
        &scoped,
        reqwest::Method::GET,
        &format!("{API}?limit=1&cursor={cursor}"),
        None,
    )
    .await;
    assert_eq!(names(&v), ["alice/b"]);
    // A narrow token learns nothing from paging: no cursor points past what it may see.
    let objects = strata::cli::admin::create_token(
        &server.state,
        "alice",
        "objects",
        "obj:alice/a/*:read",
        None,
    )
    .await
    .unwrap();
    let (_, v) = call(
        &server,
        &objects,
        reqwest::Method::GET,
        &format!("{API}?q=alice/d&limit=1"),
        None,
    )
    .await;
    assert_eq!(v, json!({"datasets": [], "next_cursor": null}));
    let (_, v) = call(
        &server,
        &scoped,
        reqwest::Method::GET,
        &format!("{API}?limit=1"),
        None,
    )
    .await;
    assert_eq!(names(&v), ["alice/a"]);
    let cursor = v["next_cursor"].as_str().unwrap().to_owned();
    let (_, v) = call(
        &server,
        &scoped,
        reqwest::Method::GET,
        &format!("{API}?limit=1&cursor={cursor}"),
        None,
    )
    .await;
    assert_eq!(names(&v), ["alice/b"]);
    // Paging and the name filter.
    let (_, v) = call(
        &server,
        &admin,
        reqwest::Method::GET,
        &format!("{API}?limit=3"),
        None,
    )
    .await;
    assert_eq!(names(&v).len(), 3);
    let cursor = v["next_cursor"].as_str().unwrap().to_owned();
    let (_, v) = call(
        &server,
        &admin,
        reqwest::Method::GET,
        &format!("{API}?limit=3&cursor={cursor}"),
        None,
    )
    .await;
    assert_eq!(names(&v), ["alice/d"]);
    assert!(v["next_cursor"].is_null());
    let (_, v) = call(
        &server,
        &admin,
        reqwest::Method::GET,
        &format!("{API}?q=BOB"),
        None,
    )
    .await;
    assert_eq!(names(&v), ["bob/c"]);
    let (_, v) = call(
        &server,
        &admin,
        reqwest::Method::GET,
        &format!("{API}?q=%25"),
        None,
    )
    .await;
    assert_eq!(names(&v), Vec::<String>::new());
    for bad in ["?limit=0", "?limit=501", "?cursor=x"] {
        let (status, _) = call(
            &server,
            &admin,
            reqwest::Method::GET,
            &format!("{API}{bad}"),
            None,
        )
        .await;
        assert_eq!(status, 422, "{bad}");
    }
}
