//! Who may do what: a protected `main` taking approved merge requests only (REST and push), a
//! merge breaking the contract, strangers, readers and bad requests, governed conflicts.
use serde_json::{json, Value};

use super::*;
use crate::common::*;

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

/// A governed table's conflicts: Fybrik's sample policy redacts the PII columns for every reader
/// of `alice/paysim`, so its conflicts show where they are (kind, column) and never a key or a
/// value (not even of a plain column: the key names the row); the writer resolves them by id
/// and merges.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn governed_conflicts_never_show_the_values_a_policy_hides() {
    use crate::governance::{Gov, PAYSIM, PII};
    let gov = Gov::start().await;
    // The sample's read rule only: what is written stays as written (its write rule would
    // redact the key column the rows are merged by).
    gov.reads_only().await;
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
