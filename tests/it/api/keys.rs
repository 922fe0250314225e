//! Keys without a manual, in process: a table whose Table Schema declares no key has its rows
//! matched on a column unique and never empty in both revisions (25 edited prices read as 25
//! changed rows, not 25 removed and 25 added), and says so; with no such column rows are compared
//! whole. Browser uploads: only tables become resources, typed in one commit for the upload.
//! Comments on merge requests refused as a stranger sends them.

use serde_json::{json, Value};

use super::tables::dataset;
use crate::common::api::api;

fn prices(edited: usize) -> Vec<u8> {
    let mut out = String::from("id,name,price\n");
    for i in 1..=60 {
        let price = i % 9 + if i <= edited { 100 } else { 1 };
        out.push_str(&format!("{i},item {i},{price}\n"));
    }
    out.into_bytes()
}

#[tokio::test]
async fn a_keyless_table_is_matched_on_a_unique_column_and_says_so() {
    let t = dataset(&[("prices", "prices.csv", prices(0))]).await;
    let (alice, api) = (&t.token, &t.base);
    let (_, head) = t.get(api, alice).await;
    let from = head["revision"]["id"].as_str().unwrap().to_owned();
    t.put_resources(&[("prices", "prices.csv", prices(25))], json!({}))
        .await;
    let (status, d) = t
        .get(&format!("{api}/tables/prices/diff?from={from}"), alice)
        .await;
    assert_eq!(status, 200, "{d}");
    assert_eq!(d["key"], json!(["id"]), "{d}");
    assert_eq!(d["key_inferred"], json!(true));
    assert_eq!(d["candidate_keys"], json!(["id", "name"]));
    assert_eq!(
        d["counts"],
        json!({"added": 0, "removed": 0, "changed": 25}),
        "{d}"
    );
    let keys: Vec<i64> = d["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["key"]["id"].as_i64().unwrap())
        .collect();
    assert_eq!(keys, (1..=25).collect::<Vec<_>>(), "in key order");
    assert_eq!(d["rows"][0]["changed"], json!(["price"]));

    // No column unique in both: rows compared whole, as before.
    let dup = b"id,price\n1,10\n1,20\n2,30\n".to_vec();
    let (_, head) = t.get(api, alice).await;
    let from = head["revision"]["id"].as_str().unwrap().to_owned();
    t.put_resources(&[("prices", "prices.csv", dup)], json!({}))
        .await;
    let (_, d) = t
        .get(&format!("{api}/tables/prices/diff?from={from}"), alice)
        .await;
    assert_eq!(d["key"], json!([]), "{d}");
    assert_eq!(d["key_inferred"], json!(false));
}

/// One browser upload (an NDJSON commit with `describe`) of tables, an image and a text file.
#[tokio::test]
async fn only_tables_become_resources_and_are_typed_in_one_commit() {
    let t = dataset(&[]).await;
    let (alice, base) = (&t.token, &t.base);
    let repo = format!("{}/t", t.user);
    let files: Vec<(String, Vec<u8>)> = vec![
        ("a.csv".into(), b"id,n\n1,2\n".to_vec()),
        ("sub/b.csv".into(), b"id,when\n1,2026-01-02\n".to_vec()),
        ("c.tsv".into(), b"id\tx\n1\t1.5\n".to_vec()),
        ("photo.png".into(), b"\x89PNG\r\n\x1a\nnot really".to_vec()),
        ("notes.txt".into(), b"hello\n".to_vec()),
    ];
    let (_, head) = t.get(base, alice).await;
    let mut body = vec![
        json!({"key": "header", "value": {"summary": "Upload 5 files",
        "parent": head["revision"]["id"], "describe": true}})
        .to_string(),
    ];
    for (path, data) in &files {
        let oid = t.api.upload(&repo, alice, data).await;
        body.push(
            json!({"key": "lfsFile", "value": {"path": path, "oid": oid.to_string(),
                "size": data.len()}})
            .to_string(),
        );
    }
    let r = api()
        .await
        .post(format!("{base}/commit"))
        .bearer(alice)
        .header("content-type", "application/x-ndjson")
        .body(body.join("\n"))
        .send()
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let (_, d) = t.get(base, alice).await;
    let resources: Vec<&str> = d["datapackage"]["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["path"].as_str().unwrap())
        .collect();
    assert_eq!(resources, ["a.csv", "sub/b.csv", "c.tsv"], "{d}");
    let typed = |name: &str| -> Value {
        d["datapackage"]["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == name)
            .unwrap()["schema"]["fields"]
            .clone()
    };
    assert_eq!(typed("b")[1], json!({"name": "when", "type": "date"}));
    // The upload, then one commit typing its three tables.
    let (_, h) = t.get(&format!("{base}/revisions?limit=5"), alice).await;
    let messages: Vec<&str> = h["revisions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["message"].as_str().unwrap().lines().next().unwrap())
        .collect();
    assert_eq!(
        &messages[..2],
        ["Types of the columns of 3 tables", "Upload 5 files"],
        "{h}"
    );
}
