//! A recipient under Fybrik's policy, with a policy of its own on `subject.recipient`: its
//! governed view through the client, and not one byte of a redacted value or a removed column
//! in anything it is handed (lines, snapshot files, the change feed's files); its reads audited.

use serde_json::{json, Value};

use super::{delta, post};
use crate::common::*;

/// Every byte a recipient is handed for `table`: the metadata, query and change lines, and each
/// file they name, whole.
async fn everything(server: &TestServer, token: &str, table: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let base = format!("{}/api/delta-sharing/shares/{table}", server.url);
    let calls = [
        client().get(format!("{base}/metadata")),
        client().post(format!("{base}/query")).json(&json!({})),
        client().get(format!("{base}/changes?startingVersion=0")),
    ];
    for req in calls {
        let r = req.bearer_auth(token).send().await.unwrap();
        assert_eq!(r.status(), 200);
        let text = r.text().await.unwrap();
        for line in text.lines() {
            let v: Value = serde_json::from_str(line).unwrap();
            let action = ["file", "add", "cdf", "remove"]
                .iter()
                .find_map(|k| v.get(*k));
            if let Some(url) = action.and_then(|a| a["url"].as_str()) {
                let r = client().get(url).send().await.unwrap();
                assert_eq!(r.status(), 200, "{url}");
                out.extend_from_slice(&r.bytes().await.unwrap());
            }
        }
        out.extend_from_slice(text.as_bytes());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recipient_reads_its_governed_view_and_no_byte_of_a_redacted_value() {
    use crate::governance::{Gov, PAYSIM};
    let gov = Gov::start().await;
    let server = &gov.server;
    let dir = tempfile::tempdir().unwrap();
    // A PII value of the first row, which Fybrik's sample policy redacts for every reader.
    let canary = "C1231006815";
    // A policy of its own for recipients: partners never see the fraud flags.
    let partners = "package dataapi.authz\n\nrule[{\"action\": {\"name\": \"RemoveAction\", \
        \"columns\": [\"isFraud\"]}, \"policy\": \"recipients see no fraud flags\"}] {\n  \
        input.action.actionType == \"read\"\n  input.subject.recipient\n}\n";
    let (status, v) = gov
        .commit_files("steward/policies", &[("recipients.rego", partners)])
        .await;
    assert_eq!(status, 200, "{v}");
    // A second version: the first row's amount changed (so the feed carries that row).
    let text = std::str::from_utf8(PAYSIM).unwrap();
    let changed = text.replacen("9839.64", "9839.65", 1);
    upload(server, "alice/paysim", &gov.alice, changed.as_bytes()).await;
    gov.set_table(json!(["finance"]), "theshire", changed.as_bytes())
        .await;

    let (status, v) = post(
        server,
        &gov.alice,
        "namespaces/alice/delta-shares",
        json!({"name": "fin"}),
    )
    .await;
    assert_eq!(status, 201, "{v}");
    let table =
        json!({"schema": "pay", "name": "tx", "dataset": "paysim", "resource": "paysim-csv"});
    let (status, v) = post(
        server,
        &gov.alice,
        "namespaces/alice/delta-shares/fin/tables",
        table,
    )
    .await;
    assert_eq!(status, 201, "{v}");
    let (status, v) = post(
        server,
        &gov.alice,
        "namespaces/alice/recipients",
        json!({"name": "globex", "organization": "globex", "purpose": "audit", "shares": ["fin"]}),
    )
    .await;
    assert_eq!(status, 201, "{v}");
    let profile = v["profile"].clone();
    let token = profile["bearerToken"].as_str().unwrap().to_owned();

    let frame = delta(dir.path(), &profile, &["load", "fin.pay.tx"]).await;
    assert!(frame.get("error").is_none(), "{frame}");
    assert_eq!(frame["rows"].as_array().unwrap().len(), 100);
    let columns = frame["columns"].as_array().unwrap();
    assert!(!columns.contains(&json!("isFraud")), "{columns:?}");
    assert!(columns.contains(&json!("nameOrig")));
    assert!(!frame.to_string().contains(canary));
    // The columns the policies leave carry the rows strata's SQL reads for alice.
    let r = client()
        .post(format!("{}/api/v1/sql", server.url))
        .bearer_auth(&gov.alice)
        .json(&json!({"query": "SELECT sum(amount) AS s, count(*) AS n FROM \"alice/paysim\".\"paysim-csv\""}))
        .send()
        .await
        .unwrap();
    let (status, _, v) = body(r).await;
    assert_eq!(status, 200, "{v}");
    let sum: f64 = frame["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["amount"].as_f64().unwrap())
        .sum();
    assert!(
        (sum - v["rows"][0][0].as_f64().unwrap()).abs() < 0.01,
        "{v}"
    );

    let feed = delta(dir.path(), &profile, &["changes", "fin.pay.tx", "1"]).await;
    assert!(feed.get("error").is_none(), "{feed}");
    let kinds: Vec<&str> = feed["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["_change_type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds.len(), 2, "{feed}");
    assert!(
        kinds.contains(&"insert") && kinds.contains(&"delete"),
        "{feed}"
    );
    assert!(!feed.to_string().contains(canary));

    // Not one byte of it anywhere: lines, snapshot files, the feed's files.
    let bytes = everything(server, &token, "fin/schemas/pay/tables/tx").await;
    assert!(bytes.len() > 1000);
    let found = |needle: &[u8]| bytes.windows(needle.len()).any(|w| w == needle);
    assert!(!found(canary.as_bytes()));
    assert!(!found(b"isFraud"));
    assert!(found(b"nameOrig"));
    // Each read is audited: who, which table, which version, how many bytes.
    let audit = gov.audit().await;
    let read = audit
        .iter()
        .find(|e| e["event"] == "delta_sharing.read")
        .expect("an audited read");
    assert_eq!(read["actor"], "recipient:alice/globex");
    let detail: Value = match &read["detail"] {
        Value::String(s) => serde_json::from_str(s).unwrap(),
        d => d.clone(),
    };
    assert_eq!(detail["table"], "tx");
    assert!(detail["bytes"].as_u64().unwrap() > 0, "{detail}");
}
