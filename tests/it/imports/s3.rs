//! A bucket (s3s-fs) as the import source on the S3 backend: the files are read through strata
//! (the batch API hands out strata's own URL for them, never a presigned one to the bucket
//! strata writes), byte for byte, and one changed in the bucket answers 409.

use serde_json::json;

use super::{create, download_href, ended, raw, start};
use crate::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bucket_prefix_adopted_and_read_through_strata() {
    let server = TestServer::start_with(Backend::S3, |c| {
        let mut url = url::Url::parse("s3://source-bucket/exports").unwrap();
        url.query_pairs_mut()
            .append_pair("endpoint", c.s3_endpoint.as_deref().unwrap())
            .append_pair("path_style", "true")
            .append_pair("namespace", "alice");
        c.import_sources = vec![format!("warehouse={url}").parse().unwrap()];
    })
    .await;
    let root = server
        .s3
        .as_ref()
        .unwrap()
        .root
        .path()
        .join("source-bucket");
    std::fs::create_dir_all(root.join("exports/day=1")).unwrap();
    let parquetish: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(root.join("exports/day=1/part-0.bin"), &parquetish).unwrap();
    std::fs::write(root.join("exports/readme.txt"), b"exported nightly").unwrap();
    let alice = server.user("alice").await;
    create(&server, &alice, "alice", "wh").await;
    let id = start(&server, &alice, "alice/wh", json!({"source": "warehouse"})).await;
    let done = ended(&server, &alice, "alice/wh", id).await;
    assert_eq!(done["state"], "done", "{done}");
    assert_eq!(done["objects"], 2, "{done}");

    let (s, got) = raw(&server, &alice, "alice/wh", "day=1/part-0.bin", None).await;
    assert_eq!(s, 200);
    assert!(got == parquetish);
    // The batch API's download action is strata's, and serves the bytes.
    let oid = sha256_hex(&parquetish);
    let href = download_href(&server, &alice, "alice/wh", &oid, parquetish.len()).await;
    assert!(href.starts_with(&server.url), "{href}");
    let got = client()
        .get(&href)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert!(got == parquetish);

    // Changed in the bucket: refused, never served.
    std::fs::write(root.join("exports/readme.txt"), b"exported nightly, v2").unwrap();
    let (s, got) = raw(&server, &alice, "alice/wh", "readme.txt", None).await;
    assert_eq!(s, 409, "{}", String::from_utf8_lossy(&got));
}
