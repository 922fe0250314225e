//! What page handlers extract: [`SignedIn`] (the visitor's session, or off to the login page),
//! [`CsrfForm`] (a form posted by a signed-in visitor, its CSRF token checked against the
//! session), and [`PageError`], the one error a page returns: a redirect or an error answer.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::Method;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde::Deserialize;

use super::forms::{form_bytes, parse_form, see_other, MAX_FORM};
use crate::http::error::ApiError;
use crate::http::state::AppState;
use strata_core::auth::session;
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
        match crate::http::extract::session(state, &parts.headers).await? {
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

/// A form posted by a signed-in visitor whose `csrf` field matches the session's token; a
/// missing or wrong one is refused (403) before the form is used. Its body is at most `MAX` bytes.
#[derive(Debug)]
pub struct CsrfForm<T, const MAX: usize = MAX_FORM> {
    pub signed_in: SignedIn,
    pub form: T,
}

#[derive(Deserialize)]
struct Token {
    #[serde(default)]
    csrf: String,
}

impl<T: DeserializeOwned + Send, const MAX: usize> FromRequest<AppState> for CsrfForm<T, MAX> {
    type Rejection = PageError;

    async fn from_request(req: Request, state: &AppState) -> PageResult<CsrfForm<T, MAX>> {
        let (mut parts, body) = req.into_parts();
        let signed_in = SignedIn::from_request_parts(&mut parts, state).await?;
        let bytes = form_bytes(body, MAX).await?;
        let token: Token = parse_form(&bytes)?;
        if !session::same_secret(&token.csrf, &signed_in.session.csrf) {
            return Err(ApiError::forbidden("missing or wrong CSRF token").into());
        }
        let form = parse_form(&bytes)?;
        Ok(CsrfForm { signed_in, form })
    }
}
