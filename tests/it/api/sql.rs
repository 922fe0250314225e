//! SQL in process: values bound to `$1` and `?` (the same rows as the values written into the
//! query, every misfit refused with its status, message and request id), and a folder share
//! reaching only the tables inside it (moved from `sql/mod.rs`).

use serde_json::{json, Value};

use super::tables::dataset;
use crate::common::api::{unique, Api};
use crate::common::assert_error_body;
use crate::tables::people;

/// POSTs `query` (with `more` fields) to `/api/v1/sql` as `token`: status, headers, JSON.
async fn sql(
    api: &'static Api,
    token: &str,
    query: &str,
    more: Value,
) -> (u16, axum::http::HeaderMap, Value) {
    let mut req = json!({ "query": query });
    if let Some(m) = more.as_object() {
        for (k, v) in m {
            req[k] = v.clone();
        }
    }
    api.post("/api/v1/sql")
        .bearer(token)
        .json(&req)
        .send()
        .await
        .parts()
}

/// The rows of a JSON answer that must have succeeded.
async fn rows(api: &'static Api, token: &str, query: &str, more: Value) -> Value {
    let (status, _, v) = sql(api, token, query, more).await;
    assert_eq!(status, 200, "{query}: {v}");
    v["rows"].clone()
}

/// Values bound to `$1`, `$2` or `?`: the same rows as the values written into the query, each
/// value read as its placeholder's type, and every mismatch refused before anything runs.
#[tokio::test]
async fn placeholders_take_bound_values_and_refuse_what_does_not_fit() {
    let tables = dataset(&[("people", "people.csv", people().into_bytes())]).await;
    let (base, alice) = (tables.api, &tables.token);
    let t = format!(r#""{}/t"."people""#, tables.user);
    let want = rows(
        base,
        alice,
        &format!("SELECT id, name FROM {t} WHERE score > 50 AND name LIKE 'person 1%' ORDER BY id"),
        json!({}),
    )
    .await;
    assert!(want.as_array().unwrap().len() > 3, "{want}");
    for (query, params) in [
        (
            format!("SELECT id, name FROM {t} WHERE score > $1 AND name LIKE $2 ORDER BY id"),
            json!([50, "person 1%"]),
        ),
        (
            format!("SELECT id, name FROM {t} WHERE score > ? AND name LIKE ? ORDER BY id"),
            json!([50, "person 1%"]),
        ),
        // Text read as the number its placeholder compares with.
        (
            format!("SELECT id, name FROM {t} WHERE score > $1 AND name LIKE $2 ORDER BY id"),
            json!(["50", "person 1%"]),
        ),
    ] {
        let got = rows(base, alice, &query, json!({ "params": params })).await;
        assert_eq!(got, want, "{query}");
    }
    // A value is a value, never SQL.
    let got = rows(
        base,
        alice,
        &format!("SELECT count(*) FROM {t} WHERE name = $1"),
        json!({"params": ["x' OR '1'='1"]}),
    )
    .await;
    assert_eq!(got, json!([[0]]));
    let got = rows(base, alice, "SELECT $1 IS NULL", json!({"params": [null]})).await;
    assert_eq!(got, json!([[true]]));

    let cases: Vec<(String, Value, u16, &str)> = vec![
        (
            format!("SELECT * FROM {t} WHERE id = $1"),
            json!([]),
            400,
            "1 placeholder and 0 values were bound",
        ),
        (
            format!("SELECT * FROM {t} WHERE id = ?"),
            json!([1, 2]),
            400,
            "1 placeholder and 2 values were bound",
        ),
        (
            format!("SELECT * FROM {t}"),
            json!([1]),
            400,
            "0 placeholders and 1 value was bound",
        ),
        (
            format!("SELECT * FROM {t} WHERE id = $1"),
            json!(["one"]),
            400,
            "parameter $1",
        ),
        (
            format!("SELECT * FROM {t} WHERE id = $1 AND name = ?"),
            json!([1, "a"]),
            400,
            "not both",
        ),
        (
            format!("SELECT * FROM {t} WHERE id = $2"),
            json!([1]),
            400,
            "without gaps",
        ),
        (
            format!("SELECT * FROM {t} WHERE id = $who"),
            json!([1]),
            400,
            "placeholder $who",
        ),
        (
            format!("SELECT * FROM {t} WHERE id = $1"),
            json!([[1]]),
            400,
            "not a list or an object",
        ),
        (
            format!("SELECT * FROM {t} WHERE id = $1"),
            json!([{"a": 1}]),
            400,
            "not a list or an object",
        ),
        (
            "SELECT * FROM $1".into(),
            json!([t]),
            400,
            "not SQL this server reads",
        ),
        (
            format!("SELECT * FROM {t} WHERE name = $1"),
            json!(["x".repeat(1_100_000)]),
            413,
            "bound values",
        ),
    ];
    for (query, params, want, says) in &cases {
        let (status, headers, v) = sql(base, alice, query, json!({ "params": params })).await;
        assert_error_body(status, &headers, &v, *want);
        assert!(v.to_string().contains(says), "{query} {params}: {v}");
    }
    // `params` is a list.
    let (status, headers, v) = sql(base, alice, "SELECT 1", json!({"params": {"a": 1}})).await;
    assert_error_body(status, &headers, &v, 422);
}

#[tokio::test]
async fn a_folder_share_reaches_only_the_tables_inside_it() {
    let hidden: String = people()
        .lines()
        .take(11)
        .map(|l| format!("{l}\n"))
        .collect();
    let tables = dataset(&[
        ("open", "open/people.csv", people().into_bytes()),
        ("hidden", "secret/people.csv", hidden.into_bytes()),
    ])
    .await;
    let (api, alice, ns) = (tables.api, &tables.token, &tables.user);
    let bob_name = unique("bob");
    let bob = api.user(&bob_name).await;
    let r = api
        .post(format!("{}/shares", tables.base))
        .bearer(alice)
        .json(&json!({"path": "open", "user": bob_name, "access": "read"}))
        .send()
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let got = rows(
        api,
        &bob,
        &format!(r#"SELECT count(*) FROM "{ns}/t"."open""#),
        json!({}),
    )
    .await;
    assert_eq!(got, json!([[250]]));
    // The table outside the share, even joined with one inside, is missing like one that is.
    let (_, _, nope) = sql(
        api,
        &bob,
        &format!(r#"SELECT * FROM "{ns}/t"."nope""#),
        json!({}),
    )
    .await;
    let (status, headers, v) = sql(
        api,
        &bob,
        &format!(
            r#"SELECT count(*) FROM "{ns}/t"."open" o JOIN "{ns}/t"."hidden" h ON o.id = h.id"#
        ),
        json!({}),
    )
    .await;
    assert_error_body(status, &headers, &v, 404);
    assert_eq!(
        v["message"].as_str().unwrap().replace("hidden", "nope"),
        nope["message"].as_str().unwrap()
    );
}
