//! Sign-in through an external identity provider (`strata_core::sso`): the start, the callback,
//! and linking or unlinking a provider's account from the settings page.
//!
//! The start records the sign-in (state hash, nonce, PKCE verifier, where to go after) for ten
//! minutes and binds it to this browser with a `SameSite=Lax` cookie holding the state. The
//! callback needs the cookie and the query's `state` to agree and takes the record, so a state
//! works once, in the browser that started it. Starts are limited per client address, since
//! each leaves a row for ten minutes.

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;

use super::forms::{see_other, with_cookie};
use super::layout::{render, Chrome, Message};
use crate::http::cookies::{self, SameSite};
use crate::http::csrf::{CsrfForm, GuestForm, GuestRefused, EXPIRED};
use crate::http::error::{ApiError, ApiResult};
use crate::http::state::AppState;
use strata_core::auth::session;
use strata_core::db::User;
use strata_core::sso::flow;

const COOKIE: &str = "strata_sso";
use flow::TTL_SECS;

fn redirect_uri(state: &AppState, provider: &str) -> String {
    format!(
        "{}/login/sso/{provider}/callback",
        state.settings.public_url
    )
}

fn cookie(state: &AppState, value: &str, max_age: i64) -> String {
    let secure = state.settings.cookie_secure();
    cookies::set(COOKIE, value, "/login/sso", SameSite::Lax, max_age, secure)
}

/// A page that says why a sign-in failed, with a way back to the login page.
fn failed(status: StatusCode, message: &str) -> Response {
    render(
        status,
        &Message {
            chrome: Chrome::new("Sign-in failed", None, "login").error(message),
            next: Some(("/login".into(), "Back to the login page".into())),
        },
    )
}

fn from_error(e: strata_core::error::Error) -> Response {
    let e = ApiError::from(e);
    failed(e.status, &e.message)
}

#[derive(Deserialize, Default)]
pub struct StartForm {
    #[serde(default)]
    next: String,
}

/// `POST /login/sso/{provider}` (the login page's button, with its form token): off to the
/// provider. A POST, so no other site can start a sign-in in a visitor's browser.
pub async fn start(
    State(state): State<AppState>,
    Path(provider): Path<String>,
    form: Result<GuestForm<StartForm>, GuestRefused<StartForm>>,
) -> ApiResult<Response> {
    let form = match form {
        Ok(GuestForm(form)) => form,
        Err(GuestRefused::Expired(_)) => return Ok(failed(StatusCode::FORBIDDEN, EXPIRED)),
        Err(GuestRefused::Unreadable(e)) => return Err(e),
    };
    let next = super::forms::safe_next(&form.next).unwrap_or("").to_owned();
    begin(&state, &provider, next, None).await
}

async fn begin(
    state: &AppState,
    provider: &str,
    next: String,
    link_to: Option<&User>,
) -> ApiResult<Response> {
    let Some(p) = state.sso.get(provider) else {
        return Ok(failed(
            StatusCode::NOT_FOUND,
            "There is no such sign-in provider.",
        ));
    };
    if !state
        .http()
        .sso_starts
        .allow(&crate::http::ctx::current().ip)
    {
        return Ok(failed(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many sign-ins from this address: wait a minute, then try again.",
        ));
    }
    let redirect = redirect_uri(state, &p.id);
    let begun = match flow::begin(state, &p, &redirect, next, link_to).await {
        Ok(b) => b,
        Err(e) => return Ok(from_error(e)),
    };
    // A page that moves on by itself rather than a redirect: the forms that start a sign-in may
    // only redirect to strata (CSP `form-action 'self'`), and the provider is elsewhere.
    let page = onward(&p.name, &begun.url);
    Ok(with_cookie(page, &cookie(state, &begun.state, TTL_SECS)))
}

