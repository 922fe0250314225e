//! Data contracts on a protected default branch: every write path (a REST datapackage update, an
//! NDJSON commit, a browser upload, a revert, `git push`) refuses a table that breaks its Table
//! Schema, naming the resource, row and column, and leaves the branch where it was; what holds
//! lands with its report (REST and the revision page). Every constraint, keys across resources,
//! the tag rule, a contract that cannot be read, and an unprotected dataset's report on demand.

use std::path::Path;

use serde_json::{json, Value};

use crate::common::*;

const API: &str = "/api/v1/datasets";

/// `people.csv` rows (id, age, code, team) after the header.
fn people(rows: &[&str]) -> Vec<u8> {
    let mut s = String::from("id,age,code,team\n");
    for r in rows {
        s.push_str(r);
        s.push('\n');
    }
    s.into_bytes()
}

const GOOD: &[&str] = &["1,30,AB,10", "2,41,CD,20", "3,,AB,10", "4,7,CD,"];

fn teams() -> Vec<u8> {
    b"id,name\n10,red\n20,blue\n".to_vec()
}

/// The datapackage with its contract, naming the objects of `people` and `teams`.
fn package(people: &[u8], teams: &[u8]) -> Value {
    json!({
        "name": "c",
        "resources": [
            {"name": "people", "path": "people.csv", "format": "csv", "bytes": people.len(),
             "hash": format!("sha256:{}", sha256_hex(people)),
             "schema": {
                "primaryKey": "id",
                "fields": [
                    {"name": "id", "type": "integer"},
                    {"name": "age", "type": "integer", "constraints": {"minimum": 0, "maximum": 150}},
                    {"name": "code", "type": "string", "constraints": {"required": true, "pattern": "[A-Z]{2}", "enum": ["AB", "CD"]}},
                    {"name": "team", "type": "integer"}
                ],
                "foreignKeys": [{"fields": "team", "reference": {"resource": "teams", "fields": "id"}}]
             }},
            {"name": "teams", "path": "teams.csv", "format": "csv", "bytes": teams.len(),
             "hash": format!("sha256:{}", sha256_hex(teams)),
             "schema": {"fields": [{"name": "id", "type": "integer", "constraints": {"unique": true}}, {"name": "name", "type": "string"}]}}
        ]
    })
}

struct Setup {
    server: TestServer,
    alice: String,
    /// The objects uploaded already (the batch API asks for each once).
    uploaded: std::sync::Mutex<Vec<String>>,
}

impl Setup {
    fn at(&self, path: &str) -> String {
        format!("{}{API}/alice/c{path}", self.server.url)
    }

    async fn head(&self) -> String {
        let r = client()
            .get(self.at(""))
            .bearer_auth(&self.alice)
            .send()
            .await
            .unwrap();
        let (_, _, v) = body(r).await;
        v["revision"]["id"].as_str().unwrap_or_default().to_owned()
    }

