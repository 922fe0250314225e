//! Reading a side in the merge's key order: the ordering columns (a key's number, then its text),
//! the rows out of order found and set aside ([`plan`]), and rows compared wherever they are.

use std::cmp::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Float64Array, StringArray};
use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::physical_plan::SendableRecordBatchStream;
use datafusion::prelude::SessionContext;
use futures_util::StreamExt;

use super::super::marks::Shape;
use super::super::rows::merge_error;
use super::TAGS;
use crate::error::{Error, Result};
use crate::tables::rows::quoted;

/// Rows out of key order a side may set aside (their text, about), past which the merge
/// query takes over.
const ASIDE: usize = 32 << 20;

/// What each side sets aside to be read in key order, when every side can be: `None` when one
/// cannot (too many rows out of order) and the query must group and sort. `sides` names the
/// three views registered (content-addressed: the same name, the same rows): the last plan made
/// is kept for a while when it is small, so a merge after its status (or a second look at the
/// status) reads each side once, not twice.
pub(in crate::changes::merges) async fn plan(
    ctx: &SessionContext,
    shape: &Shape,
    sides: &str,
) -> Result<Option<Vec<Arc<Aside>>>> {
    if shape.key.is_empty() {
        return Ok(None);
    }
    // Debug quotes and escapes each name: no two shapes print alike.
    let name = format!("{sides:?} {:?} {:?}", shape.key, shape.columns);
    if let Some(plan) = kept(&name) {
        return Ok(plan);
    }
    let plan = make(ctx, shape).await?;
    keep(name, plan.clone());
    Ok(plan)
}

/// [`plan`], made afresh.
pub(super) async fn make(ctx: &SessionContext, shape: &Shape) -> Result<Option<Vec<Arc<Aside>>>> {
    if shape.key.is_empty() {
        return Ok(None);
    }
    let mut plan = Vec::new();
    for tag in TAGS {
        match aside(ctx, shape, tag).await? {
            Some(a) => plan.push(Arc::new(a)),
            None => return Ok(None),
        }
    }
    Ok(Some(plan))
}

/// The last plan made, by the name of its sides, while it is fresh.
struct Kept {
    name: String,
    made: Instant,
    plan: Option<Vec<Arc<Aside>>>,
}

static KEPT: Mutex<Option<Kept>> = Mutex::new(None);

/// How long a plan is kept, and the most it may hold (its rows set aside, all sides).
const KEEP_FOR: Duration = Duration::from_secs(15 * 60);
const KEEP_BYTES: usize = 16 << 20;

fn kept(name: &str) -> Option<Option<Vec<Arc<Aside>>>> {
    let kept = KEPT.lock().unwrap_or_else(|e| e.into_inner());
    kept.as_ref()
        .filter(|k| k.name == name && k.made.elapsed() < KEEP_FOR)
        .map(|k| k.plan.clone())
}

fn keep(name: String, plan: Option<Vec<Arc<Aside>>>) {
    let bytes: usize = plan.iter().flatten().map(|a| a.bytes).sum();
    let mut kept = KEPT.lock().unwrap_or_else(|e| e.into_inner());
    *kept = (bytes <= KEEP_BYTES).then(|| Kept {
        name,
        made: Instant::now(),
        plan,
    });
}

/// One side's rows out of key order: their places in the side (in order) and the rows, sorted.
/// A row goes aside when it is not above the last row kept in order (it came late), or when it
/// is above the next row while that one fits in order (it came early); the rest, kept in file
/// order, strictly increase.
pub(in crate::changes::merges) struct Aside {
    pub(super) places: Vec<u64>,
    pub(super) rows: Vec<Row>,
    /// What the rows hold, about.
    bytes: usize,
}

async fn aside(ctx: &SessionContext, shape: &Shape, tag: &str) -> Result<Option<Aside>> {
    let key = shape.key.len();
    let mut stream = execute(ctx, &side_sql(ctx, shape, tag).await?).await?;
    let (mut places, mut rows, mut bytes) = (Vec::new(), Vec::new(), 0usize);
    let mut last: Option<(Arc<Batch>, usize)> = None;
    let mut pending: Option<(Arc<Batch>, usize, u64)> = None;
    let mut place = 0u64;
    let mut judge = |p: (Arc<Batch>, usize, u64),
                     next: Option<At<'_>>,
                     last: &mut Option<(Arc<Batch>, usize)>|
     -> bool {
        let here = At::Batch(&p.0, p.1);
        let late = last
            .as_ref()
            .is_some_and(|(b, i)| compare(&here, &At::Batch(b, *i), key) != Ordering::Greater);
        let early = !late
            && next.as_ref().is_some_and(|n| {
                compare(&here, n, key) != Ordering::Less
                    && last.as_ref().is_none_or(|(b, i)| {
                        compare(n, &At::Batch(b, *i), key) == Ordering::Greater
                    })
            });
        if late || early {
            let row = here.owned(shape.columns.len(), key);
            bytes += row.bytes();
            places.push(p.2);
            rows.push(row);
        } else {
            *last = Some((p.0, p.1));
        }
        bytes <= ASIDE
    };
    while let Some(b) = stream.next().await {
        let b = Arc::new(Batch::of(&b.map_err(merge_error)?, shape)?);
        for i in 0..b.len {
            if let Some(p) = pending.take() {
                if !judge(p, Some(At::Batch(&b, i)), &mut last) {
                    return Ok(None);
                }
            }
            pending = Some((b.clone(), i, place));
            place += 1;
        }
    }
    if let Some(p) = pending.take() {
        if !judge(p, None, &mut last) {
            return Ok(None);
        }
    }
    rows.sort_by(|a, b| compare(&At::Row(a), &At::Row(b), key));
    Ok(Some(Aside {
        places,
        rows,
        bytes,
    }))
}

