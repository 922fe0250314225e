//! The datasets REST API against the real server: create, update with optimistic concurrency,
//! revisions, tags, branches, diff, revert, tree, raw files, NDJSON commits, and the refusals
//! (unlinked objects, stale parents, bad input, strangers), each leaving the dataset unchanged.

use crate::common::*;
use serde_json::{json, Value};
use strata_core::db::Visibility;

const API: &str = "/api/v1/datasets";

struct Api {
    url: String,
    token: String,
}

impl Api {
    fn at(&self, path: &str) -> String {
        format!("{}{API}{path}", self.url)
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> (u16, reqwest::header::HeaderMap, Value) {
        body(req.bearer_auth(&self.token).send().await.unwrap()).await
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        let (s, _, v) = self.send(client().get(self.at(path))).await;
        (s, v)
    }

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let (s, _, v) = self.send(client().post(self.at(path)).json(&body)).await;
        (s, v)
    }

    async fn put(&self, path: &str, body: Value) -> (u16, Value) {
        let (s, _, v) = self.send(client().put(self.at(path)).json(&body)).await;
        (s, v)
    }
}

fn resource(name: &str, path: &str, data: &[u8]) -> Value {
    json!({"name": name, "path": path, "bytes": data.len(), "hash": format!("sha256:{}", sha256_hex(data))})
}

async fn setup() -> (TestServer, Api) {
    let server = TestServer::start().await;
    let token = server.user("alice").await;
    let api = Api {
        url: server.url.clone(),
        token,
    };
    let (status, v) = api
        .post(
            "",
            json!({"namespace": "alice", "name": "survey", "visibility": "private"}),
        )
        .await;
    assert_eq!(status, 201, "{v}");
    (server, api)
}

fn head(v: &Value) -> String {
    v["revision"]["id"]
        .as_str()
        .expect("revision id")
        .to_owned()
}

#[tokio::test]
async fn create_update_and_read_back() {
    let (server, api) = setup().await;
    let (status, v) = api.get("/alice/survey").await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["datapackage"]["resources"], json!([]));
    let first = head(&v);

    // Resources must point at objects uploaded to this dataset.
    let data = b"id,age\n1,30\n";
    let pkg = json!({"name": "survey", "resources": [resource("people", "data/people.csv", data)]});
    let (status, v) = api
        .put(
            "/alice/survey",
            json!({"datapackage": pkg, "parent": first}),
        )
        .await;
    assert_eq!(status, 422, "{v}");
    assert!(v["missing"].as_array().is_some_and(|m| m.len() == 1), "{v}");
    upload(&server, "alice/survey", &api.token, data).await;
    let (status, v) = api
        .put(
            "/alice/survey",
            json!({"datapackage": pkg, "parent": first, "message": "add people"}),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    let second = head(&v);
    assert_eq!(v["revision"]["message"], "add people");
    assert_eq!(v["revision"]["author"]["name"], "alice");

    // A stale parent: the datapackage changed since, so this is a conflict, not a lost update.
    let (status, v) = api
        .put(
            "/alice/survey",
            json!({"datapackage": {"resources": []}, "parent": first}),
        )
        .await;
    assert_eq!(status, 409, "{v}");
    assert!(v["request_id"].is_string());
    // If-Match works as the parent too.
    let (status, _, v) = api
        .send(
            client()
                .put(api.at("/alice/survey"))
                .header("if-match", format!("\"{first}\""))
                .json(&json!({"datapackage": {"resources": []}})),
        )
        .await;
    assert_eq!(status, 409, "{v}");

    // Read at each revision; the tree and raw files.
    let (_, v) = api.get(&format!("/alice/survey?rev={first}")).await;
    assert_eq!(v["datapackage"]["resources"], json!([]));
    let (_, v) = api.get("/alice/survey/tree").await;
    let files = v["files"].as_array().unwrap();
    let people = files
        .iter()
        .find(|f| f["path"] == "data/people.csv")
        .unwrap();
    assert_eq!(people["type"], "lfs");
    assert_eq!(people["size"], data.len());
    let raw = client()
        .get(api.at("/alice/survey/raw/data/people.csv"))
        .bearer_auth(&api.token)
        .send()
        .await
        .unwrap();
    // Streamed through strata (no redirect), as an attachment with a content type.
    assert_eq!(raw.status(), 200);
    assert_eq!(raw.headers()["content-type"], "text/csv; charset=utf-8");
    assert_eq!(
        raw.headers()["content-disposition"],
        "attachment; filename=\"people.csv\"; filename*=UTF-8''people.csv"
    );
    assert_eq!(&raw.bytes().await.unwrap()[..], data);
    let ranged = client()
        .get(api.at("/alice/survey/raw/data/people.csv"))
        .bearer_auth(&api.token)
        .header("range", "bytes=1-3")
        .send()
        .await
        .unwrap();
    assert_eq!(ranged.status(), 206);
    assert_eq!(&ranged.bytes().await.unwrap()[..], &data[1..4]);
    let raw = client()
        .get(api.at("/alice/survey/raw/datapackage.json"))
        .bearer_auth(&api.token)
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), 200);
    let stored: Value = serde_json::from_slice(&raw.bytes().await.unwrap()).unwrap();
    assert_eq!(stored["resources"][0]["name"], "people");

    // Revisions, newest first, with paging and a path filter.
    let (_, v) = api.get("/alice/survey/revisions?limit=1").await;
    assert_eq!(v["revisions"][0]["id"], second.as_str());
    let cursor = v["next_cursor"].as_str().unwrap().to_owned();
    let (_, v) = api
        .get(&format!("/alice/survey/revisions?limit=1&cursor={cursor}"))
        .await;
    assert_eq!(v["revisions"][0]["id"], first.as_str());
    assert!(v["next_cursor"].is_null());
    let (_, v) = api
        .get("/alice/survey/revisions?path=data/people.csv")
        .await;
    assert_eq!(v["revisions"].as_array().unwrap().len(), 1);
    let (status, _) = api.get("/alice/survey/revisions?limit=0").await;
    assert_eq!(status, 422);
    let (status, _) = api.get("/alice/survey/revisions?path=../x").await;
    assert_eq!(status, 422);
}

