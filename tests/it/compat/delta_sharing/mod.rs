//! Delta Sharing with its own Python client (`delta_sharing_client.py`, delta-sharing 1.4.2):
//! a recipient lists its shares, schemas and tables, loads a table at the latest version, at a
//! version and as of a time, and reads its change data feed; the rows are strata's SQL's on the
//! same revisions. A share's column list and row filter, and Fybrik's policy with the recipient
//! as its subject: a redacted value is in no byte a recipient receives (lines, files, feed), a
//! policy on `subject.recipient` removes a column. Wrong, revoked, rotated and expired tokens,
//! tables outside the share, a stale file URL, the protocol's error shapes.

use std::process::Command;

use serde_json::{json, Value};

use crate::common::*;

mod governed;
mod recipients;
mod versions;

/// The client's venv (`scripts/test.sh` makes it beside the other tools).
fn delta_python() -> std::path::PathBuf {
    let python = python_tool("python");
    let tools = python.parent().unwrap().parent().unwrap().parent().unwrap();
    let path = tools.join("ds-venv/bin/python");
    assert!(
        path.exists(),
        "{} is missing: run scripts/test.sh, which makes it (delta-sharing==1.4.2 pandas==2.3.3 \
         pyarrow==23.0.1 fsspec==2026.2.0)",
        path.display()
    );
    path
}

/// `delta_sharing_client.py` on `profile` (a file of `dir`) with `args`.
pub(super) async fn delta(dir: &std::path::Path, profile: &Value, args: &[&str]) -> Value {
    let path = dir.join("profile.share");
    std::fs::write(&path, profile.to_string()).unwrap();
    let mut cmd = Command::new(delta_python());
    cmd.arg(format!(
        "{}/tests/it/compat/delta_sharing_client.py",
        env!("CARGO_MANIFEST_DIR")
    ))
    .arg(&path)
    .args(args)
    .env("NO_PROXY", "127.0.0.1,localhost");
    json_answer(cmd).await
}

/// Commits `csv` as the keyed table `orders` (id, item, qty) of `alice/sales`.
pub(super) async fn put_orders(server: &TestServer, token: &str, csv: &str) -> String {
    upload(server, "alice/sales", token, csv.as_bytes()).await;
    let api = format!("{}/api/v1/datasets/alice/sales", server.url);
    let v: Value = client()
        .get(&api)
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let parent = v["revision"]["id"].as_str().map(str::to_owned);
    let pkg = json!({"name": "sales", "resources": [{"name": "orders", "path": "orders.csv",
        "format": "csv", "bytes": csv.len(), "hash": format!("sha256:{}", sha256_hex(csv.as_bytes())),
        "schema": {"fields": [{"name": "id", "type": "integer"}, {"name": "item", "type": "string"},
            {"name": "qty", "type": "integer"}], "primaryKey": ["id"]}}]});
    let r = client()
        .put(&api)
        .bearer_auth(token)
        .json(&json!({"datapackage": pkg, "parent": parent, "message": "orders"}))
        .send()
        .await
        .unwrap();
    let (status, _, v) = body(r).await;
    assert_eq!(status, 200, "{v}");
    v["revision"]["id"].as_str().unwrap().to_owned()
}

