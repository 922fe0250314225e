//! The authorization endpoint: checks the client and its exact redirect URI (an unknown client
//! or URI is shown an error page, never redirected to), asks the signed-in user for consent (once:
//! a consent is remembered until they forget it in their settings; `prompt=consent` asks again,
//! `prompt=none` never asks), and redirects back with a one-time code bound to the client, the
//! URI and the PKCE challenge.

use askama::Template;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::http::csp::csp_with_form_target;
use crate::http::csrf::{self, CsrfForm};
use crate::http::error::ApiResult;
use crate::http::pages::forms::see_other;
use crate::http::pages::layout::{self, Chrome};
use crate::http::pages::signed_in::{PageError, PageResult};
use crate::http::state::AppState;
use strata_core::oauth::authorize::{self, Checked, Refused};

#[derive(Debug, Clone, Deserialize, Default)]
pub struct AuthRequest {
    #[serde(default)]
    response_type: String,
    #[serde(default)]
    client_id: String,
    #[serde(default)]
    redirect_uri: Option<String>,
    #[serde(default)]
    scope: Option<String>,
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    code_challenge: Option<String>,
    #[serde(default)]
    code_challenge_method: Option<String>,
    #[serde(default)]
    nonce: Option<String>,
    /// OpenID Connect's `prompt`, space-separated: `consent`, `login` or `select_account` ask
    /// again whatever was remembered; `none` (alone) never shows a page (an error goes back to
    /// the client instead).
    #[serde(default)]
    prompt: Option<String>,
    /// OpenID Connect's `max_age`: given, the page is shown (strata does not keep when a session
    /// signed in, so it cannot vouch for a recent one).
    #[serde(default)]
    max_age: Option<String>,
    /// Only in the consent form (with the session's CSRF token): the user's answer.
    #[serde(default)]
    decision: Option<String>,
}

fn error_page(message: &str) -> Response {
    layout::error_page(
        StatusCode::BAD_REQUEST,
        Chrome::new("Authorization failed", None, ""),
        message,
    )
}

#[derive(Template)]
#[template(path = "consent.html")]
struct Consent<'a> {
    chrome: Chrome,
    client: &'a str,
    client_id: &'a str,
    redirect_uri: &'a str,
    scope: &'a str,
    scopes: Vec<&'a str>,
    /// Hidden fields carried through: `state`, PKCE, `nonce`.
    extra: Vec<(&'static str, &'a str)>,
}

/// Redirects to the client with `params` (and the request's `state`).
fn back(redirect_uri: &str, state: &Option<String>, params: &[(&str, &str)]) -> Response {
    let mut pairs: Vec<(&str, &str)> = params.to_vec();
    if let Some(s) = state {
        pairs.push(("state", s));
    }
    let query = serde_urlencoded::to_string(&pairs).unwrap_or_default();
    let sep = if redirect_uri.contains('?') { '&' } else { '?' };
    see_other(&format!("{redirect_uri}{sep}{query}"), &[])
}

/// Validates a request; `Err` is the response to give (an error page, or a redirect with an
/// OAuth error once the redirect URI is trusted).
async fn check(state: &AppState, req: &AuthRequest) -> PageResult<Checked> {
    let asked = authorize::Request {
        response_type: &req.response_type,
        client_id: &req.client_id,
        redirect_uri: req.redirect_uri.as_deref(),
        scope: req.scope.as_deref(),
        code_challenge: req.code_challenge.as_deref(),
        code_challenge_method: req.code_challenge_method.as_deref(),
    };
    match authorize::check(state, &asked).await? {
        Ok(checked) => Ok(checked),
        Err(Refused::Page(message)) => Err(PageError::Answer(error_page(message))),
        Err(Refused::Redirect {
            redirect_uri,
            error,
            description,
        }) => Err(PageError::Answer(back(
            &redirect_uri,
            &req.state,
            &[("error", error), ("error_description", description)],
        ))),
    }
}

