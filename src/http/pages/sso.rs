//! Sign-in through an external identity provider (`strata_core::auth::sso`): the start, the callback,
//! and linking or unlinking a provider's account from the settings page.
//!
//! The start records the sign-in (state hash, nonce, PKCE verifier, where to go after) for ten
//! minutes and binds it to this browser with a `SameSite=Lax` cookie holding the state. The
//! callback needs the cookie and the query's `state` to agree and takes the record, so a state
//! works once, in the browser that started it. Starts are limited per client address, since
//! each leaves a row for ten minutes.

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;

use super::{read_form, render, see_other, with_cookie, Chrome, Message};
use crate::http::error::{ApiError, ApiResult};
use crate::http::state::AppState;
use strata_core::auth::session;
use strata_core::db::{now, PendingLogin};

const COOKIE: &str = "strata_sso";
/// How long a started sign-in may take.
const TTL_SECS: i64 = 600;

fn redirect_uri(state: &AppState, provider: &str) -> String {
    format!(
        "{}/login/sso/{provider}/callback",
        state.settings.public_url
    )
}

fn cookie(state: &AppState, value: &str, max_age: i64) -> String {
    let secure = state.settings.cookie_secure();
    format!("{COOKIE}={value}; Path=/login/sso; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}")
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
    csrf: String,
    #[serde(default)]
    next: String,
}

/// `POST /login/sso/{provider}` (the login page's button, with its form token): off to the
/// provider. A POST, so no other site can start a sign-in in a visitor's browser.
pub async fn start(
    State(state): State<AppState>,
    Path(provider): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let form: StartForm = read_form(body).await?;
    if !super::form_token_ok(&headers, &form.csrf) {
        return Ok(failed(
            StatusCode::FORBIDDEN,
            "This form has expired. Please try again.",
        ));
    }
    let next = super::login::safe_next(&form.next).unwrap_or("").to_owned();
    begin(&state, &provider, next, None).await
}

async fn begin(
    state: &AppState,
    provider: &str,
    next: String,
    link_user_id: Option<i64>,
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
    let begun = match state
        .sso
        .client
        .begin(&p, &redirect_uri(state, &p.id))
        .await
    {
        Ok(b) => b,
        Err(e) => return Ok(from_error(e)),
    };
    let pending = PendingLogin {
        provider: p.id.clone(),
        nonce: begun.nonce,
        verifier: begun.verifier,
        next,
        link_user_id,
        expires_at: now() + TTL_SECS,
    };
    let hash = strata_core::auth::secrets::stored(&begun.state);
    state.db.start_sso_login(&hash, &pending).await?;
    // A page that moves on by itself rather than a redirect: the forms that start a sign-in may
    // only redirect to strata (CSP `form-action 'self'`), and the provider is elsewhere.
    let page = render(
        StatusCode::OK,
        &Onward {
            chrome: Chrome::new("Signing in", None, "login"),
            provider: &p.name,
            url: &begun.url,
        },
    );
    Ok(with_cookie(page, &cookie(state, &begun.state, TTL_SECS)))
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
    let ours = crate::http::extract::cookie(headers, COOKIE);
    let again = "Start again from the login page.";
    if !ours.is_some_and(|c| session::same_secret(&c, sent)) {
        return Ok(failed(
            StatusCode::BAD_REQUEST,
            &format!("This sign-in was not started in this browser. {again}"),
        ));
    }
    let pending = state
        .db
        .take_sso_login(&strata_core::auth::secrets::stored(sent))
        .await?;
    let Some(pending) = pending.filter(|l| l.provider == p.id && l.expires_at >= now()) else {
        return Ok(failed(
            StatusCode::BAD_REQUEST,
            &format!("This sign-in was used already or has expired. {again}"),
        ));
    };
    if let Some(error) = &q.error {
        let detail: String = q
            .error_description
            .as_deref()
            .unwrap_or("")
            .chars()
            .take(300)
            .collect();
        let error: String = error.chars().take(100).collect();
        return Ok(failed(
            StatusCode::FORBIDDEN,
            &format!("{} did not sign you in ({error}) {detail}", p.name),
        ));
    }
    let Some(code) = q.code.as_deref().filter(|c| !c.is_empty()) else {
        return Ok(failed(
            StatusCode::BAD_REQUEST,
            "The sign-in answer has no code.",
        ));
    };
    let current = crate::http::extract::session(state, headers).await?;
    if let Some(uid) = pending.link_user_id {
        // Linking is for the account that asked, still signed in here.
        if current.as_ref().map(|(_, s)| s.user.id) != Some(uid) {
            return Ok(failed(
                StatusCode::FORBIDDEN,
                "Sign in to the account you want to link first.",
            ));
        }
    }
    let redirect = redirect_uri(state, &p.id);
    let claims = match state
        .sso
        .client
        .finish(&p, &redirect, code, &pending.nonce, &pending.verifier)
        .await
    {
        Ok(c) => c,
        Err(e) => return Ok(from_error(e)),
    };
    let done = match strata_core::auth::sso::sign_in(state, &p, &claims, pending.link_user_id).await
    {
        Ok(d) => d,
        Err(e) => return Ok(from_error(e)),
    };
    if done.linked {
        return Ok(see_other("/settings#sign-in", &[]));
    }
    // A new session id at every sign-in, as with passwords.
    if let Some((old, _)) = current {
        state.db.delete_session(&old).await?;
    }
    let session_cookie = session::start(&state.db, &state.settings, done.user.id).await?;
    let next = super::login::safe_next(&pending.next).unwrap_or("/settings");
    Ok(see_other(next, &[session_cookie]))
}

