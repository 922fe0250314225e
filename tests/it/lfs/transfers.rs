//! Transfers: hostile uploads and concurrent writers of one oid (each checking the temporary
//! directory, so on a server of their own). Tampered and expired signed URLs and link isolation
//! are in the API tier (`api/transfers.rs`).

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
