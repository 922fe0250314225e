//! Operations: `/livez`, `/readyz` (database and store reachable, 503 while draining or with the
//! bucket gone), `/metrics` parsed by prometheus_client's OpenMetrics parser, JSON logs,
//! `strata migrate`, and a schema newer than the binary refused.

use std::io::{BufRead, Write};
use std::process::{Command, Stdio};
use std::sync::atomic::Ordering;

use serde_json::Value;
use strata_core::db::Visibility;

use crate::common::*;

async fn get(url: &str) -> (u16, String) {
    let r = client().get(url).send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// The samples of strata's metrics, through prometheus_client's parser.
fn parse_metrics(text: &str) -> Vec<Value> {
    let mut child = Command::new(python_tool("python"))
        .arg(format!(
            "{}/tests/it/metrics_parse.py",
            env!("CARGO_MANIFEST_DIR")
        ))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the OpenMetrics parser refused /metrics: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice::<Vec<Value>>(&out.stdout).unwrap()
}

fn sample<'a>(samples: &'a [Value], name: &str, labels: &[(&str, &str)]) -> Option<&'a Value> {
    samples
        .iter()
        .find(|s| s["name"] == name && labels.iter().all(|(k, v)| s["labels"][*k] == *v))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probes_and_metrics() {
    let server = TestServer::start().await;
    assert_eq!(
        get(&format!("{}/livez", server.url)).await,
        (200, "ok".into())
    );
    assert_eq!(get(&format!("{}/healthz", server.url)).await.0, 200);
    let (status, answer) = get(&format!("{}/readyz", server.url)).await;
    assert_eq!(status, 200, "{answer}");
    let ready: Value = serde_json::from_str(&answer).unwrap();
    assert_eq!(ready["checks"]["database"], "ok");
    assert_eq!(ready["checks"]["storage"], "ok");

    // Some traffic: an upload, a refused upload, a download batch, a clone.
    let token = server.user("alice").await;
    server
        .repo("alice/secret-project", Visibility::Private)
        .await;
    let data = b"metrics are counted".repeat(100);
    upload(&server, "alice/secret-project", &token, &data).await;
    let wrong = b"these bytes are not the ones announced".to_vec();
    let wrong_len = wrong.len();
    let oid = strata_lfs::Oid::of(b"something else entirely").to_string();
    let req = serde_json::json!({"operation": "upload",
        "objects": [{"oid": oid, "size": wrong.len()}]});
    let (_, _, v) = body(
        lfs_post(
            &server.batch_url("alice/secret-project"),
            Some(&token),
            &req,
        )
        .await,
    )
    .await;
    let href = v["objects"][0]["actions"]["upload"]["href"]
        .as_str()
        .unwrap();
    let r = client().put(href).body(wrong).send().await.unwrap();
    assert_eq!(r.status(), 422);
    let home = tempfile::tempdir().unwrap();
    setup_home(home.path(), &server.url, &token);
    run(git(home.path(), home.path())
        .args(["clone", "-q"])
        .arg(format!("{}/alice/secret-project.git", server.url))
        .arg("clone"));
    let r = client()
        .get(format!("{}/nowhere/at/all", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);

    let r = client()
        .get(format!("{}/metrics", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/openmetrics-text"));
    let text = r.text().await.unwrap();
    // Route templates only: no user, dataset or object is named.
    for secret in ["alice", "secret-project", &oid] {
        assert!(!text.contains(secret), "/metrics names {secret}:\n{text}");
    }
    let samples = parse_metrics(&text);
    let batch = sample(
        &samples,
        "strata_http_requests_total",
        &[
            ("route", "/{ns}/{repo}/info/lfs/objects/batch"),
            ("method", "POST"),
            ("status", "200"),
        ],
    )
    .unwrap_or_else(|| panic!("{text}"));
    assert!(batch["value"].as_f64().unwrap() >= 2.0);
    assert!(sample(
        &samples,
        "strata_http_requests_total",
        &[("route", "unmatched"), ("status", "404")]
    )
    .is_some());
    assert!(sample(
        &samples,
        "strata_http_request_duration_seconds_count",
        &[("route", "/{ns}/{repo}/info/lfs/objects/batch")]
    )
    .is_some());
    let uploads = sample(
        &samples,
        "strata_lfs_objects_total",
        &[("operation", "upload"), ("backend", "local")],
    )
    .unwrap();
    assert_eq!(uploads["value"], 2.0);
    let bytes = sample(
        &samples,
        "strata_lfs_bytes_total",
        &[("operation", "upload")],
    )
    .unwrap();
    assert_eq!(
        bytes["value"].as_f64().unwrap(),
        (data.len() + wrong_len) as f64
    );
    let failures = sample(&samples, "strata_lfs_verify_failures_total", &[]).unwrap();
    assert_eq!(failures["value"], 1.0);
    let fetches = sample(
        &samples,
        "strata_git_operations_total",
        &[("service", "git-upload-pack"), ("outcome", "ok")],
    )
    .unwrap_or_else(|| panic!("{text}"));
    assert!(fetches["value"].as_f64().unwrap() >= 1.0);
    assert!(sample(&samples, "strata_db_pool_connections", &[("state", "max")]).is_some());
    let engine = match server.state.db.engine() {
        strata_core::db::Engine::Sqlite => "sqlite",
        strata_core::db::Engine::Postgres => "postgres",
    };
    assert!(sample(&samples, "strata_build_info", &[("database", engine)]).is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_follows_the_bucket_and_the_drain() {
    // The bucket gone: not ready, saying which check failed; back: ready again.
    let s3 = TestServer::start_with(Backend::S3, |_| {}).await;
    let offline = s3.s3.as_ref().unwrap().offline.clone();
    offline.store(true, Ordering::SeqCst);
    let (status, body) = get(&format!("{}/readyz", s3.url)).await;
    assert_eq!(status, 503, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["checks"]["storage"], "unreachable");
    assert_eq!(v["checks"]["database"], "ok");
    offline.store(false, Ordering::SeqCst);
    assert_eq!(get(&format!("{}/readyz", s3.url)).await.0, 200);
    s3.stop().await;

    // A shutdown with a drain delay: not ready at once, still answering meanwhile, then gone.
    let mut server = TestServer::start_with(Backend::Local, |c| c.drain_delay_secs = 2).await;
    assert_eq!(get(&format!("{}/readyz", server.url)).await.0, 200);
    server.begin_shutdown();
    // Measured from the signal: the requests below may be slow on a busy machine.
    let signalled = std::time::Instant::now();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let (status, body) = get(&format!("{}/readyz", server.url)).await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("draining"), "{body}");
    assert_eq!(get(&format!("{}/livez", server.url)).await.0, 200);
    loop {
        match client().get(format!("{}/livez", server.url)).send().await {
            Ok(_) if signalled.elapsed().as_secs() < 10 => {
                tokio::time::sleep(std::time::Duration::from_millis(100)).await
            }
            Ok(_) => panic!("still accepting 10 s after the shutdown"),
            Err(_) => break,
        }
    }
    // Accepting until the drain delay (2 s) is over, give or take the 100 ms between tries.
    assert!(
        signalled.elapsed().as_millis() >= 1900,
        "{:?}",
        signalled.elapsed()
    );
}

#[test]
fn json_logs_and_migrations() {
    let dir = tempfile::tempdir().unwrap();
    let exe = env!("CARGO_BIN_EXE_strata");
    // `strata migrate` on a fresh data directory.
    let out = Command::new(exe)
        .args(["migrate", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(said.starts_with("database schema at migration "), "{said}");

    // A server logging JSON: one object per line, the listening address among the fields.
    let mut child = Command::new(exe)
        .args([
            "--log-format",
            "json",
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
        ])
        .arg(dir.path())
        .env("STRATA_LOG", "info")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let listening = loop {
        let line = lines.next().expect("a log line").unwrap();
        let v: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(
            v["level"].is_string() && v["timestamp"].is_string(),
            "{line}"
        );
        if v["fields"]["message"] == "strata listening" {
            break v;
        }
    };
    assert!(listening["fields"]["addr"]
        .as_str()
        .unwrap()
        .starts_with("127.0.0.1:"));
    let _ = child.kill();
    let _ = child.wait();

    // A database migrated by a newer strata: refused, saying so.
    let db = dir.path().join("strata.db");
    let conn = Command::new("python3")
        .arg("-c")
        .arg(
            "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); \
             c.execute(\"INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
             VALUES (99999, 'from the future', 1, x'00', 0)\"); c.commit()",
        )
        .arg(&db)
        .output()
        .unwrap();
    assert!(
        conn.status.success(),
        "{}",
        String::from_utf8_lossy(&conn.stderr)
    );
    let out = Command::new(exe)
        .args(["migrate", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("newer strata") && err.contains("99999"),
        "{err}"
    );
}
