//! Merge requests over REST: three-way merges of a table on its key (disjoint rows, an added
//! column, a row deleted on one side), conflicts (the same cell, delete against update, a
//! datapackage property) listed with base/ours/theirs and resolved per cell, the merge as a
//! compare-and-swap on the target, a protected `main` that takes reviewed merge requests only
//! (REST commits and pushes refused, approvals from another writer on the current head),
//! contracts checked on the merge, tables without a key, and the hostile cases. This file holds
//! the shared setup; the cases are in the modules below.

mod access;
mod memory;
mod pages;
mod random;
mod scenarios;

use serde_json::{json, Value};

use crate::common::*;

pub const API: &str = "/api/v1/datasets";

pub struct Setup {
    pub server: TestServer,
    pub alice: String,
    pub bob: String,
    uploaded: std::sync::Mutex<Vec<String>>,
}

/// `t.csv` with a header and rows.
pub fn csv(header: &str, rows: &[&str]) -> Vec<u8> {
    let mut s = format!("{header}\n");
    for r in rows {
        s.push_str(r);
        s.push('\n');
    }
    s.into_bytes()
}

pub const BASE: &[&str] = &["1,ann,10", "2,bo,20", "3,cy,30", "4,di,40", "5,ed,50"];

/// The datapackage over `t.csv` (`data`): key `id` when `keyed`, `extra` fields after the three.
pub fn package(data: &[u8], title: &str, keyed: bool, extra: &[&str]) -> Value {
    let mut fields = vec![
        json!({"name": "id", "type": "integer"}),
        json!({"name": "name", "type": "string"}),
        json!({"name": "score", "type": "integer", "constraints": {"minimum": 0}}),
    ];
    fields.extend(extra.iter().map(|f| json!({"name": f, "type": "string"})));
    let mut schema = json!({ "fields": fields });
    if keyed {
        schema["primaryKey"] = json!("id");
    }
    json!({
        "name": "m",
        "title": title,
        "resources": [{"name": "t", "path": "t.csv", "format": "csv", "bytes": data.len(),
            "hash": format!("sha256:{}", sha256_hex(data)), "schema": schema}]
    })
}

impl Setup {
    pub fn at(&self, path: &str) -> String {
        format!("{}{API}/alice/m{path}", self.server.url)
    }

    pub async fn head(&self, branch: &str) -> String {
        let r = client()
            .get(self.at(&format!("?rev={branch}")))
            .bearer_auth(&self.alice)
            .send()
            .await
            .unwrap();
        let (_, _, v) = body(r).await;
        v["revision"]["id"].as_str().unwrap_or_default().to_owned()
    }

    async fn upload(&self, data: &[u8]) {
        let oid = sha256_hex(data);
        if !self.uploaded.lock().unwrap().contains(&oid) {
            upload(&self.server, "alice/m", &self.alice, data).await;
            self.uploaded.lock().unwrap().push(oid);
        }
    }

    /// Writes the table (and the package around it) on `branch`: status and body.
    pub async fn write(&self, branch: &str, package: Value, data: &[u8]) -> (u16, Value) {
        self.upload(data).await;
        let parent = self.head(branch).await;
        let r = client()
            .put(self.at(""))
            .bearer_auth(&self.alice)
            .json(&json!({"datapackage": package, "parent": parent, "branch": branch}))
            .send()
            .await
            .unwrap();
        let (s, _, v) = body(r).await;
        (s, v)
    }

    pub async fn call(
        &self,
        token: &str,
        method: reqwest::Method,
        path: &str,
        b: Option<Value>,
    ) -> (u16, Value) {
        let mut req = client().request(method, self.at(path)).bearer_auth(token);
        if let Some(b) = b {
            req = req.json(&b);
        }
        let (s, headers, v) = body(req.send().await.unwrap()).await;
        if s >= 400 {
            assert_error_body(s, &headers, &v, s);
        }
        (s, v)
    }

    /// The merged `t.csv` at `rev`.
    pub async fn table(&self, rev: &str) -> String {
        let r = client()
            .get(self.at(&format!("/raw/t.csv?rev={rev}")))
            .bearer_auth(&self.alice)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        r.text().await.unwrap()
    }

    /// Opens a merge request of `feature` into `main`: its number.
    pub async fn open(&self) -> i64 {
        let (s, v) = self
            .call(
                &self.alice,
                reqwest::Method::POST,
                "/merge-requests",
                Some(json!({"source": "feature", "title": "Feature rows", "description": "why"})),
            )
            .await;
        assert_eq!(s, 201, "{v}");
        assert_eq!(v["state"], "open");
        v["number"].as_i64().unwrap()
    }

    pub async fn status(&self, n: i64) -> Value {
        let (s, v) = self
            .call(
                &self.alice,
                reqwest::Method::GET,
                &format!("/merge-requests/{n}"),
                None,
            )
            .await;
        assert_eq!(s, 200, "{v}");
        v
    }
}

/// `alice/m` with `t.csv` (keyed or not) on `main` and a branch `feature` at the same revision;
/// bob writes to it.
pub async fn setup(keyed: bool) -> Setup {
    setup_on(TestServer::start().await, keyed).await
}

/// [`setup`] on `server`.
pub async fn setup_on(server: TestServer, keyed: bool) -> Setup {
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let s = Setup {
        server,
        alice,
        bob,
        uploaded: Default::default(),
    };
    let r = client()
        .post(format!("{}{API}", s.server.url))
        .bearer_auth(&s.alice)
        .json(&json!({"namespace": "alice", "name": "m", "visibility": "private"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let data = csv("id,name,score", BASE);
    let (st, v) = s
        .write("main", package(&data, "M", keyed, &[]), &data)
        .await;
    assert_eq!(st, 200, "{v}");
    let (st, v) = s
        .call(
            &s.alice,
            reqwest::Method::POST,
            "/branches",
            Some(json!({"name": "feature"})),
        )
        .await;
    assert_eq!(st, 201, "{v}");
    let (st, _) = s
        .call(
            &s.alice,
            reqwest::Method::PUT,
            "/collaborators/bob",
            Some(json!({"permission": "write"})),
        )
        .await;
    assert_eq!(st, 204);
    s
}
