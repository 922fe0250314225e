//! The merge query's batches read back: each row's state, each side's cells, the merged cells
//! and the clashes, looked up once per batch; the merged rows built with clashes resolved; whole
//! rows repeated as many times as the merge keeps them.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, StringBuilder};
use datafusion::arrow::datatypes::{DataType, Int64Type, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use serde_json::{Map, Value};

use super::marks::{Pick, RowClash, Shape, CELL, CLASH, COPIES, MERGED, N, ST};
use crate::error::{Error, Kind as ErrorKind, Result};

/// One batch of the keyed query, its columns as text, looked up once.
pub(super) struct Columns<'s> {
    shape: &'s Shape,
    state: ArrayRef,
    counts: [ArrayRef; 3],
    keys: Vec<ArrayRef>,
    /// Per merged column that is not the key: each side's cells, the merged cells, the clashes.
    cells: Vec<Cells>,
}

struct Cells {
    name: String,
    sides: [ArrayRef; 3],
    merged: ArrayRef,
    clash: ArrayRef,
}

fn text(b: &RecordBatch, name: &str) -> Result<ArrayRef> {
    cast(b, name, &DataType::Utf8)
}

fn cast(b: &RecordBatch, name: &str, ty: &DataType) -> Result<ArrayRef> {
    let a = b
        .column_by_name(name)
        .ok_or_else(|| Error::internal(format!("the merge's query lost {name:?}")))?;
    datafusion::arrow::compute::cast(a, ty)
        .map_err(|e| Error::internal(format!("the merge's query: {e}")))
}

fn cell(a: &ArrayRef, i: usize) -> Option<&str> {
    let s = a.as_string::<i32>();
    (!s.is_null(i)).then(|| s.value(i))
}

fn json(v: Option<&str>) -> Value {
    v.map_or(Value::Null, |s| Value::String(s.to_owned()))
}

