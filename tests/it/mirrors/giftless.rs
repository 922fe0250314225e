//! Mirrors with the seed's own kind of remote: a plain git server (`git http-backend`) for the
//! commits and giftless (gunicorn) for the LFS objects, giftless's JWTs as HTTP Basic credentials
//! (`_jwt`). A repository pushed there by `git` + `git-lfs` is pulled by a mirror byte for byte;
//! a strata dataset is pushed there by a push mirror and cloned back by `git` + `git-lfs` byte
//! for byte.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::json;

use super::push::pushed;
use super::{call, commit_lfs, mirror_server, settled, API};
use crate::common::*;

const KEY: &str = "strata-test-giftless-key-0123456789abcdef";

/// A git server and a giftless beside it, stopped when dropped.
struct Remote {
    children: Vec<Child>,
    dir: tempfile::TempDir,
    git: String,
    lfs: String,
    token: String,
}

impl Drop for Remote {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn tools() -> PathBuf {
    std::env::var_os("STRATA_TEST_TOOLS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/test-tools"))
}

fn venv(bin: &str) -> PathBuf {
    let path = tools().join("gl-venv/bin").join(bin);
    assert!(
        path.exists(),
        "{} is missing: run scripts/test.sh, which installs giftless",
        path.display()
    );
    path
}

