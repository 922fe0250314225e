//! `multipart-basic` uploads (giftless's transfer adapter) on the local disk: negotiation, the
//! parts a batch hands out, resume (a second batch lists only the missing parts), commit with
//! missing parts, parts of the wrong size, a tampered part (nothing visible, parts discarded),
//! signatures bound to one part of one object of one dataset, abort, and giftless-client (PyPI)
//! uploading through it unchanged. Expired part and commit URLs: `api/transfers.rs`.

use crate::common::*;
use serde_json::{json, Value};

pub(crate) const PART: usize = 16 * 1024 * 1024;

pub(crate) fn payload(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 251) as u8).collect()
}

pub(crate) async fn batch(
    server: &TestServer,
    token: &str,
    oid: &str,
    size: usize,
    transfers: Value,
) -> Value {
    let req = json!({"operation": "upload", "transfers": transfers,
        "objects": [{"oid": oid, "size": size}]});
    let (status, _, v) =
        body(lfs_post(&server.batch_url("alice/big"), Some(token), &req).await).await;
    assert_eq!(status, 200, "{v}");
    v
}

pub(crate) async fn put(href: &str, data: Vec<u8>) -> u16 {
    client()
        .put(href)
        .body(data)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

pub(crate) async fn post(href: &str) -> (u16, Value) {
    let r = client().post(href).send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// A server on `backend` with alice, her `*` token and her private dataset `alice/big`.
pub(crate) async fn alice_big(backend: Backend) -> (TestServer, String) {
    let server = TestServer::start_with(backend, |_| {}).await;
    let token = server.user_with("alice", true, "*").await;
    server
        .repo("alice/big", strata_core::db::Visibility::Private)
        .await;
    (server, token)
}

/// Where the batch API says to download `oid` from alice/big; `None` when it is not linked there.
async fn download_href(server: &TestServer, token: &str, oid: &str, size: usize) -> Option<String> {
    let req = json!({"operation": "download", "objects": [{"oid": oid, "size": size}]});
    let (_, _, v) = body(lfs_post(&server.batch_url("alice/big"), Some(token), &req).await).await;
    v["objects"][0]["actions"]["download"]["href"]
        .as_str()
        .map(str::to_owned)
}

pub(crate) async fn linked(server: &TestServer, token: &str, oid: &str, size: usize) -> bool {
    download_href(server, token, oid, size).await.is_some()
}

/// The bytes of `oid` read back from alice/big through its download action.
pub(crate) async fn downloaded(
    server: &TestServer,
    token: &str,
    oid: &str,
    size: usize,
) -> Vec<u8> {
    let href = download_href(server, token, oid, size)
        .await
        .expect("the object is linked");
    let got = client().get(href).send().await.unwrap();
    got.bytes().await.unwrap().to_vec()
}

#[tokio::test]
async fn multipart_parts_resume_and_refusals() {
    let (server, token) = alice_big(Backend::Local).await;
    let data = payload(PART + 1000);
    let oid = sha256_hex(&data);
    let size = data.len();

    // git-lfs offers basic first and gets it; giftless's order gets multipart-basic.
    let v = batch(
        &server,
        &token,
        &oid,
        size,
        json!(["basic", "multipart-basic"]),
    )
    .await;
    assert_eq!(v["transfer"], "basic");
    let v = batch(
        &server,
        &token,
        &oid,
        size,
        json!(["multipart-basic", "basic"]),
    )
    .await;
    assert_eq!(v["transfer"], "multipart-basic", "{v}");
    let actions = &v["objects"][0]["actions"];
    let parts = actions["parts"].as_array().unwrap().clone();
    assert_eq!(parts.len(), 2);
    assert_eq!(
        (parts[0]["pos"].as_u64(), parts[0]["size"].as_u64()),
        (Some(0), Some(PART as u64))
    );
    assert_eq!(
        (parts[1]["pos"].as_u64(), parts[1]["size"].as_u64()),
        (Some(PART as u64), Some(1000))
    );
    assert!(parts[0]["header"].is_object());
    let commit = actions["commit"]["href"].as_str().unwrap().to_owned();
    let abort = actions["abort"]["href"].as_str().unwrap().to_owned();
    assert_eq!(actions["commit"]["method"], "POST");
    let href = |i: usize| parts[i]["href"].as_str().unwrap().to_owned();
    let whole = |i: usize| {
        let (pos, len) = (
            parts[i]["pos"].as_u64().unwrap() as usize,
            parts[i]["size"].as_u64().unwrap() as usize,
        );
        data[pos..pos + len].to_vec()
    };

    // A signature names one part: part 1's URL does not take part 2, nor a wrong length.
    assert_eq!(
        put(&href(0).replace("/parts/1?", "/parts/2?"), whole(1)).await,
        403
    );
    assert_eq!(put(&href(1), whole(1)[..999].to_vec()).await, 422);
    assert_eq!(put(&href(1), [whole(1), vec![0]].concat()).await, 422);
    // Nor another dataset (the row id is signed).
    assert_eq!(put(&href(0).replace("ds=", "ds=9"), whole(0)).await, 403);
    assert_eq!(put(&href(0), whole(0)).await, 200);

    // Resume: the next batch lists only what is missing, with fresh URLs.
    let v = batch(&server, &token, &oid, size, json!(["multipart-basic"])).await;
    let missing = v["objects"][0]["actions"]["parts"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(missing.len(), 1);
    assert_eq!(missing[0]["pos"].as_u64(), Some(PART as u64));
    // Committing early is a conflict that names the missing parts; nothing is visible.
    let (status, v) = post(&commit).await;
    assert_eq!(status, 409, "{v}");
    assert_eq!(v["missing_parts"], json!([2]));
    assert!(!linked(&server, &token, &oid, size).await);

    // A tampered part (right length, wrong bytes): the commit refuses the whole object and
    // throws the parts away.
    let mut bad = whole(1);
    bad[0] ^= 1;
    assert_eq!(put(&href(1), bad).await, 200);
    let (status, v) = post(&commit).await;
    assert_eq!(status, 422, "{v}");
    assert!(!linked(&server, &token, &oid, size).await);
    let v = batch(&server, &token, &oid, size, json!(["multipart-basic"])).await;
    assert_eq!(
        v["objects"][0]["actions"]["parts"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    // Abort throws uploaded parts away too.
    assert_eq!(put(&href(0), whole(0)).await, 200);
    assert_eq!(post(&abort).await.0, 204);
    let v = batch(&server, &token, &oid, size, json!(["multipart-basic"])).await;
    assert_eq!(
        v["objects"][0]["actions"]["parts"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    // All parts, one of them twice: the commit checks and links the object.
    assert_eq!(put(&href(1), whole(1)).await, 200);
    assert_eq!(put(&href(0), whole(0)).await, 200);
    assert_eq!(put(&href(1), whole(1)).await, 200);
    let (status, v) = post(&commit).await;
    assert_eq!(status, 200, "{v}");
    assert!(linked(&server, &token, &oid, size).await);
    // A retried commit (the answer was lost on the way) succeeds again.
    assert_eq!(post(&commit).await.0, 200);
    // Stored: a new batch has nothing to do.
    let v = batch(&server, &token, &oid, size, json!(["multipart-basic"])).await;
    assert!(v["objects"][0].get("actions").is_none(), "{v}");
    assert_eq!(server.temp_files(), 0);
    // Knowing an oid stored for another dataset is not enough: a commit without parts in a
    // dataset of one's own links nothing (and says only that parts are missing).
    server
        .repo("alice/other", strata_core::db::Visibility::Private)
        .await;
    let req = json!({"operation": "upload", "transfers": ["multipart-basic"],
        "objects": [{"oid": oid, "size": size}]});
    let (_, _, v) =
        body(lfs_post(&server.batch_url("alice/other"), Some(&token), &req).await).await;
    let steal = v["objects"][0]["actions"]["commit"]["href"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, v) = post(&steal).await;
    assert_eq!(status, 409, "{v}");
    let req = json!({"operation": "download", "objects": [{"oid": oid, "size": size}]});
    let (_, _, v) =
        body(lfs_post(&server.batch_url("alice/other"), Some(&token), &req).await).await;
    assert!(v["objects"][0]["actions"].is_null(), "{v}");

    // An abandoned upload is purged once idle for long enough, not before.
    let other = payload(100);
    let v = batch(
        &server,
        &token,
        &sha256_hex(&other),
        100,
        json!(["multipart-basic"]),
    )
    .await;
    let href = v["objects"][0]["actions"]["parts"][0]["href"]
        .as_str()
        .unwrap();
    assert_eq!(put(href, other.clone()).await, 200);
    let storage = &server.state.storage;
    let hour = std::time::Duration::from_secs(3600);
    assert_eq!(storage.purge_multipart(hour).await.unwrap(), 0);
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let idle = std::time::Duration::from_millis(10);
    assert_eq!(storage.purge_multipart(idle).await.unwrap(), 1);
    let parts = server.dir.path().join("data/objects/parts");
    assert!(!parts.exists() || std::fs::read_dir(parts).unwrap().count() == 0);
}

/// A client that offers no transfer strata has gets a clear 422 naming the ones it has.
#[tokio::test]
async fn unknown_transfers_are_refused_by_name() {
    let (server, token) = alice_big(Backend::Local).await;
    let req = json!({"operation": "upload", "transfers": ["tus", "ssh"],
        "objects": [{"oid": sha256_hex(b"small"), "size": 5}]});
    let (status, _, v) =
        body(lfs_post(&server.batch_url("alice/big"), Some(&token), &req).await).await;
    assert_eq!(status, 422, "{v}");
    let message = v["message"].as_str().unwrap();
    assert!(message.contains("basic and multipart-basic"), "{message}");
}

#[tokio::test]
async fn giftless_client_uploads_through_multipart_basic() {
    giftless_round_trip(Backend::Local).await;
}

/// giftless-client uploads a three-part object through `multipart-basic`; a second batch has
/// nothing to do and the bytes read back are the bytes sent.
pub(crate) async fn giftless_round_trip(backend: Backend) {
    let (server, token) = alice_big(backend).await;
    let data = payload(2 * PART + 12345);
    let file = server.dir.path().join("upload.bin");
    std::fs::write(&file, &data).unwrap();
    let script = r#"
import json, sys
from giftless_client import LfsClient
url, token, path = sys.argv[1:4]
client = LfsClient(url, auth_token=token, transfer_adapters=["multipart-basic", "basic"])
with open(path, "rb") as f:
    done = client.upload(f, "alice", "big", filename="upload.bin")
again = client.batch("alice/big", "upload", [{"oid": done["oid"], "size": done["size"]}])
print(json.dumps({"done": done, "again": again}))
"#;
    // The server runs on this test's runtime: wait for the client without blocking it.
    let out = tokio::process::Command::new(python_tool("python"))
        .args(["-c", script, &server.url, &token, file.to_str().unwrap()])
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["done"]["oid"], sha256_hex(&data));
    assert_eq!(v["again"]["transfer"], "multipart-basic");
    assert!(v["again"]["objects"][0].get("actions").is_none(), "{v}");
    // The bytes read back are the bytes sent.
    let got = downloaded(&server, &token, &sha256_hex(&data), data.len()).await;
    assert!(got == data);
}
