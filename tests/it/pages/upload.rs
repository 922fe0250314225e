//! Browser direct upload in headless Chromium, 1 GiB chosen through the drive's file input, sent
//! in parts in parallel, committed, and read back byte for byte through `git clone`. To the local
//! disk staged (strata hashes the parts as they come; nothing is hashed in the page), cancelled
//! part-way and resumed after a reload: only the missing parts are sent. To S3 (s3s-fs) with
//! `--browser-uploads direct`, hashed in a worker and sent as `multipart-basic` parts, with the
//! network to the bucket cut half-way and the page reloaded: the upload goes on from where it
//! stopped and every part is stored exactly once (counted by the bucket), and expired part URLs
//! are renewed, not fatal. (Staged uploads to a bucket: `pages::staged`.)

use std::sync::atomic::Ordering;

use crate::common::chromium::*;
use crate::common::*;
use fantoccini::Locator;
use sha2::{Digest, Sha256};

const STATUS: &str = "document.getElementById('upload-status').textContent";
const LISTED: &str = "document.getElementById('files') && document.getElementById('files').textContent.includes('big.bin')";
const GIB: usize = 1024 * 1024 * 1024;
const PARTS: usize = 64;

/// A 1 GiB file with no two 1 MiB blocks alike; returns its sha256.
fn big_file(path: &std::path::Path) -> String {
    use std::io::Write;
    let mut block: Vec<u8> = (0..1024 * 1024)
        .map(|i: usize| (i * 7 % 253) as u8)
        .collect();
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut hash = Sha256::new();
    for n in 0..GIB / block.len() {
        block[..8].copy_from_slice(&(n as u64).to_le_bytes());
        hash.update(&block);
        out.write_all(&block).unwrap();
    }
    out.flush().unwrap();
    hex_of(hash)
}

