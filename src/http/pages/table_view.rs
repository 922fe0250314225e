//! The table viewer on a file's page: every row of a table a page at a time, sorted by clicking a
//! column's heading, filtered, searched, with the column types, numbers aligned right and, on
//! the column statistics of the rows shown (filters and search included) with a chart of each
//! column in its heading (a histogram of numbers, the most frequent values of the rest, as the
//! Hub's viewer draws them). A writer of a table that declares no key is offered the columns
//! that could be its key, one click to declare. Server-rendered from the same domain calls as the REST rows
//! and stats (`strata_core::tables`), so it works without scripts and shows only what the
//! policies let the visitor see. Its state lives in the page's query string.

use axum::extract::{Path, State};
use axum::response::Response;
use serde::Deserialize;
use serde_json::Value;
use strata_core::auth::Action;
use strata_core::datasets::gate::{self, Gated};
use strata_core::datasets::policies;
use strata_core::tables::{self, rows, At, Kind};

use super::forms::{path_url, see_other};
use super::show::failed;
use super::signed_in::SignedIn;
use crate::http::csrf::CsrfForm;
use crate::http::error::ApiResult;
use crate::http::extract::session_principal;
use crate::http::state::AppState;

#[derive(Deserialize)]
pub struct SchemaForm {
    /// The table's file, to go back to.
    path: String,
}

/// `POST /datasets/{ns}/{name}/tables/{resource}/schema`: saves the column types the viewer
/// shows into the datapackage, then back to the file's page.
pub async fn save_types(
    State(state): State<AppState>,
    Path((ns, name, resource)): Path<(String, String, String)>,
    CsrfForm {
        signed_in: SignedIn { session: s, .. },
        form,
    }: CsrfForm<SchemaForm>,
) -> ApiResult<Response> {
    let who = session_principal(&s)?;
    let at = At {
        resource,
        ..At::default()
    };
    let done = async {
        let gated = gate::dataset(&state, &who, &ns, &name, Action::Write).await?;
        tables::schema::commit_schema(&state, &who, &gated, &at).await
    }
    .await;
    match done {
        Ok(_) => Ok(see_other(
            &format!("/datasets/{ns}/{name}/files/{}", path_url(&form.path)),
            &[],
        )),
        Err(e) => Ok(failed(Some(&s), "Save the column types", e)),
    }
}

#[derive(Deserialize)]
pub struct KeyForm {
    /// The column declared the key.
    key: String,
    /// Where to go back to: a page of the same dataset.
    back: String,
}

/// `POST /datasets/{ns}/{name}/tables/{resource}/key`: declares a column the table's
/// `primaryKey` (checked unique and never empty), then back to the page it was asked from.
pub async fn save_key(
    State(state): State<AppState>,
    Path((ns, name, resource)): Path<(String, String, String)>,
    CsrfForm {
        signed_in: SignedIn { session: s, .. },
        form,
    }: CsrfForm<KeyForm>,
) -> ApiResult<Response> {
    let who = session_principal(&s)?;
    let at = At {
        resource,
        ..At::default()
    };
    let done = async {
        let gated = gate::dataset(&state, &who, &ns, &name, Action::Write).await?;
        tables::schema::commit_key(&state, &who, &gated, &at, std::slice::from_ref(&form.key)).await
    }
    .await;
    let own = format!("/datasets/{ns}/{name}");
    let back = match form.back.strip_prefix(&own) {
        Some(rest)
            if (rest.starts_with('/') && !rest.starts_with("//")) || rest.starts_with('?') =>
        {
            form.back.clone()
        }
        _ => own,
    };
    match done {
        Ok(_) => Ok(see_other(&back, &[])),
        Err(e) => Ok(failed(Some(&s), "Declare the key", e)),
    }
}

/// Rows per page unless the visitor asks for another number.
const PAGE_ROWS: usize = 50;
/// Tables up to this many rows show their charts without being asked.
const CHARTED_ROWS: u64 = 250_000;

/// A column's heading.
pub struct Heading {
    pub name: String,
    pub ty: &'static str,
    pub numeric: bool,
    /// `ascending`, `descending` or `none` (for `aria-sort`).
    pub sorted: &'static str,
    /// The page sorted by this column the next way (ascending, descending, unsorted).
    pub sort_link: String,
    /// Its chart, once the statistics are known.
    pub chart: Option<Chart>,
}

/// A column's values drawn small: bars in a 100 × 24 box, each with what it counts, and a line
/// under it (`0 – 250`, `7 values`, `3 empty`).
pub struct Chart {
    pub bars: Vec<Bar>,
    pub caption: String,
}

