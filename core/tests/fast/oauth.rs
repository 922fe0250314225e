//! The OAuth provider, before any token: registering clients (who may, and the redirect URIs
//! refused: plain http off this machine, look-alike hosts, credentials, fragments, relative or
//! non-URLs, too many or none) and the authorization request's checks before a consent page
//! (unknown client, unregistered redirect URI, the code flow only, PKCE S256 required of public
//! clients, a known scope narrower than `*`). The grants are in `oauth_grants.rs`.

use base64::Engine;
use sha2::{Digest, Sha256};
use strata_core::auth::Principal;
use strata_core::error::{Kind, Result};
use strata_core::oauth::{authorize, tokens, Granted};
use strata_core::Core;

use crate::common::*;

pub const VERIFIER: &str = "a-verifier-of-at-least-forty-three-characters-0123456789";

pub fn challenge(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// What a grant answered: `ok`, or the RFC 6749 error code.
pub fn answer<T>(r: &Result<Granted<T>>) -> &'static str {
    match r {
        Ok(Ok(_)) => "ok",
        Ok(Err(refusal)) => refusal.code(),
        Err(_) => "server error",
    }
}

pub fn uris(list: &[&str]) -> Vec<String> {
    list.iter().map(|u| u.to_string()).collect()
}

/// Registers a client of `who` with `list` as its redirect URIs: its id (and secret).
pub async fn register(
    core: &Core,
    who: &Principal,
    list: &[&str],
    confidential: bool,
) -> (String, Option<String>) {
    tokens::register(core, who, "App", &uris(list), confidential)
        .await
        .expect("registered")
}

/// Redirect URI lists a registration refuses.
const BAD_URIS: &[&[&str]] = &[
    &["http://app.example/cb"],
    &["http://127.0.0.1.evil.example/cb"],
    &["http://localhost@evil.example/cb"],
    &["https://user:pw@app.example/cb"],
    &["https://app.example/cb#fragment"],
    &["/relative/cb"],
    &["not a url"],
    &["javascript:alert(1)"],
    &["https://app.example/cb\nhttps://evil.example/cb"],
    &["https://app.example/cb", "ftp://app.example/cb"],
    &["https://app.example/c b"],
    &[""],
    &[],
];

#[test]
fn registering_clients_checks_roles_and_redirect_uris() {
    run(async {
        let f = fixture().await;
        let core = &f.core;
        let mut t = Tally::default();
        let good = uris(&["https://app.example/cb"]);
        let narrow = pat(
            core,
            f.user("engineer"),
            "oauth-narrow",
            "dataset:engineer:admin",
        )
        .await;
        let service = jwt(core, "svc", "*").await;
        for (name, who, want) in [
            ("siteadmin", f.principal("siteadmin"), None),
            ("engineer", f.principal("engineer"), None),
            ("scientist", f.principal("outsider"), None),
            ("analyst", f.principal("analyst"), Some(Kind::Forbidden)),
            ("viewer", f.principal("viewer"), Some(Kind::Forbidden)),
            (
                "anonymous",
                f.principal("anonymous"),
                Some(Kind::Unauthenticated),
            ),
            ("a narrowed token", &narrow, Some(Kind::Forbidden)),
            ("a JWT", &service, Some(Kind::Forbidden)),
        ] {
            let got = tokens::register(core, who, "App", &good, false).await;
            t.eq(kind(&got), want, &format!("{name} registers"));
        }
        let dev = new_user(core, "oauth-dev", strata_core::auth::Role::Engineer).await;
        let who = &pat(core, &dev, "all", "*").await;
        let many: Vec<String> = (0..11).map(|i| format!("https://a.example/{i}")).collect();
        let mut lists: Vec<Vec<String>> = BAD_URIS.iter().map(|l| uris(l)).collect();
        lists.push(many);
        for list in lists {
            let got = tokens::register(core, who, "App", &list, false).await;
            t.eq(
                kind(&got),
                Some(Kind::Invalid),
                &format!("redirect URIs {list:?}"),
            );
        }
        for name in ["", "   ", &"n".repeat(101)] {
            let got = tokens::register(core, who, name, &good, false).await;
            t.eq(
                kind(&got),
                Some(Kind::Invalid),
                &format!("the name {name:?}"),
            );
        }
        for uri in [
            "http://127.0.0.1/cb",
            "http://[::1]:8080/cb",
            "http://localhost/cb",
        ] {
            let got = tokens::register(core, who, "Native", &uris(&[uri]), false).await;
            t.eq(kind(&got), None, &format!("loopback {uri}"));
        }
        let (_, secret) = register(core, who, &["https://app.example/cb"], true).await;
        t.eq(
            secret.is_some(),
            true,
            "a confidential client gets a secret",
        );
        let (_, secret) = register(core, who, &["https://app.example/cb"], false).await;
        t.eq(secret, None, "a public client gets none");
        let listed = tokens::clients(core, who).await.unwrap();
        t.eq(listed.len(), 5, "the engineer's clients");
        t.finish("oauth: registration");
    })
}

