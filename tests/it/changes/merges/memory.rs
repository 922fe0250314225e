//! A merge under a memory limit the kernel enforces: a strata process (the binary, not the
//! in-process server) runs under `prlimit --data` (RLIMIT_DATA: past it an allocation fails and
//! the process dies), its table engine given 16 MiB (`--table-memory-mb`), and merges two
//! branches of a keyed table each changing 1 % of the rows. The status and the merge must answer
//! 200 with the merged rows all there, and the process must still be running. The allocator is
//! told not to commit the address space it reserves ahead (`MIMALLOC_ARENA_EAGER_COMMIT=0`), so
//! the limit counts what was allocated, not reservations.
//!
//! At this size (29 MiB a side, a debug build) most of the limit is the process's own needs,
//! the background chunker's among them: it ended at 497 to 520 MiB of data here (433 MiB with
//! the chunker off), so the limit leaves a margin. Each side's view is made before the merge, so
//! the merge is not measured beside three views being made. The
//! case where one side alone is larger than the limit is `scripts/changes_bench.sh` (1 GiB a side
//! under 768 MiB, a release build); this is its twin in the suite, which fails when a merge stops
//! streaming.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};

use crate::common::*;

/// The process's data limit, MiB.
const LIMIT_MIB: u64 = 640;
/// Rows of the base table (about 75 bytes each: 29 MiB of CSV a side).
const ROWS: u64 = 400_000;

struct Strata {
    child: Child,
    url: String,
    token: String,
    _dir: tempfile::TempDir,
}

impl Drop for Strata {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Strata {
    fn start() -> Strata {
        let dir = tempfile::tempdir().unwrap();
        let port = crate::common::cluster::free_port();
        let url = format!("http://127.0.0.1:{port}");
        let data = dir.path().join("data");
        let exe = env!("CARGO_BIN_EXE_strata");
        let log = std::fs::File::create(dir.path().join("strata.log")).unwrap();
        let child = Command::new("prlimit")
            .arg(format!("--data={}", LIMIT_MIB << 20))
            .arg("--")
            .args([exe, "serve"])
            .env("STRATA_DATA_DIR", &data)
            .env("STRATA_LISTEN", format!("127.0.0.1:{port}"))
            .env("STRATA_PUBLIC_URL", &url)
            .env("STRATA_TABLE_MEMORY_MB", "16")
            .env("STRATA_LOG", "warn")
            .env("MIMALLOC_ARENA_EAGER_COMMIT", "0")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("prlimit (util-linux) runs strata");
        let admin = |args: &[&str]| {
            let out = Command::new(exe)
                .arg("admin")
                .args(args)
                .env("STRATA_DATA_DIR", &data)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8(out.stdout).unwrap().trim().to_owned()
        };
        let mut strata = Strata {
            child,
            url,
            token: String::new(),
            _dir: dir,
        };
        for _ in 0..600 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            assert!(
                strata.child.try_wait().unwrap().is_none(),
                "{}",
                strata.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        admin(&["create-user", "bench"]);
        strata.token = admin(&["token", "--user", "bench", "--name", "t"]);
        strata
    }

    async fn body_of(
        &self,
        r: reqwest::Result<reqwest::Response>,
    ) -> (u16, reqwest::header::HeaderMap, Value) {
        match r {
            Ok(r) => body(r).await,
            Err(e) => panic!("strata did not answer ({e}); its log:\n{}", self.log()),
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self._dir.path().join("strata.log")).unwrap_or_default()
    }

    /// A figure of the process's `/proc/PID/status`, in MiB.
    fn status(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix(field)?.trim().strip_suffix(" kB"))
            .and_then(|kb| kb.trim().parse::<u64>().ok())
            .map_or(0, |kb| kb / 1024)
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut req = client()
            .request(
                method,
                format!("{}/api/v1/datasets/bench/t{path}", self.url),
            )
            .bearer_auth(&self.token)
            .timeout(Duration::from_secs(900));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let (status, _, v) = self.body_of(req.send().await).await;
        assert!(status < 300, "{status} {v}\n{}", self.log());
        v
    }

