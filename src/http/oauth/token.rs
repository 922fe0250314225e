//! `POST /oauth/token`: the form read, the client authenticated, then one grant of
//! `strata_core::oauth::grants` (authorization code with PKCE, refresh with rotation and reuse
//! detection, client credentials); refusals answered as RFC 6749 words them.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;

use super::{client_auth, oauth_error, refusal};
use crate::http::error::ApiResult;
use crate::http::pages::forms::read_form;
use crate::http::state::AppState;
use strata_core::oauth::{grants, Refusal};

#[derive(Deserialize)]
pub struct TokenForm {
    grant_type: String,
    code: Option<String>,
    redirect_uri: Option<String>,
    code_verifier: Option<String>,
    refresh_token: Option<String>,
    scope: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
}

pub async fn token(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let form: TokenForm = match read_form(body).await {
        Ok(f) => f,
        Err(e) => {
            return Ok(oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                &e.message,
            ))
        }
    };
    let (id, secret) = (form.client_id.as_deref(), form.client_secret.as_deref());
    let client = match client_auth(&state, &headers, id, secret).await {
        Ok(c) => c,
        Err(e) => return Ok(e.into_response()),
    };
    let granted = match form.grant_type.as_str() {
        "authorization_code" => {
            let (code, uri) = (form.code.as_deref(), form.redirect_uri.as_deref());
            grants::code(&state, &client, code, uri, form.code_verifier.as_deref()).await?
        }
        "refresh_token" => {
            let (token, scope) = (form.refresh_token.as_deref(), form.scope.as_deref());
            grants::refresh(&state, &client, token, scope).await?
        }
        "client_credentials" => {
            grants::client_credentials(&state, &client, form.scope.as_deref()).await?
        }
        _ => Err(Refusal::UnsupportedGrantType),
    };
    Ok(match granted {
        Ok(tokens) => no_store(Json(tokens)),
        Err(r) => refusal(&r),
    })
}

fn no_store(body: impl IntoResponse) -> Response {
    let mut response = (StatusCode::OK, body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    headers.insert(
        axum::http::header::PRAGMA,
        axum::http::HeaderValue::from_static("no-cache"),
    );
    response
}
