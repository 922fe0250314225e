//! Quotas and usage: a site admin gives alice's namespace 100 bytes (the server's default is
//! 1,000); the batch API admits objects in order until the next would pass it and answers the
//! rest 507 per object (an object the namespace holds already adds nothing, in any dataset of
//! it); a browser upload past it is refused 507; usage counts unique bytes per namespace and per
//! dataset, for the namespace's user and site admins only; only site admins set quotas, of
//! namespaces that exist; the default applies where none was set. The other write paths refuse
//! past it too: the S3 gateway's puts and multipart uploads (boto3), and REST commits of plain
//! content stored as objects under encryption. Bytes on their way count: separate batches asked
//! before any upload lands share one room (each admitted object keeps its room until it lands,
//! counted once however often it is asked for), and so do browser uploads while they run.

use serde_json::{json, Value};

use crate::common::*;

async fn batch(server: &TestServer, repo: &str, token: &str, objects: &[&[u8]]) -> Value {
    let objects: Vec<Value> = objects
        .iter()
        .map(|d| json!({"oid": sha256_hex(d), "size": d.len()}))
        .collect();
    let req = json!({"operation": "upload", "transfers": ["basic"], "objects": objects});
    let (status, _, v) = body(lfs_post(&server.batch_url(repo), Some(token), &req).await).await;
    assert_eq!(status, 200, "{v}");
    v
}

async fn usage(server: &TestServer, token: &str, ns: &str) -> (u16, Value) {
    let r = client()
        .get(format!("{}/api/v1/namespaces/{ns}/usage", server.url))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let (status, _, v) = body(r).await;
    (status, v)
}

