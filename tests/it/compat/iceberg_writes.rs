//! Writes through the Iceberg catalog with PyIceberg (`iceberg_client.py write`): an append and
//! an overwrite land as revisions of the table's CSV resource (the rows strata's SQL reads, the
//! commit's message), a contract-breaking append is refused with the contract's message and
//! changes nothing, a commit from a stale load is 409 CommitFailed (PyIceberg retries it on a new
//! load: two writers' appends both land), and a reader can neither
//! stage a file (the gateway refuses their read-only key) nor commit (403); an anonymous caller
//! is 401; malformed commits are 400 in the spec's error model. Staged files are their stager's
//! alone, deleted by them, and a commit takes only the ones it names.

use serde_json::{json, Value};

use super::iceberg::engine_at;
use crate::common::*;

/// PyIceberg writes `rows` to `alice.sales.orders` as `token` with `op`.
async fn write(server: &TestServer, token: &str, op: &str, rows: Value) -> Value {
    let spec = json!({"op": op, "rows": rows}).to_string();
    engine_at(
        "write",
        &server.url,
        Some(token),
        "alice.sales.orders",
        "",
        &spec,
    )
    .await
}

/// strata's SQL's rows of `orders` at the head of `main`, as the client prints them.
async fn sql(server: &TestServer, token: &str) -> Vec<String> {
    super::iceberg::sql_rows(server, token, "main").await
}

/// The head revision's message.
async fn message(server: &TestServer, token: &str) -> String {
    let v: Value = client()
        .get(format!("{}/api/v1/datasets/alice/sales", server.url))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["revision"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// The S3 key pair a load of `orders` hands `token`.
async fn keys_of(server: &TestServer, token: &str) -> (String, String) {
    let r = client()
        .get(format!(
            "{}/iceberg/v1/main/namespaces/alice%1Fsales/tables/orders",
            server.url
        ))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let (status, _, v) = body(r).await;
    assert_eq!(status, 200, "{v}");
    let c = &v["config"];
    (
        c["s3.access-key-id"].as_str().unwrap().to_owned(),
        c["s3.secret-access-key"].as_str().unwrap().to_owned(),
    )
}

/// `aws s3 ARGS…` against the gateway with a key pair; whether it worked, and what it said.
fn aws(s3: &str, (id, secret): &(String, String), args: &[&str]) -> (bool, String) {
    let out = super::iceberg::aws_s3(s3, id, secret, args);
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), said)
}

