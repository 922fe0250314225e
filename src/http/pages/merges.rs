//! Merge request pages: the list with a form to open one (branches picked from lists), and one
//! merge request: what it changes (linked to the compare page's content and row diffs), its
//! conflicts with a resolution form each, the contract report of its source, approvals, and the
//! merge, close and reopen buttons. The same domain calls as the REST API
//! (`strata_core::changes::merges`); every form carries the session's CSRF token.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::forms::see_other;
use super::layout::{render, Chrome};
use super::reader::Reader;
use super::show::failed;
use super::signed_in::{PageError, PageResult};
use crate::http::csrf::CsrfForm;
use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::session_principal;
use crate::http::state::AppState;
use strata_core::auth::{Action, On, Principal};
use strata_core::changes::merges::{self, MergeRequest, Status};
use strata_core::contracts::{self, Report};
use strata_core::datasets::gate::{self, Gated};
use strata_core::datasets::git_on;
use strata_core::db::SessionRow;

#[derive(Template)]
#[template(path = "merge_requests.html")]
struct ListPage {
    chrome: Chrome,
    dataset: String,
    requests: Vec<MergeRequest>,
    branches: Vec<String>,
    writer: bool,
}

#[derive(Template)]
#[template(path = "merge_request.html")]
struct RequestPage {
    chrome: Chrome,
    dataset: String,
    s: Status,
    /// The conflicts' values as text, in the order of `s.conflicts`: `(base, ours, theirs)`.
    shown: Vec<(String, String, String)>,
    report: Option<Report>,
    writer: bool,
    /// Whether the visitor approved the source's current head.
    approved: bool,
    /// A page path's number.
    number: i64,
    /// What the source changed since the base, as the compare page shows it.
    diff: Option<super::revisions::DiffView>,
    /// For the diff's template (a compare, not one revision).
    revision: Option<String>,
    comments: Vec<merges::Comment>,
    /// Whether the visitor may comment (signed in), and a refused comment as typed.
    commenter: bool,
    typed: String,
}

fn text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Null => "—".into(),
        serde_json::Value::String(s) => s.clone(),
        v => v.to_string(),
    }
}

/// The list page, with `error` shown where the content starts.
async fn list_page(
    state: &AppState,
    s: Option<&SessionRow>,
    repo: &Gated,
    status: StatusCode,
    error: Option<&str>,
) -> ApiResult<Response> {
    let title = format!("Merge requests of {}", repo.path());
    let requests = match merges::list(state, repo, None).await {
        Ok(r) => r,
        Err(e) => return Ok(failed(s, &title, e)),
    };
    let branches = git_on(state, repo, |ms, ds| ms.branches(ds))
        .await
        .map(|b| b.into_iter().map(|(name, _)| name).collect())
        .unwrap_or_default();
    let mut chrome = Chrome::new(title, s, "datasets");
    if let Some(error) = error {
        chrome = chrome.error(error);
    }
    let page = ListPage {
        chrome,
        dataset: repo.path(),
        requests,
        branches,
        writer: repo.allows(On::Dataset, Action::Write) && !repo.limited(),
    };
    Ok(render(status, &page))
}

/// `GET /datasets/{ns}/{name}/merge-requests`.
pub async fn list(
    State(state): State<AppState>,
    Reader {
        session: s, repo, ..
    }: Reader,
) -> ApiResult<Response> {
    list_page(&state, s.as_ref(), &repo, StatusCode::OK, None).await
}

