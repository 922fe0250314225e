//! The datasets REST API's OpenAPI document, generated from the handlers: every dataset endpoint
//! listed, and valid by `openapi-spec-validator` (a validator nobody here wrote). The rest of the
//! datasets REST API (create, update, revisions, tags, branches, diff, revert, tree, raw, NDJSON
//! commits and their refusals) is tested in process: `api/datasets.rs`, `api/commits.rs`.

use crate::common::*;
use serde_json::Value;

/// The OpenAPI document is generated from the handlers and lists every dataset endpoint.
#[tokio::test]
async fn openapi_document() {
    let server = TestServer::start().await;
    let doc: Value = client()
        .get(format!("{}/api/v1/openapi.json", server.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."), "{doc}");
    let paths = doc["paths"].as_object().unwrap();
    let base = "/api/v1/datasets/{ns}/{name}";
    for (path, methods) in [
        ("/api/v1/datasets".to_owned(), vec!["post"]),
        (base.to_owned(), vec!["get", "put", "delete"]),
        (format!("{base}/commit"), vec!["post"]),
        (format!("{base}/revert"), vec!["post"]),
        (format!("{base}/revisions"), vec!["get"]),
        (format!("{base}/revisions/{{rev}}"), vec!["get"]),
        (format!("{base}/tree"), vec!["get"]),
        (format!("{base}/raw/{{path}}"), vec!["get"]),
        (format!("{base}/diff"), vec!["get"]),
        (format!("{base}/tags"), vec!["get", "post"]),
        (
            format!("{base}/tags/{{tag}}"),
            vec!["get", "patch", "delete"],
        ),
        (format!("{base}/branches"), vec!["get", "post"]),
        (format!("{base}/branches/{{branch}}"), vec!["delete"]),
        (
            format!("{base}/collaborators/{{who}}"),
            vec!["put", "delete"],
        ),
        (format!("{base}/visibility"), vec!["put"]),
        (format!("{base}/upload-token"), vec!["post"]),
        (format!("{base}/tables"), vec!["get"]),
        (format!("{base}/tables/{{resource}}"), vec!["get"]),
        (format!("{base}/tables/{{resource}}/rows"), vec!["get"]),
        (format!("{base}/tables/{{resource}}/stats"), vec!["get"]),
        ("/api/v1/oauth/clients".to_owned(), vec!["get", "post"]),
        ("/api/v1/orgs".to_owned(), vec!["post"]),
        ("/api/v1/users/{user}/role".to_owned(), vec!["put"]),
        ("/api/v1/audit".to_owned(), vec!["get"]),
    ] {
        let item = paths.get(&path).unwrap_or_else(|| panic!("{path} missing"));
        for m in methods {
            assert!(item.get(m).is_some(), "{m} {path} missing");
        }
    }
    // A validator nobody here wrote agrees that it is a valid OpenAPI document.
    let file = server.dir.path().join("openapi.json");
    std::fs::write(&file, doc.to_string()).unwrap();
    run(std::process::Command::new(python_tool("openapi-spec-validator")).arg(&file));
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    for name in [
        "DatasetView",
        "RevisionView",
        "ErrorBody",
        "TagView",
        "UpdateBody",
    ] {
        assert!(schemas.contains_key(name), "schema {name} missing");
    }
}
