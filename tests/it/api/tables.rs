//! Tables in process: every bad table and bad query answers a clear error with its status, and
//! nobody else reads a private table nor learns it exists (moved from `tables/mod.rs`). The
//! helpers here make a dataset of tables for `table_diff.rs` and `sql.rs`.

use serde_json::{json, Value};

use crate::common::api::{api, unique, Api};
use crate::common::sha256_hex;
use crate::tables::people;

/// A user's dataset `t` of tables.
pub struct Tables {
    pub api: &'static Api,
    /// The owner's name.
    pub user: String,
    pub token: String,
    /// `/api/v1/datasets/{user}/t`.
    pub base: String,
}

/// A user of their own and their private dataset `t` with `files` (path, bytes) uploaded through
/// LFS and listed as resources.
pub async fn dataset(files: &[(&str, &str, Vec<u8>)]) -> Tables {
    let api = api().await;
    let user = unique("alice");
    let token = api.user(&user).await;
    let r = api
        .post("/api/v1/datasets")
        .bearer(&token)
        .json(&json!({"namespace": user, "name": "t", "visibility": "private"}))
        .send()
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let base = format!("/api/v1/datasets/{user}/t");
    let t = Tables {
        api,
        user,
        token,
        base,
    };
    t.put_resources(files, json!({})).await;
    t
}

impl Tables {
    /// Uploads `files` and makes them the datapackage's resources (`extra` merged into each).
    pub async fn put_resources(&self, files: &[(&str, &str, Vec<u8>)], extra: Value) {
        let repo = format!("{}/t", self.user);
        let mut resources = Vec::new();
        for (name, path, data) in files {
            self.api.upload(&repo, &self.token, data).await;
            let mut r = json!({"name": name, "path": path, "bytes": data.len(),
                "hash": format!("sha256:{}", sha256_hex(data))});
            if let Some(more) = extra.get(*name).and_then(Value::as_object) {
                for (k, v) in more {
                    r[k] = v.clone();
                }
            }
            resources.push(r);
        }
        let head = self.get(&self.base, &self.token).await.1;
        let r = self
            .api
            .put(&self.base)
            .bearer(&self.token)
            .json(
                &json!({"datapackage": {"name": "t", "resources": resources},
                "parent": head["revision"]["id"]}),
            )
            .send()
            .await;
        assert_eq!(r.status, 200, "{}", r.text());
    }

    /// GET `path` as `token`: status and JSON.
    pub async fn get(&self, path: &str, token: &str) -> (u16, Value) {
        let (status, _, v) = self.api.get(path).bearer(token).send().await.parts();
        (status, v)
    }
}

#[tokio::test]
async fn bad_tables_and_bad_queries_answer_clear_errors() {
    let mut ragged = people();
    ragged.push_str("251,too,many,fields,true,extra\n");
    let typed = "n,when\n1,2024-01-01\nx,2024-01-02\n".to_owned();
    let files = [
        ("people", "people.csv", people().into_bytes()),
        ("ragged", "ragged.csv", ragged.into_bytes()),
        ("typed", "typed.csv", typed.into_bytes()),
        ("fake", "fake.parquet", b"PAR1 not really".to_vec()),
        ("lines", "lines.jsonl", b"{\"a\": 1}\n[1, 2]\n".to_vec()),
        ("notes", "notes.txt", b"hello".to_vec()),
    ];
    let t = dataset(&[]).await;
    let (alice, api) = (&t.token, &t.base);
    t.put_resources(
        &files,
        json!({"typed": {"schema": {"fields": [{"name": "n", "type": "integer"}, {"name": "when", "type": "date"}]}}}),
    )
    .await;
    let cases: &[(&str, u16, &str)] = &[
        ("tables/ragged/rows", 422, "record 252 has 6 fields"),
        ("tables/typed/rows", 422, "record 3, column \"n\""),
        ("tables/fake/rows", 422, "not a Parquet file"),
        ("tables/lines/rows", 422, "JSON Lines"),
        ("tables/notes/rows", 422, "not a table"),
        ("tables/nope/rows", 404, "has no resource \"nope\""),
        ("tables/people/rows?limit=0", 422, "limit must be 1 to 1000"),
        (
            "tables/people/rows?limit=1001",
            422,
            "limit must be 1 to 1000",
        ),
        (
            "tables/people/rows?limit=x",
            400,
            "limit must be a whole number",
        ),
        ("tables/people/rows?sort=nope", 422, "no column \"nope\""),
        (
            "tables/people/rows?columns=id,nope",
            422,
            "no column \"nope\"",
        ),
        ("tables/people/rows?filter=id", 400, "column:op:value"),
        (
            "tables/people/rows?filter=id:like:1",
            400,
            "column:op:value",
        ),
        (
            "tables/people/rows?filter=id:gt:abc",
            422,
            "\"abc\" is not of type integer",
        ),
        (
            "tables/people/rows?filter=active:is_null:maybe",
            422,
            "is_null takes true or false",
        ),
        (
            "tables/people/rows?bogus=1",
            400,
            "unknown parameter \"bogus\"",
        ),
        ("tables/people/rows?rev=nope", 404, ""),
        (
            "tables/people?format=xlsx",
            422,
            "use csv, arrow, parquet or jsonl",
        ),
        (
            "tables/people?format=parquet&columns=id",
            422,
            "columns picks columns",
        ),
    ];
    for (path, want, says) in cases {
        let (status, headers, v) = t
            .api
            .get(format!("{api}/{path}"))
            .bearer(alice)
            .send()
            .await
            .parts();
        assert_eq!(status, *want, "{path}: {v}");
        assert!(
            v["message"].as_str().unwrap_or_default().contains(says),
            "{path}: {v}"
        );
        assert!(
            headers.contains_key("x-request-id") || v["request_id"].is_string(),
            "{path}: {v}"
        );
    }
    // A table that cannot be read is listed with its error; the others are listed as they are.
    let (status, v) = t.get(&format!("{api}/tables"), alice).await;
    assert_eq!(status, 200, "{v}");
    let ragged = v["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "ragged")
        .unwrap();
    assert!(
        ragged["error"].as_str().unwrap().contains("6 fields"),
        "{ragged}"
    );
    assert!(!v["tables"]
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["name"] == "notes"));
    // Nobody else reads alice's private tables, nor learns they exist.
    let bob = t.api.user(&unique("bob")).await;
    for path in [
        "tables",
        "tables/people/rows",
        "tables/people/stats",
        "tables/people?format=parquet",
    ] {
        let (status, v) = t.get(&format!("{api}/{path}"), &bob).await;
        assert_eq!(status, 404, "{path}: {v}");
    }
}
