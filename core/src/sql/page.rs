//! What the SQL page shows: one page of a query's result (optionally sorted again by one of its
//! columns), run through the same checks, limits and audit as [`super::run`], and the tables a
//! caller may name in a query.

use std::sync::Arc;

use datafusion::arrow::record_batch::RecordBatch;
use datafusion::logical_expr::col;
use futures_util::TryStreamExt;
use serde::Serialize;
use serde_json::Value;

use super::{audit, limited, plan, plan_error, query_error, Planned, TableRead};
use crate::auth::{Action, Principal};
use crate::datasets::policies;
use crate::datasets::{gate, listing};
use crate::error::{Error, Result};
use crate::tables::{self, rows};
use crate::Core;

/// The most rows one page shows.
pub const MAX_ROWS: usize = 500;

/// How a page of a result is asked for.
#[derive(Debug, Clone, Default)]
pub struct Paging {
    /// A result column to sort by, and whether descending.
    pub sort: Option<(String, bool)>,
    pub offset: u64,
    pub limit: usize,
}

/// One page of a query's result.
#[derive(Debug, Clone, Serialize)]
pub struct Shown {
    pub columns: Vec<rows::Column>,
    pub rows: Vec<Vec<Value>>,
    pub offset: u64,
    /// Whether rows follow this page.
    pub more: bool,
    pub tables: Vec<TableRead>,
}

/// The page `paging` asks for of `query`'s result for `who`, worked out on the SQL runtime.
pub async fn page(
    core: &Arc<Core>,
    who: &Principal,
    query: &str,
    intent: Option<&str>,
    paging: &Paging,
) -> Result<Shown> {
    let (core, who, query, intent) = super::owned(core, who, query, intent);
    let paging = paging.clone();
    let deadline = super::deadline();
    core.clone()
        .sql
        .apart(deadline, async move {
            page_here(&core, &who, &query, intent.as_deref(), &paging, deadline).await
        })
        .await
}

async fn page_here(
    core: &Core,
    who: &Principal,
    query: &str,
    intent: Option<&str>,
    paging: &Paging,
    deadline: tokio::time::Instant,
) -> Result<Shown> {
    if paging.limit == 0 || paging.limit > MAX_ROWS {
        return Err(Error::unprocessable(format!(
            "a page shows 1 to {MAX_ROWS} rows"
        )));
    }
    let Planned {
        ctx,
        plan,
        tables: read,
        caller,
        turn,
        private,
    } = plan(core, who, query, Some(&super::Params::none()), intent).await?;
    if let Some(private) = private {
        // One row of noisy figures: nothing to sort or page.
        let none = super::Params::none();
        let answer = super::private::run(
            core,
            (ctx, plan),
            private,
            (&caller, query, &none, intent),
            read,
        )
        .await?;
        let batches: Vec<RecordBatch> = answer.batches.try_collect().await?;
        return Ok(Shown {
            columns: rows::columns_of(&answer.schema),
            rows: rows::to_rows(&answer.schema, &batches)?,
            offset: 0,
            more: false,
            tables: answer.tables,
        });
    }
    let mut df = ctx.execute_logical_plan(plan).await.map_err(plan_error)?;
    if let Some((column, desc)) = &paging.sort {
        if df.schema().as_arrow().field_with_name(column).is_err() {
            return Err(Error::unprocessable(format!(
                "the result has no column {column:?} to sort by"
            )));
        }
        df = df
            .sort(vec![col(super::quoted(column)).sort(!desc, false)])
            .map_err(|e| {
                Error::unprocessable(format!(
                    "the result cannot be sorted by {column:?}: {}",
                    e.strip_backtrace()
                ))
            })?;
    }
    // No result has more rows than the limit: an offset past it is past the end.
    let offset = usize::try_from(paging.offset.min(super::LIMITS.rows)).unwrap_or(usize::MAX);
    // One row more than shown tells whether another page follows.
    df = df
        .limit(offset, Some(paging.limit + 1))
        .map_err(plan_error)?;
    let schema = Arc::new(df.schema().as_arrow().clone());
    let stream = df.execute_stream().await.map_err(query_error)?;
    audit(core, &caller, query, &super::Params::none(), &read, intent).await?;
    let batches: Vec<RecordBatch> = limited(stream, turn, deadline).try_collect().await?;
    let mut rows = rows::to_rows(&schema, &batches)?;
    let more = rows.len() > paging.limit;
    rows.truncate(paging.limit);
    Ok(Shown {
        columns: rows::columns_of(&schema),
        rows,
        offset: paging.offset,
        more,
        tables: read,
    })
}

/// A table a caller may name in a query.
#[derive(Debug, Clone, Serialize)]
pub struct Readable {
    /// `ns/name`.
    pub dataset: String,
    pub resource: String,
    /// Its file in the dataset.
    pub path: String,
}

impl Readable {
    /// How a query names it: `"ns/name"."resource"`.
    pub fn reference(&self) -> String {
        format!(
            "{}.{}",
            super::quoted(&self.dataset),
            super::quoted(&self.resource)
        )
    }
}

/// The tables at the head of the datasets `who` may list (up to 200 datasets) whose files they
/// may read.
pub async fn readable(core: &Core, who: &Principal) -> Result<Vec<Readable>> {
    let repos = listing::list(core, who, 0, 200, None).await?;
    let mut out = Vec::new();
    for repo in repos.datasets {
        let Ok(g) = gate::dataset(core, who, &repo.namespace, &repo.name, Action::Read).await
        else {
            continue;
        };
        let Ok(c) = policies::catalog(core, &g, None).await else {
            continue;
        };
        for t in c
            .resources
            .iter()
            .filter(|t| tables::Kind::of(t).is_some() && g.covers(&t.path))
        {
            out.push(Readable {
                dataset: c.dataset.clone(),
                resource: t.name.clone(),
                path: t.path.clone(),
            });
        }
    }
    Ok(out)
}
