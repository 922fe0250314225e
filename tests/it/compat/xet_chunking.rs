//! Objects that arrive whole are kept as chunks: a file uploaded through the LFS batch API is cut
//! by strata in the background, stored once as xorbs of its dataset (its whole copy dropped on
//! the local disk), and read from the chunks by every route, ranges included. A changed version
//! stores only its new chunks; `huggingface_hub` with `hf_xet` then uploading a third version
//! sends and stores only its own new chunks too, and each version of a growing file stores only
//! what it appended (its look-up leads to the last version's chunks). Erasing the first version
//! leaves the second readable and none of the first's own bytes anywhere in the store; a
//! collection keeps both, and compacts a xorb most of whose chunks no file uses any more.

use serde_json::json;
use strata_core::db::Visibility;
use strata_lfs::Oid;

use super::xet::{noise, xet_run};
use super::xet_hostile::{commit, commit_line, get};
use crate::common::*;

/// Waits until dataset `repo_id` holds `oid` as chunks and not whole.
async fn chunked(server: &TestServer, repo_id: i64, oid: &Oid) {
    for _ in 0..300 {
        let storage = &server.state.storage;
        if storage.holds_chunked(repo_id, oid).await.unwrap()
            && !storage.holds_whole(repo_id, oid).await.unwrap()
        {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("{oid} was not chunked within 30 s");
}

/// `path` of alice/ds as the raw route gives it, with a `Range` header when asked.
async fn raw(server: &TestServer, token: &str, path: &str, range: Option<&str>) -> (u16, Vec<u8>) {
    let r = get(
        &format!("{}/api/v1/datasets/alice/ds/raw/{path}", server.url),
        Some(token),
        range,
    )
    .await;
    (r.status().as_u16(), r.bytes().await.unwrap().to_vec())
}

/// `POST /api/v1/admin/{route}` with `request` as the site admin `root`, answered 200: its answer.
async fn admin(
    server: &TestServer,
    root: &str,
    route: &str,
    request: serde_json::Value,
) -> serde_json::Value {
    let r = client()
        .post(format!("{}/api/v1/admin/{route}", server.url))
        .bearer_auth(root)
        .json(&request)
        .send()
        .await
        .unwrap();
    let (status, _, report) = body(r).await;
    assert_eq!(status, 200, "{route}: {report}");
    report
}

/// Whether any file under `dir` holds `needle`.
fn found_in(dir: &std::path::Path, needle: &[u8]) -> Option<std::path::PathBuf> {
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let path = entry.path();
        if path.is_dir() {
            if let Some(hit) = found_in(&path, needle) {
                return Some(hit);
            }
        } else if std::fs::read(&path)
            .is_ok_and(|bytes| bytes.windows(needle.len()).any(|w| w == needle))
        {
            return Some(path);
        }
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objects_uploaded_whole_are_kept_as_chunks_and_read_back_by_every_route() {
    let server = TestServer::start_with(Backend::Local, |c| c.chunking_interval_secs = 1).await;
    let alice = server.user("alice").await;
    let root = server.user_with("root", true, "*").await;
    let repo = server.repo("alice/ds", Visibility::Private).await;
    let stored = || async { server.state.db.xet_stored_bytes(repo.id).await.unwrap() };

    // Version one, by the LFS batch API: chunked, stored once, its whole copy gone.
    let one = noise(3_000_000, 41);
    let oid_one = upload(&server, "alice/ds", &alice, &one).await;
    let (status, v) = commit(&server, &alice, "one.bin", &oid_one.to_string(), one.len()).await;
    assert_eq!(status, 200, "{v}");
    chunked(&server, repo.id, &oid_one).await;
    let after_one = stored().await;
    assert!(
        (3_000_000..3_100_000).contains(&after_one),
        "stored for 3 MB of noise: {after_one}"
    );

    // Every route reads it from its chunks: whole, a range inside, a range across chunks, the
    // tail, and a range past the end.
    assert_eq!(
        raw(&server, &alice, "one.bin", None).await,
        (200, one.clone())
    );
    for (range, want) in [
        ("bytes=1000000-1000099", &one[1_000_000..1_000_100]),
        ("bytes=65000-400000", &one[65_000..400_001]),
        ("bytes=-777", &one[one.len() - 777..]),
        ("bytes=2999990-", &one[2_999_990..]),
    ] {
        assert_eq!(
            raw(&server, &alice, "one.bin", Some(range)).await,
            (206, want.to_vec()),
            "{range}"
        );
    }
    assert_eq!(
        raw(&server, &alice, "one.bin", Some("bytes=3000000-"))
            .await
            .0,
        416
    );
    let href = download_href(&server, &alice, &oid_one, one.len()).await;
    assert_eq!(fetch(&href).await, one);

    // Version two changes 1,000 bytes in the middle: only the chunks around them are new.
    let mut two = one.clone();
    two[1_500_000..1_501_000].copy_from_slice(&noise(1000, 42));
    let oid_two = upload(&server, "alice/ds", &alice, &two).await;
    let (status, v) = commit(&server, &alice, "two.bin", &oid_two.to_string(), two.len()).await;
    assert_eq!(status, 200, "{v}");
    chunked(&server, repo.id, &oid_two).await;
    let added = stored().await - after_one;
    assert!(
        added > 0 && added < 400_000,
        "version two stored {added} more bytes"
    );
    assert_eq!(
        raw(&server, &alice, "two.bin", None).await,
        (200, two.clone())
    );

    // Version three through Xet by huggingface_hub: its dedup query finds the chunks strata
    // made, so only the changed ones travel and are stored.
    let mut three = two.clone();
    three[2_500_000..2_500_500].copy_from_slice(&noise(500, 43));
    let work = tempfile::tempdir().unwrap();
    let folder = work.path().join("folder");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(folder.join("three.bin"), &three).unwrap();
    let before_three = stored().await;
    let (url, token, cache, dir) = (
        server.url.clone(),
        alice.clone(),
        work.path().join("client"),
        folder.display().to_string(),
    );
    let out = tokio::task::spawn_blocking(move || {
        xet_run(&url, &token, &cache, &["upload", "alice/ds", &dir, "Three"])
    })
    .await
    .unwrap();
    assert!(out["commit"].is_string(), "{out}");
    let added = stored().await - before_three;
    assert!(
        added > 0 && added < 400_000,
        "version three stored {added} more bytes"
    );
    assert_eq!(raw(&server, &alice, "three.bin", None).await, (200, three));

    // A collection with no grace keeps everything a ref reaches, chunks and all.
    admin(&server, &root, "gc", json!({"grace_secs": 0})).await;
    assert_eq!(
        raw(&server, &alice, "one.bin", None).await,
        (200, one.clone())
    );
    assert_eq!(
        raw(&server, &alice, "two.bin", None).await,
        (200, two.clone())
    );

    // Erasing version one takes the xorbs it used; version two, which shared them, is read as
    // before, and the bytes only version one had are nowhere in the store.
    let erase = json!({"paths": ["one.bin"], "confirm": "alice/ds"});
    admin(&server, &root, "datasets/alice/ds/erase", erase).await;
    assert_eq!(
        raw(&server, &alice, "two.bin", None).await,
        (200, two.clone())
    );
    assert!(matches!(
        raw(&server, &alice, "one.bin", None).await.0,
        404 | 410
    ));
    let only_one = &one[1_500_100..1_500_900];
    let data = server.dir.path().join("data");
    assert_eq!(
        found_in(&data, only_one),
        None,
        "erased bytes are still stored"
    );
}

/// A file that grows by appends: each version's dedup look-up leads to the chunks of the one
/// before it (which holds the first's too), so each stores only what it appended.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_version_dedups_against_the_last_not_only_the_first() {
    let server = TestServer::start_with(Backend::Local, |c| c.chunking_interval_secs = 1).await;
    let alice = server.user("alice").await;
    let repo = server.repo("alice/ds", Visibility::Private).await;
    let mut version = noise(2_000_000, 51);
    let mut before = 0;
    for (n, seed) in [(1, 0), (2, 103), (3, 105), (4, 107)] {
        if n > 1 {
            version.extend(noise(1_000_000, seed));
        }
        let oid = upload(&server, "alice/ds", &alice, &version).await;
        let path = format!("v{n}.bin");
        let (status, v) = commit(&server, &alice, &path, &oid.to_string(), version.len()).await;
        assert_eq!(status, 200, "{v}");
        chunked(&server, repo.id, &oid).await;
        let stored = server.state.db.xet_stored_bytes(repo.id).await.unwrap();
        let added = stored - before;
        before = stored;
        if n > 1 {
            assert!(
                (1_000_000..1_200_000).contains(&added),
                "version {n} appended 1 MB and stored {added} bytes"
            );
        }
        assert_eq!(
            raw(&server, &alice, &path, None).await,
            (200, version.clone())
        );
    }
}

/// Under encryption the chunks are sealed with the dataset's key: a file uploaded whole is kept
/// as sealed xorbs, read back byte for byte, and no plaintext of it is in the store; its
/// dedup stays within the dataset.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chunks_are_sealed_per_dataset_under_encryption() {
    let server = TestServer::start_with(Backend::Local, |c| {
        c.chunking_interval_secs = 1;
        c.encryption = strata_core::config::Encryption::On;
    })
    .await;
    let alice = server.user("alice").await;
    let repo = server.repo("alice/ds", Visibility::Private).await;
    let other = server.repo("alice/other", Visibility::Private).await;
    let data = noise(2_000_000, 51);
    let oid = upload(&server, "alice/ds", &alice, &data).await;
    let (status, v) = commit(&server, &alice, "f.bin", &oid.to_string(), data.len()).await;
    assert_eq!(status, 200, "{v}");
    chunked(&server, repo.id, &oid).await;
    assert_eq!(
        raw(&server, &alice, "f.bin", None).await,
        (200, data.clone())
    );
    assert_eq!(
        raw(&server, &alice, "f.bin", Some("bytes=1234567-1300000")).await,
        (206, data[1_234_567..=1_300_000].to_vec())
    );
    // The same bytes in another dataset: chunked under its own key, sharing nothing.
    upload(&server, "alice/other", &alice, &data).await;
    chunked(&server, other.id, &oid).await;
    let db = &server.state.db;
    let (mine, theirs) = (
        db.xet_stored_bytes(repo.id).await.unwrap(),
        db.xet_stored_bytes(other.id).await.unwrap(),
    );
    assert!(mine >= 2_000_000 && theirs >= 2_000_000, "{mine} {theirs}");
    let data_dir = server.dir.path().join("data");
    assert_eq!(
        found_in(&data_dir, &data[700_000..700_064]),
        None,
        "plaintext in the store"
    );
}

/// A xorb most of whose chunks no file uses any more is compacted by a collection: the chunks
/// still used are written into a new xorb, the file that used them reads the same from it by
/// every route, the old xorb's bytes go, and a later file with those chunks dedups against the
/// new xorb. The same under encryption (each xorb sealed with the dataset's key).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collection_compacts_a_xorb_mostly_unused() {
    for encryption in [
        strata_core::config::Encryption::Off,
        strata_core::config::Encryption::On,
    ] {
        compaction(encryption).await;
    }
}

