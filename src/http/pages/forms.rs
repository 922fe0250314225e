//! Forms and what answers them: reading a URL-encoded body or a multipart form's short fields,
//! the redirect after a POST (with its cookies), and a domain refusal turned into what the form
//! shows again. Their CSRF tokens are checked in `crate::http::csrf`.

use axum::body::Body;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;

use crate::http::error::{ApiError, ApiResult};

/// Largest form body accepted (the text editor's form takes more: `CsrfForm`'s bound).
pub(crate) const MAX_FORM: usize = 64 * 1024;

/// Reads a URL-encoded form body.
pub(crate) async fn read_form<T: DeserializeOwned>(body: Body) -> ApiResult<T> {
    parse_form(&form_bytes(body, MAX_FORM).await?)
}

/// A form body's bytes, up to `max`.
pub(crate) async fn form_bytes(body: Body, max: usize) -> ApiResult<axum::body::Bytes> {
    axum::body::to_bytes(body, max)
        .await
        .map_err(|_| ApiError::too_large(format!("this form is at most {max} bytes")))
}

pub(crate) fn parse_form<T: DeserializeOwned>(bytes: &[u8]) -> ApiResult<T> {
    serde_urlencoded::from_bytes(bytes)
        .map_err(|e| ApiError::unprocessable(format!("malformed form: {e}")))
}

/// A short text field of a multipart form (the CSRF token, a folder), read with a bound: the
/// body limit is off for uploads, so nothing else caps it.
pub(crate) async fn small_text(
    mut field: axum::extract::multipart::Field<'_>,
) -> ApiResult<String> {
    const MAX: usize = 4096;
    let mut bytes = Vec::new();
    while let Some(chunk) = field
        .chunk()
        .await
        .map_err(|e| ApiError::bad_request(e.body_text()))?
    {
        if bytes.len() + chunk.len() > MAX {
            return Err(ApiError::too_large(format!(
                "a form field here has at most {MAX} bytes"
            )));
        }
        bytes.extend_from_slice(&chunk);
    }
    String::from_utf8(bytes).map_err(|_| ApiError::unprocessable("a form field is not UTF-8"))
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

/// Where to go after logging in: only paths on this server (no `//host` or scheme tricks).
pub(super) fn safe_next(next: &str) -> Option<&str> {
    let ok = next.starts_with('/')
        && !next.starts_with("//")
        && !next.starts_with("/\\")
        && !next.chars().any(|c| c.is_control() || c == '\\');
    ok.then_some(next)
}
