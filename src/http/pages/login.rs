//! Login, logout and sign-up. Failed logins are throttled per username and per address; the
//! answer and its timing are the same whether or not the username exists.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;

use askama::Template;

use super::{
    error_page, form_token, form_token_ok, read_form, render, see_other, with_cookie, Chrome,
};
use crate::http::ctx;
use crate::http::error::{ApiError, ApiResult};
use crate::http::state::AppState;
use strata_core::auth::{password, session};
use strata_core::config::Signup;
use strata_core::db::{is_unique_violation, now};

/// Failed logins within this window count towards the limits below.
const WINDOW_SECS: i64 = 15 * 60;
const MAX_FAILURES_PER_USER: i64 = 5;
const MAX_FAILURES_PER_IP: i64 = 50;

/// Where to go after logging in: only paths on this server (no `//host` or scheme tricks).
pub(super) fn safe_next(next: &str) -> Option<&str> {
    let ok = next.starts_with('/')
        && !next.starts_with("//")
        && !next.starts_with("/\\")
        && !next.chars().any(|c| c.is_control() || c == '\\');
    ok.then_some(next)
}

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
    let (token, cookie) = form_token(&state);
    let chrome = Chrome::new("Log in", None, "login");
    with_cookie(
        login_page(&state, StatusCode::OK, chrome, &token, "", next),
        &cookie,
    )
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    csrf: String,
    username: String,
    password: String,
    #[serde(default)]
    next: String,
}

pub async fn submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let form: LoginForm = read_form(body).await?;
    let (token, cookie) = form_token(&state);
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
    if !form_token_ok(&headers, &form.csrf) {
        return Ok(again(
            StatusCode::FORBIDDEN,
            "This form has expired. Please try again.",
        ));
    }
    let ip = ctx::current().ip;
    let username = form.username.trim().to_owned();
    let (by_user, by_ip) = state
        .db
        .login_failures(&username, &ip, now() - WINDOW_SECS)
        .await?;
    if by_user >= MAX_FAILURES_PER_USER || by_ip >= MAX_FAILURES_PER_IP {
        audit(&state, "login.throttled", None, Some(&username)).await?;
        return Ok(again(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many failed logins. Wait a few minutes, then try again.",
        ));
    }
    let found = state.db.user_with_password(&username).await?;
    let stored = found.as_ref().and_then(|(_, h)| h.clone());
    let typed = form.password.clone();
    let ok = state.hasher.verify(typed, stored).await?;
    let user = match (ok, found) {
        (true, Some((user, _))) => user,
        _ => {
            state.db.record_login_failure(&username, &ip).await?;
            audit(&state, "login.failure", None, Some(&username)).await?;
            return Ok(again(
                StatusCode::UNAUTHORIZED,
                "Wrong username or password.",
            ));
        }
    };
    state.db.clear_login_failures(&username).await?;
    // A new session id at every login: whatever session id the browser had is dropped.
    if let Some((old, _)) = crate::http::extract::session(&state, &headers).await? {
        state.db.delete_session(&old).await?;
    }
    let session_cookie = session::start(&state.db, &state.settings, user.id).await?;
    audit(
        &state,
        "login.success",
        Some(&user.username),
        Some(&user.username),
    )
    .await?;
    // Back to where the login was asked for (the OAuth consent page), if that is on this server.
    let next = safe_next(&form.next).unwrap_or("/settings");
    Ok(see_other(
        next,
        &[
            session_cookie,
            format!("{}=; Path=/; Max-Age=0", super::FORM_COOKIE),
        ],
    ))
}

#[derive(Deserialize)]
pub struct CsrfOnly {
    #[serde(default)]
    csrf: String,
}

pub async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let form: CsrfOnly = read_form(body).await?;
    let Some((id_hash, s)) = crate::http::extract::session(&state, &headers).await? else {
        return Ok(see_other("/login", &[]));
    };
    if !session::same_secret(&form.csrf, &s.csrf) {
        return Err(ApiError::forbidden("missing or wrong CSRF token"));
    }
    let cleared = session::end(&state.db, &state.settings, &id_hash).await?;
    audit(
        &state,
        "logout",
        Some(&s.user.username),
        Some(&s.user.username),
    )
    .await?;
    Ok(see_other("/login", &[cleared]))
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