/// One merge request's page, with `error` shown where the content starts.
async fn request_page(
    state: &AppState,
    sess: Option<&SessionRow>,
    repo: &Gated,
    number: i64,
    status: StatusCode,
    (error, typed): (Option<&str>, &str),
) -> ApiResult<Response> {
    let title = format!("{} merge request {number}", repo.path());
    let s = match merges::status(state, repo, number).await {
        Ok(s) => s,
        Err(e) => return Ok(failed(sess, &title, e)),
    };
    let writer = repo.allows(On::Dataset, Action::Write) && !repo.limited();
    // The source's contract report: made now for a writer (and stored), as stored for others.
    let report = if s.source_head.is_empty() {
        None
    } else if writer {
        contracts::report(state, repo, &s.source_head).await.ok()
    } else {
        contracts::stored(state, repo, &s.source_head).await?
    };
    let diff = match &s.base {
        Some(base) => super::revisions::changes_between(state, repo, base, &s.source_head)
            .await
            .ok(),
        None => None,
    };
    let me = sess.map(|x| x.user.username.clone()).unwrap_or_default();
    let comments = merges::comments(state, repo, number).await?;
    let mut chrome = Chrome::new(format!("{} · {title}", s.request.title), sess, "datasets");
    if let Some(error) = error {
        chrome = chrome.error(error);
    }
    let page = RequestPage {
        chrome,
        dataset: repo.path(),
        shown: s
            .conflicts
            .iter()
            .map(|c| {
                (
                    text(&c.conflict.base),
                    text(&c.conflict.ours),
                    text(&c.conflict.theirs),
                )
            })
            .collect(),
        approved: s.approvals.iter().any(|a| a.user == me && a.current),
        writer,
        report,
        number,
        diff,
        revision: None,
        comments,
        commenter: sess.is_some(),
        typed: typed.to_owned(),
        s,
    };
    Ok(render(status, &page))
}

fn number(n: &str) -> Option<i64> {
    n.parse().ok().filter(|n| *n > 0)
}

/// `GET /datasets/{ns}/{name}/merge-requests/{number}`.
pub async fn show(
    State(state): State<AppState>,
    Path((_, _, n)): Path<(String, String, String)>,
    Reader {
        session: s, repo, ..
    }: Reader,
) -> ApiResult<Response> {
    let Some(n) = number(&n) else {
        return Ok(failed(
            s.as_ref(),
            &repo.path(),
            strata_core::error::Error::not_found("there is no such merge request"),
        ));
    };
    request_page(&state, s.as_ref(), &repo, n, StatusCode::OK, (None, "")).await
}

#[derive(Deserialize, Default)]
pub struct MergeForm {
    #[serde(default)]
    source: String,
    #[serde(default)]
    target: String,
    #[serde(default)]
    title: String,
    #[serde(default)]
    description: String,
    /// Resolve: the conflict, the side (`ours`, `theirs`, `base`, `value`) and a cell's value.
    #[serde(default)]
    id: String,
    #[serde(default)]
    take: String,
    #[serde(default)]
    value: String,
    /// Merge: the target head the page showed.
    #[serde(default)]
    target_head: String,
    /// Approve: the source head the page showed.
    #[serde(default)]
    source_head: String,
    /// Comment: its text, and the file and row it is about.
    #[serde(default)]
    body: String,
    #[serde(default)]
    path: String,
    #[serde(default)]
    row: String,
}

/// The caller of a signed-in writer's form and the dataset, through the write gate. `Err` is
/// the page to answer instead.
async fn writer(
    state: &AppState,
    s: &SessionRow,
    ns: &str,
    name: &str,
) -> PageResult<(Principal, Gated)> {
    gated(state, s, (ns, name), Action::Write).await
}

/// As [`writer`], through the read gate (comments).
async fn reader(
    state: &AppState,
    s: &SessionRow,
    ns: &str,
    name: &str,
) -> PageResult<(Principal, Gated)> {
    gated(state, s, (ns, name), Action::Read).await
}

async fn gated(
    state: &AppState,
    s: &SessionRow,
    (ns, name): (&str, &str),
    action: Action,
) -> PageResult<(Principal, Gated)> {
    let who = session_principal(s)?;
    match gate::dataset(state, &who, ns, name, action).await {
        Ok(repo) => Ok((who, repo)),
        Err(e) => Err(PageError::Answer(failed(
            Some(s),
            &format!("{ns}/{name}"),
            e,
        ))),
    }
}

