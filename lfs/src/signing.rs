//! HMAC-SHA256 signatures for strata's own transfer URLs (the local backend) and verify actions.
//!
//! A signature covers everything the URL grants: the operation, the repository, the oid, the size,
//! the expiry and the id of the key that made it. Several keys can be loaded at once so that a key
//! can be rotated: new URLs are signed with the active key and older ones stay valid until they
//! expire.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::oid::Oid;

type HmacSha256 = Hmac<Sha256>;

/// What a signed URL lets its bearer do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignedOp {
    Upload,
    Download,
    Verify,
    /// Upload part `n` (from 1) of a `multipart-basic` upload.
    Part(u32),
    /// Assemble a `multipart-basic` upload.
    Commit,
    /// Throw a `multipart-basic` upload's parts away.
    Abort,
    /// Read bytes `start..=end` of the object, and no others (a Xet client's xorb range).
    Range(u64, u64),
}

impl SignedOp {
    fn name(self) -> std::borrow::Cow<'static, str> {
        match self {
            SignedOp::Upload => "upload".into(),
            SignedOp::Download => "download".into(),
            SignedOp::Verify => "verify".into(),
            SignedOp::Part(n) => format!("part:{n}").into(),
            SignedOp::Commit => "commit".into(),
            SignedOp::Abort => "abort".into(),
            SignedOp::Range(start, end) => format!("range:{start}-{end}").into(),
        }
    }
}

/// The facts a signature vouches for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant<'a> {
    pub op: SignedOp,
    /// `{ns}/{name}` of the repository the transfer belongs to.
    pub repo: &'a str,
    /// The repository's row id: a URL dies with the repository it was signed for, even if
    /// another is later made under the same name.
    pub dataset: i64,
    pub oid: Oid,
    pub size: u64,
    /// Unix seconds after which the signature is refused.
    pub expires: i64,
}

/// A signature together with the id of the key that made it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    pub kid: String,
    pub sig: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignError {
    #[error("the signature has expired")]
    Expired,
    #[error("the signature was made with an unknown key")]
    UnknownKey,
    #[error("the signature does not match")]
    BadSignature,
}

/// A ring of HMAC keys; the first one signs, all of them verify.
#[derive(Clone)]
pub struct UrlSigner {
    /// `(kid, HMAC already keyed with the secret)`: cloning it skips the key schedule per URL.
    keys: Vec<(String, HmacSha256)>,
}

impl std::fmt::Debug for UrlSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kids: Vec<&str> = self.keys.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("UrlSigner").field("kids", &kids).finish()
    }
}

impl UrlSigner {
    /// `keys` as `(kid, secret)`; the first is the active signing key. Panics when empty.
    pub fn new(keys: Vec<(String, Vec<u8>)>) -> UrlSigner {
        assert!(!keys.is_empty(), "a UrlSigner needs at least one key");
        let keys = keys
            .into_iter()
            .map(|(kid, secret)| {
                let mac =
                    HmacSha256::new_from_slice(&secret).expect("HMAC takes keys of any length");
                (kid, mac)
            })
            .collect();
        UrlSigner { keys }
    }

    pub fn active_kid(&self) -> &str {
        &self.keys[0].0
    }

    pub fn sign(&self, grant: &Grant<'_>) -> Signature {
        let (kid, secret) = &self.keys[0];
        let mac = Self::mac(secret, kid, grant);
        Signature {
            kid: kid.clone(),
            sig: crate::oid::lower_hex(&mac.finalize().into_bytes()),
        }
    }

    /// Checks `sig` against `grant` at time `now` (unix seconds), in constant time.
    pub fn verify(
        &self,
        grant: &Grant<'_>,
        kid: &str,
        sig: &str,
        now: i64,
    ) -> Result<(), SignError> {
        let (_, secret) = self
            .keys
            .iter()
            .find(|(k, _)| k == kid)
            .ok_or(SignError::UnknownKey)?;
        let raw = hex::decode(sig).map_err(|_| SignError::BadSignature)?;
        Self::mac(secret, kid, grant)
            .verify_slice(&raw)
            .map_err(|_| SignError::BadSignature)?;
        // Expiry is checked after the MAC so an attacker learns nothing from the order of errors.
        if now > grant.expires {
            return Err(SignError::Expired);
        }
        Ok(())
    }

