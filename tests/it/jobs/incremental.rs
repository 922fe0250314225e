//! An incremental job in DuckDB SQL: its first run reads the whole table; after a commit that
//! changes one row and adds one, the next run is given only the changed file, a list of what
//! changed, and the table's changed rows (the change data feed), and reads two rows, not fifty.
//! A job whose output breaks the output's data contract fails, and nothing lands.

use reqwest::Method;
use serde_json::{json, Value};

use super::{create, declare, put_files, run_to_end, API};
use crate::common::*;
use crate::sharing::gated::call;

/// Doubles the amounts: every row on a full run; only the rows inserted or updated (from the
/// change feed) on an incremental one. Prints what it was given.
const TOTALS: &str = r#"import json, os, sys
import duckdb
changes = json.load(open(os.environ['STRATA_CHANGES']))['sales']
inputs, out = os.environ['STRATA_INPUTS'], os.environ['STRATA_OUTPUT']
print('files', sorted(os.listdir(os.path.join(inputs, 'sales'))))
print('changes', json.dumps(changes, sort_keys=True))
if changes['full']:
    rel = f"read_csv('{inputs}/sales/orders.csv')"
else:
    feed = os.path.join(os.path.dirname(os.environ['STRATA_CHANGES']), changes['rows']['orders.csv']['file'])
    rel = f"(SELECT * FROM read_parquet('{feed}') WHERE _change_type IN ('insert', 'update_postimage'))"
n = duckdb.sql(f"SELECT count(*) FROM {rel}").fetchone()[0]
print('rows read', n)
duckdb.sql(f"COPY (SELECT id, amount * 2 AS doubled FROM {rel} ORDER BY id) TO '{out}/doubled.csv' (HEADER)")
"#;

/// Writes a `doubled.csv` that breaks the report's contract (`doubled` at most 1000).
const BAD: &str = "import os\nopen(os.path.join(os.environ['STRATA_OUTPUT'], 'doubled.csv'), 'w').write('id,doubled\\n1,5000\\n')\n";

fn orders(rows: &[(i64, i64)]) -> Vec<u8> {
    let mut s = String::from("id,amount\n");
    for (id, amount) in rows {
        s.push_str(&format!("{id},{amount}\n"));
    }
    s.into_bytes()
}

/// Puts a table resource `name` at `path` holding `data` (uploaded first) into `repo`'s
/// datapackage, with `schema`.
async fn put_table(
    server: &TestServer,
    token: &str,
    repo: &str,
    (name, path): (&str, &str),
    data: &[u8],
    schema: Value,
) -> (u16, Value) {
    upload(server, repo, token, data).await;
    let (_, v) = call(
        server,
        Method::GET,
        &format!("{API}/{repo}"),
        Some(token),
        None,
    )
    .await;
    let mut package = v["datapackage"].clone();
    let resource = json!({"name": name, "path": path, "format": "csv", "bytes": data.len(),
        "hash": format!("sha256:{}", sha256_hex(data)), "schema": schema});
    let mut resources: Vec<Value> = package["resources"].as_array().cloned().unwrap_or_default();
    resources.retain(|r| r["name"] != name);
    resources.push(resource);
    package["resources"] = json!(resources);
    call(
        server,
        Method::PUT,
        &format!("{API}/{repo}"),
        Some(token),
        Some(json!({"datapackage": package, "parent": v["revision"]["id"]})),
    )
    .await
}

