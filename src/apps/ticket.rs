//! Signed passes for apps on their own origin (`--apps-origin`), where strata's session cookie
//! does not go: strata's origin hands a signed-in visitor a one-minute ticket in a redirect, the
//! apps origin trades it for a cookie limited to that one app's path. Both are HMAC-SHA256 under
//! a key derived from the JWT key (the same on every replica) over the visitor's id, their
//! session (the pass ends with it), the owner, the app, the expiry and what the pass is for.

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

#[cfg(test)]
mod tests {
    use super::*;

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
