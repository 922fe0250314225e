//! A gated dataset through `huggingface_hub`'s own calls: a visitor's `dataset_info` and
//! `hf_hub_download` raise `GatedRepoError`; the owner lists the pending request
//! (`list_pending_access_requests`, with the form's answers), accepts it, and the visitor
//! downloads; rejects it with a reason, and the visitor is refused again; grants a user who never
//! asked, and cancels that grant back to pending. A visitor cannot list or answer.

use reqwest::Method;
use serde_json::{json, Value};

use super::hf::client_run;
use crate::common::*;
use crate::sharing::gated::{call, survey, CANARY};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huggingface_hub_answers_access_requests() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    server.user("carol").await;
    survey(&server, &alice).await;
    let path = "/api/v1/datasets/alice/survey";
    let (status, v) = call(
        &server,
        Method::PUT,
        &format!("{path}/access/gate"),
        Some(&alice),
        Some(json!({"mode": "manual"})),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    let hf = |token: &str, args: &[&str]| {
        let (url, token) = (server.url.clone(), token.to_owned());
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        async move {
            tokio::task::spawn_blocking(move || {
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                client_run(&url, Some(&token), &args)
            })
            .await
            .unwrap()
        }
    };
    let repo = "alice/survey";

    // A visitor: the client's own GatedRepoError, no byte of the table.
    let v = hf(&bob, &["access", repo, "read", "answers.csv"]).await;
    assert_eq!(v["gated"], "GatedRepoError", "{v}");
    assert_eq!(v["error"][0], "GatedRepoError", "{v}");
    assert!(!v.to_string().contains(CANARY));
    // Nor may a visitor see or answer the queue.
    for action in [vec!["list"], vec!["accept", "bob"], vec!["grant", "bob"]] {
        let mut args = vec!["access", repo];
        args.extend(action);
        let v = hf(&bob, &args).await;
        assert!(v["error"].is_array(), "{v}");
        assert!(matches!(v["error"][1].as_u64(), Some(403)), "{v}");
    }

    // bob asks (REST); the owner sees it through the Hub's list, with his answers.
    let (status, v) = call(
        &server,
        Method::POST,
        &format!("{path}/access/requests"),
        Some(&bob),
        Some(json!({"fields": {"name": "Bob Brown", "organization": "Uni", "purpose": "thesis"}})),
    )
    .await;
    assert_eq!(status, 201, "{v}");
    let v = hf(&alice, &["access", repo, "list"]).await;
    assert_eq!(v["ok"], true, "{v}");
    let pending = &v["pending"][0];
    assert_eq!(pending[0], "bob");
    assert_eq!(pending[1], "Bob Brown");
    assert_eq!(pending[3], "pending");
    assert_eq!(pending[4]["purpose"], "thesis");
    assert_eq!(v["accepted"], json!([]));

    // Accepted: bob downloads, and dataset_info says how it is gated.
    let v = hf(&alice, &["access", repo, "accept", "bob"]).await;
    assert_eq!(v["ok"], true, "{v}");
    let v = hf(&bob, &["access", repo, "read", "answers.csv"]).await;
    assert_eq!(v["gated"], "manual", "{v}");
    assert!(v["read"].as_str().unwrap().contains(CANARY), "{v}");
    let v = hf(&alice, &["access", repo, "list"]).await;
    assert_eq!(v["accepted"][0][0], "bob", "{v}");

    // Rejected with a reason: refused again; rejecting twice is the Hub's 404.
    let v = hf(&alice, &["access", repo, "reject", "bob", "closed for now"]).await;
    assert_eq!(v["ok"], true, "{v}");
    let v = hf(&bob, &["access", repo, "read", "answers.csv"]).await;
    assert_eq!(v["error"][0], "GatedRepoError", "{v}");
    let v = hf(&alice, &["access", repo, "reject", "bob", "again"]).await;
    assert_eq!(v["error"][1], 404, "{v}");
    let (_, p) = call(
        &server,
        Method::GET,
        &format!("{path}/access"),
        Some(&bob),
        None,
    )
    .await;
    assert_eq!(p["request"]["reason"], "closed for now", "{p}");

    // A grant to someone who never asked, then cancelled back to pending.
    let v = hf(&alice, &["access", repo, "grant", "carol"]).await;
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["granted"]["status"], "accepted", "{v}");
    let v = hf(&alice, &["access", repo, "grant", "carol"]).await;
    assert_eq!(v["error"][1], 400, "{v}");
    let v = hf(&alice, &["access", repo, "cancel", "carol"]).await;
    assert_eq!(v["ok"], true, "{v}");
    let v = hf(&alice, &["access", repo, "list"]).await;
    let pending: Vec<&Value> = v["pending"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r[0])
        .collect();
    assert_eq!(pending, [&json!("carol")], "{v}");
    assert_eq!(v["rejected"][0][0], "bob", "{v}");
    // A user who does not exist: the Hub's 404.
    let v = hf(&alice, &["access", repo, "accept", "nobody"]).await;
    assert_eq!(v["error"][1], 404, "{v}");
}
