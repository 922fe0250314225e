//! SIGKILL on either side of a pull mirror, at many points of a sync: a source and a mirror,
//! each the real binary on its own data directory and database; a commit of eight 3 MiB LFS
//! files pushed to the source by git-lfs; then, round after round, a sync asked for and one side
//! killed some milliseconds later, and started again. After every round the mirror's `main` is
//! the old commit or the new one, never anything between, and every file of it reads back byte
//! for byte; at the end a sync catches up. The same for a push mirror: commits of new files
//! pushed to a remote strata, one side killed under each push, and the remote's `main` always a
//! commit made here with every byte.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};

use super::{call, API};
use crate::common::cluster::free_port;
use crate::common::*;

/// A strata process on its own data directory and database, started again on the same port.
struct Proc {
    dir: PathBuf,
    port: u16,
    db: String,
    child: Option<Child>,
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

impl Proc {
    async fn start(dir: &Path) -> Proc {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join("jwt.pem"), shared_jwt_key()).unwrap();
        let mut p = Proc {
            dir: dir.to_owned(),
            port: free_port(),
            db: database_url(dir).await,
            child: None,
        };
        p.restart().await;
        p
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_strata"));
        cmd.args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("STRATA_DATA_DIR", self.dir.join("data"))
            .env("STRATA_DATABASE_URL", &self.db)
            .env("STRATA_JWT_KEY_FILE", self.dir.join("jwt.pem"))
            .env("STRATA_LISTEN", format!("127.0.0.1:{}", self.port))
            .env("STRATA_PUBLIC_URL", self.url())
            .env("STRATA_MIRRORS_ALLOW_PRIVATE", "on")
            .env("STRATA_MIRROR_MIN_INTERVAL_SECS", "1")
            .env("STRATA_CHUNKING_INTERVAL_SECS", "0")
            .env("STRATA_LOG", "warn");
        cmd
    }

