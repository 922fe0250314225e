//! Default apps (Columbus): a site admin names them; every account, new ones too, is offered each
//! once with the scopes it asks for, on the home page and over REST, and nothing is installed
//! until the user says so. Installing from the offer is the consent; declining ends the offer (the
//! app stays installable). An app the user's role may not install is not offered; an app no
//! longer default is not offered either. Only site admins name them.

use serde_json::{json, Value};

use super::*;
use crate::common::*;

const PASSWORD: &str = "default apps password";

async fn offers(lab: &Lab, token: &str) -> Vec<String> {
    let v: Value = lab
        .get(token, "/api/v1/user/app-offers")
        .await
        .json()
        .await
        .unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap().to_owned())
        .collect()
}

async fn set_default(lab: &Lab, token: &str, app: &str, on: bool) -> u16 {
    client()
        .put(lab.url(&format!("/api/v1/apps/{app}/default")))
        .bearer_auth(token)
        .json(&json!({ "default": on }))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn default_apps_are_offered_once_with_their_scopes_and_never_installed_unasked() {
    let lab = Lab::start(|_| {}).await;
    let (s, v) = lab.add(&echo_manifest("echo", "", "")).await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(set_default(&lab, &lab.alice, "echo", true).await, 403);
    assert_eq!(set_default(&lab, &lab.steward, "nothing", true).await, 404);
    assert_eq!(set_default(&lab, &lab.steward, "echo", true).await, 204);

    // alice is offered it, with its scopes; nothing is installed.
    let v: Value = lab
        .get(&lab.alice, "/api/v1/user/app-offers")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v[0]["id"], "echo", "{v}");
    assert_eq!(v[0]["scopes"], json!(["dataset:*:read"]), "{v}");
    let mine: Value = lab
        .get(&lab.alice, "/api/v1/user/apps")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(mine, json!([]), "never installed unasked");

    // The home page shows the offer and its scopes; installing from it is her consent.
    strata::cli::admin::set_password(&lab.server.state, "alice", PASSWORD)
        .await
        .unwrap();
    let session = browser_session(&lab.server.url, "alice", PASSWORD).await;
    let home = |cookie: String| {
        let url = lab.url("/");
        async move {
            client()
                .get(url)
                .header("cookie", cookie)
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
        }
    };
    let page = home(session.0.clone()).await;
    assert!(page.contains("Apps for you"), "{page}");
    assert!(page.contains("dataset:*:read"), "{page}");
    assert!(page.contains("/app-catalog/echo/install"), "{page}");
    let form = [("csrf", session.1.as_str()), ("scopes", "dataset:*:read")];
    let r = client()
        .post(lab.url("/app-catalog/echo/install"))
        .header("cookie", &session.0)
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(lab.status(&lab.alice, "echo").await, "stopped");
    assert!(offers(&lab, &lab.alice).await.is_empty());
    assert!(!home(session.0.clone()).await.contains("Apps for you"));
    // Without the CSRF token, nothing.
    let r = client()
        .post(lab.url("/app-catalog/echo/decline"))
        .header("cookie", &session.0)
        .form(&[("csrf", "wrong")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);

    // bob declines: not offered again, still installable.
    let decline = |token: String| {
        let url = lab.url("/api/v1/user/app-offers/echo/decline");
        async move {
            client()
                .post(url)
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(decline(lab.bob.clone()).await, 204);
    assert_eq!(decline(lab.bob.clone()).await, 404);
    assert!(offers(&lab, &lab.bob).await.is_empty());
    let (s, v) = lab.install(&lab.bob, "echo", &["dataset:*:read"]).await;
    assert!((200..300).contains(&s), "{v}");

    // An account made afterwards is offered it too; not an app its role may not install.
    let carol = lab.server.user("carol").await;
    let admins_only = "[roles]\ninstall = [\"admin\"]\n";
    let (s, v) = lab.add(&echo_manifest("admins", admins_only, "")).await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(set_default(&lab, &lab.steward, "admins", true).await, 204);
    assert_eq!(offers(&lab, &carol).await, ["echo"]);
    assert!(offers(&lab, &lab.steward)
        .await
        .contains(&"admins".to_owned()));
    // No longer a default app: no longer offered.
    assert_eq!(set_default(&lab, &lab.steward, "echo", false).await, 204);
    assert!(offers(&lab, &carol).await.is_empty());
}
