//! Encryption at rest on the local disk (`--encryption on`): ranged reads at chunk boundaries,
//! objects stored once per dataset key, tampering detected and audited (never served), deleted
//! datasets' objects gone at once (410, crypto-shredding), `multipart-basic` not offered, and the
//! starts strata refuses. The git-lfs round trip is `git_lfs::git_lfs_round_trip_sealed`.

use std::collections::HashSet;
use std::path::Path;

use serde_json::json;
use strata_core::config::Encryption;
use strata_core::db::Visibility;

use crate::common::*;

const CHUNK: usize = 64 * 1024;

/// Fails if any file below `dir` holds any of `windows` (64 bytes each).
pub fn assert_no_plaintext(dir: &Path, windows: &[Vec<u8>]) {
    let prefixes: HashSet<[u8; 8]> = windows.iter().map(|w| w[..8].try_into().unwrap()).collect();
    let mut stack = vec![dir.to_owned()];
    let mut files = 0;
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            files += 1;
            let bytes = std::fs::read(&path).unwrap();
            for (at, w) in bytes.windows(64).enumerate() {
                let prefix: [u8; 8] = w[..8].try_into().unwrap();
                if prefixes.contains(&prefix) && windows.iter().any(|x| x.as_slice() == w) {
                    panic!("{} holds plaintext at {at}", path.display());
                }
            }
        }
    }
    assert!(files > 0, "nothing stored in {}", dir.display());
}

pub fn data(n: usize, seed: u32) -> Vec<u8> {
    (0..n as u32)
        .map(|i| (i.wrapping_mul(2654435761).wrapping_add(seed) >> 13) as u8)
        .collect()
}

async fn sealed_server() -> (TestServer, String) {
    let server = TestServer::start_with(Backend::Local, |c| c.encryption = Encryption::On).await;
    let token = server.user("alice").await;
    (server, token)
}

/// The signed download URL the batch API hands out for `oid`.
pub async fn download_url(
    server: &TestServer,
    repo: &str,
    token: &str,
    oid: &str,
    size: usize,
) -> String {
    let req = json!({"operation": "download", "objects": [{"oid": oid, "size": size}]});
    let (status, _, v) = body(lfs_post(&server.batch_url(repo), Some(token), &req).await).await;
    assert_eq!(status, 200, "{v}");
    v["objects"][0]["actions"]["download"]["href"]
        .as_str()
        .unwrap_or_else(|| panic!("{v}"))
        .to_owned()
}

