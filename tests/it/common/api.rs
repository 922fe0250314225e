//! The in-process API tier's harness: one `AppState` for the whole test binary, configured as
//! [`TestServer`](super::TestServer) configures its server (SQLite in a directory under the
//! target directory, or a fresh PostgreSQL database when `STRATA_TEST_DATABASE_URL` is set; the
//! shared JWT key; local storage), and `strata::app` called with `tower::ServiceExt::oneshot`:
//! no socket, no server task, no background work (webhook deliveries, garbage collection).
//!
//! The state lives on a runtime of its own (its connection pool and tasks must outlive any one
//! test's runtime): every request and every direct use of the state runs there. Tests share the
//! state and run side by side, so each uses names of its own ([`unique`]).

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, Request};
use http_body_util::BodyExt;
use serde_json::Value;
use strata::AppState;
use strata_core::config::Config;
use strata_core::db::{Repo, Visibility};
use tower::ServiceExt;

use super::{assert_schema, shared_jwt_key, LFS};

/// Where the shared state says it is served: links it hands out (signed transfer URLs) start
/// with it, and [`Call`] takes them back to paths.
pub const ORIGIN: &str = "http://api.strata.test";

/// The address every request comes from (what the accept loop puts in `ConnectInfo`).
const PEER: ([u8; 4], u16) = ([127, 0, 0, 1], 40000);

/// A request that takes longer than this fails its test instead of hanging it.
const BOUND: Duration = Duration::from_secs(120);

pub struct Api {
    pub state: AppState,
    /// The data directory's parent (`data/` holds the keys, repositories and objects).
    pub dir: tempfile::TempDir,
    pub url: String,
    app: axum::Router,
}

/// The runtime the shared state lives on.
fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("api-tier")
            .enable_all()
            .build()
            .expect("the API tier's runtime")
    })
}

/// Runs `fut` on the shared state's runtime; a panic in it is the caller's panic.
pub async fn on_runtime<F>(fut: F) -> F::Output
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    match runtime().spawn(fut).await {
        Ok(out) => out,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

/// The shared API, built by whichever test asks first.
pub async fn api() -> &'static Api {
    static API: tokio::sync::OnceCell<Api> = tokio::sync::OnceCell::const_new();
    API.get_or_init(|| on_runtime(build())).await
}

/// A name no other test uses: `prefix` and a random suffix (a valid user, organisation, dataset
/// or tag name).
pub fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..10]
    )
}

