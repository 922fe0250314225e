//! The Xet CAS against a hostile caller, over raw HTTP: xorbs and shards that do not check out
//! are refused (400, with a message and a request id) and leave nothing behind; a shard cannot
//! name another dataset's xorb (no dedup across datasets); a shard's sha256 is a claim that a
//! commit checks by reading the file back; a reconstruction answers only a reader of the file,
//! and its signed ranges read what they name and nothing else. An upload no commit names goes
//! after the grace period.

use serde_json::{json, Value};
use strata_core::db::Visibility;
use strata_lfs::xet::{chunker, hash, shard, xorb, Hash};

use super::xet::noise;
use crate::common::*;

/// A xorb of `data`'s chunks: its hash, its bytes, and the chunks' hashes and sizes.
pub(super) fn xorb_of(data: &[u8]) -> (Hash, Vec<u8>, Vec<(Hash, u64)>) {
    let mut bytes = Vec::new();
    let mut chunks = Vec::new();
    for r in chunker::chunks(data) {
        xorb::write_chunk(&mut bytes, &data[r.clone()]);
        chunks.push((hash::chunk_hash(&data[r.clone()]), r.len() as u64));
    }
    (hash::xorb_hash(&chunks), bytes, chunks)
}

/// A shard of one file made of all of `chunks` (all of xorb `x`), claiming `sha`.
fn shard_of(x: Hash, chunks: &[(Hash, u64)], sha: [u8; 32]) -> Vec<u8> {
    let hashes: Vec<Hash> = chunks.iter().map(|c| c.0).collect();
    shard::write(&shard::Shard {
        files: vec![shard::FileEntry {
            hash: hash::file_hash(chunks),
            segments: vec![shard::Segment {
                xorb: x,
                unpacked: chunks.iter().map(|c| c.1 as u32).sum(),
                start: 0,
                end: chunks.len() as u32,
            }],
            verification: vec![hash::range_hash(&hashes)],
            sha256: Some(sha),
        }],
        xorbs: Vec::new(),
    })
}

pub(super) fn sha256(data: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(data).into()
}