pub struct Bar {
    pub x: String,
    pub y: String,
    pub width: String,
    pub height: String,
    pub title: String,
}

/// One cell.
pub struct Cell {
    pub text: String,
    pub numeric: bool,
    pub empty: bool,
}

/// A column's statistics, as shown.
pub struct StatRow {
    pub name: String,
    pub ty: String,
    pub count: u64,
    pub nulls: u64,
    pub distinct: String,
    pub min: String,
    pub max: String,
    pub mean: String,
    pub top: String,
}

/// What the viewer shows.
pub struct Viewer {
    pub resource: String,
    pub headings: Vec<Heading>,
    pub rows: Vec<Vec<Cell>>,
    pub total: u64,
    /// The rows shown, counted from 1 (`first > last` when there are none).
    pub first: u64,
    pub last: u64,
    pub prev: Option<String>,
    pub next: Option<String>,
    pub q: String,
    /// Filters in force: (`column op value`, the page without it).
    pub filters: Vec<(String, String)>,
    /// The query string's pairs to keep in the search and filter forms (all but `q`, `filter`
    /// and `offset`), and the filters in force as written.
    pub keep: Vec<(String, String)>,
    pub filter_raw: Vec<String>,
    pub stats: Option<Vec<StatRow>>,
    pub stats_link: String,
    /// Why the table cannot be shown as asked.
    pub error: Option<String>,
    /// For a writer, where to post to save the column types (some are only inferred).
    pub save_types: Option<String>,
    /// For a writer of a table without a declared key: where to post one, and the columns that
    /// could be it.
    pub key_form: Option<(String, Vec<String>)>,
    /// This page (to come back to after a form).
    pub here: String,
    /// The table's file in the dataset.
    pub file_path: String,
}