/// A directory under the target directory; those of earlier runs older than an hour go first
/// (the shared one outlives every test, so nothing else removes it).
fn data_dir() -> tempfile::TempDir {
    let root = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("strata-api-tier");
    std::fs::create_dir_all(&root).expect("the target's temporary directory");
    for entry in std::fs::read_dir(&root).into_iter().flatten().flatten() {
        let stale = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age.as_secs() > 3600);
        if stale {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
    tempfile::tempdir_in(&root).expect("a data directory")
}

async fn build() -> Api {
    let dir = data_dir();
    let key_file = dir.path().join("jwt.pem");
    std::fs::write(&key_file, shared_jwt_key()).unwrap();
    let mut config = Config::with_data_dir(dir.path().join("data"));
    config.public_url = Some(ORIGIN.to_owned());
    config.database_url = Some(super::database_url(dir.path()).await.into());
    config.jwt_key_file = Some(key_file);
    config.hook_exe = Some(PathBuf::from(env!("CARGO_BIN_EXE_strata")));
    let state = AppState::build(&config)
        .await
        .expect("the API tier's state");
    let app = strata::app(state.clone());
    Api {
        state,
        dir,
        url: ORIGIN.to_owned(),
        app,
    }
}

impl Api {
    pub fn get(&'static self, path: impl AsRef<str>) -> Call {
        self.request(Method::GET, path)
    }

    pub fn post(&'static self, path: impl AsRef<str>) -> Call {
        self.request(Method::POST, path)
    }

    pub fn put(&'static self, path: impl AsRef<str>) -> Call {
        self.request(Method::PUT, path)
    }

    pub fn patch(&'static self, path: impl AsRef<str>) -> Call {
        self.request(Method::PATCH, path)
    }

    pub fn delete(&'static self, path: impl AsRef<str>) -> Call {
        self.request(Method::DELETE, path)
    }

    /// A request to `path`, or to a URL the server handed out (its origin is taken off), read
    /// as an HTTP client reads a URL (reqwest, through the `url` crate): dot segments resolved,
    /// characters a path may not hold percent-encoded.
    pub fn request(&'static self, method: Method, path: impl AsRef<str>) -> Call {
        let path = path.as_ref();
        let path = path.strip_prefix(ORIGIN).unwrap_or(path);
        assert!(path.starts_with('/'), "not a path of this server: {path}");
        let url = url::Url::parse(&format!("{ORIGIN}{path}")).expect("a URL");
        let path = match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_owned(),
        };
        self.request_raw(method, &path)
    }

    /// A request to `path` exactly as written (a hostile client's `..` segments kept).
    pub fn request_raw(&'static self, method: Method, path: &str) -> Call {
        assert!(path.starts_with('/'), "not a path of this server: {path}");
        Call {
            api: self,
            method,
            path: path.to_owned(),
            headers: HeaderMap::new(),
            body: Bytes::new(),
        }
    }

    /// Runs `f` with the state, on the state's runtime (for what a test does besides requests).
    pub async fn on<F, Fut>(&'static self, f: F) -> Fut::Output
    where
        F: FnOnce(AppState) -> Fut,
        Fut: Future + Send + 'static,
        Fut::Output: Send + 'static,
    {
        on_runtime(f(self.state.clone())).await
    }

    /// Creates a user and a personal access token with all of their rights.
    pub async fn user(&'static self, name: &str) -> String {
        self.user_with(name, false, "*").await
    }

    pub async fn user_with(&'static self, name: &str, admin: bool, scopes: &str) -> String {
        let (name, scopes) = (name.to_owned(), scopes.to_owned());
        self.on(move |s| async move {
            strata::cli::admin::create_user(&s, &name, None, admin)
                .await
                .unwrap();
            strata::cli::admin::create_token(&s, &name, "test", &scopes, None)
                .await
                .unwrap()
        })
        .await
    }

    pub async fn repo(&'static self, path: &str, visibility: Visibility) -> Repo {
        let path = path.to_owned();
        self.on(move |s| async move {
            strata::cli::admin::create_repo(&s, &path, visibility, None)
                .await
                .unwrap()
        })
        .await
    }

    pub fn jwt(&self, sub: &str, scopes: &str, ttl: i64) -> String {
        strata::cli::admin::issue_jwt(&self.state, sub, scopes, ttl).unwrap()
    }

    /// The head revision of `repo`'s default branch as `token` sees it; `None` before the first
    /// commit.
    pub async fn head(&'static self, token: &str, repo: &str) -> Option<String> {
        let r = self
            .get(format!("/api/v1/datasets/{repo}"))
            .bearer(token)
            .send()
            .await;
        assert_eq!(r.status, 200, "{repo}");
        r.json()["revision"]["id"].as_str().map(str::to_owned)
    }

    pub fn batch_url(&self, repo: &str) -> String {
        format!("/{repo}.git/info/lfs/objects/batch")
    }

    pub fn lfs_url(&self, repo: &str) -> String {
        format!("/{repo}.git/info/lfs")
    }

    /// POSTs an LFS JSON body as git-lfs does, with Basic auth (`token` as password; `None` for
    /// anonymous).
    pub async fn lfs_post(&'static self, path: &str, token: Option<&str>, body: &Value) -> Reply {
        let mut call = self
            .post(path)
            .header("accept", LFS)
            .header("content-type", LFS)
            .header("user-agent", "git-lfs/3.6.1 (strata tests)")
            .body(body.to_string());
        if let Some(t) = token {
            call = call.basic("user", t);
        }
        call.send().await
    }

    /// Uploads `data` to `repo` through batch + PUT, checking each step (the local backend links
    /// during the PUT: no verify action).
    pub async fn upload(&'static self, repo: &str, token: &str, data: &[u8]) -> strata_lfs::Oid {
        let oid = strata_lfs::Oid::of(data);
        let req = serde_json::json!({"operation": "upload", "transfers": ["basic"],
            "objects": [{"oid": oid.to_string(), "size": data.len()}]});
        let (status, headers, v) = self
            .lfs_post(&self.batch_url(repo), Some(token), &req)
            .await
            .parts();
        assert_eq!(status, 200, "{v}");
        assert!(headers["content-type"].to_str().unwrap().starts_with(LFS));
        assert_schema("http-batch-response-schema.json", &v);
        let actions = &v["objects"][0]["actions"];
        assert!(actions["verify"].is_null(), "{v}");
        let mut put = self
            .put(actions["upload"]["href"].as_str().unwrap())
            .body(data.to_vec());
        if let Some(headers) = actions["upload"]["header"].as_object() {
            for (k, val) in headers {
                put = put.header(k, val.as_str().unwrap());
            }
        }
        let put = put.send().await;
        assert_eq!(put.status, 200, "{}", put.text());
        oid
    }
}

/// One request being built: `api.get(path).bearer(token).json(&body).send().await`.
#[must_use]
pub struct Call {
    api: &'static Api,
    method: Method,
    path: String,
    headers: HeaderMap,
    body: Bytes,
}

impl Call {
    pub fn header(mut self, name: &str, value: impl AsRef<str>) -> Call {
        let name = HeaderName::from_bytes(name.as_bytes()).expect("a header name");
        let value = HeaderValue::from_str(value.as_ref()).expect("a header value");
        self.headers.append(name, value);
        self
    }

    pub fn bearer(self, token: &str) -> Call {
        self.header("authorization", format!("Bearer {token}"))
    }

    /// HTTP Basic, as git and git-lfs send a token.
    pub fn basic(self, user: &str, password: &str) -> Call {
        use base64::Engine;
        let pair = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        self.header("authorization", format!("Basic {pair}"))
    }

    /// A JSON body, with `Content-Type: application/json`.
    pub fn json(mut self, value: &Value) -> Call {
        self.headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        self.body = Bytes::from(value.to_string());
        self
    }

    /// A body as it is, with no content type unless one is set.
    pub fn body(mut self, bytes: impl Into<Bytes>) -> Call {
        self.body = bytes.into();
        self
    }

    /// Sends the request through the router and reads the whole answer.
    pub async fn send(self) -> Reply {
        let mut req = Request::builder()
            .method(self.method.clone())
            .uri(&self.path)
            .body(Body::from(self.body))
            .expect("a request");
        *req.headers_mut() = self.headers;
        let host = ORIGIN.trim_start_matches("http://");
        req.headers_mut()
            .entry(header::HOST)
            .or_insert(HeaderValue::from_static(host));
        // What reqwest sends unless told otherwise.
        req.headers_mut()
            .entry(header::ACCEPT)
            .or_insert(HeaderValue::from_static("*/*"));
        req.extensions_mut()
            .insert(axum::extract::ConnectInfo(SocketAddr::from(PEER)));
        let app = self.api.app.clone();
        let what = format!("{} {}", self.method, self.path);
        let answer = on_runtime(async move {
            tokio::time::timeout(BOUND, async move {
                let response = app.oneshot(req).await.expect("the router never fails");
                let (parts, body) = response.into_parts();
                let body = body.collect().await.map(|b| b.to_bytes());
                (parts, body)
            })
            .await
        })
        .await;
        let (parts, body) = answer.unwrap_or_else(|_| panic!("{what}: no answer in {BOUND:?}"));
        Reply {
            status: parts.status.as_u16(),
            headers: parts.headers,
            body: body.unwrap_or_else(|e| panic!("{what}: the body broke off: {e}")),
        }
    }
}

/// A whole answer.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    /// The body as JSON; panics (with the body) when it is not.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Status, headers and the body as JSON, or as a JSON string when it is not JSON (what
    /// `common::body` gives for a reqwest response).
    pub fn parts(self) -> (u16, HeaderMap, Value) {
        let v = serde_json::from_slice(&self.body).unwrap_or_else(|_| Value::String(self.text()));
        (self.status, self.headers, v)
    }
}
