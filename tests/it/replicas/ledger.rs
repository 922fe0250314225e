//! Several replicas with `--refs sql` on one database and one repositories directory: concurrent
//! REST commits and `git push`es to one dataset through different replicas (exactly one wins per
//! parent, nothing lost, `git fsck` clean), and the ledger as the authority over the ref files
//! (a file moved behind its back is put back before any read). Runs on SQLite and, in the
//! PostgreSQL phase, on PostgreSQL.

use serde_json::{json, Value};
use strata_core::config::Refs;
use strata_core::db::Visibility;

use crate::common::*;

async fn replicas() -> (TestServer, TestServer, String) {
    let first = TestServer::start_with(Backend::Local, |c| c.refs = Refs::Sql).await;
    let second = first.start_replica(|c| c.refs = Refs::Sql).await;
    let token = first.user("alice").await;
    (first, second, token)
}

fn dataset_url(server: &TestServer, path: &str) -> String {
    format!("{}/api/v1/datasets/{path}", server.url)
}

/// A dataset with a first revision.
async fn dataset(server: &TestServer, path: &str, token: &str) {
    server.repo(path, Visibility::Private).await;
    let r = client()
        .put(dataset_url(server, path))
        .bearer_auth(token)
        .json(&json!({"datapackage": {"name": "first", "resources": []}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
}

fn fsck(server: &TestServer, path: &str) {
    let repo = server
        .dir
        .path()
        .join("data/repos")
        .join(format!("{path}.git"));
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(&repo)
        .args(["fsck", "--no-progress"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git fsck: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_rest_commits_through_replicas_lose_nothing() {
    let (first, second, token) = replicas().await;
    dataset(&first, "alice/race", &token).await;
    let mut winners = Vec::new();
    for round in 0..4 {
        let parent = first.head(&token, "alice/race").await.unwrap();
        assert_eq!(second.head(&token, "alice/race").await.unwrap(), parent);
        let writes = (0..6).map(|i| {
            let server = if i % 2 == 0 { &first } else { &second };
            let body = json!({
                "datapackage": {"name": "race", "description": format!("round {round} writer {i}"),
                                "resources": []},
                "parent": parent,
            });
            let (url, token) = (dataset_url(server, "alice/race"), token.clone());
            async move {
                let r = client()
                    .put(url)
                    .bearer_auth(token)
                    .json(&body)
                    .send()
                    .await
                    .unwrap();
                let status = r.status().as_u16();
                (status, r.json::<Value>().await.unwrap())
            }
        });
        let answers = futures_util::future::join_all(writes).await;
        let won: Vec<&Value> = answers
            .iter()
            .filter(|(s, _)| *s == 200)
            .map(|(_, v)| v)
            .collect();
        assert_eq!(won.len(), 1, "one winner per parent: {answers:?}");
        for (status, v) in &answers {
            assert!(*status == 200 || *status == 409, "{status} {v}");
        }
        let winner = won[0]["revision"]["id"].as_str().unwrap().to_owned();
        // Both replicas read the winner as the head.
        assert_eq!(first.head(&token, "alice/race").await.unwrap(), winner);
        assert_eq!(second.head(&token, "alice/race").await.unwrap(), winner);
        winners.push(winner);
    }
    // Every winner is in the history, in order: no update was lost.
    let r = client()
        .get(format!(
            "{}/revisions?limit=50",
            dataset_url(&second, "alice/race")
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    let v: Value = r.json().await.unwrap();
    let listed: Vec<&str> = v["revisions"]
        .as_array()
        .unwrap_or_else(|| panic!("{v}"))
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    let mut expected: Vec<&str> = winners.iter().map(String::as_str).collect();
    expected.reverse();
    assert_eq!(&listed[..winners.len()], &expected[..], "{v}");
    fsck(&first, "alice/race");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_pushes_through_replicas_one_wins_then_the_other_rebases() {
    let (first, second, token) = replicas().await;
    first.repo("alice/pushed", Visibility::Private).await;
    let home = tempfile::tempdir().unwrap();
    setup_home(home.path(), &first.url, &token);
    // The second replica's credentials too (another port: another credential entry).
    let creds = home.path().join("creds");
    let mut lines = std::fs::read_to_string(&creds).unwrap();
    lines.push_str(&format!(
        "http://alice:{token}@{}\n",
        second.url.trim_start_matches("http://")
    ));
    std::fs::write(&creds, lines).unwrap();
    let clone = |name: &str, server: &TestServer| {
        let dir = home.path().join(name);
        run(git(home.path(), home.path())
            .args(["clone", "-q"])
            .arg(format!("{}/alice/pushed.git", server.url))
            .arg(&dir));
        run(git(home.path(), &dir).args(["config", "user.name", name]));
        run(git(home.path(), &dir).args(["config", "user.email", "a@example.org"]));
        std::fs::write(dir.join(format!("{name}.txt")), name).unwrap();
        run(git(home.path(), &dir).args(["add", "."]));
        run(git(home.path(), &dir).args(["commit", "-q", "-m", name]));
        dir
    };
    let a = clone("a", &first);
    let b = clone("b", &second);
    let push = |dir: std::path::PathBuf| {
        let home = home.path().to_owned();
        std::thread::spawn(move || {
            git(&home, &dir)
                .args(["push", "-q", "origin", "main"])
                .output()
                .unwrap()
        })
    };
    let (pa, pb) = (push(a.clone()), push(b.clone()));
    let (ra, rb) = (pa.join().unwrap(), pb.join().unwrap());
    let ok = [ra.status.success(), rb.status.success()];
    assert_eq!(
        ok.iter().filter(|s| **s).count(),
        1,
        "exactly one push wins: a {}\nb {}",
        String::from_utf8_lossy(&ra.stderr),
        String::from_utf8_lossy(&rb.stderr)
    );
    // The loser fetches, rebases and pushes again through its replica.
    let loser = if ok[0] { &b } else { &a };
    run(git(home.path(), loser).args(["pull", "-q", "--rebase", "origin", "main"]));
    run(git(home.path(), loser).args(["push", "-q", "origin", "main"]));
    // Both commits are on main, seen alike through both replicas.
    let h1 = first.head(&token, "alice/pushed").await.unwrap();
    assert_eq!(second.head(&token, "alice/pushed").await.unwrap(), h1);
    let log = run(git(home.path(), loser).args(["log", "--format=%s", "origin/main"]));
    assert!(log.contains('a') && log.contains('b'), "{log}");
    fsck(&first, "alice/pushed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_ledger_is_the_authority_over_the_ref_files() {
    let (first, second, token) = replicas().await;
    dataset(&first, "alice/authority", &token).await;
    let base = first.head(&token, "alice/authority").await.unwrap();
    let r = client()
        .put(dataset_url(&first, "alice/authority"))
        .bearer_auth(&token)
        .json(&json!({"datapackage": {"name": "authority", "resources": []}, "parent": base}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let newer = first.head(&token, "alice/authority").await.unwrap();
    assert_ne!(newer, base);
    // A ref file put back behind the ledger's back (a lost write on a network filesystem).
    let repo = first.dir.path().join("data/repos/alice/authority.git");
    let main = repo.join("refs/heads/main");
    let packed = repo.join("packed-refs");
    let _ = std::fs::remove_file(&packed);
    std::fs::write(&main, format!("{base}\n")).unwrap();
    // Any read through any replica sees the ledger's head, and the file is brought back.
    assert_eq!(second.head(&token, "alice/authority").await.unwrap(), newer);
    assert_eq!(std::fs::read_to_string(&main).unwrap().trim(), newer);
    // A write based on the stale head is a conflict, not a lost update.
    std::fs::write(&main, format!("{base}\n")).unwrap();
    let r = client()
        .put(dataset_url(&second, "alice/authority"))
        .bearer_auth(&token)
        .json(&json!({"datapackage": {"name": "stale", "resources": []}, "parent": base}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409, "{}", r.text().await.unwrap());
    assert_eq!(first.head(&token, "alice/authority").await.unwrap(), newer);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ledger_hostile_cases() {
    let (first, second, token) = replicas().await;
    dataset(&first, "alice/names", &token).await;
    // A branch that would be a directory of another (or hold one) is a conflict, and the dataset
    // stays readable and writable through both replicas.
    for name in ["main/x", "feature", "feature/y"] {
        let r = client()
            .post(format!("{}/branches", dataset_url(&first, "alice/names")))
            .bearer_auth(&token)
            .json(&json!({"name": name}))
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let want = if name == "feature" { 201 } else { 409 };
        assert_eq!(status, want, "{name}: {}", r.text().await.unwrap());
    }
    let base = second.head(&token, "alice/names").await.unwrap();
    let r = client()
        .put(dataset_url(&second, "alice/names"))
        .bearer_auth(&token)
        .json(&json!({"datapackage": {"name": "names", "resources": []}, "parent": base}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // Deleted and made again under the same name: a new history, none of the old refs.
    let r = client()
        .delete(dataset_url(&first, "alice/names"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    dataset(&second, "alice/names", &token).await;
    let r = client()
        .get(format!("{}/branches", dataset_url(&first, "alice/names")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    let v: Value = r.json().await.unwrap();
    let names: Vec<&str> = v["branches"]
        .as_array()
        .unwrap_or_else(|| panic!("{v}"))
        .iter()
        .map(|b| b["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["main"], "{v}");

    // A server started with --refs git on this database would ignore the ledger: refused; with
    // the default (auto) it keeps the ledger.
    let mut config = strata_core::config::Config::with_data_dir(first.dir.path().join("data"));
    config.database_url = Some(first.state.settings.database_url.clone());
    config.jwt_key_file = Some(first.dir.path().join("jwt.pem"));
    config.refs = Refs::Git;
    let err = strata::AppState::build(&config)
        .await
        .err()
        .expect("refused");
    assert!(err.to_string().contains("--refs sql"), "{err}");
    config.refs = Refs::Auto;
    let auto = strata::AppState::build(&config).await.unwrap();
    assert!(auto.settings.refs_sql);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rest_commit_racing_a_push_loses_neither() {
    let (first, second, token) = replicas().await;
    dataset(&first, "alice/mixed", &token).await;
    let home = tempfile::tempdir().unwrap();
    setup_home(home.path(), &second.url, &token);
    let work = home.path().join("work");
    run(git(home.path(), home.path())
        .args(["clone", "-q"])
        .arg(format!("{}/alice/mixed.git", second.url))
        .arg(&work));
    run(git(home.path(), &work).args(["config", "user.name", "alice"]));
    run(git(home.path(), &work).args(["config", "user.email", "a@example.org"]));
    std::fs::write(work.join("notes.txt"), "pushed").unwrap();
    run(git(home.path(), &work).args(["add", "."]));
    run(git(home.path(), &work).args(["commit", "-q", "-m", "pushed"]));
    let parent = first.head(&token, "alice/mixed").await.unwrap();
    // The push through one replica and a REST commit through the other, at once.
    let pusher = {
        let (home, work) = (home.path().to_owned(), work.clone());
        std::thread::spawn(move || {
            git(&home, &work)
                .args(["push", "-q", "origin", "main"])
                .output()
                .unwrap()
        })
    };
    let r = client()
        .put(dataset_url(&first, "alice/mixed"))
        .bearer_auth(&token)
        .json(
            &json!({"datapackage": {"name": "mixed", "description": "rest", "resources": []},
            "parent": parent}),
        )
        .send()
        .await
        .unwrap();
    let rest_ok = r.status() == 200;
    assert!(rest_ok || r.status() == 409, "{}", r.status());
    let pushed = pusher.join().unwrap().status.success();
    assert!(rest_ok || pushed, "one of them must win");
    // Whatever won is in the history the replicas agree on.
    let final_head = second.head(&token, "alice/mixed").await.unwrap();
    assert_eq!(first.head(&token, "alice/mixed").await.unwrap(), final_head);
    run(git(home.path(), &work).args(["fetch", "-q", "origin"]));
    let log = run(git(home.path(), &work).args(["log", "--format=%s", "origin/main"]));
    if pushed {
        assert!(log.lines().any(|l| l == "pushed"), "{log}");
    }
    if rest_ok {
        let tree = run(git(home.path(), &work).args(["show", "origin/main:datapackage.json"]));
        assert!(tree.contains("\"rest\""), "{tree}");
    }
    fsck(&first, "alice/mixed");
}
