//! What made a revision, followed outward: a revision re-run at the inputs that made it (after
//! those inputs moved on) reproduces its files byte for byte on a branch of its own; a schedule
//! starts runs by itself; and each run's events reach a real receiver as OpenLineage RunEvents,
//! signed (checked with the `standardwebhooks` verifier) and built again from openlineage-python's
//! classes of the spec. Strangers and readers re-run nothing.

use reqwest::Method;
use serde_json::{json, Value};
use strata_core::config::Switch;

use super::{declare, job, put_files, run_to_end, wait_run, API, CLEAN};
use crate::apps::eventually;
use crate::common::*;
use crate::events::Receiver;
use crate::sharing::gated::call;

/// openlineage_check.py's verdict on each request.
fn check(requests: &[Value], secret: &str) -> Vec<Value> {
    crate::events::verdicts("tests/it/jobs/openlineage_check.py", &[secret], requests)
}

/// The runs of `job` of alice/pipeline.
async fn runs_of(server: &TestServer, token: &str, job: &str) -> Vec<Value> {
    let path = format!("{API}/alice/pipeline/jobs/{job}/runs");
    let (_, runs) = call(server, Method::GET, &path, Some(token), None).await;
    runs.as_array().cloned().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revision_runs_again_a_schedule_fires_and_runs_speak_openlineage() {
    let server = super::start(|c| {
        c.jobs.jobs_schedule_min_secs = 1;
        c.webhooks_allow_private = Switch::On;
    })
    .await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    super::pipeline(&server, &alice).await;
    let raw = put_files(
        &server,
        &alice,
        "alice/raw",
        &[("readings.csv", "id,temp\n1,20.04\n2,\n3,21.26\n")],
    )
    .await;
    put_files(
        &server,
        &alice,
        "alice/pipeline",
        &[("jobs/clean.py", CLEAN)],
    )
    .await;

    // An OpenLineage webhook carries run events only; an unknown format is refused.
    let mut receiver = tokio::task::spawn_blocking(Receiver::start).await.unwrap();
    let hooks = format!("{API}/alice/pipeline/webhooks");
    for bad in [
        json!({"url": receiver.url("/ok"), "format": "xml"}),
        json!({"url": receiver.url("/ok"), "format": "openlineage", "events": ["branch.updated"]}),
    ] {
        let (status, v) = call(&server, Method::POST, &hooks, Some(&alice), Some(bad)).await;
        assert_eq!(status, 422, "{v}");
    }
    let (status, created) = call(
        &server,
        Method::POST,
        &hooks,
        Some(&alice),
        Some(json!({"url": receiver.url("/ok"), "format": "openlineage"})),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["webhook"]["format"], "openlineage");
    let secret = created["secret"].as_str().unwrap().to_owned();

    let mut tick = job("jobs/clean.py", "alice/clean", json!({"sep": ";"}));
    tick["output"]["path"] = json!("ticked");
    tick["triggers"] = json!([{"schedule": "*/2 * * * * *"}]);
    let jobs =
        json!({"clean": job("jobs/clean.py", "alice/clean", json!({"sep": ","})), "tick": tick});
    let (status, v) = declare(&server, &alice, "alice/pipeline", jobs).await;
    assert_eq!(status, 200, "{v}");
    for (bad, field) in [
        (
            json!([{"schedule": "every day"}]),
            "jobs.clean.triggers[0].schedule",
        ),
        (
            json!([{"schedule": "* * * * *"}, {"schedule": "0 * * * *"}]),
            "jobs.clean.triggers",
        ),
    ] {
        let mut j = job("jobs/clean.py", "alice/clean", json!({}));
        j["triggers"] = bad;
        let (status, v) = declare(&server, &alice, "alice/pipeline", json!({"clean": j})).await;
        assert_eq!(status, 422, "{v}");
        assert!(v["message"].as_str().unwrap().contains(field), "{v}");
    }

    // The run, then the input moves on.
    let run = run_to_end(&server, &alice, "clean", false).await;
    assert_eq!(run["state"], "succeeded", "{run}");
    let made = run["output_revision"].as_str().unwrap().to_owned();
    let file = |rev: &str| {
        format!(
            "{}{API}/alice/clean/raw/cleaned/readings.csv?revision={rev}",
            server.url
        )
    };
    let original = client()
        .get(file(&made))
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap();
    let original = original.text().await.unwrap();
    assert_eq!(original, "id,temp\n1,20.0\n3,21.3\n");
    let moved = put_files(
        &server,
        &alice,
        "alice/raw",
        &[("readings.csv", "id,temp\n9,1.0\n")],
    )
    .await;

    // Run again at the inputs that made it: the same bytes, on a branch of its own.
    let rerun = format!("{API}/alice/clean/revisions/{made}/rerun");
    let (status, v) = call(&server, Method::POST, &rerun, Some(&bob), None).await;
    assert_eq!(status, 404, "bob reads no alice/clean: {v}");
    let (status, v) = call(
        &server,
        Method::POST,
        &format!("{API}/alice/raw/revisions/main/rerun"),
        Some(&alice),
        None,
    )
    .await;
    assert_eq!(status, 404, "no job made it: {v}");
    let (status, again) = call(&server, Method::POST, &rerun, Some(&alice), None).await;
    assert_eq!(status, 202, "{again}");
    assert_eq!(again["cause"], "rerun");
    assert_eq!(
        again["inputs"][0]["revision"],
        raw.as_str(),
        "the old input"
    );
    let done = wait_run(&server, &alice, again["id"].as_i64().unwrap()).await;
    assert_eq!(done["state"], "succeeded", "{done}");
    assert!(
        done["output"]
            .as_str()
            .unwrap()
            .starts_with("alice/clean@rerun-"),
        "{done}"
    );
    let remade = done["output_revision"].as_str().unwrap().to_owned();
    let r = client()
        .get(file(&remade))
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap();
    assert_eq!(r.text().await.unwrap(), original, "the same bytes");
    let (_, p) = call(
        &server,
        Method::GET,
        &format!("{API}/alice/clean/revisions/{remade}/provenance"),
        Some(&alice),
        None,
    )
    .await;
    assert_eq!(
        p["reproduces"],
        json!({"revision": made, "identical": true}),
        "{p}"
    );
    assert_eq!(p["inputs"][0]["revision"], raw.as_str(), "{p}");

    // Its lineage: upstream the input it read, downstream (from that input's revision) both
    // revisions made from it. Bob, a reader of the pipeline only, may see none of it.
    let (status, l) = call(
        &server,
        Method::GET,
        &format!("{API}/alice/clean/revisions/{made}/lineage"),
        Some(&alice),
        None,
    )
    .await;
    assert_eq!(status, 200, "{l}");
    assert_eq!(
        l["upstream"][0]["job"],
        json!(["alice/pipeline", "clean"]),
        "{l}"
    );
    assert_eq!(
        (
            l["upstream"][1]["dataset"].as_str(),
            l["upstream"][1]["revision"].as_str()
        ),
        (Some("alice/raw"), Some(raw.as_str())),
        "{l}"
    );
    assert_eq!(l["may_rerun"], true, "{l}");
    let (_, l) = call(
        &server,
        Method::GET,
        &format!("{API}/alice/raw/revisions/{raw}/lineage"),
        Some(&alice),
        None,
    )
    .await;
    let made_from: Vec<&str> = l["downstream"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|n| n["revision"].as_str())
        .collect();
    assert!(
        made_from.contains(&made.as_str()) && made_from.contains(&remade.as_str()),
        "{l}"
    );
    let (status, _) = call(
        &server,
        Method::GET,
        &format!("{API}/alice/raw/revisions/{raw}/lineage"),
        Some(&bob),
        None,
    )
    .await;
    assert_eq!(status, 404);

    // The schedule starts runs of `tick` by itself: one succeeds on the input as it is now (it
    // may have run on the old input too, while the test was busy above); the next find nothing
    // changed and record nothing.
    eventually("the schedule runs on the newest input", || async {
        let runs = runs_of(&server, &alice, "tick").await;
        let settled = runs
            .iter()
            .all(|r| r["state"] != "queued" && r["state"] != "running");
        settled
            && runs.iter().any(|r| {
                r["cause"] == "schedule"
                    && r["state"] == "succeeded"
                    && r["inputs"][0]["revision"] == moved.as_str()
            })
    })
    .await;
    let before = runs_of(&server, &alice, "tick").await.len();
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let runs = runs_of(&server, &alice, "tick").await;
    assert_eq!(runs.len(), before, "{runs:?}");
    assert!(runs.iter().all(|r| r["state"] == "succeeded"), "{runs:?}");

    // Every run's events, as OpenLineage: the clean run's START and COMPLETE name its input and
    // output at their revisions; nothing but run events arrived.
    let requests = receiver.wait_for(4).await.to_vec();
    let verdicts = check(&requests, &secret);
    assert_eq!(verdicts.len(), requests.len());
    let mut seen = Vec::new();
    for v in &verdicts {
        assert_eq!(v["ok"], true, "{v}");
        let e = &v["event"];
        seen.push((
            e["job"]["name"].as_str().unwrap().to_owned(),
            e["eventType"].as_str().unwrap().to_owned(),
        ));
        if e["job"]["name"] == "alice/pipeline.clean"
            && e["eventType"] == "COMPLETE"
            && e["outputs"][0]["facets"]["version"]["datasetVersion"] == made.as_str()
        {
            assert_eq!(e["inputs"][0]["name"], "alice/raw", "{e}");
            assert_eq!(
                e["inputs"][0]["facets"]["version"]["datasetVersion"],
                raw.as_str(),
                "{e}"
            );
            assert_eq!(e["outputs"][0]["name"], "alice/clean", "{e}");
        }
    }
    assert!(
        seen.contains(&("alice/pipeline.clean".into(), "START".into())),
        "{seen:?}"
    );
    assert!(
        seen.contains(&("alice/pipeline.clean".into(), "COMPLETE".into())),
        "{seen:?}"
    );
}
