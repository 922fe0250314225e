//! Server-rendered pages for accounts: sign-up, login, logout, the settings page (password,
//! personal access tokens, OAuth applications) and organisation pages (members, teams). Plain HTML forms, no script. Every form carries a CSRF token: the
//! session's own once signed in, a double-submit cookie before (so nobody can log a victim into
//! another account either).

mod home;
mod login;
mod orgs;
mod settings;

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::de::DeserializeOwned;

use crate::auth::session;
use crate::http::ctx;
use crate::http::error::{ApiError, ApiResult};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(home::show))
        .route("/login", get(login::form).post(login::submit))
        .route("/logout", post(login::logout))
        .route("/signup", get(login::signup_form).post(login::signup))
        .route("/settings", get(settings::show))
        .route("/settings/password", post(settings::password))
        .route("/settings/tokens", post(settings::create_token))
        .route("/settings/tokens/revoke", post(settings::revoke_token))
        .route("/settings/apps", post(settings::register_app))
        .route("/orgs/{org}", get(orgs::show))
        .route("/orgs/{org}/members", post(orgs::add_member))
        .route("/orgs/{org}/teams", post(orgs::add_team))
        .route("/orgs/{org}/teams/members", post(orgs::add_team_member))
}

/// The cookie of the double-submit CSRF token of the login and sign-up forms.
const FORM_COOKIE: &str = "strata_form";
/// Largest form body accepted.
const MAX_FORM: usize = 64 * 1024;

/// Escapes text for HTML element content and attribute values.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// A whole page around `body` (already HTML).
pub(crate) fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} · strata</title>\
         <style>body{{font-family:system-ui,sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem}}\
         label{{display:block;margin:.6rem 0}}input{{display:block;width:100%;padding:.3rem}}\
         .error{{color:#a00}}.secret{{font-family:monospace;background:#eee;padding:.3rem}}\
         table{{border-collapse:collapse}}td,th{{padding:.2rem .6rem;text-align:left}}</style></head>\
         <body><h1>{title}</h1>\n{body}\n<p><small>request {rid}</small></p></body></html>\n",
        title = esc(title),
        rid = esc(&ctx::current().request_id),
    );
    let mut response = (status, Html(html)).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        "content-security-policy",
        HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'"),
    );
    response
}

/// A page whose message says what went wrong.
pub(crate) fn error_page(status: StatusCode, title: &str, message: &str, form: &str) -> Response {
    page(
        status,
        title,
        &format!(
            "<p class=\"error\" role=\"alert\">{}</p>\n{form}",
            esc(message)
        ),
    )
}

/// Reads a URL-encoded form body.
pub(crate) async fn read_form<T: DeserializeOwned>(body: Body) -> ApiResult<T> {
    let bytes = axum::body::to_bytes(body, MAX_FORM)
        .await
        .map_err(|_| ApiError::too_large(format!("forms are at most {MAX_FORM} bytes")))?;
    serde_urlencoded::from_bytes(&bytes)
        .map_err(|e| ApiError::unprocessable(format!("malformed form: {e}")))
}

/// A fresh double-submit token and the `Set-Cookie` value that pairs with it.
fn form_token(state: &AppState) -> (String, String) {
    let token = crate::auth::secrets::random_hex(32);
    let secure = if state.settings.public_url.starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    let cookie =
        format!("{FORM_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age=3600{secure}");
    (token, cookie)
}

/// Whether a submitted pre-login form carries the token of its double-submit cookie.
fn form_token_ok(headers: &HeaderMap, sent: &str) -> bool {
    let cookie = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == FORM_COOKIE)
        .map(|(_, v)| v.to_owned());
    matches!(cookie, Some(c) if c.len() == 64 && session::same_secret(&c, sent))
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

fn with_cookie(mut response: Response, cookie: &str) -> Response {
    if let Ok(v) = HeaderValue::from_str(cookie) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    response
}