/// The viewer for the file at `path` of `gated`, if it is a table; `pairs` is the page's query
/// string, `base` the page's path. The filter form's three fields (`fc`, `fo`, `fv`: column,
/// op, value) become one more `filter`.
pub async fn viewer(
    state: &AppState,
    gated: &Gated,
    path: &str,
    base: &str,
    pairs: Vec<(String, String)>,
) -> Option<Viewer> {
    let field = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let added = match (field("fc"), field("fo")) {
        (Some(c), Some(o)) if !c.is_empty() => {
            Some(format!("{c}:{o}:{}", field("fv").unwrap_or_default()))
        }
        _ => None,
    };
    let mut pairs: Vec<(String, String)> = pairs
        .into_iter()
        .filter(|(k, _)| !matches!(k.as_str(), "fc" | "fo" | "fv"))
        .collect();
    if let Some(f) = added {
        pairs.retain(|(k, _)| k != "offset");
        pairs.push(("filter".to_owned(), f));
    }
    let rev = pairs
        .iter()
        .find(|(k, _)| k == "rev")
        .map(|(_, v)| v.clone())
        .filter(|r| !r.is_empty());
    let catalog = policies::catalog(state, gated, rev.as_deref()).await.ok()?;
    let table = catalog.table_at(path)?;
    Kind::of(table)?;
    table.object?;
    let mut at = At {
        resource: table.name.clone(),
        ..At::default()
    };
    let mut v = Viewer {
        resource: table.name.clone(),
        headings: Vec::new(),
        rows: Vec::new(),
        total: 0,
        first: 1,
        last: 0,
        prev: None,
        next: None,
        q: String::new(),
        filters: Vec::new(),
        keep: pairs
            .iter()
            .filter(|(k, _)| !matches!(k.as_str(), "q" | "filter" | "offset"))
            .cloned()
            .collect(),
        filter_raw: pairs
            .iter()
            .filter(|(k, f)| k == "filter" && !f.is_empty())
            .map(|(_, f)| f.clone())
            .collect(),
        stats: None,
        stats_link: link(base, &pairs, &[("stats", Some("1"))]),
        error: None,
        save_types: None,
        key_form: None,
        here: link(base, &pairs, &[]),
        file_path: path.to_owned(),
    };
    // `path` and `page` belong to the page around the viewer (a share link's).
    let mut query = match rows::Query::parse(&pairs, &mut at, &["stats", "path", "page", "table"]) {
        Ok(q) => q,
        Err(e) => {
            v.error = Some(e.message);
            return Some(v);
        }
    };
    if !pairs.iter().any(|(k, _)| k == "limit") {
        query.limit = PAGE_ROWS;
    }
    v.q = query.q.clone().unwrap_or_default();
    v.filters = pairs
        .iter()
        .enumerate()
        .filter(|(_, (k, f))| k == "filter" && !f.is_empty())
        .map(|(i, (_, f))| {
            let without: Vec<(String, String)> = pairs
                .iter()
                .enumerate()
                .filter(|(j, (k, _))| *j != i && k != "offset")
                .map(|(_, p)| p.clone())
                .collect();
            (chip(f), link(base, &without, &[]))
        })
        .collect();
    let page = match tables::rows_of(state, gated, &at, &query).await {
        Ok(p) => p,
        Err(e) => {
            v.error = Some(e.message);
            return Some(v);
        }
    };
    v.headings = headings(&page.columns, query.sort.first(), base, &pairs);
    v.rows = cells(&page.rows, &v.headings);
    if gated.writes(path)
        && page
            .columns
            .iter()
            .any(|c| !table.types.contains_key(&c.name))
    {
        v.save_types = Some(format!(
            "/datasets/{}/tables/{}/schema",
            gated.path(),
            path_url(&table.name)
        ));
    }
    v.total = page.total;
    v.first = page.offset + 1;
    v.last = page.offset + page.rows.len() as u64;
    let limit = page.limit as u64;
    if page.offset > 0 {
        let back = page.offset.saturating_sub(limit).to_string();
        v.prev = Some(link(base, &pairs, &[("offset", Some(&back))]));
    }
    if v.last < page.total {
        let on = (page.offset + limit).to_string();
        v.next = Some(link(base, &pairs, &[("offset", Some(&on))]));
    }
    // The charts come with the statistics: always for a table of up to [`CHARTED_ROWS`] rows
    // (kept with its view), on request past that.
    let asked = pairs.iter().any(|(k, val)| k == "stats" && val == "1");
    if asked || page.total <= CHARTED_ROWS {
        match tables::stats_of_rows(state, gated, &at, &query).await {
            Ok(s) => {
                for h in &mut v.headings {
                    h.chart = s.columns.iter().find(|c| c.name == h.name).map(chart);
                }
                let unfiltered = query.filters.is_empty() && query.q.is_none();
                if unfiltered && table.primary_key.is_empty() && gated.writes(path) {
                    let keys = tables::schema::keys_offered(state, gated, &at, &s)
                        .await
                        .unwrap_or_default();
                    if !keys.is_empty() {
                        let to = format!(
                            "/datasets/{}/tables/{}/key",
                            gated.path(),
                            path_url(&table.name)
                        );
                        v.key_form = Some((to, keys));
                    }
                }
                if asked {
                    v.stats = Some(s.columns.into_iter().map(stat_row).collect());
                }
            }
            Err(e) => v.error = Some(e.message),
        }
    }
    Some(v)
}

/// The headings of `columns`, `sorted_by` one of them (descending when its flag is set), each
/// linking to `base` with `pairs` sorted by it the next way (ascending, descending, unsorted).
pub(super) fn headings(
    columns: &[rows::Column],
    sorted_by: Option<&(String, bool)>,
    base: &str,
    pairs: &[(String, String)],
) -> Vec<Heading> {
    columns
        .iter()
        .map(|c| {
            let state = match sorted_by {
                Some((name, false)) if *name == c.name => "ascending",
                Some((name, true)) if *name == c.name => "descending",
                _ => "none",
            };
            let next = match state {
                "none" => Some(c.name.clone()),
                "ascending" => Some(format!("{}:desc", c.name)),
                _ => None,
            };
            Heading {
                sort_link: link(base, pairs, &[("sort", next.as_deref()), ("offset", None)]),
                numeric: matches!(c.ty, "integer" | "number"),
                name: c.name.clone(),
                ty: c.ty,
                sorted: state,
                chart: None,
            }
        })
        .collect()
}

/// `rows` as cells under `headings`.
pub(super) fn cells(rows: &[Vec<Value>], headings: &[Heading]) -> Vec<Vec<Cell>> {
    rows.iter()
        .map(|r| {
            r.iter()
                .zip(headings)
                .map(|(value, h)| Cell {
                    text: text(value),
                    numeric: h.numeric,
                    empty: value.is_null(),
                })
                .collect()
        })
        .collect()
}

