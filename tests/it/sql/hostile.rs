//! What one anonymous SQL request must never do: end the process (a statement as deep as it is
//! long: `1+1+…`, `||`, `AND`, `OR`, `UNION ALL`), hold the server (a cross join that would run
//! for days), or grow the process by the values it makes (`repeat`). Each over REST (POST and
//! GET), the SQL page and Flight SQL, with `/livez` and an LFS batch answered during and after.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::common::*;
use crate::tables::put_resources;

/// A public dataset `alice/t` with a table `n` of 100 rows, on a server with a shutdown grace
/// period of 3 s.
async fn public_numbers() -> (TestServer, String) {
    let csv: String = std::iter::once("id\n".to_owned())
        .chain((1..=100).map(|i| format!("{i}\n")))
        .collect();
    let server = TestServer::start_with(Backend::Local, |c| c.shutdown_grace_secs = 3).await;
    let alice = server.user("alice").await;
    let r = client()
        .post(format!("{}/api/v1/datasets", server.url))
        .bearer_auth(&alice)
        .json(&json!({"namespace": "alice", "name": "t", "visibility": "private"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    put_resources(
        &server,
        &alice,
        &[("n", "n.csv", csv.into_bytes())],
        json!({}),
    )
    .await;
    let r = client()
        .put(format!("{}/api/v1/datasets/alice/t/visibility", server.url))
        .bearer_auth(&alice)
        .json(&json!({"visibility": "public"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204, "{}", r.text().await.unwrap());
    (server, alice)
}

/// `/livez` answers, and soon (not a timing goal: before the fix it stopped answering for
/// minutes; the figures are in the benchmarks).
async fn alive(base: &str) {
    let started = Instant::now();
    let r = client()
        .get(format!("{base}/livez"))
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .expect("/livez answers");
    assert!(r.status().is_success(), "{}", r.status());
    let took = started.elapsed();
    assert!(took < Duration::from_secs(5), "/livez took {took:?}");
}

fn chains(n: usize) -> Vec<(&'static str, String)> {
    let terms = |t: &str, sep: &str| vec![t; n].join(sep);
    vec![
        ("+", format!("SELECT {}", terms("1", "+"))),
        ("||", format!("SELECT {}", terms("'a'", "||"))),
        ("AND", format!("SELECT 1 WHERE {}", terms("true", " AND "))),
        ("OR", format!("SELECT 1 WHERE {}", terms("1=0", " OR "))),
        ("UNION ALL", terms("SELECT 1", " UNION ALL ")),
        (
            "OR on a table",
            format!(
                r#"SELECT count(*) FROM "alice/t"."n" WHERE {}"#,
                terms("id < 0", " OR ")
            ),
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statements_as_deep_as_they_are_long_are_refused_and_the_server_lives() {
    let (server, _) = public_numbers().await;
    let base = server.url.clone();
    for n in [2_500, 3_500, 6_000] {
        for (shape, query) in chains(n) {
            if query.len() > 64 * 1024 {
                continue;
            }
            // POST, anonymously.
            let r = client()
                .post(format!("{base}/api/v1/sql"))
                .json(&json!({ "query": query }))
                .send()
                .await
                .unwrap_or_else(|e| panic!("{shape} × {n}: the server went away: {e}"));
            let (status, headers, v) = body(r).await;
            assert_eq!(status, 400, "{shape} × {n}: {v}");
            assert!(headers.contains_key("x-request-id"), "{shape}");
            let message = v["message"].as_str().unwrap_or_default();
            assert!(message.contains("at most 1000"), "{shape} × {n}: {message}");
            // GET, and the SQL page (where a URL can hold the query).
            if query.len() > 20 * 1024 {
                continue;
            }
            let r = client()
                .get(format!("{base}/api/v1/sql"))
                .query(&[("q", query.as_str())])
                .send()
                .await
                .unwrap_or_else(|_| panic!("{shape} × {n} (GET): the server went away"));
            assert_eq!(r.status(), 400, "{shape} × {n} (GET)");
            let r = client()
                .get(format!("{base}/sql"))
                .query(&[("q", query.as_str())])
                .send()
                .await
                .unwrap_or_else(|_| panic!("{shape} × {n} (page): the server went away"));
            assert_eq!(r.status(), 400, "{shape} × {n} (page)");
            let page = r.text().await.unwrap();
            assert!(page.contains("at most 1000"), "{shape} × {n} (page)");
        }
        alive(&base).await;
    }
    // Within the bounds, the same shapes answer.
    for (shape, query) in chains(900) {
        let t = Instant::now();
        let r = client()
            .post(format!("{base}/api/v1/sql"))
            .json(&json!({ "query": query }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{shape}: {}", r.text().await.unwrap());
        eprintln!("{shape} × 900: {:?}", t.elapsed());
    }
    // Flight SQL, through the ADBC driver.
    let deep = chains(2_500).remove(0).1;
    let script = r#"
import sys, adbc_driver_flightsql.dbapi as flight_sql
with flight_sql.connect(sys.argv[1]) as conn:
    cur = conn.cursor()
    try:
        cur.execute(sys.argv[2])
        print("ANSWERED", cur.fetchall())
    except Exception as e:
        print("REFUSED", e)
"#;
    let uri = base.replace("http://", "grpc://");
    let python = python_tool("python");
    let out = tokio::task::spawn_blocking(move || {
        run(std::process::Command::new(python).args(["-c", script, &uri, &deep]))
    })
    .await
    .unwrap();
    assert!(
        out.contains("REFUSED") && out.contains("at most 1000"),
        "{out}"
    );
    alive(&base).await;
    // Values no query may make: refused before they are made.
    let r = client()
        .post(format!("{base}/api/v1/sql"))
        .json(&json!({ "query": "SELECT max(length(repeat('x', 100000000 + v))) FROM (VALUES (1),(2),(3),(4),(5),(6)) t(v)" }))
        .send()
        .await
        .unwrap();
    let (status, _, v) = body(r).await;
    assert_eq!(status, 400, "{v}");
    assert!(
        v["message"].as_str().unwrap().contains("16777216 bytes"),
        "{v}"
    );
    alive(&base).await;
}

/// A 6-way cross join of 100 rows (10^12 rows, none kept).
const RUNAWAY: &str = r#"SELECT count(*) FROM "alice/t"."n" a, "alice/t"."n" b, "alice/t"."n" c, "alice/t"."n" d, "alice/t"."n" e, "alice/t"."n" f WHERE a.id + b.id + c.id + d.id + e.id + f.id < 0"#;

/// Starts `RUNAWAY` anonymously; its client gives up after `patience`.
fn runaway(base: &str, patience: Duration) -> tokio::task::JoinHandle<Option<u16>> {
    let url = format!("{base}/api/v1/sql");
    tokio::spawn(async move {
        client()
            .post(url)
            .json(&json!({ "query": RUNAWAY }))
            .timeout(patience)
            .send()
            .await
            .ok()
            .map(|r| r.status().as_u16())
    })
}

/// Waits up to 30 s (the suite runs beside builds on two cores) for `want` queries running.
async fn queries_running(server: &TestServer, want: usize) {
    for _ in 0..300 {
        if server.state.sql.count() == want {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{} queries running, not {want}", server.state.sql.count());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runaway_query_never_holds_the_server_and_stops_when_its_client_goes() {
    let (server, alice) = public_numbers().await;
    let base = server.url.clone();
    let first = runaway(&base, Duration::from_secs(120));
    let second = runaway(&base, Duration::from_secs(120));
    queries_running(&server, 2).await;
    // While both run: a third of the same caller waits its turn, and the rest of the server
    // answers, each answer coming while both queries still run (a held server would answer
    // only once they stop; no timing goal, the suite shares two cores with PostgreSQL).
    let r = client()
        .post(format!("{base}/api/v1/sql"))
        .json(&json!({ "query": "SELECT 1" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    for _ in 0..6 {
        alive(&base).await;
        let r = lfs_post(
            &server.batch_url("alice/t"),
            Some(&alice),
            &json!({"operation": "download", "objects": [{"oid": "0".repeat(64), "size": 1}]}),
        )
        .await;
        assert_eq!(r.status(), 200);
        assert_eq!(
            server.state.sql.count(),
            2,
            "answered while both queries run"
        );
        assert!(!first.is_finished() && !second.is_finished());
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    // Their clients give up (the requests are dropped, their connections closed): the queries
    // stop, and their turns are free again.
    first.abort();
    second.abort();
    assert!(first.await.unwrap_err().is_cancelled());
    assert!(second.await.unwrap_err().is_cancelled());
    queries_running(&server, 0).await;
    let r = client()
        .post(format!("{base}/api/v1/sql"))
        .json(&json!({ "query": "SELECT 1 AS one" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // A shutdown stops a query still running, within the grace period.
    let mut server = server;
    let third = runaway(&base, Duration::from_secs(120));
    queries_running(&server, 1).await;
    let started = Instant::now();
    server.begin_shutdown();
    let answered = tokio::time::timeout(Duration::from_secs(60), third)
        .await
        .expect("the query's client is answered or cut off at shutdown")
        .unwrap();
    assert_ne!(answered, Some(200));
    tokio::time::timeout(Duration::from_secs(30), server.stop())
        .await
        .expect("the server stops");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
}
