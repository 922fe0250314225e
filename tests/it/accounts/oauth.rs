//! The OAuth 2.0 / OpenID Connect provider: the whole flow with Authlib (tests/it/oauth_client.py),
//! and the hostile cases: open redirects, code replay, PKCE mismatch, expired codes, CSRF on the
//! consent form, tokens for one dataset used on another, client credentials, revocation and
//! introspection, and the browser upload token.

use crate::common::*;
use serde_json::{json, Value};

pub(super) const PASSWORD: &str = "oauth test password";
pub(super) const REDIRECT: &str = "http://127.0.0.1/callback";

pub(super) struct Setup {
    pub(super) server: TestServer,
    pub(super) pat: String,
}

pub(super) async fn setup() -> Setup {
    let server = TestServer::start().await;
    let pat = server.user("alice").await;
    strata::cli::admin::set_password(&server.state, "alice", PASSWORD)
        .await
        .unwrap();
    for name in ["a", "b"] {
        let r = client()
            .post(format!("{}/api/v1/datasets", server.url))
            .bearer_auth(&pat)
            .json(&json!({"namespace": "alice", "name": name}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
    }
    Setup { server, pat }
}

pub(super) async fn register(s: &Setup, confidential: bool) -> Value {
    let r = client()
        .post(format!("{}/api/v1/oauth/clients", s.server.url))
        .bearer_auth(&s.pat)
        .json(
            &json!({"name": "Notebook", "redirect_uris": [REDIRECT], "confidential": confidential}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    r.json().await.unwrap()
}

/// The PKCE challenge of a verifier.
pub(super) fn challenge(verifier: &str) -> String {
    use base64::Engine;
    use sha2::Digest;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(sha2::Sha256::digest(verifier.as_bytes()))
}

/// Runs the consent with `params`; returns the redirect `Location`.
pub(super) async fn consent(
    url: &str,
    session: &(String, String),
    params: &[(&str, &str)],
    csrf: Option<&str>,
) -> reqwest::Response {
    let mut form: Vec<(&str, &str)> = params.to_vec();
    form.push(("decision", "allow"));
    form.push(("csrf", csrf.unwrap_or(&session.1)));
    client()
        .post(format!("{url}/oauth/authorize"))
        .header("cookie", &session.0)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(serde_urlencoded::to_string(&form).unwrap())
        .send()
        .await
        .unwrap()
}

pub(super) fn code_of(location: &str) -> String {
    let query = location.split_once('?').unwrap().1;
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query).unwrap();
    pairs
        .into_iter()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v)
        .unwrap_or_else(|| panic!("no code in {location}"))
}

pub(super) async fn token(url: &str, form: &[(&str, &str)]) -> (u16, Value) {
    let r = client()
        .post(format!("{url}/oauth/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(serde_urlencoded::to_string(form).unwrap())
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authlib_runs_the_whole_flow() {
    let s = setup().await;
    let c = register(&s, false).await;
    let url = s.server.url.clone();
    let id = c["client_id"].as_str().unwrap().to_owned();
    let out = tokio::task::spawn_blocking(move || {
        run(std::process::Command::new(python_tool("python"))
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/it/oauth_client.py"
            ))
            .args([&url, &id, "alice", PASSWORD, "alice/a"]))
    })
    .await
    .unwrap();
    assert!(out.contains("authlib flow ok"), "{out}");
}

#[tokio::test]
async fn hostile_authorization_requests() {
    let s = setup().await;
    let url = &s.server.url;
    let public = register(&s, false).await;
    let id = public["client_id"].as_str().unwrap();
    let session = browser_session(url, "alice", PASSWORD).await;
    let verifier = "v".repeat(50);
    let ch = challenge(&verifier);
    let authorize = |q: Vec<(&str, &str)>| {
        let query = serde_urlencoded::to_string(&q).unwrap();
        client()
            .get(format!("{url}/oauth/authorize?{query}"))
            .header("cookie", &session.0)
            .send()
    };

    // Open redirect: an unregistered URI (even a near miss) gets an error page, never a redirect.
    for bad in [
        "https://evil.example/cb",
        "http://127.0.0.1/callback/../x",
        "http://127.0.0.1/callbackX",
    ] {
        let r = authorize(vec![
            ("response_type", "code"),
            ("client_id", id),
            ("redirect_uri", bad),
            ("code_challenge", &ch),
            ("code_challenge_method", "S256"),
        ])
        .await
        .unwrap();
        assert_eq!(r.status(), 400, "{bad}");
        assert!(r.headers().get("location").is_none());
    }
    let r = authorize(vec![
        ("response_type", "code"),
        ("client_id", "sc_nobody"),
        ("redirect_uri", REDIRECT),
    ])
    .await
    .unwrap();
    assert_eq!(r.status(), 400);
    // A public client without PKCE, or with `plain`: an error back at the client.
    for extra in [
        vec![],
        vec![
            ("code_challenge", "abc"),
            ("code_challenge_method", "plain"),
        ],
    ] {
        let mut q = vec![
            ("response_type", "code"),
            ("client_id", id),
            ("redirect_uri", REDIRECT),
            ("state", "xyz"),
        ];
        q.extend(extra);
        let r = authorize(q).await.unwrap();
        assert_eq!(r.status(), 303);
        let loc = r.headers()["location"].to_str().unwrap();
        assert!(
            loc.starts_with(REDIRECT)
                && loc.contains("error=invalid_request")
                && loc.contains("state=xyz"),
            "{loc}"
        );
    }
    // Not logged in: to the login page, which comes back here afterwards.
    let query = serde_urlencoded::to_string([
        ("response_type", "code"),
        ("client_id", id),
        ("redirect_uri", REDIRECT),
        ("code_challenge", ch.as_str()),
        ("code_challenge_method", "S256"),
    ])
    .unwrap();
    let r = client()
        .get(format!("{url}/oauth/authorize?{query}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert!(r.headers()["location"]
        .to_str()
        .unwrap()
        .starts_with("/login?next=%2Foauth%2Fauthorize"));
    // The login page does not follow an off-site `next`.
    let page = client()
        .get(format!("{url}/login?next=//evil.example/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("name=\"next\" value=\"\""),
        "an off-site next is dropped"
    );

    let params = [
        ("response_type", "code"),
        ("client_id", id),
        ("redirect_uri", REDIRECT),
        ("scope", "openid dataset:alice/a:read"),
        ("code_challenge", ch.as_str()),
        ("code_challenge_method", "S256"),
        ("state", "s1"),
    ];
    // CSRF on the consent form: no code.
    let r = consent(url, &session, &params, Some(&"0".repeat(64))).await;
    assert_eq!(r.status(), 400);
    assert!(r.headers().get("location").is_none());

    // PKCE mismatch.
    let r = consent(url, &session, &params, None).await;
    let code = code_of(r.headers()["location"].to_str().unwrap());
    let (status, v) = token(
        url,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("client_id", id),
            ("code_verifier", &"w".repeat(50)),
        ],
    )
    .await;
    assert_eq!(
        (status, v["error"].as_str()),
        (400, Some("invalid_grant")),
        "{v}"
    );

    // Code replay: the second use fails and revokes what the first one got.
    let r = consent(url, &session, &params, None).await;
    let code = code_of(r.headers()["location"].to_str().unwrap());
    let exchange = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("client_id", id),
        ("code_verifier", verifier.as_str()),
    ];
    let (status, first) = token(url, &exchange).await;
    assert_eq!(status, 200, "{first}");
    let access = first["access_token"].as_str().unwrap().to_owned();
    let api = |t: String, ds: &str| {
        client()
            .get(format!("{url}/api/v1/datasets/alice/{ds}"))
            .bearer_auth(t)
            .send()
    };
    assert_eq!(api(access.clone(), "a").await.unwrap().status(), 200);
    // A token for one dataset does not open another.
    assert_eq!(api(access.clone(), "b").await.unwrap().status(), 404);
    let (status, v) = token(url, &exchange).await;
    assert_eq!(
        (status, v["error"].as_str()),
        (400, Some("invalid_grant")),
        "{v}"
    );
    assert_eq!(
        api(access.clone(), "a").await.unwrap().status(),
        401,
        "revoked by the replay"
    );
    let (status, _) = token(
        url,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", first["refresh_token"].as_str().unwrap()),
            ("client_id", id),
        ],
    )
    .await;
    assert_eq!(status, 400);

    // A refresh asking for a wider scope is refused without burning the refresh token.
    let r = consent(url, &session, &params, None).await;
    let code = code_of(r.headers()["location"].to_str().unwrap());
    let (status, fresh) = token(
        url,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("client_id", id),
            ("code_verifier", &verifier),
        ],
    )
    .await;
    assert_eq!(status, 200, "{fresh}");
    let refresh = fresh["refresh_token"].as_str().unwrap();
    let (status, v) = token(
        url,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh),
            ("client_id", id),
            ("scope", "openid dataset:alice/a:read dataset:alice/b:read"),
        ],
    )
    .await;
    assert_eq!(
        (status, v["error"].as_str()),
        (400, Some("invalid_scope")),
        "{v}"
    );
    let (status, v) = token(
        url,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh),
            ("client_id", id),
        ],
    )
    .await;
    assert_eq!(
        status, 200,
        "the refused request did not burn the token: {v}"
    );

    // An expired code.
    let r = consent(url, &session, &params, None).await;
    let code = code_of(r.headers()["location"].to_str().unwrap());
    sqlx::query("UPDATE oauth_codes SET expires_at = 0")
        .execute(s.server.state.db.pool())
        .await
        .unwrap();
    let (status, v) = token(
        url,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("client_id", id),
            ("code_verifier", &verifier),
        ],
    )
    .await;
    assert_eq!(
        (status, v["error"].as_str()),
        (400, Some("invalid_grant")),
        "{v}"
    );

    // Deny: the client hears access_denied.
    let mut form: Vec<(&str, &str)> = params.to_vec();
    form.push(("decision", "deny"));
    form.push(("csrf", &session.1));
    let r = client()
        .post(format!("{url}/oauth/authorize"))
        .header("cookie", &session.0)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(serde_urlencoded::to_string(&form).unwrap())
        .send()
        .await
        .unwrap();
    assert!(r.headers()["location"]
        .to_str()
        .unwrap()
        .contains("error=access_denied"));
}

