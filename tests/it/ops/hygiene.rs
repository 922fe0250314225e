//! HTTP hygiene: slow clients are cut off, every response says `nosniff`, a burst of logins is
//! served without a server error. Bad ref names as client errors: `api/commits.rs`.

use std::time::Duration;

use crate::common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Reads until the server closes the connection; what it sent.
async fn read_to_close(stream: &mut tokio::net::TcpStream) -> String {
    let mut out = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut out)).await;
    assert!(read.is_ok(), "the server kept a stalled connection open");
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_clients_are_cut_off() {
    let server = TestServer::start_with(Backend::Local, |c| {
        c.header_timeout_secs = 1;
        c.body_idle_timeout_secs = 1;
    })
    .await;
    let token = server.user("alice").await;
    let addr = server.url.trim_start_matches("http://").to_owned();

    // 50 connections that never finish their headers, one that stalls its body.
    let mut stalled = Vec::new();
    for _ in 0..50 {
        let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap();
        stalled.push(s);
    }
    let mut body = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "POST /api/v1/datasets HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{{\"namespace\""
    );
    body.write_all(head.as_bytes()).await.unwrap();

    // Meanwhile the server answers everyone else.
    let r = client()
        .get(format!("{}/healthz", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");

    for mut s in stalled {
        read_to_close(&mut s).await;
    }
    let answer = read_to_close(&mut body).await;
    assert!(!answer.starts_with("HTTP/1.1 2"), "{answer}");
    // Nothing was created from the cut-off body.
    let (_, _, v) = body_of(&server, &token).await;
    assert_eq!(v["datasets"].as_array().map_or(0, |d| d.len()), 0, "{v}");
}

async fn body_of(
    server: &TestServer,
    token: &str,
) -> (u16, reqwest::header::HeaderMap, serde_json::Value) {
    body(
        client()
            .get(format!("{}/api/v1/datasets", server.url))
            .bearer_auth(token)
            .send()
            .await
            .unwrap(),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_logins_is_served() {
    let server = TestServer::start().await;
    server.user("alice").await;
    strata::cli::admin::set_password(&server.state, "alice", "a long password 1")
        .await
        .unwrap();
    let url = server.url.clone();
    let mut tasks = Vec::new();
    for i in 0..24 {
        let url = url.clone();
        tasks.push(tokio::spawn(async move {
            let password = if i % 2 == 0 {
                "a long password 1"
            } else {
                "wrong password!!"
            };
            browser_login_status(&url, "alice", password).await
        }));
    }
    for t in tasks {
        let status = t.await.unwrap();
        assert!(status < 500, "a login answered {status}");
    }
}

/// The status of a login form post (with the login page's CSRF cookie).
async fn browser_login_status(url: &str, user: &str, password: &str) -> u16 {
    let c = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = c.get(format!("{url}/login")).send().await.unwrap();
    let cookie = page
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap().to_owned())
        .collect::<Vec<_>>()
        .join("; ");
    let html = page.text().await.unwrap();
    let csrf = html
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap_or_default()
        .to_owned();
    c.post(format!("{url}/login"))
        .header("cookie", cookie)
        .form(&[("username", user), ("password", password), ("csrf", &csrf)])
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}
