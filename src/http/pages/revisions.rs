//! A revision's page (its message, author, parents and what it changed against its first parent)
//! and the compare page between any two revisions, branches or tags picked from lists
//! (`?from=&to=`): the datapackage's metadata and resources field by field, a table's row counts,
//! then each file with its sizes and its lines that changed (`strata_core::changes::diffs`);
//! `?path=` shows one file or folder (the file page's versions link there). Git plumbing is left
//! out as the file browser leaves it out. Both through the read gate.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::Value;
use strata_core::datasets::gated::Gated;
use strata_core::tables::diff::Counts;
use strata_metastore::lines::LineKind;
use strata_metastore::FileChangeKind;

use super::forms::see_other;
use super::layout::{render, Chrome};
use super::reader::Reader;
use super::show::{failed, human_size, when};
use super::signed_in::SignedIn;
use crate::http::csrf::CsrfForm;
use crate::http::error::ApiResult;
use crate::http::extract::session_principal;
use crate::http::state::AppState;
use strata_core::auth::{Action, On};
use strata_core::changes::diffs as changes;
use strata_core::datasets::{gate, git_on};

/// Longest rendering of a changed value before it is cut.
const VALUE_CHARS: usize = 300;

pub(super) struct Change {
    pub(super) field: String,
    pub(super) before: String,
    pub(super) after: String,
}

pub(super) struct ResourceRow {
    pub(super) name: String,
    pub(super) change: &'static str,
    pub(super) fields: Vec<Change>,
    /// For a table changed in place: its row counts and the link to its row changes.
    pub(super) rows: Option<(Counts, String)>,
}

pub(super) struct FileRow {
    pub(super) kind: &'static str,
    pub(super) path: String,
    pub(super) old_path: Option<String>,
    /// `12 KiB → 14 KiB`, or one size.
    pub(super) sizes: String,
    /// The LFS object before and after, when it changed.
    pub(super) oids: Option<(String, String)>,
    /// Where the file can be opened at the newer revision (none when deleted).
    pub(super) href: Option<String>,
    /// This page showing this file alone.
    pub(super) alone: String,
    pub(super) content: ContentView,
}

/// A file's content diff as the page shows it: hunks of lines, or a note saying why there are
/// none.
#[derive(Default)]
pub(super) struct ContentView {
    pub(super) note: Option<String>,
    pub(super) added: u32,
    pub(super) removed: u32,
    pub(super) hunks: Vec<HunkView>,
    pub(super) truncated: bool,
}

pub(super) struct HunkView {
    pub(super) header: String,
    pub(super) lines: Vec<LineView>,
}

pub(super) struct LineView {
    /// `added`, `removed` or `context` (the row's class).
    pub(super) kind: &'static str,
    pub(super) old: String,
    pub(super) new: String,
    pub(super) text: String,
}

impl From<Option<changes::Content>> for ContentView {
    fn from(c: Option<changes::Content>) -> ContentView {
        use changes::Content as C;
        let note = |n: &str| ContentView {
            note: Some(n.to_owned()),
            ..ContentView::default()
        };
        match c {
            None => ContentView::default(),
            Some(C::Unchanged) => note("The same content, under a new name."),
            Some(C::Binary) => note("Not text: the sizes and objects above say what changed."),
            Some(C::TooLarge { limit }) => note(&format!(
                "Too large to compare line by line (over {}).",
                human_size(limit)
            )),
            Some(C::Hidden { .. }) => note(
                "A policy keeps this file's bytes: its table's row changes show what you may see.",
            ),
            Some(C::Unavailable { .. }) => note("Its bytes cannot be read here."),
            Some(C::Skipped) => {
                note("Not compared here: too much changed at once. Open this file's changes alone.")
            }
            Some(C::Lines(d)) => ContentView {
                note: (d.hunks.is_empty() && !d.truncated).then(|| "No lines changed.".to_owned()),
                added: d.added,
                removed: d.removed,
                truncated: d.truncated,
                hunks: d
                    .hunks
                    .into_iter()
                    .map(|h| HunkView {
                        header: format!(
                            "@@ -{},{} +{},{} @@",
                            h.old_start, h.old_lines, h.new_start, h.new_lines
                        ),
                        lines: h
                            .lines
                            .into_iter()
                            .map(|l| LineView {
                                kind: match l.kind {
                                    LineKind::Added => "added",
                                    LineKind::Removed => "removed",
                                    LineKind::Context => "context",
                                },
                                old: l.old.map(|n| n.to_string()).unwrap_or_default(),
                                new: l.new.map(|n| n.to_string()).unwrap_or_default(),
                                text: l.text,
                            })
                            .collect(),
                    })
                    .collect(),
            },
        }
    }
}

/// A diff as the page shows it.
pub(super) struct DiffView {
    pub(super) from: String,
    pub(super) to: String,
    /// Only this file or folder, when the page was asked for one.
    pub(super) path: Option<String>,
    pub(super) metadata: Vec<Change>,
    pub(super) resources: Vec<ResourceRow>,
    pub(super) files: Vec<FileRow>,
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

