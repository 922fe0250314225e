//! The LFS HTTP API against the real server: the happy path, every whole-request and per-object
//! error of the spec, hostile uploads, signed URL tampering, link isolation, tokens and locks.
//! Every LFS response body is validated against the spec's JSON schemas.

mod common;

use common::*;
use serde_json::{json, Value};
use strata::db::Visibility;
use strata_lfs::Oid;

async fn body(resp: reqwest::Response) -> (u16, reqwest::header::HeaderMap, Value) {
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap();
    (
        status,
        headers,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

fn assert_error_body(status: u16, headers: &reqwest::header::HeaderMap, v: &Value, expected: u16) {
    assert_eq!(status, expected, "{v}");
    assert!(
        v["message"].as_str().is_some_and(|m| !m.is_empty()),
        "no message: {v}"
    );
    let rid = v["request_id"].as_str().expect("request_id");
    assert_eq!(headers["x-request-id"].to_str().unwrap(), rid);
}

/// Uploads `data` to `repo` through batch + PUT + verify, checking each step.
async fn upload(server: &TestServer, repo: &str, token: &str, data: &[u8]) -> Oid {
    let oid = Oid::of(data);
    let req = json!({"operation": "upload", "transfers": ["basic"], "objects": [{"oid": oid.to_string(), "size": data.len()}]});
    let (status, headers, v) =
        body(lfs_post(&server.batch_url(repo), Some(token), &req).await).await;
    assert_eq!(status, 200, "{v}");
    assert!(headers["content-type"].to_str().unwrap().starts_with(LFS));
    assert_schema("http-batch-response-schema.json", &v);
    let actions = &v["objects"][0]["actions"];
    let put = client()
        .put(actions["upload"]["href"].as_str().unwrap())
        .body(data.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 200, "{}", put.text().await.unwrap());
    let verify = lfs_post(
        actions["verify"]["href"].as_str().unwrap(),
        None,
        &json!({"oid": oid.to_string(), "size": data.len()}),
    )
    .await;
    assert_eq!(verify.status(), 200);
    oid
}

async fn download_href(
    server: &TestServer,
    repo: &str,
    token: Option<&str>,
    oid: &Oid,
    size: usize,
) -> Value {
    let req = json!({"operation": "download", "objects": [{"oid": oid.to_string(), "size": size}]});
    let (status, _, v) = body(lfs_post(&server.batch_url(repo), token, &req).await).await;
    assert_eq!(status, 200, "{v}");
    assert_schema("http-batch-response-schema.json", &v);
    v["objects"][0].clone()
}

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

#[tokio::test]
async fn per_object_errors() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    server.repo("alice/r", Visibility::Private).await;
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
        let (status, _, v) = body(
            lfs_post(
                &server.batch_url("alice/r"),
                Some(&alice),
                &json!({"operation": op, "objects": objects}),
            )
            .await,
        )
        .await;
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
    let (_, _, v) = body(lfs_post(&server.batch_url("alice/r"), Some(&alice), &json!({"operation": "upload", "hash_algo": "md5", "objects": [{"oid": good, "size": 4}]})).await).await;
    assert_schema("http-batch-response-schema.json", &v);
    assert_eq!(v["objects"][0]["error"]["code"], 409, "{v}");
}

#[tokio::test]
async fn hostile_uploads_store_nothing() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    server.repo("alice/r", Visibility::Private).await;
    let data = vec![7u8; 100_000];
    let oid = Oid::of(&data);
    let req =
        json!({"operation": "upload", "objects": [{"oid": oid.to_string(), "size": data.len()}]});
    let (_, _, v) = body(lfs_post(&server.batch_url("alice/r"), Some(&alice), &req).await).await;
    let href = v["objects"][0]["actions"]["upload"]["href"]
        .as_str()
        .unwrap()
        .to_owned();
    let verify_href = v["objects"][0]["actions"]["verify"]["href"]
        .as_str()
        .unwrap()
        .to_owned();

    // Wrong content of the right size.
    let mut wrong = data.clone();
    wrong[500] = 8;
    let (status, headers, v) = body(client().put(&href).body(wrong).send().await.unwrap()).await;
    assert_error_body(status, &headers, &v, 422);
    // Too short and too long, with honest and with lying Content-Length.
    let (status, _, _) = body(
        client()
            .put(&href)
            .body(data[..10].to_vec())
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 422);
    let mut long = data.clone();
    long.push(0);
    let (status, _, _) = body(client().put(&href).body(long.clone()).send().await.unwrap()).await;
    assert_eq!(status, 422);
    let chunked = reqwest::Body::wrap_stream(futures_util::stream::iter(vec![Ok::<
        _,
        std::io::Error,
    >(long)]));
    let (status, _, _) = body(client().put(&href).body(chunked).send().await.unwrap()).await;
    assert_eq!(status, 413);

    // Cut off mid-body: the connection dies after half the declared bytes.
    {
        use tokio::io::AsyncWriteExt;
        let url = reqwest::Url::parse(&href).unwrap();
        let mut sock =
            tokio::net::TcpStream::connect((url.host_str().unwrap(), url.port().unwrap()))
                .await
                .unwrap();
        let head = format!(
            "PUT {}?{} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
            url.path(),
            url.query().unwrap(),
            data.len()
        );
        sock.write_all(head.as_bytes()).await.unwrap();
        sock.write_all(&data[..data.len() / 2]).await.unwrap();
        sock.shutdown().await.unwrap();
        drop(sock);
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }

    // None of that is visible: not in storage, not linked, no temporary files, verify refuses.
    assert_eq!(
        server.state.db.object_link_count(&oid).await.unwrap(),
        (false, 0)
    );
    assert_eq!(server.temp_files(), 0);
    let verify = lfs_post(
        &verify_href,
        None,
        &json!({"oid": oid.to_string(), "size": data.len()}),
    )
    .await;
    assert_eq!(verify.status(), 404);
    let dl =
        json!({"operation": "download", "objects": [{"oid": oid.to_string(), "size": data.len()}]});
    let (_, _, v) = body(lfs_post(&server.batch_url("alice/r"), Some(&alice), &dl).await).await;
    assert_eq!(v["objects"][0]["error"]["code"], 404);

    // The honest upload still works afterwards.
    assert_eq!(
        client()
            .put(&href)
            .body(data.clone())
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        server.state.db.object_link_count(&oid).await.unwrap(),
        (true, 1)
    );
}

