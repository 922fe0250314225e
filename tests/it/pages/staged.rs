//! Staged uploads over HTTP (the browser's way through strata to its disk or bucket;
//! `pages::upload` drives them in Chromium): parts in any order and again, the missing ones
//! listed, completion answering the sha256 of exactly the bytes sent, the object linked and
//! committable. Hostile: wrong lengths, parts that do not exist, another dataset's upload,
//! readers, sizes over the limit, completing early or twice, too many at once (for the dataset
//! and for one person), another writer's requests to an upload that is not theirs, a cancelled
//! upload. On a bucket: the object stored once under its oid, nothing left behind, and the
//! page's choice of path.

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

/// On a bucket, staged uploads go through strata too: hashed as the parts come, then stored
/// under their oid in one upload from strata (nothing under a staging key, nothing left in the
/// data directory), once: the same bytes staged again are not sent to the bucket twice. The
/// drive page stages on the bucket unless `--browser-uploads direct` sends browsers straight to
/// it (the Chromium test of that path is `pages::upload`).
#[tokio::test]
async fn staged_uploads_to_a_bucket_are_hashed_by_strata_and_stored_once() {
    use strata_core::config::BrowserUploads;
    let server = TestServer::start_with(Backend::S3, |_| {}).await;
    let s3 = server.s3.as_ref().unwrap();
    let token = server.user_with("alice", true, "*").await;
    strata::cli::admin::set_password(&server.state, "alice", PASSWORD)
        .await
        .unwrap();
    let (status, v) = api(
        &server,
        &token,
        reqwest::Method::POST,
        "/datasets",
        json!({"namespace": "alice", "name": "box"}),
    )
    .await;
    assert_eq!(status, 201, "{v}");
    let mut browser = Browser::new(&server.url);
    browser.login("alice", PASSWORD).await;
    let page = browser.get("/datasets/alice/box").await;
    assert!(
        page.text
            .contains("data-staged=\"/api/v1/datasets/alice/box/uploads\""),
        "the page stages on a bucket by default: {} {}",
        page.status,
        &page.text[page.text.find("<form").unwrap_or(0)..][..600.min(page.text.len())]
    );

    // 20 MiB: two parts, sent last first.
    let data: Vec<u8> = (0..20 * MIB).map(|i| (i * 17 % 241) as u8).collect();
    let oid: String = Sha256::digest(&data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let upload = |data: &[u8]| {
        let (server, token, data) = (&server, &token, data.to_vec());
        async move {
            let body = json!({ "size": data.len() }).to_string().into_bytes();
            let (status, up) = call(
                server,
                token,
                reqwest::Method::POST,
                "alice/box/uploads",
                Some(body),
            )
            .await;
            assert_eq!(status, 201, "{up}");
            let id = up["id"].as_str().unwrap().to_owned();
            let mut parts: Vec<(u64, usize, usize)> = up["missing"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| {
                    let at = |k: &str| p[k].as_u64().unwrap();
                    (at("n"), at("pos") as usize, at("len") as usize)
                })
                .collect();
            parts.reverse();
            for (n, pos, len) in parts {
                let path = format!("alice/box/uploads/{id}/parts/{n}");
                let slice = data[pos..pos + len].to_vec();
                let (status, v) =
                    call(server, token, reqwest::Method::PUT, &path, Some(slice)).await;
                assert_eq!(status, 204, "part {n}: {v}");
            }
            let done = format!("alice/box/uploads/{id}/complete");
            call(server, token, reqwest::Method::POST, &done, None).await
        }
    };
    let (status, object) = upload(&data).await;
    assert_eq!(status, 200, "{object}");
    assert_eq!(object["oid"], oid.as_str());
    let stored = s3.object_path(&format!("lfs/{}/{}/{oid}", &oid[..2], &oid[2..4]));
    assert_eq!(
        std::fs::read(&stored).expect("the object is under its oid in the bucket"),
        data
    );
    let sends = || {
        s3.log
            .lock()
            .unwrap()
            .iter()
            .filter(|l| !l.starts_with("GET") && !l.starts_with("HEAD") && l.contains(&oid))
            .count()
    };
    let sent = sends();
    assert!(sent > 0, "strata sent the object to the bucket");

    // The same bytes again: hashed to the same oid, and the bucket is not sent them twice.
    let (status, again) = upload(&data).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["oid"], oid.as_str());
    assert_eq!(sends(), sent, "the object was in the bucket already");

    // Nothing is left behind in the data directory, where the uploads were kept.
    let staged = server.dir.path().join("data/staged");
    let left = std::fs::read_dir(&staged)
        .expect("uploads are kept here")
        .count();
    assert_eq!(left, 0, "upload directories left in {}", staged.display());

    // Committed, and read back through strata: the bytes sent.
    let head = server.head(&token, "alice/box").await;
    let lines = [
        json!({"key": "header", "value": {"summary": "Staged", "parent": head}}),
        json!({"key": "lfsFile", "value": {"path": "s.bin", "oid": oid, "size": data.len()}}),
    ];
    let body: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    let r = client()
        .post(format!("{}/api/v1/datasets/alice/box/commit", server.url))
        .bearer_auth(&token)
        .header("content-type", "application/x-ndjson")
        .body(body.join("\n"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let raw = client()
        .get(format!(
            "{}/api/v1/datasets/alice/box/raw/s.bin",
            server.url
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), 200);
    assert!(raw.bytes().await.unwrap().as_ref() == data.as_slice());

    // `--browser-uploads direct`: the page hashes in the browser and sends to the bucket.
    let direct = TestServer::start_with(Backend::S3, |c| {
        c.browser_uploads = BrowserUploads::Direct;
    })
    .await;
    let token = direct.user_with("alice", true, "*").await;
    strata::cli::admin::set_password(&direct.state, "alice", PASSWORD)
        .await
        .unwrap();
    let (status, v) = api(
        &direct,
        &token,
        reqwest::Method::POST,
        "/datasets",
        json!({"namespace": "alice", "name": "box"}),
    )
    .await;
    assert_eq!(status, 201, "{v}");
    let mut browser = Browser::new(&direct.url);
    browser.login("alice", PASSWORD).await;
    let page = browser.get("/datasets/alice/box").await;
    assert!(page.text.contains("data-upload"), "the page still uploads");
    assert!(!page.text.contains("data-staged"), "straight to the bucket");
}

/// A part in is never written over, whichever replica a request lands on: each writer streams
/// into a file of its own and only the first becomes the part. Here another replica got part 1
/// in first (with other bytes); this one's part 1 is taken as delivered, a writer's file left by
/// a crash counts for nothing, and the object is exactly the bytes hashed.
#[tokio::test]
async fn a_part_in_is_never_written_over() {
    let server = TestServer::start().await;
    let token = server.user_with("alice", true, "*").await;
    let (status, v) = api(
        &server,
        &token,
        reqwest::Method::POST,
        "/datasets",
        json!({"namespace": "alice", "name": "box"}),
    )
    .await;
    assert_eq!(status, 201, "{v}");
    let data: Vec<u8> = (0..20 * MIB).map(|i| (i * 13 % 239) as u8).collect();
    let body = json!({ "size": data.len() }).to_string().into_bytes();
    let (status, up) = call(
        &server,
        &token,
        reqwest::Method::POST,
        "alice/box/uploads",
        Some(body),
    )
    .await;
    assert_eq!(status, 201, "{up}");
    let id = up["id"].as_str().unwrap().to_owned();
    let dir = std::fs::read_dir(server.dir.path().join("data/objects/staged"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with(&format!("-{id}")))
        .expect("the upload's directory");
    let parts: Vec<(u64, usize, usize)> = up["missing"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let at = |k: &str| p[k].as_u64().unwrap();
            (at("n"), at("pos") as usize, at("len") as usize)
        })
        .collect();
    assert_eq!(parts.len(), 2, "{up}");
    let send = |n: u64| {
        let (_, pos, len) = parts[n as usize - 1];
        let (server, token) = (&server, &token);
        let slice = data[pos..pos + len].to_vec();
        let path = format!("alice/box/uploads/{id}/parts/{n}");
        async move { call(server, token, reqwest::Method::PUT, &path, Some(slice)).await }
    };

    // Another replica's part 1, in first; a writer's own file left by a crash for part 2.
    let (_, _, len1) = parts[0];
    let theirs: Vec<u8> = vec![7; len1];
    std::fs::write(dir.join("part.1"), &theirs).unwrap();
    std::fs::write(dir.join("part.2.0123456789abcdef"), b"half a part").unwrap();
    let status_of = || {
        let (server, token) = (&server, &token);
        let path = format!("alice/box/uploads/{id}");
        async move { call(server, token, reqwest::Method::GET, &path, None).await }
    };
    let (status, v) = status_of().await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        v["missing"].as_array().unwrap().len(),
        1,
        "only part 2: {v}"
    );
    assert_eq!(v["missing"][0]["n"], 2, "{v}");

    // This replica's part 1: taken as delivered, the part that is in stays as it is.
    assert_eq!(send(1).await.0, 204);
    assert_eq!(std::fs::read(dir.join("part.1")).unwrap(), theirs);
    assert_eq!(send(2).await.0, 204);
    let done = format!("alice/box/uploads/{id}/complete");
    let (status, object) = call(&server, &token, reqwest::Method::POST, &done, None).await;
    assert_eq!(status, 200, "{object}");
    let mut stored = theirs.clone();
    stored.extend_from_slice(&data[len1..]);
    let oid: String = Sha256::digest(&stored)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(
        object["oid"],
        oid.as_str(),
        "the oid of the parts that are in"
    );
    let path = server
        .dir
        .path()
        .join(format!("data/objects/{}/{}/{oid}", &oid[..2], &oid[2..4]));
    assert!(
        std::fs::read(&path).expect("stored under its oid") == stored,
        "the object is the bytes hashed"
    );
    assert!(!dir.exists(), "nothing of the upload is left");
}
