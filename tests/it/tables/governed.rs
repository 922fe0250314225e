//! The policies on every table route: Fybrik's sample redacts the PaySim PII columns, and rows,
//! sort, filters, search, statistics, the listing and the Parquet view only ever see the redacted
//! values; hashed, filtered, removed and denied reads likewise; and a policy change is seen by the
//! very next read, both ways (no view of an older decision is ever served).

use serde_json::{json, Value};

use super::get;
use crate::common::*;
use crate::governance::{Gov, PII};

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

/// A real value of a PII column and of a column that is not PII (the first row's).
const NAME_ORIG: &str = "C1231006815";
const NAME_DEST: &str = "M1979787155";

fn total(v: &Value) -> u64 {
    v["total"].as_u64().unwrap_or_else(|| panic!("{v}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_a_policy_hides_never_leak_through_rows_sort_filter_search_or_statistics() {
    let gov = Gov::start().await;
    let t = format!("{}/alice/paysim/tables/paysim-csv", gov.api);
    let bob = gov.bob.clone();

    // Redacted: sorted, every value is the redaction; filters and search see only it.
    let (status, v) = get(&format!("{t}/rows?sort=nameOrig:desc&limit=5"), &bob).await;
    assert_eq!(status, 200, "{v}");
    assert!(
        v["rows"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r[3] == "XXXXXXXXXX"),
        "{v}"
    );
    for pii in PII {
        let ty = v["columns"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == pii)
            .unwrap();
        assert_eq!(ty["type"], "string", "a redacted column is text: {ty}");
    }
    let (_, v) = get(&format!("{t}/rows?filter=nameOrig:eq:{NAME_ORIG}"), &bob).await;
    assert_eq!(total(&v), 0);
    let (_, v) = get(&format!("{t}/rows?filter=nameOrig:contains:C12"), &bob).await;
    assert_eq!(total(&v), 0);
    let (_, v) = get(&format!("{t}/rows?filter=nameOrig:eq:XXXXXXXXXX"), &bob).await;
    assert_eq!(total(&v), 100);
    let (_, v) = get(&format!("{t}/rows?q={NAME_ORIG}"), &bob).await;
    assert_eq!(total(&v), 0, "search finds no hidden value: {v}");
    let (_, v) = get(&format!("{t}/rows?q=170136"), &bob).await;
    assert_eq!(total(&v), 0, "nor a redacted balance: {v}");
    let (_, v) = get(&format!("{t}/rows?q={NAME_DEST}"), &bob).await;
    assert_eq!(total(&v), 1, "a column that is not PII is found: {v}");

    // Statistics describe the redacted column only.
    let (status, s) = get(&format!("{t}/stats"), &bob).await;
    assert_eq!(status, 200, "{s}");
    let text = s.to_string();
    assert!(!text.contains(NAME_ORIG) && !text.contains("170136"), "{s}");
    let col = |n: &str| {
        s["columns"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == n)
            .cloned()
            .unwrap()
    };
    assert_eq!(col("nameOrig")["distinct"], 1);
    assert_eq!(col("nameOrig")["top"], json!([["XXXXXXXXXX", 100]]));
    assert_eq!(col("oldbalanceOrg")["min"], "XXXXXXXXXX");
    assert!(col("oldbalanceOrg").get("mean").is_none());
    assert!(col("amount")["mean"].as_f64().unwrap() > 0.0);

    // The listing and the Parquet view hold the same.
    let (_, list) = get(&format!("{}/alice/paysim/tables", gov.api), &bob).await;
    assert_eq!(list["tables"][0]["rows"], 100, "{list}");
    let r = client()
        .get(format!("{t}?format=parquet"))
        .bearer_auth(&bob)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let parquet = r.bytes().await.unwrap();
    assert!(!parquet
        .windows(NAME_ORIG.len())
        .any(|w| w == NAME_ORIG.as_bytes()));
    let out = gov
        .python(format!(
            "import pandas as pd, io, urllib.request\n\
             req = urllib.request.Request({url:?}, headers={{'Authorization': 'Bearer {bob}'}})\n\
             df = pd.read_parquet(io.BytesIO(urllib.request.urlopen(req).read()))\n\
             print(len(df), sorted(set(df['nameOrig'])), df['amount'].dtype)\n",
            url = format!("{t}?format=parquet")
        ))
        .await;
    assert!(out.contains("100 ['XXXXXXXXXX'] float64"), "{out}");
    let out = super::duckdb(
        &format!("{t}?format=parquet"),
        &bob,
        "SELECT DISTINCT nameOrig FROM read_parquet('URL')",
    )
    .await;
    assert!(out.contains("[('XXXXXXXXXX',)]"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hashed_filtered_removed_and_denied_reads_and_policy_changes_seen_at_once() {
    let gov = Gov::start().await;
    let t = format!("{}/alice/paysim/tables/paysim-csv", gov.api);
    let bob = gov.bob.clone();
    let (status, v) = gov
        .commit_files("steward/policies", &[("sample-policy.rego", ACTIONS)])
        .await;
    assert_eq!(status, 200, "{v}");

    // No rule fires: the real values (this view is made now, and kept).
    let (_, v) = get(&format!("{t}/rows?filter=nameOrig:eq:{NAME_ORIG}"), &bob).await;
    assert_eq!(total(&v), 1, "{v}");

    // Hashed: equal values stay equal, the real ones are not found.
    let (_, v) = get(
        &format!("{t}/rows?intent=hash&limit=1&columns=nameOrig"),
        &bob,
    )
    .await;
    let hashed = v["rows"][0][0].as_str().unwrap().to_owned();
    assert_eq!(hashed.len(), 64, "{v}");
    let (_, v) = get(&format!("{t}/rows?intent=hash&q={NAME_ORIG}"), &bob).await;
    assert_eq!(total(&v), 0);
    let (_, v) = get(
        &format!("{t}/rows?intent=hash&filter=nameOrig:eq:{hashed}"),
        &bob,
    )
    .await;
    assert_eq!(total(&v), 1);

    // Filtered rows are not there to count, sort, search or describe.
    let (_, all) = get(&format!("{t}/rows?filter=type:ne:PAYMENT"), &bob).await;
    let others = total(&all);
    assert!(others > 0);
    let (_, v) = get(
        &format!("{t}/rows?intent=filter&filter=type:ne:PAYMENT"),
        &bob,
    )
    .await;
    assert_eq!(total(&v), 0);
    let (_, s) = get(&format!("{t}/stats?intent=filter"), &bob).await;
    assert_eq!(s["rows"], 100 - others, "{s}");
    assert_eq!(s["columns"][1]["top"], json!([["PAYMENT", 100 - others]]));

    // A removed column does not exist.
    let (_, v) = get(&format!("{t}/rows?intent=remove&limit=1"), &bob).await;
    assert!(!v["columns"].to_string().contains("nameDest"), "{v}");
    for q in [
        "sort=nameDest".to_owned(),
        format!("filter=nameDest:eq:{NAME_DEST}"),
        "columns=nameDest".to_owned(),
    ] {
        let (status, v) = get(&format!("{t}/rows?intent=remove&{q}"), &bob).await;
        assert_eq!(status, 422, "{q}: {v}");
    }
    let (_, v) = get(&format!("{t}/rows?intent=remove&q={NAME_DEST}"), &bob).await;
    assert_eq!(total(&v), 0);

    // Denied: every route refuses, and the listing leaves the table out.
    for url in [
        format!("{t}/rows?intent=marketing"),
        format!("{t}/stats?intent=marketing"),
        format!("{t}?intent=marketing"),
        format!("{t}?format=parquet&intent=marketing"),
        format!("{t}?format=jsonl&intent=marketing"),
    ] {
        let (status, v) = get(&url, &bob).await;
        assert_eq!(status, 403, "{url}: {v}");
    }
    let (_, list) = get(
        &format!("{}/alice/paysim/tables?intent=marketing", gov.api),
        &bob,
    )
    .await;
    assert_eq!(list["tables"], json!([]), "{list}");

    // The sample policy again: the very next read is redacted, though a plain view is kept.
    let (status, v) = gov
        .commit_files(
            "steward/policies",
            &[("sample-policy.rego", crate::governance::SAMPLE_POLICY)],
        )
        .await;
    assert_eq!(status, 200, "{v}");
    let (_, v) = get(&format!("{t}/rows?filter=nameOrig:eq:{NAME_ORIG}"), &bob).await;
    assert_eq!(total(&v), 0, "{v}");
    let r = client()
        .get(format!("{t}?format=parquet"))
        .bearer_auth(&bob)
        .send()
        .await
        .unwrap();
    let parquet = r.bytes().await.unwrap();
    assert!(!parquet
        .windows(NAME_ORIG.len())
        .any(|w| w == NAME_ORIG.as_bytes()));
}
