//! `multipart-basic` uploads to buckets that check every signature: S3 (s3s-fs, presigned
//! `UploadPart` URLs) and Azure (Azurite, Put Block with SAS). Parts go straight to the bucket;
//! strata resumes, completes, hashes and moves the object. Hostile cases: a part URL edited to
//! another part or another upload, a part of the wrong size, a commit with parts missing, a
//! tampered part, a commit in a dataset with no upload of its own, abort, the idle purge, and
//! giftless-client on top.

use crate::common::*;
use crate::lfs::multipart::{alice_big, batch, downloaded, linked, payload, post, put, PART};
use serde_json::{json, Value};

fn parts_of(v: &Value) -> Vec<Value> {
    v["objects"][0]["actions"]["parts"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// Upload ids the bucket still holds parts or records for.
fn open_uploads(server: &TestServer) -> usize {
    let root = server.s3.as_ref().unwrap().root.path();
    std::fs::read_dir(root)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            name.starts_with(".upload-") && name.ends_with(".json")
        })
        .count()
}

/// Objects under the bucket's staging prefix (`lfs/staging`, below the default `--storage-prefix`).
fn staged(server: &TestServer) -> usize {
    let s3 = server.s3.as_ref().unwrap();
    let dir = s3.object_path("lfs/staging");
    walk(&dir)
}

/// Files below `dir`, at any depth.
pub(crate) fn walk(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir).map_or(0, |d| {
        d.filter_map(|e| e.ok())
            .map(|e| {
                if e.path().is_dir() {
                    walk(&e.path())
                } else {
                    1
                }
            })
            .sum()
    })
}

