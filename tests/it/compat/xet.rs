//! strata as the self-hosted Xet CAS: `huggingface_hub` with `hf_xet` as installed (no
//! `HF_HUB_DISABLE_XET`) uploads a folder through Xet (xorbs and a shard, no LFS batch), reads
//! it back with `hf_hub_download` and `snapshot_download` through Xet (reconstructions and
//! signed xorb ranges) byte for byte, and git-lfs clones the same files; a second upload of a
//! changed file, from a client with an empty cache, sends and stores only its new chunks (the
//! dedup query); a stranger is refused.

use std::process::Command;

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::common::*;

/// Runs `xet_client.py` with `args` as `token`'s holder, with `cache` as its Xet cache.
pub(crate) fn xet_run(url: &str, token: &str, cache: &std::path::Path, args: &[&str]) -> Value {
    let mut cmd = Command::new(python_tool("python"));
    cmd.arg(format!(
        "{}/tests/it/compat/xet_client.py",
        env!("CARGO_MANIFEST_DIR")
    ))
    .args(args)
    .env("HF_ENDPOINT", url)
    .env("HF_HOME", cache.join("home"))
    .env("HF_XET_CACHE", cache.join("xet"))
    .env("HF_TOKEN", token)
    .env("HF_HUB_DISABLE_TELEMETRY", "1")
    .env("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    .env_remove("HF_HUB_DISABLE_XET");
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// `n` bytes that do not compress (xorshift).
pub(crate) fn noise(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

fn sha(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Requests answered on a route (its template contains `route`) with `method` and `status`.
async fn answered(server: &TestServer, method: &str, route: &str, status: &str) -> u64 {
    server
        .metrics_text()
        .await
        .lines()
        .filter(|l| {
            l.starts_with("strata_http_requests_total{")
                && l.contains(&format!("method=\"{method}\""))
                && l.contains(route)
                && l.contains(&format!("status=\"{status}\""))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

async fn stored(server: &TestServer) -> i64 {
    let repo = server
        .state
        .db
        .repo_by_path("alice", "xet")
        .await
        .unwrap()
        .unwrap();
    server.state.db.xet_stored_bytes(repo.id).await.unwrap()
}

async fn round_trip(server: TestServer) {
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let work = tempfile::tempdir().unwrap();
    let folder = work.path().join("folder");
    std::fs::create_dir_all(folder.join("data")).unwrap();
    let random = noise(3_000_000, 7);
    let zeros = vec![0u8; 1_000_000];
    std::fs::write(folder.join("data/random.bin"), &random).unwrap();
    std::fs::write(folder.join("data/zeros.bin"), &zeros).unwrap();
    std::fs::write(folder.join("notes.txt"), b"made by the Xet test\n").unwrap();

    let url = server.url.clone();
    // Each run a client of its own: an empty cache, that knows nothing it uploaded before.
    let runs = std::sync::atomic::AtomicUsize::new(0);
    let run = |token: &str, args: Vec<String>| {
        let n = runs.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let cache = work.path().join(format!("client-{n}"));
        let (url, token) = (url.clone(), token.to_owned());
        tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            xet_run(&url, &token, &cache, &args)
        })
    };
    let dir = folder.to_str().unwrap().to_owned();
    let first = run(
        &alice,
        vec![
            "upload".into(),
            "alice/xet".into(),
            dir.clone(),
            "Xet".into(),
        ],
    )
    .await
    .unwrap();
    assert!(first["commit"].is_string(), "{first}");
    // Through Xet: xorbs and a shard, no LFS batch.
    assert!(answered(&server, "POST", "/xet/v1/xorbs/", "200").await >= 1);
    assert!(answered(&server, "POST", "/xet/v1/shards", "200").await >= 1);
    assert_eq!(
        answered(&server, "POST", "/info/lfs/objects/batch", "200").await,
        0
    );
    let after_first = stored(&server).await;
    // 3 MB of noise, and one 128 KiB chunk of zeros (a file of repeats is stored once).
    assert!(
        (3_000_000..3_400_000).contains(&after_first),
        "stored after the first upload: {after_first}"
    );

    // Read back through Xet, byte for byte.
    let down = run(
        &alice,
        vec![
            "download".into(),
            "alice/xet".into(),
            work.path().join("down").display().to_string(),
            "data/random.bin".into(),
            "data/zeros.bin".into(),
        ],
    )
    .await
    .unwrap();
    assert_eq!(down["one"]["data/random.bin"], sha(&random), "{down}");
    assert_eq!(down["one"]["data/zeros.bin"], sha(&zeros), "{down}");
    assert_eq!(down["snapshot"]["data/random.bin"], sha(&random), "{down}");
    assert_eq!(down["snapshot"]["data/zeros.bin"], sha(&zeros), "{down}");
    assert!(answered(&server, "GET", "/xet/v1/reconstructions/", "200").await >= 2);
    assert!(answered(&server, "GET", "/_transfer/{ns}/{repo}/{oid}/range", "206").await >= 2);

    // git-lfs clones the same bytes: the Xet files are the dataset's LFS objects.
    let home = work.path().join("git");
    let (surl, token) = (server.url.clone(), alice.clone());
    let clone = tokio::task::spawn_blocking(move || {
        setup_home(&home, &surl, &token);
        run_git_clone(&home, &format!("{surl}/alice/xet.git"))
    })
    .await
    .unwrap();
    assert_eq!(
        std::fs::read(clone.join("data/random.bin")).unwrap(),
        random
    );
    assert_eq!(std::fs::read(clone.join("data/zeros.bin")).unwrap(), zeros);
    // Stored once, as chunks, on the local disk and on a bucket alike: never whole.
    let repo = server
        .state
        .db
        .repo_by_path("alice", "xet")
        .await
        .unwrap()
        .unwrap();
    let oid = strata_lfs::Oid::of(&random);
    assert!(server
        .state
        .storage
        .holds_chunked(repo.id, &oid)
        .await
        .unwrap());
    assert!(!server
        .state
        .storage
        .holds_whole(repo.id, &oid)
        .await
        .unwrap());

    // A change in the middle and a new tail, from a client with an empty cache: it asks which
    // chunks the dataset has, and only new chunks are sent and stored.
    let mut changed = random.clone();
    changed[1_500_000..1_501_000].copy_from_slice(&noise(1000, 99));
    changed.extend_from_slice(&noise(20_000, 5));
    std::fs::write(folder.join("data/random.bin"), &changed).unwrap();
    let second = run(
        &alice,
        vec!["upload".into(), "alice/xet".into(), dir, "Changed".into()],
    )
    .await
    .unwrap();
    assert_ne!(second["commit"], first["commit"]);
    assert!(answered(&server, "GET", "/xet/v1/chunks/", "200").await >= 1);
    let added = stored(&server).await - after_first;
    assert!(
        added > 0 && added < 400_000,
        "the second upload stored {added} bytes of a {} byte file",
        changed.len()
    );
    let again = run(
        &alice,
        vec![
            "download".into(),
            "alice/xet".into(),
            work.path().join("again").display().to_string(),
            "data/random.bin".into(),
        ],
    )
    .await
    .unwrap();
    assert_eq!(again["one"]["data/random.bin"], sha(&changed), "{again}");

    // A stranger learns nothing: the dataset is not there for them.
    let refused = run(
        &bob,
        vec![
            "denied".into(),
            "alice/xet".into(),
            "data/random.bin".into(),
        ],
    )
    .await
    .unwrap();
    assert_eq!(refused["error"], "RepositoryNotFoundError", "{refused}");
}

/// `git clone` with git-lfs of `url` into `home/clone`.
fn run_git_clone(home: &std::path::Path, url: &str) -> std::path::PathBuf {
    run(git(home, home).args(["clone", url, "clone"]));
    home.join("clone")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huggingface_hub_uploads_and_downloads_through_xet_on_the_local_disk() {
    round_trip(TestServer::start().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huggingface_hub_uploads_and_downloads_through_xet_on_s3() {
    round_trip(TestServer::start_with(Backend::S3, |_| {}).await).await;
}
