//! Each action and the hostile cases: Deny, Remove, Hash, Filter, residency, intent and subject in
//! the input, a policy changed by push taking effect at once, broken policies refused by commit
//! and by push, an evaluation error failing closed, columns asked for, the catalog search.

use serde_json::{json, Value};

use super::*;

const POLICY: &str = r#"package dataapi.authz

rule[{"action": {"name": "RemoveAction", "columns": ["nameDest"]}, "policy": "remove"}] {
  input.context.intent == "remove"
}
rule[{"action": {"name": "RedactAction", "columns": ["nameDest"]}, "policy": "redact too"}] {
  input.context.intent == "remove"
}
rule[{"action": {"name": "HashAction", "columns": ["nameOrig", "nameDest"]}, "policy": "hash"}] {
  input.context.intent == "hash"
}
rule[{"action": {"name": "FilterAction", "filters": [{"column": "type", "op": "eq", "value": "PAYMENT"}]}, "policy": "payments"}] {
  input.context.intent == "filter"
}
rule[{"action": {"name": "FilterAction", "filters": [{"column": "amount", "op": "<", "value": 2000}]}, "policy": "small"}] {
  input.context.intent == "filter"
}
rule[{"action": {"name": "Deny"}, "policy": "no marketing"}] {
  input.context.intent == "marketing"
}
rule[{"action": {"name": "Deny"}, "policy": "data stays where it lives"}] {
  input.resource.metadata.geography != input.action.processingLocation
}
rule[{"action": {"name": "Deny"}, "policy": "bob reads no finance"}] {
  input.subject.user == "bob"
  input.resource.metadata.tags.finance
}
rule[{"action": {"name": "Teleport"}, "policy": "an action strata does not know"}] {
  input.context.intent == "teleport"
}
"#;

