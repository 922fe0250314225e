//! Encryption at rest with a bucket. `--encryption on`: S3's server-side encryption headers are
//! signed into the presigned upload URLs and handed to the client, so the bucket refuses a
//! client that drops or changes them; strata's own writes carry them too. `--encryption strict`:
//! bytes pass through strata and the bucket (s3s-fs, Azurite) holds only sealed objects, with
//! the local format's guarantees (ranges, tampering, shredding, re-sealing, migration).

use serde_json::json;
use strata_core::config::Encryption;
use strata_core::db::Visibility;

use crate::common::*;
use crate::encryption::local::{assert_no_plaintext, data, download_url, get, read_all};

const CHUNK: usize = 64 * 1024;

/// The upload action for `bytes` in `repo`.
async fn upload_action(
    server: &TestServer,
    repo: &str,
    token: &str,
    bytes: &[u8],
) -> serde_json::Value {
    let oid = strata_lfs::Oid::of(bytes).to_string();
    let req = json!({"operation": "upload", "transfers": ["basic"],
        "objects": [{"oid": oid, "size": bytes.len()}]});
    let (status, _, v) = body(lfs_post(&server.batch_url(repo), Some(token), &req).await).await;
    assert_eq!(status, 200, "{v}");
    v["objects"][0]["actions"].clone()
}

