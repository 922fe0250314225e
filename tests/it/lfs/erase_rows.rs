//! Erasing rows by primary key: each version of a keyed table holding one is written again
//! without it, every revision points at the new versions, the old ones are erased, and the
//! canary (a value of the erased row) is nowhere any more; hostile requests first (no key in the
//! schema, wrong key columns, an unknown table, both paths and rows, neither).

use serde_json::{json, Value};
use strata_core::db::Visibility;

use super::erase::{erase, scan};
use crate::common::*;

/// A datapackage over `t.csv` (`data`), keyed on `id` when `keyed`.
fn keyed_package(data: &[u8], keyed: bool) -> Value {
    let mut schema =
        json!({"fields": [{"name": "id", "type": "integer"}, {"name": "name", "type": "string"}]});
    if keyed {
        schema["primaryKey"] = json!("id");
    }
    json!({"name": "people", "resources": [{"name": "t", "path": "t.csv", "format": "csv",
        "bytes": data.len(), "hash": format!("sha256:{}", sha256_hex(data)), "schema": schema}]})
}

async fn put_package(server: &TestServer, token: &str, package: Value) {
    let parent = server.head(token, "alice/people").await;
    let r = client()
        .put(format!("{}/api/v1/datasets/alice/people", server.url))
        .bearer_auth(token)
        .json(&json!({"datapackage": package, "parent": parent}))
        .send()
        .await
        .unwrap();
    let (status, _, v) = body(r).await;
    assert_eq!(status, 200, "{v}");
}

async fn raw(server: &TestServer, token: &str, rev: &str) -> String {
    let r = client()
        .get(format!(
            "{}/api/v1/datasets/alice/people/raw/t.csv?rev={rev}",
            server.url
        ))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.text().await.unwrap()
}

/// Rows by primary key, out of every version of a table: each version holding one is written
/// again without it, every revision points at the new versions, the old ones are erased, and
/// the canary (a value of the erased row) is nowhere any more.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_go_from_every_version_of_a_keyed_table() {
    let server = TestServer::start_with(Backend::Local, |c| c.gc_interval_secs = 0).await;
    let root = server.user_with("root", true, "*").await;
    let alice = server.user("alice").await;
    server.repo("alice/people", Visibility::Private).await;
    let canary = format!("CANARY-{}", uuid::Uuid::new_v4().simple());
    let v1 = format!("id,name\n1,ann\n2,{canary}\n3,cy\n").into_bytes();
    let v2 = format!("id,name\n1,ann\n2,{canary}\n3,cy\n4,di\n").into_bytes();
    for data in [&v1, &v2] {
        upload(&server, "alice/people", &alice, data).await;
    }
    // Not keyed yet: rows cannot be named.
    put_package(&server, &alice, keyed_package(&v1, false)).await;
    let rows =
        |keys: Value| json!({"rows": {"resource": "t", "keys": keys}, "confirm": "alice/people"});
    let (status, headers, v) =
        erase(&server, &root, "alice/people", rows(json!([{"id": 2}]))).await;
    assert_error_body(status, &headers, &v, 422);
    assert!(v["message"].as_str().unwrap().contains("primaryKey"), "{v}");
    put_package(&server, &alice, keyed_package(&v1, true)).await;
    let r = client()
        .post(format!("{}/api/v1/datasets/alice/people/tags", server.url))
        .bearer_auth(&alice)
        .json(&json!({"name": "v1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    put_package(&server, &alice, keyed_package(&v2, true)).await;
    let r = client()
        .get(format!(
            "{}/api/v1/datasets/alice/people/tables/t?format=parquet",
            server.url
        ))
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    for (bad, code) in [
        (rows(json!([{"name": "ann"}])), 422),
        (rows(json!([])), 422),
        (
            json!({"rows": {"resource": "nope", "keys": [{"id": 2}]}, "confirm": "alice/people"}),
            404,
        ),
        (
            json!({"paths": ["t.csv"], "rows": {"resource": "t", "keys": [{"id": 2}]}, "confirm": "alice/people"}),
            422,
        ),
        (json!({"confirm": "alice/people"}), 422),
    ] {
        let (status, headers, v) = erase(&server, &root, "alice/people", bad.clone()).await;
        assert_error_body(status, &headers, &v, code);
    }

    let (status, _, report) = erase(
        &server,
        &root,
        "alice/people",
        rows(json!([{"id": 2}, {"id": 99}])),
    )
    .await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["rows_removed"], 2, "one per version: {report}");
    let mut removed: Vec<&str> = report["objects_removed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["oid"].as_str().unwrap())
        .collect();
    removed.sort();
    let mut expected = vec![sha256_hex(&v1), sha256_hex(&v2)];
    expected.sort();
    assert_eq!(removed, expected, "{report}");
    assert_eq!(
        raw(&server, &alice, "main").await,
        "id,name\n1,ann\n3,cy\n4,di\n"
    );
    assert_eq!(raw(&server, &alice, "v1").await, "id,name\n1,ann\n3,cy\n");
    // The table reads (its datapackage names the new version), and its rows are the rest.
    let r = client()
        .get(format!(
            "{}/api/v1/datasets/alice/people/tables/t/rows",
            server.url
        ))
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap();
    let (status, _, table) = body(r).await;
    assert_eq!(status, 200, "{table}");
    assert!(!table.to_string().contains(&canary), "{table}");
    for needle in [
        canary.as_bytes(),
        sha256_hex(&v1).as_bytes(),
        sha256_hex(&v2).as_bytes(),
    ] {
        let hits = scan(&server.dir.path().join("data"), needle);
        assert!(
            hits.is_empty(),
            "{} found in {hits:?}",
            String::from_utf8_lossy(needle)
        );
    }
}
