//! Credentials strata must use again (a mirror's token for its remote): sealed with AES-256-GCM
//! under a key derived from the server's signing key (the same on every replica), bound to what
//! they belong to (`aad`), and written as `v1.<base64 nonce ‖ ciphertext>`. Opening gives a
//! [`Secret`], which never shows in a log line. A server started with another signing key
//! cannot open them: the owner sets them again.

use base64::Engine;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
use ring::rand::{SecureRandom, SystemRandom};

use super::keys::JwtKeys;
use crate::config::Secret;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;
const PURPOSE: &str = "strata sealed credentials v1";

fn key(keys: &JwtKeys) -> LessSafeKey {
    let raw = keys.derive(PURPOSE);
    LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &raw).expect("a 32-byte key"))
}

/// `plain` sealed for `aad` (what it belongs to, e.g. `mirror:12`).
pub fn seal(keys: &JwtKeys, aad: &str, plain: &str) -> String {
    let mut nonce = [0u8; 12];
    SystemRandom::new().fill(&mut nonce).expect("randomness");
    let mut sealed = plain.as_bytes().to_vec();
    key(keys)
        .seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(aad.as_bytes()),
            &mut sealed,
        )
        .expect("AES-GCM seals any length held in memory");
    let mut out = nonce.to_vec();
    out.extend_from_slice(&sealed);
    format!("v1.{}", B64.encode(out))
}

/// What [`seal`] sealed for `aad`; `None` when it was sealed for something else, under another
/// key, or is not a sealed value at all.
pub fn open(keys: &JwtKeys, aad: &str, sealed: &str) -> Option<Secret> {
    let mut bytes = B64.decode(sealed.strip_prefix("v1.")?).ok()?;
    if bytes.len() < 12 + 16 {
        return None;
    }
    let nonce: [u8; 12] = bytes[..12].try_into().ok()?;
    let plain = key(keys)
        .open_in_place(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(aad.as_bytes()),
            &mut bytes[12..],
        )
        .ok()?;
    String::from_utf8(plain.to_vec()).ok().map(Secret::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_only_for_what_and_under_the_key_it_was_sealed_with() {
        let made = || {
            let pem = super::super::keys::generate_pem().unwrap();
            JwtKeys::from_pem(&pem, "iss".into(), "aud".into()).unwrap()
        };
        let (keys, other) = (made(), made());
        let sealed = seal(&keys, "mirror:1", "hunter2");
        assert!(!sealed.contains("hunter2"));
        assert_eq!(open(&keys, "mirror:1", &sealed).as_deref(), Some("hunter2"));
        assert!(open(&keys, "mirror:2", &sealed).is_none());
        assert!(open(&other, "mirror:1", &sealed).is_none());
        assert!(open(&keys, "mirror:1", "v1.AAAA").is_none());
        assert!(open(&keys, "mirror:1", "hunter2").is_none());
        // Two seals of one value differ (a fresh nonce each).
        assert_ne!(sealed, seal(&keys, "mirror:1", "hunter2"));
        let opened = open(&keys, "mirror:1", &sealed).unwrap();
        assert_eq!(format!("{opened:?}"), "<redacted>");
    }
}
