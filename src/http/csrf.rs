//! The CSRF rule, in one place: a request that changes something and rides on the browser's
//! cookies must carry a token another site can neither read nor send. Signed in, it is the
//! session's own token: the `csrf` field of a form ([`CsrfForm`]), the first field of a multipart
//! form ([`CsrfMultipart`]), or the `X-CSRF-Token` header of a page script's fetch to the API
//! ([`check_header`], for a session's [`Principal`](strata_core::auth::Principal)). Before sign-in
//! (login, sign-up, a provider's button) it is a double-submit token: a cookie set with the form
//! ([`guest_token`]) that the form's `csrf` field must match ([`GuestForm`]). Handlers take these
//! extractors, so a form cannot forget its check; one that answers a refusal its own way takes
//! `Result<…, Refused>` (or `GuestRefused`) and says what it answers.

use axum::extract::multipart::MultipartError;
use axum::extract::{FromRequest, FromRequestParts, Multipart, Request};
use axum::http::request::Parts;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde::Deserialize;

use crate::http::cookies::{self, SameSite};
use crate::http::error::{ApiError, ApiResult};
use crate::http::pages::forms::{form_bytes, parse_form, small_text, MAX_FORM};
use crate::http::pages::signed_in::{PageError, SignedIn};
use crate::http::state::AppState;
use strata_core::auth::session;
use strata_core::db::SessionRow;

/// The cookie of the double-submit token of the forms shown before sign-in.
const GUEST_COOKIE: &str = "strata_form";
/// What a pre-login form whose token does not match its cookie is told.
pub(crate) const EXPIRED: &str = "This form has expired. Please try again.";

/// The field every form carries its token in.
#[derive(Deserialize)]
struct Token {
    #[serde(default)]
    csrf: String,
}

/// Whether `sent` is the session's token.
fn is_session_token(sent: &str, s: &SessionRow) -> bool {
    session::same_secret(sent, &s.csrf)
}

/// A request on a session cookie may go on: a read (`GET`, `HEAD`, `OPTIONS`) always, any other
/// method with the session's token in `X-CSRF-Token` (what the pages' scripts send).
pub fn check_header(parts: &Parts, s: &SessionRow) -> ApiResult<()> {
    if matches!(parts.method.as_str(), "GET" | "HEAD" | "OPTIONS") {
        return Ok(());
    }
    let sent = parts
        .headers
        .get(session::CSRF_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !is_session_token(sent, s) {
        return Err(ApiError::forbidden(
            "a write with a session cookie needs the session's X-CSRF-Token",
        ));
    }
    Ok(())
}

/// A form with nothing in it but its CSRF token.
#[derive(Debug, Deserialize)]
pub struct NoFields {}

/// A form posted by a signed-in visitor whose `csrf` field is the session's token; its body is
/// at most `MAX` bytes. Refused ([`Refused`]) before the form is used.
#[derive(Debug)]
pub struct CsrfForm<T, const MAX: usize = MAX_FORM> {
    pub signed_in: SignedIn,
    pub form: T,
}

/// Why a signed-in form was refused before its handler ran.
#[derive(Debug)]
pub enum Refused {
    /// Nobody is signed in: the login page to go to.
    SignedOut(String),
    /// The token is missing or wrong.
    Forged,
    /// The body could not be read, or the session could not be looked up.
    Failed(PageError),
}

impl From<PageError> for Refused {
    fn from(e: PageError) -> Refused {
        match e {
            PageError::Redirect(to) => Refused::SignedOut(to),
            e => Refused::Failed(e),
        }
    }
}

impl From<ApiError> for Refused {
    fn from(e: ApiError) -> Refused {
        Refused::Failed(PageError::Api(e))
    }
}

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        match self {
            Refused::SignedOut(to) => PageError::Redirect(to).into_response(),
            Refused::Forged => ApiError::forbidden("missing or wrong CSRF token").into_response(),
            Refused::Failed(e) => e.into_response(),
        }
    }
}

impl<T: DeserializeOwned + Send, const MAX: usize> FromRequest<AppState> for CsrfForm<T, MAX> {
    type Rejection = Refused;

