//! The proxy with the small app: one start for concurrent first requests, what passes and what
//! does not (strata's cookies, `Authorization`, the app's attempts at strata cookies), redirects
//! and paths under a stripped prefix, large bodies, server-sent events, a websocket, the app's
//! environment and token, and who gets in.

use std::time::Duration;

use serde_json::{json, Value};

use super::*;
use crate::common::*;

#[tokio::test]
async fn concurrent_first_requests_start_one_instance_and_the_proxy_passes_everything_but_strata_secrets(
) {
    let lab = Lab::start(|_| {}).await;
    // Its roles: each platform role mapped to one of the app's.
    let roles = "[roles]\nmap = { admin = \"boss\", engineer = \"builder\", scientist = \"builder\", analyst = \"reader\", viewer = \"reader\" }\n";
    lab.add(&echo_manifest("echo", roles, "")).await;
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
    let alice = lab
        .server
        .state
        .db
        .user_by_name("alice")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(headers["x-strata-roles"], alice.role.as_str());
    let in_app = match alice.role.as_str() {
        "admin" => "boss",
        "engineer" | "scientist" => "builder",
        _ => "reader",
    };
    assert_eq!(headers["x-strata-app-roles"], in_app, "{headers}");
    assert_eq!(headers["x-forwarded-prefix"], "/apps/alice/echo");
    assert_eq!(lab.status(&lab.alice, "echo").await, "running");
    // What runs, with the sha256 of the executable it was started from.
    let one: Value = lab
        .get(&lab.alice, "/api/v1/user/apps/echo")
        .await
        .json()
        .await
        .unwrap();
    let python = std::env::split_paths(&std::env::var_os("PATH").unwrap())
        .map(|d| d.join("python3"))
        .find(|p| p.is_file())
        .unwrap();
    assert_eq!(one["runs"], "python3", "{one}");
    assert_eq!(
        one["digest"],
        format!("sha256:{}", sha256_hex(&std::fs::read(&python).unwrap())),
        "{one}"
    );
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
    let r = lab.get(&lab.alice, "/apps/ALICE/echo/headers?x=1").await;
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
    let mut r = lab.get(&lab.alice, "/apps/alice/echo/sse").await;
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
    let r = lab.get(token.trim(), "/apps/alice/echo/headers").await;
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
    let r = lab.get(&lab.alice, "/apps/nobody/echo/").await;
    assert_eq!(r.status(), 404);
    // A narrower token of alice's does not reach her apps.
    let narrow = strata::cli::admin::create_token(
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

/// bob, sharing alice's instance, cannot pass for her (or for the proxy) with a header spelt
/// with underscores, another case, or twice: a CGI or WSGI app reads `X_Strata_User` as
/// `HTTP_X_STRATA_USER` too, so every such header is dropped before strata adds its own.
#[tokio::test]
async fn headers_spelt_like_strata_s_own_never_reach_the_app() {
    let lab = Lab::start(|_| {}).await;
    lab.add(&echo_manifest("echo", "", "")).await;
    lab.install(&lab.alice, "echo", &["dataset:*:read"]).await;
    let r = client()
        .put(lab.url("/api/v1/user/apps/echo/shares/bob"))
        .bearer_auth(&lab.alice)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    lab.get_ready(&lab.bob, "/apps/alice/echo/health").await;
    let r = client()
        .get(lab.url("/apps/alice/echo/headers"))
        .bearer_auth(&lab.bob)
        .header("X_Strata_User", "alice")
        .header("X-Strata-Roles", "admin")
        .header("x-strata-user", "alice")
        .header("X-STRATA_USER", "alice")
        .header("x_strata_app", "other")
        .header("X-Strata-App-Roles", "boss")
        .header("X_Forwarded_For", "10.9.8.7")
        .header("x-forwarded_prefix", "/apps/alice/other")
        .header("X-Forwarded-Host", "evil.example")
        .header("Forwarded", "for=10.9.8.7")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let seen: Value = r.json().await.unwrap();
    let ours = [
        "x-strata-user",
        "x-strata-roles",
        "x-strata-app-roles",
        "x-forwarded-for",
        "x-forwarded-host",
        "x-forwarded-proto",
        "x-forwarded-prefix",
    ];
    for (name, _) in seen.as_object().unwrap() {
        let n = name.replace('_', "-");
        if n.starts_with("x-strata-") || n.starts_with("x-forwarded-") || n == "forwarded" {
            assert!(
                ours.contains(&name.as_str()),
                "{name} reached the app: {seen}"
            );
        }
    }
    assert_eq!(seen["x-strata-user"], "bob", "{seen}");
    // bob's own platform role, never the one he claimed.
    let bob = lab
        .server
        .state
        .db
        .user_by_name("bob")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(seen["x-strata-roles"], bob.roles().join(","), "{seen}");
    // No role in an app whose manifest maps none, whatever he claimed.
    assert_eq!(seen["x-strata-app-roles"], "", "{seen}");
    assert!(!bob.admin());
    assert_eq!(seen["x-forwarded-for"], "127.0.0.1", "{seen}");
    assert_eq!(seen["x-forwarded-prefix"], "/apps/alice/echo", "{seen}");
    assert_eq!(
        seen["x-forwarded-host"],
        lab.server.url.trim_start_matches("http://"),
        "{seen}"
    );
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

#[tokio::test]
async fn a_process_app_pinned_to_another_executable_does_not_start() {
    let lab = Lab::start(|_| {}).await;
    let pinned = format!(
        "{}sha256 = \"{}\"\n",
        echo_manifest("echo", "", ""),
        "0".repeat(64)
    );
    let (s, v) = lab.add(&pinned).await;
    assert_eq!(s, 201, "{v}");
    lab.install(&lab.alice, "echo", &["dataset:*:read"]).await;
    let r = client()
        .get(lab.url("/apps/alice/echo/health"))
        .bearer_auth(&lab.alice)
        .send()
        .await
        .unwrap();
    assert!(!r.status().is_success(), "{}", r.status());
    let one: Value = lab
        .get(&lab.alice, "/api/v1/user/apps/echo")
        .await
        .json()
        .await
        .unwrap();
    let error = one["error"].as_str().unwrap_or_default();
    assert!(error.contains("not to the manifest's pin"), "{one}");
    assert_eq!(lab.starts("alice", "echo"), 0, "nothing ran");
    // Uninstalled, its working directory and token file go with it.
    let home = lab.server.dir.path().join("data/apps/alice/echo");
    assert!(home.exists(), "{}", home.display());
    let r = client()
        .delete(lab.url("/api/v1/user/apps/echo"))
        .bearer_auth(&lab.alice)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    assert!(!home.exists(), "{}", home.display());
    // A pin that is no sha256 is refused with the manifest.
    let bad = format!("{}sha256 = \"abc\"\n", echo_manifest("echo2", "", ""));
    let (s, v) = lab.add(&bad).await;
    assert_eq!(s, 422, "{v}");
}
