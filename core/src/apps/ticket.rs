//! Signed passes for apps on their own origin (`--apps-origin`), where strata's session cookie
//! does not go: strata's origin hands a signed-in visitor a one-minute ticket in a redirect, the
//! apps origin trades it for a cookie limited to that one app's path. Both are HMAC-SHA256 under
//! a key derived from the JWT key (the same on every replica) over the visitor's id, their
//! session (the pass ends with it), the owner, the app, the expiry and what the pass is for.
//! Where the trade sends the browser next ([`next_under`]) stays under that app's path however
//! the path is read.

use base64::Engine;
use hmac::{KeyInit, Mac};
use sha2::Sha256;

/// What a pass says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pass {
    pub visitor: i64,
    /// The hash of the strata session it was handed out for.
    pub session: String,
    pub owner: String,
    pub app: String,
}

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

fn mac(key: &[u8; 32], payload: &str) -> Vec<u8> {
    let mut m = hmac::Hmac::<Sha256>::new_from_slice(key).expect("any key length");
    m.update(payload.as_bytes());
    m.finalize().into_bytes().to_vec()
}

/// A pass of `kind` (`ticket` or `cookie`) for `pass`, valid for `ttl_secs`.
pub fn sign(key: &[u8; 32], kind: &str, pass: &Pass, ttl_secs: i64) -> String {
    let exp = crate::db::now() + ttl_secs;
    let payload = format!(
        "{kind}\n{}\n{}\n{}\n{}\n{exp}",
        pass.visitor, pass.session, pass.owner, pass.app
    );
    format!(
        "{}.{}",
        B64.encode(&payload),
        B64.encode(mac(key, &payload))
    )
}

/// The pass in `token` if it is a live one of `kind`, signed under `key`.
pub fn verify(key: &[u8; 32], kind: &str, token: &str) -> Option<Pass> {
    let (payload, sig) = token.split_once('.')?;
    let payload = String::from_utf8(B64.decode(payload).ok()?).ok()?;
    let sig = B64.decode(sig).ok()?;
    let mut m = hmac::Hmac::<Sha256>::new_from_slice(key).expect("any key length");
    m.update(payload.as_bytes());
    m.verify_slice(&sig).ok()?;
    let mut parts = payload.split('\n');
    let (k, visitor, session, owner, app, exp) = (
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    );
    if k != kind || parts.next().is_some() || exp.parse::<i64>().ok()? <= crate::db::now() {
        return None;
    }
    Some(Pass {
        visitor: visitor.parse().ok()?,
        session: session.to_owned(),
        owner: owner.to_owned(),
        app: app.to_owned(),
    })
}

/// The user an app cookie (`cookie`) admits to `owner`'s `app` on the apps' origin: its pass must
/// be for that very instance, and the strata session it came from still live for the same user.
pub async fn visitor(
    core: &crate::Core,
    cookie: &str,
    owner: &str,
    app: &str,
) -> Option<crate::db::User> {
    let key = core.jwt.derive("strata app passes");
    let pass = verify(&key, "cookie", cookie).filter(|p| p.owner == owner && p.app == app)?;
    // The pass lasts as long as the strata session it came from.
    let session = core.db.session(&pass.session).await.ok()??;
    (session.user.id == pass.visitor).then_some(session.user)
}

/// Where `/_apps/enter` may send the browser after `next`: the path (and query) as the browser
/// will go there, with dot segments resolved (`.`, `..`, and their encoded spellings such as
/// `%2e%2e`, as browsers read them). `None` unless it lies under `prefix` (`/apps/{user}/{app}/`)
/// both so and when encoded slashes and dots are decoded as well (as a server behind may read
/// them).
pub fn next_under(prefix: &str, next: &str) -> Option<String> {
    if !next.starts_with('/')
        || next.starts_with("//")
        || next.bytes().any(|b| b.is_ascii_control() || b == b'\\')
    {
        return None;
    }
    let base = url::Url::parse("http://apps.invalid/").expect("a URL");
    let url = base.join(next).ok()?;
    if url.origin() != base.origin() || url.fragment().is_some() {
        return None;
    }
    let path = url.path();
    if !path.starts_with(prefix) || !resolved(&decoded(path)).starts_with(prefix) {
        return None;
    }
    Some(match url.query() {
        Some(q) => format!("{path}?{q}"),
        None => path.to_owned(),
    })
}

