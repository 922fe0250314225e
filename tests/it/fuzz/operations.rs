//! schemathesis (PyPI) against `/api/v1/openapi.json`, over every operation, anonymous and signed
//! in as a dataset's owner (a site admin): no 5xx, every answer's status, media type, headers and body as the
//! document says, schema-invalid input refused with a 4xx, no operation that answers 2xx without
//! the credentials it declares, and what is deleted gone. Bounded by time: `STRATA_FUZZ_SECONDS`
//! per run (default 45; `scripts/fuzz.sh` runs longer). `/livez` answers after each run.
//!
//! Not checked: `positive_data_acceptance` (that every schema-valid request succeeds), which
//! cannot hold for rules a JSON Schema does not say (a statistic that needs a column, bounds that
//! must be ordered, a name that must be free), and deleting the signed-in account, which would
//! end the run.

use serde_json::json;
use strata_core::db::Visibility;

use crate::common::*;
use crate::tables::{people, put_resources};

/// The checks run: every one schemathesis has but `positive_data_acceptance`.
const CHECKS: &str = "not_a_server_error,status_code_conformance,content_type_conformance,\
response_headers_conformance,response_schema_conformance,negative_data_rejection,\
missing_required_header,unsupported_method,use_after_free,ensure_resource_availability,\
ignored_auth";

fn seconds() -> String {
    std::env::var("STRATA_FUZZ_SECONDS").unwrap_or_else(|_| "45".into())
}

/// `--seed …`, or nothing for a random one.
fn seed() -> Vec<String> {
    match std::env::var("STRATA_FUZZ_SEED").as_deref() {
        Ok("random") => Vec::new(),
        Ok(seed) => vec!["--seed".into(), seed.into()],
        Err(_) => vec!["--seed".into(), "1".into()],
    }
}

/// Runs schemathesis against `server` with `headers`; panics with its report when it fails.
fn schemathesis(server: &TestServer, who: &str, headers: &[String], exclude: &[&str]) {
    let here = format!("{}/tests/it/fuzz", env!("CARGO_MANIFEST_DIR"));
    let mut cmd = std::process::Command::new(python_tool("schemathesis"));
    cmd.current_dir(server.dir.path())
        .env(
            "SCHEMATHESIS_HOOKS",
            format!("{here}/schemathesis_hooks.py"),
        )
        .env("NO_COLOR", "1")
        .args(["--config-file", &format!("{here}/schemathesis.toml"), "run"])
        .arg(format!("{}/api/v1/openapi.json", server.url))
        .args([
            "--checks",
            CHECKS,
            "--max-time",
            &seconds(),
            "--workers",
            "2",
        ])
        .args(["--request-timeout", "30", "--continue-on-failure"])
        .args(seed());
    for h in headers {
        cmd.args(["--header", h]);
    }
    for op in exclude {
        cmd.args(["--exclude-operation-id", op]);
    }
    let mut out = cmd.output().unwrap();
    // CPython's AST constructor can report a recursion depth mismatch when two threads parse
    // at once (python/cpython#106905; seen here with 3.11.7): hypothesis then reports it as a
    // runtime error of its own, no request behind it. Such a run, with nothing else found, is
    // run again once.
    if !out.status.success() {
        let text = String::from_utf8_lossy(&out.stdout);
        if text.contains("AST constructor recursion depth mismatch") && !text.contains("FAILURES") {
            eprintln!("schemathesis ({who}): hypothesis hit CPython's AST bug; run again once");
            out = cmd.output().unwrap();
        }
    }
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        // The failures, and the summary; never the whole report (it can be long).
        let cut = text.find("FAILURES").unwrap_or(0);
        let report: String = text[cut..].chars().take(40_000).collect();
        panic!(
            "schemathesis found failures ({who}):\n{report}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

async fn alive(server: &TestServer) {
    let r = client()
        .get(format!("{}/livez", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

/// A server with a site admin (so the admin operations are reached too), a public dataset with a
/// table and a tag, and an organisation, so that generated requests reach the real work; returns
/// the server and the admin's token.
async fn served() -> (TestServer, String) {
    let server = TestServer::start().await;
    let alice = server.user_with("alice", true, "*").await;
    let api = format!("{}/api/v1/datasets", server.url);
    server.repo("alice/t", Visibility::Public).await;
    put_resources(
        &server,
        &alice,
        &[("people", "people.csv", people().into_bytes())],
        json!({}),
    )
    .await;
    let r = client()
        .post(format!("{api}/alice/t/tags"))
        .bearer_auth(&alice)
        .json(&json!({"name": "v1", "revision": "main"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let r = client()
        .post(format!("{}/api/v1/orgs", server.url))
        .bearer_auth(&alice)
        .json(&json!({"name": "acme"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    (server, alice)
}

// The two runs are two tests, so they run beside the rest of the suite rather than one after
// the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_operation_answers_as_documented_anonymous() {
    let (server, _alice) = served().await;
    schemathesis(&server, "anonymous", &[], &[]);
    alive(&server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_operation_answers_as_documented_signed_in() {
    let (server, alice) = served().await;
    schemathesis(
        &server,
        "signed in",
        &[format!("Authorization: Bearer {alice}")],
        &["delete_own_account", "delete_account"],
    );
    alive(&server).await;
}