pub async fn get(url: &str, range: Option<&str>) -> (u16, Vec<u8>) {
    let mut req = client().get(url);
    if let Some(r) = range {
        req = req.header("range", r);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    (
        status,
        r.bytes().await.map(|b| b.to_vec()).unwrap_or_default(),
    )
}

fn sealed_files(server: &TestServer, oid: &str) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![server.dir.path().join("data/objects")];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.file_name().unwrap() == oid {
                out.push(path);
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sealed_objects_read_back_by_range_and_stay_apart() {
    let (server, token) = sealed_server().await;
    server.repo("alice/secret", Visibility::Private).await;
    server.repo("alice/other", Visibility::Private).await;
    let bytes = data(3 * CHUNK + 100, 1);
    let oid = upload(&server, "alice/secret", &token, &bytes)
        .await
        .to_string();
    let url = download_url(&server, "alice/secret", &token, &oid, bytes.len()).await;
    assert_eq!(get(&url, None).await, (200, bytes.clone()));
    let c = CHUNK;
    for (first, last) in [
        (0, 0),
        (c - 1, c),
        (c, 2 * c - 1),
        (5, 3 * c + 99),
        (3 * c + 99, 3 * c + 99),
    ] {
        let (status, got) = get(&url, Some(&format!("bytes={first}-{last}"))).await;
        assert_eq!(status, 206);
        assert_eq!(got, &bytes[first..=last], "{first}-{last}");
    }
    let (status, _) = get(&url, Some(&format!("bytes={}-", bytes.len()))).await;
    assert_eq!(status, 416);

    // The same object uploaded to a second dataset is a second file under another key.
    upload(&server, "alice/other", &token, &bytes).await;
    let copies = sealed_files(&server, &oid);
    assert_eq!(copies.len(), 2, "{copies:?}");
    assert_ne!(
        std::fs::read(&copies[0]).unwrap(),
        std::fs::read(&copies[1]).unwrap()
    );
    let windows: Vec<Vec<u8>> = bytes
        .chunks_exact(64)
        .step_by(101)
        .map(<[u8]>::to_vec)
        .collect();
    assert_no_plaintext(&server.dir.path().join("data"), &windows);

    // Whole uploads only: parts would wait on disk unsealed.
    let req = json!({"operation": "upload", "transfers": ["multipart-basic", "basic"],
        "objects": [{"oid": oid, "size": bytes.len()}]});
    let (_, _, v) =
        body(lfs_post(&server.batch_url("alice/secret"), Some(&token), &req).await).await;
    assert_eq!(v["transfer"], "basic");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampering_is_refused_and_audited() {
    let (server, token) = sealed_server().await;
    server.repo("alice/secret", Visibility::Private).await;
    let bytes = data(2 * CHUNK + 10, 2);
    let oid = upload(&server, "alice/secret", &token, &bytes)
        .await
        .to_string();
    let url = download_url(&server, "alice/secret", &token, &oid, bytes.len()).await;
    let file = sealed_files(&server, &oid).pop().unwrap();
    let good = std::fs::read(&file).unwrap();

    // One flipped byte in the second chunk: a range there fails before any byte is sent.
    let mut bad = good.clone();
    bad[64 + CHUNK + 16 + 3] ^= 0x40;
    std::fs::write(&file, &bad).unwrap();
    let (status, got) = get(&url, Some(&format!("bytes={}-{}", CHUNK, CHUNK + 10))).await;
    assert_eq!(status, 500);
    assert!(String::from_utf8_lossy(&got).contains("integrity"));
    // A whole read starts well and is cut off at the bad chunk: never the wrong bytes.
    // (Depending on when the abort lands, the client sees a cut body or no answer at all.)
    let whole = match client().get(&url).send().await {
        Ok(r) => r.bytes().await.ok().map(|b| b.to_vec()),
        Err(_) => None,
    };
    assert!(whole.is_none_or(|b| b != bytes));
    // Cut short, and a chunk from elsewhere.
    std::fs::write(&file, &good[..good.len() - 16]).unwrap();
    assert_eq!(get(&url, None).await.0, 500);
    let mut swapped = good.clone();
    let span = CHUNK + 16;
    swapped.copy_within(64..64 + span, 64 + span);
    std::fs::write(&file, &swapped).unwrap();
    assert_eq!(
        get(&url, Some(&format!("bytes={}-{}", CHUNK, CHUNK)))
            .await
            .0,
        500
    );
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let log = server.state.db.audit_entries(None, 50).await.unwrap();
    assert!(log.iter().filter(|e| e.event == "object.integrity").count() >= 3);
    // Put back, it reads again.
    std::fs::write(&file, &good).unwrap();
    assert_eq!(get(&url, None).await, (200, bytes));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_dataset_is_shredded() {
    let (server, token) = sealed_server().await;
    let repo = server.repo("alice/secret", Visibility::Private).await;
    let bytes = data(CHUNK + 1, 3);
    let oid = upload(&server, "alice/secret", &token, &bytes)
        .await
        .to_string();
    let url = download_url(&server, "alice/secret", &token, &oid, bytes.len()).await;
    assert_eq!(get(&url, None).await.0, 200);
    let r = client()
        .delete(format!("{}/api/v1/datasets/alice/secret", server.url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    // The URL signed before the deletion is still within its lifetime: the object is gone.
    let (status, answer) = get(&url, None).await;
    assert_eq!(status, 410, "{}", String::from_utf8_lossy(&answer));
    assert!(sealed_files(&server, &oid).is_empty());
    assert!(server.state.storage.shredded(repo.id).await.unwrap());
    // A dataset made again under the name has a new key and none of the old objects.
    server.repo("alice/secret", Visibility::Private).await;
    let req = json!({"operation": "download", "objects": [{"oid": oid, "size": bytes.len()}]});
    let (_, _, v) =
        body(lfs_post(&server.batch_url("alice/secret"), Some(&token), &req).await).await;
    assert!(v["objects"][0]["error"].is_object(), "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_store_is_sealed_resumably() {
    // A store written without encryption, with an object in two datasets and one in one.
    let plain = TestServer::start().await;
    let token = plain.user("alice").await;
    let x = plain.repo("alice/x", Visibility::Private).await;
    let y = plain.repo("alice/y", Visibility::Private).await;
    let shared = data(CHUNK * 2 + 3, 6);
    let own = data(5000, 7);
    let shared_oid = upload(&plain, "alice/x", &token, &shared).await.to_string();
    upload(&plain, "alice/y", &token, &shared).await;
    let own_oid = upload(&plain, "alice/x", &token, &own).await.to_string();

    // Started with encryption on: it serves the plain objects until they are sealed.
    let mut config = strata_core::config::Config::with_data_dir(plain.dir.path().join("data"));
    config.encryption = Encryption::On;
    config.database_url = Some(plain.state.settings.database_url.clone());
    config.jwt_key_file = Some(plain.dir.path().join("jwt.pem"));
    let sealed = strata::AppState::build(&config).await.unwrap();
    assert!(sealed.storage.unsealed_left().await);
    // Interrupted after one object: everything still reads.
    let (next, made) = sealed.storage.seal_existing("", 1).await.unwrap();
    let next = next.expect("more to do");
    assert!(made >= 1);
    for (repo, oid, bytes) in [
        (x.id, &shared_oid, &shared),
        (y.id, &shared_oid, &shared),
        (x.id, &own_oid, &own),
    ] {
        assert_eq!(&read_all(&sealed, repo, oid).await.unwrap(), bytes);
    }
    // Resumed to the end, and once more (nothing left to do).
    let mut after = next;
    while let (Some(n), _) = sealed.storage.seal_existing(&after, 1).await.unwrap() {
        after = n;
    }
    assert_eq!(
        sealed.storage.seal_existing("", 100).await.unwrap(),
        (None, 0)
    );
    assert_eq!(sealed_files(&plain, &shared_oid).len(), 2);
    for (repo, oid, bytes) in [
        (x.id, &shared_oid, &shared),
        (y.id, &shared_oid, &shared),
        (x.id, &own_oid, &own),
    ] {
        assert_eq!(&read_all(&sealed, repo, oid).await.unwrap(), bytes);
    }
    let windows: Vec<Vec<u8>> = shared
        .chunks_exact(64)
        .step_by(50)
        .chain(own.chunks_exact(64))
        .map(<[u8]>::to_vec)
        .collect();
    assert_no_plaintext(&plain.dir.path().join("data"), &windows);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsafe_starts_are_refused() {
    // Sealed objects would be unreadable without encryption.
    let (sealed, token) = sealed_server().await;
    sealed.repo("alice/x", Visibility::Private).await;
    upload(&sealed, "alice/x", &token, b"some sealed bytes").await;
    let mut config = strata_core::config::Config::with_data_dir(sealed.dir.path().join("data"));
    config.database_url = Some(
        format!(
            "sqlite://{}?mode=rwc",
            sealed.dir.path().join("other.db").display()
        )
        .into(),
    );
    let err = strata::AppState::build(&config)
        .await
        .err()
        .expect("refused");
    assert!(err.to_string().contains("holds sealed objects"), "{err}");
    // A master key that is not 32 bytes of hex.
    config.encryption = Encryption::On;
    config.master_key = Some("abc".into());
    let err = strata::AppState::build(&config)
        .await
        .err()
        .expect("refused");
    assert!(err.to_string().contains("64 hex digits"), "{err}");
}

/// The bytes of `oid` in dataset `repo_id`, read through a storage facade (no HTTP).
pub async fn read_all(
    state: &strata::AppState,
    repo_id: i64,
    oid: &str,
) -> strata_core::error::Result<Vec<u8>> {
    use futures_util::StreamExt;
    let oid: strata_lfs::Oid = oid.parse().unwrap();
    match state.storage.read(repo_id, &oid, None).await? {
        Some(strata_core::storage::Read::Found { object, .. }) => {
            let mut out = Vec::new();
            let mut body = object.body;
            while let Some(chunk) = body.next().await {
                out.extend_from_slice(&chunk.map_err(strata_core::error::Error::internal)?);
            }
            Ok(out)
        }
        _ => panic!("{oid} is not stored"),
    }
}

/// The data key id a sealed file's header names.
fn key_id_of(path: &Path) -> u64 {
    let head = std::fs::read(path).unwrap();
    u64::from_be_bytes(head[12..20].try_into().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_rotate_and_objects_reseal() {
    let (server, token) = sealed_server().await;
    let repo = server.repo("alice/secret", Visibility::Private).await;
    let a = data(CHUNK + 7, 4);
    let oid_a = upload(&server, "alice/secret", &token, &a)
        .await
        .to_string();
    let file_a = sealed_files(&server, &oid_a).pop().unwrap();
    let v1 = key_id_of(&file_a);

    // A new data key version: new objects use it, old ones still open with theirs.
    let (version, resealed) = server
        .state
        .storage
        .rotate_data_key(repo.id, false)
        .await
        .unwrap();
    assert_eq!((version, resealed), (2, 0));
    let b = data(100, 5);
    let oid_b = upload(&server, "alice/secret", &token, &b)
        .await
        .to_string();
    let file_b = sealed_files(&server, &oid_b).pop().unwrap();
    let v2 = key_id_of(&file_b);
    assert_ne!(v1, v2);
    assert_eq!(read_all(&server.state, repo.id, &oid_a).await.unwrap(), a);

    // Rotated again with re-sealing: every object moves to the newest key, byte for byte.
    let (version, resealed) = server
        .state
        .storage
        .rotate_data_key(repo.id, true)
        .await
        .unwrap();
    assert_eq!((version, resealed), (3, 2));
    let v3 = key_id_of(&file_a);
    assert!(v3 != v1 && v3 != v2 && key_id_of(&file_b) == v3);
    assert_eq!(read_all(&server.state, repo.id, &oid_a).await.unwrap(), a);
    assert_eq!(read_all(&server.state, repo.id, &oid_b).await.unwrap(), b);
    // Each re-sealing rotation moves every object to its new version; one without moves none.
    let (_, resealed) = server
        .state
        .storage
        .rotate_data_key(repo.id, true)
        .await
        .unwrap();
    assert_eq!(resealed, 2);
    let (_, resealed) = server
        .state
        .storage
        .rotate_data_key(repo.id, false)
        .await
        .unwrap();
    assert_eq!(resealed, 0);

    // Master-key rotation rewraps the data keys, touching no object; a server with the new
    // master key reads everything, one with the old key says which key it needs.
    let before = std::fs::read(&file_a).unwrap();
    let new_key = server.dir.path().join("new-master.key");
    let source = strata_core::storage::keys::MasterSource::File(&new_key);
    let (rewrapped, new_id) = server
        .state
        .storage
        .rotate_master_key(source)
        .await
        .unwrap();
    assert!(rewrapped >= 4, "{rewrapped}");
    assert_eq!(std::fs::read(&file_a).unwrap(), before);
    let restart = |key: Option<std::path::PathBuf>| {
        let mut config = strata_core::config::Config::with_data_dir(server.dir.path().join("data"));
        config.encryption = Encryption::On;
        config.master_key_file = key;
        config.database_url = Some(server.state.settings.database_url.clone());
        config.jwt_key_file = Some(server.dir.path().join("jwt.pem"));
        async move { strata::AppState::build(&config).await.unwrap() }
    };
    let renewed = restart(Some(new_key.clone())).await;
    assert_eq!(read_all(&renewed, repo.id, &oid_a).await.unwrap(), a);
    assert_eq!(read_all(&renewed, repo.id, &oid_b).await.unwrap(), b);
    let stale = restart(None).await;
    let err = read_all(&stale, repo.id, &oid_a)
        .await
        .expect_err("the old master key");
    assert_eq!(err.kind, strata_core::error::Kind::Internal);
    assert!(!new_id.is_empty());
    // Rotating to the key already in use changes nothing.
    let source = strata_core::storage::keys::MasterSource::File(&new_key);
    assert_eq!(
        renewed.storage.rotate_master_key(source).await.unwrap().0,
        0
    );
}
