//! Remembered OAuth consents: a user who allowed a client is not asked again for those scopes
//! (a narrower request neither), is asked again for a wider one or when the client says
//! `prompt=consent`; `prompt=none` never shows a page. Taking the access back in Settings stops
//! the client's tokens at once and brings the page back. Hostile: without the CSRF token, a
//! client nobody allowed, another user's settings.

use super::oauth::{challenge, code_of, consent, register, setup, token, PASSWORD, REDIRECT};
use crate::common::*;

/// A `GET /oauth/authorize` with `scope` (and `extra`) in `session`.
async fn ask(
    url: &str,
    session: Option<&(String, String)>,
    id: &str,
    scope: &str,
    extra: &[(&str, &str)],
) -> reqwest::Response {
    let ch = challenge(&"v".repeat(50));
    let mut q = vec![
        ("response_type", "code"),
        ("client_id", id),
        ("redirect_uri", REDIRECT),
        ("scope", scope),
        ("code_challenge", ch.as_str()),
        ("code_challenge_method", "S256"),
        ("state", "st"),
    ];
    q.extend_from_slice(extra);
    let query = serde_urlencoded::to_string(&q).unwrap();
    let mut req = client().get(format!("{url}/oauth/authorize?{query}"));
    if let Some(s) = session {
        req = req.header("cookie", &s.0);
    }
    req.send().await.unwrap()
}

fn location(r: &reqwest::Response) -> String {
    r.headers()["location"].to_str().unwrap().to_owned()
}