#[derive(Clone, Copy)]
enum Client {
    Public,
    Confidential,
    Unknown,
}

#[derive(Clone, Copy)]
enum Pkce {
    S256,
    Plain,
    NoMethod,
    Short,
    Without,
}

/// An authorization request: the public client's, for code, with PKCE, unless a case changes it.
#[derive(Clone, Copy)]
struct Ask {
    client: Client,
    response_type: &'static str,
    redirect: Option<&'static str>,
    scope: Option<&'static str>,
    pkce: Pkce,
}

/// Cases: what they change, and the answer (`page`, `redirect:<error>` or `ok:<scope>`).
type AskCase = (&'static str, fn(&mut Ask), &'static str);

const ASKS: &[AskCase] = &[
    ("as it is", |_| {}, "ok:openid"),
    ("unknown client", |a| a.client = Client::Unknown, "page"),
    (
        "another host",
        |a| a.redirect = Some("http://127.0.0.2/cb"),
        "page",
    ),
    (
        "dot segments",
        |a| a.redirect = Some("http://127.0.0.1/cb/../x"),
        "page",
    ),
    (
        "a fragment",
        |a| a.redirect = Some("http://127.0.0.1/cb#x"),
        "page",
    ),
    (
        "loopback port",
        |a| a.redirect = Some("http://127.0.0.1:5312/cb"),
        "ok:openid",
    ),
    (
        "a scope",
        |a| a.scope = Some("openid dataset:x/y:read"),
        "ok:openid dataset:x/y:read",
    ),
    (
        "implicit flow",
        |a| a.response_type = "token",
        "redirect:unsupported_response_type",
    ),
    (
        "no PKCE",
        |a| a.pkce = Pkce::Without,
        "redirect:invalid_request",
    ),
    (
        "plain PKCE",
        |a| a.pkce = Pkce::Plain,
        "redirect:invalid_request",
    ),
    (
        "no PKCE method",
        |a| a.pkce = Pkce::NoMethod,
        "redirect:invalid_request",
    ),
    (
        "short challenge",
        |a| a.pkce = Pkce::Short,
        "redirect:invalid_request",
    ),
    ("scope *", |a| a.scope = Some("*"), "redirect:invalid_scope"),
    (
        "scope openid *",
        |a| a.scope = Some("openid *"),
        "redirect:invalid_scope",
    ),
    (
        "scope with ..",
        |a| a.scope = Some("dataset:a/../b:read"),
        "redirect:invalid_scope",
    ),
    (
        "unknown scope",
        |a| a.scope = Some("repo:a/b"),
        "redirect:invalid_scope",
    ),
    (
        "confidential, none",
        |a| a.client = Client::Confidential,
        "page",
    ),
    (
        "confidential",
        |a| confidential(a, "https://app.example/b"),
        "ok:openid",
    ),
    (
        "confidential, other",
        |a| confidential(a, "https://app.example/c"),
        "page",
    ),
];

/// The confidential client (two redirect URIs, so one must be named), without PKCE.
fn confidential(a: &mut Ask, redirect: &'static str) {
    a.client = Client::Confidential;
    a.redirect = Some(redirect);
    a.pkce = Pkce::Without;
}

#[test]
fn authorization_requests_are_checked_before_consent() {
    run(async {
        let f = fixture().await;
        let core = &f.core;
        let who = f.principal("engineer");
        let (public, _) = register(core, who, &["http://127.0.0.1/cb"], false).await;
        let two = ["https://app.example/a", "https://app.example/b"];
        let (private, _) = register(core, who, &two, true).await;
        let c = challenge(VERIFIER);
        let mut t = Tally::default();
        for (label, change, want) in ASKS {
            let mut ask = Ask {
                client: Client::Public,
                response_type: "code",
                redirect: None,
                scope: None,
                pkce: Pkce::S256,
            };
            change(&mut ask);
            let (challenge, method) = match ask.pkce {
                Pkce::S256 => (Some(c.as_str()), Some("S256")),
                Pkce::Plain => (Some(c.as_str()), Some("plain")),
                Pkce::NoMethod => (Some(c.as_str()), None),
                Pkce::Short => (Some(&c[..42]), Some("S256")),
                Pkce::Without => (None, None),
            };
            let req = authorize::Request {
                response_type: ask.response_type,
                client_id: match ask.client {
                    Client::Public => &public,
                    Client::Confidential => &private,
                    Client::Unknown => "sc_unknown",
                },
                redirect_uri: ask.redirect,
                scope: ask.scope,
                code_challenge: challenge,
                code_challenge_method: method,
            };
            let got = match authorize::check(core, &req).await.unwrap() {
                Ok(checked) => format!("ok:{}", checked.scope),
                Err(authorize::Refused::Page(_)) => "page".into(),
                Err(authorize::Refused::Redirect { error, .. }) => format!("redirect:{error}"),
            };
            t.eq(got.as_str(), *want, label);
        }
        t.finish("oauth: authorization requests");
    })
}