#[tokio::test]
async fn signed_urls_refuse_tampering_and_expiry() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    server.repo("alice/r", Visibility::Private).await;
    server.repo("alice/other", Visibility::Private).await;
    let data = b"signed content".to_vec();
    let oid = upload(&server, "alice/r", &alice, &data).await;
    let obj = download_href(&server, "alice/r", Some(&alice), &oid, data.len()).await;
    let href = obj["actions"]["download"]["href"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(client().get(&href).send().await.unwrap().status(), 200);

    let other_oid = sha256_hex(b"other");
    let tampered = [
        href.replace("sig=", "sig=00"),
        href.replace(&format!("size={}", data.len()), "size=999"),
        href.replace("/alice/r/", "/alice/other/"),
        href.replace(&oid.to_string(), &other_oid),
        href.replace("kid=", "kid=x"),
        href.replace("exp=", "exp=9"),
        href.split('?').next().unwrap().to_owned(),
        href.replace(&oid.to_string(), "..%2F..%2Fkeys%2Fjwt-rs256.pem"),
    ];
    for bad in tampered {
        let (status, headers, v) = body(client().get(&bad).send().await.unwrap()).await;
        assert!(status == 403 || status == 404, "{bad}: {status} {v}");
        if status == 403 {
            assert_error_body(status, &headers, &v, 403);
        }
    }
    // A download URL does not allow an upload.
    let (status, _, _) = body(client().put(&href).body(data.clone()).send().await.unwrap()).await;
    assert_eq!(status, 403);

    // An expired signature, made with the server's own key.
    let expired = {
        use strata_lfs::signing::{Grant, SignedOp};
        let exp = strata::db::now() - 10;
        let sig = server.state.signer.sign(&Grant {
            op: SignedOp::Download,
            repo: "alice/r",
            oid,
            size: data.len() as u64,
            expires: exp,
        });
        format!(
            "{}/_transfer/alice/r/{oid}?size={}&exp={exp}&kid={}&sig={}",
            server.url,
            data.len(),
            sig.kid,
            sig.sig
        )
    };
    let (status, _, v) = body(client().get(&expired).send().await.unwrap()).await;
    assert_eq!(status, 403);
    assert!(v["message"].as_str().unwrap().contains("expired"), "{v}");
}