/// `GET /oauth/authorize`: the consent page (or the login page first).
pub async fn show(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let query = query.unwrap_or_default();
    let req: AuthRequest = serde_urlencoded::from_str(&query).unwrap_or_default();
    let checked = match check(&state, &req).await {
        Ok(c) => c,
        Err(e) => return Ok(e.into_response()),
    };
    let prompts: std::collections::BTreeSet<&str> = req
        .prompt
        .as_deref()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let silent = prompts.contains("none");
    if silent && prompts.len() > 1 {
        let error = [
            ("error", "invalid_request"),
            ("error_description", "prompt=none goes alone"),
        ];
        return Ok(back(&checked.redirect_uri, &req.state, &error));
    }
    let Some((_, s)) = crate::http::extract::session(&state, &headers).await? else {
        if silent {
            let error = [
                ("error", "login_required"),
                ("error_description", "nobody is signed in"),
            ];
            return Ok(back(&checked.redirect_uri, &req.state, &error));
        }
        let next = format!("/oauth/authorize?{query}");
        let target = serde_urlencoded::to_string([("next", next.as_str())]).unwrap_or_default();
        return Ok(see_other(&format!("/login?{target}"), &[]));
    };
    // Allowed before for every scope asked: no page, unless the client asks for one.
    let ask = ["consent", "login", "select_account"]
        .iter()
        .any(|p| prompts.contains(p))
        || req.max_age.is_some();
    if !ask && authorize::remembered(&state, &s.user, &checked).await? {
        let pkce = (req.code_challenge.as_deref(), req.nonce.as_deref());
        let code = authorize::allow(&state, &s.user, &checked, pkce, false).await?;
        return Ok(back(&checked.redirect_uri, &req.state, &[("code", &code)]));
    }
    if silent {
        let error = [
            ("error", "consent_required"),
            ("error_description", "the user has not allowed this yet"),
        ];
        return Ok(back(&checked.redirect_uri, &req.state, &error));
    }
    let extra = [
        ("state", &req.state),
        ("code_challenge", &req.code_challenge),
        ("code_challenge_method", &req.code_challenge_method),
        ("nonce", &req.nonce),
    ]
    .into_iter()
    .filter_map(|(name, value)| value.as_deref().map(|v| (name, v)))
    .collect();
    let consent = Consent {
        chrome: Chrome::new("Authorize an application", Some(&s), ""),
        client: &checked.client.name,
        client_id: &checked.client.client_id,
        redirect_uri: &checked.redirect_uri,
        scope: &checked.scope,
        scopes: checked.scope.split_whitespace().collect(),
        extra,
    };
    let mut response = layout::render(StatusCode::OK, &consent);
    // The consent form's answer redirects to the client: the page's `form-action` must allow
    // that origin, or browsers stop the redirect.
    if let Some(policy) = csp_with_form_target(&checked.redirect_uri) {
        response
            .headers_mut()
            .insert("content-security-policy", policy);
    }
    Ok(response)
}

/// `POST /oauth/authorize`: the user's answer. A refused form is an error page here, never a
/// redirect.
pub async fn decide(
    State(state): State<AppState>,
    form: Result<CsrfForm<AuthRequest>, csrf::Refused>,
) -> ApiResult<Response> {
    let (s, req) = match form {
        Ok(CsrfForm { signed_in, form }) => (signed_in.session, form),
        Err(csrf::Refused::SignedOut(_)) => {
            return Ok(error_page(
                "Your session ended: start again from the application.",
            ))
        }
        Err(csrf::Refused::Forged) => {
            return Ok(error_page(
                "This form was not sent by your browser session.",
            ))
        }
        Err(csrf::Refused::Failed(e)) => return Ok(e.into_response()),
    };
    let checked = match check(&state, &req).await {
        Ok(c) => c,
        Err(e) => return Ok(e.into_response()),
    };
    if req.decision.as_deref() != Some("allow") {
        return Ok(back(
            &checked.redirect_uri,
            &req.state,
            &[
                ("error", "access_denied"),
                ("error_description", "the user said no"),
            ],
        ));
    }
    let pkce = (req.code_challenge.as_deref(), req.nonce.as_deref());
    let code = authorize::allow(&state, &s.user, &checked, pkce, true).await?;
    Ok(back(&checked.redirect_uri, &req.state, &[("code", &code)]))
}
