//! Column statistics of a view: per column its type, how many values and nulls (an empty text
//! counts as empty, not as a value), how many distinct
//! values (exact up to [`EXACT_DISTINCT`] rows, else approximate), the smallest and largest, the
//! mean of numbers, the most frequent values and, for numbers, a histogram. Computed once per
//! view and kept with it; computed on the caller's view, so they only ever describe values the
//! caller may see. Rows a page filters or searches get statistics of those rows, computed each
//! time. A column whose values are all there and all different is a candidate key.

use datafusion::arrow::datatypes::DataType;
use datafusion::functions::expr_fn::nullif;
use datafusion::functions_aggregate::expr_fn::{
    approx_distinct, avg, count, count_distinct, max, min,
};
use datafusion::logical_expr::{cast, col, lit, Expr};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use strata_policy::table::FieldType;

use super::engine_error;
use super::rows::quoted;
use super::view::View;
use crate::error::{Error, Result};
use crate::Core;

/// Up to this many rows, distinct values are counted exactly.
const EXACT_DISTINCT: u64 = 1_000_000;
/// The most frequent values listed per column.
const TOP: usize = 10;
/// Buckets of a number column's histogram.
const BUCKETS: usize = 20;

/// One column's statistics.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ColumnStats {
    pub name: String,
    #[serde(rename = "type")]
    pub ty: String,
    /// Values that are not null.
    pub count: u64,
    pub nulls: u64,
    pub distinct: u64,
    /// Whether `distinct` is an estimate.
    pub distinct_approximate: bool,
    pub min: Value,
    pub max: Value,
    /// Numbers only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mean: Option<f64>,
    /// The most frequent values with their counts, most frequent first.
    pub top: Vec<(Value, u64)>,
    /// Numbers only: `BUCKETS` equal-width buckets from min to max (`[lower, upper, count]`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub histogram: Option<Vec<(f64, f64, u64)>>,
}

/// The statistics of a view's table.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Stats {
    pub rows: u64,
    pub columns: Vec<ColumnStats>,
}

/// The statistics of `view`: kept ones, or computed now and kept.
pub async fn stats(core: &Core, view: &View) -> Result<Stats> {
    if let Some(kept) = view
        .stats
        .as_deref()
        .and_then(|s| serde_json::from_str(s).ok())
    {
        return Ok(kept);
    }
    let computed = compute(core, view).await?;
    let text = serde_json::to_string(&computed).map_err(|e| Error::internal(e.to_string()))?;
    core.db.set_table_view_stats(&view.key, &text).await?;
    Ok(computed)
}

async fn compute(core: &Core, view: &View) -> Result<Stats> {
    let df = core.tables.session(core, view).await?;
    of_frame(df, view.rows, view.rows <= EXACT_DISTINCT).await
}

/// The statistics of the rows of `view` that `query`'s filters and search keep (those of the
/// whole view when it has none).
pub async fn filtered(core: &Core, view: &View, query: &super::rows::Query) -> Result<Stats> {
    if query.filters.is_empty() && query.q.is_none() {
        return stats(core, view).await;
    }
    let df = core.tables.session(core, view).await?;
    let df = super::rows::filtered(df, query)?;
    let rows = df.clone().count().await.map_err(engine_error)? as u64;
    of_frame(df, rows, rows <= EXACT_DISTINCT).await
}

/// The columns that could be the table's key: every row has a value and no two the same
/// (counted exactly), in the table's order; none for a table without rows. Floating-point
/// numbers are left out (a key compares exactly).
pub fn candidate_keys(stats: &Stats) -> Vec<String> {
    if stats.rows == 0 {
        return Vec::new();
    }
    stats
        .columns
        .iter()
        .filter(|c| {
            !c.distinct_approximate
                && c.nulls == 0
                && c.distinct == stats.rows
                && matches!(c.ty.as_str(), "integer" | "string" | "date" | "datetime")
        })
        .map(|c| c.name.clone())
        .collect()
}

/// The column a key is best inferred from among `candidates`: one called `id`, else one whose
/// name ends in `id`, `key` or `code`, else the first.
pub fn likely_key(candidates: &[String]) -> Option<&String> {
    let lower = |c: &String| c.to_ascii_lowercase();
    candidates
        .iter()
        .find(|c| lower(c) == "id")
        .or_else(|| {
            candidates.iter().find(|c| {
                let l = lower(c);
                l.ends_with("id") || l.ends_with("key") || l.ends_with("code")
            })
        })
        .or_else(|| candidates.first())
}

/// A column's values as the statistics count them: an empty text is no value.
fn value_of(f: &datafusion::arrow::datatypes::Field) -> Expr {
    let c = col(quoted(f.name()));
    match f.data_type() {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => nullif(c, lit("")),
        _ => c,
    }
}