    async fn from_request(req: Request, state: &AppState) -> Result<CsrfForm<T, MAX>, Refused> {
        let (mut parts, body) = req.into_parts();
        let signed_in = SignedIn::from_request_parts(&mut parts, state).await?;
        let bytes = form_bytes(body, MAX).await?;
        let token: Token = parse_form(&bytes)?;
        if !is_session_token(&token.csrf, &signed_in.session) {
            return Err(Refused::Forged);
        }
        let form = parse_form(&bytes)?;
        Ok(CsrfForm { signed_in, form })
    }
}

/// A multipart form (an upload) posted by a signed-in visitor whose first field, `csrf`, is the
/// session's token: checked before any other field is read, so nothing is stored for a forged
/// form. `form` goes on with the fields after it.
pub struct CsrfMultipart {
    pub signed_in: SignedIn,
    pub form: Multipart,
}

impl FromRequest<AppState> for CsrfMultipart {
    type Rejection = Refused;

    async fn from_request(req: Request, state: &AppState) -> Result<CsrfMultipart, Refused> {
        let (mut parts, body) = req.into_parts();
        let signed_in = SignedIn::from_request_parts(&mut parts, state).await;
        // A body that is not a multipart form is refused first, whoever sends it.
        let mut form = Multipart::from_request(Request::from_parts(parts, body), state)
            .await
            .map_err(|e| Refused::Failed(PageError::Answer(e.into_response())))?;
        let signed_in = signed_in?;
        let bad = |e: MultipartError| ApiError::bad_request(e.body_text());
        let sent = match form.next_field().await.map_err(bad)? {
            Some(f) if f.name() == Some("csrf") => small_text(f).await?,
            _ => return Err(Refused::Forged),
        };
        if !is_session_token(&sent, &signed_in.session) {
            return Err(Refused::Forged);
        }
        Ok(CsrfMultipart { signed_in, form })
    }
}

/// A fresh double-submit token for a form shown before sign-in, and the `Set-Cookie` value that
/// pairs with it.
pub(crate) fn guest_token(state: &AppState) -> (String, String) {
    let token = strata_core::auth::secrets::random_hex(32);
    let secure = state.settings.cookie_secure();
    let cookie = cookies::set(GUEST_COOKIE, &token, "/", SameSite::Strict, 3600, secure);
    (token, cookie)
}

/// The `Set-Cookie` value that drops the double-submit cookie once it served (at login).
pub(crate) fn guest_token_spent() -> String {
    cookies::clear(GUEST_COOKIE, "/")
}

/// Whether a pre-login form sent `sent`, the token of its double-submit cookie.
fn is_guest_token(headers: &HeaderMap, sent: &str) -> bool {
    let cookie = cookies::get(headers, GUEST_COOKIE);
    matches!(cookie, Some(c) if c.len() == 64 && session::same_secret(&c, sent))
}

/// A form shown before sign-in whose `csrf` field matches its double-submit cookie.
pub struct GuestForm<T>(pub T);

/// Why a pre-login form was refused.
pub enum GuestRefused<T> {
    /// The body could not be read or parsed.
    Unreadable(ApiError),
    /// The token does not match the cookie (the form is old, or was posted from elsewhere): the
    /// form as sent, for the page that shows it again.
    Expired(T),
}

impl<T> IntoResponse for GuestRefused<T> {
    fn into_response(self) -> Response {
        match self {
            GuestRefused::Unreadable(e) => e.into_response(),
            GuestRefused::Expired(_) => ApiError::forbidden(EXPIRED).into_response(),
        }
    }
}

impl<T: DeserializeOwned + Send> FromRequest<AppState> for GuestForm<T> {
    type Rejection = GuestRefused<T>;

    async fn from_request(req: Request, _: &AppState) -> Result<GuestForm<T>, GuestRefused<T>> {
        let (parts, body) = req.into_parts();
        let bytes = form_bytes(body, MAX_FORM)
            .await
            .map_err(GuestRefused::Unreadable)?;
        let form: T = parse_form(&bytes).map_err(GuestRefused::Unreadable)?;
        let token: Token = parse_form(&bytes).map_err(GuestRefused::Unreadable)?;
        if !is_guest_token(&parts.headers, &token.csrf) {
            return Err(GuestRefused::Expired(form));
        }
        Ok(GuestForm(form))
    }
}
