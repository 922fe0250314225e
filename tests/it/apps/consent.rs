//! Who may change the catalog, and what a change does to installs: engineers add container
//! apps, process apps (a command on the server) only site admins; an app is changed or removed
//! only by whoever added it or a site admin; a change of what runs or what it may do suspends
//! every install (instance stopped, token refused, proxy 409 with the way to consent) until its
//! owner consents again, and is audited as such; other changes suspend nothing.

use serde_json::{json, Value};

use super::*;
use crate::common::*;

/// A Kubernetes manifest (adding one needs no cluster).
fn container_manifest(id: &str, name: &str) -> String {
    format!(
        "id = \"{id}\"\nname = \"{name}\"\nscopes = [\"dataset:*:read\"]\n\
         [runner]\nkind = \"kubernetes\"\nimage = \"example/app@sha256:cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd\"\nport = 8080\n"
    )
}

async fn post_manifest(lab: &Lab, token: &str, manifest: &str) -> reqwest::Response {
    client()
        .post(lab.url("/api/v1/apps"))
        .bearer_auth(token)
        .header("content-type", "application/toml")
        .body(manifest.to_owned())
        .send()
        .await
        .unwrap()
}

async fn engineer(lab: &Lab, name: &str) -> String {
    let token = lab.server.user(name).await;
    let r = client()
        .put(lab.url(&format!("/api/v1/users/{name}/role")))
        .bearer_auth(&lab.steward)
        .json(&json!({"role": "engineer"}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    token
}

/// The newest audit entries of `event` for `subject`.
async fn audited(lab: &Lab, event: &str, subject: &str) -> Vec<Value> {
    let v: Value = lab
        .get(&lab.steward, "/api/v1/audit?limit=500")
        .await
        .json()
        .await
        .unwrap();
    v["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event"] == event && e["subject"] == subject)
        .cloned()
        .collect()
}

#[tokio::test]
async fn engineers_add_container_apps_and_change_only_their_own() {
    let lab = Lab::start(|_| {}).await;
    let eve = engineer(&lab, "eve").await;
    let mallory = engineer(&lab, "mallory").await;
    // A process app runs a command on the server as strata's user: site admins only.
    let r = post_manifest(&lab, &eve, &echo_manifest("echo", "", "")).await;
    expect_error(r, 403, "only site admins").await;
    let r = post_manifest(&lab, &eve, &container_manifest("web", "Web")).await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    // Another engineer may neither change nor remove eve's app, nor turn it into a process app.
    let r = post_manifest(&lab, &mallory, &container_manifest("web", "Mine now")).await;
    expect_error(r, 403, "added by someone else").await;
    let r = post_manifest(&lab, &mallory, &echo_manifest("web", "", "")).await;
    expect_error(r, 403, "only site admins").await;
    let r = client()
        .delete(lab.url("/api/v1/apps/web"))
        .bearer_auth(&mallory)
        .send()
        .await
        .unwrap();
    expect_error(r, 403, "added by someone else").await;
    let list: Value = lab.get(&eve, "/api/v1/apps").await.json().await.unwrap();
    assert_eq!(list[0]["name"], "Web");
    // Eve changes it (200, not 201); so may a site admin.
    let r = post_manifest(&lab, &eve, &container_manifest("web", "Web 2")).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let r = post_manifest(&lab, &lab.steward, &container_manifest("web", "Web 3")).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    // Nor may eve change an admin's app.
    let (s, v) = lab.add(&container_manifest("admins", "Admin's")).await;
    assert_eq!(s, 201, "{v}");
    let r = post_manifest(&lab, &eve, &container_manifest("admins", "Eve's")).await;
    expect_error(r, 403, "added by someone else").await;
    let r = client()
        .delete(lab.url("/api/v1/apps/web"))
        .bearer_auth(&eve)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
}

#[tokio::test]
async fn a_change_of_what_runs_suspends_installs_until_each_owner_consents_again() {
    let lab = Lab::start(|_| {}).await;
    let (s, v) = lab.add(&echo_manifest("echo", "", "")).await;
    assert_eq!(s, 201, "{v}");
    lab.alice_data().await;
    for who in [&lab.alice, &lab.bob] {
        let (s, v) = lab.install(who, "echo", &["dataset:*:read"]).await;
        assert_eq!(s, 200, "{v}");
    }
    let read = format!(
        "/apps/alice/echo/read?{}",
        serde_urlencoded::to_string([("url", lab.url("/api/v1/datasets/alice/data"))]).unwrap()
    );
    let v: Value = lab.get_ready(&lab.alice, &read).await.json().await.unwrap();
    assert_eq!(v["status"], 200, "{v}");
    let env: Value = lab
        .get(&lab.alice, "/apps/alice/echo/env")
        .await
        .json()
        .await
        .unwrap();
    let port: u16 = env["STRATA_PORT"].as_str().unwrap().parse().unwrap();
    let token_file = env["STRATA_TOKEN_FILE"].as_str().unwrap().to_owned();
    let app_token = std::fs::read_to_string(&token_file).unwrap();
    let with_app_token = || {
        client()
            .get(lab.url("/api/v1/datasets/alice/data"))
            .bearer_auth(app_token.trim())
            .send()
    };
    assert_eq!(with_app_token().await.unwrap().status(), 200);

    // A change of name, description and version: nothing to consent to.
    let cosmetic = echo_manifest("echo", "", "")
        .replace("version = \"1\"", "version = \"2\"")
        .replace("Echoes what reaches it", "Echoes everything");
    let (s, v) = lab.add(&cosmetic).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(lab.status(&lab.alice, "echo").await, "running");
    assert_eq!(with_app_token().await.unwrap().status(), 200);
    let change = &audited(&lab, "app.change", "echo").await[0];
    assert_eq!(change["detail"]["needs_consent"], json!([]), "{change}");
    assert_eq!(change["detail"]["suspended_installs"], 0, "{change}");
    assert_eq!(
        change["detail"]["changed"],
        json!(["description", "version"]),
        "{change}"
    );

    // Another environment for the command: every install waits for its owner's consent.
    let (s, v) = lab
        .add(&cosmetic.replace("env = {  }", "env = { ECHO_MODE = \"new\" }"))
        .await;
    assert_eq!(s, 200, "{v}");
    let change = &audited(&lab, "app.change", "echo").await[0];
    assert_eq!(
        change["detail"]["needs_consent"],
        json!(["env"]),
        "{change}"
    );
    assert_eq!(change["detail"]["suspended_installs"], 2, "{change}");
    // The running instance stopped, and its token is refused.
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "the instance still listens"
    );
    assert_eq!(with_app_token().await.unwrap().status(), 401);
    // The status says so, the proxy answers 409 (a page with the way to consent for the owner's
    // browser), and nothing starts.
    let v: Value = lab
        .get(&lab.alice, "/api/v1/user/apps/echo")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["status"], "needs consent", "{v}");
    assert_eq!(v["needs_consent"], true, "{v}");
    let r = lab.get(&lab.alice, "/apps/alice/echo/health").await;
    expect_error(r, 409, "consent").await;
    let (cookie, _) = session_of(&lab, "alice").await;
    let r = client()
        .get(lab.url("/apps/alice/echo/health"))
        .header("cookie", &cookie)
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409);
    let page = r.text().await.unwrap();
    assert!(
        page.contains(&format!("href=\"{}/app-catalog/echo\"", lab.server.url)),
        "{page}"
    );
    assert_eq!(lab.starts("alice", "echo"), 1);
    let apps_page = lab.page(&cookie, "/apps").await;
    assert!(apps_page.contains("needs consent"), "{apps_page}");
    assert!(
        apps_page.contains("href=\"/app-catalog/echo\""),
        "{apps_page}"
    );
    let consent_page = lab.page(&cookie, "/app-catalog/echo").await;
    assert!(
        consent_page.contains("id=\"needs-consent\""),
        "{consent_page}"
    );
    assert!(consent_page.contains("Consent again"), "{consent_page}");

    // alice consents again: her app starts anew with the new manifest; bob's still waits.
    let (s, v) = lab.install(&lab.alice, "echo", &["dataset:*:read"]).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["needs_consent"], false, "{v}");
    let v: Value = lab.get_ready(&lab.alice, &read).await.json().await.unwrap();
    assert_eq!(v["status"], 200, "{v}");
    assert_eq!(lab.starts("alice", "echo"), 2);
    let r = lab.get(&lab.bob, "/apps/bob/echo/health").await;
    expect_error(r, 409, "consent").await;
    let renewed = &audited(&lab, "app.install", "echo").await[0];
    assert_eq!(renewed["detail"]["renewed_consent"], true, "{renewed}");
}
