//! Personal access tokens: made with a name and scopes (empty, too long and duplicate names,
//! malformed scopes refused; the same name for another user allowed), authenticated as their user
//! with their scopes, revoked (and their name free again), expired, and secrets that are no token.

use strata_core::accounts;
use strata_core::auth::{self, Principal, Role};
use strata_core::error::Kind;

use crate::common::*;

#[test]
fn personal_access_tokens_are_named_scoped_revoked_and_expire() {
    run(async {
        let f = fixture().await;
        let core = &f.core;
        let mut t = Tally::default();
        let user = new_user(core, "tokenuser", Role::Scientist).await;
        let make = |name: &str, scopes: &str, days: Option<i64>| {
            let (user, name, scopes) = (user.clone(), name.to_owned(), scopes.to_owned());
            async move {
                let made = accounts::create_token(core, "tokenuser", &user, &name, &scopes, days);
                made.await
            }
        };
        let secret = make("laptop", "dataset:tokenuser/*:write", Some(30))
            .await
            .expect("a token");
        t.eq(
            secret.starts_with("stp_"),
            true,
            "a personal access token's prefix",
        );
        match auth::authenticate(core, &secret).await {
            Ok(Principal::User {
                user: u, scopes, ..
            }) => {
                t.eq(u.id, user.id, "the token's user");
                t.eq(
                    scopes.to_string(),
                    "dataset:tokenuser/*:write".to_owned(),
                    "its scopes",
                );
            }
            other => t.check(false, || {
                format!("the token authenticates as its user: {other:?}")
            }),
        }
        let long = "n".repeat(101);
        let cases: Vec<(&str, &str, Option<i64>, Kind)> = vec![
            ("laptop", "*", None, Kind::Conflict),
            ("", "*", None, Kind::Invalid),
            ("   ", "*", None, Kind::Invalid),
            (&long, "*", None, Kind::Invalid),
            ("bad-scope", "repo:a/b", None, Kind::Invalid),
            ("bad-action", "obj:a/b/*:fly", None, Kind::Invalid),
            ("dotdot", "dataset:a/../b:read", None, Kind::Invalid),
            ("empty-seg", "obj:a//b", None, Kind::Invalid),
            ("colons", "obj:a/b/*:read:write", None, Kind::Invalid),
        ];
        for (name, scopes, days, want) in cases {
            let got = make(name, scopes, days).await;
            t.eq(
                kind(&got),
                Some(want),
                &format!("token {name:?} with {scopes:?}"),
            );
        }
        // Another user may use the same name.
        let other = new_user(core, "tokenother", Role::Viewer).await;
        let theirs = accounts::create_token(core, "tokenother", &other, "laptop", "*", None).await;
        t.eq(kind(&theirs), None, "the same name for another user");

        t.eq(
            accounts::revoke_token(core, &user, "laptop").await.unwrap(),
            true,
            "revoked",
        );
        t.eq(
            accounts::revoke_token(core, &user, "laptop").await.unwrap(),
            false,
            "revoked twice",
        );
        t.eq(
            accounts::revoke_token(core, &user, "never-made")
                .await
                .unwrap(),
            false,
            "never made",
        );
        t.eq(
            kind(&auth::authenticate(core, &secret).await),
            Some(Kind::Unauthenticated),
            "a revoked token",
        );
        let again = make("laptop", "*", None).await;
        t.eq(kind(&again), None, "a revoked token's name is free again");

        let expired = make("expired", "*", Some(-1)).await.unwrap();
        t.eq(
            kind(&auth::authenticate(core, &expired).await),
            Some(Kind::Unauthenticated),
            "an expired token",
        );
        let listed = accounts::overview(core, &user).await.unwrap().tokens;
        let names: Vec<&str> = listed.iter().map(|t| t.name.as_str()).collect();
        t.eq(names, vec!["laptop"], "the live tokens");
        for bogus in ["stp_0000", "not-a-token", "a.b.c", "", "stp_"] {
            let got = auth::authenticate(core, bogus).await;
            t.eq(
                kind(&got),
                Some(Kind::Unauthenticated),
                &format!("secret {bogus:?}"),
            );
        }
        t.finish("accounts: tokens");
    })
}
