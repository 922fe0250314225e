//! A run's log followed as the process writes it (over REST and with `strata jobs log
//! --follow`), a long log cut to the lines kept and saying so, a job whose output is a merge
//! request (and one whose target branch is missing), and the `strata jobs` commands against a
//! live server, for its writer and for a reader.

use reqwest::Method;
use serde_json::{json, Value};

use super::*;

/// Three lines a second apart, then a file.
pub(super) const TICK: &str =
    "import sys, time\nfor i in range(3):\n    print('tick', i, flush=True)\n    \
                    time.sleep(1.0)\nopen(sys.argv[2] + '/ticks.txt', 'w').write('3 ticks\\n')\n";

const CHATTY: &str = "for i in range(2500):\n    print('line', i)\n";

/// `strata jobs …` against `server` as `token`: exit success, stdout, stderr.
async fn cli(server: &TestServer, token: &str, args: &[&str]) -> (bool, String, String) {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_strata"))
        .arg("jobs")
        .args(["--server", &server.url])
        .env("STRATA_TOKEN", token)
        .args(args)
        .output()
        .await
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_follow_runs_and_outputs_may_be_merge_requests() {
    let server = start(|_| {}).await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    pipeline(&server, &alice).await;
    put_files(&server, &alice, "alice/raw", &[("a.csv", "id\n1\n")]).await;
    put_files(
        &server,
        &alice,
        "alice/pipeline",
        &[("jobs/tick.py", TICK), ("jobs/chatty.py", CHATTY)],
    )
    .await;
    let jobs = json!({
        "tick": job_to("jobs/tick.py", json!({"dataset": "alice/clean", "merge_request": true})),
        "chatty": job_to("jobs/chatty.py", json!({"dataset": "alice/clean", "path": "chatty"})),
        "orphan": job_to("jobs/tick.py",
            json!({"dataset": "alice/clean", "branch": "nowhere", "merge_request": true})),
    });
    let (status, v) = declare(&server, &alice, "alice/pipeline", jobs).await;
    assert_eq!(status, 200, "{v}");
    let clean_before = head(&server, &alice, "alice/clean").await;

    // Followed over REST: the first lines come while the process is still writing.
    let (status, run) = call(
        &server,
        Method::POST,
        &format!("{API}/alice/pipeline/jobs/tick/runs"),
        Some(&alice),
        None,
    )
    .await;
    assert_eq!(status, 202, "{run}");
    let id = run["id"].as_i64().unwrap();
    let log = format!("{API}/alice/pipeline/runs/{id}/log");
    let mut r = client()
        .get(format!("{}{log}?follow=true", server.url))
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/plain; charset=utf-8");
    let mut pieces = Vec::new();
    while let Some(piece) = r.chunk().await.unwrap() {
        pieces.push(String::from_utf8(piece.to_vec()).unwrap());
    }
    assert!(
        pieces[0].starts_with("tick 0\n") && !pieces[0].contains("tick 2"),
        "the first piece came before the last line was written: {pieces:?}"
    );
    assert_eq!(pieces.concat(), "tick 0\ntick 1\ntick 2\n");
    // The stream ended with the run.
    let ended = wait_run(&server, &alice, id).await;
    assert_eq!(ended["state"], "succeeded", "{ended}");
    assert_eq!(ended["log_lines"], 3);

    // Its output is a merge request into main, from a branch of its own; main is as it was.
    let number = ended["merge_request"].as_i64().expect("a merge request");
    let (status, mr) = call(
        &server,
        Method::GET,
        &format!("{API}/alice/clean/merge-requests/{number}"),
        Some(&alice),
        None,
    )
    .await;
    assert_eq!(status, 200, "{mr}");
    let source = format!("job-tick-run-{id}");
    assert_eq!(
        (&mr["source"], &mr["target"], &mr["state"]),
        (&json!(source), &json!("main"), &json!("open")),
        "{mr}"
    );
    assert_eq!(mr["title"], format!("Run {id} of job tick"));
    assert_eq!(head(&server, &alice, "alice/clean").await, clean_before);
    let rev = ended["output_revision"].as_str().unwrap();
    let (status, p) = call(
        &server,
        Method::GET,
        &format!("{API}/alice/clean/revisions/{rev}/provenance"),
        Some(&alice),
        None,
    )
    .await;
    assert_eq!(status, 200, "{p}");
    assert_eq!(p["output"]["branch"], source.as_str(), "{p}");
    assert_eq!(
        p["output"]["merge_request"],
        json!({"number": number, "into": "main"})
    );
    // Merged by a person, the file is on main.
    let (status, merged) = call(
        &server,
        Method::POST,
        &format!("{API}/alice/clean/merge-requests/{number}/merge"),
        Some(&alice),
        Some(json!({})),
    )
    .await;
    assert_eq!(status, 200, "{merged}");
    let r = client()
        .get(format!("{}{API}/alice/clean/raw/ticks.txt", server.url))
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "3 ticks\n");

    // Run again after the merge: its output is on main already, so nothing is proposed and its
    // branch is gone.
    let again = run_to_end(&server, &alice, "tick", true).await;
    assert_eq!(again["state"], "succeeded", "{again}");
    assert!(again["merge_request"].is_null(), "{again}");
    let again_branch = format!("job-tick-run-{}", again["id"]);
    // A follower that has some lines asks for the rest.
    let r = client()
        .get(format!("{}{log}?from=2", server.url))
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap();
    assert_eq!(r.text().await.unwrap(), "tick 2\n");

    // An incremental job cannot propose: its next run builds on an output nobody merged yet.
    let mut both = job_to(
        "jobs/tick.py",
        json!({"dataset": "alice/clean", "merge_request": true}),
    );
    both["incremental"] = json!(true);
    let (status, v) = declare(&server, &alice, "alice/pipeline", json!({"both": both})).await;
    assert_eq!(status, 422, "{v}");
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("jobs.both.output.merge_request"),
        "{v}"
    );

    // A target branch that is not there: the run fails saying so.
    let orphan = run_to_end(&server, &alice, "orphan", false).await;
    assert_eq!(orphan["state"], "failed", "{orphan}");
    assert!(
        orphan["error"]
            .as_str()
            .unwrap()
            .contains("jobs.orphan.output.branch: no branch \"nowhere\""),
        "{orphan}"
    );
    let (_, branches) = call(
        &server,
        Method::GET,
        &format!("{API}/alice/clean/branches"),
        Some(&alice),
        None,
    )
    .await;
    let names: Vec<&str> = branches["branches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["name"].as_str().unwrap())
        .collect();
    assert!(
        !names
            .iter()
            .any(|n| n.starts_with("job-orphan") || *n == again_branch),
        "{names:?}"
    );

    // A long log keeps its last 2,000 lines and says how many came before.
    let chatty = run_to_end(&server, &alice, "chatty", false).await;
    assert_eq!(
        (&chatty["state"], &chatty["log_lines"]),
        (&json!("succeeded"), &json!(2500)),
        "{chatty}"
    );
    let chatty_id = chatty["id"].as_i64().unwrap();
    let r = client()
        .get(format!(
            "{}{API}/alice/pipeline/runs/{chatty_id}/log",
            server.url
        ))
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap();
    let text = r.text().await.unwrap();
    assert!(
        text.starts_with("[500 earlier lines are not kept]\nline 500\n")
            && text.ends_with("line 2499\n"),
        "{}",
        &text[..text.len().min(200)]
    );

    // Logs are for writers: a reader and an anonymous visitor of the public dataset are refused,
    // a run that is not there is 404, and a private dataset is not there for a stranger.
    for (token, want) in [(Some(bob.as_str()), 403), (None, 403)] {
        let (status, v) = call(&server, Method::GET, &log, token, None).await;
        assert_eq!(status, want, "{v}");
        assert!(v["request_id"].is_string(), "{v}");
    }
    let (status, _) = call(
        &server,
        Method::GET,
        &format!("{API}/alice/pipeline/runs/999999/log"),
        Some(&alice),
        None,
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = call(
        &server,
        Method::GET,
        &format!("{API}/alice/clean/runs/{id}/log"),
        Some(&bob),
        None,
    )
    .await;
    assert_eq!(status, 404);

    // The command line: list, run and follow, runs, log, show, cancel; errors say why.
    let (ok, out, err) = cli(&server, &alice, &["list", "alice/pipeline"]).await;
    assert!(ok, "{err}");
    assert!(out.contains("tick\talice/clean@main\tmanual\n"), "{out}");
    let (ok, out, err) = cli(
        &server,
        &alice,
        &["run", "alice/pipeline", "chatty", "--force", "--follow"],
    )
    .await;
    assert!(ok, "{err}");
    assert!(
        out.contains("line 2499\n") && out.contains("\tchatty\tsucceeded\tmanual\talice\t"),
        "{}",
        &out[out.len().saturating_sub(300)..]
    );
    let (ok, out, err) = cli(&server, &alice, &["log", "alice/pipeline", &id.to_string()]).await;
    assert!(ok, "{err}");
    assert_eq!(out, "tick 0\ntick 1\ntick 2\n");
    let (ok, out, _) = cli(
        &server,
        &alice,
        &["--json", "show", "alice/pipeline", &id.to_string()],
    )
    .await;
    assert!(ok);
    let shown: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(shown["merge_request"], number);
    let (ok, out, err) = cli(
        &server,
        &alice,
        &["run", "alice/pipeline", "tick", "--force"],
    )
    .await;
    assert!(ok, "{err}");
    let started: i64 = out.split('\t').next().unwrap().trim().parse().unwrap();
    let (ok, out, err) = cli(
        &server,
        &alice,
        &["cancel", "alice/pipeline", &started.to_string()],
    )
    .await;
    assert!(ok, "{err}");
    assert!(out.contains("\tcancelled\t"), "{out}");
    let (ok, out, _) = cli(
        &server,
        &alice,
        &["runs", "alice/pipeline", "--job", "tick"],
    )
    .await;
    assert!(ok);
    assert_eq!(out.lines().count(), 3, "{out}");
    assert!(out.contains(&format!("(merge request #{number})")), "{out}");
    // A failed run exits non-zero; so do a reader's request for a log and a job that is not
    // there, with the server's status, message and request id.
    let (ok, _, err) = cli(
        &server,
        &alice,
        &["run", "alice/pipeline", "orphan", "--force", "--follow"],
    )
    .await;
    assert!(
        !ok && err.contains("failed: jobs.orphan.output.branch"),
        "{err}"
    );
    let (ok, _, err) = cli(&server, &bob, &["log", "alice/pipeline", &id.to_string()]).await;
    assert!(
        !ok && err.contains("403") && err.contains("(request "),
        "{err}"
    );
    let (ok, _, err) = cli(&server, &alice, &["run", "alice/pipeline", "nope"]).await;
    assert!(!ok && err.contains("404"), "{err}");
    let (ok, _, err) = cli(&server, &alice, &["list", "not-a-dataset"]).await;
    assert!(!ok && err.contains("namespace/name"), "{err}");
}
