//! Accounts through a provider: found by subject never by email, safe usernames, the role and
//! membership mapping at every sign-in, linking and unlinking.

use serde_json::{json, Value};
use strata_core::config::Signup;

use super::PASSWORD;
use super::*;
use crate::common::idp::Idp;
use crate::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounts_come_from_the_subject_never_the_email() {
    let idp = Idp::start().await;
    let (rp, _, _dir) = relying_party(&idp, RULES, Signup::Open).await;
    let url = rp.url.as_str();
    strata::cli::admin::create_user(&rp.state, "bob", Some("bob@example.com"), true)
        .await
        .unwrap();
    strata::cli::admin::create_user(&rp.state, "Carol", None, false)
        .await
        .unwrap();
    // The provider vouches for bob's address and calls its user "bob": a new account.
    let r = sign_in(url, &idp, |s| {
        idp.sign(&claims(
            &idp,
            s,
            "evil-1",
            "bob",
            json!({"email": "bob@example.com", "email_verified": true}),
        ))
    })
    .await;
    assert_eq!(r.status(), 303);
    let session = set_cookie(&r, "strata_session").unwrap();
    assert_eq!(whoami(url, &session).await, "bob-2");
    assert_eq!(role(&rp, "bob").await, "admin");
    // Taken in another case, reserved, empty after cleaning, or hostile: a safe free name.
    for (sub, login, want) in [
        ("s-2", "carol", "carol-2"),
        ("s-3", "ADMIN", "admin-2"),
        ("s-4", "../../etc", "etc"),
        ("s-5", "日本語", "user"),
        ("s-6", "<b>x</b>", "b-x-b"),
    ] {
        let r = sign_in(url, &idp, |s| {
            idp.sign(&claims(&idp, s, sub, login, json!({})))
        })
        .await;
        assert_eq!(r.status(), 303, "{login}");
        let session = set_cookie(&r, "strata_session").unwrap();
        assert_eq!(whoami(url, &session).await, want, "{login}");
    }
    // The same subject again, under another name and address: the same account.
    let r = sign_in(url, &idp, |s| {
        idp.sign(&claims(
            &idp,
            s,
            "evil-1",
            "robert",
            json!({"email": "robert@example.com"}),
        ))
    })
    .await;
    let session = set_cookie(&r, "strata_session").unwrap();
    assert_eq!(whoami(url, &session).await, "bob-2");
    // Open sign-up without rules: the platform default role.
    assert_eq!(role(&rp, "bob-2").await, "scientist");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mapping_applies_at_every_sign_in() {
    let idp = Idp::start().await;
    let (rp, file, _dir) = relying_party(&idp, RULES, Signup::Admin).await;
    let url = rp.url.as_str();
    let owner = strata::cli::admin::create_user(&rp.state, "olga", None, false)
        .await
        .unwrap();
    let acme = rp.state.db.create_org("acme", owner.id).await.unwrap();
    rp.state.db.create_team(acme.id, "analysts").await.unwrap();
    let other = rp.state.db.create_org("other", owner.id).await.unwrap();
    let ops = rp.state.db.create_team(acme.id, "ops").await.unwrap();
    // Another admin: the rules may demote carol (the last admin never is; see the end).
    strata::cli::admin::create_user(&rp.state, "root", None, true)
        .await
        .unwrap();

    // Under `admin` sign-up, nobody the rules do not name gets in.
    let r = sign_in(url, &idp, |s| {
        idp.sign(&claims(&idp, s, "m-1", "mallory", json!({})))
    })
    .await;
    refused(r, 403, "ask an administrator").await;
    assert!(rp.state.db.user_by_name("mallory").await.unwrap().is_none());
    let log = rp.state.db.audit_entries(None, 5).await.unwrap();
    assert!(log
        .iter()
        .any(|e| e.event == "sso.refused" && e.actor.as_deref() == Some("sso:corp")));
    // An address is no username: `user = "carol"` does not match carol@anywhere.
    let r = sign_in(url, &idp, |s| {
        let extra =
            json!({"preferred_username": null, "email": "carol@evil.test", "email_verified": true});
        idp.sign(&claims(&idp, s, "e-1", "", extra))
    })
    .await;
    refused(r, 403, "ask an administrator").await;

    // carol, an admin on the staff: the highest role, the org and the team.
    let idp = &idp;
    let carol_claims = |groups: Value| {
        move |s: &Started| idp.sign(&claims(idp, s, "c-1", "carol", json!({ "groups": groups })))
    };
    let r = sign_in(url, idp, carol_claims(json!(["admins", "staff"]))).await;
    assert_eq!(r.status(), 303);
    assert_eq!(role(&rp, "carol").await, "admin");
    let carol = rp.state.db.user_by_name("carol").await.unwrap().unwrap();
    assert_eq!(
        rp.state.db.groups_of(carol.id).await.unwrap(),
        ["acme", "acme/analysts"]
    );
    // Memberships given by hand are not the rules' to take back: another organisation, and
    // another team of acme (so acme stays too).
    rp.state
        .db
        .set_org_member(other.id, carol.id, strata_core::db::OrgRole::Member)
        .await
        .unwrap();
    rp.state.db.add_team_member(ops, carol.id).await.unwrap();

    // Out of both groups at the provider: her own rule's role, and no rule membership.
    let r = sign_in(url, idp, carol_claims(json!([]))).await;
    assert_eq!(r.status(), 303);
    assert_eq!(role(&rp, "carol").await, "analyst");
    assert_eq!(
        rp.state.db.groups_of(carol.id).await.unwrap(),
        ["acme", "acme/ops", "other"]
    );

    // The mapping changes on disk: the next sign-in follows it, without a restart.
    let changed = RULES.replace("role = \"analyst\"", "role = \"viewer\"");
    std::fs::write(&file, config(idp, file.parent().unwrap(), &changed)).unwrap();
    let r = sign_in(url, idp, carol_claims(json!([]))).await;
    assert_eq!(r.status(), 303);
    assert_eq!(role(&rp, "carol").await, "viewer");
    // A broken file keeps the last good one.
    std::fs::write(&file, "[[provider]]\nid = 3").unwrap();
    let r = sign_in(url, idp, carol_claims(json!(["admins"]))).await;
    assert_eq!(r.status(), 303);
    assert_eq!(role(&rp, "carol").await, "admin");
    // The last admin is never demoted by the rules.
    let root = rp.state.db.user_by_name("root").await.unwrap().unwrap();
    rp.state.db.set_role(root.id, "scientist").await.unwrap();
    let r = sign_in(url, idp, carol_claims(json!([]))).await;
    assert_eq!(r.status(), 303);
    assert_eq!(role(&rp, "carol").await, "admin");
    let events: Vec<String> = rp
        .state
        .db
        .audit_entries(None, 50)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.event)
        .collect();
    for e in [
        "sso.signup",
        "sso.role",
        "sso.membership.add",
        "sso.membership.remove",
        "sso.login",
    ] {
        assert!(events.iter().any(|x| x == e), "{e} in {events:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn linking_takes_the_signed_in_account() {
    let idp = Idp::start().await;
    // A default role for the provider's users: it must not demote an account that links.
    let rules = format!("default_role = \"viewer\"\n{RULES}");
    let (rp, _, _dir) = relying_party(&idp, &rules, Signup::Admin).await;
    let url = rp.url.as_str();
    for name in ["dave", "erin"] {
        strata::cli::admin::create_user(&rp.state, name, None, false)
            .await
            .unwrap();
        strata::cli::admin::set_password(&rp.state, name, PASSWORD)
            .await
            .unwrap();
    }
    let (dave, dave_csrf) = browser_session(url, "dave", PASSWORD).await;
    let link = |cookie: &str, csrf: &str| {
        client()
            .post(format!("{url}/settings/identities/corp"))
            .header("cookie", cookie)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("csrf={csrf}"))
            .send()
    };
    // Without the session's CSRF token, no link starts.
    assert_eq!(link(&dave, "nope").await.unwrap().status(), 403);
    let s = started(link(&dave, &dave_csrf).await.unwrap(), url, "corp").await;
    idp.answer_with(&idp.sign(&claims(&idp, &s, "d-1", "dave.at.corp", json!({}))));
    let cookies = format!("{dave}; {}", s.cookie);
    let r = back(url, "corp", &[("code", "c"), ("state", &s.state)], &cookies).await;
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/settings#sign-in");
    let settings = client()
        .get(format!("{url}/settings"))
        .header("cookie", &dave)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(settings.contains("dave.at.corp") && settings.contains("Corp ID"));
    assert_eq!(role(&rp, "dave").await, "scientist");

    // Now the provider signs dave in, even though sign-up is closed and no rule names him.
    let r = sign_in(url, &idp, |s| {
        idp.sign(&claims(&idp, s, "d-1", "dave.at.corp", json!({})))
    })
    .await;
    assert_eq!(r.status(), 303);
    assert_eq!(
        whoami(url, &set_cookie(&r, "strata_session").unwrap()).await,
        "dave"
    );
    assert_eq!(role(&rp, "dave").await, "scientist");

    // erin cannot take the identity dave linked.
    let (erin, erin_csrf) = browser_session(url, "erin", PASSWORD).await;
    let s = started(link(&erin, &erin_csrf).await.unwrap(), url, "corp").await;
    idp.answer_with(&idp.sign(&claims(&idp, &s, "d-1", "dave.at.corp", json!({}))));
    let cookies = format!("{erin}; {}", s.cookie);
    let r = back(url, "corp", &[("code", "c"), ("state", &s.state)], &cookies).await;
    refused(r, 409, "already linked to another strata account").await;
    // A link started by dave cannot finish in a browser signed in as erin.
    let s = started(link(&dave, &dave_csrf).await.unwrap(), url, "corp").await;
    idp.answer_with(&idp.sign(&claims(&idp, &s, "d-2", "x", json!({}))));
    let cookies = format!("{erin}; {}", s.cookie);
    let r = back(url, "corp", &[("code", "c"), ("state", &s.state)], &cookies).await;
    refused(r, 403, "Sign in to the account you want to link").await;
    let identity = rp.state.db.identity(&idp.url, "d-2").await.unwrap();
    assert!(identity.is_none());

    // An account whose only way in is its provider keeps it; dave (with a password) may unlink.
    let unlink = |cookie: String, csrf: String, subject: &'static str| {
        let body = serde_urlencoded::to_string([
            ("csrf", csrf.as_str()),
            ("issuer", idp.url.as_str()),
            ("subject", subject),
        ])
        .unwrap();
        client()
            .post(format!("{url}/settings/identities/unlink"))
            .header("cookie", cookie)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
    };
    let r = sign_in(url, &idp, |s| {
        idp.sign(&claims(&idp, s, "c-1", "carol", json!({})))
    })
    .await;
    let carol = set_cookie(&r, "strata_session").unwrap();
    let html = client()
        .get(format!("{url}/settings"))
        .header("cookie", &carol)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let at = html.find("name=\"csrf\" value=\"").unwrap() + 19;
    let carol_csrf = html[at..at + 64].to_owned();
    assert!(html.contains("your only way in") && html.contains("Set a password"));
    let r = unlink(carol.clone(), carol_csrf.clone(), "c-1")
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    assert!(rp
        .state
        .db
        .identity(&idp.url, "c-1")
        .await
        .unwrap()
        .is_some());
    // Nobody unlinks another account's identity.
    let r = unlink(dave.clone(), dave_csrf.clone(), "c-1")
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = unlink(dave.clone(), dave_csrf.clone(), "d-1")
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert!(rp
        .state
        .db
        .identity(&idp.url, "d-1")
        .await
        .unwrap()
        .is_none());

    // carol sets a password (she has none to give as the current one), signs in with it, and
    // may then unlink.
    let new = "carol's own password";
    let body = serde_urlencoded::to_string([
        ("csrf", carol_csrf.as_str()),
        ("current", ""),
        ("new", new),
        ("new2", new),
    ])
    .unwrap();
    let r = client()
        .post(format!("{url}/settings/password"))
        .header("cookie", &carol)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (carol, carol_csrf) = browser_session(url, "carol", new).await;
    let r = unlink(carol, carol_csrf, "c-1").await.unwrap();
    assert_eq!(r.status(), 303);
}