/// `path` with encoded dots and slashes (`%2e`, `%2f`, `%5c`, any case) decoded, backslashes
/// read as slashes.
fn decoded(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut rest = path;
    while let Some(i) = rest.find('%') {
        out.push_str(&rest[..i]);
        let code = rest.get(i + 1..i + 3).map(str::to_ascii_lowercase);
        match code.as_deref() {
            Some("2e") => out.push('.'),
            Some("2f") | Some("5c") => out.push('/'),
            _ => {
                out.push('%');
                rest = &rest[i + 1..];
                continue;
            }
        }
        rest = &rest[i + 3..];
    }
    out.push_str(rest);
    out.replace('\\', "/")
}

/// `path` with `.` and `..` segments resolved (RFC 3986 §5.2.4).
fn resolved(path: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    for (i, seg) in segments.iter().enumerate() {
        let last = i + 1 == segments.len();
        match *seg {
            "." => {
                if last {
                    out.push("");
                }
            }
            ".." => {
                out.pop();
                if last {
                    out.push("");
                }
            }
            s => out.push(s),
        }
    }
    format!("/{}", out.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_stays_under_the_app_however_it_is_spelt() {
        let p = "/apps/alice/echo/";
        for (next, want) in [
            ("/apps/alice/echo/", Some("/apps/alice/echo/")),
            ("/apps/alice/echo/lab?x=1", Some("/apps/alice/echo/lab?x=1")),
            ("/apps/alice/echo/a/../b/./c", Some("/apps/alice/echo/b/c")),
            ("/apps/alice/echo/a/%2e%2e/b", Some("/apps/alice/echo/b")),
            ("/apps/alice/echo/a%2Fb", Some("/apps/alice/echo/a%2Fb")),
            ("/apps/alice/echo/..", None),
            ("/apps/alice/echo/../../bob/echo/", None),
            ("/apps/alice/echo/%2e%2e/%2E%2E/bob/echo/", None),
            ("/apps/alice/echo/.%2e/.%2E/bob/echo/", None),
            ("/apps/alice/echo/..%2f..%2fbob/echo/", None),
            ("/apps/alice/echo/%2e%2e%2f%2e%2e%2fbob/echo/", None),
            ("/apps/alice/echo/..%5c..%5cbob/echo/", None),
            ("/apps/alice/echo/..\\..\\bob/", None),
            ("/apps/bob/echo/", None),
            ("/apps/alice/echoes/", None),
            ("//evil.example/apps/alice/echo/", None),
            ("https://evil.example/apps/alice/echo/", None),
            ("/apps/alice/echo/#x", None),
            ("/apps/alice/echo/\r\nSet-Cookie: x=1", None),
        ] {
            assert_eq!(next_under(p, next).as_deref(), want, "{next}");
        }
    }

    #[test]
    fn passes_hold_only_as_signed_for_their_kind_until_they_expire() {
        let key = [7u8; 32];
        let pass = Pass {
            visitor: 3,
            session: "ab".repeat(32),
            owner: "alice".into(),
            app: "jupyter".into(),
        };
        let t = sign(&key, "ticket", &pass, 60);
        assert_eq!(verify(&key, "ticket", &t), Some(pass.clone()));
        assert_eq!(verify(&key, "cookie", &t), None, "a ticket is not a cookie");
        assert_eq!(verify(&[8u8; 32], "ticket", &t), None);
        let (p, s) = t.split_once('.').unwrap();
        let forged = B64.encode(
            String::from_utf8(B64.decode(p).unwrap())
                .unwrap()
                .replace("alice", "bobby"),
        );
        assert_eq!(verify(&key, "ticket", &format!("{forged}.{s}")), None);
        assert_eq!(
            verify(&key, "ticket", &sign(&key, "ticket", &pass, -1)),
            None
        );
        assert_eq!(verify(&key, "ticket", "garbage"), None);
    }
}
