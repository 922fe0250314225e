//! Row diffs in process: a retyped column, paging, every bad request with its status, message
//! and request id, and a declared key that is not one (moved from `tables/diff.rs`); a keyed
//! diff by the two views' digest indexes, made once and reused.

use serde_json::{json, Value};

use super::tables::dataset;
use crate::common::api::unique;
use crate::common::assert_error_body;

#[tokio::test]
async fn a_retyped_column_paging_and_bad_requests() {
    let before = "id,code,amount\n1,a,10\n2,b,20\n3,c,30\n4,d,40\n5,e,50\n";
    let after = "id,code,amount\n1,a,10\n2,B,20\n3,c,n/a\n5,e,50\n6,f,60\n7,g,70\n";
    let t = dataset(&[("t", "t.csv", b"id\n0\n".to_vec())]).await;
    let (alice, api) = (&t.token, &t.base);
    let extra = json!({"t": {"schema": {"primaryKey": ["id"]}}});
    t.put_resources(&[("t", "t.csv", before.as_bytes().to_vec())], extra.clone())
        .await;
    let (_, head) = t.get(api, alice).await;
    let from = head["revision"]["id"].as_str().unwrap().to_owned();
    t.put_resources(&[("t", "t.csv", after.as_bytes().to_vec())], extra)
        .await;

    // `to` defaults to the head; the amount column became text.
    let (status, d) = t
        .get(&format!("{api}/tables/t/diff?from={from}"), alice)
        .await;
    assert_eq!(status, 200, "{d}");
    assert_eq!(
        d["columns"]["retyped"],
        json!([{"name": "amount", "before": "integer", "after": "string"}])
    );
    assert_eq!(
        d["counts"],
        json!({"added": 2, "removed": 1, "changed": 2}),
        "{d}"
    );
    let changes: Vec<(&str, i64)> = d["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["change"].as_str().unwrap(),
                r["key"]["id"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        changes,
        [
            ("changed", 2),
            ("changed", 3),
            ("removed", 4),
            ("added", 6),
            ("added", 7)
        ]
    );
    assert_eq!(d["rows"][0]["before"], json!({"code": "b"}));
    assert_eq!(d["rows"][0]["after"], json!({"code": "B"}));
    assert_eq!(d["rows"][0]["changed"], json!(["code"]));
    assert_eq!(d["rows"][1]["after"], json!({"amount": "n/a"}));

    // Pages of the changed rows.
    let (_, p) = t
        .get(
            &format!("{api}/tables/t/diff?from={from}&offset=2&limit=2"),
            alice,
        )
        .await;
    let keys: Vec<i64> = p["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["key"]["id"].as_i64().unwrap())
        .collect();
    assert_eq!(keys, [4, 6], "{p}");
    assert_eq!(p["counts"], d["counts"]);

    // Bad requests: each with its status, message and request id.
    let stranger = t.api.user(&unique("mallory")).await;
    for (url, token, want) in [
        (format!("{api}/tables/t/diff"), alice, 400),
        (format!("{api}/tables/t/diff?from=nope"), alice, 404),
        (
            format!("{api}/tables/t/diff?from={from}&to=nope"),
            alice,
            404,
        ),
        (format!("{api}/tables/missing/diff?from={from}"), alice, 404),
        (
            format!("{api}/tables/t/diff?from={from}&limit=0"),
            alice,
            422,
        ),
        (
            format!("{api}/tables/t/diff?from={from}&limit=1001"),
            alice,
            422,
        ),
        (
            format!("{api}/tables/t/diff?from={from}&offset=-1"),
            alice,
            400,
        ),
        (
            format!("{api}/tables/t/diff?from={from}&bogus=1"),
            alice,
            400,
        ),
        (format!("{api}/tables/t/diff?from={from}"), &stranger, 404),
    ] {
        let (status, headers, v) = t.api.get(&url).bearer(token).send().await.parts();
        assert_error_body(status, &headers, &v, want);
        let _: &Value = &v;
    }

    // A declared key that is not one (id 2 twice, written where no contract is checked): the
    // rows are compared whole.
    unprotect(&t).await;
    let dup = "id,code,amount\n1,a,10\n2,b,20\n2,b,20\n3,c,30\n";
    let dup_after = "id,code,amount\n1,a,10\n2,b,20\n3,c,31\n";
    let extra = json!({"t": {"schema": {"primaryKey": ["id"]}}});
    let mut revisions = Vec::new();
    for data in [dup, dup_after] {
        t.put_resources(&[("t", "t.csv", data.as_bytes().to_vec())], extra.clone())
            .await;
        let (_, head) = t.get(api, alice).await;
        revisions.push(head["revision"]["id"].as_str().unwrap().to_owned());
    }
    let (status, d) = t
        .get(
            &format!(
                "{api}/tables/t/diff?from={}&to={}",
                revisions[0], revisions[1]
            ),
            alice,
        )
        .await;
    assert_eq!(status, 200, "{d}");
    assert_eq!(d["key"], json!([]), "{d}");
    assert_eq!(
        d["counts"],
        json!({"added": 1, "removed": 2, "changed": 0}),
        "{d}"
    );
    let rows: Vec<(&str, u64, &Value)> = d["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let cells = if r["change"] == "added" {
                &r["after"]
            } else {
                &r["before"]
            };
            (
                r["change"].as_str().unwrap(),
                r["count"].as_u64().unwrap(),
                &cells["id"],
            )
        })
        .collect();
    let mut rows = rows;
    rows.sort_by_key(|r| (r.0, r.2.as_i64()));
    assert_eq!(
        rows,
        [
            ("added", 1, &json!(3)),
            ("removed", 1, &json!(2)),
            ("removed", 1, &json!(3))
        ],
        "{d}"
    );
}

