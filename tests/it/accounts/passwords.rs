//! Accounts in the browser, driven over HTTP like a browser would (cookies kept by hand): login,
//! logout, sign-up modes, password change, tokens made in the settings page, and the hostile
//! cases: CSRF, session fixation, user enumeration, brute force. The audit log records them.

use crate::common::*;
use serde_json::json;

#[tokio::test]
async fn login_settings_tokens_and_logout() {
    let server = server_with_alice().await;
    let mut b = Browser::new(&server.url);
    let page = b.login("alice", PASSWORD).await;
    assert_eq!(page.status, 303, "{}", page.text);
    assert_eq!(page.headers["location"], "/");
    let cookie = page
        .set_cookies()
        .into_iter()
        .find(|c| c.starts_with("strata_session="))
        .unwrap();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );

    let settings = b.get("/settings").await;
    assert_eq!(settings.status, 200);
    assert!(settings
        .text
        .contains("Signed in as <strong>alice</strong>"));
    let csrf = settings.hidden("csrf");

    // A token made in the browser works for the API and for git-lfs.
    let made = b
        .post(
            "/settings/tokens",
            &[
                ("csrf", &csrf),
                ("name", "laptop"),
                ("scopes", "*"),
                ("expires_in_days", "30"),
            ],
        )
        .await;
    assert_eq!(made.status, 200, "{}", made.text);
    let at = made.text.find("id=\"new-token\">").unwrap() + "id=\"new-token\">".len();
    let token = made.text[at..].split('<').next().unwrap().to_owned();
    assert!(token.starts_with("stp_"));
    server
        .repo("alice/r", strata_core::db::Visibility::Private)
        .await;
    let api = client()
        .get(format!("{}/api/v1/datasets/alice/r", server.url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), 200);
    let revoked = b
        .post(
            "/settings/tokens/revoke",
            &[("csrf", &csrf), ("name", "laptop")],
        )
        .await;
    assert_eq!(revoked.status, 303);
    let api = client()
        .get(format!("{}/api/v1/datasets/alice/r", server.url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), 401);

    // The session works for API reads; API writes also need the CSRF header.
    let session = b.cookie_header();
    let read = client()
        .get(format!("{}/api/v1/datasets/alice/r", server.url))
        .header("cookie", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), 200);
    let write = |csrf: Option<&str>| {
        let mut req = client()
            .post(format!("{}/api/v1/datasets/alice/r/branches", server.url))
            .header("cookie", &session)
            .json(&json!({"name": "x"}));
        if let Some(c) = csrf {
            req = req.header("x-csrf-token", c);
        }
        req.send()
    };
    assert_eq!(write(None).await.unwrap().status(), 403, "no CSRF header");
    assert_eq!(
        write(Some("0000")).await.unwrap().status(),
        403,
        "wrong CSRF header"
    );
    // (404: the dataset has no revision to branch from; past the CSRF check.)
    assert_eq!(write(Some(&csrf)).await.unwrap().status(), 404);

    // Logout needs the CSRF token, then the session is gone.
    let page = b.post("/logout", &[("csrf", "nope")]).await;
    assert_eq!(page.status, 403);
    let page = b.post("/logout", &[("csrf", &csrf)]).await;
    assert_eq!(page.status, 303);
    let read = client()
        .get(format!("{}/api/v1/datasets/alice/r", server.url))
        .header("cookie", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), 401, "the old session cookie is dead");
    assert_eq!(b.get("/settings").await.status, 303);
}

