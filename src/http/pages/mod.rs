//! Server-rendered pages: the home page, sign-up, login, logout, settings (password, personal
//! access tokens, OAuth applications), organisations, the dataset browser, and apps. HTML comes from
//! the auto-escaping askama templates in `ui/templates/` (every page extends `base.html` through
//! [`Chrome`]); pages work as plain forms, and `ui/static/strata.js` only enhances them. Every
//! form carries a CSRF token: the session's own once signed in, a double-submit cookie before
//! (so nobody can log a victim into another account either).

mod apps;
mod dataset_settings;
mod datasets;
mod file;
mod files;
mod home;
mod links;
mod login;
mod orgs;
mod revisions;
mod settings;
mod shared;
mod signed_in;
mod sso;
mod tags;

use askama::Template;
use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::de::DeserializeOwned;

use crate::http::ctx;
use crate::http::error::{ApiError, ApiResult};
use crate::http::state::AppState;
use strata_core::auth::session;
use strata_core::db::SessionRow;

pub(crate) use signed_in::{CsrfForm, SignedIn};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(home::show))
        .route("/login", get(login::form).post(login::submit))
        .route("/logout", post(login::logout))
        .route("/signup", get(login::signup_form).post(login::signup))
        .route("/login/sso/{provider}", post(sso::start))
        .route("/login/sso/{provider}/callback", get(sso::callback))
        .route("/settings", get(settings::show))
        .route("/settings/identities/unlink", post(sso::unlink))
        .route("/settings/identities/{provider}", post(sso::link))
        .route("/settings/password", post(settings::password))
        .route("/settings/tokens", post(settings::create_token))
        .route("/settings/tokens/revoke", post(settings::revoke_token))
        .route("/settings/apps", post(settings::register_app))
        .route("/datasets", post(home::create))
        .route("/datasets/{ns}/{name}", get(datasets::show))
        .route("/datasets/{ns}/{name}/history", get(datasets::history))
        .route("/datasets/{ns}/{name}/files/{*path}", get(file::show))
        .route(
            "/datasets/{ns}/{name}/revisions/{rev}",
            get(revisions::show),
        )
        .route("/datasets/{ns}/{name}/diff", get(revisions::diff))
        .route(
            "/datasets/{ns}/{name}/settings",
            get(dataset_settings::show).post(dataset_settings::change),
        )
        .route(
            "/datasets/{ns}/{name}/tags",
            get(tags::show).post(tags::create),
        )
        .route(
            "/datasets/{ns}/{name}/tags/{tag}/description",
            post(tags::describe),
        )
        .route(
            "/datasets/{ns}/{name}/tags/{tag}/delete",
            post(tags::delete),
        )
        .route("/drive", get(files::drive).post(files::make_drive))
        .route("/shared", get(shared::show))
        .route("/apps", get(apps::show))
        .route("/app-catalog/{app}", get(apps::app))
        .route("/app-catalog/{app}/open", get(apps::open))
        .route("/app-catalog/{app}/{action}", post(apps::act))
        .route(
            "/datasets/{ns}/{name}/upload",
            // Uploads are bounded by the largest object, checked while they stream.
            post(files::upload).layer(axum::extract::DefaultBodyLimit::disable()),
        )
        .route("/datasets/{ns}/{name}/files", post(files::change))
        .route("/datasets/{ns}/{name}/trash", get(files::trash))
        .route("/s/{secret}", get(links::show).post(links::unlock))
        .route("/s/{secret}/raw", get(links::raw))
        .route("/s/{secret}/raw/{*path}", get(links::raw))
        .route("/datasets/{ns}/{name}/branches", post(tags::create_branch))
        .route(
            "/datasets/{ns}/{name}/branches/{branch}/delete",
            post(tags::delete_branch),
        )
        .route("/datasets/{ns}/{name}/revert", post(revisions::revert))
        .route("/static/{file}", get(crate::http::assets::serve))
        .route("/orgs/{org}", get(orgs::show))
        .route("/orgs/{org}/members", post(orgs::add_member))
        .route("/orgs/{org}/teams", post(orgs::add_team))
        .route("/orgs/{org}/teams/members", post(orgs::add_team_member))
}

/// The cookie of the double-submit CSRF token of the login and sign-up forms.
const FORM_COOKIE: &str = "strata_form";
/// Largest form body accepted.
const MAX_FORM: usize = 64 * 1024;

/// What every page shows around its content: the title, who is signed in (with the CSRF token
/// of the sign-out form), the current navigation entry, an error or notice, the request id and
/// the hashed asset URLs (stylesheet, script, favicon). Templates extend
/// `ui/templates/base.html`, which reads it.
pub struct Chrome {
    pub title: String,
    pub user: Option<String>,
    pub csrf: String,
    pub nav: &'static str,
    pub error: Option<String>,
    pub notice: Option<String>,
    pub request_id: String,
    pub css: String,
    pub js: String,
    pub icon: String,
}

impl Chrome {
    /// The chrome of a page for the visitor `s` (signed in or not).
    pub fn new(title: impl Into<String>, s: Option<&SessionRow>, nav: &'static str) -> Chrome {
        Chrome {
            title: title.into(),
            user: s.map(|s| s.user.username.clone()),
            csrf: s.map(|s| s.csrf.clone()).unwrap_or_default(),
            nav,
            error: None,
            notice: None,
            request_id: ctx::current().request_id,
            css: crate::http::assets::css(),
            js: crate::http::assets::js(),
            icon: crate::http::assets::favicon(),
        }
    }

