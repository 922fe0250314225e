//! Browser sessions: a random id, the value of the `strata_session` cookie (which the HTTP layer
//! sets: `Secure` on https, `HttpOnly`, `SameSite=Lax`), stored server-side as its sha256, with a
//! CSRF token of its own. A new id is issued at every login, so a session id planted before login
//! is worthless (no session fixation).

use crate::db::{now, SessionRow};
use crate::error::Result;
use crate::Core;

pub const COOKIE_NAME: &str = "strata_session";
/// The header that carries the CSRF token on cookie-authenticated API writes.
pub const CSRF_HEADER: &str = "x-csrf-token";

fn random_hex() -> String {
    super::secrets::random_hex(32)
}

fn hash(id: &str) -> String {
    super::secrets::stored(id)
}

/// The live session whose id is `id` (the session cookie's value), with the id's hash.
pub async fn lookup(core: &Core, id: &str) -> Result<Option<(String, SessionRow)>> {
    let id_hash = hash(id);
    Ok(core.db.session(&id_hash).await?.map(|s| (id_hash, s)))
}

/// Starts a session for `user_id`, good for `session_ttl_secs`; returns its id (the cookie's
/// value).
pub async fn start(core: &Core, user_id: i64) -> Result<String> {
    let id = random_hex();
    let ttl = core.settings.session_ttl_secs;
    core.db
        .create_session(&hash(&id), user_id, &random_hex(), now() + ttl)
        .await?;
    Ok(id)
}

/// Ends the session with this hash.
pub async fn end(core: &Core, id_hash: &str) -> Result<()> {
    core.db.delete_session(id_hash).await?;
    Ok(())
}

pub use super::secrets::same as same_secret;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compares_secrets() {
        assert!(same_secret("abc", "abc") && !same_secret("abc", "abd") && !same_secret("a", "ab"));
    }
}
