//! Browser sessions: a random id in a `Secure` (on https), `HttpOnly`, `SameSite=Lax` cookie, stored
//! server-side as its sha256, with a CSRF token of its own. A new id is issued at every login, so a
//! session id planted before login is worthless (no session fixation).

use crate::config::Settings;
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

/// Starts a session for `user_id`; returns the `Set-Cookie` value.
pub async fn start(core: &Core, user_id: i64) -> Result<String> {
    let (db, settings) = (&core.db, &core.settings);
    let id = random_hex();
    let ttl = settings.session_ttl_secs;
    db.create_session(&hash(&id), user_id, &random_hex(), now() + ttl)
        .await?;
    Ok(set_cookie(settings, &id, ttl))
}

/// Ends the session with this hash; returns the `Set-Cookie` value that clears the cookie.
pub async fn end(core: &Core, id_hash: &str) -> Result<String> {
    core.db.delete_session(id_hash).await?;
    Ok(set_cookie(&core.settings, "", 0))
}

fn set_cookie(settings: &Settings, value: &str, max_age: i64) -> String {
    let secure = settings.cookie_secure();
    format!("{COOKIE_NAME}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}")
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