#[tokio::test]
async fn knowing_an_oid_is_not_enough() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let mallory = server.user("mallory").await;
    server.repo("alice/secret", Visibility::Private).await;
    server.repo("mallory/loot", Visibility::Private).await;
    let data = b"alice's secret data".to_vec();
    let oid = upload(&server, "alice/secret", &alice, &data).await;

    // Mallory knows the oid and size but her repository has no link to them.
    let obj = download_href(&server, "mallory/loot", Some(&mallory), &oid, data.len()).await;
    assert_eq!(obj["error"]["code"], 404);
    // Asking to upload gets an upload action, not a free link.
    let req =
        json!({"operation": "upload", "objects": [{"oid": oid.to_string(), "size": data.len()}]});
    let (_, _, v) =
        body(lfs_post(&server.batch_url("mallory/loot"), Some(&mallory), &req).await).await;
    let actions = &v["objects"][0]["actions"];
    assert!(actions["upload"]["href"].is_string(), "{v}");
    // Verifying without uploading does not link it either, signed or not.
    let verify = json!({"oid": oid.to_string(), "size": data.len()});
    assert_eq!(
        lfs_post(actions["verify"]["href"].as_str().unwrap(), None, &verify)
            .await
            .status(),
        404
    );
    assert_eq!(
        lfs_post(
            &format!("{}/verify", server.lfs_url("mallory/loot")),
            Some(&mallory),
            &verify
        )
        .await
        .status(),
        404
    );
    let obj = download_href(&server, "mallory/loot", Some(&mallory), &oid, data.len()).await;
    assert_eq!(obj["error"]["code"], 404);
    // A wrong guess at the content fails; only the real bytes link it.
    let put = client()
        .put(actions["upload"]["href"].as_str().unwrap())
        .body(b"alice's secret datA".to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 422);
    assert_eq!(
        server.state.db.object_link_count(&oid).await.unwrap(),
        (true, 1)
    );
}