/// A column's chart: its histogram's buckets for numbers, else its most frequent values.
fn chart(c: &tables::stats::ColumnStats) -> Chart {
    let counted: Vec<(String, u64)> = match &c.histogram {
        Some(h) => h
            .iter()
            .map(|(lo, hi, n)| (format!("{} – {}", short(*lo), short(*hi)), *n))
            .collect(),
        None => c.top.iter().map(|(v, n)| (text(v), *n)).collect(),
    };
    let most = counted.iter().map(|(_, n)| *n).max().unwrap_or(0).max(1);
    let width = 100.0 / counted.len().max(1) as f64;
    let bars = counted
        .iter()
        .enumerate()
        .map(|(i, (label, n))| {
            let height = (*n as f64 / most as f64 * 24.0).max(if *n > 0 { 1.0 } else { 0.0 });
            Bar {
                x: format!("{:.2}", i as f64 * width),
                y: format!("{:.2}", 24.0 - height),
                width: format!("{:.2}", (width - 1.0).max(0.5)),
                height: format!("{height:.2}"),
                title: format!("{label}: {n}"),
            }
        })
        .collect();
    let mut caption = match (&c.histogram, c.min.is_null()) {
        (Some(_), false) => format!("{} – {}", text(&c.min), text(&c.max)),
        _ if c.distinct_approximate => format!("≈ {} values", c.distinct),
        _ if c.distinct == 1 => "1 value".to_owned(),
        _ => format!("{} values", c.distinct),
    };
    if c.nulls > 0 {
        caption.push_str(&format!(" · {} empty", c.nulls));
    }
    Chart { bars, caption }
}

/// A bucket's bound, short: whole numbers as they are, others to three significant places.
fn short(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{x:.0}")
    } else {
        format!("{x:.3}")
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_owned()
    }
}

fn stat_row(c: tables::stats::ColumnStats) -> StatRow {
    StatRow {
        distinct: if c.distinct_approximate {
            format!("≈ {}", c.distinct)
        } else {
            c.distinct.to_string()
        },
        min: text(&c.min),
        max: text(&c.max),
        mean: c.mean.map(|m| format!("{m:.4}")).unwrap_or_default(),
        top: c
            .top
            .iter()
            .take(3)
            .map(|(v, n)| format!("{} ({n})", text(v)))
            .collect::<Vec<_>>()
            .join(", "),
        name: c.name,
        ty: c.ty,
        count: c.count,
        nulls: c.nulls,
    }
}

/// A value as a cell shows it.
fn text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `base` with `pairs`, each key in `changes` replaced by its value (or removed for `None`).
pub(super) fn link(
    base: &str,
    pairs: &[(String, String)],
    changes: &[(&str, Option<&str>)],
) -> String {
    let mut out: Vec<(String, String)> = pairs
        .iter()
        .filter(|(k, _)| !changes.iter().any(|(c, _)| c == k))
        .cloned()
        .collect();
    for (k, v) in changes {
        if let Some(v) = v {
            out.push(((*k).to_owned(), (*v).to_owned()));
        }
    }
    let query = serde_urlencoded::to_string(&out).unwrap_or_default();
    if query.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{query}")
    }
}

/// A filter (`column:op:value`) as its chip reads: `price ≥ 10`, `name contains ann`.
fn chip(filter: &str) -> String {
    let mut parts = filter.splitn(3, ':');
    let (column, op, value) = (
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
    );
    let op = match op {
        "eq" => "=",
        "ne" => "≠",
        "lt" => "<",
        "le" => "≤",
        "gt" => ">",
        "ge" => "≥",
        "in" => "is one of",
        "is_null" => "is empty:",
        other => other,
    };
    format!("{column} {op} {value}").trim_end().to_owned()
}

#[cfg(test)]
mod tests {

    #[test]
    fn chips_say_what_filters_do() {
        assert_eq!(super::chip("price:ge:10"), "price ≥ 10");
        assert_eq!(super::chip("name:contains:a:b"), "name contains a:b");
        assert_eq!(super::chip("x:in:1,2"), "x is one of 1,2");
        assert_eq!(super::chip("x:is_null:true"), "x is empty: true");
    }
    use super::*;

    #[test]
    fn links_keep_the_state_and_change_one_thing() {
        let pairs = vec![
            ("rev".to_owned(), "main".to_owned()),
            ("filter".to_owned(), "a:eq:1".to_owned()),
            ("offset".to_owned(), "50".to_owned()),
        ];
        assert_eq!(
            link("/x", &pairs, &[("offset", None), ("sort", Some("b:desc"))]),
            "/x?rev=main&filter=a%3Aeq%3A1&sort=b%3Adesc"
        );
        assert_eq!(link("/x", &[], &[("offset", None)]), "/x");
    }
}
