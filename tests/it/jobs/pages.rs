//! The jobs pages in headless Chromium: from a dataset's page to its jobs, "Run now", the run's
//! page reloading itself until the run ends with its log, the output revision's lineage (the
//! input it read, the job and run that made it), "Run again at these inputs", and the input
//! revision's lineage listing both revisions made from it; a slow job's log growing on its run's
//! page without a reload, its output a merge request linked from there. A reader of the pipeline
//! sees its runs without logs or buttons; no page breaks the Content-Security-Policy.

use fantoccini::Locator;
use reqwest::Method;
use serde_json::json;

use super::follow::TICK;
use super::{declare, job, job_to, put_files, API, CLEAN};
use crate::common::chromium::*;
use crate::common::forms::PASSWORD;
use crate::sharing::gated::call;

/// Waits on a run's page (it reloads itself) until its state is `want`.
async fn run_ends(c: &fantoccini::Client, want: &str) {
    let state = "document.getElementById('state').textContent";
    wait_until(c, &format!("{state} === '{want}'"), state).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_runs_and_lineage_in_chromium() {
    let server = super::start(|_| {}).await;
    let alice = server.user("alice").await;
    server.user("bob").await;
    for user in ["alice", "bob"] {
        strata::cli::admin::set_password(&server.state, user, PASSWORD)
            .await
            .unwrap();
    }
    super::pipeline(&server, &alice).await;
    let raw = put_files(
        &server,
        &alice,
        "alice/raw",
        &[("readings.csv", "id,temp\n1,20.04\n2,\n")],
    )
    .await;
    put_files(
        &server,
        &alice,
        "alice/pipeline",
        &[("jobs/clean.py", CLEAN), ("jobs/tick.py", TICK)],
    )
    .await;
    let tick = job_to(
        "jobs/tick.py",
        json!({"dataset": "alice/clean", "path": "ticks", "merge_request": true}),
    );
    let (status, v) = declare(
        &server,
        &alice,
        "alice/pipeline",
        json!({"clean": job("jobs/clean.py", "alice/clean", json!({"sep": ","})), "tick": tick}),
    )
    .await;
    assert_eq!(status, 200, "{v}");

    let base = server.url.clone();
    let driver = tokio::task::spawn_blocking(Driver::start).await.unwrap();
    let c = browser(&driver, &server.dir.path().join("profile-alice")).await;
    sign_in(&c, &base, "alice").await;
    c.goto(&format!("{base}/datasets/alice/pipeline"))
        .await
        .unwrap();
    c.find(Locator::LinkText("Jobs"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let page = text(&c).await;
    assert!(
        page.contains("alice/raw@main") && page.contains("alice/clean@main /cleaned"),
        "{page}"
    );
    assert!(page.contains("No runs yet."), "{page}");

    // Run now: the run's page follows the run to its end.
    click(&c, "#job-clean button[type=submit]").await;
    run_ends(&c, "succeeded").await;
    let page = text(&c).await;
    assert!(page.contains("cleaned with sep ,"), "the log: {page}");
    assert!(
        page.contains(&format!("alice/raw@{}", &raw[..10])),
        "{page}"
    );
    screenshot(&c, "job-run").await;

    // Its output's lineage: the input it read, and what made it.
    c.find(Locator::Id("lineage-link"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_until(&c, "document.getElementById('upstream')", "document.title").await;
    let page = text(&c).await;
    assert!(
        page.contains("made by job alice/pipeline: clean, run 1"),
        "{page}"
    );
    assert!(
        page.contains(&format!("alice/raw@{}", &raw[..10])),
        "{page}"
    );
    assert!(page.contains("(committed by a person)"), "{page}");
    let made = c
        .current_url()
        .await
        .unwrap()
        .path()
        .split('/')
        .nth(5)
        .unwrap()
        .to_owned();

    // Run again at these inputs: a new run, on a branch of its own, that ends too.
    click(&c, "form[action$='/rerun'] button").await;
    assert!(c
        .current_url()
        .await
        .unwrap()
        .path()
        .starts_with("/datasets/alice/pipeline/runs/"));
    run_ends(&c, "succeeded").await;
    let page = text(&c).await;
    assert!(page.contains("rerun"), "{page}");
    let (_, runs) = call(
        &server,
        Method::GET,
        &format!("{API}/alice/pipeline/runs"),
        Some(&alice),
        None,
    )
    .await;
    let remade = runs[0]["output_revision"].as_str().unwrap().to_owned();
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

    // The input's lineage: both revisions made from it, downstream.
    c.goto(&format!(
        "{base}/datasets/alice/raw/revisions/{raw}/lineage"
    ))
    .await
    .unwrap();
    let downstream = c
        .find(Locator::Id("downstream"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        downstream.contains(&made[..10]) && downstream.contains(&remade[..10]),
        "{downstream}"
    );
    assert!(page_ok(&c).await);

    // A slow job: its log grows on its page as the process writes it, with no reload (the
    // page's mark survives) while the run is running; at its end the page shows how it ended,
    // and the merge request its output opened.
    c.goto(&format!("{base}/datasets/alice/pipeline/jobs"))
        .await
        .unwrap();
    click(&c, "#job-tick button[type=submit]").await;
    c.execute("window.stillHere = true;", vec![]).await.unwrap();
    let log = "document.getElementById('log').textContent";
    wait_until(
        &c,
        &format!("window.stillHere && {log}.includes('tick 1') && !{log}.includes('tick 2') && document.getElementById('state').textContent === 'running'"),
        log,
    )
    .await;
    run_ends(&c, "succeeded").await;
    let page = text(&c).await;
    assert!(page.contains("tick 0\ntick 1\ntick 2"), "{page}");
    let link = c
        .find(Locator::Id("merge-request-link"))
        .await
        .unwrap()
        .attr("href")
        .await
        .unwrap()
        .unwrap_or_default();
    assert!(
        link.starts_with("/datasets/alice/clean/merge-requests/"),
        "{link}"
    );
    assert!(page_ok(&c).await);

    // Bob reads the pipeline: its runs, but no log, no button, no output of alice's.
    let b = browser(&driver, &server.dir.path().join("profile-bob")).await;
    sign_in(&b, &base, "bob").await;
    b.goto(&format!("{base}/datasets/alice/pipeline/jobs"))
        .await
        .unwrap();
    let page = text(&b).await;
    assert!(page.contains("#1") && !page.contains("Run now"), "{page}");
    let runs = b
        .find(Locator::Id("runs"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!runs.contains("alice/clean@"), "{runs}");
    b.goto(&format!("{base}/datasets/alice/pipeline/runs/1"))
        .await
        .unwrap();
    let page = text(&b).await;
    assert!(
        page.contains("succeeded") && !page.contains("cleaned with sep"),
        "{page}"
    );
    assert!(
        page.contains("Nothing you may read.") && page.contains("not yours to read"),
        "{page}"
    );
    b.goto(&format!(
        "{base}/datasets/alice/clean/revisions/{made}/lineage"
    ))
    .await
    .unwrap();
    // (alice/clean is private: the page is bob's 404.)
    assert!(!text(&b).await.contains(&made[..10]));
}

/// No errors on the console (a style or script the policy refused).
async fn page_ok(c: &fantoccini::Client) -> bool {
    let errors = console_errors(c).await;
    assert!(errors.is_empty(), "{errors:?}");
    true
}
