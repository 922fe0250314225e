//! Erasure reaches Xet storage: erasing a file uploaded through Xet erases the xorb its chunks
//! are in (refused from then on, its bytes deleted), a file that shared that xorb keeps its
//! whole object but loses its Xet form, and a file in a xorb of its own keeps both. And a file
//! made of one chunk repeated is held to the object size limit when a commit stores it whole.

use serde_json::{json, Value};
use strata_core::db::Visibility;
use strata_lfs::xet::{chunker, hash, shard, xorb, Hash};

use super::xet::noise;
use super::xet_hostile::{commit, get, post, sha256, xorb_of};
use crate::common::*;

/// The file entry of `data`, made of chunks `at..at + n` of xorb `x`.
fn entry(x: Hash, chunks: &[(Hash, u64)], at: usize, data: &[u8]) -> shard::FileEntry {
    let hashes: Vec<Hash> = chunks.iter().map(|c| c.0).collect();
    shard::FileEntry {
        hash: hash::file_hash(chunks),
        segments: vec![shard::Segment {
            xorb: x,
            unpacked: data.len() as u32,
            start: at as u32,
            end: (at + chunks.len()) as u32,
        }],
        verification: vec![hash::range_hash(&hashes)],
        sha256: Some(sha256(data)),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn erasing_a_xet_file_erases_its_chunks() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let root = server.user_with("root", true, "*").await;
    server.repo("alice/ds", Visibility::Private).await;
    let cas = format!("{}/api/datasets/alice/ds/xet", server.url);
    let (secret, shared, apart) = (noise(150_000, 21), noise(120_000, 22), noise(90_000, 23));

    // `secret` and `shared` in one xorb, `apart` in a xorb of its own.
    let mut both = Vec::new();
    let mut chunks = Vec::new();
    for data in [&secret, &shared] {
        let mut of_file = Vec::new();
        for r in chunker::chunks(data) {
            xorb::write_chunk(&mut both, &data[r.clone()]);
            of_file.push((hash::chunk_hash(&data[r.clone()]), r.len() as u64));
        }
        chunks.push(of_file);
    }
    let all: Vec<(Hash, u64)> = chunks.concat();
    let x = hash::xorb_hash(&all);
    let (y, apart_bytes, apart_chunks) = xorb_of(&apart);
    for (h, bytes) in [(x, both), (y, apart_bytes)] {
        let (status, _, v) =
            post(&format!("{cas}/v1/xorbs/default/{h}"), Some(&alice), bytes).await;
        assert_eq!(status, 200, "{v}");
    }
    let files = vec![
        entry(x, &chunks[0], 0, &secret),
        entry(x, &chunks[1], chunks[0].len(), &shared),
        entry(y, &apart_chunks, 0, &apart),
    ];
    let hashes: Vec<Hash> = files.iter().map(|f| f.hash).collect();
    let (status, _, v) = post(
        &format!("{cas}/v1/shards"),
        Some(&alice),
        shard::write(&shard::Shard {
            files,
            xorbs: Vec::new(),
        }),
    )
    .await;
    assert_eq!((status, &v), (200, &json!({"result": 1})));
    for (path, data) in [
        ("secret.bin", &secret),
        ("shared.bin", &shared),
        ("apart.bin", &apart),
    ] {
        let oid = strata_lfs::Oid::of(data).to_string();
        let (status, v) = commit(&server, &alice, path, &oid, data.len()).await;
        assert_eq!(status, 200, "{v}");
    }
    let reconstructs = |h: Hash| {
        let url = format!("{cas}/v1/reconstructions/{h}");
        let token = alice.clone();
        async move { get(&url, Some(&token), None).await.status().as_u16() }
    };
    for h in &hashes {
        assert_eq!(reconstructs(*h).await, 200);
    }
    let repo = server
        .state
        .db
        .repo_by_path("alice", "ds")
        .await
        .unwrap()
        .unwrap();
    let before = server.state.db.xet_stored_bytes(repo.id).await.unwrap();
    let xorb_oid = server
        .state
        .db
        .xet_xorb(repo.id, &x.hex())
        .await
        .unwrap()
        .unwrap()
        .oid;

    let r = client()
        .post(format!(
            "{}/api/v1/admin/datasets/alice/ds/erase",
            server.url
        ))
        .bearer_auth(&root)
        .json(&json!({"paths": ["secret.bin"], "confirm": "alice/ds"}))
        .send()
        .await
        .unwrap();
    let (status, _, report) = body(r).await;
    assert_eq!(status, 200, "{report}");
    let removed: Vec<&str> = report["objects_removed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["oid"].as_str().unwrap())
        .collect();
    assert!(removed.contains(&xorb_oid.as_str()), "{report}");

    // The xorb is gone: its bytes, its record, every Xet form that used it.
    let after = server.state.db.xet_stored_bytes(repo.id).await.unwrap();
    assert!(after < before && after > 0, "{before} → {after}");
    assert!(server
        .state
        .db
        .xet_xorb(repo.id, &x.hex())
        .await
        .unwrap()
        .is_none());
    assert_eq!(reconstructs(hashes[0]).await, 404);
    assert_eq!(reconstructs(hashes[1]).await, 404);
    assert_eq!(reconstructs(hashes[2]).await, 200);
    let dedup = get(
        &format!("{cas}/v1/chunks/default/{}", chunks[0][0].0),
        Some(&alice),
        None,
    )
    .await;
    assert_eq!(dedup.status(), 404);
    // The xorb may not come back, and the file that shared it reads as before.
    let (status, _, v): (u16, _, Value) =
        post(&format!("{cas}/v1/xorbs/default/{x}"), Some(&alice), {
            let mut again = Vec::new();
            for data in [&secret, &shared] {
                for r in chunker::chunks(data) {
                    xorb::write_chunk(&mut again, &data[r]);
                }
            }
            again
        })
        .await;
    assert_eq!(status, 410, "{v}");
    let raw = get(
        &format!("{}/api/v1/datasets/alice/ds/raw/shared.bin", server.url),
        Some(&alice),
        None,
    )
    .await;
    assert_eq!(raw.bytes().await.unwrap().as_ref(), shared.as_slice());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_of_repeated_chunks_is_held_to_the_object_limit() {
    let server = TestServer::start_with(Backend::Local, |c| c.max_object_size = 1 << 20).await;
    let alice = server.user("alice").await;
    server.repo("alice/ds", Visibility::Private).await;
    let cas = format!("{}/api/datasets/alice/ds/xet", server.url);
    // One 64 KiB chunk, named 40 times: a 2.5 MiB file from 64 KiB sent.
    let chunk = noise(64 << 10, 31);
    let (x, bytes, chunks) = xorb_of(&chunk);
    assert_eq!(chunks.len(), 1);
    let (status, _, v) = post(&format!("{cas}/v1/xorbs/default/{x}"), Some(&alice), bytes).await;
    assert_eq!(status, 200, "{v}");
    let data = chunk.repeat(40);
    let all: Vec<(Hash, u64)> = std::iter::repeat_n(chunks[0], 40).collect();
    let file = shard::FileEntry {
        hash: hash::file_hash(&all),
        segments: vec![
            shard::Segment {
                xorb: x,
                unpacked: chunk.len() as u32,
                start: 0,
                end: 1,
            };
            40
        ],
        verification: vec![hash::range_hash(&[chunks[0].0]); 40],
        sha256: Some(sha256(&data)),
    };
    let (status, _, v) = post(
        &format!("{cas}/v1/shards"),
        Some(&alice),
        shard::write(&shard::Shard {
            files: vec![file],
            xorbs: Vec::new(),
        }),
    )
    .await;
    assert_eq!((status, &v), (200, &json!({"result": 1})));
    let oid = strata_lfs::Oid::of(&data).to_string();
    let (status, v) =
        super::xet_hostile::commit(&server, &alice, "big.bin", &oid, data.len()).await;
    assert_eq!(status, 413, "{v}");
    assert!(server.head(&alice, "alice/ds").await.is_none());
}
