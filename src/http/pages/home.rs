//! `GET /`: the landing page. Signed out: what strata is and a way in. Signed in: the datasets
//! the user may see (the same query as `GET /api/v1/datasets`) and where to go next.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use super::{esc, page};
use crate::http::error::ApiResult;
use crate::state::AppState;

pub async fn show(State(state): State<AppState>, headers: HeaderMap) -> ApiResult<Response> {
    let base = &state.settings.public_url;
    let Some((_, s)) = crate::http::extract::session(&state, &headers).await? else {
        let body = format!(
            "<p>Versioned datasets: a Frictionless datapackage and Git LFS files, with revisions, \
             tags and diffs, served to <code>git</code>, <code>git lfs</code> and a REST API.</p>\
             <p><a href=\"/login\">Sign in</a> · <a href=\"/signup\">Create an account</a></p>\
             <p>Clone a dataset with <code>git clone {url}/&lt;namespace&gt;/&lt;name&gt;.git</code>; \
             the API is described at <a href=\"/api/v1/openapi.json\">/api/v1/openapi.json</a>.</p>",
            url = esc(base)
        );
        return Ok(page(StatusCode::OK, "strata", &body));
    };
    let rows = state.db.visible_repos(Some(&s.user), 0, 200, None).await?;
    let list = if rows.is_empty() {
        "<p>No datasets yet. Create one with <code>POST /api/v1/datasets</code> or \
         <code>strata admin create-repo</code>, then push to it.</p>"
            .to_owned()
    } else {
        let items: String = rows
            .iter()
            .map(|r| {
                format!(
                    "<tr><td>{path}</td><td>{vis}</td><td><code>git clone {url}/{path}.git</code></td></tr>",
                    path = esc(&r.path()),
                    vis = esc(r.visibility.as_str()),
                    url = esc(base),
                )
            })
            .collect();
        format!(
            "<table><thead><tr><th>dataset</th><th>visibility</th><th>clone</th></tr></thead>\
             <tbody>{items}</tbody></table>"
        )
    };
    let body = format!(
        "<p>Signed in as <strong>{user}</strong> · <a href=\"/settings\">settings and tokens</a> · \
         <a href=\"/api/v1/openapi.json\">API</a></p><h2>Datasets you can read</h2>{list}\
         <form method=\"post\" action=\"/logout\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <button>Sign out</button></form>",
        user = esc(&s.user.username),
        csrf = esc(&s.csrf),
    );
    Ok(page(StatusCode::OK, "strata", &body))
}
