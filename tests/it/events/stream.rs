//! The event stream (`GET /api/v1/events`, server-sent events): resumed from `Last-Event-ID`,
//! showing only the events of what the caller may read; and the readers of such a stream the
//! other event tests use.

use std::time::Duration;

use serde_json::{json, Value};

use super::{body_of, call, commit, API};
use crate::common::*;

/// Reads `n` events of an event stream response: (id, kind, payload).
pub(super) async fn sse_events(r: reqwest::Response, n: usize) -> Vec<(i64, String, Value)> {
    sse_until(r, |got| got.len() >= n).await
}

/// Reads server-sent events `(id, kind, payload)` until `done` says so of all read (30 s at most).
pub(crate) async fn sse_until(
    r: reqwest::Response,
    done: impl Fn(&[(i64, String, Value)]) -> bool,
) -> Vec<(i64, String, Value)> {
    use futures_util::StreamExt;
    let mut stream = r.bytes_stream();
    let (mut buf, mut out) = (String::new(), Vec::new());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !done(&out) {
        let chunk = tokio::time::timeout_at(deadline, stream.next())
            .await
            .expect("events in time")
            .expect("an open stream")
            .unwrap();
        buf.push_str(std::str::from_utf8(&chunk).unwrap());
        while let Some(end) = buf.find("\n\n") {
            let block: String = buf.drain(..end + 2).collect();
            let (mut id, mut kind, mut data) = (None, String::new(), String::new());
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("id:") {
                    id = Some(v.trim().parse::<i64>().unwrap());
                } else if let Some(v) = line.strip_prefix("event:") {
                    kind = v.trim().to_owned();
                } else if let Some(v) = line.strip_prefix("data:") {
                    data.push_str(v.trim_start());
                }
            }
            if let Some(id) = id {
                out.push((id, kind, serde_json::from_str(&data).unwrap()));
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_event_stream_resumes_and_shows_only_what_the_caller_reads() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let (status, _) = call(
        reqwest::Method::POST,
        &format!("{}{API}", server.url),
        &alice,
        Some(json!({"namespace": "alice", "name": "d", "visibility": "private"})),
    )
    .await;
    assert_eq!(status, 201);
    commit(&server, &alice, "main", &[("a.txt", "1\n")]).await;
    let events = format!("{}/api/v1/events", server.url);
    let r = client()
        .get(&events)
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/event-stream");
    let got = sse_events(r, 2).await;
    assert_eq!(got[0].1, "branch.created");
    assert_eq!(got[1].1, "branch.updated");
    assert_eq!(got[1].2["data"]["paths"], json!(["a.txt"]));
    assert!(got[0].0 < got[1].0);
    // Disconnected; two more changes; resumed after the last event seen: exactly those two.
    let last = got[1].0;
    commit(&server, &alice, "main", &[("b.txt", "2\n")]).await;
    commit(&server, &alice, "main", &[("c.txt", "3\n")]).await;
    let r = client()
        .get(&events)
        .bearer_auth(&alice)
        .header("last-event-id", last.to_string())
        .send()
        .await
        .unwrap();
    let got = sse_events(r, 2).await;
    assert_eq!(got[0].2["data"]["paths"], json!(["b.txt"]), "{got:?}");
    assert_eq!(got[1].2["data"]["paths"], json!(["c.txt"]), "{got:?}");
    assert!(got[0].0 > last);

    // bob reads none of alice's private dataset: his stream shows his own dataset's events only.
    let r = client()
        .get(&events)
        .bearer_auth(&bob)
        .send()
        .await
        .unwrap();
    let (status, _) = call(
        reqwest::Method::POST,
        &format!("{}{API}", server.url),
        &bob,
        Some(json!({"namespace": "bob", "name": "e", "visibility": "public"})),
    )
    .await;
    assert_eq!(status, 201);
    let got = sse_events(r, 1).await;
    assert_eq!(got[0].2["data"]["dataset"], "bob/e", "{got:?}");

    // No token, or a place that is none: refused.
    let r = client().get(&events).send().await.unwrap();
    let (status, headers, v) = body_of(r).await;
    assert_error_body(status, &headers, &v, 401);
    let r = client()
        .get(&events)
        .bearer_auth(&alice)
        .header("last-event-id", "soon")
        .send()
        .await
        .unwrap();
    let (status, headers, v) = body_of(r).await;
    assert_error_body(status, &headers, &v, 400);
}
