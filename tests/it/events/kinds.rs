//! The events that are no ref move, end to end: a share granted and revoked, a share link made,
//! a merge request opened and merged, a write its contract refused, each delivered to a
//! namespace's webhook and checked with the `standardwebhooks` verifier (no link secret, no
//! value in any payload); the people concerned told in their notifications (never the actor),
//! marked read; share events kept from the stream of a reader who does not administer the
//! dataset; a policy set changed by a push of `.rego` files. The hostile cases of namespace
//! webhooks and notifications are in `hostile`, the pages in `pages`.

mod hostile;
mod pages;

use serde_json::{json, Value};
use strata_core::config::Switch;

use super::stream::sse_until;
use super::{call, commit_to, verify, Receiver, API};
use crate::changes::merges::{csv, package, setup_on, Setup, BASE};
use crate::common::forms::{Browser, PASSWORD};
use crate::common::*;

/// `alice/m` (a keyed table, a `feature` branch, bob a writer) on a server that lets webhooks
/// reach the loopback receiver; carol a user of her own.
async fn setup() -> (Setup, String) {
    let server = TestServer::start_with(Backend::Local, |c| {
        c.webhooks_allow_private = Switch::On;
    })
    .await;
    let s = setup_on(server, true).await;
    let carol = s.server.user("carol").await;
    (s, carol)
}

async fn notifications(s: &Setup, token: &str, query: &str) -> Value {
    let (status, v) = call(
        reqwest::Method::GET,
        &format!("{}/api/v1/notifications{query}", s.server.url),
        token,
        None,
    )
    .await;
    assert_eq!(status, 200, "{v}");
    v
}