#[tokio::test]
async fn s3_multipart_resume_hash_and_refusals() {
    let (server, token) = alice_big(Backend::S3).await;
    let data = payload(PART + 1000);
    let oid = sha256_hex(&data);
    let size = data.len();
    let whole = |n: usize| match n {
        1 => data[..PART].to_vec(),
        _ => data[PART..].to_vec(),
    };

    let v = batch(&server, &token, &oid, size, json!(["multipart-basic"])).await;
    assert_eq!(v["transfer"], "multipart-basic", "{v}");
    let parts = parts_of(&v);
    assert_eq!(parts.len(), 2);
    let s3 = server.s3.as_ref().unwrap();
    let href = |i: usize| parts[i]["href"].as_str().unwrap().to_owned();
    assert!(href(0).starts_with(&s3.endpoint), "{}", href(0));
    assert!(href(0).contains("partNumber=1") && href(0).contains("uploadId="));
    let actions = &v["objects"][0]["actions"];
    let commit = actions["commit"]["href"].as_str().unwrap().to_owned();
    let abort = actions["abort"]["href"].as_str().unwrap().to_owned();
    assert!(commit.starts_with(&server.url), "{commit}");
    assert_eq!(open_uploads(&server), 1);
    // Pages may send parts to the bucket, and nowhere else.
    let page = client()
        .get(format!("{}/login", server.url))
        .send()
        .await
        .unwrap();
    let csp = page.headers()["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains(&format!("connect-src 'self' {};", s3.endpoint)),
        "{csp}"
    );

    // The signature covers the part number and the upload: edits are refused by the bucket.
    assert_eq!(
        put(&href(0).replace("partNumber=1", "partNumber=2"), whole(2)).await,
        403
    );
    // A second batch resumes the same upload.
    let again = batch(&server, &token, &oid, size, json!(["multipart-basic"])).await;
    assert_eq!(parts_of(&again).len(), 2);
    assert_eq!(open_uploads(&server), 1);
    // An upload id from another dataset's upload does not fit this dataset's URL.
    server
        .repo("alice/other", strata_core::db::Visibility::Private)
        .await;
    let req = json!({"operation": "upload", "transfers": ["multipart-basic"],
        "objects": [{"oid": oid, "size": size}]});
    let (_, _, theirs) =
        body(lfs_post(&server.batch_url("alice/other"), Some(&token), &req).await).await;
    let their_href = parts_of(&theirs)[0]["href"].as_str().unwrap().to_owned();
    let upload_id = |href: &str| {
        href.split(['?', '&'])
            .find_map(|kv| kv.strip_prefix("uploadId="))
            .unwrap()
            .to_owned()
    };
    assert_ne!(upload_id(&href(0)), upload_id(&their_href));
    let swapped = href(0).replace(&upload_id(&href(0)), &upload_id(&their_href));
    assert_eq!(put(&swapped, whole(1)).await, 403);
    // Nor does a commit in that dataset complete this one's upload (it has none with parts).
    let their_commit = theirs["objects"][0]["actions"]["commit"]["href"]
        .as_str()
        .unwrap()
        .to_owned();

    // A part of the wrong size is stored by the bucket, but counts as missing.
    assert_eq!(put(&href(1), whole(2)[..999].to_vec()).await, 200);
    assert_eq!(put(&href(0), whole(1)).await, 200);
    let resumed = batch(&server, &token, &oid, size, json!(["multipart-basic"])).await;
    let missing = parts_of(&resumed);
    assert_eq!(missing.len(), 1, "{resumed}");
    assert_eq!(missing[0]["pos"].as_u64(), Some(PART as u64));
    let (status, v) = post(&commit).await;
    assert_eq!(status, 409, "{v}");
    assert_eq!(v["missing_parts"], json!([2]));
    assert!(!linked(&server, &token, &oid, size).await);
    let (status, v) = post(&their_commit).await;
    assert_eq!(status, 409, "{v}");

    // A tampered part of the right size: the commit hashes the whole object and refuses it;
    // neither the object nor a staging copy is left, and the next batch starts afresh.
    let mut bad = whole(2);
    bad[10] ^= 1;
    assert_eq!(put(missing[0]["href"].as_str().unwrap(), bad).await, 200);
    let (status, v) = post(&commit).await;
    assert_eq!(status, 422, "{v}");
    assert!(v["message"].as_str().unwrap().contains("hashes to"), "{v}");
    assert!(!linked(&server, &token, &oid, size).await);
    assert_eq!(staged(&server), 0);
    let fresh = batch(&server, &token, &oid, size, json!(["multipart-basic"])).await;
    assert_eq!(parts_of(&fresh).len(), 2);

    // Abort throws the upload away in the bucket.
    let fresh_parts = parts_of(&fresh);
    assert_eq!(
        put(fresh_parts[0]["href"].as_str().unwrap(), whole(1)).await,
        200
    );
    let uploads_before = open_uploads(&server);
    assert_eq!(post(&abort).await.0, 204);
    assert_eq!(open_uploads(&server), uploads_before - 1);
    assert_eq!(post(&abort).await.0, 204, "aborting twice is no error");

    // All parts, one of them twice: the commit completes, hashes and links the object.
    let last = batch(&server, &token, &oid, size, json!(["multipart-basic"])).await;
    let last = parts_of(&last);
    let sent_before = s3.parts_stored.load(std::sync::atomic::Ordering::SeqCst);
    for (i, n) in [(1, 2), (0, 1), (1, 2)] {
        assert_eq!(put(last[i]["href"].as_str().unwrap(), whole(n)).await, 200);
    }
    assert_eq!(
        s3.parts_stored.load(std::sync::atomic::Ordering::SeqCst) - sent_before,
        3
    );
    let (status, v) = post(&commit).await;
    assert_eq!(status, 200, "{v}");
    assert!(linked(&server, &token, &oid, size).await);
    assert_eq!(post(&commit).await.0, 200, "a retried commit succeeds");
    assert_eq!(staged(&server), 0);
    assert!(downloaded(&server, &token, &oid, size).await == data);
    let v = batch(&server, &token, &oid, size, json!(["multipart-basic"])).await;
    assert!(v["objects"][0].get("actions").is_none(), "{v}");

    // The other dataset's upload is abandoned: the idle purge aborts it in the bucket.
    let storage = &server.state.storage;
    let hour = std::time::Duration::from_secs(3600);
    assert_eq!(storage.purge_multipart(hour).await.unwrap(), 0);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let idle = std::time::Duration::from_millis(1);
    assert_eq!(storage.purge_multipart(idle).await.unwrap(), 1);
    assert_eq!(open_uploads(&server), 0);
}

#[tokio::test]
async fn giftless_client_uploads_to_s3_through_multipart_basic() {
    crate::lfs::multipart::giftless_round_trip(Backend::S3).await;
}

