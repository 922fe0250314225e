//! Shares over REST: a path share reaches exactly its file or folder on every surface (tree, raw,
//! LFS bytes; not the datapackage, history, git or the batch API), write shares write only under
//! their path, revocation and expiry take effect at once, teams, "shared with me", and the hostile
//! inputs of the share endpoints.

use crate::common::*;
use serde_json::{json, Value};

async fn call(
    method: reqwest::Method,
    url: String,
    token: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = client().request(method, url).bearer_auth(token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

async fn commit(server: &TestServer, token: &str, repo: &str, lines: &[Value]) -> (u16, Value) {
    let body: String = lines.iter().map(|l| format!("{l}\n")).collect();
    let resp = client()
        .post(format!("{}/api/v1/datasets/{repo}/commit", server.url))
        .bearer_auth(token)
        .header("content-type", "application/x-ndjson")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

fn header(summary: &str) -> Value {
    json!({"key": "header", "value": {"summary": summary}})
}

fn file(path: &str, content: &str) -> Value {
    json!({"key": "file", "value": {"path": path, "content": content}})
}

#[tokio::test]
async fn path_shares_reach_exactly_their_path() {
    let server = TestServer::start().await;
    let alice = server.user_with("alice", true, "*").await;
    let bob = server.user("bob").await;
    let carol = server.user("carol").await;
    let api = format!("{}/api/v1/datasets/alice/proj", server.url);
    let (status, v) = call(
        reqwest::Method::POST,
        format!("{}/api/v1/datasets", server.url),
        &alice,
        Some(json!({"namespace": "alice", "name": "proj", "visibility": "private"})),
    )
    .await;
    assert_eq!(status, 201, "{v}");
    let big = b"a large file, through LFS".repeat(100);
    let oid = upload(&server, "alice/proj", &alice, &big).await;
    let parent = server.head(&alice, "alice/proj").await.unwrap();
    let (status, v) = commit(
        &server,
        &alice,
        "alice/proj",
        &[
            json!({"key": "header", "value": {"summary": "files", "parent": parent}}),
            file("data/a.csv", "x,y\n1,2\n"),
            file("data/sub/b.csv", "b\n"),
            file("secret/s.csv", "salary\n1000000\n"),
            file("top.txt", "top"),
            json!({"key": "lfsFile", "value": {"path": "data/big.bin", "oid": oid.to_string(), "size": big.len()}}),
        ],
    )
    .await;
    assert_eq!(status, 200, "{v}");

    // Hostile share requests first: nothing is created by any of them.
    let shares = format!("{api}/shares");
    for (body, status) in [
        (json!({"path": "data", "user": "bob", "team": "x/y"}), 422),
        (json!({"path": "data"}), 422),
        (json!({"path": "data", "user": "nobody"}), 404),
        (json!({"path": "nothing/here", "user": "bob"}), 404),
        (json!({"path": "data/../secret", "user": "bob"}), 422),
        (
            json!({"path": "data", "user": "bob", "access": "admin"}),
            422,
        ),
        (
            json!({"path": "data", "user": "bob", "expires_at": "2001-01-01T00:00:00Z"}),
            422,
        ),
        (
            json!({"path": "data", "user": "bob", "expires_at": "tomorrow"}),
            422,
        ),
        (json!({"path": "data", "user": "alice"}), 422),
        (json!({"path": "data", "user": "bob", "surprise": 1}), 422),
    ] {
        let (got, v) = call(
            reqwest::Method::POST,
            shares.clone(),
            &alice,
            Some(body.clone()),
        )
        .await;
        assert_eq!(got, status, "{body} → {v}");
        assert!(v["request_id"].is_string(), "{v}");
    }
    // Only admins share: bob cannot share alice's dataset with himself.
    let (got, _) = call(
        reqwest::Method::POST,
        shares.clone(),
        &bob,
        Some(json!({"path": "data", "user": "bob"})),
    )
    .await;
    assert_eq!(got, 404);
    let (_, list) = call(reqwest::Method::GET, shares.clone(), &alice, None).await;
    assert_eq!(list, json!([]));

    // Before any share, bob sees nothing.
    let raw = |who: &str, path: &str| {
        let (url, who) = (format!("{api}/raw/{path}"), who.to_owned());
        async move {
            let r = client().get(url).bearer_auth(who).send().await.unwrap();
            (r.status().as_u16(), r.bytes().await.unwrap())
        }
    };
    assert_eq!(raw(&bob, "data/a.csv").await.0, 404);
    let raw_at = |who: &str, path: &str, rev: &str| {
        let (url, who) = (format!("{api}/raw/{path}?rev={rev}"), who.to_owned());
        async move {
            let r = client().get(url).bearer_auth(who).send().await.unwrap();
            (r.status().as_u16(), r.bytes().await.unwrap())
        }
    };

    let (status, share) = call(
        reqwest::Method::POST,
        shares.clone(),
        &alice,
        Some(json!({"path": "/data/", "user": "bob"})),
    )
    .await;
    assert_eq!(status, 201, "{share}");
    assert_eq!(share["path"], "data");
    assert_eq!(share["grantee"], "bob");
    assert_eq!(share["grantee_kind"], "user");
    assert_eq!(share["access"], "read");
    assert_eq!(share["dataset"], "alice/proj");
    assert_eq!(share["expires_at"], Value::Null);
    assert_eq!(share["created_by"], "alice");
    let id = share["id"].as_i64().unwrap();

    // bob reads inside data/, and nothing beside it.
    let (status, body) = raw(&bob, "data/a.csv").await;
    assert_eq!(status, 200);
    assert_eq!(&body[..], b"x,y\n1,2\n");
    assert_eq!(raw(&bob, "data/sub/b.csv").await.0, 200);
    let (status, body) = raw(&bob, "data/big.bin").await;
    assert_eq!(status, 200);
    assert_eq!(&body[..], &big[..]);
    for path in [
        "secret/s.csv",
        "top.txt",
        "datapackage.json",
        ".gitattributes",
        "dat",
    ] {
        assert_eq!(raw(&bob, path).await.0, 403, "{path}");
    }
    // Dot segments: the client folds `%2E%2E/` away (so this asks for secret/s.csv, refused);
    // one encoded inside a segment reaches the server and is refused outright.
    assert_eq!(raw(&bob, "data/%2E%2E/secret/s.csv").await.0, 403);
    assert_eq!(raw(&bob, "data/%2E%2E%2Fsecret%2Fs.csv").await.0, 422);
    let (status, tree) = call(
        reqwest::Method::GET,
        format!("{api}/tree?path=data"),
        &bob,
        None,
    )
    .await;
    assert_eq!(status, 200, "{tree}");
    let paths: Vec<&str> = tree["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths, ["data/a.csv", "data/big.bin", "data/sub/b.csv"]);
    for url in [
        format!("{api}/tree"),
        format!("{api}/tree?path=secret"),
        api.clone(),
        format!("{api}/revisions"),
        format!("{api}/tags"),
        format!("{api}/diff?from=main"),
    ] {
        let (status, v) = call(reqwest::Method::GET, url.clone(), &bob, None).await;
        assert_eq!(status, 403, "{url}: {v}");
    }
    // No LFS batch and no git through a path share: they would reach everything.
    let batch =
        json!({"operation": "download", "objects": [{"oid": oid.to_string(), "size": big.len()}]});
    let resp = lfs_post(&server.batch_url("alice/proj"), Some(&bob), &batch).await;
    assert_eq!(resp.status(), 403);
    let resp = client()
        .get(format!(
            "{}/alice/proj.git/info/refs?service=git-upload-pack",
            server.url
        ))
        .basic_auth("bob", Some(&bob))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    // A read share does not write.
    let (status, v) = commit(
        &server,
        &bob,
        "alice/proj",
        &[header("x"), file("data/new.csv", "n")],
    )
    .await;
    assert_eq!(status, 403, "{v}");
    // carol, with no share, sees no dataset at all.
    assert_eq!(raw(&carol, "data/a.csv").await.0, 404);

    // bob finds it under shared-with-me; alice under the shares she made.
    let (status, mine) = call(
        reqwest::Method::GET,
        format!("{}/api/v1/shared-with-me", server.url),
        &bob,
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(mine.as_array().unwrap().len(), 1);
    assert_eq!(mine[0]["path"], "data");
    let (_, made) = call(
        reqwest::Method::GET,
        format!("{}/api/v1/shares", server.url),
        &alice,
        None,
    )
    .await;
    assert_eq!(made[0]["id"], id);
    let anon = client()
        .get(format!("{}/api/v1/shared-with-me", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(anon.status(), 401);

    // Write access: bob adds files under data/ (authored by him), nowhere else, all or nothing.
    let (status, v) = call(
        reqwest::Method::PATCH,
        format!("{shares}/{id}"),
        &alice,
        Some(json!({"access": "write"})),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["access"], "write");
    let (status, v) = commit(
        &server,
        &bob,
        "alice/proj",
        &[
            header("mixed"),
            file("data/ok.csv", "1"),
            file("secret/evil.csv", "2"),
        ],
    )
    .await;
    assert_eq!(status, 403, "{v}");
    // The tree of the shared folder names the revision to build on.
    let (_, tree) = call(
        reqwest::Method::GET,
        format!("{api}/tree?path=data"),
        &bob,
        None,
    )
    .await;
    let parent = tree["revision"].as_str().unwrap().to_owned();
    let by_bob = json!({"key": "header", "value": {"summary": "by bob", "parent": parent}});
    let (status, v) = commit(
        &server,
        &bob,
        "alice/proj",
        &[by_bob, file("data/new.csv", "n\n")],
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["revision"]["author"]["name"], "bob");
    let (status, v) = commit(
        &server,
        &bob,
        "alice/proj",
        &[
            header("delete"),
            json!({"key": "deletedFile", "value": {"path": "top.txt"}}),
        ],
    )
    .await;
    assert_eq!(status, 403, "{v}");
    let (status, v) = commit(
        &server,
        &bob,
        "alice/proj",
        &[
            json!({"key": "header", "value": {"summary": "branch", "branch": "side"}}),
            file("data/x.csv", "x"),
        ],
    )
    .await;
    assert_eq!(status, 403, "{v}");
    // Knowing an oid is not enough: a share's writer cannot point a file at another object of
    // the dataset (that would read it), and learns nothing about which objects exist.
    let steal = json!({"key": "lfsFile", "value": {"path": "data/stolen.bin", "oid": oid.to_string(), "size": big.len()}});
    let by_bob = json!({"key": "header", "value": {"summary": "steal", "parent": parent}});
    let (status, v) = commit(&server, &bob, "alice/proj", &[by_bob, steal]).await;
    assert_eq!(status, 403, "{v}");
    assert!(v.get("missing").is_none(), "{v}");
    // Only the current files are shared: no other revision, branch or tag.
    let (status, _) = raw_at(&bob, "data/a.csv", "main").await;
    assert_eq!(status, 200);
    let (status, _) = raw_at(&bob, "data/a.csv", &parent).await;
    assert_eq!(status, 403);
    let (status, v) = call(
        reqwest::Method::GET,
        format!("{api}/tree?path=data&rev={parent}"),
        &bob,
        None,
    )
    .await;
    assert_eq!(status, 403, "{v}");
    assert_eq!(raw(&alice, "secret/evil.csv").await.0, 404);
    assert_eq!(raw(&alice, "data/ok.csv").await.0, 404);
    assert_eq!(raw(&alice, "data/new.csv").await.0, 200);

    // Revocation takes effect at once.
    let (status, _) = call(
        reqwest::Method::DELETE,
        format!("{shares}/{id}"),
        &alice,
        None,
    )
    .await;
    assert_eq!(status, 204);
    assert_eq!(raw(&bob, "data/a.csv").await.0, 404);
    let (status, _) = call(
        reqwest::Method::DELETE,
        format!("{shares}/{id}"),
        &alice,
        None,
    )
    .await;
    assert_eq!(status, 404);
    let (_, mine) = call(
        reqwest::Method::GET,
        format!("{}/api/v1/shared-with-me", server.url),
        &bob,
        None,
    )
    .await;
    assert_eq!(mine, json!([]));
    let (status, _) = call(
        reqwest::Method::GET,
        format!("{shares}/nonsense"),
        &alice,
        None,
    )
    .await;
    assert_eq!(status, 404);

    // A single file, until an expiry a moment away.
    let soon = time::OffsetDateTime::now_utc() + time::Duration::seconds(2);
    let soon = soon
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let (status, v) = call(
        reqwest::Method::POST,
        shares.clone(),
        &alice,
        Some(json!({"path": "top.txt", "user": "bob", "expires_at": soon})),
    )
    .await;
    assert_eq!(status, 201, "{v}");
    assert_eq!(raw(&bob, "top.txt").await.0, 200);
    assert_eq!(raw(&bob, "data/a.csv").await.0, 403);
    tokio::time::sleep(std::time::Duration::from_millis(3100)).await;
    assert_eq!(raw(&bob, "top.txt").await.0, 404);
    let (_, list) = call(reqwest::Method::GET, shares.clone(), &alice, None).await;
    assert_eq!(list[0]["expired"], true);

    // The audit log names every change.
    let (status, log) = call(
        reqwest::Method::GET,
        format!("{}/api/v1/audit", server.url),
        &alice,
        None,
    )
    .await;
    assert_eq!(status, 200);
    let text = log.to_string();
    for event in [
        "dataset.share.create",
        "dataset.share.change",
        "dataset.share.revoke",
    ] {
        assert!(text.contains(event), "{event} missing from {text}");
    }
}

#[tokio::test]
async fn dataset_and_team_shares_are_grants() {
    let server = TestServer::start().await;
    let alice = server.user_with("alice", true, "*").await;
    let bob = server.user("bob").await;
    let narrow = strata::cli::admin::create_token(&server.state, "bob", "narrow", "obj:read", None)
        .await
        .unwrap();
    let api = format!("{}/api/v1/datasets/alice/whole", server.url);
    let (status, _) = call(
        reqwest::Method::POST,
        format!("{}/api/v1/datasets", server.url),
        &alice,
        Some(json!({"namespace": "alice", "name": "whole"})),
    )
    .await;
    assert_eq!(status, 201);
    // A team share: bob is in team lab/readers.
    let base = &server.url;
    let (s, v) = call(
        reqwest::Method::POST,
        format!("{base}/api/v1/orgs"),
        &alice,
        Some(json!({"name": "lab"})),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    let (s, v) = call(
        reqwest::Method::PUT,
        format!("{base}/api/v1/orgs/lab/members/bob"),
        &alice,
        Some(json!({"role": "member"})),
    )
    .await;
    assert!(s == 204 || s == 200, "{s} {v}");
    let (s, v) = call(
        reqwest::Method::POST,
        format!("{base}/api/v1/orgs/lab/teams"),
        &alice,
        Some(json!({"name": "readers"})),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    let (s, v) = call(
        reqwest::Method::PUT,
        format!("{base}/api/v1/orgs/lab/teams/readers/members/bob"),
        &alice,
        None,
    )
    .await;
    assert!(s == 204 || s == 200, "{s} {v}");
    assert_eq!(
        call(reqwest::Method::GET, api.clone(), &bob, None).await.0,
        404
    );
    let (status, v) = call(
        reqwest::Method::POST,
        format!("{api}/shares"),
        &alice,
        Some(json!({"team": "lab/readers"})),
    )
    .await;
    assert_eq!(status, 201, "{v}");
    assert_eq!(v["grantee"], "lab/readers");
    assert_eq!(v["path"], "");
    // The whole dataset: listed, metadata, history, git, like a collaborator's read.
    let (_, listed) = call(
        reqwest::Method::GET,
        format!("{base}/api/v1/datasets"),
        &bob,
        None,
    )
    .await;
    assert!(listed.to_string().contains("\"whole\""), "{listed}");
    assert_eq!(
        call(reqwest::Method::GET, api.clone(), &bob, None).await.0,
        200
    );
    assert_eq!(
        call(reqwest::Method::GET, format!("{api}/revisions"), &bob, None)
            .await
            .0,
        200
    );
    // Scopes still bound it: an obj:read token does not read the metadata.
    assert_ne!(
        call(reqwest::Method::GET, api.clone(), &narrow, None)
            .await
            .0,
        200
    );
    let (_, mine) = call(
        reqwest::Method::GET,
        format!("{base}/api/v1/shared-with-me"),
        &bob,
        None,
    )
    .await;
    assert_eq!(mine[0]["grantee_kind"], "team");
    // Read only: no writes.
    let parent = server.head(&bob, "alice/whole").await.unwrap();
    let (status, v) = commit(
        &server,
        &bob,
        "alice/whole",
        &[
            json!({"key": "header", "value": {"summary": "x", "parent": parent}}),
            file("x.txt", "x"),
        ],
    )
    .await;
    assert_eq!(status, 403, "{v}");
    // Leaving the team ends it.
    let (s, _) = call(
        reqwest::Method::DELETE,
        format!("{base}/api/v1/orgs/lab/teams/readers/members/bob"),
        &alice,
        None,
    )
    .await;
    assert!(s == 204 || s == 200);
    assert_eq!(
        call(reqwest::Method::GET, api.clone(), &bob, None).await.0,
        404
    );
}
