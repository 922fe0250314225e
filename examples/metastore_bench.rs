//! Benchmark of the metastore on a big dataset: 10,000 revisions of a datapackage with 1,000
//! resources, built with `git fast-import`. Prints the median latency of an update commit, a page
//! of 100 revisions, a diff between two distant revisions and a tag creation, each beside the same
//! operation done with the plain `git` CLI on the same repository.
//!
//! ```text
//! cargo run --release --example metastore_bench [revisions] [resources] [runs]
//! ```

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use strata_metastore::{DatasetId, Metastore, Package, Person, WriteMeta};

const DS: DatasetId<'static> = DatasetId {
    ns: "bench",
    name: "big",
};

fn resource(i: usize, version: usize) -> Value {
    let content = format!("resource {i} version {version}\n");
    json!({
        "name": format!("r{i:04}"),
        "path": format!("data/r{i:04}.csv"),
        "bytes": content.len(),
        "hash": format!("sha256:{}", strata_lfs::Oid::of(content.as_bytes())),
        "schema": {"fields": [{"name": "id", "type": "integer"}, {"name": "value", "type": "number"}]},
    })
}

fn package(versions: &[usize]) -> Value {
    let resources: Vec<Value> = versions
        .iter()
        .enumerate()
        .map(|(i, v)| resource(i, *v))
        .collect();
    json!({"name": "big", "title": "Benchmark dataset", "resources": resources})
}

fn pointer(i: usize, version: usize) -> String {
    let content = format!("resource {i} version {version}\n");
    strata_lfs::pointer::Pointer {
        oid: strata_lfs::Oid::of(content.as_bytes()),
        size: content.len() as u64,
    }
    .encode()
}

/// Writes `revisions` commits with `git fast-import`: the first adds every resource, each later
/// one changes one resource (its pointer and its entry in datapackage.json).
fn build(repo: &Path, revisions: usize, resources: usize) {
    let mut child = Command::new("git")
        .args(["fast-import", "--quiet"])
        .current_dir(repo)
        .stdin(Stdio::piped())
        .spawn()
        .expect("git fast-import");
    let mut out = std::io::BufWriter::new(child.stdin.take().unwrap());
    let mut versions = vec![0usize; resources];
    let blob = |out: &mut dyn Write, path: &str, data: &[u8]| {
        writeln!(out, "M 100644 inline {path}\ndata {}", data.len()).unwrap();
        out.write_all(data).unwrap();
        out.write_all(b"\n").unwrap();
    };
    for k in 0..revisions {
        let time = 1_700_000_000 + k as i64;
        let message = format!("revision {k}");
        writeln!(out, "commit refs/heads/main").unwrap();
        writeln!(out, "author Bench <bench@example.com> {time} +0000").unwrap();
        writeln!(out, "committer strata <strata@localhost> {time} +0000").unwrap();
        writeln!(out, "data {}\n{message}", message.len()).unwrap();
        let changed: Vec<usize> = if k == 0 {
            (0..resources).collect()
        } else {
            versions[k % resources] = k;
            vec![k % resources]
        };
        for i in changed {
            blob(
                &mut out,
                &format!("data/r{i:04}.csv"),
                pointer(i, versions[i]).as_bytes(),
            );
        }
        let mut pkg = serde_json::to_vec_pretty(&package(&versions)).unwrap();
        pkg.push(b'\n');
        blob(&mut out, "datapackage.json", &pkg);
        if k == 0 {
            blob(
                &mut out,
                ".gitattributes",
                b"data/*.csv filter=lfs diff=lfs merge=lfs -text\n",
            );
        }
        writeln!(out).unwrap();
    }
    drop(out);
    assert!(child.wait().unwrap().success(), "fast-import failed");
}

fn median(mut samples: Vec<Duration>) -> f64 {
    samples.sort();
    samples[samples.len() / 2].as_secs_f64() * 1000.0
}

