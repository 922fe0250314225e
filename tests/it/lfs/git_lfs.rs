//! End to end with the stock `git` and `git-lfs` clients: push, clone + pull, lock, unlock and the
//! lock check on push, against strata on the local backend, on a real S3 server (s3s-fs, which
//! checks signatures) with and without checksum pinning, and on Azurite (which checks SAS
//! signatures).

use crate::common::*;
use strata_core::db::Visibility;

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
    round_trip_with(backend, false).await;
}

/// With `sealed`, objects are encrypted at rest: afterwards no file of the server's data
/// directory holds any 64-byte window of what was pushed.
async fn round_trip_with(backend: Backend, sealed: bool) {
    let server = TestServer::start_with(backend, |c| {
        if sealed {
            c.encryption = strata_core::config::Encryption::On;
        }
    })
    .await;
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
        // git-lfs prints its progress only now and then (not at all on a fast run): the clone
        // below, byte for byte, is what proves the objects arrived.
        let out = run(git(&home, &work).args(["push", "origin", "main"]));
        assert!(!out.to_lowercase().contains("error"), "{out}");

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
    if sealed {
        let windows: Vec<Vec<u8>> = files()
            .iter()
            .filter(|(_, d)| d.len() > 64)
            .flat_map(|(_, d)| d.chunks_exact(64).step_by(997).map(<[u8]>::to_vec))
            .collect();
        crate::encryption::local::assert_no_plaintext(&server.dir.path().join("data"), &windows);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn git_lfs_round_trip_sealed() {
    round_trip_with(Backend::Local, true).await;
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
