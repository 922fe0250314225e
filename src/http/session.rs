//! The browser session a request carries: the session cookie's value ([`session_cookie`], read
//! with `crate::http::cookies`) and the live session it names ([`session`]), whose user is then
//! the request's actor. The API's caller (`crate::http::extract`) and the pages'
//! (`crate::http::pages::signed_in`) both start here.

use axum::http::HeaderMap;
use strata_core::auth::session;
use strata_core::db::SessionRow;

use crate::http::error::ApiResult;
use crate::http::state::AppState;

/// The session cookie's value in a request, if any (and well-formed).
pub fn session_cookie(headers: &HeaderMap) -> Option<String> {
    crate::http::cookies::get(headers, session::COOKIE_NAME)
        .filter(|v| v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The live session a request carries, with the hash of its id.
pub async fn session(
    state: &AppState,
    headers: &HeaderMap,
) -> ApiResult<Option<(String, SessionRow)>> {
    let found = match session_cookie(headers) {
        Some(id) => session::lookup(state, &id).await?,
        None => None,
    };
    // Whoever a page acts for is the request's actor (the audit log, events), as for the API.
    if let Some((_, s)) = &found {
        strata_core::context::set_actor(&s.user.username);
    }
    Ok(found)
}
