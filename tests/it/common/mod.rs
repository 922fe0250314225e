//! Test harness: the real strata server on `127.0.0.1:0`, with SQLite (default) or PostgreSQL
//! (when `STRATA_TEST_DATABASE_URL` names a server), local storage, a real S3 server (s3s-fs,
//! which checks SigV4 signatures) or Azurite (which checks SAS signatures), and helpers for users,
//! repositories, tokens and git.

#![allow(dead_code)]

pub mod api;
pub mod azure;
pub mod chromium;
pub mod cluster;
pub mod forms;
pub mod idp;
pub use forms::*;
pub mod s3;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use strata::AppState;
use strata_core::config::{Config, StorageBackend};
use strata_core::db::{Engine, Repo, Visibility};
use tokio::sync::oneshot;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Local,
    /// S3 with `x-amz-checksum-sha256` pinned in upload URLs.
    S3,
    /// S3 without checksum pinning: uploads are staged and hashed by strata.
    S3Unpinned,
    /// Azure Blob Storage (Azurite): SAS URLs, uploads staged and hashed by strata.
    Azure,
}

pub struct TestServer {
    pub url: String,
    pub state: AppState,
    pub dir: tempfile::TempDir,
    pub s3: Option<s3::S3Server>,
    pub azure: Option<azure::Azurite>,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

/// One RSA key for the whole test binary: generating one per server would be slow.
pub fn shared_jwt_key() -> &'static str {
    static KEY: OnceLock<String> = OnceLock::new();
    KEY.get_or_init(|| strata_core::auth::keys::generate_pem().unwrap())
}