fn rows(csv: &str) -> Vec<Vec<String>> {
    csv.lines()
        .map(|l| l.split(',').map(str::to_owned).collect())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deny_remove_hash_filter_residency_and_failing_closed() {
    let gov = Gov::start().await;
    let (status, v) = gov
        .commit_files("steward/policies", &[("sample-policy.rego", POLICY)])
        .await;
    assert_eq!(status, 200, "{v}");
    let a = Some(gov.alice.as_str());

    // No rule fires: the table as it is, and the raw bytes too (fast path).
    let (status, body) = gov.table(a, "").await;
    assert_eq!(status, 200, "{body}");
    let same = body
        .lines()
        .eq(std::str::from_utf8(PAYSIM).unwrap().lines());
    assert!(same, "the table changed without a rule");
    let raw = client()
        .get(format!("{}/alice/paysim/raw/paysim.csv", gov.api))
        .bearer_auth(&gov.alice)
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), 200);

    // Remove beats Redact; the column is gone, and asking for it by name is refused.
    let (status, body) = gov.table(a, "intent=remove").await;
    assert_eq!(status, 200, "{body}");
    let t = rows(&body);
    assert!(
        !t[0].contains(&"nameDest".to_owned()) && t[0].len() == 10,
        "{:?}",
        t[0]
    );
    let (status, body) = gov.table(a, "intent=remove&columns=step,nameDest").await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("removed by policy"), "{body}");
    // Asked-for columns, in the order asked; an unknown one is 422.
    let (status, body) = gov.table(a, "columns=type,step").await;
    assert_eq!(status, 200);
    assert_eq!(rows(&body)[1], ["PAYMENT", "1"]);
    let (status, _) = gov.table(a, "columns=nope").await;
    assert_eq!(status, 422);

    // Hash: salted (keyed) sha256, the same value hashing the same in every read.
    let (status, body) = gov.table(a, "intent=hash").await;
    assert_eq!(status, 200);
    let t = rows(&body);
    let (orig, dest) = (3, 6);
    assert_eq!(t[1][orig].len(), 64);
    assert_ne!(t[1][orig], sha256_hex(b"C1231006815"), "unsalted");
    let (_, again) = gov.table(a, "intent=hash").await;
    assert_eq!(body, again);
    assert_ne!(t[1][orig], t[1][dest]);

    // Filters combine with AND, on the original values.
    let (status, body) = gov.table(a, "intent=filter").await;
    assert_eq!(status, 200);
    let t = rows(&body);
    assert!(t.len() > 2);
    for r in &t[1..] {
        assert_eq!(r[1], "PAYMENT");
        assert!(r[2].parse::<f64>().unwrap() < 2000.0, "{r:?}");
    }
    let want = std::str::from_utf8(PAYSIM)
        .unwrap()
        .lines()
        .skip(1)
        .filter(|l| {
            let c: Vec<&str> = l.split(',').collect();
            c[1] == "PAYMENT" && c[2].parse::<f64>().unwrap() < 2000.0
        })
        .count();
    assert_eq!(t.len() - 1, want);

    // Deny: by intent, by subject; with the policy's words and a request id.
    for (token, query, words) in [
        (a, "intent=marketing", "no marketing"),
        (Some(gov.bob.as_str()), "", "bob reads no finance"),
        (a, "intent=teleport", "could not decide"),
    ] {
        let (status, body) = gov.table(token, query).await;
        assert_eq!(status, 403, "{query}: {body}");
        let v: Value = serde_json::from_str(&body).unwrap();
        assert!(v["message"].as_str().unwrap().contains(words), "{v}");
        assert!(v["request_id"].is_string());
    }
    // An unknown action fails closed on the raw path too.
    let raw = client()
        .get(format!("{}/alice/paysim/raw/paysim.csv?rev=main", gov.api))
        .bearer_auth(&gov.bob)
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), 403);

    // Residency: moved to another geography, every read is denied; moved back, allowed.
    gov.set_package(json!({"finance": true}), "mordor").await;
    let (status, body) = gov.table(a, "").await;
    assert_eq!(status, 403);
    assert!(body.contains("data stays where it lives"), "{body}");
    gov.set_package(json!({"finance": true}), "theshire").await;
    assert_eq!(gov.table(a, "").await.0, 200);

    // A broken policy is refused by commit (422), and the old one stays in force.
    let (status, v) = gov
        .commit_files(
            "steward/policies",
            &[("broken.rego", "package dataapi.authz\nrule[x] { x := ")],
        )
        .await;
    assert_eq!(status, 422, "{v}");
    assert!(
        v["message"].as_str().unwrap().contains("broken.rego"),
        "{v}"
    );
    assert_eq!(gov.table(a, "intent=marketing").await.0, 403);

    // A policy changed by push takes effect at once; a broken one is refused by the hook.
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    setup_home(&home, &gov.server.url, &gov.steward);
    let url = format!("{}/steward/policies.git", gov.server.url);
    run(git(&home, dir.path()).args(["clone", &url, "p"]));
    let work = dir.path().join("p");
    std::fs::write(
        work.join("sample-policy.rego"),
        r#"package dataapi.authz
rule[{"action": {"name": "RedactAction", "columns": ["type"]}, "policy": "type is secret"}] { true }
"#,
    )
    .unwrap();
    run(git(&home, &work).args(["commit", "-qam", "type is secret"]));
    run(git(&home, &work).args(["push", "-q", "origin", "main"]));
    let (status, body) = gov.table(a, "").await;
    assert_eq!(status, 200);
    assert_eq!(
        rows(&body)[1][1],
        "XXXXXXXXXX",
        "the pushed policy is in force"
    );
    std::fs::write(
        work.join("bad.rego"),
        "package dataapi.authz\nrule[x] { x := no_such(1) }\n",
    )
    .unwrap();
    run(git(&home, &work).args(["add", "bad.rego"]));
    run(git(&home, &work).args(["commit", "-qm", "broken"]));
    let push = git(&home, &work)
        .args(["push", "origin", "main"])
        .output()
        .unwrap();
    assert!(!push.status.success());
    let said = String::from_utf8_lossy(&push.stderr);
    assert!(said.contains("do not compile"), "{said}");
    assert_eq!(rows(&gov.table(a, "").await.1)[1][1], "XXXXXXXXXX");

    // Denials are audited.
    let entries = gov.audit().await;
    let denies = entries
        .iter()
        .filter(|e| e["event"] == "policy.deny")
        .count();
    assert!(denies >= 4, "{denies}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_catalog_searches_tags_geography_and_names_the_caller_may_see() {
    let gov = Gov::start().await;
    // carol's private finance dataset: bob must not find it.
    let carol = gov.server.user("carol").await;
    gov.create("carol", "ledger", &carol, "private").await;
    let parent = gov.head("carol/ledger", &carol).await;
    let pkg = json!({"name": "ledger", "tags": ["finance", "internal"], "geography": "mordor", "resources": []});
    let r = client()
        .put(format!("{}/carol/ledger", gov.api))
        .bearer_auth(&carol)
        .json(&json!({"datapackage": pkg, "parent": parent}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let search = |token: String, q: &'static str| {
        let url = format!("{}/api/v1/catalog?{q}", gov.server.url);
        async move {
            let v: Value = client()
                .get(url)
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let names: Vec<String> = v["datasets"]
                .as_array()
                .unwrap_or_else(|| panic!("{v}"))
                .iter()
                .map(|d| d["dataset"].as_str().unwrap().to_owned())
                .collect();
            (names, v)
        }
    };
    let (names, v) = search(gov.bob.clone(), "tags=finance").await;
    assert_eq!(names, ["alice/paysim"], "{v}");
    assert_eq!(
        v["datasets"][0]["resources"][0]["columns"][3]["tags"]["PII"],
        true
    );
    assert!(
        v["policies"].is_null(),
        "bob may not read the policy dataset: {v}"
    );
    let (_, v) = search(gov.steward.clone(), "tags=finance").await;
    assert_eq!(
        v["policies"]["files"],
        json!(["lib.rego", "sample-policy.rego"])
    );
    let (names, _) = search(carol.clone(), "tags=finance").await;
    assert_eq!(names, ["alice/paysim", "carol/ledger"]);
    let (names, _) = search(carol.clone(), "tags=finance,PII").await;
    assert_eq!(names, ["alice/paysim"]);
    let (names, _) = search(carol.clone(), "geography=Mordor").await;
    assert_eq!(names, ["carol/ledger"]);
    let (names, _) = search(carol.clone(), "q=paysim%20trans").await;
    assert_eq!(names, ["alice/paysim"]);
    let (names, _) = search(gov.bob.clone(), "tags=internal").await;
    assert!(names.is_empty());
    let r = client()
        .get(format!("{}/api/v1/catalog?limit=0", gov.server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    // The dataset page shows the tags.
    let page = client()
        .get(format!("{}/datasets/alice/paysim", gov.server.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("finance") && page.contains("theshire"),
        "no tags on the page"
    );
}
