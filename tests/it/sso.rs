//! Sign-in through external identity providers, the hostile cases: forged, wrongly signed,
//! expired and misaddressed id tokens, missing or wrong nonces, replayed and mismatched states,
//! a provider that names a local user's email, unmapped users under `admin` sign-up, key
//! rotation, linking, the role mapping at every sign-in, `--password-login off`, and GitHub.
//! The provider is the scriptable one in `common::idp`; `sso_browser.rs` signs in through a
//! second strata in Chromium.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use sha2::Digest;
use strata::config::{Signup, Switch};

use crate::common::idp::{self, Idp, CLIENT_ID, CLIENT_SECRET};
use crate::common::*;

const PASSWORD: &str = "sso test password";

fn config(idp: &Idp, dir: &Path, rules: &str) -> String {
    let secret = dir.join("client-secret");
    std::fs::write(&secret, format!("{CLIENT_SECRET}\n")).unwrap();
    let url = &idp.url;
    format!(
        r#"
[[provider]]
id = "corp"
name = "Corp ID"
issuer = "{url}"
client_id = "{CLIENT_ID}"
client_secret_file = "{secret}"
{rules}

[[provider]]
id = "gh"
name = "GitHub"
kind = "github"
client_id = "gh-client"
client_secret_file = "{secret}"
authorize_url = "{url}/authorize"
token_url = "{url}/token"
api_url = "{url}/api"
[[provider.rule]]
group = "acme/data"
role = "engineer"

[[provider]]
id = "down"
name = "Down"
issuer = "http://127.0.0.1:9"
client_id = "x"
"#,
        secret = secret.display()
    )
}

const RULES: &str = r#"
[[provider.rule]]
user = "carol"
role = "analyst"
[[provider.rule]]
group = "admins"
role = "admin"
[[provider.rule]]
group = "staff"
org = "acme"
team = "analysts"
"#;

/// A strata that signs people in through `idp`, with `rules` for the "corp" provider.
async fn relying_party(
    idp: &Idp,
    rules: &str,
    signup: Signup,
) -> (TestServer, PathBuf, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("providers.toml");
    std::fs::write(&file, config(idp, dir.path(), rules)).unwrap();
    let path = file.clone();
    let server = TestServer::start_with(Backend::Local, move |c| {
        c.oidc_config = Some(path);
        c.signup = signup;
    })
    .await;
    (server, file, dir)
}

struct Started {
    location: String,
    state: String,
    nonce: String,
    challenge: String,
    cookie: String,
}

fn query_of(location: &str) -> Vec<(String, String)> {
    let url = url::Url::parse(location).unwrap();
    url.query_pairs().into_owned().collect()
}

fn param<'a>(q: &'a [(String, String)], name: &str) -> &'a str {
    q.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or("")
}

fn set_cookie(r: &reqwest::Response, name: &str) -> Option<String> {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned())
        .find(|c| c.starts_with(&format!("{name}=")) && c.len() > name.len() + 1)
}

/// Presses "Sign in with …" on the login page: the page's form token goes with the POST.
async fn press(rp: &str, provider: &str) -> reqwest::Response {
    let page = client().get(format!("{rp}/login")).send().await.unwrap();
    let form_cookie = set_cookie(&page, "strata_form").unwrap();
    let token = form_cookie["strata_form=".len()..].to_owned();
    client()
        .post(format!("{rp}/login/sso/{provider}"))
        .header("cookie", &form_cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("csrf={token}&next=%2Fshared"))
        .send()
        .await
        .unwrap()
}

async fn start(rp: &str, provider: &str) -> Started {
    started(press(rp, provider).await, rp, provider).await
}

/// An attribute's text as the browser reads it.
fn unescape(html: &str) -> String {
    html.replace("&#x2f;", "/")
        .replace("&#x27;", "'")
        .replace("&#39;", "'")
        .replace("&quot;", "\"")
        .replace("&#34;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&#38;", "&")
        .replace("&amp;", "&")
}