/// A fresh database for one server: SQLite in `dir`, or a new PostgreSQL database.
pub async fn database_url(dir: &Path) -> String {
    let Some(base) = std::env::var("STRATA_TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
    else {
        return format!("sqlite://{}?mode=rwc", dir.join("strata.db").display());
    };
    use sqlx::Connection;
    let name = format!("strata_test_{}", uuid::Uuid::new_v4().simple());
    let mut conn = sqlx::PgConnection::connect(&base)
        .await
        .expect("STRATA_TEST_DATABASE_URL must reach a PostgreSQL server");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await
        .unwrap();
    let (head, query) = base
        .split_once('?')
        .map(|(h, q)| (h, format!("?{q}")))
        .unwrap_or((&base, String::new()));
    let (server, _db) = head
        .rsplit_once('/')
        .expect("database URL ends with /dbname");
    format!("{server}/{name}{query}")
}

impl TestServer {
    pub async fn start() -> TestServer {
        TestServer::start_with(Backend::Local, |_| {}).await
    }

    pub async fn start_with(backend: Backend, tweak: impl FnOnce(&mut Config)) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let key_file = dir.path().join("jwt.pem");
        std::fs::write(&key_file, shared_jwt_key()).unwrap();

        let mut config = Config::with_data_dir(dir.path().join("data"));
        config.listen = addr;
        config.public_url = Some(format!("http://{addr}"));
        config.database_url = Some(database_url(dir.path()).await.into());
        config.jwt_key_file = Some(key_file);
        // git runs the strata binary as the push hook; the server here lives in the test binary.
        config.hook_exe = Some(PathBuf::from(env!("CARGO_BIN_EXE_strata")));
        // Objects that arrive whole are chunked in the background every 10 s by default; the
        // tests about it turn it on, the rest run without that background work.
        config.chunking_interval_secs = 0;
        let mut s3_server = None;
        let mut azurite = None;
        if backend == Backend::Azure {
            let az = tokio::task::spawn_blocking(azure::Azurite::start)
                .await
                .unwrap();
            config.storage = StorageBackend::Azure;
            config.bucket = Some(azure::CONTAINER.into());
            config.azure_account = Some(azure::ACCOUNT.into());
            config.azure_access_key = Some(azure::KEY.into());
            config.azure_endpoint = Some(az.endpoint.clone());
            azurite = Some(az);
        }
        if matches!(backend, Backend::S3 | Backend::S3Unpinned) {
            let s3 = s3::S3Server::start().await;
            config.storage = StorageBackend::S3;
            config.bucket = Some(s3.bucket.clone());
            config.s3_endpoint = Some(s3.endpoint.clone());
            config.s3_path_style = true;
            config.s3_access_key_id = Some(s3::ACCESS_KEY.into());
            config.s3_secret_access_key = Some(s3::SECRET_KEY.into());
            config.s3_checksum_pinning = backend == Backend::S3;
            s3_server = Some(s3);
        }
        tweak(&mut config);
        TestServer::launch(config, listener, dir, s3_server, azurite).await
    }

    /// Another replica of this server: its own listener, the same data directory (keys,
    /// repositories, local objects) and database; `tweak` adjusts its configuration.
    pub async fn start_replica(&self, tweak: impl FnOnce(&mut Config)) -> TestServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut config = Config::with_data_dir(self.dir.path().join("data"));
        config.listen = addr;
        config.public_url = Some(format!("http://{addr}"));
        config.database_url = Some(self.state.settings.database_url.clone());
        config.jwt_key_file = Some(self.dir.path().join("jwt.pem"));
        config.hook_exe = Some(PathBuf::from(env!("CARGO_BIN_EXE_strata")));
        tweak(&mut config);
        TestServer::launch(config, listener, tempfile::tempdir().unwrap(), None, None).await
    }

    async fn launch(
        config: Config,
        listener: tokio::net::TcpListener,
        dir: tempfile::TempDir,
        s3_server: Option<s3::S3Server>,
        azurite: Option<azure::Azurite>,
    ) -> TestServer {
        let addr = listener.local_addr().unwrap();
        let state = AppState::build(&config).await.expect("server state");
        let want = if std::env::var("STRATA_TEST_DATABASE_URL").is_ok_and(|u| !u.is_empty()) {
            Engine::Postgres
        } else {
            Engine::Sqlite
        };
        assert_eq!(state.db.engine(), want, "the test database engine");
        let (tx, rx) = oneshot::channel();
        let run_state = state.clone();
        let task = tokio::spawn(async move {
            strata::run(listener, run_state, async {
                let _ = rx.await;
            })
            .await
            .unwrap();
        });
        TestServer {
            url: format!("http://{addr}"),
            state,
            dir,
            s3: s3_server,
            azure: azurite,
            shutdown: Some(tx),
            task: Some(task),
        }
    }

    /// `/metrics` as text.
    pub async fn metrics_text(&self) -> String {
        client()
            .get(format!("{}/metrics", self.url))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// Waits (10 s at most) until the views of new revisions' tables made in the background are
    /// done, so a test counting what reads the store counts its own reads only.
    pub async fn views_settled(&self) {
        for _ in 0..100 {
            if strata_core::tables::ahead::settled(&self.state)
                .await
                .unwrap()
            {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!(
            "the views made ahead never settled: {:?}",
            self.state.tables.ahead.figures()
        );
    }

    /// Signals the server to stop, without waiting for it (it drains, then stops).
    pub fn begin_shutdown(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }

    /// Stops the server and waits for it to finish.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }

    /// The head revision of `repo`'s default branch as `token` sees it; `None` before the first
    /// commit.
    pub async fn head(&self, token: &str, repo: &str) -> Option<String> {
        let r = client()
            .get(format!("{}/api/v1/datasets/{repo}", self.url))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{repo}");
        let v: serde_json::Value = r.json().await.unwrap();
        v["revision"]["id"].as_str().map(str::to_owned)
    }

    /// Creates a user and a personal access token with all of their rights.
    pub async fn user(&self, name: &str) -> String {
        self.user_with(name, false, "*").await
    }

    pub async fn user_with(&self, name: &str, admin: bool, scopes: &str) -> String {
        strata::cli::admin::create_user(&self.state, name, None, admin)
            .await
            .unwrap();
        strata::cli::admin::create_token(&self.state, name, "test", scopes, None)
            .await
            .unwrap()
    }

    pub async fn repo(&self, path: &str, visibility: Visibility) -> Repo {
        strata::cli::admin::create_repo(&self.state, path, visibility, None)
            .await
            .unwrap()
    }

    pub fn jwt(&self, sub: &str, scopes: &str, ttl: i64) -> String {
        strata::cli::admin::issue_jwt(&self.state, sub, scopes, ttl).unwrap()
    }

    pub fn batch_url(&self, repo: &str) -> String {
        format!("{}/{repo}.git/info/lfs/objects/batch", self.url)
    }

    pub fn lfs_url(&self, repo: &str) -> String {
        format!("{}/{repo}.git/info/lfs", self.url)
    }

    /// Files in the local object store's temporary directory (should be none between requests).
    pub fn temp_files(&self) -> usize {
        std::fs::read_dir(self.dir.path().join("data/objects/tmp"))
            .map(|d| d.count())
            .unwrap_or(0)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// A reqwest client that adds LFS headers and Basic auth.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

pub const LFS: &str = "application/vnd.git-lfs+json";

/// POSTs an LFS JSON body with Basic auth (`token` as password; `None` for anonymous).
pub async fn lfs_post(
    url: &str,
    token: Option<&str>,
    body: &serde_json::Value,
) -> reqwest::Response {
    // As git-lfs asks (clients written for giftless get a verify action on every upload).
    let mut req = client()
        .post(url)
        .header("accept", LFS)
        .header("content-type", LFS)
        .header("user-agent", "git-lfs/3.6.1 (strata tests)")
        .body(body.to_string());
    if let Some(t) = token {
        req = req.basic_auth("user", Some(t));
    }
    req.send().await.unwrap()
}

pub fn sha256_hex(data: &[u8]) -> String {
    strata_lfs::Oid::of(data).to_string()
}

/// Validates `value` against one of the LFS JSON schemas in `fixtures/lfs-schemas`.
pub fn assert_schema(schema: &str, value: &serde_json::Value) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/lfs-schemas")
        .join(schema);
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let validator = jsonschema::draft4::new(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(value)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "response does not match {schema}: {errors:?}\n{value:#}"
    );
}

/// Runs a command to completion, panicking with its output if it fails.
pub fn run(cmd: &mut std::process::Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{cmd:?} failed:\n{text}");
    text
}

/// Runs `cmd` (a client script of the compat tests) off the async workers; it must succeed, and
/// its answer is the last line of its output that is a JSON object.
pub async fn json_answer(mut cmd: std::process::Command) -> serde_json::Value {
    let out = tokio::task::spawn_blocking(move || run(&mut cmd))
        .await
        .unwrap();
    let line = out
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .unwrap_or_else(|| panic!("no JSON in {out}"));
    serde_json::from_str(line).unwrap()
}

/// Status, headers and JSON body (or the text as a JSON string) of a response.
pub async fn body(resp: reqwest::Response) -> (u16, reqwest::header::HeaderMap, serde_json::Value) {
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap();
    (
        status,
        headers,
        serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)),
    )
}

pub fn assert_error_body(
    status: u16,
    headers: &reqwest::header::HeaderMap,
    v: &serde_json::Value,
    expected: u16,
) {
    assert_eq!(status, expected, "{v}");
    assert!(
        v["message"].as_str().is_some_and(|m| !m.is_empty()),
        "no message: {v}"
    );
    let rid = v["request_id"].as_str().expect("request_id");
    assert_eq!(headers["x-request-id"].to_str().unwrap(), rid);
}

/// Uploads `data` to `repo` through batch + PUT (+ verify when the backend asks for it),
/// checking each step.
pub async fn upload(server: &TestServer, repo: &str, token: &str, data: &[u8]) -> strata_lfs::Oid {
    let oid = strata_lfs::Oid::of(data);
    let req = serde_json::json!({"operation": "upload", "transfers": ["basic"], "objects": [{"oid": oid.to_string(), "size": data.len()}]});
    let (status, headers, v) =
        body(lfs_post(&server.batch_url(repo), Some(token), &req).await).await;
    assert_eq!(status, 200, "{v}");
    assert!(headers["content-type"].to_str().unwrap().starts_with(LFS));
    assert_schema("http-batch-response-schema.json", &v);
    let actions = &v["objects"][0]["actions"];
    let mut put = client()
        .put(actions["upload"]["href"].as_str().unwrap())
        .body(data.to_vec());
    // The headers the action names (on S3, the signed checksum).
    if let Some(headers) = actions["upload"]["header"].as_object() {
        for (k, val) in headers {
            put = put.header(k.as_str(), val.as_str().unwrap());
        }
    }
    let put = put.send().await.unwrap();
    // (Azure's Put Blob answers 201.)
    assert!(
        matches!(put.status().as_u16(), 200 | 201),
        "{}",
        put.text().await.unwrap()
    );
    // The local backend checks and links during the PUT, so it sends no verify action; a bucket
    // upload is confirmed (hashed and moved into place) by the verify call.
    if let Some(href) = actions["verify"]["href"].as_str() {
        let verify = lfs_post(
            href,
            None,
            &serde_json::json!({"oid": oid.to_string(), "size": data.len()}),
        )
        .await;
        assert_eq!(verify.status(), 200);
    }
    oid
}

/// A git command isolated from the user's configuration, with credentials from a store file.
pub fn git(home: &Path, dir: &Path) -> std::process::Command {
    let mut cmd = std::process::Command::new("git");
    cmd.current_dir(dir)
        .env("HOME", home)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_AUTHOR_NAME", "Test")
        .env("GIT_AUTHOR_EMAIL", "test@example.com")
        .env("GIT_COMMITTER_NAME", "Test")
        .env("GIT_COMMITTER_EMAIL", "test@example.com");
    cmd
}

/// `git add -A` and `git commit -qm message` in `work`.
pub fn commit_all(home: &Path, work: &Path, message: &str) {
    run(git(home, work).args(["add", "-A"]));
    run(git(home, work).args(["commit", "-qm", message]));
}

pub fn setup_home(home: &Path, server_url: &str, token: &str) {
    std::fs::create_dir_all(home).unwrap();
    let creds = home.join("creds");
    let host = server_url.trim_start_matches("http://");
    std::fs::write(&creds, format!("http://alice:{token}@{host}\n")).unwrap();
    run(git(home, home).args([
        "config",
        "--global",
        "credential.helper",
        &format!("store --file={}", creds.display()),
    ]));
    run(git(home, home).args(["config", "--global", "init.defaultBranch", "main"]));
    run(git(home, home).args(["lfs", "install"]));
}

/// A program from the test tools' Python virtualenv (`scripts/test.sh` installs them).
pub fn python_tool(name: &str) -> PathBuf {
    let tools = std::env::var_os("STRATA_TEST_TOOLS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/test-tools"));
    let path = tools.join("venv/bin").join(name);
    assert!(
        path.exists(),
        "{} is missing: run scripts/test.sh, which installs it, or `python3 -m venv {}/venv && \
         {}/venv/bin/pip install frictionless==5.21.0 openapi-spec-validator==0.9.0 authlib==1.6.5 requests==2.32.5`",
        path.display(),
        tools.display(),
        tools.display()
    );
    path
}

/// Logs in through the login form like a browser; returns (cookie header, the session's CSRF
/// token).
pub async fn browser_session(url: &str, user: &str, password: &str) -> (String, String) {
    let page = client().get(format!("{url}/login")).send().await.unwrap();
    let form_cookie = page.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let html = page.text().await.unwrap();
    let at = html.find("name=\"csrf\" value=\"").unwrap() + 19;
    let token = html[at..at + 64].to_owned();
    let body = serde_urlencoded::to_string([
        ("csrf", token.as_str()),
        ("username", user),
        ("password", password),
    ])
    .unwrap();
    let resp = client()
        .post(format!("{url}/login"))
        .header("cookie", &form_cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303, "{user} logs in");
    let cookie = resp
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap())
        .find(|c| c.starts_with("strata_session="))
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let settings = client()
        .get(format!("{url}/settings"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    let html = settings.text().await.unwrap();
    let at = html.find("name=\"csrf\" value=\"").unwrap() + 19;
    (cookie, html[at..at + 64].to_owned())
}
