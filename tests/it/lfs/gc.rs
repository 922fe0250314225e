//! Garbage collection never deletes a live object, and does delete the rest: a seeded random
//! sequence of REST commits (new files, files deleted, objects shared between two datasets),
//! `git push`es with git-lfs, branches made and deleted, tags made, moved and deleted, and
//! collections with no grace. After every collection, every object any ref of a dataset reaches
//! (as the stock `git lfs ls-files --all` of a mirror clone sees it) downloads from that dataset
//! byte for byte, and every other object of it is unlinked; at the end, after one more
//! collection, the bytes of every object no dataset reaches are gone from the store. On the
//! local disk, a real S3 server (s3s-fs) and Azurite; the suite runs it on both engines.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;

use serde_json::{json, Value};
use strata_core::db::Visibility;
use strata_lfs::Oid;

use crate::common::*;

/// A small deterministic generator (xorshift64*), so a failing seed can be replayed.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }
    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

const REPOS: [&str; 2] = ["alice/gc", "alice/gc2"];

struct World {
    server: TestServer,
    alice: String,
    admin: String,
    home: PathBuf,
    /// A working clone of `alice/gc` for pushes.
    work: PathBuf,
    rng: Rng,
    /// Every object ever uploaded, by oid.
    bytes: HashMap<Oid, Vec<u8>>,
    /// Per dataset and branch: its LFS files (path → oid), as the test made them.
    files: BTreeMap<(usize, String), BTreeMap<String, Oid>>,
    tags: Vec<(usize, String)>,
    made: usize,
}

impl World {
    async fn start(backend: Backend, seed: u64, chunked: bool) -> World {
        let server = TestServer::start_with(backend, |c| {
            c.gc_interval_secs = 0;
            // Every object cut into chunks as soon as it is linked, its whole copy dropped.
            if chunked {
                c.chunking_interval_secs = 1;
                c.chunking_min_bytes = 1;
            }
        })
        .await;
        let admin = server.user_with("root", true, "*").await;
        let alice = server.user("alice").await;
        for r in REPOS {
            server.repo(r, Visibility::Private).await;
        }
        let root = server.dir.path().to_owned();
        let home = root.join("home");
        let work = root.join("work");
        let (url, token) = (server.url.clone(), alice.clone());
        let (h, w) = (home.clone(), work.clone());
        let mut world = World {
            server,
            alice,
            admin,
            home,
            work,
            rng: Rng::new(seed),
            bytes: HashMap::new(),
            files: BTreeMap::new(),
            tags: Vec::new(),
            made: 0,
        };
        for r in 0..REPOS.len() {
            world.files.insert((r, "main".into()), BTreeMap::new());
            // A first commit, so main exists.
            world.commit_new(r, "main").await;
        }
        tokio::task::spawn_blocking(move || {
            setup_home(&h, &url, &token);
            run(git(&h, &root).env("GIT_LFS_SKIP_SMUDGE", "1").args([
                "clone",
                "-q",
                &format!("{url}/alice/gc.git"),
                "work",
            ]));
            run(git(&h, &w).args(["lfs", "track", "*.bin"]));
        })
        .await
        .unwrap();
        world
    }

    fn fresh(&mut self) -> Vec<u8> {
        self.made += 1;
        let len = 20 + self.rng.below(3000);
        let mut data = format!("object {} ", self.made).into_bytes();
        data.extend((0..len).map(|_| self.rng.next() as u8));
        data
    }

