//! Seeder for `scripts/gc_bench.sh`: makes `datasets` datasets of the token's user, each with
//! `objects` LFS objects uploaded through the batch API: four fifths committed on `main`, the
//! rest committed on a branch that is then deleted (garbage for a collection to find).
//!
//! ```text
//! gc_bench seed <server-url> <user> <token> <datasets> <objects-per-dataset> <concurrency>
//! ```

use futures_util::StreamExt;
use serde_json::{json, Value};

const LFS: &str = "application/vnd.git-lfs+json";

fn object(d: usize, i: usize) -> Vec<u8> {
    format!("gc benchmark dataset {d} object {i}\n")
        .repeat(24)
        .into_bytes()
}

struct Seeder {
    client: reqwest::Client,
    url: String,
    token: String,
    user: String,
}

impl Seeder {
    async fn json(&self, req: reqwest::RequestBuilder) -> Value {
        let resp = req.bearer_auth(&self.token).send().await.unwrap();
        let status = resp.status();
        let text = resp.text().await.unwrap();
        assert!(status.is_success(), "{status}: {text}");
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    async fn head(&self, name: &str, branch: &str) -> String {
        let v = self
            .json(self.client.get(format!(
                "{}/api/v1/datasets/{}/{name}/branches",
                self.url, self.user
            )))
            .await;
        v["branches"]
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["name"] == branch)
            .map(|b| b["revision"].as_str().unwrap().to_owned())
            .unwrap()
    }

    async fn commit(&self, name: &str, branch: &str, files: &[(usize, Vec<u8>)]) {
        let parent = self.head(name, branch).await;
        let mut lines = vec![json!({"key": "header", "value": {"summary": "seed", "branch": branch, "parent": parent}}).to_string()];
        for (i, data) in files {
            lines.push(json!({"key": "lfsFile", "value": {"path": format!("{branch}/{i}.bin"), "oid": strata_lfs::Oid::of(data).to_string(), "size": data.len()}}).to_string());
        }
        self.json(
            self.client
                .post(format!(
                    "{}/api/v1/datasets/{}/{name}/commit",
                    self.url, self.user
                ))
                .header("content-type", "application/x-ndjson")
                .body(lines.join("\n")),
        )
        .await;
    }

    async fn dataset(&self, d: usize, n: usize) {
        let name = format!("gc{d}");
        self.json(
            self.client
                .post(format!("{}/api/v1/datasets", self.url))
                .json(&json!({"namespace": self.user, "name": name})),
        )
        .await;
        let files: Vec<(usize, Vec<u8>)> = (0..n).map(|i| (i, object(d, i))).collect();
        let objects: Vec<Value> = files
            .iter()
            .map(|(_, data)| json!({"oid": strata_lfs::Oid::of(data).to_string(), "size": data.len()}))
            .collect();
        let batch = self
            .json(
                self.client
                    .post(format!(
                        "{}/{}/{name}.git/info/lfs/objects/batch",
                        self.url, self.user
                    ))
                    .header("accept", LFS)
                    .header("content-type", LFS)
                    .body(json!({"operation": "upload", "objects": objects}).to_string()),
            )
            .await;
        for ((_, data), o) in files.iter().zip(batch["objects"].as_array().unwrap()) {
            let Some(href) = o["actions"]["upload"]["href"].as_str() else {
                continue;
            };
            let put = self
                .client
                .put(href)
                .body(data.clone())
                .send()
                .await
                .unwrap();
            assert!(put.status().is_success(), "{}", put.status());
        }
        let live = n * 4 / 5;
        self.commit(&name, "main", &files[..live]).await;
        self.json(
            self.client
                .post(format!(
                    "{}/api/v1/datasets/{}/{name}/branches",
                    self.url, self.user
                ))
                .json(&json!({"name": "scratch"})),
        )
        .await;
        self.commit(&name, "scratch", &files[live..]).await;
        let gone = self
            .client
            .delete(format!(
                "{}/api/v1/datasets/{}/{name}/branches/scratch",
                self.url, self.user
            ))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap();
        assert!(gone.status().is_success(), "{}", gone.status());
    }
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 8 || args[1] != "seed" {
        eprintln!("usage: gc_bench seed <server-url> <user> <token> <datasets> <objects-per-dataset> <concurrency>");
        std::process::exit(2);
    }
    let seeder = Seeder {
        client: reqwest::Client::new(),
        url: args[2].clone(),
        user: args[3].clone(),
        token: args[4].clone(),
    };
    let (datasets, objects, concurrency): (usize, usize, usize) = (
        args[5].parse().unwrap(),
        args[6].parse().unwrap(),
        args[7].parse().unwrap(),
    );
    let started = std::time::Instant::now();
    futures_util::stream::iter(0..datasets)
        .map(|d| seeder.dataset(d, objects))
        .buffer_unordered(concurrency)
        .collect::<Vec<()>>()
        .await;
    eprintln!(
        "seeded {datasets} datasets x {objects} objects in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}
