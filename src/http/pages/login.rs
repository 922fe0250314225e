//! Login, logout and sign-up pages. The rules (throttling, invitations, password checks) are
//! `strata_core::accounts`; a refusal is shown on the form again with its status.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;

use askama::Template;

use super::forms::{safe_next, see_other, with_cookie};
use super::layout::{error_page, render, Chrome};
use super::signed_in::SignedIn;
use crate::http::cookies;
use crate::http::csrf::{
    guest_token, guest_token_spent, CsrfForm, GuestForm, GuestRefused, NoFields, EXPIRED,
};
use crate::http::error::ApiResult;
use crate::http::state::AppState;
use strata_core::accounts::{self, NewAccount};
use strata_core::auth::password;
use strata_core::config::Signup;

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage<'a> {
    chrome: Chrome,
    form_token: &'a str,
    username: &'a str,
    next: &'a str,
    /// `(id, name)` of the identity providers.
    providers: Vec<(String, String)>,
    password_login: bool,
    signup: bool,
}

fn login_page(
    state: &AppState,
    status: StatusCode,
    chrome: Chrome,
    token: &str,
    username: &str,
    next: &str,
) -> Response {
    let providers = state
        .sso
        .list()
        .iter()
        .map(|p| (p.id.clone(), p.name.clone()))
        .collect();
    render(
        status,
        &LoginPage {
            chrome,
            form_token: token,
            username,
            next,
            providers,
            password_login: state.settings.password_login,
            signup: state.settings.signup != Signup::Admin,
        },
    )
}

#[derive(Deserialize, Default)]
pub struct NextQuery {
    #[serde(default)]
    next: String,
}

pub async fn form(
    State(state): State<AppState>,
    axum::extract::RawQuery(query): axum::extract::RawQuery,
) -> Response {
    let q: NextQuery = serde_urlencoded::from_str(&query.unwrap_or_default()).unwrap_or_default();
    let next = safe_next(&q.next).unwrap_or("");
    let (token, cookie) = guest_token(&state);
    let chrome = Chrome::new("Log in", None, "login");
    with_cookie(
        login_page(&state, StatusCode::OK, chrome, &token, "", next),
        &cookie,
    )
}

#[derive(Deserialize)]
pub struct LoginForm {
    username: String,
    password: String,
    #[serde(default)]
    next: String,
}

pub async fn submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<GuestForm<LoginForm>, GuestRefused<LoginForm>>,
) -> ApiResult<Response> {
    // An expired form is said on the form again, after what else is wrong with it.
    let (form, expired) = match form {
        Ok(GuestForm(form)) => (form, false),
        Err(GuestRefused::Expired(form)) => (form, true),
        Err(GuestRefused::Unreadable(e)) => return Err(e),
    };
    let (token, cookie) = guest_token(&state);
    let again = |status, message: &str| {
        let chrome = Chrome::new("Log in", None, "login").error(message);
        let next = safe_next(&form.next).unwrap_or("");
        with_cookie(
            login_page(&state, status, chrome, &token, &form.username, next),
            &cookie,
        )
    };
    if !state.settings.password_login {
        return Ok(again(
            StatusCode::FORBIDDEN,
            "Password sign-in is turned off on this server: use a sign-in provider.",
        ));
    }
    if expired {
        return Ok(again(StatusCode::FORBIDDEN, EXPIRED));
    }
    let username = form.username.trim();
    // A new session id at every login: whatever session id the browser had is dropped.
    let old = crate::http::extract::session(&state, &headers).await?;
    let old = old.as_ref().map(|(id_hash, _)| id_hash.as_str());
    let session = match accounts::log_in(&state, username, &form.password, old).await {
        Ok((_, session)) => session,
        Err(e) => {
            let (status, message) = super::forms::refusal(e)?;
            return Ok(again(status, &message));
        }
    };
    // Back to where the login was asked for (the OAuth consent page), if that is on this server.
    let next = safe_next(&form.next).unwrap_or("/");
    let set = [
        cookies::session(&state, Some(session.as_str())),
        guest_token_spent(),
    ];
    if next.starts_with("/oauth/authorize") {
        // A consent remembered sends the browser straight on to the application, elsewhere: a
        // redirect this form's CSP (`form-action 'self'`) would stop, so a page that moves on.
        let mut page = super::sso::onward("the application", next);
        for c in &set {
            page = with_cookie(page, c);
        }
        return Ok(page);
    }
    Ok(see_other(next, &set))
}

