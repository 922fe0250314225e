//! The datasets REST API in process: create, update with optimistic concurrency, revisions,
//! tags, branches, diff, revert, tree, raw files, concurrent writers of one parent, and the
//! refusals (unlinked objects, stale parents, bad input, strangers), each leaving the dataset
//! unchanged. Moved from `tests/it/datasets.rs`; NDJSON commits are in `commits.rs`.

use axum::http::HeaderMap;
use serde_json::{json, Value};
use strata_core::db::Visibility;

use crate::common::api::{api, unique, Api, Call};
use crate::common::sha256_hex;

pub const API: &str = "/api/v1/datasets";

/// A user of the shared API with their token, and their dataset `{user}/survey`.
pub struct Caller {
    pub api: &'static Api,
    pub user: String,
    pub token: String,
}

impl Caller {
    /// The REST path of `path` under the datasets API.
    pub fn at(&self, path: &str) -> String {
        format!("{API}{path}")
    }

    /// `/{user}/survey` and `tail`.
    pub fn survey(&self, tail: &str) -> String {
        format!("/{}/survey{tail}", self.user)
    }

    pub async fn send(&self, call: Call) -> (u16, HeaderMap, Value) {
        call.bearer(&self.token).send().await.parts()
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        let (s, _, v) = self.send(self.api.get(self.at(path))).await;
        (s, v)
    }

    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let (s, _, v) = self.send(self.api.post(self.at(path)).json(&body)).await;
        (s, v)
    }

    pub async fn put(&self, path: &str, body: Value) -> (u16, Value) {
        let (s, _, v) = self.send(self.api.put(self.at(path)).json(&body)).await;
        (s, v)
    }
}

pub fn resource(name: &str, path: &str, data: &[u8]) -> Value {
    json!({"name": name, "path": path, "bytes": data.len(), "hash": format!("sha256:{}", sha256_hex(data))})
}

/// A user of their own and their private dataset `survey`.
pub async fn setup() -> Caller {
    let api = api().await;
    let user = unique("alice");
    let token = api.user(&user).await;
    let c = Caller { api, user, token };
    let (status, v) = c
        .post(
            "",
            json!({"namespace": c.user, "name": "survey", "visibility": "private"}),
        )
        .await;
    assert_eq!(status, 201, "{v}");
    c
}

pub fn head(v: &Value) -> String {
    v["revision"]["id"]
        .as_str()
        .expect("revision id")
        .to_owned()
}

