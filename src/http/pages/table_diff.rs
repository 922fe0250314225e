//! A table's row changes between two revisions as a page
//! (`/datasets/{ns}/{name}/tables/{resource}/diff?from=&to=`): the counts, the columns added,
//! removed and retyped, and the changed rows a page at a time, each cell old → new. The same
//! domain call as the REST diff (`strata_core::tables::diff`), so the policies hold: a redacted
//! column shows that it changed, never its values. The revision and compare pages show each
//! changed table's counts through [`summary`] and link here.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Map, Value};
use strata_core::datasets::gated::Gated;
use strata_core::tables::diff::{self, Counts, TableDiff};

use super::layout::{render, Chrome};
use super::reader::Reader;
use super::show::failed;
use super::table_view::link;
use crate::http::error::ApiResult;
use crate::http::state::AppState;

/// Changed rows per page.
const PAGE_ROWS: usize = 50;

/// One cell as the page shows it.
struct Cell {
    before: Option<String>,
    after: Option<String>,
    /// Whether it changed (a changed row's changed cell).
    changed: bool,
}

struct Line {
    change: &'static str,
    cells: Vec<Cell>,
    /// How many copies, when more than one (rows compared whole): `×3`.
    copies: String,
}

#[derive(Template)]
#[template(path = "table_diff.html")]
struct DiffPage {
    chrome: Chrome,
    dataset: String,
    from: String,
    to: String,
    d: TableDiff,
    lines: Vec<Line>,
    prev: Option<String>,
    next: Option<String>,
    /// For a writer of a table without a declared key: where to declare one of
    /// `d.candidate_keys`, and this page to come back to.
    key_form: Option<(String, String)>,
}

#[derive(Deserialize)]
pub struct DiffQuery {
    from: Option<String>,
    to: Option<String>,
    offset: Option<u64>,
}

/// `GET /datasets/{ns}/{name}/tables/{resource}/diff?from=&to=&offset=`.
pub async fn show(
    State(state): State<AppState>,
    Path((_, _, resource)): Path<(String, String, String)>,
    Query(q): Query<DiffQuery>,
    Reader {
        session: s, repo, ..
    }: Reader,
) -> ApiResult<Response> {
    let title = format!("Row changes in {resource}");
    let here = format!("/datasets/{}/tables/{resource}/diff", repo.path());
    let from = q.from.unwrap_or_default();
    let to = q.to.filter(|t| !t.is_empty());
    let req = diff::Request {
        resource: resource.clone(),
        from: from.clone(),
        to: to.clone(),
        intent: None,
        offset: q.offset.unwrap_or(0),
        limit: PAGE_ROWS,
    };
    let d = match diff::diff(&state, &repo, &req).await {
        Ok(d) => d,
        Err(e) => return Ok(failed(s.as_ref(), &title, e)),
    };
    let mut pairs = vec![("from".to_owned(), from.clone())];
    if let Some(t) = &to {
        pairs.push(("to".to_owned(), t.clone()));
    }
    let total = d.counts.added + d.counts.removed + d.counts.changed;
    let shown = d.offset + d.rows.len() as u64;
    let writes = repo.writes("datapackage.json");
    let page = DiffPage {
        key_form: (writes && !d.candidate_keys.is_empty() && (d.key.is_empty() || d.key_inferred))
            .then(|| {
                (
                    format!("/datasets/{}/tables/{resource}/key", repo.path()),
                    link(&here, &pairs, &[]),
                )
            }),
        chrome: Chrome::new(title, s.as_ref(), "datasets"),
        dataset: repo.path(),
        prev: (d.offset > 0).then(|| {
            let back = d.offset.saturating_sub(PAGE_ROWS as u64).to_string();
            link(&here, &pairs, &[("offset", Some(&back))])
        }),
        // Rows compared whole count copies, not lines: a short page is the last.
        next: (shown < total && d.rows.len() == PAGE_ROWS)
            .then(|| link(&here, &pairs, &[("offset", Some(&shown.to_string()))])),
        lines: lines(&d),
        from: d.from.chars().take(10).collect(),
        to: d.to.chars().take(10).collect(),
        d,
    };
    Ok(render(StatusCode::OK, &page))
}

fn text(v: Option<&Value>) -> Option<String> {
    v.map(|v| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    })
}

fn lines(d: &TableDiff) -> Vec<Line> {
    let empty = Map::new();
    d.rows
        .iter()
        .map(|r| {
            let (before, after) = (
                r.before.as_ref().unwrap_or(&empty),
                r.after.as_ref().unwrap_or(&empty),
            );
            let key = r.key.as_ref().unwrap_or(&empty);
            let cells = d
                .names
                .iter()
                .map(|c| {
                    let changed = r.changed.contains(c);
                    match r.change {
                        "changed" if changed => Cell {
                            before: Some(text(before.get(c)).unwrap_or_default()),
                            after: Some(text(after.get(c)).unwrap_or_default()),
                            changed,
                        },
                        // An unchanged cell of a changed row: only its key is known.
                        "changed" => Cell {
                            before: None,
                            after: text(key.get(c)),
                            changed,
                        },
                        "removed" => Cell {
                            before: text(before.get(c)),
                            after: None,
                            changed,
                        },
                        _ => Cell {
                            before: None,
                            after: text(after.get(c)),
                            changed,
                        },
                    }
                })
                .collect();
            Line {
                change: r.change,
                cells,
                copies: r
                    .count
                    .filter(|n| *n > 1)
                    .map(|n| format!("×{n}"))
                    .unwrap_or_default(),
            }
        })
        .collect()
}

/// A changed table's counts for the revision and compare pages, and the link to its rows; `None`
/// when it is no table at both revisions, or the diff cannot be made now.
pub(super) async fn summary(
    state: &AppState,
    repo: &Gated,
    resource: &str,
    from: &str,
    to: &str,
) -> Option<(Counts, String)> {
    let req = diff::Request {
        resource: resource.to_owned(),
        from: from.to_owned(),
        to: Some(to.to_owned()),
        intent: None,
        offset: 0,
        limit: 1,
    };
    let d = diff::diff(state, repo, &req).await.ok()?;
    let href = link(
        &format!(
            "/datasets/{}/tables/{}/diff",
            repo.path(),
            super::forms::path_url(resource)
        ),
        &[("from".into(), from.into()), ("to".into(), to.into())],
        &[],
    );
    Some((d.counts, href))
}