#[tokio::test]
async fn concurrent_uploads_of_one_oid() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    server.repo("alice/r", Visibility::Private).await;
    let data: Vec<u8> = (0..2_000_000u32).map(|i| (i * 7 % 256) as u8).collect();
    let oid = Oid::of(&data);
    let req =
        json!({"operation": "upload", "objects": [{"oid": oid.to_string(), "size": data.len()}]});
    let (_, _, v) = body(lfs_post(&server.batch_url("alice/r"), Some(&alice), &req).await).await;
    let href = v["objects"][0]["actions"]["upload"]["href"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut tasks = Vec::new();
    for i in 0..8 {
        let (href, mut data) = (href.clone(), data.clone());
        if i % 4 == 3 {
            data[12345] ^= 1; // some writers send the wrong bytes
        }
        tasks.push(tokio::spawn(async move {
            client()
                .put(&href)
                .body(data)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    statuses.sort();
    assert_eq!(statuses, vec![200, 200, 200, 200, 200, 200, 422, 422]);
    let obj = download_href(&server, "alice/r", Some(&alice), &oid, data.len()).await;
    let got = client()
        .get(obj["actions"]["download"]["href"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert!(got.as_ref() == &data[..], "stored bytes differ");
    assert_eq!(server.temp_files(), 0);
}

#[tokio::test]
async fn jwts_and_personal_access_tokens() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    server.repo("alice/r", Visibility::Private).await;
    server.repo("alice/s", Visibility::Private).await;
    let data = b"jwt data".to_vec();
    let oid = upload(&server, "alice/r", &alice, &data).await;
    let dl =
        json!({"operation": "download", "objects": [{"oid": oid.to_string(), "size": data.len()}]});
    let url = server.batch_url("alice/r");
    let post_bearer = |token: String| {
        let url = url.clone();
        let dl = dl.clone();
        async move {
            client()
                .post(url)
                .bearer_auth(token)
                .header("content-type", LFS)
                .body(dl.to_string())
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };

    // A read scope for this repository works as Bearer and as giftless's `_jwt` Basic password.
    let read = server.jwt("ci-bot", "obj:alice/r/*:read", 600);
    assert_eq!(post_bearer(read.clone()).await, 200);
    let resp = client()
        .post(&url)
        .basic_auth("_jwt", Some(&read))
        .header("content-type", LFS)
        .body(dl.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    // ... but not for writing, nor for another repository.
    let up = json!({"operation": "upload", "objects": [{"oid": sha256_hex(b"n"), "size": 1}]});
    assert_eq!(lfs_post(&url, Some(&read), &up).await.status(), 403);
    assert_eq!(
        lfs_post(&server.batch_url("alice/s"), Some(&read), &dl)
            .await
            .status(),
        404
    );
    // Global read grant.
    assert_eq!(
        post_bearer(server.jwt("auditor", "obj:*:read", 600)).await,
        200
    );

    // Forged tokens.
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
    use base64::Engine;
    let parts: Vec<&str> = read.split('.').collect();
    let mut claims: Value = serde_json::from_slice(&B64.decode(parts[1]).unwrap()).unwrap();
    claims["scope"] = json!("obj:*:write");
    let forged_payload = B64.encode(claims.to_string());
    assert_eq!(
        post_bearer(format!("{}.{}.{}", parts[0], forged_payload, parts[2])).await,
        401,
        "tampered payload"
    );
    let none_header = B64.encode(r#"{"alg":"none","typ":"JWT"}"#);
    assert_eq!(
        post_bearer(format!("{none_header}.{}.", parts[1])).await,
        401,
        "alg none"
    );
    // HS256 signed with the public key (the classic algorithm confusion attack).
    let jwks = client()
        .get(format!("{}/.well-known/jwks.json", server.url))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    let n = jwks["keys"][0]["n"].as_str().unwrap();
    let hs_header = B64.encode(r#"{"alg":"HS256","typ":"JWT"}"#);
    let signing_input = format!("{hs_header}.{}", parts[1]);
    let mac = {
        use hmac::{Hmac, Mac};
        let mut m = Hmac::<sha2::Sha256>::new_from_slice(n.as_bytes()).unwrap();
        m.update(signing_input.as_bytes());
        B64.encode(m.finalize().into_bytes())
    };
    assert_eq!(
        post_bearer(format!("{signing_input}.{mac}")).await,
        401,
        "HS256 with public key"
    );
    // Expired (beyond leeway), wrong issuer, wrong audience: signed with the right key.
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(
        std::fs::read(server.dir.path().join("jwt.pem"))
            .unwrap()
            .as_slice(),
    )
    .unwrap();
    let now = strata::db::now();
    let make = |iss: &str, aud: &str, exp: i64| {
        let claims = json!({"iss": iss, "aud": aud, "sub": "x", "exp": exp, "nbf": now - 10, "iat": now - 10, "jti": "j", "scope": "obj:*:read"});
        jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256),
            &claims,
            &key,
        )
        .unwrap()
    };
    assert_eq!(
        post_bearer(make(&server.url, "strata", now + 60)).await,
        200,
        "control"
    );
    assert_eq!(
        post_bearer(make(&server.url, "strata", now - 120)).await,
        401,
        "expired"
    );
    assert_eq!(
        post_bearer(make("https://evil.example", "strata", now + 60)).await,
        401,
        "issuer"
    );
    assert_eq!(
        post_bearer(make(&server.url, "other", now + 60)).await,
        401,
        "audience"
    );

    // Personal access tokens: scoped, revocable, expiring.
    let scoped =
        strata::admin::create_token(&server.state, "alice", "ro", "obj:alice/r/*:read", None)
            .await
            .unwrap();
    assert_eq!(lfs_post(&url, Some(&scoped), &dl).await.status(), 200);
    assert_eq!(lfs_post(&url, Some(&scoped), &up).await.status(), 403);
    // Used (and so cached) just above; revocation still takes effect at once.
    strata::admin::revoke_token(&server.state, "alice", "ro")
        .await
        .unwrap();
    assert_eq!(lfs_post(&url, Some(&scoped), &dl).await.status(), 401);
    let expired = strata::admin::create_token(&server.state, "alice", "old", "*", Some(-1))
        .await
        .unwrap();
    assert_eq!(lfs_post(&url, Some(&expired), &dl).await.status(), 401);
    assert_eq!(
        lfs_post(&url, Some("stp_0000000000000000"), &dl)
            .await
            .status(),
        401
    );
}

#[tokio::test]
async fn locks_api() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let admin = server.user_with("root", true, "*").await;
    let repo = server.repo("alice/r", Visibility::Public).await;
    // Bob may write: give him a JWT for the repository.
    let bob_jwt = server.jwt("bob", "dataset:alice/r:write", 600);
    let _ = bob;
    let locks = format!("{}/locks", server.lfs_url("alice/r"));

    let (status, _, v) = body(
        lfs_post(
            &locks,
            Some(&alice),
            &json!({"path": "data/a.bin", "ref": {"name": "refs/heads/main"}}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 201, "{v}");
    assert_schema("http-lock-create-response-schema.json", &v);
    let id = v["lock"]["id"].as_str().unwrap().to_owned();
    let (status, _, v) =
        body(lfs_post(&locks, Some(&bob_jwt), &json!({"path": "data/a.bin"})).await).await;
    assert_eq!(status, 409);
    assert_eq!(v["lock"]["id"], id.as_str());
    assert!(v["message"].is_string());
    for bad in ["/etc/passwd", "../x", "a/../../b", ""] {
        let (status, _, _) =
            body(lfs_post(&locks, Some(&alice), &json!({"path": bad})).await).await;
        assert_eq!(status, 422, "{bad}");
    }
    for i in 0..5 {
        assert_eq!(
            lfs_post(
                &locks,
                Some(&bob_jwt),
                &json!({"path": format!("b/{i}.bin")})
            )
            .await
            .status(),
            201
        );
    }
    // Listing with paging, filters; anonymous may list on a public repository.
    let mut seen = Vec::new();
    let mut cursor = String::new();
    loop {
        let resp = client()
            .get(format!("{locks}?limit=2&cursor={cursor}"))
            .header("accept", LFS)
            .send()
            .await
            .unwrap();
        let (status, _, v) = body(resp).await;
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
    let (_, _, v) = body(
        client()
            .get(format!("{locks}?path=data/a.bin"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(v["locks"].as_array().unwrap().len(), 1);
    let (_, _, v) = body(
        client()
            .get(format!("{locks}?id={id}"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(v["locks"][0]["owner"]["name"], "alice");
    let (status, _, _) = body(
        client()
            .get(format!("{locks}?limit=0"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 422);

    // Verify: ours and theirs.
    let (status, _, v) =
        body(lfs_post(&format!("{locks}/verify"), Some(&alice), &json!({})).await).await;
    assert_eq!(status, 200);
    assert_schema("http-lock-verify-response-schema.json", &v);
    assert_eq!(v["ours"].as_array().unwrap().len(), 1);
    assert_eq!(v["theirs"].as_array().unwrap().len(), 5);
    assert_eq!(
        lfs_post(&format!("{locks}/verify"), None, &json!({}))
            .await
            .status(),
        401
    );

    // Unlock: not someone else's without force; force needs admin on the repository.
    let unlock = format!("{locks}/{id}/unlock");
    assert_eq!(
        lfs_post(&unlock, Some(&bob_jwt), &json!({})).await.status(),
        403
    );
    assert_eq!(
        lfs_post(&unlock, Some(&bob_jwt), &json!({"force": true}))
            .await
            .status(),
        403
    );
    let (status, _, v) = body(lfs_post(&unlock, Some(&admin), &json!({"force": true})).await).await;
    assert_eq!(status, 200, "{v}");
    assert_schema("http-lock-create-response-schema.json", &v);
    assert_eq!(
        lfs_post(&unlock, Some(&alice), &json!({})).await.status(),
        404
    );
    let (_, _, v) = body(
        client()
            .get(format!("{locks}?limit=1&cursor=1"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let bob_lock = v["locks"][0]["id"].as_str().unwrap().to_owned();
    let (status, _, _) = body(
        lfs_post(
            &format!("{locks}/{bob_lock}/unlock"),
            Some(&bob_jwt),
            &json!({}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(repo.path(), "alice/r");
}

#[tokio::test]
async fn jwks_publishes_the_verifying_key() {
    let server = TestServer::start().await;
    let jwks: Value = client()
        .get(format!("{}/.well-known/jwks.json", server.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = &jwks["keys"][0];
    assert_eq!(key["kty"], "RSA");
    assert_eq!(key["alg"], "RS256");
    let token = server.jwt("x", "obj:*:read", 60);
    let decoding = jsonwebtoken::DecodingKey::from_rsa_components(
        key["n"].as_str().unwrap(),
        key["e"].as_str().unwrap(),
    )
    .unwrap();
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    v.set_audience(&["strata"]);
    let data = jsonwebtoken::decode::<Value>(&token, &decoding, &v).unwrap();
    assert_eq!(data.header.kid.as_deref(), key["kid"].as_str());
    assert_eq!(data.claims["sub"], "x");
    // Unknown paths get the same clear error shape.
    let (status, headers, v) = body(
        client()
            .get(format!("{}/nope", server.url))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_error_body(status, &headers, &v, 404);
}
