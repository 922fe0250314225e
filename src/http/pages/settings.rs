//! The signed-in user's settings: change the password (which ends their other sessions), and
//! create, list and revoke personal access tokens (a new token is shown once).

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;

use super::login::audit;
use super::{error_page, esc, page, read_form, see_other};
use crate::auth::{password, session};
use crate::db::SessionRow;
use crate::http::ctx;
use crate::http::error::{ApiError, ApiResult};
use crate::http::lfs::rfc3339;
use crate::state::AppState;

/// The session of a settings request, or a redirect to the login page.
async fn signed_in(
    state: &AppState,
    headers: &HeaderMap,
) -> ApiResult<Result<(String, SessionRow), Response>> {
    Ok(match crate::http::extract::session(state, headers).await? {
        Some(s) => Ok(s),
        None => Err(see_other("/login", &[])),
    })
}

async fn render(state: &AppState, s: &SessionRow, notice: &str) -> ApiResult<String> {
    let csrf = &s.csrf;
    let tokens = state.db.live_tokens_of(s.user.id).await?;
    let apps: String = state
        .db
        .clients_of(s.user.id)
        .await?
        .iter()
        .map(|c| {
            format!(
                "<tr><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td></tr>",
                esc(&c.name),
                esc(&c.client_id),
                if c.is_confidential() {
                    "confidential"
                } else {
                    "public (PKCE)"
                },
                c.redirect_uris().map(esc).collect::<Vec<_>>().join("<br>")
            )
        })
        .collect();
    let rows: String = tokens
        .iter()
        .map(|t| {
            format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td><form method=\"post\" action=\"/settings/tokens/revoke\">\
                 <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\"><input type=\"hidden\" name=\"name\" value=\"{}\">\
                 <button type=\"submit\">Revoke</button></form></td></tr>",
                esc(&t.name),
                esc(&t.scopes),
                rfc3339(t.created_at),
                t.expires_at.map(rfc3339).unwrap_or_else(|| "never".into()),
                esc(&t.name)
            )
        })
        .collect();
    Ok(format!(
        "{notice}<p>Signed in as <strong>{user}</strong>{email}.</p>\
         <form method=\"post\" action=\"/logout\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <button type=\"submit\">Log out</button></form>\
         <h2>Personal access tokens</h2>\
         <p>Use one as the password of git and git-lfs, or as a Bearer token for the API.</p>\
         <table><tr><th>Name</th><th>Scopes</th><th>Created</th><th>Expires</th><th></th></tr>{rows}</table>\
         <form method=\"post\" action=\"/settings/tokens\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <label>Name <input name=\"name\" required maxlength=\"64\"></label>\
         <label>Scopes <input name=\"scopes\" value=\"*\" required></label>\
         <label>Expires in days (empty: never) <input name=\"expires_in_days\" inputmode=\"numeric\"></label>\
         <button type=\"submit\">Create token</button></form>\
         <h2>Applications (OAuth 2.0 / OpenID Connect)</h2>\
         <table><tr><th>Name</th><th>Client id</th><th>Type</th><th>Redirect URIs</th></tr>{apps}</table>\
         <form method=\"post\" action=\"/settings/apps\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <label>Name <input name=\"name\" required maxlength=\"100\"></label>\
         <label>Redirect URIs, one per line <textarea name=\"redirect_uris\" required rows=\"3\" cols=\"60\"></textarea></label>\
         <label><input type=\"checkbox\" name=\"confidential\" value=\"yes\" style=\"display:inline;width:auto\"> Confidential (a server that keeps a secret)</label>\
         <button type=\"submit\">Register application</button></form>\
         <h2>Password</h2>\
         <form method=\"post\" action=\"/settings/password\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <label>Current password <input name=\"current\" type=\"password\" autocomplete=\"current-password\" required></label>\
         <label>New password <input name=\"new\" type=\"password\" autocomplete=\"new-password\" required></label>\
         <label>New password again <input name=\"new2\" type=\"password\" autocomplete=\"new-password\" required></label>\
         <button type=\"submit\">Change password</button></form>",
        user = esc(&s.user.username),
        email = s
            .user
            .email
            .as_deref()
            .map(|e| format!(" ({})", esc(e)))
            .unwrap_or_default(),
    ))
}