fn hex_of(hash: Sha256) -> String {
    hash.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// alice, signed in to her new drive in Chromium.
async fn drive(server: &TestServer, driver: &Driver) -> fantoccini::Client {
    server.user_with("alice", true, "*").await;
    strata::cli::admin::set_password(&server.state, "alice", PASSWORD)
        .await
        .unwrap();
    let c = browser(driver, &server.dir.path().join("profile")).await;
    c.goto(&format!("{}/login", server.url)).await.unwrap();
    fill(&c, "username", "alice").await;
    fill(&c, "password", PASSWORD).await;
    click(&c, "form[action=\"/login\"] button").await;
    c.goto(&format!("{}/drive", server.url)).await.unwrap();
    click(&c, "form[action=\"/drive\"] button").await;
    c
}

async fn choose_and_upload(c: &fantoccini::Client, path: &std::path::Path) {
    let input = c.find(Locator::Css("#upload-files")).await.unwrap();
    input.send_keys(&path.display().to_string()).await.unwrap();
    c.execute(
        "document.querySelector('form[data-upload]').requestSubmit(); return true",
        vec![],
    )
    .await
    .unwrap();
}

/// The two GiB tests take turns: each needs a few GiB of disk at its peak (the file, its parts,
/// the stored object, the clone's copy), and a CI machine may not have room for both at once.
static ONE_GIB_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The sha256 of `big.bin` as git-lfs downloads it into a `git clone` of alice's drive: the clone
/// skips the checkout's second copy, and `git lfs fetch` stores the object under `.git/lfs`.
async fn cloned(server: &TestServer, oid: &str) -> String {
    let token = strata::cli::admin::create_token(&server.state, "alice", "clone", "*", None)
        .await
        .unwrap();
    let home = server.dir.path().join("home");
    let url = format!("{}/alice/drive.git", server.url);
    let (surl, token2, oid) = (server.url.clone(), token.clone(), oid.to_owned());
    let file = tokio::task::spawn_blocking(move || {
        setup_home(&home, &surl, &token2);
        run(git(&home, &home)
            .env("GIT_LFS_SKIP_SMUDGE", "1")
            .args(["clone", &url, "clone"]));
        let clone = home.join("clone");
        run(git(&home, &clone).args(["lfs", "fetch"]));
        clone.join(format!(
            ".git/lfs/objects/{}/{}/{oid}",
            &oid[..2],
            &oid[2..4]
        ))
    })
    .await
    .unwrap();
    let mut hash = Sha256::new();
    let mut f = std::fs::File::open(file).unwrap();
    let mut buf = vec![0; 1024 * 1024];
    loop {
        let n = std::io::Read::read(&mut f, &mut buf).unwrap();
        if n == 0 {
            break;
        }
        hash.update(&buf[..n]);
    }
    hex_of(hash)
}

/// Staged parts the server has stored (204 answers to their `PUT`), from `/metrics`.
async fn parts_stored(server: &TestServer) -> u64 {
    let metrics = server.metrics_text().await;
    metrics
        .lines()
        .filter(|l| {
            l.starts_with("strata_http_requests_total{")
                && l.contains("method=\"PUT\"")
                && l.contains("/uploads/{id}/parts/{n}")
                && l.contains("status=\"204\"")
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_uploads_a_gib_to_the_local_disk_and_resumes_after_a_cancel() {
    let _turn = ONE_GIB_AT_A_TIME.lock().await;
    let server = TestServer::start().await;
    let driver = tokio::task::spawn_blocking(Driver::start).await.unwrap();
    let c = drive(&server, &driver).await;
    let path = server.dir.path().join("big.bin");
    let oid = big_file(&path);
    let token = strata::cli::admin::create_token(&server.state, "alice", "t", "*", None)
        .await
        .unwrap();
    choose_and_upload(&c, &path).await;

    // Staged: strata hashes the parts as they come. Once some are done, Cancel.
    let staged = server.dir.path().join("data/objects/staged");
    // Parts in: `part.{n}` (a part still being written is `part.{n}.{token}`).
    let done = || {
        std::fs::read_dir(&staged)
            .ok()
            .and_then(|mut d| d.next())
            .and_then(|e| std::fs::read_dir(e.ok()?.path()).ok())
            .map_or(0, |d| {
                d.filter_map(|e| {
                    let name = e.ok()?.file_name().into_string().ok()?;
                    name.strip_prefix("part.")?.parse::<u32>().ok()
                })
                .count()
            })
    };
    for _ in 0..3000 {
        if done() >= 6 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(done() >= 6, "parts done before the cancel: {}", done());
    click(&c, "[data-cancel]").await;
    wait_for(&c, &format!("{STATUS}.includes('Cancelled')"), STATUS, 120).await;
    // What strata has kept: the upload and the parts it still needs.
    let dir = std::fs::read_dir(&staged).unwrap().next().unwrap().unwrap();
    let name = dir.file_name().into_string().unwrap();
    let id = name.split_once('-').unwrap().1.to_owned();
    let status: serde_json::Value = client()
        .get(format!(
            "{}/api/v1/datasets/alice/drive/uploads/{id}",
            server.url
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let missing = status["missing"].as_array().unwrap().len();
    assert!((1..PARTS - 5).contains(&missing), "{status}");

    // The page reloaded, the same file chosen again: only the missing parts go, each once
    // (counted by the server's metrics: parts stored).
    let before = parts_stored(&server).await;
    c.refresh().await.unwrap();
    choose_and_upload(&c, &path).await;
    wait_for(&c, LISTED, STATUS, 600).await;
    let sent = parts_stored(&server).await - before;
    assert_eq!(sent, missing as u64, "parts sent after the cancel");
    let history = client()
        .get(format!(
            "{}/api/v1/datasets/alice/drive/revisions",
            server.url
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(history.contains("Upload big.bin"), "{history}");
    c.close().await.unwrap();
    std::fs::remove_file(&path).unwrap();
    assert_eq!(cloned(&server, &oid).await, oid);
    // No part, staged upload or temporary file is left behind.
    for left in ["data/objects/parts", "data/objects/staged"] {
        let dir = server.dir.path().join(left);
        assert!(
            !dir.exists() || std::fs::read_dir(&dir).unwrap().count() == 0,
            "{left}"
        );
    }
    assert_eq!(server.temp_files(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_upload_to_s3_resumes_after_a_cut_and_a_reload() {
    let _turn = ONE_GIB_AT_A_TIME.lock().await;
    // Straight to the bucket: the page hashes in a worker and sends `multipart-basic` parts.
    let server = TestServer::start_with(Backend::S3, |c| {
        c.browser_uploads = strata_core::config::BrowserUploads::Direct;
    })
    .await;
    let s3 = server.s3.as_ref().unwrap();
    let driver = tokio::task::spawn_blocking(Driver::start).await.unwrap();
    let c = drive(&server, &driver).await;
    let path = server.dir.path().join("big.bin");
    let oid = big_file(&path);
    choose_and_upload(&c, &path).await;

    // Some parts are in the bucket: cut the network to it, and the upload fails on the page.
    let stored = || s3.parts_stored.load(Ordering::SeqCst);
    for _ in 0..3000 {
        if stored() >= 6 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(stored() >= 6, "parts stored before the cut: {}", stored());
    s3.offline.store(true, Ordering::SeqCst);
    wait_for(
        &c,
        &format!("{STATUS}.includes('Upload failed')"),
        STATUS,
        120,
    )
    .await;
    let before = stored();
    assert!(before < PARTS, "the whole file went before the cut");

    // The network is back, the page reloaded, the same file chosen again; two part URLs turn out
    // expired on the way. Only the missing parts are sent, each once.
    s3.offline.store(false, Ordering::SeqCst);
    s3.expire_parts.store(2, Ordering::SeqCst);
    c.refresh().await.unwrap();
    choose_and_upload(&c, &path).await;
    wait_for(&c, LISTED, STATUS, 600).await;
    assert_eq!(
        stored(),
        PARTS,
        "{before} parts were stored before the cut; every part is stored once"
    );
    assert_eq!(s3.expire_parts.load(Ordering::SeqCst), 0);
    c.close().await.unwrap();
    std::fs::remove_file(&path).unwrap();
    assert_eq!(cloned(&server, &oid).await, oid);
    // Nothing is left in the bucket's staging area.
    let staging = s3.object_path("lfs/staging");
    let left = crate::lfs::multipart_buckets::walk(&staging);
    assert_eq!(left, 0, "staging objects left behind");
}
