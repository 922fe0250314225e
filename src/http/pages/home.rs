//! `GET /`: the landing page. Signed out: what strata is and a way in. Signed in: the datasets
//! the user may see (the same query as `GET /api/v1/datasets`, `?q=` filters by name) and a form
//! that creates a dataset through the same domain function as `POST /api/v1/datasets`.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;

use super::forms::see_other;
use super::layout::{render, Chrome};
use super::signed_in::{CsrfForm, SignedIn};
use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::session_principal;
use crate::http::state::AppState;
use strata_core::datasets::{create_as, listing, NewDataset};
use strata_core::db::{SessionRow, Visibility};

#[derive(Template)]
#[template(path = "landing.html")]
struct Landing {
    chrome: Chrome,
    base: String,
}

#[derive(Template)]
#[template(path = "home.html")]
struct Home {
    chrome: Chrome,
    base: String,
    q: String,
    datasets: Vec<Row>,
    /// Where the signed-in user may create datasets: their own namespace and their
    /// organisations.
    namespaces: Vec<String>,
    /// The create form as sent, `(namespace, name)`, when it is shown again with an error.
    form: (String, String),
}

struct Row {
    path: String,
    visibility: &'static str,
}

#[derive(Deserialize, Default)]
pub struct HomeQuery {
    #[serde(default)]
    q: String,
}

pub async fn show(
    State(state): State<AppState>,
    Query(query): Query<HomeQuery>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let base = state.settings.public_url.clone();
    let Some((_, s)) = crate::http::extract::session(&state, &headers).await? else {
        let chrome = Chrome::new("strata", None, "");
        return Ok(render(StatusCode::OK, &Landing { chrome, base }));
    };
    let q = query.q.trim().to_owned();
    home(&state, &s, StatusCode::OK, q, None, Default::default()).await
}

/// The signed-in home page; `error` and `form` show a refused create form again.
async fn home(
    state: &AppState,
    s: &SessionRow,
    status: StatusCode,
    q: String,
    error: Option<&str>,
    form: (String, String),
) -> ApiResult<Response> {
    let filter = (!q.is_empty()).then_some(q.as_str());
    let who = crate::http::extract::session_principal(s)?;
    let datasets = listing::list(state, &who, 0, 200, filter)
        .await?
        .datasets
        .iter()
        .map(|r| Row {
            path: r.path(),
            visibility: r.visibility.as_str(),
        })
        .collect();
    let mut namespaces = vec![s.user.username.clone()];
    namespaces.extend(strata_core::orgs::of_user(state, &s.user).await?);
    let mut chrome = Chrome::new("Datasets", Some(s), "datasets");
    if let Some(error) = error {
        chrome = chrome.error(error);
    }
    Ok(render(
        status,
        &Home {
            chrome,
            base: state.settings.public_url.clone(),
            q,
            datasets,
            namespaces,
            form,
        },
    ))
}

#[derive(Deserialize)]
pub struct CreateForm {
    namespace: String,
    name: String,
    visibility: String,
}

/// `POST /datasets`: the create form, through the same domain function as the REST API.
pub async fn create(
    State(state): State<AppState>,
    CsrfForm {
        signed_in: SignedIn {
            id_hash: _,
            session: s,
        },
        form,
    }: CsrfForm<CreateForm>,
) -> ApiResult<Response> {
    let sent = (form.namespace.clone(), form.name.trim().to_owned());
    let refused = |status, message: String| {
        let sent = sent.clone();
        let (state, s) = (&state, &s);
        async move { home(state, s, status, String::new(), Some(&message), sent).await }
    };
    let visibility: Visibility = match form.visibility.parse() {
        Ok(v) => v,
        Err(e) => return refused(StatusCode::UNPROCESSABLE_ENTITY, e).await,
    };
    let new = NewDataset {
        namespace: form.namespace.clone(),
        name: form.name.trim().to_owned(),
        visibility,
        datapackage: None,
        message: None,
    };
    match create_as(&state, &session_principal(&s)?, new).await {
        Ok((repo, _, _)) => Ok(see_other(&format!("/datasets/{}", repo.path()), &[])),
        Err(e) => {
            let e = ApiError::from(e);
            if e.status.is_client_error() {
                refused(e.status, e.message).await
            } else {
                Err(e)
            }
        }
    }
}
