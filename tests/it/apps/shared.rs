//! Shared instances (Columbus): an organisation's owner publishes one instance of an app for the
//! organisation's members, then for everyone, served at the app's own host
//! (`echo.localhost:{port}` beside the apps origin `localhost:{port}`), kept apart from every
//! personal instance, acting with the publisher's consent; members get in (a token, or a browser
//! through the ticket), strangers do not until it is public, anonymous visitors then too; it ends
//! with the publisher's uninstall. And what nobody may do: publish without owning the
//! organisation or without installing the app, take another organisation's app, name a host
//! that looks like a personal instance's, or reach it on another host.

use serde_json::{json, Value};

use super::{echo_manifest, eventually, expect_error, session_of, Lab, START_BOUND};
use crate::common::*;

/// A client that finds `echo.localhost` on this machine.
fn shared_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .resolve("echo.localhost", ([127, 0, 0, 1], 0).into())
        .build()
        .unwrap()
}

/// One GET of `url` (on any host of this server) with a token, a cookie header, or neither.
async fn get(url: &str, token: Option<&str>, cookie: Option<&str>) -> reqwest::Response {
    let mut r = shared_client().get(url);
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    if let Some(c) = cookie {
        r = r.header("cookie", c);
    }
    r.send().await.unwrap()
}

