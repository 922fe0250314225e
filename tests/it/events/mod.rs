//! Webhooks: events of commits, tags and branches delivered to a real receiver and checked with
//! the `standardwebhooks` reference verifier (signatures, the secret's rotation with its overlap),
//! filtered by kind, branch and path; the delivery log, failures retried and redelivered by hand,
//! redirects not followed; with both ref keepers (the ledger records events in the move's own
//! transaction). Every bad request (targets that would probe the server's own network, unknown
//! kinds, bad globs, strangers and non-admins) is in the API tier, `api/webhooks.rs`. `kinds`:
//! the events that are no ref move (shares, links, merge requests, contracts, policies),
//! namespace webhooks, notifications and the pages; `stream`: the event stream; `replicas`:
//! events under replicas that die.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};
use strata_core::config::{Refs, Switch};

use crate::common::*;

mod kinds;
mod replicas;
pub(crate) mod stream;

use stream::sse_events;

const API: &str = "/api/v1/datasets";

/// The receiver: its port, and the requests it got, as JSON lines.
pub(crate) struct Receiver {
    child: Child,
    port: u16,
    lines: std::sync::mpsc::Receiver<String>,
    got: Vec<Value>,
}

impl Receiver {
    pub(crate) fn start() -> Receiver {
        let mut child = Command::new(python_tool("python"))
            .arg(format!(
                "{}/tests/it/webhook_receiver.py",
                env!("CARGO_MANIFEST_DIR")
            ))
            .arg("serve")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut port = String::new();
        out.read_line(&mut port).unwrap();
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in out.lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Receiver {
            child,
            port: port.trim().parse().unwrap(),
            lines,
            got: Vec::new(),
        }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Waits for `n` requests in all (at most 30 s).
    pub(crate) async fn wait_for(&mut self, n: usize) -> &[Value] {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while self.got.len() < n && std::time::Instant::now() < deadline {
            match self.lines.try_recv() {
                Ok(line) => self.got.push(serde_json::from_str(&line).unwrap()),
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
        assert!(
            self.got.len() >= n,
            "{} requests, not {n}: {:?}",
            self.got.len(),
            self.got
        );
        &self.got
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The reference verifier's verdict on each of `requests` under `secret`.
fn verify(requests: &[Value], secret: &str) -> Vec<Value> {
    verdicts(
        "tests/it/webhook_receiver.py",
        &["verify", secret],
        requests,
    )
}

/// The verdicts a checking script (`script`, from the project's root, run with `args`) prints,
/// a JSON line each, on the receiver's `requests` given on its standard input.
pub(crate) fn verdicts(script: &str, args: &[&str], requests: &[Value]) -> Vec<Value> {
    let mut child = Command::new(python_tool("python"))
        .arg(format!("{}/{script}", env!("CARGO_MANIFEST_DIR")))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    for r in requests {
        writeln!(stdin, "{r}").unwrap();
    }
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

async fn call(
    method: reqwest::Method,
    url: &str,
    token: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut r = client().request(method, url).bearer_auth(token);
    if let Some(b) = body {
        r = r.json(&b);
    }
    let (status, _, v) = body_of(r.send().await.unwrap()).await;
    (status, v)
}

async fn body_of(r: reqwest::Response) -> (u16, reqwest::header::HeaderMap, Value) {
    body(r).await
}

/// Commits `files` (path → content) on `branch` of `alice/d`: the new revision.
async fn commit(server: &TestServer, token: &str, branch: &str, files: &[(&str, &str)]) -> String {
    commit_to(server, token, "alice/d", branch, files).await
}

/// Commits `files` (path → content) on `branch` of `dataset`: the new revision.
async fn commit_to(
    server: &TestServer,
    token: &str,
    dataset: &str,
    branch: &str,
    files: &[(&str, &str)],
) -> String {
    let (_, head) = call(
        reqwest::Method::GET,
        &format!("{}{API}/{dataset}?rev={branch}", server.url),
        token,
        None,
    )
    .await;
    let parent = &head["revision"]["id"];
    let mut lines = vec![
        json!({"key": "header", "value": {"summary": "change", "branch": branch, "parent": parent}}),
    ];
    for (path, content) in files {
        lines.push(json!({"key": "file", "value": {"path": path, "content": content}}));
    }
    let ndjson: String = lines.iter().map(|l| format!("{l}\n")).collect();
    let r = client()
        .post(format!("{}{API}/{dataset}/commit", server.url))
        .bearer_auth(token)
        .header("content-type", "application/x-ndjson")
        .body(ndjson)
        .send()
        .await
        .unwrap();
    let (status, _, v) = body(r).await;
    assert_eq!(status, 200, "{v}");
    v["revision"]["id"].as_str().unwrap().to_owned()
}

async fn signed_and_filtered(refs: Refs) {
    let server = TestServer::start_with(Backend::Local, |c| {
        c.webhooks_allow_private = Switch::On;
        c.refs = refs;
    })
    .await;
    let alice = server.user("alice").await;
    let (status, v) = call(
        reqwest::Method::POST,
        &format!("{}{API}", server.url),
        &alice,
        Some(json!({"namespace": "alice", "name": "d", "visibility": "private"})),
    )
    .await;
    assert_eq!(status, 201, "{v}");
    let mut receiver = tokio::task::spawn_blocking(Receiver::start).await.unwrap();
    let hooks = format!("{}{API}/alice/d/webhooks", server.url);
    let (status, created) = call(
        reqwest::Method::POST,
        &hooks,
        &alice,
        Some(
            json!({"url": receiver.url("/ok"), "events": ["branch.updated", "tag.created"],
                    "branches": ["main"], "paths": ["data/**"]}),
        ),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let secret = created["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"), "{created}");
    let id = created["webhook"]["id"].as_i64().unwrap();

    // Delivered: a commit to main touching data/. Not: one touching only README.md, a branch
    // created (not a kind asked for), a commit to that branch (not main).
    let first = commit(&server, &alice, "main", &[("data/a.csv", "id\n1\n")]).await;
    commit(&server, &alice, "main", &[("README.md", "hi\n")]).await;
    let (status, v) = call(
        reqwest::Method::POST,
        &format!("{hooks}/../branches"),
        &alice,
        Some(json!({"name": "dev", "revision": "main"})),
    )
    .await;
    assert_eq!(status, 201, "{v}");
    commit(&server, &alice, "dev", &[("data/b.csv", "id\n2\n")]).await;
    let last = commit(&server, &alice, "main", &[("data/sub/c.csv", "id\n3\n")]).await;
    let got = receiver.wait_for(2).await.to_vec();
    let verdicts = tokio::task::spawn_blocking({
        let (got, secret) = (got.clone(), secret.clone());
        move || verify(&got, &secret)
    })
    .await
    .unwrap();
    assert!(verdicts.iter().all(|v| v["ok"] == true), "{verdicts:?}");
    let payloads: Vec<&Value> = verdicts.iter().map(|v| &v["payload"]).collect();
    assert_eq!(payloads[0]["type"], "branch.updated");
    assert_eq!(payloads[0]["data"]["dataset"], "alice/d");
    assert_eq!(payloads[0]["data"]["branch"], "main");
    assert_eq!(payloads[0]["data"]["actor"], "alice");
    assert_eq!(payloads[0]["data"]["after"], first.as_str());
    assert_eq!(payloads[0]["data"]["paths"], json!(["data/a.csv"]));
    assert_eq!(payloads[1]["data"]["after"], last.as_str());
    assert_eq!(payloads[1]["data"]["paths"], json!(["data/sub/c.csv"]));
    // The same message id on each attempt of a delivery, a different one per delivery.
    assert_ne!(
        got[0]["headers"]["webhook-id"],
        got[1]["headers"]["webhook-id"]
    );

    // A tag: delivered. The delivery log says how each went.
    let (status, _) = call(
        reqwest::Method::POST,
        &format!("{hooks}/../tags"),
        &alice,
        Some(json!({"name": "v1"})),
    )
    .await;
    assert_eq!(status, 201);
    let got = receiver.wait_for(3).await.to_vec();
    let tag: Value = serde_json::from_str(got[2]["body"].as_str().unwrap()).unwrap();
    assert_eq!(tag["type"], "tag.created");
    assert_eq!(tag["data"]["tag"], "v1");
    let (status, log) = call(reqwest::Method::GET, &format!("{hooks}/{id}"), &alice, None).await;
    assert_eq!(status, 200, "{log}");
    let deliveries = log["deliveries"].as_array().unwrap();
    assert_eq!(deliveries.len(), 3, "{log}");
    assert!(
        deliveries
            .iter()
            .all(|d| d["state"] == "delivered" && d["status"] == 200),
        "{log}"
    );
    assert!(log["webhook"].get("secret").is_none());

    // A rotation: the next delivery is signed with both secrets, each verifying it.
    let (status, rotated) = call(
        reqwest::Method::POST,
        &format!("{hooks}/{id}/rotate"),
        &alice,
        None,
    )
    .await;
    assert_eq!(status, 200, "{rotated}");
    let new_secret = rotated["secret"].as_str().unwrap().to_owned();
    assert_ne!(new_secret, secret);
    assert!(
        rotated["webhook"]["previous_secret_until"].is_i64(),
        "{rotated}"
    );
    commit(&server, &alice, "main", &[("data/d.csv", "id\n4\n")]).await;
    let got = receiver.wait_for(4).await[3..].to_vec();
    for s in [&secret, &new_secret] {
        let verdicts = tokio::task::spawn_blocking({
            let (got, s) = (got.clone(), s.clone());
            move || verify(&got, &s)
        })
        .await
        .unwrap();
        assert_eq!(verdicts[0]["ok"], true, "{verdicts:?}");
    }
    let forged =
        tokio::task::spawn_blocking(move || verify(&got, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"))
            .await
            .unwrap();
    assert_eq!(forged[0]["ok"], false, "{forged:?}");

    // A failing receiver and a redirecting one: retried later, logged with why; redelivered by
    // hand on request.
    for path in ["/fail", "/redirect"] {
        let (status, v) = call(
            reqwest::Method::POST,
            &hooks,
            &alice,
            Some(json!({"url": receiver.url(path), "events": ["tag.created"]})),
        )
        .await;
        assert_eq!(status, 201, "{v}");
    }
    call(
        reqwest::Method::POST,
        &format!("{hooks}/../tags"),
        &alice,
        Some(json!({"name": "v2"})),
    )
    .await;
    let got = receiver.wait_for(7).await.to_vec();
    let paths: Vec<&str> = got[4..]
        .iter()
        .map(|r| r["path"].as_str().unwrap())
        .collect();
    assert!(
        paths.contains(&"/fail") && paths.contains(&"/redirect") && paths.contains(&"/ok"),
        "{paths:?}"
    );
    let (_, list) = call(reqwest::Method::GET, &hooks, &alice, None).await;
    let webhooks = list["webhooks"].as_array().unwrap();
    assert_eq!(webhooks.len(), 3);
    for w in &webhooks[1..] {
        let wid = w["id"].as_i64().unwrap();
        let mut log = Value::Null;
        for _ in 0..100 {
            (_, log) = call(
                reqwest::Method::GET,
                &format!("{hooks}/{wid}"),
                &alice,
                None,
            )
            .await;
            if log["deliveries"][0]["attempts"] == 1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let d = &log["deliveries"][0];
        assert_eq!(d["state"], "pending", "{log}");
        assert!(d["next_at"].as_i64().unwrap() > 0, "{log}");
        let error = d["error"].as_str().unwrap();
        assert!(
            error.contains("500") || error.contains("redirects are not followed"),
            "{error}"
        );
        assert_eq!(log["webhook"]["failures"], 1, "{log}");
        let (status, _) = call(
            reqwest::Method::POST,
            &format!("{hooks}/{wid}/deliveries/{}/redeliver", d["id"]),
            &alice,
            None,
        )
        .await;
        assert_eq!(status, 202);
    }
    // Redelivered at once (not after the 10 s backoff).
    receiver.wait_for(9).await;

    // Paused, nothing is delivered; deleted, its log goes with it.
    let (status, paused) = call(
        reqwest::Method::PUT,
        &format!("{hooks}/{id}/active"),
        &alice,
        Some(json!({"active": false})),
    )
    .await;
    assert_eq!(
        (status, &paused["active"]),
        (200, &json!(false)),
        "{paused}"
    );
    let (status, _) = call(
        reqwest::Method::DELETE,
        &format!("{hooks}/{id}"),
        &alice,
        None,
    )
    .await;
    assert_eq!(status, 204);
    let (status, _) = call(reqwest::Method::GET, &format!("{hooks}/{id}"), &alice, None).await;
    assert_eq!(status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_deliver_signed_filtered_events() {
    signed_and_filtered(Refs::Git).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_deliver_events_the_ledger_recorded() {
    signed_and_filtered(Refs::Sql).await;
}

/// A `git push` of a commit and a tag: their events name the pusher and the pushed paths.
async fn pushes_are_events(refs: Refs) {
    let server = TestServer::start_with(Backend::Local, |c| c.refs = refs).await;
    let alice = server.user("alice").await;
    let (status, _) = call(
        reqwest::Method::POST,
        &format!("{}{API}", server.url),
        &alice,
        Some(json!({"namespace": "alice", "name": "d", "visibility": "private"})),
    )
    .await;
    assert_eq!(status, 201);
    let (root, url, token) = (
        server.dir.path().to_owned(),
        server.url.clone(),
        alice.clone(),
    );
    tokio::task::spawn_blocking(move || {
        let home = root.join("home");
        setup_home(&home, &url, &token);
        let clone = root.join("clone");
        run(git(&home, &root).args([
            "clone",
            "-q",
            &format!("{url}/alice/d.git"),
            clone.to_str().unwrap(),
        ]));
        std::fs::write(clone.join("pushed.txt"), "from git\n").unwrap();
        run(git(&home, &clone).args(["add", "pushed.txt"]));
        run(git(&home, &clone).args(["commit", "-q", "-m", "pushed"]));
        run(git(&home, &clone).args(["tag", "v9"]));
        run(git(&home, &clone).args(["push", "-q", "origin", "main", "v9"]));
    })
    .await
    .unwrap();
    let r = client()
        .get(format!("{}/api/v1/events", server.url))
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap();
    let got = sse_events(r, 3).await;
    let kinds: Vec<&str> = got.iter().map(|e| e.1.as_str()).collect();
    assert_eq!(kinds[0], "branch.created", "{got:?}");
    let pushed = got
        .iter()
        .find(|e| e.1 == "branch.updated")
        .expect("the push's event");
    assert_eq!(pushed.2["data"]["actor"], "alice", "{got:?}");
    assert_eq!(pushed.2["data"]["paths"], json!(["pushed.txt"]), "{got:?}");
    let tag = got
        .iter()
        .find(|e| e.1 == "tag.created")
        .expect("the tag's event");
    assert_eq!(tag.2["data"]["tag"], "v9");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushes_are_events_with_git_refs() {
    pushes_are_events(Refs::Git).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushes_are_events_in_the_ledgers_transaction() {
    pushes_are_events(Refs::Sql).await;
}