/// The rows of `SELECT id, item, qty` on `alice/sales` at `rev`, sorted.
pub(super) async fn sql_rows(server: &TestServer, token: &str, rev: &str) -> Vec<Value> {
    let r = client()
        .post(format!("{}/api/v1/sql", server.url))
        .bearer_auth(token)
        .json(&json!({"query": format!("SELECT id, item, qty FROM \"alice/sales@{rev}\".\"orders\" ORDER BY id")}))
        .send()
        .await
        .unwrap();
    let (status, _, v) = body(r).await;
    assert_eq!(status, 200, "{v}");
    v["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| json!({"id": r[0], "item": r[1], "qty": r[2]}))
        .collect()
}

/// The rows the client loaded, sorted by id.
pub(super) fn loaded(v: &Value) -> Vec<Value> {
    assert!(v.get("error").is_none(), "{v}");
    let mut rows = v["rows"].as_array().unwrap().clone();
    rows.sort_by_key(|r| r["id"].as_i64());
    rows
}

/// POSTs `body` to the REST API as `token`: status and answer.
pub(super) async fn post(
    server: &TestServer,
    token: &str,
    path: &str,
    payload: Value,
) -> (u16, Value) {
    let r = client()
        .post(format!("{}/api/v1/{path}", server.url))
        .bearer_auth(token)
        .json(&payload)
        .send()
        .await
        .unwrap();
    let (status, _, v) = body(r).await;
    (status, v)
}

/// A protocol call as `token`: status, headers and body text.
async fn call(
    server: &TestServer,
    token: &str,
    path: &str,
) -> (u16, reqwest::header::HeaderMap, String) {
    let r = client()
        .get(format!("{}/api/delta-sharing/{path}", server.url))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let (status, headers) = (r.status().as_u16(), r.headers().clone());
    (status, headers, r.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_delta_sharing_client_reads_a_share_at_every_version_and_its_changes() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let dir = tempfile::tempdir().unwrap();
    let (status, v) = post(
        &server,
        &alice,
        "datasets",
        json!({"namespace": "alice", "name": "sales", "visibility": "private"}),
    )
    .await;
    assert_eq!(status, 201, "{v}");
    let v0 = put_orders(
        &server,
        &alice,
        "id,item,qty\n1,apple,3\n2,pear,1\n3,plum,7\n4,fig,2\n",
    )
    .await;
    let v1 = put_orders(
        &server,
        &alice,
        "id,item,qty\n1,apple,3\n2,pear,5\n4,fig,2\n5,kiwi,9\n",
    )
    .await;

    // The share: the table whole, and a narrower one (two columns, rows with qty > 2).
    let (status, v) = post(
        &server,
        &alice,
        "namespaces/alice/delta-shares",
        json!({"name": "Sales"}),
    )
    .await;
    assert_eq!(status, 201, "{v}");
    assert_eq!(v["name"], "sales");
    let table =
        json!({"schema": "retail", "name": "orders", "dataset": "sales", "resource": "orders"});
    let (status, v) = post(
        &server,
        &alice,
        "namespaces/alice/delta-shares/sales/tables",
        table.clone(),
    )
    .await;
    assert_eq!(status, 201, "{v}");
    let (status, v) = post(
        &server,
        &alice,
        "namespaces/alice/delta-shares/sales/tables",
        table,
    )
    .await;
    assert_eq!(status, 409, "{v}");
    let lite = json!({"schema": "retail", "name": "big_orders", "dataset": "sales",
        "resource": "orders", "columns": ["id", "qty"], "filters": [{"column": "qty", "op": "gt", "value": 2}]});
    let (status, v) = post(
        &server,
        &alice,
        "namespaces/alice/delta-shares/sales/tables",
        lite,
    )
    .await;
    assert_eq!(status, 201, "{v}");
    for (bad, why) in [
        (
            json!({"schema": "a.b", "name": "t", "dataset": "sales", "resource": "orders"}),
            "schema",
        ),
        (
            json!({"schema": "s", "name": "t", "dataset": "sales", "resource": "nope"}),
            "nope",
        ),
        (
            json!({"schema": "s", "name": "t", "dataset": "sales", "resource": "orders", "columns": ["ghost"]}),
            "ghost",
        ),
        (
            json!({"schema": "s", "name": "t", "dataset": "sales", "resource": "orders", "at": "no-such-branch"}),
            "no-such-branch",
        ),
    ] {
        let (status, v) = post(
            &server,
            &alice,
            "namespaces/alice/delta-shares/sales/tables",
            bad,
        )
        .await;
        assert_eq!(status, 422, "{v}");
        assert!(v["message"].as_str().unwrap().contains(why), "{v}");
    }
    // Bob administers neither the namespace nor the dataset.
    let (status, _) = post(
        &server,
        &bob,
        "namespaces/alice/delta-shares",
        json!({"name": "x"}),
    )
    .await;
    assert_eq!(status, 403);
    let (status, v) = post(
        &server,
        &alice,
        "namespaces/alice/recipients",
        json!({"name": "acme", "organization": "acme", "shares": ["sales"]}),
    )
    .await;
    assert_eq!(status, 201, "{v}");
    let profile = v["profile"].clone();
    assert_eq!(profile["shareCredentialsVersion"], 1);
    assert_eq!(
        profile["endpoint"],
        format!("{}/api/delta-sharing", server.url)
    );
    let token = profile["bearerToken"].as_str().unwrap().to_owned();

    let listed = delta(dir.path(), &profile, &["list"]).await;
    assert!(listed.get("error").is_none(), "{listed}");
    assert_eq!(listed["shares"], json!(["sales"]));
    assert_eq!(listed["schemas"]["sales"], json!(["retail"]));
    assert_eq!(
        listed["tables"]["sales.retail"],
        json!(["big_orders", "orders"])
    );
    assert_eq!(
        listed["all"],
        json!(["sales.retail.big_orders", "sales.retail.orders"])
    );

    // Latest, at each version, as of a time: the rows strata's SQL reads there.
    let latest = delta(dir.path(), &profile, &["load", "sales.retail.orders"]).await;
    assert_eq!(loaded(&latest), sql_rows(&server, &alice, &v1).await);
    assert_eq!(latest["columns"], json!(["id", "item", "qty"]));
    let first = delta(dir.path(), &profile, &["load", "sales.retail.orders", "0"]).await;
    assert_eq!(loaded(&first), sql_rows(&server, &alice, &v0).await);
    // Version 1's time, as its file says it: as of then, version 1; after the latest, an error.
    let r = client()
        .post(format!(
            "{}/api/delta-sharing/shares/sales/schemas/retail/tables/orders/query",
            server.url
        ))
        .bearer_auth(&token)
        .json(&json!({"version": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    let file: Value = serde_json::from_str(text.lines().nth(2).unwrap()).unwrap();
    assert_eq!(file["file"]["version"], 1, "{text}");
    let at = file["file"]["timestamp"].as_i64().unwrap();
    let stamp = |ms: i64| {
        time::OffsetDateTime::from_unix_timestamp(ms / 1000)
            .unwrap()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap()
    };
    let as_of = delta(
        dir.path(),
        &profile,
        &["load", "SALES.Retail.Orders", "-", &stamp(at)],
    )
    .await;
    assert_eq!(loaded(&as_of), sql_rows(&server, &alice, &v1).await);
    let later = delta(
        dir.path(),
        &profile,
        &["load", "sales.retail.orders", "-", &stamp(at + 3_600_000)],
    )
    .await;
    assert_eq!(later["error"], "HTTPError", "{later}");
    let version = delta(dir.path(), &profile, &["version", "sales.retail.orders"]).await;
    assert_eq!(version["version"], 1, "{version}");

    // The narrower table: its columns and rows only.
    let lite = delta(dir.path(), &profile, &["load", "sales.retail.big_orders"]).await;
    assert_eq!(lite["columns"], json!(["id", "qty"]), "{lite}");
    assert_eq!(
        loaded(&lite),
        vec![
            json!({"id": 1, "qty": 3}),
            json!({"id": 2, "qty": 5}),
            json!({"id": 5, "qty": 9})
        ]
    );

    // The change feed: version 0 inserted whole, then version 1's row diff.
    let feed = delta(
        dir.path(),
        &profile,
        &["changes", "sales.retail.orders", "0", "1"],
    )
    .await;
    assert!(feed.get("error").is_none(), "{feed}");
    let mut changes: Vec<(i64, String, i64)> = feed["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["_commit_version"].as_i64().unwrap(),
                r["_change_type"].as_str().unwrap().to_owned(),
                r["id"].as_i64().unwrap(),
            )
        })
        .collect();
    changes.sort();
    let expected: Vec<(i64, String, i64)> = [
        (0, "insert", 1),
        (0, "insert", 2),
        (0, "insert", 3),
        (0, "insert", 4),
        (1, "delete", 3),
        (1, "insert", 5),
        (1, "update_postimage", 2),
        (1, "update_preimage", 2),
    ]
    .iter()
    .map(|(v, t, id)| (*v, (*t).to_owned(), *id))
    .collect();
    assert_eq!(changes, expected, "{feed}");
    let post_image = feed["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["_change_type"] == "update_postimage")
        .unwrap();
    assert_eq!(post_image["qty"], 5);

    // The protocol's own shapes: a version header on every table call, NDJSON lines.
    let (status, headers, text) = call(
        &server,
        &token,
        "shares/sales/schemas/retail/tables/orders/metadata",
    )
    .await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(headers["delta-table-version"], "1");
    assert!(headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/x-ndjson"));
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[0], json!({"protocol": {"minReaderVersion": 1}}));
    assert_eq!(lines[1]["metaData"]["format"]["provider"], "parquet");

    // Hostile: no token, another kind of token, a made-up one; what is not shared.
    let made_up = format!("sdr_{}", "0".repeat(48));
    for t in ["", bob.as_str(), made_up.as_str()] {
        let (status, headers, text) = call(&server, t, "shares").await;
        assert_eq!(status, 401, "{text}");
        assert_eq!(headers["www-authenticate"], "Bearer");
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["errorCode"], "UNAUTHENTICATED");
        assert!(v["request_id"].is_string());
    }
    for path in [
        "shares/nope/schemas",
        "shares/sales/schemas/nope/tables",
        "shares/sales/schemas/retail/tables/nope/version",
    ] {
        let (status, _, text) = call(&server, &token, path).await;
        assert_eq!(status, 404, "{path}: {text}");
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["errorCode"], "RESOURCE_DOES_NOT_EXIST");
    }
    let base = "shares/sales/schemas/retail/tables/orders";
    for (path, code) in [
        (format!("{base}/changes"), "INVALID_PARAMETER_VALUE"),
        (
            format!("{base}/changes?startingVersion=7"),
            "INVALID_PARAMETER_VALUE",
        ),
        (
            format!("{base}/changes?startingVersion=x"),
            "INVALID_PARAMETER_VALUE",
        ),
        (
            format!("{base}/changes?startingVersion=1&endingVersion=0"),
            "INVALID_PARAMETER_VALUE",
        ),
        (
            format!("{base}/metadata?version=-1"),
            "INVALID_PARAMETER_VALUE",
        ),
        (
            format!("{base}/version?startingTimestamp=yesterday"),
            "INVALID_PARAMETER_VALUE",
        ),
        (
            "shares?maxResults=9999".to_owned(),
            "INVALID_PARAMETER_VALUE",
        ),
        (
            "shares?pageToken=0-forged".to_owned(),
            "INVALID_PARAMETER_VALUE",
        ),
    ] {
        let (status, _, text) = call(&server, &token, &path).await;
        assert_eq!(status, 400, "{path}: {text}");
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["errorCode"], code, "{path}");
    }
    let query = |body: &'static str| {
        let (url, token) = (
            format!("{}/api/delta-sharing/{base}/query", server.url),
            token.clone(),
        );
        async move {
            let r = client()
                .post(url)
                .bearer_auth(token)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            (status, r.text().await.unwrap())
        }
    };
    let (status, text) = query("{not json").await;
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("MALFORMED_REQUEST"), "{text}");
    let (status, text) = query(r#"{"version": 0, "timestamp": "2026-01-01T00:00:00Z"}"#).await;
    assert_eq!(status, 400, "{text}");
    // From a starting version (as streaming readers ask): each version's file added, the one
    // before removed.
    let (status, text) = query(r#"{"startingVersion": 0}"#).await;
    assert_eq!(status, 200, "{text}");
    let actions: Vec<(String, i64)> = text
        .lines()
        .skip(2)
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            let (k, a) = v.as_object().unwrap().iter().next().unwrap();
            (k.clone(), a["version"].as_i64().unwrap())
        })
        .collect();
    let want = [("add", 0), ("remove", 1), ("add", 1)];
    assert_eq!(
        actions,
        want.map(|(k, v)| (k.to_owned(), v)).to_vec(),
        "{text}"
    );
    // Only the parquet format is answered; a request for delta alone says so.
    let r = client()
        .get(format!("{}/api/delta-sharing/{base}/metadata", server.url))
        .bearer_auth(&token)
        .header(
            "delta-sharing-capabilities",
            "responseformat=delta;readerfeatures=deletionvectors",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("UNSUPPORTED_OPERATION"));
    let (status, _, text) = call(&server, &token, "shares/SALES").await;
    assert_eq!(status, 200, "{text}");
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["share"]["name"], "sales");
    // Hints are hints: a malformed one is ignored, every file answered.
    let (status, text) = query(r#"{"predicateHints": ["id = 1; DROP TABLE x"], "jsonPredicateHints": "{", "limitHint": 1}"#).await;
    assert_eq!(status, 200, "{text}");
    let file: Value = serde_json::from_str(text.lines().nth(2).unwrap()).unwrap();
    let file_url = file["file"]["url"].as_str().unwrap().to_owned();
    assert!(file_url
        .rsplit('/')
        .next()
        .unwrap()
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-_.~".contains(&b)));
    let r = client()
        .get(&file_url)
        .header("range", "bytes=0-3")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 206);
    assert_eq!(&r.bytes().await.unwrap()[..], b"PAR1");
    // The signature's last character changed: another signature.
    let last = if file_url.ends_with('0') { '1' } else { '0' };
    let forged = format!("{}{last}", &file_url[..file_url.len() - 1]);
    assert_eq!(client().get(&forged).send().await.unwrap().status(), 404);

    // Rotating ends the old token at once; revoking ends the new one and its files.
    let r = client()
        .post(format!(
            "{}/api/v1/namespaces/alice/recipients/acme/rotate",
            server.url
        ))
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap();
    let (status, _, v) = body(r).await;
    assert_eq!(status, 200, "{v}");
    let rotated = v["profile"]["bearerToken"].as_str().unwrap().to_owned();
    assert_eq!(call(&server, &token, "shares").await.0, 401);
    assert_eq!(call(&server, &rotated, "shares").await.0, 200);
    let r = client()
        .delete(format!(
            "{}/api/v1/namespaces/alice/recipients/acme",
            server.url
        ))
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let (status, _, text) = call(&server, &rotated, "shares").await;
    assert_eq!(status, 401, "{text}");
    assert_eq!(client().get(&file_url).send().await.unwrap().status(), 403);
    let revoked = delta(dir.path(), &v["profile"], &["load", "sales.retail.orders"]).await;
    assert_eq!(revoked["error"], "HTTPError", "{revoked}");

    // An expiry is the end of the token, without anyone revoking it.
    let soon = time::OffsetDateTime::now_utc() + time::Duration::seconds(2);
    let soon = soon
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let (status, v) = post(
        &server,
        &alice,
        "namespaces/alice/recipients",
        json!({"name": "brief", "shares": ["sales"], "expires_at": soon}),
    )
    .await;
    assert_eq!(status, 201, "{v}");
    assert!(v["profile"]["expirationTime"].is_string());
    let brief = v["profile"]["bearerToken"].as_str().unwrap().to_owned();
    assert_eq!(call(&server, &brief, "shares").await.0, 200);
    tokio::time::sleep(std::time::Duration::from_millis(3100)).await;
    assert_eq!(call(&server, &brief, "shares").await.0, 401);
    // The recipients' use is their admins' to see.
    let r = client()
        .get(format!("{}/api/v1/namespaces/alice/recipients", server.url))
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap();
    let (status, _, v) = body(r).await;
    assert_eq!(status, 200);
    let acme = v
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "acme")
        .unwrap();
    assert_eq!(acme["live"], false);
    assert!(acme["queries"].as_i64().unwrap() >= 5, "{acme}");
}
