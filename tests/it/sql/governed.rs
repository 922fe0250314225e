//! The ways an analyst would try to get a value the policies hide back out of SQL, with Fybrik's
//! sample policy on the PaySim rows (the PII columns redacted): filter, order, compare, `LIKE`,
//! `length()`/`substr()`, aggregates, window functions, casts whose errors quote a value, a join
//! on a hashed key against a table of guesses, `EXPLAIN`, the catalog, and a revision from before
//! the columns were tagged. Each is refused or answered on transformed values only; removed
//! columns do not exist, filtered rows are not there, a denied table is missing.

use serde_json::{json, Value};

use super::{rows, sql};
use crate::common::*;
use crate::governance::{Gov, PAYSIM, PII};

const T: &str = r#""alice/paysim"."paysim-csv""#;
const NAME_ORIG: &str = "C1231006815";
const REDACTED: &str = "XXXXXXXXXX";

const ACTIONS: &str = r#"package dataapi.authz

rule[{"action": {"name": "RemoveAction", "columns": ["nameDest"]}, "policy": "remove"}] {
  input.context.intent == "remove"
}
rule[{"action": {"name": "HashAction", "columns": ["nameOrig"]}, "policy": "hash"}] {
  input.context.intent == "hash"
}
rule[{"action": {"name": "FilterAction", "filters": [{"column": "type", "op": "eq", "value": "PAYMENT"}]}, "policy": "payments"}] {
  input.context.intent == "filter"
}
rule[{"action": {"name": "Deny"}, "policy": "no marketing"}] {
  input.context.intent == "marketing"
}
"#;

/// The values of the PII columns that appear nowhere else in the rows: none may be answered.
fn secrets() -> Vec<String> {
    let text = std::str::from_utf8(PAYSIM).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    let pii: Vec<usize> = (0..header.len())
        .filter(|i| PII.contains(&header[*i]))
        .collect();
    let open: std::collections::HashSet<&str> = rows
        .iter()
        .flat_map(|r| r.iter().enumerate().filter(|(i, _)| !pii.contains(i)))
        .map(|(_, v)| *v)
        .collect();
    let mut out: Vec<String> = rows
        .iter()
        .flat_map(|r| pii.iter().map(|i| r[*i]))
        .filter(|v| v.len() >= 5 && !open.contains(v))
        .map(str::to_owned)
        .collect();
    out.sort();
    out.dedup();
    assert!(out.len() > 150, "{}", out.len());
    out
}

