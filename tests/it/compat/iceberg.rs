//! The Iceberg REST catalog with real engines (`iceberg_client.py`): PyIceberg, DuckDB's
//! `iceberg` extension, Ray Data on a local cluster and Polars read a dataset's table at `main`,
//! at every snapshot, at a tag and on a branch (its warehouse), through the S3 gateway with the
//! key each load hands out; the rows are strata's SQL's on the same revision. A stranger and an
//! anonymous caller find nothing, a path share the current version only; the vended key reads
//! its table's files and nothing else, and not once expired. Under Fybrik's policy a redacted
//! value is in no byte a restricted caller is handed, and a policy change is the next load's; a
//! writer the policy shows less may append (the stored rows kept as they are), not overwrite.
//! The spec's error shapes.

use std::process::Command;

use serde_json::{json, Value};

use crate::common::*;

/// `iceberg_client.py ENGINE` against `url` as `token` (None: no token) reading `table`.
async fn engine(
    engine: &str,
    url: &str,
    token: Option<&str>,
    table: &str,
    warehouse: &str,
) -> Value {
    engine_at(engine, url, token, table, warehouse, "").await
}

/// [`engine`], reading each snapshot of `at` (ids, comma-separated) too.
pub(super) async fn engine_at(
    engine: &str,
    url: &str,
    token: Option<&str>,
    table: &str,
    warehouse: &str,
    at: &str,
) -> Value {
    let mut cmd = Command::new(python_tool("python"));
    cmd.arg(format!(
        "{}/tests/it/compat/iceberg_client.py",
        env!("CARGO_MANIFEST_DIR")
    ))
    .args([engine, url, token.unwrap_or("-"), table, warehouse, at])
    .env("AWS_EC2_METADATA_DISABLED", "true")
    .env_remove("AWS_ACCESS_KEY_ID")
    .env_remove("AWS_SECRET_ACCESS_KEY")
    .env_remove("AWS_PROFILE");
    json_answer(cmd).await
}