async fn compaction(encryption: strata_core::config::Encryption) {
    let server = TestServer::start_with(Backend::Local, |c| {
        c.chunking_interval_secs = 1;
        c.encryption = encryption;
    })
    .await;
    let alice = server.user("alice").await;
    let root = server.user_with("root", true, "*").await;
    let repo = server.repo("alice/ds", Visibility::Private).await;
    let db = &server.state.db;
    let r = client()
        .put(format!("{}/api/v1/datasets/alice/ds/retention", server.url))
        .bearer_auth(&alice)
        .json(&json!({"keep_days": 0}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);

    // One file of 3 MB, one xorb; a second file shares its first 600 kB.
    let one = noise(3_000_000, 61);
    let oid_one = upload(&server, "alice/ds", &alice, &one).await;
    let (status, v) = commit(&server, &alice, "one.bin", &oid_one.to_string(), one.len()).await;
    assert_eq!(status, 200, "{v}");
    chunked(&server, repo.id, &oid_one).await;
    let xorbs = db.xet_xorb_oids(repo.id).await.unwrap();
    assert_eq!(xorbs.len(), 1, "{xorbs:?}");
    let (old_hash, old_oid) = xorbs[0].clone();
    let mut two = one[..600_000].to_vec();
    two.extend(noise(2_400_000, 62));
    let oid_two = upload(&server, "alice/ds", &alice, &two).await;
    let (status, v) = commit(&server, &alice, "two.bin", &oid_two.to_string(), two.len()).await;
    assert_eq!(status, 200, "{v}");
    chunked(&server, repo.id, &oid_two).await;

    // one.bin deleted: the first collection lets it go, its xorb stays (two.bin uses some).
    delete(&server, &alice, "one.bin").await;
    let first = admin(&server, &root, "gc", json!({"grace_secs": 0})).await;
    assert_eq!(first["xorbs_compacted"], 0, "{first}");
    assert!(db.xet_xorb(repo.id, &old_hash).await.unwrap().is_some());
    let before = db.xet_stored_bytes(repo.id).await.unwrap();

    // A dry run says what it would compact, and does nothing.
    let dry = admin(
        &server,
        &root,
        "gc",
        json!({"grace_secs": 0, "dry_run": true}),
    )
    .await;
    assert_eq!(dry["xorbs_compacted"], 1, "{dry}");
    let dead = dry["compacted_bytes"].as_u64().unwrap();
    assert!((2_200_000..2_500_000).contains(&dead), "{dry}");
    assert_eq!(dry["items"][0]["action"], "would compact", "{dry}");
    assert_eq!(db.xet_stored_bytes(repo.id).await.unwrap(), before);

    // The next collection compacts it: the old xorb's bytes go, two.bin reads the same.
    let second = admin(&server, &root, "gc", json!({"grace_secs": 0})).await;
    assert_eq!(second["xorbs_compacted"], 1, "{second}");
    assert_eq!(second["compacted_bytes"].as_u64(), Some(dead), "{second}");
    assert!(db.xet_xorb(repo.id, &old_hash).await.unwrap().is_none());
    let old: Oid = old_oid.parse().unwrap();
    assert_eq!(db.object_link_count(&old).await.unwrap(), (false, 0));
    assert!(!server.state.storage.holds(repo.id, &old).await.unwrap());
    let after = db.xet_stored_bytes(repo.id).await.unwrap();
    assert!(
        after + 2_200_000 < before,
        "stored {before} bytes before, {after} after"
    );
    assert_eq!(
        raw(&server, &alice, "two.bin", None).await,
        (200, two.clone())
    );
    assert_eq!(
        raw(&server, &alice, "two.bin", Some("bytes=500000-700000")).await,
        (206, two[500_000..=700_000].to_vec())
    );
    let href = download_href(&server, &alice, &oid_two, two.len()).await;
    assert_eq!(fetch(&href).await, two);

    // A third file with the same first 600 kB finds them in the new xorb: only its own are new.
    let mut three = one[..600_000].to_vec();
    three.extend(noise(2_400_000, 64));
    let oid_three = upload(&server, "alice/ds", &alice, &three).await;
    let (status, v) = commit(
        &server,
        &alice,
        "three.bin",
        &oid_three.to_string(),
        three.len(),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    chunked(&server, repo.id, &oid_three).await;
    let added = db.xet_stored_bytes(repo.id).await.unwrap() - after;
    assert!(added < 2_600_000, "three.bin stored {added} more bytes");
    assert_eq!(raw(&server, &alice, "three.bin", None).await, (200, three));
    // Nothing else to compact now.
    let third = admin(&server, &root, "gc", json!({"grace_secs": 0})).await;
    assert_eq!(third["xorbs_compacted"], 0, "{third}");
    assert_eq!(raw(&server, &alice, "two.bin", None).await, (200, two));

    // With a grace period the old xorb waits to be collected after its compaction; erasing the
    // file moved off it erases it too, and none of its bytes are left anywhere.
    let four = noise(3_000_000, 81);
    let oid_four = upload(&server, "alice/ds", &alice, &four).await;
    let (status, v) = commit(
        &server,
        &alice,
        "four.bin",
        &oid_four.to_string(),
        four.len(),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    chunked(&server, repo.id, &oid_four).await;
    let mut five = four[..600_000].to_vec();
    five.extend(noise(2_400_000, 83));
    let oid_five = upload(&server, "alice/ds", &alice, &five).await;
    let (status, v) = commit(
        &server,
        &alice,
        "five.bin",
        &oid_five.to_string(),
        five.len(),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    chunked(&server, repo.id, &oid_five).await;
    delete(&server, &alice, "four.bin").await;
    admin(&server, &root, "gc", json!({"grace_secs": 0})).await;
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let graced = admin(&server, &root, "gc", json!({"grace_secs": 1})).await;
    assert_eq!(graced["xorbs_compacted"], 1, "{graced}");
    // The xorb waiting for collection counts toward no usage: the chunks still used count once,
    // in the xorb they were written into.
    let r = client()
        .get(format!("{}/api/v1/namespaces/alice/usage", server.url))
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap();
    let (status, _, usage) = body(r).await;
    assert_eq!(status, 200, "{usage}");
    let total = db.xet_stored_bytes(repo.id).await.unwrap();
    let used = usage["used"].as_i64().unwrap();
    assert!(used + 2_200_000 < total, "used {used} with {total} stored");
    let waiting: Vec<Oid> = db
        .xet_xorb_oids(repo.id)
        .await
        .unwrap()
        .into_iter()
        .map(|(_, oid)| oid.parse().unwrap())
        .collect();
    let erase = json!({"paths": ["five.bin"], "confirm": "alice/ds"});
    admin(&server, &root, "datasets/alice/ds/erase", erase).await;
    let data = server.dir.path().join("data");
    for canary in [&four[100_000..100_064], &four[2_000_000..2_000_064]] {
        assert_eq!(
            found_in(&data, canary),
            None,
            "erased bytes are still stored"
        );
    }
    let left = db.xet_xorb_oids(repo.id).await.unwrap();
    assert!(
        waiting.len() > left.len(),
        "xorbs before the erasure {waiting:?}, after {left:?}"
    );
    assert_eq!(raw(&server, &alice, "three.bin", None).await.0, 200);
}

/// Deletes `path` from alice/ds's main branch by a REST commit.
async fn delete(server: &TestServer, token: &str, path: &str) {
    let line = json!({"key": "deletedFile", "value": {"path": path}});
    let (status, v) = commit_line(server, token, &format!("drop {path}"), line).await;
    assert_eq!(status, 200, "{v}");
}

/// The download URL alice/ds's batch API gives for `oid` (`size` bytes).
async fn download_href(server: &TestServer, token: &str, oid: &Oid, size: usize) -> String {
    let req = json!({"operation": "download", "objects": [{"oid": oid.to_string(), "size": size}]});
    let (status, _, v) =
        body(lfs_post(&server.batch_url("alice/ds"), Some(token), &req).await).await;
    assert_eq!(status, 200, "{v}");
    v["objects"][0]["actions"]["download"]["href"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// The bytes `href` answers.
async fn fetch(href: &str) -> Vec<u8> {
    let got = client().get(href).send().await.unwrap();
    got.bytes().await.unwrap().to_vec()
}

/// On a bucket too: an object uploaded straight to it is chunked, a changed version stores only
/// its new chunks, and from then on its downloads read the chunks through strata (the batch API
/// hands out strata's URL, not the bucket's). The whole copies go once the bucket URLs handed
/// out before have expired; every route reads the same after. An object below the chunking
/// minimum stays whole, and its downloads go to the bucket.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objects_on_a_bucket_are_kept_as_chunks_too() {
    let server = TestServer::start_with(Backend::S3, |c| c.chunking_interval_secs = 1).await;
    let alice = server.user("alice").await;
    let repo = server.repo("alice/ds", Visibility::Private).await;
    let storage = &server.state.storage;
    let stored = || async { server.state.db.xet_stored_bytes(repo.id).await.unwrap() };
    let held_as_chunks = |oid: Oid| async move {
        for _ in 0..300 {
            if storage.holds_chunked(repo.id, &oid).await.unwrap() {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("{oid} was not chunked within 30 s");
    };
    let ours = format!("{}/_transfer/", server.url);

    let one = noise(3_000_000, 71);
    let oid_one = upload(&server, "alice/ds", &alice, &one).await;
    let (status, v) = commit(&server, &alice, "one.bin", &oid_one.to_string(), one.len()).await;
    assert_eq!(status, 200, "{v}");
    held_as_chunks(oid_one).await;
    let after_one = stored().await;
    assert!((3_000_000..3_100_000).contains(&after_one), "{after_one}");
    let h = download_href(&server, &alice, &oid_one, one.len()).await;
    assert!(h.starts_with(&ours), "{h}");
    assert_eq!(fetch(&h).await, one);

    let mut two = one.clone();
    two[1_500_000..1_501_000].copy_from_slice(&noise(1000, 72));
    let oid_two = upload(&server, "alice/ds", &alice, &two).await;
    let (status, v) = commit(&server, &alice, "two.bin", &oid_two.to_string(), two.len()).await;
    assert_eq!(status, 200, "{v}");
    held_as_chunks(oid_two).await;
    let added = stored().await - after_one;
    assert!(
        added > 0 && added < 400_000,
        "version two stored {added} more bytes"
    );

    // The whole copies stay until the URLs handed out for them expired, then go.
    assert!(storage.holds_whole(repo.id, &oid_one).await.unwrap());
    let later = strata_core::db::now() + 86_400;
    let went = strata_core::xet::chunking::drop_due(&server.state, later)
        .await
        .unwrap();
    assert_eq!(went, 2);
    for (oid, data, path) in [(oid_one, &one, "one.bin"), (oid_two, &two, "two.bin")] {
        assert!(!storage.holds_whole(repo.id, &oid).await.unwrap());
        assert_eq!(raw(&server, &alice, path, None).await, (200, data.clone()));
        assert_eq!(
            raw(&server, &alice, path, Some("bytes=1499990-1501010")).await,
            (206, data[1_499_990..=1_501_010].to_vec())
        );
        let h = download_href(&server, &alice, &oid, data.len()).await;
        assert_eq!(&fetch(&h).await, data);
    }

    // Below the chunking minimum: whole, and downloaded from the bucket.
    let small = noise(10_000, 73);
    let oid_small = upload(&server, "alice/ds", &alice, &small).await;
    let h = download_href(&server, &alice, &oid_small, small.len()).await;
    assert!(!h.starts_with(&ours), "{h}");
    assert_eq!(fetch(&h).await, small);
}
