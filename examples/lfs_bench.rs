//! Load generator for `scripts/bench.sh`: seeds objects into any Git LFS server through its batch
//! API, then measures download-batch throughput at a fixed concurrency. It knows nothing of strata,
//! so the same binary measures strata and giftless.
//!
//! ```text
//! lfs_bench seed  <batch-url> <objects> [basic-auth user:pass]
//! lfs_bench batch <batch-url> <objects> <concurrency> <seconds> [basic-auth user:pass]
//! ```

use std::time::{Duration, Instant};

use serde_json::{json, Value};

const LFS: &str = "application/vnd.git-lfs+json";

fn object(i: usize) -> Vec<u8> {
    format!("strata benchmark object {i}\n")
        .repeat(40)
        .into_bytes()
}

fn oid(data: &[u8]) -> String {
    strata_lfs::Oid::of(data).to_string()
}

fn with_auth(
    req: reqwest::RequestBuilder,
    auth: &Option<(String, String)>,
) -> reqwest::RequestBuilder {
    match auth {
        Some((u, p)) => req.basic_auth(u, Some(p)),
        None => req,
    }
}

fn apply_headers(mut req: reqwest::RequestBuilder, action: &Value) -> reqwest::RequestBuilder {
    if let Some(h) = action["header"].as_object() {
        for (k, v) in h {
            req = req.header(k.as_str(), v.as_str().unwrap_or_default());
        }
    }
    req
}

async fn seed(client: &reqwest::Client, url: &str, n: usize, auth: &Option<(String, String)>) {
    let objects: Vec<Value> = (0..n)
        .map(|i| {
            let d = object(i);
            json!({"oid": oid(&d), "size": d.len()})
        })
        .collect();
    let body = json!({"operation": "upload", "transfers": ["basic"], "objects": objects});
    let resp: Value = with_auth(client.post(url), auth)
        .header("accept", LFS)
        .header("content-type", LFS)
        .body(body.to_string())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for (i, obj) in resp["objects"]
        .as_array()
        .expect("objects")
        .iter()
        .enumerate()
    {
        let actions = &obj["actions"];
        if actions["upload"].is_null() {
            continue;
        }
        let put = apply_headers(
            client.put(actions["upload"]["href"].as_str().unwrap()),
            &actions["upload"],
        )
        .body(object(i))
        .send()
        .await
        .unwrap();
        assert!(put.status().is_success(), "upload failed: {}", put.status());
        if !actions["verify"].is_null() {
            let v = apply_headers(
                client.post(actions["verify"]["href"].as_str().unwrap()),
                &actions["verify"],
            )
            .header("content-type", LFS)
            .body(json!({"oid": obj["oid"], "size": obj["size"]}).to_string())
            .send()
            .await
            .unwrap();
            assert!(v.status().is_success(), "verify failed: {}", v.status());
        }
    }
}

async fn batch(
    client: reqwest::Client,
    url: String,
    n: usize,
    concurrency: usize,
    seconds: u64,
    auth: Option<(String, String)>,
) {
    let objects: Vec<Value> = (0..n)
        .map(|i| {
            let d = object(i);
            json!({"oid": oid(&d), "size": d.len()})
        })
        .collect();
    let body =
        json!({"operation": "download", "transfers": ["basic"], "objects": objects}).to_string();
    // Check once that every object gets a download action.
    let check: Value = with_auth(client.post(&url), &auth)
        .header("content-type", LFS)
        .body(body.clone())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ok = check["objects"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| !o["actions"]["download"].is_null())
        .count();
    assert_eq!(ok, n, "not every object is downloadable: {check}");

    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (client, url, body, auth) = (client.clone(), url.clone(), body.clone(), auth.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            while Instant::now() < deadline {
                let t = Instant::now();
                let resp = with_auth(client.post(&url), &auth)
                    .header("accept", LFS)
                    .header("content-type", LFS)
                    .body(body.clone())
                    .send()
                    .await
                    .unwrap();
                assert!(resp.status().is_success());
                resp.bytes().await.unwrap();
                latencies.push(t.elapsed());
            }
            latencies
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    all.sort();
    let rps = all.len() as f64 / seconds as f64;
    let p50 = all[all.len() / 2].as_secs_f64() * 1000.0;
    let p99 = all[all.len() * 99 / 100].as_secs_f64() * 1000.0;
    println!("{rps:.1} {p50:.2} {p99:.2}");
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let auth_at = |i: usize| {
        args.get(i)
            .and_then(|a| a.split_once(':'))
            .map(|(u, p)| (u.to_owned(), p.to_owned()))
    };
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()
        .unwrap();
    match args.get(1).map(String::as_str) {
        Some("seed") => seed(&client, &args[2], args[3].parse().unwrap(), &auth_at(4)).await,
        Some("batch") => {
            batch(client, args[2].clone(), args[3].parse().unwrap(), args[4].parse().unwrap(), args[5].parse().unwrap(), auth_at(6)).await
        }
        _ => eprintln!("usage: lfs_bench seed <batch-url> <n> [user:pass] | batch <batch-url> <n> <concurrency> <seconds> [user:pass]"),
    }
}
