//! Shares with an e-mail address that has no account yet: listed as waiting, withdrawable, and
//! delivered as a share (with its notification) to the account that signs in through a provider
//! that verified that address; never to an unverified address, a password sign-up that typed it,
//! nor after its end date.

use serde_json::json;
use strata_core::config::Signup;

use super::PASSWORD;
use super::*;
use crate::common::idp::Idp;
use crate::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shares_with_an_address_reach_its_verified_owner() {
    let idp = Idp::start().await;
    let (rp, _, _dir) = relying_party(&idp, RULES, Signup::Open).await;
    let url = rp.url.as_str();
    strata::cli::admin::create_user(&rp.state, "alice", None, false)
        .await
        .unwrap();
    strata::cli::admin::set_password(&rp.state, "alice", PASSWORD)
        .await
        .unwrap();
    // Someone typed dana's address into a password account: it receives nothing.
    strata::cli::admin::create_user(&rp.state, "mallory", Some("dana@example.com"), false)
        .await
        .unwrap();
    let token = strata::cli::admin::create_token(&rp.state, "alice", "t", "*", None)
        .await
        .unwrap();
    let made = client()
        .post(format!("{url}/api/v1/datasets"))
        .bearer_auth(&token)
        .json(&json!({"namespace": "alice", "name": "survey"}))
        .send()
        .await
        .unwrap();
    assert_eq!(made.status(), 201);
    let mut alice = Browser::new(url);
    alice.login("alice", PASSWORD).await;
    let settings = "/datasets/alice/survey/settings";
    let csrf = alice.get(settings).await.hidden("csrf");
    let share = |who: &'static str, expires: &'static str| {
        vec![
            ("csrf", csrf.clone()),
            ("change", "share".to_owned()),
            ("path", String::new()),
            ("who", who.to_owned()),
            ("access", "read".to_owned()),
            ("expires", expires.to_owned()),
        ]
    };
    async fn post(b: &mut Browser, to: &str, form: Vec<(&'static str, String)>) -> Page {
        let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        b.post(to, &pairs).await
    }
    for bad in ["dana@", "@example.com", "da na@example.com", "dana@example"] {
        let r = post(&mut alice, settings, share(bad, "")).await;
        assert_eq!(r.status, 422, "{bad}: {}", r.text);
    }
    let r = post(
        &mut alice,
        settings,
        share("Dana@Example.com", "2099-12-31"),
    )
    .await;
    assert_eq!(r.status, 303, "{}", r.text);
    let r = post(&mut alice, settings, share("erin@example.com", "")).await;
    assert_eq!(r.status, 303, "{}", r.text);
    let page = alice.get(settings).await;
    assert!(
        page.text
            .contains("dana@example.com <span class=\"tag\">pending</span>")
            && page.text.contains("erin@example.com"),
        "{}",
        page.text
    );
    // Withdrawn: erin's invitation goes, and is never delivered.
    let at = page.text.find("erin@example.com").unwrap();
    let id = page.text[at..]
        .split("name=\"id\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let r = post(
        &mut alice,
        settings,
        vec![
            ("csrf", csrf.clone()),
            ("change", "uninvite".to_owned()),
            ("id", id),
        ],
    )
    .await;
    assert_eq!(r.status, 303, "{}", r.text);
    assert!(!alice.get(settings).await.text.contains("erin@example.com"));

    let repo = rp
        .state
        .db
        .repo_by_path("alice", "survey")
        .await
        .unwrap()
        .unwrap();
    let grantees = |rows: Vec<strata_core::db::ShareRow>| -> Vec<String> {
        rows.into_iter().map(|s| s.grantee).collect()
    };
    // The provider names the address but did not verify it: nothing delivered.
    let r = sign_in(url, &idp, |s| {
        idp.sign(&claims(
            &idp,
            s,
            "d-1",
            "dana",
            json!({"email": "dana@example.com", "email_verified": false}),
        ))
    })
    .await;
    assert_eq!(r.status(), 303);
    assert!(grantees(rp.state.db.shares(repo.id).await.unwrap()).is_empty());
    // Verified (in another case): the share is dana's, with its end date; the invitation gone.
    let r = sign_in(url, &idp, |s| {
        idp.sign(&claims(
            &idp,
            s,
            "d-1",
            "dana",
            json!({"email": "DANA@example.com", "email_verified": true}),
        ))
    })
    .await;
    assert_eq!(r.status(), 303);
    let shares = rp.state.db.shares(repo.id).await.unwrap();
    assert_eq!(grantees(shares.clone()), ["dana"]);
    assert!(shares[0].expires_at.is_some());
    assert!(!alice.get(settings).await.text.contains("pending"));
    // Dana reads the dataset now; mallory, who typed the address, does not.
    let session = set_cookie(&r, "strata_session").unwrap();
    let page = client()
        .get(format!("{url}/datasets/alice/survey"))
        .header("cookie", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let mallory = strata::cli::admin::create_token(&rp.state, "mallory", "t", "*", None)
        .await
        .unwrap();
    let r = client()
        .get(format!("{url}/api/v1/datasets/alice/survey"))
        .bearer_auth(&mallory)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    // Dana is told (the event's fan-out runs in the background).
    let dana = strata::cli::admin::create_token(&rp.state, "dana", "t", "*", None)
        .await
        .unwrap();
    let mut told = String::new();
    for _ in 0..100 {
        told = client()
            .get(format!("{url}/api/v1/notifications"))
            .bearer_auth(&dana)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if told.contains("share.granted") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        told.contains("share.granted") && told.contains("alice/survey"),
        "{told}"
    );
    // Signing in again delivers nothing twice.
    let r = sign_in(url, &idp, |s| {
        idp.sign(&claims(
            &idp,
            s,
            "d-1",
            "dana",
            json!({"email": "dana@example.com", "email_verified": true}),
        ))
    })
    .await;
    assert_eq!(r.status(), 303);
    assert_eq!(rp.state.db.shares(repo.id).await.unwrap().len(), 1);
}
