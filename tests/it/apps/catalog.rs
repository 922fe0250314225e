//! The catalog and installs: manifests from admins and engineers (bad ones say why; `*` and
//! `admin` refused), consent to exactly an app's scopes, uninstall, removal; apps off unless the
//! admin says where; "open with" through the read gate.

use serde_json::{json, Value};

use super::*;
use crate::common::*;

#[tokio::test]
async fn the_catalog_takes_manifests_from_engineers_and_installs_need_consent() {
    let lab = Lab::start(|_| {}).await;
    // Only admins and engineers add apps; bad manifests say why.
    let r = client()
        .post(lab.url("/api/v1/apps"))
        .bearer_auth(&lab.alice)
        .body(echo_manifest("echo", "", ""))
        .send()
        .await
        .unwrap();
    expect_error(r, 403, "admins and engineers").await;
    let (s, v) = lab
        .add(&echo_manifest("x", "", "").replace("id = \"x\"", "id = \"Bad Id\""))
        .await;
    assert_eq!(s, 422, "{v}");
    assert!(v["message"].as_str().unwrap().contains("id"), "{v}");
    let (s, v) = lab
        .add(&echo_manifest("greedy", "", "").replace("dataset:*:read", "*"))
        .await;
    assert_eq!(s, 422, "{v}");
    assert!(v["message"]
        .as_str()
        .unwrap()
        .contains("all of the user's rights"));
    let (s, v) = lab
        .add(&echo_manifest("sneaky", "", "").replace("dataset:*:read", "dataset:*:read,admin"))
        .await;
    assert_eq!(s, 422, "{v}");
    let (s, v) = lab.add(&echo_manifest("echo", "", "")).await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["scopes"], json!(["dataset:*:read"]));
    let list: Value = lab
        .get(&lab.bob, "/api/v1/apps")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list[0]["id"], "echo");
    assert_eq!(list[0]["source"], "api");
    let r = client().get(lab.url("/api/v1/apps")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    // Consent is to exactly what the app asks for.
    let (s, v) = lab.install(&lab.alice, "echo", &[]).await;
    assert_eq!(s, 422, "{v}");
    assert_eq!(v["scopes"], json!(["dataset:*:read"]));
    let (s, v) = lab
        .install(&lab.alice, "echo", &["dataset:*:read", "dataset:*:write"])
        .await;
    assert_eq!(s, 422, "{v}");
    let (s, v) = lab.install(&lab.alice, "nope", &[]).await;
    assert_eq!(s, 404, "{v}");
    let (s, v) = lab.install(&lab.alice, "echo", &["dataset:*:read"]).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["status"], "stopped");
    assert_eq!(
        v["url"],
        format!("{}/apps/alice/echo/", lab.server.url).as_str()
    );
    // Uninstall, then again: 404. The admin removes the app from the catalog.
    let r = client()
        .delete(lab.url("/api/v1/user/apps/echo"))
        .bearer_auth(&lab.alice)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let r = client()
        .delete(lab.url("/api/v1/user/apps/echo"))
        .bearer_auth(&lab.alice)
        .send()
        .await
        .unwrap();
    expect_error(r, 404, "not installed").await;
    let r = client()
        .delete(lab.url("/api/v1/apps/echo"))
        .bearer_auth(&lab.steward)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let (s, _) = lab.install(&lab.alice, "echo", &["dataset:*:read"]).await;
    assert_eq!(s, 404);
}

#[tokio::test]
async fn open_with_goes_through_the_read_gate_and_the_app_reads_the_file_with_its_token() {
    let lab = Lab::start(|_| {}).await;
    lab.add(&echo_manifest("echo", "", "")).await;
    lab.install(&lab.alice, "echo", &["dataset:*:read"]).await;
    lab.install(&lab.bob, "echo", &["dataset:*:read"]).await;
    lab.alice_data().await;
    let (cookie, _) = session_of(&lab, "alice").await;
    let page = lab.page(&cookie, "/datasets/alice/data/files/x.csv").await;
    assert!(page.contains("Open with Echo echo"), "{page}");
    let r = client()
        .get(lab.url("/app-catalog/echo/open?dataset=alice%2Fdata&path=x.csv"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let to = r.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        to.starts_with(&lab.url("/apps/alice/echo/open?file=")),
        "{to}"
    );
    let v: Value = lab
        .get_ready(&lab.alice, to.strip_prefix(&lab.server.url).unwrap())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["status"], 200, "{v}");
    assert_eq!(v["body"], "a,b\n1,2\n");
    // bob may not read alice's private file: no link for him.
    let (bob_cookie, _) = session_of(&lab, "bob").await;
    let r = client()
        .get(lab.url("/app-catalog/echo/open?dataset=alice%2Fdata&path=x.csv"))
        .header("cookie", &bob_cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn apps_are_off_unless_the_admin_says_where() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    let r = client()
        .get(format!("{}/apps/alice/echo/", server.url))
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap();
    expect_error(r, 404, "--apps-origin").await;
    // Both at once, a bad origin, or strata's own origin as the apps origin: refused at start.
    for (origin, same, words) in [
        (Some("http://apps.example"), true, "exclude each other"),
        (Some("ftp://apps.example"), false, "must be an origin"),
        (Some("http://apps.example/path"), false, "must be an origin"),
        (Some("http://apps.*.example"), false, "must be an origin"),
    ] {
        let mut config =
            strata_core::config::Config::with_data_dir(server.dir.path().join("other"));
        config.apps_origin = origin.map(str::to_owned);
        config.apps_same_origin = same;
        let e = strata::AppState::build(&config).await.err().unwrap();
        assert!(e.to_string().contains(words), "{e}");
    }
}