#[tokio::test]
async fn tags_branches_diff_and_revert() {
    let (server, api) = setup().await;
    let (_, v) = api.get("/alice/survey").await;
    let first = head(&v);
    let data = b"x\n";
    upload(&server, "alice/survey", &api.token, data).await;
    let pkg = json!({"resources": [resource("x", "x.csv", data)]});
    let (_, v) = api
        .put(
            "/alice/survey",
            json!({"datapackage": pkg, "parent": first}),
        )
        .await;
    let second = head(&v);

    let (status, v) = api
        .post(
            "/alice/survey/tags",
            json!({"name": "v1", "description": "first"}),
        )
        .await;
    assert_eq!(status, 201, "{v}");
    assert_eq!(v["revision"], second.as_str());
    let (status, _) = api.post("/alice/survey/tags", json!({"name": "v1"})).await;
    assert_eq!(status, 409);
    let (status, _) = api
        .post("/alice/survey/tags", json!({"name": "bad name"}))
        .await;
    assert_eq!(status, 422);
    let (s, _, v) = api
        .send(
            client()
                .patch(api.at("/alice/survey/tags/v1"))
                .json(&json!({"description": null})),
        )
        .await;
    assert_eq!((s, v["description"].as_str()), (200, Some("")), "{v}");
    let (s, _, v) = api
        .send(
            client()
                .patch(api.at("/alice/survey/tags/v1"))
                .json(&json!({"name": "release-1"})),
        )
        .await;
    assert_eq!((s, v["name"].as_str()), (200, Some("release-1")), "{v}");
    let (_, v) = api.get("/alice/survey?rev=release-1").await;
    assert_eq!(head(&v), second);

    let (status, v) = api
        .post(
            "/alice/survey/branches",
            json!({"name": "draft", "revision": first}),
        )
        .await;
    assert_eq!(status, 201, "{v}");
    let (_, v) = api.get("/alice/survey/branches").await;
    assert_eq!(v["branches"].as_array().unwrap().len(), 2);

    let (status, v) = api
        .get(&format!("/alice/survey/diff?from={first}&to={second}"))
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["resources"][0]["name"], "x");
    assert_eq!(v["resources"][0]["change"], "added");
    assert!(
        v["files"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["path"] == "x.csv" && f["kind"] == "added"),
        "{v}"
    );

    let (status, v) = api
        .post(
            "/alice/survey/revert",
            json!({"to": first, "parent": second}),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    let (_, v) = api.get("/alice/survey").await;
    assert_eq!(v["datapackage"]["resources"], json!([]));
    let (status, _) = api
        .post(
            "/alice/survey/revert",
            json!({"to": first, "parent": second}),
        )
        .await;
    assert_eq!(status, 409, "a stale parent");

    let (s, _, _) = api
        .send(client().delete(api.at("/alice/survey/tags/release-1")))
        .await;
    assert_eq!(s, 204);
    let (s, _, _) = api
        .send(client().delete(api.at("/alice/survey/branches/draft")))
        .await;
    assert_eq!(s, 204);
    let (s, _, _) = api
        .send(client().delete(api.at("/alice/survey/branches/main")))
        .await;
    assert_eq!(s, 422);
}

