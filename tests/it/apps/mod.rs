//! Apps end to end with a small real app (`fixtures/apps/echo_app.py`, a Python `http.server`
//! under a stripped prefix): the catalog and consent, the first request starting one instance
//! however many arrive, the proxy (headers stripped, redirects and cookies rewritten, large bodies,
//! server-sent events, websockets), the injected token, who may use an instance, idle stops and
//! pauses, a crash shown with its log, uninstall, limits, the starting page, "open with", and
//! apps on their own origin. This file holds the shared harness (`Lab`); the tests are in
//! `catalog.rs`, `proxy.rs`, `lifecycle.rs` and `origin.rs`; `jupyter.rs` runs JupyterLab in
//! headless Chromium, `kube.rs` the Kubernetes runner against an emulator.

mod catalog;
mod consent;
mod defaults;
mod erase;
mod jupyter;
mod kube;
mod lifecycle;
mod origin;
mod proxy;
mod sandbox;
mod shared;

use std::time::Duration;

use serde_json::{json, Value};

use crate::common::*;

pub const ECHO_APP: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/apps/echo_app.py");

/// The echo app's manifest, with `extra` lines before its `[runner]` and `env` for it.
pub fn echo_manifest(id: &str, extra: &str, env: &str) -> String {
    format!(
        r#"id = "{id}"
name = "Echo {id}"
description = "Echoes what reaches it"
version = "1"
prefix = "strip"
health = "/health"
start_timeout_secs = 120
scopes = ["dataset:*:read"]
opens = ["csv"]
open = "/open?file={{file_url}}"
{extra}
[runner]
kind = "process"
command = "python3"
args = ["{ECHO_APP}", "--port", "{{port}}"]
env = {{ {env} }}
"#
    )
}

/// How long a test waits for an instance to start, or for any other condition of an instance: a
/// bound for a busy machine, never a time the test expects to need.
pub const START_BOUND: Duration = Duration::from_secs(180);

/// Waits until `check` holds (asked every 200 ms), for at most [`START_BOUND`]; `what` names
/// the condition when it never does.
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + START_BOUND;
    while !check().await {
        assert!(tokio::time::Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A server serving apps on its own origin, with an admin (`steward`), alice and bob.
pub struct Lab {
    pub server: TestServer,
    pub steward: String,
    pub alice: String,
    pub bob: String,
}

impl Lab {
    pub async fn start(tweak: impl FnOnce(&mut strata_core::config::Config)) -> Lab {
        let server = TestServer::start_with(Backend::Local, |c| {
            c.apps_same_origin = true;
            c.apps_cull_secs = 1;
            tweak(c);
        })
        .await;
        let steward = server.user_with("steward", true, "*").await;
        let alice = server.user("alice").await;
        let bob = server.user("bob").await;
        Lab {
            server,
            steward,
            alice,
            bob,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.url)
    }

    /// Adds a manifest to the catalog as the admin.
    pub async fn add(&self, manifest: &str) -> (u16, Value) {
        let r = client()
            .post(self.url("/api/v1/apps"))
            .bearer_auth(&self.steward)
            .header("content-type", "application/toml")
            .body(manifest.to_owned())
            .send()
            .await
            .unwrap();
        let (s, _, v) = body(r).await;
        (s, v)
    }

    /// Installs `app` for the owner of `token`, consenting to `scopes`.
    pub async fn install(&self, token: &str, app: &str, scopes: &[&str]) -> (u16, Value) {
        let r = client()
            .put(self.url(&format!("/api/v1/user/apps/{app}")))
            .bearer_auth(token)
            .json(&json!({ "scopes": scopes }))
            .send()
            .await
            .unwrap();
        let (s, _, v) = body(r).await;
        (s, v)
    }

    /// One GET of `path` with `token`.
    pub async fn get(&self, token: &str, path: impl AsRef<str>) -> reqwest::Response {
        client()
            .get(self.url(path.as_ref()))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    /// The text of `path` as the browser holding the session `cookie` sees it.
    pub async fn page(&self, cookie: &str, path: impl AsRef<str>) -> String {
        client()
            .get(self.url(path.as_ref()))
            .header("cookie", cookie)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// GET through the proxy as the owner of `token`, retrying while the app starts (for as long
    /// as a start may take: the manifests' `start_timeout_secs` and then some).
    pub async fn get_ready(&self, token: &str, path: &str) -> reqwest::Response {
        let deadline = tokio::time::Instant::now() + START_BOUND;
        loop {
            let r = client()
                .get(self.url(path))
                .bearer_auth(token)
                .send()
                .await
                .unwrap();
            if r.status() != 503 {
                return r;
            }
            assert!(r.headers().contains_key("retry-after"));
            assert!(
                tokio::time::Instant::now() < deadline,
                "{path} never got past 503"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// The number of times alice's `app` started (its working directory keeps a line per start).
    pub fn starts(&self, user: &str, app: &str) -> usize {
        std::fs::read_to_string(
            self.server
                .dir
                .path()
                .join(format!("data/apps/{user}/{app}/starts.log")),
        )
        .map(|s| s.lines().count())
        .unwrap_or(0)
    }

    pub async fn status(&self, token: &str, app: &str) -> String {
        let r = client()
            .get(self.url(&format!("/api/v1/user/apps/{app}")))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        let (s, _, v) = body(r).await;
        assert_eq!(s, 200, "{v}");
        v["status"].as_str().unwrap().to_owned()
    }

    /// alice's private dataset `alice/data` with `x.csv`.
    pub async fn alice_data(&self) {
        let r = client()
            .post(self.url("/api/v1/datasets"))
            .bearer_auth(&self.alice)
            .json(&json!({"namespace": "alice", "name": "data", "visibility": "private"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        let head: Value = client()
            .get(self.url("/api/v1/datasets/alice/data"))
            .bearer_auth(&self.alice)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let lines = [
            json!({"key": "header", "value": {"summary": "data", "parent": head["revision"]["id"]}}),
            json!({"key": "file", "value": {"path": "x.csv", "content": "a,b\n1,2\n"}}),
        ]
        .map(|l| l.to_string())
        .join("\n");
        let r = client()
            .post(self.url("/api/v1/datasets/alice/data/commit"))
            .bearer_auth(&self.alice)
            .header("content-type", "application/x-ndjson")
            .body(lines)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    }
}

/// A browser session for `user` (given a password first).
pub async fn session_of(lab: &Lab, user: &str) -> (String, String) {
    strata::cli::admin::set_password(&lab.server.state, user, "a long password 1")
        .await
        .unwrap();
    browser_session(&lab.server.url, user, "a long password 1").await
}

/// Checks an error answer: its status, the words in its message, and its request id.
pub async fn expect_error(r: reqwest::Response, status: u16, words: &str) {
    let (s, headers, v) = body(r).await;
    assert_error_body(s, &headers, &v, status);
    assert!(
        v["message"].as_str().unwrap().contains(words),
        "{words}: {v}"
    );
}