pub(super) async fn post(
    url: &str,
    token: Option<&str>,
    body: Vec<u8>,
) -> (u16, reqwest::header::HeaderMap, Value) {
    let mut req = client().post(url).body(body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    crate::common::body(req.send().await.unwrap()).await
}

pub(super) async fn get(url: &str, token: Option<&str>, range: Option<&str>) -> reqwest::Response {
    let mut req = client().get(url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(r) = range {
        req = req.header("range", r);
    }
    req.send().await.unwrap()
}

/// A REST commit to alice/ds's main branch adding LFS file `path`.
pub(super) async fn commit(
    server: &TestServer,
    token: &str,
    path: &str,
    oid: &str,
    size: usize,
) -> (u16, Value) {
    let line = json!({"key": "lfsFile", "value": {"path": path, "oid": oid, "size": size}});
    commit_line(server, token, &format!("add {path}"), line).await
}

/// A REST commit to alice/ds's main branch of one NDJSON `line`.
pub(super) async fn commit_line(
    server: &TestServer,
    token: &str,
    summary: &str,
    line: Value,
) -> (u16, Value) {
    let parent = server.head(token, "alice/ds").await;
    let lines = [
        json!({"key": "header", "value": {"summary": summary, "parent": parent}}),
        line,
    ]
    .map(|l| l.to_string())
    .join("\n");
    let resp = client()
        .post(format!("{}/api/v1/datasets/alice/ds/commit", server.url))
        .bearer_auth(token)
        .header("content-type", "application/x-ndjson")
        .body(lines)
        .send()
        .await
        .unwrap();
    let (status, _, v) = body(resp).await;
    (status, v)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xet_refuses_what_does_not_check_out_and_reads_only_for_readers() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    server.repo("alice/ds", Visibility::Private).await;
    server.repo("bob/ds", Visibility::Private).await;
    let cas = format!("{}/api/datasets/alice/ds/xet", server.url);
    let data = noise(300_000, 3);
    let (x, bytes, chunks) = xorb_of(&data);
    assert!(chunks.len() > 1);

    // The token routes: the CAS URL and the caller's token; a stranger is told nothing.
    let resp = get(
        &format!("{}/api/datasets/alice/ds/xet-write-token/main", server.url),
        Some(&alice),
        None,
    )
    .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-xet-cas-url"].to_str().unwrap(), cas);
    let token: Value = resp.json().await.unwrap();
    assert_eq!(token["casUrl"], cas);
    // A token signed for this dataset's CAS, for an hour: not alice's own.
    let write = token["accessToken"].as_str().unwrap().to_owned();
    assert_ne!(write, alice);
    let exp = token["exp"].as_i64().unwrap() - strata_core::db::now();
    assert!((3500..=3600).contains(&exp), "{exp}");
    // No other route takes it.
    let resp = client()
        .get(format!("{}/api/v1/datasets/alice/ds", server.url))
        .bearer_auth(&write)
        .send()
        .await
        .unwrap();
    let (status, headers, v) = body(resp).await;
    assert_error_body(status, &headers, &v, 401);
    // A read token writes nothing, and a token reaches no other dataset, alice's own included
    // (the gate answers as to any token without the scope: no such dataset).
    let read: Value = get(
        &format!("{}/api/datasets/alice/ds/xet-read-token/main", server.url),
        Some(&alice),
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    let read = read["accessToken"].as_str().unwrap().to_owned();
    // A revision that is not there has no read token (as on the Hub).
    let (status, headers, v) = body(
        get(
            &format!(
                "{}/api/datasets/alice/ds/xet-read-token/no-such-branch",
                server.url
            ),
            Some(&alice),
            None,
        )
        .await,
    )
    .await;
    assert_error_body(status, &headers, &v, 404);
    let (status, headers, v) = post(
        &format!("{cas}/v1/xorbs/default/{x}"),
        Some(&read),
        bytes.clone(),
    )
    .await;
    assert_error_body(status, &headers, &v, 403);
    server.repo("alice/other", Visibility::Private).await;
    let (status, headers, v) = post(
        &format!(
            "{}/api/datasets/alice/other/xet/v1/xorbs/default/{x}",
            server.url
        ),
        Some(&write),
        bytes.clone(),
    )
    .await;
    assert_error_body(status, &headers, &v, 404);
    let (status, headers, v) = body(
        get(
            &format!("{}/api/datasets/alice/ds/xet-read-token/main", server.url),
            Some(&bob),
            None,
        )
        .await,
    )
    .await;
    assert_error_body(status, &headers, &v, 404);

    // Xorbs: a stranger's, a wrong hash, damaged bytes, a bad hash in the path: refused.
    let url = |h: &Hash| format!("{cas}/v1/xorbs/default/{h}");
    let (status, headers, v) = post(&url(&x), Some(&bob), bytes.clone()).await;
    assert_error_body(status, &headers, &v, 404);
    let other = hash::chunk_hash(b"not this xorb");
    let (status, headers, v) = post(&url(&other), Some(&alice), bytes.clone()).await;
    assert_error_body(status, &headers, &v, 400);
    let mut damaged = bytes.clone();
    damaged[100] ^= 1;
    let (status, headers, v) = post(&url(&x), Some(&alice), damaged).await;
    assert_error_body(status, &headers, &v, 400);
    let (status, headers, v) =
        post(&url(&x), Some(&alice), bytes[..bytes.len() - 10].to_vec()).await;
    assert_error_body(status, &headers, &v, 400);
    let (status, headers, v) = post(
        &format!("{cas}/v1/xorbs/default/zz"),
        Some(&alice),
        bytes.clone(),
    )
    .await;
    assert_error_body(status, &headers, &v, 400);
    let (status, headers, v) = post(
        &url(&x),
        Some(&alice),
        vec![0u8; xorb::MAX_XORB_BYTES + (2 << 20)],
    )
    .await;
    assert_error_body(status, &headers, &v, 413);
    // None of it was kept.
    let repo = server
        .state
        .db
        .repo_by_path("alice", "ds")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(server.state.db.xet_stored_bytes(repo.id).await.unwrap(), 0);

    // The xorb itself, with the write token: stored once, however often it comes; damaged
    // bytes under its hash are refused even now that the dataset has it.
    let (status, _, v) = post(&url(&x), Some(&write), bytes.clone()).await;
    assert_eq!((status, &v), (200, &json!({"was_inserted": true})));
    let (status, _, v) = post(&url(&x), Some(&alice), bytes.clone()).await;
    assert_eq!((status, &v), (200, &json!({"was_inserted": false})));
    let mut damaged = bytes.clone();
    damaged[100] ^= 1;
    let (status, headers, v) = post(&url(&x), Some(&write), damaged).await;
    assert_error_body(status, &headers, &v, 400);
    assert_eq!(
        server.state.db.xet_stored_bytes(repo.id).await.unwrap(),
        bytes.len() as i64
    );

    // The dedup query: alice learns which xorb holds a chunk, keyed; bob learns nothing, in his
    // dataset or hers.
    let marked = format!("{cas}/v1/chunks/default/{}", chunks[0].0);
    let resp = get(&marked, Some(&alice), None).await;
    assert_eq!(
        resp.status(),
        404,
        "no shard named the file's first chunk yet"
    );
    let bob_own = format!(
        "{}/api/datasets/bob/ds/xet/v1/chunks/default/{}",
        server.url, chunks[0].0
    );

    // Shards: bob cannot name alice's xorb in his dataset (no dedup across datasets), and a
    // term must check against the xorb: verification, range, file hash.
    let good = shard_of(x, &chunks, sha256(&data));
    let (status, headers, v) = post(
        &format!("{}/api/datasets/bob/ds/xet/v1/shards", server.url),
        Some(&bob),
        good.clone(),
    )
    .await;
    assert_error_body(status, &headers, &v, 400);
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("not uploaded to bob/ds"),
        "{v}"
    );
    let mut wrong = shard::parse(&good).unwrap();
    wrong.files[0].verification[0] = other;
    let mut past = shard::parse(&good).unwrap();
    past.files[0].segments[0].end += 1;
    let mut false_hash = shard::parse(&good).unwrap();
    false_hash.files[0].hash = other;
    for bad in [
        shard::write(&wrong),
        shard::write(&past),
        shard::write(&false_hash),
        b"not a shard".to_vec(),
        good[..good.len() / 2].to_vec(),
    ] {
        let (status, headers, v) = post(&format!("{cas}/v1/shards"), Some(&alice), bad).await;
        assert_error_body(status, &headers, &v, 400);
    }
    let file = hash::file_hash(&chunks);
    // Not recorded: no reconstruction of it.
    let resp = get(
        &format!("{cas}/v1/reconstructions/{file}"),
        Some(&alice),
        None,
    )
    .await;
    assert_eq!(resp.status(), 404);

    // A shard whose sha256 is false: recorded, but a commit naming that sha256 finds the file
    // reads back as something else, and is refused as naming an object never uploaded.
    let lie = noise(200_000, 11);
    let (lx, lbytes, lchunks) = xorb_of(&lie);
    assert_eq!(post(&url(&lx), Some(&alice), lbytes).await.0, 200);
    let claimed = b"what the shard says it is";
    let (status, _, v) = post(
        &format!("{cas}/v1/shards"),
        Some(&alice),
        shard_of(lx, &lchunks, sha256(claimed)),
    )
    .await;
    assert_eq!((status, &v), (200, &json!({"result": 1})));
    let claimed_oid = strata_lfs::Oid::of(claimed).to_string();
    let (status, v) = commit(&server, &alice, "lie.bin", &claimed_oid, lie.len()).await;
    assert_eq!(status, 422, "{v}");
    // A claim no commit checked yet gives way to the next (a co-writer's false claim made
    // first cannot hold the file back): the false one again, the true one, and its commit.
    let shards = format!("{cas}/v1/shards");
    for sha in [sha256(claimed), sha256(&lie[..])] {
        let (status, _, v) = post(&shards, Some(&alice), shard_of(lx, &lchunks, sha)).await;
        assert_eq!((status, &v), (200, &json!({"result": 1})));
    }
    let lie_oid = strata_lfs::Oid::of(&lie).to_string();
    let (status, v) = commit(&server, &alice, "lie.bin", &lie_oid, lie.len()).await;
    assert_eq!(status, 200, "{v}");

    // The true shard, then the commit that names the file: it is the dataset's LFS object now.
    let (status, _, v) = post(&format!("{cas}/v1/shards"), Some(&alice), good.clone()).await;
    assert_eq!((status, &v), (200, &json!({"result": 1})));
    let (status, _, v) = post(&format!("{cas}/v1/shards"), Some(&alice), good).await;
    assert_eq!((status, &v), (200, &json!({"result": 0})));
    let resp = get(&marked, Some(&alice), None).await;
    assert_eq!(resp.status(), 200);
    let answer = shard::parse(&resp.bytes().await.unwrap()).unwrap();
    assert_eq!(answer.xorbs.len(), 1);
    assert_eq!(answer.xorbs[0].hash, x);
    assert_eq!(answer.xorbs[0].chunks.len(), chunks.len());
    // Keyed: the raw chunk hashes do not leave.
    assert!(answer.xorbs[0]
        .chunks
        .iter()
        .all(|c| chunks.iter().all(|r| r.0 != c.0)));
    for (who, url, status) in [(&bob, &bob_own, 404), (&bob, &marked, 404)] {
        let (got, headers, v) = body(get(url, Some(who), None).await).await;
        assert_error_body(got, &headers, &v, status);
    }
    let oid = strata_lfs::Oid::of(&data).to_string();
    let (status, v) = commit(&server, &alice, "data.bin", &oid, data.len()).await;
    assert_eq!(status, 200, "{v}");
    let raw = get(
        &format!("{}/api/v1/datasets/alice/ds/raw/data.bin", server.url),
        Some(&alice),
        None,
    )
    .await;
    assert_eq!(raw.bytes().await.unwrap().as_ref(), data.as_slice());

    // The reconstruction: terms and signed ranges that read the chunks back.
    let resp = get(
        &format!("{cas}/v1/reconstructions/{file}"),
        Some(&alice),
        None,
    )
    .await;
    assert_eq!(resp.status(), 200);
    let r: Value = resp.json().await.unwrap();
    assert_eq!(r["offset_into_first_range"], 0);
    assert_eq!(r["terms"][0]["hash"], x.hex());
    assert_eq!(r["terms"][0]["unpacked_length"], data.len());
    let fetch = &r["fetch_info"][x.hex()][0];
    let href = fetch["url"].as_str().unwrap().to_owned();
    let (first, last) = (
        fetch["url_range"]["start"].as_u64().unwrap(),
        fetch["url_range"]["end"].as_u64().unwrap(),
    );
    let wanted = format!("bytes={first}-{last}");
    let got = get(&href, None, Some(&wanted)).await;
    assert_eq!(got.status(), 206);
    let got = got.bytes().await.unwrap();
    let mut decoded = Vec::new();
    xorb::decode(&got, &mut decoded).unwrap();
    assert_eq!(decoded, data);
    // The URL reads its range only: another range, or a URL changed, is refused.
    let resp = get(&href, None, Some(&format!("bytes={first}-{}", last + 1))).await;
    assert_eq!(resp.status(), 416);
    let forged = href.replace(
        &format!("r={first}-{last}"),
        &format!("r={first}-{}", last + 1),
    );
    assert_ne!(forged, href);
    let (status, headers, v) = body(get(&forged, None, None).await).await;
    assert_error_body(status, &headers, &v, 403);

    // A range: its offset into the first term; past the end, 416.
    let resp = get(
        &format!("{cas}/v1/reconstructions/{file}"),
        Some(&alice),
        Some("bytes=150000-150009"),
    )
    .await;
    let part: Value = resp.json().await.unwrap();
    let skipped: u64 = chunks
        .iter()
        .map(|c| c.1)
        .scan(0u64, |at, n| {
            let start = *at;
            *at += n;
            Some((start, *at))
        })
        .find(|(_, end)| *end > 150_000)
        .unwrap()
        .0;
    assert_eq!(part["offset_into_first_range"], 150_000 - skipped, "{part}");
    assert_eq!(part["terms"].as_array().unwrap().len(), 1, "{part}");
    let resp = get(
        &format!("{cas}/v1/reconstructions/{file}"),
        Some(&alice),
        Some(&format!("bytes={}-", data.len())),
    )
    .await;
    assert_eq!(resp.status(), 416);

    // Readers only: a stranger and the anonymous are told there is no such dataset, and a
    // reader may not write.
    for who in [Some(bob.as_str()), Some("anonymous"), None] {
        let resp = get(&format!("{cas}/v1/reconstructions/{file}"), who, None).await;
        assert!(
            matches!(resp.status().as_u16(), 401 | 404),
            "{who:?}: {}",
            resp.status()
        );
    }
    let carol = server.user("carol").await;
    let resp = client()
        .put(format!(
            "{}/api/v1/datasets/alice/ds/collaborators/carol",
            server.url
        ))
        .bearer_auth(&alice)
        .json(&json!({"permission": "read"}))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "{}", resp.text().await.unwrap());
    let resp = get(
        &format!("{cas}/v1/reconstructions/{file}"),
        Some(&carol),
        None,
    )
    .await;
    assert_eq!(resp.status(), 200);
    let (status, headers, v) = post(&url(&other), Some(&carol), vec![1, 2, 3]).await;
    assert_error_body(status, &headers, &v, 403);
    let (status, headers, v) = body(get(&marked, Some(&carol), None).await).await;
    assert_error_body(status, &headers, &v, 403);

    // /metrics: the bytes kept in xorbs, and those of the files they make.
    let metrics = server.metrics_text().await;
    let gauge = |name: &str| {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .and_then(|v| v.parse::<i64>().ok())
    };
    assert_eq!(
        gauge("strata_xet_stored_bytes"),
        Some(server.state.db.xet_stored_bytes(repo.id).await.unwrap()),
        "{metrics}"
    );
    assert_eq!(
        gauge("strata_xet_file_bytes"),
        Some((data.len() + lie.len()) as i64)
    );

    // The file's page on the Hub API says it is a Xet file, and where to ask for a token.
    let head = client()
        .head(format!(
            "{}/datasets/alice/ds/resolve/main/data.bin",
            server.url
        ))
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap();
    assert_eq!(head.headers()["x-xet-hash"].to_str().unwrap(), file.hex());
    assert!(head.headers()["link"]
        .to_str()
        .unwrap()
        .contains("/api/datasets/alice/ds/xet-read-token/"));
}

/// A Xet upload that no commit names keeps its xorbs only for the grace period after its shard:
/// a collection within it keeps them (the commit that comes then lands), one after it lets them
/// go, and a commit that comes too late is refused rather than naming bytes that are gone. A
/// dedup answer takes the xorbs it names back from collection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_xet_upload_no_commit_names_goes_after_the_grace_period() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let root = server.user_with("root", true, "*").await;
    let repo = server.repo("alice/ds", Visibility::Private).await;
    let cas = format!("{}/api/datasets/alice/ds/xet", server.url);
    let db = &server.state.db;
    let send = |data: Vec<u8>| {
        let (cas, alice) = (cas.clone(), alice.clone());
        async move {
            let (x, bytes, chunks) = xorb_of(&data);
            let url = format!("{cas}/v1/xorbs/default/{x}");
            assert_eq!(post(&url, Some(&alice), bytes).await.0, 200);
            let shard = shard_of(x, &chunks, sha256(&data));
            let (status, _, v) = post(&format!("{cas}/v1/shards"), Some(&alice), shard).await;
            assert_eq!((status, &v), (200, &json!({"result": 1})));
            x
        }
    };
    let gc = |grace: u64| {
        let (url, root) = (format!("{}/api/v1/admin/gc", server.url), root.clone());
        async move {
            let r = client()
                .post(url)
                .bearer_auth(root)
                .json(&json!({"grace_secs": grace}))
                .send()
                .await
                .unwrap();
            let (status, _, v) = body(r).await;
            assert_eq!(status, 200, "{v}");
        }
    };

    // Within the grace period: kept, and the commit naming the file lands.
    let kept = noise(150_000, 21);
    let kx = send(kept.clone()).await;
    gc(3600).await;
    let oid = strata_lfs::Oid::of(&kept).to_string();
    let (status, v) = commit(&server, &alice, "kept.bin", &oid, kept.len()).await;
    assert_eq!(status, 200, "{v}");
    // A dedup answer naming a xorb marked for collection takes it back: the client will name it
    // in its shard rather than send its chunks again.
    let xorb_oid = db.xet_xorb(repo.id, &kx.hex()).await.unwrap().unwrap().oid;
    let marked = vec![xorb_oid.clone()];
    db.gc_mark(repo.id, &marked, strata_core::db::now() + 10)
        .await
        .unwrap();
    let candidate = |c: Vec<(String, i64)>| c.iter().any(|(o, _)| *o == xorb_oid);
    assert!(candidate(db.gc_candidates(repo.id).await.unwrap()));
    let (_, _, kc) = xorb_of(&kept);
    let asked = get(
        &format!("{cas}/v1/chunks/default/{}", kc[0].0),
        Some(&alice),
        None,
    )
    .await;
    assert_eq!(asked.status(), 200);
    assert!(!candidate(db.gc_candidates(repo.id).await.unwrap()));

    // After it: the xorb goes, and so does the record of the file; the late commit is refused.
    let late = noise(150_000, 23);
    let lx = send(late.clone()).await;
    assert!(db.xet_xorb(repo.id, &lx.hex()).await.unwrap().is_some());
    gc(0).await;
    assert!(db.xet_xorb(repo.id, &lx.hex()).await.unwrap().is_none());
    assert!(db.xet_xorb(repo.id, &kx.hex()).await.unwrap().is_some());
    let late_oid = strata_lfs::Oid::of(&late).to_string();
    let (status, v) = commit(&server, &alice, "late.bin", &late_oid, late.len()).await;
    assert!((400..500).contains(&status), "{status} {v}");
    let read = |path: &'static str| {
        let url = format!("{}/api/v1/datasets/alice/ds/raw/{path}", server.url);
        let alice = alice.clone();
        async move {
            let r = get(&url, Some(&alice), None).await;
            (r.status().as_u16(), r.bytes().await.unwrap().to_vec())
        }
    };
    assert_eq!(read("kept.bin").await, (200, kept));
    assert_eq!(read("late.bin").await.0, 404);
}