#[tokio::test]
async fn ndjson_commits() {
    let (server, api) = setup().await;
    let (_, v) = api.get("/alice/survey").await;
    let first = head(&v);
    let data = b"big file\n";
    let oid = upload(&server, "alice/survey", &api.token, data).await;
    let ndjson = |lines: &[Value]| {
        lines
            .iter()
            .map(|l| l.to_string())
            .collect::<Vec<_>>()
            .join("\n")
    };
    let commit = |body: String| {
        api.send(
            client()
                .post(api.at("/alice/survey/commit"))
                .header("content-type", "application/x-ndjson")
                .body(body),
        )
    };
    let ok = ndjson(&[
        json!({"key": "header", "value": {"summary": "add files", "parent": first}}),
        json!({"key": "file", "value": {"path": "README.md", "content": "hello"}}),
        json!({"key": "file", "value": {"path": "bin/x", "content": "AAEC", "encoding": "base64"}}),
        json!({"key": "lfsFile", "value": {"path": "data/big.bin", "oid": oid.to_string(), "size": data.len()}}),
    ]);
    let (status, _, v) = commit(ok).await;
    assert_eq!(status, 200, "{v}");
    let second = head(&v);
    let (_, v) = api.get("/alice/survey/tree").await;
    let paths: Vec<&str> = v["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert!(
        paths.contains(&"README.md") && paths.contains(&"bin/x") && paths.contains(&"data/big.bin"),
        "{paths:?}"
    );

    // Refusals, each leaving the head where it was.
    let other = sha256_hex(b"never uploaded");
    let bad = [
        (
            ndjson(&[json!({"key": "file", "value": {"path": "a", "content": ""}})]),
            422,
        ),
        (
            ndjson(&[
                json!({"key": "header", "value": {"summary": "s", "parent": second}}),
                json!({"key": "lfsFile", "value": {"path": "x.bin", "oid": other, "size": 3}}),
            ]),
            422,
        ),
        (
            ndjson(&[
                json!({"key": "header", "value": {"summary": "s", "parent": second}}),
                json!({"key": "file", "value": {"path": "../escape", "content": "x"}}),
            ]),
            422,
        ),
        (
            ndjson(&[
                json!({"key": "header", "value": {"summary": "s", "parent": second}}),
                json!({"key": "deletedFile", "value": {"path": "nope"}}),
            ]),
            404,
        ),
        (
            ndjson(&[
                json!({"key": "header", "value": {"summary": "s", "parent": second}}),
                json!({"key": "file", "value": {"path": "datapackage.json", "content": "[]"}}),
            ]),
            422,
        ),
        (
            ndjson(&[
                json!({"key": "header", "value": {"summary": "s", "parent": first}}),
                json!({"key": "file", "value": {"path": "README.md", "content": "late"}}),
            ]),
            409,
        ),
        // A file never silently becomes a folder, nor a folder a file.
        (
            ndjson(&[
                json!({"key": "header", "value": {"summary": "s", "parent": second}}),
                json!({"key": "file", "value": {"path": "README.md/inside", "content": "x"}}),
            ]),
            409,
        ),
        (
            ndjson(&[
                json!({"key": "header", "value": {"summary": "s", "parent": second}}),
                json!({"key": "file", "value": {"path": "bin", "content": "x"}}),
            ]),
            409,
        ),
        ("not json".to_owned(), 422),
    ];
    for (body, want) in bad {
        let (status, _, v) = commit(body.clone()).await;
        assert_eq!(status, want, "{body}: {v}");
    }
    let (_, v) = api.get("/alice/survey/revisions").await;
    assert_eq!(v["revisions"][0]["id"], second.as_str());
    assert_eq!(v["revisions"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn concurrent_updates_on_one_parent() {
    let (server, api) = setup().await;
    let (_, v) = api.get("/alice/survey").await;
    let first = head(&v);
    let mut tasks = Vec::new();
    for i in 0..6 {
        let (url, token, first) = (api.at("/alice/survey"), api.token.clone(), first.clone());
        tasks.push(tokio::spawn(async move {
            let pkg = json!({"name": format!("v{i}"), "resources": []});
            client()
                .put(url)
                .bearer_auth(token)
                .json(&json!({"datapackage": pkg, "parent": first}))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }));
    }
    let mut codes = Vec::new();
    for t in tasks {
        codes.push(t.await.unwrap());
    }
    codes.sort();
    assert_eq!(codes, [200, 409, 409, 409, 409, 409]);
    let (_, v) = api.get("/alice/survey/revisions").await;
    assert_eq!(v["revisions"].as_array().unwrap().len(), 2);
    drop(server);
}

#[tokio::test]
async fn strangers_and_bad_requests() {
    let (server, api) = setup().await;
    let bob = server.user("bob").await;
    let bob_api = Api {
        url: server.url.clone(),
        token: bob,
    };
    // A private dataset is invisible to others and to anonymous callers.
    let (status, _) = bob_api.get("/alice/survey").await;
    assert_eq!(status, 404);
    let anon = client().get(api.at("/alice/survey")).send().await.unwrap();
    assert_eq!(anon.status(), 401);
    let (status, _) = bob_api
        .post("", json!({"namespace": "alice", "name": "mine"}))
        .await;
    assert_eq!(status, 403);
    // A public one is readable, not writable.
    server.repo("alice/open", Visibility::Public).await;
    let (status, v) = bob_api.get("/alice/open").await;
    assert_eq!(status, 200, "{v}");
    assert!(v["revision"].is_null(), "created without revisions: {v}");
    let (status, _) = bob_api
        .put("/alice/open", json!({"datapackage": {"resources": []}}))
        .await;
    assert_eq!(status, 403);

    for (body, want) in [
        (json!({"namespace": "alice", "name": "survey"}), 409),
        (json!({"namespace": "alice", "name": "../x"}), 422),
        (
            json!({"namespace": "alice", "name": "x", "visibility": "secret"}),
            422,
        ),
        (
            json!({"namespace": "alice", "name": "x", "datapackage": {"resources": [resource("r", "r.csv", b"r")]}}),
            422,
        ),
        (json!({"namespace": "alice", "name": "x", "extra": 1}), 422),
    ] {
        let (status, v) = api.post("", body.clone()).await;
        assert_eq!(status, want, "{body}: {v}");
    }
    let (status, _) = api.get("/alice/survey?rev=nope").await;
    assert_eq!(status, 404);
    let (status, _) = api.get("/alice/nothing").await;
    assert_eq!(status, 404);
    let big = "x".repeat(5 * 1024 * 1024);
    let (status, _) = api
        .put(
            "/alice/survey",
            json!({"datapackage": {"resources": [], "pad": big}}),
        )
        .await;
    assert_eq!(status, 413);

    // Delete takes the dataset and its history away.
    let (s, _, _) = bob_api.send(client().delete(api.at("/alice/survey"))).await;
    assert_eq!(s, 404);
    let (s, _, _) = api.send(client().delete(api.at("/alice/survey"))).await;
    assert_eq!(s, 204);
    let (status, _) = api.get("/alice/survey").await;
    assert_eq!(status, 404);
}

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