fn time<T>(runs: usize, mut f: impl FnMut(usize) -> T) -> f64 {
    let samples = (0..runs)
        .map(|i| {
            let t = Instant::now();
            std::hint::black_box(f(i));
            t.elapsed()
        })
        .collect();
    median(samples)
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "Bench")
        .env("GIT_AUTHOR_EMAIL", "bench@example.com")
        .env("GIT_COMMITTER_NAME", "Bench")
        .env("GIT_COMMITTER_EMAIL", "bench@example.com")
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn main() {
    let arg = |i: usize, default: usize| {
        std::env::args()
            .nth(i)
            .and_then(|a| a.parse().ok())
            .unwrap_or(default)
    };
    let (revisions, resources, runs) = (arg(1, 10_000), arg(2, 1_000), arg(3, 21));
    let dir = tempfile::tempdir().unwrap();
    let store = Metastore::new(
        dir.path(),
        Person {
            name: "strata".into(),
            email: "strata@localhost".into(),
        },
    );
    store.create(DS).unwrap();
    let repo = dir.path().join("bench/big.git");
    let t = Instant::now();
    build(&repo, revisions, resources);
    eprintln!(
        "built {revisions} revisions of {resources} resources in {:.1}s",
        t.elapsed().as_secs_f64()
    );

    let author = Person {
        name: "bench".into(),
        email: "bench@example.com".into(),
    };
    let head = store.resolve(DS, None).unwrap();
    let distant = store
        .revisions(DS, None, None, revisions / 2, None)
        .unwrap()
        .0
        .last()
        .unwrap()
        .id
        .clone();

    // strata, through the metastore library (what the REST handlers call).
    let (_, base) = store.fetch(DS, None).unwrap();
    let mut parent = head;
    let s_commit = time(runs, |i| {
        let mut json = Value::Object(base.json.clone());
        json["resources"][i % resources] = resource(i % resources, 1_000_000 + i);
        let package = Package::from_json(json).unwrap();
        let meta = WriteMeta {
            branch: "main",
            parent: Some(parent),
            author: &author,
            message: "update one resource",
        };
        parent = store
            .update(
                DS,
                &meta,
                &package,
                Some("http://localhost/bench/big.git/info/lfs"),
            )
            .unwrap();
    });
    let s_page = time(runs, |_| {
        store.revisions(DS, None, None, 100, None).unwrap()
    });
    let head_id = store.resolve(DS, None).unwrap().to_string();
    let s_diff = time(runs, |_| store.diff(DS, &distant, &head_id).unwrap());
    let s_tag = time(runs, |i| {
        store
            .create_tag(DS, &format!("s{i}"), "main", &author, "a release")
            .unwrap()
    });

    // The plain git CLI on the same repository (a work tree for the commit).
    let work = dir.path().join("work");
    git(
        dir.path(),
        &[
            "clone",
            "-q",
            repo.to_str().unwrap(),
            work.to_str().unwrap(),
        ],
    );
    let g_commit = time(runs, |i| {
        let r = i % resources;
        std::fs::write(
            work.join(format!("data/r{r:04}.csv")),
            pointer(r, 2_000_000 + i),
        )
        .unwrap();
        let mut versions = vec![0; resources];
        versions[r] = 2_000_000 + i;
        std::fs::write(
            work.join("datapackage.json"),
            serde_json::to_vec_pretty(&package(&versions)).unwrap(),
        )
        .unwrap();
        git(&work, &["commit", "-q", "-a", "-m", "update one resource"])
    });
    let g_page = time(runs, |_| {
        git(
            &repo,
            &[
                "log",
                "-100",
                "--format=%H%x00%P%x00%an%x00%ae%x00%at%x00%B",
                "main",
            ],
        )
    });
    let g_diff = time(runs, |_| {
        git(&repo, &["diff", "--name-status", "-M", &distant, &head_id]);
        git(
            &repo,
            &["diff", &distant, &head_id, "--", "datapackage.json"],
        )
    });
    let g_tag = time(runs, |i| {
        git(
            &repo,
            &["tag", "-a", &format!("g{i}"), "-m", "a release", "main"],
        )
    });

    println!(
        "Dataset: {revisions} revisions, {resources} resources; median of {runs} runs, in ms.\n"
    );
    println!("| operation | strata (metastore) | target | git CLI (reference) |");
    println!("|---|---|---|---|");
    println!("| update commit (datapackage + pointers) | {s_commit:.2} | < 20 | {g_commit:.2} (`git commit -a` in a work tree) |");
    println!("| page of 100 revisions | {s_page:.2} | < 10 | {g_page:.2} (`git log -100`) |");
    println!("| diff of two revisions {} apart | {s_diff:.2} | < 50 | {g_diff:.2} (`git diff --name-status -M` + datapackage diff) |", revisions / 2);
    println!("| tag creation | {s_tag:.2} | | {g_tag:.2} (`git tag -a`) |");
}
