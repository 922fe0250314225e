//! Transfers: hostile uploads, tampered and expired signed URLs, link isolation between
//! repositories, and concurrent writers of one oid.

use super::*;

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
    // The PUT itself checks and links: the local backend sends no verify action.
    assert!(v["objects"][0]["actions"]["verify"].is_null(), "{v}");
    let verify_href = format!("{}/verify", server.lfs_url("alice/r"));

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
        Some(&alice),
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
        href.replace("ds=", "ds=9"),
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
        let exp = strata_core::db::now() - 10;
        let signer = strata_core::auth::keys::url_signer(
            &[],
            &server.dir.path().join("data/keys/url-signing.key"),
        )
        .unwrap();
        let ds: i64 = href
            .split("ds=")
            .nth(1)
            .and_then(|v| v.split('&').next())
            .unwrap()
            .parse()
            .unwrap();
        let sig = signer.sign(&Grant {
            op: SignedOp::Download,
            repo: "alice/r",
            dataset: ds,
            oid,
            size: data.len() as u64,
            expires: exp,
        });
        format!(
            "{}/_transfer/alice/r/{oid}?size={}&ds={ds}&exp={exp}&kid={}&sig={}",
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
    // Verifying without uploading does not link it either.
    let verify = json!({"oid": oid.to_string(), "size": data.len()});
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
async fn signed_urls_die_with_their_dataset() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let repo = server.repo("alice/r", Visibility::Private).await;
    let data = b"first life".to_vec();
    let oid = upload(&server, "alice/r", &alice, &data).await;
    let get = download_href(&server, "alice/r", Some(&alice), &oid, data.len()).await["actions"]
        ["download"]["href"]
        .as_str()
        .unwrap()
        .to_owned();
    let later = b"uploaded after the dataset was made again".to_vec();
    let later_oid = Oid::of(&later);
    let req = json!({"operation": "upload", "objects": [{"oid": later_oid.to_string(), "size": later.len()}]});
    let (_, _, v) = body(lfs_post(&server.batch_url("alice/r"), Some(&alice), &req).await).await;
    let put = v["objects"][0]["actions"]["upload"]["href"]
        .as_str()
        .unwrap()
        .to_owned();

    // The dataset is deleted and another made under the same name.
    strata_core::datasets::delete(&server.state, &repo)
        .await
        .unwrap();
    server.repo("alice/r", Visibility::Private).await;

    // Neither URL works for the new dataset: no read of the old bytes, no link into it.
    let (status, headers, v) = body(client().get(&get).send().await.unwrap()).await;
    assert_error_body(status, &headers, &v, 404);
    let (status, headers, v) =
        body(client().put(&put).body(later.clone()).send().await.unwrap()).await;
    assert_error_body(status, &headers, &v, 404);
    for (oid, len) in [(oid, data.len()), (later_oid, later.len())] {
        let obj = download_href(&server, "alice/r", Some(&alice), &oid, len).await;
        assert_eq!(obj["error"]["code"], 404, "{obj}");
    }
}
