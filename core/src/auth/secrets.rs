//! The one place for secret handling: random secrets, how they are stored (sha256, hex), and
//! comparing them in constant time. Sessions, tokens, OAuth codes and secrets, CSRF tokens and
//! invitations all use these.

use sha2::{Digest, Sha256};

/// `bytes` random bytes from the OS generator, as lowercase hex.
pub fn random_hex(bytes: usize) -> String {
    let mut raw = vec![0u8; bytes];
    rand::fill(&mut raw[..]);
    strata_lfs::lower_hex(&raw)
}

/// How a secret is stored: the lowercase hex sha256 of it. (Secrets here are random and long,
/// so a fast hash is enough; passwords use argon2 in `password`.)
pub fn stored(secret: &str) -> String {
    strata_lfs::lower_hex(&Sha256::digest(secret.as_bytes()))
}

/// Compares two secrets in constant time.
pub fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets() {
        assert_eq!(random_hex(32).len(), 64);
        assert_ne!(random_hex(16), random_hex(16));
        assert_eq!(stored("abc").len(), 64);
        assert!(same("abc", "abc") && !same("abc", "abd") && !same("a", "ab"));
    }
}