#[tokio::test]
async fn create_update_and_read_back() {
    let api = setup().await;
    let (status, v) = api.get(&api.survey("")).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["datapackage"]["resources"], json!([]));
    let first = head(&v);

    // Resources must point at objects uploaded to this dataset.
    let data = b"id,age\n1,30\n";
    let pkg = json!({"name": "survey", "resources": [resource("people", "data/people.csv", data)]});
    let (status, v) = api
        .put(
            &api.survey(""),
            json!({"datapackage": pkg, "parent": first}),
        )
        .await;
    assert_eq!(status, 422, "{v}");
    assert!(v["missing"].as_array().is_some_and(|m| m.len() == 1), "{v}");
    let repo = format!("{}/survey", api.user);
    api.api.upload(&repo, &api.token, data).await;
    let (status, v) = api
        .put(
            &api.survey(""),
            json!({"datapackage": pkg, "parent": first, "message": "add people"}),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    let second = head(&v);
    assert_eq!(v["revision"]["message"], "add people");
    assert_eq!(v["revision"]["author"]["name"], api.user.as_str());

    // A stale parent: the datapackage changed since, so this is a conflict, not a lost update.
    let (status, v) = api
        .put(
            &api.survey(""),
            json!({"datapackage": {"resources": []}, "parent": first}),
        )
        .await;
    assert_eq!(status, 409, "{v}");
    assert!(v["request_id"].is_string());
    // If-Match works as the parent too.
    let (status, _, v) = api
        .send(
            api.api
                .put(api.at(&api.survey("")))
                .header("if-match", format!("\"{first}\""))
                .json(&json!({"datapackage": {"resources": []}})),
        )
        .await;
    assert_eq!(status, 409, "{v}");

    // Read at each revision; the tree and raw files.
    let (_, v) = api.get(&api.survey(&format!("?rev={first}"))).await;
    assert_eq!(v["datapackage"]["resources"], json!([]));
    let (_, v) = api.get(&api.survey("/tree")).await;
    let files = v["files"].as_array().unwrap();
    let people = files
        .iter()
        .find(|f| f["path"] == "data/people.csv")
        .unwrap();
    assert_eq!(people["type"], "lfs");
    assert_eq!(people["size"], data.len());
    let raw = api
        .api
        .get(api.at(&api.survey("/raw/data/people.csv")))
        .bearer(&api.token)
        .send()
        .await;
    // Streamed through strata (no redirect), as an attachment with a content type.
    assert_eq!(raw.status, 200);
    assert_eq!(raw.headers["content-type"], "text/csv; charset=utf-8");
    assert_eq!(
        raw.headers["content-disposition"],
        "attachment; filename=\"people.csv\"; filename*=UTF-8''people.csv"
    );
    assert_eq!(&raw.body[..], data);
    let ranged = api
        .api
        .get(api.at(&api.survey("/raw/data/people.csv")))
        .bearer(&api.token)
        .header("range", "bytes=1-3")
        .send()
        .await;
    assert_eq!(ranged.status, 206);
    assert_eq!(&ranged.body[..], &data[1..4]);
    let raw = api
        .api
        .get(api.at(&api.survey("/raw/datapackage.json")))
        .bearer(&api.token)
        .send()
        .await;
    assert_eq!(raw.status, 200);
    let stored: Value = serde_json::from_slice(&raw.body).unwrap();
    assert_eq!(stored["resources"][0]["name"], "people");

    // Revisions, newest first, with paging and a path filter.
    let (_, v) = api.get(&api.survey("/revisions?limit=1")).await;
    assert_eq!(v["revisions"][0]["id"], second.as_str());
    let cursor = v["next_cursor"].as_str().unwrap().to_owned();
    let (_, v) = api
        .get(&api.survey(&format!("/revisions?limit=1&cursor={cursor}")))
        .await;
    assert_eq!(v["revisions"][0]["id"], first.as_str());
    assert!(v["next_cursor"].is_null());
    let (_, v) = api
        .get(&api.survey("/revisions?path=data/people.csv"))
        .await;
    assert_eq!(v["revisions"].as_array().unwrap().len(), 1);
    let (status, _) = api.get(&api.survey("/revisions?limit=0")).await;
    assert_eq!(status, 422);
    let (status, _) = api.get(&api.survey("/revisions?path=../x")).await;
    assert_eq!(status, 422);
}

#[tokio::test]
async fn tags_branches_diff_and_revert() {
    let api = setup().await;
    let (_, v) = api.get(&api.survey("")).await;
    let first = head(&v);
    let data = b"x\n";
    let repo = format!("{}/survey", api.user);
    api.api.upload(&repo, &api.token, data).await;
    let pkg = json!({"resources": [resource("x", "x.csv", data)]});
    let (_, v) = api
        .put(
            &api.survey(""),
            json!({"datapackage": pkg, "parent": first}),
        )
        .await;
    let second = head(&v);

    let (status, v) = api
        .post(
            &api.survey("/tags"),
            json!({"name": "v1", "description": "first"}),
        )
        .await;
    assert_eq!(status, 201, "{v}");
    assert_eq!(v["revision"], second.as_str());
    let (status, _) = api.post(&api.survey("/tags"), json!({"name": "v1"})).await;
    assert_eq!(status, 409);
    let (status, _) = api
        .post(&api.survey("/tags"), json!({"name": "bad name"}))
        .await;
    assert_eq!(status, 422);
    let (s, _, v) = api
        .send(
            api.api
                .patch(api.at(&api.survey("/tags/v1")))
                .json(&json!({"description": null})),
        )
        .await;
    assert_eq!((s, v["description"].as_str()), (200, Some("")), "{v}");
    let (s, _, v) = api
        .send(
            api.api
                .patch(api.at(&api.survey("/tags/v1")))
                .json(&json!({"name": "release-1"})),
        )
        .await;
    assert_eq!((s, v["name"].as_str()), (200, Some("release-1")), "{v}");
    let (_, v) = api.get(&api.survey("?rev=release-1")).await;
    assert_eq!(head(&v), second);

    let (status, v) = api
        .post(
            &api.survey("/branches"),
            json!({"name": "draft", "revision": first}),
        )
        .await;
    assert_eq!(status, 201, "{v}");
    let (_, v) = api.get(&api.survey("/branches")).await;
    assert_eq!(v["branches"].as_array().unwrap().len(), 2);

    let (status, v) = api
        .get(&api.survey(&format!("/diff?from={first}&to={second}")))
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
            &api.survey("/revert"),
            json!({"to": first, "parent": second}),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    let (_, v) = api.get(&api.survey("")).await;
    assert_eq!(v["datapackage"]["resources"], json!([]));
    let (status, _) = api
        .post(
            &api.survey("/revert"),
            json!({"to": first, "parent": second}),
        )
        .await;
    assert_eq!(status, 409, "a stale parent");

    let (s, _, _) = api
        .send(api.api.delete(api.at(&api.survey("/tags/release-1"))))
        .await;
    assert_eq!(s, 204);
    let (s, _, _) = api
        .send(api.api.delete(api.at(&api.survey("/branches/draft"))))
        .await;
    assert_eq!(s, 204);
    let (s, _, _) = api
        .send(api.api.delete(api.at(&api.survey("/branches/main"))))
        .await;
    assert_eq!(s, 422);
}

