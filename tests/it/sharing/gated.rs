//! Gated datasets over REST, end to end on a server with its dispatcher: a public dataset gated
//! by its owner; a visitor refused on every read (raw, LFS, tables, SQL) with the way to ask,
//! shown the card, README and schemas but no value; a request with the form's answers (missing,
//! unknown and too long answers refused, markup kept as text), accepted until a time, read, then
//! refused the moment the grant runs out and told by the sweep; declined with a reason, reminded,
//! expired unanswered; a grant without a request; `auto` accepting at once; the per-visitor limit;
//! each step a notification of the person concerned. The Hub's API is in `gated_hub`, the pages
//! in `gated_browser`.

use reqwest::Method;
use serde_json::{json, Value};
use strata_core::db::{now, rfc3339, Visibility};
use strata_core::sharing::access::requests::sweep;

use crate::common::*;

pub(crate) const CANARY: &str = "CANARY-5521";
const API: &str = "/api/v1/datasets";

/// `method` on `path` as `token` (or nobody): status and JSON answer.
pub(crate) async fn call(
    server: &TestServer,
    method: Method,
    path: &str,
    token: Option<&str>,
    payload: Option<Value>,
) -> (u16, Value) {
    let mut req = client().request(method, format!("{}{path}", server.url));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(p) = payload {
        req = req.json(&p);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// `alice/survey`, public: the table `answers` (a canary in it) and a README.
pub(crate) async fn survey(server: &TestServer, alice: &str) {
    let (status, v) = call(
        server,
        Method::POST,
        API,
        Some(alice),
        Some(json!({"namespace": "alice", "name": "survey", "visibility": "public"})),
    )
    .await;
    assert_eq!(status, 201, "{v}");
    let csv = format!("id,answer\n1,{CANARY}\n2,no\n");
    upload(server, "alice/survey", alice, csv.as_bytes()).await;
    let pkg = json!({"name": "survey", "title": "Survey of 2026", "resources": [{"name": "answers",
        "path": "answers.csv", "format": "csv", "bytes": csv.len(),
        "hash": format!("sha256:{}", sha256_hex(csv.as_bytes())),
        "schema": {"fields": [{"name": "id", "type": "integer"},
            {"name": "answer", "type": "string", "description": "What they said"}]}}]});
    let (_, made) = call(
        server,
        Method::GET,
        &format!("{API}/alice/survey"),
        Some(alice),
        None,
    )
    .await;
    let parent = made["revision"]["id"].clone();
    let (status, v) = call(
        server,
        Method::PUT,
        &format!("{API}/alice/survey"),
        Some(alice),
        Some(json!({"datapackage": pkg, "parent": parent, "message": "answers"})),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    let lines = [
        json!({"key": "header", "value": {"summary": "README", "parent": v["revision"]["id"]}}),
        json!({"key": "file", "value": {"path": "README.md",
            "content": "# About\n\nWho answered what in 2026.\n", "encoding": "utf-8"}}),
    ];
    let body: Vec<String> = lines.iter().map(Value::to_string).collect();
    let r = client()
        .post(format!("{}{API}/alice/survey/commit", server.url))
        .bearer_auth(alice)
        .header("content-type", "application/x-ndjson")
        .body(body.join("\n"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
}

/// Every way `token`'s holder could read the survey's rows: each refused with `status`, no
/// canary in any answer.
async fn refused_everywhere(server: &TestServer, token: Option<&str>, status: u16) {
    let reads = [
        format!("{API}/alice/survey/raw/answers.csv"),
        format!("{API}/alice/survey/tables/answers"),
        format!("{API}/alice/survey/tree"),
        format!("{API}/alice/survey/revisions"),
    ];
    for path in reads {
        let (got, v) = call(server, Method::GET, &path, token, None).await;
        assert_eq!(got, status, "{path}: {v}");
        assert!(!v.to_string().contains(CANARY), "{path}: {v}");
        assert!(v["message"].as_str().unwrap().contains("is gated"), "{v}");
        assert_eq!(v["access"], "/datasets/alice/survey/access", "{v}");
        assert!(v["request_id"].is_string(), "{v}");
    }
    let objects = json!({"operation": "download", "objects": [{"oid": "0".repeat(64), "size": 1}]});
    let r = lfs_post(&server.batch_url("alice/survey"), token, &objects).await;
    assert_eq!(r.status().as_u16(), status);
    let (got, v) = call(
        server,
        Method::POST,
        "/api/v1/sql",
        token,
        Some(json!({"query": "SELECT * FROM \"alice/survey\".\"answers\""})),
    )
    .await;
    assert!(matches!(got, 401 | 403 | 404), "{got} {v}");
    assert!(!v.to_string().contains(CANARY), "{v}");
}

/// The kinds of `token`'s notifications once there are `n` (the dispatcher tells within about
/// a second), newest first.
pub(crate) async fn notified(server: &TestServer, token: &str, n: usize) -> Vec<Value> {
    for _ in 0..300 {
        let (status, v) = call(
            server,
            Method::GET,
            "/api/v1/notifications",
            Some(token),
            None,
        )
        .await;
        assert_eq!(status, 200, "{v}");
        let list = v["notifications"].as_array().unwrap().clone();
        if list.len() >= n {
            return list;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("not {n} notifications");
}

/// The newest notification of `kind` `token`'s user has, once it is delivered.
async fn notified_of(server: &TestServer, token: &str, kind: &str) -> Value {
    for _ in 0..300 {
        let (_, v) = call(
            server,
            Method::GET,
            "/api/v1/notifications",
            Some(token),
            None,
        )
        .await;
        if let Some(n) = v["notifications"]
            .as_array()
            .and_then(|l| l.iter().find(|n| n["kind"] == kind))
        {
            return n.clone();
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("no {kind} notification");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gated_dataset_from_request_to_expiry() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let carol = server.user("carol").await;
    let dave = server.user("dave").await;
    survey(&server, &alice).await;
    let at = |p: &str| format!("{API}/alice/survey{p}");
    let raw = at("/raw/answers.csv");
    let (status, _) = call(&server, Method::GET, &raw, Some(&bob), None).await;
    assert_eq!(status, 200, "public and not gated yet");

    // The owner gates it; nobody else may, and the form is checked.
    let form = json!({"mode": "manual", "message": "Tell us who you are.",
        "questions": [{"name": "name", "label": "Your name", "required": true},
            {"name": "purpose", "label": "What for", "required": true},
            {"name": "orcid", "label": "ORCID", "required": false}],
        "grant_days": 30, "remind_days": 2, "expire_days": 5});
    for bad in [
        json!({"mode": "manual", "questions": [{"name": "Bad Name", "label": "x"}]}),
        json!({"mode": "manual", "questions": [{"name": "a", "label": "x"}, {"name": "a", "label": "y"}]}),
        json!({"mode": "manual", "remind_days": 9, "expire_days": 5}),
        json!({"mode": "manual", "grant_days": 0}),
        json!({"mode": "sometimes"}),
        json!({"mode": "manual", "colour": "red"}),
    ] {
        let (status, v) = call(
            &server,
            Method::PUT,
            &at("/access/gate"),
            Some(&alice),
            Some(bad.clone()),
        )
        .await;
        assert!(matches!(status, 400 | 422), "{bad}: {status} {v}");
    }
    let (status, v) = call(
        &server,
        Method::PUT,
        &at("/access/gate"),
        Some(&alice),
        Some(json!({"mode": "manual", "auto_orgs": ["no-such-org"]})),
    )
    .await;
    assert_eq!(status, 404, "{v}");
    server.repo("alice/secret", Visibility::Private).await;
    let (status, v) = call(
        &server,
        Method::PUT,
        &format!("{API}/alice/secret/access/gate"),
        Some(&alice),
        Some(json!({"mode": "manual"})),
    )
    .await;
    assert_eq!(status, 422, "{v}");
    let (status, v) = call(
        &server,
        Method::PUT,
        &at("/access/gate"),
        Some(&alice),
        Some(form.clone()),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["mode"], "manual");
    let (status, _) = call(
        &server,
        Method::PUT,
        &at("/access/gate"),
        Some(&bob),
        Some(form),
    )
    .await;
    assert_eq!(status, 403);

    // Visitors: refused everywhere, with the way to ask; shown the card, README and schemas.
    refused_everywhere(&server, Some(&bob), 403).await;
    refused_everywhere(&server, None, 401).await;
    for token in [Some(bob.as_str()), None] {
        let (status, p) = call(&server, Method::GET, &at("/access"), token, None).await;
        assert_eq!(status, 200, "{p}");
        assert_eq!(p["gated"], "manual");
        assert_eq!(p["title"], "Survey of 2026");
        assert_eq!(p["access"], false);
        assert!(
            p["readme"].as_str().unwrap().contains("Who answered what"),
            "{p}"
        );
        let fields: Vec<&str> = p["tables"][0]["fields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["name"].as_str().unwrap())
            .collect();
        assert_eq!(fields, ["id", "answer"]);
        assert_eq!(p["tables"][0]["fields"][1]["description"], "What they said");
        assert!(!p.to_string().contains(CANARY), "{p}");
    }
    // The dataset stays listed for them.
    let (_, list) = call(&server, Method::GET, API, Some(&bob), None).await;
    assert!(
        list.to_string().contains("alice/survey") || list.to_string().contains("\"survey\""),
        "{list}"
    );

    // A request: the form's answers checked.
    let file = |who: Option<String>, fields: Value| {
        let server = &server;
        let path = at("/access/requests");
        async move {
            call(
                server,
                Method::POST,
                &path,
                who.as_deref(),
                Some(json!({"fields": fields})),
            )
            .await
        }
    };
    let (status, v) = file(Some(bob.clone()), json!({"name": "Bob"})).await;
    assert_eq!(status, 422, "{v}");
    assert_eq!(v["missing"], json!(["purpose"]));
    let (status, _) = file(
        Some(bob.clone()),
        json!({"name": "Bob", "purpose": "x", "shoe": "9"}),
    )
    .await;
    assert_eq!(status, 422);
    let (status, _) = file(
        Some(bob.clone()),
        json!({"name": "x".repeat(2001), "purpose": "x"}),
    )
    .await;
    assert_eq!(status, 422);
    let (status, _) = file(None, json!({"name": "Anon", "purpose": "x"})).await;
    assert_eq!(status, 401);
    let markup = "<script>alert(1)</script> Bob";
    let (status, v) = file(
        Some(bob.clone()),
        json!({"name": markup, "purpose": "research", "orcid": " "}),
    )
    .await;
    assert_eq!(status, 201, "{v}");
    assert_eq!(v["status"], "pending");
    assert_eq!(v["fields"], json!({"name": markup, "purpose": "research"}));
    let (status, _) = file(
        Some(bob.clone()),
        json!({"name": "Bob", "purpose": "again"}),
    )
    .await;
    assert_eq!(status, 409, "one pending request");
    refused_everywhere(&server, Some(&bob), 403).await;

    // The queue is the admins'.
    let (status, _) = call(
        &server,
        Method::GET,
        &at("/access/requests"),
        Some(&bob),
        None,
    )
    .await;
    assert_eq!(status, 403);
    let (status, q) = call(
        &server,
        Method::GET,
        &at("/access/requests?status=pending"),
        Some(&alice),
        None,
    )
    .await;
    assert_eq!(status, 200, "{q}");
    assert_eq!(q["requests"][0]["user"], "bob");
    assert_eq!(q["requests"][0]["fields"]["name"], markup);
    let (status, _) = call(
        &server,
        Method::GET,
        &at("/access/requests?status=maybe"),
        Some(&alice),
        None,
    )
    .await;
    assert_eq!(status, 422);
    let told = notified(&server, &alice, 1).await;
    assert_eq!(told[0]["kind"], "access.requested");
    assert!(
        told[0]["text"]
            .as_str()
            .unwrap()
            .contains("bob asks for access"),
        "{told:?}"
    );

    // Accepted until four seconds from now: bob reads; then refused at once.
    let until = now() + 4;
    let (status, v) = call(
        &server,
        Method::POST,
        &at("/access/requests/answer"),
        Some(&alice),
        Some(
            json!({"users": ["bob", "nobody"], "status": "accepted", "expires_at": rfc3339(until)}),
        ),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v[0]["status"], "accepted");
    assert!(v[1]["error"].is_string(), "{v}");
    let (status, v) = call(&server, Method::GET, &raw, Some(&bob), None).await;
    assert_eq!(status, 200);
    assert!(v.to_string().contains(CANARY));
    let (status, _) = call(
        &server,
        Method::GET,
        &at("/tables/answers"),
        Some(&bob),
        None,
    )
    .await;
    assert_eq!(status, 200);
    let told = notified(&server, &bob, 1).await;
    assert_eq!(told[0]["kind"], "access.accepted");
    while now() <= until {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    refused_everywhere(&server, Some(&bob), 403).await;
    let (_, p) = call(&server, Method::GET, &at("/access"), Some(&bob), None).await;
    assert_eq!(p["request"]["status"], "expired", "{p}");
    let swept = sweep(&server.state, now()).await.unwrap();
    assert_eq!(swept.expired, 1);
    assert_eq!(
        sweep(&server.state, now()).await.unwrap().expired,
        0,
        "each once"
    );
    let told = notified(&server, &bob, 2).await;
    assert_eq!(told[0]["kind"], "access.expired");

    // Filed again, then declined with a reason: told, and no third try.
    let (status, _) = file(
        Some(bob.clone()),
        json!({"name": "Bob", "purpose": "again"}),
    )
    .await;
    assert_eq!(status, 201);
    let (status, v) = call(
        &server,
        Method::POST,
        &at("/access/requests/answer"),
        Some(&alice),
        Some(json!({"users": ["bob"], "status": "rejected", "reason": "not for commercial use"})),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v[0]["status"], "rejected");
    let told = notified(&server, &bob, 3).await;
    assert_eq!(told[0]["kind"], "access.rejected");
    assert!(told[0]["text"]
        .as_str()
        .unwrap()
        .contains("not for commercial use"));
    let (status, v) = file(
        Some(bob.clone()),
        json!({"name": "Bob", "purpose": "please"}),
    )
    .await;
    assert_eq!(status, 403, "{v}");
    assert!(v["message"].as_str().unwrap().contains("declined"), "{v}");

    // Reminded after remind_days, expired unanswered after expire_days.
    let (status, _) = file(
        Some(carol.clone()),
        json!({"name": "Carol", "purpose": "study"}),
    )
    .await;
    assert_eq!(status, 201);
    let swept = sweep(&server.state, now() + 2 * 86_400 + 60).await.unwrap();
    assert_eq!(swept.reminded, 1);
    // Delivered in the background: carol's request may be told after the reminder is made.
    let reminded = notified_of(&server, &alice, "access.reminded").await;
    assert!(
        reminded["text"].as_str().unwrap().contains("carol"),
        "{reminded}"
    );
    let swept = sweep(&server.state, now() + 5 * 86_400 + 60).await.unwrap();
    assert_eq!((swept.reminded, swept.expired), (0, 1));
    let told = notified(&server, &carol, 1).await;
    assert_eq!(told[0]["kind"], "access.expired");

    // A grant without a request; twice is refused.
    let (status, v) = call(
        &server,
        Method::POST,
        &at("/access/grants"),
        Some(&alice),
        Some(json!({"user": "dave"})),
    )
    .await;
    assert_eq!(status, 201, "{v}");
    let (status, _) = call(&server, Method::GET, &raw, Some(&dave), None).await;
    assert_eq!(status, 200);
    let (status, _) = call(
        &server,
        Method::POST,
        &at("/access/grants"),
        Some(&alice),
        Some(json!({"user": "dave"})),
    )
    .await;
    assert_eq!(status, 400);
    // Reopened: dave's access ends at once.
    let (status, _) = call(
        &server,
        Method::POST,
        &at("/access/requests/answer"),
        Some(&alice),
        Some(json!({"users": ["dave"], "status": "pending"})),
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = call(&server, Method::GET, &raw, Some(&dave), None).await;
    assert_eq!(status, 403);

    // `auto`: accepted at once. Ungated: public again.
    let (status, _) = call(
        &server,
        Method::PUT,
        &at("/access/gate"),
        Some(&alice),
        Some(json!({"mode": "auto", "questions": []})),
    )
    .await;
    assert_eq!(status, 200);
    let erin = server.user("erin").await;
    let (status, v) = file(Some(erin.clone()), json!({})).await;
    assert_eq!(status, 201, "{v}");
    assert_eq!(v["status"], "accepted");
    assert_eq!(v["grant_expires_at"], Value::Null);
    let (status, _) = call(&server, Method::GET, &raw, Some(&erin), None).await;
    assert_eq!(status, 200);
    let (status, _) = call(
        &server,
        Method::PUT,
        &at("/access/gate"),
        Some(&alice),
        Some(json!({"mode": null})),
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = call(&server, Method::GET, &raw, None, None).await;
    assert_eq!(status, 200);
    let (status, v) = file(Some(bob.clone()), json!({})).await;
    assert_eq!(status, 409, "{v}");

    // At most PER_HOUR requests an hour per visitor.
    let gina = server.user("gina").await;
    let limit = strata_core::sharing::access::requests::PER_HOUR as usize;
    for i in 0..=limit {
        let path = format!("alice/g{i}");
        server.repo(&path, Visibility::Public).await;
        let (status, v) = call(
            &server,
            Method::PUT,
            &format!("{API}/{path}/access/gate"),
            Some(&alice),
            Some(json!({"mode": "manual", "questions": []})),
        )
        .await;
        assert_eq!(status, 200, "{v}");
        let (status, v) = call(
            &server,
            Method::POST,
            &format!("{API}/{path}/access/requests"),
            Some(&gina),
            Some(json!({})),
        )
        .await;
        if i < limit {
            assert_eq!(status, 201, "{v}");
        } else {
            assert_eq!(status, 429, "{v}");
        }
    }
}
