//! The keyed merge when the three sides are already in key order (the usual case: tables are
//! written sorted by their key): the three text views are read side by side, each once, and
//! merge-joined as they stream, with no grouping and no sort. What comes out is exactly what
//! the merge query ([`super::rows`]) would produce for the same rows, in the same order (key
//! order, numbers as numbers), batch by batch, so the same code reads both.
//!
//! Each side is read twice. First to find its rows out of key order (a row added in the middle
//! with a new key, say), which are set aside and sorted; past [`ASIDE`] of them the merge
//! query takes over. (That plan is kept a while for the same three views, so the merge that
//! follows a status reads each side once.) Then the merge: each side's rows in file order, less those set aside,
//! merged with those set aside, and the three merge-joined. A key twice in a side is refused
//! as the query refuses it.

use std::cmp::Ordering;
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, BooleanBuilder, Int64Builder, StringBuilder};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::physical_plan::SendableRecordBatchStream;
use datafusion::prelude::SessionContext;
use futures_util::StreamExt;

use super::marks::{Shape, CELL, CLASH, MERGED, N, ST};
use crate::error::{Error, Result};
use aside::{compare, execute, side_sql, At, Batch};
pub(super) use aside::{plan, Aside};

mod aside;
#[cfg(test)]
mod tests;

/// Rows per batch out.
const BATCH: usize = 8192;

/// The sides' tags, as `prepare` registers them.
const TAGS: [&str; 3] = ["b", "o", "t"];

/// One side read in key order: its rows in file order, less those set aside, merged with
/// those set aside.
struct Side {
    stream: SendableRecordBatchStream,
    batch: Option<Batch>,
    row: usize,
    /// The place in the side of the batch's current row.
    place: u64,
    aside: Arc<Aside>,
    /// The next of `aside.places` to skip, and the next of its rows to merge in.
    skip: usize,
    next: usize,
    /// Which side this is (0 base, 1 target, 2 source), for errors.
    which: usize,
}

impl Side {
    /// Puts the batch on its next row in order (none: `batch` is `None`).
    async fn ready(&mut self, shape: &Shape) -> Result<()> {
        loop {
            if self.batch.as_ref().is_none_or(|b| self.row == b.len) {
                match self.stream.next().await {
                    Some(b) => {
                        self.batch = Some(Batch::of(&b.map_err(super::rows::merge_error)?, shape)?);
                        self.row = 0;
                        continue;
                    }
                    None => {
                        self.batch = None;
                        return Ok(());
                    }
                }
            }
            if self.aside.places.get(self.skip) == Some(&self.place) {
                self.skip += 1;
                self.row += 1;
                self.place += 1;
                continue;
            }
            return Ok(());
        }
    }

    /// The side's next row in key order, and whether it is the batch's.
    fn head(&self, shape: &Shape) -> Result<Option<(At<'_>, bool)>> {
        let main = self.batch.as_ref().map(|b| At::Batch(b, self.row));
        let aside = self.aside.rows.get(self.next).map(At::Row);
        Ok(match (main, aside) {
            (Some(m), Some(a)) => match compare(&m, &a, shape.key.len()) {
                Ordering::Less => Some((m, true)),
                Ordering::Greater => Some((a, false)),
                Ordering::Equal => return Err(not_unique(shape, self.which)),
            },
            (Some(m), None) => Some((m, true)),
            (None, Some(a)) => Some((a, false)),
            (None, None) => None,
        })
    }

    fn advance(&mut self, main: bool) {
        if main {
            self.row += 1;
            self.place += 1;
        } else {
            self.next += 1;
        }
    }
}

fn not_unique(shape: &Shape, side: usize) -> Error {
    // The key's values are not quoted: whoever reads this may not read the table.
    Error::unprocessable(format!(
        "the primaryKey {} is not unique in {}: rows are matched on it, so it must be",
        shape.key.join(", "),
        ["the base", "the target", "the source"][side]
    ))
}

/// The merge of three sides in key order, as batches of the merge query's rows.
pub(super) struct Sorted {
    sides: [Side; 3],
    shape: Shape,
    /// Where the key columns and the other (cell) columns are among the merged columns.
    keys: Vec<usize>,
    cells: Vec<usize>,
    schema: SchemaRef,
    done: bool,
}

impl Sorted {
    /// The merge of the sides `prepare` registered, with what [`plan`] set aside. Rows the merge
    /// drops (state `d`) do not come out: they hold no clash, and they are not written.
    pub(super) async fn start(
        ctx: &SessionContext,
        shape: &Shape,
        plan: Vec<Arc<Aside>>,
    ) -> Result<Sorted> {
        let mut sides = Vec::new();
        for (which, (tag, aside)) in TAGS.into_iter().zip(plan).enumerate() {
            sides.push(Side {
                stream: execute(ctx, &side_sql(ctx, shape, tag).await?).await?,
                batch: None,
                row: 0,
                place: 0,
                aside,
                skip: 0,
                next: 0,
                which,
            });
        }
        let sides: [Side; 3] = sides
            .try_into()
            .map_err(|_| Error::internal("three sides"))?;
        let keys: Vec<usize> = shape
            .key
            .iter()
            .filter_map(|k| shape.columns.iter().position(|c| c == k))
            .collect();
        let cells: Vec<usize> = (0..shape.columns.len())
            .filter(|i| !keys.contains(i))
            .collect();
        let mut fields: Vec<Field> = shape
            .key
            .iter()
            .map(|k| Field::new(k, DataType::Utf8, true))
            .collect();
        for &c in &cells {
            let name = &shape.columns[c];
            for prefix in CELL.iter().chain([&MERGED]) {
                fields.push(Field::new(format!("{prefix}{name}"), DataType::Utf8, true));
            }
            fields.push(Field::new(
                format!("{CLASH}{name}"),
                DataType::Boolean,
                false,
            ));
        }
        for n in N {
            fields.push(Field::new(n, DataType::Int64, false));
        }
        fields.push(Field::new(ST, DataType::Utf8, false));
        Ok(Sorted {
            sides,
            shape: shape.clone(),
            keys,
            cells,
            schema: Arc::new(Schema::new(fields)),
            done: false,
        })
    }