/// `POST /datasets/{ns}/{name}/merge-requests`: opens one, then its page.
pub async fn create(
    State(state): State<AppState>,
    Path((ns, name)): Path<(String, String)>,
    CsrfForm { signed_in, form }: CsrfForm<MergeForm>,
) -> ApiResult<Response> {
    let s = signed_in.session;
    let (who, repo) = match writer(&state, &s, &ns, &name).await {
        Ok(parts) => parts,
        Err(e) => return Ok(e.into_response()),
    };
    let new = merges::New {
        source: form.source.trim().to_owned(),
        target: Some(form.target.trim().to_owned()).filter(|t| !t.is_empty()),
        title: form.title,
        description: form.description,
    };
    match merges::open(&state, &who, &repo, new).await {
        Ok(m) => Ok(see_other(
            &format!("/datasets/{}/merge-requests/{}", repo.path(), m.number),
            &[],
        )),
        Err(e) => {
            let e = ApiError::from(e);
            if e.status.is_server_error() {
                return Err(e);
            }
            list_page(&state, Some(&s), &repo, e.status, Some(&e.message)).await
        }
    }
}

/// `POST /datasets/{ns}/{name}/merge-requests/{number}/{action}`: `resolve`, `approve`,
/// `unapprove`, `merge`, `close`, `reopen` (writers) or `comment` (readers); then the page again
/// (with what went wrong, and a refused comment as typed).
pub async fn act(
    State(state): State<AppState>,
    Path((ns, name, n, action)): Path<(String, String, String, String)>,
    CsrfForm { signed_in, form }: CsrfForm<MergeForm>,
) -> ApiResult<Response> {
    let s = signed_in.session;
    // Readers of the whole dataset comment; the rest is for writers.
    let gated = match action.as_str() {
        "comment" => reader(&state, &s, &ns, &name).await,
        _ => writer(&state, &s, &ns, &name).await,
    };
    let (who, repo) = match gated {
        Ok(parts) => parts,
        Err(e) => return Ok(e.into_response()),
    };
    let Some(n) = number(&n) else {
        return Ok(failed(
            Some(&s),
            &repo.path(),
            strata_core::error::Error::not_found("there is no such merge request"),
        ));
    };
    let state_to = |to: &str| Some(to.to_owned());
    let done = match action.as_str() {
        "resolve" => {
            let take = Some(form.take.clone()).filter(|t| !t.is_empty());
            let value = (form.take == "value").then(|| form.value.clone());
            let asked = vec![merges::Resolve {
                id: form.id.clone(),
                take,
                value,
            }];
            merges::resolve(&state, &who, &repo, n, asked)
                .await
                .map(drop)
        }
        "approve" => {
            let seen = Some(form.source_head.clone()).filter(|h| !h.is_empty());
            merges::approve(&state, &who, &repo, n, true, seen)
                .await
                .map(drop)
        }
        "unapprove" => merges::approve(&state, &who, &repo, n, false, None)
            .await
            .map(drop),
        "merge" => {
            let head = Some(form.target_head.clone()).filter(|h| !h.is_empty());
            merges::merge(&state, &who, &repo, n, head, None)
                .await
                .map(drop)
        }
        "close" => merges::edit(&state, &who, &repo, n, None, None, state_to("closed"))
            .await
            .map(drop),
        "reopen" => merges::edit(&state, &who, &repo, n, None, None, state_to("open"))
            .await
            .map(drop),
        "comment" => {
            let terms = (form.body.as_str(), form.path.as_str(), form.row.as_str());
            merges::comment(&state, &who, &repo, n, terms)
                .await
                .map(drop)
        }
        _ => Err(strata_core::error::Error::not_found("no such action")),
    };
    match done {
        Ok(()) => {
            let at = if action == "comment" { "#comments" } else { "" };
            Ok(see_other(
                &format!("/datasets/{}/merge-requests/{n}{at}", repo.path()),
                &[],
            ))
        }
        Err(e) => {
            let e = ApiError::from(e);
            if e.status.is_server_error() {
                return Err(e);
            }
            let typed = if action == "comment" {
                form.body.as_str()
            } else {
                ""
            };
            request_page(
                &state,
                Some(&s),
                &repo,
                n,
                e.status,
                (Some(&e.message), typed),
            )
            .await
        }
    }
}
