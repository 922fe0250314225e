//! A revision's page (its message, author, parents and what it changed against its first parent)
//! and the diff page between any two revisions (`?from=&to=`): the datapackage's metadata and
//! resources field by field, then the files. Both through the read gate.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::Value;
use strata_core::datasets::gated::Gated;
use strata_core::tables::diff::Counts;
use strata_metastore::{Diff, FileChangeKind};

use super::datasets::{failed, open, when};
use super::forms::see_other;
use super::layout::{render, Chrome};
use super::signed_in::{CsrfForm, SignedIn};
use crate::http::error::ApiResult;
use crate::http::extract::session_principal;
use crate::http::state::AppState;
use strata_core::auth::{Action, On};
use strata_core::datasets::{gate, git_on};

/// Longest rendering of a changed value before it is cut.
const VALUE_CHARS: usize = 300;

struct Change {
    field: String,
    before: String,
    after: String,
}

struct ResourceRow {
    name: String,
    change: &'static str,
    fields: Vec<Change>,
    /// For a table changed in place: its row counts and the link to its row changes.
    rows: Option<(Counts, String)>,
}

struct FileRow {
    kind: &'static str,
    path: String,
    old_path: Option<String>,
}

/// A diff as the page shows it.
struct DiffView {
    from: String,
    to: String,
    metadata: Vec<Change>,
    resources: Vec<ResourceRow>,
    files: Vec<FileRow>,
}

fn shown(v: &Option<Value>) -> String {
    let Some(v) = v else {
        return "—".into();
    };
    let text = match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if text.chars().count() > VALUE_CHARS {
        let cut: String = text.chars().take(VALUE_CHARS).collect();
        format!("{cut}…")
    } else {
        text
    }
}

/// Tables whose rows a diff page counts (each is a diff of its own).
const TABLES_COUNTED: usize = 5;

impl DiffView {
    /// Adds the row counts of the tables changed in place.
    async fn with_rows(mut self, state: &AppState, repo: &Gated) -> DiffView {
        let (from, to) = (self.from.clone(), self.to.clone());
        for r in self
            .resources
            .iter_mut()
            .filter(|r| r.change == "changed")
            .take(TABLES_COUNTED)
        {
            r.rows = super::table_diff::summary(state, repo, &r.name, &from, &to).await;
        }
        self
    }
}

impl From<Diff> for DiffView {
    fn from(d: Diff) -> DiffView {
        let changes = |list: Vec<strata_metastore::FieldChange>| {
            list.into_iter()
                .map(|c| Change {
                    before: shown(&c.before),
                    after: shown(&c.after),
                    field: c.field,
                })
                .collect()
        };
        DiffView {
            from: d.from,
            to: d.to,
            metadata: changes(d.metadata),
            resources: d
                .resources
                .into_iter()
                .map(|r| ResourceRow {
                    name: r.name,
                    change: r.change,
                    fields: changes(r.fields),
                    rows: None,
                })
                .collect(),
            files: d
                .files
                .into_iter()
                .map(|f| FileRow {
                    kind: match f.kind {
                        FileChangeKind::Added => "added",
                        FileChangeKind::Modified => "modified",
                        FileChangeKind::Deleted => "deleted",
                        FileChangeKind::Renamed => "renamed",
                    },
                    path: f.path,
                    old_path: f.old_path,
                })
                .collect(),
        }
    }
}

#[derive(Template)]
#[template(path = "revision.html")]
struct RevisionPage {
    chrome: Chrome,
    dataset: String,
    /// The revision's own facts; `None` on the diff page.
    revision: Option<RevisionFacts>,
    diff: Option<DiffView>,
}

struct RevisionFacts {
    /// For writers: the head of the default branch the revert form builds on (none when this
    /// revision is that head).
    revert_from: Option<String>,
    id: String,
    message: String,
    author: String,
    date: String,
    parents: Vec<String>,
}

