//! A dataset's tags and branches: the list for readers; for writers, forms that tag a revision,
//! edit a tag's description and delete a tag (with a confirmation). The same gate and metastore
//! calls as the REST tag API; every form carries the session's CSRF token.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::forms::see_other;
use super::layout::{render, Chrome};
use super::reader::Reader;
use super::show::{failed, when};
use super::signed_in::{PageError, PageResult};
use crate::http::csrf::CsrfForm;
use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::session_principal;
use crate::http::state::AppState;
use strata_core::auth::{Action, On};
use strata_core::datasets::gate::{self, Gated};
use strata_core::datasets::{git_on, refs};
use strata_core::db::SessionRow;

struct TagRow {
    name: String,
    revision: String,
    short: String,
    tagger: String,
    date: String,
    description: String,
}

#[derive(Template)]
#[template(path = "tags.html")]
struct TagsPage {
    chrome: Chrome,
    dataset: String,
    tags: Vec<TagRow>,
    /// `(branch, revision)`.
    branches: Vec<(String, String)>,
    writer: bool,
}

/// The tags page, with `error` shown where the content starts.
async fn tags_page(
    state: &AppState,
    s: Option<&SessionRow>,
    repo: &Gated,
    status: StatusCode,
    error: Option<&str>,
) -> ApiResult<Response> {
    let title = format!("Tags of {}", repo.path());
    let listed = git_on(state, repo, move |ms, ds| {
        Ok((ms.tags(ds)?, ms.branches(ds)?))
    })
    .await;
    let (tags, branches) = match listed {
        Ok(found) => found,
        Err(e) => return Ok(failed(s, &title, e)),
    };
    let mut chrome = Chrome::new(title, s, "datasets");
    if let Some(error) = error {
        chrome = chrome.error(error);
    }
    let page = TagsPage {
        chrome,
        dataset: repo.path(),
        tags: tags
            .into_iter()
            .map(|t| TagRow {
                short: t.revision.chars().take(10).collect(),
                tagger: t.tagger.map(|p| p.name).unwrap_or_default(),
                date: when(t.created),
                name: t.name,
                revision: t.revision,
                description: t.description,
            })
            .collect(),
        branches,
        writer: repo.allows(On::Dataset, Action::Write),
    };
    Ok(render(status, &page))
}

/// `GET /datasets/{ns}/{name}/tags`.
pub async fn show(
    State(state): State<AppState>,
    Reader {
        session: s, repo, ..
    }: Reader,
) -> ApiResult<Response> {
    tags_page(&state, s.as_ref(), &repo, StatusCode::OK, None).await
}

#[derive(Deserialize)]
pub struct TagForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    revision: String,
    #[serde(default)]
    description: String,
}

/// The dataset of a signed-in writer's tag form, through the write gate. `Err` is the page to
/// answer instead.
async fn writer(state: &AppState, s: &SessionRow, ns: &str, name: &str) -> PageResult<Gated> {
    let who = session_principal(s)?;
    match gate::dataset(state, &who, ns, name, Action::Write).await {
        Ok(repo) => Ok(repo),
        Err(e) => Err(PageError::Answer(failed(
            Some(s),
            &format!("{ns}/{name}"),
            e,
        ))),
    }
}

/// After a tag operation: back to the list, or the list again with what went wrong.
async fn after(
    state: &AppState,
    s: &SessionRow,
    repo: &Gated,
    done: strata_core::error::Result<()>,
) -> ApiResult<Response> {
    match done {
        Ok(()) => Ok(see_other(&format!("/datasets/{}/tags", repo.path()), &[])),
        Err(e) => {
            let e = ApiError::from(e);
            if e.status.is_server_error() {
                return Err(e);
            }
            tags_page(state, Some(s), repo, e.status, Some(&e.message)).await
        }
    }
}

/// `POST /datasets/{ns}/{name}/tags`: tags a revision (default: the head of `main`).
pub async fn create(
    State(state): State<AppState>,
    Path((ns, name)): Path<(String, String)>,
    CsrfForm { signed_in, form }: CsrfForm<TagForm>,
) -> ApiResult<Response> {
    let s = signed_in.session;
    let repo = match writer(&state, &s, &ns, &name).await {
        Ok(repo) => repo,
        Err(e) => return Ok(e.into_response()),
    };
    let who = session_principal(&s)?;
    let rev = Some(form.revision.trim()).filter(|r| !r.is_empty());
    let done = refs::create_tag(
        &state,
        &who,
        &repo,
        form.name.trim(),
        rev,
        &form.description,
    )
    .await
    .map(drop);
    after(&state, &s, &repo, done).await
}

/// `POST /datasets/{ns}/{name}/tags/{tag}/description`: edits (or clears) the description.
pub async fn describe(
    State(state): State<AppState>,
    Path((ns, name, tag)): Path<(String, String, String)>,
    CsrfForm { signed_in, form }: CsrfForm<TagForm>,
) -> ApiResult<Response> {
    let s = signed_in.session;
    let repo = match writer(&state, &s, &ns, &name).await {
        Ok(repo) => repo,
        Err(e) => return Ok(e.into_response()),
    };
    let done = refs::update_tag(&state, &repo, &tag, Some(&form.description), None)
        .await
        .map(drop);
    after(&state, &s, &repo, done).await
}

/// `POST /datasets/{ns}/{name}/tags/{tag}/delete`.
pub async fn delete(
    State(state): State<AppState>,
    Path((ns, name, tag)): Path<(String, String, String)>,
    CsrfForm { signed_in, .. }: CsrfForm<TagForm>,
) -> ApiResult<Response> {
    let s = signed_in.session;
    let repo = match writer(&state, &s, &ns, &name).await {
        Ok(repo) => repo,
        Err(e) => return Ok(e.into_response()),
    };
    let done = refs::delete_tag(&state, &repo, &tag).await;
    after(&state, &s, &repo, done).await
}

/// `POST /datasets/{ns}/{name}/branches`: a branch at a revision (default: the head of `main`).
pub async fn create_branch(
    State(state): State<AppState>,
    Path((ns, name)): Path<(String, String)>,
    CsrfForm { signed_in, form }: CsrfForm<TagForm>,
) -> ApiResult<Response> {
    let s = signed_in.session;
    let repo = match writer(&state, &s, &ns, &name).await {
        Ok(repo) => repo,
        Err(e) => return Ok(e.into_response()),
    };
    let rev = Some(form.revision.trim()).filter(|r| !r.is_empty());
    let done = refs::create_branch(&state, &repo, form.name.trim(), rev)
        .await
        .map(drop);
    after(&state, &s, &repo, done).await
}

/// `POST /datasets/{ns}/{name}/branches/{branch}/delete` (never the default branch).
pub async fn delete_branch(
    State(state): State<AppState>,
    Path((ns, name, branch)): Path<(String, String, String)>,
    CsrfForm { signed_in, .. }: CsrfForm<TagForm>,
) -> ApiResult<Response> {
    let s = signed_in.session;
    let repo = match writer(&state, &s, &ns, &name).await {
        Ok(repo) => repo,
        Err(e) => return Ok(e.into_response()),
    };
    let done = refs::delete_branch(&state, &repo, &branch).await;
    after(&state, &s, &repo, done).await
}
