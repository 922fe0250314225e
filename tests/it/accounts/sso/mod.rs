//! Sign-in through external identity providers, against the scriptable provider in
//! `common::idp` (`sso_browser.rs` signs in through a second strata in Chromium). The helpers
//! here drive a sign-in as a browser would: press the login page's button, follow the page that
//! moves on to the provider, come back to the callback with a code and a state.
//!
//! - `protocol.rs`: forged, wrongly signed, expired and misaddressed id tokens, nonces, replayed
//!   and mismatched states, provider errors and outages, key rotation, starts, GitHub,
//!   `--password-login off`.
//! - `accounts.rs`: accounts by subject never by email, usernames, the role mapping at every
//!   sign-in, linking and unlinking.

mod accounts;
mod invites;
mod protocol;

use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use strata_core::config::Signup;

use crate::common::idp::{Idp, CLIENT_ID, CLIENT_SECRET};
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
