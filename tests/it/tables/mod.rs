//! Tables end to end: a CSV without a declared schema (its types inferred), a Parquet file written
//! by pyarrow and a JSON Lines file, listed with schemas and row counts, read a page at a time
//! (sort, filters, search, columns), described by column statistics, and read whole as Parquet
//! (ranges, `ETag`) and JSON Lines by pandas and pyarrow. Every bad input answering a clear error
//! is in the API tier (`api/tables.rs`). `governed.rs`: the policies hold on every one of these routes.

mod ahead;
mod chunked;
mod diff;
mod governed;
mod viewer;

use serde_json::{json, Value};

use crate::common::*;

/// Rows of `people.csv`.
const PEOPLE: usize = 250;

/// `people.csv`: id, name, score (empty on every 10th row), joined (a date), active.
pub fn people() -> String {
    let mut csv = String::from("id,name,score,joined,active\n");
    for i in 1..=PEOPLE {
        let score = if i % 10 == 0 {
            String::new()
        } else {
            format!("{}.5", i * 3 % 101)
        };
        let name = if i == 42 {
            "50%_off".to_owned()
        } else {
            format!("person {i:03}")
        };
        csv.push_str(&format!(
            "{i},{name},{score},2024-{:02}-{:02},{}\n",
            i % 12 + 1,
            i % 28 + 1,
            i % 3 == 0
        ));
    }
    csv
}

