//! End to end with the stock `git` and `git-lfs` clients: push, clone + pull, lock, unlock and the
//! lock check on push, against strata on the local backend, on a real S3 server (s3s-fs, which
//! checks signatures) with and without checksum pinning, and on Azurite (which checks SAS
//! signatures).

mod common;

use std::path::Path;
use std::process::Command;

use common::*;
use serde_json::json;
use strata::db::Visibility;

/// A git command isolated from the user's configuration, with credentials from a store file.
fn git(home: &Path, dir: &Path) -> Command {
    let mut cmd = Command::new("git");
    cmd.current_dir(dir)
        .env("HOME", home)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_AUTHOR_NAME", "Test")
        .env("GIT_AUTHOR_EMAIL", "test@example.com")
        .env("GIT_COMMITTER_NAME", "Test")
        .env("GIT_COMMITTER_EMAIL", "test@example.com");
    cmd
}

fn setup_home(home: &Path, server_url: &str, token: &str) {
    std::fs::create_dir_all(home).unwrap();
    let creds = home.join("creds");
    let host = server_url.trim_start_matches("http://");
    std::fs::write(&creds, format!("http://alice:{token}@{host}\n")).unwrap();
    run(git(home, home).args([
        "config",
        "--global",
        "credential.helper",
        &format!("store --file={}", creds.display()),
    ]));
    run(git(home, home).args(["config", "--global", "init.defaultBranch", "main"]));
    run(git(home, home).args(["lfs", "install"]));
}

fn files() -> Vec<(String, Vec<u8>)> {
    let mut out = vec![
        ("empty.bin".to_owned(), Vec::new()),
        ("small.bin".to_owned(), b"small\n".to_vec()),
    ];
    for i in 0..3u8 {
        let data: Vec<u8> = (0..(1_500_000 + i as u32 * 77))
            .map(|j| (j.wrapping_mul(31) ^ i as u32) as u8)
            .collect();
        out.push((format!("data/big{i}.bin"), data));
    }
    out
}

