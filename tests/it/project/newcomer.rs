//! What a new user meets: the landing page, `strata admin` refusing to start a second, empty
//! installation, partial clones, and pandas reading a raw file
//! from a dataset on S3 (its urllib forwards `Authorization`; strata streams the bytes itself, so
//! the token never reaches the bucket). Token names and giftless's URL layout: the API tier
//! (`api/access.rs`, `api/lfs.rs`).

use crate::common::*;
use serde_json::{json, Value};

#[tokio::test]
async fn the_landing_page_offers_a_way_in() {
    let server = TestServer::start().await;
    server.user("alice").await;
    strata::cli::admin::set_password(&server.state, "alice", "a long password 1")
        .await
        .unwrap();
    let r = client()
        .get(format!("{}/", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let html = r.text().await.unwrap();
    assert!(html.contains("href=\"/login\""), "{html}");
    let (cookie, _) = browser_session(&server.url, "alice", "a long password 1").await;
    let html = client()
        .get(format!("{}/", server.url))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("Sign out <span class=\"muted\">(alice)</span>") && html.contains("id=\"q\""),
        "{html}"
    );
}

#[tokio::test]
async fn admin_commands_refuse_an_empty_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_strata"))
        .current_dir(dir.path())
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .args(["admin", "create-user", "alice"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no strata data in"), "{err}");
    assert!(
        !dir.path().join("strata-data").exists(),
        "it made a data dir"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partial_clones_are_served() {
    let server = TestServer::start().await;
    let token = server.user("alice").await;
    server
        .repo("alice/big", strata_core::db::Visibility::Private)
        .await;
    let home = server.dir.path().join("home");
    setup_home(&home, &server.url, &token);
    run(git(&home, &home).args(["clone", "-q", &format!("{}/alice/big.git", server.url), "w"]));
    let work = home.join("w");
    for i in 0..5 {
        std::fs::write(
            work.join(format!("f{i}.txt")),
            format!("file {i}\n").repeat(100),
        )
        .unwrap();
    }
    run(git(&home, &work).args(["add", "."]));
    run(git(&home, &work).args(["commit", "-qm", "files"]));
    run(git(&home, &work).args(["push", "-q", "origin", "main"]));
    let out = run(git(&home, &home).args([
        "clone",
        "--filter=blob:none",
        "--no-checkout",
        &format!("{}/alice/big.git", server.url),
        "partial",
    ]));
    assert!(!out.contains("filtering not recognized"), "{out}");
    let partial = home.join("partial");
    let missing =
        run(git(&home, &partial).args(["rev-list", "--objects", "--missing=print", "--all"]));
    assert_eq!(
        missing.lines().filter(|l| l.starts_with('?')).count(),
        5,
        "{missing}"
    );
    // The blobs come on demand.
    run(git(&home, &partial).args(["checkout", "-q", "main"]));
    assert_eq!(
        std::fs::read_to_string(partial.join("f3.txt")).unwrap(),
        "file 3\n".repeat(100)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pandas_reads_raw_files_from_a_dataset_on_s3() {
    let server = TestServer::start_with(Backend::S3, |_| {}).await;
    let token = server.user("alice").await;
    let api = format!("{}/api/v1/datasets", server.url);
    let created = client()
        .post(&api)
        .bearer_auth(&token)
        .json(&json!({"namespace": "alice", "name": "census"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let csv = b"id,name\n1,ada\n2,grace\n".to_vec();
    upload(&server, "alice/census", &token, &csv).await;
    let head: Value = client()
        .get(format!("{api}/alice/census"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let pkg = json!({"name": "census", "resources": [{"name": "people", "path": "people.csv",
        "bytes": csv.len(), "hash": format!("sha256:{}", sha256_hex(&csv))}]});
    let put = client()
        .put(format!("{api}/alice/census"))
        .bearer_auth(&token)
        .json(&json!({"datapackage": pkg, "parent": head["revision"]["id"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 200);
    let script = format!(
        "import pandas as pd\n\
         df = pd.read_csv('{api}/alice/census/raw/people.csv', storage_options={{'Authorization': 'Bearer {token}'}})\n\
         print(list(df['name']))\n"
    );
    let python = python_tool("python");
    let out = tokio::task::spawn_blocking(move || {
        run(std::process::Command::new(python).args(["-c", &script]))
    })
    .await
    .unwrap();
    assert!(out.contains("['ada', 'grace']"), "{out}");
}