/// Xorbs uploaded side by side into a namespace near its quota cannot all take the same room
/// (eight of 1.5 MB at once into 5 MB):
/// those that fit are stored, the others refused (507), and the namespace holds no more than
/// its quota.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xorbs_uploaded_side_by_side_stay_within_the_quota() {
    let server = TestServer::start_with(Backend::Local, |c| c.quota_bytes = 5_000_000).await;
    let alice = server.user("alice").await;
    let repo = server.repo("alice/ds", Visibility::Private).await;
    let cas = format!("{}/api/datasets/alice/ds/xet", server.url);
    // Large enough that storing each takes a while, so they overlap.
    let sends = (0..8u64).map(|n| {
        let (x, bytes, _) = xorb_of(&noise(1_500_000, 100 + 2 * n));
        let (url, alice) = (format!("{cas}/v1/xorbs/default/{x}"), alice.clone());
        async move {
            let (status, headers, v) = post(&url, Some(&alice), bytes).await;
            if status != 200 {
                assert_error_body(status, &headers, &v, 507);
            }
            status
        }
    });
    let statuses = futures_util::future::join_all(sends).await;
    let stored = statuses.iter().filter(|s| **s == 200).count();
    assert!((1..=3).contains(&stored), "{statuses:?}");
    let bytes = server.state.db.xet_stored_bytes(repo.id).await.unwrap();
    assert!(bytes <= 5_000_000, "{bytes} bytes stored: {statuses:?}");
}