/// A dataset `alice/t` with `files` (path, bytes) uploaded through LFS and listed as resources;
/// the server, alice's token and the API's base for the dataset.
pub async fn dataset(files: &[(&str, &str, Vec<u8>)]) -> (TestServer, String, String) {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let api = format!("{}/api/v1/datasets", server.url);
    let r = client()
        .post(&api)
        .bearer_auth(&alice)
        .json(&json!({"namespace": "alice", "name": "t", "visibility": "private"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    put_resources(&server, &alice, files, json!({})).await;
    (server, alice, format!("{api}/alice/t"))
}

/// Uploads `files` and makes them the datapackage's resources (`extra` merged into each).
pub async fn put_resources(
    server: &TestServer,
    token: &str,
    files: &[(&str, &str, Vec<u8>)],
    extra: Value,
) {
    let mut resources = Vec::new();
    for (name, path, data) in files {
        upload(server, "alice/t", token, data).await;
        let mut r = json!({"name": name, "path": path, "bytes": data.len(),
            "hash": format!("sha256:{}", sha256_hex(data))});
        if let Some(more) = extra.get(*name).and_then(Value::as_object) {
            for (k, v) in more {
                r[k] = v.clone();
            }
        }
        resources.push(r);
    }
    put_datapackage(server, token, resources).await;
}

/// Makes `resources` alice/t's datapackage's resources, on its head.
pub async fn put_datapackage(server: &TestServer, token: &str, resources: Vec<Value>) {
    let api = format!("{}/api/v1/datasets/alice/t", server.url);
    let head: Value = client()
        .get(&api)
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let r = client()
        .put(&api)
        .bearer_auth(token)
        .json(
            &json!({"datapackage": {"name": "t", "resources": resources},
            "parent": head["revision"]["id"]}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
}

/// GET `url` as `token`: status and JSON.
pub async fn get(url: &str, token: &str) -> (u16, Value) {
    let r = client().get(url).bearer_auth(token).send().await.unwrap();
    let (status, _, v) = body(r).await;
    (status, v)
}

/// Runs a Python script with the test tools' interpreter; its output.
async fn python(script: String) -> String {
    let python = python_tool("python");
    tokio::task::spawn_blocking(move || {
        run(std::process::Command::new(python).args(["-c", &script]))
    })
    .await
    .unwrap()
}

/// DuckDB (its httpfs extension from PyPI, loaded from the file) running `sql` with `url` read
/// over HTTP as `token`: what it prints.
pub async fn duckdb(url: &str, token: &str, sql: &str) -> String {
    python(format!(
        "import duckdb, glob, os, duckdb_ext\n\
         ext = glob.glob(os.path.join(list(duckdb_ext.__path__)[0], 'extensions', 'v*', '*', 'httpfs.duckdb_extension'))[0]\n\
         c = duckdb.connect()\n\
         c.execute(\"LOAD '\" + ext + \"'\")\n\
         c.execute(\"CREATE SECRET s (TYPE http, EXTRA_HTTP_HEADERS MAP {{'Authorization': 'Bearer {token}'}})\")\n\
         print(c.execute({sql:?}.replace('URL', {url:?})).fetchall())\n"
    ))
    .await
}

/// Parquet bytes written by pyarrow: 3000 events (id, kind, amount, at), amount null on every
/// 7th row.
async fn events_parquet(dir: &std::path::Path) -> Vec<u8> {
    let path = dir.join("events.parquet");
    python(format!(
        "import pyarrow as pa, pyarrow.parquet as pq, datetime\n\
         n = 3000\n\
         t = pa.table({{'id': list(range(n)), 'kind': [['buy','sell','hold'][i % 3] for i in range(n)],\n\
           'amount': [None if i % 7 == 0 else i * 0.25 for i in range(n)],\n\
           'at': [datetime.datetime(2024, 1, 1) + datetime.timedelta(minutes=i) for i in range(n)]}})\n\
         pq.write_table(t, {:?}, row_group_size=1000)\n",
        path.display().to_string()
    ))
    .await;
    std::fs::read(path).unwrap()
}

fn jsonl() -> Vec<u8> {
    (0..500)
        .map(|i| json!({"n": i, "label": format!("item {i}"), "ok": i % 2 == 0}).to_string() + "\n")
        .collect::<String>()
        .into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tables_are_listed_paged_sorted_filtered_searched_and_described() {
    let scratch = tempfile::tempdir().unwrap();
    let files = [
        ("people", "people.csv", people().into_bytes()),
        (
            "events",
            "events.parquet",
            events_parquet(scratch.path()).await,
        ),
        ("items", "items.jsonl", jsonl()),
    ];
    let (server, alice, api) = dataset(&files).await;

    // The listing: inferred types, row counts.
    let (status, v) = get(&format!("{api}/tables"), &alice).await;
    assert_eq!(status, 200, "{v}");
    let tables = v["tables"].as_array().unwrap();
    let by = |n: &str| tables.iter().find(|t| t["name"] == n).cloned().unwrap();
    let people_t = by("people");
    assert_eq!(people_t["rows"], PEOPLE);
    let types: Vec<(String, String)> = people_t["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().into(),
                c["type"].as_str().unwrap().into(),
            )
        })
        .collect();
    let want = [
        ("id", "integer"),
        ("name", "string"),
        ("score", "number"),
        ("joined", "date"),
        ("active", "boolean"),
    ];
    assert_eq!(
        types,
        want.iter()
            .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
            .collect::<Vec<_>>()
    );
    assert_eq!(people_t["columns"][0]["declared"], false);
    assert_eq!(by("events")["rows"], 3000);
    assert_eq!(by("events")["columns"][3]["type"], "datetime");
    assert_eq!(by("items")["rows"], 500);

    // A page, sorted by a number descending (empty scores last), only two columns.
    let (status, v) = get(
        &format!("{api}/tables/people/rows?sort=score:desc&columns=id,score&limit=3"),
        &alice,
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["total"], PEOPLE);
    assert_eq!(
        v["columns"],
        json!([{"name": "id", "type": "integer"}, {"name": "score", "type": "number"}])
    );
    assert_eq!(v["rows"][0][1], 100.5);
    let (_, last) = get(
        &format!("{api}/tables/people/rows?sort=score:desc&columns=score&offset=249&limit=1"),
        &alice,
    )
    .await;
    assert_eq!(last["rows"][0][0], Value::Null, "empty values sort last");

    // Filters combine with AND; search finds text literally, in any case.
    let (_, v) = get(
        &format!("{api}/tables/people/rows?filter=active:eq:true&filter=id:le:30&sort=id"),
        &alice,
    )
    .await;
    assert_eq!(v["total"], 10, "{v}");
    assert_eq!(v["rows"][0][0], 3);
    let (_, v) = get(&format!("{api}/tables/people/rows?q=50%25_OFF"), &alice).await;
    assert_eq!(v["total"], 1, "{v}");
    let (_, v) = get(&format!("{api}/tables/people/rows?q=%25"), &alice).await;
    assert_eq!(v["total"], 1, "a % is a percent sign, not a wildcard: {v}");
    let (_, v) = get(
        &format!("{api}/tables/people/rows?filter=score:is_null:true"),
        &alice,
    )
    .await;
    assert_eq!(v["total"], 25);
    let (_, v) = get(
        &format!("{api}/tables/people/rows?filter=id:in:1,2,250&sort=id:desc"),
        &alice,
    )
    .await;
    assert_eq!(
        v["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r[0].clone())
            .collect::<Vec<_>>(),
        [json!(250), json!(2), json!(1)]
    );
    let (_, v) = get(
        &format!(
            "{api}/tables/people/rows?filter=joined:ge:2024-12-01&filter=name:contains:PERSON"
        ),
        &alice,
    )
    .await;
    assert!(v["total"].as_u64().unwrap() > 0, "{v}");
    let (_, v) = get(
        &format!("{api}/tables/events/rows?filter=at:ge:2024-01-03T00:00:00&sort=at&limit=1"),
        &alice,
    )
    .await;
    assert_eq!(v["total"], 3000 - 2 * 24 * 60, "{v}");
    assert_eq!(v["rows"][0][0], 2 * 24 * 60);
    let (_, v) = get(
        &format!("{api}/tables/items/rows?filter=ok:eq:false&sort=n:desc&limit=2"),
        &alice,
    )
    .await;
    assert_eq!(
        v["rows"],
        json!([[499, "item 499", false], [497, "item 497", false]])
    );

    // The streamed reads serve Parquet and JSON Lines tables too: CSV with columns picked,
    // Arrow IPC, and Arrow Flight.
    let r = client()
        .get(format!("{api}/tables/events?columns=kind,id"))
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let csv = r.text().await.unwrap();
    assert_eq!(csv.lines().count(), 3001);
    assert!(csv.starts_with("kind,id\nbuy,0\n"), "{}", &csv[..40]);
    let grpc = server.url.replace("http://", "grpc://");
    let out = python(format!(
        "import json, pyarrow.flight as fl\n\
         c = fl.connect({grpc:?})\n\
         o = fl.FlightCallOptions(headers=[(b'authorization', b'Bearer {alice}')])\n\
         for a in ('items', 'events'):\n    \
             info = c.get_flight_info(fl.FlightDescriptor.for_command(json.dumps({{'asset': 'alice/t/' + a}})), o)\n    \
             t = c.do_get(info.endpoints[0].ticket, o).read_all()\n    \
             print(a, t.num_rows, t.schema.names)\n"
    ))
    .await;
    assert!(out.contains("items 500 ['n', 'label', 'ok']"), "{out}");
    assert!(
        out.contains("events 3000 ['id', 'kind', 'amount', 'at']"),
        "{out}"
    );

    // Statistics.
    let (status, s) = get(&format!("{api}/tables/people/stats"), &alice).await;
    assert_eq!(status, 200, "{s}");
    assert_eq!(s["rows"], PEOPLE);
    let score = &s["columns"][2];
    assert_eq!(
        (
            score["name"].clone(),
            score["count"].clone(),
            score["nulls"].clone()
        ),
        (json!("score"), json!(225), json!(25))
    );
    assert_eq!(score["min"], 0.5);
    assert_eq!(score["max"], 100.5);
    let hist: u64 = score["histogram"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b[2].as_u64().unwrap())
        .sum();
    assert_eq!(hist, 225, "every value falls in a bucket");
    let active = &s["columns"][4];
    assert_eq!(active["distinct"], 2);
    assert_eq!(active["top"][0], json!([false, 167]));
    let (_, again) = get(&format!("{api}/tables/people/stats"), &alice).await;
    assert_eq!(again, s, "kept statistics answer the same");

    // The inferred types committed in one call; a second call has nothing left to write.
    let post = |url: String| client().post(url).bearer_auth(&alice).send();
    let (status, _, v) = body(post(format!("{api}/tables/people/schema")).await.unwrap()).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        v["typed"],
        json!([
            ["id", "integer"],
            ["name", "string"],
            ["score", "number"],
            ["joined", "date"],
            ["active", "boolean"]
        ])
    );
    let (_, ds) = get(&api, &alice).await;
    assert_eq!(ds["revision"]["id"], v["revision"], "{ds}");
    assert_eq!(
        ds["datapackage"]["resources"][0]["schema"]["fields"][3],
        json!({"name": "joined", "type": "date"})
    );
    let (_, list) = get(&format!("{api}/tables"), &alice).await;
    assert_eq!(list["tables"][0]["columns"][0]["declared"], true, "{list}");
    let (status, _, again) = body(post(format!("{api}/tables/people/schema")).await.unwrap()).await;
    assert_eq!(
        (status, again["typed"].clone(), again["revision"].clone()),
        (200, json!([]), v["revision"].clone())
    );
    let bob = server.user("bob").await;
    let r = client()
        .post(format!("{api}/tables/people/schema"))
        .bearer_auth(&bob)
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        404,
        "a stranger learns nothing of a private dataset"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whole_tables_as_parquet_with_ranges_and_as_json_lines_for_pandas() {
    let (server, alice, api) = dataset(&[("people", "people.csv", people().into_bytes())]).await;
    let url = format!("{api}/tables/people?format=parquet");
    let r = client().get(&url).bearer_auth(&alice).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let etag = r.headers()["etag"].to_str().unwrap().to_owned();
    let len: u64 = r.headers()["content-length"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(r.headers()["accept-ranges"], "bytes");
    let whole = r.bytes().await.unwrap();
    assert_eq!(whole.len() as u64, len);
    assert_eq!(&whole[..4], b"PAR1");
    // The footer, as a Parquet reader asks for it.
    let r = client()
        .get(&url)
        .bearer_auth(&alice)
        .header("range", "bytes=-8")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 206);
    assert_eq!(r.bytes().await.unwrap(), whole[whole.len() - 8..]);
    let r = client()
        .get(&url)
        .bearer_auth(&alice)
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 304);

    // pandas reads both formats back, typed.
    let token = alice.clone();
    let out = python(format!(
        "import pandas as pd, io, urllib.request\n\
         get = lambda u: urllib.request.urlopen(urllib.request.Request(u, headers={{'Authorization': 'Bearer {token}'}})).read()\n\
         p = pd.read_parquet(io.BytesIO(get({url:?})))\n\
         j = pd.read_json(io.BytesIO(get({jurl:?})), lines=True)\n\
         print(len(p), str(p['score'].dtype), str(p['joined'].dtype), int(p['id'].sum()), len(j), sorted(j.columns))\n",
        jurl = format!("{api}/tables/people?format=jsonl"),
    ))
    .await;
    assert!(
        out.contains("250 float64 object 31375 250 ['active', 'id', 'joined', 'name', 'score']"),
        "{out}"
    );
    // DuckDB queries the view by URL, reading the footer and the columns it needs by range.
    let out = duckdb(
        &url,
        &alice,
        "SELECT count(*), sum(id), max(score), count(score) FROM read_parquet('URL')",
    )
    .await;
    assert!(out.contains("[(250, 31375, 100.5, 225)]"), "{out}");
    drop(server);
}
