//! The OAuth provider's grants: the authorization code with PKCE (wrong, short or missing
//! verifier, another client, another redirect URI: each refused and the code burnt; a replay
//! revoking what the first use gave), the tokens acting for the user within the scope, refresh
//! rotation (narrowing, never widening, reuse revoking the family), introspection and revocation
//! of refresh tokens, client authentication, client credentials acting within the owner's
//! rights, revocation and introspection of access tokens, and upload tokens.

use serde_json::json;
use strata_core::auth::{self, Action, Principal, Role};
use strata_core::datasets::gate;
use strata_core::db::{OauthClient, User, Visibility};
use strata_core::error::Kind;
use strata_core::oauth::{self, authorize, grants, tokens};
use strata_core::Core;

use crate::common::*;
use crate::oauth::{answer, challenge, register, VERIFIER};

const CB: Option<&str> = Some("http://127.0.0.1/cb");

async fn client(core: &Core, id: &str) -> OauthClient {
    core.db.client(id).await.unwrap().expect("a client")
}

/// A consented code for `user` and the public client `client_id`, with PKCE.
async fn consent(core: &Core, user: &User, client_id: &str, scope: &str) -> String {
    let c = challenge(VERIFIER);
    let req = authorize::Request {
        response_type: "code",
        client_id,
        redirect_uri: None,
        scope: Some(scope),
        code_challenge: Some(&c),
        code_challenge_method: Some("S256"),
    };
    let Ok(checked) = authorize::check(core, &req).await.unwrap() else {
        panic!("the request passes");
    };
    let nonce = Some("n-0S6_WzA2Mj");
    authorize::allow(core, user, &checked, (Some(&c), nonce), true)
        .await
        .unwrap()
}

/// Redeems `code` as `client` would: the tokens.
async fn redeem(core: &Core, client: &OauthClient, code: &str) -> grants::Tokens {
    let got = grants::code(core, client, Some(code), CB, Some(VERIFIER)).await;
    got.unwrap().expect("tokens")
}

async fn auth_kind(core: &Core, token: &str) -> Option<Kind> {
    kind(&auth::authenticate(core, token).await)
}

async fn gate_kind(core: &Core, who: &Principal, ns: &str, ds: &str, a: Action) -> Option<Kind> {
    kind(&gate::dataset(core, who, ns, ds, a).await)
}