#[tokio::test]
async fn consents_are_remembered_until_taken_back() {
    let s = setup().await;
    let url = s.server.url.as_str();
    // A confidential client (a server keeping a secret, as JupyterHub is): its identity is
    // proven, so its consents are remembered.
    let c = register(&s, true).await;
    let id = c["client_id"].as_str().unwrap();
    let secret = c["client_secret"].as_str().unwrap();
    let session = browser_session(url, "alice", PASSWORD).await;
    let verifier = "v".repeat(50);
    let verifier = verifier.as_str();
    let redeem = |code: String| async move {
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
            ("client_id", id),
            ("client_secret", secret),
            ("code_verifier", verifier),
        ];
        let (status, v) = token(url, &form).await;
        assert_eq!(status, 200, "{v}");
        v
    };
    let scope = "openid dataset:alice/a:read";

    // The first time: the page, which says the answer is remembered.
    let r = ask(url, Some(&session), id, scope, &[]).await;
    assert_eq!(r.status(), 200);
    let page = r.text().await.unwrap();
    assert!(page.contains("Your answer is remembered"), "{page}");
    let ch = challenge(verifier);
    let params = [
        ("response_type", "code"),
        ("client_id", id),
        ("redirect_uri", REDIRECT),
        ("scope", scope),
        ("code_challenge", ch.as_str()),
        ("code_challenge_method", "S256"),
        ("state", "st"),
    ];
    let r = consent(url, &session, &params, None).await;
    assert_eq!(r.status(), 303);
    let first = redeem(code_of(&location(&r))).await;
    let access = first["access_token"].as_str().unwrap().to_owned();
    let reads = |token: String| async move {
        client()
            .get(format!("{url}/api/v1/datasets/alice/a"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(reads(access.clone()).await, 200);

    // Again, and narrower: straight back to the client with a code and the state.
    for asked in [scope, "openid"] {
        let r = ask(url, Some(&session), id, asked, &[]).await;
        assert_eq!(r.status(), 303, "{asked}");
        let to = location(&r);
        assert!(to.starts_with(REDIRECT) && to.contains("state=st"), "{to}");
        let again = redeem(code_of(&to)).await;
        assert!(again["access_token"].is_string());
    }
    // Wider, or the client asks for the page: the page.
    let wider = "openid dataset:alice/a:read dataset:alice/b:read";
    assert_eq!(ask(url, Some(&session), id, wider, &[]).await.status(), 200);
    for asks in [
        &[("prompt", "consent")][..],
        &[("prompt", "login consent")],
        &[("prompt", "select_account")],
        &[("max_age", "60")],
    ] {
        let r = ask(url, Some(&session), id, scope, asks).await;
        assert_eq!(r.status(), 200, "{asks:?}");
    }
    let r = ask(
        url,
        Some(&session),
        id,
        scope,
        &[("prompt", "none consent")],
    )
    .await;
    assert!(
        location(&r).contains("error=invalid_request"),
        "{}",
        location(&r)
    );
    // prompt=none: never a page; what is missing goes back to the client.
    let r = ask(url, Some(&session), id, wider, &[("prompt", "none")]).await;
    assert_eq!(r.status(), 303);
    assert!(
        location(&r).contains("error=consent_required"),
        "{}",
        location(&r)
    );
    let r = ask(url, None, id, scope, &[("prompt", "none")]).await;
    assert_eq!(r.status(), 303);
    assert!(
        location(&r).contains("error=login_required"),
        "{}",
        location(&r)
    );
    let r = ask(url, Some(&session), id, scope, &[("prompt", "none")]).await;
    assert!(location(&r).contains("code="), "{}", location(&r));

    // The platform role, for apps that map it: in the id token and userinfo with `roles` (or
    // `profile`), not without.
    let with_roles = "openid roles";
    let params = [
        ("response_type", "code"),
        ("client_id", id),
        ("redirect_uri", REDIRECT),
        ("scope", with_roles),
        ("code_challenge", ch.as_str()),
        ("code_challenge_method", "S256"),
    ];
    let r = consent(url, &session, &params, None).await;
    let tokens = redeem(code_of(&location(&r))).await;
    let claims = |jwt: &str| -> serde_json::Value {
        use base64::Engine;
        let payload = jwt.split('.').nth(1).unwrap();
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap();
        serde_json::from_slice(&bytes).unwrap()
    };
    let alice = s
        .server
        .state
        .db
        .user_by_name("alice")
        .await
        .unwrap()
        .unwrap();
    let id_token = claims(tokens["id_token"].as_str().unwrap());
    assert_eq!(
        id_token["roles"],
        serde_json::json!(alice.roles()),
        "{id_token}"
    );
    let info: serde_json::Value = client()
        .get(format!("{url}/oauth/userinfo"))
        .bearer_auth(tokens["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["roles"], serde_json::json!(alice.roles()), "{info}");
    assert!(claims(first["id_token"].as_str().unwrap())["roles"].is_null());

    // A public client answering on a loopback port could be anything running on this machine
    // (RFC 8252 §8.6): asked every time, whatever was allowed before.
    let public = register(&s, false).await;
    let public_id = public["client_id"].as_str().unwrap();
    let params = [
        ("response_type", "code"),
        ("client_id", public_id),
        ("redirect_uri", REDIRECT),
        ("scope", scope),
        ("code_challenge", ch.as_str()),
        ("code_challenge_method", "S256"),
    ];
    assert_eq!(consent(url, &session, &params, None).await.status(), 303);
    assert_eq!(
        ask(url, Some(&session), public_id, scope, &[])
            .await
            .status(),
        200
    );
    let r = ask(url, Some(&session), public_id, scope, &[("prompt", "none")]).await;
    assert!(
        location(&r).contains("error=consent_required"),
        "{}",
        location(&r)
    );

    // Listed in Settings, for alice only.
    let settings = |cookie: String| async move {
        client()
            .get(format!("{url}/settings"))
            .header("cookie", cookie)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    let page = settings(session.0.clone()).await;
    let listed = page
        .split("id=\"consents\"")
        .nth(1)
        .unwrap_or_else(|| panic!("{page}"));
    assert!(listed.contains("Notebook") && listed.contains("dataset:alice/a:read"));
    s.server.user("bob").await;
    strata::cli::admin::set_password(&s.server.state, "bob", PASSWORD)
        .await
        .unwrap();
    let bob = browser_session(url, "bob", PASSWORD).await;
    assert!(!settings(bob.0.clone()).await.contains("id=\"consents\""));

    // Hostile: without the CSRF token; bob taking back alice's; a client nobody allowed.
    let take_back = |session: (String, String), client_id: String, csrf: Option<String>| async move {
        let mut form = vec![("client_id", client_id)];
        if let Some(c) = csrf {
            form.push(("csrf", c));
        }
        client()
            .post(format!("{url}/settings/consents/revoke"))
            .header("cookie", session.0)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(serde_urlencoded::to_string(&form).unwrap())
            .send()
            .await
            .unwrap()
    };
    let r = take_back(session.clone(), id.to_owned(), None).await;
    assert_eq!(r.status(), 403);
    let r = take_back(bob.clone(), id.to_owned(), Some(bob.1.clone())).await;
    assert_eq!(r.status(), 404);
    let r = take_back(session.clone(), "nobody".into(), Some(session.1.clone())).await;
    assert_eq!(r.status(), 404);
    assert_eq!(
        reads(access.clone()).await,
        200,
        "nothing was taken back yet"
    );

    // alice takes it back: its tokens stop at once, the refresh token too, and it asks again.
    let r = take_back(session.clone(), id.to_owned(), Some(session.1.clone())).await;
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("Access taken back"));
    assert_eq!(reads(access).await, 401);
    let refresh = [
        ("grant_type", "refresh_token"),
        ("refresh_token", first["refresh_token"].as_str().unwrap()),
        ("client_id", id),
        ("client_secret", secret),
    ];
    assert_eq!(token(url, &refresh).await.0, 400);
    assert_eq!(ask(url, Some(&session), id, scope, &[]).await.status(), 200);
    let page = settings(session.0.clone()).await;
    let listed = page
        .split("id=\"consents\"")
        .nth(1)
        .unwrap_or_else(|| panic!("{page}"));
    let listed = listed.split("</table>").next().unwrap();
    assert!(
        !listed.contains(id) && listed.contains(public_id),
        "{listed}"
    );
}
