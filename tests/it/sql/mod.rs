//! SQL end to end: `POST /api/v1/sql` and its `GET` form over a dataset's tables at the head, at
//! a tag and at a revision id (a table joined with itself as it was), results as JSON, CSV,
//! Parquet and Arrow read back by pandas and pyarrow, and every bad query answered with its status,
//! message and request id, then found in the site's audit log (so on a server of its own). Bound
//! values and a folder share are in the API tier (`api/sql.rs`). `governed.rs`: the ways an
//! analyst would try to get a hidden value back, each refused or answered on transformed values
//! only. `flight.rs`: the same over Arrow Flight SQL, through the ADBC driver.

mod flight;
mod governed;
mod hostile;
mod page;

use serde_json::{json, Value};

use crate::common::*;
use crate::tables::{dataset, people, put_resources};

/// POSTs `query` (with `more` fields) to `/api/v1/sql` as `token`: status, headers, JSON.
pub async fn sql(
    base: &str,
    token: &str,
    query: &str,
    more: Value,
) -> (u16, reqwest::header::HeaderMap, Value) {
    let mut req = json!({ "query": query });
    if let Some(m) = more.as_object() {
        for (k, v) in m {
            req[k] = v.clone();
        }
    }
    let r = client()
        .post(format!("{base}/api/v1/sql"))
        .bearer_auth(token)
        .json(&req)
        .send()
        .await
        .unwrap();
    body(r).await
}

/// The rows of a JSON answer that must have succeeded.
pub async fn rows(base: &str, token: &str, query: &str, more: Value) -> Value {
    let (status, _, v) = sql(base, token, query, more).await;
    assert_eq!(status, 200, "{query}: {v}");
    v["rows"].clone()
}