#[test]
fn codes_with_pkce_and_rotating_refresh_tokens() {
    run(async {
        let f = fixture().await;
        let core = &f.core;
        let mut t = Tally::default();
        let user = new_user(core, "oauthuser", Role::Scientist).await;
        dataset(core, "oauthuser", "data", &user, Visibility::Private, FILES).await;
        let owner = pat(core, &user, "all", "*").await;
        let (id, _) = register(core, &owner, &["http://127.0.0.1/cb"], false).await;
        let (other_id, _) = register(core, &owner, &["http://127.0.0.1/cb"], false).await;
        let (app, other) = (&client(core, &id).await, &client(core, &other_id).await);
        let scope = "openid offline_access dataset:oauthuser/data:read";

        // Refusals of the code grant; each burns the code it was given.
        let wrong = "another-verifier-of-at-least-forty-three-chars-xx";
        for (label, client, uri, verifier) in [
            ("wrong verifier", app, CB, Some(wrong)),
            ("no verifier", app, CB, None),
            ("short verifier", app, CB, Some(&VERIFIER[..42])),
            ("another client", other, CB, Some(VERIFIER)),
            (
                "another redirect URI",
                app,
                Some("http://127.0.0.1/x"),
                Some(VERIFIER),
            ),
        ] {
            let c = consent(core, &user, &id, scope).await;
            let got = grants::code(core, client, Some(&c), uri, verifier).await;
            t.eq(answer(&got), "invalid_grant", label);
            let again = grants::code(core, app, Some(&c), CB, Some(VERIFIER)).await;
            t.eq(
                answer(&again),
                "invalid_grant",
                &format!("{label}, then right"),
            );
        }
        let none = grants::code(core, app, None, CB, Some(VERIFIER)).await;
        t.eq(answer(&none), "invalid_request", "no code");
        let unknown = grants::code(core, app, Some(&"0".repeat(64)), CB, Some(VERIFIER)).await;
        t.eq(answer(&unknown), "invalid_grant", "unknown code");

        // The code works once; its tokens act for the user within the scope.
        let c = consent(core, &user, &id, scope).await;
        let first = redeem(core, app, &c).await;
        t.eq(first.scope.as_str(), scope, "the consented scope");
        t.eq(first.id_token.is_some(), true, "an id token for openid");
        let who = auth::authenticate(core, &first.access_token).await.unwrap();
        let acts =
            matches!(&who, Principal::User { user: u, family: Some(_), .. } if u.id == user.id);
        t.check(acts, || format!("acts for the user: {who:?}"));
        let mine = |a| gate_kind(core, &who, "oauthuser", "data", a);
        t.eq(mine(Action::Read).await, None, "reads");
        t.eq(mine(Action::Write).await, Some(Kind::Forbidden), "writes");
        let beyond = gate_kind(core, &who, "acme", "int", Action::Read).await;
        t.eq(beyond, Some(Kind::NotFound), "beyond the scope");
        let info = tokens::userinfo(core, &first.access_token).await.unwrap();
        t.eq(
            info.map(|v| v["sub"].clone()),
            Some(json!("oauthuser")),
            "userinfo",
        );
        // A replayed code revokes what its first use gave.
        let replay = grants::code(core, app, Some(&c), CB, Some(VERIFIER)).await;
        t.eq(answer(&replay), "invalid_grant", "a replayed code");
        let access = &first.access_token;
        t.eq(
            auth_kind(core, access).await,
            Some(Kind::Unauthenticated),
            "replay: access",
        );
        let r = first.refresh_token.clone().unwrap();
        let refreshed = grants::refresh(core, app, Some(&r), None).await;
        t.eq(answer(&refreshed), "invalid_grant", "replay: refresh");
        t.eq(
            tokens::userinfo(core, access).await.unwrap(),
            None,
            "replay: userinfo",
        );

        // Refresh: rotates, narrows, never widens; a reused one revokes the whole family.
        let t0 = redeem(core, app, &consent(core, &user, &id, scope).await).await;
        let r0 = t0.refresh_token.clone().unwrap();
        let elsewhere = grants::refresh(core, other, Some(&r0), None).await;
        t.eq(
            answer(&elsewhere),
            "invalid_grant",
            "another client's refresh",
        );
        let none = grants::refresh(core, app, None, None).await;
        t.eq(answer(&none), "invalid_request", "no refresh token");
        let wider = Some("openid dataset:oauthuser/data:write");
        let wide = grants::refresh(core, app, Some(&r0), wider).await;
        t.eq(answer(&wide), "invalid_scope", "widening");
        let t1 = grants::refresh(core, app, Some(&r0), None).await.unwrap();
        let t1 = t1.expect("a refused widening does not burn it");
        let r1 = t1.refresh_token.clone().unwrap();
        t.check(r1 != r0, || "the refresh token rotates".into());
        let t2 = grants::refresh(core, app, Some(&r1), Some("openid"))
            .await
            .unwrap();
        let t2 = t2.expect("narrowed");
        t.eq(t2.scope.as_str(), "openid", "the narrowed scope");
        let narrowed = auth::authenticate(core, &t2.access_token).await.unwrap();
        let reads = gate_kind(core, &narrowed, "oauthuser", "data", Action::Read).await;
        t.eq(
            reads,
            Some(Kind::NotFound),
            "the narrowed token reads nothing",
        );
        let reuse = grants::refresh(core, app, Some(&r0), None).await;
        t.eq(answer(&reuse), "invalid_grant", "a reused refresh token");
        let r2 = t2.refresh_token.clone().unwrap();
        let newest = grants::refresh(core, app, Some(&r2), None).await;
        t.eq(
            answer(&newest),
            "invalid_grant",
            "the family's newest refresh token",
        );
        for (label, token) in [("t0", &t0), ("t1", &t1), ("t2", &t2)] {
            let got = auth_kind(core, &token.access_token).await;
            t.eq(
                got,
                Some(Kind::Unauthenticated),
                &format!("{label} after the reuse"),
            );
        }

        // Introspection tells a client about its own refresh tokens; revoking one ends its family.
        let t3 = redeem(core, app, &consent(core, &user, &id, scope).await).await;
        let r3 = t3.refresh_token.clone().unwrap();
        // An upload token minted from the grant's access token dies with the grant.
        let granted = auth::authenticate(core, &t3.access_token).await.unwrap();
        let minted = tokens::upload_token(core, &granted, "oauthuser", "data").await;
        let (minted, minted_scope) = minted.expect("an upload token");
        t.eq(
            minted_scope.as_str(),
            "obj:oauthuser/data/*:read",
            "minted within the grant",
        );
        t.eq(auth_kind(core, &minted).await, None, "the minted token");
        let seen = tokens::introspect(core, app, &r3).await.unwrap();
        t.eq(seen["active"].clone(), json!(true), "a live refresh token");
        t.eq(
            seen["token_type"].clone(),
            json!("refresh_token"),
            "its type",
        );
        let hidden = tokens::introspect(core, other, &r3).await.unwrap();
        t.eq(hidden["active"].clone(), json!(false), "to another client");
        tokens::revoke(core, other, &r3).await.unwrap();
        t.eq(
            auth_kind(core, &t3.access_token).await,
            None,
            "revoked by another: unchanged",
        );
        tokens::revoke(core, app, &r3).await.unwrap();
        let gone = tokens::introspect(core, app, &r3).await.unwrap();
        t.eq(
            gone["active"].clone(),
            json!(false),
            "a revoked refresh token",
        );
        let access = auth_kind(core, &t3.access_token).await;
        t.eq(
            access,
            Some(Kind::Unauthenticated),
            "its family's access token",
        );
        let refreshed = grants::refresh(core, app, Some(&r3), None).await;
        t.eq(answer(&refreshed), "invalid_grant", "refreshing with it");
        let minted = auth_kind(core, &minted).await;
        t.eq(
            minted,
            Some(Kind::Unauthenticated),
            "the token minted from it",
        );
        t.finish("oauth: codes and refresh tokens");
    })
}

