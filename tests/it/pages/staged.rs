//! Staged uploads over HTTP (the browser's way to strata's disk; `pages::upload` drives them in
//! Chromium): parts in any order and again, the missing ones listed, completion answering the
//! sha256 of exactly the bytes sent, the object linked and committable. Hostile: wrong lengths,
//! parts that do not exist, another dataset's upload, readers, sizes over the limit, completing
//! early or twice, too many at once (for the dataset and for one person), another writer's
//! requests to an upload that is not theirs, a cancelled upload.

use super::cards::api;
use crate::common::*;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

const MIB: usize = 1024 * 1024;

async fn call(
    server: &TestServer,
    token: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Vec<u8>>,
) -> (u16, Value) {
    let mut req = client()
        .request(method, format!("{}/api/v1/datasets/{path}", server.url))
        .bearer_auth(token);
    if let Some(b) = body {
        req = req.body(b);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

#[tokio::test]
async fn staged_uploads_hash_what_arrives_and_refuse_the_rest() {
    let server = TestServer::start().await;
    let token = server.user_with("alice", true, "*").await;
    let bob = server.user("bob").await;
    for name in ["box", "other"] {
        let (status, v) = api(
            &server,
            &token,
            reqwest::Method::POST,
            "/datasets",
            json!({"namespace": "alice", "name": name, "visibility": "public"}),
        )
        .await;
        assert_eq!(status, 201, "{v}");
    }
    // 40 MiB: three parts of 16, 16 and 8 MiB, no two alike.
    let data: Vec<u8> = (0..40 * MIB).map(|i| (i * 31 % 251) as u8).collect();
    let oid: String = Sha256::digest(&data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let start = |size: usize| {
        let (server, token) = (&server, &token);
        async move {
            call(
                server,
                token,
                reqwest::Method::POST,
                "alice/box/uploads",
                Some(json!({ "size": size }).to_string().into_bytes()),
            )
            .await
        }
    };
    let (status, up) = start(data.len()).await;
    assert_eq!(status, 201, "{up}");
    let id = up["id"].as_str().unwrap().to_owned();
    let parts: Vec<(u64, u64, u64)> = up["missing"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["n"].as_u64().unwrap(),
                p["pos"].as_u64().unwrap(),
                p["len"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(parts.len(), 3, "{up}");
    let slice = |n: usize| {
        let (_, pos, len) = parts[n - 1];
        data[pos as usize..(pos + len) as usize].to_vec()
    };
    let part_url = |n: u64| format!("alice/box/uploads/{id}/parts/{n}");
    let put = reqwest::Method::PUT;

    // Hostile parts: too short, too long, a part that does not exist, another dataset's upload,
    // a reader, an id that is no id. Nothing of them is kept.
    let mut short = slice(1);
    short.pop();
    assert_eq!(
        call(&server, &token, put.clone(), &part_url(1), Some(short))
            .await
            .0,
        422
    );
    let mut long = slice(3);
    long.push(0);
    assert_eq!(
        call(&server, &token, put.clone(), &part_url(3), Some(long))
            .await
            .0,
        422
    );
    assert_eq!(
        call(&server, &token, put.clone(), &part_url(4), Some(vec![1]))
            .await
            .0,
        404
    );
    assert_eq!(
        call(&server, &token, put.clone(), &part_url(0), Some(vec![1]))
            .await
            .0,
        404
    );
    let elsewhere = format!("alice/other/uploads/{id}/parts/3");
    assert_eq!(
        call(&server, &token, put.clone(), &elsewhere, Some(slice(3)))
            .await
            .0,
        404
    );
    let (status, _) = call(&server, &bob, put.clone(), &part_url(3), Some(slice(3))).await;
    assert!(status == 403 || status == 404, "{status}");
    let bad_id = "alice/box/uploads/..%2F..%2Fetc/parts/1";
    assert_eq!(
        call(&server, &token, put.clone(), bad_id, Some(vec![1]))
            .await
            .0,
        404
    );

    // The last part first, then the first: the middle one is what is missing.
    assert_eq!(
        call(&server, &token, put.clone(), &part_url(3), Some(slice(3)))
            .await
            .0,
        204
    );
    assert_eq!(
        call(&server, &token, put.clone(), &part_url(1), Some(slice(1)))
            .await
            .0,
        204
    );
    let (status, seen) = call(
        &server,
        &token,
        reqwest::Method::GET,
        &format!("alice/box/uploads/{id}"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{seen}");
    let missing: Vec<u64> = seen["missing"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["n"].as_u64().unwrap())
        .collect();
    assert_eq!(missing, [2]);
    let done = format!("alice/box/uploads/{id}/complete");
    let (status, early) = call(&server, &token, reqwest::Method::POST, &done, None).await;
    assert_eq!(status, 409, "{early}");
    assert_eq!(early["missing_parts"], json!([2]), "{early}");
    // Part 1 again (a retry after a cut answer): kept once.
    assert_eq!(
        call(&server, &token, put.clone(), &part_url(1), Some(slice(1)))
            .await
            .0,
        204
    );
    assert_eq!(
        call(&server, &token, put.clone(), &part_url(2), Some(slice(2)))
            .await
            .0,
        204
    );
    let (status, object) = call(&server, &token, reqwest::Method::POST, &done, None).await;
    assert_eq!(status, 200, "{object}");
    assert_eq!(object["oid"], oid.as_str());
    assert_eq!(object["size"], data.len());
    // Done: the upload is gone; the object is the dataset's, and commits.
    let (status, _) = call(&server, &token, reqwest::Method::POST, &done, None).await;
    assert_eq!(status, 404);
    let head = server.head(&token, "alice/box").await;
    let lines = [
        json!({"key": "header", "value": {"summary": "Staged", "parent": head}}),
        json!({"key": "lfsFile", "value": {"path": "big.bin", "oid": oid, "size": data.len()}}),
    ];
    let r = client()
        .post(format!("{}/api/v1/datasets/alice/box/commit", server.url))
        .bearer_auth(&token)
        .header("content-type", "application/x-ndjson")
        .body(
            lines
                .iter()
                .map(|l| l.to_string())
                .collect::<Vec<_>>()
                .join("\n"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let raw = client()
        .get(format!(
            "{}/api/v1/datasets/alice/box/raw/big.bin",
            server.url
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert!(
        raw.as_ref() == data.as_slice(),
        "the object is the bytes sent"
    );
    // Not linked to the other dataset: naming the oid there proves nothing.
    let head = server.head(&token, "alice/other").await;
    let lines = [
        json!({"key": "header", "value": {"summary": "Borrowed", "parent": head}}),
        json!({"key": "lfsFile", "value": {"path": "big.bin", "oid": oid, "size": data.len()}}),
    ];
    let r = client()
        .post(format!("{}/api/v1/datasets/alice/other/commit", server.url))
        .bearer_auth(&token)
        .header("content-type", "application/x-ndjson")
        .body(
            lines
                .iter()
                .map(|l| l.to_string())
                .collect::<Vec<_>>()
                .join("\n"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422, "not uploaded to alice/other");

    // A reader may not start one; a size that is no size is refused; a cancelled upload is gone.
    let (status, _) = call(
        &server,
        &bob,
        reqwest::Method::POST,
        "alice/box/uploads",
        Some(json!({"size": 1}).to_string().into_bytes()),
    )
    .await;
    assert!(status == 403 || status == 404, "{status}");
    let (status, _) = call(
        &server,
        &token,
        reqwest::Method::POST,
        "alice/box/uploads",
        Some(br#"{"size": -1}"#.to_vec()),
    )
    .await;
    assert!(status == 400 || status == 422, "{status}");
    // Past what a byte count holds: refused as no size, not as too large (schemathesis found it).
    let (status, _) = call(
        &server,
        &token,
        reqwest::Method::POST,
        "alice/box/uploads",
        Some(br#"{"size": 9223372036854775808}"#.to_vec()),
    )
    .await;
    assert_eq!(status, 422);
    let (status, up) = start(10).await;
    assert_eq!(status, 201, "{up}");
    let gone = format!("alice/box/uploads/{}", up["id"].as_str().unwrap());
    assert_eq!(
        call(&server, &token, reqwest::Method::DELETE, &gone, None)
            .await
            .0,
        204
    );
    assert_eq!(
        call(&server, &token, reqwest::Method::GET, &gone, None)
            .await
            .0,
        404
    );
    assert_eq!(
        call(&server, &token, reqwest::Method::DELETE, &gone, None)
            .await
            .0,
        404
    );
    // An upload is its starter's: another writer of the dataset neither sees, feeds, completes
    // nor cancels it.
    let carol = server.user("carol").await;
    let (status, v) = call(
        &server,
        &token,
        reqwest::Method::PUT,
        "alice/box/collaborators/carol",
        Some(json!({"permission": "write"}).to_string().into_bytes()),
    )
    .await;
    assert_eq!(status, 204, "{v}");
    let (status, up) = start(10).await;
    assert_eq!(status, 201, "{up}");
    let mine = format!("alice/box/uploads/{}", up["id"].as_str().unwrap());
    for (method, path, body) in [
        (reqwest::Method::GET, mine.clone(), None),
        (
            reqwest::Method::PUT,
            format!("{mine}/parts/1"),
            Some(b"0123456789".to_vec()),
        ),
        (reqwest::Method::POST, format!("{mine}/complete"), None),
        (reqwest::Method::DELETE, mine.clone(), None),
    ] {
        let (status, v) = call(&server, &carol, method.clone(), &path, body).await;
        assert_eq!(status, 404, "{method} {path}: {v}");
    }
    let (status, v) = call(&server, &token, reqwest::Method::GET, &mine, None).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["missing"].as_array().unwrap().len(), 1, "untouched: {v}");
    // Larger than any staged upload (1 TiB): refused before anything is made.
    let (status, v) = start(1 << 41).await;
    assert_eq!(status, 413, "{v}");

    // At most 8 at once for one person, 16 for the dataset.
    let mut refused = None;
    for _ in 0..9 {
        let (status, v) = start(1).await;
        if status != 201 {
            refused = Some((status, v));
            break;
        }
    }
    let (status, v) = refused.expect("alice is refused her 9th");
    assert_eq!(status, 429, "{v}");
    assert!(v["message"].as_str().unwrap().contains("you have 8"), "{v}");
    let carol_starts = || {
        let (server, carol) = (&server, &carol);
        async move {
            call(
                server,
                carol,
                reqwest::Method::POST,
                "alice/box/uploads",
                Some(json!({ "size": 1 }).to_string().into_bytes()),
            )
            .await
        }
    };
    let mut statuses = Vec::new();
    for _ in 0..9 {
        statuses.push(carol_starts().await);
    }
    let made = statuses.iter().filter(|(s, _)| *s == 201).count();
    assert_eq!(made, 8, "{statuses:?}");
    let (status, last) = statuses.last().unwrap();
    assert_eq!(*status, 429);
    assert!(
        last["message"].as_str().unwrap().contains("16 uploads"),
        "{last}"
    );
}
