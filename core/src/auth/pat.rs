//! Personal access tokens: `stp_` and 48 hex characters of randomness. Only their sha256 is stored,
//! which is safe for secrets of this entropy (no password hashing needed).

const PREFIX: &str = "stp_";

/// A new random token.
pub fn generate() -> String {
    format!("{PREFIX}{}", super::secrets::random_hex(24))
}

pub fn looks_like_pat(secret: &str) -> bool {
    secret.starts_with(PREFIX)
}

/// What the database stores for a token.
pub fn hash(secret: &str) -> String {
    super::secrets::stored(secret)
}