/// Commits `csv` as table `orders` of `alice/sales` on `branch` (uploaded first).
async fn put_orders(server: &TestServer, token: &str, csv: &str, branch: &str, fields: &[&str]) {
    upload(server, "alice/sales", token, csv.as_bytes()).await;
    let api = format!("{}/api/v1/datasets/alice/sales", server.url);
    let v: Value = client()
        .get(format!("{api}?rev={branch}"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let parent = v["revision"]["id"].as_str().map(str::to_owned);
    let fields: Vec<Value> = fields
        .iter()
        .map(|f| {
            let (name, ty) = f.split_once(':').unwrap();
            json!({"name": name, "type": ty})
        })
        .collect();
    let pkg = json!({"name": "sales", "resources": [{"name": "orders", "path": "orders.csv",
        "format": "csv", "bytes": csv.len(), "hash": format!("sha256:{}", sha256_hex(csv.as_bytes())),
        "schema": {"fields": fields}}]});
    let r = client()
        .put(&api)
        .bearer_auth(token)
        .json(&json!({"datapackage": pkg, "parent": parent, "branch": branch, "message": format!("orders on {branch}")}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
}

/// The rows of strata's SQL on `alice/sales` at `rev`, as the engines print them (sorted JSON).
pub(super) async fn sql_rows(server: &TestServer, token: &str, rev: &str) -> Vec<String> {
    let r = client()
        .post(format!("{}/api/v1/sql", server.url))
        .bearer_auth(token)
        .json(&json!({"query": format!("SELECT id, item, qty FROM \"alice/sales@{rev}\".\"orders\"")}))
        .send()
        .await
        .unwrap();
    let (status, _, v) = body(r).await;
    assert_eq!(status, 200, "{v}");
    let mut rows: Vec<String> = v["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let o = json!({"id": r[0], "item": r[1], "qty": r[2]});
            serde_json::to_string(&o)
                .unwrap()
                .replace(",", ", ")
                .replace(":", ": ")
        })
        .collect();
    rows.sort();
    rows
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pyiceberg_and_duckdb_read_a_table_at_every_revision_and_strangers_nothing() {
    let server = TestServer::start().await;
    let _s3 = crate::compat::s3::gateway(&server).await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let r = client()
        .post(format!("{}/api/v1/datasets", server.url))
        .bearer_auth(&alice)
        .json(&json!({"namespace": "alice", "name": "sales", "visibility": "private"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let fields = ["id:integer", "item:string", "qty:integer"];
    put_orders(
        &server,
        &alice,
        "id,item,qty\n1,apple,3\n2,pear,5\n",
        "main",
        &fields,
    )
    .await;
    let first = server.head(&alice, "alice/sales").await.unwrap();
    let tag = client()
        .post(format!("{}/api/v1/datasets/alice/sales/tags", server.url))
        .bearer_auth(&alice)
        .json(&json!({"name": "v1", "revision": first}))
        .send()
        .await
        .unwrap();
    assert_eq!(tag.status(), 201);
    let branch = client()
        .post(format!(
            "{}/api/v1/datasets/alice/sales/branches",
            server.url
        ))
        .bearer_auth(&alice)
        .json(&json!({"name": "dev", "revision": first}))
        .send()
        .await
        .unwrap();
    assert_eq!(branch.status(), 201);
    put_orders(
        &server,
        &alice,
        "id,item,qty\n1,apple,4\n2,pear,5\n3,fig,1\n",
        "main",
        &fields,
    )
    .await;
    let second = server.head(&alice, "alice/sales").await.unwrap();
    put_orders(&server, &alice, "id,item,qty\n9,kiwi,2\n", "dev", &fields).await;

    let py = engine(
        "pyiceberg",
        &server.url,
        Some(&alice),
        "alice.sales.orders",
        "",
    )
    .await;
    assert!(py.get("error").is_none(), "{py}");
    assert!(
        py["namespaces"]
            .as_array()
            .unwrap()
            .contains(&json!(["alice"])),
        "{py}"
    );
    assert_eq!(py["children"], json!([["alice", "sales"]]));
    assert_eq!(py["tables"], json!([["alice", "sales", "orders"]]));
    assert_eq!(py["columns"], json!(["id", "item", "qty"]));
    let now = sql_rows(&server, &alice, &second).await;
    let rows: Vec<String> = serde_json::from_value(py["rows"].clone()).unwrap();
    assert_eq!(rows, now, "{py}");
    assert_eq!(rows.len(), 3);
    // main's two revisions and dev's one, each with its rows.
    let snaps = py["snapshots"].as_array().unwrap();
    assert_eq!(snaps.len(), 3, "{py}");
    let by_rev = |rev: &str| {
        snaps
            .iter()
            .find(|s| s["summary"]["strata.revision"] == rev)
            .unwrap_or_else(|| panic!("no snapshot of {rev}: {py}"))
            .clone()
    };
    let old: Vec<String> = serde_json::from_value(by_rev(&first)["rows"].clone()).unwrap();
    assert_eq!(old, sql_rows(&server, &alice, &first).await);
    assert_eq!(old.len(), 2);
    assert_eq!(
        by_rev(&first)["summary"]["strata.message"],
        "orders on main"
    );
    // Refs: the tag at the first revision, the branch at its own.
    assert_eq!(py["refs"]["v1"], by_rev(&first)["id"]);
    assert_eq!(py["refs"]["main"], by_rev(&second)["id"]);
    assert_eq!(py["current"], by_rev(&second)["id"]);
    assert!(py["refs"]["dev"].is_i64());
    // The manifests bound each column: no file has an id above 100, the current one has 3.
    assert_eq!(py["planned"], json!({"id > 100": 0, "id >= 3": 1}), "{py}");
    // Every file came through the gateway; the key is for this table's files alone.
    let files = py["files"].as_array().unwrap();
    assert!(
        files.iter().all(|f| f
            .as_str()
            .unwrap()
            .starts_with("s3://alice.sales/.iceberg/orders/")),
        "{files:?}"
    );
    assert!(py["properties"]["schema.name-mapping.default"]
        .as_str()
        .unwrap()
        .contains("\"qty\""));
    let key = py["config"]["s3.access-key-id"]
        .as_str()
        .unwrap()
        .to_owned();
    let secret = py["config"]["s3.secret-access-key"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(key.starts_with("stv_"), "{py}");
    let s3 = crate::compat::s3::gateway(&server).await;
    let with_key = |args: &[&str]| {
        let mut cmd = Command::new(python_tool("aws"));
        cmd.args(["--endpoint-url", &s3]).args(args);
        cmd.env("AWS_ACCESS_KEY_ID", &key)
            .env("AWS_SECRET_ACCESS_KEY", &secret)
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .env("AWS_EC2_METADATA_DISABLED", "true");
        cmd.output().unwrap()
    };
    let data = files
        .iter()
        .map(|f| f.as_str().unwrap())
        .find(|f| f.ends_with(".parquet"))
        .unwrap();
    let ok = with_key(&["s3", "cp", data, "-"]);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(ok.stdout.starts_with(b"PAR1"));
    let raw = with_key(&["s3", "cp", "s3://alice.sales/main/orders.csv", "-"]);
    assert!(!raw.status.success());
    assert!(
        String::from_utf8_lossy(&raw.stderr).contains("403"),
        "{}",
        String::from_utf8_lossy(&raw.stderr)
    );
    let listed = with_key(&["s3", "ls", "s3://alice.sales/"]);
    assert!(!listed.status.success());

    // The dev warehouse reads the branch as the table's current state.
    let dev = engine(
        "pyiceberg",
        &server.url,
        Some(&alice),
        "alice.sales.orders",
        "dev",
    )
    .await;
    let dev_rows: Vec<String> = serde_json::from_value(dev["rows"].clone()).unwrap();
    assert_eq!(dev_rows.len(), 1, "{dev}");
    assert!(dev_rows[0].contains("kiwi"));

    // DuckDB: now and at each snapshot.
    let ids: Vec<String> = snaps.iter().map(|s| s["id"].to_string()).collect();
    let duck = engine_at(
        "duckdb",
        &server.url,
        Some(&alice),
        "alice.sales.orders",
        "",
        &ids.join(","),
    )
    .await;
    assert!(duck.get("error").is_none(), "{duck}");
    assert_eq!(duck["rows"].as_array().unwrap().len(), 3, "{duck}");
    assert_eq!(duck["at"].as_object().unwrap().len(), 3, "{duck}");
    assert_eq!(
        duck["at"][by_rev(&first)["id"].to_string()]
            .as_array()
            .unwrap()
            .len(),
        2,
        "{duck}"
    );

    // Ray Data on a local cluster, and Polars: the same rows, now and at the first revision.
    let first_id = by_rev(&first)["id"].to_string();
    for name in ["ray", "polars"] {
        let out = engine_at(
            name,
            &server.url,
            Some(&alice),
            "alice.sales.orders",
            "",
            &first_id,
        )
        .await;
        let got: Vec<String> = serde_json::from_value(out["rows"].clone()).unwrap_or_default();
        assert_eq!(got, now, "{name}: {out}");
        let then: Vec<String> =
            serde_json::from_value(out["at"][&first_id].clone()).unwrap_or_default();
        assert_eq!(then, old, "{name}: {out}");
    }

    // A stranger and an anonymous caller: no namespace, no table.
    let stranger = engine(
        "pyiceberg",
        &server.url,
        Some(&bob),
        "alice.sales.orders",
        "",
    )
    .await;
    assert!(
        stranger["error"].as_str().unwrap().starts_with("NoSuch"),
        "{stranger}"
    );
    assert!(!stranger["namespaces"]
        .as_array()
        .unwrap()
        .contains(&json!(["alice"])));
    let nobody = engine("pyiceberg", &server.url, None, "alice.sales.orders", "").await;
    assert!(
        nobody["error"].as_str().unwrap().starts_with("NoSuch"),
        "{nobody}"
    );

    // A key past its time is refused by the gateway.
    let fields: Vec<&str> = key.trim_start_matches("stv_").split('_').collect();
    let (user, repo) = (
        i64::from_str_radix(fields[0], 16).unwrap(),
        i64::from_str_radix(fields[1], 16).unwrap(),
    );
    let old = strata_core::compat::iceberg::creds::mint_until(
        &server.state.core,
        user,
        repo,
        "orders",
        strata_core::db::now() - 1,
        false,
    );
    let expired = aws_s3(&s3, &old.id, &old.secret, &["cp", data, "-"]);
    assert!(!expired.status.success());
    assert!(
        String::from_utf8_lossy(&expired.stderr).contains("403"),
        "{}",
        String::from_utf8_lossy(&expired.stderr)
    );

    // A share of the table's file: bob reads its current version, and no history.
    let r = client()
        .post(format!("{}/api/v1/datasets/alice/sales/shares", server.url))
        .bearer_auth(&alice)
        .json(&json!({"path": "orders.csv", "user": "bob", "access": "read"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let shared = engine(
        "pyiceberg",
        &server.url,
        Some(&bob),
        "alice.sales.orders",
        "",
    )
    .await;
    assert!(shared.get("error").is_none(), "{shared}");
    let shared_rows: Vec<String> = serde_json::from_value(shared["rows"].clone()).unwrap();
    assert_eq!(shared_rows, now);
    assert_eq!(shared["snapshots"].as_array().unwrap().len(), 1, "{shared}");
    assert!(shared["refs"].get("v1").is_none(), "{shared}");
}

/// `aws s3 ARGS…` against the gateway at `s3` with a key and secret.
pub(super) fn aws_s3(s3: &str, id: &str, secret: &str, args: &[&str]) -> std::process::Output {
    let mut cmd = Command::new(python_tool("aws"));
    cmd.args(["--endpoint-url", s3, "s3"])
        .args(args)
        .env("AWS_ACCESS_KEY_ID", id)
        .env("AWS_SECRET_ACCESS_KEY", secret)
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true");
    cmd.output().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_governed_table_loads_as_the_callers_view_and_a_policy_change_is_the_next_load() {
    use crate::governance::{Gov, SAMPLE_POLICY};
    let gov = Gov::start().await;
    let s3 = crate::compat::s3::gateway(&gov.server).await;
    let url = gov.server.url.clone();
    let table = "alice.paysim.paysim-csv";
    // A PII value of the first row: in no byte the catalog hands a caller the policy redacts.
    let canary = "C1231006815";
    let py = engine("pyiceberg", &url, Some(&gov.bob), table, "").await;
    assert!(py.get("error").is_none(), "{py}");
    assert_eq!(py["rows"].as_array().unwrap().len(), 100);
    assert!(!py.to_string().contains(canary), "{py}");
    let blobs = py["blobs"].as_array().unwrap();
    assert!(blobs.len() >= 3);
    let hex_canary = hex::encode(canary);
    assert!(blobs
        .iter()
        .all(|b| !b.as_str().unwrap().contains(&hex_canary)));
    let duck = engine("duckdb", &url, Some(&gov.bob), table, "").await;
    assert_eq!(duck["rows"].as_array().unwrap().len(), 100, "{duck}");
    assert!(!duck.to_string().contains(canary));

    // Alice writes the table but reads it through the policy: she may append, not replace rows
    // she cannot all see.
    let row = json!({"op": "overwrite", "rows": [{"step": 9, "type": "PAYMENT", "amount": 1.5}]});
    let over = engine_at("write", &url, Some(&gov.alice), table, "", &row.to_string()).await;
    assert_eq!(over["error"], "ForbiddenError", "{over}");
    assert_eq!(over["rows"].as_array().unwrap().len(), 100);
    let row = json!({"op": "append", "rows": [{"step": 9, "type": "PAYMENT", "amount": 1.5}]});
    let app = engine_at("write", &url, Some(&gov.alice), table, "", &row.to_string()).await;
    assert!(app.get("error").is_none(), "{app}");
    assert_eq!(app["rows"].as_array().unwrap().len(), 101);
    assert!(!app.to_string().contains(canary));

    // The read rule gone: the very next load reads the values, and the files the first load
    // named are no longer served.
    let second = SAMPLE_POLICY.rfind("\nrule[").unwrap();
    let writes_only = format!("package dataapi.authz\n{}", &SAMPLE_POLICY[second..]);
    let (status, v) = gov
        .commit_files("steward/policies", &[("sample-policy.rego", &writes_only)])
        .await;
    assert_eq!(status, 200, "{v}");
    let open = engine("pyiceberg", &url, Some(&gov.bob), table, "").await;
    // The append kept the stored rows: their values are there for who may now read them.
    assert!(open.to_string().contains(canary), "{open}");
    assert_eq!(open["rows"].as_array().unwrap().len(), 101);
    let data = py["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .find(|f| f.ends_with(".parquet"))
        .unwrap();
    let (id, secret) = (
        py["config"]["s3.access-key-id"].as_str().unwrap(),
        py["config"]["s3.secret-access-key"].as_str().unwrap(),
    );
    let stale = aws_s3(&s3, id, secret, &["cp", data, "-"]);
    assert!(!stale.status.success());
    assert!(
        String::from_utf8_lossy(&stale.stderr).contains("404"),
        "{}",
        String::from_utf8_lossy(&stale.stderr)
    );
}

#[tokio::test]
async fn the_catalog_answers_the_specs_errors() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let get = |path: String, token: Option<String>| {
        let mut r = client().get(format!("{}/iceberg/v1/{path}", server.url));
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        async move {
            let (status, _, v) = body(r.send().await.unwrap()).await;
            (status, v)
        }
    };
    let (status, v) = get("config?warehouse=dev/x".into(), None).await;
    assert_eq!(status, 200);
    assert_eq!(v["overrides"]["prefix"], "dev~x");
    let (status, v) = get("config?warehouse=..%2Fx".into(), None).await;
    assert_eq!(status, 400, "{v}");
    assert_eq!(v["error"]["type"], "BadRequestException");
    assert!(v["request_id"].is_string());
    let (status, v) = get(
        "main/namespaces/nobody%1Fnothing".into(),
        Some(alice.clone()),
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(v["error"]["type"], "NoSuchNamespaceException");
    assert_eq!(v["error"]["code"], 404);
    let (status, v) = get(
        "main/namespaces/alice%1Fnothing/tables/t".into(),
        Some(alice.clone()),
    )
    .await;
    assert_eq!(status, 404, "{v}");
    assert_eq!(v["error"]["type"], "NoSuchNamespaceException");
    let (status, v) = get("main/namespaces".into(), Some("not-a-token".into())).await;
    assert_eq!(status, 401);
    assert_eq!(v["error"]["type"], "NotAuthorizedException");
    // PyIceberg with no token sends `Bearer None`: anonymous.
    let (status, v) = get("main/namespaces".into(), Some("None".into())).await;
    assert_eq!(status, 200, "{v}");
    // Client credentials: a strata token as the secret.
    let r = client()
        .post(format!("{}/iceberg/v1/oauth/tokens", server.url))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "x"),
            ("client_secret", alice.as_str()),
        ])
        .send()
        .await
        .unwrap();
    let (status, _, v) = body(r).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["token_type"], "bearer");
    let r = client()
        .post(format!("{}/iceberg/v1/oauth/tokens", server.url))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_secret", "wrong"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}
