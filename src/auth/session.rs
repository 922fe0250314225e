//! Browser sessions: a random id in a `Secure` (on https), `HttpOnly`, `SameSite=Lax` cookie, stored
//! server-side as its sha256, with a CSRF token of its own. A new id is issued at every login, so a
//! session id planted before login is worthless (no session fixation).

use axum::http::header::COOKIE;
use axum::http::HeaderMap;
use sha2::{Digest, Sha256};

use crate::db::{now, SessionRow};
use crate::error::ApiResult;
use crate::state::AppState;

pub const COOKIE_NAME: &str = "strata_session";
/// The header that carries the CSRF token on cookie-authenticated API writes.
pub const CSRF_HEADER: &str = "x-csrf-token";

fn random_hex() -> String {
    let raw: [u8; 32] = rand::random();
    strata_lfs::lower_hex(&raw)
}

fn hash(id: &str) -> String {
    strata_lfs::lower_hex(&Sha256::digest(id.as_bytes()))
}

/// The session cookie's value in a request, if any.
pub fn cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE_NAME)
        .map(|(_, value)| value.to_owned())
        .filter(|v| v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The live session a request carries.
pub async fn current(
    state: &AppState,
    headers: &HeaderMap,
) -> ApiResult<Option<(String, SessionRow)>> {
    let Some(id) = cookie(headers) else {
        return Ok(None);
    };
    let id_hash = hash(&id);
    Ok(state.db.session(&id_hash).await?.map(|s| (id_hash, s)))
}

/// Starts a session for `user_id`; returns the `Set-Cookie` value.
pub async fn start(state: &AppState, user_id: i64) -> ApiResult<String> {
    let id = random_hex();
    let ttl = state.settings.session_ttl_secs;
    state
        .db
        .create_session(&hash(&id), user_id, &random_hex(), now() + ttl)
        .await?;
    Ok(set_cookie(state, &id, ttl))
}

/// Ends the session with this hash; returns the `Set-Cookie` value that clears the cookie.
pub async fn end(state: &AppState, id_hash: &str) -> ApiResult<String> {
    state.db.delete_session(id_hash).await?;
    Ok(set_cookie(state, "", 0))
}

fn set_cookie(state: &AppState, value: &str, max_age: i64) -> String {
    let secure = if state.settings.public_url.starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    format!("{COOKIE_NAME}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}")
}

/// Compares two secrets in constant time.
pub fn same_secret(a: &str, b: &str) -> bool {
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
    fn reads_only_well_formed_session_cookies() {
        let mut h = HeaderMap::new();
        let id = "a".repeat(64);
        h.insert(
            COOKIE,
            format!("x=1; {COOKIE_NAME}={id}; y=2").parse().unwrap(),
        );
        assert_eq!(cookie(&h), Some(id));
        h.insert(COOKIE, format!("{COOKIE_NAME}=../../etc").parse().unwrap());
        assert_eq!(cookie(&h), None);
        assert!(same_secret("abc", "abc") && !same_secret("abc", "abd") && !same_secret("a", "ab"));
    }
}
