//! Passwords: argon2id (the argon2 crate's defaults, which follow OWASP's recommendation),
//! stored as PHC strings. Verifying an unknown user costs the same as a known one, so response
//! times do not tell which usernames exist.

use std::sync::OnceLock;

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::Argon2;

pub const MIN_LEN: usize = 10;
pub const MAX_LEN: usize = 1024;

/// Why a new password is refused.
pub fn check_new(password: &str, username: &str) -> Result<(), String> {
    if password.chars().count() < MIN_LEN {
        return Err(format!("use at least {MIN_LEN} characters"));
    }
    if password.len() > MAX_LEN {
        return Err(format!("use at most {MAX_LEN} bytes"));
    }
    if password.eq_ignore_ascii_case(username) {
        return Err("the password must not be the username".into());
    }
    Ok(())
}

/// The PHC string of `password` with a fresh salt (CPU-heavy: call off the async threads).
pub fn hash(password: &str) -> String {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .unwrap_or_default()
}

/// Whether `password` matches `stored`; with `None`, does the same work against a dummy hash and
/// says no.
pub fn verify(password: &str, stored: Option<&str>) -> bool {
    static DUMMY: OnceLock<String> = OnceLock::new();
    let dummy = DUMMY.get_or_init(|| hash("strata-dummy-password-for-timing"));
    let (phc, real) = match stored {
        Some(s) => (s, true),
        None => (dummy.as_str(), false),
    };
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    let ok = Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok();
    ok && real
}

/// Runs argon2 on the blocking pool, a bounded number at a time: each hash takes about 19 MiB
/// and a core for tens of milliseconds, so a burst of logins waits its turn instead of
/// exhausting memory or the blocking pool.
#[derive(Debug)]
pub struct Hasher {
    permits: tokio::sync::Semaphore,
}

/// The hasher is saturated: the caller answers 503.
#[derive(Debug, thiserror::Error)]
#[error("too many password checks at once; try again shortly")]
pub struct Busy;

impl Hasher {
    /// At most `concurrency` argon2 computations at once.
    pub fn new(concurrency: usize) -> Hasher {
        Hasher {
            permits: tokio::sync::Semaphore::new(concurrency.max(1)),
        }
    }

    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, Busy> {
        // Waiting longer than this means the queue is too long to serve anyone in time.
        let permit =
            tokio::time::timeout(std::time::Duration::from_secs(20), self.permits.acquire())
                .await
                .map_err(|_| Busy)?
                .map_err(|_| Busy)?;
        let out = tokio::task::spawn_blocking(f).await.map_err(|_| Busy)?;
        drop(permit);
        Ok(out)
    }

    /// [`verify`], bounded.
    pub async fn verify(&self, password: String, stored: Option<String>) -> Result<bool, Busy> {
        self.run(move || verify(&password, stored.as_deref())).await
    }

    /// [`hash`], bounded.
    pub async fn hash(&self, password: String) -> Result<String, Busy> {
        self.run(move || hash(&password)).await
    }
}

/// A busy hasher is the server's `Kind::Busy`.
impl From<Busy> for crate::error::Error {
    fn from(e: Busy) -> crate::error::Error {
        crate::error::Error::new(crate::error::Kind::Busy, e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_refuse() {
        let h = hash("correct horse battery");
        assert!(h.starts_with("$argon2id$"));
        assert!(verify("correct horse battery", Some(&h)));
        assert!(!verify("wrong horse battery", Some(&h)));
        assert!(!verify("correct horse battery", None));
        assert!(!verify("x", Some("not a phc string")));
        assert!(check_new("short", "bob").is_err());
        assert!(check_new("bobbobbobbob", "BOBBOBBOBBOB").is_err());
        assert!(check_new("a long enough one", "bob").is_ok());
    }
}