fn log_line<'a>(run: &'a Value, prefix: &str) -> &'a str {
    run["log"]
        .as_str()
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(prefix))
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incremental_job_reads_only_the_changed_rows_and_a_contract_stops_a_bad_output() {
    let server = super::start(|_| {}).await;
    let alice = server.user("alice").await;
    for name in ["sales", "totals", "report", "pipeline"] {
        create(&server, &alice, "alice", name, "private").await;
    }
    let key = json!({"primaryKey": "id", "fields": [{"name": "id", "type": "integer"}, {"name": "amount", "type": "integer"}]});
    let mut rows: Vec<(i64, i64)> = (1..=50).map(|i| (i, i)).collect();
    let (status, v) = put_table(
        &server,
        &alice,
        "alice/sales",
        ("orders", "orders.csv"),
        &orders(&rows),
        key.clone(),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    let (status, v) = put_table(
        &server,
        &alice,
        "alice/sales",
        ("other", "other.csv"),
        b"a\n1\n",
        json!({"fields": [{"name": "a", "type": "integer"}]}),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    put_files(
        &server,
        &alice,
        "alice/pipeline",
        &[("jobs/totals.py", TOTALS), ("jobs/bad.py", BAD)],
    )
    .await;
    let run = |script: &str, output: &str, incremental: bool| {
        json!({
            "inputs": [{"dataset": "alice/sales", "paths": ["*.csv"]}],
            "run": {"interpreter": "python", "script": script},
            "output": {"dataset": output},
            "incremental": incremental,
        })
    };
    let jobs = json!({"totals": run("jobs/totals.py", "alice/totals", true), "bad": run("jobs/bad.py", "alice/report", false)});
    let (status, v) = declare(&server, &alice, "alice/pipeline", jobs).await;
    assert_eq!(status, 200, "{v}");

    // The first run has no success before it: every file, every row.
    let first = run_to_end(&server, &alice, "totals", false).await;
    assert_eq!(first["state"], "succeeded", "{first}");
    assert_eq!(log_line(&first, "rows read"), "rows read 50", "{first}");
    assert_eq!(
        log_line(&first, "files"),
        "files ['orders.csv', 'other.csv']",
        "{first}"
    );
    let doubled = |rev: &str| {
        format!(
            "{}{API}/alice/totals/raw/doubled.csv?revision={rev}",
            server.url
        )
    };
    let r = client()
        .get(doubled("main"))
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap();
    let text = r.text().await.unwrap();
    assert!(
        text.starts_with("id,doubled\n1,2\n2,4\n") && text.ends_with("50,100\n"),
        "{text}"
    );

    // One row changed, one added: the next run is given the changed file alone and reads two rows.
    rows[6].1 = 700;
    rows.push((51, 51));
    let (status, v) = put_table(
        &server,
        &alice,
        "alice/sales",
        ("orders", "orders.csv"),
        &orders(&rows),
        key,
    )
    .await;
    assert_eq!(status, 200, "{v}");
    let second = run_to_end(&server, &alice, "totals", false).await;
    assert_eq!(second["state"], "succeeded", "{second}");
    assert_eq!(
        log_line(&second, "files"),
        "files ['orders.csv']",
        "{second}"
    );
    assert_eq!(log_line(&second, "rows read"), "rows read 2", "{second}");
    let changes: Value =
        serde_json::from_str(log_line(&second, "changes").trim_start_matches("changes ")).unwrap();
    assert_eq!(changes["full"], false, "{changes}");
    assert_eq!(changes["modified"], json!(["orders.csv"]), "{changes}");
    assert_eq!(
        changes["since"], first["inputs"][0]["revision"],
        "{changes}"
    );
    assert_eq!(
        changes["rows"]["orders.csv"]["rows"], 3,
        "an update's two images and an insert: {changes}"
    );
    let r = client()
        .get(doubled("main"))
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap();
    assert_eq!(r.text().await.unwrap(), "id,doubled\n7,1400\n51,102\n");

    // The report's contract: `doubled` is at most 1000 on its protected default branch. The bad
    // job's output breaks it: the run fails saying so, and the report stays where it was.
    let contract = json!({"fields": [{"name": "id", "type": "integer"},
        {"name": "doubled", "type": "integer", "constraints": {"maximum": 1000}}]});
    let (status, v) = put_table(
        &server,
        &alice,
        "alice/report",
        ("doubled", "doubled.csv"),
        b"id,doubled\n1,2\n",
        contract,
    )
    .await;
    assert_eq!(status, 200, "{v}");
    let r = client()
        .put(format!("{}{API}/alice/report/protection", server.url))
        .bearer_auth(&alice)
        .json(&json!({"default_branch": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let (_, before) = call(
        &server,
        Method::GET,
        &format!("{API}/alice/report"),
        Some(&alice),
        None,
    )
    .await;
    let bad = run_to_end(&server, &alice, "bad", false).await;
    assert_eq!(bad["state"], "failed", "{bad}");
    assert!(bad["error"].as_str().unwrap().contains("contract"), "{bad}");
    let (_, after) = call(
        &server,
        Method::GET,
        &format!("{API}/alice/report"),
        Some(&alice),
        None,
    )
    .await;
    assert_eq!(
        after["revision"]["id"], before["revision"]["id"],
        "nothing landed"
    );
}