/// PUTs `bytes` to the action's URL with its headers, `change` deciding each header's fate
/// (`None` drops it).
async fn put_with(
    action: &serde_json::Value,
    bytes: &[u8],
    change: impl Fn(&str, &str) -> Option<String>,
) -> (u16, String) {
    let mut put = client()
        .put(action["href"].as_str().unwrap())
        .body(bytes.to_vec());
    for (name, value) in action["header"].as_object().unwrap() {
        if let Some(value) = change(name, value.as_str().unwrap()) {
            put = put.header(name.as_str(), value);
        }
    }
    let r = put.send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_server_side_encryption_headers_are_signed() {
    for (backend, kms) in [
        (Backend::S3, Some("alias/strata-test")),
        (Backend::S3Unpinned, None),
    ] {
        let server = TestServer::start_with(backend, |c| {
            c.encryption = Encryption::On;
            c.s3_sse_kms_key_id = kms.map(str::to_owned);
        })
        .await;
        let token = server.user("alice").await;
        server.repo("alice/data", Visibility::Private).await;
        let bytes = data(3 * CHUNK, 11);
        let actions = upload_action(&server, "alice/data", &token, &bytes).await;
        let action = &actions["upload"];
        let header = action["header"].as_object().unwrap();
        let sse = |n: &str| header.get(n).and_then(|v| v.as_str());
        match kms {
            Some(key) => {
                assert_eq!(sse("x-amz-server-side-encryption"), Some("aws:kms"));
                assert_eq!(
                    sse("x-amz-server-side-encryption-aws-kms-key-id"),
                    Some(key)
                );
                assert_eq!(
                    sse("x-amz-server-side-encryption-bucket-key-enabled"),
                    Some("true")
                );
            }
            None => assert_eq!(sse("x-amz-server-side-encryption"), Some("AES256")),
        }
        // The bytes still go straight to the bucket.
        let href = action["href"].as_str().unwrap();
        assert!(
            href.starts_with(&server.s3.as_ref().unwrap().endpoint),
            "{href}"
        );
        assert!(href.contains("x-amz-server-side-encryption"), "{href}");

        // Dropped, changed or downgraded encryption headers break the signature.
        let dropped = put_with(action, &bytes, |n, v| {
            (!n.starts_with("x-amz-server-side-encryption")).then(|| v.to_owned())
        })
        .await;
        assert_eq!(dropped.0, 403, "{}", dropped.1);
        let changed = put_with(action, &bytes, |n, v| {
            Some(match n {
                "x-amz-server-side-encryption-aws-kms-key-id" => "alias/another".to_owned(),
                "x-amz-server-side-encryption" if v == "AES256" => "aws:kms".to_owned(),
                _ => v.to_owned(),
            })
        })
        .await;
        assert_eq!(changed.0, 403, "{}", changed.1);

        // As handed out, the upload goes through and is confirmed (strata's own copy into place
        // carries the same encryption), and reads back.
        let oid = upload(&server, "alice/data", &token, &bytes)
            .await
            .to_string();
        let url = download_url(&server, "alice/data", &token, &oid, bytes.len()).await;
        assert_eq!(get(&url, None).await, (200, bytes.clone()));

        // A multipart upload is started by strata with the same headers.
        let big = data(6 * 1024 * 1024, 12);
        let req = json!({"operation": "upload", "transfers": ["multipart-basic", "basic"],
            "objects": [{"oid": strata_lfs::Oid::of(&big).to_string(), "size": big.len()}]});
        let (status, _, v) =
            body(lfs_post(&server.batch_url("alice/data"), Some(&token), &req).await).await;
        assert_eq!(status, 200, "{v}");
        assert_eq!(v["transfer"], "multipart-basic", "{v}");
        assert!(v["objects"][0]["actions"]["parts"].is_array(), "{v}");
        server.stop().await;
    }
}

/// Every file s3s-fs keeps for the bucket, below its root.
fn bucket_files(server: &TestServer) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![server.s3.as_ref().unwrap().root.path().to_owned()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out
}

fn sealed_copies(server: &TestServer, oid: &str) -> Vec<std::path::PathBuf> {
    bucket_files(server)
        .into_iter()
        .filter(|p| p.file_name().unwrap() == oid && p.to_string_lossy().contains("/sealed/"))
        .collect()
}

fn windows_of(bytes: &[u8]) -> Vec<Vec<u8>> {
    bytes
        .chunks_exact(64)
        .step_by(37)
        .map(<[u8]>::to_vec)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strict_mode_seals_objects_in_the_bucket() {
    let server = TestServer::start_with(Backend::S3, |c| c.encryption = Encryption::Strict).await;
    let token = server.user("alice").await;
    let repo = server.repo("alice/secret", Visibility::Private).await;
    server.repo("alice/other", Visibility::Private).await;
    let bytes = data(3 * CHUNK + 100, 21);

    // Transfers go through strata: its own URL, no verify step, whole uploads only.
    let actions = upload_action(&server, "alice/secret", &token, &bytes).await;
    assert!(actions["upload"]["href"]
        .as_str()
        .unwrap()
        .starts_with(&format!("{}/_transfer/", server.url)));
    assert!(actions["verify"].is_null(), "{actions}");
    let req = json!({"operation": "upload", "transfers": ["multipart-basic", "basic"],
        "objects": [{"oid": strata_lfs::Oid::of(&bytes).to_string(), "size": bytes.len()}]});
    let (_, _, v) =
        body(lfs_post(&server.batch_url("alice/secret"), Some(&token), &req).await).await;
    assert_eq!(v["transfer"], "basic", "{v}");

    // A body that does not hash to its oid leaves nothing in the bucket.
    let (status, _) = put_with(&actions["upload"], &bytes[1..], |_, v| Some(v.to_owned())).await;
    assert_eq!(status, 422);
    assert!(
        bucket_files(&server).is_empty(),
        "{:?}",
        bucket_files(&server)
    );

    let oid = upload(&server, "alice/secret", &token, &bytes)
        .await
        .to_string();
    upload(&server, "alice/other", &token, &bytes).await;
    assert_eq!(sealed_copies(&server, &oid).len(), 2);
    let url = download_url(&server, "alice/secret", &token, &oid, bytes.len()).await;
    assert!(url.starts_with(&server.url), "{url}");
    assert_eq!(get(&url, None).await, (200, bytes.clone()));
    for (first, last) in [
        (0, 0),
        (CHUNK - 1, CHUNK),
        (CHUNK, 2 * CHUNK - 1),
        (5, 3 * CHUNK + 99),
    ] {
        let (status, got) = get(&url, Some(&format!("bytes={first}-{last}"))).await;
        assert_eq!(status, 206);
        assert_eq!(got, &bytes[first..=last], "{first}-{last}");
    }
    assert_no_plaintext(server.s3.as_ref().unwrap().root.path(), &windows_of(&bytes));

    // Tampering in the bucket: a flipped byte, a cut object. Refused and audited.
    let file = sealed_copies(&server, &oid)
        .into_iter()
        .find(|p| {
            p.to_string_lossy()
                .contains(&format!("/sealed/{}/", repo.id))
        })
        .unwrap();
    let good = std::fs::read(&file).unwrap();
    let mut bad = good.clone();
    bad[64 + CHUNK + 16 + 5] ^= 1;
    std::fs::write(&file, &bad).unwrap();
    let (status, got) = get(&url, Some(&format!("bytes={}-{}", CHUNK, CHUNK + 3))).await;
    assert_eq!(status, 500, "{}", String::from_utf8_lossy(&got));
    std::fs::write(&file, &good[..good.len() - 1]).unwrap();
    assert_eq!(get(&url, None).await.0, 500);
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let log = server.state.db.audit_entries(None, 50).await.unwrap();
    assert!(log.iter().filter(|e| e.event == "object.integrity").count() >= 2);
    std::fs::write(&file, &good).unwrap();
    assert_eq!(get(&url, None).await, (200, bytes.clone()));

    // Data-key rotation re-seals the bucket's copies under the new key.
    let (version, resealed) = server
        .state
        .storage
        .rotate_data_key(repo.id, true)
        .await
        .unwrap();
    assert_eq!((version, resealed), (2, 1));
    assert_ne!(std::fs::read(&file).unwrap(), good);
    assert_eq!(get(&url, None).await, (200, bytes.clone()));

    // Deleting the dataset shreds it: 410 at once, its copies gone, the other dataset's kept.
    let r = client()
        .delete(format!("{}/api/v1/datasets/alice/secret", server.url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    assert_eq!(get(&url, None).await.0, 410);
    assert_eq!(sealed_copies(&server, &oid).len(), 1);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_bucket_is_sealed_by_strict_mode() {
    let plain = TestServer::start_with(Backend::S3, |_| {}).await;
    let token = plain.user("alice").await;
    let x = plain.repo("alice/x", Visibility::Private).await;
    let y = plain.repo("alice/y", Visibility::Private).await;
    let bytes = data(2 * CHUNK + 7, 31);
    let oid = upload(&plain, "alice/x", &token, &bytes).await.to_string();
    upload(&plain, "alice/y", &token, &bytes).await;

    let s3 = plain.s3.as_ref().unwrap();
    let config_for = |encryption| {
        let mut config = strata_core::config::Config::with_data_dir(plain.dir.path().join("data"));
        config.encryption = encryption;
        config.database_url = Some(plain.state.settings.database_url.clone());
        config.jwt_key_file = Some(plain.dir.path().join("jwt.pem"));
        config.storage = strata_core::config::StorageBackend::S3;
        config.bucket = Some(s3.bucket.clone());
        config.s3_endpoint = Some(s3.endpoint.clone());
        config.s3_path_style = true;
        config.s3_access_key_id = Some(s3::ACCESS_KEY.into());
        config.s3_secret_access_key = Some(s3::SECRET_KEY.into());
        config
    };
    let strict = strata::AppState::build(&config_for(Encryption::Strict))
        .await
        .unwrap();
    assert!(strict.storage.unsealed_left().await);
    // Plain objects read until they are sealed; then only sealed copies are left.
    assert_eq!(read_all(&strict, x.id, &oid).await.unwrap(), bytes);
    let mut after = String::new();
    while let (Some(next), _) = strict.storage.seal_existing(&after, 1).await.unwrap() {
        after = next;
    }
    assert!(!strict.storage.unsealed_left().await);
    assert_eq!(sealed_copies(&plain, &oid).len(), 2);
    for repo in [x.id, y.id] {
        assert_eq!(read_all(&strict, repo, &oid).await.unwrap(), bytes);
    }
    assert_no_plaintext(s3.root.path(), &windows_of(&bytes));

    // Now sealed, the bucket refuses a start that would not read it.
    for encryption in [Encryption::Off, Encryption::On] {
        let err = strata::AppState::build(&config_for(encryption))
            .await
            .err()
            .expect("refused");
        assert!(err.to_string().contains("holds sealed objects"), "{err}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn azure_strict_mode_and_encryption_scopes() {
    let server =
        TestServer::start_with(Backend::Azure, |c| c.encryption = Encryption::Strict).await;
    let token = server.user("alice").await;
    server.repo("alice/secret", Visibility::Private).await;
    let bytes = data(2 * CHUNK + 50, 41);
    let oid = upload(&server, "alice/secret", &token, &bytes)
        .await
        .to_string();
    let url = download_url(&server, "alice/secret", &token, &oid, bytes.len()).await;
    assert!(url.starts_with(&server.url), "{url}");
    assert_eq!(get(&url, None).await, (200, bytes.clone()));
    let (status, got) = get(&url, Some(&format!("bytes={}-{}", CHUNK - 2, CHUNK + 2))).await;
    assert_eq!(
        (status, got.as_slice()),
        (206, &bytes[CHUNK - 2..=CHUNK + 2])
    );
    assert_no_plaintext(
        server.azure.as_ref().unwrap().dir.path(),
        &windows_of(&bytes),
    );

    // An encryption scope strata cannot see applied to what it writes: refused at start, saying
    // what to set on the container (Azurite applies no scopes).
    let az = server.azure.as_ref().unwrap();
    let mut config = strata_core::config::Config::with_data_dir(server.dir.path().join("scoped"));
    config.encryption = Encryption::On;
    config.azure_encryption_scope = Some("strata-scope".into());
    config.database_url = Some(
        format!(
            "sqlite://{}?mode=rwc",
            server.dir.path().join("scoped.db").display()
        )
        .into(),
    );
    config.storage = strata_core::config::StorageBackend::Azure;
    config.bucket = Some(azure::CONTAINER.into());
    config.storage_prefix = "scoped".into();
    config.azure_account = Some(azure::ACCOUNT.into());
    config.azure_access_key = Some(azure::KEY.into());
    config.azure_endpoint = Some(az.endpoint.clone());
    let err = strata::AppState::build(&config)
        .await
        .err()
        .expect("refused");
    let err = err.to_string();
    assert!(
        err.contains("strata-scope") && err.contains("--prevent-encryption-scope-override"),
        "{err}"
    );
    server.stop().await;
}