#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    issuer: String,
    #[serde(default)]
    subject: String,
}

async fn signed_in_form(
    state: &AppState,
    headers: &HeaderMap,
    body: Body,
) -> ApiResult<Result<(strata_core::db::SessionRow, CsrfForm), Response>> {
    let Some((_, s)) = crate::http::extract::session(state, headers).await? else {
        return Ok(Err(see_other("/login?next=/settings", &[])));
    };
    let form: CsrfForm = read_form(body).await?;
    if !session::same_secret(&form.csrf, &s.csrf) {
        return Err(ApiError::forbidden("missing or wrong CSRF token"));
    }
    Ok(Ok((s, form)))
}

/// `POST /settings/identities/{provider}`: link a provider's account to the signed-in one.
pub async fn link(
    State(state): State<AppState>,
    Path(provider): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let (s, _) = match signed_in_form(&state, &headers, body).await? {
        Ok(parts) => parts,
        Err(redirect) => return Ok(redirect),
    };
    begin(&state, &provider, "/settings".into(), Some(s.user.id)).await
}

/// `POST /settings/identities/unlink`: forget a linked account, if another way in remains.
pub async fn unlink(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let (s, form) = match signed_in_form(&state, &headers, body).await? {
        Ok(parts) => parts,
        Err(redirect) => return Ok(redirect),
    };
    // Another way in must remain: a password, or another provider that is still configured.
    let providers = state.sso.list();
    let configured = state
        .db
        .identities_of(s.user.id)
        .await?
        .into_iter()
        .filter(|i| i.issuer != form.issuer || i.subject != form.subject)
        .filter(|i| providers.iter().any(|p| p.issuer_key() == i.issuer))
        .count();
    let has_password = state.settings.password_login
        && state
            .db
            .user_with_password(&s.user.username)
            .await?
            .and_then(|(_, h)| h)
            .is_some();
    if configured == 0 && !has_password {
        return Err(ApiError::unprocessable(
            "this is your only way to sign in: set a password or link another account first",
        ));
    }
    strata_core::auth::sso::unlink(&state, &s.user, &form.issuer, &form.subject).await?;
    Ok(see_other("/settings#sign-in", &[]))
}
