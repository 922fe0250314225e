//! Jobs with real processes: a pandas script that cleans a CSV of one dataset into another,
//! started over REST, run in the process runner's sandbox, its output committed with its
//! provenance; the same inputs skipped, a failing script, a script that reaches for strata's data
//! and one that leaves a link, each failing with nothing landed; and what strangers, readers and
//! bad declarations get.

use reqwest::Method;
use serde_json::{json, Value};

use crate::apps::eventually;
use crate::common::*;
use crate::sharing::gated::call;

mod follow;
mod incremental;
mod lineage;
mod pages;

const API: &str = "/api/v1/datasets";

const CLEAN: &str = r#"import os, sys
import pandas as pd
src, out = sys.argv[1], sys.argv[2]
for name in sorted(os.listdir(src)):
    df = pd.read_csv(os.path.join(src, name)).dropna().drop_duplicates()
    df['temp'] = df['temp'].round(1)
    df.to_csv(os.path.join(out, name), index=False)
print('cleaned with sep', os.environ['STRATA_PARAM_SEP'])
"#;

const BOOM: &str = "import sys\nprint('about to fail', file=sys.stderr)\nsys.exit(3)\n";

const PRY: &str = "import os, sys\nprint(os.listdir(os.environ['STRATA_PARAM_TARGET']))\n";

const LINK: &str =
    "import os, sys\nos.symlink('/etc/passwd', os.path.join(sys.argv[2], 'passwd'))\n";

/// A server whose jobs may run the test tools' Python as `python`, tweaked further by `tweak`.
async fn start(tweak: impl FnOnce(&mut strata_core::config::Config)) -> TestServer {
    let python = python_tool("python");
    TestServer::start_with(Backend::Local, |c| {
        c.jobs.jobs_interpreters = vec![strata_core::config::Interpreter {
            name: "python".into(),
            path: python,
        }];
        tweak(c);
    })
    .await
}

/// alice's datasets of a pipeline: `raw` and `clean` (private), `pipeline` (public).
async fn pipeline(server: &TestServer, alice: &str) {
    for (name, visibility) in [
        ("raw", "private"),
        ("clean", "private"),
        ("pipeline", "public"),
    ] {
        create(server, alice, "alice", name, visibility).await;
    }
}

async fn create(server: &TestServer, token: &str, ns: &str, name: &str, visibility: &str) {
    let (status, v) = call(
        server,
        Method::POST,
        API,
        Some(token),
        Some(json!({"namespace": ns, "name": name, "visibility": visibility})),
    )
    .await;
    assert_eq!(status, 201, "{v}");
}

/// Commits text files to the default branch of `repo` (in git, not LFS).
async fn put_files(server: &TestServer, token: &str, repo: &str, files: &[(&str, &str)]) -> String {
    let (_, v) = call(
        server,
        Method::GET,
        &format!("{API}/{repo}"),
        Some(token),
        None,
    )
    .await;
    let mut lines = vec![
        json!({"key": "header", "value": {"summary": "files", "parent": v["revision"]["id"]}})
            .to_string(),
    ];
    for (path, content) in files {
        lines.push(json!({"key": "file", "value": {"path": path, "content": content}}).to_string());
    }
    let r = client()
        .post(format!("{}{API}/{repo}/commit", server.url))
        .bearer_auth(token)
        .header("content-type", "application/x-ndjson")
        .body(lines.join("\n"))
        .send()
        .await
        .unwrap();
    let (status, _, v) = body(r).await;
    assert_eq!(status, 200, "{v}");
    v["revision"]["id"].as_str().unwrap_or_default().to_owned()
}

/// Puts `jobs` into `repo`'s datapackage: the status and answer.
async fn declare(server: &TestServer, token: &str, repo: &str, jobs: Value) -> (u16, Value) {
    let (_, v) = call(
        server,
        Method::GET,
        &format!("{API}/{repo}"),
        Some(token),
        None,
    )
    .await;
    let mut package = v["datapackage"].clone();
    package["jobs"] = jobs;
    call(
        server,
        Method::PUT,
        &format!("{API}/{repo}"),
        Some(token),
        Some(json!({"datapackage": package, "parent": v["revision"]["id"]})),
    )
    .await
}