    fn mac(keyed: &HmacSha256, kid: &str, g: &Grant<'_>) -> HmacSha256 {
        let mut mac = keyed.clone();
        // Fields are newline-separated; none of them can contain a newline (repo names are
        // validated, the rest are numbers, hex or fixed words).
        let (size, expires) = (g.size.to_string(), g.expires.to_string());
        let dataset = g.dataset.to_string();
        let op = g.op.name();
        let fields: [&[u8]; 7] = [
            op.as_bytes(),
            g.repo.as_bytes(),
            dataset.as_bytes(),
            &g.oid.hex(),
            size.as_bytes(),
            expires.as_bytes(),
            kid.as_bytes(),
        ];
        mac.update(b"strata-transfer-v2");
        for field in fields {
            mac.update(b"\n");
            mac.update(field);
        }
        mac
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(repo: &str) -> Grant<'_> {
        Grant {
            op: SignedOp::Upload,
            repo,
            dataset: 1,
            oid: Oid::of(b"x"),
            size: 1,
            expires: 1000,
        }
    }

    #[test]
    fn signs_and_verifies() {
        let s = UrlSigner::new(vec![("k1".into(), b"secret".to_vec())]);
        let sig = s.sign(&grant("a/b"));
        assert_eq!(s.verify(&grant("a/b"), &sig.kid, &sig.sig, 999), Ok(()));
    }

    #[test]
    fn refuses_tampering_expiry_and_unknown_keys() {
        let s = UrlSigner::new(vec![("k1".into(), b"secret".to_vec())]);
        let sig = s.sign(&grant("a/b"));
        assert_eq!(
            s.verify(&grant("a/c"), &sig.kid, &sig.sig, 0),
            Err(SignError::BadSignature)
        );
        let mut other = grant("a/b");
        other.op = SignedOp::Download;
        assert_eq!(
            s.verify(&other, &sig.kid, &sig.sig, 0),
            Err(SignError::BadSignature)
        );
        other = grant("a/b");
        other.size = 2;
        assert_eq!(
            s.verify(&other, &sig.kid, &sig.sig, 0),
            Err(SignError::BadSignature)
        );
        other = grant("a/b");
        other.op = SignedOp::Part(1);
        let part = s.sign(&other);
        other.op = SignedOp::Part(2);
        assert_eq!(
            s.verify(&other, &part.kid, &part.sig, 0),
            Err(SignError::BadSignature)
        );
        other = grant("a/b");
        other.dataset = 2;
        assert_eq!(
            s.verify(&other, &sig.kid, &sig.sig, 0),
            Err(SignError::BadSignature)
        );
        other = grant("a/b");
        other.expires = 2000;
        assert_eq!(
            s.verify(&other, &sig.kid, &sig.sig, 0),
            Err(SignError::BadSignature)
        );
        assert_eq!(
            s.verify(&grant("a/b"), &sig.kid, &sig.sig, 1001),
            Err(SignError::Expired)
        );
        assert_eq!(
            s.verify(&grant("a/b"), "k2", &sig.sig, 0),
            Err(SignError::UnknownKey)
        );
        assert_eq!(
            s.verify(&grant("a/b"), "k1", "zz", 0),
            Err(SignError::BadSignature)
        );
    }

    #[test]
    fn rotated_keys_still_verify() {
        let old = UrlSigner::new(vec![("k1".into(), b"one".to_vec())]);
        let sig = old.sign(&grant("a/b"));
        let rotated = UrlSigner::new(vec![
            ("k2".into(), b"two".to_vec()),
            ("k1".into(), b"one".to_vec()),
        ]);
        assert_eq!(rotated.verify(&grant("a/b"), &sig.kid, &sig.sig, 0), Ok(()));
        assert_eq!(rotated.sign(&grant("a/b")).kid, "k2");
    }
}
