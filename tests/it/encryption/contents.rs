//! What encryption at rest covers beyond LFS uploads: file contents written through strata (the
//! REST commit API, the file manager's moves and restores) become sealed LFS objects, so the
//! repository holds pointers only; under `--encryption strict` a push that adds plain content
//! files is refused with a message saying to track them with git lfs.

use serde_json::json;
use strata_core::config::Encryption;
use strata_core::db::Visibility;

use crate::common::*;
use crate::encryption::local::assert_no_plaintext;

/// The blob at `path` on `main` of `repo`, read with git from the server's repository.
fn blob(server: &TestServer, repo: &str, path: &str) -> String {
    let git_dir = server.state.metastore.root().join(format!("{repo}.git"));
    run(std::process::Command::new("git")
        .arg("--git-dir")
        .arg(git_dir)
        .args(["show", &format!("main:{path}")]))
}

async fn commit_file(server: &TestServer, token: &str, repo: &str, path: &str, content: &str) {
    let header = match server.head(token, repo).await {
        None => json!({"key": "header", "value": {"summary": "notes"}}),
        Some(parent) => json!({"key": "header", "value": {"summary": "notes", "parent": parent}}),
    };
    let file = json!({"key": "file", "value": {"path": path, "content": content}});
    let resp = client()
        .post(format!("{}/api/v1/datasets/{repo}/commit", server.url))
        .bearer_auth(token)
        .header("content-type", "application/x-ndjson")
        .body(format!("{header}\n{file}\n"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
}

async fn raw(server: &TestServer, token: &str, repo: &str, path: &str) -> (u16, String) {
    let r = client()
        .get(format!("{}/api/v1/datasets/{repo}/raw/{path}", server.url))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

fn secret_text(tag: &str) -> String {
    format!("{tag}: the board meets on Tuesday; salaries attached.\n").repeat(40)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_commits_store_contents_sealed() {
    let server = TestServer::start_with(Backend::Local, |c| c.encryption = Encryption::On).await;
    let token = server.user("alice").await;
    server.repo("alice/notes", Visibility::Private).await;
    let text = secret_text("REST");
    commit_file(&server, &token, "alice/notes", "minutes/2026.txt", &text).await;

    // git holds a pointer and the LFS attribute; the bytes are a sealed object of the dataset.
    let stored = blob(&server, "alice/notes", "minutes/2026.txt");
    assert!(
        stored.starts_with("version https://git-lfs.github.com/spec/v1"),
        "{stored}"
    );
    let attributes = blob(&server, "alice/notes", ".gitattributes");
    assert!(attributes.contains("minutes/2026.txt"), "{attributes}");
    assert_eq!(
        raw(&server, &token, "alice/notes", "minutes/2026.txt").await,
        (200, text.clone())
    );
    let windows: Vec<Vec<u8>> = text
        .as_bytes()
        .chunks_exact(64)
        .map(<[u8]>::to_vec)
        .collect();
    assert_no_plaintext(&server.dir.path().join("data/objects"), &windows);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_manager_moves_seal_plain_files_from_before() {
    // Written while encryption was off: a plain blob in git.
    let plain = server_with_alice().await;
    let alice = strata::cli::admin::create_token(&plain.state, "alice", "t", "*", None)
        .await
        .unwrap();
    plain.repo("alice/docs", Visibility::Private).await;
    let text = secret_text("OLD");
    commit_file(&plain, &alice, "alice/docs", "old.txt", &text).await;
    assert!(blob(&plain, "alice/docs", "old.txt").starts_with("OLD: "));

    // The same data with encryption on: a move through the file manager stores it sealed.
    let sealed = plain.start_replica(|c| c.encryption = Encryption::On).await;
    let mut b = Browser::new(&sealed.url);
    b.login("alice", PASSWORD).await;
    let page = b.get("/datasets/alice/docs").await;
    assert_eq!(page.status, 200, "{}", page.text);
    let csrf = page.hidden("csrf");
    let moved = b
        .post(
            "/datasets/alice/docs/files",
            &[
                ("csrf", &csrf),
                ("op", "rename"),
                ("path", "old.txt"),
                ("to", "archive/old.txt"),
            ],
        )
        .await;
    assert_eq!(moved.status, 303, "{}", moved.text);
    let stored = blob(&sealed, "alice/docs", "archive/old.txt");
    assert!(
        stored.starts_with("version https://git-lfs.github.com/spec/v1"),
        "{stored}"
    );
    assert_eq!(
        raw(&sealed, &alice, "alice/docs", "archive/old.txt").await,
        (200, text)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strict_refuses_plain_content_in_pushes() {
    let server =
        TestServer::start_with(Backend::Local, |c| c.encryption = Encryption::Strict).await;
    let token = server.user("alice").await;
    server.repo("alice/strict", Visibility::Private).await;
    let work = tempfile::tempdir().unwrap();
    let home = work.path().join("home");
    setup_home(&home, &server.url, &token);
    let url = format!("{}/alice/strict.git", server.url);
    run(git(&home, work.path()).args(["clone", &url, "repo"]));
    let repo = work.path().join("repo");

    // A plain file: refused, saying what to do.
    std::fs::write(repo.join("notes.txt"), secret_text("PUSH")).unwrap();
    run(git(&home, &repo).args(["add", "notes.txt"]));
    run(git(&home, &repo).args(["commit", "-q", "-m", "plain notes"]));
    let out = git(&home, &repo)
        .args(["push", "origin", "HEAD:main"])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{said}");
    assert!(
        said.contains("notes.txt") && said.contains("git lfs track"),
        "{said}"
    );

    // The same file tracked with git lfs: accepted, and the server holds a pointer.
    run(git(&home, &repo).args(["rm", "-q", "--cached", "notes.txt"]));
    run(git(&home, &repo).args(["lfs", "track", "notes.txt"]));
    run(git(&home, &repo).args(["add", ".gitattributes", "notes.txt"]));
    run(git(&home, &repo).args(["commit", "-q", "--amend", "-m", "notes through lfs"]));
    run(git(&home, &repo).args(["push", "-q", "origin", "HEAD:main"]));
    assert!(blob(&server, "alice/strict", "notes.txt").starts_with("version https://git-lfs"));
}
