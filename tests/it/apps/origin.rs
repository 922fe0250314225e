//! Apps on their own origin (`--apps-origin`): strata at `http://127.0.0.1:{port}`, apps at
//! `http://localhost:{port}` (the same server under another host name, so another origin). A
//! signed-in visitor goes over with a one-minute ticket and comes back with a cookie for that one
//! app's path; strata's session never reaches the apps origin, nor the app's cookie the app.

use serde_json::Value;

use super::{echo_manifest, eventually, expect_error, session_of, Lab};
use crate::common::*;

fn set_cookie(r: &reqwest::Response) -> String {
    r.headers()["set-cookie"].to_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_ticket_from_strata_becomes_a_cookie_for_one_app_on_the_apps_origin() {
    let lab = Lab::start(|c| {
        c.apps_same_origin = false;
        c.apps_origin = Some(format!("http://localhost:{}", c.listen.port()));
    })
    .await;
    let port = lab
        .server
        .state
        .settings
        .public_url
        .rsplit(':')
        .next()
        .unwrap()
        .to_owned();
    let apps = format!("http://localhost:{port}");
    lab.add(&echo_manifest("echo", "", "")).await;
    lab.install(&lab.alice, "echo", &["dataset:*:read"]).await;
    lab.install(&lab.bob, "echo", &["dataset:*:read"]).await;
    let (cookie, csrf) = session_of(&lab, "alice").await;
    // On strata's origin, the session buys a ticket to the apps origin.
    let r = client()
        .get(lab.url("/apps/alice/echo/headers"))
        .header("cookie", &cookie)
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let enter = r.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        enter.starts_with(&format!("{apps}/_apps/enter?ticket=")),
        "{enter}"
    );
    // The ticket becomes a cookie limited to the app's path.
    let r = client().get(&enter).send().await.unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/apps/alice/echo/headers");
    let set = set_cookie(&r);
    assert!(set.starts_with("strata_app="), "{set}");
    for attribute in ["Path=/apps/alice/echo/;", "HttpOnly;", "SameSite=Lax;"] {
        assert!(set.contains(attribute), "{set}");
    }
    let app_cookie = set.split(';').next().unwrap().to_owned();
    let seen = std::sync::Mutex::new(None);
    eventually("the app answered on its origin", || async {
        let r = client()
            .get(format!("{apps}/apps/alice/echo/headers"))
            .header("cookie", format!("{app_cookie}; theirs=2"))
            .send()
            .await
            .unwrap();
        assert!(matches!(r.status().as_u16(), 200 | 503), "{}", r.status());
        if r.status() == 200 {
            *seen.lock().unwrap() = Some(r.json::<Value>().await.unwrap());
        }
        seen.lock().unwrap().is_some()
    })
    .await;
    let seen = seen.into_inner().unwrap().unwrap();
    assert_eq!(seen["cookie"], "theirs=2");
    assert_eq!(seen["x-strata-user"], "alice");
    // Without the cookie, or with alice's cookie on bob's app: back to strata for a ticket.
    for (path, with) in [
        ("/apps/alice/echo/headers", None),
        ("/apps/bob/echo/headers", Some(&app_cookie)),
    ] {
        let mut r = client()
            .get(format!("{apps}{path}"))
            .header("accept", "text/html");
        if let Some(c) = with {
            r = r.header("cookie", c);
        }
        let r = r.send().await.unwrap();
        assert_eq!(r.status(), 303, "{path}");
        assert_eq!(r.headers()["location"], lab.url(path).as_str());
    }
    // The session cookie means nothing on the apps origin.
    let r = client()
        .get(format!("{apps}/apps/alice/echo/headers"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // Tickets: forged, or leading out of the app, or used on strata's origin.
    let forged = enter.replace("ticket=", "ticket=x");
    expect_error(client().get(&forged).send().await.unwrap(), 403, "expired").await;
    let out = enter.replace(
        "next=%2Fapps%2Falice%2Fecho%2Fheaders",
        "next=%2Fapps%2Fbob%2Fecho%2F",
    );
    expect_error(
        client().get(&out).send().await.unwrap(),
        400,
        "under the app",
    )
    .await;
    // Dot segments, plain or encoded, and encoded slashes lead out of the app no more.
    let with_next = |next: &str| {
        let q = serde_urlencoded::to_string([("next", next)]).unwrap();
        enter.replace("next=%2Fapps%2Falice%2Fecho%2Fheaders", &q)
    };
    for next in [
        "/apps/alice/echo/../../bob/echo/",
        "/apps/alice/echo/%2e%2e/%2E%2E/bob/echo/",
        "/apps/alice/echo/.%2e/.%2e/bob/echo/",
        "/apps/alice/echo/..%2f..%2fbob/echo/",
    ] {
        let r = client().get(with_next(next)).send().await.unwrap();
        expect_error(r, 400, "under the app").await;
    }
    let r = client()
        .get(with_next("/apps/alice/echo/x/%2e%2e/headers"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/apps/alice/echo/headers");
    let crlf = enter.replace(
        "next=%2Fapps%2Falice%2Fecho%2Fheaders",
        "next=%2Fapps%2Falice%2Fecho%2F%0D%0ASet-Cookie%3A%20x%3D1",
    );
    expect_error(
        client().get(&crlf).send().await.unwrap(),
        400,
        "under the app",
    )
    .await;
    let here = enter.replace(&apps, &lab.server.url);
    assert_eq!(client().get(&here).send().await.unwrap().status(), 404);
    // The apps origin serves apps only: no strata page or API a session could live on.
    for path in ["/login", "/api/v1/datasets", "/settings", "/"] {
        let r = client().get(format!("{apps}{path}")).send().await.unwrap();
        assert_eq!(r.status(), 404, "{path}");
    }
    // Signing out of strata ends the app's cookie too.
    let r = client()
        .post(lab.url("/logout"))
        .header("cookie", &cookie)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await; // the proxy's second
    let r = client()
        .get(format!("{apps}/apps/alice/echo/headers"))
        .header("cookie", &app_cookie)
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303, "the app cookie outlived the session");
    // API clients with a token are served on either origin.
    let r = lab.get_ready(&lab.alice, "/apps/alice/echo/health").await;
    assert_eq!(r.status(), 200);
}

/// With `--apps-origin http://*.localhost:{port}`, each instance answers on its own host, so a
/// page of one instance cannot script another: alice's cookie, ticket and app stay on hers.
#[tokio::test]
async fn a_wildcard_apps_origin_gives_each_instance_its_own() {
    let lab = Lab::start(|c| {
        c.apps_same_origin = false;
        c.apps_origin = Some(format!("http://*.localhost:{}", c.listen.port()));
    })
    .await;
    let addr: std::net::SocketAddr = lab
        .server
        .url
        .trim_start_matches("http://")
        .parse()
        .unwrap();
    let port = addr.port();
    lab.add(&echo_manifest("echo", "", "")).await;
    lab.install(&lab.alice, "echo", &["dataset:*:read"]).await;
    let (s, v) = lab.install(&lab.bob, "echo", &["dataset:*:read"]).await;
    assert_eq!(s, 200, "{v}");
    let alice_host = format!(
        "{}.localhost",
        strata_core::apps::instance_label("alice", "echo")
    );
    let bob_host = format!(
        "{}.localhost",
        strata_core::apps::instance_label("bob", "echo")
    );
    assert_ne!(alice_host, bob_host);
    assert_eq!(
        v["url"],
        format!("http://{bob_host}:{port}/apps/bob/echo/").as_str()
    );
    // Host names under .localhost resolve to this machine.
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .resolve(&alice_host, addr)
        .resolve(&bob_host, addr)
        .build()
        .unwrap();
    let (cookie, _) = session_of(&lab, "alice").await;
    let r = browser
        .get(lab.url("/apps/alice/echo/headers"))
        .header("cookie", &cookie)
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let enter = r.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        enter.starts_with(&format!("http://{alice_host}:{port}/_apps/enter?")),
        "{enter}"
    );
    // alice's ticket is good on her instance's host only.
    let elsewhere = enter.replace(&alice_host, &bob_host);
    expect_error(
        browser.get(&elsewhere).send().await.unwrap(),
        404,
        "another app",
    )
    .await;
    let r = browser.get(&enter).send().await.unwrap();
    assert_eq!(r.status(), 303);
    let app_cookie = set_cookie(&r).split(';').next().unwrap().to_owned();
    eventually("alice's app answered on its host", || async {
        let r = browser
            .get(format!(
                "http://{alice_host}:{port}/apps/alice/echo/headers"
            ))
            .header("cookie", &app_cookie)
            .send()
            .await
            .unwrap();
        assert!(matches!(r.status().as_u16(), 200 | 503), "{}", r.status());
        r.status() == 200
    })
    .await;
    // Another instance's host does not serve alice's app, with or without her cookie; nor does
    // any host serve strata itself.
    let r = browser
        .get(format!("http://{bob_host}:{port}/apps/alice/echo/headers"))
        .header("cookie", &app_cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = browser
        .get(format!("http://{bob_host}:{port}/api/v1/datasets"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}