/// `POST /logout` (signed out already: to the login page).
pub async fn logout(
    State(state): State<AppState>,
    CsrfForm { signed_in, .. }: CsrfForm<NoFields>,
) -> ApiResult<Response> {
    let SignedIn {
        id_hash,
        session: s,
    } = signed_in;
    accounts::log_out(&state, &id_hash, &s.user).await?;
    Ok(see_other("/login", &[cookies::session(&state, None)]))
}

#[derive(Template)]
#[template(path = "signup.html")]
struct SignupPage<'a> {
    chrome: Chrome,
    form_token: &'a str,
    username: &'a str,
    email: &'a str,
    min_len: usize,
    invite: bool,
}

fn signup_page(
    state: &AppState,
    status: StatusCode,
    chrome: Chrome,
    token: &str,
    username: &str,
    email: &str,
) -> Response {
    render(
        status,
        &SignupPage {
            chrome,
            form_token: token,
            username,
            email,
            min_len: password::MIN_LEN,
            invite: state.settings.signup == Signup::Invite,
        },
    )
}

fn closed(state: &AppState) -> Response {
    let message = if state.settings.password_login {
        "Sign-up is closed on this server: ask an administrator for an account."
    } else {
        "Accounts on this server come from its sign-in providers: sign in with one on the login page."
    };
    error_page(
        StatusCode::FORBIDDEN,
        Chrome::new("Sign up", None, "signup"),
        message,
    )
}

fn signup_closed(state: &AppState) -> bool {
    accounts::signup_closed(state)
}

pub async fn signup_form(State(state): State<AppState>) -> Response {
    if signup_closed(&state) {
        return closed(&state);
    }
    let (token, cookie) = guest_token(&state);
    let chrome = Chrome::new("Sign up", None, "signup");
    with_cookie(
        signup_page(&state, StatusCode::OK, chrome, &token, "", ""),
        &cookie,
    )
}

#[derive(Deserialize)]
pub struct SignupForm {
    username: String,
    email: String,
    password: String,
    password2: String,
    #[serde(default)]
    invite: String,
}

pub async fn signup(
    State(state): State<AppState>,
    form: Result<GuestForm<SignupForm>, GuestRefused<SignupForm>>,
) -> ApiResult<Response> {
    if signup_closed(&state) {
        return Ok(closed(&state));
    }
    let (form, expired) = match form {
        Ok(GuestForm(form)) => (form, false),
        Err(GuestRefused::Expired(form)) => (form, true),
        Err(GuestRefused::Unreadable(e)) => return Err(e),
    };
    let (token, cookie) = guest_token(&state);
    let username = form.username.trim().to_owned();
    let email = form.email.trim().to_owned();
    let again = |status, message: &str| {
        let chrome = Chrome::new("Sign up", None, "signup").error(message);
        with_cookie(
            signup_page(&state, status, chrome, &token, &username, &email),
            &cookie,
        )
    };
    if expired {
        return Ok(again(StatusCode::FORBIDDEN, EXPIRED));
    }
    let new = NewAccount {
        username: &username,
        email: &email,
        password: &form.password,
        password2: &form.password2,
        invite: &form.invite,
    };
    let session = match accounts::sign_up(&state, new).await {
        Ok((_, session)) => session,
        Err(e) => {
            let (status, message) = super::forms::refusal(e)?;
            return Ok(again(status, &message));
        }
    };
    let session_cookie = cookies::session(&state, Some(session.as_str()));
    Ok(see_other("/", &[session_cookie]))
}
