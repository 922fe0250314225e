//! Writes over REST in process: NDJSON commits and their refusals (moved from
//! `tests/it/datasets.rs`), REST file pointers link-checked like LFS files (from
//! `access/gates.rs`), writes that change nothing making no revision through REST and the Hub's
//! commit API (from `git/writes.rs`), and bad ref names as client errors (from
//! `ops/hygiene.rs`).

use serde_json::{json, Value};
use strata_core::db::Visibility;

use super::datasets::{head, setup};
use crate::common::api::{api, unique, Api};
use crate::common::{assert_error_body, sha256_hex};

#[tokio::test]
async fn ndjson_commits() {
    let api = setup().await;
    let (_, v) = api.get(&api.survey("")).await;
    let first = head(&v);
    let data = b"big file\n";
    let repo = format!("{}/survey", api.user);
    let oid = api.api.upload(&repo, &api.token, data).await;
    let ndjson = |lines: &[Value]| {
        lines
            .iter()
            .map(|l| l.to_string())
            .collect::<Vec<_>>()
            .join("\n")
    };
    let commit = |body: String| {
        api.send(
            api.api
                .post(api.at(&api.survey("/commit")))
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
    let (_, v) = api.get(&api.survey("/tree")).await;
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
    let header =
        |parent: &str| json!({"key": "header", "value": {"summary": "s", "parent": parent}});
    let bad = [
        (
            ndjson(&[json!({"key": "file", "value": {"path": "a", "content": ""}})]),
            422,
        ),
        (
            ndjson(&[
                header(&second),
                json!({"key": "lfsFile", "value": {"path": "x.bin", "oid": other, "size": 3}}),
            ]),
            422,
        ),
        (
            ndjson(&[
                header(&second),
                json!({"key": "file", "value": {"path": "../escape", "content": "x"}}),
            ]),
            422,
        ),
        (
            ndjson(&[
                header(&second),
                json!({"key": "deletedFile", "value": {"path": "nope"}}),
            ]),
            404,
        ),
        (
            ndjson(&[
                header(&second),
                json!({"key": "file", "value": {"path": "datapackage.json", "content": "[]"}}),
            ]),
            422,
        ),
        (
            ndjson(&[
                header(&first),
                json!({"key": "file", "value": {"path": "README.md", "content": "late"}}),
            ]),
            409,
        ),
        // A file never silently becomes a folder, nor a folder a file.
        (
            ndjson(&[
                header(&second),
                json!({"key": "file", "value": {"path": "README.md/inside", "content": "x"}}),
            ]),
            409,
        ),
        (
            ndjson(&[
                header(&second),
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
    let (_, v) = api.get(&api.survey("/revisions")).await;
    assert_eq!(v["revisions"][0]["id"], second.as_str());
    assert_eq!(v["revisions"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn rest_file_pointers_are_checked_like_lfs_files() {
    let api = api().await;
    let alice_name = unique("alice");
    let alice = api.user(&alice_name).await;
    let r = api
        .post("/api/v1/datasets")
        .bearer(&alice)
        .json(&json!({"namespace": alice_name, "name": "r"}))
        .send()
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let v = api
        .get(format!("/api/v1/datasets/{alice_name}/r"))
        .bearer(&alice)
        .send()
        .await
        .json();
    let head = v["revision"]["id"].as_str().unwrap().to_owned();
    let ghost = strata_lfs::Oid::of(b"never uploaded");
    for content in [
        format!("version https://git-lfs.github.com/spec/v1\noid sha256:{ghost}\nsize 14\n"),
        format!("version https://git-lfs.github.com/spec/v1\r\noid sha256:{ghost}\r\nsize 14"),
    ] {
        let line = json!({"key": "file", "value": {"path": "x.bin", "content": content}});
        let (status, _, v) = api
            .post(format!("/api/v1/datasets/{alice_name}/r/commit"))
            .bearer(&alice)
            .body(format!("{{\"key\":\"header\",\"value\":{{\"summary\":\"x\",\"parent\":\"{head}\"}}}}\n{line}\n"))
            .send()
            .await
            .parts();
        assert_eq!(status, 422, "{v}");
        assert!(v["missing"].is_array(), "{v}");
    }
}

/// POSTs an NDJSON commit (a header naming `repo`'s head as the parent, then `lines`) to `path`.
async fn ndjson(
    api: &'static Api,
    repo: &str,
    path: &str,
    token: &str,
    lines: &[Value],
) -> (u16, Value) {
    let parent = api.head(token, repo).await;
    let mut text =
        json!({"key": "header", "value": {"summary": "a write", "parent": parent}}).to_string();
    for line in lines {
        text.push('\n');
        text.push_str(&line.to_string());
    }
    let (status, _, v) = api
        .post(path)
        .bearer(token)
        .header("content-type", "application/x-ndjson")
        .body(text)
        .send()
        .await
        .parts();
    (status, v)
}

#[tokio::test]
async fn writes_that_change_nothing_make_no_revision() {
    let api = api().await;
    let user = unique("alice");
    let alice = api.user(&user).await;
    let repo = format!("{user}/n");
    api.repo(&repo, Visibility::Private).await;
    let rest = format!("/api/v1/datasets/{repo}/commit");
    let hub = format!("/api/datasets/{repo}/commit/main");
    let line = json!({"key": "file", "value": {"path": "notes.txt", "content": "the same\n"}});
    let (status, v) = ndjson(api, &repo, &rest, &alice, std::slice::from_ref(&line)).await;
    assert_eq!(status, 200, "{v}");
    let id = v["revision"]["id"].as_str().unwrap().to_owned();
    // The same write again, through REST and through the Hub: the current revision, no new one.
    let (status, v) = ndjson(api, &repo, &rest, &alice, std::slice::from_ref(&line)).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["revision"]["id"], id.as_str(), "{v}");
    let (status, v) = ndjson(api, &repo, &hub, &alice, std::slice::from_ref(&line)).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["commitOid"], id.as_str(), "{v}");
    let (status, _, v) = api
        .get(format!("/api/v1/datasets/{repo}/revisions"))
        .bearer(&alice)
        .send()
        .await
        .parts();
    assert_eq!(status, 200, "{v}");
    let ids: Vec<&str> = v["revisions"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["id"].as_str())
        .collect();
    assert_eq!(ids.len(), 1, "one write, made once: {v}");
    assert_eq!(ids[0], id, "{v}");
}

#[tokio::test]
async fn bad_ref_names_are_client_errors() {
    let api = api().await;
    let user = unique("alice");
    let token = api.user(&user).await;
    let base = "/api/v1/datasets";
    let r = api
        .post(base)
        .bearer(&token)
        .json(&json!({"namespace": user, "name": "d"}))
        .send()
        .await;
    assert_eq!(r.status, 201);
    for name in ["a..b", "../x", "x.lock", "-x", "a b", "@{1}"] {
        let (status, headers, v) = api
            .post(format!("{base}/{user}/d/tags"))
            .bearer(&token)
            .json(&json!({"name": name, "revision": "main"}))
            .send()
            .await
            .parts();
        assert_eq!(status, 422, "{name}: {v}");
        assert_error_body(status, &headers, &v, 422);
        for url in [
            format!("{base}/{user}/d/tags/{}", name.replace(' ', "%20")),
            format!("{base}/{user}/d?rev={}", name.replace(' ', "%20")),
            format!("{base}/{user}/d/tree?rev={}", name.replace(' ', "%20")),
        ] {
            let status = api.get(&url).bearer(&token).send().await.status;
            assert!((400..500).contains(&status), "{url}: {status}");
        }
        let url = format!("{base}/{user}/d/tags/{}", name.replace(' ', "%20"));
        let status = api.delete(&url).bearer(&token).send().await.status;
        assert!((400..500).contains(&status), "DELETE {url}: {status}");
    }
}