#[tokio::test]
async fn azure_multipart_blocks_resume_hash_and_refusals() {
    let (server, token) = alice_big(Backend::Azure).await;
    let data = payload(PART + 1000);
    let oid = sha256_hex(&data);
    let size = data.len();
    let whole = |n: usize| match n {
        1 => data[..PART].to_vec(),
        _ => data[PART..].to_vec(),
    };
    let v = batch(&server, &token, &oid, size, json!(["multipart-basic"])).await;
    assert_eq!(v["transfer"], "multipart-basic", "{v}");
    let parts = parts_of(&v);
    assert_eq!(parts.len(), 2);
    let href = |i: usize| parts[i]["href"].as_str().unwrap().to_owned();
    assert!(href(0).contains("comp=block&blockid="), "{}", href(0));
    assert!(!href(0).starts_with(&server.url));
    let actions = &v["objects"][0]["actions"];
    let commit = actions["commit"]["href"].as_str().unwrap().to_owned();
    let abort = actions["abort"]["href"].as_str().unwrap().to_owned();

    // The SAS covers the blob, not the block: a URL edited to another block id still lands in
    // this upload's blob, so the part numbers are checked by name and size at the commit.
    // An edited signature is refused.
    let forged = href(0).replace("sig=", "sig=AAAA");
    assert_eq!(put(&forged, whole(1)).await, 403);

    // A part of the wrong size counts as missing; a second batch resumes with what is missing.
    assert_eq!(put(&href(1), whole(2)[..999].to_vec()).await, 201);
    assert_eq!(put(&href(0), whole(1)).await, 201);
    let resumed = batch(&server, &token, &oid, size, json!(["multipart-basic"])).await;
    let missing = parts_of(&resumed);
    assert_eq!(missing.len(), 1, "{resumed}");
    assert_eq!(missing[0]["pos"].as_u64(), Some(PART as u64));
    let (status, v) = post(&commit).await;
    assert_eq!(status, 409, "{v}");
    assert_eq!(v["missing_parts"], json!([2]));

    // A tampered part: refused by the whole-object hash, nothing visible, a fresh upload next.
    let mut bad = whole(2);
    bad[10] ^= 1;
    assert_eq!(put(missing[0]["href"].as_str().unwrap(), bad).await, 201);
    let (status, v) = post(&commit).await;
    assert_eq!(status, 422, "{v}");
    assert!(!linked(&server, &token, &oid, size).await);
    let fresh = batch(&server, &token, &oid, size, json!(["multipart-basic"])).await;
    assert_eq!(parts_of(&fresh).len(), 2);

    // Abort drops the blocks: the next batch starts from nothing.
    let fresh = parts_of(&fresh);
    assert_eq!(put(fresh[0]["href"].as_str().unwrap(), whole(1)).await, 201);
    assert_eq!(post(&abort).await.0, 204);
    let last = batch(&server, &token, &oid, size, json!(["multipart-basic"])).await;
    let last = parts_of(&last);
    assert_eq!(last.len(), 2);

    // Every part, one twice: committed, hashed, linked, and read back.
    for (i, n) in [(1, 2), (0, 1), (1, 2)] {
        assert_eq!(put(last[i]["href"].as_str().unwrap(), whole(n)).await, 201);
    }
    let (status, v) = post(&commit).await;
    assert_eq!(status, 200, "{v}");
    assert!(linked(&server, &token, &oid, size).await);
    assert_eq!(post(&commit).await.0, 200, "a retried commit succeeds");
    assert!(downloaded(&server, &token, &oid, size).await == data);
}

#[tokio::test]
async fn giftless_client_uploads_to_azure_through_multipart_basic() {
    crate::lfs::multipart::giftless_round_trip(Backend::Azure).await;
}

/// Past `CopyObject`'s limit, a checked object is moved into place with `UploadPartCopy` ranges
/// (here with a tiny limit and 5 MiB ranges, against s3s-fs): the copy is byte for byte.
#[tokio::test]
async fn s3_copies_past_the_copy_limit_in_parts() {
    use object_store::ObjectStoreExt;
    use strata_lfs::s3sign::{S3Credentials, S3Presigner};
    use strata_lfs::storage::CloudSigner;
    let s3 = crate::common::s3::S3Server::start().await;
    let store = std::sync::Arc::new(
        object_store::aws::AmazonS3Builder::new()
            .with_bucket_name(&s3.bucket)
            .with_region("us-east-1")
            .with_access_key_id(crate::common::s3::ACCESS_KEY)
            .with_secret_access_key(crate::common::s3::SECRET_KEY)
            .with_endpoint(&s3.endpoint)
            .with_allow_http(true)
            .with_virtual_hosted_style_request(false)
            .build()
            .unwrap(),
    );
    let presigner = S3Presigner::new(
        Some(&s3.endpoint),
        &s3.bucket,
        "us-east-1",
        S3Credentials {
            access_key_id: crate::common::s3::ACCESS_KEY.into(),
            secret_access_key: crate::common::s3::SECRET_KEY.into(),
            session_token: None,
        },
        true,
    )
    .unwrap();
    let signer = CloudSigner::S3 {
        presigner,
        pin_checksums: true,
    };
    let cloud = strata_lfs::CloudStore::new(store.clone(), signer, "");
    let data = payload(12 * 1024 * 1024 + 7);
    store
        .put(&"staging/src".into(), data.clone().into())
        .await
        .unwrap();
    let five = 5 * 1024 * 1024;
    cloud
        .copy_in_parts("staging/src", "ab/cd/dst", data.len() as u64, 1, five)
        .await
        .unwrap();
    let got = store
        .get(&"ab/cd/dst".into())
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert!(got[..] == data[..], "the copy differs");
    // A source that is not there fails the copy and leaves no target behind.
    let missing = cloud
        .copy_in_parts("staging/none", "ab/cd/none", data.len() as u64, 1, five)
        .await;
    assert!(missing.is_err());
    assert!(store.head(&"ab/cd/none".into()).await.is_err());
}