/// The statistics of `df` (`rows` rows), with exact or estimated distinct counts.
async fn of_frame(df: datafusion::prelude::DataFrame, rows: u64, exact: bool) -> Result<Stats> {
    let schema = df.schema().as_arrow().clone();
    // One pass for every column's count, nulls, distinct, min, max and mean.
    let mut aggs = Vec::new();
    for (i, f) in schema.fields().iter().enumerate() {
        let c = value_of(f);
        let number = is_number(f.data_type());
        aggs.push(count(c.clone()).alias(format!("n{i}")));
        aggs.push(
            if exact {
                count_distinct(c.clone())
            } else if matches!(
                f.data_type(),
                DataType::Float16 | DataType::Float32 | DataType::Float64 | DataType::Boolean
            ) {
                // The estimate hashes values, which floating-point numbers and booleans are not
                // for DataFusion: their text is.
                approx_distinct(cast(c.clone(), DataType::Utf8))
            } else {
                approx_distinct(c.clone())
            }
            .alias(format!("d{i}")),
        );
        // Min and max of text compare as text; of booleans as 0 and 1 would hide them.
        let ordered = if matches!(f.data_type(), DataType::Boolean) {
            cast(c.clone(), DataType::Utf8)
        } else {
            c.clone()
        };
        aggs.push(min(ordered.clone()).alias(format!("lo{i}")));
        aggs.push(max(ordered).alias(format!("hi{i}")));
        if number {
            aggs.push(avg(cast(c, DataType::Float64)).alias(format!("m{i}")));
        }
    }
    let one = df
        .clone()
        .aggregate(vec![], aggs)
        .map_err(engine_error)?
        .collect()
        .await
        .map_err(engine_error)?;
    let row = super::rows::objects(&one)?;
    let row = row.into_iter().next().unwrap_or_default();
    let get = |name: &str| row.get(name).cloned().unwrap_or(Value::Null);
    let mut columns = Vec::new();
    for (i, f) in schema.fields().iter().enumerate() {
        let ty = FieldType::of_arrow(f.data_type());
        let n = get(&format!("n{i}")).as_u64().unwrap_or(0);
        let (lo, hi) = (get(&format!("lo{i}")), get(&format!("hi{i}")));
        let number = is_number(f.data_type());
        let histogram = match (number, lo.as_f64(), hi.as_f64()) {
            (true, Some(lo), Some(hi)) => Some(histogram(&df, f.name(), lo, hi).await?),
            _ => None,
        };
        columns.push(ColumnStats {
            name: f.name().clone(),
            ty: ty.frictionless().to_owned(),
            count: n,
            nulls: rows.saturating_sub(n),
            distinct: get(&format!("d{i}")).as_u64().unwrap_or(0),
            distinct_approximate: !exact,
            min: lo,
            max: hi,
            mean: number.then(|| get(&format!("m{i}")).as_f64()).flatten(),
            top: top(&df, value_of(f)).await?,
            histogram,
        });
    }
    Ok(Stats { rows, columns })
}

fn is_number(t: &DataType) -> bool {
    matches!(
        FieldType::of_arrow(t),
        FieldType::Integer | FieldType::Number
    )
}

/// The most frequent values of `name` (nulls left out), most frequent first; ties by value.
async fn top(df: &datafusion::prelude::DataFrame, c: Expr) -> Result<Vec<(Value, u64)>> {
    let found = df
        .clone()
        .filter(c.clone().is_not_null())
        .and_then(|d| d.aggregate(vec![c.clone().alias("v")], vec![count(lit(1)).alias("n")]))
        .and_then(|d| {
            d.sort(vec![
                col("n").sort(false, false),
                col("v").sort(true, false),
            ])
        })
        .and_then(|d| d.limit(0, Some(TOP)))
        .map_err(engine_error)?
        .collect()
        .await
        .map_err(engine_error)?;
    Ok(super::rows::objects(&found)?
        .into_iter()
        .map(|mut o| {
            (
                o.remove("v").unwrap_or(Value::Null),
                o.remove("n").and_then(|n| n.as_u64()).unwrap_or(0),
            )
        })
        .collect())
}

/// `BUCKETS` equal-width buckets of `name` between `lo` and `hi`.
async fn histogram(
    df: &datafusion::prelude::DataFrame,
    name: &str,
    lo: f64,
    hi: f64,
) -> Result<Vec<(f64, f64, u64)>> {
    let width = if hi > lo {
        (hi - lo) / BUCKETS as f64
    } else {
        1.0
    };
    let x = cast(col(quoted(name)), DataType::Float64);
    // The largest value falls in the last bucket.
    let counts = buckets(df, x.clone(), x, (lo, width), BUCKETS).await?;
    Ok(counts
        .into_iter()
        .enumerate()
        .map(|(i, n)| (lo + width * i as f64, lo + width * (i + 1) as f64, n))
        .collect())
}