#[tokio::test]
async fn services_revocation_introspection_and_upload_tokens() {
    let s = setup().await;
    let url = &s.server.url;
    let service = register(&s, true).await;
    let id = service["client_id"].as_str().unwrap();
    let secret = service["client_secret"].as_str().unwrap();
    let public = register(&s, false).await;

    // Client credentials: confidential clients only, with a real secret, acting for their owner.
    let (status, v) = token(
        url,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", id),
            ("client_secret", "wrong"),
            ("scope", "dataset:alice/a:read"),
        ],
    )
    .await;
    assert_eq!((status, v["error"].as_str()), (401, Some("invalid_client")));
    let (status, v) = token(
        url,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", public["client_id"].as_str().unwrap()),
            ("scope", "dataset:alice/a:read"),
        ],
    )
    .await;
    assert_eq!(status, 401, "{v}");
    let (status, v) = token(
        url,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", id),
            ("client_secret", secret),
            ("scope", "dataset:alice/a:read"),
        ],
    )
    .await;
    assert_eq!(status, 200, "{v}");
    let access = v["access_token"].as_str().unwrap().to_owned();
    let get = |t: &str, ds: &str| {
        client()
            .get(format!("{url}/api/v1/datasets/alice/{ds}"))
            .bearer_auth(t.to_owned())
            .send()
    };
    assert_eq!(get(&access, "a").await.unwrap().status(), 200);
    assert_eq!(get(&access, "b").await.unwrap().status(), 404);

    // Introspection, then revocation (RFC 7009 / 7662), with HTTP Basic client authentication.
    let call = |path: &str, t: &str| {
        client()
            .post(format!("{url}{path}"))
            .basic_auth(id, Some(secret))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("token={t}"))
            .send()
    };
    let v: Value = call("/oauth/introspect", &access)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["active"], true, "{v}");
    // Another client learns nothing about this client's tokens.
    let other = register(&s, true).await;
    let v: Value = client()
        .post(format!("{url}/oauth/introspect"))
        .basic_auth(
            other["client_id"].as_str().unwrap(),
            Some(other["client_secret"].as_str().unwrap()),
        )
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("token={access}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v, json!({"active": false}));
    // A token minted from an OAuth grant dies with the grant.
    let minted: Value = client()
        .post(format!("{url}/api/v1/datasets/alice/a/upload-token"))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(minted["scope"], "obj:alice/a/*:read", "{minted}");
    let minted = minted["token"].as_str().unwrap().to_owned();
    let download = json!({"operation": "download", "objects": []});
    let batch_a = s.server.batch_url("alice/a");
    assert_eq!(
        lfs_post(&batch_a, Some(&minted), &download).await.status(),
        200
    );
    // An upload token cannot mint another one.
    let again = client()
        .post(format!("{url}/api/v1/datasets/alice/a/upload-token"))
        .bearer_auth(&minted)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 403);
    let claims: Value = {
        use base64::Engine;
        let payload = access.split('.').nth(1).unwrap();
        serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(payload)
                .unwrap(),
        )
        .unwrap()
    };
    s.server
        .state
        .db
        .revoke_family(claims["fam"].as_str().unwrap())
        .await
        .unwrap();
    assert_eq!(
        lfs_post(&batch_a, Some(&minted), &download).await.status(),
        401
    );
    assert_eq!(call("/oauth/revoke", &access).await.unwrap().status(), 200);
    let v: Value = call("/oauth/introspect", &access)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["active"], false);
    assert_eq!(get(&access, "a").await.unwrap().status(), 401);
    assert_eq!(
        call("/oauth/revoke", "not-a-token").await.unwrap().status(),
        200
    );

    // Discovery.
    let d: Value = client()
        .get(format!("{url}/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(d["code_challenge_methods_supported"], json!(["S256"]));

    // Redirect URIs are parsed at registration, not prefix-matched.
    for bad in [
        "http://127.0.0.1.evil.example/cb",
        "http://localhost@evil.example/cb",
        "http://evil.example/cb",
        "https://app.example/cb#x",
        "https://user:pw@app.example/cb",
        "javascript:alert(1)",
        "/relative",
    ] {
        let r = client()
            .post(format!("{url}/api/v1/oauth/clients"))
            .bearer_auth(&s.pat)
            .json(&json!({"name": "Bad", "redirect_uris": [bad]}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 422, "{bad}");
    }

    // The browser upload token: one dataset's objects, for the user who asks.
    let (cookie, csrf) = browser_session(url, "alice", PASSWORD).await;
    let r = client()
        .post(format!("{url}/api/v1/datasets/alice/a/upload-token"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "a session write needs the CSRF header");
    let v: Value = client()
        .post(format!("{url}/api/v1/datasets/alice/a/upload-token"))
        .header("cookie", &cookie)
        .header("x-csrf-token", &csrf)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["scope"], "obj:alice/a/*:write");
    let t = v["token"].as_str().unwrap();
    let batch = json!({"operation": "upload", "objects": [{"oid": sha256_hex(b"x"), "size": 1}]});
    assert_eq!(
        lfs_post(&s.server.batch_url("alice/a"), Some(t), &batch)
            .await
            .status(),
        200
    );
    assert_eq!(
        lfs_post(&s.server.batch_url("alice/b"), Some(t), &batch)
            .await
            .status(),
        404
    );
}