async fn round_trip(backend: Backend) {
    let server = TestServer::start_with(backend, |_| {}).await;
    let token = server.user("alice").await;
    server.repo("alice/survey", Visibility::Private).await;
    let lfs_url = server.lfs_url("alice/survey");
    let root = server.dir.path().to_owned();
    let url = server.url.clone();

    let pushed = tokio::task::spawn_blocking(move || {
        let home = root.join("home");
        setup_home(&home, &url, &token);
        let remote = root.join("remote.git");
        run(git(&home, &root).args(["init", "--bare", "-q", remote.to_str().unwrap()]));
        let work = root.join("work");
        std::fs::create_dir_all(work.join("data")).unwrap();
        run(git(&home, &root).args(["init", "-q", work.to_str().unwrap()]));
        run(git(&home, &work).args(["lfs", "track", "*.bin"]));
        std::fs::write(
            work.join(".lfsconfig"),
            format!("[lfs]\n\turl = {lfs_url}\n"),
        )
        .unwrap();
        for (name, data) in files() {
            std::fs::write(work.join(&name), data).unwrap();
        }
        run(git(&home, &work).args(["add", "."]));
        run(git(&home, &work).args(["commit", "-q", "-m", "data"]));
        run(git(&home, &work).args(["remote", "add", "origin", remote.to_str().unwrap()]));
        let out = run(git(&home, &work).args(["push", "origin", "main"]));
        assert!(out.contains("Uploading LFS objects"), "{out}");

        // Locks with the stock client, and the lock check during push.
        run(git(&home, &work).args(["config", "lfs.locksverify", "true"]));
        run(git(&home, &work).args(["lfs", "lock", "data/big0.bin"]));
        let locks = run(git(&home, &work).args(["lfs", "locks"]));
        assert!(
            locks.contains("data/big0.bin") && locks.contains("alice"),
            "{locks}"
        );
        std::fs::write(work.join("small.bin"), b"changed\n").unwrap();
        run(git(&home, &work).args(["commit", "-q", "-am", "change"]));
        run(git(&home, &work).args(["push", "origin", "main"]));
        run(git(&home, &work).args(["lfs", "unlock", "data/big0.bin"]));
        let locks = run(git(&home, &work).args(["lfs", "locks"]));
        assert!(!locks.contains("data/big0.bin"), "{locks}");

        // A fresh clone downloads every file byte for byte.
        let clone = root.join("clone");
        run(git(&home, &root).args([
            "clone",
            "-q",
            remote.to_str().unwrap(),
            clone.to_str().unwrap(),
        ]));
        run(git(&home, &clone).args(["lfs", "pull"]));
        for (name, data) in files() {
            let got = std::fs::read(clone.join(&name)).unwrap();
            let want = if name == "small.bin" {
                b"changed\n".to_vec()
            } else {
                data
            };
            assert!(got == want, "{name} differs after clone + pull");
        }
        let ls = run(git(&home, &clone).args(["lfs", "ls-files", "-l"]));
        assert_eq!(ls.lines().count(), 4, "{ls}"); // empty files are not LFS objects
        ls
    })
    .await
    .unwrap();
    for (name, data) in files().into_iter().filter(|(_, d)| !d.is_empty()) {
        let oid = strata_lfs::Oid::of(&data);
        let linked = server.state.db.object_link_count(&oid).await.unwrap();
        if name != "small.bin" {
            assert_eq!(linked, (true, 1), "{name}: {pushed}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn git_lfs_round_trip_local() {
    round_trip(Backend::Local).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn git_lfs_round_trip_s3() {
    round_trip(Backend::S3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn git_lfs_round_trip_s3_unpinned() {
    round_trip(Backend::S3Unpinned).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn git_lfs_round_trip_azure() {
    round_trip(Backend::Azure).await;
}

/// Azure SAS URLs: Azurite refuses forged, redirected and expired signatures; wrong bytes are
/// refused at verify, when strata hashes the staged blob, and nothing is linked before that.
#[tokio::test]
async fn azure_refuses_what_strata_did_not_sign() {
    let server = TestServer::start_with(Backend::Azure, |_| {}).await;
    let token = server.user("alice").await;
    server.repo("alice/r", Visibility::Private).await;
    let data = vec![7u8; 100_000];
    let oid = strata_lfs::Oid::of(&data);
    let req =
        json!({"operation": "upload", "objects": [{"oid": oid.to_string(), "size": data.len()}]});
    let v: serde_json::Value = lfs_post(&server.batch_url("alice/r"), Some(&token), &req)
        .await
        .json()
        .await
        .unwrap();
    assert_schema("http-batch-response-schema.json", &v);
    let upload = &v["objects"][0]["actions"]["upload"];
    assert_eq!(upload["header"]["x-ms-blob-type"], "BlockBlob");
    let href = upload["href"].as_str().unwrap();
    let verify_href = v["objects"][0]["actions"]["verify"]["href"]
        .as_str()
        .unwrap();
    let put = |url: String, body: Vec<u8>| {
        let req = client()
            .put(url)
            .header("x-ms-blob-type", "BlockBlob")
            .body(body);
        async move { req.send().await.unwrap().status().as_u16() }
    };
    let sig_at = href.find("sig=").unwrap() + "sig=".len();
    let mut forged = href.to_owned();
    forged.replace_range(sig_at..sig_at + 4, "AAAA");
    assert_eq!(put(forged, data.clone()).await, 403, "forged signature");
    let other_key = href.replace(&oid.to_string(), &sha256_hex(b"elsewhere"));
    assert_eq!(put(other_key, data.clone()).await, 403, "another blob");

    let verify_body = json!({"oid": oid.to_string(), "size": data.len()});
    let mut wrong = data.clone();
    wrong[0] = 0;
    assert_eq!(
        put(href.to_owned(), wrong).await,
        201,
        "Azure takes any bytes"
    );
    assert_eq!(
        lfs_post(verify_href, None, &verify_body).await.status(),
        422,
        "strata hashes the staged blob"
    );
    assert_eq!(
        server.state.db.object_link_count(&oid).await.unwrap(),
        (false, 0)
    );
    assert_eq!(put(href.to_owned(), data.clone()).await, 201);
    assert_eq!(
        lfs_post(verify_href, None, &verify_body).await.status(),
        200
    );
    assert_eq!(
        server.state.db.object_link_count(&oid).await.unwrap(),
        (true, 1)
    );

    let dl =
        json!({"operation": "download", "objects": [{"oid": oid.to_string(), "size": data.len()}]});
    let v: serde_json::Value = lfs_post(&server.batch_url("alice/r"), Some(&token), &dl)
        .await
        .json()
        .await
        .unwrap();
    let get = v["objects"][0]["actions"]["download"]["href"]
        .as_str()
        .unwrap();
    let got = client().get(get).send().await.unwrap();
    assert_eq!(got.status(), 200);
    assert!(got.bytes().await.unwrap().as_ref() == &data[..]);
    let mut forged = get.to_owned();
    let at = forged.find("sig=").unwrap() + "sig=".len();
    forged.replace_range(at..at + 4, "AAAA");
    assert_eq!(client().get(forged).send().await.unwrap().status(), 403);

    // A SAS URL made with the right key that has expired.
    let azure = object_store::azure::MicrosoftAzureBuilder::new()
        .with_account(common::azure::ACCOUNT)
        .with_access_key(common::azure::KEY)
        .with_container_name(common::azure::CONTAINER)
        .with_endpoint(server.azure.as_ref().unwrap().endpoint.clone())
        .with_allow_http(true)
        .build()
        .unwrap();
    use object_store::signer::Signer;
    let key = object_store::path::Path::from(format!("lfs/{}", oid.fanout_path()));
    let short = azure
        .signed_url(
            reqwest::Method::GET,
            &key,
            std::time::Duration::from_secs(1),
        )
        .await
        .unwrap();
    assert_eq!(
        client().get(short.clone()).send().await.unwrap().status(),
        200,
        "control: a valid SAS"
    );
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    assert_eq!(
        client().get(short).send().await.unwrap().status(),
        403,
        "expired"
    );
}

/// Presigned S3 URLs: the bucket itself refuses tampered and expired signatures and wrong bytes,
/// and nothing is linked until verify found the real object.
#[tokio::test]
async fn s3_refuses_what_strata_did_not_sign() {
    for backend in [Backend::S3, Backend::S3Unpinned] {
        let server = TestServer::start_with(backend, |_| {}).await;
        let token = server.user("alice").await;
        server.repo("alice/r", Visibility::Private).await;
        let data = vec![42u8; 65_536];
        let oid = strata_lfs::Oid::of(&data);
        let req = json!({"operation": "upload", "objects": [{"oid": oid.to_string(), "size": data.len()}]});
        let v: serde_json::Value = lfs_post(&server.batch_url("alice/r"), Some(&token), &req)
            .await
            .json()
            .await
            .unwrap();
        assert_schema("http-batch-response-schema.json", &v);
        let upload = &v["objects"][0]["actions"]["upload"];
        let href = upload["href"].as_str().unwrap();
        let verify_href = v["objects"][0]["actions"]["verify"]["href"]
            .as_str()
            .unwrap();
        let put = |url: String, body: Vec<u8>| {
            let mut req = client().put(url).body(body);
            if let Some(headers) = upload["header"].as_object() {
                for (k, val) in headers {
                    req = req.header(k.as_str(), val.as_str().unwrap());
                }
            }
            async move { req.send().await.unwrap().status().as_u16() }
        };
        let sig_at = href.find("X-Amz-Signature=").unwrap() + "X-Amz-Signature=".len();
        let mut forged = href.to_owned();
        forged.replace_range(sig_at..sig_at + 4, "0000");
        assert_eq!(put(forged, data.clone()).await, 403, "forged signature");
        let other_key = href.replace(&oid.to_string(), &sha256_hex(b"elsewhere"));
        assert_eq!(put(other_key, data.clone()).await, 403, "another key");

        let verify_body = json!({"oid": oid.to_string(), "size": data.len()});
        let mut wrong = data.clone();
        wrong[0] = 0;
        let status = put(href.to_owned(), wrong).await;
        if backend == Backend::S3 {
            assert_eq!(status, 400, "the bucket checks the pinned sha256");
            // Real S3 keeps nothing (404); s3s-fs keeps the bytes but no checksum, which strata
            // refuses (422). Either way nothing is linked.
            let verify = lfs_post(verify_href, None, &verify_body)
                .await
                .status()
                .as_u16();
            assert!(verify == 404 || verify == 422, "{verify}");
        } else {
            assert_eq!(status, 200, "an unpinned bucket takes anything");
            assert_eq!(
                lfs_post(verify_href, None, &verify_body).await.status(),
                422,
                "strata hashes the staged bytes"
            );
        }
        assert_eq!(
            server.state.db.object_link_count(&oid).await.unwrap(),
            (false, 0)
        );

        assert_eq!(put(href.to_owned(), data.clone()).await, 200);
        assert_eq!(
            lfs_post(verify_href, None, &verify_body).await.status(),
            200
        );
        assert_eq!(
            server.state.db.object_link_count(&oid).await.unwrap(),
            (true, 1)
        );

        let dl = json!({"operation": "download", "objects": [{"oid": oid.to_string(), "size": data.len()}]});
        let v: serde_json::Value = lfs_post(&server.batch_url("alice/r"), Some(&token), &dl)
            .await
            .json()
            .await
            .unwrap();
        let get = v["objects"][0]["actions"]["download"]["href"]
            .as_str()
            .unwrap();
        let got = client().get(get).send().await.unwrap();
        assert_eq!(got.status(), 200);
        assert!(got.bytes().await.unwrap().as_ref() == &data[..]);
        let mut forged = get.to_owned();
        let at = forged.find("X-Amz-Signature=").unwrap() + "X-Amz-Signature=".len();
        forged.replace_range(at..at + 4, "ffff");
        assert_eq!(client().get(forged).send().await.unwrap().status(), 403);
    }

    // An expired presigned URL, made with the right credentials an hour ago.
    let server = TestServer::start_with(Backend::S3, |_| {}).await;
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
    let fresh = signer.presign("GET", "lfs/x", &[], 60, time::OffsetDateTime::now_utc());
    let old = signer.presign("GET", "lfs/x", &[], 60, then);
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
