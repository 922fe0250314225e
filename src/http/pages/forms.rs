//! Forms and what answers them: reading a URL-encoded body, the double-submit token of the
//! forms shown before sign-in, the redirect after a POST (with its cookies), and a domain refusal
//! turned into what the form shows again.

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;

use crate::http::error::{ApiError, ApiResult};
use crate::http::state::AppState;
use strata_core::auth::session;

/// The cookie of the double-submit CSRF token of the login and sign-up forms.
pub(super) const FORM_COOKIE: &str = "strata_form";
/// Largest form body accepted (the text editor's form takes more: `CsrfForm`'s bound).
pub(super) const MAX_FORM: usize = 64 * 1024;

/// Reads a URL-encoded form body.
pub(crate) async fn read_form<T: DeserializeOwned>(body: Body) -> ApiResult<T> {
    parse_form(&form_bytes(body, MAX_FORM).await?)
}

/// A form body's bytes, up to `max`.
pub(super) async fn form_bytes(body: Body, max: usize) -> ApiResult<axum::body::Bytes> {
    axum::body::to_bytes(body, max)
        .await
        .map_err(|_| ApiError::too_large(format!("this form is at most {max} bytes")))
}

pub(super) fn parse_form<T: DeserializeOwned>(bytes: &[u8]) -> ApiResult<T> {
    serde_urlencoded::from_bytes(bytes)
        .map_err(|e| ApiError::unprocessable(format!("malformed form: {e}")))
}

/// A fresh double-submit token and the `Set-Cookie` value that pairs with it.
pub(super) fn form_token(state: &AppState) -> (String, String) {
    let token = strata_core::auth::secrets::random_hex(32);
    let secure = state.settings.cookie_secure();
    let cookie =
        format!("{FORM_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age=3600{secure}");
    (token, cookie)
}

/// Whether a submitted pre-login form carries the token of its double-submit cookie.
pub(super) fn form_token_ok(headers: &HeaderMap, sent: &str) -> bool {
    let cookie = crate::http::extract::cookie(headers, FORM_COOKIE);
    matches!(cookie, Some(c) if c.len() == 64 && session::same_secret(&c, sent))
}

/// A dataset path as it goes into a URL path: every byte but unreserved ones and `/` encoded, so
/// that a file named `a?b#c` is that file and not a query.
pub(crate) fn path_url(path: &str) -> String {
    strata_core::names::url_path(path)
}

/// A redirect after a successful POST, with cookies to set.
pub(crate) fn see_other(location: &str, cookies: &[String]) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    let headers = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(location) {
        headers.insert(header::LOCATION, v);
    }
    for c in cookies {
        if let Ok(v) = HeaderValue::from_str(c) {
            headers.append(header::SET_COOKIE, v);
        }
    }
    response
}

pub(super) fn with_cookie(mut response: Response, cookie: &str) -> Response {
    if let Ok(v) = HeaderValue::from_str(cookie) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    response
}

/// A domain refusal to show on a form again: its status and its message, meant for the person at
/// the form. Server failures (and a saturated server) are not refusals: they stay errors.
pub(super) fn refusal(e: strata_core::error::Error) -> ApiResult<(StatusCode, String)> {
    use strata_core::error::Kind;
    match e.kind {
        Kind::Internal | Kind::Busy | Kind::Upstream => Err(e.into()),
        _ => {
            let e = ApiError::from(e);
            Ok((e.status, e.message))
        }
    }
}