/// Takes the default branch's protection off: writes check no contract (nor make views).
async fn unprotect(t: &super::tables::Tables) {
    let r = t
        .api
        .put(format!("{}/protection", t.base))
        .bearer(&t.token)
        .json(&json!({"default_branch": false}))
        .send()
        .await;
    assert_eq!(r.status, 204);
}

/// The views and digest indexes recorded for the test's dataset (`table_views` holds both).
async fn recorded(t: &super::tables::Tables) -> i64 {
    let user = t.user.clone();
    t.api
        .on(move |s| async move {
            let repo = s.db.repo_by_path(&user, "t").await.unwrap().unwrap();
            let (n,): (i64,) =
                sqlx::query_as("SELECT COUNT(*) FROM table_views WHERE repo_id = $1")
                    .bind(repo.id)
                    .fetch_one(s.db.pool())
                    .await
                    .unwrap();
            n
        })
        .await
}

/// A keyed diff of two revisions, one written in key order and one shuffled (so its digest index
/// is sorted, the other's read as it stands): its counts and page are those the rows say, and a
/// second diff and a later page reuse both indexes instead of making them again.
#[tokio::test]
async fn keyed_diffs_merge_two_digest_indexes_made_once() {
    let t = dataset(&[("t", "t.csv", b"id\n0\n".to_vec())]).await;
    let (alice, api) = (&t.token, &t.base);
    let mut before = String::from("id,name,score\n");
    let mut after: Vec<String> = Vec::new();
    let (mut added, mut removed, mut changed) = (Vec::new(), Vec::new(), Vec::new());
    for i in 1..=3000u64 {
        before.push_str(&format!("{i},name {i},{}\n", i % 17));
        match i % 100 {
            7 => removed.push(i),
            13 | 61 => {
                changed.push(i);
                after.push(format!("{i},name {i}!,{}\n", i % 17));
            }
            _ => after.push(format!("{i},name {i},{}\n", i % 17)),
        }
    }
    for i in 5000..5025u64 {
        added.push(i);
        after.push(format!("{i},new {i},1\n"));
    }
    // Shuffled, deterministically: every seventh row moved to the front.
    let (front, back): (Vec<_>, Vec<_>) = after.iter().enumerate().partition(|(n, _)| n % 7 == 0);
    let after: String = std::iter::once("id,name,score\n".to_owned())
        .chain(front.into_iter().chain(back).map(|(_, r)| r.clone()))
        .collect();
    // Unprotected: the writes check no contract, so the diff makes both views and indexes.
    unprotect(&t).await;
    let extra = json!({"t": {"schema": {"primaryKey": ["id"]}}});
    let mut revisions = Vec::new();
    for data in [&before, &after] {
        t.put_resources(&[("t", "t.csv", data.as_bytes().to_vec())], extra.clone())
            .await;
        let (_, head) = t.get(api, alice).await;
        revisions.push(head["revision"]["id"].as_str().unwrap().to_owned());
    }
    let url = |offset: usize, limit: usize| {
        format!(
            "{api}/tables/t/diff?from={}&to={}&offset={offset}&limit={limit}",
            revisions[0], revisions[1]
        )
    };
    let (status, d) = t.get(&url(0, 1000), alice).await;
    assert_eq!(status, 200, "{d}");
    assert_eq!(d["key"], json!(["id"]));
    assert_eq!(
        d["counts"],
        json!({"added": added.len(), "removed": removed.len(), "changed": changed.len()}),
        "{d}"
    );
    let of = |kind: &str| -> Vec<u64> {
        d["rows"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["change"] == kind)
            .map(|r| r["key"]["id"].as_u64().unwrap())
            .collect()
    };
    assert_eq!(of("added"), added);
    assert_eq!(of("removed"), removed);
    assert_eq!(of("changed"), changed);
    let keys: Vec<u64> = d["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["key"]["id"].as_u64().unwrap())
        .collect();
    assert!(keys.windows(2).all(|w| w[0] < w[1]), "key order: {keys:?}");
    let first = d["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["change"] == "changed")
        .unwrap();
    assert_eq!(first["changed"], json!(["name"]));
    assert_eq!(
        first["after"],
        json!({"name": format!("name {}!", changed[0])})
    );
    // Each side's view, and each view's index.
    assert_eq!(recorded(&t).await, 4);

    // Again, and a later page: the same indexes, none made again.
    let (_, again) = t.get(&url(0, 1000), alice).await;
    assert_eq!(again["counts"], d["counts"]);
    let (_, page) = t.get(&url(10, 5), alice).await;
    assert_eq!(page["rows"].as_array().unwrap().len(), 5);
    assert_eq!(page["rows"][0]["key"], d["rows"][10]["key"]);
    assert_eq!(page["rows"][4], d["rows"][14]);
    assert_eq!(recorded(&t).await, 4);
}
