//! Who is who, in process: the shared case-insensitive namespace (moved from
//! `access/gates.rs`), token names (from `project/newcomer.rs`), forged and expired JWTs, scopes,
//! personal access tokens and their revocation, and JWKS (from `lfs/auth.rs`).

use axum::http::Method;
use serde_json::{json, Value};
use strata_core::db::Visibility;

use super::call;
use crate::common::api::{api, unique};
use crate::common::{assert_error_body, sha256_hex, LFS};

const API: &str = "/api/v1/datasets";

#[tokio::test]
async fn the_namespace_is_shared_and_case_insensitive() {
    let api = api().await;
    let admin = api.user_with(&unique("root"), true, "*").await;
    let alice_name = unique("alice");
    let alice = api.user(&alice_name).await;
    api.repo(&format!("{alice_name}/survey"), Visibility::Private)
        .await;
    // The dataset answers to any spelling of its path.
    let (status, v) = call(
        api,
        &alice,
        Method::GET,
        &format!("{API}/{}/Survey", alice_name.to_uppercase()),
        None,
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["namespace"], alice_name.as_str(), "{v}");
    // An organisation cannot take a user's name in another case.
    let capitalised = format!("A{}", &alice_name[1..]);
    let (status, v) = call(
        api,
        &admin,
        Method::POST,
        "/api/v1/orgs",
        Some(json!({"name": capitalised})),
    )
    .await;
    assert_eq!(status, 409, "{v}");
    // Nor a namespace that still holds datasets.
    let ghosts = unique("ghosts");
    let (owner_name, ns) = (alice_name.clone(), ghosts.clone());
    api.on(move |s| async move {
        let owner = s.db.user_by_name(&owner_name).await.unwrap().unwrap();
        s.db.create_repo(&ns, "old", owner.id, Visibility::Private)
            .await
            .unwrap();
    })
    .await;
    let (status, v) = call(
        api,
        &admin,
        Method::POST,
        "/api/v1/orgs",
        Some(json!({"name": ghosts})),
    )
    .await;
    assert_eq!(status, 409, "{v}");
    // Nor can a user be made over an organisation in another case.
    let acme = unique("acme");
    let (status, _) = call(
        api,
        &admin,
        Method::POST,
        "/api/v1/orgs",
        Some(json!({"name": acme})),
    )
    .await;
    assert_eq!(status, 201);
    for name in [acme.to_uppercase(), alice_name.to_uppercase()] {
        let made = api
            .on(move |s| async move {
                strata::cli::admin::create_user(&s, &name, None, false)
                    .await
                    .is_err()
            })
            .await;
        assert!(made);
    }
    // Two datasets differing only in case cannot exist.
    let (status, v) = call(
        api,
        &alice,
        Method::POST,
        API,
        Some(json!({"namespace": alice_name, "name": "SURVEY"})),
    )
    .await;
    assert_eq!(status, 409, "{v}");
}

#[tokio::test]
async fn token_names_are_unique_per_user() {
    let api = api().await;
    let (alice, bob) = (unique("alice"), unique("bob"));
    api.user(&alice).await;
    api.user(&bob).await;
    api.on(move |s| async move {
        strata::cli::admin::create_token(&s, &alice, "ci", "*", None)
            .await
            .unwrap();
        let again = strata::cli::admin::create_token(&s, &alice, "ci", "*", None).await;
        assert!(again.unwrap_err().to_string().contains("already"));
        strata::cli::admin::create_token(&s, &bob, "ci", "*", None)
            .await
            .unwrap();
        strata::cli::admin::revoke_token(&s, &alice, "ci")
            .await
            .unwrap();
        strata::cli::admin::create_token(&s, &alice, "ci", "*", None)
            .await
            .unwrap();
        assert!(strata::cli::admin::create_token(&s, &alice, " ", "*", None)
            .await
            .is_err());
    })
    .await;
}