/// Asserts that `answer` quotes no hidden value.
fn holds(query: &str, answer: &Value, secrets: &[String]) {
    // (Request ids are 32 random hex digits: they may spell a short numeric value by chance.)
    let mut text = String::new();
    for run in answer
        .to_string()
        .split_inclusive(|c: char| !c.is_ascii_hexdigit())
    {
        let hex = run.trim_end_matches(|c: char| !c.is_ascii_hexdigit());
        match hex.len() >= 32 {
            true => text.push_str(&run[hex.len()..]),
            false => text.push_str(run),
        }
    }
    // The guesses a query spells out itself may come back; nothing else.
    let guessed = |s: &str| query.contains(s);
    if let Some(s) = secrets
        .iter()
        .find(|s| text.contains(s.as_str()) && !guessed(s))
    {
        panic!("{query} answered the hidden value {s}: {text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hidden_values_never_come_back_out_of_a_query() {
    let gov = Gov::start().await;
    let base = gov.server.url.clone();
    let bob = gov.bob.clone();
    let secrets = secrets();
    let answered: Vec<(String, Value)> = vec![
        (
            format!(r#"SELECT "nameOrig" FROM {T} WHERE "nameOrig" = '{NAME_ORIG}'"#),
            json!([]),
        ),
        (
            format!(r#"SELECT count(*) FROM {T} WHERE "nameOrig" LIKE 'C%' OR "nameOrig" < 'D'"#),
            json!([[0]]),
        ),
        (
            format!(
                r#"SELECT count(*) FROM {T} WHERE "oldbalanceOrg" = '170136' OR "oldbalanceOrg" = '170136.0'"#
            ),
            json!([[0]]),
        ),
        (
            format!(
                r#"SELECT DISTINCT "nameOrig", "oldbalanceOrg" FROM {T} ORDER BY "nameOrig" DESC"#
            ),
            json!([[REDACTED, REDACTED]]),
        ),
        (
            format!(
                r#"SELECT DISTINCT length("nameOrig"), substr("nameOrig", 2, 4), length("newbalanceOrig") FROM {T}"#
            ),
            json!([[10, "XXXX", 10]]),
        ),
        (
            format!(
                r#"SELECT min("nameOrig"), max("oldbalanceOrg"), count(DISTINCT "newbalanceOrig"), count(*) FROM {T}"#
            ),
            json!([[REDACTED, REDACTED, 1, 100]]),
        ),
        (
            format!(
                r#"SELECT DISTINCT first_value("nameOrig") OVER (ORDER BY "oldbalanceOrg" DESC), rank() OVER (ORDER BY "newbalanceOrig") FROM {T}"#
            ),
            json!([[REDACTED, 1]]),
        ),
        (
            format!(
                r#"WITH g(v) AS (VALUES ('{NAME_ORIG}'), ('C1666544295'), ('{REDACTED}'))
                SELECT g.v, count(t."step") FROM g LEFT JOIN {T} t ON t."nameOrig" = g.v
                GROUP BY g.v ORDER BY g.v"#
            ),
            json!([["C1231006815", 0], ["C1666544295", 0], [REDACTED, 100]]),
        ),
        (
            // A column that is not PII reads as it is.
            format!(r#"SELECT "nameDest", "amount" FROM {T} WHERE "nameDest" = 'M1979787155'"#),
            json!([["M1979787155", 9839.64]]),
        ),
    ];
    for (query, want) in &answered {
        let (status, _, v) = sql(&base, &bob, query, json!({})).await;
        assert_eq!(status, 200, "{query}: {v}");
        assert_eq!(&v["rows"], want, "{query}");
        holds(query, &v, &secrets);
    }
    // A redacted number is text now: arithmetic on it is a type error, a cast fails on the
    // redaction, and neither error quotes anything else.
    let refused = [
        format!(r#"SELECT sum("oldbalanceOrg") FROM {T}"#),
        format!(r#"SELECT CAST("oldbalanceOrg" AS DOUBLE) FROM {T}"#),
        format!(r#"SELECT "oldbalanceOrg" + 1 FROM {T}"#),
        format!(r#"SELECT CAST("nameOrig" AS BIGINT) FROM {T}"#),
        format!(r#"EXPLAIN SELECT * FROM {T} WHERE "nameOrig" = '{NAME_ORIG}'"#),
        "SELECT * FROM information_schema.columns".into(),
        "SELECT * FROM information_schema.tables".into(),
    ];
    for query in &refused {
        let (status, headers, v) = sql(&base, &bob, query, json!({})).await;
        assert!(status == 400 || status == 404, "{query}: {status} {v}");
        assert_error_body(status, &headers, &v, status);
        holds(query, &v, &secrets);
    }
    let (status, _, v) = sql(
        &base,
        &bob,
        &format!(r#"SELECT CAST("oldbalanceOrg" AS DOUBLE) FROM {T}"#),
        json!({}),
    )
    .await;
    assert_eq!(status, 400, "{v}");
    assert!(v["message"].as_str().unwrap().contains(REDACTED), "{v}");

    // The same over Flight SQL, through the ADBC driver: the same rows, the same refusals.
    let asked: Vec<(Option<&str>, String)> = answered
        .iter()
        .map(|(q, _)| q.clone())
        .chain(refused.iter().cloned())
        .map(|q| (None, q))
        .collect();
    let flight = super::flight::adbc_each(&gov, &bob, &asked).await;
    for ((query, want), got) in answered.iter().zip(&flight) {
        assert_eq!(&got["rows"], want, "{query} over Flight SQL: {got}");
        holds(query, got, &secrets);
    }
    for (query, got) in refused.iter().zip(&flight[answered.len()..]) {
        assert!(got["error"].is_string(), "{query} over Flight SQL: {got}");
        holds(query, got, &secrets);
    }

    // The answer says what the policies did; so does the audit entry.
    let (_, _, v) = sql(&base, &bob, &format!("SELECT count(*) FROM {T}"), json!({})).await;
    assert_eq!(v["tables"][0]["columns"]["nameOrig"], "Redact", "{v}");
    let entries = gov.audit().await;
    let sql_entries: Vec<Value> = entries
        .iter()
        .filter(|e| e["event"] == "sql.query")
        .map(|e| match &e["detail"] {
            Value::String(s) => serde_json::from_str(s).unwrap(),
            d => d.clone(),
        })
        .collect();
    assert!(sql_entries.len() >= answered.len(), "{}", sql_entries.len());
    assert_eq!(
        sql_entries[0]["tables"][0]["columns"]["oldbalanceOrg"], "Redact",
        "{:?}",
        sql_entries[0]
    );
    let decisions = entries
        .iter()
        .filter(|e| e["event"] == "policy.decision" && e["detail"].to_string().contains("sql"))
        .count();
    assert!(decisions > 0, "no policy decision audited for SQL");

    // A revision from before the columns were tagged is governed by the head's tags.
    let api = format!("{}/alice/paysim", gov.api);
    let (_, head) = crate::tables::get(&api, &gov.alice).await;
    let mut pkg = head["datapackage"].clone();
    for f in pkg["resources"][0]["schema"]["fields"]
        .as_array_mut()
        .unwrap()
    {
        f["tags"] = json!({"PII": false});
    }
    let r = client()
        .put(&api)
        .bearer_auth(&gov.alice)
        .json(&json!({"datapackage": pkg, "parent": head["revision"]["id"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let untagged = gov.head("alice/paysim", &gov.alice).await;
    let q = |rev: &str| {
        format!(
            r#"SELECT count(*) FROM "alice/paysim{rev}"."paysim-csv" WHERE "nameOrig" = '{NAME_ORIG}'"#
        )
    };
    assert_eq!(rows(&base, &bob, &q(""), json!({})).await, json!([[1]]));
    gov.set_package(json!(["finance"]), "theshire").await;
    assert_eq!(rows(&base, &bob, &q(""), json!({})).await, json!([[0]]));
    let at = format!("@{untagged}");
    assert_eq!(rows(&base, &bob, &q(&at), json!({})).await, json!([[0]]));
    let v = rows(
        &base,
        &bob,
        &format!(r#"SELECT DISTINCT "nameOrig" FROM "alice/paysim{at}"."paysim-csv""#),
        json!({}),
    )
    .await;
    assert_eq!(v, json!([[REDACTED]]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hashed_keys_removed_columns_filtered_rows_and_denials_hold_in_queries() {
    let gov = Gov::start().await;
    let base = gov.server.url.clone();
    let bob = gov.bob.clone();
    let (status, v) = gov
        .commit_files("steward/policies", &[("sample-policy.rego", ACTIONS)])
        .await;
    assert_eq!(status, 200, "{v}");
    let secrets: Vec<String> = secrets()
        .into_iter()
        .filter(|s| s.starts_with('C'))
        .collect();
    let hash = json!({"intent": "hash"});

    // Hashed: equal values stay equal (a count of distinct keys is right), but a table of guesses
    // joins with nothing, plain or hashed the way a client could.
    let distinct = rows(
        &base,
        &bob,
        &format!(r#"SELECT count(DISTINCT "nameOrig") FROM {T}"#),
        json!({}),
    )
    .await;
    let v = rows(
        &base,
        &bob,
        &format!(r#"SELECT count(DISTINCT "nameOrig"), min(length("nameOrig")) FROM {T}"#),
        hash.clone(),
    )
    .await;
    assert_eq!(v[0][0], distinct[0][0], "{v}");
    assert_eq!(v[0][1], 64, "{v}");
    // The guesses, plain and as a client would hash them (sha256, in hex).
    let guessed: Vec<String> = [NAME_ORIG, "C1666544295"]
        .iter()
        .flat_map(|g| {
            [
                format!("('{g}')"),
                format!("('{}')", sha256_hex(g.as_bytes())),
            ]
        })
        .collect();
    let guesses = format!(
        r#"WITH g(v) AS (VALUES {})
           SELECT count(*) FROM {T} t JOIN g ON t."nameOrig" = g.v"#,
        guessed.join(", ")
    );
    let (status, _, v) = sql(&base, &bob, &guesses, hash.clone()).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["rows"], json!([[0]]));
    holds(&guesses, &v, &secrets);
    let (_, _, v) = sql(
        &base,
        &bob,
        &format!(r#"SELECT "nameOrig" FROM {T} ORDER BY "nameOrig""#),
        hash.clone(),
    )
    .await;
    holds("hashed rows", &v, &secrets);

    // Removed: the column does not exist, by name or by star.
    let remove = json!({"intent": "remove"});
    let (status, headers, v) = sql(
        &base,
        &bob,
        &format!(r#"SELECT "nameDest" FROM {T}"#),
        remove.clone(),
    )
    .await;
    assert_error_body(status, &headers, &v, 400);
    assert!(v["message"].as_str().unwrap().contains("nameDest"), "{v}");
    let (_, _, v) = sql(
        &base,
        &bob,
        &format!("SELECT * FROM {T} LIMIT 1"),
        remove.clone(),
    )
    .await;
    assert!(!v["columns"].to_string().contains("nameDest"), "{v}");
    assert!(!v["rows"].to_string().contains("M1979787155"), "{v}");

    // Filtered: the rows are not there to count, group or join.
    let filter = json!({"intent": "filter"});
    let v = rows(
        &base,
        &bob,
        &format!(r#"SELECT "type", count(*) FROM {T} GROUP BY "type""#),
        filter.clone(),
    )
    .await;
    assert_eq!(v.as_array().unwrap().len(), 1, "{v}");
    assert_eq!(v[0][0], "PAYMENT");
    let v = rows(
        &base,
        &bob,
        &format!(
            r#"SELECT count(*) FROM {T} a JOIN "alice/paysim"."paysim-csv" b ON a."step" = b."step" WHERE b."type" <> 'PAYMENT'"#
        ),
        filter,
    )
    .await;
    assert_eq!(v, json!([[0]]), "a second reference is filtered too");

    // Denied: the table is missing, as one that does not exist.
    let (status, headers, v) = sql(
        &base,
        &bob,
        &format!("SELECT count(*) FROM {T}"),
        json!({"intent": "marketing"}),
    )
    .await;
    assert_error_body(status, &headers, &v, 404);
    let (_, _, missing) = sql(
        &base,
        &bob,
        r#"SELECT count(*) FROM "alice/paysim"."nope""#,
        json!({}),
    )
    .await;
    assert_eq!(
        v["message"].as_str().unwrap().replace("paysim-csv", "nope"),
        missing["message"].as_str().unwrap(),
    );

    // The same over Flight SQL, the intent as the call's header.
    let asked = [
        (Some("hash"), guesses.clone()),
        (Some("remove"), format!(r#"SELECT "nameDest" FROM {T}"#)),
        (Some("remove"), format!("SELECT * FROM {T} LIMIT 1")),
        (
            Some("filter"),
            format!(r#"SELECT "type", count(*) FROM {T} GROUP BY "type""#),
        ),
        (Some("marketing"), format!("SELECT count(*) FROM {T}")),
    ];
    let flight = super::flight::adbc_each(&gov, &bob, &asked).await;
    assert_eq!(flight[0]["rows"], json!([[0]]), "{flight:?}");
    holds(&guesses, &flight[0], &secrets);
    assert!(
        flight[1]["error"].as_str().unwrap().contains("nameDest"),
        "{flight:?}"
    );
    let row = flight[2]["rows"][0].to_string();
    assert!(!row.contains("M1979787155"), "{row}");
    assert_eq!(flight[2]["rows"][0].as_array().unwrap().len(), 10, "{row}");
    assert_eq!(flight[3]["rows"].as_array().unwrap().len(), 1, "{flight:?}");
    assert_eq!(flight[3]["rows"][0][0], "PAYMENT");
    assert!(
        flight[4]["error"].as_str().unwrap().contains("no table"),
        "{flight:?}"
    );
}