/// A side's rows: every merged column as text (absent ones null), then the key's ordering
/// columns.
pub(super) async fn side_sql(ctx: &SessionContext, shape: &Shape, tag: &str) -> Result<String> {
    let present: Vec<String> = ctx
        .table(tag)
        .await
        .map_err(merge_error)?
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    let cols: Vec<String> = shape
        .columns
        .iter()
        .map(|c| match present.contains(c) {
            true => format!("CAST({0} AS VARCHAR) AS {0}", quoted(c)),
            false => format!("CAST(NULL AS VARCHAR) AS {}", quoted(c)),
        })
        .chain(order_columns(shape))
        .collect();
    Ok(format!("SELECT {} FROM {tag}", cols.join(", ")))
}

/// The columns that order rows: per key column, its number (or null) and its text.
fn order_columns(shape: &Shape) -> Vec<String> {
    shape
        .key
        .iter()
        .enumerate()
        .flat_map(|(j, k)| {
            [
                format!(
                    "try_cast({} AS DOUBLE) AS {}",
                    quoted(k),
                    quoted(&format!("\u{1}kn{j}"))
                ),
                format!(
                    "CAST({} AS VARCHAR) AS {}",
                    quoted(k),
                    quoted(&format!("\u{1}kt{j}"))
                ),
            ]
        })
        .collect()
}

pub(super) async fn execute(ctx: &SessionContext, sql: &str) -> Result<SendableRecordBatchStream> {
    ctx.sql(sql)
        .await
        .map_err(merge_error)?
        .execute_stream()
        .await
        .map_err(merge_error)
}

pub(super) fn cast(a: &ArrayRef, ty: &DataType) -> Result<ArrayRef> {
    datafusion::arrow::compute::cast(a, ty)
        .map_err(|e| Error::internal(format!("the merge's rows: {e}")))
}

/// A batch of one side: the merged columns as text, and per key column its number and text.
pub(super) struct Batch {
    cells: Vec<StringArray>,
    keys: Vec<(Float64Array, StringArray)>,
    pub(super) len: usize,
}

impl Batch {
    pub(super) fn of(b: &RecordBatch, shape: &Shape) -> Result<Batch> {
        let n = shape.columns.len();
        let text = |c: usize| {
            Ok(cast(b.column(c), &DataType::Utf8)?
                .as_string::<i32>()
                .clone())
        };
        Ok(Batch {
            cells: (0..n).map(text).collect::<Result<_>>()?,
            keys: (0..shape.key.len())
                .map(|j| {
                    let num = cast(b.column(n + 2 * j), &DataType::Float64)?;
                    Ok((num.as_primitive().clone(), text(n + 2 * j + 1)?))
                })
                .collect::<Result<_>>()?,
            len: b.num_rows(),
        })
    }
}

/// A row set aside, owned.
pub(super) struct Row {
    key: Vec<(Option<f64>, Option<String>)>,
    cells: Vec<Option<String>>,
}

impl Row {
    fn bytes(&self) -> usize {
        64 + self
            .cells
            .iter()
            .chain(self.key.iter().map(|(_, t)| t))
            .map(|c| 24 + c.as_ref().map_or(0, String::len))
            .sum::<usize>()
    }
}

/// A row where it is: in a batch, or set aside.
pub(super) enum At<'a> {
    Batch(&'a Batch, usize),
    Row(&'a Row),
}

impl At<'_> {
    fn part(&self, j: usize) -> (Option<f64>, Option<&str>) {
        match self {
            At::Batch(b, i) => {
                let (n, t) = &b.keys[j];
                (
                    (!n.is_null(*i)).then(|| n.value(*i)),
                    (!t.is_null(*i)).then(|| t.value(*i)),
                )
            }
            At::Row(r) => (r.key[j].0, r.key[j].1.as_deref()),
        }
    }

    pub(super) fn cell(&self, c: usize) -> Option<&str> {
        match self {
            At::Batch(b, i) => (!b.cells[c].is_null(*i)).then(|| b.cells[c].value(*i)),
            At::Row(r) => r.cells[c].as_deref(),
        }
    }

    fn owned(&self, columns: usize, key: usize) -> Row {
        Row {
            key: (0..key)
                .map(|j| {
                    let (n, t) = self.part(j);
                    (n, t.map(str::to_owned))
                })
                .collect(),
            cells: (0..columns)
                .map(|c| self.cell(c).map(str::to_owned))
                .collect(),
        }
    }
}

/// The merge's order of one key column: the number first (nulls last), then the text (nulls
/// last) — `try_cast(k AS DOUBLE) NULLS LAST, k` as the query sorts.
pub(super) fn compare_part(
    a: (Option<f64>, Option<&str>),
    b: (Option<f64>, Option<&str>),
) -> Ordering {
    let last = |x: bool, y: bool| x.cmp(&y);
    match (a.0, b.0) {
        (Some(x), Some(y)) => x.total_cmp(&y),
        (x, y) => last(x.is_none(), y.is_none()),
    }
    .then_with(|| match (a.1, b.1) {
        (Some(x), Some(y)) => x.as_bytes().cmp(y.as_bytes()),
        (x, y) => last(x.is_none(), y.is_none()),
    })
}

pub(super) fn compare(a: &At<'_>, b: &At<'_>, key: usize) -> Ordering {
    (0..key)
        .map(|j| compare_part(a.part(j), b.part(j)))
        .find(|o| *o != Ordering::Equal)
        .unwrap_or(Ordering::Equal)
}
