//! Presigned URLs to real buckets that check signatures: S3 (s3s-fs, SigV4) with and without
//! checksum pinning, and Azure (Azurite, SAS). The bucket refuses forged, redirected and expired
//! signatures; wrong bytes are refused by the bucket (pinned S3) or at verify, when strata hashes
//! the staged upload; nothing is linked to the repository before verify found the right bytes.

use crate::common;
use crate::common::*;
use serde_json::{json, Value};
use strata_core::db::Visibility;
use strata_lfs::Oid;

/// The query parameter that carries the signature on each backend.
fn signature_param(backend: Backend) -> &'static str {
    match backend {
        Backend::Azure => "sig=",
        _ => "X-Amz-Signature=",
    }
}

/// `url` with the first characters of its signature replaced.
fn forge(url: &str, backend: Backend) -> String {
    let param = signature_param(backend);
    let at = url.find(param).expect("a signature") + param.len();
    let mut forged = url.to_owned();
    // SigV4 signatures are hex, SAS signatures base64: stay in the alphabet, change the value.
    let [a, b] = match backend {
        Backend::Azure => ["AAAA", "BBBB"],
        _ => ["0000", "ffff"],
    };
    let fake = if url[at..].starts_with(a) { b } else { a };
    forged.replace_range(at..at + 4, fake);
    forged
}

async fn batch(server: &TestServer, token: &str, op: &str, oid: &Oid, size: usize) -> Value {
    let req = json!({"operation": op, "objects": [{"oid": oid.to_string(), "size": size}]});
    let v: Value = lfs_post(&server.batch_url("alice/r"), Some(token), &req)
        .await
        .json()
        .await
        .unwrap();
    assert_schema("http-batch-response-schema.json", &v);
    v
}

/// The whole upload / verify / download flow with the hostile variations, on one backend.
async fn presigned_flow(backend: Backend) -> (TestServer, Oid) {
    let server = TestServer::start_with(backend, |_| {}).await;
    let token = server.user("alice").await;
    server.repo("alice/r", Visibility::Private).await;
    let data = vec![42u8; 65_536];
    let oid = Oid::of(&data);
    let v = batch(&server, &token, "upload", &oid, data.len()).await;
    let upload = v["objects"][0]["actions"]["upload"].clone();
    let href = upload["href"].as_str().unwrap().to_owned();
    let verify_href = v["objects"][0]["actions"]["verify"]["href"]
        .as_str()
        .unwrap()
        .to_owned();
    if backend == Backend::Azure {
        assert_eq!(upload["header"]["x-ms-blob-type"], "BlockBlob");
    }
    let put = |url: String, body: Vec<u8>| {
        let mut req = client().put(url).body(body);
        if let Some(headers) = upload["header"].as_object() {
            for (k, val) in headers {
                req = req.header(k.as_str(), val.as_str().unwrap());
            }
        }
        async move { req.send().await.unwrap().status().as_u16() }
    };
    let created = if backend == Backend::Azure { 201 } else { 200 };
    assert_eq!(
        put(forge(&href, backend), data.clone()).await,
        403,
        "forged"
    );
    let elsewhere = href.replace(&oid.to_string(), &sha256_hex(b"elsewhere"));
    assert_eq!(put(elsewhere, data.clone()).await, 403, "another key");

    let verify_body = json!({"oid": oid.to_string(), "size": data.len()});
    let verify = || async {
        lfs_post(&verify_href, None, &verify_body)
            .await
            .status()
            .as_u16()
    };
    let mut wrong = data.clone();
    wrong[0] = 0;
    let status = put(href.clone(), wrong).await;
    if backend == Backend::S3 {
        assert_eq!(status, 400, "the bucket checks the pinned sha256");
        // Real S3 keeps nothing (404); s3s-fs keeps the bytes but no checksum, which strata
        // refuses (422). Either way nothing is linked.
        let v = verify().await;
        assert!(v == 404 || v == 422, "{v}");
    } else {
        assert_eq!(status, created, "an unpinned bucket takes any bytes");
        assert_eq!(verify().await, 422, "strata hashes the staged bytes");
    }
    assert_eq!(
        server.state.db.object_link_count(&oid).await.unwrap(),
        (false, 0)
    );

    assert_eq!(put(href.clone(), data.clone()).await, created);
    assert_eq!(verify().await, 200);
    assert_eq!(
        server.state.db.object_link_count(&oid).await.unwrap(),
        (true, 1)
    );

    let v = batch(&server, &token, "download", &oid, data.len()).await;
    let get = v["objects"][0]["actions"]["download"]["href"]
        .as_str()
        .unwrap();
    let got = client().get(get).send().await.unwrap();
    assert_eq!(got.status(), 200);
    assert!(got.bytes().await.unwrap().as_ref() == &data[..]);
    let forged = client().get(forge(get, backend)).send().await.unwrap();
    assert_eq!(forged.status(), 403);
    (server, oid)
}

#[tokio::test]
async fn s3_refuses_what_strata_did_not_sign() {
    presigned_flow(Backend::S3Unpinned).await;
    let (server, _) = presigned_flow(Backend::S3).await;

    // An expired presigned URL, made with the right credentials an hour ago.
    let s3 = server.s3.as_ref().unwrap();
    let signer = strata_lfs::s3sign::S3Presigner::new(
        Some(&s3.endpoint),
        &s3.bucket,
        "us-east-1",
        strata_lfs::s3sign::S3Credentials {
            access_key_id: common::s3::ACCESS_KEY.into(),
            secret_access_key: common::s3::SECRET_KEY.into(),
            session_token: None,
        },
        true,
    )
    .unwrap();
    let then = time::OffsetDateTime::now_utc() - time::Duration::hours(1);
    let fresh = signer
        .presign("GET", "lfs/x", &[], 60, time::OffsetDateTime::now_utc())
        .unwrap();
    let old = signer.presign("GET", "lfs/x", &[], 60, then).unwrap();
    assert_eq!(
        client().get(fresh.url).send().await.unwrap().status(),
        404,
        "control: valid signature, no object"
    );
    assert_eq!(
        client().get(old.url).send().await.unwrap().status(),
        403,
        "expired"
    );
}

#[tokio::test]
async fn azure_refuses_what_strata_did_not_sign() {
    let (server, oid) = presigned_flow(Backend::Azure).await;

    // A SAS URL made with the right key, that expires.
    use object_store::signer::Signer;
    let azure = object_store::azure::MicrosoftAzureBuilder::new()
        .with_account(common::azure::ACCOUNT)
        .with_access_key(common::azure::KEY)
        .with_container_name(common::azure::CONTAINER)
        .with_endpoint(server.azure.as_ref().unwrap().endpoint.clone())
        .with_allow_http(true)
        .build()
        .unwrap();
    let key = object_store::path::Path::from(format!("lfs/{}", oid.fanout_path()));
    let sign = |ttl: u64| {
        azure.signed_url(
            reqwest::Method::GET,
            &key,
            std::time::Duration::from_secs(ttl),
        )
    };
    // Control: the same signing, with time to spare, is accepted.
    let fresh = sign(600).await.unwrap();
    let status = client().get(fresh).send().await.unwrap().status();
    assert_eq!(status, 200, "control: a valid SAS");
    let short = sign(1).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    let status = client().get(short).send().await.unwrap().status();
    assert_eq!(status, 403, "expired");
}