    /// PUTs the datapackage over `people` rows (uploaded first): status and body.
    /// Turns the default branch's protection on or off.
    async fn protect(&self, on: bool) {
        let r = client()
            .put(self.at("/protection"))
            .bearer_auth(&self.alice)
            .json(&json!({"default_branch": on}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 204);
    }

    async fn upload(&self, data: &[u8]) -> String {
        let oid = sha256_hex(data);
        if !self.uploaded.lock().unwrap().contains(&oid) {
            upload(&self.server, "alice/c", &self.alice, data).await;
            self.uploaded.lock().unwrap().push(oid.clone());
        }
        oid
    }

    async fn put(&self, rows: &[u8]) -> (u16, reqwest::header::HeaderMap, Value) {
        self.upload(rows).await;
        let head = self.head().await;
        let r = client()
            .put(self.at(""))
            .bearer_auth(&self.alice)
            .json(&json!({"datapackage": package(rows, &teams()), "parent": head}))
            .send()
            .await
            .unwrap();
        body(r).await
    }
}

async fn setup(protect: bool) -> Setup {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let s = Setup {
        server,
        alice,
        uploaded: Default::default(),
    };
    let r = client()
        .post(format!("{}{API}", s.server.url))
        .bearer_auth(&s.alice)
        .json(&json!({"namespace": "alice", "name": "c", "visibility": "private"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    s.upload(&teams()).await;
    let (status, _, v) = s.put(&people(GOOD)).await;
    assert_eq!(status, 200, "{v}");
    if protect {
        s.protect(true).await;
    }
    s
}

/// Each broken rule, refused over REST with its row and column; the head does not move.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_constraint_refuses_a_rest_write_naming_row_and_column() {
    let s = setup(true).await;
    let before = s.head().await;
    let cases: &[(&[&str], &str, &str, u64)] = &[
        (&["1,30,AB,10", "2,-4,CD,20"], "minimum", "age", 2),
        (&["1,30,AB,10", "2,151,CD,20"], "maximum", "age", 2),
        (&["1,30,AB,10", "2,40,,20"], "required", "code", 2),
        (&["1,30,AB,10", "2,40,ab,20"], "pattern", "code", 2),
        (&["1,30,AB,10", "2,40,EF,20"], "enum", "code", 2),
        (&["1,30,AB,10", "1,40,CD,20"], "primaryKey", "id", 1),
        (&["1,30,AB,10", ",40,CD,20"], "primaryKey", "id", 2),
        (&["1,30,AB,10", "2,40,CD,99"], "foreignKey", "team", 2),
        (&["1,30,AB,10", "2,forty,CD,20"], "type", "age", 2),
    ];
    // Text constraints on the second resource's name column.
    for (rows, rule, column, row) in cases {
        let (status, headers, v) = s.put(&people(rows)).await;
        assert_error_body(status, &headers, &v, 422);
        let message = v["message"].as_str().unwrap();
        assert!(
            message.contains("the contract refuses this write"),
            "{rule}: {v}"
        );
        assert!(message.contains("resource \"people\""), "{rule}: {v}");
        assert!(
            message.contains(&format!("column \"{column}\"")),
            "{rule}: {v}"
        );
        let violation = v["violations"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["rule"] == *rule)
            .unwrap_or_else(|| panic!("{rule}: {v}"));
        assert_eq!(violation["rows"][0], *row, "{rule}: {v}");
        // No value is quoted back, in the message or the violations.
        let whole = format!("{} {}", v["message"], v["violations"]);
        for value in ["forty", "EF", "\"ab\"", "ab,", "99", "-4", "151"] {
            assert!(!whole.contains(value), "{rule}: {value} in {whole}");
        }
        assert_eq!(s.head().await, before, "{rule}: the branch moved");
    }
    // unique, minLength and maxLength, on the teams table.
    for (teams, rule) in [
        (&b"id,name\n10,red\n10,blue\n20,green\n"[..], "unique"),
        (&b"id,name\n10,red\n20,b\n"[..], "minLength"),
        (&b"id,name\n10,red\n20,bluegreenyellow\n"[..], "maxLength"),
    ] {
        s.upload(teams).await;
        let mut pkg = package(&people(GOOD), teams);
        pkg["resources"][1]["schema"]["fields"][1]["constraints"] =
            json!({"minLength": 2, "maxLength": 8});
        let r = client()
            .put(s.at(""))
            .bearer_auth(&s.alice)
            .json(&json!({"datapackage": pkg, "parent": before}))
            .send()
            .await
            .unwrap();
        let (status, headers, v) = body(r).await;
        assert_error_body(status, &headers, &v, 422);
        let found = v["violations"].as_array().unwrap().iter().any(|x| {
            x["rule"] == rule
                && x["resource"] == "teams"
                && x["rows"].as_array().unwrap().contains(&json!(2))
        });
        assert!(found, "{rule}: {v}");
        let whole = format!("{} {}", v["message"], v["violations"]);
        for value in ["bluegreenyellow", "\"b\"", "blue"] {
            assert!(!whole.contains(value), "{rule}: {v}");
        }
    }
    assert_eq!(s.head().await, before);
    // The push hook's endpoint takes a push's token only, before it reads anything.
    for token in [None, Some("made-up")] {
        let mut req = client()
            .post(format!("{}/_hook/contracts", s.server.url))
            .json(&json!({"revision": before, "datapackage": "{}"}));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let (status, headers, v) = body(req.send().await.unwrap()).await;
        assert_error_body(status, &headers, &v, 401);
    }
    let r = client()
        .post(format!("{}/_hook/contracts", s.server.url))
        .bearer_auth(&s.alice)
        .json(&json!({"revision": before, "datapackage": "{}"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "a user's token is no push's");

    // A contract that cannot be read is refused as the datapackage is committed.
    let mut pkg = package(&people(GOOD), &teams());
    pkg["resources"][0]["schema"]["fields"][1]["constraints"]["pattern"] = json!("(");
    let r = client()
        .put(s.at(""))
        .bearer_auth(&s.alice)
        .json(&json!({"datapackage": pkg, "parent": before}))
        .send()
        .await
        .unwrap();
    let (status, headers, v) = body(r).await;
    assert_error_body(status, &headers, &v, 422);
    assert!(v["message"].as_str().unwrap().contains("\"age\""), "{v}");
    assert_eq!(s.head().await, before);

    // What holds lands, with its report over REST.
    let (status, _, v) = s.put(&people(&["1,30,AB,10", "5,99,CD,20"])).await;
    assert_eq!(status, 200, "{v}");
    let head = s.head().await;
    let r = client()
        .get(s.at(&format!("/revisions/{head}/validation")))
        .bearer_auth(&s.alice)
        .send()
        .await
        .unwrap();
    let (status, _, report) = body(r).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(report["revision"], head.as_str());
    assert_eq!(report["tables"], json!(["people", "teams"]), "{report}");
    // The revision's page shows it.
    strata::cli::admin::set_password(&s.server.state, "alice", PASSWORD)
        .await
        .unwrap();
    let (cookie, _) = browser_session(&s.server.url, "alice", PASSWORD).await;
    let page = client()
        .get(format!(
            "{}/datasets/alice/c/revisions/{head}",
            s.server.url
        ))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("id=\"validation\"") && page.contains("Every table holds its Table Schema"),
        "{page}"
    );
    // A stranger hears of no report.
    let bob = s.server.user("bob").await;
    let r = client()
        .get(s.at(&format!("/revisions/{head}/validation")))
        .bearer_auth(&bob)
        .send()
        .await
        .unwrap();
    let (status, headers, v) = body(r).await;
    assert_error_body(status, &headers, &v, 404);
}

fn clone(server: &TestServer, home: &Path, dir: &str) -> std::path::PathBuf {
    run(git(home, home).args(["clone", "-q", &format!("{}/alice/c.git", server.url), dir]));
    home.join(dir)
}

/// The other write paths: an NDJSON commit, a browser upload, a revert and a push are refused
/// alike; an unprotected dataset takes them, and reports on demand what is broken.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commits_uploads_reverts_and_pushes_are_refused_alike() {
    let s = setup(true).await;
    let good_head = s.head().await;
    let bad = people(&["1,30,AB,10", "2,-4,CD,20"]);
    let bad_oid = s.upload(&bad).await;

    // An NDJSON commit replacing the table's file.
    let commit = [
        json!({"key": "header", "value": {"summary": "bad ages", "parent": good_head}}),
        json!({"key": "lfsFile", "value": {"path": "people.csv", "oid": bad_oid.to_string(), "size": bad.len()}}),
    ]
    .iter()
    .map(Value::to_string)
    .collect::<Vec<_>>()
    .join("\n");
    let r = client()
        .post(s.at("/commit"))
        .bearer_auth(&s.alice)
        .header("content-type", "application/x-ndjson")
        .body(commit)
        .send()
        .await
        .unwrap();
    let (status, headers, v) = body(r).await;
    assert_error_body(status, &headers, &v, 422);
    assert!(
        v["message"].as_str().unwrap().contains("column \"age\""),
        "{v}"
    );
    assert_eq!(s.head().await, good_head);

    // A browser upload over the table's file.
    strata::cli::admin::set_password(&s.server.state, "alice", PASSWORD)
        .await
        .unwrap();
    let (cookie, csrf) = browser_session(&s.server.url, "alice", PASSWORD).await;
    let form = reqwest::multipart::Form::new()
        .text("csrf", csrf)
        .text("folder", "")
        .part(
            "file",
            reqwest::multipart::Part::bytes(bad.clone()).file_name("people.csv"),
        );
    let r = client()
        .post(format!("{}/datasets/alice/c/upload", s.server.url))
        .header("cookie", &cookie)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert!(
        r.status().is_redirection() || r.status().as_u16() == 422,
        "{}",
        r.status()
    );
    assert_eq!(
        s.head().await,
        good_head,
        "a browser upload went around the contract"
    );

    // A push of the same change (the pointer file and the datapackage's entry), with git-lfs.
    let home = s.server.dir.path().join("home");
    setup_home(&home, &s.server.url, &s.alice);
    let work = clone(&s.server, &home, "c");
    std::fs::write(work.join("people.csv"), &bad).unwrap();
    let mut pkg: Value =
        serde_json::from_slice(&std::fs::read(work.join("datapackage.json")).unwrap()).unwrap();
    pkg["resources"][0]["hash"] = json!(format!("sha256:{bad_oid}"));
    pkg["resources"][0]["bytes"] = json!(bad.len());
    std::fs::write(
        work.join("datapackage.json"),
        serde_json::to_vec_pretty(&pkg).unwrap(),
    )
    .unwrap();
    run(git(&home, &work).args(["add", "-A"]));
    run(git(&home, &work).args(["commit", "-qm", "bad ages"]));
    let (ok, out) =
        crate::access::gates::try_run(git(&home, &work).args(["push", "origin", "main"]));
    assert!(!ok, "the push passed:\n{out}");
    assert!(
        out.contains("the contract refuses this write") && out.contains("column \"age\""),
        "{out}"
    );
    assert_eq!(s.head().await, good_head);
    // A push that keeps the contract lands.
    let fine = people(&["1,30,AB,10", "2,44,CD,20", "9,1,AB,20"]);
    std::fs::write(work.join("people.csv"), &fine).unwrap();
    pkg["resources"][0]["hash"] = json!(format!("sha256:{}", sha256_hex(&fine)));
    pkg["resources"][0]["bytes"] = json!(fine.len());
    std::fs::write(
        work.join("datapackage.json"),
        serde_json::to_vec_pretty(&pkg).unwrap(),
    )
    .unwrap();
    run(git(&home, &work).args(["add", "-A"]));
    run(git(&home, &work).args(["commit", "-q", "--amend", "-m", "fine ages"]));
    run(git(&home, &work).args(["push", "-q", "origin", "main"]));
    let pushed = s.head().await;
    assert_ne!(pushed, good_head);

    // A revert to a revision from before protection that breaks the contract.
    s.protect(false).await;
    let (status, _, v) = s.put(&bad).await;
    assert_eq!(status, 200, "unprotected, it lands: {v}");
    let broken = s.head().await;
    // Its report, made on demand, names what is broken.
    let r = client()
        .get(s.at(&format!("/revisions/{broken}/validation")))
        .bearer_auth(&s.alice)
        .send()
        .await
        .unwrap();
    let (status, _, report) = body(r).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["ok"], false, "{report}");
    assert_eq!(report["violations"][0]["rule"], "minimum", "{report}");
    assert_eq!(report["violations"][0]["rows"], json!([2]), "{report}");
    let (status, _, v) = s.put(&people(GOOD)).await;
    assert_eq!(status, 200, "{v}");
    s.protect(true).await;
    let head = s.head().await;
    let r = client()
        .post(s.at("/revert"))
        .bearer_auth(&s.alice)
        .json(&json!({"to": broken, "parent": head}))
        .send()
        .await
        .unwrap();
    let (status, headers, v) = body(r).await;
    assert_error_body(status, &headers, &v, 422);
    assert!(v["message"].as_str().unwrap().contains("minimum"), "{v}");
    assert_eq!(s.head().await, head);
}

/// The tag rule: a dataset tagged `finance` has a tag decision on every column of its tables.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tag_rule_needs_a_decision_on_every_column() {
    let s = setup(true).await;
    let head = s.head().await;
    let mut pkg = package(&people(GOOD), &teams());
    pkg["tags"] = json!(["finance"]);
    pkg["rules"] = json!([{"tag": "finance", "columns": "tagged"}]);
    let r = client()
        .put(s.at(""))
        .bearer_auth(&s.alice)
        .json(&json!({"datapackage": pkg.clone(), "parent": head}))
        .send()
        .await
        .unwrap();
    let (status, headers, v) = body(r).await;
    assert_error_body(status, &headers, &v, 422);
    assert!(
        v["message"].as_str().unwrap().contains("tag decision"),
        "{v}"
    );
    for r in pkg["resources"].as_array_mut().unwrap() {
        for f in r["schema"]["fields"].as_array_mut().unwrap() {
            f["tags"] = json!({"PII": false});
        }
    }
    let r = client()
        .put(s.at(""))
        .bearer_auth(&s.alice)
        .json(&json!({"datapackage": pkg, "parent": head}))
        .send()
        .await
        .unwrap();
    let (status, _, v) = body(r).await;
    assert_eq!(status, 200, "{v}");
}

const VALIDATED_ONLY: &str = r#"package dataapi.authz

rule[{"action": {"name": "Deny"}, "policy": "validated data only"}] {
  input.context.intent == "audited"
  not input.resource.validated
}
"#;

/// A policy may require a revision that holds its contract (`input.resource.validated`): a
/// revision written while the branch was unprotected (never checked) is denied to such a read,
/// and the next one, checked, is not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_can_require_a_validated_revision() {
    use crate::governance::{Gov, PAYSIM};
    let gov = Gov::start().await;
    let (status, v) = gov
        .commit_files("steward/policies", &[("validated.rego", VALIDATED_ONLY)])
        .await;
    assert_eq!(status, 200, "{v}");
    let protection = |on: bool| {
        client()
            .put(format!("{}/alice/paysim/protection", gov.api))
            .bearer_auth(&gov.alice)
            .json(&json!({"default_branch": on}))
            .send()
    };
    assert_eq!(protection(false).await.unwrap().status(), 204);
    // (A write that changes nothing makes no revision: this one adds a tag.)
    gov.set_table(json!(["finance", "unchecked"]), "theshire", PAYSIM)
        .await;
    let (status, text) = gov.table(Some(&gov.bob), "intent=audited").await;
    assert_eq!(status, 403, "an unchecked revision: {text}");
    assert!(text.contains("validated data only"), "{text}");
    let (status, _) = gov.table(Some(&gov.bob), "intent=other").await;
    assert_eq!(status, 200, "another intent is not held to it");
    assert_eq!(protection(true).await.unwrap().status(), 204);
    gov.set_table(json!(["finance", "checked"]), "theshire", PAYSIM)
        .await;
    let (status, text) = gov.table(Some(&gov.bob), "intent=audited").await;
    assert_eq!(status, 200, "a checked revision: {text}");
}