/// How many non-null values of `x` fall in each of `bins` buckets of `width` from `lo`, each value
/// placed where `placed` says (the value itself, or clamped to the range); values past the last
/// bucket count in it, values before the first in the first.
pub(super) async fn buckets(
    df: &datafusion::prelude::DataFrame,
    x: Expr,
    placed: Expr,
    (lo, width): (f64, f64),
    bins: usize,
) -> Result<Vec<u64>> {
    // The bucket of each value (a cut toward zero of a value never below zero is its floor).
    let bucket: Expr = cast((placed - lit(lo)) / lit(width), DataType::Int64);
    let found = df
        .clone()
        .filter(x.is_not_null())
        .and_then(|d| d.aggregate(vec![bucket.alias("b")], vec![count(lit(1)).alias("n")]))
        .map_err(engine_error)?
        .collect()
        .await
        .map_err(engine_error)?;
    let mut counts = vec![0u64; bins];
    for mut o in super::rows::objects(&found)? {
        let b = o.remove("b").and_then(|b| b.as_f64()).unwrap_or(0.0);
        let b = (b.max(0.0) as usize).min(bins - 1);
        counts[b] += o.remove("n").and_then(|n| n.as_u64()).unwrap_or(0);
    }
    Ok(counts)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::{ArrayRef, BooleanArray, Float64Array, Int64Array, StringArray};
    use datafusion::arrow::record_batch::RecordBatch;

    use super::*;

    fn frame() -> datafusion::prelude::DataFrame {
        let n = 1000;
        let columns: Vec<(&str, ArrayRef)> = vec![
            (
                "i",
                Arc::new(Int64Array::from_iter((0..n).map(|i| Some(i % 7)))),
            ),
            (
                "x",
                Arc::new(Float64Array::from_iter(
                    (0..n).map(|i| (i % 10 != 0).then_some(i as f64 / 4.0)),
                )),
            ),
            (
                "b",
                Arc::new(BooleanArray::from_iter((0..n).map(|i| Some(i % 3 == 0)))),
            ),
            (
                "s",
                Arc::new(StringArray::from_iter(
                    (0..n).map(|i| Some(format!("v{}", i % 5))),
                )),
            ),
        ];
        let batch = RecordBatch::try_from_iter(columns).unwrap();
        datafusion::prelude::SessionContext::new()
            .read_batch(batch)
            .unwrap()
    }

    /// Both ways of counting distinct values, on every kind of column (the estimate cannot hash
    /// floating-point numbers or booleans themselves).
    #[tokio::test]
    async fn exact_and_estimated_statistics_of_every_column_type() {
        for exact in [true, false] {
            let s = of_frame(frame(), 1000, exact).await.unwrap();
            let by = |n: &str| s.columns.iter().find(|c| c.name == n).unwrap();
            assert_eq!(by("i").distinct, 7, "exact: {exact}");
            assert_eq!(by("b").distinct, 2, "exact: {exact}");
            assert_eq!(by("s").distinct, 5, "exact: {exact}");
            assert!(
                (880..=920).contains(&by("x").distinct),
                "{}",
                by("x").distinct
            );
            assert_eq!(by("x").distinct_approximate, !exact);
            assert_eq!((by("x").count, by("x").nulls), (900, 100));
            assert_eq!(by("x").max, serde_json::json!(249.75));
            assert_eq!(by("b").top[0], (serde_json::json!(false), 666));
            let hist: u64 = by("x")
                .histogram
                .as_ref()
                .unwrap()
                .iter()
                .map(|b| b.2)
                .sum();
            assert_eq!(hist, 900);
            assert!(by("s").histogram.is_none() && by("s").mean.is_none());
        }
    }

    #[tokio::test]
    async fn empty_text_is_no_value_and_unique_full_columns_are_candidate_keys() {
        let columns: Vec<(&str, ArrayRef)> = vec![
            ("id", Arc::new(Int64Array::from_iter((0..4).map(Some)))),
            ("n", Arc::new(StringArray::from(vec!["a", "", "b", "c"]))),
            ("sku", Arc::new(StringArray::from(vec!["a", "b", "c", "d"]))),
            ("x", Arc::new(Float64Array::from(vec![1.0, 2.0, 3.0, 4.0]))),
        ];
        let batch = RecordBatch::try_from_iter(columns).unwrap();
        let df = datafusion::prelude::SessionContext::new()
            .read_batch(batch)
            .unwrap();
        let s = of_frame(df, 4, true).await.unwrap();
        let n = &s.columns[1];
        assert_eq!((n.count, n.nulls, n.distinct), (3, 1, 3));
        assert!(!n.top.iter().any(|(v, _)| v == ""));
        let keys = candidate_keys(&s);
        assert_eq!(keys, ["id", "sku"]);
        assert_eq!(likely_key(&keys).unwrap(), "id");
        assert_eq!(
            likely_key(&["name".into(), "sku_code".into()]).unwrap(),
            "sku_code"
        );
    }
}