/// Whether the sign-up form is closed: `--signup admin`, or passwords turned off.
fn signup_closed(state: &AppState) -> bool {
    state.settings.signup == Signup::Admin || !state.settings.password_login
}

pub async fn signup_form(State(state): State<AppState>) -> Response {
    if signup_closed(&state) {
        return closed(&state);
    }
    let (token, cookie) = form_token(&state);
    let chrome = Chrome::new("Sign up", None, "signup");
    with_cookie(
        signup_page(&state, StatusCode::OK, chrome, &token, "", ""),
        &cookie,
    )
}

#[derive(Deserialize)]
pub struct SignupForm {
    #[serde(default)]
    csrf: String,
    username: String,
    email: String,
    password: String,
    password2: String,
    #[serde(default)]
    invite: String,
}

pub async fn signup(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    if signup_closed(&state) {
        return Ok(closed(&state));
    }
    let form: SignupForm = read_form(body).await?;
    let (token, cookie) = form_token(&state);
    let username = form.username.trim().to_owned();
    let email = form.email.trim().to_owned();
    let again = |status, message: &str| {
        let chrome = Chrome::new("Sign up", None, "signup").error(message);
        with_cookie(
            signup_page(&state, status, chrome, &token, &username, &email),
            &cookie,
        )
    };
    if !form_token_ok(&headers, &form.csrf) {
        return Ok(again(
            StatusCode::FORBIDDEN,
            "This form has expired. Please try again.",
        ));
    }
    if let Err(e) = strata_core::names::check_namespace(&username) {
        return Ok(again(StatusCode::UNPROCESSABLE_ENTITY, &e.to_string()));
    }
    if state.db.org_by_name(&username).await?.is_some() {
        return Ok(again(StatusCode::CONFLICT, "That username is taken."));
    }
    if !email.contains('@') || email.len() > 254 || email.chars().any(char::is_whitespace) {
        return Ok(again(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Enter a valid email address.",
        ));
    }
    if let Err(e) = password::check_new(&form.password, &username) {
        return Ok(again(
            StatusCode::UNPROCESSABLE_ENTITY,
            &format!("Password: {e}."),
        ));
    }
    if form.password != form.password2 {
        return Ok(again(
            StatusCode::UNPROCESSABLE_ENTITY,
            "The two passwords differ.",
        ));
    }
    let invite_hash = strata_core::auth::secrets::stored(form.invite.trim());
    let invited = state.settings.signup == Signup::Invite;
    if invited && !state.db.invitation_is_open(&invite_hash).await? {
        return Ok(again(
            StatusCode::FORBIDDEN,
            "That invitation code is not valid.",
        ));
    }
    if state.db.namespace_taken(&username).await? {
        return Ok(again(StatusCode::CONFLICT, "That username is taken."));
    }
    let user = match state.db.create_user(&username, Some(&email), false).await {
        Ok(user) => user,
        Err(e) if is_unique_violation(&e) => {
            return Ok(again(StatusCode::CONFLICT, "That username is taken."));
        }
        Err(e) => return Err(e.into()),
    };
    if invited && !state.db.use_invitation(&invite_hash, user.id).await? {
        state.db.delete_user(user.id).await?;
        return Ok(again(
            StatusCode::FORBIDDEN,
            "That invitation code is not valid.",
        ));
    }
    let secret = form.password.clone();
    let hash = state.hasher.hash(secret).await?;
    state.db.set_password(user.id, &hash).await?;
    audit(&state, "signup", Some(&username), Some(&username)).await?;
    let session_cookie = session::start(&state.db, &state.settings, user.id).await?;
    Ok(see_other("/settings", &[session_cookie]))
}

pub(super) async fn audit(
    state: &AppState,
    event: &str,
    actor: Option<&str>,
    subject: Option<&str>,
) -> ApiResult<()> {
    strata_core::audit::record(state, event, actor, subject, json!({})).await?;
    Ok(())
}
