//! How branches merge: disjoint rows and an added column, conflicts resolved per cell, the
//! compare-and-swap on the target, tables without a key.
use serde_json::{json, Value};

use super::*;
use crate::common::*;

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