async fn set_quota(server: &TestServer, token: &str, ns: &str, bytes: Value) -> u16 {
    client()
        .put(format!("{}/api/v1/namespaces/{ns}/quota", server.url))
        .bearer_auth(token)
        .json(&json!({ "bytes": bytes }))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quotas_refuse_what_would_pass_them_and_usage_counts_unique_bytes() {
    let server = TestServer::start_with(Backend::Local, |c| c.quota_bytes = 1000).await;
    let admin = server.user_with("root", true, "*").await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    for name in ["q", "q2"] {
        server
            .repo(
                &format!("alice/{name}"),
                strata_core::db::Visibility::Private,
            )
            .await;
    }
    // Only site admins set quotas, of namespaces that exist.
    assert_eq!(
        set_quota(&server, &alice, "alice", json!(1_000_000)).await,
        403
    );
    assert_eq!(set_quota(&server, &admin, "nobody", json!(100)).await, 404);
    // More than the database holds is refused, not stored as something else.
    assert_eq!(
        set_quota(
            &server,
            &admin,
            "alice",
            json!(9_223_372_036_854_775_808u64)
        )
        .await,
        422
    );
    assert_eq!(set_quota(&server, &admin, "alice", json!(100)).await, 204);

    let a = vec![b'a'; 60];
    let b = vec![b'b'; 30];
    let c = vec![b'c'; 40];
    let v = batch(&server, "alice/q", &alice, &[&a, &b, &c]).await;
    let objects = v["objects"].as_array().unwrap();
    assert!(objects[0]["actions"]["upload"].is_object(), "{v}");
    assert!(objects[1]["actions"]["upload"].is_object(), "{v}");
    assert_eq!(objects[2]["error"]["code"], 507, "{v}");
    assert!(
        objects[2]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("over its storage quota"),
        "{v}"
    );
    upload(&server, "alice/q", &alice, &a).await;
    upload(&server, "alice/q", &alice, &b).await;
    let (status, u) = usage(&server, &alice, "alice").await;
    assert_eq!(status, 200, "{u}");
    assert_eq!(u["used"], 90, "{u}");
    assert_eq!(u["quota"], 100, "{u}");
    assert_eq!(u["datasets"][0], json!(["q", 90]), "{u}");
    // Past the quota: refused per object; what the namespace holds adds nothing, in another
    // dataset of it too.
    let v = batch(&server, "alice/q", &alice, &[&c]).await;
    assert_eq!(v["objects"][0]["error"]["code"], 507, "{v}");
    let v = batch(&server, "alice/q2", &alice, &[&a]).await;
    assert!(v["objects"][0]["actions"]["upload"].is_object(), "{v}");
    upload(&server, "alice/q2", &alice, &a).await;
    let (_, u) = usage(&server, &alice, "alice").await;
    assert_eq!(u["used"], 90, "unique bytes: {u}");
    // A browser upload past it: refused before anything is stored.
    let r = client()
        .post(format!("{}/api/v1/datasets/alice/q/uploads", server.url))
        .bearer_auth(&alice)
        .json(&json!({"size": 40}))
        .send()
        .await
        .unwrap();
    let (status, headers, v) = body(r).await;
    assert_error_body(status, &headers, &v, 507);
    // Usage: the namespace's user and site admins; anyone else hears of nothing.
    assert_eq!(usage(&server, &bob, "alice").await.0, 404);
    assert_eq!(usage(&server, &admin, "alice").await.0, 200);
    assert_eq!(usage(&server, &bob, "nobody").await.0, 404);
    // /metrics counts what is stored, and the namespaces near their quota, naming none.
    let metrics = server.metrics_text().await;
    assert!(metrics.contains("strata_storage_bytes 90"), "{metrics}");
    assert!(metrics.contains("strata_storage_objects 2"), "{metrics}");
    assert!(
        metrics.contains("strata_storage_namespaces_near_quota 1"),
        "{metrics}"
    );
    assert!(!metrics.contains("alice"), "{metrics}");
    // Back to the server's default: 1,000 bytes.
    assert_eq!(set_quota(&server, &admin, "alice", Value::Null).await, 204);
    let (_, u) = usage(&server, &alice, "alice").await;
    assert_eq!(u["quota"], 1000, "{u}");
    let v = batch(&server, "alice/q", &alice, &[&c]).await;
    assert!(v["objects"][0]["actions"]["upload"].is_object(), "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_other_write_path_refuses_past_the_quota() {
    let server = TestServer::start_with(Backend::Local, |c| {
        c.quota_bytes = 100;
        c.encryption = strata_core::config::Encryption::On;
    })
    .await;
    let alice = server.user("alice").await;
    server
        .repo("alice/w", strata_core::db::Visibility::Private)
        .await;
    upload(&server, "alice/w", &alice, &[b'x'; 80]).await;
    // The S3 gateway: a put and a multipart upload that would pass it.
    let s3 = crate::compat::s3::gateway(&server).await;
    let v = crate::compat::s3::client(&s3, Some(&alice), &["quota", "alice.w", "30"]).await;
    assert_eq!(v["put"], "EntityTooLarge 400", "{v}");
    assert_eq!(v["multipart"], "EntityTooLarge 400", "{v}");
    // A REST commit of plain content (stored as an object under encryption).
    let header = json!({"key": "header", "value": {"summary": "too much"}});
    let file = json!({"key": "file", "value": {"path": "big.txt", "content": "y".repeat(40)}});
    let r = client()
        .post(format!("{}/api/v1/datasets/alice/w/commit", server.url))
        .bearer_auth(&alice)
        .header("content-type", "application/x-ndjson")
        .body(format!("{header}\n{file}"))
        .send()
        .await
        .unwrap();
    let (status, headers, v) = body(r).await;
    assert_error_body(status, &headers, &v, 507);
    let (_, u) = usage(&server, &alice, "alice").await;
    assert_eq!(u["used"], 80, "nothing else was linked: {u}");
}

async fn start_upload(server: &TestServer, token: &str, repo: &str, size: usize) -> (u16, Value) {
    let r = client()
        .post(format!("{}/api/v1/datasets/{repo}/uploads", server.url))
        .bearer_auth(token)
        .json(&json!({ "size": size }))
        .send()
        .await
        .unwrap();
    let (status, _, v) = body(r).await;
    (status, v)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn separate_batches_share_one_room_until_their_objects_land() {
    const KIB: usize = 1024;
    let server = TestServer::start_with(Backend::Local, |c| c.quota_bytes = 1 << 20).await;
    let alice = server.user("alice").await;
    for name in ["r", "r2"] {
        server
            .repo(
                &format!("alice/{name}"),
                strata_core::db::Visibility::Private,
            )
            .await;
    }
    let objects: Vec<Vec<u8>> = (0..4u8).map(|i| vec![b'a' + i; 400 * KIB]).collect();
    // Four batches of one 400 KiB object each, asked before any upload landed (to two datasets
    // of the namespace): two fit in 1 MiB, the others are refused.
    let mut admitted = Vec::new();
    for (i, data) in objects.iter().enumerate() {
        let repo = if i % 2 == 0 { "alice/r" } else { "alice/r2" };
        let v = batch(&server, repo, &alice, &[data]).await;
        let given = v["objects"][0]["actions"]["upload"].is_object();
        if !given {
            assert_eq!(v["objects"][0]["error"]["code"], 507, "{v}");
        }
        admitted.push(given);
    }
    assert_eq!(admitted, [true, true, false, false]);
    // An object asked for again counts once: 200 KiB more still fit (800 + 200 KiB).
    let v = batch(&server, "alice/r", &alice, &[&objects[0]]).await;
    assert!(v["objects"][0]["actions"]["upload"].is_object(), "{v}");
    let small = vec![b'z'; 200 * KIB];
    let v = batch(&server, "alice/r", &alice, &[&small]).await;
    assert!(v["objects"][0]["actions"]["upload"].is_object(), "{v}");
    // The admitted objects land and count as stored (once); the room stays taken.
    upload(&server, "alice/r", &alice, &objects[0]).await;
    upload(&server, "alice/r2", &alice, &objects[1]).await;
    let (_, u) = usage(&server, &alice, "alice").await;
    assert_eq!(u["used"], 800 * KIB, "{u}");
    let v = batch(&server, "alice/r2", &alice, &[&objects[2]]).await;
    assert_eq!(v["objects"][0]["error"]["code"], 507, "{v}");
    // A browser upload is admitted as it starts, its size kept until it ends: 24 KiB are left.
    let (status, first) = start_upload(&server, &alice, "alice/r", 20 * KIB).await;
    assert_eq!(status, 201, "{first}");
    let (status, v) = start_upload(&server, &alice, "alice/r", 20 * KIB).await;
    assert_eq!(status, 507, "{v}");
    let r = client()
        .delete(format!(
            "{}/api/v1/datasets/alice/r/uploads/{}",
            server.url,
            first["id"].as_str().unwrap()
        ))
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let (status, v) = start_upload(&server, &alice, "alice/r", 20 * KIB).await;
    assert_eq!(status, 201, "cancelled, the first gave its room back: {v}");
    // Everything admitted landed within the quota.
    upload(&server, "alice/r", &alice, &small).await;
    let (_, u) = usage(&server, &alice, "alice").await;
    assert_eq!(u["used"], 1000 * KIB, "{u}");
    assert!(
        u["used"].as_u64().unwrap() <= u["quota"].as_u64().unwrap(),
        "{u}"
    );
}

/// Room held for an oid counts for the size it was held for: the same oid asked again with a
/// larger size (in the same batch or the next) needs the difference, and is refused past the
/// quota (a small size first no longer opens the door to a large one).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oid_asked_again_larger_needs_the_room_it_adds() {
    let server = TestServer::start_with(Backend::Local, |c| c.quota_bytes = 1 << 20).await;
    let alice = server.user("alice").await;
    server
        .repo("alice/r", strata_core::db::Visibility::Private)
        .await;
    let oid = "ab".repeat(32);
    let ask = |sizes: &[u64]| {
        let objects: Vec<serde_json::Value> = sizes
            .iter()
            .map(|s| serde_json::json!({"oid": oid, "size": s}))
            .collect();
        serde_json::json!({"operation": "upload", "transfers": ["basic"], "objects": objects})
    };
    let r = lfs_post(
        &server.batch_url("alice/r"),
        Some(&alice),
        &ask(&[1, 5 << 20]),
    )
    .await;
    assert_eq!(r.status(), 200);
    // One answer per oid: the larger size is past the quota, so neither gets a URL.
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["objects"][0]["error"]["code"], 507, "{v}");
    assert_eq!(v["objects"][1]["error"]["code"], 507, "{v}");
    let r = lfs_post(&server.batch_url("alice/r"), Some(&alice), &ask(&[2 << 20])).await;
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["objects"][0]["error"]["code"], 507, "{v}");
    // Within the quota, a larger size is admitted for what it adds.
    let r = lfs_post(
        &server.batch_url("alice/r"),
        Some(&alice),
        &ask(&[512 << 10]),
    )
    .await;
    let v: serde_json::Value = r.json().await.unwrap();
    assert!(v["objects"][0]["actions"]["upload"].is_object(), "{v}");
}