    /// The next batch of merged rows; `None` at the end.
    pub(super) async fn next(&mut self) -> Option<Result<RecordBatch>> {
        if self.done {
            return None;
        }
        match self.batch().await {
            Ok(Some(b)) => Some(Ok(b)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }

    async fn batch(&mut self) -> Result<Option<RecordBatch>> {
        let key = self.shape.key.len();
        let mut out = Out::new(self.keys.len(), self.cells.len());
        while out.rows < BATCH {
            for side in &mut self.sides {
                side.ready(&self.shape).await?;
            }
            let [b, o, t] = &self.sides;
            let heads = [
                b.head(&self.shape)?,
                o.head(&self.shape)?,
                t.head(&self.shape)?,
            ];
            // The smallest key among the sides' next rows, and who has it.
            let mut least: Option<usize> = None;
            for (s, h) in heads.iter().enumerate() {
                if let Some((at, _)) = h {
                    if least.is_none_or(|l| {
                        compare(at, &heads[l].as_ref().expect("a head").0, key) == Ordering::Less
                    }) {
                        least = Some(s);
                    }
                }
            }
            let Some(least) = least else { break };
            let lead = &heads[least].as_ref().expect("a head").0;
            let at: [Option<&At<'_>>; 3] = std::array::from_fn(|s| {
                heads[s]
                    .as_ref()
                    .map(|(a, _)| a)
                    .filter(|a| compare(a, lead, key) == Ordering::Equal)
            });
            row(&self.keys, &self.cells, &at, lead, &mut out);
            let moved: [Option<bool>; 3] =
                std::array::from_fn(|s| at[s].and(heads[s].as_ref().map(|(_, main)| *main)));
            for (side, main) in self.sides.iter_mut().zip(moved) {
                if let Some(main) = main {
                    side.advance(main);
                }
            }
        }
        if out.rows == 0 {
            return Ok(None);
        }
        out.finish(&self.schema).map(Some)
    }
}

/// One key's row out: each side's cells, the merged cells, the clashes and the state, as the
/// merge query works them out.
fn row(keys: &[usize], cells: &[usize], at: &[Option<&At<'_>>; 3], lead: &At<'_>, out: &mut Out) {
    let value = |s: usize, c: usize| at[s].and_then(|a| a.cell(c));
    let changed = |s: usize, c: usize| value(s, c) != value(0, c);
    let any = |s: usize| cells.iter().any(|&c| changed(s, c));
    let state = match at.map(|a| a.is_some()) {
        [_, true, true] => "k",
        [true, true, false] => match any(1) {
            true => "x",
            false => "d",
        },
        [true, false, true] => match any(2) {
            true => "x",
            false => "d",
        },
        [true, false, false] => "d",
        _ => "k",
    };
    if state == "d" {
        return;
    }
    for (j, &k) in keys.iter().enumerate() {
        out.keys[j].append_option(lead.cell(k));
    }
    for (j, &c) in cells.iter().enumerate() {
        let b = &mut out.cells[j];
        for s in 0..3 {
            b.sides[s].append_option(value(s, c));
        }
        let (o, t) = (changed(1, c), changed(2, c));
        b.merged
            .append_option(if o { value(1, c) } else { value(2, c) });
        b.clash.append_value(o && t && value(1, c) != value(2, c));
    }
    for (count, at) in out.counts.iter_mut().zip(at) {
        count.append_value(i64::from(at.is_some()));
    }
    out.state.append_value(state);
    out.rows += 1;
}

/// A batch being built.
struct Out {
    rows: usize,
    keys: Vec<StringBuilder>,
    cells: Vec<CellsOut>,
    counts: [Int64Builder; 3],
    state: StringBuilder,
}

struct CellsOut {
    sides: [StringBuilder; 3],
    merged: StringBuilder,
    clash: BooleanBuilder,
}

impl Out {
    fn new(keys: usize, cells: usize) -> Out {
        Out {
            rows: 0,
            keys: (0..keys).map(|_| StringBuilder::new()).collect(),
            cells: (0..cells)
                .map(|_| CellsOut {
                    sides: std::array::from_fn(|_| StringBuilder::new()),
                    merged: StringBuilder::new(),
                    clash: BooleanBuilder::new(),
                })
                .collect(),
            counts: std::array::from_fn(|_| Int64Builder::new()),
            state: StringBuilder::new(),
        }
    }

    fn finish(mut self, schema: &SchemaRef) -> Result<RecordBatch> {
        let mut arrays: Vec<ArrayRef> = self
            .keys
            .iter_mut()
            .map(|b| Arc::new(b.finish()) as ArrayRef)
            .collect();
        for c in &mut self.cells {
            for s in &mut c.sides {
                arrays.push(Arc::new(s.finish()));
            }
            arrays.push(Arc::new(c.merged.finish()));
            arrays.push(Arc::new(c.clash.finish()));
        }
        for n in &mut self.counts {
            arrays.push(Arc::new(n.finish()));
        }
        arrays.push(Arc::new(self.state.finish()));
        RecordBatch::try_new(schema.clone(), arrays)
            .map_err(|e| Error::internal(format!("the merged rows: {e}")))
    }
}
