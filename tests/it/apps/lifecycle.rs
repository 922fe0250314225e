//! Instances over time with the small app: idle stops and pauses, a crash shown with its log and
//! retried, a slow start's page, per-user limits, and uninstall stopping the instance and killing
//! its token.

use std::time::Duration;

use serde_json::Value;

use super::*;
use crate::common::*;

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
    eventually("idle instances stopped and paused", || async {
        lab.status(&lab.alice, "echo").await == "stopped"
            && lab.status(&lab.alice, "sleepy").await == "paused"
    })
    .await;
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
    // In a browser: the failure as a page, with the log (once the start that this request made,
    // the failure having been shown, failed too: a starting page until then).
    let (cookie, _) = session_of(&lab, "alice").await;
    let page = std::sync::Mutex::new(None);
    eventually("the browser saw the failure", || async {
        let r = client()
            .get(lab.url("/apps/alice/crashy/"))
            .header("cookie", &cookie)
            .header("accept", "text/html")
            .send()
            .await
            .unwrap();
        if r.status() == 503 {
            return false;
        }
        *page.lock().unwrap() = Some(r);
        true
    })
    .await;
    let r = page.into_inner().unwrap().unwrap();
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

#[tokio::test]
async fn a_slow_start_shows_a_starting_page_and_limits_and_uninstall_hold() {
    let lab = Lab::start(|c| c.apps_max_instances = 1).await;
    // It listens once the test says so: starting for as long as the test looks at it.
    lab.add(&echo_manifest("slow", "", "ECHO_START_WHEN = \"go\""))
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
    let r = lab.get(&lab.alice, "/apps/alice/slow/").await;
    assert_eq!(r.status(), 503);
    assert!(r.headers().contains_key("retry-after"));
    // One instance per user here: a second app is refused while the first runs.
    let r = lab.get(&lab.alice, "/apps/alice/echo/").await;
    expect_error(r, 429, "already runs 1").await;
    let home = lab.server.dir.path().join("data/apps/alice/slow");
    std::fs::write(home.join("go"), "").unwrap();
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
    let r = lab.get(token.trim(), "/api/v1/user/apps").await;
    assert_eq!(r.status(), 403, "an app token is no account token");
    let r = lab.get(token.trim(), "/api/v1/datasets").await;
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
    let r = lab.get(token.trim(), "/api/v1/datasets").await;
    assert_eq!(r.status(), 401, "the uninstalled app's token still works");
    // Now the other app may start.
    assert_eq!(
        lab.get_ready(&lab.alice, "/apps/alice/echo/health")
            .await
            .status(),
        200
    );
}