pub async fn show(State(state): State<AppState>, headers: HeaderMap) -> ApiResult<Response> {
    let (_, s) = match signed_in(&state, &headers).await? {
        Ok(s) => s,
        Err(redirect) => return Ok(redirect),
    };
    Ok(page(
        StatusCode::OK,
        "Settings",
        &render(&state, &s, "").await?,
    ))
}

/// The settings page again, with what was wrong.
async fn refused(
    state: &AppState,
    s: &SessionRow,
    status: StatusCode,
    message: &str,
) -> ApiResult<Response> {
    let html = render(state, s, "").await?;
    Ok(error_page(status, "Settings", message, &html))
}

/// A settings form: it carries the session's CSRF token.
trait SessionForm: serde::de::DeserializeOwned {
    fn csrf(&self) -> &str;
}

/// The session and the form of a signed-in POST, after the CSRF check; `Err` is the redirect to
/// the login page.
async fn signed_in_form<T: SessionForm>(
    state: &AppState,
    headers: &HeaderMap,
    body: Body,
) -> ApiResult<Result<(String, SessionRow, T), Response>> {
    let (id_hash, s) = match signed_in(state, headers).await? {
        Ok(s) => s,
        Err(redirect) => return Ok(Err(redirect)),
    };
    let form: T = read_form(body).await?;
    check_csrf(form.csrf(), &s)?;
    Ok(Ok((id_hash, s, form)))
}

fn check_csrf(sent: &str, s: &SessionRow) -> ApiResult<()> {
    if session::same_secret(sent, &s.csrf) {
        Ok(())
    } else {
        Err(ApiError::forbidden("missing or wrong CSRF token"))
    }
}

#[derive(Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    csrf: String,
    current: String,
    new: String,
    new2: String,
}

pub async fn password(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let (id_hash, s, form) = match signed_in_form::<PasswordForm>(&state, &headers, body).await? {
        Ok(parts) => parts,
        Err(redirect) => return Ok(redirect),
    };
    let stored = state
        .db
        .user_with_password(&s.user.username)
        .await?
        .and_then(|(_, h)| h);
    let typed = form.current.clone();
    let ok = state.hasher.verify(typed, stored).await?;
    if !ok {
        return refused(
            &state,
            &s,
            StatusCode::FORBIDDEN,
            "The current password is wrong.",
        )
        .await;
    }
    if let Err(e) = password::check_new(&form.new, &s.user.username) {
        return refused(
            &state,
            &s,
            StatusCode::UNPROCESSABLE_ENTITY,
            &format!("New password: {e}."),
        )
        .await;
    }
    if form.new != form.new2 {
        return refused(
            &state,
            &s,
            StatusCode::UNPROCESSABLE_ENTITY,
            "The two new passwords differ.",
        )
        .await;
    }
    let new = form.new.clone();
    let hash = state.hasher.hash(new).await?;
    state.db.set_password(s.user.id, &hash).await?;
    state.db.delete_other_sessions(s.user.id, &id_hash).await?;
    let ip = ctx::current().ip;
    let who = s.user.username.as_str();
    audit(&state, "password.change", Some(who), Some(who), &ip).await?;
    let notice = "<p role=\"status\">Password changed. Your other sessions were ended.</p>";
    Ok(page(
        StatusCode::OK,
        "Settings",
        &render(&state, &s, notice).await?,
    ))
}

#[derive(Deserialize)]
pub struct TokenForm {
    #[serde(default)]
    csrf: String,
    name: String,
    scopes: String,
    #[serde(default)]
    expires_in_days: String,
}

