//! Mirrors against strangers and liars: remotes that reach private addresses refused (422)
//! where they are not allowed, as webhooks' are; only the dataset's admins set a mirror up or
//! sync it; a hook delivery not signed with the mirror's secret is the same 401 whether the
//! mirror exists or not; a remote whose LFS object does not hash to its oid fails the sync and
//! leaves the mirror's refs where they were.

use serde_json::json;

use super::{call, commit_lfs, mirror_server, settled, API};
use crate::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_remotes_strangers_and_forged_hooks_are_refused() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let (s, v) = call(
        reqwest::Method::POST,
        &format!("{}{API}", server.url),
        &alice,
        Some(json!({"namespace": "alice", "name": "m"})),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    let url = format!("{}{API}/alice/m/mirror", server.url);
    for bad in [
        "https://127.0.0.1/x.git",
        "https://localhost/x.git",
        "https://169.254.169.254/latest",
        "https://[::1]/x.git",
        "https://[::ffff:10.0.0.1]/x.git",
        "https://user:pw@example.com/x.git",
        "http://example.com/x.git",
        "file:///etc/passwd",
        "ext::sh -c id",
        "not a url",
    ] {
        let (s, v) = call(
            reqwest::Method::PUT,
            &url,
            &alice,
            Some(json!({"url": bad})),
        )
        .await;
        assert_eq!(s, 422, "{bad}: {v}");
        assert!(v["request_id"].is_string(), "{v}");
    }
    let ok = json!({"url": "https://example.com/x.git", "token": "t0ken-secret"});
    let (s, v) = call(
        reqwest::Method::PUT,
        &url,
        &alice,
        Some(json!({"url": "https://example.com/x.git", "interval_secs": 0})),
    )
    .await;
    assert_eq!(s, 422, "{v}");
    let (s, v) = call(
        reqwest::Method::PUT,
        &url,
        &alice,
        Some(json!({"url": "https://example.com/x.git", "token": "a", "password": "b"})),
    )
    .await;
    assert_eq!(s, 422, "{v}");
    // Strangers see no dataset; nobody but its admins sets it up or syncs it.
    let (s, _) = call(reqwest::Method::PUT, &url, &bob, Some(ok.clone())).await;
    assert_eq!(s, 404);
    let (s, v) = call(reqwest::Method::PUT, &url, &alice, Some(ok.clone())).await;
    assert_eq!(s, 201, "{v}");
    assert!(!v.to_string().contains("t0ken-secret"));
    let (s, _) = call(reqwest::Method::POST, &format!("{url}/sync"), &bob, None).await;
    assert_eq!(s, 404);
    // Forged, stale and unknown hooks: one answer.
    let ts = strata_core::db::now();
    for (dataset, stamp, sig) in [
        ("alice/m", ts.to_string(), "v1,AAAA".to_owned()),
        (
            "alice/m",
            (ts - 3600).to_string(),
            strata_core::delivery::sign("whsec_AAAA", "m", ts - 3600, "{}"),
        ),
        (
            "alice/none",
            ts.to_string(),
            strata_core::delivery::sign("whsec_AAAA", "m", ts, "{}"),
        ),
        ("alice/m", "soon".to_owned(), "v1,AAAA".to_owned()),
    ] {
        let r = client()
            .post(format!("{}{API}/{dataset}/mirror/hook", server.url))
            .header("webhook-id", "m")
            .header("webhook-timestamp", stamp)
            .header("webhook-signature", sig)
            .body("{}")
            .send()
            .await
            .unwrap();
        let (s, _, v) = crate::common::body(r).await;
        assert_eq!(s, 401, "{dataset}: {v}");
        assert!(v["request_id"].is_string());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remote_whose_bytes_lie_moves_no_ref() {
    let source = TestServer::start().await;
    let mirror = mirror_server().await;
    let (src, dst) = (source.user("alice").await, mirror.user("bob").await);
    let post = reqwest::Method::POST;
    let (s, v) = call(
        post.clone(),
        &format!("{}{API}", source.url),
        &src,
        Some(json!({"namespace": "alice", "name": "d"})),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    let data = b"the true bytes\n".repeat(100);
    commit_lfs(&source, &src, "alice/d", "main", &[("f.txt", &data)]).await;
    // The source's disk now holds other bytes under that oid (a liar, or rot).
    let oid = strata_lfs::Oid::of(&data);
    let path = source
        .dir
        .path()
        .join("data/objects")
        .join(oid.fanout_path());
    let oid = oid.to_string();
    assert!(path.exists(), "{}", path.display());
    std::fs::write(&path, b"the wrong bytes\n".repeat(100)).unwrap();
    let (s, v) = call(
        post,
        &format!("{}{API}", mirror.url),
        &dst,
        Some(json!({"namespace": "bob", "name": "d"})),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    let before = mirror.head(&dst, "bob/d").await;
    let since = strata_core::db::now();
    let (s, v) = call(
        reqwest::Method::PUT,
        &format!("{}{API}/bob/d/mirror", mirror.url),
        &dst,
        Some(json!({"url": format!("{}/alice/d.git", source.url), "token": src})),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    let m = settled(&mirror, &dst, "bob/d", since).await;
    assert_eq!(m["state"], "failed", "{m}");
    assert!(m["last_error"].as_str().unwrap().contains(&oid), "{m}");
    assert!(!m.to_string().contains(&src));
    assert_eq!(mirror.head(&dst, "bob/d").await, before, "no ref moved");
}
