//! Merge requests over REST: three-way merges of a table on its key (disjoint rows, an added
//! column, a row deleted on one side), conflicts (the same cell, delete against update, a
//! datapackage property) listed with base/ours/theirs and resolved per cell, the merge as a
//! compare-and-swap on the target, a protected `main` that takes reviewed merge requests only
//! (REST commits and pushes refused, approvals from another writer on the current head),
//! contracts checked on the merge, tables without a key, and the hostile cases.

use serde_json::{json, Value};

use crate::common::*;

const API: &str = "/api/v1/datasets";

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
    let server = TestServer::start().await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disjoint_rows_and_an_added_column_merge_cleanly() {
    let s = setup(true).await;
    // main: bo renamed.
    let ours = csv(
        "id,name,score",
        &["1,ann,10", "2,bob,20", "3,cy,30", "4,di,40", "5,ed,50"],
    );
    let (st, v) = s.write("main", package(&ours, "M", true, &[]), &ours).await;
    assert_eq!(st, 200, "{v}");
    // feature: a column added, di's score changed, ed deleted, a row added.
    let theirs = csv(
        "id,name,score,tag",
        &[
            "1,ann,10,",
            "2,bo,20,x",
            "3,cy,30,",
            "4,di,44,",
            "6,fay,60,new",
        ],
    );
    let (st, v) = s
        .write("feature", package(&theirs, "M", true, &["tag"]), &theirs)
        .await;
    assert_eq!(st, 200, "{v}");
    let n = s.open().await;
    let status = s.status(n).await;
    assert_eq!(status["mergeable"], true, "{status}");
    assert_eq!(status["conflicts"], json!([]));
    assert_eq!(status["tables"][0]["key"], json!(["id"]));
    assert_eq!(
        status["tables"][0]["columns"],
        json!(["id", "name", "score", "tag"])
    );
    let main = s.head("main").await;
    let (st, v) = s
        .call(
            &s.alice,
            reqwest::Method::POST,
            &format!("/merge-requests/{n}/merge"),
            Some(json!({"target_head": main})),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    let rev = v["revision"]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        v["revision"]["parents"],
        json!([main, s.head("feature").await])
    );
    assert_eq!(v["merge_request"]["state"], "merged");
    assert_eq!(v["merge_request"]["merged_revision"], rev.as_str());
    assert_eq!(
        s.table(&rev).await,
        "id,name,score,tag\n1,ann,10,\n2,bob,20,x\n3,cy,30,\n4,di,44,\n6,fay,60,new\n"
    );
    // The datapackage names the merged object, with the added field.
    let (_, v) = s.call(&s.alice, reqwest::Method::GET, "", None).await;
    let r = &v["datapackage"]["resources"][0];
    assert_eq!(r["schema"]["fields"][3]["name"], "tag");
    let merged = s.table(&rev).await;
    assert_eq!(
        r["hash"],
        format!("sha256:{}", sha256_hex(merged.as_bytes()))
    );
    // Merged: the request lists as such and merges no more.
    let (_, v) = s
        .call(
            &s.alice,
            reqwest::Method::GET,
            "/merge-requests?state=merged",
            None,
        )
        .await;
    assert_eq!(v["merge_requests"][0]["number"], n);
    let (st, _) = s
        .call(
            &s.alice,
            reqwest::Method::POST,
            &format!("/merge-requests/{n}/merge"),
            Some(json!({})),
        )
        .await;
    assert_eq!(st, 409);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conflicts_are_listed_and_resolved_per_cell() {
    let s = setup(true).await;
    // main: bo's score 21, cy deleted, the title changed.
    let ours = csv(
        "id,name,score",
        &["1,ann,10", "2,bo,21", "4,di,40", "5,ed,50"],
    );
    let (st, v) = s
        .write("main", package(&ours, "Ours", true, &[]), &ours)
        .await;
    assert_eq!(st, 200, "{v}");
    // feature: bo's score 22, cy renamed, ed's score 55 (no conflict), the title changed.
    let theirs = csv(
        "id,name,score",
        &["1,ann,10", "2,bo,22", "3,cyd,30", "4,di,40", "5,ed,55"],
    );
    let (st, v) = s
        .write("feature", package(&theirs, "Theirs", true, &[]), &theirs)
        .await;
    assert_eq!(st, 200, "{v}");
    let n = s.open().await;
    let status = s.status(n).await;
    assert_eq!(status["mergeable"], false);
    let conflicts = status["conflicts"].as_array().unwrap();
    assert_eq!(conflicts.len(), 3, "{status}");
    let find = |kind: &str| {
        conflicts
            .iter()
            .find(|c| c["kind"] == kind)
            .unwrap_or_else(|| panic!("{kind}: {status}"))
    };
    let cell = find("cell");
    assert_eq!(cell["key"], json!({"id": "2"}));
    assert_eq!(cell["column"], "score");
    assert_eq!(
        (&cell["base"], &cell["ours"], &cell["theirs"]),
        (&json!("20"), &json!("21"), &json!("22"))
    );
    let row = find("row");
    assert_eq!(row["key"], json!({"id": "3"}));
    assert_eq!(row["ours"], Value::Null, "deleted on main");
    assert_eq!(row["theirs"]["name"], "cyd");
    let title = find("package");
    assert_eq!(title["location"], "title");
    assert_eq!(
        (&title["ours"], &title["theirs"]),
        (&json!("Ours"), &json!("Theirs"))
    );

    // Unresolved: the merge is refused and main does not move.
    let main = s.head("main").await;
    let (st, v) = s
        .call(
            &s.alice,
            reqwest::Method::POST,
            &format!("/merge-requests/{n}/merge"),
            Some(json!({})),
        )
        .await;
    assert_eq!(st, 409, "{v}");
    assert!(
        v["message"].as_str().unwrap().contains("not resolved"),
        "{v}"
    );
    assert_eq!(s.head("main").await, main);

    // Bad resolutions are refused whole.
    let path = format!("/merge-requests/{n}/resolutions");
    let resolve = |body: Value| s.call(&s.alice, reqwest::Method::PUT, &path, Some(body));
    let (st, _) = resolve(json!({"resolutions": [{"id": "nope", "take": "ours"}]})).await;
    assert_eq!(st, 422);
    let (st, _) =
        resolve(json!({"resolutions": [{"id": row["id"], "take": "value", "value": "x"}]})).await;
    assert_eq!(st, 422, "a row takes a side");
    let (st, _) = resolve(json!({"resolutions": [{"id": cell["id"], "take": "mine"}]})).await;
    assert_eq!(st, 422);
    let (st, _) = resolve(json!({"resolutions": []})).await;
    assert_eq!(st, 422);
    let (st, _) =
        resolve(json!({"resolutions": [{"id": cell["id"], "take": "ours", "extra": 1}]})).await;
    assert_eq!(st, 422);

    let (st, v) = resolve(json!({"resolutions": [
        {"id": cell["id"], "take": "value", "value": "25"},
        {"id": row["id"], "take": "theirs"},
        {"id": title["id"], "take": "ours"}]}))
    .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["mergeable"], true, "{v}");
    assert!(v["conflicts"]
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c["resolution"]["by"] == "alice"));
    let (st, v) = s
        .call(
            &s.alice,
            reqwest::Method::POST,
            &format!("/merge-requests/{n}/merge"),
            Some(json!({})),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    let rev = v["revision"]["id"].as_str().unwrap();
    assert_eq!(
        s.table(rev).await,
        "id,name,score\n1,ann,10\n2,bo,25\n3,cyd,30\n4,di,40\n5,ed,55\n"
    );
    let (_, v) = s.call(&s.alice, reqwest::Method::GET, "", None).await;
    assert_eq!(v["datapackage"]["title"], "Ours");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_merge_is_a_compare_and_swap_on_the_target() {
    let s = setup(true).await;
    let theirs = csv(
        "id,name,score",
        &["1,ann,11", "2,bo,20", "3,cy,30", "4,di,40", "5,ed,50"],
    );
    s.write("feature", package(&theirs, "M", true, &[]), &theirs)
        .await;
    let n = s.open().await;
    let reviewed = s.head("main").await;
    // main moves after the review.
    let ours = csv(
        "id,name,score",
        &["1,ann,10", "2,bo,20", "3,cy,30", "4,di,40", "5,ed,51"],
    );
    s.write("main", package(&ours, "M", true, &[]), &ours).await;
    let moved = s.head("main").await;
    let (st, v) = s
        .call(
            &s.alice,
            reqwest::Method::POST,
            &format!("/merge-requests/{n}/merge"),
            Some(json!({"target_head": reviewed})),
        )
        .await;
    assert_eq!(st, 409, "{v}");
    assert!(v["message"].as_str().unwrap().contains("moved"), "{v}");
    assert_eq!(s.head("main").await, moved);
    // Looked at again, it merges both changes.
    let (st, v) = s
        .call(
            &s.alice,
            reqwest::Method::POST,
            &format!("/merge-requests/{n}/merge"),
            Some(json!({"target_head": moved})),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    let rev = v["revision"]["id"].as_str().unwrap();
    assert_eq!(
        s.table(rev).await,
        "id,name,score\n1,ann,11\n2,bo,20\n3,cy,30\n4,di,40\n5,ed,51\n"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_protected_main_takes_merge_requests_approved_by_another_writer() {
    let s = setup(true).await;
    let (st, v) = s
        .call(&s.alice, reqwest::Method::PUT, "/protection",
            Some(json!({"default_branch": true, "require_merge_request": true, "required_approvals": 1})))
        .await;
    assert_eq!(st, 204, "{v}");
    // A direct write to main is refused; the branch takes it.
    let rows = csv(
        "id,name,score",
        &[
            "1,ann,10", "2,bo,20", "3,cy,30", "4,di,40", "5,ed,50", "6,fi,60",
        ],
    );
    let (st, v) = s.write("main", package(&rows, "M", true, &[]), &rows).await;
    assert_eq!(st, 403, "{v}");
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("merge requests only"),
        "{v}"
    );
    let (st, v) = s
        .write("feature", package(&rows, "M", true, &[]), &rows)
        .await;
    assert_eq!(st, 200, "{v}");
    let n = s.open().await;
    let status = s.status(n).await;
    assert_eq!(status["mergeable"], false);
    assert_eq!(status["protected"], true);
    assert!(
        status["blockers"][0].as_str().unwrap().contains("approval"),
        "{status}"
    );
    // Not approved: refused. The author cannot approve.
    let merge = |token: String| {
        let s = &s;
        async move {
            s.call(
                &token,
                reqwest::Method::POST,
                &format!("/merge-requests/{n}/merge"),
                Some(json!({})),
            )
            .await
        }
    };
    assert_eq!(merge(s.alice.clone()).await.0, 403);
    let (st, _) = s
        .call(
            &s.alice,
            reqwest::Method::POST,
            &format!("/merge-requests/{n}/approval"),
            None,
        )
        .await;
    assert_eq!(st, 403);
    // bob approves the head he saw: a head other than the current one is refused.
    let stale = json!({"source_head": status["base"]});
    let (st, _) = s
        .call(
            &s.bob,
            reqwest::Method::POST,
            &format!("/merge-requests/{n}/approval"),
            Some(stale),
        )
        .await;
    assert_eq!(st, 409);
    let seen = json!({"source_head": status["source_head"]});
    let (st, v) = s
        .call(
            &s.bob,
            reqwest::Method::POST,
            &format!("/merge-requests/{n}/approval"),
            Some(seen),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["approvals"][0]["user"], "bob");
    assert_eq!(v["mergeable"], true, "{v}");
    // The source moves: the approval no longer counts.
    let more = csv(
        "id,name,score",
        &[
            "1,ann,10", "2,bo,20", "3,cy,30", "4,di,40", "5,ed,50", "6,fi,61",
        ],
    );
    s.write("feature", package(&more, "M", true, &[]), &more)
        .await;
    let status = s.status(n).await;
    assert_eq!(status["approvals"][0]["current"], false);
    assert_eq!(status["mergeable"], false);
    let (st, _) = s
        .call(
            &s.bob,
            reqwest::Method::POST,
            &format!("/merge-requests/{n}/approval"),
            None,
        )
        .await;
    assert_eq!(st, 200);
    let (st, v) = merge(s.alice.clone()).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(s.table("main").await, String::from_utf8(more).unwrap());

    // A push to main is refused too; a push to a branch is not.
    let home = tempfile::tempdir().unwrap();
    setup_home(home.path(), &s.server.url, &s.alice);
    let work = home.path().join("m");
    run(git(home.path(), home.path()).args([
        "clone",
        &format!("{}/alice/m.git", s.server.url),
        "m",
    ]));
    std::fs::write(work.join("notes.txt"), "a note\n").unwrap();
    run(git(home.path(), &work).args(["add", "notes.txt"]));
    run(git(home.path(), &work).args(["commit", "-qm", "note"]));
    let out = git(home.path(), &work)
        .args(["push", "origin", "HEAD:main"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("merge requests only"), "{err}");
    run(git(home.path(), &work).args(["push", "origin", "HEAD:notes"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_merge_that_breaks_the_contract_is_refused() {
    let s = setup(true).await;
    let (st, _) = s
        .call(
            &s.alice,
            reqwest::Method::PUT,
            "/protection",
            Some(json!({"default_branch": true})),
        )
        .await;
    assert_eq!(st, 204);
    // Each side alone holds; feature's negative score breaks `minimum` once merged.
    let theirs = csv(
        "id,name,score",
        &["1,ann,10", "2,bo,-1", "3,cy,30", "4,di,40", "5,ed,50"],
    );
    let (st, v) = s
        .write("feature", package(&theirs, "M", true, &[]), &theirs)
        .await;
    assert_eq!(st, 200, "feature is not protected: {v}");
    let n = s.open().await;
    let main = s.head("main").await;
    let (st, v) = s
        .call(
            &s.alice,
            reqwest::Method::POST,
            &format!("/merge-requests/{n}/merge"),
            Some(json!({})),
        )
        .await;
    assert_eq!(st, 422, "{v}");
    assert!(
        v["message"].as_str().unwrap().contains("column \"score\""),
        "{v}"
    );
    assert_eq!(v["violations"][0]["rule"], "minimum");
    assert_eq!(s.head("main").await, main);
    assert_eq!(s.status(n).await["state"], "open");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_without_a_key_merge_whole() {
    let s = setup(false).await;
    let ours = csv(
        "id,name,score",
        &[
            "1,ann,10", "2,bo,20", "3,cy,30", "4,di,40", "5,ed,50", "7,gus,70",
        ],
    );
    s.write("main", package(&ours, "M", false, &[]), &ours)
        .await;
    let theirs = csv(
        "id,name,score",
        &["1,ann,10", "2,bo,20", "3,cy,30", "5,ed,50", "6,fay,60"],
    );
    s.write("feature", package(&theirs, "M", false, &[]), &theirs)
        .await;
    let n = s.open().await;
    let status = s.status(n).await;
    assert_eq!(status["tables"][0]["key"], json!([]));
    let (st, v) = s
        .call(
            &s.alice,
            reqwest::Method::POST,
            &format!("/merge-requests/{n}/merge"),
            Some(json!({})),
        )
        .await;
    assert_eq!(st, 200, "{v}");
    let rev = v["revision"]["id"].as_str().unwrap();
    assert_eq!(
        s.table(rev).await,
        "id,name,score\n1,ann,10\n2,bo,20\n3,cy,30\n5,ed,50\n6,fay,60\n7,gus,70\n"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strangers_readers_and_bad_requests_are_refused() {
    let s = setup(true).await;
    let carol = s.server.user("carol").await;
    let dave = s.server.user("dave").await;
    let (st, _) = s
        .call(
            &s.alice,
            reqwest::Method::PUT,
            "/collaborators/carol",
            Some(json!({"permission": "read"})),
        )
        .await;
    assert_eq!(st, 204);
    let open = |token: String, body: Value| {
        let s = &s;
        async move {
            s.call(&token, reqwest::Method::POST, "/merge-requests", Some(body))
                .await
        }
    };
    let new = json!({"source": "feature", "title": "t"});
    // Nothing to merge yet (feature is main).
    assert_eq!(open(s.alice.clone(), new.clone()).await.0, 422);
    let theirs = csv(
        "id,name,score",
        &["1,ann,11", "2,bo,20", "3,cy,30", "4,di,40", "5,ed,50"],
    );
    s.write("feature", package(&theirs, "M", true, &[]), &theirs)
        .await;
    assert_eq!(open(carol.clone(), new.clone()).await.0, 403, "a reader");
    assert_eq!(
        open(dave.clone(), new.clone()).await.0,
        404,
        "a stranger to a private dataset"
    );
    let anon = client()
        .post(s.at("/merge-requests"))
        .json(&new)
        .send()
        .await
        .unwrap();
    assert_eq!(anon.status(), 401);
    assert_eq!(
        open(s.alice.clone(), json!({"source": "nope", "title": "t"}))
            .await
            .0,
        404
    );
    assert_eq!(
        open(s.alice.clone(), json!({"source": "main", "title": "t"}))
            .await
            .0,
        422
    );
    for bad in ["../x", "a b", "", "x\u{0}"] {
        let (st, v) = open(s.alice.clone(), json!({"source": bad, "title": "t"})).await;
        assert_eq!(st, 422, "{bad:?}: {v}");
    }
    let target = json!({"source": "feature", "target": "../main", "title": "t"});
    assert_eq!(open(s.alice.clone(), target).await.0, 422);
    assert_eq!(
        open(s.alice.clone(), json!({"source": "feature", "title": "  "}))
            .await
            .0,
        422
    );
    assert_eq!(
        open(s.alice.clone(), json!({"source": "feature"})).await.0,
        422
    );
    let (st, v) = open(s.alice.clone(), new.clone()).await;
    assert_eq!(st, 201, "{v}");
    let n = v["number"].as_i64().unwrap();
    assert_eq!(
        open(s.alice.clone(), new.clone()).await.0,
        409,
        "one open per source and target"
    );
    // A reader sees it and cannot act on it.
    let (st, v) = s
        .call(
            &carol,
            reqwest::Method::GET,
            &format!("/merge-requests/{n}"),
            None,
        )
        .await;
    assert_eq!(st, 200, "{v}");
    for (method, path) in [
        (reqwest::Method::POST, format!("/merge-requests/{n}/merge")),
        (
            reqwest::Method::POST,
            format!("/merge-requests/{n}/approval"),
        ),
        (reqwest::Method::PATCH, format!("/merge-requests/{n}")),
    ] {
        let (st, _) = s.call(&carol, method, &path, Some(json!({}))).await;
        assert_eq!(st, 403, "{path}");
    }
    let (st, _) = s
        .call(
            &dave,
            reqwest::Method::GET,
            &format!("/merge-requests/{n}"),
            None,
        )
        .await;
    assert_eq!(st, 404);
    let (st, _) = s
        .call(&s.alice, reqwest::Method::GET, "/merge-requests/999", None)
        .await;
    assert_eq!(st, 404);
    let (st, _) = s
        .call(&s.alice, reqwest::Method::GET, "/merge-requests/x", None)
        .await;
    assert_eq!(st, 404);
    let (st, _) = s
        .call(
            &s.alice,
            reqwest::Method::GET,
            "/merge-requests?state=bogus",
            None,
        )
        .await;
    assert_eq!(st, 422);
    // Closed, then reopened; a merged one cannot be.
    let (st, v) = s
        .call(
            &s.alice,
            reqwest::Method::PATCH,
            &format!("/merge-requests/{n}"),
            Some(json!({"state": "closed"})),
        )
        .await;
    assert_eq!((st, v["state"].as_str()), (200, Some("closed")));
    let (st, _) = s
        .call(
            &s.alice,
            reqwest::Method::POST,
            &format!("/merge-requests/{n}/merge"),
            Some(json!({})),
        )
        .await;
    assert_eq!(st, 409);
    let (st, _) = s
        .call(
            &s.alice,
            reqwest::Method::PATCH,
            &format!("/merge-requests/{n}"),
            Some(json!({"state": "merged"})),
        )
        .await;
    assert_eq!(st, 422);
    let (st, v) = s
        .call(
            &s.alice,
            reqwest::Method::PATCH,
            &format!("/merge-requests/{n}"),
            Some(json!({"state": "open", "title": "Renamed"})),
        )
        .await;
    assert_eq!((st, v["title"].as_str()), (200, Some("Renamed")));
    let (st, v) = s
        .call(
            &s.alice,
            reqwest::Method::POST,
            &format!("/merge-requests/{n}/merge"),
            Some(json!({"target_head": "nope"})),
        )
        .await;
    assert_eq!(st, 404, "{v}");
}

/// The pages in headless Chromium: a merge request opened from the list's form (branches from
/// lists), its conflict shown with the three values and resolved with the cell's form, then
/// merged with the button; the list shows it merged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_merge_request_is_opened_resolved_and_merged_in_chromium() {
    use crate::common::chromium::*;
    use fantoccini::Locator;

    let s = setup(true).await;
    let ours = csv(
        "id,name,score",
        &["1,ann,10", "2,bo,21", "3,cy,30", "4,di,40", "5,ed,50"],
    );
    s.write("main", package(&ours, "M", true, &[]), &ours).await;
    let theirs = csv(
        "id,name,score",
        &[
            "1,ann,10",
            "2,bo,<b>22</b>",
            "3,cy,30",
            "4,di,40",
            "5,ed,50",
        ],
    );
    s.write("feature", package(&theirs, "M", true, &[]), &theirs)
        .await;
    strata::cli::admin::set_password(&s.server.state, "alice", PASSWORD)
        .await
        .unwrap();
    let driver = tokio::task::spawn_blocking(Driver::start).await.unwrap();
    let c = browser(&driver, &s.server.dir.path().join("profile")).await;
    sign_in(&c, &s.server.url, "alice").await;

    c.goto(&format!("{}/datasets/alice/m", s.server.url))
        .await
        .unwrap();
    click(&c, "a[href='/datasets/alice/m/merge-requests']").await;
    assert!(text(&c).await.contains("No merge requests yet"));
    c.find(Locator::Css("select[name=source]"))
        .await
        .unwrap()
        .select_by_value("feature")
        .await
        .unwrap();
    fill(&c, "title", "Scores from the field").await;
    click(&c, "form[action$='/merge-requests'] button[type=submit]").await;
    let url = c.current_url().await.unwrap();
    assert_eq!(url.path(), "/datasets/alice/m/merge-requests/1");
    let page = text(&c).await;
    assert!(page.contains("Not ready to merge"), "{page}");
    assert!(page.contains("1 conflict(s) are not resolved"), "{page}");
    // The source's changes since it left main, as the compare page shows them.
    assert!(page.contains("changed t"), "{page}");
    assert!(c.find(Locator::Css("#changed-files")).await.is_ok());
    // The three values, markup shown as text.
    let cells = c
        .execute(
            "return [...document.querySelectorAll('#conflicts tbody td.mono')].map(t => t.textContent)",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(cells, serde_json::json!(["20", "21", "<b>22</b>"]));
    assert!(c
        .find(Locator::Css("#merge"))
        .await
        .unwrap()
        .attr("disabled")
        .await
        .unwrap()
        .is_some());
    screenshot(&c, "merge-request").await;

    // Resolved with a value of its own, then merged.
    c.find(Locator::Css("#conflicts select[name=take]"))
        .await
        .unwrap()
        .select_by_value("value")
        .await
        .unwrap();
    fill(&c, "value", "23").await;
    click(&c, "#conflicts button[type=submit]").await;
    let page = text(&c).await;
    assert!(page.contains("Ready to merge"), "{page}");
    assert!(page.contains("value: 23 (alice)"), "{page}");
    click(&c, "#merge").await;
    assert_eq!(
        c.find(Locator::Id("state"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        "merged"
    );
    assert_eq!(
        s.table("main").await,
        "id,name,score\n1,ann,10\n2,bo,23\n3,cy,30\n4,di,40\n5,ed,50\n"
    );
    c.goto(&format!("{}/datasets/alice/m/merge-requests", s.server.url))
        .await
        .unwrap();
    assert!(text(&c).await.contains("Scores from the field"));
    let errors = console_errors(&c).await;
    assert!(errors.is_empty(), "{errors:?}");
    c.close().await.unwrap();
}

/// A governed table's conflicts: Fybrik's sample policy redacts the PII columns for every reader
/// of `alice/paysim`, so its conflicts show where they are (kind, column) and never a key or a
/// value (not even of a plain column: the key names the row); the writer resolves them by id
/// and merges.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn governed_conflicts_never_show_the_values_a_policy_hides() {
    use crate::governance::{Gov, PAYSIM, PII};
    let gov = Gov::start().await;
    let text = std::str::from_utf8(PAYSIM).unwrap();
    let header = text.lines().next().unwrap();
    let table = |edits: &[(usize, usize, &str)]| {
        let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
        for (row, col, value) in edits {
            let mut cells: Vec<String> = lines[*row].split(',').map(str::to_owned).collect();
            cells[*col] = (*value).to_owned();
            lines[*row] = cells.join(",");
        }
        format!("{}\n", lines.join("\n")).into_bytes()
    };
    let put = |branch: &'static str, data: Vec<u8>| {
        let gov = &gov;
        async move {
            upload(&gov.server, "alice/paysim", &gov.alice, &data).await;
            let fields: Vec<Value> = header
                .split(',')
                .map(|c| json!({"name": c, "type": "string", "tags": {"PII": PII.contains(&c)}}))
                .collect();
            let pkg = json!({"name": "paysim", "tags": ["finance"], "geography": "theshire",
                "resources": [{"name": "paysim-csv", "path": "paysim.csv", "format": "csv",
                    "bytes": data.len(), "hash": format!("sha256:{}", sha256_hex(&data)),
                    "schema": {"fields": fields, "primaryKey": "nameOrig"}}]});
            let r = client()
                .get(format!("{}/alice/paysim?rev={branch}", gov.api))
                .bearer_auth(&gov.alice)
                .send()
                .await
                .unwrap();
            let head: Value = r.json().await.unwrap();
            let r = client()
                .put(format!("{}/alice/paysim", gov.api))
                .bearer_auth(&gov.alice)
                .json(&json!({"datapackage": pkg, "parent": head["revision"]["id"], "branch": branch}))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
        }
    };
    put("main", table(&[])).await;
    let r = client()
        .post(format!("{}/alice/paysim/branches", gov.api))
        .bearer_auth(&gov.alice)
        .json(&json!({"name": "feature"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    // Row 1's oldbalanceOrg (PII) and row 2's amount (plain), changed differently on each side.
    put("main", table(&[(1, 4, "111.11"), (2, 2, "1.11")])).await;
    put("feature", table(&[(1, 4, "222.22"), (2, 2, "2.22")])).await;
    let r = client()
        .post(format!("{}/alice/paysim/merge-requests", gov.api))
        .bearer_auth(&gov.alice)
        .json(&json!({"source": "feature", "title": "balances"}))
        .send()
        .await
        .unwrap();
    let (status, _, v) = body(r).await;
    assert_eq!(status, 201, "{v}");
    let status_url = format!("{}/alice/paysim/merge-requests/1", gov.api);
    for token in [&gov.bob, &gov.alice] {
        let r = client()
            .get(&status_url)
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        let (status, _, v) = body(r).await;
        assert_eq!(status, 200, "{v}");
        let conflicts = v["conflicts"].as_array().unwrap();
        assert_eq!(conflicts.len(), 2, "{v}");
        assert!(
            conflicts
                .iter()
                .all(|c| c["hidden"] == true && c["key"].is_null()),
            "{v}"
        );
        let columns: Vec<&str> = conflicts
            .iter()
            .map(|c| c["column"].as_str().unwrap())
            .collect();
        assert!(
            columns.contains(&"oldbalanceOrg") && columns.contains(&"amount"),
            "{v}"
        );
        let shown = v.to_string();
        for secret in [
            "C1231006815",
            "C1666544295",
            "111.11",
            "222.22",
            "170136",
            "1.11",
            "2.22",
        ] {
            assert!(!shown.contains(secret), "{secret} came out: {shown}");
        }
    }
    // The writer resolves by id, blind, and merges.
    let r = client()
        .get(&status_url)
        .bearer_auth(&gov.alice)
        .send()
        .await
        .unwrap();
    let v: Value = r.json().await.unwrap();
    let picks: Vec<Value> = v["conflicts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| json!({"id": c["id"], "take": "theirs"}))
        .collect();
    let r = client()
        .put(format!("{status_url}/resolutions"))
        .bearer_auth(&gov.alice)
        .json(&json!({"resolutions": picks}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = client()
        .post(format!("{status_url}/merge"))
        .bearer_auth(&gov.alice)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    let (status, _, v) = body(r).await;
    assert_eq!(status, 200, "{v}");
}

/// A small deterministic generator (the test needs no crate for it).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

type Rows = std::collections::BTreeMap<u64, [String; 2]>;

fn render(rows: &Rows) -> Vec<u8> {
    let lines: Vec<String> = rows
        .iter()
        .map(|(k, [n, s])| format!("{k},{n},{s}"))
        .collect();
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    csv("id,name,score", &refs)
}

/// One side's edits of `base`: cells changed, rows deleted and added.
fn edit(base: &Rows, g: &mut Lcg, added_from: u64) -> Rows {
    let mut out = Rows::new();
    for (k, row) in base {
        match g.next(10) {
            0 => {}
            1 | 2 => {
                let mut row = row.clone();
                let c = g.next(2) as usize;
                row[c] = match c {
                    0 => format!("v{}", g.next(3)),
                    _ => format!("{}", 10 + g.next(3)),
                };
                out.insert(*k, row);
            }
            _ => {
                out.insert(*k, row.clone());
            }
        }
    }
    for i in 0..g.next(3) {
        out.insert(
            added_from + i,
            [format!("n{}", g.next(3)), format!("{}", g.next(5))],
        );
    }
    out
}

/// The merge the server must make, every conflict resolved with the source's side: the oracle.
fn expected(b: &Rows, o: &Rows, t: &Rows) -> Rows {
    let keys: std::collections::BTreeSet<&u64> = b.keys().chain(o.keys()).chain(t.keys()).collect();
    let mut out = Rows::new();
    for k in keys {
        let (bv, ov, tv) = (b.get(k), o.get(k), t.get(k));
        let merged = if ov == tv || tv == bv {
            ov.cloned()
        } else if ov == bv {
            tv.cloned()
        } else {
            match (ov, tv) {
                (Some(o), Some(t)) => Some(std::array::from_fn(|c| {
                    let bc = bv.map(|b| &b[c]);
                    if Some(&o[c]) == bc || o[c] == t[c] {
                        t[c].clone()
                    } else if Some(&t[c]) == bc {
                        o[c].clone()
                    } else {
                        t[c].clone()
                    }
                })),
                // Deleted on one side, changed on the other: the source's side.
                _ => tv.cloned(),
            }
        };
        if let Some(m) = merged {
            out.insert(*k, m);
        }
    }
    out
}

/// Random three-way merges of a keyed table against the oracle above: cells changed on either
/// side or both (conflicts resolved with the source's side), rows deleted on one side and changed
/// on the other, rows added on both sides, on one server and several datasets.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_merges_agree_with_an_oracle() {
    let s = setup(true).await;
    let mut g = Lcg(29);
    let mut seen = std::collections::BTreeSet::new();
    for round in 0..8u64 {
        let name = format!("r{round}");
        let at = |path: &str| format!("{}{API}/alice/{name}{path}", s.server.url);
        let r = client()
            .post(format!("{}{API}", s.server.url))
            .bearer_auth(&s.alice)
            .json(&json!({"namespace": "alice", "name": name}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        let base: Rows = (1..=12)
            .map(|k| (k, [format!("n{}", g.next(3)), format!("{}", g.next(5))]))
            .collect();
        let ours = edit(&base, &mut g, 100);
        let from = 100 + g.next(2) * 2;
        let theirs = edit(&base, &mut g, from);
        let write = |branch: &'static str, rows: Rows| {
            let (s, at) = (&s, &at);
            async move {
                let data = render(&rows);
                let oid = sha256_hex(&data);
                let repo = at("").rsplit('/').next().unwrap().to_owned();
                let _ =
                    upload_once(&s.server, &format!("alice/{repo}"), &s.alice, &data, &oid).await;
                let head: Value = client()
                    .get(at(&format!("?rev={branch}")))
                    .bearer_auth(&s.alice)
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                let mut pkg = package(&data, "M", true, &[]);
                pkg["name"] = json!(repo);
                let r = client()
                    .put(at(""))
                    .bearer_auth(&s.alice)
                    .json(&json!({"datapackage": pkg, "parent": head["revision"]["id"], "branch": branch}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
            }
        };
        write("main", base.clone()).await;
        let r = client()
            .post(at("/branches"))
            .bearer_auth(&s.alice)
            .json(&json!({"name": "feature"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        write("main", ours.clone()).await;
        write("feature", theirs.clone()).await;
        let r = client()
            .post(at("/merge-requests"))
            .bearer_auth(&s.alice)
            .json(&json!({"source": "feature", "title": "random"}))
            .send()
            .await
            .unwrap();
        let (st, _, v) = body(r).await;
        if st == 422 {
            // The source changed nothing the target lacks.
            assert_eq!(ours, theirs, "{v}");
            continue;
        }
        assert_eq!(st, 201, "{v}");
        let v: Value = client()
            .get(at("/merge-requests/1"))
            .bearer_auth(&s.alice)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let picks: Vec<Value> = v["conflicts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| json!({"id": c["id"], "take": "theirs"}))
            .collect();
        seen.extend(
            v["conflicts"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["kind"].to_string()),
        );
        if !picks.is_empty() {
            let r = client()
                .put(at("/merge-requests/1/resolutions"))
                .bearer_auth(&s.alice)
                .json(&json!({"resolutions": picks}))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
        }
        let r = client()
            .post(at("/merge-requests/1/merge"))
            .bearer_auth(&s.alice)
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        let (st, _, v) = body(r).await;
        assert_eq!(st, 200, "round {round}: {v}");
        let rev = v["revision"]["id"].as_str().unwrap();
        let got = client()
            .get(at(&format!("/raw/t.csv?rev={rev}")))
            .bearer_auth(&s.alice)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let want = String::from_utf8(render(&expected(&base, &ours, &theirs))).unwrap();
        assert_eq!(
            got, want,
            "round {round}: base {base:?}\nours {ours:?}\ntheirs {theirs:?}"
        );
    }
}

/// Uploads `data` unless this dataset has it already.
async fn upload_once(server: &TestServer, repo: &str, token: &str, data: &[u8], oid: &str) {
    let req = json!({"operation": "upload", "objects": [{"oid": oid, "size": data.len()}]});
    let (_, _, v) = body(lfs_post(&server.batch_url(repo), Some(token), &req).await).await;
    if v["objects"][0]["actions"]["upload"].is_object() {
        upload(server, repo, token, data).await;
    }
}
