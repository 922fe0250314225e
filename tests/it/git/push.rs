//! The write gate of git: a push never creates what the REST API refuses (pointer spellings,
//! datapackages, sizes, refs, default-branch protection), and what must pass does (the empty
//! object, a dataset without a datapackage).

use std::path::Path;

use serde_json::json;
use strata_core::db::Visibility;

use crate::access::gates::{call, try_run, API};
use crate::common::*;

/// Clones `ns/name` into `home/dir` with the stock git and git-lfs.
fn clone(server: &TestServer, home: &Path, repo: &str, dir: &str) -> std::path::PathBuf {
    run(git(home, home).args(["clone", "-q", &format!("{}/{repo}.git", server.url), dir]));
    home.join(dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushes_are_checked_like_rest_writes() {
    let server = TestServer::start_with(Backend::Local, |c| c.max_object_size = 64 * 1024).await;
    let alice = server.user("alice").await;
    server.repo("alice/p", Visibility::Private).await;
    let home = server.dir.path().join("home");
    setup_home(&home, &server.url, &alice);
    let work = clone(&server, &home, "alice/p", "p");

    // A dataset pushed without a datapackage.json still has revisions in REST.
    std::fs::write(work.join("README.md"), "# p\n").unwrap();
    commit_all(&home, &work, "readme");
    run(git(&home, &work).args(["push", "-q", "origin", "main"]));
    let (status, v) = call(
        &server,
        &alice,
        reqwest::Method::GET,
        &format!("{API}/alice/p"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert!(v["revision"]["id"].is_string(), "{v}");
    assert!(v["datapackage"].is_null(), "{v}");

    // The empty object, pushed with stock git-lfs (which never uploads it), passes.
    run(git(&home, &work).args(["lfs", "track", "*.bin"]));
    std::fs::write(work.join("empty.bin"), b"").unwrap();
    std::fs::write(work.join("full.bin"), b"some bytes").unwrap();
    commit_all(&home, &work, "lfs files");
    run(git(&home, &work).args(["push", "-q", "origin", "main"]));
    let again = clone(&server, &home, "alice/p", "p2");
    assert_eq!(std::fs::read(again.join("empty.bin")).unwrap(), b"");
    assert_eq!(
        std::fs::read(again.join("full.bin")).unwrap(),
        b"some bytes"
    );

    // Pointers spelled as git-lfs also accepts them (CRLF, no final newline, an extension line)
    // naming objects never uploaded are refused, on any branch or tag.
    let ghost = strata_lfs::Oid::of(b"never uploaded");
    let canonical =
        format!("version https://git-lfs.github.com/spec/v1\noid sha256:{ghost}\nsize 14\n");
    let spellings = [
        canonical.replace('\n', "\r\n"),
        canonical.trim_end().to_owned(),
        canonical.replace("size 14", &format!("ext-0-foo sha256:{ghost}\nsize 14")),
        canonical.replace("size 14", "size 014"),
        // Longer than a pointer may be, but git-lfs reads only the first 1024 bytes.
        format!("{canonical}{}and then anything", "\n".repeat(1100)),
    ];
    for (i, spelled) in spellings.iter().enumerate() {
        run(git(&home, &work).args(["checkout", "-q", "-B", &format!("try{i}"), "main"]));
        // Written as a plain file (not through the LFS filter), so the blob is exactly this.
        std::fs::write(work.join(format!("ghost{i}.txt")), spelled).unwrap();
        commit_all(&home, &work, "ghost");
        // --no-verify: git-lfs's own pre-push hook would stop it; a hostile client skips it.
        let (ok, out) =
            try_run(git(&home, &work).args(["push", "--no-verify", "origin", &format!("try{i}")]));
        assert!(!ok, "spelling {i} passed:\n{out}");
        assert!(out.contains("never uploaded"), "{out}");
        let (ok, out) = try_run(git(&home, &work).args([
            "push",
            "--no-verify",
            "origin",
            &format!("HEAD:refs/tags/t{i}"),
        ]));
        assert!(!ok, "spelling {i} passed as a tag:\n{out}");
    }
    run(git(&home, &work).args(["checkout", "-q", "main"]));

    // A pushed datapackage is validated like a REST one.
    let bad_packages = [
        "{not json".to_owned(),
        json!({"name": "p", "resources": [{"name": "r", "path": "x.csv", "bytes": 14, "hash": format!("sha256:{ghost}")}]}).to_string(),
        // A job declared wrong: refused naming its field.
        json!({"name": "p", "resources": [], "jobs": {"j": {"inputs": [{"dataset": "nobody"}],
            "run": {"interpreter": "python", "script": "j.py"}, "output": {"dataset": "alice/out"}}}}).to_string(),
    ];
    for (i, text) in bad_packages.iter().enumerate() {
        run(git(&home, &work).args(["checkout", "-q", "-B", &format!("pkg{i}"), "main"]));
        std::fs::write(work.join("datapackage.json"), text).unwrap();
        commit_all(&home, &work, "package");
        let (ok, out) = try_run(git(&home, &work).args(["push", "origin", &format!("pkg{i}")]));
        assert!(!ok, "package {i} passed:\n{out}");
        assert!(i < 2 || out.contains("jobs.j.inputs[0].dataset"), "{out}");
    }
    run(git(&home, &work).args(["checkout", "-q", "main"]));

    // Plain blobs obey the object size limit.
    run(git(&home, &work).args(["checkout", "-q", "-B", "big", "main"]));
    std::fs::write(work.join("big.txt"), vec![b'x'; 100 * 1024]).unwrap();
    commit_all(&home, &work, "big");
    let (ok, out) = try_run(git(&home, &work).args(["push", "origin", "big"]));
    assert!(!ok && out.contains("limit"), "{out}");
    run(git(&home, &work).args(["checkout", "-q", "main"]));

    // Refs outside branches and tags, and tags of non-commits, are refused.
    let blob = run(git(&home, &work).args(["rev-parse", "main:README.md"]));
    let (ok, out) = try_run(git(&home, &work).args([
        "push",
        "origin",
        &format!("{}:refs/tags/blobtag", blob.trim()),
    ]));
    assert!(!ok, "{out}");
    let (ok, out) = try_run(git(&home, &work).args(["push", "origin", "main:refs/notes/x"]));
    assert!(!ok, "{out}");
    let (status, v) = call(
        &server,
        &alice,
        reqwest::Method::GET,
        &format!("{API}/alice/p/tags"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["tags"], json!([]), "{v}");

    // The default branch is protected until an admin turns that off.
    let head = run(git(&home, &work).args(["rev-parse", "main"]))
        .trim()
        .to_owned();
    run(git(&home, &work).args(["reset", "-q", "--hard", "HEAD~1"]));
    std::fs::write(work.join("other.txt"), "rewritten\n").unwrap();
    commit_all(&home, &work, "rewrite");
    let (ok, out) = try_run(git(&home, &work).args(["push", "-f", "origin", "main"]));
    assert!(!ok && out.contains("protected"), "{out}");
    let (ok, out) = try_run(git(&home, &work).args(["push", "origin", ":main"]));
    assert!(!ok, "{out}");
    let (_, v) = call(
        &server,
        &alice,
        reqwest::Method::GET,
        &format!("{API}/alice/p"),
        None,
    )
    .await;
    assert_eq!(v["revision"]["id"], head.as_str());
    // Other branches may be force-pushed.
    run(git(&home, &work).args(["push", "-q", "origin", "main:side"]));
    run(git(&home, &work).args([
        "push",
        "-q",
        "-f",
        "origin",
        &format!("{head}:refs/heads/side"),
    ]));
    let (status, _) = call(
        &server,
        &alice,
        reqwest::Method::PUT,
        &format!("{API}/alice/p/protection"),
        Some(json!({"default_branch": false})),
    )
    .await;
    assert_eq!(status, 204);
    run(git(&home, &work).args(["push", "-q", "-f", "origin", "main"]));
    let (_, v) = call(
        &server,
        &alice,
        reqwest::Method::GET,
        &format!("{API}/alice/p"),
        None,
    )
    .await;
    assert_ne!(v["revision"]["id"], head.as_str());

    hook_runs_only_on_the_servers_rules(&server, &work);
}

/// The hook, run by hand in the dataset's repository as a local process could (with the way to
/// the database, but rules of its own), refuses: without rules, and with rules signed by another
/// key (here, the protection lifted).
fn hook_runs_only_on_the_servers_rules(server: &TestServer, work: &Path) {
    use strata_core::hook::rules::{HookKey, Rules, ENV_RULES};
    let db_file = &server.state.settings.hook_database_file;
    let other = tempfile::tempdir().unwrap();
    let forged = Rules {
        dataset: "alice/p".into(),
        repo_id: 1,
        refs_sql: false,
        max_object_size: 0,
        max_package: 1 << 20,
        protect_default: false,
        merges_only: false,
        policy_limit_ms: None,
        strict: false,
        quota: None,
        lfs_url: None,
        ask: None,
    }
    .seal(&HookKey::load_or_make(&other.path().join("database-url")).unwrap());
    for (rules, says) in [
        (None, "only inside a push"),
        (Some(forged), "not this server's"),
    ] {
        let mut hook = std::process::Command::new(env!("CARGO_BIN_EXE_strata"));
        hook.args(["hook", "pre-receive"])
            .current_dir(work)
            .env_remove(ENV_RULES)
            .env(strata_core::hook::ENV_DATABASE_FILE, db_file)
            .stdin(std::process::Stdio::null());
        if let Some(r) = &rules {
            hook.env(ENV_RULES, r);
        }
        let out = hook.output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{rules:?} passed");
        assert!(err.contains(says), "{rules:?}: {err}");
    }
}
