//! What page handlers extract: [`SignedIn`] (the visitor's session, or off to the login page),
//! and [`PageError`], the one error a page returns: a redirect or an error answer. The forms a
//! signed-in visitor posts are `crate::http::csrf::CsrfForm`s.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::Method;
use axum::response::{IntoResponse, Response};

use super::forms::see_other;
use crate::http::error::ApiError;
use crate::http::state::AppState;
use strata_core::db::SessionRow;

/// Why a page did not render: the browser goes elsewhere (the login page), or an error answer.
#[derive(Debug)]
pub enum PageError {
    Redirect(String),
    Api(ApiError),
    /// A page to answer instead (the error where the content would be, say).
    Answer(Response),
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        match self {
            PageError::Redirect(to) => see_other(&to, &[]),
            PageError::Api(e) => e.into_response(),
            PageError::Answer(page) => page,
        }
    }
}

impl<E: Into<ApiError>> From<E> for PageError {
    fn from(e: E) -> PageError {
        PageError::Api(e.into())
    }
}

/// What a page handler returns.
pub type PageResult<T = Response> = Result<T, PageError>;

/// A signed-in visitor's session and its id hash. Without a live session the visitor is sent to
/// the login page, which brings them back to the page they asked for (a `GET`).
#[derive(Debug)]
pub struct SignedIn {
    pub id_hash: String,
    pub session: SessionRow,
}

impl FromRequestParts<AppState> for SignedIn {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> PageResult<SignedIn> {
        match crate::http::session::session(state, &parts.headers).await? {
            Some((id_hash, session)) => Ok(SignedIn { id_hash, session }),
            None => Err(PageError::Redirect(login_then(parts))),
        }
    }
}

/// The login page, then back to this page when it was a `GET` (a form's target is not a page).
fn login_then(parts: &Parts) -> String {
    if parts.method != Method::GET {
        return "/login".into();
    }
    let here = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let query = serde_urlencoded::to_string([("next", here)]).unwrap_or_default();
    format!("/login?{query}")
}
