//! Personal access tokens: `stp_` and 48 hex characters. The first 16 are the token's id, random;
//! the other 32 an HMAC of the id under a key derived from the server's private key. Only the
//! token's sha256 is stored, which is safe for secrets of this entropy (no password hashing
//! needed); the id lets the S3 gateway, whose SigV4 signatures need the secret itself, derive it
//! again from the access key id (`stp_` and the id: the token's first 20 characters).
//! Tokens made before ids were derived this way work everywhere but through S3.

use hmac::{KeyInit, Mac};

const PREFIX: &str = "stp_";
/// Hex characters of a token's id.
const ID_HEX: usize = 16;
/// What the key tokens are derived under is derived for (`JwtKeys::derive`).
pub const PURPOSE: &str = "strata personal access tokens";

/// A new token, its secret part derived from a random id under `key`.
pub fn generate(key: &[u8; 32]) -> String {
    let id = super::secrets::random_hex(ID_HEX / 2);
    secret_of(key, &id)
}

fn secret_of(key: &[u8; 32], id: &str) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key).expect("any key length");
    mac.update(id.as_bytes());
    let tag = mac.finalize().into_bytes();
    format!("{PREFIX}{id}{}", strata_lfs::lower_hex(&tag[..16]))
}

pub fn looks_like_pat(secret: &str) -> bool {
    secret.starts_with(PREFIX)
}

/// A token's access key id for S3: its first 20 characters (`stp_` and its id).
pub fn access_key_id(secret: &str) -> &str {
    secret.get(..PREFIX.len() + ID_HEX).unwrap_or(secret)
}

/// The token an access key id (`stp_` and 16 lowercase hex characters) names, if it was made
/// under `key`; `None` for anything else.
pub fn derive(key: &[u8; 32], access_key_id: &str) -> Option<String> {
    let id = access_key_id.strip_prefix(PREFIX)?;
    (id.len() == ID_HEX && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
        .then(|| secret_of(key, id))
}

/// What the database stores for a token.
pub fn hash(secret: &str) -> String {
    super::secrets::stored(secret)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_derived_again_from_its_access_key_id_and_the_key_only() {
        let key = [7u8; 32];
        let token = generate(&key);
        assert!(looks_like_pat(&token) && token.len() == 4 + 48);
        let id = access_key_id(&token);
        assert_eq!(id.len(), 20);
        assert_eq!(derive(&key, id).as_deref(), Some(token.as_str()));
        assert_ne!(derive(&[8u8; 32], id).as_deref(), Some(token.as_str()));
        assert_eq!(derive(&key, "stp_0123"), None);
        assert_eq!(derive(&key, "stp_0123456789ABCDEF"), None);
        assert_eq!(derive(&key, "AKIA0123456789abcdef"), None);
        assert_ne!(generate(&key), token);
    }
}