#[test]
fn client_credentials_revocation_and_introspection() {
    run(async {
        let f = fixture().await;
        let core = &f.core;
        let mut t = Tally::default();
        let good = &["https://svc.example/cb"];
        let reader = f.principal("reader");
        let (svc_id, secret) = register(core, reader, good, true).await;
        let secret = secret.unwrap();
        let (pub_id, _) = register(core, reader, good, false).await;
        let (other_id, other_secret) = register(core, f.principal("writer"), good, true).await;
        let (svc, public) = (client(core, &svc_id).await, client(core, &pub_id).await);
        let other = client(core, &other_id).await;
        for (id, given, want) in [
            (svc_id.as_str(), Some(secret.as_str()), "ok"),
            (&svc_id, None, "invalid_client"),
            (&svc_id, Some("wrong"), "invalid_client"),
            (&svc_id, other_secret.as_deref(), "invalid_client"),
            (&pub_id, None, "ok"),
            ("sc_unknown", None, "invalid_client"),
        ] {
            let got = oauth::authenticate_client(core, id, given).await;
            t.eq(answer(&got), want, &format!("client {id} with {given:?}"));
        }
        for (client, scope, want) in [
            (
                &public,
                Some("dataset:acme/priv:read"),
                "unauthorized_client",
            ),
            (&svc, None, "invalid_scope"),
            (&svc, Some(""), "invalid_scope"),
            (&svc, Some("*"), "invalid_scope"),
            (&svc, Some("dataset:acme/priv:read *"), "invalid_scope"),
            (&svc, Some("bad:scope"), "invalid_scope"),
        ] {
            let got = grants::client_credentials(core, client, scope).await;
            t.eq(
                answer(&got),
                want,
                &format!("{} asks for {scope:?}", client.client_id),
            );
        }
        // A service acts for its owner (a reader of acme/priv), never beyond.
        let granted = grants::client_credentials(core, &svc, Some("dataset:acme:write")).await;
        let granted = granted.unwrap().unwrap();
        t.eq(granted.refresh_token, None, "no refresh token");
        let access = granted.access_token.clone();
        let acting = auth::authenticate(core, &access).await.unwrap();
        let on_priv = |a| gate_kind(core, &acting, "acme", "priv", a);
        t.eq(on_priv(Action::Read).await, None, "the service reads");
        t.eq(
            on_priv(Action::Write).await,
            Some(Kind::Forbidden),
            "the service writes",
        );
        t.eq(
            tokens::userinfo(core, &access).await.unwrap(),
            None,
            "no userinfo without openid",
        );

        // A client learns about and revokes its own access tokens only.
        let active = |c: &OauthClient, tok: &str| {
            let (c, tok) = (c.clone(), tok.to_owned());
            async move { tokens::introspect(core, &c, &tok).await.unwrap()["active"].clone() }
        };
        t.eq(active(&svc, &access).await, json!(true), "its own token");
        t.eq(
            active(&other, &access).await,
            json!(false),
            "another client's token",
        );
        t.eq(active(&svc, "garbage").await, json!(false), "garbage");
        tokens::revoke(core, &other, &access).await.unwrap();
        t.eq(
            auth_kind(core, &access).await,
            None,
            "revoked by another client: unchanged",
        );
        tokens::revoke(core, &svc, &access).await.unwrap();
        t.eq(
            auth_kind(core, &access).await,
            Some(Kind::Unauthenticated),
            "revoked",
        );
        t.eq(
            active(&svc, &access).await,
            json!(false),
            "inactive once revoked",
        );
        t.finish("oauth: client credentials, revocation, introspection");
    })
}