#[tokio::test]
async fn jwts_and_personal_access_tokens() {
    let api = api().await;
    let user = unique("alice");
    let alice = api.user(&user).await;
    let (repo_r, repo_s) = (format!("{user}/r"), format!("{user}/s"));
    api.repo(&repo_r, Visibility::Private).await;
    api.repo(&repo_s, Visibility::Private).await;
    let data = b"jwt data".to_vec();
    let oid = api.upload(&repo_r, &alice, &data).await;
    let dl =
        json!({"operation": "download", "objects": [{"oid": oid.to_string(), "size": data.len()}]});
    let url = api.batch_url(&repo_r);
    let post_bearer = |token: String| {
        let url = url.clone();
        let dl = dl.clone();
        async move {
            api.post(url)
                .bearer(&token)
                .header("content-type", LFS)
                .body(dl.to_string())
                .send()
                .await
                .status
        }
    };

    // A read scope for this repository works as Bearer and as giftless's `_jwt` Basic password.
    let read = api.jwt("ci-bot", &format!("obj:{repo_r}/*:read"), 600);
    assert_eq!(post_bearer(read.clone()).await, 200);
    let resp = api
        .post(&url)
        .basic("_jwt", &read)
        .header("content-type", LFS)
        .body(dl.to_string())
        .send()
        .await;
    assert_eq!(resp.status, 200);
    // ... but not for writing, nor for another repository.
    let up = json!({"operation": "upload", "objects": [{"oid": sha256_hex(b"n"), "size": 1}]});
    assert_eq!(api.lfs_post(&url, Some(&read), &up).await.status, 403);
    assert_eq!(
        api.lfs_post(&api.batch_url(&repo_s), Some(&read), &dl)
            .await
            .status,
        404
    );
    // Global read grant.
    assert_eq!(
        post_bearer(api.jwt("auditor", "obj:*:read", 600)).await,
        200
    );

    // Forged tokens.
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
    use base64::Engine;
    let parts: Vec<&str> = read.split('.').collect();
    let mut claims: Value = serde_json::from_slice(&B64.decode(parts[1]).unwrap()).unwrap();
    claims["scope"] = json!("obj:*:write");
    let forged_payload = B64.encode(claims.to_string());
    assert_eq!(
        post_bearer(format!("{}.{}.{}", parts[0], forged_payload, parts[2])).await,
        401,
        "tampered payload"
    );
    let none_header = B64.encode(r#"{"alg":"none","typ":"JWT"}"#);
    assert_eq!(
        post_bearer(format!("{none_header}.{}.", parts[1])).await,
        401,
        "alg none"
    );
    // HS256 signed with the public key (the classic algorithm confusion attack).
    let jwks = api.get("/.well-known/jwks.json").send().await.json();
    let n = jwks["keys"][0]["n"].as_str().unwrap();
    let hs_header = B64.encode(r#"{"alg":"HS256","typ":"JWT"}"#);
    let signing_input = format!("{hs_header}.{}", parts[1]);
    let mac = {
        use hmac::{Hmac, KeyInit, Mac};
        let mut m = Hmac::<sha2::Sha256>::new_from_slice(n.as_bytes()).unwrap();
        m.update(signing_input.as_bytes());
        B64.encode(m.finalize().into_bytes())
    };
    assert_eq!(
        post_bearer(format!("{signing_input}.{mac}")).await,
        401,
        "HS256 with public key"
    );
    // Expired (beyond leeway), wrong issuer, wrong audience: signed with the right key.
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(
        std::fs::read(api.dir.path().join("jwt.pem"))
            .unwrap()
            .as_slice(),
    )
    .unwrap();
    let now = strata_core::db::now();
    let make = |iss: &str, aud: &str, exp: i64| {
        let claims = json!({"iss": iss, "aud": aud, "sub": "x", "exp": exp, "nbf": now - 10, "iat": now - 10, "jti": "j", "scope": "obj:*:read"});
        jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256),
            &claims,
            &key,
        )
        .unwrap()
    };
    assert_eq!(
        post_bearer(make(&api.url, "strata", now + 60)).await,
        200,
        "control"
    );
    assert_eq!(
        post_bearer(make(&api.url, "strata", now - 120)).await,
        401,
        "expired"
    );
    assert_eq!(
        post_bearer(make("https://evil.example", "strata", now + 60)).await,
        401,
        "issuer"
    );
    assert_eq!(
        post_bearer(make(&api.url, "other", now + 60)).await,
        401,
        "audience"
    );

    // Personal access tokens: scoped, revocable, expiring.
    let (who, scope) = (user.clone(), format!("obj:{repo_r}/*:read"));
    let scoped = api
        .on(move |s| async move {
            strata::cli::admin::create_token(&s, &who, "ro", &scope, None)
                .await
                .unwrap()
        })
        .await;
    assert_eq!(api.lfs_post(&url, Some(&scoped), &dl).await.status, 200);
    assert_eq!(api.lfs_post(&url, Some(&scoped), &up).await.status, 403);
    // Used (and so cached) just above; revocation still takes effect at once.
    let who = user.clone();
    api.on(move |s| async move {
        strata::cli::admin::revoke_token(&s, &who, "ro")
            .await
            .unwrap()
    })
    .await;
    assert_eq!(api.lfs_post(&url, Some(&scoped), &dl).await.status, 401);
    let who = user.clone();
    let expired = api
        .on(move |s| async move {
            strata::cli::admin::create_token(&s, &who, "old", "*", Some(-1))
                .await
                .unwrap()
        })
        .await;
    assert_eq!(api.lfs_post(&url, Some(&expired), &dl).await.status, 401);
    assert_eq!(
        api.lfs_post(&url, Some("stp_0000000000000000"), &dl)
            .await
            .status,
        401
    );
}

#[tokio::test]
async fn jwks_publishes_the_verifying_key() {
    let api = api().await;
    let jwks = api.get("/.well-known/jwks.json").send().await.json();
    let key = &jwks["keys"][0];
    assert_eq!(key["kty"], "RSA");
    assert_eq!(key["alg"], "RS256");
    let token = api.jwt("x", "obj:*:read", 60);
    let decoding = jsonwebtoken::DecodingKey::from_rsa_components(
        key["n"].as_str().unwrap(),
        key["e"].as_str().unwrap(),
    )
    .unwrap();
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    v.set_audience(&["strata"]);
    let data = jsonwebtoken::decode::<Value>(&token, &decoding, &v).unwrap();
    assert_eq!(data.header.kid.as_deref(), key["kid"].as_str());
    assert_eq!(data.claims["sub"], "x");
    // Unknown paths get the same clear error shape.
    let (status, headers, v) = api.get("/nope").send().await.parts();
    assert_error_body(status, &headers, &v, 404);
}