/// The provider's authorization URL, from the page that moves on to it (a page, not a redirect:
/// forms may only redirect to strata itself).
async fn started(r: reqwest::Response, rp: &str, provider: &str) -> Started {
    assert_eq!(r.status(), 200);
    let cookie = set_cookie(&r, "strata_sso").expect("the sign-in cookie");
    let html = r.text().await.unwrap();
    let needle = "id=\"onward\" href=\"";
    let at = html.find(needle).expect("the onward link") + needle.len();
    let location = unescape(&html[at..at + html[at..].find('"').unwrap()]);
    assert!(html.contains("<meta http-equiv=\"refresh\" content=\"0; url="));
    let q = query_of(&location);
    assert_eq!(param(&q, "response_type"), "code");
    assert_eq!(param(&q, "code_challenge_method"), "S256");
    assert_eq!(
        param(&q, "redirect_uri"),
        format!("{rp}/login/sso/{provider}/callback")
    );
    Started {
        state: param(&q, "state").into(),
        nonce: param(&q, "nonce").into(),
        challenge: param(&q, "code_challenge").into(),
        cookie,
        location,
    }
}

async fn back(rp: &str, provider: &str, query: &[(&str, &str)], cookie: &str) -> reqwest::Response {
    let q = serde_urlencoded::to_string(query).unwrap();
    client()
        .get(format!("{rp}/login/sso/{provider}/callback?{q}"))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap()
}

fn claims(idp: &Idp, s: &Started, sub: &str, login: &str, extra: Value) -> Value {
    let now = time_now();
    let mut c = json!({
        "iss": idp.url, "aud": CLIENT_ID, "sub": sub, "iat": now, "exp": now + 300,
        "nonce": s.nonce, "preferred_username": login,
    });
    for (k, v) in extra.as_object().unwrap() {
        if v.is_null() {
            c.as_object_mut().unwrap().remove(k);
        } else {
            c[k] = v.clone();
        }
    }
    c
}

fn time_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// One sign-in through "corp" whose id token is `make(started)`.
async fn sign_in(rp: &str, idp: &Idp, make: impl FnOnce(&Started) -> String) -> reqwest::Response {
    let s = start(rp, "corp").await;
    idp.answer_with(&make(&s));
    back(rp, "corp", &[("code", "c"), ("state", &s.state)], &s.cookie).await
}

/// Who a session cookie signs in as, from the settings page.
async fn whoami(rp: &str, session: &str) -> String {
    let html = client()
        .get(format!("{rp}/settings"))
        .header("cookie", session)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let at = html.find("Signed in as <strong>").expect("signed in") + 21;
    html[at..at + html[at..].find('<').unwrap()].to_owned()
}

async fn role(server: &TestServer, name: &str) -> String {
    let user = server.state.db.user_by_name(name).await.unwrap().unwrap();
    user.role.as_str().to_owned()
}

/// Refused: the status, an error page with its request id, no session, nobody made.
async fn refused(r: reqwest::Response, status: u16, says: &str) {
    assert_eq!(r.status(), status, "{says}");
    assert!(set_cookie(&r, "strata_session").is_none());
    let html = r.text().await.unwrap();
    assert!(html.contains(says), "{says}: {html}");
    assert!(html.contains("request <span class=\"mono\">"), "{html}");
}

