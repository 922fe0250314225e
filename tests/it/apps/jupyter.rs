//! JupyterLab (PyPI `jupyterlab`) as alice's app at `/apps/alice/jupyter/`: her first visit in
//! headless Chromium starts it (through the starting page), JupyterLab loads, a kernel runs a cell
//! over its websocket through the proxy, and that code reads a file of alice's private dataset
//! through strata's API with the token strata injected. bob gets no access, and nothing of
//! alice's own credentials reaches the app.

use fantoccini::Locator;
use serde_json::Value;

use super::{session_of, Lab};
use crate::common::chromium::*;
use crate::common::*;

pub fn jupyter_manifest() -> String {
    let lab = python_tool("jupyter-lab");
    format!(
        r#"id = "jupyter"
name = "JupyterLab"
description = "Notebooks next to your data"
version = "4.6"
prefix = "keep"
health = "/api"
start_timeout_secs = 90
scopes = ["dataset:*:read"]
opens = ["csv", "ipynb"]
open = "/lab"

[runner]
kind = "process"
command = "{}"
args = ["--no-browser", "--ip=127.0.0.1", "--port={{port}}", "--ServerApp.base_url={{base_url}}",
        "--IdentityProvider.token=", "--ServerApp.password=", "--ServerApp.allow_remote_access=True",
        "--ServerApp.root_dir={{home}}", "--allow-root", "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
"#,
        lab.display()
    )
}

/// Runs `code` in a new kernel over the websocket, from the page: its output.
const RUN_CELL: &str = r#"
const [code, done] = [arguments[0], arguments[arguments.length - 1]];
(async () => {
  const base = '/apps/alice/jupyter/';
  const xsrf = (document.cookie.match(/_xsrf=([^;]+)/) || [])[1] || '';
  const r = await fetch(base + 'api/kernels', {method: 'POST', headers: {'X-XSRFToken': xsrf, 'Content-Type': 'application/json'}, body: '{}'});
  if (!r.ok) { done('kernel: ' + r.status + ' ' + await r.text()); return; }
  const k = await r.json();
  const ws = new WebSocket(`ws://${location.host}${base}api/kernels/${k.id}/channels`);
  let out = '';
  ws.onopen = () => ws.send(JSON.stringify({
    header: {msg_id: 'cell-1', username: 'alice', session: 'test', msg_type: 'execute_request', version: '5.3', date: new Date().toISOString()},
    parent_header: {}, metadata: {}, channel: 'shell', buffers: [],
    content: {code, silent: false, store_history: false, user_expressions: {}, allow_stdin: false, stop_on_error: true}}));
  ws.onmessage = (e) => {
    const m = JSON.parse(e.data);
    if (m.msg_type === 'stream') out += m.content.text;
    if (m.msg_type === 'error') out += 'ERROR ' + m.content.ename + ': ' + m.content.evalue;
    if (m.msg_type === 'status' && m.content.execution_state === 'idle' && m.parent_header.msg_id === 'cell-1') { ws.close(); done(out); }
  };
  ws.onerror = () => done(out + ' websocket error');
})().catch((e) => done('failed: ' + e));
"#;

const CELL: &str = r#"
import os, urllib.request
token = open(os.environ["STRATA_TOKEN_FILE"]).read().strip()
req = urllib.request.Request(os.environ["STRATA_API_URL"] + "/datasets/alice/data/raw/x.csv",
                             headers={"Authorization": "Bearer " + token})
print(urllib.request.urlopen(req).read().decode(), end="")
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jupyterlab_runs_a_cell_over_the_proxy_and_reads_alices_data_in_chromium() {
    let lab = Lab::start(|_| {}).await;
    let (s, v) = lab.add(&jupyter_manifest()).await;
    assert_eq!(s, 201, "{v}");
    lab.alice_data().await;
    session_of(&lab, "alice").await;
    let driver = tokio::task::spawn_blocking(Driver::start).await.unwrap();
    let c = browser(&driver, &lab.server.dir.path().join("profile-alice")).await;
    c.set_window_size(1280, 900).await.unwrap();
    c.goto(&lab.url("/login")).await.unwrap();
    fill(&c, "username", "alice").await;
    fill(&c, "password", "a long password 1").await;
    click(&c, "form[action=\"/login\"] button").await;
    // The catalog on the Apps page, then the consent page: installing is consenting.
    c.goto(&lab.url("/apps")).await.unwrap();
    assert!(text(&c).await.contains("You have not installed an app"));
    click(&c, "#app-catalog a").await;
    let consent = text(&c).await;
    assert!(
        consent.contains("JupyterLab will act as alice with:")
            && consent.contains("dataset:*:read"),
        "{consent}"
    );
    screenshot(&c, "app-consent").await;
    click(&c, "#install").await;
    let apps = text(&c).await;
    assert!(
        apps.contains("JupyterLab") && apps.contains("stopped"),
        "{apps}"
    );
    // The first visit starts JupyterLab; the starting page reloads until it is up.
    c.goto(&lab.url("/apps/alice/jupyter/lab")).await.unwrap();
    wait_for(
        &c,
        "document.querySelector('.jp-LabShell') !== null",
        "document.title + ' | ' + document.body.className + ' | ' + document.body.innerText.slice(0, 300) + ' | ' + performance.getEntriesByType('resource').map(r => r.name.slice(-50) + ':' + r.responseStatus).join(' ')",
        120,
    )
    .await;
    let out = c
        .execute_async(RUN_CELL, vec![Value::String(CELL.into())])
        .await
        .unwrap();
    let out = out.as_str().unwrap_or_default().to_owned();
    assert!(out.starts_with("a,b\n1,2\n"), "{out}");
    // alice's personal token, which strata saw on her API calls, is nowhere in the app's
    // environment (the proxy strips `Authorization` and strata's cookies: see the echo tests).
    let env_dump = c
        .execute_async(
            RUN_CELL,
            vec![Value::String(format!(
                "import os\nprint(any({:?} in v for v in os.environ.values()))",
                lab.alice
            ))],
        )
        .await
        .unwrap();
    assert_eq!(env_dump.as_str().unwrap_or_default().trim(), "False");
    // For the README: JupyterLab once its splash screen is gone.
    wait_for(
        &c,
        "document.querySelector('#jupyterlab-splash') === null",
        "document.title",
        60,
    )
    .await;
    screenshot(&c, "app-jupyterlab").await;
    // The apps page shows it running.
    c.goto(&lab.url("/apps")).await.unwrap();
    let apps = text(&c).await;
    assert!(
        apps.contains("JupyterLab") && apps.contains("running"),
        "{apps}"
    );
    screenshot(&c, "apps").await;
    c.find(Locator::Css("#my-apps")).await.unwrap();
    c.close().await.unwrap();
    // bob: not his app.
    let (bob_cookie, _) = session_of(&lab, "bob").await;
    let r = client()
        .get(lab.url("/apps/alice/jupyter/lab"))
        .header("cookie", &bob_cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = lab.get(&lab.bob, "/apps/alice/jupyter/api/kernels").await;
    assert_eq!(r.status(), 403);
}
