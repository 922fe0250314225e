//! The LFS batch and locking APIs in process, every answer validated against the spec's JSON
//! schemas: per-object errors and the largest batch (moved from `lfs/batch.rs`), giftless's URL
//! layout (from `project/newcomer.rs`), and locks: create, list with paging and filters, verify,
//! unlock and force (from `lfs/locks.rs`).

use serde_json::{json, Value};
use strata_core::db::Visibility;

use crate::common::api::{api, unique};
use crate::common::{assert_error_body, assert_schema, sha256_hex, LFS};

#[tokio::test]
async fn per_object_errors() {
    let api = api().await;
    let user = unique("alice");
    let alice = api.user(&user).await;
    let repo = format!("{user}/r");
    api.repo(&repo, Visibility::Private).await;
    let good = sha256_hex(b"good");
    let objects = json!([
        {"oid": good.to_uppercase(), "size": 1},
        {"oid": "abc", "size": 1},
        {"oid": "z".repeat(64), "size": 1},
        {"oid": format!("../{}", "a".repeat(61)), "size": 1},
        {"oid": good, "size": -5},
        {"oid": good, "size": 1.5},
        {"oid": good, "size": 4},
    ]);
    for op in ["upload", "download"] {
        let (status, _, v) = api
            .lfs_post(
                &api.batch_url(&repo),
                Some(&alice),
                &json!({"operation": op, "objects": objects}),
            )
            .await
            .parts();
        assert_eq!(status, 200, "{v}");
        assert_schema("http-batch-response-schema.json", &v);
        let codes: Vec<i64> = v["objects"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["error"]["code"].as_i64().unwrap_or(0))
            .collect();
        let last = if op == "upload" { 0 } else { 404 };
        assert_eq!(codes, vec![422, 422, 422, 422, 422, 422, last], "{v}");
    }
    let md5 =
        json!({"operation": "upload", "hash_algo": "md5", "objects": [{"oid": good, "size": 4}]});
    let (_, _, v) = api
        .lfs_post(&api.batch_url(&repo), Some(&alice), &md5)
        .await
        .parts();
    assert_schema("http-batch-response-schema.json", &v);
    assert_eq!(v["objects"][0]["error"]["code"], 409, "{v}");
}

/// A batch of the maximum size is looked up in one query on both engines; the answer keeps the
/// request's order.
#[tokio::test]
async fn largest_batch() {
    let api = api().await;
    let user = unique("alice");
    let token = api.user(&user).await;
    let repo = format!("{user}/r");
    api.repo(&repo, Visibility::Private).await;
    let stored = [
        api.upload(&repo, &token, b"first").await,
        api.upload(&repo, &token, b"second").await,
    ];
    let mut objects: Vec<Value> = (0..998u32)
        .map(|i| json!({"oid": sha256_hex(&i.to_be_bytes()), "size": 4}))
        .collect();
    objects.insert(10, json!({"oid": stored[0].to_string(), "size": 5}));
    objects.push(json!({"oid": stored[1].to_string(), "size": 6}));
    assert_eq!(objects.len(), 1000);
    let req = json!({"operation": "download", "objects": objects});
    let (status, _, v) = api
        .lfs_post(&api.batch_url(&repo), Some(&token), &req)
        .await
        .parts();
    assert_eq!(status, 200, "{v}");
    assert_schema("http-batch-response-schema.json", &v);
    let out = v["objects"].as_array().unwrap();
    assert_eq!(out.len(), 1000);
    for (i, (sent, got)) in objects.iter().zip(out).enumerate() {
        assert_eq!(sent["oid"], got["oid"], "order at {i}");
        let downloadable = got["actions"]["download"]["href"].is_string();
        assert_eq!(downloadable, i == 10 || i == 999, "object {i}: {got}");
        if !downloadable {
            assert_eq!(got["error"]["code"], 404);
        }
    }
}

#[tokio::test]
async fn giftless_clients_find_the_batch_api_at_their_own_layout() {
    let api = api().await;
    let user = unique("alice");
    let token = api.user(&user).await;
    api.repo(&format!("{user}/g"), Visibility::Private).await;
    let data = b"giftless layout".to_vec();
    let req = json!({"operation": "upload", "transfers": ["basic"], "objects": [{"oid": sha256_hex(&data), "size": data.len()}]});
    let layout = format!("/{user}/g/objects/batch");
    let (status, headers, v) = api.lfs_post(&layout, Some(&token), &req).await.parts();
    assert_eq!(status, 200, "{v}");
    assert_eq!(headers["content-type"], "application/vnd.git-lfs+json");
    assert_schema("http-batch-response-schema.json", &v);
    let (status, headers, v) = api.lfs_post(&layout, None, &req).await.parts();
    assert_eq!(status, 401);
    assert_error_body(status, &headers, &v, 401);
}

