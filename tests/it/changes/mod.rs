//! Changes people can read: content diffs over REST (`GET …/diff?content=true`: the lines of a
//! text file that changed with both line numbers, sizes and LFS oids on both sides, renames,
//! binary and too-large files, one path alone) with their bad input, and the revision, compare and
//! file pages in headless Chromium (revisions, tags and branches picked from lists, changed lines
//! shown, git plumbing left out).

mod contracts;
pub mod merges;
mod pages;

use serde_json::{json, Value};

use crate::common::*;

pub const API: &str = "/api/v1/datasets";

/// Ten numbered lines; `changed` replaces line 5.
pub fn readme(changed: bool) -> String {
    (1..=10)
        .map(|i| {
            if i == 5 && changed {
                "line five, <b>edited</b>\n".to_owned()
            } else {
                format!("line {i}\n")
            }
        })
        .collect()
}

/// NDJSON commit lines as one body.
pub fn ndjson(lines: &[Value]) -> String {
    lines
        .iter()
        .map(Value::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

/// POSTs an NDJSON commit to `alice/survey` on `parent`: the new revision.
pub async fn commit(server: &TestServer, token: &str, body: String) -> String {
    let r = client()
        .post(format!("{}{API}/alice/survey/commit", server.url))
        .bearer_auth(token)
        .header("content-type", "application/x-ndjson")
        .body(body)
        .send()
        .await
        .unwrap();
    let (status, _, v) = crate::common::body(r).await;
    assert_eq!(status, 200, "{v}");
    v["revision"]["id"].as_str().unwrap().to_owned()
}

/// `alice/survey` with two revisions (and the tag `v1` on the first): README.md edited (line 5
/// and a line added), notes.txt moved to docs/notes.txt, a binary file changed, an LFS text file
/// given a new object and another added (so `.gitattributes` changes), a plain file over the line
/// diff's bound changed, old.txt deleted.
pub struct Survey {
    pub server: TestServer,
    pub alice: String,
    pub first: String,
    pub second: String,
    pub oids: (String, String),
}

pub async fn survey() -> Survey {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let r = client()
        .post(format!("{}{API}", server.url))
        .bearer_auth(&alice)
        .json(&json!({"namespace": "alice", "name": "survey", "visibility": "private"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let r = client()
        .get(format!("{}{API}/alice/survey", server.url))
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap();
    let (_, _, v) = crate::common::body(r).await;
    let created = v["revision"]["id"].as_str().unwrap().to_owned();
    let (lfs_a, lfs_b) = (
        b"id,v\n1,a\n2,b\n".to_vec(),
        b"id,v\n1,a\n2,B\n3,c\n".to_vec(),
    );
    let oid_a = upload(&server, "alice/survey", &alice, &lfs_a).await;
    let oid_b = upload(&server, "alice/survey", &alice, &lfs_b).await;
    let big = |c: char| format!("{}\n", c.to_string().repeat(1_100_000));
    let long = |c: char| (0..3000).map(|i| format!("{c}{i}\n")).collect::<String>();
    let first = commit(
        &server,
        &alice,
        ndjson(&[
            json!({"key": "header", "value": {"summary": "first", "parent": created}}),
            json!({"key": "file", "value": {"path": "README.md", "content": readme(false)}}),
            json!({"key": "file", "value": {"path": "notes.txt", "content": "keep me\n"}}),
            json!({"key": "file", "value": {"path": "old.txt", "content": "gone soon\n"}}),
            json!({"key": "file", "value": {"path": "bin/x", "content": "AAECAw==", "encoding": "base64"}}),
            json!({"key": "file", "value": {"path": "big.txt", "content": big('a')}}),
            json!({"key": "file", "value": {"path": "long.txt", "content": long('a')}}),
            json!({"key": "lfsFile", "value": {"path": "data/t.csv", "oid": oid_a.to_string(), "size": lfs_a.len()}}),
        ]),
    )
    .await;
    let r = client()
        .post(format!("{}{API}/alice/survey/tags", server.url))
        .bearer_auth(&alice)
        .json(&json!({"name": "v1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let second = commit(
        &server,
        &alice,
        ndjson(&[
            json!({"key": "header", "value": {"summary": "second", "parent": first}}),
            json!({"key": "file", "value": {"path": "README.md", "content": readme(true) + "line 11\n"}}),
            json!({"key": "deletedFile", "value": {"path": "notes.txt"}}),
            json!({"key": "file", "value": {"path": "docs/notes.txt", "content": "keep me\n"}}),
            json!({"key": "deletedFile", "value": {"path": "old.txt"}}),
            json!({"key": "file", "value": {"path": "bin/x", "content": "AAECBA==", "encoding": "base64"}}),
            json!({"key": "file", "value": {"path": "big.txt", "content": big('b')}}),
            json!({"key": "file", "value": {"path": "long.txt", "content": long('b')}}),
            json!({"key": "lfsFile", "value": {"path": "data/t.csv", "oid": oid_b.to_string(), "size": lfs_b.len()}}),
            json!({"key": "lfsFile", "value": {"path": "data/u.csv", "oid": oid_a.to_string(), "size": lfs_a.len()}}),
        ]),
    )
    .await;
    Survey {
        server,
        alice,
        first,
        second,
        oids: (oid_a.to_string(), oid_b.to_string()),
    }
}

impl Survey {
    pub async fn diff(&self, query: &str, token: &str) -> (u16, reqwest::header::HeaderMap, Value) {
        let r = client()
            .get(format!(
                "{}{API}/alice/survey/diff?{query}",
                self.server.url
            ))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        crate::common::body(r).await
    }
}

fn file<'a>(v: &'a Value, path: &str) -> &'a Value {
    v["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"] == path)
        .unwrap_or_else(|| panic!("no {path} in {v}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn content_diffs_show_lines_sizes_renames_and_their_bounds() {
    let s = survey().await;
    let (status, _, v) = s
        .diff(
            &format!("from={}&to={}&content=true", s.first, s.second),
            &s.alice,
        )
        .await;
    assert_eq!(status, 200, "{v}");

    // A text file: its hunk with context, both line numbers, the counts.
    let text = file(&v, "README.md");
    assert_eq!(text["kind"], "modified");
    let c = &text["content"];
    assert_eq!(
        (
            c["type"].as_str(),
            c["added"].as_u64(),
            c["removed"].as_u64()
        ),
        (Some("lines"), Some(2), Some(1)),
        "{c}"
    );
    assert_eq!(c["truncated"], false);
    let changed: Vec<(String, Value, Value, String)> = c["hunks"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|h| h["lines"].as_array().unwrap().clone())
        .filter(|l| l["kind"] != "context")
        .map(|l| {
            (
                l["kind"].as_str().unwrap().to_owned(),
                l["old"].clone(),
                l["new"].clone(),
                l["text"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        changed,
        vec![
            ("removed".into(), json!(5), Value::Null, "line 5".into()),
            (
                "added".into(),
                Value::Null,
                json!(5),
                "line five, <b>edited</b>".into()
            ),
            ("added".into(), Value::Null, json!(11), "line 11".into()),
        ]
    );
    let h = &c["hunks"][0];
    assert_eq!(
        (h["old_start"].as_u64(), h["new_start"].as_u64()),
        (Some(2), Some(2)),
        "{h}"
    );
    assert_eq!(text["before"]["size"], readme(false).len());

    // A rename with the same bytes; a deletion; a binary file; a file over the bound.
    let notes = file(&v, "docs/notes.txt");
    assert_eq!(
        (notes["kind"].as_str(), notes["old_path"].as_str()),
        (Some("renamed"), Some("notes.txt")),
        "{notes}"
    );
    assert_eq!(notes["content"], json!({"type": "unchanged"}));
    let old = file(&v, "old.txt");
    assert_eq!(old["kind"], "deleted");
    assert_eq!(old["after"], Value::Null);
    assert_eq!(old["content"]["type"], "lines");
    assert_eq!(old["content"]["removed"], 1);
    assert_eq!(file(&v, "bin/x")["content"], json!({"type": "binary"}));
    let big = file(&v, "big.txt");
    assert_eq!(
        big["content"],
        json!({"type": "too_large", "limit": 1048576})
    );
    assert_eq!(big["before"]["size"], 1_100_001);
    // A text whose every line changed: at most 2,000 lines shown, and said to be cut.
    let long = &file(&v, "long.txt")["content"];
    assert_eq!(
        (long["added"].as_u64(), long["removed"].as_u64()),
        (Some(3000), Some(3000)),
        "{long}"
    );
    assert_eq!(long["truncated"], true);
    let shown: usize = long["hunks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["lines"].as_array().unwrap().len())
        .sum();
    assert_eq!(shown, 2000);

    // An LFS file: its objects on both sides, its lines read from storage.
    let t = file(&v, "data/t.csv");
    assert_eq!(
        (t["before"]["oid"].as_str(), t["after"]["oid"].as_str()),
        (Some(s.oids.0.as_str()), Some(s.oids.1.as_str())),
        "{t}"
    );
    assert_eq!(
        (t["before"]["size"].as_u64(), t["after"]["size"].as_u64()),
        (Some(13), Some(17))
    );
    let text: Vec<&str> = t["content"]["hunks"][0]["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["text"].as_str().unwrap())
        .collect();
    assert_eq!(text, ["id,v", "1,a", "2,b", "2,B", "3,c"], "{t}");

    // REST shows git plumbing; the pages leave it out.
    assert!(
        v["files"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["path"] == ".gitattributes"),
        "{v}"
    );

    // Without content=true: the list with sizes, no contents. Tags and branches name revisions.
    let (status, _, v) = s.diff("from=v1&to=main", &s.alice).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        (v["from"].as_str(), v["to"].as_str()),
        (Some(s.first.as_str()), Some(s.second.as_str()))
    );
    assert!(
        v["files"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f.get("content").is_none()),
        "{v}"
    );
    assert_eq!(
        file(&v, "README.md")["after"]["size"],
        readme(true).len() + 8
    );

    // One file or folder alone, by its new or its old path.
    for (path, want) in [
        ("README.md", vec!["README.md"]),
        ("docs", vec!["docs/notes.txt"]),
        ("notes.txt", vec!["docs/notes.txt"]),
        ("data/", vec!["data/t.csv", "data/u.csv"]),
        ("../etc", vec![]),
    ] {
        let (status, _, v) = s
            .diff(&format!("from=v1&content=true&path={path}"), &s.alice)
            .await;
        assert_eq!(status, 200, "{v}");
        let paths: Vec<&str> = v["files"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["path"].as_str().unwrap())
            .collect();
        assert_eq!(paths, want, "{path}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn content_diffs_refuse_bad_input_and_strangers() {
    let s = survey().await;
    let bob = s.server.user("bob").await;
    let cases: Vec<(String, &str, u16)> = vec![
        ("from=nope&content=true".into(), &s.alice, 404),
        (format!("from={}&to=nope", s.first), &s.alice, 404),
        ("content=true".into(), &s.alice, 400),
        (format!("from={}&content=maybe", s.first), &s.alice, 400),
        (format!("from={}&content=true", s.first), &bob, 404),
        (
            format!("from={}&content=true", "0".repeat(40)),
            &s.alice,
            404,
        ),
    ];
    for (query, token, want) in &cases {
        let (status, headers, v) = s.diff(query, token).await;
        assert_error_body(status, &headers, &v, *want);
        assert!(!v.to_string().contains("line five"), "{query}: {v}");
    }
    // Without signing in, a private dataset asks for credentials.
    let r = client()
        .get(format!(
            "{}{API}/alice/survey/diff?from=v1&content=true",
            s.server.url
        ))
        .send()
        .await
        .unwrap();
    let (status, headers, v) = crate::common::body(r).await;
    assert_error_body(status, &headers, &v, 401);
}
