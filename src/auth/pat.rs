//! Personal access tokens: `stp_` and 48 hex characters of randomness. Only their sha256 is stored,
//! which is safe for secrets of this entropy (no password hashing needed).

use sha2::{Digest, Sha256};

const PREFIX: &str = "stp_";

/// A new random token.
pub fn generate() -> String {
    let raw: [u8; 24] = rand::random();
    format!("{PREFIX}{}", hex::encode(raw))
}

pub fn looks_like_pat(secret: &str) -> bool {
    secret.starts_with(PREFIX)
}

/// What the database stores for a token.
pub fn hash(secret: &str) -> String {
    strata_lfs::oid::lower_hex(&Sha256::digest(secret.as_bytes()))
}