    async fn head(&self, repo: usize, branch: &str) -> String {
        let r = client()
            .get(format!(
                "{}/api/v1/datasets/{}/branches",
                self.server.url, REPOS[repo]
            ))
            .bearer_auth(&self.alice)
            .send()
            .await
            .unwrap();
        let (status, _, v) = body(r).await;
        assert_eq!(status, 200, "{v}");
        v["branches"]
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["name"] == branch)
            .map(|b| b["revision"].as_str().unwrap().to_owned())
            .unwrap_or_default()
    }

    async fn ndjson(&self, repo: usize, branch: &str, lines: Vec<Value>) {
        let parent = self.head(repo, branch).await;
        let mut header = json!({"summary": "a step", "branch": branch});
        if !parent.is_empty() {
            header["parent"] = json!(parent);
        }
        let text: Vec<String> = std::iter::once(json!({"key": "header", "value": header}))
            .chain(lines)
            .map(|l| l.to_string())
            .collect();
        let r = client()
            .post(format!(
                "{}/api/v1/datasets/{}/commit",
                self.server.url, REPOS[repo]
            ))
            .bearer_auth(&self.alice)
            .header("content-type", "application/x-ndjson")
            .body(text.join("\n"))
            .send()
            .await
            .unwrap();
        let (status, _, v) = body(r).await;
        assert_eq!(status, 200, "{v}");
    }

    /// Commits a file of new bytes, or (now and then) of bytes another dataset holds.
    async fn commit_new(&mut self, repo: usize, branch: &str) {
        let reuse = self.rng.below(4) == 0 && !self.bytes.is_empty();
        let data = if reuse {
            let mut known: Vec<&Oid> = self.bytes.keys().collect();
            known.sort();
            self.bytes[known[self.rng.below(known.len())]].clone()
        } else {
            self.fresh()
        };
        let oid = store(&self.server, REPOS[repo], &self.alice, &data).await;
        self.bytes.insert(oid, data.clone());
        self.made += 1;
        let path = format!("f{}.bin", self.made);
        self.ndjson(
            repo,
            branch,
            vec![json!({"key": "lfsFile", "value": {"path": path, "oid": oid.to_string(), "size": data.len()}})],
        )
        .await;
        self.files
            .get_mut(&(repo, branch.to_owned()))
            .unwrap()
            .insert(path, oid);
    }

    async fn delete_file(&mut self, repo: usize, branch: &str) {
        let files = &self.files[&(repo, branch.to_owned())];
        if files.is_empty() {
            return;
        }
        let path = files
            .keys()
            .nth(self.rng.below(files.len()))
            .unwrap()
            .clone();
        self.ndjson(
            repo,
            branch,
            vec![json!({"key": "deletedFile", "value": {"path": path}})],
        )
        .await;
        self.files
            .get_mut(&(repo, branch.to_owned()))
            .unwrap()
            .remove(&path);
    }

    /// A `git push` of one new LFS file to a branch of `alice/gc`, with git-lfs.
    async fn push(&mut self, branch: &str) {
        let data = self.fresh();
        self.made += 1;
        let path = format!("p{}.bin", self.made);
        let (home, work, b, p, d) = (
            self.home.clone(),
            self.work.clone(),
            branch.to_owned(),
            path.clone(),
            data.clone(),
        );
        tokio::task::spawn_blocking(move || {
            let g =
                |args: &[&str]| run(git(&home, &work).env("GIT_LFS_SKIP_SMUDGE", "1").args(args));
            g(&["fetch", "-q", "--prune", "origin"]);
            g(&["reset", "-q", "--hard"]);
            g(&["clean", "-qfd"]);
            g(&["checkout", "-q", "-B", &b, &format!("origin/{b}")]);
            g(&["lfs", "track", "*.bin"]);
            std::fs::write(work.join(&p), d).unwrap();
            g(&["add", &p, ".gitattributes"]);
            g(&["commit", "-q", "-m", "pushed"]);
            g(&["push", "-q", "origin", &b]);
        })
        .await
        .unwrap();
        let oid = Oid::of(&data);
        self.bytes.insert(oid, data);
        self.files
            .get_mut(&(0, branch.to_owned()))
            .unwrap()
            .insert(path, oid);
    }

    async fn branch(&mut self, repo: usize) {
        let from = self.pick_branch(repo);
        self.made += 1;
        let name = format!("b{}", self.made);
        let r = client()
            .post(format!(
                "{}/api/v1/datasets/{}/branches",
                self.server.url, REPOS[repo]
            ))
            .bearer_auth(&self.alice)
            .json(&json!({"name": name, "revision": from}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
        let files = self.files[&(repo, from)].clone();
        self.files.insert((repo, name), files);
    }

    async fn delete_branch(&mut self, repo: usize) {
        let name = self.pick_branch(repo);
        if name == "main" {
            return;
        }
        let r = client()
            .delete(format!(
                "{}/api/v1/datasets/{}/branches/{name}",
                self.server.url, REPOS[repo]
            ))
            .bearer_auth(&self.alice)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 204, "{}", r.text().await.unwrap());
        self.files.remove(&(repo, name));
    }

    /// Tags a branch's head; an existing tag is moved there (deleted and made again) or deleted.
    async fn tag(&mut self, repo: usize) {
        let api = format!("{}/api/v1/datasets/{}/tags", self.server.url, REPOS[repo]);
        let existing: Vec<usize> = (0..self.tags.len())
            .filter(|i| self.tags[*i].0 == repo)
            .collect();
        let name = if !existing.is_empty() && self.rng.below(2) == 0 {
            let i = existing[self.rng.below(existing.len())];
            let name = self.tags[i].1.clone();
            let r = client()
                .delete(format!("{api}/{name}"))
                .bearer_auth(&self.alice)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 204);
            self.tags.remove(i);
            if self.rng.below(2) == 0 {
                return;
            }
            name
        } else {
            self.made += 1;
            format!("t{}", self.made)
        };
        let at = self.pick_branch(repo);
        let r = client()
            .post(&api)
            .bearer_auth(&self.alice)
            .json(&json!({"name": name, "revision": at}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
        self.tags.push((repo, name));
    }

    fn pick_branch(&mut self, repo: usize) -> String {
        let names: Vec<&String> = self
            .files
            .keys()
            .filter(|(r, _)| *r == repo)
            .map(|(_, b)| b)
            .collect();
        names[self.rng.below(names.len())].clone()
    }

    async fn gc(&self) -> Value {
        // (Links are timed in seconds: a run with no grace starts in a fresh second itself, so
        // what the last step left unreachable goes in it.)
        let r = client()
            .post(format!("{}/api/v1/admin/gc", self.server.url))
            .bearer_auth(&self.admin)
            .json(&json!({"grace_secs": 0}))
            .send()
            .await
            .unwrap();
        let (status, _, v) = body(r).await;
        assert_eq!(status, 200, "{v}");
        assert_eq!(v["errors"], json!([]), "{v}");
        v
    }

    /// Every object a ref of dataset `repo` reaches, as git-lfs sees a mirror clone.
    async fn reached(&self, repo: usize) -> HashSet<Oid> {
        let (home, root, url) = (
            self.home.clone(),
            self.server.dir.path().to_owned(),
            format!("{}/{}.git", self.server.url, REPOS[repo]),
        );
        tokio::task::spawn_blocking(move || {
            let mirror = tempfile::tempdir_in(&root).unwrap();
            let m = mirror.path().join("m.git");
            run(git(&home, mirror.path()).args(["clone", "-q", "--mirror", &url, "m.git"]));
            let out = run(git(&home, &m).args(["lfs", "ls-files", "--all", "--long"]));
            out.lines()
                .filter_map(|l| l.split_whitespace().next())
                .filter_map(|o| o.parse().ok())
                .collect()
        })
        .await
        .unwrap()
    }

    /// Live objects download from their dataset byte for byte; the others are not linked.
    async fn check(&self) -> HashSet<Oid> {
        let mut live_anywhere = HashSet::new();
        for (repo, name) in REPOS.iter().enumerate() {
            let live = self.reached(repo).await;
            for oid in self.bytes.keys() {
                let data = &self.bytes[oid];
                let got = download(&self.server, name, &self.alice, oid, data.len()).await;
                if live.contains(oid) {
                    let got = got.unwrap_or_else(|e| panic!("live {oid} of {}: {e}", *name));
                    assert!(got == *data, "{oid} of {} came back changed", *name);
                } else {
                    assert!(
                        got.is_err(),
                        "{oid} is unreachable in {} and still linked",
                        *name
                    );
                }
            }
            live_anywhere.extend(live);
        }
        live_anywhere
    }
}

/// Uploads `data` to `repo` unless the dataset has it already.
async fn store(server: &TestServer, repo: &str, token: &str, data: &[u8]) -> Oid {
    let oid = Oid::of(data);
    let req =
        json!({"operation": "upload", "objects": [{"oid": oid.to_string(), "size": data.len()}]});
    let (status, _, v) = body(lfs_post(&server.batch_url(repo), Some(token), &req).await).await;
    assert_eq!(status, 200, "{v}");
    if v["objects"][0]["actions"]["upload"].is_object() {
        upload(server, repo, token, data).await;
    }
    oid
}

/// The bytes of `oid` through `repo`'s batch API, or why not.
async fn download(
    server: &TestServer,
    repo: &str,
    token: &str,
    oid: &Oid,
    size: usize,
) -> Result<Vec<u8>, String> {
    let req = json!({"operation": "download", "objects": [{"oid": oid.to_string(), "size": size}]});
    let (status, _, v) = body(lfs_post(&server.batch_url(repo), Some(token), &req).await).await;
    assert_eq!(status, 200, "{v}");
    let object = &v["objects"][0];
    let Some(href) = object["actions"]["download"]["href"].as_str() else {
        return Err(object["error"].to_string());
    };
    let mut get = client().get(href);
    if let Some(headers) = object["actions"]["download"]["header"].as_object() {
        for (k, val) in headers {
            get = get.header(k.as_str(), val.as_str().unwrap());
        }
    }
    let r = get.send().await.unwrap();
    if r.status() != 200 {
        return Err(format!("GET {}", r.status()));
    }
    Ok(r.bytes().await.unwrap().to_vec())
}

async fn liveness(backend: Backend, seed: u64, steps: usize, chunked: bool) {
    let mut w = World::start(backend, seed, chunked).await;
    let (mut collections, mut dropped) = (0, 0);
    for _ in 0..steps {
        let repo = usize::from(w.rng.below(4) == 0);
        match w.rng.below(20) {
            0..=5 => {
                let b = w.pick_branch(repo);
                w.commit_new(repo, &b).await;
            }
            6..=7 => {
                let b = w.pick_branch(repo);
                w.delete_file(repo, &b).await;
            }
            8..=9 => {
                let b = w.pick_branch(0);
                w.push(&b).await;
            }
            10..=12 => w.branch(repo).await,
            13..=15 => w.delete_branch(repo).await,
            16 => w.tag(repo).await,
            _ => {
                if chunked {
                    // On a bucket the whole copies of chunked objects go once the URLs handed
                    // out for them expired: as if that time had come.
                    let later = strata_core::db::now() + 86_400;
                    dropped += strata_core::xet::chunking::drop_due(&w.server.state, later)
                        .await
                        .unwrap();
                }
                w.gc().await;
                w.check().await;
                collections += 1;
            }
        }
    }
    let report = w.gc().await;
    let live = w.check().await;
    let dead: Vec<&Oid> = w.bytes.keys().filter(|o| !live.contains(o)).collect();
    assert!(
        !dead.is_empty() && collections > 0,
        "seed {seed}: the sequence must make garbage and collect it"
    );
    for oid in &dead {
        let (stored, links) = w.server.state.db.object_link_count(oid).await.unwrap();
        assert!(
            !stored && links == 0,
            "{oid}: stored {stored}, {links} links; {report}"
        );
        for repo in [0, 1, 2, 3] {
            assert!(
                !w.server.state.storage.holds(repo, oid).await.unwrap(),
                "{oid}'s bytes are still stored"
            );
        }
    }
    for oid in &live {
        let mut held = false;
        for repo in [1, 2] {
            held |= w.server.state.storage.holds(repo, oid).await.unwrap();
        }
        assert!(held, "{oid} is live and its bytes are gone");
    }
    if chunked {
        let (stored, _) = w.server.state.db.xet_totals().await.unwrap();
        assert!(stored > 0, "seed {seed}: nothing was chunked");
        if backend != Backend::Local {
            assert!(dropped > 0, "seed {seed}: no whole copy went");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collection_never_deletes_a_live_object_on_the_local_disk() {
    for seed in [7, 1234] {
        liveness(Backend::Local, seed, 45, false).await;
    }
}

/// The same with every object kept as chunks (in xorbs) as soon as strata has chunked it: a
/// collection keeps the xorbs live files use and lets the others go.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collection_never_deletes_a_live_object_kept_as_chunks() {
    liveness(Backend::Local, 31, 35, true).await;
}

/// On a bucket, with every object kept as chunks too (their whole copies dropped later).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collection_never_deletes_a_live_object_kept_as_chunks_on_s3() {
    liveness(Backend::S3, 99, 40, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collection_never_deletes_a_live_object_on_azure() {
    liveness(Backend::Azure, 2026, 40, false).await;
}