impl<'s> Columns<'s> {
    pub(super) fn of(batch: &RecordBatch, shape: &'s Shape) -> Result<Columns<'s>> {
        let count = |n: &str| cast(batch, n, &DataType::Int64);
        let cells = shape
            .columns
            .iter()
            .filter(|c| !shape.key.contains(c))
            .map(|c| {
                Ok(Cells {
                    name: c.clone(),
                    sides: [
                        text(batch, &format!("{}{c}", CELL[0]))?,
                        text(batch, &format!("{}{c}", CELL[1]))?,
                        text(batch, &format!("{}{c}", CELL[2]))?,
                    ],
                    merged: text(batch, &format!("{MERGED}{c}"))?,
                    clash: cast(batch, &format!("{CLASH}{c}"), &DataType::Boolean)?,
                })
            })
            .collect::<Result<_>>()?;
        Ok(Columns {
            shape,
            state: text(batch, ST)?,
            counts: [count(N[0])?, count(N[1])?, count(N[2])?],
            keys: shape
                .key
                .iter()
                .map(|k| text(batch, k))
                .collect::<Result<_>>()?,
            cells,
        })
    }

    fn present(&self, side: usize, i: usize) -> bool {
        self.counts[side].as_primitive::<Int64Type>().value(i) > 0
    }

    fn key(&self, i: usize) -> Map<String, Value> {
        self.shape
            .key
            .iter()
            .zip(&self.keys)
            .map(|(k, a)| (k.clone(), json(cell(a, i))))
            .collect()
    }

    /// Side `side`'s whole row `i` (`null` when it has none).
    fn row(&self, side: usize, i: usize) -> Value {
        if !self.present(side, i) {
            return Value::Null;
        }
        let mut row = self.key(i);
        for c in &self.cells {
            row.insert(c.name.clone(), json(cell(&c.sides[side], i)));
        }
        Value::Object(row)
    }

    /// The clashes of row `i`.
    pub(super) fn clashes(&self, i: usize) -> Result<Vec<RowClash>> {
        match cell(&self.state, i) {
            Some("u") => Err(self.not_unique(i)),
            Some("x") => Ok(vec![RowClash {
                key: self.key(i),
                column: None,
                base: self.row(0, i),
                ours: self.row(1, i),
                theirs: self.row(2, i),
            }]),
            _ => Ok(self
                .cells
                .iter()
                .filter(|c| c.clash.as_boolean().value(i))
                .map(|c| RowClash {
                    key: self.key(i),
                    column: Some(c.name.clone()),
                    base: json(cell(&c.sides[0], i)),
                    ours: json(cell(&c.sides[1], i)),
                    theirs: json(cell(&c.sides[2], i)),
                })
                .collect()),
        }
    }

    /// Whether row `i` holds a clash (checked before building any).
    fn clashing(&self, i: usize) -> bool {
        matches!(cell(&self.state, i), Some("u" | "x"))
            || self.cells.iter().any(|c| c.clash.as_boolean().value(i))
    }

    fn not_unique(&self, i: usize) -> Error {
        let side = (0..3)
            .find(|s| self.counts[*s].as_primitive::<Int64Type>().value(i) > 1)
            .map_or("a side", |s| ["the base", "the target", "the source"][s]);
        // The key's values are not quoted: whoever reads this may not read the table.
        Error::unprocessable(format!(
            "the primaryKey {} is not unique in {side}: rows are matched on it, so it must be",
            self.shape.key.join(", ")
        ))
    }

    /// The merged rows of this batch, clashes resolved by `pick`.
    pub(super) fn merged(
        &self,
        schema: &SchemaRef,
        pick: &(dyn Fn(&RowClash) -> Option<Pick> + Send + Sync),
    ) -> Result<RecordBatch> {
        let names = &self.shape.columns;
        // Where each output column comes from: a key column, or a cell column's merged values.
        let source: Vec<(Option<usize>, &ArrayRef)> = names
            .iter()
            .map(|c| match self.shape.key.iter().position(|k| k == c) {
                Some(k) => (None, &self.keys[k]),
                None => {
                    let j = self.cells.iter().position(|x| &x.name == c).unwrap_or(0);
                    (Some(j), &self.cells[j].merged)
                }
            })
            .collect();
        let mut out: Vec<StringBuilder> = names.iter().map(|_| StringBuilder::new()).collect();
        let unresolved = |c: &RowClash| {
            Error::new(
                ErrorKind::Conflict,
                format!(
                    "the clash at {}{} is not resolved",
                    Value::Object(c.key.clone()),
                    c.column
                        .as_deref()
                        .map(|c| format!(", column {c:?}"))
                        .unwrap_or_default()
                ),
            )
        };
        for i in 0..self.state.len() {
            if !self.clashing(i) {
                for (j, (_, a)) in source.iter().enumerate() {
                    out[j].append_option(cell(a, i));
                }
                continue;
            }
            let clashes = self.clashes(i)?;
            if let Some(whole) = clashes.iter().find(|c| c.column.is_none()) {
                let side = match pick(whole).ok_or_else(|| unresolved(whole))? {
                    Pick::Base => 0,
                    Pick::Ours => 1,
                    Pick::Theirs => 2,
                    Pick::Value(_) => {
                        return Err(Error::unprocessable(
                            "a row deleted on one side is resolved by taking a side",
                        ))
                    }
                };
                if !self.present(side, i) {
                    continue;
                }
                for (j, (cells, a)) in source.iter().enumerate() {
                    let v = match cells {
                        None => cell(a, i),
                        Some(k) => cell(&self.cells[*k].sides[side], i),
                    };
                    out[j].append_option(v);
                }
                continue;
            }
            for (j, c) in names.iter().enumerate() {
                let clash = clashes.iter().find(|x| x.column.as_deref() == Some(c));
                let v = match clash {
                    None => cell(source[j].1, i).map(str::to_owned),
                    Some(x) => match pick(x).ok_or_else(|| unresolved(x))? {
                        Pick::Value(v) => v,
                        Pick::Base => x.base.as_str().map(str::to_owned),
                        Pick::Ours => x.ours.as_str().map(str::to_owned),
                        Pick::Theirs => x.theirs.as_str().map(str::to_owned),
                    },
                };
                out[j].append_option(v);
            }
        }
        let arrays: Vec<ArrayRef> = out
            .into_iter()
            .map(|mut b| Arc::new(b.finish()) as ArrayRef)
            .collect();
        RecordBatch::try_new(schema.clone(), arrays)
            .map_err(|e| Error::internal(format!("the merged rows: {e}")))
    }
}

/// Whole rows, each repeated as many times as the merge keeps it.
pub(super) fn whole_rows(
    b: &RecordBatch,
    shape: &Shape,
    schema: &SchemaRef,
) -> Result<RecordBatch> {
    let copies = b
        .column_by_name(COPIES)
        .ok_or_else(|| Error::internal("the merge's query lost the copies"))?;
    let copies = datafusion::arrow::compute::cast(copies, &DataType::UInt32)
        .map_err(|e| Error::internal(format!("the merge's query: {e}")))?;
    let copies = copies.as_primitive::<datafusion::arrow::datatypes::UInt32Type>();
    let mut idx = Vec::new();
    for i in 0..b.num_rows() {
        idx.extend(std::iter::repeat_n(i as u32, copies.value(i) as usize));
    }
    let idx = datafusion::arrow::array::UInt32Array::from(idx);
    let arrays: Vec<ArrayRef> = shape
        .columns
        .iter()
        .map(|c| {
            let a = text(b, c)?;
            datafusion::arrow::compute::take(&a, &idx, None)
                .map_err(|e| Error::internal(format!("the merged rows: {e}")))
        })
        .collect::<Result<_>>()?;
    RecordBatch::try_new(schema.clone(), arrays)
        .map_err(|e| Error::internal(format!("the merged rows: {e}")))
}