/// `GET /datasets/{ns}/{name}/revisions/{rev}`.
pub async fn show(
    State(state): State<AppState>,
    Path((ns, name, rev)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let here = format!("/datasets/{ns}/{name}/revisions/{rev}");
    let (s, repo) = match open(&state, &headers, &ns, &name, &here, None).await {
        Ok(pair) => pair,
        Err(e) => return Ok(e.into_response()),
    };
    let title = format!("Revision {}", rev.chars().take(10).collect::<String>());
    let found = git_on(&state, &repo, move |ms, ds| {
        let revision = ms.revision(ds, &rev)?;
        let diff = match revision.parents.first() {
            Some(parent) => Some(ms.diff(ds, parent, &revision.id)?),
            None => None,
        };
        let head = ms.resolve(ds, Some(strata_metastore::DEFAULT_BRANCH)).ok();
        Ok((revision, diff, head.map(|h| h.to_string())))
    })
    .await;
    let (revision, diff, head) = match found {
        Ok(f) => f,
        Err(e) => return Ok(failed(s.as_ref(), &title, e)),
    };
    let page = RevisionPage {
        chrome: Chrome::new(title, s.as_ref(), "datasets"),
        dataset: repo.path(),
        revision: Some(RevisionFacts {
            revert_from: head
                .filter(|h| *h != revision.id && repo.allows(On::Dataset, Action::Write)),
            date: when(revision.time),
            id: revision.id,
            message: revision.message,
            author: revision.author.name,
            parents: revision.parents,
        }),
        diff: match diff {
            Some(d) => Some(DiffView::from(d).with_rows(&state, &repo).await),
            None => None,
        },
    };
    Ok(render(StatusCode::OK, &page))
}

#[derive(Deserialize, Default)]
pub struct DiffQuery {
    from: Option<String>,
    to: Option<String>,
}

/// `GET /datasets/{ns}/{name}/diff?from=&to=` (`to` defaults to the default branch).
pub async fn diff(
    State(state): State<AppState>,
    Path((ns, name)): Path<(String, String)>,
    Query(q): Query<DiffQuery>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let here = format!("/datasets/{ns}/{name}/diff");
    let (s, repo) = match open(&state, &headers, &ns, &name, &here, None).await {
        Ok(pair) => pair,
        Err(e) => return Ok(e.into_response()),
    };
    let title = format!("Compare revisions of {}", repo.path());
    let to =
        q.to.filter(|t| !t.trim().is_empty())
            .unwrap_or_else(|| strata_metastore::DEFAULT_BRANCH.to_owned());
    let diff = match q.from.filter(|f| !f.trim().is_empty()) {
        None => None,
        Some(from) => {
            let found = git_on(&state, &repo, move |ms, ds| ms.diff(ds, &from, &to)).await;
            match found {
                Ok(d) => Some(DiffView::from(d).with_rows(&state, &repo).await),
                Err(e) => return Ok(failed(s.as_ref(), &title, e)),
            }
        }
    };
    let page = RevisionPage {
        chrome: Chrome::new(title, s.as_ref(), "datasets"),
        dataset: repo.path(),
        revision: None,
        diff,
    };
    Ok(render(StatusCode::OK, &page))
}

#[derive(Deserialize)]
pub struct RevertForm {
    /// The revision whose content comes back.
    to: String,
    /// The head the visitor saw: a revert on a branch that moved since is refused.
    parent: String,
}

/// `POST /datasets/{ns}/{name}/revert`: a new revision on the default branch with the content of
/// `to`, after the page's confirmation.
pub async fn revert(
    State(state): State<AppState>,
    Path((ns, name)): Path<(String, String)>,
    CsrfForm {
        signed_in: SignedIn {
            id_hash: _,
            session: s,
        },
        form,
    }: CsrfForm<RevertForm>,
) -> ApiResult<Response> {
    let who = session_principal(&s)?;
    let title = format!("{ns}/{name}");
    let repo = match gate::dataset(&state, &who, &ns, &name, Action::Write).await {
        Ok(repo) => repo,
        Err(e) => return Ok(failed(Some(&s), &title, e)),
    };
    let to = form.to.trim().to_owned();
    match strata_core::datasets::commit::revert(&state, &who, &repo, to, form.parent, None, None)
        .await
    {
        Ok(revision) => Ok(see_other(
            &format!("/datasets/{}/revisions/{}", repo.path(), revision.id),
            &[],
        )),
        Err(e) => Ok(failed(Some(&s), &title, e)),
    }
}