async fn answers(url: &str) {
    for _ in 0..300 {
        if client().get(url).send().await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{url} never answered");
}

impl Remote {
    /// Bare repositories `team/{names}` served, and giftless on its own port.
    async fn start(names: &[&str]) -> Remote {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("git");
        for name in names {
            let bare = root.join(format!("team/{name}.git"));
            run(Command::new("git")
                .args(["init", "-q", "--bare", "-b", "main"])
                .arg(&bare));
            run(Command::new("git").arg("-C").arg(&bare).args([
                "config",
                "http.receivepack",
                "true",
            ]));
        }
        let port_file = dir.path().join("git.port");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/mirrors/git_http.py");
        let git = Command::new("python3")
            .arg(script)
            .arg(&root)
            .arg(&port_file)
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let mut children = vec![git];
        let store = dir.path().join("giftless");
        std::fs::create_dir_all(&store).unwrap();
        let config = dir.path().join("giftless.yaml");
        std::fs::write(
            &config,
            format!(
                "AUTH_PROVIDERS:\n  - factory: giftless.auth.jwt:factory\n    options: {{algorithm: HS256, private_key: {KEY}}}\n\
                 PRE_AUTHORIZED_ACTION_PROVIDER:\n  factory: giftless.auth.jwt:factory\n  options: {{algorithm: HS256, private_key: {KEY}, default_lifetime: 900}}\n\
                 TRANSFER_ADAPTERS:\n  basic:\n    factory: giftless.transfer.basic_streaming:factory\n    options:\n      storage_class: giftless.storage.local_storage:LocalStorage\n      storage_options:\n        path: {}\n",
                store.display()
            ),
        )
        .unwrap();
        let port = crate::common::cluster::free_port();
        children.push(
            Command::new(venv("gunicorn"))
                .args(["--log-level", "warning", "-w", "2", "-b"])
                .arg(format!("127.0.0.1:{port}"))
                .arg("giftless.wsgi_entrypoint:app")
                .current_dir(&store)
                .env("GIFTLESS_CONFIG_FILE", &config)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        );
        let scopes: Vec<String> = names.iter().map(|n| format!("'obj:team/{n}/*'")).collect();
        let token = run(Command::new(venv("python")).args([
            "-c",
            &format!(
                "import jwt, time; print(jwt.encode({{'sub': 'mirror', 'name': 'mirror', 'scopes': [{}], 'exp': int(time.time()) + 86400}}, '{KEY}', algorithm='HS256'))",
                scopes.join(", ")
            ),
        ]))
        .trim()
        .to_owned();
        for _ in 0..300 {
            if port_file.exists() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let git_port = std::fs::read_to_string(&port_file).unwrap();
        let lfs = format!("http://127.0.0.1:{port}");
        answers(&format!("{lfs}/")).await;
        Remote {
            children,
            dir,
            git: format!("http://127.0.0.1:{git_port}/team"),
            lfs,
            token,
        }
    }

    fn lfs_url(&self, name: &str) -> String {
        format!("{}/team/{name}.git/info/lfs", self.lfs)
    }

    /// The LFS URL with giftless's credentials in it, for git-lfs.
    fn lfs_url_for_git(&self, name: &str) -> String {
        self.lfs_url(name)
            .replacen("http://", &format!("http://_jwt:{}@", self.token), 1)
    }
}

/// A git home with git-lfs installed.
fn home(dir: &Path) -> PathBuf {
    let home = dir.join("home");
    std::fs::create_dir_all(&home).unwrap();
    run(git(&home, &home).args(["lfs", "install", "--skip-repo"]));
    home
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pulled_from_and_pushed_to_plain_git_and_giftless() {
    let remote = Remote::start(&["data", "pushed"]).await;
    let tmp = remote.dir.path();
    let home = home(tmp);
    // On the remote: LFS files pushed by git + git-lfs, a tag.
    let work = tmp.join("work");
    run(git(&home, tmp).args(["clone", "-q", &format!("{}/data.git", remote.git), "work"]));
    run(git(&home, &work).args(["config", "lfs.url", &remote.lfs_url_for_git("data")]));
    run(git(&home, &work).args(["lfs", "track", "*.bin"]));
    let a: Vec<u8> = (0..300_000u32)
        .map(|i| (i.wrapping_mul(7919) >> 5) as u8)
        .collect();
    std::fs::write(work.join("a.bin"), &a).unwrap();
    std::fs::write(work.join("notes.txt"), b"kept in git\n").unwrap();
    commit_all(&home, &work, "data");
    run(git(&home, &work).args(["tag", "v1"]));
    run(git(&home, &work).args(["push", "-q", "origin", "HEAD:main", "v1"]));

    // Pulled by a mirror.
    let server = mirror_server().await;
    let bob = server.user("bob").await;
    let (s, v) = call(
        reqwest::Method::POST,
        &format!("{}{API}", server.url),
        &bob,
        Some(json!({"namespace": "bob", "name": "copy"})),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    let since = strata_core::db::now();
    let (s, v) = call(
        reqwest::Method::PUT,
        &format!("{}{API}/bob/copy/mirror", server.url),
        &bob,
        Some(json!({
            "url": format!("{}/data.git", remote.git),
            "lfs_url": remote.lfs_url("data"),
            "username": "_jwt",
            "password": remote.token,
        })),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    let m = settled(&server, &bob, "bob/copy", since).await;
    assert_eq!(m["state"], "ok", "{m}");
    for (path, want) in [("a.bin", &a[..]), ("notes.txt", &b"kept in git\n"[..])] {
        let r = client()
            .get(format!("{}{API}/bob/copy/raw/{path}?rev=v1", server.url))
            .bearer_auth(&bob)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
        assert!(r.bytes().await.unwrap() == want, "{path} differs");
    }

    // Pushed by a push mirror: a dataset of bob's, its LFS objects to giftless first.
    let (s, v) = call(
        reqwest::Method::POST,
        &format!("{}{API}", server.url),
        &bob,
        Some(json!({"namespace": "bob", "name": "out"})),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    let b: Vec<u8> = (0..200_000u32).map(|i| (i % 253) as u8).collect();
    commit_lfs(&server, &bob, "bob/out", "main", &[("b.bin", &b)]).await;
    let since = strata_core::db::now();
    let (s, v) = call(
        reqwest::Method::POST,
        &format!("{}{API}/bob/out/push-mirrors", server.url),
        &bob,
        Some(json!({
            "url": format!("{}/pushed.git", remote.git),
            "lfs_url": remote.lfs_url("pushed"),
            "username": "_jwt",
            "password": remote.token,
        })),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    let id = v["push_mirror"]["id"].as_i64().unwrap();
    let m = pushed(&server, &bob, "bob/out", id, since).await;
    assert_eq!(m["state"], "ok", "{m}");
    // Cloned back from the git server and giftless by git + git-lfs.
    let back = tmp.join("back");
    run(git(&home, tmp).args([
        "-c",
        "lfs.fetchexclude=*",
        "clone",
        "-q",
        &format!("{}/pushed.git", remote.git),
        "back",
    ]));
    run(git(&home, &back).args(["config", "lfs.url", &remote.lfs_url_for_git("pushed")]));
    run(git(&home, &back).args(["lfs", "pull"]));
    assert!(
        std::fs::read(back.join("b.bin")).unwrap() == b,
        "b.bin differs"
    );
}
