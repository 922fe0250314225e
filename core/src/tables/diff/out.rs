//! A page of a table diff as row changes: each side's cells cut from the query's batches and put
//! through the policies' redactions and hashes, with the marks and flags saying what changed.

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::arrow::datatypes::Schema;
use datafusion::arrow::record_batch::RecordBatch;
use serde_json::{Map, Value};
use strata_policy::table::BatchPlan;
use strata_policy::{ColumnAction, Decision};

use super::query::Query;
use super::{RowChange, A, B, D};
use crate::error::{Error, Result};
use crate::tables::rows;
use crate::Core;

/// The page's batches as row changes, each side's cells through the policies' transforms.
pub(super) fn shown(
    core: &Core,
    batches: &[RecordBatch],
    q: &Query<'_>,
    governed: &BTreeMap<String, ColumnAction>,
) -> Result<Vec<RowChange>> {
    let mut out = Vec::new();
    for batch in batches {
        let side = |prefix: &str| -> Result<Vec<Map<String, Value>>> {
            let picked = cut(batch, prefix)?;
            let transform = Decision {
                columns: governed
                    .iter()
                    .filter(|(c, a)| {
                        **a != ColumnAction::Remove && picked.schema().index_of(c).is_ok()
                    })
                    .map(|(c, a)| (c.clone(), *a))
                    .collect(),
                ..Decision::default()
            };
            let plan = BatchPlan::new(
                &picked.schema(),
                &transform,
                core.governance.hasher().clone(),
            )
            .map_err(|e| Error::internal(format!("the diff's transforms: {e}")))?;
            let done = plan
                .apply(&picked)
                .map_err(|e| Error::internal(format!("the diff's transforms: {e}")))?;
            rows::objects(&done.into_iter().collect::<Vec<_>>())
        };
        let (before, after) = (side(A)?, side(B)?);
        let mark = |name: &str| -> Result<Vec<Value>> {
            let Some(column) = batch.column_by_name(name) else {
                return Ok(vec![Value::Null; batch.num_rows()]);
            };
            let one = RecordBatch::try_from_iter([("m", column.clone())])
                .map_err(|e| Error::internal(format!("the diff's rows: {e}")))?;
            Ok(rows::objects(std::slice::from_ref(&one))?
                .into_iter()
                .map(|mut o| o.remove("m").unwrap_or(Value::Null))
                .collect())
        };
        let (marks_a, marks_b) = (mark(A)?, mark(B)?);
        let flags = if q.key.is_empty() {
            Vec::new()
        } else {
            rows::objects(std::slice::from_ref(&cut(batch, D)?))?
        };
        for i in 0..batch.num_rows() {
            out.push(row_change(
                q,
                &marks_a[i],
                &marks_b[i],
                before.get(i).cloned().unwrap_or_default(),
                after.get(i).cloned().unwrap_or_default(),
                flags.get(i),
            ));
        }
    }
    Ok(out)
}

/// One row of the page as a change.
fn row_change(
    q: &Query<'_>,
    mark_a: &Value,
    mark_b: &Value,
    before: Map<String, Value>,
    after: Map<String, Value>,
    flags: Option<&Map<String, Value>>,
) -> RowChange {
    if q.key.is_empty() {
        let (na, nb) = (mark_a.as_u64().unwrap_or(0), mark_b.as_u64().unwrap_or(0));
        let added = nb > na;
        return RowChange {
            change: if added { "added" } else { "removed" },
            key: None,
            count: Some(nb.abs_diff(na)),
            before: (!added).then_some(before),
            after: added.then_some(after),
            changed: Vec::new(),
        };
    }
    let key_of = |m: &Map<String, Value>| {
        q.key
            .iter()
            .map(|k| (k.clone(), m.get(k).cloned().unwrap_or(Value::Null)))
            .collect::<Map<_, _>>()
    };
    match (mark_a.is_null(), mark_b.is_null()) {
        (true, _) => RowChange {
            change: "added",
            key: Some(key_of(&after)),
            count: None,
            before: None,
            after: Some(after),
            changed: Vec::new(),
        },
        (_, true) => RowChange {
            change: "removed",
            key: Some(key_of(&before)),
            count: None,
            before: Some(before),
            after: None,
            changed: Vec::new(),
        },
        _ => {
            let changed: Vec<String> = flags
                .map(|f| {
                    f.iter()
                        .filter(|(_, v)| v.as_bool() == Some(true))
                        .map(|(c, _)| c.clone())
                        .collect()
                })
                .unwrap_or_default();
            let only = |m: &Map<String, Value>| {
                m.iter()
                    .filter(|(c, _)| changed.contains(c))
                    .map(|(c, v)| (c.clone(), v.clone()))
                    .collect::<Map<_, _>>()
            };
            RowChange {
                change: "changed",
                key: Some(key_of(&after)),
                count: None,
                before: Some(only(&before)),
                after: Some(only(&after)),
                changed,
            }
        }
    }
}

/// The columns of `batch` named with `prefix`, renamed without it.
fn cut(batch: &RecordBatch, prefix: &str) -> Result<RecordBatch> {
    let mut fields = Vec::new();
    let mut arrays = Vec::new();
    for (f, a) in batch.schema().fields().iter().zip(batch.columns()) {
        if let Some(name) = f.name().strip_prefix(prefix).filter(|n| !n.is_empty()) {
            fields.push(f.as_ref().clone().with_name(name));
            arrays.push(a.clone());
        }
    }
    let options = datafusion::arrow::record_batch::RecordBatchOptions::new()
        .with_row_count(Some(batch.num_rows()));
    RecordBatch::try_new_with_options(Arc::new(Schema::new(fields)), arrays, &options)
        .map_err(|e| Error::internal(format!("the diff's rows: {e}")))
}
