//! No credential a request carries in its path or query (share-link secrets, signed-URL
//! signatures, app tickets, OAuth codes and states, tokens) reaches a log line, an audit entry or
//! a metric label. The server runs in a runtime of its own whose every thread logs, at trace
//! level for strata's crates, into a buffer this test scans after exercising each surface.

use std::sync::{Arc, Mutex};

use serde_json::{json, Value};
use strata_core::db::Visibility;
use tracing_subscriber::fmt::MakeWriter;

use crate::common::*;
use crate::pages::drive::upload_files;

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Captured {
        self.clone()
    }
}

#[test]
fn no_credential_reaches_a_log_line_an_audit_entry_or_a_metric() {
    let logs = Captured::default();
    let filter = "info,strata=trace,strata_lfs=trace,strata_metastore=trace,strata_policy=trace,strata_apps=trace,tower_http=trace,axum=trace";
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_current_span(true)
        .with_span_list(true)
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(logs.clone())
        .finish();
    let dispatch = tracing::Dispatch::new(subscriber);
    // With a single dispatcher registered, tracing asks the *calling thread's* default whether a
    // new call site is wanted: one first reached by another test's thread (no subscriber) would
    // stay off for good. A second registered dispatcher makes it ask every registered one.
    let _second = tracing::Dispatch::new(tracing::subscriber::NoSubscriber::default());
    let each = dispatch.clone();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .on_thread_start(move || std::mem::forget(tracing::dispatcher::set_default(&each)))
        .build()
        .unwrap();
    let (secrets, audit, metrics) =
        tracing::dispatcher::with_default(&dispatch, || runtime.block_on(exercise()));
    drop(runtime);
    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    for (what, secret) in &secrets {
        assert!(secret.len() >= 8, "{what}: {secret:?}");
        for (place, haystack) in [("log", &text), ("audit log", &audit), ("metrics", &metrics)] {
            if let Some(at) = haystack.find(secret.as_str()) {
                let line = haystack[..at].rsplit('\n').next().unwrap_or_default();
                panic!("the {what} ({secret}) is in the {place}: …{line}");
            }
        }
    }
    // The scan means something only if the requests were logged, with their redacted paths.
    assert!(
        text.contains("/s/{secret}/raw/a.csv") && text.contains("request refused"),
        "the requests were not logged: {}",
        text.lines().take(5).collect::<Vec<_>>().join("\n")
    );
}

/// Drives every surface that takes a credential in its URL; returns the credentials (named), the
/// audit log and the metrics.
async fn exercise() -> (Vec<(&'static str, String)>, String, String) {
    let server = server_with_alice().await;
    let token = strata::cli::admin::create_token(&server.state, "alice", "t", "*", None)
        .await
        .unwrap();
    let mut secrets: Vec<(&str, String)> = vec![("personal access token", token.clone())];
    let mut alice = Browser::new(&server.url);
    alice.login("alice", PASSWORD).await;
    let csrf = alice.get("/").await.hidden("csrf");
    assert_eq!(alice.post("/drive", &[("csrf", &csrf)]).await.status, 303);
    let url = format!("{}/datasets/alice/drive", server.url);
    let done = upload_files(
        &mut alice,
        &url,
        &csrf,
        "public",
        &[("a.csv", b"a,b\n1,2\n")],
    )
    .await;
    assert_eq!(done.status, 303, "{}", done.text);

    // Share links: opened, refused (wrong password, outside the link, revoked), unknown.
    let open = make_link(&mut alice, &server.url, &csrf, "").await;
    let locked = make_link(&mut alice, &server.url, &csrf, "open sesame").await;
    let mut stranger = Browser::new(&server.url);
    assert_eq!(stranger.get(&format!("/s/{open}")).await.status, 200);
    let file = stranger.get(&format!("/s/{open}/raw/a.csv")).await;
    assert_eq!(file.status, 200);
    assert_eq!(
        stranger.get(&format!("/s/{open}/raw/..%2Fx")).await.status / 100,
        4
    );
    assert_eq!(
        stranger
            .post(&format!("/s/{locked}"), &[("password", "guess")])
            .await
            .status,
        403
    );
    assert_eq!(
        stranger.get(&format!("/s/{locked}/raw/a.csv")).await.status,
        403
    );
    let unknown = "Zq9".repeat(16);
    assert_eq!(stranger.get(&format!("/s/{unknown}")).await.status, 404);
    secrets.extend([
        ("share link", open),
        ("share link with a password", locked),
        ("unknown share link", unknown),
    ]);

    // A signed download URL, and one with a forged signature.
    server.repo("alice/data", Visibility::Private).await;
    let body = b"signed bytes";
    let oid = upload(&server, "alice/data", &token, body)
        .await
        .to_string();
    let req = json!({"operation": "download", "objects": [{"oid": oid, "size": body.len()}]});
    let (status, _, v) =
        crate::common::body(lfs_post(&server.batch_url("alice/data"), Some(&token), &req).await)
            .await;
    assert_eq!(status, 200, "{v}");
    let href = v["objects"][0]["actions"]["download"]["href"]
        .as_str()
        .unwrap()
        .to_owned();
    let get = |u: String| async move { client().get(u).send().await.unwrap().status().as_u16() };
    assert_eq!(get(href.clone()).await, 200);
    let query = url::Url::parse(&href).unwrap();
    for (_, v) in query.query_pairs().filter(|(_, v)| v.len() >= 16) {
        secrets.push(("signed URL's signature", v.into_owned()));
    }
    let forged = format!("{href}0");
    assert_eq!(get(forged).await / 100, 4);

    // An app ticket, OAuth codes and states, and an identity provider's callback.
    let ticket = "tkt".repeat(12);
    get(format!(
        "{}/_apps/enter?ticket={ticket}&next=/apps/alice/x/",
        server.url
    ))
    .await;
    let state = "st8".repeat(12);
    get(format!(
        "{}/oauth/authorize?response_type=code&client_id=nope&state={state}&redirect_uri=http://x/",
        server.url
    ))
    .await;
    let code = "cod".repeat(12);
    let refused = client()
        .post(format!("{}/oauth/token", server.url))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("client_id", "nope"),
            ("redirect_uri", "http://x/"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status().as_u16() / 100, 4);
    let sso_code = "ssc".repeat(12);
    let sso_state = "sss".repeat(12);
    get(format!(
        "{}/login/sso/corp/callback?code={sso_code}&state={sso_state}",
        server.url
    ))
    .await;
    secrets.extend([
        ("app ticket", ticket),
        ("OAuth state", state),
        ("OAuth code", code),
        ("identity provider's code", sso_code),
        ("identity provider's state", sso_state),
    ]);

    let audit: Value = client()
        .get(format!("{}/api/v1/audit?limit=500", server.url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let metrics = server.metrics_text().await;
    server.stop().await;
    (secrets, audit.to_string(), metrics)
}

/// A share link of alice's `public` folder; its secret.
async fn make_link(alice: &mut Browser, base: &str, csrf: &str, password: &str) -> String {
    let form = [
        ("csrf", csrf),
        ("change", "link"),
        ("path", "public"),
        ("password", password),
        ("expires", ""),
    ];
    let made = alice.post("/datasets/alice/drive/settings", &form).await;
    assert_eq!(made.status, 201, "{}", made.text);
    made.text.split(&format!("{base}/s/")).nth(1).unwrap()[..48].to_owned()
}