/// A job running `script` on alice/raw's CSVs, writing to `output` (its `cleaned` folder), with
/// `params`.
fn job(script: &str, output: &str, params: Value) -> Value {
    let mut job = job_to(script, json!({"dataset": output, "path": "cleaned"}));
    job["params"] = params;
    job
}

/// A job running `script` on alice/raw's CSVs, its output as `output` declares it.
fn job_to(script: &str, output: Value) -> Value {
    json!({
        "inputs": [{"dataset": "alice/raw", "paths": ["*.csv"]}],
        "run": {"interpreter": "python", "script": script, "args": ["{inputs}/raw", "{output}"]},
        "output": output,
    })
}

/// Starts `job` of `alice/pipeline` as `token` and waits for its end: the run.
async fn run_to_end(server: &TestServer, token: &str, job: &str, force: bool) -> Value {
    let path = format!("{API}/alice/pipeline/jobs/{job}/runs?force={force}");
    let (status, run) = call(server, Method::POST, &path, Some(token), None).await;
    assert_eq!(status, 202, "{run}");
    wait_run(server, token, run["id"].as_i64().unwrap()).await
}

/// Waits for run `id` of `alice/pipeline`'s jobs to end: the run.
async fn wait_run(server: &TestServer, token: &str, id: i64) -> Value {
    let url = format!("{API}/alice/pipeline/runs/{id}");
    let deadline = tokio::time::Instant::now() + crate::apps::START_BOUND;
    loop {
        let (_, v) = call(server, Method::GET, &url, Some(token), None).await;
        if !matches!(v["state"].as_str(), Some("queued" | "running")) {
            return v;
        }
        assert!(tokio::time::Instant::now() < deadline, "never ended: {v}");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

async fn head(server: &TestServer, token: &str, repo: &str) -> Value {
    call(
        server,
        Method::GET,
        &format!("{API}/{repo}"),
        Some(token),
        None,
    )
    .await
    .1["revision"]["id"]
        .clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_reads_its_inputs_commits_its_output_and_says_what_made_it() {
    let server = start(|_| {}).await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    pipeline(&server, &alice).await;
    let raw = put_files(
        &server,
        &alice,
        "alice/raw",
        &[
            ("readings.csv", "id,temp\n1,20.04\n2,\n1,20.04\n3,21.26\n"),
            ("notes.txt", "not a table"),
        ],
    )
    .await;
    put_files(
        &server,
        &alice,
        "alice/pipeline",
        &[
            ("jobs/clean.py", CLEAN),
            ("jobs/boom.py", BOOM),
            ("jobs/pry.py", PRY),
            ("jobs/link.py", LINK),
        ],
    )
    .await;
    let data_dir = server.dir.path().join("data");
    let mut clean = job("jobs/clean.py", "alice/clean", json!({"sep": ","}));
    clean["triggers"] = json!(["push"]);
    let jobs = json!({
        "clean": clean,
        "boom": job("jobs/boom.py", "alice/clean", json!({})),
        "pry": job("jobs/pry.py", "alice/clean", json!({"target": data_dir.to_str().unwrap()})),
        "link": job("jobs/link.py", "alice/clean", json!({})),
        "ruby": {"inputs": [{"dataset": "alice/raw"}], "run": {"interpreter": "ruby", "script": "jobs/x.rb"},
                 "output": {"dataset": "alice/clean"}},
    });
    let (status, v) = declare(&server, &alice, "alice/pipeline", jobs).await;
    assert_eq!(status, 200, "{v}");

    // A bad declaration is refused naming its field, and nothing changes.
    let (status, v) = declare(
        &server,
        &alice,
        "alice/pipeline",
        json!({"clean": {
        "inputs": [{"dataset": "raw"}], "run": {"interpreter": "python", "script": "x.py"},
        "output": {"dataset": "alice/clean"}}}),
    )
    .await;
    assert_eq!(status, 422, "{v}");
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("jobs.clean.inputs[0].dataset"),
        "{v}"
    );
    let (status, v) = call(
        &server,
        Method::GET,
        &format!("{API}/alice/pipeline/jobs"),
        None,
        None,
    )
    .await;
    assert_eq!(status, 200, "{v}");
    let names: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["clean", "boom", "pry", "link", "ruby"],
        "as declared"
    );

    // The run: its inputs at their heads, its output committed with its provenance.
    let run = run_to_end(&server, &alice, "clean", false).await;
    assert_eq!(run["state"], "succeeded", "{run}");
    assert_eq!(run["exit_code"], 0);
    assert_eq!(run["inputs"][0]["revision"], raw.as_str());
    assert!(
        run["log"].as_str().unwrap().contains("cleaned with sep ,"),
        "{run}"
    );
    assert!(
        run["bytes_in"].as_i64().unwrap() > 0 && run["bytes_out"].as_i64().unwrap() > 0,
        "{run}"
    );
    let r = client()
        .get(format!(
            "{}{API}/alice/clean/raw/cleaned/readings.csv",
            server.url
        ))
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "id,temp\n1,20.0\n3,21.3\n");
    // The data's revision, and the head: the new table's column types, committed right on top.
    let out = head(&server, &alice, "alice/clean").await;
    let data = run["output_revision"].as_str().unwrap().to_owned();
    let (status, p) = call(
        &server,
        Method::GET,
        &format!("{API}/alice/clean/revisions/{data}/provenance"),
        Some(&alice),
        None,
    )
    .await;
    assert_eq!((status, &p["run"]["id"]), (200, &run["id"]), "{p}");
    let (status, p) = call(
        &server,
        Method::GET,
        &format!("{API}/alice/clean/revisions/main/provenance"),
        Some(&alice),
        None,
    )
    .await;
    assert_eq!(status, 200, "{p}");
    assert_eq!(p["job"]["dataset"], "alice/pipeline");
    assert_eq!(p["job"]["name"], "clean");
    assert_eq!(p["run"]["id"], run["id"]);
    assert_eq!(
        p["inputs"][0],
        json!({"dataset": "alice/raw", "branch": "main", "revision": raw})
    );
    assert_eq!(p["revision"], out);
    let (_, revision) = call(
        &server,
        Method::GET,
        &format!("{API}/alice/clean/revisions/{data}"),
        Some(&alice),
        None,
    )
    .await;
    let message = revision["message"].as_str().unwrap_or_default();
    assert!(
        message.contains(&format!("Strata-Input: alice/raw@{raw}")),
        "{revision}"
    );

    // The same inputs and job again: skipped, pointing at what the last run made.
    let (status, again) = call(
        &server,
        Method::POST,
        &format!("{API}/alice/pipeline/jobs/clean/runs"),
        Some(&alice),
        None,
    )
    .await;
    assert_eq!(
        (status, again["state"].as_str()),
        (202, Some("skipped")),
        "{again}"
    );
    assert_eq!(again["output_revision"], data.as_str());

    // A failing script, one that reaches for strata's data, one that leaves a link: each fails,
    // says why, and lands nothing.
    let boom = run_to_end(&server, &alice, "boom", false).await;
    assert_eq!(
        (boom["state"].as_str(), boom["exit_code"].as_i64()),
        (Some("failed"), Some(3)),
        "{boom}"
    );
    assert!(
        boom["log"].as_str().unwrap().contains("about to fail"),
        "{boom}"
    );
    let pry = run_to_end(&server, &alice, "pry", false).await;
    assert_eq!(pry["state"], "failed", "{pry}");
    assert!(
        pry["log"].as_str().unwrap().contains("PermissionError"),
        "{pry}"
    );
    let link = run_to_end(&server, &alice, "link", false).await;
    assert_eq!(link["state"], "failed", "{link}");
    assert!(
        link["error"].as_str().unwrap().contains("not a plain file"),
        "{link}"
    );
    assert_eq!(
        head(&server, &alice, "alice/clean").await,
        out,
        "nothing landed"
    );
    let (status, v) = call(
        &server,
        Method::POST,
        &format!("{API}/alice/pipeline/jobs/ruby/runs"),
        Some(&alice),
        None,
    )
    .await;
    assert_eq!(status, 422, "{v}");
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("jobs.ruby.run.interpreter"),
        "{v}"
    );
    let (status, _) = call(
        &server,
        Method::POST,
        &format!("{API}/alice/pipeline/jobs/nope/runs"),
        Some(&alice),
        None,
    )
    .await;
    assert_eq!(status, 404);

    // A reader of the pipeline sees its runs without logs, and starts nothing; a stranger to the
    // output sees no provenance; the run's inputs stay alice's business.
    let (status, runs) = call(
        &server,
        Method::GET,
        &format!("{API}/alice/pipeline/runs"),
        Some(&bob),
        None,
    )
    .await;
    assert_eq!(status, 200, "{runs}");
    assert_eq!(runs.as_array().unwrap().len(), 5);
    assert!(
        runs.as_array()
            .unwrap()
            .iter()
            .all(|r| r.get("log").is_none()),
        "{runs}"
    );
    // Nor what alice's private datasets hold: their revisions are hidden from bob.
    let first = &runs.as_array().unwrap()[4];
    assert_eq!(first["inputs"][0], json!({"hidden": true}), "{first}");
    assert_eq!(
        (first["output"].as_str(), first["output_revision"].is_null()),
        (Some(""), true),
        "{first}"
    );
    let (status, v) = call(
        &server,
        Method::POST,
        &format!("{API}/alice/pipeline/jobs/clean/runs"),
        Some(&bob),
        None,
    )
    .await;
    assert_eq!(status, 403, "{v}");
    let (status, _) = call(
        &server,
        Method::GET,
        &format!("{API}/alice/clean/revisions/main/provenance"),
        Some(&bob),
        None,
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = call(
        &server,
        Method::POST,
        &format!("{API}/alice/pipeline/jobs/clean/runs"),
        None,
        None,
    )
    .await;
    assert_eq!(status, 401);
    let id = run["id"].as_i64().unwrap();
    let (status, _) = call(
        &server,
        Method::POST,
        &format!("{API}/alice/pipeline/runs/{id}/cancel"),
        Some(&bob),
        None,
    )
    .await;
    assert_eq!(status, 403);
    let (status, v) = call(
        &server,
        Method::POST,
        &format!("{API}/alice/pipeline/runs/{id}/cancel"),
        Some(&alice),
        None,
    )
    .await;
    assert_eq!(status, 409, "ended already: {v}");
    // A revision no job made has no provenance.
    let (status, _) = call(
        &server,
        Method::GET,
        &format!("{API}/alice/raw/revisions/main/provenance"),
        Some(&alice),
        None,
    )
    .await;
    assert_eq!(status, 404);

    // A commit to the input starts a run by itself, as the job's owner; its output follows.
    let raw2 = put_files(
        &server,
        &alice,
        "alice/raw",
        &[("readings.csv", "id,temp\n5,1.26\n5,1.26\n")],
    )
    .await;
    eventually("a run started by the commit succeeds", || async {
        let (_, runs) = call(
            &server,
            Method::GET,
            &format!("{API}/alice/pipeline/jobs/clean/runs"),
            Some(&alice),
            None,
        )
        .await;
        runs[0]["cause"] == "push" && runs[0]["state"] == "succeeded"
    })
    .await;
    let r = client()
        .get(format!(
            "{}{API}/alice/clean/raw/cleaned/readings.csv",
            server.url
        ))
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap();
    assert_eq!(r.text().await.unwrap(), "id,temp\n5,1.3\n");
    let (_, p) = call(
        &server,
        Method::GET,
        &format!("{API}/alice/clean/revisions/main/provenance"),
        Some(&alice),
        None,
    )
    .await;
    assert_eq!(
        (
            p["run"]["cause"].as_str(),
            p["inputs"][0]["revision"].as_str()
        ),
        (Some("push"), Some(raw2.as_str())),
        "{p}"
    );
    assert_eq!(p["run"]["started_by"], "alice");
}