#[tokio::test]
async fn concurrent_updates_on_one_parent() {
    let api = setup().await;
    let (_, v) = api.get(&api.survey("")).await;
    let first = head(&v);
    let mut tasks = Vec::new();
    for i in 0..6 {
        let (path, token, first) = (api.at(&api.survey("")), api.token.clone(), first.clone());
        let shared = api.api;
        tasks.push(tokio::spawn(async move {
            let pkg = json!({"name": format!("v{i}"), "resources": []});
            shared
                .put(path)
                .bearer(&token)
                .json(&json!({"datapackage": pkg, "parent": first}))
                .send()
                .await
                .status
        }));
    }
    let mut codes = Vec::new();
    for t in tasks {
        codes.push(t.await.unwrap());
    }
    codes.sort();
    assert_eq!(codes, [200, 409, 409, 409, 409, 409]);
    let (_, v) = api.get(&api.survey("/revisions")).await;
    assert_eq!(v["revisions"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn strangers_and_bad_requests() {
    let api = setup().await;
    let bob_name = unique("bob");
    let bob = api.api.user(&bob_name).await;
    let bob_api = Caller {
        api: api.api,
        user: bob_name,
        token: bob,
    };
    // A private dataset is invisible to others and to anonymous callers.
    let (status, _) = bob_api.get(&api.survey("")).await;
    assert_eq!(status, 404);
    let anon = api.api.get(api.at(&api.survey(""))).send().await;
    assert_eq!(anon.status, 401);
    let (status, _) = bob_api
        .post("", json!({"namespace": api.user, "name": "mine"}))
        .await;
    assert_eq!(status, 403);
    // A public one is readable, not writable.
    let open = format!("/{}/open", api.user);
    api.api.repo(&open[1..], Visibility::Public).await;
    let (status, v) = bob_api.get(&open).await;
    assert_eq!(status, 200, "{v}");
    assert!(v["revision"].is_null(), "created without revisions: {v}");
    let (status, _) = bob_api
        .put(&open, json!({"datapackage": {"resources": []}}))
        .await;
    assert_eq!(status, 403);

    let ns = api.user.as_str();
    for (body, want) in [
        (json!({"namespace": ns, "name": "survey"}), 409),
        (json!({"namespace": ns, "name": "../x"}), 422),
        (
            json!({"namespace": ns, "name": "x", "visibility": "secret"}),
            422,
        ),
        (
            json!({"namespace": ns, "name": "x", "datapackage": {"resources": [resource("r", "r.csv", b"r")]}}),
            422,
        ),
        (json!({"namespace": ns, "name": "x", "extra": 1}), 422),
    ] {
        let (status, v) = api.post("", body.clone()).await;
        assert_eq!(status, want, "{body}: {v}");
    }
    let (status, _) = api.get(&api.survey("?rev=nope")).await;
    assert_eq!(status, 404);
    let (status, _) = api.get(&format!("/{ns}/nothing")).await;
    assert_eq!(status, 404);
    let big = "x".repeat(5 * 1024 * 1024);
    let (status, _) = api
        .put(
            &api.survey(""),
            json!({"datapackage": {"resources": [], "pad": big}}),
        )
        .await;
    assert_eq!(status, 413);

    // Delete takes the dataset and its history away.
    let (s, _, _) = bob_api.send(api.api.delete(api.at(&api.survey("")))).await;
    assert_eq!(s, 404);
    let (s, _, _) = api.send(api.api.delete(api.at(&api.survey("")))).await;
    assert_eq!(s, 204);
    let (status, _) = api.get(&api.survey("")).await;
    assert_eq!(status, 404);
}