/// The kinds of `token`'s notifications, newest first.
async fn kinds_of(s: &Setup, token: &str) -> Vec<String> {
    let v = notifications(s, token, "").await;
    v["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["kind"].as_str().unwrap().to_owned())
        .collect()
}

/// Waits until `token` has `n` notifications (the dispatcher tells within about a second).
async fn wait_notified(s: &Setup, token: &str, n: usize) -> Vec<String> {
    for _ in 0..300 {
        let kinds = kinds_of(s, token).await;
        if kinds.len() >= n {
            return kinds;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("not {n} notifications: {:?}", kinds_of(s, token).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shares_links_merge_requests_and_contracts_are_events_and_notifications() {
    let (s, carol) = setup().await;
    let base = s.server.url.clone();
    let mut receiver = tokio::task::spawn_blocking(Receiver::start).await.unwrap();
    // alice's namespace webhook: every dataset of hers, these kinds.
    let kinds = [
        "share.granted",
        "share.revoked",
        "share_link.created",
        "merge_request.opened",
        "merge_request.closed",
        "merge_request.reopened",
        "merge_request.merged",
        "contract.failed",
    ];
    let (status, created) = call(
        reqwest::Method::POST,
        &format!("{base}/api/v1/namespaces/alice/webhooks"),
        &s.alice,
        Some(json!({"url": receiver.url("/ok"), "events": kinds})),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["webhook"]["namespace"], "alice");
    let secret = created["secret"].as_str().unwrap().to_owned();

    // A share of t.csv with carol (made twice, unchanged: one event), then revoked.
    let mut share = Value::Null;
    for _ in 0..2 {
        let (status, made) = call(
            reqwest::Method::POST,
            &s.at("/shares"),
            &s.alice,
            Some(json!({"path": "t.csv", "user": "carol", "access": "read"})),
        )
        .await;
        assert_eq!(status, 201, "{made}");
        share = made;
    }
    let (status, _) = call(
        reqwest::Method::DELETE,
        &s.at(&format!("/shares/{}", share["id"])),
        &s.alice,
        None,
    )
    .await;
    assert_eq!(status, 204);

    // A share link, made on the settings page: its secret is in no event.
    strata::cli::admin::set_password(&s.server.state, "alice", PASSWORD)
        .await
        .unwrap();
    let mut browser = Browser::new(&base);
    browser.login("alice", PASSWORD).await;
    let page = browser.get("/datasets/alice/m/settings").await;
    let csrf = page.hidden("csrf");
    let made = browser
        .post(
            "/datasets/alice/m/settings",
            &[("csrf", &csrf), ("change", "link"), ("path", "t.csv")],
        )
        .await;
    let link_secret = made
        .text
        .split("/s/")
        .skip(1)
        .map(|rest| {
            rest.chars()
                .take_while(char::is_ascii_hexdigit)
                .collect::<String>()
        })
        .find(|hex| hex.len() == 48)
        .expect("the new link on the page");

    // bob opens a merge request of feature (alice is told: it waits for her), alice merges it
    // (bob is told).
    let theirs = csv("id,name,score", &[BASE, &["6,fy,60"]].concat());
    let (status, v) = s
        .write("feature", package(&theirs, "M", true, &[]), &theirs)
        .await;
    assert_eq!(status, 200, "{v}");
    let (status, opened) = s
        .call(
            &s.bob,
            reqwest::Method::POST,
            "/merge-requests",
            Some(json!({"source": "feature", "title": "A sixth row"})),
        )
        .await;
    assert_eq!(status, 201, "{opened}");
    assert_eq!(
        wait_notified(&s, &s.alice, 1).await,
        ["merge_request.opened"]
    );
    // Closed and reopened by bob.
    for state in ["closed", "open"] {
        let (status, v) = s
            .call(
                &s.bob,
                reqwest::Method::PATCH,
                "/merge-requests/1",
                Some(json!({"state": state})),
            )
            .await;
        assert_eq!(status, 200, "{v}");
    }
    let (status, merged) = s
        .call(
            &s.alice,
            reqwest::Method::POST,
            "/merge-requests/1/merge",
            Some(json!({})),
        )
        .await;
    assert_eq!(status, 200, "{merged}");

    // main protected; bob's write with a negative score refused: alice, its admin, is told.
    let r = client()
        .put(s.at("/protection"))
        .bearer_auth(&s.alice)
        .json(&json!({"default_branch": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let bad = csv("id,name,score", &["1,ann,-10", "2,bo,20"]);
    upload(&s.server, "alice/m", &s.bob, &bad).await;
    let head = s.head("main").await;
    let r = client()
        .put(s.at(""))
        .bearer_auth(&s.bob)
        .json(&json!({"datapackage": package(&bad, "M", true, &[]), "parent": head}))
        .send()
        .await
        .unwrap();
    let (status, headers, v) = body(r).await;
    assert_error_body(status, &headers, &v, 422);

    // A tag: an event every reader hears of, the stream's last below.
    let (status, _) = call(
        reqwest::Method::POST,
        &s.at("/tags"),
        &s.alice,
        Some(json!({"name": "done"})),
    )
    .await;
    assert_eq!(status, 201);

    // Eight deliveries, each verified by the reference verifier.
    let got = receiver.wait_for(8).await.to_vec();
    let verdicts = tokio::task::spawn_blocking(move || verify(&got, &secret))
        .await
        .unwrap();
    assert!(verdicts.iter().all(|v| v["ok"] == true), "{verdicts:?}");
    let payloads: Vec<&Value> = verdicts.iter().map(|v| &v["payload"]).collect();
    let by_kind = |k: &str| -> &Value {
        payloads
            .iter()
            .find(|p| p["type"] == k)
            .unwrap_or_else(|| panic!("no {k} in {payloads:?}"))
    };
    let granted = &by_kind("share.granted")["data"];
    assert_eq!(granted["dataset"], "alice/m");
    assert_eq!(granted["actor"], "alice");
    assert_eq!(granted["path"], "t.csv");
    assert_eq!(granted["grantee"], "carol");
    assert_eq!(granted["access"], "read");
    assert_eq!(by_kind("share.revoked")["data"]["grantee"], "carol");
    assert_eq!(by_kind("merge_request.closed")["data"]["actor"], "bob");
    assert_eq!(by_kind("merge_request.reopened")["data"]["number"], 1);
    assert_eq!(
        payloads
            .iter()
            .filter(|p| p["type"] == "share.granted")
            .count(),
        1,
        "an unchanged share made again is no event"
    );
    let link = &by_kind("share_link.created")["data"];
    assert_eq!(link["actor"], "alice");
    assert_eq!(link["path"], "t.csv");
    assert_eq!(link["password"], false);
    let opened = &by_kind("merge_request.opened")["data"];
    assert_eq!(opened["actor"], "bob");
    assert_eq!(opened["number"], 1);
    assert_eq!(opened["source"], "feature");
    assert_eq!(opened["target"], "main");
    assert_eq!(opened["title"], "A sixth row");
    let done = &by_kind("merge_request.merged")["data"];
    assert_eq!(done["actor"], "alice");
    assert_eq!(done["revision"], merged["revision"]["id"]);
    let failed = &by_kind("contract.failed")["data"];
    assert_eq!(failed["actor"], "bob");
    assert_eq!(failed["branch"], "main");
    assert_eq!(
        failed["violations"],
        json!([{"resource": "t", "column": "score", "rule": "minimum", "count": 1}])
    );
    let all = verdicts
        .iter()
        .map(|v| v["payload"].to_string())
        .collect::<String>();
    assert!(!all.contains(&link_secret), "a link secret delivered");
    assert!(!all.contains("-10"), "a refused value delivered");

    // Told: carol of her share; alice of the request and the refused write (not of what she
    // did); bob of his merged request (not of his own request or refusal).
    assert_eq!(wait_notified(&s, &carol, 1).await, ["share.granted"]);
    assert_eq!(
        wait_notified(&s, &s.alice, 2).await,
        ["contract.failed", "merge_request.opened"]
    );
    assert_eq!(wait_notified(&s, &s.bob, 1).await, ["merge_request.merged"]);
    let v = notifications(&s, &carol, "").await;
    assert_eq!(v["unread"], 1);
    let n = &v["notifications"][0];
    assert_eq!(n["text"], "alice shared t.csv of alice/m with you (read)");
    assert_eq!(n["link"], "/datasets/alice/m/files/t.csv");
    assert_eq!(n["read"], false);
    let v = notifications(&s, &s.alice, "").await;
    assert_eq!(
        v["notifications"][1]["link"],
        "/datasets/alice/m/merge-requests/1"
    );
    assert!(
        v["notifications"][0]["text"]
            .as_str()
            .unwrap()
            .contains("broke its contract"),
        "{v}"
    );

    // Marked read: bob cannot mark alice's; alice marks one, then all.
    let alice_first = v["notifications"][0]["id"].as_i64().unwrap();
    let read = |token: String, ids: Value| {
        let url = format!("{base}/api/v1/notifications/read");
        async move { call(reqwest::Method::POST, &url, &token, Some(ids)).await }
    };
    let (status, v) = read(s.bob.clone(), json!({"ids": [alice_first]})).await;
    assert_eq!((status, &v["marked"]), (200, &json!(0)), "{v}");
    let (status, v) = read(s.alice.clone(), json!({"ids": [alice_first]})).await;
    assert_eq!((status, &v["marked"]), (200, &json!(1)), "{v}");
    let v = notifications(&s, &s.alice, "?unread=true").await;
    assert_eq!(v["unread"], 1);
    assert_eq!(v["notifications"].as_array().unwrap().len(), 1);
    let (status, v) = read(s.alice.clone(), json!({})).await;
    assert_eq!((status, &v["marked"]), (200, &json!(1)), "{v}");
    assert_eq!(notifications(&s, &s.alice, "").await["unread"], 0);

    // The stream: alice (an admin) sees the share events and the refused write; bob (a
    // writer) does not, though he sees the merge request's.
    let stream = |token: String| {
        let url = format!("{base}/api/v1/events");
        async move {
            let r = client().get(url).bearer_auth(token).send().await.unwrap();
            sse_until(r, |got| got.iter().any(|e| e.1 == "tag.created")).await
        }
    };
    let alices: Vec<String> = stream(s.alice.clone())
        .await
        .into_iter()
        .map(|e| e.1)
        .collect();
    for k in ["share.granted", "share_link.created", "contract.failed"] {
        assert!(alices.contains(&k.to_owned()), "{k}: {alices:?}");
    }
    let bobs: Vec<String> = stream(s.bob.clone())
        .await
        .into_iter()
        .map(|e| e.1)
        .collect();
    assert!(
        bobs.contains(&"merge_request.merged".to_owned()),
        "{bobs:?}"
    );
    assert!(
        !bobs
            .iter()
            .any(|k| k.starts_with("share") || k == "contract.failed"),
        "{bobs:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_policy_set_is_an_event() {
    let server = TestServer::start_with(Backend::Local, |c| {
        c.webhooks_allow_private = Switch::On;
        c.policy_dataset = Some("root/policies".into());
    })
    .await;
    let root = server.user_with("root", true, "*").await;
    let (status, v) = call(
        reqwest::Method::POST,
        &format!("{}{API}", server.url),
        &root,
        Some(json!({"namespace": "root", "name": "policies", "visibility": "private"})),
    )
    .await;
    assert_eq!(status, 201, "{v}");
    let mut receiver = tokio::task::spawn_blocking(Receiver::start).await.unwrap();
    let (status, created) = call(
        reqwest::Method::POST,
        &format!("{}{API}/root/policies/webhooks", server.url),
        &root,
        Some(json!({"url": receiver.url("/ok"), "events": ["policy.changed"]})),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    // A README: no policy changed. Then a policy file: one event naming it.
    commit_to(
        &server,
        &root,
        "root/policies",
        "main",
        &[("README.md", "x\n")],
    )
    .await;
    let rev = commit_to(
        &server,
        &root,
        "root/policies",
        "main",
        &[("lib.rego", crate::governance::LIB)],
    )
    .await;
    let got = receiver.wait_for(1).await.to_vec();
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    while let Ok(line) = receiver.lines.try_recv() {
        receiver.got.push(serde_json::from_str(&line).unwrap());
    }
    assert_eq!(receiver.got.len(), 1, "{:?}", receiver.got);
    let p: Value = serde_json::from_str(got[0]["body"].as_str().unwrap()).unwrap();
    assert_eq!(p["type"], "policy.changed");
    assert_eq!(p["data"]["dataset"], "root/policies");
    assert_eq!(p["data"]["revision"], rev.as_str());
    assert_eq!(p["data"]["files"], json!(["lib.rego"]));
    assert_eq!(p["data"]["actor"], "root");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_dataset_takes_its_events_with_it() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let create = |visibility: &'static str| {
        let (url, alice) = (format!("{}{API}", server.url), alice.clone());
        async move {
            let (status, v) = call(
                reqwest::Method::POST,
                &url,
                &alice,
                Some(json!({"namespace": "alice", "name": "d", "visibility": visibility})),
            )
            .await;
            assert_eq!(status, 201, "{v}");
        }
    };
    // A private dataset with a secret path in its history, then deleted; made again, public.
    create("private").await;
    commit_to(
        &server,
        &alice,
        "alice/d",
        "main",
        &[("secret-plans.txt", "x\n")],
    )
    .await;
    let (status, _) = call(
        reqwest::Method::DELETE,
        &format!("{}{API}/alice/d", server.url),
        &alice,
        None,
    )
    .await;
    assert_eq!(status, 204);
    create("public").await;
    commit_to(&server, &alice, "alice/d", "main", &[("public.txt", "y\n")]).await;
    // bob, who may read the new one, hears of its two events only.
    let r = client()
        .get(format!("{}/api/v1/events", server.url))
        .bearer_auth(&bob)
        .send()
        .await
        .unwrap();
    let got = sse_until(r, |got| {
        got.iter()
            .any(|e| e.2["data"]["paths"] == json!(["public.txt"]))
    })
    .await;
    let all = format!("{got:?}");
    assert!(!all.contains("secret-plans"), "{all}");
    assert_eq!(got.len(), 2, "{all}");
}