    /// `d` as the page shows it; `base` is the page's address, to which `path=` is added.
    fn of(d: changes::Compared, dataset: &str, base: &str, path: Option<String>) -> DiffView {
        let changes = |list: Vec<strata_metastore::FieldChange>| {
            list.into_iter()
                .map(|c| Change {
                    before: shown(&c.before),
                    after: shown(&c.after),
                    field: c.field,
                })
                .collect()
        };
        let to = d.to.clone();
        DiffView {
            from: d.from,
            to: d.to,
            path,
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
                .map(|f| {
                    let sizes = match (&f.before, &f.after) {
                        (Some(b), Some(a)) if b.size != a.size => {
                            format!("{} → {}", human_size(b.size), human_size(a.size))
                        }
                        (_, Some(s)) | (Some(s), None) => human_size(s.size),
                        (None, None) => String::new(),
                    };
                    let oids = match (&f.before, &f.after) {
                        (Some(b), Some(a)) if b.oid != a.oid => Some((
                            b.oid.clone().unwrap_or_else(|| "(in git)".into()),
                            a.oid.clone().unwrap_or_else(|| "(in git)".into()),
                        )),
                        _ => None,
                    };
                    let kind = match f.change.kind {
                        FileChangeKind::Added => "added",
                        FileChangeKind::Modified => "modified",
                        FileChangeKind::Deleted => "deleted",
                        FileChangeKind::Renamed => "renamed",
                    };
                    FileRow {
                        kind,
                        href: (f.after.is_some()).then(|| {
                            format!(
                                "/datasets/{dataset}/files/{}?rev={to}",
                                super::forms::path_url(&f.change.path)
                            )
                        }),
                        alone: format!(
                            "{base}{}",
                            serde_urlencoded::to_string([("path", &f.change.path)])
                                .unwrap_or_default()
                        ),
                        path: f.change.path,
                        old_path: f.change.old_path,
                        sizes,
                        oids,
                        content: f.content.into(),
                    }
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
    /// The revision's own facts; `None` on the compare page.
    revision: Option<RevisionFacts>,
    diff: Option<DiffView>,
    /// The revision's contract report, when one was made.
    validation: Option<strata_core::contracts::Report>,
    /// The compare page's two lists (`from`, then `to`); none on a revision's page.
    pickers: Vec<Picker>,
    /// A drive: its pages speak of versions, not revisions and branches.
    drive: bool,
}

/// A list to pick a side of a comparison from.
struct Picker {
    /// `from` or `to`.
    field: &'static str,
    label: &'static str,
    groups: Vec<(&'static str, Vec<Choice>)>,
    /// What is picked when it is in no group (a revision id typed in the address).
    other: Option<String>,
}

struct Choice {
    value: String,
    label: String,
    selected: bool,
}

impl Picker {
    fn new(field: &'static str, label: &'static str, c: &changes::Choices, picked: &str) -> Picker {
        let list = |items: &[changes::Choice], by_name: bool| -> Vec<Choice> {
            items
                .iter()
                .map(|x| {
                    let value = if by_name {
                        x.name.clone()
                    } else {
                        x.revision.clone()
                    };
                    Choice {
                        selected: value == picked,
                        label: x.name.clone(),
                        value,
                    }
                })
                .collect()
        };
        let groups: Vec<(&'static str, Vec<Choice>)> = vec![
            ("Branches", list(&c.branches, true)),
            ("Tags", list(&c.tags, true)),
            ("Recent revisions of main", list(&c.recent, false)),
        ]
        .into_iter()
        .filter(|(_, l)| !l.is_empty())
        .collect();
        let listed = groups.iter().flat_map(|(_, l)| l).any(|x| x.selected);
        Picker {
            field,
            label,
            other: (!picked.is_empty() && !listed).then(|| picked.to_owned()),
            groups,
        }
    }
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
    Path((_, _, rev)): Path<(String, String, String)>,
    Query(q): Query<DiffQuery>,
    Reader {
        session: s, repo, ..
    }: Reader,
) -> ApiResult<Response> {
    let title = format!("Revision {}", rev.chars().take(10).collect::<String>());
    let found = git_on(&state, &repo, move |ms, ds| {
        let revision = ms.revision(ds, &rev)?;
        let head = ms.resolve(ds, Some(strata_metastore::DEFAULT_BRANCH)).ok();
        Ok((revision, head.map(|h| h.to_string())))
    })
    .await;
    let (revision, head) = match found {
        Ok(f) => f,
        Err(e) => return Ok(failed(s.as_ref(), &title, e)),
    };
    let validation = match strata_core::contracts::stored(&state, &repo, &revision.id).await {
        Ok(v) => v,
        Err(e) => return Ok(failed(s.as_ref(), &title, e)),
    };
    let path = q.path.filter(|p| !p.trim().is_empty());
    let diff = match revision.parents.first() {
        Some(parent) => {
            let ask = ask(path.clone());
            match changes::compare(&state, &repo, parent, &revision.id, &ask).await {
                Ok(d) => {
                    let base = format!("/datasets/{}/revisions/{}?", repo.path(), revision.id);
                    let view = DiffView::of(d, &repo.path(), &base, path);
                    Some(view.with_rows(&state, &repo).await)
                }
                Err(e) => return Ok(failed(s.as_ref(), &title, e)),
            }
        }
        None => None,
    };
    let page = RevisionPage {
        chrome: Chrome::new(title, s.as_ref(), "datasets"),
        dataset: repo.path(),
        drive: repo.name == strata_core::datasets::DRIVE,
        revision: Some(RevisionFacts {
            revert_from: head
                .filter(|h| *h != revision.id && repo.allows(On::Dataset, Action::Write)),
            date: when(revision.time),
            id: revision.id,
            message: revision.message,
            author: revision.author.name,
            parents: revision.parents,
        }),
        diff,
        validation,
        pickers: Vec::new(),
    };
    Ok(render(StatusCode::OK, &page))
}

/// The changes from `from` to `to` as the pages show them (a merge request's page).
pub(super) async fn changes_between(
    state: &AppState,
    repo: &Gated,
    from: &str,
    to: &str,
) -> strata_core::error::Result<DiffView> {
    let d = changes::compare(state, repo, from, to, &ask(None)).await?;
    let base = format!(
        "/datasets/{}/diff?{}&",
        repo.path(),
        serde_urlencoded::to_string([("from", from), ("to", to)]).unwrap_or_default()
    );
    Ok(DiffView::of(d, &repo.path(), &base, None)
        .with_rows(state, repo)
        .await)
}

/// What the pages diff: contents too, without git plumbing.
fn ask(path: Option<String>) -> changes::Ask {
    changes::Ask {
        content: true,
        path,
        hide_plumbing: true,
    }
}

#[derive(Deserialize, Default)]
pub struct DiffQuery {
    from: Option<String>,
    to: Option<String>,
    /// Only this file or folder.
    path: Option<String>,
}

/// `GET /datasets/{ns}/{name}/diff?from=&to=` (`to` defaults to the default branch).
pub async fn diff(
    State(state): State<AppState>,
    Query(q): Query<DiffQuery>,
    Reader {
        session: s, repo, ..
    }: Reader,
) -> ApiResult<Response> {
    let title = format!("Compare revisions of {}", repo.path());
    let to =
        q.to.filter(|t| !t.trim().is_empty())
            .unwrap_or_else(|| strata_metastore::DEFAULT_BRANCH.to_owned());
    let path = q.path.filter(|p| !p.trim().is_empty());
    let from = q.from.filter(|f| !f.trim().is_empty());
    let diff = match &from {
        None => None,
        Some(from) => match changes::compare(&state, &repo, from, &to, &ask(path.clone())).await {
            Ok(d) => {
                let base = format!(
                    "/datasets/{}/diff?{}&",
                    repo.path(),
                    serde_urlencoded::to_string([("from", from), ("to", &to)]).unwrap_or_default()
                );
                let view = DiffView::of(d, &repo.path(), &base, path);
                Some(view.with_rows(&state, &repo).await)
            }
            Err(e) => return Ok(failed(s.as_ref(), &title, e)),
        },
    };
    let choices = match changes::choices(&state, &repo).await {
        Ok(c) => c,
        Err(e) => return Ok(failed(s.as_ref(), &title, e)),
    };
    let page = RevisionPage {
        chrome: Chrome::new(title, s.as_ref(), "datasets"),
        dataset: repo.path(),
        drive: repo.name == strata_core::datasets::DRIVE,
        revision: None,
        diff,
        validation: None,
        pickers: vec![
            Picker::new(
                "from",
                "From",
                &choices,
                from.as_deref().unwrap_or_default(),
            ),
            Picker::new("to", "To", &choices, &to),
        ],
    };
    Ok(render(StatusCode::OK, &page))
}

#[derive(Deserialize)]
pub struct RevertForm {
    /// The revision whose content comes back.
    to: String,
    /// The head the visitor saw: a revert on a branch that moved since is refused.
    parent: String,
    /// Where to go after (a folder's page, for an Undo), instead of the new revision's page.
    #[serde(default)]
    next: String,
    /// The branch reverted (`""`: the default branch).
    #[serde(default)]
    branch: String,
}

/// `POST /datasets/{ns}/{name}/revert`: a new revision on the default branch (or `branch`) with
/// the content of `to`, after the page's confirmation.
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
    let branch = Some(form.branch.trim().to_owned()).filter(|b| !b.is_empty());
    match strata_core::commits::revert(&state, &who, &repo, to, form.parent, branch, None).await {
        Ok(revision) => {
            let prefix = format!("/datasets/{}", repo.path());
            let next = super::forms::safe_next(&form.next)
                .filter(|n| n.starts_with(&prefix))
                .map(|n| format!("{n}{}undone=1", if n.contains('?') { '&' } else { '?' }))
                .unwrap_or_else(|| format!("{prefix}/revisions/{}", revision.id));
            Ok(see_other(&next, &[]))
        }
        Err(e) => Ok(failed(Some(&s), &title, e)),
    }
}
