//! Views made ahead of time, from a real `git push`: the push is answered, then the server makes
//! the pushed table's view in the background (counted on `/metrics`) before anyone reads it, and
//! the first read of its rows answers from it.

use std::time::Duration;

use serde_json::json;
use strata_core::db::Visibility;

use crate::common::*;

/// `strata_table_views_ahead_total{outcome=…}` on `/metrics`.
async fn counted(server: &TestServer, outcome: &str) -> Option<u64> {
    let text = server.metrics_text().await;
    let line = format!("strata_table_views_ahead_total{{outcome=\"{outcome}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(line.as_str()))
        .and_then(|n| n.trim().parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pushed_table_has_its_view_made_before_its_first_read() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    server.repo("alice/d", Visibility::Private).await;
    let home = server.dir.path().join("home");
    setup_home(&home, &server.url, &alice);
    run(git(&home, &home).args(["clone", "-q", &format!("{}/alice/d.git", server.url), "d"]));
    let work = home.join("d");
    let table = b"id,name\n1,ann\n2,bo\n3,cy\n".to_vec();
    run(git(&home, &work).args(["lfs", "track", "table.csv"]));
    std::fs::write(work.join("table.csv"), &table).unwrap();
    let package = json!({"name": "d", "resources": [{"name": "table", "path": "table.csv",
        "format": "csv", "schema": {"fields": [{"name": "id", "type": "integer"},
        {"name": "name", "type": "string"}]}}]});
    std::fs::write(
        work.join("datapackage.json"),
        serde_json::to_vec_pretty(&package).unwrap(),
    )
    .unwrap();
    commit_all(&home, &work, "a table");
    assert_eq!(counted(&server, "made").await, Some(0), "nothing before");
    let pushed = tokio::task::spawn_blocking({
        let (home, work) = (home.clone(), work.clone());
        move || run(git(&home, &work).args(["push", "-q", "origin", "main"]))
    });
    pushed.await.unwrap();
    // Nobody reads: the background makes the view.
    let mut made = 0;
    for _ in 0..100 {
        made = counted(&server, "made").await.unwrap_or_default();
        if made >= 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        made,
        1,
        "the pushed table's view, made ahead of time: {:?}",
        server.state.tables.ahead.figures()
    );
    assert_eq!(counted(&server, "failed").await, Some(0));
    let before = server.state.tables.ahead.figures();
    let r = client()
        .get(format!(
            "{}/api/v1/datasets/alice/d/tables/table/rows",
            server.url
        ))
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap();
    let (status, _, v) = body(r).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["rows"].as_array().map(Vec::len), Some(3), "{v}");
    assert_eq!(server.state.tables.ahead.figures(), before);
}
