//! Sign-in through another strata as the identity provider, in headless Chromium: alice has an
//! account on the provider (a real OpenID provider: discovery, consent, id tokens with `groups`),
//! signs in to the relying strata through it and lands with the role her team maps to; once the
//! provider drops her from the team, her next sign-in gives her the default role instead.

use serde_json::{json, Value};

use crate::common::chromium::*;
use crate::common::*;

const PASSWORD: &str = "provider password";

fn providers(idp: &str, client_id: &str, secret_file: &std::path::Path) -> String {
    format!(
        r#"
[[provider]]
id = "hq"
name = "Strata HQ"
issuer = "{idp}"
client_id = "{client_id}"
client_secret_file = "{}"
scopes = ["profile", "email", "groups"]
default_role = "viewer"

[[provider.rule]]
group = "acme/analysts"
role = "engineer"
"#,
        secret_file.display()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_through_another_strata_in_chromium() {
    // The provider: alice, in acme's analysts team.
    let idp = TestServer::start().await;
    let pat = idp.user("alice").await;
    strata::cli::admin::set_password(&idp.state, "alice", PASSWORD)
        .await
        .unwrap();
    let alice = idp.state.db.user_by_name("alice").await.unwrap().unwrap();
    let acme = idp.state.db.create_org("acme", alice.id).await.unwrap();
    let team = idp.state.db.create_team(acme.id, "analysts").await.unwrap();
    idp.state.db.add_team_member(team, alice.id).await.unwrap();

    // The relying strata, with no provider yet: the file fills in once the client exists.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("providers.toml");
    std::fs::write(&file, "").unwrap();
    let path = file.clone();
    let rp = TestServer::start_with(Backend::Local, move |c| c.oidc_config = Some(path)).await;
    let r = client()
        .post(format!("{}/api/v1/oauth/clients", idp.url))
        .bearer_auth(&pat)
        .json(&json!({
            "name": "Relying strata",
            "redirect_uris": [format!("{}/login/sso/hq/callback", rp.url)],
            "confidential": true,
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let registered: Value = r.json().await.unwrap();
    let secret = dir.path().join("hq-secret");
    std::fs::write(&secret, registered["client_secret"].as_str().unwrap()).unwrap();
    let client_id = registered["client_id"].as_str().unwrap();
    std::fs::write(&file, providers(&idp.url, client_id, &secret)).unwrap();

    let driver = tokio::task::spawn_blocking(Driver::start).await.unwrap();
    let c = browser(&driver, &rp.dir.path().join("profile")).await;
    c.set_window_size(1200, 900).await.unwrap();
    let sign_in = |c: fantoccini::Client, first: bool| {
        let rp_url = rp.url.clone();
        async move {
            c.goto(&format!("{rp_url}/login")).await.unwrap();
            if first {
                screenshot(&c, "sso-login").await;
            }
            click(&c, "form[action=\"/login/sso/hq\"] button").await;
            // At the provider: its own login, then its consent page. (Both servers are on
            // 127.0.0.1, where cookies ignore the port: signing out here signs out there too.)
            if text(&c).await.contains("Password") {
                fill(&c, "username", "alice").await;
                fill(&c, "password", PASSWORD).await;
                click(&c, "form[action=\"/login\"] button").await;
            }
            // The consent page the first time; remembered after that, so not asked again.
            if first {
                // The login form's answer moves on to the consent page by itself.
                wait_until(
                    &c,
                    "document.body && document.body.innerText.includes('Relying strata')",
                    "document.body.innerText",
                )
                .await;
                click(&c, "button[name=\"decision\"][value=\"allow\"]").await;
            }
            // Signed in, the home page; the identity shows on Settings.
            wait_until(
                &c,
                &format!("location.href === '{rp_url}/'"),
                "location.href",
            )
            .await;
            c.goto(&format!("{rp_url}/settings")).await.unwrap();
            c
        }
    };
    let c = sign_in(c, true).await;
    assert!(text(&c).await.contains("Signed in as alice"));
    assert!(text(&c).await.contains("Strata HQ"));
    c.goto(&format!("{}/settings#sign-in", rp.url))
        .await
        .unwrap();
    screenshot(&c, "sso-settings").await;
    let role = |name: &'static str| {
        let db = rp.state.db.clone();
        async move {
            let user = db.user_by_name(name).await.unwrap().unwrap();
            user.role.as_str().to_owned()
        }
    };
    assert_eq!(role("alice").await, "engineer");

    // The provider drops alice from the team; she signs out here and in again.
    idp.state
        .db
        .remove_team_member(team, alice.id)
        .await
        .unwrap();
    click(&c, "form[action=\"/logout\"] button").await;
    let c = sign_in(c, false).await;
    assert!(text(&c).await.contains("Signed in as alice"));
    assert_eq!(role("alice").await, "viewer");
    c.close().await.unwrap();
}
