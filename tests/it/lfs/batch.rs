//! The batch endpoint: the happy path with ranged downloads, and every whole-request error of the
//! spec (on a server with its own limits). Per-object errors and the largest batch are in the API
//! tier (`api/lfs.rs`).

use super::*;
use crate::common;

#[tokio::test]
async fn upload_then_download_with_ranges() {
    let server = TestServer::start().await;
    let token = server.user("alice").await;
    server.repo("alice/survey", Visibility::Private).await;
    let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let oid = upload(&server, "alice/survey", &token, &data).await;

    // Uploading again: already linked, so no actions.
    let req = json!({"operation": "upload", "objects": [{"oid": oid.to_string(), "size": data.len()}], "ref": {"name": "refs/heads/main"}});
    let (_, _, v) =
        body(lfs_post(&server.batch_url("alice/survey"), Some(&token), &req).await).await;
    assert_schema("http-batch-response-schema.json", &v);
    assert!(v["objects"][0].get("actions").is_none(), "{v}");
    assert_eq!(v["hash_algo"], "sha256");

    let obj = download_href(&server, "alice/survey", Some(&token), &oid, data.len()).await;
    let action = &obj["actions"]["download"];
    assert!(action["expires_in"].as_i64().unwrap() > 0);
    assert!(action["expires_at"].as_str().unwrap().ends_with('Z'));
    let href = action["href"].as_str().unwrap();
    let got = client().get(href).send().await.unwrap();
    assert_eq!(got.status(), 200);
    assert_eq!(
        got.headers()["etag"].to_str().unwrap(),
        format!("\"{oid}\"")
    );
    assert_eq!(got.bytes().await.unwrap().as_ref(), &data[..]);

    let part = client()
        .get(href)
        .header("range", "bytes=100-199")
        .send()
        .await
        .unwrap();
    assert_eq!(part.status(), 206);
    assert_eq!(
        part.headers()["content-range"].to_str().unwrap(),
        format!("bytes 100-199/{}", data.len())
    );
    assert_eq!(part.bytes().await.unwrap().as_ref(), &data[100..200]);
    let tail = client()
        .get(href)
        .header("range", "bytes=-10")
        .send()
        .await
        .unwrap();
    assert_eq!(
        tail.bytes().await.unwrap().as_ref(),
        &data[data.len() - 10..]
    );
    let bad = client()
        .get(href)
        .header("range", format!("bytes={}-", data.len()))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 416);
    assert_eq!(
        bad.headers()["content-range"].to_str().unwrap(),
        format!("bytes */{}", data.len())
    );

    // Anonymous users can't see the private repository at all, and are asked for credentials.
    let (status, headers, v) =
        body(lfs_post(&server.batch_url("alice/survey"), None, &req).await).await;
    assert_error_body(status, &headers, &v, 401);
    assert!(headers.contains_key("lfs-authenticate"));
    assert_eq!(server.temp_files(), 0);
}

#[tokio::test]
async fn whole_request_errors() {
    let server = TestServer::start_with(common::Backend::Local, |c| {
        c.max_batch_objects = 3;
        c.max_json_body = 4096;
    })
    .await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    server.repo("alice/private", Visibility::Private).await;
    server.repo("alice/public", Visibility::Public).await;
    let url = server.batch_url("alice/private");
    let one = json!({"operation": "download", "objects": [{"oid": sha256_hex(b"x"), "size": 1}]});

    // Malformed JSON, missing fields, unknown operation: 422 with a message and request id.
    for bad in [
        "{",
        "[]",
        r#"{"operation":"download"}"#,
        r#"{"operation":"delete","objects":[]}"#,
        r#"{"operation":"upload","objects":[{"oid":1}]}"#,
    ] {
        let resp = client()
            .post(&url)
            .basic_auth("a", Some(&alice))
            .header("content-type", LFS)
            .body(bad)
            .send()
            .await
            .unwrap();
        let (status, headers, v) = body(resp).await;
        assert_error_body(status, &headers, &v, 422);
        assert!(headers["content-type"].to_str().unwrap().starts_with(LFS));
    }
    // Media types.
    let resp = client()
        .post(&url)
        .basic_auth("a", Some(&alice))
        .header("content-type", "text/plain")
        .body(one.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 415);
    let resp = client()
        .post(&url)
        .basic_auth("a", Some(&alice))
        .header("accept", "text/html")
        .header("content-type", LFS)
        .body(one.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 406);
    let resp = client()
        .post(&url)
        .basic_auth("a", Some(&alice))
        .header("content-type", format!("{LFS}; charset=utf-8"))
        .body(one.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    // Too many objects, too large a body.
    let many: Vec<Value> = (0..4)
        .map(|i| json!({"oid": sha256_hex(&[i]), "size": 1}))
        .collect();
    let (status, headers, v) = body(
        lfs_post(
            &url,
            Some(&alice),
            &json!({"operation": "download", "objects": many}),
        )
        .await,
    )
    .await;
    assert_error_body(status, &headers, &v, 413);
    let huge = json!({"operation": "download", "objects": [], "pad": "x".repeat(10_000)});
    let (status, headers, v) = body(lfs_post(&url, Some(&alice), &huge).await).await;
    assert_error_body(status, &headers, &v, 413);
    // Transfer adapters.
    let (status, _, _) = body(
        lfs_post(
            &url,
            Some(&alice),
            &json!({"operation": "download", "transfers": ["tus"], "objects": []}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 422);

    // Who may see what.
    let (status, headers, v) = body(lfs_post(&url, Some(&bob), &one).await).await;
    assert_error_body(status, &headers, &v, 404); // bob can't tell it exists
    let (status, _, v) =
        body(lfs_post(&server.batch_url("alice/nothing"), Some(&bob), &one).await).await;
    assert_eq!(status, 404, "{v}");
    let (status, _, _) = body(lfs_post(&server.batch_url("alice/public"), None, &one).await).await;
    assert_eq!(status, 200); // public: anonymous read
    let upload = json!({"operation": "upload", "objects": [{"oid": sha256_hex(b"x"), "size": 1}]});
    let (status, headers, v) =
        body(lfs_post(&server.batch_url("alice/public"), Some(&bob), &upload).await).await;
    assert_error_body(status, &headers, &v, 403); // bob may read, not write
    let (status, headers, _) =
        body(lfs_post(&server.batch_url("alice/public"), None, &upload).await).await;
    assert_eq!(status, 401);
    assert!(headers.contains_key("lfs-authenticate"));
    // Broken credentials are refused, not downgraded to anonymous.
    for auth in ["Basic !!!", "Bearer nonsense", "Digest x", "Basic dXNlcg=="] {
        let resp = client()
            .post(server.batch_url("alice/public"))
            .header("authorization", auth)
            .header("content-type", LFS)
            .body(one.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 401, "{auth}");
    }
}