#[tokio::test]
async fn locks_api() {
    let api = api().await;
    let user = unique("alice");
    let alice = api.user(&user).await;
    let bob_name = unique("bob");
    let bob = api.user(&bob_name).await;
    let admin = api.user_with(&unique("root"), true, "*").await;
    let path = format!("{user}/r");
    let repo = api.repo(&path, Visibility::Public).await;
    // Bob may write: give him a JWT for the repository.
    let bob_jwt = api.jwt(&bob_name, &format!("dataset:{path}:write"), 600);
    let _ = bob;
    let locks = format!("{}/locks", api.lfs_url(&path));

    let (status, _, v) = api
        .lfs_post(
            &locks,
            Some(&alice),
            &json!({"path": "data/a.bin", "ref": {"name": "refs/heads/main"}}),
        )
        .await
        .parts();
    assert_eq!(status, 201, "{v}");
    assert_schema("http-lock-create-response-schema.json", &v);
    let id = v["lock"]["id"].as_str().unwrap().to_owned();
    let (status, _, v) = api
        .lfs_post(&locks, Some(&bob_jwt), &json!({"path": "data/a.bin"}))
        .await
        .parts();
    assert_eq!(status, 409);
    assert_eq!(v["lock"]["id"], id.as_str());
    assert!(v["message"].is_string());
    for bad in ["/etc/passwd", "../x", "a/../../b", ""] {
        let status = api
            .lfs_post(&locks, Some(&alice), &json!({"path": bad}))
            .await
            .status;
        assert_eq!(status, 422, "{bad}");
    }
    for i in 0..5 {
        assert_eq!(
            api.lfs_post(
                &locks,
                Some(&bob_jwt),
                &json!({"path": format!("b/{i}.bin")})
            )
            .await
            .status,
            201
        );
    }
    // Listing with paging, filters; anonymous may list on a public repository.
    let mut seen = Vec::new();
    let mut cursor = String::new();
    loop {
        let (status, _, v) = api
            .get(format!("{locks}?limit=2&cursor={cursor}"))
            .header("accept", LFS)
            .send()
            .await
            .parts();
        assert_eq!(status, 200, "{v}");
        assert_schema("http-lock-list-response-schema.json", &v);
        seen.extend(
            v["locks"]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| l["path"].as_str().unwrap().to_owned()),
        );
        match v["next_cursor"].as_str() {
            Some(c) => cursor = c.to_owned(),
            None => break,
        }
    }
    assert_eq!(seen.len(), 6);
    let (_, _, v) = api
        .get(format!("{locks}?path=data/a.bin"))
        .send()
        .await
        .parts();
    assert_eq!(v["locks"].as_array().unwrap().len(), 1);
    let (_, _, v) = api.get(format!("{locks}?id={id}")).send().await.parts();
    assert_eq!(v["locks"][0]["owner"]["name"], user.as_str());
    let (status, _, _) = api.get(format!("{locks}?limit=0")).send().await.parts();
    assert_eq!(status, 422);

    // Verify: ours and theirs.
    let verify = format!("{locks}/verify");
    let (status, _, v) = api
        .lfs_post(&verify, Some(&alice), &json!({}))
        .await
        .parts();
    assert_eq!(status, 200);
    assert_schema("http-lock-verify-response-schema.json", &v);
    assert_eq!(v["ours"].as_array().unwrap().len(), 1);
    assert_eq!(v["theirs"].as_array().unwrap().len(), 5);
    assert_eq!(api.lfs_post(&verify, None, &json!({})).await.status, 401);

    // Unlock: not someone else's without force; force needs admin on the repository.
    let unlock = format!("{locks}/{id}/unlock");
    assert_eq!(
        api.lfs_post(&unlock, Some(&bob_jwt), &json!({}))
            .await
            .status,
        403
    );
    assert_eq!(
        api.lfs_post(&unlock, Some(&bob_jwt), &json!({"force": true}))
            .await
            .status,
        403
    );
    let (status, _, v) = api
        .lfs_post(&unlock, Some(&admin), &json!({"force": true}))
        .await
        .parts();
    assert_eq!(status, 200, "{v}");
    assert_schema("http-lock-create-response-schema.json", &v);
    assert_eq!(
        api.lfs_post(&unlock, Some(&alice), &json!({})).await.status,
        404
    );
    let (_, _, v) = api
        .get(format!("{locks}?limit=1&cursor=1"))
        .send()
        .await
        .parts();
    let bob_lock = v["locks"][0]["id"].as_str().unwrap().to_owned();
    let (status, _, _) = api
        .lfs_post(
            &format!("{locks}/{bob_lock}/unlock"),
            Some(&bob_jwt),
            &json!({}),
        )
        .await
        .parts();
    assert_eq!(status, 200);
    assert_eq!(repo.path(), path);
}