/// A way to make a bad id token for a started sign-in.
type Forge<'a> = Box<dyn Fn(&Started) -> String + 'a>;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_and_misaddressed_id_tokens_are_refused() {
    let idp = Idp::start().await;
    let (rp, _, _dir) = relying_party(&idp, RULES, Signup::Admin).await;
    let url = rp.url.as_str();
    let forger = idp::keys(&idp.url);
    let cases: Vec<(&str, Forge)> = vec![
        (
            "signed by a key the provider never published",
            Box::new(|s| {
                forger
                    .sign(&claims(&idp, s, "c-1", "carol", json!({})))
                    .unwrap()
            }),
        ),
        (
            "another audience",
            Box::new(|s| idp.sign(&claims(&idp, s, "c-1", "carol", json!({"aud": "other"})))),
        ),
        (
            "another issuer",
            Box::new(|s| {
                idp.sign(&claims(
                    &idp,
                    s,
                    "c-1",
                    "carol",
                    json!({"iss": "http://evil.test"}),
                ))
            }),
        ),
        (
            "expired",
            Box::new(|s| {
                let old = time_now() - 3600;
                idp.sign(&claims(
                    &idp,
                    s,
                    "c-1",
                    "carol",
                    json!({"iat": old, "exp": old + 60}),
                ))
            }),
        ),
        (
            "no nonce",
            Box::new(|s| idp.sign(&claims(&idp, s, "c-1", "carol", json!({"nonce": null})))),
        ),
        (
            "another sign-in's nonce",
            Box::new(|s| idp.sign(&claims(&idp, s, "c-1", "carol", json!({"nonce": "n-0"})))),
        ),
        (
            "unsigned (alg none)",
            Box::new(|s| {
                use base64::Engine;
                let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
                let body = claims(&idp, s, "c-1", "carol", json!({}));
                format!(
                    "{}.{}.",
                    b64.encode(r#"{"alg":"none","typ":"JWT"}"#),
                    b64.encode(body.to_string())
                )
            }),
        ),
        (
            "signature of another token",
            Box::new(|s| {
                let good = idp.sign(&claims(&idp, s, "c-1", "carol", json!({})));
                let evil = idp.sign(&claims(
                    &idp,
                    s,
                    "c-1",
                    "carol",
                    json!({"groups": ["admins"]}),
                ));
                let (head_body, _) = evil.rsplit_once('.').unwrap();
                format!("{head_body}.{}", good.rsplit_once('.').unwrap().1)
            }),
        ),
    ];
    for (why, make) in &cases {
        let r = sign_in(url, &idp, |s| make(s)).await;
        refused(r, 401, "id token was refused").await;
        assert!(
            rp.state.db.user_by_name("carol").await.unwrap().is_none(),
            "{why}"
        );
    }

    // A good token: carol is made, signed in, and sent where she was going.
    let s = start(url, "corp").await;
    idp.answer_with(&idp.sign(&claims(&idp, &s, "c-1", "carol", json!({}))));
    let ok = back(
        url,
        "corp",
        &[("code", "c"), ("state", &s.state)],
        &s.cookie,
    )
    .await;
    assert_eq!(ok.status(), 303);
    assert_eq!(ok.headers()["location"], "/shared");
    let session = set_cookie(&ok, "strata_session").unwrap();
    assert_eq!(whoami(url, &session).await, "carol");
    // The code went back with the PKCE verifier of the challenge, and the client's secret.
    let form = idp
        .state
        .lock()
        .unwrap()
        .token_forms
        .last()
        .unwrap()
        .clone();
    let verifier = form.iter().find(|(k, _)| k == "code_verifier").unwrap();
    use base64::Engine;
    let computed = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(sha2::Sha256::digest(verifier.1.as_bytes()));
    assert_eq!(computed, s.challenge);

    // The same answer again: the state is used up.
    idp.answer_with(&idp.sign(&claims(&idp, &s, "c-1", "carol", json!({}))));
    let again = back(
        url,
        "corp",
        &[("code", "c"), ("state", &s.state)],
        &s.cookie,
    )
    .await;
    refused(again, 400, "used already or has expired").await;

    // A state from another browser's sign-in (the victim's cookie, the attacker's state), and no
    // cookie at all: refused, without spending the state (whoever sees a state cannot make its
    // owner's sign-in fail).
    let victim = start(url, "corp").await;
    let attacker = start(url, "corp").await;
    let r = back(
        url,
        "corp",
        &[("code", "c"), ("state", &attacker.state)],
        &victim.cookie,
    )
    .await;
    refused(r, 400, "not started in this browser").await;
    let r = back(url, "corp", &[("code", "c"), ("state", &victim.state)], "").await;
    refused(r, 400, "not started in this browser").await;
    idp.answer_with(&idp.sign(&claims(&idp, &attacker, "c-1", "carol", json!({}))));
    let r = back(
        url,
        "corp",
        &[("code", "c"), ("state", &attacker.state)],
        &attacker.cookie,
    )
    .await;
    assert_eq!(r.status(), 303);
    // A state for one provider answered on another's callback.
    let s = start(url, "corp").await;
    let r = back(url, "gh", &[("code", "c"), ("state", &s.state)], &s.cookie).await;
    refused(r, 400, "used already").await;

    // The provider says no; a missing code; an unknown provider.
    let s = start(url, "corp").await;
    let q = [
        ("state", s.state.as_str()),
        ("error", "access_denied"),
        ("error_description", "<script>alert(1)</script>"),
    ];
    let r = back(url, "corp", &q, &s.cookie).await;
    assert_eq!(r.status(), 403);
    let html = r.text().await.unwrap();
    assert!(html.contains("access_denied") && !html.contains("<script>alert"));
    let s = start(url, "corp").await;
    refused(
        back(url, "corp", &[("state", &s.state)], &s.cookie).await,
        400,
        "no code",
    )
    .await;
    assert_eq!(press(url, "nope").await.status(), 404);
    assert_eq!(press(url, "..%2F..%2Fetc").await.status(), 404);
    // A sign-in starts only from the login page's form: not by a link another site sends, and
    // not without the page's token.
    let r = client()
        .get(format!("{url}/login/sso/corp"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    let r = client()
        .post(format!("{url}/login/sso/corp"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("csrf=abc")
        .send()
        .await
        .unwrap();
    assert!(set_cookie(&r, "strata_sso").is_none());
    refused(r, 403, "This form has expired").await;

    // The provider rotates its key: the new one is fetched once and the sign-in goes through.
    let rotated = idp::keys(&idp.url);
    idp.state.lock().unwrap().published = vec![rotated.clone()];
    let r = sign_in(url, &idp, |s| {
        rotated
            .sign(&claims(&idp, s, "c-1", "carol", json!({})))
            .unwrap()
    })
    .await;
    assert_eq!(r.status(), 303);
    // A provider that cannot be reached: 502 with what failed, and no sign-in started.
    let r = press(url, "down").await;
    assert!(set_cookie(&r, "strata_sso").is_none());
    refused(r, 502, "discovery failed").await;

    // Starting sign-ins is limited per address: each leaves a row behind for ten minutes.
    let mut last = 0;
    // (The window is the clock's minute: 130 presses exceed 60 in one of at most two windows.)
    for _ in 0..130 {
        last = press(url, "corp").await.status().as_u16();
        if last == 429 {
            break;
        }
    }
    assert_eq!(last, 429);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounts_come_from_the_subject_never_the_email() {
    let idp = Idp::start().await;
    let (rp, _, _dir) = relying_party(&idp, RULES, Signup::Open).await;
    let url = rp.url.as_str();
    strata::admin::create_user(&rp.state, "bob", Some("bob@example.com"), true)
        .await
        .unwrap();
    strata::admin::create_user(&rp.state, "Carol", None, false)
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
    let owner = strata::admin::create_user(&rp.state, "olga", None, false)
        .await
        .unwrap();
    let acme = rp.state.db.create_org("acme", owner.id).await.unwrap();
    rp.state.db.create_team(acme.id, "analysts").await.unwrap();
    let other = rp.state.db.create_org("other", owner.id).await.unwrap();
    let ops = rp.state.db.create_team(acme.id, "ops").await.unwrap();
    // Another admin: the rules may demote carol (the last admin never is; see the end).
    strata::admin::create_user(&rp.state, "root", None, true)
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
        .set_org_member(other.id, carol.id, "member")
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
        strata::admin::create_user(&rp.state, name, None, false)
            .await
            .unwrap();
        strata::admin::set_password(&rp.state, name, PASSWORD)
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_login_off_leaves_the_providers_and_tokens() {
    let idp = Idp::start().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("providers.toml");
    std::fs::write(&file, config(&idp, dir.path(), RULES)).unwrap();
    let path = file.clone();
    let rp = TestServer::start_with(Backend::Local, move |c| {
        c.oidc_config = Some(path);
        c.password_login = Switch::Off;
        c.signup = Signup::Open;
    })
    .await;
    let url = rp.url.as_str();
    let pat = rp.user("frank").await;
    strata::admin::set_password(&rp.state, "frank", PASSWORD)
        .await
        .unwrap();
    let page = client().get(format!("{url}/login")).send().await.unwrap();
    let form_cookie = set_cookie(&page, "strata_form").unwrap();
    let html = page.text().await.unwrap();
    assert!(html.contains("Sign in with Corp ID") && html.contains("Sign in with GitHub"));
    assert!(!html.contains("type=\"password\""));
    // The right password is refused all the same.
    let token = &form_cookie["strata_form=".len()..];
    let r = client()
        .post(format!("{url}/login"))
        .header("cookie", &form_cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("csrf={token}&username=frank&password={PASSWORD}"))
        .send()
        .await
        .unwrap();
    refused(r, 403, "Password sign-in is turned off").await;
    let r = client().get(format!("{url}/signup")).send().await.unwrap();
    assert_eq!(r.status(), 403);
    // Tokens keep working.
    let r = client()
        .get(format!("{url}/api/v1/datasets"))
        .bearer_auth(&pat)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // And a server with passwords off and no provider would lock everyone out: it won't start.
    let mut config = strata::config::Config::with_data_dir(dir.path().join("other"));
    config.password_login = Switch::Off;
    config.database_url = Some(format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("other.db").display()
    ));
    let err = strata::AppState::build(&config)
        .await
        .err()
        .expect("refused");
    assert!(err.to_string().contains("--password-login off"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn github_sign_in_maps_teams() {
    let idp = Idp::start().await;
    let (rp, _, _dir) = relying_party(&idp, RULES, Signup::Admin).await;
    let url = rp.url.as_str();
    idp.state.lock().unwrap().github = json!({
        "user": {"id": 4242, "login": "Octo-Cat"},
        "emails": [{"email": "octo@example.com", "primary": true, "verified": true}],
        "orgs": [{"login": "acme"}],
        "teams": [{"slug": "data", "organization": {"login": "acme"}}],
    });
    let s = start(url, "gh").await;
    assert!(
        s.location.starts_with(&format!("{}/authorize?", idp.url)),
        "{}",
        s.location
    );
    let q = query_of(&s.location);
    assert!(param(&q, "scope").contains("read:org"));
    assert!(!param(&q, "scope").contains("openid"));
    let cookie = s.cookie;
    idp.state.lock().unwrap().answer = Some(json!({
        "access_token": "gho_test", "token_type": "bearer", "scope": "read:user,user:email,read:org",
    }));
    let state = param(&q, "state").to_owned();
    let r = back(url, "gh", &[("code", "c"), ("state", &state)], &cookie).await;
    assert_eq!(r.status(), 303);
    let session = set_cookie(&r, "strata_session").unwrap();
    assert_eq!(whoami(url, &session).await, "octo-cat");
    assert_eq!(role(&rp, "octo-cat").await, "engineer");
    let user = rp.state.db.user_by_name("octo-cat").await.unwrap().unwrap();
    assert_eq!(user.email.as_deref(), Some("octo@example.com"));
    let identity = rp
        .state
        .db
        .identity(&format!("github:{}/api", idp.url), "4242")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(identity.user_id, user.id);
}