    async fn restart(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("server.log"))
            .unwrap();
        self.child = Some(
            self.command(&["serve"])
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .unwrap(),
        );
        for _ in 0..600 {
            if let Ok(r) = client().get(format!("{}/readyz", self.url())).send().await {
                if r.status() == 200 {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("strata in {} never became ready", self.dir.display());
    }

    /// SIGKILL.
    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// An account and a token for it.
    fn user(&self, name: &str) -> String {
        run(&mut self.command(&["admin", "create-user", name]));
        let out = self
            .command(&["admin", "token", "--user", name, "--name", "t"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    }
}

/// A commit of the source, and its files (path, bytes).
type Version = (String, Vec<(String, Vec<u8>)>);

/// The revision of `main` of bob/copy on the mirror, and every file of it read back.
async fn readers_see(mirror: &Proc, token: &str, versions: &[Version]) -> usize {
    at_version(mirror, token, "bob/copy", versions).await
}

/// Which of `versions` `main` of `dataset` on `server` is at, every file of it read back.
async fn at_version(server: &Proc, token: &str, dataset: &str, versions: &[Version]) -> usize {
    let (s, v) = call(
        reqwest::Method::GET,
        &format!("{}{API}/{dataset}/branches", server.url()),
        token,
        None,
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let main = v
        .as_array()
        .or_else(|| v["branches"].as_array())
        .and_then(|b| b.iter().find(|b| b["name"] == "main"))
        .map(|b| b["revision"].as_str().unwrap_or_default().to_owned());
    let Some(main) = main else {
        panic!("{dataset} has no main: {v}");
    };
    let Some(at) = versions.iter().position(|(rev, _)| *rev == main) else {
        panic!("main of {dataset} is at {main}, none of the commits made");
    };
    for (path, want) in &versions[at].1 {
        let r = client()
            .get(format!(
                "{}{API}/{dataset}/raw/{path}?rev={main}",
                server.url()
            ))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path} at {main}");
        assert!(
            r.bytes().await.unwrap() == want.as_slice(),
            "{path} at {main} differs"
        );
    }
    at
}

/// The mirror's state once no sync runs.
async fn quiet(mirror: &Proc, token: &str) -> Value {
    for _ in 0..600 {
        let (s, v) = call(
            reqwest::Method::GET,
            &format!("{}{API}/bob/copy/mirror", mirror.url()),
            token,
            None,
        )
        .await;
        assert_eq!(s, 200, "{v}");
        if !v["mirror"]["syncing"].as_bool().unwrap() {
            return v["mirror"].clone();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the mirror kept syncing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_of_either_side_leaves_the_old_or_the_new_state() {
    let tmp = tempfile::tempdir().unwrap();
    let mut source = Proc::start(&tmp.path().join("source")).await;
    let mut mirror = Proc::start(&tmp.path().join("mirror")).await;
    let alice = source.user("alice");
    let bob = mirror.user("bob");
    let post = reqwest::Method::POST;
    for (server, token, ns, name) in [
        (&source, &alice, "alice", "data"),
        (&mirror, &bob, "bob", "copy"),
    ] {
        let (s, v) = call(
            post.clone(),
            &format!("{}{API}", server.url()),
            token,
            Some(json!({"namespace": ns, "name": name})),
        )
        .await;
        assert_eq!(s, 201, "{v}");
    }
    // v1 on the source, pushed by git-lfs, and mirrored.
    let home = tmp.path().join("home");
    setup_home(&home, &source.url(), &alice);
    run(git(&home, tmp.path()).args([
        "clone",
        "-q",
        &format!("{}/alice/data.git", source.url()),
        "w",
    ]));
    let work = tmp.path().join("w");
    run(git(&home, &work).args(["lfs", "track", "*.bin"]));
    let first: Vec<u8> = (0..100_000u32).map(|i| (i % 241) as u8).collect();
    std::fs::write(work.join("a.bin"), &first).unwrap();
    commit_all(&home, &work, "v1");
    run(git(&home, &work).args(["push", "-q", "origin", "HEAD:main"]));
    let rev = |dir: &Path| {
        run(git(&home, dir).args(["rev-parse", "HEAD"]))
            .trim()
            .to_owned()
    };
    let v1 = (rev(&work), vec![("a.bin".to_owned(), first.clone())]);
    let (s, v) = call(
        reqwest::Method::PUT,
        &format!("{}{API}/bob/copy/mirror", mirror.url()),
        &bob,
        Some(json!({"url": format!("{}/alice/data.git", source.url()), "token": alice})),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    let mut tries = 0;
    while main_of(&mirror, &bob, "bob/copy").await != Some(v1.0.clone()) {
        tries += 1;
        assert!(tries < 300, "the first sync never landed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // v2: eight 3 MiB files more, a.bin changed.
    let mut files = vec![("a.bin".to_owned(), b"a.bin, second version\n".repeat(1000))];
    for i in 0..8u32 {
        let data: Vec<u8> = (0..(3u32 << 20))
            .map(|j| (j.wrapping_mul(2654435761).wrapping_add(i) >> 11) as u8)
            .collect();
        files.push((format!("f{i}.bin"), data));
    }
    for (path, data) in &files {
        std::fs::write(work.join(path), data).unwrap();
    }
    commit_all(&home, &work, "v2");
    run(git(&home, &work).args(["push", "-q", "origin", "HEAD:main"]));
    let v2 = (rev(&work), files);
    let versions = [v1, v2];

    sqlx::any::install_default_drivers();
    let mirror_db = sqlx::AnyPool::connect(&mirror.db).await.unwrap();
    let sync = format!("{}{API}/bob/copy/mirror/sync", mirror.url());
    let mut seen = [0usize; 2];
    for (round, delay) in [0u64, 20, 40, 70, 100, 140, 180, 230, 300, 400, 600, 900]
        .into_iter()
        .enumerate()
    {
        let (s, v) = call(post.clone(), &sync, &bob, None).await;
        assert_eq!(s, 202, "{v}");
        tokio::time::sleep(Duration::from_millis(delay)).await;
        if round % 2 == 0 {
            // The mirror dies; started again, its killed sync's lease is let go (as its expiry
            // would, later) so the next round can sync.
            mirror.kill();
            mirror.restart().await;
            seen[readers_see(&mirror, &bob, &versions).await] += 1;
            sqlx::query("UPDATE mirrors SET claimed_until = NULL, claimed_at = NULL")
                .execute(&mirror_db)
                .await
                .unwrap();
        } else {
            // The source dies under the sync: it fails, or had finished.
            source.kill();
            let m = quiet(&mirror, &bob).await;
            seen[readers_see(&mirror, &bob, &versions).await] += 1;
            if m["state"] == "failed" {
                assert!(m["last_error"].is_string(), "{m}");
            }
            source.restart().await;
        }
        if seen[1] > 0 {
            break;
        }
    }
    // Whatever the rounds left, a sync now catches up.
    let (s, v) = call(post.clone(), &sync, &bob, None).await;
    assert_eq!(s, 202, "{v}");
    let mut tries = 0;
    loop {
        let m = quiet(&mirror, &bob).await;
        if readers_see(&mirror, &bob, &versions).await == 1 {
            break;
        }
        tries += 1;
        assert!(tries < 100, "the mirror never caught up: {m}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    eprintln!("rounds that left the old state, the new: {seen:?}");
    assert!(
        seen[0] > 0,
        "no round killed a sync before it landed: {seen:?}"
    );
}

/// `main` of `dataset` on `server`, if it has one.
async fn main_of(server: &Proc, token: &str, dataset: &str) -> Option<String> {
    let (_, v) = call(
        reqwest::Method::GET,
        &format!("{}{API}/{dataset}/branches", server.url()),
        token,
        None,
    )
    .await;
    v.as_array()
        .or_else(|| v["branches"].as_array())
        .and_then(|b| b.iter().find(|b| b["name"] == "main"))
        .and_then(|b| b["revision"].as_str().map(str::to_owned))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_of_either_side_of_a_push_mirror_leaves_a_whole_commit_there() {
    let tmp = tempfile::tempdir().unwrap();
    let mut here = Proc::start(&tmp.path().join("here")).await;
    let mut remote = Proc::start(&tmp.path().join("remote")).await;
    let alice = here.user("alice");
    let carol = remote.user("carol");
    let post = reqwest::Method::POST;
    // Both filled by git only (a strata remote refuses commits whose `.lfsconfig` points at
    // another server, and the remote starts with no commit of its own).
    run(&mut here.command(&["admin", "create-repo", "alice/data"]));
    run(&mut remote.command(&["admin", "create-repo", "carol/copy"]));
    let home = tmp.path().join("home");
    setup_home(&home, &here.url(), &alice);
    run(git(&home, tmp.path()).args([
        "clone",
        "-q",
        &format!("{}/alice/data.git", here.url()),
        "w",
    ]));
    let work = tmp.path().join("w");
    run(git(&home, &work).args(["lfs", "track", "*.bin"]));
    // Version n: four 2 MiB files of its own.
    let mut versions: Vec<Version> = Vec::new();
    let commit = |n: u32, versions: &mut Vec<Version>| {
        let mut files = Vec::new();
        for i in 0..4u32 {
            let data: Vec<u8> = (0..(2u32 << 20))
                .map(|j| (j.wrapping_mul(2654435761).wrapping_add(i * 7919 + n) >> 9) as u8)
                .collect();
            std::fs::write(work.join(format!("f{i}.bin")), &data).unwrap();
            files.push((format!("f{i}.bin"), data));
        }
        commit_all(&home, &work, &format!("v{n}"));
        run(git(&home, &work).args(["push", "-q", "origin", "HEAD:main"]));
        let rev = run(git(&home, &work).args(["rev-parse", "HEAD"]))
            .trim()
            .to_owned();
        versions.push((rev, files));
    };
    commit(0, &mut versions);
    let body = json!({"url": format!("{}/carol/copy.git", remote.url()), "token": carol});
    let (s, v) = call(
        post.clone(),
        &format!("{}{API}/alice/data/push-mirrors", here.url()),
        &alice,
        Some(body),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    let mut tries = 0;
    while main_of(&remote, &carol, "carol/copy").await != Some(versions[0].0.clone()) {
        tries += 1;
        if tries == 300 {
            let (_, v) = call(
                reqwest::Method::GET,
                &format!("{}{API}/alice/data/push-mirrors", here.url()),
                &alice,
                None,
            )
            .await;
            panic!("the first push never landed: {v}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    sqlx::any::install_default_drivers();
    let here_db = sqlx::AnyPool::connect(&here.db).await.unwrap();
    let mut behind = 0;
    for (round, delay) in [0u64, 30, 80, 150, 250, 400, 600, 900]
        .into_iter()
        .enumerate()
    {
        // A new version here, pushed by itself after the change; one side dies under it.
        commit(round as u32 + 1, &mut versions);
        tokio::time::sleep(Duration::from_millis(delay)).await;
        if round % 2 == 0 {
            here.kill();
            here.restart().await;
            // Its killed push's lease is let go (as its expiry would, later).
            sqlx::query("UPDATE push_mirrors SET claimed_until = NULL, claimed_at = NULL")
                .execute(&here_db)
                .await
                .unwrap();
        } else {
            remote.kill();
            remote.restart().await;
        }
        let at = at_version(&remote, &carol, "carol/copy", &versions).await;
        if at + 1 < versions.len() {
            behind += 1;
        }
    }
    // Whatever the rounds left, a push now brings the remote to the last version.
    let id = {
        let (_, v) = call(
            reqwest::Method::GET,
            &format!("{}{API}/alice/data/push-mirrors", here.url()),
            &alice,
            None,
        )
        .await;
        v["push_mirrors"][0]["id"].as_i64().unwrap()
    };
    let now = format!("{}{API}/alice/data/push-mirrors/{id}/push", here.url());
    let mut tries = 0;
    loop {
        let (s, v) = call(post.clone(), &now, &alice, None).await;
        assert_eq!(s, 202, "{v}");
        tokio::time::sleep(Duration::from_millis(500)).await;
        if at_version(&remote, &carol, "carol/copy", &versions).await + 1 == versions.len() {
            break;
        }
        tries += 1;
        assert!(tries < 120, "the remote never caught up");
    }
    eprintln!("rounds that left the remote behind: {behind} of 8");
    assert!(behind > 0, "no round killed a push before it landed");
}
