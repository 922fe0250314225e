//! Events across replicas (PostgreSQL only, `pg_only_`): a burst of racing commits through NGINX
//! while first one replica and then the other is killed (SIGKILL), so the dispatcher's leader
//! dies whichever it was. Every change that happened is delivered, none that did not, and each
//! change is one event (repeats only of the same delivery: at least once).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};

use super::Receiver;
use crate::common::cluster::Cluster;
use crate::common::*;

/// The head of `main`, through `url`.
async fn head(url: &str, token: &str) -> Option<String> {
    let r = client()
        .get(format!("{url}/api/v1/datasets/alice/data"))
        .bearer_auth(token)
        .send()
        .await
        .ok()?;
    let v: Value = r.json().await.ok()?;
    v["revision"]["id"].as_str().map(str::to_owned)
}

/// One writer: `n` commits to `main`, each retried on a conflict or a dead replica; the
/// revisions it saw made.
async fn writer(
    url: String,
    token: String,
    who: usize,
    n: usize,
    made: Arc<AtomicUsize>,
) -> Vec<String> {
    let mut mine = Vec::new();
    let mut i = 0;
    while i < n {
        let Some(parent) = head(&url, &token).await else {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            continue;
        };
        let sent = client()
            .put(format!("{url}/api/v1/datasets/alice/data"))
            .bearer_auth(&token)
            .json(&json!({"datapackage": {"name": "data", "description": format!("writer {who} commit {i}"),
                "resources": []}, "parent": parent}))
            .send()
            .await;
        match sent {
            Ok(r) if r.status() == 200 => {
                let v: Value = r.json().await.unwrap();
                mine.push(v["revision"]["id"].as_str().unwrap().to_owned());
                made.fetch_add(1, Ordering::SeqCst);
                i += 1;
            }
            // 409: another writer moved main first; 5xx or no answer: a replica died.
            _ => tokio::time::sleep(std::time::Duration::from_millis(20)).await,
        }
    }
    mine
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pg_only_no_event_is_lost_or_made_up_when_replicas_die_in_a_burst() {
    let mut cluster = Cluster::start(2).await;
    let r = client()
        .post(format!("{}/api/v1/datasets", cluster.url))
        .bearer_auth(&cluster.token)
        .json(&json!({"namespace": "alice", "name": "data"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let receiver = Arc::new(Mutex::new(
        tokio::task::spawn_blocking(Receiver::start).await.unwrap(),
    ));
    let hook_url = receiver.lock().unwrap().url("/ok");
    let r = client()
        .post(format!(
            "{}/api/v1/datasets/alice/data/webhooks",
            cluster.url
        ))
        .bearer_auth(&cluster.token)
        .json(&json!({"url": hook_url, "events": ["branch.updated"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());

    // Four writers, 12 commits each; replica 0 killed a third of the way, started again, then
    // replica 1 killed two thirds of the way.
    let made = Arc::new(AtomicUsize::new(0));
    let writers: Vec<_> = (0..4)
        .map(|w| {
            tokio::spawn(writer(
                cluster.url.clone(),
                cluster.token.clone(),
                w,
                12,
                made.clone(),
            ))
        })
        .collect();
    while made.load(Ordering::SeqCst) < 16 {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    cluster.kill(0);
    cluster.start_replica(0).await;
    while made.load(Ordering::SeqCst) < 32 {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    cluster.kill(1);
    let mut seen_made = BTreeSet::new();
    for w in writers {
        seen_made.extend(w.await.unwrap());
    }
    assert_eq!(seen_made.len(), 48);

    // main's history: the dataset's first revision, then every move.
    let mut history = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut url = format!(
            "{}/api/v1/datasets/alice/data/revisions?limit=1000",
            cluster.url
        );
        if let Some(c) = &cursor {
            url.push_str(&format!("&cursor={c}"));
        }
        let r = client()
            .get(url)
            .bearer_auth(&cluster.token)
            .send()
            .await
            .unwrap();
        let v: Value = r.json().await.unwrap();
        for rev in v["revisions"].as_array().unwrap() {
            history.push(rev["id"].as_str().unwrap().to_owned());
        }
        match v["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    let moves: BTreeSet<String> = history[..history.len() - 1].iter().cloned().collect();
    // Every change a writer saw made happened; some made while their answer was lost may too.
    assert!(seen_made.is_subset(&moves));

    // Delivered: each move, by one event (a webhook-id per event; a repeat only of the same).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(90);
    let mut by_message: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    loop {
        let got = {
            let mut r = receiver.lock().unwrap();
            while let Ok(line) = r.lines.try_recv() {
                r.got.push(serde_json::from_str(&line).unwrap());
            }
            r.got.clone()
        };
        by_message.clear();
        for g in &got {
            let p: Value = serde_json::from_str(g["body"].as_str().unwrap()).unwrap();
            let id = g["headers"]["webhook-id"].as_str().unwrap().to_owned();
            by_message
                .entry(id)
                .or_default()
                .insert(p["data"]["after"].as_str().unwrap().to_owned());
        }
        let delivered: BTreeSet<String> = by_message.values().flatten().cloned().collect();
        if delivered.is_superset(&moves) || std::time::Instant::now() > deadline {
            assert_eq!(delivered, moves, "delivered ≠ the moves that happened");
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert!(
        by_message.values().all(|afters| afters.len() == 1),
        "a webhook-id carried two changes"
    );
    assert_eq!(by_message.len(), moves.len(), "a change sent as two events");
}