/// A page that moves on to `url` by itself (a link too), taking the visitor to `whom`: what a
/// form answers instead of a redirect elsewhere, which its CSP `form-action 'self'` would stop.
pub(super) fn onward(whom: &str, url: &str) -> Response {
    render(
        StatusCode::OK,
        &Onward {
            chrome: Chrome::new("Signing in", None, "login"),
            provider: whom,
            url,
        },
    )
}

#[derive(askama::Template)]
#[template(path = "onward.html")]
struct Onward<'a> {
    chrome: Chrome,
    provider: &'a str,
    url: &'a str,
}

#[derive(Deserialize, Default)]
pub struct Callback {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// `GET /login/sso/{provider}/callback`: back from the provider.
pub async fn callback(
    State(state): State<AppState>,
    Path(provider): Path<String>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> ApiResult<Response> {
    let clear = cookie(&state, "", 0);
    let response = finish(&state, &provider, &headers, query.as_deref().unwrap_or("")).await?;
    Ok(with_cookie(response, &clear))
}

async fn finish(
    state: &AppState,
    provider: &str,
    headers: &HeaderMap,
    query: &str,
) -> ApiResult<Response> {
    let Ok(q) = serde_urlencoded::from_str::<Callback>(query) else {
        return Ok(failed(StatusCode::BAD_REQUEST, "Malformed sign-in answer."));
    };
    let Some(p) = state.sso.get(provider) else {
        return Ok(failed(
            StatusCode::NOT_FOUND,
            "There is no such sign-in provider.",
        ));
    };
    let Some(sent) = q.state.as_deref().filter(|s| !s.is_empty()) else {
        return Ok(failed(
            StatusCode::BAD_REQUEST,
            "The sign-in answer has no state.",
        ));
    };
    // Only the browser that started the sign-in may finish it; then the record goes, whatever
    // happens next: a state is good for one answer.
    let ours = cookies::get(headers, COOKIE);
    let again = "Start again from the login page.";
    if !ours.is_some_and(|c| session::same_secret(&c, sent)) {
        return Ok(failed(
            StatusCode::BAD_REQUEST,
            &format!("This sign-in was not started in this browser. {again}"),
        ));
    }
    let current = crate::http::extract::session(state, headers).await?;
    let answer = flow::Answer {
        state: sent,
        code: q.code.as_deref(),
        error: q.error.as_deref(),
        error_description: q.error_description.as_deref(),
    };
    let browser = flow::Browser {
        session: current.as_ref().map(|(id, s)| (&s.user, id.as_str())),
    };
    let redirect = redirect_uri(state, &p.id);
    match flow::finish(state, &p, &redirect, answer, browser).await {
        Ok(flow::Finished::Linked) => Ok(see_other("/settings#sign-in", &[])),
        Ok(flow::Finished::SignedIn { session, next }) => {
            let next = super::forms::safe_next(&next).unwrap_or("/");
            let cookie = cookies::session(state, Some(session.as_str()));
            Ok(see_other(next, &[cookie]))
        }
        Err(e) => Ok(from_error(e)),
    }
}

#[derive(Deserialize)]
pub struct IdentityForm {
    #[serde(default)]
    issuer: String,
    #[serde(default)]
    subject: String,
}

/// `POST /settings/identities/{provider}`: link a provider's account to the signed-in one.
pub async fn link(
    State(state): State<AppState>,
    Path(provider): Path<String>,
    CsrfForm { signed_in, .. }: CsrfForm<IdentityForm>,
) -> ApiResult<Response> {
    let user = &signed_in.session.user;
    begin(&state, &provider, "/settings".into(), Some(user)).await
}

/// `POST /settings/identities/unlink`: forget a linked account, if another way in remains.
pub async fn unlink(
    State(state): State<AppState>,
    CsrfForm { signed_in, form }: CsrfForm<IdentityForm>,
) -> ApiResult<Response> {
    let s = signed_in.session;
    strata_core::sso::unlink(&state, &s.user, &form.issuer, &form.subject).await?;
    Ok(see_other("/settings#sign-in", &[]))
}