/// Runs a Python script with the test tools' interpreter; its output.
pub async fn python(script: String) -> String {
    let python = python_tool("python");
    tokio::task::spawn_blocking(move || {
        run(std::process::Command::new(python).args(["-c", &script]))
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queries_read_tables_at_any_revision_in_every_format() {
    let (server, alice, api) = dataset(&[("people", "people.csv", people().into_bytes())]).await;
    let base = server.url.clone();
    let (_, v) = crate::tables::get(&api, &alice).await;
    let first = v["revision"]["id"].as_str().unwrap().to_owned();
    let r = client()
        .post(format!("{api}/tags"))
        .bearer_auth(&alice)
        .json(&json!({"name": "v1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    // The head keeps the first 100 people, each scoring one more.
    let fewer: String = people()
        .lines()
        .take(101)
        .enumerate()
        .map(|(i, l)| {
            if i == 0 {
                return format!("{l}\n");
            }
            let mut f: Vec<String> = l.split(',').map(str::to_owned).collect();
            if let Ok(s) = f[2].parse::<f64>() {
                f[2] = format!("{}", s + 1.0);
            }
            f.join(",") + "\n"
        })
        .collect();
    put_resources(
        &server,
        &alice,
        &[("people", "people.csv", fewer.into_bytes())],
        json!({}),
    )
    .await;

    // The answer: columns with their types, the tables read and their revisions, the rows.
    let (status, headers, v) = sql(
        &base,
        &alice,
        r#"SELECT count(*) AS n, sum(id) AS ids, max(score) AS top FROM "alice/t"."people""#,
        json!({}),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(headers["content-type"], "application/json");
    assert_eq!(v["rows"], json!([[100, 5050, 101.5]]), "{v}");
    assert_eq!(
        v["columns"],
        json!([{"name": "n", "type": "integer"}, {"name": "ids", "type": "integer"},
               {"name": "top", "type": "number"}])
    );
    assert_eq!(v["tables"][0]["table"], r#""alice/t"."people""#, "{v}");
    assert_ne!(v["tables"][0]["revision"], json!(first));

    // A tag, a revision id and the catalog's name; a table joined with itself as it was.
    for name in [
        r#""alice/t@v1"."people""#,
        &format!(r#""alice/t@{first}"."people""#),
        r#"strata."alice/t@v1".people"#,
    ] {
        let got = rows(
            &base,
            &alice,
            &format!("SELECT count(*) FROM {name}"),
            json!({}),
        )
        .await;
        assert_eq!(got, json!([[250]]), "{name}");
    }
    let (_, _, v) = sql(
        &base,
        &alice,
        r#"SELECT count(*) AS changed, avg(now.score - was.score) AS by
           FROM "alice/t"."people" now JOIN "alice/t@v1"."people" was ON now.id = was.id
           WHERE now.score IS DISTINCT FROM was.score"#,
        json!({}),
    )
    .await;
    assert_eq!(v["rows"], json!([[90, 1.0]]), "{v}");
    assert_eq!(v["tables"][1]["revision"], json!(first), "{v}");
    // CTEs, window functions and text functions are SQL as usual.
    let got = rows(
        &base,
        &alice,
        r#"WITH top AS (SELECT id, name, rank() OVER (ORDER BY score DESC NULLS LAST) AS r
                       FROM "alice/t@v1"."people")
           SELECT upper(substr(name, 1, 6)), r FROM top WHERE r <= 2 ORDER BY r, name"#,
        json!({}),
    )
    .await;
    assert_eq!(got[0][1], 1, "{got}");
    assert_eq!(got[0][0], "PERSON", "{got}");

    // CSV, Parquet and Arrow, read by pandas and pyarrow from the GET form (a URL to share).
    let q = r#"SELECT id, name, score FROM "alice/t"."people" WHERE active ORDER BY id"#;
    let url = |format: &str| {
        let mut u = reqwest::Url::parse(&format!("{base}/api/v1/sql")).unwrap();
        u.query_pairs_mut()
            .append_pair("q", q)
            .append_pair("format", format);
        u.to_string()
    };
    let r = client()
        .get(url("csv"))
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/csv; charset=utf-8");
    let csv = r.text().await.unwrap();
    assert!(
        csv.starts_with("id,name,score\n3,person 003,10.5\n"),
        "{csv}"
    );
    assert_eq!(csv.lines().count(), 34);
    let out = python(format!(
        "import pandas as pd, pyarrow as pa, io, urllib.request\n\
         h = {{'Authorization': 'Bearer {alice}'}}\n\
         get = lambda u: urllib.request.urlopen(urllib.request.Request(u, headers=h)).read()\n\
         c = pd.read_csv({csv:?}, storage_options=h)\n\
         p = pd.read_parquet(io.BytesIO(get({parquet:?})))\n\
         a = pa.ipc.open_stream(get({arrow:?})).read_all()\n\
         print(len(c), int(c['id'].sum()), len(p), str(p['score'].dtype), p['name'][0], a.num_rows, a.schema.names)\n",
        csv = url("csv"),
        parquet = url("parquet"),
        arrow = url("arrow"),
    ))
    .await;
    assert!(
        out.contains("33 1683 33 float64 person 003 33 ['id', 'name', 'score']"),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_queries_answer_clear_errors_and_reach_nothing_else() {
    let (server, alice, _) = dataset(&[("people", "people.csv", people().into_bytes())]).await;
    let base = server.url.clone();
    let bob = server.user("bob").await;
    let t = r#""alice/t"."people""#;
    let cases: Vec<(String, &str, u16, &str)> = vec![
        (
            format!("SELEC * FROM {t}"),
            &alice,
            400,
            "Line: 1, Column: 1",
        ),
        (
            format!("SELECT id FROM {t} WHERE"),
            &alice,
            400,
            "Line: 1, Column",
        ),
        (
            r#"SELECT * FROM "alice/nope"."people""#.into(),
            &alice,
            404,
            r#"no table \"alice/nope\".\"people\""#,
        ),
        (
            r#"SELECT * FROM "alice/t"."nope""#.into(),
            &alice,
            404,
            r#"no table \"alice/t\".\"nope\""#,
        ),
        (
            r#"SELECT * FROM "alice/t@nope"."people""#.into(),
            &alice,
            404,
            "no table",
        ),
        (
            format!("SELECT * FROM {t}"),
            &bob,
            404,
            r#"no table \"alice/t\".\"people\": it does not exist, or you may not read it"#,
        ),
        (
            "SELECT * FROM people".into(),
            &alice,
            404,
            "name tables as \\\"ns/name\\\"",
        ),
        (
            r#"SELECT * FROM other."alice/t".people"#.into(),
            &alice,
            404,
            "no catalog",
        ),
        (format!("SELECT nope FROM {t}"), &alice, 400, "nope"),
        (
            format!("SELECT 1/0 FROM {t}"),
            &alice,
            400,
            "Divide by zero",
        ),
        (
            format!("SELECT CAST(name AS INT) FROM {t}"),
            &alice,
            400,
            "the query failed",
        ),
        ("EXPLAIN SELECT 1".into(), &alice, 400, "EXPLAIN is not run"),
        (
            format!("CREATE TABLE x AS SELECT * FROM {t}"),
            &alice,
            400,
            "only queries run here",
        ),
        (
            "CREATE EXTERNAL TABLE x STORED AS CSV LOCATION '/etc/passwd'".into(),
            &alice,
            400,
            "only queries run here",
        ),
        (
            format!("INSERT INTO {t} VALUES (1)"),
            &alice,
            400,
            "only queries run here",
        ),
        (
            format!("COPY {t} TO '/tmp/out.csv'"),
            &alice,
            400,
            "only queries run here",
        ),
        (
            "SET datafusion.runtime.memory_limit = '10G'".into(),
            &alice,
            400,
            "only queries run here",
        ),
        ("SHOW TABLES".into(), &alice, 400, "only queries run here"),
        (
            "SELECT 1; SELECT 2".into(),
            &alice,
            400,
            "not SQL this server reads",
        ),
        (
            "SELECT * FROM read_csv('/etc/passwd')".into(),
            &alice,
            404,
            "read_csv",
        ),
        (
            "SELECT * FROM '/etc/passwd'".into(),
            &alice,
            404,
            "no table",
        ),
        (
            "SELECT * FROM information_schema.tables".into(),
            &alice,
            404,
            "no dataset \\\"information_schema\\\"",
        ),
    ];
    for (query, token, want, says) in &cases {
        let (status, headers, v) = sql(&base, token, query, json!({})).await;
        assert_error_body(status, &headers, &v, *want);
        assert!(v.to_string().contains(says), "{query}: {v}");
    }
    // The request itself: a format nobody writes, a field nobody reads, a query too long.
    let (status, headers, v) = sql(&base, &alice, "SELECT 1", json!({"format": "xlsx"})).await;
    assert_error_body(status, &headers, &v, 422);
    let (status, headers, v) = sql(&base, &alice, "SELECT 1", json!({"limit": 5})).await;
    assert_error_body(status, &headers, &v, 422);
    assert!(v["message"].as_str().unwrap().contains("limit"), "{v}");
    let long = format!("SELECT 1 {}", " ".repeat(70_000));
    let (status, headers, v) = sql(&base, &alice, &long, json!({})).await;
    assert_error_body(status, &headers, &v, 413);
    // Without signing in, public tables only; alice's private one is missing.
    let r = client()
        .post(format!("{base}/api/v1/sql"))
        .json(&json!({"query": format!("SELECT count(*) FROM {t}")}))
        .send()
        .await
        .unwrap();
    let (status, headers, v) = body(r).await;
    assert_error_body(status, &headers, &v, 404);
    // Every query is audited, with the tables and revisions it read.
    let admin = server.user_with("root", true, "*").await;
    let (_, _, log) = body(
        client()
            .get(format!("{base}/api/v1/audit?limit=100"))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap(),
    )
    .await;
    let entry = log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["event"] == "sql.query")
        .unwrap_or_else(|| panic!("{log}"));
    let detail: Value = match &entry["detail"] {
        Value::String(s) => serde_json::from_str(s).unwrap(),
        d => d.clone(),
    };
    assert_eq!(
        detail["tables"][0]["table"], r#""alice/t"."people""#,
        "{entry}"
    );
    assert_eq!(detail["tables"][0]["revision"].as_str().unwrap().len(), 40);
}