/// [`get`], retrying while the instance starts.
async fn ready(url: &str, token: Option<&str>, cookie: Option<&str>) -> reqwest::Response {
    let deadline = tokio::time::Instant::now() + START_BOUND;
    loop {
        let r = get(url, token, cookie).await;
        if r.status() != 503 {
            return r;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{url} never started"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

async fn publish(lab: &Lab, token: &str, org: &str, app: &str, body: Value) -> reqwest::Response {
    client()
        .put(lab.url(&format!("/api/v1/orgs/{org}/apps/{app}")))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn an_organisations_shared_instance_at_its_own_host_for_members_then_everyone() {
    let lab = Lab::start(|c| {
        c.apps_same_origin = false;
        c.apps_origin = Some(format!("http://localhost:{}", c.listen.port()));
    })
    .await;
    let port = lab.server.url.rsplit(':').next().unwrap().to_owned();
    let shared = format!("http://echo.localhost:{port}");
    let carol = lab.server.user("carol").await;
    // acme: alice owns it, bob is a member, carol is not.
    let r = client()
        .post(lab.url("/api/v1/orgs"))
        .bearer_auth(&lab.steward)
        .json(&json!({"name": "acme"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    for (who, role) in [("alice", "owner"), ("bob", "member")] {
        let r = client()
            .put(lab.url(&format!("/api/v1/orgs/acme/members/{who}")))
            .bearer_auth(&lab.steward)
            .json(&json!({ "role": role }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 204);
    }
    lab.add(&echo_manifest("echo", "", "")).await;
    lab.alice_data().await;

    // Refusals before anything is published.
    let r = publish(&lab, &lab.alice, "acme", "echo", json!({})).await;
    expect_error(r, 409, "install echo first").await;
    let (s, v) = lab.install(&lab.alice, "echo", &["dataset:*:read"]).await;
    assert!((200..300).contains(&s), "{v}");
    let r = publish(&lab, &lab.bob, "acme", "echo", json!({})).await;
    expect_error(r, 403, "only owners of acme").await;
    let r = publish(&lab, &lab.alice, "nowhere", "echo", json!({})).await;
    expect_error(r, 404, "nowhere").await;
    let r = publish(&lab, &lab.alice, "acme", "app-bob-echo-0123", json!({})).await;
    expect_error(r, 422, "personal instance").await;
    let r = publish(&lab, &lab.alice, "acme", "echo", json!({"public": "yes"})).await;
    assert_eq!(r.status(), 422, "{}", r.text().await.unwrap());
    let r = publish(&lab, &lab.alice, "acme", "echo", json!({"everyone": true})).await;
    assert_eq!(r.status(), 422, "{}", r.text().await.unwrap());

    // Published for acme's members.
    let r = publish(&lab, &lab.alice, "acme", "echo", json!({"public": false})).await;
    let (s, _, v) = body(r).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["url"], format!("{shared}/").as_str());
    assert_eq!(
        (v["org"].as_str(), v["public"].as_bool()),
        (Some("acme"), Some(false))
    );
    assert_eq!(v["published_by"], "alice");
    let listed = |token: String, path: &'static str| {
        let lab = &lab;
        async move {
            let (s, _, v) = body(lab.get(&token, path).await).await;
            (s, v)
        }
    };
    let (s, v) = listed(lab.bob.clone(), "/api/v1/user/shared-apps").await;
    assert_eq!(
        (s, v[0]["app"].as_str(), v.as_array().unwrap().len()),
        (200, Some("echo"), 1)
    );
    assert_eq!(
        listed(carol.clone(), "/api/v1/user/shared-apps").await.1,
        json!([])
    );
    assert_eq!(
        listed(lab.bob.clone(), "/api/v1/orgs/acme/apps").await.1[0]["app"],
        "echo"
    );
    assert_eq!(listed(carol.clone(), "/api/v1/orgs/acme/apps").await.0, 404);
    // Another organisation cannot take the app's host.
    let r = client()
        .post(lab.url("/api/v1/orgs"))
        .bearer_auth(&lab.steward)
        .json(&json!({"name": "beta"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    lab.install(&lab.steward, "echo", &["dataset:*:read"]).await;
    let r = publish(&lab, &lab.steward, "beta", "echo", json!({"public": true})).await;
    expect_error(r, 409, "another organisation").await;

    // Its host does not announce an organisation's instance; a member gets in with a token, as
    // themselves, in the instance kept under acme (its own directory), acting with alice's consent.
    let r = get(&format!("{shared}/"), None, None).await;
    expect_error(r, 404, "apps only").await;
    let r = ready(
        &format!("{shared}/apps/acme/echo/headers"),
        Some(&lab.bob),
        None,
    )
    .await;
    assert_eq!(r.status(), 200);
    let seen: Value = r.json().await.unwrap();
    assert_eq!(seen["x-strata-user"], "bob");
    assert!(seen.get("authorization").is_none());
    let env: Value = ready(
        &format!("{shared}/apps/acme/echo/env"),
        Some(&lab.bob),
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(env["STRATA_BASE_URL"], "/apps/acme/echo/");
    assert_eq!(env["STRATA_USER"], "acme");
    assert!(
        env["HOME"].as_str().unwrap().ends_with("/apps/acme/echo"),
        "{env}"
    );
    let q =
        serde_urlencoded::to_string([("url", lab.url("/api/v1/datasets/alice/data/raw/x.csv"))])
            .unwrap();
    let v: Value = ready(
        &format!("{shared}/apps/acme/echo/read?{q}"),
        Some(&lab.bob),
        None,
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(
        (v["status"].as_i64(), v["body"].as_str()),
        (Some(200), Some("a,b\n1,2\n"))
    );
    // Not a member: refused; nobody: sent to strata to sign in (a browser) or told to (an API).
    let r = get(
        &format!("{shared}/apps/acme/echo/headers"),
        Some(&carol),
        None,
    )
    .await;
    expect_error(r, 404, "no app").await;
    let r = get(&format!("{shared}/apps/acme/echo/headers"), None, None).await;
    assert_eq!(r.status(), 401);
    // Only at its own host: not on the apps origin, and no personal instance on its host.
    let r = get(
        &format!("http://localhost:{port}/apps/acme/echo/headers"),
        Some(&lab.bob),
        None,
    )
    .await;
    expect_error(r, 404, "another app").await;
    let r = get(
        &format!("{shared}/apps/alice/echo/headers"),
        Some(&lab.alice),
        None,
    )
    .await;
    expect_error(r, 404, "another app").await;
    let r = get(&format!("{shared}/api/v1/user"), None, None).await;
    expect_error(r, 404, "apps only").await;

    // A member's browser: from strata's origin with its session, over with a ticket, back with a
    // cookie for this instance's path on its host.
    let (cookie, _) = session_of(&lab, "bob").await;
    let r = client()
        .get(lab.url("/apps/acme/echo/headers"))
        .header("cookie", &cookie)
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let enter = r.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        enter.starts_with(&format!("{shared}/_apps/enter?ticket=")),
        "{enter}"
    );
    let r = get(&enter, None, None).await;
    assert_eq!(r.status(), 303);
    let set = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(set.contains("Path=/apps/acme/echo/;"), "{set}");
    let app_cookie = set.split(';').next().unwrap().to_owned();
    let r = ready(
        &format!("{shared}/apps/acme/echo/headers"),
        None,
        Some(&app_cookie),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["x-strata-user"], "bob");
    // The ticket is no key to the apps origin's personal instances.
    let r = client()
        .get(enter.replace(&shared, &format!("http://localhost:{port}")))
        .send()
        .await
        .unwrap();
    expect_error(r, 404, "another app").await;

    // A publisher who no longer owns the organisation speaks for it no more.
    let role = |role: &'static str| {
        let lab = &lab;
        async move {
            let r = client()
                .put(lab.url("/api/v1/orgs/acme/members/alice"))
                .bearer_auth(&lab.steward)
                .json(&json!({ "role": role }))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 204);
        }
    };
    role("member").await;
    let r = get(
        &format!("{shared}/apps/acme/echo/headers"),
        Some(&lab.bob),
        None,
    )
    .await;
    expect_error(r, 404, "no app").await;
    role("owner").await;

    // Public: only a site admin may open it to everyone (it then acts with their consent, the
    // instance alice's token ran in ended first); carol, and anyone at all, get in; its host
    // leads to it; an anonymous request on strata's origin is sent to the instance's host.
    let r = publish(&lab, &lab.alice, "acme", "echo", json!({"public": true})).await;
    expect_error(r, 403, "site admin").await;
    let r = publish(&lab, &lab.steward, "acme", "echo", json!({"public": true})).await;
    let (s, _, v) = body(r).await;
    assert_eq!(
        (s, v["published_by"].as_str()),
        (200, Some("steward")),
        "{v}"
    );
    let r = get(&format!("{shared}/"), None, None).await;
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/apps/acme/echo/");
    assert_eq!(
        listed(carol.clone(), "/api/v1/user/shared-apps").await.1[0]["app"],
        "echo"
    );
    let r = ready(
        &format!("{shared}/apps/acme/echo/headers"),
        Some(&carol),
        None,
    )
    .await;
    assert_eq!(r.json::<Value>().await.unwrap()["x-strata-user"], "carol");
    let r = ready(&format!("{shared}/apps/acme/echo/headers"), None, None).await;
    assert_eq!(r.status(), 200);
    let seen: Value = r.json().await.unwrap();
    assert!(seen.get("x-strata-user").is_none(), "{seen}");
    let r = client()
        .get(lab.url("/apps/acme/echo/headers"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 308);
    assert_eq!(
        r.headers()["location"],
        format!("{shared}/apps/acme/echo/headers").as_str()
    );
    // A header from the visitor that could pass for strata's is still dropped.
    let r = shared_client()
        .get(format!("{shared}/apps/acme/echo/headers"))
        .header("x-strata-user", "alice")
        .send()
        .await
        .unwrap();
    assert!(r
        .json::<Value>()
        .await
        .unwrap()
        .get("x-strata-user")
        .is_none());

    // Back to alice's install, for acme only; her uninstall ends it, with what it kept.
    let r = publish(&lab, &lab.alice, "acme", "echo", json!({"public": false})).await;
    assert_eq!(r.status(), 200);
    let r = ready(
        &format!("{shared}/apps/acme/echo/headers"),
        Some(&lab.bob),
        None,
    )
    .await;
    assert_eq!(r.status(), 200);
    let home = lab.server.dir.path().join("data/apps/acme/echo");
    let token_dir = lab.server.dir.path().join("data/app-tokens/acme/echo");
    assert!(token_dir.exists());
    assert!(home.exists());
    let r = client()
        .delete(lab.url("/api/v1/user/apps/echo"))
        .bearer_auth(&lab.alice)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let r = get(
        &format!("{shared}/apps/acme/echo/headers"),
        Some(&lab.bob),
        None,
    )
    .await;
    expect_error(r, 404, "no app").await;
    assert_eq!(
        listed(lab.bob.clone(), "/api/v1/orgs/acme/apps").await.1,
        json!([])
    );
    assert!(!home.exists() && !token_dir.exists());

    // Published again, then ended by its owner: gone, and gone once only.
    lab.install(&lab.alice, "echo", &["dataset:*:read"]).await;
    assert_eq!(
        publish(&lab, &lab.alice, "acme", "echo", json!({}))
            .await
            .status(),
        200
    );
    eventually("the instance answers again", || async {
        ready(
            &format!("{shared}/apps/acme/echo/headers"),
            Some(&lab.bob),
            None,
        )
        .await
        .status()
            == 200
    })
    .await;
    for status in [204, 404] {
        let r = client()
            .delete(lab.url("/api/v1/orgs/acme/apps/echo"))
            .bearer_auth(&lab.alice)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), status);
    }
    let r = get(&format!("{shared}/"), None, None).await;
    expect_error(r, 404, "apps only").await;
    // Without --apps-origin there is no host to publish at.
    let same = Lab::start(|_| {}).await;
    let r = client()
        .post(same.url("/api/v1/orgs"))
        .bearer_auth(&same.steward)
        .json(&json!({"name": "acme"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    same.add(&echo_manifest("echo", "", "")).await;
    same.install(&same.steward, "echo", &["dataset:*:read"])
        .await;
    let r = publish(&same, &same.steward, "acme", "echo", json!({})).await;
    expect_error(r, 409, "--apps-origin").await;
}