#[tokio::test]
async fn hostile_logins() {
    let server = server_with_alice().await;
    let mut b = Browser::new(&server.url);

    // Login CSRF: a form posted without the double-submit cookie is refused.
    let mut other = Browser::new(&server.url);
    let csrf = b.get("/login").await.hidden("csrf");
    let forged = other
        .post(
            "/login",
            &[
                ("csrf", &csrf),
                ("username", "alice"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(forged.status, 403);

    // Session fixation: a planted session id is ignored and replaced at login.
    b.cookies.insert("strata_session".into(), "a".repeat(64));
    assert_eq!(
        b.get("/settings").await.status,
        303,
        "planted id is not a session"
    );
    b.login("alice", PASSWORD).await;
    assert_ne!(b.cookies["strata_session"], "a".repeat(64));
    let first = b.cookies["strata_session"].clone();
    b.login("alice", PASSWORD).await;
    assert_ne!(
        b.cookies["strata_session"], first,
        "a new id at every login"
    );

    // Enumeration: an unknown user and a wrong password look the same.
    let mut c = Browser::new(&server.url);
    let unknown = c.login("nobody", "whatever password").await;
    let wrong = c.login("alice", "wrong password!").await;
    assert_eq!((unknown.status, wrong.status), (401, 401));
    let message = |p: &Page| {
        let at = p.text.find("role=\"alert\">").unwrap();
        p.text[at..].split('<').next().unwrap().to_owned()
    };
    assert_eq!(message(&unknown), message(&wrong));

    // Brute force: after 5 failures the right password is refused too, for a while.
    for _ in 0..4 {
        assert_eq!(c.login("alice", "guess guess guess").await.status, 401);
    }
    assert_eq!(c.login("alice", PASSWORD).await.status, 429);

    // All of it is in the audit log, which only administrators read.
    let admin_token = strata::cli::admin::create_token(&server.state, "alice", "audit", "*", None)
        .await
        .unwrap();
    let (status, _, v) = body(
        client()
            .get(format!("{}/api/v1/audit?limit=500", server.url))
            .bearer_auth(&admin_token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    let events: Vec<&str> = v["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    for want in [
        "login.success",
        "login.failure",
        "login.throttled",
        "password.set",
    ] {
        assert!(events.contains(&want), "{want} not in {events:?}");
    }
    let bob = server.user("bob").await;
    let resp = client()
        .get(format!("{}/api/v1/audit", server.url))
        .bearer_auth(&bob)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    let resp = client()
        .get(format!("{}/api/v1/audit", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
}

#[tokio::test]
async fn password_change_ends_other_sessions() {
    let server = server_with_alice().await;
    let mut laptop = Browser::new(&server.url);
    let mut phone = Browser::new(&server.url);
    laptop.login("alice", PASSWORD).await;
    phone.login("alice", PASSWORD).await;
    let csrf = laptop.get("/settings").await.hidden("csrf");
    let new = "an even better passphrase";
    let wrong = laptop
        .post(
            "/settings/password",
            &[
                ("csrf", &csrf),
                ("current", "nope nope nope"),
                ("new", new),
                ("new2", new),
            ],
        )
        .await;
    assert_eq!(wrong.status, 403);
    let short = laptop
        .post(
            "/settings/password",
            &[
                ("csrf", &csrf),
                ("current", PASSWORD),
                ("new", "short"),
                ("new2", "short"),
            ],
        )
        .await;
    assert_eq!(short.status, 422);
    let no_csrf = laptop
        .post(
            "/settings/password",
            &[("current", PASSWORD), ("new", new), ("new2", new)],
        )
        .await;
    assert_eq!(no_csrf.status, 403);
    let ok = laptop
        .post(
            "/settings/password",
            &[
                ("csrf", &csrf),
                ("current", PASSWORD),
                ("new", new),
                ("new2", new),
            ],
        )
        .await;
    assert_eq!(ok.status, 200, "{}", ok.text);
    assert_eq!(
        laptop.get("/settings").await.status,
        200,
        "this session stays"
    );
    assert_eq!(
        phone.get("/settings").await.status,
        303,
        "the other one ended"
    );
    let mut fresh = Browser::new(&server.url);
    assert_eq!(fresh.login("alice", PASSWORD).await.status, 401);
    assert_eq!(fresh.login("alice", new).await.status, 303);
}

#[tokio::test]
async fn signup_modes() {
    // Default: closed.
    let server = TestServer::start().await;
    let mut b = Browser::new(&server.url);
    assert_eq!(b.get("/signup").await.status, 403);

    // Open.
    let server = TestServer::start_with(Backend::Local, |c| {
        c.signup = strata_core::config::Signup::Open
    })
    .await;
    let mut b = Browser::new(&server.url);
    let form = |user: &'static str, pw: &'static str, pw2: &'static str| {
        vec![
            ("username", user),
            ("email", "x@example.com"),
            ("password", pw),
            ("password2", pw2),
        ]
    };
    for (fields, want) in [
        (form("api", PASSWORD, PASSWORD), 422),  // reserved name
        (form("../x", PASSWORD, PASSWORD), 422), // invalid name
        (form("carol", "short", "short"), 422),  // weak password
        (form("carol", PASSWORD, "different one!"), 422),
    ] {
        let csrf = b.get("/signup").await.hidden("csrf");
        let mut fields = fields.clone();
        fields.push(("csrf", &csrf));
        assert_eq!(b.post("/signup", &fields).await.status, want, "{fields:?}");
    }
    let csrf = b.get("/signup").await.hidden("csrf");
    let mut fields = form("carol", PASSWORD, PASSWORD);
    fields.push(("csrf", &csrf));
    let page = b.post("/signup", &fields).await;
    assert_eq!(page.status, 303, "{}", page.text);
    assert!(b.get("/settings").await.text.contains("carol"));
    let mut again = Browser::new(&server.url);
    let csrf = again.get("/signup").await.hidden("csrf");
    let mut fields = form("carol", PASSWORD, PASSWORD);
    fields.push(("csrf", &csrf));
    assert_eq!(again.post("/signup", &fields).await.status, 409);

    // Invite only: a code, used once.
    let server = TestServer::start_with(Backend::Local, |c| {
        c.signup = strata_core::config::Signup::Invite
    })
    .await;
    server.user_with("root", true, "*").await;
    let code = strata::cli::admin::invite(&server.state, "root", 1)
        .await
        .unwrap();
    let attempt = |user: &'static str, code: String| {
        let url = server.url.clone();
        async move {
            let mut b = Browser::new(&url);
            let csrf = b.get("/signup").await.hidden("csrf");
            let fields = [
                ("csrf", csrf.as_str()),
                ("username", user),
                ("email", "d@example.com"),
                ("password", PASSWORD),
                ("password2", PASSWORD),
                ("invite", code.as_str()),
            ];
            b.post("/signup", &fields).await.status
        }
    };
    assert_eq!(attempt("dave", "0".repeat(32)).await, 403);
    assert_eq!(attempt("dave", code.clone()).await, 303);
    assert_eq!(attempt("erin", code).await, 403, "an invitation works once");
    assert!(server
        .state
        .db
        .user_by_name("erin")
        .await
        .unwrap()
        .is_none());
}

#[tokio::test]
async fn expired_sessions_are_refused_and_purged() {
    let server = server_with_alice().await;
    let mut b = Browser::new(&server.url);
    b.login("alice", PASSWORD).await;
    assert_eq!(b.get("/settings").await.status, 200);
    let pool = server.state.db.pool();
    sqlx::query("UPDATE sessions SET expires_at = 0")
        .execute(pool)
        .await
        .unwrap();
    assert_eq!(
        b.get("/settings").await.status,
        303,
        "expired: back to login"
    );
    assert!(server.state.db.purge_expired().await.unwrap() >= 1);
    let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM sessions")
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(left, 0);
}

#[tokio::test]
async fn organisation_pages() {
    let server = server_with_alice().await; // alice is a site admin
    server.user("bob").await;
    strata::cli::admin::set_password(&server.state, "bob", PASSWORD)
        .await
        .unwrap();
    let admin = strata::cli::admin::create_token(&server.state, "alice", "orgs", "*", None)
        .await
        .unwrap();
    let r = client()
        .post(format!("{}/api/v1/orgs", server.url))
        .bearer_auth(&admin)
        .json(&json!({"name": "acme"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);

    let mut owner = Browser::new(&server.url);
    owner.login("alice", PASSWORD).await;
    let page = owner.get("/orgs/acme").await;
    assert_eq!(page.status, 200);
    assert!(page.text.contains("alice (owner)"));
    let csrf = page.hidden("csrf");
    let add = owner
        .post(
            "/orgs/acme/members",
            &[("csrf", &csrf), ("username", "bob"), ("role", "member")],
        )
        .await;
    assert_eq!(add.status, 303, "{}", add.text);
    let team = owner
        .post("/orgs/acme/teams", &[("csrf", &csrf), ("team", "eng")])
        .await;
    assert_eq!(team.status, 303);
    let join = owner
        .post(
            "/orgs/acme/teams/members",
            &[("csrf", &csrf), ("team", "eng"), ("username", "bob")],
        )
        .await;
    assert_eq!(join.status, 303);
    let page = owner.get("/orgs/acme").await;
    assert!(
        page.text.contains("bob (member)") && page.text.contains("<strong>eng</strong>: bob"),
        "{}",
        page.text
    );
    let missing = owner
        .post(
            "/orgs/acme/members",
            &[("csrf", &csrf), ("username", "nobody"), ("role", "member")],
        )
        .await;
    assert_eq!(missing.status, 404);
    assert!(missing.text.contains("user nobody not found"));
    let forged = owner
        .post(
            "/orgs/acme/members",
            &[("csrf", "0"), ("username", "bob"), ("role", "owner")],
        )
        .await;
    assert_eq!(forged.status, 403);

    // A member sees the organisation but may not change it.
    let mut member = Browser::new(&server.url);
    member.login("bob", PASSWORD).await;
    let page = member.get("/orgs/acme").await;
    assert_eq!(page.status, 200);
    assert!(!page.text.contains("Add member"));
    let csrf = member.get("/settings").await.hidden("csrf");
    let refused = member
        .post("/orgs/acme/teams", &[("csrf", &csrf), ("team", "mine")])
        .await;
    assert_eq!(refused.status, 403);
    assert_eq!(
        Browser::new(&server.url).get("/orgs/acme").await.status,
        303,
        "login first"
    );
}
