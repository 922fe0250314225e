//! The protocol's hostile cases: id tokens, states, provider answers, starts, key rotation;
//! `--password-login off`; GitHub.

use serde_json::json;
use sha2::Digest;
use strata_core::config::{Signup, Switch};

use super::PASSWORD;
use super::*;
use crate::common::idp::{self, Idp};
use crate::common::*;

/// A way to make a bad id token for a started sign-in.
type Forge<'a> = Box<dyn Fn(&Started) -> String + 'a>;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_and_misaddressed_id_tokens_are_refused() {
    let idp = Idp::start().await;
    let (rp, _, _dir) = relying_party(&idp, RULES, Signup::Admin).await;
    let url = rp.url.as_str();
    let forger = idp::keys(&idp.url);
    let cases: Vec<(&str, Forge<'_>)> = vec![
        (
            "signed by a key the provider never published",
            Box::new(|s| {
                forger
                    .sign(&claims(&idp, s, "c-1", "carol", json!({})))
                    .unwrap()
            }),
        ),
        (
            "another audience",
            Box::new(|s| idp.sign(&claims(&idp, s, "c-1", "carol", json!({"aud": "other"})))),
        ),
        (
            "another issuer",
            Box::new(|s| {
                idp.sign(&claims(
                    &idp,
                    s,
                    "c-1",
                    "carol",
                    json!({"iss": "http://evil.test"}),
                ))
            }),
        ),
        (
            "expired",
            Box::new(|s| {
                let old = time_now() - 3600;
                idp.sign(&claims(
                    &idp,
                    s,
                    "c-1",
                    "carol",
                    json!({"iat": old, "exp": old + 60}),
                ))
            }),
        ),
        (
            "no nonce",
            Box::new(|s| idp.sign(&claims(&idp, s, "c-1", "carol", json!({"nonce": null})))),
        ),
        (
            "another sign-in's nonce",
            Box::new(|s| idp.sign(&claims(&idp, s, "c-1", "carol", json!({"nonce": "n-0"})))),
        ),
        (
            "unsigned (alg none)",
            Box::new(|s| {
                use base64::Engine;
                let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
                let body = claims(&idp, s, "c-1", "carol", json!({}));
                format!(
                    "{}.{}.",
                    b64.encode(r#"{"alg":"none","typ":"JWT"}"#),
                    b64.encode(body.to_string())
                )
            }),
        ),
        (
            "signature of another token",
            Box::new(|s| {
                let good = idp.sign(&claims(&idp, s, "c-1", "carol", json!({})));
                let evil = idp.sign(&claims(
                    &idp,
                    s,
                    "c-1",
                    "carol",
                    json!({"groups": ["admins"]}),
                ));
                let (head_body, _) = evil.rsplit_once('.').unwrap();
                format!("{head_body}.{}", good.rsplit_once('.').unwrap().1)
            }),
        ),
    ];
    for (why, make) in &cases {
        let r = sign_in(url, &idp, |s| make(s)).await;
        refused(r, 401, "id token was refused").await;
        assert!(
            rp.state.db.user_by_name("carol").await.unwrap().is_none(),
            "{why}"
        );
    }

    // A good token: carol is made, signed in, and sent where she was going.
    let s = start(url, "corp").await;
    idp.answer_with(&idp.sign(&claims(&idp, &s, "c-1", "carol", json!({}))));
    let ok = back(
        url,
        "corp",
        &[("code", "c"), ("state", &s.state)],
        &s.cookie,
    )
    .await;
    assert_eq!(ok.status(), 303);
    assert_eq!(ok.headers()["location"], "/shared");
    let session = set_cookie(&ok, "strata_session").unwrap();
    assert_eq!(whoami(url, &session).await, "carol");
    // The code went back with the PKCE verifier of the challenge, and the client's secret.
    let form = idp
        .state
        .lock()
        .unwrap()
        .token_forms
        .last()
        .unwrap()
        .clone();
    let verifier = form.iter().find(|(k, _)| k == "code_verifier").unwrap();
    use base64::Engine;
    let computed = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(sha2::Sha256::digest(verifier.1.as_bytes()));
    assert_eq!(computed, s.challenge);

    // The same answer again: the state is used up.
    idp.answer_with(&idp.sign(&claims(&idp, &s, "c-1", "carol", json!({}))));
    let again = back(
        url,
        "corp",
        &[("code", "c"), ("state", &s.state)],
        &s.cookie,
    )
    .await;
    refused(again, 400, "used already or has expired").await;

    // A state from another browser's sign-in (the victim's cookie, the attacker's state), and no
    // cookie at all: refused, without spending the state (whoever sees a state cannot make its
    // owner's sign-in fail).
    let victim = start(url, "corp").await;
    let attacker = start(url, "corp").await;
    let r = back(
        url,
        "corp",
        &[("code", "c"), ("state", &attacker.state)],
        &victim.cookie,
    )
    .await;
    refused(r, 400, "not started in this browser").await;
    let r = back(url, "corp", &[("code", "c"), ("state", &victim.state)], "").await;
    refused(r, 400, "not started in this browser").await;
    idp.answer_with(&idp.sign(&claims(&idp, &attacker, "c-1", "carol", json!({}))));
    let r = back(
        url,
        "corp",
        &[("code", "c"), ("state", &attacker.state)],
        &attacker.cookie,
    )
    .await;
    assert_eq!(r.status(), 303);
    // A state for one provider answered on another's callback.
    let s = start(url, "corp").await;
    let r = back(url, "gh", &[("code", "c"), ("state", &s.state)], &s.cookie).await;
    refused(r, 400, "used already").await;

    // The provider says no; a missing code; an unknown provider.
    let s = start(url, "corp").await;
    let q = [
        ("state", s.state.as_str()),
        ("error", "access_denied"),
        ("error_description", "<script>alert(1)</script>"),
    ];
    let r = back(url, "corp", &q, &s.cookie).await;
    assert_eq!(r.status(), 403);
    let html = r.text().await.unwrap();
    assert!(html.contains("access_denied") && !html.contains("<script>alert"));
    let s = start(url, "corp").await;
    refused(
        back(url, "corp", &[("state", &s.state)], &s.cookie).await,
        400,
        "no code",
    )
    .await;
    assert_eq!(press(url, "nope").await.status(), 404);
    assert_eq!(press(url, "..%2F..%2Fetc").await.status(), 404);
    // A sign-in starts only from the login page's form: not by a link another site sends, and
    // not without the page's token.
    let r = client()
        .get(format!("{url}/login/sso/corp"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    let r = client()
        .post(format!("{url}/login/sso/corp"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("csrf=abc")
        .send()
        .await
        .unwrap();
    assert!(set_cookie(&r, "strata_sso").is_none());
    refused(r, 403, "This form has expired").await;

    // The provider rotates its key: the new one is fetched once and the sign-in goes through.
    let rotated = idp::keys(&idp.url);
    idp.state.lock().unwrap().published = vec![rotated.clone()];
    let r = sign_in(url, &idp, |s| {
        rotated
            .sign(&claims(&idp, s, "c-1", "carol", json!({})))
            .unwrap()
    })
    .await;
    assert_eq!(r.status(), 303);
    // A provider that cannot be reached: 502 with what failed, and no sign-in started.
    let r = press(url, "down").await;
    assert!(set_cookie(&r, "strata_sso").is_none());
    refused(r, 502, "discovery failed").await;

    // Starting sign-ins is limited per address: each leaves a row behind for ten minutes.
    let mut last = 0;
    // (The window is the clock's minute: 130 presses exceed 60 in one of at most two windows.)
    for _ in 0..130 {
        last = press(url, "corp").await.status().as_u16();
        if last == 429 {
            break;
        }
    }
    assert_eq!(last, 429);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_login_off_leaves_the_providers_and_tokens() {
    let idp = Idp::start().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("providers.toml");
    std::fs::write(&file, config(&idp, dir.path(), RULES)).unwrap();
    let path = file.clone();
    let rp = TestServer::start_with(Backend::Local, move |c| {
        c.oidc_config = Some(path);
        c.password_login = Switch::Off;
        c.signup = Signup::Open;
    })
    .await;
    let url = rp.url.as_str();
    let pat = rp.user("frank").await;
    strata::cli::admin::set_password(&rp.state, "frank", PASSWORD)
        .await
        .unwrap();
    let page = client().get(format!("{url}/login")).send().await.unwrap();
    let form_cookie = set_cookie(&page, "strata_form").unwrap();
    let html = page.text().await.unwrap();
    assert!(html.contains("Sign in with Corp ID") && html.contains("Sign in with GitHub"));
    assert!(!html.contains("type=\"password\""));
    // The right password is refused all the same.
    let token = &form_cookie["strata_form=".len()..];
    let r = client()
        .post(format!("{url}/login"))
        .header("cookie", &form_cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("csrf={token}&username=frank&password={PASSWORD}"))
        .send()
        .await
        .unwrap();
    refused(r, 403, "Password sign-in is turned off").await;
    let r = client().get(format!("{url}/signup")).send().await.unwrap();
    assert_eq!(r.status(), 403);
    // Tokens keep working.
    let r = client()
        .get(format!("{url}/api/v1/datasets"))
        .bearer_auth(&pat)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // And a server with passwords off and no provider would lock everyone out: it won't start.
    let mut config = strata_core::config::Config::with_data_dir(dir.path().join("other"));
    config.password_login = Switch::Off;
    config.database_url = Some(
        format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("other.db").display()
        )
        .into(),
    );
    let err = strata::AppState::build(&config)
        .await
        .err()
        .expect("refused");
    assert!(err.to_string().contains("--password-login off"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn github_sign_in_maps_teams() {
    let idp = Idp::start().await;
    let (rp, _, _dir) = relying_party(&idp, RULES, Signup::Admin).await;
    let url = rp.url.as_str();
    idp.state.lock().unwrap().github = json!({
        "user": {"id": 4242, "login": "Octo-Cat"},
        "emails": [{"email": "octo@example.com", "primary": true, "verified": true}],
        "orgs": [{"login": "acme"}],
        "teams": [{"slug": "data", "organization": {"login": "acme"}}],
    });
    let s = start(url, "gh").await;
    assert!(
        s.location.starts_with(&format!("{}/authorize?", idp.url)),
        "{}",
        s.location
    );
    let q = query_of(&s.location);
    assert!(param(&q, "scope").contains("read:org"));
    assert!(!param(&q, "scope").contains("openid"));
    let cookie = s.cookie;
    idp.state.lock().unwrap().answer = Some(json!({
        "access_token": "gho_test", "token_type": "bearer", "scope": "read:user,user:email,read:org",
    }));
    let state = param(&q, "state").to_owned();
    let r = back(url, "gh", &[("code", "c"), ("state", &state)], &cookie).await;
    assert_eq!(r.status(), 303);
    let session = set_cookie(&r, "strata_session").unwrap();
    assert_eq!(whoami(url, &session).await, "octo-cat");
    assert_eq!(role(&rp, "octo-cat").await, "engineer");
    let user = rp.state.db.user_by_name("octo-cat").await.unwrap().unwrap();
    assert_eq!(user.email.as_deref(), Some("octo@example.com"));
    let identity = rp
        .state
        .db
        .identity(&format!("github:{}/api", idp.url), "4242")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(identity.user_id, user.id);
}
