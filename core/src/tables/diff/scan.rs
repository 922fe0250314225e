//! The two passes of a diff over the whole views: one groups both sides' rows (narrow: the key
//! and a digest) to count what differs and find the page's keys, streaming in key order and
//! keeping only the page; one reads each side's rows of that page. Both spill past the memory
//! pool; neither holds a table.

use std::collections::HashSet;
use std::sync::Arc;

use datafusion::arrow::array::{Array, BinaryArray, BooleanArray, Int64Array};
use datafusion::arrow::compute::filter_record_batch;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::ScalarValue;
use datafusion::datasource::MemTable;
use datafusion::logical_expr::Expr;
use datafusion::prelude::{ident, lit, SessionConfig, SessionContext};
use futures_util::StreamExt;

use super::query::Query;
use super::{diff_error, Counts, KH, NA, NB};
use crate::error::{Error, Result};
use crate::tables::engine_error;

/// What the grouping pass found: the counts, and the page's rows of the differing ones (their
/// `KH` digests and, keyless, their copies on each side).
pub(super) struct Found {
    pub counts: Counts,
    pub page: Vec<RecordBatch>,
}

/// Counts the rows that differ and keeps those of the page `offset..offset + limit`; `None`
/// when keyed rows turn out not unique on their key (they are then compared whole).
pub(super) async fn differing(
    ctx: &SessionContext,
    q: &Query<'_>,
    offset: u64,
    limit: usize,
) -> Result<Option<Found>> {
    let df = ctx.sql(&q.differing()).await.map_err(diff_error)?;
    let mut stream = df.execute_stream().await.map_err(diff_error)?;
    let keyed = !q.key.is_empty();
    let (mut counts, mut page, mut seen) = (Counts::default(), Vec::new(), 0u64);
    let end = offset.saturating_add(limit as u64);
    while let Some(batch) = stream.next().await {
        let batch = batch.map_err(diff_error)?;
        let (na, nb) = (ints(&batch, NA)?, ints(&batch, NB)?);
        for (a, b) in na.iter().zip(nb.iter()) {
            let (a, b) = (a.unwrap_or(0).max(0) as u64, b.unwrap_or(0).max(0) as u64);
            if keyed {
                match (a, b) {
                    (a, b) if a > 1 || b > 1 => return Ok(None),
                    (0, _) => counts.added += 1,
                    (_, 0) => counts.removed += 1,
                    _ => counts.changed += 1,
                }
            } else {
                counts.added += b.saturating_sub(a);
                counts.removed += a.saturating_sub(b);
            }
        }
        let rows = batch.num_rows() as u64;
        let (from, to) = (offset.max(seen), end.min(seen + rows));
        if from < to {
            page.push(batch.slice((from - seen) as usize, (to - from) as usize));
        }
        seen += rows;
    }
    Ok(Some(Found { counts, page }))
}

/// A session over just the page's rows: `a` and `b` (each side's rows the page names) and `p`
/// (the page's digests and copies).
pub(super) async fn page_rows(
    ctx: &SessionContext,
    q: &Query<'_>,
    found: &Found,
) -> Result<SessionContext> {
    let mut wanted = HashSet::new();
    for b in &found.page {
        let kh = digests(b)?;
        wanted.extend(kh.iter().flatten().map(<[u8]>::to_vec));
    }
    let whole = q.key.is_empty();
    let range = span(q, &found.page)?;
    let (a, b) = tokio::try_join!(
        rows_of(ctx, q, "a", wanted.clone(), whole, range.clone()),
        rows_of(ctx, q, "b", wanted, whole, range)
    )?;
    let mut config = SessionConfig::new().with_target_partitions(1);
    config.options_mut().sql_parser.enable_ident_normalization = false;
    let small = SessionContext::new_with_config(config);
    for (name, batches) in [("a", a), ("b", b), ("p", found.page.clone())] {
        let Some(first) = batches.first() else {
            continue;
        };
        let table = MemTable::try_new(first.schema(), vec![batches]).map_err(engine_error)?;
        small
            .register_table(name, Arc::new(table))
            .map_err(engine_error)?;
    }
    Ok(small)
}

/// The bounds of the page's first key column, to skip the parts of a view (Parquet row groups)
/// that cannot hold its rows: the page is in key order, so its first and last rows bound that
/// column (a null, last in order, bounds nothing). None when the column was retyped.
fn span(q: &Query<'_>, page: &[RecordBatch]) -> Result<Option<Expr>> {
    let Some(k) = q.key.first().filter(|k| !q.retyped.contains(&k.as_str())) else {
        return Ok(None);
    };
    let at = |b: &RecordBatch, i: usize| -> Result<ScalarValue> {
        let column = b
            .column_by_name(k)
            .ok_or_else(|| Error::internal("the diff's key is missing"))?;
        ScalarValue::try_from_array(column, i).map_err(engine_error)
    };
    let (Some(first), Some(last)) = (page.first(), page.last()) else {
        return Ok(None);
    };
    let (low, high) = (at(first, 0)?, at(last, last.num_rows().saturating_sub(1))?);
    if low.is_null() {
        return Ok(None);
    }
    let mut bound = ident(k.as_str()).gt_eq(lit(low));
    if !high.is_null() {
        bound = bound.and(ident(k.as_str()).lt_eq(lit(high)));
    }
    Ok(Some(bound))
}

/// The rows of view `side` whose digest is `wanted` (within `span`); compared whole, one row per
/// digest.
async fn rows_of(
    ctx: &SessionContext,
    q: &Query<'_>,
    side: &str,
    mut wanted: HashSet<Vec<u8>>,
    whole: bool,
    span: Option<Expr>,
) -> Result<Vec<RecordBatch>> {
    let mut df = ctx.sql(&q.fetch(side)).await.map_err(diff_error)?;
    if let Some(span) = span {
        df = df.filter(span).map_err(diff_error)?;
    }
    let mut stream = df.execute_stream().await.map_err(diff_error)?;
    let mut out = vec![RecordBatch::new_empty(stream.schema())];
    while !wanted.is_empty() {
        let Some(batch) = stream.next().await else {
            break;
        };
        let batch = batch.map_err(diff_error)?;
        let kh = digests(&batch)?;
        let keep: BooleanArray = kh
            .iter()
            .map(|d| {
                Some(match d {
                    Some(d) if whole => wanted.remove(d),
                    Some(d) => wanted.contains(d),
                    None => false,
                })
            })
            .collect();
        if keep.true_count() > 0 {
            out.push(
                filter_record_batch(&batch, &keep)
                    .map_err(|e| Error::internal(format!("the diff's rows: {e}")))?,
            );
        }
    }
    Ok(out)
}

fn digests(batch: &RecordBatch) -> Result<&BinaryArray> {
    batch
        .column_by_name(KH)
        .and_then(|c| c.as_any().downcast_ref::<BinaryArray>())
        .ok_or_else(|| Error::internal("the diff's digests are missing"))
}

fn ints<'b>(batch: &'b RecordBatch, name: &str) -> Result<&'b Int64Array> {
    batch
        .column_by_name(name)
        .and_then(|c| c.as_any().downcast_ref::<Int64Array>())
        .ok_or_else(|| Error::internal(format!("the diff's column {name} is missing")))
}
