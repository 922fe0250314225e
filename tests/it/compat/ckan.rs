//! CKAN's clients against strata's Action API subset: `ckanapi` (package_create, package_update
//! with a resource, package_show, resource_show, package_search, package_list, package_patch)
//! and Datopian's `ckan-client` (authz_authorize, the giftless-style batch with its verify, GET
//! package_show, a form-encoded package_create); then a stranger's and an anonymous caller's calls.

use std::process::Command;

use serde_json::{json, Value};
use strata_core::db::Visibility;

use crate::common::*;

async fn client(token: Option<&str>, args: &[&str]) -> Value {
    let mut cmd = Command::new(python_tool("python"));
    cmd.arg(format!(
        "{}/tests/it/compat/ckan_client.py",
        env!("CARGO_MANIFEST_DIR")
    ))
    .args(args)
    .env_remove("CKAN_TOKEN");
    if let Some(t) = token {
        cmd.env("CKAN_TOKEN", t);
    }
    json_answer(cmd).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ckan_clients_create_upload_update_and_read_a_package() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    server.repo("bob/open", Visibility::Public).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("answers.csv");
    std::fs::write(&file, b"id,answer\n1,yes\n2,no\n3,maybe\n").unwrap();

    let v = client(
        Some(&alice),
        &["roundtrip", &server.url, file.to_str().unwrap()],
    )
    .await;
    assert_eq!(
        v["created"],
        json!({"id": "alice/survey", "name": "survey", "owner_org": "alice", "private": true,
            "notes": "Answers of 2026"})
    );
    assert_eq!(v["again"], "ValidationError");
    assert_eq!(v["pushed"], true, "{v}");
    assert_eq!(v["mint_again"], 403, "{v}");
    assert_eq!(
        v["updated"],
        json!({"title": "Survey 2026", "num_resources": 1})
    );
    assert_eq!(v["tags"], json!(["2026", "poll"]));
    assert!(v["extras"]
        .as_array()
        .unwrap()
        .contains(&json!({"key": "geography", "value": "theshire"})));
    assert_eq!(
        v["resource"],
        json!({"id": "alice/survey/answers", "name": "answers", "size": 29,
            "mimetype": "text/csv", "format": "csv"})
    );
    assert_eq!(v["resource_show"], true);
    assert_eq!(v["search"], 1);
    assert_eq!(v["list"], json!(["alice/survey", "bob/open"]));
    assert_eq!(v["patched"], json!(["Patched", 2]));
    assert_eq!(v["retrieved"], "survey");
    assert_eq!(v["form_create"], "alice/notes");
    assert_eq!(v["no_package"], "NotFound");
    assert_eq!(v["unknown"], 400);
    // The datapackage is what the package said, on every other surface.
    let pkg: Value = reqwest::Client::new()
        .get(format!("{}/api/v1/datasets/alice/survey", server.url))
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let dp = &pkg["datapackage"];
    assert_eq!(dp["title"], "Survey 2026");
    assert_eq!(dp["description"], "Patched");
    assert_eq!(dp["keywords"], json!(["poll", "2026"]));
    assert_eq!(dp["geography"], "theshire");
    assert_eq!(dp["resources"][0]["path"], "data/answers.csv");
    assert_eq!(dp["resources"][1]["path"], "data/raw/my file.csv");
    assert_eq!(dp["resources"][0]["bytes"], 29);

    // A stranger: alice's private package is not there; what they mint reaches nothing of hers.
    let v = client(Some(&bob), &["stranger", &server.url]).await;
    assert_eq!(v["show"], "NotFound");
    assert_eq!(v["update"], "NotFound");
    assert_eq!(v["create_elsewhere"], "NotAuthorized");
    assert_eq!(v["list"], json!(["bob/open"]));
    assert_eq!(v["search"], 0);
    assert_eq!(v["resource"], "NotFound");
    assert_eq!(v["minted_batch"], 404, "{v}");
    assert_eq!(
        v["envelope"],
        json!({"success": false, "type": "Not Found Error", "has_request_id": true})
    );
    // Anonymous: public packages only, nothing minted.
    let v = client(None, &["stranger", &server.url]).await;
    assert_eq!(v["list"], json!(["bob/open"]));
    assert_eq!(v["authz"], "NotAuthorized");
    assert_eq!(v["create_elsewhere"], "NotAuthorized");
    // A read-only token mints no write scope.
    let read_only = strata::cli::admin::create_token(
        &server.state,
        "alice",
        "ro",
        "dataset:alice/survey:read",
        None,
    )
    .await
    .unwrap();
    let r = reqwest::Client::new()
        .post(format!("{}/api/3/action/authz_authorize", server.url))
        .header("authorization", &read_only)
        .json(&json!({"scopes": ["obj:alice/survey/*:write"]}))
        .send()
        .await
        .unwrap();
    let (status, _, v) = body(r).await;
    assert_eq!(status, 403, "{v}");
    assert_eq!(v["error"]["__type"], "Authorization Error");
}
