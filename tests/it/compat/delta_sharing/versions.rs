//! Which versions a recipient reads: a table shared from a later version on (earlier ones and a
//! feed reaching back before it refused; the start read whole as inserts), and a table shared
//! at a tag (its history stops there, whatever the branch does next).

use serde_json::{json, Value};

use super::{delta, loaded, post, put_orders, sql_rows};
use crate::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_share_reads_from_its_start_and_a_tag_stays_where_it_is() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let dir = tempfile::tempdir().unwrap();
    let (status, v) = post(
        &server,
        &alice,
        "datasets",
        json!({"namespace": "alice", "name": "sales", "visibility": "private"}),
    )
    .await;
    assert_eq!(status, 201, "{v}");
    put_orders(&server, &alice, "id,item,qty\n1,apple,3\n2,pear,1\n").await;
    let v1 = put_orders(&server, &alice, "id,item,qty\n1,apple,4\n2,pear,1\n").await;
    let (status, v) = post(
        &server,
        &alice,
        "datasets/alice/sales/tags",
        json!({"name": "q3", "revision": v1}),
    )
    .await;
    assert_eq!(status, 201, "{v}");
    let v2 = put_orders(&server, &alice, "id,item,qty\n1,apple,4\n3,plum,8\n").await;

    let (status, v) = post(
        &server,
        &alice,
        "namespaces/alice/delta-shares",
        json!({"name": "s"}),
    )
    .await;
    assert_eq!(status, 201, "{v}");
    for table in [
        json!({"schema": "o", "name": "recent", "dataset": "sales", "resource": "orders", "start_version": 1}),
        json!({"schema": "o", "name": "q3", "dataset": "sales", "resource": "orders", "at": "q3"}),
    ] {
        let (status, v) = post(
            &server,
            &alice,
            "namespaces/alice/delta-shares/s/tables",
            table,
        )
        .await;
        assert_eq!(status, 201, "{v}");
    }
    let (status, v) = post(
        &server,
        &alice,
        "namespaces/alice/recipients",
        json!({"name": "r", "shares": ["s"]}),
    )
    .await;
    assert_eq!(status, 201, "{v}");
    let profile = v["profile"].clone();

    // From version 1 on: version 0 is not shared, nor a feed that starts there.
    let before = delta(dir.path(), &profile, &["load", "s.o.recent", "0"]).await;
    assert_eq!(before["error"], "HTTPError", "{before}");
    assert!(
        before["message"]
            .as_str()
            .unwrap()
            .contains("since version 1"),
        "{before}"
    );
    let early = delta(dir.path(), &profile, &["changes", "s.o.recent", "0"]).await;
    assert_eq!(early["error"], "HTTPError", "{early}");
    let at1 = delta(dir.path(), &profile, &["load", "s.o.recent", "1"]).await;
    assert_eq!(loaded(&at1), sql_rows(&server, &alice, &v1).await);
    let latest = delta(dir.path(), &profile, &["load", "s.o.recent"]).await;
    assert_eq!(loaded(&latest), sql_rows(&server, &alice, &v2).await);
    // Its start comes whole (inserts: nothing before it is shared), then version 2's changes.
    let feed = delta(dir.path(), &profile, &["changes", "s.o.recent", "1"]).await;
    assert!(feed.get("error").is_none(), "{feed}");
    let mut changes: Vec<(i64, String, i64)> = feed["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r: &Value| {
            (
                r["_commit_version"].as_i64().unwrap(),
                r["_change_type"].as_str().unwrap().to_owned(),
                r["id"].as_i64().unwrap(),
            )
        })
        .collect();
    changes.sort();
    let expected: Vec<(i64, String, i64)> = [
        (1, "insert", 1),
        (1, "insert", 2),
        (2, "delete", 2),
        (2, "insert", 3),
    ]
    .iter()
    .map(|(v, t, id)| (*v, (*t).to_owned(), *id))
    .collect();
    assert_eq!(changes, expected, "{feed}");

    // At the tag: its two versions, the branch's third never reached.
    let version = delta(dir.path(), &profile, &["version", "s.o.q3"]).await;
    assert_eq!(version["version"], 1, "{version}");
    let tagged = delta(dir.path(), &profile, &["load", "s.o.q3"]).await;
    assert_eq!(loaded(&tagged), sql_rows(&server, &alice, &v1).await);
    let beyond = delta(dir.path(), &profile, &["load", "s.o.q3", "2"]).await;
    assert_eq!(beyond["error"], "HTTPError", "{beyond}");
}
