//! Push mirrors with a second strata as the remote: a dataset with LFS files pushed there
//! (objects first, then refs) when the mirror is added, and again by itself after a commit
//! (the event stream); a force-push here refused there by a mirror without `force` (the remote
//! keeps its state, the error shown) and carried by one with it; credentials never shown; only
//! the dataset's admins manage them; private remotes refused.

use serde_json::{json, Value};

use super::{call, mirror_server, API};
use crate::common::*;

/// The push mirror once its push after `since` ended.
pub(super) async fn pushed(
    server: &TestServer,
    token: &str,
    dataset: &str,
    id: i64,
    since: i64,
) -> Value {
    for _ in 0..600 {
        let url = format!("{}{API}/{dataset}/push-mirrors/{id}", server.url);
        let (status, v) = call(reqwest::Method::GET, &url, token, None).await;
        assert_eq!(status, 200, "{v}");
        let m = &v["push_mirror"];
        if !m["pushing"].as_bool().unwrap()
            && m["last_attempt_at"].as_i64().is_some_and(|t| t >= since)
            && m["next_push_at"].as_i64().unwrap() > since
        {
            return m.clone();
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("push mirror {id} of {dataset} never settled");
}

async fn head_of(server: &TestServer, token: &str, dataset: &str) -> Option<String> {
    let (s, v) = call(
        reqwest::Method::GET,
        &format!("{}{API}/{dataset}", server.url),
        token,
        None,
    )
    .await;
    assert_eq!(s, 200, "{v}");
    v["revision"]["id"].as_str().map(str::to_owned)
}

async fn raw(server: &TestServer, token: &str, dataset: &str, path: &str) -> Vec<u8> {
    let r = client()
        .get(format!("{}{API}/{dataset}/raw/{path}", server.url))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{path}");
    r.bytes().await.unwrap().to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushed_after_each_change_objects_first_force_only_when_asked() {
    let here = mirror_server().await;
    let remote = TestServer::start().await;
    let alice = here.user("alice").await;
    let bob = here.user("bob").await;
    let carol = remote.user("carol").await;
    let post = reqwest::Method::POST;
    // A dataset filled by git (a strata remote refuses commits whose `.lfsconfig` points at
    // another server: see docs/mirrors.md).
    here.repo("alice/d", strata_core::db::Visibility::Private)
        .await;
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    setup_home(&home, &here.url, &alice);
    run(git(&home, tmp.path()).args(["clone", "-q", &format!("{}/alice/d.git", here.url), "w"]));
    let work = tmp.path().join("w");
    run(git(&home, &work).args(["lfs", "track", "*.bin", "*.txt"]));
    let a: Vec<u8> = (0..100_000u32).map(|i| (i % 253) as u8).collect();
    std::fs::write(work.join("a.bin"), &a).unwrap();
    commit_all(&home, &work, "first");
    run(git(&home, &work).args(["push", "-q", "origin", "HEAD:main"]));
    remote
        .repo("carol/copy", strata_core::db::Visibility::Private)
        .await;
    let list = format!("{}{API}/alice/d/push-mirrors", here.url);

    // Hostile first: private targets where not allowed (this server allows them: the remote's
    // own server does not), strangers and non-admins.
    let (s, _) = call(
        post.clone(),
        &list,
        &bob,
        Some(json!({"url": "https://example.com/x.git"})),
    )
    .await;
    assert_eq!(s, 404);
    let (s, v) = call(
        post.clone(),
        &list,
        &alice,
        Some(json!({"url": "https://0.0.0.0/x.git"})),
    )
    .await;
    assert_eq!(s, 422, "{v}");
    let (s, v) = call(
        post.clone(),
        &format!("{}{API}/carol/copy/push-mirrors", remote.url),
        &carol,
        Some(json!({"url": format!("{}/alice/d.git", here.url)})),
    )
    .await;
    assert_eq!(s, 422, "a strict server refuses loopback remotes: {v}");

    // Added: pushed at once, objects first, then refs.
    let since = strata_core::db::now();
    let body = json!({"url": format!("{}/carol/copy.git", remote.url), "token": carol, "interval_secs": 3600});
    let (s, v) = call(post.clone(), &list, &alice, Some(body)).await;
    assert_eq!(s, 201, "{v}");
    assert!(
        !v.to_string().contains(&carol),
        "credentials are never shown: {v}"
    );
    let id = v["push_mirror"]["id"].as_i64().unwrap();
    let m = pushed(&here, &alice, "alice/d", id, since).await;
    assert_eq!(m["state"], "ok", "{m}");
    assert_eq!(m["objects_pushed"], 1, "{m}");
    let main = head_of(&here, &alice, "alice/d").await;
    assert_eq!(
        m["refs"]["refs/heads/main"].as_str(),
        main.as_deref(),
        "{m}"
    );
    assert_eq!(
        head_of(&remote, &carol, "carol/copy").await,
        head_of(&here, &alice, "alice/d").await
    );
    assert!(raw(&remote, &carol, "carol/copy", "a.bin").await == a);

    // A commit here is pushed by itself.
    let since = strata_core::db::now();
    let b = b"second\n".repeat(400);
    std::fs::write(work.join("b.txt"), &b).unwrap();
    commit_all(&home, &work, "second");
    run(git(&home, &work).args(["push", "-q", "origin", "HEAD:main"]));
    let want = head_of(&here, &alice, "alice/d").await;
    let mut followed = false;
    for _ in 0..300 {
        if head_of(&remote, &carol, "carol/copy").await == want {
            followed = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        followed,
        "the commit was pushed: {}",
        pushed(&here, &alice, "alice/d", id, since).await
    );
    assert!(raw(&remote, &carol, "carol/copy", "b.txt").await == b);

    // History rewritten here (a force-push): refused there without `force`, the remote kept.
    let before = head_of(&remote, &carol, "carol/copy").await;
    // (main is protected against force-pushes by default, here and there.)
    let off = Some(json!({"default_branch": false}));
    let (s, v) = call(
        reqwest::Method::PUT,
        &format!("{}{API}/alice/d/protection", here.url),
        &alice,
        off.clone(),
    )
    .await;
    assert_eq!(s, 204, "{v}");
    let (s, v) = call(
        reqwest::Method::PUT,
        &format!("{}{API}/carol/copy/protection", remote.url),
        &carol,
        off,
    )
    .await;
    assert_eq!(s, 204, "{v}");
    run(git(&home, &work).args(["commit", "-q", "--amend", "-m", "rewritten"]));
    let since = strata_core::db::now();
    run(git(&home, &work).args(["push", "-q", "--force", "origin", "HEAD:main"]));
    let m = loop {
        let m = pushed(&here, &alice, "alice/d", id, since).await;
        if m["state"] == "failed" {
            break m;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    assert!(
        m["last_error"].as_str().unwrap().contains("rejected")
            || m["last_error"].as_str().unwrap().contains("fast-forward"),
        "{m}"
    );
    assert_eq!(head_of(&remote, &carol, "carol/copy").await, before);
    // One with `force` carries it.
    let (s, _) = call(
        reqwest::Method::DELETE,
        &format!("{list}/{id}"),
        &alice,
        None,
    )
    .await;
    assert_eq!(s, 204);
    let since = strata_core::db::now();
    let body =
        json!({"url": format!("{}/carol/copy.git", remote.url), "token": carol, "force": true});
    let (s, v) = call(post, &list, &alice, Some(body)).await;
    assert_eq!(s, 201, "{v}");
    let id = v["push_mirror"]["id"].as_i64().unwrap();
    let m = pushed(&here, &alice, "alice/d", id, since).await;
    assert_eq!(m["state"], "ok", "{m}");
    assert_eq!(
        head_of(&remote, &carol, "carol/copy").await,
        head_of(&here, &alice, "alice/d").await
    );
    let (s, v) = call(reqwest::Method::GET, &list, &alice, None).await;
    assert_eq!(s, 200);
    assert_eq!(v["push_mirrors"].as_array().unwrap().len(), 1, "{v}");
    assert!(!v.to_string().contains(&carol));
}
