//! Cookies, read and written in one place with the `cookie` crate: the value of a cookie in a
//! request ([`get`]), and the `Set-Cookie` of each cookie strata sets ([`set`]): the session
//! ([`session`]), the token of the forms shown before sign-in, a sign-in with a provider, a share
//! link's password and an app on its own origin. Each is `HttpOnly`, with a `SameSite`, a `Path`
//! and a `Max-Age`, and `Secure` when strata is served over https. What the app proxy lets through
//! of the cookies going to and coming from an app is `proxy/forward.rs`'s.

use axum::http::header::COOKIE;
use axum::http::HeaderMap;
use cookie::time::Duration;
use cookie::Cookie;

pub use cookie::SameSite;

use crate::http::state::AppState;
use strata_core::auth::session::COOKIE_NAME as SESSION_COOKIE;

/// The value of cookie `name` in a request, if any (the first, when there are several).
pub fn get(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == name)
        .map(|c| c.value().to_owned())
}

/// The `Set-Cookie` value of a cookie strata sets: `HttpOnly`, `same_site`, `path`, `Max-Age`
/// (in seconds; 0 clears it), and `Secure` when `secure`.
pub fn set(
    name: &str,
    value: &str,
    path: &str,
    same_site: SameSite,
    max_age: i64,
    secure: bool,
) -> String {
    Cookie::build((name, value))
        .path(path)
        .http_only(true)
        .same_site(same_site)
        .max_age(Duration::seconds(max_age))
        .secure(secure)
        .to_string()
}

/// The `Set-Cookie` value that clears cookie `name` of `path`, and says nothing else.
pub fn clear(name: &str, path: &str) -> String {
    Cookie::build((name, ""))
        .path(path)
        .max_age(Duration::ZERO)
        .to_string()
}

/// The session cookie: the session `id` for the sessions' lifetime, or with `None` the cookie
/// cleared (at logout).
pub fn session(state: &AppState, id: Option<&str>) -> String {
    let (value, max_age) = match id {
        Some(id) => (id, state.settings.session_ttl_secs),
        None => ("", 0),
    };
    let secure = state.settings.cookie_secure();
    set(SESSION_COOKIE, value, "/", SameSite::Lax, max_age, secure)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_every_attribute() {
        assert_eq!(
            set("strata_x", "v", "/p", SameSite::Lax, 60, true),
            "strata_x=v; HttpOnly; SameSite=Lax; Secure; Path=/p; Max-Age=60"
        );
        assert_eq!(
            set("strata_x", "", "/", SameSite::Strict, 0, false),
            "strata_x=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0"
        );
        assert_eq!(clear("strata_form", "/"), "strata_form=; Path=/; Max-Age=0");
    }

    #[test]
    fn reads_a_cookie_among_others() {
        let mut h = HeaderMap::new();
        h.append(COOKIE, "a=1; b=2;; c".parse().unwrap());
        h.append(COOKIE, "d=4; b=5".parse().unwrap());
        assert_eq!(get(&h, "b").as_deref(), Some("2"));
        assert_eq!(get(&h, "d").as_deref(), Some("4"));
        assert_eq!(get(&h, "c"), None);
    }
}
