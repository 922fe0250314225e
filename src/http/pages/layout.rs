//! The page layout: [`Chrome`] (what every page shows around its content), [`render`] (a
//! template as a `no-store` page with the CSP), the message and error pages, and the answer to a
//! URL nothing routes.

use askama::Template;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};

use crate::http::csp::CSP;
use crate::http::ctx;
use crate::http::error::ApiError;
use crate::http::state::AppState;
use strata_core::db::SessionRow;

/// What every page shows around its content: the title, who is signed in (with the CSRF token
/// of the sign-out form), the current navigation entry, an error or notice, the request id and
/// the hashed asset URLs (stylesheet, script, favicon). Templates extend
/// `ui/templates/base.html`, which reads it.
pub struct Chrome {
    pub title: String,
    pub user: Option<String>,
    /// The signed-in user's unread notifications.
    pub unread: i64,
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
            unread: s.map_or(0, |s| s.unread),
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