fn rows_of(v: &Value) -> Vec<String> {
    serde_json::from_value(v["rows"].clone()).unwrap_or_else(|_| panic!("{v}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pyiceberg_appends_and_overwrites_land_as_revisions_through_the_contract() {
    let server = TestServer::start().await;
    let s3 = crate::compat::s3::gateway(&server).await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let r = client()
        .post(format!("{}/api/v1/datasets", server.url))
        .bearer_auth(&alice)
        .json(&json!({"namespace": "alice", "name": "sales", "visibility": "public"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    // The contract: a quantity is never negative.
    let csv = "id,item,qty\n1,apple,3\n2,pear,5\n";
    upload(&server, "alice/sales", &alice, csv.as_bytes()).await;
    let pkg = json!({"name": "sales", "resources": [{"name": "orders", "path": "orders.csv",
        "format": "csv", "bytes": csv.len(), "hash": format!("sha256:{}", sha256_hex(csv.as_bytes())),
        "schema": {"fields": [{"name": "id", "type": "integer"}, {"name": "item", "type": "string"},
            {"name": "qty", "type": "integer", "constraints": {"minimum": 0}}]}}]});
    let parent = server.head(&alice, "alice/sales").await;
    let r = client()
        .put(format!("{}/api/v1/datasets/alice/sales", server.url))
        .bearer_auth(&alice)
        .json(&json!({"datapackage": pkg, "parent": parent, "message": "orders"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let first = server.head(&alice, "alice/sales").await.unwrap();

    // An append: one revision, the rows strata's SQL reads, PyIceberg's next load the same.
    let appended = write(
        &server,
        &alice,
        "append",
        json!([{"id": 3, "item": "fig", "qty": 7}]),
    )
    .await;
    assert!(appended.get("error").is_none(), "{appended}");
    let now = sql(&server, &alice).await;
    assert_eq!(now.len(), 3, "{now:?}");
    assert!(now.iter().any(|r| r.contains("fig")), "{now:?}");
    assert_eq!(rows_of(&appended), now, "{appended}");
    assert_eq!(appended["snapshots"], 2, "{appended}");
    let second = server.head(&alice, "alice/sales").await.unwrap();
    assert_ne!(second, first);
    assert!(message(&server, &alice)
        .await
        .starts_with("Iceberg append to orders: 1 rows"));

    // A negative quantity breaks the contract: refused with its message, nothing lands.
    let broken = write(
        &server,
        &alice,
        "append",
        json!([{"id": 4, "item": "kiwi", "qty": -1}]),
    )
    .await;
    assert!(broken.get("error").is_some(), "{broken}");
    let said = broken["message"].as_str().unwrap();
    assert!(
        said.contains("contract") && said.contains("qty"),
        "{broken}"
    );
    assert_eq!(server.head(&alice, "alice/sales").await.unwrap(), second);
    assert_eq!(sql(&server, &alice).await, now);

    // Two writers from the same load: the second commit's requirement is stale (409
    // CommitFailed), PyIceberg loads again and retries, and both appends land: none is lost.
    let first_snapshot = appended["current"].as_i64().unwrap();
    let both = write(
        &server,
        &alice,
        "stale",
        json!([{"id": 5, "item": "plum", "qty": 1}]),
    )
    .await;
    assert!(both.get("error").is_none(), "{both}");
    let plums = sql(&server, &alice).await;
    assert_eq!(
        plums.iter().filter(|r| r.contains("plum")).count(),
        2,
        "{plums:?}"
    );
    assert_eq!(rows_of(&both), plums);
    // The 409 itself, from a commit naming a snapshot main has moved past.
    let commit = format!(
        "{}/iceberg/v1/main/namespaces/alice%1Fsales/tables/orders",
        server.url
    );
    let head = server.head(&alice, "alice/sales").await.unwrap();
    let r = client()
        .post(&commit)
        .bearer_auth(&alice)
        .json(&json!({
            "requirements": [{"type": "assert-ref-snapshot-id", "ref": "main", "snapshot-id": first_snapshot}],
            "updates": [
            {"action": "add-snapshot", "snapshot": {"snapshot-id": 78, "manifest-list":
                "s3://alice.sales/.iceberg/orders/metadata/snap-78-0-x.avro"}},
            {"action": "set-snapshot-ref", "ref-name": "main", "type": "branch", "snapshot-id": 78}]}))
        .send()
        .await
        .unwrap();
    let (status, _, v) = body(r).await;
    assert_eq!(status, 409, "{v}");
    assert_eq!(v["error"]["type"], "CommitFailedException", "{v}");
    assert_eq!(server.head(&alice, "alice/sales").await.unwrap(), head);

    // An overwrite replaces the rows.
    let over = write(
        &server,
        &alice,
        "overwrite",
        json!([{"id": 9, "item": "lime", "qty": 2}]),
    )
    .await;
    assert!(over.get("error").is_none(), "{over}");
    assert_eq!(
        sql(&server, &alice).await,
        vec![r#"{"id": 9, "item": "lime", "qty": 2}"#.to_owned()]
    );
    assert_eq!(rows_of(&over), sql(&server, &alice).await);
    assert!(message(&server, &alice)
        .await
        .starts_with("Iceberg overwrite of orders: 1 rows"));

    // A reader: their key stages nothing (the gateway refuses the data file), and the catalog
    // refuses their commit; an anonymous caller must sign in.
    let head = server.head(&alice, "alice/sales").await.unwrap();
    let bobs = write(
        &server,
        &bob,
        "append",
        json!([{"id": 6, "item": "yam", "qty": 1}]),
    )
    .await;
    assert!(bobs.get("error").is_some(), "{bobs}");
    assert!(
        bobs["message"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("access"),
        "{bobs}"
    );
    assert_eq!(server.head(&alice, "alice/sales").await.unwrap(), head);
    let empty = json!({"requirements": [], "updates": []});
    let r = client()
        .post(&commit)
        .bearer_auth(&bob)
        .json(&empty)
        .send()
        .await
        .unwrap();
    let (status, _, v) = body(r).await;
    assert_eq!(status, 403, "{v}");
    assert_eq!(v["error"]["type"], "ForbiddenException", "{v}");
    let r = client().post(&commit).json(&empty).send().await.unwrap();
    assert_eq!(r.status(), 401);

    // Malformed commits: the spec's 400, with a message and the request id.
    for bad in [
        "not json".to_owned(),
        json!({"updates": "x"}).to_string(),
        json!({"updates": [{"action": "set-properties", "updates": {"a": "b"}}]}).to_string(),
        json!({"updates": [{"action": "set-snapshot-ref", "ref-name": "main", "type": "branch", "snapshot-id": 1}]}).to_string(),
    ] {
        let r = client()
            .post(&commit)
            .bearer_auth(&alice)
            .header("content-type", "application/json")
            .body(bad.clone())
            .send()
            .await
            .unwrap();
        let (status, _, v) = body(r).await;
        assert_eq!(status, 400, "{bad}: {v}");
        assert_eq!(v["error"]["type"], "BadRequestException", "{v}");
        assert!(v["request_id"].is_string(), "{v}");
    }
    // A manifest list nobody staged.
    let r = client()
        .post(&commit)
        .bearer_auth(&alice)
        .json(&json!({"updates": [
            {"action": "add-snapshot", "snapshot": {"snapshot-id": 77, "manifest-list":
                "s3://alice.sales/.iceberg/orders/metadata/snap-77-0-nobody.avro"}},
            {"action": "set-snapshot-ref", "ref-name": "main", "type": "branch", "snapshot-id": 77}]}))
        .send()
        .await
        .unwrap();
    let (status, _, v) = body(r).await;
    assert_eq!(status, 400, "{v}");
    assert!(
        v["error"]["message"].as_str().unwrap().contains("staged"),
        "{v}"
    );
    // Unknown tables and namespaces are the spec's 404s.
    let r = client()
        .post(commit.replace("/orders", "/nope"))
        .bearer_auth(&alice)
        .json(&empty)
        .send()
        .await
        .unwrap();
    let (status, _, v) = body(r).await;
    assert_eq!(status, 404, "{v}");
    assert_eq!(server.head(&alice, "alice/sales").await.unwrap(), head);

    // A staged file is its stager's alone: read back by them, by nobody else (a reader's key
    // neither reads it nor stages), in no revision; the key reaches no other table.
    let (alices, bobs) = (keys_of(&server, &alice).await, keys_of(&server, &bob).await);
    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join("probe.parquet");
    std::fs::write(&local, b"staged bytes").unwrap();
    let local = local.to_str().unwrap();
    let staged = "s3://alice.sales/.iceberg/orders/data/probe.parquet";
    let (ok, said) = aws(&s3, &alices, &["cp", local, staged]);
    assert!(ok, "{said}");
    let (ok, said) = aws(&s3, &alices, &["cp", staged, "-"]);
    assert!(ok && said.contains("staged bytes"), "{said}");
    let (ok, said) = aws(&s3, &bobs, &["cp", staged, "-"]);
    assert!(!ok && said.contains("404"), "{said}");
    // A large file comes as a multipart upload (the CLI splits past 8 MiB): staged the same way.
    let big = dir.path().join("big.parquet");
    let bytes: Vec<u8> = (0..9u32 << 20).map(|i| (i % 251) as u8).collect();
    std::fs::write(&big, &bytes).unwrap();
    let big_key = "s3://alice.sales/.iceberg/orders/data/big.parquet";
    let (ok, said) = aws(&s3, &alices, &["cp", big.to_str().unwrap(), big_key]);
    assert!(ok, "{said}");
    let back = dir.path().join("back.parquet");
    let (ok, said) = aws(&s3, &alices, &["cp", big_key, back.to_str().unwrap()]);
    assert!(ok, "{said}");
    assert_eq!(std::fs::read(&back).unwrap(), bytes);
    let bob_key = "s3://alice.sales/.iceberg/orders/data/bob.parquet";
    let (ok, said) = aws(&s3, &bobs, &["cp", local, bob_key]);
    assert!(!ok && said.contains("AccessDenied"), "{said}");
    for elsewhere in [
        "s3://alice.sales/.iceberg/other/data/x.parquet",
        "s3://alice.sales/main/x.parquet",
    ] {
        let (ok, said) = aws(&s3, &alices, &["cp", local, elsewhere]);
        assert!(!ok && said.contains("AccessDenied"), "{elsewhere}: {said}");
    }
    let outside = "s3://alice.sales/.iceberg/orders/elsewhere/x";
    let (ok, said) = aws(&s3, &alices, &["cp", local, outside]);
    assert!(!ok, "{said}");
    // A staged file its stager deletes is gone; a reader deletes nothing.
    let (ok, said) = aws(&s3, &bobs, &["rm", staged]);
    assert!(!ok && said.contains("AccessDenied"), "{said}");
    let (ok, said) = aws(&s3, &alices, &["rm", staged]);
    assert!(ok, "{said}");
    let (ok, said) = aws(&s3, &alices, &["cp", staged, "-"]);
    assert!(!ok && said.contains("404"), "{said}");
    assert_eq!(server.head(&alice, "alice/sales").await.unwrap(), head);

    // A commit takes the staged files it names, not the others its stager staged meanwhile.
    let (ok, said) = aws(&s3, &alices, &["cp", local, staged]);
    assert!(ok, "{said}");
    let more = write(
        &server,
        &alice,
        "append",
        json!([{"id": 10, "item": "date", "qty": 1}]),
    )
    .await;
    assert!(more.get("error").is_none(), "{more}");
    let (ok, said) = aws(&s3, &alices, &["cp", staged, "-"]);
    assert!(ok && said.contains("staged bytes"), "{said}");
}
