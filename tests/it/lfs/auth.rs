//! Credentials: forged and expired JWTs, scopes, personal access tokens and their revocation, JWKS.

use super::*;

#[tokio::test]
async fn jwts_and_personal_access_tokens() {
    let server = TestServer::start().await;
    let alice = server.user("alice").await;
    server.repo("alice/r", Visibility::Private).await;
    server.repo("alice/s", Visibility::Private).await;
    let data = b"jwt data".to_vec();
    let oid = upload(&server, "alice/r", &alice, &data).await;
    let dl =
        json!({"operation": "download", "objects": [{"oid": oid.to_string(), "size": data.len()}]});
    let url = server.batch_url("alice/r");
    let post_bearer = |token: String| {
        let url = url.clone();
        let dl = dl.clone();
        async move {
            client()
                .post(url)
                .bearer_auth(token)
                .header("content-type", LFS)
                .body(dl.to_string())
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };

    // A read scope for this repository works as Bearer and as giftless's `_jwt` Basic password.
    let read = server.jwt("ci-bot", "obj:alice/r/*:read", 600);
    assert_eq!(post_bearer(read.clone()).await, 200);
    let resp = client()
        .post(&url)
        .basic_auth("_jwt", Some(&read))
        .header("content-type", LFS)
        .body(dl.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    // ... but not for writing, nor for another repository.
    let up = json!({"operation": "upload", "objects": [{"oid": sha256_hex(b"n"), "size": 1}]});
    assert_eq!(lfs_post(&url, Some(&read), &up).await.status(), 403);
    assert_eq!(
        lfs_post(&server.batch_url("alice/s"), Some(&read), &dl)
            .await
            .status(),
        404
    );
    // Global read grant.
    assert_eq!(
        post_bearer(server.jwt("auditor", "obj:*:read", 600)).await,
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
    let jwks = client()
        .get(format!("{}/.well-known/jwks.json", server.url))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
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
        std::fs::read(server.dir.path().join("jwt.pem"))
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
        post_bearer(make(&server.url, "strata", now + 60)).await,
        200,
        "control"
    );
    assert_eq!(
        post_bearer(make(&server.url, "strata", now - 120)).await,
        401,
        "expired"
    );
    assert_eq!(
        post_bearer(make("https://evil.example", "strata", now + 60)).await,
        401,
        "issuer"
    );
    assert_eq!(
        post_bearer(make(&server.url, "other", now + 60)).await,
        401,
        "audience"
    );

    // Personal access tokens: scoped, revocable, expiring.
    let scoped =
        strata::cli::admin::create_token(&server.state, "alice", "ro", "obj:alice/r/*:read", None)
            .await
            .unwrap();
    assert_eq!(lfs_post(&url, Some(&scoped), &dl).await.status(), 200);
    assert_eq!(lfs_post(&url, Some(&scoped), &up).await.status(), 403);
    // Used (and so cached) just above; revocation still takes effect at once.
    strata::cli::admin::revoke_token(&server.state, "alice", "ro")
        .await
        .unwrap();
    assert_eq!(lfs_post(&url, Some(&scoped), &dl).await.status(), 401);
    let expired = strata::cli::admin::create_token(&server.state, "alice", "old", "*", Some(-1))
        .await
        .unwrap();
    assert_eq!(lfs_post(&url, Some(&expired), &dl).await.status(), 401);
    assert_eq!(
        lfs_post(&url, Some("stp_0000000000000000"), &dl)
            .await
            .status(),
        401
    );
}

#[tokio::test]
async fn jwks_publishes_the_verifying_key() {
    let server = TestServer::start().await;
    let jwks: Value = client()
        .get(format!("{}/.well-known/jwks.json", server.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = &jwks["keys"][0];
    assert_eq!(key["kty"], "RSA");
    assert_eq!(key["alg"], "RS256");
    let token = server.jwt("x", "obj:*:read", 60);
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
    let (status, headers, v) = body(
        client()
            .get(format!("{}/nope", server.url))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_error_body(status, &headers, &v, 404);
}
