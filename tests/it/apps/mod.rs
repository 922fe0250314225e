//! Apps end to end with a small real app (`fixtures/apps/echo_app.py`, a Python `http.server`
//! under a stripped prefix): the catalog and consent, the first request starting one instance
//! however many arrive, the proxy (headers stripped, redirects and cookies rewritten, large bodies,
//! server-sent events, websockets), the injected token, who may use an instance, idle stops and
//! pauses, a crash shown with its log, uninstall, limits, the starting page, "open with", and
//! apps on their own origin. `jupyter.rs`: JupyterLab in headless Chromium.

mod jupyter;
mod kube;
mod origin;

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
start_timeout_secs = 20
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

/// A server serving apps on its own origin, with an admin (`steward`), alice and bob.
pub struct Lab {
    pub server: TestServer,
    pub steward: String,
    pub alice: String,
    pub bob: String,
}

impl Lab {
    pub async fn start(tweak: impl FnOnce(&mut strata::config::Config)) -> Lab {
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

    /// GET through the proxy as the owner of `token`, retrying while the app starts.
    pub async fn get_ready(&self, token: &str, path: &str) -> reqwest::Response {
        for _ in 0..100 {
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
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        panic!("{path} never got past 503");
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

#[tokio::test]
async fn the_catalog_takes_manifests_from_engineers_and_installs_need_consent() {
    let lab = Lab::start(|_| {}).await;
    // Only admins and engineers add apps; bad manifests say why.
    let r = client()
        .post(lab.url("/api/v1/apps"))
        .bearer_auth(&lab.alice)
        .body(echo_manifest("echo", "", ""))
        .send()
        .await
        .unwrap();
    expect_error(r, 403, "admins and engineers").await;
    let (s, v) = lab
        .add(&echo_manifest("x", "", "").replace("id = \"x\"", "id = \"Bad Id\""))
        .await;
    assert_eq!(s, 422, "{v}");
    assert!(v["message"].as_str().unwrap().contains("id"), "{v}");
    let (s, v) = lab
        .add(&echo_manifest("greedy", "", "").replace("dataset:*:read", "*"))
        .await;
    assert_eq!(s, 422, "{v}");
    assert!(v["message"]
        .as_str()
        .unwrap()
        .contains("all of the user's rights"));
    let (s, v) = lab
        .add(&echo_manifest("sneaky", "", "").replace("dataset:*:read", "dataset:*:read,admin"))
        .await;
    assert_eq!(s, 422, "{v}");
    let (s, v) = lab.add(&echo_manifest("echo", "", "")).await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["scopes"], json!(["dataset:*:read"]));
    let list: Value = client()
        .get(lab.url("/api/v1/apps"))
        .bearer_auth(&lab.bob)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list[0]["id"], "echo");
    assert_eq!(list[0]["source"], "api");
    let r = client().get(lab.url("/api/v1/apps")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    // Consent is to exactly what the app asks for.
    let (s, v) = lab.install(&lab.alice, "echo", &[]).await;
    assert_eq!(s, 422, "{v}");
    assert_eq!(v["scopes"], json!(["dataset:*:read"]));
    let (s, v) = lab
        .install(&lab.alice, "echo", &["dataset:*:read", "dataset:*:write"])
        .await;
    assert_eq!(s, 422, "{v}");
    let (s, v) = lab.install(&lab.alice, "nope", &[]).await;
    assert_eq!(s, 404, "{v}");
    let (s, v) = lab.install(&lab.alice, "echo", &["dataset:*:read"]).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["status"], "stopped");
    assert_eq!(
        v["url"],
        format!("{}/apps/alice/echo/", lab.server.url).as_str()
    );
    // Uninstall, then again: 404. The admin removes the app from the catalog.
    let r = client()
        .delete(lab.url("/api/v1/user/apps/echo"))
        .bearer_auth(&lab.alice)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let r = client()
        .delete(lab.url("/api/v1/user/apps/echo"))
        .bearer_auth(&lab.alice)
        .send()
        .await
        .unwrap();
    expect_error(r, 404, "not installed").await;
    let r = client()
        .delete(lab.url("/api/v1/apps/echo"))
        .bearer_auth(&lab.steward)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let (s, _) = lab.install(&lab.alice, "echo", &["dataset:*:read"]).await;
    assert_eq!(s, 404);
}

#[tokio::test]
async fn concurrent_first_requests_start_one_instance_and_the_proxy_passes_everything_but_strata_secrets(
) {
    let lab = Lab::start(|_| {}).await;
    lab.add(&echo_manifest("echo", "", "")).await;
    lab.install(&lab.alice, "echo", &["dataset:*:read"]).await;
    lab.alice_data().await;
    let mut waits = Vec::new();
    for _ in 0..8 {
        let (url, token) = (lab.url("/apps/alice/echo/headers"), lab.alice.clone());
        waits.push(tokio::spawn(async move {
            loop {
                let r = client()
                    .get(&url)
                    .bearer_auth(&token)
                    .header("cookie", "strata_session=abc; theirs=1")
                    .send()
                    .await
                    .unwrap();
                if r.status() != 503 {
                    return r;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }));
    }
    let mut seen = Vec::new();
    for w in waits {
        let r = w.await.unwrap();
        assert_eq!(r.status(), 200);
        seen.push(r.json::<Value>().await.unwrap());
    }
    assert_eq!(
        lab.starts("alice", "echo"),
        1,
        "one start for eight requests"
    );
    let headers = &seen[0];
    assert!(headers.get("authorization").is_none(), "{headers}");
    assert_eq!(
        headers["cookie"], "theirs=1",
        "strata's cookies reached the app"
    );
    assert_eq!(headers["x-strata-user"], "alice");
    assert_eq!(headers["x-forwarded-prefix"], "/apps/alice/echo");
    assert_eq!(lab.status(&lab.alice, "echo").await, "running");
    let metrics = client()
        .get(lab.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("strata_app_instances{state=\"running\"} 1\n"),
        "{metrics}"
    );

    // A redirect of the app stays under its prefix; it cannot set strata's cookies.
    let r = lab.get_ready(&lab.alice, "/apps/alice/echo/redirect").await;
    assert_eq!(r.status(), 302);
    assert_eq!(r.headers()["location"], "/apps/alice/echo/headers");
    let cookies: Vec<&str> = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert_eq!(cookies, ["echo=1; Path=/apps/alice/echo/"]);
    // Under a stripped prefix, the rest of the path arrives as the client encoded it.
    let v: Value = lab
        .get_ready(&lab.alice, "/apps/alice/echo/path/a%3Fb%20c/%2F?x=1&y=%26")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["path"], "/path/a%3Fb%20c/%2F?x=1&y=%26");
    // One spelling of the owner's name.
    let r = client()
        .get(lab.url("/apps/ALICE/echo/headers?x=1"))
        .bearer_auth(&lab.alice)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 308);
    assert_eq!(r.headers()["location"], "/apps/alice/echo/headers?x=1");
    // /apps/alice/echo without the slash goes to it.
    let r = client()
        .get(lab.url("/apps/alice/echo?x=1"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 308);
    assert_eq!(r.headers()["location"], "/apps/alice/echo/?x=1");

    // Large bodies stream both ways.
    let big: Vec<u8> = (0..24u32 << 20).map(|i| (i % 251) as u8).collect();
    let r = client()
        .post(lab.url("/apps/alice/echo/echo"))
        .bearer_auth(&lab.alice)
        .body(big.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let back = r.bytes().await.unwrap();
    assert_eq!(sha256_hex(&back), sha256_hex(&big));

    // Server-sent events arrive as they are sent.
    let mut r = client()
        .get(lab.url("/apps/alice/echo/sse"))
        .bearer_auth(&lab.alice)
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["content-type"], "text/event-stream");
    let first = r.chunk().await.unwrap().unwrap();
    assert_eq!(&first[..], b"data: tick 0\n\n");

    // A websocket echoes through the proxy.
    let echoed = ws_echo(&lab.server.url, "/apps/alice/echo/ws", &lab.alice, b"hello").await;
    assert_eq!(echoed, b"hello");

    // The app's environment, and the token it reads: alice's data, within the consented scopes.
    let env: Value = lab
        .get_ready(&lab.alice, "/apps/alice/echo/env")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(env["STRATA_BASE_URL"], "/apps/alice/echo/");
    assert_eq!(
        env["STRATA_API_URL"],
        format!("{}/api/v1", lab.server.url).as_str()
    );
    assert!(env.get("STRATA_TOKEN").is_none());
    let token_file = env["STRATA_TOKEN_FILE"].as_str().unwrap().to_owned();
    assert!(
        !token_file.starts_with(env["HOME"].as_str().unwrap()),
        "the token lives outside the app's working directory"
    );
    let read = |url: String| {
        let lab = &lab;
        async move {
            let q = serde_urlencoded::to_string([("url", url)]).unwrap();
            let v: Value = lab
                .get_ready(&lab.alice, &format!("/apps/alice/echo/read?{q}"))
                .await
                .json()
                .await
                .unwrap();
            v
        }
    };
    let v = read(lab.url("/api/v1/datasets/alice/data/raw/x.csv")).await;
    assert_eq!(v["status"], 200, "{v}");
    assert_eq!(v["body"], "a,b\n1,2\n");
    // Its scopes read, never write, and never mint anything wider.
    let token = std::fs::read_to_string(&token_file).unwrap();
    let r = client()
        .post(lab.url("/api/v1/datasets"))
        .bearer_auth(token.trim())
        .json(&json!({"namespace": "alice", "name": "sneaky", "visibility": "private"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = client()
        .get(lab.url("/apps/alice/echo/headers"))
        .bearer_auth(token.trim())
        .send()
        .await
        .unwrap();
    expect_error(r, 403, "the * scope").await;
}

#[tokio::test]
async fn only_the_owner_and_those_they_share_with_get_in() {
    let lab = Lab::start(|_| {}).await;
    lab.add(&echo_manifest("echo", "", "")).await;
    lab.install(&lab.alice, "echo", &["dataset:*:read"]).await;
    let get = |token: Option<String>, accept: &'static str| {
        let url = lab.url("/apps/alice/echo/headers");
        async move {
            let mut r = client().get(url).header("accept", accept);
            if let Some(t) = token {
                r = r.bearer_auth(t);
            }
            r.send().await.unwrap()
        }
    };
    let r = get(Some(lab.bob.clone()), "application/json").await;
    expect_error(r, 403, "only alice").await;
    let r = get(None, "application/json").await;
    assert_eq!(r.status(), 401);
    let r = get(None, "text/html").await;
    assert_eq!(r.status(), 303);
    assert!(r.headers()["location"]
        .to_str()
        .unwrap()
        .contains("/login?next=%2Fapps%2Falice%2Fecho%2Fheaders"));
    let r = client()
        .get(lab.url("/apps/nobody/echo/"))
        .bearer_auth(&lab.alice)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    // A narrower token of alice's does not reach her apps.
    let narrow = strata::admin::create_token(
        &lab.server.state,
        "alice",
        "narrow",
        "dataset:alice/*:read",
        None,
    )
    .await
    .unwrap();
    let r = get(Some(narrow), "application/json").await;
    expect_error(r, 403, "the * scope").await;
    // Shared with bob: he gets in (as alice's app); unshared: out again.
    let share = |method: reqwest::Method| {
        let url = lab.url("/api/v1/user/apps/echo/shares/bob");
        let token = lab.alice.clone();
        async move {
            client()
                .request(method, url)
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(share(reqwest::Method::PUT).await, 204);
    let r = lab.get_ready(&lab.bob, "/apps/alice/echo/headers").await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["x-strata-user"], "bob");
    assert_eq!(share(reqwest::Method::DELETE).await, 204);
    assert_eq!(share(reqwest::Method::DELETE).await, 404);
    let r = get(Some(lab.bob.clone()), "application/json").await;
    assert_eq!(r.status(), 403);
}

#[tokio::test]
async fn idle_instances_stop_or_pause_and_the_next_request_brings_them_back() {
    let lab = Lab::start(|_| {}).await;
    lab.add(&echo_manifest("echo", "idle_timeout_secs = 5", ""))
        .await;
    lab.add(&echo_manifest(
        "sleepy",
        "idle_timeout_secs = 5\non_idle = \"pause\"",
        "",
    ))
    .await;
    lab.install(&lab.alice, "echo", &["dataset:*:read"]).await;
    lab.install(&lab.alice, "sleepy", &["dataset:*:read"]).await;
    assert_eq!(
        lab.get_ready(&lab.alice, "/apps/alice/echo/health")
            .await
            .status(),
        200
    );
    assert_eq!(
        lab.get_ready(&lab.alice, "/apps/alice/sleepy/health")
            .await
            .status(),
        200
    );
    // Activity keeps them: a request every second for six seconds.
    for _ in 0..6 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        lab.get_ready(&lab.alice, "/apps/alice/echo/health").await;
    }
    assert_eq!(lab.status(&lab.alice, "echo").await, "running");
    let mut stopped = false;
    for _ in 0..40 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        if lab.status(&lab.alice, "echo").await == "stopped"
            && lab.status(&lab.alice, "sleepy").await == "paused"
        {
            stopped = true;
            break;
        }
    }
    assert!(stopped, "idle instances were not stopped and paused");
    assert_eq!(lab.starts("alice", "echo"), 1);
    // The next request starts the stopped one again (its working directory kept), and resumes
    // the paused one without a start.
    assert_eq!(
        lab.get_ready(&lab.alice, "/apps/alice/echo/health")
            .await
            .status(),
        200
    );
    assert_eq!(lab.starts("alice", "echo"), 2);
    let r = lab.get_ready(&lab.alice, "/apps/alice/sleepy/health").await;
    assert_eq!(r.status(), 200);
    assert_eq!(lab.starts("alice", "sleepy"), 1);
    assert_eq!(lab.status(&lab.alice, "sleepy").await, "running");
}

#[tokio::test]
async fn a_crash_shows_its_log_and_the_next_request_tries_again() {
    let lab = Lab::start(|_| {}).await;
    lab.add(&echo_manifest("crashy", "", "ECHO_CRASH = \"1\""))
        .await;
    lab.install(&lab.alice, "crashy", &["dataset:*:read"]).await;
    let r = lab.get_ready(&lab.alice, "/apps/alice/crashy/").await;
    let (status, _, v) = body(r).await;
    assert_eq!(status, 502, "{v}");
    assert!(v["message"].as_str().unwrap().contains("exited"), "{v}");
    let log = v["log"].to_string();
    assert!(
        log.contains("boom: the echo app was told to crash"),
        "{log}"
    );
    assert!(v["request_id"].is_string());
    // In a browser: the failure as a page, with the log.
    let (cookie, _) = session_of(&lab, "alice").await;
    let r = client()
        .get(lab.url("/apps/alice/crashy/"))
        .header("cookie", &cookie)
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 502);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("boom: the echo app was told to crash"),
        "{html}"
    );
    assert!(html.contains("Try again"));
    // That showed the failure: this one starts again (and fails again).
    let before = lab.starts("alice", "crashy");
    let r = lab.get_ready(&lab.alice, "/apps/alice/crashy/").await;
    assert_eq!(r.status(), 502);
    assert_eq!(lab.starts("alice", "crashy"), before + 1);
}

/// A browser session for `user` (given a password first).
pub async fn session_of(lab: &Lab, user: &str) -> (String, String) {
    strata::admin::set_password(&lab.server.state, user, "a long password 1")
        .await
        .unwrap();
    browser_session(&lab.server.url, user, "a long password 1").await
}

#[tokio::test]
async fn a_slow_start_shows_a_starting_page_and_limits_and_uninstall_hold() {
    let lab = Lab::start(|c| c.apps_max_instances = 1).await;
    lab.add(&echo_manifest("slow", "", "ECHO_SLOW_START = \"4\""))
        .await;
    lab.add(&echo_manifest("echo", "", "")).await;
    lab.install(&lab.alice, "slow", &["dataset:*:read"]).await;
    lab.install(&lab.alice, "echo", &["dataset:*:read"]).await;
    let (cookie, _) = session_of(&lab, "alice").await;
    let r = client()
        .get(lab.url("/apps/alice/slow/"))
        .header("cookie", &cookie)
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    assert_eq!(r.headers()["retry-after"], "1");
    let html = r.text().await.unwrap();
    assert!(html.contains("is starting"), "{html}");
    assert!(html.contains("http-equiv=\"refresh\""));
    let r = client()
        .get(lab.url("/apps/alice/slow/"))
        .bearer_auth(&lab.alice)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    assert!(r.headers().contains_key("retry-after"));
    // One instance per user here: a second app is refused while the first runs.
    let r = client()
        .get(lab.url("/apps/alice/echo/"))
        .bearer_auth(&lab.alice)
        .send()
        .await
        .unwrap();
    expect_error(r, 429, "already runs 1").await;
    assert_eq!(
        lab.get_ready(&lab.alice, "/apps/alice/slow/health")
            .await
            .status(),
        200
    );
    // Uninstalling stops the instance and revokes its token.
    let env: Value = lab
        .get_ready(&lab.alice, "/apps/alice/slow/env")
        .await
        .json()
        .await
        .unwrap();
    let token = std::fs::read_to_string(env["STRATA_TOKEN_FILE"].as_str().unwrap()).unwrap();
    let port: u16 = env["PORT"].as_str().unwrap().parse().unwrap();
    let r = client()
        .get(lab.url("/api/v1/user/apps"))
        .bearer_auth(token.trim())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "an app token is no account token");
    let r = client()
        .get(lab.url("/api/v1/datasets"))
        .bearer_auth(token.trim())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = client()
        .delete(lab.url("/api/v1/user/apps/slow"))
        .bearer_auth(&lab.alice)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "the uninstalled app still listens"
    );
    let r = client()
        .get(lab.url("/api/v1/datasets"))
        .bearer_auth(token.trim())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "the uninstalled app's token still works");
    // Now the other app may start.
    assert_eq!(
        lab.get_ready(&lab.alice, "/apps/alice/echo/health")
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn open_with_goes_through_the_read_gate_and_the_app_reads_the_file_with_its_token() {
    let lab = Lab::start(|_| {}).await;
    lab.add(&echo_manifest("echo", "", "")).await;
    lab.install(&lab.alice, "echo", &["dataset:*:read"]).await;
    lab.install(&lab.bob, "echo", &["dataset:*:read"]).await;
    lab.alice_data().await;
    let (cookie, _) = session_of(&lab, "alice").await;
    let page = client()
        .get(lab.url("/datasets/alice/data/files/x.csv"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Open with Echo echo"), "{page}");
    let r = client()
        .get(lab.url("/app-catalog/echo/open?dataset=alice%2Fdata&path=x.csv"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let to = r.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        to.starts_with(&lab.url("/apps/alice/echo/open?file=")),
        "{to}"
    );
    let v: Value = lab
        .get_ready(&lab.alice, to.strip_prefix(&lab.server.url).unwrap())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["status"], 200, "{v}");
    assert_eq!(v["body"], "a,b\n1,2\n");
    // bob may not read alice's private file: no link for him.
    let (bob_cookie, _) = session_of(&lab, "bob").await;
    let r = client()
        .get(lab.url("/app-catalog/echo/open?dataset=alice%2Fdata&path=x.csv"))
        .header("cookie", &bob_cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn apps_are_off_unless_the_admin_says_where() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let r = client()
        .get(format!("{}/apps/alice/echo/", server.url))
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap();
    expect_error(r, 404, "--apps-origin").await;
    // Both at once, a bad origin, or strata's own origin as the apps origin: refused at start.
    for (origin, same, words) in [
        (Some("http://apps.example"), true, "exclude each other"),
        (Some("ftp://apps.example"), false, "must be an origin"),
        (Some("http://apps.example/path"), false, "must be an origin"),
        (Some("http://apps.*.example"), false, "must be an origin"),
    ] {
        let mut config = strata::config::Config::with_data_dir(server.dir.path().join("other"));
        config.apps_origin = origin.map(str::to_owned);
        config.apps_same_origin = same;
        let e = strata::state::AppState::build(&config).await.err().unwrap();
        assert!(e.to_string().contains(words), "{e}");
    }
}

/// One websocket round trip through `path` (a text frame of `msg`, masked as a client must):
/// what came back.
pub async fn ws_echo(base: &str, path: &str, token: &str, msg: &[u8]) -> Vec<u8> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = base.trim_start_matches("http://");
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
         Authorization: Bearer {token}\r\n\r\n"
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut b = [0u8; 1];
        s.read_exact(&mut b).await.unwrap();
        head.push(b[0]);
    }
    let head = String::from_utf8(head).unwrap();
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    assert!(head.contains("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="), "{head}");
    ws_round_trip(&mut s, msg).await
}

/// Sends one masked text frame and reads the one that comes back.
pub async fn ws_round_trip(s: &mut tokio::net::TcpStream, msg: &[u8]) -> Vec<u8> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    assert!(msg.len() < 126);
    let mask = [1u8, 2, 3, 4];
    let mut frame = vec![0x81, 0x80 | msg.len() as u8];
    frame.extend_from_slice(&mask);
    frame.extend(msg.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    s.write_all(&frame).await.unwrap();
    let mut h = [0u8; 2];
    s.read_exact(&mut h).await.unwrap();
    assert_eq!(h[0], 0x81);
    let mut data = vec![0u8; (h[1] & 0x7f) as usize];
    s.read_exact(&mut data).await.unwrap();
    data
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