    pub fn error(mut self, message: impl Into<String>) -> Chrome {
        self.error = Some(message.into());
        self
    }

    pub fn notice(mut self, message: impl Into<String>) -> Chrome {
        self.notice = Some(message.into());
        self
    }
}

/// The one Content-Security-Policy of every page: own styles and scripts only, no inline code,
/// never framed. WebAssembly (the upload's sha256) may compile; no JavaScript `eval` may run.
/// Scripts may connect to strata and to `part_origin`, the bucket browser uploads go to.
pub(crate) fn csp(part_origin: Option<&str>) -> String {
    let connect = part_origin.map_or(String::new(), |o| format!(" {o}"));
    format!(
        "default-src 'none'; style-src 'self'; script-src 'self' 'wasm-unsafe-eval'; \
         worker-src 'self'; img-src 'self' data:; connect-src 'self'{connect}; form-action 'self'; \
         base-uri 'none'; frame-ancestors 'none'"
    )
}

/// [`csp`] for a form whose answer redirects to `target` (the OAuth consent page): its origin,
/// or its scheme for a native app's `com.example.app:/callback`, joins `form-action`.
pub(crate) fn csp_with_form_target(target: &str) -> Option<HeaderValue> {
    let url = url::Url::parse(target).ok()?;
    let source = match url.origin() {
        url::Origin::Tuple(..) => url.origin().ascii_serialization(),
        url::Origin::Opaque(_) => format!("{}:", url.scheme()),
    };
    let policy = csp(None).replace(
        "form-action 'self'",
        &format!("form-action 'self' {source}"),
    );
    HeaderValue::from_str(&policy).ok()
}

/// [`csp`] of a server whose uploads go to strata only; the HTTP layer puts the configured
/// bucket's in its place (`crate::http::ctx::layer`).
pub(crate) static CSP: std::sync::LazyLock<HeaderValue> =
    std::sync::LazyLock::new(|| HeaderValue::from_str(&csp(None)).expect("the CSP is ASCII"));

/// A rendered template as a page: `no-store` (pages show secrets once and per-user data) and
/// the CSP.
pub(crate) fn render(status: StatusCode, template: &impl Template) -> Response {
    let html = match template.render() {
        Ok(html) => html,
        Err(e) => {
            tracing::error!(error = %e, "template failed");
            return ApiError::internal("the page could not be rendered").into_response();
        }
    };
    let mut response = (status, Html(html)).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert("content-security-policy", CSP.clone());
    response
}

/// A page with a message and an optional link onwards (errors, notices, closed doors).
#[derive(Template)]
#[template(path = "message.html")]
pub(crate) struct Message {
    pub chrome: Chrome,
    pub next: Option<(String, String)>,
}

/// An error as a page: the status, the message where the content would be, and the chrome of
/// the visitor.
pub(crate) fn error_page(status: StatusCode, chrome: Chrome, message: &str) -> Response {
    render(
        status,
        &Message {
            chrome: chrome.error(message),
            next: None,
        },
    )
}

/// The answer to a URL nothing routes: for a browser asking for a page (`Accept: text/html`,
/// outside the API), the error page with the request id; for every other client, the JSON error.
pub(crate) async fn not_found(
    axum::extract::State(state): axum::extract::State<AppState>,
    uri: axum::http::Uri,
    headers: HeaderMap,
) -> Response {
    let wants_page = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("text/html"));
    if !wants_page || uri.path().starts_with("/api/") {
        return ApiError::not_found("no such endpoint").into_response();
    }
    // The header shows who is signed in, as on every page; a broken lookup only hides it.
    let s = crate::http::extract::session(&state, &headers)
        .await
        .ok()
        .flatten()
        .map(|(_, s)| s);
    let page = Message {
        chrome: Chrome::new("Page not found", s.as_ref(), "")
            .error(format!("There is no page at {}.", uri.path())),
        next: Some(("/".into(), "Go to the start page".into())),
    };
    render(StatusCode::NOT_FOUND, &page)
}

/// Reads a URL-encoded form body.
pub(crate) async fn read_form<T: DeserializeOwned>(body: Body) -> ApiResult<T> {
    parse_form(&form_bytes(body).await?)
}

/// A form body's bytes, up to [`MAX_FORM`].
async fn form_bytes(body: Body) -> ApiResult<axum::body::Bytes> {
    axum::body::to_bytes(body, MAX_FORM)
        .await
        .map_err(|_| ApiError::too_large(format!("forms are at most {MAX_FORM} bytes")))
}

fn parse_form<T: DeserializeOwned>(bytes: &[u8]) -> ApiResult<T> {
    serde_urlencoded::from_bytes(bytes)
        .map_err(|e| ApiError::unprocessable(format!("malformed form: {e}")))
}

/// A fresh double-submit token and the `Set-Cookie` value that pairs with it.
fn form_token(state: &AppState) -> (String, String) {
    let token = strata_core::auth::secrets::random_hex(32);
    let secure = state.settings.cookie_secure();
    let cookie =
        format!("{FORM_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age=3600{secure}");
    (token, cookie)
}

/// Whether a submitted pre-login form carries the token of its double-submit cookie.
fn form_token_ok(headers: &HeaderMap, sent: &str) -> bool {
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

fn with_cookie(mut response: Response, cookie: &str) -> Response {
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