pub async fn create_token(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let (_, s, form) = match signed_in_form::<TokenForm>(&state, &headers, body).await? {
        Ok(parts) => parts,
        Err(redirect) => return Ok(redirect),
    };
    let days = match form.expires_in_days.trim() {
        "" => None,
        d => match d.parse::<i64>() {
            Ok(n) if (1..=3650).contains(&n) => Some(n),
            _ => {
                let msg = "Expiry must be a whole number of days from 1 to 3650.";
                return refused(&state, &s, StatusCode::UNPROCESSABLE_ENTITY, msg).await;
            }
        },
    };
    let name = form.name.trim();
    let created =
        crate::admin::create_token(&state, &s.user.username, name, form.scopes.trim(), days).await;
    let secret = match created {
        Ok(secret) => secret,
        Err(e) => {
            let msg = e.to_string();
            return refused(&state, &s, StatusCode::UNPROCESSABLE_ENTITY, &msg).await;
        }
    };
    let ip = ctx::current().ip;
    let who = s.user.username.as_str();
    state
        .db
        .audit(
            "token.create",
            Some(who),
            Some(who),
            Some(&ip),
            &serde_json::json!({"name": name}),
        )
        .await?;
    let notice = format!(
        "<p role=\"status\">New token <strong>{}</strong>, shown only this once:</p><p class=\"secret\" id=\"new-token\">{}</p>",
        esc(name),
        esc(&secret)
    );
    Ok(page(
        StatusCode::OK,
        "Settings",
        &render(&state, &s, &notice).await?,
    ))
}

#[derive(Deserialize)]
pub struct RevokeForm {
    #[serde(default)]
    csrf: String,
    name: String,
}

pub async fn revoke_token(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let (_, s, form) = match signed_in_form::<RevokeForm>(&state, &headers, body).await? {
        Ok(parts) => parts,
        Err(redirect) => return Ok(redirect),
    };
    if state.db.revoke_token(s.user.id, &form.name).await? {
        let ip = ctx::current().ip;
        let who = s.user.username.as_str();
        state
            .db
            .audit(
                "token.revoke",
                Some(who),
                Some(who),
                Some(&ip),
                &serde_json::json!({"name": form.name}),
            )
            .await?;
    }
    Ok(see_other("/settings", &[]))
}

#[derive(Deserialize)]
pub struct AppForm {
    #[serde(default)]
    csrf: String,
    name: String,
    redirect_uris: String,
    #[serde(default)]
    confidential: Option<String>,
}

/// Registers an OAuth application; its id and (for a confidential one) secret are shown once.
pub async fn register_app(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let (_, s, form) = match signed_in_form::<AppForm>(&state, &headers, body).await? {
        Ok(parts) => parts,
        Err(redirect) => return Ok(redirect),
    };
    let uris: Vec<String> = form
        .redirect_uris
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    let confidential = form.confidential.is_some();
    let made =
        crate::auth::clients::create_client(&state.db, &s.user, &form.name, &uris, confidential)
            .await?;
    let (client_id, secret) = match made {
        Ok(pair) => pair,
        Err(reason) => return refused(&state, &s, StatusCode::UNPROCESSABLE_ENTITY, &reason).await,
    };
    let secret = secret
        .map(|v| format!("<p>Client secret, shown only this once:</p><p class=\"secret\" id=\"client-secret\">{}</p>", esc(&v)))
        .unwrap_or_default();
    let notice = format!(
        "<p role=\"status\">Registered. Client id: <code id=\"client-id\">{}</code></p>{secret}",
        esc(&client_id)
    );
    Ok(page(
        StatusCode::OK,
        "Settings",
        &render(&state, &s, &notice).await?,
    ))
}

impl SessionForm for PasswordForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

impl SessionForm for TokenForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

impl SessionForm for RevokeForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

impl SessionForm for AppForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}