    /// `t.csv` as `data` on `branch` after `parent`: the new revision.
    async fn put(&self, data: &[u8], branch: &str, parent: &str) -> String {
        let oid = sha256_hex(data);
        let req = json!({"operation": "upload", "objects": [{"oid": oid, "size": data.len()}]});
        let batch = format!("{}/bench/t.git/info/lfs/objects/batch", self.url);
        let (_, _, v) = body(lfs_post(&batch, Some(&self.token), &req).await).await;
        if let Some(href) = v["objects"][0]["actions"]["upload"]["href"].as_str() {
            let put = client().put(href).body(data.to_vec()).send().await.unwrap();
            assert_eq!(put.status(), 200);
        }
        let fields = json!([{"name": "id", "type": "integer"}, {"name": "name", "type": "string"},
            {"name": "age", "type": "integer"}, {"name": "comment", "type": "string"}]);
        let pkg = json!({"name": "t", "resources": [{"name": "t", "path": "t.csv", "format": "csv",
            "bytes": data.len(), "hash": format!("sha256:{oid}"),
            "schema": {"primaryKey": "id", "fields": fields}}]});
        let body = json!({"datapackage": pkg, "parent": parent, "branch": branch});
        let v = self.call(reqwest::Method::PUT, "", Some(body)).await;
        v["revision"]["id"].as_str().unwrap().to_owned()
    }
}

/// The base table, main's (1 % of the ages changed, 0.1 % of the rows gone, rows added) and the
/// branch's (another 1 %: comments changed and rows added).
fn tables() -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let header = "id,name,age,comment\n";
    let (mut a, mut b, mut c) = (header.to_owned(), header.to_owned(), header.to_owned());
    for i in 1..=ROWS {
        let row = format!(
            "{i},person {},{},row {i} of the table that is merged under a limit\n",
            i * 7919 % 1_000_003,
            i % 97
        );
        a.push_str(&row);
        match i % 1000 {
            0..=9 => b.push_str(&row.replacen(&format!(",{},", i % 97), ",200,", 1)),
            10 => {}
            11 => {
                b.push_str(&row);
                b.push_str(&format!(
                    "{},added {i},1,added on main\n",
                    10_000_000_000 + i
                ));
            }
            _ => b.push_str(&row),
        }
        if i % 100 == 50 {
            c.push_str(&row.replace(" under a limit", " on the branch"));
        } else {
            c.push_str(&row);
        }
        if i % 1000 == 507 {
            c.push_str(&format!(
                "{},branch {i},2,added on the branch\n",
                20_000_000_000 + i
            ));
        }
    }
    (a.into_bytes(), b.into_bytes(), c.into_bytes())
}

fn rows(t: &[u8]) -> usize {
    t.iter().filter(|&&b| b == b'\n').count() - 1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_merge_larger_than_the_table_memory_completes_under_a_process_memory_limit() {
    let (a, b, c) = tables();
    let strata = Strata::start();
    let v = client()
        .post(format!("{}/api/v1/datasets", strata.url))
        .bearer_auth(&strata.token)
        .json(&json!({"namespace": "bench", "name": "t"}))
        .send()
        .await
        .unwrap();
    assert_eq!(v.status(), 201);
    let (_, _, head) = strata
        .body_of(
            client()
                .get(format!("{}/api/v1/datasets/bench/t", strata.url))
                .bearer_auth(&strata.token)
                .send()
                .await,
        )
        .await;
    let start = head["revision"]["id"].as_str().unwrap().to_owned();
    let base = strata.put(&a, "main", &start).await;
    strata
        .call(
            reqwest::Method::POST,
            "/branches",
            Some(json!({"name": "feature", "revision": base})),
        )
        .await;
    let main = strata.put(&b, "main", &base).await;
    let feature = strata.put(&c, "feature", &base).await;
    // Each side's view made first (as a push makes it, ahead of reads), so what is measured is
    // the merge, not the merge beside three views being made.
    for rev in [&base, &main, &feature] {
        strata
            .call(
                reqwest::Method::GET,
                &format!("/tables/t/rows?rev={rev}&limit=1"),
                None,
            )
            .await;
    }
    let mr = strata
        .call(
            reqwest::Method::POST,
            "/merge-requests",
            Some(json!({"source": "feature", "title": "under a limit"})),
        )
        .await;
    let n = mr["number"].as_u64().unwrap();
    let status = strata
        .call(reqwest::Method::GET, &format!("/merge-requests/{n}"), None)
        .await;
    assert_eq!(status["mergeable"], true, "{status}");
    assert_eq!(status["conflicts"].as_array().map(Vec::len), Some(0));
    strata
        .call(
            reqwest::Method::POST,
            &format!("/merge-requests/{n}/merge"),
            Some(json!({})),
        )
        .await;
    let merged = client()
        .get(format!("{}/api/v1/datasets/bench/t/raw/t.csv", strata.url))
        .bearer_auth(&strata.token)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(rows(&merged), rows(&b) + rows(&c) - rows(&a));
    let mut strata = strata;
    assert!(
        strata.child.try_wait().unwrap().is_none(),
        "strata died under its {LIMIT_MIB} MiB data limit:\n{}",
        strata.log()
    );
    eprintln!(
        "merged {} rows ({} MiB a side) under a {LIMIT_MIB} MiB data limit: peak RSS {} MiB, data {} MiB",
        rows(&merged),
        a.len() >> 20,
        strata.status("VmHWM:"),
        strata.status("VmData:")
    );
}
