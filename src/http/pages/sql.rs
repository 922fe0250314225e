//! `/sql`: a query box over the tables the visitor may read, the result a page at a time in the
//! table viewer's table (sorted again by clicking a column), its download as CSV or Parquet
//! (`/api/v1/sql`), and what the policies did to each table read. The query lives in the URL,
//! so the page's address is the link to share. Runs through `strata_core::sql::page`, with the
//! limits, checks and audit entry of every query.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use strata_core::sql::page::{self, Paging, Readable};

use super::layout::{render, Chrome};
use super::table_view::{cells, headings, link, Cell, Heading};
use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::{session as session_of, visitor};
use crate::http::state::AppState;

/// Rows per page unless the visitor asks for another number.
const PAGE_ROWS: usize = 50;

/// A table the visitor may query, as the list beside the box shows it.
struct Listed {
    reference: String,
    /// The page with a query of its first rows.
    try_it: String,
    /// Its file's page.
    file: String,
}

/// What the policies did to a table the query read.
struct Read {
    table: String,
    revision: String,
    /// `column: action` of each column a policy changed.
    columns: Vec<String>,
    filters: usize,
}

/// The result's page (the fields `rows_table.html` reads, and the rest).
struct Result {
    headings: Vec<Heading>,
    rows: Vec<Vec<Cell>>,
    first: u64,
    last: u64,
    prev: Option<String>,
    next: Option<String>,
    csv: String,
    parquet: String,
    read: Vec<Read>,
}

#[derive(Template)]
#[template(path = "sql.html")]
struct SqlPage {
    chrome: Chrome,
    q: String,
    intent: String,
    tables: Vec<Listed>,
    result: Option<Result>,
}

/// `GET /sql?q=&intent=&sort=&offset=&limit=`: the page, and the query's result if there is one.
/// Open to visitors who are not signed in (public datasets); the status is the query's error's
/// when it fails.
pub async fn show(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(pairs): Query<Vec<(String, String)>>,
) -> ApiResult<Response> {
    let s = session_of(&state, &headers).await?.map(|(_, s)| s);
    let who = visitor(s.as_ref())?;
    let field = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    let q = field("q").unwrap_or_default();
    let intent = field("intent");
    let tables = page::readable(&state, &who)
        .await?
        .into_iter()
        .map(|t| listed(&t))
        .collect();
    let mut chrome = Chrome::new("SQL", s.as_ref(), "sql");
    let mut status = StatusCode::OK;
    let mut result = None;
    if !q.is_empty() {
        let ran = match paging(&field) {
            Ok(paging) => page::page(&state.core, &who, &q, intent.as_deref(), &paging)
                .await
                .map(|shown| (paging, shown)),
            Err(e) => Err(e),
        };
        match ran {
            Ok((paging, shown)) => {
                result = Some(shown_as(&q, intent.as_deref(), &pairs, &paging, shown))
            }
            Err(e) => {
                let e = ApiError::from(e);
                if e.status.is_server_error() {
                    tracing::error!(error = %e.message, "query failed");
                }
                status = e.status;
                chrome = chrome.error(e.message);
            }
        }
    }
    let page = SqlPage {
        chrome,
        q,
        intent: intent.unwrap_or_default(),
        tables,
        result,
    };
    Ok(render(status, &page))
}

/// The page of the result the query string asks for.
fn paging(field: &dyn Fn(&str) -> Option<String>) -> strata_core::error::Result<Paging> {
    let number = |name: &str, default: u64| -> strata_core::error::Result<u64> {
        field(name).map_or(Ok(default), |v| {
            v.parse().map_err(|_| {
                strata_core::error::Error::unprocessable(format!(
                    "{name} must be a whole number, not {v:?}"
                ))
            })
        })
    };
    let sort = field("sort").map(|s| match s.strip_suffix(":desc") {
        Some(column) => (column.to_owned(), true),
        None => (s.strip_suffix(":asc").unwrap_or(&s).to_owned(), false),
    });
    Ok(Paging {
        sort,
        offset: number("offset", 0)?,
        limit: usize::try_from(number("limit", PAGE_ROWS as u64)?).unwrap_or(usize::MAX),
    })
}

fn listed(t: &Readable) -> Listed {
    let query = format!("SELECT * FROM {} LIMIT 100", t.reference());
    Listed {
        try_it: link("/sql", &[("q".to_owned(), query)], &[]),
        file: format!(
            "/datasets/{}/files/{}",
            t.dataset,
            super::forms::path_url(&t.path)
        ),
        reference: t.reference(),
    }
}

fn shown_as(
    q: &str,
    intent: Option<&str>,
    pairs: &[(String, String)],
    paging: &Paging,
    shown: page::Shown,
) -> Result {
    let heads = headings(&shown.columns, paging.sort.as_ref(), "/sql", pairs);
    let rows = cells(&shown.rows, &heads);
    let limit = paging.limit as u64;
    let download = |format: &str| {
        let mut p = vec![
            ("q".to_owned(), q.to_owned()),
            ("format".to_owned(), format.to_owned()),
        ];
        if let Some(i) = intent {
            p.push(("intent".to_owned(), i.to_owned()));
        }
        link("/api/v1/sql", &p, &[])
    };
    Result {
        first: shown.offset.saturating_add(1),
        last: shown.offset.saturating_add(rows.len() as u64),
        prev: (shown.offset > 0).then(|| {
            let back = shown.offset.saturating_sub(limit).to_string();
            link("/sql", pairs, &[("offset", Some(&back))])
        }),
        next: shown.more.then(|| {
            let on = shown.offset.saturating_add(limit).to_string();
            link("/sql", pairs, &[("offset", Some(&on))])
        }),
        csv: download("csv"),
        parquet: download("parquet"),
        read: shown
            .tables
            .into_iter()
            .map(|t| Read {
                columns: t
                    .columns
                    .iter()
                    .map(|(c, a)| format!("{c}: {}", action(a)))
                    .collect(),
                revision: t.revision.chars().take(10).collect(),
                filters: t.filters,
                table: t.table,
            })
            .collect(),
        headings: heads,
        rows,
    }
}

/// What a policy did to a column, in a word.
fn action(a: &strata_policy::ColumnAction) -> &'static str {
    match a {
        strata_policy::ColumnAction::Hash => "hashed",
        strata_policy::ColumnAction::Redact => "redacted",
        strata_policy::ColumnAction::Remove => "removed",
    }
}
