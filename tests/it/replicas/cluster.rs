//! Three strata processes on one PostgreSQL, the test S3 server and one shared repositories
//! directory, behind NGINX (`common/cluster.rs`). PostgreSQL only (`pg_only_`): they run in the
//! suite's PostgreSQL phase.
//!
//! - Work spreads over the replicas; racing REST commits through NGINX have one winner per parent.
//! - A replica killed (SIGKILL) in the middle of a push and of an upload's verification: nothing
//!   partial is visible, and retries succeed on the others.
//! - A rolling restart of all three under steady load (pushes, fetches, REST reads and writes,
//!   LFS batches): no client sees a failed request.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use serde_json::{json, Value};

use crate::common::cluster::Cluster;
use crate::common::*;

async fn create_dataset(cluster: &Cluster, name: &str) {
    let r = client()
        .post(format!("{}/api/v1/datasets", cluster.url))
        .bearer_auth(&cluster.token)
        .json(&json!({"namespace": "alice", "name": name}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
}

async fn head(url: &str, token: &str, path: &str) -> reqwest::Result<String> {
    let v: Value = client()
        .get(format!("{url}/api/v1/datasets/{path}"))
        .bearer_auth(token)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    Ok(v["revision"]["id"].as_str().unwrap_or_default().to_owned())
}

fn requests_seen(metrics: &str) -> f64 {
    metrics
        .lines()
        .filter(|l| {
            l.starts_with("strata_http_requests_total{")
                && l.contains("/api/v1/datasets/{ns}/{name}\"")
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

fn git_home(cluster: &Cluster) -> tempfile::TempDir {
    let home = tempfile::tempdir().unwrap();
    setup_home(home.path(), &cluster.url, &cluster.token);
    home
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pg_only_replicas_behind_nginx_share_work_and_survive_a_kill() {
    let mut cluster = Cluster::start(3).await;
    create_dataset(&cluster, "data").await;

    // Reads spread over the three.
    for _ in 0..30 {
        head(&cluster.url, &cluster.token, "alice/data")
            .await
            .unwrap();
    }
    for i in 0..3 {
        let text = reqwest::get(format!("{}/metrics", cluster.replica_url(i)))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(requests_seen(&text) > 0.0, "replica {i} served no read");
    }

    // Racing commits through NGINX: one winner per parent.
    let parent = head(&cluster.url, &cluster.token, "alice/data")
        .await
        .unwrap();
    let writes =
        (0..6).map(|i| {
            let url = format!("{}/api/v1/datasets/alice/data", cluster.url);
            let token = cluster.token.clone();
            let parent = parent.clone();
            async move {
                client()
                .put(url)
                .bearer_auth(token)
                .json(&json!({"datapackage": {"name": "data", "description": format!("writer {i}"),
                    "resources": []}, "parent": parent}))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
            }
        });
    let statuses = futures_util::future::join_all(writes).await;
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 409),
        "{statuses:?}"
    );

    // A push killed half-way, straight to replica 0: no ref moves, the next push (through
    // NGINX, on the others) goes through.
    let home = git_home(&cluster);
    let work = home.path().join("work");
    run(git(home.path(), home.path())
        .args(["clone", "-q"])
        .arg(format!("{}/alice/data.git", cluster.url))
        .arg(&work));
    run(git(home.path(), &work).args(["config", "user.name", "alice"]));
    run(git(home.path(), &work).args(["config", "user.email", "alice@example.org"]));
    let big: Vec<u8> = (0..48u32 << 20)
        .map(|i| (i.wrapping_mul(2654435761) >> 11) as u8)
        .collect();
    std::fs::write(work.join("big.bin"), &big).unwrap();
    run(git(home.path(), &work).args(["add", "big.bin"]));
    run(git(home.path(), &work).args(["commit", "-q", "-m", "a big plain file"]));
    let before = head(&cluster.url, &cluster.token, "alice/data")
        .await
        .unwrap();
    let creds = home.path().join("creds");
    let mut lines = std::fs::read_to_string(&creds).unwrap();
    lines.push_str(&format!(
        "http://alice:{}@{}\n",
        cluster.token,
        cluster.replica_url(0).trim_start_matches("http://")
    ));
    std::fs::write(&creds, lines).unwrap();
    let mut push = git(home.path(), &work)
        .args(["push", "-q"])
        .arg(format!("{}/alice/data.git", cluster.replica_url(0)))
        .arg("main")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    cluster.kill(0);
    let pushed = push.wait().unwrap();
    if !pushed.success() {
        // Killed before the ref moved: it did not move.
        assert_eq!(
            head(&cluster.url, &cluster.token, "alice/data")
                .await
                .unwrap(),
            before
        );
    }
    run(git(home.path(), &work).args(["push", "-q", "origin", "main"]));
    let after = head(&cluster.url, &cluster.token, "alice/data")
        .await
        .unwrap();
    assert_ne!(after, before);
    let fsck = std::process::Command::new("git")
        .arg("-C")
        .arg(cluster.dir.path().join("repos/alice/data.git"))
        .args(["fsck", "--no-progress"])
        .output()
        .unwrap();
    assert!(
        fsck.status.success(),
        "{}",
        String::from_utf8_lossy(&fsck.stderr)
    );

    // An LFS upload whose replica dies before verifying it: verified by another through NGINX.
    let bytes = b"an object uploaded while a replica died".repeat(1000);
    let oid = strata_lfs::Oid::of(&bytes).to_string();
    let req = json!({"operation": "upload", "objects": [{"oid": oid, "size": bytes.len()}]});
    let batch = format!("{}/alice/data.git/info/lfs/objects/batch", cluster.url);
    let (status, _, v) = body(lfs_post(&batch, Some(&cluster.token), &req).await).await;
    assert_eq!(status, 200, "{v}");
    let actions = &v["objects"][0]["actions"];
    let mut put = client()
        .put(actions["upload"]["href"].as_str().unwrap())
        .body(bytes.clone());
    for (k, val) in actions["upload"]["header"].as_object().unwrap() {
        put = put.header(k.as_str(), val.as_str().unwrap());
    }
    assert_eq!(put.send().await.unwrap().status(), 200);
    cluster.kill(1);
    // Not verified yet: not downloadable.
    let down = json!({"operation": "download", "objects": [{"oid": oid, "size": bytes.len()}]});
    let (_, _, v) = body(lfs_post(&batch, Some(&cluster.token), &down).await).await;
    assert_eq!(v["objects"][0]["error"]["code"], 404, "{v}");
    let verify = lfs_post(
        actions["verify"]["href"].as_str().unwrap(),
        None,
        &json!({"oid": oid, "size": bytes.len()}),
    )
    .await;
    assert_eq!(verify.status(), 200);
    let (_, _, v) = body(lfs_post(&batch, Some(&cluster.token), &down).await).await;
    let href = v["objects"][0]["actions"]["download"]["href"]
        .as_str()
        .unwrap_or_else(|| panic!("{v}"));
    let got = client()
        .get(href)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(got.as_ref(), bytes.as_slice());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pg_only_a_rolling_restart_under_load_fails_no_request() {
    let mut cluster = Cluster::start(3).await;
    create_dataset(&cluster, "busy").await;
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicUsize::new(0));
    let failures = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));

    // REST reads and writes, and LFS batches, in a loop.
    let api = {
        let (url, token) = (cluster.url.clone(), cluster.token.clone());
        let (stop, done, failures) = (stop.clone(), done.clone(), failures.clone());
        tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                let result: Result<(), String> = async {
                    let parent = head(&url, &token, "alice/busy").await.map_err(|e| e.to_string())?;
                    if n % 5 == 0 {
                        let r = client()
                            .put(format!("{url}/api/v1/datasets/alice/busy"))
                            .bearer_auth(&token)
                            .json(&json!({"datapackage": {"name": "busy", "description": format!("write {n}"),
                                "resources": []}, "parent": parent}))
                            .send()
                            .await
                            .map_err(|e| e.to_string())?;
                        if r.status() != 200 {
                            return Err(format!("write: {}", r.status()));
                        }
                    }
                    let req = json!({"operation": "download", "objects": [{"oid": "0".repeat(64), "size": 0}]});
                    let r = lfs_post(&format!("{url}/alice/busy.git/info/lfs/objects/batch"), Some(&token), &req).await;
                    if r.status() != 200 {
                        return Err(format!("batch: {}", r.status()));
                    }
                    Ok(())
                }
                .await;
                match result {
                    Ok(()) => {
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e) => failures.lock().unwrap().push(e),
                }
            }
        })
    };
    // git pushes and fetches, in a thread.
    let home = git_home(&cluster);
    let gitter = {
        let (home, url) = (home.path().to_owned(), cluster.url.clone());
        let (stop, done, failures) = (stop.clone(), done.clone(), failures.clone());
        std::thread::spawn(move || {
            let work = home.join("work");
            let clone = git(&home, &home)
                .args(["clone", "-q"])
                .arg(format!("{url}/alice/busy.git"))
                .arg(&work)
                .output()
                .unwrap();
            assert!(clone.status.success());
            run(git(&home, &work).args(["config", "user.name", "alice"]));
            run(git(&home, &work).args(["config", "user.email", "a@example.org"]));
            run(git(&home, &work).args(["checkout", "-q", "-b", "load"]));
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                std::fs::write(work.join("n.txt"), n.to_string()).unwrap();
                run(git(&home, &work)
                    .args(["commit", "-q", "-am", &format!("n {n}")])
                    .arg("--allow-empty"));
                for args in [
                    vec!["push", "-q", "origin", "load"],
                    vec!["fetch", "-q", "origin"],
                ] {
                    let out = git(&home, &work).args(&args).output().unwrap();
                    if out.status.success() {
                        done.fetch_add(1, Ordering::Relaxed);
                    } else {
                        failures.lock().unwrap().push(format!(
                            "git {}: {}",
                            args[0],
                            String::from_utf8_lossy(&out.stderr)
                        ));
                    }
                }
            }
        })
    };
    // Let the load start, then restart each replica in turn.
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    for i in 0..3 {
        cluster.stop(i).await;
        cluster.start_replica(i).await;
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    stop.store(true, Ordering::Relaxed);
    api.await.unwrap();
    gitter.join().unwrap();
    let failures = failures.lock().unwrap();
    let done = done.load(Ordering::Relaxed);
    assert!(
        done > 30,
        "too little load to prove anything: {done} requests"
    );
    assert!(
        failures.is_empty(),
        "{} of {} failed: {failures:?}",
        failures.len(),
        done + failures.len()
    );
}