#[test]
fn upload_tokens_never_exceed_the_credential_that_mints_them() {
    run(async {
        let f = fixture().await;
        let core = &f.core;
        let mut t = Tally::default();
        let (oid, _) = crate::access::object();
        let writer = f.user("writer");
        let one = format!("obj:acme/priv/{oid}:write");
        let p = |name: &str| f.principal(name).clone();
        let service = jwt(core, "svc", "dataset:acme/priv:write").await;
        let objects = pat(core, writer, "up-obj", "obj:acme/priv/*:write").await;
        let one = pat(core, writer, "up-one", &one).await;
        let read = pat(core, writer, "up-ds", "dataset:acme/priv:read").await;
        let (mint_read, mint_write) = (Ok("obj:acme/priv/*:read"), Ok("obj:acme/priv/*:write"));
        for (label, who, ds, want) in [
            ("reader", p("reader"), "priv", mint_read),
            ("writer", p("writer"), "priv", mint_write),
            ("outsider", p("outsider"), "pub", Ok("obj:acme/pub/*:read")),
            ("outsider", p("outsider"), "priv", Err(Kind::NotFound)),
            ("pathreader", p("pathreader"), "priv", Err(Kind::Forbidden)),
            (
                "anonymous",
                p("anonymous"),
                "pub",
                Err(Kind::Unauthenticated),
            ),
            ("a JWT", service, "priv", Err(Kind::Forbidden)),
            ("an obj token", objects, "priv", Err(Kind::Forbidden)),
            ("a one-object token", one, "priv", Err(Kind::Forbidden)),
            ("a dataset read token", read, "priv", mint_read),
        ] {
            let got = tokens::upload_token(core, &who, "acme", ds).await;
            let case = format!("{label} mints for acme/{ds}");
            t.eq(
                got.as_ref().map(|(_, s)| s.as_str()).map_err(|e| e.kind),
                want,
                &case,
            );
            let Ok((token, _)) = got else { continue };
            let minted = auth::authenticate(core, &token).await.unwrap();
            let objects = gate::open(
                core,
                &minted,
                "acme",
                ds,
                Action::Read,
                gate::Reach::Objects,
            );
            t.eq(
                kind(&objects.await),
                None,
                &format!("{case}: it reads objects"),
            );
            let meta = gate_kind(core, &minted, "acme", ds, Action::Read).await;
            t.eq(
                meta,
                Some(Kind::Forbidden),
                &format!("{case}: not the dataset"),
            );
            let again = tokens::upload_token(core, &minted, "acme", ds).await;
            t.eq(
                kind(&again),
                Some(Kind::Forbidden),
                &format!("{case}: it mints no other"),
            );
        }
        t.finish("oauth: upload tokens");
    })
}
