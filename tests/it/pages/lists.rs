//! Dataset lists past their first page: the landing page and home show 200 datasets at a time,
//! and "More datasets" goes on with the next ones (a search's too) until none are left; nothing
//! is listed twice or skipped, and a private dataset is never on a stranger's page.

use super::cards::api;
use crate::common::*;
use serde_json::json;
use std::collections::BTreeSet;

/// The dataset paths a list page shows, and its "More datasets" link.
fn listed(html: &str) -> (Vec<String>, Option<String>) {
    let rows = html
        .split("<td><a href=\"/datasets/")
        .skip(1)
        .map(|r| r.split('"').next().unwrap().to_owned())
        .collect();
    let more = html
        .split("id=\"more-datasets\" href=\"")
        .nth(1)
        .map(|r| r.split('"').next().unwrap().replace("&amp;", "&"));
    (rows, more)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_go_on_past_their_first_page() {
    let server = server_with_alice().await;
    let token = strata::cli::admin::create_token(&server.state, "alice", "t", "*", None)
        .await
        .unwrap();
    let all: Vec<usize> = (0..205).collect();
    let mut statuses = Vec::new();
    for chunk in all.chunks(8) {
        let batch = chunk.iter().map(|&i| {
            let (server, token) = (&server, &token);
            async move {
                let visibility = if i == 7 { "private" } else { "public" };
                let name = format!("set-{i:03}");
                let body = json!({"namespace": "alice", "name": name, "visibility": visibility});
                api(server, token, reqwest::Method::POST, "/datasets", body)
                    .await
                    .0
            }
        });
        statuses.extend(futures_util::future::join_all(batch).await);
    }
    assert!(statuses.iter().all(|s| *s == 201), "{statuses:?}");

    // A stranger pages through the public ones: 204, each once, the private one never.
    let mut stranger = Browser::new(&server.url);
    let mut seen = Vec::new();
    let mut next = Some("/".to_owned());
    let mut pages = 0;
    while let Some(url) = next {
        let page = stranger.get(&url).await;
        assert_eq!(page.status, 200, "{url}");
        let (rows, more) = listed(&page.text);
        assert!(rows.len() <= 200, "{url}: {}", rows.len());
        seen.extend(rows);
        next = more;
        pages += 1;
        assert!(pages < 5, "the pages never end");
    }
    assert_eq!(pages, 2);
    let unique: BTreeSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "listed twice");
    assert_eq!(seen.len(), 204);
    assert!(!seen.iter().any(|p| p == "alice/set-007"));
    // Alice's home lists hers, the private one too; a search pages the same way.
    let mut alice = Browser::new(&server.url);
    alice.login("alice", PASSWORD).await;
    let (first, more) = listed(&alice.get("/?q=set-").await.text);
    assert_eq!(first.len(), 200);
    let more = more.expect("a link to the next datasets");
    assert!(more.contains("q=set-"), "{more}");
    let (rest, end) = listed(&alice.get(&more).await.text);
    assert_eq!(rest.len(), 5);
    assert!(end.is_none());
    assert!(first.iter().chain(&rest).any(|p| p == "alice/set-007"));
    // A cursor that is no number is refused, not a server error.
    assert_eq!(stranger.get("/?after=abc").await.status, 400);
}
